/* The wsp_conn state machine against RFC 6455 (sections 4, 5, 6, 7). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h" /* the head parser's progress, for its cost */
#include "test_support.h"
#include "wsproto.h"

/* ------------------------------------------------------------------------
 * A session feeds bytes through wsp_conn_recv honouring the "unconsumed
 * bytes are presented again" contract and records a normalised event log:
 * data pieces are coalesced per message, so logs from differently split
 * input compare equal when the library behaves the same.
 * ---------------------------------------------------------------------- */
typedef struct sess {
    wsp_conn *c;
    uint64_t seed;
    wsp_test_alloc alloc_stats;
    wsp_allocator alloc;
    uint8_t *buf;
    size_t cap, have;
    int dead;
    int auto_accept;
    const wsp_accept_options *accept_opts;
    /* log */
    uint8_t *log;
    size_t log_len, log_cap;
    uint8_t *out; /* flushed frames */
    size_t out_len, out_cap;
    uint8_t http_out[4096]; /* 101 / error responses */
    size_t http_out_len;
    int open_msg;
    wsp_opcode msg_op;
    int flag_errors;
    int n_fail, fail_status;
    uint16_t fail_code;
    uint64_t fail_offset;
    int n_req, req_status, req_http;
    int n_resp, resp_status, resp_http_status;
    char subproto[64];
    int n_close;
    uint16_t close_code;
    int n_data, n_ping, n_pong, n_msgs;
    int n_other_rc, other_rc;
    uint8_t last_payload[256];
    size_t last_payload_len;
} sess;

static void lg_bytes(sess *s, const void *p, size_t n)
{
    if (s->log_len + n > s->log_cap) {
        size_t nc = (s->log_cap + n) * 2;
        s->log = realloc(s->log, nc);
        assert_non_null(s->log);
        s->log_cap = nc;
    }
    if (n) memcpy(s->log + s->log_len, p, n);
    s->log_len += n;
}

static void lg_u32(sess *s, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (56 - 8 * i));
    lg_bytes(s, b, 8);
}

static void lg_tag(sess *s, char t) { lg_bytes(s, &t, 1); }

/* Expected-log builders use the same encoding. */
static void ex_msg(sess *s, wsp_opcode op, const void *p, size_t n)
{
    lg_tag(s, '<');
    lg_u32(s, (uint64_t)op);
    lg_bytes(s, p, n);
    lg_tag(s, '>');
}
static void ex_ctl(sess *s, char tag, const void *p, size_t n)
{
    lg_tag(s, tag);
    lg_u32(s, n);
    lg_bytes(s, p, n);
}
static void ex_close(sess *s, uint16_t code, const char *reason, size_t n)
{
    lg_tag(s, 'C');
    lg_u32(s, code);
    lg_u32(s, n);
    lg_bytes(s, reason, n);
}

static sess *sess_new(const wsp_config *cfg_in)
{
    sess *s = calloc(1, sizeof *s);
    assert_non_null(s);
    wsp_config cfg;
    if (cfg_in) cfg = *cfg_in;
    else memset(&cfg, 0, sizeof cfg);
    s->seed = wsp_test_rng_seed(12345);
    if (!cfg.entropy) {
        cfg.entropy = wsp_test_entropy;
        cfg.entropy_user = &s->seed;
    }
    if (!cfg.allocator) {
        s->alloc_stats.fail_after = -1;
        s->alloc.malloc_fn = wsp_test_malloc;
        s->alloc.realloc_fn = wsp_test_realloc;
        s->alloc.free_fn = wsp_test_free;
        s->alloc.user = &s->alloc_stats;
        cfg.allocator = &s->alloc;
    }
    assert_int_equal(wsp_conn_new(&cfg, &s->c), WSP_OK);
    assert_non_null(s->c);
    s->cap = 1 << 20;
    s->buf = malloc(s->cap);
    s->out_cap = 1 << 20;
    s->out = malloc(s->out_cap);
    assert_non_null(s->buf);
    assert_non_null(s->out);
    s->auto_accept = 1;
    return s;
}

static void sess_free(sess *s)
{
    wsp_conn_free(s->c);
    assert_int_equal(s->alloc_stats.live_blocks, 0);
    free(s->buf);
    free(s->out);
    free(s->log);
    free(s);
}

static void sess_flush(sess *s)
{
    size_t n = 0;
    size_t want = wsp_conn_pending_size(s->c);
    assert_true(want <= WSP_MAX_PENDING);
    assert_int_equal(wsp_conn_flush(s->c, s->out + s->out_len,
                                    s->out_cap - s->out_len, &n), WSP_OK);
    assert_int_equal(n, want);
    s->out_len += n;
    assert_int_equal(wsp_conn_pending_size(s->c), 0);
}

static void record(sess *s, int rc, const wsp_event *ev)
{
    switch (ev->type) {
    case WSP_EV_NONE:
        break;
    case WSP_EV_REQUEST:
        s->n_req++;
        s->req_status = ev->u.request.status;
        s->req_http = ev->u.request.http_status;
        lg_tag(s, 'R');
        lg_u32(s, (uint64_t)(int64_t)ev->u.request.status);
        break;
    case WSP_EV_RESPONSE:
        s->n_resp++;
        s->resp_status = ev->u.response.status;
        s->resp_http_status = ev->u.response.response.status;
        s->subproto[0] = 0;
        if (ev->u.response.subprotocol && ev->u.response.subprotocol_len < sizeof s->subproto) {
            memcpy(s->subproto, ev->u.response.subprotocol, ev->u.response.subprotocol_len);
            s->subproto[ev->u.response.subprotocol_len] = 0;
        }
        lg_tag(s, 'S');
        lg_u32(s, (uint64_t)(int64_t)ev->u.response.status);
        break;
    case WSP_EV_DATA:
        s->n_data++;
        if (ev->u.data.len) {
            assert_true(ev->u.data.payload >= s->buf && ev->u.data.payload + ev->u.data.len <= s->buf + s->have);
        }
        if (ev->u.data.opcode != WSP_OP_TEXT && ev->u.data.opcode != WSP_OP_BINARY)
            s->flag_errors++;
        if (ev->u.data.flags & WSP_DATA_FIRST) {
            if (s->open_msg) s->flag_errors++;
            s->open_msg = 1;
            s->msg_op = ev->u.data.opcode;
            lg_tag(s, '<');
            lg_u32(s, (uint64_t)ev->u.data.opcode);
        } else {
            if (!s->open_msg || ev->u.data.opcode != s->msg_op) s->flag_errors++;
        }
        lg_bytes(s, ev->u.data.payload, ev->u.data.len);
        if (ev->u.data.flags & WSP_DATA_LAST) {
            s->open_msg = 0;
            s->n_msgs++;
            lg_tag(s, '>');
        }
        break;
    case WSP_EV_PING:
    case WSP_EV_PONG:
        if (ev->type == WSP_EV_PING) s->n_ping++;
        else s->n_pong++;
        assert_true(ev->u.control.len <= WSP_MAX_CONTROL_PAYLOAD);
        memcpy(s->last_payload, ev->u.control.payload, ev->u.control.len);
        s->last_payload_len = ev->u.control.len;
        ex_ctl(s, ev->type == WSP_EV_PING ? 'P' : 'O', ev->u.control.payload, ev->u.control.len);
        break;
    case WSP_EV_CLOSE:
        s->n_close++;
        s->close_code = ev->u.close.code;
        ex_close(s, ev->u.close.code, (const char *)ev->u.close.reason, ev->u.close.reason_len);
        break;
    case WSP_EV_FAILURE:
        s->n_fail++;
        s->fail_status = ev->u.failure.status;
        s->fail_code = ev->u.failure.close_code;
        s->fail_offset = ev->u.failure.offset;
        if (rc != ev->u.failure.status) s->flag_errors++;
        lg_tag(s, 'F');
        lg_u32(s, (uint64_t)(int64_t)ev->u.failure.status);
        lg_u32(s, ev->u.failure.close_code);
        lg_u32(s, ev->u.failure.offset);
        break;
    }
    if (rc != WSP_OK && ev->type != WSP_EV_FAILURE) {
        s->n_other_rc++;
        s->other_rc = rc;
        lg_tag(s, 'E');
        lg_u32(s, (uint64_t)(int64_t)rc);
    }
}

/* Processes what is buffered until the library wants more input. */
static void sess_drain(sess *s)
{
    for (int iter = 0; iter < 1000000 && !s->dead; iter++) {
        size_t consumed = (size_t)-1;
        wsp_event ev;
        memset(&ev, 0, sizeof ev);
        size_t had = s->have;
        int rc = wsp_conn_recv(s->c, s->buf, s->have, &consumed, &ev);
        assert_true(consumed <= s->have);
        /* A call without input after the final close says CLOSED: that is
         * not an event of the stream. */
        if (!(rc == WSP_ERR_CLOSED && had == 0)) record(s, rc, &ev);
        memmove(s->buf, s->buf + consumed, s->have - consumed);
        s->have -= consumed;
        if (ev.type == WSP_EV_REQUEST) {
            if (ev.u.request.status == WSP_OK && s->auto_accept) {
                size_t n = 0;
                assert_int_equal(wsp_conn_accept(s->c, s->accept_opts,
                                                 s->http_out + s->http_out_len,
                                                 sizeof s->http_out -
                                                     s->http_out_len,
                                                 &n), WSP_OK);
                s->http_out_len += n;
            } else {
                s->dead = 1;
            }
        }
        if (wsp_conn_state(s->c) != WSP_STATE_HANDSHAKE || rc != WSP_OK)
            sess_flush(s);
        if (rc != WSP_OK) {
            s->dead = 1;
            break;
        }
        if (ev.type == WSP_EV_NONE) {
            wsp_state st = wsp_conn_state(s->c);
            /* Only a header or a control frame may be kept back. */
            if (st == WSP_STATE_OPEN || st == WSP_STATE_CLOSING)
                assert_true(s->have < WSP_MIN_RECV_BUFFER);
            break;
        }
    }
}

static void sess_push(sess *s, const uint8_t *p, size_t n)
{
    if (s->dead) return;
    assert_true(s->have + n <= s->cap);
    memcpy(s->buf + s->have, p, n);
    s->have += n;
    sess_drain(s);
}

static void push_chunks(sess *s, const uint8_t *p, size_t n, size_t step)
{
    for (size_t off = 0; off < n; off += step)
        sess_push(s, p + off, n - off < step ? n - off : step);
}

/* Prints where two logs differ (for failure diagnostics). */
static void dump_diff(const uint8_t *g, size_t gn, const uint8_t *w, size_t wn)
{
    size_t i = 0;
    while (i < gn && i < wn && g[i] == w[i]) i++;
    print_error("logs differ at byte %zu (got %zu bytes, want %zu)\n", i, gn,
                wn);
    size_t from = i > 16 ? i - 16 : 0;
    print_error("  got : ");
    for (size_t k = from; k < gn && k < i + 32; k++) print_error("%02x", g[k]);
    print_error("\n  want: ");
    for (size_t k = from; k < wn && k < i + 32; k++) print_error("%02x", w[k]);
    print_error("\n");
}

static void expect_log(const sess *got, const sess *want)
{
    if (got->log_len != want->log_len ||
        memcmp(got->log, want->log, want->log_len) != 0) {
        dump_diff(got->log, got->log_len, want->log, want->log_len);
        fail();
    }
}

/* ---- independent decoding of the library's output frames ---------------- */
typedef struct oframe {
    uint8_t b0;
    int masked;
    uint8_t key[4];
    uint8_t payload[70000];
    size_t len;
} oframe;

static size_t decode_frame(const uint8_t *p, size_t n, oframe *f)
{
    assert_true(n >= 2);
    f->b0 = p[0];
    f->masked = p[1] >> 7;
    uint64_t len = p[1] & 0x7F;
    size_t off = 2;
    if (len == 126) {
        assert_true(n >= 4);
        len = (uint64_t)p[2] << 8 | p[3];
        assert_true(len >= 126);
        off = 4;
    } else if (len == 127) {
        assert_true(n >= 10);
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
        assert_true(len > 65535 && len < 0x8000000000000000ull);
        off = 10;
    }
    if (f->masked) {
        assert_true(n >= off + 4);
        memcpy(f->key, p + off, 4);
        off += 4;
    }
    assert_true(len <= sizeof f->payload && n >= off + len);
    for (size_t i = 0; i < len; i++)
        f->payload[i] = (uint8_t)(p[off + i] ^ (f->masked ? f->key[i % 4] : 0));
    f->len = (size_t)len;
    return off + (size_t)len;
}

static oframe g_of;

/* Serialises the frames of an output stream with payloads unmasked and
 * checks the masking matches the role. */
static size_t describe_out(const uint8_t *p, size_t n, int want_masked,
                           uint8_t *desc, size_t cap)
{
    size_t d = 0, off = 0;
    while (off < n) {
        off += decode_frame(p + off, n - off, &g_of);
        assert_int_equal(g_of.masked, want_masked);
        assert_true(d + 9 + g_of.len <= cap);
        desc[d++] = g_of.b0;
        for (int i = 0; i < 8; i++)
            desc[d++] = (uint8_t)((uint64_t)g_of.len >> (56 - 8 * i));
        memcpy(desc + d, g_of.payload, g_of.len);
        d += g_of.len;
    }
    return d;
}

/* The last frame in s->out. Returns 0 if there is none. */
static int last_out_frame(const sess *s, oframe *f)
{
    size_t off = 0;
    int found = 0;
    while (off < s->out_len) {
        off += decode_frame(s->out + off, s->out_len - off, f);
        found = 1;
    }
    return found;
}

/* ---- stream building ---------------------------------------------------- */
typedef struct stream {
    uint8_t b[200000];
    size_t n;
    uint64_t seed;
} stream;

static const uint8_t K1[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a frame; masked with a varying key when mask is set. */
static size_t st_frame(stream *st, uint8_t b0, int mask, const void *p,
                       size_t len)
{
    uint8_t key[4];
    if (mask) {
        if (!st->seed) st->seed = wsp_test_rng_seed(99);
        uint64_t r = wsp_test_rng(&st->seed);
        for (int i = 0; i < 4; i++) key[i] = (uint8_t)(r >> (8 * i));
    }
    size_t start = st->n;
    st->n += wsp_test_frame(st->b + st->n, sizeof st->b - st->n, b0,
                            mask ? key : NULL, p, len);
    return start;
}

static size_t st_close(stream *st, int mask, uint16_t code, const char *reason,
                       size_t rlen)
{
    uint8_t p[130];
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    memcpy(p + 2, reason, rlen);
    return st_frame(st, 0x88, mask, p, 2 + rlen);
}

static wsp_config cfg_for(wsp_role role, int start_open)
{
    wsp_config c;
    memset(&c, 0, sizeof c);
    c.role = role;
    c.start_open = start_open;
    return c;
}

static sess *open_sess(wsp_role role)
{
    wsp_config c = cfg_for(role, 1);
    sess *s = sess_new(&c);
    assert_int_equal(wsp_conn_state(s->c), WSP_STATE_OPEN);
    assert_int_equal(wsp_conn_role(s->c), role);
    return s;
}

/* Replays st whole, split at every byte boundary (when small enough), one
 * byte at a time and in random chunks; every run must produce the log
 * `want` (or, if want is NULL, the log of the whole run) and the same
 * unmasked output frames. */
static void replay_all(const wsp_config *cfg, const uint8_t *prefix_out,
                       const stream *st, const sess *want,
                       const wsp_accept_options *opts)
{
    (void)prefix_out;
    int masked_out = cfg->role == WSP_ROLE_CLIENT;
    sess *ref = sess_new(cfg);
    ref->accept_opts = opts;
    sess_push(ref, st->b, st->n);
    assert_int_equal(ref->flag_errors, 0);
    if (want) expect_log(ref, want);
    static uint8_t ref_desc[300000], desc[300000];
    size_t ref_dn = describe_out(ref->out, ref->out_len, masked_out, ref_desc,
                                 sizeof ref_desc);

    size_t runs = st->n <= 3000 ? st->n + 3 : 3 + 40;
    uint64_t rng = wsp_test_rng_seed(st->n);
    for (size_t r = 0; r < runs; r++) {
        sess *s = sess_new(cfg);
        s->accept_opts = opts;
        if (r == 0) {
            push_chunks(s, st->b, st->n, 1);
        } else if (r == 1 || r == 2 || st->n > 3000) {
            /* random chunks */
            size_t off = 0;
            while (off < st->n) {
                size_t take = 1 + wsp_test_rng_below(&rng, r == 1 ? 7 : 300);
                if (take > st->n - off) take = st->n - off;
                sess_push(s, st->b + off, take);
                off += take;
            }
        } else {
            size_t k = r - 3;
            sess_push(s, st->b, k);
            sess_push(s, st->b + k, st->n - k);
        }
        assert_int_equal(s->flag_errors, 0);
        if (s->log_len != ref->log_len ||
            memcmp(s->log, ref->log, ref->log_len) != 0) {
            print_error("run %zu: event log differs from the whole-input run\n",
                        r);
            expect_log(s, ref);
        }
        size_t dn = describe_out(s->out, s->out_len, masked_out, desc,
                                 sizeof desc);
        assert_int_equal(dn, ref_dn);
        assert_memory_equal(desc, ref_desc, dn);
        assert_int_equal(s->http_out_len, ref->http_out_len);
        assert_int_equal(wsp_conn_state(s->c), wsp_conn_state(ref->c));
        sess_free(s);
    }
    sess_free(ref);
}

/* ---- golden streams ------------------------------------------------------ */

static const char utf8_text[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 "
                                "\xe2\x82\xac \xf0\x9d\x84\x9e!";

static void build_golden(stream *st, sess *want, int mask)
{
    uint8_t bin[300];
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (uint8_t)(i * 31);
    memset(st, 0, sizeof *st);
    if (mask) {
        /* RFC 6455 5.7 masked "Hello". */
        st->n = wsp_test_hex("81 85 37 fa 21 3d 7f 9f 4d 51 58", st->b,
                             sizeof st->b);
    } else {
        st->n = wsp_test_hex("81 05 48 65 6c 6c 6f", st->b, sizeof st->b);
    }
    ex_msg(want, WSP_OP_TEXT, "Hello", 5);
    /* Fragmented "Hel" + ping + "lo" (5.4, 5.7). */
    st_frame(st, 0x01, mask, "Hel", 3);
    st_frame(st, 0x89, mask, "ping!", 5);
    st_frame(st, 0x80, mask, "lo", 2);
    lg_tag(want, '<');
    lg_u32(want, WSP_OP_TEXT);
    lg_bytes(want, "Hel", 3);
    ex_ctl(want, 'P', "ping!", 5);
    lg_bytes(want, "lo", 2);
    lg_tag(want, '>');
    /* Binary with a 16-bit length. */
    st_frame(st, 0x82, mask, bin, sizeof bin);
    ex_msg(want, WSP_OP_BINARY, bin, sizeof bin);
    /* UTF-8 text cut inside code points across three frames. */
    size_t tl = strlen(utf8_text);
    st_frame(st, 0x01, mask, utf8_text, 1);
    st_frame(st, 0x00, mask, utf8_text + 1, 5);
    st_frame(st, 0x00, mask, "", 0);
    st_frame(st, 0x80, mask, utf8_text + 6, tl - 6);
    ex_msg(want, WSP_OP_TEXT, utf8_text, tl);
    /* Empty messages. */
    st_frame(st, 0x81, mask, "", 0);
    ex_msg(want, WSP_OP_TEXT, "", 0);
    st_frame(st, 0x82, mask, "", 0);
    ex_msg(want, WSP_OP_BINARY, "", 0);
    /* Empty ping, a pong, then a close. */
    st_frame(st, 0x89, mask, "", 0);
    ex_ctl(want, 'P', "", 0);
    st_frame(st, 0x8A, mask, "pong", 4);
    ex_ctl(want, 'O', "pong", 4);
    st_close(st, mask, 1000, "bye", 3);
    ex_close(want, 1000, "bye", 3);
}

static void check_golden_output(const sess *s, int masked)
{
    /* pong "ping!", pong "", close 1000 */
    size_t off = 0;
    off += decode_frame(s->out + off, s->out_len - off, &g_of);
    assert_int_equal(g_of.b0, 0x8A);
    assert_int_equal(g_of.masked, masked);
    assert_int_equal(g_of.len, 5);
    assert_memory_equal(g_of.payload, "ping!", 5);
    off += decode_frame(s->out + off, s->out_len - off, &g_of);
    assert_int_equal(g_of.b0, 0x8A);
    assert_int_equal(g_of.len, 0);
    off += decode_frame(s->out + off, s->out_len - off, &g_of);
    assert_int_equal(g_of.b0, 0x88);
    assert_int_equal(g_of.masked, masked);
    assert_true(g_of.len >= 2);
    assert_int_equal(g_of.payload[0] << 8 | g_of.payload[1], 1000);
    assert_int_equal(off, s->out_len);
}

static void test_golden_server(void **state)
{
    (void)state;
    static stream st;
    sess *want = sess_new(NULL);
    build_golden(&st, want, 1);
    wsp_config cfg = cfg_for(WSP_ROLE_SERVER, 1);
    sess *s = sess_new(&cfg);
    sess_push(s, st.b, st.n);
    expect_log(s, want);
    check_golden_output(s, 0);
    assert_int_equal(wsp_conn_state(s->c), WSP_STATE_CLOSED);
    assert_int_equal(wsp_conn_should_close_transport(s->c), 1);
    sess_free(s);
    replay_all(&cfg, NULL, &st, want, NULL);
    sess_free(want);
}

static void test_golden_client(void **state)
{
    (void)state;
    static stream st;
    sess *want = sess_new(NULL);
    build_golden(&st, want, 0);
    wsp_config cfg = cfg_for(WSP_ROLE_CLIENT, 1);
    sess *s = sess_new(&cfg);
    sess_push(s, st.b, st.n);
    expect_log(s, want);
    check_golden_output(s, 1);
    assert_int_equal(wsp_conn_state(s->c), WSP_STATE_CLOSED);
    /* RFC 6455 7.1.1: the client waits for the server to close TCP. */
    assert_int_equal(wsp_conn_should_close_transport(s->c), 0);
    sess_free(s);
    replay_all(&cfg, NULL, &st, want, NULL);
    sess_free(want);
}

/* Large frames with 64-bit lengths: one byte at a time and random chunks. */
static void test_golden_large(void **state)
{
    (void)state;
    static stream st;
    static uint8_t big[70000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i ^ (i >> 8));
    memset(&st, 0, sizeof st);
    sess *want = sess_new(NULL);
    st_frame(&st, 0x82, 1, big, 65536);
    ex_msg(want, WSP_OP_BINARY, big, 65536);
    st_frame(&st, 0x02, 1, big, 70000);
    st_frame(&st, 0x80, 1, big, 1);
    lg_tag(want, '<');
    lg_u32(want, WSP_OP_BINARY);
    lg_bytes(want, big, 70000);
    lg_bytes(want, big, 1);
    lg_tag(want, '>');
    wsp_config cfg = cfg_for(WSP_ROLE_SERVER, 1);
    replay_all(&cfg, NULL, &st, want, NULL);
    sess_free(want);
}

static wsp_accept_options accept_opts(const char *subprotocol,
                                      const char *extensions,
                                      const wsp_header *headers, size_t count)
{
    wsp_accept_options o;
    memset(&o, 0, sizeof o);
    o.subprotocol = subprotocol;
    o.extensions = extensions;
    o.headers = headers;
    o.header_count = count;
    return o;
}

/* ---- server handshake ---------------------------------------------------- */

static const char rfc_request[] =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

static void expect_101(const uint8_t *out, size_t n, const char *accept,
                       const char *proto)
{
    wsp_response resp;
    size_t consumed;
    assert_int_equal(wsp_http_parse_response((const char *)out, n, 0, 0,
                                             &resp, &consumed), WSP_OK);
    assert_int_equal(consumed, n);
    assert_int_equal(resp.status, 101);
    const char *v;
    size_t vl;
    assert_int_equal(wsp_headers_get(&resp.headers, "sec-websocket-accept", &v,
                                     &vl), WSP_OK);
    assert_int_equal(vl, strlen(accept));
    assert_memory_equal(v, accept, vl);
    if (proto) {
        assert_int_equal(wsp_headers_get(&resp.headers,
                                         "sec-websocket-protocol", &v, &vl),
                         WSP_OK);
        assert_int_equal(vl, strlen(proto));
        assert_memory_equal(v, proto, vl);
    } else {
        assert_int_equal(wsp_headers_get(&resp.headers,
                                         "sec-websocket-protocol", &v, &vl),
                         WSP_ERR_NOT_FOUND);
    }
}

static void test_server_handshake(void **state)
{
    (void)state;
    wsp_config cfg = cfg_for(WSP_ROLE_SERVER, 0);
    sess *s = sess_new(&cfg);
    assert_int_equal(wsp_conn_state(s->c), WSP_STATE_HANDSHAKE);
    size_t rn = strlen(rfc_request);
    /* The request plus the first frame in one segment. */
    uint8_t in[1024];
    memcpy(in, rfc_request, rn);
    size_t fn = wsp_test_hex("81 85 37 fa 21 3d 7f 9f 4d 51 58", in + rn,
                             sizeof in - rn);
    size_t consumed = 0;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(s->c, in, rn + fn, &consumed, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_REQUEST);
    assert_int_equal(ev.u.request.status, WSP_OK);
    assert_int_equal(consumed, rn); /* the frame is left for later */
    assert_int_equal(ev.u.request.request.method_len, 3);
    assert_memory_equal(ev.u.request.request.method, "GET", 3);
    assert_string_equal(ev.u.request.upgrade.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ev.u.request.upgrade.host_len, strlen("server.example.com"));
    /* Until accepted, nothing else happens. */
    size_t c2 = 0;
    wsp_event ev2;
    assert_int_equal(wsp_conn_recv(s->c, in + rn, fn, &c2, &ev2),
                     WSP_ERR_STATE);
    assert_int_equal(c2, 0);
    /* Sending is not possible before the handshake. */
    uint8_t out[512];
    size_t on = 0;
    assert_int_equal(wsp_conn_send(s->c, WSP_OP_TEXT, (const uint8_t *)"x", 1,
                                   0, out, sizeof out, &on), WSP_ERR_STATE);
    /* Too small a buffer leaves the request pending. */
    wsp_accept_options opts = accept_opts("chat", NULL, NULL, 0);
    size_t need = 12345;
    assert_int_equal(wsp_conn_accept(s->c, &opts, out, 10, &need),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(need, 0);
    assert_int_equal(wsp_conn_state(s->c), WSP_STATE_HANDSHAKE);
    /* The room it takes is what wsp_upgrade_build_response measures. */
    assert_int_equal(wsp_upgrade_build_response("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", &opts,
                                                NULL, 0, &need),
                     WSP_OK);
    assert_true(need > 10);
    assert_int_equal(wsp_conn_accept(s->c, &opts, out, sizeof out, &on),
                     WSP_OK);
    assert_int_equal(on, need);
    expect_101(out, on, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "chat");
    assert_int_equal(wsp_conn_state(s->c), WSP_STATE_OPEN);
    assert_int_equal(wsp_conn_accept(s->c, &opts, out, sizeof out, &on),
                     WSP_ERR_STATE);
    /* The frame that came with the request. */
    assert_int_equal(wsp_conn_recv(s->c, in + rn, fn, &c2, &ev2), WSP_OK);
    assert_int_equal(ev2.type, WSP_EV_DATA);
    assert_int_equal(ev2.u.data.len, 5);
    assert_memory_equal(ev2.u.data.payload, "Hello", 5);
    assert_int_equal(ev2.u.data.flags, WSP_DATA_FIRST | WSP_DATA_LAST);
    sess_free(s);
}

static void test_server_handshake_splits(void **state)
{
    (void)state;
    static stream st;
    memset(&st, 0, sizeof st);
    size_t rn = strlen(rfc_request);
    memcpy(st.b, rfc_request, rn);
    st.n = rn;
    sess *want = sess_new(NULL);
    lg_tag(want, 'R');
    lg_u32(want, 0);
    st_frame(&st, 0x81, 1, "Hello", 5);
    ex_msg(want, WSP_OP_TEXT, "Hello", 5);
    st_frame(&st, 0x89, 1, "p", 1);
    ex_ctl(want, 'P', "p", 1);
    wsp_config cfg = cfg_for(WSP_ROLE_SERVER, 0);
    wsp_accept_options opts = accept_opts(NULL, NULL, NULL, 0);
    replay_all(&cfg, NULL, &st, want, &opts);

    sess *s = sess_new(&cfg);
    push_chunks(s, st.b, st.n, 1);
    expect_101(s->http_out, s->http_out_len, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
               NULL);
    sess_free(s);
    sess_free(want);
}

static void reject_case(const char *req, int want_status, int want_http)
{
    wsp_config cfg = cfg_for(WSP_ROLE_SERVER, 0);
    sess *s = sess_new(&cfg);
    s->auto_accept = 0;
    sess_push(s, (const uint8_t *)req, strlen(req));
    assert_int_equal(s->n_req, 1);
    assert_int_equal(s->req_status, want_status);
    assert_int_equal(s->req_http, want_http);
    uint8_t out[1024];
    size_t n = 0;
    assert_int_equal(wsp_conn_accept(s->c, NULL, out, sizeof out, &n),
                     WSP_ERR_STATE);
    assert_int_equal(wsp_conn_reject(s->c, 0, out, sizeof out, &n), WSP_OK);
    uint8_t lib[1024];
    size_t ln = 0;
    assert_int_equal(wsp_http_build_error(want_http, lib, sizeof lib, &ln),
                     WSP_OK);
    assert_int_equal(n, ln);
    assert_memory_equal(out, lib, ln);
    assert_int_equal(wsp_conn_state(s->c), WSP_STATE_CLOSED);
    sess_free(s);
}

static void test_server_invalid_requests(void **state)
{
    (void)state;
    reject_case("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: "
                "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
                WSP_ERR_HTTP_WS_VERSION, 426);
    reject_case("POST /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: "
                "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                WSP_ERR_HTTP_METHOD, 405);
    reject_case("GET /chat HTTP/1.1\r\nHost: a\r\n\r\n", WSP_ERR_HTTP_UPGRADE,
                400);
    reject_case("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: short\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n",
                WSP_ERR_HTTP_KEY, 400);

    /* A valid request can be rejected too: 400 by default, or any status. */
    wsp_config cfg = cfg_for(WSP_ROLE_SERVER, 0);
    for (int i = 0; i < 2; i++) {
        sess *s = sess_new(&cfg);
        s->auto_accept = 0;
        sess_push(s, (const uint8_t *)rfc_request, strlen(rfc_request));
        assert_int_equal(s->req_status, WSP_OK);
        uint8_t out[1024];
        size_t n = 0;
        assert_int_equal(wsp_conn_reject(s->c, i ? 503 : 0, out, sizeof out,
                                         &n), WSP_OK);
        wsp_response resp;
        size_t consumed;
        assert_int_equal(wsp_http_parse_response((const char *)out, n, 0, 0,
                                                 &resp, &consumed), WSP_OK);
        assert_int_equal(resp.status, i ? 503 : 400);
        assert_int_equal(wsp_conn_state(s->c), WSP_STATE_CLOSED);
        sess_free(s);
    }

    /* Origin policy through the config. */
    static const char *const allowed[] = {"https://good.example"};
    wsp_origin_policy pol = {1, allowed, 1, 0, 0};
    cfg.origin_policy = &pol;
    sess *s = sess_new(&cfg);
    s->auto_accept = 0;
    sess_push(s, (const uint8_t *)rfc_request, strlen(rfc_request));
    assert_int_equal(s->req_status, WSP_ERR_HTTP_ORIGIN);
    assert_int_equal(s->req_http, 403);
    sess_free(s);
}

/* Malformed or oversized heads: the library answers with an HTTP error. */
static void bad_head_case(const char *req, uint32_t max_bytes, int want_http)
{
    wsp_config cfg = cfg_for(WSP_ROLE_SERVER, 0);
    cfg.max_header_bytes = max_bytes;
    sess *s = sess_new(&cfg);
    s->auto_accept = 0;
    sess_push(s, (const uint8_t *)req, strlen(req));
    assert_int_equal(s->n_data, 0);
    size_t n = 0;
    uint8_t out[1024];
    if (wsp_conn_pending_size(s->c) == 0 && s->out_len == 0 && s->n_req == 1) {
        /* Reported as an invalid request: reject with its status. */
        assert_int_equal(s->req_http, want_http);
        assert_int_equal(wsp_conn_reject(s->c, 0, out, sizeof out, &n),
                         WSP_OK);
    } else {
        sess_flush(s);
        n = s->out_len;
        memcpy(out, s->out, n);
    }
    wsp_response resp;
    size_t consumed;
    assert_int_equal(wsp_http_parse_response((const char *)out, n, 0, 0, &resp,
                                             &consumed), WSP_OK);
    assert_int_equal(resp.status, want_http);
    assert_int_equal(wsp_conn_state(s->c), WSP_STATE_CLOSED);
    sess_free(s);
}

static void test_server_bad_heads(void **state)
{
    (void)state;
    bad_head_case("GARBAGE\r\n\r\n", 0, 400);
    bad_head_case("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 0, 400);
    static char big[600];
    memset(big, 0, sizeof big);
    strcpy(big, "GET / HTTP/1.1\r\nX-Big: ");
    memset(big + strlen(big), 'x', 400);
    bad_head_case(big, 200, 431);
}

/* ---- client handshake ---------------------------------------------------- */

typedef struct client_hs {
    sess *s;
    char key[64];
    char accept[WSP_ACCEPT_LEN + 1];
} client_hs;

static void client_start(client_hs *h, const wsp_client_options *opts)
{
    wsp_config cfg = cfg_for(WSP_ROLE_CLIENT, 0);
    h->s = sess_new(&cfg);
    uint8_t out[2048];
    size_t n = 0;
    assert_int_equal(wsp_conn_client_request(h->s->c, opts, out, sizeof out,
                                             &n), WSP_OK);
    wsp_request req;
    size_t consumed;
    assert_int_equal(wsp_http_parse_request((const char *)out, n, 0, 0, &req,
                                            &consumed), WSP_OK);
    assert_int_equal(consumed, n);
    const char *v;
    size_t vl;
    assert_int_equal(wsp_headers_get(&req.headers, "Sec-WebSocket-Key", &v,
                                     &vl), WSP_OK);
    assert_true(vl < sizeof h->key);
    memcpy(h->key, v, vl);
    h->key[vl] = 0;
    assert_int_equal(wsp_accept_key(h->key, vl, h->accept), WSP_OK);
}

static size_t resp_with(char *buf, size_t cap, const char *status_line,
                        const char *accept, const char *extra)
{
    return (size_t)snprintf(buf, cap,
                            "%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Accept: %s\r\n%s\r\n",
                            status_line, accept, extra ? extra : "");
}

static void test_client_request(void **state)
{
    (void)state;
    static const char *const protos[] = {"chat", "superchat"};
    static const wsp_header extra[] = {{"Authorization", 13, "Bearer x", 8}};
    wsp_client_options opts = {"server.example.com", "/chat",
                               "http://example.com", protos, 2,
                               "permessage-deflate", extra, 1};
    wsp_config cfg = cfg_for(WSP_ROLE_CLIENT, 0);
    cfg.entropy = wsp_entropy_system;
    char keys[2][64];
    for (int i = 0; i < 2; i++) {
        wsp_conn *c = NULL;
        assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
        uint8_t out[2048];
        size_t n = 12345;
        assert_int_equal(wsp_conn_client_request(c, &opts, out, 10, &n),
                         WSP_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(n, 0);
        assert_int_equal(wsp_conn_client_request(c, &opts, out, sizeof out,
                                                 &n), WSP_OK);
        assert_true(n > 10);
        wsp_request req;
        size_t consumed;
        assert_int_equal(wsp_http_parse_request((const char *)out, n, 0, 0,
                                                &req, &consumed), WSP_OK);
        assert_int_equal(consumed, n);
        assert_int_equal(req.method_len, 3);
        assert_memory_equal(req.method, "GET", 3);
        assert_int_equal(req.target_len, 5);
        assert_memory_equal(req.target, "/chat", 5);
        assert_int_equal(req.version_major, 1);
        assert_int_equal(req.version_minor, 1);
        /* The request passes server-side validation (RFC 6455 4.1). */
        wsp_upgrade_info info;
        assert_int_equal(wsp_upgrade_validate(&req, NULL, &info), WSP_OK);
        assert_int_equal(info.host_len, strlen("server.example.com"));
        assert_memory_equal(info.host, "server.example.com", info.host_len);
        assert_int_equal(info.origin_len, strlen("http://example.com"));
        uint8_t raw[32];
        assert_int_equal(wsp_test_base64_decode(info.key, info.key_len, raw,
                                                sizeof raw), 16);
        memcpy(keys[i], info.key, info.key_len);
        keys[i][info.key_len] = 0;
        const char *v;
        size_t vl;
        assert_int_equal(wsp_headers_get(&req.headers, "Sec-WebSocket-Version",
                                         &v, &vl), WSP_OK);
        assert_int_equal(vl, 2);
        assert_memory_equal(v, "13", 2);
        size_t pos = 0, lpos = 0;
        const char *item;
        size_t il;
        for (int j = 0; j < 2; j++) {
            assert_int_equal(wsp_upgrade_next_subprotocol(&req.headers, &pos,
                                                          &lpos, &item, &il),
                             WSP_OK);
            assert_int_equal(il, strlen(protos[j]));
            assert_memory_equal(item, protos[j], il);
        }
        assert_int_equal(wsp_upgrade_next_subprotocol(&req.headers, &pos,
                                                      &lpos, &item, &il),
                         WSP_ERR_NOT_FOUND);
        assert_int_equal(wsp_headers_get(&req.headers, "Authorization", &v,
                                         &vl), WSP_OK);
        assert_int_equal(wsp_headers_get(&req.headers,
                                         "Sec-WebSocket-Extensions", &v, &vl),
                         WSP_OK);
        /* Only once. */
        assert_int_equal(wsp_conn_client_request(c, &opts, out, sizeof out,
                                                 &n), WSP_ERR_STATE);
        wsp_conn_free(c);
    }
    assert_string_not_equal(keys[0], keys[1]);

    /* Defaults: target "/", no Origin, no subprotocols. */
    wsp_client_options minimal;
    memset(&minimal, 0, sizeof minimal);
    minimal.host = "h.test";
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    uint8_t out[2048];
    size_t n;
    assert_int_equal(wsp_conn_client_request(c, &minimal, out, sizeof out, &n),
                     WSP_OK);
    wsp_request req;
    size_t consumed;
    assert_int_equal(wsp_http_parse_request((const char *)out, n, 0, 0, &req,
                                            &consumed), WSP_OK);
    assert_int_equal(req.target_len, 1);
    assert_int_equal(req.target[0], '/');
    const char *v;
    size_t vl;
    assert_int_equal(wsp_headers_get(&req.headers, "Origin", &v, &vl),
                     WSP_ERR_NOT_FOUND);
    assert_int_equal(wsp_headers_get(&req.headers, "Sec-WebSocket-Protocol",
                                     &v, &vl), WSP_ERR_NOT_FOUND);
    wsp_conn_free(c);

    /* Missing host, header injection, wrong role, failing entropy. */
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    wsp_client_options nohost = minimal;
    nohost.host = NULL;
    assert_int_equal(wsp_conn_client_request(c, &nohost, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    wsp_client_options inj = minimal;
    inj.host = "h.test\r\nX-Evil: 1";
    assert_int_equal(wsp_conn_client_request(c, &inj, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    wsp_conn_free(c);
    wsp_config scfg = cfg_for(WSP_ROLE_SERVER, 0);
    assert_int_equal(wsp_conn_new(&scfg, &c), WSP_OK);
    assert_int_equal(wsp_conn_client_request(c, &minimal, out, sizeof out, &n),
                     WSP_ERR_STATE);
    wsp_conn_free(c);
    wsp_config fcfg = cfg_for(WSP_ROLE_CLIENT, 0);
    fcfg.entropy = wsp_test_entropy_fail;
    assert_int_equal(wsp_conn_new(&fcfg, &c), WSP_OK);
    assert_int_equal(wsp_conn_client_request(c, &minimal, out, sizeof out, &n),
                     WSP_ERR_ENTROPY);
    wsp_conn_free(c);
}

static void test_client_response_ok(void **state)
{
    (void)state;
    static const char *const protos[] = {"chat", "superchat"};
    wsp_client_options opts = {"server.example.com", "/chat", NULL, protos, 2,
                               NULL, NULL, 0};
    client_hs h;
    client_start(&h, &opts);
    static stream st;
    memset(&st, 0, sizeof st);
    st.n = resp_with((char *)st.b, sizeof st.b,
                     "HTTP/1.1 101 Switching Protocols", h.accept,
                     "Sec-WebSocket-Protocol: superchat\r\n");
    st_frame(&st, 0x81, 0, "Hello", 5);
    sess *want = sess_new(NULL);
    lg_tag(want, 'S');
    lg_u32(want, 0);
    ex_msg(want, WSP_OP_TEXT, "Hello", 5);
    sess_push(h.s, st.b, st.n);
    assert_int_equal(h.s->n_resp, 1);
    assert_int_equal(h.s->resp_status, WSP_OK);
    assert_int_equal(h.s->resp_http_status, 101);
    assert_string_equal(h.s->subproto, "superchat");
    assert_int_equal(wsp_conn_state(h.s->c), WSP_STATE_OPEN);
    assert_int_equal(h.s->log_len, want->log_len);
    assert_memory_equal(h.s->log, want->log, want->log_len);
    sess_free(h.s);

    /* Every split gives the same result (same entropy seed: same key). */
    for (size_t k = 0; k <= st.n; k++) {
        client_hs h2;
        client_start(&h2, &opts);
        sess_push(h2.s, st.b, k);
        sess_push(h2.s, st.b + k, st.n - k);
        assert_int_equal(h2.s->log_len, want->log_len);
        assert_memory_equal(h2.s->log, want->log, want->log_len);
        sess_free(h2.s);
    }
    client_hs h3;
    client_start(&h3, &opts);
    push_chunks(h3.s, st.b, st.n, 1);
    assert_int_equal(h3.s->log_len, want->log_len);
    assert_memory_equal(h3.s->log, want->log, want->log_len);
    sess_free(h3.s);
    sess_free(want);
}

static void client_bad_case(const wsp_client_options *opts,
                            const char *status_line, int wrong_accept,
                            const char *extra, int want_status,
                            int want_http_status)
{
    client_hs h;
    client_start(&h, opts);
    char resp[1024];
    char bad_accept[WSP_ACCEPT_LEN + 1];
    assert_int_equal(wsp_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, bad_accept),
                     WSP_OK);
    size_t n;
    if (wrong_accept == 2) {
        n = (size_t)snprintf(resp, sizeof resp, "%s\r\n%s\r\n", status_line,
                             extra ? extra : "");
    } else {
        n = resp_with(resp, sizeof resp, status_line,
                      wrong_accept ? bad_accept : h.accept, extra);
    }
    sess_push(h.s, (const uint8_t *)resp, n);
    if (h.s->n_resp != 1 || h.s->resp_status != want_status)
        print_error("response \"%s\": n_resp %d status %d want %d\n", resp,
                    h.s->n_resp, h.s->resp_status, want_status);
    assert_int_equal(h.s->n_resp, 1);
    assert_int_equal(h.s->resp_status, want_status);
    assert_int_equal(h.s->resp_http_status, want_http_status);
    assert_int_equal(wsp_conn_state(h.s->c), WSP_STATE_CLOSED);
    uint8_t out[64];
    size_t on;
    assert_int_equal(wsp_conn_send(h.s->c, WSP_OP_TEXT, (const uint8_t *)"x",
                                   1, 0, out, sizeof out, &on), WSP_ERR_STATE);
    sess_free(h.s);
}

static void test_client_response_bad(void **state)
{
    (void)state;
    static const char *const protos[] = {"chat"};
    wsp_client_options plain = {"h.test", NULL, NULL, NULL, 0, NULL, NULL, 0};
    wsp_client_options with_proto = {"h.test", NULL, NULL, protos, 1, NULL,
                                     NULL, 0};
    wsp_client_options with_ext = {"h.test", NULL, NULL, NULL, 0,
                                   "permessage-deflate", NULL, 0};
    const char *ok = "HTTP/1.1 101 Switching Protocols";
    client_bad_case(&plain, ok, 1, NULL, WSP_ERR_HTTP_ACCEPT, 101);
    client_bad_case(&plain, "HTTP/1.1 403 Forbidden", 0, NULL,
                    WSP_ERR_HTTP_STATUS, 403);
    client_bad_case(&plain, "HTTP/1.1 200 OK", 0, NULL, WSP_ERR_HTTP_STATUS,
                    200);
    client_bad_case(&plain, ok, 2,
                    "Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n",
                    WSP_ERR_HTTP_UPGRADE, 101);
    client_bad_case(&with_proto, ok, 0, "Sec-WebSocket-Protocol: other\r\n",
                    WSP_ERR_HTTP_SUBPROTOCOL, 101);
    client_bad_case(&plain, ok, 0, "Sec-WebSocket-Protocol: chat\r\n",
                    WSP_ERR_HTTP_SUBPROTOCOL, 101);
    client_bad_case(&plain, ok, 0,
                    "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                    WSP_ERR_HTTP_EXTENSION, 101);
    client_bad_case(&with_ext, ok, 0, "Sec-WebSocket-Extensions: x-other\r\n",
                    WSP_ERR_HTTP_EXTENSION, 101);
}

static void test_client_response_missing_headers(void **state)
{
    (void)state;
    wsp_client_options plain = {"h.test", NULL, NULL, NULL, 0, NULL, NULL, 0};
    /* Missing Upgrade / Connection (RFC 6455 4.1, client steps 2 and 3). */
    client_hs h;
    client_start(&h, &plain);
    char resp[512];
    size_t n = (size_t)snprintf(resp, sizeof resp,
                                "HTTP/1.1 101 Switching Protocols\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Accept: %s\r\n\r\n", h.accept);
    sess_push(h.s, (const uint8_t *)resp, n);
    assert_int_equal(h.s->resp_status, WSP_ERR_HTTP_UPGRADE);
    sess_free(h.s);
    client_start(&h, &plain);
    n = (size_t)snprintf(resp, sizeof resp,
                         "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\n"
                         "Sec-WebSocket-Accept: %s\r\n\r\n", h.accept);
    sess_push(h.s, (const uint8_t *)resp, n);
    assert_int_equal(h.s->resp_status, WSP_ERR_HTTP_CONNECTION);
    sess_free(h.s);
    client_start(&h, &plain);
    n = (size_t)snprintf(resp, sizeof resp,
                         "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    sess_push(h.s, (const uint8_t *)resp, n);
    assert_int_equal(h.s->resp_status, WSP_ERR_HTTP_ACCEPT);
    sess_free(h.s);
    /* Case-insensitive tokens are fine. */
    client_start(&h, &plain);
    n = (size_t)snprintf(resp, sizeof resp,
                         "HTTP/1.1 101 Switching Protocols\r\n"
                         "upgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n"
                         "sec-websocket-accept: %s\r\n\r\n", h.accept);
    sess_push(h.s, (const uint8_t *)resp, n);
    assert_int_equal(h.s->resp_status, WSP_OK);
    assert_int_equal(wsp_conn_state(h.s->c), WSP_STATE_OPEN);
    sess_free(h.s);
}

/* ---- framing failures ----------------------------------------------------- */

/* Feeds st to a fresh open connection of `role` three ways and checks the
 * failure. `early`: after this many bytes the failure must be reported. */
static void check_fail(wsp_role role, const wsp_config *base, const stream *st,
                       size_t early, int want_status, uint16_t want_code,
                       uint64_t off_lo, uint64_t off_hi)
{
    wsp_config cfg = base ? *base : cfg_for(role, 1);
    cfg.role = role;
    cfg.start_open = 1;
    for (int mode = 0; mode < 3; mode++) {
        sess *s = sess_new(&cfg);
        if (mode == 0) sess_push(s, st->b, st->n);
        else if (mode == 1) push_chunks(s, st->b, st->n, 1);
        else sess_push(s, st->b, early);
        if (s->n_fail != 1 || s->fail_status != want_status)
            print_error("mode %d: n_fail %d status %d (%s), want %d\n", mode,
                        s->n_fail, s->fail_status,
                        wsp_strerror(s->fail_status), want_status);
        assert_int_equal(s->n_fail, 1);
        assert_int_equal(s->fail_status, want_status);
        assert_int_equal(s->fail_code, want_code);
        if (s->fail_offset < off_lo || s->fail_offset > off_hi)
            print_error("offset %llu not in [%llu, %llu]\n",
                        (unsigned long long)s->fail_offset,
                        (unsigned long long)off_lo,
                        (unsigned long long)off_hi);
        assert_true(s->fail_offset >= off_lo && s->fail_offset <= off_hi);
        assert_int_equal(s->flag_errors, 0);
        /* The close frame for the peer (RFC 6455 7.1.7). */
        oframe *f = &g_of;
        assert_true(last_out_frame(s, f));
        assert_int_equal(f->b0, 0x88);
        assert_int_equal(f->masked, role == WSP_ROLE_CLIENT);
        assert_true(f->len >= 2);
        assert_int_equal(f->payload[0] << 8 | f->payload[1], want_code);
        assert_int_equal(wsp_conn_state(s->c), WSP_STATE_CLOSED);
        assert_int_equal(wsp_conn_should_close_transport(s->c), 1);
        wsp_error_info info;
        assert_int_equal(wsp_conn_error(s->c, &info), WSP_OK);
        assert_int_equal(info.status, want_status);
        assert_int_equal(info.close_code, want_code);
        assert_true(info.offset == s->fail_offset);
        assert_non_null(info.reason);
        /* Sticky: later calls give the same status. */
        uint8_t more[16];
        size_t mn = wsp_test_frame(more, sizeof more, 0x81,
                                   role == WSP_ROLE_SERVER ? K1 : NULL, "ok",
                                   2);
        for (int again = 0; again < 2; again++) {
            size_t consumed;
            wsp_event ev;
            memset(&ev, 0, sizeof ev);
            assert_int_equal(wsp_conn_recv(s->c, more, mn, &consumed, &ev),
                             want_status);
        }
        assert_int_equal(wsp_conn_error(s->c, &info), WSP_OK);
        assert_int_equal(info.status, want_status);
        /* Nothing can be sent any more. */
        uint8_t out[64];
        size_t on;
        assert_int_equal(wsp_conn_send(s->c, WSP_OP_TEXT, (const uint8_t *)"x",
                                       1, 0, out, sizeof out, &on),
                         WSP_ERR_STATE);
        sess_free(s);
    }
}

/* One frame, failing in its header. */
static void fail_one(wsp_role role, uint8_t b0, const void *p, size_t len,
                     int mask, int want_status)
{
    static stream st;
    memset(&st, 0, sizeof st);
    st_frame(&st, b0, mask, p, len);
    size_t hl = st.n - len;
    check_fail(role, NULL, &st, hl, want_status, 1002, 0, hl - 1);
}

static void test_fail_masking(void **state)
{
    (void)state;
    fail_one(WSP_ROLE_SERVER, 0x81, "Hello", 5, 0, WSP_ERR_PROTO_MASK);
    fail_one(WSP_ROLE_SERVER, 0x89, "", 0, 0, WSP_ERR_PROTO_MASK);
    fail_one(WSP_ROLE_CLIENT, 0x81, "Hello", 5, 1, WSP_ERR_PROTO_MASK);
    fail_one(WSP_ROLE_CLIENT, 0x88, "\x03\xe8", 2, 1, WSP_ERR_PROTO_MASK);
}

static void test_fail_rsv_opcode(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        int mask = role == WSP_ROLE_SERVER;
        fail_one((wsp_role)role, 0xC1, "a", 1, mask, WSP_ERR_PROTO_RSV);
        fail_one((wsp_role)role, 0xA2, "a", 1, mask, WSP_ERR_PROTO_RSV);
        fail_one((wsp_role)role, 0x91, "a", 1, mask, WSP_ERR_PROTO_RSV);
        fail_one((wsp_role)role, 0xC9, "", 0, mask, WSP_ERR_PROTO_RSV);
        static const uint8_t reserved[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE,
                                           0xF};
        for (size_t i = 0; i < sizeof reserved; i++) {
            fail_one((wsp_role)role, (uint8_t)(0x80 | reserved[i]), "a", 1,
                     mask, WSP_ERR_PROTO_OPCODE);
            fail_one((wsp_role)role, reserved[i], "", 0, mask,
                     WSP_ERR_PROTO_OPCODE);
        }
    }
}

static void test_fail_control_frames(void **state)
{
    (void)state;
    uint8_t p[126];
    memset(p, 'a', sizeof p);
    p[0] = 0x03;
    p[1] = 0xe8;
    for (int role = 0; role < 2; role++) {
        int mask = role == WSP_ROLE_SERVER;
        fail_one((wsp_role)role, 0x89, p, 126, mask,
                 WSP_ERR_PROTO_CONTROL_TOO_LONG);
        fail_one((wsp_role)role, 0x8A, p, 126, mask,
                 WSP_ERR_PROTO_CONTROL_TOO_LONG);
        fail_one((wsp_role)role, 0x88, p, 126, mask,
                 WSP_ERR_PROTO_CONTROL_TOO_LONG);
        fail_one((wsp_role)role, 0x09, "a", 1, mask,
                 WSP_ERR_PROTO_CONTROL_FRAGMENTED);
        fail_one((wsp_role)role, 0x0A, "a", 1, mask,
                 WSP_ERR_PROTO_CONTROL_FRAGMENTED);
        fail_one((wsp_role)role, 0x08, "\x03\xe8", 2, mask,
                 WSP_ERR_PROTO_CONTROL_FRAGMENTED);
    }
}

static void test_fail_fragmentation(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        int mask = role == WSP_ROLE_SERVER;
        fail_one((wsp_role)role, 0x80, "a", 1, mask,
                 WSP_ERR_PROTO_CONTINUATION);
        fail_one((wsp_role)role, 0x00, "a", 1, mask,
                 WSP_ERR_PROTO_CONTINUATION);
        static stream st;
        /* A complete message, then a stray continuation. */
        memset(&st, 0, sizeof st);
        st_frame(&st, 0x81, mask, "done", 4);
        size_t fs = st_frame(&st, 0x80, mask, "x", 1);
        check_fail((wsp_role)role, NULL, &st, st.n - 1,
                   WSP_ERR_PROTO_CONTINUATION, 1002, fs, st.n - 2);
        /* New data message while one is open. */
        static const uint8_t starts[] = {0x81, 0x82, 0x01, 0x02};
        for (size_t i = 0; i < sizeof starts; i++) {
            memset(&st, 0, sizeof st);
            st_frame(&st, 0x01, mask, "Hel", 3);
            st_frame(&st, 0x89, mask, "", 0); /* control in between is fine */
            fs = st_frame(&st, starts[i], mask, "lo", 2);
            check_fail((wsp_role)role, NULL, &st, st.n - 2,
                       WSP_ERR_PROTO_EXPECTED_CONTINUATION, 1002, fs,
                       st.n - 3);
        }
    }
}

static void test_fail_length(void **state)
{
    (void)state;
    static stream st;
    memset(&st, 0, sizeof st);
    /* 5 bytes with a 16-bit length, masked (RFC 6455 5.2 minimal). */
    st.n = wsp_test_hex("81 FE 00 05 00 00 00 00 48 65 6c 6c 6f", st.b,
                        sizeof st.b);
    check_fail(WSP_ROLE_SERVER, NULL, &st, 8, WSP_ERR_PROTO_LENGTH, 1002, 0, 7);
    memset(&st, 0, sizeof st);
    st.n = wsp_test_hex("82 7F 80 00 00 00 00 00 00 01", st.b, sizeof st.b);
    check_fail(WSP_ROLE_CLIENT, NULL, &st, 10, WSP_ERR_PROTO_LENGTH, 1002, 0,
               9);
}

/* ---- UTF-8 ----------------------------------------------------------------- */

static void utf8_fail(wsp_role role, const char *payload, size_t len,
                      size_t bad_index, int declared_extra)
{
    static stream st;
    memset(&st, 0, sizeof st);
    int mask = role == WSP_ROLE_SERVER;
    /* The frame may announce more bytes than are fed (declared_extra). */
    static uint8_t full[256];
    memcpy(full, payload, len);
    memset(full + len, 'z', (size_t)declared_extra);
    st_frame(&st, 0x81, mask, full, len + (size_t)declared_extra);
    size_t hl = st.n - len - (size_t)declared_extra;
    st.n = hl + len; /* later bytes have not arrived */
    uint64_t bad = hl + bad_index;
    check_fail(role, NULL, &st, (size_t)bad + 1, WSP_ERR_PROTO_UTF8, 1007, bad,
               bad);
}

static void test_fail_utf8(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        wsp_role r = (wsp_role)role;
        utf8_fail(r, "\xff", 1, 0, 0);
        utf8_fail(r, "ab\xff", 3, 2, 7);
        utf8_fail(r, "abc\xc0\xaf", 5, 3, 0);       /* overlong */
        utf8_fail(r, "\xe0\x80\xaf", 3, 1, 4);      /* overlong 3 bytes */
        utf8_fail(r, "ok\xed\xa0\x80", 5, 3, 0);    /* surrogate */
        utf8_fail(r, "\xf4\x90\x80\x80", 4, 1, 2);  /* over U+10FFFF */
        utf8_fail(r, "\xf5", 1, 0, 3);
        utf8_fail(r, "a\x80", 2, 1, 0);             /* stray continuation */
        utf8_fail(r, "\xe2\x82" "a", 3, 2, 10);     /* truncated sequence */
        utf8_fail(r, "\xce\xba\xce\xba\xce\xba\xff", 7, 6, 20);
    }
    /* Invalid inside a fragmented message: fails before it ends. */
    static stream st;
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x01, 1, "fine", 4);
    size_t fs = st_frame(&st, 0x00, 1, "x\xc1", 2);
    size_t hl = st.n - fs - 2;
    uint64_t bad = fs + hl + 1;
    st_frame(&st, 0x80, 1, "end", 3);
    check_fail(WSP_ROLE_SERVER, NULL, &st, (size_t)bad + 1, WSP_ERR_PROTO_UTF8,
               1007, bad, bad);
    /* A code point cut by the end of the message. */
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x81, 1, "\xe2\x82", 2);
    check_fail(WSP_ROLE_SERVER, NULL, &st, st.n, WSP_ERR_PROTO_UTF8, 1007, 0,
               st.n);
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x01, 0, "ab\xf0\x9d", 4);
    st_frame(&st, 0x80, 0, "\x84", 1);
    check_fail(WSP_ROLE_CLIENT, NULL, &st, st.n, WSP_ERR_PROTO_UTF8, 1007, 0,
               st.n);
    /* Binary messages are not validated. */
    sess *s = open_sess(WSP_ROLE_SERVER);
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x82, 1, "\xff\xfe\xc0", 3);
    sess_push(s, st.b, st.n);
    assert_int_equal(s->n_fail, 0);
    assert_int_equal(s->n_msgs, 1);
    sess_free(s);
}

/* ---- close frames ------------------------------------------------------------ */

static void test_close_codes_received(void **state)
{
    (void)state;
    static const uint16_t good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                    1010, 1011, 1012, 1013, 1014, 3000, 3999,
                                    4000, 4999};
    static stream st;
    for (int role = 0; role < 2; role++) {
        int mask = role == WSP_ROLE_SERVER;
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
            sess *s = open_sess((wsp_role)role);
            memset(&st, 0, sizeof st);
            st_close(&st, mask, good[i], "why", 3);
            sess_push(s, st.b, st.n);
            assert_int_equal(s->n_fail, 0);
            assert_int_equal(s->n_close, 1);
            assert_int_equal(s->close_code, good[i]);
            oframe *f = &g_of;
            assert_true(last_out_frame(s, f));
            assert_int_equal(f->b0, 0x88);
            assert_int_equal(f->masked, mask ? 0 : 1);
            assert_true(f->len >= 2);
            assert_int_equal(f->payload[0] << 8 | f->payload[1], good[i]);
            assert_int_equal(wsp_conn_state(s->c), WSP_STATE_CLOSED);
            sess_free(s);
        }
        static const uint16_t bad[] = {0, 1, 999, 1004, 1005, 1006, 1015,
                                       1016, 1100, 2000, 2999, 5000, 65535};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            memset(&st, 0, sizeof st);
            st_close(&st, mask, bad[i], "", 0);
            check_fail((wsp_role)role, NULL, &st, st.n,
                       WSP_ERR_PROTO_CLOSE_CODE, 1002, 0, st.n - 1);
        }
        /* One-byte payload. */
        memset(&st, 0, sizeof st);
        st_frame(&st, 0x88, mask, "\x03", 1);
        check_fail((wsp_role)role, NULL, &st, st.n,
                   WSP_ERR_PROTO_CLOSE_PAYLOAD, 1002, 0, st.n - 1);
        /* Invalid UTF-8 in the reason. */
        memset(&st, 0, sizeof st);
        st_close(&st, mask, 1000, "ok\xff", 3);
        check_fail((wsp_role)role, NULL, &st, st.n, WSP_ERR_PROTO_UTF8, 1007,
                   0, st.n - 1);
        memset(&st, 0, sizeof st);
        st_close(&st, mask, 1000, "\xe2\x82", 2);
        check_fail((wsp_role)role, NULL, &st, st.n, WSP_ERR_PROTO_UTF8, 1007,
                   0, st.n);
    }
}

static void test_close_handshake(void **state)
{
    (void)state;
    static stream st;
    /* Peer closes without a code: 1005 reported, the reply carries no 1005. */
    sess *s = open_sess(WSP_ROLE_SERVER);
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x88, 1, "", 0);
    sess_push(s, st.b, st.n);
    assert_int_equal(s->n_close, 1);
    assert_int_equal(s->close_code, 1005);
    assert_true(last_out_frame(s, &g_of));
    assert_int_equal(g_of.b0, 0x88);
    assert_true(g_of.len == 0 ||
                (g_of.len >= 2 && (g_of.payload[0] << 8 | g_of.payload[1]) == 1000));
    sess_free(s);

    /* Peer closes, data after it is discarded, nothing more can be sent. */
    s = open_sess(WSP_ROLE_SERVER);
    memset(&st, 0, sizeof st);
    st_close(&st, 1, 1001, "going", 5);
    st_frame(&st, 0x81, 1, "after", 5);
    st_frame(&st, 0x89, 1, "p", 1);
    sess_push(s, st.b, st.n);
    assert_int_equal(s->n_close, 1);
    assert_int_equal(s->close_code, 1001);
    assert_int_equal(s->n_data, 0);
    assert_int_equal(s->n_ping, 0);
    assert_int_equal(s->n_other_rc, 1);
    assert_int_equal(s->other_rc, WSP_ERR_CLOSED);
    assert_int_equal(s->have, 0); /* the rest was consumed and dropped */
    assert_int_equal(wsp_conn_state(s->c), WSP_STATE_CLOSED);
    assert_int_equal(wsp_conn_should_close_transport(s->c), 1);
    uint8_t out[256];
    size_t on;
    assert_int_equal(wsp_conn_send(s->c, WSP_OP_TEXT, (const uint8_t *)"x", 1,
                                   0, out, sizeof out, &on), WSP_ERR_STATE);
    assert_int_equal(wsp_conn_close(s->c, 1000, NULL, 0, out, sizeof out, &on),
                     WSP_ERR_STATE);
    size_t consumed;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(s->c, st.b, st.n, &consumed, &ev),
                     WSP_ERR_CLOSED);
    assert_int_equal(consumed, st.n);
    sess_free(s);

    /* We close first: CLOSING, then the peer's close completes it. */
    for (int role = 0; role < 2; role++) {
        s = open_sess((wsp_role)role);
        assert_int_equal(wsp_conn_close(s->c, 1000, "bye", 3, out, sizeof out,
                                        &on), WSP_OK);
        assert_int_equal(decode_frame(out, on, &g_of), on);
        assert_int_equal(g_of.b0, 0x88);
        assert_int_equal(g_of.masked, role == WSP_ROLE_CLIENT);
        assert_int_equal(g_of.len, 5);
        assert_memory_equal(g_of.payload, "\x03\xe8" "bye", 5);
        assert_int_equal(wsp_conn_state(s->c), WSP_STATE_CLOSING);
        assert_int_equal(wsp_conn_send(s->c, WSP_OP_TEXT, (const uint8_t *)"x",
                                       1, 0, out, sizeof out, &on),
                         WSP_ERR_STATE);
        assert_int_equal(wsp_conn_send(s->c, WSP_OP_PING, NULL, 0, 0, out,
                                       sizeof out, &on), WSP_ERR_STATE);
        assert_int_equal(wsp_conn_close(s->c, 1000, NULL, 0, out, sizeof out,
                                        &on), WSP_ERR_STATE);
        memset(&st, 0, sizeof st);
        st_close(&st, role == WSP_ROLE_SERVER, 1000, "", 0);
        sess_push(s, st.b, st.n);
        assert_int_equal(s->n_close, 1);
        assert_int_equal(s->out_len, 0); /* no second close frame */
        assert_int_equal(wsp_conn_state(s->c), WSP_STATE_CLOSED);
        assert_int_equal(wsp_conn_should_close_transport(s->c),
                         role == WSP_ROLE_SERVER);
        sess_free(s);
    }
}

/* ---- ping / pong ----------------------------------------------------------- */

static void test_ping_pong(void **state)
{
    (void)state;
    static stream st;
    for (int role = 0; role < 2; role++) {
        int mask = role == WSP_ROLE_SERVER;
        sess *s = open_sess((wsp_role)role);
        memset(&st, 0, sizeof st);
        if (mask)
            st.n = wsp_test_hex("89 85 37 fa 21 3d 7f 9f 4d 51 58", st.b,
                                sizeof st.b);
        else
            st.n = wsp_test_hex("89 05 48 65 6c 6c 6f", st.b, sizeof st.b);
        sess_push(s, st.b, st.n);
        assert_int_equal(s->n_ping, 1);
        assert_int_equal(s->last_payload_len, 5);
        assert_memory_equal(s->last_payload, "Hello", 5);
        if (mask) {
            /* RFC 6455 5.7: unmasked pong "Hello". */
            uint8_t want[16];
            size_t wn = wsp_test_hex("8a 05 48 65 6c 6c 6f", want, sizeof want);
            assert_int_equal(s->out_len, wn);
            assert_memory_equal(s->out, want, wn);
        } else {
            assert_int_equal(s->out_len, 11);
            assert_int_equal(decode_frame(s->out, s->out_len, &g_of), 11);
            assert_int_equal(g_of.b0, 0x8A);
            assert_true(g_of.masked);
            assert_memory_equal(g_of.payload, "Hello", 5);
        }
        /* A full 125-byte ping is echoed whole. */
        uint8_t p125[125];
        for (size_t i = 0; i < sizeof p125; i++) p125[i] = (uint8_t)(i * 3);
        s->out_len = 0;
        memset(&st, 0, sizeof st);
        st_frame(&st, 0x89, mask, p125, 125);
        sess_push(s, st.b, st.n);
        assert_true(last_out_frame(s, &g_of));
        assert_int_equal(g_of.b0, 0x8A);
        assert_int_equal(g_of.len, 125);
        assert_memory_equal(g_of.payload, p125, 125);
        /* Pongs are reported and not answered. */
        s->out_len = 0;
        memset(&st, 0, sizeof st);
        st_frame(&st, 0x8A, mask, "pong", 4);
        sess_push(s, st.b, st.n);
        assert_int_equal(s->n_pong, 1);
        assert_int_equal(s->last_payload_len, 4);
        assert_memory_equal(s->last_payload, "pong", 4);
        assert_int_equal(s->out_len, 0);
        sess_free(s);

        /* no_auto_pong */
        wsp_config cfg = cfg_for((wsp_role)role, 1);
        cfg.no_auto_pong = 1;
        s = sess_new(&cfg);
        memset(&st, 0, sizeof st);
        st_frame(&st, 0x89, mask, "Hello", 5);
        sess_push(s, st.b, st.n);
        assert_int_equal(s->n_ping, 1);
        assert_int_equal(s->out_len, 0);
        assert_int_equal(wsp_conn_pending_size(s->c), 0);
        sess_free(s);
    }

    /* A new ping replaces an unsent pong (RFC 6455 5.5.3). */
    wsp_config cfg = cfg_for(WSP_ROLE_SERVER, 1);
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x89, 1, "first", 5);
    st_frame(&st, 0x89, 1, "second", 6);
    size_t off = 0;
    int pings = 0;
    while (off < st.n) {
        size_t consumed;
        wsp_event ev;
        assert_int_equal(wsp_conn_recv(c, st.b + off, st.n - off, &consumed,
                                       &ev), WSP_OK);
        off += consumed;
        if (ev.type == WSP_EV_PING) pings++;
        if (ev.type == WSP_EV_NONE) break;
    }
    assert_int_equal(pings, 2);
    uint8_t out[WSP_MAX_PENDING];
    size_t on;
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &on), WSP_OK);
    assert_int_equal(on, 8);
    assert_memory_equal(out, "\x8a\x06second", 8);
    wsp_conn_free(c);
}

/* ---- limits ------------------------------------------------------------------ */

static void test_limits(void **state)
{
    (void)state;
    static stream st;
    uint8_t p[64];
    memset(p, 'a', sizeof p);
    wsp_config cfg = cfg_for(WSP_ROLE_SERVER, 1);
    cfg.max_frame_payload = 10;
    /* At the limit: fine. */
    sess *s = sess_new(&cfg);
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x81, 1, p, 10);
    sess_push(s, st.b, st.n);
    assert_int_equal(s->n_fail, 0);
    assert_int_equal(s->n_msgs, 1);
    sess_free(s);
    /* Over: fails at the header, before the payload arrives. */
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x82, 1, p, 11);
    check_fail(WSP_ROLE_SERVER, &cfg, &st, 6, WSP_ERR_PROTO_TOO_BIG, 1009, 0,
               5);

    cfg = cfg_for(WSP_ROLE_SERVER, 1);
    cfg.max_message = 10;
    s = sess_new(&cfg);
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x01, 1, p, 6);
    st_frame(&st, 0x80, 1, p, 4);
    sess_push(s, st.b, st.n);
    assert_int_equal(s->n_fail, 0);
    assert_int_equal(s->n_msgs, 1);
    sess_free(s);
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x01, 1, p, 6);
    size_t fs = st_frame(&st, 0x80, 1, p, 5);
    check_fail(WSP_ROLE_SERVER, &cfg, &st, fs + 6, WSP_ERR_PROTO_TOO_BIG, 1009,
               fs, st.n - 1);
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x82, 1, p, 11);
    check_fail(WSP_ROLE_SERVER, &cfg, &st, 6, WSP_ERR_PROTO_TOO_BIG, 1009, 0,
               5);

    cfg = cfg_for(WSP_ROLE_CLIENT, 1);
    cfg.max_fragments = 2;
    s = sess_new(&cfg);
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x02, 0, "a", 1);
    st_frame(&st, 0x80, 0, "b", 1);
    st_frame(&st, 0x81, 0, "c", 1);
    sess_push(s, st.b, st.n);
    assert_int_equal(s->n_fail, 0);
    assert_int_equal(s->n_msgs, 2);
    sess_free(s);
    memset(&st, 0, sizeof st);
    st_frame(&st, 0x02, 0, "a", 1);
    st_frame(&st, 0x00, 0, "b", 1);
    fs = st_frame(&st, 0x80, 0, "c", 1);
    check_fail(WSP_ROLE_CLIENT, &cfg, &st, st.n, WSP_ERR_PROTO_TOO_MANY_FRAGMENTS,
               1009, fs, st.n - 1);
}

/* ---- sending ------------------------------------------------------------------- */

static wsp_conn *open_conn(wsp_role role, uint32_t frag, uint64_t *seed,
                           wsp_entropy_fn fn)
{
    wsp_config cfg = cfg_for(role, 1);
    cfg.send_fragment_size = frag;
    cfg.entropy = fn ? fn : wsp_test_entropy;
    cfg.entropy_user = seed;
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    return c;
}

static void expect_send(wsp_conn *c, wsp_opcode op, const char *p, size_t len,
                        unsigned flags, const char *want_hex)
{
    uint8_t out[70000], want[70000];
    size_t wn = wsp_test_hex(want_hex, want, sizeof want);
    size_t n = 0;
    assert_int_equal(wsp_conn_send(c, op, (const uint8_t *)p, len, flags, out,
                                   sizeof out, &n), WSP_OK);
    assert_int_equal(n, wn);
    assert_memory_equal(out, want, wn);
    assert_true(wsp_test_send_bound(c, len) >= n);
}

static void test_send_server(void **state)
{
    (void)state;
    uint64_t seed = 1;
    wsp_conn *c = open_conn(WSP_ROLE_SERVER, 0, &seed, NULL);
    expect_send(c, WSP_OP_TEXT, "Hello", 5, 0, "81 05 48 65 6c 6c 6f");
    expect_send(c, WSP_OP_PING, "Hello", 5, 0, "89 05 48 65 6c 6c 6f");
    expect_send(c, WSP_OP_PONG, "Hello", 5, 0, "8a 05 48 65 6c 6c 6f");
    expect_send(c, WSP_OP_BINARY, "", 0, 0, "82 00");
    /* RFC 6455 5.7 fragmented "Hel" + "lo", with a ping in between. */
    expect_send(c, WSP_OP_TEXT, "Hel", 3, WSP_SEND_MORE, "01 03 48 65 6c");
    expect_send(c, WSP_OP_PING, "", 0, 0, "89 00");
    uint8_t out[512];
    size_t n;
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, (const uint8_t *)"x", 1, 0,
                                   out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    expect_send(c, WSP_OP_TEXT, "lo", 2, 0, "80 02 6c 6f");
    expect_send(c, WSP_OP_BINARY, "a", 1, WSP_SEND_MORE, "02 01 61");
    expect_send(c, WSP_OP_BINARY, "b", 1, WSP_SEND_MORE, "00 01 62");
    expect_send(c, WSP_OP_BINARY, "", 0, 0, "80 00");

    /* Length classes. */
    static uint8_t big[65536];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)i;
    static uint8_t o[70000];
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, big, 256, 0, o, sizeof o,
                                   &n), WSP_OK);
    assert_int_equal(n, 4 + 256);
    assert_memory_equal(o, "\x82\x7e\x01\x00", 4);
    assert_memory_equal(o + 4, big, 256);
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, big, 125, 0, o, sizeof o,
                                   &n), WSP_OK);
    assert_int_equal(n, 2 + 125);
    assert_int_equal(o[1], 125);
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, big, 126, 0, o, sizeof o,
                                   &n), WSP_OK);
    assert_memory_equal(o, "\x82\x7e\x00\x7e", 4);
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, big, 65535, 0, o,
                                   sizeof o, &n), WSP_OK);
    assert_memory_equal(o, "\x82\x7e\xff\xff", 4);
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, big, 65536, 0, o,
                                   sizeof o, &n), WSP_OK);
    assert_int_equal(n, 10 + 65536);
    assert_memory_equal(o, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    assert_memory_equal(o + 10, big, 65536);

    /* Invalid arguments. */
    uint8_t p126[126];
    memset(p126, 'x', sizeof p126);
    assert_int_equal(wsp_conn_send(c, WSP_OP_PING, p126, 126, 0, out,
                                   sizeof out, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_send(c, WSP_OP_PONG, p126, 126, 0, out,
                                   sizeof out, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_send(c, WSP_OP_PING, p126, 125, 0, out,
                                   sizeof out, &n), WSP_OK);
    assert_int_equal(wsp_conn_send(c, WSP_OP_PING, p126, 1, WSP_SEND_MORE, out,
                                   sizeof out, &n), WSP_ERR_INVALID_ARG);
    static const int bad_ops[] = {WSP_OP_CONTINUATION, WSP_OP_CLOSE, 3, 7, 0xB,
                                  0xF, 0x10};
    for (size_t i = 0; i < sizeof bad_ops / sizeof bad_ops[0]; i++)
        assert_int_equal(wsp_conn_send(c, (wsp_opcode)bad_ops[i], p126, 1, 0,
                                       out, sizeof out, &n),
                         WSP_ERR_INVALID_ARG);

    /* Too small: nothing written, *out_len 0, state unchanged; the bound
     * covers the 7 bytes the frame takes. */
    memset(out, 0xEE, sizeof out);
    n = 12345;
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, (const uint8_t *)"Hello", 5,
                                   WSP_SEND_MORE, out, 6, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    assert_int_equal(wsp_test_send_bound(c, 5), 7);
    for (size_t i = 0; i < sizeof out; i++) assert_int_equal(out[i], 0xEE);
    expect_send(c, WSP_OP_TEXT, "Hello", 5, 0, "81 05 48 65 6c 6c 6f");
    wsp_conn_free(c);
}

static void test_send_fragment_size(void **state)
{
    (void)state;
    uint64_t seed = 1;
    wsp_conn *c = open_conn(WSP_ROLE_SERVER, 2, &seed, NULL);
    expect_send(c, WSP_OP_TEXT, "Hello", 5, 0,
                "01 02 48 65 00 02 6c 6c 80 01 6f");
    expect_send(c, WSP_OP_BINARY, "ab", 2, 0, "82 02 61 62");
    expect_send(c, WSP_OP_TEXT, "Hello", 5, WSP_SEND_MORE,
                "01 02 48 65 00 02 6c 6c 00 01 6f");
    /* Control frames are never split. */
    expect_send(c, WSP_OP_PING, "Hello", 5, 0, "89 05 48 65 6c 6c 6f");
    expect_send(c, WSP_OP_TEXT, "!", 1, 0, "80 01 21");
    assert_true(wsp_test_send_bound(c, 5) >= 11);
    /* Zero-copy does not split. */
    uint8_t payload[5] = {'H', 'e', 'l', 'l', 'o'};
    uint8_t hdr[WSP_MAX_FRAME_HEADER];
    size_t hl = 0;
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_TEXT, payload, 5, 0, hdr,
                                            &hl), WSP_OK);
    assert_int_equal(hl, 2);
    assert_memory_equal(hdr, "\x81\x05", 2);
    assert_memory_equal(payload, "Hello", 5);
    wsp_conn_free(c);
}

static void test_send_client_masking(void **state)
{
    (void)state;
    uint64_t seed = wsp_test_rng_seed(4242);
    wsp_conn *c = open_conn(WSP_ROLE_CLIENT, 0, &seed, NULL);
    uint8_t keys[20][4];
    uint8_t payload[5] = {'H', 'e', 'l', 'l', 'o'};
    for (int i = 0; i < 20; i++) {
        uint8_t out[64];
        size_t n = 0;
        assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, payload, 5, 0, out,
                                       sizeof out, &n), WSP_OK);
        assert_int_equal(n, 11);
        assert_int_equal(out[0], 0x81);
        assert_int_equal(out[1], 0x85);
        assert_memory_equal(payload, "Hello", 5); /* caller data untouched */
        memcpy(keys[i], out + 2, 4);
        assert_int_equal(decode_frame(out, n, &g_of), 11);
        assert_memory_equal(g_of.payload, "Hello", 5);
        for (int j = 0; j < i; j++)
            assert_memory_not_equal(keys[i], keys[j], 4);
    }
    /* Fragments each get their own key. */
    wsp_conn_free(c);
    c = open_conn(WSP_ROLE_CLIENT, 2, &seed, NULL);
    uint8_t out[128];
    size_t n = 0;
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, payload, 5, 0, out,
                                   sizeof out, &n), WSP_OK);
    assert_int_equal(n, 3 * 6 + 5);
    size_t off = 0;
    uint8_t k[3][4];
    static const uint8_t b0[3] = {0x02, 0x00, 0x80};
    for (int i = 0; i < 3; i++) {
        size_t used = decode_frame(out + off, n - off, &g_of);
        assert_int_equal(g_of.b0, b0[i]);
        assert_true(g_of.masked);
        memcpy(k[i], g_of.key, 4);
        assert_memory_equal(g_of.payload, payload + 2 * i, g_of.len);
        off += used;
    }
    assert_memory_not_equal(k[0], k[1], 4);
    assert_memory_not_equal(k[1], k[2], 4);
    /* Close is masked too. */
    assert_int_equal(wsp_conn_close(c, 1000, NULL, 0, out, sizeof out, &n),
                     WSP_OK);
    assert_int_equal(n, 8);
    assert_int_equal(decode_frame(out, n, &g_of), 8);
    assert_int_equal(g_of.b0, 0x88);
    assert_true(g_of.masked);
    assert_memory_equal(g_of.payload, "\x03\xe8", 2);
    wsp_conn_free(c);

    /* Zero-copy masks in place. */
    c = open_conn(WSP_ROLE_CLIENT, 0, &seed, NULL);
    uint8_t hdr[WSP_MAX_FRAME_HEADER];
    size_t hl = 0;
    uint8_t zc[5] = {'H', 'e', 'l', 'l', 'o'};
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_TEXT, zc, 5,
                                            WSP_SEND_MORE, hdr, &hl), WSP_OK);
    assert_int_equal(hl, 6);
    assert_int_equal(hdr[0], 0x01);
    assert_int_equal(hdr[1], 0x85);
    wsp_mask(zc, 5, hdr + 2, 0);
    assert_memory_equal(zc, "Hello", 5);
    uint8_t zc2[1] = {'!'};
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_TEXT, zc2, 1, 0, hdr,
                                            &hl), WSP_OK);
    assert_int_equal(hdr[0], 0x80);
    assert_int_equal(hdr[1], 0x81);
    wsp_mask(zc2, 1, hdr + 2, 0);
    assert_int_equal(zc2[0], '!');
    wsp_conn_free(c);

    /* Entropy failure. */
    c = open_conn(WSP_ROLE_CLIENT, 0, &seed, wsp_test_entropy_fail);
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, payload, 5, 0, out,
                                   sizeof out, &n), WSP_ERR_ENTROPY);
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_TEXT, zc, 5, 0, hdr,
                                            &hl), WSP_ERR_ENTROPY);
    assert_int_equal(wsp_conn_close(c, 1000, NULL, 0, out, sizeof out, &n),
                     WSP_ERR_ENTROPY);
    wsp_conn_free(c);
    /* The server needs no entropy for frames. */
    c = open_conn(WSP_ROLE_SERVER, 0, &seed, wsp_test_entropy_fail);
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, payload, 5, 0, out,
                                   sizeof out, &n), WSP_OK);
    wsp_conn_free(c);
}

static void test_send_close(void **state)
{
    (void)state;
    uint64_t seed = 1;
    static const uint16_t good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                    1010, 1011, 1012, 1013, 1014, 3000, 4999};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        wsp_conn *c = open_conn(WSP_ROLE_SERVER, 0, &seed, NULL);
        uint8_t out[256];
        size_t n;
        assert_int_equal(wsp_conn_close(c, good[i], "r", 1, out, sizeof out,
                                        &n), WSP_OK);
        assert_int_equal(n, 5);
        assert_int_equal(out[0], 0x88);
        assert_int_equal(out[1], 3);
        assert_int_equal(out[2] << 8 | out[3], good[i]);
        assert_int_equal(out[4], 'r');
        assert_int_equal(wsp_conn_state(c), WSP_STATE_CLOSING);
        wsp_conn_free(c);
    }
    static const uint16_t bad[] = {1, 999, 1004, 1005, 1006, 1015, 1016, 2999,
                                   5000, 65535};
    wsp_conn *c = open_conn(WSP_ROLE_SERVER, 0, &seed, NULL);
    uint8_t out[256];
    size_t n;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(wsp_conn_close(c, bad[i], NULL, 0, out, sizeof out,
                                        &n), WSP_ERR_INVALID_ARG);
    char reason[124];
    memset(reason, 'r', sizeof reason);
    assert_int_equal(wsp_conn_close(c, 1000, reason, 124, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_close(c, 1000, "\xff", 1, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_close(c, 0, "why", 3, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
    /* Too small: nothing happens. */
    n = 12345;
    assert_int_equal(wsp_conn_close(c, 1000, reason, 123, out, 10, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    /* One byte short of the 2 + 125 it needs is still too small. */
    assert_int_equal(wsp_conn_close(c, 1000, reason, 123, out, 2 + 124, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
    assert_int_equal(wsp_conn_close(c, 1000, reason, 123, out, sizeof out, &n),
                     WSP_OK);
    assert_int_equal(n, 127);
    assert_int_equal(out[1], 125);
    wsp_conn_free(c);
    c = open_conn(WSP_ROLE_SERVER, 0, &seed, NULL);
    assert_int_equal(wsp_conn_close(c, 0, NULL, 0, out, sizeof out, &n),
                     WSP_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\x88\x00", 2);
    wsp_conn_free(c);
}

/* ---- connection objects ------------------------------------------------------ */

static void test_conn_objects(void **state)
{
    (void)state;
    size_t sz = wsp_conn_size();
    assert_true(sz > 0);
    void *mem = malloc(sz);
    assert_non_null(mem);
    wsp_conn *c = mem;
    assert_int_equal(wsp_conn_init(c, NULL), WSP_OK);
    assert_int_equal(wsp_conn_role(c), WSP_ROLE_SERVER);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_HANDSHAKE);
    wsp_error_info info;
    assert_int_equal(wsp_conn_error(c, &info), WSP_OK);
    assert_int_equal(info.status, WSP_OK);
    assert_int_equal(wsp_conn_init(NULL, NULL), WSP_ERR_INVALID_ARG);
    free(mem);

    wsp_test_alloc a = {-1, 0, 0, 0, 0};
    wsp_allocator al = {wsp_test_malloc, NULL, wsp_test_free, &a};
    wsp_config cfg = cfg_for(WSP_ROLE_CLIENT, 0);
    cfg.allocator = &al;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    assert_int_equal(a.live_blocks, 1);
    assert_int_equal(wsp_conn_role(c), WSP_ROLE_CLIENT);
    wsp_conn_free(c);
    assert_int_equal(a.live_blocks, 0);
    assert_int_equal(a.size_mismatches, 0);
    a.fail_after = 0;
    c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_ERR_NOMEM);
    wsp_conn_free(NULL);
    wsp_config bad = cfg_for((wsp_role)7, 0);
    assert_int_equal(wsp_conn_new(&bad, &c), WSP_ERR_INVALID_ARG);
}

/* ---- round trip ---------------------------------------------------------------- */

static void round_trip(wsp_role sender_role, uint64_t seed_val)
{
    uint64_t rng = wsp_test_rng_seed(seed_val);
    uint64_t eseed = wsp_test_rng_seed(seed_val + 1);
    wsp_config cfg = cfg_for(sender_role, 1);
    cfg.entropy = wsp_test_entropy;
    cfg.entropy_user = &eseed;
    cfg.send_fragment_size = (uint32_t)(seed_val % 3 == 0 ? 0 : 50 + seed_val % 700);
    wsp_conn *tx = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &tx), WSP_OK);
    wsp_config rcfg = cfg_for(sender_role == WSP_ROLE_CLIENT ? WSP_ROLE_SERVER
                                                             : WSP_ROLE_CLIENT,
                              1);
    sess *rx = sess_new(&rcfg);
    sess *want = sess_new(NULL);
    static uint8_t wire[1 << 20];
    static uint8_t msg[5000];
    size_t wn = 0;
    for (int m = 0; m < 150; m++) {
        size_t len = wsp_test_rng_below(&rng, 4) == 0
                         ? wsp_test_rng_below(&rng, 5000)
                         : wsp_test_rng_below(&rng, 200);
        int text = (int)(wsp_test_rng(&rng) & 1);
        for (size_t i = 0; i < len;) {
            if (text) {
                /* ASCII or a 2/3/4-byte code point. */
                size_t kind = wsp_test_rng_below(&rng, 4);
                static const char *cps[] = {"\xc3\xa9", "\xe2\x82\xac",
                                            "\xf0\x9f\x98\x80"};
                if (kind == 0 || i + 4 > len) {
                    msg[i++] = (uint8_t)(' ' + wsp_test_rng_below(&rng, 95));
                } else {
                    size_t cl = strlen(cps[kind - 1]);
                    memcpy(msg + i, cps[kind - 1], cl);
                    i += cl;
                }
            } else {
                msg[i++] = (uint8_t)wsp_test_rng(&rng);
            }
        }
        wsp_opcode op = text ? WSP_OP_TEXT : WSP_OP_BINARY;
        lg_tag(want, '<');
        lg_u32(want, (uint64_t)op);
        /* Send in random pieces, with pings in between sometimes. */
        size_t off = 0;
        do {
            size_t take = len - off;
            if (take && wsp_test_rng_below(&rng, 3) == 0)
                take = wsp_test_rng_below(&rng, take + 1);
            unsigned flags = off + take < len ? WSP_SEND_MORE : 0;
            size_t n = 0;
            size_t bound = wsp_test_send_bound(tx, take);
            assert_true(wn + bound <= sizeof wire);
            assert_int_equal(wsp_conn_send(tx, op, msg + off, take, flags,
                                           wire + wn, sizeof wire - wn, &n),
                             WSP_OK);
            assert_true(n <= bound);
            wn += n;
            lg_bytes(want, msg + off, take);
            off += take;
            if (flags && wsp_test_rng_below(&rng, 4) == 0) {
                assert_int_equal(wsp_conn_send(tx, WSP_OP_PING,
                                               (const uint8_t *)"hb", 2, 0,
                                               wire + wn, sizeof wire - wn,
                                               &n), WSP_OK);
                wn += n;
                ex_ctl(want, 'P', "hb", 2);
            }
        } while (off < len);
        lg_tag(want, '>');
    }
    size_t n = 0;
    assert_int_equal(wsp_conn_close(tx, 1000, "done", 4, wire + wn,
                                    sizeof wire - wn, &n), WSP_OK);
    wn += n;
    ex_close(want, 1000, "done", 4);
    /* Feed in random chunks. */
    size_t off = 0;
    while (off < wn) {
        size_t take = 1 + wsp_test_rng_below(&rng, 3000);
        if (take > wn - off) take = wn - off;
        sess_push(rx, wire + off, take);
        off += take;
    }
    assert_int_equal(rx->flag_errors, 0);
    assert_int_equal(rx->n_fail, 0);
    expect_log(rx, want);
    /* The receiver answered with its close; the sender completes. */
    uint8_t *back = rx->out;
    size_t bn = rx->out_len;
    size_t pos = 0;
    int saw_close = 0;
    while (pos < bn) {
        size_t consumed;
        wsp_event ev;
        int rc = wsp_conn_recv(tx, back + pos, bn - pos, &consumed, &ev);
        pos += consumed;
        if (rc != WSP_OK) break;
        if (ev.type == WSP_EV_CLOSE) {
            saw_close = 1;
            assert_int_equal(ev.u.close.code, 1000);
        }
        if (ev.type == WSP_EV_NONE) break;
    }
    assert_true(saw_close);
    assert_int_equal(wsp_conn_state(tx), WSP_STATE_CLOSED);
    wsp_conn_free(tx);
    sess_free(rx);
    sess_free(want);
}

static void test_round_trip(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        round_trip(WSP_ROLE_CLIENT, seed);
        round_trip(WSP_ROLE_SERVER, seed + 100);
    }
}

/* ---- argument checks, wrong states and rarer paths of every function ------ */

static uint64_t x_seed = 99;

/* 1 if the string occurs in buf[0..n). */
static int x_find(const uint8_t *buf, size_t n, const char *s)
{
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(buf + i, s, k) == 0) return 1;
    return 0;
}

static wsp_conn *x_new(wsp_role role, int start_open, const wsp_deflate_config *dcfg)
{
    wsp_config cfg = cfg_for(role, start_open);
    cfg.entropy = wsp_test_entropy;
    cfg.entropy_user = &x_seed;
    cfg.deflate = dcfg;
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    return c;
}

/* Feeds one whole buffer; returns the status and fills ev. */
static int x_recv(wsp_conn *c, const void *bytes, size_t len, wsp_event *ev,
                  size_t *consumed)
{
    static uint8_t buf[8192];
    assert_true(len <= sizeof buf);
    memcpy(buf, bytes, len);
    size_t used = 0;
    int rc = wsp_conn_recv(c, buf, len, &used, ev);
    if (consumed) *consumed = used;
    return rc;
}

/* A server with the RFC request received (valid, pending). */
static wsp_conn *x_server_with_request(const char *request,
                                       const wsp_deflate_config *dcfg)
{
    wsp_conn *c = x_new(WSP_ROLE_SERVER, 0, dcfg);
    wsp_event ev;
    assert_int_equal(x_recv(c, request, strlen(request), &ev, NULL), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_REQUEST);
    return c;
}

static void test_conn_null_arguments(void **state)
{
    (void)state;
    wsp_conn *c = x_new(WSP_ROLE_SERVER, 1, NULL);
    uint8_t out[64], data[4] = {0};
    size_t n = 0;
    wsp_event ev;
    wsp_error_info info;

    assert_int_equal(wsp_conn_new(NULL, NULL), WSP_ERR_INVALID_ARG);
    wsp_conn *d = NULL;
    assert_int_equal(wsp_conn_new(NULL, &d), WSP_OK); /* defaults */
    assert_int_equal(wsp_conn_role(d), WSP_ROLE_SERVER);
    assert_int_equal(wsp_conn_state(d), WSP_STATE_HANDSHAKE);
    wsp_conn_free(d);
    wsp_test_alloc st = {-1, 0, 0, 0, 0};
    wsp_allocator no_malloc = {NULL, NULL, wsp_test_free, &st};
    wsp_allocator no_free = {wsp_test_malloc, NULL, NULL, &st};
    wsp_config cfg = cfg_for(WSP_ROLE_SERVER, 0);
    cfg.allocator = &no_malloc;
    assert_int_equal(wsp_conn_new(&cfg, &d), WSP_ERR_INVALID_ARG);
    cfg.allocator = &no_free;
    assert_int_equal(wsp_conn_new(&cfg, &d), WSP_ERR_INVALID_ARG);
    assert_int_equal(st.total_allocs, 0);

    assert_int_equal(wsp_conn_state(NULL), WSP_STATE_CLOSED);
    assert_int_equal(wsp_conn_role(NULL), WSP_ROLE_SERVER);
    assert_int_equal(wsp_conn_deflate_active(NULL), 0);
    size_t bound = 12345;
    assert_int_equal(wsp_conn_send_bound(NULL, 10, &bound), WSP_ERR_INVALID_ARG);
    assert_int_equal(bound, 0);
    assert_int_equal(wsp_conn_send_bound(c, 10, NULL), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_pending_size(NULL), 0);
    assert_int_equal(wsp_conn_should_close_transport(NULL), 0);
    wsp_conn_deinit(NULL);
    assert_int_equal(wsp_conn_error(NULL, &info), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_error(c, NULL), WSP_ERR_INVALID_ARG);

    assert_int_equal(wsp_conn_recv(NULL, data, 1, &n, &ev), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_recv(c, data, 1, NULL, &ev), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_recv(c, data, 1, &n, NULL), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_recv(c, NULL, 1, &n, &ev), WSP_ERR_INVALID_ARG);

    assert_int_equal(wsp_conn_send(NULL, WSP_OP_TEXT, data, 1, 0, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, data, 1, 0, out, sizeof out, NULL),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, NULL, 1, 0, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, data, 1, 0, NULL, 4, &n),
                     WSP_ERR_INVALID_ARG);
    /* Unknown flags; a length whose frame is merely too big for out, and one
     * whose frame size would overflow size_t. */
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, data, 1, 4u, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, data, SIZE_MAX / 2, 0, out,
                                   sizeof out, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, data, SIZE_MAX - 5, 0, out,
                                   sizeof out, &n),
                     WSP_ERR_LIMIT);
    assert_int_equal(n, 0);

    uint8_t hdr[WSP_MAX_FRAME_HEADER];
    assert_int_equal(wsp_conn_send_zerocopy(NULL, WSP_OP_TEXT, data, 1, 0, hdr, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_TEXT, data, 1, 0, NULL, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_TEXT, data, 1, 0, hdr, NULL),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_TEXT, NULL, 1, 0, hdr, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_send_zerocopy(c, (wsp_opcode)3, data, 1, 0, hdr, &n),
                     WSP_ERR_INVALID_ARG);

    assert_int_equal(wsp_conn_close(NULL, 1000, NULL, 0, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_close(c, 1000, NULL, 0, out, sizeof out, NULL),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_close(c, 1000, NULL, 3, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_close(c, 1000, NULL, 0, NULL, 4, &n),
                     WSP_ERR_INVALID_ARG);

    assert_int_equal(wsp_conn_flush(NULL, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, NULL), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_flush(c, NULL, 4, &n), WSP_ERR_INVALID_ARG);

    assert_int_equal(wsp_conn_accept(NULL, NULL, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_accept(c, NULL, out, sizeof out, NULL), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_reject(NULL, 400, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_reject(c, 400, out, sizeof out, NULL), WSP_ERR_INVALID_ARG);
    wsp_request req;
    memset(&req, 0, sizeof req);
    assert_int_equal(wsp_conn_accept_request(NULL, &req, NULL, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_accept_request(c, NULL, NULL, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_accept_request(c, &req, NULL, out, sizeof out, NULL),
                     WSP_ERR_INVALID_ARG);
    wsp_client_options co;
    memset(&co, 0, sizeof co);
    co.host = "h";
    assert_int_equal(wsp_conn_client_request(NULL, &co, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_client_request(c, NULL, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_client_request(c, &co, out, sizeof out, NULL),
                     WSP_ERR_INVALID_ARG);
    wsp_deflate_params p;
    memset(&p, 0, sizeof p);
    assert_int_equal(wsp_conn_enable_deflate(NULL, NULL, &p), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_enable_deflate(c, NULL, NULL), WSP_ERR_INVALID_ARG);
    /* None of it changed the connection. */
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
    assert_int_equal(wsp_conn_pending_size(c), 0);
    wsp_conn_free(c);
}

static void test_conn_placed_memory(void **state)
{
    (void)state;
    /* A connection placed in caller memory: wsp_conn_free releases what it
     * allocated (compression state) but not the memory itself. */
    wsp_test_alloc st = {-1, 0, 0, 0, 0};
    wsp_allocator al = {wsp_test_malloc, wsp_test_realloc, wsp_test_free, &st};
    wsp_config cfg = cfg_for(WSP_ROLE_SERVER, 1);
    cfg.allocator = &al;
    void *mem = malloc(wsp_conn_size());
    assert_non_null(mem);
    wsp_conn *c = mem;
    assert_int_equal(wsp_conn_init(c, &cfg), WSP_OK);
    wsp_deflate_params p;
    memset(&p, 0, sizeof p);
    assert_int_equal(wsp_conn_enable_deflate(c, NULL, &p), WSP_OK);
    assert_int_equal(wsp_conn_deflate_active(c), 1);
    assert_true(st.live_blocks > 0);
    wsp_conn_free(c);
    assert_int_equal(st.live_blocks, 0);
    assert_int_equal(st.size_mismatches, 0);
    /* Still the caller's memory: readable, reusable. */
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
    assert_int_equal(wsp_conn_deflate_active(c), 0);
    free(mem);
}

static void test_conn_wrong_states(void **state)
{
    (void)state;
    uint8_t out[1024];
    size_t n = 0;
    wsp_client_options co;
    memset(&co, 0, sizeof co);
    co.host = "h";
    wsp_request req;
    memset(&req, 0, sizeof req);

    /* Client: server-only calls are refused. */
    wsp_conn *cl = x_new(WSP_ROLE_CLIENT, 0, NULL);
    assert_int_equal(wsp_conn_accept(cl, NULL, out, sizeof out, &n), WSP_ERR_STATE);
    assert_int_equal(wsp_conn_reject(cl, 400, out, sizeof out, &n), WSP_ERR_STATE);
    assert_int_equal(wsp_conn_accept_request(cl, &req, NULL, out, sizeof out, &n),
                     WSP_ERR_STATE);
    /* Nothing can be sent or closed before the handshake. */
    assert_int_equal(wsp_conn_send(cl, WSP_OP_TEXT, (const uint8_t *)"a", 1, 0, out,
                                   sizeof out, &n),
                     WSP_ERR_STATE);
    uint8_t pl[1] = {'a'};
    uint8_t hdr[WSP_MAX_FRAME_HEADER];
    assert_int_equal(wsp_conn_send_zerocopy(cl, WSP_OP_TEXT, pl, 1, 0, hdr, &n),
                     WSP_ERR_STATE);
    assert_int_equal(pl[0], 'a');
    assert_int_equal(wsp_conn_close(cl, 1000, NULL, 0, out, sizeof out, &n),
                     WSP_ERR_STATE);
    wsp_deflate_params p;
    memset(&p, 0, sizeof p);
    assert_int_equal(wsp_conn_enable_deflate(cl, NULL, &p),
                     wsp_deflate_available() ? WSP_ERR_STATE : WSP_ERR_UNSUPPORTED);
    wsp_conn_free(cl);

    /* Server: client-only calls; reject with nothing pending. */
    wsp_conn *sv = x_new(WSP_ROLE_SERVER, 0, NULL);
    assert_int_equal(wsp_conn_client_request(sv, &co, out, sizeof out, &n),
                     WSP_ERR_STATE);
    assert_int_equal(wsp_conn_reject(sv, 400, out, sizeof out, &n), WSP_ERR_STATE);
    assert_int_equal(wsp_conn_accept(sv, NULL, out, sizeof out, &n), WSP_ERR_STATE);
    wsp_conn_free(sv);

    /* An open connection has no handshake left. */
    wsp_conn *op = x_new(WSP_ROLE_SERVER, 1, NULL);
    assert_int_equal(wsp_conn_reject(op, 400, out, sizeof out, &n), WSP_ERR_STATE);
    assert_int_equal(wsp_conn_accept_request(op, &req, NULL, out, sizeof out, &n),
                     WSP_ERR_STATE);
    wsp_conn_free(op);
    wsp_conn *oc = x_new(WSP_ROLE_CLIENT, 1, NULL);
    assert_int_equal(wsp_conn_client_request(oc, &co, out, sizeof out, &n),
                     WSP_ERR_STATE);
    wsp_conn_free(oc);

    /* A request received through recv is pending: accept_request must not
     * bypass it. */
    wsp_conn *pend = x_server_with_request(rfc_request, NULL);
    assert_int_equal(wsp_conn_accept_request(pend, &req, NULL, out, sizeof out, &n),
                     WSP_ERR_STATE);
    /* Its http_status is set, but nothing is flushed while it is pending. */
    assert_int_equal(wsp_conn_pending_size(pend), 0);
    assert_int_equal(wsp_conn_flush(pend, out, sizeof out, &n), WSP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(wsp_conn_should_close_transport(pend), 0);
    wsp_conn_free(pend);
}

static void test_conn_reject_paths(void **state)
{
    (void)state;
    uint8_t out[1024];
    size_t n = 0;
    wsp_conn *c = x_server_with_request(rfc_request, NULL);
    /* Too small: nothing changes, *out_len 0. */
    n = 12345;
    assert_int_equal(wsp_conn_reject(c, 403, out, 10, &n), WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_HANDSHAKE);
    /* Not an error status. */
    assert_int_equal(wsp_conn_reject(c, 200, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_HANDSHAKE);
    assert_int_equal(wsp_conn_reject(c, 403, out, sizeof out, &n), WSP_OK);
    assert_true(n > 24);
    assert_memory_equal(out, "HTTP/1.1 403 Forbidden\r\n", 24);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_CLOSED);
    assert_int_equal(wsp_conn_should_close_transport(c), 1);
    wsp_conn_free(c);
}

static void test_conn_accept_request_paths(void **state)
{
    (void)state;
    uint8_t out[1024];
    size_t n = 0;
    wsp_header bad_version[5];
    memcpy(bad_version, wsp_test_upgrade_headers, sizeof bad_version);
    bad_version[4].value = "8";
    bad_version[4].value_len = 1;
    wsp_request req = wsp_test_request(bad_version, 5);

    /* Invalid: the error response is written and the status returned; with
     * too small a buffer, the connection stays in the handshake. */
    wsp_conn *c = x_new(WSP_ROLE_SERVER, 0, NULL);
    assert_int_equal(wsp_conn_accept_request(c, &req, NULL, out, 8, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_HANDSHAKE);
    assert_int_equal(wsp_conn_accept_request(c, &req, NULL, out, sizeof out, &n),
                     WSP_ERR_HTTP_WS_VERSION);
    assert_true(n > 30);
    assert_memory_equal(out, "HTTP/1.1 426 Upgrade Required\r\n", 31);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_CLOSED);
    /* The refusal is the connection's sticky error, as a head refused
     * through recv would be; its response was written once and is not
     * owed again. */
    wsp_error_info err;
    assert_int_equal(wsp_conn_error(c, &err), WSP_OK);
    assert_int_equal(err.status, WSP_ERR_HTTP_WS_VERSION);
    assert_int_equal(err.close_code, 0);
    assert_string_equal(err.reason, wsp_status_reason(WSP_ERR_HTTP_WS_VERSION));
    assert_int_equal(wsp_conn_pending_size(c), 0);
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(wsp_conn_should_close_transport(c), 1);
    uint8_t more[] = "GET / HTTP/1.1\r\n";
    size_t consumed = 0;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(c, more, sizeof more - 1, &consumed, &ev),
                     WSP_ERR_HTTP_WS_VERSION);
    assert_int_equal(consumed, sizeof more - 1);
    wsp_conn_free(c);

    if (!wsp_deflate_available()) return;
    /* Valid with a permessage-deflate offer and deflate configured: the 101
     * accepts it, after the application's own extension. A first attempt
     * with too small a buffer leaves the connection able to try again. */
    wsp_header offer[6];
    memcpy(offer, wsp_test_upgrade_headers, sizeof wsp_test_upgrade_headers);
    offer[5] = (wsp_header){"Sec-WebSocket-Extensions", 24, "permessage-deflate", 18};
    req = wsp_test_request(offer, 6);
    wsp_deflate_config dcfg;
    memset(&dcfg, 0, sizeof dcfg);
    c = x_new(WSP_ROLE_SERVER, 0, &dcfg);
    wsp_accept_options ao;
    memset(&ao, 0, sizeof ao);
    ao.extensions = "x-app";
    assert_int_equal(wsp_conn_accept_request(c, &req, &ao, out, 20, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_HANDSHAKE);
    assert_int_equal(wsp_conn_deflate_active(c), 0);
    assert_int_equal(wsp_conn_accept_request(c, &req, &ao, out, sizeof out, &n), WSP_OK);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
    assert_int_equal(wsp_conn_deflate_active(c), 1);
    wsp_response resp;
    consumed = 0;
    assert_int_equal(wsp_http_parse_response((const char *)out, n, 0, 0, &resp,
                                             &consumed), WSP_OK);
    const char *v = NULL;
    size_t vl = 0;
    assert_int_equal(wsp_headers_get(&resp.headers, "Sec-WebSocket-Extensions", &v,
                                     &vl), WSP_OK);
    assert_true(vl >= 25);
    assert_memory_equal(v, "permessage-deflate", 18);
    assert_memory_equal(v + vl - 7, ", x-app", 7);
    wsp_conn_free(c);

    /* Deflate configured but not offered: a plain 101. */
    req.headers.count = 5;
    c = x_new(WSP_ROLE_SERVER, 0, &dcfg);
    assert_int_equal(wsp_conn_accept_request(c, &req, NULL, out, sizeof out, &n), WSP_OK);
    assert_int_equal(wsp_conn_deflate_active(c), 0);
    assert_false(x_find(out, n, "permessage"));
    wsp_conn_free(c);
}

static void test_conn_accept_deflate_extensions(void **state)
{
    (void)state;
    static const char req_pmd[] =
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    wsp_deflate_config dcfg;
    memset(&dcfg, 0, sizeof dcfg);
    uint8_t out[2048];
    size_t n = 0;

    /* An empty application extension adds no separator. */
    wsp_conn *c = x_server_with_request(req_pmd, &dcfg);
    wsp_accept_options ao;
    memset(&ao, 0, sizeof ao);
    ao.extensions = "";
    assert_int_equal(wsp_conn_accept(c, &ao, out, sizeof out, &n), WSP_OK);
    assert_int_equal(wsp_conn_deflate_active(c), 1);
    assert_false(x_find(out, n, ", "));
    assert_true(x_find(out, n, "Sec-WebSocket-Extensions: permessage-deflate"));
    wsp_conn_free(c);

    /* The merged extensions value has no length limit of its own (0.1 had
     * a 512-byte buffer): a 599-byte value is answered after the library's
     * permessage-deflate element. */
    c = x_server_with_request(req_pmd, &dcfg);
    char longext[600];
    memset(longext, 'x', sizeof longext - 1);
    longext[sizeof longext - 1] = '\0';
    ao.extensions = longext;
    assert_int_equal(wsp_conn_accept(c, &ao, out, sizeof out, &n), WSP_OK);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
    assert_int_equal(wsp_conn_deflate_active(c), 1);
    assert_true(x_find(out, n, "Sec-WebSocket-Extensions: permessage-deflate, xxxx"));
    assert_true(x_find(out, n, longext));
    wsp_conn_free(c);
    /* Declining compression for this connection. */
    c = x_server_with_request(req_pmd, &dcfg);
    ao.extensions = NULL;
    ao.no_deflate = 1;
    assert_int_equal(wsp_conn_accept(c, &ao, out, sizeof out, &n), WSP_OK);
    assert_int_equal(wsp_conn_deflate_active(c), 0);
    assert_false(x_find(out, n, "permessage"));
    wsp_conn_free(c);
}

static void test_conn_client_offer(void **state)
{
    (void)state;
    wsp_deflate_config dcfg;
    memset(&dcfg, 0, sizeof dcfg);
    uint8_t out[2048];
    size_t n = 0;
    wsp_client_options co;
    memset(&co, 0, sizeof co);
    co.host = "h";
    co.extensions = "x-app";
    wsp_conn *c = x_new(WSP_ROLE_CLIENT, 0, &dcfg);
    assert_int_equal(wsp_conn_client_request(c, &co, out, sizeof out, &n), WSP_OK);
    wsp_request req;
    size_t consumed = 0;
    assert_int_equal(wsp_http_parse_request((const char *)out, n, 0, 0, &req, &consumed),
                     WSP_OK);
    const char *v = NULL;
    size_t vl = 0;
    assert_int_equal(wsp_headers_get(&req.headers, "Sec-WebSocket-Extensions", &v, &vl),
                     WSP_OK);
    assert_true(vl >= 25);
    assert_memory_equal(v, "permessage-deflate", 18);
    assert_memory_equal(v + vl - 7, ", x-app", 7);
    /* A second request is refused. */
    assert_int_equal(wsp_conn_client_request(c, &co, out, sizeof out, &n), WSP_ERR_STATE);
    wsp_conn_free(c);

    /* The offer's text has no length limit of its own (0.1 had a 512-byte
     * buffer); only the extension names the connection keeps to check the
     * answer are bounded (WSP_MAX_CLIENT_OFFER), so a 599-byte name is
     * refused and nothing changes. */
    char longext[600];
    memset(longext, 'x', sizeof longext - 1);
    longext[sizeof longext - 1] = '\0';
    co.extensions = longext;
    c = x_new(WSP_ROLE_CLIENT, 0, &dcfg);
    n = 12345;
    assert_int_equal(wsp_conn_client_request(c, &co, out, sizeof out, &n),
                     WSP_ERR_LIMIT);
    assert_int_equal(n, 0);
    co.extensions = "x-app";
    assert_int_equal(wsp_conn_client_request(c, &co, out, sizeof out, &n), WSP_OK);
    /* Entropy failure: no request. */
    wsp_conn_free(c);
    wsp_config cfg = cfg_for(WSP_ROLE_CLIENT, 0);
    cfg.entropy = wsp_test_entropy_fail;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    co.extensions = NULL;
    assert_int_equal(wsp_conn_client_request(c, &co, out, sizeof out, &n),
                     WSP_ERR_ENTROPY);
    wsp_event ev;
    assert_int_equal(x_recv(c, "HTTP/1.1 101 S\r\n\r\n", 18, &ev, NULL), WSP_ERR_STATE);
    wsp_conn_free(c);
}

static void test_conn_client_malformed_response(void **state)
{
    (void)state;
    uint8_t out[1024];
    size_t n = 0;
    wsp_client_options co;
    memset(&co, 0, sizeof co);
    co.host = "h";
    wsp_conn *c = x_new(WSP_ROLE_CLIENT, 0, NULL);
    assert_int_equal(wsp_conn_client_request(c, &co, out, sizeof out, &n), WSP_OK);
    wsp_event ev;
    size_t used = 0;
    static const char bad[] = "HTTP/1.1 1x1 Nope\r\n\r\n";
    assert_int_equal(x_recv(c, bad, strlen(bad), &ev, &used), WSP_ERR_HTTP_MALFORMED);
    assert_int_equal(ev.type, WSP_EV_FAILURE);
    assert_int_equal(ev.u.failure.status, WSP_ERR_HTTP_MALFORMED);
    assert_int_equal(ev.u.failure.close_code, 0);
    assert_int_equal(used, strlen(bad));
    assert_int_equal(wsp_conn_state(c), WSP_STATE_CLOSED);
    /* A client sends nothing back, and should close the transport. */
    assert_int_equal(wsp_conn_pending_size(c), 0);
    assert_int_equal(wsp_conn_should_close_transport(c), 1);
    assert_int_equal(x_recv(c, "x", 1, &ev, &used), WSP_ERR_HTTP_MALFORMED);
    wsp_conn_free(c);
}

static void test_conn_after_close_sent(void **state)
{
    (void)state;
    uint8_t out[256];
    size_t n = 0;
    wsp_event ev;
    static const uint8_t key[4] = {1, 2, 3, 4};
    uint8_t frame[64];

    /* A ping after our close is reported but not answered. */
    wsp_conn *c = x_new(WSP_ROLE_SERVER, 1, NULL);
    assert_int_equal(wsp_conn_close(c, 1000, "bye", 3, out, sizeof out, &n), WSP_OK);
    size_t fl = wsp_test_frame(frame, sizeof frame, 0x89, key, "hi", 2);
    assert_int_equal(x_recv(c, frame, fl, &ev, NULL), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_PING);
    assert_int_equal(ev.u.control.len, 2);
    assert_memory_equal(ev.u.control.payload, "hi", 2);
    assert_int_equal(wsp_conn_pending_size(c), 0);
    /* A protocol error now fails without a second close frame. */
    fl = wsp_test_frame(frame, sizeof frame, 0x81, NULL, "x", 1); /* unmasked */
    assert_int_equal(x_recv(c, frame, fl, &ev, NULL), WSP_ERR_PROTO_MASK);
    assert_int_equal(ev.type, WSP_EV_FAILURE);
    assert_int_equal(ev.u.failure.close_code, 0);
    wsp_error_info info;
    assert_int_equal(wsp_conn_error(c, &info), WSP_OK);
    assert_int_equal(info.status, WSP_ERR_PROTO_MASK);
    assert_int_equal(info.close_code, 0);
    assert_non_null(info.reason);
    assert_int_equal(wsp_conn_pending_size(c), 0);
    assert_int_equal(wsp_conn_should_close_transport(c), 1);
    /* Nothing can be sent on a failed connection. */
    assert_int_equal(wsp_conn_send(c, WSP_OP_PING, NULL, 0, 0, out, sizeof out, &n),
                     WSP_ERR_STATE);
    wsp_conn_free(c);
}

static void test_conn_empty_frames(void **state)
{
    (void)state;
    static const uint8_t key[4] = {9, 8, 7, 6};
    uint8_t wire[64];
    size_t w = 0;
    wsp_event ev;
    size_t used = 0;

    /* "a" (no FIN), an empty continuation (no FIN), an empty final one. */
    wsp_conn *c = x_new(WSP_ROLE_SERVER, 1, NULL);
    w = wsp_test_frame(wire, sizeof wire, 0x01, key, "a", 1);
    w += wsp_test_frame(wire + w, sizeof wire - w, 0x00, key, NULL, 0);
    w += wsp_test_frame(wire + w, sizeof wire - w, 0x80, key, NULL, 0);
    uint8_t buf[64];
    memcpy(buf, wire, w);
    size_t off = 0;
    assert_int_equal(wsp_conn_recv(c, buf, w, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_DATA);
    assert_int_equal(ev.u.data.len, 1);
    assert_int_equal(ev.u.data.payload[0], 'a');
    assert_int_equal(ev.u.data.flags, WSP_DATA_FIRST);
    off += used;
    assert_int_equal(wsp_conn_recv(c, buf + off, w - off, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_DATA);
    assert_int_equal(ev.u.data.len, 0);
    assert_int_equal(ev.u.data.flags, WSP_DATA_LAST);
    off += used;
    assert_int_equal(off, w);
    wsp_conn_free(c);

    /* Text cut inside a code point, ended by an empty final frame. */
    c = x_new(WSP_ROLE_SERVER, 1, NULL);
    w = wsp_test_frame(wire, sizeof wire, 0x01, key, "\xce", 1);
    size_t first = w;
    w += wsp_test_frame(wire + w, sizeof wire - w, 0x80, key, NULL, 0);
    memcpy(buf, wire, w);
    assert_int_equal(wsp_conn_recv(c, buf, w, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_DATA);
    assert_int_equal(used, first);
    assert_int_equal(wsp_conn_recv(c, buf + used, w - used, &used, &ev),
                     WSP_ERR_PROTO_UTF8);
    assert_int_equal(ev.type, WSP_EV_FAILURE);
    assert_int_equal(ev.u.failure.close_code, 1007);
    wsp_conn_free(c);
}

static void test_conn_compressed_text_cut(void **state)
{
    (void)state;
    wsp_deflate_params p;
    memset(&p, 0, sizeof p);
    wsp_conn *tx = x_new(WSP_ROLE_CLIENT, 1, NULL);
    wsp_conn *rx = x_new(WSP_ROLE_SERVER, 1, NULL);
    assert_int_equal(wsp_conn_enable_deflate(tx, NULL, &p), WSP_OK);
    assert_int_equal(wsp_conn_enable_deflate(rx, NULL, &p), WSP_OK);
    /* enable twice is refused */
    assert_int_equal(wsp_conn_enable_deflate(rx, NULL, &p), WSP_ERR_STATE);
    uint8_t out[256];
    size_t n = 0;
    /* The sender does not validate text: "\xce" alone is compressed. */
    assert_int_equal(wsp_conn_send(tx, WSP_OP_TEXT, (const uint8_t *)"\xce", 1, 0, out,
                                   sizeof out, &n), WSP_OK);
    assert_int_equal(out[0], 0xC1); /* FIN, RSV1, text */
    wsp_event ev;
    int rc = x_recv(rx, out, n, &ev, NULL);
    assert_int_equal(rc, WSP_ERR_PROTO_UTF8);
    assert_int_equal(ev.type, WSP_EV_FAILURE);
    assert_int_equal(ev.u.failure.close_code, 1007);
    wsp_conn_free(tx);
    wsp_conn_free(rx);
}

static void test_conn_enable_deflate_mid_message(void **state)
{
    (void)state;
    wsp_deflate_params p;
    memset(&p, 0, sizeof p);
    uint8_t out[256];
    size_t n = 0;
    /* A message being sent. */
    wsp_conn *c = x_new(WSP_ROLE_SERVER, 1, NULL);
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, (const uint8_t *)"ab", 2,
                                   WSP_SEND_MORE, out, sizeof out, &n), WSP_OK);
    assert_int_equal(wsp_conn_enable_deflate(c, NULL, &p), WSP_ERR_STATE);
    wsp_conn_free(c);
    /* A message being received. */
    c = x_new(WSP_ROLE_SERVER, 1, NULL);
    static const uint8_t key[4] = {1, 1, 1, 1};
    uint8_t frame[32];
    size_t fl = wsp_test_frame(frame, sizeof frame, 0x02, key, "ab", 2);
    wsp_event ev;
    assert_int_equal(x_recv(c, frame, fl, &ev, NULL), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_DATA);
    assert_int_equal(wsp_conn_enable_deflate(c, NULL, &p), WSP_ERR_STATE);
    assert_int_equal(wsp_conn_deflate_active(c), 0);
    wsp_conn_free(c);
}

static void test_conn_send_deflate_paths(void **state)
{
    (void)state;
    wsp_deflate_params p;
    memset(&p, 0, sizeof p);
    wsp_config cfg = cfg_for(WSP_ROLE_SERVER, 1);
    cfg.send_fragment_size = 1;
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    assert_int_equal(wsp_conn_enable_deflate(c, NULL, &p), WSP_OK);
    /* One-byte fragments cost more than any compressed frame. */
    assert_int_equal(wsp_test_send_bound(c, 100), 300);
    uint8_t out[512];
    size_t n = 0;
    static const uint8_t msg[] = "hello hello hello";
    /* Too small for the compressed worst case: nothing written. */
    n = 12345;
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, msg, 17, 0, out, 8, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    assert_true(wsp_test_send_bound(c, 17) > 8);
    /* NO_COMPRESS: plain frames, split at the fragment size, RSV1 clear. */
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, msg, 3, WSP_SEND_NO_COMPRESS, out,
                                   sizeof out, &n), WSP_OK);
    assert_int_equal(n, 9);
    static const uint8_t want[] = {0x01, 1, 'h', 0x00, 1, 'e', 0x80, 1, 'l'};
    assert_memory_equal(out, want, sizeof want);
    /* Compressed, in two pieces: RSV1 on the first frame only. */
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, msg, 17, WSP_SEND_MORE, out,
                                   sizeof out, &n), WSP_OK);
    assert_int_equal(out[0], 0x41);
    /* Zero-copy cannot continue a compressed message. */
    uint8_t pl[2] = {'x', 'y'};
    uint8_t hdr[WSP_MAX_FRAME_HEADER];
    size_t hl = 0;
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_TEXT, pl, 2, 0, hdr, &hl),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, msg, 17, 0, out, sizeof out, &n),
                     WSP_OK);
    assert_int_equal(out[0], 0x80);
    wsp_conn_free(c);
}

/* RFC 6455 5.2: a frame's length has 63 bits. The header writer relies on
 * that, so a larger length must be refused before any header is written
 * (it was once encoded with the top bit set, which no peer can parse). */
static void test_conn_send_length_over_63_bits(void **state)
{
    (void)state;
#if SIZE_MAX > 0x7FFFFFFFFFFFFFFFu
    uint8_t hdr[WSP_MAX_FRAME_HEADER];
    uint8_t byte = 0, out[64];
    size_t hl = 99, n = 99;
    size_t huge = (size_t)1 << 63;
    wsp_conn *c = x_new(WSP_ROLE_SERVER, 1, NULL);
    /* The payload is never read: the length alone is refused. */
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_BINARY, &byte, huge, 0, hdr, &hl),
                     WSP_ERR_LIMIT);
    assert_int_equal(hl, 0);
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, &byte, huge, WSP_SEND_MORE, out,
                                   sizeof out, &n),
                     WSP_ERR_LIMIT);
    assert_int_equal(n, 0);
    /* Nothing changed: a text message may start now. */
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, (const uint8_t *)"ok", 2, 0, out,
                                   sizeof out, &n),
                     WSP_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "\x81\x02ok", 4);
    wsp_conn_free(c);
#endif
}

static void test_conn_zerocopy(void **state)
{
    (void)state;
    uint8_t hdr[WSP_MAX_FRAME_HEADER];
    size_t hl = 0;
    /* Client: the payload is masked in place with the key in the header. */
    wsp_conn *c = x_new(WSP_ROLE_CLIENT, 1, NULL);
    uint8_t pl[5];
    memcpy(pl, "hello", 5);
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_TEXT, pl, 5, WSP_SEND_MORE, hdr,
                                            &hl), WSP_OK);
    assert_int_equal(hl, 6);
    assert_int_equal(hdr[0], 0x01); /* no FIN, text */
    assert_int_equal(hdr[1], 0x85);
    uint8_t un[5];
    memcpy(un, pl, 5);
    wsp_mask(un, 5, hdr + 2, 0);
    assert_memory_equal(un, "hello", 5);
    /* A ping in between does not end the message. */
    uint8_t ping[2] = {'p', 'q'};
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_PING, ping, 2, 0, hdr, &hl),
                     WSP_OK);
    assert_int_equal(hdr[0], 0x89);
    wsp_mask(ping, 2, hdr + 2, 0);
    assert_memory_equal(ping, "pq", 2);
    /* Another opcode while the text message is open is refused. */
    uint8_t b[1] = {0};
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_BINARY, b, 1, 0, hdr, &hl),
                     WSP_ERR_INVALID_ARG);
    /* The last piece is a final continuation. */
    uint8_t last[1] = {'!'};
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_TEXT, last, 1, 0, hdr, &hl),
                     WSP_OK);
    assert_int_equal(hdr[0], 0x80);
    /* Then a new message starts with its own opcode. */
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_BINARY, b, 1, 0, hdr, &hl),
                     WSP_OK);
    assert_int_equal(hdr[0], 0x82);
    wsp_conn_free(c);

    /* Entropy failure: nothing masked, ENTROPY. */
    wsp_config cfg = cfg_for(WSP_ROLE_CLIENT, 1);
    cfg.entropy = wsp_test_entropy_fail;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    memcpy(pl, "hello", 5);
    assert_int_equal(wsp_conn_send_zerocopy(c, WSP_OP_TEXT, pl, 5, 0, hdr, &hl),
                     WSP_ERR_ENTROPY);
    assert_memory_equal(pl, "hello", 5);
    wsp_conn_free(c);
}

static void test_conn_close_arguments(void **state)
{
    (void)state;
    uint8_t out[256];
    size_t n = 0;
    wsp_conn *c = x_new(WSP_ROLE_SERVER, 1, NULL);
    char reason[130];
    memset(reason, 'r', sizeof reason);
    /* Reason over 123 bytes. */
    assert_int_equal(wsp_conn_close(c, 1000, reason, 124, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    /* Invalid UTF-8, or cut inside a code point. */
    assert_int_equal(wsp_conn_close(c, 1000, "a\xff", 2, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_close(c, 1000, "a\xe2\x82", 3, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    /* A reason needs a code; codes not allowed to be sent. */
    assert_int_equal(wsp_conn_close(c, 0, "a", 1, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_close(c, 1005, NULL, 0, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
    /* Exactly 123 bytes fits a control frame. */
    assert_int_equal(wsp_conn_close(c, 1000, reason, 123, out, sizeof out, &n), WSP_OK);
    assert_int_equal(n, 2 + 125);
    assert_int_equal(out[0], 0x88);
    assert_int_equal(out[1], 125);
    assert_int_equal(out[2], 0x03);
    assert_int_equal(out[3], 0xE8);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_CLOSING);
    assert_int_equal(wsp_conn_close(c, 1000, NULL, 0, out, sizeof out, &n), WSP_ERR_STATE);
    wsp_conn_free(c);
}

static void test_conn_flush_too_small(void **state)
{
    (void)state;
    wsp_conn *c = x_new(WSP_ROLE_SERVER, 1, NULL);
    static const uint8_t key[4] = {5, 6, 7, 8};
    uint8_t frame[64];
    size_t fl = wsp_test_frame(frame, sizeof frame, 0x89, key, "abc", 3);
    wsp_event ev;
    assert_int_equal(x_recv(c, frame, fl, &ev, NULL), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_PING);
    assert_int_equal(wsp_conn_pending_size(c), 5);
    uint8_t out[16];
    size_t n = 0;
    n = 12345;
    assert_int_equal(wsp_conn_flush(c, out, 4, &n), WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    assert_int_equal(wsp_conn_pending_size(c), 5);
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_OK);
    assert_int_equal(n, 5);
    static const uint8_t pong[] = {0x8A, 3, 'a', 'b', 'c'};
    assert_memory_equal(out, pong, 5);
    assert_int_equal(wsp_conn_pending_size(c), 0);
    /* A failed server with its close still pending keeps the transport. */
    fl = wsp_test_frame(frame, sizeof frame, 0x83, key, "x", 1); /* reserved opcode */
    assert_int_equal(x_recv(c, frame, fl, &ev, NULL), WSP_ERR_PROTO_OPCODE);
    assert_true(wsp_conn_pending_size(c) > 0);
    assert_int_equal(wsp_conn_should_close_transport(c), 0);
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_ERR_BUFFER_TOO_SMALL);
    uint8_t big[256];
    assert_int_equal(wsp_conn_flush(c, big, sizeof big, &n), WSP_OK);
    assert_int_equal(big[0], 0x88);
    assert_int_equal(big[2], 0x03);
    assert_int_equal(big[3], 0xEA); /* 1002 */
    assert_int_equal(wsp_conn_should_close_transport(c), 1);
    wsp_conn_free(c);
}

/* ------------------------------------------------------------------------
 * Regressions of the 0.1 defects fixed by the 0.2 API (issue 12); each
 * test is named after the defect it guards against.
 * ---------------------------------------------------------------------- */

#if defined(__GNUC__)
#define X_NOINLINE __attribute__((noinline))
#else
#define X_NOINLINE
#endif

/* The 101 a server would send for the request in req[0..req_len), with
 * `extra` header lines (each ending in CRLF) added. */
static size_t x_answer(const uint8_t *req, size_t req_len, const char *extra,
                       char *out, size_t cap)
{
    wsp_request r;
    size_t consumed = 0;
    assert_int_equal(wsp_http_parse_request((const char *)req, req_len, 0, 0, &r,
                                            &consumed), WSP_OK);
    const char *key = NULL;
    size_t key_len = 0;
    assert_int_equal(wsp_headers_get(&r.headers, "Sec-WebSocket-Key", &key, &key_len),
                     WSP_OK);
    char accept[WSP_ACCEPT_LEN + 1];
    assert_int_equal(wsp_accept_key(key, key_len, accept), WSP_OK);
    int n = snprintf(out, cap,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                     accept, extra);
    assert_true(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* Sends the client request with options that live only in this frame:
 * the strings and the pointer array are on the stack, and die on return. */
static X_NOINLINE int request_from_dying_frame(wsp_conn *c, uint8_t *out, size_t cap,
                                               size_t *out_len)
{
    char sub1[16], sub2[16], ext[32];
    memcpy(sub1, "chat.v1", 8);
    memcpy(sub2, "chat.v2", 8);
    memcpy(ext, "x-ext; level=1", 15);
    const char *subs[2] = {sub1, sub2};
    wsp_client_options o;
    memset(&o, 0, sizeof o);
    o.host = "h.example";
    o.subprotocols = subs;
    o.subprotocol_count = 2;
    o.extensions = ext;
    return wsp_conn_client_request(c, &o, out, cap, out_len);
}

/* Overwrites the stack below the caller, where the dead frame was. */
static X_NOINLINE void scribble_stack(void)
{
    volatile unsigned char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)('Z' + (i & 1));
}

/* The response status a client reports for a 101 carrying `extra` lines,
 * when its request options died before the response arrived. */
static int answer_after_dead_options(const char *extra, char *chosen, size_t chosen_cap)
{
    wsp_conn *c = x_new(WSP_ROLE_CLIENT, 0, NULL);
    uint8_t req[1024];
    size_t n = 0;
    assert_int_equal(request_from_dying_frame(c, req, sizeof req, &n), WSP_OK);
    scribble_stack();
    char resp[1024];
    size_t rn = x_answer(req, n, extra, resp, sizeof resp);
    wsp_event ev;
    size_t used = 0;
    assert_int_equal(x_recv(c, resp, rn, &ev, &used), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_RESPONSE);
    assert_int_equal(used, rn);
    int status = ev.u.response.status;
    chosen[0] = '\0';
    if (ev.u.response.subprotocol) {
        assert_true(ev.u.response.subprotocol_len < chosen_cap);
        memcpy(chosen, ev.u.response.subprotocol, ev.u.response.subprotocol_len);
        chosen[ev.u.response.subprotocol_len] = '\0';
    }
    assert_int_equal(wsp_conn_state(c),
                     status == WSP_OK ? WSP_STATE_OPEN : WSP_STATE_CLOSED);
    wsp_conn_free(c);
    return status;
}

/* 0.1 kept pointers into wsp_client_options and read them when the 101
 * arrived: options on a dead stack frame made it check the answer against
 * whatever overwrote them. */
static void test_regression_client_options_on_dead_stack_frame(void **state)
{
    (void)state;
    char chosen[32];
    assert_int_equal(answer_after_dead_options("Sec-WebSocket-Protocol: chat.v2\r\n",
                                               chosen, sizeof chosen),
                     WSP_OK);
    assert_string_equal(chosen, "chat.v2");
    assert_int_equal(answer_after_dead_options("Sec-WebSocket-Protocol: chat.v1\r\n"
                                               "Sec-WebSocket-Extensions: x-ext; level=1\r\n",
                                               chosen, sizeof chosen),
                     WSP_OK);
    assert_string_equal(chosen, "chat.v1");
    assert_int_equal(answer_after_dead_options("Sec-WebSocket-Protocol: chat.v3\r\n",
                                               chosen, sizeof chosen),
                     WSP_ERR_HTTP_SUBPROTOCOL);
    assert_int_equal(answer_after_dead_options("Sec-WebSocket-Extensions: x-other\r\n",
                                               chosen, sizeof chosen),
                     WSP_ERR_HTTP_EXTENSION);
    /* The stack's new contents are not an offer either. */
    assert_int_equal(answer_after_dead_options("Sec-WebSocket-Protocol: ZZZZ\r\n",
                                               chosen, sizeof chosen),
                     WSP_ERR_HTTP_SUBPROTOCOL);
}

/* The client keeps at most WSP_MAX_CLIENT_OFFER bytes of offers; more is
 * WSP_ERR_LIMIT with nothing changed, so the call can be made again. */
static void test_regression_client_offer_over_limit_changes_nothing(void **state)
{
    (void)state;
    /* Three 40-byte subprotocols: 120 bytes and more with separators. */
    char big[3][41];
    const char *big_subs[3];
    for (int i = 0; i < 3; i++) {
        memset(big[i], 'a' + i, 40);
        big[i][40] = '\0';
        big_subs[i] = big[i];
    }
    wsp_client_options o;
    memset(&o, 0, sizeof o);
    o.host = "h";
    o.subprotocols = big_subs;
    o.subprotocol_count = 3;
    wsp_conn *c = x_new(WSP_ROLE_CLIENT, 0, NULL);
    uint8_t req[1024];
    size_t n = 12345;
    assert_int_equal(wsp_conn_client_request(c, &o, req, sizeof req, &n), WSP_ERR_LIMIT);
    assert_int_equal(n, 0);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_HANDSHAKE);
    /* Nothing was sent: receiving is not allowed yet. */
    wsp_event ev;
    assert_int_equal(x_recv(c, "HTTP/1.1", 8, &ev, NULL), WSP_ERR_STATE);
    /* The same through the extension names alone (their parameters do not
     * count: only names are kept). */
    o.subprotocols = NULL;
    o.subprotocol_count = 0;
    char exts[200];
    snprintf(exts, sizeof exts, "%s; p=1, %s; q=2, %s", big[0], big[1], big[2]);
    o.extensions = exts;
    n = 12345;
    assert_int_equal(wsp_conn_client_request(c, &o, req, sizeof req, &n), WSP_ERR_LIMIT);
    assert_int_equal(n, 0);

    /* Smaller options: the request goes out, and the answer is checked
     * against them alone. Two names and their separator, one byte under
     * the limit (sized from it, so the test follows the constant), fit. */
    char fit_a[WSP_MAX_CLIENT_OFFER], fit_b[WSP_MAX_CLIENT_OFFER];
    size_t len_a = (WSP_MAX_CLIENT_OFFER - 2) / 2;
    size_t len_b = WSP_MAX_CLIENT_OFFER - 2 - len_a;
    memset(fit_a, 'm', len_a);
    fit_a[len_a] = '\0';
    memset(fit_b, 'n', len_b);
    fit_b[len_b] = '\0';
    const char *fit[2] = {fit_a, fit_b};
    assert_int_equal(strlen(fit[0]) + 1 + strlen(fit[1]), WSP_MAX_CLIENT_OFFER - 1);
    o.subprotocols = fit;
    o.subprotocol_count = 2;
    o.extensions = NULL;
    assert_int_equal(wsp_conn_client_request(c, &o, req, sizeof req, &n), WSP_OK);
    assert_true(n > 0);
    char line[128];
    snprintf(line, sizeof line, "Sec-WebSocket-Protocol: %s\r\n", big[0]);
    char resp[1024];
    size_t rn = x_answer(req, n, line, resp, sizeof resp);
    assert_int_equal(x_recv(c, resp, rn, &ev, NULL), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_RESPONSE);
    assert_int_equal(ev.u.response.status, WSP_ERR_HTTP_SUBPROTOCOL);
    wsp_conn_free(c);

    c = x_new(WSP_ROLE_CLIENT, 0, NULL);
    assert_int_equal(wsp_conn_client_request(c, &o, req, sizeof req, &n), WSP_OK);
    snprintf(line, sizeof line, "Sec-WebSocket-Protocol: %s\r\n", fit[1]);
    rn = x_answer(req, n, line, resp, sizeof resp);
    assert_int_equal(x_recv(c, resp, rn, &ev, NULL), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_RESPONSE);
    assert_int_equal(ev.u.response.status, WSP_OK);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
    wsp_conn_free(c);
}

/* 0.1 computed the size of a send without overflow checks: a client with
 * one-byte fragments pays 2 + 4 + 1 = 7 bytes per payload byte, which
 * wrapped size_t for large lengths. */
static void test_regression_send_bound_overflow(void **state)
{
    (void)state;
    wsp_config cfg = cfg_for(WSP_ROLE_CLIENT, 1);
    cfg.send_fragment_size = 1;
    cfg.entropy = wsp_test_entropy;
    cfg.entropy_user = &x_seed;
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);

    size_t b = 12345;
    assert_int_equal(wsp_conn_send_bound(c, SIZE_MAX / 4, &b), WSP_ERR_LIMIT);
    assert_int_equal(b, 0);
    /* The payload pointer is a small buffer: the call must refuse the
     * length before it reads anything. */
    uint8_t small[4] = {1, 2, 3, 4};
    uint8_t out[64];
    memset(out, 0xEE, sizeof out);
    size_t n = 12345;
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, small, SIZE_MAX / 4, 0, out,
                                   sizeof out, &n),
                     WSP_ERR_LIMIT);
    assert_int_equal(n, 0);
    for (size_t i = 0; i < sizeof out; i++) assert_int_equal(out[i], 0xEE);

    /* The edge: 7 * len must fit in size_t. */
    size_t edge = SIZE_MAX / 7;
    assert_int_equal(wsp_conn_send_bound(c, edge, &b), WSP_OK);
    assert_true(b == edge * 7);
    assert_int_equal(wsp_conn_send_bound(c, edge + 1, &b), WSP_ERR_LIMIT);
    assert_int_equal(b, 0);
    n = 12345;
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, small, edge + 1, 0, out, sizeof out,
                                   &n),
                     WSP_ERR_LIMIT);
    assert_int_equal(n, 0);
    /* At the edge the size is representable, just not available. */
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, small, edge, 0, out, sizeof out, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    /* Nothing was started: a small message goes out whole, 7 bytes a byte. */
    assert_int_equal(wsp_test_send_bound(c, 3), 21);
    assert_int_equal(wsp_conn_send(c, WSP_OP_BINARY, small, 3, 0, out, sizeof out, &n),
                     WSP_OK);
    assert_int_equal(n, 21);
    assert_int_equal(out[0], 0x02);
    assert_int_equal(out[7], 0x00);
    assert_int_equal(out[14], 0x80);
    wsp_conn_free(c);
}

#define X_SENTINEL 12345u
/* Makes a call that must fail with `want` and checks it left *out_len 0. */
#define EXPECT_FAIL_ZERO(len_var, call, want)                                  \
    do {                                                                       \
        (len_var) = X_SENTINEL;                                                \
        assert_int_equal((call), (want));                                      \
        assert_int_equal((len_var), 0);                                        \
    } while (0)

/* 0.1 stored the needed size in *out_len on WSP_ERR_BUFFER_TOO_SMALL and
 * left it untouched on other failures: `total += n` after a failed call
 * added garbage. Every connection output function now leaves 0. */
static void test_regression_conn_out_len_zero_on_every_failure(void **state)
{
    (void)state;
    uint8_t out[1024];
    size_t n = 0;
    wsp_accept_options ao = accept_opts(NULL, NULL, NULL, 0);

    /* wsp_conn_accept: too small, bad option, wrong state. */
    wsp_conn *s = x_server_with_request(rfc_request, NULL);
    EXPECT_FAIL_ZERO(n, wsp_conn_accept(s, &ao, out, 10, &n), WSP_ERR_BUFFER_TOO_SMALL);
    wsp_accept_options bad = accept_opts("not a token", NULL, NULL, 0);
    EXPECT_FAIL_ZERO(n, wsp_conn_accept(s, &bad, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    EXPECT_FAIL_ZERO(n, wsp_conn_accept(s, &ao, NULL, 10, &n), WSP_ERR_INVALID_ARG);
    /* wsp_conn_reject: too small, not an error status. */
    EXPECT_FAIL_ZERO(n, wsp_conn_reject(s, 403, out, 10, &n), WSP_ERR_BUFFER_TOO_SMALL);
    EXPECT_FAIL_ZERO(n, wsp_conn_reject(s, 200, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_accept(s, &ao, out, sizeof out, &n), WSP_OK);
    assert_true(n > 0);
    /* Open now: accept and reject are out of place. */
    EXPECT_FAIL_ZERO(n, wsp_conn_accept(s, &ao, out, sizeof out, &n), WSP_ERR_STATE);
    EXPECT_FAIL_ZERO(n, wsp_conn_reject(s, 403, out, sizeof out, &n), WSP_ERR_STATE);
    /* wsp_conn_client_request on a server. */
    wsp_client_options co;
    memset(&co, 0, sizeof co);
    co.host = "h";
    EXPECT_FAIL_ZERO(n, wsp_conn_client_request(s, &co, out, sizeof out, &n), WSP_ERR_STATE);
    /* wsp_conn_send: too small, bad opcode, oversized control frame. */
    static const uint8_t text[] = "Hello";
    EXPECT_FAIL_ZERO(n, wsp_conn_send(s, WSP_OP_TEXT, text, 5, 0, out, 6, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    EXPECT_FAIL_ZERO(n, wsp_conn_send(s, (wsp_opcode)3, text, 5, 0, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    uint8_t big[126];
    memset(big, 'p', sizeof big);
    EXPECT_FAIL_ZERO(n, wsp_conn_send(s, WSP_OP_PING, big, sizeof big, 0, out, sizeof out,
                                      &n),
                     WSP_ERR_INVALID_ARG);
    /* wsp_conn_send_zerocopy: hdr_len. */
    uint8_t hdr[WSP_MAX_FRAME_HEADER];
    uint8_t zc[5] = {'a', 'b', 'c', 'd', 'e'};
    EXPECT_FAIL_ZERO(n, wsp_conn_send_zerocopy(s, (wsp_opcode)3, zc, 5, 0, hdr, &n),
                     WSP_ERR_INVALID_ARG);
    EXPECT_FAIL_ZERO(n, wsp_conn_send_zerocopy(s, WSP_OP_PING, zc, 5, WSP_SEND_MORE, hdr,
                                               &n),
                     WSP_ERR_INVALID_ARG);
    /* wsp_conn_flush: a pong owed for a ping, and too little room. */
    static const uint8_t key[4] = {9, 8, 7, 6};
    uint8_t frame[64];
    size_t fl = wsp_test_frame(frame, sizeof frame, 0x89, key, "abc", 3);
    wsp_event ev;
    assert_int_equal(x_recv(s, frame, fl, &ev, NULL), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_PING);
    assert_int_equal(wsp_conn_pending_size(s), 5);
    EXPECT_FAIL_ZERO(n, wsp_conn_flush(s, out, 4, &n), WSP_ERR_BUFFER_TOO_SMALL);
    EXPECT_FAIL_ZERO(n, wsp_conn_flush(s, NULL, 4, &n), WSP_ERR_INVALID_ARG);
    /* wsp_conn_close: too small, bad code, then after the close. */
    EXPECT_FAIL_ZERO(n, wsp_conn_close(s, 1000, "bye", 3, out, 6, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    EXPECT_FAIL_ZERO(n, wsp_conn_close(s, 1005, NULL, 0, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_close(s, 1000, "bye", 3, out, sizeof out, &n), WSP_OK);
    EXPECT_FAIL_ZERO(n, wsp_conn_close(s, 1000, NULL, 0, out, sizeof out, &n),
                     WSP_ERR_STATE);
    EXPECT_FAIL_ZERO(n, wsp_conn_send(s, WSP_OP_TEXT, text, 5, 0, out, sizeof out, &n),
                     WSP_ERR_STATE);
    EXPECT_FAIL_ZERO(n, wsp_conn_send_zerocopy(s, WSP_OP_TEXT, zc, 5, 0, hdr, &n),
                     WSP_ERR_STATE);
    wsp_conn_free(s);

    /* Before the handshake: sending and closing are out of place. */
    wsp_conn *pending = x_new(WSP_ROLE_SERVER, 0, NULL);
    EXPECT_FAIL_ZERO(n, wsp_conn_send(pending, WSP_OP_TEXT, text, 5, 0, out, sizeof out, &n),
                     WSP_ERR_STATE);
    EXPECT_FAIL_ZERO(n, wsp_conn_close(pending, 1000, NULL, 0, out, sizeof out, &n),
                     WSP_ERR_STATE);
    EXPECT_FAIL_ZERO(n, wsp_conn_send_zerocopy(pending, WSP_OP_TEXT, zc, 5, 0, hdr, &n),
                     WSP_ERR_STATE);
    EXPECT_FAIL_ZERO(n, wsp_conn_accept(pending, &ao, out, sizeof out, &n), WSP_ERR_STATE);
    EXPECT_FAIL_ZERO(n, wsp_conn_reject(pending, 0, out, sizeof out, &n), WSP_ERR_STATE);
    wsp_conn_free(pending);

    /* wsp_conn_accept_request: too small, wrong state; a validation error is
     * the one failure with output, and *out_len counts it. */
    wsp_request req = wsp_test_request(wsp_test_upgrade_headers, 5);
    wsp_conn *ar = x_new(WSP_ROLE_SERVER, 0, NULL);
    EXPECT_FAIL_ZERO(n, wsp_conn_accept_request(ar, &req, NULL, out, 10, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    EXPECT_FAIL_ZERO(n, wsp_conn_accept_request(ar, &req, &bad, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_accept_request(ar, &req, NULL, out, sizeof out, &n), WSP_OK);
    assert_true(n > 0);
    EXPECT_FAIL_ZERO(n, wsp_conn_accept_request(ar, &req, NULL, out, sizeof out, &n),
                     WSP_ERR_STATE);
    wsp_conn_free(ar);
    wsp_conn *client = x_new(WSP_ROLE_CLIENT, 0, NULL);
    EXPECT_FAIL_ZERO(n, wsp_conn_accept_request(client, &req, NULL, out, sizeof out, &n),
                     WSP_ERR_STATE);
    wsp_conn_free(client);
    wsp_conn *invalid = x_new(WSP_ROLE_SERVER, 0, NULL);
    req.headers.count = 4; /* no Sec-WebSocket-Version: 426 */
    size_t err_len = 0;
    assert_int_equal(wsp_http_build_error(426, NULL, 0, &err_len), WSP_OK);
    n = X_SENTINEL;
    assert_int_equal(wsp_conn_accept_request(invalid, &req, NULL, out, sizeof out, &n),
                     WSP_ERR_HTTP_WS_VERSION);
    assert_int_equal(n, err_len);
    assert_memory_equal(out, "HTTP/1.1 426 ", 13);
    wsp_conn_free(invalid);

    /* wsp_conn_client_request: too small, no host, no buffer, sent twice. */
    client = x_new(WSP_ROLE_CLIENT, 0, NULL);
    EXPECT_FAIL_ZERO(n, wsp_conn_client_request(client, &co, out, 10, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    EXPECT_FAIL_ZERO(n, wsp_conn_client_request(client, &co, NULL, 0, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    wsp_client_options nohost = co;
    nohost.host = NULL;
    EXPECT_FAIL_ZERO(n, wsp_conn_client_request(client, &nohost, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_client_request(client, &co, out, sizeof out, &n), WSP_OK);
    EXPECT_FAIL_ZERO(n, wsp_conn_client_request(client, &co, out, sizeof out, &n),
                     WSP_ERR_STATE);
    wsp_conn_free(client);

    /* A client whose entropy source fails. */
    wsp_config cfg = cfg_for(WSP_ROLE_CLIENT, 1);
    cfg.entropy = wsp_test_entropy_fail;
    wsp_conn *dry = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &dry), WSP_OK);
    EXPECT_FAIL_ZERO(n, wsp_conn_send(dry, WSP_OP_TEXT, text, 5, 0, out, sizeof out, &n),
                     WSP_ERR_ENTROPY);
    EXPECT_FAIL_ZERO(n, wsp_conn_send_zerocopy(dry, WSP_OP_TEXT, zc, 5, 0, hdr, &n),
                     WSP_ERR_ENTROPY);
    EXPECT_FAIL_ZERO(n, wsp_conn_close(dry, 1000, NULL, 0, out, sizeof out, &n),
                     WSP_ERR_ENTROPY);
    wsp_conn_free(dry);
}

/* 0.1's wsp_conn_close dropped a pong the connection owed for an earlier
 * ping: RFC 6455 5.5.2 wants it sent, and before the close (5.5.1). */
static void test_regression_close_writes_owed_pong_first(void **state)
{
    (void)state;
    static const uint8_t key[4] = {1, 2, 3, 4};
    uint8_t frame[64];
    size_t fl = wsp_test_frame(frame, sizeof frame, 0x89, key, "abc", 3);
    wsp_conn *s = x_new(WSP_ROLE_SERVER, 1, NULL);
    wsp_event ev;
    assert_int_equal(x_recv(s, frame, fl, &ev, NULL), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_PING);
    assert_int_equal(wsp_conn_pending_size(s), 5);

    static const uint8_t want[] = {0x8A, 3, 'a', 'b', 'c',
                                   0x88, 5, 0x03, 0xE8, 'b', 'y', 'e'};
    uint8_t out[64];
    memset(out, 0xEE, sizeof out);
    size_t n = X_SENTINEL;
    /* Room for the close frame alone is not enough. */
    assert_int_equal(wsp_conn_close(s, 1000, "bye", 3, out, 7, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    assert_int_equal(out[0], 0xEE);
    assert_int_equal(wsp_conn_close(s, 1000, "bye", 3, out, sizeof want - 1, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    /* Nothing changed: the pong is still owed, the connection open. */
    assert_int_equal(wsp_conn_pending_size(s), 5);
    assert_int_equal(wsp_conn_state(s), WSP_STATE_OPEN);
    assert_int_equal(wsp_conn_close(s, 1000, "bye", 3, out, sizeof want, &n), WSP_OK);
    assert_int_equal(n, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    /* The pong went out with the close: nothing is left to flush. */
    assert_int_equal(wsp_conn_pending_size(s), 0);
    assert_int_equal(wsp_conn_state(s), WSP_STATE_CLOSING);
    wsp_conn_free(s);

    /* A client's pong and close are both masked, and a server reads them in
     * that order. */
    wsp_conn *c = x_new(WSP_ROLE_CLIENT, 1, NULL);
    fl = wsp_test_frame(frame, sizeof frame, 0x89, NULL, "xy", 2);
    assert_int_equal(x_recv(c, frame, fl, &ev, NULL), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_PING);
    assert_int_equal(wsp_conn_close(c, 1001, NULL, 0, out, sizeof out, &n), WSP_OK);
    assert_int_equal(n, (2 + 4 + 2) + (2 + 4 + 2));
    assert_int_equal(out[0], 0x8A);
    assert_int_equal(out[1], 0x82);
    assert_int_equal(out[8], 0x88);
    assert_int_equal(out[9], 0x82);
    wsp_conn_free(c);
    s = x_new(WSP_ROLE_SERVER, 1, NULL);
    uint8_t buf[64];
    memcpy(buf, out, n);
    size_t used = 0;
    assert_int_equal(wsp_conn_recv(s, buf, n, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_PONG);
    assert_int_equal(ev.u.control.len, 2);
    assert_memory_equal(ev.u.control.payload, "xy", 2);
    size_t used2 = 0;
    assert_int_equal(wsp_conn_recv(s, buf + used, n - used, &used2, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_CLOSE);
    assert_int_equal(ev.u.close.code, 1001);
    assert_int_equal(used + used2, n);
    wsp_conn_free(s);
}

/* 0.1 left the fields an event did not use as they were: a DATA event read
 * through a stale field, or a REQUEST whose upgrade.headers pointed into
 * the event itself, broke when the event was copied. */
static void test_regression_event_fully_set(void **state)
{
    (void)state;
    static const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
    uint8_t frame[64];
    wsp_conn *s = x_new(WSP_ROLE_SERVER, 1, NULL);
    /* A whole message, then the pieces of a fragmented one. */
    size_t fl = wsp_test_frame(frame, sizeof frame, 0x82, key, "\x01\x02\x03", 3);
    wsp_event ev;
    memset(&ev, 0xA5, sizeof ev);
    static uint8_t buf[256];
    memcpy(buf, frame, fl);
    size_t used = 0;
    assert_int_equal(wsp_conn_recv(s, buf, fl, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_DATA);
    assert_int_equal(ev.u.data.opcode, WSP_OP_BINARY);
    assert_int_equal(ev.u.data.flags, WSP_DATA_FIRST | WSP_DATA_LAST);
    assert_int_equal(ev.u.data.len, 3);
    assert_ptr_equal(ev.u.data.payload, buf + 6);
    assert_memory_equal(ev.u.data.payload, "\x01\x02\x03", 3);

    fl = wsp_test_frame(frame, sizeof frame, 0x01, key, "ab", 2);
    fl += wsp_test_frame(frame + fl, sizeof frame - fl, 0x00, key, "cd", 2);
    fl += wsp_test_frame(frame + fl, sizeof frame - fl, 0x80, key, "", 0);
    memcpy(buf, frame, fl);
    size_t off = 0;
    static const unsigned want_flags[3] = {WSP_DATA_FIRST, 0, WSP_DATA_LAST};
    static const size_t want_len[3] = {2, 2, 0};
    for (int i = 0; i < 3; i++) {
        memset(&ev, 0xA5, sizeof ev);
        assert_int_equal(wsp_conn_recv(s, buf + off, fl - off, &used, &ev), WSP_OK);
        off += used;
        assert_int_equal(ev.type, WSP_EV_DATA);
        assert_int_equal(ev.u.data.opcode, WSP_OP_TEXT);
        assert_int_equal(ev.u.data.flags, want_flags[i]);
        assert_int_equal(ev.u.data.len, want_len[i]);
        /* Set even when empty: never the fill pattern. */
        assert_true(ev.u.data.payload >= buf && ev.u.data.payload <= buf + fl);
    }
    assert_int_equal(off, fl);
    /* No event: the type says so. */
    memset(&ev, 0xA5, sizeof ev);
    assert_int_equal(wsp_conn_recv(s, buf, 0, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_NONE);
    assert_int_equal(used, 0);
    /* A ping and a close without a payload. */
    fl = wsp_test_frame(frame, sizeof frame, 0x89, key, "", 0);
    memcpy(buf, frame, fl);
    memset(&ev, 0xA5, sizeof ev);
    assert_int_equal(wsp_conn_recv(s, buf, fl, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_PING);
    assert_int_equal(ev.u.control.len, 0);
    assert_true(ev.u.control.payload == NULL ||
                (ev.u.control.payload >= buf && ev.u.control.payload <= buf + fl));
    fl = wsp_test_frame(frame, sizeof frame, 0x88, key, "", 0);
    memcpy(buf, frame, fl);
    memset(&ev, 0xA5, sizeof ev);
    assert_int_equal(wsp_conn_recv(s, buf, fl, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_CLOSE);
    assert_int_equal(ev.u.close.code, 1005);
    assert_int_equal(ev.u.close.reason_len, 0);
    assert_true(ev.u.close.reason == NULL ||
                ((const uint8_t *)ev.u.close.reason >= buf &&
                 (const uint8_t *)ev.u.close.reason <= buf + fl));
    wsp_conn_free(s);

    /* A failure. */
    s = x_new(WSP_ROLE_SERVER, 1, NULL);
    fl = wsp_test_frame(frame, sizeof frame, 0x83, key, "x", 1); /* opcode 3 */
    memcpy(buf, frame, fl);
    memset(&ev, 0xA5, sizeof ev);
    assert_int_equal(wsp_conn_recv(s, buf, fl, &used, &ev), WSP_ERR_PROTO_OPCODE);
    assert_int_equal(ev.type, WSP_EV_FAILURE);
    assert_int_equal(ev.u.failure.status, WSP_ERR_PROTO_OPCODE);
    assert_int_equal(ev.u.failure.close_code, 1002);
    assert_int_equal(ev.u.failure.offset, 0);
    assert_non_null(ev.u.failure.reason);
    assert_true(strlen(ev.u.failure.reason) > 0);
    wsp_conn_free(s);

    /* A request copied by value, the original wiped: the copy's headers
     * still lead to the offered subprotocols (they point into the caller's
     * buffer, not into the event). */
    s = x_new(WSP_ROLE_SERVER, 0, NULL);
    static uint8_t head[sizeof rfc_request];
    memcpy(head, rfc_request, sizeof rfc_request - 1);
    memset(&ev, 0xA5, sizeof ev);
    assert_int_equal(wsp_conn_recv(s, head, sizeof rfc_request - 1, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_REQUEST);
    wsp_event copy;
    memcpy(&copy, &ev, sizeof copy);
    memset(&ev, 0, sizeof ev);
    assert_int_equal(copy.u.request.status, WSP_OK);
    assert_int_equal(copy.u.request.http_status, 101);
    assert_string_equal(copy.u.request.upgrade.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    size_t pos = 0, lpos = 0, il = 0;
    const char *item = NULL;
    assert_int_equal(wsp_upgrade_next_subprotocol(&copy.u.request.upgrade.headers, &pos,
                                                  &lpos, &item, &il), WSP_OK);
    assert_true(il == 4 && memcmp(item, "chat", 4) == 0);
    assert_int_equal(wsp_upgrade_next_subprotocol(&copy.u.request.upgrade.headers, &pos,
                                                  &lpos, &item, &il), WSP_OK);
    assert_true(il == 9 && memcmp(item, "superchat", 9) == 0);
    assert_int_equal(wsp_upgrade_next_subprotocol(&copy.u.request.upgrade.headers, &pos,
                                                  &lpos, &item, &il), WSP_ERR_NOT_FOUND);
    const char *v = NULL;
    size_t vl = 0;
    assert_int_equal(wsp_headers_get(&copy.u.request.request.headers, "Host", &v, &vl),
                     WSP_OK);
    assert_true(vl == 18 && memcmp(v, "server.example.com", 18) == 0);
    wsp_conn_free(s);
}

/* An HTTP head fed one byte per call, all buffered bytes passed again each
 * time as the contract asks: the request arrives whole, and the parser
 * looks at each byte a bounded number of times in all (0.1 rescanned from
 * byte 0 on every call: 8,085 calls over an 8 KiB head, quadratic). */
static void test_regression_head_byte_by_byte_is_linear(void **state)
{
    (void)state;
    char head[8192];
    int n = snprintf(head, sizeof head,
                     "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n");
    size_t len = (size_t)n;
    /* About 24 filler headers up to 7.5 KiB: under the default limits of
     * 8 KiB and 64 header lines. */
    for (int i = 0; len < 7600; i++)
        len += (size_t)snprintf(head + len, sizeof head - len,
                                "X-Filler-%02d: %0300d\r\n", i, i);
    len += (size_t)snprintf(head + len, sizeof head - len, "\r\n");
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(NULL, &c), WSP_OK);
    uint8_t buf[8192];
    wsp_event ev;
    size_t used = 0, calls = 0;
    for (size_t have = 1; have <= len; have++) {
        memcpy(buf, head, have);
        assert_int_equal(wsp_conn_recv(c, buf, have, &used, &ev), WSP_OK);
        calls++;
        if (have < len) {
            assert_int_equal(ev.type, WSP_EV_NONE);
            assert_int_equal(used, 0);
        }
    }
    assert_int_equal(calls, len);
    assert_int_equal(ev.type, WSP_EV_REQUEST);
    assert_int_equal(ev.u.request.status, WSP_OK);
    assert_int_equal(used, len);
    assert_int_equal(ev.u.request.request.target_len, 5);
    /* Each byte is searched once, each line checked once, the start line
     * parsed twice: a small multiple of the head. A rescan per call would
     * be about len * len / 2, some 30 million here. */
    size_t examined = c->u.hs.head.examined;
    assert_true(examined >= len);
    assert_true(examined <= 3 * len);
    wsp_conn_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_server),
        cmocka_unit_test(test_golden_client),
        cmocka_unit_test(test_golden_large),
        cmocka_unit_test(test_server_handshake),
        cmocka_unit_test(test_server_handshake_splits),
        cmocka_unit_test(test_server_invalid_requests),
        cmocka_unit_test(test_server_bad_heads),
        cmocka_unit_test(test_client_request),
        cmocka_unit_test(test_client_response_ok),
        cmocka_unit_test(test_client_response_bad),
        cmocka_unit_test(test_client_response_missing_headers),
        cmocka_unit_test(test_fail_masking),
        cmocka_unit_test(test_fail_rsv_opcode),
        cmocka_unit_test(test_fail_control_frames),
        cmocka_unit_test(test_fail_fragmentation),
        cmocka_unit_test(test_fail_length),
        cmocka_unit_test(test_fail_utf8),
        cmocka_unit_test(test_close_codes_received),
        cmocka_unit_test(test_close_handshake),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_send_server),
        cmocka_unit_test(test_send_fragment_size),
        cmocka_unit_test(test_send_client_masking),
        cmocka_unit_test(test_send_close),
        cmocka_unit_test(test_conn_objects),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_conn_null_arguments),
        cmocka_unit_test(test_conn_wrong_states),
        cmocka_unit_test(test_conn_reject_paths),
        cmocka_unit_test(test_conn_accept_request_paths),
        cmocka_unit_test(test_conn_client_malformed_response),
        cmocka_unit_test(test_conn_after_close_sent),
        cmocka_unit_test(test_conn_empty_frames),
        cmocka_unit_test(test_conn_zerocopy),
        cmocka_unit_test(test_conn_send_length_over_63_bits),
        cmocka_unit_test(test_conn_close_arguments),
        cmocka_unit_test(test_conn_flush_too_small),
        cmocka_unit_test(test_regression_client_options_on_dead_stack_frame),
        cmocka_unit_test(test_regression_client_offer_over_limit_changes_nothing),
        cmocka_unit_test(test_regression_send_bound_overflow),
        cmocka_unit_test(test_regression_conn_out_len_zero_on_every_failure),
        cmocka_unit_test(test_regression_close_writes_owed_pong_first),
        cmocka_unit_test(test_regression_event_fully_set),
        cmocka_unit_test(test_regression_head_byte_by_byte_is_linear),
    };
    /* The compression tests exist only in builds with permessage-deflate:
     * they are left out, not skipped, where it is absent. */
    const struct CMUnitTest deflate_tests[] = {
        cmocka_unit_test(test_conn_placed_memory),
        cmocka_unit_test(test_conn_accept_deflate_extensions),
        cmocka_unit_test(test_conn_client_offer),
        cmocka_unit_test(test_conn_compressed_text_cut),
        cmocka_unit_test(test_conn_enable_deflate_mid_message),
        cmocka_unit_test(test_conn_send_deflate_paths),
    };
    int failed = cmocka_run_group_tests_name("conn", tests, NULL, NULL);
    if (wsp_deflate_available())
        failed += cmocka_run_group_tests_name("conn_deflate", deflate_tests, NULL, NULL);
    else
        print_message("permessage-deflate is not compiled in: %zu compression tests not run\n",
                      sizeof deflate_tests / sizeof deflate_tests[0]);
    return failed;
}
