/* HTTP/1.1 head parsing (RFC 9112) for the upgrade handshake: request and
 * response lines, header fields, comma lists. Parses in place: every result
 * points into the caller's bytes. */
#include "internal.h"

#include <string.h>

/* RFC 9110 5.6.2 tchar: ALPHA / DIGIT / "!#$%&'*+-.^_`|~", one bit per
 * byte value, since it is asked once per header-name byte. */
static const uint32_t tchar_bits[8] = {
    0x00000000u, 0x03ff6cfau, 0xc7fffffeu, 0x57ffffffu,
    0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u};

int wsp_is_tchar(unsigned char c)
{
    return (int)((tchar_bits[c >> 5] >> (c & 31u)) & 1u);
}

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

int wsp_ascii_ieq_n(const char *a, size_t a_len, const char *b, size_t b_len)
{
    if (a_len != b_len) return 0;
    for (size_t i = 0; i < a_len; i++) {
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return 0;
    }
    return 1;
}

int wsp_ascii_ieq(const char *a, size_t a_len, const char *lit)
{
    return wsp_ascii_ieq_n(a, a_len, lit, strlen(lit));
}

/* RFC 6455 4.1 / 4.2.1 and RFC 9110 7.8: Upgrade (and so 101) exists from
 * HTTP/1.1 on, in requests and responses alike. */
int wsp_http_version_ok(int major, int minor)
{
    return major > 1 || (major == 1 && minor >= 1);
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

void wsp_trim_ows(const char **s, size_t *len)
{
    while (*len && is_ows(**s)) (*s)++, (*len)--;
    while (*len && is_ows((*s)[*len - 1])) (*len)--;
}

int wsp_list_next(const char *list, size_t list_len, size_t *pos,
                  const char **item, size_t *item_len)
{
    if (!pos || !item || !item_len || (!list && list_len))
        return WSP_ERR_INVALID_ARG;
    while (*pos < list_len) {
        size_t start = *pos, i = start;
        int quoted = 0;
        /* Commas inside quoted strings (extension parameters) do not split. */
        for (; i < list_len; i++) {
            char c = list[i];
            if (quoted && c == '\\' && i + 1 < list_len) {
                i++;
            } else if (c == '"') {
                quoted = !quoted;
            } else if (c == ',' && !quoted) {
                break;
            }
        }
        *pos = i < list_len ? i + 1 : i;
        const char *s = list + start;
        size_t n = i - start;
        wsp_trim_ows(&s, &n);
        if (n) {
            *item = s;
            *item_len = n;
            return WSP_OK;
        }
    }
    return WSP_ERR_NOT_FOUND;
}

int wsp_list_has_token(const char *list, size_t len, const char *lower_token)
{
    size_t pos = 0, n;
    const char *item;
    while (wsp_list_next(list, len, &pos, &item, &n) == WSP_OK) {
        if (wsp_ascii_ieq(item, n, lower_token)) return 1;
    }
    return 0;
}

/* One line of the head: [start, end) without the line terminator. */
typedef struct line {
    const char *start;
    size_t len;
} line;

/* The line [from, lf) of buf, its CR (if any) before the LF dropped. A bare
 * CR elsewhere in the line (or a NUL) is left for the line's own checks,
 * which reject it. */
static line line_at(const char *buf, size_t from, size_t lf)
{
    size_t end = lf;
    if (end > from && buf[end - 1] == '\r') end--;
    line l = {buf + from, end - from};
    return l;
}

static int parse_version(const char *s, size_t n, int *major, int *minor)
{
    if (n != 8 || memcmp(s, "HTTP/", 5) != 0) return WSP_ERR_HTTP_MALFORMED;
    if (s[5] < '0' || s[5] > '9' || s[6] != '.' || s[7] < '0' || s[7] > '9')
        return WSP_ERR_HTTP_MALFORMED;
    *major = s[5] - '0';
    *minor = s[7] - '0';
    return WSP_OK;
}

/* A header line: field-name ":" OWS field-value OWS (RFC 9112 5). */
static int check_header_line(const line *l)
{
    size_t i = 0;
    /* RFC 9112 5.2: obsolete line folding is rejected, not unfolded. */
    while (i < l->len && wsp_is_tchar((unsigned char)l->start[i])) i++;
    if (i == 0 || i >= l->len || l->start[i] != ':') return WSP_ERR_HTTP_MALFORMED;
    for (i++; i < l->len; i++) {
        unsigned char c = (unsigned char)l->start[i];
        if ((c < 0x20 && c != '\t') || c == 0x7F) return WSP_ERR_HTTP_MALFORMED;
    }
    return WSP_OK;
}

typedef int (*start_line_fn)(const line *l, void *out);

/* wsp_http_progress widened for arithmetic; the stored form is 32-bit so
 * that it fits the connection's handshake state. */
typedef struct head_scan {
    size_t line_start, searched, start_line, headers, examined;
    uint8_t phase, prefix, literal;
} head_scan;

static head_scan scan_load(const wsp_http_progress *p)
{
    head_scan s = {p->line_start, p->searched, p->start_line, p->headers,
                   p->examined, p->phase, p->prefix, p->literal};
    return s;
}

/* Offsets are below max_bytes, which the callers keep within 32 bits. */
static void scan_store(wsp_http_progress *p, const head_scan *s)
{
    p->line_start = (uint32_t)s->line_start;
    p->searched = (uint32_t)s->searched;
    p->start_line = (uint32_t)s->start_line;
    p->headers = (uint32_t)s->headers;
    p->examined = (uint32_t)s->examined;
    p->phase = s->phase;
    p->prefix = s->prefix;
    p->literal = s->literal;
}

/* Rejects garbage (a TLS hello, a stray frame) as it arrives rather than
 * after max_bytes of it: past the CRs that may precede it, a start line
 * begins with a method token followed by SP, or with "HTTP/". Takes the
 * incomplete start line's bytes [from, to) in order, so that each byte is
 * looked at once however the line is split. */
static int check_start_prefix(const char *buf, size_t from, size_t to,
                              int is_request, head_scan *p)
{
    for (size_t i = from; i < to && p->prefix != WSP_PREFIX_FITS; i++) {
        char c = buf[i];
        if (p->prefix == WSP_PREFIX_CRS) {
            if (c == '\r') continue;
            p->prefix = WSP_PREFIX_NAME;
        }
        if (is_request) {
            if (wsp_is_tchar((unsigned char)c)) continue;
            if (c != ' ' && c != '\r') return WSP_ERR_HTTP_MALFORMED;
            p->prefix = WSP_PREFIX_FITS;
        } else {
            if (c != "HTTP/"[p->literal]) return WSP_ERR_HTTP_MALFORMED;
            if (++p->literal == 5) p->prefix = WSP_PREFIX_FITS;
        }
    }
    return WSP_OK;
}

/* The phase before the start line (RFC 9112 2.2: empty lines before it are
 * ignored) up to the start line's end. WSP_ERR_NEED_MORE: its LF has not
 * come yet (the progress then says how far the search got). */
static int scan_start_line(const char *buf, size_t scan, int is_request,
                           start_line_fn parse_start, void *msg, head_scan *p)
{
    while (p->phase == WSP_HEAD_START_LINE) {
        size_t from = p->searched;
        const char *nl = memchr(buf + from, '\n', scan - from);
        p->examined += (nl ? (size_t)(nl - buf) + 1 : scan) - from;
        if (!nl) {
            int rc = check_start_prefix(buf, from, scan, is_request, p);
            if (rc != WSP_OK) return rc;
            p->searched = scan;
            return WSP_ERR_NEED_MORE;
        }
        size_t lf = (size_t)(nl - buf);
        line l = line_at(buf, p->line_start, lf);
        p->examined += l.len;
        if (l.len) {
            /* Checked now so that a bad start line fails at once; parsed
             * again once the head is complete, as buf may have moved by
             * then. */
            int rc = parse_start(&l, msg);
            if (rc != WSP_OK) return rc;
            p->start_line = p->line_start;
            p->phase = WSP_HEAD_FIELDS;
        }
        p->line_start = p->searched = lf + 1;
        p->prefix = WSP_PREFIX_CRS;
        p->literal = 0;
    }
    return WSP_OK;
}

/* Header lines up to the empty one, each checked once; *head_len is the
 * head's length when it is complete. WSP_ERR_NEED_MORE: no empty line
 * yet. */
static int scan_fields(const char *buf, size_t scan, size_t max_headers, head_scan *p,
                       size_t *head_len)
{
    /* The count may have been reached with a larger max_headers before. */
    if (p->headers > max_headers) return WSP_ERR_HTTP_TOO_LARGE;
    for (;;) {
        size_t from = p->searched;
        const char *nl = memchr(buf + from, '\n', scan - from);
        p->examined += (nl ? (size_t)(nl - buf) + 1 : scan) - from;
        if (!nl) {
            p->searched = scan;
            return WSP_ERR_NEED_MORE;
        }
        size_t lf = (size_t)(nl - buf);
        line l = line_at(buf, p->line_start, lf);
        if (l.len == 0) {
            *head_len = lf + 1;
            return WSP_OK;
        }
        if (++p->headers > max_headers) return WSP_ERR_HTTP_TOO_LARGE;
        p->examined += l.len;
        int rc = check_header_line(&l);
        if (rc != WSP_OK) return rc;
        p->line_start = p->searched = lf + 1;
    }
}

/* A complete head: where the start line and the header lines end is found
 * again rather than kept, so that the progress fits the connection's
 * handshake state (this costs the start line once); then the start line
 * is parsed into msg for the buffer as it is now. */
static int finish_head(const char *buf, size_t scan, start_line_fn parse_start,
                       void *msg, wsp_headers *headers, head_scan *p)
{
    const char *start_lf = memchr(buf + p->start_line, '\n', scan - p->start_line);
    if (!start_lf) return WSP_ERR_HTTP_MALFORMED; /* not reached: it was found */
    size_t headers_start = (size_t)(start_lf - buf) + 1, headers_end = headers_start;
    if (p->line_start > headers_start) {
        /* The last header line is not empty, so a CR before its LF is its
         * terminator's. */
        headers_end = p->line_start - 1;
        if (buf[headers_end - 1] == '\r') headers_end--;
    }
    line l = line_at(buf, p->start_line, headers_start - 1);
    p->examined += 2 * (l.len + 1);
    int rc = parse_start(&l, msg);
    if (rc != WSP_OK) return rc; /* not reached: it passed before */
    headers->array = NULL;
    headers->count = p->headers;
    headers->raw = buf + headers_start;
    headers->raw_len = headers_end - headers_start;
    return WSP_OK;
}

/* Shared by requests and responses: the start line, then header lines up
 * to the empty line, within the limits. Resumes where *progress stopped:
 * the LF search starts at the first byte not searched yet, and each
 * complete line is checked once, so a call costs the new bytes, not all
 * the bytes buffered. */
static int parse_head(const char *buf, size_t len, size_t max_bytes,
                      size_t max_headers, start_line_fn parse_start,
                      int is_request, void *msg, wsp_headers *headers,
                      size_t *consumed, wsp_http_progress *progress)
{
    if (!buf && len) return WSP_ERR_INVALID_ARG;
    if (!max_bytes) max_bytes = WSP_DEFAULT_MAX_HEADER_BYTES;
    if (!max_headers) max_headers = WSP_DEFAULT_MAX_HEADERS;
    size_t scan = len < max_bytes ? len : max_bytes;
    head_scan p = scan_load(progress);
    /* Fewer bytes than last time (or a tighter limit): the bytes already
     * searched are not all there, so start over rather than trust them. */
    if (p.searched > scan || p.line_start > p.searched ||
        p.start_line > p.line_start) {
        size_t examined = p.examined;
        memset(&p, 0, sizeof p);
        p.examined = examined;
    }
    if (!len) {
        scan_store(progress, &p);
        return WSP_ERR_NEED_MORE; /* buf may be NULL: no arithmetic on it */
    }
    size_t head_len = 0;
    int rc = scan_start_line(buf, scan, is_request, parse_start, msg, &p);
    if (rc == WSP_OK) rc = scan_fields(buf, scan, max_headers, &p, &head_len);
    if (rc == WSP_OK) rc = finish_head(buf, scan, parse_start, msg, headers, &p);
    if (rc == WSP_ERR_NEED_MORE) {
        if (len >= max_bytes) return WSP_ERR_HTTP_TOO_LARGE;
        scan_store(progress, &p);
        return WSP_ERR_NEED_MORE;
    }
    if (rc != WSP_OK) return rc;
    *consumed = head_len;
    memset(progress, 0, sizeof *progress);
    progress->examined = (uint32_t)p.examined;
    return WSP_OK;
}

static int parse_request_line(const line *l, void *out)
{
    wsp_request *req = out;
    const char *s = l->start, *end = l->start + l->len;
    const char *sp1 = memchr(s, ' ', l->len);
    if (!sp1) return WSP_ERR_HTTP_MALFORMED;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
    if (!sp2) return WSP_ERR_HTTP_MALFORMED;
    for (const char *p = s; p < sp1; p++)
        if (!wsp_is_tchar((unsigned char)*p)) return WSP_ERR_HTTP_MALFORMED;
    for (const char *p = sp1 + 1; p < sp2; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F)
            return WSP_ERR_HTTP_MALFORMED;
    if (sp1 == s || sp2 == sp1 + 1) return WSP_ERR_HTTP_MALFORMED;
    req->method = s;
    req->method_len = (size_t)(sp1 - s);
    req->target = sp1 + 1;
    req->target_len = (size_t)(sp2 - sp1 - 1);
    return parse_version(sp2 + 1, (size_t)(end - sp2 - 1), &req->version_major,
                         &req->version_minor);
}

static int parse_status_line(const line *l, void *out)
{
    wsp_response *resp = out;
    if (l->len < 12 || l->start[8] != ' ') return WSP_ERR_HTTP_MALFORMED;
    int rc = parse_version(l->start, 8, &resp->version_major, &resp->version_minor);
    if (rc != WSP_OK) return rc;
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        char c = l->start[i];
        if (c < '0' || c > '9') return WSP_ERR_HTTP_MALFORMED;
        status = status * 10 + (c - '0');
    }
    if (status < 100) return WSP_ERR_HTTP_MALFORMED;
    if (l->len > 12 && l->start[12] != ' ') return WSP_ERR_HTTP_MALFORMED;
    resp->status = status;
    resp->reason = l->len > 13 ? l->start + 13 : l->start + l->len;
    resp->reason_len = l->len > 13 ? l->len - 13 : 0;
    for (size_t i = 0; i < resp->reason_len; i++) {
        unsigned char c = (unsigned char)resp->reason[i];
        if ((c < 0x20 && c != '\t') || c == 0x7F) return WSP_ERR_HTTP_MALFORMED;
    }
    return WSP_OK;
}

int wsp_http_resume_request(const char *buf, size_t len, size_t max_bytes,
                            size_t max_headers, wsp_http_progress *progress,
                            wsp_request *req, size_t *consumed)
{
    if (!progress || !req || !consumed) return WSP_ERR_INVALID_ARG;
    wsp_request tmp;
    memset(&tmp, 0, sizeof tmp);
    int rc = parse_head(buf, len, max_bytes, max_headers, parse_request_line,
                        1, &tmp, &tmp.headers, consumed, progress);
    if (rc == WSP_OK) *req = tmp;
    return rc;
}

int wsp_http_resume_response(const char *buf, size_t len, size_t max_bytes,
                             size_t max_headers, wsp_http_progress *progress,
                             wsp_response *resp, size_t *consumed)
{
    if (!progress || !resp || !consumed) return WSP_ERR_INVALID_ARG;
    wsp_response tmp;
    memset(&tmp, 0, sizeof tmp);
    int rc = parse_head(buf, len, max_bytes, max_headers, parse_status_line,
                        0, &tmp, &tmp.headers, consumed, progress);
    if (rc == WSP_OK) *resp = tmp;
    return rc;
}

int wsp_http_parse_request(const char *buf, size_t len, size_t max_bytes,
                           size_t max_headers, wsp_request *req,
                           size_t *consumed)
{
    wsp_http_progress fresh;
    memset(&fresh, 0, sizeof fresh);
    return wsp_http_resume_request(buf, len, max_bytes, max_headers, &fresh,
                                   req, consumed);
}

int wsp_http_parse_response(const char *buf, size_t len, size_t max_bytes,
                            size_t max_headers, wsp_response *resp,
                            size_t *consumed)
{
    wsp_http_progress fresh;
    memset(&fresh, 0, sizeof fresh);
    return wsp_http_resume_response(buf, len, max_bytes, max_headers, &fresh,
                                    resp, consumed);
}

int wsp_headers_next(const wsp_headers *h, size_t *pos, wsp_header *out)
{
    if (!h || !pos || !out) return WSP_ERR_INVALID_ARG;
    if (h->array) {
        if (*pos >= h->count) return WSP_ERR_NOT_FOUND;
        *out = h->array[(*pos)++];
        wsp_trim_ows(&out->value, &out->value_len);
        return WSP_OK;
    }
    if (!h->raw || *pos >= h->raw_len) return WSP_ERR_NOT_FOUND;
    const char *s = h->raw + *pos;
    size_t rest = h->raw_len - *pos;
    const char *nl = memchr(s, '\n', rest);
    size_t n = nl ? (size_t)(nl - s) : rest;
    *pos += nl ? n + 1 : n;
    if (n && s[n - 1] == '\r') n--;
    const char *colon = memchr(s, ':', n);
    if (!colon) return WSP_ERR_NOT_FOUND; /* not from our parser */
    out->name = s;
    out->name_len = (size_t)(colon - s);
    out->value = colon + 1;
    out->value_len = n - out->name_len - 1;
    wsp_trim_ows(&out->value, &out->value_len);
    return WSP_OK;
}

int wsp_headers_get(const wsp_headers *h, const char *name, const char **value,
                    size_t *value_len)
{
    if (!h || !name || !value || !value_len) return WSP_ERR_INVALID_ARG;
    size_t pos = 0, name_len = strlen(name);
    wsp_header hd;
    while (wsp_headers_next(h, &pos, &hd) == WSP_OK) {
        if (wsp_ascii_ieq_n(hd.name, hd.name_len, name, name_len)) {
            *value = hd.value;
            *value_len = hd.value_len;
            return WSP_OK;
        }
    }
    return WSP_ERR_NOT_FOUND;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 500 ? "Client Error" : "Server Error";
    }
}

int wsp_build(wsp_build_fn build, const void *ctx, uint8_t *out,
              size_t out_cap, size_t *out_len)
{
    if (!out_len) return WSP_ERR_INVALID_ARG;
    *out_len = 0;
    if (!out && out_cap) return WSP_ERR_INVALID_ARG;
    wsp_writer count = {NULL, 0, 0};
    int rc = build(&count, ctx);
    if (rc != WSP_OK) return rc;
    if (count.len == SIZE_MAX) return WSP_ERR_LIMIT; /* the count saturated */
    if (!out) {
        *out_len = count.len; /* measuring */
        return WSP_OK;
    }
    if (count.len > out_cap) return WSP_ERR_BUFFER_TOO_SMALL;
    wsp_writer w = {out, out_cap, 0};
    rc = build(&w, ctx);
    if (rc == WSP_OK) *out_len = w.len;
    return rc;
}

static int write_error(wsp_writer *w, const void *ctx)
{
    int http_status = *(const int *)ctx;
    wsp_write_str(w, "HTTP/1.1 ");
    wsp_write_uint(w, (unsigned long)http_status);
    wsp_write_str(w, " ");
    wsp_write_str(w, reason_phrase(http_status));
    wsp_write_str(w, "\r\n");
    /* RFC 6455 4.2.2: tell the client which version we speak; RFC 9110
     * 15.5.22: a 426 names the protocol to upgrade to. */
    if (http_status == 426)
        wsp_write_str(w, "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n");
    /* RFC 9110 15.5.6: a 405 lists the allowed methods. */
    if (http_status == 405) wsp_write_str(w, "Allow: GET\r\n");
    wsp_write_str(w, "Connection: close\r\nContent-Length: 0\r\n\r\n");
    return WSP_OK;
}

int wsp_http_build_error(int http_status, uint8_t *out, size_t out_cap,
                         size_t *out_len)
{
    if (out_len) *out_len = 0;
    if (http_status < 400 || http_status > 599) return WSP_ERR_INVALID_ARG;
    return wsp_build(write_error, &http_status, out, out_cap, out_len);
}
