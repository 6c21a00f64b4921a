"""Resource limits of the event-loop server (examples/epoll_echo_server):

  1. descriptor limit: run with at most 64 descriptors, 150 clients
     connect and stay; the server keeps serving those it holds, the others
     get a 503 or EOF at once rather than hanging, and while it sits at
     the limit it uses under 10% of a core (it used to spin at 72%);
     after clients leave, new ones get in again;
  2. per-address cap: with --max-per-address 3 the fourth connection
     from 127.0.0.1 gets 503 while 127.0.0.2 is still served;
  3. handshake cap: with --max-handshakes 5, five connections that send
     nothing do not lock out a sixth client: the oldest one is dropped;
  4. output budget: with a small --max-buffered, clients that do not read
     are dropped, longest-stalled first, and the server stays responsive.

usage: test_epoll_limits.py EPOLL_ECHO_SERVER
"""
import resource
import socket
import time

from seclib import (Client, EchoServer, TestFailure, check, encode_frame,
                    expect_eof, log, read_head, run, stalled_writer,
                    upgrade_request)

FD_LIMIT = 64
CLIENTS = 150
CPU_WINDOW_S = 3.0


class LimitedServer(EchoServer):
    """The server with RLIMIT_NOFILE set to FD_LIMIT (soft and hard), so it
    cannot raise it."""

    def __init__(self, binary, *extra):
        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
        super().__init__(binary, *extra, preexec_fn=limit)


def try_client(port, src="127.0.0.1", timeout=3.0):
    """Returns ("ok", Client-like socket) or (reason, None)."""
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        req, _ = upgrade_request()
        s.sendall(req)
        status, _, _ = read_head(s, timeout)
    except (OSError, TestFailure) as e:
        s.close()
        return ("error:%s" % type(e).__name__, None)
    if status != 101:
        s.close()
        return ("http%d" % status, None)
    return ("ok", s)


def fd_limit(binary):
    with LimitedServer(binary, "--quiet") as srv:
        held, refused = [], 0
        for _ in range(CLIENTS):
            what, s = try_client(srv.port, timeout=2)
            if s:
                held.append(s)
            else:
                refused += 1
        check(len(held) >= FD_LIMIT - 16, "only %d connections held" % len(held))
        check(refused == CLIENTS - len(held), "count mismatch")
        # Sitting at the limit: a few more clients knock, the rest idle.
        c0 = srv.cpu_seconds()
        t0 = time.time()
        extra = []
        while time.time() - t0 < CPU_WINDOW_S:
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", srv.port))
                extra.append(s)
            except OSError:
                s.close()
            time.sleep(0.1)
        used = (srv.cpu_seconds() - c0) / (time.time() - t0)
        check(used < 0.10, "server used %.0f%% of a core at the fd limit"
              % (used * 100))
        for s in extra:
            s.close()
        # The held connections are served.
        s = held[0]
        s.sendall(encode_frame(0x1, b"at the limit"))
        data = s.recv(100)
        check(data[2:] == b"at the limit", "held client not served: %r" % data)
        # Room again once clients leave.
        for s in held[:10]:
            s.close()
        time.sleep(0.3)
        what, s = try_client(srv.port)
        check(s is not None, "no new connection after clients left: %s" % what)
        s.close()
        for s in held[10:]:
            s.close()
        log("fd limit %d: %d held, %d refused at once, %.1f%% CPU at the "
            "limit, recovers" % (FD_LIMIT, len(held), refused, used * 100))


def per_address(binary):
    with EchoServer(binary, "--max-per-address", "3") as srv:
        got = [try_client(srv.port) for _ in range(4)]
        check([g[0] for g in got[:3]] == ["ok"] * 3, "first three refused")
        check(got[3][0] == "http503", "fourth from one address: %s" % got[3][0])
        other = try_client(srv.port, src="127.0.0.2")
        check(other[0] == "ok", "another address was refused: %s" % other[0])
        got[0][1].close()
        time.sleep(0.3)
        again = try_client(srv.port)
        check(again[0] == "ok", "no room after one left: %s" % again[0])
        check(srv.wait_log(r"http=503 detail=address cap"), "cap not logged")
        for g in got[1:3] + [other, again]:
            g[1].close()
        log("per-address cap: 4th refused with 503, other address served")


def handshake_cap(binary):
    with EchoServer(binary, "--max-handshakes", "5") as srv:
        silent = []
        for _ in range(5):
            silent.append(socket.create_connection(("127.0.0.1", srv.port)))
            time.sleep(0.02)
        c = Client(srv.port)
        got, _ = c.echo(b"let in")
        check(got == b"let in", "sixth client not served")
        check(expect_eof(silent[0], 2), "oldest silent connection kept")
        check(srv.wait_log(r"detail=handshake cap"), "eviction not logged")
        for s in silent:
            s.close()
        c.close()
        log("handshake cap: oldest silent connection dropped for a new client")


def output_budget(binary):
    with EchoServer(binary, "--max-buffered", "40000") as srv:
        stalled = []
        for i in range(6):
            s, _, _ = stalled_writer(srv.port, bytes([65 + i]), wait=0.3)
            stalled.append(s)
        line = srv.wait_log(r"detail=output budget", timeout=3)
        check(line is not None, "no connection dropped over the output budget")
        c = Client(srv.port)
        got, _ = c.echo(b"responsive")
        check(got == b"responsive", "server not responsive")
        n = sum(1 for l in srv.log_lines() if "detail=output budget" in l)
        for s in stalled:
            s.close()
        c.close()
        log("output budget: %d stalled connections dropped" % n)


def main(args):
    binary = args[0]
    fd_limit(binary)
    per_address(binary)
    handshake_cap(binary)
    output_budget(binary)


if __name__ == "__main__":
    run(main)
