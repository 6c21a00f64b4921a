/*
 * tls_echo_client: the load side of the TLS echo benchmark. One blocking
 * connection, one message in flight, plain ws:// or wss:// through the
 * examples' tls_io, so the two cases differ only by TLS.
 *
 *   tls_echo_client URL SIZE SECONDS [CA_FILE]     echoes of SIZE bytes
 *   tls_echo_client URL connect SECONDS [CA_FILE]  open, 16 B echo, close
 *
 * URL is ws://127.0.0.1:PORT/ or wss://127.0.0.1:PORT/. Prints
 * "COUNT SECONDS RATE_PER_SECOND"; exits 1 on any failure or wrong echo.
 */
#define _POSIX_C_SOURCE 200809L

#include "tls_io.h"
#include "wsproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct session {
    io_stream io;
    wsp_conn *ws;
    uint8_t in[64 * 1024];
    size_t in_len;
    int opened;
    uint64_t echoed; /* payload bytes of the current echo */
    int echo_done;
    int closed;
} session;

static struct ssl_ctx_st *tls_ctx;
static int use_tls;
static unsigned short port;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "tls_echo_client: %s\n", what);
    exit(1);
}

/* Reads once and runs every event. */
static void pump(session *s)
{
    ssize_t r = io_recv(&s->io, s->in + s->in_len, sizeof s->in - s->in_len);
    if (r <= 0) {
        s->closed = 1;
        return;
    }
    s->in_len += (size_t)r;
    size_t off = 0;
    for (;;) {
        wsp_event ev;
        size_t used = 0;
        int rc = wsp_conn_recv(s->ws, s->in + off, s->in_len - off, &used, &ev);
        off += used;
        if (rc == WSP_ERR_CLOSED) {
            off = s->in_len;
            break;
        }
        if (rc != WSP_OK) die(wsp_strerror(rc));
        if (ev.type == WSP_EV_NONE) break;
        if (ev.type == WSP_EV_RESPONSE) {
            if (ev.u.response.status != WSP_OK) die("upgrade refused");
            s->opened = 1;
        } else if (ev.type == WSP_EV_DATA) {
            s->echoed += ev.u.data.len;
            if (ev.u.data.flags & WSP_DATA_LAST) s->echo_done = 1;
        }
    }
    memmove(s->in, s->in + off, s->in_len - off);
    s->in_len -= off;
}

static void open_session(session *s)
{
    memset(s, 0, sizeof *s);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->io.fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (s->io.fd < 0 ||
        connect(s->io.fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("cannot connect");
    setsockopt(s->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (use_tls && (io_tls_start(&s->io, tls_ctx, 0, "127.0.0.1") != IO_OK ||
                    io_tls_handshake(&s->io) != IO_OK))
        die("TLS handshake failed");
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    if (wsp_conn_new(&cfg, &s->ws) != WSP_OK) die("out of memory");
    wsp_client_options o;
    memset(&o, 0, sizeof o);
    o.host = "127.0.0.1";
    uint8_t req[1024];
    size_t n = 0;
    if (wsp_conn_client_request(s->ws, &o, req, sizeof req, &n) != WSP_OK ||
        io_send(&s->io, req, n) != 0)
        die("cannot send the request");
    while (!s->opened && !s->closed) pump(s);
    if (!s->opened) die("no upgrade");
}

static void echo(session *s, uint8_t *msg, size_t size, uint8_t *out,
                 size_t out_cap)
{
    size_t n = 0;
    if (wsp_conn_send(s->ws, WSP_OP_BINARY, msg, size, 0, out, out_cap, &n) !=
            WSP_OK ||
        io_send(&s->io, out, n) != 0)
        die("send failed");
    s->echoed = 0;
    s->echo_done = 0;
    while (!s->echo_done && !s->closed) pump(s);
    if (!s->echo_done || s->echoed != size) die("wrong echo");
}

static void close_session(session *s)
{
    uint8_t buf[64];
    size_t n = 0;
    if (wsp_conn_close(s->ws, 1000, NULL, 0, buf, sizeof buf, &n) != WSP_OK ||
        io_send(&s->io, buf, n) != 0)
        die("close failed");
    while (!s->closed) pump(s); /* until the server's EOF */
    io_tls_close_notify(&s->io);
    io_tls_free(&s->io);
    close(s->io.fd);
    wsp_conn_free(s->ws);
}

int main(int argc, char **argv)
{
    if (argc < 4) die("usage: tls_echo_client URL SIZE|connect SECONDS [CA]");
    unsigned p = 0;
    if (sscanf(argv[1], "wss://127.0.0.1:%u", &p) == 1) use_tls = 1;
    else if (sscanf(argv[1], "ws://127.0.0.1:%u", &p) != 1) die("bad URL");
    port = (unsigned short)p;
    int connect_mode = strcmp(argv[2], "connect") == 0;
    size_t size = connect_mode ? 16 : (size_t)strtoul(argv[2], NULL, 10);
    double seconds = strtod(argv[3], NULL);
    if (use_tls) {
        tls_ctx = tls_client_context(argc > 4 ? argv[4] : NULL, 0);
        if (!tls_ctx) die("no TLS context");
    }
    uint8_t *msg = calloc(1, size + 1);
    size_t out_cap = size + 64;
    uint8_t *out = malloc(out_cap);
    if (!msg || !out) die("out of memory");

    session *s = malloc(sizeof *s);
    if (!s) die("out of memory");
    unsigned long count = 0;
    double start = now_s(), elapsed = 0;
    if (!connect_mode) open_session(s);
    do {
        if (connect_mode) open_session(s);
        echo(s, msg, size, out, out_cap);
        if (connect_mode) close_session(s);
        count++;
        elapsed = now_s() - start;
    } while (elapsed < seconds);
    if (!connect_mode) close_session(s);
    printf("%lu %.3f %.1f\n", count, elapsed, (double)count / elapsed);
    return 0;
}
