#!/usr/bin/env bash
# Installs what the interop tests need: Chromium, the Debian Python
# WebSocket packages, Node.js/npm when absent, and the npm packages pinned
# in package-lock.json. Safe to run again: installed packages are skipped.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEBIAN_FRONTEND=noninteractive

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

wanted=(chromium python3 python3-websockets python3-wsproto)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  wanted+=(nodejs npm)
fi

missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
# nodejs from another source may ship npm inside it; only ask apt for npm
# when the command is really missing.
if [ ${#missing[@]} -gt 0 ] && command -v npm >/dev/null 2>&1; then
  filtered=()
  for pkg in "${missing[@]}"; do
    [ "$pkg" = npm ] || filtered+=("$pkg")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update
  "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "install-deps: Debian packages already installed"
fi

cd "$here"
if ! npm ci --no-audit --no-fund; then
  # npm ci insists on an exact lockfile match; fall back rather than fail
  # on an npm version that rewrites it.
  npm install --no-audit --no-fund
fi

/usr/bin/python3 -c 'import websockets, wsproto' ||
  { echo "install-deps: python3-websockets/python3-wsproto not importable by /usr/bin/python3" >&2; exit 1; }
node -e 'require("playwright-core"); require("ws")' ||
  { echo "install-deps: npm packages not installed" >&2; exit 1; }
test -x /usr/bin/chromium ||
  { echo "install-deps: /usr/bin/chromium missing" >&2; exit 1; }
echo "install-deps: done"
