/**
 * @file
 * @brief The whole public API of libwsproto.
 *
 * libwsproto: a sans-I/O WebSocket (RFC 6455) protocol library.
 *
 * The library never touches a socket, a clock or a file. Bytes the caller
 * received go in through wsp_conn_recv(); events come out one per call.
 * Bytes to send are written into buffers the caller provides.
 *
 * Layers, each usable alone:
 *   1. Stateless helpers: frame header parse/encode, masking, incremental
 *      UTF-8 validation, Sec-WebSocket-Accept computation, token lists.
 *   2. Handshake helpers: HTTP/1.1 request/response parsing, validation of
 *      an upgrade request given as raw bytes or as pre-parsed headers, and
 *      building of the 101 / error responses and of the client request.
 *   3. wsp_conn: one connection's state machine on top of both.
 *
 * Conventions used throughout:
 *   - Every function returns an int status: WSP_OK (0) or a negative
 *     WSP_ERR_* value; wsp_strerror() names each one.
 *   - Pointer lifetimes (the one rule, stated once): a pointer in an event
 *     points either into the bytes the caller passed to wsp_conn_recv()
 *     (payload, pings, pongs, close reasons, HTTP heads: valid while the
 *     caller leaves those bytes in place) or, for pieces of a compressed
 *     message, into the connection's inflate buffer (valid until the next
 *     wsp_conn_recv(), wsp_conn_deinit() or wsp_conn_free() on that
 *     connection; sending does not touch it, so a piece can be echoed
 *     with wsp_conn_send() as it is). Static strings
 *     (reasons of failures, wsp_strerror()) live forever.
 *   - The library reads a pointer the caller passed only during the call,
 *     except where a function's documentation says otherwise (the config's
 *     allocator, entropy user data, origin policy and deflate settings, which
 *     must live as long as the connection).
 *   - Output functions write into (out, out_cap) and store the byte count in
 *     *out_len. On every failure, WSP_ERR_BUFFER_TOO_SMALL included, they
 *     write nothing and set *out_len to 0, so `n += out_len` after a failed
 *     call adds nothing. How much room a call needs is answered by
 *     wsp_conn_send_bound() and wsp_conn_pending_size(), and by the
 *     stateless builders themselves when called with out NULL and out_cap 0
 *     (they then return WSP_OK and the size, and write nothing).
 *   - Every size computation is checked for overflow; a size that cannot be
 *     represented in size_t is refused with WSP_ERR_LIMIT.
 *   - Nothing here is global: every function works only on what it is given.
 *     A connection may be used by one thread at a time.
 */
#ifndef WSPROTO_H
#define WSPROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(WSP_SHARED_BUILD)
#define WSP_API __declspec(dllexport)
#elif defined(_WIN32) && defined(WSP_SHARED)
#define WSP_API __declspec(dllimport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define WSP_API __attribute__((visibility("default")))
#else
#define WSP_API
#endif

#define WSP_VERSION_MAJOR 0 /**< Major version of this header; see CHANGELOG.md */
#define WSP_VERSION_MINOR 2 /**< Minor version of this header */
#define WSP_VERSION_PATCH 0 /**< Patch version of this header */
#define WSP_VERSION_STRING "0.2.0" /**< "MAJOR.MINOR.PATCH" of this header */

/* ------------------------------------------------------------------------
 * Status codes. Negative values are grouped by hundreds:
 *   -1..-99    usage and resource errors (the caller's side)
 *   -100..-199 HTTP handshake errors
 *   -200..-299 WebSocket protocol errors (the peer's side; sticky)
 * ---------------------------------------------------------------------- */
/** Status returned by every function: WSP_OK or a negative error. */
enum wsp_status {
    WSP_OK = 0, /**< success */

    WSP_ERR_INVALID_ARG = -1,      /**< a NULL pointer, bad opcode, bad code... */
    WSP_ERR_STATE = -2,            /**< call not valid in the current state */
    WSP_ERR_BUFFER_TOO_SMALL = -3, /**< out_cap too small; nothing written */
    WSP_ERR_NOMEM = -4,            /**< the allocator returned NULL */
    WSP_ERR_ENTROPY = -5,          /**< the entropy source failed */
    WSP_ERR_NEED_MORE = -6,        /**< input ends before the item does */
    WSP_ERR_LIMIT = -7,            /**< a size limit or size_t would be exceeded */
    WSP_ERR_CLOSED = -8,           /**< connection closed: nothing more to do */
    WSP_ERR_UNSUPPORTED = -9,      /**< feature not compiled in (e.g. deflate) */
    WSP_ERR_NOT_FOUND = -10,       /**< no (more) such item: absent header,
                                        end of a list, no acceptable offer */

    WSP_ERR_HTTP_MALFORMED = -100,   /**< 400: not parseable as HTTP/1.1, or
                                          a malformed extended CONNECT (a
                                          bad or missing :scheme, :path or
                                          :authority, a connection-specific
                                          field) */
    WSP_ERR_HTTP_METHOD = -101,      /**< 405: method is not the upgrade's
                                          (GET for HTTP/1.1, CONNECT for
                                          RFC 8441) */
    WSP_ERR_HTTP_VERSION = -102,     /**< 400: HTTP version below 1.1 (client: of the 101) */
    WSP_ERR_HTTP_HOST = -103,        /**< 400: Host missing or repeated */
    WSP_ERR_HTTP_UPGRADE = -104,     /**< 400: not a WebSocket request: no
                                          Upgrade header naming websocket,
                                          or an extended CONNECT without
                                          :protocol */
    WSP_ERR_HTTP_CONNECTION = -105,  /**< 400: Connection lacks "upgrade" */
    WSP_ERR_HTTP_KEY = -106,         /**< 400: Sec-WebSocket-Key bad/missing */
    WSP_ERR_HTTP_WS_VERSION = -107,  /**< 426: Sec-WebSocket-Version is not 13 */
    WSP_ERR_HTTP_TOO_LARGE = -108,   /**< 431: header bytes or count over limit */
    WSP_ERR_HTTP_STATUS = -109,      /**< client: status is not 101 */
    WSP_ERR_HTTP_ACCEPT = -110,      /**< client: Sec-WebSocket-Accept mismatch */
    WSP_ERR_HTTP_SUBPROTOCOL = -111, /**< client: subprotocol not offered */
    WSP_ERR_HTTP_EXTENSION = -112,   /**< client: extension not offered */
    WSP_ERR_HTTP_ORIGIN = -113,      /**< 403: Origin not allowed */
    WSP_ERR_HTTP_PROTOCOL_UNSUPPORTED = -114, /**< 501: an extended CONNECT
                                          for a :protocol other than
                                          websocket (RFC 8441 4, RFC 9220
                                          3) */

    WSP_ERR_PROTO_RSV = -200,              /**< 1002: RSV bit not negotiated */
    WSP_ERR_PROTO_OPCODE = -201,           /**< 1002: reserved opcode */
    WSP_ERR_PROTO_MASK = -202,             /**< 1002: wrong masking for role */
    WSP_ERR_PROTO_CONTROL_TOO_LONG = -203, /**< 1002: control payload > 125 */
    WSP_ERR_PROTO_CONTROL_FRAGMENTED = -204, /**< 1002: control frame, FIN=0 */
    WSP_ERR_PROTO_CONTINUATION = -205,     /**< 1002: continuation, no message */
    WSP_ERR_PROTO_EXPECTED_CONTINUATION = -206, /**< 1002: new message in one */
    WSP_ERR_PROTO_LENGTH = -207,           /**< 1002: bad length encoding */
    WSP_ERR_PROTO_CLOSE_PAYLOAD = -208,    /**< 1002: 1-byte close payload */
    WSP_ERR_PROTO_CLOSE_CODE = -209,       /**< 1002: invalid close code */
    WSP_ERR_PROTO_UTF8 = -210,             /**< 1007: invalid UTF-8 */
    WSP_ERR_PROTO_TOO_BIG = -211,          /**< 1009: frame/message over limit */
    WSP_ERR_PROTO_TOO_MANY_FRAGMENTS = -212, /**< 1009: fragments over limit */
    WSP_ERR_PROTO_EXTENSION = -213         /**< 1002: compressed data invalid */
};

/** The name and a one-line description of a status, e.g.
 * "WSP_ERR_PROTO_MASK: frame masking is wrong for the role". Never NULL;
 * unknown values give "unknown status". The string is static. */
WSP_API const char *wsp_strerror(int status);

/** The RFC 6455 close code sent to the peer when a protocol error with this
 * status happens (1002, 1007 or 1009), or 0 if the status is not a protocol
 * error. */
WSP_API uint16_t wsp_status_close_code(int status);

/** The HTTP status a server answers for a handshake error status (400, 403,
 * 405, 426, 431, 501), or 0 if the status is not a server handshake error.
 * The 426 is HTTP/1.1's: over HTTP/2 an extended CONNECT answers
 * WSP_ERR_HTTP_WS_VERSION with 400 (see wsp_connect_validate()). */
WSP_API int wsp_status_http_code(int status);

/** Version of the library linked at run time (see wsp_version()). */
typedef struct wsp_version_info {
    int age; /**< grows when fields are appended; this layout is age 1 */
    /** @{ */
    int major, minor, patch; /**< WSP_VERSION_MAJOR, _MINOR, _PATCH of the build */
    /** @} */
    const char *string; /**< WSP_VERSION_STRING of the build */
} wsp_version_info;

/** Static information about the linked library. Never NULL. */
WSP_API const wsp_version_info *wsp_version(void);

/* ------------------------------------------------------------------------
 * Layer 1: frames, masking, UTF-8, accept key.
 * ---------------------------------------------------------------------- */
/** Frame opcodes (RFC 6455 5.2). */
typedef enum wsp_opcode {
    WSP_OP_CONTINUATION = 0x0, /**< continues a fragmented message */
    WSP_OP_TEXT = 0x1,         /**< a text message (UTF-8) */
    WSP_OP_BINARY = 0x2,       /**< a binary message */
    WSP_OP_CLOSE = 0x8,        /**< close frame */
    WSP_OP_PING = 0x9,         /**< ping frame */
    WSP_OP_PONG = 0xA          /**< pong frame */
} wsp_opcode;

/** Largest frame header: 2 + 8 (64-bit length) + 4 (mask key). */
#define WSP_MAX_FRAME_HEADER 14
/** Largest control frame payload (RFC 6455 5.5). */
#define WSP_MAX_CONTROL_PAYLOAD 125

/** A decoded frame header (RFC 6455 5.2). */
typedef struct wsp_frame_header {
    uint8_t fin;           /**< 1 if FIN is set */
    uint8_t rsv;           /**< RSV1..RSV3 as bits 2..0 (RSV1 = 4) */
    uint8_t opcode;        /**< raw 4-bit opcode, not validated */
    uint8_t masked;        /**< 1 if MASK is set */
    uint8_t mask_key[4];   /**< valid when masked */
    uint64_t payload_len;  /**< decoded length */
    size_t header_len;     /**< bytes the header occupied, 2..14 */
} wsp_frame_header;

/** Parses one frame header from buf[0..len).
 * Returns WSP_OK and fills *out; WSP_ERR_NEED_MORE if len is shorter than
 * the header (nothing written); WSP_ERR_PROTO_LENGTH if the 64-bit length
 * has its top bit set or a length is not minimally encoded (RFC 6455 5.2:
 * "the minimal number of bytes MUST be used"); WSP_ERR_INVALID_ARG for NULL
 * pointers. Opcode, RSV and mask rules depend on the role and negotiated
 * extensions, so they are left to the caller (wsp_conn checks them). */
WSP_API int wsp_frame_parse_header(const uint8_t *buf, size_t len,
                                   wsp_frame_header *out);

/** Encodes a frame header into out (it takes 2 to WSP_MAX_FRAME_HEADER
 * bytes; *out_len says how many). fin, rsv (bits 2..0), opcode and
 * payload_len are taken from hdr; if hdr->masked, mask_key is written too.
 * With out NULL and out_cap 0 it only measures (WSP_OK, size in *out_len).
 * Returns WSP_OK, WSP_ERR_BUFFER_TOO_SMALL, or WSP_ERR_INVALID_ARG (opcode
 * over 0xF, rsv over 7, length with the top bit set); *out_len is 0 on
 * failure. */
WSP_API int wsp_frame_encode_header(const wsp_frame_header *hdr, uint8_t *out,
                                    size_t out_cap, size_t *out_len);

/** XORs buf[0..len) in place with the 4-byte key, starting at byte
 * `offset` of the key stream (only offset % 4 matters), so a payload
 * arriving in pieces can be unmasked piece by piece: pass the number of
 * payload bytes already processed. Masking and unmasking are the same. */
WSP_API void wsp_mask(uint8_t *buf, size_t len, const uint8_t key[4],
                      uint64_t offset);

/** Like wsp_mask but reads src and writes dst (they may be equal but must
 * not otherwise overlap). */
WSP_API void wsp_mask_copy(uint8_t *dst, const uint8_t *src, size_t len,
                           const uint8_t key[4], uint64_t offset);

/** UTF-8 validator state at the start, and at the end of complete text. */
#define WSP_UTF8_ACCEPT 0u
/** Incremental UTF-8 validation. Start with *state = 0 (WSP_UTF8_ACCEPT)
 * and carry it across calls. Returns WSP_OK if buf is valid so far (a code
 * point may still be open: *state != 0), or WSP_ERR_PROTO_UTF8 at the first
 * byte that can never be part of valid UTF-8 (overlongs, surrogates, code
 * points over U+10FFFF, stray continuation bytes); then *error_offset (if
 * not NULL) is that byte's index in buf and *state is left unusable. At the
 * end of a message, *state must be 0: otherwise the text was cut inside a
 * code point. */
WSP_API int wsp_utf8_validate(uint32_t *state, const uint8_t *buf, size_t len,
                              size_t *error_offset);

/** Length of a Sec-WebSocket-Accept value (base64 of a SHA-1 digest). */
#define WSP_ACCEPT_LEN 28

/** Computes the Sec-WebSocket-Accept value for a Sec-WebSocket-Key value
 * (RFC 6455 4.2.2): base64(SHA-1(key + GUID)). out receives WSP_ACCEPT_LEN
 * characters and a terminating NUL. The key is used as given (the caller
 * trims whitespace). Returns WSP_OK or WSP_ERR_INVALID_ARG. */
WSP_API int wsp_accept_key(const char *key, size_t key_len,
                           char out[WSP_ACCEPT_LEN + 1]);

/** Iterates over a comma-separated HTTP list (RFC 9110 5.6.1), skipping
 * empty elements and optional whitespace. Start with *pos = 0. Returns
 * WSP_OK with *item / *item_len set to the next element (not copied, points
 * into list), or WSP_ERR_NOT_FOUND when there is none left. Elements keep
 * any ";params" they carry. */
WSP_API int wsp_list_next(const char *list, size_t list_len, size_t *pos,
                          const char **item, size_t *item_len);

/* ------------------------------------------------------------------------
 * Layer 2: HTTP handshake.
 * ---------------------------------------------------------------------- */
/** One HTTP header field; the strings are not NUL-terminated. */
typedef struct wsp_header {
    const char *name;  /**< field name */
    size_t name_len;   /**< bytes in name */
    const char *value; /**< field value */
    size_t value_len;  /**< bytes in value */
} wsp_header;

/** A set of HTTP headers, given either as the raw header block (the lines
 * after the start line, as received) or as an array of name/value pairs
 * parsed by someone else. Exactly one of the two is used: `array` when it is
 * not NULL. Nothing is copied: the pointers are the caller's or point into
 * the caller's receive buffer. */
typedef struct wsp_headers {
    const wsp_header *array; /**< pre-parsed headers, or NULL to use raw */
    size_t count;            /**< entries in array */
    const char *raw;         /**< raw header lines, each ending in CRLF */
    size_t raw_len;          /**< bytes in raw */
} wsp_headers;

/** Iterates over every header in order. Start with *pos = 0. Returns WSP_OK
 * with *out filled (pointers into the header set), or WSP_ERR_NOT_FOUND at
 * the end. Values have surrounding whitespace removed. */
WSP_API int wsp_headers_next(const wsp_headers *h, size_t *pos,
                             wsp_header *out);

/** Finds the first header named `name` (case-insensitive). Returns WSP_OK
 * with *value / *value_len set, or WSP_ERR_NOT_FOUND if absent. */
WSP_API int wsp_headers_get(const wsp_headers *h, const char *name,
                            const char **value, size_t *value_len);

/** An HTTP request, either parsed by wsp_http_parse_request() or filled in by
 * an application that has its own HTTP parser. */
typedef struct wsp_request {
    const char *method;               /**< e.g. "GET" (not NUL-terminated) */
    size_t method_len;                /**< bytes in method */
    const char *target;               /**< request target, e.g. "/chat" */
    size_t target_len;                /**< bytes in target */
    /** @{ */
    int version_major, version_minor; /**< HTTP version, e.g. 1 and 1 */
    /** @} */
    wsp_headers headers;              /**< the header fields */
} wsp_request;

/** An HTTP response head as parsed by wsp_http_parse_response(). */
typedef struct wsp_response {
    /** @{ */
    int version_major, version_minor; /**< HTTP version, e.g. 1 and 1 */
    /** @} */
    int status;                       /**< status code, e.g. 101 */
    const char *reason;               /**< reason phrase (not NUL-terminated) */
    size_t reason_len;                /**< bytes in reason */
    wsp_headers headers;              /**< the header fields */
} wsp_response;

/** Default limit on the bytes of a received HTTP head (0 selects it). */
#define WSP_DEFAULT_MAX_HEADER_BYTES 8192u
/** Default limit on the header lines of a received HTTP head (0 selects it). */
#define WSP_DEFAULT_MAX_HEADERS 64u

/** Parses an HTTP/1.x request head from buf[0..len). Lines end in CRLF (a
 * bare LF is accepted too); obsolete line folding is rejected.
 * Returns WSP_OK with *req filled (pointers into buf) and *consumed set to
 * the head's length including the blank line; WSP_ERR_NEED_MORE when the
 * head is not complete yet; WSP_ERR_HTTP_TOO_LARGE when the head (complete
 * or not) exceeds max_bytes or max_headers; WSP_ERR_HTTP_MALFORMED.
 * (0 for max_bytes / max_headers selects the defaults above.) */
WSP_API int wsp_http_parse_request(const char *buf, size_t len,
                                   size_t max_bytes, size_t max_headers,
                                   wsp_request *req, size_t *consumed);

/** Same for a response head (status line "HTTP/1.1 101 Reason"). */
WSP_API int wsp_http_parse_response(const char *buf, size_t len,
                                    size_t max_bytes, size_t max_headers,
                                    wsp_response *resp, size_t *consumed);

/** Origin policy for servers (RFC 6455 10.2, RFC 6454). Browsers always send
 * Origin; other clients usually do not. With `enabled` 0 every request
 * passes. When enabled, a request passes if its Origin equals one of
 * `origins` (scheme and host compared case-insensitively, default ports
 * and a trailing "/" ignored), or it is the literal "null" and allow_null
 * is set, or it has no Origin and allow_missing is set. Others get 403.
 * wsp_origin_check() tells whether an entry for `origins` can ever match. */
typedef struct wsp_origin_policy {
    int enabled;                /**< 0: every request passes */
    const char *const *origins; /**< allowed origins, e.g. "https://example.com" */
    size_t count;               /**< entries in origins */
    int allow_null;             /**< 1: accept the origin "null" */
    int allow_missing;          /**< 1: accept requests without Origin */
} wsp_origin_policy;

/** Checks that `origin` (len bytes, no NUL needed) is a serialized origin
 * (RFC 6454 6.2) that wsp_origin_policy's `origins` can match:
 * scheme "://" host [":" port] [ "/" ]. The scheme is RFC 3986's (a letter,
 * then letters, digits, "+", "-", "."); the host is letters, digits, "-",
 * ".", "_", "~", or an IPv6 literal in brackets; the port is 1-65535 in
 * decimal. Case does not matter, and a single trailing "/" is accepted
 * because the policy ignores it. Paths, queries, user info, spaces, NUL
 * bytes and the literal "null" (allowed by `allow_null`, never by a list
 * entry) are refused. Returns WSP_OK or WSP_ERR_INVALID_ARG (also for a
 * NULL origin). Reads nothing after it returns. */
WSP_API int wsp_origin_check(const char *origin, size_t len);

/** What a valid upgrade request asks for. Pointers point into the request's
 * strings (none into this struct, so a copy stays valid as long as they). */
typedef struct wsp_upgrade_info {
    const char *host;   /**< the Host header value */
    size_t host_len;    /**< bytes in host */
    const char *origin; /**< NULL if absent */
    size_t origin_len;  /**< bytes in origin */
    const char *key;    /**< the Sec-WebSocket-Key value */
    size_t key_len;     /**< bytes in key */
    /** The request's headers (a copy of wsp_request.headers), for
     * wsp_upgrade_next_subprotocol() / wsp_upgrade_next_extension(). */
    wsp_headers headers;
    char accept[WSP_ACCEPT_LEN + 1]; /**< Sec-WebSocket-Accept to answer, NUL-terminated */
} wsp_upgrade_info;

/** Validates an upgrade request (RFC 6455 4.2.1): GET, HTTP/1.1 or later,
 * Host present once, Upgrade lists "websocket", Connection lists "upgrade",
 * Sec-WebSocket-Key decodes to 16 bytes, Sec-WebSocket-Version is 13, and
 * the origin policy (may be NULL) passes. Returns WSP_OK with *info filled,
 * or the first failing WSP_ERR_HTTP_* status (wsp_status_http_code() gives
 * the HTTP status to answer). Works with pre-parsed headers too. */
WSP_API int wsp_upgrade_validate(const wsp_request *req,
                                 const wsp_origin_policy *origin_policy,
                                 wsp_upgrade_info *info);

/** Iterate over offered subprotocols (every Sec-WebSocket-Protocol header,
 * each a comma list) or extension offers (every Sec-WebSocket-Extensions
 * header; each item is one offer with its ";params"). Start with *pos = 0 and
 * *list_pos = 0. Return WSP_OK with the next item or WSP_ERR_NOT_FOUND. */
WSP_API int wsp_upgrade_next_subprotocol(const wsp_headers *h, size_t *pos,
                                         size_t *list_pos, const char **item,
                                         size_t *item_len);
/** Like wsp_upgrade_next_subprotocol(), over the Sec-WebSocket-Extensions
 * offers. */
WSP_API int wsp_upgrade_next_extension(const wsp_headers *h, size_t *pos,
                                       size_t *list_pos, const char **item,
                                       size_t *item_len);

/** How a server answers a valid upgrade request. All strings are copied into
 * the output; none need outlive the call. */
typedef struct wsp_accept_options {
    const char *subprotocol;    /**< chosen subprotocol (a token) or NULL;
                                     it must be one the client offered
                                     (wsp_upgrade_next_subprotocol), which
                                     the library does not check again */
    const char *extensions;     /**< Sec-WebSocket-Extensions value or NULL */
    const wsp_header *headers;  /**< extra response headers (may be NULL) */
    size_t header_count;        /**< entries in headers */
    int no_deflate;             /**< 1: do not accept permessage-deflate */
} wsp_accept_options;

/** Writes "HTTP/1.1 101 Switching Protocols" with Upgrade, Connection,
 * Sec-WebSocket-Accept (accept is wsp_upgrade_info.accept) and the options.
 * Returns WSP_OK, WSP_ERR_BUFFER_TOO_SMALL, or WSP_ERR_INVALID_ARG when a
 * header name or value holds CR, LF or NUL, or the subprotocol is not a
 * token; *out_len is 0 on failure. With out NULL and out_cap 0 it only
 * measures. opts may be NULL. */
WSP_API int wsp_upgrade_build_response(const char *accept,
                                       const wsp_accept_options *opts,
                                       uint8_t *out, size_t out_cap,
                                       size_t *out_len);

/** Writes a complete HTTP error response for http_status (400, 403, 404,
 * 405, 426, 431, 500, 503 or any 4xx/5xx), with Content-Length: 0 and
 * Connection: close; 426 carries "Sec-WebSocket-Version: 13" and 405 carries
 * "Allow: GET" as RFC 6455 4.2.2 and RFC 9110 require. Returns WSP_OK,
 * WSP_ERR_BUFFER_TOO_SMALL, or WSP_ERR_INVALID_ARG for a status outside
 * 400..599; *out_len is 0 on failure. With out NULL and out_cap 0 it only
 * measures. */
WSP_API int wsp_http_build_error(int http_status, uint8_t *out,
                                 size_t out_cap, size_t *out_len);

/* ------------------------------------------------------------------------
 * Layer 2 for clients that do not use wsp_conn (their own framing, or a
 * test): the request wsp_conn_client_request writes and the check it
 * applies to the 101. wsp_client_options and WSP_MAX_CLIENT_OFFER are
 * documented with the connection below.
 * ---------------------------------------------------------------------- */
struct wsp_client_options;
struct wsp_response_event;

/** Writes a client's upgrade request (RFC 6455 4.1) for the 16 random
 * bytes in nonce (the caller draws them from a CSPRNG, one set per
 * connection; the library base64-encodes them into Sec-WebSocket-Key).
 * Nothing in opts is read after the call. With out NULL and out_cap 0 it
 * only measures. Returns WSP_OK, WSP_ERR_BUFFER_TOO_SMALL,
 * WSP_ERR_INVALID_ARG (missing host, a target or header with forbidden
 * bytes, a subprotocol that is not a token), WSP_ERR_LIMIT (the offers
 * exceed WSP_MAX_CLIENT_OFFER); *out_len is 0 on failure. */
WSP_API int wsp_upgrade_build_request(const struct wsp_client_options *opts,
                                      const uint8_t nonce[16], uint8_t *out,
                                      size_t out_cap, size_t *out_len);

/** Checks a parsed response (wsp_http_parse_response) to the request
 * built with the same opts and nonce: status 101 from HTTP/1.1 or later,
 * Upgrade and Connection, the Sec-WebSocket-Accept for the nonce, at most
 * one subprotocol and one that was offered, and only extensions whose names
 * were offered (an extension's parameters are the caller's to check, e.g.
 * with wsp_deflate_parse). Fills *result (status, http_status, a copy of
 * *resp, the chosen subprotocol and the extensions value, pointing into
 * the response's buffer) and returns result->status: WSP_OK, a
 * WSP_ERR_HTTP_* reason, WSP_ERR_LIMIT (offers over WSP_MAX_CLIENT_OFFER),
 * or WSP_ERR_INVALID_ARG (*result then untouched). */
WSP_API int wsp_upgrade_check_response(const wsp_response *resp,
                                       const struct wsp_client_options *opts,
                                       const uint8_t nonce[16],
                                       struct wsp_response_event *result);

/* ------------------------------------------------------------------------
 * Layer 2 for HTTP/2 and HTTP/3: the extended CONNECT handshake (RFC 8441,
 * RFC 9220). The caller's HTTP/2 or HTTP/3 stack parses the request's
 * header block; the library checks the fields, negotiates
 * permessage-deflate and says what the response carries. There is no key
 * and no 101: the stream itself becomes the WebSocket, and its DATA bytes
 * go to wsp_conn_recv() (RFC 8441 5).
 * ---------------------------------------------------------------------- */
struct wsp_conn;

/** Pseudo-header fields and regular header fields of an extended CONNECT
 * request as an HTTP/2 or HTTP/3 stack parsed them. Pointers are the
 * caller's; nothing is copied, and none is read after the call returns. A
 * field the request lacks is NULL with length 0.
 *
 * The stack must already have enforced RFC 9113 8.2 and 8.3 on the header
 * block (RFC 9114 4.2 and 4.3 for HTTP/3): field names in lowercase, no
 * leading or trailing whitespace in values, each pseudo-header at most
 * once and before every regular field. nghttp2 does so by default; the
 * library does not check those again. It does refuse a regular field
 * whose name starts with ':' (WSP_ERR_HTTP_MALFORMED), since putting each
 * field in its place is the caller's step. */
typedef struct wsp_connect_request {
    const char *method;     /**< :method; must be "CONNECT" (case-sensitive) */
    size_t method_len;      /**< bytes in method */
    const char *protocol;   /**< :protocol; must be "websocket" (any case,
                                 as the HTTP/1.1 Upgrade token) */
    size_t protocol_len;    /**< bytes in protocol */
    const char *scheme;     /**< :scheme; "https" (wss) or "http" (ws), any
                                 case */
    size_t scheme_len;      /**< bytes in scheme */
    const char *authority;  /**< :authority; required and non-empty */
    size_t authority_len;   /**< bytes in authority */
    const char *path;       /**< :path; required, starts with "/" */
    size_t path_len;        /**< bytes in path */
    /** The regular fields (names in lowercase, as HTTP/2 sends them; the
     * library matches them in any case), usually in array form. */
    wsp_headers headers;
} wsp_connect_request;

/** What a valid extended CONNECT asks for. Pointers point into the
 * request's strings (none into this struct), so they are valid as long as
 * those are. */
typedef struct wsp_connect_info {
    const char *authority; /**< the :authority value */
    size_t authority_len;  /**< bytes in authority */
    const char *path;      /**< the :path value */
    size_t path_len;       /**< bytes in path */
    const char *origin;    /**< the origin field, NULL if absent */
    size_t origin_len;     /**< bytes in origin */
    /** A copy of wsp_connect_request.headers, for
     * wsp_upgrade_next_subprotocol() / wsp_upgrade_next_extension(). */
    wsp_headers headers;
} wsp_connect_info;

/** Validates an extended CONNECT request (RFC 8441 4 and 5), in this
 * order: :method is CONNECT (else WSP_ERR_HTTP_METHOD, 405); :protocol is
 * present and non-empty (else WSP_ERR_HTTP_UPGRADE, 400: not a WebSocket
 * request) and websocket in any case (else
 * WSP_ERR_HTTP_PROTOCOL_UNSUPPORTED, 501: RFC 8441 4, RFC 9220 3); :scheme, :path and
 * :authority are present and non-empty, :scheme is "http" or "https" in
 * any case (RFC 8441 5) and :path starts with "/" (RFC 9113 8.3.1) (else
 * WSP_ERR_HTTP_MALFORMED, 400: RFC 9113 8.3 calls such a request
 * malformed); no connection-specific
 * field: connection, upgrade, keep-alive, proxy-connection,
 * transfer-encoding, or a te other than "trailers" (else
 * WSP_ERR_HTTP_MALFORMED, 400: RFC 8441 5 says connection and upgrade
 * MUST NOT be sent, RFC 9113 8.2.2 makes any of them malformed) and no
 * regular field named like a pseudo-header, ":..." (else
 * WSP_ERR_HTTP_MALFORMED, RFC 9113 8.3); exactly
 * one sec-websocket-version field whose value is exactly "13" (else
 * WSP_ERR_HTTP_WS_VERSION: answer it 400 with sec-websocket-version: 13,
 * not the 426 wsp_status_http_code() gives for HTTP/1.1, because RFC 9110
 * 15.5.22 requires a 426 to carry Upgrade and RFC 9113 8.2.2 forbids
 * Upgrade in HTTP/2); at most one origin field, and
 * origin_policy (may be NULL: every origin passes) allows it (else
 * WSP_ERR_HTTP_ORIGIN, 403). sec-websocket-key is neither required nor
 * looked at: RFC 8441 5 replaces the key and accept exchange with the
 * stream itself.
 * Returns WSP_OK with *info filled, the first failing WSP_ERR_HTTP_*
 * status (*info then zeroed; wsp_status_http_code() gives the :status to
 * answer, except 400 for WSP_ERR_HTTP_WS_VERSION as said above), or WSP_ERR_INVALID_ARG (req or info NULL, or a field NULL with
 * a non-zero length). */
WSP_API int wsp_connect_validate(const wsp_connect_request *req,
                                 const wsp_origin_policy *origin_policy,
                                 wsp_connect_info *info);

/** Most bytes of wsp_conn_accept_connect()'s buf that are not the caller's
 * own strings: the longest permessage-deflate answer (128), the ", "
 * between it and opts->extensions, and a NUL after each of the two values.
 * It is not a bound on buf: the subprotocol and the application's
 * extensions are copied there too, so a buf_cap of
 *   WSP_CONNECT_RESPONSE_MAX + strlen(opts->subprotocol)
 *                            + strlen(opts->extensions)
 * (a NULL string counting 0) always suffices. The exact need is the
 * length of each value the answer carries, plus one NUL each. */
#define WSP_CONNECT_RESPONSE_MAX 132u

/** The answer to an extended CONNECT, as fields for the caller's HTTP/2 or
 * HTTP/3 stack to send on the stream. */
typedef struct wsp_connect_response {
    /** The :status to send: 200 on success (RFC 8441 5), else the error's
     * status (wsp_status_http_code(), but 400 for WSP_ERR_HTTP_WS_VERSION:
     * see wsp_connect_validate()); 0 when the call failed without an
     * answer. */
    int status;
    /** Fields to send after :status, names in lowercase (RFC 9113 8.2.1).
     * On success: sec-websocket-protocol and sec-websocket-extensions when
     * chosen, their values NUL-terminated in the caller's buf. On a
     * validation failure: sec-websocket-version: 13 with the 400 of
     * WSP_ERR_HTTP_WS_VERSION (RFC 6455 4.4), allow: CONNECT with 405
     * (RFC 9110 15.5.6), both static strings. Names are static strings. */
    wsp_header headers[3];
    size_t header_count; /**< entries of headers in use */
} wsp_connect_response;

/** Server, one call per stream: the RFC 8441 twin of
 * wsp_conn_accept_request(). conn is a server connection made with
 * wsp_conn_init() or wsp_conn_new() with start_open 0, to which no bytes
 * were fed. Validates req as wsp_connect_validate() does with the
 * connection's origin policy. On success it negotiates permessage-deflate
 * under the connection's wsp_config.deflate (unless opts->no_deflate) and
 * turns it on, copies opts->subprotocol and the extensions answer (the
 * library's own, then opts->extensions) into buf, fills *resp (status 200,
 * value pointers into buf) and opens the connection: it is OPEN and
 * wsp_conn_recv() / wsp_conn_send() work on the stream's DATA bytes.
 *
 * opts may be NULL. opts->headers and opts->header_count are not used:
 * extra response fields are the caller's to add to its own HTTP/2
 * response. opts->subprotocol must be one the client offered
 * (wsp_upgrade_next_subprotocol() over req->headers), which the library
 * does not check again.
 *
 * buf may be NULL with buf_cap 0 when the answer carries no value (no
 * subprotocol, no extension); see WSP_CONNECT_RESPONSE_MAX for the room it
 * needs otherwise. The library reads none of the pointers in req or opts
 * after the call; the values in *resp stay valid while buf does.
 *
 * Returns WSP_OK; a WSP_ERR_HTTP_* validation status, with *resp filled
 * with the error's :status and its required field (WSP_ERR_HTTP_WS_VERSION
 * is answered 400, not HTTP/1.1's 426: a 426 must carry Upgrade, which
 * HTTP/2 forbids, RFC 9110 15.5.22 and RFC 9113 8.2.2), and the connection
 * CLOSED with that status as its sticky error (wsp_conn_error() reports
 * it, wsp_conn_recv() returns it, wsp_conn_flush() owes nothing) (the one
 * failing status with output: send that response with END_STREAM); or, with *resp zeroed, the connection's state unchanged and
 * nothing in buf to rely on: WSP_ERR_BUFFER_TOO_SMALL,
 * WSP_ERR_STATE (a client, a connection past its handshake, or one that
 * was fed HTTP/1.1 bytes), WSP_ERR_INVALID_ARG (conn, req or resp NULL,
 * a req field NULL with a non-zero length, buf NULL with buf_cap non-zero,
 * a subprotocol that is not a token, an
 * extensions value holding CR, LF or NUL), WSP_ERR_NOMEM (compression
 * state could not be allocated). */
WSP_API int wsp_conn_accept_connect(struct wsp_conn *conn,
                                    const wsp_connect_request *req,
                                    const wsp_accept_options *opts, char *buf,
                                    size_t buf_cap, wsp_connect_response *resp);

/* ------------------------------------------------------------------------
 * Layer 3: the connection.
 * ---------------------------------------------------------------------- */
/** Which end of the connection this side is. */
typedef enum wsp_role { WSP_ROLE_SERVER = 0, /**< accepts the handshake */
                        WSP_ROLE_CLIENT = 1  /**< sends the request, masks frames */
} wsp_role;

/** Connection states (see docs/architecture.md). */
typedef enum wsp_state {
    WSP_STATE_HANDSHAKE = 0, /**< waiting for the request / the 101 */
    WSP_STATE_OPEN = 1,      /**< frames flow both ways */
    WSP_STATE_CLOSING = 2,   /**< a close was sent or received, not both */
    WSP_STATE_CLOSED = 3     /**< both closes done, or the connection failed */
} wsp_state;

/** Allocator hooks. realloc_fn may be NULL (malloc + copy + free is used).
 * free_fn receives the size that was allocated. */
typedef struct wsp_allocator {
    /** Allocates size bytes aligned for any object; NULL on failure. */
    void *(*malloc_fn)(size_t size, void *user);
    /** Resizes ptr from old_size to new_size bytes; NULL on failure (ptr is
     * then left as it was). */
    void *(*realloc_fn)(void *ptr, size_t old_size, size_t new_size,
                        void *user);
    /** Releases ptr, which holds size bytes. */
    void (*free_fn)(void *ptr, size_t size, void *user);
    void *user; /**< passed to each hook */
} wsp_allocator;

/** Fills buf with len cryptographically secure random bytes; returns 0 on
 * success, non-zero on failure (the calling function then fails with
 * WSP_ERR_ENTROPY: nothing falls back to a weaker source). */
typedef int (*wsp_entropy_fn)(uint8_t *buf, size_t len, void *user);

/** The default entropy source: the OS CSPRNG (getrandom, arc4random_buf or
 * BCryptGenRandom). Returns non-zero where no such source exists. */
WSP_API int wsp_entropy_system(uint8_t *buf, size_t len, void *user);

/** Size of the buffer in a wsp_entropy_pool. */
#define WSP_ENTROPY_POOL_SIZE 256u

/** A buffer of OS random bytes for clients that send many small frames:
 * every client frame needs a fresh 4-byte masking key, and asking the OS for
 * each costs a system call. Zero-fill it before first use; use one per
 * thread (it is not locked). The bytes are wiped as they are handed out. */
typedef struct wsp_entropy_pool {
    uint8_t buf[WSP_ENTROPY_POOL_SIZE]; /**< unread random bytes at the end */
    size_t pos;                         /**< next unread byte; 0: empty */
} wsp_entropy_pool;

/** A wsp_entropy_fn whose user pointer is a wsp_entropy_pool: serves bytes
 * from the pool, refilling it from wsp_entropy_system() when it runs dry
 * (one call per WSP_ENTROPY_POOL_SIZE bytes). Fails exactly when the OS
 * source fails. */
WSP_API int wsp_entropy_pooled(uint8_t *buf, size_t len, void *pool);

/** Default wsp_config::max_frame_payload (used when it is 0). */
#define WSP_DEFAULT_MAX_FRAME (64u * 1024u * 1024u)
/** Default wsp_config::max_message and wsp_message::max. */
#define WSP_DEFAULT_MAX_MESSAGE (64u * 1024u * 1024u)
/** Default wsp_config::max_fragments. */
#define WSP_DEFAULT_MAX_FRAGMENTS 131072u

/** Connection options. A zero-filled struct is valid: role server, all limits
 * at their defaults, automatic pongs and close replies on. The config is
 * copied at init; pointers inside it (allocator, entropy user data,
 * deflate, the origin_policy struct itself and its origin list) must stay
 * valid for the connection's lifetime: the connection keeps the pointers,
 * not copies. */
typedef struct wsp_config {
    wsp_role role;              /**< server (0) or client */
    uint32_t max_header_bytes;  /**< HTTP head bytes, > limit: 431 */
    uint32_t max_headers;       /**< HTTP header lines, > limit: 431 */
    uint64_t max_frame_payload; /**< one frame's payload, > limit: 1009 */
    uint64_t max_message;       /**< a whole message, > limit: 1009 */
    uint32_t max_fragments;     /**< frames in one message, > limit: 1009 */
    uint32_t send_fragment_size;/**< wsp_conn_send splits larger payloads;
                                   0: never split */
    int no_auto_pong;           /**< 1: do not answer pings automatically */
    int start_open;             /**< 1: skip the HTTP/1.1 handshake (tests,
                                   or streams whose handshake the caller
                                   answered itself; an RFC 8441 server
                                   leaves it 0 and calls
                                   wsp_conn_accept_connect()) */
    const wsp_origin_policy *origin_policy; /**< server; NULL: allow all */
    const wsp_allocator *allocator; /**< NULL: malloc/realloc/free */
    /** Client: the source of the handshake key and of every frame's masking
     * key, called for each. NULL: the handshake key and a 128-bit seed come
     * from wsp_entropy_system(), and masking keys from a SipHash-2-4
     * keystream under that seed kept inside the connection (one system call
     * per connection, not per frame; reseeded after 2^32 keys). */
    wsp_entropy_fn entropy;
    void *entropy_user;         /**< passed to entropy */
    /** permessage-deflate (RFC 7692) settings; NULL: never negotiated. A
     * server answers the first acceptable offer; a client offers it. Needs
     * a build with WSPROTO_DEFLATE (else init fails: WSP_ERR_UNSUPPORTED). */
    const struct wsp_deflate_config *deflate;
} wsp_config;

/** One connection's state machine; opaque, wsp_conn_size() bytes. */
typedef struct wsp_conn wsp_conn;

/** Bytes a wsp_conn needs, for callers that place it in their own memory
 * (aligned for any object, e.g. from malloc or a max_align_t array). */
WSP_API size_t wsp_conn_size(void);

/** Initialises a connection in caller memory of wsp_conn_size() bytes.
 * cfg may be NULL (server, defaults). No allocation happens here. Returns
 * WSP_OK, WSP_ERR_INVALID_ARG or WSP_ERR_UNSUPPORTED. The only memory such a
 * connection may later allocate is compression state, once permessage-
 * deflate is negotiated; wsp_conn_deinit releases it. */
WSP_API int wsp_conn_init(wsp_conn *conn, const wsp_config *cfg);

/** Releases what a connection placed with wsp_conn_init allocated (nothing
 * unless compression was negotiated). The memory itself stays the caller's.
 * NULL is ignored. */
WSP_API void wsp_conn_deinit(wsp_conn *conn);

/** Allocates (through cfg->allocator) and initialises a connection.
 * Returns WSP_OK, WSP_ERR_NOMEM or WSP_ERR_INVALID_ARG. */
WSP_API int wsp_conn_new(const wsp_config *cfg, wsp_conn **out);

/** Frees a connection made by wsp_conn_new. NULL is ignored. */
WSP_API void wsp_conn_free(wsp_conn *conn);

/** What wsp_conn_recv() reports; also says which member of wsp_event.u is
 * set. */
typedef enum wsp_event_type {
    WSP_EV_NONE = 0,  /**< input used up (or kept back), no event; no member */
    WSP_EV_REQUEST,   /**< server: an HTTP request head arrived; u.request */
    WSP_EV_RESPONSE,  /**< client: the HTTP response head arrived; u.response */
    WSP_EV_DATA,      /**< a piece of a text or binary message; u.data */
    WSP_EV_PING,      /**< a ping (already answered unless no_auto_pong); u.control */
    WSP_EV_PONG,      /**< a pong; u.control */
    WSP_EV_CLOSE,     /**< the peer's close frame; u.close */
    WSP_EV_FAILURE    /**< the connection failed; u.failure */
} wsp_event_type;

/** Flags of a WSP_EV_DATA event. */
#define WSP_DATA_FIRST 1u /**< first piece of a message */
#define WSP_DATA_LAST 2u  /**< last piece of a message */

/** WSP_EV_DATA: a piece of a message. */
typedef struct wsp_data_event {
    wsp_opcode opcode; /**< WSP_OP_TEXT or WSP_OP_BINARY */
    unsigned flags;    /**< WSP_DATA_FIRST and/or WSP_DATA_LAST */
    /** The piece: unmasked in place in the caller's buffer, or, for a
     * compressed message, in the connection's inflate buffer. A text piece
     * may end or start inside a code point; the whole message is
     * validated. May be non-NULL with len 0. */
    uint8_t *payload;
    size_t len; /**< bytes at payload */
} wsp_data_event;

/** WSP_EV_PING and WSP_EV_PONG: the frame's payload (0..125 bytes, in the
 * caller's buffer). */
typedef struct wsp_control_event {
    uint8_t *payload; /**< the payload */
    size_t len;       /**< bytes at payload */
} wsp_control_event;

/** WSP_EV_CLOSE: the peer's close frame. */
typedef struct wsp_close_event {
    uint16_t code;      /**< code received; 1005 if the frame had none */
    const char *reason; /**< UTF-8, validated, not NUL-terminated */
    size_t reason_len;  /**< bytes at reason */
} wsp_close_event;

/** WSP_EV_FAILURE: the connection failed (the status is also returned). */
typedef struct wsp_failure_event {
    int status;          /**< the WSP_ERR_* status */
    uint16_t close_code; /**< code in the close frame queued for the peer
                              (0 if none is sent, e.g. during the handshake) */
    const char *reason;  /**< static description of the error */
    /** Stream offset of the byte that caused it (bytes fed since init; for
     * a compressed message, whose bad bytes exist only after inflating, the
     * offset of the message's first frame). */
    uint64_t offset;
} wsp_failure_event;

/** WSP_EV_REQUEST: a server received an HTTP request head. */
typedef struct wsp_request_event {
    /** WSP_OK if it is a valid WebSocket upgrade, else the WSP_ERR_HTTP_*
     * reason (the application may still serve it as plain HTTP, or reject
     * it). */
    int status;
    int http_status;          /**< 101 if valid, else the status to answer */
    wsp_request request;      /**< the parsed request (into the caller's buffer) */
    wsp_upgrade_info upgrade; /**< what a valid upgrade asks for (status WSP_OK) */
} wsp_request_event;

/** WSP_EV_RESPONSE: a client received the HTTP response head. */
typedef struct wsp_response_event {
    /** WSP_OK if the connection is now open, else the WSP_ERR_HTTP_* reason
     * (the connection is then closed). */
    int status;
    int http_status;          /**< the response's status code */
    wsp_response response;    /**< the parsed response (into the caller's buffer) */
    const char *subprotocol;  /**< chosen subprotocol or NULL */
    size_t subprotocol_len;   /**< bytes in subprotocol */
    const char *extensions;   /**< Sec-WebSocket-Extensions value or NULL */
    size_t extensions_len;    /**< bytes in extensions */
} wsp_response_event;

/** One event reported by wsp_conn_recv(). `type` says which member of `u`
 * holds it; wsp_conn_recv() sets `type` and every field of that member on
 * every call, and nothing in the event points into the event itself, so a
 * copy is as good as the original. The other members are not meaningful. */
typedef struct wsp_event {
    wsp_event_type type; /**< what happened; WSP_EV_NONE: feed more input */
    /** The event's details, selected by type. */
    union {
        wsp_data_event data;         /**< WSP_EV_DATA */
        wsp_control_event control;   /**< WSP_EV_PING, WSP_EV_PONG */
        wsp_close_event close;       /**< WSP_EV_CLOSE */
        wsp_failure_event failure;   /**< WSP_EV_FAILURE */
        wsp_request_event request;   /**< WSP_EV_REQUEST */
        wsp_response_event response; /**< WSP_EV_RESPONSE */
    } u;
} wsp_event;

/** Smallest receive buffer for an open connection: a whole control frame. */
#define WSP_MIN_RECV_BUFFER (WSP_MAX_FRAME_HEADER + WSP_MAX_CONTROL_PAYLOAD)
/** Feeds received bytes and returns at most one event. Call it in a loop
 * until it reports WSP_EV_NONE, even when no input is left: a compressed
 * message may inflate to more than one event's worth of output, and the
 * rest comes from calls with len 0.
 *
 * data/len: received bytes. Payload is unmasked in place, so the buffer is
 * writable. *consumed: how many bytes were used. Bytes not consumed must be
 * passed again, at the start of the next call, followed by newly received
 * bytes: the connection holds no copy of partial input. It keeps bytes back
 * when an item must be seen whole (an HTTP head, a frame header, a control
 * frame: at most max_header_bytes during the handshake and
 * WSP_MIN_RECV_BUFFER bytes afterwards), so the receive buffer must be at
 * least that large. Data payload is never kept back: it is delivered in
 * pieces as it arrives.
 *
 * Returns WSP_OK with ev->type set: WSP_EV_NONE when nothing more can be
 * done with this input (feed more). On a failure it returns the failing
 * status with ev->type WSP_EV_FAILURE (and all of the rest of this call's
 * input counted as consumed): a WSP_ERR_PROTO_* status (a close
 * frame with its code is queued, see wsp_conn_flush()), WSP_ERR_NOMEM when
 * compression state could not be allocated (close code 1011 queued), or,
 * during the handshake, a WSP_ERR_HTTP_* status for an unparseable head (a
 * server queues the HTTP error response). Every later call returns the same
 * status (the error is sticky). A client whose 101 fails validation gets
 * WSP_OK with a WSP_EV_RESPONSE event whose status says why; later calls
 * return that status. Other returns: WSP_ERR_STATE when a server has an
 * unanswered request (call accept or reject first), or a client has not
 * sent its request; WSP_ERR_CLOSED when the connection is closed (remaining
 * input is consumed and dropped); WSP_ERR_INVALID_ARG.
 *
 * Event pointers follow the one lifetime rule at the top of this header:
 * into data (valid while those bytes stay), or, for compressed pieces, into
 * the connection's inflate buffer (valid until the next wsp_conn_recv(),
 * wsp_conn_deinit() or wsp_conn_free()). */
WSP_API int wsp_conn_recv(wsp_conn *conn, uint8_t *data, size_t len,
                          size_t *consumed, wsp_event *ev);

/** Server: accepts the pending request and writes the 101 response into out.
 * The connection is OPEN afterwards. Returns WSP_OK,
 * WSP_ERR_BUFFER_TOO_SMALL (state unchanged; the response is as long as
 * wsp_upgrade_build_response() measures for the same options, plus the
 * permessage-deflate answer, under 200 bytes), WSP_ERR_STATE when no valid
 * request is pending, WSP_ERR_INVALID_ARG for bad options, WSP_ERR_NOMEM
 * when compression state could not be allocated. *out_len is 0 on failure.
 * Nothing in opts is read after the call. */
WSP_API int wsp_conn_accept(wsp_conn *conn, const wsp_accept_options *opts,
                            uint8_t *out, size_t out_cap, size_t *out_len);

/** Server: rejects the pending request with an HTTP error response (pass 0
 * to use the status the library chose for an invalid request, 400 for a
 * valid one). The connection is CLOSED afterwards. Returns WSP_OK,
 * WSP_ERR_BUFFER_TOO_SMALL (state unchanged), WSP_ERR_STATE,
 * WSP_ERR_INVALID_ARG; *out_len is 0 on failure. */
WSP_API int wsp_conn_reject(wsp_conn *conn, int http_status, uint8_t *out,
                            size_t out_cap, size_t *out_len);

/** Server embedded in another HTTP stack: validates a request parsed by the
 * application (headers as an array in req->headers), and on success writes
 * the 101 response with opts and opens the connection. On a validation
 * error returns its WSP_ERR_HTTP_* status and writes the matching HTTP
 * error response instead (the connection is then CLOSED, with that status
 * as its sticky error: wsp_conn_error() reports it and wsp_conn_recv()
 * returns it, and no second response is owed to wsp_conn_flush()); that is
 * the one failing status with output, and *out_len then counts it. Other failures
 * (WSP_ERR_BUFFER_TOO_SMALL, WSP_ERR_STATE, WSP_ERR_INVALID_ARG,
 * WSP_ERR_NOMEM) write nothing and set *out_len to 0. */
WSP_API int wsp_conn_accept_request(wsp_conn *conn, const wsp_request *req,
                                    const wsp_accept_options *opts,
                                    uint8_t *out, size_t out_cap,
                                    size_t *out_len);

/** Most bytes of offers a client connection keeps to check the response
 * against: the offered subprotocols joined by commas, plus the names of the
 * offered extensions joined by commas (permessage-deflate's 18 bytes first
 * when wsp_config.deflate is set, then the names in
 * wsp_client_options.extensions; their parameters are not kept). */
#define WSP_MAX_CLIENT_OFFER 76u

/** Client handshake options. Read only during wsp_conn_client_request():
 * the connection keeps its own copy of what it checks the response against
 * (at most WSP_MAX_CLIENT_OFFER bytes of it). */
typedef struct wsp_client_options {
    const char *host;                  /**< Host header value, required */
    const char *target;                /**< request target; NULL: "/" */
    const char *origin;                /**< NULL: no Origin header */
    const char *const *subprotocols;   /**< offered, in preference order */
    size_t subprotocol_count;          /**< entries in subprotocols */
    const char *extensions;            /**< Sec-WebSocket-Extensions or NULL */
    const wsp_header *headers;         /**< extra request headers */
    size_t header_count;               /**< entries in headers */
} wsp_client_options;

/** Client: writes the upgrade request with a fresh random key into out.
 * Returns WSP_OK, WSP_ERR_BUFFER_TOO_SMALL, WSP_ERR_ENTROPY,
 * WSP_ERR_STATE (not a client, or already sent), WSP_ERR_INVALID_ARG,
 * WSP_ERR_LIMIT (the offers exceed WSP_MAX_CLIENT_OFFER); *out_len is 0 on
 * failure, and then nothing changed: the call may be repeated. */
WSP_API int wsp_conn_client_request(wsp_conn *conn,
                                    const wsp_client_options *opts,
                                    uint8_t *out, size_t out_cap,
                                    size_t *out_len);

/** Flags for wsp_conn_send. */
#define WSP_SEND_MORE 1u /**< the message continues in a later call (no FIN) */
#define WSP_SEND_NO_COMPRESS 2u /**< send this message uncompressed (given on
                                   its first piece) */

/** Encodes a text/binary message piece, or a ping/pong, into out: frame
 * header(s) followed by the payload (masked, for a client, with a fresh key
 * per frame; the caller's payload is not modified). With WSP_SEND_MORE the
 * message stays open and later calls must use the same opcode; the library
 * writes the continuation opcodes. Payloads longer than send_fragment_size
 * are split into several frames. Text is not validated (the caller is
 * trusted; wsp_utf8_validate exists for that).
 * Control frames may be sent while a fragmented message is open.
 * Returns WSP_OK, WSP_ERR_BUFFER_TOO_SMALL (see wsp_conn_send_bound),
 * WSP_ERR_STATE (not open, or a close was already sent or queued),
 * WSP_ERR_INVALID_ARG (bad opcode, control payload over 125 or with
 * WSP_SEND_MORE, opcode differs from the open message's), WSP_ERR_LIMIT
 * (the encoded size would not fit in size_t, or len is 2^63 or more, which
 * no frame can carry: RFC 6455 5.2), WSP_ERR_ENTROPY. *out_len is
 * 0 on failure, and the message state is unchanged. */
WSP_API int wsp_conn_send(wsp_conn *conn, wsp_opcode opcode,
                          const uint8_t *payload, size_t len, unsigned flags,
                          uint8_t *out, size_t out_cap, size_t *out_len);

/** Stores in *bound the bytes wsp_conn_send() may need in out for len
 * payload bytes (frame headers, masking keys, compression overhead).
 * Returns WSP_OK, WSP_ERR_LIMIT when that size does not fit in size_t
 * (*bound is then 0, and wsp_conn_send() refuses the payload the same way),
 * or WSP_ERR_INVALID_ARG. */
WSP_API int wsp_conn_send_bound(const wsp_conn *conn, size_t len, size_t *bound);

/** Zero-copy send of one frame: writes only the header into
 * hdr[WSP_MAX_FRAME_HEADER]; the caller then writes hdr and payload (e.g.
 * with writev). A client's payload is masked in place (that is the one
 * copy-free way to mask). No splitting by send_fragment_size, and never
 * compressed: a data frame is refused (WSP_ERR_INVALID_ARG) while a
 * compressed message is being sent, a control frame is not. Otherwise the
 * same statuses as wsp_conn_send; *hdr_len is 0 on failure. */
WSP_API int wsp_conn_send_zerocopy(wsp_conn *conn, wsp_opcode opcode,
                                   uint8_t *payload, size_t len,
                                   unsigned flags,
                                   uint8_t hdr[WSP_MAX_FRAME_HEADER],
                                   size_t *hdr_len);

/** Starts the closing handshake: writes a close frame with code (0: no
 * code, empty payload) and reason (valid UTF-8, at most 123 bytes) into
 * out. Allowed codes: 1000-1003, 1007-1014, 3000-4999. Nothing may be sent
 * after it. A pong the connection still owes the peer (RFC 6455 5.5.2) is
 * written ahead of the close frame, so out needs wsp_conn_pending_size()
 * bytes more than the close frame itself. Returns WSP_OK,
 * WSP_ERR_BUFFER_TOO_SMALL, WSP_ERR_STATE (close already sent, or not
 * open), WSP_ERR_INVALID_ARG, WSP_ERR_ENTROPY; *out_len is 0 on failure. */
WSP_API int wsp_conn_close(wsp_conn *conn, uint16_t code, const char *reason,
                           size_t reason_len, uint8_t *out, size_t out_cap,
                           size_t *out_len);

/** Most bytes a connection ever has pending for wsp_conn_flush(). */
#define WSP_MAX_PENDING 512u
/** Bytes wsp_conn_flush() would write now. */
WSP_API size_t wsp_conn_pending_size(const wsp_conn *conn);
/** Bytes the connection queued on its own: the pong for the latest ping,
 * the close reply to a peer's close, the close frame of a failure, or an
 * HTTP error response for a malformed request. wsp_conn_pending_size()
 * says how many bytes; wsp_conn_flush writes all of them into out (nothing
 * if they do not fit: WSP_ERR_BUFFER_TOO_SMALL, *out_len 0) and forgets
 * them. Call it
 * after handling a batch of events, then send everything in one write.
 * Pending output never exceeds WSP_MAX_PENDING bytes: a new ping replaces
 * an unsent pong (RFC 6455 5.5.3). */
WSP_API int wsp_conn_flush(wsp_conn *conn, uint8_t *out, size_t out_cap,
                           size_t *out_len);

/** The connection's current state. */
WSP_API wsp_state wsp_conn_state(const wsp_conn *conn);
/** The role the connection was initialised with. */
WSP_API wsp_role wsp_conn_role(const wsp_conn *conn);

/** 1 when the transport should be closed now: the connection is CLOSED,
 * nothing is pending, and this side is the server or the connection failed.
 * RFC 6455 7.1.1: the server closes TCP first; a client whose close
 * handshake completed should wait for the server's EOF (with a timeout of
 * its own) before closing. */
WSP_API int wsp_conn_should_close_transport(const wsp_conn *conn);

/** A connection's sticky error (see wsp_conn_error()). */
typedef struct wsp_error_info {
    int status;          /**< WSP_OK if the connection has not failed */
    uint16_t close_code; /**< queued for the peer by the failure (0: none,
                              e.g. a close had been sent already) */
    const char *reason;  /**< static */
    uint64_t offset;     /**< stream offset of the offending byte */
} wsp_error_info;

/** The sticky error, if any. Returns WSP_OK. */
WSP_API int wsp_conn_error(const wsp_conn *conn, wsp_error_info *info);

/* ------------------------------------------------------------------------
 * permessage-deflate (RFC 7692). Built when the library is configured with
 * WSPROTO_DEFLATE (needs zlib); otherwise the functions below return
 * WSP_ERR_UNSUPPORTED and wsp_deflate_available() returns 0.
 *
 * Memory per connection once negotiated, allocated with the connection's
 * allocator: the inflate buffer (buffer_size), zlib's inflate state (about
 * 7 KiB plus a 2^w byte window, w = the peer's window bits) once a
 * compressed message arrives, and zlib's deflate state (2^(w+2) +
 * 2^(mem_level+9) bytes plus about 6 KiB, w = max_window_bits) once a
 * message is compressed. With the defaults (15, 8) that is about 300 KiB;
 * max_window_bits 10 and mem_level 4 bring it near 50 KiB.
 * ---------------------------------------------------------------------- */
/** permessage-deflate settings (wsp_config::deflate). Zero-filled: defaults. */
typedef struct wsp_deflate_config {
    int no_context_takeover;      /**< reset our compressor after each message */
    int peer_no_context_takeover; /**< ask the peer to reset after each one */
    int max_window_bits;          /**< our compression window, 9..15; 0: 15 */
    int peer_max_window_bits;     /**< window asked of the peer, 8..15; 0: any */
    int level;                    /**< zlib level 1..9; 0: zlib's default */
    int mem_level;                /**< zlib memLevel 1..9; 0: 8. Low values
                                       cost more output headroom: see
                                       wsp_conn_send_bound() */
    uint32_t min_size;            /**< send smaller messages uncompressed */
    uint32_t buffer_size;         /**< inflate output per event; 0: 16 KiB */
} wsp_deflate_config;

/** A client_max_window_bits parameter given without a value. */
#define WSP_DEFLATE_BITS_NO_VALUE 1
/** Parameters of one permessage-deflate offer or response. */
typedef struct wsp_deflate_params {
    int server_no_context_takeover; /**< 1 if the parameter is present */
    int client_no_context_takeover; /**< 1 if the parameter is present */
    int server_max_window_bits; /**< 8..15; 0: absent */
    int client_max_window_bits; /**< 8..15; 0: absent; WSP_DEFLATE_BITS_NO_VALUE */
} wsp_deflate_params;

/** 1 if permessage-deflate is compiled in. */
WSP_API int wsp_deflate_available(void);

/** Parses one element of a Sec-WebSocket-Extensions list ("permessage-
 * deflate; client_max_window_bits; ..."). is_response selects the stricter
 * response rules (every window-bits parameter needs a value). Returns WSP_OK,
 * WSP_ERR_NOT_FOUND if the element names another extension, or
 * WSP_ERR_HTTP_EXTENSION for an unknown, repeated or invalid parameter. */
WSP_API int wsp_deflate_parse(const char *item, size_t len, int is_response,
                              wsp_deflate_params *out);

/** Server side negotiation, for applications that answer the handshake
 * themselves: picks the first offer in the request headers that is valid
 * and acceptable under cfg, fills *agreed, and writes the response element
 * (NUL-terminated) into out. Returns WSP_OK, WSP_ERR_NOT_FOUND when no offer
 * is acceptable (answer without the extension), WSP_ERR_BUFFER_TOO_SMALL;
 * *out_len is 0 on failure.
 * (wsp_conn_accept does all of this itself when wsp_config.deflate is set.) */
WSP_API int wsp_deflate_negotiate(const wsp_headers *request_headers,
                                  const wsp_deflate_config *cfg,
                                  wsp_deflate_params *agreed, char *out,
                                  size_t out_cap, size_t *out_len);

/** Turns compression on for an open connection whose extension was
 * negotiated elsewhere: an RFC 8441 / RFC 9220 client stream (start_open;
 * a server's wsp_conn_accept_connect() negotiates itself), or a server
 * that answered the handshake itself with wsp_deflate_negotiate.
 * cfg may be NULL (defaults). Call it before any message is sent or
 * received. Returns WSP_OK, WSP_ERR_NOMEM, WSP_ERR_STATE (not open, already
 * on, or a message under way), WSP_ERR_UNSUPPORTED, WSP_ERR_INVALID_ARG. */
WSP_API int wsp_conn_enable_deflate(wsp_conn *conn, const wsp_deflate_config *cfg,
                                    const wsp_deflate_params *agreed);

/** 1 if compression is in use on this connection. */
WSP_API int wsp_conn_deflate_active(const wsp_conn *conn);

/* ------------------------------------------------------------------------
 * Opt-in whole-message assembly. Feed it WSP_EV_DATA events; it copies
 * pieces into one buffer (grown with the allocator, up to max bytes) and
 * reports the message when the last piece arrives.
 * ---------------------------------------------------------------------- */
/** A message being assembled; zero-fill it, then set allocator and max.
 * A complete message is followed by a NUL byte (data[len] == 0, not counted
 * in len), so text can be handed to C string functions; the message may
 * still hold NUL bytes of its own. */
typedef struct wsp_message {
    const wsp_allocator *allocator; /**< NULL: malloc */
    uint64_t max;                   /**< 0: WSP_DEFAULT_MAX_MESSAGE */
    uint8_t *data;                  /**< owned; valid until next add/free */
    size_t len;                     /**< bytes of the message so far */
    size_t cap;                     /**< bytes allocated at data */
    wsp_opcode opcode;              /**< WSP_OP_TEXT or WSP_OP_BINARY */
    int complete;                   /**< 1 once the last piece was added */
} wsp_message;

/** Appends a data event. Returns WSP_OK (check m->complete), WSP_ERR_LIMIT
 * (over max: nothing appended), WSP_ERR_NOMEM, WSP_ERR_INVALID_ARG (not a
 * data event). After a complete message, the next add starts a new one
 * (the buffer is reused). */
WSP_API int wsp_message_add(wsp_message *m, const wsp_event *ev);
/** Releases the buffer and empties the message; allocator and max stay, so
 * the struct can be used again. NULL is ignored. */
WSP_API void wsp_message_free(wsp_message *m);

#ifdef __cplusplus
}
#endif

#endif /* WSPROTO_H */
