"""WebSocket over HTTP/2 (RFC 8441) on Debian's python3-h2: just enough of
a client to test h2_echo_server. The HTTP/2 side is h2's; the WebSocket
framing (masking, fragments, permessage-deflate with zlib) is written out
here, so nothing of libwsproto is on the client side.

One H2WsClient is one HTTP/2 connection (h2c with prior knowledge, or TLS
with ALPN h2) and carries any number of WebSocket streams and plain
requests. It is driven by pump(): send what the windows allow, read what
arrived, repeat.
"""
import os
import select
import socket
import ssl
import struct
import time
import zlib

import h2.config
import h2.connection
import h2.events
import h2.settings

from interop_common import TestFailure, check

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def mask(payload, key):
    """RFC 6455 5.3 masking, as one big-integer XOR (fast for 16 MiB)."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    x = int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")
    return x.to_bytes(n, "big")


def client_frame(opcode, payload, fin=True, rsv1=False):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    key = os.urandom(4)
    return head + key + mask(payload, key)


class WsStream:
    """One WebSocket on one HTTP/2 stream: outgoing bytes wait in `out`
    until the stream's send window takes them; incoming DATA is parsed
    into messages."""

    def __init__(self, client, stream_id, deflate):
        self.client = client
        self.id = stream_id
        self.deflate_offered = deflate
        self.deflate = False
        self.status = None
        self.headers = {}
        self.out = bytearray()
        self.end_after_out = False
        self.inbuf = bytearray()
        self.messages = []      # (opcode, bytes) data messages, in order
        self.controls = []      # (opcode, payload) pings, pongs, closes
        self.ended = False      # END_STREAM from the server
        self.reset = None       # RST_STREAM error code
        self.partial = None     # [opcode, compressed, [pieces]]
        self.inflater = zlib.decompressobj(-15)
        self.deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION,
                                         zlib.DEFLATED, -15)
        self.ack_data = True    # hand received bytes back to the window

    def send(self, opcode, payload):
        if self.deflate and opcode in (OP_TEXT, OP_BINARY):
            data = self.deflater.compress(payload)
            data += self.deflater.flush(zlib.Z_SYNC_FLUSH)
            check(data.endswith(b"\x00\x00\xff\xff"), "deflate tail missing")
            self.out += client_frame(opcode, data[:-4], rsv1=True)
        else:
            self.out += client_frame(opcode, payload)

    def close(self, code, reason=b""):
        self.out += client_frame(OP_CLOSE, struct.pack("!H", code) + reason)

    def parse(self):
        while True:
            buf = self.inbuf
            if len(buf) < 2:
                return
            b0, b1 = buf[0], buf[1]
            check(not b1 & 0x80, "server frame is masked")
            n = b1 & 0x7F
            at = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n = struct.unpack_from("!H", buf, 2)[0]
                at = 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n = struct.unpack_from("!Q", buf, 2)[0]
                at = 10
            if len(buf) < at + n:
                return
            payload = bytes(buf[at:at + n])
            del buf[:at + n]
            fin, rsv1, opcode = bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F
            check(not (b0 & 0x30), "RSV2/RSV3 set by the server")
            if opcode >= 8:
                check(fin and not rsv1, "bad control frame")
                self.controls.append((opcode, payload))
                continue
            if opcode != OP_CONT:
                check(self.partial is None, "new message inside a message")
                check(not rsv1 or self.deflate, "RSV1 without deflate")
                self.partial = [opcode, rsv1, [payload]]
            else:
                check(self.partial is not None, "continuation of nothing")
                check(not rsv1, "RSV1 on a continuation")
                self.partial[2].append(payload)
            if fin:
                op, compressed, pieces = self.partial
                self.partial = None
                data = b"".join(pieces)
                if compressed:
                    data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
                self.messages.append((op, data))


class H2WsClient:
    def __init__(self, port, tls_ca=None, host="127.0.0.1"):
        self.port = port
        raw = socket.create_connection((host, port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls_ca:
            ctx = ssl.create_default_context(cafile=tls_ca)
            ctx.set_alpn_protocols(["h2"])
            self.sock = ctx.wrap_socket(raw, server_hostname=host)
            check(self.sock.selected_alpn_protocol() == "h2",
                  "ALPN chose %r" % self.sock.selected_alpn_protocol())
            self.scheme = "https"
        else:
            self.sock = raw
            self.scheme = "http"
        self.sock.setblocking(False)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True,
                                      header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.streams = {}
        self.plain = {}         # stream id -> [status, body, ended]
        self.remote_settings = None
        self.goaway = None
        self.eof = False
        self.pump_until(lambda: self.remote_settings is not None, "SETTINGS")

    def authority(self):
        return "127.0.0.1:%d" % self.port

    def open_ws(self, path="/", deflate=False, extra=()):
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", "CONNECT"), (":protocol", "websocket"),
                   (":scheme", self.scheme), (":path", path),
                   (":authority", self.authority()),
                   ("sec-websocket-version", "13")]
        if deflate:
            headers.append(("sec-websocket-extensions",
                            "permessage-deflate; client_max_window_bits"))
        headers += list(extra)
        ws = WsStream(self, sid, deflate)
        self.streams[sid] = ws
        self.conn.send_headers(sid, headers)
        self.pump_until(lambda: ws.status is not None or ws.reset is not None,
                        "response to CONNECT")
        if ws.status == 200:
            ext = ws.headers.get("sec-websocket-extensions", "")
            ws.deflate = ext.startswith("permessage-deflate")
        return ws

    def get(self, path):
        sid = self.conn.get_next_available_stream_id()
        self.plain[sid] = [None, bytearray(), False]
        self.conn.send_headers(sid, [(":method", "GET"), (":scheme", self.scheme),
                                     (":path", path),
                                     (":authority", self.authority())],
                               end_stream=True)
        return sid

    def _send_pending(self):
        for ws in self.streams.values():
            while ws.out and not ws.ended and ws.reset is None:
                window = self.conn.local_flow_control_window(ws.id)
                n = min(window, self.conn.max_outbound_frame_size, len(ws.out))
                if n <= 0:
                    break
                self.conn.send_data(ws.id, bytes(ws.out[:n]))
                del ws.out[:n]
            if (ws.end_after_out and not ws.out and ws.reset is None and
                    not self._local_closed(ws.id)):
                self.conn.end_stream(ws.id)

    def _local_closed(self, sid):
        s = self.conn.streams.get(sid)
        return s is None or s.closed or s.state_machine.state.name in (
            "HALF_CLOSED_LOCAL", "CLOSED")

    def _flush(self):
        data = self.conn.data_to_send()
        while data:
            try:
                n = self.sock.send(data)
                data = data[n:]
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                select.select([], [self.sock], [], 1)

    def pump(self, timeout=0.05):
        self._send_pending()
        self._flush()
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r and not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            return
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except (BlockingIOError, ssl.SSLWantReadError):
                break
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                break
            for ev in self.conn.receive_data(data):
                self._event(ev)
            if not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
                break
        self._send_pending()
        self._flush()

    def _event(self, ev):
        E = h2.events
        if isinstance(ev, E.RemoteSettingsChanged):
            self.remote_settings = self.conn.remote_settings
        elif isinstance(ev, E.ResponseReceived):
            hdrs = dict(ev.headers)
            if ev.stream_id in self.streams:
                ws = self.streams[ev.stream_id]
                ws.status = int(hdrs[":status"])
                ws.headers = hdrs
            elif ev.stream_id in self.plain:
                self.plain[ev.stream_id][0] = int(hdrs[":status"])
        elif isinstance(ev, E.DataReceived):
            if ev.stream_id in self.streams:
                ws = self.streams[ev.stream_id]
                ws.inbuf += ev.data
                ws.parse()
                if ws.ack_data:
                    self.conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
                else:
                    ws.unacked = getattr(ws, "unacked", 0) + ev.flow_controlled_length
            else:
                self.plain[ev.stream_id][1] += ev.data
                self.conn.acknowledge_received_data(
                    ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, E.StreamEnded):
            if ev.stream_id in self.streams:
                self.streams[ev.stream_id].ended = True
            elif ev.stream_id in self.plain:
                self.plain[ev.stream_id][2] = True
        elif isinstance(ev, E.StreamReset):
            if ev.stream_id in self.streams:
                self.streams[ev.stream_id].reset = ev.error_code
        elif isinstance(ev, E.ConnectionTerminated):
            self.goaway = ev

    def pump_until(self, cond, what, timeout=60):
        deadline = time.monotonic() + timeout
        while not cond():
            if self.eof:
                raise TestFailure("connection closed while waiting for " + what)
            if time.monotonic() > deadline:
                raise TestFailure("timed out waiting for " + what)
            self.pump()

    def echo(self, ws, opcode, payload, timeout=120):
        want = len(ws.messages) + 1
        ws.send(opcode, payload)
        self.pump_until(lambda: len(ws.messages) >= want,
                        "echo of %d bytes" % len(payload), timeout)
        got = ws.messages[want - 1]
        check(got[0] == opcode, "echo opcode %d, sent %d" % (got[0], opcode))
        check(got[1] == payload, "echo of %d bytes differs (%d bytes back)"
              % (len(payload), len(got[1])))

    def ping(self, ws, payload):
        ws.out += client_frame(OP_PING, payload)
        self.pump_until(lambda: (OP_PONG, payload) in ws.controls, "pong")

    def close_ws(self, ws, code, reason=b""):
        """Clean close: our close frame, the server's echo of it, then the
        server's END_STREAM (RFC 8441 5); we end our half in reply."""
        ws.close(code, reason)
        self.pump_until(lambda: any(c[0] == OP_CLOSE for c in ws.controls),
                        "close reply")
        op, payload = [c for c in ws.controls if c[0] == OP_CLOSE][0]
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        check(got == code, "close reply code %r, sent %d" % (got, code))
        self.pump_until(lambda: ws.ended or ws.reset is not None,
                        "END_STREAM after the close")
        check(ws.reset is None, "stream reset (%r) instead of END_STREAM"
              % ws.reset)
        ws.end_after_out = True
        self.pump()

    def close(self):
        try:
            self.conn.close_connection()
            self._flush()
        except Exception:
            pass
        self.sock.close()
