#!/usr/bin/env bash
# Multi-rank tests of EmberDistributed under mpirun (Open MPI; MPICH's mpiexec takes the same
# -np). Run by scripts/test.sh after the debug build; about a minute on 2 cores. Each check
# exits non-zero on failure; this script stops at the first.
#
#   scripts/mpi-test.sh [build-dir]        (default .build/debug)
#
# - collectives and DDP (fast and reproducible) on 1, 2 and 4 ranks over shared memory, and
#   on 2 ranks over TCP on loopback (--mca btl self,tcp) without the shared-memory sum; ranks
#   with different ring thresholds agreeing on one, and on shared memory off;
# - reproducible DDP: the same final weights (checksum) for 1, 2 and 4 ranks;
# - checkpoint resume on 2 ranks; the unused-parameter error;
# - faults: a rank killed, throwing, or stalled ends the job non-zero within the bound;
# - quickstart-distributed --reproducible: the same output for 1, 2 and 4 ranks (if the
#   FashionMNIST files are present, e.g. from the dataset-fashion-mnist package).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-.build/debug}"
# As root (CI containers), Open MPI needs both variables.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# More ranks than cores, no binding; single-copy shared memory needs ptrace rights that
# containers often lack. --timeout ends any job that would hang (a failure in itself).
mpi=(mpirun --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none --timeout 120)
check="$bin/ember-mpi-check"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {  # run NP ARGS... : prints rank 0's line
  local np=$1; shift
  "${mpi[@]}" -np "$np" "$check" "$@"
}

for np in 1 2 4; do run "$np" collectives | tee "$work/collectives-$np.out"; done
grep -q "shared-memory allReduce on" "$work/collectives-4.out" \
  || { echo "FAIL: 4 ranks on one machine did not sum through shared memory" >&2; exit 1; }
# Over TCP, and without the shared window, as ranks on different machines run (MPI's
# allreduce and Ember's ring).
"${mpi[@]}" --mca btl self,tcp -x EMBER_SHM_ALLREDUCE=0 -np 2 "$check" collectives
# Ranks whose environments give different ring thresholds (as machines of different sizes
# would) agree on one, or they would call different collectives; one rank without shared
# memory turns it off for all.
"${mpi[@]}" -np 1 env EMBER_RING_ALLREDUCE_MIN_BYTES=0 EMBER_SHM_ALLREDUCE=0 "$check" collectives \
  : -np 1 env EMBER_RING_ALLREDUCE_MIN_BYTES=65536 "$check" collectives | tee "$work/collectives-mixed.out"
grep -q "shared-memory allReduce off" "$work/collectives-mixed.out" \
  || { echo "FAIL: one rank's EMBER_SHM_ALLREDUCE=0 did not turn shared memory off for the job" >&2; exit 1; }

for np in 1 2 4; do run "$np" ddp fast; done
"${mpi[@]}" --mca btl self,tcp -x EMBER_SHM_ALLREDUCE=0 -np 2 "$check" ddp fast

sums=()
for np in 1 2 4; do
  line=$(run "$np" ddp reproducible)
  echo "$line"
  sums+=("$(sed -n 's/.*weights checksum \([0-9a-f]*\).*/\1/p' <<<"$line")")
done
"${mpi[@]}" --mca btl self,tcp -np 2 "$check" ddp reproducible
if [ "${sums[0]}" != "${sums[1]}" ] || [ "${sums[0]}" != "${sums[2]}" ]; then
  echo "FAIL: reproducible DDP weights differ across 1, 2, 4 ranks: ${sums[*]}" >&2; exit 1
fi
echo "reproducible DDP: the same weights on 1, 2 and 4 ranks (${sums[0]})"

run 2 checkpoint "$work/ckpt.safetensors"

# The unused-parameter error stops the job with the message, naming the parameters.
if run 2 unused >"$work/unused.out" 2>&1; then echo "FAIL: unused parameters were not reported" >&2; exit 1; fi
grep -q "parameters that did not receive a gradient: unused.weight, unused.bias" "$work/unused.out" \
  || { echo "FAIL: no unused-parameter message:" >&2; cat "$work/unused.out" >&2; exit 1; }
echo "unused parameters: reported"

run 2 mismatch
run 2 unused-kept

# Faults: every rank must exit, non-zero, within the bound (a dead or throwing rank: at once;
# a stalled one: the collective timeout, here 5 s).
fault() {  # fault KIND BOUND_SECONDS PATTERN
  local start end rc=0
  start=$(date +%s.%N)
  EMBER_DIST_TIMEOUT=5 "${mpi[@]}" -x EMBER_DIST_TIMEOUT -np 2 "$check" fault "$1" >"$work/fault.out" 2>&1 || rc=$?
  end=$(date +%s.%N)
  local took
  took=$(awk "BEGIN { printf \"%.1f\", $end - $start }")
  if [ "$rc" -eq 0 ]; then echo "FAIL: fault $1: the job exited 0" >&2; cat "$work/fault.out" >&2; exit 1; fi
  if awk "BEGIN { exit !($took > $2) }"; then echo "FAIL: fault $1: took ${took} s > $2 s" >&2; exit 1; fi
  grep -q "$3" "$work/fault.out" || { echo "FAIL: fault $1: no message matching '$3':" >&2; cat "$work/fault.out" >&2; exit 1; }
  echo "fault $1: job ended with exit code $rc after ${took} s (bound $2 s)"
}
fault kill 30 "rank 1"
fault throw 30 "rank 1 of 2 failed: injected failure at step 3"
fault stall 30 "rank 0: allReduce did not complete within 5.0 s"

# The distributed quickstart: identical output for 1, 2 and 4 ranks in reproducible mode.
if [ -d /usr/share/datasets/fashion-mnist ] || [ -d data/FashionMNIST/raw ]; then
  data_root=data
  [ -d data/FashionMNIST/raw ] || data_root="$work/data"   # linked from /usr/share/datasets
  for np in 1 2 4; do
    "${mpi[@]}" -np "$np" "$bin/quickstart-distributed" --reproducible --epochs 1 --max-batches 120 \
      --root "$data_root" --save "$work/model-$np.safetensors" >"$work/quickstart-$np.out"
  done
  diff "$work/quickstart-1.out" "$work/quickstart-2.out" && diff "$work/quickstart-1.out" "$work/quickstart-4.out" \
    || { echo "FAIL: quickstart-distributed --reproducible output differs across 1, 2, 4 ranks" >&2; exit 1; }
  echo "quickstart-distributed --reproducible: identical output on 1, 2 and 4 ranks:"
  grep -E "loss|Accuracy" "$work/quickstart-1.out"
else
  echo "quickstart-distributed: skipped (no FashionMNIST in data/ or /usr/share/datasets/fashion-mnist)"
fi
echo "mpi-test: all passed"
