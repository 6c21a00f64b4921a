/*
 * minimal_server: the smallest complete WebSocket echo server on
 * libwsproto. Blocking sockets, one connection at a time, every status
 * checked. Start here; echo_server.c adds threads, timeouts, TLS and a page.
 *
 *   minimal_server [PORT [OUTPUT_BUFFER_BYTES]]    (PORT 0: any free port)
 *
 * The output buffer may be as small as WSP_MAX_PENDING bytes: whatever does
 * not fit (WSP_ERR_BUFFER_TOO_SMALL) makes the server send what the buffer
 * holds and try again, splitting a large echo into several frames.
 */
#define _POSIX_C_SOURCE 200809L

#include "wsproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct output {
    int fd;
    uint8_t *buf;
    size_t len, cap;
} output;

/* Sends the buffer. A peer that is gone reads as WSP_ERR_CLOSED: there is
 * nothing more to do for this connection. */
static int output_send(output *o)
{
    size_t done = 0;
    while (done < o->len) {
        ssize_t w = send(o->fd, o->buf + done, o->len - done, MSG_NOSIGNAL);
        if (w <= 0) return WSP_ERR_CLOSED;
        done += (size_t)w;
    }
    o->len = 0;
    return WSP_OK;
}

/* Echoes one piece of a message. When the frame does not fit, the buffer is
 * sent to make room; when even an empty buffer is too small, the piece goes
 * out in smaller frames (WSP_SEND_MORE keeps the message open). */
static int echo_piece(wsp_conn *ws, output *o, const wsp_data_event *ev)
{
    const uint8_t *data = ev->payload;
    size_t left = ev->len, chunk = ev->len;
    for (;;) {
        int last = chunk == left && (ev->flags & WSP_DATA_LAST);
        size_t n = 0;
        int rc = wsp_conn_send(ws, ev->opcode, data, chunk,
                               last ? 0u : WSP_SEND_MORE, o->buf + o->len,
                               o->cap - o->len, &n);
        if (rc == WSP_ERR_BUFFER_TOO_SMALL) {
            if (o->len > 0) {
                if (output_send(o) != WSP_OK) return WSP_ERR_CLOSED;
            } else {
                chunk /= 2;
            }
            continue;
        }
        if (rc != WSP_OK) return rc;
        o->len += n;
        data += chunk;
        left -= chunk;
        if (left == 0) return WSP_OK;
        if (chunk > left) chunk = left;
    }
}

/* Moves what the library queued (pongs, close replies) into the output. */
static int take_pending(wsp_conn *ws, output *o)
{
    if (wsp_conn_pending_size(ws) > o->cap - o->len &&
        output_send(o) != WSP_OK)
        return WSP_ERR_CLOSED;
    size_t n = 0;
    int rc = wsp_conn_flush(ws, o->buf + o->len, o->cap - o->len, &n);
    if (rc != WSP_OK) return rc;
    o->len += n;
    return WSP_OK;
}

/* Answers the upgrade request: 101 when valid, an HTTP error otherwise. */
static int answer_request(wsp_conn *ws, output *o, const wsp_event *ev)
{
    if (output_send(o) != WSP_OK) return WSP_ERR_CLOSED;
    size_t n = 0;
    int rc = ev->u.request.status == WSP_OK
                 ? wsp_conn_accept(ws, NULL, o->buf, o->cap, &n)
                 : wsp_conn_reject(ws, 0, o->buf, o->cap, &n);
    if (rc != WSP_OK) return rc;
    o->len = n;
    return WSP_OK;
}

static void serve(int fd, uint8_t *out_buf, size_t out_cap)
{
    static uint8_t in[64 * 1024];
    size_t in_len = 0;
    output o = {fd, out_buf, 0, out_cap};
    wsp_conn *ws = NULL;
    int rc = wsp_conn_new(NULL, &ws);
    if (rc != WSP_OK) {
        fprintf(stderr, "wsp_conn_new: %s\n", wsp_strerror(rc));
        return;
    }
    while (!wsp_conn_should_close_transport(ws)) {
        ssize_t r = recv(fd, in + in_len, sizeof in - in_len, 0);
        if (r <= 0) break; /* EOF or error: nothing left to say */
        in_len += (size_t)r;
        size_t off = 0;
        for (;;) { /* until WSP_EV_NONE: the last bytes may hold more events */
            size_t used = 0;
            wsp_event ev;
            rc = wsp_conn_recv(ws, in + off, in_len - off, &used, &ev);
            off += used;
            if (rc != WSP_OK) break;
            if (ev.type == WSP_EV_NONE) break;
            if (ev.type == WSP_EV_REQUEST)
                rc = answer_request(ws, &o, &ev);
            else if (ev.type == WSP_EV_DATA)
                rc = echo_piece(ws, &o, &ev.u.data);
            else if (ev.type == WSP_EV_PING) /* its pong goes out in order */
                rc = take_pending(ws, &o);
            if (rc != WSP_OK) break;
        }
        if (rc != WSP_OK && rc != WSP_ERR_CLOSED)
            fprintf(stderr, "connection ends: %s\n", wsp_strerror(rc));
        /* A failure queued its close frame (or HTTP error); send it too. */
        if (take_pending(ws, &o) != WSP_OK || output_send(&o) != WSP_OK) break;
        if (rc != WSP_OK) break;
        memmove(in, in + off, in_len - off); /* keep what was not consumed */
        in_len -= off;
    }
    wsp_conn_free(ws);
}

int main(int argc, char **argv)
{
    unsigned long port = argc > 1 ? strtoul(argv[1], NULL, 10) : 9001;
    unsigned long out_cap = argc > 2 ? strtoul(argv[2], NULL, 10) : 16384;
    if (port > 65535 || out_cap < WSP_MAX_PENDING || out_cap > (1ul << 30)) {
        fprintf(stderr, "usage: minimal_server [PORT [OUTPUT_BUFFER_BYTES "
                        "(at least %u)]]\n", WSP_MAX_PENDING);
        return 2;
    }
    uint8_t *out = malloc(out_cap);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    int one = 1;
    if (!out || lfd < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("minimal_server");
        return 1;
    }
    printf("minimal_server listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        serve(fd, out, out_cap);
        close(fd);
    }
}
