/* permessage-deflate negotiation (RFC 7692 5 and 7.1): parsing offers and
 * responses, choosing a server answer, writing a client offer, checking the
 * server's answer. Pure text work; the zlib side is in deflate.c. */
#include "internal.h"

#include <string.h>

const char wsp_deflate_name[] = "permessage-deflate";

/* RFC 7692 7.1.2: window bits are 1*DIGIT, 8..15, no leading zero. A value
 * may arrive as a quoted-string that must unescape to the same token. */
static int parse_bits(const char *v, size_t n)
{
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') v++, n -= 2;
    if (n == 1 && v[0] >= '8' && v[0] <= '9') return v[0] - '0';
    if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + v[1] - '0';
    return -1;
}

int wsp_deflate_parse(const char *item, size_t len, int is_response,
                      wsp_deflate_params *out)
{
    if (!item || !out) return WSP_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    size_t pos = 0;
    int first = 1, seen_snct = 0, seen_cnct = 0;
    while (pos <= len) {
        size_t start = pos;
        int quoted = 0;
        while (pos < len && (quoted || item[pos] != ';')) {
            if (item[pos] == '"') quoted = !quoted;
            pos++;
        }
        const char *p = item + start;
        size_t n = pos - start;
        pos++;
        wsp_trim_ows(&p, &n);
        if (first) {
            if (!wsp_ascii_ieq(p, n, wsp_deflate_name)) return WSP_ERR_NOT_FOUND;
            first = 0;
            continue;
        }
        const char *eq = memchr(p, '=', n);
        size_t name_len = eq ? (size_t)(eq - p) : n;
        const char *value = eq ? eq + 1 : NULL;
        size_t value_len = eq ? n - name_len - 1 : 0;
        const char *name = p;
        wsp_trim_ows(&name, &name_len);
        if (value) wsp_trim_ows(&value, &value_len);

        /* RFC 7692 7: a repeated or unknown parameter, or one with a bad
         * value, makes the whole offer (or response) invalid. */
        if (wsp_ascii_ieq(name, name_len, "server_no_context_takeover")) {
            if (value || seen_snct++) return WSP_ERR_HTTP_EXTENSION;
            out->server_no_context_takeover = 1;
        } else if (wsp_ascii_ieq(name, name_len, "client_no_context_takeover")) {
            if (value || seen_cnct++) return WSP_ERR_HTTP_EXTENSION;
            out->client_no_context_takeover = 1;
        } else if (wsp_ascii_ieq(name, name_len, "server_max_window_bits")) {
            int bits = value ? parse_bits(value, value_len) : -1;
            if (bits < 0 || out->server_max_window_bits) return WSP_ERR_HTTP_EXTENSION;
            out->server_max_window_bits = bits;
        } else if (wsp_ascii_ieq(name, name_len, "client_max_window_bits")) {
            int bits = value ? parse_bits(value, value_len)
                             : (is_response ? -1 : WSP_DEFLATE_BITS_NO_VALUE);
            if (bits < 0 || out->client_max_window_bits) return WSP_ERR_HTTP_EXTENSION;
            out->client_max_window_bits = bits;
        } else {
            return WSP_ERR_HTTP_EXTENSION;
        }
    }
    return first ? WSP_ERR_NOT_FOUND : WSP_OK;
}

int wsp_deflate_bits_or(int bits, int dflt) { return bits >= 8 && bits <= 15 ? bits : dflt; }

static void write_param(wsp_writer *w, const char *name, int bits)
{
    wsp_write_str(w, "; ");
    wsp_write_str(w, name);
    if (bits > WSP_DEFLATE_BITS_NO_VALUE) {
        wsp_write_str(w, "=");
        wsp_write_uint(w, (unsigned long)bits);
    }
}

void wsp_deflate_write_params(wsp_writer *w, const wsp_deflate_params *p)
{
    wsp_write_str(w, wsp_deflate_name);
    if (p->server_no_context_takeover) write_param(w, "server_no_context_takeover", 0);
    if (p->client_no_context_takeover) write_param(w, "client_no_context_takeover", 0);
    if (p->server_max_window_bits) write_param(w, "server_max_window_bits", p->server_max_window_bits);
    if (p->client_max_window_bits) write_param(w, "client_max_window_bits", p->client_max_window_bits);
}

/* The server's answer to one valid offer (RFC 7692 7.1.1, 7.1.2). */
static void answer_offer(const wsp_deflate_config *cfg,
                         const wsp_deflate_params *offer,
                         wsp_deflate_params *agreed)
{
    memset(agreed, 0, sizeof *agreed);
    agreed->server_no_context_takeover =
        offer->server_no_context_takeover || cfg->no_context_takeover;
    /* The client's client_no_context_takeover is a hint; echoing it costs
     * nothing and lets our inflater reset between messages. */
    agreed->client_no_context_takeover =
        offer->client_no_context_takeover || cfg->peer_no_context_takeover;
    int own = wsp_deflate_bits_or(cfg->max_window_bits, 15);
    if (offer->server_max_window_bits) {
        if (offer->server_max_window_bits < own) own = offer->server_max_window_bits;
        agreed->server_max_window_bits = own;
    }
    /* client_max_window_bits may only be answered when offered (7.1.2.2). */
    if (offer->client_max_window_bits) {
        int peer = wsp_deflate_bits_or(cfg->peer_max_window_bits, 0);
        int offered = offer->client_max_window_bits > WSP_DEFLATE_BITS_NO_VALUE
                          ? offer->client_max_window_bits : 0;
        if (offered && (!peer || offered < peer)) peer = offered;
        agreed->client_max_window_bits = peer;
    }
}

int wsp_deflate_choose(const wsp_headers *request_headers,
                       const wsp_deflate_config *cfg, wsp_deflate_params *agreed)
{
    size_t pos = 0, list_pos = 0, n;
    const char *item;
    while (wsp_upgrade_next_extension(request_headers, &pos, &list_pos, &item,
                                      &n) == WSP_OK) {
        wsp_deflate_params offer;
        /* RFC 7692 5: offers come in preference order; an invalid one is
         * declined and the next considered. */
        if (wsp_deflate_parse(item, n, 0, &offer) != WSP_OK) continue;
        answer_offer(cfg, &offer, agreed);
        return 1;
    }
    return 0;
}

typedef struct negotiate_ctx {
    const wsp_deflate_params *agreed;
} negotiate_ctx;

static int write_agreed(wsp_writer *w, const void *ctx)
{
    wsp_deflate_write_params(w, ((const negotiate_ctx *)ctx)->agreed);
    wsp_write(w, "", 1);
    return WSP_OK;
}

int wsp_deflate_negotiate(const wsp_headers *request_headers,
                          const wsp_deflate_config *cfg,
                          wsp_deflate_params *agreed, char *out,
                          size_t out_cap, size_t *out_len)
{
    if (!out_len) return WSP_ERR_INVALID_ARG;
    *out_len = 0;
    if (!request_headers || !cfg || !agreed || (!out && out_cap))
        return WSP_ERR_INVALID_ARG;
    if (!wsp_deflate_available()) return WSP_ERR_UNSUPPORTED;
    if (!wsp_deflate_choose(request_headers, cfg, agreed)) return WSP_ERR_NOT_FOUND;
    negotiate_ctx ctx = {agreed};
    int rc = wsp_build(write_agreed, &ctx, (uint8_t *)out, out_cap, out_len);
    if (rc == WSP_OK && out) (*out_len)--; /* the NUL is not part of the length */
    return rc;
}

void wsp_deflate_write_offer(wsp_writer *w, const wsp_deflate_config *cfg)
{
    wsp_deflate_params offer;
    memset(&offer, 0, sizeof offer);
    offer.server_no_context_takeover = cfg->peer_no_context_takeover;
    offer.client_no_context_takeover = cfg->no_context_takeover;
    offer.server_max_window_bits = wsp_deflate_bits_or(cfg->peer_max_window_bits, 0);
    /* Always announce that the server may limit our window. */
    offer.client_max_window_bits =
        wsp_deflate_bits_or(cfg->max_window_bits, WSP_DEFLATE_BITS_NO_VALUE);
    if (offer.client_max_window_bits == 15) offer.client_max_window_bits = WSP_DEFLATE_BITS_NO_VALUE;
    wsp_deflate_write_params(w, &offer);
}

int wsp_deflate_check_response(const wsp_headers *response_headers,
                               const wsp_deflate_config *cfg,
                               wsp_deflate_params *agreed, int *found)
{
    size_t pos = 0, list_pos = 0, n;
    const char *item;
    *found = 0;
    while (wsp_upgrade_next_extension(response_headers, &pos, &list_pos, &item,
                                      &n) == WSP_OK) {
        wsp_deflate_params p;
        int rc = wsp_deflate_parse(item, n, 1, &p);
        if (rc == WSP_ERR_NOT_FOUND) continue;
        /* RFC 7692 7: one response element, all of whose parameters the
         * offer allowed. */
        if (rc != WSP_OK || *found) return WSP_ERR_HTTP_EXTENSION;
        int offered_server_bits = wsp_deflate_bits_or(cfg->peer_max_window_bits, 0);
        if (cfg->peer_no_context_takeover && !p.server_no_context_takeover)
            return WSP_ERR_HTTP_EXTENSION;
        if (offered_server_bits && (!p.server_max_window_bits ||
                                    p.server_max_window_bits > offered_server_bits))
            return WSP_ERR_HTTP_EXTENSION;
        int own = wsp_deflate_bits_or(cfg->max_window_bits, 15);
        if (p.client_max_window_bits > own) return WSP_ERR_HTTP_EXTENSION;
        *agreed = p;
        *found = 1;
    }
    return WSP_OK;
}
