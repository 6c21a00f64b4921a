/* The TLS samples' test: each runs as the server of a real TLS session over
 * a socketpair in this process, against a checking client. */
#ifndef DOCS_TLS_PEER_H
#define DOCS_TLS_PEER_H

#include <openssl/ssl.h>

/* How the sample's end of the socket is set up. */
typedef enum tls_peer_socket {
    TLS_PEER_BLOCKING,
    TLS_PEER_NONBLOCKING /* O_NONBLOCK: the sample waits with poll */
} tls_peer_socket;

/* Runs serve(ctx, fd) in a thread, in three sessions: with OpenSSL's
 * defaults; with read-ahead on (OpenSSL then takes several records from the
 * socket at once, so a sample that waits on poll while OpenSSL holds bytes
 * gets stuck); and with read-ahead and a small send buffer on the sample's
 * side (its writes stop half-way and must be retried). ctx has a
 * self-signed certificate made in memory for the name
 * "docs.test"; serve must close fd and return 0 after a clean close.
 *
 * The client verifies the certificate and the name, sends the upgrade
 * request, then, all at once and cut into TLS records of changing sizes,
 * text and binary messages (one empty, several over 16 KiB), a ping and a
 * close 1000. It checks that every message comes back intact and in order,
 * the ping is answered, the close is answered with 1000, then a TLS
 * close_notify and the end of the stream arrive. Returns 0 or exits with a
 * message. */
int tls_peer_test(const char *sample, int (*serve)(SSL_CTX *ctx, int fd),
                  tls_peer_socket socket_kind);

#endif
