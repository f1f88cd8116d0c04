#!/bin/sh
# Builds bench/libm_ulp (Ember's float math against the system's double libm, every float
# input) and runs it with the given arguments, e.g. `scripts/libm_ulp.sh --stride 4096` for a
# quick look or `scripts/libm_ulp.sh log sin` for two functions exhaustively.
set -e
cd "$(dirname "$0")/.."
mkdir -p .build
# -fopenmp at compile time only; the runtime is Debian's libomp5, as for the package.
for f in bench/libm_ulp.c csrc/ember_math.c; do
    clang -c -O3 -fopenmp -fno-math-errno -ffp-contract=off -Icsrc -Iinclude \
        -o ".build/$(basename "$f" .c).libm_ulp.o" "$f"
done
clang -o .build/libm_ulp .build/libm_ulp.libm_ulp.o .build/ember_math.libm_ulp.o -lm -lomp5
exec .build/libm_ulp "$@"
