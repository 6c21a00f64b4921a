/* Allocation failure everywhere the library allocates: each scenario runs
 * once with a counting allocator to learn how many allocations it makes
 * (N), then N more times with allocation k failing (k = 1..N), once with
 * only that allocation failing and once with it and every later one
 * failing. Each run must end cleanly: WSP_ERR_NOMEM from the call that
 * needed the memory (or, inside wsp_conn_recv, a WSP_EV_FAILURE with close
 * code 1011 queued for the peer), no crash, every block freed after
 * cleanup, and every free given the size that was allocated. */
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

/* ------------------------------------------------------------------------
 * An allocator that fails allocation number fail_at (counting from 1;
 * 0: none), and with fail_rest every later one too. Growing reallocs count
 * as allocations. Accounting is wsp_test_alloc's.
 * ---------------------------------------------------------------------- */
typedef struct failing {
    wsp_test_alloc inner;
    long fail_at;
    int fail_rest;
    long count;
    long failures;
    wsp_allocator a;
} failing;

static int should_fail(failing *f)
{
    f->count++;
    if (f->fail_at > 0 &&
        (f->count == f->fail_at || (f->fail_rest && f->count > f->fail_at))) {
        f->failures++;
        return 1;
    }
    return 0;
}

static void *f_malloc(size_t size, void *user)
{
    failing *f = user;
    if (should_fail(f)) return NULL;
    return wsp_test_malloc(size, &f->inner);
}

static void *f_realloc(void *ptr, size_t old_size, size_t new_size, void *user)
{
    failing *f = user;
    if ((ptr == NULL || new_size > old_size) && should_fail(f)) return NULL;
    return wsp_test_realloc(ptr, old_size, new_size, &f->inner);
}

static void f_free(void *ptr, size_t size, void *user)
{
    failing *f = user;
    wsp_test_free(ptr, size, &f->inner);
}

static void failing_init(failing *f, long fail_at, int fail_rest)
{
    memset(f, 0, sizeof *f);
    f->inner.fail_after = -1;
    f->fail_at = fail_at;
    f->fail_rest = fail_rest;
    f->a.malloc_fn = f_malloc;
    f->a.realloc_fn = f_realloc;
    f->a.free_fn = f_free;
    f->a.user = f;
}

/* A scenario returns 1 when it ran to the end, 0 when it stopped cleanly
 * at an allocation failure. */
typedef int (*scenario_fn)(failing *f);

static void run_scenario(scenario_fn fn, const char *name, long min_allocs)
{
    failing f;
    failing_init(&f, 0, 0);
    assert_int_equal(fn(&f), 1);
    assert_int_equal(f.inner.live_blocks, 0);
    assert_int_equal(f.inner.size_mismatches, 0);
    long n = f.count;
    print_message("%s: %ld allocations, each made to fail\n", name, n);
    assert_true(n >= min_allocs);
    for (int rest = 0; rest <= 1; rest++) {
        for (long k = 1; k <= n; k++) {
            failing_init(&f, k, rest);
            int done = fn(&f);
            if (f.failures == 0 || f.inner.live_blocks != 0 ||
                f.inner.size_mismatches != 0)
                fail_msg("%s, allocation %ld of %ld failing%s: %ld failures, "
                         "%zu blocks left, %zu size mismatches",
                         name, k, n, rest ? " (and later ones)" : "",
                         f.failures, f.inner.live_blocks,
                         f.inner.size_mismatches);
            /* with only one allocation failing, a scenario that recovers
             * may still finish; with all later ones failing it may not */
            if (rest) assert_int_equal(done, 0);
        }
    }
}

/* ------------------------------------------------------------------------
 * wsp_conn_new
 * ---------------------------------------------------------------------- */
static int sc_conn_new(failing *f)
{
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.allocator = &f->a;
    wsp_conn *c = (wsp_conn *)&cfg; /* set to NULL on failure */
    int rc = wsp_conn_new(&cfg, &c);
    if (rc != WSP_OK) {
        assert_int_equal(rc, WSP_ERR_NOMEM);
        assert_null(c);
        return 0;
    }
    assert_int_equal(wsp_conn_state(c), WSP_STATE_HANDSHAKE);
    wsp_conn_free(c);
    return 1;
}

static void test_conn_new(void **state)
{
    (void)state;
    run_scenario(sc_conn_new, "wsp_conn_new", 1);
}

/* ------------------------------------------------------------------------
 * A handshake with permessage-deflate in both roles, compressed messages
 * both ways, a close.
 * ---------------------------------------------------------------------- */
typedef struct got {
    uint8_t data[8192];
    size_t len;
    int messages;
    int closes;
    uint16_t close_code;
} got;

/* Checks that the connection queued exactly one close frame with code. */
static void expect_close_queued(wsp_conn *c, uint16_t code)
{
    uint8_t out[WSP_MAX_PENDING];
    size_t n = 0;
    assert_true(wsp_conn_pending_size(c) > 0);
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_OK);
    wsp_frame_header h;
    assert_int_equal(wsp_frame_parse_header(out, n, &h), WSP_OK);
    assert_int_equal(h.opcode, WSP_OP_CLOSE);
    assert_int_equal(h.header_len + h.payload_len, n);
    assert_true(h.payload_len >= 2);
    uint8_t p[2];
    memcpy(p, out + h.header_len, 2);
    if (h.masked) wsp_mask(p, 2, h.mask_key, 0);
    assert_int_equal((unsigned)p[0] << 8 | p[1], code);
}

/* Feeds data[0..len) and calls recv until WSP_EV_NONE. Returns 1, or 0
 * after a clean out-of-memory failure. */
static int recv_all(wsp_conn *c, uint8_t *data, size_t len, got *g)
{
    size_t pos = 0;
    for (;;) {
        wsp_event ev;
        size_t used = 0;
        int rc = wsp_conn_recv(c, data + pos, len - pos, &used, &ev);
        pos += used;
        if (rc == WSP_ERR_CLOSED && pos == len && g->closes) return 1;
        if (rc != WSP_OK) {
            if (rc != WSP_ERR_NOMEM)
                fail_msg("recv at %zu of %zu: %d (%s), event %d, state %d", pos, len,
                         rc, wsp_strerror(rc), (int)ev.type, (int)wsp_conn_state(c));
            assert_int_equal(ev.type, WSP_EV_FAILURE);
            assert_int_equal(ev.u.failure.status, WSP_ERR_NOMEM);
            assert_int_equal(ev.u.failure.close_code, 1011);
            assert_int_equal(wsp_conn_state(c), WSP_STATE_CLOSED);
            wsp_error_info info;
            assert_int_equal(wsp_conn_error(c, &info), WSP_OK);
            assert_int_equal(info.status, WSP_ERR_NOMEM);
            assert_int_equal(info.close_code, 1011);
            expect_close_queued(c, 1011);
            /* sticky */
            assert_int_equal(wsp_conn_recv(c, NULL, 0, &used, &ev), WSP_ERR_NOMEM);
            return 0;
        }
        if (ev.type == WSP_EV_NONE) {
            if (pos == len) return 1;
            fail_msg("recv kept %zu bytes back", len - pos);
        }
        if (ev.type == WSP_EV_DATA) {
            assert_true(g->len + ev.u.data.len <= sizeof g->data);
            memcpy(g->data + g->len, ev.u.data.payload, ev.u.data.len);
            g->len += ev.u.data.len;
            if (ev.u.data.flags & WSP_DATA_LAST) g->messages++;
        } else if (ev.type == WSP_EV_CLOSE) {
            g->closes++;
            g->close_code = ev.u.close.code;
        }
    }
}

/* Sends one message; returns 1, or 0 on a clean WSP_ERR_NOMEM. */
static int send_msg(wsp_conn *c, wsp_opcode op, const uint8_t *p, size_t len,
                    uint8_t *out, size_t cap, size_t *out_len)
{
    assert_true(wsp_test_send_bound(c, len) <= cap);
    int rc = wsp_conn_send(c, op, p, len, 0, out, cap, out_len);
    if (rc == WSP_ERR_NOMEM) {
        assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
        return 0;
    }
    assert_int_equal(rc, WSP_OK);
    assert_true(out[0] & 0x40); /* compressed */
    return 1;
}

static int exchange(wsp_conn *from, wsp_conn *to, wsp_opcode op,
                    const uint8_t *msg, size_t len)
{
    uint8_t wire[8192];
    size_t n = 0;
    got g;
    memset(&g, 0, sizeof g);
    if (!send_msg(from, op, msg, len, wire, sizeof wire, &n)) return 0;
    assert_true(n < len); /* it did compress */
    if (!recv_all(to, wire, n, &g)) return 0;
    assert_int_equal(g.messages, 1);
    assert_int_equal(g.len, len);
    assert_memory_equal(g.data, msg, len);
    return 1;
}

static int sc_handshake(failing *f)
{
    uint64_t seed = wsp_test_rng_seed(7);
    wsp_deflate_config dc;
    memset(&dc, 0, sizeof dc);
    dc.buffer_size = 100; /* several events per message */
    wsp_config scfg, ccfg;
    memset(&scfg, 0, sizeof scfg);
    scfg.allocator = &f->a;
    scfg.deflate = &dc;
    ccfg = scfg;
    ccfg.role = WSP_ROLE_CLIENT;
    ccfg.entropy = wsp_test_entropy;
    ccfg.entropy_user = &seed;

    wsp_conn *s = NULL, *c = NULL;
    uint8_t buf[4096];
    size_t n = 0, used = 0;
    wsp_event ev;
    int done = 0, rc;
    uint8_t text[3000];
    for (size_t i = 0; i < sizeof text; i++) text[i] = (uint8_t)("abcdefgh"[i % 8] + (i % 61 == 0));

    rc = wsp_conn_new(&scfg, &s);
    if (rc != WSP_OK) goto nomem;
    rc = wsp_conn_new(&ccfg, &c);
    if (rc != WSP_OK) goto nomem;

    wsp_client_options co;
    memset(&co, 0, sizeof co);
    co.host = "example.com";
    assert_int_equal(wsp_conn_client_request(c, &co, buf, sizeof buf, &n), WSP_OK);
    assert_int_equal(wsp_conn_recv(s, buf, n, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_REQUEST);
    assert_int_equal(ev.u.request.status, WSP_OK);
    rc = wsp_conn_accept(s, NULL, buf, sizeof buf, &n);
    if (rc != WSP_OK) {
        /* the server may still answer: it refuses with 500 */
        assert_int_equal(rc, WSP_ERR_NOMEM);
        assert_int_equal(wsp_conn_state(s), WSP_STATE_HANDSHAKE);
        assert_false(wsp_conn_deflate_active(s));
        assert_int_equal(wsp_conn_reject(s, 500, buf, sizeof buf, &n), WSP_OK);
        assert_int_equal(wsp_conn_state(s), WSP_STATE_CLOSED);
        goto out;
    }
    assert_true(wsp_conn_deflate_active(s));
    assert_int_equal(wsp_conn_recv(c, buf, n, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_RESPONSE);
    if (ev.u.response.status != WSP_OK) {
        /* a client that cannot set up compression refuses the 101 */
        assert_int_equal(ev.u.response.status, WSP_ERR_NOMEM);
        assert_int_equal(wsp_conn_state(c), WSP_STATE_CLOSED);
        assert_int_equal(wsp_conn_recv(c, buf, 0, &used, &ev), WSP_ERR_NOMEM);
        goto out;
    }
    assert_true(wsp_conn_deflate_active(c));

    /* twice each way: the second message reuses the compression context */
    if (!exchange(c, s, WSP_OP_TEXT, text, sizeof text)) goto out;
    if (!exchange(s, c, WSP_OP_BINARY, text, 2000)) goto out;
    if (!exchange(c, s, WSP_OP_TEXT, text + 5, 1500)) goto out;
    if (!exchange(s, c, WSP_OP_BINARY, text + 7, 2500)) goto out;

    /* close from the client, the server echoes it */
    got g;
    memset(&g, 0, sizeof g);
    assert_int_equal(wsp_conn_close(c, 1000, "bye", 3, buf, sizeof buf, &n), WSP_OK);
    assert_int_equal(recv_all(s, buf, n, &g), 1);
    assert_int_equal(g.closes, 1);
    assert_int_equal(g.close_code, 1000);
    assert_int_equal(wsp_conn_flush(s, buf, sizeof buf, &n), WSP_OK);
    memset(&g, 0, sizeof g);
    assert_int_equal(recv_all(c, buf, n, &g), 1);
    assert_int_equal(g.closes, 1);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_CLOSED);
    assert_int_equal(wsp_conn_state(s), WSP_STATE_CLOSED);
    done = 1;
    goto out;
nomem:
    assert_int_equal(rc, WSP_ERR_NOMEM);
out:
    wsp_conn_free(c);
    wsp_conn_free(s);
    return done;
}

static void test_handshake_deflate(void **state)
{
    (void)state;
    /* two connections, two compression states, two deflaters, two
     * inflaters with their windows */
    run_scenario(sc_handshake, "handshake with permessage-deflate", 10);
}

/* ------------------------------------------------------------------------
 * Compression switched on by hand (wsp_conn_enable_deflate), as for
 * RFC 8441 streams, client side: the same checks without a handshake.
 * ---------------------------------------------------------------------- */
static int sc_enable(failing *f)
{
    uint64_t seed = wsp_test_rng_seed(3);
    wsp_config scfg, ccfg;
    memset(&scfg, 0, sizeof scfg);
    scfg.allocator = &f->a;
    scfg.start_open = 1;
    ccfg = scfg;
    ccfg.role = WSP_ROLE_CLIENT;
    ccfg.entropy = wsp_test_entropy;
    ccfg.entropy_user = &seed;
    wsp_deflate_params agreed;
    memset(&agreed, 0, sizeof agreed);
    agreed.client_max_window_bits = 9;
    agreed.server_no_context_takeover = 1;
    wsp_deflate_config dc;
    memset(&dc, 0, sizeof dc);
    dc.mem_level = 2;
    dc.max_window_bits = 9;
    uint8_t text[1024];
    for (size_t i = 0; i < sizeof text; i++) text[i] = (uint8_t)('a' + i % 13);
    wsp_conn *s = NULL, *c = NULL;
    int done = 0, rc;
    if ((rc = wsp_conn_new(&scfg, &s)) != WSP_OK) goto nomem;
    if ((rc = wsp_conn_new(&ccfg, &c)) != WSP_OK) goto nomem;
    if ((rc = wsp_conn_enable_deflate(s, &dc, &agreed)) != WSP_OK) {
        assert_false(wsp_conn_deflate_active(s));
        goto nomem;
    }
    if ((rc = wsp_conn_enable_deflate(c, &dc, &agreed)) != WSP_OK) {
        assert_false(wsp_conn_deflate_active(c));
        goto nomem;
    }
    if (!exchange(c, s, WSP_OP_TEXT, text, sizeof text)) goto out;
    if (!exchange(s, c, WSP_OP_BINARY, text, sizeof text)) goto out;
    if (!exchange(s, c, WSP_OP_BINARY, text + 1, 1000)) goto out;
    done = 1;
    goto out;
nomem:
    assert_int_equal(rc, WSP_ERR_NOMEM);
out:
    wsp_conn_free(c);
    wsp_conn_free(s);
    return done;
}

static void test_enable_deflate(void **state)
{
    (void)state;
    run_scenario(sc_enable, "wsp_conn_enable_deflate", 6);
}

/* ------------------------------------------------------------------------
 * wsp_message assembly: a message in growing pieces, then a second one.
 * ---------------------------------------------------------------------- */
static int add_piece(wsp_message *m, const uint8_t *p, size_t len,
                     unsigned flags)
{
    wsp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = WSP_EV_DATA;
    ev.u.data.opcode = WSP_OP_BINARY;
    ev.u.data.payload = (uint8_t *)(uintptr_t)p;
    ev.u.data.len = len;
    ev.u.data.flags = flags;
    size_t before = m->len;
    int rc = wsp_message_add(m, &ev);
    if (rc != WSP_OK) {
        assert_int_equal(rc, WSP_ERR_NOMEM);
        /* nothing appended, what was there is intact */
        if (!(flags & WSP_DATA_FIRST)) assert_int_equal(m->len, before);
        assert_false(m->complete);
    }
    return rc == WSP_OK;
}

static int sc_message(failing *f)
{
    static uint8_t src[5000];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 31);
    wsp_message m;
    memset(&m, 0, sizeof m);
    m.allocator = &f->a;
    m.max = 1u << 20;
    int done = 0;
    size_t off = 0, piece = 100;
    unsigned flags = WSP_DATA_FIRST;
    while (off < sizeof src) {
        size_t n = piece < sizeof src - off ? piece : sizeof src - off;
        if (off + n == sizeof src) flags |= WSP_DATA_LAST;
        if (!add_piece(&m, src + off, n, flags)) goto out;
        off += n;
        piece *= 2;
        flags = 0;
    }
    assert_true(m.complete);
    assert_int_equal(m.len, sizeof src);
    assert_memory_equal(m.data, src, sizeof src);
    /* a second, larger message reuses and grows the buffer */
    if (!add_piece(&m, src, 3000, WSP_DATA_FIRST)) goto out;
    if (!add_piece(&m, src, 5000, 0)) goto out;
    if (!add_piece(&m, src, 5000, WSP_DATA_LAST)) goto out;
    assert_int_equal(m.len, 13000);
    done = 1;
out:
    wsp_message_free(&m);
    assert_null(m.data);
    return done;
}

static void test_message(void **state)
{
    (void)state;
    run_scenario(sc_message, "wsp_message", 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conn_new),
        cmocka_unit_test(test_message),
    };
    /* The compression tests exist only in builds with permessage-deflate:
     * they are left out, not skipped, where it is absent. */
    const struct CMUnitTest deflate_tests[] = {
        cmocka_unit_test(test_handshake_deflate),
        cmocka_unit_test(test_enable_deflate),
    };
    int failed = cmocka_run_group_tests_name("alloc_failure", tests, NULL, NULL);
    if (wsp_deflate_available())
        failed += cmocka_run_group_tests_name("alloc_failure_deflate", deflate_tests, NULL, NULL);
    else
        print_message("permessage-deflate is not compiled in: %zu compression tests not run\n",
                      sizeof deflate_tests / sizeof deflate_tests[0]);
    return failed;
}
