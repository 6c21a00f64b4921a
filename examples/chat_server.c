/*
 * chat_server: every text message a client sends goes to every other
 * client. Single-threaded, non-blocking, epoll.
 *
 *   chat_server [--host 127.0.0.1] [--port 9002] [--max-message BYTES]
 *               [--queue-bytes BYTES] [--deflate] [--quiet]
 *
 * Encode once, send to many. Server frames are not masked, so the bytes of
 * a frame do not depend on who receives it: a message is encoded once, with
 * the stateless wsp_frame_encode_header, into a reference-counted buffer
 * that every recipient's queue points to. The connection never sees these
 * frames (wsp_conn_send would encode per connection); that is sound
 * because each is a whole, unfragmented message and nothing is queued for
 * a connection that is no longer OPEN.
 *
 * Compression (--deflate) is negotiated with server_no_context_takeover:
 * every message is then compressed from a fresh state, so its compressed
 * bytes depend only on the message and the window size, not on what the
 * connection sent before. Clients that agreed on the same server window
 * share one compressed frame. The library compresses only inside
 * wsp_conn_send, so that frame is made by the first such recipient's
 * connection, whose compressor resets after the message. The price is the
 * compression ratio: no message can refer to earlier ones. To know each
 * client's window, the server negotiates itself (wsp_deflate_negotiate),
 * answers with that, and turns compression on (wsp_conn_enable_deflate).
 *
 * Slow consumers. Each client has a queue of frames not yet written to its
 * socket, bounded by --queue-bytes (default 1 MiB). A broadcast that would
 * push a client's queue over the bound drops that client: the frames it has
 * not started to receive are discarded, the one on the wire is finished (so
 * the framing stays intact), a close frame with 1008 follows, and the TCP
 * connection is closed once the client answers or after CLOSE_GRACE_MS.
 * The bound must hold at least one whole message of --max-message bytes
 * plus its header, or a client could be dropped for one message; the
 * server refuses a smaller one. docs/guide.md discusses sizing it.
 */
#define _GNU_SOURCE /* accept4 */

#include "cli.h"
#include "net.h"
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
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RECV_BUF_SIZE (16u * 1024u)
#define MAX_CLIENTS 4096u
#define CLOSE_GRACE_MS 5000u
#define WRITE_BATCH 64

/* One encoded frame, shared by every queue that holds it. */
typedef struct shared_frame {
    size_t refs;
    size_t len;
    uint8_t bytes[];
} shared_frame;

static shared_frame *frame_new(size_t len)
{
    shared_frame *f = malloc(sizeof *f + len);
    if (f) {
        f->refs = 1;
        f->len = len;
    }
    return f;
}

static void frame_release(shared_frame *f)
{
    if (f && --f->refs == 0) free(f);
}

typedef enum client_state {
    CLIENT_ACTIVE,  /* handshake or open: reads and receives broadcasts */
    CLIENT_CLOSING, /* its close is queued: send what is left, then close */
    CLIENT_DROPPED  /* too slow: 1008 queued after the frame on the wire */
} client_state;

typedef struct queue_item {
    shared_frame *frame;
    struct queue_item *next;
} queue_item;

typedef struct client {
    int fd;
    wsp_conn *ws;
    client_state state;
    uint8_t in[RECV_BUF_SIZE];
    size_t in_len;
    wsp_message msg;
    queue_item *head, *tail;
    size_t head_sent;    /* bytes of head->frame already written */
    size_t queued_bytes; /* unwritten bytes over the whole queue */
    int want_write;      /* EPOLLOUT registered */
    uint64_t deadline_ms; /* CLOSING / DROPPED: close TCP by then */
    int window_bits;     /* 0: no compression; 8..15: agreed server window */
    char peer[64];
} client;

static struct {
    uint64_t max_message;
    size_t queue_bytes;
    int deflate;
    int quiet;
} opts = {64u * 1024u, 1024u * 1024u, 0, 0};

/* Each compressed message must stand alone to be shared (see above). */
static const wsp_deflate_config deflate_cfg = {.no_context_takeover = 1};
/* Printed at exit: how many frames were encoded for how many deliveries. */
static unsigned long long stat_messages, stat_encodings, stat_deliveries;
static client *clients[MAX_CLIENTS];
static int epfd = -1;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void logf_client(const client *c, const char *what)
{
    if (!opts.quiet) fprintf(stderr, "peer=%s %s\n", c->peer, what);
}

/* ------------------------------------------------------------------------
 * The outgoing queue.
 * ---------------------------------------------------------------------- */
static int enqueue(client *c, shared_frame *f)
{
    queue_item *it = malloc(sizeof *it);
    if (!it) return -1;
    f->refs++;
    it->frame = f;
    it->next = NULL;
    if (c->tail) c->tail->next = it;
    else c->head = it;
    c->tail = it;
    c->queued_bytes += f->len;
    return 0;
}

static void dequeue_head(client *c)
{
    queue_item *it = c->head;
    c->head = it->next;
    if (!c->head) c->tail = NULL;
    c->queued_bytes -= it->frame->len - c->head_sent;
    c->head_sent = 0;
    frame_release(it->frame);
    free(it);
}

/* Copies a connection-made frame (close, pong, a compressed message) into
 * a frame of its own and queues it. */
static int enqueue_copy(client *c, const uint8_t *bytes, size_t len)
{
    shared_frame *f = frame_new(len);
    if (!f) return -1;
    memcpy(f->bytes, bytes, len);
    int rc = enqueue(c, f);
    frame_release(f);
    return rc;
}

/* Moves what the library queued (pongs, close replies, failure closes). */
static int enqueue_pending(client *c)
{
    uint8_t buf[WSP_MAX_PENDING];
    size_t n = 0;
    if (wsp_conn_pending_size(c->ws) == 0) return 0;
    if (wsp_conn_flush(c->ws, buf, sizeof buf, &n) != WSP_OK) return -1;
    return enqueue_copy(c, buf, n);
}

static void watch_writes(client *c, int on)
{
    if (c->want_write == on) return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->want_write = on;
}

/* Writes as much of the queue as the socket takes. -1: the peer is gone. */
static int write_queue(client *c)
{
    while (c->head) {
        struct iovec iov[WRITE_BATCH];
        int n = 0;
        size_t skip = c->head_sent;
        for (queue_item *it = c->head; it && n < WRITE_BATCH; it = it->next) {
            iov[n].iov_base = it->frame->bytes + skip;
            iov[n].iov_len = it->frame->len - skip;
            skip = 0;
            n++;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return -1;
        }
        size_t left = (size_t)w;
        while (left > 0) {
            size_t rest = c->head->frame->len - c->head_sent;
            if (left < rest) {
                c->head_sent += left;
                c->queued_bytes -= left;
                break;
            }
            left -= rest;
            dequeue_head(c);
        }
    }
    watch_writes(c, c->head != NULL);
    return 0;
}

/* ------------------------------------------------------------------------
 * Clients.
 * ---------------------------------------------------------------------- */
static void client_free(client *c)
{
    while (c->head) dequeue_head(c);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    wsp_conn_free(c->ws);
    wsp_message_free(&c->msg);
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i] == c) clients[i] = NULL;
    }
    free(c);
}

/* The peer is gone or unusable: close at the next reaping. */
static void mark_gone(client *c)
{
    c->state = CLIENT_CLOSING;
    c->deadline_ms = 0;
}

/* Queues a close frame with `code` and gives the client CLOSE_GRACE_MS to
 * take it and answer. */
static void start_close(client *c, uint16_t code, const char *reason,
                        client_state why)
{
    uint8_t buf[WSP_MAX_FRAME_HEADER + WSP_MAX_CONTROL_PAYLOAD];
    size_t n = 0;
    if (wsp_conn_state(c->ws) == WSP_STATE_OPEN &&
        wsp_conn_close(c->ws, code, reason, strlen(reason), buf, sizeof buf,
                       &n) == WSP_OK)
        enqueue_copy(c, buf, n);
    c->state = why;
    c->deadline_ms = mono_ms() + CLOSE_GRACE_MS;
}

/* The slow-consumer policy: keep the frame on the wire, discard the rest,
 * say 1008 after it. */
static void drop_slow(client *c)
{
    queue_item *keep = c->head_sent > 0 ? c->head : NULL;
    while (c->head && c->head != keep) dequeue_head(c);
    if (keep) {
        while (keep->next) {
            queue_item *it = keep->next;
            keep->next = it->next;
            c->queued_bytes -= it->frame->len;
            frame_release(it->frame);
            free(it);
        }
        c->tail = keep;
    }
    logf_client(c, "dropped: queue over --queue-bytes, closing with 1008");
    start_close(c, 1008, "too slow", CLIENT_DROPPED);
}

/* The frame of an uncompressed text message, for every recipient. */
static shared_frame *encode_plain(const uint8_t *text, size_t len)
{
    wsp_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WSP_OP_TEXT;
    h.payload_len = len;
    uint8_t hdr[WSP_MAX_FRAME_HEADER];
    size_t hl = 0;
    if (wsp_frame_encode_header(&h, hdr, sizeof hdr, &hl) != WSP_OK)
        return NULL;
    shared_frame *f = frame_new(hl + len);
    if (f) {
        memcpy(f->bytes, hdr, hl);
        memcpy(f->bytes + hl, text, len);
    }
    return f;
}

/* The compressed frame, made by the recipient `by`; it serves every client
 * that agreed on the same window (each message starts a fresh state). */
static shared_frame *encode_compressed(client *by, const uint8_t *text,
                                       size_t len)
{
    size_t cap = 0, n = 0;
    if (wsp_conn_send_bound(by->ws, len, &cap) != WSP_OK) return NULL;
    shared_frame *f = frame_new(cap);
    if (f && wsp_conn_send(by->ws, WSP_OP_TEXT, text, len, 0, f->bytes, cap,
                           &n) != WSP_OK) {
        frame_release(f);
        return NULL;
    }
    if (f) f->len = n;
    return f;
}

/* Sends one text message to every open client but its sender: one frame
 * without compression, one per agreed window with it. */
static void broadcast(const client *from, const uint8_t *text, size_t len)
{
    shared_frame *plain = NULL, *compressed[16] = {NULL};
    stat_messages++;
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        client *c = clients[i];
        if (!c || c == from || c->state != CLIENT_ACTIVE ||
            wsp_conn_state(c->ws) != WSP_STATE_OPEN)
            continue;
        shared_frame **slot = c->window_bits ? &compressed[c->window_bits]
                                             : &plain;
        if (!*slot) {
            *slot = c->window_bits ? encode_compressed(c, text, len)
                                   : encode_plain(text, len);
            if (!*slot) {
                mark_gone(c); /* out of memory: this one cannot follow */
                continue;
            }
            stat_encodings++;
        }
        stat_deliveries++;
        if (c->queued_bytes + (*slot)->len > opts.queue_bytes ||
            enqueue(c, *slot) != 0)
            drop_slow(c);
        if (write_queue(c) != 0) mark_gone(c);
    }
    frame_release(plain);
    for (size_t b = 0; b < 16; b++) frame_release(compressed[b]);
}

/* Negotiates permessage-deflate itself, so it knows the window it agreed
 * on, then answers with it. */
static int accept_client(client *c, const wsp_event *ev, uint8_t *out,
                         size_t cap, size_t *n)
{
    wsp_accept_options ao;
    memset(&ao, 0, sizeof ao);
    ao.no_deflate = 1;
    wsp_deflate_params agreed;
    char ext[256];
    size_t ext_len = 0;
    int rc = WSP_ERR_NOT_FOUND;
    if (opts.deflate && wsp_deflate_available())
        rc = wsp_deflate_negotiate(&ev->u.request.request.headers, &deflate_cfg, &agreed,
                                   ext, sizeof ext, &ext_len);
    if (rc == WSP_OK) ao.extensions = ext;
    else if (rc != WSP_ERR_NOT_FOUND) return rc; /* NOT_FOUND: no offer fits */
    int arc = wsp_conn_accept(c->ws, &ao, out, cap, n);
    if (arc != WSP_OK || rc != WSP_OK) return arc;
    arc = wsp_conn_enable_deflate(c->ws, &deflate_cfg, &agreed);
    if (arc == WSP_OK)
        c->window_bits = agreed.server_max_window_bits
                             ? agreed.server_max_window_bits : 15;
    return arc;
}

static int handle_event(client *c, const wsp_event *ev)
{
    switch (ev->type) {
    case WSP_EV_REQUEST: {
        uint8_t buf[1024];
        size_t n = 0;
        int rc = ev->u.request.status == WSP_OK
                     ? accept_client(c, ev, buf, sizeof buf, &n)
                     : wsp_conn_reject(c->ws, 0, buf, sizeof buf, &n);
        if (rc != WSP_OK || enqueue_copy(c, buf, n) != 0) return -1;
        if (ev->u.request.status == WSP_OK) {
            logf_client(c, "joined");
        } else { /* the HTTP error is queued; close once it is written */
            c->state = CLIENT_CLOSING;
            c->deadline_ms = mono_ms() + CLOSE_GRACE_MS;
        }
        return 0;
    }
    case WSP_EV_DATA: {
        /* After our close (1003, 1008) its messages go nowhere. */
        if (c->state != CLIENT_ACTIVE) return 0;
        int rc = wsp_message_add(&c->msg, ev);
        if (rc != WSP_OK) return -1;
        if (!c->msg.complete) return 0;
        if (c->msg.opcode != WSP_OP_TEXT) {
            start_close(c, 1003, "text only", CLIENT_CLOSING);
            return 0;
        }
        broadcast(c, c->msg.data, c->msg.len);
        return 0;
    }
    case WSP_EV_CLOSE:
    case WSP_EV_FAILURE:
        if (c->state == CLIENT_ACTIVE) {
            c->state = CLIENT_CLOSING;
            c->deadline_ms = mono_ms() + CLOSE_GRACE_MS;
        }
        return 0;
    default:
        return 0;
    }
}

/* Reads what arrived and runs its events. -1: the client is gone. */
static int read_client(client *c)
{
    ssize_t r = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
    if (r == 0) return -1;
    if (r < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    c->in_len += (size_t)r;
    size_t off = 0;
    for (;;) {
        wsp_event ev;
        size_t used = 0;
        int rc = wsp_conn_recv(c->ws, c->in + off, c->in_len - off, &used, &ev);
        off += used;
        if (rc == WSP_ERR_CLOSED) {
            off = c->in_len;
            break;
        }
        if (rc != WSP_OK && ev.type != WSP_EV_FAILURE) return -1;
        if (ev.type == WSP_EV_NONE) break;
        if (handle_event(c, &ev) != 0) return -1;
        if (ev.type == WSP_EV_FAILURE) break;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    if (c->state != CLIENT_DROPPED && enqueue_pending(c) != 0) return -1;
    return write_queue(c);
}

/* 1 when the client's TCP connection should be closed now. */
static int finished(const client *c, uint64_t now)
{
    if (c->state == CLIENT_ACTIVE) return 0;
    if (now >= c->deadline_ms) return 1;
    return c->head == NULL && wsp_conn_should_close_transport(c->ws);
}

static void accept_clients(int lfd)
{
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(lfd, (struct sockaddr *)&sa, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        size_t slot = 0;
        while (slot < MAX_CLIENTS && clients[slot]) slot++;
        client *c = slot < MAX_CLIENTS ? calloc(1, sizeof *c) : NULL;
        wsp_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.max_message = opts.max_message;
        if (!c || wsp_conn_new(&cfg, &c->ws) != WSP_OK) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->msg.max = opts.max_message;
        net_format_addr((const struct sockaddr *)&sa, c->peer, sizeof c->peer);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            wsp_conn_free(c->ws);
            free(c);
            close(fd);
            continue;
        }
        clients[slot] = c;
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = "9002";
    unsigned long long v = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--deflate") == 0) {
            opts.deflate = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            opts.quiet = 1;
        } else if (strcmp(a, "--host") == 0 && val) {
            host = argv[++i];
        } else if (strcmp(a, "--port") == 0 && cli_parse_uint(val, 65535, &v) == 0) {
            port = argv[++i];
        } else if (strcmp(a, "--max-message") == 0 &&
                   cli_parse_uint(val, 1u << 30, &v) == 0 && v > 0) {
            opts.max_message = v;
            i++;
        } else if (strcmp(a, "--queue-bytes") == 0 &&
                   cli_parse_uint(val, SIZE_MAX / 2, &v) == 0) {
            opts.queue_bytes = (size_t)v;
            i++;
        } else {
            fprintf(stderr,
                    "usage: chat_server [--host ADDR] [--port PORT] "
                    "[--max-message BYTES] [--queue-bytes BYTES]\n"
                    "                   [--deflate] [--quiet]\n");
            return 2;
        }
    }
    /* A queue must hold a whole message, or sending one would drop a client
     * that is keeping up. */
    if (opts.queue_bytes < opts.max_message + WSP_MAX_FRAME_HEADER +
                               WSP_MAX_PENDING) {
        fprintf(stderr, "chat_server: --queue-bytes must be at least "
                        "--max-message + %u\n",
                WSP_MAX_FRAME_HEADER + WSP_MAX_PENDING);
        return 2;
    }

    net_handle_signals(on_signal);

    int lfd = net_listen("chat_server", host, port, NET_NONBLOCK);
    if (lfd < 0) return 1;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev;
    memset(&lev, 0, sizeof lev);
    lev.events = EPOLLIN;
    lev.data.ptr = NULL;
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) != 0) {
        perror("chat_server");
        return 1;
    }
    char where[64];
    net_format_local(lfd, where, sizeof where);
    printf("chat_server listening on %s\n", where);
    fflush(stdout);

    while (!stop_requested) {
        struct epoll_event evs[64];
        int n = epoll_wait(epfd, evs, 64, 250);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n; i++) {
            client *c = evs[i].data.ptr;
            if (!c) {
                accept_clients(lfd);
                continue;
            }
            int gone = 0;
            if (evs[i].events & EPOLLOUT) gone = write_queue(c) != 0;
            if (!gone && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                gone = read_client(c) != 0;
            if (gone) mark_gone(c);
        }
        /* Reap in one place, after the batch: a broadcast above may still
         * have pointed at any client. */
        uint64_t now = mono_ms();
        for (size_t i = 0; i < MAX_CLIENTS; i++) {
            client *c = clients[i];
            if (c && finished(c, now)) {
                if (c->state == CLIENT_DROPPED) logf_client(c, "closed (slow)");
                else logf_client(c, "left");
                client_free(c);
            }
        }
    }
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i]) client_free(clients[i]);
    }
    if (!opts.quiet)
        fprintf(stderr, "messages=%llu encodings=%llu deliveries=%llu\n",
                stat_messages, stat_encodings, stat_deliveries);
    close(lfd);
    close(epfd);
    return 0;
}
