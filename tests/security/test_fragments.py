"""Endless tiny fragments: a message of exactly --max-fragments one-byte
fragments is echoed whole; a message of a million one-byte fragments is
refused with close 1009 right after the limit, and the server's memory does
not grow with the fragment count. Run with a configured limit and with the
library's default (131072).

usage: test_fragments.py ECHO_SERVER
"""
import socket
import struct
import threading
import time

from seclib import Client, EchoServer, check, log, run

MILLION = 1000000
BLOCK = 10000
RSS_LIMIT_KIB = 2048
KEY = b"\x11\x22\x33\x44"


def frag(opcode, fin, byte):
    """A masked frame with a one-byte payload (the key does not matter to
    the server; a fixed one keeps the test fast)."""
    return bytes([(0x80 if fin else 0) | opcode, 0x81]) + KEY + \
        bytes([byte ^ KEY[0]])


class Reader(threading.Thread):
    """Reads the echo: counts payload bytes per message, notes the close."""

    def __init__(self, sock, initial):
        super().__init__(daemon=True)
        self.sock = sock
        self.buf = bytes(initial)
        self.messages = []  # payload byte count of each finished message
        self.current = 0
        self.close_code = None
        self.error = None
        self.closed = threading.Event()

    def run(self):
        pos = 0
        buf = self.buf
        deadline = time.time() + 60
        try:
            while self.close_code is None and time.time() < deadline:
                # Parse every complete frame in buf[pos:].
                while True:
                    if len(buf) - pos < 2:
                        break
                    b0, b1 = buf[pos], buf[pos + 1]
                    n = b1 & 0x7F
                    off = 2
                    if n == 126:
                        if len(buf) - pos < 4:
                            break
                        n = struct.unpack_from("!H", buf, pos + 2)[0]
                        off = 4
                    elif n == 127:
                        if len(buf) - pos < 10:
                            break
                        n = struct.unpack_from("!Q", buf, pos + 2)[0]
                        off = 10
                    if len(buf) - pos < off + n:
                        break
                    op = b0 & 0x0F
                    payload = buf[pos + off:pos + off + n]
                    pos += off + n
                    if op == 0x8:
                        self.close_code = struct.unpack("!H", payload[:2])[0] \
                            if n >= 2 else 1005
                        break
                    if op in (0x0, 0x1, 0x2):
                        self.current += n
                        if b0 & 0x80:
                            self.messages.append(self.current)
                            self.current = 0
                if self.close_code is not None:
                    break
                self.sock.settimeout(max(0.1, deadline - time.time()))
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    break
                buf = buf[pos:] + chunk
                pos = 0
        except OSError as e:
            self.error = repr(e)
        finally:
            self.closed.set()


def fragment_run(binary, limit, flags):
    with EchoServer(binary, *flags) as srv:
        for _ in range(2):  # warm up threads and allocator arenas
            w = Client(srv.port)
            w.echo(b"warm up")
            w.close()
        time.sleep(0.2)
        rss_before = srv.rss_kib()

        c = Client(srv.port, timeout=30)
        reader = Reader(c.sock, bytes(c.reader.buf))
        reader.start()
        samples = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                samples.append(srv.rss_kib())
                time.sleep(0.01)

        ts = threading.Thread(target=sample)
        ts.start()
        cont = frag(0x0, False, ord("x")) * BLOCK

        def send_message(count, stop_at=None):
            """Sends one binary message of `count` one-byte fragments
            (without its end when stop_at comes first); returns how many
            were sent before the server refused."""
            c.sock.sendall(frag(0x2, count == 1, ord("x")))
            sent = 1
            while sent < count and not reader.closed.is_set():
                if stop_at is not None and sent >= stop_at:
                    break
                n = min(BLOCK, count - sent - 1)
                try:
                    if n:
                        c.sock.sendall(cont[:n * 7])
                        sent += n
                    if sent == count - 1:
                        c.sock.sendall(frag(0x0, True, ord("x")))
                        sent += 1
                except OSError:
                    break  # the server closed after refusing
            return sent

        t0 = time.time()
        # Exactly at the limit: accepted and echoed whole.
        send_message(limit)
        deadline = time.time() + 30
        while not reader.messages and time.time() < deadline \
                and not reader.closed.is_set():
            time.sleep(0.01)
        check(reader.messages == [limit],
              "message of %d fragments (the limit): echoed %r, close %r"
              % (limit, reader.messages, reader.close_code))
        at_limit_s = time.time() - t0

        # A million: refused with 1009 once the limit is passed. The client
        # stops 100,000 fragments past the limit even if it has not read the
        # close yet (its reader parses every echoed fragment first): 700 KB
        # unread stays under the 1 MiB the server drains before closing, so
        # a slow reader here cannot turn the server's close into a reset
        # that discards the close frame.
        t1 = time.time()
        sent = send_message(MILLION, stop_at=limit + 100000)
        reader.closed.wait(30)
        over_s = time.time() - t1
        stop.set()
        ts.join(10)
        rss_after = srv.rss_kib()
        rss_peak = max(samples + [rss_after])
        c.close()

        check(reader.error is None or reader.close_code is not None,
              "reader: %s" % reader.error)
        check(reader.close_code == 1009, "close code %r after %d fragments"
              % (reader.close_code, sent))
        check(reader.current == limit,
              "echoed %d bytes of the oversized message before 1009, want "
              "exactly %d (the limit)" % (reader.current, limit))
        check(sent < MILLION, "server read all %d fragments" % sent)
        growth = rss_peak - rss_before
        check(growth < RSS_LIMIT_KIB, "server RSS grew %d KiB (before %d, "
              "peak %d)" % (growth, rss_before, rss_peak))
        line = srv.wait_log(r"close_out=1009 .*too many fragments")
        check(line is not None, "no log line for the 1009: %r"
              % srv.log_lines()[-3:])
        # Others are still served.
        o = Client(srv.port)
        check(o.echo(b"next")[0] == b"next", "echo after the refusal")
        o.close()
        log("max_fragments %d%s: %d fragments echoed whole in %.2f s; "
            "million-fragment message refused with 1009 after exactly %d "
            "echoed (client had sent %d) in %.2f s; server VmRSS before "
            "%d KiB, peak %d KiB, after %d KiB: growth %d KiB (limit %d); "
            "log: %s"
            % (limit, " (" + " ".join(flags) + ")" if flags else
               " (library default)", limit, at_limit_s, reader.current,
               sent, over_s, rss_before, rss_peak, rss_after, growth,
               RSS_LIMIT_KIB, line))


def main(args):
    binary = args[0]
    fragment_run(binary, 50000, ["--max-fragments", "50000"])
    fragment_run(binary, 131072, [])


if __name__ == "__main__":
    run(main)
