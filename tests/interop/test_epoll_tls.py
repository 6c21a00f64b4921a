"""wss:// and https against epoll_echo_server --tls-cert/--tls-key, its
non-blocking TLS loop: Python `websockets` echoes messages of 0 B to 16 MiB
with and without permessage-deflate, the page comes over https, the idle
timeout and a SIGTERM drain close with 1001 over TLS, a client that never
sends a ClientHello is dropped at the handshake timeout (and counts against
the handshake cap), one that stops reading is dropped at --send-timeout,
and --threads 2 serves. With the server's socket full just as it sends
its close_notify (FULL_AT_CLOSE_NOTIFY, a preloaded library, makes that
write fail once with EAGAIN), a slow reader with a tiny receive buffer still
gets the close_notify before EOF.

usage: test_epoll_tls.py EPOLL_ECHO_SERVER MAKE_TEST_CA FULL_AT_CLOSE_NOTIFY
"""
import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import (EchoServer, TestFailure, check,  # noqa: E402
                            check_tls_close_notify,
                            check_tls_close_notify_full_socket, expect_server_close,
                            encode_frame, log, preloaded,
                            main_wrapper, require_module, upgrade_request)

websockets = require_module("websockets")
import websockets.exceptions  # noqa: E402

SIZES = [0, 125, 126, 65535, 65536, 1 << 20, 16 << 20]


def make_ca():
    d = tempfile.mkdtemp(prefix="wsp-epoll-tls-")
    subprocess.run(["bash", sys.argv[2], d], check=True)
    return d


def tls_args(ca):
    return ("--tls-cert", os.path.join(ca, "server.pem"),
            "--tls-key", os.path.join(ca, "server.key"))


def client_ctx(ca):
    return ssl.create_default_context(cafile=os.path.join(ca, "ca.pem"))


def wait_for_log(server, pred, seconds=10):
    """The log line is written when the server closes TCP, which may come
    after the client saw the close."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(pred(line) for line in server.log_lines):
            return True
        time.sleep(0.05)
    return False


async def echo_all(server, ca):
    url = "wss://127.0.0.1:%d/tls" % server.port
    for compression in (None, "deflate"):
        async with websockets.connect(url, ssl=client_ctx(ca), max_size=None,
                                      compression=compression) as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions")
            check((ext is not None) == (compression is not None),
                  "extension %r with compression=%r" % (ext, compression))
            for size in SIZES:
                for msg in ("t" * size, os.urandom(size)):
                    await ws.send(msg)
                    got = await asyncio.wait_for(ws.recv(), 120)
                    check(got == msg, "echo of %d bytes (%s) differs, "
                          "compression=%s" % (size, type(msg).__name__,
                                              compression))
            await asyncio.wait_for(await ws.ping(b"over tls"), 10)
            await ws.close(1000)
            check(ws.close_code == 1000, "close answered %r" % ws.close_code)
        log("wss echo %s, compression=%s ok" % (SIZES, compression))

    page = urllib.request.urlopen("https://127.0.0.1:%d/" % server.port,
                                  context=client_ctx(ca), timeout=10).read()
    check(b"wss://" in page and b"WebSocket" in page, "https page not served")
    log("https page served at /")


async def idle_close(server, ca):
    async with websockets.connect("wss://127.0.0.1:%d/idle" % server.port,
                                  ssl=client_ctx(ca), compression=None) as ws:
        await ws.send("still here")
        check(await ws.recv() == "still here", "echo before idling")
        await expect_server_close(ws, 1001, "idle close")


async def drain_close(server, ca):
    async with websockets.connect("wss://127.0.0.1:%d/drain" % server.port,
                                  ssl=client_ctx(ca)) as ws:
        await ws.send("before the drain")
        check(await ws.recv() == "before the drain", "echo before the drain")
        server.proc.send_signal(15)
        await expect_server_close(ws, 1001, "drain's close")


def silent_tcp(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def wait_eof(s):
    """Seconds until the server ends a connection we never speak on."""
    t0 = time.monotonic()
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        data = b""
    except socket.timeout:
        raise TestFailure("server kept a silent connection open")
    check(data == b"", "server sent %r before a ClientHello" % data[:40])
    return time.monotonic() - t0


def stalled_reader(port, ca):
    """A wss client that sends a large message and never reads the echo:
    the server's TLS writes stop taking bytes, and --send-timeout ends it."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(20)
    raw.connect(("127.0.0.1", port))
    s = client_ctx(ca).wrap_socket(raw, server_hostname="127.0.0.1")
    s.sendall(upgrade_request("/stall"))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        check(chunk != b"", "no handshake response")
        head += chunk
    check(head.startswith(b"HTTP/1.1 101"), "handshake: %r" % head[:40])
    try:
        # Blocks once the server, its output stuck, stops reading, and
        # ends when the server drops the connection.
        s.sendall(encode_frame(2, os.urandom(8 << 20)))
    except (ssl.SSLError, OSError):
        pass
    return s


async def many_echo(server, ca, count):
    async def one(i):
        async with websockets.connect(
                "wss://127.0.0.1:%d/t%d" % (server.port, i),
                ssl=client_ctx(ca), max_size=None) as ws:
            msg = os.urandom(70000 + i)
            await ws.send(msg)
            check(await asyncio.wait_for(ws.recv(), 60) == msg,
                  "echo on connection %d" % i)
    await asyncio.gather(*(one(i) for i in range(count)))


def main():
    if len(sys.argv) != 4:
        raise TestFailure(__doc__)
    ca = make_ca()
    binary = sys.argv[1]
    try:
        with EchoServer(binary, *tls_args(ca)) as server:
            asyncio.run(echo_all(server, ca))
            check_tls_close_notify(server.port, os.path.join(ca, "ca.pem"))
        log("a close over wss ends with a TLS close_notify")

        with preloaded(sys.argv[3]):
            server = EchoServer(binary, *tls_args(ca))
        with server:
            check_tls_close_notify_full_socket(server.port,
                                               os.path.join(ca, "ca.pem"))
        log("a close_notify that met a full socket waits for room, then "
            "goes out before TCP ends")

        with EchoServer(binary, "--idle-timeout", "1", *tls_args(ca)) as server:
            asyncio.run(idle_close(server, ca))
            check(wait_for_log(server, lambda l: "outcome=timeout" in l and
                               "close_out=1001" in l),
                  "server log: %r" % server.log_lines)
            check_tls_close_notify(server.port, os.path.join(ca, "ca.pem"),
                                   server_first=True)
        log("idle timeout over wss closes with 1001, then close_notify")

        server = EchoServer(binary, *tls_args(ca))
        try:
            asyncio.run(drain_close(server, ca))
            rc = server.proc.wait(timeout=15)
            check(rc == 0, "exit status %r after the drain" % rc)
        finally:
            server.stop()
        check(any("outcome=shutdown" in l and "close_out=1001" in l
                  for l in server.log_lines), "server log: %r" % server.log_lines)
        log("SIGTERM drain sends 1001 over wss and exits 0")

        with EchoServer(binary, "--handshake-timeout", "1",
                        "--max-handshakes", "2", *tls_args(ca)) as server:
            s = silent_tcp(server.port)
            timed_out = wait_eof(s)
            s.close()
            check(0.8 <= timed_out < 5,
                  "dropped after %.2f s, want ~1 s" % timed_out)
            check(wait_for_log(server, lambda l: "detail=handshake timeout" in l),
                  "server log: %r" % server.log_lines)
            # Three silent clients over a cap of two: the oldest goes at
            # once, long before the timer.
            socks = [silent_tcp(server.port) for _ in range(3)]
            socks[0].settimeout(0.7)
            took = wait_eof(socks[0])
            check(took < 0.7, "evicted after %.2f s" % took)
            for s in socks:
                s.close()
            check(wait_for_log(server, lambda l: "handshake cap" in l),
                  "server log: %r" % server.log_lines)
            # Still serving.
            asyncio.run(many_echo(server, ca, 1))
        log("silent TCP client dropped at the handshake timeout (%.2f s); "
            "handshake cap evicts the oldest" % timed_out)

        with EchoServer(binary, "--send-timeout", "1", *tls_args(ca)) as server:
            s = stalled_reader(server.port, ca)
            try:
                check(wait_for_log(server, lambda l: "send stalled" in l, 15),
                      "server log: %r" % server.log_lines)
            finally:
                s.close()
            asyncio.run(many_echo(server, ca, 1))
        log("a wss client that stops reading is dropped at --send-timeout")

        with EchoServer(binary, "--threads", "2", *tls_args(ca)) as server:
            asyncio.run(many_echo(server, ca, 16))
            check(wait_for_log(server, lambda l: "loop=0" in l) and
                  wait_for_log(server, lambda l: "loop=1" in l),
                  "16 connections all on one loop: %r" % server.log_lines)
        log("--threads 2 over TLS: 16 wss clients served by both loops")
    finally:
        shutil.rmtree(ca, ignore_errors=True)


main_wrapper(main)
