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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift test --skip-build 2>&1 | tee "$log"
scripts/mpi-test.sh
scripts/tsan.sh
scripts/asan.sh
scripts/consumer-check.sh
# The documentation and the manifest: each DocC article's code is what Tests/DocsTests ran
# above, every public declaration of Ember has a /// comment, Package.swift keeps its
# conventions, and the catalog builds with warnings as errors (a broken symbol link or
# parameter list fails).
python3 scripts/check_docs_snippets.py
python3 scripts/check_doc_comments.py
python3 scripts/lint_package.py
swift package generate-documentation --target Ember --warnings-as-errors >"$log.docs" 2>&1 \
  || { cat "$log.docs"; rm -f "$log.docs"; exit 1; }
rm -f "$log.docs"
echo "docs: the DocC catalog builds without warnings"
# One closing line for the whole run: the unit tests' XCTest count (the sanitizer and MPI
# steps above stop the script on any failure).
summary=$(grep -E "Executed [0-9]+ tests" "$log" | tail -1)
total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests.*/\1/')
skipped=$(echo "$summary" | sed -nE 's/.* ([0-9]+) tests? skipped.*/\1/p')
failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failures.*/\1/')
echo "unit tests: $((total - ${skipped:-0} - failed)) passed, $failed failed, ${skipped:-0} skipped"
