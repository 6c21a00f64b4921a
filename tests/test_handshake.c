/* Opening handshake helpers against RFC 6455 4.1, 4.2.1, 4.2.2 and 4.4. */
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

static wsp_accept_options accept_opts(const char *subprotocol,
                                      const char *extensions,
                                      const wsp_header *headers, size_t count)
{
    wsp_accept_options o;
    memset(&o, 0, sizeof o);
    o.subprotocol = subprotocol;
    o.extensions = extensions;
    o.headers = headers;
    o.header_count = count;
    return o;
}

static void test_accept_key(void **state)
{
    (void)state;
    char out[WSP_ACCEPT_LEN + 1];
    memset(out, 'x', sizeof out);
    const char *k1 = "dGhlIHNhbXBsZSBub25jZQ==";
    assert_int_equal(wsp_accept_key(k1, strlen(k1), out), WSP_OK);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const char *k2 = "Qcgtb1RJ6HceeTRLPFux/A==";
    assert_int_equal(wsp_accept_key(k2, strlen(k2), out), WSP_OK);
    assert_string_equal(out, "84Qpane33QhxOmcz8bGkFdE1AHk=");
    /* The length is honoured (the key is not NUL-terminated). */
    char buf[64];
    snprintf(buf, sizeof buf, "%sGARBAGE", k1);
    assert_int_equal(wsp_accept_key(buf, strlen(k1), out), WSP_OK);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(wsp_accept_key(NULL, 4, out), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_accept_key(k1, strlen(k1), NULL), WSP_ERR_INVALID_ARG);
}

/* ---- request validation ---------------------------------------------- */

typedef struct parsed {
    char text[2048];
    wsp_request req;
} parsed;

/* Parses a request made of start line + header lines (each without CRLF). */
static void parse_lines(parsed *p, const char *start,
                        const char *const *lines, size_t count)
{
    size_t n = (size_t)snprintf(p->text, sizeof p->text, "%s\r\n", start);
    for (size_t i = 0; i < count; i++)
        n += (size_t)snprintf(p->text + n, sizeof p->text - n, "%s\r\n",
                              lines[i]);
    n += (size_t)snprintf(p->text + n, sizeof p->text - n, "\r\n");
    size_t consumed = 0;
    assert_int_equal(wsp_http_parse_request(p->text, n, 0, 0, &p->req,
                                            &consumed), WSP_OK);
    assert_int_equal(consumed, n);
}

enum { H_HOST, H_UPGRADE, H_CONNECTION, H_KEY, H_ORIGIN, H_PROTO, H_VERSION,
       H_COUNT };
static const char *const rfc_lines[H_COUNT] = {
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Origin: http://example.com",
    "Sec-WebSocket-Protocol: chat, superchat",
    "Sec-WebSocket-Version: 13",
};

/* Validates the RFC example request with one header line replaced (NULL:
 * removed) and optionally one extra line and another start line. */
static int validate_variant(const char *start, int which, const char *line,
                            const char *extra,
                            const wsp_origin_policy *policy,
                            wsp_upgrade_info *info)
{
    parsed p;
    const char *lines[H_COUNT + 1];
    size_t n = 0;
    for (int i = 0; i < H_COUNT; i++) {
        if (i == which) {
            if (line) lines[n++] = line;
        } else {
            lines[n++] = rfc_lines[i];
        }
    }
    if (extra) lines[n++] = extra;
    parse_lines(&p, start ? start : "GET /chat HTTP/1.1", lines, n);
    wsp_upgrade_info local;
    return wsp_upgrade_validate(&p.req, policy, info ? info : &local);
}

static void check_variant(const char *start, int which, const char *line,
                          const char *extra, int want_status, int want_http)
{
    int rc = validate_variant(start, which, line, extra, NULL, NULL);
    if (rc != want_status)
        print_error("variant \"%s\" / \"%s\" / \"%s\": got %d\n",
                    start ? start : "", line ? line : "(none)",
                    extra ? extra : "", rc);
    assert_int_equal(rc, want_status);
    assert_int_equal(wsp_status_http_code(rc), want_http);
}

#define CHECK_VARIANT check_variant

static void test_validate_rfc_example(void **state)
{
    (void)state;
    parsed p;
    parse_lines(&p, "GET /chat HTTP/1.1", rfc_lines, H_COUNT);
    wsp_upgrade_info info;
    assert_int_equal(wsp_upgrade_validate(&p.req, NULL, &info), WSP_OK);
    assert_str_n(info.host, info.host_len, "server.example.com");
    assert_str_n(info.origin, info.origin_len, "http://example.com");
    assert_str_n(info.key, info.key_len, "dGhlIHNhbXBsZSBub25jZQ==");
    assert_string_equal(info.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* The headers are a copy of the request's, not a pointer into it. */
    assert_ptr_equal(info.headers.raw, p.req.headers.raw);
    assert_int_equal(info.headers.raw_len, p.req.headers.raw_len);

    /* Subprotocols are reachable through info.headers. */
    size_t pos = 0, lpos = 0;
    const char *item;
    size_t item_len;
    assert_int_equal(wsp_upgrade_next_subprotocol(&info.headers, &pos, &lpos,
                                                  &item, &item_len), WSP_OK);
    assert_str_n(item, item_len, "chat");
    assert_int_equal(wsp_upgrade_next_subprotocol(&info.headers, &pos, &lpos,
                                                  &item, &item_len), WSP_OK);
    assert_str_n(item, item_len, "superchat");
    assert_int_equal(wsp_upgrade_next_subprotocol(&info.headers, &pos, &lpos,
                                                  &item, &item_len),
                     WSP_ERR_NOT_FOUND);

    /* Without Origin: origin is NULL. */
    assert_int_equal(validate_variant(NULL, H_ORIGIN, NULL, NULL, NULL, &info),
                     WSP_OK);
    assert_null(info.origin);
    /* Minimal: no Origin, no subprotocols. */
    parsed q;
    static const char *const min[] = {
        "Host: a.test", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: Qcgtb1RJ6HceeTRLPFux/A==",
        "Sec-WebSocket-Version: 13"};
    parse_lines(&q, "GET / HTTP/1.1", min, 5);
    assert_int_equal(wsp_upgrade_validate(&q.req, NULL, &info), WSP_OK);
    assert_string_equal(info.accept, "84Qpane33QhxOmcz8bGkFdE1AHk=");
}

static void test_validate_method_version(void **state)
{
    (void)state;
    CHECK_VARIANT("POST /chat HTTP/1.1", -1, NULL, NULL, WSP_ERR_HTTP_METHOD,
                  405);
    CHECK_VARIANT("HEAD /chat HTTP/1.1", -1, NULL, NULL, WSP_ERR_HTTP_METHOD,
                  405);
    /* Methods are case-sensitive (RFC 9110 9.1). */
    CHECK_VARIANT("get /chat HTTP/1.1", -1, NULL, NULL, WSP_ERR_HTTP_METHOD,
                  405);
    CHECK_VARIANT("GET /chat HTTP/1.0", -1, NULL, NULL, WSP_ERR_HTTP_VERSION,
                  400);
    CHECK_VARIANT("GET /chat HTTP/0.9", -1, NULL, NULL, WSP_ERR_HTTP_VERSION,
                  400);
}

static void test_validate_host(void **state)
{
    (void)state;
    CHECK_VARIANT(NULL, H_HOST, NULL, NULL, WSP_ERR_HTTP_HOST, 400);
    CHECK_VARIANT(NULL, -1, NULL, "Host: other.example.com", WSP_ERR_HTTP_HOST,
                  400);
    CHECK_VARIANT(NULL, H_HOST, "host: server.example.com", NULL, WSP_OK, 0);
}

static void test_validate_upgrade(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "Upgrade: websocket", "Upgrade: WebSocket", "Upgrade: WEBSOCKET",
        "upgrade: websocket", "Upgrade: foo, WebSocket",
        "Upgrade: websocket, foo", "Upgrade:   websocket  "};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        CHECK_VARIANT(NULL, H_UPGRADE, ok[i], NULL, WSP_OK, 0);
    static const char *const bad[] = {
        NULL, "Upgrade: h2c", "Upgrade: websocket2", "Upgrade: web socket",
        "Upgrade: ", "Upgrade: xwebsocket"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_VARIANT(NULL, H_UPGRADE, bad[i], NULL, WSP_ERR_HTTP_UPGRADE, 400);
}

static void test_validate_connection(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "Connection: Upgrade", "Connection: upgrade", "Connection: UPGRADE",
        "Connection: keep-alive, Upgrade", "Connection: Upgrade, keep-alive",
        "Connection: keep-alive,upgrade", "connection:upgrade"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        CHECK_VARIANT(NULL, H_CONNECTION, ok[i], NULL, WSP_OK, 0);
    static const char *const bad[] = {
        NULL, "Connection: keep-alive", "Connection: close",
        "Connection: upgrade2", "Connection: keep-alive upgrade"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_VARIANT(NULL, H_CONNECTION, bad[i], NULL,
                      WSP_ERR_HTTP_CONNECTION, 400);
    /* The list may be spread over several field lines (RFC 9110 5.3). */
    CHECK_VARIANT(NULL, H_CONNECTION, "Connection: keep-alive",
                  "Connection: Upgrade", WSP_OK, 0);
}

static void test_validate_key(void **state)
{
    (void)state;
    CHECK_VARIANT(NULL, H_KEY, "Sec-WebSocket-Key:   dGhlIHNhbXBsZSBub25jZQ== ",
                  NULL, WSP_OK, 0);
    CHECK_VARIANT(NULL, H_KEY, "sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==",
                  NULL, WSP_OK, 0);
    static const char *const bad[] = {
        NULL,
        "Sec-WebSocket-Key: ",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ",    /* no padding */
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=",   /* bad padding */
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA",      /* 15 bytes */
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA",  /* 18 bytes */
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=",  /* 17 bytes */
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==dGhl",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==",  /* not base64 */
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSB ub25jZQ==", /* inner space */
        "Sec-WebSocket-Key: the sample nonce",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_VARIANT(NULL, H_KEY, bad[i], NULL, WSP_ERR_HTTP_KEY, 400);
    /* RFC 6455 11.3.1: the key must not appear more than once. */
    CHECK_VARIANT(NULL, -1, NULL,
                  "Sec-WebSocket-Key: Qcgtb1RJ6HceeTRLPFux/A==",
                  WSP_ERR_HTTP_KEY, 400);
}

static void test_validate_ws_version(void **state)
{
    (void)state;
    CHECK_VARIANT(NULL, H_VERSION, "sec-websocket-version:  13 ", NULL, WSP_OK,
                  0);
    static const char *const bad[] = {
        NULL, "Sec-WebSocket-Version: 8", "Sec-WebSocket-Version: 12",
        "Sec-WebSocket-Version: 14", "Sec-WebSocket-Version: 130",
        "Sec-WebSocket-Version: 1", "Sec-WebSocket-Version: 13, 8",
        "Sec-WebSocket-Version: "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_VARIANT(NULL, H_VERSION, bad[i], NULL, WSP_ERR_HTTP_WS_VERSION,
                      426);
}

/* ---- origin policy ------------------------------------------------------ */

static int origin_check(const wsp_origin_policy *pol, const char *origin)
{
    char line[256];
    if (origin) snprintf(line, sizeof line, "Origin: %s", origin);
    return validate_variant(NULL, H_ORIGIN, origin ? line : NULL, NULL, pol,
                            NULL);
}

static void test_origin_policy(void **state)
{
    (void)state;
    static const char *const allowed[] = {"https://example.com",
                                          "http://localhost:8080",
                                          "http://a.test:80",
                                          "HTTPS://Mixed.Example.ORG/"};
    wsp_origin_policy pol = {1, allowed, 4, 0, 0};

    static const char *const pass[] = {
        "https://example.com", "HTTPS://EXAMPLE.COM", "https://Example.Com",
        "https://example.com/", "https://example.com:443",
        "https://example.com:443/", "http://localhost:8080",
        "http://a.test", "http://a.test:80", "http://A.TEST/",
        "https://mixed.example.org", "https://mixed.example.org:443"};
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
        int rc = origin_check(&pol, pass[i]);
        if (rc != WSP_OK) print_error("origin %s: %d\n", pass[i], rc);
        assert_int_equal(rc, WSP_OK);
    }
    static const char *const deny[] = {
        "http://example.com",          /* scheme differs */
        "https://example.com:8443",    /* port differs */
        "https://example.com.evil.com",
        "https://evil.com",
        "https://xexample.com",
        "http://localhost",            /* 80 is not 8080 */
        "http://localhost:80",
        "http://localhost:8081",
        "https://a.test",              /* 443 is not 80 */
        "null",
        "https://example.com/path",
        ""};
    for (size_t i = 0; i < sizeof deny / sizeof deny[0]; i++) {
        int rc = origin_check(&pol, deny[i]);
        if (rc != WSP_ERR_HTTP_ORIGIN) print_error("origin %s: %d\n", deny[i], rc);
        assert_int_equal(rc, WSP_ERR_HTTP_ORIGIN);
        assert_int_equal(wsp_status_http_code(rc), 403);
    }
    /* Missing and "null". */
    assert_int_equal(origin_check(&pol, NULL), WSP_ERR_HTTP_ORIGIN);
    pol.allow_missing = 1;
    assert_int_equal(origin_check(&pol, NULL), WSP_OK);
    assert_int_equal(origin_check(&pol, "null"), WSP_ERR_HTTP_ORIGIN);
    pol.allow_null = 1;
    assert_int_equal(origin_check(&pol, "null"), WSP_OK);
    assert_int_equal(origin_check(&pol, "https://evil.com"),
                     WSP_ERR_HTTP_ORIGIN);
    pol.allow_missing = 0;
    assert_int_equal(origin_check(&pol, NULL), WSP_ERR_HTTP_ORIGIN);

    /* Disabled or absent policies let everything through. */
    wsp_origin_policy off = {0, allowed, 4, 0, 0};
    assert_int_equal(origin_check(&off, "https://evil.com"), WSP_OK);
    assert_int_equal(origin_check(&off, NULL), WSP_OK);
    assert_int_equal(origin_check(NULL, "https://evil.com"), WSP_OK);

    /* An enabled policy with an empty list allows nothing but its flags. */
    wsp_origin_policy none = {1, NULL, 0, 1, 0};
    assert_int_equal(origin_check(&none, "https://example.com"),
                     WSP_ERR_HTTP_ORIGIN);
    assert_int_equal(origin_check(&none, "null"), WSP_OK);
}

static int origin_check_str(const char *origin)
{
    return wsp_origin_check(origin, strlen(origin));
}

static void test_origin_check(void **state)
{
    (void)state;
    static const char *const valid[] = {
        "http://example.com", "https://example.com", "http://example.com:8080",
        "https://example.com:443", "HTTPS://EXAMPLE.COM", "Http://Example.Com:1",
        "https://example.com/",  /* the policy ignores one trailing "/" */
        "http://127.0.0.1:65535", "http://[::1]", "http://[::1]:8080",
        "https://[2001:db8::7]:443", "chrome-extension://abcdef",
        "ws://a-b.c_d~e", "svn+ssh://host"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        int rc = origin_check_str(valid[i]);
        if (rc != WSP_OK) print_error("origin %s: %d\n", valid[i], rc);
        assert_int_equal(rc, WSP_OK);
    }
    static const char *const invalid[] = {
        "", "null", "NULL", "example.com", "//example.com", "://example.com",
        "http:/example.com", "http://", "http:///", "http://:80",
        "https://example.com//", "https://example.com/path",
        "https://example.com/?q", "https://example.com#f",
        "https://example.com:", "https://example.com:0",
        "https://example.com:65536", "https://example.com:99999999999999999999",
        "https://example.com:8a", "https://example.com:-1",
        "https://example.com: 80", "https://exa mple.com", " https://example.com",
        "https://example.com ", "https://user@example.com", "1http://example.com",
        "ht tp://example.com", "http://::1", "http://[::1", "http://[]",
        "http://[::1]x", "http://[zz::1]", "http://example.com:80:80"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        int rc = origin_check_str(invalid[i]);
        if (rc != WSP_ERR_INVALID_ARG) print_error("origin '%s': %d\n", invalid[i], rc);
        assert_int_equal(rc, WSP_ERR_INVALID_ARG);
    }
    /* The length is what counts, not a NUL: an embedded NUL is refused, and
     * bytes past len are not looked at. */
    static const char nul[] = "http://exa\0mple.com";
    assert_int_equal(wsp_origin_check(nul, sizeof nul - 1), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_origin_check("http://a.test/path", 13), WSP_OK);
    assert_int_equal(wsp_origin_check("http://a.test", 12), WSP_OK);
    assert_int_equal(wsp_origin_check(NULL, 0), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_origin_check(NULL, 5), WSP_ERR_INVALID_ARG);

    /* Whatever the check accepts, a policy listing it lets it through. */
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        const char *const one[] = {valid[i]};
        wsp_origin_policy pol = {1, one, 1, 0, 0};
        assert_int_equal(origin_check(&pol, valid[i]), WSP_OK);
    }
}

/* ---- subprotocol and extension iteration ------------------------------- */

static void test_iteration_across_lines(void **state)
{
    (void)state;
    const char *r = "GET / HTTP/1.1\r\n"
                    "Sec-WebSocket-Protocol: chat, superchat\r\n"
                    "Host: a\r\n"
                    "sec-websocket-protocol: v2.chat\r\n"
                    "Sec-WebSocket-Protocol: ,\r\n"
                    "SEC-WEBSOCKET-PROTOCOL:  mqtt ,wamp \r\n"
                    "Sec-WebSocket-Extensions: permessage-deflate; "
                    "client_max_window_bits, x-foo\r\n"
                    "X-Other: chat\r\n"
                    "Sec-WebSocket-Extensions: x-bar; a=1; b=\"2\"\r\n"
                    "\r\n";
    wsp_request req;
    size_t consumed;
    assert_int_equal(wsp_http_parse_request(r, strlen(r), 0, 0, &req,
                                            &consumed), WSP_OK);
    static const char *const protos[] = {"chat", "superchat", "v2.chat",
                                         "mqtt", "wamp"};
    size_t pos = 0, lpos = 0;
    const char *item;
    size_t item_len;
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(wsp_upgrade_next_subprotocol(&req.headers, &pos,
                                                      &lpos, &item, &item_len),
                         WSP_OK);
        assert_str_n(item, item_len, protos[i]);
    }
    assert_int_equal(wsp_upgrade_next_subprotocol(&req.headers, &pos, &lpos,
                                                  &item, &item_len),
                     WSP_ERR_NOT_FOUND);

    static const char *const exts[] = {
        "permessage-deflate; client_max_window_bits", "x-foo",
        "x-bar; a=1; b=\"2\""};
    pos = lpos = 0;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(wsp_upgrade_next_extension(&req.headers, &pos, &lpos,
                                                    &item, &item_len),
                         WSP_OK);
        assert_str_n(item, item_len, exts[i]);
    }
    assert_int_equal(wsp_upgrade_next_extension(&req.headers, &pos, &lpos,
                                                &item, &item_len),
                     WSP_ERR_NOT_FOUND);

    /* Same through an array of headers. */
    static const wsp_header arr[] = {
        {"Sec-WebSocket-Protocol", 22, "a, b", 4},
        {"Host", 4, "x", 1},
        {"sec-websocket-protocol", 22, "c", 1},
    };
    wsp_headers h = {arr, 3, NULL, 0};
    static const char *const abc[] = {"a", "b", "c"};
    pos = lpos = 0;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(wsp_upgrade_next_subprotocol(&h, &pos, &lpos, &item,
                                                      &item_len), WSP_OK);
        assert_str_n(item, item_len, abc[i]);
    }
    assert_int_equal(wsp_upgrade_next_subprotocol(&h, &pos, &lpos, &item,
                                                  &item_len),
                     WSP_ERR_NOT_FOUND);
    pos = lpos = 0;
    assert_int_equal(wsp_upgrade_next_extension(&h, &pos, &lpos, &item,
                                                &item_len), WSP_ERR_NOT_FOUND);
}

/* ---- responses ---------------------------------------------------------- */

static void parse_out_response(const uint8_t *out, size_t len,
                               wsp_response *resp)
{
    size_t consumed = 0;
    assert_int_equal(wsp_http_parse_response((const char *)out, len, 0, 0,
                                             resp, &consumed), WSP_OK);
    assert_int_equal(consumed, len); /* exactly one head, nothing after */
    assert_true(len >= 4 && memcmp(out + len - 4, "\r\n\r\n", 4) == 0);
}

static void expect_header(const wsp_headers *h, const char *name,
                          const char *want)
{
    const char *v;
    size_t vl;
    if (!want) {
        assert_int_equal(wsp_headers_get(h, name, &v, &vl), WSP_ERR_NOT_FOUND);
        return;
    }
    assert_int_equal(wsp_headers_get(h, name, &v, &vl), WSP_OK);
    assert_str_n(v, vl, want);
}

static int list_has(const wsp_headers *h, const char *name, const char *tok)
{
    const char *v;
    size_t vl;
    if (wsp_headers_get(h, name, &v, &vl) != WSP_OK) return 0;
    size_t pos = 0;
    const char *item;
    size_t il;
    while (wsp_list_next(v, vl, &pos, &item, &il) == WSP_OK) {
        if (il != strlen(tok)) continue;
        size_t i = 0;
        for (; i < il; i++) {
            char a = item[i], b = tok[i];
            if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
            if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
            if (a != b) break;
        }
        if (i == il) return 1;
    }
    return 0;
}

static void test_build_response(void **state)
{
    (void)state;
    const char *accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    uint8_t out[1024];
    size_t n = 0;
    wsp_response resp;

    assert_int_equal(wsp_upgrade_build_response(accept, NULL, out, sizeof out,
                                                &n), WSP_OK);
    parse_out_response(out, n, &resp);
    assert_int_equal(resp.status, 101);
    assert_int_equal(resp.version_major, 1);
    assert_int_equal(resp.version_minor, 1);
    assert_true(memcmp(out, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0);
    assert_true(list_has(&resp.headers, "Upgrade", "websocket"));
    assert_true(list_has(&resp.headers, "Connection", "upgrade"));
    expect_header(&resp.headers, "Sec-WebSocket-Accept", accept);
    expect_header(&resp.headers, "Sec-WebSocket-Protocol", NULL);
    expect_header(&resp.headers, "Sec-WebSocket-Extensions", NULL);

    static const wsp_header extra[] = {{"X-Server", 8, "test", 4},
                                       {"Set-Cookie", 10, "a=b", 3}};
    wsp_accept_options opts = accept_opts("chat", "permessage-deflate", extra, 2);
    assert_int_equal(wsp_upgrade_build_response(accept, &opts, out, sizeof out,
                                                &n), WSP_OK);
    parse_out_response(out, n, &resp);
    assert_int_equal(resp.status, 101);
    expect_header(&resp.headers, "Sec-WebSocket-Accept", accept);
    expect_header(&resp.headers, "Sec-WebSocket-Protocol", "chat");
    expect_header(&resp.headers, "Sec-WebSocket-Extensions",
                  "permessage-deflate");
    expect_header(&resp.headers, "X-Server", "test");
    expect_header(&resp.headers, "Set-Cookie", "a=b");

    /* Too small: nothing written, *out_len 0; measuring gives the size. */
    size_t need = n;
    uint8_t small[1024];
    memset(small, 0xAB, sizeof small);
    size_t got = 12345;
    assert_int_equal(wsp_upgrade_build_response(accept, &opts, small, need - 1,
                                                &got),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(got, 0);
    assert_int_equal(wsp_upgrade_build_response(accept, &opts, NULL, 0, &got), WSP_OK);
    assert_int_equal(got, need);
    for (size_t i = 0; i < sizeof small; i++) assert_int_equal(small[i], 0xAB);
    assert_int_equal(wsp_upgrade_build_response(accept, &opts, small, need,
                                                &got), WSP_OK);
    assert_int_equal(got, need);
    assert_memory_equal(small, out, need);
}

static void test_build_response_injection(void **state)
{
    (void)state;
    const char *accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    uint8_t out[1024];
    size_t n;
    static const char *const bad_proto[] = {
        "chat\r\nX-Evil: 1", "chat\n", "chat\r", "two words", "a,b", "",
        "chat;x", "\"chat\""};
    for (size_t i = 0; i < sizeof bad_proto / sizeof bad_proto[0]; i++) {
        wsp_accept_options o = accept_opts(bad_proto[i], NULL, NULL, 0);
        int rc = wsp_upgrade_build_response(accept, &o, out, sizeof out, &n);
        if (rc != WSP_ERR_INVALID_ARG)
            print_error("subprotocol case %zu: %d\n", i, rc);
        assert_int_equal(rc, WSP_ERR_INVALID_ARG);
    }
    wsp_accept_options ext = accept_opts(NULL, "permessage-deflate\r\nX-Evil: 1", NULL, 0);
    assert_int_equal(wsp_upgrade_build_response(accept, &ext, out, sizeof out,
                                                &n), WSP_ERR_INVALID_ARG);
    ext.extensions = "x\ny";
    assert_int_equal(wsp_upgrade_build_response(accept, &ext, out, sizeof out,
                                                &n), WSP_ERR_INVALID_ARG);

    static const wsp_header bad_hdrs[][1] = {
        {{"X-A\r\nX-Evil", 11, "v", 1}},
        {{"X-A", 3, "v\r\nX-Evil: 1", 12}},
        {{"X-A", 3, "v\nX", 3}},
        {{"X-A", 3, "v\rX", 3}},
        {{"X-A", 3, "v\0X", 3}},
        {{"X-A\0", 4, "v", 1}},
    };
    for (size_t i = 0; i < sizeof bad_hdrs / sizeof bad_hdrs[0]; i++) {
        wsp_accept_options o = accept_opts(NULL, NULL, bad_hdrs[i], 1);
        int rc = wsp_upgrade_build_response(accept, &o, out, sizeof out, &n);
        if (rc != WSP_ERR_INVALID_ARG) print_error("header case %zu: %d\n", i, rc);
        assert_int_equal(rc, WSP_ERR_INVALID_ARG);
    }
}

static void test_build_error(void **state)
{
    (void)state;
    static const int codes[] = {400, 403, 404, 405, 426, 431, 500, 503, 418,
                                599};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        uint8_t out[1024];
        size_t n = 0;
        assert_int_equal(wsp_http_build_error(codes[i], out, sizeof out, &n),
                         WSP_OK);
        wsp_response resp;
        parse_out_response(out, n, &resp);
        assert_int_equal(resp.status, codes[i]);
        assert_int_equal(resp.version_major, 1);
        assert_int_equal(resp.version_minor, 1);
        expect_header(&resp.headers, "Content-Length", "0");
        assert_true(list_has(&resp.headers, "Connection", "close"));
        if (codes[i] == 426)
            expect_header(&resp.headers, "Sec-WebSocket-Version", "13");
        else
            expect_header(&resp.headers, "Sec-WebSocket-Version", NULL);
        if (codes[i] == 405)
            assert_true(list_has(&resp.headers, "Allow", "GET"));
        else
            expect_header(&resp.headers, "Allow", NULL);

        /* Too small. */
        uint8_t small[1024];
        memset(small, 0x5C, sizeof small);
        size_t got = 12345;
        assert_int_equal(wsp_http_build_error(codes[i], small, n - 1, &got),
                         WSP_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(got, 0);
        assert_int_equal(wsp_http_build_error(codes[i], NULL, 0, &got), WSP_OK);
        assert_int_equal(got, n);
        for (size_t j = 0; j < sizeof small; j++)
            assert_int_equal(small[j], 0x5C);
    }
    uint8_t out[256];
    size_t n;
    assert_int_equal(wsp_http_build_error(399, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_http_build_error(600, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_http_build_error(200, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_http_build_error(101, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
}

/* ---- pre-parsed requests ------------------------------------------------ */

static void make_array_request(wsp_request *req, const wsp_header *arr,
                               size_t count)
{
    memset(req, 0, sizeof *req);
    req->method = "GET";
    req->method_len = 3;
    req->target = "/chat";
    req->target_len = 5;
    req->version_major = 1;
    req->version_minor = 1;
    req->headers.array = arr;
    req->headers.count = count;
}

static void test_validate_array(void **state)
{
    (void)state;
    static const wsp_header good[] = {
        {"host", 4, "server.example.com", 18},
        {"upgrade", 7, "websocket", 9},
        {"connection", 10, "keep-alive, Upgrade", 19},
        {"sec-websocket-key", 17, "dGhlIHNhbXBsZSBub25jZQ==", 24},
        {"sec-websocket-version", 21, "13", 2},
        {"origin", 6, "https://example.com", 19},
        {"sec-websocket-protocol", 22, "chat", 4},
        {"sec-websocket-protocol", 22, "superchat", 9},
    };
    wsp_request req;
    wsp_upgrade_info info;
    make_array_request(&req, good, 8);
    assert_int_equal(wsp_upgrade_validate(&req, NULL, &info), WSP_OK);
    assert_string_equal(info.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_str_n(info.host, info.host_len, "server.example.com");
    assert_str_n(info.origin, info.origin_len, "https://example.com");
    size_t pos = 0, lpos = 0, count = 0;
    const char *item;
    size_t il;
    while (wsp_upgrade_next_subprotocol(&info.headers, &pos, &lpos, &item,
                                        &il) == WSP_OK)
        count++;
    assert_int_equal(count, 2);

    static const char *const allowed[] = {"https://example.com"};
    wsp_origin_policy pol = {1, allowed, 1, 0, 0};
    assert_int_equal(wsp_upgrade_validate(&req, &pol, &info), WSP_OK);
    static const char *const other[] = {"https://other.example"};
    pol.origins = other;
    assert_int_equal(wsp_upgrade_validate(&req, &pol, &info),
                     WSP_ERR_HTTP_ORIGIN);

    /* Each required header missing in turn. */
    static const int want[] = {WSP_ERR_HTTP_HOST, WSP_ERR_HTTP_UPGRADE,
                               WSP_ERR_HTTP_CONNECTION, WSP_ERR_HTTP_KEY,
                               WSP_ERR_HTTP_WS_VERSION};
    for (size_t skip = 0; skip < 5; skip++) {
        wsp_header arr[8];
        size_t n = 0;
        for (size_t i = 0; i < 8; i++)
            if (i != skip) arr[n++] = good[i];
        make_array_request(&req, arr, n);
        assert_int_equal(wsp_upgrade_validate(&req, NULL, &info), want[skip]);
    }
    make_array_request(&req, good, 8);
    req.method = "PUT";
    assert_int_equal(wsp_upgrade_validate(&req, NULL, &info),
                     WSP_ERR_HTTP_METHOD);
    make_array_request(&req, good, 8);
    req.version_minor = 0;
    assert_int_equal(wsp_upgrade_validate(&req, NULL, &info),
                     WSP_ERR_HTTP_VERSION);
    make_array_request(&req, good, 8);
    req.version_major = 2;
    req.version_minor = 0;
    assert_int_equal(wsp_upgrade_validate(&req, NULL, &info), WSP_OK);
    assert_int_equal(wsp_upgrade_validate(NULL, NULL, &info),
                     WSP_ERR_INVALID_ARG);
    make_array_request(&req, good, 8);
    assert_int_equal(wsp_upgrade_validate(&req, NULL, NULL),
                     WSP_ERR_INVALID_ARG);
}

/* ---- origin forms, header-name collisions, argument checks ---------------- */

static void test_origin_forms(void **state)
{
    (void)state;
    static const char *const allowed[] = {NULL,
                                          "not an origin",
                                          "http://[::1]:8080",
                                          "https://[2001:db8::1]",
                                          "ws://plain.test",
                                          "wss://secure.test",
                                          "ftp://files.test",
                                          "https://example.com"};
    wsp_origin_policy pol = {1, allowed, sizeof allowed / sizeof allowed[0], 0, 0};
    static const char *const pass[] = {
        "http://[::1]:8080", "http://[::1]:8080/", "HTTP://[::1]:8080",
        "https://[2001:db8::1]", "https://[2001:db8::1]:443",
        "ws://plain.test:80", "ws://plain.test", "wss://secure.test:443",
        "ftp://files.test"};
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
        int rc = origin_check(&pol, pass[i]);
        if (rc != WSP_OK) print_error("origin %s: %d\n", pass[i], rc);
        assert_int_equal(rc, WSP_OK);
    }
    static const char *const deny[] = {
        "http://[::1]",            /* port 80, not 8080 */
        "http://[::1]:8081",
        "http://[::2]:8080",
        "https://[2001:db8::1]:8443",
        "ws://plain.test:443",
        "https://example.com:",    /* ':' without port digits */
        "https://example.com:4a3", /* not a digit (above '9') */
        "https://example.com:4-3", /* not a digit (below '0') */
        "https://example.com:99999", /* over 65535 */
        "https://example.com:0",   /* port 0 */
        "https://:443",            /* empty host */
        "://example.com",          /* empty scheme */
        "https:/example.com",      /* no "://" */
        "abcd",                    /* four bytes, not "null" */
        "https://exbmple.com",     /* same length, one byte differs */
        "ftp://files.test:21",     /* unknown scheme: no default port */
        "https://example.com:65536"};
    for (size_t i = 0; i < sizeof deny / sizeof deny[0]; i++) {
        int rc = origin_check(&pol, deny[i]);
        if (rc != WSP_ERR_HTTP_ORIGIN) print_error("origin %s: %d\n", deny[i], rc);
        assert_int_equal(rc, WSP_ERR_HTTP_ORIGIN);
    }
    assert_int_equal(origin_check(&pol, "https://example.com:65535"),
                     WSP_ERR_HTTP_ORIGIN);
}

static void test_validate_more(void **state)
{
    (void)state;
    /* Headers whose names have the length of a checked header but another
     * spelling are ignored. */
    static const char *const same_len[] = {
        "X-Orig: a",                                       /* 6 */
        "X-Upgr: websocket",                               /* 7 */
        "X-Connect1: upgrade",                             /* 10 */
        "X-WebSocket-Key1: dGhlIHNhbXBsZSBub25jZQ==",      /* 17 */
        "X-WebSocket-Version1: 8",                         /* 21 */
        "Hos2: other"};                                    /* 4 */
    for (size_t i = 0; i < sizeof same_len / sizeof same_len[0]; i++) {
        wsp_upgrade_info info;
        assert_int_equal(validate_variant(NULL, -1, NULL, same_len[i], NULL, &info),
                         WSP_OK);
        /* The request lived in validate_variant's frame, so only lengths
         * are still meaningful here: the real Host, not "other". */
        assert_int_equal(info.host_len, strlen("server.example.com"));
        assert_int_equal(info.key_len, 24);
    }
    /* An empty Host, two Origins. */
    CHECK_VARIANT(NULL, H_HOST, "Host:", NULL, WSP_ERR_HTTP_HOST, 400);
    CHECK_VARIANT(NULL, -1, NULL, "Origin: http://other.example", WSP_ERR_HTTP_ORIGIN,
                  403);
    /* Pre-parsed request without a method. */
    wsp_request req = wsp_test_request(wsp_test_upgrade_headers, 5);
    req.method = NULL;
    req.method_len = 0;
    wsp_upgrade_info info;
    assert_int_equal(wsp_upgrade_validate(&req, NULL, &info), WSP_ERR_HTTP_METHOD);
    req.method = "GET";
    req.method_len = 3;
    assert_int_equal(wsp_upgrade_validate(&req, NULL, &info), WSP_OK);
    assert_string_equal(info.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_null(info.origin);
    assert_int_equal(wsp_upgrade_validate(NULL, NULL, &info), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_upgrade_validate(&req, NULL, NULL), WSP_ERR_INVALID_ARG);

    /* Iterators reject NULL arguments. */
    size_t pos = 0, lp = 0, n = 0;
    const char *item = NULL;
    const wsp_headers *h = &req.headers;
    assert_int_equal(wsp_upgrade_next_subprotocol(NULL, &pos, &lp, &item, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_upgrade_next_subprotocol(h, NULL, &lp, &item, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_upgrade_next_extension(h, &pos, NULL, &item, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_upgrade_next_extension(h, &pos, &lp, NULL, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_upgrade_next_extension(h, &pos, &lp, &item, NULL),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_upgrade_next_extension(h, &pos, &lp, &item, &n),
                     WSP_ERR_NOT_FOUND);
}

static void test_build_response_options(void **state)
{
    (void)state;
    const char *accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    uint8_t out[1024];
    size_t n = 0;
    wsp_response resp;
    assert_int_equal(wsp_upgrade_build_response(NULL, NULL, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);

    /* An empty extensions string writes no header; a NULL value with length
     * 0 is an empty value. */
    static const wsp_header empty_value[] = {{"X-Empty", 7, NULL, 0}};
    wsp_accept_options o = accept_opts(NULL, "", empty_value, 1);
    assert_int_equal(wsp_upgrade_build_response(accept, &o, out, sizeof out, &n),
                     WSP_OK);
    parse_out_response(out, n, &resp);
    expect_header(&resp.headers, "Sec-WebSocket-Extensions", NULL);
    expect_header(&resp.headers, "Sec-WebSocket-Protocol", NULL);
    expect_header(&resp.headers, "X-Empty", "");

    /* Invalid options. */
    o = accept_opts("not a token", NULL, NULL, 0);
    assert_int_equal(wsp_upgrade_build_response(accept, &o, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    o = accept_opts(NULL, NULL, NULL, 2);
    assert_int_equal(wsp_upgrade_build_response(accept, &o, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    static const wsp_header no_name[] = {{NULL, 0, "v", 1}};
    o = accept_opts(NULL, NULL, no_name, 1);
    assert_int_equal(wsp_upgrade_build_response(accept, &o, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    static const wsp_header null_value[] = {{"X-A", 3, NULL, 2}};
    o = accept_opts(NULL, NULL, null_value, 1);
    assert_int_equal(wsp_upgrade_build_response(accept, &o, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
}

/* The nonce whose base64 is RFC 6455's sample key "dGhlIHNhbXBsZSBub25jZQ==". */
static const uint8_t sample_nonce[16] = "the sample nonce";

/* Writes a client request through the handshake state a connection keeps. */
static int build_request(const wsp_client_options *o, uint8_t *out, size_t cap,
                         size_t *n)
{
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    wsp_handshake hs;
    wsp_handshake_init(&hs, &cfg);
    return wsp_handshake_write_request(&hs, o, sample_nonce, out, cap, n);
}

static void test_build_request(void **state)
{
    (void)state;
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
    uint8_t out[1024];
    size_t n = 0;
    wsp_client_options o;
    memset(&o, 0, sizeof o);
    o.host = "h.example";
    o.target = "";
    o.extensions = "";
    assert_int_equal(build_request(&o, out, sizeof out, &n), WSP_OK);
    wsp_request req;
    size_t consumed = 0;
    assert_int_equal(wsp_http_parse_request((const char *)out, n, 0, 0, &req, &consumed),
                     WSP_OK);
    assert_int_equal(consumed, n);
    assert_str_n(req.target, req.target_len, "/");
    expect_header(&req.headers, "Host", "h.example");
    expect_header(&req.headers, "Sec-WebSocket-Key", key);
    expect_header(&req.headers, "Sec-WebSocket-Extensions", NULL);
    expect_header(&req.headers, "Sec-WebSocket-Protocol", NULL);
    expect_header(&req.headers, "Origin", NULL);
    wsp_upgrade_info info;
    assert_int_equal(wsp_upgrade_validate(&req, NULL, &info), WSP_OK);

    /* Missing options or host are refused by the connection before the
     * request is built. */
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    uint64_t seed = wsp_test_rng_seed(5);
    cfg.entropy = wsp_test_entropy;
    cfg.entropy_user = &seed;
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    assert_int_equal(wsp_conn_client_request(c, NULL, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    wsp_client_options b = o;
    b.host = NULL;
    assert_int_equal(wsp_conn_client_request(c, &b, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    wsp_conn_free(c);

    b = o;
    b.host = "";
    assert_int_equal(build_request(&b, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    static const char *const bad_targets[] = {"/a b", "/a\177", "/\x01"};
    for (size_t i = 0; i < sizeof bad_targets / sizeof bad_targets[0]; i++) {
        b = o;
        b.target = bad_targets[i];
        assert_int_equal(build_request(&b, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    }
    b = o;
    b.subprotocol_count = 1;
    assert_int_equal(build_request(&b, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    static const char *const with_null[] = {"chat", NULL};
    b.subprotocols = with_null;
    b.subprotocol_count = 2;
    assert_int_equal(build_request(&b, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    static const char *const not_token[] = {"chat", "a,b"};
    b.subprotocols = not_token;
    assert_int_equal(build_request(&b, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
    b = o;
    b.origin = "http://a\r\nX: y";
    assert_int_equal(build_request(&b, out, sizeof out, &n), WSP_ERR_INVALID_ARG);
}

/* Sends a request with opts (NULL: nothing offered) and, if deflate_offered,
 * a permessage-deflate offer, then checks the response head against it. */
static void check_resp(const char *head, const wsp_client_options *opts,
                       int deflate_offered, int want)
{
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    wsp_deflate_config dc;
    memset(&dc, 0, sizeof dc);
    if (deflate_offered) cfg.deflate = &dc;
    wsp_handshake hs;
    wsp_handshake_init(&hs, &cfg);
    wsp_client_options none;
    memset(&none, 0, sizeof none);
    none.host = "h";
    uint8_t req[1024];
    size_t n = 0;
    assert_int_equal(wsp_handshake_write_request(&hs, opts ? opts : &none, sample_nonce,
                                                 req, sizeof req, &n),
                     WSP_OK);
    wsp_response_event ev;
    wsp_deflate_params agreed;
    int found = 0;
    size_t consumed = 0;
    assert_int_equal(wsp_handshake_read_response(&hs, (const uint8_t *)head, strlen(head),
                                                 &consumed, &ev, &agreed, &found),
                     WSP_OK);
    assert_int_equal(consumed, strlen(head));
    if (ev.status != want) print_error("response \"%s\": got %d\n", head, ev.status);
    assert_int_equal(ev.status, want);
}

#define RESP_HEAD                                                             \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"             \
    "Connection: Upgrade\r\n"
#define RESP_ACCEPT "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"

static void test_check_response(void **state)
{
    (void)state;
    static const char *const protos[] = {"chatty", "chat"};
    wsp_client_options o;
    memset(&o, 0, sizeof o);
    o.host = "h";
    o.subprotocols = protos;
    o.subprotocol_count = 2;
    o.extensions = "x-foo; a=1, x-bar\t; b";

    check_resp(RESP_HEAD RESP_ACCEPT "\r\n", &o, 0, WSP_OK);
    /* A 101 from before HTTP/1.1 cannot have switched protocols; a later
     * 1.x can; any other status is reported as such first. */
    check_resp("HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\n" RESP_ACCEPT "\r\n",
               &o, 0, WSP_ERR_HTTP_VERSION);
    check_resp("HTTP/0.9 101 S\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\n" RESP_ACCEPT "\r\n",
               &o, 0, WSP_ERR_HTTP_VERSION);
    check_resp("HTTP/1.2 101 S\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\n" RESP_ACCEPT "\r\n",
               &o, 0, WSP_OK);
    check_resp("HTTP/1.0 403 Forbidden\r\n\r\n", &o, 0, WSP_ERR_HTTP_STATUS);
    /* Upgrade present under another token first, then the right one. */
    check_resp("HTTP/1.1 101 S\r\nUpgrade: h2c\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\n" RESP_ACCEPT "\r\n",
               &o, 0, WSP_OK);
    /* Accept value of the wrong length, or twice. */
    check_resp(RESP_HEAD "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo\r\n\r\n",
               &o, 0, WSP_ERR_HTTP_ACCEPT);
    check_resp(RESP_HEAD RESP_ACCEPT RESP_ACCEPT "\r\n", &o, 0, WSP_ERR_HTTP_ACCEPT);
    /* Subprotocols: the offered one passes (a longer one is not a match),
     * two headers fail, none offered fails. */
    check_resp(RESP_HEAD RESP_ACCEPT "Sec-WebSocket-Protocol: chat\r\n\r\n", &o, 0,
               WSP_OK);
    check_resp(RESP_HEAD RESP_ACCEPT "Sec-WebSocket-Protocol: cha\r\n\r\n", &o, 0,
               WSP_ERR_HTTP_SUBPROTOCOL);
    check_resp(RESP_HEAD RESP_ACCEPT "Sec-WebSocket-Protocol: chat\r\n"
               "Sec-WebSocket-Protocol: chat\r\n\r\n",
               &o, 0, WSP_ERR_HTTP_SUBPROTOCOL);
    check_resp(RESP_HEAD RESP_ACCEPT "Sec-WebSocket-Protocol: chat\r\n\r\n", NULL, 0,
               WSP_ERR_HTTP_SUBPROTOCOL);
    /* Extensions: names compared up to ';', space or tab. */
    check_resp(RESP_HEAD RESP_ACCEPT "Sec-WebSocket-Extensions: x-bar ;b\r\n\r\n", &o,
               0, WSP_OK);
    check_resp(RESP_HEAD RESP_ACCEPT "Sec-WebSocket-Extensions: x-foo\t;a=1\r\n\r\n",
               &o, 0, WSP_OK);
    check_resp(RESP_HEAD RESP_ACCEPT "Sec-WebSocket-Extensions: x-fo\r\n\r\n", &o, 0,
               WSP_ERR_HTTP_EXTENSION);
    check_resp(RESP_HEAD RESP_ACCEPT "Sec-WebSocket-Extensions: x-foo\r\n\r\n", NULL,
               0, WSP_ERR_HTTP_EXTENSION);
    /* permessage-deflate is left to the deflate checks when it was offered,
     * other extensions are still checked. */
    check_resp(RESP_HEAD RESP_ACCEPT
               "Sec-WebSocket-Extensions: permessage-deflate, x-bar\r\n\r\n",
               &o, 1, WSP_OK);
    check_resp(RESP_HEAD RESP_ACCEPT
               "Sec-WebSocket-Extensions: permessage-deflate, x-baz\r\n\r\n",
               &o, 1, WSP_ERR_HTTP_EXTENSION);
    check_resp(RESP_HEAD RESP_ACCEPT
               "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
               &o, 0, WSP_ERR_HTTP_EXTENSION);
}

static void test_accept_key_empty(void **state)
{
    (void)state;
    /* An empty key (NULL with length 0) hashes the GUID alone. */
    char out[WSP_ACCEPT_LEN + 1];
    assert_int_equal(wsp_accept_key(NULL, 0, out), WSP_OK);
    assert_string_equal(out, "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=");
    assert_int_equal(wsp_accept_key("", 0, out), WSP_OK);
    assert_string_equal(out, "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=");
}

/* 0.1 stored the needed size in *out_len on WSP_ERR_BUFFER_TOO_SMALL and
 * left it as it was on other failures; now every failure leaves 0, and a
 * NULL buffer with no room measures exactly what a real call writes. */
static void test_regression_build_response_out_len(void **state)
{
    (void)state;
    static const char accept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    static const wsp_header extra[] = {{"X-A", 3, "1", 1}, {"X-Empty", 7, "", 0}};
    wsp_accept_options variants[4];
    variants[0] = accept_opts(NULL, NULL, NULL, 0);
    variants[1] = accept_opts("chat", NULL, NULL, 0);
    variants[2] = accept_opts("chat", "x-a; p=1", extra, 2);
    variants[3] = accept_opts(NULL, "x-b", extra, 1);
    for (size_t i = 0; i < 5; i++) {
        const wsp_accept_options *o = i < 4 ? &variants[i] : NULL;
        size_t measured = 12345;
        assert_int_equal(wsp_upgrade_build_response(accept, o, NULL, 0, &measured), WSP_OK);
        uint8_t out[1024];
        size_t n = 12345;
        assert_int_equal(wsp_upgrade_build_response(accept, o, out, sizeof out, &n), WSP_OK);
        assert_int_equal(measured, n);
        assert_int_equal(wsp_upgrade_build_response(accept, o, out, measured, &n), WSP_OK);
        assert_int_equal(n, measured);
        n = 12345;
        assert_int_equal(wsp_upgrade_build_response(accept, o, out, measured - 1, &n),
                         WSP_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(n, 0);
    }
    uint8_t out[1024];
    size_t n = 12345;
    wsp_accept_options bad = accept_opts("not a token", NULL, NULL, 0);
    assert_int_equal(wsp_upgrade_build_response(accept, &bad, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    /* Refused when measuring too. */
    n = 12345;
    assert_int_equal(wsp_upgrade_build_response(accept, &bad, NULL, 0, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    static const wsp_header split[] = {{"X-A", 3, "1\r\nX-B: 2", 9}};
    bad = accept_opts(NULL, NULL, split, 1);
    n = 12345;
    assert_int_equal(wsp_upgrade_build_response(accept, &bad, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    bad = accept_opts(NULL, "x-a\r\nX-B: 2", NULL, 0);
    n = 12345;
    assert_int_equal(wsp_upgrade_build_response(accept, &bad, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 12345;
    assert_int_equal(wsp_upgrade_build_response(NULL, NULL, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 12345;
    assert_int_equal(wsp_upgrade_build_response(accept, NULL, NULL, 10, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
}

/* Layer 2 for clients: the request and the 101 check without a
 * connection, against a server built from the same library's helpers. */
static size_t answer_101(const uint8_t *req, size_t req_len, const char *extra,
                         char *resp, size_t cap)
{
    wsp_request r;
    wsp_upgrade_info info;
    size_t used = 0;
    assert_int_equal(wsp_http_parse_request((const char *)req, req_len, 0, 0, &r, &used),
                     WSP_OK);
    assert_int_equal(used, req_len);
    assert_int_equal(wsp_upgrade_validate(&r, NULL, &info), WSP_OK);
    int n = snprintf(resp, cap,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                     info.accept, extra);
    assert_true(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

static int check_answer(const wsp_client_options *o, const uint8_t nonce[16],
                        const char *resp, size_t len, wsp_response_event *result)
{
    wsp_response r;
    size_t used = 0;
    assert_int_equal(wsp_http_parse_response(resp, len, 0, 0, &r, &used), WSP_OK);
    return wsp_upgrade_check_response(&r, o, nonce, result);
}

static void test_client_request_and_check_without_conn(void **state)
{
    (void)state;
    static const char *const subs[] = {"chat.v2", "chat.v1"};
    static const uint8_t nonce[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    wsp_client_options o;
    memset(&o, 0, sizeof o);
    o.host = "example.com";
    o.target = "/ws";
    o.subprotocols = subs;
    o.subprotocol_count = 2;
    o.extensions = "x-custom; a=1";
    size_t need = 12345, n = 12345;
    assert_int_equal(wsp_upgrade_build_request(&o, nonce, NULL, 0, &need), WSP_OK);
    uint8_t req[512];
    assert_int_equal(wsp_upgrade_build_request(&o, nonce, req, need - 1, &n),
                     WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    assert_int_equal(wsp_upgrade_build_request(&o, nonce, req, sizeof req, &n), WSP_OK);
    assert_int_equal(n, need);
    /* The key is the nonce in base64 (RFC 6455 4.1). */
    assert_non_null(strstr((const char *)req, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"));

    char resp[1024];
    wsp_response_event res;
    size_t rn = answer_101(req, n, "Sec-WebSocket-Protocol: chat.v1\r\n"
                                   "Sec-WebSocket-Extensions: x-custom; a=1\r\n",
                           resp, sizeof resp);
    assert_int_equal(check_answer(&o, nonce, resp, rn, &res), WSP_OK);
    assert_int_equal(res.status, WSP_OK);
    assert_int_equal(res.http_status, 101);
    assert_int_equal(res.subprotocol_len, 7);
    assert_memory_equal(res.subprotocol, "chat.v1", 7);
    assert_non_null(res.extensions);

    /* A subprotocol or an extension that was not offered, another nonce. */
    rn = answer_101(req, n, "Sec-WebSocket-Protocol: chat.v3\r\n", resp, sizeof resp);
    assert_int_equal(check_answer(&o, nonce, resp, rn, &res), WSP_ERR_HTTP_SUBPROTOCOL);
    rn = answer_101(req, n, "Sec-WebSocket-Extensions: permessage-deflate\r\n", resp,
                    sizeof resp);
    assert_int_equal(check_answer(&o, nonce, resp, rn, &res), WSP_ERR_HTTP_EXTENSION);
    static const uint8_t other[16] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
    rn = answer_101(req, n, "", resp, sizeof resp);
    assert_int_equal(check_answer(&o, other, resp, rn, &res), WSP_ERR_HTTP_ACCEPT);
    assert_int_equal(check_answer(&o, nonce, resp, rn, &res), WSP_OK);
    assert_null(res.subprotocol);
    assert_null(res.extensions);

    /* Bad arguments change nothing. */
    n = 12345;
    assert_int_equal(wsp_upgrade_build_request(NULL, nonce, req, sizeof req, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_int_equal(wsp_upgrade_check_response(NULL, &o, nonce, &res), WSP_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_validate_rfc_example),
        cmocka_unit_test(test_validate_method_version),
        cmocka_unit_test(test_validate_host),
        cmocka_unit_test(test_validate_upgrade),
        cmocka_unit_test(test_validate_connection),
        cmocka_unit_test(test_validate_key),
        cmocka_unit_test(test_validate_ws_version),
        cmocka_unit_test(test_origin_policy),
        cmocka_unit_test(test_origin_check),
        cmocka_unit_test(test_iteration_across_lines),
        cmocka_unit_test(test_build_response),
        cmocka_unit_test(test_build_response_injection),
        cmocka_unit_test(test_build_error),
        cmocka_unit_test(test_validate_array),
        cmocka_unit_test(test_origin_forms),
        cmocka_unit_test(test_validate_more),
        cmocka_unit_test(test_build_response_options),
        cmocka_unit_test(test_build_request),
        cmocka_unit_test(test_check_response),
        cmocka_unit_test(test_accept_key_empty),
        cmocka_unit_test(test_regression_build_response_out_len),
        cmocka_unit_test(test_client_request_and_check_without_conn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
