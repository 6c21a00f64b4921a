/*
 * echo_client: a small WebSocket client on blocking sockets, built on
 * libwsproto's sans-I/O connection. See usage() for what it does.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include "cli.h"
#include "net.h"
#include "tls_io.h"
#include "wsproto.h"

#include <errno.h>
#include <netdb.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum exit_code {
    EXIT_OK = 0,
    EXIT_USAGE = 1,     /* bad command line */
    EXIT_BAD_URL = 2,   /* URL not ws[s]://host[:port][/path] */
    EXIT_TLS = 3,       /* TLS handshake or certificate check failed */
    EXIT_CONNECT = 4,   /* name lookup failed, refused, unreachable */
    EXIT_HANDSHAKE = 5, /* server did not accept the upgrade */
    EXIT_PROTOCOL = 6,  /* protocol failure, or closed with an error code */
    EXIT_LOST = 7,      /* connection lost, timed out, closed too early */
    EXIT_INTERNAL = 8   /* out of memory or a library usage error */
};

#define RECV_BUF_SIZE (64u * 1024u)
#define ZEROCOPY_MIN 2048u
#define MAX_SUBPROTOCOLS 16
#define MAX_HEADERS 32
#define CLOSE_WAIT_S 5

static void usage(FILE *f)
{
    fprintf(f,
        "usage: echo_client [options] ws[s]://host[:port][/path] [MESSAGE...]\n"
        "       echo_client [options] --autobahn ws[s]://host:port AGENT\n"
        "\n"
        "Sends each MESSAGE as a text message and prints each reply on its own\n"
        "line, then closes with 1000 and waits for the server's close. With no\n"
        "MESSAGE, sends every line read from standard input and prints\n"
        "whatever the server sends; at end of input it waits for the replies\n"
        "still due (one per line) and closes. Binary replies print as\n"
        "'[binary message, N bytes]'. After connecting, the negotiated\n"
        "subprotocol and extensions are shown on standard error.\n"
        "\n"
        "options:\n"
        "  --binary               send messages as binary instead of text\n"
        "  --ping                 ping once connected and print the round trip\n"
        "                         time when the pong comes back\n"
        "  --echo                 send back every message the server sends\n"
        "                         (same type and payload) until it closes\n"
        "  --autobahn URL AGENT   run every case of an Autobahn|Testsuite\n"
        "                         fuzzingserver in --echo mode as AGENT, then\n"
        "                         ask it to write its reports\n"
        "  --subprotocol NAME     offer a subprotocol (repeatable)\n"
        "  --no-deflate           do not offer permessage-deflate compression\n"
        "  --header 'Name: value' add a request header (repeatable)\n"
        "  --ca FILE              wss: trust the CA certificates in FILE (PEM)\n"
        "                         instead of the system's\n"
        "  --insecure             wss: accept any certificate (tests only)\n"
        "  --timeout SECONDS      give up when the server is silent this long\n"
        "                         while a reply is awaited (default 30)\n"
        "  --quiet                no progress lines on standard error\n"
        "  --help                 this text\n"
        "\n"
        "exit status, the same in every mode:\n"
        "  0  success: the session ended with a clean close, from either side,\n"
        "     with 1000, 1001, no code, or an application code 3000-4999\n"
        "  1  bad command line\n"
        "  2  bad URL\n"
        "  3  TLS failed: handshake, certificate not trusted or not for this\n"
        "     host, or the program was built without TLS%s\n"
        "  4  could not connect (unknown host, refused, unreachable)\n"
        "  5  the server refused the upgrade: the HTTP status is printed\n"
        "  6  protocol failure, or the server closed with an error code\n"
        "     (1002-1015): the code is printed\n"
        "  7  connection lost, timed out, or closed before all replies came\n"
        "  8  internal error (out of memory)\n",
        tls_io_available() ? "" : " (this build is)");
}

/* wsp_strerror() gives "WSP_ERR_NAME: description"; users get only the
 * description. */
static const char *describe(int status)
{
    const char *text = wsp_strerror(status);
    const char *colon = strstr(text, ": ");
    return colon ? colon + 2 : text;
}

/* ------------------------------------------------------------------------
 * URL parsing: ws://host[:port][/path][?query], RFC 6455 3.
 * ---------------------------------------------------------------------- */
typedef struct ws_url {
    int tls;            /* wss:// */
    char host[256];     /* for getaddrinfo, without brackets */
    char port[8];
    char host_hdr[272]; /* Host header value */
    char target[2048];  /* path and query */
} ws_url;

static int parse_url(const char *url, ws_url *u)
{
    memset(u, 0, sizeof *u);
    const char *p;
    if (strncmp(url, "wss://", 6) == 0) {
        if (!tls_io_available()) {
            fprintf(stderr, "echo_client: %s: this build has no TLS "
                            "(configure with OpenSSL, Debian libssl-dev)\n",
                    url);
            return EXIT_TLS;
        }
        u->tls = 1;
        p = url + 6;
    } else if (strncmp(url, "ws://", 5) == 0) {
        p = url + 5;
    } else {
        goto bad;
    }
    const char *host = p, *host_end;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end) goto bad;
        p = host_end + 1;
    } else {
        while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '#' &&
               *p != '@')
            p++;
        host_end = p;
    }
    if (host_end == host || (size_t)(host_end - host) >= sizeof u->host)
        goto bad;
    memcpy(u->host, host, (size_t)(host_end - host));
    if (*p == '@') goto bad; /* user info has no meaning for ws:// */
    unsigned long default_port = u->tls ? 443 : 80;
    unsigned long port = default_port;
    if (*p == ':') {
        char *end = NULL;
        p++;
        if (*p < '0' || *p > '9') goto bad;
        port = strtoul(p, &end, 10);
        if (port == 0 || port > 65535) goto bad;
        p = end;
    }
    if (*p && *p != '/' && *p != '?') goto bad;
    /* RFC 6455 3: fragment identifiers MUST NOT be used in WebSocket URIs. */
    if (strchr(p, '#')) goto bad;
    snprintf(u->port, sizeof u->port, "%lu", port);
    int bracket = strchr(u->host, ':') != NULL;
    if (port == default_port)
        snprintf(u->host_hdr, sizeof u->host_hdr, bracket ? "[%s]" : "%s",
                 u->host);
    else
        snprintf(u->host_hdr, sizeof u->host_hdr,
                 bracket ? "[%s]:%lu" : "%s:%lu", u->host, port);
    if (strlen(p) + 2 > sizeof u->target) goto bad;
    for (const char *q = p; *q; q++) {
        if ((unsigned char)*q <= 0x20 || *q == 0x7f) goto bad;
    }
    snprintf(u->target, sizeof u->target, "%s%s", *p == '?' ? "/" : "", p);
    if (u->target[0] == '\0') snprintf(u->target, sizeof u->target, "/");
    return EXIT_OK;
bad:
    fprintf(stderr,
            "echo_client: bad URL '%s': expected ws://host[:port][/path] or "
            "wss://...\n", url);
    return EXIT_BAD_URL;
}

/* ------------------------------------------------------------------------
 * Options.
 * ---------------------------------------------------------------------- */
typedef struct client_opts {
    const char *subprotocols[MAX_SUBPROTOCOLS];
    size_t subprotocol_count;
    wsp_header headers[MAX_HEADERS];
    size_t header_count;
    unsigned timeout_s;
    int quiet;
    wsp_opcode send_opcode; /* --binary */
    int ping;
    const char *ca_file;
    int insecure;
} client_opts;

static client_opts copts = {{NULL}, 0, {{NULL, 0, NULL, 0}}, 0, 30, 0,
                            WSP_OP_TEXT, 0, NULL, 0};
/* Made at the first wss:// connection, used by every later one. */
static struct ssl_ctx_st *tls_ctx;
/* permessage-deflate is offered unless --no-deflate; the server decides. */
static int offer_deflate = 1;
static const wsp_deflate_config deflate_cfg;

#if defined(__GNUC__)
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
static void note(const char *fmt, ...)
{
    if (copts.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("echo_client: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ------------------------------------------------------------------------
 * One connection.
 * ---------------------------------------------------------------------- */
typedef enum mode { MODE_PRINT, MODE_ECHO, MODE_COLLECT } mode;

typedef struct client {
    io_stream io; /* the socket, with TLS on top for wss:// */
    wsp_conn *ws;
    uint8_t *in;
    size_t in_len;
    wsp_message msg;
    mode mode;
    int opened;
    int handshake_failed;
    int http_status;
    unsigned long received;
    int peer_closed;
    int pong_seen;
    uint16_t peer_code;
    char peer_reason[128];
    int failed;
    int fail_status;
    uint16_t fail_code;
    const char *fail_reason;
    int internal_error;
    /* MODE_COLLECT: the first text message, NUL-terminated. */
    char collected[64];
} client;

static void set_recv_timeout(int fd, unsigned seconds)
{
    struct timeval tv = {(time_t)seconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* Sends the bytes the library queued on its own (pongs, close replies). */
static int flush_pending(client *c)
{
    uint8_t buf[WSP_MAX_PENDING];
    size_t n = 0;
    if (wsp_conn_pending_size(c->ws) == 0) return 0;
    if (wsp_conn_flush(c->ws, buf, sizeof buf, &n) != WSP_OK) return -1;
    return io_send(&c->io, buf, n);
}

/* Sends one whole message. Large payloads are masked in place and written
 * straight from the caller's buffer, so this may change `payload`. */
static int send_message(client *c, wsp_opcode op, uint8_t *payload,
                        size_t len)
{
    int rc;
    /* Zero-copy frames go out uncompressed, so a compressing connection
     * takes the copying path whatever the size. */
    if (wsp_conn_deflate_active(c->ws)) {
        size_t cap = 0, n = 0;
        rc = wsp_conn_send_bound(c->ws, len, &cap);
        uint8_t *big = rc == WSP_OK ? malloc(cap) : NULL;
        if (rc == WSP_OK)
            rc = big ? wsp_conn_send(c->ws, op, payload, len, 0, big, cap, &n) : WSP_ERR_NOMEM;
        if (rc == WSP_OK) rc = io_send(&c->io, big, n) == 0 ? WSP_OK : WSP_ERR_CLOSED;
        free(big);
        return rc;
    }
    if (len >= ZEROCOPY_MIN) {
        uint8_t hdr[WSP_MAX_FRAME_HEADER];
        size_t hl = 0;
        rc = wsp_conn_send_zerocopy(c->ws, op, payload, len, 0, hdr, &hl);
        if (rc != WSP_OK) return rc;
        struct iovec iov[2] = {{hdr, hl}, {payload, len}};
        return io_send_all(&c->io, iov, 2) == 0 ? WSP_OK : WSP_ERR_CLOSED;
    }
    uint8_t buf[ZEROCOPY_MIN + WSP_MAX_FRAME_HEADER];
    size_t n = 0;
    rc = wsp_conn_send(c->ws, op, payload, len, 0, buf, sizeof buf, &n);
    if (rc != WSP_OK) return rc;
    return io_send(&c->io, buf, n) == 0 ? WSP_OK : WSP_ERR_CLOSED;
}

static void print_message(const wsp_message *m)
{
    if (m->opcode == WSP_OP_TEXT) {
        fwrite(m->data, 1, m->len, stdout);
        fputc('\n', stdout);
    } else {
        printf("[binary message, %zu bytes]\n", m->len);
    }
    fflush(stdout);
}

static void handle_event(client *c, wsp_event *ev)
{
    switch (ev->type) {
    case WSP_EV_RESPONSE:
        c->http_status = ev->u.response.http_status;
        if (ev->u.response.status == WSP_OK) {
            c->opened = 1;
            if (ev->u.response.subprotocol)
                note("subprotocol: %.*s", (int)ev->u.response.subprotocol_len,
                     ev->u.response.subprotocol);
            else
                note("subprotocol: none");
            if (ev->u.response.extensions)
                note("extensions: %.*s", (int)ev->u.response.extensions_len,
                     ev->u.response.extensions);
            else
                note("extensions: none");
        } else {
            c->handshake_failed = 1;
            c->fail_status = ev->u.response.status;
        }
        break;
    case WSP_EV_DATA: {
        int rc = wsp_message_add(&c->msg, ev);
        if (rc != WSP_OK) {
            c->internal_error = 1;
            c->fail_reason = describe(rc);
            break;
        }
        if (!c->msg.complete) break;
        c->received++;
        if (c->mode == MODE_ECHO) {
            if (wsp_conn_state(c->ws) == WSP_STATE_OPEN) {
                rc = send_message(c, c->msg.opcode, c->msg.data, c->msg.len);
                if (rc != WSP_OK && rc != WSP_ERR_STATE) {
                    c->internal_error = 1;
                    c->fail_reason = describe(rc);
                }
            }
        } else if (c->mode == MODE_COLLECT) {
            if (c->collected[0] == '\0' && c->msg.opcode == WSP_OP_TEXT) {
                size_t n = c->msg.len < sizeof c->collected - 1
                               ? c->msg.len : sizeof c->collected - 1;
                memcpy(c->collected, c->msg.data, n);
                c->collected[n] = '\0';
            }
        } else {
            print_message(&c->msg);
        }
        break;
    }
    case WSP_EV_CLOSE: {
        c->peer_closed = 1;
        c->peer_code = ev->u.close.code;
        size_t n = ev->u.close.reason_len < sizeof c->peer_reason - 1
                       ? ev->u.close.reason_len : sizeof c->peer_reason - 1;
        if (n) memcpy(c->peer_reason, ev->u.close.reason, n);
        c->peer_reason[n] = '\0';
        break;
    }
    case WSP_EV_FAILURE:
        c->failed = 1;
        c->fail_status = ev->u.failure.status;
        c->fail_code = ev->u.failure.close_code;
        c->fail_reason = ev->u.failure.reason;
        break;
    case WSP_EV_PING:
        /* Pong now, before anything that came after the ping. */
        if (flush_pending(c) != 0) {
            c->internal_error = 1;
            c->fail_reason = "send failed";
        }
        break;
    case WSP_EV_PONG:
        c->pong_seen = 1;
        break;
    case WSP_EV_REQUEST:
    case WSP_EV_NONE:
        break;
    }
}

enum read_result { READ_OK, READ_EOF, READ_TIMEOUT, READ_ERROR };

/* One recv(), then every event it completes. Unconsumed bytes (a partial
 * frame header) move to the front of the buffer for the next call. */
static enum read_result client_read(client *c)
{
    ssize_t r;
    do {
        r = io_recv(&c->io, c->in + c->in_len, RECV_BUF_SIZE - c->in_len);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return READ_EOF;
    if (r < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? READ_TIMEOUT
                                                         : READ_ERROR;
    c->in_len += (size_t)r;
    size_t off = 0;
    /* Until WSP_EV_NONE, not until the input is used up: the last bytes
     * can still yield more than one event. */
    while (!c->internal_error) {
        wsp_event ev;
        ev.type = WSP_EV_NONE;
        size_t consumed = 0;
        int rc = wsp_conn_recv(c->ws, c->in + off, c->in_len - off, &consumed,
                               &ev);
        off += consumed;
        if (rc == WSP_ERR_CLOSED) {
            off = c->in_len;
            break;
        }
        if (rc < 0 && ev.type != WSP_EV_FAILURE) {
            c->internal_error = 1;
            c->fail_reason = describe(rc);
            break;
        }
        if (ev.type == WSP_EV_NONE) break;
        handle_event(c, &ev);
        if (ev.type == WSP_EV_FAILURE) {
            off = c->in_len;
            break;
        }
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    if (flush_pending(c) != 0) return READ_ERROR;
    return READ_OK;
}

static void client_free(client *c)
{
    io_tls_free(&c->io);
    if (c->io.fd >= 0) close(c->io.fd);
    wsp_conn_free(c->ws);
    wsp_message_free(&c->msg);
    free(c->in);
    memset(c, 0, sizeof *c);
    c->io.fd = -1;
}

static int tcp_connect(const ws_url *u)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "echo_client: cannot resolve '%s': %s\n", u->host,
                gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        /* SO_SNDTIMEO also bounds connect() on Linux. */
        struct timeval tv = {(time_t)copts.timeout_s, 0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "echo_client: cannot connect to %s port %s: %s\n",
                u->host, u->port, strerror(err));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Starts TLS on the connected socket: certificate checked against the
 * trusted CAs and the URL's host (unless --insecure). */
static int tls_open(client *c, const ws_url *u)
{
    if (!tls_ctx) tls_ctx = tls_client_context(copts.ca_file, copts.insecure);
    if (!tls_ctx) return EXIT_TLS;
    io_result r = io_tls_start(&c->io, tls_ctx, 0, u->host);
    if (r == IO_OK) r = io_tls_handshake(&c->io);
    if (r == IO_OK) return EXIT_OK;
    char why[256];
    fprintf(stderr, "echo_client: TLS with %s failed: %s\n", u->host,
            r == IO_AGAIN ? "timed out"
                          : io_tls_error(&c->io, why, sizeof why));
    return EXIT_TLS;
}

/* Connects and runs the opening handshake. Returns EXIT_OK with c open. */
static int client_open(client *c, const ws_url *u, mode m)
{
    memset(c, 0, sizeof *c);
    c->io.fd = -1;
    c->mode = m;
    c->in = malloc(RECV_BUF_SIZE);
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    if (offer_deflate && wsp_deflate_available()) cfg.deflate = &deflate_cfg;
    if (!c->in || wsp_conn_new(&cfg, &c->ws) != WSP_OK) {
        fprintf(stderr, "echo_client: out of memory\n");
        return EXIT_INTERNAL;
    }
    c->io.fd = tcp_connect(u);
    if (c->io.fd < 0) return EXIT_CONNECT;
    set_recv_timeout(c->io.fd, copts.timeout_s);
    if (u->tls) {
        int rc = tls_open(c, u);
        if (rc != EXIT_OK) return rc;
    }

    wsp_client_options o;
    memset(&o, 0, sizeof o);
    o.host = u->host_hdr;
    o.target = u->target;
    o.subprotocols = copts.subprotocols;
    o.subprotocol_count = copts.subprotocol_count;
    o.headers = copts.headers;
    o.header_count = copts.header_count;
    /* Long --header values need more room; the request is rebuilt in a
     * larger buffer until it fits. */
    size_t n = 0;
    uint8_t *req = NULL;
    int rc = WSP_ERR_BUFFER_TOO_SMALL;
    for (size_t cap = 4096; rc == WSP_ERR_BUFFER_TOO_SMALL && cap <= (1u << 20);
         cap *= 2) {
        free(req);
        req = malloc(cap);
        rc = req ? wsp_conn_client_request(c->ws, &o, req, cap, &n)
                 : WSP_ERR_NOMEM;
    }
    if (rc != WSP_OK) {
        fprintf(stderr, "echo_client: cannot build the request: %s\n",
                describe(rc));
        free(req);
        return rc == WSP_ERR_INVALID_ARG ? EXIT_USAGE : EXIT_INTERNAL;
    }
    int sent = io_send(&c->io, req, n);
    free(req);
    if (sent != 0) {
        fprintf(stderr, "echo_client: sending the request failed: %s\n",
                strerror(errno));
        return EXIT_LOST;
    }
    while (!c->opened && !c->handshake_failed && !c->internal_error) {
        enum read_result r = client_read(c);
        if (r != READ_OK) {
            fprintf(stderr,
                    "echo_client: handshake failed: %s before the server "
                    "answered\n",
                    r == READ_EOF       ? "connection closed"
                    : r == READ_TIMEOUT ? "timed out"
                                        : strerror(errno));
            return EXIT_HANDSHAKE;
        }
    }
    if (c->handshake_failed) {
        if (c->fail_status == WSP_ERR_HTTP_STATUS)
            fprintf(stderr,
                    "echo_client: the server refused the upgrade: HTTP %d\n",
                    c->http_status);
        else
            fprintf(stderr,
                    "echo_client: the server's HTTP %d answer is not a valid "
                    "WebSocket upgrade: %s\n",
                    c->http_status, describe(c->fail_status));
        return EXIT_HANDSHAKE;
    }
    if (c->internal_error) {
        fprintf(stderr, "echo_client: %s\n", c->fail_reason);
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

/* Reports how a connection ended once the session is over. */
static int session_status(const client *c)
{
    if (c->internal_error) {
        fprintf(stderr, "echo_client: %s\n",
                c->fail_reason ? c->fail_reason : "internal error");
        return EXIT_INTERNAL;
    }
    if (c->failed) {
        fprintf(stderr,
                "echo_client: protocol failure, sent close code %u: %s\n",
                (unsigned)c->fail_code,
                c->fail_reason ? c->fail_reason : describe(c->fail_status));
        return EXIT_PROTOCOL;
    }
    if (c->peer_closed) {
        uint16_t code = c->peer_code;
        /* 3000-4999 belong to applications: closing with one is a normal
         * end of the session, not an error. */
        int ok = code == 1000 || code == 1001 || code == 1005 ||
                 (code >= 3000 && code <= 4999);
        if (!ok) {
            fprintf(stderr,
                    "echo_client: server closed with code %u%s%s\n",
                    (unsigned)code, c->peer_reason[0] ? ": " : "",
                    c->peer_reason);
            return EXIT_PROTOCOL;
        }
        note("server closed with code %u%s%s", (unsigned)code,
             c->peer_reason[0] ? ": " : "", c->peer_reason);
    }
    return EXIT_OK;
}

/* Waits until the server's close arrives and it closes TCP, as RFC 6455
 * 7.1.1 asks of clients. Sends our close with `code` first unless a close
 * was already exchanged or the connection failed. */
static int client_finish(client *c, uint16_t code)
{
    if (wsp_conn_state(c->ws) == WSP_STATE_OPEN) {
        uint8_t buf[WSP_MAX_FRAME_HEADER + WSP_MAX_CONTROL_PAYLOAD];
        size_t n = 0;
        if (wsp_conn_close(c->ws, code, NULL, 0, buf, sizeof buf, &n) ==
                WSP_OK &&
            io_send(&c->io, buf, n) != 0) {
            fprintf(stderr, "echo_client: sending close failed: %s\n",
                    strerror(errno));
            return EXIT_LOST;
        }
    }
    set_recv_timeout(c->io.fd, CLOSE_WAIT_S);
    while (!c->failed && !c->internal_error) {
        enum read_result r = client_read(c);
        if (r == READ_OK) continue;
        if (r == READ_EOF && wsp_conn_state(c->ws) == WSP_STATE_CLOSED) break;
        if (r == READ_TIMEOUT && wsp_conn_state(c->ws) == WSP_STATE_CLOSED) {
            /* Close handshake done; the server is just slow to drop TCP. */
            break;
        }
        fprintf(stderr, "echo_client: %s while waiting for the server's close\n",
                r == READ_EOF ? "connection closed" :
                r == READ_TIMEOUT ? "timed out" : "connection error");
        return EXIT_LOST;
    }
    /* The WebSocket close handshake is complete: end TLS, then TCP. */
    io_tls_close_notify(&c->io);
    return EXIT_OK;
}

/* --ping: one ping, and the time until its pong. */
static int run_ping(client *c)
{
    static const char payload[] = "echo_client";
    uint8_t buf[WSP_MAX_FRAME_HEADER + sizeof payload];
    size_t n = 0;
    uint64_t start = mono_ns();
    int rc = wsp_conn_send(c->ws, WSP_OP_PING, (const uint8_t *)payload,
                           sizeof payload - 1, 0, buf, sizeof buf, &n);
    if (rc != WSP_OK) {
        fprintf(stderr, "echo_client: cannot ping: %s\n", describe(rc));
        return EXIT_INTERNAL;
    }
    if (io_send(&c->io, buf, n) != 0) {
        fprintf(stderr, "echo_client: sending the ping failed\n");
        return EXIT_LOST;
    }
    while (!c->pong_seen) {
        if (c->failed || c->internal_error || c->peer_closed) {
            int st = session_status(c);
            return st != EXIT_OK ? st : EXIT_LOST;
        }
        enum read_result r = client_read(c);
        if (r != READ_OK) {
            fprintf(stderr, "echo_client: %s while waiting for the pong\n",
                    r == READ_EOF ? "connection closed" :
                    r == READ_TIMEOUT ? "timed out" : "connection error");
            return EXIT_LOST;
        }
    }
    printf("pong after %.3f ms\n", (double)(mono_ns() - start) / 1e6);
    fflush(stdout);
    return EXIT_OK;
}
static int wait_for_reply(client *c)
{
    unsigned long want = c->received + 1;
    while (c->received < want) {
        if (c->failed || c->internal_error || c->peer_closed) {
            int st = session_status(c);
            if (st == EXIT_OK) {
                fprintf(stderr,
                        "echo_client: server closed (code %u) before all "
                        "replies arrived\n", (unsigned)c->peer_code);
                return EXIT_LOST;
            }
            return st;
        }
        enum read_result r = client_read(c);
        if (r == READ_OK) continue;
        fprintf(stderr, "echo_client: %s while waiting for a reply\n",
                r == READ_EOF ? "connection closed" :
                r == READ_TIMEOUT ? "timed out" : "connection error");
        return EXIT_LOST;
    }
    return EXIT_OK;
}

static int run_messages(client *c, char **msgs, int count)
{
    for (int i = 0; i < count; i++) {
        int rc = send_message(c, copts.send_opcode, (uint8_t *)msgs[i],
                              strlen(msgs[i]));
        if (rc != WSP_OK) {
            fprintf(stderr, "echo_client: send failed: %s\n",
                    describe(rc));
            return EXIT_LOST;
        }
        rc = wait_for_reply(c);
        if (rc != EXIT_OK) return rc;
    }
    int rc = client_finish(c, 1000);
    return rc != EXIT_OK ? rc : session_status(c);
}

static unsigned long sent;

static int send_line(client *c, char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r') len--;
    int rc = send_message(c, copts.send_opcode, (uint8_t *)line, len);
    if (rc != WSP_OK) {
        fprintf(stderr, "echo_client: send failed: %s\n", describe(rc));
        return -1;
    }
    sent++;
    return 0;
}

/* Like wscat: lines from stdin go out as text messages while whatever the
 * server sends is printed, until end of input or the server closes. */
static int run_stdin(client *c)
{
    size_t cap = 4096, len = 0;
    char *line = malloc(cap);
    if (!line) return EXIT_INTERNAL;
    int stdin_open = 1;
    while (stdin_open && !c->peer_closed && !c->failed && !c->internal_error) {
        struct pollfd pfd[2] = {{c->io.fd, POLLIN, 0}, {0, POLLIN, 0}};
        /* Bytes already inside OpenSSL do not wake poll(): read them
         * first. */
        if (io_pending(&c->io)) {
            pfd[0].revents = POLLIN;
            pfd[1].revents = 0;
        } else if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pfd[0].revents) {
            enum read_result r = client_read(c);
            if (r == READ_EOF || r == READ_ERROR) {
                free(line);
                fprintf(stderr, "echo_client: connection lost\n");
                return EXIT_LOST;
            }
        }
        if (pfd[1].revents) {
            if (cap - len < 4096) {
                if (cap > (64u << 20)) {
                    free(line);
                    fprintf(stderr, "echo_client: input line too long\n");
                    return EXIT_USAGE;
                }
                char *p = realloc(line, cap * 2);
                if (!p) {
                    free(line);
                    return EXIT_INTERNAL;
                }
                line = p;
                cap *= 2;
            }
            ssize_t r = read(0, line + len, cap - len);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                stdin_open = 0;
                if (len > 0 && send_line(c, line, len) != 0) break;
                len = 0;
                continue;
            }
            len += (size_t)r;
            size_t start = 0;
            for (size_t i = 0; i < len; i++) {
                if (line[i] != '\n') continue;
                if (send_line(c, line + start, i - start) != 0) {
                    stdin_open = 0;
                    break;
                }
                start = i + 1;
            }
            memmove(line, line + start, len - start);
            len -= start;
        }
    }
    free(line);
    if (c->peer_closed || c->failed || c->internal_error) {
        int rc = client_finish(c, 1000);
        int st = session_status(c);
        return st != EXIT_OK ? st : rc;
    }
    /* Input may end before the echoes of the last lines are back, and a
     * server may drop replies still unsent once it sees our close: so wait
     * for one reply per line sent (bounded by --timeout) before closing. */
    while (c->received < sent && !c->peer_closed && !c->failed &&
           !c->internal_error) {
        enum read_result r = client_read(c);
        if (r == READ_TIMEOUT) break;
        if (r != READ_OK) {
            fprintf(stderr, "echo_client: connection lost\n");
            return EXIT_LOST;
        }
    }
    int rc = client_finish(c, 1000);
    return rc != EXIT_OK ? rc : session_status(c);
}

static int run_echo(client *c)
{
    while (!c->peer_closed && !c->failed && !c->internal_error) {
        enum read_result r = client_read(c);
        if (r == READ_OK) continue;
        fprintf(stderr, "echo_client: %s before the server closed\n",
                r == READ_EOF ? "connection lost" :
                r == READ_TIMEOUT ? "timed out" : "connection error");
        return EXIT_LOST;
    }
    int st = session_status(c);
    if (st != EXIT_OK && c->failed) {
        /* Our failure close frame went out with the batch; the library
         * says to drop the transport now. */
        return st;
    }
    int rc = client_finish(c, 1000);
    return st != EXIT_OK ? st : rc;
}

/* Appends s to out percent-encoded (RFC 3986 unreserved kept). */
static int append_encoded(char *out, size_t cap, const char *s)
{
    size_t n = strlen(out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
                   ch == '_' || ch == '~';
        if (n + 4 >= cap) return -1;
        if (keep) {
            out[n++] = (char)ch;
        } else {
            static const char hex[] = "0123456789ABCDEF";
            out[n++] = '%';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

static int autobahn_url(const ws_url *base, const char *path_and_query,
                        const char *agent, ws_url *out)
{
    *out = *base;
    const char *prefix = strcmp(base->target, "/") == 0 ? "" : base->target;
    int n = snprintf(out->target, sizeof out->target, "%s%s", prefix,
                     path_and_query);
    if (n < 0 || (size_t)n >= sizeof out->target) return -1;
    if (agent && append_encoded(out->target, sizeof out->target, agent) != 0)
        return -1;
    return 0;
}

static int run_autobahn(const char *url, const char *agent)
{
    ws_url base, u;
    int rc = parse_url(url, &base);
    if (rc != EXIT_OK) return rc;
    client c;

    if (autobahn_url(&base, "/getCaseCount", NULL, &u) != 0) return EXIT_BAD_URL;
    rc = client_open(&c, &u, MODE_COLLECT);
    if (rc == EXIT_OK) rc = run_echo(&c);
    char count_text[sizeof c.collected];
    memcpy(count_text, c.collected, sizeof count_text);
    client_free(&c);
    if (rc != EXIT_OK) return rc;
    char *end = NULL;
    long count = strtol(count_text, &end, 10);
    if (end == count_text || count <= 0) {
        fprintf(stderr, "echo_client: bad case count '%s'\n", count_text);
        return EXIT_PROTOCOL;
    }
    note("running %ld cases as agent '%s'", count, agent);

    int worst = EXIT_OK;
    for (long i = 1; i <= count; i++) {
        char q[64];
        snprintf(q, sizeof q, "/runCase?case=%ld&agent=", i);
        if (autobahn_url(&base, q, agent, &u) != 0) return EXIT_BAD_URL;
        rc = client_open(&c, &u, MODE_ECHO);
        if (rc == EXIT_OK) rc = run_echo(&c);
        client_free(&c);
        /* Protocol failures are what the fuzzer provokes on purpose; only a
         * server that cannot be reached ends the run. */
        if (rc == EXIT_CONNECT) return rc;
        if (!copts.quiet)
            fprintf(stderr, "echo_client: case %ld/%ld: exit %d\n", i, count,
                    rc);
        if (rc == EXIT_INTERNAL) worst = rc;
    }

    if (autobahn_url(&base, "/updateReports?agent=", agent, &u) != 0)
        return EXIT_BAD_URL;
    rc = client_open(&c, &u, MODE_ECHO);
    if (rc == EXIT_OK) rc = run_echo(&c);
    client_free(&c);
    if (rc != EXIT_OK) return rc;
    note("reports updated");
    return worst;
}

int main(int argc, char **argv)
{
    int echo = 0;
    const char *url = NULL;
    const char *autobahn = NULL, *agent = NULL;
    char **msgs = NULL;
    int nmsgs = 0;
    int i = 1;

    signal(SIGPIPE, SIG_IGN);
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--echo") == 0) {
            echo = 1;
        } else if (strcmp(a, "--binary") == 0) {
            copts.send_opcode = WSP_OP_BINARY;
        } else if (strcmp(a, "--ping") == 0) {
            copts.ping = 1;
        } else if (strcmp(a, "--insecure") == 0) {
            copts.insecure = 1;
        } else if (strcmp(a, "--ca") == 0 && val) {
            copts.ca_file = val;
            i++;
        } else if (strcmp(a, "--no-deflate") == 0) {
            offer_deflate = 0;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            copts.quiet = 1;
        } else if (strcmp(a, "--subprotocol") == 0 && val) {
            if (copts.subprotocol_count == MAX_SUBPROTOCOLS) {
                fprintf(stderr, "echo_client: too many subprotocols\n");
                return EXIT_USAGE;
            }
            copts.subprotocols[copts.subprotocol_count++] = val;
            i++;
        } else if (strcmp(a, "--header") == 0 && val) {
            const char *colon = strchr(val, ':');
            if (!colon || colon == val || copts.header_count == MAX_HEADERS) {
                fprintf(stderr,
                        "echo_client: --header wants 'Name: value', got '%s'\n",
                        val);
                return EXIT_USAGE;
            }
            const char *v = colon + 1;
            while (*v == ' ' || *v == '\t') v++;
            wsp_header *h = &copts.headers[copts.header_count++];
            h->name = val;
            h->name_len = (size_t)(colon - val);
            h->value = v;
            h->value_len = strlen(v);
            i++;
        } else if (strcmp(a, "--timeout") == 0 && val) {
            unsigned long long t = 0;
            if (cli_parse_uint(val, 86400, &t) != 0 || t == 0) {
                fprintf(stderr, "echo_client: bad --timeout '%s'\n", val);
                return EXIT_USAGE;
            }
            copts.timeout_s = (unsigned)t;
            i++;
        } else if (strcmp(a, "--autobahn") == 0 && val && i + 2 < argc) {
            autobahn = val;
            agent = argv[i + 2];
            i += 2;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "echo_client: unknown or incomplete option '%s'\n",
                    a);
            usage(stderr);
            return EXIT_USAGE;
        } else {
            break;
        }
    }
    if (autobahn) {
        if (i < argc) {
            fprintf(stderr, "echo_client: --autobahn takes no other URL or "
                            "messages\n");
            return EXIT_USAGE;
        }
        return run_autobahn(autobahn, agent);
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    url = argv[i++];
    msgs = argv + i;
    nmsgs = argc - i;
    if (echo && nmsgs > 0) {
        fprintf(stderr, "echo_client: --echo takes no messages\n");
        return EXIT_USAGE;
    }

    ws_url u;
    int rc = parse_url(url, &u);
    if (rc != EXIT_OK) return rc;
    client c;
    rc = client_open(&c, &u, echo ? MODE_ECHO : MODE_PRINT);
    if (rc == EXIT_OK) note("connected to %s", url);
    if (rc == EXIT_OK && copts.ping) rc = run_ping(&c);
    if (rc == EXIT_OK) {
        if (echo)
            rc = run_echo(&c);
        else if (nmsgs > 0)
            rc = run_messages(&c, msgs, nmsgs);
        else
            rc = run_stdin(&c);
    }
    client_free(&c);
    return rc;
}
