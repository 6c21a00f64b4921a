"""Helpers shared by the Python interop tests.

Every test starts its own echo_server on a port the kernel picks
(--port 0) and reads the port from the server's first output line.
A missing dependency is a failure, never a skip.
"""
import base64
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

SIZES = [0, 125, 126, 65535, 65536, 16 * 1024 * 1024]


class TestFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def log(msg):
    print(msg, flush=True)


async def expect_server_close(ws, code, what):
    """Waits up to 10 s for the server to close the websockets connection
    ws with `code`; a message first, or another code, fails the test."""
    import asyncio
    from websockets.exceptions import ConnectionClosed
    try:
        await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed:
        check(ws.close_code == code, "%s: close code %r" % (what, ws.close_code))
        return
    raise TestFailure("a message instead of the %s" % what)


def require_module(name):
    """Imports a module or fails the whole test with an install hint."""
    try:
        return __import__(name)
    except ImportError as e:
        sys.stderr.write(
            "FAIL: python module %r is missing (%s); run "
            "tests/interop/install-deps.sh\n" % (name, e))
        sys.exit(1)


class EchoServer:
    """An echo_server child process on a free loopback port."""

    def __init__(self, binary, *extra):
        if not os.access(binary, os.X_OK):
            raise TestFailure("echo_server binary not found: %s" % binary)
        self.proc = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", "0"] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode("utf-8", "replace")
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise TestFailure("echo_server did not start: %r %r" % (
                line, self.proc.stderr.read().decode("utf-8", "replace")))
        self.port = int(m.group(1))
        self.url = "ws://127.0.0.1:%d" % self.port
        # The per-connection log goes to stderr; drain it so a chatty run
        # cannot fill the pipe and block the server.
        self.log_lines = []
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()

    def _read_log(self):
        for raw in self.proc.stderr:
            self.log_lines.append(raw.decode("utf-8", "replace").rstrip())

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM, then expect a clean exit status 0."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure("echo_server ignored SIGTERM")
        self._drain.join(timeout=5)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        rc = self.stop()
        if exc_type is None and rc != 0:
            raise TestFailure("echo_server exited with status %s; log:\n%s"
                              % (rc, "\n".join(self.log_lines[-20:])))


def free_port():
    """A loopback port nobody listens on (for connection-refused tests)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------
# A minimal RFC 6455 client on a raw socket, for hostile tests and for
# checking that the server still serves normal clients.
# ---------------------------------------------------------------------------

def http_request(port, raw, timeout=5.0):
    """Sends raw bytes, returns everything received until EOF."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
        return recv_until_eof(s)
    finally:
        s.close()


def recv_until_eof(s, limit=1 << 22):
    chunks = []
    total = 0
    while total < limit:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
        total += len(b)
    return b"".join(chunks)


def upgrade_request(path="/", key=None, version="13", http="HTTP/1.1",
                    extra=b""):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s %s" % (path, http), "Host: 127.0.0.1",
             "Upgrade: websocket", "Connection: Upgrade"]
    if key:
        lines.append("Sec-WebSocket-Key: " + key)
    if version:
        lines.append("Sec-WebSocket-Version: " + version)
    return ("\r\n".join(lines) + "\r\n").encode() + extra + b"\r\n"


def status_of(response):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    return int(m.group(1)) if m else None


def encode_frame(opcode, payload, fin=True, mask=True, rsv=0):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + mask_bytes(payload, key)


def mask_bytes(data, key):
    if not data:
        return b""
    n = len(data)
    rep = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^
            int.from_bytes(rep, "little")).to_bytes(n, "little")


class RawClient:
    """Opens a WebSocket by hand; reads unmasked server frames. With
    `tls` (an ssl.SSLContext) it speaks wss, and a TCP end without a TLS
    close_notify raises ssl.SSLEOFError instead of reading as EOF."""

    def __init__(self, port, timeout=5.0, tls=None):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="127.0.0.1",
                                        suppress_ragged_eofs=False)
        self.buf = b""

    def handshake(self):
        self.sock.sendall(upgrade_request())
        while b"\r\n\r\n" not in self.buf:
            b = self.sock.recv(4096)
            if not b:
                raise TestFailure("server closed during handshake")
            self.buf += b
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        check(head.startswith(b"HTTP/1.1 101"), "no 101: %r" % head[:80])
        return self

    def _need(self, n):
        while len(self.buf) < n:
            b = self.sock.recv(65536)
            if not b:
                raise EOFError("EOF")
            self.buf += b

    def read_frame(self):
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        check(not (b1 & 0x80), "server frame is masked")
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self._need(4)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, bool(b0 & 0x80), payload

    def send(self, data):
        self.sock.sendall(data)

    def expect_eof(self, timeout=5.0):
        """True if the server closes TCP (EOF or reset) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def tls_client_context(cafile):
    """Trusts the test CA and reports a truncated TLS stream as an error
    (OpenSSL 3 can be told to ignore a missing close_notify; not here)."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    return ctx


def check_tls_close_notify(port, cafile, server_first=False):
    """After the WebSocket close handshake the server must end TLS with a
    close_notify before it closes TCP, or the client cannot tell a clean
    end from a truncation attack. The client starts the close, or with
    `server_first` waits for the server's (an idle timeout, a drain)."""
    c = RawClient(port, timeout=15, tls=tls_client_context(cafile))
    try:
        c.handshake()
        c.send(encode_frame(1, b"ping over tls"))
        op, _, payload = c.read_frame()
        check(op == 1 and payload == b"ping over tls", "echo %r" % payload)
        if server_first:
            op, _, payload = c.read_frame()
            check(op == 8, "opcode %d instead of the server's close" % op)
            c.send(encode_frame(8, payload[:2]))
        else:
            c.send(encode_frame(8, struct.pack("!H", 1000) + b"bye"))
            op, _, payload = c.read_frame()
            check(op == 8 and payload[:2] == struct.pack("!H", 1000),
                  "close reply: opcode %d %r" % (op, payload[:20]))
        check(c.buf == b"", "bytes after the close frame: %r" % c.buf[:20])
        try:
            data = c.sock.recv(4096)
        except ssl.SSLZeroReturnError:
            data = b""
        except ssl.SSLEOFError:
            raise TestFailure("the server closed TCP without a TLS "
                              "close_notify")
        check(data == b"", "data after the close: %r" % data[:20])
    finally:
        c.close()


def check_tls_close_notify_full_socket(port, cafile, size=1 << 20):
    """The close_notify must go out even when the server's socket is full
    as the close handshake ends: the client asks for a large echo with a
    tiny receive buffer, sends its close right behind it, and reads slowly,
    so the server's last writes meet a full send buffer."""
    ctx = tls_client_context(cafile)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Before connect, or the window is already advertised.
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(30)
    raw.connect(("127.0.0.1", port))
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1",
                        suppress_ragged_eofs=False)
    try:
        s.sendall(upgrade_request())
        buf = b""
        while b"\r\n\r\n" not in buf:
            b = s.recv(4096)
            check(b, "server closed during handshake")
            buf += b
        head, buf = buf.split(b"\r\n\r\n", 1)
        check(head.startswith(b"HTTP/1.1 101"), "no 101: %r" % head[:80])
        msg = os.urandom(size)
        s.sendall(encode_frame(2, msg) + encode_frame(8, struct.pack("!H", 1000)))
        # The server queues its echo and its close reply behind it; read
        # nothing for a while, then in small slow pieces.
        time.sleep(0.5)
        while True:
            try:
                b = s.recv(1024)
            except ssl.SSLZeroReturnError:
                break
            except ssl.SSLEOFError:
                raise TestFailure("the server closed TCP without a TLS "
                                  "close_notify (after %d bytes)" % len(buf))
            if not b:
                break
            buf += b
            time.sleep(0.0005)
        # The echo may come in fragments, as the server got the pieces.
        frames = RawClient.__new__(RawClient)
        frames.sock, frames.buf = None, buf
        echo, op = b"", 0
        while op != 8:
            op, _, payload = frames.read_frame()
            if op in (0, 2):
                echo += payload
        check(echo == msg, "echo of %d bytes instead of %d" % (len(echo), size))
        check(payload[:2] == struct.pack("!H", 1000) and frames.buf == b"",
              "close reply %r, then %d bytes" % (payload[:20], len(frames.buf)))
    finally:
        s.close()


class preloaded:
    """Servers started inside `with preloaded(lib):` run with lib in
    LD_PRELOAD (a fault injected into their system calls)."""

    def __init__(self, lib):
        if not os.access(lib, os.R_OK):
            raise TestFailure("library to preload not found: %s" % lib)
        self.lib = lib

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "ASAN_OPTIONS")}
        os.environ["LD_PRELOAD"] = self.lib
        # A sanitized server wants its runtime first; the preload is fine.
        asan = self.saved["ASAN_OPTIONS"]
        os.environ["ASAN_OPTIONS"] = ((asan + ":") if asan else "") + \
            "verify_asan_link_order=0"
        return self

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_normal_client(port, tag="sanity"):
    """A well-behaved client still gets its echo and a clean close."""
    c = RawClient(port).handshake()
    try:
        msg = ("%s %f" % (tag, time.time())).encode()
        c.send(encode_frame(0x1, msg))
        op, fin, payload = c.read_frame()
        check(op == 0x1 and fin and payload == msg,
              "%s: bad echo %r" % (tag, (op, fin, payload)))
        c.send(encode_frame(0x8, struct.pack("!H", 1000)))
        op, fin, payload = c.read_frame()
        check(op == 0x8 and payload[:2] == struct.pack("!H", 1000),
              "%s: bad close reply %r" % (tag, (op, payload)))
        check(c.expect_eof(), "%s: server did not close TCP" % tag)
    finally:
        c.close()


def run_client(binary, args, input_bytes=None, timeout=60):
    """Runs echo_client; returns (exit status, stdout, stderr)."""
    p = subprocess.run([binary] + list(args), input=input_bytes,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def main_wrapper(fn):
    """Runs a test body and turns any exception into exit status 1."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every error is a test failure
        import traceback
        traceback.print_exc()
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)
    print("PASS", flush=True)
    sys.exit(0)
