#include "fuzz_common.h"
#include "internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: invariant violated: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

/* ---- input ---------------------------------------------------------- */

uint8_t fuzz_u8(fuzz_input *in)
{
    if (in->pos >= in->len)
        return 0;
    return in->data[in->pos++];
}

uint16_t fuzz_u16(fuzz_input *in)
{
    uint16_t hi = fuzz_u8(in);
    return (uint16_t)((unsigned)(hi << 8) | fuzz_u8(in));
}

const uint8_t *fuzz_take(fuzz_input *in, size_t want, size_t *got)
{
    const uint8_t *p = in->data + in->pos;
    size_t left = in->len - in->pos;
    *got = want < left ? want : left;
    in->pos += *got;
    return p;
}

uint64_t fuzz_limit(uint8_t b)
{
    if (b == 0)
        return 0;
    if (b < 128)
        return b;
    return (uint64_t)(b - 127u) * 64u;
}

/* ---- entropy -------------------------------------------------------- */

uint64_t fuzz_rng_next(fuzz_rng *r)
{
    /* splitmix64: any seed, including 0, gives a usable stream */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int fuzz_entropy(uint8_t *buf, size_t len, void *user)
{
    fuzz_rng *r = user;
    size_t i;
    FUZZ_CHECK(buf != NULL || len == 0);
    r->calls++;
    for (i = 0; i < len; i++)
        buf[i] = r->counter ? (uint8_t)(r->s++ & 0xFFu)
                            : (uint8_t)(fuzz_rng_next(r) >> 56);
    return 0;
}

/* ---- allocator ------------------------------------------------------ */

/* Room in front of each block for its size, keeping max_align_t alignment
 * as the library may place any object in what it gets. */
#define FUZZ_ALLOC_HDR sizeof(max_align_t)

static void *fa_malloc(size_t size, void *user)
{
    fuzz_alloc *fa = user;
    unsigned char *p;
    FUZZ_CHECKF(!fa->frozen,
                "library allocated %zu bytes on a path that must not allocate",
                size);
    FUZZ_CHECKF(size <= fa->limit - fa->live_bytes,
                "allocation of %zu bytes exceeds the memory budget %zu "
                "(live %zu)",
                size, fa->limit, fa->live_bytes);
    p = malloc(FUZZ_ALLOC_HDR + size);
    if (p == NULL)
        return NULL;
    memcpy(p, &size, sizeof size);
    fa->live_bytes += size;
    fa->live_blocks++;
    if (fa->live_bytes > fa->peak_bytes)
        fa->peak_bytes = fa->live_bytes;
    return p + FUZZ_ALLOC_HDR;
}

static void fa_free(void *ptr, size_t size, void *user)
{
    fuzz_alloc *fa = user;
    unsigned char *p;
    size_t stored;
    if (ptr == NULL)
        return;
    p = (unsigned char *)ptr - FUZZ_ALLOC_HDR;
    memcpy(&stored, p, sizeof stored);
    FUZZ_CHECKF(stored == size, "free_fn got size %zu for a block of %zu",
                size, stored);
    FUZZ_CHECK(fa->live_blocks > 0 && fa->live_bytes >= size);
    fa->live_bytes -= size;
    fa->live_blocks--;
    free(p);
}

static void *fa_realloc(void *ptr, size_t old_size, size_t new_size,
                        void *user)
{
    void *n;
    if (ptr == NULL)
        return fa_malloc(new_size, user);
    n = fa_malloc(new_size, user);
    if (n == NULL)
        return NULL;
    memcpy(n, ptr, old_size < new_size ? old_size : new_size);
    fa_free(ptr, old_size, user);
    return n;
}

void fuzz_alloc_init(fuzz_alloc *fa, size_t limit)
{
    memset(fa, 0, sizeof *fa);
    fa->a.malloc_fn = fa_malloc;
    fa->a.realloc_fn = fa_realloc;
    fa->a.free_fn = fa_free;
    fa->a.user = fa;
    fa->limit = limit;
}

/* ---- UTF-8 reference ------------------------------------------------ */

size_t fuzz_utf8_ref(const uint8_t *s, size_t n, int *incomplete,
                     uint8_t *boundary)
{
    size_t i = 0;
    *incomplete = 0;
    if (boundary != NULL) {
        memset(boundary, 0, n + 1);
        boundary[0] = 1;
    }
    while (i < n) {
        uint8_t b = s[i];
        size_t need, k;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b < 0x80)
            need = 0;
        else if (b >= 0xC2 && b <= 0xDF)
            need = 1;
        else if (b == 0xE0) {
            need = 2;
            lo = 0xA0;
        } else if (b >= 0xE1 && b <= 0xEC)
            need = 2;
        else if (b == 0xED) {
            need = 2;
            hi = 0x9F;
        } else if (b == 0xEE || b == 0xEF)
            need = 2;
        else if (b == 0xF0) {
            need = 3;
            lo = 0x90;
        } else if (b >= 0xF1 && b <= 0xF3)
            need = 3;
        else if (b == 0xF4) {
            need = 3;
            hi = 0x8F;
        } else
            return i;
        for (k = 1; k <= need; k++) {
            uint8_t c;
            if (i + k >= n) {
                *incomplete = 1;
                return n;
            }
            c = s[i + k];
            if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF))
                return i + k;
        }
        i += need + 1;
        if (boundary != NULL)
            boundary[i] = 1;
    }
    return n;
}

int fuzz_utf8_complete(const uint8_t *s, size_t n)
{
    int incomplete;
    return fuzz_utf8_ref(s, n, &incomplete, NULL) == n && !incomplete;
}

int fuzz_close_code_sendable(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* ---- buffers and logs ----------------------------------------------- */

void fuzz_buf_put(fuzz_buf *b, const void *data, size_t n)
{
    if (n == 0)
        return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;
        uint8_t *p;
        while (cap - b->len < n)
            cap *= 2;
        p = realloc(b->p, cap);
        FUZZ_CHECK(p != NULL);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void fuzz_buf_free(fuzz_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void put_u32(fuzz_buf *b, uint32_t v)
{
    uint8_t x[4];
    x[0] = (uint8_t)(v >> 24);
    x[1] = (uint8_t)(v >> 16);
    x[2] = (uint8_t)(v >> 8);
    x[3] = (uint8_t)v;
    fuzz_buf_put(b, x, 4);
}

static uint32_t get_u32(const uint8_t *x)
{
    return (uint32_t)x[0] << 24 | (uint32_t)x[1] << 16 | (uint32_t)x[2] << 8 |
           (uint32_t)x[3];
}

void fuzz_log(fuzz_buf *log, int tag, uint32_t a, uint32_t b,
              const void *data, size_t n)
{
    uint8_t t = (uint8_t)tag;
    fuzz_buf_put(log, &t, 1);
    put_u32(log, a);
    put_u32(log, b);
    put_u32(log, (uint32_t)n);
    fuzz_buf_put(log, data, n);
}

static void dump_log(const char *name, const fuzz_buf *l)
{
    size_t pos = 0;
    fprintf(stderr, "--- %s (%zu bytes)\n", name, l->len);
    while (pos + 13 <= l->len) {
        uint32_t a = get_u32(l->p + pos + 1), b = get_u32(l->p + pos + 5);
        uint32_t n = get_u32(l->p + pos + 9);
        size_t i, show = n < 48 ? n : 48;
        fprintf(stderr, "  %c a=%ld b=%ld len=%lu :", (char)l->p[pos],
                (long)(int32_t)a, (long)(int32_t)b, (unsigned long)n);
        for (i = 0; i < show && pos + 13 + i < l->len; i++)
            fprintf(stderr, " %02x", l->p[pos + 13 + i]);
        fprintf(stderr, "%s\n", show < n ? " ..." : "");
        pos += 13 + (size_t)n;
    }
}

void fuzz_log_same(const fuzz_buf *x, const fuzz_buf *y, const char *what)
{
    if (x->len == y->len && (x->len == 0 || memcmp(x->p, y->p, x->len) == 0))
        return;
    dump_log("first", x);
    dump_log("second", y);
    fuzz_fail(__FILE__, __LINE__, "%s differ", what);
}

/* ---- chunking ------------------------------------------------------- */

void fuzz_chunker_read(fuzz_chunker *c, fuzz_input *in)
{
    size_t i;
    for (i = 0; i < 4; i++) {
        uint8_t b = fuzz_u8(in);
        /* mostly tiny pieces (they split headers and code points), some
         * large ones so payload crosses pieces with a big piece in one go */
        c->sizes[i] = b & 0x80 ? (size_t)(b & 0x7Fu) * 16u + 1u
                               : (size_t)(b & 0x1Fu) + 1u;
    }
    c->idx = 0;
}

void fuzz_chunker_whole(fuzz_chunker *c)
{
    memset(c, 0, sizeof *c);
}

void fuzz_chunker_single(fuzz_chunker *c)
{
    size_t i;
    for (i = 0; i < 4; i++)
        c->sizes[i] = 1;
    c->idx = 0;
}

size_t fuzz_chunker_next(fuzz_chunker *c)
{
    size_t s = c->sizes[c->idx++ % 4];
    return s == 0 ? SIZE_MAX : s;
}

static int same_headers(const wsp_headers *a, const wsp_headers *b)
{
    return a->array == b->array && a->count == b->count && a->raw == b->raw &&
           a->raw_len == b->raw_len;
}

void fuzz_check_resumed_head(const char *buf, size_t n, size_t max_bytes,
                             size_t max_headers, int is_request,
                             fuzz_chunker ch)
{
    wsp_http_progress prog;
    size_t len = 0;
    memset(&prog, 0, sizeof prog);
    for (;;) {
        wsp_request q1, q2;
        wsp_response r1, r2;
        size_t c1 = 0, c2 = 0;
        int rc1, rc2;
        memset(&q1, 0, sizeof q1);
        memset(&q2, 0, sizeof q2);
        memset(&r1, 0, sizeof r1);
        memset(&r2, 0, sizeof r2);
        if (is_request) {
            rc1 = wsp_http_parse_request(buf, len, max_bytes, max_headers, &q1,
                                         &c1);
            rc2 = wsp_http_resume_request(buf, len, max_bytes, max_headers,
                                          &prog, &q2, &c2);
        } else {
            rc1 = wsp_http_parse_response(buf, len, max_bytes, max_headers,
                                          &r1, &c1);
            rc2 = wsp_http_resume_response(buf, len, max_bytes, max_headers,
                                           &prog, &r2, &c2);
        }
        FUZZ_CHECKF(rc1 == rc2, "prefix %zu: resumed %d, from scratch %d", len,
                    rc2, rc1);
        if (rc1 == WSP_OK) {
            FUZZ_CHECK(c1 == c2);
            if (is_request)
                FUZZ_CHECK(q1.method == q2.method &&
                           q1.method_len == q2.method_len &&
                           q1.target == q2.target &&
                           q1.target_len == q2.target_len &&
                           q1.version_major == q2.version_major &&
                           q1.version_minor == q2.version_minor &&
                           same_headers(&q1.headers, &q2.headers));
            else
                FUZZ_CHECK(r1.status == r2.status && r1.reason == r2.reason &&
                           r1.reason_len == r2.reason_len &&
                           r1.version_major == r2.version_major &&
                           r1.version_minor == r2.version_minor &&
                           same_headers(&r1.headers, &r2.headers));
        }
        if (rc1 != WSP_ERR_NEED_MORE || len == n) break;
        {
            size_t c = fuzz_chunker_next(&ch);
            len += c < n - len ? c : n - len;
        }
    }
}

/* ---- frames a connection wrote ---------------------------------------- */

static int opcode_known(unsigned op)
{
    return op <= 2 || (op >= 8 && op <= 10);
}

void fuzz_parse_frames(const uint8_t *buf, size_t len, wsp_role writer,
                       fuzz_frame_cb cb, void *user)
{
    size_t pos = 0;
    while (pos < len) {
        wsp_frame_header h;
        uint8_t enc[WSP_MAX_FRAME_HEADER];
        size_t enc_len = 0, plen;
        uint8_t *payload;
        int rc = wsp_frame_parse_header(buf + pos, len - pos, &h);
        FUZZ_CHECKF(rc == WSP_OK, "written frame at %zu does not parse: %d",
                    pos, rc);
        FUZZ_CHECK(h.header_len >= 2 && h.header_len <= WSP_MAX_FRAME_HEADER);
        FUZZ_CHECK(h.header_len <= len - pos);
        FUZZ_CHECKF(h.masked == (writer == WSP_ROLE_CLIENT),
                    "written frame masked=%u by role %d", h.masked, writer);
        FUZZ_CHECK(h.rsv == 0);
        FUZZ_CHECKF(opcode_known(h.opcode), "written opcode %u", h.opcode);
        if (h.opcode >= 8)
            FUZZ_CHECK(h.fin && h.payload_len <= WSP_MAX_CONTROL_PAYLOAD);
        FUZZ_CHECKF(h.payload_len <= len - pos - h.header_len,
                    "written frame claims %llu bytes, %zu follow",
                    (unsigned long long)h.payload_len,
                    len - pos - h.header_len);
        /* the encoder and the parser must agree byte for byte */
        rc = wsp_frame_encode_header(&h, enc, sizeof enc, &enc_len);
        FUZZ_CHECK(rc == WSP_OK && enc_len == h.header_len);
        FUZZ_CHECK(memcmp(enc, buf + pos, enc_len) == 0);

        plen = (size_t)h.payload_len;
        payload = malloc(plen ? plen : 1);
        FUZZ_CHECK(payload != NULL);
        if (h.masked)
            wsp_mask_copy(payload, buf + pos + h.header_len, plen, h.mask_key,
                          0);
        else if (plen)
            memcpy(payload, buf + pos + h.header_len, plen);
        if (h.opcode == WSP_OP_CLOSE) {
            FUZZ_CHECKF(plen != 1, "close frame with a 1-byte payload");
            if (plen >= 2) {
                unsigned code = (unsigned)payload[0] << 8 | payload[1];
                FUZZ_CHECKF(fuzz_close_code_sendable(code),
                            "written close code %u is not valid on the wire",
                            code);
                FUZZ_CHECK(fuzz_utf8_complete(payload + 2, plen - 2));
            }
        }
        cb(user, &h, payload);
        free(payload);
        pos += h.header_len + plen;
    }
}

/* ---- the connection driver ------------------------------------------ */

void fuzz_peer_init(fuzz_peer *p, const wsp_config *cfg, uint64_t seed,
                    int counter_entropy)
{
    int rc;
    memset(p, 0, sizeof *p);
    p->cfg = *cfg;
    p->rng.s = seed;
    p->rng.counter = counter_entropy;
    fuzz_alloc_init(&p->alloc, wsp_conn_size());
    p->cfg.allocator = &p->alloc.a;
    p->cfg.entropy = fuzz_entropy;
    p->cfg.entropy_user = &p->rng;
    p->request_status = 1;
    rc = wsp_conn_new(&p->cfg, &p->conn);
    FUZZ_CHECKF(rc == WSP_OK, "wsp_conn_new: %d", rc);
    FUZZ_CHECK(p->alloc.live_blocks == 1);
    FUZZ_CHECK(wsp_conn_role(p->conn) == p->cfg.role);
    FUZZ_CHECK(wsp_conn_state(p->conn) ==
               (p->cfg.start_open ? WSP_STATE_OPEN : WSP_STATE_HANDSHAKE));
    FUZZ_CHECK(wsp_conn_pending_size(p->conn) == 0);
    /* the connection is the only allocation there may be */
    p->alloc.frozen = 1;
}

void fuzz_peer_free(fuzz_peer *p)
{
    p->alloc.frozen = 0;
    wsp_conn_free(p->conn);
    p->conn = NULL;
    FUZZ_CHECKF(p->alloc.live_bytes == 0 && p->alloc.live_blocks == 0,
                "%zu bytes in %zu blocks leaked", p->alloc.live_bytes,
                p->alloc.live_blocks);
    fuzz_buf_free(&p->events);
    fuzz_buf_free(&p->out);
    fuzz_buf_free(&p->flushed);
    fuzz_buf_free(&p->msg);
}

static void flushed_frame(void *user, const wsp_frame_header *h,
                          const uint8_t *payload)
{
    fuzz_peer *p = user;
    size_t n = (size_t)h->payload_len;
    FUZZ_CHECKF(!p->sent_close, "frame opcode %u written after a close frame",
                h->opcode);
    if (h->opcode == WSP_OP_PONG) {
        FUZZ_CHECKF(!p->cfg.no_auto_pong, "pong queued with no_auto_pong");
        FUZZ_CHECKF(p->ping_seen && n == p->ping_len &&
                        memcmp(payload, p->ping, n) == 0,
                    "queued pong does not echo the latest ping");
        fuzz_log(&p->out, FUZZ_REC_OUT_PONG, 0, 0, payload, n);
    } else if (h->opcode == WSP_OP_CLOSE) {
        unsigned code = n >= 2 ? (unsigned)payload[0] << 8 | payload[1] : 0;
        if (p->expect_out_close)
            FUZZ_CHECKF((int)code == p->expect_out_close,
                        "failure announced close code %d, queued %u",
                        p->expect_out_close, code);
        p->expect_out_close = 0;
        p->sent_close = 1;
        fuzz_log(&p->out, FUZZ_REC_OUT_CLOSE, code, 0, payload, n >= 2 ? n : 0);
    } else {
        fuzz_fail(__FILE__, __LINE__, "connection queued opcode %u on its own",
                  h->opcode);
    }
}

static void check_http_answer(const uint8_t *out, size_t len, int want_status)
{
    wsp_response resp;
    size_t consumed = 0;
    int rc = wsp_http_parse_response((const char *)out, len, 0, 0, &resp,
                                     &consumed);
    FUZZ_CHECKF(rc == WSP_OK && consumed == len,
                "library's own HTTP answer does not parse back: %d", rc);
    FUZZ_CHECK(resp.version_major == 1 && resp.version_minor == 1);
    if (want_status)
        FUZZ_CHECKF(resp.status == want_status, "answered %d, wanted %d",
                    resp.status, want_status);
    else
        FUZZ_CHECK(resp.status >= 400 && resp.status <= 599);
}

static void peer_flush(fuzz_peer *p)
{
    uint8_t out[WSP_MAX_PENDING + 16];
    size_t pend = wsp_conn_pending_size(p->conn), out_len = 0;
    int rc;
    FUZZ_CHECKF(pend <= WSP_MAX_PENDING, "%zu bytes pending", pend);
    if (pend > 0) {
        rc = wsp_conn_flush(p->conn, out, pend - 1, &out_len);
        FUZZ_CHECK(rc == WSP_ERR_BUFFER_TOO_SMALL && out_len == 0);
        FUZZ_CHECK(wsp_conn_pending_size(p->conn) == pend);
    }
    rc = wsp_conn_flush(p->conn, out, sizeof out, &out_len);
    FUZZ_CHECKF(rc == WSP_OK && out_len == pend, "flush %d, %zu of %zu", rc,
                out_len, pend);
    FUZZ_CHECK(wsp_conn_pending_size(p->conn) == 0);
    if (out_len == 0)
        return;
    fuzz_buf_put(&p->flushed, out, out_len);
    if (out_len >= 5 && memcmp(out, "HTTP/", 5) == 0) {
        wsp_response resp;
        size_t consumed;
        FUZZ_CHECK(p->cfg.role == WSP_ROLE_SERVER && !p->cfg.start_open);
        check_http_answer(out, out_len, 0);
        (void)wsp_http_parse_response((const char *)out, out_len, 0, 0, &resp,
                                      &consumed);
        fuzz_log(&p->out, FUZZ_REC_OUT_HTTP, (uint32_t)resp.status, 0, NULL,
                 0);
        return;
    }
    fuzz_parse_frames(out, out_len, p->cfg.role, flushed_frame, p);
}

static int in_range(const void *ptr, size_t n, const uint8_t *base,
                    size_t len)
{
    const uint8_t *q = ptr;
    if (n == 0)
        return 1;
    return q != NULL && q >= base && n <= len &&
           q - base <= (ptrdiff_t)(len - n);
}

/* Reads every byte an event points to, so ASan sees any bad pointer. */
static size_t touch(const void *ptr, size_t n)
{
    const volatile uint8_t *q = ptr;
    size_t i, sum = 0;
    for (i = 0; i < n; i++)
        sum += q[i];
    return sum;
}

static void touch_headers(const wsp_headers *h)
{
    size_t pos = 0, guard = 0;
    wsp_header hd;
    while (wsp_headers_next(h, &pos, &hd) == WSP_OK) {
        (void)touch(hd.name, hd.name_len);
        (void)touch(hd.value, hd.value_len);
        FUZZ_CHECK(++guard <= 100000);
    }
}

/* The bytes an event hands out, whatever its type. */
static void event_bytes(const wsp_event *ev, const uint8_t **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    if (ev->type == WSP_EV_DATA) *p = ev->u.data.payload, *n = ev->u.data.len;
    if (ev->type == WSP_EV_PING || ev->type == WSP_EV_PONG)
        *p = ev->u.control.payload, *n = ev->u.control.len;
    if (ev->type == WSP_EV_CLOSE)
        *p = (const uint8_t *)ev->u.close.reason, *n = ev->u.close.reason_len;
}

static void answer_request(fuzz_peer *p, const wsp_event *ev)
{
    uint8_t small[1];
    uint8_t *out;
    size_t need = 0, out_len = 0;
    int rc;
    char proto[64];
    wsp_accept_options opts;
    const wsp_accept_options *use = NULL;

    FUZZ_CHECK(p->cfg.role == WSP_ROLE_SERVER);
    (void)touch(ev->u.request.request.method, ev->u.request.request.method_len);
    (void)touch(ev->u.request.request.target, ev->u.request.request.target_len);
    touch_headers(&ev->u.request.request.headers);
    FUZZ_CHECKF(ev->u.request.status == WSP_OK ||
                    (ev->u.request.status <= -100 && ev->u.request.status >= -199),
                "request status %d", ev->u.request.status);
    if (ev->u.request.status != WSP_OK)
        FUZZ_CHECKF(ev->u.request.http_status == wsp_status_http_code(ev->u.request.status),
                    "http_status %d for status %d", ev->u.request.http_status,
                    ev->u.request.status);
    if (p->request_status == 1)
        p->request_status = ev->u.request.status;
    fuzz_log(&p->events, FUZZ_REC_REQUEST, (uint32_t)ev->u.request.status,
             (uint32_t)ev->u.request.http_status, ev->u.request.request.target,
             ev->u.request.request.target_len);

    if (ev->u.request.status == WSP_OK && !p->reject_valid) {
        char acc[WSP_ACCEPT_LEN + 1];
        wsp_response resp;
        wsp_headers *rh;
        const char *v = NULL;
        size_t vlen = 0, consumed = 0;
        FUZZ_CHECK(ev->u.request.upgrade.key != NULL && ev->u.request.upgrade.key_len == 24);
        FUZZ_CHECK(wsp_accept_key(ev->u.request.upgrade.key, ev->u.request.upgrade.key_len, acc) ==
                   WSP_OK);
        FUZZ_CHECK(memcmp(acc, ev->u.request.upgrade.accept, WSP_ACCEPT_LEN + 1) == 0);
        (void)touch(ev->u.request.upgrade.host, ev->u.request.upgrade.host_len);
        if (ev->u.request.upgrade.origin != NULL)
            (void)touch(ev->u.request.upgrade.origin, ev->u.request.upgrade.origin_len);
        memset(&opts, 0, sizeof opts);
        if (p->echo_subprotocol && 1) {
            size_t pos = 0, lpos = 0, ilen = 0;
            const char *item = NULL;
            if (wsp_upgrade_next_subprotocol(&ev->u.request.upgrade.headers, &pos, &lpos,
                                             &item, &ilen) == WSP_OK &&
                ilen < sizeof proto) {
                /* copied: the event's strings may live in the connection,
                 * which the accept call is allowed to reuse */
                memcpy(proto, item, ilen);
                proto[ilen] = '\0';
                opts.subprotocol = proto;
                use = &opts;
            }
        }
        need = 12345;
        rc = wsp_conn_accept(p->conn, use, small, 0, &need);
        if (rc == WSP_ERR_INVALID_ARG && use != NULL) {
            FUZZ_CHECK(need == 0);
            use = NULL;
            rc = wsp_conn_accept(p->conn, NULL, small, 0, &need);
        }
        FUZZ_CHECKF(rc == WSP_ERR_BUFFER_TOO_SMALL && need == 0, "accept sizing: %d",
                    rc);
        FUZZ_CHECK(wsp_conn_state(p->conn) == WSP_STATE_HANDSHAKE);
        /* The 101 is the fixed lines, the accept key, at most one echoed
         * subprotocol and the deflate answer. */
        need = 1024;
        out = malloc(need);
        FUZZ_CHECK(out != NULL);
        rc = wsp_conn_accept(p->conn, use, out, need, &out_len);
        FUZZ_CHECKF(rc == WSP_OK && out_len > 0 && out_len < need, "accept: %d", rc);
        FUZZ_CHECK(wsp_conn_state(p->conn) == WSP_STATE_OPEN);
        check_http_answer(out, out_len, 101);
        (void)wsp_http_parse_response((const char *)out, out_len, 0, 0, &resp,
                                      &consumed);
        rh = &resp.headers;
        FUZZ_CHECK(wsp_headers_get(rh, "sec-websocket-accept", &v, &vlen) ==
                   WSP_OK);
        FUZZ_CHECK(vlen == WSP_ACCEPT_LEN && memcmp(v, acc, vlen) == 0);
        fuzz_buf_put(&p->flushed, out, out_len);
        free(out);
        fuzz_log(&p->events, FUZZ_REC_ACCEPTED, 1, 101, NULL, 0);
    } else {
        int want = ev->u.request.status == WSP_OK ? 400 : ev->u.request.http_status;
        need = 12345;
        rc = wsp_conn_reject(p->conn, 0, small, 0, &need);
        FUZZ_CHECKF(rc == WSP_ERR_BUFFER_TOO_SMALL && need == 0, "reject sizing: %d", rc);
        FUZZ_CHECK(wsp_http_build_error(want, NULL, 0, &need) == WSP_OK);
        out = malloc(need);
        FUZZ_CHECK(out != NULL);
        rc = wsp_conn_reject(p->conn, 0, out, need, &out_len);
        FUZZ_CHECKF(rc == WSP_OK && out_len == need, "reject: %d", rc);
        FUZZ_CHECK(wsp_conn_state(p->conn) == WSP_STATE_CLOSED);
        check_http_answer(out, out_len, want);
        fuzz_buf_put(&p->flushed, out, out_len);
        free(out);
        fuzz_log(&p->events, FUZZ_REC_ACCEPTED, 0, (uint32_t)want, NULL, 0);
    }
}

static void got_response(fuzz_peer *p, const wsp_event *ev)
{
    FUZZ_CHECK(p->cfg.role == WSP_ROLE_CLIENT);
    FUZZ_CHECKF(ev->u.response.status == WSP_OK ||
                    (ev->u.response.status <= -100 && ev->u.response.status >= -199),
                "response status %d", ev->u.response.status);
    if (p->request_status == 1)
        p->request_status = ev->u.response.status;
    (void)touch(ev->u.response.response.reason, ev->u.response.response.reason_len);
    touch_headers(&ev->u.response.response.headers);
    if (ev->u.response.status == WSP_OK) {
        FUZZ_CHECK(wsp_conn_state(p->conn) == WSP_STATE_OPEN);
        FUZZ_CHECK(ev->u.response.response.status == 101);
        FUZZ_CHECKF(ev->u.response.response.version_major > 1 ||
                        (ev->u.response.response.version_major == 1 &&
                         ev->u.response.response.version_minor >= 1),
                    "HTTP/%d.%d 101 opened the connection",
                    ev->u.response.response.version_major, ev->u.response.response.version_minor);
        if (ev->u.response.subprotocol != NULL) {
            /* the server may only pick something the client offered */
            const wsp_client_options *o = p->client_opts;
            size_t i;
            int found = 0;
            for (i = 0; o != NULL && i < o->subprotocol_count; i++)
                if (strlen(o->subprotocols[i]) == ev->u.response.subprotocol_len &&
                    memcmp(o->subprotocols[i], ev->u.response.subprotocol,
                           ev->u.response.subprotocol_len) == 0)
                    found = 1;
            FUZZ_CHECKF(found, "accepted a subprotocol that was not offered");
        }
        if (ev->u.response.extensions != NULL)
            (void)touch(ev->u.response.extensions, ev->u.response.extensions_len);
    } else {
        FUZZ_CHECK(wsp_conn_state(p->conn) == WSP_STATE_CLOSED);
    }
    fuzz_log(&p->events, FUZZ_REC_RESPONSE, (uint32_t)ev->u.response.status,
             (uint32_t)ev->u.response.response.status, ev->u.response.subprotocol,
             ev->u.response.subprotocol ? ev->u.response.subprotocol_len : 0);
}

static void got_data(fuzz_peer *p, const wsp_event *ev)
{
    uint64_t max = p->cfg.max_message ? p->cfg.max_message
                                      : WSP_DEFAULT_MAX_MESSAGE;
    FUZZ_CHECKF(ev->u.data.opcode == WSP_OP_TEXT || ev->u.data.opcode == WSP_OP_BINARY,
                "data event with opcode %d", (int)ev->u.data.opcode);
    FUZZ_CHECK((ev->u.data.flags & ~(WSP_DATA_FIRST | WSP_DATA_LAST)) == 0);
    if (ev->u.data.flags & WSP_DATA_FIRST) {
        FUZZ_CHECKF(!p->msg_open, "FIRST piece while a message is open");
        p->msg_open = 1;
        p->msg_op = (unsigned)ev->u.data.opcode;
        p->msg.len = 0;
    } else {
        FUZZ_CHECKF(p->msg_open, "data piece without a FIRST piece");
        FUZZ_CHECKF((unsigned)ev->u.data.opcode == p->msg_op,
                    "opcode changed inside a message");
    }
    fuzz_buf_put(&p->msg, ev->u.data.payload, ev->u.data.len);
    FUZZ_CHECKF(p->msg.len <= max, "message of %zu bytes passed limit %llu",
                p->msg.len, (unsigned long long)max);
    if (ev->u.data.flags & WSP_DATA_LAST) {
        if (ev->u.data.opcode == WSP_OP_TEXT)
            FUZZ_CHECKF(fuzz_utf8_complete(p->msg.p, p->msg.len),
                        "delivered a text message that is not UTF-8");
        fuzz_log(&p->events, FUZZ_REC_MESSAGE, (uint32_t)ev->u.data.opcode, 0,
                 p->msg.p, p->msg.len);
        p->msg_open = 0;
    }
}

/* Failures are logged exactly: status, close code and offset must not
 * depend on how the input was split, compressed messages included (the
 * library reports those at the message's first frame and checks inflated
 * output in order). */
static uint64_t fuzz_logged_offset(const fuzz_peer *p, int status,
                                   uint64_t offset)
{
    (void)p, (void)status;
    return offset;
}

static uint32_t fuzz_logged_status(const fuzz_peer *p, int status)
{
    (void)p;
    return (uint32_t)status;
}

static uint32_t fuzz_logged_code(const fuzz_peer *p, int status, unsigned code)
{
    (void)p, (void)status;
    return code;
}

static void got_failure(fuzz_peer *p, const wsp_event *ev, int rc,
                        uint64_t window_end)
{
    uint8_t off[8];
    int i;
    FUZZ_CHECKF(rc < 0 && ev->u.failure.status == rc, "failure event %d, returned %d",
                ev->u.failure.status, rc);
    FUZZ_CHECK(ev->u.failure.reason != NULL);
    (void)touch(ev->u.failure.reason, strlen(ev->u.failure.reason));
    /* <=: text cut inside a code point fails at the message's end, one
     * past its last byte */
    FUZZ_CHECKF(ev->u.failure.offset <= window_end ||
                    fuzz_logged_offset(p, rc, ev->u.failure.offset) == 0,
                "failure offset %llu beyond the %llu bytes fed",
                (unsigned long long)ev->u.failure.offset,
                (unsigned long long)window_end);
    if (ev->u.failure.close_code != 0 && rc == WSP_ERR_NOMEM) {
        /* RFC 6455 7.4.1: 1011, this side could not go on */
        FUZZ_CHECKF(ev->u.failure.close_code == 1011, "out of memory sends close code %u",
                    ev->u.failure.close_code);
        p->expect_out_close = ev->u.failure.close_code;
    } else if (ev->u.failure.close_code != 0) {
        FUZZ_CHECKF(ev->u.failure.close_code == wsp_status_close_code(rc),
                    "status %d failed with close code %u", rc,
                    ev->u.failure.close_code);
        p->expect_out_close = ev->u.failure.close_code;
    }
    if (rc == WSP_ERR_NOMEM)
        ;
    else if (rc <= -200)
        FUZZ_CHECK(ev->u.failure.close_code == 0 || ev->u.failure.close_code == 1002 ||
                   ev->u.failure.close_code == 1007 || ev->u.failure.close_code == 1009);
    else
        FUZZ_CHECKF(ev->u.failure.close_code == 0,
                    "non-protocol failure %d sends close code %u", rc,
                    ev->u.failure.close_code);
    FUZZ_CHECK(wsp_conn_state(p->conn) == WSP_STATE_CLOSED);
    p->failed = 1;
    p->fail_status = rc;
    p->fail_code = ev->u.failure.close_code;
    for (i = 0; i < 8; i++)
        off[i] = (uint8_t)(fuzz_logged_offset(p, rc, ev->u.failure.offset) >>
                           (56 - 8 * i));
    fuzz_log(&p->events, FUZZ_REC_FAILURE, fuzz_logged_status(p, rc),
             fuzz_logged_code(p, rc, ev->u.failure.close_code), off, 8);
}

static void app_close(fuzz_peer *p)
{
    uint8_t out[WSP_MAX_FRAME_HEADER + WSP_MAX_CONTROL_PAYLOAD];
    size_t out_len = 0;
    wsp_state st = wsp_conn_state(p->conn);
    int rc = wsp_conn_close(p->conn, 1000, "bye", 3, out, sizeof out,
                            &out_len);
    p->app_closed = 1;
    if (st == WSP_STATE_OPEN) {
        FUZZ_CHECKF(rc == WSP_OK, "close in OPEN state: %d", rc);
        FUZZ_CHECK(wsp_conn_state(p->conn) == WSP_STATE_CLOSING);
        fuzz_parse_frames(out, out_len, p->cfg.role, flushed_frame, p);
        FUZZ_CHECK(p->sent_close);
    } else {
        FUZZ_CHECKF(rc == WSP_ERR_STATE, "close in state %d: %d", (int)st, rc);
    }
    fuzz_log(&p->events, 'K', (uint32_t)rc, 0, NULL, 0);
}

/* One recv call on a heap copy of exactly the bytes presented, so ASan
 * flags any read past them; returns the bytes consumed. */
static size_t peer_step(fuzz_peer *p, const uint8_t *data, size_t len,
                        wsp_event *evp, int *rcp)
{
    uint8_t *win = malloc(len ? len : 1);
    size_t consumed = (size_t)-1;
    wsp_event ev;
    wsp_state before = wsp_conn_state(p->conn);
    size_t log_before = p->events.len;
    int rc;

    FUZZ_CHECK(win != NULL);
    memcpy(win, data, len);
    memset(&ev, 0, sizeof ev);
    ev.type = (wsp_event_type)0x5A; /* must be overwritten */
    rc = wsp_conn_recv(p->conn, win, len, &consumed, &ev);
    FUZZ_CHECKF(consumed <= len, "consumed %zu of %zu", consumed, len);
    FUZZ_CHECKF(memcmp(win + consumed, data + consumed, len - consumed) == 0,
                "recv changed bytes it did not consume");
    FUZZ_CHECKF(ev.type <= WSP_EV_FAILURE, "event type %d", (int)ev.type);

    if (p->failed) {
        /* sticky: the same failure, and never anything more */
        FUZZ_CHECKF(rc == p->fail_status, "after failure %d recv gave %d",
                    p->fail_status, rc);
        FUZZ_CHECK(ev.type == WSP_EV_FAILURE || ev.type == WSP_EV_NONE);
    } else if (p->cfg.role == WSP_ROLE_CLIENT && p->request_status < 0 &&
               rc == p->request_status) {
        /* a refused 101 stays the connection's error, like a failure */
        FUZZ_CHECK(consumed == len && ev.type == WSP_EV_NONE);
        FUZZ_CHECK(wsp_conn_state(p->conn) == WSP_STATE_CLOSED);
    } else if (rc == WSP_ERR_CLOSED) {
        FUZZ_CHECK(consumed == len);
        FUZZ_CHECK(wsp_conn_state(p->conn) == WSP_STATE_CLOSED);
        FUZZ_CHECK(ev.type == WSP_EV_NONE);
        if (!p->saw_closed)
            fuzz_log(&p->events, FUZZ_REC_CLOSED, 0, 0, NULL, 0);
        p->saw_closed = 1;
    } else if (rc != WSP_OK) {
        FUZZ_CHECKF(ev.type == WSP_EV_FAILURE,
                    "recv returned %d with event %d", rc, (int)ev.type);
        got_failure(p, &ev, rc, p->fed + len);
    } else {
        FUZZ_CHECK(ev.type != WSP_EV_FAILURE);
        if (ev.type == WSP_EV_DATA || ev.type == WSP_EV_PING ||
            ev.type == WSP_EV_PONG || ev.type == WSP_EV_CLOSE) {
            FUZZ_CHECKF(before != WSP_STATE_HANDSHAKE,
                        "frame event before the handshake completed");
            FUZZ_CHECKF(!p->saw_close, "event %d after the peer's close",
                        (int)ev.type);
            const uint8_t *bytes;
            size_t nbytes;
            event_bytes(&ev, &bytes, &nbytes);
            if (ev.type == WSP_EV_DATA && p->inflate_buffer &&
                !in_range(bytes, nbytes, win, consumed)) {
                /* inflated output, in the connection's own buffer */
                FUZZ_CHECKF(nbytes <= p->inflate_buffer,
                            "inflated event of %zu bytes, buffer_size %zu",
                            nbytes, p->inflate_buffer);
                FUZZ_CHECK(bytes != NULL || nbytes == 0);
                (void)touch(bytes, nbytes);
            } else {
                FUZZ_CHECKF(in_range(bytes, nbytes, win, consumed),
                            "event %d payload is not inside the consumed input",
                            (int)ev.type);
            }
        }
        switch (ev.type) {
        case WSP_EV_NONE: {
            size_t kept = len - consumed;
            wsp_state st = wsp_conn_state(p->conn);
            size_t bound = st == WSP_STATE_HANDSHAKE
                               ? (p->cfg.max_header_bytes
                                      ? p->cfg.max_header_bytes
                                      : WSP_DEFAULT_MAX_HEADER_BYTES)
                               : WSP_MIN_RECV_BUFFER;
            FUZZ_CHECKF(kept <= bound,
                        "kept back %zu bytes in state %d, promised <= %zu",
                        kept, (int)st, bound);
            break;
        }
        case WSP_EV_REQUEST:
            FUZZ_CHECK(before == WSP_STATE_HANDSHAKE);
            answer_request(p, &ev);
            break;
        case WSP_EV_RESPONSE:
            FUZZ_CHECK(before == WSP_STATE_HANDSHAKE);
            got_response(p, &ev);
            break;
        case WSP_EV_DATA:
            got_data(p, &ev);
            break;
        case WSP_EV_PING:
        case WSP_EV_PONG:
            FUZZ_CHECK(ev.u.control.len <= WSP_MAX_CONTROL_PAYLOAD);
            if (ev.type == WSP_EV_PING) {
                if (ev.u.control.len)
                    memcpy(p->ping, ev.u.control.payload, ev.u.control.len);
                p->ping_len = ev.u.control.len;
                p->ping_seen = 1;
            }
            fuzz_log(&p->events,
                     ev.type == WSP_EV_PING ? FUZZ_REC_PING : FUZZ_REC_PONG, 0,
                     0, ev.u.control.payload, ev.u.control.len);
            break;
        case WSP_EV_CLOSE:
            FUZZ_CHECK(ev.u.close.reason_len <= WSP_MAX_CONTROL_PAYLOAD - 2);
            FUZZ_CHECKF(ev.u.close.code == 1005
                            ? ev.u.close.reason_len == 0
                            : fuzz_close_code_sendable(ev.u.close.code),
                        "close event with code %u", ev.u.close.code);
            FUZZ_CHECKF(fuzz_utf8_complete((const uint8_t *)ev.u.close.reason,
                                           ev.u.close.reason_len),
                        "close reason is not UTF-8");
            p->saw_close = 1;
            fuzz_log(&p->events, FUZZ_REC_CLOSE, ev.u.close.code, 0,
                     ev.u.close.reason, ev.u.close.reason_len);
            break;
        default:
            fuzz_fail(__FILE__, __LINE__, "unexpected event %d", (int)ev.type);
        }
    }
    *evp = ev;
    *rcp = rc;
    p->fed += consumed;
    free(win);
    peer_flush(p);
    if (p->events.len != log_before)
        p->records++;
    if (p->close_after && !p->app_closed && p->records >= p->close_after)
        app_close(p);
    if (wsp_conn_should_close_transport(p->conn))
        FUZZ_CHECK(wsp_conn_state(p->conn) == WSP_STATE_CLOSED &&
                   wsp_conn_pending_size(p->conn) == 0);
    return consumed;
}

/* An event that used no input and delivered no bytes must not repeat
 * forever (inflated output may come from calls that use no input). */
static void progress(fuzz_peer *p, const wsp_event *ev, size_t used,
                     unsigned *idle)
{
    int out = ev->type == WSP_EV_DATA && ev->u.data.len > 0;
    *idle = used || out ? 0 : *idle + 1;
    FUZZ_CHECKF(*idle < 8, "recv makes no progress at offset %llu",
                (unsigned long long)p->fed);
}

void fuzz_peer_feed(fuzz_peer *p, const uint8_t *data, size_t total,
                    fuzz_chunker *ch)
{
    size_t pos = 0, avail = 0;
    int need_more = 1, last_event = 0;
    unsigned idle = 0;
    while (!p->failed) {
        wsp_event ev;
        int rc;
        size_t used;
        if (need_more) {
            size_t c;
            if (avail == total) {
                /* the last call gave an event: ask again with whatever is
                 * left (possibly nothing) until it says WSP_EV_NONE, as a
                 * compressed message may have more output pending */
                if (!last_event ||
                    wsp_conn_state(p->conn) == WSP_STATE_CLOSED)
                    break;
                used = peer_step(p, data + pos, avail - pos, &ev, &rc);
                pos += used;
                last_event = ev.type != WSP_EV_NONE && rc != WSP_ERR_CLOSED;
                progress(p, &ev, used, &idle);
                continue;
            }
            c = fuzz_chunker_next(ch);
            avail += c < total - avail ? c : total - avail;
            need_more = 0;
        }
        if (avail == pos) {
            need_more = 1;
            continue;
        }
        used = peer_step(p, data + pos, avail - pos, &ev, &rc);
        pos += used;
        if (ev.type == WSP_EV_NONE || rc == WSP_ERR_CLOSED) {
            need_more = 1;
            last_event = 0;
            idle = 0;
        } else {
            last_event = 1;
            progress(p, &ev, used, &idle);
        }
    }
    if (p->failed) {
        /* the error must stick, whatever follows */
        static const uint8_t junk[] = {0x81, 0x00};
        wsp_event ev;
        int rc;
        if (pos < total)
            (void)peer_step(p, data + pos, total - pos, &ev, &rc);
        else
            (void)peer_step(p, junk, sizeof junk, &ev, &rc);
    }
}

void fuzz_peer_finish(fuzz_peer *p)
{
    wsp_error_info info;
    uint8_t d[11];
    int i;
    memset(&info, 0, sizeof info);
    FUZZ_CHECK(wsp_conn_error(p->conn, &info) == WSP_OK);
    if (p->failed) {
        FUZZ_CHECK(info.status == p->fail_status);
        FUZZ_CHECKF(info.close_code == p->fail_code,
                    "wsp_conn_error says close code %u was sent, the failure "
                    "event said %u",
                    info.close_code, p->fail_code);
    } else {
        /* a refused 101 is reported through the RESPONSE event, and the
         * connection keeps it as its error */
        FUZZ_CHECKF(info.status == WSP_OK ||
                        (p->cfg.role == WSP_ROLE_CLIENT &&
                         info.status == p->request_status),
                    "error %d without a failure event", info.status);
    }
    FUZZ_CHECK(wsp_conn_pending_size(p->conn) == 0);
    for (i = 0; i < 8; i++)
        d[i] = (uint8_t)(fuzz_logged_offset(p, info.status, info.offset) >>
                         (56 - 8 * i));
    d[8] = (uint8_t)fuzz_logged_code(p, info.status, info.close_code);
    d[9] = (uint8_t)(fuzz_logged_code(p, info.status, info.close_code) >> 8);
    d[10] = (uint8_t)wsp_conn_should_close_transport(p->conn);
    fuzz_log(&p->events, FUZZ_REC_FINAL, (uint32_t)wsp_conn_state(p->conn),
             fuzz_logged_status(p, info.status), d, sizeof d);
}

void fuzz_client_request(fuzz_peer *p, const wsp_client_options *opts,
                         fuzz_buf *req, char accept[WSP_ACCEPT_LEN + 1])
{
    uint8_t small[1];
    size_t need = 0, out_len = 0, consumed = 0;
    wsp_request r;
    wsp_upgrade_info info;
    int rc;

    p->client_opts = opts;
    need = 12345;
    rc = wsp_conn_client_request(p->conn, opts, small, 0, &need);
    FUZZ_CHECKF(rc == WSP_ERR_BUFFER_TOO_SMALL && need == 0, "request sizing: %d", rc);
    /* Refused whole: the same call works once the buffer is large enough. */
    need = 16384;
    req->p = realloc(req->p, need);
    FUZZ_CHECK(req->p != NULL);
    req->cap = need;
    rc = wsp_conn_client_request(p->conn, opts, req->p, need, &out_len);
    FUZZ_CHECKF(rc == WSP_OK && out_len > 0 && out_len < need, "client request: %d", rc);
    req->len = out_len;
    FUZZ_CHECK(wsp_conn_state(p->conn) == WSP_STATE_HANDSHAKE);
    /* a second request is refused */
    FUZZ_CHECK(wsp_conn_client_request(p->conn, opts, small, 0, &need) ==
               WSP_ERR_STATE);

    rc = wsp_http_parse_request((const char *)req->p, req->len, 0, 0, &r,
                                &consumed);
    FUZZ_CHECKF(rc == WSP_OK && consumed == req->len,
                "own request does not parse: %d", rc);
    rc = wsp_upgrade_validate(&r, NULL, &info);
    FUZZ_CHECKF(rc == WSP_OK, "own request is not a valid upgrade: %d", rc);
    memcpy(accept, info.accept, WSP_ACCEPT_LEN + 1);
    FUZZ_CHECK(info.host_len == strlen(opts->host) &&
               memcmp(info.host, opts->host, info.host_len) == 0);
    if (opts->subprotocol_count > 0) {
        size_t pos = 0, lpos = 0, n = 0, ilen;
        const char *item;
        while (wsp_upgrade_next_subprotocol(&info.headers, &pos, &lpos, &item,
                                            &ilen) == WSP_OK) {
            FUZZ_CHECK(n < opts->subprotocol_count);
            FUZZ_CHECK(ilen == strlen(opts->subprotocols[n]) &&
                       memcmp(item, opts->subprotocols[n], ilen) == 0);
            n++;
        }
        FUZZ_CHECK(n == opts->subprotocol_count);
    }
}

/* ---- fuzz_server_frames / fuzz_client_frames ----------------------- */

/* Input layout:
 *   [0] flags: bit0 do the HTTP handshake first (else start_open),
 *              bit1 no_auto_pong, bit2 offer/echo subprotocol "chat",
 *              bits3-5 the application calls wsp_conn_close once the event
 *              log holds that many records (0: never)
 *   [1] max_frame_payload  [2] max_message  [3] max_fragments (fuzz_limit)
 *   [4..7] chunk sizes
 *   [8..] bytes from the peer */
static const char fuzz_server_request[] =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

static void run_frames(wsp_role role, const wsp_config *cfg, int handshake,
                       int subproto, size_t close_after, const uint8_t *body,
                       size_t body_len,
                       fuzz_chunker *ch, fuzz_peer *p)
{
    static const char *const protos[] = {"chat"};
    wsp_client_options co;
    fuzz_buf in = {0}, req = {0};
    memset(&co, 0, sizeof co);
    co.host = "server.example.com";
    co.target = "/chat";
    co.subprotocols = protos;
    co.subprotocol_count = subproto ? 1 : 0;

    fuzz_peer_init(p, cfg, 0, 1);
    p->echo_subprotocol = subproto;
    p->close_after = close_after;
    if (handshake && role == WSP_ROLE_SERVER) {
        fuzz_buf_put(&in, fuzz_server_request, sizeof fuzz_server_request - 1);
    } else if (handshake) {
        char accept[WSP_ACCEPT_LEN + 1];
        char resp[256];
        int n;
        fuzz_client_request(p, &co, &req, accept);
        n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n%s\r\n",
                     accept,
                     subproto ? "Sec-WebSocket-Protocol: chat\r\n" : "");
        FUZZ_CHECK(n > 0 && (size_t)n < sizeof resp);
        fuzz_buf_put(&in, resp, (size_t)n);
    }
    fuzz_buf_put(&in, body, body_len);
    fuzz_peer_feed(p, in.p, in.len, ch);
    if (handshake)
        FUZZ_CHECKF(p->request_status == WSP_OK,
                    "canned handshake failed: %d", p->request_status);
    fuzz_peer_finish(p);
    fuzz_buf_free(&in);
    fuzz_buf_free(&req);
}

int fuzz_frames_main(wsp_role role, const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size, 0};
    uint8_t flags = fuzz_u8(&in);
    wsp_config cfg;
    fuzz_chunker whole, chunked;
    fuzz_peer a, b;
    int handshake = flags & 1, subproto = (flags >> 2) & 1;
    size_t close_after = (flags >> 3) & 7u;
    const uint8_t *body;
    size_t body_len;

    memset(&cfg, 0, sizeof cfg);
    cfg.role = role;
    cfg.start_open = !handshake;
    cfg.no_auto_pong = (flags >> 1) & 1;
    cfg.max_frame_payload = fuzz_limit(fuzz_u8(&in));
    cfg.max_message = fuzz_limit(fuzz_u8(&in));
    cfg.max_fragments = (uint32_t)fuzz_limit(fuzz_u8(&in));
    fuzz_chunker_read(&chunked, &in);
    fuzz_chunker_whole(&whole);
    body = fuzz_take(&in, SIZE_MAX, &body_len);

    run_frames(role, &cfg, handshake, subproto, close_after, body,
               body_len, &whole, &a);
    run_frames(role, &cfg, handshake, subproto, close_after, body,
               body_len, &chunked, &b);
    fuzz_log_same(&a.events, &b.events, "event logs (whole vs chunked)");
    fuzz_log_same(&a.out, &b.out, "queued output (whole vs chunked)");
    fuzz_peer_free(&a);
    fuzz_peer_free(&b);
    return 0;
}
