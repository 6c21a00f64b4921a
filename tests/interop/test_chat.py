"""examples/chat_server with 50 Python `websockets` clients and one client
that never reads: every text message reaches every other client exactly
once, and the one that does not read is dropped with close code 1008 once
its queue passes --queue-bytes, without holding up the others. A second run
with --deflate mixes clients with and without compression.

usage: test_chat.py CHAT_SERVER
"""
import asyncio
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import (TestFailure, check, log, main_wrapper,  # noqa: E402
                            require_module, upgrade_request)

websockets = require_module("websockets")
from websockets.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory)

CLIENTS = 50
MESSAGES = 10
SIZE = 1000


class ChatServer:
    def __init__(self, binary, *args):
        self.proc = subprocess.Popen([binary, "--port", "0"] + list(args),
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise TestFailure("chat_server did not start: %r" % line)
        self.port = int(m.group(1))
        self.log = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for raw in self.proc.stderr:
            self.log.append(raw.decode("utf-8", "replace").rstrip())

    def wait_log(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(re.search(pattern, l) for l in self.log):
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        """Ends the server; returns its messages/encodings/deliveries."""
        self.proc.terminate()
        rc = self.proc.wait(timeout=10)
        check(rc == 0, "chat_server exited with %s" % rc)
        for _ in range(100):
            for line in self.log:
                m = re.match(r"messages=(\d+) encodings=(\d+) "
                             r"deliveries=(\d+)$", line)
                if m:
                    return tuple(int(x) for x in m.groups())
            time.sleep(0.05)
        raise TestFailure("chat_server printed no statistics")


class SilentClient:
    """Completes the handshake with a tiny receive buffer, then reads
    nothing until told to."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.name = "%s:%d" % self.sock.getsockname()
        self.sock.sendall(upgrade_request())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(1)
        check(self.buf.startswith(b"HTTP/1.1 101"), "silent client: no 101")
        self.buf = b""

    def _need(self, n):
        while len(self.buf) < n:
            b = self.sock.recv(65536)
            if not b:
                raise TestFailure("silent client: EOF inside a frame")
            self.buf += b

    def read_until_close(self):
        """Reads frames; returns (text messages seen, close code)."""
        texts = 0
        while True:
            self._need(2)
            op, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            off = 2
            if n == 126:
                self._need(4)
                n, off = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                self._need(10)
                n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
            self._need(off + n)
            payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
            if op == 0x8:
                return texts, struct.unpack("!H", payload[:2])[0]
            check(op == 0x1, "silent client: unexpected opcode %d" % op)
            texts += 1


async def chatter(url, index, count, expected, window, started):
    """window: None (no compression), 15 (websockets' default offer) or a
    server_max_window_bits to ask for."""
    got = []
    kwargs = {"compression": "deflate" if window == 15 else None}
    if window not in (None, 15):
        kwargs["extensions"] = [ClientPerMessageDeflateFactory(
            server_max_window_bits=window)]
    async with websockets.connect(url, max_size=None, **kwargs) as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions") or ""
        check(("permessage-deflate" in ext) == (window is not None),
              "client %d: extension %r for window %r" % (index, ext, window))
        if window not in (None, 15):
            check("server_max_window_bits=%d" % window in ext,
                  "client %d: window not agreed: %r" % (index, ext))
        started.append(index)
        while len(started) < count:
            await asyncio.sleep(0.01)

        async def receive():
            while len(got) < expected:
                got.append(await asyncio.wait_for(ws.recv(), 60))

        async def send():
            await asyncio.sleep(0.1 * index / count)  # spread the start
            for j in range(MESSAGES):
                text = ("client %d message %d " % (index, j)).ljust(SIZE, ".")
                await ws.send(text)
                await asyncio.sleep(0.1)

        await asyncio.gather(receive(), send())
        await ws.close()
    return got


async def room(port, count, window_of):
    url = "ws://127.0.0.1:%d/" % port
    started = []
    expected = (count - 1) * MESSAGES
    results = await asyncio.gather(*[
        chatter(url, i, count, expected, window_of(i), started)
        for i in range(count)])
    for i, got in enumerate(results):
        check(len(got) == expected, "client %d got %d of %d messages"
              % (i, len(got), expected))
        senders = {}
        for text in got:
            m = re.match(r"client (\d+) message (\d+) ", text)
            check(m and len(text) == SIZE, "client %d got %r" % (i, text[:40]))
            senders.setdefault(int(m.group(1)), []).append(int(m.group(2)))
        check(i not in senders, "client %d got its own message" % i)
        check(all(v == list(range(MESSAGES)) for v in senders.values()) and
              len(senders) == count - 1,
              "client %d: messages missing, repeated or out of order" % i)


async def flood(server, dropped, limit=64 << 20):
    """Sends 4000-byte messages until the server drops the silent client;
    returns the bytes sent."""
    sent = 0
    async with websockets.connect("ws://127.0.0.1:%d/" % server.port,
                                  compression=None) as ws:
        while sent < limit and not any(re.search(dropped, l)
                                       for l in server.log):
            for _ in range(16):
                await ws.send("f" * 4000)
                sent += 4000
            await asyncio.sleep(0.01)
    return sent


def main():
    if len(sys.argv) != 2:
        raise TestFailure(__doc__)
    binary = sys.argv[1]

    p = subprocess.run([binary, "--max-message", "65536", "--queue-bytes",
                        "1000"], stderr=subprocess.PIPE, timeout=10)
    check(p.returncode == 2 and b"--queue-bytes" in p.stderr,
          "a queue smaller than a message must be refused")

    server = ChatServer(binary, "--max-message", "4096",
                        "--queue-bytes", "65536")
    silent = SilentClient(server.port)
    asyncio.run(room(server.port, CLIENTS, lambda i: None))
    log("%d clients x %d messages: every message reached every other "
        "client once, in order" % (CLIENTS, MESSAGES))
    # The kernel's socket buffers take some of what the silent client does
    # not read; keep talking until its queue overflows too.
    dropped = re.escape("peer=" + silent.name) + " dropped"
    flooded = asyncio.run(flood(server, dropped))
    check(server.wait_log(dropped, 10),
          "the silent client was not dropped after %d bytes: %r"
          % (flooded, server.log[-5:]))
    texts, code = silent.read_until_close()
    check(code == 1008, "silent client closed with %d" % code)
    sent_to_silent = CLIENTS * MESSAGES + flooded // 4000
    check(texts < sent_to_silent,
          "silent client got all %d messages: nothing was discarded" % texts)
    silent.sock.close()
    log("the client that never read was dropped with 1008: it got %d of "
        "%d messages (%d bytes flooded after the room left)"
        % (texts, sent_to_silent, flooded))
    messages, encodings, deliveries = server.stop()
    # The room's messages went to 50 recipients each (49 others and the
    # silent one), the flood's to the silent one only.
    # (Flood messages sent after the drop had no recipient: no encoding.)
    check(encodings <= messages and
          deliveries >= CLIENTS * (CLIENTS - 1) * MESSAGES,
          "at most one encoding per message expected: %d encodings, %d "
          "deliveries for %d messages" % (encodings, deliveries, messages))
    log("%d messages, %d encodings, %d deliveries" % (messages, encodings,
                                                        deliveries))

    # Three groups: no compression, the default window, window 10.
    windows = [None, 15, 10]
    server = ChatServer(binary, "--deflate")
    asyncio.run(room(server.port, 9, lambda i: windows[i % 3]))
    messages, encodings, deliveries = server.stop()
    check(messages == 9 * MESSAGES and deliveries == 8 * messages and
          encodings == 3 * messages,
          "--deflate: %d encodings and %d deliveries for %d messages; want "
          "one encoding per message and group" % (encodings, deliveries,
                                                  messages))
    log("--deflate: clients without compression and with two windows all "
        "served; %d messages, %d encodings, %d deliveries"
        % (messages, encodings, deliveries))


main_wrapper(main)
