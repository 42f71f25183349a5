#!/usr/bin/env bash
# Installs the Debian packages convlab builds and tests with, only those that are missing.
# Sourced by scripts/run and scripts/test; safe to run on its own.
set -euo pipefail

CONVLAB_PACKAGES=(
  build-essential cmake ninja-build pkg-config  # toolchain
  libgtest-dev libbenchmark-dev                 # tests and microbenchmarks
  libcli11-dev nlohmann-json3-dev               # command-line parsing, JSON
  libstb-dev                                    # PNG reading/writing of raw images
  libonnx-dev libprotobuf-dev                   # ONNX models: protobuf classes and checker
  python3-onnx                                  # the test that ONNX's own checker accepts exports
  libopenmpi-dev openmpi-bin                    # data-parallel training: mpirun -np N convlab train
  pybind11-dev python3-dev python3-numpy        # the Python module (import convlab)
  python3-pytest                                # its tests
  curl                                          # convlab download (optional, needs a network)
  libplplot-dev plplot-driver-cairo             # figures: plots and colour bars
  python3                                       # the hostile-input suite and kill test (stdlib only)
)

# scripts/fuzz: clang 14 with libFuzzer and the sanitizer runtimes.
CONVLAB_FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)

convlab_install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "convlab: installing missing Debian packages: ${missing[*]}" >&2
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "convlab: need root or sudo to install: ${missing[*]}" >&2; return 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  convlab_install_missing "${CONVLAB_PACKAGES[@]}"
fi
