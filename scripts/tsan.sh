#!/bin/sh
# Runs the DataLoader tests under ThreadSanitizer (called from .ci/run).
#
# The selected tests (DataLoaderTests) build batches on worker threads, which are marked
# serial, or on the iterating thread from tensors below every kernel's parallel threshold
# (the gather's included), so no OpenMP team is forked. Serial `#pragma omp parallel if(0)` regions still enter libomp,
# which is not TSan-instrumented: scripts/tsan.supp silences reports from inside libomp
# only (never from Ember's own code).
set -eu
cd "$(dirname "$0")/.."
export TSAN_OPTIONS="suppressions=$(pwd)/scripts/tsan.supp halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
swift test --sanitize=thread --filter 'DataLoaderTests' "$@"
