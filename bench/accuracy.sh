#!/usr/bin/env bash
# One command for the accuracy comparison: installs what is missing (python3-torch and numpy for
# the PyTorch twin), builds Release, trains a model file in convlab and in PyTorch over several
# seeds and prints both accuracies. Usage: bench/accuracy.sh [--model F] [--epochs N] [--seeds K]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
convlab_install_missing "${CONVLAB_PACKAGES[@]}" python3-torch python3-numpy libopenblas0-pthread
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release --target convlab
exec /usr/bin/python3 bench/accuracy.py --convlab build/release/convlab "$@"
