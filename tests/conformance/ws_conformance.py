#!/usr/bin/python3
"""Autobahn-style conformance suite for the example echo server.

A raw-socket WebSocket client (its own handshake, framing, masking and
permessage-deflate) that replays the behaviour checks of the Autobahn
Testsuite fuzzingclient case groups 1-7, 9, 10, 12 and 13 against
examples/echo_server, plus a few extra checks in the same spirit (group X).

    ws_conformance.py --server PATH/TO/echo_server [--only PREFIX ...] [-v]
    ws_conformance.py --h2 --server PATH/TO/h2_echo_server [--h2-built 0|1] ...

--h2 runs the same cases over WebSocket streams of HTTP/2 (RFC 8441):
every case opens a cleartext HTTP/2 connection with prior knowledge
(Debian's python3-h2), checks that the server's SETTINGS enable the
extended CONNECT, and opens its WebSocket with an extended CONNECT
request. The cases' bytes then travel in DATA frames of that stream, with
both flow-control windows respected; "the server closes TCP" becomes "the
server ends the stream" (END_STREAM, or RST_STREAM, which a case sees as a
reset connection). Every case here is frame-level, so all of them run over
HTTP/2; only the opening handshake differs (RFC 8441 5: :status 200 and
no Sec-WebSocket-Accept). --h2-built 0 (from the build, when the HTTP/2
example was not built) makes the run a skip, exit status 77.

The script starts the server twice on port 0 (with permessage-deflate
enabled, the default, and with --no-deflate), runs every case on a fresh
connection, and stops each server by its PID.

Grading follows Autobahn:
  * valid traffic: every echo exact, then a clean close: the server answers
    our close 1000 with a close 1000 and closes TCP first;
  * protocol violations: the server sends a close with the right code
    (1002, 1007, 1009) and then closes TCP, echoing nothing that came after
    the offending frame.
  OK, NON-STRICT (allowed by RFC 6455 but not the strictest behaviour) or
  FAILED. NON-STRICT counts as passed but is listed. Exit status 1 on any
  FAILED case.

Standard library only over HTTP/1.1; --h2 needs python3-h2.
"""
import base64
import hashlib
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
OP_NAMES = {0: "CONT", 1: "TEXT", 2: "BINARY", 8: "CLOSE", 9: "PING", 10: "PONG"}

OK, NON_STRICT, FAILED = "OK", "NON-STRICT", "FAILED"

EVENT_TIMEOUT = 3.0   # waiting for an expected event
TCP_CLOSE_WAIT = 2.0  # waiting for the server to close TCP after a close

VERBOSE = False
H2 = False  # --h2: every case on an RFC 8441 stream


class CaseFailed(Exception):
    pass


def fail(msg):
    raise CaseFailed(msg)


def short(data, n=48):
    """Printable prefix of bytes for reports."""
    if data is None:
        return "None"
    data = bytes(data)
    tail = "..(%d bytes)" % len(data) if len(data) > n else ""
    return data[:n].hex() + tail


def mask_bytes(data, key):
    n = len(data)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^
            int.from_bytes(stream, "little")).to_bytes(n, "little")


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None,
          len_form=None):
    """Encodes one frame. rsv is the 3-bit RSV field (4 = RSV1).
    length overrides the length written in the header; len_form forces
    the 7/16/64-bit length encoding (for non-minimal encodings)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mbit = 0x80 if mask else 0
    form = len_form or (7 if n < 126 else 16 if n < 65536 else 64)
    if form == 7:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif form == 16:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = os.urandom(4)
        return hdr + key + mask_bytes(payload, key)
    return hdr + payload


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


# ---------------------------------------------------------------------------
# permessage-deflate (RFC 7692)
# ---------------------------------------------------------------------------
def parse_extension_response(value):
    """Parses a Sec-WebSocket-Extensions response value into a list of
    (name, {param: value-or-None})."""
    out = []
    for item in value.split(","):
        parts = [p.strip() for p in item.split(";")]
        if not parts[0]:
            continue
        params = {}
        for p in parts[1:]:
            if not p:
                continue
            if "=" in p:
                k, v = p.split("=", 1)
                v = v.strip().strip('"')
                params.setdefault(k.strip().lower(), []).append(v)
            else:
                params.setdefault(p.lower(), []).append(None)
        out.append((parts[0].lower(), params))
    return out


def parse_offer(offer):
    """The parameters of our own offer elements, for checking the answer."""
    return parse_extension_response(offer) if offer else []


class Deflate:
    """Negotiated permessage-deflate state of our client."""

    def __init__(self, params):
        def bits(name, default):
            v = params.get(name)
            if v is None:
                return default
            return int(v[0])
        self.server_nct = "server_no_context_takeover" in params
        self.client_nct = "client_no_context_takeover" in params
        self.server_bits = bits("server_max_window_bits", 15)
        self.client_bits = bits("client_max_window_bits", 15)
        self.comp = None
        self.decomp = None

    def compress(self, data):
        # zlib cannot compress with a raw 256-byte window; a client limited
        # to 8 bits sends uncompressed messages (always allowed).
        if self.client_bits < 9:
            return None
        if self.comp is None or self.client_nct:
            self.comp = zlib.compressobj(6, zlib.DEFLATED, -self.client_bits)
        out = self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH)
        if out.endswith(b"\x00\x00\xff\xff"):
            out = out[:-4]
        return out

    def decompress(self, data):
        # With server_no_context_takeover every message must inflate with a
        # fresh window: a server that kept its context would fail here.
        if self.decomp is None or self.server_nct:
            self.decomp = zlib.decompressobj(-self.server_bits)
        out = self.decomp.decompress(data + b"\x00\x00\xff\xff")
        return out


# A small DEFLATE (RFC 1951) parser that reports the largest back-reference
# distance of a stream: zlib's inflate does not reject distances beyond the
# window it was initialised with when the history is in its output buffer,
# so server_max_window_bits is checked here instead.
_LBASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51,
          59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
_LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4,
         4, 5, 5, 5, 5, 0]
_DBASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385,
          513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
_DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10,
         10, 11, 11, 12, 12, 13, 13]
_CLORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]


class _Bits:
    def __init__(self, data):
        self.data, self.pos, self.end = data, 0, len(data) * 8

    def get(self, n):
        v = 0
        for i in range(n):
            if self.pos >= self.end:
                raise EOFError
            v |= ((self.data[self.pos >> 3] >> (self.pos & 7)) & 1) << i
            self.pos += 1
        return v


def _huff(lengths):
    count = [0] * 16
    for n in lengths:
        count[n] += 1
    count[0] = 0
    offs = [0] * 16
    for i in range(1, 15):
        offs[i + 1] = offs[i] + count[i]
    symbol = [0] * len(lengths)
    for s, n in enumerate(lengths):
        if n:
            symbol[offs[n]] = s
            offs[n] += 1
    return count, symbol


def _decode(br, h):
    count, symbol = h
    code = first = index = 0
    for n in range(1, 16):
        code |= br.get(1)
        c = count[n]
        if code - c < first:
            return symbol[index + (code - first)]
        index += c
        first = (first + c) << 1
        code <<= 1
    raise ValueError("bad Huffman code")


_FIXED = None


def deflate_max_distance(data):
    """Largest distance used by a raw DEFLATE stream (to its end)."""
    global _FIXED
    if _FIXED is None:
        _FIXED = (_huff([8] * 144 + [9] * 112 + [7] * 24 + [8] * 8),
                  _huff([5] * 30))
    br = _Bits(data)
    maxd = 0
    try:
        while True:
            last = br.get(1)
            btype = br.get(2)
            if btype == 0:
                br.pos = (br.pos + 7) & ~7
                n = br.get(16)
                br.get(16)
                br.pos += 8 * n
            elif btype in (1, 2):
                if btype == 1:
                    lit, dist = _FIXED
                else:
                    hlit, hdist, hclen = br.get(5) + 257, br.get(5) + 1, br.get(4) + 4
                    cl = [0] * 19
                    for i in range(hclen):
                        cl[_CLORDER[i]] = br.get(3)
                    clh = _huff(cl)
                    lens = []
                    while len(lens) < hlit + hdist:
                        sym = _decode(br, clh)
                        if sym < 16:
                            lens.append(sym)
                        elif sym == 16:
                            lens += [lens[-1]] * (3 + br.get(2))
                        elif sym == 17:
                            lens += [0] * (3 + br.get(3))
                        else:
                            lens += [0] * (11 + br.get(7))
                    lit, dist = _huff(lens[:hlit]), _huff(lens[hlit:])
                while True:
                    sym = _decode(br, lit)
                    if sym < 256:
                        continue
                    if sym == 256:
                        break
                    sym -= 257
                    br.get(_LEXT[sym])
                    ds = _decode(br, dist)
                    d = _DBASE[ds] + br.get(_DEXT[ds])
                    if d > maxd:
                        maxd = d
            else:
                raise ValueError("reserved block type")
            if last:
                break
    except EOFError:
        pass
    return maxd


# ---------------------------------------------------------------------------
# Connection
# ---------------------------------------------------------------------------
TIMEOUT, EOF = "timeout", "eof"


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "masked", "payload", "hlen", "minimal")

    def describe(self):
        name = OP_NAMES.get(self.opcode, "OP%X" % self.opcode)
        s = "%s fin=%d rsv=%d len=%d" % (name, self.fin, self.rsv,
                                         len(self.payload))
        if self.opcode == OP_CLOSE and len(self.payload) >= 2:
            code = struct.unpack("!H", self.payload[:2])[0]
            s += " code=%d reason=%r" % (code, bytes(self.payload[2:40]))
        elif self.payload:
            s += " data=" + short(self.payload, 24)
        return s


# ---------------------------------------------------------------------------
# WebSocket over an HTTP/2 stream (RFC 8441)
# ---------------------------------------------------------------------------
H2_PATH = "/conformance"
H2_WINDOW = 8 << 20     # our receive window: large, so big echoes do not stall
H2_SEND_WAIT = 30.0     # longest wait for the server to open its window


class H2Stream:
    """One RFC 8441 WebSocket stream on its own h2c connection, with the
    calls of a connected TCP socket that Conn uses: sendall moves bytes in
    DATA frames within the server's flow-control windows, recv returns DATA
    bytes (and only then tells the server they were consumed), b"" once the
    server ended the stream, and raises ConnectionResetError for
    RST_STREAM, GOAWAY or a lost connection. A pump thread reads the TCP
    socket and a writer thread writes it, so a sender waiting for window
    never stops the window update it waits for from being read."""

    def __init__(self, port, timeout=5.0, nodelay=True):
        import h2.config
        import h2.connection
        import h2.events
        import h2.exceptions
        import h2.settings
        self.ev = h2.events
        self.h2exc = h2.exceptions
        self.tcp = socket.create_connection(("127.0.0.1", port), timeout)
        if nodelay:
            self.tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.tcp.settimeout(None)
        self.port = port
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        self.cond = threading.Condition()
        self.out = []            # bytes for the writer thread, in order
        self.out_closed = False
        self.sid = None
        self.rx = []             # DATA payloads not yet handed to recv
        self.remote_settings = False
        self.response = None     # response header list
        self.ended = False       # END_STREAM from the server
        self.reset = None        # why the stream cannot go on, if it cannot
        self.dead = False        # TCP connection gone
        with self.cond:
            self.h2.initiate_connection()
            self.h2.update_settings({
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: H2_WINDOW})
            self.h2.increment_flow_control_window(H2_WINDOW - 65535)
            self._queue()
        self.writer = threading.Thread(target=self._write_loop, daemon=True)
        self.writer.start()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    # -- threads -------------------------------------------------------------
    def _queue(self):
        """Hands what h2 wrote to the writer (self.cond held), so bytes
        leave in the order h2 produced them."""
        data = self.h2.data_to_send()
        if data:
            self.out.append(data)
            self.cond.notify_all()

    def _write_loop(self):
        while True:
            with self.cond:
                while not self.out and not self.out_closed:
                    self.cond.wait()
                if not self.out:
                    return
                data = b"".join(self.out)
                self.out = []
            try:
                self.tcp.sendall(data)
            except OSError:
                with self.cond:
                    self._lost("connection lost while writing")
                return

    def _lost(self, why):
        self.dead = True
        if self.reset is None and not self.ended:
            self.reset = why
        self.cond.notify_all()

    def _pump(self):
        ev = self.ev
        while True:
            try:
                data = self.tcp.recv(1 << 20)
            except OSError as e:
                data = None
                err = str(e)
            with self.cond:
                if not data:
                    self._lost("connection closed" if data == b"" else err)
                    return
                try:
                    events = self.h2.receive_data(data)
                except self.h2exc.ProtocolError as e:
                    self._lost("HTTP/2 protocol error from the server: %s" % e)
                    return
                for e in events:
                    if isinstance(e, ev.RemoteSettingsChanged):
                        self.remote_settings = True
                    elif isinstance(e, ev.ResponseReceived) and e.stream_id == self.sid:
                        self.response = e.headers
                    elif isinstance(e, ev.DataReceived) and e.stream_id == self.sid:
                        self.rx.append(e.data)
                        # Padding is consumed at once; the data when read.
                        pad = e.flow_controlled_length - len(e.data)
                        if pad:
                            self.h2.acknowledge_received_data(pad, self.sid)
                    elif isinstance(e, ev.StreamEnded) and e.stream_id == self.sid:
                        self.ended = True
                    elif isinstance(e, ev.StreamReset) and e.stream_id == self.sid:
                        self.reset = "RST_STREAM error code %d" % e.error_code
                    elif isinstance(e, ev.ConnectionTerminated):
                        if self.sid is None or e.last_stream_id < self.sid:
                            self.reset = "GOAWAY error code %d" % e.error_code
                self._queue()
                self.cond.notify_all()

    # -- the extended CONNECT (RFC 8441 4-5) -----------------------------------
    def open_websocket(self, offer):
        """Returns the response's header fields as a dict of lists."""
        deadline = time.monotonic() + 5
        with self.cond:
            while not self.remote_settings and not self.dead:
                if not self.cond.wait(max(0, deadline - time.monotonic())):
                    break
            if not self.remote_settings:
                fail("no SETTINGS from the server (%s)" % (self.reset or "timeout"))
            if self.h2.remote_settings.enable_connect_protocol != 1:
                fail("server SETTINGS lack SETTINGS_ENABLE_CONNECT_PROTOCOL=1 "
                     "(RFC 8441 3)")
            self.sid = self.h2.get_next_available_stream_id()
            hdrs = [(":method", "CONNECT"), (":protocol", "websocket"),
                    (":scheme", "http"), (":path", H2_PATH),
                    (":authority", "127.0.0.1:%d" % self.port),
                    ("sec-websocket-version", "13")]
            if offer:
                hdrs.append(("sec-websocket-extensions", offer))
            self.h2.send_headers(self.sid, hdrs)
            self._queue()
            while self.response is None and self.reset is None and not self.ended:
                if not self.cond.wait(max(0, deadline - time.monotonic())):
                    break
            if self.response is None:
                fail("no response to the extended CONNECT (%s)"
                     % (self.reset or ("stream ended" if self.ended else "timeout")))
            headers = {}
            for k, v in self.response:
                headers.setdefault(k.lower(), []).append(v)
            status = headers.get(":status", ["?"])[0]
            if status != "200":
                fail("extended CONNECT answered :status %s (RFC 8441 5 wants 2xx; "
                     "the server sends 200)" % status)
            if self.ended:
                fail("server ended the stream with its 200 response")
            if "sec-websocket-accept" in headers:
                fail("sec-websocket-accept on an RFC 8441 response (RFC 8441 5)")
            return headers

    # -- socket calls ------------------------------------------------------------
    def sendall(self, data):
        view = memoryview(data)
        off = 0
        with self.cond:
            while off < len(view):
                deadline = time.monotonic() + H2_SEND_WAIT
                while True:
                    if self.reset is not None:
                        raise ConnectionResetError(self.reset)
                    try:
                        win = min(self.h2.local_flow_control_window(self.sid),
                                  self.h2.max_outbound_frame_size)
                    except self.h2exc.StreamClosedError:
                        raise BrokenPipeError("stream closed")
                    if win > 0:
                        break
                    if self.ended:
                        # The server ended the stream and reads no more:
                        # as writing to a TCP connection its peer closed.
                        raise BrokenPipeError("server ended the stream and "
                                              "its window is closed")
                    if not self.cond.wait(max(0, deadline - time.monotonic())):
                        raise socket.timeout("no flow-control window from the "
                                             "server for %.0f s" % H2_SEND_WAIT)
                n = min(win, len(view) - off)
                try:
                    self.h2.send_data(self.sid, view[off:off + n].tobytes())
                except self.h2exc.StreamClosedError:
                    raise BrokenPipeError("stream closed")
                off += n
                self._queue()

    def recv(self, n):
        with self.cond:
            while not self.rx and not self.ended and self.reset is None:
                self.cond.wait()
            if self.rx:
                data = b"".join(self.rx)
                self.rx = [data[n:]] if len(data) > n else []
                data = data[:n]
                try:
                    self.h2.acknowledge_received_data(len(data), self.sid)
                except self.h2exc.StreamClosedError:
                    pass
                self._queue()
                return data
            if self.ended:
                return b""
            raise ConnectionResetError(self.reset)

    def setsockopt(self, *args):
        self.tcp.setsockopt(*args)

    def settimeout(self, t):
        pass

    def shutdown(self, how):
        """Cancels the stream if it is still open and says goodbye."""
        with self.cond:
            try:
                if self.sid is not None and not (self.ended or self.reset):
                    self.h2.reset_stream(self.sid, 8)  # CANCEL
                self.h2.close_connection()
            except self.h2exc.ProtocolError:
                pass
            self._queue()
            self.out_closed = True
            self.cond.notify_all()
        self.writer.join(2)
        try:
            self.tcp.shutdown(how)
        except OSError:
            pass

    def close(self):
        self.tcp.close()
        self.pump.join(2)


class Conn:
    def __init__(self, port, offer=None, timeout=5.0, nodelay=True):
        self.sent_log = []
        self.recv_log = []
        self.buf = bytearray()
        self.pos = 0
        self.eof = False
        self.recv_error = None
        self.cond = threading.Condition()
        self.frag_op = None
        self.frag_parts = []
        self.frag_compressed = False
        self.frag_len = 0
        self.got_close = False
        self.pmd = None
        self.offer = offer
        self.response_extensions = None
        self.send_failed = None
        self.last_compressed = False
        self.check_window = 0  # compressed echoes to check for window size
        self.max_distance = 0
        if H2:
            self.sock = H2Stream(port, timeout, nodelay)
            try:
                self._accept_extensions(self.sock.open_websocket(offer), offer)
            except CaseFailed:
                self.sock.shutdown(socket.SHUT_RDWR)
                self.sock.close()
                raise
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout)
            if nodelay:
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._handshake(offer)
        self.sock.settimeout(None)
        self.closing = False
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    # -- handshake -------------------------------------------------------
    def _handshake(self, offer):
        key = base64.b64encode(os.urandom(16))
        req = (b"GET /conformance HTTP/1.1\r\n"
               b"Host: 127.0.0.1\r\n"
               b"Upgrade: websocket\r\n"
               b"Connection: Upgrade\r\n"
               b"Sec-WebSocket-Key: " + key + b"\r\n"
               b"Sec-WebSocket-Version: 13\r\n")
        if offer:
            req += b"Sec-WebSocket-Extensions: " + offer.encode() + b"\r\n"
        req += b"\r\n"
        self.sock.sendall(req)
        data = b""
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in data:
            if time.monotonic() > deadline or len(data) > 65536:
                fail("no complete handshake response: %r" % data[:200])
            chunk = self.sock.recv(4096)
            if not chunk:
                fail("EOF during handshake: %r" % data[:200])
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ")
        if len(status) < 2 or status[1] != "101":
            fail("handshake status line %r" % lines[0])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        expect = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != [expect]:
            fail("bad Sec-WebSocket-Accept %r" % headers.get("sec-websocket-accept"))
        if "websocket" not in ",".join(headers.get("upgrade", [])).lower():
            fail("Upgrade header %r" % headers.get("upgrade"))
        if "upgrade" not in ",".join(headers.get("connection", [])).lower():
            fail("Connection header %r" % headers.get("connection"))
        self._accept_extensions(headers, offer)
        self.buf += rest

    def _accept_extensions(self, headers, offer):
        ext = headers.get("sec-websocket-extensions")
        if ext:
            value = ", ".join(ext)
            self.response_extensions = value
            if not offer:
                fail("server answered extensions %r that were never offered" % value)
            elems = parse_extension_response(value)
            if len(elems) != 1 or elems[0][0] != "permessage-deflate":
                fail("unexpected extension response %r" % value)
            params = elems[0][1]
            self._check_pmd_response(offer, params, value)
            self.pmd = Deflate(params)

    def _check_pmd_response(self, offer, params, value):
        """RFC 7692 7.1: the response must answer one of our offers."""
        known = {"server_no_context_takeover", "client_no_context_takeover",
                 "server_max_window_bits", "client_max_window_bits"}
        for k, v in params.items():
            if k not in known:
                fail("response has unknown parameter %r: %r" % (k, value))
            if len(v) != 1:
                fail("response repeats parameter %r: %r" % (k, value))
            if k.endswith("_bits"):
                if v[0] is None or not v[0].isdigit() or not 8 <= int(v[0]) <= 15:
                    fail("response %s needs a value 8..15: %r" % (k, value))
            elif v[0] is not None:
                fail("response %s must have no value: %r" % (k, value))
        # Some offer must be compatible with the answer.
        ok = False
        for name, o in parse_offer(offer):
            if name != "permessage-deflate":
                continue
            good = True
            if "server_no_context_takeover" in o and \
                    "server_no_context_takeover" not in params:
                good = False  # 7.1.1.1: server must include it
            if "server_max_window_bits" in o:
                want = int(o["server_max_window_bits"][0])
                got = params.get("server_max_window_bits")
                if got is None or int(got[0]) > want:
                    good = False  # 7.1.2.1: same or smaller value
            if "client_max_window_bits" in params and \
                    "client_max_window_bits" not in o:
                good = False  # 7.1.2.2: only if offered
            if "client_max_window_bits" in params and \
                    "client_max_window_bits" in o and \
                    o["client_max_window_bits"][0] is not None and \
                    int(params["client_max_window_bits"][0]) > \
                    int(o["client_max_window_bits"][0]):
                good = False
            if good:
                ok = True
        if not ok:
            fail("extension response %r answers none of the offers %r"
                 % (value, offer))

    # -- I/O ---------------------------------------------------------------
    def _reader(self):
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError as e:
                with self.cond:
                    if not self.closing:
                        self.recv_error = str(e)
                    self.eof = True
                    self.cond.notify_all()
                return
            with self.cond:
                if not data:
                    self.eof = True
                else:
                    self.buf += data
                self.cond.notify_all()
            if not data:
                return

    def send_raw(self, data, chop=None, pause=0.0):
        """Writes bytes, optionally in chops of `chop` bytes with a pause
        between them. Send errors (the server may already have closed) are
        recorded, not raised."""
        if len(self.sent_log) < 40:
            self.sent_log.append(short(data, 64))
        if self.send_failed:
            return False
        try:
            if not chop:
                view = memoryview(data)
                for i in range(0, len(view), 1 << 20):
                    self.sock.sendall(view[i:i + (1 << 20)])
            else:
                view = memoryview(data)
                for i in range(0, len(view), chop):
                    self.sock.sendall(view[i:i + chop])
                    if pause:
                        time.sleep(pause)
        except OSError as e:
            self.send_failed = str(e)
            return False
        return True

    def send(self, frames, mode="bulk"):
        """mode: bulk (one write), frame (one write per frame), octet (one
        write per byte)."""
        if isinstance(frames, bytes):
            frames = [frames]
        if mode == "bulk":
            return self.send_raw(b"".join(frames))
        if mode == "frame":
            for f in frames:
                self.send_raw(f)
                time.sleep(0.002)
            return True
        if mode == "octet":
            return self.send_raw(b"".join(frames), chop=1, pause=0.0002)
        raise ValueError(mode)

    def send_message(self, opcode, data, frag=None, compress=None, mode="bulk"):
        """Sends a whole message; compress defaults to "if negotiated"."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        rsv = 0
        if compress is None:
            compress = self.pmd is not None
        if compress:
            c = self.pmd.compress(data)
            if c is not None:
                data, rsv = c, 4
        if not frag or len(data) <= frag:
            return self.send(frame(opcode, data, rsv=rsv), mode)
        frames = []
        for i in range(0, len(data), frag):
            last = i + frag >= len(data)
            frames.append(frame(opcode if i == 0 else OP_CONT,
                                data[i:i + frag], fin=last,
                                rsv=rsv if i == 0 else 0))
        return self.send(b"".join(frames) if mode == "bulk" else frames, mode)

    def send_close(self, code=1000, reason=b""):
        return self.send(frame(OP_CLOSE, close_payload(code, reason)))

    def shutdown(self):
        with self.cond:
            self.closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(2)

    # -- frames --------------------------------------------------------------
    def next_frame(self, deadline):
        with self.cond:
            while True:
                buf, pos = self.buf, self.pos
                avail = len(buf) - pos
                if avail >= 2:
                    b0, b1 = buf[pos], buf[pos + 1]
                    n = b1 & 0x7F
                    hl = 2
                    if n == 126:
                        hl = 4
                    elif n == 127:
                        hl = 10
                    masked = bool(b1 & 0x80)
                    if masked:
                        hl += 4
                    if avail >= hl:
                        minimal = True
                        if n == 126:
                            n = struct.unpack_from("!H", buf, pos + 2)[0]
                            minimal = n >= 126
                        elif n == 127:
                            n = struct.unpack_from("!Q", buf, pos + 2)[0]
                            minimal = 65536 <= n < (1 << 63)
                        if avail >= hl + n:
                            f = Frame()
                            f.fin = b0 >> 7
                            f.rsv = (b0 >> 4) & 7
                            f.opcode = b0 & 0x0F
                            f.masked = masked
                            f.hlen = hl
                            f.minimal = minimal
                            p = bytes(buf[pos + hl:pos + hl + n])
                            if masked:
                                p = mask_bytes(p, bytes(buf[pos + hl - 4:pos + hl]))
                            f.payload = p
                            self.pos = pos + hl + n
                            if self.pos > (4 << 20):
                                del self.buf[:self.pos]
                                self.pos = 0
                            if len(self.recv_log) < 60:
                                self.recv_log.append(f.describe())
                            return f
                if self.eof:
                    if avail:
                        self.recv_log.append("EOF inside a frame (%d bytes)" % avail)
                    else:
                        self.recv_log.append("EOF" + (" (%s)" % self.recv_error
                                                      if self.recv_error else ""))
                    return EOF
                left = deadline - time.monotonic()
                if left <= 0:
                    return TIMEOUT
                self.cond.wait(left)

    def next_event(self, timeout=EVENT_TIMEOUT):
        """Returns ("text"|"binary", data), ("ping"|"pong", data),
        ("close", code, reason), ("eof",), ("timeout",). A frame from the
        server that breaks RFC 6455 or RFC 7692 raises CaseFailed."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.next_frame(deadline)
            if f is TIMEOUT:
                return ("timeout",)
            if f is EOF:
                return ("eof",)
            desc = f.describe()
            if f.masked:
                fail("server sent a masked frame (RFC 6455 5.1): " + desc)
            if not f.minimal:
                fail("server used a non-minimal length (RFC 6455 5.2): " + desc)
            if self.got_close:
                fail("server sent a frame after its close (RFC 6455 5.5.1): " + desc)
            op = f.opcode
            if op in (OP_CLOSE, OP_PING, OP_PONG):
                if f.rsv:
                    fail("server control frame with RSV bits: " + desc)
                if not f.fin or len(f.payload) > 125:
                    fail("server control frame fragmented or > 125: " + desc)
                if op == OP_PING:
                    return ("ping", f.payload)
                if op == OP_PONG:
                    return ("pong", f.payload)
                self.got_close = True
                p = f.payload
                if len(p) == 1:
                    fail("server close with a 1-byte payload")
                if not p:
                    return ("close", None, b"")
                code = struct.unpack("!H", p[:2])[0]
                try:
                    p[2:].decode("utf-8")
                except UnicodeDecodeError:
                    fail("server close reason is not UTF-8: " + desc)
                return ("close", code, p[2:])
            if op not in (OP_CONT, OP_TEXT, OP_BINARY):
                fail("server sent a reserved opcode: " + desc)
            allowed_rsv = 4 if (self.pmd and op != OP_CONT) else 0
            if f.rsv & ~allowed_rsv:
                fail("server frame with RSV bits not negotiated: " + desc)
            if op == OP_CONT:
                if self.frag_op is None:
                    fail("server continuation without a message: " + desc)
            else:
                if self.frag_op is not None:
                    fail("server started a message inside another: " + desc)
                self.frag_op = op
                self.frag_parts = []
                self.frag_compressed = bool(f.rsv & 4)
            self.frag_parts.append(f.payload)
            if not f.fin:
                continue
            data = b"".join(self.frag_parts)
            opn = self.frag_op
            self.frag_op = None
            self.frag_parts = []
            self.last_compressed = self.frag_compressed
            if self.frag_compressed:
                if self.check_window > 0 and len(data) <= (64 << 10):
                    self.check_window -= 1
                    d = deflate_max_distance(data + b"\x00\x00\xff\xff")
                    self.max_distance = max(self.max_distance, d)
                    if d > (1 << self.pmd.server_bits):
                        fail("server's compressed message refers %d bytes back, "
                             "beyond the negotiated server_max_window_bits=%d "
                             "(%d bytes; RFC 7692 7.1.2.1)"
                             % (d, self.pmd.server_bits, 1 << self.pmd.server_bits))
                try:
                    data = self.pmd.decompress(data)
                except zlib.error as e:
                    fail("server's compressed message does not inflate with "
                         "the negotiated parameters (%s; server_no_context_"
                         "takeover=%s, window bits %d): %s"
                         % (e, self.pmd.server_nct, self.pmd.server_bits,
                            short(data, 32)))
            if opn == OP_TEXT:
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    fail("server text message is not UTF-8: " + short(data))
                return ("text", data)
            return ("binary", data)

    def wait_eof(self, timeout=TCP_CLOSE_WAIT):
        """True once the server closed TCP; frames after a close fail."""
        ev = self.next_event(timeout)
        if ev[0] == "eof":
            return True
        if ev[0] == "timeout":
            return False
        fail("unexpected %s after the close frame" % fmt_event(ev))


def fmt_event(ev):
    if ev[0] in ("text", "binary", "ping", "pong"):
        return "%s(%s)" % (ev[0], short(ev[1], 24))
    if ev[0] == "close":
        return "close(%s, %r)" % (ev[1], bytes(ev[2][:40]))
    return ev[0]


# ---------------------------------------------------------------------------
# Expectations (Autobahn's criteria)
# ---------------------------------------------------------------------------
def expect_events(c, expected, timeout=EVENT_TIMEOUT):
    """Reads exactly the expected events (in order). expected items are
    (kind, data) tuples; data bytes or str."""
    deadline = time.monotonic() + timeout
    want = [(k, d.encode("utf-8") if isinstance(d, str) else d)
            for k, d in expected]
    got = []
    for i, (kind, data) in enumerate(want):
        ev = c.next_event(max(0.01, deadline - time.monotonic()))
        got.append(ev)
        if ev[0] != kind or ev[1] != data:
            # Read what else comes, so the report shows the whole order.
            while len(got) < len(want) and got[-1][0] not in (
                    "close", "eof", "timeout"):
                got.append(c.next_event(0.5))
            fail("events differ at %d: expected [%s], got [%s]" % (
                i + 1, ", ".join("%s(%s)" % (k, short(d, 16)) for k, d in want),
                ", ".join(fmt_event(e) for e in got)))


def clean_close(c, code=1000, reason=b"", accept_codes=None):
    """We close with `code`; the server must echo a close (one of
    accept_codes, default [code]) and then close TCP first."""
    c.send_close(code, reason)
    ev = c.next_event()
    if ev[0] != "close":
        fail("expected the server's close reply, got %s" % fmt_event(ev))
    codes = accept_codes if accept_codes is not None else [code]
    if ev[1] not in codes:
        fail("close reply code %s, expected %s" % (ev[1], codes))
    if not c.wait_eof():
        fail("server did not close TCP within %.0fs after the close handshake"
             % TCP_CLOSE_WAIT)
    return ev


def echo_case(c, expected, timeout=EVENT_TIMEOUT):
    expect_events(c, expected, timeout)
    clean_close(c)
    return OK, ""


def expect_failure(c, codes, before=(), timeout=EVENT_TIMEOUT):
    """The server must fail the connection: the events in `before` (echoes
    of what preceded the violation), then a close frame with one of
    `codes`, then the server closes TCP."""
    expect_events(c, before, timeout)
    ev = c.next_event(timeout)
    if ev[0] != "close":
        fail("expected close %s, got %s" % ("/".join(map(str, codes)),
                                            fmt_event(ev)))
    if ev[1] not in codes:
        fail("close code %s, expected %s (reason %r)" % (
            ev[1], "/".join(map(str, codes)), bytes(ev[2])))
    # Reply as a well-behaved client does; the server may already be gone.
    c.send_raw(frame(OP_CLOSE, close_payload(ev[1])))
    if not c.wait_eof():
        fail("server sent close %d but did not close TCP within %.0fs"
             % (ev[1], TCP_CLOSE_WAIT))
    return OK, "close %d" % ev[1]


# ---------------------------------------------------------------------------
# Case registry
# ---------------------------------------------------------------------------
CASES = []


def case(cid, desc, servers=("deflate", "nodeflate"), offer=None):
    def deco(fn):
        CASES.append({"id": cid, "desc": desc, "fn": fn, "servers": servers,
                      "offer": offer})
        return fn
    return deco


def add_case(cid, desc, fn, servers=("deflate", "nodeflate"), offer=None):
    CASES.append({"id": cid, "desc": desc, "fn": fn, "servers": servers,
                  "offer": offer})


# -- 1.x framing: text and binary echo ---------------------------------------
def _mk_echo(opcode, n, chop=None):
    payload = (b"*" if opcode == OP_TEXT else b"\xfe") * n
    kind = "text" if opcode == OP_TEXT else "binary"

    def run(c):
        f = frame(opcode, payload)
        if chop:
            c.send_raw(f, chop=chop)
        else:
            c.send_raw(f)
        return echo_case(c, [(kind, payload)])
    return run


for _g, _op in ((1, OP_TEXT), (2, OP_BINARY)):
    _name = "text" if _op == OP_TEXT else "binary"
    for _i, _n in enumerate((0, 125, 126, 127, 128, 65535, 65536), 1):
        add_case("1.%d.%d" % (_g, _i), "%s message, payload %d" % (_name, _n),
                 _mk_echo(_op, _n))
    add_case("1.%d.8" % _g, "%s message, payload 65536, in chops of 997 "
             "octets" % _name, _mk_echo(_op, 65536, chop=997))
    add_case("1.%d.9" % _g, "%s message, payload 65536, in chops of 1300 "
             "octets" % _name, _mk_echo(_op, 65536, chop=1300))


# -- 2.x ping/pong -----------------------------------------------------------
def _ping_case(payload, mode="bulk"):
    def run(c):
        c.send(frame(OP_PING, payload), mode)
        return echo_case(c, [("pong", payload)])
    return run


add_case("2.1", "ping without payload", _ping_case(b""))
add_case("2.2", "ping with small text payload", _ping_case(b"Hello, world!"))
add_case("2.3", "ping with small binary payload",
         _ping_case(b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"))
add_case("2.4", "ping with binary payload of 125 octets",
         _ping_case(b"\xfe" * 125))


@case("2.5", "ping with payload of 126 octets: fail 1002, no pong")
def _c2_5(c):
    c.send(frame(OP_PING, b"\xfe" * 126))
    return expect_failure(c, [1002])


add_case("2.6", "ping with 125 octets, sent in octet-wise chops",
         _ping_case(b"\xfe" * 125, "octet"))


@case("2.7", "unsolicited pong without payload: ignored")
def _c2_7(c):
    c.send(frame(OP_PONG, b""))
    return echo_case(c, [])


@case("2.8", "unsolicited pong with payload: ignored")
def _c2_8(c):
    c.send(frame(OP_PONG, b"unsolicited pong payload"))
    return echo_case(c, [])


@case("2.9", "unsolicited pong, then ping: pong for the ping only")
def _c2_9(c):
    c.send([frame(OP_PONG, b"unsolicited pong payload"),
            frame(OP_PING, b"ping payload")])
    return echo_case(c, [("pong", b"ping payload")])


def _ten_pings(mode, pause=0.0):
    def run(c):
        payloads = [("payload-%d" % i).encode() for i in range(10)]
        if pause:
            for p in payloads:
                c.send(frame(OP_PING, p))
                time.sleep(pause)
        else:
            c.send([frame(OP_PING, p) for p in payloads], mode)
        got = []
        c.send_close(1000)
        while True:
            ev = c.next_event()
            if ev[0] != "pong":
                break
            got.append(ev[1])
        if ev[0] != "close" or ev[1] != 1000:
            fail("expected close 1000 after the pongs, got %s" % fmt_event(ev))
        if not c.wait_eof():
            fail("server did not close TCP after the close handshake")
        if got == payloads:
            return OK, "10 pongs"
        # RFC 6455 5.5.3: a pong for only the most recent ping is allowed.
        # Pongs must be for pings sent, in order, ending with the last one.
        idx = [payloads.index(g) if g in payloads else -1 for g in got]
        if got and -1 not in idx and idx == sorted(set(idx)) and idx[-1] == 9:
            if pause:
                fail("pings %d ms apart: only %d pongs (%s); each ping was "
                     "answerable before the next arrived"
                     % (pause * 1000, len(got), idx))
            return NON_STRICT, "%d pongs for 10 pings (RFC 6455 5.5.3 allows " \
                               "answering only the latest; Autobahn's case " \
                               "expects all 10)" % len(got)
        fail("pongs %s do not answer the pings" % [short(g, 12) for g in got])
    return run


add_case("2.10", "10 pings in one write: 10 pongs", _ten_pings("bulk"))
add_case("2.11", "10 pings in octet-wise chops: 10 pongs", _ten_pings("octet"))
add_case("2.12", "10 pings, 20 ms apart: 10 pongs",
         _ten_pings("frame", pause=0.02))


@case("2.13", "pings of every payload size 0..125, each answered")
def _c2_13(c):
    for n in range(126):
        p = bytes((i * 7 + n) & 0xFF for i in range(n))
        c.send(frame(OP_PING, p))
        expect_events(c, [("pong", p)])
    clean_close(c)
    return OK, "126 pongs"


# -- 3.x reserved bits -----------------------------------------------------------
def _rsv_case(setup, mode="bulk"):
    def run(c):
        frames, before = setup()
        c.send(frames, mode)
        return expect_failure(c, [1002], before)
    return run


add_case("3.1", "text with RSV = 1: fail 1002", _rsv_case(
    lambda: ([frame(OP_TEXT, b"Hello, world!", rsv=1)], [])))
for _cid, _rsv, _mode in (("3.2", 2, "bulk"), ("3.3", 3, "frame"),
                          ("3.4", 4, "octet")):
    add_case(_cid, "text, text with RSV = %d, ping (%s): echo of the first, "
             "then 1002, no pong" % (_rsv, _mode), _rsv_case(
                 (lambda r: lambda: ([frame(OP_TEXT, b"Hello, world!"),
                                      frame(OP_TEXT, b"Hello, world!", rsv=r),
                                      frame(OP_PING, b"")],
                                     [("text", b"Hello, world!")]))(_rsv),
                 _mode))
add_case("3.5", "binary with RSV = 5: fail 1002", _rsv_case(
    lambda: ([frame(OP_BINARY, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff", rsv=5)], [])))
add_case("3.6", "ping with RSV = 6: fail 1002, no pong", _rsv_case(
    lambda: ([frame(OP_PING, b"Hello, world!", rsv=6)], [])))
add_case("3.7", "close with RSV = 7: fail 1002", _rsv_case(
    lambda: ([frame(OP_CLOSE, close_payload(1000), rsv=7)], [])))


# -- 4.x reserved opcodes ------------------------------------------------------------
def _opcode_cases(group, ops):
    a, b, cc, d, e = ops
    add_case("4.%d.1" % group, "reserved opcode %X: fail 1002" % a, _rsv_case(
        lambda: ([frame(a, b"")], [])))
    add_case("4.%d.2" % group, "reserved opcode %X with payload: fail 1002" % b,
             _rsv_case(lambda: ([frame(b, b"reserved opcode payload")], [])))
    for cid, op, mode, pl in (("4.%d.3" % group, cc, "bulk", b""),
                              ("4.%d.4" % group, d, "frame", b"reserved opcode payload"),
                              ("4.%d.5" % group, e, "octet", b"reserved opcode payload")):
        add_case(cid, "text, reserved opcode %X, ping (%s): echo of the text, "
                 "then 1002, no pong" % (op, mode), _rsv_case(
                     (lambda o, p: lambda: ([frame(OP_TEXT, b"Hello, world!"),
                                             frame(o, p), frame(OP_PING, b"")],
                                            [("text", b"Hello, world!")]))(op, pl),
                     mode))


_opcode_cases(1, (3, 4, 5, 6, 7))
_opcode_cases(2, (0xB, 0xC, 0xD, 0xE, 0xF))


# -- 5.x fragmentation -------------------------------------------------------------
def _seq_fail(frames_fn, before=(), mode="bulk", codes=(1002,)):
    def run(c):
        c.send(frames_fn(), mode)
        return expect_failure(c, list(codes), list(before))
    return run


def _seq_echo(frames_fn, expected, mode="bulk"):
    def run(c):
        c.send(frames_fn(), mode)
        return echo_case(c, expected)
    return run


add_case("5.1", "ping in 2 fragments: fail 1002", _seq_fail(
    lambda: [frame(OP_PING, b"fragment1", fin=False),
             frame(OP_CONT, b"fragment2")]))
add_case("5.2", "pong in 2 fragments: fail 1002", _seq_fail(
    lambda: [frame(OP_PONG, b"fragment1", fin=False),
             frame(OP_CONT, b"fragment2")]))
for _cid, _mode in (("5.3", "bulk"), ("5.4", "frame"), ("5.5", "octet")):
    add_case(_cid, "text in 2 fragments (%s)" % _mode, _seq_echo(
        lambda: [frame(OP_TEXT, b"fragment1", fin=False),
                 frame(OP_CONT, b"fragment2")],
        [("text", b"fragment1fragment2")], _mode))
for _cid, _mode in (("5.6", "bulk"), ("5.7", "frame"), ("5.8", "octet")):
    add_case(_cid, "text in 2 fragments, ping in between (%s)" % _mode,
             _seq_echo(lambda: [frame(OP_TEXT, b"fragment1", fin=False),
                                frame(OP_PING, b"ping payload"),
                                frame(OP_CONT, b"fragment2")],
                       [("pong", b"ping payload"),
                        ("text", b"fragment1fragment2")], _mode))
for _cid, _mode in (("5.9", "bulk"), ("5.10", "frame"), ("5.11", "octet")):
    add_case(_cid, "continuation FIN=1 with nothing to continue, then text "
             "(%s): fail 1002" % _mode, _seq_fail(
                 lambda: [frame(OP_CONT, b"non-continuation payload"),
                          frame(OP_TEXT, b"Hello, world!")], mode=_mode))
for _cid, _mode in (("5.12", "bulk"), ("5.13", "frame"), ("5.14", "octet")):
    add_case(_cid, "continuation FIN=0 with nothing to continue, then text "
             "(%s): fail 1002" % _mode, _seq_fail(
                 lambda: [frame(OP_CONT, b"non-continuation payload", fin=False),
                          frame(OP_TEXT, b"Hello, world!")], mode=_mode))
add_case("5.15", "text in 2 fragments, then continuation FIN=0 with nothing to "
         "continue, then text: echo, then 1002", _seq_fail(
             lambda: [frame(OP_TEXT, b"fragment1", fin=False),
                      frame(OP_CONT, b"fragment2"),
                      frame(OP_CONT, b"fragment3", fin=False),
                      frame(OP_TEXT, b"fragment4")],
             before=[("text", b"fragment1fragment2")]))
add_case("5.16", "2x (continuation FIN=0 with nothing to continue, text in 2 "
         "fragments): fail 1002", _seq_fail(
             lambda: [frame(OP_CONT, b"fragment1", fin=False),
                      frame(OP_TEXT, b"fragment2", fin=False),
                      frame(OP_CONT, b"fragment3")] * 2))
add_case("5.17", "2x (continuation FIN=1 with nothing to continue, text in 2 "
         "fragments): fail 1002", _seq_fail(
             lambda: [frame(OP_CONT, b"fragment1"),
                      frame(OP_TEXT, b"fragment2", fin=False),
                      frame(OP_CONT, b"fragment3")] * 2))
add_case("5.18", "text in 2 fragments, both with opcode text: fail 1002",
         _seq_fail(lambda: [frame(OP_TEXT, b"fragment1", fin=False),
                            frame(OP_TEXT, b"fragment2")]))


def _slow_fragments(mode):
    def run(c):
        frags = [b"fragment1", b"fragment2", b"fragment3", b"fragment4",
                 b"fragment5"]
        pings = [b"pongme 1!", b"pongme 2!"]
        c.send([frame(OP_TEXT, frags[0], fin=False),
                frame(OP_CONT, frags[1], fin=False),
                frame(OP_PING, pings[0])], mode)
        # The pong must come while the message is still open.
        ev = c.next_event(1.0)
        if ev != ("pong", pings[0]):
            fail("no pong within 1 s for a ping sent inside an open message, "
                 "got %s" % fmt_event(ev))
        time.sleep(max(0.0, 1.0 - 0.0))
        ev = c.next_event(0.05)
        if ev[0] != "timeout":
            fail("unexpected %s during the pause" % fmt_event(ev))
        c.send([frame(OP_CONT, frags[2], fin=False),
                frame(OP_CONT, frags[3], fin=False),
                frame(OP_PING, pings[1]),
                frame(OP_CONT, frags[4])], mode)
        return echo_case(c, [("pong", pings[1]), ("text", b"".join(frags))])
    return run


add_case("5.19", "text in 5 fragments, pings after the 2nd (then 1 s pause) "
         "and 4th: pong 1 during the pause", _slow_fragments("bulk"))
add_case("5.20", "as 5.19, every frame its own write", _slow_fragments("frame"))


# -- 6.x UTF-8 -----------------------------------------------------------------------
KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
HELLO_UTF8 = "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!".encode()


def _frag_frames(payload, size, opcode=OP_TEXT):
    if not payload:
        return [frame(opcode, b"")]
    out = []
    for i in range(0, len(payload), size):
        out.append(frame(opcode if i == 0 else OP_CONT, payload[i:i + size],
                         fin=i + size >= len(payload)))
    return out


add_case("6.1.1", "text of length 0", _seq_echo(
    lambda: [frame(OP_TEXT, b"")], [("text", b"")]))
add_case("6.1.2", "text in 3 fragments, all of length 0", _seq_echo(
    lambda: [frame(OP_TEXT, b"", fin=False), frame(OP_CONT, b"", fin=False),
             frame(OP_CONT, b"")], [("text", b"")]))
add_case("6.1.3", "text in 3 fragments, first and last of length 0", _seq_echo(
    lambda: [frame(OP_TEXT, b"", fin=False),
             frame(OP_CONT, b"middle frame payload", fin=False),
             frame(OP_CONT, b"")], [("text", b"middle frame payload")]))
add_case("6.2.1", "valid UTF-8 in one fragment", _seq_echo(
    lambda: [frame(OP_TEXT, HELLO_UTF8)], [("text", HELLO_UTF8)]))
add_case("6.2.2", "valid UTF-8 in 2 fragments, split on a code point boundary",
         _seq_echo(lambda: [frame(OP_TEXT, HELLO_UTF8[:13], fin=False),
                            frame(OP_CONT, HELLO_UTF8[13:])],
                   [("text", HELLO_UTF8)]))
add_case("6.2.3", "valid UTF-8 in 1-octet fragments", _seq_echo(
    lambda: _frag_frames(HELLO_UTF8, 1), [("text", HELLO_UTF8)]))
add_case("6.2.4", "valid UTF-8 (kosme) in 1-octet fragments", _seq_echo(
    lambda: _frag_frames(KOSME, 1), [("text", KOSME)]))
INVALID_631 = KOSME + b"\xed\xa0\x80" + b"edited"
add_case("6.3.1", "invalid UTF-8 (surrogate) in one fragment: fail 1007",
         _seq_fail(lambda: [frame(OP_TEXT, INVALID_631)], codes=(1007,)))
add_case("6.3.2", "invalid UTF-8 (surrogate) in 1-octet fragments: fail 1007",
         _seq_fail(lambda: _frag_frames(INVALID_631, 1), codes=(1007,)))


def _fail_fast(parts, single_frame):
    """parts: 3 byte strings. Part 1 is valid, part 2 makes the text
    invalid, part 3 completes the message. The server must fail the
    connection with 1007 after part 2, while part 3 is held back."""
    def run(c):
        whole = b"".join(parts)
        if single_frame:
            f = frame(OP_TEXT, whole)
            hl = len(f) - len(whole)
            chunks = [f[:hl + len(parts[0])],
                      f[hl + len(parts[0]):hl + len(parts[0]) + len(parts[1])],
                      f[hl + len(parts[0]) + len(parts[1]):]]
        else:
            chunks = [frame(OP_TEXT, parts[0], fin=False),
                      frame(OP_CONT, parts[1], fin=False),
                      frame(OP_CONT, parts[2])]
        c.send_raw(chunks[0])
        ev = c.next_event(0.5)
        if ev[0] != "timeout":
            fail("the valid first part was answered with %s" % fmt_event(ev))
        c.send_raw(chunks[1])
        ev = c.next_event(1.5)
        if ev[0] == "timeout":
            c.send_raw(chunks[2])
            ev = c.next_event(1.5)
            if ev[0] == "close" and ev[1] == 1007:
                fail("not fail-fast: close 1007 came only after the rest of "
                     "the message was sent (Autobahn grades NON-STRICT; sent "
                     "%s then %s)" % (short(chunks[0]), short(chunks[1])))
            fail("no close 1007 after the invalid part nor after the rest: %s"
                 % fmt_event(ev))
        if ev[0] != "close" or ev[1] != 1007:
            fail("after the invalid part: expected close 1007, got %s"
                 % fmt_event(ev))
        c.send_raw(frame(OP_CLOSE, close_payload(1007)))
        if not c.wait_eof():
            fail("server sent close 1007 but did not close TCP")
        return OK, "close 1007 while the rest was held back"
    return run


add_case("6.4.1", "3 fragments: valid | F4 90 80 80 | valid, 1007 before the "
         "3rd is sent", _fail_fast([KOSME, b"\xf4\x90\x80\x80", b"edited"], False))
add_case("6.4.2", "3 fragments: valid+F4 | 90 | 80 80 valid, 1007 before the "
         "3rd is sent", _fail_fast([KOSME + b"\xf4", b"\x90", b"\x80\x80edited"],
                                   False))
add_case("6.4.3", "one frame in 3 chops: valid | F4 90 80 80 | valid, 1007 "
         "before the 3rd chop", _fail_fast([KOSME, b"\xf4\x90\x80\x80", b"edited"],
                                           True))
add_case("6.4.4", "one frame in 3 chops: valid+F4 | 90 | 80 80 valid, 1007 "
         "before the 3rd chop", _fail_fast([KOSME + b"\xf4", b"\x90",
                                            b"\x80\x80edited"], True))


def utf8_sequences():
    """The 6.5-6.23 groups: Markus Kuhn's UTF-8 decoder stress test, grouped
    as Autobahn groups them. Returns [(title, [(valid, bytes), ...])]."""
    g = []
    g.append(("Some valid UTF-8 sequences", [
        (True, b"hello\x24world"), (True, b"hello\xc2\xa2world"),
        (True, b"hello\xe2\x82\xacworld"), (True, b"hello\xf0\xa4\xad\xa2world"),
        (True, KOSME)]))

    def complete(b):
        try:
            b.decode("utf-8")
            return True
        except UnicodeDecodeError:
            return False
    g.append(("All prefixes of a valid multi-byte string",
              [(complete(KOSME[:i]), KOSME[:i]) for i in range(1, len(KOSME) + 1)]))
    g.append(("First possible sequence of a certain length", [
        (True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"),
        (True, b"\xf0\x90\x80\x80")]))
    g.append(("First possible sequence length 5/6 (invalid code points)", [
        (False, b"\xf8\x88\x80\x80\x80"), (False, b"\xfc\x84\x80\x80\x80\x80")]))
    g.append(("Last possible sequence of a certain length", [
        (True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"),
        (True, b"\xf4\x8f\xbf\xbf")]))
    g.append(("Last possible sequence length 4/5/6 (invalid code points)", [
        (False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"),
        (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]))
    g.append(("Other boundary conditions", [
        (True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"),
        (True, b"\xf4\x8f\xbf\xbf"), (False, b"\xf4\x90\x80\x80")]))
    g.append(("Unexpected continuation bytes", [
        (False, b"\x80"), (False, b"\xbf"), (False, b"\x80\xbf"),
        (False, b"\x80\xbf\x80"), (False, b"\x80\xbf\x80\xbf"),
        (False, b"\x80\xbf\x80\xbf\x80"), (False, b"\x80\xbf\x80\xbf\x80\xbf"),
        (False, bytes(range(0x80, 0xbf)))]))
    g.append(("Lonely start characters", [
        (False, b"".join(bytes([i, 0x20]) for i in range(lo, hi)))
        for lo, hi in ((0xc0, 0xdf), (0xe0, 0xef), (0xf0, 0xf7), (0xf8, 0xfb),
                       (0xfc, 0xfd))]))
    missing = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80",
               b"\xfc\x80\x80\x80\x80", b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf",
               b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    g.append(("Sequences with last continuation byte missing",
              [(False, k) for k in missing]))
    g.append(("Concatenation of incomplete sequences",
              [(False, b"".join(missing))]))
    g.append(("Impossible bytes", [
        (False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")]))
    g.append(("Examples of an overlong ASCII character", [
        (False, b"\xc0\xaf"), (False, b"\xe0\x80\xaf"), (False, b"\xf0\x80\x80\xaf"),
        (False, b"\xf8\x80\x80\x80\xaf"), (False, b"\xfc\x80\x80\x80\x80\xaf")]))
    g.append(("Maximum overlong sequences", [
        (False, b"\xc1\xbf"), (False, b"\xe0\x9f\xbf"), (False, b"\xf0\x8f\xbf\xbf"),
        (False, b"\xf8\x87\xbf\xbf\xbf"), (False, b"\xfc\x83\xbf\xbf\xbf\xbf")]))
    g.append(("Overlong representation of the NUL character", [
        (False, b"\xc0\x80"), (False, b"\xe0\x80\x80"), (False, b"\xf0\x80\x80\x80"),
        (False, b"\xf8\x80\x80\x80\x80"), (False, b"\xfc\x80\x80\x80\x80\x80")]))
    g.append(("Single UTF-16 surrogates", [(False, s) for s in (
        b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf",
        b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf")]))
    g.append(("Paired UTF-16 surrogates", [(False, a + b) for a, b in (
        (b"\xed\xa0\x80", b"\xed\xb0\x80"), (b"\xed\xa0\x80", b"\xed\xbf\xbf"),
        (b"\xed\xad\xbf", b"\xed\xb0\x80"), (b"\xed\xad\xbf", b"\xed\xbf\xbf"),
        (b"\xed\xae\x80", b"\xed\xb0\x80"), (b"\xed\xae\x80", b"\xed\xbf\xbf"),
        (b"\xed\xaf\xbf", b"\xed\xb0\x80"), (b"\xed\xaf\xbf", b"\xed\xbf\xbf"))]))
    nonchars = [(True, b"\xef\xbf\xbe"), (True, b"\xef\xbf\xbf")]
    for z1 in (0xf0, 0xf1, 0xf2, 0xf3, 0xf4):
        for z2 in (0x8f, 0x9f, 0xaf, 0xbf):
            if z1 == 0xf4 and z2 != 0x8f:
                continue  # above U+10FFFF
            for z3 in (0xbe, 0xbf):
                zz = bytes([z1, z2, 0xbf, z3])
                if zz not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):
                    nonchars.append((True, zz))
    g.append(("Non-character code points (valid UTF-8)", nonchars))
    g.append(("Unicode specials", [(True, bytes([0xef, 0xbf, b]))
                                   for b in range(0xb9, 0xc0)]))
    return g


def _utf8_case(valid, payload, fragmented):
    def run(c):
        frames = _frag_frames(payload, 1) if fragmented else [frame(OP_TEXT, payload)]
        c.send(frames)
        if valid:
            return echo_case(c, [("text", payload)])
        return expect_failure(c, [1007])
    return run


for _gi, (_title, _seqs) in enumerate(utf8_sequences(), 5):
    for _si, (_valid, _payload) in enumerate(_seqs, 1):
        for _fragd in (False, True):
            add_case("6.%d.%d%s" % (_gi, _si, "f" if _fragd else ""),
                     "%s: %s %s%s" % (_title, "valid" if _valid else "invalid",
                                     _payload[:12].hex(),
                                     ", 1-octet fragments" if _fragd else ""),
                     _utf8_case(_valid, _payload, _fragd))


# -- 7.x close handling ------------------------------------------------------------------
@case("7.1.1", "text, then close 1000: echo and clean close")
def _c7_1_1(c):
    c.send(frame(OP_TEXT, b"Hello World!"))
    return echo_case(c, [("text", b"Hello World!")])


def _after_close(extra, expect_before=()):
    def run(c):
        c.send([frame(OP_CLOSE, close_payload(1000))] + extra())
        expect_events(c, list(expect_before))
        ev = c.next_event()
        if ev[0] != "close" or ev[1] != 1000:
            fail("expected close 1000, got %s" % fmt_event(ev))
        if not c.wait_eof():
            fail("server did not close TCP after the close handshake")
        return OK, ""
    return run


add_case("7.1.2", "close, then a second close: one close reply, TCP closed",
         _after_close(lambda: [frame(OP_CLOSE, close_payload(1000))]))
add_case("7.1.3", "close, then ping: no pong",
         _after_close(lambda: [frame(OP_PING, b"Hello World!")]))
add_case("7.1.4", "close, then text: not echoed",
         _after_close(lambda: [frame(OP_TEXT, b"Hello World!")]))


@case("7.1.5", "text fragment, close, final fragment: message not echoed whole")
def _c7_1_5(c):
    c.send([frame(OP_TEXT, b"fragment1", fin=False),
            frame(OP_CLOSE, close_payload(1000)),
            frame(OP_CONT, b"fragment2")])
    ev = c.next_event()
    if ev[0] != "close" or ev[1] != 1000:
        fail("expected close 1000, got %s" % fmt_event(ev))
    if not c.wait_eof():
        fail("server did not close TCP after the close handshake")
    return OK, ""


@case("7.1.6", "256 KiB text, close, ping: close 1000, no pong (informational "
      "in Autobahn for the echo)")
def _c7_1_6(c):
    big = b"BAsd7&jh23" * 26215 + b"BA"
    c.send([frame(OP_TEXT, big), frame(OP_CLOSE, close_payload(1000)),
            frame(OP_PING, b"Hello World!")])
    ev = c.next_event()
    note = "message not echoed"
    if ev[0] == "text":
        if ev[1] != big:
            fail("echo of the 256 KiB message differs")
        note = "message echoed"
        ev = c.next_event()
    if ev[0] != "close" or ev[1] != 1000:
        fail("expected close 1000, got %s" % fmt_event(ev))
    if not c.wait_eof():
        fail("server did not close TCP after the close handshake")
    return OK, note


@case("7.3.1", "close with empty payload: empty (or 1000) close reply")
def _c7_3_1(c):
    c.send(frame(OP_CLOSE, b""))
    ev = c.next_event()
    if ev[0] != "close" or ev[1] not in (None, 1000):
        fail("expected an empty close or 1000, got %s" % fmt_event(ev))
    if not c.wait_eof():
        fail("server did not close TCP after the close handshake")
    return OK, "reply %s" % ("empty" if ev[1] is None else ev[1])


add_case("7.3.2", "close with 1-octet payload: fail 1002",
         _seq_fail(lambda: [frame(OP_CLOSE, b"a")]))
add_case("7.3.3", "close 1000 without reason: echoed",
         lambda c: (clean_close(c), (OK, ""))[1])
add_case("7.3.4", "close 1000 with a reason: echoed",
         lambda c: (clean_close(c, 1000, b"Hello World!"), (OK, ""))[1])
add_case("7.3.5", "close 1000 with a 123-octet reason (payload 125): echoed",
         lambda c: (clean_close(c, 1000, b"*" * 123), (OK, ""))[1])
add_case("7.3.6", "close with payload 126 (124-octet reason): fail 1002",
         _seq_fail(lambda: [frame(OP_CLOSE, close_payload(1000, b"*" * 124))]))
add_case("7.5.1", "close 1000 with a reason that is not UTF-8: fail 1007",
         _seq_fail(lambda: [frame(OP_CLOSE, close_payload(1000, INVALID_631))],
                   codes=(1007,)))


def _valid_code(code):
    def run(c):
        ev = clean_close(c, code, accept_codes=[code, 1000])
        if ev[1] != code:
            return NON_STRICT, "answered %d instead of echoing %d" % (ev[1], code)
        return OK, "echoed %d" % code
    return run


for _i, _code in enumerate((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                            1011, 3000, 3999, 4000, 4999), 1):
    add_case("7.7.%d" % _i, "close with valid code %d: echoed" % _code,
             _valid_code(_code))
for _i, _code in enumerate((0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999), 1):
    add_case("7.9.%d" % _i, "close with invalid code %d: fail 1002" % _code,
             _seq_fail((lambda cd: lambda: [frame(OP_CLOSE, close_payload(cd))])(_code)))
for _i, _code in enumerate((5000, 65535), 1):
    add_case("7.13.%d" % _i, "close with out-of-range code %d: fail 1002" % _code,
             _seq_fail((lambda cd: lambda: [frame(OP_CLOSE, close_payload(cd))])(_code)))


# -- 9.x limits and performance ----------------------------------------------------------
TIMINGS = []
TEXT_UNIT = "BAsd7&jh23\u03ba\u1f79\u03c3\u03bc\u03b5\u20ac\U00024b62".encode()
BIN_UNIT = bytes(range(256))


def _payload(opcode, n):
    unit = TEXT_UNIT if opcode == OP_TEXT else BIN_UNIT
    p = unit * (n // len(unit) + 1)
    p = p[:n]
    if opcode == OP_TEXT:
        # cut at a code point boundary, pad with ASCII to length n
        while True:
            try:
                p.decode("utf-8")
                break
            except UnicodeDecodeError:
                p = p[:-1]
        p += b"*" * (n - len(p))
    return p


def _big_case(cid, opcode, n, frag=None, chop=None, budget=20.0):
    def run(c):
        payload = _payload(opcode, n)
        t0 = time.monotonic()
        if frag:
            data = b"".join(_frag_frames(payload, frag, opcode))
        else:
            data = frame(opcode, payload)
        t1 = time.monotonic()  # echo streams back while we send
        c.send_raw(data, chop=chop)
        if c.send_failed:
            fail("send failed: %s" % c.send_failed)
        ev = c.next_event(budget)
        t2 = time.monotonic()
        kind = "text" if opcode == OP_TEXT else "binary"
        if ev[0] != kind:
            fail("expected the %d-byte %s echo, got %s" % (n, kind, fmt_event(ev)))
        if ev[1] != payload:
            fail("echo differs from the %d bytes sent (got %d bytes)"
                 % (n, len(ev[1])))
        clean_close(c)
        TIMINGS.append((cid, n, frag, chop, t2 - t1))
        return OK, "%.3f s round trip" % (t2 - t1)
    return run


_SIZES = [(1, 64 << 10), (2, 256 << 10), (3, 1 << 20), (4, 4 << 20),
          (5, 8 << 20), (6, 16 << 20)]
for _g, _op in ((1, OP_TEXT), (2, OP_BINARY)):
    _nm = "text" if _op == OP_TEXT else "binary"
    for _i, _n in _SIZES:
        _cid = "9.%d.%d" % (_g, _i)
        add_case(_cid, "%s message of %d bytes, one frame" % (_nm, _n),
                 _big_case(_cid, _op, _n), servers=("deflate",))
for _g, _op in ((3, OP_TEXT), (4, OP_BINARY)):
    _nm = "text" if _op == OP_TEXT else "binary"
    for _i, _f in enumerate((64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10,
                             256 << 10, 1 << 20, 4 << 20), 1):
        _cid = "9.%d.%d" % (_g, _i)
        add_case(_cid, "%s message of 4 MiB in fragments of %d" % (_nm, _f),
                 _big_case(_cid, _op, 4 << 20, frag=_f), servers=("deflate",))
for _g, _op in ((5, OP_TEXT), (6, OP_BINARY)):
    _nm = "text" if _op == OP_TEXT else "binary"
    for _i, _ch in enumerate((64, 128, 256, 512, 1024, 2048, 4096), 1):
        _cid = "9.%d.%d" % (_g, _i)
        add_case(_cid, "%s message of 1 MiB in TCP chops of %d" % (_nm, _ch),
                 _big_case(_cid, _op, 1 << 20, chop=_ch), servers=("deflate",))
    for _i, _ch in ((8, 1), (9, 7)):
        _cid = "9.%d.%d" % (_g, _i)
        add_case(_cid, "%s message of 64 KiB in TCP chops of %d" % (_nm, _ch),
                 _big_case(_cid, _op, 64 << 10, chop=_ch), servers=("deflate",))


def _round_trips(opcode, n, count=1000):
    def run(c):
        payload = _payload(opcode, n)
        kind = "text" if opcode == OP_TEXT else "binary"
        t0 = time.monotonic()
        for _ in range(count):
            c.send_raw(frame(opcode, payload))
            ev = c.next_event()
            if ev != (kind, payload):
                fail("round trip: expected %s echo, got %s" % (kind, fmt_event(ev)))
        dt = time.monotonic() - t0
        clean_close(c)
        return OK, "%d round trips, %.1f us each" % (count, dt / count * 1e6)
    return run


for _g, _op in ((7, OP_TEXT), (8, OP_BINARY)):
    for _i, _n in enumerate((0, 16, 64, 256, 1024, 4096), 1):
        add_case("9.%d.%d" % (_g, _i), "1000 %s messages of %d bytes, one at a "
                 "time" % ("text" if _op == OP_TEXT else "binary", _n),
                 _round_trips(_op, _n), servers=("deflate",))


# -- 10.x --------------------------------------------------------------------------------
add_case("10.1.1", "text of 65536 bytes in 1300-byte fragments",
         _big_case("10.1.1", OP_TEXT, 65536, frag=1300))


# -- 12.x / 13.x permessage-deflate --------------------------------------------------------
def _corpus(kind, n):
    """Deterministic payloads of several compressibility profiles."""
    if kind == "text":
        words = ("the quick brown fox jumps over a lazy dog while "
                 "\u00fcber-caf\u00e9 \u03ba\u03cc\u03c3\u03bc\u03b5 websocket "
                 "frames flow both ways ").encode()
        return _utf8_cut(words * (n // len(words) + 1), n)
    if kind == "json":
        unit = b'{"id":12345,"name":"conformance","tags":["a","b"],"ok":true},'
        return (unit * (n // len(unit) + 1))[:n]
    if kind == "html":
        unit = b"<div class=\"row\"><span>cell</span><a href=\"/x\">link</a></div>\n"
        return (unit * (n // len(unit) + 1))[:n]
    if kind == "binary":
        x, out = 1, bytearray()
        while len(out) < n:
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            out += bytes([(x >> 16) & 0x0F]) * 3
        return bytes(out[:n])
    return os.urandom(n)  # random: incompressible


def _utf8_cut(p, n):
    p = p[:n]
    while True:
        try:
            p.decode("utf-8")
            return p + b"." * (n - len(p))
        except UnicodeDecodeError:
            p = p[:-1]


def _pmd_case(kind, size, frag=None, count=None, expect_params=None,
              require=True):
    opcode = OP_TEXT if kind in ("text", "json", "html") else OP_BINARY
    ev_kind = "text" if opcode == OP_TEXT else "binary"

    def run(c):
        if c.pmd is None:
            if require:
                fail("server did not accept the offer %r" % c.offer)
            return OK, "offer declined"
        if expect_params:
            for k, v in expect_params.items():
                got = getattr(c.pmd, k)
                if got != v:
                    fail("negotiated %s=%s, expected %s (response %r)"
                         % (k, got, v, c.response_extensions))
        limited = c.pmd.server_bits < 15
        c.check_window = 3 if limited else 0  # the parser is slow: a sample
        n = count or max(4, min(1000, (1 << 20) // max(size, 1)))
        base = _corpus(kind, size)
        msgs = []
        for i in range(n):
            # vary a few bytes so messages are similar but not identical
            if size >= 8 and opcode == OP_BINARY:
                m = struct.pack("!I", i) + base[4:]
            elif size >= 8:
                m = ("%07d" % (i % 10000000)).encode() + base[7:]
            else:
                m = base
            msgs.append(m)
        window = 64
        sent = recv = 0
        while recv < n:
            while sent < n and sent - recv < window:
                c.send_message(opcode, msgs[sent], frag=frag)
                sent += 1
            ev = c.next_event()
            if ev[0] != ev_kind or ev[1] != msgs[recv]:
                fail("message %d of %d: expected %s echo of %d bytes, got %s"
                     % (recv + 1, n, ev_kind, len(msgs[recv]), fmt_event(ev)))
            recv += 1
        if limited:
            c.check_window = 1
            # A random block repeated at a distance just over the window: a
            # server compressing with a larger window refers back to it.
            span = (1 << c.pmd.server_bits) + 64
            block = os.urandom(span)
            far = block + block
            c.send_message(OP_BINARY, far)
            expect_events(c, [("binary", far)])
        clean_close(c)
        return OK, "%d messages of %d bytes%s; response %r" % (
            n, size, (", fragments of %d" % frag) if frag else "",
            c.response_extensions)
    return run


DEFAULT_OFFER = "permessage-deflate; client_max_window_bits"
_PMD_SIZES = [(16, None), (64, None), (256, None), (1024, None), (4096, None),
              (8192, None), (16384, None), (32768, None), (65536, None),
              (131072, None), (65536, 256), (65536, 1024), (131072, 4096),
              (131072, 32768), (262144, 65536), (524288, 262144)]
for _g, _kind in enumerate(("text", "binary", "json", "html", "random"), 1):
    _sizes = _PMD_SIZES if _g <= 2 else [s for s in _PMD_SIZES
                                         if s in ((16, None), (1024, None),
                                                  (65536, None), (131072, 4096))]
    for _i, (_sz, _fr) in enumerate(_sizes, 1):
        add_case("12.%d.%d" % (_g, _i),
                 "%s, compressed messages of %d bytes%s, default offer" % (
                     _kind, _sz, (" in fragments of %d" % _fr) if _fr else ""),
                 _pmd_case(_kind, _sz, _fr), servers=("deflate",),
                 offer=DEFAULT_OFFER)

_OFFERS = [
    (1, DEFAULT_OFFER, {}),
    (2, DEFAULT_OFFER + "; server_no_context_takeover", {"server_nct": True}),
    (3, DEFAULT_OFFER + "; server_max_window_bits=9", {"server_bits": 9}),
    (4, DEFAULT_OFFER + "; server_max_window_bits=15", {"server_bits": 15}),
    (5, DEFAULT_OFFER + "; server_no_context_takeover; server_max_window_bits=9",
     {"server_nct": True, "server_bits": 9}),
    (6, DEFAULT_OFFER + "; server_no_context_takeover; server_max_window_bits=15",
     {"server_nct": True, "server_bits": 15}),
    (7, "permessage-deflate; client_max_window_bits; server_no_context_takeover; "
        "server_max_window_bits=9, permessage-deflate; client_max_window_bits; "
        "server_no_context_takeover, permessage-deflate; client_max_window_bits",
     {"server_nct": True, "server_bits": 9}),
    (8, "permessage-deflate; client_no_context_takeover", {"client_nct": True}),
    (9, "permessage-deflate; client_no_context_takeover; server_no_context_"
        "takeover; client_max_window_bits", {"client_nct": True, "server_nct": True}),
    (10, "permessage-deflate; server_max_window_bits=10", {"server_bits": 10}),
    (11, "permessage-deflate; server_max_window_bits=11", {"server_bits": 11}),
    (12, "permessage-deflate; server_max_window_bits=12", {"server_bits": 12}),
    (13, "permessage-deflate; server_max_window_bits=13", {"server_bits": 13}),
    (14, "permessage-deflate; server_max_window_bits=14", {"server_bits": 14}),
    (15, "permessage-deflate; client_max_window_bits=9", {}),
    (16, "permessage-deflate; client_max_window_bits=12; server_max_window_bits=12",
     {"server_bits": 12}),
    (17, "x-unknown-extension, permessage-deflate", {}),
    (18, "permessage-deflate; unknown_param, permessage-deflate; "
         "server_no_context_takeover", {"server_nct": True}),
]
for _g, _offer, _exp in _OFFERS:
    for _i, (_kind, _sz, _fr) in enumerate((("text", 16, None), ("text", 1024, None),
                                            ("binary", 65536, None),
                                            ("text", 131072, 4096),
                                            ("json", 4096, 512)), 1):
        add_case("13.%d.%d" % (_g, _i), "offer %r: %s messages of %d bytes%s" % (
            _offer, _kind, _sz, (" in fragments of %d" % _fr) if _fr else ""),
            _pmd_case(_kind, _sz, _fr, expect_params=_exp),
            servers=("deflate",), offer=_offer)


@case("13.19.1", "offer server_max_window_bits=8: decline, or compress with a "
      "256-byte window", servers=("deflate",),
      offer="permessage-deflate; server_max_window_bits=8")
def _c13_19(c):
    if c.pmd is None:
        clean_close(c)
        return OK, "offer declined (zlib cannot deflate with 8 window bits)"
    if c.pmd.server_bits != 8:
        fail("response %r" % c.response_extensions)
    # Data with repeats 300..500 bytes apart: a 512-byte window would use
    # them, a 256-byte window cannot.
    c.check_window = 1
    rnd = os.urandom(300)
    msg = (rnd * 40)[:12000]
    c.send_message(OP_BINARY, msg)
    expect_events(c, [("binary", msg)])
    clean_close(c)
    return OK, "accepted with 8 bits; echo %s" % (
        "compressed within a 256-byte window" if c.last_compressed
        else "sent uncompressed (zlib cannot deflate with 8 bits)")


# -- X: extra checks in the same spirit -------------------------------------------------
add_case("X.1", "unmasked client frame: fail 1002 (RFC 6455 5.1)",
         _seq_fail(lambda: [frame(OP_TEXT, b"Hello, world!", mask=False)]))
add_case("X.2", "text, then non-minimal 16-bit length for 5 bytes: echo, "
         "then 1002", _seq_fail(
             lambda: [frame(OP_TEXT, b"first"),
                      frame(OP_TEXT, b"Hello", len_form=16)],
             before=[("text", b"first")]))
add_case("X.3", "64-bit length with the most significant bit set: fail 1002",
         _seq_fail(lambda: [frame(OP_BINARY, b"", length=1 << 63, len_form=64)
                            + b"\x00" * 16]))


@case("X.4", "binary message of 16 MiB + 1 (over the server's 16 MiB limit): "
      "fail 1009", servers=("deflate",))
def _cx4(c):
    n = (16 << 20) + 1
    key = os.urandom(4)
    c.send_raw(struct.pack("!BBQ", 0x82, 0x80 | 127, n) + key)
    chunk = mask_bytes(b"\x00" * (1 << 20), key)  # key-aligned: 1 MiB % 4 == 0
    sent = 0
    while sent < n and not c.send_failed:
        part = chunk if n - sent >= len(chunk) else chunk[:n - sent]
        c.send_raw(part)
        sent += len(part)
        with c.cond:
            seen = len(c.buf) > c.pos and c.buf[c.pos] == 0x88
        if seen:
            break
    ev = c.next_event(5)
    while ev[0] == "binary" or ev[0] == "text":
        ev = c.next_event(5)
    if ev[0] != "close" or ev[1] != 1009:
        fail("expected close 1009, got %s" % fmt_event(ev))
    c.send_raw(frame(OP_CLOSE, close_payload(1009)))
    if not c.wait_eof():
        fail("server did not close TCP after close 1009")
    return OK, "close 1009 after %d of %d bytes sent" % (sent, n)


@case("X.5", "deflate: uncompressed message on a compressing connection: echoed",
      servers=("deflate",), offer=DEFAULT_OFFER)
def _cx5(c):
    if c.pmd is None:
        fail("offer not accepted")
    c.send_message(OP_TEXT, b"not compressed", compress=False)
    return echo_case(c, [("text", b"not compressed")])


@case("X.6", "deflate: RSV1 on a continuation frame: fail 1002 (RFC 7692 6.1)",
      servers=("deflate",), offer=DEFAULT_OFFER)
def _cx6(c):
    if c.pmd is None:
        fail("offer not accepted")
    c.send([frame(OP_TEXT, b"abc", fin=False), frame(OP_CONT, b"def", rsv=4)])
    return expect_failure(c, [1002])


@case("X.7", "deflate: RSV1 on a ping: fail 1002 (RFC 7692 6.1)",
      servers=("deflate",), offer=DEFAULT_OFFER)
def _cx7(c):
    if c.pmd is None:
        fail("offer not accepted")
    c.send(frame(OP_PING, b"abc", rsv=4))
    return expect_failure(c, [1002])


@case("X.8", "deflate: compressed payload that does not inflate: fail "
      "(RFC 7692 8: 1002 or 1007)", servers=("deflate",), offer=DEFAULT_OFFER)
def _cx8(c):
    if c.pmd is None:
        fail("offer not accepted")
    c.send(frame(OP_BINARY, b"\xff\xff\xff\xff\xff\xff", rsv=4))
    return expect_failure(c, [1002, 1007])


@case("X.9", "deflate: compressed text that inflates to invalid UTF-8: fail 1007",
      servers=("deflate",), offer=DEFAULT_OFFER)
def _cx9(c):
    if c.pmd is None:
        fail("offer not accepted")
    c.send_message(OP_TEXT, INVALID_631)
    return expect_failure(c, [1007])


@case("X.10", "--no-deflate server: a deflate offer is declined",
      servers=("nodeflate",), offer=DEFAULT_OFFER)
def _cx10(c):
    if c.pmd is not None:
        fail("extension accepted: %r" % c.response_extensions)
    c.send(frame(OP_TEXT, b"plain"))
    return echo_case(c, [("text", b"plain")])


@case("X.11", "declined deflate: RSV1 text then fails 1002",
      servers=("nodeflate",), offer=DEFAULT_OFFER)
def _cx11(c):
    c.send(frame(OP_TEXT, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv=4))
    return expect_failure(c, [1002])


# ---------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------
class Server:
    def __init__(self, path, kind):
        self.path, self.kind = path, kind
        self.proc = None
        self.port = None
        self.exits = []

    def start(self):
        args = [self.path, "--port", "0", "--quiet"]
        if self.kind == "nodeflate":
            args.append("--no-deflate")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        line = b""
        deadline = time.monotonic() + 10
        fd = self.proc.stdout.fileno()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.stop()
                raise RuntimeError("echo_server did not report its port")
            b = os.read(fd, 1)
            if not b:
                raise RuntimeError("echo_server exited: %s" % line)
            line += b
        text = line.decode().strip()
        m = re.search(r"listening on \S+:(\d+)", text)
        if not m:
            raise RuntimeError("unexpected server output %r" % text)
        self.port = int(m.group(1))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait(5)
        self.proc.stdout.close()
        self.proc = None
        return rc


def run_case(server, cdef):
    c = None
    try:
        c = Conn(server.port, offer=cdef["offer"])
        status, detail = cdef["fn"](c)
    except CaseFailed as e:
        status, detail = FAILED, str(e)
    except (OSError, RuntimeError) as e:
        status, detail = FAILED, "%s: %s" % (type(e).__name__, e)
    log = None
    if c is not None:
        if status == FAILED:
            # Log what else the server sent, for the report.
            end = time.monotonic() + 0.3
            for _ in range(10):
                try:
                    if c.next_frame(end) in (TIMEOUT, EOF):
                        break
                except Exception:
                    break
            log = (list(c.sent_log), list(c.recv_log))
        c.shutdown()
    return status, detail, log


def main(argv):
    global VERBOSE, H2
    server_path = None
    h2_built = "1"
    only = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--server" and i + 1 < len(argv):
            server_path = argv[i + 1]
            i += 2
        elif a == "--only" and i + 1 < len(argv):
            only.append(argv[i + 1])
            i += 2
        elif a in ("-v", "--verbose"):
            VERBOSE = True
            i += 1
        elif a == "--h2":
            H2 = True
            i += 1
        elif a == "--h2-built" and i + 1 < len(argv):
            h2_built = argv[i + 1]
            i += 2
        else:
            print(__doc__)
            return 2
    if not server_path:
        print(__doc__)
        return 2
    if H2:
        if h2_built == "0":
            print("SKIP: the HTTP/2 example server is not in this build "
                  "(it needs libnghttp2 and OpenSSL)")
            return 77
        try:
            import h2.connection  # noqa: F401 (checked before the first case)
        except ImportError as e:
            print("--h2 needs python3-h2: %s" % e)
            return 1

    def selected(cid):
        return not only or any(cid == o or cid.startswith(o) for o in only)

    results = []
    t_start = time.monotonic()
    for kind in ("deflate", "nodeflate"):
        todo = [cd for cd in CASES if kind in cd["servers"] and selected(cd["id"])]
        if not todo:
            continue
        srv = Server(server_path, kind)
        srv.start()
        try:
            for cd in todo:
                t0 = time.monotonic()
                status, detail, log = run_case(srv, cd)
                dt = time.monotonic() - t0
                if not srv.alive():
                    rc = srv.proc.poll()
                    status, detail = FAILED, ("server exited (status %s) during "
                                              "this case; " % rc) + detail
                    srv.stop()
                    srv.start()
                cid = cd["id"] + ("" if kind == "deflate" else " [no-deflate]")
                results.append((cid, status, dt, cd["desc"], detail, log))
                if VERBOSE or status != OK:
                    print("%-22s %-10s %6.3fs %s" % (cid, status, dt, detail),
                          flush=True)
        finally:
            rc = srv.stop()
        results.append(("shutdown" + ("" if kind == "deflate" else " [no-deflate]"),
                        OK if rc == 0 else FAILED, 0.0,
                        "server stops cleanly on SIGTERM",
                        "exit status %s" % rc, None))

    # ---- report ----
    print()
    print("%-22s %-10s %8s  %s" % ("case", "result", "time", "description"))
    print("-" * 100)
    for cid, status, dt, desc, detail, _ in results:
        print("%-22s %-10s %7.3fs  %s" % (cid, status, dt, desc[:70]))
    print()
    if TIMINGS:
        print("9.x / 10.x timings (first byte sent -> whole echo received):")
        for cid, n, frag, chop, dt in TIMINGS:
            print("  %-8s %9d bytes %-18s %7.3f s  %7.1f MB/s" % (
                cid, n, ("frag %d" % frag) if frag else
                ("chop %d" % chop) if chop else "single frame", dt,
                n / dt / 1e6 if dt > 0 else 0))
        print()
    nonstrict = [r for r in results if r[1] == NON_STRICT]
    failed = [r for r in results if r[1] == FAILED]
    if nonstrict:
        print("NON-STRICT cases:")
        for cid, _, _, desc, detail, _ in nonstrict:
            print("  %s: %s -- %s" % (cid, desc, detail))
        print()
    if failed:
        print("FAILED cases:")
        for cid, _, _, desc, detail, log in failed:
            print("  %s: %s" % (cid, desc))
            print("      %s" % detail)
            if log:
                print("      sent:     %s" % " | ".join(log[0][:6]))
                print("      received: %s" % " | ".join(log[1][:8]))
        print()
    passed = len(results) - len(failed)
    groups = {}
    for r in results:
        if not r[0].startswith("shutdown"):
            g = r[0].split(".")[0]
            groups[g] = groups.get(g, 0) + 1
    print("cases run%s, by group: %s; shutdown checks: %d" % (
        " over HTTP/2 (RFC 8441)" if H2 else "",
        ", ".join("%s: %d" % (g, n) for g, n in sorted(
            groups.items(), key=lambda kv: (not kv[0].isdigit(),
                                            int(kv[0]) if kv[0].isdigit() else 0,
                                            kv[0]))),
        len(results) - sum(groups.values())))
    print("total time %.1f s" % (time.monotonic() - t_start))
    print("conformance%s: %d passed, %d failed" % (" over HTTP/2" if H2 else "",
                                                  passed, len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
