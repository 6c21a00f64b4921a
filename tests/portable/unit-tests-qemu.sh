#!/usr/bin/env bash
# The cmocka unit tests, cross-compiled with Debian's cross compilers and run
# under qemu-user: aarch64 (little-endian, NEON masking) and s390x
# (big-endian, where word-at-a-time masking and length decoding would break).
#
# The foreign cmocka and zlib come from Debian's archive, fetched with a
# private apt state and unpacked into a per-architecture sysroot. Nothing is
# installed for a foreign architecture and dpkg's architecture list is left
# alone: a multiarch install can force apt to remove native packages when the
# foreign and native archives carry different versions of a shared package.
#
#   bash tests/portable/unit-tests-qemu.sh [arch...]   (default: aarch64 s390x)
#
# Installs the cross compilers and qemu-user unless WSP_SKIP_INSTALL=1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/wsproto-qemu-unit.XXXXXX")
trap 'rm -rf "$work"' EXIT

arches=("$@")
if [ ${#arches[@]} -eq 0 ]; then arches=(aarch64 s390x); fi

debian_arch() {
    case $1 in
        aarch64) echo arm64 ;;
        s390x) echo s390x ;;
        *) echo "unsupported architecture: $1" >&2; return 1 ;;
    esac
}

if [ "${WSP_SKIP_INSTALL:-0}" != 1 ]; then
    pkgs=(cmake qemu-user binutils)
    for a in "${arches[@]}"; do
        d=$(debian_arch "$a")
        pkgs+=("gcc-$a-linux-gnu" "libc6-dev-$d-cross")
    done
    . "$root/tests/support/debian-packages.sh"
    install_debian_packages "${pkgs[@]}"
fi

# A private apt: its own package lists (with the foreign architectures) and
# archive cache, the machine's sources, no dpkg status. Only `download` is used.
apt_dir=$work/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
apt_opts=(-o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
          -o Dir::State::Status=/dev/null -o Debug::NoLocking=1
          -o APT::Sandbox::User=root -o APT::Architectures::="$(dpkg --print-architecture)")
for a in "${arches[@]}"; do
    apt_opts+=(-o APT::Architectures::="$(debian_arch "$a")")
done
echo "== fetching package lists for: ${arches[*]}"
apt-get "${apt_opts[@]}" -qq update

failed=0
summary=()
for a in "${arches[@]}"; do
    d=$(debian_arch "$a")
    triplet=$a-linux-gnu
    sysroot=$work/sysroot-$a
    mkdir -p "$sysroot" "$work/debs-$a"
    echo "== $a: cmocka and zlib for $d"
    (cd "$work/debs-$a" && apt-get "${apt_opts[@]}" -qq download \
        "libcmocka0:$d" "libcmocka-dev:$d" "zlib1g-dev:$d")
    for deb in "$work/debs-$a"/*.deb; do
        dpkg-deb -x "$deb" "$sysroot"
    done
    # zlib's development link points at the runtime package, which is not
    # unpacked: link its static archive instead.
    rm -f "$sysroot/usr/lib/$triplet/libz.so"

    toolchain=$work/toolchain-$a.cmake
    cat > "$toolchain" <<EOF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR $a)
set(CMAKE_C_COMPILER $triplet-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE $triplet)
set(CMAKE_FIND_ROOT_PATH $sysroot /usr/$triplet)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-$a -L /usr/$triplet -E LD_LIBRARY_PATH=$sysroot/usr/lib/$triplet)
EOF
    build=$work/build-$a
    echo "== $a: configure and build (gcc -Werror, permessage-deflate on)"
    if PKG_CONFIG_LIBDIR=$sysroot/usr/lib/$triplet/pkgconfig PKG_CONFIG_SYSROOT_DIR=$sysroot \
        cmake -S "$root" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
            -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWSPROTO_WERROR=ON \
            -DWSPROTO_BUILD_TESTS=ON -DWSPROTO_BUILD_EXAMPLES=OFF \
            -DWSPROTO_DEFLATE=ON -DZLIB_USE_STATIC_LIBS=ON >"$work/configure-$a.log" 2>&1 &&
        cmake --build "$build" -j"$(nproc)" >"$work/build-$a.log" 2>&1; then :; else
        cat "$work/configure-$a.log" "$work/build-$a.log" 2>/dev/null | tail -40
        echo "FAILED: $a build"
        failed=1
        summary+=("$a: build failed")
        continue
    fi
    # Prove the binaries really are foreign before trusting a pass.
    file_arch=$(LC_ALL=C readelf -h "$build/tests/test_frame" | awk -F: '/Machine/ { gsub(/^ +/, "", $2); print $2 }')
    echo "== $a: running the unit tests under qemu-$a (test binaries: $file_arch)"
    if (cd "$build" && ctest -L unit --output-on-failure -j"$(nproc)") >"$work/ctest-$a.log" 2>&1; then
        result=ok
    else
        result=FAILED
        failed=1
    fi
    grep -E 'tests passed|tests failed|\*\*\*Failed|Not Run' "$work/ctest-$a.log" || true
    if [ $result = FAILED ]; then tail -60 "$work/ctest-$a.log"; fi
    summary+=("$a ($file_arch): $(grep -E 'tests passed' "$work/ctest-$a.log" || echo 'no ctest summary')")
done

echo
echo "unit tests under qemu-user:"
for line in "${summary[@]}"; do echo "  $line"; done
if [ $failed != 0 ]; then
    echo "qemu unit tests: FAILED"
    exit 1
fi
echo "qemu unit tests: ok"
