/* SHA-1 against FIPS 180-4 / RFC 3174 test vectors, lengths on both sides
 * of the padding boundaries, and arbitrary splits of the input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "test_support.h"

static void digest_of(const void *data, size_t len, uint8_t out[WSP_SHA1_LEN])
{
    wsp_sha1 s;
    wsp_sha1_init(&s);
    wsp_sha1_update(&s, data, len);
    wsp_sha1_final(&s, out);
}

static void assert_digest(const uint8_t got[WSP_SHA1_LEN], const char *hex)
{
    uint8_t want[WSP_SHA1_LEN];
    assert_int_equal(wsp_test_hex(hex, want, sizeof(want)), WSP_SHA1_LEN);
    assert_memory_equal(got, want, WSP_SHA1_LEN);
}

static void test_empty(void **s)
{
    uint8_t d[WSP_SHA1_LEN];
    (void)s;
    digest_of("", 0, d);
    assert_digest(d, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

static void test_abc(void **s)
{
    uint8_t d[WSP_SHA1_LEN];
    (void)s;
    digest_of("abc", 3, d);
    assert_digest(d, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

static const char msg448[] =
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

static void test_448_bits(void **s)
{
    uint8_t d[WSP_SHA1_LEN];
    (void)s;
    assert_int_equal(strlen(msg448), 56);
    digest_of(msg448, strlen(msg448), d);
    assert_digest(d, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void test_million_a(void **s)
{
    uint8_t chunk[1000], d[WSP_SHA1_LEN];
    wsp_sha1 ctx;
    (void)s;

    memset(chunk, 'a', sizeof(chunk));
    wsp_sha1_init(&ctx);
    for (int i = 0; i < 1000; i++)
        wsp_sha1_update(&ctx, chunk, sizeof(chunk));
    wsp_sha1_final(&ctx, d);
    assert_digest(d, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

/* RFC 3174 section 7.3, TEST4: 64 bytes repeated 10 times. */
static void test_rfc3174_test4(void **s)
{
    static const char unit[] =
        "0123456701234567012345670123456701234567012345670123456701234567";
    uint8_t d[WSP_SHA1_LEN];
    wsp_sha1 ctx;
    (void)s;

    wsp_sha1_init(&ctx);
    for (int i = 0; i < 10; i++)
        wsp_sha1_update(&ctx, unit, strlen(unit));
    wsp_sha1_final(&ctx, d);
    assert_digest(d, "dea356a2cddd90c7a7ecedc5ebb563934f460452");
}

/* Lengths where the final block has room for the length field or not
 * (55/56 bytes), and around whole blocks. */
static void test_padding_boundaries(void **s)
{
    static const struct {
        size_t n;
        const char *hex;
    } v[] = {
        {1, "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"},
        {55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
        {56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
        {57, "f08f24908d682555111be7ff6f004e78283d989a"},
        {63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
        {64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
        {65, "11655326c708d70319be2610e8a57d9a5b959d3b"},
        {119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
        {120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
        {128, "ad5b3fdbcb526778c2839d2f151ea753995e26a0"},
    };
    uint8_t a[128], d[WSP_SHA1_LEN];
    (void)s;

    memset(a, 'a', sizeof(a));
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        digest_of(a, v[i].n, d);
        assert_digest(d, v[i].hex);
    }
}

/* Splitting the input anywhere, including into empty updates, must not
 * change the digest. */
static void test_split_updates(void **s)
{
    uint8_t data[256 * 4], d[WSP_SHA1_LEN];
    (void)s;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)i;
    digest_of(data, sizeof(data), d);
    assert_digest(d, "5b00669c480d5cffbdfa8bdba99561160f2d1b77");

    for (size_t cut = 0; cut <= sizeof(data); cut += 7) {
        wsp_sha1 ctx;
        wsp_sha1_init(&ctx);
        wsp_sha1_update(&ctx, data, cut);
        wsp_sha1_update(&ctx, data, 0);
        wsp_sha1_update(&ctx, data + cut, sizeof(data) - cut);
        wsp_sha1_final(&ctx, d);
        assert_digest(d, "5b00669c480d5cffbdfa8bdba99561160f2d1b77");
    }
    for (size_t step = 1; step <= 130; step++) {
        wsp_sha1 ctx;
        wsp_sha1_init(&ctx);
        for (size_t pos = 0; pos < sizeof(data); pos += step) {
            size_t n = sizeof(data) - pos < step ? sizeof(data) - pos : step;
            wsp_sha1_update(&ctx, data + pos, n);
        }
        wsp_sha1_final(&ctx, d);
        assert_digest(d, "5b00669c480d5cffbdfa8bdba99561160f2d1b77");
    }
}

/* The input RFC 6455 4.2.2 actually hashes: key followed by the GUID. */
static void test_websocket_accept_input(void **s)
{
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t d[WSP_SHA1_LEN];
    wsp_sha1 ctx;
    (void)s;

    wsp_sha1_init(&ctx);
    wsp_sha1_update(&ctx, key, strlen(key));
    wsp_sha1_update(&ctx, guid, strlen(guid));
    wsp_sha1_final(&ctx, d);
    assert_digest(d, "b37a4f2cc0624f1690f64606cf385945b2bec4ea");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_abc),
        cmocka_unit_test(test_448_bits),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_rfc3174_test4),
        cmocka_unit_test(test_padding_boundaries),
        cmocka_unit_test(test_split_updates),
        cmocka_unit_test(test_websocket_accept_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
