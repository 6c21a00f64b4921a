/* Harness for a compression setup sample written as the body of a function
 * returning int, which leaves a server connection in `conn` configured
 * from `cfg`. A client offering permessage-deflate then does the
 * handshake: compression must be on exactly when the library has it, and
 * messages must cross both ways. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsproto.h>

#include SAMPLE_HEAD

#include "wrap.h"

static int run(void)
{
#include SAMPLE_BODY
    DOC_CHECK(cfg.role == WSP_ROLE_SERVER);
    static const wsp_deflate_config offer; /* the client's: defaults */
    wsp_config ccfg = {0};
    ccfg.role = WSP_ROLE_CLIENT;
    if (wsp_deflate_available()) ccfg.deflate = &offer;
    wsp_conn *client;
    DOC_CHECK(wsp_conn_new(&ccfg, &client) == WSP_OK);
    doc_handshake(client, conn);
    DOC_CHECK(wsp_conn_deflate_active(conn) == wsp_deflate_available());
    DOC_CHECK(wsp_conn_deflate_active(client) == wsp_deflate_available());

    uint8_t text[10000];
    for (size_t i = 0; i < sizeof text; i++) text[i] = (uint8_t)("compress me "[i % 12]);
    wsp_message got = {0};
    doc_transfer(client, conn, WSP_OP_TEXT, text, sizeof text, &got);
    DOC_CHECK(got.len == sizeof text && memcmp(got.data, text, sizeof text) == 0);
    wsp_message_free(&got);
    doc_transfer(conn, client, WSP_OP_BINARY, text, sizeof text, &got);
    DOC_CHECK(got.len == sizeof text && memcmp(got.data, text, sizeof text) == 0);
    wsp_message_free(&got);
    printf("%s: compression %s, 10000 bytes each way\n", SAMPLE_NAME,
           wsp_conn_deflate_active(conn) ? "on" : "off (not built in)");
    wsp_conn_free(client);
    wsp_conn_free(conn);
    return 0;
}

int main(void)
{
    return run();
}
