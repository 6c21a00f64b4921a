/* Harness for the blocking TLS sample: file-scope code that defines
 * `int serve_tls(SSL_CTX *ctx, int fd)`. serve_tls() gets a server context
 * with a certificate and key, and a blocking socket whose peer is a TLS
 * client in this process; tls_peer_test() (tls_peer.c) checks everything
 * the client received, in three sessions. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wsproto.h>

#include SAMPLE_HEAD

#include "tls_peer.h"
#include "wrap.h"

#include SAMPLE_BODY

int main(void)
{
    return tls_peer_test(SAMPLE_NAME, serve_tls, TLS_PEER_BLOCKING);
}
