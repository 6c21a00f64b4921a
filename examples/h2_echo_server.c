/*
 * h2_echo_server: WebSocket over HTTP/2 (RFC 8441) with nghttp2, on one
 * epoll loop with non-blocking sockets.
 *
 *   h2_echo_server [options]        (--help lists them)
 *
 * HTTP/2 over TLS with ALPN "h2" (--tls-cert/--tls-key), or cleartext h2c
 * with prior knowledge. The server's SETTINGS carry
 * SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, which is what tells a client (a
 * browser included) that it may open WebSockets as streams of this
 * connection. On every stream:
 *   - an extended CONNECT (":protocol: websocket", any path) becomes a
 *     libwsproto server connection; the stream's DATA frames carry its
 *     WebSocket frames both ways and every message is echoed;
 *   - GET / answers the browser echo page; anything else gets 404.
 *
 * The library never sees HTTP/2: nghttp2 parses the request's header
 * fields, wsp_conn_accept_connect() validates them and says which
 * :status and headers to answer, and from then on the stream's DATA bytes
 * go through wsp_conn_recv() / wsp_conn_send() exactly as TCP bytes would.
 *
 * Flow control is what makes this more than glue. Each WebSocket stream
 * has a bounded input buffer and a bounded output queue:
 *   - received DATA is handed to nghttp2_session_consume() only once
 *     wsp_conn_recv() has taken it (automatic WINDOW_UPDATEs are off); what
 *     it has not taken waits in the stream's input buffer, so a peer that
 *     sends faster than its echo drains sees its stream window close
 *     instead of growing our memory;
 *   - echoes go into the output queue, which an nghttp2 data provider
 *     drains as the peer's window allows; input is not processed while
 *     the queue is over its limit, which closes the loop.
 * The input buffer never needs more than the stream's receive window: the
 * peer cannot send more than that without our consuming some.
 */
#define _GNU_SOURCE

#include "cli.h"
#include "net.h"
#include "plain_http.h"
#include "tls_io.h"
#include "wsproto.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* The receive window we give each stream. It is also the most a stream's
 * input buffer can hold (see above), and the HTTP/2 default of 65535 is
 * what a peer may use before it has seen our SETTINGS. */
#define STREAM_WINDOW (128u * 1024u)
/* Echo bytes queued on a stream before its input stops being processed. */
#define STREAM_OUT_LIMIT (128u * 1024u)
/* Bytes nghttp2 has produced that the socket has not taken yet, past which
 * we stop asking nghttp2 for more. */
#define CONN_OUT_HIGH (64u * 1024u)
/* Header bytes kept per request (names and values); more gets 431. */
#define HEADER_BYTES 8192u
#define MAX_HEADERS 64u
#define READ_SIZE (64u * 1024u)
/* Output that would take the connection's queue to this many bytes is
 * written at once, the newest pieces from where they lie (see
 * conn_emitv). */
#define DIRECT_WRITE_MIN CONN_OUT_HIGH
#define TLS_RECORD_MAX 16384u
#define TICK_MS 200
#define MAX_EVENTS 64


static struct {
    const char *host;
    unsigned port;
    uint64_t max_message;
    uint32_t max_streams;
    unsigned max_connections;
    uint32_t handshake_ms, idle_ms, close_ms, drain_ms, send_ms;
    int quiet, no_deflate;
    const char *tls_cert, *tls_key;
} opts = {
    .host = "127.0.0.1",
    .port = 9003,
    .max_message = 16u * 1024u * 1024u,
    .max_streams = 100,
    .max_connections = 1000,
    .handshake_ms = 10000,
    .idle_ms = 120000,
    .close_ms = 5000,
    .drain_ms = 5000,
    .send_ms = 10000,
};

static wsp_config g_cfg;
static const wsp_deflate_config g_deflate_cfg; /* the library's defaults */
static SSL_CTX *g_tls;
static nghttp2_session_callbacks *g_callbacks;
static nghttp2_option *g_h2_options;
static uint8_t *g_page;
static size_t g_page_len;

/* ------------------------------------------------------------------------
 * Records.
 * ---------------------------------------------------------------------- */
enum stream_kind {
    SK_REQUEST,   /* header fields still arriving */
    SK_WEBSOCKET, /* accepted extended CONNECT */
    SK_PAGE,      /* GET /: the body comes from g_page */
    SK_ANSWERED   /* an error or 404 went out with its headers */
};

/* How a stream ended, for its log line. */
enum stream_outcome {
    SO_NONE,
    SO_CLOSED,        /* close handshake completed */
    SO_FAILED,        /* WebSocket protocol error: our close frame went out */
    SO_DROPPED,       /* peer ended its half without a close frame */
    SO_RESET,         /* RST_STREAM, or the connection went away */
    SO_SHUTDOWN,      /* we closed with 1001 (SIGTERM or idle connection) */
    SO_CLOSE_TIMEOUT, /* no close reply or END_STREAM within --close-timeout */
    SO_REJECTED,      /* the extended CONNECT was answered with an error */
    SO_PAGE,
    SO_NOT_FOUND
};
static const char *const stream_outcome_name[] = {
    "open", "closed", "protocol-error", "dropped", "reset", "shutdown",
    "close-timeout", "rejected", "page", "not-found"};

/* A request's header fields, copied out of nghttp2's buffers because the
 * request is judged only once the whole header block is in. */
typedef struct header_block {
    char bytes[HEADER_BYTES];
    size_t used;
    wsp_header fields[MAX_HEADERS]; /* regular fields */
    size_t count;
    wsp_header method, protocol, scheme, authority, path; /* pseudo-fields */
    int too_large;
} header_block;

/* A growable byte queue: [off, len) is unread. */
typedef struct byte_queue {
    uint8_t *buf;
    size_t off, len, cap;
} byte_queue;

struct h2conn;

typedef struct stream {
    struct h2conn *conn;
    int32_t id;
    enum stream_kind kind;
    enum stream_outcome outcome;
    header_block *headers; /* only while kind == SK_REQUEST */
    char path[96];
    int http_status;
    wsp_conn *ws;
    uint8_t *in; /* received DATA not yet taken by wsp_conn_recv */
    size_t in_len, in_cap;
    byte_queue out; /* WebSocket bytes for the data provider; page offset */
    int deferred;       /* the data provider said NGHTTP2_ERR_DEFERRED */
    int inflate_more;   /* wsp_conn_recv may still have events with no input */
    int blocked;        /* input waits for room in the output queue */
    int peer_ended;     /* END_STREAM received */
    uint64_t close_deadline; /* 0: none */
    uint16_t close_in, close_out;
    unsigned long long messages, bytes;
    struct stream *prev, *next;
} stream;

enum conn_phase {
    CP_TLS_HANDSHAKE,
    CP_H2,
    CP_TLS_CLOSING /* HTTP/2 ended in order; our close_notify waits for room
                    * in the socket (closing TCP first truncates the stream) */
};

typedef struct h2conn {
    int fd;
    SSL *ssl;
    nghttp2_session *session;
    enum conn_phase phase;
    char peer[48];
    char alpn_offered[64]; /* when a TLS client offered no "h2" */
    byte_queue out;        /* bytes from nghttp2 the socket has not taken */
    uint64_t out_progress; /* last time out was empty or shrank */
    size_t tls_retry;      /* length of an SSL_write to repeat, or 0 */
    int tls_want_write;    /* the TLS handshake waits for the socket */
    int got_settings;      /* the client's SETTINGS arrived */
    int shutting_down;     /* 1001 closes sent, GOAWAY sent or pending */
    int goaway_pending;
    int dead;
    const char *outcome;   /* why the connection ended */
    uint32_t epoll_events;
    uint64_t accepted_at, last_read, deadline; /* deadline: 0 or hard end */
    unsigned streams_total, websockets_total;
    stream *streams;
    struct h2conn *prev, *next;
} h2conn;

static h2conn *g_conns;
/* Every connection's reads land here (see on_data_chunk). */
static uint8_t g_read_buf[READ_SIZE];
static unsigned g_conn_count;
static int g_ep = -1;

/* ------------------------------------------------------------------------
 * Byte queues. Their limits are enforced by whoever appends: this only
 * grows the buffer, with the size computation checked.
 * ---------------------------------------------------------------------- */
static size_t queue_used(const byte_queue *q)
{
    return q->len - q->off;
}

/* Room for `need` more bytes at buf + len; NULL when out of memory. */
static uint8_t *queue_reserve(byte_queue *q, size_t need)
{
    if (q->off > 0 && q->cap - q->len < need) {
        memmove(q->buf, q->buf + q->off, q->len - q->off);
        q->len -= q->off;
        q->off = 0;
    }
    if (q->cap - q->len < need) {
        if (need > SIZE_MAX / 2 - q->len) return NULL;
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + need) cap *= 2;
        uint8_t *b = realloc(q->buf, cap);
        if (!b) return NULL;
        q->buf = b;
        q->cap = cap;
    }
    return q->buf + q->len;
}

static void queue_consume(byte_queue *q, size_t n)
{
    q->off += n;
    if (q->off == q->len) q->off = q->len = 0;
}

/* ------------------------------------------------------------------------
 * Logging.
 * ---------------------------------------------------------------------- */
static void log_stream(const stream *s)
{
    if (opts.quiet) return;
    h2conn *c = s->conn;
    if (s->kind == SK_WEBSOCKET) {
        /* The transport phrase is what a reader (and the browser test)
         * looks for: this WebSocket is a stream of an HTTP/2 connection. */
        fprintf(stderr,
                "peer=%s ws over h2 stream %d%s path=%s outcome=%s "
                "close_in=%u close_out=%u messages=%llu bytes=%llu deflate=%s\n",
                c->peer, s->id, c->ssl ? " (tls)" : "", s->path,
                stream_outcome_name[s->outcome], s->close_in, s->close_out,
                s->messages, s->bytes,
                s->ws && wsp_conn_deflate_active(s->ws) ? "on" : "off");
    } else {
        fprintf(stderr, "peer=%s h2 stream %d path=%s outcome=%s http=%d\n",
                c->peer, s->id, s->path, stream_outcome_name[s->outcome],
                s->http_status);
    }
}

static void log_conn(const h2conn *c)
{
    if (opts.quiet) return;
    fprintf(stderr, "peer=%s conn transport=%s outcome=%s streams=%u websockets=%u%s%s\n",
            c->peer, c->ssl ? "h2 (tls, alpn h2)" : "h2c", c->outcome,
            c->streams_total, c->websockets_total,
            c->alpn_offered[0] ? " alpn_offered=" : "", c->alpn_offered);
}

/* The first reason a connection ends for is the one logged: an EOF after
 * a timeout closed it is the timeout's doing. */
static void end_reason(h2conn *c, const char *why)
{
    if (!c->outcome) c->outcome = why;
}

/* ------------------------------------------------------------------------
 * Streams.
 * ---------------------------------------------------------------------- */
static void stream_free(stream *s)
{
    h2conn *c = s->conn;
    if (s->prev) s->prev->next = s->next;
    else c->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    if (s->ws) {
        wsp_conn_deinit(s->ws);
        free(s->ws);
    }
    free(s->headers);
    free(s->in);
    free(s->out.buf);
    free(s);
}

static int ws_finished(const stream *s)
{
    return wsp_conn_state(s->ws) == WSP_STATE_CLOSED || s->outcome == SO_DROPPED;
}

/* Moves what the connection queued by itself (pongs, close replies, the
 * close frame of a failure) into the output queue. */
static int queue_pending(stream *s)
{
    size_t n = wsp_conn_pending_size(s->ws), written = 0;
    if (n == 0) return 0;
    uint8_t *dst = queue_reserve(&s->out, n);
    if (!dst || wsp_conn_flush(s->ws, dst, n, &written) != WSP_OK) return -1;
    s->out.len += written;
    return 0;
}

/* Echoes one piece of a message, as it arrived: pieces of one message
 * keep it open with WSP_SEND_MORE, so nothing is assembled. */
static int echo_piece(stream *s, const wsp_data_event *d)
{
    size_t bound = 0, written = 0;
    if (wsp_conn_send_bound(s->ws, d->len, &bound) != WSP_OK) return -1;
    uint8_t *dst = queue_reserve(&s->out, bound);
    if (!dst) return -1;
    unsigned flags = (d->flags & WSP_DATA_LAST) ? 0u : WSP_SEND_MORE;
    int st = wsp_conn_send(s->ws, d->opcode, d->payload, d->len, flags, dst,
                           bound, &written);
    /* A close already sent (we are shutting down) ends the echoes. */
    if (st == WSP_ERR_STATE) return 0;
    if (st != WSP_OK) return -1;
    s->out.len += written;
    s->bytes += d->len;
    if (d->flags & WSP_DATA_LAST) s->messages++;
    return 0;
}

/* Appends received bytes to the stream's input buffer; 0, or -1 when out
 * of memory. */
static int stream_in_append(stream *s, const uint8_t *data, size_t len)
{
    if (len > s->in_cap - s->in_len) {
        /* Grow toward the window; nghttp2 enforces that window, so the
         * peer cannot make us go beyond it. */
        size_t cap = s->in_cap ? s->in_cap : 4096;
        while (cap < s->in_len + len && cap < STREAM_WINDOW) cap *= 2;
        uint8_t *in = cap >= s->in_len + len ? realloc(s->in, cap) : NULL;
        if (!in) return -1;
        s->in = in;
        s->in_cap = cap;
    }
    memcpy(s->in + s->in_len, data, len);
    s->in_len += len;
    return 0;
}

/* Runs received bytes (the stream's input buffer, or a DATA chunk where
 * it lies when that buffer is empty) through the WebSocket connection
 * while the output queue has room, keeps what it did not take in the
 * input buffer, and returns to nghttp2 the bytes it took, which reopens
 * the peer's window by that much. */
static void stream_pump_from(stream *s, uint8_t *in, size_t len)
{
    h2conn *c = s->conn;
    size_t taken = 0;
    int failed = 0;
    s->blocked = 0;
    while (len > taken || s->inflate_more) {
        if (queue_used(&s->out) >= STREAM_OUT_LIMIT) {
            /* The rest waits, unconsumed, until the data provider has
             * drained the queue (conn_service comes back here). */
            s->blocked = 1;
            break;
        }
        size_t used = 0;
        wsp_event ev;
        /* An input buffer never allocated (every chunk so far was taken
         * where it lay) still has inflated events to give. */
        static uint8_t no_input;
        uint8_t *at = in ? in + taken : &no_input;
        int st = wsp_conn_recv(s->ws, at, len - taken, &used, &ev);
        taken += used;
        /* A compressed message may have more events without more input. */
        s->inflate_more = st == WSP_OK && ev.type != WSP_EV_NONE;
        if (st == WSP_ERR_CLOSED) {
            /* After the close handshake the peer's bytes mean nothing. */
            taken = len;
            break;
        }
        switch (ev.type) {
        case WSP_EV_DATA:
            if (echo_piece(s, &ev.u.data) != 0) failed = 1;
            break;
        case WSP_EV_CLOSE:
            s->close_in = ev.u.close.code;
            if (!s->close_out) s->close_out = ev.u.close.code;
            if (s->outcome == SO_NONE) s->outcome = SO_CLOSED;
            break;
        case WSP_EV_FAILURE:
            if (!s->close_out) s->close_out = ev.u.failure.close_code;
            s->outcome = SO_FAILED;
            break;
        default: /* pings are answered by the library; pongs need nothing */
            break;
        }
        if (queue_pending(s) != 0) failed = 1;
        if (failed || ev.type == WSP_EV_NONE || st != WSP_OK) break;
    }
    if (in == s->in) {
        if (taken > 0) memmove(s->in, s->in + taken, s->in_len - taken);
        s->in_len -= taken;
    } else if (taken < len && stream_in_append(s, in + taken, len - taken) != 0) {
        /* Nowhere to keep the rest: it is dropped, and its window with it. */
        taken = len;
        failed = 1;
    }
    if (taken > 0) nghttp2_session_consume(c->session, s->id, taken);
    if (failed) {
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id,
                                  NGHTTP2_INTERNAL_ERROR);
        return;
    }
    /* The peer ended its half mid-conversation: like a TCP EOF without a
     * close frame, the WebSocket is over, but what is queued still goes. */
    if (s->peer_ended && !s->blocked && wsp_conn_state(s->ws) != WSP_STATE_CLOSED &&
        s->outcome == SO_NONE)
        s->outcome = SO_DROPPED;
    if (s->deferred && (queue_used(&s->out) > 0 || ws_finished(s))) {
        s->deferred = 0;
        nghttp2_session_resume_data(c->session, s->id);
    }
}

static void stream_pump(stream *s)
{
    stream_pump_from(s, s->in, s->in_len);
}

/* Starts a close with `code` on an open WebSocket stream (shutdown, idle
 * connection) and gives the peer --close-timeout to answer. */
static void stream_close_ws(stream *s, uint16_t code, const char *reason,
                            enum stream_outcome why)
{
    if (s->kind != SK_WEBSOCKET || wsp_conn_state(s->ws) != WSP_STATE_OPEN) return;
    size_t need = wsp_conn_pending_size(s->ws) + WSP_MAX_FRAME_HEADER + 125u;
    size_t written = 0;
    uint8_t *dst = queue_reserve(&s->out, need);
    if (!dst) return;
    if (wsp_conn_close(s->ws, code, reason, strlen(reason), dst, need, &written) != WSP_OK)
        return;
    s->out.len += written;
    s->close_out = code;
    s->outcome = why;
    s->close_deadline = mono_ms() + opts.close_ms;
    if (s->deferred) {
        s->deferred = 0;
        nghttp2_session_resume_data(s->conn->session, s->id);
    }
}

/* The data provider behind every response body: the echo page (copied
 * into nghttp2's frame buffer: it is small and sent once), or a WebSocket
 * stream's output queue, which send_ws_data() below writes out itself
 * (NGHTTP2_DATA_FLAG_NO_COPY) so that echoes are not copied into nghttp2
 * and out again. */
static ssize_t read_body(nghttp2_session *session, int32_t stream_id,
                         uint8_t *buf, size_t length, uint32_t *data_flags,
                         nghttp2_data_source *source, void *user_data)
{
    (void)session;
    (void)stream_id;
    (void)user_data;
    stream *s = source->ptr;
    if (s->kind == SK_PAGE) {
        size_t n = g_page_len - s->out.off;
        if (n > length) n = length;
        memcpy(buf, g_page + s->out.off, n);
        s->out.off += n;
        if (s->out.off == g_page_len) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    size_t n = queue_used(&s->out);
    if (n == 0) {
        if (ws_finished(s)) {
            /* RFC 8441 5 maps the TCP closes of RFC 6455 onto the stream:
             * an orderly one is END_STREAM, a reset is RST_STREAM(CANCEL).
             * A failed WebSocket ends in order too (RFC 6455 7.1.7: send
             * the close frame, then close the transport), so its close
             * frame, already in the queue, is never lost to a reset. */
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
            return 0;
        }
        s->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (n > length) n = length;
    /* The queue's front stays put until send_ws_data() takes these bytes:
     * only the end of the queue grows meanwhile. */
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == queue_used(&s->out) && ws_finished(s)) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* ------------------------------------------------------------------------
 * Requests.
 * ---------------------------------------------------------------------- */
static int submit_headers(stream *s, int status, const wsp_header *extra,
                          size_t extra_count, int with_body)
{
    nghttp2_nv nv[8];
    char status_text[8];
    size_t n = 0;
    snprintf(status_text, sizeof status_text, "%d", status);
    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status_text, 7,
                           strlen(status_text), NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < extra_count && n < sizeof nv / sizeof nv[0]; i++)
        nv[n++] = (nghttp2_nv){(uint8_t *)extra[i].name, (uint8_t *)extra[i].value,
                               extra[i].name_len, extra[i].value_len,
                               NGHTTP2_NV_FLAG_NONE};
    nghttp2_data_provider body = {.source.ptr = s, .read_callback = read_body};
    s->http_status = status;
    /* nghttp2 copies the fields: the buffers may go after this call. */
    return nghttp2_submit_response(s->conn->session, s->id, nv, n,
                                   with_body ? &body : NULL);
}

static void answer_websocket(stream *s, const header_block *h)
{
    wsp_connect_request req = {
        .method = h->method.value, .method_len = h->method.value_len,
        .protocol = h->protocol.value, .protocol_len = h->protocol.value_len,
        .scheme = h->scheme.value, .scheme_len = h->scheme.value_len,
        .authority = h->authority.value, .authority_len = h->authority.value_len,
        .path = h->path.value, .path_len = h->path.value_len,
        .headers = {.array = h->fields, .count = h->count},
    };
    wsp_accept_options aopts = {.no_deflate = opts.no_deflate};
    wsp_connect_response resp;
    char buf[WSP_CONNECT_RESPONSE_MAX];

    s->ws = malloc(wsp_conn_size());
    if (!s->ws || wsp_conn_init(s->ws, &g_cfg) != WSP_OK) {
        free(s->ws);
        s->ws = NULL;
        nghttp2_submit_rst_stream(s->conn->session, NGHTTP2_FLAG_NONE, s->id,
                                  NGHTTP2_INTERNAL_ERROR);
        return;
    }
    int st = wsp_conn_accept_connect(s->ws, &req, &aopts, buf, sizeof buf, &resp);
    if (st != WSP_OK) {
        s->kind = SK_ANSWERED;
        s->outcome = SO_REJECTED;
        if (resp.status == 0) {
            /* Not the request's fault (out of memory, a bug): no answer
             * the client could act on. */
            nghttp2_submit_rst_stream(s->conn->session, NGHTTP2_FLAG_NONE,
                                      s->id, NGHTTP2_INTERNAL_ERROR);
            return;
        }
        submit_headers(s, resp.status, resp.headers, resp.header_count, 0);
        return;
    }
    s->kind = SK_WEBSOCKET;
    s->conn->websockets_total++;
    /* The response has no END_STREAM: the body is the server's half of the
     * WebSocket, open until the close handshake. */
    submit_headers(s, resp.status, resp.headers, resp.header_count, 1);
    /* A stream that raced our shutdown is told at once. */
    if (s->conn->shutting_down)
        stream_close_ws(s, 1001, "server going away", SO_SHUTDOWN);
}

static void answer_request(stream *s)
{
    header_block *h = s->headers;
    s->headers = NULL;
    size_t plen = h->path.value_len < sizeof s->path - 1 ? h->path.value_len
                                                         : sizeof s->path - 1;
    memcpy(s->path, h->path.value ? h->path.value : "", plen);
    s->path[plen] = '\0';
    if (!plen) snprintf(s->path, sizeof s->path, "-");

    if (h->too_large) {
        s->kind = SK_ANSWERED;
        s->outcome = SO_REJECTED;
        submit_headers(s, 431, NULL, 0, 0);
    } else if (h->method.value_len == 7 && memcmp(h->method.value, "CONNECT", 7) == 0) {
        /* The library judges every CONNECT: a missing :protocol is a plain
         * (proxy) CONNECT, which it answers with the right error. */
        answer_websocket(s, h);
    } else if (h->method.value_len == 3 && memcmp(h->method.value, "GET", 3) == 0 &&
               h->path.value_len == 1 && h->path.value[0] == '/') {
        static const wsp_header page_headers[] = {
            {"content-type", 12, "text/html; charset=utf-8", 24},
            {"cache-control", 13, "no-store", 8},
        };
        s->kind = SK_PAGE;
        s->outcome = SO_PAGE;
        submit_headers(s, 200, page_headers, 2, 1);
    } else {
        s->kind = SK_ANSWERED;
        s->outcome = SO_NOT_FOUND;
        submit_headers(s, 404, NULL, 0, 0);
    }
    free(h);
}

/* ------------------------------------------------------------------------
 * nghttp2 callbacks.
 * ---------------------------------------------------------------------- */
static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame,
                            void *user_data)
{
    h2conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    stream *s = calloc(1, sizeof *s);
    if (s) s->headers = calloc(1, sizeof *s->headers);
    if (!s || !s->headers) {
        free(s);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM */
    }
    s->conn = c;
    s->id = frame->hd.stream_id;
    snprintf(s->path, sizeof s->path, "-");
    s->next = c->streams;
    if (c->streams) c->streams->prev = s;
    c->streams = s;
    c->streams_total++;
    nghttp2_session_set_stream_user_data(session, s->id, s);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *user_data)
{
    (void)flags;
    (void)user_data;
    stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s || !s->headers) return 0; /* trailers: ignored */
    header_block *h = s->headers;
    if (h->too_large) return 0;
    if (namelen + valuelen > sizeof h->bytes - h->used || h->count == MAX_HEADERS) {
        h->too_large = 1; /* answered with 431 once the block is complete */
        return 0;
    }
    char *n = h->bytes + h->used;
    memcpy(n, name, namelen);
    memcpy(n + namelen, value, valuelen);
    h->used += namelen + valuelen;
    wsp_header f = {n, namelen, n + namelen, valuelen};
    /* nghttp2 has already checked that pseudo-fields come first, are
     * known, and appear once. */
    if (namelen > 0 && name[0] == ':') {
        wsp_header *slot = NULL;
        if (namelen == 7 && memcmp(name, ":method", 7) == 0) slot = &h->method;
        else if (namelen == 9 && memcmp(name, ":protocol", 9) == 0) slot = &h->protocol;
        else if (namelen == 7 && memcmp(name, ":scheme", 7) == 0) slot = &h->scheme;
        else if (namelen == 10 && memcmp(name, ":authority", 10) == 0) slot = &h->authority;
        else if (namelen == 5 && memcmp(name, ":path", 5) == 0) slot = &h->path;
        if (slot) *slot = f;
    } else {
        h->fields[h->count++] = f;
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                         void *user_data)
{
    h2conn *c = user_data;
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
        c->got_settings = 1;
    if (frame->hd.stream_id == 0) return 0;
    stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && s->headers) answer_request(s);
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        s->peer_ended = 1;
        if (s->kind == SK_WEBSOCKET) stream_pump(s);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    (void)flags;
    (void)user_data;
    stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s || s->kind != SK_WEBSOCKET) {
        /* A body nobody reads (a request to the page, a rejected CONNECT)
         * is dropped, and its window handed back. */
        nghttp2_session_consume(session, stream_id, len);
        return 0;
    }
    /* nghttp2 hands DATA payload over where it lies in the bytes given to
     * nghttp2_session_mem_recv(), which are g_read_buf: when nothing is
     * kept from before, the WebSocket layer (which unmasks in place) takes
     * them from there, and only what it keeps back is copied. The address
     * check keeps this correct should nghttp2 ever buffer them itself. */
    uintptr_t at = (uintptr_t)data, base = (uintptr_t)g_read_buf;
    if (s->in_len == 0 && at >= base && at - base <= sizeof g_read_buf &&
        len <= sizeof g_read_buf - (at - base)) {
        stream_pump_from(s, g_read_buf + (at - base), len);
        return 0;
    }
    if (stream_in_append(s, data, len) != 0) {
        nghttp2_session_consume(session, stream_id, len);
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    stream_pump(s);
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame,
                         void *user_data)
{
    (void)user_data;
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
    stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s) return 0;
    if (nghttp2_session_get_stream_remote_close(session, s->id)) return 0;
    /* Our half is complete but the client's is still open. After an
     * answer that ends the exchange (a failed WebSocket, whose close frame
     * has now gone out; a rejected CONNECT) RFC 9113 8.1 lets a server stop
     * the client with RST_STREAM(NO_ERROR). After a clean close the client
     * ends its half itself; --close-timeout bounds the wait. */
    if (s->outcome == SO_FAILED || s->outcome == SO_REJECTED || s->kind != SK_WEBSOCKET)
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
    else
        s->close_deadline = mono_ms() + opts.close_ms;
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id,
                           uint32_t error_code, void *user_data)
{
    (void)error_code;
    (void)user_data;
    stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s) return 0;
    /* Bytes the WebSocket never took still count against the connection
     * window: hand them back, or the connection would slowly shut. */
    if (s->in_len) nghttp2_session_consume_connection(session, s->in_len);
    if (s->outcome == SO_NONE) s->outcome = SO_RESET;
    log_stream(s);
    stream_free(s);
    return 0;
}

static int send_ws_data(nghttp2_session *session, nghttp2_frame *frame,
                        const uint8_t *framehd, size_t length,
                        nghttp2_data_source *source, void *user_data);

static nghttp2_session_callbacks *make_callbacks(void)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0) return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_send_data_callback(cb, send_ws_data);
    return cb;
}

/* ------------------------------------------------------------------------
 * Connections: socket and TLS I/O.
 * ---------------------------------------------------------------------- */
static int start_h2(h2conn *c)
{
    if (nghttp2_session_server_new2(&c->session, g_callbacks, c, g_h2_options) != 0)
        return -1;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, opts.max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, HEADER_BYTES},
        /* RFC 8441 3: without it no client may send :protocol. */
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
    };
    /* The connection window covers every stream's window, so one stream
     * whose echo is stalled never holds back its neighbours. */
    uint64_t conn_window = (uint64_t)opts.max_streams * STREAM_WINDOW;
    if (conn_window > INT32_MAX) conn_window = INT32_MAX;
    if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings,
                                sizeof settings / sizeof settings[0]) != 0 ||
        nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
                                              (int32_t)conn_window) != 0)
        return -1;
    c->phase = CP_H2;
    return 0;
}

/* One write of up to n bytes from p: the bytes the socket (or TLS) took,
 * 0 when it is full, -1 when the connection is gone. */
static ssize_t sock_write(h2conn *c, const uint8_t *p, size_t n)
{
    if (c->ssl) {
        /* OpenSSL wants a write it refused repeated with the same length
         * (and bytes: the caller queues them, and the queue's front does
         * not change meanwhile). */
        if (c->tls_retry) n = c->tls_retry;
        else if (n > TLS_RECORD_MAX) n = TLS_RECORD_MAX;
        size_t w = 0;
        ERR_clear_error();
        int r = SSL_write_ex(c->ssl, p, n, &w);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                c->tls_retry = n;
                return 0;
            }
            return -1;
        }
        c->tls_retry = 0;
        return (ssize_t)w;
    }
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    return w;
}

/* Appends to the connection's output; 0, or -1 (out of memory). */
static int conn_queue(h2conn *c, const uint8_t *p, size_t n)
{
    if (n == 0) return 0;
    /* The send-stall clock starts when output starts waiting. */
    if (queue_used(&c->out) == 0) c->out_progress = mono_ms();
    uint8_t *dst = queue_reserve(&c->out, n);
    if (!dst) {
        end_reason(c, "out-of-memory");
        return -1;
    }
    memcpy(dst, p, n);
    c->out.len += n;
    return 0;
}

/* Sends pieces that must follow what is queued. They are queued until
 * the queue and they reach DIRECT_WRITE_MIN, so that many frames leave in
 * one system call (a writev per 16 KiB DATA frame cost more than the copy
 * it saved); then one writev takes the queue and the new pieces from
 * where they lie, and only what the socket does not take is queued. TLS
 * always queues, since a record is built from one buffer. 0, or -1 when the connection is gone
 * (c->outcome says why). */
static int conn_emitv(h2conn *c, const struct iovec *parts, size_t count)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++) total += parts[i].iov_len;
    size_t skip = 0; /* bytes of parts the socket took */
    if (!c->ssl && count <= 2 && total >= DIRECT_WRITE_MIN - queue_used(&c->out)) {
        struct iovec iov[3];
        int k = 0;
        size_t queued = queue_used(&c->out);
        if (queued) iov[k++] = (struct iovec){c->out.buf + c->out.off, queued};
        for (size_t i = 0; i < count; i++) iov[k++] = parts[i];
        ssize_t w;
        do {
            w = writev(c->fd, iov, k);
        } while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN) {
            end_reason(c, "write-error");
            return -1;
        }
        size_t took = w > 0 ? (size_t)w : 0;
        size_t from_queue = took < queued ? took : queued;
        if (from_queue) {
            queue_consume(&c->out, from_queue);
            c->out_progress = mono_ms();
        }
        skip = took - from_queue;
    }
    for (size_t i = 0; i < count; i++) {
        size_t len = parts[i].iov_len;
        size_t sent = skip < len ? skip : len;
        skip -= sent;
        if (conn_queue(c, (const uint8_t *)parts[i].iov_base + sent, len - sent) != 0)
            return -1;
    }
    return 0;
}

/* Writes what is queued; 0, or -1 when the connection is gone. */
static int conn_write(h2conn *c)
{
    while (queue_used(&c->out) > 0) {
        ssize_t w = sock_write(c, c->out.buf + c->out.off, queue_used(&c->out));
        if (w < 0) return -1;
        if (w == 0) return 0;
        queue_consume(&c->out, (size_t)w);
        c->out_progress = mono_ms();
    }
    return 0;
}

/* nghttp2's send_data_callback for a WebSocket stream's DATA frame (see
 * read_body): the frame header and the queue's front go out without
 * passing through nghttp2's buffers. */
static int send_ws_data(nghttp2_session *session, nghttp2_frame *frame,
                        const uint8_t *framehd, size_t length,
                        nghttp2_data_source *source, void *user_data)
{
    (void)session;
    h2conn *c = user_data;
    stream *s = source->ptr;
    /* No select_padding callback is set, so nghttp2 never pads. */
    if (frame->data.padlen != 0 || length > queue_used(&s->out))
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    const struct iovec parts[2] = {{(void *)(uintptr_t)framehd, 9},
                                   {s->out.buf + s->out.off, length}};
    if (conn_emitv(c, parts, 2) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    queue_consume(&s->out, length);
    return 0;
}

/* Feeds everything the socket has to nghttp2; 0, or -1 when the
 * connection is over (c->outcome says why). */
static int conn_read(h2conn *c, uint64_t now)
{
    uint8_t *buf = g_read_buf;
    for (;;) {
        size_t got = 0;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read_ex(c->ssl, buf, READ_SIZE, &got);
            if (r != 1) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
                end_reason(c, e != SSL_ERROR_ZERO_RETURN ? "tls-error"
                             : c->streams           ? "dropped"
                                                    : "closed");
                return -1;
            }
        } else {
            ssize_t r = recv(c->fd, buf, READ_SIZE, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
            if (r <= 0) {
                end_reason(c, r < 0 ? "read-error" : c->streams ? "dropped" : "closed");
                return -1;
            }
            got = (size_t)r;
        }
        c->last_read = now;
        ssize_t used = nghttp2_session_mem_recv(c->session, buf, got);
        if (used < 0) {
            /* A client that is not speaking HTTP/2 (an HTTP/1.1 request on
             * the h2c port) ends here too. */
            end_reason(c, used == NGHTTP2_ERR_BAD_CLIENT_MAGIC ? "not-http2" : "h2-error");
            return -1;
        }
    }
}

static int conn_tls_handshake(h2conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    c->tls_want_write = 0;
    if (r != 1) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) return 0;
        if (e == SSL_ERROR_WANT_WRITE) {
            c->tls_want_write = 1;
            return 0;
        }
        end_reason(c, c->alpn_offered[0] ? "no-h2" : "tls-error");
        return -1;
    }
    const unsigned char *proto = NULL;
    unsigned proto_len = 0;
    SSL_get0_alpn_selected(c->ssl, &proto, &proto_len);
    if (proto_len != 2 || memcmp(proto, "h2", 2) != 0) {
        /* RFC 9113 3.2: HTTP/2 over TLS is chosen with ALPN, nothing else. */
        end_reason(c, "no-alpn");
        return -1;
    }
    return start_h2(c);
}

/* Chooses "h2" or refuses the handshake: this server speaks nothing else,
 * and a client that offers only http/1.1 (a browser opening a WebSocket on
 * a connection of its own) is logged with what it offered. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)arg;
    h2conn *c = SSL_get_app_data(ssl);
    size_t used = 0;
    for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
        unsigned len = in[i];
        if (i + 1u + len > inlen) break;
        if (len == 2 && memcmp(in + i + 1, "h2", 2) == 0) {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
        if (c && used + len + 2 < sizeof c->alpn_offered) {
            if (used) c->alpn_offered[used++] = ',';
            memcpy(c->alpn_offered + used, in + i + 1, len);
            used += len;
            c->alpn_offered[used] = '\0';
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* 1: our close_notify is out, or can never go (the socket failed);
 * 0: the socket is full, try again when it is writable. The peer's
 * close_notify is not waited for. */
static int conn_close_notify_done(h2conn *c)
{
    ERR_clear_error();
    int r = SSL_shutdown(c->ssl);
    if (r >= 0) return 1;
    int e = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    return e != SSL_ERROR_WANT_WRITE;
}

static void conn_free(h2conn *c)
{
    end_reason(c, "closed");
    if (c->session) {
        nghttp2_session *session = c->session;
        c->session = NULL;
        nghttp2_session_del(session);
    }
    while (c->streams) {
        stream *s = c->streams;
        if (s->outcome == SO_NONE) s->outcome = SO_RESET;
        log_stream(s);
        stream_free(s);
    }
    /* A connection that ended in order says so with close_notify; a full
     * socket delays the close until it is out (or the send timer ends it). */
    if (c->ssl && c->phase == CP_H2 && queue_used(&c->out) == 0 &&
        (strcmp(c->outcome, "closed") == 0 || strcmp(c->outcome, "goaway") == 0) &&
        !conn_close_notify_done(c)) {
        c->phase = CP_TLS_CLOSING;
        c->out_progress = mono_ms();
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->epoll_events = EPOLLOUT;
        return;
    }
    log_conn(c);
    if (c->ssl) SSL_free(c->ssl);
    close(c->fd);
    free(c->out.buf);
    if (c->prev) c->prev->next = c->next;
    else g_conns = c->next;
    if (c->next) c->next->prev = c->prev;
    g_conn_count--;
    free(c);
}

static void conn_send_goaway(h2conn *c);

/* Lets nghttp2 write (and streams whose output queue drained process more
 * input), writes to the socket, and re-arms epoll. -1: close it now. */
static int conn_service(h2conn *c)
{
    /* Rounds of: let nghttp2 write up to CONN_OUT_HIGH, write to the
     * socket. Another round only when the socket took everything and
     * nghttp2 still had more, so a full socket waits for EPOLLOUT. */
    size_t produced;
    do {
        produced = 0;
        for (int more = c->phase == CP_H2; more;) {
            while (queue_used(&c->out) < CONN_OUT_HIGH) {
                const uint8_t *data = NULL;
                ssize_t n = nghttp2_session_mem_send(c->session, &data);
                if (n < 0) {
                    end_reason(c, "h2-error");
                    return -1;
                }
                if (n == 0) break;
                const struct iovec part = {(void *)(uintptr_t)data, (size_t)n};
                if (conn_emitv(c, &part, 1) != 0) return -1;
                produced += (size_t)n;
            }
            /* A data provider that drained a queue below its limit leaves
             * input waiting to be processed; doing it may queue more. */
            more = 0;
            for (stream *s = c->streams; s; s = s->next) {
                if (s->kind == SK_WEBSOCKET && s->blocked &&
                    queue_used(&s->out) < STREAM_OUT_LIMIT) {
                    stream_pump(s);
                    more = 1;
                }
            }
            if (c->goaway_pending) {
                conn_send_goaway(c);
                more |= !c->goaway_pending; /* let nghttp2 write it */
            }
            if (queue_used(&c->out) >= CONN_OUT_HIGH) more = 0;
        }
        if (conn_write(c) != 0) {
            end_reason(c, "write-error");
            return -1;
        }
    } while (produced > 0 && queue_used(&c->out) == 0);
    if (c->phase == CP_H2 && queue_used(&c->out) == 0 &&
        !nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session)) {
        end_reason(c, c->shutting_down ? "goaway" : "closed");
        return -1;
    }
    uint32_t want = EPOLLIN;
    if (queue_used(&c->out) > 0 || c->tls_want_write) want |= EPOLLOUT;
    if (want != c->epoll_events) {
        struct epoll_event ev = {.events = want, .data.ptr = c};
        epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->epoll_events = want;
    }
    return 0;
}

/* A 1001 close on every open WebSocket, then GOAWAY (streams already open
 * may finish); the connection ends once they are done or at `deadline`.
 * The close frames go first: some clients stop reading DATA once they see
 * GOAWAY, and each WebSocket should still learn why it ends. */
static void conn_shutdown(h2conn *c, uint64_t deadline, const char *why)
{
    /* A connection sending its close_notify has nothing left to close. */
    if (c->shutting_down || c->phase == CP_TLS_CLOSING) return;
    c->shutting_down = 1;
    c->deadline = deadline;
    end_reason(c, why);
    if (c->phase != CP_H2) {
        c->dead = 1;
        return;
    }
    c->goaway_pending = 1;
    for (stream *s = c->streams; s; s = s->next)
        stream_close_ws(s, 1001, "server going away", SO_SHUTDOWN);
}

/* Sends the GOAWAY of a shutdown once every close frame has been handed to
 * nghttp2, which then sends it behind them. */
static void conn_send_goaway(h2conn *c)
{
    for (stream *s = c->streams; s; s = s->next)
        if (s->kind == SK_WEBSOCKET && queue_used(&s->out) > 0) return;
    c->goaway_pending = 0;
    nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(c->session),
                          NGHTTP2_NO_ERROR, NULL, 0);
}

/* Set when accept() ran out of descriptors: the listener, level-triggered,
 * would wake the loop for nothing until one is free, so it rests a tick. */
static int g_listener_resting;

static void conn_accept(int lfd, uint64_t now)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                epoll_ctl(g_ep, EPOLL_CTL_DEL, lfd, NULL);
                g_listener_resting = 1;
            }
            return;
        }
        char peer[48];
        net_format_addr((const struct sockaddr *)&sa, peer, sizeof peer);
        h2conn *c = g_conn_count < opts.max_connections ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            if (!opts.quiet)
                fprintf(stderr, "peer=%s conn outcome=refused detail=connection cap\n", peer);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        memcpy(c->peer, peer, sizeof peer);
        c->accepted_at = c->last_read = now;
        c->next = g_conns;
        if (g_conns) g_conns->prev = c;
        g_conns = c;
        g_conn_count++;
        int ok;
        if (g_tls) {
            c->phase = CP_TLS_HANDSHAKE;
            c->ssl = SSL_new(g_tls);
            ok = c->ssl && SSL_set_fd(c->ssl, fd) == 1;
            if (ok) {
                SSL_set_app_data(c->ssl, c);
                SSL_set_accept_state(c->ssl);
                /* The write queue may move while a write is retried. */
                SSL_set_mode(c->ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
            }
        } else {
            ok = start_h2(c) == 0;
        }
        c->epoll_events = EPOLLIN;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (!ok || epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            end_reason(c, "out-of-memory");
            conn_free(c);
            continue;
        }
        /* h2c: our SETTINGS go out right away. */
        if (conn_service(c) != 0) conn_free(c);
    }
}

static void conn_event(h2conn *c, uint64_t now)
{
    if (c->phase == CP_TLS_CLOSING) {
        if (conn_close_notify_done(c)) conn_free(c);
        return;
    }
    if (c->phase == CP_TLS_HANDSHAKE) {
        if (conn_tls_handshake(c) != 0) {
            conn_free(c);
            return;
        }
        if (c->phase == CP_TLS_HANDSHAKE) {
            uint32_t want = c->tls_want_write ? EPOLLIN | EPOLLOUT : EPOLLIN;
            struct epoll_event ev = {.events = want, .data.ptr = c};
            epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
            c->epoll_events = want;
            return;
        }
    }
    /* Read on every wake-up, EPOLLOUT ones too: after the TLS handshake
     * OpenSSL may already hold the client's first bytes, and a read that
     * finds nothing costs one system call. */
    if (conn_read(c, now) != 0 || conn_service(c) != 0) conn_free(c);
}

/* Once per tick: handshake, idle, close and shutdown deadlines. A scan of
 * every connection and stream is fine at this size; epoll_echo_server
 * shows timer lists for many thousands. */
static void check_timers(uint64_t now)
{
    h2conn *next;
    for (h2conn *c = g_conns; c; c = next) {
        next = c->next;
        if (c->dead || (c->deadline && now >= c->deadline)) {
            /* Replaces the shutdown's reason: the peer did not finish. */
            if (!c->dead) c->outcome = "drain-timeout";
            conn_free(c);
            continue;
        }
        if (!c->got_settings && now - c->accepted_at >= opts.handshake_ms) {
            end_reason(c, "handshake-timeout");
            conn_free(c);
            continue;
        }
        /* A peer that stops reading TCP leaves our output queued; no
         * frame of ours (a close, GOAWAY) can reach it any more. */
        if (queue_used(&c->out) > 0 && now - c->out_progress >= opts.send_ms) {
            end_reason(c, "send-timeout");
            conn_free(c);
            continue;
        }
        if (c->phase == CP_TLS_CLOSING) {
            if (now - c->out_progress >= opts.send_ms) {
                c->outcome = "send-timeout"; /* the close_notify never went */
                conn_free(c);
            }
            continue;
        }
        if (!c->shutting_down && now - c->last_read >= opts.idle_ms)
            conn_shutdown(c, now + opts.close_ms, "idle-timeout");
        if (c->phase != CP_H2) continue;
        for (stream *s = c->streams; s; s = s->next) {
            if (s->close_deadline && now >= s->close_deadline) {
                s->close_deadline = 0;
                if (s->outcome == SO_NONE || s->outcome == SO_SHUTDOWN)
                    s->outcome = SO_CLOSE_TIMEOUT;
                /* RFC 8441 5: an abnormal end is RST_STREAM(CANCEL). */
                nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id,
                                          NGHTTP2_CANCEL);
            }
        }
        if (conn_service(c) != 0) conn_free(c);
    }
}

/* ------------------------------------------------------------------------
 * Options and main.
 * ---------------------------------------------------------------------- */
static void usage(FILE *f)
{
    fprintf(f,
            "usage: h2_echo_server [options]\n"
            "  --host ADDR               IPv4 address to listen on (default 127.0.0.1)\n"
            "  --port PORT               port (default 9003; 0 picks a free one)\n"
            "  --tls-cert FILE           serve HTTP/2 over TLS (ALPN h2) with this\n"
            "                            certificate chain (PEM; needs --tls-key);\n"
            "                            without it: cleartext h2c, prior knowledge\n"
            "  --tls-key FILE            the certificate's private key (PEM)\n"
            "  --max-message BYTES       largest message accepted (default 16777216;\n"
            "                            larger: close 1009)\n"
            "  --max-streams N           SETTINGS_MAX_CONCURRENT_STREAMS (default 100)\n"
            "  --max-connections N       concurrent connections (default 1000)\n"
            "  --handshake-timeout SEC   from accept to the client's SETTINGS (10)\n"
            "  --idle-timeout SEC        close a connection silent this long (120)\n"
            "  --close-timeout SEC       wait for a close reply or END_STREAM (5)\n"
            "  --send-timeout SEC        drop a connection whose output makes no\n"
            "                            progress this long (10)\n"
            "  --drain-timeout SEC       on SIGTERM/SIGINT, wait this long for the\n"
            "                            1001 closes to complete (5)\n"
            "  --no-deflate              do not accept permessage-deflate\n"
            "  --quiet                   no per-connection and per-stream log lines\n"
            "Seconds may have a fraction (0.5).\n");
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            opts.quiet = 1;
            continue;
        }
        if (strcmp(a, "--no-deflate") == 0) {
            opts.no_deflate = 1;
            continue;
        }
        if (!v) goto bad;
        i++;
        if (strcmp(a, "--host") == 0) {
            opts.host = v;
        } else if (strcmp(a, "--tls-cert") == 0) {
            opts.tls_cert = v;
        } else if (strcmp(a, "--tls-key") == 0) {
            opts.tls_key = v;
        } else if (strcmp(a, "--handshake-timeout") == 0) {
            if (cli_parse_seconds(v, 0, &opts.handshake_ms)) goto bad;
        } else if (strcmp(a, "--idle-timeout") == 0) {
            if (cli_parse_seconds(v, 0, &opts.idle_ms)) goto bad;
        } else if (strcmp(a, "--close-timeout") == 0) {
            if (cli_parse_seconds(v, 0, &opts.close_ms)) goto bad;
        } else if (strcmp(a, "--send-timeout") == 0) {
            if (cli_parse_seconds(v, 0, &opts.send_ms)) goto bad;
        } else if (strcmp(a, "--drain-timeout") == 0) {
            if (cli_parse_seconds(v, 0, &opts.drain_ms)) goto bad;
        } else {
            unsigned long long x;
            if (cli_parse_uint(v, UINT64_MAX, &x)) goto bad;
            if (strcmp(a, "--port") == 0 && x <= 65535)
                opts.port = (unsigned)x;
            else if (strcmp(a, "--max-message") == 0 && x > 0 && x < (1ull << 62))
                opts.max_message = x;
            else if (strcmp(a, "--max-streams") == 0 && x > 0 && x <= 100000)
                opts.max_streams = (uint32_t)x;
            else if (strcmp(a, "--max-connections") == 0 && x > 0 && x <= 100000)
                opts.max_connections = (unsigned)x;
            else
                goto bad;
        }
        continue;
    bad:
        fprintf(stderr, "h2_echo_server: bad or incomplete option '%s'\n", a);
        usage(stderr);
        return -1;
    }
    if (!opts.tls_cert != !opts.tls_key) {
        fprintf(stderr, "h2_echo_server: --tls-cert and --tls-key go together\n");
        return -1;
    }
    return 0;
}

static int listen_on(unsigned port)
{
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    return net_listen("h2_echo_server", opts.host, service,
                      NET_IPV4_ONLY | NET_NONBLOCK);
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) return 2;
    g_cfg.role = WSP_ROLE_SERVER;
    g_cfg.max_message = opts.max_message;
    if (!opts.no_deflate && wsp_deflate_available()) g_cfg.deflate = &g_deflate_cfg;

    g_page_len = plain_http_page_len();
    g_page = malloc(g_page_len);
    g_callbacks = make_callbacks();
    if (!g_page || !g_callbacks || nghttp2_option_new(&g_h2_options) != 0) {
        fprintf(stderr, "h2_echo_server: out of memory\n");
        return 1;
    }
    plain_http_page((char *)g_page);
    /* Window updates follow what the WebSocket layer has taken, not what
     * nghttp2 has parsed: that is the whole of the inbound flow control. */
    nghttp2_option_set_no_auto_window_update(g_h2_options, 1);

    if (opts.tls_cert) {
        g_tls = tls_server_context(opts.tls_cert, opts.tls_key);
        if (!g_tls) return 1;
        SSL_CTX_set_alpn_select_cb(g_tls, select_alpn, NULL);
    }

    /* Signals arrive through a signalfd, in the loop, like any event. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);

    int lfd = listen_on(opts.port);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (lfd < 0 || sfd < 0 || g_ep < 0) return 1;
    /* The listener and the signalfd are told apart from connections by
     * these two addresses. */
    static char listener_tag, signal_tag;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listener_tag};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.ptr = &signal_tag;
    epoll_ctl(g_ep, EPOLL_CTL_ADD, sfd, &ev);
    char where[64];
    net_format_local(lfd, where, sizeof where);
    printf("h2_echo_server listening on %s (%s)\n", where,
           g_tls ? "h2 over TLS" : "h2c, prior knowledge");
    fflush(stdout);

    uint64_t drain_deadline = 0, last_tick = mono_ms();
    for (;;) {
        struct epoll_event evs[MAX_EVENTS];
        int n = epoll_wait(g_ep, evs, MAX_EVENTS, TICK_MS);
        uint64_t now = mono_ms();
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &listener_tag) {
                conn_accept(lfd, now);
            } else if (p == &signal_tag) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                    if (drain_deadline) continue;
                    /* No new connections; the open ones get GOAWAY and
                     * their WebSockets a 1001 close. */
                    drain_deadline = now + opts.drain_ms;
                    epoll_ctl(g_ep, EPOLL_CTL_DEL, lfd, NULL);
                    close(lfd);
                    for (h2conn *c = g_conns; c; c = c->next)
                        conn_shutdown(c, drain_deadline, "shutdown");
                }
            } else {
                conn_event(p, now);
            }
        }
        if (now - last_tick >= TICK_MS || drain_deadline) {
            last_tick = now;
            check_timers(now);
            if (g_listener_resting && !drain_deadline) {
                g_listener_resting = 0;
                ev.data.ptr = &listener_tag;
                epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &ev);
            }
        }
        if (drain_deadline && (!g_conns || now >= drain_deadline)) break;
    }
    while (g_conns) {
        g_conns->outcome = "drain-timeout";
        conn_free(g_conns);
    }
    nghttp2_option_del(g_h2_options);
    nghttp2_session_callbacks_del(g_callbacks);
    tls_context_free(g_tls);
    free(g_page);
    return 0;
}
