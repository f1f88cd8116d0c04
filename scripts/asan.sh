#!/bin/sh
# Runs the C core's kernel tests and the fuzz-corpus replays under AddressSanitizer and
# UndefinedBehaviorSanitizer (called from scripts/test.sh). Any report fails the run:
# UBSan's checks are made fatal so that a report cannot scroll by in a passing run.
# target_clones is off under ASan (csrc/internal.h: an instrumented ifunc resolver runs
# before the runtime is up).
set -eu
cd "$(dirname "$0")/.."
# Leaks are not checked: the Swift runtime and XCTest keep allocations alive at exit.
export ASAN_OPTIONS="halt_on_error=1 detect_leaks=0 ${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1 ${UBSAN_OPTIONS:-}"
swift test --sanitize=address --sanitize=undefined \
    --filter 'KernelTests|FuzzCorpusTests|IDXTests.testFuzzCorpusReplays' "$@"
