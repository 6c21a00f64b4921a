/* Base64 (RFC 4648 section 4): the RFC's vectors, round trips, and the
 * strictness the handshake relies on (one spelling per byte string). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "test_support.h"

static const struct {
    const char *plain;
    const char *enc;
} rfc_vectors[] = {
    /* RFC 4648 section 10 */
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_rfc4648_encode(void **s)
{
    char out[16];
    (void)s;

    for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
        size_t n = strlen(rfc_vectors[i].plain);
        memset(out, '#', sizeof(out));
        wsp_base64_encode((const uint8_t *)rfc_vectors[i].plain, n, out);
        assert_int_equal(WSP_BASE64_LEN(n), strlen(rfc_vectors[i].enc));
        assert_memory_equal(out, rfc_vectors[i].enc, WSP_BASE64_LEN(n));
        /* Exactly WSP_BASE64_LEN(n) characters, no terminator. */
        assert_int_equal(out[WSP_BASE64_LEN(n)], '#');
    }
}

static void test_rfc4648_decode(void **s)
{
    uint8_t out[16];
    (void)s;

    for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
        const char *e = rfc_vectors[i].enc;
        long n = wsp_base64_decode(e, strlen(e), out, sizeof(out));
        assert_int_equal(n, (long)strlen(rfc_vectors[i].plain));
        assert_memory_equal(out, rfc_vectors[i].plain, (size_t)n);
    }
}

static void test_full_alphabet(void **s)
{
    uint8_t bytes[48], back[48];
    char enc[64];
    (void)s;

    /* Bytes 00 10 83 10 51 87 ... encode to the alphabet in order. */
    wsp_test_hex("00108310518720928b30d38f41149351559761969b71d79f"
                 "8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3dfbf",
                 bytes, sizeof(bytes));
    wsp_base64_encode(bytes, sizeof(bytes), enc);
    assert_memory_equal(
        enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        64);
    assert_int_equal(wsp_base64_decode(enc, 64, back, sizeof(back)), 48);
    assert_memory_equal(back, bytes, 48);
}

static void test_round_trip_all_lengths(void **s)
{
    uint8_t in[70], back[70];
    char enc[WSP_BASE64_LEN(70)];
    uint32_t x = 12345;
    (void)s;

    for (size_t len = 0; len <= sizeof(in); len++) {
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            in[i] = (uint8_t)(x >> 16);
        }
        wsp_base64_encode(in, len, enc);
        memset(back, 0, sizeof(back));
        assert_int_equal(wsp_base64_decode(enc, WSP_BASE64_LEN(len), back, len),
                         (long)len);
        assert_memory_equal(back, in, len);
    }
}

static void assert_rejected(const char *text)
{
    uint8_t out[64];
    assert_int_equal(wsp_base64_decode(text, strlen(text), out, sizeof(out)),
                     -1);
}

static void test_rejections(void **s)
{
    (void)s;
    /* Length not a multiple of 4: missing or extra padding. */
    assert_rejected("Zg");
    assert_rejected("Zg=");
    assert_rejected("Zm9vY");
    assert_rejected("Zg===");
    /* Non-zero pad bits: decodes to "f" but is not the canonical form. */
    assert_rejected("Zh==");
    assert_rejected("Zm9=");
    /* Padding anywhere but at the end, or too much of it. */
    assert_rejected("Z===");
    assert_rejected("====");
    assert_rejected("Zg==Zg==");
    assert_rejected("Zm=v");
    assert_rejected("Zm9v=Zg=");
    /* Whitespace, line breaks, other alphabets, non-ASCII. */
    assert_rejected("Zm 9v");
    assert_rejected("Zm9v\r\n");
    assert_rejected(" Zm9v   ");
    assert_rejected("Zm9\tv");
    assert_rejected("Zm-_");
    assert_rejected("Zm9\x80");
    assert_rejected("Zm9.");
    /* An embedded NUL is a bad character, not a terminator. */
    {
        uint8_t out[8];
        assert_int_equal(wsp_base64_decode("Zm\0v", 4, out, sizeof(out)), -1);
    }
}

/* Exhaustive over the final quantum: "xx==" and "xxx=" are accepted exactly
 * when the bits that fall into the padding are zero, and then re-encode to
 * the same text. */
static void test_final_quantum_exhaustive(void **s)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4], re[4];
    uint8_t out[3];
    (void)s;

    for (int i = 0; i < 64; i++) {
        for (int j = 0; j < 64; j++) {
            q[0] = a[i];
            q[1] = a[j];
            q[2] = '=';
            q[3] = '=';
            long n = wsp_base64_decode(q, 4, out, sizeof(out));
            if ((j & 0x0f) == 0) {
                assert_int_equal(n, 1);
                wsp_base64_encode(out, 1, re);
                assert_memory_equal(re, q, 4);
            } else {
                assert_int_equal(n, -1);
            }
            for (int k = 0; k < 64; k++) {
                q[2] = a[k];
                q[3] = '=';
                n = wsp_base64_decode(q, 4, out, sizeof(out));
                if ((k & 0x03) == 0) {
                    assert_int_equal(n, 2);
                    wsp_base64_encode(out, 2, re);
                    assert_memory_equal(re, q, 4);
                } else {
                    assert_int_equal(n, -1);
                }
            }
        }
    }
}

static void test_capacity(void **s)
{
    uint8_t out[8];
    (void)s;

    memset(out, 0xAA, sizeof(out));
    assert_int_equal(wsp_base64_decode("Zm9vYmFy", 8, out, 5), -1);
    /* Nothing is written when the result does not fit. */
    assert_int_equal(out[0], 0xAA);
    assert_int_equal(wsp_base64_decode("Zm9vYmFy", 8, out, 6), 6);
    assert_memory_equal(out, "foobar", 6);
    assert_int_equal(wsp_base64_decode("Zm9vYmE=", 8, out, 4), -1);
    assert_int_equal(wsp_base64_decode("Zm9vYmE=", 8, out, 5), 5);
    assert_int_equal(wsp_base64_decode("", 0, NULL, 0), 0);
}

/* RFC 6455 4.1: the key is 16 random bytes, 24 characters encoded; and the
 * 4.2.2 example: SHA-1 digest b37a4f2c... encodes to the documented
 * Sec-WebSocket-Accept value. */
static void test_websocket_values(void **s)
{
    uint8_t digest[20], nonce[16];
    char enc[WSP_ACCEPT_LEN];
    (void)s;

    wsp_test_hex("b37a4f2cc0624f1690f64606cf385945b2bec4ea", digest,
                 sizeof(digest));
    assert_int_equal(WSP_BASE64_LEN(20), WSP_ACCEPT_LEN);
    wsp_base64_encode(digest, 20, enc);
    assert_memory_equal(enc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WSP_ACCEPT_LEN);

    assert_int_equal(wsp_base64_decode("dGhlIHNhbXBsZSBub25jZQ==", 24, nonce,
                                       sizeof(nonce)),
                     16);
    assert_memory_equal(nonce, "the sample nonce", 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_encode),
        cmocka_unit_test(test_rfc4648_decode),
        cmocka_unit_test(test_full_alphabet),
        cmocka_unit_test(test_round_trip_all_lengths),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_final_quantum_exhaustive),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_websocket_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
