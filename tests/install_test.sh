#!/usr/bin/env bash
# cmake --install, then a program outside the tree built against the installed package twice:
# with CMake (find_package(convlab), convlab::convlab) and with pkg-config (convlab.pc). Each must
# build, run (20 Adam steps lower the loss), and link no plotting or command-line library.
#   install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null

fail() { echo "FAIL: $*" >&2; exit 1; }
no_plotting() {  # $1: an executable
  if ldd "$1" | grep -Ei 'plplot|cairo|wx'; then fail "$1 links a plotting library"; fi
  # PLplot's C API is c_pl*, cairo's cairo_*; CLI11 is namespace CLI (defined or referenced).
  if nm -C "$1" | grep -E ' (c_pl[a-z0-9_]+|cairo_[a-z_]+|CLI::.*)$' | head -3 | grep .; then
    fail "$1 holds plotting or CLI11 code"
  fi
  echo "ok    $1 links no PLplot, cairo or CLI11"
}

cmake -S "$src/tests/install" -B "$tmp/cmake-app" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/cmake-app" >/dev/null
"$tmp/cmake-app/app" || fail "the CMake-built program did not train"
echo "ok    find_package(convlab) + convlab::convlab: built and trained"
no_plotting "$tmp/cmake-app/app"

export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig:$tmp/prefix/lib/x86_64-linux-gnu/pkgconfig"
# shellcheck disable=SC2046
c++ -O2 "$src/tests/install/app.cpp" -o "$tmp/pc-app" $(pkg-config --cflags --libs --static convlab)
"$tmp/pc-app" || fail "the pkg-config-built program did not train"
echo "ok    pkg-config --static convlab: built and trained"
no_plotting "$tmp/pc-app"
echo "all install checks passed"
