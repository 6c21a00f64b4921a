/* Frame header codec (RFC 6455 5.2). Payload is never touched here. */
#include "internal.h"

#include <string.h>

int wsp_frame_parse_header(const uint8_t *buf, size_t len,
                           wsp_frame_header *out)
{
    if (!buf || !out) return WSP_ERR_INVALID_ARG;
    if (len < 2) return WSP_ERR_NEED_MORE;

    uint8_t b0 = buf[0], b1 = buf[1];
    uint8_t masked = (uint8_t)(b1 >> 7);
    uint8_t len7 = b1 & 0x7F;
    size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    size_t need = 2 + ext + (masked ? 4u : 0u);
    if (len < need) return WSP_ERR_NEED_MORE;

    uint64_t plen = len7;
    if (ext == 2) {
        plen = (uint64_t)buf[2] << 8 | buf[3];
        /* RFC 6455 5.2: "the minimal number of bytes MUST be used". We hold
         * peers to it: a non-minimal length is a sign of a broken or
         * smuggling encoder, and accepting it buys nothing. */
        if (plen < 126) return WSP_ERR_PROTO_LENGTH;
    } else if (ext == 8) {
        plen = 0;
        for (size_t i = 0; i < 8; i++) plen = plen << 8 | buf[2 + i];
        if (plen >> 63) return WSP_ERR_PROTO_LENGTH;
        if (plen <= 0xFFFF) return WSP_ERR_PROTO_LENGTH;
    }

    out->fin = (uint8_t)(b0 >> 7);
    out->rsv = (uint8_t)((b0 >> 4) & 0x7);
    out->opcode = b0 & 0x0F;
    out->masked = masked;
    /* One 4-byte copy: the connection reads the key back as a word, and
     * four byte stores in front of that load stall it. */
    if (masked)
        memcpy(out->mask_key, buf + 2 + ext, 4);
    else
        memset(out->mask_key, 0, 4);
    out->payload_len = plen;
    out->header_len = need;
    return WSP_OK;
}

int wsp_frame_encode_header(const wsp_frame_header *hdr, uint8_t *out,
                            size_t out_cap, size_t *out_len)
{
    if (!out_len) return WSP_ERR_INVALID_ARG;
    *out_len = 0;
    if (!hdr || (!out && out_cap)) return WSP_ERR_INVALID_ARG;
    if (hdr->opcode > 0xF || hdr->rsv > 7 || (hdr->payload_len >> 63))
        return WSP_ERR_INVALID_ARG;

    uint64_t plen = hdr->payload_len;
    size_t need = wsp_frame_header_size(plen, hdr->masked);
    if (!out) {
        *out_len = need; /* measuring */
        return WSP_OK;
    }
    if (out_cap < need) return WSP_ERR_BUFFER_TOO_SMALL;
    *out_len = need;

    wsp_frame_put_header(out, (hdr->fin ? 0x80u : 0u) | (unsigned)hdr->rsv << 4 | hdr->opcode,
                         plen, hdr->masked ? hdr->mask_key : NULL);
    return WSP_OK;
}
