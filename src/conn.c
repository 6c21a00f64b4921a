/* The connection state machine: one receive state (what the next bytes
 * received are), one send state (what this side may still send), and the
 * few bytes the connection owes the peer on its own. Received payload is
 * unmasked in place and handed out as views into the caller's buffer;
 * nothing here allocates but compression state. The handshake lives in
 * handshake.c and compression in deflate.c; this file dispatches. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* The budget README.md and docs/architecture.md promise on 64-bit targets:
 * an idle connection costs a few cache lines. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct wsp_conn) <= 256,
               "struct wsp_conn grew past 256 bytes");

size_t wsp_conn_size(void) { return sizeof(struct wsp_conn); }

#ifndef WSP_NO_MALLOC
static void *default_malloc(size_t size, void *user)
{
    (void)user;
    return malloc(size);
}

static void default_free(void *ptr, size_t size, void *user)
{
    (void)size, (void)user;
    free(ptr);
}

static const wsp_allocator default_allocator = {default_malloc, NULL,
                                                default_free, NULL};
#define DEFAULT_ALLOCATOR (&default_allocator)
#else
/* Heap-free builds (WSP_NO_MALLOC): an allocator must be given to use
 * wsp_conn_new or compression; wsp_conn_init needs none. */
#define DEFAULT_ALLOCATOR NULL
#endif

int wsp_conn_init(wsp_conn *c, const wsp_config *cfg)
{
    static const wsp_config defaults;
    if (!c) return WSP_ERR_INVALID_ARG;
    if (!cfg) cfg = &defaults;
    if (cfg->role != WSP_ROLE_SERVER && cfg->role != WSP_ROLE_CLIENT)
        return WSP_ERR_INVALID_ARG;
    if (cfg->deflate && !wsp_deflate_available()) return WSP_ERR_UNSUPPORTED;
    const wsp_allocator *a = cfg->allocator ? cfg->allocator : DEFAULT_ALLOCATOR;
    if (cfg->deflate && !a) return WSP_ERR_INVALID_ARG;
    memset(c, 0, sizeof *c);
    c->role = (uint8_t)cfg->role;
    c->max_frame = cfg->max_frame_payload ? cfg->max_frame_payload : WSP_DEFAULT_MAX_FRAME;
    c->max_message = cfg->max_message ? cfg->max_message : WSP_DEFAULT_MAX_MESSAGE;
    c->max_fragments = cfg->max_fragments ? cfg->max_fragments : WSP_DEFAULT_MAX_FRAGMENTS;
    c->send_fragment_size = cfg->send_fragment_size;
    c->allocator = a;
    c->own_keys = cfg->entropy == NULL;
    if (!c->own_keys) {
        c->masking.source.fn = cfg->entropy;
        c->masking.source.user = cfg->entropy_user;
    }
    c->auto_pong = !cfg->no_auto_pong;
    if (cfg->start_open) {
        c->rs = RS_FRAME_HEADER;
    } else {
        wsp_handshake_init(&c->u.hs, cfg);
        c->rs = cfg->role == WSP_ROLE_SERVER ? RS_HEAD : RS_UNSENT;
    }
    return WSP_OK;
}

int wsp_conn_new(const wsp_config *cfg, wsp_conn **out)
{
    if (!out) return WSP_ERR_INVALID_ARG;
    *out = NULL;
    const wsp_allocator *a = cfg && cfg->allocator ? cfg->allocator : DEFAULT_ALLOCATOR;
    if (!a || !a->malloc_fn || !a->free_fn) return WSP_ERR_INVALID_ARG;
    wsp_conn *c = a->malloc_fn(sizeof *c, a->user);
    if (!c) return WSP_ERR_NOMEM;
    int rc = wsp_conn_init(c, cfg);
    if (rc != WSP_OK) {
        a->free_fn(c, sizeof *c, a->user);
        return rc;
    }
    c->owned = 1;
    *out = c;
    return WSP_OK;
}

void wsp_conn_deinit(wsp_conn *c)
{
    if (!c) return;
    wsp_deflate_destroy(c->deflate);
    c->deflate = NULL;
}

int wsp_conn_deflate_active(const wsp_conn *c) { return c && c->deflate; }

void wsp_conn_free(wsp_conn *c)
{
    if (!c) return;
    wsp_conn_deinit(c);
    if (!c->owned) return;
    const wsp_allocator *a = c->allocator;
    a->free_fn(c, sizeof *c, a->user);
}

wsp_state wsp_conn_state(const wsp_conn *c)
{
    if (!c || c->rs == RS_CLOSED) return WSP_STATE_CLOSED;
    if (!wsp_conn_in_frames(c)) return WSP_STATE_HANDSHAKE;
    return c->ss == SS_CLOSE_SENT ? WSP_STATE_CLOSING : WSP_STATE_OPEN;
}

wsp_role wsp_conn_role(const wsp_conn *c)
{
    return c ? (wsp_role)c->role : WSP_ROLE_SERVER;
}

int wsp_conn_error(const wsp_conn *c, wsp_error_info *info)
{
    if (!c || !info) return WSP_ERR_INVALID_ARG;
    info->status = c->error;
    info->close_code = c->error_code;
    info->reason = c->error ? wsp_status_reason(c->error) : NULL;
    info->offset = c->error_offset;
    return WSP_OK;
}

/* RFC 6455 7.1.7 "Fail the WebSocket Connection": owe a close with the
 * status's code (when frames can still be sent) and stop reading. */
WSP_COLD static int fail(wsp_conn *c, int status, uint64_t offset, wsp_event *ev)
{
    /* RFC 6455 7.4.1: 1011 when we, not the peer, could not go on. */
    uint16_t code = status == WSP_ERR_NOMEM ? 1011 : wsp_status_close_code(status);
    if (wsp_conn_in_frames(c) && c->ss != SS_CLOSE_SENT && code) {
        c->close_owed = CLOSE_WITH_CODE;
        c->u.open.close_code = code;
        c->ss = SS_CLOSE_SENT;
    } else {
        code = 0;
    }
    c->pong_owed = 0;
    c->error = (int16_t)status;
    c->error_code = code;
    c->error_offset = offset;
    c->rs = RS_CLOSED;
    ev->type = WSP_EV_FAILURE;
    ev->u.failure.status = status;
    ev->u.failure.close_code = code;
    ev->u.failure.reason = wsp_status_reason(status);
    ev->u.failure.offset = offset;
    return status;
}

void wsp_conn_open(wsp_conn *c)
{
    memset(&c->u, 0, sizeof c->u);
    c->rs = RS_FRAME_HEADER;
}

void wsp_conn_refused(wsp_conn *c, int status)
{
    c->error = (int16_t)status;
    c->error_code = 0;
    c->error_offset = c->offset;
    c->http_owed = 0;
    c->rs = RS_CLOSED;
}

int wsp_conn_server_deflate(wsp_conn *c, const wsp_deflate_params *agreed)
{
    return wsp_deflate_create(c->allocator, c->u.hs.deflate_cfg, agreed, WSP_ROLE_SERVER,
                              &c->deflate);
}

/* RS_HEAD: the request (server) or the 101 (client), kept back whole. */
WSP_COLD static int recv_head(wsp_conn *c, uint8_t *data, size_t len, size_t *consumed,
                     wsp_event *ev)
{
    wsp_deflate_params agreed;
    int found = 0;
    int rc = c->role == WSP_ROLE_SERVER
                 ? wsp_handshake_read_request(&c->u.hs, data, len, consumed, &ev->u.request)
                 : wsp_handshake_read_response(&c->u.hs, data, len, consumed,
                                               &ev->u.response, &agreed, &found);
    if (rc == WSP_ERR_NEED_MORE) {
        *consumed = 0;
        return WSP_OK;
    }
    if (rc != WSP_OK) {
        /* A server still answers a head it cannot parse, in HTTP. */
        c->http_owed = c->role == WSP_ROLE_SERVER;
        *consumed = len;
        return fail(c, rc, c->offset, ev);
    }
    if (c->role == WSP_ROLE_SERVER) {
        ev->type = WSP_EV_REQUEST;
        c->rs = RS_AWAIT_ANSWER;
        return WSP_OK;
    }
    ev->type = WSP_EV_RESPONSE;
    int st = ev->u.response.status;
    if (st == WSP_OK && found)
        st = wsp_deflate_create(c->allocator, c->u.hs.deflate_cfg, &agreed,
                                WSP_ROLE_CLIENT, &c->deflate);
    ev->u.response.status = st;
    if (st != WSP_OK) {
        c->error = (int16_t)st;
        c->error_offset = c->offset;
        c->rs = RS_CLOSED;
        return WSP_OK;
    }
    wsp_conn_open(c);
    return WSP_OK;
}

/* A close frame (RFC 6455 5.5.1, 7.4) whose payload p[0..n) is unmasked. */
WSP_COLD static int close_frame(wsp_conn *c, uint8_t *p, size_t n, uint64_t offset,
                       wsp_event *ev)
{
    uint16_t code = 1005;
    if (n == 1) return fail(c, WSP_ERR_PROTO_CLOSE_PAYLOAD, offset, ev);
    if (n >= 2) {
        code = (uint16_t)(p[0] << 8 | p[1]);
        if (!wsp_close_code_valid(code))
            return fail(c, WSP_ERR_PROTO_CLOSE_CODE, offset, ev);
        uint32_t st = WSP_UTF8_ACCEPT;
        size_t bad = 0;
        if (wsp_utf8_validate(&st, p + 2, n - 2, &bad) != WSP_OK)
            return fail(c, WSP_ERR_PROTO_UTF8, offset + 2 + bad, ev);
        if (st != WSP_UTF8_ACCEPT)
            return fail(c, WSP_ERR_PROTO_UTF8, offset + n, ev);
    }
    if (c->ss != SS_CLOSE_SENT) {
        /* Echo the code (RFC 6455 5.5.1); an owed pong goes first. */
        c->close_owed = n >= 2 ? CLOSE_WITH_CODE : CLOSE_EMPTY;
        c->u.open.close_code = code;
        c->ss = SS_CLOSE_SENT;
    }
    c->rs = RS_CLOSED;
    ev->type = WSP_EV_CLOSE;
    ev->u.close.code = code;
    ev->u.close.reason = (const char *)(n >= 2 ? p + 2 : p);
    ev->u.close.reason_len = n >= 2 ? n - 2 : 0;
    return WSP_OK;
}

/* A whole control frame whose payload p[0..n) is unmasked. */
WSP_COLD static int control_frame(wsp_conn *c, unsigned opcode, uint8_t *p, size_t n,
                         uint64_t offset, wsp_event *ev)
{
    if (opcode == WSP_OP_CLOSE) return close_frame(c, p, n, offset, ev);
    ev->type = opcode == WSP_OP_PING ? WSP_EV_PING : WSP_EV_PONG;
    ev->u.control.payload = p;
    ev->u.control.len = n;
    /* RFC 6455 5.5.3: answering only the latest ping is allowed, which keeps
     * what the connection owes bounded whatever the peer sends. */
    if (opcode == WSP_OP_PING && c->auto_pong && c->ss != SS_CLOSE_SENT) {
        if (n) memcpy(c->u.open.pong, p, n);
        c->u.open.pong_len = (uint8_t)n;
        c->pong_owed = 1;
    }
    return WSP_OK;
}

/* Every rule a frame header must follow given the role, the negotiated
 * extension and the message under way. Returns WSP_OK or the error. */
static int check_header(const wsp_conn *c, const wsp_frame_header *h)
{
    unsigned op = h->opcode;
    /* RFC 7692 6: RSV1 marks the first frame of a compressed message; it is
     * meaningless (so an error) anywhere else, and RSV2/RSV3 are never used. */
    if (h->rsv & 3u) return WSP_ERR_PROTO_RSV;
    if ((h->rsv & 4u) && (!c->deflate || op == WSP_OP_CONTINUATION || (op & 0x8)))
        return WSP_ERR_PROTO_RSV;
    if ((op > WSP_OP_BINARY && op < WSP_OP_CLOSE) || op > WSP_OP_PONG)
        return WSP_ERR_PROTO_OPCODE;
    /* RFC 6455 5.1: clients mask, servers do not. */
    if (h->masked != (c->role == WSP_ROLE_SERVER)) return WSP_ERR_PROTO_MASK;
    if (wsp_opcode_is_control(op)) {
        if (!h->fin) return WSP_ERR_PROTO_CONTROL_FRAGMENTED;
        if (h->payload_len > WSP_MAX_CONTROL_PAYLOAD)
            return WSP_ERR_PROTO_CONTROL_TOO_LONG;
        return WSP_OK;
    }
    const int continuation = op == WSP_OP_CONTINUATION;
    if (continuation) {
        if (!c->u.open.msg_opcode) return WSP_ERR_PROTO_CONTINUATION;
        if (c->u.open.fragments >= c->max_fragments) return WSP_ERR_PROTO_TOO_MANY_FRAGMENTS;
    } else if (c->u.open.msg_opcode) {
        return WSP_ERR_PROTO_EXPECTED_CONTINUATION;
    }
    if (h->payload_len > c->max_frame) return WSP_ERR_PROTO_TOO_BIG;
    /* A compressed message is held to the limit by its inflated size, as it
     * is inflated (deflate.c). */
    int compressed = continuation ? c->u.open.msg_compressed : (h->rsv & 4u) != 0;
    uint64_t so_far = continuation ? c->u.open.message_len : 0;
    if (!compressed && h->payload_len > c->max_message - so_far)
        return WSP_ERR_PROTO_TOO_BIG;
    return WSP_OK;
}

/* Text is checked as it arrives and fails at the first impossible byte
 * (RFC 6455 8.1), not at the message's end; a message that ends inside a
 * code point fails at its end. Returns WSP_OK or the failure. */
static int check_text(wsp_conn *c, uint32_t *state, const uint8_t *p, size_t n,
                      int last, uint64_t offset, wsp_event *ev)
{
    size_t bad = 0;
    if (wsp_utf8_validate(state, p, n, &bad) != WSP_OK)
        return fail(c, WSP_ERR_PROTO_UTF8, offset + bad, ev);
    if (last && *state != WSP_UTF8_ACCEPT)
        return fail(c, WSP_ERR_PROTO_UTF8, offset + n, ev);
    return WSP_OK;
}

static void data_event(wsp_event *ev, unsigned opcode, unsigned flags, uint8_t *p,
                       size_t n)
{
    ev->type = WSP_EV_DATA;
    ev->u.data.opcode = (wsp_opcode)opcode;
    ev->u.data.flags = flags;
    ev->u.data.payload = p;
    ev->u.data.len = n;
}

/* Hands out n bytes of message content at p (uncompressed text checked),
 * and ends the message after its last piece. */
static int deliver(wsp_conn *c, uint8_t *p, size_t n, int last, uint64_t offset,
                   wsp_event *ev)
{
    if (c->u.open.msg_opcode == WSP_OP_TEXT && !c->u.open.msg_compressed) {
        int rc = check_text(c, &c->u.open.utf8_state, p, n, last, offset, ev);
        if (rc != WSP_OK) return rc;
    }
    data_event(ev, c->u.open.msg_opcode,
               (c->u.open.msg_first ? WSP_DATA_FIRST : 0u) | (last ? WSP_DATA_LAST : 0u),
               p, n);
    c->u.open.msg_first = 0;
    if (last) c->u.open.msg_opcode = 0;
    return WSP_OK;
}

/* After a data frame's header (at stream offset frame_offset): what its
 * payload is and where it goes. */
WSP_COLD static int start_data_frame(wsp_conn *c, wsp_frame_header hv, uint8_t *p,
                                     uint64_t frame_offset, wsp_event *ev)
{
    /* By value: the hot caller then keeps its header in registers. */
    const wsp_frame_header *h = &hv;
    if (h->opcode != WSP_OP_CONTINUATION) {
        c->u.open.msg_opcode = h->opcode;
        c->u.open.msg_compressed = (h->rsv & 4u) != 0;
        c->u.open.msg_first = 1;
        c->u.open.message_len = 0;
        c->u.open.fragments = 0;
        c->u.open.utf8_state = WSP_UTF8_ACCEPT;
        if (c->u.open.msg_compressed)
            wsp_deflate_begin_message(c->deflate, frame_offset, h->opcode == WSP_OP_TEXT,
                                      c->max_message);
    }
    c->u.open.fragments++;
    c->u.open.frame_remaining = h->payload_len;
    c->u.open.frame_fin = h->fin;
    c->u.open.frame_masked = h->masked;
    if (h->masked) memcpy(c->u.open.mask_key, p - 4, 4);
    c->u.open.mask_pos = 0;
    if (c->u.open.msg_compressed) {
        /* An empty final frame still ends the message through zlib. */
        c->rs = h->payload_len ? RS_INFLATE : h->fin ? RS_INFLATE_DRAIN : RS_FRAME_HEADER;
        return WSP_OK;
    }
    c->u.open.message_len += h->payload_len;
    if (h->payload_len) {
        c->rs = RS_PAYLOAD;
        return WSP_OK;
    }
    /* An empty frame still has to mark a message's start or end. */
    c->rs = RS_FRAME_HEADER;
    if (h->fin || c->u.open.msg_first)
        return deliver(c, p, 0, h->fin, frame_offset + h->header_len, ev);
    return WSP_OK;
}

/* Most frames have a 7-bit length: decoded here without a call. Anything
 * longer, or short input, goes to the codec, which knows every case. The
 * masking key is not copied: it is the four bytes before the payload. */
static int parse_header(const uint8_t *p, size_t avail, wsp_frame_header *h)
{
    size_t hl = (p[1] & 0x80u) ? 6u : 2u;
    if (avail < hl || (p[1] & 0x7Fu) > 125) {
        /* Through a copy, so h itself can stay in registers. */
        wsp_frame_header full;
        int rc = wsp_frame_parse_header(p, avail, &full);
        *h = full;
        return rc;
    }
    h->fin = p[0] >> 7;
    h->rsv = (p[0] >> 4) & 7u;
    h->opcode = p[0] & 0x0Fu;
    h->masked = p[1] >> 7;
    h->payload_len = p[1] & 0x7Fu;
    h->header_len = hl;
    return WSP_OK;
}

/* RS_FRAME_HEADER: one frame header, checked; a control frame is kept back
 * until it is whole and handled at once. *used stays 0 when more input is
 * needed. */
static int recv_frame_header(wsp_conn *c, uint8_t *p, size_t avail, uint64_t offset,
                             size_t *used, wsp_event *ev)
{
    wsp_frame_header h;
    *used = 0;
    if (avail < 2) return WSP_OK;
    int rc = parse_header(p, avail, &h);
    if (rc == WSP_ERR_NEED_MORE) return WSP_OK;
    if (rc == WSP_OK) rc = check_header(c, &h);
    if (rc != WSP_OK) return fail(c, rc, offset, ev);
    uint8_t *payload = p + h.header_len;
    if (wsp_opcode_is_control(h.opcode)) {
        size_t n = (size_t)h.payload_len;
        if (avail - h.header_len < n) return WSP_OK;
        if (h.masked) wsp_mask_copy(payload, payload, n, payload - 4, 0);
        *used = h.header_len + n;
        return control_frame(c, h.opcode, payload, n, offset + h.header_len, ev);
    }
    /* A whole unfragmented, uncompressed message in the buffer (the common
     * small message) goes out at once, without entering RS_PAYLOAD. */
    if (h.fin && h.opcode != WSP_OP_CONTINUATION && !h.rsv &&
        avail - h.header_len >= h.payload_len) {
        size_t n = (size_t)h.payload_len;
        if (h.masked) wsp_mask_copy(payload, payload, n, payload - 4, 0);
        *used = h.header_len + n;
        /* The message begins and ends here: no message state to keep. */
        uint32_t utf8 = WSP_UTF8_ACCEPT;
        if (h.opcode == WSP_OP_TEXT) {
            rc = check_text(c, &utf8, payload, n, 1, offset + h.header_len, ev);
            if (rc != WSP_OK) return rc;
        }
        data_event(ev, h.opcode, WSP_DATA_FIRST | WSP_DATA_LAST, payload, n);
        return WSP_OK;
    }
    *used = h.header_len;
    return start_data_frame(c, h, payload, offset, ev);
}

/* RS_PAYLOAD: n bytes of an uncompressed data frame's payload at p. */
static int recv_payload(wsp_conn *c, uint8_t *p, size_t n, uint64_t offset,
                        wsp_event *ev)
{
    if (c->u.open.frame_masked) {
        wsp_mask(p, n, c->u.open.mask_key, c->u.open.mask_pos);
        c->u.open.mask_pos = (uint8_t)((c->u.open.mask_pos + n) & 3u);
    }
    c->u.open.frame_remaining -= n;
    int last = 0;
    if (c->u.open.frame_remaining == 0) {
        c->rs = RS_FRAME_HEADER;
        last = c->u.open.frame_fin;
    }
    return deliver(c, p, n, last, offset, ev);
}

/* RS_INFLATE and RS_INFLATE_DRAIN: compressed payload in, inflated pieces
 * out. The inflate buffer is bounded, so zlib may take only part of the
 * input; the rest stays unconsumed for the caller to present again. Output
 * still inside zlib comes out before the next header is read, so events
 * and failures keep stream order however the input was split. */
WSP_COLD static int recv_compressed(wsp_conn *c, uint8_t *p, size_t avail, size_t *used,
                           wsp_event *ev)
{
    uint64_t remaining = c->u.open.frame_remaining;
    size_t n = remaining < avail ? (size_t)remaining : avail;
    int end = c->u.open.frame_fin && n == remaining;
    uint8_t *out;
    size_t out_len;
    int done;
    int rc = wsp_deflate_recv(c->deflate, p, n, end,
                              c->u.open.frame_masked ? c->u.open.mask_key : NULL,
                              &c->u.open.mask_pos, used, &out, &out_len, &done);
    if (rc != WSP_OK) return fail(c, rc, wsp_deflate_message_offset(c->deflate), ev);
    c->u.open.frame_remaining -= *used;
    if (done) {
        c->rs = RS_FRAME_HEADER;
    } else if (c->u.open.frame_remaining) {
        c->rs = RS_INFLATE;
    } else {
        c->rs = c->u.open.frame_fin || wsp_deflate_output_pending(c->deflate)
                    ? RS_INFLATE_DRAIN : RS_FRAME_HEADER;
    }
    if (!out_len && !done) return WSP_OK;
    return deliver(c, out, out_len, done, 0, ev);
}

/* The frame loop: one state, one case, until an event or a need for input. */
static int recv_frames(wsp_conn *c, uint8_t *data, size_t len, size_t *consumed,
                       wsp_event *ev)
{
    size_t off = 0;
    int rc = WSP_OK;
    for (;;) {
        uint8_t *p = data + off;
        size_t avail = len - off, used = 0;
        recv_state before = (recv_state)c->rs;
        if (before == RS_FRAME_HEADER) {
            rc = recv_frame_header(c, p, avail, c->offset + off, &used, ev);
        } else if (before == RS_PAYLOAD) {
            uint64_t remaining = c->u.open.frame_remaining;
            used = remaining < avail ? (size_t)remaining : avail;
            if (!used) break;
            rc = recv_payload(c, p, used, c->offset + off, ev);
        } else if (before == RS_INFLATE || before == RS_INFLATE_DRAIN) {
            if (!avail && before == RS_INFLATE && !wsp_deflate_output_pending(c->deflate))
                break;
            rc = recv_compressed(c, p, avail, &used, ev);
        } else {
            break;
        }
        off += used;
        if (rc != WSP_OK || ev->type != WSP_EV_NONE) break;
        /* Nothing taken and no step taken: wait for more input. */
        if (!used && c->rs == before) break;
    }
    *consumed = rc == WSP_OK ? off : len;
    return rc;
}

int wsp_conn_recv(wsp_conn *c, uint8_t *data, size_t len, size_t *consumed,
                  wsp_event *ev)
{
    if (!c || !consumed || !ev || (!data && len)) return WSP_ERR_INVALID_ARG;
    uint8_t no_input = 0;
    if (!data) data = &no_input;
    ev->type = WSP_EV_NONE;
    *consumed = 0;
    if (c->error) {
        *consumed = len;
        return c->error;
    }
    int rc;
    /* Frames first: the state nearly every call is in. */
    if (wsp_conn_in_frames(c)) {
        rc = recv_frames(c, data, len, consumed, ev);
    } else if (c->rs == RS_HEAD) {
        rc = recv_head(c, data, len, consumed, ev);
    } else if (c->rs == RS_CLOSED) {
        /* RFC 6455 5.5.1: nothing after a close frame is meaningful. */
        *consumed = len;
        return WSP_ERR_CLOSED;
    } else {
        return WSP_ERR_STATE; /* RS_UNSENT, RS_AWAIT_ANSWER */
    }
    c->offset += *consumed;
    return rc;
}

int wsp_conn_accept(wsp_conn *c, const wsp_accept_options *opts, uint8_t *out,
                    size_t out_cap, size_t *out_len)
{
    if (!out_len) return WSP_ERR_INVALID_ARG;
    *out_len = 0;
    if (!c || (!out && out_cap)) return WSP_ERR_INVALID_ARG;
    if (c->role != WSP_ROLE_SERVER || c->rs != RS_AWAIT_ANSWER || !c->u.hs.request_valid)
        return WSP_ERR_STATE;
    size_t need = 0;
    int rc = wsp_handshake_write_response(&c->u.hs, opts, NULL, 0, &need);
    if (rc != WSP_OK) return rc;
    if (!out || out_cap < need) return WSP_ERR_BUFFER_TOO_SMALL;
    if (wsp_handshake_uses_deflate(&c->u.hs, opts)) {
        wsp_deflate_params agreed;
        wsp_handshake_agreed(&c->u.hs, &agreed);
        rc = wsp_conn_server_deflate(c, &agreed);
        if (rc != WSP_OK) return rc;
    }
    rc = wsp_handshake_write_response(&c->u.hs, opts, out, out_cap, out_len);
    if (rc != WSP_OK) {
        wsp_deflate_destroy(c->deflate);
        c->deflate = NULL;
        return rc;
    }
    wsp_conn_open(c);
    return WSP_OK;
}

static int reject_with(wsp_conn *c, int http_status, uint8_t *out, size_t out_cap,
                       size_t *out_len)
{
    int rc = wsp_http_build_error(http_status, out, out_cap, out_len);
    if (rc == WSP_OK && !out) rc = WSP_ERR_BUFFER_TOO_SMALL; /* not a measurement */
    if (rc != WSP_OK) {
        *out_len = 0;
        return rc;
    }
    c->rs = RS_CLOSED;
    return WSP_OK;
}

int wsp_conn_reject(wsp_conn *c, int http_status, uint8_t *out, size_t out_cap,
                    size_t *out_len)
{
    if (!out_len) return WSP_ERR_INVALID_ARG;
    *out_len = 0;
    if (!c || (!out && out_cap)) return WSP_ERR_INVALID_ARG;
    if (c->role != WSP_ROLE_SERVER || c->rs != RS_AWAIT_ANSWER) return WSP_ERR_STATE;
    return reject_with(c, http_status ? http_status : c->u.hs.reject_status, out,
                       out_cap, out_len);
}

int wsp_conn_accept_request(wsp_conn *c, const wsp_request *req,
                            const wsp_accept_options *opts, uint8_t *out,
                            size_t out_cap, size_t *out_len)
{
    if (!out_len) return WSP_ERR_INVALID_ARG;
    *out_len = 0;
    if (!c || !req || (!out && out_cap)) return WSP_ERR_INVALID_ARG;
    if (c->role != WSP_ROLE_SERVER || c->rs != RS_HEAD) return WSP_ERR_STATE;
    wsp_upgrade_info info;
    int valid = wsp_handshake_take_request(&c->u.hs, req, &info);
    if (valid != WSP_OK) {
        int rc = reject_with(c, wsp_status_http_code(valid), out, out_cap, out_len);
        if (rc != WSP_OK) return rc;
        wsp_conn_refused(c, valid);
        return valid;
    }
    /* From here on it is the same as a request that came through recv. */
    c->rs = RS_AWAIT_ANSWER;
    int rc = wsp_conn_accept(c, opts, out, out_cap, out_len);
    if (rc != WSP_OK) c->rs = RS_HEAD;
    return rc;
}

int wsp_conn_enable_deflate(wsp_conn *c, const wsp_deflate_config *cfg,
                            const wsp_deflate_params *agreed)
{
    static const wsp_deflate_config defaults;
    if (!c || !agreed) return WSP_ERR_INVALID_ARG;
    if (!wsp_deflate_available()) return WSP_ERR_UNSUPPORTED;
    if (!c->allocator) return WSP_ERR_INVALID_ARG;
    if (!wsp_conn_in_frames(c) || c->ss != SS_IDLE || c->deflate || c->u.open.msg_opcode)
        return WSP_ERR_STATE;
    return wsp_deflate_create(c->allocator, cfg ? cfg : &defaults, agreed, c->role,
                              &c->deflate);
}

int wsp_conn_client_request(wsp_conn *c, const wsp_client_options *opts,
                            uint8_t *out, size_t out_cap, size_t *out_len)
{
    if (!out_len) return WSP_ERR_INVALID_ARG;
    *out_len = 0;
    if (!c || !opts || !opts->host || (!out && out_cap)) return WSP_ERR_INVALID_ARG;
    if (c->role != WSP_ROLE_CLIENT || c->rs != RS_UNSENT) return WSP_ERR_STATE;
    if (!out) return WSP_ERR_BUFFER_TOO_SMALL;
    /* RFC 6455 4.1: a fresh random nonce per connection. */
    uint8_t nonce[16];
    int bad = c->own_keys
                  ? wsp_entropy_system(nonce, sizeof nonce, NULL)
                  : c->masking.source.fn(nonce, sizeof nonce, c->masking.source.user);
    if (bad) return WSP_ERR_ENTROPY;
    int rc = wsp_handshake_write_request(&c->u.hs, opts, nonce, out, out_cap, out_len);
    if (rc != WSP_OK) return rc;
    c->rs = RS_HEAD;
    return WSP_OK;
}
