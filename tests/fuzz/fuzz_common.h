/* Shared machinery of the fuzz targets: input decoding, a checking
 * allocator, an independent UTF-8 reference, and a connection driver that
 * feeds bytes the way a real event loop would while asserting the API
 * contract of wsproto.h after every call.
 *
 * Every check aborts the process: libFuzzer, AFL++ and the replay main all
 * treat that as a finding. */
#ifndef WSP_FUZZ_COMMON_H
#define WSP_FUZZ_COMMON_H

#include "wsproto.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Noreturn void fuzz_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
#define FUZZ_CHECK(cond)                                                    \
    do {                                                                    \
        if (!(cond))                                                        \
            fuzz_fail(__FILE__, __LINE__, "%s", #cond);                     \
    } while (0)
#define FUZZ_CHECKF(cond, ...)                                              \
    do {                                                                    \
        if (!(cond))                                                        \
            fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                     \
    } while (0)

/* Reads configuration bytes from the front of an input; past the end every
 * read yields 0 so short inputs still select a valid configuration. */
typedef struct fuzz_input {
    const uint8_t *data;
    size_t len;
    size_t pos;
} fuzz_input;
uint8_t fuzz_u8(fuzz_input *in);
uint16_t fuzz_u16(fuzz_input *in);
/* Up to want bytes; *got says how many there were. */
const uint8_t *fuzz_take(fuzz_input *in, size_t want, size_t *got);
/* 0 keeps the library default, small bytes give tiny limits (to reach the
 * limit checks with short inputs), large ones give limits in the KiB. */
uint64_t fuzz_limit(uint8_t b);

/* Deterministic entropy. counter mode yields 0,1,2,... so the client key of
 * a fresh connection is a fixed, known string (seed corpora rely on it). */
typedef struct fuzz_rng {
    uint64_t s;
    int counter;
    uint64_t calls;
} fuzz_rng;
uint64_t fuzz_rng_next(fuzz_rng *r);
int fuzz_entropy(uint8_t *buf, size_t len, void *user);
/* Key that a client in counter mode sends first: base64 of bytes 0..15. */
#define FUZZ_COUNTER_KEY "AAECAwQFBgcICQoLDA0ODw=="

/* Allocator that checks sizes handed back to free_fn, keeps totals, and can
 * be frozen: once a connection exists, the library must not allocate. */
typedef struct fuzz_alloc {
    wsp_allocator a;
    size_t live_bytes;
    size_t peak_bytes;
    size_t live_blocks;
    size_t limit;
    int frozen;
} fuzz_alloc;
void fuzz_alloc_init(fuzz_alloc *fa, size_t limit);

/* Reference UTF-8 check written from the Unicode well-formed byte sequence
 * table, sharing nothing with the library's DFA. Returns n when no byte is
 * invalid (then *incomplete says whether the text ends inside a code
 * point), else the offset of the first byte that cannot continue valid
 * UTF-8. If boundary is not NULL, boundary[i] (for i in 0..n) is set to 1
 * exactly when the prefix of length i ends between code points; entries
 * past an error are left 0. */
size_t fuzz_utf8_ref(const uint8_t *s, size_t n, int *incomplete,
                     uint8_t *boundary);
int fuzz_utf8_complete(const uint8_t *s, size_t n);
/* RFC 6455 7.4: codes an endpoint may put in a close frame. */
int fuzz_close_code_sendable(unsigned code);

/* Growable byte buffer, allocated outside the library's allocator. */
typedef struct fuzz_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
} fuzz_buf;
void fuzz_buf_put(fuzz_buf *b, const void *data, size_t n);
void fuzz_buf_free(fuzz_buf *b);

/* Event log records. Everything a connection reports that must not depend
 * on how the input was split goes in here. */
enum {
    FUZZ_REC_MESSAGE = 'M', /* a: opcode; data: the whole message */
    FUZZ_REC_PING = 'I',
    FUZZ_REC_PONG = 'O',
    FUZZ_REC_CLOSE = 'C',   /* a: code; data: reason */
    FUZZ_REC_FAILURE = 'F', /* a: status; b: close code; data: offset */
    FUZZ_REC_REQUEST = 'Q', /* a: status; b: http status; data: target */
    FUZZ_REC_ACCEPTED = 'A',/* a: 1 accepted, 0 rejected; b: http status */
    FUZZ_REC_RESPONSE = 'R',/* a: status; b: http status; data: subprotocol */
    FUZZ_REC_CLOSED = 'X',  /* recv returned WSP_ERR_CLOSED */
    FUZZ_REC_FINAL = 'Z',   /* a: state; b: error status; data: details */
    FUZZ_REC_OUT_PONG = 'p',
    FUZZ_REC_OUT_CLOSE = 'c',
    FUZZ_REC_OUT_HTTP = 'h' /* a: http status */
};
void fuzz_log(fuzz_buf *log, int tag, uint32_t a, uint32_t b,
              const void *data, size_t n);
/* Aborts with both logs printed if they differ. */
void fuzz_log_same(const fuzz_buf *x, const fuzz_buf *y, const char *what);

/* Cyclic list of chunk sizes read from the input; size 0 means "feed
 * everything at once". */
typedef struct fuzz_chunker {
    size_t sizes[4];
    size_t idx;
} fuzz_chunker;
void fuzz_chunker_read(fuzz_chunker *c, fuzz_input *in); /* 4 bytes */
void fuzz_chunker_whole(fuzz_chunker *c);
void fuzz_chunker_single(fuzz_chunker *c);
size_t fuzz_chunker_next(fuzz_chunker *c);

/* Feeds buf[0..n) in the chunker's pieces to the resumable head parser
 * (the connection's) and checks each answer against a from-scratch parse
 * of the same prefix; stops at the first answer that is not NEED_MORE. */
void fuzz_check_resumed_head(const char *buf, size_t n, size_t max_bytes,
                             size_t max_headers, int is_request,
                             fuzz_chunker ch);

/* Walks frames a connection wrote, as its peer would, and asserts each is
 * well formed (parses whole, canonical header, masked exactly when the
 * writer is a client, RSV clear, known opcode, control frames final and
 * short, close payloads sendable). cb gets each header and the unmasked
 * payload. */
typedef void (*fuzz_frame_cb)(void *user, const wsp_frame_header *h,
                              const uint8_t *payload);
void fuzz_parse_frames(const uint8_t *buf, size_t len, wsp_role writer,
                       fuzz_frame_cb cb, void *user);

/* One connection under test plus everything the driver tracks about it. */
typedef struct fuzz_peer {
    wsp_conn *conn;
    wsp_config cfg;
    fuzz_alloc alloc;
    fuzz_rng rng;
    wsp_origin_policy policy;
    /* server: how to answer a valid request */
    int echo_subprotocol;
    int reject_valid;
    /* client: what the request offered */
    const wsp_client_options *client_opts;

    fuzz_buf events;  /* event log */
    fuzz_buf out;     /* log of what the connection queued on its own */
    fuzz_buf flushed; /* raw bytes of every flush and handshake answer */
    fuzz_buf msg;     /* message being reassembled */
    int msg_open;
    unsigned msg_op;

    int failed;
    int fail_status;
    uint16_t fail_code;
    int expect_out_close; /* a failure promised a close frame: code */
    int saw_close;        /* peer's close event seen */
    int sent_close;       /* a close frame came out of flush */
    int saw_closed;       /* recv returned WSP_ERR_CLOSED */
    int request_status;   /* first REQUEST / RESPONSE status, 1 if none */
    uint8_t ping[WSP_MAX_CONTROL_PAYLOAD];
    size_t ping_len;
    int ping_seen;
    uint64_t fed;
    /* the application starts the closing handshake once the event log
     * holds this many records (0: never) */
    size_t close_after;
    size_t records;
    int app_closed;
    /* permessage-deflate receivers: data events may point into the
     * connection's inflate buffer instead of the input, and then carry at
     * most this many bytes (0: every data event must lie in the input) */
    size_t inflate_buffer;
} fuzz_peer;

/* cfg is copied; allocator, entropy and origin policy are the peer's own. */
void fuzz_peer_init(fuzz_peer *p, const wsp_config *cfg, uint64_t seed,
                    int counter_entropy);
/* Feeds data, drawing chunk sizes from ch, until the input is used up, the
 * connection failed, or it kept the rest back. */
void fuzz_peer_feed(fuzz_peer *p, const uint8_t *data, size_t len,
                    fuzz_chunker *ch);
/* Appends the final state record. */
void fuzz_peer_finish(fuzz_peer *p);
/* Frees the connection and checks no memory is left. */
void fuzz_peer_free(fuzz_peer *p);

/* Client: writes the upgrade request into req (checking it is a valid
 * upgrade by the library's own server-side validator) and the accept value
 * a correct server answers. */
void fuzz_client_request(fuzz_peer *p, const wsp_client_options *opts,
                         fuzz_buf *req, char accept[WSP_ACCEPT_LEN + 1]);

/* Shared body of fuzz_server_frames and fuzz_client_frames. */
int fuzz_frames_main(wsp_role role, const uint8_t *data, size_t size);

#endif
