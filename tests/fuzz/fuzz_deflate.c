/* permessage-deflate (RFC 7692) receive path with the limits in force.
 *
 * Frames mode: an open connection with compression enabled (parameters
 * from the input) is fed arbitrary peer frames, some with RSV1 set, once
 * whole and once in chunks. Beyond the checks every target makes
 * (fuzz_common.c), it asserts that no message delivers more than
 * max_message bytes, no inflated event carries more than buffer_size bytes,
 * the connection's memory stays under the bound computed below, and
 * nothing is left after wsp_conn_free.
 *
 * Round-trip mode: operations from the input are sent compressed with
 * wsp_conn_send by one side and received by the other (whole and in
 * chunks); the messages received must be the ones sent.
 *
 * Input layout:
 *   [0] flags: bit0 receiver is the client (else the server), bit1 the
 *       compressing side resets its context after each message
 *       (*_no_context_takeover agreed), bit2 round-trip mode, bit3
 *       no_auto_pong, bits4-6 the receiving application calls
 *       wsp_conn_close after that many event records (frames mode)
 *   [1] bits0-2 window bits of the compressed direction (8 + value),
 *       bits3-6 sender memLevel (value % 9 + 1), bit7 sender level 1
 *   [2] receiver buffer_size: b < 128: b + 1, else (b - 127) * 64
 *   [3] frames mode: max_message; round-trip: send_fragment_size
 *   [4] frames mode: max_frame_payload; round-trip: sender min_size
 *   [5..8] chunk sizes
 *   [9..] frames mode: bytes from the peer.
 *         round-trip: operations [kind][len: 1 byte, 2 if kind bit5][data]
 *         kind bit0 binary (else text), bit1 WSP_SEND_NO_COMPRESS, bit2
 *         WSP_SEND_MORE, bit3 a ping instead of data.
 *
 * Memory bound. The connection's allocations once compression is on:
 *   wsp_conn_size()                      the connection itself
 *   WSP_DEFLATE_STRUCT                   the library's compression state:
 *                                        two z_streams (112 bytes each on
 *                                        LP64) and a few fields
 *   buffer_size                          the inflate buffer
 *   receiving: INFLATE_STATE + 2^w       zlib's struct inflate_state (7160
 *                                        bytes in zlib 1.2.13 on LP64:
 *                                        codes[1444] of 4 bytes, lens and
 *                                        work arrays, ~250 bytes of fields)
 *                                        and the sliding window, w = the
 *                                        peer's window bits
 *   sending: DEFLATE_STATE + 2^(w'+2)    zlib's deflate_state (5.9 KiB)
 *            + 2^(m+9)                   plus window and prev (2 * 2^w'
 *                                        bytes each), head (2^(m+8)) and
 *                                        pending_buf (2^(m+8)); w' is at
 *                                        least 9 as zlib has no 8-bit
 *                                        deflate window, m = memLevel
 *   ZALLOC_PREFIX per zlib allocation    the library's size prefix
 * Every constant is rounded up; a build whose zlib grows its structs past
 * them makes the target fail, which is the point: the documented memory
 * cost (wsproto.h) has to be revisited then. */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WSP_DEFLATE_STRUCT 512u
#define INFLATE_STATE 7424u
#define DEFLATE_STATE 6144u
#define ZALLOC_PREFIX 16u

static size_t inflate_bound(size_t buffer_size, int w)
{
    return wsp_conn_size() + WSP_DEFLATE_STRUCT + buffer_size + INFLATE_STATE +
           ((size_t)1 << w) + 2 * ZALLOC_PREFIX;
}

static size_t deflate_bound(size_t buffer_size, int w, int mem_level)
{
    if (w < 9)
        w = 9;
    return wsp_conn_size() + WSP_DEFLATE_STRUCT + buffer_size +
           DEFLATE_STATE + ((size_t)1 << (w + 2)) +
           ((size_t)1 << (mem_level + 9)) + 5 * ZALLOC_PREFIX;
}

typedef struct setup {
    wsp_role receiver;
    int nct;
    int roundtrip;
    int no_auto_pong;
    size_t close_after;
    int bits;
    int mem_level;
    int level;
    uint32_t buffer_size;
    uint8_t b3, b4;
    wsp_deflate_params agreed;
} setup;

static void read_setup(setup *s, fuzz_input *in)
{
    uint8_t f = fuzz_u8(in), w = fuzz_u8(in), b = fuzz_u8(in);
    memset(s, 0, sizeof *s);
    s->receiver = (f & 1) ? WSP_ROLE_CLIENT : WSP_ROLE_SERVER;
    s->nct = (f >> 1) & 1;
    s->roundtrip = (f >> 2) & 1;
    s->no_auto_pong = (f >> 3) & 1;
    s->close_after = (f >> 4) & 7u;
    s->bits = 8 + (w & 7);
    s->mem_level = ((w >> 3) & 15) % 9 + 1;
    s->level = (w & 0x80) ? 1 : 0;
    s->buffer_size = b < 128 ? (uint32_t)b + 1u : (uint32_t)(b - 127u) * 64u;
    s->b3 = fuzz_u8(in);
    s->b4 = fuzz_u8(in);
    /* the parameters of the compressed direction, sender to receiver */
    if (s->receiver == WSP_ROLE_SERVER) {
        s->agreed.client_max_window_bits = s->bits;
        s->agreed.client_no_context_takeover = s->nct;
    } else {
        s->agreed.server_max_window_bits = s->bits;
        s->agreed.server_no_context_takeover = s->nct;
    }
}

/* An open receiving connection with compression on and the memory budget
 * of the inflate path. */
static void receiver_init(fuzz_peer *p, const setup *s)
{
    wsp_config cfg;
    wsp_deflate_config dc;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = s->receiver;
    cfg.start_open = 1;
    cfg.no_auto_pong = s->no_auto_pong;
    if (!s->roundtrip) {
        cfg.max_message = fuzz_limit(s->b3);
        cfg.max_frame_payload = fuzz_limit(s->b4);
    }
    fuzz_peer_init(p, &cfg, 0, 1);
    memset(&dc, 0, sizeof dc);
    dc.buffer_size = s->buffer_size;
    p->alloc.frozen = 0;
    p->alloc.limit = inflate_bound(s->buffer_size, s->bits);
    rc = wsp_conn_enable_deflate(p->conn, &dc, &s->agreed);
    FUZZ_CHECKF(rc == WSP_OK, "wsp_conn_enable_deflate: %d", rc);
    FUZZ_CHECK(wsp_conn_deflate_active(p->conn));
    FUZZ_CHECK(wsp_conn_enable_deflate(p->conn, &dc, &s->agreed) ==
               WSP_ERR_STATE);
    p->inflate_buffer = s->buffer_size;
    if (!s->roundtrip)
        p->close_after = s->close_after;
}

/* ---- frames mode ----------------------------------------------------- */

/* With FUZZ_DEFLATE_PEAK set, prints each connection's peak memory next
 * to its bound (to check the constants above against a zlib build). */
static void report_peak(const fuzz_peer *p, const char *what)
{
    if (getenv("FUZZ_DEFLATE_PEAK") != NULL)
        fprintf(stderr, "%s: peak %zu of bound %zu (conn %zu)\n", what,
                p->alloc.peak_bytes, p->alloc.limit, wsp_conn_size());
}

static void run_frames(const setup *s, const uint8_t *body, size_t len,
                       fuzz_chunker *ch, fuzz_peer *p)
{
    receiver_init(p, s);
    fuzz_peer_feed(p, body, len, ch);
    fuzz_peer_finish(p);
    report_peak(p, "receiver");
}

/* ---- round-trip mode ------------------------------------------------- */

typedef struct rt_sender {
    fuzz_peer peer;
    fuzz_buf stream;
    fuzz_buf expected;
    fuzz_buf msg;
    int msg_open;
    unsigned msg_op;
    int compressed; /* the open message went out compressed */
} rt_sender;

/* Checks the frames of one send call: parse back canonically, masking by
 * role, RSV1 exactly on the first frame of a compressed message. */
static void check_sent(rt_sender *s, const uint8_t *out, size_t len,
                       int control, int first_piece, int compressed)
{
    size_t pos = 0, frames = 0;
    wsp_role role = s->peer.cfg.role;
    while (pos < len) {
        wsp_frame_header h;
        uint8_t enc[WSP_MAX_FRAME_HEADER];
        size_t enc_len = 0;
        FUZZ_CHECK(wsp_frame_parse_header(out + pos, len - pos, &h) == WSP_OK);
        FUZZ_CHECK(h.payload_len <= len - pos - h.header_len);
        FUZZ_CHECK(h.masked == (role == WSP_ROLE_CLIENT));
        FUZZ_CHECK(wsp_frame_encode_header(&h, enc, sizeof enc, &enc_len) ==
                       WSP_OK &&
                   enc_len == h.header_len &&
                   memcmp(enc, out + pos, enc_len) == 0);
        if (control) {
            FUZZ_CHECK(h.rsv == 0 && h.fin && h.opcode == WSP_OP_PING);
        } else if (frames == 0 && first_piece) {
            FUZZ_CHECKF(h.rsv == (compressed ? 4 : 0),
                        "first frame RSV %u, compressed %d", h.rsv,
                        compressed);
        } else {
            FUZZ_CHECKF(h.rsv == 0 && h.opcode == WSP_OP_CONTINUATION,
                        "continuation frame RSV %u opcode %u", h.rsv,
                        h.opcode);
        }
        pos += h.header_len + (size_t)h.payload_len;
        frames++;
    }
    FUZZ_CHECK(frames >= 1);
    fuzz_buf_put(&s->stream, out, len);
}

static void rt_send(rt_sender *s, unsigned kind, uint8_t *payload, size_t len)
{
    wsp_conn *c = s->peer.conn;
    int control = (kind >> 3) & 1, more = (kind >> 2) & 1;
    unsigned flags = (more ? WSP_SEND_MORE : 0u) |
                     ((kind & 2) ? WSP_SEND_NO_COMPRESS : 0u);
    unsigned op = control ? WSP_OP_PING
                          : (kind & 1) ? WSP_OP_BINARY : WSP_OP_TEXT;
    size_t bound, out_len = 0, i;
    uint8_t *out;
    int rc, first = !s->msg_open;

    if (control) {
        if (len > WSP_MAX_CONTROL_PAYLOAD)
            len = WSP_MAX_CONTROL_PAYLOAD;
        flags = 0;
    } else if (s->msg_open) {
        op = s->msg_op;
    }
    if (op == WSP_OP_TEXT && !fuzz_utf8_complete(payload, len))
        for (i = 0; i < len; i++)
            payload[i] &= 0x7F;
    FUZZ_CHECK(wsp_conn_send_bound(c, len, &bound) == WSP_OK);
    out = malloc(bound ? bound : 1);
    FUZZ_CHECK(out != NULL);
    rc = wsp_conn_send(c, (wsp_opcode)op, payload, len, flags, out, bound,
                       &out_len);
    FUZZ_CHECKF(rc == WSP_OK, "send of %zu bytes (op %u flags %u) into "
                "wsp_conn_send_bound %zu: %d",
                len, op, flags, bound, rc);
    FUZZ_CHECK(out_len <= bound);
    if (control) {
        check_sent(s, out, out_len, 1, 0, 0);
        fuzz_log(&s->expected, FUZZ_REC_PING, 0, 0, payload, len);
    } else {
        if (first) {
            /* compressed unless asked not to or below min_size (decided on
             * the first piece) */
            size_t rsv_frames = out_len >= 1 ? (out[0] & 0x40) : 0;
            s->compressed = rsv_frames != 0;
            if (s->compressed)
                FUZZ_CHECK(!(kind & 2));
        }
        check_sent(s, out, out_len, 0, first, s->compressed);
        fuzz_buf_put(&s->msg, payload, len);
        if (more) {
            s->msg_open = 1;
            s->msg_op = op;
        } else {
            fuzz_log(&s->expected, FUZZ_REC_MESSAGE, op, 0, s->msg.p,
                     s->msg.len);
            s->msg.len = 0;
            s->msg_open = 0;
        }
    }
    free(out);
}

static void run_roundtrip(const setup *s, fuzz_chunker *chunked,
                          const uint8_t *ops, size_t ops_len)
{
    fuzz_input in = {ops, ops_len, 0};
    wsp_config cfg;
    wsp_deflate_config dc;
    fuzz_chunker whole;
    rt_sender snd;
    fuzz_peer r1, r2;
    int rc;

    memset(&cfg, 0, sizeof cfg);
    cfg.role = s->receiver == WSP_ROLE_CLIENT ? WSP_ROLE_SERVER
                                              : WSP_ROLE_CLIENT;
    cfg.start_open = 1;
    cfg.send_fragment_size = s->b3;
    memset(&dc, 0, sizeof dc);
    dc.max_window_bits = s->bits < 9 ? 9 : s->bits;
    dc.mem_level = s->mem_level;
    dc.level = s->level;
    dc.min_size = s->b4;
    dc.buffer_size = 64;
    memset(&snd, 0, sizeof snd);
    fuzz_peer_init(&snd.peer, &cfg, 7, 0);
    snd.peer.alloc.frozen = 0;
    snd.peer.alloc.limit = deflate_bound(64, s->bits, s->mem_level);
    rc = wsp_conn_enable_deflate(snd.peer.conn, &dc, &s->agreed);
    FUZZ_CHECKF(rc == WSP_OK, "sender wsp_conn_enable_deflate: %d", rc);

    while (in.pos < in.len) {
        uint8_t kind = fuzz_u8(&in);
        size_t want = (kind & 0x20) ? fuzz_u16(&in) : fuzz_u8(&in), len;
        const uint8_t *p = fuzz_take(&in, want, &len);
        uint8_t *payload = malloc(len ? len : 1);
        FUZZ_CHECK(payload != NULL);
        if (len)
            memcpy(payload, p, len);
        rt_send(&snd, kind, payload, len);
        free(payload);
    }

    fuzz_chunker_whole(&whole);
    receiver_init(&r1, s);
    receiver_init(&r2, s);
    fuzz_peer_feed(&r1, snd.stream.p, snd.stream.len, &whole);
    fuzz_peer_feed(&r2, snd.stream.p, snd.stream.len, chunked);
    FUZZ_CHECKF(!r1.failed, "receiver failed with %d", r1.fail_status);
    fuzz_log_same(&snd.expected, &r1.events, "sent vs received (whole)");
    fuzz_log_same(&snd.expected, &r2.events, "sent vs received (chunked)");
    fuzz_log_same(&r1.out, &r2.out, "receiver replies (whole vs chunked)");
    report_peak(&r1, "receiver");
    report_peak(&snd.peer, "sender");
    fuzz_peer_free(&r1);
    fuzz_peer_free(&r2);
    fuzz_peer_free(&snd.peer);
    fuzz_buf_free(&snd.stream);
    fuzz_buf_free(&snd.expected);
    fuzz_buf_free(&snd.msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size, 0};
    setup s;
    fuzz_chunker whole, chunked;
    const uint8_t *body;
    size_t body_len;

    if (!wsp_deflate_available())
        return 0;
    read_setup(&s, &in);
    fuzz_chunker_read(&chunked, &in);
    fuzz_chunker_whole(&whole);
    body = fuzz_take(&in, SIZE_MAX, &body_len);
    if (s.roundtrip) {
        run_roundtrip(&s, &chunked, body, body_len);
    } else {
        fuzz_peer a, b;
        run_frames(&s, body, body_len, &whole, &a);
        run_frames(&s, body, body_len, &chunked, &b);
        fuzz_log_same(&a.events, &b.events, "event logs (whole vs chunked)");
        fuzz_log_same(&a.out, &b.out, "queued output (whole vs chunked)");
        fuzz_peer_free(&a);
        fuzz_peer_free(&b);
    }
    return 0;
}
