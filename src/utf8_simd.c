/* Block scanners for the UTF-8 validator (utf8.c): the lookup method of
 * Keiser and Lemire ("Validating UTF-8 In Less Than One Instruction Per
 * Byte", 2021), written for SSE4.1, AVX2, AVX-512 and NEON.
 *
 * Every rule of RFC 3629 is a property of one byte and the byte before it,
 * except that the third and fourth byte of a long code point must be a
 * continuation. So for each position, three 16-entry tables are looked up
 * (high nibble of the previous byte, low nibble of the previous byte, high
 * nibble of this byte); each entry is a set of error kinds that are
 * possible given that nibble, and an error kind present in all three is an
 * error. The eight kinds fit one byte:
 *
 *   TOO_SHORT   lead byte, then something that is not a continuation
 *   TOO_LONG    ASCII, then a continuation
 *   TWO_CONTS   continuation, then continuation (fine only where a 3- or
 *               4-byte code point needs it: cancelled below)
 *   OVERLONG_2  C0 or C1, then a continuation
 *   OVERLONG_3  E0, then 80..9F
 *   SURROGATE   ED, then A0..BF
 *   OVERLONG_4_OR_F5  F0 then 80..8F, or F5..FF then 80..8F
 *   TOO_LARGE   F4..FF, then 90..BF
 *
 * TWO_CONTS is bit 7, so "a lead byte two or three back asks for a
 * continuation here" (bit 7 of a saturating subtraction) can be XORed in:
 * where both hold they cancel, where only one holds it is an error.
 *
 * A scanner starts between code points (the bytes before it count as
 * ASCII) and stops before a 64-byte group that fails, or when less than a
 * block is left; it then backs off to the last code point boundary, so a
 * lead byte at the very end (which only the next byte could judge) is left
 * to the DFA. All-ASCII groups cost one test, unless the group before them
 * ended inside a code point. */
#include "internal.h"

#if defined(WSP_UTF8_HAVE_X86) || defined(WSP_UTF8_HAVE_NEON)

enum {
    TOO_SHORT = 0x01,
    TOO_LONG = 0x02,
    OVERLONG_3 = 0x04,
    TOO_LARGE = 0x08,
    SURROGATE = 0x10,
    OVERLONG_2 = 0x20,
    OVERLONG_4_OR_F5 = 0x40,
    TWO_CONTS = 0x80,
    /* kinds decided by the high nibbles alone */
    ANY_LOW = TOO_SHORT | TOO_LONG | TWO_CONTS
};

/* Indexed by the high nibble of the previous byte. */
static const uint8_t prev_high_kinds[16] = {
    TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, /* 0x: ASCII */
    TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
    TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,       /* 8x..Bx */
    TOO_SHORT | OVERLONG_2,                           /* Cx */
    TOO_SHORT,                                        /* Dx */
    TOO_SHORT | OVERLONG_3 | SURROGATE,               /* Ex */
    TOO_SHORT | TOO_LARGE | OVERLONG_4_OR_F5,         /* Fx */
};

/* Indexed by the low nibble of the previous byte. */
static const uint8_t prev_low_kinds[16] = {
    ANY_LOW | OVERLONG_2 | OVERLONG_3 | OVERLONG_4_OR_F5, /* C0 E0 F0 */
    ANY_LOW | OVERLONG_2,                                 /* C1 */
    ANY_LOW,
    ANY_LOW,
    ANY_LOW | TOO_LARGE,                                  /* F4 */
    ANY_LOW | TOO_LARGE | OVERLONG_4_OR_F5,               /* F5.. */
    ANY_LOW | TOO_LARGE | OVERLONG_4_OR_F5,
    ANY_LOW | TOO_LARGE | OVERLONG_4_OR_F5,
    ANY_LOW | TOO_LARGE | OVERLONG_4_OR_F5,
    ANY_LOW | TOO_LARGE | OVERLONG_4_OR_F5,
    ANY_LOW | TOO_LARGE | OVERLONG_4_OR_F5,
    ANY_LOW | TOO_LARGE | OVERLONG_4_OR_F5,
    ANY_LOW | TOO_LARGE | OVERLONG_4_OR_F5,
    ANY_LOW | TOO_LARGE | OVERLONG_4_OR_F5 | SURROGATE,   /* ED FD */
    ANY_LOW | TOO_LARGE | OVERLONG_4_OR_F5,
    ANY_LOW | TOO_LARGE | OVERLONG_4_OR_F5,
};

/* Indexed by the high nibble of this byte. */
static const uint8_t cur_high_kinds[16] = {
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, /* 0x: ASCII */
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
    TOO_LONG | TWO_CONTS | OVERLONG_2 | OVERLONG_3 | OVERLONG_4_OR_F5, /* 8x */
    TOO_LONG | TWO_CONTS | OVERLONG_2 | OVERLONG_3 | TOO_LARGE,        /* 9x */
    TOO_LONG | TWO_CONTS | OVERLONG_2 | SURROGATE | TOO_LARGE,         /* Ax */
    TOO_LONG | TWO_CONTS | OVERLONG_2 | SURROGATE | TOO_LARGE,         /* Bx */
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, /* Cx..Fx: lead bytes */
};

/* A block whose last bytes exceed these ends inside a code point (or on a
 * byte never valid): F0+ three from the end, E0+ two, C0+ last. The
 * narrower vectors load the tail of this. */
static const uint8_t open_at_end[64] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xEF, 0xDF, 0xBF};

/* Where the scan stopped at p (p == 0 or p >= 16, buf[0..p) passed):
 * backs off over a code point still open at p. */
static size_t boundary_before(const uint8_t *buf, size_t p)
{
    if (p == 0)
        return 0;
    if (buf[p - 1] >= 0xC0u)
        return p - 1;
    if (buf[p - 2] >= 0xE0u)
        return p - 2;
    if (buf[p - 3] >= 0xF0u)
        return p - 3;
    return p;
}

#endif /* any scanner */

#if defined(WSP_UTF8_HAVE_X86)
#include <immintrin.h>

#define TARGET_SSE41 __attribute__((target("ssse3,sse4.1")))
#define TARGET_AVX2 __attribute__((target("avx2")))
#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw")))

static int cpu_runs(wsp_utf8_impl impl)
{
    switch (impl) {
    case WSP_UTF8_IMPL_SSE41:
        return __builtin_cpu_supports("ssse3") &&
               __builtin_cpu_supports("sse4.1");
    case WSP_UTF8_IMPL_AVX2:
        return __builtin_cpu_supports("avx2");
    case WSP_UTF8_IMPL_AVX512:
        /* VBMI2 is not used; it marks the cores (Ice Lake, Zen 4 and
         * later) where 512-bit work does not slow the clock for the rest
         * of the program. */
        return __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vbmi2");
    default:
        return 0;
    }
}

int wsp_utf8_cpu_has(wsp_utf8_impl impl)
{
    /* The compiler's runtime reads CPUID once, at load; asking it costs a
     * load and a test, so the library keeps no state of its own for it.
     * __builtin_cpu_init makes the answer right even from a constructor
     * that runs before the runtime's. */
    __builtin_cpu_init();
    return cpu_runs(impl);
}

/* ---- SSE4.1: 16-byte blocks, 4 per group ---------------------------- */

#define LOAD128(p) _mm_loadu_si128((const __m128i *)(const void *)(p))

typedef struct sse_tables {
    __m128i prev_high, prev_low, cur_high, low_nibble, third, fourth, bit7;
} sse_tables;

TARGET_SSE41 static inline __m128i sse_errors(const sse_tables *t, __m128i prev,
                                              __m128i cur)
{
    __m128i p1 = _mm_alignr_epi8(cur, prev, 15);
    __m128i p2 = _mm_alignr_epi8(cur, prev, 14);
    __m128i p3 = _mm_alignr_epi8(cur, prev, 13);
    __m128i k = _mm_and_si128(
        _mm_shuffle_epi8(t->prev_high,
                         _mm_and_si128(_mm_srli_epi16(p1, 4), t->low_nibble)),
        _mm_shuffle_epi8(t->prev_low, _mm_and_si128(p1, t->low_nibble)));
    __m128i need;
    k = _mm_and_si128(k, _mm_shuffle_epi8(t->cur_high,
                                          _mm_and_si128(_mm_srli_epi16(cur, 4),
                                                        t->low_nibble)));
    /* Bit 7 set where a lead byte two (E0+) or three (F0+) back needs this
     * byte to be a continuation. */
    need = _mm_and_si128(_mm_or_si128(_mm_subs_epu8(p2, t->third),
                                      _mm_subs_epu8(p3, t->fourth)),
                         t->bit7);
    return _mm_xor_si128(k, need);
}

TARGET_SSE41 size_t wsp_utf8_scan_sse41(const uint8_t *buf, size_t len)
{
    sse_tables t;
    __m128i prev = _mm_setzero_si128(), open = _mm_setzero_si128();
    const __m128i open_max = LOAD128(open_at_end + 48);
    size_t p = 0;

    t.prev_high = LOAD128(prev_high_kinds);
    t.prev_low = LOAD128(prev_low_kinds);
    t.cur_high = LOAD128(cur_high_kinds);
    t.low_nibble = _mm_set1_epi8(0x0F);
    t.third = _mm_set1_epi8(0x60);  /* E0 - 0x80 */
    t.fourth = _mm_set1_epi8(0x70); /* F0 - 0x80 */
    t.bit7 = _mm_set1_epi8((char)0x80);

    while (len - p >= 64u) {
        __m128i a = LOAD128(buf + p), b = LOAD128(buf + p + 16);
        __m128i c = LOAD128(buf + p + 32), d = LOAD128(buf + p + 48);
        __m128i any = _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d));
        if (_mm_movemask_epi8(any) == 0 && _mm_testz_si128(open, open)) {
            prev = d;
            p += 64;
            continue;
        }
        __m128i err = _mm_or_si128(
            _mm_or_si128(sse_errors(&t, prev, a), sse_errors(&t, a, b)),
            _mm_or_si128(sse_errors(&t, b, c), sse_errors(&t, c, d)));
        if (!_mm_testz_si128(err, err))
            return boundary_before(buf, p);
        open = _mm_subs_epu8(d, open_max);
        prev = d;
        p += 64;
    }
    while (len - p >= 16u) {
        __m128i a = LOAD128(buf + p), err = sse_errors(&t, prev, a);
        if (!_mm_testz_si128(err, err))
            break;
        prev = a;
        p += 16;
    }
    return boundary_before(buf, p);
}

/* ---- AVX2: 32-byte blocks, 2 per group ------------------------------ */

#define LOAD256(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))

typedef struct avx2_tables {
    __m256i prev_high, prev_low, cur_high, low_nibble, third, fourth, bit7;
} avx2_tables;

TARGET_AVX2 static inline __m256i avx2_errors(const avx2_tables *t,
                                              __m256i prev, __m256i cur)
{
    /* The shifts work within 128-bit lanes, so each lane's predecessor
     * (prev's high lane for cur's low lane) is lined up first. */
    __m256i before = _mm256_permute2x128_si256(prev, cur, 0x21);
    __m256i p1 = _mm256_alignr_epi8(cur, before, 15);
    __m256i p2 = _mm256_alignr_epi8(cur, before, 14);
    __m256i p3 = _mm256_alignr_epi8(cur, before, 13);
    __m256i k = _mm256_and_si256(
        _mm256_shuffle_epi8(t->prev_high, _mm256_and_si256(
                                              _mm256_srli_epi16(p1, 4),
                                              t->low_nibble)),
        _mm256_shuffle_epi8(t->prev_low, _mm256_and_si256(p1, t->low_nibble)));
    __m256i need;
    k = _mm256_and_si256(
        k, _mm256_shuffle_epi8(t->cur_high,
                               _mm256_and_si256(_mm256_srli_epi16(cur, 4),
                                                t->low_nibble)));
    need = _mm256_and_si256(_mm256_or_si256(_mm256_subs_epu8(p2, t->third),
                                            _mm256_subs_epu8(p3, t->fourth)),
                            t->bit7);
    return _mm256_xor_si256(k, need);
}

TARGET_AVX2 size_t wsp_utf8_scan_avx2(const uint8_t *buf, size_t len)
{
    avx2_tables t;
    __m256i prev = _mm256_setzero_si256(), open = _mm256_setzero_si256();
    const __m256i open_max = LOAD256(open_at_end + 32);
    size_t p = 0;

    t.prev_high = _mm256_broadcastsi128_si256(LOAD128(prev_high_kinds));
    t.prev_low = _mm256_broadcastsi128_si256(LOAD128(prev_low_kinds));
    t.cur_high = _mm256_broadcastsi128_si256(LOAD128(cur_high_kinds));
    t.low_nibble = _mm256_set1_epi8(0x0F);
    t.third = _mm256_set1_epi8(0x60);
    t.fourth = _mm256_set1_epi8(0x70);
    t.bit7 = _mm256_set1_epi8((char)0x80);

    /* 128 bytes a group: with text that has a non-ASCII character every
     * 40 bytes or so, a 64-byte group is all ASCII often enough that the
     * skip branch mispredicts, and that costs more than it saves. */
    while (len - p >= 128u) {
        __m256i a = LOAD256(buf + p), b = LOAD256(buf + p + 32);
        __m256i c = LOAD256(buf + p + 64), d = LOAD256(buf + p + 96);
        __m256i any = _mm256_or_si256(_mm256_or_si256(a, b),
                                      _mm256_or_si256(c, d));
        if (_mm256_movemask_epi8(any) == 0 &&
            _mm256_testz_si256(open, open)) {
            prev = d;
            p += 128;
            continue;
        }
        __m256i err = _mm256_or_si256(
            _mm256_or_si256(avx2_errors(&t, prev, a), avx2_errors(&t, a, b)),
            _mm256_or_si256(avx2_errors(&t, b, c), avx2_errors(&t, c, d)));
        if (!_mm256_testz_si256(err, err))
            return boundary_before(buf, p);
        open = _mm256_subs_epu8(d, open_max);
        prev = d;
        p += 128;
    }
    while (len - p >= 64u) {
        __m256i a = LOAD256(buf + p), b = LOAD256(buf + p + 32);
        __m256i err = _mm256_or_si256(avx2_errors(&t, prev, a),
                                      avx2_errors(&t, a, b));
        if (!_mm256_testz_si256(err, err))
            return boundary_before(buf, p);
        open = _mm256_subs_epu8(b, open_max);
        prev = b;
        p += 64;
    }
    if (len - p >= 32u) {
        __m256i a = LOAD256(buf + p), err = avx2_errors(&t, prev, a);
        if (_mm256_testz_si256(err, err))
            p += 32;
    }
    return boundary_before(buf, p);
}

/* ---- AVX-512: 64-byte blocks ---------------------------------------- */

TARGET_AVX512 static inline __m512i avx512_errors(__m512i prev, __m512i cur,
                                                  __m512i prev_high,
                                                  __m512i prev_low,
                                                  __m512i cur_high)
{
    const __m512i low_nibble = _mm512_set1_epi8(0x0F);
    /* Lane i of `before` is lane i-1 of cur (lane 3 of prev for lane 0),
     * so the in-lane byte shifts see each lane's predecessor. */
    __m512i before = _mm512_alignr_epi32(cur, prev, 12);
    __m512i p1 = _mm512_alignr_epi8(cur, before, 15);
    __m512i p2 = _mm512_alignr_epi8(cur, before, 14);
    __m512i p3 = _mm512_alignr_epi8(cur, before, 13);
    __m512i k = _mm512_and_si512(
        _mm512_shuffle_epi8(prev_high, _mm512_and_si512(
                                           _mm512_srli_epi16(p1, 4),
                                           low_nibble)),
        _mm512_shuffle_epi8(prev_low, _mm512_and_si512(p1, low_nibble)));
    __m512i need;
    k = _mm512_and_si512(
        k, _mm512_shuffle_epi8(cur_high,
                               _mm512_and_si512(_mm512_srli_epi16(cur, 4),
                                                low_nibble)));
    need = _mm512_and_si512(
        _mm512_or_si512(_mm512_subs_epu8(p2, _mm512_set1_epi8(0x60)),
                        _mm512_subs_epu8(p3, _mm512_set1_epi8(0x70))),
        _mm512_set1_epi8((char)0x80));
    return _mm512_xor_si512(k, need);
}

TARGET_AVX512 size_t wsp_utf8_scan_avx512(const uint8_t *buf, size_t len)
{
    const __m512i prev_high =
        _mm512_broadcast_i32x4(LOAD128(prev_high_kinds));
    const __m512i prev_low = _mm512_broadcast_i32x4(LOAD128(prev_low_kinds));
    const __m512i cur_high = _mm512_broadcast_i32x4(LOAD128(cur_high_kinds));
    const __m512i open_max = _mm512_loadu_si512((const void *)open_at_end);
    __m512i prev = _mm512_setzero_si512();
    __mmask64 open = 0;
    size_t p = 0;

    /* Two blocks a group, like AVX2's four: ASCII text is skipped 128
     * bytes at a time, and mostly-ASCII text does not mispredict it. */
    while (len - p >= 128u) {
        __m512i a = _mm512_loadu_si512((const void *)(buf + p));
        __m512i b = _mm512_loadu_si512((const void *)(buf + p + 64));
        if (_mm512_movepi8_mask(_mm512_or_si512(a, b)) == 0 && open == 0) {
            prev = b;
            p += 128;
            continue;
        }
        __m512i err = _mm512_or_si512(
            avx512_errors(prev, a, prev_high, prev_low, cur_high),
            avx512_errors(a, b, prev_high, prev_low, cur_high));
        if (_mm512_test_epi8_mask(err, err) != 0)
            return boundary_before(buf, p);
        open = _mm512_cmpgt_epu8_mask(b, open_max);
        prev = b;
        p += 128;
    }
    while (len - p >= 64u) {
        __m512i a = _mm512_loadu_si512((const void *)(buf + p));
        if (_mm512_movepi8_mask(a) == 0 && open == 0) {
            prev = a;
            p += 64;
            continue;
        }
        __m512i err = avx512_errors(prev, a, prev_high, prev_low, cur_high);
        if (_mm512_test_epi8_mask(err, err) != 0)
            break;
        /* a byte above its limit at the end of the block */
        open = _mm512_cmpgt_epu8_mask(a, open_max);
        prev = a;
        p += 64;
    }
    return boundary_before(buf, p);
}

#endif /* WSP_UTF8_HAVE_X86 */

#if defined(WSP_UTF8_HAVE_NEON)
#include <arm_neon.h>

typedef struct neon_tables {
    uint8x16_t prev_high, prev_low, cur_high, low_nibble, third, fourth, bit7;
} neon_tables;

static inline uint8x16_t neon_errors(const neon_tables *t, uint8x16_t prev,
                                     uint8x16_t cur)
{
    uint8x16_t p1 = vextq_u8(prev, cur, 15);
    uint8x16_t p2 = vextq_u8(prev, cur, 14);
    uint8x16_t p3 = vextq_u8(prev, cur, 13);
    uint8x16_t k = vandq_u8(
        vandq_u8(vqtbl1q_u8(t->prev_high, vshrq_n_u8(p1, 4)),
                 vqtbl1q_u8(t->prev_low, vandq_u8(p1, t->low_nibble))),
        vqtbl1q_u8(t->cur_high, vshrq_n_u8(cur, 4)));
    uint8x16_t need = vandq_u8(vorrq_u8(vqsubq_u8(p2, t->third),
                                        vqsubq_u8(p3, t->fourth)),
                               t->bit7);
    return veorq_u8(k, need);
}

size_t wsp_utf8_scan_neon(const uint8_t *buf, size_t len)
{
    neon_tables t;
    uint8x16_t prev = vdupq_n_u8(0), open = vdupq_n_u8(0);
    const uint8x16_t open_max = vld1q_u8(open_at_end + 48);
    size_t p = 0;

    t.prev_high = vld1q_u8(prev_high_kinds);
    t.prev_low = vld1q_u8(prev_low_kinds);
    t.cur_high = vld1q_u8(cur_high_kinds);
    t.low_nibble = vdupq_n_u8(0x0F);
    t.third = vdupq_n_u8(0x60);
    t.fourth = vdupq_n_u8(0x70);
    t.bit7 = vdupq_n_u8(0x80);

    while (len - p >= 64u) {
        uint8x16_t a = vld1q_u8(buf + p), b = vld1q_u8(buf + p + 16);
        uint8x16_t c = vld1q_u8(buf + p + 32), d = vld1q_u8(buf + p + 48);
        uint8x16_t any = vorrq_u8(vorrq_u8(a, b), vorrq_u8(c, d));
        if (vmaxvq_u8(any) < 0x80u && vmaxvq_u8(open) == 0) {
            prev = d;
            p += 64;
            continue;
        }
        uint8x16_t err = vorrq_u8(
            vorrq_u8(neon_errors(&t, prev, a), neon_errors(&t, a, b)),
            vorrq_u8(neon_errors(&t, b, c), neon_errors(&t, c, d)));
        if (vmaxvq_u8(err) != 0)
            return boundary_before(buf, p);
        open = vqsubq_u8(d, open_max);
        prev = d;
        p += 64;
    }
    while (len - p >= 16u) {
        uint8x16_t a = vld1q_u8(buf + p);
        if (vmaxvq_u8(neon_errors(&t, prev, a)) != 0)
            break;
        prev = a;
        p += 16;
    }
    return boundary_before(buf, p);
}

#endif /* WSP_UTF8_HAVE_NEON */

#if !defined(WSP_UTF8_HAVE_X86) && !defined(WSP_UTF8_HAVE_NEON)
/* ISO C wants at least one declaration in a translation unit. */
typedef int wsp_utf8_simd_none;
#endif
