#!/bin/sh
# Fuzzes a reader of outside data with libFuzzer (+ AddressSanitizer) and merges what it found
# into the regression corpus that the test suite replays:
#   Fuzz/run.sh [target] [seconds]     target: idx (default), safetensors, checkpoint,
#                                      image, cifar, torch;
#                                      seconds: default 180
#   idx          IDX.parse* (Sources/Ember/Data/IDX.swift alone)   Fixtures/idx-corpus
#   safetensors  SafeTensors.parse                                  Fixtures/safetensors-corpus
#   checkpoint   SafeTensors.parse + Checkpoint.restore + a step    Fixtures/checkpoint-corpus
#   image        decodeImage (libpng, libjpeg-turbo), every mode    Fixtures/image-corpus
#   cifar        ArchiveReader + CIFARBatch.parse                   Fixtures/cifar-corpus
#   torch        Unpickler + TorchCheckpoint.read(bytes:) (.pth)    Fixtures/torch-corpus
# Extra arguments after the seconds go to libFuzzer (e.g. -jobs, -runs=N).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
target=${1:-idx}
secs=${2:-180}
[ $# -ge 2 ] && shift 2 || shift $#
work=${TMPDIR:-/tmp}/ember-$target-fuzz
corpus="$repo/Tests/EmberTests/Fixtures/$target-corpus"
mkdir -p "$work/corpus" "$work/crashes" "$corpus"
bin="$work/$target-fuzz"

# The safetensors and checkpoint targets need the whole Ember module and its C core.
# SwiftPM cannot build them: `swift build --sanitize=fuzzer` instruments every target but
# links no fuzzer main into a library, and a fuzz executable target would put
# -sanitize=fuzzer in the package every consumer builds. So: the C core compiled by the
# toolchain's clang with ASan (no target_clones under it, csrc/internal.h), a module map for
# CEmber, and every Ember source plus the entry point in one swiftc invocation.
build_ember() {
    # Chunked runs reuse the binary while no source changed.
    if [ -x "$bin" ] && [ -z "$(find "$repo/Sources/Ember" "$repo/csrc" "$repo/include" "$1" -newer "$bin" | head -1)" ]; then
        return
    fi
    # A fresh object folder: objects of a renamed or removed C file must not be linked.
    rm -rf "$work/obj"
    mkdir -p "$work/obj" "$work/module"
    # csrc/gemm/ too (object names keep the folder: csrc/gemm/engine.c → gemm_engine.o).
    for c in $(find "$repo/csrc" -name '*.c' | sort); do
        /opt/swift/usr/bin/clang -c -O1 -g -fsanitize=address -fopenmp -fno-math-errno \
            -I"$repo/include" "$c" -o "$work/obj/$(echo "${c#"$repo"/csrc/}" | sed 's|/|_|g; s|\.c$||').o"
    done
    printf 'module CEmber {\n    header "%s/include/ember.h"\n    export *\n}\n' "$repo" > "$work/module/module.modulemap"
    # shellcheck disable=SC2046
    swiftc -O -g -sanitize=fuzzer,address -parse-as-library -swift-version 5 -module-name Ember \
        -I "$work/module" $(find "$repo/Sources/Ember" -name '*.swift' | sort) "$1" \
        "$work"/obj/*.o -lopenblas -lomp5 -lz -larchive -lpng -ljpeg -o "$bin"
}

case "$target" in
idx)
    swiftc -O -g -sanitize=fuzzer,address -parse-as-library \
        "$repo/Sources/Ember/Data/IDX.swift" "$here/IDXFuzz.swift" -o "$bin"
    maxlen=256
    # Seeds: tiny valid images and labels files (the real ones are too large to mutate usefully).
    printf '\000\000\010\003\000\000\000\002\000\000\000\002\000\000\000\002\001\002\003\004\005\006\007\010' > "$work/corpus/seed-images"
    printf '\000\000\010\001\000\000\000\003\001\002\011' > "$work/corpus/seed-labels"
    ;;
safetensors)
    build_ember "$here/SafeTensorsFuzz.swift"
    maxlen=2048
    # Seeds: the PyTorch-written fixtures (every dtype, a small model).
    cp "$repo"/Tests/EmberTests/Fixtures/*.safetensors "$work/corpus/"
    ;;
checkpoint)
    build_ember "$here/CheckpointFuzz.swift"
    maxlen=8192
    # Seed: a valid checkpoint of the harness's own model, written by the harness.
    EMBER_FUZZ_SEED="$work/corpus/seed-checkpoint" "$bin" -runs=0 >/dev/null 2>&1
    ;;
image)
    build_ember "$here/ImageFuzz.swift"
    maxlen=4096
    # Seeds: the small PNG and JPEG fixtures (every colour type, progressive, 4:4:4).
    cp "$repo"/Tests/EmberTests/Fixtures/vision/*.png "$repo"/Tests/EmberTests/Fixtures/vision/*.jpg "$work/corpus/"
    ;;
cifar)
    build_ember "$here/CIFARFuzz.swift"
    maxlen=16384
    # Seeds: a tar and a tar.gz of a names file and a 2-record batch, and the batch alone.
    seed="$work/seed"
    rm -rf "$seed" && mkdir -p "$seed/cifar-10-batches-bin"
    printf 'airplane\nautomobile\n' > "$seed/cifar-10-batches-bin/batches.meta.txt"
    head -c 6146 /dev/zero > "$seed/cifar-10-batches-bin/data_batch_1.bin"
    tar -C "$seed" -cf "$work/corpus/seed.tar" cifar-10-batches-bin
    tar -C "$seed" -czf "$work/corpus/seed.tar.gz" cifar-10-batches-bin
    cp "$seed/cifar-10-batches-bin/data_batch_1.bin" "$work/corpus/seed.bin"
    ;;
torch)
    build_ember "$here/TorchFuzz.swift"
    maxlen=16384
    # Seeds: the torch fixtures whole (first byte odd: the archive reader) and their pickles
    # alone (first byte even: the unpickler), hostile ones included; not the bombs.
    for f in "$repo"/Tests/EmberTests/Fixtures/torch/*.pth; do
        case "$f" in *zip_bomb*) continue ;; esac
        n=$(basename "$f" .pth)
        { printf '\001'; cat "$f"; } > "$work/corpus/seed-$n-zip"
        { printf '\000'; python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
sys.stdout.buffer.write(z.read(next(n for n in z.namelist() if n.endswith("/data.pkl"))))' "$f"; } \
            > "$work/corpus/seed-$n-pickle" 2>/dev/null || rm -f "$work/corpus/seed-$n-pickle"
    done
    ;;
*)
    echo "unknown target $target (idx, safetensors, checkpoint, image, cifar, torch)" >&2
    exit 2
    ;;
esac
cp "$corpus"/* "$work/corpus/" 2>/dev/null || true
# A crash is kept (and merged below) rather than stopping the script before the merge.
"$bin" -max_total_time="$secs" -max_len="$maxlen" -artifact_prefix="$work/crashes/" \
    -print_final_stats=1 "$@" "$work/corpus" || echo "fuzzer exited with $? (see $work/crashes)"
# Keep a minimal corpus covering the same edges, plus any crash reproducers.
"$bin" -merge=1 "$corpus" "$work/corpus" 2>&1 | tail -2
for f in "$work"/crashes/*; do [ -e "$f" ] && cp "$f" "$corpus/"; done
echo "corpus: $(ls "$corpus" | wc -l) files in $corpus"
