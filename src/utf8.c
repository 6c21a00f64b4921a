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
 *  - Block scanners (utf8_simd.c: SSE4.1, AVX2, AVX-512, NEON) that check
 *    16 to 64 bytes at once. They only answer "valid up to here"; they
 *    start and stop between code points, so they carry nothing across
 *    calls, and the DFA decides everything else: it finishes a code point
 *    left open by the previous call, re-runs a stretch a scanner flagged
 *    (to find the exact byte), and takes the tail shorter than a block.
 *
 * The public state is the DFA state. On x86-64 the scanner is chosen at run
 * time, for each input of a block or more, from the CPU features the
 * compiler's runtime read at load; on AArch64 NEON is always there.
 * WSP_NO_SIMD leaves the DFA alone (with a 64-bit-word ASCII skip). */
#include "internal.h"

#include <string.h>


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

static int valid_state(uint32_t s)
{
    return s % 6u == 0 && s < S_REJ;
}

/* Up to 16 bytes are ASCII: two overlapping loads, no loop. */
static int short_ascii(const uint8_t *p, size_t n)
{
    if (n >= 8u) {
        uint64_t a, b;
        memcpy(&a, p, 8);
        memcpy(&b, p + n - 8u, 8);
        return ((a | b) & UINT64_C(0x8080808080808080)) == 0;
    }
    if (n >= 4u) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4u, 4);
        return ((a | b) & 0x80808080u) == 0;
    }
    {
        unsigned acc = 0;
        for (size_t i = 0; i < n; i++)
            acc |= p[i];
        return acc < 0x80u;
    }
}

typedef size_t (*scan_fn)(const uint8_t *buf, size_t len);

/* The scanner behind an implementation, and the least input worth handing
 * it (one block). NULL for the DFA alone. */
static scan_fn impl_scanner(wsp_utf8_impl impl, size_t *min_len)
{
    switch (impl) {
#if defined(WSP_UTF8_HAVE_X86)
    case WSP_UTF8_IMPL_SSE41:
        *min_len = 16;
        return wsp_utf8_scan_sse41;
    case WSP_UTF8_IMPL_AVX2:
        *min_len = 32;
        return wsp_utf8_scan_avx2;
    case WSP_UTF8_IMPL_AVX512:
        *min_len = 64;
        return wsp_utf8_scan_avx512;
#endif
#if defined(WSP_UTF8_HAVE_NEON)
    case WSP_UTF8_IMPL_NEON:
        *min_len = 16;
        return wsp_utf8_scan_neon;
#endif
    default:
        *min_len = 0;
        return NULL;
    }
}

/* The arguments are checked and the state is one the DFA produced. */
static int run(scan_fn scan, size_t min_len, uint32_t *state,
               const uint8_t *buf, size_t len, size_t *error_offset)
{
    uint64_t s = *state;
    size_t i = 0, err = 0;

    /* A code point left open by the previous call (at most 3 more bytes):
     * the scanners only start between code points. */
    while (s != S_ACC && i < len) {
        s = dfa_step(s, buf[i]) & 63u;
        if (s == S_REJ) {
            err = i;
            goto fail;
        }
        i++;
    }
    if (scan != NULL && len - i >= min_len)
        i += scan(buf + i, len - i);
    if (dfa_span(buf, i, len, &s, &err) != 0)
        goto fail;
    *state = (uint32_t)s;
    return WSP_OK;

fail:
    *state = S_REJ;
    if (error_offset != NULL)
        *error_offset = err;
    return WSP_ERR_PROTO_UTF8;
}

/* Common argument checks; returns WSP_OK to go on. */
static int check_args(uint32_t *state, const uint8_t *buf, size_t len,
                      size_t *error_offset)
{
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
    return WSP_OK;
}

const char *wsp_utf8_impl_name(wsp_utf8_impl impl)
{
    switch (impl) {
    case WSP_UTF8_IMPL_SCALAR: return "scalar";
    case WSP_UTF8_IMPL_SSE41: return "sse4.1";
    case WSP_UTF8_IMPL_AVX2: return "avx2";
    case WSP_UTF8_IMPL_AVX512: return "avx512";
    case WSP_UTF8_IMPL_NEON: return "neon";
    default: return "?";
    }
}

wsp_utf8_support wsp_utf8_impl_support(wsp_utf8_impl impl)
{
    size_t min_len;

    if (impl == WSP_UTF8_IMPL_SCALAR)
        return WSP_UTF8_USABLE;
    if (impl_scanner(impl, &min_len) == NULL)
        return WSP_UTF8_NOT_BUILT;
#if defined(WSP_UTF8_HAVE_X86)
    if (!wsp_utf8_cpu_has(impl))
        return WSP_UTF8_CPU_LACKS;
#endif
    return WSP_UTF8_USABLE;
}

wsp_utf8_impl wsp_utf8_impl_best(void)
{
#if defined(WSP_UTF8_HAVE_X86)
    /* Asked on each input of 16 bytes or more: the compiler's runtime read
     * CPUID at load, so this is a few loads, and the library keeps no
     * state of its own for it. */
    static const wsp_utf8_impl order[] = {WSP_UTF8_IMPL_AVX512, WSP_UTF8_IMPL_AVX2,
                                          WSP_UTF8_IMPL_SSE41};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++)
        if (wsp_utf8_cpu_has(order[k])) return order[k];
    return WSP_UTF8_IMPL_SCALAR;
#elif defined(WSP_UTF8_HAVE_NEON)
    return WSP_UTF8_IMPL_NEON;
#else
    return WSP_UTF8_IMPL_SCALAR;
#endif
}

int wsp_utf8_validate_impl(wsp_utf8_impl impl, uint32_t *state,
                           const uint8_t *buf, size_t len,
                           size_t *error_offset)
{
    size_t min_len = 0;
    scan_fn scan;
    int rc;

    if ((unsigned)impl >= (unsigned)WSP_UTF8_IMPL_COUNT ||
        wsp_utf8_impl_support(impl) != WSP_UTF8_USABLE)
        return WSP_ERR_INVALID_ARG;
    rc = check_args(state, buf, len, error_offset);
    if (rc != WSP_OK)
        return rc;
    scan = impl_scanner(impl, &min_len);
    return run(scan, min_len, state, buf, len, error_offset);
}

#if defined(__GNUC__)
#define WSP_NOINLINE __attribute__((noinline))
#else
#define WSP_NOINLINE
#endif

/* Everything but the short-ASCII case; kept out of line so that case pays
 * for no register saves. */
static WSP_NOINLINE int validate_general(uint32_t *state, const uint8_t *buf,
                                         size_t len, size_t *error_offset)
{
    size_t min_len = 0;
    scan_fn scan;
    int rc = check_args(state, buf, len, error_offset);

    if (rc != WSP_OK)
        return rc;
    if (len < 16u)
        return run(NULL, 0, state, buf, len, error_offset);
    scan = impl_scanner(wsp_utf8_impl_best(), &min_len);
    return run(scan, min_len, state, buf, len, error_offset);
}

int wsp_utf8_validate(uint32_t *state, const uint8_t *buf, size_t len,
                      size_t *error_offset)
{
    /* Up to 16 bytes of ASCII between code points (small chat and JSON
     * messages, close reasons): a couple of loads, before any argument
     * work or choice of scanner. */
    if (state != NULL && *state == S_ACC && buf != NULL && len <= 16u &&
        short_ascii(buf, len))
        return WSP_OK;
    return validate_general(state, buf, len, error_offset);
}
