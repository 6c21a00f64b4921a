/* A program that uses an installed libwsproto: checks the version it was
 * compiled against equals the one it runs with, then runs a client and a
 * server connection against each other in memory (handshake, one message
 * each way, close). Exits 0 on success. */
#include <wsproto.h>

#include <stdio.h>
#include <string.h>

static int fixed_entropy(uint8_t *buf, size_t len, void *user)
{
    (void)user;
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(i * 37u + 11u);
    return 0;
}

/* Feeds in[0..len) to conn; returns the status, *ev gets the event. Every
 * test step below yields one event, which uses all of the input. */
static int feed(wsp_conn *conn, uint8_t *in, size_t len, wsp_event *ev)
{
    size_t used = 0;
    int rc = wsp_conn_recv(conn, in, len, &used, ev);
    if (rc == WSP_OK && used != len) return -1000;
    return rc;
}

#define CHECK(cond)                                                   \
    do {                                                              \
        if (!(cond)) {                                                \
            fprintf(stderr, "consumer: check failed: %s\n", #cond);   \
            return 1;                                                 \
        }                                                             \
    } while (0)

int main(void)
{
    const wsp_version_info *v = wsp_version();
    printf("libwsproto %s (header %s)\n", v->string, WSP_VERSION_STRING);
    CHECK(v->major == WSP_VERSION_MAJOR && v->minor == WSP_VERSION_MINOR &&
          v->patch == WSP_VERSION_PATCH);
    CHECK(strcmp(v->string, WSP_VERSION_STRING) == 0);

    wsp_config scfg, ccfg;
    memset(&scfg, 0, sizeof scfg);
    memset(&ccfg, 0, sizeof ccfg);
    ccfg.role = WSP_ROLE_CLIENT;
    ccfg.entropy = fixed_entropy;
    wsp_conn *server = NULL, *client = NULL;
    CHECK(wsp_conn_new(&scfg, &server) == WSP_OK);
    CHECK(wsp_conn_new(&ccfg, &client) == WSP_OK);

    uint8_t wire[1024];
    size_t n = 0;
    wsp_client_options opts;
    memset(&opts, 0, sizeof opts);
    opts.host = "localhost";
    CHECK(wsp_conn_client_request(client, &opts, wire, sizeof wire, &n) == WSP_OK);

    wsp_event ev;
    CHECK(feed(server, wire, n, &ev) == WSP_OK && ev.type == WSP_EV_REQUEST);
    CHECK(ev.u.request.status == WSP_OK);
    CHECK(wsp_conn_accept(server, NULL, wire, sizeof wire, &n) == WSP_OK);
    CHECK(feed(client, wire, n, &ev) == WSP_OK && ev.type == WSP_EV_RESPONSE);
    CHECK(ev.u.response.status == WSP_OK && wsp_conn_state(client) == WSP_STATE_OPEN);

    static const char hello[] = "hello from the client";
    CHECK(wsp_conn_send(client, WSP_OP_TEXT, (const uint8_t *)hello,
                        strlen(hello), 0, wire, sizeof wire, &n) == WSP_OK);
    CHECK(feed(server, wire, n, &ev) == WSP_OK && ev.type == WSP_EV_DATA);
    CHECK(ev.u.data.len == strlen(hello) &&
          memcmp(ev.u.data.payload, hello, ev.u.data.len) == 0);
    CHECK(ev.u.data.flags & WSP_DATA_LAST);

    CHECK(wsp_conn_close(client, 1000, "bye", 3, wire, sizeof wire, &n) == WSP_OK);
    CHECK(feed(server, wire, n, &ev) == WSP_OK && ev.type == WSP_EV_CLOSE);
    CHECK(ev.u.close.code == 1000);
    CHECK(wsp_conn_flush(server, wire, sizeof wire, &n) == WSP_OK && n > 0);
    CHECK(feed(client, wire, n, &ev) == WSP_OK && ev.type == WSP_EV_CLOSE);
    CHECK(wsp_conn_state(client) == WSP_STATE_CLOSED);
    CHECK(wsp_conn_state(server) == WSP_STATE_CLOSED);

    wsp_conn_free(client);
    wsp_conn_free(server);
    puts("consumer: ok");
    return 0;
}
