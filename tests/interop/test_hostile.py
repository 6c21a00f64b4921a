"""Hostile and broken clients on raw sockets. echo_server must answer each
as RFC 6455 / RFC 9110 say, and keep serving everybody else: a normal client
is checked after every case.

usage: test_hostile.py ECHO_SERVER
"""
import os
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import (EchoServer, RawClient, TestFailure,  # noqa: E402
                            check, check_normal_client, encode_frame,
                            http_request, log, main_wrapper, status_of,
                            upgrade_request)


def expect_status(port, raw, status, what):
    resp = http_request(port, raw)
    got = status_of(resp)
    check(got == status, "%s: expected HTTP %d, got %r (%r)"
          % (what, status, got, resp[:120]))
    return resp


def expect_failure_close(port, frames, code, what):
    """Sends frames after a good handshake; expects a close frame with
    `code` and then the server closing TCP."""
    c = RawClient(port).handshake()
    try:
        c.send(frames)
        while True:
            op, fin, payload = c.read_frame()
            if op == 0x8:
                break
            check(op in (0x1, 0x2, 0x0, 0xA),
                  "%s: unexpected frame opcode %d" % (what, op))
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        check(got == code, "%s: expected close %d, got %r" % (what, code, got))
        check(c.expect_eof(), "%s: server did not close TCP" % what)
    finally:
        c.close()


def handshake_cases(srv, port):
    resp = expect_status(port, os.urandom(300).replace(b"\n", b"") +
                         b"\r\n\r\n", 400, "binary garbage")
    check(b"Connection: close" in resp, "400 lacks Connection: close")
    expect_status(port, b"HELLO WORLD\r\n\r\n", 400, "text garbage")
    big = b"X-Filler: " + b"a" * 200 + b"\r\n"
    expect_status(port, upgrade_request(extra=big * 100), 431,
                  "oversized header block")
    expect_status(port, b"GET / HTTP/1.1\r\nHost: x\r\n" +
                  b"X: " + b"b" * 70000, 431, "endless header line")
    expect_status(port, upgrade_request(http="HTTP/1.0"), 400, "HTTP/1.0")
    expect_status(port, upgrade_request(key=""), 400, "missing key")
    expect_status(port, upgrade_request(key="c2hvcnQ="), 400, "short key")
    resp = expect_status(port, upgrade_request(version="8"), 426,
                         "wrong version")
    check(b"Sec-WebSocket-Version: 13" in resp,
          "426 lacks Sec-WebSocket-Version: 13: %r" % resp)
    expect_status(port, upgrade_request().replace(b"GET", b"PUT", 1), 405,
                  "PUT upgrade")
    expect_status(port, upgrade_request().replace(b"Host: 127.0.0.1\r\n", b""),
                  400, "no Host")
    log("handshake: garbage 400, 431 twice, HTTP/1.0 400, key 400, "
        "version 426, PUT 405, no Host 400")
    check_normal_client(port, "after handshake cases")

    resp = expect_status(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200,
                         "page")
    check(b"WebSocket rocks" in resp and b"location.host" in resp,
          "page body is not the echo test")
    expect_status(port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404,
                  "unknown path")
    expect_status(port, b"POST / HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 0\r\n\r\n", 405, "POST")
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(upgrade_request(path="/any/path?x=1"))
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    check(head.startswith(b"HTTP/1.1 101"), "upgrade on any path: %r" % head)
    s.close()
    log("plain HTTP: page 200, 404, 405; upgrade on any path 101")


def frame_cases(port):
    expect_failure_close(port, encode_frame(0x1, b"unmasked", mask=False),
                         1002, "unmasked frame")
    check_normal_client(port, "after unmasked")
    expect_failure_close(port, encode_frame(0x3, b"x"), 1002,
                         "reserved opcode")
    expect_failure_close(port, encode_frame(0x1, b"x", rsv=4), 1002, "RSV1")
    expect_failure_close(port, encode_frame(0x9, b"p" * 126), 1002,
                         "ping over 125")
    expect_failure_close(port, encode_frame(0x9, b"p", fin=False), 1002,
                         "fragmented ping")
    expect_failure_close(port, encode_frame(0x0, b"x"), 1002,
                         "continuation with no message")
    expect_failure_close(port, encode_frame(0x1, b"a", fin=False) +
                         encode_frame(0x1, b"b"), 1002,
                         "new message inside a fragmented one")
    expect_failure_close(port, encode_frame(0x1, b"\xc3\x28 bad"), 1007,
                         "invalid UTF-8")
    expect_failure_close(port, encode_frame(0x8, b"\x03"), 1002,
                         "one-byte close payload")
    expect_failure_close(port, encode_frame(0x8, struct.pack("!H", 1005)),
                         1002, "close code 1005 on the wire")
    expect_failure_close(port, encode_frame(0x2, b"z" * 5000), 1009,
                         "message over --max-message")
    log("frames: unmasked, opcode, RSV, control, continuation 1002; "
        "UTF-8 1007; size 1009")
    check_normal_client(port, "after frame failures")

    # An empty close is answered with an empty close.
    c = RawClient(port).handshake()
    c.send(encode_frame(0x8, b""))
    op, fin, payload = c.read_frame()
    check(op == 0x8 and payload == b"", "empty close answered %r" % payload)
    check(c.expect_eof(), "no TCP close after empty close")
    c.close()

    # Truncated frame, then the client vanishes.
    c = RawClient(port).handshake()
    c.send(encode_frame(0x2, b"q" * 1000)[:40])
    c.close()
    # Truncated handshake, then the client vanishes.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(upgrade_request()[:30])
    s.close()
    # Abortive close (RST) in the middle of a big echo.
    c = RawClient(port).handshake()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    c.send(encode_frame(0x2, os.urandom(4000)) * 50)
    c.close()
    check_normal_client(port, "after truncation and resets")
    log("truncated frame, truncated request, reset mid-echo: server fine")


def stall_cases(binary):
    # A stalled client does not block anyone; the handshake and idle
    # timeouts then drop it.
    with EchoServer(binary, "--handshake-timeout", "1", "--idle-timeout",
                    "1") as srv:
        silent = socket.create_connection(("127.0.0.1", srv.port))
        check_normal_client(srv.port, "while a client stalls")
        silent.settimeout(5)
        t0 = time.time()
        check(silent.recv(100) == b"", "stalled handshake not dropped")
        check(time.time() - t0 < 4, "handshake timeout too slow")
        silent.close()

        # Trickling the request a byte at a time does not beat the deadline.
        slow = socket.create_connection(("127.0.0.1", srv.port))
        slow.settimeout(5)
        req = upgrade_request()
        t0 = time.time()
        dropped = False
        for b in req:
            try:
                slow.sendall(bytes([b]))
            except OSError:
                dropped = True
                break
            time.sleep(0.05)
            if time.time() - t0 > 4:
                break
        if not dropped:
            try:
                dropped = slow.recv(100) == b""
            except OSError:
                dropped = True
        check(dropped and time.time() - t0 < 4.5,
              "slow handshake not dropped by the deadline")
        slow.close()

        idle = RawClient(srv.port).handshake()
        idle.sock.settimeout(5)
        op, fin, payload = idle.read_frame()
        check(op == 0x8 and payload[:2] == struct.pack("!H", 1001),
              "idle timeout close: %r" % ((op, payload),))
        idle.send(encode_frame(0x8, payload[:2]))
        check(idle.expect_eof(), "no TCP close after idle close")
        idle.close()
        log("stall: handshake timeout and idle timeout (1001) ok")

    # Over the connection cap: HTTP 503, and the others keep working.
    with EchoServer(binary, "--max-connections", "2") as srv:
        a = RawClient(srv.port).handshake()
        b = RawClient(srv.port).handshake()
        resp = http_request(srv.port, upgrade_request())
        check(status_of(resp) == 503, "over the cap: %r" % resp[:60])
        a.send(encode_frame(0x1, b"still here"))
        check(a.read_frame()[2] == b"still here", "capped server stopped")
        a.close()
        b.close()
        deadline = time.time() + 5
        while True:
            try:
                check_normal_client(srv.port, "after the cap")
                break
            except (TestFailure, OSError, EOFError):
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        log("cap: 503 over --max-connections, slots freed afterwards")

    # SIGINT with a client connected: it gets 1001 and the server exits 0.
    srv = EchoServer(binary)
    c = RawClient(srv.port).handshake()
    c.sock.settimeout(5)
    srv.proc.send_signal(signal.SIGINT)
    op, fin, payload = c.read_frame()
    check(op == 0x8 and payload[:2] == struct.pack("!H", 1001),
          "shutdown close: %r" % ((op, payload),))
    c.send(encode_frame(0x8, payload[:2]))
    check(c.expect_eof(), "no TCP close on shutdown")
    c.close()
    srv.proc.wait(timeout=10)
    check(srv.proc.returncode == 0, "exit status after SIGINT: %s"
          % srv.proc.returncode)
    srv.stop()
    log("SIGINT: open client got 1001, server exited 0")


def main():
    if len(sys.argv) != 2:
        raise TestFailure(__doc__)
    binary = sys.argv[1]
    with EchoServer(binary, "--max-message", "4096") as srv:
        handshake_cases(srv, srv.port)
        frame_cases(srv.port)
        check(srv.alive(), "echo_server died")
        check(len(srv.log_lines) > 0, "no per-connection log lines")
    stall_cases(binary)


if __name__ == "__main__":
    main_wrapper(main)
