/* Send side against receive side: a sequence of operations read from the
 * input is sent with wsp_conn_send / wsp_conn_send_zerocopy / wsp_conn_close
 * by one open connection, every frame written is checked as the peer would
 * see it, and the bytes are fed (whole, and in chunks) to an open
 * connection of the other role. It must report exactly the messages, pings,
 * pongs and close that were sent. The close reply and pongs then go back to
 * the sender, which must end CLOSED too. Run client->server, then
 * server->client.
 *
 * Input layout:
 *   [0] send_fragment_size (0: never split)  [1] flags: bit0 receiver has
 *       no_auto_pong  [2..5] chunk sizes  [6] entropy seed
 *   then operations: [kind][len: 1 byte, or 2 if kind bit5][payload]
 *     kind bits0-2: 0 text, 1 binary, 2 ping, 3 pong, 4 close, others
 *     binary; bit3 WSP_SEND_MORE; bit4 zero-copy send.
 *     Close payload: 2-byte code (absent: no code), then the reason. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

typedef struct sender {
    fuzz_peer peer;
    fuzz_buf stream;   /* everything it wrote */
    fuzz_buf expected; /* the receiver's event log, predicted */
    fuzz_buf msg;      /* message being sent */
    int msg_open;
    unsigned msg_op;
    int closed;
} sender;

typedef struct frame_walk {
    const sender *s;
    unsigned op;
    int first_frame_opcode_seen;
    size_t frames;
    size_t max_payload;
    int last_fin;
    fuzz_buf payload;
    int control;
} frame_walk;

static void walk_frame(void *user, const wsp_frame_header *h,
                       const uint8_t *payload)
{
    frame_walk *w = user;
    FUZZ_CHECKF(w->frames == 0 || !w->last_fin,
                "frames written after a final one in one call");
    if (w->control) {
        FUZZ_CHECK(w->frames == 0 && h->opcode == w->op && h->fin);
    } else {
        unsigned want = (w->frames == 0 && !w->s->msg_open)
                            ? w->op
                            : (unsigned)WSP_OP_CONTINUATION;
        FUZZ_CHECKF(h->opcode == want, "frame %zu has opcode %u, wanted %u",
                    w->frames, h->opcode, want);
        FUZZ_CHECKF(w->max_payload == 0 || h->payload_len <= w->max_payload,
                    "frame of %llu bytes with send_fragment_size %zu",
                    (unsigned long long)h->payload_len, w->max_payload);
    }
    w->last_fin = h->fin;
    w->frames++;
    fuzz_buf_put(&w->payload, payload, (size_t)h->payload_len);
}

/* Checks what one send call wrote and appends it to the stream. */
static void check_written(sender *s, unsigned op, int control,
                          const uint8_t *out, size_t out_len,
                          const uint8_t *payload, size_t len, int more,
                          size_t max_payload)
{
    frame_walk w;
    memset(&w, 0, sizeof w);
    w.s = s;
    w.op = op;
    w.control = control;
    w.max_payload = max_payload;
    fuzz_parse_frames(out, out_len, s->peer.cfg.role, walk_frame, &w);
    FUZZ_CHECK(w.frames >= 1);
    FUZZ_CHECKF(w.last_fin == !more, "last frame FIN=%d with MORE=%d",
                w.last_fin, more);
    FUZZ_CHECKF(w.payload.len == len &&
                    (len == 0 || memcmp(w.payload.p, payload, len) == 0),
                "frames carry other bytes than were sent");
    fuzz_buf_free(&w.payload);
    fuzz_buf_put(&s->stream, out, out_len);
}

static int send_one(sender *s, unsigned op, const uint8_t *payload,
                    size_t len, int more, int zerocopy, int expect_ok)
{
    wsp_conn *c = s->peer.conn;
    unsigned flags = more ? WSP_SEND_MORE : 0u;
    int control = op >= 8;
    int rc;
    if (zerocopy) {
        uint8_t hdr[WSP_MAX_FRAME_HEADER];
        uint8_t *buf = malloc(len ? len : 1);
        size_t hdr_len = 0;
        fuzz_buf frame = {0};
        FUZZ_CHECK(buf != NULL);
        if (len)
            memcpy(buf, payload, len);
        rc = wsp_conn_send_zerocopy(c, (wsp_opcode)op, buf, len, flags, hdr,
                                    &hdr_len);
        if (rc == WSP_OK) {
            FUZZ_CHECKF(expect_ok, "zero-copy send of opcode %u accepted", op);
            FUZZ_CHECK(hdr_len >= 2 && hdr_len <= WSP_MAX_FRAME_HEADER);
            fuzz_buf_put(&frame, hdr, hdr_len);
            fuzz_buf_put(&frame, buf, len);
            check_written(s, op, control, frame.p, frame.len, payload, len,
                          more, 0);
        }
        fuzz_buf_free(&frame);
        free(buf);
    } else {
        size_t bound = 0, need = 0, out_len = 0;
        FUZZ_CHECK(wsp_conn_send_bound(c, len, &bound) == WSP_OK);
        uint8_t small[1];
        uint8_t *out = malloc(bound ? bound : 1);
        uint8_t *keep = malloc(len ? len : 1);
        FUZZ_CHECK(out != NULL && keep != NULL);
        if (len)
            memcpy(keep, payload, len);
        /* arguments are judged before buffer space */
        if (expect_ok)
            rc = wsp_conn_send(c, (wsp_opcode)op, payload, len, flags, small,
                               0, &need);
        else
            rc = wsp_conn_send(c, (wsp_opcode)op, payload, len, flags, out,
                               bound, &need);
        if (expect_ok) {
            FUZZ_CHECKF(rc == WSP_ERR_BUFFER_TOO_SMALL && need == 0,
                        "send into 0 bytes gave %d, length %zu", rc, need);
            rc = wsp_conn_send(c, (wsp_opcode)op, payload, len, flags, out,
                               bound, &out_len);
            FUZZ_CHECKF(rc == WSP_OK && out_len <= bound,
                        "send: %d, wrote %zu, bound %zu", rc, out_len, bound);
            check_written(s, op, control, out, out_len, payload, len, more,
                          s->peer.cfg.send_fragment_size);
        }
        FUZZ_CHECK(len == 0 || memcmp(keep, payload, len) == 0);
        free(keep);
        free(out);
    }
    if (!expect_ok) {
        FUZZ_CHECKF(rc == WSP_ERR_INVALID_ARG || rc == WSP_ERR_STATE,
                    "invalid send of opcode %u (more %d, len %zu, closed %d) "
                    "gave %d",
                    op, more, len, s->closed, rc);
    } else {
        FUZZ_CHECK(rc == WSP_OK);
    }
    return rc;
}

static void do_data(sender *s, unsigned op, uint8_t *payload, size_t len,
                    int more, int zerocopy)
{
    int ok = !s->closed && (!s->msg_open || s->msg_op == op);
    size_t i;
    /* the sender does not validate text; keep each piece valid so the
     * receiver has no reason to fail the message */
    if (op == WSP_OP_TEXT && !fuzz_utf8_complete(payload, len))
        for (i = 0; i < len; i++)
            payload[i] &= 0x7F;
    if (send_one(s, op, payload, len, more, zerocopy, ok) != WSP_OK)
        return;
    fuzz_buf_put(&s->msg, payload, len);
    if (more) {
        s->msg_open = 1;
        s->msg_op = op;
    } else {
        fuzz_log(&s->expected, FUZZ_REC_MESSAGE, op, 0, s->msg.p, s->msg.len);
        s->msg.len = 0;
        s->msg_open = 0;
    }
}

static void do_control(sender *s, unsigned op, const uint8_t *payload,
                       size_t len, int more, int zerocopy)
{
    int ok = !s->closed && !more && len <= WSP_MAX_CONTROL_PAYLOAD;
    if (send_one(s, op, payload, len, more, zerocopy, ok) != WSP_OK)
        return;
    fuzz_log(&s->expected, op == WSP_OP_PING ? FUZZ_REC_PING : FUZZ_REC_PONG,
             0, 0, payload, len);
}

static void do_close(sender *s, uint8_t *payload, size_t len)
{
    uint16_t code = 0;
    char *reason = (char *)payload + 2;
    size_t rlen = len >= 2 ? len - 2 : 0, i, need = 0, out_len = 0;
    uint8_t out[WSP_MAX_FRAME_HEADER + WSP_MAX_CONTROL_PAYLOAD];
    uint8_t small[1];
    int ok, rc;
    if (len >= 2)
        code = (uint16_t)(payload[0] << 8 | payload[1]);
    for (i = 0; i < rlen; i++)
        reason[i] = (char)(payload[2 + i] & 0x7F);
    if (code == 0)
        rlen = 0;
    ok = !s->closed && (code == 0 || fuzz_close_code_sendable(code)) &&
         rlen <= WSP_MAX_CONTROL_PAYLOAD - 2;
    rc = wsp_conn_close(s->peer.conn, code, rlen ? reason : NULL, rlen, small,
                        0, &need);
    if (!ok) {
        FUZZ_CHECKF(rc == WSP_ERR_INVALID_ARG || rc == WSP_ERR_STATE,
                    "close(%u, %zu-byte reason) gave %d", code, rlen, rc);
        return;
    }
    FUZZ_CHECKF(rc == WSP_ERR_BUFFER_TOO_SMALL && need == 0,
                "close sizing: %d, %zu", rc, need);
    /* An owed pong goes out ahead of the close (RFC 6455 5.5.2). */
    need = wsp_conn_pending_size(s->peer.conn);
    rc = wsp_conn_close(s->peer.conn, code, rlen ? reason : NULL, rlen, out,
                        sizeof out, &out_len);
    FUZZ_CHECKF(rc == WSP_OK && out_len <= sizeof out, "close: %d", rc);
    {
        uint8_t expect[WSP_MAX_CONTROL_PAYLOAD];
        if (code) {
            expect[0] = (uint8_t)(code >> 8);
            expect[1] = (uint8_t)code;
            memcpy(expect + 2, reason, rlen);
        }
        FUZZ_CHECK(out_len >= need);
        check_written(s, WSP_OP_CLOSE, 1, out + need, out_len - need, expect,
                      code ? rlen + 2 : 0, 0, 0);
    }
    s->closed = 1;
    FUZZ_CHECK(wsp_conn_state(s->peer.conn) == WSP_STATE_CLOSING);
    fuzz_log(&s->expected, FUZZ_REC_CLOSE, code ? code : 1005u, 0, reason,
             rlen);
}

static void run_direction(wsp_role from, const uint8_t *cfgb,
                          const uint8_t *ops, size_t ops_len)
{
    fuzz_input cin = {cfgb, 7, 0}, in = {ops, ops_len, 0};
    wsp_config scfg, rcfg;
    fuzz_chunker whole, chunked;
    sender s;
    fuzz_peer r1, r2;
    uint8_t sfs = fuzz_u8(&cin), flags = fuzz_u8(&cin);
    uint64_t seed;

    fuzz_chunker_read(&chunked, &cin);
    fuzz_chunker_whole(&whole);
    seed = fuzz_u8(&cin);

    memset(&scfg, 0, sizeof scfg);
    scfg.role = from;
    scfg.start_open = 1;
    scfg.send_fragment_size = sfs;
    rcfg = scfg;
    rcfg.role = from == WSP_ROLE_CLIENT ? WSP_ROLE_SERVER : WSP_ROLE_CLIENT;
    rcfg.send_fragment_size = 0;
    rcfg.no_auto_pong = flags & 1;

    memset(&s, 0, sizeof s);
    fuzz_peer_init(&s.peer, &scfg, seed, 0);
    while (in.pos < in.len) {
        uint8_t kind = fuzz_u8(&in);
        size_t want = (kind & 0x20) ? fuzz_u16(&in) : fuzz_u8(&in), len;
        const uint8_t *p = fuzz_take(&in, want, &len);
        uint8_t *payload = malloc(len + 2);
        unsigned t = kind & 7u;
        int more = (kind >> 3) & 1, zc = (kind >> 4) & 1;
        FUZZ_CHECK(payload != NULL);
        if (len)
            memcpy(payload, p, len);
        if (t == 0)
            do_data(&s, WSP_OP_TEXT, payload, len, more, zc);
        else if (t == 2)
            do_control(&s, WSP_OP_PING, payload, len, more, zc);
        else if (t == 3)
            do_control(&s, WSP_OP_PONG, payload, len, more, zc);
        else if (t == 4)
            do_close(&s, payload, len);
        else
            do_data(&s, WSP_OP_BINARY, payload, len, more, zc);
        free(payload);
    }

    fuzz_peer_init(&r1, &rcfg, 0, 1);
    fuzz_peer_init(&r2, &rcfg, 0, 1);
    fuzz_peer_feed(&r1, s.stream.p, s.stream.len, &whole);
    fuzz_peer_feed(&r2, s.stream.p, s.stream.len, &chunked);
    fuzz_log_same(&s.expected, &r1.events, "sent vs received (whole)");
    fuzz_log_same(&s.expected, &r2.events, "sent vs received (chunked)");
    fuzz_log_same(&r1.out, &r2.out, "receiver replies (whole vs chunked)");
    FUZZ_CHECK(!r1.failed);

    /* the replies go back; a finished close handshake closes both ends */
    fuzz_peer_feed(&s.peer, r1.flushed.p, r1.flushed.len, &whole);
    FUZZ_CHECK(!s.peer.failed);
    if (s.closed) {
        FUZZ_CHECK(r1.saw_close && r1.sent_close);
        FUZZ_CHECK(s.peer.saw_close);
        FUZZ_CHECK(wsp_conn_state(r1.conn) == WSP_STATE_CLOSED);
        FUZZ_CHECK(wsp_conn_state(s.peer.conn) == WSP_STATE_CLOSED);
    } else {
        FUZZ_CHECK(wsp_conn_state(r1.conn) == WSP_STATE_OPEN);
        FUZZ_CHECK(wsp_conn_state(s.peer.conn) == WSP_STATE_OPEN);
    }

    fuzz_peer_free(&r1);
    fuzz_peer_free(&r2);
    fuzz_peer_free(&s.peer);
    fuzz_buf_free(&s.stream);
    fuzz_buf_free(&s.expected);
    fuzz_buf_free(&s.msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t cfgb[7] = {0};
    size_t n = size < 7 ? size : 7;
    memcpy(cfgb, data, n);
    run_direction(WSP_ROLE_CLIENT, cfgb, data + n, size - n);
    run_direction(WSP_ROLE_SERVER, cfgb, data + n, size - n);
    return 0;
}
