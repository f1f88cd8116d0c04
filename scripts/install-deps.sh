#!/usr/bin/env bash
# Installs the system packages Ember needs, if any is missing (Debian/Ubuntu):
#   libopenblas-dev (sgemm), libomp-dev (OpenMP runtime), zlib1g-dev (gzip datasets),
#   libarchive-dev (zip/tar readers), dataset-fashion-mnist (the real FashionMNIST, offline,
#   in /usr/share/datasets), libpng-dev and libjpeg62-turbo-dev (PNG/JPEG decoding for
#   readImage and ImageFolder), fortunes (the gpt example's English text, offline, in
#   /usr/share/games/fortunes), libopenmpi-dev and openmpi-bin (EmberDistributed: MPI through
#   pkg-config `mpi`, and mpirun), python3 (scripts/check_*.py in scripts/test.sh).
# Uses sudo when not root. Safe to run again: it does nothing when all are present.
set -euo pipefail
packages=(libopenblas-dev libomp-dev zlib1g-dev libarchive-dev dataset-fashion-mnist libpng-dev
          libjpeg62-turbo-dev fortunes libopenmpi-dev openmpi-bin python3)
# libjpeg-turbo-progs: tjbench, libjpeg-turbo's own decode speed next to Ember's in
# `ember-bench data --dataset imagefolder`.
packages+=(libjpeg-turbo-progs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
