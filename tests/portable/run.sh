#!/usr/bin/env bash
# Portability checks with Debian's cross toolchains:
#   - the byte-order sensitive checks (portable_test.c) built for aarch64 and
#     s390x (big-endian) and run under qemu-user, and natively;
#   - the core built freestanding-style for a Cortex-M4 (-Os, newlib, no OS,
#     WSP_NO_SYSTEM_ENTROPY) and linked into a small bare-metal program;
#   - code sizes (.text) for x86-64 -O2 and Cortex-M4 -Os.
# Installs its Debian packages unless WSP_SKIP_INSTALL=1. Warnings are errors.
#
#   bash tests/portable/run.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/wsproto-portable.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ "${WSP_SKIP_INSTALL:-0}" != 1 ]; then
    pkgs=(gcc binutils qemu-user gcc-aarch64-linux-gnu gcc-s390x-linux-gnu
          libc6-dev-arm64-cross libc6-dev-s390x-cross
          gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi)
    . "$root/tests/support/debian-packages.sh"
    install_debian_packages "${pkgs[@]}"
fi

warn=(-std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror)
sources=("$root"/src/*.c)
failed=0

# Byte-order checks: native, then each target under its qemu.
run_portable() {
    local name=$1 cc=$2
    shift 2
    echo "== $name ($cc)"
    "$cc" "${warn[@]}" -O2 -I"$root/include" -I"$root/src" "$@" \
        "$here/portable_test.c" "${sources[@]}" -o "$work/portable-$name"
}
if run_portable native gcc && "$work/portable-native"; then :; else failed=1; fi
for t in aarch64 s390x; do
    if run_portable "$t" "$t-linux-gnu-gcc" -static &&
        "qemu-$t" "$work/portable-$t"; then :; else
        echo "FAILED: $t"
        failed=1
    fi
done
# The portable (non-SIMD) paths on the build machine too.
if run_portable native-nosimd gcc -DWSP_NO_SIMD && "$work/portable-native-nosimd"; then :; else failed=1; fi

text_total() { # objects... -> summed .text
    "$size_cmd" -A "$@" | awk '$1 == ".text" || $1 ~ /^\.text\./ { t += $2 } END { print t + 0 }'
}

echo "== x86-64 / host, gcc -O2 (.text of the library objects)"
mkdir -p "$work/host"
for f in "${sources[@]}"; do
    gcc "${warn[@]}" -O2 -I"$root/include" -c "$f" -o "$work/host/$(basename "$f" .c).o"
done
size_cmd=size
host_core=$(text_total "$work"/host/*.o)
if [ -f /usr/include/zlib.h ]; then
    gcc "${warn[@]}" -O2 -DWSPROTO_DEFLATE -I"$root/include" -c "$root/src/deflate.c" -o "$work/host/deflate.o"
    host_deflate=$(text_total "$work"/host/*.o)
else
    host_deflate=n/a
fi

echo "== Cortex-M4, arm-none-eabi-gcc -Os, newlib, no OS"
m4=(-mcpu=cortex-m4 -mthumb -mfloat-abi=soft -Os -ffunction-sections -fdata-sections
    -DWSP_NO_SYSTEM_ENTROPY -DWSP_NO_MALLOC)
mkdir -p "$work/m4"
m4_ok=1
for f in "${sources[@]}"; do
    arm-none-eabi-gcc "${warn[@]}" "${m4[@]}" -I"$root/include" -c "$f" \
        -o "$work/m4/$(basename "$f" .c).o" || m4_ok=0
done
if [ $m4_ok = 1 ] && arm-none-eabi-gcc "${warn[@]}" "${m4[@]}" -I"$root/include" \
    --specs=nano.specs --specs=nosys.specs -Wl,--gc-sections -Wl,-Map="$work/m4/fw.map" \
    "$here/m4_main.c" "$work"/m4/*.o -o "$work/m4/fw.elf"; then
    size_cmd=arm-none-eabi-size
    m4_lib=$(text_total "$work"/m4/*.o)
    m4_fw=$("$size_cmd" -A "$work/m4/fw.elf" | awk '$1 == ".text" { print $2 }')
    m4_ro=$("$size_cmd" -A "$work/m4/fw.elf" | awk '$1 == ".rodata" { print $2 }')
    # Heap: the program places its connection in static memory.
    arm-none-eabi-nm "$work/m4/fw.elf" > "$work/m4/fw.nm"
    # WSP_NO_MALLOC promises a heap-free library: a linked malloc is a bug.
    if grep -qw malloc "$work/m4/fw.nm"; then
        heap="malloc linked (referenced by: $(grep -A1 'libc_nano.a(lib_a-malloc.o)' "$work/m4/fw.map" | sed -n '2s/^ *//p' | sed 's|.*/||'))"
        echo "FAILED: Cortex-M4 build links malloc despite WSP_NO_MALLOC"
        failed=1
    else
        heap="no allocator linked"
    fi
else
    echo "FAILED: Cortex-M4 build"
    failed=1
fi

echo
echo "code size (.text, bytes):"
echo "  x86-64 gcc -O2, all library objects:        $host_core (without permessage-deflate)"
echo "  x86-64 gcc -O2, with permessage-deflate:    $host_deflate"
if [ $m4_ok = 1 ]; then
    echo "  Cortex-M4 gcc -Os, all library objects:     $m4_lib"
    echo "  Cortex-M4 echo program, linked, gc-sections: $m4_fw (.rodata $m4_ro, newlib included)"
    echo "  Cortex-M4 heap: $heap"
fi
if [ $failed != 0 ]; then
    echo "portable: FAILED"
    exit 1
fi
echo "portable: ok"
