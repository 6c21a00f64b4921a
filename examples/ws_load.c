/*
 * ws_load: a WebSocket echo load generator on libwsproto's client role.
 *
 *   ws_load [--host 127.0.0.1] [--port 9002] [-c CONNS] [-n MESSAGES]
 *           [-s SIZE] [-w WINDOW] [--text] [--raw] [--idle SECONDS]
 *           [--timeout SECONDS] [--system-entropy]
 *
 * Opens CONNS connections (at most 256 connecting at a time), does the
 * opening handshake on each, then, once all are open, sends MESSAGES
 * messages of SIZE bytes on every connection with at most WINDOW of them
 * awaiting their echo (the window is topped up after each read, with one
 * write). Every echoed byte is checked against what was sent. Then each
 * connection sends a close frame, waits for the server's close and EOF.
 *
 * Prints messages per second, payload MB/s (one direction), p50/p99
 * round-trip latency (of every message, or an even sample of 131072 in
 * longer runs) and the error count, and a RESULT line for scripts.
 * Exits 1 if any message was lost, wrong, or late.
 *
 * --raw speaks plain TCP instead (no handshake, no framing): the same
 * bytes, windows and checks, against a plain TCP echo server. That gives
 * the baseline the WebSocket figures are compared with.
 *
 * --idle SECONDS keeps the connections open (without traffic) for that
 * long after the messages, printing "IDLE <n>" first, so a script can read
 * the server's memory per idle connection.
 *
 * Masking keys: the library asks its entropy source for 4 bytes per frame.
 * The default source is one getrandom() call each time; here the same OS
 * CSPRNG is read 4 KiB at a time and handed out 4 bytes per frame, which
 * keeps a system call out of every message (--system-entropy restores the
 * library default).
 */
#define _GNU_SOURCE

#include "cli.h"
#include "latency.h"
#include "net.h"
#include "wsproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
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
#include <time.h>
#include <unistd.h>

/* 256 KiB of payload and room for the frame headers of the messages in it,
 * so that a window of power-of-two messages is one read (see
 * epoll_echo_server.c). */
#define READ_SIZE (256u * 1024u + 4096u)
#define MAX_KEPT (16u * 1024u)
#define MAX_CONNECTING 256
/* The payload of message i on connection c starts at offset
 * (i * size + c * 7) % PERIOD of a fixed printable pattern. */
#define PERIOD 4093u

static struct {
    const char *host;
    unsigned port;
    unsigned conns;
    unsigned long long msgs;
    size_t size;
    unsigned window;
    int text;
    int raw;
    unsigned idle;
    unsigned timeout;
    int system_entropy;
} opts = {"127.0.0.1", 9002, 1, 10000, 32, 1, 0, 0, 0, 60, 0};

enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSING, C_DONE };

typedef struct client {
    int fd;
    enum cstate state;
    wsp_conn *ws;
    unsigned long long sent, done; /* messages sent, fully echoed */
    size_t rx_off;                 /* bytes of message `done` echoed */
    uint64_t *sent_at;             /* send time per window slot */
    uint8_t *kept;                 /* unconsumed input */
    size_t kept_len;
    uint8_t *out;                  /* unsent output */
    size_t out_len, out_off;
    int want_write;
} client;

static client *g_clients;
static int g_ep;
static uint8_t *g_pattern;
static uint8_t *g_in, *g_wbuf;
static size_t g_wcap;
static unsigned long long g_errors;
static unsigned g_open, g_finished, g_connecting, g_next_connect;
static int g_started;
static latency_sample g_lat;
static struct sockaddr_in g_addr;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef struct entropy_pool {
    uint8_t buf[4096];
    size_t pos;
} entropy_pool;

static entropy_pool g_pool = {{0}, sizeof g_pool.buf};

static int pooled_entropy(uint8_t *out, size_t len, void *user)
{
    entropy_pool *p = user;
    if (len > sizeof p->buf) return wsp_entropy_system(out, len, NULL);
    if (sizeof p->buf - p->pos < len) {
        if (wsp_entropy_system(p->buf, sizeof p->buf, NULL) != 0) return -1;
        p->pos = 0;
    }
    memcpy(out, p->buf + p->pos, len);
    /* Each byte is handed out once. */
    memset(p->buf + p->pos, 0, len);
    p->pos += len;
    return 0;
}

static const uint8_t *payload_of(unsigned c, unsigned long long i)
{
    return g_pattern + (i * opts.size + (unsigned long long)c * 7u) % PERIOD;
}

static void note_error(client *cl, const char *what)
{
    g_errors++;
    if (g_errors <= 10)
        fprintf(stderr, "ws_load: connection %u: %s\n", (unsigned)(cl - g_clients), what);
}

static void set_events(client *cl, uint32_t ev)
{
    struct epoll_event e;
    e.events = ev;
    e.data.u32 = (uint32_t)(cl - g_clients);
    epoll_ctl(g_ep, EPOLL_CTL_MOD, cl->fd, &e);
}

static void finish(client *cl)
{
    if (cl->state == C_DONE) return;
    if (cl->fd >= 0 && !opts.idle) {
        close(cl->fd);
        cl->fd = -1;
    }
    if (cl->state == C_CONNECTING) g_connecting--;
    cl->state = C_DONE;
    free(cl->kept);
    free(cl->out);
    cl->kept = cl->out = NULL;
    cl->kept_len = cl->out_len = cl->out_off = 0;
    g_finished++;
}

static void fail_client(client *cl, const char *what)
{
    note_error(cl, what);
    if (cl->fd >= 0) {
        close(cl->fd);
        cl->fd = -1;
    }
    finish(cl);
}

/* Writes buf[0..n); keeps what the socket does not take. */
static void send_bytes(client *cl, const uint8_t *buf, size_t n)
{
    if (n == 0) return;
    if (cl->out) {
        uint8_t *o = realloc(cl->out, cl->out_len + n);
        if (!o) {
            fail_client(cl, "out of memory");
            return;
        }
        memcpy(o + cl->out_len, buf, n);
        cl->out = o;
        cl->out_len += n;
        return;
    }
    ssize_t w;
    do w = send(cl->fd, buf, n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN) {
        fail_client(cl, "send failed");
        return;
    }
    size_t done = w < 0 ? 0 : (size_t)w;
    if (done == n) return;
    cl->out = malloc(n - done);
    if (!cl->out) {
        fail_client(cl, "out of memory");
        return;
    }
    memcpy(cl->out, buf + done, n - done);
    cl->out_len = n - done;
    cl->out_off = 0;
    cl->want_write = 1;
    set_events(cl, EPOLLIN | EPOLLOUT);
}

/* Sends messages until the window is full; one write for all of them. */
static void top_up(client *cl)
{
    unsigned c = (unsigned)(cl - g_clients);
    size_t w = 0;
    uint64_t t = mono_ns();
    if (cl->state != C_OPEN || cl->out) return;
    while (cl->sent < opts.msgs && cl->sent - cl->done < opts.window) {
        const uint8_t *p = payload_of(c, cl->sent);
        if (opts.raw) {
            memcpy(g_wbuf + w, p, opts.size);
            w += opts.size;
        } else {
            size_t n = 0;
            int rc = wsp_conn_send(cl->ws, opts.text ? WSP_OP_TEXT : WSP_OP_BINARY,
                                   p, opts.size, 0, g_wbuf + w, g_wcap - w, &n);
            if (rc != WSP_OK) {
                fail_client(cl, wsp_strerror(rc));
                return;
            }
            w += n;
        }
        cl->sent_at[cl->sent % opts.window] = t;
        cl->sent++;
    }
    send_bytes(cl, g_wbuf, w);
}

static void message_done(client *cl)
{
    latency_add(&g_lat, mono_ns() - cl->sent_at[cl->done % opts.window]);
    cl->done++;
    cl->rx_off = 0;
}

/* Checks echoed bytes of the current message(s). */
static int check_bytes(client *cl, const uint8_t *p, size_t n, int whole_message_end)
{
    unsigned c = (unsigned)(cl - g_clients);
    while (n > 0) {
        if (cl->done >= cl->sent) {
            note_error(cl, "echo of a message never sent");
            return -1;
        }
        size_t k = opts.size - cl->rx_off;
        if (k > n) k = n;
        if (memcmp(p, payload_of(c, cl->done) + cl->rx_off, k) != 0) {
            note_error(cl, "echoed bytes differ");
            return -1;
        }
        cl->rx_off += k;
        p += k;
        n -= k;
        if (cl->rx_off == opts.size && opts.raw) message_done(cl);
    }
    if (whole_message_end) {
        if (cl->rx_off != opts.size) {
            note_error(cl, "echoed message has the wrong length");
            return -1;
        }
        message_done(cl);
    }
    return 0;
}

static void start_close(client *cl)
{
    if (opts.idle) {
        if (cl->state != C_DONE) finish(cl);
        return;
    }
    if (opts.raw) {
        finish(cl);
        return;
    }
    size_t n = 0;
    if (wsp_conn_close(cl->ws, 1000, NULL, 0, g_wbuf, g_wcap, &n) != WSP_OK) {
        fail_client(cl, "close failed");
        return;
    }
    cl->state = C_CLOSING;
    send_bytes(cl, g_wbuf, n);
}

static void process(client *cl, uint8_t *data, size_t len)
{
    /* Until WSP_EV_NONE, even with no input left (the library's contract:
     * a compressed message can give more than one event's worth). */
    while (cl->state != C_DONE && (len > 0 || !opts.raw)) {
        if (opts.raw) {
            if (check_bytes(cl, data, len, 0) != 0) {
                fail_client(cl, "bad echo");
                return;
            }
            len = 0;
            break;
        }
        size_t used = 0;
        wsp_event ev;
        int rc = wsp_conn_recv(cl->ws, data, len, &used, &ev);
        data += used;
        len -= used;
        if (rc == WSP_ERR_CLOSED && cl->state == C_CLOSING) break; /* done */
        if (rc != WSP_OK) {
            fail_client(cl, wsp_strerror(rc));
            return;
        }
        if (ev.type == WSP_EV_NONE) break;
        switch (ev.type) {
        case WSP_EV_RESPONSE:
            if (ev.u.response.status != WSP_OK) {
                fail_client(cl, wsp_strerror(ev.u.response.status));
                return;
            }
            cl->state = C_OPEN;
            g_open++;
            break;
        case WSP_EV_DATA:
            if (ev.u.data.opcode != (opts.text ? WSP_OP_TEXT : WSP_OP_BINARY) ||
                ((ev.u.data.flags & WSP_DATA_FIRST) != 0) != (cl->rx_off == 0) ||
                check_bytes(cl, ev.u.data.payload, ev.u.data.len,
                            (ev.u.data.flags & WSP_DATA_LAST) != 0) != 0) {
                fail_client(cl, "bad echo");
                return;
            }
            break;
        case WSP_EV_CLOSE:
            if (cl->state != C_CLOSING) {
                fail_client(cl, "server closed early");
                return;
            }
            break;
        default:
            break;
        }
    }
    if (cl->state == C_DONE) return;
    if (!opts.raw) {
        size_t pend = wsp_conn_pending_size(cl->ws), n = 0;
        if (pend && wsp_conn_flush(cl->ws, g_wbuf, g_wcap, &n) == WSP_OK)
            send_bytes(cl, g_wbuf, n);
        if (cl->state == C_DONE) return;
    }
    if (len > 0) {
        if (len > MAX_KEPT) {
            fail_client(cl, "too many bytes kept back");
            return;
        }
        cl->kept = malloc(len);
        if (!cl->kept) {
            fail_client(cl, "out of memory");
            return;
        }
        memcpy(cl->kept, data, len);
        cl->kept_len = len;
    }
    if (cl->state == C_OPEN && cl->done == opts.msgs) start_close(cl);
    else if (g_started) top_up(cl);
}

static void on_readable(client *cl)
{
    uint8_t *start = g_in + MAX_KEPT;
    ssize_t n;
    do n = read(cl->fd, start, READ_SIZE);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
        if (cl->state == C_CLOSING && wsp_conn_state(cl->ws) == WSP_STATE_CLOSED) {
            finish(cl); /* the server closed TCP after the close handshake */
            return;
        }
        fail_client(cl, n == 0 ? "unexpected EOF" : "read failed");
        return;
    }
    size_t kept = cl->kept_len;
    if (kept) {
        memcpy(start - kept, cl->kept, kept);
        free(cl->kept);
        cl->kept = NULL;
        cl->kept_len = 0;
    }
    process(cl, start - kept, kept + (size_t)n);
}

static void on_writable(client *cl)
{
    if (cl->state == C_CONNECTING) {
        int err = 0;
        socklen_t sl = sizeof err;
        getsockopt(cl->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
        if (err) {
            fail_client(cl, strerror(err));
            return;
        }
        g_connecting--;
        set_events(cl, EPOLLIN);
        if (opts.raw) {
            cl->state = C_OPEN;
            g_open++;
            return;
        }
        wsp_client_options co;
        memset(&co, 0, sizeof co);
        co.host = opts.host;
        co.target = "/";
        size_t n = 0;
        cl->state = C_HANDSHAKE;
        if (wsp_conn_client_request(cl->ws, &co, g_wbuf, g_wcap, &n) != WSP_OK) {
            fail_client(cl, "cannot write the request");
            return;
        }
        send_bytes(cl, g_wbuf, n);
        return;
    }
    if (!cl->out) return;
    ssize_t w;
    do w = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        if (errno != EAGAIN) fail_client(cl, "send failed");
        return;
    }
    cl->out_off += (size_t)w;
    if (cl->out_off < cl->out_len) return;
    free(cl->out);
    cl->out = NULL;
    cl->out_len = cl->out_off = 0;
    cl->want_write = 0;
    set_events(cl, EPOLLIN);
    if (g_started) top_up(cl);
}

static void connect_more(const wsp_config *cfg)
{
    while (g_next_connect < opts.conns && g_connecting < MAX_CONNECTING) {
        client *cl = &g_clients[g_next_connect++];
        cl->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (cl->fd < 0) {
            fail_client(cl, "socket failed (descriptor limit?)");
            continue;
        }
        int one = 1;
        setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (!opts.raw && wsp_conn_new(cfg, &cl->ws) != WSP_OK) {
            fail_client(cl, "wsp_conn_new failed");
            continue;
        }
        cl->state = C_CONNECTING;
        g_connecting++;
        if (connect(cl->fd, (struct sockaddr *)&g_addr, sizeof g_addr) != 0 &&
            errno != EINPROGRESS) {
            fail_client(cl, strerror(errno));
            continue;
        }
        struct epoll_event e;
        e.events = EPOLLOUT;
        e.data.u32 = (uint32_t)(cl - g_clients);
        epoll_ctl(g_ep, EPOLL_CTL_ADD, cl->fd, &e);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ws_load [options]\n"
            "  --host ADDR        server IPv4 address (default 127.0.0.1)\n"
            "  --port PORT        server port (default 9002)\n"
            "  -c N               connections (default 1)\n"
            "  -n N               messages per connection (default 10000)\n"
            "  -s BYTES           message size (default 32)\n"
            "  -w N               messages in flight per connection (default 1)\n"
            "  --text             text messages (default binary)\n"
            "  --raw              plain TCP echo instead of WebSocket\n"
            "  --idle SECONDS     keep connections open, idle, that long at the end\n"
            "  --timeout SECONDS  give up after this long (default 60)\n"
            "  --system-entropy   one getrandom() per frame (library default)\n");
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--text") == 0) {
            opts.text = 1;
            continue;
        } else if (strcmp(a, "--raw") == 0) {
            opts.raw = 1;
            continue;
        } else if (strcmp(a, "--system-entropy") == 0) {
            opts.system_entropy = 1;
            continue;
        }
        if (!v) goto bad;
        i++;
        if (strcmp(a, "--host") == 0) {
            opts.host = v;
            continue;
        }
        unsigned long long x = 0;
        if (cli_parse_uint(v, ULLONG_MAX, &x) != 0) goto bad;
        if (strcmp(a, "--port") == 0 && x > 0 && x <= 65535) opts.port = (unsigned)x;
        else if (strcmp(a, "-c") == 0 && x > 0 && x <= 1000000) opts.conns = (unsigned)x;
        else if (strcmp(a, "-n") == 0 && x > 0) opts.msgs = x;
        else if (strcmp(a, "-s") == 0 && x <= (1u << 30)) opts.size = (size_t)x;
        else if (strcmp(a, "-w") == 0 && x > 0 && x <= 65536) opts.window = (unsigned)x;
        else if (strcmp(a, "--idle") == 0 && x <= 3600) opts.idle = (unsigned)x;
        else if (strcmp(a, "--timeout") == 0 && x > 0 && x <= 86400) opts.timeout = (unsigned)x;
        else goto bad;
        continue;
    bad:
        fprintf(stderr, "ws_load: bad or incomplete option '%s'\n", a);
        usage(stderr);
        return -1;
    }
    if (opts.raw && opts.size == 0) {
        fprintf(stderr, "ws_load: --raw needs -s of at least 1\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) return 2;

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opts.conns + 64) {
        rl.rlim_cur = (rlim_t)opts.conns + 64 < rl.rlim_max ? (rlim_t)opts.conns + 64
                                                          : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    net_handle_signals(on_signal);

    memset(&g_addr, 0, sizeof g_addr);
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)opts.port);
    if (inet_pton(AF_INET, opts.host, &g_addr.sin_addr) != 1) {
        fprintf(stderr, "ws_load: bad IPv4 address '%s'\n", opts.host);
        return 2;
    }

    g_pattern = malloc(PERIOD + opts.size + 1);
    g_in = malloc(MAX_KEPT + READ_SIZE);
    g_wcap = (size_t)opts.window * (opts.size + WSP_MAX_FRAME_HEADER) + 4096;
    g_wbuf = malloc(g_wcap);
    g_clients = calloc(opts.conns, sizeof *g_clients);
    unsigned long long total = (unsigned long long)opts.conns * opts.msgs;
    if (!g_pattern || !g_in || !g_wbuf || !g_clients || latency_init(&g_lat, total) != 0) {
        fprintf(stderr, "ws_load: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < PERIOD + opts.size + 1; i++)
        g_pattern[i] = (uint8_t)(' ' + (i * 7919u + i / 97u) % 95u);
    for (unsigned c = 0; c < opts.conns; c++) {
        g_clients[c].fd = -1;
        g_clients[c].sent_at = calloc(opts.window, sizeof(uint64_t));
        if (!g_clients[c].sent_at) {
            fprintf(stderr, "ws_load: out of memory\n");
            return 1;
        }
    }

    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    cfg.max_frame_payload = opts.size + 1;
    cfg.max_message = opts.size + 1;
    if (!opts.system_entropy) {
        cfg.entropy = pooled_entropy;
        cfg.entropy_user = &g_pool;
    }

    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) return 1;

    uint64_t t_begin = mono_ns(), t_start = 0, t_end = 0;
    uint64_t deadline = t_begin + (uint64_t)opts.timeout * 1000000000u;
    static struct epoll_event evs[512];
    int idle_reported = 0;
    uint64_t idle_until = 0;

    while (!g_stop) {
        connect_more(&cfg);
        if (!g_started && g_open + g_finished >= opts.conns) {
            /* Everyone is connected: start the clock and the traffic. */
            g_started = 1;
            t_start = mono_ns();
            for (unsigned c = 0; c < opts.conns; c++) {
                client *cl = &g_clients[c];
                if (cl->state == C_OPEN) {
                    if (cl->done == opts.msgs) start_close(cl);
                    else top_up(cl);
                }
            }
        }
        if (g_finished >= opts.conns) {
            if (!t_end) t_end = mono_ns();
            if (!opts.idle) break;
            if (!idle_reported) {
                unsigned alive = 0;
                for (unsigned c = 0; c < opts.conns; c++) alive += g_clients[c].fd >= 0;
                printf("IDLE %u\n", alive);
                fflush(stdout);
                idle_reported = 1;
                idle_until = mono_ns() + (uint64_t)opts.idle * 1000000000u;
            }
            if (mono_ns() >= idle_until) break;
            usleep(100000);
            continue;
        }
        if (mono_ns() > deadline) {
            fprintf(stderr, "ws_load: timeout after %u s\n", opts.timeout);
            g_errors++;
            break;
        }
        int n = epoll_wait(g_ep, evs, 512, 200);
        for (int i = 0; i < n; i++) {
            client *cl = &g_clients[evs[i].data.u32];
            if (cl->state == C_DONE || cl->fd < 0) continue;
            if (evs[i].events & (EPOLLOUT | EPOLLERR)) {
                if (cl->state == C_CONNECTING || cl->out) on_writable(cl);
            }
            if (cl->state != C_DONE && cl->state != C_CONNECTING &&
                (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                on_readable(cl);
        }
    }
    if (!t_end) t_end = mono_ns();

    unsigned long long got = 0;
    for (unsigned c = 0; c < opts.conns; c++) got += g_clients[c].done;
    if (got != total) {
        if (!g_errors) g_errors++;
        fprintf(stderr, "ws_load: %llu of %llu messages echoed\n", got, total);
    }
    double secs = t_start && t_end > t_start ? (double)(t_end - t_start) / 1e9 : 0;
    double p50, p99;
    latency_percentiles(&g_lat, &p50, &p99);
    double mps = secs > 0 ? (double)got / secs : 0;
    double mbps = mps * (double)opts.size / 1e6;
    printf("ws_load: %s %s, %u connections x %llu messages of %zu bytes, "
           "window %u\n",
           opts.raw ? "raw TCP" : "WebSocket",
           opts.raw ? "bytes" : opts.text ? "text" : "binary", opts.conns,
           opts.msgs, opts.size, opts.window);
    printf("ws_load: %llu messages in %.3f s: %.0f msg/s, %.1f MB/s, "
           "latency p50 %.1f us, p99 %.1f us, errors %llu\n",
           got, secs, mps, mbps, p50, p99, g_errors);
    printf("RESULT mode=%s conns=%u size=%zu window=%u msgs=%llu secs=%.4f "
           "msgps=%.0f mbps=%.2f p50_us=%.1f p99_us=%.1f errors=%llu\n",
           opts.raw ? "raw" : "ws", opts.conns, opts.size, opts.window, got,
           secs, mps, mbps, p50, p99, g_errors);
    for (unsigned c = 0; c < opts.conns; c++) {
        if (g_clients[c].fd >= 0) close(g_clients[c].fd);
        wsp_conn_free(g_clients[c].ws);
        free(g_clients[c].sent_at);
        free(g_clients[c].kept);
        free(g_clients[c].out);
    }
    return g_errors ? 1 : 0;
}
