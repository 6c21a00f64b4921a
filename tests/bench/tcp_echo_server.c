/*
 * tcp_echo_server: a plain TCP echo server, the baseline for the WebSocket
 * echo servers in docs/benchmarks.md. No WebSocket at all: every byte read
 * is written back.
 *
 *   tcp_echo_server [--mode epoll|threads] [--host 127.0.0.1] [--port 0]
 *                   [--max-seconds N]
 *
 * epoll: single-threaded, non-blocking, level-triggered, built the same way
 * as examples/epoll_echo_server.c (one shared read buffer of 256 KiB of
 * payload, one read and one write per readiness, unsent bytes kept per
 * connection and reading paused until they are written), so the two
 * differ only by the WebSocket work. threads: one thread per connection
 * with blocking read/write, like examples/echo_server.c.
 *
 * Prints "tcp_echo_server listening on HOST:PORT" once listening; stops on
 * SIGINT/SIGTERM or after --max-seconds (default 600).
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* epoll mode reads up to 256 KiB at once, the payload examples/
 * epoll_echo_server reads at once (it adds 4 KiB of room for frame
 * headers; raw bytes have none, and a window of power-of-two messages fits
 * 256 KiB exactly): fewer system calls per large message. Threads keep
 * 64 KiB, as examples/echo_server does. */
#define READ_SIZE (256u * 1024u)
#define THREAD_READ_SIZE (64u * 1024u)
#define MAX_FDS 65536

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int listen_on(const char *host, unsigned port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "tcp_echo_server: bad IPv4 address %s\n", host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0) {
        perror("tcp_echo_server: bind/listen");
        close(fd);
        return -1;
    }
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    printf("tcp_echo_server listening on %s:%u\n", host, (unsigned)ntohs(sa.sin_port));
    fflush(stdout);
    return fd;
}

/* ---------------------------------------------------------------- epoll */
typedef struct tconn {
    uint8_t *out; /* unsent bytes (NULL when none) */
    uint32_t out_len;
    uint32_t out_off;
} tconn;

static tconn *g_conns;
static int g_ep;

static void tconn_close(int fd)
{
    free(g_conns[fd].out);
    memset(&g_conns[fd], 0, sizeof g_conns[fd]);
    close(fd);
}

static void set_events(int fd, uint32_t events)
{
    struct epoll_event ev;
    ev.events = events;
    ev.data.fd = fd;
    epoll_ctl(g_ep, EPOLL_CTL_MOD, fd, &ev);
}

static void on_readable(int fd, uint8_t *buf)
{
    ssize_t n = read(fd, buf, READ_SIZE);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        tconn_close(fd);
        return;
    }
    if (n < 0) return;
    ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            tconn_close(fd);
            return;
        }
        w = 0;
    }
    if (w < n) {
        /* Back-pressure: keep the rest, stop reading until it is out. */
        tconn *c = &g_conns[fd];
        c->out_len = (uint32_t)(n - w);
        c->out_off = 0;
        c->out = malloc(c->out_len);
        if (!c->out) {
            tconn_close(fd);
            return;
        }
        memcpy(c->out, buf + w, c->out_len);
        set_events(fd, EPOLLOUT);
    }
}

static void on_writable(int fd)
{
    tconn *c = &g_conns[fd];
    ssize_t w = send(fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) tconn_close(fd);
        return;
    }
    c->out_off += (uint32_t)w;
    if (c->out_off == c->out_len) {
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        set_events(fd, EPOLLIN);
    }
}

static int run_epoll(int lfd, double deadline)
{
    static struct epoll_event evs[256];
    uint8_t *buf = malloc(READ_SIZE);
    g_conns = calloc(MAX_FDS, sizeof *g_conns);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (!buf || !g_conns || g_ep < 0) return 1;
    memset(buf, 0, READ_SIZE);
    struct epoll_event lev;
    lev.events = EPOLLIN;
    lev.data.fd = lfd;
    epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &lev);
    while (!g_stop && now_s() < deadline) {
        int n = epoll_wait(g_ep, evs, 256, 500);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0) break;
                    if (cfd >= MAX_FDS) {
                        close(cfd);
                        continue;
                    }
                    int one = 1;
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev;
                    cev.events = EPOLLIN;
                    cev.data.fd = cfd;
                    epoll_ctl(g_ep, EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            if (g_conns[fd].out) {
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable(fd);
            } else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(fd, buf);
            }
        }
    }
    return 0;
}

/* -------------------------------------------------------------- threads */
static void *conn_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t *buf = malloc(THREAD_READ_SIZE);
    while (buf) {
        ssize_t n = read(fd, buf, THREAD_READ_SIZE);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) goto done;
            off += w;
        }
    }
done:
    free(buf);
    close(fd);
    return NULL;
}

static int run_threads(int lfd, double deadline)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64u * 1024u);
    while (!g_stop && now_s() < deadline) {
        struct timeval tv = {0, 500000};
        setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) continue;
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t tid;
        if (pthread_create(&tid, &attr, conn_thread, (void *)(intptr_t)cfd) != 0)
            close(cfd);
    }
    pthread_attr_destroy(&attr);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = "epoll", *host = "127.0.0.1";
    unsigned port = 0;
    double max_seconds = 600;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--mode") == 0 && v) {
            mode = v;
            i++;
        } else if (strcmp(argv[i], "--host") == 0 && v) {
            host = v;
            i++;
        } else if (strcmp(argv[i], "--port") == 0 && v) {
            port = (unsigned)strtoul(v, NULL, 10);
            i++;
        } else if (strcmp(argv[i], "--max-seconds") == 0 && v) {
            max_seconds = atof(v);
            i++;
        } else {
            fprintf(stderr, "usage: tcp_echo_server [--mode epoll|threads] "
                            "[--host ADDR] [--port N] [--max-seconds N]\n");
            return 2;
        }
    }
    if (strcmp(mode, "epoll") != 0 && strcmp(mode, "threads") != 0) {
        fprintf(stderr, "tcp_echo_server: mode is epoll or threads\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    int lfd = listen_on(host, port);
    if (lfd < 0) return 1;
    double deadline = now_s() + max_seconds;
    if (strcmp(mode, "epoll") == 0) {
        /* The listening socket is non-blocking in epoll mode. */
        fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
        return run_epoll(lfd, deadline);
    }
    return run_threads(lfd, deadline);
}
