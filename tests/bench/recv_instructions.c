/* Receives 20,000 masked single-frame messages through wsp_conn_recv, for
 * counting instructions per message with callgrind, which gives the same
 * count on every run whatever else the machine does:
 *
 *   valgrind --tool=callgrind --toggle-collect=wsp_conn_recv \
 *       recv_instructions binary|text SIZE
 *
 * Instructions inside wsp_conn_recv (and what it calls) / 20,000 is the
 * library's cost per message. SIZE is 0..125 (one 7-bit length). */
#include <wsproto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MESSAGES = 20000 };

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "binary") != 0 && strcmp(argv[1], "text") != 0)) {
        fprintf(stderr, "usage: recv_instructions binary|text SIZE (0..125)\n");
        return 2;
    }
    int text = argv[1][0] == 't';
    long size = strtol(argv[2], NULL, 10);
    if (size < 0 || size > 125) return 2;
    size_t plen = (size_t)size, frame = 6 + plen, total = MESSAGES * frame;
    uint8_t *buf = malloc(total);
    if (!buf) return 1;
    for (size_t i = 0; i < MESSAGES; i++) {
        uint8_t *f = buf + i * frame;
        f[0] = text ? 0x81 : 0x82;
        f[1] = (uint8_t)(0x80u | plen);
        f[2] = 1, f[3] = 2, f[4] = 3, f[5] = 4;
        for (size_t j = 0; j < plen; j++)
            f[6 + j] = (uint8_t)(('a' + j % 26) ^ f[2 + j % 4]);
    }
    wsp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.start_open = 1;
    wsp_conn *c = NULL;
    if (wsp_conn_new(&cfg, &c) != WSP_OK) return 1;
    size_t off = 0, messages = 0;
    while (off < total) {
        size_t used = 0;
        wsp_event ev;
        int rc = wsp_conn_recv(c, buf + off, total - off, &used, &ev);
        if (rc != WSP_OK) {
            fprintf(stderr, "recv: %s\n", wsp_strerror(rc));
            return 1;
        }
        off += used;
        if (ev.type == WSP_EV_NONE) break;
        messages += ev.type == WSP_EV_DATA;
    }
    wsp_conn_free(c);
    free(buf);
    printf("%zu messages\n", messages);
    return messages == MESSAGES ? 0 : 1;
}
