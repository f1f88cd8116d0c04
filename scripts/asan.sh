#!/bin/sh
# Runs the C core's kernel tests, the fuzz-corpus replays, the hostile torch.save files, the
# image decoders, the attention kernel and the GEMM reading operands in place or pre-packed
# (its edge tiles must not read past them) under AddressSanitizer (Swift and C) and
# UndefinedBehaviorSanitizer (the C core; swiftc has no UBSan on Linux, and
# Swift's own arithmetic and bounds are checked in debug builds anyway). Called from
# scripts/test.sh. Any report fails the run: halt_on_error makes UBSan's reports fatal so
# that one cannot scroll by in a passing run; its handlers come with the ASan runtime.
# target_clones is off under ASan (csrc/internal.h: an instrumented ifunc resolver runs
# before the runtime is up).
set -eu
cd "$(dirname "$0")/.."
# Leaks are not checked: the Swift runtime and XCTest keep allocations alive at exit.
export ASAN_OPTIONS="halt_on_error=1 detect_leaks=0 ${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1 ${UBSAN_OPTIONS:-}"
swift test --sanitize=address -Xcc -fsanitize=undefined \
    --filter 'KernelTests|EdgeCaseTests|ViewHistoryTests|GradHookTests|ResizeUInt8Tests|KernelBoundaryTests|IgnoreIndexTests|FuzzCorpusTests|IDXTests.testFuzzCorpusReplays|TorchCheckpointTests|ImageDecodingTests|AttentionTests|GEMMTests.testOperandsReadInPlace|GEMMTests.testPrepackedLeftOperand' "$@"
