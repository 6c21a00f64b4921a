/* The extended CONNECT handshake against RFC 8441 4 and 5: every field
 * rule, the answer wsp_conn_accept_connect gives, and the stream that
 * opens behind it. */
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

static void check_str(const char *p, size_t n, const char *want)
{
    if (str_eq(p, n, want)) return;
    print_error("got \"%.*s\" want \"%s\"\n", (int)n, p ? p : "(null)", want);
    fail();
}
#define assert_str_n(p, n, want) check_str((const char *)(p), (n), (want))

/* A request as an HTTP/2 stack hands it over: pseudo-headers apart, the
 * regular fields in an array. */
typedef struct h2req {
    wsp_header fields[8];
    wsp_connect_request req;
} h2req;

static void set_field(const char **p, size_t *n, const char *value)
{
    *p = value;
    *n = value ? strlen(value) : 0;
}

static void add_header(h2req *r, const char *name, const char *value)
{
    assert_true(r->req.headers.count < sizeof r->fields / sizeof r->fields[0]);
    wsp_header *h = &r->fields[r->req.headers.count++];
    h->name = name;
    h->name_len = strlen(name);
    h->value = value;
    h->value_len = strlen(value);
}

/* The smallest valid request: no key, no upgrade, no connection. */
static void make_request(h2req *r)
{
    memset(r, 0, sizeof *r);
    set_field(&r->req.method, &r->req.method_len, "CONNECT");
    set_field(&r->req.protocol, &r->req.protocol_len, "websocket");
    set_field(&r->req.scheme, &r->req.scheme_len, "https");
    set_field(&r->req.authority, &r->req.authority_len, "example.com");
    set_field(&r->req.path, &r->req.path_len, "/chat?x=1");
    r->req.headers.array = r->fields;
    add_header(r, "sec-websocket-version", "13");
}

/* The regular fields in raw form instead of the array. */
static void use_raw(h2req *r, const char *raw)
{
    r->req.headers.array = NULL;
    r->req.headers.count = 0;
    r->req.headers.raw = raw;
    r->req.headers.raw_len = strlen(raw);
}

static int validate(const h2req *r, const wsp_origin_policy *policy)
{
    wsp_connect_info info;
    memset(&info, 0x5a, sizeof info);
    int rc = wsp_connect_validate(&r->req, policy, &info);
    if (rc != WSP_OK) {
        /* A failure leaves nothing behind to be mistaken for a result. */
        assert_null(info.authority);
        assert_null(info.path);
        assert_null(info.origin);
        assert_int_equal(info.headers.count, 0);
    }
    return rc;
}

/* ---- wsp_connect_validate --------------------------------------------- */

static void test_validate_minimal(void **state)
{
    (void)state;
    h2req r;
    make_request(&r);
    wsp_connect_info info;
    assert_int_equal(wsp_connect_validate(&r.req, NULL, &info), WSP_OK);
    assert_str_n(info.authority, info.authority_len, "example.com");
    assert_str_n(info.path, info.path_len, "/chat?x=1");
    assert_null(info.origin);
    assert_int_equal(info.origin_len, 0);
    assert_ptr_equal(info.headers.array, r.fields);
    assert_int_equal(info.headers.count, 1);

    /* The key RFC 8441 5 does without is not looked at. */
    add_header(&r, "sec-websocket-key", "not even base64");
    assert_int_equal(validate(&r, NULL), WSP_OK);

    /* Offers are found through the copied headers. */
    add_header(&r, "sec-websocket-protocol", "chat, superchat");
    assert_int_equal(wsp_connect_validate(&r.req, NULL, &info), WSP_OK);
    size_t pos = 0, list_pos = 0, n = 0;
    const char *item = NULL;
    assert_int_equal(wsp_upgrade_next_subprotocol(&info.headers, &pos, &list_pos, &item, &n),
                     WSP_OK);
    assert_str_n(item, n, "chat");
    assert_int_equal(wsp_upgrade_next_subprotocol(&info.headers, &pos, &list_pos, &item, &n),
                     WSP_OK);
    assert_str_n(item, n, "superchat");
}

/* RFC 8441 5 forbids Connection and Upgrade in the CONNECT; RFC 9113 8.2.2
 * makes every connection-specific field, and a te other than "trailers",
 * a malformed request. */
static void test_validate_connection_specific(void **state)
{
    (void)state;
    static const char *const names[] = {"connection",        "upgrade",
                                        "keep-alive",        "proxy-connection",
                                        "transfer-encoding", "Connection"};
    static const char *const values[] = {"upgrade", "websocket", "timeout=5", "close",
                                         "chunked", "close"};
    h2req r;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        make_request(&r);
        add_header(&r, names[i], values[i]);
        assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_MALFORMED);
        /* Wherever it comes among the fields. */
        make_request(&r);
        r.fields[1] = r.fields[0];
        r.req.headers.count = 2;
        r.fields[0].name = names[i];
        r.fields[0].name_len = strlen(names[i]);
        r.fields[0].value = values[i];
        r.fields[0].value_len = strlen(values[i]);
        assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_MALFORMED);
    }
    static const char *const bad_te[] = {"gzip", "trailers, gzip", "", "trailer"};
    for (size_t i = 0; i < sizeof bad_te / sizeof bad_te[0]; i++) {
        make_request(&r);
        add_header(&r, "te", bad_te[i]);
        assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_MALFORMED);
    }
    make_request(&r);
    add_header(&r, "te", "trailers");
    assert_int_equal(validate(&r, NULL), WSP_OK);
    /* Names that merely start like one are ordinary fields. */
    make_request(&r);
    add_header(&r, "connection-id", "1");
    add_header(&r, "upgrade-insecure-requests", "1");
    add_header(&r, "tex", "gzip");
    assert_int_equal(validate(&r, NULL), WSP_OK);
    /* The raw form is checked the same way. */
    make_request(&r);
    use_raw(&r, "sec-websocket-version: 13\r\nupgrade: websocket\r\n");
    assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_MALFORMED);
}

/* A pseudo-header among the regular fields is malformed (RFC 9113 8.3):
 * the stack should have refused it, and the library does not let one
 * that slipped through stand in for a real field. */
static void test_validate_pseudo_header_in_fields(void **state)
{
    (void)state;
    static const char *const names[] = {":protocol", ":path", ":", ":x-custom"};
    h2req r;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        make_request(&r);
        add_header(&r, names[i], "websocket");
        assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_MALFORMED);
    }
    /* A colon later in the name is not a pseudo-header. */
    make_request(&r);
    add_header(&r, "x-a:b", "1");
    assert_int_equal(validate(&r, NULL), WSP_OK);
}

static void test_validate_method(void **state)
{
    (void)state;
    static const char *const bad[] = {"GET", "connect", "Connect", "CONNECT ", "POST", ""};
    h2req r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        make_request(&r);
        set_field(&r.req.method, &r.req.method_len, bad[i]);
        assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_METHOD);
    }
    make_request(&r);
    set_field(&r.req.method, &r.req.method_len, NULL);
    assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_METHOD);
    /* The length is honoured: "CONNECTION" cut to 7 bytes is CONNECT. */
    make_request(&r);
    r.req.method = "CONNECTION";
    r.req.method_len = 7;
    assert_int_equal(validate(&r, NULL), WSP_OK);
    assert_int_equal(wsp_status_http_code(WSP_ERR_HTTP_METHOD), 405);
}

static void test_validate_protocol(void **state)
{
    (void)state;
    h2req r;
    static const char *const good[] = {"websocket", "WebSocket", "WEBSOCKET"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        make_request(&r);
        set_field(&r.req.protocol, &r.req.protocol_len, good[i]);
        assert_int_equal(validate(&r, NULL), WSP_OK);
    }
    /* Another protocol over the extended CONNECT is one this server does
     * not implement (RFC 8441 4, RFC 9220 3): 501. */
    static const char *const other[] = {"webtransport", "websockets", "websock", "h2c",
                                        "websocket ", "connect-udp"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        make_request(&r);
        set_field(&r.req.protocol, &r.req.protocol_len, other[i]);
        assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_PROTOCOL_UNSUPPORTED);
    }
    assert_int_equal(wsp_status_http_code(WSP_ERR_HTTP_PROTOCOL_UNSUPPORTED), 501);
    /* A plain CONNECT (a tunnel) has no :protocol at all, or an empty one:
     * not a WebSocket request. */
    make_request(&r);
    set_field(&r.req.protocol, &r.req.protocol_len, NULL);
    assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_UPGRADE);
    make_request(&r);
    set_field(&r.req.protocol, &r.req.protocol_len, "");
    assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_UPGRADE);
}

static void test_validate_required_pseudo_headers(void **state)
{
    (void)state;
    for (int field = 0; field < 3; field++) {
        for (int empty = 0; empty < 2; empty++) {
            h2req r;
            make_request(&r);
            const char *value = empty ? "" : NULL;
            if (field == 0) set_field(&r.req.scheme, &r.req.scheme_len, value);
            if (field == 1) set_field(&r.req.authority, &r.req.authority_len, value);
            if (field == 2) set_field(&r.req.path, &r.req.path_len, value);
            assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_MALFORMED);
        }
    }
    /* RFC 8441 5: https for wss, http for ws; schemes are case-insensitive. */
    h2req r;
    static const char *const good_schemes[] = {"http", "https", "HTTPS", "Http"};
    for (size_t i = 0; i < sizeof good_schemes / sizeof good_schemes[0]; i++) {
        make_request(&r);
        set_field(&r.req.scheme, &r.req.scheme_len, good_schemes[i]);
        assert_int_equal(validate(&r, NULL), WSP_OK);
    }
    static const char *const bad_schemes[] = {"x", "ws", "wss", "ftp", "https ", "http:",
                                              "httpss"};
    for (size_t i = 0; i < sizeof bad_schemes / sizeof bad_schemes[0]; i++) {
        make_request(&r);
        set_field(&r.req.scheme, &r.req.scheme_len, bad_schemes[i]);
        assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_MALFORMED);
    }
    /* The length is honoured: "httpsx" cut to 5 bytes is https. */
    make_request(&r);
    r.req.scheme = "httpsx";
    r.req.scheme_len = 5;
    assert_int_equal(validate(&r, NULL), WSP_OK);
    /* RFC 9113 8.3.1: an http(s) :path is absolute, the asterisk form being
     * OPTIONS only. */
    static const char *const good_paths[] = {"/", "//x", "/?q", "/chat?x=1#f"};
    for (size_t i = 0; i < sizeof good_paths / sizeof good_paths[0]; i++) {
        make_request(&r);
        set_field(&r.req.path, &r.req.path_len, good_paths[i]);
        assert_int_equal(validate(&r, NULL), WSP_OK);
    }
    static const char *const bad_paths[] = {"chat", "*", "?x=1", " /", "https://a/"};
    for (size_t i = 0; i < sizeof bad_paths / sizeof bad_paths[0]; i++) {
        make_request(&r);
        set_field(&r.req.path, &r.req.path_len, bad_paths[i]);
        assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_MALFORMED);
    }
    assert_int_equal(wsp_status_http_code(WSP_ERR_HTTP_MALFORMED), 400);
}

/* The checks come in the documented order: the first failing one wins. */
static void test_validate_order(void **state)
{
    (void)state;
    h2req r;
    memset(&r, 0, sizeof r);
    assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_METHOD);
    set_field(&r.req.method, &r.req.method_len, "CONNECT");
    assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_UPGRADE);
    set_field(&r.req.protocol, &r.req.protocol_len, "websocket");
    assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_MALFORMED);
    set_field(&r.req.scheme, &r.req.scheme_len, "https");
    set_field(&r.req.authority, &r.req.authority_len, "a");
    set_field(&r.req.path, &r.req.path_len, "/");
    assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_WS_VERSION);
    wsp_origin_policy deny_all = {1, NULL, 0, 0, 0};
    r.req.headers.array = r.fields;
    add_header(&r, "sec-websocket-version", "13");
    assert_int_equal(validate(&r, &deny_all), WSP_ERR_HTTP_ORIGIN);
    assert_int_equal(validate(&r, NULL), WSP_OK);
}

static void test_validate_version(void **state)
{
    (void)state;
    h2req r;
    /* Missing. */
    make_request(&r);
    r.req.headers.count = 0;
    assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_WS_VERSION);
    static const char *const bad[] = {"8", "13, 13", "13,13", "14", "1", "130", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        make_request(&r);
        r.fields[0].value = bad[i];
        r.fields[0].value_len = strlen(bad[i]);
        assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_WS_VERSION);
    }
    /* Repeated, even with the right value twice. */
    make_request(&r);
    add_header(&r, "sec-websocket-version", "13");
    assert_int_equal(validate(&r, NULL), WSP_ERR_HTTP_WS_VERSION);
    /* Names match in any case, although HTTP/2 sends lowercase. */
    make_request(&r);
    r.fields[0].name = "Sec-WebSocket-Version";
    assert_int_equal(validate(&r, NULL), WSP_OK);
    /* The raw header form works too. */
    make_request(&r);
    use_raw(&r, "Sec-WebSocket-Version: 13\r\nOrigin: https://a.example\r\n");
    wsp_connect_info info;
    assert_int_equal(wsp_connect_validate(&r.req, NULL, &info), WSP_OK);
    assert_str_n(info.origin, info.origin_len, "https://a.example");
    assert_int_equal(wsp_status_http_code(WSP_ERR_HTTP_WS_VERSION), 426);
}

static void test_validate_origin(void **state)
{
    (void)state;
    static const char *const allowed[] = {"https://example.com", "http://localhost:8080"};
    wsp_origin_policy policy = {1, allowed, 2, 0, 0};
    h2req r;

    make_request(&r);
    add_header(&r, "origin", "https://example.com");
    wsp_connect_info info;
    assert_int_equal(wsp_connect_validate(&r.req, &policy, &info), WSP_OK);
    assert_str_n(info.origin, info.origin_len, "https://example.com");
    /* Default port and case do not matter, as for HTTP/1.1. */
    r.fields[1].value = "HTTPS://EXAMPLE.COM:443";
    r.fields[1].value_len = strlen(r.fields[1].value);
    assert_int_equal(validate(&r, &policy), WSP_OK);

    r.fields[1].value = "https://evil.example";
    r.fields[1].value_len = strlen(r.fields[1].value);
    assert_int_equal(validate(&r, &policy), WSP_ERR_HTTP_ORIGIN);
    r.fields[1].value = "http://localhost:8081";
    r.fields[1].value_len = strlen(r.fields[1].value);
    assert_int_equal(validate(&r, &policy), WSP_ERR_HTTP_ORIGIN);
    /* Policy off: anything passes. */
    assert_int_equal(validate(&r, NULL), WSP_OK);

    /* "null" only when allowed. */
    r.fields[1].value = "null";
    r.fields[1].value_len = 4;
    assert_int_equal(validate(&r, &policy), WSP_ERR_HTTP_ORIGIN);
    policy.allow_null = 1;
    assert_int_equal(validate(&r, &policy), WSP_OK);

    /* Missing only when allowed. */
    make_request(&r);
    assert_int_equal(validate(&r, &policy), WSP_ERR_HTTP_ORIGIN);
    policy.allow_missing = 1;
    assert_int_equal(validate(&r, &policy), WSP_OK);

    /* Two origins are refused even when each would pass. */
    add_header(&r, "origin", "https://example.com");
    add_header(&r, "origin", "https://example.com");
    assert_int_equal(validate(&r, &policy), WSP_ERR_HTTP_ORIGIN);
    assert_int_equal(wsp_status_http_code(WSP_ERR_HTTP_ORIGIN), 403);
}

static void test_validate_args(void **state)
{
    (void)state;
    h2req r;
    make_request(&r);
    wsp_connect_info info;
    assert_int_equal(wsp_connect_validate(NULL, NULL, &info), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_connect_validate(&r.req, NULL, NULL), WSP_ERR_INVALID_ARG);
    /* A NULL field with a length is a caller bug, whichever field. */
    for (int field = 0; field < 5; field++) {
        make_request(&r);
        const char **p = field == 0   ? &r.req.method
                         : field == 1 ? &r.req.protocol
                         : field == 2 ? &r.req.scheme
                         : field == 3 ? &r.req.authority
                                      : &r.req.path;
        *p = NULL;
        assert_int_equal(validate(&r, NULL), WSP_ERR_INVALID_ARG);
    }
}

/* ---- wsp_conn_accept_connect ------------------------------------------- */

static wsp_conn *server(const wsp_origin_policy *policy, const wsp_deflate_config *deflate,
                        const wsp_allocator *allocator)
{
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_SERVER;
    cfg.origin_policy = policy;
    cfg.deflate = deflate;
    cfg.allocator = allocator;
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    return c;
}

static void fill_garbage(wsp_connect_response *resp)
{
    memset(resp, 0x5a, sizeof *resp);
}

static void assert_resp_zero(const wsp_connect_response *resp)
{
    assert_int_equal(resp->status, 0);
    assert_int_equal(resp->header_count, 0);
    for (size_t i = 0; i < 3; i++) {
        assert_null(resp->headers[i].name);
        assert_null(resp->headers[i].value);
    }
}

static const wsp_header *find_field(const wsp_connect_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->header_count; i++)
        if (str_eq(resp->headers[i].name, resp->headers[i].name_len, name))
            return &resp->headers[i];
    return NULL;
}

static const uint8_t KEY[4] = {0x11, 0x22, 0x33, 0x44};

/* A client's masked text frame goes in; the server's echo comes out
 * unmasked. The stream is WebSocket framing from its first byte. */
static void echo_one_frame(wsp_conn *c, int compressed)
{
    uint8_t in[64], out[64];
    size_t n = wsp_test_frame(in, sizeof in, 0x81, KEY, "hello", 5);
    size_t consumed = 0;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(c, in, n, &consumed, &ev), WSP_OK);
    assert_int_equal(consumed, n);
    assert_int_equal(ev.type, WSP_EV_DATA);
    assert_int_equal(ev.u.data.opcode, WSP_OP_TEXT);
    assert_int_equal(ev.u.data.flags, WSP_DATA_FIRST | WSP_DATA_LAST);
    assert_str_n((const char *)ev.u.data.payload, ev.u.data.len, "hello");
    size_t out_len = 0;
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, ev.u.data.payload, ev.u.data.len, 0, out,
                                   sizeof out, &out_len),
                     WSP_OK);
    if (compressed) {
        assert_int_equal(out[0], 0xC1);
        return;
    }
    uint8_t want[16];
    size_t want_len = wsp_test_frame(want, sizeof want, 0x81, NULL, "hello", 5);
    assert_int_equal(out_len, want_len);
    assert_memory_equal(out, want, want_len);
}

static void test_accept_plain(void **state)
{
    (void)state;
    wsp_conn *c = server(NULL, NULL, NULL);
    h2req r;
    make_request(&r);
    wsp_connect_response resp;
    fill_garbage(&resp);
    /* Nothing to hold: no buffer needed. */
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, NULL, 0, &resp), WSP_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.header_count, 0);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
    assert_int_equal(wsp_conn_deflate_active(c), 0);
    echo_one_frame(c, 0);
    /* A server never takes an unmasked frame, over HTTP/2 too (RFC 8441 5.1). */
    uint8_t in[16];
    size_t n = wsp_test_frame(in, sizeof in, 0x81, NULL, "x", 1), consumed = 0;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(c, in, n, &consumed, &ev), WSP_ERR_PROTO_MASK);
    wsp_conn_free(c);
}

/* A success answer with exactly one field, its value NUL-terminated. */
static void assert_one_field(const wsp_connect_response *resp, const char *name,
                             const char *value)
{
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->header_count, 1);
    assert_str_n(resp->headers[0].name, resp->headers[0].name_len, name);
    assert_str_n(resp->headers[0].value, resp->headers[0].value_len, value);
    assert_int_equal(resp->headers[0].value[resp->headers[0].value_len], '\0');
}

static void test_accept_subprotocol(void **state)
{
    (void)state;
    wsp_conn *c = server(NULL, NULL, NULL);
    h2req r;
    make_request(&r);
    add_header(&r, "sec-websocket-protocol", "chat, superchat");
    /* Extra headers are the caller's to send: they do not appear here. */
    wsp_header extra = {"x-extra", 7, "1", 1};
    wsp_accept_options opts;
    memset(&opts, 0, sizeof opts);
    opts.subprotocol = "superchat";
    opts.headers = &extra;
    opts.header_count = 1;
    char buf[64];
    memset(buf, 'x', sizeof buf);
    wsp_connect_response resp;
    fill_garbage(&resp);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, &opts, buf, sizeof buf, &resp),
                     WSP_OK);
    assert_one_field(&resp, "sec-websocket-protocol", "superchat");
    assert_ptr_equal(resp.headers[0].value, buf);
    assert_null(find_field(&resp, "x-extra"));
    /* The caller's strings are copied: changing them changes nothing. */
    opts.subprotocol = "other";
    assert_str_n(resp.headers[0].value, resp.headers[0].value_len, "superchat");
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
    echo_one_frame(c, 0);
    wsp_conn_free(c);
}

/* An application's own extension answer is passed through after the
 * library's (here: with no deflate config, alone). */
static void test_accept_app_extensions(void **state)
{
    (void)state;
    wsp_conn *c = server(NULL, NULL, NULL);
    h2req r;
    make_request(&r);
    wsp_accept_options opts;
    memset(&opts, 0, sizeof opts);
    opts.extensions = "x-custom; a=1";
    char buf[32];
    wsp_connect_response resp;
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, &opts, buf, sizeof buf, &resp),
                     WSP_OK);
    assert_one_field(&resp, "sec-websocket-extensions", "x-custom; a=1");
    wsp_conn_free(c);
}

/* Feeds n bytes at in to c until one whole data message came out; copies
 * it to out and returns its length. Every byte must be used. */
static size_t recv_message(wsp_conn *c, uint8_t *in, size_t n, wsp_opcode opcode,
                           char *out, size_t cap)
{
    size_t total = 0, len = 0, consumed = 0;
    int done = 0;
    wsp_event ev;
    for (int guard = 0; guard < 10 && !done; guard++) {
        assert_int_equal(wsp_conn_recv(c, in + total, n - total, &consumed, &ev), WSP_OK);
        total += consumed;
        if (ev.type == WSP_EV_NONE) continue;
        assert_int_equal(ev.type, WSP_EV_DATA);
        assert_int_equal(ev.u.data.opcode, opcode);
        assert_true(len + ev.u.data.len <= cap);
        memcpy(out + len, ev.u.data.payload, ev.u.data.len);
        len += ev.u.data.len;
        done = (ev.u.data.flags & WSP_DATA_LAST) != 0;
    }
    assert_true(done);
    assert_int_equal(total, n);
    return len;
}

/* A server whose config offers permessage-deflate under *dcfg (zeroed:
 * defaults), and a request that offers it with the given element. */
static wsp_conn *deflate_server(wsp_deflate_config *dcfg, const wsp_allocator *al,
                                h2req *r, const char *offer)
{
    memset(dcfg, 0, sizeof *dcfg);
    make_request(r);
    add_header(r, "sec-websocket-extensions", offer);
    return server(NULL, dcfg, al);
}

/* Compressed frames in both directions: one fixed vector from RFC 7692
 * 7.2.3.1 ("Hello" compressed, as a client sends it, masked) and a round
 * trip against a client connection set up from the server's answer. */
static void test_accept_deflate(void **state)
{
    (void)state;
    if (!wsp_deflate_available()) skip();
    wsp_deflate_config dcfg;
    h2req r;
    wsp_conn *c = deflate_server(&dcfg, NULL, &r, "permessage-deflate; client_max_window_bits");
    /* Shows the server's own config is the one negotiated under. */
    dcfg.peer_max_window_bits = 10;
    char buf[WSP_CONNECT_RESPONSE_MAX];
    wsp_connect_response resp;
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, buf, sizeof buf, &resp),
                     WSP_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(wsp_conn_deflate_active(c), 1);
    const wsp_header *ext = find_field(&resp, "sec-websocket-extensions");
    assert_non_null(ext);
    assert_str_n(ext->value, ext->value_len, "permessage-deflate; client_max_window_bits=10");
    assert_null(find_field(&resp, "sec-websocket-protocol"));

    /* RFC 7692 7.2.3.1: "Hello" as one compressed frame, RSV1 set. */
    static const uint8_t hello_deflated[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    uint8_t in[64];
    size_t n = wsp_test_frame(in, sizeof in, 0xC1, KEY, hello_deflated, sizeof hello_deflated);
    char got[128];
    assert_str_n(got, recv_message(c, in, n, WSP_OP_TEXT, got, sizeof got), "Hello");

    /* The echo goes out compressed (RSV1), and a client that turned on
     * what the answer says reads it back. */
    static const char text[] = "Hello, Hello, Hello, Hello, compressible text";
    uint8_t out[256];
    size_t out_len = 0;
    assert_int_equal(wsp_conn_send(c, WSP_OP_TEXT, (const uint8_t *)text, sizeof text - 1, 0,
                                   out, sizeof out, &out_len),
                     WSP_OK);
    assert_int_equal(out[0], 0xC1);
    assert_true((out[1] & 0x7Fu) < sizeof text - 1);

    wsp_deflate_params agreed;
    assert_int_equal(wsp_deflate_parse(ext->value, ext->value_len, 1, &agreed), WSP_OK);
    wsp_config ccfg;
    memset(&ccfg, 0, sizeof ccfg);
    ccfg.role = WSP_ROLE_CLIENT;
    ccfg.start_open = 1;
    wsp_conn *client = NULL;
    assert_int_equal(wsp_conn_new(&ccfg, &client), WSP_OK);
    assert_int_equal(wsp_conn_enable_deflate(client, NULL, &agreed), WSP_OK);
    assert_str_n(got, recv_message(client, out, out_len, WSP_OP_TEXT, got, sizeof got), text);

    /* And the client's compressed message reaches the server. */
    assert_int_equal(wsp_conn_send(client, WSP_OP_BINARY, (const uint8_t *)text,
                                   sizeof text - 1, 0, out, sizeof out, &out_len),
                     WSP_OK);
    assert_int_equal(out[0], 0xC2);
    assert_str_n(got, recv_message(c, out, out_len, WSP_OP_BINARY, got, sizeof got), text);
    wsp_conn_free(client);
    wsp_conn_free(c);
}

static void test_accept_no_deflate(void **state)
{
    (void)state;
    if (!wsp_deflate_available()) skip();
    wsp_deflate_config dcfg;
    h2req r;
    wsp_conn *c = deflate_server(&dcfg, NULL, &r, "permessage-deflate");
    wsp_accept_options opts;
    memset(&opts, 0, sizeof opts);
    opts.no_deflate = 1;
    wsp_connect_response resp;
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, &opts, NULL, 0, &resp), WSP_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.header_count, 0);
    assert_int_equal(wsp_conn_deflate_active(c), 0);
    /* Not negotiated, so a compressed frame is a protocol error. */
    uint8_t in[32];
    static const uint8_t z[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    size_t n = wsp_test_frame(in, sizeof in, 0xC1, KEY, z, sizeof z), consumed = 0;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(c, in, n, &consumed, &ev), WSP_ERR_PROTO_RSV);
    wsp_conn_free(c);

    /* No offer, or a connection without a deflate config: no answer either. */
    c = server(NULL, NULL, NULL);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, NULL, 0, &resp), WSP_OK);
    assert_int_equal(resp.header_count, 0);
    assert_int_equal(wsp_conn_deflate_active(c), 0);
    wsp_conn_free(c);
}

/* Every capacity below the need fails without a trace; the need itself
 * works. The answer here is the longest deflate can give, so the need is
 * exactly the documented bound. */
static void test_accept_buffer_sizes(void **state)
{
    (void)state;
    if (!wsp_deflate_available()) skip();
    wsp_deflate_config dcfg;
    memset(&dcfg, 0, sizeof dcfg);
    dcfg.no_context_takeover = 1;
    dcfg.peer_no_context_takeover = 1;
    h2req r;
    make_request(&r);
    add_header(&r, "sec-websocket-protocol", "v2.chat");
    add_header(&r, "sec-websocket-extensions",
               "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15");
    wsp_accept_options opts;
    memset(&opts, 0, sizeof opts);
    opts.subprotocol = "v2.chat";
    opts.extensions = "x-app";
    const size_t need = WSP_CONNECT_RESPONSE_MAX + strlen(opts.subprotocol) +
                        strlen(opts.extensions);
    char buf[WSP_CONNECT_RESPONSE_MAX + 32];
    wsp_conn *c = server(NULL, &dcfg, NULL);
    wsp_connect_response resp;
    for (size_t cap = 0; cap < need; cap++) {
        fill_garbage(&resp);
        assert_int_equal(wsp_conn_accept_connect(c, &r.req, &opts, cap ? buf : NULL, cap, &resp),
                         WSP_ERR_BUFFER_TOO_SMALL);
        assert_resp_zero(&resp);
        assert_int_equal(wsp_conn_state(c), WSP_STATE_HANDSHAKE);
        assert_int_equal(wsp_conn_deflate_active(c), 0);
    }
    fill_garbage(&resp);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, &opts, buf, need, &resp), WSP_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.header_count, 2);
    assert_str_n(resp.headers[0].name, resp.headers[0].name_len, "sec-websocket-protocol");
    assert_str_n(resp.headers[0].value, resp.headers[0].value_len, "v2.chat");
    assert_str_n(resp.headers[1].name, resp.headers[1].name_len, "sec-websocket-extensions");
    assert_str_n(resp.headers[1].value, resp.headers[1].value_len,
                 "permessage-deflate; server_no_context_takeover; "
                 "client_no_context_takeover; server_max_window_bits=15; "
                 "client_max_window_bits=15, x-app");
    /* Both values sit in buf, each followed by its NUL, and nothing past
     * the need is used. */
    assert_ptr_equal(resp.headers[0].value, buf);
    assert_int_equal(buf[resp.headers[0].value_len], '\0');
    assert_ptr_equal(resp.headers[1].value, buf + resp.headers[0].value_len + 1);
    assert_int_equal(resp.headers[1].value[resp.headers[1].value_len], '\0');
    assert_int_equal(resp.headers[0].value_len + resp.headers[1].value_len + 2, need);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
    assert_int_equal(wsp_conn_deflate_active(c), 1);
    wsp_conn_free(c);
}

static void expect_failure(const h2req *r, const wsp_origin_policy *policy, int want,
                           int want_status, const char *field, const char *value)
{
    wsp_conn *c = server(policy, NULL, NULL);
    wsp_connect_response resp;
    fill_garbage(&resp);
    char buf[8];
    assert_int_equal(wsp_conn_accept_connect(c, &r->req, NULL, buf, sizeof buf, &resp), want);
    assert_int_equal(resp.status, want_status);
    if (field) {
        assert_int_equal(resp.header_count, 1);
        assert_str_n(resp.headers[0].name, resp.headers[0].name_len, field);
        assert_str_n(resp.headers[0].value, resp.headers[0].value_len, value);
    } else {
        assert_int_equal(resp.header_count, 0);
    }
    assert_int_equal(wsp_conn_state(c), WSP_STATE_CLOSED);
    /* The refusal is the connection's sticky error, with no close code:
     * no frame was ever exchanged. */
    wsp_error_info err;
    assert_int_equal(wsp_conn_error(c, &err), WSP_OK);
    assert_int_equal(err.status, want);
    assert_int_equal(err.close_code, 0);
    assert_string_equal(err.reason, wsp_status_reason(want));
    /* Nothing more is read, and there is nothing to flush: the answer is
     * the caller's to send in HTTP/2. */
    uint8_t in[16];
    size_t n = wsp_test_frame(in, sizeof in, 0x81, KEY, "x", 1), consumed = 0;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(c, in, n, &consumed, &ev), want);
    assert_int_equal(consumed, n);
    assert_int_equal(wsp_conn_pending_size(c), 0);
    uint8_t out[64];
    assert_int_equal(wsp_conn_flush(c, out, sizeof out, &n), WSP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(wsp_conn_should_close_transport(c), 1);
    /* Not a second time. */
    assert_int_equal(wsp_conn_accept_connect(c, &r->req, NULL, buf, sizeof buf, &resp),
                     WSP_ERR_STATE);
    assert_resp_zero(&resp);
    wsp_conn_free(c);
}

static void test_accept_validation_failures(void **state)
{
    (void)state;
    h2req r;
    make_request(&r);
    set_field(&r.req.method, &r.req.method_len, "GET");
    expect_failure(&r, NULL, WSP_ERR_HTTP_METHOD, 405, "allow", "CONNECT");
    make_request(&r);
    set_field(&r.req.protocol, &r.req.protocol_len, "webtransport");
    expect_failure(&r, NULL, WSP_ERR_HTTP_PROTOCOL_UNSUPPORTED, 501, NULL, NULL);
    make_request(&r);
    set_field(&r.req.protocol, &r.req.protocol_len, NULL);
    expect_failure(&r, NULL, WSP_ERR_HTTP_UPGRADE, 400, NULL, NULL);
    make_request(&r);
    set_field(&r.req.path, &r.req.path_len, "");
    expect_failure(&r, NULL, WSP_ERR_HTTP_MALFORMED, 400, NULL, NULL);
    make_request(&r);
    r.fields[0].value = "8";
    r.fields[0].value_len = 1;
    /* RFC 9110 15.5.22: a 426 must carry Upgrade, which RFC 9113 8.2.2
     * forbids in HTTP/2; 400 still names the version the server speaks. */
    expect_failure(&r, NULL, WSP_ERR_HTTP_WS_VERSION, 400, "sec-websocket-version", "13");
    assert_int_equal(wsp_status_http_code(WSP_ERR_HTTP_WS_VERSION), 426);
    /* The connection's own origin policy is the one applied. */
    static const char *const allowed[] = {"https://example.com"};
    wsp_origin_policy policy = {1, allowed, 1, 0, 0};
    make_request(&r);
    add_header(&r, "origin", "https://evil.example");
    expect_failure(&r, &policy, WSP_ERR_HTTP_ORIGIN, 403, NULL, NULL);
    r.fields[1].value = "https://example.com";
    r.fields[1].value_len = strlen(r.fields[1].value);
    wsp_conn *c = server(&policy, NULL, NULL);
    wsp_connect_response resp;
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, NULL, 0, &resp), WSP_OK);
    wsp_conn_free(c);
}

static void test_accept_wrong_state(void **state)
{
    (void)state;
    h2req r;
    make_request(&r);
    wsp_connect_response resp;
    char buf[32];

    /* A client. */
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    wsp_conn *c = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    fill_garbage(&resp);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, buf, sizeof buf, &resp),
                     WSP_ERR_STATE);
    assert_resp_zero(&resp);
    wsp_conn_free(c);

    /* A server made open. */
    cfg.role = WSP_ROLE_SERVER;
    cfg.start_open = 1;
    assert_int_equal(wsp_conn_new(&cfg, &c), WSP_OK);
    fill_garbage(&resp);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, buf, sizeof buf, &resp),
                     WSP_ERR_STATE);
    assert_resp_zero(&resp);
    wsp_conn_free(c);

    /* Already accepted. */
    c = server(NULL, NULL, NULL);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, buf, sizeof buf, &resp), WSP_OK);
    fill_garbage(&resp);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, buf, sizeof buf, &resp),
                     WSP_ERR_STATE);
    assert_resp_zero(&resp);
    assert_int_equal(wsp_conn_state(c), WSP_STATE_OPEN);
    wsp_conn_free(c);

    /* Part of an HTTP/1.1 head fed, down to its first byte. */
    uint8_t partial[] = "GET /chat HTTP/1.1\r\nHost: a\r\n";
    size_t consumed = 0;
    wsp_event ev;
    for (size_t k = 1; k < sizeof partial; k++) {
        c = server(NULL, NULL, NULL);
        assert_int_equal(wsp_conn_recv(c, partial, k, &consumed, &ev), WSP_OK);
        assert_int_equal(ev.type, WSP_EV_NONE);
        fill_garbage(&resp);
        assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, buf, sizeof buf, &resp),
                         WSP_ERR_STATE);
        assert_resp_zero(&resp);
        assert_int_equal(wsp_conn_state(c), WSP_STATE_HANDSHAKE);
        wsp_conn_free(c);
    }

    /* A whole HTTP/1.1 request reported and not answered. */
    c = server(NULL, NULL, NULL);
    uint8_t head[] = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n";
    assert_int_equal(wsp_conn_recv(c, head, sizeof head - 1, &consumed, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_REQUEST);
    fill_garbage(&resp);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, buf, sizeof buf, &resp),
                     WSP_ERR_STATE);
    assert_resp_zero(&resp);
    wsp_conn_free(c);

    /* An empty feed is no HTTP/1.1 yet. */
    c = server(NULL, NULL, NULL);
    assert_int_equal(wsp_conn_recv(c, NULL, 0, &consumed, &ev), WSP_OK);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, buf, sizeof buf, &resp), WSP_OK);
    wsp_conn_free(c);
}

static void test_accept_args(void **state)
{
    (void)state;
    h2req r;
    make_request(&r);
    wsp_connect_response resp;
    char buf[32];
    wsp_conn *c = server(NULL, NULL, NULL);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, buf, sizeof buf, NULL),
                     WSP_ERR_INVALID_ARG);
    fill_garbage(&resp);
    assert_int_equal(wsp_conn_accept_connect(NULL, &r.req, NULL, buf, sizeof buf, &resp),
                     WSP_ERR_INVALID_ARG);
    assert_resp_zero(&resp);
    fill_garbage(&resp);
    assert_int_equal(wsp_conn_accept_connect(c, NULL, NULL, buf, sizeof buf, &resp),
                     WSP_ERR_INVALID_ARG);
    assert_resp_zero(&resp);
    fill_garbage(&resp);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, NULL, 5, &resp),
                     WSP_ERR_INVALID_ARG);
    assert_resp_zero(&resp);
    /* A NULL field with a length. */
    r.req.path = NULL;
    fill_garbage(&resp);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, buf, sizeof buf, &resp),
                     WSP_ERR_INVALID_ARG);
    assert_resp_zero(&resp);
    make_request(&r);

    /* Options that cannot go on the wire. */
    wsp_accept_options opts;
    memset(&opts, 0, sizeof opts);
    static const char *const bad_subprotocols[] = {"", "two words", "a,b", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad_subprotocols / sizeof bad_subprotocols[0]; i++) {
        opts.subprotocol = bad_subprotocols[i];
        fill_garbage(&resp);
        assert_int_equal(wsp_conn_accept_connect(c, &r.req, &opts, buf, sizeof buf, &resp),
                         WSP_ERR_INVALID_ARG);
        assert_resp_zero(&resp);
    }
    opts.subprotocol = NULL;
    opts.extensions = "x-a\r\nset-cookie: 1";
    fill_garbage(&resp);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, &opts, buf, sizeof buf, &resp),
                     WSP_ERR_INVALID_ARG);
    assert_resp_zero(&resp);
    /* None of these changed the state. */
    assert_int_equal(wsp_conn_state(c), WSP_STATE_HANDSHAKE);
    assert_int_equal(wsp_conn_accept_connect(c, &r.req, NULL, buf, sizeof buf, &resp), WSP_OK);
    wsp_conn_free(c);
}

static void test_accept_nomem(void **state)
{
    (void)state;
    if (!wsp_deflate_available()) skip();
    wsp_test_alloc stats = {-1, 0, 0, 0, 0};
    wsp_allocator al = {wsp_test_malloc, NULL, wsp_test_free, &stats};
    wsp_deflate_config dcfg;
    h2req r;
    wsp_conn *c = deflate_server(&dcfg, &al, &r, "permessage-deflate");
    char buf[WSP_CONNECT_RESPONSE_MAX];
    wsp_connect_response resp;
    /* Every allocation compression state needs, failed in turn. */
    long attempts = 0;
    int rc;
    do {
        stats.fail_after = attempts++;
        fill_garbage(&resp);
        size_t live = stats.live_blocks;
        rc = wsp_conn_accept_connect(c, &r.req, NULL, buf, sizeof buf, &resp);
        if (rc != WSP_OK) {
            assert_int_equal(rc, WSP_ERR_NOMEM);
            assert_resp_zero(&resp);
            assert_int_equal(wsp_conn_state(c), WSP_STATE_HANDSHAKE);
            assert_int_equal(wsp_conn_deflate_active(c), 0);
            assert_int_equal(stats.live_blocks, live);
        }
    } while (rc != WSP_OK && attempts < 16);
    assert_int_equal(rc, WSP_OK);
    assert_true(attempts > 1);
    assert_int_equal(wsp_conn_deflate_active(c), 1);
    stats.fail_after = -1;
    echo_one_frame(c, 1);
    wsp_conn_free(c);
    assert_int_equal(stats.live_blocks, 0);
}

/* Random requests built from good and bad pieces: the result must be what
 * the rules say, and the answer must match it. */
static void test_accept_random(void **state)
{
    (void)state;
    static const char *const methods[] = {"CONNECT", "GET", "connect", NULL};
    static const char *const protocols[] = {"websocket", "WebSocket", "h2c", "", NULL};
    static const char *const schemes[] = {"https", "HTTP", "x", "", NULL};
    static const char *const authorities[] = {"x", "", NULL};
    static const char *const paths[] = {"/", "x", "", NULL};
    static const char *const versions[] = {"13", "8", "13, 13", NULL};
    static const char *const origins[] = {"https://example.com", "https://evil.example",
                                          "null", NULL};
    static const char *const allowed[] = {"https://example.com"};
    wsp_origin_policy policy = {1, allowed, 1, 0, 1};
    uint64_t rng = wsp_test_rng_seed(8441);
    for (int iter = 0; iter < 2000; iter++) {
        h2req r;
        memset(&r, 0, sizeof r);
        r.req.headers.array = r.fields;
#define PICK(arr) arr[wsp_test_rng_below(&rng, sizeof arr / sizeof arr[0])]
        const char *method = PICK(methods), *protocol = PICK(protocols);
        const char *scheme = PICK(schemes), *authority = PICK(authorities);
        const char *path = PICK(paths);
        const char *version = PICK(versions), *origin = PICK(origins);
        int repeat_version = wsp_test_rng_below(&rng, 8) == 0;
#undef PICK
        set_field(&r.req.method, &r.req.method_len, method);
        set_field(&r.req.protocol, &r.req.protocol_len, protocol);
        set_field(&r.req.scheme, &r.req.scheme_len, scheme);
        set_field(&r.req.authority, &r.req.authority_len, authority);
        set_field(&r.req.path, &r.req.path_len, path);
        if (version) add_header(&r, "sec-websocket-version", version);
        if (version && repeat_version) add_header(&r, "sec-websocket-version", version);
        if (origin) add_header(&r, "origin", origin);

        int want = WSP_OK;
        if (!method || strcmp(method, "CONNECT") != 0)
            want = WSP_ERR_HTTP_METHOD;
        else if (!protocol || !*protocol)
            want = WSP_ERR_HTTP_UPGRADE;
        else if (strcmp(protocol, "websocket") != 0 && strcmp(protocol, "WebSocket") != 0)
            want = WSP_ERR_HTTP_PROTOCOL_UNSUPPORTED;
        else if (!scheme || (strcmp(scheme, "https") != 0 && strcmp(scheme, "HTTP") != 0) ||
                 !authority || !*authority || !path || *path != '/')
            want = WSP_ERR_HTTP_MALFORMED;
        else if (!version || strcmp(version, "13") != 0 || repeat_version)
            want = WSP_ERR_HTTP_WS_VERSION;
        else if (origin && strcmp(origin, "https://example.com") != 0)
            want = WSP_ERR_HTTP_ORIGIN;

        wsp_conn *c = server(&policy, NULL, NULL);
        wsp_connect_response resp;
        fill_garbage(&resp);
        int rc = wsp_conn_accept_connect(c, &r.req, NULL, NULL, 0, &resp);
        assert_int_equal(rc, want);
        assert_int_equal(validate(&r, &policy), want);
        int want_status = want == WSP_OK                    ? 200
                          : want == WSP_ERR_HTTP_WS_VERSION ? 400
                                                            : wsp_status_http_code(want);
        assert_int_equal(resp.status, want_status);
        assert_int_equal(wsp_conn_state(c), want == WSP_OK ? WSP_STATE_OPEN : WSP_STATE_CLOSED);
        wsp_conn_free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_minimal),
        cmocka_unit_test(test_validate_connection_specific),
        cmocka_unit_test(test_validate_pseudo_header_in_fields),
        cmocka_unit_test(test_validate_method),
        cmocka_unit_test(test_validate_protocol),
        cmocka_unit_test(test_validate_required_pseudo_headers),
        cmocka_unit_test(test_validate_order),
        cmocka_unit_test(test_validate_version),
        cmocka_unit_test(test_validate_origin),
        cmocka_unit_test(test_validate_args),
        cmocka_unit_test(test_accept_plain),
        cmocka_unit_test(test_accept_subprotocol),
        cmocka_unit_test(test_accept_app_extensions),
        cmocka_unit_test(test_accept_deflate),
        cmocka_unit_test(test_accept_no_deflate),
        cmocka_unit_test(test_accept_buffer_sizes),
        cmocka_unit_test(test_accept_validation_failures),
        cmocka_unit_test(test_accept_wrong_state),
        cmocka_unit_test(test_accept_args),
        cmocka_unit_test(test_accept_nomem),
        cmocka_unit_test(test_accept_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
