/*
 * tls_io: the byte stream under the examples' WebSocket connections, either
 * a plain TCP socket or OpenSSL on top of one. The library never sees the
 * difference: it gets the decrypted bytes io_recv returns and produces the
 * bytes io_send_all encrypts.
 *
 * Sockets are blocking with SO_RCVTIMEO / SO_SNDTIMEO set by the caller; a
 * timeout shows as -1 with errno EAGAIN, whether or not TLS is on.
 *
 * Built without OpenSSL (EXAMPLES_TLS undefined), every TLS entry point
 * fails with a message and the plain paths work as before.
 */
#ifndef TLS_IO_H
#define TLS_IO_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct ssl_st;     /* OpenSSL's SSL */
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

typedef struct io_stream {
    int fd;
    struct ssl_st *ssl;      /* NULL: plain TCP */
    unsigned long tls_error; /* OpenSSL's error of the last failed call */
} io_stream;

typedef enum io_result { IO_OK, IO_AGAIN, IO_ERROR } io_result;

/* 1 if the examples were built with OpenSSL. */
int tls_io_available(void);

/* A server context with the certificate chain and key in PEM files. NULL on
 * failure (the reason is printed to stderr). */
struct ssl_ctx_st *tls_server_context(const char *cert_file,
                                      const char *key_file);

/* A client context that verifies the server against ca_file (PEM), or the
 * system's trust store when ca_file is NULL; insecure skips verification. */
struct ssl_ctx_st *tls_client_context(const char *ca_file, int insecure);

void tls_context_free(struct ssl_ctx_st *ctx);

/* Wraps s->fd in TLS. A client passes the host it connects to: it goes out
 * as SNI (names only, RFC 6066 3) and the certificate must match it. */
io_result io_tls_start(io_stream *s, struct ssl_ctx_st *ctx, int is_server,
                       const char *host);

/* Runs the TLS handshake; IO_AGAIN when a socket timeout interrupted it
 * (call again). On IO_ERROR, io_tls_error says why. */
io_result io_tls_handshake(io_stream *s);

/* Why the last TLS call failed: OpenSSL's reason, with the certificate
 * verification result when that is what failed. */
const char *io_tls_error(io_stream *s, char *buf, size_t cap);

/* Like recv(): bytes read, 0 at the end of the stream, -1 with errno set
 * (EAGAIN on a timeout). */
ssize_t io_recv(io_stream *s, void *buf, size_t len);

/* Writes every byte of iov[0..n), n <= 64. 0, or -1 when the peer is gone or the
 * send timed out. */
int io_send_all(io_stream *s, const struct iovec *iov, int n);
int io_send(io_stream *s, const void *buf, size_t len);

/* 1 when decrypted bytes, or bytes of a record not yet decrypted, wait
 * inside OpenSSL: poll() on the socket cannot see them, so read first. */
int io_pending(io_stream *s);

/* Sends a TLS close_notify (once the WebSocket close handshake is over)
 * without waiting for the peer's. Nothing for plain TCP. */
void io_tls_close_notify(io_stream *s);

/* Frees the TLS state; the socket stays open. */
void io_tls_free(io_stream *s);

/* Frees the calling thread's OpenSSL state (its error queue) now rather
 * than at thread exit, for threads the process does not wait to end. */
void tls_io_thread_done(void);

#endif
