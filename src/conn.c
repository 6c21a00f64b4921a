/* The connection state machine: handshake, framing rules, fragmentation,
 * UTF-8, the closing handshake and the few bytes the connection answers on
 * its own. Received payload is unmasked in place and handed out as views
 * into the caller's buffer; nothing here allocates. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Bits of wsp_conn.flags. */
#define F_CLOSE_SENT (1u << 0) /* our close frame was written or queued */
#define F_CLOSE_RECEIVED (1u << 1) /* the peer's close frame arrived */
#define F_AUTO_PONG (1u << 2)
#define F_REQUEST_PENDING (1u << 3) /* server: request seen, not answered */
#define F_REQUEST_VALID (1u << 4)
#define F_REQUEST_SENT (1u << 5) /* client: upgrade request written */
#define F_IN_FRAME (1u << 6) /* inside a data frame's payload */
#define F_FRAME_FIN (1u << 7)
#define F_FRAME_MASKED (1u << 8)
#define F_FIRST_PENDING (1u << 9) /* next data piece starts a message */
#define F_PONG_PENDING (1u << 10)
#define F_CLOSE_PENDING (1u << 11) /* close frame queued for wsp_conn_flush */
#define F_CLOSE_PENDING_CODE (1u << 12) /* ...and it carries a code */
#define F_OWNED (1u << 13) /* allocated by wsp_conn_new */
#define F_COMPRESSED (1u << 14) /* the message being received is compressed */
#define F_SEND_COMPRESSED (1u << 15) /* the message being sent is compressed */
#define F_DEFLATE_AGREED (1u << 16) /* server: an offer is acceptable */

struct wsp_conn {
    uint64_t max_frame;
    uint64_t max_message;
    uint64_t offset;          /* stream bytes consumed since init */
    uint64_t frame_remaining; /* payload bytes left in the current frame */
    uint64_t message_len;
    uint64_t error_offset;
    uint64_t msg_offset;      /* where the message being received began */
    const wsp_allocator *allocator;
    wsp_deflate *deflate; /* NULL unless permessage-deflate is in use */
    wsp_entropy_fn entropy;
    void *entropy_user;
    uint32_t max_fragments;
    uint32_t fragments;
    uint32_t send_fragment_size;
    uint32_t utf8_state;
    int error;
    uint32_t flags;
    uint16_t error_code; /* close code actually queued for a failure */
    uint16_t pending_close_code;
    uint16_t http_status; /* pending HTTP error, or the rejection status */
    uint8_t role;
    uint8_t state;
    uint8_t mask_key[4];
    uint8_t mask_pos;
    uint8_t msg_opcode;  /* opcode of the message being received, 0: none */
    uint8_t send_opcode; /* opcode of the message being sent, 0: none */
    uint8_t pong_len;
    /* The handshake and the open connection never need these at once. */
    union {
        uint8_t pong[WSP_MAX_CONTROL_PAYLOAD];
        struct {
            const wsp_origin_policy *origin_policy;
            const wsp_client_options *client_opts;
            const wsp_deflate_config *deflate_cfg;
            wsp_deflate_params agreed;
            uint32_t max_header_bytes;
            uint32_t max_headers;
            char accept[WSP_ACCEPT_LEN + 1];
        } hs;
    } u;
};

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
    memset(c, 0, sizeof *c);
    c->role = (uint8_t)cfg->role;
    c->u.hs.deflate_cfg = cfg->deflate;
    c->max_frame = cfg->max_frame_payload ? cfg->max_frame_payload : WSP_DEFAULT_MAX_FRAME;
    c->max_message = cfg->max_message ? cfg->max_message : WSP_DEFAULT_MAX_MESSAGE;
    c->u.hs.max_header_bytes = cfg->max_header_bytes ? cfg->max_header_bytes
                                                     : WSP_DEFAULT_MAX_HEADER_BYTES;
    c->u.hs.max_headers = cfg->max_headers ? cfg->max_headers : WSP_DEFAULT_MAX_HEADERS;
    c->max_fragments = cfg->max_fragments ? cfg->max_fragments : WSP_DEFAULT_MAX_FRAGMENTS;
    c->send_fragment_size = cfg->send_fragment_size;
    c->u.hs.origin_policy = cfg->origin_policy;
    c->allocator = cfg->allocator ? cfg->allocator : DEFAULT_ALLOCATOR;
    if (cfg->deflate && !c->allocator) return WSP_ERR_INVALID_ARG;
    c->entropy = cfg->entropy ? cfg->entropy : wsp_entropy_system;
    c->entropy_user = cfg->entropy_user;
    c->flags = cfg->no_auto_pong ? 0 : F_AUTO_PONG;
    c->state = cfg->start_open ? WSP_STATE_OPEN : WSP_STATE_HANDSHAKE;
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
    c->flags |= F_OWNED;
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
    if (!(c->flags & F_OWNED)) return;
    const wsp_allocator *a = c->allocator;
    a->free_fn(c, sizeof *c, a->user);
}

wsp_state wsp_conn_state(const wsp_conn *c)
{
    return c ? (wsp_state)c->state : WSP_STATE_CLOSED;
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

static void queue_close(wsp_conn *c, uint16_t code)
{
    c->flags |= F_CLOSE_SENT | F_CLOSE_PENDING;
    if (code) {
        c->flags |= F_CLOSE_PENDING_CODE;
        c->pending_close_code = code;
    }
}

static void set_closed_if_done(wsp_conn *c)
{
    if ((c->flags & (F_CLOSE_SENT | F_CLOSE_RECEIVED)) ==
        (F_CLOSE_SENT | F_CLOSE_RECEIVED))
        c->state = WSP_STATE_CLOSED;
    else
        c->state = WSP_STATE_CLOSING;
}

/* RFC 6455 7.1.7 "Fail the WebSocket Connection": queue a close with the
 * status's code (when frames can still be sent) and stop processing. */
static int fail(wsp_conn *c, int status, uint64_t offset, wsp_event *ev)
{
    c->error = status;
    c->error_offset = offset;
    /* RFC 6455 7.4.1: 1011 when we, not the peer, could not go on. */
    uint16_t code = status == WSP_ERR_NOMEM ? 1011 : wsp_status_close_code(status);
    c->flags &= (uint32_t)~F_PONG_PENDING;
    if (c->state != WSP_STATE_HANDSHAKE && !(c->flags & F_CLOSE_SENT) && code)
        queue_close(c, code);
    else
        code = 0;
    c->error_code = code;
    c->state = WSP_STATE_CLOSED;
    ev->type = WSP_EV_FAILURE;
    ev->status = status;
    ev->close_code = code;
    ev->reason = wsp_status_reason(status);
    ev->offset = offset;
    return status;
}

static int handshake_server(wsp_conn *c, uint8_t *data, size_t len,
                            size_t *consumed, wsp_event *ev)
{
    if (c->flags & F_REQUEST_PENDING) return WSP_ERR_STATE;
    int rc = wsp_http_parse_request((const char *)data, len, c->u.hs.max_header_bytes,
                                    c->u.hs.max_headers, &ev->request, consumed);
    if (rc == WSP_ERR_NEED_MORE) {
        *consumed = 0;
        return WSP_OK;
    }
    if (rc != WSP_OK) {
        /* An unparseable head still deserves an HTTP answer. */
        c->http_status = (uint16_t)wsp_status_http_code(rc);
        *consumed = len;
        return fail(c, rc, c->offset, ev);
    }
    int valid = wsp_upgrade_validate(&ev->request, c->u.hs.origin_policy, &ev->upgrade);
    ev->type = WSP_EV_REQUEST;
    ev->status = valid;
    ev->http_status = valid == WSP_OK ? 101 : wsp_status_http_code(valid);
    c->http_status = (uint16_t)(valid == WSP_OK ? 400 : ev->http_status);
    c->flags |= F_REQUEST_PENDING;
    if (valid == WSP_OK) {
        c->flags |= F_REQUEST_VALID;
        memcpy(c->u.hs.accept, ev->upgrade.accept, sizeof c->u.hs.accept);
        if (c->u.hs.deflate_cfg &&
            wsp_deflate_choose(&ev->request.headers, c->u.hs.deflate_cfg,
                               &c->u.hs.agreed))
            c->flags |= F_DEFLATE_AGREED;
    }
    return WSP_OK;
}

static int handshake_client(wsp_conn *c, uint8_t *data, size_t len,
                            size_t *consumed, wsp_event *ev)
{
    if (!(c->flags & F_REQUEST_SENT)) return WSP_ERR_STATE;
    int rc = wsp_http_parse_response((const char *)data, len, c->u.hs.max_header_bytes,
                                     c->u.hs.max_headers, &ev->response, consumed);
    if (rc == WSP_ERR_NEED_MORE) {
        *consumed = 0;
        return WSP_OK;
    }
    if (rc != WSP_OK) {
        *consumed = len;
        return fail(c, rc, c->offset, ev);
    }
    const wsp_deflate_config *dcfg = c->u.hs.deflate_cfg;
    int valid = wsp_handshake_check_response(
        &ev->response, c->u.hs.accept, c->u.hs.client_opts, dcfg != NULL,
        &ev->subprotocol, &ev->subprotocol_len, &ev->extensions,
        &ev->extensions_len);
    int found = 0;
    wsp_deflate_params agreed;
    if (valid == WSP_OK && dcfg)
        valid = wsp_deflate_check_response(&ev->response.headers, dcfg, &agreed, &found);
    if (valid == WSP_OK && found)
        valid = wsp_deflate_create(c->allocator, dcfg, &agreed, WSP_ROLE_CLIENT,
                                   &c->deflate);
    ev->type = WSP_EV_RESPONSE;
    ev->status = valid;
    ev->http_status = ev->response.status;
    c->u.hs.client_opts = NULL;
    if (valid != WSP_OK) {
        c->error = valid;
        c->error_offset = c->offset;
        c->state = WSP_STATE_CLOSED;
        return WSP_OK;
    }
    memset(&c->u, 0, sizeof c->u);
    c->state = WSP_STATE_OPEN;
    return WSP_OK;
}

static int opcode_is_control(unsigned op) { return (op & 0x8) != 0; }

/* Handles a complete control frame whose payload is at p (already
 * unmasked). Returns the event's status. */
static int control_frame(wsp_conn *c, unsigned opcode, uint8_t *p, size_t n,
                         uint64_t offset, wsp_event *ev)
{
    ev->data = p;
    ev->len = n;
    ev->opcode = (wsp_opcode)opcode;
    if (opcode == WSP_OP_PING) {
        ev->type = WSP_EV_PING;
        /* RFC 6455 5.5.3: answering only the latest ping is allowed, which
         * keeps pending output bounded whatever the peer sends. */
        if ((c->flags & F_AUTO_PONG) && !(c->flags & F_CLOSE_SENT)) {
            if (n) memcpy(c->u.pong, p, n);
            c->pong_len = (uint8_t)n;
            c->flags |= F_PONG_PENDING;
        }
        return WSP_OK;
    }
    if (opcode == WSP_OP_PONG) {
        ev->type = WSP_EV_PONG;
        return WSP_OK;
    }
    /* Close: RFC 6455 5.5.1 and 7.4. */
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
    c->flags |= F_CLOSE_RECEIVED;
    if (!(c->flags & F_CLOSE_SENT)) {
        /* Echo the code (RFC 6455 5.5.1); a pending pong goes first. */
        queue_close(c, n >= 2 ? code : 0);
    }
    set_closed_if_done(c);
    ev->type = WSP_EV_CLOSE;
    ev->close_code = code;
    ev->data = n >= 2 ? p + 2 : p;
    ev->len = n >= 2 ? n - 2 : 0;
    return WSP_OK;
}

/* Validates a frame header against the role and message state, and starts
 * the frame. Returns WSP_OK or the protocol error. */
static int check_header(wsp_conn *c, const wsp_frame_header *h)
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
    if (opcode_is_control(op)) {
        if (!h->fin) return WSP_ERR_PROTO_CONTROL_FRAGMENTED;
        if (h->payload_len > WSP_MAX_CONTROL_PAYLOAD)
            return WSP_ERR_PROTO_CONTROL_TOO_LONG;
        return WSP_OK;
    }
    if (op == WSP_OP_CONTINUATION) {
        if (!c->msg_opcode) return WSP_ERR_PROTO_CONTINUATION;
        if (c->fragments >= c->max_fragments) return WSP_ERR_PROTO_TOO_MANY_FRAGMENTS;
    } else if (c->msg_opcode) {
        return WSP_ERR_PROTO_EXPECTED_CONTINUATION;
    }
    if (h->payload_len > c->max_frame) return WSP_ERR_PROTO_TOO_BIG;
    /* A compressed message is held to the limit by its inflated size, as it
     * is inflated. */
    int compressed = op == WSP_OP_CONTINUATION ? (c->flags & F_COMPRESSED) != 0
                                                : (h->rsv & 4u) != 0;
    uint64_t so_far = op == WSP_OP_CONTINUATION ? c->message_len : 0;
    if (!compressed && h->payload_len > c->max_message - so_far)
        return WSP_ERR_PROTO_TOO_BIG;
    return WSP_OK;
}

static void start_data_frame(wsp_conn *c, const wsp_frame_header *h, uint64_t offset)
{
    if (h->opcode != WSP_OP_CONTINUATION) {
        c->msg_offset = offset;
        c->msg_opcode = h->opcode;
        c->message_len = 0;
        c->fragments = 0;
        c->utf8_state = WSP_UTF8_ACCEPT;
        c->flags = (c->flags & ~F_COMPRESSED) | F_FIRST_PENDING |
                   ((h->rsv & 4u) ? F_COMPRESSED : 0);
    }
    c->fragments++;
    if (!(c->flags & F_COMPRESSED)) c->message_len += h->payload_len;
    c->frame_remaining = h->payload_len;
    memcpy(c->mask_key, h->mask_key, 4);
    c->mask_pos = 0;
    c->flags = (c->flags & ~(F_FRAME_FIN | F_FRAME_MASKED)) |
               (h->fin ? F_FRAME_FIN : 0) | (h->masked ? F_FRAME_MASKED : 0) |
               (h->payload_len ? F_IN_FRAME : 0);
}

/* Hands out `n` bytes of message content at p (unmasked payload, or
 * inflated output): validates text (unless the caller did), fills the
 * event, ends the message. */
static int deliver(wsp_conn *c, uint8_t *p, size_t n, int last, uint64_t offset,
                   wsp_event *ev)
{
    if (c->msg_opcode == WSP_OP_TEXT && !(c->flags & F_COMPRESSED)) {
        size_t bad = 0;
        /* Fail fast (RFC 6455 8.1): at the bad byte, not at message end. */
        if (wsp_utf8_validate(&c->utf8_state, p, n, &bad) != WSP_OK)
            return fail(c, WSP_ERR_PROTO_UTF8, offset + bad, ev);
        if (last && c->utf8_state != WSP_UTF8_ACCEPT)
            return fail(c, WSP_ERR_PROTO_UTF8, offset + n, ev);
    }
    ev->type = WSP_EV_DATA;
    ev->opcode = (wsp_opcode)c->msg_opcode;
    ev->data = p;
    ev->len = n;
    ev->flags = (c->flags & F_FIRST_PENDING ? WSP_DATA_FIRST : 0u) |
                (last ? WSP_DATA_LAST : 0u);
    c->flags &= ~F_FIRST_PENDING;
    if (last) c->msg_opcode = 0;
    return WSP_OK;
}

/* Delivers n payload bytes at p of the current (uncompressed) data frame. */
static int data_piece(wsp_conn *c, uint8_t *p, size_t n, uint64_t offset,
                      wsp_event *ev)
{
    if (c->flags & F_FRAME_MASKED) {
        wsp_mask(p, n, c->mask_key, c->mask_pos);
        c->mask_pos = (uint8_t)((c->mask_pos + n) & 3);
    }
    c->frame_remaining -= n;
    if (c->frame_remaining == 0) c->flags &= ~F_IN_FRAME;
    int last = c->frame_remaining == 0 && (c->flags & F_FRAME_FIN);
    return deliver(c, p, n, last, offset, ev);
}

/* Inflates up to n payload bytes at p of a compressed message. The inflate
 * buffer is bounded, so zlib may take only part of the input: the rest is
 * masked again and left unconsumed, for the caller to present again. */
static int compressed_piece(wsp_conn *c, uint8_t *p, size_t n, size_t *used,
                            wsp_event *ev)
{
    int masked = (c->flags & F_FRAME_MASKED) != 0;
    if (masked) wsp_mask(p, n, c->mask_key, c->mask_pos);
    int end = (c->flags & F_FRAME_FIN) && n == c->frame_remaining;
    uint8_t *out;
    size_t out_len;
    int done;
    int rc = wsp_deflate_inflate(c->deflate, p, n, end, used, &out, &out_len, &done);
    if (masked && *used < n)
        wsp_mask(p + *used, n - *used, c->mask_key, c->mask_pos + *used);
    if (masked) c->mask_pos = (uint8_t)((c->mask_pos + *used) & 3);
    c->frame_remaining -= *used;
    if (c->frame_remaining == 0) c->flags &= ~F_IN_FRAME;
    /* Where zlib notices a problem depends on how the input was split, so
     * failures of a compressed message are reported at its first frame,
     * and the output is checked in order (text, then the size limit, then
     * the compressed data) so the verdict is the same however it arrived.
     * The limit holds for what the peer makes us produce (RFC 7692 8:
     * compression bombs), before any of the output goes anywhere. */
    uint64_t room = c->max_message - c->message_len;
    size_t fits = out_len < room ? out_len : (size_t)room;
    if (c->msg_opcode == WSP_OP_TEXT) {
        if (wsp_utf8_validate(&c->utf8_state, out, fits, NULL) != WSP_OK)
            return fail(c, WSP_ERR_PROTO_UTF8, c->msg_offset, ev);
    }
    if (out_len > room) return fail(c, WSP_ERR_PROTO_TOO_BIG, c->msg_offset, ev);
    if (rc != WSP_OK) return fail(c, rc, c->msg_offset, ev);
    if (done && c->msg_opcode == WSP_OP_TEXT && c->utf8_state != WSP_UTF8_ACCEPT)
        return fail(c, WSP_ERR_PROTO_UTF8, c->msg_offset, ev);
    c->message_len += out_len;
    if (!out_len && !done) return WSP_OK;
    int rc2 = deliver(c, out, out_len, done, c->msg_offset, ev);
    if (done) c->flags &= ~F_COMPRESSED;
    return rc2;
}

/* A compressed frame whose payload is all in may still have output inside
 * zlib: the rest of the message when it was the last frame, or what the
 * frame's own bytes inflate to when the buffer filled. It comes out before
 * the next header is parsed, so events and failures keep stream order
 * however the input was split. */
static int inflate_pending(const wsp_conn *c)
{
    if ((c->flags & (F_COMPRESSED | F_IN_FRAME)) != F_COMPRESSED || !c->msg_opcode)
        return 0;
    return (c->flags & F_FRAME_FIN) || wsp_deflate_output_pending(c->deflate);
}

/* The most common frame seen whole: an unfragmented text or binary
 * message of at most 125 bytes, masked as the role requires, all of it in
 * the buffer. Anything else (or any doubt) returns 0 and takes the general
 * path, which applies every rule. Returns the frame size when handled. */
static size_t small_frame(wsp_conn *c, uint8_t *p, size_t avail, uint64_t offset,
                          wsp_event *ev, int *rc)
{
    if (avail < 2 || (p[0] != 0x81 && p[0] != 0x82) || c->msg_opcode) return 0;
    size_t n = p[1] & 0x7Fu;
    unsigned masked = p[1] >> 7;
    size_t hl = masked ? 6 : 2;
    if (n > 125 || masked != (c->role == WSP_ROLE_SERVER) || avail - 2 < hl - 2 + n ||
        n > c->max_frame || n > c->max_message)
        return 0;
    uint8_t *payload = p + hl;
    if (masked) wsp_mask(payload, n, p + 2, 0);
    c->msg_opcode = p[0] & 0x0Fu;
    c->utf8_state = WSP_UTF8_ACCEPT;
    c->flags |= F_FIRST_PENDING;
    *rc = deliver(c, payload, n, 1, offset + hl, ev);
    return hl + n;
}

static int frames(wsp_conn *c, uint8_t *data, size_t len, size_t *consumed,
                  wsp_event *ev)
{
    if (!(c->flags & F_IN_FRAME) && !inflate_pending(c)) {
        int rc = WSP_OK;
        size_t n = small_frame(c, data, len, c->offset, ev, &rc);
        if (n) {
            *consumed = rc == WSP_OK ? n : len;
            return rc;
        }
    }
    size_t off = 0;
    int rc = WSP_OK;
    while (ev->type == WSP_EV_NONE) {
        uint8_t *p = data + off;
        size_t avail = len - off;
        if ((c->flags & F_IN_FRAME) || inflate_pending(c)) {
            size_t n = c->frame_remaining < avail ? (size_t)c->frame_remaining : avail;
            if (c->flags & F_COMPRESSED) {
                size_t used = 0;
                rc = compressed_piece(c, p, n, &used, ev);
                off += used;
                if (rc != WSP_OK) off = len;
                /* Nothing taken and nothing out: wait for input, unless the
                 * frame is over and zlib empty, when its successor is next. */
                if (rc != WSP_OK ||
                    (!used && ev->type == WSP_EV_NONE &&
                     ((c->flags & F_IN_FRAME) || inflate_pending(c))))
                    break;
                continue;
            }
            if (!n) break;
            rc = data_piece(c, p, n, c->offset + off, ev);
            off += n;
            break;
        }
        if (!avail) break;
        wsp_frame_header h;
        rc = wsp_frame_parse_header(p, avail, &h);
        if (rc == WSP_ERR_NEED_MORE) {
            rc = WSP_OK;
            break;
        }
        if (rc == WSP_OK) rc = check_header(c, &h);
        if (rc != WSP_OK) {
            rc = fail(c, rc, c->offset + off, ev);
            off = len;
            break;
        }
        if (opcode_is_control(h.opcode)) {
            /* Control frames are small and acted on whole: keep them back
             * until all of it is here. */
            size_t n = (size_t)h.payload_len;
            if (avail - h.header_len < n) break;
            uint8_t *payload = p + h.header_len;
            if (h.masked) wsp_mask(payload, n, h.mask_key, 0);
            off += h.header_len + n;
            rc = control_frame(c, h.opcode, payload, n, c->offset + off - n, ev);
            if (rc != WSP_OK) off = len;
            break;
        }
        off += h.header_len;
        start_data_frame(c, &h, c->offset + off - h.header_len);
        /* An empty frame still has to mark a message's start or end. */
        if (h.payload_len == 0 && !(c->flags & F_COMPRESSED) &&
            (h.fin || (c->flags & F_FIRST_PENDING))) {
            rc = data_piece(c, p + h.header_len, 0, c->offset + off, ev);
            if (rc != WSP_OK) off = len;
            break;
        }
    }
    *consumed = off;
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
    switch (c->state) {
    case WSP_STATE_HANDSHAKE:
        rc = c->role == WSP_ROLE_SERVER ? handshake_server(c, data, len, consumed, ev)
                                        : handshake_client(c, data, len, consumed, ev);
        break;
    case WSP_STATE_CLOSED:
        /* RFC 6455 5.5.1: nothing after a close frame is meaningful. */
        *consumed = len;
        return WSP_ERR_CLOSED;
    default:
        rc = frames(c, data, len, consumed, ev);
        break;
    }
    c->offset += *consumed;
    return rc;
}

typedef struct accept_ctx {
    const wsp_accept_options *opts;
    const wsp_deflate_params *deflate; /* NULL: not accepted */
} accept_ctx;

/* The extensions header: our permessage-deflate answer, then whatever the
 * application accepts itself. */
static int write_extensions(wsp_writer *w, const void *ctx)
{
    const accept_ctx *a = ctx;
    const char *app = a->opts ? a->opts->extensions : NULL;
    if (a->deflate) wsp_deflate_write_params(w, a->deflate);
    if (a->deflate && app && app[0]) wsp_write(w, ", ", 2);
    if (app) wsp_write_str(w, app);
    wsp_write(w, "", 1);
    return WSP_OK;
}

int wsp_conn_accept(wsp_conn *c, const wsp_accept_options *opts, uint8_t *out,
                    size_t out_cap, size_t *out_len)
{
    if (!c || !out_len) return WSP_ERR_INVALID_ARG;
    if (c->role != WSP_ROLE_SERVER || c->state != WSP_STATE_HANDSHAKE ||
        (c->flags & (F_REQUEST_PENDING | F_REQUEST_VALID)) !=
            (F_REQUEST_PENDING | F_REQUEST_VALID))
        return WSP_ERR_STATE;
    int use_deflate = (c->flags & F_DEFLATE_AGREED) && !(opts && opts->no_deflate);
    accept_ctx ctx = {opts, use_deflate ? &c->u.hs.agreed : NULL};
    wsp_accept_options merged;
    char ext[512];
    if (use_deflate) {
        size_t n = 0;
        int rc = wsp_build(write_extensions, &ctx, (uint8_t *)ext, sizeof ext, &n);
        if (rc != WSP_OK) return rc == WSP_ERR_BUFFER_TOO_SMALL ? WSP_ERR_INVALID_ARG : rc;
        if (opts) merged = *opts;
        else memset(&merged, 0, sizeof merged);
        merged.extensions = ext;
        opts = &merged;
    }
    if (use_deflate) {
        int rc = wsp_deflate_create(c->allocator, c->u.hs.deflate_cfg,
                                    &c->u.hs.agreed, WSP_ROLE_SERVER, &c->deflate);
        if (rc != WSP_OK) return rc;
    }
    int rc = wsp_upgrade_build_response(c->u.hs.accept, opts, out, out_cap, out_len);
    if (rc != WSP_OK) {
        wsp_deflate_destroy(c->deflate);
        c->deflate = NULL;
        return rc;
    }
    c->flags &= ~(F_REQUEST_PENDING | F_REQUEST_VALID | F_DEFLATE_AGREED);
    c->http_status = 0;
    memset(&c->u, 0, sizeof c->u);
    c->state = WSP_STATE_OPEN;
    return WSP_OK;
}

static int reject_with(wsp_conn *c, int http_status, uint8_t *out,
                       size_t out_cap, size_t *out_len)
{
    int rc = wsp_http_build_error(http_status, out, out_cap, out_len);
    if (rc != WSP_OK) return rc;
    c->flags &= (uint32_t)~(F_REQUEST_PENDING | F_REQUEST_VALID);
    c->http_status = 0;
    c->state = WSP_STATE_CLOSED;
    return WSP_OK;
}

int wsp_conn_reject(wsp_conn *c, int http_status, uint8_t *out, size_t out_cap,
                    size_t *out_len)
{
    if (!c || !out_len) return WSP_ERR_INVALID_ARG;
    if (c->role != WSP_ROLE_SERVER || c->state != WSP_STATE_HANDSHAKE ||
        !(c->flags & F_REQUEST_PENDING))
        return WSP_ERR_STATE;
    return reject_with(c, http_status ? http_status : c->http_status, out,
                       out_cap, out_len);
}

int wsp_conn_accept_request(wsp_conn *c, const wsp_request *req,
                            const wsp_accept_options *opts, uint8_t *out,
                            size_t out_cap, size_t *out_len)
{
    if (!c || !req || !out_len) return WSP_ERR_INVALID_ARG;
    if (c->role != WSP_ROLE_SERVER || c->state != WSP_STATE_HANDSHAKE ||
        (c->flags & F_REQUEST_PENDING))
        return WSP_ERR_STATE;
    wsp_upgrade_info info;
    int valid = wsp_upgrade_validate(req, c->u.hs.origin_policy, &info);
    if (valid != WSP_OK) {
        int rc = reject_with(c, wsp_status_http_code(valid), out, out_cap, out_len);
        return rc == WSP_OK ? valid : rc;
    }
    /* From here on it is the same as a request that came through recv. */
    memcpy(c->u.hs.accept, info.accept, sizeof c->u.hs.accept);
    c->flags |= F_REQUEST_PENDING | F_REQUEST_VALID;
    if (c->u.hs.deflate_cfg &&
        wsp_deflate_choose(&req->headers, c->u.hs.deflate_cfg, &c->u.hs.agreed))
        c->flags |= F_DEFLATE_AGREED;
    int rc = wsp_conn_accept(c, opts, out, out_cap, out_len);
    if (rc != WSP_OK) c->flags &= ~(F_REQUEST_PENDING | F_REQUEST_VALID | F_DEFLATE_AGREED);
    return rc;
}

int wsp_conn_enable_deflate(wsp_conn *c, const wsp_deflate_config *cfg,
                            const wsp_deflate_params *agreed)
{
    static const wsp_deflate_config defaults;
    if (!c || !agreed) return WSP_ERR_INVALID_ARG;
    if (!wsp_deflate_available()) return WSP_ERR_UNSUPPORTED;
    if (!c->allocator) return WSP_ERR_INVALID_ARG;
    if (c->state != WSP_STATE_OPEN || c->deflate || c->msg_opcode || c->send_opcode)
        return WSP_ERR_STATE;
    return wsp_deflate_create(c->allocator, cfg ? cfg : &defaults, agreed, c->role,
                              &c->deflate);
}

typedef struct offer_ctx {
    const wsp_deflate_config *cfg;
    const char *app;
} offer_ctx;

static int write_offer(wsp_writer *w, const void *ctx)
{
    const offer_ctx *o = ctx;
    wsp_deflate_write_offer(w, o->cfg);
    if (o->app && o->app[0]) {
        wsp_write(w, ", ", 2);
        wsp_write_str(w, o->app);
    }
    wsp_write(w, "", 1);
    return WSP_OK;
}

int wsp_conn_client_request(wsp_conn *c, const wsp_client_options *opts,
                            uint8_t *out, size_t out_cap, size_t *out_len)
{
    if (!c || !opts || !out_len) return WSP_ERR_INVALID_ARG;
    if (c->role != WSP_ROLE_CLIENT || c->state != WSP_STATE_HANDSHAKE ||
        (c->flags & F_REQUEST_SENT))
        return WSP_ERR_STATE;
    uint8_t nonce[16];
    char key[WSP_BASE64_LEN(16) + 1];
    /* RFC 6455 4.1: a fresh random nonce per connection. */
    if (c->entropy(nonce, sizeof nonce, c->entropy_user) != 0) return WSP_ERR_ENTROPY;
    wsp_base64_encode(nonce, sizeof nonce, key);
    key[sizeof key - 1] = '\0';
    wsp_client_options merged = *opts;
    char ext[512];
    if (c->u.hs.deflate_cfg) {
        offer_ctx ctx = {c->u.hs.deflate_cfg, opts->extensions};
        size_t n = 0;
        int rc = wsp_build(write_offer, &ctx, (uint8_t *)ext, sizeof ext, &n);
        if (rc != WSP_OK) return rc == WSP_ERR_BUFFER_TOO_SMALL ? WSP_ERR_INVALID_ARG : rc;
        merged.extensions = ext;
    }
    int rc = wsp_handshake_build_request(&merged, key, out, out_cap, out_len);
    if (rc != WSP_OK) return rc;
    wsp_accept_key(key, sizeof key - 1, c->u.hs.accept);
    c->u.hs.client_opts = opts;
    c->flags |= F_REQUEST_SENT;
    return WSP_OK;
}

static size_t header_size(const wsp_conn *c, uint64_t payload_len)
{
    size_t n = payload_len < 126 ? 2 : payload_len <= 0xFFFF ? 4 : 10;
    return n + (c->role == WSP_ROLE_CLIENT ? 4u : 0u);
}

/* Writes one frame header (masked for clients) at out; returns its size or
 * 0 when the entropy source failed. */
/* Writes a frame header whose masking key (clients only) is already in
 * key[]; returns its size. */
static size_t encode_header(const wsp_conn *c, unsigned fin, unsigned rsv,
                            unsigned opcode, uint64_t payload_len, uint8_t *out,
                            const uint8_t key[4])
{
    wsp_frame_header h;
    h.fin = (uint8_t)fin;
    h.rsv = (uint8_t)rsv;
    h.opcode = (uint8_t)opcode;
    h.masked = c->role == WSP_ROLE_CLIENT;
    h.payload_len = payload_len;
    memcpy(h.mask_key, key, 4);
    size_t n = 0;
    wsp_frame_encode_header(&h, out, WSP_MAX_FRAME_HEADER, &n);
    return n;
}

/* Like encode_header, drawing the key first; returns 0 when the entropy
 * source failed. */
static size_t put_header(const wsp_conn *c, unsigned fin, unsigned rsv,
                         unsigned opcode, uint64_t payload_len, uint8_t *out,
                         uint8_t key[4])
{
    /* RFC 6455 5.3: a fresh unpredictable key for every frame. */
    if (c->role == WSP_ROLE_CLIENT && c->entropy(key, 4, c->entropy_user) != 0)
        return 0;
    return encode_header(c, fin, rsv, opcode, payload_len, out, key);
}

static size_t put_frame(const wsp_conn *c, unsigned fin, unsigned opcode,
                        const uint8_t *payload, size_t len, uint8_t *out)
{
    uint8_t key[4] = {0, 0, 0, 0};
    size_t n = put_header(c, fin, 0, opcode, len, out, key);
    if (!n) return 0;
    if (len) {
        if (c->role == WSP_ROLE_CLIENT)
            wsp_mask_copy(out + n, payload, len, key, 0);
        else
            memcpy(out + n, payload, len);
    }
    return n + len;
}

static int can_send(const wsp_conn *c)
{
    return (c->state == WSP_STATE_OPEN || c->state == WSP_STATE_CLOSING) &&
           !(c->flags & F_CLOSE_SENT) && !c->error;
}

/* Checks opcode and flags; gives the opcode the first frame carries. */
static int send_opcode(const wsp_conn *c, wsp_opcode opcode, size_t len,
                       unsigned flags, unsigned *wire_opcode)
{
    if (flags & ~(WSP_SEND_MORE | WSP_SEND_NO_COMPRESS)) return WSP_ERR_INVALID_ARG;
    /* Keeps header + payload + compression overhead from wrapping size_t. */
    if (len > SIZE_MAX / 4) return WSP_ERR_INVALID_ARG;
    if (opcode == WSP_OP_PING || opcode == WSP_OP_PONG) {
        if (len > WSP_MAX_CONTROL_PAYLOAD || (flags & WSP_SEND_MORE))
            return WSP_ERR_INVALID_ARG;
        *wire_opcode = opcode;
        return WSP_OK;
    }
    if (opcode != WSP_OP_TEXT && opcode != WSP_OP_BINARY) return WSP_ERR_INVALID_ARG;
    if (c->send_opcode && c->send_opcode != opcode) return WSP_ERR_INVALID_ARG;
    *wire_opcode = c->send_opcode ? WSP_OP_CONTINUATION : (unsigned)opcode;
    return WSP_OK;
}

static size_t plain_bound(const wsp_conn *c, size_t len)
{
    size_t frag = c->send_fragment_size;
    if (!frag || len <= frag) return header_size(c, len) + len;
    size_t full = len / frag, rest = len % frag;
    return full * header_size(c, frag) + (rest ? header_size(c, rest) : 0) + len;
}

size_t wsp_conn_send_bound(const wsp_conn *c, size_t len)
{
    if (!c) return 0;
    size_t n = plain_bound(c, len);
    if (c->deflate) {
        size_t z = wsp_deflate_compress_bound(len);
        z += header_size(c, z);
        if (z > n) n = z;
    }
    return n;
}

/* One compressed frame per call (RFC 7692 7.2.1): compressed after a header
 * sized for the worst case, which moves down if the output came out
 * shorter. */
static int send_compressed(wsp_conn *c, unsigned wire, const uint8_t *payload,
                           size_t len, unsigned flags, uint8_t *out,
                           size_t out_cap, size_t *out_len)
{
    size_t bound = wsp_deflate_compress_bound(len);
    size_t reserved = header_size(c, bound);
    *out_len = reserved + bound;
    if (out_cap < *out_len) return WSP_ERR_BUFFER_TOO_SMALL;
    int final = !(flags & WSP_SEND_MORE);
    /* The key is drawn before compressing: once the compressor has taken
     * the data, failing would leave the peer's inflater out of step. */
    uint8_t key[4] = {0, 0, 0, 0};
    if (c->role == WSP_ROLE_CLIENT && c->entropy(key, 4, c->entropy_user) != 0)
        return WSP_ERR_ENTROPY;
    size_t n = 0;
    int rc = wsp_deflate_compress(c->deflate, payload, len, final, out + reserved,
                                  out_cap - reserved, &n);
    if (rc != WSP_OK) return rc;
    size_t hlen = header_size(c, n);
    if (hlen < reserved) memmove(out + hlen, out + reserved, n);
    /* RSV1 goes on the first frame of the message only. */
    unsigned rsv = wire == WSP_OP_CONTINUATION ? 0u : 4u;
    encode_header(c, (unsigned)final, rsv, wire, n, out, key);
    if (c->role == WSP_ROLE_CLIENT) wsp_mask(out + hlen, n, key, 0);
    *out_len = hlen + n;
    return WSP_OK;
}

int wsp_conn_send(wsp_conn *c, wsp_opcode opcode, const uint8_t *payload,
                  size_t len, unsigned flags, uint8_t *out, size_t out_cap,
                  size_t *out_len)
{
    if (!c || !out_len || (!payload && len) || (!out && out_cap))
        return WSP_ERR_INVALID_ARG;
    unsigned wire;
    int rc = send_opcode(c, opcode, len, flags, &wire);
    if (rc != WSP_OK) return rc;
    if (!can_send(c)) return WSP_ERR_STATE;
    int control = opcode_is_control(wire);
    if (!control && c->deflate &&
        (c->send_opcode ? (c->flags & F_SEND_COMPRESSED) != 0
                        : !(flags & WSP_SEND_NO_COMPRESS) &&
                              wsp_deflate_can_compress(c->deflate, len))) {
        rc = send_compressed(c, wire, payload, len, flags, out, out_cap, out_len);
        if (rc != WSP_OK) return rc;
        c->send_opcode = (flags & WSP_SEND_MORE) ? (uint8_t)opcode : 0;
        c->flags = (flags & WSP_SEND_MORE) ? c->flags | F_SEND_COMPRESSED
                                           : c->flags & ~F_SEND_COMPRESSED;
        return WSP_OK;
    }
    size_t need = control ? header_size(c, len) + len : plain_bound(c, len);
    *out_len = need;
    if (out_cap < need) return WSP_ERR_BUFFER_TOO_SMALL;

    size_t frag = control || !c->send_fragment_size ? len : c->send_fragment_size;
    size_t off = 0, w = 0;
    do {
        size_t n = len - off < frag ? len - off : frag;
        unsigned fin = off + n == len && !(flags & WSP_SEND_MORE);
        /* No arithmetic on a NULL payload (an empty message). */
        const uint8_t *piece = n ? payload + off : payload;
        size_t k = put_frame(c, fin, wire, piece, n, out + w);
        if (!k) {
            *out_len = 0; /* the frames before it must not be sent alone */
            return WSP_ERR_ENTROPY;
        }
        w += k;
        off += n;
        wire = WSP_OP_CONTINUATION;
    } while (off < len);
    if (!control) c->send_opcode = (flags & WSP_SEND_MORE) ? (uint8_t)opcode : 0;
    return WSP_OK;
}

int wsp_conn_send_zerocopy(wsp_conn *c, wsp_opcode opcode, uint8_t *payload,
                           size_t len, unsigned flags,
                           uint8_t hdr[WSP_MAX_FRAME_HEADER], size_t *hdr_len)
{
    if (!c || !hdr || !hdr_len || (!payload && len)) return WSP_ERR_INVALID_ARG;
    unsigned wire;
    int rc = send_opcode(c, opcode, len, flags, &wire);
    if (rc != WSP_OK) return rc;
    if (!can_send(c)) return WSP_ERR_STATE;
    if (c->send_opcode && (c->flags & F_SEND_COMPRESSED)) return WSP_ERR_INVALID_ARG;
    uint8_t key[4] = {0, 0, 0, 0};
    size_t n = put_header(c, !(flags & WSP_SEND_MORE), 0, wire, len, hdr, key);
    if (!n) return WSP_ERR_ENTROPY;
    if (c->role == WSP_ROLE_CLIENT) wsp_mask(payload, len, key, 0);
    *hdr_len = n;
    if (!opcode_is_control(wire))
        c->send_opcode = (flags & WSP_SEND_MORE) ? (uint8_t)opcode : 0;
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

int wsp_conn_close(wsp_conn *c, uint16_t code, const char *reason,
                   size_t reason_len, uint8_t *out, size_t out_cap,
                   size_t *out_len)
{
    if (!c || !out_len || (!reason && reason_len) || (!out && out_cap))
        return WSP_ERR_INVALID_ARG;
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
    size_t need = header_size(c, n) + n;
    *out_len = need;
    if (out_cap < need) return WSP_ERR_BUFFER_TOO_SMALL;
    if (!put_frame(c, 1, WSP_OP_CLOSE, payload, n, out)) return WSP_ERR_ENTROPY;
    /* A pong queued earlier would otherwise follow our close. */
    c->flags = (uint32_t)((c->flags & ~F_PONG_PENDING) | F_CLOSE_SENT);
    set_closed_if_done(c);
    return WSP_OK;
}

static size_t pending_close_len(const wsp_conn *c)
{
    size_t n = 0;
    if (c->flags & F_CLOSE_PENDING_CODE) {
        n = 2;
        if (c->error) n += strlen(wsp_status_reason(c->error));
        if (n > WSP_MAX_CONTROL_PAYLOAD) n = WSP_MAX_CONTROL_PAYLOAD;
    }
    return n;
}

size_t wsp_conn_pending_size(const wsp_conn *c)
{
    if (!c) return 0;
    size_t n = 0;
    if (c->flags & F_PONG_PENDING) n += header_size(c, c->pong_len) + c->pong_len;
    if (c->flags & F_CLOSE_PENDING) {
        size_t p = pending_close_len(c);
        n += header_size(c, p) + p;
    }
    if (c->http_status && c->state == WSP_STATE_CLOSED) {
        size_t h = 0;
        wsp_http_build_error(c->http_status, NULL, 0, &h);
        n += h;
    }
    return n;
}

int wsp_conn_flush(wsp_conn *c, uint8_t *out, size_t out_cap, size_t *out_len)
{
    if (!c || !out_len || (!out && out_cap)) return WSP_ERR_INVALID_ARG;
    size_t need = wsp_conn_pending_size(c);
    *out_len = need;
    if (out_cap < need) return WSP_ERR_BUFFER_TOO_SMALL;
    size_t w = 0;
    if (c->http_status && c->state == WSP_STATE_CLOSED) {
        size_t h = 0;
        wsp_http_build_error(c->http_status, out, out_cap, &h);
        w += h;
        c->http_status = 0;
    }
    if (c->flags & F_PONG_PENDING) {
        size_t k = put_frame(c, 1, WSP_OP_PONG, c->u.pong, c->pong_len, out + w);
        if (!k) {
            *out_len = w;
            return WSP_ERR_ENTROPY;
        }
        w += k;
        c->flags &= (uint32_t)~F_PONG_PENDING;
    }
    if (c->flags & F_CLOSE_PENDING) {
        uint8_t payload[WSP_MAX_CONTROL_PAYLOAD];
        size_t n = pending_close_len(c);
        const char *reason = c->error ? wsp_status_reason(c->error) : NULL;
        n = close_payload((c->flags & F_CLOSE_PENDING_CODE) ? c->pending_close_code : 0,
                          reason, n >= 2 ? n - 2 : 0, payload);
        size_t k = put_frame(c, 1, WSP_OP_CLOSE, payload, n, out + w);
        if (!k) {
            *out_len = w;
            return WSP_ERR_ENTROPY;
        }
        w += k;
        c->flags &= (uint32_t)~(F_CLOSE_PENDING | F_CLOSE_PENDING_CODE);
    }
    *out_len = w;
    return WSP_OK;
}

int wsp_conn_should_close_transport(const wsp_conn *c)
{
    if (!c || c->state != WSP_STATE_CLOSED || wsp_conn_pending_size(c)) return 0;
    return c->role == WSP_ROLE_SERVER || c->error != WSP_OK;
}
