/*
 * echo_server: a WebSocket echo server on blocking sockets, one thread per
 * connection, built on libwsproto's sans-I/O connection.
 *
 *   echo_server [--host 127.0.0.1] [--port 9001] [--max-message BYTES]
 *               [--max-fragments N] [--max-connections N]
 *               [--handshake-timeout SECONDS] [--idle-timeout SECONDS]
 *               [--allow-origin ORIGIN]... [--allow-null-origin]
 *               [--require-origin] [--quiet]
 *               [--tls-cert FILE --tls-key FILE]
 *
 * A plain GET of "/" returns a browser echo test page; other plain requests
 * get 404. An upgrade request on any path is accepted and every message is
 * echoed back, streamed piece by piece as it arrives.
 *
 * Each recv() is processed whole: all echo frames and the library's own
 * output (pongs, close replies) go into one output list that is written
 * with a single sendmsg(). Large payload pieces are not copied: their frame
 * header is encoded with wsp_conn_send_zerocopy and the payload is sent
 * straight from the receive buffer.
 *
 * Origin checking (cross-site WebSocket hijacking, RFC 6455 10.2) is off by
 * default, as suits a test server for non-browser clients. Any of
 * --allow-origin, --allow-null-origin or --require-origin turns the
 * library's origin policy on: then a browser page served from any origin
 * not listed gets HTTP 403. Requests without an Origin header (non-browser
 * clients) still pass unless --require-origin is given.
 *
 * With --tls-cert and --tls-key (PEM files) every connection is TLS: the
 * page is served over https and the WebSocket is wss on the same port; the
 * page connects with wss:// when it was loaded over https. TLS lives in
 * tls_io.c; this file sees only decrypted bytes.
 *
 * Every limit that fires (origin policy, handshake timeout, idle timeout,
 * connection cap, a size limit) shows in that connection's log line.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include "cli.h"
#include "net.h"
#include "plain_http.h"
#include "tls_io.h"
#include "wsproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
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
#include <time.h>
#include <unistd.h>

#define RECV_BUF_SIZE (64u * 1024u)
/* Pieces at least this long are sent from the receive buffer instead of
 * being copied behind their frame header. */
#define ZEROCOPY_MIN 2048u
/* How often a blocked recv() wakes up to look at the shutdown flag and the
 * idle deadline; SO_RCVTIMEO carries it. */
#define POLL_SLICE_MS 250
/* How long a closing connection waits for the peer's close frame or EOF. */
#define CLOSE_WAIT_MS 2000
#define SEND_TIMEOUT_S 10
#define SHUTDOWN_WAIT_MS 5000
#define THREAD_STACK (256u * 1024u)
/* Pongs written in ping order per received batch. Past this, a flood of
 * pings gets only the latest answered (the library keeps one pong, RFC 6455
 * 5.5.3), so a peer that pings and never reads cannot make us queue a pong
 * per ping in the kernel. */
#define PONGS_PER_BATCH 16u

typedef struct server_options {
    const char *host;
    const char *port;
    uint64_t max_message;
    uint32_t max_fragments; /* 0: the library's default */
    unsigned max_connections;
    unsigned handshake_timeout_s;
    unsigned idle_timeout_s;
    int quiet;
    int no_deflate;
    /* Origin policy: on once any origin option is given. */
    int origin_check;
    int allow_null_origin;
    int require_origin;
    const char **allowed_origins; /* argv strings */
    size_t allowed_origin_count;
    const char *tls_cert; /* both set: serve TLS */
    const char *tls_key;
} server_options;

static server_options opts = {"127.0.0.1", "9001", 16u * 1024u * 1024u, 0,
                              256, 10, 120, 0, 0, 0, 0, 0, NULL, 0, NULL, NULL};

/* Shared by every connection (OpenSSL locks it itself); NULL: plain TCP. */
static struct ssl_ctx_st *tls_ctx;

/* Filled from opts before the first connection; read-only afterwards. */
static wsp_origin_policy origin_policy;

/* permessage-deflate with the library's defaults: browsers offer it. */
static const wsp_deflate_config deflate_cfg;

static volatile sig_atomic_t stop_requested;
static int stop_pipe[2] = {-1, -1};

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conn_done = PTHREAD_COND_INITIALIZER;
static unsigned active_connections;

static int stopping(void)
{
    return stop_requested != 0;
}

static void on_signal(int sig)
{
    int saved = errno;
    (void)sig;
    stop_requested = 1;
    if (stop_pipe[1] >= 0) {
        char c = 1;
        ssize_t r = write(stop_pipe[1], &c, 1);
        (void)r;
    }
    errno = saved;
}

static void set_timeouts(int fd, unsigned recv_ms, unsigned send_s)
{
    struct timeval tv;
    tv.tv_sec = (time_t)(recv_ms / 1000u);
    tv.tv_usec = (suseconds_t)((recv_ms % 1000u) * 1000u);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    tv.tv_sec = (time_t)send_s;
    tv.tv_usec = 0;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* ------------------------------------------------------------------------
 * Output list: frame headers and small payloads are copied into one growing
 * byte buffer; large payloads are referenced where they lie. Segments keep
 * offsets into the byte buffer rather than pointers because it may move
 * while the batch is being built.
 * ---------------------------------------------------------------------- */
typedef struct out_seg {
    const uint8_t *ext; /* NULL: bytes at `off` in the owned buffer */
    size_t off;
    size_t len;
} out_seg;

typedef struct out_list {
    uint8_t *buf;
    size_t len, cap;
    out_seg *segs;
    size_t nsegs, segcap;
} out_list;

static int out_reserve(out_list *o, size_t extra)
{
    if (o->cap - o->len >= extra) return 0;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap - o->len < extra) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    uint8_t *p = realloc(o->buf, cap);
    if (!p) return -1;
    o->buf = p;
    o->cap = cap;
    return 0;
}

static int out_add_seg(out_list *o, const uint8_t *ext, size_t off,
                       size_t len)
{
    if (len == 0) return 0;
    if (o->nsegs > 0) {
        out_seg *last = &o->segs[o->nsegs - 1];
        if (!ext && !last->ext && last->off + last->len == off) {
            last->len += len;
            return 0;
        }
    }
    if (o->nsegs == o->segcap) {
        size_t cap = o->segcap ? o->segcap * 2 : 16;
        out_seg *s = realloc(o->segs, cap * sizeof *s);
        if (!s) return -1;
        o->segs = s;
        o->segcap = cap;
    }
    o->segs[o->nsegs].ext = ext;
    o->segs[o->nsegs].off = off;
    o->segs[o->nsegs].len = len;
    o->nsegs++;
    return 0;
}

/* Records that the last `len` bytes written into the owned buffer belong to
 * the output. */
static int out_commit(out_list *o, size_t len)
{
    size_t off = o->len;
    o->len += len;
    return out_add_seg(o, NULL, off, len);
}

static int out_append(out_list *o, const void *data, size_t len)
{
    if (out_reserve(o, len) != 0) return -1;
    memcpy(o->buf + o->len, data, len);
    return out_commit(o, len);
}

static void out_reset(out_list *o)
{
    o->len = 0;
    o->nsegs = 0;
}

static void out_free(out_list *o)
{
    free(o->buf);
    free(o->segs);
    memset(o, 0, sizeof *o);
}

/* Writes the whole list. Returns 0, or -1 when the peer is gone or stalled
 * past SO_SNDTIMEO. */
static int out_send(io_stream *io, out_list *o)
{
    struct iovec iov[64];
    size_t seg = 0;
    while (seg < o->nsegs) {
        int n = 0;
        for (; seg < o->nsegs && n < 64; seg++, n++) {
            const out_seg *sg = &o->segs[seg];
            iov[n].iov_base = (void *)(uintptr_t)(sg->ext ? sg->ext
                                                          : o->buf + sg->off);
            iov[n].iov_len = sg->len;
        }
        if (io_send_all(io, iov, n) != 0) return -1;
    }
    out_reset(o);
    return 0;
}

/* ------------------------------------------------------------------------
 * One connection.
 * ---------------------------------------------------------------------- */
typedef enum outcome {
    OUT_NONE,
    OUT_PAGE,
    OUT_NOT_FOUND,
    OUT_REJECTED,
    OUT_CLOSED,      /* close handshake completed */
    OUT_FAILED,      /* protocol failure: we sent a close with an error */
    OUT_DROPPED,     /* EOF or I/O error without a close handshake */
    OUT_TIMEOUT,
    OUT_SHUTDOWN,
    OUT_OVERLOADED
} outcome;

static const char *outcome_name(outcome o)
{
    switch (o) {
    case OUT_NONE: return "no-request";
    case OUT_PAGE: return "page";
    case OUT_NOT_FOUND: return "not-found";
    case OUT_REJECTED: return "rejected";
    case OUT_CLOSED: return "closed";
    case OUT_FAILED: return "protocol-error";
    case OUT_DROPPED: return "dropped";
    case OUT_TIMEOUT: return "timeout";
    case OUT_SHUTDOWN: return "shutdown";
    case OUT_OVERLOADED: return "overloaded";
    }
    return "?";
}

typedef struct conn_ctx {
    int fd;
    io_stream io;          /* fd, with TLS on top when configured */
    char peer[INET6_ADDRSTRLEN + 8];
    char path[128];
    wsp_conn *ws;
    uint8_t *in;
    size_t in_len;
    out_list out;
    outcome result;
    int http_status;       /* for rejected / plain HTTP requests */
    uint16_t code_in;      /* close code the peer sent, 0 if none */
    uint16_t code_out;     /* close code we sent, 0 if none */
    const char *detail;    /* static reason of a failure */
    char tls_detail[160];  /* why the TLS handshake failed */
    char origin[128];      /* Origin of a request the policy refused */
    uint64_t messages;
    uint64_t bytes;
    unsigned pongs_in_batch;
} conn_ctx;

static void log_conn(const conn_ctx *c)
{
    if (opts.quiet) return;
    char codes[64] = "";
    if (c->code_in || c->code_out) {
        snprintf(codes, sizeof codes, " close_in=%u close_out=%u",
                 (unsigned)c->code_in, (unsigned)c->code_out);
    }
    char http[24] = "";
    if (c->http_status) snprintf(http, sizeof http, " http=%d", c->http_status);
    fprintf(stderr,
            "peer=%s path=%s outcome=%s%s%s%s%s messages=%llu bytes=%llu%s%s\n",
            c->peer, c->path[0] ? c->path : "-", outcome_name(c->result),
            http, codes, c->origin[0] ? " origin=" : "", c->origin,
            (unsigned long long)c->messages, (unsigned long long)c->bytes,
            c->detail ? " detail=" : "", c->detail ? c->detail : "");
}

static void copy_path(conn_ctx *c, const char *target, size_t len)
{
    copy_printable(c->path, sizeof c->path, target, len);
}

/* Closes the socket without losing what was just sent: closing with unread
 * input makes the kernel send RST, which can destroy a queued HTTP error
 * response before the client reads it. So shut down writing, read and
 * discard until the peer's EOF (bounded in time and bytes), then close. */
static void lingering_close(int fd)
{
    shutdown(fd, SHUT_WR);
    set_timeouts(fd, POLL_SLICE_MS, 1);
    uint64_t deadline = mono_ms() + CLOSE_WAIT_MS;
    size_t drained = 0;
    char sink[4096];
    while (mono_ms() < deadline && drained < (1u << 20)) {
        ssize_t r = recv(fd, sink, sizeof sink, 0);
        if (r == 0) break;
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            break;
        }
        drained += (size_t)r;
    }
    close(fd);
}

/* Serves a request that is not a WebSocket upgrade as plain HTTP. */
static void serve_plain(conn_ctx *c, const wsp_request *req)
{
    plain_reply r;
    if (plain_http_reply(req, &r) != 0) return;
    out_append(&c->out, r.head, r.head_len);
    if (r.send_page && out_reserve(&c->out, r.page_len) == 0) {
        plain_http_page((char *)c->out.buf + c->out.len);
        out_commit(&c->out, r.page_len);
    }
    c->result = r.status == 200   ? OUT_PAGE
                : r.status == 404 ? OUT_NOT_FOUND
                                  : OUT_REJECTED;
    c->http_status = r.status;
}

/* Appends the library's queued output (pongs, close replies, failure close
 * frames, HTTP error responses). */
static int append_pending(conn_ctx *c)
{
    size_t need = wsp_conn_pending_size(c->ws);
    if (need == 0) return 0;
    if (out_reserve(&c->out, need) != 0) return -1;
    size_t n = 0;
    int rc = wsp_conn_flush(c->ws, c->out.buf + c->out.len,
                            c->out.cap - c->out.len, &n);
    if (rc != WSP_OK) return -1;
    return out_commit(&c->out, n);
}

static int echo_piece(conn_ctx *c, const wsp_data_event *ev)
{
    unsigned flags = (ev->flags & WSP_DATA_LAST) ? 0u : WSP_SEND_MORE;
    /* An empty middle piece carries nothing worth a frame of its own. */
    if (ev->len == 0 && flags == WSP_SEND_MORE) return 0;
    int rc;
    /* Without compression every piece lies in our receive buffer, which
     * stays put until out_send. With it, a piece may live in the
     * connection's inflate buffer, and a message it started compressed
     * cannot go on uncompressed: so copy. */
    if (ev->len >= ZEROCOPY_MIN && !wsp_conn_deflate_active(c->ws)) {
        if (out_reserve(&c->out, WSP_MAX_FRAME_HEADER) != 0) return -1;
        size_t hl = 0;
        rc = wsp_conn_send_zerocopy(c->ws, ev->opcode, ev->payload, ev->len,
                                    flags, c->out.buf + c->out.len, &hl);
        if (rc != WSP_OK) return rc;
        if (out_commit(&c->out, hl) != 0) return -1;
        /* Server frames are not masked, so the payload is sent untouched
         * from the receive buffer, which stays put until out_send. */
        if (out_add_seg(&c->out, ev->payload, 0, ev->len) != 0) return -1;
    } else {
        size_t need = 0, n = 0;
        rc = wsp_conn_send_bound(c->ws, ev->len, &need);
        if (rc != WSP_OK) return rc;
        if (out_reserve(&c->out, need) != 0) return -1;
        rc = wsp_conn_send(c->ws, ev->opcode, ev->payload, ev->len, flags,
                           c->out.buf + c->out.len, c->out.cap - c->out.len,
                           &n);
        if (rc != WSP_OK) return rc;
        if (out_commit(&c->out, n) != 0) return -1;
    }
    c->bytes += ev->len;
    if (ev->flags & WSP_DATA_LAST) c->messages++;
    return 0;
}

enum { STEP_CONTINUE, STEP_DONE };

/* Handles one event. Returns STEP_DONE when the connection must end after
 * the current output is sent. */
static int handle_event(conn_ctx *c, wsp_event *ev)
{
    switch (ev->type) {
    case WSP_EV_REQUEST: {
        copy_path(c, ev->u.request.request.target, ev->u.request.request.target_len);
        if (ev->u.request.status == WSP_OK) {
            uint8_t buf[512];
            size_t n = 0;
            int rc = wsp_conn_accept(c->ws, NULL, buf, sizeof buf, &n);
            if (rc != WSP_OK) {
                c->detail = wsp_strerror(rc);
                c->result = OUT_DROPPED;
                return STEP_DONE;
            }
            out_append(&c->out, buf, n);
            return STEP_CONTINUE;
        }
        if (!plain_http_has_header(&ev->u.request.request.headers, "Upgrade")) {
            serve_plain(c, &ev->u.request.request);
            return STEP_DONE;
        }
        uint8_t buf[512];
        size_t n = 0;
        if (wsp_conn_reject(c->ws, 0, buf, sizeof buf, &n) == WSP_OK)
            out_append(&c->out, buf, n);
        c->result = OUT_REJECTED;
        c->http_status = ev->u.request.http_status ? ev->u.request.http_status
                                         : wsp_status_http_code(ev->u.request.status);
        c->detail = wsp_strerror(ev->u.request.status);
        if (ev->u.request.status == WSP_ERR_HTTP_ORIGIN) {
            const char *o = NULL;
            size_t ol = 0;
            if (wsp_headers_get(&ev->u.request.request.headers, "Origin", &o, &ol) ==
                WSP_OK)
                copy_printable(c->origin, sizeof c->origin, o, ol);
            else
                copy_printable(c->origin, sizeof c->origin, "(none)", 6);
        }
        return STEP_DONE;
    }
    case WSP_EV_DATA:
        /* Data that arrives after our own close frame (shutdown, idle
         * timeout) can no longer be echoed; the peer's close follows. */
        if (wsp_conn_state(c->ws) != WSP_STATE_OPEN) return STEP_CONTINUE;
        if (echo_piece(c, &ev->u.data) != 0) {
            c->result = OUT_DROPPED;
            c->detail = "could not echo";
            return STEP_DONE;
        }
        return STEP_CONTINUE;
    case WSP_EV_PING:
        /* The library queued the pong; it goes into the output now, ahead of
         * whatever arrived after the ping (RFC 6455 5.5.2: "as soon as is
         * practical"), so each ping gets its own pong in order. Under a
         * flood the rest stay coalesced in the library and the latest goes
         * out with the batch. */
        if (c->pongs_in_batch >= PONGS_PER_BATCH) return STEP_CONTINUE;
        c->pongs_in_batch++;
        return append_pending(c) == 0 ? STEP_CONTINUE : STEP_DONE;
    case WSP_EV_PONG:
        return STEP_CONTINUE;
    case WSP_EV_CLOSE:
        c->code_in = ev->u.close.code;
        if (c->code_out == 0)
            c->code_out = ev->u.close.code == 1005 ? 0 : ev->u.close.code;
        if (c->result != OUT_SHUTDOWN) c->result = OUT_CLOSED;
        return STEP_CONTINUE;
    case WSP_EV_FAILURE:
        c->result = OUT_FAILED;
        c->code_out = ev->u.failure.close_code;
        c->detail = ev->u.failure.reason ? ev->u.failure.reason : wsp_strerror(ev->u.failure.status);
        if (ev->u.failure.close_code == 0 && ev->u.failure.status <= WSP_ERR_HTTP_MALFORMED &&
            ev->u.failure.status > WSP_ERR_PROTO_RSV) {
            c->result = OUT_REJECTED;
            c->http_status = wsp_status_http_code(ev->u.failure.status);
        }
        return STEP_DONE;
    case WSP_EV_RESPONSE:
    case WSP_EV_NONE:
        break;
    }
    return STEP_CONTINUE;
}

/* Runs the events in c->in[0..in_len), leaving unconsumed bytes at the
 * front. Returns STEP_DONE when the connection should end. */
static int process_input(conn_ctx *c, size_t *used)
{
    size_t off = 0;
    int step = STEP_CONTINUE;
    c->pongs_in_batch = 0;
    /* Runs until the library says WSP_EV_NONE, not until the input is used
     * up: the last bytes can still yield more than one event. */
    while (step == STEP_CONTINUE) {
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
            /* A usage error is a bug here; end the connection rather than
             * loop on it. */
            c->result = OUT_FAILED;
            c->detail = wsp_strerror(rc);
            step = STEP_DONE;
            break;
        }
        if (ev.type == WSP_EV_NONE) break;
        step = handle_event(c, &ev);
    }
    *used = off;
    return step;
}

static void end_connection(conn_ctx *c)
{
    append_pending(c);
    if (out_send(&c->io, &c->out) == 0) {
        /* The WebSocket close (or the HTTP response) is out: TLS may end
         * now, before TCP does. */
        io_tls_close_notify(&c->io);
    }
    lingering_close(c->fd);
    c->fd = -1;
}

/* Starts a server-side close (shutdown or idle timeout) and waits briefly
 * for the peer's close frame. */
static void close_with(conn_ctx *c, uint16_t code, const char *reason,
                       outcome why)
{
    c->result = why;
    if (wsp_conn_state(c->ws) == WSP_STATE_OPEN) {
        uint8_t buf[WSP_MAX_FRAME_HEADER + WSP_MAX_CONTROL_PAYLOAD];
        size_t n = 0;
        if (wsp_conn_close(c->ws, code, reason, strlen(reason), buf,
                           sizeof buf, &n) == WSP_OK) {
            c->code_out = code;
            out_append(&c->out, buf, n);
            if (out_send(&c->io, &c->out) != 0) return;
            uint64_t deadline = mono_ms() + CLOSE_WAIT_MS;
            while (mono_ms() < deadline &&
                   wsp_conn_state(c->ws) != WSP_STATE_CLOSED) {
                ssize_t r = io_recv(&c->io, c->in + c->in_len,
                                    RECV_BUF_SIZE - c->in_len);
                if (r == 0) break;
                if (r < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK ||
                        errno == EINTR)
                        continue;
                    break;
                }
                c->in_len += (size_t)r;
                size_t used = 0;
                /* Data still arriving is echoed per the protocol: the
                 * library refuses sends after our close, which is fine. */
                int step = process_input(c, &used);
                memmove(c->in, c->in + used, c->in_len - used);
                c->in_len -= used;
                c->result = why;
                if (step == STEP_DONE) break;
                out_reset(&c->out);
            }
        }
    }
}

/* The TLS handshake, bounded by the same deadline as the HTTP request. */
static int tls_handshake(conn_ctx *c, uint64_t deadline)
{
    if (io_tls_start(&c->io, tls_ctx, 1, NULL) == IO_OK) {
        for (;;) {
            io_result r = io_tls_handshake(&c->io);
            if (r == IO_OK) return 0;
            if (r == IO_ERROR) break;
            if (stopping() || mono_ms() >= deadline) {
                c->result = OUT_TIMEOUT;
                c->detail = "TLS handshake timeout";
                return -1;
            }
        }
    }
    c->result = OUT_DROPPED;
    c->detail = io_tls_error(&c->io, c->tls_detail, sizeof c->tls_detail);
    return -1;
}

static void run_connection(conn_ctx *c)
{
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_SERVER;
    cfg.max_message = opts.max_message;
    cfg.max_fragments = opts.max_fragments;
    if (opts.origin_check) cfg.origin_policy = &origin_policy;
    /* max_frame_payload stays at its default: the message limit already
     * bounds uncompressed frames, and a compressed frame of a message that
     * fits may be slightly larger than the message itself. */
    if (!opts.no_deflate && wsp_deflate_available()) cfg.deflate = &deflate_cfg;
    if (wsp_conn_new(&cfg, &c->ws) != WSP_OK) {
        c->detail = "out of memory";
        return;
    }
    set_timeouts(c->fd, POLL_SLICE_MS, SEND_TIMEOUT_S);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    uint64_t last_activity = mono_ms();
    uint64_t handshake_deadline = last_activity + opts.handshake_timeout_s * 1000u;
    if (tls_ctx && tls_handshake(c, handshake_deadline) != 0) {
        lingering_close(c->fd);
        c->fd = -1;
        return;
    }
    for (;;) {
        if (stopping()) {
            close_with(c, 1001, "server shutting down", OUT_SHUTDOWN);
            break;
        }
        if (c->in_len == RECV_BUF_SIZE) {
            /* Cannot happen with a conforming library: it keeps back at
             * most max_header_bytes, far below the buffer size. */
            c->result = OUT_DROPPED;
            c->detail = "receive buffer full without progress";
            break;
        }
        ssize_t r = io_recv(&c->io, c->in + c->in_len, RECV_BUF_SIZE - c->in_len);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                uint64_t t = mono_ms();
                wsp_state st = wsp_conn_state(c->ws);
                if (st == WSP_STATE_HANDSHAKE && t >= handshake_deadline) {
                    c->result = OUT_TIMEOUT;
                    c->detail = "handshake timeout";
                    break;
                }
                if (st != WSP_STATE_HANDSHAKE &&
                    t - last_activity >= opts.idle_timeout_s * 1000u) {
                    close_with(c, 1001, "idle timeout", OUT_TIMEOUT);
                    if (c->result == OUT_TIMEOUT) c->detail = "idle timeout";
                    break;
                }
                continue;
            }
            c->result = OUT_DROPPED;
            c->detail = strerror(errno);
            break;
        }
        if (r == 0) {
            if (c->result != OUT_CLOSED) {
                c->result = OUT_DROPPED;
                c->detail = "peer closed TCP without a close handshake";
            }
            break;
        }
        last_activity = mono_ms();
        if (wsp_conn_state(c->ws) == WSP_STATE_HANDSHAKE &&
            last_activity >= handshake_deadline) {
            /* A client trickling its request byte by byte never lets
             * recv() time out; the handshake deadline is absolute. */
            c->result = OUT_TIMEOUT;
            c->detail = "handshake timeout";
            break;
        }
        c->in_len += (size_t)r;
        size_t used = 0;
        int step = process_input(c, &used);
        if (append_pending(c) != 0 || out_send(&c->io, &c->out) != 0) {
            c->result = OUT_DROPPED;
            c->detail = "send failed or timed out";
            break;
        }
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        if (step == STEP_DONE || wsp_conn_should_close_transport(c->ws))
            break;
    }
    end_connection(c);
}

static void *connection_thread(void *arg)
{
    conn_ctx *c = arg;
    c->in = malloc(RECV_BUF_SIZE);
    if (c->in) {
        run_connection(c);
    } else {
        c->detail = "out of memory";
    }
    if (c->fd >= 0) close(c->fd);
    io_tls_free(&c->io);
    /* Detached: main stops waiting once the count below drops, maybe
     * before this thread's exit handlers would free its TLS state. */
    if (tls_ctx) tls_io_thread_done();
    log_conn(c);
    wsp_conn_free(c->ws);
    out_free(&c->out);
    free(c->in);
    free(c);

    pthread_mutex_lock(&conn_lock);
    active_connections--;
    pthread_cond_broadcast(&conn_done);
    pthread_mutex_unlock(&conn_lock);
    return NULL;
}

/* Over the connection cap the client gets a 503 straight from the accept
 * loop, so an overload costs no thread. */
static void refuse_overloaded(int fd, const char *peer)
{
    uint8_t buf[256];
    size_t n = 0;
    set_timeouts(fd, 100, 1);
    /* Over TLS the answer would need a handshake first: just close. */
    if (!tls_ctx && wsp_http_build_error(503, buf, sizeof buf, &n) == WSP_OK)
        send(fd, buf, n, MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    close(fd);
    if (!opts.quiet)
        fprintf(stderr,
                "peer=%s path=- outcome=%s http=503 detail=connection cap "
                "(--max-connections %u) reached\n",
                peer, outcome_name(OUT_OVERLOADED), opts.max_connections);
}

static int open_listener(void)
{
    int fd = net_listen("echo_server", opts.host, opts.port, 0);
    if (fd < 0) return -1;
    char where[INET6_ADDRSTRLEN + 8];
    net_format_local(fd, where, sizeof where);
    /* Always printed, even with --quiet: with --port 0 it is the only way
     * to learn the port. */
    printf("echo_server listening on %s%s\n", where,
           tls_ctx ? " (https and wss)" : "");
    fflush(stdout);
    return fd;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: echo_server [options]\n"
            "  --host ADDR              address to listen on (default 127.0.0.1)\n"
            "  --port PORT              port (default 9001; 0 picks a free one)\n"
            "  --max-message BYTES      largest message and frame accepted\n"
            "                           (default 16777216; larger: close 1009)\n"
            "  --max-fragments N        frames in one message (default %u;\n"
            "                           more: close 1009)\n"
            "  --max-connections N      concurrent connections (default 256;\n"
            "                           more get HTTP 503)\n"
            "  --handshake-timeout SEC  time allowed for the HTTP request (default 10)\n"
            "  --idle-timeout SEC       close idle WebSockets with 1001 (default 120)\n"
            "  --allow-origin ORIGIN    accept browser pages from ORIGIN only, e.g.\n"
            "                           https://example.com (repeatable); others\n"
            "                           get HTTP 403. Off by default: turn it on\n"
            "                           for any server a browser can reach\n"
            "  --allow-null-origin      also accept the origin \"null\" (sandboxed\n"
            "                           frames, file: pages)\n"
            "  --require-origin         refuse requests without Origin (HTTP 403);\n"
            "                           by default non-browser clients, which send\n"
            "                           none, are accepted\n"
            "  --no-deflate             do not accept permessage-deflate compression\n"
            "  --tls-cert FILE          serve https and wss with this certificate\n"
            "                           chain (PEM; needs --tls-key)%s\n"
            "  --tls-key FILE           the certificate's private key (PEM)\n"
            "  --quiet                  no per-connection log lines\n"
            "  --help                   this text\n"
            "GET / without an Upgrade serves a browser echo test page.\n",
            WSP_DEFAULT_MAX_FRAGMENTS,
            tls_io_available() ? "" : " (not in this build)");
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long v = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            opts.quiet = 1;
        } else if (strcmp(a, "--no-deflate") == 0) {
            opts.no_deflate = 1;
        } else if (strcmp(a, "--allow-null-origin") == 0) {
            opts.allow_null_origin = 1;
            opts.origin_check = 1;
        } else if (strcmp(a, "--require-origin") == 0) {
            opts.require_origin = 1;
            opts.origin_check = 1;
        } else if (strcmp(a, "--allow-origin") == 0 && val) {
            if (cli_add_origin("echo_server", val, &opts.allowed_origins,
                               &opts.allowed_origin_count) != 0)
                return -1;
            opts.origin_check = 1;
            i++;
        } else if (strcmp(a, "--tls-cert") == 0 && val) {
            opts.tls_cert = val;
            i++;
        } else if (strcmp(a, "--tls-key") == 0 && val) {
            opts.tls_key = val;
            i++;
        } else if (strcmp(a, "--host") == 0 && val) {
            opts.host = val;
            i++;
        } else if (strcmp(a, "--port") == 0 && val) {
            if (cli_parse_uint(val, 65535, &v) != 0) goto bad_value;
            opts.port = val;
            i++;
        } else if (strcmp(a, "--max-message") == 0 && val) {
            if (cli_parse_uint(val, UINT64_MAX >> 1, &v) != 0 || v == 0)
                goto bad_value;
            opts.max_message = v;
            i++;
        } else if (strcmp(a, "--max-fragments") == 0 && val) {
            if (cli_parse_uint(val, UINT32_MAX, &v) != 0 || v == 0) goto bad_value;
            opts.max_fragments = (uint32_t)v;
            i++;
        } else if (strcmp(a, "--max-connections") == 0 && val) {
            if (cli_parse_uint(val, 100000, &v) != 0 || v == 0) goto bad_value;
            opts.max_connections = (unsigned)v;
            i++;
        } else if (strcmp(a, "--handshake-timeout") == 0 && val) {
            if (cli_parse_uint(val, 86400, &v) != 0 || v == 0) goto bad_value;
            opts.handshake_timeout_s = (unsigned)v;
            i++;
        } else if (strcmp(a, "--idle-timeout") == 0 && val) {
            if (cli_parse_uint(val, 86400, &v) != 0 || v == 0) goto bad_value;
            opts.idle_timeout_s = (unsigned)v;
            i++;
        } else {
            fprintf(stderr, "echo_server: unknown or incomplete option '%s'\n",
                    a);
            usage(stderr);
            return -1;
        }
        continue;
    bad_value:
        fprintf(stderr, "echo_server: bad value '%s' for %s\n", val, a);
        return -1;
    }
    if (!opts.tls_cert != !opts.tls_key) {
        fprintf(stderr, "echo_server: --tls-cert and --tls-key go together\n");
        return -1;
    }
    return 0;
}

static void start_connection(int fd, const struct sockaddr_storage *ss)
{
    char peer[INET6_ADDRSTRLEN + 8];
    net_format_addr((const struct sockaddr *)ss, peer, sizeof peer);

    pthread_mutex_lock(&conn_lock);
    int full = active_connections >= opts.max_connections;
    if (!full) active_connections++;
    pthread_mutex_unlock(&conn_lock);
    if (full) {
        refuse_overloaded(fd, peer);
        return;
    }

    conn_ctx *c = calloc(1, sizeof *c);
    pthread_attr_t attr;
    int ok = c != NULL && pthread_attr_init(&attr) == 0;
    if (ok) {
        c->fd = fd;
        c->io.fd = fd;
        memcpy(c->peer, peer, sizeof peer);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, THREAD_STACK);
        /* Workers never take SIGINT/SIGTERM, so the accept loop's poll
         * is what the signal interrupts. */
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        pthread_t tid;
        ok = pthread_create(&tid, &attr, connection_thread, c) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
    }
    if (!ok) {
        free(c);
        pthread_mutex_lock(&conn_lock);
        active_connections--;
        pthread_mutex_unlock(&conn_lock);
        refuse_overloaded(fd, peer);
    }
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) return 2;
    if (opts.origin_check) {
        origin_policy.enabled = 1;
        origin_policy.origins = opts.allowed_origins;
        origin_policy.count = opts.allowed_origin_count;
        origin_policy.allow_null = opts.allow_null_origin;
        origin_policy.allow_missing = !opts.require_origin;
    }

    if (opts.tls_cert) {
        tls_ctx = tls_server_context(opts.tls_cert, opts.tls_key);
        if (!tls_ctx) return 1;
    }

    if (pipe(stop_pipe) != 0) {
        perror("echo_server: pipe");
        return 1;
    }
    fcntl(stop_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(stop_pipe[1], F_SETFD, FD_CLOEXEC);
    fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK);
    net_handle_signals(on_signal);

    int lfd = open_listener();
    if (lfd < 0) return 1;

    while (!stopping()) {
        struct pollfd pfd[2] = {{lfd, POLLIN, 0}, {stop_pipe[0], POLLIN, 0}};
        int pr = poll(pfd, 2, -1);
        if (pr < 0) {
            if (errno == EINTR) continue;
            perror("echo_server: poll");
            break;
        }
        if (pfd[1].revents) break;
        if (!(pfd[0].revents & POLLIN)) continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept(lfd, (struct sockaddr *)&ss, &sl);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* Out of descriptors: back off instead of spinning; the
                 * pending connection waits in the backlog. */
                struct timespec ts = {0, 100 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        start_connection(fd, &ss);
    }
    close(lfd);

    /* Workers notice the flag within one receive slice, send 1001 and wait
     * briefly for the close reply; give them that long and a bit more. */
    pthread_mutex_lock(&conn_lock);
    unsigned left = active_connections;
    if (!opts.quiet && left > 0)
        fprintf(stderr, "echo_server: shutting down, closing %u connection(s)\n",
                left);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += SHUTDOWN_WAIT_MS / 1000;
    while (active_connections > 0) {
        if (pthread_cond_timedwait(&conn_done, &conn_lock, &until) != 0) break;
    }
    left = active_connections;
    pthread_mutex_unlock(&conn_lock);
    if (!opts.quiet) fprintf(stderr, "echo_server: stopped\n");
    /* Workers still running (left > 0) may hold the context. */
    if (left == 0) tls_context_free(tls_ctx);
    return left == 0 ? 0 : 1;
}
