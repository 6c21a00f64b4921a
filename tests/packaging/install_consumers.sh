#!/usr/bin/env bash
# Installs a built tree into a temporary prefix, checks what was installed,
# then builds and runs the consumer program four ways: find_package (shared
# and static), pkg-config, add_subdirectory and FetchContent.
#
#   install_consumers.sh BUILD_DIR SOURCE_DIR C_COMPILER "EXTRA_FLAGS"
# EXTRA_FLAGS are compile and link flags the library was built with that its
# users need too (the sanitizer flags of a sanitized build).
set -euo pipefail
build=$1 src=$2 cc=$3 extra=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/wsproto-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() { echo "install_consumers: $*" >&2; exit 1; }

echo "== cmake --install into a temporary prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null

header=$prefix/include/wsproto.h
[ -f "$header" ] || fail "no installed header"
pc=$(find "$prefix" -name wsproto.pc)
[ -n "$pc" ] || fail "no wsproto.pc"
libdir=$(dirname "$(dirname "$pc")")
config=$(find "$prefix" -name wsprotoConfig.cmake)
[ -n "$config" ] || fail "no wsprotoConfig.cmake"
[ -f "$(dirname "$config")/wsprotoConfigVersion.cmake" ] || fail "no wsprotoConfigVersion.cmake"
[ -f "$libdir/libwsproto.a" ] || fail "no static library"

version=$(sed -n 's/^#define WSP_VERSION_STRING "\([^"]*\)".*/\1/p' "$header")
major=${version%%.*}
real=$libdir/libwsproto.so.$version
[ -f "$real" ] && [ ! -L "$real" ] || fail "no libwsproto.so.$version"
[ "$(readlink "$libdir/libwsproto.so.$major")" = "libwsproto.so.$version" ] ||
    fail "libwsproto.so.$major does not point at libwsproto.so.$version"
[ "$(readlink "$libdir/libwsproto.so")" = "libwsproto.so.$major" ] ||
    fail "libwsproto.so does not point at libwsproto.so.$major"
soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libwsproto.so.$major" ] || fail "SONAME is '$soname'"
echo "installed $version, SONAME $soname"

run() {
    echo "-- $*"
    "$@"
}

echo "== find_package(wsproto CONFIG)"
cmake -S "$here/consumer" -B "$work/pkg" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$extra" \
    -DCMAKE_EXE_LINKER_FLAGS="$extra" >/dev/null
cmake --build "$work/pkg" >/dev/null
readelf -d "$work/pkg/consumer" | grep -q "NEEDED.*\[libwsproto.so.$major\]" ||
    fail "find_package consumer is not linked to libwsproto.so.$major"
if readelf -d "$work/pkg/consumer_static" | grep -q 'NEEDED.*libwsproto'; then
    fail "consumer_static needs the shared library"
fi
run "$work/pkg/consumer"
run "$work/pkg/consumer_static"

echo "== pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
[ "$(pkg-config --modversion wsproto)" = "$version" ] || fail "pkg-config version"
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 -Wall -Wextra -Werror $extra -o "$work/pc_consumer" \
    "$here/consumer/main.c" $(pkg-config --cflags --libs wsproto) \
    -Wl,-rpath,"$libdir"
run "$work/pc_consumer"
# Static: the archive plus pkg-config's private dependencies (zlib).
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 -Wall -Wextra -Werror $extra -o "$work/pc_consumer_static" \
    "$here/consumer/main.c" $(pkg-config --cflags wsproto) "$libdir/libwsproto.a" \
    $(pkg-config --static --libs-only-l wsproto | sed 's/-lwsproto//')
run "$work/pc_consumer_static"

for how in subdirectory fetchcontent; do
    echo "== $how"
    cmake -S "$here/consumer" -B "$work/$how" -DCMAKE_C_COMPILER="$cc" \
        -DWSPROTO_USE="$how" -DWSPROTO_SOURCE_DIR="$src" \
        -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" \
        -DCMAKE_SHARED_LINKER_FLAGS="$extra" >/dev/null
    cmake --build "$work/$how" -j "$(nproc 2>/dev/null || echo 2)" --target consumer >/dev/null
    run "$work/$how/consumer"
done
echo "install_consumers: ok"
