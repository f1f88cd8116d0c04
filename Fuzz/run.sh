#!/bin/sh
# Fuzzes the IDX parser with libFuzzer (+ AddressSanitizer) and merges what it found into the
# regression corpus that IDXTests.testFuzzCorpusReplays replays.
#   Fuzz/run.sh [seconds]     (default 180)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
secs=${1:-180}
work=${TMPDIR:-/tmp}/ember-idx-fuzz
corpus="$repo/Tests/EmberTests/Fixtures/idx-corpus"
mkdir -p "$work/corpus" "$work/crashes" "$corpus"
swiftc -O -g -sanitize=fuzzer,address -parse-as-library \
    "$repo/Sources/Ember/Data/IDX.swift" "$here/IDXFuzz.swift" -o "$work/idx-fuzz"
# Seeds: tiny valid images and labels files (the real ones are too large to mutate usefully).
printf '\000\000\010\003\000\000\000\002\000\000\000\002\000\000\000\002\001\002\003\004\005\006\007\010' > "$work/corpus/seed-images"
printf '\000\000\010\001\000\000\000\003\001\002\011' > "$work/corpus/seed-labels"
cp "$corpus"/* "$work/corpus/" 2>/dev/null || true
"$work/idx-fuzz" -max_total_time="$secs" -max_len=256 -artifact_prefix="$work/crashes/" \
    -print_final_stats=1 "$work/corpus"
# Keep a minimal corpus covering the same edges, plus any crash reproducers.
"$work/idx-fuzz" -merge=1 "$corpus" "$work/corpus" "$work/crashes" 2>&1 | tail -2
echo "corpus: $(ls "$corpus" | wc -l) files in $corpus"
