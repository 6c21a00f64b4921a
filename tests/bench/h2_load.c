/*
 * h2_load: a WebSocket-over-HTTP/2 (RFC 8441) echo load generator, the
 * HTTP/2 twin of examples/ws_load.
 *
 *   h2_load [--host 127.0.0.1] [--port 9002] [-c CONNS] [--streams S]
 *           [-n MESSAGES] [-s SIZE] [-w WINDOW] [--timeout SECONDS]
 *
 * Opens CONNS cleartext HTTP/2 connections (h2c with prior knowledge, the
 * way a test client reaches a server without TLS), waits on each for the
 * server's SETTINGS to enable the extended CONNECT (RFC 8441 3), then
 * opens S WebSocket streams per connection with extended CONNECT requests.
 * Each stream carries a libwsproto client connection made with start_open
 * (the HTTP/2 request replaces the HTTP/1.1 handshake; framing and masking
 * stay the library's, RFC 8441 5). Once every stream is open the clock
 * starts and each stream sends MESSAGES binary messages of SIZE bytes with
 * at most WINDOW awaiting their echo; every echoed byte is checked. Then
 * each stream sends a close frame, waits for the server's close, and ends
 * its side of the stream (END_STREAM); the server ends the other side.
 *
 * The output, including the RESULT line, has ws_load's format, so the
 * benchmark scripts read both the same way (conns= is the connection
 * count, streams= the streams on each). Exits 1 if any message was lost,
 * wrong or late, or a stream did not end cleanly.
 */
#define _GNU_SOURCE

#include "latency.h"
#include "wsproto.h"

#include <nghttp2/nghttp2.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (256u * 1024u)
/* The payload of message i on stream k starts at offset
 * (i * size + k * 7) % PERIOD of a fixed printable pattern (as ws_load). */
#define PERIOD 4093u
/* Our receive windows. The server's echo of a 1 MiB message should not
 * wait for window updates any more than it waits for TCP's buffers over
 * HTTP/1.1; the server's windows for what we send are its own choice. */
#define STREAM_WINDOW (16 * 1024 * 1024)
#define CONN_WINDOW (256 * 1024 * 1024)
/* One DATA chunk (at most the 16 KiB frame size we leave at its default)
 * is fed to the library at a time, after the bytes it kept back. */
#define IN_CAP (WSP_MIN_RECV_BUFFER + 16384u)

static struct {
    const char *host;
    unsigned port;
    unsigned conns;
    unsigned streams;
    unsigned long long msgs;
    size_t size;
    unsigned window;
    unsigned timeout;
} opts = {"127.0.0.1", 9002, 1, 1, 10000, 32, 1, 60};

/* A stream is requested, open (200 received), closing (our close frame
 * queued) or done (nghttp2 closed it). */
enum sstate { S_REQUESTED, S_OPEN, S_CLOSING, S_DONE };

typedef struct h2conn h2conn;

typedef struct stream {
    h2conn *cn;
    unsigned index;                /* over all connections: the pattern offset */
    int32_t id;
    enum sstate state;
    int status;                    /* :status of the response */
    wsp_conn *ws;
    unsigned long long sent, done; /* messages sent, fully echoed */
    size_t rx_off;                 /* bytes of message `done` echoed */
    uint64_t *sent_at;             /* send time per window slot */
    uint8_t in[IN_CAP];            /* bytes the library kept back, then new */
    size_t in_len;
    uint8_t *out;                  /* WebSocket bytes for the data provider */
    size_t out_len, out_off, out_cap;
    int deferred;                  /* the data provider waits for bytes */
    int got_close;                 /* the server's close frame arrived */
    int local_end;                 /* send END_STREAM once out is drained */
    int failed;                    /* reset by us; its error is counted */
} stream;

struct h2conn {
    int fd;
    nghttp2_session *h2;
    stream *streams;
    unsigned open_streams;         /* not yet closed by nghttp2 */
    int requested;                 /* the extended CONNECTs went out */
    int done;
    uint8_t *wpend;                /* serialized bytes the socket did not take */
    size_t wpend_len, wpend_off, wpend_cap;
};

static h2conn *g_conns;
static int g_ep;
static uint8_t *g_pattern;
static uint8_t *g_rbuf;
static unsigned long long g_errors;
static unsigned g_open_streams, g_conns_done;
static int g_started;
static latency_sample g_lat;
static char g_authority[64];
static volatile sig_atomic_t g_stop;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static const uint8_t *payload_of(unsigned k, unsigned long long i)
{
    return g_pattern + (i * opts.size + (unsigned long long)k * 7u) % PERIOD;
}

static void note_error(const stream *st, const char *what)
{
    g_errors++;
    if (g_errors <= 10)
        fprintf(stderr, "h2_load: stream %u: %s\n", st ? st->index : 0u, what);
}

/* Gives up on a stream: RST_STREAM(CANCEL); nghttp2 then closes it. */
static void fail_stream(stream *st, const char *what)
{
    if (st->failed || st->state == S_DONE) return;
    note_error(st, what);
    st->failed = 1;
    st->state = S_CLOSING;
    st->local_end = 1;
    nghttp2_submit_rst_stream(st->cn->h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
}

static void wake_provider(stream *st)
{
    if (st->deferred && st->state != S_DONE) {
        st->deferred = 0;
        nghttp2_session_resume_data(st->cn->h2, st->id);
    }
}

/* Room for n more bytes at the end of the stream's output. */
static uint8_t *out_room(stream *st, size_t n)
{
    if (st->out_off > 0 && st->out_cap - st->out_len < n) {
        memmove(st->out, st->out + st->out_off, st->out_len - st->out_off);
        st->out_len -= st->out_off;
        st->out_off = 0;
    }
    if (st->out_cap - st->out_len < n) {
        size_t cap = st->out_len + n;
        uint8_t *o = realloc(st->out, cap);
        if (!o) return NULL;
        st->out = o;
        st->out_cap = cap;
    }
    return st->out + st->out_len;
}

static void queue_pending(stream *st)
{
    size_t pend = wsp_conn_pending_size(st->ws), n = 0;
    if (!pend) return;
    uint8_t *o = out_room(st, pend);
    if (!o || wsp_conn_flush(st->ws, o, pend, &n) != WSP_OK) {
        fail_stream(st, "cannot queue the library's pending bytes");
        return;
    }
    st->out_len += n;
    wake_provider(st);
}

/* Sends messages until the window is full. */
static void top_up(stream *st)
{
    uint64_t t = now_ns();
    if (st->state != S_OPEN) return;
    while (st->sent < opts.msgs && st->sent - st->done < opts.window) {
        size_t bound = 0, n = 0;
        uint8_t *o;
        if (wsp_conn_send_bound(st->ws, opts.size, &bound) != WSP_OK ||
            !(o = out_room(st, bound))) {
            fail_stream(st, "out of memory");
            return;
        }
        int rc = wsp_conn_send(st->ws, WSP_OP_BINARY, payload_of(st->index, st->sent),
                               opts.size, 0, o, bound, &n);
        if (rc != WSP_OK) {
            fail_stream(st, wsp_strerror(rc));
            return;
        }
        st->out_len += n;
        st->sent_at[st->sent % opts.window] = t;
        st->sent++;
    }
    wake_provider(st);
}

static void start_close(stream *st)
{
    size_t n = 0;
    uint8_t *o = out_room(st, WSP_MAX_PENDING + WSP_MAX_FRAME_HEADER + 2);
    if (!o || wsp_conn_close(st->ws, 1000, NULL, 0, o,
                             WSP_MAX_PENDING + WSP_MAX_FRAME_HEADER + 2, &n) != WSP_OK) {
        fail_stream(st, "close failed");
        return;
    }
    st->out_len += n;
    st->state = S_CLOSING;
    wake_provider(st);
}

static void message_done(stream *st)
{
    /* Sampled as ws_load samples (latency.h), so both generators spend alike. */
    latency_add(&g_lat, now_ns() - st->sent_at[st->done % opts.window]);
    st->done++;
    st->rx_off = 0;
}

static int check_piece(stream *st, const wsp_data_event *d)
{
    if (d->opcode != WSP_OP_BINARY || st->done >= st->sent ||
        ((d->flags & WSP_DATA_FIRST) != 0) != (st->rx_off == 0) ||
        d->len > opts.size - st->rx_off ||
        memcmp(d->payload, payload_of(st->index, st->done) + st->rx_off, d->len) != 0)
        return -1;
    st->rx_off += d->len;
    if (d->flags & WSP_DATA_LAST) {
        if (st->rx_off != opts.size) return -1;
        message_done(st);
    }
    return 0;
}

/* Runs the library over st->in until it needs more input. */
static void feed(stream *st)
{
    size_t off = 0;
    while (!st->failed && (st->state == S_OPEN || st->state == S_CLOSING)) {
        size_t used = 0;
        wsp_event ev;
        int rc = wsp_conn_recv(st->ws, st->in + off, st->in_len - off, &used, &ev);
        off += used;
        if (rc == WSP_ERR_CLOSED && st->got_close) {
            off = st->in_len;
            break;
        }
        if (rc != WSP_OK) {
            fail_stream(st, wsp_strerror(rc));
            return;
        }
        if (ev.type == WSP_EV_NONE) break;
        if (ev.type == WSP_EV_DATA) {
            if (check_piece(st, &ev.u.data) != 0) {
                fail_stream(st, "bad echo");
                return;
            }
            if (st->done == opts.msgs && st->state == S_OPEN) start_close(st);
        } else if (ev.type == WSP_EV_CLOSE) {
            if (st->state != S_CLOSING) {
                fail_stream(st, "server closed early");
                return;
            }
            st->got_close = 1;
            /* Our side ends with the close handshake (RFC 8441 keeps the
             * server ending its side after it). */
            st->local_end = 1;
            wake_provider(st);
        }
    }
    memmove(st->in, st->in + off, st->in_len - off);
    st->in_len -= off;
    queue_pending(st);
    if (g_started) top_up(st);
}

/* ---- nghttp2 callbacks ---------------------------------------------------- */

static ssize_t read_out(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                        size_t length, uint32_t *data_flags,
                        nghttp2_data_source *source, void *user_data)
{
    (void)session;
    (void)stream_id;
    (void)user_data;
    stream *st = source->ptr;
    size_t n = st->out_len - st->out_off;
    if (n > length) n = length;
    if (n == 0) {
        if (st->local_end) {
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
            return 0;
        }
        st->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    memcpy(buf, st->out + st->out_off, n);
    st->out_off += n;
    if (st->out_off == st->out_len) st->out_off = st->out_len = 0;
    if (st->local_end && st->out_len == 0) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void submit_connects(h2conn *cn)
{
    nghttp2_nv nv[6];
#define NV(i, n, v)                                                  \
    do {                                                             \
        nv[i].name = (uint8_t *)(n);                                 \
        nv[i].namelen = strlen(n);                                   \
        nv[i].value = (uint8_t *)(v);                                \
        nv[i].valuelen = strlen(v);                                  \
        nv[i].flags = NGHTTP2_NV_FLAG_NONE;                          \
    } while (0)
    NV(0, ":method", "CONNECT");
    NV(1, ":protocol", "websocket");
    NV(2, ":scheme", "http");
    NV(3, ":path", "/");
    NV(4, ":authority", g_authority);
    NV(5, "sec-websocket-version", "13");
#undef NV
    for (unsigned s = 0; s < opts.streams; s++) {
        stream *st = &cn->streams[s];
        nghttp2_data_provider prd;
        prd.source.ptr = st;
        prd.read_callback = read_out;
        int32_t id = nghttp2_submit_request(cn->h2, NULL, nv, 6, &prd, st);
        if (id < 0) {
            note_error(st, nghttp2_strerror(id));
            st->state = S_DONE;
            cn->open_streams--;
            continue;
        }
        st->id = id;
    }
    cn->requested = 1;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                         void *user_data)
{
    h2conn *cn = user_data;
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK) &&
        !cn->requested) {
        /* RFC 8441 3: no :protocol before the server said it understands it. */
        if (nghttp2_session_get_remote_settings(
                session, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) != 1) {
            note_error(NULL, "server SETTINGS lack ENABLE_CONNECT_PROTOCOL=1");
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        submit_connects(cn);
        return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_RESPONSE)
        return 0;
    stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!st || st->state != S_REQUESTED) return 0;
    if (st->status != 200) {
        char msg[64];
        snprintf(msg, sizeof msg, "extended CONNECT answered %d", st->status);
        fail_stream(st, msg);
        return 0;
    }
    st->state = S_OPEN;
    g_open_streams++;
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *user_data)
{
    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (st && namelen == 7 && memcmp(name, ":status", 7) == 0) {
        int v = 0;
        for (size_t i = 0; i < valuelen && value[i] >= '0' && value[i] <= '9'; i++)
            v = v * 10 + (value[i] - '0');
        st->status = v;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    (void)flags;
    (void)user_data;
    stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!st) return 0;
    while (len > 0 && !st->failed && (st->state == S_OPEN || st->state == S_CLOSING)) {
        size_t n = IN_CAP - st->in_len;
        if (n > len) n = len;
        if (n == 0) {
            fail_stream(st, "the library kept back more than a control frame");
            return 0;
        }
        memcpy(st->in + st->in_len, data, n);
        st->in_len += n;
        data += n;
        len -= n;
        feed(st);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id,
                           uint32_t error_code, void *user_data)
{
    h2conn *cn = user_data;
    stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!st || st->state == S_DONE) return 0;
    if (st->failed) {
        /* counted when it failed */
    } else if (st->state == S_REQUESTED) note_error(st, "stream closed before its response");
    else if (error_code != NGHTTP2_NO_ERROR) note_error(st, "stream reset");
    else if (!st->got_close || st->done != opts.msgs) note_error(st, "stream ended early");
    st->state = S_DONE;
    cn->open_streams--;
    return 0;
}

/* ---- connections -------------------------------------------------------- */

static void set_events(h2conn *cn, uint32_t ev)
{
    struct epoll_event e;
    e.events = ev;
    e.data.u32 = (uint32_t)(cn - g_conns);
    epoll_ctl(g_ep, EPOLL_CTL_MOD, cn->fd, &e);
}

static void finish_conn(h2conn *cn)
{
    if (cn->done) return;
    cn->done = 1;
    g_conns_done++;
    if (cn->fd >= 0) close(cn->fd);
    cn->fd = -1;
}

static void fail_conn(h2conn *cn, const char *what)
{
    note_error(NULL, what);
    for (unsigned s = 0; s < opts.streams; s++) {
        if (cn->streams[s].state != S_DONE) {
            if (cn->streams[s].state != S_REQUESTED || cn->requested) g_errors++;
            cn->streams[s].state = S_DONE;
        }
    }
    finish_conn(cn);
}

/* Serializes what nghttp2 has to send and writes it; keeps what the socket
 * does not take and asks for EPOLLOUT. */
static void flush_conn(h2conn *cn)
{
    while (!cn->done) {
        if (cn->wpend_len) {
            ssize_t w = send(cn->fd, cn->wpend + cn->wpend_off,
                             cn->wpend_len - cn->wpend_off, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                fail_conn(cn, "send failed");
                return;
            }
            if (w > 0) cn->wpend_off += (size_t)w;
            if (cn->wpend_off < cn->wpend_len) {
                set_events(cn, EPOLLIN | EPOLLOUT);
                return;
            }
            cn->wpend_len = cn->wpend_off = 0;
            set_events(cn, EPOLLIN);
        }
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(cn->h2, &p);
        if (n < 0) {
            fail_conn(cn, nghttp2_strerror((int)n));
            return;
        }
        if (n == 0) break;
        /* Straight from nghttp2's buffer; only what the socket refuses is
         * copied, since the buffer is reused by the next call. */
        ssize_t w = send(cn->fd, p, (size_t)n, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            fail_conn(cn, "send failed");
            return;
        }
        size_t sent = w > 0 ? (size_t)w : 0;
        if (sent == (size_t)n) continue;
        if (cn->wpend_cap < (size_t)n - sent) {
            uint8_t *o = realloc(cn->wpend, (size_t)n - sent);
            if (!o) {
                fail_conn(cn, "out of memory");
                return;
            }
            cn->wpend = o;
            cn->wpend_cap = (size_t)n - sent;
        }
        memcpy(cn->wpend, p + sent, (size_t)n - sent);
        cn->wpend_len = (size_t)n - sent;
    }
    if (!cn->done && cn->requested && cn->open_streams == 0 && !cn->wpend_len) {
        if (!nghttp2_session_want_write(cn->h2)) finish_conn(cn);
    }
}

static void on_readable(h2conn *cn)
{
    ssize_t n;
    do n = read(cn->fd, g_rbuf, READ_SIZE);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
        if (cn->requested && cn->open_streams == 0) finish_conn(cn);
        else fail_conn(cn, n == 0 ? "unexpected EOF" : "read failed");
        return;
    }
    ssize_t r = nghttp2_session_mem_recv(cn->h2, g_rbuf, (size_t)n);
    if (r < 0) {
        fail_conn(cn, nghttp2_strerror((int)r));
        return;
    }
}

static int open_conn(h2conn *cn, const struct sockaddr_in *addr, const wsp_config *cfg,
                     nghttp2_session_callbacks *cbs, unsigned first_index)
{
    cn->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cn->fd < 0 || connect(cn->fd, (const struct sockaddr *)addr, sizeof *addr) != 0)
        return -1;
    int one = 1;
    setsockopt(cn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(cn->fd, F_SETFL, O_NONBLOCK) != 0) return -1;
    cn->streams = calloc(opts.streams, sizeof *cn->streams);
    if (!cn->streams) return -1;
    for (unsigned s = 0; s < opts.streams; s++) {
        stream *st = &cn->streams[s];
        st->cn = cn;
        st->index = first_index + s;
        st->sent_at = calloc(opts.window, sizeof *st->sent_at);
        if (!st->sent_at || wsp_conn_new(cfg, &st->ws) != WSP_OK) return -1;
    }
    cn->open_streams = opts.streams;
    if (nghttp2_session_client_new(&cn->h2, cbs, cn) != 0) return -1;
    nghttp2_settings_entry iv[2] = {
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    if (nghttp2_submit_settings(cn->h2, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
        nghttp2_session_set_local_window_size(cn->h2, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW) != 0)
        return -1;
    struct epoll_event e;
    e.events = EPOLLIN;
    e.data.u32 = (uint32_t)(cn - g_conns);
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, cn->fd, &e) != 0) return -1;
    flush_conn(cn);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: h2_load [options]\n"
            "  --host ADDR        server IPv4 address (default 127.0.0.1)\n"
            "  --port PORT        server port (default 9002)\n"
            "  -c N               HTTP/2 connections (default 1)\n"
            "  --streams N        WebSocket streams per connection (default 1)\n"
            "  -n N               messages per stream (default 10000)\n"
            "  -s BYTES           message size (default 32)\n"
            "  -w N               messages in flight per stream (default 1)\n"
            "  --timeout SECONDS  give up after this long (default 60)\n");
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (!v) goto bad;
        i++;
        if (strcmp(a, "--host") == 0) {
            opts.host = v;
            continue;
        }
        char *end = NULL;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || !*v || *end || *v == '-') goto bad;
        if (strcmp(a, "--port") == 0 && x > 0 && x <= 65535) opts.port = (unsigned)x;
        else if (strcmp(a, "-c") == 0 && x > 0 && x <= 10000) opts.conns = (unsigned)x;
        else if (strcmp(a, "--streams") == 0 && x > 0 && x <= 10000) opts.streams = (unsigned)x;
        else if (strcmp(a, "-n") == 0 && x > 0) opts.msgs = x;
        else if (strcmp(a, "-s") == 0 && x <= (1u << 30)) opts.size = (size_t)x;
        else if (strcmp(a, "-w") == 0 && x > 0 && x <= 65536) opts.window = (unsigned)x;
        else if (strcmp(a, "--timeout") == 0 && x > 0 && x <= 86400) opts.timeout = (unsigned)x;
        else goto bad;
        continue;
    bad:
        fprintf(stderr, "h2_load: bad or incomplete option '%s'\n", a);
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) return 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opts.port);
    if (inet_pton(AF_INET, opts.host, &addr.sin_addr) != 1) {
        fprintf(stderr, "h2_load: bad IPv4 address '%s'\n", opts.host);
        return 2;
    }
    snprintf(g_authority, sizeof g_authority, "%s:%u", opts.host, opts.port);

    unsigned long long total = (unsigned long long)opts.conns * opts.streams * opts.msgs;
    g_pattern = malloc(PERIOD + opts.size + 1);
    g_rbuf = malloc(READ_SIZE);
    g_conns = calloc(opts.conns, sizeof *g_conns);
    if (!g_pattern || !g_rbuf || !g_conns || latency_init(&g_lat, total) != 0) {
        fprintf(stderr, "h2_load: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < PERIOD + opts.size + 1; i++)
        g_pattern[i] = (uint8_t)(' ' + (i * 7919u + i / 97u) % 95u);

    /* start_open: the extended CONNECT is the handshake, so the library
     * starts in the open state and only frames (and masks) messages. */
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    cfg.start_open = 1;
    cfg.max_frame_payload = opts.size + 1;
    cfg.max_message = opts.size + 1;

    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return 1;
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);

    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) return 1;
    for (unsigned c = 0; c < opts.conns; c++) {
        g_conns[c].fd = -1;
        if (open_conn(&g_conns[c], &addr, &cfg, cbs, c * opts.streams) != 0) {
            fprintf(stderr, "h2_load: connection %u: %s\n", c, strerror(errno));
            return 1;
        }
    }

    uint64_t t_begin = now_ns(), t_start = 0, t_end = 0;
    uint64_t deadline = t_begin + (uint64_t)opts.timeout * 1000000000u;
    static struct epoll_event evs[256];
    while (!g_stop && g_conns_done < opts.conns) {
        if (!g_started && g_open_streams == opts.conns * opts.streams) {
            /* Every stream is open: start the clock and the traffic. */
            g_started = 1;
            t_start = now_ns();
            for (unsigned c = 0; c < opts.conns; c++) {
                for (unsigned s = 0; s < opts.streams; s++) top_up(&g_conns[c].streams[s]);
                flush_conn(&g_conns[c]);
            }
        }
        if (now_ns() > deadline) {
            fprintf(stderr, "h2_load: timeout after %u s\n", opts.timeout);
            g_errors++;
            break;
        }
        int n = epoll_wait(g_ep, evs, 256, 200);
        for (int i = 0; i < n; i++) {
            h2conn *cn = &g_conns[evs[i].data.u32];
            if (cn->done) continue;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(cn);
            if (!cn->done) flush_conn(cn);
        }
    }
    t_end = now_ns();

    unsigned long long got = 0;
    for (unsigned c = 0; c < opts.conns; c++)
        for (unsigned s = 0; s < opts.streams; s++) got += g_conns[c].streams[s].done;
    if (got != total) {
        if (!g_errors) g_errors++;
        fprintf(stderr, "h2_load: %llu of %llu messages echoed\n", got, total);
    }
    double secs = t_start && t_end > t_start ? (double)(t_end - t_start) / 1e9 : 0;
    double p50, p99;
    latency_percentiles(&g_lat, &p50, &p99);
    double mps = secs > 0 ? (double)got / secs : 0;
    double mbps = mps * (double)opts.size / 1e6;
    printf("h2_load: WebSocket over HTTP/2 binary, %u connections x %u streams x "
           "%llu messages of %zu bytes, window %u\n",
           opts.conns, opts.streams, opts.msgs, opts.size, opts.window);
    printf("h2_load: %llu messages in %.3f s: %.0f msg/s, %.1f MB/s, "
           "latency p50 %.1f us, p99 %.1f us, errors %llu\n",
           got, secs, mps, mbps, p50, p99, g_errors);
    printf("RESULT mode=h2 conns=%u streams=%u size=%zu window=%u msgs=%llu secs=%.4f "
           "msgps=%.0f mbps=%.2f p50_us=%.1f p99_us=%.1f errors=%llu\n",
           opts.conns, opts.streams, opts.size, opts.window, got, secs, mps, mbps, p50,
           p99, g_errors);
    for (unsigned c = 0; c < opts.conns; c++) {
        h2conn *cn = &g_conns[c];
        if (cn->fd >= 0) close(cn->fd);
        nghttp2_session_del(cn->h2);
        for (unsigned s = 0; cn->streams && s < opts.streams; s++) {
            wsp_conn_free(cn->streams[s].ws);
            free(cn->streams[s].sent_at);
            free(cn->streams[s].out);
        }
        free(cn->streams);
        free(cn->wpend);
    }
    nghttp2_session_callbacks_del(cbs);
    free(g_pattern);
    free(g_rbuf);
    free(g_conns);
    latency_free(&g_lat);
    return g_errors ? 1 : 0;
}
