/* permessage-deflate on a connection (src/deflate.c through src/conn.c):
 * the RFC 7692 7.2.3 examples byte for byte, RSV1 rules, bounded inflate,
 * compression bombs, context takeover, and round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_support.h"
#include "wsproto.h"

typedef struct peer {
    wsp_conn *conn;
    wsp_test_alloc counter;
    wsp_allocator alloc;
    wsp_deflate_config dcfg;
    uint64_t seed;
} peer;

/* An open connection with permessage-deflate on, as if negotiated with
 * the given parameters. */
static void peer_open(peer *p, wsp_role role, const wsp_deflate_params *agreed,
                      uint64_t max_message, uint32_t buffer_size)
{
    memset(p, 0, sizeof *p);
    p->counter.fail_after = -1;
    p->alloc.malloc_fn = wsp_test_malloc;
    p->alloc.realloc_fn = wsp_test_realloc;
    p->alloc.free_fn = wsp_test_free;
    p->alloc.user = &p->counter;
    p->dcfg.buffer_size = buffer_size;
    p->seed = 7;
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = role;
    cfg.start_open = 1;
    cfg.max_message = max_message;
    cfg.allocator = &p->alloc;
    cfg.entropy = wsp_test_entropy;
    cfg.entropy_user = &p->seed;
    assert_int_equal(wsp_conn_new(&cfg, &p->conn), WSP_OK);
    wsp_deflate_params none;
    memset(&none, 0, sizeof none);
    assert_int_equal(wsp_conn_enable_deflate(p->conn, &p->dcfg, agreed ? agreed : &none),
                     WSP_OK);
    assert_true(wsp_conn_deflate_active(p->conn));
}

static void peer_close(peer *p)
{
    wsp_conn_free(p->conn);
    assert_int_equal(p->counter.live_blocks, 0);
    assert_int_equal(p->counter.size_mismatches, 0);
}

typedef struct received {
    size_t len;
    int messages;
    int first_seen;
    wsp_opcode opcode;
    int status;
    uint16_t close_code;
    uint64_t fail_offset;
    size_t pings;
    size_t len_at_ping; /* data received before the (last) ping */
    size_t events;
    size_t max_piece;
    uint8_t data[1 << 20]; /* last: feed() clears everything before it */
} received;

/* Feeds `in` in pieces of at most `chunk` bytes, honouring the contract
 * (unconsumed bytes come again, and the loop runs until WSP_EV_NONE even
 * with no input left), and collects the data. */
static void feed(peer *p, const uint8_t *in, size_t n, size_t chunk, received *r)
{
    uint8_t buf[1 << 16];
    size_t have = 0, off = 0;
    memset(r, 0, offsetof(received, data));
    r->len = 0;
    for (;;) {
        size_t take = n - off < chunk ? n - off : chunk;
        assert_true(have + take <= sizeof buf);
        memcpy(buf + have, in + off, take);
        have += take;
        off += take;
        size_t start = 0;
        for (;;) {
            wsp_event ev;
            size_t used = 0;
            int rc = wsp_conn_recv(p->conn, buf + start, have - start, &used, &ev);
            assert_true(used <= have - start);
            start += used;
            if (rc != WSP_OK) {
                r->status = rc;
                if (ev.type == WSP_EV_FAILURE) {
                    r->close_code = ev.u.failure.close_code;
                    r->fail_offset = ev.u.failure.offset;
                }
                return;
            }
            if (ev.type == WSP_EV_NONE) break;
            if (ev.type == WSP_EV_PING) r->pings++, r->len_at_ping = r->len;
            if (ev.type != WSP_EV_DATA) continue;
            r->events++;
            if (ev.u.data.len > r->max_piece) r->max_piece = ev.u.data.len;
            if (ev.u.data.flags & WSP_DATA_FIRST) r->first_seen++, r->opcode = ev.u.data.opcode;
            assert_true(r->len + ev.u.data.len <= sizeof r->data);
            if (ev.u.data.len) memcpy(r->data + r->len, ev.u.data.payload, ev.u.data.len);
            r->len += ev.u.data.len;
            if (ev.u.data.flags & WSP_DATA_LAST) r->messages++;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        if (off == n) break;
    }
}

static size_t hex(const char *h, uint8_t *out) { return wsp_test_hex(h, out, 4096); }

/* RFC 7692 7.2.3.1: "Hello" in one compressed frame, and in two fragments. */
static void test_rfc_hello(void **state)
{
    (void)state;
    static const char *const streams[] = {
        "c1 07 f2 48 cd c9 c9 07 00",
        "41 03 f2 48 cd 80 04 c9 c9 07 00",
        /* 7.2.3.3: the same in an uncompressed DEFLATE block. */
        "c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00",
        /* 7.2.3.4: a BFINAL block with no context takeover needed. */
        "c1 08 f3 48 cd c9 c9 07 00 00",
    };
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++) {
        for (size_t chunk = 1; chunk <= 13; chunk++) {
            peer p;
            peer_open(&p, WSP_ROLE_CLIENT, NULL, 0, 0);
            uint8_t in[64];
            size_t n = hex(streams[i], in);
            received *r = malloc(sizeof *r);
            feed(&p, in, n, chunk, r);
            assert_int_equal(r->status, WSP_OK);
            assert_int_equal(r->messages, 1);
            assert_int_equal(r->opcode, WSP_OP_TEXT);
            assert_int_equal(r->len, 5);
            assert_memory_equal(r->data, "Hello", 5);
            free(r);
            peer_close(&p);
        }
    }
}

/* RFC 7692 7.2.3.2: with context takeover the second "Hello" refers back to
 * the first; the sender must produce exactly these bytes. */
static void test_rfc_context_takeover(void **state)
{
    (void)state;
    peer p;
    peer_open(&p, WSP_ROLE_SERVER, NULL, 0, 0);
    uint8_t out[64], want[64];
    size_t n = 0;
    assert_int_equal(wsp_conn_send(p.conn, WSP_OP_TEXT, (const uint8_t *)"Hello", 5, 0,
                                   out, sizeof out, &n), WSP_OK);
    size_t wn = hex("c1 07 f2 48 cd c9 c9 07 00", want);
    assert_int_equal(n, wn);
    assert_memory_equal(out, want, wn);
    assert_int_equal(wsp_conn_send(p.conn, WSP_OP_TEXT, (const uint8_t *)"Hello", 5, 0,
                                   out, sizeof out, &n), WSP_OK);
    wn = hex("c1 05 f2 00 11 00 00", want);
    assert_int_equal(n, wn);
    assert_memory_equal(out, want, wn);
    peer_close(&p);

    /* And a receiver decodes the pair. */
    peer q;
    peer_open(&q, WSP_ROLE_CLIENT, NULL, 0, 0);
    uint8_t in[64];
    size_t in_n = hex("c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00", in);
    received *r = malloc(sizeof *r);
    feed(&q, in, in_n, in_n, r);
    assert_int_equal(r->status, WSP_OK);
    assert_int_equal(r->messages, 2);
    assert_memory_equal(r->data, "HelloHello", 10);
    free(r);
    peer_close(&q);
}

/* server_no_context_takeover: every message compresses on its own. */
static void test_no_context_takeover(void **state)
{
    (void)state;
    wsp_deflate_params agreed;
    memset(&agreed, 0, sizeof agreed);
    agreed.server_no_context_takeover = 1;
    peer p;
    peer_open(&p, WSP_ROLE_SERVER, &agreed, 0, 0);
    uint8_t out[64], want[64];
    size_t wn = hex("c1 07 f2 48 cd c9 c9 07 00", want);
    for (int i = 0; i < 3; i++) {
        size_t n = 0;
        assert_int_equal(wsp_conn_send(p.conn, WSP_OP_TEXT, (const uint8_t *)"Hello", 5,
                                       0, out, sizeof out, &n), WSP_OK);
        assert_int_equal(n, wn);
        assert_memory_equal(out, want, wn);
    }
    peer_close(&p);
}

static void expect_failure(const char *stream_hex, wsp_role role, int status,
                           uint16_t code)
{
    peer p;
    peer_open(&p, role, NULL, 0, 0);
    uint8_t in[256];
    size_t n = hex(stream_hex, in);
    received *r = malloc(sizeof *r);
    feed(&p, in, n, n, r);
    assert_int_equal(r->status, status);
    assert_int_equal(r->close_code, code);
    free(r);
    peer_close(&p);
}

/* RFC 7692 6: RSV1 only on the first frame of a data message. */
static void test_rsv1_rules(void **state)
{
    (void)state;
    /* On a continuation frame. */
    expect_failure("41 03 f2 48 cd c0 04 c9 c9 07 00", WSP_ROLE_CLIENT,
                   WSP_ERR_PROTO_RSV, 1002);
    /* On a ping. */
    expect_failure("c9 00", WSP_ROLE_CLIENT, WSP_ERR_PROTO_RSV, 1002);
    /* RSV2 and RSV3 are still reserved. */
    expect_failure("a1 01 41", WSP_ROLE_CLIENT, WSP_ERR_PROTO_RSV, 1002);
    expect_failure("91 01 41", WSP_ROLE_CLIENT, WSP_ERR_PROTO_RSV, 1002);
    /* Corrupt DEFLATE data (a reserved block type 11). */
    expect_failure("c1 02 07 00", WSP_ROLE_CLIENT, WSP_ERR_PROTO_EXTENSION, 1002);

    /* Without the extension RSV1 is a protocol error as before. */
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    cfg.start_open = 1;
    wsp_conn *c;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    uint8_t in[16];
    size_t n = hex("c1 07 f2 48 cd c9 c9 07 00", in), used;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(c, in, n, &used, &ev), WSP_ERR_PROTO_RSV);
    assert_int_equal(ev.u.failure.close_code, 1002);
    wsp_conn_free(c);
}

/* A small input that inflates past max_message fails with 1009 having
 * delivered no more than the limit, and never allocates the whole. */
static void test_compression_bomb(void **state)
{
    (void)state;
    /* 1 MiB of zeros, compressed by a sender. */
    peer s;
    peer_open(&s, WSP_ROLE_SERVER, NULL, 0, 0);
    uint8_t *zeros = calloc(1, 1 << 20);
    size_t cap = wsp_test_send_bound(s.conn, 1 << 20);
    uint8_t *frame = malloc(cap);
    size_t n = 0;
    assert_int_equal(wsp_conn_send(s.conn, WSP_OP_BINARY, zeros, 1 << 20, 0, frame,
                                   cap, &n), WSP_OK);
    assert_true(n < 2048); /* zeros compress about 1000:1 */
    peer_close(&s);

    peer c;
    peer_open(&c, WSP_ROLE_CLIENT, NULL, 64 * 1024, 4096);
    received *r = malloc(sizeof *r);
    feed(&c, frame, n, n, r);
    assert_int_equal(r->status, WSP_ERR_PROTO_TOO_BIG);
    assert_int_equal(r->close_code, 1009);
    assert_true(r->len <= 64 * 1024);
    assert_true(r->max_piece <= 4096);
    /* Memory held: the state, its 4 KiB buffer and zlib's inflate state. */
    assert_true(c.counter.live_bytes < 64 * 1024);
    free(r);
    peer_close(&c);

    /* Exactly at the limit it passes. */
    peer_open(&c, WSP_ROLE_CLIENT, NULL, 1 << 20, 4096);
    r = malloc(sizeof *r);
    feed(&c, frame, n, 100, r);
    assert_int_equal(r->status, WSP_OK);
    assert_int_equal(r->messages, 1);
    assert_int_equal(r->len, 1 << 20);
    assert_true(r->events >= (1 << 20) / 4096);
    assert_memory_equal(r->data, zeros, 1 << 20);
    free(r);
    peer_close(&c);
    free(frame);
    free(zeros);
}

/* Round trips through a tiny inflate buffer, split at every chunk size,
 * with context takeover across messages: what comes out is what went in. */
static void test_round_trip(void **state)
{
    (void)state;
    uint64_t rng = wsp_test_rng_seed(42);
    for (int round = 0; round < 40; round++) {
        int client_sends = round & 1;
        peer tx, rx;
        peer_open(&tx, client_sends ? WSP_ROLE_CLIENT : WSP_ROLE_SERVER, NULL, 0, 0);
        peer_open(&rx, client_sends ? WSP_ROLE_SERVER : WSP_ROLE_CLIENT, NULL, 0,
                  (uint32_t)(1 + wsp_test_rng_below(&rng, 300)));
        static uint8_t msg[3][20000];
        size_t lens[3];
        uint8_t wire[70000];
        size_t wn = 0;
        for (int m = 0; m < 3; m++) {
            lens[m] = wsp_test_rng_below(&rng, sizeof msg[m]);
            int text = m == 1;
            for (size_t i = 0; i < lens[m]; i++)
                msg[m][i] = text ? (uint8_t)('a' + wsp_test_rng_below(&rng, 4))
                                 : (uint8_t)wsp_test_rng_below(&rng, m == 0 ? 3 : 256);
            /* Sent in up to three pieces with WSP_SEND_MORE. */
            size_t a = lens[m] ? wsp_test_rng_below(&rng, lens[m] + 1) : 0;
            size_t cuts[3] = {a, lens[m] - a, 0};
            size_t off = 0;
            for (int k = 0; k < 2; k++) {
                size_t n = 0;
                unsigned flags = k == 0 ? WSP_SEND_MORE : 0;
                assert_int_equal(wsp_conn_send(tx.conn, text ? WSP_OP_TEXT : WSP_OP_BINARY,
                                               msg[m] + off, cuts[k], flags, wire + wn,
                                               sizeof wire - wn, &n), WSP_OK);
                wn += n;
                off += cuts[k];
            }
        }
        received *r = malloc(sizeof *r);
        feed(&rx, wire, wn, 1 + wsp_test_rng_below(&rng, 2000), r);
        assert_int_equal(r->status, WSP_OK);
        assert_int_equal(r->messages, 3);
        size_t off = 0;
        for (int m = 0; m < 3; m++) {
            assert_memory_equal(r->data + off, msg[m], lens[m]);
            off += lens[m];
        }
        assert_int_equal(r->len, off);
        free(r);
        peer_close(&tx);
        peer_close(&rx);
    }
}

/* Senders may cut a compressed message anywhere, so a fragment can end
 * where zlib has taken all of its input but still holds output: that
 * output belongs before the next frame, a control frame in between
 * included, however the bytes arrived. */
static void test_fragment_output_before_next_frame(void **state)
{
    (void)state;
    static uint8_t msg[600];
    uint64_t rng = wsp_test_rng_seed(5);
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)('a' + (i < 300 ? wsp_test_rng_below(&rng, 4) : i % 3));
    peer tx;
    peer_open(&tx, WSP_ROLE_SERVER, NULL, 0, 0);
    uint8_t one[4096];
    size_t one_len = 0;
    assert_int_equal(wsp_conn_send(tx.conn, WSP_OP_TEXT, msg, sizeof msg, 0, one,
                                   sizeof one, &one_len), WSP_OK);
    peer_close(&tx);
    /* unmasked, so the header is 2 or 4 bytes: the payload follows it */
    size_t hl = (one[1] & 0x7Fu) == 126 ? 4 : 2;
    const uint8_t *z = one + hl;
    size_t zn = one_len - hl;
    assert_true(zn > 4);
    static const uint32_t buffers[] = {1, 2, 16, 300};
    for (size_t cut = 1; cut < zn; cut++) {
        /* the compressed payload in two frames, a ping between them */
        uint8_t wire[4096];
        size_t wn = 0;
        size_t parts[2] = {cut, zn - cut};
        for (int k = 0; k < 2; k++) {
            wire[wn++] = k == 0 ? 0x41 : 0x80;
            if (parts[k] < 126) {
                wire[wn++] = (uint8_t)parts[k];
            } else {
                wire[wn++] = 126;
                wire[wn++] = (uint8_t)(parts[k] >> 8);
                wire[wn++] = (uint8_t)parts[k];
            }
            memcpy(wire + wn, z + (k ? cut : 0), parts[k]);
            wn += parts[k];
            if (k == 0) wire[wn++] = 0x89, wire[wn++] = 0x00;
        }
        for (size_t b = 0; b < sizeof buffers / sizeof buffers[0]; b++) {
            size_t before = SIZE_MAX;
            for (size_t chunk = 1; chunk <= wn; chunk = chunk < 4 ? chunk + 1 : chunk * 3) {
                peer rx;
                peer_open(&rx, WSP_ROLE_CLIENT, NULL, 0, buffers[b]);
                received *r = malloc(sizeof *r);
                feed(&rx, wire, wn, chunk, r);
                assert_int_equal(r->status, WSP_OK);
                assert_int_equal(r->messages, 1);
                assert_int_equal(r->len, sizeof msg);
                assert_memory_equal(r->data, msg, sizeof msg);
                assert_int_equal(r->pings, 1);
                /* all that the first fragment inflates to, however fed */
                if (before == SIZE_MAX) before = r->len_at_ping;
                assert_int_equal(r->len_at_ping, before);
                free(r);
                peer_close(&rx);
            }
            /* and the same with a buffer that holds all of it */
            peer whole;
            peer_open(&whole, WSP_ROLE_CLIENT, NULL, 0, 1u << 16);
            received *r = malloc(sizeof *r);
            feed(&whole, wire, wn, wn, r);
            assert_int_equal(r->len_at_ping, before);
            free(r);
            peer_close(&whole);
        }
    }
}

/* Corrupt data in a fragment that filled the buffer is found before the
 * next frame's header is looked at (found by fuzz_deflate: fed whole, the
 * RSV error of the second header came first). */
static void test_fragment_error_before_next_header(void **state)
{
    (void)state;
    uint8_t in[64];
    size_t n = hex("41 07 f2 48 16 21 38 00 50 61 00 00 00", in);
    for (size_t chunk = 1; chunk <= n; chunk++) {
        peer rx;
        peer_open(&rx, WSP_ROLE_CLIENT, NULL, 0, 1);
        received *r = malloc(sizeof *r);
        feed(&rx, in, n, chunk, r);
        assert_int_equal(r->status, WSP_ERR_PROTO_EXTENSION);
        assert_int_equal(r->close_code, 1002);
        free(r);
        peer_close(&rx);
    }
}

/* A failure inside a compressed message is reported at the stream offset of
 * the message's first frame header (wsp_failure_event.offset), however the
 * input is split: here the corrupt message starts at offset 3, after a
 * one-byte uncompressed message (81 01 61). */
static void test_compressed_failure_offset_is_first_frame(void **state)
{
    (void)state;
    uint8_t in[64];
    size_t n = hex("81 01 61 41 07 f2 48 16 21 38 00 50 61 00 00 00", in);
    for (size_t chunk = 1; chunk <= n; chunk++) {
        peer rx;
        peer_open(&rx, WSP_ROLE_CLIENT, NULL, 0, 1);
        received *r = malloc(sizeof *r);
        assert_non_null(r);
        feed(&rx, in, n, chunk, r);
        int status = r->status;
        uint64_t offset = r->fail_offset;
        free(r);
        peer_close(&rx);
        assert_int_equal(status, WSP_ERR_PROTO_EXTENSION);
        if (offset != 3)
            print_error("chunk %zu: offset %llu\n", chunk, (unsigned long long)offset);
        assert_int_equal(offset, 3);
    }
}

/* Per-message opt-out, and an uncompressed message between compressed ones. */
static void test_no_compress_flag(void **state)
{
    (void)state;
    peer p;
    peer_open(&p, WSP_ROLE_SERVER, NULL, 0, 0);
    uint8_t out[64];
    size_t n = 0;
    assert_int_equal(wsp_conn_send(p.conn, WSP_OP_BINARY, (const uint8_t *)"xyz", 3,
                                   WSP_SEND_NO_COMPRESS, out, sizeof out, &n), WSP_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "\x82\x03xyz", 5);
    /* A compressed message may not continue uncompressed through zero-copy. */
    assert_int_equal(wsp_conn_send(p.conn, WSP_OP_TEXT, (const uint8_t *)"ab", 2,
                                   WSP_SEND_MORE, out, sizeof out, &n), WSP_OK);
    assert_int_equal(out[0], 0x41); /* RSV1, no FIN, text */
    uint8_t payload[2] = {'c', 'd'};
    uint8_t hdr[WSP_MAX_FRAME_HEADER];
    size_t hl = 0;
    assert_int_equal(wsp_conn_send_zerocopy(p.conn, WSP_OP_TEXT, payload, 2, 0, hdr, &hl),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_conn_send(p.conn, WSP_OP_TEXT, (const uint8_t *)"cd", 2, 0, out,
                                   sizeof out, &n), WSP_OK);
    assert_int_equal(out[0], 0x80); /* continuation, FIN, no RSV1 */
    peer_close(&p);
}

/* Invalid UTF-8 inside a compressed text message still fails with 1007. */
static void test_compressed_utf8(void **state)
{
    (void)state;
    peer tx, rx;
    peer_open(&tx, WSP_ROLE_SERVER, NULL, 0, 0);
    peer_open(&rx, WSP_ROLE_CLIENT, NULL, 0, 0);
    uint8_t out[64];
    size_t n = 0;
    /* The sender does not validate what it is given. */
    assert_int_equal(wsp_conn_send(tx.conn, WSP_OP_TEXT, (const uint8_t *)"ok\xc0\xaf", 4,
                                   0, out, sizeof out, &n), WSP_OK);
    received *r = malloc(sizeof *r);
    feed(&rx, out, n, n, r);
    assert_int_equal(r->status, WSP_ERR_PROTO_UTF8);
    assert_int_equal(r->close_code, 1007);
    free(r);
    peer_close(&tx);
    peer_close(&rx);
}

/* Allocation failure while turning compression on is reported cleanly. */
static void test_alloc_failure(void **state)
{
    (void)state;
    for (long k = 0; k < 2; k++) {
        wsp_test_alloc counter = {k + 1, 0, 0, 0, 0};
        wsp_allocator alloc = {wsp_test_malloc, wsp_test_realloc, wsp_test_free, &counter};
        wsp_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.start_open = 1;
        cfg.allocator = &alloc;
        wsp_conn *c;
        assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
        wsp_deflate_params agreed;
        memset(&agreed, 0, sizeof agreed);
        assert_int_equal(wsp_conn_enable_deflate(c, NULL, &agreed), WSP_ERR_NOMEM);
        assert_false(wsp_conn_deflate_active(c));
        wsp_conn_free(c);
        assert_int_equal(counter.live_blocks, 0);
    }
}

/* A build without zlib says so instead of pretending. */
static void test_unsupported(void **state)
{
    (void)state;
    assert_int_equal(wsp_deflate_available(), 0);
    wsp_deflate_config dcfg;
    memset(&dcfg, 0, sizeof dcfg);
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.start_open = 1;
    cfg.deflate = &dcfg;
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_ERR_UNSUPPORTED);
    cfg.deflate = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    wsp_deflate_params agreed;
    memset(&agreed, 0, sizeof agreed);
    assert_int_equal(wsp_conn_enable_deflate(c, NULL, &agreed), WSP_ERR_UNSUPPORTED);
    assert_false(wsp_conn_deflate_active(c));
    wsp_conn_free(c);
}

/* Sender settings: level, memLevel and window within range are used, out of
 * range fall back to the defaults; min_size keeps short messages plain. */
static void test_sender_settings(void **state)
{
    (void)state;
    static const struct {
        int level, mem_level, bits;
    } settings[] = {{9, 9, 10}, {1, 1, 9}, {12, 10, 20}, {-1, -3, 7}};
    static uint8_t text[600];
    for (size_t i = 0; i < sizeof text; i++) text[i] = (uint8_t)("abcab"[i % 5]);
    for (size_t s = 0; s < sizeof settings / sizeof settings[0]; s++) {
        peer rx;
        peer_open(&rx, WSP_ROLE_CLIENT, NULL, 0, 0);
        wsp_test_alloc counter = {-1, 0, 0, 0, 0};
        wsp_allocator al = {wsp_test_malloc, wsp_test_realloc, wsp_test_free, &counter};
        wsp_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.role = WSP_ROLE_SERVER;
        cfg.start_open = 1;
        cfg.allocator = &al;
        wsp_conn *tx = NULL;
        assert_int_equal(wsp_conn_new(&cfg, &tx), WSP_OK);
        wsp_deflate_config dcfg;
        memset(&dcfg, 0, sizeof dcfg);
        dcfg.level = settings[s].level;
        dcfg.mem_level = settings[s].mem_level;
        dcfg.max_window_bits = settings[s].bits;
        dcfg.min_size = 8;
        wsp_deflate_params agreed;
        memset(&agreed, 0, sizeof agreed);
        assert_int_equal(wsp_conn_enable_deflate(tx, &dcfg, &agreed), WSP_OK);

        uint8_t wire[4096];
        size_t wn = 0, n = 0;
        /* Under min_size: sent plain. */
        assert_int_equal(wsp_conn_send(tx, WSP_OP_TEXT, (const uint8_t *)"short", 5, 0,
                                       wire, sizeof wire, &n), WSP_OK);
        assert_int_equal(n, 7);
        assert_int_equal(wire[0], 0x81);
        wn += n;
        /* At min_size and above: compressed, RSV1 set, smaller. */
        for (int m = 0; m < 2; m++) {
            assert_int_equal(wsp_conn_send(tx, WSP_OP_TEXT, text, sizeof text, 0,
                                           wire + wn, sizeof wire - wn, &n), WSP_OK);
            assert_int_equal(wire[wn], 0xC1);
            assert_true(n < sizeof text / 4);
            wn += n;
        }
        assert_int_equal(wsp_conn_send(tx, WSP_OP_BINARY, text, 8, 0, wire + wn,
                                       sizeof wire - wn, &n), WSP_OK);
        assert_int_equal(wire[wn], 0xC2);
        wn += n;

        received *r = malloc(sizeof *r);
        assert_non_null(r);
        feed(&rx, wire, wn, 3, r);
        assert_int_equal(r->status, WSP_OK);
        assert_int_equal(r->messages, 4);
        assert_int_equal(r->len, 5 + 2 * sizeof text + 8);
        assert_memory_equal(r->data, "short", 5);
        assert_memory_equal(r->data + 5, text, sizeof text);
        assert_memory_equal(r->data + 5 + sizeof text, text, sizeof text);
        assert_memory_equal(r->data + 5 + 2 * sizeof text, text, 8);
        free(r);
        wsp_conn_free(tx);
        assert_int_equal(counter.live_blocks, 0);
        assert_int_equal(counter.size_mismatches, 0);
        peer_close(&rx);
    }
}

/* 0.1's zero-copy send refused every frame while a compressed message was
 * open; a ping or pong may go between its frames (RFC 6455 5.4), only a
 * data frame may not. Exists only in builds with permessage-deflate. */
static void test_regression_zerocopy_control_inside_compressed_message(void **state)
{
    (void)state;
    peer tx;
    peer_open(&tx, WSP_ROLE_CLIENT, NULL, 0, 0);
    static uint8_t wire[4096];
    size_t wn = 0, n = 0;
    assert_int_equal(wsp_conn_send(tx.conn, WSP_OP_TEXT, (const uint8_t *)"Hello, ", 7,
                                   WSP_SEND_MORE, wire, sizeof wire, &n),
                     WSP_OK);
    assert_int_equal(wire[0], 0x41); /* RSV1, text, no FIN */
    wn += n;

    uint8_t hdr[WSP_MAX_FRAME_HEADER];
    size_t hl = 12345;
    uint8_t ping[2] = {'h', 'i'};
    assert_int_equal(wsp_conn_send_zerocopy(tx.conn, WSP_OP_PING, ping, 2, 0, hdr, &hl),
                     WSP_OK);
    assert_int_equal(hl, 6);
    assert_int_equal(hdr[0], 0x89);
    assert_int_equal(hdr[1], 0x82);
    memcpy(wire + wn, hdr, hl);
    memcpy(wire + wn + hl, ping, 2); /* masked in place by the call */
    wn += hl + 2;

    uint8_t pong[3] = {'a', 'c', 'k'};
    hl = 12345;
    assert_int_equal(wsp_conn_send_zerocopy(tx.conn, WSP_OP_PONG, pong, 3, 0, hdr, &hl),
                     WSP_OK);
    assert_int_equal(hl, 6);
    assert_int_equal(hdr[0], 0x8A);
    memcpy(wire + wn, hdr, hl);
    memcpy(wire + wn + hl, pong, 3);
    wn += hl + 3;

    /* A data frame still may not interrupt the compressed message. */
    uint8_t data[1] = {'x'};
    hl = 12345;
    assert_int_equal(wsp_conn_send_zerocopy(tx.conn, WSP_OP_TEXT, data, 1, 0, hdr, &hl),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(hl, 0);
    assert_int_equal(data[0], 'x'); /* not masked: nothing happened */

    assert_int_equal(wsp_conn_send(tx.conn, WSP_OP_TEXT, (const uint8_t *)"world", 5, 0,
                                   wire + wn, sizeof wire - wn, &n),
                     WSP_OK);
    assert_int_equal(wire[wn], 0x80); /* continuation, FIN, no RSV1 */
    wn += n;
    peer_close(&tx);

    /* The peer reads the message whole, and the ping in the middle. */
    for (size_t chunk = 1; chunk <= wn; chunk += chunk < 8 ? 1 : 7) {
        peer rx;
        peer_open(&rx, WSP_ROLE_SERVER, NULL, 0, 0);
        received *r = malloc(sizeof *r);
        assert_non_null(r);
        feed(&rx, wire, wn, chunk, r);
        assert_int_equal(r->status, WSP_OK);
        assert_int_equal(r->messages, 1);
        assert_int_equal(r->pings, 1);
        assert_int_equal(r->opcode, WSP_OP_TEXT);
        assert_int_equal(r->len, 12);
        assert_memory_equal(r->data, "Hello, world", 12);
        free(r);
        peer_close(&rx);
    }
}

int main(void)
{
    if (!wsp_deflate_available()) {
        const struct CMUnitTest without[] = {cmocka_unit_test(test_unsupported)};
        return cmocka_run_group_tests(without, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_hello),
        cmocka_unit_test(test_rfc_context_takeover),
        cmocka_unit_test(test_no_context_takeover),
        cmocka_unit_test(test_rsv1_rules),
        cmocka_unit_test(test_compression_bomb),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_fragment_output_before_next_frame),
        cmocka_unit_test(test_fragment_error_before_next_header),
        cmocka_unit_test(test_compressed_failure_offset_is_first_frame),
        cmocka_unit_test(test_regression_zerocopy_control_inside_compressed_message),
        cmocka_unit_test(test_no_compress_flag),
        cmocka_unit_test(test_compressed_utf8),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_sender_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
