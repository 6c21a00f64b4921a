#!/usr/bin/env bash
# Builds the library and the example echo server on a fresh Debian machine
# and starts it (http://127.0.0.1:9001/). Missing build packages are
# installed first: directly from a root shell (containers, CI images),
# through sudo from a user shell. Arguments go to echo_server (--help).
#
#   bash scripts/run-echo-server.sh [ECHO_SERVER_OPTIONS...]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. tests/support/debian-packages.sh

install_debian_packages build-essential cmake zlib1g-dev
cmake -S . -B build -DWSPROTO_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target echo_server
exec ./build/examples/echo_server "$@"
