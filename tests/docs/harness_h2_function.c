/* Harness for an RFC 8441 sample that defines
 *   int on_extended_connect(const wsp_connect_request *, char *values,
 *                           size_t cap, wsp_conn **, wsp_connect_response *)
 *   int on_stream_data(wsp_conn *, uint8_t *data, size_t len, size_t *used,
 *                      uint8_t *out, size_t cap, size_t *out_len, int *done)
 * as an HTTP/2 server's callbacks. It plays the HTTP/2 stack: a request
 * offering the subprotocols "superchat, chat" must get 200 with chat; then
 * the frames of a client connection (a text message, a fragmented binary
 * one, a ping, a close 1000) arrive as DATA payloads cut into small pieces,
 * the rest of each carried over as the sample says, and everything the
 * sample writes is read back by that client. Bad requests must get their
 * 4xx and the field it requires. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <wsproto.h>

#include SAMPLE_HEAD

#include "wrap.h"

#include SAMPLE_BODY

static wsp_connect_request make_request(const wsp_header *fields, size_t count,
                                        const char *method, const char *protocol)
{
    wsp_connect_request req;
    memset(&req, 0, sizeof req);
    req.method = method, req.method_len = strlen(method);
    req.protocol = protocol, req.protocol_len = strlen(protocol);
    req.scheme = "https", req.scheme_len = 5;
    req.authority = "example.com", req.authority_len = 11;
    req.path = "/chat", req.path_len = 5;
    req.headers.array = fields;
    req.headers.count = count;
    return req;
}

static const wsp_header *field(const wsp_connect_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->header_count; i++) {
        const wsp_header *h = &resp->headers[i];
        if (h->name_len == strlen(name) && memcmp(h->name, name, h->name_len) == 0)
            return h;
    }
    return NULL;
}

static int value_is(const wsp_header *h, const char *want)
{
    return h && h->value_len == strlen(want) && memcmp(h->value, want, h->value_len) == 0;
}

/* What the client reads back, in order. */
static struct {
    char text[32];
    size_t text_len;
    uint8_t binary[32];
    size_t binary_len;
    unsigned pongs;
    uint16_t close_code;
} got;

static void client_read(wsp_conn *client, uint8_t *p, size_t n)
{
    size_t off = 0;
    wsp_event ev;
    for (;;) {
        size_t used = 0;
        int rc = wsp_conn_recv(client, p + off, n - off, &used, &ev);
        off += used;
        if (rc == WSP_ERR_CLOSED) break;
        DOC_CHECK(rc == WSP_OK);
        if (ev.type == WSP_EV_NONE) break;
        if (ev.type == WSP_EV_DATA && ev.u.data.opcode == WSP_OP_TEXT) {
            DOC_CHECK(got.text_len + ev.u.data.len <= sizeof got.text);
            memcpy(got.text + got.text_len, ev.u.data.payload, ev.u.data.len);
            got.text_len += ev.u.data.len;
        } else if (ev.type == WSP_EV_DATA) {
            DOC_CHECK(got.binary_len + ev.u.data.len <= sizeof got.binary);
            memcpy(got.binary + got.binary_len, ev.u.data.payload, ev.u.data.len);
            got.binary_len += ev.u.data.len;
        } else if (ev.type == WSP_EV_PONG) {
            got.pongs++;
        } else if (ev.type == WSP_EV_CLOSE) {
            got.close_code = ev.u.close.code;
        }
    }
    DOC_CHECK(off == n);
}

static void bad_request(const wsp_header *fields, size_t count, const char *method,
                        int want_status, const char *want_field, const char *want_value)
{
    wsp_connect_request req = make_request(fields, count, method, "websocket");
    char values[WSP_CONNECT_RESPONSE_MAX + 8];
    wsp_conn *conn = NULL;
    wsp_connect_response resp;
    int status = on_extended_connect(&req, values, sizeof values, &conn, &resp);
    DOC_CHECK(status == want_status);
    DOC_CHECK(conn == NULL);
    DOC_CHECK(resp.header_count == 1 && value_is(field(&resp, want_field), want_value));
}

int main(void)
{
    const wsp_header fields[] = {
        {"sec-websocket-version", 21, "13", 2},
        {"sec-websocket-protocol", 22, "superchat, chat", 15},
        {"origin", 6, "https://example.com", 19},
    };
    wsp_connect_request req = make_request(fields, 3, "CONNECT", "websocket");
    char values[WSP_CONNECT_RESPONSE_MAX + 8];
    wsp_conn *conn = NULL;
    wsp_connect_response resp;
    DOC_CHECK(on_extended_connect(&req, values, sizeof values, &conn, &resp) == 200);
    DOC_CHECK(conn != NULL && resp.status == 200);
    DOC_CHECK(resp.header_count == 1 &&
              value_is(field(&resp, "sec-websocket-protocol"), "chat"));

    /* The client end of the stream, made open as RFC 8441 clients are. */
    wsp_config ccfg = {0};
    ccfg.role = WSP_ROLE_CLIENT;
    ccfg.start_open = 1;
    wsp_conn *client = NULL;
    DOC_CHECK(wsp_conn_new(&ccfg, &client) == WSP_OK);
    uint8_t stream[512];
    size_t stream_len = 0, n = 0;
    DOC_CHECK(wsp_conn_send(client, WSP_OP_TEXT, (const uint8_t *)"hello", 5, 0,
                            stream + stream_len, sizeof stream - stream_len, &n) == WSP_OK);
    stream_len += n;
    DOC_CHECK(wsp_conn_send(client, WSP_OP_BINARY, (const uint8_t *)"\x01\x02\x03", 3,
                            WSP_SEND_MORE, stream + stream_len, sizeof stream - stream_len,
                            &n) == WSP_OK);
    stream_len += n;
    DOC_CHECK(wsp_conn_send(client, WSP_OP_PING, (const uint8_t *)"p", 1, 0,
                            stream + stream_len, sizeof stream - stream_len, &n) == WSP_OK);
    stream_len += n;
    DOC_CHECK(wsp_conn_send(client, WSP_OP_BINARY, (const uint8_t *)"\x04\x05", 2, 0,
                            stream + stream_len, sizeof stream - stream_len, &n) == WSP_OK);
    stream_len += n;
    DOC_CHECK(wsp_conn_close(client, 1000, "bye", 3, stream + stream_len,
                             sizeof stream - stream_len, &n) == WSP_OK);
    stream_len += n;

    /* DATA payloads of 1 to 7 bytes; what the sample leaves goes first in
     * the next one, as the stack's reassembly would do. */
    uint8_t pending[64], out[1024];
    size_t have = 0, sent = 0, step = 1, out_len = 0;
    int done = 0, rc = WSP_OK;
    unsigned payloads = 0;
    while (!done && (sent < stream_len || have)) {
        size_t take = stream_len - sent < step ? stream_len - sent : step;
        DOC_CHECK(have + take <= sizeof pending);
        memcpy(pending + have, stream + sent, take);
        sent += take;
        have += take;
        step = step % 7 + 1;
        size_t used = 0;
        out_len = 0;
        rc = on_stream_data(conn, pending, have, &used, out, sizeof out, &out_len, &done);
        payloads++;
        DOC_CHECK(rc == WSP_OK || rc == WSP_ERR_CLOSED);
        DOC_CHECK(used <= have);
        memmove(pending, pending + used, have - used);
        have -= used;
        client_read(client, out, out_len);
        if (!take && !used) break;
    }
    DOC_CHECK(done && rc == WSP_ERR_CLOSED);
    DOC_CHECK(got.text_len == 5 && memcmp(got.text, "hello", 5) == 0);
    DOC_CHECK(got.binary_len == 5 && memcmp(got.binary, "\x01\x02\x03\x04\x05", 5) == 0);
    DOC_CHECK(got.pongs == 1 && got.close_code == 1000);
    DOC_CHECK(wsp_conn_state(client) == WSP_STATE_CLOSED);
    wsp_conn_free(client);
    wsp_conn_free(conn);

    const wsp_header old_version[] = {{"sec-websocket-version", 21, "8", 1}};
    bad_request(old_version, 1, "CONNECT", 400, "sec-websocket-version", "13");
    bad_request(fields, 3, "GET", 405, "allow", "CONNECT");
    printf("%s: 200 with chat; echo, pong and close 1000 over %u DATA payloads; "
           "400 and 405 with their fields\n",
           SAMPLE_NAME, payloads);
    return 0;
}
