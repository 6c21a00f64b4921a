/* The OS entropy source and the pooled wrapper (src/entropy.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_system_source),
        cmocka_unit_test(test_pool_serves_and_wipes),
        cmocka_unit_test(test_pool_refills),
        cmocka_unit_test(test_pool_as_client_source),
        cmocka_unit_test(test_pool_empty_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
