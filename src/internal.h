/* Cross-module helpers shared inside the library; not installed. */
#ifndef WSP_INTERNAL_H
#define WSP_INTERNAL_H

#include "wsproto.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define WSP_INTERNAL __attribute__((visibility("hidden")))
/* Keeps rare paths out of the hot loop they are called from, so the loop
 * needs fewer registers saved on every call. */
#define WSP_COLD __attribute__((noinline, cold))
#else
#define WSP_INTERNAL
#define WSP_COLD
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

/* http.c: the one ASCII case-insensitive comparison (HTTP names, tokens,
 * origins). */
WSP_INTERNAL int wsp_ascii_ieq_n(const char *a, size_t a_len, const char *b,
                                 size_t b_len);
/* The same against a NUL-terminated literal. */
WSP_INTERNAL int wsp_ascii_ieq(const char *a, size_t a_len, const char *lit);
/* RFC 7230/9110 version check shared by requests and responses: 1 when the
 * HTTP version is 1.1 or later. */
WSP_INTERNAL int wsp_http_version_ok(int major, int minor);
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
    /* Offsets within a head, which max_bytes (at most 4 GiB) bounds. */
    uint32_t line_start;  /* the line whose LF has not come yet */
    uint32_t searched;    /* [line_start, searched) holds no LF */
    uint32_t start_line;  /* where the start line begins, once complete */
    uint32_t headers;     /* header lines seen */
    uint32_t examined;    /* bytes looked at so far, summed over calls:
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

/* Bounded output, shared by every builder. */
typedef struct wsp_writer {
    uint8_t *out;
    size_t cap;
    size_t len; /* may exceed cap: then only counting */
} wsp_writer;
WSP_INTERNAL void wsp_write(wsp_writer *w, const void *data, size_t len);
WSP_INTERNAL void wsp_write_str(wsp_writer *w, const char *s);
WSP_INTERNAL void wsp_write_uint(wsp_writer *w, unsigned long v);

/* Bytes of a frame header for this payload length (RFC 6455 5.2). Inline,
 * like the writer below: every message sent asks, and at small sizes a call
 * costs as much as the answer. */
static inline size_t wsp_frame_header_size(uint64_t payload_len, int masked)
{
    size_t n = payload_len < 126 ? 2 : payload_len <= 0xFFFF ? 4 : 10;
    return n + (masked ? 4u : 0u);
}

/* Writes the header of a frame whose first byte (FIN, RSV, opcode) is b0,
 * masked with key unless key is NULL; returns its size,
 * wsp_frame_header_size(len, key != NULL). The caller checked the room and
 * that len fits 63 bits. */
static inline size_t wsp_frame_put_header(uint8_t *out, unsigned b0, uint64_t len,
                                          const uint8_t *key)
{
    uint8_t mask_bit = key ? 0x80u : 0u;
    size_t n;
    out[0] = (uint8_t)b0;
    if (len < 126) {
        out[1] = (uint8_t)(mask_bit | len);
        n = 2;
    } else if (len <= 0xFFFF) {
        out[1] = (uint8_t)(mask_bit | 126u);
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = (uint8_t)(mask_bit | 127u);
        for (size_t i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (!key) return n;
    memcpy(out + n, key, 4);
    return n + 4;
}

/* handshake.c: what a connection keeps from init until its handshake ends.
 * The config pointers are the caller's (documented to live as long as the
 * connection); everything taken from call arguments is copied in here. */
typedef struct wsp_handshake {
    const wsp_origin_policy *origin_policy; /* server */
    const wsp_deflate_config *deflate_cfg;  /* NULL: never negotiated */
    uint32_t max_header_bytes;
    uint32_t max_headers;
    uint16_t reject_status;  /* server: what wsp_conn_reject(0) answers */
    uint8_t request_valid;   /* server: the pending request may be accepted */
    uint8_t deflate_agreed;  /* server: `agreed` holds an acceptable offer */
    uint8_t offer_sub_len;   /* client: bytes of offer[] naming subprotocols */
    uint8_t offer_ext_len;   /* client: bytes after them naming extensions */
    wsp_http_progress head;  /* where parsing the head stopped */
    /* server: the chosen offer, each wsp_deflate_params field in a byte */
    uint8_t agreed[4];
    char accept[WSP_ACCEPT_LEN + 1];
    /* client: "sub1,sub2" then "ext1,ext2": what the response may pick */
    char offer[WSP_MAX_CLIENT_OFFER];
} wsp_handshake;

/* The fields RFC 6455 4.2.1 and RFC 8441 5 look at, gathered in one pass
 * over a request's headers: how often each came, and the last value. */
typedef struct wsp_upgrade_fields {
    const char *host, *origin, *key, *version;
    size_t host_len, origin_len, key_len, version_len;
    size_t hosts, origins, keys, versions;
    int upgrade;    /* some Upgrade header lists "websocket" */
    int connection; /* some Connection header lists "upgrade" */
} wsp_upgrade_fields;
WSP_INTERNAL void wsp_upgrade_scan(const wsp_headers *h, wsp_upgrade_fields *f);
/* The checks both handshakes end with, in this order: one
 * Sec-WebSocket-Version of exactly "13", then at most one Origin that the
 * policy (NULL: all) allows. Clears f->origin when there is none. Returns
 * WSP_OK, WSP_ERR_HTTP_WS_VERSION or WSP_ERR_HTTP_ORIGIN. */
WSP_INTERNAL int wsp_upgrade_check_version_origin(wsp_upgrade_fields *f,
                                                  const wsp_origin_policy *policy);
/* RFC 9110 token: what a subprotocol must be. */
WSP_INTERNAL int wsp_is_token(const char *s, size_t n);
/* A header value without CR, LF or NUL (no response splitting). */
WSP_INTERNAL int wsp_is_safe_value(const char *s, size_t n);
/* The value of a server's Sec-WebSocket-Extensions: the library's deflate
 * answer (NULL: none), then the application's own (NULL: none). Writes
 * nothing when both are absent. Returns WSP_OK or WSP_ERR_INVALID_ARG
 * (app holds CR, LF or NUL). */
WSP_INTERNAL int wsp_write_extensions_value(wsp_writer *w, const wsp_deflate_params *deflate,
                                            const char *app);
/* Whether a server's answer carries Sec-WebSocket-Extensions at all: the
 * library's deflate answer, or a non-empty value of the application's. */
WSP_INTERNAL int wsp_extensions_answered(const wsp_deflate_params *deflate, const char *app);

WSP_INTERNAL void wsp_handshake_init(wsp_handshake *hs, const wsp_config *cfg);
/* Server: a request parsed by anyone. Validates it, remembers what accept
 * needs and picks the deflate offer. Returns the validation status. */
WSP_INTERNAL int wsp_handshake_take_request(wsp_handshake *hs, const wsp_request *req,
                                            wsp_upgrade_info *info);
/* Server: parses a request head from data. WSP_ERR_NEED_MORE: incomplete
 * (nothing consumed); WSP_OK: *ev filled, *consumed is the head; any other
 * status: the head can never parse (answer it with wsp_status_http_code). */
WSP_INTERNAL int wsp_handshake_read_request(wsp_handshake *hs, const uint8_t *data,
                                            size_t len, size_t *consumed,
                                            wsp_request_event *ev);
/* Server: the deflate parameters of the chosen offer. */
WSP_INTERNAL void wsp_handshake_agreed(const wsp_handshake *hs, wsp_deflate_params *out);
/* Server: 1 if the 101 will carry the agreed deflate parameters. */
WSP_INTERNAL int wsp_handshake_uses_deflate(const wsp_handshake *hs,
                                            const wsp_accept_options *opts);
/* Server: writes the 101 (measures when out is NULL), as wsp_build. */
WSP_INTERNAL int wsp_handshake_write_response(const wsp_handshake *hs,
                                              const wsp_accept_options *opts,
                                              uint8_t *out, size_t out_cap,
                                              size_t *out_len);
/* Client: writes the request for this nonce and keeps what the response is
 * checked against. Nothing in opts is kept. */
WSP_INTERNAL int wsp_handshake_write_request(wsp_handshake *hs,
                                             const wsp_client_options *opts,
                                             const uint8_t nonce[16], uint8_t *out,
                                             size_t out_cap, size_t *out_len);
/* Client: parses and checks the response head. Statuses as for
 * read_request; with WSP_OK, ev->status says whether the upgrade holds, and
 * *deflate_found whether *agreed carries permessage-deflate. */
WSP_INTERNAL int wsp_handshake_read_response(wsp_handshake *hs, const uint8_t *data,
                                             size_t len, size_t *consumed,
                                             wsp_response_event *ev,
                                             wsp_deflate_params *agreed,
                                             int *deflate_found);

/* entropy.c: the default source of client masking keys: SipHash-2-4 as a
 * PRF over a 32-bit counter, keyed with 128 bits from the OS. The counter
 * lives apart from the key (the connection keeps it where it has room);
 * counter 0 means "not seeded", and a wrapped counter reseeds. */
typedef struct wsp_keystream {
    uint64_t k0, k1;
} wsp_keystream;
/* SipHash-2-4 of the 8-byte little-endian encoding of m. */
WSP_INTERNAL uint64_t wsp_siphash_word(uint64_t k0, uint64_t k1, uint64_t m);
/* Fills key[4]; returns 0, or non-zero when the OS source failed. */
WSP_INTERNAL int wsp_keystream_next(wsp_keystream *ks, uint32_t *counter, uint8_t key[4]);

/* status.c: valid close code received on the wire (RFC 6455 7.4). */
WSP_INTERNAL int wsp_close_code_valid(uint16_t code);
/* The description part of wsp_strerror(status), fit for a close reason. */
WSP_INTERNAL const char *wsp_status_reason(int status);

/* http.c: runs a builder once to measure and, if the result fits, once more
 * to write, so a buffer that is too small is left untouched. The builder
 * returns WSP_OK or its own error (e.g. WSP_ERR_INVALID_ARG). */
typedef int (*wsp_build_fn)(wsp_writer *w, const void *ctx);
WSP_INTERNAL int wsp_build(wsp_build_fn build, const void *ctx, uint8_t *out,
                           size_t out_cap, size_t *out_len);

/* deflate_negotiate.c */
/* The extension's name, as offered and answered. */
WSP_INTERNAL extern const char wsp_deflate_name[];
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

/* deflate.c: per-connection compression state, allocated with `a`. It owns
 * the state of the compressed message being received (its UTF-8 state,
 * inflated size and first frame's offset) and the order of the checks on
 * what comes out, so the connection's frame loop makes two calls: receive a
 * compressed piece, send a message piece. */
typedef struct wsp_deflate wsp_deflate;
WSP_INTERNAL int wsp_deflate_create(const wsp_allocator *a, const wsp_deflate_config *cfg,
                                    const wsp_deflate_params *agreed, int role,
                                    wsp_deflate **out);
WSP_INTERNAL void wsp_deflate_destroy(wsp_deflate *d);
/* A compressed message starts at stream offset `offset`. */
WSP_INTERNAL void wsp_deflate_begin_message(wsp_deflate *d, uint64_t offset, int text,
                                            uint64_t max_message);
/* The stream offset failures of the current message are reported at. */
WSP_INTERNAL uint64_t wsp_deflate_message_offset(const wsp_deflate *d);
/* Receives p[0..n) of a compressed frame's payload (masked with key from
 * *mask_pos when key is not NULL; end: they finish the message's last
 * frame). Inflates what fits in the bounded buffer, checks it (UTF-8 for
 * text, then the size limit, then the compressed data itself), and leaves
 * the bytes zlib did not take as they arrived (masked again) for the caller
 * to present again. Returns WSP_OK with *used, the output (*out, *out_len,
 * maybe empty) and *done (the message is complete and all out), or the
 * protocol error. */
WSP_INTERNAL int wsp_deflate_recv(wsp_deflate *d, uint8_t *p, size_t n, int end,
                                  const uint8_t *key, uint8_t *mask_pos, size_t *used,
                                  uint8_t **out, size_t *out_len, int *done);
/* Whether the last receive filled the buffer, so zlib may hold more output
 * for the input it already took. */
WSP_INTERNAL int wsp_deflate_output_pending(const wsp_deflate *d);
/* Whether a message of len bytes is sent compressed. */
WSP_INTERNAL int wsp_deflate_can_compress(const wsp_deflate *d, size_t len);
/* Bytes one compressed frame of len payload bytes may take, header
 * included; WSP_ERR_LIMIT when that overflows size_t. */
WSP_INTERNAL int wsp_deflate_send_bound(size_t len, int masked, size_t *bound);
/* Writes one compressed frame for a message piece (RFC 7692 7.2.1): first:
 * RSV1 and the message's opcode, else a continuation; final: FIN. key: the
 * client's masking key, NULL for a server. */
WSP_INTERNAL int wsp_deflate_send(wsp_deflate *d, wsp_opcode opcode, int first, int final,
                                  const uint8_t *payload, size_t len, const uint8_t *key,
                                  uint8_t *out, size_t out_cap, size_t *out_len);

/* conn.c and conn_send.c: the connection, receiving and sending. */
/* What the next received bytes are (docs/architecture.md draws this). */
typedef enum recv_state {
    RS_UNSENT,        /* client: its request is not written: nothing to read */
    RS_HEAD,          /* the HTTP head, kept back until it is whole */
    RS_AWAIT_ANSWER,  /* server: request reported; accept or reject it first */
    RS_FRAME_HEADER,  /* the start of a frame */
    RS_PAYLOAD,       /* the payload of an uncompressed data frame */
    RS_INFLATE,       /* the payload of a compressed data frame */
    RS_INFLATE_DRAIN, /* a compressed frame is all in; zlib still holds output */
    RS_CLOSED         /* the peer's close arrived, the connection failed, or
                         the request was rejected: nothing more is read */
} recv_state;

/* What this side may still send. */
typedef enum send_state {
    SS_IDLE,       /* no message open */
    SS_MESSAGE,    /* a message sent in pieces is open (send_opcode) */
    SS_COMPRESSED, /* the same, compressed */
    SS_CLOSE_SENT  /* our close is written or owed: nothing more */
} send_state;

/* The close frame the connection owes the peer (wsp_conn_flush writes it). */
typedef enum close_owed {
    CLOSE_NONE,
    CLOSE_EMPTY,    /* replying to a close that had no code */
    CLOSE_WITH_CODE /* u.open.close_code, and the failure's reason if any */
} close_owed;

struct wsp_conn {
    uint64_t max_frame;
    uint64_t max_message;
    uint64_t offset;       /* stream bytes consumed since init */
    uint64_t error_offset; /* where the sticky error happened */
    const wsp_allocator *allocator;
    wsp_deflate *deflate; /* NULL unless permessage-deflate is in use */
    union {
        struct {
            wsp_entropy_fn fn;
            void *user;
        } source;          /* the caller's entropy source */
        wsp_keystream key; /* own_keys: the keystream's key */
    } masking;
    uint32_t max_fragments;
    uint32_t send_fragment_size;
    int16_t error;       /* sticky WSP_ERR_* status, 0: none */
    uint16_t error_code; /* close code queued for the failure, 0: none */
    uint8_t role;
    uint8_t rs;          /* recv_state */
    uint8_t ss;          /* send_state */
    uint8_t send_opcode; /* opcode of the message being sent in pieces */
    uint8_t close_owed;  /* close_owed */
    uint8_t pong_owed;   /* a pong for u.open.pong is owed */
    uint8_t http_owed;   /* an HTTP error response for the failure is owed */
    uint8_t auto_pong;
    uint8_t own_keys;    /* masking keys from masking.key, not the caller */
    uint8_t owned;       /* allocated by wsp_conn_new */
    /* The handshake and the open connection never need these at once. */
    union {
        wsp_handshake hs;
        struct {
            uint64_t frame_remaining; /* payload bytes left in this frame */
            uint64_t message_len;     /* uncompressed message bytes so far */
            uint32_t fragments;       /* frames of the message so far */
            uint32_t utf8_state;      /* of uncompressed text */
            uint32_t key_counter;     /* own_keys: keys drawn (0: unseeded) */
            uint16_t close_code;      /* of the owed close */
            uint8_t mask_key[4];
            uint8_t mask_pos;
            uint8_t msg_opcode; /* the message being received, 0: none */
            uint8_t msg_compressed;
            uint8_t msg_first; /* its next piece is the first */
            uint8_t frame_fin;
            uint8_t frame_masked;
            uint8_t pong_len;
            uint8_t pong[WSP_MAX_CONTROL_PAYLOAD];
        } open;
    } u;
};

/* The last steps of a server's handshake, shared by its HTTP/1.1 and its
 * extended CONNECT form. Compression with the agreed parameters under the
 * connection's deflate config: WSP_OK or WSP_ERR_NOMEM (nothing changed). */
WSP_INTERNAL int wsp_conn_server_deflate(wsp_conn *c, const wsp_deflate_params *agreed);
/* Drops the handshake state: what arrives from now on is frames. */
WSP_INTERNAL void wsp_conn_open(wsp_conn *c);
/* A server whose request was refused with an answer already handed out:
 * CLOSED, with status (a WSP_ERR_HTTP_*) as its sticky error for
 * wsp_conn_error(), and no HTTP response owed. */
WSP_INTERNAL void wsp_conn_refused(wsp_conn *c, int status);

/* Frames flow: the handshake is over and nothing ended the connection. */
static inline int wsp_conn_in_frames(const wsp_conn *c)
{
    return c->rs >= RS_FRAME_HEADER && c->rs != RS_CLOSED;
}

static inline int wsp_opcode_is_control(unsigned op) { return (op & 0x8) != 0; }

/* utf8.c and utf8_simd.c: the UTF-8 validator's implementations. Each one
 * can be called on its own (same contract as wsp_utf8_validate), so tests,
 * fuzzers and benchmarks compare them on the same input; the public call
 * picks the fastest this CPU runs. */
typedef enum wsp_utf8_impl {
    WSP_UTF8_IMPL_SCALAR, /* byte-at-a-time DFA, every target */
    WSP_UTF8_IMPL_SSE41,  /* x86-64 SSSE3 + SSE4.1, 16-byte blocks */
    WSP_UTF8_IMPL_AVX2,   /* x86-64 AVX2, 32-byte blocks */
    WSP_UTF8_IMPL_AVX512, /* x86-64 AVX-512 BW (+VBMI2 as the newer-core
                             marker), 64-byte blocks */
    WSP_UTF8_IMPL_NEON,   /* AArch64 Advanced SIMD, 16-byte blocks */
    WSP_UTF8_IMPL_COUNT
} wsp_utf8_impl;

typedef enum wsp_utf8_support {
    WSP_UTF8_NOT_BUILT, /* not compiled for this target (or WSP_NO_SIMD) */
    WSP_UTF8_CPU_LACKS, /* compiled in, but this CPU cannot run it */
    WSP_UTF8_USABLE
} wsp_utf8_support;

WSP_INTERNAL const char *wsp_utf8_impl_name(wsp_utf8_impl impl);
WSP_INTERNAL wsp_utf8_support wsp_utf8_impl_support(wsp_utf8_impl impl);
/* The implementation wsp_utf8_validate uses for long inputs. */
WSP_INTERNAL wsp_utf8_impl wsp_utf8_impl_best(void);
/* wsp_utf8_validate through one implementation; WSP_ERR_INVALID_ARG if it
 * is not usable here. */
WSP_INTERNAL int wsp_utf8_validate_impl(wsp_utf8_impl impl, uint32_t *state,
                                        const uint8_t *buf, size_t len,
                                        size_t *error_offset);

#if !defined(WSP_NO_SIMD) && defined(__x86_64__) &&                          \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 5))
#define WSP_UTF8_HAVE_X86 1
#endif
#if !defined(WSP_NO_SIMD) && defined(__aarch64__) && defined(__ARM_NEON)
#define WSP_UTF8_HAVE_NEON 1
#endif
/* Block scanners (utf8_simd.c). buf starts between code points; each
 * returns n <= len such that buf[0..n) is valid UTF-8 ending between code
 * points, stopping early at a stretch that holds an error or when less
 * than a block is left. The caller's DFA takes over at n and finds the
 * exact offset of any error. */
#if defined(WSP_UTF8_HAVE_X86)
/* 1 if this CPU (and its OS) runs the implementation. */
WSP_INTERNAL int wsp_utf8_cpu_has(wsp_utf8_impl impl);
WSP_INTERNAL size_t wsp_utf8_scan_sse41(const uint8_t *buf, size_t len);
WSP_INTERNAL size_t wsp_utf8_scan_avx2(const uint8_t *buf, size_t len);
WSP_INTERNAL size_t wsp_utf8_scan_avx512(const uint8_t *buf, size_t len);
#endif
#if defined(WSP_UTF8_HAVE_NEON)
WSP_INTERNAL size_t wsp_utf8_scan_neon(const uint8_t *buf, size_t len);
#endif

#endif
