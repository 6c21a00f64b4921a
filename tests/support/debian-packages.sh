# shellcheck shell=bash
# Sourced by the test scripts. install_debian_packages PKG...: installs the
# Debian packages that are missing, as root directly or through sudo, and
# says how long it took. It never lets apt remove a package to make room: a
# test script must not break the machine it runs on, so a conflict is an
# error instead. Recommended packages are not installed: every script names
# what it needs, and a recommendation such as qemu-user-binfmt registers qemu
# with the kernel for foreign binaries, machine-wide state nothing here needs
# (the scripts run qemu by name).

# as_root CMD...: runs CMD as root: directly when root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "install: not root and no sudo; as root run: $*" >&2
        return 1
    fi
}

install_debian_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' installed$' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    local start=$SECONDS
    echo "== installing: ${missing[*]}"
    # One package list refresh per suite run: scripts started from run-all.sh
    # see it was done.
    if [ "${WSP_APT_UPDATED:-0}" != 1 ]; then
        as_root apt-get update -qq || return 1
        export WSP_APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-remove --no-install-recommends "${missing[@]}" >/dev/null ||
        return 1
    echo "== installed in $((SECONDS - start)) s"
}
