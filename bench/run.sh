#!/usr/bin/env bash
# One command for the benchmark: installs what is missing (python3-torch for the reference),
# builds Release, runs convlab and PyTorch alternately on the same work, prints medians and ratios
# and saves them to bench/results/latest.json.  Usage: bench/run.sh [--reps N] [--quick]
# bench/run.sh --zoo [--only a,b]: the zoo of bench/zoo/ (tools/make_zoo.py), saved to
# bench/results/zoo.json; networks of every shape class, trained and run, and their layers alone.
# bench/run.sh --mpi: only the data-parallel comparison (1 process x 2 threads against mpirun -np 2
# x 1 thread, convlab and PyTorch DDP alike), saved to bench/results/mpi.json.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
# libopenblas0-pthread: without it Debian's PyTorch runs its matrix products on the reference (netlib)
# BLAS, about 18 times slower for Linear 4096->64; the reference must be PyTorch at its best.
convlab_install_missing "${CONVLAB_PACKAGES[@]}" python3-torch libopenblas0-pthread
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release --target convlab_bench convlab
exec /usr/bin/python3 bench/run.py --bench build/release/bench/convlab_bench "$@"
