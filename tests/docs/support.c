#include "support.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned long doc_too_small;
unsigned long doc_output_calls;

void doc_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* ------------------------------------------------------------------------
 * Output wrappers.
 * ---------------------------------------------------------------------- */
static int after_output(const char *fn, int rc, size_t *out_len, size_t cap,
                        size_t needed)
{
    doc_output_calls++;
    if (rc == WSP_OK || !out_len) return rc;
    if (*out_len != 0)
        DOC_FAIL("%s failed (%s) but left *out_len = %zu", fn, wsp_strerror(rc), *out_len);
    if (rc == WSP_ERR_BUFFER_TOO_SMALL) {
        doc_too_small++;
        /* What 0.1 stored: the size needed, which exceeds cap. */
        *out_len = needed > cap ? needed : cap + 1;
    }
    return rc;
}

int doc_conn_send(wsp_conn *c, wsp_opcode op, const uint8_t *p, size_t len,
                  unsigned flags, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t bound = 0;
    if (wsp_conn_send_bound(c, len, &bound) != WSP_OK) bound = 0;
    int rc = wsp_conn_send(c, op, p, len, flags, out, cap, out_len);
    return after_output("wsp_conn_send", rc, out_len, cap, bound);
}

int doc_conn_accept(wsp_conn *c, const wsp_accept_options *o, uint8_t *out,
                    size_t cap, size_t *out_len)
{
    int rc = wsp_conn_accept(c, o, out, cap, out_len);
    return after_output("wsp_conn_accept", rc, out_len, cap, 0);
}

int doc_conn_reject(wsp_conn *c, int http_status, uint8_t *out, size_t cap,
                    size_t *out_len)
{
    int rc = wsp_conn_reject(c, http_status, out, cap, out_len);
    return after_output("wsp_conn_reject", rc, out_len, cap, 0);
}

int doc_conn_flush(wsp_conn *c, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t pending = wsp_conn_pending_size(c);
    int rc = wsp_conn_flush(c, out, cap, out_len);
    return after_output("wsp_conn_flush", rc, out_len, cap, pending);
}

int doc_conn_close(wsp_conn *c, uint16_t code, const char *reason,
                   size_t reason_len, uint8_t *out, size_t cap, size_t *out_len)
{
    int rc = wsp_conn_close(c, code, reason, reason_len, out, cap, out_len);
    return after_output("wsp_conn_close", rc, out_len, cap, 0);
}

int doc_conn_client_request(wsp_conn *c, const wsp_client_options *o,
                            uint8_t *out, size_t cap, size_t *out_len)
{
    int rc = wsp_conn_client_request(c, o, out, cap, out_len);
    return after_output("wsp_conn_client_request", rc, out_len, cap, 0);
}

int doc_deflate_negotiate(const wsp_headers *h, const wsp_deflate_config *cfg,
                          wsp_deflate_params *agreed, char *out, size_t cap,
                          size_t *out_len)
{
    int rc = wsp_deflate_negotiate(h, cfg, agreed, out, cap, out_len);
    return after_output("wsp_deflate_negotiate", rc, out_len, cap, 0);
}

/* ------------------------------------------------------------------------
 * Byte queues.
 * ---------------------------------------------------------------------- */
typedef struct queue {
    uint8_t *p;
    size_t len; /* bytes stored */
    size_t off; /* bytes already taken */
    size_t cap;
} queue;

static uint8_t *queue_reserve(queue *q, size_t n)
{
    if (q->off > 0) { /* compact first */
        memmove(q->p, q->p + q->off, q->len - q->off);
        q->len -= q->off;
        q->off = 0;
    }
    if (n > SIZE_MAX - q->len) DOC_FAIL("queue size overflow");
    if (q->cap - q->len < n) {
        size_t want = q->len + n;
        if (want < 2 * q->cap) want = 2 * q->cap;
        uint8_t *p = realloc(q->p, want);
        if (!p) DOC_FAIL("out of memory");
        q->p = p;
        q->cap = want;
    }
    return q->p + q->len;
}

static void queue_free(queue *q)
{
    free(q->p);
    memset(q, 0, sizeof *q);
}

/* ------------------------------------------------------------------------
 * The client peer.
 * ---------------------------------------------------------------------- */
enum step_kind { STEP_MESSAGE, STEP_PIECE, STEP_PING };

typedef struct step {
    enum step_kind kind;
    wsp_opcode opcode; /* of the message */
    size_t len;        /* payload bytes (text: at most, cut at a code point) */
    int more;          /* STEP_PIECE: more pieces of this message follow */
} step;

/* The script, sent as soon as the connection is open. Sizes straddle the
 * 7-bit (125) and 16-bit (65535) length encodings and DOC_OUT_CAP. */
static const step script[] = {
    {STEP_MESSAGE, WSP_OP_TEXT, 0, 0},
    {STEP_MESSAGE, WSP_OP_TEXT, 5, 0},
    {STEP_MESSAGE, WSP_OP_BINARY, 125, 0},
    {STEP_MESSAGE, WSP_OP_BINARY, 126, 0},
    {STEP_MESSAGE, WSP_OP_TEXT, 200, 0},
    {STEP_PING, WSP_OP_PING, 6, 0},
    {STEP_MESSAGE, WSP_OP_BINARY, 1000, 0},
    {STEP_MESSAGE, WSP_OP_TEXT, 5000, 0},
    {STEP_PIECE, WSP_OP_BINARY, 300, 1},
    {STEP_PING, WSP_OP_PING, 125, 0},
    {STEP_PIECE, WSP_OP_BINARY, 4000, 1},
    {STEP_PIECE, WSP_OP_BINARY, 10, 0},
    {STEP_MESSAGE, WSP_OP_BINARY, 70000, 0},
    {STEP_PING, WSP_OP_PING, 1, 0},
    {STEP_MESSAGE, WSP_OP_TEXT, 20000, 0},
};
#define SCRIPT_STEPS (sizeof script / sizeof script[0])
#define MAX_EXPECTED SCRIPT_STEPS

typedef struct expected {
    wsp_opcode opcode;
    uint8_t *data;
    size_t len;
} expected;

static struct peer {
    wsp_conn *conn;
    queue to_server; /* bytes the client sent, handed out by peer_read */
    queue to_client; /* bytes the server wrote, not yet parsed */
    int started, open, got_close, fd_closed;
    uint16_t close_code;
    expected messages[MAX_EXPECTED];
    size_t message_count, echoes;
    uint8_t pings[SCRIPT_STEPS][WSP_MAX_CONTROL_PAYLOAD];
    size_t ping_len[SCRIPT_STEPS], ping_count, pong_next, pongs;
    wsp_message echo;
    unsigned long reads, writes;
} peer;

size_t doc_fill(uint8_t *p, size_t len, wsp_opcode op, size_t seed)
{
    if (op != WSP_OP_TEXT) {
        for (size_t i = 0; i < len; i++) p[i] = (uint8_t)((i * 31u + seed * 7u) & 0xffu);
        return len;
    }
    static const char *const cps[] = {"a", "\xc3\xa9", "\xe2\x9c\x93", "\xf0\x9f\x99\x82", " "};
    size_t n = 0;
    for (size_t i = 0;; i++) {
        const char *cp = cps[(i + seed) % 5];
        size_t k = strlen(cp);
        if (n + k > len) break;
        memcpy(p + n, cp, k);
        n += k;
    }
    return n;
}

static void client_send(wsp_opcode op, const uint8_t *p, size_t len, unsigned flags)
{
    size_t bound = 0, n = 0;
    DOC_CHECK(wsp_conn_send_bound(peer.conn, len, &bound) == WSP_OK);
    uint8_t *dst = queue_reserve(&peer.to_server, bound);
    int rc = wsp_conn_send(peer.conn, op, p, len, flags, dst, bound, &n);
    if (rc != WSP_OK) DOC_FAIL("client send: %s", wsp_strerror(rc));
    peer.to_server.len += n;
}

static void queue_script(void)
{
    uint8_t *piece = NULL;
    expected *open_msg = NULL;
    for (size_t i = 0; i < SCRIPT_STEPS; i++) {
        const step *s = &script[i];
        piece = realloc(piece, s->len ? s->len : 1);
        if (!piece) DOC_FAIL("out of memory");
        size_t len = doc_fill(piece, s->len, s->opcode, i);
        if (s->kind == STEP_PING) {
            memcpy(peer.pings[peer.ping_count], piece, len);
            peer.ping_len[peer.ping_count++] = len;
            client_send(WSP_OP_PING, piece, len, 0);
            continue;
        }
        if (!open_msg) {
            open_msg = &peer.messages[peer.message_count++];
            open_msg->opcode = s->opcode;
        }
        uint8_t *grown = realloc(open_msg->data, open_msg->len + len + 1);
        if (!grown) DOC_FAIL("out of memory");
        open_msg->data = grown;
        memcpy(open_msg->data + open_msg->len, piece, len);
        open_msg->len += len;
        client_send(s->opcode, piece, len, s->more ? WSP_SEND_MORE : 0);
        if (!s->more) open_msg = NULL;
    }
    free(piece);
    size_t n = 0, need = 2 + 3 + WSP_MAX_FRAME_HEADER + WSP_MAX_PENDING;
    uint8_t *dst = queue_reserve(&peer.to_server, need);
    DOC_CHECK(wsp_conn_close(peer.conn, 1000, "bye", 3, dst, need, &n) == WSP_OK);
    peer.to_server.len += n;
}

void peer_start(void)
{
    wsp_config cfg = {0};
    cfg.role = WSP_ROLE_CLIENT;
    DOC_CHECK(!peer.started);
    DOC_CHECK(wsp_conn_new(&cfg, &peer.conn) == WSP_OK);
    peer.started = 1;
    wsp_client_options opts = {0};
    opts.host = "docs.test";
    opts.target = "/echo";
    size_t n = 0;
    uint8_t *dst = queue_reserve(&peer.to_server, 1024);
    DOC_CHECK(wsp_conn_client_request(peer.conn, &opts, dst, 1024, &n) == WSP_OK);
    peer.to_server.len += n;
}

ssize_t peer_read(int fd, void *buf, size_t cap)
{
    /* Piece sizes cut frames anywhere: inside headers, masks, code points. */
    static const size_t sizes[] = {1, 2, 13, 100, 700, 4096, 65536, 3, 999};
    DOC_CHECK(fd == DOC_FD && peer.started && !peer.fd_closed);
    if (++peer.reads > 1000000) DOC_FAIL("the sample keeps reading");
    queue *q = &peer.to_server;
    if (q->off == q->len) {
        if (!peer.open) DOC_FAIL("the sample reads again without answering the request");
        return 0; /* everything was sent: EOF */
    }
    size_t n = sizes[peer.reads % (sizeof sizes / sizeof sizes[0])];
    if (n > cap) n = cap;
    if (n > q->len - q->off) n = q->len - q->off;
    memcpy(buf, q->p + q->off, n);
    q->off += n;
    return (ssize_t)n;
}

static void check_echo(void)
{
    if (peer.echoes >= peer.message_count) DOC_FAIL("more messages than were sent");
    const expected *e = &peer.messages[peer.echoes];
    if (peer.echo.opcode != e->opcode || peer.echo.len != e->len ||
        (e->len && memcmp(peer.echo.data, e->data, e->len) != 0))
        DOC_FAIL("echo %zu differs: opcode %d len %zu, sent opcode %d len %zu", peer.echoes,
                 (int)peer.echo.opcode, peer.echo.len, (int)e->opcode, e->len);
    peer.echoes++;
}

static void check_pong(const wsp_event *ev)
{
    /* A new ping may replace an unsent pong (RFC 6455 5.5.3), so pongs
     * answer an ordered subset of the pings. */
    while (peer.pong_next < peer.ping_count) {
        size_t i = peer.pong_next++;
        if (ev->u.control.len == peer.ping_len[i] &&
            (!ev->u.control.len || memcmp(ev->u.control.payload, peer.pings[i],
                                          ev->u.control.len) == 0)) {
            peer.pongs++;
            return;
        }
    }
    DOC_FAIL("a pong that answers no ping");
}

int peer_write_all(int fd, const uint8_t *p, size_t n)
{
    DOC_CHECK(fd == DOC_FD && peer.started && !peer.fd_closed);
    peer.writes++;
    if (n == 0) return 0;
    if (peer.got_close) DOC_FAIL("%zu bytes written after the close", n);
    memcpy(queue_reserve(&peer.to_client, n), p, n);
    peer.to_client.len += n;
    queue *q = &peer.to_client;
    for (;;) {
        size_t used = 0;
        wsp_event ev;
        int rc = wsp_conn_recv(peer.conn, q->p + q->off, q->len - q->off, &used, &ev);
        q->off += used;
        if (rc != WSP_OK) DOC_FAIL("the client failed on what the sample wrote: %s", wsp_strerror(rc));
        switch (ev.type) {
        case WSP_EV_NONE:
            return 0;
        case WSP_EV_RESPONSE:
            if (ev.u.response.status != WSP_OK)
                DOC_FAIL("handshake refused: %s", wsp_strerror(ev.u.response.status));
            peer.open = 1;
            queue_script();
            break;
        case WSP_EV_DATA:
            DOC_CHECK(wsp_message_add(&peer.echo, &ev) == WSP_OK);
            if (peer.echo.complete) check_echo();
            break;
        case WSP_EV_PONG:
            check_pong(&ev);
            break;
        case WSP_EV_CLOSE:
            peer.got_close = 1;
            peer.close_code = ev.u.close.code;
            if (q->off != q->len) DOC_FAIL("bytes after the close frame");
            return 0;
        default:
            DOC_FAIL("unexpected event %d", (int)ev.type);
        }
    }
}

int peer_close(int fd)
{
    DOC_CHECK(fd == DOC_FD && !peer.fd_closed);
    peer.fd_closed = 1;
    return 0;
}

int peer_finish(const char *sample, int sample_rc)
{
    if (sample_rc != 0) DOC_FAIL("%s returned %d", sample, sample_rc);
    DOC_CHECK(peer.open);
    if (peer.echoes != peer.message_count)
        DOC_FAIL("%zu of %zu messages echoed", peer.echoes, peer.message_count);
    DOC_CHECK(peer.pongs >= 1);
    DOC_CHECK(peer.got_close);
    if (peer.close_code != 1000) DOC_FAIL("close code %u, want 1000", peer.close_code);
    DOC_CHECK(peer.fd_closed);
    DOC_CHECK(peer.to_server.off == peer.to_server.len);
    DOC_CHECK(peer.to_client.off == peer.to_client.len);
    if (doc_too_small == 0) DOC_FAIL("WSP_ERR_BUFFER_TOO_SMALL never happened: the test is too easy");
    printf("%s: %zu messages echoed, %zu of %zu pings answered, close %u; "
           "%lu reads, %lu writes; WSP_ERR_BUFFER_TOO_SMALL met %lu times in %lu output calls\n",
           sample, peer.echoes, peer.pongs, peer.ping_count, peer.close_code, peer.reads,
           peer.writes, doc_too_small, doc_output_calls);
    for (size_t i = 0; i < peer.message_count; i++) free(peer.messages[i].data);
    wsp_message_free(&peer.echo);
    queue_free(&peer.to_server);
    queue_free(&peer.to_client);
    wsp_conn_free(peer.conn);
    return 0;
}

/* ------------------------------------------------------------------------
 * Two connections in memory.
 * ---------------------------------------------------------------------- */
static void recv_all(wsp_conn *to, uint8_t *p, size_t len, wsp_event_type want,
                     wsp_message *got)
{
    size_t off = 0;
    int seen = 0;
    for (;;) {
        size_t used = 0;
        wsp_event ev;
        int rc = wsp_conn_recv(to, p + off, len - off, &used, &ev);
        off += used;
        if (rc != WSP_OK) DOC_FAIL("recv: %s", wsp_strerror(rc));
        if (ev.type == WSP_EV_NONE) break;
        if (ev.type != want) DOC_FAIL("event %d, want %d", (int)ev.type, (int)want);
        seen = 1;
        if (want == WSP_EV_REQUEST) {
            DOC_CHECK(ev.u.request.status == WSP_OK);
            break;
        }
        if (want == WSP_EV_RESPONSE) {
            DOC_CHECK(ev.u.response.status == WSP_OK);
            break;
        }
        DOC_CHECK(wsp_message_add(got, &ev) == WSP_OK);
    }
    DOC_CHECK(seen && off == len);
}

void doc_handshake(wsp_conn *client, wsp_conn *server)
{
    uint8_t buf[1024];
    size_t n = 0;
    wsp_client_options opts = {0};
    opts.host = "docs.test";
    DOC_CHECK(wsp_conn_client_request(client, &opts, buf, sizeof buf, &n) == WSP_OK);
    recv_all(server, buf, n, WSP_EV_REQUEST, NULL);
    DOC_CHECK(wsp_conn_accept(server, NULL, buf, sizeof buf, &n) == WSP_OK);
    recv_all(client, buf, n, WSP_EV_RESPONSE, NULL);
}

void doc_transfer(wsp_conn *from, wsp_conn *to, wsp_opcode op, const uint8_t *p,
                  size_t len, wsp_message *got)
{
    size_t bound = 0, n = 0;
    DOC_CHECK(wsp_conn_send_bound(from, len, &bound) == WSP_OK);
    uint8_t *buf = malloc(bound ? bound : 1);
    DOC_CHECK(buf != NULL);
    DOC_CHECK(wsp_conn_send(from, op, p, len, 0, buf, bound, &n) == WSP_OK);
    recv_all(to, buf, n, WSP_EV_DATA, got);
    DOC_CHECK(got->complete);
    free(buf);
}
