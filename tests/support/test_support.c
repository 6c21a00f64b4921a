#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t wsp_test_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*hex) {
        if (*hex == ' ') { hex++; continue; }
        int hi = hex_value(hex[0]);
        int lo = hex[1] ? hex_value(hex[1]) : -1;
        if (hi < 0 || lo < 0 || n >= cap) {
            fprintf(stderr, "wsp_test_hex: bad input\n");
            abort();
        }
        out[n++] = (uint8_t)(hi * 16 + lo);
        hex += 2;
    }
    return n;
}

uint64_t wsp_test_rng_seed(uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    return s ? s : 1;
}

uint64_t wsp_test_rng(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

size_t wsp_test_rng_below(uint64_t *state, size_t bound)
{
    return (size_t)(wsp_test_rng(state) % (uint64_t)bound);
}

int wsp_test_entropy(uint8_t *buf, size_t len, void *user)
{
    uint64_t *state = user;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(wsp_test_rng(state) >> 56);
    return 0;
}

int wsp_test_entropy_fail(uint8_t *buf, size_t len, void *user)
{
    (void)buf;
    (void)len;
    (void)user;
    return 1;
}

size_t wsp_test_frame(uint8_t *out, size_t cap, uint8_t b0,
                      const uint8_t *key, const void *payload, size_t len)
{
    size_t hl = 2 + (len > 65535 ? 8u : len > 125 ? 2u : 0u) + (key ? 4u : 0u);
    if (hl + len > cap) {
        fprintf(stderr, "wsp_test_frame: buffer too small\n");
        abort();
    }
    size_t n = 0;
    out[n++] = b0;
    uint8_t mbit = key ? 0x80 : 0x00;
    if (len <= 125) {
        out[n++] = (uint8_t)(mbit | len);
    } else if (len <= 65535) {
        out[n++] = (uint8_t)(mbit | 126);
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = (uint8_t)(mbit | 127);
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (key) {
        memcpy(out + n, key, 4);
        n += 4;
    }
    const uint8_t *p = payload;
    for (size_t i = 0; i < len; i++)
        out[n + i] = (uint8_t)(p[i] ^ (key ? key[i % 4] : 0));
    return n + len;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long wsp_test_base64_decode(const char *in, size_t len, uint8_t *out,
                            size_t cap)
{
    if (len % 4 != 0) return -1;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            char c = in[i + (size_t)j];
            if (c == '=' && i + 4 == len && j >= 2) {
                v[j] = 0;
                pad++;
            } else {
                if (pad) return -1;
                v[j] = b64_value(c);
                if (v[j] < 0) return -1;
            }
        }
        if (pad == 1 && in[i + 2] == '=') return -1;
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        size_t take = 3u - (size_t)pad;
        if (n + take > cap) return -1;
        for (size_t j = 0; j < take; j++)
            out[n++] = (uint8_t)(w >> (16 - 8 * j));
    }
    return (long)n;
}

/* Each block carries its size in a header so frees can be checked. */
typedef union block_head {
    size_t size;
    long double align_ld;
    void *align_p;
} block_head;

void *wsp_test_malloc(size_t size, void *user)
{
    wsp_test_alloc *a = user;
    if (a->fail_after == 0) return NULL;
    if (a->fail_after > 0) a->fail_after--;
    block_head *h = malloc(sizeof(block_head) + size);
    if (!h) return NULL;
    h->size = size;
    a->live_blocks++;
    a->live_bytes += size;
    a->total_allocs++;
    return h + 1;
}

void wsp_test_free(void *ptr, size_t size, void *user)
{
    wsp_test_alloc *a = user;
    if (!ptr) return;
    block_head *h = (block_head *)ptr - 1;
    if (h->size != size) a->size_mismatches++;
    a->live_blocks--;
    a->live_bytes -= h->size;
    free(h);
}

void *wsp_test_realloc(void *ptr, size_t old_size, size_t new_size,
                       void *user)
{
    wsp_test_alloc *a = user;
    if (!ptr) return wsp_test_malloc(new_size, user);
    block_head *h = (block_head *)ptr - 1;
    if (h->size != old_size) a->size_mismatches++;
    if (a->fail_after == 0) return NULL;
    if (a->fail_after > 0) a->fail_after--;
    block_head *nh = malloc(sizeof(block_head) + new_size);
    if (!nh) return NULL;
    memcpy(nh + 1, h + 1, h->size < new_size ? h->size : new_size);
    nh->size = new_size;
    a->live_bytes = a->live_bytes - h->size + new_size;
    a->total_allocs++;
    free(h);
    return nh + 1;
}

size_t wsp_test_send_bound(const wsp_conn *conn, size_t len)
{
    size_t bound = 0;
    int rc = wsp_conn_send_bound(conn, len, &bound);
    if (rc != WSP_OK) {
        fprintf(stderr, "wsp_test_send_bound(%zu): %s\n", len, wsp_strerror(rc));
        abort();
    }
    return bound;
}

const wsp_header wsp_test_upgrade_headers[5] = {
    {"Host", 4, "a", 1},
    {"Upgrade", 7, "websocket", 9},
    {"Connection", 10, "Upgrade", 7},
    {"Sec-WebSocket-Key", 17, "dGhlIHNhbXBsZSBub25jZQ==", 24},
    {"Sec-WebSocket-Version", 21, "13", 2},
};

wsp_request wsp_test_request(const wsp_header *headers, size_t count)
{
    wsp_request req;
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.method_len = 3;
    req.target = "/";
    req.target_len = 1;
    req.version_major = 1;
    req.version_minor = 1;
    req.headers.array = headers;
    req.headers.count = count;
    return req;
}
