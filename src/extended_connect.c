/* The extended CONNECT handshake (RFC 8441 for HTTP/2, RFC 9220 for
 * HTTP/3): the caller's stack parsed the request, so what is left is to
 * check its fields, negotiate, and turn the stream into a connection. The
 * checks and the negotiation are the HTTP/1.1 handshake's (handshake.c,
 * deflate_negotiate.c); only the pseudo-header rules are new. */
#include "internal.h"

#include <string.h>

/* The longest answer permessage-deflate gives (every parameter), ", "
 * before the application's extensions, and a NUL after each of the two
 * values. */
#define LONGEST_DEFLATE_ANSWER                                                 \
    "permessage-deflate; server_no_context_takeover; "                       \
    "client_no_context_takeover; server_max_window_bits=15; "                \
    "client_max_window_bits=15"
_Static_assert(WSP_CONNECT_RESPONSE_MAX == sizeof LONGEST_DEFLATE_ANSWER - 1 + 2 + 2,
               "WSP_CONNECT_RESPONSE_MAX no longer matches the deflate answer");

/* A field NULL with a length is the caller's mistake, not the peer's. */
static int field_ok(const char *s, size_t n) { return s || !n; }

static int field_is(const char *s, size_t n, const char *lit)
{
    return s && n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* RFC 9113 8.2.2: HTTP/2 carries no connection-specific fields, and a
 * request with one is malformed; RFC 8441 5 names Connection and Upgrade
 * in particular, so an HTTP/1.1 upgrade's fields cannot ride along. */
static int connection_specific(const wsp_header *h)
{
    static const char *const names[] = {"connection", "upgrade", "keep-alive",
                                        "proxy-connection", "transfer-encoding"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (wsp_ascii_ieq(h->name, h->name_len, names[i])) return 1;
    /* te is the one allowed, and only to say trailers are accepted. */
    return wsp_ascii_ieq(h->name, h->name_len, "te") &&
           !wsp_ascii_ieq(h->value, h->value_len, "trailers");
}

/* The other rules of RFC 9113 8.2 and 8.3 (lowercase names, values without
 * surrounding whitespace, each pseudo-header once and first) are the
 * HTTP/2 stack's, which sees the header block as sent. A pseudo-header
 * among the regular fields is checked again here because only the caller
 * decided where each field went. */
static int fields_malformed(const wsp_headers *headers)
{
    size_t pos = 0;
    wsp_header h;
    while (wsp_headers_next(headers, &pos, &h) == WSP_OK) {
        if (h.name_len && h.name[0] == ':') return 1;
        if (connection_specific(&h)) return 1;
    }
    return 0;
}

int wsp_connect_validate(const wsp_connect_request *req,
                         const wsp_origin_policy *origin_policy,
                         wsp_connect_info *info)
{
    if (!req || !info) return WSP_ERR_INVALID_ARG;
    memset(info, 0, sizeof *info);
    if (!field_ok(req->method, req->method_len) ||
        !field_ok(req->protocol, req->protocol_len) ||
        !field_ok(req->scheme, req->scheme_len) ||
        !field_ok(req->authority, req->authority_len) ||
        !field_ok(req->path, req->path_len))
        return WSP_ERR_INVALID_ARG;
    /* Methods are case-sensitive (RFC 9110 9.1); the protocol is compared
     * as the Upgrade token it replaces. Without :protocol it is no
     * WebSocket request at all; with another one it asks for something
     * this server does not implement (RFC 8441 4, RFC 9220 3: 501). */
    if (!field_is(req->method, req->method_len, "CONNECT")) return WSP_ERR_HTTP_METHOD;
    if (!req->protocol_len) return WSP_ERR_HTTP_UPGRADE;
    if (!wsp_ascii_ieq(req->protocol, req->protocol_len, "websocket"))
        return WSP_ERR_HTTP_PROTOCOL_UNSUPPORTED;
    /* RFC 8441 4: :scheme and :path are required with :protocol; RFC 9113
     * 8.3 calls a request without them, or with them empty, malformed. */
    if (!req->scheme_len || !req->path_len || !req->authority_len)
        return WSP_ERR_HTTP_MALFORMED;
    /* RFC 8441 5: https for wss, http for ws (schemes are case-insensitive,
     * RFC 3986 3.1); RFC 9113 8.3.1: an http(s) :path starts with "/". */
    if (!wsp_ascii_ieq(req->scheme, req->scheme_len, "https") &&
        !wsp_ascii_ieq(req->scheme, req->scheme_len, "http"))
        return WSP_ERR_HTTP_MALFORMED;
    if (req->path[0] != '/') return WSP_ERR_HTTP_MALFORMED;
    if (fields_malformed(&req->headers)) return WSP_ERR_HTTP_MALFORMED;
    wsp_upgrade_fields f;
    wsp_upgrade_scan(&req->headers, &f);
    int rc = wsp_upgrade_check_version_origin(&f, origin_policy);
    if (rc != WSP_OK) return rc;
    info->authority = req->authority, info->authority_len = req->authority_len;
    info->path = req->path, info->path_len = req->path_len;
    info->origin = f.origin, info->origin_len = f.origin_len;
    info->headers = req->headers;
    return WSP_OK;
}

static void add_field(wsp_connect_response *resp, const char *name, const char *value,
                      size_t value_len)
{
    wsp_header *h = &resp->headers[resp->header_count++];
    h->name = name;
    h->name_len = strlen(name);
    h->value = value;
    h->value_len = value_len;
}

/* What a failed validation answers: its status, and the field that status
 * requires. */
static void answer_error(wsp_connect_response *resp, int status)
{
    resp->status = wsp_status_http_code(status);
    if (status == WSP_ERR_HTTP_WS_VERSION) {
        /* RFC 9110 15.5.22: a 426 MUST carry Upgrade, which RFC 9113 8.2.2
         * forbids in HTTP/2; a 400 naming the version still tells the
         * client what to retry with (RFC 6455 4.4). */
        resp->status = 400;
        add_field(resp, "sec-websocket-version", "13", 2);
    }
    if (status == WSP_ERR_HTTP_METHOD) add_field(resp, "allow", "CONNECT", 7);
}

/* The values of a success answer, as they go into buf: the subprotocol,
 * then the extensions, each followed by a NUL. */
typedef struct answer_values {
    const char *subprotocol;           /* NULL: none */
    const wsp_deflate_params *deflate; /* NULL: not answered */
    const char *app_extensions;        /* NULL or empty: none */
} answer_values;

static int write_values(wsp_writer *w, const void *ctx)
{
    const answer_values *v = ctx;
    if (v->subprotocol) {
        size_t n = strlen(v->subprotocol);
        if (!wsp_is_token(v->subprotocol, n)) return WSP_ERR_INVALID_ARG;
        wsp_write(w, v->subprotocol, n);
        wsp_write(w, "", 1);
    }
    if (!wsp_extensions_answered(v->deflate, v->app_extensions)) return WSP_OK;
    int rc = wsp_write_extensions_value(w, v->deflate, v->app_extensions);
    wsp_write(w, "", 1);
    return rc;
}

int wsp_conn_accept_connect(wsp_conn *c, const wsp_connect_request *req,
                            const wsp_accept_options *opts, char *buf, size_t buf_cap,
                            wsp_connect_response *resp)
{
    if (!resp) return WSP_ERR_INVALID_ARG;
    memset(resp, 0, sizeof *resp);
    if (!c || !req || (!buf && buf_cap)) return WSP_ERR_INVALID_ARG;
    /* Bytes already fed mean the peer spoke HTTP/1.1 on this connection. */
    if (c->role != WSP_ROLE_SERVER || c->rs != RS_HEAD || c->u.hs.head.examined)
        return WSP_ERR_STATE;
    wsp_connect_info info;
    int valid = wsp_connect_validate(req, c->u.hs.origin_policy, &info);
    if (valid == WSP_ERR_INVALID_ARG) return valid;
    if (valid != WSP_OK) {
        answer_error(resp, valid);
        wsp_conn_refused(c, valid);
        return valid;
    }

    wsp_deflate_params agreed;
    int deflate = c->u.hs.deflate_cfg && !(opts && opts->no_deflate) &&
                  wsp_deflate_choose(&req->headers, c->u.hs.deflate_cfg, &agreed);
    answer_values v = {opts ? opts->subprotocol : NULL, deflate ? &agreed : NULL,
                       opts ? opts->extensions : NULL};
    /* Measured first: a buffer that is too small changes nothing. */
    size_t need = 0, len = 0;
    int rc = wsp_build(write_values, &v, NULL, 0, &need);
    if (rc != WSP_OK) return rc;
    if (buf_cap < need) return WSP_ERR_BUFFER_TOO_SMALL;
    if (deflate) {
        rc = wsp_conn_server_deflate(c, &agreed);
        if (rc != WSP_OK) return rc;
    }
    if (need) {
        /* Cannot fail now: the same values were just measured. */
        wsp_build(write_values, &v, (uint8_t *)buf, buf_cap, &len);
    }
    wsp_conn_open(c);

    resp->status = 200;
    size_t at = 0;
    if (v.subprotocol) {
        size_t n = strlen(v.subprotocol);
        add_field(resp, "sec-websocket-protocol", buf, n);
        at = n + 1;
    }
    if (wsp_extensions_answered(v.deflate, v.app_extensions))
        add_field(resp, "sec-websocket-extensions", buf + at, len - at - 1);
    return WSP_OK;
}
