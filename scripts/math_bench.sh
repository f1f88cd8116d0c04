#!/bin/sh
# Builds bench/math_bench.c against the C core of a source tree (default: this one) and
# prints its timings. To compare with another revision:
#   git archive REV | tar -x -C /tmp/base && scripts/math_bench.sh /tmp/base
# Run it on an otherwise idle machine for meaningful numbers.
set -e
here="$(cd "$(dirname "$0")/.." && pwd)"
tree="${1:-$here}"
rounds="${2:-5}"
out="$here/.build/math_bench-$(echo "$tree" | tr '/' '_')"
mkdir -p "$out"
flags="-O3 -fopenmp -fno-math-errno -ffp-contract=off -I$tree/include -I$tree/csrc"
objs=""
for f in "$tree"/csrc/*.c "$tree"/csrc/gemm/*.c; do
    o="$out/$(basename "$f" .c).o"
    clang -c $flags -o "$o" "$f"
    objs="$objs $o"
done
clang -c $flags -o "$out/math_bench.o" "$here/bench/math_bench.c"
clang -o "$out/math_bench" "$out/math_bench.o" $objs -lopenblas -lomp5 -lz -larchive -lpng -ljpeg -lm
exec "$out/math_bench" "$rounds"
