/* The client side of the opening handshake: a client connection sends its
 * request (with counter entropy, so its key is always FUZZ_COUNTER_KEY and
 * the matching accept value can sit in the corpus), then gets the input as
 * the server's answer, whole and in chunks. Whatever follows a good 101 is
 * read as server frames. wsp_http_parse_response is also checked alone,
 * and the resumable parser fed the input in pieces must answer each
 * prefix as it does.
 *
 * Input layout:
 *   [0] flags: bits0-1 subprotocols offered (0..2), bit2 offer
 *       permessage-deflate, bit3 send Origin, bit4 extra Cookie header
 *   [1] max_header_bytes / 32 (0: default)  [2] max_headers (0: default)
 *   [3..6] chunk sizes
 *   [7..] the bytes the server sent */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

static const char *const protos[] = {"chat", "superchat"};
static const wsp_header extra[] = {
    {"Cookie", 6, "session=abc; theme=dark", 23}};

static int within(const char *p, size_t n, const char *base, size_t len)
{
    if (n == 0)
        return 1;
    return p != NULL && p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static void run_conn(const wsp_config *cfg, const wsp_client_options *co,
                     const uint8_t *body, size_t n, fuzz_chunker *ch,
                     fuzz_peer *p)
{
    fuzz_buf req = {0};
    char accept[WSP_ACCEPT_LEN + 1];
    fuzz_peer_init(p, cfg, 0, 1);
    fuzz_client_request(p, co, &req, accept);
    fuzz_peer_feed(p, body, n, ch);
    fuzz_peer_finish(p);
    fuzz_buf_free(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size, 0};
    uint8_t flags = fuzz_u8(&in);
    size_t max_bytes = (size_t)fuzz_u8(&in) * 32u;
    size_t max_headers = fuzz_u8(&in);
    size_t eff_bytes = max_bytes ? max_bytes : WSP_DEFAULT_MAX_HEADER_BYTES;
    fuzz_chunker whole, chunked;
    wsp_client_options co;
    wsp_config cfg;
    wsp_response resp;
    const uint8_t *body;
    char *copy;
    size_t n, consumed = 0, nproto = flags & 3u;
    fuzz_peer a, b;
    int rc;

    fuzz_chunker_read(&chunked, &in);
    fuzz_chunker_whole(&whole);
    body = fuzz_take(&in, SIZE_MAX, &n);
    copy = malloc(n ? n : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, body, n);

    rc = wsp_http_parse_response(copy, n, max_bytes, max_headers, &resp,
                                 &consumed);
    fuzz_check_resumed_head(copy, n, max_bytes, max_headers, 0, chunked);
    if (n <= 1024) {
        /* every prefix, each compared with a from-scratch parse: quadratic,
         * so short inputs only */
        fuzz_chunker one_by_one;
        fuzz_chunker_single(&one_by_one);
        fuzz_check_resumed_head(copy, n, max_bytes, max_headers, 0, one_by_one);
    }
    if (rc == WSP_OK) {
        wsp_header h;
        size_t pos = 0, count = 0;
        FUZZ_CHECK(consumed > 0 && consumed <= n && consumed <= eff_bytes);
        FUZZ_CHECK(resp.version_major >= 0 && resp.version_major <= 9);
        FUZZ_CHECK(resp.version_minor >= 0 && resp.version_minor <= 9);
        FUZZ_CHECKF(resp.status >= 100 && resp.status <= 999, "status %d",
                    resp.status);
        FUZZ_CHECK(within(resp.reason, resp.reason_len, copy, consumed));
        while (wsp_headers_next(&resp.headers, &pos, &h) == WSP_OK) {
            FUZZ_CHECK(within(h.name, h.name_len, copy, consumed));
            FUZZ_CHECK(within(h.value, h.value_len, copy, consumed));
            FUZZ_CHECK(h.name_len > 0);
            FUZZ_CHECK(memchr(h.value, '\n', h.value_len) == NULL);
            FUZZ_CHECK(++count <= (max_headers ? max_headers
                                               : WSP_DEFAULT_MAX_HEADERS));
        }
        FUZZ_CHECK(wsp_http_parse_response(copy, consumed - 1, max_bytes,
                                           max_headers, &resp,
                                           &pos) != WSP_OK);
    } else if (rc == WSP_ERR_NEED_MORE) {
        FUZZ_CHECKF(n <= eff_bytes, "%zu bytes without a head, limit %zu", n,
                    eff_bytes);
    } else {
        FUZZ_CHECKF(rc == WSP_ERR_HTTP_MALFORMED ||
                        rc == WSP_ERR_HTTP_TOO_LARGE,
                    "parse_response gave %d", rc);
    }

    memset(&co, 0, sizeof co);
    co.host = "server.example.com";
    co.target = "/chat";
    co.subprotocols = protos;
    co.subprotocol_count = nproto > 2 ? 2 : nproto;
    co.extensions =
        (flags & 4) ? "permessage-deflate; client_max_window_bits" : NULL;
    co.origin = (flags & 8) ? "https://example.com" : NULL;
    co.headers = (flags & 16) ? extra : NULL;
    co.header_count = (flags & 16) ? 1 : 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.role = WSP_ROLE_CLIENT;
    cfg.max_header_bytes = (uint32_t)max_bytes;
    cfg.max_headers = (uint32_t)max_headers;

    run_conn(&cfg, &co, (const uint8_t *)copy, n, &whole, &a);
    run_conn(&cfg, &co, (const uint8_t *)copy, n, &chunked, &b);
    fuzz_log_same(&a.events, &b.events, "event logs (whole vs chunked)");
    fuzz_log_same(&a.out, &b.out, "queued output (whole vs chunked)");
    if (rc == WSP_OK)
        FUZZ_CHECKF(a.request_status != 1 || a.failed,
                    "a complete response head produced no event");
    fuzz_peer_free(&a);
    fuzz_peer_free(&b);
    free(copy);
    return 0;
}
