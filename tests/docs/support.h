/* What every documentation sample harness shares: checks, the counters the
 * output wrappers keep, and an in-memory client peer for server samples. */
#ifndef DOCS_SUPPORT_H
#define DOCS_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <wsproto.h>

/* The descriptor samples are given; no socket is behind it. */
#define DOC_FD 7
/* Output buffer the harnesses hand to samples: a 101 response or a close
 * fits, most echoes do not, so every sample meets WSP_ERR_BUFFER_TOO_SMALL. */
#define DOC_OUT_CAP 256

/* Prints the failed condition and exits with status 1. */
#define DOC_CHECK(cond) \
    ((cond) ? (void)0 : doc_fail(__FILE__, __LINE__, "check failed: %s", #cond))
void doc_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((noreturn, format(printf, 3, 4)))
#endif
    ;
#define DOC_FAIL(...) doc_fail(__FILE__, __LINE__, __VA_ARGS__)

/* Kept by the wrappers of wrap.h. */
extern unsigned long doc_too_small;   /* WSP_ERR_BUFFER_TOO_SMALL returns */
extern unsigned long doc_output_calls; /* calls of wrapped output functions */

/* Wrapped output functions. Each calls the library, checks that a failure
 * left *out_len at 0, and then, on WSP_ERR_BUFFER_TOO_SMALL, stores there
 * what libwsproto 0.1 stored (the size needed, or more than out_cap): a
 * sample that uses the length of a failed call goes wrong here, visibly
 * under AddressSanitizer, instead of passing by luck. */
int doc_conn_send(wsp_conn *c, wsp_opcode op, const uint8_t *p, size_t len,
                  unsigned flags, uint8_t *out, size_t cap, size_t *out_len);
int doc_conn_accept(wsp_conn *c, const wsp_accept_options *o, uint8_t *out,
                    size_t cap, size_t *out_len);
int doc_conn_reject(wsp_conn *c, int http_status, uint8_t *out, size_t cap,
                    size_t *out_len);
int doc_conn_flush(wsp_conn *c, uint8_t *out, size_t cap, size_t *out_len);
int doc_conn_close(wsp_conn *c, uint16_t code, const char *reason,
                   size_t reason_len, uint8_t *out, size_t cap, size_t *out_len);
int doc_conn_client_request(wsp_conn *c, const wsp_client_options *o,
                            uint8_t *out, size_t cap, size_t *out_len);
int doc_deflate_negotiate(const wsp_headers *h, const wsp_deflate_config *cfg,
                          wsp_deflate_params *agreed, char *out, size_t cap,
                          size_t *out_len);

/* The client peer of a server sample: it sends an upgrade request, then,
 * once the 101 arrives, messages of many sizes (empty, around the 7- and
 * 16-bit length limits, larger than the output buffer, a fragmented one
 * with a ping inside), pings and a close 1000, all handed out by
 * peer_read() in pieces of changing size. Everything the sample writes is
 * parsed by the client connection and checked against what was sent. */
void peer_start(void);
ssize_t peer_read(int fd, void *buf, size_t cap);
int peer_write_all(int fd, const uint8_t *p, size_t n);
int peer_close(int fd);
/* Checks that every message came back intact and in order, a pong answered
 * a ping, the close was answered with 1000, the descriptor was closed, and
 * WSP_ERR_BUFFER_TOO_SMALL was met; prints a summary. Returns 0 or exits. */
int peer_finish(const char *sample, int sample_rc);

/* Deterministic message content for the peers: `len` binary bytes, or at
 * most `len` bytes of text with 1- to 4-byte code points so that pieces
 * and records end inside them. Returns the bytes written. */
size_t doc_fill(uint8_t *p, size_t len, wsp_opcode op, size_t seed);

/* Runs the handshake between two fresh connections in memory (client
 * request, server accept with no options, 101 into the client). */
void doc_handshake(wsp_conn *client, wsp_conn *server);
/* Sends one message from `from` and feeds it to `to`, returning the
 * reassembled message (caller frees with wsp_message_free). */
void doc_transfer(wsp_conn *from, wsp_conn *to, wsp_opcode op,
                  const uint8_t *p, size_t len, wsp_message *got);

#endif
