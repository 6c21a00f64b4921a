/* Status names, and how statuses map onto close codes and HTTP statuses. */
#include "internal.h"

#include <string.h>

typedef struct status_entry {
    int status;
    uint16_t close_code;
    int http_code;
    const char *text;
} status_entry;

static const status_entry status_table[] = {
    {WSP_OK, 0, 0, "WSP_OK: success"},
    {WSP_ERR_INVALID_ARG, 0, 0, "WSP_ERR_INVALID_ARG: invalid argument"},
    {WSP_ERR_STATE, 0, 0, "WSP_ERR_STATE: call not valid in the connection's state"},
    {WSP_ERR_BUFFER_TOO_SMALL, 0, 0, "WSP_ERR_BUFFER_TOO_SMALL: output buffer too small"},
    {WSP_ERR_NOMEM, 0, 0, "WSP_ERR_NOMEM: out of memory"},
    {WSP_ERR_ENTROPY, 0, 0, "WSP_ERR_ENTROPY: entropy source failed"},
    {WSP_ERR_NEED_MORE, 0, 0, "WSP_ERR_NEED_MORE: input incomplete"},
    {WSP_ERR_LIMIT, 0, 0, "WSP_ERR_LIMIT: size limit reached, or a size too large to represent"},
    {WSP_ERR_CLOSED, 0, 0, "WSP_ERR_CLOSED: connection closed"},
    {WSP_ERR_UNSUPPORTED, 0, 0, "WSP_ERR_UNSUPPORTED: feature not built into this library"},
    {WSP_ERR_NOT_FOUND, 0, 0, "WSP_ERR_NOT_FOUND: no such item, or no more items"},
    {WSP_ERR_HTTP_MALFORMED, 0, 400, "WSP_ERR_HTTP_MALFORMED: malformed HTTP message, or malformed extended CONNECT"},
    {WSP_ERR_HTTP_METHOD, 0, 405, "WSP_ERR_HTTP_METHOD: method is not the upgrade's (GET, or CONNECT over HTTP/2)"},
    {WSP_ERR_HTTP_VERSION, 0, 400, "WSP_ERR_HTTP_VERSION: HTTP version below 1.1"},
    {WSP_ERR_HTTP_HOST, 0, 400, "WSP_ERR_HTTP_HOST: Host header missing or repeated"},
    {WSP_ERR_HTTP_UPGRADE, 0, 400, "WSP_ERR_HTTP_UPGRADE: not a WebSocket request (no Upgrade: websocket, or no :protocol)"},
    {WSP_ERR_HTTP_CONNECTION, 0, 400, "WSP_ERR_HTTP_CONNECTION: Connection header lacks upgrade"},
    {WSP_ERR_HTTP_KEY, 0, 400, "WSP_ERR_HTTP_KEY: Sec-WebSocket-Key missing or invalid"},
    {WSP_ERR_HTTP_WS_VERSION, 0, 426, "WSP_ERR_HTTP_WS_VERSION: Sec-WebSocket-Version is not 13"},
    {WSP_ERR_HTTP_TOO_LARGE, 0, 431, "WSP_ERR_HTTP_TOO_LARGE: HTTP header block over the limit"},
    {WSP_ERR_HTTP_STATUS, 0, 0, "WSP_ERR_HTTP_STATUS: server did not answer 101"},
    {WSP_ERR_HTTP_ACCEPT, 0, 0, "WSP_ERR_HTTP_ACCEPT: Sec-WebSocket-Accept missing or wrong"},
    {WSP_ERR_HTTP_SUBPROTOCOL, 0, 0, "WSP_ERR_HTTP_SUBPROTOCOL: server chose a subprotocol not offered"},
    {WSP_ERR_HTTP_EXTENSION, 0, 0, "WSP_ERR_HTTP_EXTENSION: server chose an extension not offered"},
    {WSP_ERR_HTTP_ORIGIN, 0, 403, "WSP_ERR_HTTP_ORIGIN: Origin not allowed"},
    {WSP_ERR_HTTP_PROTOCOL_UNSUPPORTED, 0, 501, "WSP_ERR_HTTP_PROTOCOL_UNSUPPORTED: extended CONNECT for a protocol other than websocket"},
    {WSP_ERR_PROTO_RSV, 1002, 0, "WSP_ERR_PROTO_RSV: reserved bit set without an extension"},
    {WSP_ERR_PROTO_OPCODE, 1002, 0, "WSP_ERR_PROTO_OPCODE: reserved opcode"},
    {WSP_ERR_PROTO_MASK, 1002, 0, "WSP_ERR_PROTO_MASK: frame masking is wrong for the role"},
    {WSP_ERR_PROTO_CONTROL_TOO_LONG, 1002, 0, "WSP_ERR_PROTO_CONTROL_TOO_LONG: control frame payload over 125 bytes"},
    {WSP_ERR_PROTO_CONTROL_FRAGMENTED, 1002, 0, "WSP_ERR_PROTO_CONTROL_FRAGMENTED: fragmented control frame"},
    {WSP_ERR_PROTO_CONTINUATION, 1002, 0, "WSP_ERR_PROTO_CONTINUATION: continuation frame with no message open"},
    {WSP_ERR_PROTO_EXPECTED_CONTINUATION, 1002, 0, "WSP_ERR_PROTO_EXPECTED_CONTINUATION: new data frame inside a fragmented message"},
    {WSP_ERR_PROTO_LENGTH, 1002, 0, "WSP_ERR_PROTO_LENGTH: invalid payload length encoding"},
    {WSP_ERR_PROTO_CLOSE_PAYLOAD, 1002, 0, "WSP_ERR_PROTO_CLOSE_PAYLOAD: close payload of one byte"},
    {WSP_ERR_PROTO_CLOSE_CODE, 1002, 0, "WSP_ERR_PROTO_CLOSE_CODE: invalid close code"},
    {WSP_ERR_PROTO_UTF8, 1007, 0, "WSP_ERR_PROTO_UTF8: invalid UTF-8 in text"},
    {WSP_ERR_PROTO_TOO_BIG, 1009, 0, "WSP_ERR_PROTO_TOO_BIG: frame or message over the size limit"},
    {WSP_ERR_PROTO_TOO_MANY_FRAGMENTS, 1009, 0, "WSP_ERR_PROTO_TOO_MANY_FRAGMENTS: message has too many fragments"},
    {WSP_ERR_PROTO_EXTENSION, 1002, 0, "WSP_ERR_PROTO_EXTENSION: invalid compressed data"},
};

static const status_entry *status_find(int status)
{
    for (size_t i = 0; i < sizeof status_table / sizeof status_table[0]; i++) {
        if (status_table[i].status == status) return &status_table[i];
    }
    return NULL;
}

const char *wsp_strerror(int status)
{
    const status_entry *e = status_find(status);
    return e ? e->text : "unknown status";
}

const char *wsp_status_reason(int status)
{
    const char *text = wsp_strerror(status);
    const char *colon = strchr(text, ':');
    return colon ? colon + 2 : text;
}

uint16_t wsp_status_close_code(int status)
{
    const status_entry *e = status_find(status);
    return e ? e->close_code : 0;
}

int wsp_status_http_code(int status)
{
    const status_entry *e = status_find(status);
    return e ? e->http_code : 0;
}

/* RFC 6455 7.4.1 / 7.4.2: 1004-1006 and 1015 are reserved and must never be
 * put on the wire; 1016-2999 belong to future revisions of the protocol;
 * 3000-4999 are for libraries and applications. */
int wsp_close_code_valid(uint16_t code)
{
    if (code >= 1000 && code <= 1003) return 1;
    if (code >= 1007 && code <= 1014) return 1;
    return code >= 3000 && code <= 4999;
}

static const wsp_version_info version_info = {
    1, WSP_VERSION_MAJOR, WSP_VERSION_MINOR, WSP_VERSION_PATCH,
    WSP_VERSION_STRING};

const wsp_version_info *wsp_version(void) { return &version_info; }
