/* Harness for a server sample written as file-scope code that defines
 * `int serve(int fd, outbuf *o)` (and the outbuf type) and declares
 * `int write_all(int fd, const uint8_t *p, size_t n)`. serve() gets a
 * socket whose peer is an in-memory client connection, and an outbuf of
 * DOC_OUT_CAP bytes from malloc; peer_finish() then checks everything the
 * client received. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wsproto.h>

#include SAMPLE_HEAD

#include "wrap.h"

#define read(fd, buf, len) peer_read(fd, buf, len)
#define close(fd) peer_close(fd)

#include SAMPLE_BODY

int write_all(int fd, const uint8_t *p, size_t n)
{
    return peer_write_all(fd, p, n);
}

int main(void)
{
    outbuf o = {NULL, 0, DOC_OUT_CAP};
    o.buf = malloc(o.cap);
    DOC_CHECK(o.buf != NULL);
    peer_start();
    int rc = serve(DOC_FD, &o);
    free(o.buf);
    return peer_finish(SAMPLE_NAME, rc);
}
