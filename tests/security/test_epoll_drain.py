"""Graceful drain of the event-loop server (examples/epoll_echo_server):

  1. SIGUSR1 prints the counters and the server keeps serving;
  2. on SIGTERM every open WebSocket gets a close frame with code 1001,
     including one whose output is stalled behind data it does not read
     (its 1001 goes out after that data once it reads again); the
     clients that answer get EOF, no new connection is accepted;
  3. a client that never answers is dropped when --drain-timeout passes,
     and the server then exits 0 on its own, printing its counters.

usage: test_epoll_drain.py EPOLL_ECHO_SERVER
"""
import signal
import socket
import struct
import time

from seclib import (Client, EchoServer, check, encode_frame, expect_eof, log,
                    read_head, run, stalled_writer, upgrade_request)

CLIENTS = 30
DRAIN_S = 1.5


def main(args):
    binary = args[0]
    with EchoServer(binary, "--drain-timeout", str(DRAIN_S)) as srv:
        clients = [Client(srv.port) for _ in range(CLIENTS)]
        for i, c in enumerate(clients):
            got, _ = c.echo(b"before %d" % i)
            check(got == b"before %d" % i, "echo mismatch")
        mute = Client(srv.port)

        # A client whose echo is stuck: it sends and does not read.
        stuck, stuck_sent, rest = stalled_writer(srv.port)

        srv.proc.send_signal(signal.SIGUSR1)
        check(srv.wait_log(r"connections open=%d " % (CLIENTS + 2)),
              "SIGUSR1 printed no counters with %d open" % (CLIENTS + 2))
        got, _ = clients[0].echo(b"after usr1")
        check(got == b"after usr1", "not serving after SIGUSR1")

        t0 = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        for i, c in enumerate(clients):
            op, _, data = c.read_frame(timeout=3)
            check(op == 0x8, "client %d got opcode %d, not a close" % (i, op))
            code = struct.unpack("!H", data[:2])[0]
            check(code == 1001, "client %d got close code %d" % (i, code))
            c.send(encode_frame(0x8, struct.pack("!H", 1001)))
        for i, c in enumerate(clients):
            check(expect_eof(c.sock, 3), "client %d: no EOF after close" % i)
            c.close()

        # New connections are refused while draining.
        try:
            probe = socket.create_connection(("127.0.0.1", srv.port), timeout=1)
            probe.sendall(upgrade_request()[0])
            status, _, _ = read_head(probe, timeout=1)
            check(status != 101, "accepted a connection while draining")
            probe.close()
        except OSError:
            pass

        # The stuck client now reads: its echoes, then the 1001.
        stuck.settimeout(3)
        buf = bytearray(rest)
        got_close = False
        deadline = time.time() + 5
        while not got_close and time.time() < deadline:
            try:
                chunk = stuck.recv(1 << 20)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            # Walk whole frames, dropping them as they are parsed.
            while len(buf) >= 2:
                n = buf[1] & 0x7F
                off = 2
                if n == 126:
                    if len(buf) < 4:
                        break
                    n = struct.unpack("!H", bytes(buf[2:4]))[0]
                    off = 4
                elif n == 127:
                    if len(buf) < 10:
                        break
                    n = struct.unpack("!Q", bytes(buf[2:10]))[0]
                    off = 10
                if len(buf) < off + n:
                    break
                if buf[0] & 0x0F == 0x8:
                    got_close = struct.unpack("!H", bytes(buf[off:off + 2]))[0] == 1001
                del buf[:off + n]
        check(got_close, "stalled client got no 1001 after its data")
        stuck.sendall(encode_frame(0x8, struct.pack("!H", 1001)))

        # The mute client got its 1001 too but never answers: the server
        # waits for it until the drain timeout, then exits by itself.
        op, _, data = mute.read_frame(timeout=3)
        check(op == 0x8 and struct.unpack("!H", data[:2])[0] == 1001,
              "mute client got no 1001")
        rc = srv.proc.wait(timeout=DRAIN_S + 5)
        dt = time.time() - t0
        check(rc == 0, "server exited %d" % rc)
        check(DRAIN_S - 0.2 <= dt <= DRAIN_S + 1.5,
              "server exited %.2f s after SIGTERM, drain timeout %.1f"
              % (dt, DRAIN_S))
        check(srv.wait_log(r"close codes sent:.* 1001=%d" % (CLIENTS + 2)),
              "exit counters do not show %d closes with 1001" % (CLIENTS + 2))
        check(srv.wait_log(r"detail=no close reply before --drain-timeout"),
              "no log line for the client that did not answer")
        n = sum(1 for l in srv.log_lines()
                if "outcome=shutdown close_in=1001 close_out=1001" in l)
        check(n >= CLIENTS, "%d clean shutdown closes logged, want >= %d"
              % (n, CLIENTS))
        log("drain: %d clients got 1001 and closed, stalled client got its "
            "data then 1001, exit %.2f s after SIGTERM" % (CLIENTS, dt))
        mute.close()
        stuck.close()


if __name__ == "__main__":
    run(main)
