# shellcheck shell=bash
# Sourced by the test scripts. install_debian_packages PKG...: installs the
# Debian packages that are missing, with sudo when not root. It never lets apt
# remove a package to make room: a test script must not break the machine it
# runs on, so a conflict is an error instead.
install_debian_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    local sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
    echo "== installing: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-remove "${missing[@]}" >/dev/null
}
