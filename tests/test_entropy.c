/* The OS entropy source, the pooled wrapper and the default keystream of
 * client masking keys (src/entropy.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "wsproto.h"

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* Two draws of 32 bytes are equal, or all zero, with probability 2^-256:
 * seeing it means the source is broken, not unlucky. */
static void test_system_source(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    assert_int_equal(wsp_entropy_system(a, sizeof a, NULL), 0);
    assert_int_equal(wsp_entropy_system(b, sizeof b, NULL), 0);
    assert_false(all_zero(a, sizeof a));
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(wsp_entropy_system(a, 0, NULL), 0);
}

static void test_pool_serves_and_wipes(void **state)
{
    (void)state;
    wsp_entropy_pool pool;
    memset(&pool, 0, sizeof pool);
    uint8_t k1[4], k2[4];
    assert_int_equal(wsp_entropy_pooled(k1, 4, &pool), 0);
    assert_int_equal(pool.pos, 4);
    /* What was handed out is gone from the pool. */
    assert_true(all_zero(pool.buf, 4));
    assert_int_equal(wsp_entropy_pooled(k2, 4, &pool), 0);
    assert_int_equal(pool.pos, 8);
    /* Keys from one pool differ (64 random bits each). */
    uint8_t keys[64][4];
    for (int i = 0; i < 64; i++) assert_int_equal(wsp_entropy_pooled(keys[i], 4, &pool), 0);
    for (int i = 0; i < 64; i++)
        for (int j = i + 1; j < 64; j++)
            assert_memory_not_equal(keys[i], keys[j], 4);
}

/* Requests larger than the pool and across refills are served whole. */
static void test_pool_refills(void **state)
{
    (void)state;
    wsp_entropy_pool pool;
    memset(&pool, 0, sizeof pool);
    uint8_t big[3 * WSP_ENTROPY_POOL_SIZE + 5];
    memset(big, 0, sizeof big);
    assert_int_equal(wsp_entropy_pooled(big, sizeof big, &pool), 0);
    /* Every 32-byte stretch has something in it. */
    for (size_t i = 0; i + 32 <= sizeof big; i += 32) assert_false(all_zero(big + i, 32));
    assert_true(pool.pos > 0 && pool.pos <= WSP_ENTROPY_POOL_SIZE);
    assert_int_equal(wsp_entropy_pooled(NULL, 4, &pool), -1);
    assert_int_equal(wsp_entropy_pooled(big, 4, NULL), -1);
}

/* A client drawing its masking keys from a pool sends correctly masked
 * frames. */
static void test_pool_as_client_source(void **state)
{
    (void)state;
    wsp_entropy_pool pool;
    memset(&pool, 0, sizeof pool);
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    cfg.start_open = 1;
    cfg.entropy = wsp_entropy_pooled;
    cfg.entropy_user = &pool;
    wsp_conn *c;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    uint8_t out[16];
    size_t n = 0;
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, (const uint8_t *)"Hello", 5, 0, out,
                                   sizeof out, &n), WSP_OK);
    assert_int_equal(n, 11);
    assert_int_equal(out[1], 0x85);
    for (int i = 0; i < 5; i++) assert_int_equal(out[6 + i] ^ out[2 + (i & 3)], "Hello"[i]);
    assert_int_equal(pool.pos, 4);
    wsp_conn_free(c);
}

static void test_pool_empty_request(void **state)
{
    (void)state;
    wsp_entropy_pool pool;
    memset(&pool, 0, sizeof pool);
    /* Nothing asked, nothing drawn: the pool is not even filled. */
    assert_int_equal(wsp_entropy_pooled(NULL, 0, &pool), 0);
    assert_int_equal(pool.pos, 0);
    assert_true(all_zero(pool.buf, sizeof pool.buf));
    uint8_t one[1];
    assert_int_equal(wsp_entropy_pooled(one, 1, &pool), 0);
    assert_int_equal(pool.pos, 1);
}

/* ---- the default keystream for client masking keys ---------------------
 * 0.1 asked the OS for every masking key (one system call per frame); 0.2
 * keys a SipHash-2-4 keystream once per connection. */

static uint64_t le64(const uint8_t b[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* SipHash-2-4 reference vector (Aumasson and Bernstein's test vectors):
 * key 00 01 .. 0f, message 00 01 .. 07, output bytes 62 24 93 9a 79 f5 f5 93
 * (little-endian). */
static void test_regression_siphash_reference_vector(void **state)
{
    (void)state;
    static const uint8_t key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    static const uint8_t msg[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const uint8_t want[8] = {0x62, 0x24, 0x93, 0x9a, 0x79, 0xf5, 0xf5, 0x93};
    uint64_t got = wsp_siphash_word(le64(key), le64(key + 8), le64(msg));
    assert_int_equal(got, le64(want));
    assert_true(got == 0x93f5f5799a932462ull);
    /* The key and the message both matter. */
    assert_true(wsp_siphash_word(le64(key) ^ 1, le64(key + 8), le64(msg)) != got);
    assert_true(wsp_siphash_word(le64(key), le64(key + 8) ^ 1, le64(msg)) != got);
    assert_true(wsp_siphash_word(le64(key), le64(key + 8), le64(msg) ^ 1) != got);
}

/* The 4 key bytes for counter value m under (k0, k1). */
static void prf_key(uint64_t k0, uint64_t k1, uint32_t m, uint8_t key[4])
{
    uint64_t r = wsp_siphash_word(k0, k1, m);
    for (int i = 0; i < 4; i++) key[i] = (uint8_t)(r >> (8 * i));
}

static void test_regression_keystream_seed_and_wrap(void **state)
{
    (void)state;
    /* Counter 0: seeded from the OS, then counter values 1, 2, ... */
    wsp_keystream ks;
    memset(&ks, 0, sizeof ks);
    uint32_t counter = 0;
    uint8_t key[4], want[4], prev[4];
    assert_int_equal(wsp_keystream_next(&ks, &counter, key), 0);
    assert_int_equal(counter, 2);
    /* 128 seed bits all zero would mean no seeding happened. */
    assert_true(ks.k0 != 0 || ks.k1 != 0);
    prf_key(ks.k0, ks.k1, 1, want);
    assert_memory_equal(key, want, 4);
    uint64_t k0 = ks.k0, k1 = ks.k1;
    for (uint32_t i = 2; i < 1002; i++) {
        memcpy(prev, key, 4);
        assert_int_equal(wsp_keystream_next(&ks, &counter, key), 0);
        assert_int_equal(counter, i + 1);
        /* No reseeding in between. */
        assert_true(ks.k0 == k0 && ks.k1 == k1);
        prf_key(k0, k1, i, want);
        assert_memory_equal(key, want, 4);
        /* Equal neighbours: probability 2^-32 each. */
        assert_memory_not_equal(key, prev, 4);
    }
    /* Two streams seed differently. */
    wsp_keystream other;
    memset(&other, 0, sizeof other);
    uint32_t other_counter = 0;
    assert_int_equal(wsp_keystream_next(&other, &other_counter, key), 0);
    assert_true(other.k0 != k0 || other.k1 != k1);

    /* The last counter value is used once under its key, the counter wraps
     * to 0, and the next key comes from a fresh seed. */
    ks.k0 = 1;
    ks.k1 = 2;
    counter = UINT32_MAX;
    assert_int_equal(wsp_keystream_next(&ks, &counter, key), 0);
    prf_key(1, 2, UINT32_MAX, want);
    assert_memory_equal(key, want, 4);
    assert_int_equal(counter, 0);
    assert_true(ks.k0 == 1 && ks.k1 == 2);
    assert_int_equal(wsp_keystream_next(&ks, &counter, key), 0);
    assert_int_equal(counter, 2);
    assert_false(ks.k0 == 1 && ks.k1 == 2);
    prf_key(ks.k0, ks.k1, 1, want);
    assert_memory_equal(key, want, 4);
}

/* Feeds wire[0..n) to a server and checks it yields `count` one-byte text
 * messages "x". */
static void expect_x_messages(wsp_conn *server, uint8_t *wire, size_t n, size_t count)
{
    size_t off = 0, got = 0;
    for (;;) {
        wsp_event ev;
        size_t used = 0;
        assert_int_equal(wsp_conn_recv(server, wire + off, n - off, &used, &ev), WSP_OK);
        off += used;
        if (ev.type == WSP_EV_NONE) break;
        assert_int_equal(ev.type, WSP_EV_DATA);
        assert_int_equal(ev.u.data.opcode, WSP_OP_TEXT);
        assert_int_equal(ev.u.data.flags, WSP_DATA_FIRST | WSP_DATA_LAST);
        assert_int_equal(ev.u.data.len, 1);
        assert_int_equal(ev.u.data.payload[0], 'x');
        got++;
    }
    assert_int_equal(off, n);
    assert_int_equal(got, count);
}

/* A client with the default source (entropy NULL) masks 1000 frames with
 * keys that are not all the same, and a server unmasks them. */
static void test_regression_default_keys_vary_per_frame(void **state)
{
    (void)state;
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    cfg.start_open = 1;
    wsp_conn *c;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    enum { FRAMES = 1000, FRAME = 7 };
    static uint8_t wire[FRAMES * FRAME];
    size_t distinct_from_first = 0, changes = 0;
    for (size_t i = 0; i < FRAMES; i++) {
        size_t n = 0;
        uint8_t *f = wire + i * FRAME;
        assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, (const uint8_t *)"x", 1, 0, f, FRAME,
                                       &n), WSP_OK);
        assert_int_equal(n, FRAME);
        assert_int_equal(f[0], 0x81);
        assert_int_equal(f[1], 0x81);
        assert_int_equal(f[6] ^ f[2], 'x');
        if (memcmp(f + 2, wire + 2, 4) != 0) distinct_from_first++;
        if (i && memcmp(f + 2, f - FRAME + 2, 4) != 0) changes++;
    }
    assert_true(distinct_from_first > 0);
    /* Keys repeat back to back with probability 2^-32 per frame. */
    assert_int_equal(changes, FRAMES - 1);
    wsp_conn_free(c);

    cfg.role = WSP_ROLE_SERVER;
    wsp_conn *s;
    assert_int_equal(wsp_conn_new(&cfg, &s), WSP_OK);
    expect_x_messages(s, wire, sizeof wire, FRAMES);
    wsp_conn_free(s);
}

/* After a real handshake (the keystream's counter shares room with the
 * handshake state), default-source client frames still unmask correctly. */
static void test_regression_default_keys_after_handshake(void **state)
{
    (void)state;
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    wsp_conn *c, *s;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    cfg.role = WSP_ROLE_SERVER;
    assert_int_equal(wsp_conn_new(&cfg, &s), WSP_OK);
    wsp_client_options co;
    memset(&co, 0, sizeof co);
    co.host = "h";
    static uint8_t req[1024], resp[1024];
    size_t rn = 0, sn = 0, used = 0;
    assert_int_equal(wsp_conn_client_request(c, &co, req, sizeof req, &rn), WSP_OK);
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(s, req, rn, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_REQUEST);
    assert_int_equal(ev.u.request.status, WSP_OK);
    assert_int_equal(wsp_conn_accept(s, NULL, resp, sizeof resp, &sn), WSP_OK);
    assert_int_equal(wsp_conn_recv(c, resp, sn, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_RESPONSE);
    assert_int_equal(ev.u.response.status, WSP_OK);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);

    enum { FRAMES = 100, FRAME = 7 };
    static uint8_t wire[FRAMES * FRAME];
    for (size_t i = 0; i < FRAMES; i++) {
        size_t n = 0;
        assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, (const uint8_t *)"x", 1, 0,
                                       wire + i * FRAME, FRAME, &n), WSP_OK);
        assert_int_equal(n, FRAME);
    }
    /* Not one key for all frames. */
    int varied = 0;
    for (size_t i = 1; i < FRAMES; i++)
        if (memcmp(wire + 2, wire + i * FRAME + 2, 4) != 0) varied = 1;
    assert_true(varied);
    expect_x_messages(s, wire, sizeof wire, FRAMES);
    wsp_conn_free(c);
    wsp_conn_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_system_source),
        cmocka_unit_test(test_pool_serves_and_wipes),
        cmocka_unit_test(test_pool_refills),
        cmocka_unit_test(test_pool_as_client_source),
        cmocka_unit_test(test_pool_empty_request),
        cmocka_unit_test(test_regression_siphash_reference_vector),
        cmocka_unit_test(test_regression_keystream_seed_and_wrap),
        cmocka_unit_test(test_regression_default_keys_vary_per_frame),
        cmocka_unit_test(test_regression_default_keys_after_handshake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
