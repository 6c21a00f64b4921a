/* The client side of the TLS samples' test; see tls_peer.h. The client's
 * OpenSSL works on memory BIOs and this file moves the bytes between them
 * and the socket, so it decides exactly what reaches the socket together
 * (a whole burst of records in one write) and never blocks the sample. */
#define _POSIX_C_SOURCE 200809L

#include "tls_peer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <wsproto.h>

#include "support.h"

#define PEER_HOST "docs.test"
/* No byte moving for this long means the sample waits for something that
 * will not come. */
#define STALL_MS 20000

static void tls_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: OpenSSL: %s\n", file, line, what);
    ERR_print_errors_fp(stderr);
    doc_fail(file, line, "TLS setup or client failed");
}
#define TLS_CHECK(cond) ((cond) ? (void)0 : tls_fail(__FILE__, __LINE__, #cond))

/* ------------------------------------------------------------------------
 * Certificate and contexts.
 * ---------------------------------------------------------------------- */
static EVP_PKEY *server_key;
static X509 *server_cert;

static void make_certificate(void)
{
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    TLS_CHECK(kc != NULL);
    TLS_CHECK(EVP_PKEY_keygen_init(kc) == 1);
    TLS_CHECK(EVP_PKEY_keygen(kc, &server_key) == 1);
    EVP_PKEY_CTX_free(kc);

    X509 *x = X509_new();
    TLS_CHECK(x != NULL);
    TLS_CHECK(X509_set_version(x, 2) == 1);
    TLS_CHECK(ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1);
    TLS_CHECK(X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL);
    TLS_CHECK(X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL);
    X509_NAME *name = X509_get_subject_name(x);
    TLS_CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                         (const unsigned char *)PEER_HOST, -1, -1, 0) == 1);
    TLS_CHECK(X509_set_issuer_name(x, name) == 1);
    TLS_CHECK(X509_set_pubkey(x, server_key) == 1);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
                                              "DNS:" PEER_HOST);
    TLS_CHECK(san != NULL);
    TLS_CHECK(X509_add_ext(x, san, -1) == 1);
    X509_EXTENSION_free(san);
    TLS_CHECK(X509_sign(x, server_key, NULL) > 0); /* Ed25519: no digest */
    server_cert = x;
}

static SSL_CTX *server_context(int read_ahead)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    TLS_CHECK(ctx != NULL);
    TLS_CHECK(SSL_CTX_use_certificate(ctx, server_cert) == 1);
    TLS_CHECK(SSL_CTX_use_PrivateKey(ctx, server_key) == 1);
    TLS_CHECK(SSL_CTX_check_private_key(ctx) == 1);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (read_ahead) SSL_CTX_set_read_ahead(ctx, 1);
    return ctx;
}

static SSL_CTX *client_context(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    TLS_CHECK(ctx != NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    TLS_CHECK(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), server_cert) == 1);
    return ctx;
}

/* ------------------------------------------------------------------------
 * Byte queues: p[off..len) waiting.
 * ---------------------------------------------------------------------- */
typedef struct bytes {
    uint8_t *p;
    size_t off, len, cap;
} bytes;

static uint8_t *bytes_reserve(bytes *b, size_t n)
{
    if (b->off > 0) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (n > SIZE_MAX / 2 - b->len) DOC_FAIL("queue size overflow");
    if (b->cap - b->len < n) {
        size_t want = 2 * (b->len + n);
        uint8_t *p = realloc(b->p, want);
        if (!p) DOC_FAIL("out of memory");
        b->p = p;
        b->cap = want;
    }
    return b->p + b->len;
}

static size_t bytes_waiting(const bytes *b)
{
    return b->len - b->off;
}

/* ------------------------------------------------------------------------
 * The client.
 * ---------------------------------------------------------------------- */
typedef struct send_step {
    wsp_opcode opcode;
    size_t len;
} send_step;

/* Sent all at once after the 101: messages of one, several and many TLS
 * records, an empty one, a ping between them. */
static const send_step script[] = {
    {WSP_OP_TEXT, 5},
    {WSP_OP_BINARY, 40000},
    {WSP_OP_TEXT, 17000},
    {WSP_OP_BINARY, 0},
    {WSP_OP_PING, 9},
    {WSP_OP_BINARY, 100000},
    {WSP_OP_TEXT, 300},
};
#define SCRIPT_STEPS (sizeof script / sizeof script[0])

/* Plaintext per SSL_write_ex, so records end anywhere in a frame. */
static const size_t record_sizes[] = {16384, 1000, 7, 16384, 3, 5000, 16384, 1, 700};

typedef enum client_phase {
    PHASE_UPGRADE,      /* request sent, waiting for the 101 */
    PHASE_OPEN,         /* script sent, collecting the replies */
    PHASE_CLOSED,       /* close reply received, waiting for close_notify */
    PHASE_TLS_CLOSED,   /* close_notify received, waiting for the EOF */
    PHASE_DONE
} client_phase;

static const char *session_name = "";

static const char *const phase_names[] = {"upgrade", "open", "closed", "tls-closed", "done"};

typedef struct expected {
    wsp_opcode opcode;
    uint8_t *data;
    size_t len;
} expected;

typedef struct client {
    int fd;
    SSL *ssl;
    BIO *net_in;  /* bytes from the socket, for OpenSSL */
    BIO *net_out; /* bytes from OpenSSL, for the socket */
    wsp_conn *ws;
    client_phase phase;
    bytes plain;  /* WebSocket bytes not yet given to SSL_write_ex */
    bytes cipher; /* TLS bytes not yet written to the socket */
    bytes recvd;  /* decrypted bytes not yet taken by wsp_conn_recv */
    size_t retry_len; /* an SSL_write_ex to repeat with this length, or 0 */
    unsigned long records;
    expected messages[SCRIPT_STEPS];
    size_t message_count, echoes;
    uint8_t ping[WSP_MAX_CONTROL_PAYLOAD];
    size_t ping_len, pongs;
    uint16_t close_code;
    wsp_message echo;
} client;

static void client_send(client *c, wsp_opcode op, const uint8_t *p, size_t len)
{
    size_t bound = 0, n = 0;
    DOC_CHECK(wsp_conn_send_bound(c->ws, len, &bound) == WSP_OK);
    uint8_t *dst = bytes_reserve(&c->plain, bound);
    int rc = wsp_conn_send(c->ws, op, p, len, 0, dst, bound, &n);
    if (rc != WSP_OK) DOC_FAIL("client send: %s", wsp_strerror(rc));
    c->plain.len += n;
}

static void queue_script(client *c)
{
    for (size_t i = 0; i < SCRIPT_STEPS; i++) {
        const send_step *s = &script[i];
        uint8_t *data = malloc(s->len + 1);
        DOC_CHECK(data != NULL);
        size_t len = doc_fill(data, s->len, s->opcode, i);
        client_send(c, s->opcode, data, len);
        if (s->opcode == WSP_OP_PING) {
            memcpy(c->ping, data, len);
            c->ping_len = len;
            free(data);
            continue;
        }
        expected *e = &c->messages[c->message_count++];
        e->opcode = s->opcode;
        e->data = data;
        e->len = len;
    }
    size_t n = 0, need = 64 + WSP_MAX_PENDING;
    uint8_t *dst = bytes_reserve(&c->plain, need);
    DOC_CHECK(wsp_conn_close(c->ws, 1000, "done", 4, dst, need, &n) == WSP_OK);
    c->plain.len += n;
}

static void check_echo(client *c)
{
    if (c->echoes >= c->message_count) DOC_FAIL("more messages came back than were sent");
    const expected *e = &c->messages[c->echoes];
    if (c->echo.opcode != e->opcode || c->echo.len != e->len ||
        (e->len && memcmp(c->echo.data, e->data, e->len) != 0))
        DOC_FAIL("echo %zu differs: opcode %d, %zu bytes; sent opcode %d, %zu bytes", c->echoes,
                 (int)c->echo.opcode, c->echo.len, (int)e->opcode, e->len);
    c->echoes++;
    wsp_message_free(&c->echo);
}

/* Runs wsp_conn_recv over the decrypted bytes. */
static void client_parse(client *c)
{
    bytes *b = &c->recvd;
    while (c->phase < PHASE_CLOSED) {
        size_t used = 0;
        wsp_event ev;
        int rc = wsp_conn_recv(c->ws, b->p + b->off, bytes_waiting(b), &used, &ev);
        b->off += used;
        if (rc != WSP_OK) DOC_FAIL("the client failed on what the sample sent: %s", wsp_strerror(rc));
        switch (ev.type) {
        case WSP_EV_NONE:
            return;
        case WSP_EV_RESPONSE:
            if (ev.u.response.status != WSP_OK)
                DOC_FAIL("handshake refused: %s", wsp_strerror(ev.u.response.status));
            c->phase = PHASE_OPEN;
            queue_script(c);
            break;
        case WSP_EV_DATA:
            DOC_CHECK(wsp_message_add(&c->echo, &ev) == WSP_OK);
            if (c->echo.complete) check_echo(c);
            break;
        case WSP_EV_PONG:
            if (ev.u.control.len != c->ping_len ||
                memcmp(ev.u.control.payload, c->ping, c->ping_len) != 0)
                DOC_FAIL("a pong that does not answer the ping");
            c->pongs++;
            break;
        case WSP_EV_CLOSE:
            c->close_code = ev.u.close.code;
            if (c->close_code != 1000) DOC_FAIL("close code %u, want 1000", c->close_code);
            if (c->echoes != c->message_count)
                DOC_FAIL("closed after %zu of %zu echoes", c->echoes, c->message_count);
            if (c->pongs != 1) DOC_FAIL("%zu pongs for one ping", c->pongs);
            c->phase = PHASE_CLOSED;
            break;
        default:
            DOC_FAIL("unexpected event %d", (int)ev.type);
        }
    }
    if (bytes_waiting(b) != 0) DOC_FAIL("bytes after the close frame");
}

/* Gives the waiting WebSocket bytes to OpenSSL, a record at a time. */
static void client_encrypt(client *c)
{
    while (bytes_waiting(&c->plain) > 0) {
        size_t n = c->retry_len;
        if (n == 0) {
            n = record_sizes[c->records % (sizeof record_sizes / sizeof record_sizes[0])];
            if (n > bytes_waiting(&c->plain)) n = bytes_waiting(&c->plain);
        }
        size_t written = 0;
        int r = SSL_write_ex(c->ssl, c->plain.p + c->plain.off, n, &written);
        if (r != 1) {
            /* During the handshake; the same call is repeated later. */
            TLS_CHECK(SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ);
            c->retry_len = n;
            return;
        }
        DOC_CHECK(written == n);
        c->retry_len = 0;
        c->plain.off += n;
        c->records++;
    }
}

static void client_decrypt(client *c)
{
    while (c->phase < PHASE_TLS_CLOSED) {
        size_t got = 0;
        uint8_t *dst = bytes_reserve(&c->recvd, 16384);
        int r = SSL_read_ex(c->ssl, dst, 16384, &got);
        if (r == 1) {
            if (c->phase == PHASE_CLOSED) DOC_FAIL("%zu bytes after the close frame", got);
            c->recvd.len += got;
            client_parse(c);
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) return;
        if (e != SSL_ERROR_ZERO_RETURN) tls_fail(__FILE__, __LINE__, "client SSL_read_ex");
        if (c->phase != PHASE_CLOSED)
            DOC_FAIL("close_notify in phase %s, before the close reply", phase_names[c->phase]);
        c->phase = PHASE_TLS_CLOSED;
    }
}

/* Moves what OpenSSL wrote to the cipher queue, then to the socket. */
static void client_flush(client *c)
{
    for (;;) {
        uint8_t *dst = bytes_reserve(&c->cipher, 65536);
        int n = BIO_read(c->net_out, dst, 65536);
        if (n <= 0) break;
        c->cipher.len += (size_t)n;
    }
    while (bytes_waiting(&c->cipher) > 0) {
        ssize_t w = send(c->fd, c->cipher.p + c->cipher.off, bytes_waiting(&c->cipher),
                         MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        if (w < 0) DOC_FAIL("client send: %s", strerror(errno));
        c->cipher.off += (size_t)w;
    }
}

/* Returns 1 at the end of the stream. */
static int client_fill(client *c)
{
    uint8_t buf[65536];
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r == 0) return 1;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
        if (r < 0) DOC_FAIL("client read: %s", strerror(errno));
        TLS_CHECK(BIO_write(c->net_in, buf, (int)r) == (int)r);
    }
}

static void client_run(client *c, int fd)
{
    c->fd = fd;
    SSL_CTX *ctx = client_context();
    c->ssl = SSL_new(ctx);
    TLS_CHECK(c->ssl != NULL);
    SSL_CTX_free(ctx); /* the SSL holds a reference */
    c->net_in = BIO_new(BIO_s_mem());
    c->net_out = BIO_new(BIO_s_mem());
    TLS_CHECK(c->net_in != NULL && c->net_out != NULL);
    BIO_set_mem_eof_return(c->net_in, -1); /* empty: "try again", not EOF */
    SSL_set_bio(c->ssl, c->net_in, c->net_out);
    SSL_set_connect_state(c->ssl);
    TLS_CHECK(SSL_set1_host(c->ssl, PEER_HOST) == 1);
    TLS_CHECK(SSL_set_tlsext_host_name(c->ssl, PEER_HOST) == 1);

    wsp_config cfg = {0};
    cfg.role = WSP_ROLE_CLIENT;
    DOC_CHECK(wsp_conn_new(&cfg, &c->ws) == WSP_OK);
    wsp_client_options opts = {0};
    opts.host = PEER_HOST;
    opts.target = "/echo";
    size_t n = 0;
    uint8_t *dst = bytes_reserve(&c->plain, 1024);
    DOC_CHECK(wsp_conn_client_request(c->ws, &opts, dst, 1024, &n) == WSP_OK);
    c->plain.len += n;

    int eof = 0;
    for (;;) {
        client_decrypt(c); /* the 101 makes the script */
        client_encrypt(c);
        if (eof) {
            if (c->phase != PHASE_TLS_CLOSED)
                DOC_FAIL("the sample closed the socket in phase %s (%zu of %zu echoes)",
                         phase_names[c->phase], c->echoes, c->message_count);
            c->phase = PHASE_DONE;
            break;
        }
        client_flush(c);
        struct pollfd p = {fd, POLLIN, 0};
        if (bytes_waiting(&c->cipher) > 0) p.events |= POLLOUT;
        int r = poll(&p, 1, STALL_MS);
        if (r < 0 && errno != EINTR) DOC_FAIL("poll: %s", strerror(errno));
        if (r == 0)
            DOC_FAIL("session \"%s\": nothing moved for %d s in phase %s (%zu of %zu "
                     "echoes, %zu pongs): the sample waits for bytes that will not come",
                     session_name, STALL_MS / 1000, phase_names[c->phase], c->echoes,
                     c->message_count, c->pongs);
        eof = client_fill(c);
    }
    TLS_CHECK(SSL_get_verify_result(c->ssl) == X509_V_OK);
}

static void client_free(client *c)
{
    for (size_t i = 0; i < c->message_count; i++) free(c->messages[i].data);
    wsp_message_free(&c->echo);
    free(c->plain.p);
    free(c->cipher.p);
    free(c->recvd.p);
    wsp_conn_free(c->ws);
    SSL_free(c->ssl); /* frees the BIOs too */
}

/* ------------------------------------------------------------------------
 * The test.
 * ---------------------------------------------------------------------- */
typedef struct server_run {
    int (*serve)(SSL_CTX *ctx, int fd);
    SSL_CTX *ctx;
    int fd;
    int rc;
} server_run;

static void *server_thread(void *arg)
{
    server_run *run = arg;
    run->rc = run->serve(run->ctx, run->fd);
    return NULL;
}

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    DOC_CHECK(flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
}

/* A small send buffer for the sample: its writes stop half-way (SSL_write_ex
 * wants a retry) and its replies back up. */
static void shrink_send_buffer(int fd)
{
    int size = 8192;
    DOC_CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) == 0);
}

typedef struct session_kind {
    const char *name;
    int read_ahead;
    int small_send_buffer;
} session_kind;

/* With read-ahead and a large buffer, the client's burst reaches OpenSSL
 * several records at a time while the sample has nothing to write: a
 * sample that then waits on poll is stuck. With a small buffer, the sample
 * keeps waking up to write, which hides that but exercises its retries. */
static const session_kind sessions[] = {
    {"OpenSSL defaults", 0, 0},
    {"read-ahead", 1, 0},
    {"read-ahead, small send buffer", 1, 1},
};

int tls_peer_test(const char *sample, int (*serve)(SSL_CTX *ctx, int fd),
                  tls_peer_socket socket_kind)
{
    /* A write to a peer that is gone must fail, not end the process. */
    DOC_CHECK(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
    make_certificate();
    for (size_t i = 0; i < sizeof sessions / sizeof sessions[0]; i++) {
        const session_kind *k = &sessions[i];
        session_name = k->name;
        int sv[2];
        DOC_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        set_nonblocking(sv[1]);
        if (socket_kind == TLS_PEER_NONBLOCKING) set_nonblocking(sv[0]);
        if (k->small_send_buffer) shrink_send_buffer(sv[0]);
        server_run run = {serve, server_context(k->read_ahead), sv[0], -1};
        pthread_t thread;
        DOC_CHECK(pthread_create(&thread, NULL, server_thread, &run) == 0);
        client c;
        memset(&c, 0, sizeof c);
        client_run(&c, sv[1]);
        DOC_CHECK(pthread_join(thread, NULL) == 0);
        if (run.rc != 0) DOC_FAIL("%s returned %d after a clean session", sample, run.rc);
        printf("%s (%s): %zu messages echoed, ping answered, close %u, "
               "close_notify and EOF; %lu records sent\n",
               sample, k->name, c.echoes, c.close_code, c.records);
        fflush(stdout);
        client_free(&c);
        DOC_CHECK(close(sv[1]) == 0);
        SSL_CTX_free(run.ctx);
    }
    printf("%s: WSP_ERR_BUFFER_TOO_SMALL met %lu times in %lu output calls\n", sample,
           doc_too_small, doc_output_calls);
    X509_free(server_cert);
    EVP_PKEY_free(server_key);
    return 0;
}
