/* wsp_utf8_validate against the reference in fuzz_common.c: both must agree
 * on every input, fed whole, byte by byte and at cut points read from the
 * input, on the error offset and on whether the text ends inside a code
 * point. Every implementation this CPU runs (scalar DFA, SSE4.1, AVX2,
 * AVX-512, NEON; internal.h) is held to the same answers, whole and at the
 * input's cut points, and again with the text shifted by the first cut so
 * the block scanners see it at another alignment.
 *
 * Input layout: [0] number of cut points (low 3 bits), then that many
 * bytes, each a distance to the next cut; the rest is the text. */
#include "fuzz_common.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Feeds text in the pieces that cuts[0..ncuts) delimit (increasing offsets,
 * each <= n) and checks every piece against the reference. */
/* impl < 0: the public call; otherwise that implementation. */
static int validate(int impl, uint32_t *state, const uint8_t *buf, size_t len,
                    size_t *offp)
{
    if (impl < 0)
        return wsp_utf8_validate(state, buf, len, offp);
    return wsp_utf8_validate_impl((wsp_utf8_impl)impl, state, buf, len, offp);
}

static void check_split(int impl, const uint8_t *text, size_t n,
                        const size_t *cuts, size_t ncuts, size_t ref_err,
                        int ref_incomplete, const uint8_t *boundary)
{
    uint32_t state = WSP_UTF8_ACCEPT;
    size_t start = 0, i;
    for (i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n, off = (size_t)-1;
        /* pass NULL now and then: the offset pointer is optional */
        size_t *offp = (i & 3) == 3 ? NULL : &off;
        int rc = validate(impl, &state, text + start, end - start, offp);
        if (ref_err >= start && ref_err < end) {
            FUZZ_CHECKF(rc == WSP_ERR_PROTO_UTF8,
                        "impl %d: byte %zu is invalid, piece [%zu,%zu) passed",
                        impl, ref_err, start, end);
            if (offp != NULL)
                FUZZ_CHECKF(off == ref_err - start,
                            "impl %d: error at %zu reported at %zu", impl,
                            ref_err, start + off);
            return;
        }
        FUZZ_CHECKF(rc == WSP_OK, "impl %d: piece [%zu,%zu) rejected (%d), "
                                  "reference accepts it", impl, start, end, rc);
        FUZZ_CHECKF((state == WSP_UTF8_ACCEPT) == (boundary[end] != 0),
                    "impl %d: state %u after %zu bytes, reference says %s",
                    impl, state, end,
                    boundary[end] ? "between code points" : "inside one");
        start = end;
    }
    FUZZ_CHECK(ref_err == n);
    FUZZ_CHECK((state != WSP_UTF8_ACCEPT) == (ref_incomplete != 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size, 0};
    size_t ncuts = fuzz_u8(&in) & 7u, i, n, ref_err, at = 0, k;
    size_t cuts[8];
    uint8_t *text, *boundary;
    const uint8_t *t;
    size_t *every;
    int incomplete;

    for (i = 0; i < ncuts; i++)
        cuts[i] = fuzz_u8(&in);
    t = fuzz_take(&in, SIZE_MAX, &n);
    /* exact-size copy so an over-read is caught */
    text = malloc(n ? n : 1);
    boundary = malloc(n + 1);
    every = malloc((n ? n : 1) * sizeof *every);
    FUZZ_CHECK(text != NULL && boundary != NULL && every != NULL);
    memcpy(text, t, n);
    ref_err = fuzz_utf8_ref(text, n, &incomplete, boundary);

    check_split(-1, text, n, NULL, 0, ref_err, incomplete, boundary);
    for (i = 0; i < ncuts; i++) {
        at += cuts[i];
        cuts[i] = at < n ? at : n;
    }
    check_split(-1, text, n, cuts, ncuts, ref_err, incomplete, boundary);
    /* every cut, including empty pieces where cut points repeat */
    for (k = 0; k + 1 < n; k++)
        every[k] = k + 1;
    check_split(-1, text, n, every, n > 1 ? n - 1 : 0, ref_err, incomplete,
                boundary);
    for (int impl = 0; impl < (int)WSP_UTF8_IMPL_COUNT; impl++) {
        if (wsp_utf8_impl_support((wsp_utf8_impl)impl) != WSP_UTF8_USABLE)
            continue;
        check_split(impl, text, n, NULL, 0, ref_err, incomplete, boundary);
        check_split(impl, text, n, cuts, ncuts, ref_err, incomplete,
                    boundary);
        /* the first piece alone, as if a frame ended there and the rest
         * came in the next one: the rest starts at another alignment */
        if (ncuts > 0)
            check_split(impl, text, n, cuts, 1, ref_err, incomplete,
                        boundary);
    }
    /* the library never writes to the text */
    FUZZ_CHECK(n == 0 || memcmp(text, t, n) == 0);
    free(every);
    free(boundary);
    free(text);
    return 0;
}
