#include "plain_http.h"

#include "echo_page.h"

#include <stdio.h>
#include <string.h>

static int starts_with_path(const char *target, size_t len, const char *p)
{
    size_t n = strlen(p);
    if (len < n || memcmp(target, p, n) != 0) return 0;
    return len == n || target[n] == '?';
}

size_t plain_http_page_len(void)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof echo_page_parts / sizeof echo_page_parts[0]; i++)
        n += strlen(echo_page_parts[i]);
    return n;
}

int plain_http_reply(const wsp_request *req, plain_reply *r)
{
    memset(r, 0, sizeof *r);
    int is_get = req->method_len == 3 && memcmp(req->method, "GET", 3) == 0;
    int is_head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    if (!is_get && !is_head) {
        r->status = 405;
    } else if (starts_with_path(req->target, req->target_len, "/") ||
               starts_with_path(req->target, req->target_len, "/index.html")) {
        r->status = 200;
    } else {
        r->status = 404;
    }
    if (r->status != 200)
        return wsp_http_build_error(r->status, (uint8_t *)r->head,
                                    sizeof r->head, &r->head_len) == WSP_OK
                   ? 0 : -1;
    r->page_len = plain_http_page_len();
    r->send_page = is_get;
    int n = snprintf(r->head, sizeof r->head,
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Type: text/html; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n"
                     "Connection: close\r\n\r\n",
                     r->page_len);
    if (n < 0 || (size_t)n >= sizeof r->head) return -1;
    r->head_len = (size_t)n;
    return 0;
}

void plain_http_page(char *out)
{
    for (size_t i = 0; i < sizeof echo_page_parts / sizeof echo_page_parts[0]; i++) {
        size_t n = strlen(echo_page_parts[i]);
        memcpy(out, echo_page_parts[i], n);
        out += n;
    }
}

int plain_http_has_header(const wsp_headers *h, const char *name)
{
    const char *v;
    size_t vl;
    return wsp_headers_get(h, name, &v, &vl) == WSP_OK;
}

void copy_printable(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[n++] = (ch > 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    dst[n] = '\0';
}
