/*
 * epoll_echo_server: a single-threaded, non-blocking WebSocket echo server
 * on Linux epoll, built on libwsproto's sans-I/O connection.
 *
 *   epoll_echo_server [--host 127.0.0.1] [--port 9002] [--max-message BYTES]
 *                     [--max-connections N] [--max-seconds N] [--quiet]
 *
 * Every upgrade request is accepted and every message echoed back, streamed
 * piece by piece as it arrives (a piece that is not the end of its message
 * is sent with WSP_SEND_MORE).
 *
 * How it keeps memory small: all connections share one read buffer and one
 * output buffer. What a connection keeps is its wsp_conn (placed with
 * wsp_conn_init in an array indexed by file descriptor, so an idle
 * connection costs its slot and nothing else) and, only while it holds
 * bytes between two readiness events, a heap "spill" (whose pointer is kept
 * in the epoll registration):
 *   - the unconsumed tail of its last read (a partial frame header, a
 *     partial control frame or HTTP head: wsp_conn_recv keeps nothing
 *     itself and wants those bytes again at the start of the next call);
 *   - output the socket did not take.
 *
 * Back-pressure: when a write is partial, the rest is kept and the server
 * stops reading from that client (EPOLLOUT only) until it is written, so a
 * client that does not read cannot make the server buffer without bound.
 *
 * Large payload pieces are not copied: their frame header is written with
 * wsp_conn_send_zerocopy and the payload goes out with sendmsg() straight
 * from the read buffer.
 */
#define _GNU_SOURCE

#include "wsproto.h"

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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* One read() takes at most this much. */
#define READ_SIZE (64u * 1024u)
/* Room in front of the read for the bytes a connection kept back: at most
 * the HTTP head limit during the handshake, WSP_MIN_RECV_BUFFER after. */
#define MAX_KEPT WSP_DEFAULT_MAX_HEADER_BYTES
/* Pieces at least this long are sent from the read buffer. */
#define ZEROCOPY_MIN 1024u
#define MAX_IOV 256
#define MAX_EVENTS 256

static struct {
    const char *host;
    unsigned port;
    uint64_t max_message;
    unsigned max_connections;
    double max_seconds;
    int quiet;
} opts = {"127.0.0.1", 9002, 16u * 1024u * 1024u, 20000, 0, 0};

/* Bytes a connection holds between events; allocated only when needed. */
typedef struct spill {
    int fd;
    uint32_t flags;   /* S_ */
    uint8_t *kept;    /* unconsumed input, passed again on the next read */
    size_t kept_len;
    uint8_t *out;     /* output not yet written */
    size_t out_len;
    size_t out_off;
} spill;

enum { S_PAUSED = 1u, S_CLOSE_AFTER_WRITE = 2u };

/* What a connection has beside its wsp_conn: only the spill pointer, and
 * that is kept in the kernel's epoll registration (epoll_event.data): it
 * holds the spill pointer when there is one (16-byte aligned, low bit 0),
 * else (fd << 1) | 1. So an idle connection costs its wsp_conn slot and
 * nothing else. While one event is handled, the pointer lives here, and the
 * registration is updated afterwards if it changed. */
typedef struct slot_tail {
    spill *sp;
} slot_tail;

static struct {
    int fd;
    int closed;
    slot_tail t;
} g_cur;

/* wsp_conn slots indexed by descriptor. */
static unsigned char *g_slots;
static size_t g_stride;
static int g_max_fd;
static int g_ep;
static unsigned g_active;
static uint8_t *g_in;  /* MAX_KEPT + READ_SIZE */
static uint8_t *g_out; /* headers and copied payloads of one read */
static size_t g_out_cap;
static volatile sig_atomic_t g_stop;
static unsigned long long g_stat_conns, g_stat_msgs, g_stat_failures;

static wsp_conn *conn_of(int fd)
{
    return (wsp_conn *)(void *)(g_slots + (size_t)fd * g_stride);
}

static slot_tail *tail_of(int fd)
{
    (void)fd; /* always the connection being handled */
    return &g_cur.t;
}

static int paused(const slot_tail *t)
{
    return t->sp && (t->sp->flags & S_PAUSED);
}

static uint64_t epoll_tag(int fd, const spill *sp)
{
    return sp ? (uint64_t)(uintptr_t)sp : ((uint64_t)fd << 1) | 1u;
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void drop_spill(slot_tail *t)
{
    if (t->sp) {
        free(t->sp->kept);
        free(t->sp->out);
        free(t->sp);
        t->sp = NULL;
    }
}

static void close_conn(int fd)
{
    slot_tail *t = tail_of(fd);
    drop_spill(t);
    wsp_conn_deinit(conn_of(fd));
    g_cur.closed = 1;
    close(fd); /* also removes it from the epoll set */
    g_active--;
}

static spill *get_spill(slot_tail *t)
{
    if (!t->sp) {
        t->sp = calloc(1, sizeof *t->sp);
        if (t->sp) t->sp->fd = g_cur.fd;
    }
    return t->sp;
}

static void maybe_free_spill(slot_tail *t)
{
    if (t->sp && !t->sp->kept_len && !t->sp->out) drop_spill(t);
}

/* The output of one read: a list of pieces, each either in g_out or in the
 * read buffer (zero-copy payload). */
typedef struct outq {
    struct iovec iov[MAX_IOV];
    int n;
    size_t used;      /* bytes of g_out in use */
    size_t mark;      /* start of the g_out run not yet in iov */
    size_t total;
} outq;

static void outq_close_run(outq *q)
{
    if (q->used > q->mark) {
        q->iov[q->n].iov_base = g_out + q->mark;
        q->iov[q->n].iov_len = q->used - q->mark;
        q->n++;
        q->total += q->used - q->mark;
        q->mark = q->used;
    }
}

/* Appends bytes to the connection's unsent output. */
static int keep_output(spill *sp, const uint8_t *p, size_t n)
{
    size_t have = sp->out_len - sp->out_off;
    uint8_t *o = malloc(have + n);
    if (!o) return -1;
    if (have) memcpy(o, sp->out + sp->out_off, have);
    memcpy(o + have, p, n);
    free(sp->out);
    sp->out = o;
    sp->out_len = have + n;
    sp->out_off = 0;
    return 0;
}

/* Writes as much of q as the socket takes and keeps the rest, pausing
 * reading until it is written (when already paused, everything is kept, in
 * order). q is empty afterwards. Returns -1 if the connection must be
 * dropped. */
static int write_out(int fd, outq *q)
{
    outq_close_run(q);
    size_t total = q->total, done = 0;
    int n = q->n;
    q->n = 0;
    q->used = q->mark = q->total = 0;
    if (total == 0) return 0;
    slot_tail *t = tail_of(fd);
    if (!paused(t)) {
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
    spill *sp = get_spill(t);
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
    sp->flags |= S_PAUSED; /* EPOLLOUT only, once this event is handled */
    return 0;
}

/* Makes room for need bytes in g_out and iovs more iov entries, writing
 * out what is queued when the batch is full (a read full of tiny frames). */
static int ensure(int fd, outq *q, size_t need, int iovs)
{
    if (g_out_cap - q->used >= need && q->n + iovs + 1 < MAX_IOV) return 0;
    return write_out(fd, q);
}

static int echo_piece(int fd, wsp_conn *c, const wsp_data_event *ev, outq *q)
{
    unsigned flags = (ev->flags & WSP_DATA_LAST) ? 0u : WSP_SEND_MORE;
    size_t n = 0;
    int rc;
    if (ev->len >= ZEROCOPY_MIN) {
        if (ensure(fd, q, WSP_MAX_FRAME_HEADER, 2) != 0) return -1;
        rc = wsp_conn_send_zerocopy(c, ev->opcode, ev->payload, ev->len, flags,
                                    g_out + q->used, &n);
        if (rc != WSP_OK) return -1;
        q->used += n;
        outq_close_run(q);
        q->iov[q->n].iov_base = ev->payload;
        q->iov[q->n].iov_len = ev->len;
        q->n++;
        q->total += ev->len;
        return 0;
    }
    if (ensure(fd, q, ev->len + WSP_MAX_FRAME_HEADER, 1) != 0) return -1;
    rc = wsp_conn_send(c, ev->opcode, ev->payload, ev->len, flags, g_out + q->used,
                       g_out_cap - q->used, &n);
    if (rc != WSP_OK) return -1;
    q->used += n;
    return 0;
}

/* Feeds data[0..len) to the connection, queues what it answers, and keeps
 * the unconsumed tail. */
static void process(int fd, uint8_t *data, size_t len)
{
    wsp_conn *c = conn_of(fd);
    slot_tail *t = tail_of(fd);
    outq q;
    q.n = 0;
    q.used = q.mark = q.total = 0;
    int drop = 0, stop = 0;

    /* Until WSP_EV_NONE, even with no input left (a compressed message can
     * give more than one event's worth). */
    while (!stop) {
        size_t used = 0, n = 0;
        wsp_event ev;
        int rc = wsp_conn_recv(c, data, len, &used, &ev);
        data += used;
        len -= used;
        if (rc != WSP_OK) {
            if (rc != WSP_ERR_CLOSED) g_stat_failures++;
            if (!opts.quiet && rc != WSP_ERR_CLOSED)
                fprintf(stderr, "epoll_echo_server: fd %d: %s\n", fd, wsp_strerror(rc));
            len = 0;
            break;
        }
        switch (ev.type) {
        case WSP_EV_NONE:
            stop = 1;
            break;
        case WSP_EV_REQUEST:
            if (ensure(fd, &q, 1024, 1) != 0) {
                drop = 1;
                stop = 1;
                break;
            }
            if (ev.u.request.status == WSP_OK)
                rc = wsp_conn_accept(c, NULL, g_out + q.used, g_out_cap - q.used, &n);
            else
                rc = wsp_conn_reject(c, 0, g_out + q.used, g_out_cap - q.used, &n);
            if (rc != WSP_OK) {
                drop = 1;
                stop = 1;
                break;
            }
            q.used += n;
            break;
        case WSP_EV_DATA:
            if (echo_piece(fd, c, &ev.u.data, &q) != 0) {
                drop = 1;
                stop = 1;
            }
            if (ev.u.data.flags & WSP_DATA_LAST) g_stat_msgs++;
            break;
        case WSP_EV_PING: {
            /* The pong goes out now, ahead of anything that came after the
             * ping (RFC 6455 5.5.2: "as soon as is practical"), and every
             * ping gets its own rather than only the latest. */
            size_t pend = wsp_conn_pending_size(c);
            if (ensure(fd, &q, pend, 1) != 0) {
                drop = 1;
                stop = 1;
                break;
            }
            wsp_conn_flush(c, g_out + q.used, g_out_cap - q.used, &n);
            q.used += n;
            break;
        }
        default: /* closes are answered by the library, flushed below */
            break;
        }
    }
    if (drop) {
        close_conn(fd);
        return;
    }
    /* Pongs, close replies, the close frame of a failure. */
    size_t pend = wsp_conn_pending_size(c);
    if (pend) {
        size_t n = 0;
        if (ensure(fd, &q, pend, 1) != 0) {
            close_conn(fd);
            return;
        }
        wsp_conn_flush(c, g_out + q.used, g_out_cap - q.used, &n);
        q.used += n;
    }
    /* Keep the unconsumed tail: at most a frame header, a control frame or
     * an HTTP head, never payload. */
    if (len > 0 && wsp_conn_state(c) != WSP_STATE_CLOSED) {
        spill *sp = get_spill(t);
        uint8_t *k = sp ? malloc(len) : NULL;
        if (!k) {
            close_conn(fd);
            return;
        }
        memcpy(k, data, len);
        sp->kept = k;
        sp->kept_len = len;
    }
    if (write_out(fd, &q) != 0) {
        close_conn(fd);
        return;
    }
    if (wsp_conn_state(c) == WSP_STATE_CLOSED && wsp_conn_pending_size(c) == 0) {
        /* RFC 6455 7.1.1: the server closes the TCP connection first. */
        if (paused(t))
            t->sp->flags |= S_CLOSE_AFTER_WRITE;
        else
            close_conn(fd);
        return;
    }
    maybe_free_spill(t);
}

static void on_readable(int fd)
{
    slot_tail *t = tail_of(fd);
    uint8_t *start = g_in + MAX_KEPT;
    ssize_t n;
    do n = read(fd, start, READ_SIZE);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
        close_conn(fd);
        return;
    }
    size_t kept = 0;
    if (t->sp && t->sp->kept_len) {
        kept = t->sp->kept_len;
        memcpy(start - kept, t->sp->kept, kept);
        free(t->sp->kept);
        t->sp->kept = NULL;
        t->sp->kept_len = 0;
    }
    process(fd, start - kept, kept + (size_t)n);
}

static void on_writable(int fd)
{
    slot_tail *t = tail_of(fd);
    spill *sp = t->sp;
    ssize_t w;
    do w = send(fd, sp->out + sp->out_off, sp->out_len - sp->out_off, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        if (errno != EAGAIN) close_conn(fd);
        return;
    }
    sp->out_off += (size_t)w;
    if (sp->out_off < sp->out_len) return;
    free(sp->out);
    sp->out = NULL;
    sp->out_len = sp->out_off = 0;
    sp->flags &= ~(uint32_t)S_PAUSED;
    if (sp->flags & S_CLOSE_AFTER_WRITE) {
        close_conn(fd);
        return;
    }
    /* Output the library queued while we were paused (a pong, say). */
    wsp_conn *c = conn_of(fd);
    size_t pend = wsp_conn_pending_size(c);
    if (pend) {
        outq q;
        size_t n = 0;
        q.n = 0;
        q.used = q.mark = q.total = 0;
        wsp_conn_flush(c, g_out, g_out_cap, &n);
        q.used = n;
        if (write_out(fd, &q) != 0) {
            close_conn(fd);
            return;
        }
        if (paused(t)) return;
    }
    maybe_free_spill(t);
}

static void accept_all(int lfd, const wsp_config *cfg)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;
        }
        if (fd >= g_max_fd || g_active >= opts.max_connections) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (wsp_conn_init(conn_of(fd), cfg) != WSP_OK) {
            close(fd);
            continue;
        }
        struct epoll_event ev;
        ev.events = EPOLLIN;
        ev.data.u64 = epoll_tag(fd, NULL);
        if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            continue;
        }
        g_active++;
        g_stat_conns++;
    }
}

static int listen_on(void)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)opts.port);
    if (inet_pton(AF_INET, opts.host, &sa.sin_addr) != 1) {
        fprintf(stderr, "epoll_echo_server: bad IPv4 address '%s'\n", opts.host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0) {
        fprintf(stderr, "epoll_echo_server: cannot listen on %s:%u: %s\n",
                opts.host, opts.port, strerror(errno));
        close(fd);
        return -1;
    }
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    printf("epoll_echo_server listening on %s:%u\n", opts.host,
           (unsigned)ntohs(sa.sin_port));
    fflush(stdout);
    return fd;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: epoll_echo_server [options]\n"
            "  --host ADDR            IPv4 address to listen on (default 127.0.0.1)\n"
            "  --port PORT            port (default 9002; 0 picks a free one)\n"
            "  --max-message BYTES    largest message accepted (default 16777216)\n"
            "  --max-connections N    concurrent connections (default 20000)\n"
            "  --max-seconds N        exit after N seconds (default: run until\n"
            "                         SIGINT/SIGTERM)\n"
            "  --quiet                no per-connection error lines\n");
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--quiet") == 0) {
            opts.quiet = 1;
            continue;
        }
        if (!v) goto bad;
        i++;
        errno = 0;
        if (strcmp(a, "--host") == 0) {
            opts.host = v;
            continue;
        }
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || !*v || *end || *v == '-') goto bad;
        if (strcmp(a, "--port") == 0 && x <= 65535) {
            opts.port = (unsigned)x;
        } else if (strcmp(a, "--max-message") == 0 && x > 0 && x < (1ull << 62)) {
            opts.max_message = x;
        } else if (strcmp(a, "--max-connections") == 0 && x > 0 && x <= 1000000) {
            opts.max_connections = (unsigned)x;
        } else if (strcmp(a, "--max-seconds") == 0 && x > 0) {
            opts.max_seconds = (double)x;
        } else {
            goto bad;
        }
        continue;
    bad:
        fprintf(stderr, "epoll_echo_server: bad or incomplete option '%s'\n", a);
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) return 2;

    /* 10,000 connections need more descriptors than the usual soft limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = (rlim_t)opts.max_connections + 64;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        g_max_fd = rl.rlim_cur > 1000000 ? 1000000 : (int)rl.rlim_cur;
    } else {
        g_max_fd = 1024;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* One slot per possible descriptor. calloc of this size maps fresh
     * zero pages, so only slots of descriptors in use take memory. */
    g_stride = (wsp_conn_size() + 15u) & ~(size_t)15u;
    g_slots = calloc((size_t)g_max_fd, g_stride);
    g_in = malloc(MAX_KEPT + READ_SIZE);
    /* Echo of one read: at most the read plus a header per frame, and
     * headers are never longer than the frames they answer (masked client
     * frames have 4 more header bytes than our unmasked ones). */
    g_out_cap = MAX_KEPT + READ_SIZE + 4096;
    g_out = malloc(g_out_cap);
    if (!g_slots || !g_in || !g_out) {
        fprintf(stderr, "epoll_echo_server: out of memory\n");
        return 1;
    }
    /* Touch the shared buffers now so they are not counted against the
     * first connections. */
    memset(g_in, 0, MAX_KEPT + READ_SIZE);
    memset(g_out, 0, g_out_cap);

    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_SERVER;
    cfg.max_frame_payload = opts.max_message;
    cfg.max_message = opts.max_message;

    int lfd = listen_on();
    if (lfd < 0) return 1;
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) return 1;
    struct epoll_event lev;
    lev.events = EPOLLIN;
    lev.data.u64 = epoll_tag(lfd, NULL);
    epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &lev);

    double deadline = opts.max_seconds > 0 ? now_s() + opts.max_seconds : 0;
    static struct epoll_event evs[MAX_EVENTS];
    while (!g_stop && (deadline == 0 || now_s() < deadline)) {
        int n = epoll_wait(g_ep, evs, MAX_EVENTS, 500);
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            spill *sp = (tag & 1u) ? NULL : (spill *)(uintptr_t)tag;
            int fd = sp ? sp->fd : (int)(tag >> 1);
            if (fd == lfd) {
                accept_all(lfd, &cfg);
                continue;
            }
            g_cur.fd = fd;
            g_cur.closed = 0;
            g_cur.t.sp = sp;
            int was_paused = paused(&g_cur.t);
            if (was_paused) {
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable(fd);
            } else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(fd);
            }
            /* Keep the registration in step with the spill and pausing. */
            if (!g_cur.closed &&
                (g_cur.t.sp != sp || paused(&g_cur.t) != was_paused)) {
                struct epoll_event ev;
                ev.events = paused(&g_cur.t) ? EPOLLOUT : EPOLLIN;
                ev.data.u64 = epoll_tag(fd, g_cur.t.sp);
                epoll_ctl(g_ep, EPOLL_CTL_MOD, fd, &ev);
            }
        }
    }
    fprintf(stderr,
            "epoll_echo_server: %llu connections, %llu messages echoed, "
            "%llu protocol failures\n",
            g_stat_conns, g_stat_msgs, g_stat_failures);
    return 0;
}
