"""--threads 2 on the event-loop server (examples/epoll_echo_server): two
loops, each with its own SO_REUSEPORT listener on one port. 40 clients
connect and echo; both loops must carry connections (SIGUSR1 prints each
loop's counters), every echo is right, and a SIGTERM drains both loops
(every client gets 1001) before the server exits 0.

usage: test_epoll_threads.py EPOLL_ECHO_SERVER
"""
import re
import signal
import struct

from seclib import Client, EchoServer, check, encode_frame, log, run

CLIENTS = 40


def main(args):
    binary = args[0]
    with EchoServer(binary, "--threads", "2", "--drain-timeout", "2") as srv:
        clients = [Client(srv.port) for _ in range(CLIENTS)]
        for r in range(5):
            for i, c in enumerate(clients):
                msg = b"m%d-%d" % (i, r)
                got, _ = c.echo(msg)
                check(got == msg, "echo mismatch on client %d" % i)
        srv.proc.send_signal(signal.SIGUSR1)
        check(srv.wait_log(r"connections open=%d " % CLIENTS), "no counters")
        per_loop = {}
        for l in srv.log_lines():
            m = re.search(r"loop (\d+): open=(\d+) total=(\d+) messages=(\d+)", l)
            if m:
                per_loop[int(m.group(1))] = (int(m.group(2)), int(m.group(4)))
        check(sorted(per_loop) == [0, 1], "per-loop counters: %r" % per_loop)
        for k, (conns, msgs) in per_loop.items():
            check(conns > 0, "loop %d holds no connection: %r" % (k, per_loop))
            check(msgs == conns * 5, "loop %d echoed %d messages for %d "
                  "connections" % (k, msgs, conns))
        srv.proc.send_signal(signal.SIGTERM)
        for i, c in enumerate(clients):
            op, _, data = c.read_frame(timeout=3)
            check(op == 0x8 and struct.unpack("!H", data[:2])[0] == 1001,
                  "client %d: no 1001 on drain" % i)
            c.send(encode_frame(0x8, struct.pack("!H", 1001)))
        rc = srv.proc.wait(timeout=5)
        check(rc == 0, "server exited %d" % rc)
        loops = {int(m.group(1)) for m in
                 (re.search(r"loop=(\d+) path=- outcome=shutdown", l)
                  for l in srv.log_lines()) if m}
        check(loops == {0, 1}, "shutdown log lines from loops %r" % loops)
        log("threads: connections per loop %s, both drained"
            % ", ".join("%d" % per_loop[k][0] for k in sorted(per_loop)))
        for c in clients:
            c.close()


if __name__ == "__main__":
    run(main)
