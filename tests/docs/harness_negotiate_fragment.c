/* Harness for a wsp_deflate_negotiate sample written as the body of a
 * function returning int. It gets `req` (a parsed upgrade request),
 * `deflate_cfg` (defaults), `conn` (a server connection made with
 * start_open) and add_response_header(name, value, len) of "the
 * application's HTTP stack". It is run for a request with an offer and for
 * requests without an acceptable one; with an offer, a client configured
 * from the recorded answer must exchange compressed messages with conn. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsproto.h>

#include SAMPLE_HEAD

#include "wrap.h"

static const wsp_deflate_config deflate_cfg; /* defaults */

static struct {
    char value[256];
    size_t len;
    unsigned count;
} answered;

static void add_response_header(const char *name, const char *value, size_t len)
{
    DOC_CHECK(strcmp(name, "Sec-WebSocket-Extensions") == 0);
    DOC_CHECK(len < sizeof answered.value && value[len] == '\0');
    memcpy(answered.value, value, len + 1);
    answered.len = len;
    answered.count++;
}

static int run(const wsp_request *req, wsp_conn *conn)
{
#include SAMPLE_BODY
    return 0;
}

static int run_request(const char *extensions_line, wsp_conn **conn)
{
    char head[512];
    int len = snprintf(head, sizeof head,
                       "GET /chat HTTP/1.1\r\nHost: docs.test\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n%s\r\n",
                       extensions_line);
    DOC_CHECK(len > 0 && (size_t)len < sizeof head);
    wsp_request req;
    size_t used = 0;
    DOC_CHECK(wsp_http_parse_request(head, (size_t)len, 0, 0, &req, &used) == WSP_OK);
    wsp_config cfg = {0};
    cfg.start_open = 1;
    DOC_CHECK(wsp_conn_new(&cfg, conn) == WSP_OK);
    answered.count = 0;
    return run(&req, *conn);
}

int main(void)
{
    wsp_conn *conn;
    int rc = run_request("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
                         &conn);
    if (!wsp_deflate_available()) {
        DOC_CHECK(rc == WSP_ERR_UNSUPPORTED && answered.count == 0);
        wsp_conn_free(conn);
        printf("%s: not built with deflate: WSP_ERR_UNSUPPORTED returned\n", SAMPLE_NAME);
        return 0;
    }
    DOC_CHECK(rc == 0 && answered.count == 1 && wsp_conn_deflate_active(conn));
    DOC_CHECK(strncmp(answered.value, "permessage-deflate", 18) == 0);

    /* A client that read the answer from the 101. */
    wsp_deflate_params params;
    DOC_CHECK(wsp_deflate_parse(answered.value, answered.len, 1, &params) == WSP_OK);
    wsp_config ccfg = {0};
    ccfg.role = WSP_ROLE_CLIENT;
    ccfg.start_open = 1;
    wsp_conn *client;
    DOC_CHECK(wsp_conn_new(&ccfg, &client) == WSP_OK);
    DOC_CHECK(wsp_conn_enable_deflate(client, NULL, &params) == WSP_OK);
    uint8_t text[5000];
    for (size_t i = 0; i < sizeof text; i++) text[i] = (uint8_t)("negotiated "[i % 11]);
    wsp_message got = {0};
    doc_transfer(client, conn, WSP_OP_TEXT, text, sizeof text, &got);
    DOC_CHECK(got.len == sizeof text && memcmp(got.data, text, sizeof text) == 0);
    wsp_message_free(&got);
    doc_transfer(conn, client, WSP_OP_TEXT, text, sizeof text, &got);
    DOC_CHECK(got.len == sizeof text && memcmp(got.data, text, sizeof text) == 0);
    wsp_message_free(&got);
    wsp_conn_free(client);
    wsp_conn_free(conn);

    /* No offer, or only offers of other extensions: no answer, no deflate. */
    static const char *const none[] = {"", "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"};
    for (size_t i = 0; i < 2; i++) {
        DOC_CHECK(run_request(none[i], &conn) == 0);
        DOC_CHECK(answered.count == 0 && !wsp_conn_deflate_active(conn));
        wsp_conn_free(conn);
    }
    printf("%s: answered \"%s\"; no answer without an acceptable offer\n", SAMPLE_NAME,
           answered.value);
    return 0;
}
