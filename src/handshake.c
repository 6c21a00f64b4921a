/* The opening handshake (RFC 6455 4): validating and answering an upgrade
 * request, building a client's request and checking the server's answer. */
#include "internal.h"

#include <string.h>

/* RFC 6455 1.3: the GUID every endpoint appends to the key. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int wsp_accept_key(const char *key, size_t key_len,
                   char out[WSP_ACCEPT_LEN + 1])
{
    if ((!key && key_len) || !out) return WSP_ERR_INVALID_ARG;
    wsp_sha1 sha;
    uint8_t digest[WSP_SHA1_LEN];
    wsp_sha1_init(&sha);
    wsp_sha1_update(&sha, key, key_len);
    wsp_sha1_update(&sha, ws_guid, sizeof ws_guid - 1);
    wsp_sha1_final(&sha, digest);
    wsp_base64_encode(digest, sizeof digest, out);
    out[WSP_ACCEPT_LEN] = '\0';
    return WSP_OK;
}

static int name_is(const wsp_header *h, const char *lower)
{
    return wsp_ascii_ieq(h->name, h->name_len, lower);
}

/* Counts headers named `lower` and remembers the last one's value. */
static size_t header_count(const wsp_headers *h, const char *lower,
                           const char **value, size_t *value_len)
{
    size_t pos = 0, n = 0;
    wsp_header hd;
    while (wsp_headers_next(h, &pos, &hd) == WSP_OK) {
        if (!name_is(&hd, lower)) continue;
        n++;
        if (value) *value = hd.value, *value_len = hd.value_len;
    }
    return n;
}

/* Headers may repeat (RFC 9110 5.3): a token may be in any of them. */
static int any_header_has_token(const wsp_headers *h, const char *lower_name,
                                const char *lower_token)
{
    size_t pos = 0;
    wsp_header hd;
    while (wsp_headers_next(h, &pos, &hd) == WSP_OK) {
        if (name_is(&hd, lower_name) &&
            wsp_list_has_token(hd.value, hd.value_len, lower_token))
            return 1;
    }
    return 0;
}

typedef struct origin_parts {
    const char *scheme, *host;
    size_t scheme_len, host_len;
    unsigned long port;
} origin_parts;

/* Splits a serialized origin (RFC 6454 6.2) "scheme://host[:port]" with an
 * optional trailing "/"; the port defaults by scheme so that
 * "http://a" and "http://a:80" compare equal. */
static int origin_split(const char *s, size_t n, origin_parts *o)
{
    if (n && s[n - 1] == '/') n--;
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < n; i++) {
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            sep = s + i;
            break;
        }
    }
    if (!sep || sep == s) return 0;
    o->scheme = s;
    o->scheme_len = (size_t)(sep - s);
    o->host = sep + 3;
    size_t rest = n - o->scheme_len - 3;
    o->host_len = rest;
    o->port = 0;
    /* A ':' after the last ']' (IPv6 literals) starts the port. */
    for (size_t i = rest; i-- > 0;) {
        char c = o->host[i];
        if (c == ']') break;
        if (c == ':') {
            o->host_len = i;
            if (i + 1 == rest) return 0;
            for (size_t j = i + 1; j < rest; j++) {
                if (o->host[j] < '0' || o->host[j] > '9') return 0;
                o->port = o->port * 10 + (unsigned long)(o->host[j] - '0');
                if (o->port > 65535) return 0;
            }
            /* Port 0 is no port a browser can be on. */
            if (o->port == 0) return 0;
            break;
        }
    }
    if (!o->host_len) return 0;
    if (!o->port) {
        if (wsp_ascii_ieq(o->scheme, o->scheme_len, "http") ||
            wsp_ascii_ieq(o->scheme, o->scheme_len, "ws"))
            o->port = 80;
        else if (wsp_ascii_ieq(o->scheme, o->scheme_len, "https") ||
                 wsp_ascii_ieq(o->scheme, o->scheme_len, "wss"))
            o->port = 443;
    }
    return 1;
}

static int origin_allowed(const wsp_origin_policy *p, const char *origin,
                          size_t len)
{
    if (!p || !p->enabled) return 1;
    if (!origin) return p->allow_missing;
    if (len == 4 && memcmp(origin, "null", 4) == 0) return p->allow_null;
    origin_parts got, want;
    if (!origin_split(origin, len, &got)) return 0;
    for (size_t i = 0; i < p->count; i++) {
        const char *o = p->origins[i];
        if (!o || !origin_split(o, strlen(o), &want)) continue;
        if (wsp_ascii_ieq_n(got.scheme, got.scheme_len, want.scheme, want.scheme_len) &&
            wsp_ascii_ieq_n(got.host, got.host_len, want.host, want.host_len) &&
            got.port == want.port)
            return 1;
    }
    return 0;
}

void wsp_upgrade_scan(const wsp_headers *h, wsp_upgrade_fields *f)
{
    memset(f, 0, sizeof *f);
    size_t pos = 0;
    wsp_header hd;
    while (wsp_headers_next(h, &pos, &hd) == WSP_OK) {
        switch (hd.name_len) {
        case 4:
            if (name_is(&hd, "host")) {
                f->hosts++;
                f->host = hd.value, f->host_len = hd.value_len;
            }
            break;
        case 6:
            if (name_is(&hd, "origin")) {
                f->origins++;
                f->origin = hd.value, f->origin_len = hd.value_len;
            }
            break;
        case 7:
            /* Headers may repeat (RFC 9110 5.3): a token may be in any. */
            if (name_is(&hd, "upgrade") &&
                wsp_list_has_token(hd.value, hd.value_len, "websocket"))
                f->upgrade = 1;
            break;
        case 10:
            if (name_is(&hd, "connection") &&
                wsp_list_has_token(hd.value, hd.value_len, "upgrade"))
                f->connection = 1;
            break;
        case 17:
            if (name_is(&hd, "sec-websocket-key")) {
                f->keys++;
                f->key = hd.value, f->key_len = hd.value_len;
            }
            break;
        case 21:
            if (name_is(&hd, "sec-websocket-version")) {
                f->versions++;
                f->version = hd.value, f->version_len = hd.value_len;
            }
            break;
        default:
            break;
        }
    }
}

int wsp_upgrade_check_version_origin(wsp_upgrade_fields *f,
                                     const wsp_origin_policy *policy)
{
    if (f->versions != 1 || f->version_len != 2 || memcmp(f->version, "13", 2) != 0)
        return WSP_ERR_HTTP_WS_VERSION;
    /* Two origins could each pass a check meant for one. */
    if (f->origins > 1) return WSP_ERR_HTTP_ORIGIN;
    if (!f->origins) f->origin = NULL, f->origin_len = 0;
    if (!origin_allowed(policy, f->origin, f->origin_len)) return WSP_ERR_HTTP_ORIGIN;
    return WSP_OK;
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
static int scheme_ok(const char *s, size_t n)
{
    if (!n || !is_alpha(s[0])) return 0;
    for (size_t i = 1; i < n; i++)
        if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '+' &&
            s[i] != '-' && s[i] != '.')
            return 0;
    return 1;
}

/* A serialized origin's host is an ASCII name (IDNs arrive as punycode) or
 * a bracketed IPv6 literal; anything else ('/', '@', '?', spaces, NUL)
 * means a path, user info or a typo, which no browser sends. */
static int host_ok(const char *h, size_t n)
{
    if (h[0] == '[') {
        if (n < 3 || h[n - 1] != ']') return 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (!is_hex(h[i]) && h[i] != ':' && h[i] != '.') return 0;
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!is_alpha(h[i]) && !is_digit(h[i]) && h[i] != '-' &&
            h[i] != '.' && h[i] != '_' && h[i] != '~')
            return 0;
    return 1;
}

int wsp_origin_check(const char *origin, size_t len)
{
    origin_parts o;
    if (!origin || !origin_split(origin, len, &o)) return WSP_ERR_INVALID_ARG;
    if (!scheme_ok(o.scheme, o.scheme_len) || !host_ok(o.host, o.host_len))
        return WSP_ERR_INVALID_ARG;
    return WSP_OK;
}

/* RFC 6455 4.2.1's checks in the order the RFC lists them, so which error
 * a bad request gets can be read off in one place. */
int wsp_upgrade_validate(const wsp_request *req,
                         const wsp_origin_policy *origin_policy,
                         wsp_upgrade_info *info)
{
    if (!req || !info) return WSP_ERR_INVALID_ARG;
    memset(info, 0, sizeof *info);
    const wsp_headers *h = &req->headers;
    info->headers = *h;
    wsp_upgrade_fields f;
    wsp_upgrade_scan(h, &f);
    info->host = f.host, info->host_len = f.host_len;
    info->key = f.key, info->key_len = f.key_len;
    info->origin = f.origin, info->origin_len = f.origin_len;
    if (!req->method || req->method_len != 3 || memcmp(req->method, "GET", 3) != 0)
        return WSP_ERR_HTTP_METHOD;
    if (!wsp_http_version_ok(req->version_major, req->version_minor))
        return WSP_ERR_HTTP_VERSION;
    if (f.hosts != 1 || f.host_len == 0) return WSP_ERR_HTTP_HOST;
    if (!f.upgrade) return WSP_ERR_HTTP_UPGRADE;
    if (!f.connection) return WSP_ERR_HTTP_CONNECTION;
    uint8_t raw_key[18];
    if (f.keys != 1 || f.key_len != 24 ||
        wsp_base64_decode(f.key, f.key_len, raw_key, sizeof raw_key) != 16)
        return WSP_ERR_HTTP_KEY;
    int rc = wsp_upgrade_check_version_origin(&f, origin_policy);
    info->origin = f.origin, info->origin_len = f.origin_len;
    if (rc != WSP_OK) return rc;
    wsp_accept_key(info->key, info->key_len, info->accept);
    return WSP_OK;
}

static int next_list_item(const wsp_headers *h, const char *lower_name,
                          size_t *pos, size_t *list_pos, const char **item,
                          size_t *item_len)
{
    if (!h || !pos || !list_pos || !item || !item_len) return WSP_ERR_INVALID_ARG;
    for (;;) {
        size_t p = *pos;
        wsp_header hd;
        if (wsp_headers_next(h, &p, &hd) != WSP_OK) return WSP_ERR_NOT_FOUND;
        if (name_is(&hd, lower_name) &&
            wsp_list_next(hd.value, hd.value_len, list_pos, item, item_len) == WSP_OK)
            return WSP_OK;
        *pos = p;
        *list_pos = 0;
    }
}

int wsp_upgrade_next_subprotocol(const wsp_headers *h, size_t *pos,
                                 size_t *list_pos, const char **item,
                                 size_t *item_len)
{
    return next_list_item(h, "sec-websocket-protocol", pos, list_pos, item, item_len);
}

int wsp_upgrade_next_extension(const wsp_headers *h, size_t *pos,
                               size_t *list_pos, const char **item,
                               size_t *item_len)
{
    return next_list_item(h, "sec-websocket-extensions", pos, list_pos, item, item_len);
}

int wsp_is_token(const char *s, size_t n)
{
    if (!n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!wsp_is_tchar((unsigned char)s[i])) return 0;
    return 1;
}

/* Header values must not smuggle in extra lines (response splitting). */
int wsp_is_safe_value(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n' || c == '\0') return 0;
    }
    return 1;
}

static int write_header(wsp_writer *w, const char *name, size_t name_len,
                        const char *value, size_t value_len)
{
    if (!wsp_is_token(name, name_len) || !wsp_is_safe_value(value, value_len))
        return WSP_ERR_INVALID_ARG;
    wsp_write(w, name, name_len);
    wsp_write(w, ": ", 2);
    wsp_write(w, value, value_len);
    wsp_write(w, "\r\n", 2);
    return WSP_OK;
}

static int write_extra_headers(wsp_writer *w, const wsp_header *headers,
                               size_t count)
{
    if (count && !headers) return WSP_ERR_INVALID_ARG;
    for (size_t i = 0; i < count; i++) {
        const wsp_header *hd = &headers[i];
        if (!hd->name || (!hd->value && hd->value_len)) return WSP_ERR_INVALID_ARG;
        int rc = write_header(w, hd->name, hd->name_len, hd->value ? hd->value : "",
                              hd->value_len);
        if (rc != WSP_OK) return rc;
    }
    return WSP_OK;
}

typedef struct response_ctx {
    const char *accept;
    const wsp_accept_options *opts;
    const wsp_deflate_params *deflate; /* NULL: not answered */
} response_ctx;

int wsp_extensions_answered(const wsp_deflate_params *deflate, const char *app)
{
    return deflate || (app && app[0]);
}

int wsp_write_extensions_value(wsp_writer *w, const wsp_deflate_params *deflate,
                               const char *app)
{
    size_t app_len = app ? strlen(app) : 0;
    if (!wsp_is_safe_value(app, app_len)) return WSP_ERR_INVALID_ARG;
    if (deflate) wsp_deflate_write_params(w, deflate);
    if (deflate && app_len) wsp_write(w, ", ", 2);
    wsp_write(w, app, app_len);
    return WSP_OK;
}

/* One Sec-WebSocket-Extensions line: the library's own answer, then what
 * the application accepts itself. Written straight into the output, so its
 * length has no limit of its own. */
static int write_extensions(wsp_writer *w, const wsp_deflate_params *deflate,
                            const char *app)
{
    if (!wsp_extensions_answered(deflate, app)) return WSP_OK;
    wsp_write_str(w, "Sec-WebSocket-Extensions: ");
    int rc = wsp_write_extensions_value(w, deflate, app);
    wsp_write(w, "\r\n", 2);
    return rc;
}

static int write_response(wsp_writer *w, const void *ctx)
{
    const response_ctx *r = ctx;
    const wsp_accept_options *opts = r->opts;
    wsp_write_str(w, "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n");
    int rc = write_header(w, "Sec-WebSocket-Accept", 20, r->accept, strlen(r->accept));
    if (rc == WSP_OK && opts && opts->subprotocol) {
        size_t n = strlen(opts->subprotocol);
        rc = wsp_is_token(opts->subprotocol, n)
                 ? write_header(w, "Sec-WebSocket-Protocol", 22, opts->subprotocol, n)
                 : WSP_ERR_INVALID_ARG;
    }
    if (rc == WSP_OK) rc = write_extensions(w, r->deflate, opts ? opts->extensions : NULL);
    if (rc == WSP_OK && opts)
        rc = write_extra_headers(w, opts->headers, opts->header_count);
    wsp_write(w, "\r\n", 2);
    return rc;
}

int wsp_upgrade_build_response(const char *accept,
                               const wsp_accept_options *opts, uint8_t *out,
                               size_t out_cap, size_t *out_len)
{
    if (out_len) *out_len = 0;
    if (!accept) return WSP_ERR_INVALID_ARG;
    response_ctx ctx = {accept, opts, NULL};
    return wsp_build(write_response, &ctx, out, out_cap, out_len);
}

void wsp_handshake_init(wsp_handshake *hs, const wsp_config *cfg)
{
    memset(hs, 0, sizeof *hs);
    hs->origin_policy = cfg->origin_policy;
    hs->deflate_cfg = cfg->deflate;
    hs->max_header_bytes = cfg->max_header_bytes ? cfg->max_header_bytes
                                                 : WSP_DEFAULT_MAX_HEADER_BYTES;
    hs->max_headers = cfg->max_headers ? cfg->max_headers : WSP_DEFAULT_MAX_HEADERS;
}

int wsp_handshake_take_request(wsp_handshake *hs, const wsp_request *req,
                               wsp_upgrade_info *info)
{
    int valid = wsp_upgrade_validate(req, hs->origin_policy, info);
    hs->request_valid = valid == WSP_OK;
    hs->deflate_agreed = 0;
    /* 400 when a valid request is turned down: nothing was wrong with it
     * that a more specific status would name. */
    hs->reject_status = (uint16_t)(valid == WSP_OK ? 400 : wsp_status_http_code(valid));
    if (valid != WSP_OK) return valid;
    memcpy(hs->accept, info->accept, sizeof hs->accept);
    wsp_deflate_params agreed;
    if (hs->deflate_cfg && wsp_deflate_choose(&req->headers, hs->deflate_cfg, &agreed)) {
        /* Every field is a flag or a window size of 8..15. */
        hs->agreed[0] = (uint8_t)agreed.server_no_context_takeover;
        hs->agreed[1] = (uint8_t)agreed.client_no_context_takeover;
        hs->agreed[2] = (uint8_t)agreed.server_max_window_bits;
        hs->agreed[3] = (uint8_t)agreed.client_max_window_bits;
        hs->deflate_agreed = 1;
    }
    return WSP_OK;
}

int wsp_handshake_read_request(wsp_handshake *hs, const uint8_t *data, size_t len,
                               size_t *consumed, wsp_request_event *ev)
{
    int rc = wsp_http_resume_request((const char *)data, len, hs->max_header_bytes,
                                     hs->max_headers, &hs->head, &ev->request, consumed);
    if (rc != WSP_OK) return rc;
    ev->status = wsp_handshake_take_request(hs, &ev->request, &ev->upgrade);
    ev->http_status = ev->status == WSP_OK ? 101 : wsp_status_http_code(ev->status);
    return WSP_OK;
}

void wsp_handshake_agreed(const wsp_handshake *hs, wsp_deflate_params *out)
{
    out->server_no_context_takeover = hs->agreed[0];
    out->client_no_context_takeover = hs->agreed[1];
    out->server_max_window_bits = hs->agreed[2];
    out->client_max_window_bits = hs->agreed[3];
}

int wsp_handshake_uses_deflate(const wsp_handshake *hs, const wsp_accept_options *opts)
{
    return hs->deflate_agreed && !(opts && opts->no_deflate);
}

int wsp_handshake_write_response(const wsp_handshake *hs, const wsp_accept_options *opts,
                                 uint8_t *out, size_t out_cap, size_t *out_len)
{
    wsp_deflate_params agreed;
    wsp_handshake_agreed(hs, &agreed);
    response_ctx ctx = {hs->accept, opts,
                        wsp_handshake_uses_deflate(hs, opts) ? &agreed : NULL};
    return wsp_build(write_response, &ctx, out, out_cap, out_len);
}

typedef struct request_ctx {
    const wsp_client_options *opts;
    const wsp_deflate_config *deflate; /* NULL: no offer of our own */
    const char *key;
} request_ctx;

static int write_request(wsp_writer *w, const void *ctx)
{
    const request_ctx *r = ctx;
    const wsp_client_options *opts = r->opts;
    const char *target = opts->target && opts->target[0] ? opts->target : "/";
    size_t target_len = strlen(target);
    for (size_t i = 0; i < target_len; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c <= 0x20 || c >= 0x7F) return WSP_ERR_INVALID_ARG;
    }
    if (!opts->host[0]) return WSP_ERR_INVALID_ARG;
    wsp_write_str(w, "GET ");
    wsp_write(w, target, target_len);
    wsp_write_str(w, " HTTP/1.1\r\n");
    int rc = write_header(w, "Host", 4, opts->host, strlen(opts->host));
    wsp_write_str(w, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
    wsp_write_str(w, r->key);
    wsp_write_str(w, "\r\nSec-WebSocket-Version: 13\r\n");
    if (rc == WSP_OK && opts->origin)
        rc = write_header(w, "Origin", 6, opts->origin, strlen(opts->origin));
    if (rc == WSP_OK && opts->subprotocol_count) {
        if (!opts->subprotocols) return WSP_ERR_INVALID_ARG;
        wsp_write_str(w, "Sec-WebSocket-Protocol: ");
        for (size_t i = 0; i < opts->subprotocol_count; i++) {
            const char *p = opts->subprotocols[i];
            if (!p || !wsp_is_token(p, strlen(p))) return WSP_ERR_INVALID_ARG;
            if (i) wsp_write(w, ", ", 2);
            wsp_write_str(w, p);
        }
        wsp_write(w, "\r\n", 2);
    }
    if (rc == WSP_OK) {
        const char *app = opts->extensions;
        size_t app_len = app ? strlen(app) : 0;
        if (!wsp_is_safe_value(app, app_len)) return WSP_ERR_INVALID_ARG;
        if (r->deflate || app_len) {
            wsp_write_str(w, "Sec-WebSocket-Extensions: ");
            if (r->deflate) wsp_deflate_write_offer(w, r->deflate);
            if (r->deflate && app_len) wsp_write(w, ", ", 2);
            wsp_write(w, app, app_len);
            wsp_write(w, "\r\n", 2);
        }
    }
    if (rc == WSP_OK) rc = write_extra_headers(w, opts->headers, opts->header_count);
    wsp_write(w, "\r\n", 2);
    return rc;
}

/* Length of an extension element's name: up to ';' or whitespace. */
static size_t extension_name_len(const char *item, size_t len)
{
    size_t n = 0;
    while (n < len && item[n] != ';' && item[n] != ' ' && item[n] != '\t') n++;
    return n;
}

/* Appends item to the comma list list[0..*len) of cap bytes; 0 when it
 * does not fit. */
static int list_append(char *list, size_t cap, size_t *len, const char *item, size_t n)
{
    size_t sep = *len ? 1 : 0;
    if (n > cap - *len || sep > cap - *len - n) return 0;
    if (sep) list[(*len)++] = ',';
    memcpy(list + *len, item, n);
    *len += n;
    return 1;
}

/* Copies what the response is checked against: the subprotocols, then, as
 * a second list, the names of the offered extensions (the library's own
 * included). */
static int keep_offer(wsp_handshake *hs, const wsp_client_options *opts)
{
    size_t sub_len = 0;
    for (size_t i = 0; i < opts->subprotocol_count; i++) {
        const char *p = opts->subprotocols[i];
        if (!list_append(hs->offer, sizeof hs->offer, &sub_len, p, strlen(p)))
            return WSP_ERR_LIMIT;
    }
    char *ext = hs->offer + sub_len;
    size_t cap = sizeof hs->offer - sub_len, ext_len = 0;
    if (hs->deflate_cfg &&
        !list_append(ext, cap, &ext_len, wsp_deflate_name, strlen(wsp_deflate_name)))
        return WSP_ERR_LIMIT;
    size_t pos = 0, n;
    const char *item;
    const char *app = opts->extensions;
    while (app && wsp_list_next(app, strlen(app), &pos, &item, &n) == WSP_OK) {
        if (!list_append(ext, cap, &ext_len, item, extension_name_len(item, n)))
            return WSP_ERR_LIMIT;
    }
    hs->offer_sub_len = (uint8_t)sub_len;
    hs->offer_ext_len = (uint8_t)ext_len;
    return WSP_OK;
}

int wsp_handshake_write_request(wsp_handshake *hs, const wsp_client_options *opts,
                                const uint8_t nonce[16], uint8_t *out, size_t out_cap,
                                size_t *out_len)
{
    char key[WSP_BASE64_LEN(16) + 1];
    wsp_base64_encode(nonce, 16, key);
    key[sizeof key - 1] = '\0';
    request_ctx ctx = {opts, hs->deflate_cfg, key};
    /* Measured first: a request that cannot be written changes nothing. */
    size_t need = 0;
    int rc = wsp_build(write_request, &ctx, NULL, 0, &need);
    if (rc != WSP_OK) return rc;
    wsp_handshake saved = *hs;
    rc = keep_offer(hs, opts);
    if (rc == WSP_OK) rc = wsp_build(write_request, &ctx, out, out_cap, out_len);
    if (rc != WSP_OK) {
        *hs = saved;
        return rc;
    }
    wsp_accept_key(key, sizeof key - 1, hs->accept);
    return WSP_OK;
}

/* Is `name` an element of the comma list offer[0..len)? Subprotocols
 * compare exactly (RFC 6455 4.1: "one of the values"), extension names
 * case-insensitively (they are tokens, RFC 9110 5.6.2). */
static int offered(const char *offer, size_t len, const char *name, size_t name_len,
                   int exact)
{
    size_t pos = 0, n;
    const char *item;
    while (wsp_list_next(offer, len, &pos, &item, &n) == WSP_OK) {
        if (exact ? n == name_len && memcmp(item, name, n) == 0
                  : wsp_ascii_ieq_n(item, n, name, name_len))
            return 1;
    }
    return 0;
}

static int check_response(const wsp_handshake *hs, const wsp_response *resp,
                          wsp_response_event *ev)
{
    const wsp_headers *h = &resp->headers;
    if (resp->status != 101) return WSP_ERR_HTTP_STATUS;
    /* An HTTP/1.0 server cannot have switched protocols. */
    if (!wsp_http_version_ok(resp->version_major, resp->version_minor))
        return WSP_ERR_HTTP_VERSION;
    if (!any_header_has_token(h, "upgrade", "websocket")) return WSP_ERR_HTTP_UPGRADE;
    if (!any_header_has_token(h, "connection", "upgrade")) return WSP_ERR_HTTP_CONNECTION;
    const char *value = NULL;
    size_t len = 0;
    if (header_count(h, "sec-websocket-accept", &value, &len) != 1 ||
        len != WSP_ACCEPT_LEN || memcmp(value, hs->accept, WSP_ACCEPT_LEN) != 0)
        return WSP_ERR_HTTP_ACCEPT;

    /* RFC 6455 4.1, step 6 of the client's checks: one subprotocol, one the
     * client offered. */
    size_t n = header_count(h, "sec-websocket-protocol", &value, &len);
    if (n > 1) return WSP_ERR_HTTP_SUBPROTOCOL;
    if (n == 1) {
        if (!offered(hs->offer, hs->offer_sub_len, value, len, 1))
            return WSP_ERR_HTTP_SUBPROTOCOL;
        ev->subprotocol = value, ev->subprotocol_len = len;
    }

    /* Step 5: every extension in use must have been offered. */
    size_t pos = 0, list_pos = 0;
    const char *item;
    size_t item_len;
    while (wsp_upgrade_next_extension(h, &pos, &list_pos, &item, &item_len) == WSP_OK) {
        if (!offered(hs->offer + hs->offer_sub_len, hs->offer_ext_len, item,
                     extension_name_len(item, item_len), 0))
            return WSP_ERR_HTTP_EXTENSION;
    }
    if (header_count(h, "sec-websocket-extensions", &value, &len) >= 1)
        ev->extensions = value, ev->extensions_len = len;
    return WSP_OK;
}

int wsp_handshake_read_response(wsp_handshake *hs, const uint8_t *data, size_t len,
                                size_t *consumed, wsp_response_event *ev,
                                wsp_deflate_params *agreed, int *deflate_found)
{
    *deflate_found = 0;
    int rc = wsp_http_resume_response((const char *)data, len, hs->max_header_bytes,
                                      hs->max_headers, &hs->head, &ev->response, consumed);
    if (rc != WSP_OK) return rc;
    ev->subprotocol = NULL, ev->subprotocol_len = 0;
    ev->extensions = NULL, ev->extensions_len = 0;
    ev->http_status = ev->response.status;
    ev->status = check_response(hs, &ev->response, ev);
    if (ev->status == WSP_OK && hs->deflate_cfg)
        ev->status = wsp_deflate_check_response(&ev->response.headers, hs->deflate_cfg,
                                                agreed, deflate_found);
    return WSP_OK;
}

/* Layer 2 for clients that keep no wsp_conn: the same request builder and
 * response check the connection uses, on a handshake state that lives for
 * the call. */
int wsp_upgrade_build_request(const wsp_client_options *opts, const uint8_t nonce[16],
                              uint8_t *out, size_t out_cap, size_t *out_len)
{
    if (out_len) *out_len = 0;
    if (!opts || !opts->host || !nonce || !out_len) return WSP_ERR_INVALID_ARG;
    if (!out && out_cap) return WSP_ERR_INVALID_ARG;
    wsp_handshake hs;
    memset(&hs, 0, sizeof hs);
    return wsp_handshake_write_request(&hs, opts, nonce, out, out_cap, out_len);
}

int wsp_upgrade_check_response(const wsp_response *resp, const wsp_client_options *opts,
                               const uint8_t nonce[16], wsp_response_event *result)
{
    if (!resp || !opts || !nonce || !result) return WSP_ERR_INVALID_ARG;
    wsp_handshake hs;
    memset(&hs, 0, sizeof hs);
    int rc = keep_offer(&hs, opts);
    if (rc != WSP_OK) return rc;
    char key[WSP_BASE64_LEN(16) + 1];
    wsp_base64_encode(nonce, 16, key);
    key[sizeof key - 1] = '\0';
    wsp_accept_key(key, sizeof key - 1, hs.accept);
    memset(result, 0, sizeof *result);
    result->response = *resp;
    result->http_status = resp->status;
    result->status = check_response(&hs, resp, result);
    return result->status;
}
