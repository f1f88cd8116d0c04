#!/usr/bin/env bash
# The whole test suite: system packages (if missing), the unit tests (debug build),
# EmberDistributed under mpirun (scripts/mpi-test.sh), the DataLoader tests under
# ThreadSanitizer, the kernel tests and fuzz-corpus replays under AddressSanitizer +
# UndefinedBehaviorSanitizer, and a consumer package that depends on a tagged Ember by
# version and trains one step.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
scripts/mpi-test.sh
scripts/tsan.sh
scripts/asan.sh
scripts/consumer-check.sh
