/* Base64, standard alphabet with padding (RFC 4648 section 4).
 *
 * Decoding is deliberately strict: RFC 6455 4.2.1 requires the
 * Sec-WebSocket-Key to be the base64 of exactly 16 bytes, and accepting
 * several spellings of the same bytes (non-zero pad bits, missing padding,
 * embedded whitespace) would only hide broken or probing clients. RFC 4648
 * 3.3 and 3.5 allow a decoder to reject all of those. */
#include "internal.h"

#include <limits.h>

static const char b64_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void wsp_base64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t i = 0;

    for (; len - i >= 3u; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) |
                     (uint32_t)in[i + 2];
        *out++ = b64_alphabet[(v >> 18) & 63u];
        *out++ = b64_alphabet[(v >> 12) & 63u];
        *out++ = b64_alphabet[(v >> 6) & 63u];
        *out++ = b64_alphabet[v & 63u];
    }
    if (len - i == 1u) {
        uint32_t v = (uint32_t)in[i] << 16;
        *out++ = b64_alphabet[(v >> 18) & 63u];
        *out++ = b64_alphabet[(v >> 12) & 63u];
        *out++ = '=';
        *out++ = '=';
    } else if (len - i == 2u) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        *out++ = b64_alphabet[(v >> 18) & 63u];
        *out++ = b64_alphabet[(v >> 12) & 63u];
        *out++ = b64_alphabet[(v >> 6) & 63u];
        *out++ = '=';
    }
}

/* Value of one alphabet character, or -1. Compares byte values rather than
 * indexing a table so that no 256-entry table is needed for what is, in
 * this library, a 24-character key. */
static int b64_value(char ch)
{
    unsigned char c = (unsigned char)ch;

    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long wsp_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    size_t pad = 0;
    size_t n;
    size_t o = 0;

    if (len % 4u != 0)
        return -1;
    if (len == 0)
        return 0;
    if (in == NULL)
        return -1;

    /* Padding may only close the final quantum (RFC 4648 3.2). */
    if (in[len - 1] == '=') {
        pad = 1;
        if (in[len - 2] == '=')
            pad = 2;
    }
    n = len / 4u * 3u - pad;
    if (n > cap || n > (size_t)LONG_MAX || out == NULL)
        return -1;

    for (size_t i = 0; i < len; i += 4) {
        int a = b64_value(in[i]);
        int b = b64_value(in[i + 1]);
        int c, d;
        int last = (i + 4u == len);

        if (a < 0 || b < 0)
            return -1;
        if (last && pad == 2) {
            /* "xx==": one byte; the low 4 bits of b are padding and must
             * be zero so that the encoding is canonical (RFC 4648 3.5). */
            if ((b & 0x0f) != 0)
                return -1;
            out[o++] = (uint8_t)((a << 2) | (b >> 4));
            break;
        }
        c = b64_value(in[i + 2]);
        if (c < 0)
            return -1;
        if (last && pad == 1) {
            /* "xxx=": two bytes; the low 2 bits of c are padding. */
            if ((c & 0x03) != 0)
                return -1;
            out[o++] = (uint8_t)((a << 2) | (b >> 4));
            out[o++] = (uint8_t)(((b & 0x0f) << 4) | (c >> 2));
            break;
        }
        d = b64_value(in[i + 3]);
        if (d < 0)
            return -1;
        out[o++] = (uint8_t)((a << 2) | (b >> 4));
        out[o++] = (uint8_t)(((b & 0x0f) << 4) | (c >> 2));
        out[o++] = (uint8_t)(((c & 0x03) << 6) | d);
    }
    return (long)o;
}
