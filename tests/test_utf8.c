/* wsp_utf8_validate: exact verdicts and error offsets, independent of how
 * the input is split across calls, checked against a reference written
 * differently from the library (code point arithmetic instead of a state
 * machine). Then every implementation compiled in (scalar DFA, SSE4.1,
 * AVX2, AVX-512, NEON) is called on its own and compared with the scalar
 * one on the same inputs; one this CPU cannot run is reported as skipped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "test_support.h"
#include "wsproto.h"

/* ---- reference ---------------------------------------------------------
 * A prefix is acceptable while some completion of the open code point is a
 * valid scalar value for its length (RFC 3629 section 3: no overlongs, no
 * surrogates, nothing above U+10FFFF). The first byte after which that is
 * no longer possible is the error. */
enum { REF_OK = 0, REF_OPEN = 1, REF_BAD = -1 };

static int ref_feasible(uint32_t cp, unsigned n, unsigned have)
{
    unsigned rem = n - have;
    uint32_t lo = cp << (6u * rem);
    uint32_t hi = lo | ((1u << (6u * rem)) - 1u);
    uint32_t min, max;

    switch (n) {
    case 2: min = 0x80; max = 0x7FF; break;
    case 3: min = 0x800; max = 0xFFFF; break;
    default: min = 0x10000; max = 0x10FFFF; break;
    }
    if (hi < min || lo > max)
        return 0;
    if (lo < min)
        lo = min;
    if (hi > max)
        hi = max;
    /* Does [lo, hi] hold anything that is not a surrogate? */
    return lo < 0xD800 || hi > 0xDFFF;
}

static int ref_validate(const uint8_t *b, size_t len, size_t *err)
{
    size_t i = 0;

    while (i < len) {
        unsigned n;
        uint32_t cp;

        if (b[i] < 0x80) {
            i++;
            continue;
        }
        if (b[i] >= 0xF0 && b[i] <= 0xF7) {
            n = 4;
            cp = b[i] & 0x07u;
        } else if (b[i] >= 0xE0 && b[i] <= 0xEF) {
            n = 3;
            cp = b[i] & 0x0Fu;
        } else if (b[i] >= 0xC0 && b[i] <= 0xDF) {
            n = 2;
            cp = b[i] & 0x1Fu;
        } else {
            *err = i;
            return REF_BAD;
        }
        if (!ref_feasible(cp, n, 1)) {
            *err = i;
            return REF_BAD;
        }
        for (unsigned t = 1; t < n; t++) {
            if (i + t >= len)
                return REF_OPEN;
            if ((b[i + t] & 0xC0u) != 0x80u) {
                *err = i + t;
                return REF_BAD;
            }
            cp = (cp << 6) | (b[i + t] & 0x3Fu);
            if (!ref_feasible(cp, n, t + 1)) {
                *err = i + t;
                return REF_BAD;
            }
        }
        i += n;
    }
    return REF_OK;
}

/* ---- helpers ----------------------------------------------------------- */

/* Feeds buf in pieces whose ends are listed in cuts[0..ncuts) (ascending,
 * last == len) and folds the result into a REF_* verdict with an absolute
 * offset. */
static int feed_pieces(const uint8_t *buf, size_t len, const size_t *cuts,
                       size_t ncuts, size_t *err)
{
    uint32_t st = WSP_UTF8_ACCEPT;
    size_t start = 0;

    assert_true(ncuts > 0 && cuts[ncuts - 1] == len);
    for (size_t c = 0; c < ncuts; c++) {
        size_t off = (size_t)-1;
        int rc = wsp_utf8_validate(&st, buf + start, cuts[c] - start, &off);
        if (rc == WSP_ERR_PROTO_UTF8) {
            assert_true(off < cuts[c] - start);
            *err = start + off;
            return REF_BAD;
        }
        assert_int_equal(rc, WSP_OK);
        start = cuts[c];
    }
    return st == WSP_UTF8_ACCEPT ? REF_OK : REF_OPEN;
}

static int feed_whole(const uint8_t *buf, size_t len, size_t *err)
{
    size_t cut = len;
    return feed_pieces(buf, len, &cut, 1, err);
}

/* Every way the tests promise to be equivalent: whole, split once at each
 * position, one byte per call. All must give `expect` and `expect_err`. */
static void check_all_splits(const uint8_t *buf, size_t len, int expect,
                             size_t expect_err)
{
    size_t err = 0, cuts[2];
    int got;

    got = feed_whole(buf, len, &err);
    assert_int_equal(got, expect);
    if (expect == REF_BAD)
        assert_int_equal(err, expect_err);

    for (size_t k = 0; k <= len; k++) {
        cuts[0] = k;
        cuts[1] = len;
        err = 0;
        got = feed_pieces(buf, len, cuts, 2, &err);
        assert_int_equal(got, expect);
        if (expect == REF_BAD)
            assert_int_equal(err, expect_err);
    }

    {
        uint32_t st = WSP_UTF8_ACCEPT;
        int verdict = REF_OK;
        for (size_t k = 0; k < len; k++) {
            size_t off = 99;
            int rc = wsp_utf8_validate(&st, buf + k, 1, &off);
            if (rc != WSP_OK) {
                assert_int_equal(rc, WSP_ERR_PROTO_UTF8);
                assert_int_equal(off, 0);
                verdict = REF_BAD;
                err = k;
                break;
            }
        }
        if (verdict == REF_OK && st != WSP_UTF8_ACCEPT)
            verdict = REF_OPEN;
        assert_int_equal(verdict, expect);
        if (expect == REF_BAD)
            assert_int_equal(err, expect_err);
    }
}

/* Checks one case bare and inside ASCII padding of several lengths, so the
 * bytes meet the wide (16-byte block) paths at every alignment and with
 * and without look-back context. A case that ends open becomes an error at
 * the first padding byte when padded after. */
static void check_case(const uint8_t *b, size_t n, int expect, size_t err)
{
    static const size_t pads[] = {0, 1, 3, 13, 15, 16, 17, 31, 64, 70};
    uint8_t buf[256];

    check_all_splits(b, n, expect, err);
    for (size_t pi = 0; pi < sizeof(pads) / sizeof(pads[0]); pi++) {
        size_t pre = pads[pi];
        size_t post = 40;
        size_t len = pre + n + post;
        assert_true(len <= sizeof(buf));
        memset(buf, 'a', len);
        memcpy(buf + pre, b, n);
        if (expect == REF_BAD)
            check_all_splits(buf, len, REF_BAD, pre + err);
        else if (expect == REF_OPEN)
            check_all_splits(buf, len, REF_BAD, pre + n);
        else
            check_all_splits(buf, len, REF_OK, 0);
        /* Without padding after it, an open case stays open. */
        check_all_splits(buf, pre + n, expect, pre + err);
    }
}

static void check_hex(const char *hex, int expect, size_t err)
{
    uint8_t b[64];
    size_t n = wsp_test_hex(hex, b, sizeof(b));
    size_t rerr = 0;

    /* The table and the reference must agree, or the table is wrong. */
    assert_int_equal(ref_validate(b, n, &rerr), expect);
    if (expect == REF_BAD)
        assert_int_equal(rerr, err);
    check_case(b, n, expect, err);
}

/* ---- tables ------------------------------------------------------------ */

struct hex_case {
    const char *hex;
    int expect;
    size_t err;
};

static const struct hex_case valid_cases[] = {
    {"", REF_OK, 0},
    {"00", REF_OK, 0},
    {"41 42 43", REF_OK, 0},
    /* "κόσμε", the opening line of the classic stress test. */
    {"CE BA E1 BD B9 CF 83 CE BC CE B5", REF_OK, 0},
    /* First and last code point of each length. */
    {"7F", REF_OK, 0},             /* U+007F */
    {"C2 80", REF_OK, 0},          /* U+0080 */
    {"DF BF", REF_OK, 0},          /* U+07FF */
    {"E0 A0 80", REF_OK, 0},       /* U+0800 */
    {"EF BF BF", REF_OK, 0},       /* U+FFFF (a noncharacter, still UTF-8) */
    {"F0 90 80 80", REF_OK, 0},    /* U+10000 */
    {"F4 8F BF BF", REF_OK, 0},    /* U+10FFFF */
    /* Around the surrogate block. */
    {"ED 9F BF", REF_OK, 0},       /* U+D7FF */
    {"EE 80 80", REF_OK, 0},       /* U+E000 */
    {"EF BF BD", REF_OK, 0},       /* U+FFFD */
    {"EF BF BE", REF_OK, 0},       /* U+FFFE */
    {"E1 80 80 EC BF BF", REF_OK, 0},
    {"F1 80 80 80 F3 BF BF BF", REF_OK, 0},
    {"F0 9F 98 80 20 F0 9F 8E 89", REF_OK, 0}, /* emoji */
    /* Open at the end: valid so far, not complete. */
    {"C2", REF_OPEN, 0},
    {"E0", REF_OPEN, 0},
    {"E0 A0", REF_OPEN, 0},
    {"ED 9F", REF_OPEN, 0},
    {"F0 90 80", REF_OPEN, 0},
    {"F4 8F", REF_OPEN, 0},
    {"41 F3 BF BF", REF_OPEN, 0},
};

static const struct hex_case invalid_cases[] = {
    /* Stray continuation bytes. */
    {"80", REF_BAD, 0},
    {"BF", REF_BAD, 0},
    {"41 80 BF", REF_BAD, 1},
    {"C2 80 80", REF_BAD, 2},
    {"E2 82 AC BF", REF_BAD, 3},
    /* Bytes that never appear: C0, C1, F5..FF (incl. old 5/6-byte forms). */
    {"C0", REF_BAD, 0},
    {"C1 BF", REF_BAD, 0},
    {"F5 80 80 80", REF_BAD, 0},
    {"F7 BF BF BF", REF_BAD, 0},
    {"F8 88 80 80 80", REF_BAD, 0},
    {"FC 84 80 80 80 80", REF_BAD, 0},
    {"FE", REF_BAD, 0},
    {"FF", REF_BAD, 0},
    {"41 42 FE FE FF FF", REF_BAD, 2},
    /* Lead bytes followed by something that is not a continuation. */
    {"C2 41", REF_BAD, 1},
    {"DF 20", REF_BAD, 1},
    {"E0 20", REF_BAD, 1},
    {"E1 80 20", REF_BAD, 2},
    {"F0 20", REF_BAD, 1},
    {"F1 80 80 41", REF_BAD, 3},
    {"F4 8F BF C2 80", REF_BAD, 3},
    {"C2 C2 80", REF_BAD, 1},
    {"E1 E1 80 80", REF_BAD, 1},
    /* Overlong forms, failing at the first byte that shows it. */
    {"C0 80", REF_BAD, 0},            /* NUL in 2 bytes */
    {"C0 AF", REF_BAD, 0},            /* '/' in 2 bytes */
    {"C1 BF", REF_BAD, 0},            /* U+007F in 2 bytes */
    {"E0 80 80", REF_BAD, 1},         /* NUL in 3 bytes */
    {"E0 80 AF", REF_BAD, 1},
    {"E0 9F BF", REF_BAD, 1},         /* U+07FF in 3 bytes */
    {"F0 80 80 80", REF_BAD, 1},      /* NUL in 4 bytes */
    {"F0 80 80 AF", REF_BAD, 1},
    {"F0 8F BF BF", REF_BAD, 1},      /* U+FFFF in 4 bytes */
    /* UTF-16 surrogates, alone and paired. */
    {"ED A0 80", REF_BAD, 1},         /* U+D800 */
    {"ED AD BF", REF_BAD, 1},
    {"ED AE 80", REF_BAD, 1},
    {"ED AF BF", REF_BAD, 1},
    {"ED B0 80", REF_BAD, 1},
    {"ED BE 80", REF_BAD, 1},
    {"ED BF BF", REF_BAD, 1},         /* U+DFFF */
    {"ED A0 80 ED B0 80", REF_BAD, 1},
    {"41 ED 9F BF ED A0 80", REF_BAD, 5},
    /* Above U+10FFFF. */
    {"F4 90 80 80", REF_BAD, 1},      /* U+110000 */
    {"F4 BF BF BF", REF_BAD, 1},
    /* The first error wins over later ones. */
    {"CE BA E1 BD B9 CF 83 CE BC CE B5 80 FF", REF_BAD, 11},
};

static void test_valid_table(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++)
        check_hex(valid_cases[i].hex, valid_cases[i].expect,
                  valid_cases[i].err);
}

static void test_invalid_table(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]);
         i++)
        check_hex(invalid_cases[i].hex, invalid_cases[i].expect,
                  invalid_cases[i].err);
}

/* Every code point at each boundary listed in RFC 3629 section 4, and its
 * neighbours, encoded by hand here and validated. */
static size_t encode_cp(uint32_t cp, uint8_t *o)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

static void test_boundaries(void **s)
{
    static const uint32_t cps[] = {0x0,    0x7F,   0x80,    0x7FF,
                                   0x800,  0xD7FF, 0xE000,  0xFFFD,
                                   0xFFFF, 0x10000, 0x10FFFF};
    uint8_t b[8];
    (void)s;

    for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
        size_t n = encode_cp(cps[i], b);
        check_case(b, n, REF_OK, 0);
    }
    /* Surrogates and U+110000 pass through the same encoder but must be
     * rejected at the second byte. */
    for (uint32_t cp = 0xD800; cp <= 0xDFFF; cp += 0x7F) {
        size_t n = encode_cp(cp, b);
        check_case(b, n, REF_BAD, 1);
    }
    check_case(b, encode_cp(0xDFFF, b), REF_BAD, 1);
    check_case(b, encode_cp(0x110000, b), REF_BAD, 1);
    check_case(b, encode_cp(0x13FFFF, b), REF_BAD, 1);
}

/* Every scalar value, each in its own call and all concatenated in one
 * buffer (which exercises long multi-byte stretches of every length). */
static void test_every_scalar_value(void **s)
{
    static uint8_t big[4 * 0x110000];
    size_t n = 0, err = 0;
    uint32_t st;
    (void)s;

    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        uint8_t b[4];
        size_t k;
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        k = encode_cp(cp, b);
        st = WSP_UTF8_ACCEPT;
        assert_int_equal(wsp_utf8_validate(&st, b, k, &err), WSP_OK);
        assert_int_equal(st, WSP_UTF8_ACCEPT);
        memcpy(big + n, b, k);
        n += k;
    }
    st = WSP_UTF8_ACCEPT;
    assert_int_equal(wsp_utf8_validate(&st, big, n, &err), WSP_OK);
    assert_int_equal(st, WSP_UTF8_ACCEPT);
    /* And the same with one byte dropped from the end: open, not bad. */
    st = WSP_UTF8_ACCEPT;
    assert_int_equal(wsp_utf8_validate(&st, big, n - 1, &err), WSP_OK);
    assert_true(st != WSP_UTF8_ACCEPT);
}

/* All byte pairs and, from a set of bytes that covers every class edge,
 * all triples and quads; each one bare and behind ASCII so that the block
 * path sees it too. */
static void test_exhaustive_short(void **s)
{
    static const uint8_t edge[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
                                   0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
                                   0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1,
                                   0xF3, 0xF4, 0xF5, 0xF7, 0xF8, 0xFF};
    const size_t ne = sizeof(edge);
    uint8_t buf[64];
    (void)s;

    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b++) {
            size_t e1 = 0, e2 = 0;
            buf[0] = (uint8_t)a;
            buf[1] = (uint8_t)b;
            int r = ref_validate(buf, 2, &e1);
            int g = feed_whole(buf, 2, &e2);
            assert_int_equal(g, r);
            if (r == REF_BAD)
                assert_int_equal(e2, e1);
        }
    }
    for (size_t a = 0; a < ne; a++)
        for (size_t b = 0; b < ne; b++)
            for (size_t c = 0; c < ne; c++)
                for (size_t d = 0; d < ne; d++) {
                    static const size_t pre_lens[] = {0, 3, 14, 16, 29};
                    for (size_t pl = 0; pl < 5; pl++) {
                        size_t pre = pre_lens[pl], len = pre + 4 + 20;
                        size_t e1 = 0, e2 = 0;
                        memset(buf, 'x', len);
                        buf[pre] = edge[a];
                        buf[pre + 1] = edge[b];
                        buf[pre + 2] = edge[c];
                        buf[pre + 3] = edge[d];
                        int r = ref_validate(buf, len, &e1);
                        int g = feed_whole(buf, len, &e2);
                        assert_int_equal(g, r);
                        if (r == REF_BAD)
                            assert_int_equal(e2, e1);
                    }
                }
}

/* ---- randomized comparison --------------------------------------------- */

static uint64_t rng_next(uint64_t *x)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * UINT64_C(2685821657736338717);
}

/* Mostly valid text of mixed lengths with occasional damage, since uniform
 * random bytes almost never get past the first few positions. */
static size_t gen_text(uint64_t *rng, uint8_t *out, size_t max)
{
    size_t n = 0;
    unsigned damage = (unsigned)(rng_next(rng) % 4u); /* 0: none */

    while (n + 4 <= max) {
        uint64_t r = rng_next(rng);
        uint32_t cp;
        switch (r % 8u) {
        case 0: case 1: case 2: cp = (uint32_t)((r >> 8) % 0x80u); break;
        case 3: cp = 0x80u + (uint32_t)((r >> 8) % 0x780u); break;
        case 4: cp = 0x800u + (uint32_t)((r >> 8) % 0xF800u); break;
        case 5: cp = 0x10000u + (uint32_t)((r >> 8) % 0x100000u); break;
        case 6: {
            static const uint32_t edges[] = {0x7F, 0x80, 0x7FF, 0x800,
                                             0xD7FF, 0xE000, 0xFFFF,
                                             0x10000, 0x10FFFF};
            cp = edges[(r >> 8) % 9u];
            break;
        }
        default: cp = 'a' + (uint32_t)((r >> 8) % 26u); break;
        }
        if (cp >= 0xD800 && cp <= 0xDFFF)
            cp = 0xFFFD;
        n += encode_cp(cp, out + n);
        if (rng_next(rng) % 200u == 0)
            break;
    }
    if (damage != 0 && n > 0) {
        unsigned hits = 1 + (unsigned)(rng_next(rng) % 3u);
        for (unsigned h = 0; h < hits; h++) {
            uint64_t r = rng_next(rng);
            size_t at = (size_t)(r % n);
            switch ((r >> 32) % 4u) {
            case 0: out[at] = (uint8_t)(r >> 40); break;   /* any byte */
            case 1: out[at] ^= (uint8_t)(1u << ((r >> 40) % 8u)); break;
            case 2: if (n > 1) { /* drop a byte */
                    memmove(out + at, out + at + 1, n - at - 1);
                    n--;
                } break;
            default: { /* encode a surrogate or overlong by hand */
                static const uint8_t bad[][4] = {
                    {0xED, 0xA0, 0x80, 0x41}, {0xC0, 0x80, 0x41, 0x41},
                    {0xE0, 0x9F, 0xBF, 0x41}, {0xF4, 0x90, 0x80, 0x80},
                    {0xF0, 0x8F, 0xBF, 0xBF}, {0xED, 0xBF, 0xBF, 0x41}};
                if (at + 4 <= max) {
                    memcpy(out + at, bad[(r >> 40) % 6u], 4);
                    if (at + 4 > n)
                        n = at + 4;
                }
            } break;
            }
        }
    }
    return n;
}

static void test_random_vs_reference(void **s)
{
    static uint8_t buf[4096];
    uint64_t rng = UINT64_C(0x9E3779B97F4A7C15);
    size_t cuts[16];
    (void)s;

    for (unsigned iter = 0; iter < 20000; iter++) {
        size_t max = (iter % 10u == 0) ? sizeof(buf) : 300;
        size_t n = gen_text(&rng, buf, max);
        size_t e_ref = 0, e_got = 0;
        int r = ref_validate(buf, n, &e_ref);
        int g = feed_whole(buf, n, &e_got);

        assert_int_equal(g, r);
        if (r == REF_BAD)
            assert_int_equal(e_got, e_ref);

        /* The same input in random pieces. */
        size_t nc = 1 + (size_t)(rng_next(&rng) % 15u);
        for (size_t c = 0; c + 1 < nc; c++)
            cuts[c] = n == 0 ? 0 : (size_t)(rng_next(&rng) % (n + 1));
        cuts[nc - 1] = n;
        for (size_t a = 1; a < nc; a++) /* insertion sort */
            for (size_t b = a; b > 0 && cuts[b - 1] > cuts[b]; b--) {
                size_t t = cuts[b];
                cuts[b] = cuts[b - 1];
                cuts[b - 1] = t;
            }
        e_got = 0;
        g = feed_pieces(buf, n, cuts, nc, &e_got);
        assert_int_equal(g, r);
        if (r == REF_BAD)
            assert_int_equal(e_got, e_ref);
    }
}

/* A long valid text with one byte broken at every position in turn: the
 * error must be found at exactly the reference's offset, wherever it falls
 * relative to the 16-byte blocks. */
static void test_error_at_every_position(void **s)
{
    static const uint32_t mix[] = {'h', 0xE9, 0x4E2D, 0x1F600, ' ', 0x3B1,
                                   0x10FFFF, 'x', 0x800, 0x7FF};
    uint8_t text[700], buf[700];
    size_t n = 0;
    (void)s;

    while (n + 4 <= sizeof(text))
        n += encode_cp(mix[(n * 7u) % 10u], text + n);

    for (size_t at = 0; at < n; at++) {
        static const uint8_t subst[] = {0xFF, 0x80, 0x41, 0xC0, 0xE0, 0xED,
                                        0xF4, 0xA0};
        for (size_t k = 0; k < sizeof(subst); k++) {
            size_t e_ref = 0, e_got = 0;
            memcpy(buf, text, n);
            buf[at] = subst[k];
            int r = ref_validate(buf, n, &e_ref);
            int g = feed_whole(buf, n, &e_got);
            assert_int_equal(g, r);
            if (r == REF_BAD)
                assert_int_equal(e_got, e_ref);
        }
    }
}

/* ---- API contract ------------------------------------------------------ */

static void test_state_carried(void **s)
{
    /* U+20AC (E2 82 AC) split after each byte. */
    static const uint8_t euro[] = {0xE2, 0x82, 0xAC};
    uint32_t st = WSP_UTF8_ACCEPT;
    size_t err = 0;
    (void)s;

    assert_int_equal(wsp_utf8_validate(&st, euro, 1, &err), WSP_OK);
    assert_true(st != WSP_UTF8_ACCEPT);
    assert_int_equal(wsp_utf8_validate(&st, euro + 1, 1, &err), WSP_OK);
    assert_true(st != WSP_UTF8_ACCEPT);
    assert_int_equal(wsp_utf8_validate(&st, NULL, 0, &err), WSP_OK);
    assert_true(st != WSP_UTF8_ACCEPT);
    assert_int_equal(wsp_utf8_validate(&st, euro + 2, 1, &err), WSP_OK);
    assert_int_equal(st, WSP_UTF8_ACCEPT);

    /* The constraint on the byte after E0 survives a call boundary. */
    st = WSP_UTF8_ACCEPT;
    assert_int_equal(wsp_utf8_validate(&st, (const uint8_t *)"\xE0", 1, &err),
                     WSP_OK);
    err = 77;
    assert_int_equal(wsp_utf8_validate(&st, (const uint8_t *)"\x9F\xBF", 2,
                                       &err),
                     WSP_ERR_PROTO_UTF8);
    assert_int_equal(err, 0);
}

static void test_failed_state_stays_failed(void **s)
{
    uint32_t st = WSP_UTF8_ACCEPT;
    size_t err = 0;
    (void)s;

    assert_int_equal(wsp_utf8_validate(&st, (const uint8_t *)"ab\xFF", 3,
                                       &err),
                     WSP_ERR_PROTO_UTF8);
    assert_int_equal(err, 2);
    assert_true(st != WSP_UTF8_ACCEPT);
    /* Valid input after a failure must not revive the state. */
    err = 5;
    assert_int_equal(wsp_utf8_validate(&st, (const uint8_t *)"ok", 2, &err),
                     WSP_ERR_PROTO_UTF8);
    assert_int_equal(err, 0);
    assert_true(st != WSP_UTF8_ACCEPT);
    /* A state value the library never produces is refused too. */
    st = 0xFFFFFFFFu;
    assert_int_equal(wsp_utf8_validate(&st, (const uint8_t *)"ok", 2, NULL),
                     WSP_ERR_PROTO_UTF8);
}

static void test_null_arguments(void **s)
{
    uint32_t st = WSP_UTF8_ACCEPT;
    (void)s;

    assert_int_equal(wsp_utf8_validate(NULL, (const uint8_t *)"a", 1, NULL),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_utf8_validate(&st, NULL, 1, NULL),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_utf8_validate(&st, NULL, 0, NULL), WSP_OK);
    /* error_offset is optional. */
    assert_int_equal(wsp_utf8_validate(&st, (const uint8_t *)"\x80", 1, NULL),
                     WSP_ERR_PROTO_UTF8);
}

static void test_long_ascii_then_error(void **s)
{
    static uint8_t buf[100000];
    uint32_t st = WSP_UTF8_ACCEPT;
    size_t err = 0;
    (void)s;

    memset(buf, 'z', sizeof(buf));
    assert_int_equal(wsp_utf8_validate(&st, buf, sizeof(buf), &err), WSP_OK);
    assert_int_equal(st, WSP_UTF8_ACCEPT);
    for (size_t at = 99000; at < 99200; at += 7) {
        buf[at] = 0xC2; /* lead byte followed by ASCII */
        st = WSP_UTF8_ACCEPT;
        assert_int_equal(wsp_utf8_validate(&st, buf, sizeof(buf), &err),
                         WSP_ERR_PROTO_UTF8);
        assert_int_equal(err, at + 1);
        buf[at] = 'z';
    }
}

/* ---- every implementation against the scalar one ------------------------
 * Each test below runs once per implementation (the cmocka state points at
 * it). The scalar DFA is the yardstick: on the same input, fed in the same
 * pieces, an implementation must give the same status, the same error
 * offset and the same final state. */

static const wsp_utf8_impl impl_list[] = {
    WSP_UTF8_IMPL_SCALAR, WSP_UTF8_IMPL_SSE41, WSP_UTF8_IMPL_AVX2,
    WSP_UTF8_IMPL_AVX512, WSP_UTF8_IMPL_NEON};

/* Skips (never passes) a test whose implementation cannot run here. */
static wsp_utf8_impl impl_or_skip(void **state)
{
    wsp_utf8_impl impl = *(const wsp_utf8_impl *)*state;
    switch (wsp_utf8_impl_support(impl)) {
    case WSP_UTF8_USABLE:
        return impl;
    case WSP_UTF8_CPU_LACKS:
        print_message("%s: compiled in, but this CPU lacks it: NOT RUN\n",
                      wsp_utf8_impl_name(impl));
        break;
    default:
        print_message("%s: not built for this target: NOT RUN\n",
                      wsp_utf8_impl_name(impl));
        break;
    }
    skip();
    return impl; /* not reached */
}

typedef struct verdict {
    int rc;
    size_t off;     /* absolute offset of the error */
    uint32_t state; /* after the last piece (or the failing one) */
} verdict;

/* Feeds buf through impl in pieces ending at cuts[0..ncuts) (ascending,
 * last == len). */
static verdict run_impl(wsp_utf8_impl impl, const uint8_t *buf, size_t len,
                        const size_t *cuts, size_t ncuts)
{
    verdict v = {WSP_OK, 0, WSP_UTF8_ACCEPT};
    size_t start = 0;

    assert_true(ncuts > 0 && cuts[ncuts - 1] == len);
    for (size_t c = 0; c < ncuts; c++) {
        size_t off = (size_t)-1;
        v.rc = wsp_utf8_validate_impl(impl, &v.state, buf + start,
                                      cuts[c] - start, &off);
        if (v.rc != WSP_OK) {
            assert_int_equal(v.rc, WSP_ERR_PROTO_UTF8);
            assert_true(off < cuts[c] - start);
            v.off = start + off;
            return v;
        }
        start = cuts[c];
    }
    return v;
}

static void assert_same(verdict got, verdict want)
{
    assert_int_equal(got.rc, want.rc);
    if (want.rc != WSP_OK)
        assert_int_equal(got.off, want.off);
    else
        assert_int_equal(got.state, want.state);
}

/* impl and scalar on buf whole and split in two at every position (state
 * carried across the cut); the whole verdict also against the reference. */
static void diff_every_split(wsp_utf8_impl impl, const uint8_t *buf,
                             size_t len)
{
    size_t cuts[3] = {len, len, len};
    verdict want = run_impl(WSP_UTF8_IMPL_SCALAR, buf, len, cuts, 1);
    size_t rerr = 0;
    int r = ref_validate(buf, len, &rerr);

    assert_int_equal(r == REF_BAD, want.rc != WSP_OK);
    if (r == REF_BAD)
        assert_int_equal(want.off, rerr);
    else
        assert_int_equal(r == REF_OPEN, want.state != WSP_UTF8_ACCEPT);
    assert_same(run_impl(impl, buf, len, cuts, 1), want);
    for (size_t k = 0; k <= len; k++) {
        cuts[0] = k;
        cuts[1] = len;
        assert_same(run_impl(impl, buf, len, cuts, 2), want);
        /* and a second cut a block or so later */
        cuts[1] = k + 17 < len ? k + 17 : len;
        cuts[2] = len;
        assert_same(run_impl(impl, buf, len, cuts, 3), want);
    }
}

/* Sequences that stress one rule each, valid and not. */
static const char *const seq_corpus[] = {
    "C2 80", "DF BF", "E0 A0 80", "ED 9F BF", "EE 80 80", "EF BF BF",
    "F0 90 80 80", "F4 8F BF BF", "F1 80 80 80", "F3 BF BF BF",
    "F0 9F 98 80", "E4 B8 AD",
    /* overlong */
    "C0 80", "C1 BF", "E0 80 80", "E0 9F BF", "F0 80 80 80", "F0 8F BF BF",
    /* surrogates, > U+10FFFF, never-valid bytes */
    "ED A0 80", "ED BF BF", "F4 90 80 80", "F4 BF BF BF", "F5 80 80 80",
    "F8 88 80 80 80", "FE", "FF", "C0", "F5",
    /* stray and missing continuations */
    "80", "BF", "C2 80 80", "E1 80 80 80", "C2 41", "E1 80 41", "F1 80 80 41",
    "E1 C2 80", "F1 80 C2 80", "C2 C2 80",
    /* truncated: these end inside a code point */
    "C2", "E1", "E1 80", "E0 A0", "ED 9F", "F0", "F0 90", "F1 80 80",
    "F4 8F BF",
};

/* Every sequence of the corpus at offsets that put it across the 16-, 32-
 * and 64-byte block boundaries, behind ASCII or behind multi-byte text,
 * then followed by nothing (truncated right at the boundary), by ASCII, or
 * by more multi-byte text; every split point each time. */
static void test_impl_corpus_all_splits(void **state)
{
    wsp_utf8_impl impl = impl_or_skip(state);
    static const size_t offsets[] = {0,  1,  13, 14, 15, 16, 17, 29, 30, 31,
                                     32, 33, 61, 62, 63, 64, 65, 95, 127};
    uint8_t seq[8], buf[256];

    for (size_t c = 0; c < sizeof(seq_corpus) / sizeof(seq_corpus[0]); c++) {
        size_t n = wsp_test_hex(seq_corpus[c], seq, sizeof(seq));
        for (size_t o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
            for (unsigned before = 0; before < 2; before++) {
                for (unsigned after = 0; after < 3; after++) {
                    size_t pre = offsets[o], len = 0;
                    /* multi-byte padding: "é" (C3 A9), then ASCII to fit */
                    while (len < pre) {
                        if (before == 1 && pre - len >= 2) {
                            buf[len++] = 0xC3;
                            buf[len++] = 0xA9;
                        } else {
                            buf[len++] = 'a';
                        }
                    }
                    memcpy(buf + len, seq, n);
                    len += n;
                    if (after == 1) {
                        memset(buf + len, 'z', 70);
                        len += 70;
                    } else if (after == 2) {
                        for (int k = 0; k < 23; k++) {
                            buf[len++] = 0xE6; /* U+6587 */
                            buf[len++] = 0x96;
                            buf[len++] = 0x87;
                        }
                    }
                    diff_every_split(impl, buf, len);
                }
            }
        }
    }
}

/* Valid text of exactly 15, 16, 31, 32, 63, 64 (...) bytes whose last code
 * point is cut short, then the same with ASCII after it: open at the end,
 * then an error at the first byte after the cut. */
static void test_impl_truncated_at_block_ends(void **state)
{
    wsp_utf8_impl impl = impl_or_skip(state);
    static const size_t lens[] = {15, 16, 17, 31, 32, 33, 63, 64, 65,
                                  127, 128, 129, 255, 256};
    static const char *const open_tails[] = {"C2", "E1", "E1 80", "F0 90",
                                             "F1 80 80", "F4 8F BF"};
    uint8_t tail[4], buf[300];

    for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
        for (size_t t = 0; t < sizeof(open_tails) / sizeof(open_tails[0]);
             t++) {
            size_t n = wsp_test_hex(open_tails[t], tail, sizeof(tail));
            size_t len = lens[l];
            for (size_t k = 0; k + n < len; k++)
                buf[k] = (k % 5u == 4u) ? ' ' : (uint8_t)('a' + k % 26u);
            memcpy(buf + len - n, tail, n);
            diff_every_split(impl, buf, len);
            {
                size_t cut = len;
                verdict v = run_impl(impl, buf, len, &cut, 1);
                assert_int_equal(v.rc, WSP_OK);
                assert_true(v.state != WSP_UTF8_ACCEPT);
            }
            memset(buf + len, 'q', 20);
            diff_every_split(impl, buf, len + 20);
            {
                size_t cut = len + 20;
                verdict v = run_impl(impl, buf, len + 20, &cut, 1);
                assert_int_equal(v.rc, WSP_ERR_PROTO_UTF8);
                assert_int_equal(v.off, len);
            }
        }
    }
}

/* Text of one kind: what each generator makes a code point of. */
enum text_mix { MIX_ASCII, MIX_MOSTLY_ASCII, MIX_MIXED, MIX_CJK, MIX_EMOJI,
                MIX_COUNT };

static uint32_t mix_cp(enum text_mix mix, uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    switch (mix) {
    case MIX_ASCII:
        return 0x20u + (uint32_t)(r % 95u);
    case MIX_MOSTLY_ASCII: /* JSON with an accented name now and then */
        if (r % 40u == 0)
            return 0xC0u + (uint32_t)((r >> 8) % 0x40u);
        return 0x20u + (uint32_t)((r >> 8) % 95u);
    case MIX_MIXED: {
        uint32_t cp;
        switch (r % 4u) {
        case 0: return 0x20u + (uint32_t)((r >> 8) % 95u);
        case 1: return 0x80u + (uint32_t)((r >> 8) % 0x780u);
        case 2:
            cp = 0x800u + (uint32_t)((r >> 8) % 0xF800u);
            return (cp >= 0xD800 && cp <= 0xDFFF) ? 0xFFFDu : cp;
        default: return 0x10000u + (uint32_t)((r >> 8) % 0x100000u);
        }
    }
    case MIX_CJK: /* ideographs, with ASCII punctuation and digits */
        if (r % 8u == 0)
            return 0x20u + (uint32_t)((r >> 8) % 95u);
        return 0x4E00u + (uint32_t)((r >> 8) % 0x5200u);
    default: /* emoji, spaces, ZWJ and variation selectors */
        switch (r % 6u) {
        case 0: return ' ';
        case 1: return (r >> 8) % 2u ? 0x200Du : 0xFE0Fu;
        default: return 0x1F300u + (uint32_t)((r >> 8) % 0x800u);
        }
    }
}

static size_t gen_mix(enum text_mix mix, uint64_t *rng, uint8_t *out,
                      size_t len)
{
    size_t n = 0;
    while (n + 4 <= len)
        n += encode_cp(mix_cp(mix, rng), out + n);
    while (n < len)
        out[n++] = 'x';
    return n;
}

/* Random text of each kind and many lengths, compared whole and in random
 * pieces; the shorter ones also at every split point. */
static void test_impl_random_mixes(void **state)
{
    wsp_utf8_impl impl = impl_or_skip(state);
    static uint8_t buf[70000];
    uint64_t rng = UINT64_C(0x2545F4914F6CDD1D);
    size_t cuts[12];

    for (int mix = 0; mix < MIX_COUNT; mix++) {
        for (unsigned iter = 0; iter < 400; iter++) {
            size_t len = iter < 300 ? (size_t)(rng_next(&rng) % 400u)
                                    : (size_t)(rng_next(&rng) % sizeof(buf));
            size_t nc;
            verdict want;
            len = gen_mix((enum text_mix)mix, &rng, buf, len);
            /* a third get one damaged byte */
            if (iter % 3u == 0 && len > 0)
                buf[rng_next(&rng) % len] = (uint8_t)rng_next(&rng);
            if (len <= 200)
                diff_every_split(impl, buf, len);
            cuts[0] = len;
            want = run_impl(WSP_UTF8_IMPL_SCALAR, buf, len, cuts, 1);
            assert_same(run_impl(impl, buf, len, cuts, 1), want);
            nc = 1 + (size_t)(rng_next(&rng) % 11u);
            for (size_t c = 0; c + 1 < nc; c++)
                cuts[c] = (size_t)(rng_next(&rng) % (len + 1));
            cuts[nc - 1] = len;
            for (size_t a = 1; a < nc; a++)
                for (size_t b = a; b > 0 && cuts[b - 1] > cuts[b]; b--) {
                    size_t t = cuts[b];
                    cuts[b] = cuts[b - 1];
                    cuts[b - 1] = t;
                }
            assert_same(run_impl(impl, buf, len, cuts, nc), want);
        }
    }
}

/* Text of each kind with one byte replaced at every position in turn, so
 * errors land at every offset within a block and on either side of block
 * boundaries; whole and split just before the bad byte. */
static void test_impl_error_every_position(void **state)
{
    wsp_utf8_impl impl = impl_or_skip(state);
    static const uint8_t subst[] = {0xFF, 0x80, 0xBF, 0x41, 0xC0, 0xC2,
                                    0xE0, 0xED, 0xF0, 0xF4, 0xF5, 0xA0};
    uint8_t text[300], buf[300];
    uint64_t rng = UINT64_C(0x1234567887654321);

    for (int mix = 0; mix < MIX_COUNT; mix++) {
        size_t n = gen_mix((enum text_mix)mix, &rng, text, sizeof(text));
        for (size_t at = 0; at < n; at++) {
            for (size_t k = 0; k < sizeof(subst); k++) {
                size_t cuts[2] = {n, n};
                verdict want;
                memcpy(buf, text, n);
                buf[at] = subst[k];
                want = run_impl(WSP_UTF8_IMPL_SCALAR, buf, n, cuts, 1);
                assert_same(run_impl(impl, buf, n, cuts, 1), want);
                cuts[0] = at;
                assert_same(run_impl(impl, buf, n, cuts, 2), want);
            }
        }
    }
}

/* Large inputs: every scalar value in one buffer, and 1 MiB of mixed text
 * with a single bad byte near the end and in the middle. */
static void test_impl_long_inputs(void **state)
{
    wsp_utf8_impl impl = impl_or_skip(state);
    static uint8_t big[4 * 0x110000];
    size_t n = 0, cut;
    uint64_t rng = 7;
    verdict v;

    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++)
        if (cp < 0xD800 || cp > 0xDFFF)
            n += encode_cp(cp, big + n);
    cut = n;
    v = run_impl(impl, big, n, &cut, 1);
    assert_int_equal(v.rc, WSP_OK);
    assert_int_equal(v.state, WSP_UTF8_ACCEPT);

    n = gen_mix(MIX_MIXED, &rng, big, 1u << 20);
    for (size_t at = n - 70; at < n; at += 3) {
        uint8_t keep = big[at];
        big[at] = 0xFF;
        cut = n;
        v = run_impl(impl, big, n, &cut, 1);
        assert_int_equal(v.rc, WSP_ERR_PROTO_UTF8);
        assert_int_equal(v.off, at);
        big[at] = keep;
    }
    big[n / 2] = 0xC0;
    cut = n;
    v = run_impl(impl, big, n, &cut, 1);
    assert_int_equal(v.rc, WSP_ERR_PROTO_UTF8);
    assert_int_equal(v.off, n / 2);
}

/* The per-implementation entry refuses what it cannot run, and the public
 * call uses an implementation this CPU runs. */
static void test_impl_support(void **s)
{
    uint32_t st = WSP_UTF8_ACCEPT;
    (void)s;

    assert_int_equal(wsp_utf8_impl_support(WSP_UTF8_IMPL_SCALAR),
                     WSP_UTF8_USABLE);
    assert_int_equal(wsp_utf8_impl_support(wsp_utf8_impl_best()),
                     WSP_UTF8_USABLE);
    print_message("wsp_utf8_validate uses: %s\n",
                  wsp_utf8_impl_name(wsp_utf8_impl_best()));
    for (size_t i = 0; i < sizeof(impl_list) / sizeof(impl_list[0]); i++) {
        if (wsp_utf8_impl_support(impl_list[i]) == WSP_UTF8_USABLE)
            continue;
        assert_int_equal(wsp_utf8_validate_impl(impl_list[i], &st,
                                                (const uint8_t *)"a", 1,
                                                NULL),
                         WSP_ERR_INVALID_ARG);
    }
    assert_int_equal(wsp_utf8_validate_impl(WSP_UTF8_IMPL_COUNT, &st,
                                            (const uint8_t *)"a", 1, NULL),
                     WSP_ERR_INVALID_ARG);
}

/* One test per implementation (the state points at it), named after it. */
#define IMPL_TEST(fn, i, name) {#fn "/" name, fn, NULL, NULL, (void *)&impl_list[i]}
#define IMPL_TESTS(fn)                                                        \
    IMPL_TEST(fn, 0, "scalar"), IMPL_TEST(fn, 1, "sse4.1"),                   \
        IMPL_TEST(fn, 2, "avx2"), IMPL_TEST(fn, 3, "avx512"),                 \
        IMPL_TEST(fn, 4, "neon")

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_table),
        cmocka_unit_test(test_invalid_table),
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_every_scalar_value),
        cmocka_unit_test(test_exhaustive_short),
        cmocka_unit_test(test_random_vs_reference),
        cmocka_unit_test(test_error_at_every_position),
        cmocka_unit_test(test_state_carried),
        cmocka_unit_test(test_failed_state_stays_failed),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_long_ascii_then_error),
        cmocka_unit_test(test_impl_support),
        IMPL_TESTS(test_impl_corpus_all_splits),
        IMPL_TESTS(test_impl_truncated_at_block_ends),
        IMPL_TESTS(test_impl_random_mixes),
        IMPL_TESTS(test_impl_error_every_position),
        IMPL_TESTS(test_impl_long_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
