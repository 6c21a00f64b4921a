#!/usr/bin/env bash
# Installs what the interop tests need, all from Debian: Chromium (driven
# over its DevTools protocol by chromium.js), Node.js with the ws library
# (node-ws), and Python with websockets, wsproto and h2 (the HTTP/2 tests).
# No npm: see docs/testing.md. Safe to run again: installed packages are skipped.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../support/debian-packages.sh"

wanted=(chromium python3 python3-websockets python3-wsproto python3-h2 node-ws)
# A node from elsewhere (a newer release) is used as it is; node-ws still
# pulls in Debian's nodejs when no package of that name is installed.
command -v node >/dev/null 2>&1 || wanted+=(nodejs)
install_debian_packages "${wanted[@]}"

/usr/bin/python3 -c 'import websockets, wsproto, h2' ||
  { echo "install-deps: python3-websockets/python3-wsproto/python3-h2 not importable by /usr/bin/python3" >&2; exit 1; }
ws_version=$(node -e 'console.log(require(process.argv[1]).requireDep("ws/package.json").version)' \
  "$here/common.js") ||
  { echo "install-deps: node cannot load ws (Debian package node-ws)" >&2; exit 1; }
test -x /usr/bin/chromium ||
  { echo "install-deps: /usr/bin/chromium missing" >&2; exit 1; }
echo "install-deps: node $(node --version), ws $ws_version," \
  "$(/usr/bin/python3 --version), $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
