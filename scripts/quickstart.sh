#!/usr/bin/env bash
# Installs the system packages if missing, builds in release and runs the quickstart (the
# PyTorch quickstart in Swift) on the real FashionMNIST. Arguments go to the quickstart:
#   scripts/quickstart.sh --epochs 10 --optimizer adam
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product quickstart
exec .build/release/quickstart "$@"
