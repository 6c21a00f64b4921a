"""Helpers for the security tests: an echo_server child process, a raw
WebSocket client written from RFC 6455 alone, and memory readings.

Every server listens on 127.0.0.1 on a port the kernel picks (--port 0) and
is stopped by its own PID. Every loop is bounded in time or count.
"""
import base64
import hashlib
import os
import re
import socket
import struct
import subprocess
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class TestFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def log(msg):
    print(msg, flush=True)


class EchoServer:
    """echo_server on a free loopback port; its stderr is collected."""

    def __init__(self, binary, *extra, preexec_fn=None):
        if not os.access(binary, os.X_OK):
            raise TestFailure("echo_server binary not found: %s" % binary)
        self.proc = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", "0"] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=preexec_fn)
        self.pid = self.proc.pid
        self._lines = []
        self._lock = threading.Lock()
        line = self.proc.stdout.readline().decode("utf-8", "replace")
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.stop()
            raise TestFailure("echo_server did not start: %r" % line)
        self.port = int(m.group(1))
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self):
        for raw in self.proc.stderr:
            with self._lock:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def log_lines(self):
        with self._lock:
            return list(self._lines)

    def wait_log(self, pattern, timeout=5.0):
        """Waits for a stderr line matching the regex; returns it or None."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            for l in self.log_lines():
                if rx.search(l):
                    return l
            if time.time() > deadline:
                return None
            time.sleep(0.05)

    def rss_kib(self):
        """VmRSS of the server process in KiB."""
        with open("/proc/%d/status" % self.pid) as f:
            for l in f:
                if l.startswith("VmRSS:"):
                    return int(l.split()[1])
        raise TestFailure("no VmRSS for pid %d" % self.pid)

    def cpu_seconds(self):
        """User + system CPU time of the server process so far."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15 of the whole line.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # this PID only
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def upgrade_request(origin=None, extra=(), host="127.0.0.1", key=None):
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = ["GET / HTTP/1.1", "Host: %s" % host, "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: %s" % key,
             "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append("Origin: %s" % origin)
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), key


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def read_head(sock, timeout=5.0):
    """Reads an HTTP response head; returns (status, head bytes, rest)."""
    sock.settimeout(timeout)
    buf = b""
    deadline = time.time() + timeout
    while b"\r\n\r\n" not in buf:
        check(time.time() < deadline, "no HTTP response head in time")
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
        check(len(buf) < 65536, "HTTP response head too long")
    head, sep, rest = buf.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", head)
    return (int(m.group(1)) if m else 0), head, rest


def encode_frame(opcode, payload=b"", fin=True, mask=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    body = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return hdr + key + body


class FrameReader:
    """Parses unmasked server frames from a socket."""

    def __init__(self, sock, initial=b""):
        self.sock = sock
        self.buf = bytearray(initial)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise socket.timeout("frame not complete in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def read_frame(self, timeout=5.0):
        """Returns (opcode, fin, payload)."""
        deadline = time.time() + timeout
        self._fill(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        check(not (b1 & 0x80), "server frame is masked")
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self._fill(4, deadline)
            n = struct.unpack("!H", bytes(self.buf[2:4]))[0]
            off = 4
        elif n == 127:
            self._fill(10, deadline)
            n = struct.unpack("!Q", bytes(self.buf[2:10]))[0]
            off = 10
        self._fill(off + n, deadline)
        payload = bytes(self.buf[off:off + n])
        del self.buf[:off + n]
        return b0 & 0x0F, bool(b0 & 0x80), payload


class Client:
    """A WebSocket client that completes the opening handshake."""

    def __init__(self, port, origin=None, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        req, key = upgrade_request(origin)
        self.sock.sendall(req)
        status, head, rest = read_head(self.sock, timeout)
        check(status == 101, "handshake answered %d: %r" % (status, head))
        check(("sec-websocket-accept: " + accept_for(key)).encode().lower()
              in head.lower(), "bad Sec-WebSocket-Accept")
        self.reader = FrameReader(self.sock, rest)

    def send(self, data):
        self.sock.sendall(data)

    def read_frame(self, timeout=5.0):
        return self.reader.read_frame(timeout)

    def echo(self, payload, timeout=5.0):
        """Sends a text message and returns (echoed payload, seconds)."""
        t0 = time.time()
        self.send(encode_frame(0x1, payload))
        got = b""
        while True:
            op, fin, data = self.read_frame(timeout)
            if op in (0x9, 0xA):
                continue
            check(op in (0x0, 0x1), "unexpected opcode %d in echo" % op)
            got += data
            if fin:
                return got, time.time() - t0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def stalled_writer(port, byte=b"s", limit=32 << 20, seconds=10.0,
                   wait=0.5):
    """An upgraded client with a 4 KiB receive window that sends 64 KiB
    binary frames and never reads, until a send waits `wait` seconds (the
    server, its output to us stuck, stopped reading) or fails, or `limit`
    bytes or `seconds` have gone. Returns (socket, bytes sent, bytes that
    came after the 101's head)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    req, _ = upgrade_request()
    s.sendall(req)
    status, _, rest = read_head(s)
    check(status == 101, "handshake failed")
    frame = encode_frame(0x2, byte * 65536)
    s.settimeout(wait)
    sent = 0
    t_end = time.time() + seconds
    while sent < limit and time.time() < t_end:
        try:
            s.sendall(frame)
            sent += len(frame)
        except (socket.timeout, OSError):
            break
    return s, sent, rest


def expect_eof(sock, timeout):
    """True when the peer closes (EOF or reset) within timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        sock.settimeout(max(0.01, deadline - time.time()))
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            return False
        except OSError:
            return True
    return False


def run(main):
    """Runs a test's main(), turning failures into exit status 1."""
    import sys
    try:
        main(sys.argv[1:])
    except (TestFailure, OSError, EOFError) as e:
        log("FAIL: %s: %s" % (type(e).__name__, e))
        sys.exit(1)
    log("PASS")
