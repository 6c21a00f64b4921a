/* Incremental UTF-8 validation (RFC 3629 section 4; RFC 6455 8.1 makes
 * invalid text a connection failure, so this runs over every text byte).
 *
 * Two engines share one state:
 *
 *  - A DFA that consumes one byte per step. It is "shift based": for each
 *    byte value, one 64-bit row holds the next state for every current
 *    state in a 6-bit field, and a state is the bit offset of its field.
 *    A step is then row[byte] >> state: the row load does not depend on the
 *    state, so the loop-carried dependency is a single shift. States are
 *    offsets 0 (accept: between code points), 6..42 (inside a code point,
 *    remembering what the next byte may be), 48 (reject, absorbing).
 *
 *  - A 16-bytes-per-step block check (SSE2) that verifies the same rules
 *    for a whole block at once, by looking back 1-3 bytes to see which
 *    positions must be continuation bytes. It only answers "valid" or
 *    "something in here is wrong"; the DFA re-runs the failing stretch to
 *    find the exact byte. ASCII runs are skipped 64 bytes at a time.
 *
 * The public state is the DFA state; the block check is only used between
 * code points, so it carries nothing across calls. WSP_NO_SIMD selects the
 * DFA alone (with a 64-bit-word ASCII skip). */
#include "internal.h"

#include <string.h>

#if !defined(WSP_NO_SIMD) && defined(__SSE2__)
#define WSP_UTF8_SSE2 1
#include <emmintrin.h>
#endif

/* DFA states (bit offsets into a row). */
#define S_ACC 0u  /* between code points */
#define S_C1 6u   /* one more 80..BF */
#define S_C2 12u  /* two more 80..BF */
#define S_C3 18u  /* three more 80..BF */
#define S_E0 24u  /* after E0: A0..BF, then one more (no overlongs) */
#define S_ED 30u  /* after ED: 80..9F, then one more (no surrogates) */
#define S_F0 36u  /* after F0: 90..BF, then two more (no overlongs) */
#define S_F4 42u  /* after F4: 80..8F, then two more (max U+10FFFF) */
#define S_REJ 48u /* invalid; stays here */

#define T_(from, to) ((uint64_t)(to) << (from))
/* Next state for each current state, in the order of the S_ values. */
#define ROW(acc, c1, c2, c3, e0, ed, f0, f4)                                  \
    (T_(S_ACC, acc) | T_(S_C1, c1) | T_(S_C2, c2) | T_(S_C3, c3) |           \
     T_(S_E0, e0) | T_(S_ED, ed) | T_(S_F0, f0) | T_(S_F4, f4) |             \
     T_(S_REJ, S_REJ))
#define R S_REJ
/* Rows per byte class; the ranges come from RFC 3629 section 4. */
#define R_ASCII ROW(S_ACC, R, R, R, R, R, R, R)
#define R_80 ROW(R, S_ACC, S_C1, S_C2, R, S_C1, R, S_C2)  /* 80..8F */
#define R_90 ROW(R, S_ACC, S_C1, S_C2, R, S_C1, S_C2, R)  /* 90..9F */
#define R_A0 ROW(R, S_ACC, S_C1, S_C2, S_C1, R, S_C2, R)  /* A0..BF */
#define R_BAD ROW(R, R, R, R, R, R, R, R)     /* C0, C1, F5..FF */
#define R_L2 ROW(S_C1, R, R, R, R, R, R, R)   /* C2..DF */
#define R_LE0 ROW(S_E0, R, R, R, R, R, R, R)  /* E0 */
#define R_L3 ROW(S_C2, R, R, R, R, R, R, R)   /* E1..EC, EE, EF */
#define R_LED ROW(S_ED, R, R, R, R, R, R, R)  /* ED */
#define R_LF0 ROW(S_F0, R, R, R, R, R, R, R)  /* F0 */
#define R_L4 ROW(S_C3, R, R, R, R, R, R, R)   /* F1..F3 */
#define R_LF4 ROW(S_F4, R, R, R, R, R, R, R)  /* F4 */

#define X1(r) r
#define X2(r) r, r
#define X4(r) X2(r), X2(r)
#define X8(r) X4(r), X4(r)
#define X16(r) X8(r), X8(r)
#define X32(r) X16(r), X16(r)
#define X128(r) X32(r), X32(r), X32(r), X32(r)

static const uint64_t utf8_rows[] = {
    X128(R_ASCII),                         /* 00..7F */
    X16(R_80),                             /* 80..8F */
    X16(R_90),                             /* 90..9F */
    X32(R_A0),                             /* A0..BF */
    X2(R_BAD),                             /* C0..C1 */
    X16(R_L2), X8(R_L2), X4(R_L2), X2(R_L2), /* C2..DF */
    X1(R_LE0),                             /* E0 */
    X8(R_L3), X4(R_L3),                    /* E1..EC */
    X1(R_LED),                             /* ED */
    X2(R_L3),                              /* EE..EF */
    X1(R_LF0),                             /* F0 */
    X2(R_L4), X1(R_L4),                    /* F1..F3 */
    X1(R_LF4),                             /* F4 */
    X8(R_BAD), X2(R_BAD), X1(R_BAD),       /* F5..FF */
};
_Static_assert(sizeof(utf8_rows) / sizeof(utf8_rows[0]) == 256,
               "one DFA row per byte value");

/* The shift only looks at the low 6 bits, so the running value is kept
 * unmasked between steps (x86 and AArch64 shifts mask the count for free;
 * the explicit mask keeps C well defined). */
static inline uint64_t dfa_step(uint64_t s, uint8_t byte)
{
    return utf8_rows[byte] >> (s & 63u);
}

static inline int is_ascii16(const uint8_t *p)
{
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    return ((a | b) & UINT64_C(0x8080808080808080)) == 0;
}

/* Runs the DFA over buf[i..end). Returns 0 with *ps updated, or -1 with
 * *err set to the index of the first invalid byte. The reject state is
 * absorbing, so it is tested once per 16 bytes and the failing stretch is
 * re-run to find the byte. */
static int dfa_span(const uint8_t *buf, size_t i, size_t end, uint64_t *ps,
                    size_t *err)
{
    uint64_t s = *ps;

    while (i < end) {
        size_t n, start = i;
        uint64_t s0;

        if ((s & 63u) == S_ACC) {
            while (end - i >= 16u && is_ascii16(buf + i))
                i += 16;
            if (i == end)
                break;
            start = i;
        }
        n = end - i < 16u ? end - i : 16u;
        s0 = s;
        if (n == 16u) {
            /* Unrolled by hand: not every compiler unrolls at -O2, and the
             * loop overhead would otherwise cost as much as the step. */
            const uint8_t *q = buf + i;
            for (size_t j = 0; j < 16u; j += 4) {
                s = dfa_step(s, q[j]);
                s = dfa_step(s, q[j + 1]);
                s = dfa_step(s, q[j + 2]);
                s = dfa_step(s, q[j + 3]);
            }
        } else {
            for (size_t j = 0; j < n; j++)
                s = dfa_step(s, buf[i + j]);
        }
        i += n;
        if ((s & 63u) == S_REJ) {
            s = s0;
            for (i = start;; i++) {
                s = dfa_step(s, buf[i]);
                if ((s & 63u) == S_REJ)
                    break;
            }
            *err = i;
            return -1;
        }
    }
    *ps = s & 63u;
    return 0;
}

#if defined(WSP_UTF8_SSE2)

/* How many of the bytes just before p belong to a code point that is still
 * open at p, given that everything before p is valid and p >= 3. */
static size_t open_tail(const uint8_t *buf, size_t p)
{
    if (buf[p - 1] >= 0xC0u)
        return 1;
    if (buf[p - 2] >= 0xE0u)
        return 2;
    if (buf[p - 3] >= 0xF0u)
        return 3;
    return 0;
}

#define LOADU(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define SPLAT(c) _mm_set1_epi8((char)(c))

/* Non-zero if any byte of the 16 at q breaks a UTF-8 rule, given that the
 * bytes before q (q[-3..-1] are read) are valid up to an open code point.
 * Every rule is checked at the byte where the DFA would reject, so a clean
 * result means the DFA would accept the block too. */
static int block_bad(const uint8_t *q, __m128i v)
{
    const __m128i p1 = LOADU(q - 1);
    const __m128i p2 = LOADU(q - 2);
    const __m128i p3 = LOADU(q - 3);
    const __m128i zero = _mm_setzero_si128();
    __m128i need, is_cont, bad, lo, hi_adj, m0, m1;

    /* A byte must be a continuation exactly when a lead byte 1, 2 or 3
     * positions back announced it: C0+ one back, E0+ two back, F0+ three
     * back. Saturating subtraction leaves non-zero exactly there. */
    need = _mm_or_si128(_mm_or_si128(_mm_subs_epu8(p1, SPLAT(0xBF)),
                                      _mm_subs_epu8(p2, SPLAT(0xDF))),
                         _mm_subs_epu8(p3, SPLAT(0xEF)));
    /* 80..BF are the signed bytes below -64. */
    is_cont = _mm_cmpgt_epi8(SPLAT(0xC0), v);
    /* All-ones where "is a continuation" equals "need not be one". */
    bad = _mm_cmpeq_epi8(is_cont, _mm_cmpeq_epi8(need, zero));

    /* Bytes never valid anywhere: C0, C1 (overlong 2-byte), F5..FF. */
    bad = _mm_or_si128(bad, _mm_subs_epu8(v, SPLAT(0xF4)));
    bad = _mm_or_si128(bad, _mm_cmpeq_epi8(_mm_and_si128(v, SPLAT(0xFE)),
                                           SPLAT(0xC0)));

    /* Second-byte ranges: after E0 at least A0 (overlong), after F0 at
     * least 90 (overlong); after ED at most 9F (surrogates), after F4 at
     * most 8F (over U+10FFFF). If v is not a continuation byte at all the
     * check above already fired, so only 80..BF matters here. */
    m0 = _mm_cmpeq_epi8(p1, SPLAT(0xE0));
    m1 = _mm_cmpeq_epi8(p1, SPLAT(0xF0));
    lo = _mm_or_si128(_mm_and_si128(m0, SPLAT(0xA0)),
                      _mm_and_si128(m1, SPLAT(0x90)));
    bad = _mm_or_si128(bad, _mm_subs_epu8(lo, v)); /* v < lo */
    m0 = _mm_cmpeq_epi8(p1, SPLAT(0xED));
    m1 = _mm_cmpeq_epi8(p1, SPLAT(0xF4));
    /* v + 5F saturates to FF iff v >= A0; v + 6F iff v >= 90. With no
     * adjustment only FF itself reaches FF, and it is invalid anyway. */
    hi_adj = _mm_or_si128(_mm_and_si128(m0, SPLAT(0x5F)),
                          _mm_and_si128(m1, SPLAT(0x6F)));
    bad = _mm_or_si128(bad, _mm_cmpeq_epi8(_mm_adds_epu8(v, hi_adj),
                                           SPLAT(0xFF)));

    return _mm_movemask_epi8(_mm_cmpeq_epi8(bad, zero)) != 0xFFFF;
}

/* Where the block scan stopped: the DFA resumes at `resume` in the accept
 * state and must run at least to `until` before the scan is tried again. */
typedef struct scan_stop {
    size_t resume;
    size_t until;
} scan_stop;

/* Scans from p (a code point boundary, p >= 3, at least 16 bytes left)
 * while whole 16-byte blocks are valid. */
static scan_stop block_scan(const uint8_t *buf, size_t p, size_t len)
{
    scan_stop st;

    for (;;) {
        /* Between code points: ASCII needs no more than a sign test. */
        while (len - p >= 64u) {
            __m128i a = LOADU(buf + p), b = LOADU(buf + p + 16);
            __m128i c = LOADU(buf + p + 32), d = LOADU(buf + p + 48);
            if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b),
                                               _mm_or_si128(c, d))) != 0)
                break;
            p += 64;
        }
        while (len - p >= 16u && _mm_movemask_epi8(LOADU(buf + p)) == 0)
            p += 16;
        if (len - p < 16u) {
            st.resume = p;
            st.until = len;
            return st;
        }
        /* Multi-byte text: check every block until one is pure ASCII,
         * which (having passed) leaves no code point open. */
        for (;;) {
            __m128i v;
            if (len - p < 16u) {
                st.resume = p - open_tail(buf, p);
                st.until = len;
                return st;
            }
            v = LOADU(buf + p);
            if (block_bad(buf + p, v)) {
                st.resume = p - open_tail(buf, p);
                st.until = p + 16u;
                return st;
            }
            p += 16;
            if (_mm_movemask_epi8(v) == 0)
                break;
        }
    }
}

#endif /* WSP_UTF8_SSE2 */

static int valid_state(uint32_t s)
{
    return s % 6u == 0 && s < S_REJ;
}

int wsp_utf8_validate(uint32_t *state, const uint8_t *buf, size_t len,
                      size_t *error_offset)
{
    uint64_t s;
    size_t err = 0;

    if (state == NULL || (buf == NULL && len > 0))
        return WSP_ERR_INVALID_ARG;
    /* A state from a failed call (or never produced here) cannot go on;
     * report the failure again, at the start of this input. */
    if (!valid_state(*state)) {
        *state = S_REJ;
        if (error_offset != NULL)
            *error_offset = 0;
        return WSP_ERR_PROTO_UTF8;
    }
    s = *state;

#if defined(WSP_UTF8_SSE2)
    {
        /* The block check looks 3 bytes back, so the DFA handles the first
         * 3 bytes and whatever code point is open after them. */
        size_t i = 0, until = 3;

        for (;;) {
            if (until > len)
                until = len;
            if (dfa_span(buf, i, until, &s, &err) != 0)
                goto fail;
            i = until;
            while (s != S_ACC && i < len) {
                s = dfa_step(s, buf[i]) & 63u;
                if (s == S_REJ) {
                    err = i;
                    goto fail;
                }
                i++;
            }
            if (len - i < 16u) {
                if (dfa_span(buf, i, len, &s, &err) != 0)
                    goto fail;
                break;
            }
            {
                scan_stop st = block_scan(buf, i, len);
                i = st.resume;
                until = st.until;
            }
        }
    }
#else
    if (dfa_span(buf, 0, len, &s, &err) != 0)
        goto fail;
#endif
    *state = (uint32_t)s;
    return WSP_OK;

fail:
    *state = S_REJ;
    if (error_offset != NULL)
        *error_offset = err;
    return WSP_ERR_PROTO_UTF8;
}
