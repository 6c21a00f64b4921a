/*
 * tcp_load: a plain TCP echo load generator written apart from
 * examples/ws_load.c, to check that ws_load's --raw baseline is not itself
 * the bottleneck. One thread per connection, poll() on one socket; no
 * shared buffers, no epoll, no libwsproto.
 *
 *   tcp_load --port N [-c CONNS] [-n MESSAGES] [-s SIZE] [-w WINDOW]
 *
 * Each connection keeps WINDOW messages of SIZE bytes in flight, writing as
 * much as the socket takes and reading as much as there is (up to 256 KiB a
 * read), and checks that every echoed byte equals what was sent. Prints
 * "RESULT mode=tcp_load conns=.. size=.. window=.. msgs=.. secs=.. msgps=..
 * errors=.." and exits 1 on any error.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF (256u * 1024u)
/* Message bytes come from one repeating pattern of this (prime) length, so
 * any offset can be checked without keeping what was sent. */
#define PERIOD 8191u

static unsigned g_port = 9003, g_conns = 1, g_window = 1;
static unsigned long long g_msgs = 10000;
static size_t g_size = 32;
static uint8_t g_pattern[PERIOD * 2 + RBUF];
static int g_errors;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *run_conn(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)g_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint8_t *rbuf = malloc(RBUF);
    int bad = fd < 0 || !rbuf || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0;
    /* Byte counters of the whole stream: sent, and echoed back. */
    unsigned long long total = g_msgs * g_size, wr = 0, rd = 0;
    while (!bad && rd < total) {
        /* Bytes of messages allowed in flight: whole messages only. */
        unsigned long long msgs_done = rd / g_size;
        unsigned long long limit = (msgs_done + g_window) * g_size;
        if (limit > total) limit = total;
        struct pollfd p = {fd, POLLIN, 0};
        if (wr < limit) p.events |= POLLOUT;
        if (poll(&p, 1, 10000) <= 0) {
            bad = 1;
            break;
        }
        if (p.revents & POLLOUT) {
            size_t n = (size_t)(limit - wr);
            if (n > RBUF) n = RBUF;
            ssize_t w = send(fd, g_pattern + wr % PERIOD, n, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EINTR) bad = 1;
            if (w > 0) wr += (unsigned long long)w;
        }
        if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
            ssize_t r = recv(fd, rbuf, RBUF, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) bad = 1;
            if (r > 0) {
                if (memcmp(rbuf, g_pattern + rd % PERIOD, (size_t)r) != 0) bad = 1;
                rd += (unsigned long long)r;
            }
        }
    }
    if (fd >= 0) close(fd);
    free(rbuf);
    if (bad) {
        pthread_mutex_lock(&g_lock);
        g_errors++;
        pthread_mutex_unlock(&g_lock);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--port") == 0) g_port = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "-c") == 0) g_conns = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "-n") == 0) g_msgs = strtoull(v, NULL, 10);
        else if (strcmp(a, "-s") == 0) g_size = (size_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "-w") == 0) g_window = (unsigned)strtoul(v, NULL, 10);
        else {
            fprintf(stderr, "usage: tcp_load --port N [-c C] [-n N] [-s S] [-w W]\n");
            return 2;
        }
    }
    if (!g_conns || !g_msgs || !g_size || !g_window || g_conns > 4096) return 2;
    for (size_t i = 0; i < sizeof g_pattern; i++)
        g_pattern[i] = (uint8_t)('a' + (i % PERIOD) % 26u);
    pthread_t *t = calloc(g_conns, sizeof *t);
    if (!t) return 1;
    double t0 = now_s();
    for (unsigned i = 0; i < g_conns; i++)
        if (pthread_create(&t[i], NULL, run_conn, NULL) != 0) return 1;
    for (unsigned i = 0; i < g_conns; i++) pthread_join(t[i], NULL);
    double secs = now_s() - t0;
    double msgps = (double)g_msgs * g_conns / secs;
    printf("RESULT mode=tcp_load conns=%u size=%zu window=%u msgs=%llu secs=%.4f "
           "msgps=%.0f errors=%d\n",
           g_conns, g_size, g_window, g_msgs * g_conns, secs, msgps, g_errors);
    free(t);
    return g_errors ? 1 : 0;
}
