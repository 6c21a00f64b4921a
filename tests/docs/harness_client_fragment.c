/* Harness for a client sample written as the body of a function returning
 * int: it gets `fd`, `out` of `cap` bytes and write_all(), and leaves the
 * client connection in `c`. The harness runs it twice: with an output
 * buffer too small for the request (the sample must give up cleanly,
 * writing nothing) and with DOC_OUT_CAP bytes, where it checks that the
 * bytes written are a valid upgrade request and that a server's 101 opens
 * the connection. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsproto.h>

#include SAMPLE_HEAD

#include "wrap.h"

static uint8_t *out;
static size_t cap;
static uint8_t written[4096];
static size_t written_len;

static int write_all(int fd, const uint8_t *p, size_t n)
{
    DOC_CHECK(fd == DOC_FD && n <= sizeof written - written_len);
    memcpy(written + written_len, p, n);
    written_len += n;
    return 0;
}

/* The server's side: the request must be valid, and its 101 must open c. */
static void answer(wsp_conn *c)
{
    wsp_conn *server;
    DOC_CHECK(wsp_conn_new(NULL, &server) == WSP_OK);
    size_t used = 0, n = 0;
    wsp_event ev;
    DOC_CHECK(wsp_conn_recv(server, written, written_len, &used, &ev) == WSP_OK);
    DOC_CHECK(ev.type == WSP_EV_REQUEST && ev.u.request.status == WSP_OK);
    DOC_CHECK(used == written_len);
    const wsp_request *req = &ev.u.request.request;
    DOC_CHECK(req->target_len == 5 && memcmp(req->target, "/chat", 5) == 0);
    DOC_CHECK(ev.u.request.upgrade.host_len == 11 &&
              memcmp(ev.u.request.upgrade.host, "example.com", 11) == 0);
    uint8_t resp[512];
    DOC_CHECK(wsp_conn_accept(server, NULL, resp, sizeof resp, &n) == WSP_OK);
    DOC_CHECK(wsp_conn_recv(c, resp, n, &used, &ev) == WSP_OK);
    DOC_CHECK(ev.type == WSP_EV_RESPONSE && ev.u.response.status == WSP_OK);
    DOC_CHECK(wsp_conn_state(c) == WSP_STATE_OPEN);
    wsp_conn_free(server);
}

static int run(int fd)
{
#include SAMPLE_BODY
    answer(c);
    wsp_conn_free(c);
    return 0;
}

static int run_with(size_t size)
{
    cap = size;
    out = malloc(cap);
    DOC_CHECK(out != NULL);
    written_len = 0;
    int rc = run(DOC_FD);
    free(out);
    return rc;
}

int main(void)
{
    /* Too small for any upgrade request: must fail without writing. */
    DOC_CHECK(run_with(64) != 0);
    DOC_CHECK(written_len == 0);
    if (doc_too_small == 0) DOC_FAIL("WSP_ERR_BUFFER_TOO_SMALL never happened");
    DOC_CHECK(run_with(DOC_OUT_CAP) == 0);
    printf("%s: request of %zu bytes answered; a %d-byte buffer refused cleanly\n",
           SAMPLE_NAME, written_len, 64);
    return 0;
}
