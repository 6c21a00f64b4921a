/* What a connection writes: data and control frames (split, masked or
 * compressed as the connection requires), the closing handshake, and the
 * bytes it owes the peer on its own (pongs, close replies, a failure's
 * close or HTTP error). Every size is checked before anything is written,
 * and a failed call writes nothing. */
#include "internal.h"

#include <string.h>

/* RFC 6455 5.3: a fresh unpredictable key for every client frame. */
static int draw_key(wsp_conn *c, uint8_t key[4])
{
    if (c->role != WSP_ROLE_CLIENT) return WSP_OK;
    int bad = c->own_keys
                  ? wsp_keystream_next(&c->masking.key, &c->u.open.key_counter, key)
                  : c->masking.source.fn(key, 4, c->masking.source.user);
    return bad ? WSP_ERR_ENTROPY : WSP_OK;
}

/* Inlined into every sender: at small sizes the call cost as much as the
 * header it writes. */
#if defined(__GNUC__) || defined(__clang__)
#define FRAME_INLINE inline __attribute__((always_inline))
#else
#define FRAME_INLINE inline
#endif

/* Writes one frame at out, masked with key for a client; returns its size.
 * out has room (checked by the caller). */
static FRAME_INLINE size_t put_frame(const wsp_conn *c, unsigned fin, unsigned opcode,
                        const uint8_t *payload, size_t len, const uint8_t key[4],
                        uint8_t *out)
{
    int masked = c->role == WSP_ROLE_CLIENT;
    size_t n = wsp_frame_put_header(out, (fin ? 0x80u : 0u) | opcode, len,
                                    masked ? key : NULL);
    if (len && masked) wsp_mask_copy(out + n, payload, len, key, 0);
    else if (len) memcpy(out + n, payload, len);
    return n + len;
}

static int can_send(const wsp_conn *c)
{
    return wsp_conn_in_frames(c) && c->ss != SS_CLOSE_SENT && !c->error;
}

/* After a data frame went out: the message goes on (WSP_SEND_MORE) or is
 * over. */
static void data_frame_sent(wsp_conn *c, wsp_opcode opcode, unsigned flags)
{
    int more = (flags & WSP_SEND_MORE) != 0;
    c->ss = more ? SS_MESSAGE : SS_IDLE;
    c->send_opcode = more ? (uint8_t)opcode : 0;
}

/* Checks opcode and flags; gives the opcode the first frame carries. */
static int check_send(const wsp_conn *c, wsp_opcode opcode, size_t len,
                      unsigned flags, unsigned *wire_opcode)
{
    if (flags & ~(WSP_SEND_MORE | WSP_SEND_NO_COMPRESS)) return WSP_ERR_INVALID_ARG;
    if (opcode == WSP_OP_PING || opcode == WSP_OP_PONG) {
        if (len > WSP_MAX_CONTROL_PAYLOAD || (flags & WSP_SEND_MORE))
            return WSP_ERR_INVALID_ARG;
        *wire_opcode = opcode;
        return WSP_OK;
    }
    if (opcode != WSP_OP_TEXT && opcode != WSP_OP_BINARY) return WSP_ERR_INVALID_ARG;
    if (c->send_opcode && c->send_opcode != opcode) return WSP_ERR_INVALID_ARG;
    /* RFC 6455 5.2: a frame's length has 63 bits; the header writer relies
     * on it (only a 64-bit size_t can be larger). */
    if ((uint64_t)len >> 63) return WSP_ERR_LIMIT;
    *wire_opcode = c->send_opcode ? WSP_OP_CONTINUATION : (unsigned)opcode;
    return WSP_OK;
}

/* Bytes of len payload bytes sent uncompressed in frames of at most frag
 * bytes (0: one frame), every term checked for overflow. */
static int plain_bound(const wsp_conn *c, size_t frag, size_t len, size_t *bound)
{
    int masked = c->role == WSP_ROLE_CLIENT;
    *bound = 0;
    if (!frag || len <= frag) {
        size_t h = wsp_frame_header_size(len, masked);
        if (len > SIZE_MAX - h) return WSP_ERR_LIMIT;
        *bound = h + len;
        return WSP_OK;
    }
    size_t full = len / frag, rest = len % frag;
    size_t per = wsp_frame_header_size(frag, masked);
    size_t last = rest ? wsp_frame_header_size(rest, masked) : 0;
    if (len > SIZE_MAX - last || full > (SIZE_MAX - last - len) / per) return WSP_ERR_LIMIT;
    *bound = full * per + last + len;
    return WSP_OK;
}

int wsp_conn_send_bound(const wsp_conn *c, size_t len, size_t *bound)
{
    if (!bound) return WSP_ERR_INVALID_ARG;
    *bound = 0;
    if (!c) return WSP_ERR_INVALID_ARG;
    size_t plain = 0, packed = 0;
    int rc = plain_bound(c, c->send_fragment_size, len, &plain);
    if (rc != WSP_OK || !c->deflate) {
        *bound = plain;
        return rc;
    }
    rc = wsp_deflate_send_bound(len, c->role == WSP_ROLE_CLIENT, &packed);
    if (rc != WSP_OK) return rc;
    *bound = plain > packed ? plain : packed;
    return WSP_OK;
}

static int send_compressed(wsp_conn *c, wsp_opcode opcode, const uint8_t *payload,
                           size_t len, unsigned flags, uint8_t *out, size_t out_cap,
                           size_t *out_len)
{
    /* The key is drawn before compressing: once the compressor has taken
     * the data, failing would leave the peer's inflater out of step. */
    uint8_t key[4] = {0, 0, 0, 0};
    if (draw_key(c, key) != WSP_OK) return WSP_ERR_ENTROPY;
    int more = (flags & WSP_SEND_MORE) != 0;
    int rc = wsp_deflate_send(c->deflate, opcode, c->ss == SS_IDLE, !more, payload, len,
                              c->role == WSP_ROLE_CLIENT ? key : NULL, out, out_cap,
                              out_len);
    if (rc != WSP_OK) return rc;
    c->ss = more ? SS_COMPRESSED : SS_IDLE;
    c->send_opcode = more ? (uint8_t)opcode : 0;
    return WSP_OK;
}

int wsp_conn_send(wsp_conn *c, wsp_opcode opcode, const uint8_t *payload,
                  size_t len, unsigned flags, uint8_t *out, size_t out_cap,
                  size_t *out_len)
{
    if (!out_len) return WSP_ERR_INVALID_ARG;
    *out_len = 0;
    if (!c || (!payload && len) || (!out && out_cap)) return WSP_ERR_INVALID_ARG;
    unsigned wire;
    int rc = check_send(c, opcode, len, flags, &wire);
    if (rc != WSP_OK) return rc;
    if (!can_send(c)) return WSP_ERR_STATE;
    int control = wsp_opcode_is_control(wire);
    if (!control && (c->ss == SS_COMPRESSED ||
                     (c->ss == SS_IDLE && c->deflate && !(flags & WSP_SEND_NO_COMPRESS) &&
                      wsp_deflate_can_compress(c->deflate, len))))
        return send_compressed(c, opcode, payload, len, flags, out, out_cap, out_len);
    size_t frag = control || !c->send_fragment_size ? 0 : c->send_fragment_size;
    if (!frag || len <= frag) {
        /* One frame: nearly every message, worth a path of its own. */
        int masked = c->role == WSP_ROLE_CLIENT;
        size_t hlen = wsp_frame_header_size(len, masked);
        if (len > SIZE_MAX - hlen) return WSP_ERR_LIMIT;
        if (out_cap < hlen + len) return WSP_ERR_BUFFER_TOO_SMALL;
        uint8_t key[4] = {0, 0, 0, 0};
        if (draw_key(c, key) != WSP_OK) return WSP_ERR_ENTROPY;
        size_t w = put_frame(c, !(flags & WSP_SEND_MORE), wire, payload, len, key, out);
        if (!control) data_frame_sent(c, opcode, flags);
        *out_len = w;
        return WSP_OK;
    }
    size_t need = 0;
    rc = plain_bound(c, frag, len, &need);
    if (rc != WSP_OK) return rc;
    if (out_cap < need) return WSP_ERR_BUFFER_TOO_SMALL;
    size_t off = 0, w = 0;
    do {
        size_t n = len - off < frag ? len - off : frag;
        unsigned fin = off + n == len && !(flags & WSP_SEND_MORE);
        uint8_t key[4] = {0, 0, 0, 0};
        /* The frames before must not go alone: *out_len stays 0. */
        if (draw_key(c, key) != WSP_OK) return WSP_ERR_ENTROPY;
        /* No arithmetic on a NULL payload (an empty message). */
        w += put_frame(c, fin, wire, n ? payload + off : payload, n, key, out + w);
        off += n;
        wire = WSP_OP_CONTINUATION;
    } while (off < len);
    /* Only data messages are split: a control frame took the path above. */
    data_frame_sent(c, opcode, flags);
    *out_len = w;
    return WSP_OK;
}

int wsp_conn_send_zerocopy(wsp_conn *c, wsp_opcode opcode, uint8_t *payload,
                           size_t len, unsigned flags,
                           uint8_t hdr[WSP_MAX_FRAME_HEADER], size_t *hdr_len)
{
    if (!hdr_len) return WSP_ERR_INVALID_ARG;
    *hdr_len = 0;
    if (!c || !hdr || (!payload && len)) return WSP_ERR_INVALID_ARG;
    unsigned wire;
    int rc = check_send(c, opcode, len, flags, &wire);
    if (rc != WSP_OK) return rc;
    if (!can_send(c)) return WSP_ERR_STATE;
    int control = wsp_opcode_is_control(wire);
    /* A compressed message cannot go on uncompressed; a ping or pong
     * between its frames can (RFC 6455 5.4). */
    if (!control && c->ss == SS_COMPRESSED) return WSP_ERR_INVALID_ARG;
    int masked = c->role == WSP_ROLE_CLIENT;
    uint8_t key[4] = {0, 0, 0, 0};
    if (draw_key(c, key) != WSP_OK) return WSP_ERR_ENTROPY;
    *hdr_len = wsp_frame_put_header(hdr, ((flags & WSP_SEND_MORE) ? 0u : 0x80u) | wire, len,
                                    masked ? key : NULL);
    if (masked && len) wsp_mask(payload, len, key, 0);
    if (!control) data_frame_sent(c, opcode, flags);
    return WSP_OK;
}

/* A close frame's payload: code (if any) then reason. */
static size_t close_payload(uint16_t code, const char *reason, size_t reason_len,
                            uint8_t buf[WSP_MAX_CONTROL_PAYLOAD])
{
    if (!code) return 0;
    buf[0] = (uint8_t)(code >> 8);
    buf[1] = (uint8_t)code;
    if (reason_len) memcpy(buf + 2, reason, reason_len);
    return 2 + reason_len;
}

static size_t frame_size(const wsp_conn *c, size_t len)
{
    return wsp_frame_header_size(len, c->role == WSP_ROLE_CLIENT) + len;
}

static size_t owed_pong_size(const wsp_conn *c)
{
    return c->pong_owed ? frame_size(c, c->u.open.pong_len) : 0;
}

int wsp_conn_close(wsp_conn *c, uint16_t code, const char *reason,
                   size_t reason_len, uint8_t *out, size_t out_cap,
                   size_t *out_len)
{
    if (!out_len) return WSP_ERR_INVALID_ARG;
    *out_len = 0;
    if (!c || (!reason && reason_len) || (!out && out_cap)) return WSP_ERR_INVALID_ARG;
    if (code ? !wsp_close_code_valid(code) || reason_len > WSP_MAX_CONTROL_PAYLOAD - 2
             : reason_len != 0)
        return WSP_ERR_INVALID_ARG;
    uint32_t st = WSP_UTF8_ACCEPT;
    if (reason_len && (wsp_utf8_validate(&st, (const uint8_t *)reason, reason_len,
                                         NULL) != WSP_OK ||
                       st != WSP_UTF8_ACCEPT))
        return WSP_ERR_INVALID_ARG;
    if (!can_send(c)) return WSP_ERR_STATE;
    uint8_t payload[WSP_MAX_CONTROL_PAYLOAD];
    size_t n = close_payload(code, reason, reason_len, payload);
    /* RFC 6455 5.5.2: a ping received before our close is still answered,
     * and first, since nothing may follow the close (5.5.1). */
    size_t pong = owed_pong_size(c);
    if (out_cap < pong + frame_size(c, n)) return WSP_ERR_BUFFER_TOO_SMALL;
    /* Keys first, so a failing source leaves out untouched. */
    uint8_t pong_key[4] = {0, 0, 0, 0}, close_key[4] = {0, 0, 0, 0};
    if ((c->pong_owed && draw_key(c, pong_key) != WSP_OK) ||
        draw_key(c, close_key) != WSP_OK)
        return WSP_ERR_ENTROPY;
    size_t w = 0;
    if (c->pong_owed)
        w = put_frame(c, 1, WSP_OP_PONG, c->u.open.pong, c->u.open.pong_len, pong_key, out);
    w += put_frame(c, 1, WSP_OP_CLOSE, payload, n, close_key, out + w);
    c->pong_owed = 0;
    c->ss = SS_CLOSE_SENT;
    *out_len = w;
    return WSP_OK;
}

/* The owed close's payload length: code, and a failure's reason. */
static size_t owed_close_len(const wsp_conn *c)
{
    if (c->close_owed != CLOSE_WITH_CODE) return 0;
    size_t n = 2;
    if (c->error) n += strlen(wsp_status_reason(c->error));
    return n > WSP_MAX_CONTROL_PAYLOAD ? WSP_MAX_CONTROL_PAYLOAD : n;
}

static size_t owed_http_size(const wsp_conn *c)
{
    size_t h = 0;
    if (c->http_owed) wsp_http_build_error(wsp_status_http_code(c->error), NULL, 0, &h);
    return h;
}

size_t wsp_conn_pending_size(const wsp_conn *c)
{
    if (!c) return 0;
    size_t n = owed_http_size(c) + owed_pong_size(c);
    if (c->close_owed != CLOSE_NONE) n += frame_size(c, owed_close_len(c));
    return n;
}

int wsp_conn_flush(wsp_conn *c, uint8_t *out, size_t out_cap, size_t *out_len)
{
    if (!out_len) return WSP_ERR_INVALID_ARG;
    *out_len = 0;
    if (!c || (!out && out_cap)) return WSP_ERR_INVALID_ARG;
    if (out_cap < wsp_conn_pending_size(c)) return WSP_ERR_BUFFER_TOO_SMALL;
    /* Keys first, so a failing source leaves out untouched. */
    uint8_t pong_key[4] = {0, 0, 0, 0}, close_key[4] = {0, 0, 0, 0};
    if ((c->pong_owed && draw_key(c, pong_key) != WSP_OK) ||
        (c->close_owed != CLOSE_NONE && draw_key(c, close_key) != WSP_OK))
        return WSP_ERR_ENTROPY;
    size_t w = 0;
    if (c->http_owed)
        wsp_http_build_error(wsp_status_http_code(c->error), out, out_cap, &w);
    if (c->pong_owed)
        w += put_frame(c, 1, WSP_OP_PONG, c->u.open.pong, c->u.open.pong_len, pong_key,
                       out + w);
    if (c->close_owed != CLOSE_NONE) {
        uint8_t payload[WSP_MAX_CONTROL_PAYLOAD];
        size_t n = owed_close_len(c);
        const char *reason = c->error ? wsp_status_reason(c->error) : NULL;
        uint16_t code = c->close_owed == CLOSE_WITH_CODE ? c->u.open.close_code : 0;
        n = close_payload(code, reason, n >= 2 ? n - 2 : 0, payload);
        w += put_frame(c, 1, WSP_OP_CLOSE, payload, n, close_key, out + w);
    }
    /* Forgotten only once all of it is written: a failed flush can be
     * repeated. */
    c->http_owed = 0;
    c->pong_owed = 0;
    c->close_owed = CLOSE_NONE;
    *out_len = w;
    return WSP_OK;
}

int wsp_conn_should_close_transport(const wsp_conn *c)
{
    if (!c || c->rs != RS_CLOSED || wsp_conn_pending_size(c)) return 0;
    return c->role == WSP_ROLE_SERVER || c->error != WSP_OK;
}
