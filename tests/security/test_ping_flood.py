"""Ping flood: a client sends 20000 pings (125-byte payloads) and never
reads. The server's memory stays bounded (VmRSS measured before, during and
after) and another client keeps getting prompt echoes throughout. Then the
flooder reads: at most one pong per ping, and, if the server kept the
connection (it may drop a peer that does not read once its send timeout
passes), the last pong answers the last ping.

usage: test_ping_flood.py ECHO_SERVER
"""
import struct
import threading
import time

from seclib import Client, EchoServer, check, encode_frame, log, run

PINGS = 20000
BATCH = 100
RSS_LIMIT_KIB = 2048


def ping_payload(i):
    return struct.pack("!I", i) + bytes((i + k) & 0xFF for k in range(121))


def main(args):
    binary = args[0]
    with EchoServer(binary) as srv:
        # Warm up: threads, allocator arenas, the echo path.
        for _ in range(3):
            w = Client(srv.port)
            w.echo(b"warm up")
            w.close()
        other = Client(srv.port)
        other.echo(b"ready")
        time.sleep(0.3)
        rss_before_connect = srv.rss_kib()

        flood = Client(srv.port)
        time.sleep(0.2)
        rss_before = srv.rss_kib()

        stop = threading.Event()
        samples = []
        latencies = []
        errors = []

        def sample():
            while not stop.is_set():
                samples.append(srv.rss_kib())
                time.sleep(0.01)

        def echoes():
            i = 0
            try:
                while not stop.is_set() and i < 10000:
                    payload = b"other %d" % i
                    got, dt = other.echo(payload)
                    if got != payload:
                        errors.append("bad echo %r" % got)
                        return
                    latencies.append(dt)
                    i += 1
                    time.sleep(0.01)
            except Exception as e:  # reported below
                errors.append(repr(e))

        ts = threading.Thread(target=sample)
        te = threading.Thread(target=echoes)
        ts.start()
        te.start()

        t0 = time.time()
        frames = [encode_frame(0x9, ping_payload(i)) for i in range(PINGS)]
        flood.sock.settimeout(30)
        dropped_while_sending = None
        for k in range(0, PINGS, BATCH):
            try:
                flood.send(b"".join(frames[k:k + BATCH]))
            except OSError as e:
                # The server gave up on a peer that does not read: fine.
                dropped_while_sending = "%s after %d pings" % (e, k)
                break
        send_s = time.time() - t0
        time.sleep(1.0)  # the server works through what it received
        stop.set()
        ts.join(10)
        te.join(10)
        rss_after = srv.rss_kib()
        rss_peak = max(samples + [rss_after])

        check(not errors, "other client during the flood: %s" % errors[:3])
        check(len(latencies) >= 10, "other client got only %d echoes"
              % len(latencies))
        check(max(latencies) < 0.5, "other client echo latency %.3f s"
              % max(latencies))
        growth = rss_peak - rss_before_connect
        check(growth < RSS_LIMIT_KIB,
              "server RSS grew %d KiB during the flood (before %d, peak %d)"
              % (growth, rss_before_connect, rss_peak))

        # Now read what the server sent the flooder: coalesced pongs, the
        # last one answering the last ping.
        pongs = 0
        last = None
        closed = None
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                op, fin, payload = flood.read_frame(timeout=1.0)
            except (EOFError, ConnectionError) as e:
                closed = repr(e)
                break
            except OSError:  # timeout: all read
                break
            if op == 0x8:
                closed = "close frame %r" % payload[:2]
                break
            check(op == 0xA, "flooder got opcode %d" % op)
            pongs += 1
            last = payload
            check(pongs <= PINGS, "more pongs than pings")
        check(pongs >= 1 or dropped_while_sending or closed, "no pong at all")
        if closed is None and dropped_while_sending is None:
            check(last == ping_payload(PINGS - 1),
                  "last pong answers ping %r, not the last one"
                  % (last[:4] if last else None))
            # The flooder's connection is still healthy.
            got, _ = flood.echo(b"still here")
            check(got == b"still here", "flooder echo after the flood")
            outcome = "connection kept, last pong = last ping"
        else:
            outcome = "server dropped the non-reading peer (%s)" % (
                dropped_while_sending or closed)
        flood.close()
        other.close()
        log("ping flood: %d pings x 125 B (%.1f MB) sent in %.2f s without "
            "reading; server VmRSS before connect %d KiB, before flood %d "
            "KiB, peak %d KiB (%d samples), after %d KiB: growth %d KiB "
            "(limit %d); %d pongs read afterwards for %d pings, %s; other "
            "client: %d echoes, max latency %.1f ms"
            % (PINGS, PINGS * 131 / 1e6, send_s, rss_before_connect,
               rss_before, rss_peak, len(samples), rss_after, growth,
               RSS_LIMIT_KIB, pongs, PINGS, outcome, len(latencies),
               max(latencies) * 1000))


if __name__ == "__main__":
    run(main)
