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
#elif !defined(WSP_NO_SIMD) && defined(__ARM_NEON)
#define WSP_MASK_NEON 1
#include <arm_neon.h>
#endif

/* Long because it holds the three widths of the same loop (SIMD, 64-bit
 * words, bytes), each preparing the key for the next; splitting them would
 * pass the rotated key around instead. */
void wsp_mask_copy(uint8_t *dst, const uint8_t *src, size_t len,
                   const uint8_t key[4], uint64_t offset)
{
    /* rk[j] is the key byte for stream position offset + j; 16 bytes so the
     * vector paths can load it directly. Built by whole 4-byte copies from a
     * doubled key, which compilers turn into a few moves. */
    uint8_t k2[8];
    uint8_t rk[16];
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
    memcpy(k2, key, 4);
    memcpy(k2 + 4, key, 4);
    for (size_t j = 0; j < 16u; j += 4)
        memcpy(rk + j, k2 + phase, 4);

#if defined(WSP_MASK_SSE2)
    {
        __m128i k = _mm_loadu_si128((const __m128i *)(const void *)rk);
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
        uint8x16_t k = vld1q_u8(rk);
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
    {
        /* memcpy both ways keeps this free of alignment and aliasing
         * assumptions, and because the key word is built from the same
         * byte sequence as the data words, byte order does not matter. */
        uint64_t k;
        memcpy(&k, rk, sizeof(k));
        for (; len - i >= 16u; i += 16) {
            uint64_t a, b;
            memcpy(&a, src + i, 8);
            memcpy(&b, src + i + 8, 8);
            a ^= k;
            b ^= k;
            memcpy(dst + i, &a, 8);
            memcpy(dst + i + 8, &b, 8);
        }
    }
#endif
    if (len - i >= 8u) {
        uint64_t k, a;
        memcpy(&k, rk, sizeof(k));
        memcpy(&a, src + i, 8);
        a ^= k;
        memcpy(dst + i, &a, 8);
        i += 8;
    }
    /* i is a multiple of 4 here, so rk[] still lines up with position i. */
    for (unsigned j = 0; i < len; i++, j++)
        dst[i] = (uint8_t)(src[i] ^ rk[j]);
}

void wsp_mask(uint8_t *buf, size_t len, const uint8_t key[4], uint64_t offset)
{
    wsp_mask_copy(buf, buf, len, key, offset);
}
