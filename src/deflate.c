/* permessage-deflate compression state (RFC 7692 7.2) on zlib: inflating
 * received messages into a bounded buffer, compressing sent ones. Built
 * only with WSPROTO_DEFLATE; otherwise every entry point says the feature
 * is absent. */
#include "internal.h"

#include <string.h>

#ifndef WSPROTO_DEFLATE

int wsp_deflate_available(void) { return 0; }

int wsp_deflate_create(const wsp_allocator *a, const wsp_deflate_config *cfg,
                       const wsp_deflate_params *agreed, int role,
                       wsp_deflate **out)
{
    (void)a, (void)cfg, (void)agreed, (void)role;
    *out = NULL;
    return WSP_ERR_UNSUPPORTED;
}

void wsp_deflate_destroy(wsp_deflate *d) { (void)d; }

void wsp_deflate_begin_message(wsp_deflate *d, uint64_t offset, int text,
                               uint64_t max_message)
{
    (void)d, (void)offset, (void)text, (void)max_message;
}

uint64_t wsp_deflate_message_offset(const wsp_deflate *d)
{
    (void)d;
    return 0;
}

int wsp_deflate_recv(wsp_deflate *d, uint8_t *p, size_t n, int end, const uint8_t *key,
                     uint8_t *mask_pos, size_t *used, uint8_t **out, size_t *out_len,
                     int *done)
{
    (void)d, (void)p, (void)n, (void)end, (void)key, (void)mask_pos;
    *used = 0;
    *out = NULL;
    *out_len = 0;
    *done = 0;
    return WSP_ERR_UNSUPPORTED;
}

int wsp_deflate_output_pending(const wsp_deflate *d)
{
    (void)d;
    return 0;
}

int wsp_deflate_can_compress(const wsp_deflate *d, size_t len)
{
    (void)d, (void)len;
    return 0;
}

int wsp_deflate_send_bound(size_t len, int masked, size_t *bound)
{
    (void)len, (void)masked;
    *bound = 0;
    return WSP_ERR_UNSUPPORTED;
}

int wsp_deflate_send(wsp_deflate *d, wsp_opcode opcode, int first, int final,
                     const uint8_t *payload, size_t len, const uint8_t *key,
                     uint8_t *out, size_t out_cap, size_t *out_len)
{
    (void)d, (void)opcode, (void)first, (void)final, (void)payload, (void)len,
        (void)key, (void)out, (void)out_cap;
    *out_len = 0;
    return WSP_ERR_UNSUPPORTED;
}

#else

#include <zlib.h>

struct wsp_deflate {
    z_stream inflater;
    z_stream deflater;
    const wsp_allocator *alloc;
    uint8_t *buf;
    uint32_t buf_size;
    uint32_t min_size;
    int level, mem_level;
    int own_bits, peer_bits;
    uint8_t own_no_context, peer_no_context;
    uint8_t inflater_ready, deflater_ready, deflater_broken;
    uint8_t tail_left;     /* bytes of the RFC 7692 tail still to feed */
    uint8_t tail_started;
    uint8_t stream_ended;  /* the peer used BFINAL: ignore the rest */
    /* The compressed message being received. */
    uint8_t msg_text;
    uint32_t msg_utf8;     /* validator state over the inflated text */
    uint64_t msg_offset;   /* stream offset of its first frame */
    uint64_t msg_len;      /* bytes inflated so far */
    uint64_t msg_max;      /* the connection's max_message */
};

/* RFC 7692 7.2.2: the receiver appends these four octets to each message. */
static const uint8_t deflate_tail[4] = {0x00, 0x00, 0xff, 0xff};

int wsp_deflate_available(void) { return 1; }

/* zlib's free gives no size but our allocator wants one: keep it in front. */
typedef union size_prefix {
    size_t size;
    max_align_t align;
} size_prefix;

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    const wsp_allocator *a = ((wsp_deflate *)opaque)->alloc;
    size_t n = (size_t)items * size;
    if (size && n / size != items) return Z_NULL;
    size_prefix *p = a->malloc_fn(n + sizeof *p, a->user);
    if (!p) return Z_NULL;
    p->size = n + sizeof *p;
    return p + 1;
}

static void z_free(voidpf opaque, voidpf ptr)
{
    const wsp_allocator *a = ((wsp_deflate *)opaque)->alloc;
    size_prefix *p = (size_prefix *)ptr - 1;
    a->free_fn(p, p->size, a->user);
}

int wsp_deflate_create(const wsp_allocator *a, const wsp_deflate_config *cfg,
                       const wsp_deflate_params *agreed, int role,
                       wsp_deflate **out)
{
    *out = NULL;
    wsp_deflate *d = a->malloc_fn(sizeof *d, a->user);
    if (!d) return WSP_ERR_NOMEM;
    memset(d, 0, sizeof *d);
    d->alloc = a;
    d->buf_size = cfg->buffer_size ? cfg->buffer_size : 16384u;
    d->buf = a->malloc_fn(d->buf_size, a->user);
    if (!d->buf) {
        a->free_fn(d, sizeof *d, a->user);
        return WSP_ERR_NOMEM;
    }
    d->min_size = cfg->min_size;
    d->level = cfg->level >= 1 && cfg->level <= 9 ? cfg->level : Z_DEFAULT_COMPRESSION;
    d->mem_level = cfg->mem_level >= 1 && cfg->mem_level <= 9 ? cfg->mem_level : 8;
    int server = role == WSP_ROLE_SERVER;
    int own_limit = server ? agreed->server_max_window_bits : agreed->client_max_window_bits;
    int peer_limit = server ? agreed->client_max_window_bits : agreed->server_max_window_bits;
    d->own_bits = wsp_deflate_bits_or(cfg->max_window_bits, 15);
    if (wsp_deflate_bits_or(own_limit, 0) && own_limit < d->own_bits) d->own_bits = own_limit;
    d->peer_bits = wsp_deflate_bits_or(peer_limit, 15);
    d->own_no_context = (uint8_t)(server ? agreed->server_no_context_takeover
                                         : agreed->client_no_context_takeover);
    if (cfg->no_context_takeover) d->own_no_context = 1;
    d->peer_no_context = (uint8_t)(server ? agreed->client_no_context_takeover
                                          : agreed->server_no_context_takeover);
    *out = d;
    return WSP_OK;
}

void wsp_deflate_destroy(wsp_deflate *d)
{
    if (!d) return;
    if (d->inflater_ready) inflateEnd(&d->inflater);
    if (d->deflater_ready) deflateEnd(&d->deflater);
    const wsp_allocator *a = d->alloc;
    a->free_fn(d->buf, d->buf_size, a->user);
    a->free_fn(d, sizeof *d, a->user);
}

static void init_stream(wsp_deflate *d, z_stream *z)
{
    memset(z, 0, sizeof *z);
    z->zalloc = z_alloc;
    z->zfree = z_free;
    z->opaque = d;
}

/* One inflate call, its zlib result mapped to a status. */
static int inflate_status(z_stream *z, uint8_t *stream_ended)
{
    int rc = inflate(z, Z_SYNC_FLUSH);
    if (rc == Z_STREAM_END) *stream_ended = 1;
    else if (rc == Z_MEM_ERROR) return WSP_ERR_NOMEM;
    else if (rc != Z_OK && rc != Z_BUF_ERROR) return WSP_ERR_PROTO_EXTENSION;
    return WSP_OK;
}

/* One inflate step of a message: the payload, then (at its end) the RFC
 * 7692 tail, each possibly cut short by the bounded output buffer. Kept in
 * one function because the tail's bookkeeping only makes sense beside the
 * payload step it follows. */
static int inflate_piece(wsp_deflate *d, const uint8_t *in, size_t in_len,
                         int end, size_t *used, uint8_t **out, size_t *out_len,
                         int *done)
{
    z_stream *z = &d->inflater;
    *out = d->buf;
    *used = 0;
    *out_len = 0;
    *done = 0;
    if (!d->inflater_ready) {
        init_stream(d, z);
        /* Raw deflate with the peer's window: zlib inflates 8-bit windows. */
        if (inflateInit2(z, -d->peer_bits) != Z_OK) return WSP_ERR_NOMEM;
        d->inflater_ready = 1;
    }
    if (in_len > UINT_MAX) {
        /* zlib takes at most 4 GiB per call: the message goes on after. */
        in_len = UINT_MAX;
        end = 0;
    }
    z->next_out = d->buf;
    z->avail_out = d->buf_size;
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)in_len;
    if (d->stream_ended) {
        z->avail_in = 0; /* after BFINAL nothing more belongs to the stream */
    } else if (in_len || !d->tail_started) {
        int rc = inflate_status(z, &d->stream_ended);
        if (rc != WSP_OK) {
            /* What came out before the error is reported too: the caller
             * checks it first, so the verdict does not depend on how the
             * input was split. */
            *used = in_len - z->avail_in;
            *out_len = d->buf_size - z->avail_out;
            return rc;
        }
    }
    *used = in_len - z->avail_in;
    if (end && z->avail_in == 0 && z->avail_out > 0 && !d->stream_ended) {
        if (!d->tail_started) {
            d->tail_started = 1;
            d->tail_left = sizeof deflate_tail;
        }
        z->next_in = (Bytef *)(uintptr_t)(deflate_tail + sizeof deflate_tail - d->tail_left);
        z->avail_in = d->tail_left;
        int rc = inflate_status(z, &d->stream_ended);
        d->tail_left = (uint8_t)z->avail_in;
        if (rc != WSP_OK) {
            *out_len = d->buf_size - z->avail_out;
            return rc;
        }
    }
    *out_len = d->buf_size - z->avail_out;
    /* Done when the whole message and the tail are in and zlib had room to
     * spare, i.e. holds no more output. */
    if (end && *used == in_len && z->avail_out > 0 &&
        (d->stream_ended || (d->tail_started && d->tail_left == 0))) {
        *done = 1;
        if (d->peer_no_context || d->stream_ended) inflateReset(z);
        d->tail_started = 0;
        d->tail_left = 0;
        d->stream_ended = 0;
    }
    return WSP_OK;
}

int wsp_deflate_can_compress(const wsp_deflate *d, size_t len)
{
    return d && !d->deflater_broken && len >= d->min_size;
}

int wsp_deflate_output_pending(const wsp_deflate *d)
{
    return d->inflater_ready && d->inflater.avail_out == 0;
}

/* zlib falls back to stored blocks for data that does not compress: 5
 * bytes per block, and memLevel 1 makes blocks as short as 127 bytes (4%
 * overhead), so 1/16 covers every memLevel; the rest is the flush marker
 * and block headers. 0 when it overflows. */
static size_t compress_bound(size_t len)
{
    size_t extra = (len >> 4) + 24;
    return len > SIZE_MAX - extra ? 0 : len + extra;
}

int wsp_deflate_send_bound(size_t len, int masked, size_t *bound)
{
    *bound = 0;
    size_t z = compress_bound(len);
    if (!z || z > SIZE_MAX - WSP_MAX_FRAME_HEADER) return WSP_ERR_LIMIT;
    *bound = z + wsp_frame_header_size(z, masked);
    return WSP_OK;
}

static int compress_piece(wsp_deflate *d, const uint8_t *in, size_t len,
                          int final, uint8_t *out, size_t cap, size_t *out_len)
{
    z_stream *z = &d->deflater;
    if (d->deflater_broken) return WSP_ERR_STATE;
    if (!d->deflater_ready) {
        init_stream(d, z);
        /* zlib has no 8-bit window, but its 9-bit one never reaches back
         * more than 2^9 - 262 = 250 bytes, which an 8-bit inflater holds. */
        int bits = d->own_bits < 9 ? 9 : d->own_bits;
        if (deflateInit2(z, d->level, Z_DEFLATED, -bits, d->mem_level,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return WSP_ERR_NOMEM;
        d->deflater_ready = 1;
    }
    /* zlib counts in 32 bits: the input and its worst case must fit. */
    if (len > (size_t)UINT_MAX - ((size_t)UINT_MAX >> 4) - 64) return WSP_ERR_LIMIT;
    if (cap > UINT_MAX) cap = UINT_MAX;
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)len;
    z->next_out = out;
    z->avail_out = (uInt)cap;
    int rc = deflate(z, Z_SYNC_FLUSH);
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || z->avail_in != 0 || z->avail_out == 0) {
        /* Part of the input may be in the stream already: the peer could
         * no longer follow it, so this compressor is done for. */
        d->deflater_broken = 1;
        return WSP_ERR_BUFFER_TOO_SMALL;
    }
    size_t n = cap - z->avail_out;
    if (final) {
        /* RFC 7692 7.2.1: drop the 00 00 ff ff of the final flush. If the
         * previous piece flushed already there is nothing to drop, and an
         * empty stored-block header (one 0x00, 7.2.3.6) ends the message. */
        if (n >= 4 && memcmp(out + n - 4, deflate_tail, 4) == 0) {
            n -= 4;
        } else if (n == 0) {
            out[0] = 0x00;
            n = 1;
        }
        if (d->own_no_context) deflateReset(z);
    }
    *out_len = n;
    return WSP_OK;
}

void wsp_deflate_begin_message(wsp_deflate *d, uint64_t offset, int text,
                               uint64_t max_message)
{
    d->msg_text = (uint8_t)(text != 0);
    d->msg_utf8 = WSP_UTF8_ACCEPT;
    d->msg_offset = offset;
    d->msg_len = 0;
    d->msg_max = max_message;
}

uint64_t wsp_deflate_message_offset(const wsp_deflate *d) { return d->msg_offset; }

int wsp_deflate_recv(wsp_deflate *d, uint8_t *p, size_t n, int end, const uint8_t *key,
                     uint8_t *mask_pos, size_t *used, uint8_t **out, size_t *out_len,
                     int *done)
{
    if (key) wsp_mask(p, n, key, *mask_pos);
    int rc = inflate_piece(d, p, n, end, used, out, out_len, done);
    /* What zlib did not take is presented again later, as it arrived. */
    if (key && *used < n) wsp_mask(p + *used, n - *used, key, *mask_pos + (uint64_t)*used);
    if (key) *mask_pos = (uint8_t)((*mask_pos + *used) & 3u);
    /* Where zlib notices a problem depends on how the input was split, so
     * the output is checked in a fixed order (text, then the size limit,
     * then the compressed data) and the verdict is the same however it
     * arrived. The limit holds for what the peer makes us produce (RFC 7692
     * 8: compression bombs), before any of the output goes anywhere. */
    uint64_t room = d->msg_max - d->msg_len;
    size_t fits = *out_len < room ? *out_len : (size_t)room;
    if (d->msg_text && wsp_utf8_validate(&d->msg_utf8, *out, fits, NULL) != WSP_OK)
        return WSP_ERR_PROTO_UTF8;
    if (*out_len > room) return WSP_ERR_PROTO_TOO_BIG;
    if (rc != WSP_OK) return rc;
    if (*done && d->msg_text && d->msg_utf8 != WSP_UTF8_ACCEPT) return WSP_ERR_PROTO_UTF8;
    d->msg_len += *out_len;
    return WSP_OK;
}

int wsp_deflate_send(wsp_deflate *d, wsp_opcode opcode, int first, int final,
                     const uint8_t *payload, size_t len, const uint8_t *key,
                     uint8_t *out, size_t out_cap, size_t *out_len)
{
    *out_len = 0;
    size_t bound = 0;
    int masked = key != NULL;
    int rc = wsp_deflate_send_bound(len, masked, &bound);
    if (rc != WSP_OK) return rc;
    if (out_cap < bound) return WSP_ERR_BUFFER_TOO_SMALL;
    /* Compressed after a header sized for the worst case, which moves down
     * when the output came out shorter. */
    size_t z = compress_bound(len);
    size_t reserved = wsp_frame_header_size(z, masked);
    size_t n = 0;
    rc = compress_piece(d, payload, len, final, out + reserved, out_cap - reserved, &n);
    if (rc != WSP_OK) return rc;
    wsp_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = (uint8_t)(final != 0);
    h.rsv = first ? 4u : 0u; /* RSV1 on the first frame only (RFC 7692 6) */
    h.opcode = (uint8_t)(first ? opcode : WSP_OP_CONTINUATION);
    h.masked = (uint8_t)masked;
    h.payload_len = n;
    if (key) memcpy(h.mask_key, key, 4);
    size_t hlen = wsp_frame_header_size(n, masked);
    if (hlen < reserved) memmove(out + hlen, out + reserved, n);
    size_t written = 0;
    wsp_frame_encode_header(&h, out, hlen, &written);
    if (key) wsp_mask(out + hlen, n, key, 0);
    *out_len = hlen + n;
    return WSP_OK;
}

#endif
