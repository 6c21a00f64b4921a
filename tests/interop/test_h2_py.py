"""h2_echo_server against Python's h2 (Debian python3-h2): WebSocket over
HTTP/2 (RFC 8441) with the framing written in h2_ws_client.py. Over h2c
and over TLS (ALPN h2, certificate from a throwaway CA): the server's
SETTINGS allow extended CONNECT, text and binary echoes from 0 B to
16 MiB, ping, close codes 1000 and 4000, three WebSocket streams and a
GET / on one connection, permessage-deflate off and on, HTTP/2 flow
control holding back a client that does not read, rejected requests,
--send-timeout dropping a client that stops reading TCP, and the
GOAWAY + 1001 shutdown on SIGTERM.

usage: test_h2_py.py H2_ECHO_SERVER|NOT-BUILT MAKE_TEST_CA
Exit status 77 (skipped) only when the server was not built (no nghttp2
or no OpenSSL in the build).
"""
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import (EchoServer, TestFailure, check, log,  # noqa: E402
                            main_wrapper, require_module)

require_module("h2")
from h2_ws_client import (OP_BINARY, OP_CLOSE, OP_TEXT,  # noqa: E402
                          H2WsClient, WsStream)
import h2.settings  # noqa: E402

SIZES = [0, 125, 126, 65535, 65536, 1 << 20, 16 << 20]


def text_of(n):
    # Multi-byte characters across frame and window boundaries; exactly n
    # bytes of valid UTF-8.
    unit = "h\u00e9\u2713\U0001f600".encode()  # 1 + 2 + 3 + 4 bytes
    data = unit * (n // len(unit))
    return data + b"a" * (n - len(data))


def exchange_sizes(client, ws, what):
    for n in SIZES:
        client.echo(ws, OP_TEXT, text_of(n))
        client.echo(ws, OP_BINARY, os.urandom(n) if n <= 1 << 20
                    else bytes(range(256)) * (n // 256))
    log("%s: text and binary %s echoed" % (what, SIZES))


def basic(port, ca, deflate, what):
    client = H2WsClient(port, tls_ca=ca)
    try:
        check(client.remote_settings[
            h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] == 1,
            "SETTINGS_ENABLE_CONNECT_PROTOCOL is not 1")
        ws = client.open_ws("/echo", deflate=deflate)
        check(ws.status == 200, "CONNECT answered %r" % ws.status)
        check("sec-websocket-accept" not in ws.headers,
              "RFC 8441 5: no sec-websocket-accept over HTTP/2")
        check(ws.deflate == deflate, "permessage-deflate %s, offered %s: %r"
              % (ws.deflate, deflate, ws.headers))
        exchange_sizes(client, ws, what)
        client.ping(ws, b"are you there")
        client.ping(ws, b"")
        client.close_ws(ws, 1000, b"done")
        ws2 = client.open_ws("/second", deflate=deflate)
        client.echo(ws2, OP_TEXT, b"again")
        client.close_ws(ws2, 4000, b"custom")
        log("%s: ping, close 1000 and 4000 ok" % what)
    finally:
        client.close()


def concurrent(port, ca, deflate, what):
    client = H2WsClient(port, tls_ca=ca)
    try:
        streams = [client.open_ws("/s%d" % i, deflate=deflate) for i in range(3)]
        page = client.get("/")
        missing = client.get("/nothing-here")
        # Interleaved: all three send before any echo is awaited.
        payloads = {}
        for i, ws in enumerate(streams):
            payloads[ws.id] = [os.urandom(70000 + i), text_of(1000 + i)]
            ws.send(OP_BINARY, payloads[ws.id][0])
            ws.send(OP_TEXT, payloads[ws.id][1])
        client.pump_until(lambda: all(len(ws.messages) >= 2 for ws in streams)
                          and client.plain[page][2] and client.plain[missing][2],
                          "three echoes and the page")
        for ws in streams:
            check([m[1] for m in ws.messages] == payloads[ws.id],
                  "stream %d echoed other bytes" % ws.id)
        status, body, _ = client.plain[page]
        check(status == 200 and b"WebSocket" in body and b"wsUrl" in body,
              "GET / gave %r, %d bytes" % (status, len(body)))
        check(client.plain[missing][0] == 404, "GET /nothing-here gave %r"
              % client.plain[missing][0])
        for ws, code in zip(streams, (1000, 4000, 1000)):
            client.close_ws(ws, code)
        log("%s: 3 WebSocket streams, GET / and a 404 on one connection ok" % what)
    finally:
        client.close()


def flow_control(port):
    """A client that stops handing received bytes back (no WINDOW_UPDATE)
    must see the server stop taking its data: the server's echo is held
    by our window, its queue fills, and it stops consuming our DATA."""
    client = H2WsClient(port)
    try:
        ws = client.open_ws("/slow")
        ws.ack_data = False
        payload = os.urandom(8 << 20)
        ws.send(OP_BINARY, payload)
        total = len(ws.out)
        last, still_since = len(ws.out), time.monotonic()
        deadline = time.monotonic() + 30
        while time.monotonic() - still_since < 1.5:
            check(time.monotonic() < deadline, "sender never held back")
            client.pump(0.05)
            if len(ws.out) != last:
                last, still_since = len(ws.out), time.monotonic()
        sent = total - len(ws.out)
        # Our window (65535 per stream and connection) holds the echo; the
        # server queues 128 KiB and has a 128 KiB receive window: the sender
        # stalls after a few hundred KiB, far from 8 MiB.
        check(sent < 1 << 20, "server took %d bytes without our reading" % sent)
        log("flow control: sender held back after %d of %d bytes" % (sent, total))
        ws.ack_data = True
        client.conn.acknowledge_received_data(getattr(ws, "unacked", 0), ws.id)
        client.pump_until(lambda: len(ws.messages) >= 1, "echo after reading", 120)
        check(ws.messages[0] == (OP_BINARY, payload), "8 MiB echo differs")
        client.close_ws(ws, 1000)
        log("flow control: the 8 MiB echo completed once the client read")
    finally:
        client.close()


def client_request(client, version, protocol):
    """Sends an extended CONNECT and waits for its answer."""
    sid = client.conn.get_next_available_stream_id()
    ws = WsStream(client, sid, False)
    client.streams[sid] = ws
    client.conn.send_headers(sid, [
        (":method", "CONNECT"), (":protocol", protocol),
        (":scheme", "http"), (":path", "/"),
        (":authority", client.authority()),
        ("sec-websocket-version", version)])
    client.pump_until(lambda: ws.status is not None, "an answer")
    return ws


def rejections(port):
    client = H2WsClient(port)
    try:
        # A wrong sec-websocket-version: 400 with the version we speak
        # (HTTP/1.1 answers 426, which would need an Upgrade field that
        # HTTP/2 forbids).
        ws = client_request(client, "8", "websocket")
        check(ws.status == 400, "version 8 answered %r" % ws.status)
        check(ws.headers.get("sec-websocket-version") == "13",
              "400 without sec-websocket-version: 13: %r" % ws.headers)
        # Another protocol over extended CONNECT: 501 (RFC 9220 3).
        ws = client_request(client, "13", "webtransport")
        check(ws.status == 501, ":protocol webtransport answered %r" % ws.status)
        # The connection still serves WebSockets afterwards.
        ok = client.open_ws("/after")
        client.echo(ok, OP_TEXT, b"still here")
        client.close_ws(ok, 1000)
        log("rejection: 400 for version 8, 501 for webtransport, "
            "connection still usable")
    finally:
        client.close()


def not_h2(port, ca):
    """An HTTP/1.1 request on the h2c port, or a TLS client offering only
    http/1.1, is refused: the server speaks nothing but HTTP/2."""
    import socket
    import ssl
    if ca is None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        raw.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        while True:
            b = raw.recv(65536)
            if not b:
                break
            got += b
        raw.close()
        check(b"HTTP/1.1 200" not in got, "h2c port answered HTTP/1.1")
        return
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        raise TestFailure("TLS handshake without h2 in ALPN succeeded")
    except ssl.SSLError as e:
        check("no application protocol" in str(e).lower().replace("_", " "),
              "ALPN refusal: %s" % e)
    finally:
        raw.close()


def wait_log(server, text, timeout=5):
    """The server logs a connection when it ends, which may be just after
    the client saw the end."""
    deadline = time.monotonic() + timeout
    while not any(text in l for l in server.log_lines):
        check(time.monotonic() < deadline, "log lacks %r:\n%s"
              % (text, "\n".join(server.log_lines)))
        time.sleep(0.05)


def close_code_of(ws):
    payload = [c[1] for c in ws.controls if c[0] == OP_CLOSE][0]
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def limits(binary):
    """Protocol failure, --max-message, --max-streams, the handshake
    (first SETTINGS) timeout and the idle timeout."""
    server = EchoServer(binary, "--max-message", "1000", "--max-streams", "2",
                        "--handshake-timeout", "0.5", "--idle-timeout", "1.5")
    try:
        client = H2WsClient(server.port)
        check(client.remote_settings[
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 2,
            "SETTINGS_MAX_CONCURRENT_STREAMS is not --max-streams")
        # An unmasked client frame fails the WebSocket: close 1002, then
        # END_STREAM (RFC 6455 7.1.7 closes the transport after the close
        # frame; RFC 8441 5 maps that close to END_STREAM).
        ws = client.open_ws("/bad")
        ws.out += bytes([0x81, 0x02]) + b"hi"
        client.pump_until(lambda: ws.ended or ws.reset is not None, "end of failed stream")
        check(close_code_of(ws) == 1002, "unmasked frame: close %r" % close_code_of(ws))
        check(ws.ended, "failed stream was reset (%r) before END_STREAM" % ws.reset)
        big = client.open_ws("/big")
        big.send(OP_BINARY, b"x" * 1001)
        client.pump_until(lambda: big.ended or big.reset is not None, "1009")
        check(close_code_of(big) == 1009, "over --max-message: close %r" % close_code_of(big))
        # Idle: nothing sent for 1.5 s gets 1001 on the open WebSocket.
        idle = client.open_ws("/idle")
        client.pump_until(lambda: any(c[0] == OP_CLOSE for c in idle.controls),
                          "idle close", 10)
        check(close_code_of(idle) == 1001, "idle close %r" % close_code_of(idle))
        client.close()
        # A TCP client that never sends the preface is dropped.
        import socket
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        start = time.monotonic()
        while raw.recv(65536):
            pass
        took = time.monotonic() - start
        raw.close()
        check(0.3 < took < 3, "silent client dropped after %.2f s" % took)
    finally:
        rc = server.stop()
    logs = "\n".join(server.log_lines)
    check(rc == 0, "server exit status %r" % rc)
    for want in ("path=/bad outcome=protocol-error close_in=0 close_out=1002",
                 "path=/big outcome=protocol-error close_in=0 close_out=1009",
                 "path=/idle outcome=shutdown", "outcome=handshake-timeout",
                 "outcome=idle-timeout"):
        check(want in logs, "log lacks %r:\n%s" % (want, logs))
    log("limits: 1002 on an unmasked frame, 1009 over --max-message, "
        "--max-streams in SETTINGS, handshake and idle timeouts")


def shutdown(binary):
    """SIGTERM: a 1001 close on the open WebSocket stream, then GOAWAY, and
    the server exits 0 once the stream is over."""
    server = EchoServer(binary, "--drain-timeout", "3", "--close-timeout", "1")
    client = H2WsClient(server.port)
    try:
        ws = client.open_ws("/")
        client.echo(ws, OP_TEXT, b"before")
        server.proc.send_signal(signal.SIGTERM)
        client.pump_until(lambda: any(c[0] == OP_CLOSE for c in ws.controls),
                          "1001 close on SIGTERM", 10)
        payload = [c[1] for c in ws.controls if c[0] == OP_CLOSE][0]
        check(struct.unpack("!H", payload[:2])[0] == 1001,
              "shutdown close code %r" % payload[:2])
        if client.goaway is None:
            # h2 stops sending once it has seen GOAWAY (it treats the
            # connection as closed), so reply only while it has not.
            ws.close(1001)
            ws.end_after_out = True
        client.pump_until(lambda: client.goaway is not None, "GOAWAY", 10)
    finally:
        client.close()
    rc = server.stop()
    check(rc == 0, "server exit status %r after SIGTERM" % rc)
    check(any("outcome=shutdown" in l for l in server.log_lines),
          "no shutdown outcome in the log: %r" % server.log_lines)
    log("SIGTERM: close 1001, GOAWAY, exit 0")


def send_stall(binary):
    """--send-timeout: a client that keeps sending but stops reading TCP
    leaves the server's output queued; the connection is dropped once it
    made no progress for the timeout. A client that reads is not dropped,
    however long its transfer."""
    import socket
    server = EchoServer(binary, "--send-timeout", "1")
    try:
        reader = H2WsClient(server.port)
        ws = reader.open_ws("/reads")
        reader.echo(ws, OP_BINARY, os.urandom(8 << 20))
        reader.close_ws(ws, 1000)
        reader.close()
        client = H2WsClient(server.port)
        # Our windows wide open, so that only TCP can hold the echoes back,
        # and a small receive buffer, so that TCP does so soon.
        client.conn.update_settings(
            {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: (1 << 31) - 1})
        client.conn.increment_flow_control_window((1 << 31) - 1 - 65535)
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        streams = [client.open_ws("/stall%d" % i) for i in range(60)]
        # 60 x 120 KiB fits the server's windows (128 KiB per stream), so
        # no WINDOW_UPDATE has to be read; echoed, it is more than the
        # kernel's socket buffers hold.
        for ws in streams:
            ws.send(OP_BINARY, os.urandom(120 << 10))
        client._send_pending()
        client._flush()
        sent_at = time.monotonic()
        wait_log(server, "outcome=send-timeout", 6)
        took = time.monotonic() - sent_at
        client.sock.close()
    finally:
        rc = server.stop()
    logs = "\n".join(server.log_lines)
    check(rc == 0, "server exit status %r" % rc)
    check(took < 4, "stalled client dropped %.2f s after its last send" % took)
    check(sum("outcome=send-timeout" in l for l in server.log_lines) == 1,
          "more than the stalled connection timed out:\n%s" % logs)
    check("path=/reads outcome=closed" in logs, "the reading client's stream:\n%s" % logs)
    log("send stall: a client not reading dropped %.2f s after its last send "
        "(--send-timeout 1); an 8 MiB echo to a reading client was not" % took)


def main():
    if len(sys.argv) != 3:
        raise TestFailure(__doc__)
    binary = sys.argv[1]
    if binary == "NOT-BUILT":
        print("test_h2_py: not run: h2_echo_server is not in this build "
              "(needs libnghttp2-dev and libssl-dev)")
        sys.exit(77)
    ca_dir = tempfile.mkdtemp(prefix="wsp-h2-")
    try:
        subprocess.run(["bash", sys.argv[2], ca_dir], check=True)
        ca = os.path.join(ca_dir, "ca.pem")
        with EchoServer(binary) as server:
            basic(server.port, None, False, "h2c")
            basic(server.port, None, True, "h2c deflate")
            concurrent(server.port, None, False, "h2c")
            concurrent(server.port, None, True, "h2c deflate")
            flow_control(server.port)
            rejections(server.port)
            not_h2(server.port, None)
            wait_log(server, "outcome=not-http2")
            wait_log(server, "ws over h2 stream 1 path=/echo outcome=closed close_in=1000")
        with EchoServer(binary, "--tls-cert", os.path.join(ca_dir, "server.pem"),
                        "--tls-key", os.path.join(ca_dir, "server.key")) as server:
            basic(server.port, ca, False, "h2 over TLS")
            basic(server.port, ca, True, "h2 over TLS, deflate")
            concurrent(server.port, ca, True, "h2 over TLS")
            not_h2(server.port, ca)
            wait_log(server, "outcome=no-h2 streams=0 websockets=0 alpn_offered=http/1.1")
        limits(binary)
        send_stall(binary)
        shutdown(binary)
    finally:
        shutil.rmtree(ca_dir, ignore_errors=True)


main_wrapper(main)
