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
