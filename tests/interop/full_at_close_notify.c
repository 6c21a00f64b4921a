/* Preloaded into a TLS server by the interop tests: the first write of a
 * lone TLS 1.3 alert record on a descriptor fails with EAGAIN, as it does
 * when the kernel send buffer is full just as the server sends its
 * close_notify. Over loopback a full buffer at that very write is rare, so
 * the tests make it certain here; the next write on that descriptor goes
 * through, as it would once the socket drained. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* An encrypted alert in TLS 1.3: outer type application_data, legacy
 * version 3.3, length 2 (alert) + 1 (inner type) + 16 (AEAD tag). No
 * record the tests send has this length. */
static const unsigned char alert_head[5] = {0x17, 0x03, 0x03, 0x00, 0x13};
#define ALERT_RECORD_LEN 24u

enum { MAX_TRACKED_FD = 65536 };
/* 1: this descriptor's alert write was refused once; the retry passes. */
static unsigned char refused_once[MAX_TRACKED_FD];

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real_write)(int, const void *, size_t);
    if (!real_write) {
        /* ISO C has no object-to-function pointer conversion; POSIX
         * guarantees the representations match. */
        void *sym = dlsym(RTLD_NEXT, "write");
        memcpy(&real_write, &sym, sizeof real_write);
    }
    if (fd >= 0 && fd < MAX_TRACKED_FD && n == ALERT_RECORD_LEN &&
        memcmp(buf, alert_head, sizeof alert_head) == 0) {
        if (!refused_once[fd]) {
            refused_once[fd] = 1;
            errno = EAGAIN;
            return -1;
        }
        refused_once[fd] = 0;
    }
    return real_write(fd, buf, n);
}
