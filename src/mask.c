/* Payload masking (RFC 6455 5.3): octet i of the payload is XORed with
 * octet (i mod 4) of the masking key. Masking and unmasking are the same
 * operation.
 *
 * The key stream repeats every 4 bytes, so any block whose length is a
 * multiple of 4 (8, 16, 32) can be XORed with the key repeated across the
 * block, rotated once up front by the stream offset. The wide paths do that;
 * the byte loop only handles the final few bytes.
 *
 * WSP_NO_SIMD forces the portable path (for tests that compare the two, and
 * for targets whose vector units are best left alone). */
#include "internal.h"

#include <string.h>

#if !defined(WSP_NO_SIMD) && defined(__SSE2__)
#define WSP_MASK_SSE2 1
#include <emmintrin.h>
#if defined(__x86_64__) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 5))
/* AVX2 is chosen at run time: the library is built for baseline x86-64. */
#define WSP_MASK_AVX2 1
#include <immintrin.h>
#endif
#elif !defined(WSP_NO_SIMD) && defined(__ARM_NEON)
#define WSP_MASK_NEON 1
#include <arm_neon.h>
#endif

/* Any length (meant for 16 bytes or more), by the widest vectors compiled
 * in at build time. Long because it
 * holds the widths of the same loop (SIMD, 64-bit words, bytes), each
 * handing the key on to the next; splitting them would pass the rotated
 * key around instead. */
static inline void mask_wide(uint8_t *dst, const uint8_t *src, size_t len,
                             const uint8_t key[4], size_t phase)
{
    size_t i = 0;
    /* rk holds the key bytes for stream positions offset .. offset + 3:
     * copied out of a doubled key. As a word (k32) its bytes stay in stream
     * order whatever the byte order, and so do those of any vector or
     * 64-bit word made of copies of it. */
    uint8_t k2[8], rk[4];
    uint32_t k32;
    memcpy(k2, key, 4);
    memcpy(k2 + 4, key, 4);
    memcpy(rk, k2 + phase, 4);
    memcpy(&k32, rk, 4);
    uint64_t k64 = (uint64_t)k32 << 32 | k32;

#if defined(WSP_MASK_SSE2)
    {
        __m128i k = _mm_set1_epi32((int)k32);
        for (; len - i >= 32u; i += 32) {
            __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 16));
            _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, k));
            _mm_storeu_si128((__m128i *)(void *)(dst + i + 16), _mm_xor_si128(b, k));
        }
        if (len - i >= 16u) {
            __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
            _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, k));
            i += 16;
        }
    }
#elif defined(WSP_MASK_NEON)
    {
        uint8_t rk16[16];
        for (size_t j = 0; j < 16u; j += 4)
            memcpy(rk16 + j, rk, 4);
        uint8x16_t k = vld1q_u8(rk16);
        for (; len - i >= 32u; i += 32) {
            uint8x16_t a = vld1q_u8(src + i);
            uint8x16_t b = vld1q_u8(src + i + 16);
            vst1q_u8(dst + i, veorq_u8(a, k));
            vst1q_u8(dst + i + 16, veorq_u8(b, k));
        }
        if (len - i >= 16u) {
            vst1q_u8(dst + i, veorq_u8(vld1q_u8(src + i), k));
            i += 16;
        }
    }
#else
    /* memcpy both ways keeps this free of alignment and aliasing
     * assumptions. */
    for (; len - i >= 16u; i += 16) {
        uint64_t a, b;
        memcpy(&a, src + i, 8);
        memcpy(&b, src + i + 8, 8);
        a ^= k64;
        b ^= k64;
        memcpy(dst + i, &a, 8);
        memcpy(dst + i + 8, &b, 8);
    }
#endif
    if (len - i >= 8u) {
        uint64_t a;
        memcpy(&a, src + i, 8);
        a ^= k64;
        memcpy(dst + i, &a, 8);
        i += 8;
    }
    /* i is a multiple of 4 here, so rk[] still lines up with position i. */
    for (unsigned j = 0; i < len; i++, j++)
        dst[i] = (uint8_t)(src[i] ^ rk[j & 3u]);
}

#if defined(WSP_MASK_AVX2)
/* A long payload, 64 bytes a step, then the rest (under 64 bytes, and in
 * the same key phase) by the common code. Twice the width of SSE2 halves
 * the instructions of the one pass every masked byte costs (a server's
 * unmask, a client's mask). */
__attribute__((target("avx2"))) static void mask_avx2(uint8_t *dst, const uint8_t *src,
                                                       size_t len, const uint8_t key[4],
                                                       uint64_t offset)
{
    uint8_t k2[8];
    uint32_t k32;
    memcpy(k2, key, 4);
    memcpy(k2 + 4, key, 4);
    memcpy(&k32, k2 + (offset & 3u), 4);
    __m256i k = _mm256_set1_epi32((int)k32);
    size_t i = 0;
    for (; len - i >= 64u; i += 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 32));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm256_xor_si256(a, k));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i + 32), _mm256_xor_si256(b, k));
    }
    if (len > i) mask_wide(dst + i, src + i, len - i, key, (size_t)(offset & 3u));
}

/* Below this the SSE2 loop is as quick and needs no CPU check. */
#define AVX2_MIN 256u

static int have_avx2(void)
{
    /* __builtin_cpu_init: right even when called from a constructor that
     * runs before the compiler runtime's own. */
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

/* Out of line, so that wsp_mask_copy's short path keeps no frame. */
__attribute__((noinline)) static void mask_long(uint8_t *dst, const uint8_t *src,
                                                size_t len, const uint8_t key[4],
                                                uint64_t offset)
{
    if (have_avx2()) {
        mask_avx2(dst, src, len, key, offset);
        return;
    }
    mask_wide(dst, src, len, key, (size_t)(offset & 3u));
}
#endif

void wsp_mask_copy(uint8_t *dst, const uint8_t *src, size_t len,
                   const uint8_t key[4], uint64_t offset)
{
    size_t phase = (size_t)(offset & 3u);
    size_t i = 0;

    /* The API has no status to report misuse through; doing nothing is the
     * safe answer to a NULL pointer. */
    if (len == 0 || dst == NULL || src == NULL || key == NULL)
        return;
    /* Small payloads (most chat and game traffic) are done before the
     * rotated key is built: that set-up would cost more than the XOR. */
    if (len < 16u) {
        for (; i < len; i++)
            dst[i] = (uint8_t)(src[i] ^ key[(phase + i) & 3u]);
        return;
    }
#if defined(WSP_MASK_AVX2)
    /* A tail call: the short path above keeps no frame. */
    if (len >= AVX2_MIN) {
        mask_long(dst, src, len, key, offset);
        return;
    }
#endif
    mask_wide(dst, src, len, key, phase);
}

void wsp_mask(uint8_t *buf, size_t len, const uint8_t key[4], uint64_t offset)
{
    wsp_mask_copy(buf, buf, len, key, offset);
}
