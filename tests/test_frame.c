/* Frame header codec and masking against RFC 6455 5.2 and the 5.7 examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_support.h"
#include "wsproto.h"

typedef struct header_case {
    const char *hex; /* the whole header */
    uint8_t fin, rsv, opcode, masked;
    const char *key_hex; /* NULL: unmasked */
    uint64_t payload_len;
    size_t header_len;
} header_case;

/* RFC 6455 5.7 examples (header part) plus other shapes. */
static const header_case cases[] = {
    {"81 05", 1, 0, 0x1, 0, NULL, 5, 2},               /* unmasked "Hello" */
    {"81 85 37 fa 21 3d", 1, 0, 0x1, 1, "37fa213d", 5, 6}, /* masked "Hello" */
    {"01 03", 0, 0, 0x1, 0, NULL, 3, 2},               /* "Hel" */
    {"80 02", 1, 0, 0x0, 0, NULL, 2, 2},               /* "lo" */
    {"89 05", 1, 0, 0x9, 0, NULL, 5, 2},               /* ping "Hello" */
    {"8a 85 37 fa 21 3d", 1, 0, 0xA, 1, "37fa213d", 5, 6}, /* masked pong */
    {"82 7E 01 00", 1, 0, 0x2, 0, NULL, 256, 4},       /* 256 bytes binary */
    {"82 7F 00 00 00 00 00 01 00 00", 1, 0, 0x2, 0, NULL, 65536, 10},
    {"82 00", 1, 0, 0x2, 0, NULL, 0, 2},
    {"82 7D", 1, 0, 0x2, 0, NULL, 125, 2},
    {"82 7E 00 7E", 1, 0, 0x2, 0, NULL, 126, 4},
    {"82 7E FF FF", 1, 0, 0x2, 0, NULL, 65535, 4},
    {"82 FE FF FF 01 02 03 04", 1, 0, 0x2, 1, "01020304", 65535, 8},
    {"82 7F 7F FF FF FF FF FF FF FF", 1, 0, 0x2, 0, NULL, 0x7FFFFFFFFFFFFFFFull,
     10},
    {"82 FF 7F FF FF FF FF FF FF FF a1 b2 c3 d4", 1, 0, 0x2, 1, "a1b2c3d4",
     0x7FFFFFFFFFFFFFFFull, 14},
    {"C1 00", 1, 4, 0x1, 0, NULL, 0, 2}, /* RSV1 */
    {"A1 00", 1, 2, 0x1, 0, NULL, 0, 2}, /* RSV2 */
    {"91 00", 1, 1, 0x1, 0, NULL, 0, 2}, /* RSV3 */
    {"70 00", 0, 7, 0x0, 0, NULL, 0, 2}, /* all RSV, FIN=0 */
    {"83 00", 1, 0, 0x3, 0, NULL, 0, 2}, /* reserved opcode: raw, not checked */
    {"8F 80 00 00 00 00", 1, 0, 0xF, 1, "00000000", 0, 6},
    {"08 00", 0, 0, 0x8, 0, NULL, 0, 2}, /* fragmented close: not checked */
};

static void check_case(const header_case *c)
{
    uint8_t buf[32];
    size_t n = wsp_test_hex(c->hex, buf, sizeof buf);
    assert_int_equal(n, c->header_len);

    /* Parse of the exact header, and of the header followed by payload. */
    for (int extra = 0; extra < 2; extra++) {
        uint8_t in[40];
        memcpy(in, buf, n);
        memset(in + n, 0xEE, 8);
        wsp_frame_header h;
        memset(&h, 0x55, sizeof h);
        assert_int_equal(wsp_frame_parse_header(in, n + (extra ? 8u : 0u), &h),
                         WSP_OK);
        assert_int_equal(h.fin, c->fin);
        assert_int_equal(h.rsv, c->rsv);
        assert_int_equal(h.opcode, c->opcode);
        assert_int_equal(h.masked, c->masked);
        assert_true(h.payload_len == c->payload_len);
        assert_int_equal(h.header_len, c->header_len);
        if (c->key_hex) {
            uint8_t key[4];
            wsp_test_hex(c->key_hex, key, 4);
            assert_memory_equal(h.mask_key, key, 4);
        }
    }

    /* Every truncation needs more and writes nothing. */
    for (size_t cut = 0; cut < n; cut++) {
        wsp_frame_header h, before;
        memset(&h, 0x5A, sizeof h);
        memcpy(&before, &h, sizeof h);
        assert_int_equal(wsp_frame_parse_header(buf, cut, &h),
                         WSP_ERR_NEED_MORE);
        assert_memory_equal(&h, &before, sizeof h);
    }

    /* Encoding the decoded fields gives the same bytes. */
    wsp_frame_header e;
    memset(&e, 0, sizeof e);
    e.fin = c->fin;
    e.rsv = c->rsv;
    e.opcode = c->opcode;
    e.masked = c->masked;
    if (c->key_hex) wsp_test_hex(c->key_hex, e.mask_key, 4);
    e.payload_len = c->payload_len;
    uint8_t out[WSP_MAX_FRAME_HEADER + 4];
    memset(out, 0xCC, sizeof out);
    size_t out_len = 0;
    assert_int_equal(wsp_frame_encode_header(&e, out, sizeof out, &out_len),
                     WSP_OK);
    assert_int_equal(out_len, n);
    assert_memory_equal(out, buf, n);

    /* Too small by one: nothing written, *out_len 0; measuring (no buffer)
     * reports the size. */
    uint8_t small[WSP_MAX_FRAME_HEADER];
    memset(small, 0xCC, sizeof small);
    out_len = 12345;
    assert_int_equal(wsp_frame_encode_header(&e, small, n - 1, &out_len),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(out_len, 0);
    assert_int_equal(wsp_frame_encode_header(&e, NULL, 0, &out_len), WSP_OK);
    assert_int_equal(out_len, n);
    for (size_t i = 0; i < sizeof small; i++) assert_int_equal(small[i], 0xCC);
    /* Exactly enough room is fine. */
    assert_int_equal(wsp_frame_encode_header(&e, small, n, &out_len), WSP_OK);
    assert_int_equal(out_len, n);
    assert_memory_equal(small, buf, n);
}

static void test_header_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("case %zu: %s\n", i, cases[i].hex);
        check_case(&cases[i]);
    }
}

/* RFC 6455 5.7: the full example frames, unmasking the masked ones. */
static void test_rfc_examples_whole_frames(void **state)
{
    (void)state;
    uint8_t f[32];
    wsp_frame_header h;

    size_t n = wsp_test_hex("81 05 48 65 6c 6c 6f", f, sizeof f);
    assert_int_equal(wsp_frame_parse_header(f, n, &h), WSP_OK);
    assert_int_equal(h.header_len + h.payload_len, n);
    assert_memory_equal(f + h.header_len, "Hello", 5);

    n = wsp_test_hex("81 85 37 fa 21 3d 7f 9f 4d 51 58", f, sizeof f);
    assert_int_equal(wsp_frame_parse_header(f, n, &h), WSP_OK);
    assert_int_equal(h.header_len + h.payload_len, n);
    wsp_mask(f + h.header_len, 5, h.mask_key, 0);
    assert_memory_equal(f + h.header_len, "Hello", 5);

    n = wsp_test_hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58", f, sizeof f);
    assert_int_equal(wsp_frame_parse_header(f, n, &h), WSP_OK);
    assert_int_equal(h.opcode, WSP_OP_PONG);
    uint8_t copy[5];
    wsp_mask_copy(copy, f + h.header_len, 5, h.mask_key, 0);
    assert_memory_equal(copy, "Hello", 5);
}

static void test_reject_top_bit(void **state)
{
    (void)state;
    static const char *bad[] = {
        "82 7F 80 00 00 00 00 00 00 00",
        "82 7F 80 00 00 00 00 01 00 00",
        "82 7F FF FF FF FF FF FF FF FF",
        "82 FF 80 00 00 00 00 00 00 00 01 02 03 04",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t f[16];
        size_t n = wsp_test_hex(bad[i], f, sizeof f);
        wsp_frame_header h;
        assert_int_equal(wsp_frame_parse_header(f, n, &h),
                         WSP_ERR_PROTO_LENGTH);
    }
}

static void test_reject_non_minimal(void **state)
{
    (void)state;
    static const char *bad[] = {
        "82 7E 00 00",                         /* 0 in 16 bits */
        "82 7E 00 05",                         /* 5 in 16 bits */
        "82 7E 00 7D",                         /* 125 in 16 bits */
        "82 FE 00 7D 01 02 03 04",             /* masked, 125 in 16 bits */
        "82 7F 00 00 00 00 00 00 00 00",       /* 0 in 64 bits */
        "82 7F 00 00 00 00 00 00 00 7D",       /* 125 in 64 bits */
        "82 7F 00 00 00 00 00 00 00 7E",       /* 126 in 64 bits */
        "82 7F 00 00 00 00 00 00 FF FF",       /* 65535 in 64 bits */
        "82 FF 00 00 00 00 00 00 FF FF 01 02 03 04",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t f[16];
        size_t n = wsp_test_hex(bad[i], f, sizeof f);
        wsp_frame_header h;
        print_message("non-minimal: %s\n", bad[i]);
        assert_int_equal(wsp_frame_parse_header(f, n, &h),
                         WSP_ERR_PROTO_LENGTH);
    }
}

static void test_encode_length_classes(void **state)
{
    (void)state;
    static const struct {
        uint64_t len;
        const char *hex;
    } lens[] = {
        {0, "82 00"},
        {1, "82 01"},
        {125, "82 7D"},
        {126, "82 7E 00 7E"},
        {127, "82 7E 00 7F"},
        {65535, "82 7E FF FF"},
        {65536, "82 7F 00 00 00 00 00 01 00 00"},
        {0x100000000ull, "82 7F 00 00 00 01 00 00 00 00"},
        {0x7FFFFFFFFFFFFFFFull, "82 7F 7F FF FF FF FF FF FF FF"},
    };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t want[16], out[WSP_MAX_FRAME_HEADER];
        size_t wn = wsp_test_hex(lens[i].hex, want, sizeof want);
        wsp_frame_header h;
        memset(&h, 0, sizeof h);
        h.fin = 1;
        h.opcode = WSP_OP_BINARY;
        h.payload_len = lens[i].len;
        size_t n = 0;
        assert_int_equal(wsp_frame_encode_header(&h, out, sizeof out, &n),
                         WSP_OK);
        assert_int_equal(n, wn);
        assert_memory_equal(out, want, wn);

        /* The masked variant adds the key after the length. */
        h.masked = 1;
        memcpy(h.mask_key, "\x01\x02\x03\x04", 4);
        assert_int_equal(wsp_frame_encode_header(&h, out, sizeof out, &n),
                         WSP_OK);
        assert_int_equal(n, wn + 4);
        assert_int_equal(out[1], want[1] | 0x80);
        assert_memory_equal(out + 2, want + 2, wn - 2);
        assert_memory_equal(out + wn, "\x01\x02\x03\x04", 4);

        wsp_frame_header back;
        assert_int_equal(wsp_frame_parse_header(out, n, &back), WSP_OK);
        assert_true(back.payload_len == lens[i].len);
        assert_int_equal(back.header_len, n);
    }
}

static void test_encode_invalid(void **state)
{
    (void)state;
    uint8_t out[WSP_MAX_FRAME_HEADER];
    size_t n = 0;
    wsp_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = 0x10;
    assert_int_equal(wsp_frame_encode_header(&h, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    h.opcode = 0x1;
    h.rsv = 8;
    assert_int_equal(wsp_frame_encode_header(&h, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    h.rsv = 0;
    h.payload_len = 0x8000000000000000ull;
    assert_int_equal(wsp_frame_encode_header(&h, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    h.payload_len = 0;
    assert_int_equal(wsp_frame_encode_header(NULL, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_frame_encode_header(&h, out, sizeof out, NULL),
                     WSP_ERR_INVALID_ARG);
    wsp_frame_header p;
    assert_int_equal(wsp_frame_parse_header(NULL, 2, &p), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_frame_parse_header(out, 2, NULL), WSP_ERR_INVALID_ARG);
}

/* Random headers survive encode -> parse unchanged. */
static void test_round_trip_random(void **state)
{
    (void)state;
    uint64_t rng = wsp_test_rng_seed(6455);
    for (int i = 0; i < 20000; i++) {
        wsp_frame_header h;
        memset(&h, 0, sizeof h);
        h.fin = (uint8_t)(wsp_test_rng(&rng) & 1);
        h.rsv = (uint8_t)(wsp_test_rng(&rng) & 7);
        h.opcode = (uint8_t)(wsp_test_rng(&rng) & 0xF);
        h.masked = (uint8_t)(wsp_test_rng(&rng) & 1);
        if (h.masked) {
            uint64_t k = wsp_test_rng(&rng);
            memcpy(h.mask_key, &k, 4);
        }
        switch (wsp_test_rng(&rng) % 4) {
        case 0: h.payload_len = wsp_test_rng(&rng) % 126; break;
        case 1: h.payload_len = 126 + wsp_test_rng(&rng) % (65536 - 126); break;
        case 2: h.payload_len = 65536 + wsp_test_rng(&rng) % 1000000; break;
        default: h.payload_len = wsp_test_rng(&rng) >> 1; break;
        }
        uint8_t out[WSP_MAX_FRAME_HEADER];
        size_t n = 0;
        assert_int_equal(wsp_frame_encode_header(&h, out, sizeof out, &n),
                         WSP_OK);
        size_t want = 2 + (h.payload_len > 65535 ? 8u
                           : h.payload_len > 125 ? 2u : 0u) +
                      (h.masked ? 4u : 0u);
        assert_int_equal(n, want);
        wsp_frame_header back;
        assert_int_equal(wsp_frame_parse_header(out, n, &back), WSP_OK);
        assert_int_equal(back.fin, h.fin);
        assert_int_equal(back.rsv, h.rsv);
        assert_int_equal(back.opcode, h.opcode);
        assert_int_equal(back.masked, h.masked);
        if (h.masked) assert_memory_equal(back.mask_key, h.mask_key, 4);
        assert_true(back.payload_len == h.payload_len);
        assert_int_equal(back.header_len, n);
        for (size_t cut = 0; cut < n; cut++)
            assert_int_equal(wsp_frame_parse_header(out, cut, &back),
                             WSP_ERR_NEED_MORE);
    }
}

/* Masking piece by piece with the offset equals masking all at once. */
static void test_mask_offsets(void **state)
{
    (void)state;
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    uint8_t plain[257], whole[257], pieces[257], copy[257];
    for (size_t i = 0; i < sizeof plain; i++) plain[i] = (uint8_t)(i * 7 + 3);
    memcpy(whole, plain, sizeof plain);
    wsp_mask(whole, sizeof whole, key, 0);
    for (size_t i = 0; i < sizeof plain; i++)
        assert_int_equal(whole[i], plain[i] ^ key[i % 4]);

    uint64_t rng = wsp_test_rng_seed(1);
    for (int round = 0; round < 200; round++) {
        memcpy(pieces, plain, sizeof plain);
        size_t off = 0;
        while (off < sizeof pieces) {
            size_t take = 1 + wsp_test_rng_below(&rng, 40);
            if (take > sizeof pieces - off) take = sizeof pieces - off;
            /* Offsets beyond 2^32 must still only matter modulo 4. */
            uint64_t stream_off = (round & 1) ? off + 0x100000000ull : off;
            if (round & 2) {
                wsp_mask_copy(copy + off, pieces + off, take, key, stream_off);
                memcpy(pieces + off, copy + off, take);
            } else {
                wsp_mask(pieces + off, take, key, stream_off);
            }
            off += take;
        }
        assert_memory_equal(pieces, whole, sizeof whole);
    }
    /* Masking twice restores the input; zero length is a no-op. */
    wsp_mask(whole, sizeof whole, key, 0);
    assert_memory_equal(whole, plain, sizeof plain);
    wsp_mask(whole, 0, key, 3);
    assert_memory_equal(whole, plain, sizeof plain);
}

static void test_encode_size_query(void **state)
{
    (void)state;
    wsp_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WSP_OP_BINARY;
    h.payload_len = 70000;
    h.masked = 1;
    size_t n = 0;
    /* No buffer: the size needed is measured. */
    assert_int_equal(wsp_frame_encode_header(&h, NULL, 0, &n), WSP_OK);
    assert_int_equal(n, 14);
    /* A NULL buffer that claims room is a caller error. */
    assert_int_equal(wsp_frame_encode_header(&h, NULL, 14, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
}

/* 0.1 stored the needed size in *out_len on WSP_ERR_BUFFER_TOO_SMALL and
 * left it as it was on other failures; now every failure leaves 0, and a
 * NULL buffer with no room measures exactly what a real call writes. */
static void test_regression_encode_header_out_len(void **state)
{
    (void)state;
    static const uint64_t lens[] = {0, 1, 125, 126, 65535, 65536, (uint64_t)1 << 40};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (uint8_t masked = 0; masked < 2; masked++) {
            wsp_frame_header h;
            memset(&h, 0, sizeof h);
            h.fin = 1;
            h.opcode = WSP_OP_BINARY;
            h.masked = masked;
            h.payload_len = lens[i];
            size_t measured = 12345;
            assert_int_equal(wsp_frame_encode_header(&h, NULL, 0, &measured), WSP_OK);
            uint8_t out[WSP_MAX_FRAME_HEADER];
            size_t n = 12345;
            assert_int_equal(wsp_frame_encode_header(&h, out, sizeof out, &n), WSP_OK);
            assert_int_equal(measured, n);
            n = 12345;
            assert_int_equal(wsp_frame_encode_header(&h, out, measured - 1, &n),
                             WSP_ERR_BUFFER_TOO_SMALL);
            assert_int_equal(n, 0);
        }
    }
    wsp_frame_header h;
    memset(&h, 0, sizeof h);
    uint8_t out[WSP_MAX_FRAME_HEADER];
    size_t n = 12345;
    h.opcode = 0x10;
    assert_int_equal(wsp_frame_encode_header(&h, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    h.opcode = WSP_OP_TEXT;
    h.rsv = 8;
    n = 12345;
    assert_int_equal(wsp_frame_encode_header(&h, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    h.rsv = 0;
    h.payload_len = (uint64_t)1 << 63;
    n = 12345;
    assert_int_equal(wsp_frame_encode_header(&h, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    /* An invalid header is refused when measuring too. */
    n = 12345;
    assert_int_equal(wsp_frame_encode_header(&h, NULL, 0, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    h.payload_len = 5;
    n = 12345;
    assert_int_equal(wsp_frame_encode_header(NULL, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 12345;
    assert_int_equal(wsp_frame_encode_header(&h, NULL, 4, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_cases),
        cmocka_unit_test(test_rfc_examples_whole_frames),
        cmocka_unit_test(test_reject_top_bit),
        cmocka_unit_test(test_reject_non_minimal),
        cmocka_unit_test(test_encode_length_classes),
        cmocka_unit_test(test_encode_invalid),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_mask_offsets),
        cmocka_unit_test(test_encode_size_query),
        cmocka_unit_test(test_regression_encode_header_out_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
