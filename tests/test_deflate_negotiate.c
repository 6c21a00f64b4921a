/* permessage-deflate negotiation (src/deflate_negotiate.c): parsing offers
 * and responses (RFC 7692 5, 7.1), the server's choice and answer, the
 * client's offer and its check of the answer, through wsp_conn in both roles
 * with real in-memory handshakes.
 *
 * Parsing is pure text and is built with or without zlib, so those tests run
 * in every build. A build without WSPROTO_DEFLATE runs, instead of the
 * negotiation tests, tests asserting that every deflate entry point reports
 * WSP_ERR_UNSUPPORTED and that connections never negotiate compression. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_support.h"
#include "wsproto.h"

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */
static wsp_deflate_params parse_ok(const char *item, int is_response)
{
    wsp_deflate_params p;
    int rc = wsp_deflate_parse(item, strlen(item), is_response, &p);
    if (rc != WSP_OK) print_error("parse(%s, response=%d) = %d\n", item, is_response, rc);
    assert_int_equal(rc, WSP_OK);
    return p;
}

static int parse_rc(const char *item, int is_response)
{
    wsp_deflate_params p;
    return wsp_deflate_parse(item, strlen(item), is_response, &p);
}

static void assert_params(wsp_deflate_params p, int snct, int cnct, int smwb, int cmwb)
{
    assert_int_equal(p.server_no_context_takeover, snct);
    assert_int_equal(p.client_no_context_takeover, cnct);
    assert_int_equal(p.server_max_window_bits, smwb);
    assert_int_equal(p.client_max_window_bits, cmwb);
}

/* Runs wsp_deflate_negotiate on the given Sec-WebSocket-Extensions header
 * lines (NULL-terminated list), as pre-parsed headers. */
static int negotiate(const char *const *lines, const wsp_deflate_config *cfg,
                     wsp_deflate_params *agreed, char *out, size_t cap, size_t *out_len)
{
    wsp_header arr[8];
    size_t n = 0;
    arr[n].name = "Host", arr[n].name_len = 4, arr[n].value = "x", arr[n].value_len = 1;
    n++;
    for (; lines && *lines; lines++) {
        assert_true(n < 8);
        arr[n].name = "Sec-WebSocket-Extensions";
        arr[n].name_len = strlen(arr[n].name);
        arr[n].value = *lines;
        arr[n].value_len = strlen(*lines);
        n++;
    }
    wsp_headers h;
    memset(&h, 0, sizeof h);
    h.array = arr;
    h.count = n;
    return wsp_deflate_negotiate(&h, cfg, agreed, out, cap, out_len);
}

/* The exact response element for one header line and a config. */
static void assert_answer(const wsp_deflate_config *cfg, const char *offer, const char *want)
{
    const char *lines[] = {offer, NULL};
    wsp_deflate_params agreed;
    char out[256];
    size_t n = 0;
    int rc = negotiate(lines, cfg, &agreed, out, sizeof out, &n);
    if (rc != WSP_OK || strcmp(out, want) != 0)
        print_error("offer '%s': rc %d, answer '%s', want '%s'\n", offer, rc,
                    rc == WSP_OK ? out : "", want);
    assert_int_equal(rc, WSP_OK);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    /* The answer is itself a valid response that parses to what was agreed. */
    wsp_deflate_params back = parse_ok(out, 1);
    assert_memory_equal(&back, &agreed, sizeof back);
}

static wsp_deflate_config dcfg(int nct, int peer_nct, int bits, int peer_bits)
{
    wsp_deflate_config c;
    memset(&c, 0, sizeof c);
    c.no_context_takeover = nct;
    c.peer_no_context_takeover = peer_nct;
    c.max_window_bits = bits;
    c.peer_max_window_bits = peer_bits;
    return c;
}

/* Copies the value of the first header `name` (with ": " after it) in an
 * HTTP head into out; returns 0 if absent. */
static int header_value(const char *head, const char *name, char *out, size_t cap)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\r\n%s: ", name);
    const char *p = strstr(head, pat);
    if (!p) return 0;
    p += strlen(pat);
    const char *e = strstr(p, "\r\n");
    assert_non_null(e);
    size_t n = (size_t)(e - p);
    assert_true(n < cap);
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static int count_headers(const char *head, const char *name)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    int n = 0;
    for (const char *p = strstr(head, pat); p; p = strstr(p + 1, pat)) n++;
    return n;
}

/* One side of an in-memory connection. */
typedef struct side {
    wsp_conn *conn;
    wsp_test_alloc counter;
    wsp_allocator alloc;
    wsp_deflate_config dcfg;
    uint64_t seed;
} side;

static void side_new(side *s, wsp_role role, const wsp_deflate_config *d)
{
    memset(s, 0, sizeof *s);
    s->counter.fail_after = -1;
    s->alloc.malloc_fn = wsp_test_malloc;
    s->alloc.realloc_fn = wsp_test_realloc;
    s->alloc.free_fn = wsp_test_free;
    s->alloc.user = &s->counter;
    s->seed = wsp_test_rng_seed(role == WSP_ROLE_CLIENT ? 11 : 12);
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = role;
    cfg.allocator = &s->alloc;
    cfg.entropy = wsp_test_entropy;
    cfg.entropy_user = &s->seed;
    if (d) {
        s->dcfg = *d;
        cfg.deflate = &s->dcfg;
    }
    assert_int_equal(wsp_conn_new(&cfg, &s->conn), WSP_OK);
}

static void side_free(side *s)
{
    wsp_conn_free(s->conn);
    assert_int_equal(s->counter.live_blocks, 0);
    assert_int_equal(s->counter.live_bytes, 0);
    assert_int_equal(s->counter.size_mismatches, 0);
}

typedef struct handshake {
    side client, server;
    wsp_client_options copts;
    char request[2048];
    size_t request_len;
    char response[2048];
    size_t response_len;
    int client_status; /* ev.status of the client's WSP_EV_RESPONSE */
    char client_ext[256]; /* ev.extensions as the client saw them */
} handshake;

/* The client conn writes its request (with cdeflate, plus app_ext offered
 * by the application). */
static void hs_request(handshake *h, const wsp_deflate_config *cdeflate, const char *app_ext)
{
    side_new(&h->client, WSP_ROLE_CLIENT, cdeflate);
    memset(&h->copts, 0, sizeof h->copts);
    h->copts.host = "127.0.0.1";
    h->copts.extensions = app_ext;
    size_t n = 0;
    assert_int_equal(wsp_conn_client_request(h->client.conn, &h->copts,
                                             (uint8_t *)h->request,
                                             sizeof h->request - 1, &n),
                     WSP_OK);
    h->request[n] = '\0';
    h->request_len = n;
}

/* The server conn reads the request and accepts it with opts. */
static void hs_accept(handshake *h, const wsp_deflate_config *sdeflate,
                      const wsp_accept_options *opts)
{
    side_new(&h->server, WSP_ROLE_SERVER, sdeflate);
    uint8_t buf[2048];
    memcpy(buf, h->request, h->request_len);
    size_t used = 0;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(h->server.conn, buf, h->request_len, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_REQUEST);
    assert_int_equal(ev.u.request.status, WSP_OK);
    assert_int_equal(used, h->request_len);
    size_t n = 0;
    assert_int_equal(wsp_conn_accept(h->server.conn, opts, (uint8_t *)h->response,
                                     sizeof h->response - 1, &n),
                     WSP_OK);
    h->response[n] = '\0';
    h->response_len = n;
    assert_int_equal(wsp_conn_state(h->server.conn), WSP_STATE_OPEN);
}

/* The client conn reads h->response. */
static void hs_response(handshake *h)
{
    uint8_t buf[2048];
    memcpy(buf, h->response, h->response_len);
    size_t used = 0;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(h->client.conn, buf, h->response_len, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_RESPONSE);
    assert_int_equal(used, h->response_len);
    h->client_status = ev.u.response.status;
    h->client_ext[0] = '\0';
    if (ev.u.response.extensions) {
        assert_true(ev.u.response.extensions_len < sizeof h->client_ext);
        memcpy(h->client_ext, ev.u.response.extensions, ev.u.response.extensions_len);
        h->client_ext[ev.u.response.extensions_len] = '\0';
    }
    if (ev.u.response.status == WSP_OK) {
        assert_int_equal(wsp_conn_state(h->client.conn), WSP_STATE_OPEN);
    } else {
        assert_int_equal(wsp_conn_state(h->client.conn), WSP_STATE_CLOSED);
        assert_false(wsp_conn_deflate_active(h->client.conn));
    }
}

/* A hand-written 101 for the client's request, with the given extension
 * header lines (NULL-terminated). */
static void hs_fake_response(handshake *h, const char *const *ext_lines)
{
    char key[64], accept[WSP_ACCEPT_LEN + 1];
    assert_true(header_value(h->request, "Sec-WebSocket-Key", key, sizeof key));
    assert_int_equal(wsp_accept_key(key, strlen(key), accept), WSP_OK);
    int n = snprintf(h->response, sizeof h->response,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
                     accept);
    for (; ext_lines && *ext_lines; ext_lines++)
        n += snprintf(h->response + n, sizeof h->response - (size_t)n,
                      "Sec-WebSocket-Extensions: %s\r\n", *ext_lines);
    n += snprintf(h->response + n, sizeof h->response - (size_t)n, "\r\n");
    assert_true((size_t)n < sizeof h->response);
    h->response_len = (size_t)n;
}

static void hs_free(handshake *h)
{
    if (h->client.conn) side_free(&h->client);
    if (h->server.conn) side_free(&h->server);
}

/* Sends msg from `from` and receives it at `to`, following the receive
 * contract (loop until WSP_EV_NONE even with no input left). Returns 1 if
 * the frame had RSV1 (was compressed). */
static int transfer(side *from, side *to, const uint8_t *msg, size_t len, unsigned flags)
{
    size_t cap = wsp_test_send_bound(from->conn, len);
    uint8_t *wire = malloc(cap);
    uint8_t *got = malloc(len + 1);
    assert_non_null(wire);
    assert_non_null(got);
    size_t n = 0;
    assert_int_equal(wsp_conn_send(from->conn, WSP_OP_BINARY, msg, len, flags, wire, cap, &n),
                     WSP_OK);
    int compressed = (wire[0] & 0x40) != 0;
    size_t off = 0, have = 0;
    int done = 0;
    for (;;) {
        wsp_event ev;
        size_t used = 0;
        assert_int_equal(wsp_conn_recv(to->conn, wire + off, n - off, &used, &ev), WSP_OK);
        off += used;
        if (ev.type == WSP_EV_NONE) break;
        assert_int_equal(ev.type, WSP_EV_DATA);
        assert_true(have + ev.u.data.len <= len);
        if (ev.u.data.len) memcpy(got + have, ev.u.data.payload, ev.u.data.len);
        have += ev.u.data.len;
        if (ev.u.data.flags & WSP_DATA_LAST) done = 1;
    }
    assert_int_equal(off, n);
    assert_true(done);
    assert_int_equal(have, len);
    if (len) assert_memory_equal(got, msg, len);
    free(wire);
    free(got);
    return compressed;
}

static const uint8_t *compressible(size_t len)
{
    static uint8_t buf[1 << 16];
    assert_true(len <= sizeof buf);
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)"permessage-deflate "[i % 19];
    return buf;
}

/* ------------------------------------------------------------------------
 * wsp_deflate_parse (every build)
 * ---------------------------------------------------------------------- */
static void test_parse_name(void **state)
{
    (void)state;
    for (int resp = 0; resp <= 1; resp++) {
        assert_params(parse_ok("permessage-deflate", resp), 0, 0, 0, 0);
        /* Extension names are case-insensitive tokens. */
        assert_params(parse_ok("PerMessage-Deflate", resp), 0, 0, 0, 0);
        assert_params(parse_ok("PERMESSAGE-DEFLATE; SERVER_NO_CONTEXT_TAKEOVER", resp),
                      1, 0, 0, 0);
        assert_params(parse_ok("  permessage-deflate \t", resp), 0, 0, 0, 0);
        static const char *const others[] = {
            "x-webkit-deflate-frame", "deflate-frame", "permessage-deflatex",
            "permessage-deflate-x", "xpermessage-deflate", "permessage",
            "permessage-bzip2; server_no_context_takeover", "foo; bar=1", "",
            "  ", "permessage deflate",
        };
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
            if (parse_rc(others[i], resp) != WSP_ERR_NOT_FOUND)
                print_error("'%s' is another extension\n", others[i]);
            assert_int_equal(parse_rc(others[i], resp), WSP_ERR_NOT_FOUND);
        }
    }
    wsp_deflate_params p;
    assert_int_equal(wsp_deflate_parse(NULL, 0, 0, &p), WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_deflate_parse("permessage-deflate", 18, 0, NULL),
                     WSP_ERR_INVALID_ARG);
}

static void test_parse_flags(void **state)
{
    (void)state;
    for (int resp = 0; resp <= 1; resp++) {
        assert_params(parse_ok("permessage-deflate; server_no_context_takeover", resp),
                      1, 0, 0, 0);
        assert_params(parse_ok("permessage-deflate; client_no_context_takeover", resp),
                      0, 1, 0, 0);
        assert_params(parse_ok("permessage-deflate;client_no_context_takeover;"
                               "server_no_context_takeover", resp), 1, 1, 0, 0);
        assert_params(parse_ok("permessage-deflate ;\tserver_no_context_takeover ", resp),
                      1, 0, 0, 0);
        /* A value on a flag, a repeated flag: the element is invalid (7). */
        static const char *const bad[] = {
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover=",
            "permessage-deflate; server_no_context_takeover=\"\"",
            "permessage-deflate; server_no_context_takeover=true",
            "permessage-deflate; client_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"x\"",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            ("permessage-deflate; client_no_context_takeover; "
             "server_no_context_takeover; client_no_context_takeover"),
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            if (parse_rc(bad[i], resp) != WSP_ERR_HTTP_EXTENSION)
                print_error("'%s' must be invalid\n", bad[i]);
            assert_int_equal(parse_rc(bad[i], resp), WSP_ERR_HTTP_EXTENSION);
        }
    }
}

static void test_parse_window_bits(void **state)
{
    (void)state;
    char item[128];
    for (int resp = 0; resp <= 1; resp++) {
        for (int bits = 8; bits <= 15; bits++) {
            snprintf(item, sizeof item, "permessage-deflate; server_max_window_bits=%d", bits);
            assert_params(parse_ok(item, resp), 0, 0, bits, 0);
            snprintf(item, sizeof item, "permessage-deflate; client_max_window_bits=%d", bits);
            assert_params(parse_ok(item, resp), 0, 0, 0, bits);
            /* A quoted-string value is the same token (7.1.2). */
            snprintf(item, sizeof item,
                     "permessage-deflate; client_max_window_bits=\"%d\"; "
                     "server_max_window_bits=\"%d\"", bits, bits);
            assert_params(parse_ok(item, resp), 0, 0, bits, bits);
        }
        static const char *const bad_values[] = {
            "7", "16", "08", "0", "1", "-9", "+9", "9a", "a", "010", "015", "100",
            "1 0", "\"7\"", "\"16\"", "\"10", "10\"", "\"\"", "''", "'10'", "9.0",
            "", " ",
        };
        for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
            const char *names[] = {"server_max_window_bits", "client_max_window_bits"};
            for (int k = 0; k < 2; k++) {
                snprintf(item, sizeof item, "permessage-deflate; %s=%s", names[k],
                         bad_values[i]);
                if (parse_rc(item, resp) != WSP_ERR_HTTP_EXTENSION)
                    print_error("'%s' must be invalid\n", item);
                assert_int_equal(parse_rc(item, resp), WSP_ERR_HTTP_EXTENSION);
            }
        }
        /* server_max_window_bits always needs a value. */
        assert_int_equal(parse_rc("permessage-deflate; server_max_window_bits", resp),
                         WSP_ERR_HTTP_EXTENSION);
        /* Duplicates, with equal or different values, with or without. */
        static const char *const dups[] = {
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",
            "permessage-deflate; client_max_window_bits=10; client_max_window_bits=10",
            "permessage-deflate; client_max_window_bits=9; client_max_window_bits",
            "permessage-deflate; client_max_window_bits; client_max_window_bits",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
        };
        for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++) {
            if (parse_rc(dups[i], resp) != WSP_ERR_HTTP_EXTENSION)
                print_error("'%s' must be invalid\n", dups[i]);
            assert_int_equal(parse_rc(dups[i], resp), WSP_ERR_HTTP_EXTENSION);
        }
    }
    /* client_max_window_bits without a value: an offer may say it (the
     * client can take a limit, 7.1.2.2), a response may not (7.1.2.2: the
     * server's answer carries a value). */
    assert_params(parse_ok("permessage-deflate; client_max_window_bits", 0), 0, 0, 0,
                  WSP_DEFLATE_BITS_NO_VALUE);
    assert_int_equal(parse_rc("permessage-deflate; client_max_window_bits", 1),
                     WSP_ERR_HTTP_EXTENSION);
    assert_int_equal(parse_rc("permessage-deflate; client_max_window_bits=", 0),
                     WSP_ERR_HTTP_EXTENSION);
}

static void test_parse_unknown_and_combined(void **state)
{
    (void)state;
    for (int resp = 0; resp <= 1; resp++) {
        static const char *const bad[] = {
            "permessage-deflate; foo",
            "permessage-deflate; foo=1",
            "permessage-deflate; server_no_context_takeover; x",
            "permessage-deflate; max_window_bits=10",
            "permessage-deflate; server_no_context_takeoverx",
            "permessage-deflate; client_max_window_bit=10",
            "permessage-deflate;",
            "permessage-deflate; ;server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover;",
            "permessage-deflate; =10",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            if (parse_rc(bad[i], resp) != WSP_ERR_HTTP_EXTENSION)
                print_error("'%s' must be invalid\n", bad[i]);
            assert_int_equal(parse_rc(bad[i], resp), WSP_ERR_HTTP_EXTENSION);
        }
        assert_params(parse_ok("permessage-deflate; server_no_context_takeover; "
                               "client_no_context_takeover; server_max_window_bits=9; "
                               "client_max_window_bits=12", resp), 1, 1, 9, 12);
        /* Parameter names are compared without case, like the name. */
        assert_params(parse_ok("permessage-deflate; Server_Max_Window_Bits=10", resp),
                      0, 0, 10, 0);
    }
    /* The item is (pointer, length): bytes after len are not looked at. */
    const char *s = "permessage-deflate; server_no_context_takeover; bogus";
    wsp_deflate_params p;
    size_t cut = strlen("permessage-deflate; server_no_context_takeover");
    assert_int_equal(wsp_deflate_parse(s, cut, 1, &p), WSP_OK);
    assert_params(p, 1, 0, 0, 0);
    assert_int_equal(wsp_deflate_parse(s, strlen(s), 1, &p), WSP_ERR_HTTP_EXTENSION);
    assert_int_equal(wsp_deflate_parse("permessage-deflate; client_max_window_bits=155",
                                       strlen("permessage-deflate; client_max_window_bits=15"),
                                       1, &p), WSP_OK);
    assert_int_equal(p.client_max_window_bits, 15);
}

/* ------------------------------------------------------------------------
 * wsp_deflate_negotiate (deflate builds)
 * ---------------------------------------------------------------------- */
static void test_negotiate_answers(void **state)
{
    (void)state;
    wsp_deflate_config c = dcfg(0, 0, 0, 0);
    assert_answer(&c, "permessage-deflate", "permessage-deflate");
    /* client_max_window_bits without value: the server may leave it. */
    assert_answer(&c, "permessage-deflate; client_max_window_bits", "permessage-deflate");
    /* A client that limits itself is told its own limit back. */
    assert_answer(&c, "permessage-deflate; client_max_window_bits=12",
                  "permessage-deflate; client_max_window_bits=12");
    /* server_no_context_takeover asked for must be granted (7.1.1.1). */
    assert_answer(&c, "permessage-deflate; server_no_context_takeover",
                  "permessage-deflate; server_no_context_takeover");
    assert_answer(&c, "permessage-deflate; client_no_context_takeover",
                  "permessage-deflate; client_no_context_takeover");
    /* server_max_window_bits=N is answered with N or less (7.1.2.1). */
    for (int n = 8; n <= 15; n++) {
        char offer[96], want[96];
        snprintf(offer, sizeof offer, "permessage-deflate; server_max_window_bits=%d", n);
        snprintf(want, sizeof want, "permessage-deflate; server_max_window_bits=%d", n);
        assert_answer(&c, offer, want);
        wsp_deflate_config small = dcfg(0, 0, 10, 0);
        snprintf(want, sizeof want, "permessage-deflate; server_max_window_bits=%d",
                 n < 10 ? n : 10);
        assert_answer(&small, offer, want);
    }
    assert_answer(&c, "permessage-deflate; server_no_context_takeover; "
                      "client_no_context_takeover; server_max_window_bits=10; "
                      "client_max_window_bits=9",
                  "permessage-deflate; server_no_context_takeover; "
                  "client_no_context_takeover; server_max_window_bits=10; "
                  "client_max_window_bits=9");

    /* What the server's own config adds. */
    c = dcfg(1, 0, 0, 0);
    assert_answer(&c, "permessage-deflate", "permessage-deflate; server_no_context_takeover");
    c = dcfg(0, 1, 0, 0);
    assert_answer(&c, "permessage-deflate", "permessage-deflate; client_no_context_takeover");
    /* A smaller own window needs no announcement (the peer's inflater copes
     * with any smaller window). */
    c = dcfg(0, 0, 10, 0);
    assert_answer(&c, "permessage-deflate", "permessage-deflate");
    /* peer_max_window_bits is only answered when the client offered
     * client_max_window_bits (7.1.2.2), and never above the client's value. */
    c = dcfg(0, 0, 0, 10);
    assert_answer(&c, "permessage-deflate", "permessage-deflate");
    assert_answer(&c, "permessage-deflate; client_max_window_bits",
                  "permessage-deflate; client_max_window_bits=10");
    assert_answer(&c, "permessage-deflate; client_max_window_bits=12",
                  "permessage-deflate; client_max_window_bits=10");
    assert_answer(&c, "permessage-deflate; client_max_window_bits=9",
                  "permessage-deflate; client_max_window_bits=9");
    c = dcfg(0, 0, 0, 8);
    assert_answer(&c, "permessage-deflate; client_max_window_bits",
                  "permessage-deflate; client_max_window_bits=8");
    c = dcfg(1, 1, 9, 9);
    assert_answer(&c, "permessage-deflate; client_max_window_bits; server_max_window_bits=12",
                  "permessage-deflate; server_no_context_takeover; "
                  "client_no_context_takeover; server_max_window_bits=9; "
                  "client_max_window_bits=9");
}

static void test_negotiate_choice(void **state)
{
    (void)state;
    wsp_deflate_config c = dcfg(0, 0, 0, 0);
    wsp_deflate_params agreed;
    char out[256];
    size_t n = 0;

    /* Several offers in one header: the first acceptable one wins (5). */
    const char *one[] = {"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=10,"
                         " permessage-deflate", NULL};
    assert_int_equal(negotiate(one, &c, &agreed, out, sizeof out, &n), WSP_OK);
    assert_string_equal(out, "permessage-deflate; client_max_window_bits=10");
    assert_params(agreed, 0, 0, 0, 10);

    /* Across header lines, in order. */
    const char *lines[] = {"foo, bar; baz=1", "permessage-deflate; server_no_context_takeover",
                           "permessage-deflate", NULL};
    assert_int_equal(negotiate(lines, &c, &agreed, out, sizeof out, &n), WSP_OK);
    assert_string_equal(out, "permessage-deflate; server_no_context_takeover");

    /* An invalid offer is declined and the next one considered. */
    const char *skip[] = {"permessage-deflate; server_max_window_bits=7, "
                          "permessage-deflate; foo, permessage-deflate; server_max_window_bits",
                          "permessage-deflate; client_no_context_takeover=1",
                          "permessage-deflate; server_max_window_bits=10", NULL};
    assert_int_equal(negotiate(skip, &c, &agreed, out, sizeof out, &n), WSP_OK);
    assert_string_equal(out, "permessage-deflate; server_max_window_bits=10");
    assert_int_equal(n, strlen(out));

    /* Nothing acceptable: answer without the extension. */
    const char *none[] = {"permessage-deflate; server_max_window_bits=16, x-webkit-deflate-frame",
                          "permessage-deflate; server_no_context_takeover=yes", NULL};
    assert_int_equal(negotiate(none, &c, &agreed, out, sizeof out, &n), WSP_ERR_NOT_FOUND);
    const char *other[] = {"x-webkit-deflate-frame", NULL};
    assert_int_equal(negotiate(other, &c, &agreed, out, sizeof out, &n), WSP_ERR_NOT_FOUND);
    assert_int_equal(negotiate(NULL, &c, &agreed, out, sizeof out, &n), WSP_ERR_NOT_FOUND);

    /* The same through a raw header block. */
    static const char raw[] =
        "Host: x\r\n"
        "sec-websocket-extensions: permessage-deflate; client_max_window_bits=99\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; "
        "server_no_context_takeover\r\n";
    wsp_headers h;
    memset(&h, 0, sizeof h);
    h.raw = raw;
    h.raw_len = sizeof raw - 1;
    assert_int_equal(wsp_deflate_negotiate(&h, &c, &agreed, out, sizeof out, &n), WSP_OK);
    assert_string_equal(out, "permessage-deflate; server_no_context_takeover");
}

/* Random offers and configs: every answer follows RFC 7692 7.1. */
static void test_negotiate_rules(void **state)
{
    (void)state;
    uint64_t rng = wsp_test_rng_seed(7692);
    for (int iter = 0; iter < 4000; iter++) {
        wsp_deflate_config c = dcfg((int)wsp_test_rng_below(&rng, 2),
                                    (int)wsp_test_rng_below(&rng, 2),
                                    (int)wsp_test_rng_below(&rng, 2) ? 9 + (int)wsp_test_rng_below(&rng, 7) : 0,
                                    (int)wsp_test_rng_below(&rng, 2) ? 8 + (int)wsp_test_rng_below(&rng, 8) : 0);
        char offer[256];
        int snct = (int)wsp_test_rng_below(&rng, 2), cnct = (int)wsp_test_rng_below(&rng, 2);
        int smwb = wsp_test_rng_below(&rng, 2) ? 8 + (int)wsp_test_rng_below(&rng, 8) : 0;
        int cmwb = (int)wsp_test_rng_below(&rng, 3); /* 0 absent, 1 no value, 2 value */
        int cmwb_value = 8 + (int)wsp_test_rng_below(&rng, 8);
        int n = snprintf(offer, sizeof offer, "permessage-deflate");
        if (cnct) n += snprintf(offer + n, sizeof offer - (size_t)n, "; client_no_context_takeover");
        if (cmwb == 1) n += snprintf(offer + n, sizeof offer - (size_t)n, "; client_max_window_bits");
        if (cmwb == 2)
            n += snprintf(offer + n, sizeof offer - (size_t)n, "; client_max_window_bits=%d",
                          cmwb_value);
        if (smwb)
            n += snprintf(offer + n, sizeof offer - (size_t)n, "; server_max_window_bits=%d", smwb);
        if (snct) snprintf(offer + n, sizeof offer - (size_t)n, "; server_no_context_takeover");
        const char *lines[] = {offer, NULL};
        wsp_deflate_params a;
        char out[256];
        size_t len = 0;
        assert_int_equal(negotiate(lines, &c, &a, out, sizeof out, &len), WSP_OK);
        wsp_deflate_params back = parse_ok(out, 1);
        assert_memory_equal(&back, &a, sizeof a);
        if (snct || c.no_context_takeover) assert_int_equal(a.server_no_context_takeover, 1);
        else assert_int_equal(a.server_no_context_takeover, 0);
        if (c.peer_no_context_takeover) assert_int_equal(a.client_no_context_takeover, 1);
        if (smwb) {
            assert_true(a.server_max_window_bits >= 8 && a.server_max_window_bits <= smwb);
            if (c.max_window_bits) assert_true(a.server_max_window_bits <= c.max_window_bits);
        }
        if (!cmwb) assert_int_equal(a.client_max_window_bits, 0);
        if (cmwb == 2) assert_true(a.client_max_window_bits >= 8 &&
                                   a.client_max_window_bits <= cmwb_value);
        if (cmwb && c.peer_max_window_bits)
            assert_true(a.client_max_window_bits >= 8 &&
                        a.client_max_window_bits <= c.peer_max_window_bits);
    }
}

static void test_negotiate_buffer(void **state)
{
    (void)state;
    wsp_deflate_config c = dcfg(0, 0, 0, 0);
    const char *lines[] = {"permessage-deflate; server_no_context_takeover", NULL};
    const char *want = "permessage-deflate; server_no_context_takeover";
    size_t need = strlen(want) + 1; /* with the NUL */
    wsp_deflate_params agreed;
    char out[128];
    size_t n = 0;
    memset(out, 'z', sizeof out);
    n = 12345;
    assert_int_equal(negotiate(lines, &c, &agreed, out, need - 1, &n), WSP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    assert_int_equal(out[0], 'z'); /* nothing written */
    /* Measuring gives the room needed, the NUL included. */
    assert_int_equal(negotiate(lines, &c, &agreed, NULL, 0, &n), WSP_OK);
    assert_int_equal(n, need);
    assert_int_equal(negotiate(lines, &c, &agreed, out, need, &n), WSP_OK);
    assert_int_equal(n, need - 1);
    assert_string_equal(out, want);

    wsp_headers h;
    memset(&h, 0, sizeof h);
    assert_int_equal(wsp_deflate_negotiate(NULL, &c, &agreed, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_deflate_negotiate(&h, NULL, &agreed, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_deflate_negotiate(&h, &c, NULL, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_deflate_negotiate(&h, &c, &agreed, out, sizeof out, NULL),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(wsp_deflate_negotiate(&h, &c, &agreed, NULL, 10, &n), WSP_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------------------
 * Through wsp_conn (deflate builds)
 * ---------------------------------------------------------------------- */

/* The offer each client config sends. */
static void test_conn_client_offer(void **state)
{
    (void)state;
    static const struct {
        int nct, peer_nct, bits, peer_bits;
        const char *app;
        const char *want;
    } cases[] = {
        {0, 0, 0, 0, NULL, "permessage-deflate; client_max_window_bits"},
        {0, 0, 15, 0, NULL, "permessage-deflate; client_max_window_bits"},
        {0, 0, 10, 0, NULL, "permessage-deflate; client_max_window_bits=10"},
        {0, 0, 0, 9, NULL,
         "permessage-deflate; server_max_window_bits=9; client_max_window_bits"},
        {1, 1, 12, 11, NULL,
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=11; client_max_window_bits=12"},
        {0, 0, 0, 0, "x-foo; a=1",
         "permessage-deflate; client_max_window_bits, x-foo; a=1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        handshake h;
        memset(&h, 0, sizeof h);
        wsp_deflate_config c = dcfg(cases[i].nct, cases[i].peer_nct, cases[i].bits,
                                    cases[i].peer_bits);
        hs_request(&h, &c, cases[i].app);
        char ext[256];
        assert_int_equal(count_headers(h.request, "Sec-WebSocket-Extensions"), 1);
        assert_true(header_value(h.request, "Sec-WebSocket-Extensions", ext, sizeof ext));
        assert_string_equal(ext, cases[i].want);
        hs_free(&h);
    }
    /* Without deflate config, only what the application offers. */
    handshake h;
    memset(&h, 0, sizeof h);
    hs_request(&h, NULL, NULL);
    assert_int_equal(count_headers(h.request, "Sec-WebSocket-Extensions"), 0);
    hs_free(&h);
}

/* Full handshakes between a client conn and a server conn: the response
 * header, both ends active, messages compressed both ways. */
static void test_conn_handshake(void **state)
{
    (void)state;
    static const struct {
        wsp_deflate_config client, server;
        const char *response_ext;
    } cases[] = {
        {{0}, {0}, "permessage-deflate"},
        /* The client asks the server not to take over context: granted. */
        {{.peer_no_context_takeover = 1}, {0},
         "permessage-deflate; server_no_context_takeover"},
        {{0}, {.peer_no_context_takeover = 1},
         "permessage-deflate; client_no_context_takeover"},
        {{0}, {.max_window_bits = 10, .peer_max_window_bits = 9},
         "permessage-deflate; client_max_window_bits=9"},
        {{.peer_max_window_bits = 12, .max_window_bits = 11}, {.peer_max_window_bits = 13},
         "permessage-deflate; server_max_window_bits=12; client_max_window_bits=11"},
        {{.peer_max_window_bits = 12}, {.max_window_bits = 9},
         "permessage-deflate; server_max_window_bits=9"},
        {{.no_context_takeover = 1, .peer_no_context_takeover = 1,
          .max_window_bits = 9, .peer_max_window_bits = 9},
         {.no_context_takeover = 1, .peer_no_context_takeover = 1},
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=9; client_max_window_bits=9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        handshake h;
        memset(&h, 0, sizeof h);
        hs_request(&h, &cases[i].client, NULL);
        hs_accept(&h, &cases[i].server, NULL);
        char ext[256];
        assert_int_equal(count_headers(h.response, "Sec-WebSocket-Extensions"), 1);
        assert_true(header_value(h.response, "Sec-WebSocket-Extensions", ext, sizeof ext));
        assert_string_equal(ext, cases[i].response_ext);
        hs_response(&h);
        assert_int_equal(h.client_status, WSP_OK);
        assert_string_equal(h.client_ext, cases[i].response_ext);
        assert_true(wsp_conn_deflate_active(h.client.conn));
        assert_true(wsp_conn_deflate_active(h.server.conn));
        for (int round = 0; round < 3; round++) {
            size_t len = 3000 + (size_t)round * 7000;
            assert_true(transfer(&h.client, &h.server, compressible(len), len, 0));
            assert_true(transfer(&h.server, &h.client, compressible(len), len, 0));
        }
        /* WSP_SEND_NO_COMPRESS still works on a compressing connection. */
        assert_false(transfer(&h.client, &h.server, compressible(100), 100,
                              WSP_SEND_NO_COMPRESS));
        assert_false(transfer(&h.server, &h.client, compressible(100), 100,
                              WSP_SEND_NO_COMPRESS));
        hs_free(&h);
    }
}

/* A side limited to an 8-bit window still compresses: zlib's smallest
 * window (9 bits) never reaches back more than 250 bytes, so an 8-bit
 * inflater decodes it (the exact round trip below proves it). */
static void test_conn_eight_bit_window(void **state)
{
    (void)state;
    handshake h;
    memset(&h, 0, sizeof h);
    wsp_deflate_config c = dcfg(0, 0, 8, 0), s = dcfg(0, 0, 0, 0);
    hs_request(&h, &c, NULL);
    char ext[256];
    assert_true(header_value(h.request, "Sec-WebSocket-Extensions", ext, sizeof ext));
    assert_string_equal(ext, "permessage-deflate; client_max_window_bits=8");
    hs_accept(&h, &s, NULL);
    assert_true(header_value(h.response, "Sec-WebSocket-Extensions", ext, sizeof ext));
    assert_string_equal(ext, "permessage-deflate; client_max_window_bits=8");
    hs_response(&h);
    assert_int_equal(h.client_status, WSP_OK);
    assert_true(transfer(&h.client, &h.server, compressible(5000), 5000, 0));
    assert_true(transfer(&h.server, &h.client, compressible(5000), 5000, 0));
    hs_free(&h);

    /* The server asks the client for 8 bits: the client complies. */
    memset(&h, 0, sizeof h);
    c = dcfg(0, 0, 0, 0);
    s = dcfg(0, 0, 0, 8);
    hs_request(&h, &c, NULL);
    hs_accept(&h, &s, NULL);
    assert_true(header_value(h.response, "Sec-WebSocket-Extensions", ext, sizeof ext));
    assert_string_equal(ext, "permessage-deflate; client_max_window_bits=8");
    hs_response(&h);
    assert_int_equal(h.client_status, WSP_OK);
    assert_true(transfer(&h.client, &h.server, compressible(5000), 5000, 0));
    assert_true(transfer(&h.server, &h.client, compressible(5000), 5000, 0));
    hs_free(&h);

    /* The client asks the server for 8 bits. */
    memset(&h, 0, sizeof h);
    c = dcfg(0, 0, 0, 8);
    s = dcfg(0, 0, 0, 0);
    hs_request(&h, &c, NULL);
    hs_accept(&h, &s, NULL);
    assert_true(header_value(h.response, "Sec-WebSocket-Extensions", ext, sizeof ext));
    assert_string_equal(ext, "permessage-deflate; server_max_window_bits=8");
    hs_response(&h);
    assert_int_equal(h.client_status, WSP_OK);
    assert_true(transfer(&h.client, &h.server, compressible(5000), 5000, 0));
    assert_true(transfer(&h.server, &h.client, compressible(5000), 5000, 0));
    hs_free(&h);
}

/* Accepting without compression: no_deflate, a server without deflate
 * config, an offer of another deflate extension. */
static void test_conn_declined(void **state)
{
    (void)state;
    wsp_deflate_config d = dcfg(0, 0, 0, 0);
    for (int variant = 0; variant < 3; variant++) {
        handshake h;
        memset(&h, 0, sizeof h);
        wsp_accept_options opts;
        memset(&opts, 0, sizeof opts);
        opts.no_deflate = 1;
        if (variant == 2) {
            /* Only x-webkit-deflate-frame offered: not ours to answer. */
            hs_request(&h, NULL, "x-webkit-deflate-frame");
        } else {
            hs_request(&h, &d, NULL);
        }
        hs_accept(&h, variant == 1 ? NULL : &d, variant == 0 ? &opts : NULL);
        assert_int_equal(count_headers(h.response, "Sec-WebSocket-Extensions"), 0);
        assert_false(wsp_conn_deflate_active(h.server.conn));
        hs_response(&h);
        assert_int_equal(h.client_status, WSP_OK);
        assert_string_equal(h.client_ext, "");
        assert_false(wsp_conn_deflate_active(h.client.conn));
        assert_false(transfer(&h.client, &h.server, compressible(4000), 4000, 0));
        assert_false(transfer(&h.server, &h.client, compressible(4000), 4000, 0));
        hs_free(&h);
    }

    /* x-webkit-deflate-frame first, then permessage-deflate: the latter. */
    handshake h;
    memset(&h, 0, sizeof h);
    hs_request(&h, NULL, "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=7, "
                         "permessage-deflate; server_no_context_takeover");
    hs_accept(&h, &d, NULL);
    char ext[256];
    assert_true(header_value(h.response, "Sec-WebSocket-Extensions", ext, sizeof ext));
    assert_string_equal(ext, "permessage-deflate; server_no_context_takeover");
    assert_true(wsp_conn_deflate_active(h.server.conn));
    hs_free(&h);

    /* Deflate and an application extension answered together. */
    memset(&h, 0, sizeof h);
    hs_request(&h, &d, "x-foo");
    wsp_accept_options opts;
    memset(&opts, 0, sizeof opts);
    opts.extensions = "x-foo";
    hs_accept(&h, &d, &opts);
    assert_true(header_value(h.response, "Sec-WebSocket-Extensions", ext, sizeof ext));
    assert_string_equal(ext, "permessage-deflate, x-foo");
    hs_response(&h);
    assert_int_equal(h.client_status, WSP_OK);
    assert_true(wsp_conn_deflate_active(h.client.conn));
    assert_true(wsp_conn_deflate_active(h.server.conn));
    hs_free(&h);
}

/* A server embedded in another HTTP stack: wsp_conn_accept_request
 * negotiates from the pre-parsed headers. */
static void test_conn_accept_request(void **state)
{
    (void)state;
    wsp_deflate_config d = dcfg(0, 0, 0, 0);
    wsp_header hdrs[] = {
        {"Host", 4, "x", 1},
        {"Upgrade", 7, "websocket", 9},
        {"Connection", 10, "Upgrade", 7},
        {"Sec-WebSocket-Key", 17, "dGhlIHNhbXBsZSBub25jZQ==", 24},
        {"Sec-WebSocket-Version", 21, "13", 2},
        {"Sec-WebSocket-Extensions", 24, "permessage-deflate; server_max_window_bits=99", 45},
        {"Sec-WebSocket-Extensions", 24, "permessage-deflate; server_max_window_bits=11", 45},
    };
    wsp_request req = wsp_test_request(hdrs, sizeof hdrs / sizeof hdrs[0]);
    for (int no_deflate = 0; no_deflate <= 1; no_deflate++) {
        side s;
        side_new(&s, WSP_ROLE_SERVER, &d);
        wsp_accept_options opts;
        memset(&opts, 0, sizeof opts);
        opts.no_deflate = no_deflate;
        char out[1024];
        size_t n = 0;
        assert_int_equal(wsp_conn_accept_request(s.conn, &req, &opts, (uint8_t *)out,
                                                 sizeof out - 1, &n), WSP_OK);
        out[n] = '\0';
        char ext[128];
        if (no_deflate) {
            assert_int_equal(count_headers(out, "Sec-WebSocket-Extensions"), 0);
            assert_false(wsp_conn_deflate_active(s.conn));
        } else {
            assert_true(header_value(out, "Sec-WebSocket-Extensions", ext, sizeof ext));
            assert_string_equal(ext, "permessage-deflate; server_max_window_bits=11");
            assert_true(wsp_conn_deflate_active(s.conn));
        }
        side_free(&s);
    }
}

/* The client checks the server's answer (RFC 7692 5, 7.1) and fails the
 * handshake with WSP_ERR_HTTP_EXTENSION on anything its offer did not
 * allow. */
static void test_conn_client_checks_answer(void **state)
{
    (void)state;
    static const struct {
        wsp_deflate_config client;
        const char *lines[3];
        int status;
        int active;
    } cases[] = {
        {{0}, {"permessage-deflate"}, WSP_OK, 1},
        {{0}, {"PerMessage-Deflate"}, WSP_OK, 1},
        {{0}, {NULL}, WSP_OK, 0},
        /* Parameters a server may add unasked (7.1.1.2, 7.1.2.1). */
        {{0}, {"permessage-deflate; client_no_context_takeover; server_no_context_takeover; "
               "server_max_window_bits=12"}, WSP_OK, 1},
        {{0}, {"permessage-deflate; client_max_window_bits=8"}, WSP_OK, 1},
        {{0}, {"permessage-deflate; client_max_window_bits=15"}, WSP_OK, 1},
        /* Unknown parameter, bad values, duplicates. */
        {{0}, {"permessage-deflate; foo"}, WSP_ERR_HTTP_EXTENSION, 0},
        {{0}, {"permessage-deflate; server_no_context_takeover; server_no_context_takeover"},
         WSP_ERR_HTTP_EXTENSION, 0},
        {{0}, {"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10"},
         WSP_ERR_HTTP_EXTENSION, 0},
        {{0}, {"permessage-deflate; server_no_context_takeover=1"}, WSP_ERR_HTTP_EXTENSION, 0},
        {{0}, {"permessage-deflate; server_max_window_bits=7"}, WSP_ERR_HTTP_EXTENSION, 0},
        {{0}, {"permessage-deflate; server_max_window_bits"}, WSP_ERR_HTTP_EXTENSION, 0},
        /* client_max_window_bits in a response needs a value (7.1.2.2). */
        {{0}, {"permessage-deflate; client_max_window_bits"}, WSP_ERR_HTTP_EXTENSION, 0},
        /* The extension twice, in one header or across two. */
        {{0}, {"permessage-deflate, permessage-deflate"}, WSP_ERR_HTTP_EXTENSION, 0},
        {{0}, {"permessage-deflate", "permessage-deflate; server_no_context_takeover"},
         WSP_ERR_HTTP_EXTENSION, 0},
        /* Extensions that were never offered. */
        {{0}, {"x-webkit-deflate-frame"}, WSP_ERR_HTTP_EXTENSION, 0},
        {{0}, {"permessage-deflate, x-foo"}, WSP_ERR_HTTP_EXTENSION, 0},
        /* client_max_window_bits above what the client offered. */
        {{.max_window_bits = 10}, {"permessage-deflate; client_max_window_bits=11"},
         WSP_ERR_HTTP_EXTENSION, 0},
        {{.max_window_bits = 10}, {"permessage-deflate; client_max_window_bits=10"}, WSP_OK, 1},
        {{.max_window_bits = 10}, {"permessage-deflate; client_max_window_bits=9"}, WSP_OK, 1},
        /* server_no_context_takeover asked for and not granted. */
        {{.peer_no_context_takeover = 1}, {"permessage-deflate"}, WSP_ERR_HTTP_EXTENSION, 0},
        {{.peer_no_context_takeover = 1}, {"permessage-deflate; client_no_context_takeover"},
         WSP_ERR_HTTP_EXTENSION, 0},
        {{.peer_no_context_takeover = 1}, {"permessage-deflate; server_no_context_takeover"},
         WSP_OK, 1},
        /* server_max_window_bits asked for: answered with the same or less. */
        {{.peer_max_window_bits = 10}, {"permessage-deflate"}, WSP_ERR_HTTP_EXTENSION, 0},
        {{.peer_max_window_bits = 10}, {"permessage-deflate; server_max_window_bits=11"},
         WSP_ERR_HTTP_EXTENSION, 0},
        {{.peer_max_window_bits = 10}, {"permessage-deflate; server_max_window_bits=10"},
         WSP_OK, 1},
        {{.peer_max_window_bits = 10}, {"permessage-deflate; server_max_window_bits=8"},
         WSP_OK, 1},
        /* Declining the whole extension is always allowed. */
        {{.peer_max_window_bits = 10, .peer_no_context_takeover = 1}, {NULL}, WSP_OK, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        handshake h;
        memset(&h, 0, sizeof h);
        hs_request(&h, &cases[i].client, NULL);
        hs_fake_response(&h, cases[i].lines);
        hs_response(&h);
        if (h.client_status != cases[i].status)
            print_error("case %zu (%s): status %d, want %d\n", i,
                        cases[i].lines[0] ? cases[i].lines[0] : "(none)", h.client_status,
                        cases[i].status);
        assert_int_equal(h.client_status, cases[i].status);
        assert_int_equal(wsp_conn_deflate_active(h.client.conn), cases[i].active);
        if (cases[i].status != WSP_OK) {
            wsp_error_info info;
            assert_int_equal(wsp_conn_error(h.client.conn, &info), WSP_OK);
            assert_int_equal(info.status, WSP_ERR_HTTP_EXTENSION);
        }
        hs_free(&h);
    }

    /* A client that did not configure deflate rejects it in an answer. */
    handshake h;
    memset(&h, 0, sizeof h);
    hs_request(&h, NULL, NULL);
    const char *pmd[] = {"permessage-deflate", NULL};
    hs_fake_response(&h, pmd);
    hs_response(&h);
    assert_int_equal(h.client_status, WSP_ERR_HTTP_EXTENSION);
    hs_free(&h);
}

/* Memory a negotiated connection holds, counted through the allocator:
 * receive-only (one compressed message received) and send+receive (one sent
 * as well). Asserts the header's estimates and prints the figures that
 * docs/compression.md quotes. */
static size_t live_after(const wsp_deflate_config *server_cfg, int send_too, size_t *conn_bytes)
{
    handshake h;
    memset(&h, 0, sizeof h);
    wsp_deflate_config client_cfg = dcfg(0, 0, 0, 0);
    hs_request(&h, &client_cfg, NULL);
    size_t before = 0;
    hs_accept(&h, server_cfg, NULL);
    hs_response(&h);
    (void)before;
    *conn_bytes = wsp_conn_size();
    assert_true(transfer(&h.client, &h.server, compressible(20000), 20000, 0));
    if (send_too) assert_true(transfer(&h.server, &h.client, compressible(20000), 20000, 0));
    size_t live = h.server.counter.live_bytes;
    hs_free(&h);
    return live;
}

static void test_conn_memory(void **state)
{
    (void)state;
    wsp_deflate_config dflt = dcfg(0, 0, 0, 0);
    wsp_deflate_config small = dcfg(0, 0, 10, 10);
    small.mem_level = 4;
    size_t conn = 0;
    size_t d_recv = live_after(&dflt, 0, &conn);
    size_t d_both = live_after(&dflt, 1, &conn);
    size_t s_recv = live_after(&small, 0, &conn);
    size_t s_both = live_after(&small, 1, &conn);
    /* Idle: negotiated, nothing sent or received yet. */
    handshake h;
    memset(&h, 0, sizeof h);
    hs_request(&h, &dflt, NULL);
    hs_accept(&h, &dflt, NULL);
    size_t idle = h.server.counter.live_bytes;
    hs_free(&h);
    print_message("memory per server connection, bytes through the allocator "
                  "(wsp_conn itself: %zu):\n", conn);
    print_message("  negotiated, idle:                 %zu\n", idle);
    print_message("  defaults (15 bits, memLevel 8):   receive-only %zu, send+receive %zu\n",
                  d_recv, d_both);
    print_message("  10 bits both ways, memLevel 4:    receive-only %zu, send+receive %zu\n",
                  s_recv, s_both);
    /* The header's figures: about 300 KiB with the defaults, near 50 KiB
     * with max_window_bits 10 and mem_level 4 (the peer limited to 10 too). */
    assert_true(d_both > 200 * 1024 && d_both < 360 * 1024);
    assert_true(s_both < 80 * 1024);
    assert_true(d_recv < d_both && s_recv < s_both);
    assert_true(idle < d_recv);
}

/* ------------------------------------------------------------------------
 * Builds without WSPROTO_DEFLATE
 * ---------------------------------------------------------------------- */
static void test_off_entry_points(void **state)
{
    (void)state;
    assert_int_equal(wsp_deflate_available(), 0);
    wsp_deflate_config c = dcfg(0, 0, 0, 0);
    const char *lines[] = {"permessage-deflate", NULL};
    wsp_deflate_params agreed;
    char out[128];
    size_t n = 0;
    assert_int_equal(negotiate(lines, &c, &agreed, out, sizeof out, &n), WSP_ERR_UNSUPPORTED);

    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.deflate = &c;
    wsp_conn *conn = NULL;
    assert_int_equal(wsp_conn_new(&cfg, &conn), WSP_ERR_UNSUPPORTED);
    assert_null(conn);
    cfg.role = WSP_ROLE_CLIENT;
    assert_int_equal(wsp_conn_new(&cfg, &conn), WSP_ERR_UNSUPPORTED);
    void *mem = malloc(wsp_conn_size());
    assert_int_equal(wsp_conn_init((wsp_conn *)mem, &cfg), WSP_ERR_UNSUPPORTED);
    free(mem);

    /* An open stream cannot turn it on either. */
    memset(&cfg, 0, sizeof cfg);
    cfg.start_open = 1;
    assert_int_equal(wsp_conn_new(&cfg, &conn), WSP_OK);
    memset(&agreed, 0, sizeof agreed);
    assert_int_equal(wsp_conn_enable_deflate(conn, NULL, &agreed), WSP_ERR_UNSUPPORTED);
    assert_false(wsp_conn_deflate_active(conn));
    wsp_conn_free(conn);
}

/* Without deflate, a server never answers an offer and a client rejects an
 * answer it did not ask for. */
static void test_off_conn(void **state)
{
    (void)state;
    handshake h;
    memset(&h, 0, sizeof h);
    hs_request(&h, NULL, "permessage-deflate; client_max_window_bits");
    hs_accept(&h, NULL, NULL);
    assert_int_equal(count_headers(h.response, "Sec-WebSocket-Extensions"), 0);
    assert_false(wsp_conn_deflate_active(h.server.conn));
    hs_free(&h);

    memset(&h, 0, sizeof h);
    hs_request(&h, NULL, NULL);
    const char *pmd[] = {"permessage-deflate", NULL};
    hs_fake_response(&h, pmd);
    hs_response(&h);
    assert_int_equal(h.client_status, WSP_ERR_HTTP_EXTENSION);
    hs_free(&h);
}

/* 0.1 stored the needed size in *out_len on WSP_ERR_BUFFER_TOO_SMALL and
 * left it as it was on other failures; now every failure leaves 0, and a
 * NULL buffer with no room measures the room a real call needs (the
 * answer plus its NUL; the real call counts the answer alone). */
static void test_regression_negotiate_out_len(void **state)
{
    (void)state;
    wsp_deflate_config c = dcfg(1, 1, 10, 12);
    static const char *const offers[][2] = {
        {"permessage-deflate", NULL},
        {"permessage-deflate; client_max_window_bits", NULL},
        {"permessage-deflate; server_no_context_takeover; client_no_context_takeover", NULL},
    };
    for (size_t i = 0; i < sizeof offers / sizeof offers[0]; i++) {
        wsp_deflate_params agreed;
        size_t measured = 12345;
        assert_int_equal(negotiate(offers[i], &c, &agreed, NULL, 0, &measured), WSP_OK);
        char out[256];
        memset(out, 'z', sizeof out);
        size_t n = 12345;
        assert_int_equal(negotiate(offers[i], &c, &agreed, out, sizeof out, &n), WSP_OK);
        assert_int_equal(measured, n + 1);
        assert_int_equal(strlen(out), n);
        assert_int_equal(out[n + 1], 'z');
        assert_int_equal(negotiate(offers[i], &c, &agreed, out, measured, &n), WSP_OK);
        n = 12345;
        assert_int_equal(negotiate(offers[i], &c, &agreed, out, measured - 1, &n),
                         WSP_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(n, 0);
    }
    wsp_deflate_params agreed;
    char out[256];
    size_t n = 12345;
    static const char *const other[] = {"x-webkit-deflate-frame", NULL};
    assert_int_equal(negotiate(other, &c, &agreed, out, sizeof out, &n), WSP_ERR_NOT_FOUND);
    assert_int_equal(n, 0);
    n = 12345;
    assert_int_equal(negotiate(other, &c, &agreed, NULL, 0, &n), WSP_ERR_NOT_FOUND);
    assert_int_equal(n, 0);
    n = 12345;
    assert_int_equal(negotiate(offers[0], NULL, &agreed, out, sizeof out, &n),
                     WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 12345;
    assert_int_equal(negotiate(offers[0], &c, &agreed, NULL, 8, &n), WSP_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
}

/* 0.1 merged the extension answer and offer in a 512-byte buffer and
 * refused longer strings; with deflate on they now go out whole. */
static void test_regression_long_extension_strings(void **state)
{
    (void)state;
    char longext[700];
    int ln = snprintf(longext, sizeof longext, "x-long; v=");
    memset(longext + ln, 'v', sizeof longext - (size_t)ln - 1);
    longext[sizeof longext - 1] = '\0';
    assert_true(strlen(longext) > 512);
    wsp_deflate_config d = dcfg(0, 0, 0, 0);

    /* Server: the application's value follows the library's answer. */
    side server;
    side_new(&server, WSP_ROLE_SERVER, &d);
    static const char req[] =
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate, x-long\r\n\r\n";
    uint8_t in[sizeof req];
    memcpy(in, req, sizeof req - 1);
    size_t used = 0;
    wsp_event ev;
    assert_int_equal(wsp_conn_recv(server.conn, in, sizeof req - 1, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_REQUEST);
    assert_int_equal(ev.u.request.status, WSP_OK);
    wsp_accept_options ao;
    memset(&ao, 0, sizeof ao);
    ao.extensions = longext;
    char resp[2048];
    size_t n = 0;
    assert_int_equal(wsp_conn_accept(server.conn, &ao, (uint8_t *)resp, sizeof resp - 1, &n),
                     WSP_OK);
    resp[n] = '\0';
    assert_int_equal(wsp_conn_deflate_active(server.conn), 1);
    wsp_response r;
    size_t consumed = 0;
    assert_int_equal(wsp_http_parse_response(resp, n, 0, 0, &r, &consumed), WSP_OK);
    const char *v = NULL;
    size_t vl = 0;
    assert_int_equal(wsp_headers_get(&r.headers, "Sec-WebSocket-Extensions", &v, &vl), WSP_OK);
    size_t ll = strlen(longext);
    assert_true(vl > ll + 2);
    assert_memory_equal(v, "permessage-deflate", 18);
    assert_memory_equal(v + vl - ll - 2, ", ", 2);
    assert_memory_equal(v + vl - ll, longext, ll);
    side_free(&server);

    /* Client: the offer carries the whole string after the library's own;
     * only the names are kept to check the answer. */
    side client;
    side_new(&client, WSP_ROLE_CLIENT, &d);
    wsp_client_options co;
    memset(&co, 0, sizeof co);
    co.host = "a";
    co.extensions = longext;
    char request[2048];
    assert_int_equal(wsp_conn_client_request(client.conn, &co, (uint8_t *)request,
                                             sizeof request - 1, &n),
                     WSP_OK);
    request[n] = '\0';
    wsp_request rq;
    assert_int_equal(wsp_http_parse_request(request, n, 0, 0, &rq, &consumed), WSP_OK);
    assert_int_equal(wsp_headers_get(&rq.headers, "Sec-WebSocket-Extensions", &v, &vl),
                     WSP_OK);
    assert_true(vl > ll + 2);
    assert_memory_equal(v, "permessage-deflate", 18);
    assert_memory_equal(v + vl - ll - 2, ", ", 2);
    assert_memory_equal(v + vl - ll, longext, ll);
    /* An answer naming both is accepted. */
    char key[64], accept[WSP_ACCEPT_LEN + 1];
    assert_true(header_value(request, "Sec-WebSocket-Key", key, sizeof key));
    assert_int_equal(wsp_accept_key(key, strlen(key), accept), WSP_OK);
    int rn = snprintf(resp, sizeof resp,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                      "Sec-WebSocket-Extensions: permessage-deflate, x-long; v=1\r\n\r\n",
                      accept);
    assert_true(rn > 0 && (size_t)rn < sizeof resp);
    uint8_t rbuf[2048];
    memcpy(rbuf, resp, (size_t)rn);
    assert_int_equal(wsp_conn_recv(client.conn, rbuf, (size_t)rn, &used, &ev), WSP_OK);
    assert_int_equal(ev.type, WSP_EV_RESPONSE);
    assert_int_equal(ev.u.response.status, WSP_OK);
    assert_int_equal(wsp_conn_deflate_active(client.conn), 1);
    side_free(&client);
}

int main(void)
{
    const struct CMUnitTest parse_tests[] = {
        cmocka_unit_test(test_parse_name),
        cmocka_unit_test(test_parse_flags),
        cmocka_unit_test(test_parse_window_bits),
        cmocka_unit_test(test_parse_unknown_and_combined),
    };
    const struct CMUnitTest negotiate_tests[] = {
        cmocka_unit_test(test_negotiate_answers),
        cmocka_unit_test(test_negotiate_choice),
        cmocka_unit_test(test_negotiate_rules),
        cmocka_unit_test(test_negotiate_buffer),
        cmocka_unit_test(test_conn_client_offer),
        cmocka_unit_test(test_conn_handshake),
        cmocka_unit_test(test_conn_eight_bit_window),
        cmocka_unit_test(test_conn_declined),
        cmocka_unit_test(test_conn_accept_request),
        cmocka_unit_test(test_conn_client_checks_answer),
        cmocka_unit_test(test_conn_memory),
        cmocka_unit_test(test_regression_negotiate_out_len),
        cmocka_unit_test(test_regression_long_extension_strings),
    };
    const struct CMUnitTest off_tests[] = {
        cmocka_unit_test(test_off_entry_points),
        cmocka_unit_test(test_off_conn),
    };
    int failed = cmocka_run_group_tests_name("deflate_parse", parse_tests, NULL, NULL);
    if (wsp_deflate_available()) {
        failed += cmocka_run_group_tests_name("deflate_negotiate", negotiate_tests, NULL, NULL);
    } else {
        print_message("permessage-deflate is not compiled in: checking that it is "
                      "reported as unsupported instead of the %zu negotiation tests\n",
                      sizeof negotiate_tests / sizeof negotiate_tests[0]);
        failed += cmocka_run_group_tests_name("deflate_off", off_tests, NULL, NULL);
    }
    return failed;
}
