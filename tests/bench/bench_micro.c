/*
 * bench_micro: in-memory microbenchmarks of libwsproto, side by side with
 * wslay (when built with it) and memcpy, all measured in the same run.
 *
 *   bench_micro [--quick] [--reps N] [--time SECONDS] [--only SECTION]
 *               [--size BYTES] [--kind binary|text|utf8mix]
 *
 * Sections: recv, unmask, utf8, send, handshake, head (default: all). --size and
 * --kind pick receive rows (for profiling one case).
 *
 * Every figure is the best of N repetitions (default 3); each repetition
 * runs for about --time seconds (default 0.25).
 *
 * Receive path ("recv"): a batch of masked client frames (about 64 KiB of
 * them, or one frame for payloads over 64 KiB) is fed to a server. Since the
 * payload is unmasked in place, each iteration must start again from masked
 * bytes. Two ways are reported:
 *
 *   - "copy": the masked batch is memcpy'd from a template into the receive
 *     buffer, then fed. This stands in for the read() that fills a real
 *     receive buffer, and it is exactly what wslay is given: its recv
 *     callback memcpy's the same template into wslay's own buffer. This is
 *     the like-for-like comparison.
 *   - "in place": the batch is fed as it is. Unmasking twice with the same
 *     key gives back the original bytes, so iteration i+1 receives the
 *     payload iteration i unmasked, masked with the same key: for binary
 *     payload and for ASCII text with key bytes below 0x80 that is again a
 *     valid message. No work is skipped; the only bytes touched are the
 *     library's own.
 *
 * wslay runs in streaming mode (no message buffering), like libwsproto.
 */
#define _POSIX_C_SOURCE 200809L

#include "internal.h" /* each UTF-8 implementation, the resumable head parser */
#include "wsproto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_WSLAY
#include <sys/types.h>
#include <wslay/wslay.h>
#endif

static double g_time = 0.25;
static int g_reps = 3;
static size_t g_only_size;     /* --size: receive rows of this size only */
static const char *g_only_kind; /* --kind: binary, text or utf8mix only */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_micro: %s\n", what);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

/* A sink the compiler cannot see through. */
static volatile uint64_t g_sink;

/* xorshift64* */
static uint64_t g_rng = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1Du;
}

typedef void (*iter_fn)(void *ctx, size_t iters);

/* Seconds per iteration: calibrate, then best of g_reps timed runs. */
static double measure(iter_fn fn, void *ctx)
{
    size_t iters = 1;
    double t;
    for (;;) {
        double t0 = now_s();
        fn(ctx, iters);
        t = now_s() - t0;
        if (t >= g_time / 8 || iters >= ((size_t)1 << 40)) break;
        iters *= 2;
    }
    {
        double want = g_time / (t / (double)iters);
        if (want > (double)iters) iters = (size_t)want;
        if (iters == 0) iters = 1;
    }
    double best = 1e300;
    for (int r = 0; r < g_reps; r++) {
        double t0 = now_s();
        fn(ctx, iters);
        double dt = (now_s() - t0) / (double)iters;
        if (dt < best) best = dt;
    }
    return best;
}

/* ------------------------------------------------------------------------
 * Payload generators.
 * ---------------------------------------------------------------------- */
enum payload_kind { P_BINARY, P_ASCII, P_MIXED, P_MOSTLY_ASCII, P_JSON, P_CJK,
                    P_EMOJI };

/* Writes one UTF-8 code point of n bytes (1..4) at p. */
static size_t put_cp(uint8_t *p, int n)
{
    uint32_t cp;
    switch (n) {
    case 1:
        p[0] = (uint8_t)(0x20 + rnd() % 95);
        return 1;
    case 2:
        cp = 0x80 + (uint32_t)(rnd() % (0x800 - 0x80));
        p[0] = (uint8_t)(0xC0 | (cp >> 6));
        p[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    case 3:
        do cp = 0x800 + (uint32_t)(rnd() % (0x10000 - 0x800));
        while (cp >= 0xD800 && cp <= 0xDFFF);
        p[0] = (uint8_t)(0xE0 | (cp >> 12));
        p[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        p[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    default:
        cp = 0x10000 + (uint32_t)(rnd() % (0x110000 - 0x10000));
        p[0] = (uint8_t)(0xF0 | (cp >> 18));
        p[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        p[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        p[3] = (uint8_t)(0x80 | (cp & 0x3F));
        return 4;
    }
}

/* Encodes cp at p; returns its length. */
static size_t put_scalar(uint8_t *p, uint32_t cp)
{
    if (cp < 0x80) {
        p[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (uint8_t)(0xC0 | (cp >> 6));
        p[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (uint8_t)(0xE0 | (cp >> 12));
        p[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        p[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    p[0] = (uint8_t)(0xF0 | (cp >> 18));
    p[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    p[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    p[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* JSON records of people, some names accented: about one non-ASCII
 * character per 40 bytes, like chat or API traffic in European languages.
 * The last record is cut where the buffer ends (on a code point boundary:
 * an incomplete last character becomes spaces). */
static void fill_json(uint8_t *p, size_t n)
{
    static const char *const first[] = {
        "José", "Zoë", "Anaïs", "Björn", "Renée", "Michaël", "Łukasz", "Inês",
        "Chloé", "Tomás", "Håkon", "Jürgen", "Laura", "Søren", "Andrés",
        "Noémie"};
    static const char *const last[] = {
        "Smith", "Müller", "García", "Jones", "Dvořák", "Brown", "Ødegaard",
        "Taylor", "Nguyễn", "Lefèvre", "Wilson", "Kowalski", "Martín",
        "Çelik", "Walker", "Rossi"};
    size_t i = 0;
    while (i < n) {
        char rec[200];
        int k = snprintf(rec, sizeof rec,
                         "{\"id\":%u,\"name\":\"%s %s\",\"active\":%s,"
                         "\"score\":%u},\n",
                         (unsigned)(rnd() % 1000000), first[rnd() % 16],
                         last[rnd() % 16], rnd() % 2 ? "true" : "false",
                         (unsigned)(rnd() % 10000));
        size_t take = (size_t)k < n - i ? (size_t)k : n - i;
        memcpy(p + i, rec, take);
        i += take;
    }
    /* an open code point at the end becomes spaces */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t b = p[n - back];
        if (b < 0x80) break;
        if (b >= 0xC0) {
            size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
            if (need > back) memset(p + n - back, ' ', back);
            break;
        }
    }
}

/* Fills p[0..n) with the kind of payload asked for; text is valid UTF-8
 * ending on a code point boundary. */
static void fill(uint8_t *p, size_t n, enum payload_kind kind)
{
    size_t i = 0;
    if (kind == P_BINARY) {
        for (; i < n; i++) p[i] = (uint8_t)rnd();
        return;
    }
    if (kind == P_JSON) {
        fill_json(p, n);
        return;
    }
    if (kind == P_CJK || kind == P_EMOJI) {
        /* CJK: ideographs with ASCII punctuation and digits now and then;
         * emoji: pictographs (4 bytes), spaces, joiners and variation
         * selectors (3 bytes). */
        while (i < n) {
            uint32_t cp;
            uint64_t r = rnd();
            if (kind == P_CJK)
                cp = r % 8 == 0 ? 0x20 + (uint32_t)((r >> 8) % 95)
                                : 0x4E00 + (uint32_t)((r >> 8) % 0x5200);
            else
                cp = r % 6 == 0   ? ' '
                     : r % 6 == 1 ? ((r >> 8) % 2 ? 0x200D : 0xFE0F)
                                  : 0x1F300 + (uint32_t)((r >> 8) % 0x700);
            uint8_t tmp[4];
            size_t k = put_scalar(tmp, cp);
            if (k > n - i) {
                memset(p + i, ' ', n - i);
                break;
            }
            memcpy(p + i, tmp, k);
            i += k;
        }
        return;
    }
    while (i < n) {
        int len = 1;
        if (kind == P_MIXED) {
            /* 1- to 4-byte code points in equal numbers */
            len = 1 + (int)(rnd() % 4);
        } else if (kind == P_MOSTLY_ASCII) {
            /* about one accented letter per 40 characters */
            len = rnd() % 40 == 0 ? 2 : 1;
        }
        if ((size_t)len > n - i) len = 1;
        i += put_cp(p + i, len);
    }
}

/* ------------------------------------------------------------------------
 * Receive path.
 * ---------------------------------------------------------------------- */
typedef struct recv_case {
    uint8_t *tmpl;  /* masked frames */
    uint8_t *work;  /* what is fed */
    size_t wire;    /* bytes in the batch */
    size_t msgs;    /* messages in the batch */
    size_t payload; /* payload bytes per message */
    int copy;       /* copy the template in each iteration */
    wsp_conn *conn;
#ifdef HAVE_WSLAY
    wslay_event_context_ptr wctx;
    size_t wpos;
    uint64_t wmsgs;
    uint64_t wbytes;
#endif
} recv_case;

static size_t build_batch(uint8_t *out, size_t size, size_t count,
                          wsp_opcode op, enum payload_kind kind)
{
    size_t w = 0;
    uint8_t *payload = xmalloc(size);
    for (size_t m = 0; m < count; m++) {
        wsp_frame_header h;
        size_t hl = 0;
        memset(&h, 0, sizeof h);
        h.fin = 1;
        h.opcode = (uint8_t)op;
        h.masked = 1;
        h.payload_len = size;
        /* Key bytes below 0x80 keep ASCII text ASCII when masked (see the
         * "in place" note at the top); no key byte is zero. */
        for (int k = 0; k < 4; k++)
            h.mask_key[k] = (uint8_t)(1 + rnd() % 127);
        if (wsp_frame_encode_header(&h, out + w, WSP_MAX_FRAME_HEADER, &hl) != WSP_OK)
            die("encode header");
        w += hl;
        fill(payload, size, kind);
        wsp_mask_copy(out + w, payload, size, h.mask_key, 0);
        w += size;
    }
    free(payload);
    return w;
}

static void wsp_recv_iter(void *vctx, size_t iters)
{
    recv_case *rc = vctx;
    uint64_t msgs = 0, bytes = 0;
    for (size_t it = 0; it < iters; it++) {
        if (rc->copy) memcpy(rc->work, rc->tmpl, rc->wire);
        size_t off = 0;
        while (off < rc->wire) {
            size_t used = 0;
            wsp_event ev;
            int r = wsp_conn_recv(rc->conn, rc->work + off, rc->wire - off,
                                  &used, &ev);
            off += used;
            if (r != WSP_OK) die(wsp_strerror(r));
            if (ev.type == WSP_EV_DATA) {
                bytes += ev.u.data.len;
                msgs += (ev.u.data.flags & WSP_DATA_LAST) != 0;
            } else {
                die("unexpected event");
            }
        }
    }
    if (msgs != (uint64_t)iters * rc->msgs) die("message count mismatch");
    g_sink += bytes;
}

static void memcpy_iter(void *vctx, size_t iters)
{
    recv_case *rc = vctx;
    for (size_t it = 0; it < iters; it++) {
        memcpy(rc->work, rc->tmpl, rc->wire);
        /* keep the copy from being elided */
        __asm__ __volatile__("" : : "r"(rc->work) : "memory");
    }
}

#ifdef HAVE_WSLAY
static ssize_t wl_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                       int flags, void *user)
{
    recv_case *rc = user;
    (void)flags;
    size_t left = rc->wire - rc->wpos;
    if (left == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > left) len = left;
    memcpy(buf, rc->tmpl + rc->wpos, len);
    rc->wpos += len;
    return (ssize_t)len;
}

static ssize_t wl_send(wslay_event_context_ptr ctx, const uint8_t *data,
                       size_t len, int flags, void *user)
{
    (void)ctx, (void)data, (void)flags, (void)user;
    return (ssize_t)len;
}

static void wl_chunk(wslay_event_context_ptr ctx,
                     const struct wslay_event_on_frame_recv_chunk_arg *arg,
                     void *user)
{
    recv_case *rc = user;
    (void)ctx;
    rc->wbytes += arg->data_length;
}

static void wl_end(wslay_event_context_ptr ctx, void *user)
{
    recv_case *rc = user;
    (void)ctx;
    rc->wmsgs++;
}

static void wl_msg(wslay_event_context_ptr ctx,
                   const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
    /* In streaming mode wslay still reports each data message here (with
     * no payload); only control frames would be a surprise. */
    (void)ctx, (void)user;
    if (arg->opcode >= 8) die("wslay: unexpected control message");
}

static void wslay_setup(recv_case *rc)
{
    static const struct wslay_event_callbacks cb = {
        wl_recv, wl_send, NULL, NULL, wl_chunk, wl_end, wl_msg};
    if (wslay_event_context_server_init(&rc->wctx, &cb, rc) != 0)
        die("wslay init");
    wslay_event_config_set_no_buffering(rc->wctx, 1);
    wslay_event_config_set_max_recv_msg_length(rc->wctx, (uint64_t)1 << 40);
}

static void wslay_recv_iter(void *vctx, size_t iters)
{
    recv_case *rc = vctx;
    uint64_t before = rc->wmsgs;
    for (size_t it = 0; it < iters; it++) {
        rc->wpos = 0;
        if (wslay_event_recv(rc->wctx) != 0) die("wslay_event_recv failed");
        if (!wslay_event_get_read_enabled(rc->wctx)) die("wslay closed");
    }
    if (rc->wmsgs - before != (uint64_t)iters * rc->msgs)
        die("wslay message count mismatch");
}
#endif

static void print_rate(double msgs_per_s, double gbps)
{
    if (msgs_per_s >= 1e6)
        printf(" %8.2f M %7.2f", msgs_per_s / 1e6, gbps);
    else
        printf(" %8.1f k %7.2f", msgs_per_s / 1e3, gbps);
}

static void bench_recv(void)
{
    static const size_t sizes[] = {16, 125, 1024, 16384, 65536, 1048576};
    static const struct {
        const char *name;
        wsp_opcode op;
        enum payload_kind kind;
        int in_place_ok;
    } kinds[] = {
        {"binary", WSP_OP_BINARY, P_BINARY, 1},
        {"text", WSP_OP_TEXT, P_ASCII, 1},
        {"utf8mix", WSP_OP_TEXT, P_MIXED, 0},
        {"json-eu", WSP_OP_TEXT, P_JSON, 0},
        {"cjk", WSP_OP_TEXT, P_CJK, 0},
        {"emoji", WSP_OP_TEXT, P_EMOJI, 0},
    };
    printf("\n## Receive path: masked client frames -> server, streaming\n\n");
    printf("msg/s in millions (M) or thousands (k), GB/s of payload; "
           "ratios use the same run.\n\n");
    printf("%-8s %7s | %-19s %-19s | %-19s %6s | %7s %6s %6s\n", "payload",
           "size", "wsproto copy", "wsproto in place", "wslay", "x wslay",
           "memcpy", "cp/mc", "ip/mc");
    printf("%-8s %7s | %10s %8s %10s %8s | %10s %8s %7s | %7s %6s %6s\n", "",
           "", "msg/s", "GB/s", "msg/s", "GB/s", "msg/s", "GB/s", "",
           "GB/s", "", "");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t size = sizes[s];
            if ((g_only_size && size != g_only_size) ||
                (g_only_kind && strcmp(g_only_kind, kinds[k].name) != 0))
                continue;
            size_t count = size >= 65536 ? 1 : (65536 + size - 1) / (size + 6);
            recv_case rc;
            memset(&rc, 0, sizeof rc);
            rc.tmpl = xmalloc(count * (size + WSP_MAX_FRAME_HEADER));
            rc.wire = build_batch(rc.tmpl, size, count, kinds[k].op, kinds[k].kind);
            rc.work = xmalloc(rc.wire);
            memcpy(rc.work, rc.tmpl, rc.wire);
            rc.msgs = count;
            rc.payload = size;
            wsp_config cfg;
            memset(&cfg, 0, sizeof cfg);
            cfg.start_open = 1;
            cfg.max_frame_payload = (uint64_t)1 << 30;
            cfg.max_message = (uint64_t)1 << 30;
            if (wsp_conn_new(&cfg, &rc.conn) != WSP_OK) die("conn");

            double payload_bytes = (double)count * (double)size;
            rc.copy = 1;
            double t_copy = measure(wsp_recv_iter, &rc);
            double t_inplace = 0;
            if (kinds[k].in_place_ok) {
                rc.copy = 0;
                t_inplace = measure(wsp_recv_iter, &rc);
            }
            double t_memcpy = measure(memcpy_iter, &rc);
            double t_wslay = 0;
#ifdef HAVE_WSLAY
            wslay_setup(&rc);
            t_wslay = measure(wslay_recv_iter, &rc);
            wslay_event_context_free(rc.wctx);
#endif
            printf("%-8s %7zu |", kinds[k].name, size);
            print_rate((double)count / t_copy, payload_bytes / t_copy / 1e9);
            if (t_inplace > 0)
                print_rate((double)count / t_inplace,
                           payload_bytes / t_inplace / 1e9);
            else
                printf(" %10s %7s", "-", "-");
            printf(" |");
            if (t_wslay > 0) {
                print_rate((double)count / t_wslay, payload_bytes / t_wslay / 1e9);
                printf(" %6.2fx", t_wslay / t_copy);
            } else {
                printf(" %10s %7s %7s", "n/a", "n/a", "n/a");
            }
            printf(" | %7.2f %6.3f", (double)rc.wire / t_memcpy / 1e9,
                   t_memcpy / t_copy);
            if (t_inplace > 0)
                printf(" %6.3f\n", t_memcpy / t_inplace);
            else
                printf(" %6s\n", "-");
            fflush(stdout);
            wsp_conn_free(rc.conn);
            free(rc.tmpl);
            free(rc.work);
        }
    }
    printf("\nx wslay: wsproto copy msg/s / wslay msg/s. cp/mc, ip/mc: "
           "time of memcpy of the batch / time of wsproto (copy, in place).\n");
}

/* ------------------------------------------------------------------------
 * Unmask and UTF-8.
 * ---------------------------------------------------------------------- */
typedef struct buf_case {
    uint8_t *a, *b;
    size_t n;
} buf_case;

static void mask_iter(void *vctx, size_t iters)
{
    buf_case *bc = vctx;
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    for (size_t it = 0; it < iters; it++) wsp_mask(bc->a, bc->n, key, it);
    g_sink += bc->a[0];
}

static void mask_copy_iter(void *vctx, size_t iters)
{
    buf_case *bc = vctx;
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    for (size_t it = 0; it < iters; it++)
        wsp_mask_copy(bc->b, bc->a, bc->n, key, 0);
    g_sink += bc->b[0];
}

static void plain_memcpy_iter(void *vctx, size_t iters)
{
    buf_case *bc = vctx;
    for (size_t it = 0; it < iters; it++) {
        memcpy(bc->b, bc->a, bc->n);
        __asm__ __volatile__("" : : "r"(bc->b) : "memory");
    }
}

static void utf8_iter(void *vctx, size_t iters)
{
    buf_case *bc = vctx;
    for (size_t it = 0; it < iters; it++) {
        uint32_t st = WSP_UTF8_ACCEPT;
        if (wsp_utf8_validate(&st, bc->a, bc->n, NULL) != WSP_OK || st != 0)
            die("utf8 rejected valid text");
    }
}

typedef struct impl_case {
    const uint8_t *text;
    size_t n;
    wsp_utf8_impl impl;
} impl_case;

static void utf8_impl_iter(void *vctx, size_t iters)
{
    impl_case *ic = vctx;
    for (size_t it = 0; it < iters; it++) {
        uint32_t st = WSP_UTF8_ACCEPT;
        __asm__ __volatile__("" : : "r"(ic->text) : "memory");
        if (wsp_utf8_validate_impl(ic->impl, &st, ic->text, ic->n, NULL) !=
                WSP_OK ||
            st != WSP_UTF8_ACCEPT)
            die("utf8 implementation rejected valid text");
    }
}

/* Each implementation this CPU runs, the public call (which picks one, and
 * checks up to 16 bytes of ASCII before any choice) and memcpy of the same
 * bytes, all on the same buffers in the same run. */
static void bench_utf8_impls(void)
{
    static const struct {
        const char *name;
        enum payload_kind kind;
    } kinds[] = {{"ascii", P_ASCII},
                 {"json-eu", P_JSON},
                 {"mixed", P_MIXED},
                 {"cjk", P_CJK},
                 {"emoji", P_EMOJI}};
    static const size_t sizes[] = {16, 1024, 65536, 1048576};
    int usable[WSP_UTF8_IMPL_COUNT];

    printf("\n## UTF-8 validation per implementation (GB/s)\n\n");
    printf("public call uses: %s; not run on this CPU:",
           wsp_utf8_impl_name(wsp_utf8_impl_best()));
    for (int i = 0; i < WSP_UTF8_IMPL_COUNT; i++) {
        usable[i] = wsp_utf8_impl_support((wsp_utf8_impl)i) == WSP_UTF8_USABLE;
        if (!usable[i]) printf(" %s", wsp_utf8_impl_name((wsp_utf8_impl)i));
    }
    printf("\n\n%-8s %8s | %6s |", "text", "size", "non-A");
    for (int i = 0; i < WSP_UTF8_IMPL_COUNT; i++)
        if (usable[i]) printf(" %8s", wsp_utf8_impl_name((wsp_utf8_impl)i));
    printf(" | %8s | %8s %6s\n", "public", "memcpy", "pub/mc");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            buf_case bc = {xmalloc(sizes[s]), xmalloc(sizes[s]), sizes[s]};
            size_t non_ascii = 0;
            fill(bc.a, bc.n, kinds[k].kind);
            for (size_t j = 0; j < bc.n; j++)
                non_ascii += (bc.a[j] & 0xC0) == 0xC0;
            /* bytes per non-ASCII character ("-": none) */
            printf("%-8s %8zu |", kinds[k].name, bc.n);
            if (non_ascii)
                printf(" %6.1f |", (double)bc.n / (double)non_ascii);
            else
                printf(" %6s |", "-");
            for (int i = 0; i < WSP_UTF8_IMPL_COUNT; i++) {
                if (!usable[i]) continue;
                impl_case ic = {bc.a, bc.n, (wsp_utf8_impl)i};
                double t = measure(utf8_impl_iter, &ic);
                printf(" %8.2f", (double)bc.n / t / 1e9);
                fflush(stdout);
            }
            double tu = measure(utf8_iter, &bc);
            double tc = measure(plain_memcpy_iter, &bc);
            printf(" | %8.2f | %8.2f %6.3f\n", (double)bc.n / tu / 1e9,
                   (double)bc.n / tc / 1e9, tc / tu);
            fflush(stdout);
            free(bc.a);
            free(bc.b);
        }
    }
    printf("\nnon-A: bytes per non-ASCII character. pub/mc: time of memcpy / "
           "time of the public call.\n");
}

static void bench_unmask_utf8(int do_mask, int do_utf8)
{
    static const size_t sizes[] = {16, 125, 1024, 16384, 65536, 1048576};
    if (do_mask) {
        printf("\n## Unmask (XOR with the 4-byte key)\n\n");
        printf("%8s | %10s %10s %10s | %7s\n", "size", "wsp_mask",
               "mask_copy", "memcpy", "mask/mc");
        printf("%8s | %10s %10s %10s | %7s\n", "", "GB/s", "GB/s", "GB/s", "");
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            buf_case bc = {xmalloc(sizes[s]), xmalloc(sizes[s]), sizes[s]};
            fill(bc.a, bc.n, P_BINARY);
            double tm = measure(mask_iter, &bc);
            double tmc = measure(mask_copy_iter, &bc);
            double tc = measure(plain_memcpy_iter, &bc);
            printf("%8zu | %10.2f %10.2f %10.2f | %7.3f\n", bc.n,
                   (double)bc.n / tm / 1e9, (double)bc.n / tmc / 1e9,
                   (double)bc.n / tc / 1e9, tc / tm);
            free(bc.a);
            free(bc.b);
        }
    }
    if (do_utf8) {
        static const struct {
            const char *name;
            enum payload_kind kind;
        } kinds[] = {{"ascii", P_ASCII},
                     {"mostly-ascii", P_MOSTLY_ASCII},
                     {"mixed", P_MIXED}};
        static const size_t usizes[] = {1024, 65536, 1048576};
        printf("\n## UTF-8 validation (wsp_utf8_validate)\n\n");
        printf("%-13s %8s | %8s | %8s | %6s\n", "text", "size", "GB/s",
               "memcpy", "/mc");
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            for (size_t s = 0; s < sizeof usizes / sizeof usizes[0]; s++) {
                buf_case bc = {xmalloc(usizes[s]), xmalloc(usizes[s]), usizes[s]};
                fill(bc.a, bc.n, kinds[k].kind);
                double tu = measure(utf8_iter, &bc);
                double tc = measure(plain_memcpy_iter, &bc);
                printf("%-13s %8zu | %8.2f | %8.2f | %6.3f\n", kinds[k].name,
                       bc.n, (double)bc.n / tu / 1e9, (double)bc.n / tc / 1e9,
                       tc / tu);
                free(bc.a);
                free(bc.b);
            }
        }
        bench_utf8_impls();
    }
}

/* ------------------------------------------------------------------------
 * Send path.
 * ---------------------------------------------------------------------- */
/* A buffered entropy source: the OS CSPRNG read 4 KiB at a time. */
typedef struct entropy_pool {
    uint8_t buf[4096];
    size_t pos;
} entropy_pool;

static int pooled_entropy(uint8_t *out, size_t len, void *user)
{
    entropy_pool *p = user;
    if (len > sizeof p->buf) return wsp_entropy_system(out, len, NULL);
    if (sizeof p->buf - p->pos < len) {
        if (wsp_entropy_system(p->buf, sizeof p->buf, NULL) != 0) return -1;
        p->pos = 0;
    }
    memcpy(out, p->buf + p->pos, len);
    p->pos += len;
    return 0;
}

typedef struct send_case {
    wsp_conn *conn;
    uint8_t *payload;
    uint8_t *out;
    size_t len;
    size_t cap;
    int zerocopy;
} send_case;

static void encode_iter(void *vctx, size_t iters)
{
    (void)vctx;
    uint8_t out[WSP_MAX_FRAME_HEADER];
    size_t total = 0;
    for (size_t it = 0; it < iters; it++) {
        wsp_frame_header h;
        size_t n = 0;
        h.fin = 1;
        h.rsv = 0;
        h.opcode = WSP_OP_BINARY;
        h.masked = 0;
        h.payload_len = (uint64_t)(it & 0xFFFFF);
        wsp_frame_encode_header(&h, out, sizeof out, &n);
        total += n + out[1];
        __asm__ __volatile__("" : : "r"(out) : "memory");
    }
    g_sink += total;
}

static void parse_hdr_iter(void *vctx, size_t iters)
{
    (void)vctx;
    static const uint8_t hdr[] = {0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4};
    uint64_t total = 0;
    for (size_t it = 0; it < iters; it++) {
        wsp_frame_header h;
        __asm__ __volatile__("" : : "r"(hdr) : "memory");
        if (wsp_frame_parse_header(hdr, sizeof hdr, &h) != WSP_OK) die("parse");
        total += h.payload_len;
    }
    g_sink += total;
}

static void send_iter(void *vctx, size_t iters)
{
    send_case *sc = vctx;
    size_t total = 0;
    for (size_t it = 0; it < iters; it++) {
        size_t n = 0;
        int r;
        if (sc->zerocopy)
            r = wsp_conn_send_zerocopy(sc->conn, WSP_OP_BINARY, sc->payload,
                                       sc->len, 0, sc->out, &n);
        else
            r = wsp_conn_send(sc->conn, WSP_OP_BINARY, sc->payload, sc->len, 0,
                              sc->out, sc->cap, &n);
        if (r != WSP_OK) die(wsp_strerror(r));
        total += n;
        __asm__ __volatile__("" : : "r"(sc->out) : "memory");
    }
    g_sink += total;
}

static void bench_send(void)
{
    static entropy_pool pool;
    printf("\n## Send path\n\n");
    printf("%-52s %10s %10s\n", "operation", "ns/frame", "GB/s");
    {
        double t = measure(encode_iter, NULL);
        printf("%-52s %10.2f %10s\n", "wsp_frame_encode_header (server)", t * 1e9, "-");
        t = measure(parse_hdr_iter, NULL);
        printf("%-52s %10.2f %10s\n", "wsp_frame_parse_header (masked, 16-bit len)",
               t * 1e9, "-");
    }
    static const struct {
        const char *name;
        wsp_role role;
        int pooled;
        int zerocopy;
        size_t len;
    } rows[] = {
        {"server wsp_conn_send 16 B", WSP_ROLE_SERVER, 0, 0, 16},
        {"server wsp_conn_send 1 KiB", WSP_ROLE_SERVER, 0, 0, 1024},
        {"server wsp_conn_send 1 MiB (header + memcpy)", WSP_ROLE_SERVER, 0, 0, 1048576},
        {"server wsp_conn_send_zerocopy 16 B", WSP_ROLE_SERVER, 0, 1, 16},
        {"server wsp_conn_send_zerocopy 1 MiB", WSP_ROLE_SERVER, 0, 1, 1048576},
        {"client wsp_conn_send 16 B, default keys", WSP_ROLE_CLIENT, 0, 0, 16},
        {"client wsp_conn_send 16 B, pooled entropy", WSP_ROLE_CLIENT, 1, 0, 16},
        {"client wsp_conn_send 16 B, OS entropy per frame", WSP_ROLE_CLIENT, 2, 0, 16},
        {"client wsp_conn_send 1 KiB, default keys", WSP_ROLE_CLIENT, 0, 0, 1024},
        {"client wsp_conn_send 1 KiB, pooled entropy", WSP_ROLE_CLIENT, 1, 0, 1024},
        {"client wsp_conn_send 1 MiB, default keys", WSP_ROLE_CLIENT, 0, 0, 1048576},
        {"client wsp_conn_send_zerocopy 16 B, default keys", WSP_ROLE_CLIENT, 0, 1, 16},
        {"client wsp_conn_send_zerocopy 16 B, pooled entropy", WSP_ROLE_CLIENT, 1, 1, 16},
        {"client wsp_conn_send_zerocopy 1 MiB (masks in place)", WSP_ROLE_CLIENT, 0, 1, 1048576},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        send_case sc;
        wsp_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.role = rows[i].role;
        cfg.start_open = 1;
        if (rows[i].pooled == 1) {
            cfg.entropy = pooled_entropy;
            cfg.entropy_user = &pool;
            pool.pos = sizeof pool.buf;
        } else if (rows[i].pooled == 2) {
            cfg.entropy = wsp_entropy_system; /* 0.1's default: a system call a key */
        }
        memset(&sc, 0, sizeof sc);
        if (wsp_conn_new(&cfg, &sc.conn) != WSP_OK) die("conn");
        sc.len = rows[i].len;
        sc.payload = xmalloc(sc.len);
        fill(sc.payload, sc.len, P_BINARY);
        if (wsp_conn_send_bound(sc.conn, sc.len, &sc.cap) != WSP_OK) die("send bound");
        if (sc.cap < WSP_MAX_FRAME_HEADER) sc.cap = WSP_MAX_FRAME_HEADER;
        sc.out = xmalloc(sc.cap);
        sc.zerocopy = rows[i].zerocopy;
        double t = measure(send_iter, &sc);
        if (sc.len >= 65536)
            printf("%-52s %10.1f %10.2f\n", rows[i].name, t * 1e9,
                   (double)sc.len / t / 1e9);
        else
            printf("%-52s %10.2f %10.2f\n", rows[i].name, t * 1e9,
                   (double)sc.len / t / 1e9);
        wsp_conn_free(sc.conn);
        free(sc.payload);
        free(sc.out);
    }
}

/* ------------------------------------------------------------------------
 * Handshake.
 * ---------------------------------------------------------------------- */
static const char browser_request[] =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com:9001\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://server.example.com:9001\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

typedef struct hs_case {
    uint8_t *req;
    size_t req_len;
    uint8_t out[512];
    wsp_conn *conn;
} hs_case;

static void hs_full_iter(void *vctx, size_t iters)
{
    hs_case *hc = vctx;
    size_t total = 0;
    for (size_t it = 0; it < iters; it++) {
        size_t used = 0, n = 0;
        wsp_event ev;
        if (wsp_conn_init(hc->conn, NULL) != WSP_OK) die("init");
        if (wsp_conn_recv(hc->conn, hc->req, hc->req_len, &used, &ev) != WSP_OK ||
            ev.type != WSP_EV_REQUEST || ev.u.request.status != WSP_OK || used != hc->req_len)
            die("request not accepted");
        if (wsp_conn_accept(hc->conn, NULL, hc->out, sizeof hc->out, &n) != WSP_OK)
            die("accept");
        total += n;
    }
    g_sink += total;
}

static void hs_parse_iter(void *vctx, size_t iters)
{
    hs_case *hc = vctx;
    size_t total = 0;
    for (size_t it = 0; it < iters; it++) {
        wsp_request req;
        size_t used = 0;
        if (wsp_http_parse_request((const char *)hc->req, hc->req_len, 0, 0,
                                   &req, &used) != WSP_OK)
            die("parse");
        total += used + req.headers.raw_len;
    }
    g_sink += total;
}

static void hs_validate_iter(void *vctx, size_t iters)
{
    hs_case *hc = vctx;
    wsp_request req;
    size_t used = 0, total = 0;
    if (wsp_http_parse_request((const char *)hc->req, hc->req_len, 0, 0, &req,
                               &used) != WSP_OK)
        die("parse");
    for (size_t it = 0; it < iters; it++) {
        wsp_upgrade_info info;
        if (wsp_upgrade_validate(&req, NULL, &info) != WSP_OK) die("validate");
        total += (unsigned char)info.accept[0];
    }
    g_sink += total;
}

static void hs_accept_key_iter(void *vctx, size_t iters)
{
    (void)vctx;
    size_t total = 0;
    for (size_t it = 0; it < iters; it++) {
        char out[WSP_ACCEPT_LEN + 1];
        wsp_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
        total += (unsigned char)out[0];
    }
    g_sink += total;
}

static void hs_build_iter(void *vctx, size_t iters)
{
    hs_case *hc = vctx;
    size_t total = 0;
    for (size_t it = 0; it < iters; it++) {
        size_t n = 0;
        if (wsp_upgrade_build_response("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", NULL,
                                       hc->out, sizeof hc->out, &n) != WSP_OK)
            die("build");
        total += n;
    }
    g_sink += total;
}

static void bench_handshake(void)
{
    hs_case hc;
    memset(&hc, 0, sizeof hc);
    hc.req_len = sizeof browser_request - 1;
    hc.req = xmalloc(hc.req_len);
    memcpy(hc.req, browser_request, hc.req_len);
    hc.conn = xmalloc(wsp_conn_size());
    printf("\n## Handshake (typical browser request, %zu bytes)\n\n", hc.req_len);
    printf("%-58s %10s %12s\n", "operation", "ns", "per second");
    static const struct {
        const char *name;
        iter_fn fn;
    } rows[] = {
        {"full: init + recv (parse, validate) + accept (101)", hs_full_iter},
        {"wsp_http_parse_request", hs_parse_iter},
        {"wsp_upgrade_validate (includes the accept key)", hs_validate_iter},
        {"wsp_accept_key (SHA-1 + base64)", hs_accept_key_iter},
        {"wsp_upgrade_build_response", hs_build_iter},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double t = measure(rows[i].fn, &hc);
        printf("%-58s %10.1f %10.2f M\n", rows[i].name, t * 1e9, 1e-6 / t);
    }
    free(hc.req);
    free(hc.conn);
}

/* ------------------------------------------------------------------------
 * An HTTP head that arrives in pieces.
 * ---------------------------------------------------------------------- */
#define HEAD_BYTES WSP_DEFAULT_MAX_HEADER_BYTES

typedef struct head_case {
    char *head; /* HEAD_BYTES bytes: a request of the largest default size */
    size_t at;  /* the per-call rows: bytes buffered before the call */
    wsp_http_progress before; /* the progress after `at` bytes came one by one */
} head_case;

/* A WebSocket request padded with 160-byte header lines (cookie-like) to
 * exactly HEAD_BYTES, within the default header count. */
static char *make_big_head(void)
{
    char *h = xmalloc(HEAD_BYTES + 1);
    size_t n = (size_t)snprintf(h, HEAD_BYTES + 1,
                                "GET /chat HTTP/1.1\r\nHost: server.example.com\r\n"
                                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n");
    for (int i = 0; n < HEAD_BYTES - 2; i++) {
        size_t room = HEAD_BYTES - 2 - n;
        size_t line = room >= 2 * 160 ? 160 : room; /* the last takes the rest */
        int k = snprintf(h + n, line + 1, "X-Filler-%02d: ", i);
        if (k < 0) die("snprintf");
        memset(h + n + (size_t)k, 'v', line - 2 - (size_t)k);
        memcpy(h + n + line - 2, "\r\n", 2);
        n += line;
    }
    memcpy(h + n, "\r\n", 2);
    h[HEAD_BYTES] = 0;
    wsp_request req;
    size_t used = 0;
    if (wsp_http_parse_request(h, HEAD_BYTES, 0, 0, &req, &used) != WSP_OK ||
        used != HEAD_BYTES)
        die("big head does not parse");
    return h;
}

static void head_whole_iter(void *vctx, size_t iters)
{
    head_case *hc = vctx;
    size_t total = 0;
    for (size_t it = 0; it < iters; it++) {
        wsp_request req;
        size_t used = 0;
        if (wsp_http_parse_request(hc->head, HEAD_BYTES, 0, 0, &req, &used) != WSP_OK)
            die("parse");
        total += used;
    }
    g_sink += total;
}

static void head_bytewise_resumed_iter(void *vctx, size_t iters)
{
    head_case *hc = vctx;
    size_t total = 0;
    for (size_t it = 0; it < iters; it++) {
        wsp_http_progress prog;
        memset(&prog, 0, sizeof prog);
        wsp_request req;
        size_t used = 0;
        int rc = WSP_ERR_NEED_MORE;
        for (size_t len = 1; len <= HEAD_BYTES && rc == WSP_ERR_NEED_MORE; len++)
            rc = wsp_http_resume_request(hc->head, len, 0, 0, &prog, &req, &used);
        if (rc != WSP_OK) die("resumed parse");
        total += used;
    }
    g_sink += total;
}

static void head_bytewise_scratch_iter(void *vctx, size_t iters)
{
    head_case *hc = vctx;
    size_t total = 0;
    for (size_t it = 0; it < iters; it++) {
        wsp_request req;
        size_t used = 0;
        int rc = WSP_ERR_NEED_MORE;
        for (size_t len = 1; len <= HEAD_BYTES && rc == WSP_ERR_NEED_MORE; len++)
            rc = wsp_http_parse_request(hc->head, len, 0, 0, &req, &used);
        if (rc != WSP_OK) die("parse from scratch");
        total += used;
    }
    g_sink += total;
}

/* One call that brings byte `at` + 1, with `at` bytes already buffered. */
static void head_call_resumed_iter(void *vctx, size_t iters)
{
    head_case *hc = vctx;
    size_t total = 0;
    for (size_t it = 0; it < iters; it++) {
        wsp_http_progress prog = hc->before;
        wsp_request req;
        size_t used = 0;
        if (wsp_http_resume_request(hc->head, hc->at + 1, 0, 0, &prog, &req,
                                    &used) != WSP_ERR_NEED_MORE)
            die("resumed call");
        total += prog.searched;
    }
    g_sink += total;
}

static void head_call_scratch_iter(void *vctx, size_t iters)
{
    head_case *hc = vctx;
    size_t total = 0;
    for (size_t it = 0; it < iters; it++) {
        wsp_request req;
        size_t used = 0;
        if (wsp_http_parse_request(hc->head, hc->at + 1, 0, 0, &req, &used) !=
            WSP_ERR_NEED_MORE)
            die("call from scratch");
        total += hc->at;
    }
    g_sink += total;
}

static void head_prepare(head_case *hc, size_t at)
{
    /* Mid-line, so that the measured call completes no line. */
    while (hc->head[at] == '\n' || hc->head[at] == '\r') at++;
    hc->at = at;
    memset(&hc->before, 0, sizeof hc->before);
    for (size_t len = 1; len <= at; len++) {
        wsp_request req;
        size_t used = 0;
        if (wsp_http_resume_request(hc->head, len, 0, 0, &hc->before, &req,
                                    &used) != WSP_ERR_NEED_MORE)
            die("prepare");
    }
}

static void bench_head(void)
{
    head_case hc;
    memset(&hc, 0, sizeof hc);
    hc.head = make_big_head();
    printf("\n## HTTP head arriving in pieces (%u-byte request head)\n\n",
           (unsigned)HEAD_BYTES);
    printf("%-58s %12s %10s\n", "operation", "ns", "x whole");
    double whole = measure(head_whole_iter, &hc);
    double resumed = measure(head_bytewise_resumed_iter, &hc);
    double scratch = measure(head_bytewise_scratch_iter, &hc);
    printf("%-58s %12.1f %10.2f\n", "whole head, one call", whole * 1e9, 1.0);
    printf("%-58s %12.1f %10.2f\n", "1 byte per call, resumed (8192 calls)",
           resumed * 1e9, resumed / whole);
    printf("%-58s %12.1f %10.2f\n", "1 byte per call, from scratch (8192 calls)",
           scratch * 1e9, scratch / whole);

    printf("\n%-58s %12s %10s\n", "one call adding 1 byte", "ns", "7K / 1K");
    static const struct {
        const char *name;
        iter_fn fn;
    } calls[] = {
        {"resumed", head_call_resumed_iter},
        {"from scratch", head_call_scratch_iter},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        head_prepare(&hc, 1024);
        size_t small_at = hc.at;
        double small = measure(calls[i].fn, &hc);
        head_prepare(&hc, 7 * 1024);
        size_t big_at = hc.at;
        double big = measure(calls[i].fn, &hc);
        char name[96];
        snprintf(name, sizeof name, "%s, %zu bytes buffered", calls[i].name, small_at);
        printf("%-58s %12.1f %10s\n", name, small * 1e9, "");
        snprintf(name, sizeof name, "%s, %zu bytes buffered", calls[i].name, big_at);
        printf("%-58s %12.1f %10.2f\n", name, big * 1e9, big / small);
    }
    free(hc.head);
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            g_time = 0.05;
            g_reps = 1;
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            g_reps = atoi(argv[++i]);
            if (g_reps < 1) g_reps = 1;
        } else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) {
            g_time = atof(argv[++i]);
            if (g_time <= 0) g_time = 0.25;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            g_only_size = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc) {
            g_only_kind = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: bench_micro [--quick] [--reps N] [--time SECONDS] "
                    "[--only recv|unmask|utf8|send|handshake|head] [--size BYTES] "
                    "[--kind binary|text|utf8mix]\n");
            return 2;
        }
    }
    printf("libwsproto %s, wsp_conn_size() = %zu bytes", wsp_version()->string,
           wsp_conn_size());
#ifdef HAVE_WSLAY
    printf(", wslay (header says %s)\n", WSLAY_VERSION);
#else
    printf(", built without wslay\n");
#endif
    printf("best of %d runs of %.2f s each\n", g_reps, g_time);
    if (!only || strcmp(only, "recv") == 0) bench_recv();
    if (!only || strcmp(only, "unmask") == 0 || strcmp(only, "utf8") == 0)
        bench_unmask_utf8(!only || strcmp(only, "unmask") == 0,
                          !only || strcmp(only, "utf8") == 0);
    if (!only || strcmp(only, "send") == 0) bench_send();
    if (!only || strcmp(only, "handshake") == 0) bench_handshake();
    if (!only || strcmp(only, "head") == 0) bench_head();
    return 0;
}
