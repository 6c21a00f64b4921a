/* Helpers shared by the unit tests. */
#ifndef WSP_TEST_SUPPORT_H
#define WSP_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "wsproto.h"

/* Decodes a hex string ("81 05 48 65", spaces ignored) into out; returns the
 * byte count. Aborts on malformed input. */
size_t wsp_test_hex(const char *hex, uint8_t *out, size_t cap);

/* Deterministic pseudo-random generator (xorshift64*). *state must not be 0;
 * wsp_test_rng_seed makes a usable state from any seed. */
uint64_t wsp_test_rng_seed(uint64_t seed);
uint64_t wsp_test_rng(uint64_t *state);
/* Uniform-ish value in [0, bound); bound > 0. */
size_t wsp_test_rng_below(uint64_t *state, size_t bound);

/* A wsp_entropy_fn for tests: deterministic bytes from the uint64_t state
 * that `user` points to. Never fails. */
int wsp_test_entropy(uint8_t *buf, size_t len, void *user);
/* A wsp_entropy_fn that always fails. */
int wsp_test_entropy_fail(uint8_t *buf, size_t len, void *user);

/* Builds one WebSocket frame independently of the library: b0 is the first
 * header byte (FIN, RSV, opcode); if key is not NULL the MASK bit is set and
 * the payload is masked with key. The length always uses the minimal
 * encoding. Returns the frame size. Aborts if cap is too small. */
size_t wsp_test_frame(uint8_t *out, size_t cap, uint8_t b0,
                      const uint8_t *key, const void *payload, size_t len);

/* Strict padded base64 decoder (RFC 4648). Returns the decoded length or
 * -1 if the input is not valid padded base64 or does not fit in cap. */
long wsp_test_base64_decode(const char *in, size_t len, uint8_t *out,
                            size_t cap);

/* A counting allocator for the wsp_allocator hooks. fail_after: number of
 * further successful allocations (malloc or growing realloc) before every
 * allocation fails; negative: never fail. */
typedef struct wsp_test_alloc {
    long fail_after;
    size_t live_blocks;
    size_t live_bytes;
    size_t total_allocs;
    size_t size_mismatches; /* free/realloc with a size other than allocated */
} wsp_test_alloc;
void *wsp_test_malloc(size_t size, void *user);
void *wsp_test_realloc(void *ptr, size_t old_size, size_t new_size,
                       void *user);
void wsp_test_free(void *ptr, size_t size, void *user);

/* wsp_conn_send_bound() for a size that must fit: aborts on any status but
 * WSP_OK, so callers can size buffers with it directly. */
size_t wsp_test_send_bound(const wsp_conn *conn, size_t len);

/* The five headers of a valid upgrade request (Host "a", the RFC 6455
 * sample key, version 13), for requests built without the HTTP parser. */
extern const wsp_header wsp_test_upgrade_headers[5];

/* A pre-parsed "GET / HTTP/1.1" carrying `headers`, as an application with
 * its own HTTP parser hands a request to the library. The result points at
 * `headers`, which must outlive it. */
wsp_request wsp_test_request(const wsp_header *headers, size_t count);

#endif
