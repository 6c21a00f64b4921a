/* Harness for a server settings sample written as the body of a function,
 * which leaves a wsp_config in `cfg` with an origin policy allowing
 * https://app.example.com only. Requests from that origin must be
 * accepted; others, and requests without Origin, must get 403. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <wsproto.h>

#include SAMPLE_HEAD

#include "wrap.h"

static int request_status(const wsp_config *cfg, const char *origin_line, int *http_status)
{
    char head[512];
    int len = snprintf(head, sizeof head,
                       "GET / HTTP/1.1\r\nHost: app.example.com\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n%s\r\n",
                       origin_line);
    DOC_CHECK(len > 0 && (size_t)len < sizeof head);
    wsp_conn *conn;
    DOC_CHECK(wsp_conn_new(cfg, &conn) == WSP_OK);
    size_t used = 0;
    wsp_event ev;
    DOC_CHECK(wsp_conn_recv(conn, (uint8_t *)head, (size_t)len, &used, &ev) == WSP_OK);
    DOC_CHECK(ev.type == WSP_EV_REQUEST);
    int status = ev.u.request.status;
    *http_status = ev.u.request.http_status;
    wsp_conn_free(conn);
    return status;
}

static int run(void)
{
#include SAMPLE_BODY
    int http = 0;
    DOC_CHECK(request_status(&cfg, "Origin: https://app.example.com\r\n", &http) == WSP_OK);
    DOC_CHECK(request_status(&cfg, "Origin: https://evil.example\r\n", &http) ==
              WSP_ERR_HTTP_ORIGIN && http == 403);
    DOC_CHECK(request_status(&cfg, "Origin: null\r\n", &http) == WSP_ERR_HTTP_ORIGIN);
    DOC_CHECK(request_status(&cfg, "", &http) == WSP_ERR_HTTP_ORIGIN && http == 403);
    printf("%s: own origin accepted; other, null and missing origins get 403\n",
           SAMPLE_NAME);
    return 0;
}

int main(void)
{
    return run();
}
