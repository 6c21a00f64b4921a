/* wsp_mask / wsp_mask_copy against a byte-by-byte reference of RFC 6455
 * 5.3, at every length up to 300, every stream offset, and misaligned
 * pointers, so that every wide path and every tail length is compared. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_support.h"
#include "wsproto.h"

static void ref_mask(uint8_t *buf, size_t len, const uint8_t key[4],
                     uint64_t offset)
{
    for (size_t i = 0; i < len; i++)
        buf[i] ^= key[(offset + i) % 4u];
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

/* Guard bytes around the region catch writes past either end. */
#define GUARD 32
#define MAXLEN 300

static void test_every_length_offset_alignment(void **s)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    uint8_t orig[MAXLEN + 2 * GUARD + 16];
    uint8_t got[sizeof(orig)], want[sizeof(orig)];
    (void)s;

    fill(orig, sizeof(orig), 1);
    for (size_t align = 0; align < 8; align++) {
        for (size_t len = 0; len <= MAXLEN; len++) {
            for (uint64_t off = 0; off < 8; off++) {
                uint8_t *g = got + GUARD + align;
                uint8_t *w = want + GUARD + align;
                memcpy(got, orig, sizeof(orig));
                memcpy(want, orig, sizeof(orig));
                wsp_mask(g, len, key, off);
                ref_mask(w, len, key, off);
                assert_memory_equal(got, want, sizeof(got));
                /* Masking is its own inverse. */
                wsp_mask(g, len, key, off);
                assert_memory_equal(got, orig, sizeof(got));
            }
        }
    }
}

static void test_copy_matches_in_place(void **s)
{
    static const uint8_t key[4] = {0x01, 0x80, 0xff, 0x5a};
    uint8_t src[MAXLEN + 16], srcsave[sizeof(src)];
    uint8_t dst[MAXLEN + 2 * GUARD + 16], want[sizeof(dst)];
    (void)s;

    fill(src, sizeof(src), 7);
    memcpy(srcsave, src, sizeof(src));
    for (size_t sa = 0; sa < 4; sa++) {
        for (size_t da = 0; da < 4; da++) {
            for (size_t len = 0; len <= MAXLEN; len++) {
                for (uint64_t off = 0; off < 8; off++) {
                    memset(dst, 0xEE, sizeof(dst));
                    memset(want, 0xEE, sizeof(want));
                    memcpy(want + GUARD + da, src + sa, len);
                    ref_mask(want + GUARD + da, len, key, off);
                    wsp_mask_copy(dst + GUARD + da, src + sa, len, key, off);
                    assert_memory_equal(dst, want, sizeof(dst));
                    /* The source is read only. */
                    assert_memory_equal(src, srcsave, sizeof(src));
                }
            }
        }
    }
}

/* A payload unmasked piece by piece, passing the running byte count as the
 * offset, equals unmasking it whole (the use wsp_conn makes of it). */
static void test_pieces_with_running_offset(void **s)
{
    static const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
    uint8_t whole[1000], pieces[1000];
    uint32_t seed = 99;
    (void)s;

    fill(whole, sizeof(whole), 3);
    memcpy(pieces, whole, sizeof(whole));
    wsp_mask(whole, sizeof(whole), key, 0);
    for (size_t pos = 0; pos < sizeof(pieces);) {
        size_t n;
        seed = seed * 1664525u + 1013904223u;
        n = 1 + (seed >> 16) % 70u;
        if (n > sizeof(pieces) - pos)
            n = sizeof(pieces) - pos;
        wsp_mask(pieces + pos, n, key, pos);
        pos += n;
    }
    assert_memory_equal(whole, pieces, sizeof(whole));
}

/* Only offset % 4 matters, including for offsets beyond 32 bits. */
static void test_large_offsets(void **s)
{
    static const uint8_t key[4] = {1, 2, 4, 8};
    uint8_t a[64], b[64];
    (void)s;

    for (uint64_t base = 0; base < 4; base++) {
        memset(a, 0, sizeof(a));
        memset(b, 0, sizeof(b));
        wsp_mask(a, sizeof(a), key, base);
        wsp_mask(b, sizeof(b), key, base + (UINT64_C(1) << 62) + 4u * 12345u);
        assert_memory_equal(a, b, sizeof(a));
        assert_int_equal(a[0], key[base]);
    }
}

/* RFC 6455 5.7: the masked "Hello" from a client. */
static void test_rfc_example(void **s)
{
    uint8_t frame[16];
    size_t n = wsp_test_hex("37 fa 21 3d 7f 9f 4d 51 58", frame, sizeof(frame));
    (void)s;

    assert_int_equal(n, 9);
    wsp_mask(frame + 4, 5, frame, 0);
    assert_memory_equal(frame + 4, "Hello", 5);
}

static void test_zero_length_touches_nothing(void **s)
{
    static const uint8_t key[4] = {9, 9, 9, 9};
    uint8_t b[4] = {1, 2, 3, 4};
    (void)s;

    wsp_mask(b, 0, key, 3);
    wsp_mask_copy(b + 1, b, 0, key, 1);
    assert_int_equal(b[0], 1);
    assert_int_equal(b[1], 2);
    /* NULL with length 0 is harmless. */
    wsp_mask(NULL, 0, key, 0);
}

static void test_null_pointers_are_ignored(void **s)
{
    static const uint8_t key[4] = {1, 2, 3, 4};
    uint8_t src[4] = {0x10, 0x20, 0x30, 0x40};
    uint8_t dst[4] = {0, 0, 0, 0};
    (void)s;
    wsp_mask_copy(NULL, src, 4, key, 0);
    wsp_mask_copy(dst, NULL, 4, key, 0);
    wsp_mask_copy(dst, src, 4, NULL, 0);
    wsp_mask(src, 4, NULL, 0);
    static const uint8_t zero[4] = {0, 0, 0, 0};
    static const uint8_t orig[4] = {0x10, 0x20, 0x30, 0x40};
    assert_memory_equal(dst, zero, 4);
    assert_memory_equal(src, orig, 4);
    wsp_mask_copy(dst, src, 4, key, 0);
    static const uint8_t want[4] = {0x11, 0x22, 0x33, 0x44};
    assert_memory_equal(dst, want, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_length_offset_alignment),
        cmocka_unit_test(test_copy_matches_in_place),
        cmocka_unit_test(test_pieces_with_running_offset),
        cmocka_unit_test(test_large_offsets),
        cmocka_unit_test(test_rfc_example),
        cmocka_unit_test(test_zero_length_touches_nothing),
        cmocka_unit_test(test_null_pointers_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
