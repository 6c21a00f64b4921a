/* Cross-module helpers shared inside the library; not installed. */
#ifndef WSP_INTERNAL_H
#define WSP_INTERNAL_H

#include "wsproto.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define WSP_INTERNAL __attribute__((visibility("hidden")))
#else
#define WSP_INTERNAL
#endif

/* sha1.c */
#define WSP_SHA1_LEN 20
typedef struct wsp_sha1 {
    uint32_t h[5];
    uint64_t total;
    uint8_t block[64];
    size_t fill;
} wsp_sha1;
WSP_INTERNAL void wsp_sha1_init(wsp_sha1 *s);
WSP_INTERNAL void wsp_sha1_update(wsp_sha1 *s, const void *data, size_t len);
WSP_INTERNAL void wsp_sha1_final(wsp_sha1 *s, uint8_t digest[WSP_SHA1_LEN]);

/* base64.c: standard alphabet with padding (RFC 4648 4). */
#define WSP_BASE64_LEN(n) ((((n) + 2u) / 3u) * 4u)
/* Writes WSP_BASE64_LEN(len) characters (no NUL). */
WSP_INTERNAL void wsp_base64_encode(const uint8_t *in, size_t len, char *out);
/* Decodes strict padded base64 into out (cap bytes). Returns the decoded
 * length, or -1 if the input is not canonical padded base64 or does not fit. */
WSP_INTERNAL long wsp_base64_decode(const char *in, size_t len, uint8_t *out,
                                    size_t cap);

/* http.c: ASCII case-insensitive compare of n bytes with a NUL-terminated
 * lower-case literal of the same length. */
WSP_INTERNAL int wsp_ascii_ieq(const char *a, size_t a_len, const char *lower);
/* Drops spaces and tabs (HTTP's OWS) from both ends of s[0..*len). */
WSP_INTERNAL void wsp_trim_ows(const char **s, size_t *len);
/* 1 if the comma list holds `token` (case-insensitive), 0 otherwise. */
WSP_INTERNAL int wsp_list_has_token(const char *list, size_t len,
                                    const char *lower_token);
/* RFC 9110 tchar. */
WSP_INTERNAL int wsp_is_tchar(unsigned char c);

/* http.c: a head that arrives in pieces, parsed in linear time. Each call
 * looks only at the bytes the calls before it had not seen; its result is
 * that of wsp_http_parse_request/_response on buf[0..len).
 *
 * Zero the progress before the first piece. Every later call must see the
 * same bytes at the start of buf (buf itself may move between calls, since
 * only offsets are kept), followed by the new ones. The progress is kept
 * on WSP_ERR_NEED_MORE; WSP_OK zeroes it again (apart from `examined`);
 * any other status leaves it as it was. Given fewer bytes than it had
 * searched, it starts over. */
enum wsp_head_phase { WSP_HEAD_START_LINE = 0, WSP_HEAD_FIELDS };
/* How far the early check of an incomplete start line got. */
enum wsp_start_prefix { WSP_PREFIX_CRS = 0, WSP_PREFIX_NAME, WSP_PREFIX_FITS };
typedef struct wsp_http_progress {
    size_t line_start;    /* the line whose LF has not come yet */
    size_t searched;      /* [line_start, searched) holds no LF */
    size_t start_line;    /* where the start line begins, once complete */
    size_t headers;       /* header lines seen */
    size_t examined;      /* bytes looked at so far, summed over calls:
                             lets tests check the cost stays linear */
    uint8_t phase;        /* enum wsp_head_phase */
    uint8_t prefix;       /* enum wsp_start_prefix */
    uint8_t literal;      /* bytes of "HTTP/" matched (responses) */
} wsp_http_progress;
WSP_INTERNAL int wsp_http_resume_request(const char *buf, size_t len,
                                         size_t max_bytes, size_t max_headers,
                                         wsp_http_progress *progress,
                                         wsp_request *req, size_t *consumed);
WSP_INTERNAL int wsp_http_resume_response(const char *buf, size_t len,
                                          size_t max_bytes, size_t max_headers,
                                          wsp_http_progress *progress,
                                          wsp_response *resp, size_t *consumed);

/* handshake.c: the client side, used by conn.c. key is the base64 key
 * (NUL-terminated). */
WSP_INTERNAL int wsp_handshake_build_request(const wsp_client_options *opts,
                                             const char *key, uint8_t *out,
                                             size_t out_cap, size_t *out_len);
/* Checks a response head against the request; on success the chosen
 * subprotocol and the extensions value (NULL if none) point into resp. */
WSP_INTERNAL int wsp_handshake_check_response(
    const wsp_response *resp, const char *accept, const wsp_client_options *opts,
    int deflate_offered,
    const char **subprotocol, size_t *subprotocol_len, const char **extensions,
    size_t *extensions_len);

/* status.c: valid close code received on the wire (RFC 6455 7.4). */
WSP_INTERNAL int wsp_close_code_valid(uint16_t code);
/* The description part of wsp_strerror(status), fit for a close reason. */
WSP_INTERNAL const char *wsp_status_reason(int status);

/* conn.c uses this writer for bounded output. */
typedef struct wsp_writer {
    uint8_t *out;
    size_t cap;
    size_t len; /* may exceed cap: then only counting */
} wsp_writer;
WSP_INTERNAL void wsp_write(wsp_writer *w, const void *data, size_t len);
WSP_INTERNAL void wsp_write_str(wsp_writer *w, const char *s);
WSP_INTERNAL void wsp_write_uint(wsp_writer *w, unsigned long v);

/* http.c: runs a builder once to measure and, if the result fits, once more
 * to write, so a buffer that is too small is left untouched. The builder
 * returns WSP_OK or its own error (e.g. WSP_ERR_INVALID_ARG). */
typedef int (*wsp_build_fn)(wsp_writer *w, const void *ctx);
WSP_INTERNAL int wsp_build(wsp_build_fn build, const void *ctx, uint8_t *out,
                           size_t out_cap, size_t *out_len);

/* deflate_negotiate.c */
/* bits if it is a window size zlib and RFC 7692 allow (8..15), else dflt. */
WSP_INTERNAL int wsp_deflate_bits_or(int bits, int dflt);
/* Picks the first acceptable offer; returns 1 and fills *agreed, or 0. */
WSP_INTERNAL int wsp_deflate_choose(const wsp_headers *request_headers,
                                    const wsp_deflate_config *cfg,
                                    wsp_deflate_params *agreed);
WSP_INTERNAL void wsp_deflate_write_params(wsp_writer *w, const wsp_deflate_params *p);
WSP_INTERNAL void wsp_deflate_write_offer(wsp_writer *w, const wsp_deflate_config *cfg);
/* Checks the server's permessage-deflate answer; *found says whether it
 * accepted the offer. Returns WSP_OK or WSP_ERR_HTTP_EXTENSION. */
WSP_INTERNAL int wsp_deflate_check_response(const wsp_headers *response_headers,
                                            const wsp_deflate_config *cfg,
                                            wsp_deflate_params *agreed, int *found);

/* deflate.c: per-connection compression state, allocated with `a`. */
typedef struct wsp_deflate wsp_deflate;
WSP_INTERNAL int wsp_deflate_create(const wsp_allocator *a, const wsp_deflate_config *cfg,
                                    const wsp_deflate_params *agreed, int role,
                                    wsp_deflate **out);
WSP_INTERNAL void wsp_deflate_destroy(wsp_deflate *d);
/* Inflates in[0..in_len) (end: these are the last bytes of the message)
 * into the state's buffer. *used may be less than in_len when the buffer
 * filled; *done is set once the whole message is out. Returns WSP_OK,
 * WSP_ERR_PROTO_EXTENSION for corrupt data, WSP_ERR_NOMEM. */
WSP_INTERNAL int wsp_deflate_inflate(wsp_deflate *d, const uint8_t *in, size_t in_len,
                                     int end, size_t *used, uint8_t **out,
                                     size_t *out_len, int *done);
/* Whether the last inflate filled the buffer, so zlib may hold more output
 * for the input it already took. */
WSP_INTERNAL int wsp_deflate_output_pending(const wsp_deflate *d);
/* Compresses one piece of a message (final: the last piece) into out,
 * which holds at least wsp_deflate_compress_bound(len) bytes. */
WSP_INTERNAL int wsp_deflate_compress(wsp_deflate *d, const uint8_t *in, size_t len,
                                      int final, uint8_t *out, size_t cap,
                                      size_t *out_len);
WSP_INTERNAL size_t wsp_deflate_compress_bound(size_t len);
WSP_INTERNAL int wsp_deflate_can_compress(const wsp_deflate *d, size_t len);

#endif
