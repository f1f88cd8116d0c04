#!/usr/bin/env bash
# EmberDistributed against MPICH instead of the default MPI (Open MPI on Debian): builds
# ember-mpi-check and quickstart-distributed in a separate build directory with pkg-config's
# `mpi` pointed at MPICH for this build only, checks that they link libmpich and not Open
# MPI's libmpi, and runs them under MPICH's own launcher (mpiexec.mpich, Hydra): collectives
# and reproducible DDP on 1 and 2 ranks, and the reproducible distributed quickstart, whose
# output must be the same for 1 and 2 ranks.
#
#   scripts/mpich-check.sh [scratch-dir]      (default /tmp/mpich-build)
#
# Needs `apt-get install libmpich-dev mpich` (not in scripts/install-deps.sh: installing MPICH
# next to Open MPI is safe only while Debian's alternatives keep Open MPI the default, which
# this script checks but does not change). Debug build, about 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="${1:-/tmp/mpich-build}"
pcdir=$(pkg-config --variable=pcfiledir mpich 2>/dev/null) \
  || { echo "mpich-check: MPICH is not installed (apt-get install libmpich-dev mpich)" >&2; exit 1; }
launcher=$(command -v mpiexec.mpich) || { echo "mpich-check: no mpiexec.mpich (package mpich)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# SwiftPM asks pkg-config for `mpi`: an mpi.pc that is MPICH's, first on the search path
# (less Debian's -Wl,-z,relro hardening flag, which SwiftPM refuses with a warning).
mkdir "$work/pc"
sed 's/-Wl,-z,relro//' "$pcdir/mpich.pc" >"$work/pc/mpi.pc"
PKG_CONFIG_PATH="$work/pc" swift build --scratch-path "$scratch" \
  --product ember-mpi-check
PKG_CONFIG_PATH="$work/pc" swift build --scratch-path "$scratch" \
  --product quickstart-distributed
bin="$scratch/debug"
for exe in ember-mpi-check quickstart-distributed; do
  libs=$(ldd "$bin/$exe")
  grep -q 'libmpich\.so' <<<"$libs" || { echo "FAIL: $exe does not link libmpich" >&2; exit 1; }
  if grep -q 'libmpi\.so' <<<"$libs"; then echo "FAIL: $exe links Open MPI's libmpi too" >&2; exit 1; fi
done
echo "built against MPICH $(pkg-config --modversion mpich)"

# Hydra's variables (PMI_RANK, PMI_SIZE, MPI_LOCALRANKID) are what ProcessGroup reads here.
mpiexec=("$launcher" -launcher fork)
for np in 1 2; do "${mpiexec[@]}" -np "$np" "$bin/ember-mpi-check" collectives; done
"${mpiexec[@]}" -np 2 "$bin/ember-mpi-check" ddp fast
sums=()
for np in 1 2; do
  line=$("${mpiexec[@]}" -np "$np" "$bin/ember-mpi-check" ddp reproducible)
  echo "$line"
  sums+=("$(sed -n 's/.*weights checksum \([0-9a-f]*\).*/\1/p' <<<"$line")")
done
[ -n "${sums[0]}" ] && [ "${sums[0]}" = "${sums[1]}" ] \
  || { echo "FAIL: MPICH: reproducible DDP weights differ for 1 and 2 ranks: ${sums[*]}" >&2; exit 1; }

if [ -d /usr/share/datasets/fashion-mnist ] || [ -d data/FashionMNIST/raw ]; then
  data_root=data
  [ -d data/FashionMNIST/raw ] || data_root="$work/data"
  for np in 1 2; do
    "${mpiexec[@]}" -np "$np" "$bin/quickstart-distributed" --reproducible --epochs 1 --max-batches 120 \
      --root "$data_root" --save "$work/model-$np.safetensors" >"$work/quickstart-$np.out"
  done
  diff "$work/quickstart-1.out" "$work/quickstart-2.out" \
    || { echo "FAIL: MPICH: quickstart-distributed --reproducible output differs for 1 and 2 ranks" >&2; exit 1; }
  echo "MPICH: quickstart-distributed --reproducible: identical output on 1 and 2 ranks:"
  grep -E "loss|Accuracy" "$work/quickstart-1.out"
else
  echo "MPICH: quickstart-distributed: skipped (no FashionMNIST in data/ or /usr/share/datasets/fashion-mnist)"
fi
# Installing MPICH must not have moved Debian's default MPI.
mpirun --version 2>&1 | grep -q "Open MPI" \
  || echo "mpich-check: note: mpirun is not Open MPI's; scripts/mpi-test.sh expects it (update-alternatives --set mpirun /usr/bin/mpirun.openmpi)" >&2
echo "mpich-check: all passed"
