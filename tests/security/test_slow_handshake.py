"""A client trickling its upgrade request one byte per second is dropped
once --handshake-timeout (2 s) has passed, while another client connecting
during those seconds is served normally. The drop is logged, and so are the
idle timeout and the connection cap when they fire.

usage: test_slow_handshake.py ECHO_SERVER
"""
import socket
import struct
import threading
import time

from seclib import (Client, EchoServer, check, encode_frame, expect_eof, log,
                    read_head, run, upgrade_request)

TIMEOUT_S = 2


def main(args):
    binary = args[0]
    with EchoServer(binary, "--handshake-timeout", str(TIMEOUT_S)) as srv:
        slow = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        t0 = time.time()
        req, _ = upgrade_request()
        result = {}

        def trickle():
            # One byte a second; stop at the first sign of the drop.
            # Bounded: at most 10 bytes (10 s), far past the deadline.
            sent = 0
            for b in req[:10]:
                try:
                    slow.sendall(bytes([b]))
                except OSError:
                    break
                sent += 1
                slow.settimeout(1.0)
                try:
                    data = slow.recv(4096)
                    if data == b"":
                        result["dropped_at"] = time.time() - t0
                        break
                    result["unexpected"] = data
                    break
                except socket.timeout:
                    continue
                except OSError:
                    result["dropped_at"] = time.time() - t0
                    break
            result["sent"] = sent

        th = threading.Thread(target=trickle)
        th.start()

        # A normal client, during the slow one's handshake.
        time.sleep(0.5)
        latencies = []
        c = Client(srv.port, timeout=5)
        for i in range(20):
            payload = b"normal %d" % i
            got, dt = c.echo(payload)
            check(got == payload, "normal client echo: %r" % got)
            latencies.append(dt)
        served_at = time.time() - t0
        c.close()
        th.join(15)
        check(not th.is_alive(), "slow client thread did not finish")
        slow.close()

        check("unexpected" not in result,
              "slow client got data: %r" % result.get("unexpected"))
        dropped = result.get("dropped_at")
        check(dropped is not None, "slow client not dropped after %d bytes"
              % result.get("sent", 0))
        check(TIMEOUT_S - 0.2 <= dropped <= TIMEOUT_S + 1.5,
              "slow client dropped after %.2f s, timeout %d s"
              % (dropped, TIMEOUT_S))
        check(served_at < dropped, "normal client not served during the "
              "slow handshake (%.2f s vs %.2f s)" % (served_at, dropped))
        check(max(latencies) < 0.5, "normal client echo latency %.3f s"
              % max(latencies))
        line = srv.wait_log(r"outcome=timeout .*detail=handshake timeout")
        check(line is not None, "no log line for the handshake timeout: %r"
              % srv.log_lines())
        # And the server still serves new clients afterwards.
        c = Client(srv.port)
        check(c.echo(b"after")[0] == b"after", "echo after the drop")
        c.close()
        log("slow client: %d bytes at 1 byte/s, dropped after %.2f s "
            "(--handshake-timeout %d); normal client served at %.2f s, "
            "20 echoes, max latency %.1f ms; log: %s"
            % (result["sent"], dropped, TIMEOUT_S, served_at,
               max(latencies) * 1000, line))


    # The idle timeout closes with 1001 and says so in the log.
    with EchoServer(binary, "--idle-timeout", "1") as srv:
        c = Client(srv.port)
        t0 = time.time()
        op, fin, payload = c.read_frame(timeout=5)
        check(op == 0x8 and payload[:2] == struct.pack("!H", 1001),
              "idle close: %r" % ((op, payload),))
        idle_s = time.time() - t0
        c.send(encode_frame(0x8, payload[:2]))
        check(expect_eof(c.sock, 5), "no TCP close after the idle close")
        c.close()
        line = srv.wait_log(r"outcome=timeout .*detail=idle timeout")
        check(line is not None, "no log line for the idle timeout: %r"
              % srv.log_lines())
        log("idle timeout: close 1001 after %.2f s; log: %s" % (idle_s, line))

    # Over the connection cap: 503, logged.
    with EchoServer(binary, "--max-connections", "1") as srv:
        a = Client(srv.port)
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(upgrade_request()[0])
        status, head, _ = read_head(s)
        s.close()
        check(status == 503, "over the cap: %d %r" % (status, head[:60]))
        check(a.echo(b"first")[0] == b"first", "capped server stopped")
        a.close()
        line = srv.wait_log(r"outcome=overloaded http=503 .*max-connections")
        check(line is not None, "no log line for the cap: %r"
              % srv.log_lines())
        log("connection cap: 503; log: %s" % line)


if __name__ == "__main__":
    run(main)
