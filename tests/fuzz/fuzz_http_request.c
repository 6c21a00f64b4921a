/* The server side of the opening handshake.
 *
 * 1. wsp_http_parse_request + wsp_upgrade_validate on the raw bytes, with
 *    the results checked for shape, and the validation repeated on the
 *    same headers given as a pre-parsed array: both forms must agree. The
 *    resumable parser, fed the bytes in pieces, answers every prefix as a
 *    from-scratch parse does.
 * 2. A server wsp_conn fed the same bytes whole and in chunks: the same
 *    verdict as step 1, the same event log both ways, and an answer
 *    (101 or error) that parses back.
 *
 * Input layout:
 *   [0] flags: bit0 origin policy on, bit1 allow "null", bit2 allow
 *       missing Origin, bit3 echo the first subprotocol, bit4 reject even
 *       valid requests
 *   [1] max_header_bytes / 32 (0: default)  [2] max_headers (0: default)
 *   [3..6] chunk sizes
 *   [7..] the bytes a client sent */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ARRAY 256

static const char *const allowed_origins[] = {"https://example.com",
                                              "http://localhost:8080"};

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static int within(const char *p, size_t n, const char *base, size_t len)
{
    if (n == 0)
        return 1;
    return p != NULL && p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static int same_str(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void check_parsed(const char *buf, size_t len, size_t consumed,
                         size_t max_bytes, size_t max_headers,
                         const wsp_request *req)
{
    wsp_header arr[MAX_ARRAY];
    wsp_request areq;
    wsp_upgrade_info i1, i2;
    wsp_header h;
    size_t pos = 0, count = 0, k;
    int rc1, rc2;
    wsp_origin_policy none;
    const char *item;
    size_t ilen, lpos;

    FUZZ_CHECK(consumed > 0 && consumed <= len && consumed <= max_bytes);
    FUZZ_CHECK(within(req->method, req->method_len, buf, consumed));
    FUZZ_CHECK(within(req->target, req->target_len, buf, consumed));
    FUZZ_CHECK(req->method_len > 0 && req->target_len > 0);
    for (k = 0; k < req->method_len; k++)
        FUZZ_CHECKF(is_tchar((unsigned char)req->method[k]),
                    "method holds byte 0x%02x", (unsigned char)req->method[k]);
    for (k = 0; k < req->target_len; k++) {
        unsigned char c = (unsigned char)req->target[k];
        FUZZ_CHECKF(c > 0x20 && c != 0x7F, "target holds byte 0x%02x", c);
    }
    /* any DIGIT.DIGIT is syntax (RFC 9112 2.3); validation judges it */
    FUZZ_CHECK(req->version_major >= 0 && req->version_major <= 9);
    FUZZ_CHECK(req->version_minor >= 0 && req->version_minor <= 9);
    FUZZ_CHECK(req->headers.array == NULL);
    FUZZ_CHECK(within(req->headers.raw, req->headers.raw_len, buf, consumed));

    while (wsp_headers_next(&req->headers, &pos, &h) == WSP_OK) {
        FUZZ_CHECK(within(h.name, h.name_len, buf, consumed));
        FUZZ_CHECK(within(h.value, h.value_len, buf, consumed));
        FUZZ_CHECK(h.name_len > 0);
        /* RFC 9112 5.1: a field name is a token; whitespace before the
         * colon must be rejected */
        for (k = 0; k < h.name_len; k++)
            FUZZ_CHECKF(is_tchar((unsigned char)h.name[k]),
                        "header name holds byte 0x%02x",
                        (unsigned char)h.name[k]);
        for (k = 0; k < h.value_len; k++) {
            unsigned char c = (unsigned char)h.value[k];
            FUZZ_CHECKF(c != '\r' && c != '\n' && c != 0,
                        "header value holds byte 0x%02x", c);
        }
        if (h.value_len > 0) {
            FUZZ_CHECK(h.value[0] != ' ' && h.value[0] != '\t');
            FUZZ_CHECK(h.value[h.value_len - 1] != ' ' &&
                       h.value[h.value_len - 1] != '\t');
        }
        if (count < MAX_ARRAY)
            arr[count] = h;
        count++;
        FUZZ_CHECK(count <= max_headers);
    }

    memset(&none, 0, sizeof none);
    memset(&i1, 0, sizeof i1);
    memset(&i2, 0, sizeof i2);
    rc1 = wsp_upgrade_validate(req, &none, &i1);
    if (rc1 != WSP_OK) {
        int http = wsp_status_http_code(rc1);
        FUZZ_CHECKF(rc1 <= -100 && rc1 >= -199, "validate gave %d", rc1);
        FUZZ_CHECKF(http == 400 || http == 403 || http == 405 || http == 426 ||
                        http == 431,
                    "status %d maps to HTTP %d", rc1, http);
    } else {
        char acc[WSP_ACCEPT_LEN + 1];
        FUZZ_CHECKF(req->version_major > 1 ||
                        (req->version_major == 1 && req->version_minor >= 1),
                    "HTTP/%d.%d accepted as an upgrade", req->version_major,
                    req->version_minor);
        FUZZ_CHECK(within(i1.host, i1.host_len, buf, consumed));
        FUZZ_CHECK(within(i1.key, i1.key_len, buf, consumed));
        FUZZ_CHECK(i1.origin == NULL ||
                   within(i1.origin, i1.origin_len, buf, consumed));
        FUZZ_CHECK(i1.key_len == 24);
        FUZZ_CHECK(wsp_accept_key(i1.key, i1.key_len, acc) == WSP_OK);
        FUZZ_CHECK(memcmp(acc, i1.accept, sizeof acc) == 0);
        lpos = 0;
        pos = 0;
        k = 0;
        while (wsp_upgrade_next_subprotocol(&i1.headers, &pos, &lpos, &item,
                                            &ilen) == WSP_OK) {
            FUZZ_CHECK(within(item, ilen, buf, consumed) && ilen > 0);
            FUZZ_CHECK(++k <= consumed);
        }
        lpos = 0;
        pos = 0;
        k = 0;
        while (wsp_upgrade_next_extension(&i1.headers, &pos, &lpos, &item,
                                          &ilen) == WSP_OK) {
            FUZZ_CHECK(within(item, ilen, buf, consumed) && ilen > 0);
            FUZZ_CHECK(++k <= consumed);
        }
    }

    /* the same request as an application with its own parser gives it */
    if (count <= MAX_ARRAY) {
        areq = *req;
        areq.headers.array = count ? arr : NULL;
        areq.headers.count = count;
        areq.headers.raw = NULL;
        areq.headers.raw_len = 0;
        if (count == 0) {
            /* an empty array is spelled with a non-NULL pointer */
            areq.headers.array = arr;
        }
        rc2 = wsp_upgrade_validate(&areq, &none, &i2);
        FUZZ_CHECKF(rc1 == rc2, "raw headers give %d, the same as an array %d",
                    rc1, rc2);
        if (rc1 == WSP_OK) {
            FUZZ_CHECK(same_str(i1.host, i1.host_len, i2.host, i2.host_len));
            FUZZ_CHECK(same_str(i1.key, i1.key_len, i2.key, i2.key_len));
            FUZZ_CHECK((i1.origin == NULL) == (i2.origin == NULL));
            if (i1.origin != NULL)
                FUZZ_CHECK(same_str(i1.origin, i1.origin_len, i2.origin,
                                    i2.origin_len));
            FUZZ_CHECK(memcmp(i1.accept, i2.accept, sizeof i1.accept) == 0);
        }
    }
}

static void run_conn(const wsp_config *cfg, uint8_t flags, const uint8_t *body,
                     size_t n, fuzz_chunker *ch, fuzz_peer *p)
{
    fuzz_peer_init(p, cfg, 0, 1);
    p->echo_subprotocol = (flags >> 3) & 1;
    p->reject_valid = (flags >> 4) & 1;
    fuzz_peer_feed(p, body, n, ch);
    fuzz_peer_finish(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size, 0};
    uint8_t flags = fuzz_u8(&in);
    size_t max_bytes = (size_t)fuzz_u8(&in) * 32u;
    size_t max_headers = fuzz_u8(&in);
    size_t eff_bytes = max_bytes ? max_bytes : WSP_DEFAULT_MAX_HEADER_BYTES;
    size_t eff_headers = max_headers ? max_headers : WSP_DEFAULT_MAX_HEADERS;
    fuzz_chunker whole, chunked;
    const uint8_t *body;
    char *copy;
    size_t n, consumed = 0;
    wsp_request req;
    wsp_origin_policy policy;
    wsp_config cfg;
    fuzz_peer a, b;
    int rc;

    fuzz_chunker_read(&chunked, &in);
    fuzz_chunker_whole(&whole);
    body = fuzz_take(&in, SIZE_MAX, &n);
    copy = malloc(n ? n : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, body, n);

    rc = wsp_http_parse_request(copy, n, max_bytes, max_headers, &req,
                                &consumed);
    fuzz_check_resumed_head(copy, n, max_bytes, max_headers, 1, chunked);
    if (n <= 1024) {
        /* every prefix, each compared with a from-scratch parse: quadratic,
         * so short inputs only */
        fuzz_chunker one_by_one;
        fuzz_chunker_single(&one_by_one);
        fuzz_check_resumed_head(copy, n, max_bytes, max_headers, 1, one_by_one);
    }
    if (rc == WSP_OK) {
        wsp_request r2;
        size_t c2 = 0;
        check_parsed(copy, n, consumed, eff_bytes, eff_headers, &req);
        /* the head ends where it says: one byte less is not a head, and
         * the head alone parses the same */
        FUZZ_CHECK(wsp_http_parse_request(copy, consumed - 1, max_bytes,
                                          max_headers, &r2, &c2) != WSP_OK);
        FUZZ_CHECK(wsp_http_parse_request(copy, consumed, max_bytes,
                                          max_headers, &r2, &c2) == WSP_OK &&
                   c2 == consumed);
    } else if (rc == WSP_ERR_NEED_MORE) {
        FUZZ_CHECKF(n <= eff_bytes,
                    "%zu bytes without a complete head, limit %zu: not "
                    "TOO_LARGE",
                    n, eff_bytes);
    } else {
        FUZZ_CHECKF(rc == WSP_ERR_HTTP_MALFORMED ||
                        rc == WSP_ERR_HTTP_TOO_LARGE,
                    "parse_request gave %d", rc);
    }

    memset(&policy, 0, sizeof policy);
    policy.enabled = flags & 1;
    policy.origins = allowed_origins;
    policy.count = 2;
    policy.allow_null = (flags >> 1) & 1;
    policy.allow_missing = (flags >> 2) & 1;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_SERVER;
    cfg.max_header_bytes = (uint32_t)max_bytes;
    cfg.max_headers = (uint32_t)max_headers;
    cfg.origin_policy = (flags & 1) ? &policy : NULL;

    run_conn(&cfg, flags, (const uint8_t *)copy, n, &whole, &a);
    run_conn(&cfg, flags, (const uint8_t *)copy, n, &chunked, &b);
    fuzz_log_same(&a.events, &b.events, "event logs (whole vs chunked)");
    fuzz_log_same(&a.out, &b.out, "queued output (whole vs chunked)");
    if (rc == WSP_OK && !(flags & 1)) {
        /* the connection reaches the verdict the helpers reached */
        wsp_upgrade_info info;
        int want = wsp_upgrade_validate(&req, NULL, &info);
        FUZZ_CHECKF(a.request_status == want,
                    "connection says %d, wsp_upgrade_validate %d",
                    a.request_status, want);
    }
    fuzz_peer_free(&a);
    fuzz_peer_free(&b);
    free(copy);
    return 0;
}
