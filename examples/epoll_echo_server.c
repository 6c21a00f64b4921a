/*
 * epoll_echo_server: a non-blocking WebSocket echo server on Linux epoll,
 * built on libwsproto's sans-I/O connection. It is meant as the skeleton of
 * a production event-loop server: everything a server needs besides the
 * protocol (timeouts, limits, shutdown, several cores) is here, in one file.
 *
 *   epoll_echo_server [options]        (--help lists them)
 *
 * A plain GET of "/" returns a browser echo test page; other plain requests
 * get 404 or 405. An upgrade request on any path is accepted (permessage-
 * deflate unless --no-deflate) and every message is echoed back, streamed
 * piece by piece as it arrives.
 *
 * With --tls-cert and --tls-key (PEM files) every connection is TLS (https
 * and wss on the one port), non-blocking like the rest: the TLS handshake
 * runs within the HTTP handshake's timer and cap, payloads are copied
 * (OpenSSL encrypts from one buffer, so no zero-copy writev), bytes
 * OpenSSL holds are read without waiting for epoll, and a clean end sends
 * close_notify after the WebSocket close.
 *
 * Layout of the program, top to bottom:
 *   - per-connection records: a wsp_conn and a 48-byte conn_meta, in one
 *     array indexed by file descriptor (an idle connection costs that slot
 *     and nothing else);
 *   - timers: one intrusive list per timeout kind (below);
 *   - the per-address table and the global counters that protect the other
 *     clients (connection caps, handshake cap, output budget);
 *   - output: one read's echo is gathered in an iovec list and written with
 *     one sendmsg(); what the socket does not take is kept in a heap
 *     "spill" and the connection stops being read until it is written;
 *   - the event loop (one per thread, each with its own SO_REUSEPORT
 *     listener and epoll set), signals and the graceful drain.
 *
 * Timers. Every timeout kind has one fixed duration, so a connection that
 * enters a kind's list at time t expires at t + duration, and appending at
 * the tail keeps each list sorted by deadline. Arming, re-arming and
 * cancelling are O(1) (unlink + append), expiry looks only at list heads,
 * and a connection pays 12 bytes (two neighbour indices and the time it
 * entered its list). A connection is in exactly one list, chosen by its
 * state (timer_kind_for): handshake (absolute, from accept), idle (re-armed
 * by every read), pong (a keepalive ping is out), send (output stalled;
 * re-armed by every write that makes progress) or close (a close handshake
 * or a final response is under way). The clock (CLOCK_MONOTONIC) is read
 * once per loop iteration by the server; the library never reads a clock.
 */
#define _GNU_SOURCE

#include "cli.h"
#include "net.h"
#include "plain_http.h"
#include "tls_io.h"
#include "wsproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifdef EXAMPLES_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

/* One read() takes at most this much: 256 KiB of payload and room for the
 * frame headers around it. A batch of whole messages of a power-of-two size
 * (4 x 64 KiB, a quarter of 1 MiB) arrives with up to 14 header bytes per
 * frame; a buffer of exactly 256 KiB left those few bytes for a second
 * read and a second sendmsg, which doubled both per message. */
#define READ_SIZE (256u * 1024u + 4096u)
/* Room in front of the read for the bytes a connection kept back: at most
 * the HTTP head limit during the handshake, WSP_MIN_RECV_BUFFER after. */
#define MAX_KEPT WSP_DEFAULT_MAX_HEADER_BYTES
/* Pieces at least this long are sent from the read buffer. */
#define ZEROCOPY_MIN 1024u
#define MAX_IOV 256
#define MAX_EVENTS 256
#define MAX_THREADS 64
/* Accepts per listener wake-up, so a connection storm cannot starve the
 * connections already open. */
#define ACCEPT_BATCH 64
/* Pongs written in ping order per read; past that a flood of pings gets
 * only the latest answered (the library keeps one pong, RFC 6455 5.5.3). */
#define PONGS_PER_READ 16u
/* How long the listener rests when no descriptor can be had at all. */
#define LISTEN_PAUSE_MS 100u
/* Longest epoll_wait, so --max-seconds and the drain are looked at. */
#define MAX_WAIT_MS 1000u

/* ------------------------------------------------------------------------
 * Options.
 * ---------------------------------------------------------------------- */
static struct {
    const char *host;
    unsigned port;
    uint64_t max_message;
    uint32_t max_fragments;
    unsigned max_connections;
    unsigned max_per_address; /* 0: no per-address cap */
    unsigned max_handshakes;
    uint64_t max_buffered;
    unsigned threads;
    uint32_t handshake_ms, idle_ms, ping_ms, pong_ms, close_ms, send_ms,
        drain_ms;
    double max_seconds;
    int quiet;
    int no_deflate;
    int origin_check, allow_null_origin, require_origin;
    const char **allowed_origins;
    size_t allowed_origin_count;
    const char *tls_cert, *tls_key; /* both set: serve https and wss */
} opts = {
    .host = "127.0.0.1",
    .port = 9002,
    .max_message = 16u * 1024u * 1024u,
    .max_connections = 20000,
    .max_handshakes = 4096,
    .max_buffered = 256u * 1024u * 1024u,
    .threads = 1,
    .handshake_ms = 10000,
    .idle_ms = 120000,
    .pong_ms = 10000,
    .close_ms = 5000,
    .send_ms = 10000,
    .drain_ms = 5000,
};

static wsp_origin_policy g_origin_policy;
/* permessage-deflate with the library's defaults: browsers offer it. */
static const wsp_deflate_config g_deflate_cfg;
static wsp_config g_cfg;

/* ------------------------------------------------------------------------
 * Per-connection records.
 * ---------------------------------------------------------------------- */
/* Where a connection is in its life, as far as the server is concerned
 * (the library has its own, finer state). */
enum conn_state {
    CS_FREE = 0,  /* slot unused */
    CS_HANDSHAKE, /* waiting for the HTTP request */
    CS_OPEN,      /* frames flow both ways */
    CS_CLOSING,   /* we sent a close frame and wait for the peer's */
    CS_FINISHING, /* the last bytes (close reply, HTTP response) are going out */
    CS_LINGER,    /* after an HTTP response: write side shut, waiting for EOF */
    CS_TLS_CLOSING /* the last bytes are out but our close_notify did not fit
                    * in the socket: waiting for room to send it */
};

enum timer_kind {
    TK_NONE = 0,
    TK_HANDSHAKE, /* --handshake-timeout, absolute from accept */
    TK_IDLE,      /* --idle-timeout, or --ping-interval when pinging */
    TK_PONG,      /* --pong-timeout after a keepalive ping */
    TK_SEND,      /* --send-timeout without write progress */
    TK_CLOSE,     /* --close-timeout for a close handshake or final response */
    TK_COUNT
};

/* How a connection ended: the log line and the counters show it. */
enum outcome {
    OC_NONE = 0,
    OC_CLOSED,       /* close handshake completed */
    OC_FAILED,       /* protocol failure: we sent a close with an error */
    OC_DROPPED,      /* EOF or I/O error without a close handshake */
    OC_REJECTED,     /* HTTP error response to a bad upgrade */
    OC_PAGE,         /* served the echo page */
    OC_NOT_FOUND,    /* plain HTTP request for another path or method */
    OC_SHUTDOWN,     /* closed with 1001 by a drain */
    /* From here on an outcome replaces any earlier one: the connection was
     * ended by the server for this reason. */
    OC_HANDSHAKE_TIMEOUT,
    OC_IDLE_TIMEOUT,
    OC_PONG_TIMEOUT,
    OC_CLOSE_TIMEOUT,
    OC_SEND_STALLED,
    OC_OUTPUT_BUDGET,
    OC_EVICTED,      /* oldest unfinished handshake, pushed out by a new one */
    OC_DRAIN_TIMEOUT,
    OC_COUNT
};

static const struct {
    const char *name, *detail;
} outcome_text[OC_COUNT] = {
    [OC_NONE] = {"no-request", NULL},
    [OC_CLOSED] = {"closed", NULL},
    [OC_FAILED] = {"protocol-error", NULL},
    [OC_DROPPED] = {"dropped", "peer closed TCP without a close handshake"},
    [OC_REJECTED] = {"rejected", NULL},
    [OC_PAGE] = {"page", NULL},
    [OC_NOT_FOUND] = {"not-found", NULL},
    [OC_SHUTDOWN] = {"shutdown", NULL},
    [OC_HANDSHAKE_TIMEOUT] = {"timeout", "handshake timeout"},
    [OC_IDLE_TIMEOUT] = {"timeout", "idle timeout"},
    [OC_PONG_TIMEOUT] = {"timeout", "no pong to the keepalive ping"},
    [OC_CLOSE_TIMEOUT] = {"timeout", "close timeout"},
    [OC_SEND_STALLED] = {"timeout", "send stalled (peer not reading)"},
    [OC_OUTPUT_BUDGET] = {"overloaded", "output budget (--max-buffered) exceeded"},
    [OC_EVICTED] = {"overloaded", "handshake cap (--max-handshakes): oldest handshake dropped"},
    [OC_DRAIN_TIMEOUT] = {"shutdown", "no close reply before --drain-timeout"},
};

enum conn_flag {
    F_PAUSED = 1u,            /* output kept: write only, do not read */
    F_CLOSE_AFTER_WRITE = 2u, /* end once the kept output is written */
    F_LINGER = 4u,            /* ...by shutting down the write side first */
    F_PING_SENT = 8u,         /* a keepalive ping awaits any sign of life */
    F_WANT_OUT = 16u,         /* registered for EPOLLOUT instead of EPOLLIN */
    F_LOGGED = 32u,           /* its log line is out already */
    F_TLS_READ_WANTS_OUT = 64u, /* a TLS read (handshake) must write first */
    F_TLS_READY = 128u        /* in the loop's list of TLS bytes to read */
};

/* Bytes a connection holds between events; allocated only when needed. */
typedef struct spill {
    uint8_t *kept; /* unconsumed input, passed again on the next read */
    size_t kept_len;
    uint8_t *out;  /* output not yet written */
    size_t out_len;
    size_t out_off;
    size_t counted; /* bytes of out counted in g_buffered */
} spill;

/* What the server keeps per connection beside its wsp_conn: 48 bytes. */
typedef struct conn_meta {
    spill *sp;
    int32_t prev, next;  /* neighbours in the timer list; -1: none */
    uint32_t since;      /* loop clock (ms) when it entered that list */
    uint32_t addr;       /* peer IPv4 address, network order */
    uint64_t bytes;      /* payload bytes echoed */
    uint32_t messages;   /* messages echoed */
    uint16_t close_in;   /* close code received, 0: none */
    uint16_t close_out;  /* close code sent, 0: none */
    uint16_t port;       /* peer port, host order */
    int16_t status;      /* WSP_ERR_* of a failure or rejection */
    uint8_t state;       /* enum conn_state */
    uint8_t timer;       /* enum timer_kind of the list it is in */
    uint8_t flags;       /* enum conn_flag */
    uint8_t outcome;     /* enum outcome */
} conn_meta;
/* Every connection pays for each byte here; TLS state stays out of it. */
_Static_assert(sizeof(conn_meta) <= 48, "conn_meta grew past 48 bytes");

/* wsp_conn and conn_meta slots indexed by descriptor. Descriptors are
 * process-wide, so one array serves every loop: each descriptor belongs to
 * the one loop that accepted it. */
static unsigned char *g_slots;
static size_t g_stride, g_meta_off;
static int g_max_fd;

static wsp_conn *conn_of(int fd)
{
    return (wsp_conn *)(void *)(g_slots + (size_t)fd * g_stride);
}

static conn_meta *meta_of(int fd)
{
    return (conn_meta *)(void *)(g_slots + (size_t)fd * g_stride + g_meta_off);
}

/* ------------------------------------------------------------------------
 * TLS (--tls-cert/--tls-key). The SSL objects live in a side table indexed
 * by descriptor, allocated only when TLS is on: a plain server keeps its
 * per-connection slot as it is. OpenSSL never blocks here: a call that
 * cannot go on says SSL_ERROR_WANT_READ or _WANT_WRITE, and the connection
 * waits for epoll to report that direction.
 * ---------------------------------------------------------------------- */
enum io_status { IOS_OK, IOS_AGAIN, IOS_WANT_OUT, IOS_EOF, IOS_ERROR };

#ifdef EXAMPLES_TLS
static SSL_CTX *g_tls_ctx;
static SSL **g_tls; /* NULL without TLS; else one entry per descriptor */

static int tls_on(void)
{
    return g_tls != NULL;
}

static int tls_attach(int fd)
{
    SSL *ssl = SSL_new(g_tls_ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return -1;
    }
    SSL_set_accept_state(ssl);
    /* Partial writes: a full socket takes whole records and the rest is
     * kept by the server. The kept bytes move (they are copied to the
     * connection's spill), and the retry starts with the same bytes, which
     * is what OpenSSL asks of a retried write. Idle connections give their
     * record buffers back. */
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS);
    g_tls[fd] = ssl;
    return 0;
}

static void tls_detach(int fd)
{
    /* No SSL_shutdown: a connection that failed ends without close_notify,
     * and a clean end sent it already (tls_close_notify). */
    SSL_free(g_tls[fd]);
    g_tls[fd] = NULL;
}

static enum io_status tls_status(SSL *ssl, int ret)
{
    switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ: return IOS_AGAIN;
    case SSL_ERROR_WANT_WRITE: return IOS_WANT_OUT;
    case SSL_ERROR_ZERO_RETURN: return IOS_EOF;
    default: break;
    }
    ERR_clear_error();
    return IOS_ERROR;
}

/* Decrypted bytes into buf; *got is set on IOS_OK. The first call runs
 * the TLS handshake. */
static enum io_status tls_read(int fd, uint8_t *buf, size_t cap, size_t *got)
{
    ERR_clear_error();
    int ret = SSL_read_ex(g_tls[fd], buf, cap, got);
    return ret == 1 ? IOS_OK : tls_status(g_tls[fd], ret);
}

/* Writes whole records; *put counts the bytes taken, possibly fewer than
 * n when the socket fills (IOS_AGAIN then). */
static enum io_status tls_write(int fd, const uint8_t *p, size_t n, size_t *put)
{
    *put = 0;
    while (*put < n) {
        size_t w = 0;
        ERR_clear_error();
        int ret = SSL_write_ex(g_tls[fd], p + *put, n - *put, &w);
        if (ret != 1) {
            enum io_status st = tls_status(g_tls[fd], ret);
            /* Renegotiation is refused, so a write that wants to read is as
             * stuck as one that wants to write: wait for the socket. */
            return st == IOS_WANT_OUT || st == IOS_AGAIN ? IOS_AGAIN : IOS_ERROR;
        }
        *put += w;
    }
    return IOS_OK;
}

/* Bytes OpenSSL read from the socket but did not hand out yet: epoll
 * cannot see them. */
static int tls_has_pending(int fd)
{
    return SSL_has_pending(g_tls[fd]);
}

/* After the WebSocket close (or the HTTP response): our close_notify,
 * without waiting for the peer's. IOS_WANT_OUT: the socket is full and
 * the alert is not out yet; call again when it is writable. Closing TCP
 * before it is out would truncate the TLS stream for the peer. */
static enum io_status tls_close_notify(int fd)
{
    ERR_clear_error();
    int ret = SSL_shutdown(g_tls[fd]);
    /* 0: ours is sent, the peer's not received; 1: both. Either will do. */
    if (ret >= 0) return IOS_OK;
    enum io_status st = tls_status(g_tls[fd], ret);
    return st == IOS_WANT_OUT ? IOS_WANT_OUT : IOS_ERROR;
}
#else
static int tls_on(void)
{
    return 0;
}
static int tls_attach(int fd)
{
    (void)fd;
    return -1;
}
static void tls_detach(int fd)
{
    (void)fd;
}
static enum io_status tls_read(int fd, uint8_t *buf, size_t cap, size_t *got)
{
    (void)fd;
    (void)buf;
    (void)cap;
    *got = 0;
    return IOS_ERROR;
}
static enum io_status tls_write(int fd, const uint8_t *p, size_t n, size_t *put)
{
    (void)fd;
    (void)p;
    (void)n;
    *put = 0;
    return IOS_ERROR;
}
static int tls_has_pending(int fd)
{
    (void)fd;
    return 0;
}
static enum io_status tls_close_notify(int fd)
{
    (void)fd;
    return IOS_OK;
}
#endif

/* ------------------------------------------------------------------------
 * Counters. Each loop writes its own; SIGUSR1 reads them all from another
 * thread, hence atomics (relaxed: they are statistics, not synchronisation).
 * ---------------------------------------------------------------------- */
enum close_bucket { CB_1000, CB_1001, CB_1002, CB_1003, CB_1005, CB_1007,
                    CB_1008, CB_1009, CB_1011, CB_OTHER, CB_COUNT };
static const char *const close_bucket_name[CB_COUNT] = {
    "1000", "1001", "1002", "1003", "1005", "1007", "1008", "1009", "1011",
    "other"};

enum refusal { RF_CONN_CAP, RF_ADDR_CAP, RF_HANDSHAKE_CAP, RF_FD_LIMIT,
               RF_HTTP, RF_ORIGIN, RF_OUTPUT_BUDGET, RF_COUNT };
static const char *const refusal_name[RF_COUNT] = {
    "connection-cap", "address-cap", "handshake-cap", "fd-limit",
    "bad-request", "origin", "output-budget"};

typedef struct stats {
    _Atomic uint64_t accepted, open, msgs_in, msgs_out, bytes_in, bytes_out;
    _Atomic uint64_t close_sent[CB_COUNT], close_recv[CB_COUNT];
    _Atomic uint64_t refused[RF_COUNT];
    _Atomic uint64_t outcomes[OC_COUNT];
} stats;

/* Only the owning loop writes its counters, so a relaxed load and store
 * suffice: no locked instruction on the per-message path. */
#define STAT_ADD(l, field, n)                                                   \
    atomic_store_explicit(&(l)->st.field,                                       \
                          atomic_load_explicit(&(l)->st.field, memory_order_relaxed) + \
                              (uint64_t)(n),                                    \
                          memory_order_relaxed)
#define STAT_GET(s, field) atomic_load_explicit(&(s)->field, memory_order_relaxed)

static enum close_bucket close_bucket_of(uint16_t code)
{
    switch (code) {
    case 1000: return CB_1000;
    case 1001: return CB_1001;
    case 1002: return CB_1002;
    case 1003: return CB_1003;
    case 1005: return CB_1005;
    case 1007: return CB_1007;
    case 1008: return CB_1008;
    case 1009: return CB_1009;
    case 1011: return CB_1011;
    default: return CB_OTHER;
    }
}

/* ------------------------------------------------------------------------
 * One event loop (one per --threads).
 * ---------------------------------------------------------------------- */
typedef struct loop {
    int index;
    int ep;
    int lfd;      /* this loop's SO_REUSEPORT listener; -1 once draining */
    int spare_fd; /* held in reserve for the accept-and-close at EMFILE */
    int wake_fd;  /* eventfd: another thread asks for a drain */
    int sig_fd;   /* signalfd, loop 0 only */
    pthread_t thread;
    uint8_t *in;  /* MAX_KEPT + READ_SIZE */
    uint8_t *out; /* headers and copied payloads of one read */
    size_t out_cap;
    uint32_t now;  /* ms since start, read once per iteration */
    int32_t head[TK_COUNT], tail[TK_COUNT];
    unsigned conns;
    int draining;
    uint32_t drain_deadline;
    int listen_paused;
    uint32_t listen_resume;
    /* TLS: connections with decrypted bytes waiting inside OpenSSL, read
     * before the next epoll_wait (which then does not sleep). */
    int *tls_ready;
    size_t tls_ready_n, tls_ready_cap;
    stats st;
} loop;

static loop g_loops[MAX_THREADS];
static atomic_uint g_active;     /* connections open, all loops */
static atomic_uint g_handshakes; /* of those, still in the handshake */
static _Atomic uint64_t g_buffered; /* output bytes kept, all loops */
static atomic_int g_drain;       /* a drain was asked for */
static uint64_t g_t0_ms;

static uint32_t clock_ms(void)
{
    /* Wraps after 49 days; every comparison is a difference of two clock
     * values, which stays right as long as durations are under 24 days. */
    return (uint32_t)(mono_ms() - g_t0_ms);
}

/* ------------------------------------------------------------------------
 * Timers: one intrusive list per kind, sorted because durations are fixed.
 * ---------------------------------------------------------------------- */
static uint32_t g_timer_ms[TK_COUNT];

static void timer_unlink(loop *l, int fd)
{
    conn_meta *m = meta_of(fd);
    if (m->timer == TK_NONE) return;
    if (m->prev >= 0)
        meta_of(m->prev)->next = m->next;
    else
        l->head[m->timer] = m->next;
    if (m->next >= 0)
        meta_of(m->next)->prev = m->prev;
    else
        l->tail[m->timer] = m->prev;
    m->prev = m->next = -1;
    m->timer = TK_NONE;
}

/* (Re)arms the connection's timer of this kind: it expires g_timer_ms[kind]
 * from now. */
static void timer_arm(loop *l, int fd, enum timer_kind kind)
{
    conn_meta *m = meta_of(fd);
    timer_unlink(l, fd);
    m->timer = (uint8_t)kind;
    m->since = l->now;
    m->next = -1;
    m->prev = l->tail[kind];
    if (m->prev >= 0)
        meta_of(m->prev)->next = fd;
    else
        l->head[kind] = fd;
    l->tail[kind] = fd;
}

static enum timer_kind timer_kind_for(const conn_meta *m)
{
    switch ((enum conn_state)m->state) {
    case CS_HANDSHAKE:
        return TK_HANDSHAKE;
    case CS_OPEN:
        if (m->flags & F_PAUSED) return TK_SEND;
        return (m->flags & F_PING_SENT) ? TK_PONG : TK_IDLE;
    case CS_CLOSING:
    case CS_FINISHING:
    case CS_LINGER:
    case CS_TLS_CLOSING:
        return TK_CLOSE;
    case CS_FREE:
        break;
    }
    return TK_NONE;
}

/* Puts the connection in the list its state calls for. `progress` says
 * the peer read or wrote something: that re-arms the idle and send timers
 * (not the handshake or close ones, which are absolute). */
static void retime(loop *l, int fd, int progress)
{
    conn_meta *m = meta_of(fd);
    enum timer_kind k = timer_kind_for(m);
    if (k != m->timer)
        timer_arm(l, fd, k);
    else if (progress && (k == TK_IDLE || k == TK_SEND) && m->since != l->now)
        timer_arm(l, fd, k);
}

/* ------------------------------------------------------------------------
 * Per-address connection counts: open addressing on the IPv4 address,
 * deletion by backward shift, shared by all loops under one lock (taken
 * only at accept and close).
 * ---------------------------------------------------------------------- */
static struct {
    uint32_t *key; /* 0 (0.0.0.0, never a peer): empty */
    uint32_t *count;
    size_t mask;
    pthread_mutex_t lock;
} g_addrs = {NULL, NULL, 0, PTHREAD_MUTEX_INITIALIZER};

static size_t addr_home(uint32_t a)
{
    return (size_t)((a * 2654435761u) >> 7) & g_addrs.mask;
}

/* Counts one more connection from addr; -1 if that passes the cap. */
static int addr_acquire(uint32_t addr)
{
    if (!opts.max_per_address || addr == 0) return 0;
    int rc = 0;
    pthread_mutex_lock(&g_addrs.lock);
    size_t i = addr_home(addr);
    while (g_addrs.key[i] != 0 && g_addrs.key[i] != addr)
        i = (i + 1) & g_addrs.mask;
    if (g_addrs.count[i] >= opts.max_per_address) {
        rc = -1;
    } else {
        g_addrs.key[i] = addr;
        g_addrs.count[i]++;
    }
    pthread_mutex_unlock(&g_addrs.lock);
    return rc;
}

static void addr_release(uint32_t addr)
{
    if (!opts.max_per_address || addr == 0) return;
    pthread_mutex_lock(&g_addrs.lock);
    size_t i = addr_home(addr);
    while (g_addrs.key[i] != addr) {
        if (g_addrs.key[i] == 0) goto out; /* not counted */
        i = (i + 1) & g_addrs.mask;
    }
    if (--g_addrs.count[i] == 0) {
        /* Backward-shift deletion keeps every probe chain unbroken. */
        size_t hole = i, j = i;
        for (;;) {
            j = (j + 1) & g_addrs.mask;
            if (g_addrs.key[j] == 0) break;
            size_t home = addr_home(g_addrs.key[j]);
            /* Entry j may move into the hole if its home is not in the
             * cyclic range (hole, j]. */
            int in_range = hole <= j ? (home > hole && home <= j)
                                     : (home > hole || home <= j);
            if (!in_range) {
                g_addrs.key[hole] = g_addrs.key[j];
                g_addrs.count[hole] = g_addrs.count[j];
                hole = j;
            }
        }
        g_addrs.key[hole] = 0;
        g_addrs.count[hole] = 0;
    }
out:
    pthread_mutex_unlock(&g_addrs.lock);
}

/* ------------------------------------------------------------------------
 * Logging and ending a connection.
 * ---------------------------------------------------------------------- */
static void format_peer(uint32_t addr, uint16_t port, char *out, size_t cap)
{
    struct in_addr ia;
    char host[INET_ADDRSTRLEN] = "?";
    ia.s_addr = addr;
    inet_ntop(AF_INET, &ia, host, sizeof host);
    snprintf(out, cap, "%s:%u", host, (unsigned)port);
}

static int http_status_of(const conn_meta *m)
{
    switch ((enum outcome)m->outcome) {
    case OC_PAGE: return 200;
    case OC_NOT_FOUND: return m->status ? 405 : 404;
    case OC_REJECTED: return wsp_status_http_code(m->status);
    default: return 0;
    }
}

/* One line per connection, in the thread server's format plus the loop;
 * the path is always "-": keeping it would cost every connection 128
 * bytes. */
static void log_conn(const loop *l, const conn_meta *m)
{
    if (opts.quiet || (m->flags & F_LOGGED)) return;
    char peer[32], codes[48] = "", http[16] = "";
    format_peer(m->addr, m->port, peer, sizeof peer);
    if (m->close_in || m->close_out)
        snprintf(codes, sizeof codes, " close_in=%u close_out=%u",
                 (unsigned)m->close_in, (unsigned)m->close_out);
    int hs = http_status_of(m);
    if (hs) snprintf(http, sizeof http, " http=%d", hs);
    const char *detail = outcome_text[m->outcome].detail;
    if (!detail && m->status && m->outcome != OC_NOT_FOUND)
        detail = wsp_strerror(m->status);
    fprintf(stderr, "peer=%s loop=%d path=- outcome=%s%s%s messages=%lu bytes=%llu%s%s\n",
            peer, l->index, outcome_text[m->outcome].name, http, codes,
            (unsigned long)m->messages, (unsigned long long)m->bytes,
            detail ? " detail=" : "", detail ? detail : "");
}

/* A refused Origin is logged while the request is at hand, since the
 * connection does not keep it. */
static void log_refused_origin(const loop *l, conn_meta *m, const wsp_request *req)
{
    if (opts.quiet) return;
    char peer[32], origin[128];
    const char *o = NULL;
    size_t ol = 0;
    format_peer(m->addr, m->port, peer, sizeof peer);
    if (wsp_headers_get(&req->headers, "Origin", &o, &ol) == WSP_OK)
        copy_printable(origin, sizeof origin, o, ol);
    else
        copy_printable(origin, sizeof origin, "(none)", 6);
    fprintf(stderr, "peer=%s loop=%d path=- outcome=rejected http=403 origin=%s "
            "messages=0 bytes=0 detail=%s\n", peer, l->index, origin,
            wsp_strerror(WSP_ERR_HTTP_ORIGIN));
    m->flags |= F_LOGGED;
}

static void spill_account(spill *sp)
{
    size_t now = sp->out ? sp->out_len - sp->out_off : 0;
    if (now >= sp->counted)
        atomic_fetch_add(&g_buffered, (uint64_t)(now - sp->counted));
    else
        atomic_fetch_sub(&g_buffered, (uint64_t)(sp->counted - now));
    sp->counted = now;
}

static void drop_spill(conn_meta *m)
{
    spill *sp = m->sp;
    if (!sp) return;
    free(sp->kept);
    free(sp->out);
    sp->out = NULL;
    spill_account(sp);
    free(sp);
    m->sp = NULL;
}

static void set_state(conn_meta *m, enum conn_state s)
{
    if (m->state == CS_HANDSHAKE && s != CS_HANDSHAKE)
        atomic_fetch_sub(&g_handshakes, 1);
    m->state = (uint8_t)s;
}

/* Ends a connection now. `why` is recorded unless an earlier outcome says
 * more (a drain's 1001 that then sees EOF stays "shutdown"); an outcome at
 * or past OC_HANDSHAKE_TIMEOUT always wins: the server chose to end it. */
static void finish(loop *l, int fd, enum outcome why)
{
    conn_meta *m = meta_of(fd);
    if (m->outcome == OC_NONE || why >= OC_HANDSHAKE_TIMEOUT)
        m->outcome = (uint8_t)why;
    if (m->outcome == OC_NONE && m->state != CS_HANDSHAKE)
        m->outcome = OC_DROPPED;
    STAT_ADD(l, outcomes[m->outcome], 1);
    log_conn(l, m);
    timer_unlink(l, fd);
    set_state(m, CS_FREE);
    addr_release(m->addr);
    drop_spill(m);
    if (tls_on()) tls_detach(fd);
    wsp_conn_deinit(conn_of(fd));
    memset(m, 0, sizeof *m);
    m->prev = m->next = -1;
    close(fd); /* also removes it from the epoll set */
    l->conns--;
    atomic_fetch_sub(&g_active, 1);
    STAT_ADD(l, open, (uint64_t)-1);
}

static spill *get_spill(conn_meta *m)
{
    if (!m->sp) m->sp = calloc(1, sizeof *m->sp);
    return m->sp;
}

static void maybe_free_spill(conn_meta *m)
{
    if (m->sp && !m->sp->kept_len && !m->sp->out) drop_spill(m);
}

/* Registers for EPOLLOUT while output is kept, EPOLLIN otherwise. */
static void update_interest(loop *l, int fd)
{
    conn_meta *m = meta_of(fd);
    int want_out = (m->flags & (F_PAUSED | F_TLS_READ_WANTS_OUT)) != 0 ||
                   m->state == CS_TLS_CLOSING;
    if (want_out == ((m->flags & F_WANT_OUT) != 0)) return;
    struct epoll_event ev;
    ev.events = want_out ? EPOLLOUT : EPOLLIN;
    ev.data.u64 = (uint64_t)fd;
    epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev);
    m->flags = (uint8_t)(want_out ? (m->flags | F_WANT_OUT)
                                  : (m->flags & ~F_WANT_OUT));
}

/* ------------------------------------------------------------------------
 * Output.
 * ---------------------------------------------------------------------- */
/* The output of one read: a list of pieces, each either in l->out or in
 * the read buffer (zero-copy payload). */
typedef struct outq {
    struct iovec iov[MAX_IOV];
    int n;
    size_t used;  /* bytes of l->out in use */
    size_t mark;  /* start of the l->out run not yet in iov */
    size_t total;
} outq;

static void outq_close_run(loop *l, outq *q)
{
    if (q->used > q->mark) {
        q->iov[q->n].iov_base = l->out + q->mark;
        q->iov[q->n].iov_len = q->used - q->mark;
        q->n++;
        q->total += q->used - q->mark;
        q->mark = q->used;
    }
}

/* Appends bytes to the connection's unsent output. */
static int keep_output(spill *sp, const uint8_t *p, size_t n)
{
    size_t have = sp->out ? sp->out_len - sp->out_off : 0;
    if (n > SIZE_MAX - have) return -1;
    uint8_t *o = malloc(have + n);
    if (!o) return -1;
    if (have) memcpy(o, sp->out + sp->out_off, have);
    memcpy(o + have, p, n);
    free(sp->out);
    sp->out = o;
    sp->out_len = have + n;
    sp->out_off = 0;
    spill_account(sp);
    return 0;
}

/* Over the global output budget, the connections stalled longest (the
 * head of the send-timer list) are dropped until it is met again; `self`
 * (whose output just grew) is spared: it is reading, the stalled are not. */
static void shed_output(loop *l, int self)
{
    while (atomic_load(&g_buffered) > opts.max_buffered && !l->draining) {
        int victim = l->head[TK_SEND];
        if (victim == self) victim = meta_of(victim)->next;
        if (victim < 0) return;
        STAT_ADD(l, refused[RF_OUTPUT_BUDGET], 1);
        finish(l, victim, OC_OUTPUT_BUDGET);
    }
}

/* Writes as much of q as the socket takes and keeps the rest, pausing
 * reading until it is written (when already paused, everything is kept, in
 * order). q is empty afterwards. Returns -1 if the connection must be
 * dropped. */
static int write_out(loop *l, int fd, outq *q)
{
    outq_close_run(l, q);
    size_t total = q->total, done = 0;
    int n = q->n;
    q->n = 0;
    q->used = q->mark = q->total = 0;
    if (total == 0) return 0;
    conn_meta *m = meta_of(fd);
    if (!(m->flags & F_PAUSED) && tls_on()) {
        /* Under TLS every piece is in l->out or a small buffer of the
         * caller (no zero-copy payload): one record per piece at most
         * 16 KiB. What the socket does not take is kept, starting with the
         * bytes of the write that could not finish. */
        for (int i = 0; i < n; i++) {
            size_t put = 0;
            enum io_status st = tls_write(fd, q->iov[i].iov_base,
                                          q->iov[i].iov_len, &put);
            done += put;
            if (st == IOS_ERROR) return -1;
            if (st != IOS_OK) break;
        }
        if (done == total) return 0;
    } else if (!(m->flags & F_PAUSED)) {
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = q->iov;
        mh.msg_iovlen = (size_t)n;
        ssize_t w;
        do w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN) return -1;
        done = w < 0 ? 0 : (size_t)w;
        if (done == total) return 0;
    }
    spill *sp = get_spill(m);
    if (!sp) return -1;
    for (int i = 0; i < n; i++) {
        size_t len = q->iov[i].iov_len;
        const uint8_t *base = q->iov[i].iov_base;
        if (done >= len) {
            done -= len;
            continue;
        }
        if (keep_output(sp, base + done, len - done) != 0) return -1;
        done = 0;
    }
    m->flags |= F_PAUSED; /* EPOLLOUT only, once this event is handled */
    shed_output(l, fd);
    return 0;
}

/* Sends (or keeps) a few bytes outside a read: a ping, a close frame. */
static int send_now(loop *l, int fd, const uint8_t *p, size_t n)
{
    outq q;
    q.iov[0].iov_base = (void *)(uintptr_t)p;
    q.iov[0].iov_len = n;
    q.n = 1;
    q.used = q.mark = 0;
    q.total = n;
    return write_out(l, fd, &q);
}

/* Makes room for need bytes in l->out and iovs more iov entries, writing
 * out what is queued when the batch is full (a read full of tiny frames). */
static int ensure(loop *l, int fd, outq *q, size_t need, int iovs)
{
    if (l->out_cap - q->used >= need && q->n + iovs + 1 < MAX_IOV) return 0;
    if (write_out(l, fd, q) != 0) return -1;
    return need <= l->out_cap ? 0 : -1;
}

/* Appends the library's queued output (pongs, close replies, failure close
 * frames, HTTP error responses). */
static int append_pending(loop *l, int fd, outq *q)
{
    wsp_conn *c = conn_of(fd);
    size_t pend = wsp_conn_pending_size(c);
    if (!pend) return 0;
    if (ensure(l, fd, q, pend, 1) != 0) return -1;
    size_t n = 0;
    if (wsp_conn_flush(c, l->out + q->used, l->out_cap - q->used, &n) != WSP_OK)
        return -1;
    q->used += n;
    return 0;
}

/* What echo_piece did with a piece of a message. */
enum echo_result {
    ECHO_QUEUED,   /* its frame is in q */
    ECHO_NOT_OPEN, /* our close went out (drain, idle timeout): not echoed */
    ECHO_FAILED    /* drop the connection */
};

static enum echo_result echo_piece(loop *l, int fd, const wsp_data_event *ev, outq *q)
{
    wsp_conn *c = conn_of(fd);
    unsigned flags = (ev->flags & WSP_DATA_LAST) ? 0u : WSP_SEND_MORE;
    /* An empty middle piece carries nothing worth a frame of its own. */
    if (ev->len == 0 && flags == WSP_SEND_MORE) return ECHO_QUEUED;
    size_t n = 0;
    int rc;
    /* Without compression every piece lies in the read buffer, which stays
     * put until the write. With it a piece may live in the connection's
     * inflate buffer, which the next wsp_conn_recv reuses, and a message
     * started compressed cannot go on uncompressed: so copy. */
    if (ev->len >= ZEROCOPY_MIN && !wsp_conn_deflate_active(c) && !tls_on()) {
        if (ensure(l, fd, q, WSP_MAX_FRAME_HEADER, 2) != 0) return ECHO_FAILED;
        rc = wsp_conn_send_zerocopy(c, ev->opcode, ev->payload, ev->len, flags,
                                    l->out + q->used, &n);
        if (rc == WSP_ERR_STATE) return ECHO_NOT_OPEN;
        if (rc != WSP_OK) return ECHO_FAILED;
        q->used += n;
        outq_close_run(l, q);
        q->iov[q->n].iov_base = ev->payload;
        q->iov[q->n].iov_len = ev->len;
        q->n++;
        q->total += ev->len;
        return ECHO_QUEUED;
    }
    /* Straight into the room left: a failed send writes nothing (and
     * leaves a compressor as it was), so the bound is asked for only when
     * the batch is full, which at small sizes saves a library call per
     * message. */
    rc = WSP_ERR_BUFFER_TOO_SMALL;
    if (q->n + 2 < MAX_IOV)
        rc = wsp_conn_send(c, ev->opcode, ev->payload, ev->len, flags,
                           l->out + q->used, l->out_cap - q->used, &n);
    if (rc == WSP_ERR_BUFFER_TOO_SMALL) {
        size_t need = 0;
        if (wsp_conn_send_bound(c, ev->len, &need) != WSP_OK ||
            ensure(l, fd, q, need, 1) != 0)
            return ECHO_FAILED;
        rc = wsp_conn_send(c, ev->opcode, ev->payload, ev->len,
                           flags, l->out + q->used, l->out_cap - q->used, &n);
    }
    if (rc == WSP_ERR_STATE) return ECHO_NOT_OPEN;
    if (rc != WSP_OK) return ECHO_FAILED;
    q->used += n;
    return ECHO_QUEUED;
}

/* ------------------------------------------------------------------------
 * Plain HTTP: the echo page at "/", 404 or 405 for anything else.
 * ---------------------------------------------------------------------- */
static int serve_plain(loop *l, int fd, const wsp_request *req, outq *q)
{
    conn_meta *m = meta_of(fd);
    plain_reply r;
    if (plain_http_reply(req, &r) != 0) return -1;
    size_t body = r.send_page ? r.page_len : 0;
    if (ensure(l, fd, q, r.head_len + body, 1) != 0) return -1;
    memcpy(l->out + q->used, r.head, r.head_len);
    q->used += r.head_len;
    if (body) plain_http_page((char *)l->out + q->used);
    q->used += body;
    m->outcome = r.status == 200 ? OC_PAGE : OC_NOT_FOUND;
    m->status = (int16_t)(r.status == 405 ? WSP_ERR_HTTP_METHOD : 0);
    return 0;
}

/* ------------------------------------------------------------------------
 * Input.
 * ---------------------------------------------------------------------- */
/* The last bytes are out: close now, or, after an HTTP response, shut the
 * write side and wait for the client's EOF, because closing with unread
 * input makes the kernel send RST, which can destroy the response before
 * the client reads it. */
static void end_after_write(loop *l, int fd)
{
    conn_meta *m = meta_of(fd);
    if (tls_on()) {
        enum io_status st = tls_close_notify(fd);
        if (st == IOS_WANT_OUT) {
            /* Bounded by the close timer, like the bytes before it. */
            set_state(m, CS_TLS_CLOSING);
            return;
        }
        if (st == IOS_ERROR) {
            finish(l, fd, OC_NONE);
            return;
        }
    }
    if (m->flags & F_LINGER) {
        m->flags &= (uint8_t)~(F_CLOSE_AFTER_WRITE | F_LINGER);
        shutdown(fd, SHUT_WR);
        set_state(m, CS_LINGER);
    } else {
        finish(l, fd, OC_NONE);
    }
}

static void note_close_sent(loop *l, conn_meta *m, uint16_t code)
{
    m->close_out = code;
    STAT_ADD(l, close_sent[close_bucket_of(code ? code : 1005)], 1);
}

/* Feeds data[0..len) to the connection, queues what it answers, and keeps
 * the unconsumed tail. */
static void process(loop *l, int fd, uint8_t *data, size_t len)
{
    wsp_conn *c = conn_of(fd);
    conn_meta *m = meta_of(fd);
    outq q;
    q.n = 0;
    q.used = q.mark = q.total = 0;
    int drop = 0, stop = 0;
    unsigned pongs = 0;
    enum echo_result echoed;
    /* Counted here and added once per read. */
    uint64_t msgs_in = 0, bytes_in = 0, msgs_out = 0, bytes_out = 0;

    /* Until WSP_EV_NONE, even with no input left (a compressed message can
     * give more than one event's worth). */
    while (!stop && !drop) {
        size_t used = 0, n = 0;
        wsp_event ev;
        /* Not every failing call fills the event; never read a stale one. */
        ev.type = WSP_EV_NONE;
        int rc = wsp_conn_recv(c, data, len, &used, &ev);
        data += used;
        len -= used;
        if (rc != WSP_OK && ev.type != WSP_EV_FAILURE) {
            /* WSP_ERR_CLOSED: input after the close is dropped. Anything
             * else is a usage error here: end rather than loop on it. */
            if (rc != WSP_ERR_CLOSED) {
                m->status = (int16_t)rc;
                drop = 1;
            }
            len = 0;
            break;
        }
        switch (ev.type) {
        case WSP_EV_NONE:
            stop = 1;
            break;
        case WSP_EV_REQUEST:
            if (ev.u.request.status == WSP_OK) {
                if (ensure(l, fd, &q, 1024, 1) != 0 ||
                    wsp_conn_accept(c, NULL, l->out + q.used,
                                    l->out_cap - q.used, &n) != WSP_OK) {
                    drop = 1;
                    break;
                }
                q.used += n;
                set_state(m, CS_OPEN);
                break;
            }
            if (!plain_http_has_header(&ev.u.request.request.headers, "Upgrade")) {
                if (serve_plain(l, fd, &ev.u.request.request, &q) != 0) drop = 1;
            } else {
                m->outcome = OC_REJECTED;
                m->status = (int16_t)ev.u.request.status;
                STAT_ADD(l, refused[ev.u.request.status == WSP_ERR_HTTP_ORIGIN ? RF_ORIGIN : RF_HTTP], 1);
                if (ev.u.request.status == WSP_ERR_HTTP_ORIGIN) log_refused_origin(l, m, &ev.u.request.request);
                if (ensure(l, fd, &q, 512, 1) != 0 ||
                    wsp_conn_reject(c, 0, l->out + q.used, l->out_cap - q.used,
                                    &n) != WSP_OK) {
                    drop = 1;
                    break;
                }
                q.used += n;
            }
            m->flags |= F_CLOSE_AFTER_WRITE | F_LINGER;
            set_state(m, CS_FINISHING);
            len = 0; /* a pipelined request after it is not served */
            stop = 1;
            break;
        case WSP_EV_DATA:
            if (ev.u.data.flags & WSP_DATA_LAST) msgs_in++;
            bytes_in += ev.u.data.len;
            /* After our own close frame (drain, idle timeout) nothing can
             * be echoed; the peer's close follows. */
            echoed = echo_piece(l, fd, &ev.u.data, &q);
            if (echoed == ECHO_NOT_OPEN) break;
            if (echoed == ECHO_FAILED) {
                drop = 1;
                break;
            }
            m->bytes += ev.u.data.len;
            bytes_out += ev.u.data.len;
            if (ev.u.data.flags & WSP_DATA_LAST) {
                m->messages++;
                msgs_out++;
            }
            break;
        case WSP_EV_PING:
            /* The pong goes out now, ahead of anything that came after the
             * ping (RFC 6455 5.5.2: "as soon as is practical"). */
            if (pongs++ < PONGS_PER_READ && append_pending(l, fd, &q) != 0)
                drop = 1;
            break;
        case WSP_EV_PONG:
            break;
        case WSP_EV_CLOSE:
            m->close_in = ev.u.close.code;
            STAT_ADD(l, close_recv[close_bucket_of(ev.u.close.code)], 1);
            if (m->close_out == 0 && m->state != CS_CLOSING)
                note_close_sent(l, m, ev.u.close.code == 1005 ? 0 : ev.u.close.code);
            if (m->outcome == OC_NONE) m->outcome = OC_CLOSED;
            break;
        case WSP_EV_FAILURE:
            m->status = (int16_t)ev.u.failure.status;
            if (ev.u.failure.close_code) {
                note_close_sent(l, m, ev.u.failure.close_code);
                m->outcome = OC_FAILED;
            } else if (m->state == CS_HANDSHAKE) {
                /* An unparseable head: the library queued the HTTP error. */
                m->outcome = OC_REJECTED;
                STAT_ADD(l, refused[RF_HTTP], 1);
            } else if (m->outcome == OC_NONE) {
                m->outcome = OC_FAILED;
            }
            len = 0;
            stop = 1;
            break;
        case WSP_EV_RESPONSE:
            break;
        }
    }
    if (bytes_in || msgs_in) {
        STAT_ADD(l, msgs_in, msgs_in);
        STAT_ADD(l, bytes_in, bytes_in);
        STAT_ADD(l, msgs_out, msgs_out);
        STAT_ADD(l, bytes_out, bytes_out);
    }
    if (drop || append_pending(l, fd, &q) != 0) {
        finish(l, fd, OC_DROPPED);
        return;
    }
    /* Keep the unconsumed tail: at most a frame header, a control frame or
     * an HTTP head, never payload. */
    if (len > 0 && wsp_conn_state(c) != WSP_STATE_CLOSED && m->state != CS_FINISHING) {
        spill *sp = get_spill(m);
        uint8_t *k = sp ? malloc(len) : NULL;
        if (!k) {
            finish(l, fd, OC_DROPPED);
            return;
        }
        memcpy(k, data, len);
        sp->kept = k;
        sp->kept_len = len;
    }
    if (write_out(l, fd, &q) != 0) {
        finish(l, fd, OC_DROPPED);
        return;
    }
    if (m->state != CS_FINISHING && wsp_conn_state(c) == WSP_STATE_CLOSED &&
        wsp_conn_pending_size(c) == 0) {
        /* RFC 6455 7.1.1: the server closes the TCP connection first. A
         * failure (an HTTP error during the handshake, or a close frame for
         * a protocol error) gets the lingering close: the peer may still be
         * sending, and closing with unread input resets the connection,
         * which can destroy that last answer before the peer reads it. */
        wsp_error_info err;
        m->flags |= F_CLOSE_AFTER_WRITE;
        if (m->state == CS_HANDSHAKE ||
            (wsp_conn_error(c, &err) == WSP_OK && err.status != WSP_OK))
            m->flags |= F_LINGER;
        set_state(m, CS_FINISHING);
    }
    if (m->state == CS_FINISHING && !(m->flags & F_PAUSED)) {
        end_after_write(l, fd);
        return;
    }
    maybe_free_spill(m);
}

/* Puts the bytes kept from the last read in front of start; returns how
 * many. */
static size_t restore_kept(conn_meta *m, uint8_t *start)
{
    size_t kept = 0;
    if (m->sp && m->sp->kept_len) {
        kept = m->sp->kept_len;
        memcpy(start - kept, m->sp->kept, kept);
        free(m->sp->kept);
        m->sp->kept = NULL;
        m->sp->kept_len = 0;
    }
    return kept;
}

/* on_readable over TLS. SSL_read_ex hands out at most one record per call,
 * so it is called until OpenSSL wants more from the socket or the buffer
 * is full; what stays inside OpenSSL then is found by tls_note_pending.
 * The first reads run the TLS handshake, within the handshake timer that
 * started at accept. */
static int on_readable_tls(loop *l, int fd)
{
    conn_meta *m = meta_of(fd);
    uint8_t *start = l->in + MAX_KEPT;
    size_t got = 0;
    enum io_status st = IOS_OK;
    m->flags &= (uint8_t)~F_TLS_READ_WANTS_OUT;
    while (got < READ_SIZE) {
        size_t n = 0;
        st = tls_read(fd, start + got, READ_SIZE - got, &n);
        if (st != IOS_OK) break;
        got += n;
    }
    /* A handshake message that did not fit in the socket: wait for room,
     * then read again. */
    if (st == IOS_WANT_OUT) m->flags |= F_TLS_READ_WANTS_OUT;
    int ended = st == IOS_EOF || st == IOS_ERROR;
    if (got == 0) {
        if (ended) finish(l, fd, OC_DROPPED);
        return 0;
    }
    m->flags &= (uint8_t)~F_PING_SENT;
    size_t kept = restore_kept(m, start);
    process(l, fd, start - kept, kept + got);
    /* The peer's last bytes are handled; a close reply still going out
     * finishes on its own (or at the close timer). */
    if (ended && m->state != CS_FREE && m->state != CS_FINISHING)
        finish(l, fd, OC_DROPPED);
    return 1;
}

/* Returns 1 if the peer sent something (re-arms the idle timer). */
static int on_readable(loop *l, int fd)
{
    conn_meta *m = meta_of(fd);
    uint8_t *start = l->in + MAX_KEPT;
    ssize_t n;
    /* Lingering after an HTTP response, the bytes are only waited out:
     * read them raw, TLS or not. */
    if (tls_on() && m->state != CS_LINGER) return on_readable_tls(l, fd);
    do n = read(fd, start, READ_SIZE);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return 0;
    if (n <= 0) {
        finish(l, fd, OC_DROPPED);
        return 0;
    }
    if (m->state == CS_LINGER) return 1; /* discarded */
    m->flags &= (uint8_t)~F_PING_SENT; /* any input shows the peer is there */
    size_t kept = restore_kept(m, start);
    process(l, fd, start - kept, kept + (size_t)n);
    return 1;
}

/* Returns 1 if the peer took bytes (re-arms the send timer). */
static int on_writable(loop *l, int fd)
{
    conn_meta *m = meta_of(fd);
    spill *sp = m->sp;
    ssize_t w;
    if (tls_on()) {
        /* The same bytes as the write that could not finish, first. */
        size_t put = 0;
        if (tls_write(fd, sp->out + sp->out_off, sp->out_len - sp->out_off,
                      &put) == IOS_ERROR) {
            finish(l, fd, OC_DROPPED);
            return 0;
        }
        if (put == 0) return 0;
        w = (ssize_t)put;
    } else {
        do w = send(fd, sp->out + sp->out_off, sp->out_len - sp->out_off, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
    }
    if (w < 0) {
        if (errno != EAGAIN) finish(l, fd, OC_DROPPED);
        return 0;
    }
    sp->out_off += (size_t)w;
    if (sp->out_off < sp->out_len) {
        spill_account(sp);
        return 1;
    }
    free(sp->out);
    sp->out = NULL;
    sp->out_len = sp->out_off = 0;
    spill_account(sp);
    m->flags &= (uint8_t)~F_PAUSED;
    if (m->flags & F_CLOSE_AFTER_WRITE) {
        end_after_write(l, fd);
        return 1;
    }
    /* Output the library queued while we were paused (a pong, say). */
    outq q;
    q.n = 0;
    q.used = q.mark = q.total = 0;
    if (append_pending(l, fd, &q) != 0 || write_out(l, fd, &q) != 0) {
        finish(l, fd, OC_DROPPED);
        return 1;
    }
    if (!(m->flags & F_PAUSED)) maybe_free_spill(m);
    return 1;
}

/* ------------------------------------------------------------------------
 * Server-initiated closes and timer expiry.
 * ---------------------------------------------------------------------- */
/* Starts the closing handshake with code (drain, idle timeout); the close
 * timer then bounds the wait for the peer's reply. */
static void start_close(loop *l, int fd, uint16_t code, const char *reason,
                        enum outcome why)
{
    conn_meta *m = meta_of(fd);
    uint8_t buf[WSP_MAX_FRAME_HEADER + WSP_MAX_CONTROL_PAYLOAD];
    size_t n = 0;
    if (wsp_conn_state(conn_of(fd)) != WSP_STATE_OPEN ||
        wsp_conn_close(conn_of(fd), code, reason, strlen(reason), buf,
                       sizeof buf, &n) != WSP_OK) {
        finish(l, fd, why);
        return;
    }
    note_close_sent(l, m, code);
    m->outcome = (uint8_t)why;
    set_state(m, CS_CLOSING);
    if (send_now(l, fd, buf, n) != 0) finish(l, fd, OC_DROPPED);
}

static void send_keepalive_ping(loop *l, int fd)
{
    static const uint8_t payload[] = "keepalive";
    uint8_t buf[WSP_MAX_FRAME_HEADER + sizeof payload];
    size_t n = 0;
    conn_meta *m = meta_of(fd);
    if (wsp_conn_send(conn_of(fd), WSP_OP_PING, payload, sizeof payload - 1, 0,
                      buf, sizeof buf, &n) != WSP_OK) {
        finish(l, fd, OC_IDLE_TIMEOUT);
        return;
    }
    m->flags |= F_PING_SENT;
    if (send_now(l, fd, buf, n) != 0) finish(l, fd, OC_DROPPED);
}

static void expire(loop *l, int fd, enum timer_kind kind)
{
    conn_meta *m = meta_of(fd);
    switch (kind) {
    case TK_HANDSHAKE:
        /* Absolute from accept: a client trickling its request one byte at
         * a time re-arms nothing. No response: the request never came. */
        finish(l, fd, OC_HANDSHAKE_TIMEOUT);
        break;
    case TK_IDLE:
        if (opts.ping_ms)
            send_keepalive_ping(l, fd);
        else
            start_close(l, fd, 1001, "idle timeout", OC_IDLE_TIMEOUT);
        break;
    case TK_PONG: {
        /* The peer stopped answering: RFC 6455 7.1.7 lets us fail the
         * connection, and a peer that ignores pings will ignore a close
         * frame too, so waiting for a close handshake would only add
         * another timeout. A 1001 frame is still offered, without waiting,
         * in case only the ping was lost on the peer's side. */
        uint8_t buf[WSP_MAX_FRAME_HEADER + WSP_MAX_CONTROL_PAYLOAD];
        size_t n = 0;
        static const char reason[] = "no pong";
        if (!(m->flags & F_PAUSED) &&
            wsp_conn_close(conn_of(fd), 1001, reason, sizeof reason - 1, buf,
                           sizeof buf, &n) == WSP_OK) {
            note_close_sent(l, m, 1001);
            if (tls_on()) {
                size_t put = 0;
                (void)tls_write(fd, buf, n, &put);
            } else {
                ssize_t w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
                (void)w;
            }
        }
        finish(l, fd, OC_PONG_TIMEOUT);
        break;
    }
    case TK_SEND:
        /* Output cannot get through, so neither can a close frame. */
        finish(l, fd, OC_SEND_STALLED);
        break;
    case TK_CLOSE:
        finish(l, fd, l->draining && m->outcome == OC_SHUTDOWN ? OC_DRAIN_TIMEOUT
                                                               : OC_CLOSE_TIMEOUT);
        break;
    case TK_NONE:
    case TK_COUNT:
        break;
    }
}

static void run_timers(loop *l)
{
    for (int k = TK_NONE + 1; k < TK_COUNT; k++) {
        while (l->head[k] >= 0) {
            int fd = l->head[k];
            conn_meta *m = meta_of(fd);
            if (l->now - m->since < g_timer_ms[k]) break;
            expire(l, fd, (enum timer_kind)k);
            if (m->state == CS_FREE) continue;
            update_interest(l, fd);
            retime(l, fd, 0);
            /* Every expiry ends the connection or moves it to another
             * list; anything else would spin here. */
            if (l->head[k] == fd) finish(l, fd, OC_CLOSE_TIMEOUT);
        }
    }
}

/* Milliseconds until the next timer expires, at most MAX_WAIT_MS. */
static int next_wait_ms(const loop *l)
{
    uint32_t wait = MAX_WAIT_MS;
    for (int k = TK_NONE + 1; k < TK_COUNT; k++) {
        if (l->head[k] < 0) continue;
        uint32_t age = l->now - meta_of(l->head[k])->since;
        uint32_t left = age >= g_timer_ms[k] ? 0 : g_timer_ms[k] - age;
        if (left < wait) wait = left;
    }
    if (l->draining) {
        uint32_t left = (int32_t)(l->drain_deadline - l->now) > 0
                            ? l->drain_deadline - l->now : 0;
        if (left < wait) wait = left;
    }
    if (l->listen_paused) {
        uint32_t left = (int32_t)(l->listen_resume - l->now) > 0
                            ? l->listen_resume - l->now : 0;
        if (left < wait) wait = left;
    }
    /* Timers fire at millisecond granularity; round up so a wake-up never
     * comes a hair early and spins. */
    return (int)wait + (wait < MAX_WAIT_MS ? 1 : 0);
}

/* ------------------------------------------------------------------------
 * Accepting.
 * ---------------------------------------------------------------------- */
/* Answers 503 and closes, straight from the accept loop: an overload costs
 * no connection state. */
static void refuse(loop *l, int fd, const struct sockaddr_in *sa,
                   enum refusal why)
{
    uint8_t buf[256];
    size_t n = 0;
    STAT_ADD(l, refused[why], 1);
    /* Over TLS the answer would need a TLS handshake first: just close. */
    if (!tls_on() && wsp_http_build_error(503, buf, sizeof buf, &n) == WSP_OK) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
    }
    close(fd);
    if (!opts.quiet) {
        char peer[32];
        format_peer(sa->sin_addr.s_addr, ntohs(sa->sin_port), peer, sizeof peer);
        char detail[96];
        switch (why) {
        case RF_CONN_CAP:
            snprintf(detail, sizeof detail, "connection cap (--max-connections %u) reached",
                     opts.max_connections);
            break;
        case RF_ADDR_CAP:
            snprintf(detail, sizeof detail, "address cap (--max-per-address %u) reached",
                     opts.max_per_address);
            break;
        case RF_HANDSHAKE_CAP:
            snprintf(detail, sizeof detail, "handshake cap (--max-handshakes %u) reached",
                     opts.max_handshakes);
            break;
        default:
            snprintf(detail, sizeof detail, "out of file descriptors");
            break;
        }
        fprintf(stderr, "peer=%s loop=%d path=- outcome=overloaded http=503 detail=%s\n",
                peer, l->index, detail);
    }
}

static void admit(loop *l, int fd, const struct sockaddr_in *sa)
{
    if (fd >= g_max_fd) {
        refuse(l, fd, sa, RF_FD_LIMIT);
        return;
    }
    if (atomic_fetch_add(&g_active, 1) >= opts.max_connections) {
        atomic_fetch_sub(&g_active, 1);
        refuse(l, fd, sa, RF_CONN_CAP);
        return;
    }
    uint32_t addr = sa->sin_addr.s_addr;
    if (addr_acquire(addr) != 0) {
        atomic_fetch_sub(&g_active, 1);
        refuse(l, fd, sa, RF_ADDR_CAP);
        return;
    }
    /* Over the handshake cap the oldest unfinished handshake goes, not the
     * newcomer: clients that complete their handshake in a round trip are
     * never the oldest, so a flood of slow handshakes only displaces
     * itself. */
    if (atomic_fetch_add(&g_handshakes, 1) >= opts.max_handshakes) {
        if (l->head[TK_HANDSHAKE] >= 0) {
            STAT_ADD(l, refused[RF_HANDSHAKE_CAP], 1);
            finish(l, l->head[TK_HANDSHAKE], OC_EVICTED);
        } else {
            atomic_fetch_sub(&g_handshakes, 1);
            atomic_fetch_sub(&g_active, 1);
            addr_release(addr);
            refuse(l, fd, sa, RF_HANDSHAKE_CAP);
            return;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn_meta *m = meta_of(fd);
    memset(m, 0, sizeof *m);
    m->prev = m->next = -1;
    m->addr = addr;
    m->port = ntohs(sa->sin_port);
    m->state = CS_HANDSHAKE;
    struct epoll_event ev;
    ev.events = EPOLLIN;
    ev.data.u64 = (uint64_t)fd;
    if (wsp_conn_init(conn_of(fd), &g_cfg) != WSP_OK ||
        (tls_on() && tls_attach(fd) != 0) ||
        epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        if (tls_on()) tls_detach(fd);
        m->state = CS_FREE;
        atomic_fetch_sub(&g_handshakes, 1);
        atomic_fetch_sub(&g_active, 1);
        addr_release(addr);
        close(fd);
        return;
    }
    timer_arm(l, fd, TK_HANDSHAKE);
    l->conns++;
    STAT_ADD(l, accepted, 1);
    STAT_ADD(l, open, 1);
}

static void listener_pause(loop *l)
{
    epoll_ctl(l->ep, EPOLL_CTL_DEL, l->lfd, NULL);
    l->listen_paused = 1;
    l->listen_resume = l->now + LISTEN_PAUSE_MS;
}

static void listener_resume(loop *l)
{
    if (l->lfd >= 0) {
        struct epoll_event ev;
        ev.events = EPOLLIN;
        ev.data.u64 = (uint64_t)l->lfd;
        epoll_ctl(l->ep, EPOLL_CTL_ADD, l->lfd, &ev);
    }
    l->listen_paused = 0;
    if (l->spare_fd < 0) l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void accept_some(loop *l)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof sa;
        memset(&sa, 0, sizeof sa);
        int fd = accept4(l->lfd, (struct sockaddr *)&sa, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            admit(l, fd, &sa);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
            return;
        /* Out of descriptors. The listener stays readable while the
         * connection waits in the backlog, so returning would make
         * epoll_wait return at once, forever. Give up the spare descriptor
         * to accept the connection and close it (the client sees a 503 and
         * EOF rather than a hang), then take the spare back. If even that
         * fails (ENFILE: the whole system is out), stop watching the
         * listener for a moment. */
        if (l->spare_fd >= 0) {
            close(l->spare_fd);
            l->spare_fd = -1;
            sl = sizeof sa;
            fd = accept4(l->lfd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
            int err = errno;
            if (fd >= 0) refuse(l, fd, &sa, RF_FD_LIMIT);
            l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (l->spare_fd >= 0) {
                if (fd >= 0) continue;
                /* accept reports EMFILE before it looks at the queue: with
                 * a descriptor free it says whether anyone was waiting. */
                if (err == EAGAIN || err == EWOULDBLOCK) return;
            }
        }
        listener_pause(l);
        return;
    }
}

/* ------------------------------------------------------------------------
 * Drain and signals.
 * ---------------------------------------------------------------------- */
/* Stops accepting and starts a 1001 close on every connection of this
 * loop; the loop ends when all are gone or --drain-timeout passes. */
static void start_drain(loop *l)
{
    if (l->draining) return;
    l->draining = 1;
    l->drain_deadline = l->now + opts.drain_ms;
    if (l->lfd >= 0) {
        close(l->lfd);
        l->lfd = -1;
    }
    /* Every connection is in exactly one timer list. start_close moves the
     * one at hand to the close list and touches no other, so the saved
     * successor stays valid. */
    for (int k = TK_NONE + 1; k < TK_COUNT; k++) {
        if (k == TK_CLOSE) continue;
        int fd = l->head[k];
        while (fd >= 0) {
            int next = meta_of(fd)->next;
            conn_meta *m = meta_of(fd);
            if (m->state == CS_HANDSHAKE) {
                finish(l, fd, OC_SHUTDOWN);
            } else if (m->state == CS_OPEN) {
                start_close(l, fd, 1001, "server shutting down", OC_SHUTDOWN);
                if (m->state != CS_FREE) {
                    update_interest(l, fd);
                    retime(l, fd, 0);
                }
            }
            fd = next;
        }
    }
}

static void wake_all_for_drain(void)
{
    atomic_store(&g_drain, 1);
    for (unsigned i = 0; i < opts.threads; i++) {
        uint64_t one = 1;
        ssize_t w = write(g_loops[i].wake_fd, &one, sizeof one);
        (void)w;
    }
}

static void print_stats(void)
{
    stats sum;
    memset(&sum, 0, sizeof sum);
    /* stats is nothing but _Atomic uint64_t fields: walk it as an array. */
    _Atomic uint64_t *acc = (_Atomic uint64_t *)(void *)&sum;
    size_t nfields = sizeof sum / sizeof(uint64_t);
    FILE *f = stderr;
    for (unsigned i = 0; i < opts.threads; i++) {
        const stats *s = &g_loops[i].st;
        const _Atomic uint64_t *src = (const _Atomic uint64_t *)(const void *)s;
        for (size_t j = 0; j < nfields; j++)
            atomic_store_explicit(&acc[j],
                                  atomic_load_explicit(&acc[j], memory_order_relaxed) +
                                      atomic_load_explicit(&src[j], memory_order_relaxed),
                                  memory_order_relaxed);
        if (opts.threads > 1)
            fprintf(f, "epoll_echo_server: loop %u: open=%llu total=%llu messages=%llu\n", i,
                    (unsigned long long)STAT_GET(s, open),
                    (unsigned long long)STAT_GET(s, accepted),
                    (unsigned long long)STAT_GET(s, msgs_in));
    }
    fprintf(f,
            "epoll_echo_server: connections open=%llu total=%llu; messages in=%llu "
            "out=%llu; bytes in=%llu out=%llu\n",
            (unsigned long long)sum.open, (unsigned long long)sum.accepted,
            (unsigned long long)sum.msgs_in, (unsigned long long)sum.msgs_out,
            (unsigned long long)sum.bytes_in, (unsigned long long)sum.bytes_out);
    char line[1024];
    size_t used = 0;
    for (int which = 0; which < 2; which++) {
        used = (size_t)snprintf(line, sizeof line, "epoll_echo_server: close codes %s:",
                                which ? "received" : "sent");
        for (int b = 0; b < CB_COUNT; b++) {
            uint64_t v = which ? sum.close_recv[b] : sum.close_sent[b];
            if (v && used < sizeof line)
                used += (size_t)snprintf(line + used, sizeof line - used, " %s=%llu",
                                         close_bucket_name[b], (unsigned long long)v);
        }
        fprintf(f, "%s\n", line);
    }
    used = (size_t)snprintf(line, sizeof line, "epoll_echo_server: refused:");
    for (int r = 0; r < RF_COUNT; r++)
        if (used < sizeof line)
            used += (size_t)snprintf(line + used, sizeof line - used, " %s=%llu",
                                     refusal_name[r], (unsigned long long)sum.refused[r]);
    fprintf(f, "%s\n", line);
    used = (size_t)snprintf(line, sizeof line, "epoll_echo_server: ended:");
    for (int o = OC_NONE; o < OC_COUNT; o++) {
        if (!sum.outcomes[o] || used >= sizeof line) continue;
        const char *d = outcome_text[o].detail;
        used += (size_t)snprintf(line + used, sizeof line - used, " %s%s%s=%llu",
                                 outcome_text[o].name, d && o >= OC_HANDSHAKE_TIMEOUT ? "/" : "",
                                 d && o >= OC_HANDSHAKE_TIMEOUT ? d : "",
                                 (unsigned long long)sum.outcomes[o]);
    }
    fprintf(f, "%s\n", line);
    fflush(f);
}

static void on_signals(loop *l)
{
    struct signalfd_siginfo si;
    while (read(l->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGUSR1) {
            print_stats();
        } else if (l->draining) {
            /* A second SIGTERM/SIGINT: stop waiting for close replies. */
            l->drain_deadline = l->now;
        } else {
            if (!opts.quiet)
                fprintf(stderr, "epoll_echo_server: draining %u connection(s)\n",
                        atomic_load(&g_active));
            wake_all_for_drain();
        }
    }
}

/* ------------------------------------------------------------------------
 * The loop.
 * ---------------------------------------------------------------------- */
/* Level-triggered epoll reports bytes in the socket, not bytes OpenSSL
 * already took from it: a connection with such bytes (a full read buffer,
 * records that came with the handshake, reading resumed after a pause) is
 * listed to be read without an event. */
static void tls_note_pending(loop *l, int fd)
{
    conn_meta *m = meta_of(fd);
    if (m->state == CS_FREE || m->state == CS_LINGER ||
        m->state == CS_TLS_CLOSING || (m->flags & (F_PAUSED | F_TLS_READY)) || !tls_has_pending(fd))
        return;
    if (l->tls_ready_n == l->tls_ready_cap) return; /* sized to never fill */
    m->flags |= F_TLS_READY;
    l->tls_ready[l->tls_ready_n++] = fd;
}

static void run_tls_ready(loop *l)
{
    size_t count = l->tls_ready_n;
    for (size_t i = 0; i < count; i++) {
        int fd = l->tls_ready[i];
        conn_meta *m = meta_of(fd);
        /* Ended since it was listed (the flag went with its record). */
        if (!(m->flags & F_TLS_READY)) continue;
        m->flags &= (uint8_t)~F_TLS_READY;
        if (m->flags & F_PAUSED) continue;
        int progress = on_readable(l, fd);
        if (m->state != CS_FREE) {
            update_interest(l, fd);
            retime(l, fd, progress);
            tls_note_pending(l, fd);
        }
    }
    l->tls_ready_n -= count;
    memmove(l->tls_ready, l->tls_ready + count,
            l->tls_ready_n * sizeof *l->tls_ready);
}

static void *loop_run(void *arg)
{
    loop *l = arg;
    struct epoll_event evs[MAX_EVENTS];
    uint32_t stop_at = opts.max_seconds > 0 ? (uint32_t)(opts.max_seconds * 1000.0) : 0;
    l->now = clock_ms();
    for (;;) {
        if (l->draining &&
            (l->conns == 0 || (int32_t)(l->now - l->drain_deadline) >= 0))
            break;
        int n = epoll_wait(l->ep, evs, MAX_EVENTS,
                           l->tls_ready_n ? 0 : next_wait_ms(l));
        l->now = clock_ms();
        for (int i = 0; i < n; i++) {
            int fd = (int)evs[i].data.u64;
            if (fd == l->lfd) {
                accept_some(l);
                continue;
            }
            if (fd == l->sig_fd) {
                on_signals(l);
                continue;
            }
            if (fd == l->wake_fd) {
                uint64_t v;
                ssize_t r = read(l->wake_fd, &v, sizeof v);
                (void)r;
                continue;
            }
            conn_meta *m = meta_of(fd);
            if (m->state == CS_FREE) continue; /* ended earlier in this batch */
            int progress = 0;
            if (m->state == CS_TLS_CLOSING) {
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                    end_after_write(l, fd); /* retries the close_notify */
            } else if (m->flags & F_PAUSED) {
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                    progress = on_writable(l, fd);
            } else if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ||
                       ((m->flags & F_TLS_READ_WANTS_OUT) &&
                        (evs[i].events & EPOLLOUT))) {
                progress = on_readable(l, fd);
            }
            if (m->state != CS_FREE) {
                update_interest(l, fd);
                retime(l, fd, progress);
                if (tls_on()) tls_note_pending(l, fd);
            }
        }
        if (l->tls_ready_n) run_tls_ready(l);
        if (atomic_load_explicit(&g_drain, memory_order_relaxed) && !l->draining)
            start_drain(l);
        if (stop_at && !l->draining && l->now >= stop_at) start_drain(l);
        if (l->listen_paused && (int32_t)(l->now - l->listen_resume) >= 0)
            listener_resume(l);
        run_timers(l);
    }
    /* Drain over: whoever has not answered is closed now. */
    for (int k = TK_NONE + 1; k < TK_COUNT; k++)
        while (l->head[k] >= 0) finish(l, l->head[k], OC_DRAIN_TIMEOUT);
    /* OpenSSL's per-thread state goes now: main does not wait for the
     * threads' exit handlers. */
    if (tls_on() && l->index > 0) tls_io_thread_done();
    return NULL;
}

static int listen_on(unsigned port, int reuseport)
{
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    return net_listen("epoll_echo_server", opts.host, service,
                      NET_IPV4_ONLY | NET_NONBLOCK |
                          (reuseport ? (unsigned)NET_REUSEPORT : 0u));
}

static int loop_init(loop *l, int index, int lfd)
{
    memset(l, 0, sizeof *l);
    l->index = index;
    l->lfd = lfd;
    l->sig_fd = -1;
    for (int k = 0; k < TK_COUNT; k++) l->head[k] = l->tail[k] = -1;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    l->in = malloc(MAX_KEPT + READ_SIZE);
    /* Echo of one read: at most the read plus a header per frame (masked
     * client headers are 4 bytes longer than ours); twice that leaves room
     * for what compression adds to a message that did not shrink. */
    l->out_cap = 2u * (MAX_KEPT + READ_SIZE) + 4096u;
    l->out = malloc(l->out_cap);
    if (tls_on()) {
        /* Each live connection is listed once; connections ended and
         * replaced within one iteration may leave a stale entry each. */
        l->tls_ready_cap = 2u * (size_t)g_max_fd + MAX_EVENTS;
        l->tls_ready = calloc(l->tls_ready_cap, sizeof *l->tls_ready);
        if (!l->tls_ready) return -1;
    }
    if (l->ep < 0 || l->wake_fd < 0 || !l->in || !l->out) return -1;
    /* Touch the buffers now so they are not counted against the first
     * connections. */
    memset(l->in, 0, MAX_KEPT + READ_SIZE);
    memset(l->out, 0, l->out_cap);
    struct epoll_event ev;
    ev.events = EPOLLIN;
    ev.data.u64 = (uint64_t)lfd;
    epoll_ctl(l->ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.u64 = (uint64_t)l->wake_fd;
    epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake_fd, &ev);
    return 0;
}

/* ------------------------------------------------------------------------
 * Options.
 * ---------------------------------------------------------------------- */
static void usage(FILE *f)
{
    fprintf(f,
            "usage: epoll_echo_server [options]\n"
            "  --host ADDR               IPv4 address to listen on (default 127.0.0.1)\n"
            "  --port PORT               port (default 9002; 0 picks a free one)\n"
            "  --threads N               event loops on the port, each with its own\n"
            "                            SO_REUSEPORT listener (default 1)\n"
            "  --max-message BYTES       largest message and frame accepted\n"
            "                            (default 16777216; larger: close 1009)\n"
            "  --max-fragments N         frames in one message (default %u)\n"
            "  --max-connections N       concurrent connections (default 20000;\n"
            "                            more get HTTP 503)\n"
            "  --max-per-address N       concurrent connections from one IPv4\n"
            "                            address (default 0: no cap)\n"
            "  --max-handshakes N        connections still in the handshake (default\n"
            "                            4096); over it the oldest one is dropped\n"
            "  --max-buffered BYTES      unsent output kept over all connections\n"
            "                            (default 268435456); over it the longest-\n"
            "                            stalled connections are dropped\n"
            "  --handshake-timeout SEC   time from accept to a complete request (10)\n"
            "  --idle-timeout SEC        close a silent WebSocket with 1001 (120)\n"
            "  --ping-interval SEC       instead, ping a connection silent this long\n"
            "                            and drop it if nothing comes back within\n"
            "                            --pong-timeout (default 0: off)\n"
            "  --pong-timeout SEC        (default 10)\n"
            "  --send-timeout SEC        drop a connection whose output makes no\n"
            "                            progress this long (10)\n"
            "  --close-timeout SEC       wait for a close reply or a client's EOF\n"
            "                            after an HTTP response (5)\n"
            "  --drain-timeout SEC       on SIGTERM/SIGINT, wait this long for the\n"
            "                            close replies to 1001 (5)\n"
            "  --max-seconds SEC         drain and exit after SEC seconds\n"
            "  --allow-origin ORIGIN     accept browser pages from ORIGIN only\n"
            "                            (repeatable); others get HTTP 403\n"
            "  --allow-null-origin       also accept the origin \"null\"\n"
            "  --require-origin          refuse requests without Origin (HTTP 403)\n"
            "  --no-deflate              do not accept permessage-deflate\n"
            "  --quiet                   no per-connection log lines\n"
            "  --tls-cert FILE           serve https and wss with this certificate\n"
            "                            chain (PEM; needs --tls-key)%s\n"
            "  --tls-key FILE            the certificate's private key (PEM)\n"
            "Seconds may have a fraction (0.5). SIGUSR1 prints the counters.\n",
            WSP_DEFAULT_MAX_FRAGMENTS,
            tls_io_available() ? "" : " (not in this build)");
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            opts.quiet = 1;
            continue;
        } else if (strcmp(a, "--no-deflate") == 0) {
            opts.no_deflate = 1;
            continue;
        } else if (strcmp(a, "--allow-null-origin") == 0) {
            opts.allow_null_origin = opts.origin_check = 1;
            continue;
        } else if (strcmp(a, "--require-origin") == 0) {
            opts.require_origin = opts.origin_check = 1;
            continue;
        }
        if (!v) goto bad;
        i++;
        if (strcmp(a, "--host") == 0) {
            opts.host = v;
            continue;
        }
        if (strcmp(a, "--allow-origin") == 0) {
            if (cli_add_origin("epoll_echo_server", v, &opts.allowed_origins,
                               &opts.allowed_origin_count) != 0)
                return -1;
            opts.origin_check = 1;
            continue;
        }
        if (strcmp(a, "--tls-cert") == 0) {
            opts.tls_cert = v;
            continue;
        }
        if (strcmp(a, "--tls-key") == 0) {
            opts.tls_key = v;
            continue;
        }
        uint32_t ms = 0;
        if (strcmp(a, "--handshake-timeout") == 0) {
            if (cli_parse_seconds(v, 0, &opts.handshake_ms)) goto bad;
        } else if (strcmp(a, "--idle-timeout") == 0) {
            if (cli_parse_seconds(v, 0, &opts.idle_ms)) goto bad;
        } else if (strcmp(a, "--ping-interval") == 0) {
            if (cli_parse_seconds(v, 1, &opts.ping_ms)) goto bad;
        } else if (strcmp(a, "--pong-timeout") == 0) {
            if (cli_parse_seconds(v, 0, &opts.pong_ms)) goto bad;
        } else if (strcmp(a, "--send-timeout") == 0) {
            if (cli_parse_seconds(v, 0, &opts.send_ms)) goto bad;
        } else if (strcmp(a, "--close-timeout") == 0) {
            if (cli_parse_seconds(v, 0, &opts.close_ms)) goto bad;
        } else if (strcmp(a, "--drain-timeout") == 0) {
            if (cli_parse_seconds(v, 0, &opts.drain_ms)) goto bad;
        } else if (strcmp(a, "--max-seconds") == 0) {
            if (cli_parse_seconds(v, 0, &ms)) goto bad;
            opts.max_seconds = ms / 1000.0;
        } else {
            unsigned long long x = 0;
            if (cli_parse_uint(v, ULLONG_MAX, &x) != 0) goto bad;
            if (strcmp(a, "--port") == 0 && x <= 65535) {
                opts.port = (unsigned)x;
            } else if (strcmp(a, "--max-message") == 0 && x > 0 && x < (1ull << 62)) {
                opts.max_message = x;
            } else if (strcmp(a, "--max-fragments") == 0 && x > 0 && x <= UINT32_MAX) {
                opts.max_fragments = (uint32_t)x;
            } else if (strcmp(a, "--max-connections") == 0 && x > 0 && x <= 1000000) {
                opts.max_connections = (unsigned)x;
            } else if (strcmp(a, "--max-per-address") == 0 && x <= 1000000) {
                opts.max_per_address = (unsigned)x;
            } else if (strcmp(a, "--max-handshakes") == 0 && x > 0 && x <= 1000000) {
                opts.max_handshakes = (unsigned)x;
            } else if (strcmp(a, "--max-buffered") == 0 && x > 0) {
                opts.max_buffered = x;
            } else if (strcmp(a, "--threads") == 0 && x > 0 && x <= MAX_THREADS) {
                opts.threads = (unsigned)x;
            } else {
                goto bad;
            }
        }
        continue;
    bad:
        fprintf(stderr, "epoll_echo_server: bad or incomplete option '%s'\n", a);
        usage(stderr);
        return -1;
    }
    if (!opts.tls_cert != !opts.tls_key) {
        fprintf(stderr, "epoll_echo_server: --tls-cert and --tls-key go together\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    g_t0_ms = mono_ms();
    if (parse_args(argc, argv) != 0) return 2;
    g_timer_ms[TK_HANDSHAKE] = opts.handshake_ms;
    g_timer_ms[TK_IDLE] = opts.ping_ms ? opts.ping_ms : opts.idle_ms;
    g_timer_ms[TK_PONG] = opts.pong_ms;
    g_timer_ms[TK_SEND] = opts.send_ms;
    g_timer_ms[TK_CLOSE] = opts.close_ms;

    if (opts.origin_check) {
        g_origin_policy.enabled = 1;
        g_origin_policy.origins = opts.allowed_origins;
        g_origin_policy.count = opts.allowed_origin_count;
        g_origin_policy.allow_null = opts.allow_null_origin;
        g_origin_policy.allow_missing = !opts.require_origin;
    }
    memset(&g_cfg, 0, sizeof g_cfg);
    g_cfg.role = WSP_ROLE_SERVER;
    g_cfg.max_message = opts.max_message;
    g_cfg.max_fragments = opts.max_fragments;
    if (opts.origin_check) g_cfg.origin_policy = &g_origin_policy;
    /* max_frame_payload stays at its default: the message limit already
     * bounds uncompressed frames, and a compressed frame of a message that
     * fits may be slightly larger than the message itself. */
    if (!opts.no_deflate && wsp_deflate_available()) g_cfg.deflate = &g_deflate_cfg;

    /* 10,000 connections need more descriptors than the usual soft limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = (rlim_t)opts.max_connections + 64u + 8u * opts.threads;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        g_max_fd = rl.rlim_cur > 1000000 ? 1000000 : (int)rl.rlim_cur;
    } else {
        g_max_fd = 1024;
    }

    /* Signals are read from a signalfd by loop 0, so no thread takes them
     * asynchronously; the mask is inherited by the loop threads. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    /* Writes use MSG_NOSIGNAL; this covers anything else. */
    signal(SIGPIPE, SIG_IGN);

    /* One slot per possible descriptor. calloc of this size maps fresh
     * zero pages, so only slots of descriptors in use take memory. */
    g_meta_off = (wsp_conn_size() + 15u) & ~(size_t)15u;
    g_stride = (g_meta_off + sizeof(conn_meta) + 15u) & ~(size_t)15u;
    g_slots = calloc((size_t)g_max_fd, g_stride);
    if (opts.max_per_address) {
        size_t cap = 1024;
        while (cap < 2u * (size_t)opts.max_connections) cap *= 2;
        g_addrs.key = calloc(cap, sizeof *g_addrs.key);
        g_addrs.count = calloc(cap, sizeof *g_addrs.count);
        g_addrs.mask = cap - 1;
        if (!g_addrs.key || !g_addrs.count) g_slots = NULL;
    }
    if (!g_slots) {
        fprintf(stderr, "epoll_echo_server: out of memory\n");
        return 1;
    }
    if (opts.tls_cert) {
        /* One context, shared read-only by every loop. */
        struct ssl_ctx_st *ctx = tls_server_context(opts.tls_cert, opts.tls_key);
        if (!ctx) return 1;
#ifdef EXAMPLES_TLS
        g_tls_ctx = ctx;
        g_tls = calloc((size_t)g_max_fd, sizeof *g_tls);
        if (!g_tls) {
            fprintf(stderr, "epoll_echo_server: out of memory\n");
            return 1;
        }
#endif
    }

    unsigned port = opts.port;
    for (unsigned i = 0; i < opts.threads; i++) {
        int lfd = listen_on(port, opts.threads > 1);
        if (lfd < 0) return 1;
        if (i == 0) {
            /* With --port 0 the other listeners join the port the kernel
             * picked for the first. */
            struct sockaddr_in sa;
            socklen_t sl = sizeof sa;
            getsockname(lfd, (struct sockaddr *)&sa, &sl);
            port = ntohs(sa.sin_port);
        }
        if (loop_init(&g_loops[i], (int)i, lfd) != 0) {
            fprintf(stderr, "epoll_echo_server: out of memory\n");
            return 1;
        }
    }
    loop *l0 = &g_loops[0];
    l0->sig_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (l0->sig_fd < 0) {
        /* The signals are blocked: without the signalfd nothing would
         * ever see SIGTERM. */
        perror("epoll_echo_server: signalfd");
        return 1;
    }
    struct epoll_event sev;
    sev.events = EPOLLIN;
    sev.data.u64 = (uint64_t)l0->sig_fd;
    epoll_ctl(l0->ep, EPOLL_CTL_ADD, l0->sig_fd, &sev);
    printf("epoll_echo_server listening on %s:%u%s\n", opts.host, port,
           tls_on() ? " (https and wss)" : "");
    fflush(stdout);

    for (unsigned i = 1; i < opts.threads; i++) {
        if (pthread_create(&g_loops[i].thread, NULL, loop_run, &g_loops[i]) != 0) {
            fprintf(stderr, "epoll_echo_server: cannot start thread %u\n", i);
            return 1;
        }
    }
    loop_run(l0);
    /* Loop 0 may have ended its own drain first (a --max-seconds deadline
     * reached by each loop alone); make sure the others drain too. */
    wake_all_for_drain();
    for (unsigned i = 1; i < opts.threads; i++) pthread_join(g_loops[i].thread, NULL);
    print_stats();
    return 0;
}
