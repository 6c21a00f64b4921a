/* The echo servers' answer to a request that is not a WebSocket upgrade,
 * and the helpers to recognise and log such requests. */
#ifndef EXAMPLES_PLAIN_HTTP_H
#define EXAMPLES_PLAIN_HTTP_H

#include "wsproto.h"

#include <stddef.h>

typedef struct plain_reply {
    int status;       /* 200 (the echo page), 404 (other path), 405 (other method) */
    int send_page;    /* 1: the echo page follows head (GET; HEAD gets none) */
    size_t page_len;  /* the echo page's Content-Length */
    char head[256];   /* the response head, or the whole error response */
    size_t head_len;
} plain_reply;

/* The echo page for GET or HEAD of "/" or "/index.html" (any query), else
 * an error. 0, or -1 if the response could not be built. */
int plain_http_reply(const wsp_request *req, plain_reply *r);

/* The echo page's length in bytes. */
size_t plain_http_page_len(void);

/* Writes the echo page's bytes to `out` (page_len of them). */
void plain_http_page(char *out);

/* 1 if the request has header `name` (case-insensitive). */
int plain_http_has_header(const wsp_headers *h, const char *name);

/* Copies peer-supplied text for a log line, keeping it on one line and
 * free of spaces whatever the peer sent. Always NUL-terminates (cap > 0). */
void copy_printable(char *dst, size_t cap, const char *src, size_t len);

#endif
