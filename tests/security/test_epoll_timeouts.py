"""Timeouts of the event-loop server (examples/epoll_echo_server), each
shortened to fit the suite:

  1. 40 clients trickling their upgrade request one byte every 0.3 s are
     each dropped within the handshake timeout (1.5 s, absolute from
     accept), while 4 well-behaved clients are served throughout;
  2. keepalive: with --ping-interval, a client that answers pings stays
     open past several intervals, and one that never answers is dropped
     once the pong timeout passes;
  3. idle timeout without pings: the server sends close 1001; a client
     that does not answer is dropped after the close timeout;
  4. a client that sends but never reads is dropped once its output has
     made no progress for the send timeout.
Every drop is checked in the server's log line for that connection.

usage: test_epoll_timeouts.py EPOLL_ECHO_SERVER
"""
import socket
import struct
import threading
import time

from seclib import (Client, EchoServer, check, encode_frame, expect_eof,
                    log, run, stalled_writer, upgrade_request)

HANDSHAKE_S = 1.5
SLOW_CLIENTS = 40


def slow_handshakes(binary):
    with EchoServer(binary, "--handshake-timeout", str(HANDSHAKE_S)) as srv:
        results = [None] * SLOW_CLIENTS

        def trickle(i):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            t0 = time.time()
            req, _ = upgrade_request()
            # Bounded: at most 20 bytes (6 s), far past the deadline.
            for b in req[:20]:
                try:
                    s.sendall(bytes([b]))
                except OSError:
                    break
                s.settimeout(0.3)
                try:
                    data = s.recv(4096)
                    results[i] = ("eof" if data == b"" else "data",
                                  time.time() - t0)
                    break
                except socket.timeout:
                    continue
                except OSError:
                    results[i] = ("eof", time.time() - t0)
                    break
            s.close()

        threads = [threading.Thread(target=trickle, args=(i,))
                   for i in range(SLOW_CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        # Well-behaved clients during the slow ones' handshakes.
        worst = 0.0
        good = [Client(srv.port) for _ in range(4)]
        for r in range(10):
            for c in good:
                got, dt = c.echo(b"good %d" % r)
                check(got == b"good %d" % r, "echo mismatch")
                worst = max(worst, dt)
            time.sleep(0.15)
        for t in threads:
            t.join(15)
        for i, r in enumerate(results):
            check(r is not None, "slow client %d was never dropped" % i)
            check(r[0] == "eof", "slow client %d got data" % i)
            check(HANDSHAKE_S - 0.3 <= r[1] <= HANDSHAKE_S + 1.0,
                  "slow client %d dropped after %.2f s, timeout %.1f s"
                  % (i, r[1], HANDSHAKE_S))
        # The good clients were never cut off, and are still served.
        for c in good:
            got, _ = c.echo(b"still here")
            check(got == b"still here", "good client lost")
            c.close()
        n = sum(1 for l in srv.log_lines() if "detail=handshake timeout" in l)
        check(n == SLOW_CLIENTS, "%d handshake-timeout log lines, want %d"
              % (n, SLOW_CLIENTS))
        log("slow handshakes: %d dropped at %.2f-%.2f s; good clients' worst "
            "echo %.1f ms" % (SLOW_CLIENTS, min(r[1] for r in results),
                              max(r[1] for r in results), worst * 1000))


def keepalive(binary):
    with EchoServer(binary, "--ping-interval", "0.4", "--pong-timeout",
                    "0.6") as srv:
        live = Client(srv.port)
        dead = Client(srv.port)
        dead_t0 = time.time()
        pings = 0
        # The live client answers every ping for 2.5 s (six intervals).
        end = time.time() + 2.5
        while time.time() < end:
            try:
                op, fin, data = live.read_frame(timeout=end - time.time())
            except socket.timeout:
                break
            check(op == 0x9, "expected a ping, got opcode %d" % op)
            check(data == b"keepalive", "ping payload %r" % data)
            pings += 1
            live.send(encode_frame(0xA, data))
        check(pings >= 4, "only %d keepalive pings in 2.5 s" % pings)
        got, _ = live.echo(b"alive")
        check(got == b"alive", "answering client was not kept")
        # The dead client never read nor answered: its ping (and a 1001
        # offered without waiting) are in its buffer, then EOF.
        frames = []
        try:
            while True:
                frames.append(dead.read_frame(timeout=1.0))
        except EOFError:
            pass
        dt = time.time() - dead_t0
        check(frames and frames[0][0] == 0x9, "dead client got no ping")
        check(any(f[0] == 0x8 and struct.unpack("!H", f[2][:2])[0] == 1001
                  for f in frames), "no close 1001 after the missed pong")
        check(srv.wait_log(r"outcome=timeout.*detail=no pong"),
              "no log line for the missing pong")
        log("keepalive: %d pings answered, silent client dropped (checked "
            "after %.1f s)" % (pings, dt))
        live.close()
        dead.close()


def idle_and_close_timeout(binary):
    with EchoServer(binary, "--idle-timeout", "0.5", "--close-timeout",
                    "0.7") as srv:
        polite = Client(srv.port)
        mute = Client(srv.port)
        t0 = time.time()
        op, _, data = polite.read_frame(timeout=3)
        dt = time.time() - t0
        check(op == 0x8 and struct.unpack("!H", data[:2])[0] == 1001,
              "idle client got opcode %d %r, not close 1001" % (op, data))
        check(0.3 <= dt <= 1.5, "idle close after %.2f s, timeout 0.5" % dt)
        polite.send(encode_frame(0x8, struct.pack("!H", 1001)))
        check(expect_eof(polite.sock, 2), "no EOF after the close handshake")
        # The mute client got the same close and never answers.
        op, _, _ = mute.read_frame(timeout=3)
        check(op == 0x8, "mute client got no close frame")
        check(expect_eof(mute.sock, 3), "mute client never dropped")
        dt = time.time() - t0
        check(dt <= 0.5 + 0.7 + 1.0, "mute client dropped after %.2f s" % dt)
        check(srv.wait_log(r"outcome=timeout close_in=1001 close_out=1001.*"
                           r"detail=idle timeout"),
              "no log line for the completed idle close")
        check(srv.wait_log(r"outcome=timeout.*detail=close timeout"),
              "no log line for the close timeout")
        log("idle: close 1001 and close timeout, all ended %.2f s after connect" % dt)


def stalled_send(binary):
    with EchoServer(binary, "--send-timeout", "1") as srv:
        # Send until the server stops reading (it pauses a connection whose
        # output is kept); never read. Bounded: 64 MiB or 10 s.
        s, sent, _ = stalled_writer(srv.port, b"x", limit=64 << 20)
        t_block = time.time()
        line = srv.wait_log(r"detail=send stalled", timeout=5)
        dt = time.time() - t_block
        check(line is not None, "client that stopped reading was not dropped")
        check(dt <= 1 + 2.0, "dropped %.2f s after the writes blocked" % dt)
        log("stalled send: %d KiB sent, dropped %.2f s after the client's "
            "writes blocked" % (sent >> 10, dt))
        s.close()


def main(args):
    binary = args[0]
    slow_handshakes(binary)
    keepalive(binary)
    idle_and_close_timeout(binary)
    stalled_send(binary)


if __name__ == "__main__":
    run(main)
