/* A bare-metal program for a Cortex-M4 (no OS, no heap): a server connection
 * in static memory answers a handshake and echoes a frame. run.sh links it
 * with newlib's stubs and checks that no allocator ends up in the image, so
 * the core really needs no heap. It is built, not run. */
#include "wsproto.h"

#include <string.h>

static _Alignas(8) unsigned char conn_mem[512];
static uint8_t rx[1024];
static uint8_t tx[1024];
size_t wsp_m4_sent; /* keeps the result observable */

static const char request[] =
    "GET / HTTP/1.1\r\nHost: device\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

int main(void)
{
    if (wsp_conn_size() > sizeof conn_mem) return 1;
    wsp_conn *conn = (wsp_conn *)(void *)conn_mem;
    if (wsp_conn_init(conn, NULL) != WSP_OK) return 1;
    size_t len = sizeof request - 1, n = 0, k = 0, used = 0;
    memcpy(rx, request, len);
    uint8_t *p = rx;
    for (;;) {
        wsp_event ev;
        int rc = wsp_conn_recv(conn, p, len, &used, &ev);
        p += used;
        len -= used;
        if (rc != WSP_OK || ev.type == WSP_EV_NONE) break;
        if (ev.type == WSP_EV_REQUEST) {
            if (wsp_conn_accept(conn, NULL, tx + n, sizeof tx - n, &k) != WSP_OK) return 1;
            n += k;
        } else if (ev.type == WSP_EV_DATA) {
            if (wsp_conn_send(conn, ev.u.data.opcode, ev.u.data.payload, ev.u.data.len,
                              ev.u.data.flags & WSP_DATA_LAST ? 0 : WSP_SEND_MORE,
                              tx + n, sizeof tx - n, &k) != WSP_OK)
                return 1;
            n += k;
        }
    }
    if (wsp_conn_flush(conn, tx + n, sizeof tx - n, &k) == WSP_OK) n += k;
    wsp_m4_sent = n;
    return wsp_conn_state(conn) == WSP_STATE_OPEN ? 0 : 1;
}
