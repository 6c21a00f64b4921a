/*
 * tls_io: plain TCP or OpenSSL under the examples; see tls_io.h. The TLS
 * half is here so each example keeps only its WebSocket logic.
 */
#define _POSIX_C_SOURCE 200809L

#include "tls_io.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Plain TCP: the same calls with the socket API. */
static int tcp_send_all(int fd, const struct iovec *iov_in, int n)
{
    struct iovec iov[64];
    if (n < 0 || n > 64) return -1;
    memcpy(iov, iov_in, (size_t)n * sizeof *iov);
    struct iovec *v = iov;
    while (n > 0) {
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = v;
        mh.msg_iovlen = (size_t)n;
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= v->iov_len) {
            left -= v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (uint8_t *)v->iov_base + left;
            v->iov_len -= left;
        }
    }
    return 0;
}

int io_send(io_stream *s, const void *buf, size_t len)
{
    struct iovec iov = {(void *)(uintptr_t)buf, len};
    return io_send_all(s, &iov, 1);
}

#ifdef EXAMPLES_TLS

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* TLS records carry at most 16 KiB of plaintext: smaller pieces (frame
 * headers, short payloads) are gathered up to that size so they share a
 * record instead of costing one each. */
#define TLS_RECORD_MAX 16384u

int tls_io_available(void)
{
    return 1;
}

static SSL_CTX *new_context(const SSL_METHOD *method)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* A WebSocket session closes with its own handshake: a TCP EOF without
     * close_notify can only cut off what that handshake already detects,
     * so it reads as a plain end of stream. Renegotiation is refused: no
     * read may turn into a write. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_NO_RENEGOTIATION);
    return ctx;
}

struct ssl_ctx_st *tls_server_context(const char *cert_file,
                                      const char *key_file)
{
    SSL_CTX *ctx = new_context(TLS_server_method());
    if (ctx && SSL_CTX_use_certificate_chain_file(ctx, cert_file) == 1 &&
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) == 1 &&
        SSL_CTX_check_private_key(ctx) == 1)
        return ctx;
    fprintf(stderr, "TLS: cannot use certificate %s with key %s:\n",
            cert_file, key_file);
    ERR_print_errors_fp(stderr);
    SSL_CTX_free(ctx);
    return NULL;
}

struct ssl_ctx_st *tls_client_context(const char *ca_file, int insecure)
{
    SSL_CTX *ctx = new_context(TLS_client_method());
    if (!ctx) {
        ERR_print_errors_fp(stderr);
        return NULL;
    }
    if (insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        fprintf(stderr, "TLS: cannot load the trusted certificates%s%s:\n",
                ca_file ? " from " : "", ca_file ? ca_file : "");
        ERR_print_errors_fp(stderr);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void tls_context_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}

io_result io_tls_start(io_stream *s, struct ssl_ctx_st *ctx, int is_server,
                       const char *host)
{
    ERR_clear_error();
    s->tls_error = 0;
    s->ssl = SSL_new(ctx);
    if (!s->ssl || SSL_set_fd(s->ssl, s->fd) != 1) goto fail;
    if (is_server) {
        SSL_set_accept_state(s->ssl);
        return IO_OK;
    }
    SSL_set_connect_state(s->ssl);
    unsigned char addr[16];
    int is_ip = inet_pton(AF_INET, host, addr) == 1 ||
                inet_pton(AF_INET6, host, addr) == 1;
    if (is_ip) {
        /* An address is matched against the certificate's IP entries, and
         * is never sent as SNI. */
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), host) != 1)
            goto fail;
    } else if (SSL_set1_host(s->ssl, host) != 1 ||
               SSL_set_tlsext_host_name(s->ssl, host) != 1) {
        goto fail;
    }
    return IO_OK;
fail:
    s->tls_error = ERR_get_error();
    return IO_ERROR;
}

/* Turns the outcome of an SSL call into errno and io_result. */
static io_result classify(io_stream *s, int ret)
{
    int e = SSL_get_error(s->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        /* On a blocking socket only SO_RCVTIMEO / SO_SNDTIMEO get here. */
        errno = EAGAIN;
        return IO_AGAIN;
    case SSL_ERROR_SYSCALL:
        if (errno == EINTR) return IO_AGAIN;
        if (errno == 0) errno = ECONNRESET;
        s->tls_error = ERR_get_error();
        return IO_ERROR;
    default:
        s->tls_error = ERR_get_error();
        errno = EPROTO;
        return IO_ERROR;
    }
}

io_result io_tls_handshake(io_stream *s)
{
    ERR_clear_error();
    int ret = SSL_do_handshake(s->ssl);
    return ret == 1 ? IO_OK : classify(s, ret);
}

const char *io_tls_error(io_stream *s, char *buf, size_t cap)
{
    long vr = s->ssl ? SSL_get_verify_result(s->ssl) : X509_V_OK;
    if (vr != X509_V_OK) {
        snprintf(buf, cap, "certificate verification failed: %s",
                 X509_verify_cert_error_string(vr));
    } else if (s->tls_error) {
        ERR_error_string_n(s->tls_error, buf, cap);
    } else {
        snprintf(buf, cap, "%s", strerror(errno));
    }
    return buf;
}

ssize_t io_recv(io_stream *s, void *buf, size_t len)
{
    if (!s->ssl) return recv(s->fd, buf, len, 0);
    for (;;) {
        size_t n = 0;
        ERR_clear_error();
        int ret = SSL_read_ex(s->ssl, buf, len, &n);
        if (ret == 1) return (ssize_t)n;
        if (SSL_get_error(s->ssl, ret) == SSL_ERROR_ZERO_RETURN) return 0;
        io_result r = classify(s, ret);
        if (r == IO_AGAIN && errno == EINTR) continue;
        return -1;
    }
}

static int tls_write(io_stream *s, const uint8_t *p, size_t len)
{
    while (len > 0) {
        size_t n = 0;
        ERR_clear_error();
        int ret = SSL_write_ex(s->ssl, p, len, &n);
        if (ret == 1) {
            p += n;
            len -= n;
            continue;
        }
        /* A timed-out write is not retried: the peer is not reading. */
        if (classify(s, ret) == IO_AGAIN && errno == EINTR) continue;
        return -1;
    }
    return 0;
}

int io_send_all(io_stream *s, const struct iovec *iov, int n)
{
    if (!s->ssl) return tcp_send_all(s->fd, iov, n);
    /* Every record but the last is full: pieces are gathered until 16 KiB,
     * and a long run of payload with nothing gathered goes out as is. */
    uint8_t stage[TLS_RECORD_MAX];
    size_t staged = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        while (len > 0) {
            if (staged == 0 && len >= sizeof stage) {
                size_t whole = len - len % sizeof stage;
                if (tls_write(s, p, whole) != 0) return -1;
                p += whole;
                len -= whole;
                continue;
            }
            size_t take = sizeof stage - staged;
            if (take > len) take = len;
            memcpy(stage + staged, p, take);
            staged += take;
            p += take;
            len -= take;
            if (staged == sizeof stage) {
                if (tls_write(s, stage, staged) != 0) return -1;
                staged = 0;
            }
        }
    }
    return staged > 0 ? tls_write(s, stage, staged) : 0;
}

int io_pending(io_stream *s)
{
    return s->ssl ? SSL_has_pending(s->ssl) : 0;
}

void io_tls_close_notify(io_stream *s)
{
    if (!s->ssl) return;
    ERR_clear_error();
    /* Only our half: the caller closes TCP (or waits for the peer's EOF)
     * next, and a peer that never sends its close_notify must not stall
     * it. */
    SSL_shutdown(s->ssl);
}

void io_tls_free(io_stream *s)
{
    SSL_free(s->ssl);
    s->ssl = NULL;
}

void tls_io_thread_done(void)
{
    OPENSSL_thread_stop();
}

#else /* EXAMPLES_TLS */

int tls_io_available(void)
{
    return 0;
}

static void not_built(void)
{
    fprintf(stderr, "TLS: this program was built without OpenSSL "
                    "(install libssl-dev and configure again)\n");
}

struct ssl_ctx_st *tls_server_context(const char *cert_file,
                                      const char *key_file)
{
    (void)cert_file;
    (void)key_file;
    not_built();
    return NULL;
}

struct ssl_ctx_st *tls_client_context(const char *ca_file, int insecure)
{
    (void)ca_file;
    (void)insecure;
    not_built();
    return NULL;
}

void tls_context_free(struct ssl_ctx_st *ctx)
{
    (void)ctx;
}

io_result io_tls_start(io_stream *s, struct ssl_ctx_st *ctx, int is_server,
                       const char *host)
{
    (void)s;
    (void)ctx;
    (void)is_server;
    (void)host;
    return IO_ERROR;
}

io_result io_tls_handshake(io_stream *s)
{
    (void)s;
    return IO_ERROR;
}

const char *io_tls_error(io_stream *s, char *buf, size_t cap)
{
    (void)s;
    snprintf(buf, cap, "built without OpenSSL");
    return buf;
}

ssize_t io_recv(io_stream *s, void *buf, size_t len)
{
    return recv(s->fd, buf, len, 0);
}

int io_send_all(io_stream *s, const struct iovec *iov, int n)
{
    return tcp_send_all(s->fd, iov, n);
}

int io_pending(io_stream *s)
{
    (void)s;
    return 0;
}

void io_tls_close_notify(io_stream *s)
{
    (void)s;
}

void io_tls_free(io_stream *s)
{
    (void)s;
}

void tls_io_thread_done(void)
{
}

#endif /* EXAMPLES_TLS */
