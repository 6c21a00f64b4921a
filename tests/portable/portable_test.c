/* Byte-order and word-size sensitive checks without a test framework, so
 * they can be cross-compiled for any target and run under qemu-user: frame
 * headers of every length class against bytes built by hand, masking at
 * every key offset and alignment against a byte-wise reference, UTF-8
 * vectors split at every position, SHA-1 / base64 / Sec-WebSocket-Accept
 * vectors, and a client/server connection round trip fed in small pieces.
 * Prints one line per group and exits non-zero on any failure. */
#include "internal.h"
#include "wsproto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned failures;
static unsigned checks;

#define CHECK(cond)                                                        \
    do {                                                                   \
        checks++;                                                          \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            if (failures <= 20)                                            \
                fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,     \
                        __LINE__, #cond);                                  \
        }                                                                  \
    } while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint32_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Du) >> 32);
}

static int test_entropy(uint8_t *buf, size_t len, void *user)
{
    (void)user;
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)rng();
    return 0;
}

/* ---- frame headers ---------------------------------------------------- */

/* The header as RFC 6455 5.2 lays it out, built byte by byte. */
static size_t reference_header(uint8_t *out, int fin, unsigned opcode,
                               const uint8_t *key, uint64_t len)
{
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80u : 0u) | opcode);
    uint8_t maskbit = key ? 0x80u : 0u;
    if (len < 126) {
        out[n++] = (uint8_t)(maskbit | len);
    } else if (len < 65536) {
        out[n++] = (uint8_t)(maskbit | 126u);
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = (uint8_t)(maskbit | 127u);
        for (int shift = 56; shift >= 0; shift -= 8)
            out[n++] = (uint8_t)(len >> shift);
    }
    if (key) {
        memcpy(out + n, key, 4);
        n += 4;
    }
    return n;
}

static void test_frames(void)
{
    static const uint64_t lengths[] = {0, 1, 125, 126, 127, 255, 256, 65535,
                                       65536, 65537, 0x01020304u,
                                       0x0102030405060708u, 0x7FFFFFFFFFFFFFFFu};
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        for (int masked = 0; masked < 2; masked++) {
            uint8_t ref[WSP_MAX_FRAME_HEADER], enc[WSP_MAX_FRAME_HEADER];
            size_t ref_len = reference_header(ref, 1, WSP_OP_BINARY,
                                              masked ? key : NULL, lengths[i]);
            wsp_frame_header h;
            memset(&h, 0, sizeof h);
            h.fin = 1;
            h.opcode = WSP_OP_BINARY;
            h.masked = (uint8_t)masked;
            memcpy(h.mask_key, key, 4);
            h.payload_len = lengths[i];
            size_t enc_len = 0;
            CHECK(wsp_frame_encode_header(&h, enc, sizeof enc, &enc_len) == WSP_OK);
            CHECK(enc_len == ref_len && memcmp(enc, ref, ref_len) == 0);

            wsp_frame_header p;
            CHECK(wsp_frame_parse_header(ref, ref_len, &p) == WSP_OK);
            CHECK(p.payload_len == lengths[i] && p.header_len == ref_len);
            CHECK(p.fin == 1 && p.opcode == WSP_OP_BINARY && p.masked == masked);
            if (masked) CHECK(memcmp(p.mask_key, key, 4) == 0);
            for (size_t cut = 0; cut < ref_len; cut++)
                CHECK(wsp_frame_parse_header(ref, cut, &p) == WSP_ERR_NEED_MORE);
        }
    }
    /* Non-minimal encodings and the 64-bit top bit are rejected. */
    static const uint8_t nonminimal16[] = {0x82, 126, 0x00, 0x7d};
    static const uint8_t nonminimal64[] = {0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t topbit[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
    wsp_frame_header p;
    CHECK(wsp_frame_parse_header(nonminimal16, sizeof nonminimal16, &p) == WSP_ERR_PROTO_LENGTH);
    CHECK(wsp_frame_parse_header(nonminimal64, sizeof nonminimal64, &p) == WSP_ERR_PROTO_LENGTH);
    CHECK(wsp_frame_parse_header(topbit, sizeof topbit, &p) == WSP_ERR_PROTO_LENGTH);
    /* RFC 6455 5.7: a masked "Hello". */
    static const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58};
    CHECK(wsp_frame_parse_header(hello, sizeof hello, &p) == WSP_OK);
    CHECK(p.payload_len == 5 && p.header_len == 6 && p.masked == 1);
    uint8_t body[5];
    memcpy(body, hello + 6, 5);
    wsp_mask(body, 5, p.mask_key, 0);
    CHECK(memcmp(body, "Hello", 5) == 0);
}

/* ---- masking ---------------------------------------------------------- */

static void test_masking(void)
{
    static uint8_t src[600], ref[600], buf[600 + 16], dst[600 + 16];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)rng();
    const uint8_t key[4] = {0xa1, 0x02, 0xf3, 0x5c};
    static const size_t lens[] = {0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32,
                                  33, 63, 64, 65, 100, 255, 256, 599};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t len = lens[li];
        for (uint64_t off = 0; off < 9; off++) {
            uint64_t big_off = off + 0x100000000u; /* only off % 4 matters */
            for (size_t i = 0; i < len; i++) ref[i] = (uint8_t)(src[i] ^ key[(off + i) % 4]);
            for (size_t align = 0; align < 16; align += 3) {
                memcpy(buf + align, src, len);
                wsp_mask(buf + align, len, key, off);
                CHECK(memcmp(buf + align, ref, len) == 0);
                memcpy(buf + align, src, len);
                wsp_mask(buf + align, len, key, big_off);
                CHECK(memcmp(buf + align, ref, len) == 0);
                wsp_mask_copy(dst + align, src, len, key, off);
                CHECK(memcmp(dst + align, ref, len) == 0);
            }
        }
    }
    /* Unmasking piece by piece equals unmasking at once. */
    memcpy(buf, src, 599);
    size_t done = 0;
    while (done < 599) {
        size_t piece = 1 + rng() % 37;
        if (piece > 599 - done) piece = 599 - done;
        wsp_mask(buf + done, piece, key, done);
        done += piece;
    }
    for (size_t i = 0; i < 599; i++) ref[i] = (uint8_t)(src[i] ^ key[i % 4]);
    CHECK(memcmp(buf, ref, 599) == 0);
}

/* ---- UTF-8 ------------------------------------------------------------ */

static int utf8_whole(const char *s, size_t len)
{
    uint32_t state = WSP_UTF8_ACCEPT;
    size_t err;
    if (wsp_utf8_validate(&state, (const uint8_t *)s, len, &err) != WSP_OK) return 0;
    return state == WSP_UTF8_ACCEPT;
}

static int utf8_split(const char *s, size_t len, size_t at)
{
    uint32_t state = WSP_UTF8_ACCEPT;
    size_t err;
    if (wsp_utf8_validate(&state, (const uint8_t *)s, at, &err) != WSP_OK) return 0;
    if (wsp_utf8_validate(&state, (const uint8_t *)s + at, len - at, &err) != WSP_OK)
        return 0;
    return state == WSP_UTF8_ACCEPT;
}

static void test_utf8(void)
{
    static const struct { const char *s; size_t len; int valid; } v[] = {
        {"", 0, 1},
        {"Hello, world", 12, 1},
        {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11, 1},
        {"\xf0\x9f\x98\x80 smile", 10, 1},
        {"\xf4\x8f\xbf\xbf", 4, 1},   /* U+10FFFF */
        {"\xef\xbf\xbf", 3, 1},       /* U+FFFF */
        {"\xed\x9f\xbf", 3, 1},       /* U+D7FF */
        {"\xf4\x90\x80\x80", 4, 0},   /* over U+10FFFF */
        {"\xed\xa0\x80", 3, 0},       /* surrogate */
        {"\xc0\xaf", 2, 0},           /* overlong */
        {"\xe0\x80\xaf", 3, 0},       /* overlong */
        {"\xf0\x80\x80\xaf", 4, 0},   /* overlong */
        {"\x80", 1, 0},               /* stray continuation */
        {"\xfe", 1, 0},
        {"\xff", 1, 0},
        {"abc\xce", 4, 0},            /* cut inside a code point */
        {"0123456789abcdef0123456789abcde\xce\xba", 33, 1}, /* crosses 16/32 */
        {"0123456789abcdef0123456789abcdef\xed\xa0\x80xyz", 38, 0},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        CHECK(utf8_whole(v[i].s, v[i].len) == v[i].valid);
        for (size_t at = 0; at <= v[i].len; at++)
            CHECK(utf8_split(v[i].s, v[i].len, at) == v[i].valid);
    }
    /* The error offset points at the first impossible byte. */
    uint32_t state = WSP_UTF8_ACCEPT;
    size_t err = 999;
    static const char bad[] = "0123456789abcdef0123\xc0\xaf";
    CHECK(wsp_utf8_validate(&state, (const uint8_t *)bad, sizeof bad - 1, &err) ==
          WSP_ERR_PROTO_UTF8);
    CHECK(err == 20);
}

/* ---- SHA-1, base64, accept key ---------------------------------------- */

static void hex(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha1_of(const void *data, size_t len, size_t piece, char out[41])
{
    wsp_sha1 s;
    uint8_t d[WSP_SHA1_LEN];
    wsp_sha1_init(&s);
    const uint8_t *p = data;
    while (len > 0) {
        size_t n = len < piece ? len : piece;
        wsp_sha1_update(&s, p, n);
        p += n;
        len -= n;
    }
    wsp_sha1_final(&s, d);
    hex(d, sizeof d, out);
}

static void test_digests(void)
{
    char h[41];
    sha1_of("abc", 3, 3, h);
    CHECK(strcmp(h, "a9993e364706816aba3e25717850c26c9cd0d89d") == 0);
    sha1_of("", 0, 1, h);
    CHECK(strcmp(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709") == 0);
    static const char two_blocks[] =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    for (size_t piece = 1; piece <= 64; piece += 7) {
        sha1_of(two_blocks, sizeof two_blocks - 1, piece, h);
        CHECK(strcmp(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1") == 0);
    }
    static uint8_t million[1000000];
    memset(million, 'a', sizeof million);
    sha1_of(million, sizeof million, 4096, h);
    CHECK(strcmp(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f") == 0);

    static const struct { const char *in, *out; } b64[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof b64 / sizeof b64[0]; i++) {
        char enc[16];
        size_t n = strlen(b64[i].in);
        wsp_base64_encode((const uint8_t *)b64[i].in, n, enc);
        enc[WSP_BASE64_LEN(n)] = '\0';
        CHECK(strcmp(enc, b64[i].out) == 0);
        uint8_t dec[16];
        long d = wsp_base64_decode(b64[i].out, strlen(b64[i].out), dec, sizeof dec);
        CHECK(d == (long)n && memcmp(dec, b64[i].in, n) == 0);
    }
    char accept[WSP_ACCEPT_LEN + 1];
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
    CHECK(wsp_accept_key(key, sizeof key - 1, accept) == WSP_OK);
    CHECK(strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
}

/* ---- connection round trip -------------------------------------------- */

/* A peer end: its connection and the bytes it received but has not
 * consumed yet. */
typedef struct peer {
    wsp_conn *conn;
    uint8_t in[1 << 18];
    size_t have;
    /* the message being received */
    uint8_t msg[1 << 18];
    size_t msg_len;
    int msg_done, closed;
    uint16_t close_code;
} peer;

/* Delivers wire[0..len) to p in pieces of random size, handling events. */
static void deliver(peer *p, const uint8_t *wire, size_t len, uint8_t *reply,
                    size_t reply_cap, size_t *reply_len)
{
    size_t pos = 0;
    *reply_len = 0;
    while (pos < len || p->have > 0) {
        size_t piece = 1 + rng() % 300;
        if (piece > len - pos) piece = len - pos;
        if (p->have + piece > sizeof p->in) piece = sizeof p->in - p->have;
        memcpy(p->in + p->have, wire + pos, piece);
        p->have += piece;
        pos += piece;
        size_t off = 0;
        for (;;) {
            size_t used = 0;
            wsp_event ev;
            int rc = wsp_conn_recv(p->conn, p->in + off, p->have - off, &used, &ev);
            off += used;
            if (rc != WSP_OK) {
                CHECK(rc == WSP_ERR_CLOSED);
                off = p->have;
                break;
            }
            if (ev.type == WSP_EV_NONE) break;
            if (ev.type == WSP_EV_REQUEST) {
                size_t k = 0;
                CHECK(ev.u.request.status == WSP_OK);
                CHECK(wsp_conn_accept(p->conn, NULL, reply + *reply_len,
                                      reply_cap - *reply_len, &k) == WSP_OK);
                *reply_len += k;
            } else if (ev.type == WSP_EV_RESPONSE) {
                CHECK(ev.u.response.status == WSP_OK);
            } else if (ev.type == WSP_EV_DATA) {
                if (ev.u.data.flags & WSP_DATA_FIRST) p->msg_len = 0;
                CHECK(p->msg_len + ev.u.data.len <= sizeof p->msg);
                if (ev.u.data.len > 0)
                    memcpy(p->msg + p->msg_len, ev.u.data.payload, ev.u.data.len);
                p->msg_len += ev.u.data.len;
                if (ev.u.data.flags & WSP_DATA_LAST) p->msg_done = 1;
            } else if (ev.type == WSP_EV_CLOSE) {
                p->closed = 1;
                p->close_code = ev.u.close.code;
            } else {
                CHECK(ev.type == WSP_EV_PING || ev.type == WSP_EV_PONG);
            }
        }
        memmove(p->in, p->in + off, p->have - off);
        p->have -= off;
        if (pos == len && off == 0) break;
    }
    size_t k = 0;
    CHECK(wsp_conn_flush(p->conn, reply + *reply_len, reply_cap - *reply_len, &k) == WSP_OK);
    *reply_len += k;
}

static void test_round_trip(void)
{
    static peer server, client;
    static uint8_t wire[1 << 18], reply[1 << 18], payload[70000];
    static _Alignas(max_align_t) uint8_t server_mem[1024];
    size_t n = 0, rn = 0;

    /* The server lives in caller memory, the client is allocated. */
    CHECK(wsp_conn_size() <= sizeof server_mem);
    server.conn = (wsp_conn *)(void *)server_mem;
    CHECK(wsp_conn_init(server.conn, NULL) == WSP_OK);
    wsp_config ccfg;
    memset(&ccfg, 0, sizeof ccfg);
    ccfg.role = WSP_ROLE_CLIENT;
    ccfg.entropy = test_entropy;
    ccfg.send_fragment_size = 1000;
    CHECK(wsp_conn_new(&ccfg, &client.conn) == WSP_OK);
    if (failures) return;

    wsp_client_options opts;
    memset(&opts, 0, sizeof opts);
    opts.host = "example.com";
    opts.target = "/chat";
    CHECK(wsp_conn_client_request(client.conn, &opts, wire, sizeof wire, &n) == WSP_OK);
    deliver(&server, wire, n, reply, sizeof reply, &rn);
    CHECK(wsp_conn_state(server.conn) == WSP_STATE_OPEN);
    deliver(&client, reply, rn, wire, sizeof wire, &n);
    CHECK(wsp_conn_state(client.conn) == WSP_STATE_OPEN);

    static const size_t sizes[] = {0, 1, 125, 126, 127, 1000, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)('a' + i % 26);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t len = sizes[si];
        wsp_opcode op = si % 2 ? WSP_OP_BINARY : WSP_OP_TEXT;
        /* client -> server (masked, split into 1000-byte frames) */
        CHECK(wsp_conn_send(client.conn, op, payload, len, 0, wire, sizeof wire, &n) == WSP_OK);
        server.msg_done = 0;
        deliver(&server, wire, n, reply, sizeof reply, &rn);
        CHECK(server.msg_done && server.msg_len == len &&
              memcmp(server.msg, payload, len) == 0);
        /* server -> client, sent as two pieces of one message */
        size_t half = len / 2, k = 0;
        CHECK(wsp_conn_send(server.conn, op, payload, half, WSP_SEND_MORE,
                            wire, sizeof wire, &n) == WSP_OK);
        CHECK(wsp_conn_send(server.conn, op, payload + half, len - half, 0,
                            wire + n, sizeof wire - n, &k) == WSP_OK);
        client.msg_done = 0;
        deliver(&client, wire, n + k, reply, sizeof reply, &rn);
        CHECK(client.msg_done && client.msg_len == len &&
              memcmp(client.msg, payload, len) == 0);
    }
    /* A ping is answered with a pong by the connection itself. */
    CHECK(wsp_conn_send(client.conn, WSP_OP_PING, (const uint8_t *)"p", 1, 0,
                        wire, sizeof wire, &n) == WSP_OK);
    deliver(&server, wire, n, reply, sizeof reply, &rn);
    CHECK(rn == 3 && reply[0] == 0x8A && reply[1] == 1 && reply[2] == 'p');

    CHECK(wsp_conn_close(client.conn, 1000, "done", 4, wire, sizeof wire, &n) == WSP_OK);
    deliver(&server, wire, n, reply, sizeof reply, &rn);
    CHECK(server.closed && server.close_code == 1000);
    deliver(&client, reply, rn, wire, sizeof wire, &n);
    CHECK(client.closed && client.close_code == 1000);
    CHECK(wsp_conn_state(client.conn) == WSP_STATE_CLOSED);
    CHECK(wsp_conn_should_close_transport(server.conn) == 1);
    wsp_conn_free(client.conn);
    wsp_conn_deinit(server.conn);
}

int main(void)
{
    const uint16_t probe = 0x0102;
    const int big_endian = *(const uint8_t *)&probe == 0x01;
    printf("portable: %s-endian, %u-bit size_t, wsproto %s\n",
           big_endian ? "big" : "little", (unsigned)(sizeof(size_t) * 8),
           wsp_version()->string);
    struct { const char *name; void (*fn)(void); } groups[] = {
        {"frame headers", test_frames},   {"masking", test_masking},
        {"utf-8", test_utf8},             {"sha-1/base64/accept", test_digests},
        {"connection round trip", test_round_trip}};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        unsigned before = failures, before_checks = checks;
        groups[i].fn();
        printf("  %-24s %s (%u checks)\n", groups[i].name,
               failures == before ? "ok" : "FAILED", checks - before_checks);
    }
    if (failures) {
        printf("portable: %u of %u checks failed\n", failures, checks);
        return 1;
    }
    printf("portable: all %u checks passed\n", checks);
    return 0;
}
