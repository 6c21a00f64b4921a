/* SHA-1 (FIPS 180-4, section 6.1). RFC 6455 4.2.2 needs it only for the
 * Sec-WebSocket-Accept value, so this favours clarity over speed. SHA-1 is
 * not used here for anything that relies on collision resistance. */
#include "internal.h"

#include <string.h>

static uint32_t rotl32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32u - n));
}

static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* FIPS 180-4 6.1.2 step 1-4 for one 512-bit block. The message schedule is
 * kept as a 16-word ring (the standard's W[t] for t >= 16 only ever looks
 * 16 words back), which keeps the stack small. */
static void sha1_block(uint32_t h[5], const uint8_t *block)
{
    uint32_t w[16];
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

    for (unsigned t = 0; t < 16; t++)
        w[t] = load_be32(block + 4u * t);

    for (unsigned t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t >= 16) {
            uint32_t x = w[(t - 3) & 15] ^ w[(t - 8) & 15] ^
                         w[(t - 14) & 15] ^ w[t & 15];
            w[t & 15] = rotl32(x, 1);
        }
        /* FIPS 180-4 4.1.1: Ch, Parity, Maj, Parity; 4.2.1: the constants. */
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999u;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1u;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdcu;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6u;
        }
        uint32_t tmp = rotl32(a, 5) + f + e + k + w[t & 15];
        e = d;
        d = c;
        c = rotl32(b, 30);
        b = a;
        a = tmp;
    }

    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void wsp_sha1_init(wsp_sha1 *s)
{
    /* FIPS 180-4 5.3.1 */
    s->h[0] = 0x67452301u;
    s->h[1] = 0xefcdab89u;
    s->h[2] = 0x98badcfeu;
    s->h[3] = 0x10325476u;
    s->h[4] = 0xc3d2e1f0u;
    s->total = 0;
    s->fill = 0;
}

void wsp_sha1_update(wsp_sha1 *s, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;

    s->total += (uint64_t)len;

    if (s->fill > 0) {
        size_t take = 64u - s->fill;
        if (take > len)
            take = len;
        memcpy(s->block + s->fill, p, take);
        s->fill += take;
        p += take;
        len -= take;
        if (s->fill < 64u)
            return;
        sha1_block(s->h, s->block);
        s->fill = 0;
    }
    /* Whole blocks straight from the caller's memory: no copy needed. */
    while (len >= 64u) {
        sha1_block(s->h, p);
        p += 64;
        len -= 64u;
    }
    if (len > 0) {
        memcpy(s->block, p, len);
        s->fill = len;
    }
}

void wsp_sha1_final(wsp_sha1 *s, uint8_t digest[WSP_SHA1_LEN])
{
    /* FIPS 180-4 5.1.1: a 1 bit, zeros up to 448 mod 512, then the message
     * length in bits as a 64-bit big-endian integer. */
    uint64_t bits = s->total * 8u;

    s->block[s->fill++] = 0x80;
    if (s->fill > 56u) {
        memset(s->block + s->fill, 0, 64u - s->fill);
        sha1_block(s->h, s->block);
        s->fill = 0;
    }
    memset(s->block + s->fill, 0, 56u - s->fill);
    store_be32(s->block + 56, (uint32_t)(bits >> 32));
    store_be32(s->block + 60, (uint32_t)bits);
    sha1_block(s->h, s->block);

    for (unsigned i = 0; i < 5; i++)
        store_be32(digest + 4u * i, s->h[i]);

    /* The context held message-derived data; do not leave it behind. */
    memset(s, 0, sizeof(*s));
}
