/* Harness for a whole-message sample written as file-scope code defining
 * `int on_data(wsp_message *m, const wsp_event *ev)`, which calls
 * handle(opcode, data, len) for each complete message. Messages go from a
 * client to a server connection in memory and reach on_data as the pieces a
 * small receive buffer produces; one is over m.max and must be refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsproto.h>

#include SAMPLE_HEAD

#include "wrap.h"

static struct {
    wsp_opcode opcode;
    uint8_t *data;
    size_t len;
    unsigned count;
} handled;

static void handle(wsp_opcode opcode, const uint8_t *data, size_t len)
{
    DOC_CHECK(data != NULL && data[len] == 0);
    free(handled.data);
    handled.data = malloc(len + 1);
    DOC_CHECK(handled.data != NULL);
    memcpy(handled.data, data, len + 1);
    handled.opcode = opcode;
    handled.len = len;
    handled.count++;
}

#include SAMPLE_BODY

/* Sends one message and feeds it to on_data through a 200-byte window of
 * the wire bytes, so it arrives in many pieces. Returns on_data's first
 * failing status, or WSP_OK. */
static int deliver(wsp_conn *client, wsp_conn *server, wsp_message *m, wsp_opcode op,
                   const uint8_t *p, size_t len)
{
    size_t bound = 0, n = 0;
    DOC_CHECK(wsp_conn_send_bound(client, len, &bound) == WSP_OK);
    uint8_t *wire = malloc(bound);
    DOC_CHECK(wire != NULL);
    DOC_CHECK(wsp_conn_send(client, op, p, len, 0, wire, bound, &n) == WSP_OK);
    uint8_t window[200];
    size_t fed = 0, have = 0;
    int result = WSP_OK;
    while ((fed < n || have > 0) && result == WSP_OK) {
        size_t take = n - fed < sizeof window - have ? n - fed : sizeof window - have;
        memcpy(window + have, wire + fed, take);
        fed += take;
        have += take;
        size_t off = 0, used = 0;
        for (;;) {
            wsp_event ev;
            DOC_CHECK(wsp_conn_recv(server, window + off, have - off, &used, &ev) == WSP_OK);
            off += used;
            if (ev.type == WSP_EV_NONE) break;
            DOC_CHECK(ev.type == WSP_EV_DATA);
            result = on_data(m, &ev);
            if (result != WSP_OK) break;
        }
        memmove(window, window + off, have - off);
        have -= off;
        if (result == WSP_OK && take == 0 && have > 0) DOC_FAIL("input stuck");
    }
    free(wire);
    return result;
}

int main(void)
{
    wsp_config ccfg = {0};
    ccfg.role = WSP_ROLE_CLIENT;
    wsp_conn *client, *server;
    DOC_CHECK(wsp_conn_new(&ccfg, &client) == WSP_OK);
    DOC_CHECK(wsp_conn_new(NULL, &server) == WSP_OK);
    doc_handshake(client, server);

    wsp_message m = {0};
    m.max = 1 << 20; /* as the text around the sample says */
    static const size_t sizes[] = {0, 1, 199, 5000, 1 << 20};
    size_t big = (1 << 20) + 1;
    uint8_t *buf = malloc(big);
    DOC_CHECK(buf != NULL);
    for (size_t i = 0; i < big; i++) buf[i] = (uint8_t)('a' + i % 26);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        wsp_opcode op = i % 2 ? WSP_OP_BINARY : WSP_OP_TEXT;
        unsigned before = handled.count;
        DOC_CHECK(deliver(client, server, &m, op, buf, sizes[i]) == WSP_OK);
        DOC_CHECK(handled.count == before + 1);
        DOC_CHECK(handled.opcode == op && handled.len == sizes[i]);
        DOC_CHECK(sizes[i] == 0 || memcmp(handled.data, buf, sizes[i]) == 0);
    }
    /* One byte over m.max: refused, nothing handled. */
    unsigned before = handled.count;
    int rc = deliver(client, server, &m, WSP_OP_BINARY, buf, big);
    if (rc != WSP_ERR_LIMIT) DOC_FAIL("over max: %s, want WSP_ERR_LIMIT", wsp_strerror(rc));
    DOC_CHECK(handled.count == before);

    printf("%s: %u messages assembled, one over max refused\n", SAMPLE_NAME, handled.count);
    wsp_message_free(&m);
    free(handled.data);
    free(buf);
    wsp_conn_free(client);
    wsp_conn_free(server);
    return 0;
}
