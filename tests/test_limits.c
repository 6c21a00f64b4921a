/* Security guarantees of the connection that hold whatever the peer does:
 * bounded pending output under a ping flood (RFC 6455 5.5.3), fragment,
 * header and close-reason limits, a fixed-size connection that allocates
 * nothing while receiving, and clean failure when the entropy source fails
 * (RFC 6455 10.3: masks must be unpredictable, so there is no fallback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_support.h"
#include "wsproto.h"

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* ------------------------------------------------------------------------
 * An entropy source that works for `ok_calls` more calls (negative: always)
 * and then fails, counting calls and remembering the last length asked.
 * ---------------------------------------------------------------------- */
typedef struct ent {
    uint64_t state;
    long ok_calls;
    size_t calls;
    size_t last_len;
} ent;

static int ent_fn(uint8_t *buf, size_t len, void *user)
{
    ent *e = user;
    e->calls++;
    e->last_len = len;
    if (e->ok_calls == 0) return -1;
    if (e->ok_calls > 0) e->ok_calls--;
    return wsp_test_entropy(buf, len, &e->state);
}

static void ent_init(ent *e, long ok_calls)
{
    memset(e, 0, sizeof *e);
    e->state = wsp_test_rng_seed(7);
    e->ok_calls = ok_calls;
}

/* ------------------------------------------------------------------------
 * A growable byte stream.
 * ---------------------------------------------------------------------- */
typedef struct stream {
    uint8_t *b;
    size_t n, cap;
} stream;

static void st_reserve(stream *s, size_t extra)
{
    if (s->n + extra <= s->cap) return;
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->n + extra) cap *= 2;
    s->b = realloc(s->b, cap);
    assert_non_null(s->b);
    s->cap = cap;
}

/* Appends a frame (masked when from_client); returns its offset. */
static size_t st_frame(stream *s, uint8_t b0, int from_client,
                       const void *payload, size_t len)
{
    size_t at = s->n;
    st_reserve(s, len + WSP_MAX_FRAME_HEADER);
    s->n += wsp_test_frame(s->b + s->n, s->cap - s->n, b0,
                           from_client ? mask_key : NULL, payload, len);
    return at;
}

static void st_free(stream *s)
{
    free(s->b);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------------
 * Feeding: runs wsp_conn_recv over data honouring the contract (unconsumed
 * bytes are passed again, followed by more), in chunks of random size, and
 * checks the pending-output bound after every call.
 * ---------------------------------------------------------------------- */
typedef struct feed_result {
    int rc;               /* the first non-OK status, or WSP_OK */
    wsp_event fail;       /* the failure event, if any */
    size_t fail_at;       /* bytes fed (consumed + held) when it failed */
    size_t pings, pongs, data, messages, closes, requests;
    uint64_t data_bytes;
    uint8_t last_ping[WSP_MAX_CONTROL_PAYLOAD];
    size_t last_ping_len;
    size_t max_pending;
    uint16_t close_code;
    size_t close_reason_len;
} feed_result;

static void feed(wsp_conn *c, uint8_t *data, size_t len, uint64_t seed,
                 size_t max_chunk, feed_result *r)
{
    memset(r, 0, sizeof *r);
    uint64_t rng = wsp_test_rng_seed(seed);
    size_t start = 0; /* first byte not consumed */
    size_t avail = 0; /* bytes delivered so far */
    while (r->rc == WSP_OK) {
        if (avail < len) {
            size_t k = 1 + wsp_test_rng_below(&rng, max_chunk);
            avail = avail + k > len ? len : avail + k;
        }
        for (;;) {
            size_t used = 0;
            wsp_event ev;
            memset(&ev, 0, sizeof ev);
            int rc = wsp_conn_recv(c, data + start, avail - start, &used, &ev);
            start += used;
            size_t p = wsp_conn_pending_size(c);
            assert_true(p <= WSP_MAX_PENDING);
            if (p > r->max_pending) r->max_pending = p;
            /* After a completed close handshake the connection reports
             * WSP_ERR_CLOSED: the end of the stream, not a failure. */
            if (rc == WSP_ERR_CLOSED && ev.type != WSP_EV_FAILURE &&
                r->closes > 0)
                return;
            if (rc != WSP_OK) {
                r->rc = rc;
                r->fail = ev;
                r->fail_at = avail;
                break;
            }
            if (ev.type == WSP_EV_NONE) break;
            switch (ev.type) {
            case WSP_EV_PING:
                r->pings++;
                assert_true(ev.u.control.len <= WSP_MAX_CONTROL_PAYLOAD);
                if (ev.u.control.len) memcpy(r->last_ping, ev.u.control.payload, ev.u.control.len);
                r->last_ping_len = ev.u.control.len;
                break;
            case WSP_EV_PONG: r->pongs++; break;
            case WSP_EV_DATA:
                r->data++;
                r->data_bytes += ev.u.data.len;
                if (ev.u.data.flags & WSP_DATA_LAST) r->messages++;
                break;
            case WSP_EV_CLOSE:
                r->closes++;
                r->close_code = ev.u.close.code;
                r->close_reason_len = ev.u.close.reason_len;
                break;
            case WSP_EV_REQUEST: r->requests++; break;
            default: break;
            }
            if (ev.type == WSP_EV_REQUEST) {
                r->rc = WSP_OK;
                return; /* the caller answers it */
            }
        }
        /* Everything delivered and the library said WSP_EV_NONE. */
        if (avail == len) break;
    }
}

static wsp_conn *open_conn(wsp_role role, wsp_config *cfg_in, ent *e)
{
    wsp_config cfg;
    if (cfg_in)
        cfg = *cfg_in;
    else
        memset(&cfg, 0, sizeof cfg);
    cfg.role = role;
    cfg.start_open = 1;
    if (e) {
        cfg.entropy = ent_fn;
        cfg.entropy_user = e;
    }
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    return c;
}

/* Parses one frame at out[0..n); unmasks its payload in place. */
static size_t parse_frame(uint8_t *out, size_t n, wsp_frame_header *h,
                          uint8_t **payload)
{
    assert_int_equal(wsp_frame_parse_header(out, n, h), WSP_OK);
    assert_true(h->header_len + h->payload_len <= n);
    *payload = out + h->header_len;
    if (h->masked) wsp_mask(*payload, (size_t)h->payload_len, h->mask_key, 0);
    return h->header_len + (size_t)h->payload_len;
}

static void ping_payload(size_t i, uint8_t *p, size_t *len)
{
    *len = i % (WSP_MAX_CONTROL_PAYLOAD + 1);
    for (size_t k = 0; k < *len; k++) p[k] = (uint8_t)(i * 31u + k);
}

/* ---- the connection itself ----------------------------------------------- */

static void test_conn_size(void **state)
{
    (void)state;
    assert_true(wsp_conn_size() <= 256);
    assert_true(WSP_MAX_PENDING >= 2 * (WSP_MAX_FRAME_HEADER +
                                        WSP_MAX_CONTROL_PAYLOAD));
}

/* ---- ping flood ------------------------------------------------------------ */

/* 20000 pings, never flushed: pending output stays at one pong, the one
 * for the latest ping; the connection allocates nothing. */
static void ping_flood(wsp_role role, uint64_t seed)
{
    enum { PINGS = 20000 };
    wsp_test_alloc stats;
    memset(&stats, 0, sizeof stats);
    stats.fail_after = -1;
    wsp_allocator a = {wsp_test_malloc, wsp_test_realloc, wsp_test_free,
                       &stats};
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.allocator = &a;
    ent e;
    ent_init(&e, -1);
    wsp_conn *c = open_conn(role, &cfg, &e);
    size_t allocs_after_new = stats.total_allocs;

    stream st = {NULL, 0, 0};
    uint8_t p[WSP_MAX_CONTROL_PAYLOAD];
    size_t pl = 0;
    for (size_t i = 0; i < PINGS; i++) {
        ping_payload(i, p, &pl);
        st_frame(&st, 0x89, role == WSP_ROLE_SERVER, p, pl);
    }
    feed_result r;
    feed(c, st.b, st.n, seed, 4096, &r);
    assert_int_equal(r.rc, WSP_OK);
    assert_int_equal(r.pings, PINGS);
    assert_true(r.max_pending <= WSP_MAX_PENDING);
    /* The connection holds exactly one pong: the latest ping's. */
    size_t hdr = role == WSP_ROLE_CLIENT ? 6u : 2u;
    assert_int_equal(wsp_conn_pending_size(c), hdr + pl);
    assert_int_equal(stats.total_allocs, allocs_after_new);

    uint8_t out[WSP_MAX_PENDING];
    size_t n = 0;
    size_t calls = e.calls;
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_OK);
    assert_int_equal(n, hdr + pl);
    wsp_frame_header h;
    uint8_t *payload;
    assert_int_equal(parse_frame(out, n, &h, &payload), n);
    assert_int_equal(h.opcode, WSP_OP_PONG);
    assert_int_equal(h.fin, 1);
    assert_int_equal(h.masked, role == WSP_ROLE_CLIENT);
    assert_int_equal(h.payload_len, pl);
    assert_memory_equal(payload, p, pl);
    /* A client masks the pong with one fresh key. */
    assert_int_equal(e.calls - calls, role == WSP_ROLE_CLIENT ? 1u : 0u);
    assert_int_equal(wsp_conn_pending_size(c), 0);
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_OK);
    assert_int_equal(n, 0);
    st_free(&st);
    wsp_conn_free(c);
    assert_int_equal(stats.live_blocks, 0);
}

static void test_ping_flood_server(void **state)
{
    (void)state;
    ping_flood(WSP_ROLE_SERVER, 1);
    ping_flood(WSP_ROLE_SERVER, 2);
}

static void test_ping_flood_client(void **state)
{
    (void)state;
    ping_flood(WSP_ROLE_CLIENT, 3);
}

/* The largest pending output: a 125-byte pong plus the reply to the peer's
 * close; or, after a failure, the failure's close alone (the pong is
 * dropped: nothing may follow a close). */
static void test_pending_worst_case(void **state)
{
    (void)state;
    for (int role = 0; role <= 1; role++) {
        ent e;
        ent_init(&e, -1);
        wsp_conn *c = open_conn((wsp_role)role, NULL, &e);
        int from_client = role == WSP_ROLE_SERVER;
        stream st = {NULL, 0, 0};
        uint8_t p[WSP_MAX_CONTROL_PAYLOAD];
        memset(p, 'p', sizeof p);
        st_frame(&st, 0x89, from_client, p, sizeof p);
        uint8_t cl[WSP_MAX_CONTROL_PAYLOAD];
        cl[0] = 0x03;
        cl[1] = 0xe8; /* 1000 */
        memset(cl + 2, 'r', sizeof cl - 2);
        st_frame(&st, 0x88, from_client, cl, sizeof cl);
        feed_result r;
        feed(c, st.b, st.n, 11, 64, &r);
        assert_int_equal(r.rc, WSP_OK);
        assert_int_equal(r.closes, 1);
        assert_int_equal(r.close_code, 1000);
        assert_int_equal(r.close_reason_len, 123);
        size_t pend = wsp_conn_pending_size(c);
        assert_true(pend <= WSP_MAX_PENDING);
        uint8_t out[WSP_MAX_PENDING];
        size_t n = 0;
        assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_OK);
        assert_int_equal(n, pend);
        wsp_frame_header h;
        uint8_t *pay;
        size_t k = parse_frame(out, n, &h, &pay);
        assert_int_equal(h.opcode, WSP_OP_PONG); /* the pong goes first */
        assert_int_equal(h.payload_len, sizeof p);
        k += parse_frame(out + k, n - k, &h, &pay);
        assert_int_equal(h.opcode, WSP_OP_CLOSE);
        assert_int_equal(pay[0] << 8 | pay[1], 1000);
        assert_int_equal(k, n);
        assert_int_equal(wsp_conn_state(c), WSP_STATE_CLOSED);
        st_free(&st);
        wsp_conn_free(c);

        /* Pings, then a failure: only the failure's close is pending. */
        c = open_conn((wsp_role)role, NULL, &e);
        memset(&st, 0, sizeof st);
        for (int i = 0; i < 100; i++) st_frame(&st, 0x89, from_client, p, sizeof p);
        st_frame(&st, 0x81, from_client, "\xff", 1);
        feed(c, st.b, st.n, 12, 300, &r);
        assert_int_equal(r.rc, WSP_ERR_PROTO_UTF8);
        assert_int_equal(r.fail.u.failure.close_code, 1007);
        pend = wsp_conn_pending_size(c);
        assert_true(pend <= WSP_MAX_PENDING);
        assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_OK);
        k = parse_frame(out, n, &h, &pay);
        assert_int_equal(k, n);
        assert_int_equal(h.opcode, WSP_OP_CLOSE);
        assert_int_equal(pay[0] << 8 | pay[1], 1007);
        assert_true(wsp_conn_should_close_transport(c));
        st_free(&st);
        wsp_conn_free(c);
    }
}

/* ---- fragments -------------------------------------------------------------- */

/* Appends a binary message of `count` one-byte fragments, with a ping
 * between fragments when `pings` (control frames are not fragments); the
 * last has FIN when `fin`. Returns the offset of the last frame. */
static size_t st_fragments(stream *st, size_t count, int pings, int fin)
{
    size_t last = 0;
    for (size_t i = 0; i < count; i++) {
        uint8_t b0 = (uint8_t)((i == 0 ? 0x02 : 0x00) |
                               (fin && i + 1 == count ? 0x80 : 0x00));
        uint8_t byte = (uint8_t)i;
        last = st_frame(st, b0, 1, &byte, 1);
        if (pings && i + 1 < count) st_frame(st, 0x89, 1, "p", 1);
    }
    return last;
}

static void fragments_case(uint32_t cfg_limit, uint32_t limit, int pings)
{
    wsp_test_alloc stats;
    memset(&stats, 0, sizeof stats);
    stats.fail_after = -1;
    wsp_allocator a = {wsp_test_malloc, wsp_test_realloc, wsp_test_free,
                       &stats};
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_fragments = cfg_limit;
    cfg.allocator = &a;

    /* Two messages of exactly `limit` fragments: the count restarts. */
    wsp_conn *c = open_conn(WSP_ROLE_SERVER, &cfg, NULL);
    stream st = {NULL, 0, 0};
    st_fragments(&st, limit, pings, 1);
    st_fragments(&st, limit, pings, 1);
    feed_result r;
    feed(c, st.b, st.n, limit, 8192, &r);
    assert_int_equal(r.rc, WSP_OK);
    assert_int_equal(r.messages, 2);
    assert_int_equal(r.data_bytes, 2u * limit);
    assert_int_equal(r.pings, pings ? 2u * (limit - 1) : 0u);
    wsp_conn_free(c);
    st_free(&st);

    /* One more: refused with 1009 at the header of fragment limit + 1,
     * before its payload; the rest of the stream is never looked at. */
    c = open_conn(WSP_ROLE_SERVER, &cfg, NULL);
    size_t allocs = stats.total_allocs;
    st_fragments(&st, limit, pings, 0);
    size_t first_bad = st.n;
    /* ...and the message goes on: a million fragments in all. */
    for (size_t i = limit; i < 1000000u; i++)
        st_frame(&st, 0x00, 1, "z", 1);
    feed(c, st.b, st.n, limit + 1u, 8192, &r);
    assert_int_equal(r.rc, WSP_ERR_PROTO_TOO_MANY_FRAGMENTS);
    assert_int_equal(r.fail.type, WSP_EV_FAILURE);
    assert_int_equal(r.fail.u.failure.close_code, 1009);
    assert_int_equal(r.fail.u.failure.offset, first_bad);
    assert_int_equal(r.data_bytes, limit);
    assert_int_equal(stats.total_allocs, allocs); /* no memory growth */
    uint8_t out[WSP_MAX_PENDING];
    size_t n = 0;
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_OK);
    wsp_frame_header h;
    uint8_t *pay;
    assert_int_equal(parse_frame(out, n, &h, &pay), n);
    assert_int_equal(h.opcode, WSP_OP_CLOSE);
    assert_int_equal(pay[0] << 8 | pay[1], 1009);
    assert_true(wsp_conn_should_close_transport(c));
    /* Sticky: more input gets the same status. */
    size_t used;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(c, st.b + first_bad, 7, &used, &ev),
                     WSP_ERR_PROTO_TOO_MANY_FRAGMENTS);
    wsp_conn_free(c);
    st_free(&st);
    assert_int_equal(stats.live_blocks, 0);
}

static void test_max_fragments(void **state)
{
    (void)state;
    fragments_case(1, 1, 0);
    fragments_case(16, 16, 1);
    fragments_case(1000, 1000, 0);
}

static void test_max_fragments_default(void **state)
{
    (void)state;
    fragments_case(0, WSP_DEFAULT_MAX_FRAGMENTS, 0);
}

/* ---- HTTP head limits ----------------------------------------------------------- */

/* An upgrade request with `extra` more header lines, the last padded so
 * that the head is `total` bytes long (0: no padding). */
static size_t build_request(char *buf, size_t cap, size_t extra, size_t total)
{
    static const char base[] =
        "GET / HTTP/1.1\r\n"
        "Host: h.test\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n";
    size_t n = strlen(base);
    assert_true(n < cap);
    memcpy(buf, base, n);
    for (size_t i = 0; i < extra; i++) {
        int k = snprintf(buf + n, cap - n, "X-%zu: v\r\n", i);
        assert_true(k > 0 && (size_t)k < cap - n);
        n += (size_t)k;
    }
    if (total) {
        /* "X-Pad: " + pad + CRLF + CRLF */
        assert_true(total >= n + 7 + 4 && total < cap);
        memcpy(buf + n, "X-Pad: ", 7);
        n += 7;
        while (n < total - 4) buf[n++] = 'a';
        memcpy(buf + n, "\r\n", 2);
        n += 2;
    }
    memcpy(buf + n, "\r\n", 2);
    return n + 2;
}

static wsp_conn *server_hs(uint32_t max_bytes, uint32_t max_headers)
{
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_header_bytes = max_bytes;
    cfg.max_headers = max_headers;
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    return c;
}

static void expect_http(wsp_conn *c, int status)
{
    uint8_t out[WSP_MAX_PENDING];
    size_t n = 0;
    assert_true(wsp_conn_pending_size(c) <= WSP_MAX_PENDING);
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_OK);
    wsp_response resp;
    size_t used = 0;
    assert_int_equal(wsp_http_parse_response((const char *)out, n, 0, 0,
                                             &resp, &used), WSP_OK);
    assert_int_equal(resp.status, status);
    assert_int_equal(used, n);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_CLOSED);
    assert_true(wsp_conn_should_close_transport(c));
}

static void test_header_count(void **state)
{
    (void)state;
    char req[2048];
    /* The five a valid upgrade needs plus one: at a limit of 6, fine. */
    size_t n = build_request(req, sizeof req, 1, 0);
    wsp_conn *c = server_hs(0, 6);
    feed_result r;
    feed(c, (uint8_t *)req, n, 1, 16, &r);
    assert_int_equal(r.rc, WSP_OK);
    assert_int_equal(r.requests, 1);
    wsp_conn_free(c);
    /* Seven: 431. */
    n = build_request(req, sizeof req, 2, 0);
    c = server_hs(0, 6);
    feed(c, (uint8_t *)req, n, 2, 16, &r);
    assert_int_equal(r.rc, WSP_ERR_HTTP_TOO_LARGE);
    assert_int_equal(r.fail.u.failure.close_code, 0);
    expect_http(c, 431);
    wsp_conn_free(c);
    /* Endless header lines trickled one byte at a time fail as soon as
     * the count is passed, without waiting for the end of the head. */
    n = build_request(req, sizeof req, 40, 0) - 2; /* no final CRLF */
    c = server_hs(0, 6);
    feed(c, (uint8_t *)req, n, 3, 1, &r);
    assert_int_equal(r.rc, WSP_ERR_HTTP_TOO_LARGE);
    assert_true(r.fail_at < n);
    expect_http(c, 431);
    wsp_conn_free(c);
    /* The default count. */
    n = build_request(req, sizeof req, WSP_DEFAULT_MAX_HEADERS - 5, 0);
    c = server_hs(0, 0);
    feed(c, (uint8_t *)req, n, 4, 64, &r);
    assert_int_equal(r.rc, WSP_OK);
    assert_int_equal(r.requests, 1);
    wsp_conn_free(c);
    n = build_request(req, sizeof req, WSP_DEFAULT_MAX_HEADERS - 4, 0);
    c = server_hs(0, 0);
    feed(c, (uint8_t *)req, n, 5, 64, &r);
    assert_int_equal(r.rc, WSP_ERR_HTTP_TOO_LARGE);
    expect_http(c, 431);
    wsp_conn_free(c);
}

static void test_header_bytes(void **state)
{
    (void)state;
    static char req[WSP_DEFAULT_MAX_HEADER_BYTES + 64];
    const uint32_t limits[] = {256, 1024, 0};
    for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
        size_t max = limits[li] ? limits[li] : WSP_DEFAULT_MAX_HEADER_BYTES;
        /* A head of exactly the limit passes. */
        size_t n = build_request(req, sizeof req, 0, max);
        assert_int_equal(n, max);
        wsp_conn *c = server_hs(limits[li], 0);
        feed_result r;
        feed(c, (uint8_t *)req, n, li, 100, &r);
        assert_int_equal(r.rc, WSP_OK);
        assert_int_equal(r.requests, 1);
        wsp_conn_free(c);
        /* One byte more: 431. */
        n = build_request(req, sizeof req, 0, max + 1);
        c = server_hs(limits[li], 0);
        feed(c, (uint8_t *)req, n, li, 100, &r);
        assert_int_equal(r.rc, WSP_ERR_HTTP_TOO_LARGE);
        expect_http(c, 431);
        wsp_conn_free(c);
        /* A head that never ends, trickled a byte at a time: refused once
         * the caller holds max bytes (it can no longer end within the
         * limit), so no caller buffer needs more. */
        n = build_request(req, sizeof req, 0, max + 40) - 4;
        c = server_hs(limits[li], 0);
        feed(c, (uint8_t *)req, n, li, 1, &r);
        assert_int_equal(r.rc, WSP_ERR_HTTP_TOO_LARGE);
        assert_true(r.fail_at >= max && r.fail_at <= max + 1);
        expect_http(c, 431);
        wsp_conn_free(c);
    }
}

/* ---- close reason ------------------------------------------------------------ */

static void test_close_reason_length(void **state)
{
    (void)state;
    uint8_t cl[WSP_MAX_CONTROL_PAYLOAD + 1];
    cl[0] = 0x03;
    cl[1] = 0xe8;
    memset(cl + 2, 'r', sizeof cl - 2);
    /* 123 bytes of reason: the most a close frame holds. */
    wsp_conn *c = open_conn(WSP_ROLE_SERVER, NULL, NULL);
    stream st = {NULL, 0, 0};
    st_frame(&st, 0x88, 1, cl, 125);
    feed_result r;
    feed(c, st.b, st.n, 1, 200, &r);
    assert_int_equal(r.rc, WSP_OK);
    assert_int_equal(r.close_reason_len, 123);
    wsp_conn_free(c);
    st_free(&st);
    /* 124: the frame is over 125 bytes, refused at its header (1002). */
    c = open_conn(WSP_ROLE_SERVER, NULL, NULL);
    st_frame(&st, 0x88, 1, cl, 126);
    feed(c, st.b, st.n, 1, 200, &r);
    assert_int_equal(r.rc, WSP_ERR_PROTO_CONTROL_TOO_LONG);
    assert_int_equal(r.fail.u.failure.close_code, 1002);
    assert_int_equal(r.closes, 0);
    wsp_conn_free(c);
    st_free(&st);
    /* Our own close reason is held to the same bound. */
    c = open_conn(WSP_ROLE_SERVER, NULL, NULL);
    uint8_t out[256];
    size_t n = 0;
    assert_int_equal(wsp_conn_close(c, 1000, (const char *)cl + 2, 124, out,
                                    sizeof out, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_close(c, 1000, (const char *)cl + 2, 123, out,
                                    sizeof out, &n), WSP_OK);
    assert_int_equal(n, 2 + 125);
    wsp_conn_free(c);
}

/* ---- entropy ---------------------------------------------------------------- */

static int all_equal(const uint8_t *p, uint8_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

static void test_entropy_client_request(void **state)
{
    (void)state;
    ent e;
    ent_init(&e, 0);
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    cfg.entropy = ent_fn;
    cfg.entropy_user = &e;
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    wsp_client_options o;
    memset(&o, 0, sizeof o);
    o.host = "h.test";
    uint8_t out[1024];
    memset(out, 0xEE, sizeof out);
    size_t n = 12345;
    assert_int_equal(wsp_conn_client_request(c, &o, out, sizeof out, &n),
                     WSP_ERR_ENTROPY);
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.last_len, 16); /* the 16-byte nonce of RFC 6455 4.1 */
    assert_true(all_equal(out, 0xEE, sizeof out));
    assert_int_equal(wsp_conn_state(c), WSP_STATE_HANDSHAKE);
    /* No request counts as sent: a response is not accepted. */
    uint8_t resp[] = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
    size_t used = 0;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(c, resp, sizeof resp - 1, &used, &ev),
                     WSP_ERR_STATE);
    /* Once the source works again, so does the call. */
    e.ok_calls = -1;
    assert_int_equal(wsp_conn_client_request(c, &o, out, sizeof out, &n),
                     WSP_OK);
    assert_true(n > 0 && n < sizeof out);
    wsp_conn_free(c);
}

static void test_entropy_client_sends(void **state)
{
    (void)state;
    ent e;
    ent_init(&e, 0);
    wsp_conn *c = open_conn(WSP_ROLE_CLIENT, NULL, &e);
    uint8_t out[512];
    size_t n = 0;
    uint8_t payload[] = {'h', 'e', 'l', 'l', 'o'};

    memset(out, 0xEE, sizeof out);
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, payload, 5, 0, out,
                                   sizeof out, &n), WSP_ERR_ENTROPY);
    assert_true(all_equal(out, 0xEE, sizeof out));
    assert_int_equal(wsp_conn_send(c, WSP_OP_PING, payload, 5, 0, out,
                                   sizeof out, &n), WSP_ERR_ENTROPY);
    assert_true(all_equal(out, 0xEE, sizeof out));
    /* Zero-copy masks the payload in place: it must stay untouched. */
    uint8_t zc[5];
    memcpy(zc, payload, 5);
    uint8_t hdr[WSP_MAX_FRAME_HEADER];
    size_t hl = 0;
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_BINARY, zc, 5, 0, hdr,
                                            &hl), WSP_ERR_ENTROPY);
    assert_memory_equal(zc, payload, 5);
    /* Close fails and the connection stays open (no close counts as sent). */
    assert_int_equal(wsp_conn_close(c, 1000, "bye", 3, out, sizeof out, &n),
                     WSP_ERR_ENTROPY);
    assert_true(all_equal(out, 0xEE, sizeof out));
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);

    /* A queued pong cannot be flushed: the flush fails, writes nothing,
     * and the pong stays queued. */
    stream st = {NULL, 0, 0};
    st_frame(&st, 0x89, 0, "abc", 3);
    feed_result r;
    feed(c, st.b, st.n, 1, 64, &r);
    assert_int_equal(r.pings, 1);
    size_t pend = wsp_conn_pending_size(c);
    assert_int_equal(pend, 6 + 3);
    n = 777;
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_ERR_ENTROPY);
    assert_int_equal(n, 0);
    assert_true(all_equal(out, 0xEE, sizeof out));
    assert_int_equal(wsp_conn_pending_size(c), pend);

    /* The source recovers: everything works, with a fresh key per frame. */
    e.ok_calls = -1;
    size_t calls = e.calls;
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_OK);
    wsp_frame_header h;
    uint8_t *pay;
    assert_int_equal(parse_frame(out, n, &h, &pay), n);
    assert_int_equal(h.opcode, WSP_OP_PONG);
    assert_true(h.masked);
    assert_memory_equal(pay, "abc", 3);
    assert_int_equal(e.calls - calls, 1);
    assert_int_equal(e.last_len, 4);
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, payload, 5, 0, out,
                                   sizeof out, &n), WSP_OK);
    assert_int_equal(parse_frame(out, n, &h, &pay), n);
    assert_int_equal(h.opcode, WSP_OP_TEXT);
    assert_memory_equal(pay, payload, 5);

    /* The reply to the peer's close cannot be flushed either. */
    e.ok_calls = 0;
    st_free(&st);
    st_frame(&st, 0x88, 0, "\x03\xe8", 2);
    feed(c, st.b, st.n, 2, 64, &r);
    assert_int_equal(r.closes, 1);
    assert_true(wsp_conn_pending_size(c) > 0);
    memset(out, 0xEE, sizeof out);
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_ERR_ENTROPY);
    assert_int_equal(n, 0);
    assert_true(all_equal(out, 0xEE, sizeof out));
    st_free(&st);
    wsp_conn_free(c);
}

/* A send split into several frames whose key fails half-way: the call
 * fails, and the message does not count as started, so the next send
 * begins with a fresh TEXT frame, not a continuation. */
static void test_entropy_fails_mid_message(void **state)
{
    (void)state;
    ent e;
    ent_init(&e, 1);
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.send_fragment_size = 4;
    wsp_conn *c = open_conn(WSP_ROLE_CLIENT, &cfg, &e);
    uint8_t out[256];
    size_t n = 0;
    const uint8_t msg[] = "0123456789";
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, msg, 10, 0, out, sizeof out,
                                   &n), WSP_ERR_ENTROPY);
    assert_int_equal(e.calls, 2);
    e.ok_calls = -1;
    size_t calls = e.calls;
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, msg, 10, 0, out, sizeof out,
                                   &n), WSP_OK);
    assert_int_equal(e.calls - calls, 3); /* one key per frame: 4 + 4 + 2 */
    /* The output is one whole message a server accepts. */
    wsp_conn *s = open_conn(WSP_ROLE_SERVER, NULL, NULL);
    feed_result r;
    feed(s, out, n, 5, 64, &r);
    assert_int_equal(r.rc, WSP_OK);
    assert_int_equal(r.messages, 1);
    assert_int_equal(r.data_bytes, 10);
    wsp_conn_free(s);
    wsp_conn_free(c);
}

/* Masks come from the OS CSPRNG by default: a fresh key for every frame. */
static void test_entropy_system_keys(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    assert_int_equal(wsp_entropy_system(a, sizeof a, NULL), 0);
    assert_int_equal(wsp_entropy_system(b, sizeof b, NULL), 0);
    assert_memory_not_equal(a, b, sizeof a);
    wsp_conn *c = open_conn(WSP_ROLE_CLIENT, NULL, NULL);
    uint8_t keys[8][4];
    for (int i = 0; i < 8; i++) {
        uint8_t out[64];
        size_t n = 0;
        assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, (const uint8_t *)"x",
                                       1, 0, out, sizeof out, &n), WSP_OK);
        assert_int_equal(n, 7);
        assert_true(out[1] & 0x80);
        memcpy(keys[i], out + 2, 4);
    }
    int distinct = 0;
    for (int i = 1; i < 8; i++)
        if (memcmp(keys[i], keys[0], 4) != 0) distinct++;
    assert_true(distinct >= 6);
    wsp_conn_free(c);
}

/* With permessage-deflate, a compressed send whose key fails must not
 * leave the peer unable to follow the compressed stream: a retry either
 * fails cleanly or produces frames the peer inflates correctly. */
static void test_entropy_fails_compressed(void **state)
{
    (void)state;
    wsp_deflate_params agreed;
    memset(&agreed, 0, sizeof agreed);
    ent e;
    ent_init(&e, -1);
    wsp_conn *c = open_conn(WSP_ROLE_CLIENT, NULL, &e);
    wsp_conn *s = open_conn(WSP_ROLE_SERVER, NULL, NULL);
    assert_int_equal(wsp_conn_enable_deflate(c, NULL, &agreed), WSP_OK);
    assert_int_equal(wsp_conn_enable_deflate(s, NULL, &agreed), WSP_OK);
    static const char first[] =
        "the first message goes through, the first message goes through";
    static const char text[] =
        "a message that compresses well, a message that compresses well, "
        "a message that compresses well";
    size_t fl = sizeof first - 1, tl = sizeof text - 1;
    uint8_t out[1024];
    size_t n = 0;
    /* One message through, to have compression context. */
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, (const uint8_t *)first, fl,
                                   0, out, sizeof out, &n), WSP_OK);
    feed_result r;
    feed(s, out, n, 1, 64, &r);
    assert_int_equal(r.rc, WSP_OK);
    assert_int_equal(r.messages, 1);
    assert_int_equal(r.data_bytes, fl);
    /* The key fails... */
    e.ok_calls = 0;
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, (const uint8_t *)text, tl,
                                   0, out, sizeof out, &n), WSP_ERR_ENTROPY);
    /* ...then the source recovers and the application sends again. */
    e.ok_calls = -1;
    int rc = wsp_conn_send(c, WSP_OP_TEXT, (const uint8_t *)text, tl, 0, out,
                           sizeof out, &n);
    if (rc == WSP_OK) {
        /* Whatever was compressed is delivered intact. */
        static uint8_t got[1024];
        size_t got_len = 0, off = 0;
        int failed = 0;
        for (int guard = 0; guard < 64; guard++) {
            size_t used = 0;
            wsp_event ev;
            memset(&ev, 0, sizeof ev);
            int rr = wsp_conn_recv(s, out + off, n - off, &used, &ev);
            off += used;
            if (rr != WSP_OK) {
                failed = rr;
                break;
            }
            if (ev.type == WSP_EV_NONE) break;
            if (ev.type == WSP_EV_DATA && got_len + ev.u.data.len <= sizeof got) {
                memcpy(got + got_len, ev.u.data.payload, ev.u.data.len);
                got_len += ev.u.data.len;
            }
        }
        int bad = failed || got_len != tl || memcmp(got, text, tl) != 0;
        wsp_conn_free(s);
        wsp_conn_free(c);
        if (bad)
            fail_msg("resent compressed message after WSP_ERR_ENTROPY: peer "
                     "status %d, got %zu bytes \"%.*s\"", failed, got_len,
                     (int)got_len, (const char *)got);
        return;
    }
    wsp_conn_free(s);
    wsp_conn_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conn_size),
        cmocka_unit_test(test_ping_flood_server),
        cmocka_unit_test(test_ping_flood_client),
        cmocka_unit_test(test_pending_worst_case),
        cmocka_unit_test(test_max_fragments),
        cmocka_unit_test(test_max_fragments_default),
        cmocka_unit_test(test_header_count),
        cmocka_unit_test(test_header_bytes),
        cmocka_unit_test(test_close_reason_length),
        cmocka_unit_test(test_entropy_client_request),
        cmocka_unit_test(test_entropy_client_sends),
        cmocka_unit_test(test_entropy_fails_mid_message),
        cmocka_unit_test(test_entropy_system_keys),
    };
    /* The compression tests exist only in builds with permessage-deflate:
     * they are left out, not skipped, where it is absent. */
    const struct CMUnitTest deflate_tests[] = {
        cmocka_unit_test(test_entropy_fails_compressed),
    };
    int failed = cmocka_run_group_tests_name("limits", tests, NULL, NULL);
    if (wsp_deflate_available())
        failed += cmocka_run_group_tests_name("limits_deflate", deflate_tests, NULL, NULL);
    else
        print_message("permessage-deflate is not compiled in: %zu compression tests not run\n",
                      sizeof deflate_tests / sizeof deflate_tests[0]);
    return failed;
}
