#!/usr/bin/env bash
# Compiles the C example of README.md ("Using it") with warnings as errors and
# runs it on a real upgrade request followed by a masked text frame: the
# example must answer 101 and echo the text. The wrapper only supplies what the
# snippet leaves to the reader: the buffers, the byte counts, and freeing the
# connection afterwards.
#
#   readme_example.sh README INCLUDE_DIR LIBRARY C_COMPILER "FLAGS" "LIBS"
# FLAGS: extra compile and link flags (a sanitized build's); LIBS: what the
# static library needs after it (zlib when permessage-deflate is built in).
set -euo pipefail
readme=$1 incdir=$2 lib=$3 cc=$4 extra=${5:-} libs=${6:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/wsproto-readme.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The first ```c block.
awk '/^```c$/ { inblock = 1; next } inblock && /^```/ { exit } inblock { print }' \
    "$readme" > "$work/block.c"
[ -s "$work/block.c" ] || { echo "no \`\`\`c block in $readme"; exit 1; }
grep '^#include' "$work/block.c" > "$work/includes.c" || true
grep -v '^#include' "$work/block.c" > "$work/body.c"

{
    cat "$work/includes.c"
    cat <<'C'
#include <stdio.h>
#include <string.h>

/* Runs the README's snippet on buf[0..len) and returns the bytes it wrote to
 * out (capacity cap). */
static size_t readme_snippet(uint8_t *buf, size_t len, uint8_t *out, size_t cap)
{
    size_t n = 0, k = 0;
C
    sed 's/^/    /' "$work/body.c"
    cat <<'C'
    wsp_conn_free(conn);
    return n;
}

int main(void)
{
    static const char request[] =
        "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n";
    /* RFC 6455 5.7: a masked "Hello" from a client. */
    static const uint8_t frame[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58};
    uint8_t in[512], out[512];
    size_t len = strlen(request);
    memcpy(in, request, len);
    memcpy(in + len, frame, sizeof frame);
    len += sizeof frame;
    size_t n = readme_snippet(in, len, out, sizeof out);
    static const char accept[] =
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
    static const uint8_t echo[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    if (n < sizeof echo || memcmp(out, "HTTP/1.1 101 ", 13) != 0 ||
        strstr((const char *)out, accept) == NULL ||
        memcmp(out + n - sizeof echo, echo, sizeof echo) != 0) {
        fprintf(stderr, "README example: unexpected output (%zu bytes)\n", n);
        fwrite(out, 1, n, stderr);
        return 1;
    }
    puts("README example: 101 answered, \"Hello\" echoed");
    return 0;
}
C
} > "$work/readme_example.c"

# shellcheck disable=SC2086
if ! "$cc" -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror $extra \
    -I"$incdir" -o "$work/readme_example" "$work/readme_example.c" "$lib" $libs; then
    echo "--- the wrapped README example:"; cat -n "$work/readme_example.c"; exit 1
fi
"$work/readme_example"
