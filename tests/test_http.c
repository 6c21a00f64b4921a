/* HTTP/1.1 head parsing (RFC 9112), header access and list iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "test_support.h"
#include "wsproto.h"

static const char rfc_request[] =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

static const char rfc_response[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Protocol: chat\r\n"
    "\r\n";

static int str_eq(const char *p, size_t n, const char *want)
{
    return p != NULL && n == strlen(want) && memcmp(p, want, n) == 0;
}

#define assert_str_n(p, n, want)                                              \
    do {                                                                      \
        if (!str_eq((p), (n), (want))) {                                      \
            print_error("got \"%.*s\" want \"%s\"\n", (int)(n),               \
                        (p) ? (p) : "(null)", (want));                        \
            fail();                                                           \
        }                                                                     \
    } while (0)

static void expect_get(const wsp_headers *h, const char *name,
                       const char *want)
{
    const char *v = NULL;
    size_t vl = 0;
    int rc = wsp_headers_get(h, name, &v, &vl);
    if (!want) {
        assert_int_equal(rc, WSP_ERR_NOT_FOUND);
        return;
    }
    assert_int_equal(rc, WSP_OK);
    assert_str_n(v, vl, want);
}

static void test_request_basic(void **state)
{
    (void)state;
    wsp_request req;
    size_t consumed = 0;
    size_t n = strlen(rfc_request);
    assert_int_equal(wsp_http_parse_request(rfc_request, n, 0, 0, &req,
                                            &consumed), WSP_OK);
    assert_int_equal(consumed, n);
    assert_str_n(req.method, req.method_len, "GET");
    assert_str_n(req.target, req.target_len, "/chat");
    assert_int_equal(req.version_major, 1);
    assert_int_equal(req.version_minor, 1);
    assert_null(req.headers.array);
    /* Pointers point into the input. */
    assert_ptr_equal(req.method, rfc_request);
    assert_true(req.headers.raw >= rfc_request &&
                req.headers.raw + req.headers.raw_len <= rfc_request + n);

    expect_get(&req.headers, "Host", "server.example.com");
    expect_get(&req.headers, "host", "server.example.com");
    expect_get(&req.headers, "HOST", "server.example.com");
    expect_get(&req.headers, "sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    expect_get(&req.headers, "SEC-WEBSOCKET-PROTOCOL", "chat, superchat");
    expect_get(&req.headers, "Sec-WebSocket-Version", "13");
    expect_get(&req.headers, "Sec-WebSocket-Extensions", NULL);
    expect_get(&req.headers, "Hos", NULL);
    expect_get(&req.headers, "Hostx", NULL);

    static const char *names[] = {"Host", "Upgrade", "Connection",
                                  "Sec-WebSocket-Key", "Origin",
                                  "Sec-WebSocket-Protocol",
                                  "Sec-WebSocket-Version"};
    size_t pos = 0, i = 0;
    wsp_header hd;
    while (wsp_headers_next(&req.headers, &pos, &hd) == WSP_OK) {
        assert_true(i < 7);
        assert_str_n(hd.name, hd.name_len, names[i]);
        i++;
    }
    assert_int_equal(i, 7);
    /* At the end it keeps saying so. */
    assert_int_equal(wsp_headers_next(&req.headers, &pos, &hd),
                     WSP_ERR_NOT_FOUND);
}

static void test_response_basic(void **state)
{
    (void)state;
    wsp_response resp;
    size_t consumed = 0;
    size_t n = strlen(rfc_response);
    assert_int_equal(wsp_http_parse_response(rfc_response, n, 0, 0, &resp,
                                             &consumed), WSP_OK);
    assert_int_equal(consumed, n);
    assert_int_equal(resp.version_major, 1);
    assert_int_equal(resp.version_minor, 1);
    assert_int_equal(resp.status, 101);
    assert_str_n(resp.reason, resp.reason_len, "Switching Protocols");
    expect_get(&resp.headers, "sec-websocket-accept",
               "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    expect_get(&resp.headers, "upgrade", "websocket");

    const char *other = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(wsp_http_parse_response(other, strlen(other), 0, 0, &resp,
                                             &consumed), WSP_OK);
    assert_int_equal(resp.status, 403);
    assert_str_n(resp.reason, resp.reason_len, "Forbidden");

    /* The reason phrase may be empty (RFC 9112 4). */
    const char *empty = "HTTP/1.1 101 \r\n\r\n";
    assert_int_equal(wsp_http_parse_response(empty, strlen(empty), 0, 0, &resp,
                                             &consumed), WSP_OK);
    assert_int_equal(resp.status, 101);
    assert_int_equal(resp.reason_len, 0);
    assert_int_equal(consumed, strlen(empty));
}

/* Every strict prefix needs more; the full head (with or without trailing
 * bytes) always gives the same answer. */
static void check_all_prefixes(const char *head, int is_request)
{
    size_t n = strlen(head);
    const char *tail = "\x81\x05Hello and more";
    size_t tn = strlen(tail);
    char *buf = malloc(n + tn);
    assert_non_null(buf);
    memcpy(buf, head, n);
    memcpy(buf + n, tail, tn);

    wsp_request ref_req;
    wsp_response ref_resp;
    size_t ref_consumed = 0;
    if (is_request)
        assert_int_equal(wsp_http_parse_request(buf, n, 0, 0, &ref_req,
                                                &ref_consumed), WSP_OK);
    else
        assert_int_equal(wsp_http_parse_response(buf, n, 0, 0, &ref_resp,
                                                 &ref_consumed), WSP_OK);
    assert_int_equal(ref_consumed, n);

    for (size_t len = 0; len <= n + tn; len++) {
        wsp_request req;
        wsp_response resp;
        size_t consumed = 12345;
        int rc = is_request
                     ? wsp_http_parse_request(buf, len, 0, 0, &req, &consumed)
                     : wsp_http_parse_response(buf, len, 0, 0, &resp,
                                               &consumed);
        if (len < n) {
            if (rc != WSP_ERR_NEED_MORE)
                print_error("prefix %zu of %zu: rc %d\n", len, n, rc);
            assert_int_equal(rc, WSP_ERR_NEED_MORE);
            continue;
        }
        assert_int_equal(rc, WSP_OK);
        assert_int_equal(consumed, n); /* bytes after the head are not used */
        if (is_request) {
            assert_ptr_equal(req.method, ref_req.method);
            assert_int_equal(req.method_len, ref_req.method_len);
            assert_ptr_equal(req.target, ref_req.target);
            assert_int_equal(req.target_len, ref_req.target_len);
            assert_int_equal(req.headers.raw_len, ref_req.headers.raw_len);
            assert_ptr_equal(req.headers.raw, ref_req.headers.raw);
        } else {
            assert_int_equal(resp.status, ref_resp.status);
            assert_int_equal(resp.headers.raw_len, ref_resp.headers.raw_len);
        }
    }
    free(buf);
}

static void test_every_split(void **state)
{
    (void)state;
    check_all_prefixes(rfc_request, 1);
    check_all_prefixes(rfc_response, 0);
    check_all_prefixes("GET / HTTP/1.1\nHost: a\n\n", 1);
    check_all_prefixes("GET / HTTP/1.1\r\nHost: a\n\r\n", 1);
    check_all_prefixes("GET / HTTP/1.1\r\n\r\n", 1);
    check_all_prefixes("HTTP/1.1 101 OK\nUpgrade: websocket\n\n", 0);
}

static void test_bare_lf(void **state)
{
    (void)state;
    const char *r = "GET /x HTTP/1.1\nHost: a.test\nUpgrade:  websocket \n\n";
    wsp_request req;
    size_t consumed = 0;
    assert_int_equal(wsp_http_parse_request(r, strlen(r), 0, 0, &req,
                                            &consumed), WSP_OK);
    assert_int_equal(consumed, strlen(r));
    assert_str_n(req.target, req.target_len, "/x");
    expect_get(&req.headers, "host", "a.test");
    expect_get(&req.headers, "upgrade", "websocket");
    size_t pos = 0, count = 0;
    wsp_header h;
    while (wsp_headers_next(&req.headers, &pos, &h) == WSP_OK) {
        /* No stray CR or LF in names or values. */
        assert_null(memchr(h.name, '\n', h.name_len));
        assert_null(memchr(h.value, '\n', h.value_len));
        assert_null(memchr(h.value, '\r', h.value_len));
        count++;
    }
    assert_int_equal(count, 2);
}

static void test_value_trimming(void **state)
{
    (void)state;
    const char *r = "GET / HTTP/1.1\r\n"
                    "A:x\r\n"
                    "B: \t spaced  value \t \r\n"
                    "C:\r\n"
                    "D:   \r\n"
                    "\r\n";
    wsp_request req;
    size_t consumed = 0;
    assert_int_equal(wsp_http_parse_request(r, strlen(r), 0, 0, &req,
                                            &consumed), WSP_OK);
    expect_get(&req.headers, "a", "x");
    expect_get(&req.headers, "b", "spaced  value");
    expect_get(&req.headers, "c", "");
    expect_get(&req.headers, "d", "");
    size_t pos = 0;
    wsp_header h;
    static const char *vals[] = {"x", "spaced  value", "", ""};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(wsp_headers_next(&req.headers, &pos, &h), WSP_OK);
        assert_str_n(h.value, h.value_len, vals[i]);
    }
    assert_int_equal(wsp_headers_next(&req.headers, &pos, &h),
                     WSP_ERR_NOT_FOUND);
}

static void test_duplicate_first_wins(void **state)
{
    (void)state;
    const char *r = "GET / HTTP/1.1\r\nX-Dup: one\r\nx-dup: two\r\n\r\n";
    wsp_request req;
    size_t consumed = 0;
    assert_int_equal(wsp_http_parse_request(r, strlen(r), 0, 0, &req,
                                            &consumed), WSP_OK);
    expect_get(&req.headers, "X-DUP", "one");
}

static void test_malformed_requests(void **state)
{
    (void)state;
    static const char *bad[] = {
        "GET /chat\r\n\r\n",                          /* no version */
        "GET\r\n\r\n",                                /* method only */
        "GET /chat HTTP/1.1 extra\r\n\r\n",           /* extra field */
        "GET /chat HTTX/1.1\r\n\r\n",                 /* bad protocol */
        "GET /chat HTTP/1\r\n\r\n",                   /* bad version */
        "GET /chat HTTP/a.b\r\n\r\n",                 /* bad version */
        "GET /chat http/1.1\r\n\r\n",                 /* case-sensitive */
        "G(T /chat HTTP/1.1\r\n\r\n",                 /* method not a token */
        "GET /c\x01t HTTP/1.1\r\n\r\n",               /* control in target */
        " GET /chat HTTP/1.1\r\n\r\n",                /* leading space */
        "GET /chat HTTP/1.1\r\nHost server\r\n\r\n",  /* no colon */
        "GET /chat HTTP/1.1\r\nHost : a\r\n\r\n",     /* space before colon */
        "GET /chat HTTP/1.1\r\n: a\r\n\r\n",          /* empty name */
        "GET /chat HTTP/1.1\r\nHo st: a\r\n\r\n",     /* space in name */
        "GET /chat HTTP/1.1\r\nH(st: a\r\n\r\n",      /* name not a token */
        "GET /chat HTTP/1.1\r\n Host: a\r\n\r\n",     /* starts with fold */
        "GET /chat HTTP/1.1\r\nX: a\r\n b\r\n\r\n",   /* obs-fold */
        "GET /chat HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n",  /* obs-fold with tab */
        "GET /chat HTTP/1.1\r\nX: a\rb\r\n\r\n",      /* bare CR in value */
        "GET /chat HTTP/1.1\r\nX: a\001b\r\n\r\n", /* control in value */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wsp_request req;
        size_t consumed = 0;
        int rc = wsp_http_parse_request(bad[i], strlen(bad[i]), 0, 0, &req,
                                        &consumed);
        if (rc != WSP_ERR_HTTP_MALFORMED)
            print_error("case %zu \"%s\": rc %d\n", i, bad[i], rc);
        assert_int_equal(rc, WSP_ERR_HTTP_MALFORMED);
    }
}

static void test_malformed_responses(void **state)
{
    (void)state;
    static const char *bad[] = {
        "HTTP/1.1 10 OK\r\n\r\n",
        "HTTP/1.1 1011 OK\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTX/1.1 101 OK\r\n\r\n",
        "HTTP/1.1\r\n\r\n",
        "101 Switching Protocols\r\n\r\n",
        "HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n",
        "HTTP/1.1 101 OK\r\nUpgrade: web\r\n socket\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wsp_response resp;
        size_t consumed = 0;
        int rc = wsp_http_parse_response(bad[i], strlen(bad[i]), 0, 0, &resp,
                                         &consumed);
        if (rc != WSP_ERR_HTTP_MALFORMED)
            print_error("case %zu \"%s\": rc %d\n", i, bad[i], rc);
        assert_int_equal(rc, WSP_ERR_HTTP_MALFORMED);
    }
}

static void test_versions(void **state)
{
    (void)state;
    const char *r = "GET / HTTP/1.0\r\nHost: a\r\n\r\n";
    wsp_request req;
    size_t consumed;
    assert_int_equal(wsp_http_parse_request(r, strlen(r), 0, 0, &req,
                                            &consumed), WSP_OK);
    assert_int_equal(req.version_major, 1);
    assert_int_equal(req.version_minor, 0);
}

/* Builds "GET / HTTP/1.1\r\n" + count headers + "\r\n"; returns malloc'd. */
static char *make_head(size_t count, size_t pad)
{
    size_t cap = 64 + count * 32 + pad;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t n = (size_t)snprintf(s, cap, "GET / HTTP/1.1\r\n");
    for (size_t i = 0; i < count; i++)
        n += (size_t)snprintf(s + n, cap - n, "X-H%zu: v\r\n", i);
    if (pad) {
        n += (size_t)snprintf(s + n, cap - n, "X-Pad: ");
        memset(s + n, 'p', pad);
        n += pad;
        s[n++] = '\r';
        s[n++] = '\n';
    }
    s[n++] = '\r';
    s[n++] = '\n';
    s[n] = 0;
    return s;
}

static void test_limit_bytes(void **state)
{
    (void)state;
    char *h = make_head(3, 100);
    size_t n = strlen(h);
    wsp_request req;
    size_t consumed;
    assert_int_equal(wsp_http_parse_request(h, n, n, 0, &req, &consumed),
                     WSP_OK);
    assert_int_equal(consumed, n);
    assert_int_equal(wsp_http_parse_request(h, n, n - 1, 0, &req, &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    assert_int_equal(wsp_http_parse_request(h, n, 40, 0, &req, &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    /* Incomplete but already too large: no need to wait for the end. */
    assert_int_equal(wsp_http_parse_request(h, n - 2, 40, 0, &req, &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    assert_int_equal(wsp_http_parse_request(h, 100, 40, 0, &req, &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    /* Incomplete and within the limit: wait. */
    assert_int_equal(wsp_http_parse_request(h, 30, 40, 0, &req, &consumed),
                     WSP_ERR_NEED_MORE);
    /* Same for a response. */
    wsp_response resp;
    const char *r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "\r\n";
    size_t rn = strlen(r);
    assert_int_equal(wsp_http_parse_response(r, rn, rn, 0, &resp, &consumed),
                     WSP_OK);
    assert_int_equal(wsp_http_parse_response(r, rn, rn - 1, 0, &resp,
                                             &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    assert_int_equal(wsp_http_parse_response(r, rn - 3, 20, 0, &resp,
                                             &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    free(h);
}

static void test_limit_default_bytes(void **state)
{
    (void)state;
    /* A head of exactly the default size passes, one byte more fails. */
    char *h = make_head(0, 1);
    size_t base = strlen(h);
    free(h);
    size_t pad = WSP_DEFAULT_MAX_HEADER_BYTES - base + 1;
    h = make_head(0, pad);
    size_t n = strlen(h);
    assert_int_equal(n, WSP_DEFAULT_MAX_HEADER_BYTES);
    wsp_request req;
    size_t consumed;
    assert_int_equal(wsp_http_parse_request(h, n, 0, 0, &req, &consumed),
                     WSP_OK);
    free(h);
    h = make_head(0, pad + 1);
    n = strlen(h);
    assert_int_equal(wsp_http_parse_request(h, n, 0, 0, &req, &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    free(h);
    /* And while incomplete, once more than the limit has arrived. */
    h = make_head(0, pad + 100);
    n = strlen(h);
    assert_int_equal(wsp_http_parse_request(h, WSP_DEFAULT_MAX_HEADER_BYTES + 1,
                                            0, 0, &req, &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    assert_int_equal(wsp_http_parse_request(h, WSP_DEFAULT_MAX_HEADER_BYTES - 1,
                                            0, 0, &req, &consumed),
                     WSP_ERR_NEED_MORE);
    free(h);
}

static void test_limit_count(void **state)
{
    (void)state;
    char *h = make_head(3, 0);
    size_t n = strlen(h);
    wsp_request req;
    size_t consumed;
    assert_int_equal(wsp_http_parse_request(h, n, 0, 3, &req, &consumed),
                     WSP_OK);
    assert_int_equal(wsp_http_parse_request(h, n, 0, 2, &req, &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    /* Incomplete: three whole header lines already seen, limit 2. */
    assert_int_equal(wsp_http_parse_request(h, n - 2, 0, 2, &req, &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    free(h);

    h = make_head(WSP_DEFAULT_MAX_HEADERS, 0);
    n = strlen(h);
    assert_int_equal(wsp_http_parse_request(h, n, 0, 0, &req, &consumed),
                     WSP_OK);
    free(h);
    h = make_head(WSP_DEFAULT_MAX_HEADERS + 1, 0);
    n = strlen(h);
    assert_int_equal(wsp_http_parse_request(h, n, 0, 0, &req, &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    assert_int_equal(wsp_http_parse_request(h, n - 2, 0, 0, &req, &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    free(h);
}

static void test_array_headers(void **state)
{
    (void)state;
    static const wsp_header arr[] = {
        {"Host", 4, "example.com", 11},
        {"Upgrade", 7, "websocket", 9},
        {"X-Multi", 7, "a", 1},
        {"x-multi", 7, "b", 1},
    };
    /* raw is set too, but the array takes precedence. */
    const char *raw = "Host: other\r\n";
    wsp_headers h = {arr, 4, raw, strlen(raw)};
    expect_get(&h, "host", "example.com");
    expect_get(&h, "UPGRADE", "websocket");
    expect_get(&h, "x-MULTI", "a");
    expect_get(&h, "Origin", NULL);

    size_t pos = 0;
    wsp_header out;
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(wsp_headers_next(&h, &pos, &out), WSP_OK);
        assert_ptr_equal(out.name, arr[i].name);
        assert_int_equal(out.name_len, arr[i].name_len);
        assert_str_n(out.value, out.value_len, arr[i].value);
    }
    assert_int_equal(wsp_headers_next(&h, &pos, &out), WSP_ERR_NOT_FOUND);

    /* Lengths are honoured: names are not NUL-terminated necessarily. */
    static const char blob[] = "HostXYZexample.orgJUNK";
    wsp_header one = {blob, 4, blob + 7, 11};
    wsp_headers h2 = {&one, 1, NULL, 0};
    expect_get(&h2, "host", "example.org");
    expect_get(&h2, "hostxyz", NULL);

    wsp_headers empty = {NULL, 0, NULL, 0};
    pos = 0;
    assert_int_equal(wsp_headers_next(&empty, &pos, &out), WSP_ERR_NOT_FOUND);
    expect_get(&empty, "host", NULL);
}

static void expect_list(const char *list, const char *const *want,
                        size_t count)
{
    size_t pos = 0;
    const char *item;
    size_t item_len;
    for (size_t i = 0; i < count; i++) {
        int rc = wsp_list_next(list, strlen(list), &pos, &item, &item_len);
        if (rc != WSP_OK) print_error("list \"%s\" item %zu\n", list, i);
        assert_int_equal(rc, WSP_OK);
        assert_str_n(item, item_len, want[i]);
    }
    assert_int_equal(wsp_list_next(list, strlen(list), &pos, &item, &item_len),
                     WSP_ERR_NOT_FOUND);
}

static void test_list_next(void **state)
{
    (void)state;
    static const char *const a[] = {"foo", "bar", "baz"};
    expect_list("foo,bar,baz", a, 3);
    expect_list("foo, bar ,, baz", a, 3);
    expect_list(" ,\t foo\t,bar,,,baz , ", a, 3);
    expect_list("", NULL, 0);
    expect_list(" , ,\t,", NULL, 0);
    static const char *const b[] = {"permessage-deflate; client_max_window_bits",
                                    "x-foo;a=1"};
    expect_list("permessage-deflate; client_max_window_bits , x-foo;a=1", b, 2);
    static const char *const c[] = {"keep-alive", "Upgrade"};
    expect_list("keep-alive, Upgrade", c, 2);
    /* The length is honoured. */
    size_t pos = 0;
    const char *item;
    size_t item_len;
    assert_int_equal(wsp_list_next("ab,cd", 2, &pos, &item, &item_len), WSP_OK);
    assert_str_n(item, item_len, "ab");
    assert_int_equal(wsp_list_next("ab,cd", 2, &pos, &item, &item_len),
                     WSP_ERR_NOT_FOUND);
}

/* ---- edge cases of the head parser, lists and header access ---------------- */

static int parse_req(const char *s, wsp_request *req, size_t *consumed)
{
    return wsp_http_parse_request(s, strlen(s), 0, 0, req, consumed);
}

static int parse_resp(const char *s, wsp_response *resp, size_t *consumed)
{
    return wsp_http_parse_response(s, strlen(s), 0, 0, resp, consumed);
}

static void test_list_next_args_and_quoting(void **state)
{
    (void)state;
    size_t pos = 0, n = 0;
    const char *item = NULL;
    assert_int_equal(wsp_list_next("a", 1, NULL, &item, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_list_next("a", 1, &pos, NULL, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_list_next("a", 1, &pos, &item, NULL), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_list_next(NULL, 3, &pos, &item, &n), WSP_ERR_INVALID_ARG);
    /* An empty list given as NULL has no elements. */
    assert_int_equal(wsp_list_next(NULL, 0, &pos, &item, &n), WSP_ERR_NOT_FOUND);

    /* A comma inside a quoted string does not split; an escaped quote does
     * not end the string. */
    static const char q[] = "x=\"a,\\\"b\", c";
    pos = 0;
    assert_int_equal(wsp_list_next(q, strlen(q), &pos, &item, &n), WSP_OK);
    assert_str_n(item, n, "x=\"a,\\\"b\"");
    assert_int_equal(wsp_list_next(q, strlen(q), &pos, &item, &n), WSP_OK);
    assert_str_n(item, n, "c");
    assert_int_equal(wsp_list_next(q, strlen(q), &pos, &item, &n), WSP_ERR_NOT_FOUND);

    /* Outside quotes a backslash is an ordinary byte. */
    static const char b[] = "a\\,b";
    pos = 0;
    assert_int_equal(wsp_list_next(b, strlen(b), &pos, &item, &n), WSP_OK);
    assert_str_n(item, n, "a\\");
    assert_int_equal(wsp_list_next(b, strlen(b), &pos, &item, &n), WSP_OK);
    assert_str_n(item, n, "b");

    /* A backslash as the last byte of an unterminated quoted string. */
    static const char t[] = "y=\"ab\\";
    pos = 0;
    assert_int_equal(wsp_list_next(t, strlen(t), &pos, &item, &n), WSP_OK);
    assert_str_n(item, n, "y=\"ab\\");
    assert_int_equal(pos, strlen(t));
}

static void test_bad_version_digits(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET / HTTP/!.1\r\nHost: a\r\n\r\n", /* major below '0' */
        "GET / HTTP/a.1\r\nHost: a\r\n\r\n", /* major above '9' */
        "GET / HTTP/1,1\r\nHost: a\r\n\r\n", /* no dot */
        "GET / HTTP/1./\r\nHost: a\r\n\r\n", /* minor below '0' */
        "GET / HTTP/1.x\r\nHost: a\r\n\r\n", /* minor above '9' */
        "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", /* 9 bytes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wsp_request req;
        size_t consumed = 0;
        assert_int_equal(parse_req(bad[i], &req, &consumed), WSP_ERR_HTTP_MALFORMED);
    }
    wsp_request req;
    size_t consumed = 0;
    assert_int_equal(parse_req("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &req, &consumed),
                     WSP_OK);
    assert_int_equal(req.version_major, 2);
    assert_int_equal(req.version_minor, 0);
}

static void test_bad_header_lines(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nHost\r\n\r\n",          /* name only, no colon */
        "GET / HTTP/1.1\r\n: value\r\n\r\n",       /* empty name */
        "GET / HTTP/1.1\r\nHo st: a\r\n\r\n",      /* space inside the name */
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",      /* space before the colon */
        "GET / HTTP/1.1\r\nX: a\177b\r\n\r\n",      /* DEL in the value */
        "GET / HTTP/1.1\r\nX: a\001b\r\n\r\n",      /* control byte in the value */
        "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",       /* bare CR in the value */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wsp_request req;
        size_t consumed = 0;
        assert_int_equal(parse_req(bad[i], &req, &consumed), WSP_ERR_HTTP_MALFORMED);
    }
    /* A tab inside a value is allowed (RFC 9110 5.5). */
    wsp_request req;
    size_t consumed = 0;
    static const char tab[] = "GET / HTTP/1.1\r\nX: a\tb\r\n\r\n";
    assert_int_equal(parse_req(tab, &req, &consumed), WSP_OK);
    assert_int_equal(consumed, strlen(tab));
    expect_get(&req.headers, "x", "a\tb");
}

static void test_request_line_edges(void **state)
{
    (void)state;
    wsp_request req;
    size_t consumed = 0;
    /* Empty lines before the start line are skipped (RFC 9112 2.2). */
    static const char lead[] = "\r\n\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse_req(lead, &req, &consumed), WSP_OK);
    assert_int_equal(consumed, strlen(lead));
    assert_str_n(req.target, req.target_len, "/x");

    static const char *const bad[] = {
        " / HTTP/1.1\r\n\r\n",          /* empty method */
        "GET  HTTP/1.1\r\n\r\n",        /* empty target */
        "GET /a\177 HTTP/1.1\r\n\r\n",  /* DEL in the target */
        "GET /a\tb HTTP/1.1\r\n\r\n",   /* tab in the target */
        "G(T / HTTP/1.1\r\n\r\n",       /* method not a token */
        "GET\r\n\r\n",                  /* no space at all */
        "GET /\r\n\r\n",                /* no second space */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse_req(bad[i], &req, &consumed), WSP_ERR_HTTP_MALFORMED);
    }

    /* Incomplete start lines: a method token so far, possibly after empty
     * lines, waits for more; anything else is rejected at once. */
    static const char *const partial_ok[] = {"", "\r\n", "\r\n\nGE", "GET",
                                             "GET ", "GET\r", "\r"};
    for (size_t i = 0; i < sizeof partial_ok / sizeof partial_ok[0]; i++) {
        assert_int_equal(parse_req(partial_ok[i], &req, &consumed),
                         WSP_ERR_NEED_MORE);
    }
    static const char *const partial_bad[] = {"\x16\x03\x01", "\r\n\x16",
                                              "GE(", "\x81\x85"};
    for (size_t i = 0; i < sizeof partial_bad / sizeof partial_bad[0]; i++) {
        assert_int_equal(parse_req(partial_bad[i], &req, &consumed),
                         WSP_ERR_HTTP_MALFORMED);
    }

    /* NULL buffer: only valid when empty. */
    assert_int_equal(wsp_http_parse_request(NULL, 5, 0, 0, &req, &consumed),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_http_parse_request(rfc_request, strlen(rfc_request), 0, 0,
                                            NULL, &consumed),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_http_parse_request(rfc_request, strlen(rfc_request), 0, 0,
                                            &req, NULL),
                     WSP_ERR_INVALID_ARG);
}

static void test_status_line_edges(void **state)
{
    (void)state;
    wsp_response resp;
    size_t consumed = 0;
    static const char *const bad[] = {
        "HTTP/1.1 099 Low\r\n\r\n",      /* status below 100 */
        "HTTP/1.1 101X\r\n\r\n",         /* no space after the status */
        "HTTP/1.1 101 A\001B\r\n\r\n",  /* control byte in the reason */
        "HTTP/1.1 101 A\177\r\n\r\n",    /* DEL in the reason */
        "HTTP/1.1 1a1 X\r\n\r\n",        /* status not digits */
        "HTTP/1.x 101 X\r\n\r\n",        /* bad version */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse_resp(bad[i], &resp, &consumed), WSP_ERR_HTTP_MALFORMED);
    }
    /* A tab in the reason is allowed; an empty reason after the space too. */
    assert_int_equal(parse_resp("HTTP/1.1 101 A\tB\r\n\r\n", &resp, &consumed), WSP_OK);
    assert_str_n(resp.reason, resp.reason_len, "A\tB");
    assert_int_equal(parse_resp("HTTP/1.1 101 \r\n\r\n", &resp, &consumed), WSP_OK);
    assert_int_equal(resp.status, 101);
    assert_int_equal(resp.reason_len, 0);

    /* Incomplete: a prefix of "HTTP/" waits, anything else is rejected. */
    assert_int_equal(parse_resp("HTT", &resp, &consumed), WSP_ERR_NEED_MORE);
    assert_int_equal(parse_resp("\r\nHTTP/1.1 1", &resp, &consumed), WSP_ERR_NEED_MORE);
    assert_int_equal(parse_resp("HTX", &resp, &consumed), WSP_ERR_HTTP_MALFORMED);
    assert_int_equal(parse_resp("\r\nhttp", &resp, &consumed), WSP_ERR_HTTP_MALFORMED);

    assert_int_equal(wsp_http_parse_response(rfc_response, strlen(rfc_response), 0, 0,
                                             NULL, &consumed),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_http_parse_response(rfc_response, strlen(rfc_response), 0, 0,
                                             &resp, NULL),
                     WSP_ERR_INVALID_ARG);
}

static void test_headers_access_edges(void **state)
{
    (void)state;
    wsp_headers h;
    memset(&h, 0, sizeof h);
    static const char raw[] = "\nNoColon\r\nA: b\nC:d";
    h.raw = raw;
    h.raw_len = strlen(raw);
    size_t pos = 0;
    wsp_header hd;
    assert_int_equal(wsp_headers_next(NULL, &pos, &hd), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_headers_next(&h, NULL, &hd), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_headers_next(&h, &pos, NULL), WSP_ERR_INVALID_ARG);
    /* Lines that are not header fields (empty, no colon) end the walk. */
    assert_int_equal(wsp_headers_next(&h, &pos, &hd), WSP_ERR_NOT_FOUND);
    assert_int_equal(pos, 1);
    assert_int_equal(wsp_headers_next(&h, &pos, &hd), WSP_ERR_NOT_FOUND);
    assert_int_equal(wsp_headers_next(&h, &pos, &hd), WSP_OK);
    assert_str_n(hd.name, hd.name_len, "A");
    assert_str_n(hd.value, hd.value_len, "b");
    /* The last line may lack its terminator. */
    assert_int_equal(wsp_headers_next(&h, &pos, &hd), WSP_OK);
    assert_str_n(hd.name, hd.name_len, "C");
    assert_str_n(hd.value, hd.value_len, "d");
    assert_int_equal(wsp_headers_next(&h, &pos, &hd), WSP_ERR_NOT_FOUND);

    const char *v = NULL;
    size_t vl = 0;
    assert_int_equal(wsp_headers_get(NULL, "a", &v, &vl), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_headers_get(&h, NULL, &v, &vl), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_headers_get(&h, "a", NULL, &vl), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_headers_get(&h, "a", &v, NULL), WSP_ERR_INVALID_ARG);
}

static void expect_error_response(int status, const char *start_line)
{
    uint8_t out[256];
    size_t n = 0;
    assert_int_equal(wsp_http_build_error(status, out, sizeof out, &n), WSP_OK);
    size_t sl = strlen(start_line);
    assert_true(n > sl);
    if (memcmp(out, start_line, sl) != 0) {
        print_error("got \"%.*s\" want \"%s\"\n", (int)sl, (const char *)out, start_line);
        fail();
    }
    static const char tail[] = "Connection: close\r\nContent-Length: 0\r\n\r\n";
    assert_true(n >= sizeof tail - 1);
    assert_memory_equal(out + n - (sizeof tail - 1), tail, sizeof tail - 1);
}

static void test_error_reason_phrases(void **state)
{
    (void)state;
    expect_error_response(401, "HTTP/1.1 401 Unauthorized\r\n");
    expect_error_response(404, "HTTP/1.1 404 Not Found\r\n");
    expect_error_response(408, "HTTP/1.1 408 Request Timeout\r\n");
    expect_error_response(413, "HTTP/1.1 413 Content Too Large\r\n");
    expect_error_response(429, "HTTP/1.1 429 Too Many Requests\r\n");
    expect_error_response(500, "HTTP/1.1 500 Internal Server Error\r\n");
    expect_error_response(501, "HTTP/1.1 501 Not Implemented\r\n");
    expect_error_response(503, "HTTP/1.1 503 Service Unavailable\r\n");
    expect_error_response(505, "HTTP/1.1 505 HTTP Version Not Supported\r\n");
    expect_error_response(418, "HTTP/1.1 418 Client Error\r\n");
    expect_error_response(599, "HTTP/1.1 599 Server Error\r\n");

    size_t n = 7;
    assert_int_equal(wsp_http_build_error(400, NULL, 10, &n), WSP_ERR_INVALID_ARG);
    uint8_t out[8];
    assert_int_equal(wsp_http_build_error(400, out, sizeof out, NULL),
                     WSP_ERR_INVALID_ARG);
    /* Size query with no buffer: the size of the real response. */
    assert_int_equal(wsp_http_build_error(400, NULL, 0, &n), WSP_OK);
    assert_true(n > sizeof out);
    uint8_t big[256];
    size_t written = 0;
    assert_int_equal(wsp_http_build_error(400, big, sizeof big, &written), WSP_OK);
    assert_int_equal(written, n);
}

/* An empty input may be given as NULL (only NULL with a length is invalid):
 * it is simply not a complete head yet. Must hold without undefined
 * behaviour (no arithmetic on, or memchr of, the NULL pointer). */
static void test_null_empty_buffer(void **state)
{
    (void)state;
    wsp_request req;
    wsp_response resp;
    size_t consumed = 0;
    assert_int_equal(wsp_http_parse_request(NULL, 0, 0, 0, &req, &consumed),
                     WSP_ERR_NEED_MORE);
    assert_int_equal(wsp_http_parse_response(NULL, 0, 0, 0, &resp, &consumed),
                     WSP_ERR_NEED_MORE);
}

/* 0.1 stored the needed size in *out_len on WSP_ERR_BUFFER_TOO_SMALL and
 * left it as it was on other failures; now every failure leaves 0, and a
 * NULL buffer with no room measures exactly what a real call writes. */
static void test_regression_build_error_out_len(void **state)
{
    (void)state;
    static const int codes[] = {400, 403, 404, 405, 418, 426, 431, 500, 503, 599};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        size_t measured = 12345;
        assert_int_equal(wsp_http_build_error(codes[i], NULL, 0, &measured), WSP_OK);
        uint8_t out[512];
        memset(out, 0x7E, sizeof out);
        size_t n = 12345;
        assert_int_equal(wsp_http_build_error(codes[i], out, sizeof out, &n), WSP_OK);
        assert_int_equal(measured, n);
        /* Exactly the measured room is enough; one byte less is not. */
        assert_int_equal(out[n], 0x7E);
        assert_int_equal(wsp_http_build_error(codes[i], out, measured, &n), WSP_OK);
        assert_int_equal(n, measured);
        n = 12345;
        assert_int_equal(wsp_http_build_error(codes[i], out, measured - 1, &n),
                         WSP_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(n, 0);
    }
    static const int bad[] = {0, 101, 200, 399, 600, -400};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t out[512];
        size_t n = 12345;
        assert_int_equal(wsp_http_build_error(bad[i], out, sizeof out, &n),
                         WSP_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
        n = 12345;
        assert_int_equal(wsp_http_build_error(bad[i], NULL, 0, &n), WSP_ERR_INVALID_ARG);
        assert_int_equal(n, 0);
    }
    size_t n = 12345;
    assert_int_equal(wsp_http_build_error(400, NULL, 10, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
}

/* 0.1 answered WSP_ERR_NEED_MORE both for "input incomplete" and for "no
 * such item": a caller could not tell an absent header from a short read.
 * Absent headers and list ends are WSP_ERR_NOT_FOUND now. */
static void test_regression_not_found_is_its_own_status(void **state)
{
    (void)state;
    static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\nX-List: one, two\r\n\r\n";
    wsp_request req;
    size_t consumed = 0;
    assert_int_equal(wsp_http_parse_request(head, strlen(head), 0, 0, &req, &consumed),
                     WSP_OK);
    const char *v = NULL;
    size_t vl = 0;
    assert_int_equal(wsp_headers_get(&req.headers, "X-Absent", &v, &vl), WSP_ERR_NOT_FOUND);
    assert_int_equal(wsp_headers_get(&req.headers, "X-List", &v, &vl), WSP_OK);
    size_t pos = 0, il = 0;
    const char *item = NULL;
    assert_int_equal(wsp_list_next(v, vl, &pos, &item, &il), WSP_OK);
    assert_int_equal(wsp_list_next(v, vl, &pos, &item, &il), WSP_OK);
    assert_int_equal(wsp_list_next(v, vl, &pos, &item, &il), WSP_ERR_NOT_FOUND);
    pos = 0;
    wsp_header hd;
    assert_int_equal(wsp_headers_next(&req.headers, &pos, &hd), WSP_OK);
    assert_int_equal(wsp_headers_next(&req.headers, &pos, &hd), WSP_OK);
    assert_int_equal(wsp_headers_next(&req.headers, &pos, &hd), WSP_ERR_NOT_FOUND);
    size_t lpos = 0;
    pos = 0;
    assert_int_equal(wsp_upgrade_next_subprotocol(&req.headers, &pos, &lpos, &item, &il),
                     WSP_ERR_NOT_FOUND);
    pos = lpos = 0;
    assert_int_equal(wsp_upgrade_next_extension(&req.headers, &pos, &lpos, &item, &il),
                     WSP_ERR_NOT_FOUND);
    /* Incomplete input still says NEED_MORE. */
    assert_int_equal(wsp_http_parse_request(head, strlen(head) - 1, 0, 0, &req, &consumed),
                     WSP_ERR_NEED_MORE);
    /* The two statuses are told apart in words too. */
    assert_int_equal(WSP_ERR_NOT_FOUND, -10);
    assert_string_not_equal(wsp_strerror(WSP_ERR_NOT_FOUND),
                            wsp_strerror(WSP_ERR_NEED_MORE));
    assert_int_equal(strncmp(wsp_strerror(WSP_ERR_NOT_FOUND), "WSP_ERR_NOT_FOUND:", 18), 0);
}

/* ---- Resumed parsing: a head fed in pieces ---- */

/* One parse of buf[0..len): the status and everything it returned, as
 * offsets from buf so that results from copies at other addresses
 * compare. */
typedef struct head_result {
    int rc;
    size_t consumed;
    size_t a_off, a_len, b_off, b_len; /* method and target, or reason */
    int major, minor, status;
    size_t raw_off, raw_len, count;
} head_result;

static size_t off_in(const char *p, const char *base)
{
    return p ? (size_t)(p - base) : (size_t)-1;
}

static head_result run_parse(const char *buf, size_t len, size_t max_bytes,
                             size_t max_headers, int is_request,
                             wsp_http_progress *progress)
{
    head_result r;
    memset(&r, 0, sizeof r);
    wsp_request req;
    wsp_response resp;
    wsp_headers *h = NULL;
    size_t consumed = 0;
    if (is_request) {
        r.rc = progress ? wsp_http_resume_request(buf, len, max_bytes,
                                                  max_headers, progress, &req,
                                                  &consumed)
                        : wsp_http_parse_request(buf, len, max_bytes,
                                                 max_headers, &req, &consumed);
        if (r.rc == WSP_OK) {
            r.a_off = off_in(req.method, buf);
            r.a_len = req.method_len;
            r.b_off = off_in(req.target, buf);
            r.b_len = req.target_len;
            r.major = req.version_major;
            r.minor = req.version_minor;
            h = &req.headers;
        }
    } else {
        r.rc = progress ? wsp_http_resume_response(buf, len, max_bytes,
                                                   max_headers, progress,
                                                   &resp, &consumed)
                        : wsp_http_parse_response(buf, len, max_bytes,
                                                  max_headers, &resp,
                                                  &consumed);
        if (r.rc == WSP_OK) {
            r.b_off = off_in(resp.reason, buf);
            r.b_len = resp.reason_len;
            r.major = resp.version_major;
            r.minor = resp.version_minor;
            r.status = resp.status;
            h = &resp.headers;
        }
    }
    if (h) {
        r.consumed = consumed;
        r.raw_off = off_in(h->raw, buf);
        r.raw_len = h->raw_len;
        r.count = h->count;
    }
    return r;
}

static void expect_same(const head_result *got, const head_result *want,
                        const char *how, size_t at, size_t len)
{
    /* Field by field: padding bytes do not survive struct copies. */
    if (got->rc == want->rc && got->consumed == want->consumed &&
        got->a_off == want->a_off && got->a_len == want->a_len &&
        got->b_off == want->b_off && got->b_len == want->b_len &&
        got->major == want->major && got->minor == want->minor &&
        got->status == want->status && got->raw_off == want->raw_off &&
        got->raw_len == want->raw_len && got->count == want->count)
        return;
    print_error("%s: split at %zu, len %zu: rc %d (consumed %zu, raw %zu+%zu)"
                " but a whole parse gives %d (consumed %zu, raw %zu+%zu)\n",
                how, at, len, got->rc, got->consumed, got->raw_off,
                got->raw_len, want->rc, want->consumed, want->raw_off,
                want->raw_len);
    fail();
}

/* Feeds text (plus some frame bytes after it) in growing prefixes and
 * checks every answer against a from-scratch parse of the same prefix:
 * one byte at a time, and in two pieces split at every point. Each call
 * gets a fresh copy of the bytes at another address, as a receive buffer
 * may move between calls. */
static void check_resume(const char *text, size_t max_bytes,
                         size_t max_headers, int is_request)
{
    static const char tail[] = "\x81\x05Hello";
    size_t tn = strlen(text), n = tn + sizeof tail - 1;
    char *src = malloc(n);
    assert_non_null(src);
    memcpy(src, text, tn);
    memcpy(src + tn, tail, sizeof tail - 1);

    head_result *whole = calloc(n + 1, sizeof *whole);
    assert_non_null(whole);
    for (size_t len = 0; len <= n; len++)
        whole[len] = run_parse(src, len, max_bytes, max_headers, is_request,
                               NULL);

    wsp_http_progress prog;
    memset(&prog, 0, sizeof prog);
    for (size_t len = 0; len <= n; len++) {
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, src, len);
        head_result r = run_parse(copy, len, max_bytes, max_headers,
                                  is_request, &prog);
        expect_same(&r, &whole[len], "byte by byte", len, len);
        free(copy);
    }

    for (size_t at = 0; at <= n; at++) {
        memset(&prog, 0, sizeof prog);
        char *first = malloc(n), *second = malloc(n);
        assert_non_null(first);
        assert_non_null(second);
        memcpy(first, src, n);
        memcpy(second, src, n);
        head_result r = run_parse(first, at, max_bytes, max_headers,
                                  is_request, &prog);
        expect_same(&r, &whole[at], "first piece", at, at);
        r = run_parse(second, n, max_bytes, max_headers, is_request, &prog);
        expect_same(&r, &whole[n], "second piece", at, n);
        free(first);
        free(second);
    }
    free(whole);
    free(src);
}

static void test_resume_every_split(void **state)
{
    (void)state;
    static const char *const requests[] = {
        "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
        /* bare LF line ends, and a mix */
        "GET / HTTP/1.1\nHost: a\n\n",
        "GET / HTTP/1.1\r\nHost: a\n\r\n",
        "GET / HTTP/1.1\nHost: a\r\n\n",
        /* empty lines before the start line (RFC 9112 2.2) */
        "\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        /* early rejections, before the head is complete */
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "\r\r\r{GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\nMore: y\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET\r / HTTP/1.1\r\n\r\n",
        "\r\r\n\r\n",
    };
    static const char *const responses[] = {
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        "HTTP/1.1 101 OK\nUpgrade: websocket\n\n",
        "\r\nHTTP/1.1 101\r\n\r\n",
        "HTTP/1.1 101 \r\nA: b\n\r\n",
        "HTTQ/1.1 101 OK\r\n\r\n",
        "\r\r\rHTTP/1.1 101 OK\r\n\r\n",
        "HTTP/1.1 1O1 OK\r\n\r\n",
        "HTTP/1.1 101 OK\r\nA: b\r\nC\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++)
        check_resume(requests[i], 0, 0, 1);
    for (size_t i = 0; i < sizeof responses / sizeof responses[0]; i++)
        check_resume(responses[i], 0, 0, 0);

    /* Limits: a head of exactly max_bytes, and one byte over; exactly
     * max_headers lines, and one over. */
    char *h = make_head(3, 40);
    size_t n = strlen(h);
    check_resume(h, n, 0, 1);
    check_resume(h, n - 1, 0, 1);
    check_resume(h, 0, 4, 1);
    check_resume(h, 0, 3, 1);
    check_resume(h, n - 1, 3, 1);
    free(h);
    check_resume("HTTP/1.1 101 OK\r\nA: b\r\nC: d\r\n\r\n", 31, 0, 0);
    check_resume("HTTP/1.1 101 OK\r\nA: b\r\nC: d\r\n\r\n", 30, 0, 0);
    check_resume("HTTP/1.1 101 OK\r\nA: b\r\nC: d\r\n\r\n", 0, 1, 0);
}

/* A head of the default limit fed one byte at a time costs what it costs
 * whole: every byte is searched once and every line checked once, however
 * many calls it takes. Before resuming, each call searched from byte 0. */
static void test_resume_linear_cost(void **state)
{
    (void)state;
    char *h = make_head(40, 1);
    size_t base = strlen(h);
    free(h);
    h = make_head(40, WSP_DEFAULT_MAX_HEADER_BYTES - base + 1);
    size_t n = strlen(h);
    assert_int_equal(n, WSP_DEFAULT_MAX_HEADER_BYTES);

    wsp_http_progress whole;
    memset(&whole, 0, sizeof whole);
    wsp_request req;
    size_t consumed = 0;
    assert_int_equal(wsp_http_resume_request(h, n, 0, 0, &whole, &req,
                                             &consumed), WSP_OK);
    assert_int_equal(consumed, n);
    /* Each byte searched once and each line checked once (the start line
     * again at the end): about 2n. */
    assert_true(whole.examined >= n && whole.examined < 2 * n + 32);

    wsp_http_progress prog;
    memset(&prog, 0, sizeof prog);
    size_t calls = 0, total = 0;
    for (size_t len = 1; len <= n; len++) {
        prog.examined = 0; /* then it holds this call's cost alone */
        int rc = wsp_http_resume_request(h, len, 0, 0, &prog, &req, &consumed);
        calls++;
        total += prog.examined;
        if (len < n) {
            assert_int_equal(rc, WSP_ERR_NEED_MORE);
            /* A call that completes no line looks at its new byte only. */
            if (h[len - 1] != '\n') assert_int_equal(prog.examined, 1);
        } else {
            assert_int_equal(rc, WSP_OK);
            assert_int_equal(consumed, n);
        }
    }
    assert_int_equal(calls, n);
    assert_int_equal(total, whole.examined);
    free(h);
}

/* Given fewer bytes than it had searched (which wsp_conn_recv's contract
 * rules out), the progress starts over instead of trusting offsets past
 * the end; the answers stay those of a fresh parse. */
static void test_resume_shorter_input(void **state)
{
    (void)state;
    const char *r = "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
    size_t n = strlen(r);
    wsp_http_progress prog;
    memset(&prog, 0, sizeof prog);
    wsp_request req;
    size_t consumed = 0;
    assert_int_equal(wsp_http_resume_request(r, n - 3, 0, 0, &prog, &req,
                                             &consumed), WSP_ERR_NEED_MORE);
    assert_int_equal(prog.searched, n - 3);
    assert_int_equal(wsp_http_resume_request(r, 10, 0, 0, &prog, &req,
                                             &consumed), WSP_ERR_NEED_MORE);
    assert_int_equal(prog.searched, 10);
    assert_int_equal(prog.phase, WSP_HEAD_START_LINE);
    assert_int_equal(wsp_http_resume_request(NULL, 0, 0, 0, &prog, &req,
                                             &consumed), WSP_ERR_NEED_MORE);
    assert_int_equal(prog.searched, 0);
    assert_int_equal(wsp_http_resume_request(r, n, 0, 0, &prog, &req,
                                             &consumed), WSP_OK);
    assert_int_equal(consumed, n);
    assert_int_equal(req.headers.count, 2);
    /* Done: the progress is fresh again, so the same head parses anew. */
    assert_int_equal(prog.searched, 0);
    assert_int_equal(prog.phase, WSP_HEAD_START_LINE);
    assert_int_equal(wsp_http_resume_request(r, n, 0, 0, &prog, &req,
                                             &consumed), WSP_OK);
    /* A tighter header count on a later call counts the lines seen. */
    memset(&prog, 0, sizeof prog);
    assert_int_equal(wsp_http_resume_request(r, n - 2, 0, 0, &prog, &req,
                                             &consumed), WSP_ERR_NEED_MORE);
    assert_int_equal(wsp_http_resume_request(r, n - 1, 0, 1, &prog, &req,
                                             &consumed),
                     WSP_ERR_HTTP_TOO_LARGE);
    /* An error leaves the progress as it was. */
    assert_int_equal(prog.searched, n - 2);
    assert_int_equal(prog.headers, 2);
    assert_int_equal(wsp_http_resume_request(r, n, 0, 0, NULL, &req,
                                             &consumed), WSP_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_basic),
        cmocka_unit_test(test_response_basic),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_bare_lf),
        cmocka_unit_test(test_value_trimming),
        cmocka_unit_test(test_duplicate_first_wins),
        cmocka_unit_test(test_malformed_requests),
        cmocka_unit_test(test_malformed_responses),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_limit_bytes),
        cmocka_unit_test(test_limit_default_bytes),
        cmocka_unit_test(test_limit_count),
        cmocka_unit_test(test_array_headers),
        cmocka_unit_test(test_list_next),
        cmocka_unit_test(test_regression_build_error_out_len),
        cmocka_unit_test(test_regression_not_found_is_its_own_status),
        cmocka_unit_test(test_list_next_args_and_quoting),
        cmocka_unit_test(test_bad_version_digits),
        cmocka_unit_test(test_bad_header_lines),
        cmocka_unit_test(test_request_line_edges),
        cmocka_unit_test(test_status_line_edges),
        cmocka_unit_test(test_headers_access_edges),
        cmocka_unit_test(test_error_reason_phrases),
        cmocka_unit_test(test_null_empty_buffer),
        cmocka_unit_test(test_resume_every_split),
        cmocka_unit_test(test_resume_linear_cost),
        cmocka_unit_test(test_resume_shorter_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
