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
