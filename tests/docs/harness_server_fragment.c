/* Harness for a server sample written as the body of a function returning
 * int. It gives the sample `fd`, a socket whose peer is an in-memory client
 * connection (read(), close() and write_all(fd, p, n) work on it), and
 * `out`, a malloc'ed output buffer of `cap` bytes that starts at
 * DOC_OUT_CAP and that the sample may grow. It then checks, with
 * peer_finish(), everything the client received. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wsproto.h>

#include SAMPLE_HEAD

#include "wrap.h"

#define read(fd, buf, len) peer_read(fd, buf, len)
#define close(fd) peer_close(fd)

static uint8_t *out;
static size_t cap;

static int write_all(int fd, const uint8_t *p, size_t n)
{
    return peer_write_all(fd, p, n);
}

static int run(int fd)
{
#include SAMPLE_BODY
    return 0;
}

int main(void)
{
    cap = DOC_OUT_CAP;
    out = malloc(cap);
    DOC_CHECK(out != NULL);
    peer_start();
    int rc = run(DOC_FD);
    free(out);
    return peer_finish(SAMPLE_NAME, rc);
}
