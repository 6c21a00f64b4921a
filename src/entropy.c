/* The default entropy source. RFC 6455 10.3: masking keys must not be
 * predictable, so only the OS CSPRNG qualifies; there is deliberately no
 * fallback to anything weaker. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* getrandom() */
#endif
#include "internal.h"

#include <string.h>

#if defined(WSP_NO_SYSTEM_ENTROPY)
int wsp_entropy_system(uint8_t *buf, size_t len, void *user)
{
    (void)buf, (void)len, (void)user;
    return -1;
}
#elif defined(__linux__)
#include <errno.h>
#include <sys/random.h>
int wsp_entropy_system(uint8_t *buf, size_t len, void *user)
{
    (void)user;
    while (len > 0) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || \
    defined(__NetBSD__) || defined(__DragonFly__)
#include <stdlib.h>
int wsp_entropy_system(uint8_t *buf, size_t len, void *user)
{
    (void)user;
    arc4random_buf(buf, len);
    return 0;
}
#elif defined(_WIN32)
#include <windows.h>
#include <bcrypt.h>
int wsp_entropy_system(uint8_t *buf, size_t len, void *user)
{
    (void)user;
    if (len > 0xFFFFFFFFu) return -1;
    return BCryptGenRandom(NULL, buf, (ULONG)len,
                           BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0 ? 0 : -1;
}
#else
int wsp_entropy_system(uint8_t *buf, size_t len, void *user)
{
    (void)buf, (void)len, (void)user;
    return -1;
}
#endif

int wsp_entropy_pooled(uint8_t *buf, size_t len, void *user)
{
    wsp_entropy_pool *p = user;
    if (!p || (!buf && len)) return -1;
    while (len > 0) {
        /* pos == 0 marks an empty (zero-filled) pool as well as a spent one. */
        if (p->pos == 0 || p->pos >= sizeof p->buf) {
            if (wsp_entropy_system(p->buf, sizeof p->buf, NULL) != 0) return -1;
            p->pos = 0;
        }
        size_t n = sizeof p->buf - p->pos;
        if (n > len) n = len;
        memcpy(buf, p->buf + p->pos, n);
        /* Handed-out bytes are not kept around to be read again. */
        memset(p->buf + p->pos, 0, n);
        p->pos += n;
        buf += n;
        len -= n;
    }
    return 0;
}

/* SipHash-2-4 (Aumasson and Bernstein) of one 8-byte little-endian word:
 * a PRF, so its outputs over a counter are a keystream no one without the
 * key can predict, at a few nanoseconds per key instead of a system call. */
#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND(v0, v1, v2, v3)                                              \
    do {                                                                       \
        v0 += v1, v1 = SIP_ROTL(v1, 13), v1 ^= v0, v0 = SIP_ROTL(v0, 32);      \
        v2 += v3, v3 = SIP_ROTL(v3, 16), v3 ^= v2;                             \
        v0 += v3, v3 = SIP_ROTL(v3, 21), v3 ^= v0;                             \
        v2 += v1, v1 = SIP_ROTL(v1, 17), v1 ^= v2, v2 = SIP_ROTL(v2, 32);      \
    } while (0)

uint64_t wsp_siphash_word(uint64_t k0, uint64_t k1, uint64_t m)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    uint64_t b = (uint64_t)8 << 56; /* message length in the last block */
    v3 ^= m;
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    v0 ^= m;
    v3 ^= b;
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < 4; i++) SIP_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

int wsp_keystream_next(wsp_keystream *ks, uint32_t *counter, uint8_t key[4])
{
    if (*counter == 0) {
        uint8_t seed[16];
        if (wsp_entropy_system(seed, sizeof seed, NULL) != 0) return -1;
        ks->k0 = ks->k1 = 0;
        for (int i = 0; i < 8; i++) {
            ks->k0 |= (uint64_t)seed[i] << (8 * i);
            ks->k1 |= (uint64_t)seed[8 + i] << (8 * i);
        }
        memset(seed, 0, sizeof seed);
        *counter = 1;
    }
    /* After 2^32 - 1 keys the counter wraps to 0 and the next key reseeds,
     * so no counter value is used twice under one key. */
    uint64_t r = wsp_siphash_word(ks->k0, ks->k1, (*counter)++);
    for (int i = 0; i < 4; i++) key[i] = (uint8_t)(r >> (8 * i));
    return 0;
}
