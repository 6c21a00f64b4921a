/* Socket and clock set-up the example programs share. */
#ifndef EXAMPLES_NET_H
#define EXAMPLES_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Monotonic time: timeouts and rates must not jump with the wall clock. */
uint64_t mono_ns(void);
uint64_t mono_ms(void);

enum net_listen_flags {
    NET_IPV4_ONLY = 1,  /* the caller keys state by a 32-bit address */
    NET_NONBLOCK = 2,   /* for event loops */
    NET_REUSEPORT = 4,  /* several listeners, one port, one per loop */
};

/* A listening TCP socket on host:port (numeric port; "0" picks a free
 * one), close-on-exec, SO_REUSEADDR so a restart does not wait out
 * TIME_WAIT. Errors are printed with `prog` in front. The descriptor, or -1. */
int net_listen(const char *prog, const char *host, const char *port,
               unsigned flags);

/* "1.2.3.4:80" or "[::1]:80" (an unknown family gives "?"). */
void net_format_addr(const struct sockaddr *sa, char *out, size_t cap);

/* The address a socket is bound to, formatted as above. */
void net_format_local(int fd, char *out, size_t cap);

/* SIGINT and SIGTERM call `on_stop`; SIGPIPE is ignored so that writing to
 * a peer that left fails with EPIPE instead of killing the process. */
void net_handle_signals(void (*on_stop)(int));

#endif
