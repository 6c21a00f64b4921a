"""permessage-deflate interop with Python `websockets`: its client against
echo_server and its server against echo_client, under several
ClientPerMessageDeflateFactory / ServerPerMessageDeflateFactory settings
(context takeover, window bits 8..15). Every run checks the negotiated
Sec-WebSocket-Extensions header, that every echo is exact for messages of
0 bytes to 16 MiB (compressible and random), and, through a byte-counting
TCP relay, that compressible messages really travel compressed.

usage: test_py_websockets_deflate.py ECHO_SERVER ECHO_CLIENT
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import (EchoServer, TestFailure, check, log,  # noqa: E402
                            main_wrapper, require_module, run_client)

websockets = require_module("websockets")
from websockets.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory)

MiB = 1024 * 1024
ALL_SIZES = [0, 1, 125, 126, 1000, 65535, 65536, 1 * MiB, 16 * MiB]
SHORT_SIZES = [0, 1, 125, 126, 1000, 65535, 65536, 300000]


def messages(sizes):
    """For each size: compressible text, random binary, and binary made of a
    repeated random block (back-references 200 and 1000 bytes away, which
    small windows must handle)."""
    for size in sizes:
        yield "compressible", ("permessage-deflate %d " % size * (size // 20 + 1))[:size]
        yield "random", os.urandom(size)
        if size >= 2000:
            for block in (200, 1000):
                b = os.urandom(block)
                yield "block%d" % block, (b * (size // block + 1))[:size]


class ByteCounter:
    """A TCP relay on 127.0.0.1 that counts the bytes each way."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.up = 0    # client -> server
        self.down = 0  # server -> client

    async def start(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _pipe(self, reader, writer, attr):
        try:
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    break
                setattr(self, attr, getattr(self, attr) + len(data))
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - already closed
                pass

    async def _handle(self, creader, cwriter):
        sreader, swriter = await asyncio.open_connection("127.0.0.1",
                                                         self.target_port)
        await asyncio.gather(self._pipe(creader, swriter, "up"),
                             self._pipe(sreader, cwriter, "down"))

    async def stop(self):
        self.server.close()
        await self.server.wait_closed()


# ---------------------------------------------------------------------------
# websockets client -> echo_server
# ---------------------------------------------------------------------------
# (factory arguments, the answer echo_server must give, sizes)
CLIENT_CASES = [
    (dict(client_max_window_bits=True), "permessage-deflate", ALL_SIZES),
    (dict(server_no_context_takeover=True),
     "permessage-deflate; server_no_context_takeover", ALL_SIZES),
    (dict(client_no_context_takeover=True),
     "permessage-deflate; client_no_context_takeover", SHORT_SIZES),
    (dict(server_no_context_takeover=True, client_no_context_takeover=True),
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
     SHORT_SIZES),
    # A peer asking for 8 bits: echo_server compresses with a 9-bit zlib
    # window, whose back-references stay within 250 bytes.
    (dict(server_max_window_bits=8),
     "permessage-deflate; server_max_window_bits=8", SHORT_SIZES),
    (dict(server_max_window_bits=9),
     "permessage-deflate; server_max_window_bits=9", SHORT_SIZES),
    (dict(server_max_window_bits=10, client_max_window_bits=9),
     "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
     SHORT_SIZES),
    (dict(client_max_window_bits=12, server_max_window_bits=15,
          server_no_context_takeover=True),
     "permessage-deflate; server_no_context_takeover; server_max_window_bits=15; "
     "client_max_window_bits=12", SHORT_SIZES),
]


async def echo_all(ws, sizes, what):
    for kind, msg in messages(sizes):
        await ws.send(msg)
        got = await asyncio.wait_for(ws.recv(), 60)
        check(got == msg, "%s: echo of %d bytes (%s) differs" % (what, len(msg), kind))


async def client_side(server):
    for kwargs, want, sizes in CLIENT_CASES:
        factory = ClientPerMessageDeflateFactory(**kwargs)
        async with websockets.connect(server.url + "/py-deflate", max_size=None,
                                      extensions=[factory],
                                      compression=None) as ws:
            got = ws.response_headers.get("Sec-WebSocket-Extensions")
            check(got == want, "%r: server answered %r, expected %r" % (kwargs, got, want))
            check(len(ws.extensions) == 1 and ws.extensions[0].name == "permessage-deflate",
                  "%r: permessage-deflate not active: %r" % (kwargs, ws.extensions))
            await echo_all(ws, sizes, repr(kwargs))
        log("client %r: %s; echoes of %s bytes exact" % (kwargs, got, sizes))

    # websockets' default compression setting offers permessage-deflate too.
    async with websockets.connect(server.url + "/default", max_size=None) as ws:
        got = ws.response_headers.get("Sec-WebSocket-Extensions")
        check(got is not None and got.startswith("permessage-deflate"),
              "default client: no permessage-deflate in %r" % got)
        await echo_all(ws, [0, 5000], "default")

    # Compression on the wire: 16 MiB of compressible text goes both ways in
    # a small fraction of its size.
    relay = await ByteCounter(server.port).start()
    try:
        async with websockets.connect("ws://127.0.0.1:%d/wire" % relay.port,
                                      max_size=None) as ws:
            text = "compress me, echo me " * (16 * MiB // 21)
            await ws.send(text)
            check(await asyncio.wait_for(ws.recv(), 60) == text, "16 MiB echo differs")
        check(relay.up < MiB and relay.down < MiB,
              "16 MiB of text took %d bytes up, %d down: not compressed" % (relay.up, relay.down))
        log("wire: %d bytes of text echoed with %d bytes up, %d down"
            % (len(text), relay.up, relay.down))
    finally:
        await relay.stop()

    # --no-deflate on the server: no answer, plain frames.
    with EchoServer(server.binary, "--no-deflate") as plain:
        async with websockets.connect(plain.url, max_size=None) as ws:
            check(ws.response_headers.get("Sec-WebSocket-Extensions") is None,
                  "--no-deflate server answered the offer")
            await echo_all(ws, [0, 70000], "no-deflate")
    log("client: echo_server --no-deflate declines, echoes still exact")


# ---------------------------------------------------------------------------
# websockets server -> echo_client
# ---------------------------------------------------------------------------
SERVER_CASES = [
    (dict(), "permessage-deflate", ALL_SIZES),
    (dict(server_no_context_takeover=True, client_no_context_takeover=True),
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
     ALL_SIZES),
    (dict(client_no_context_takeover=True),
     "permessage-deflate; client_no_context_takeover", SHORT_SIZES),
    # The server asks echo_client for 8 bits (a 9-bit zlib window fits).
    (dict(client_max_window_bits=8),
     "permessage-deflate; client_max_window_bits=8", SHORT_SIZES),
    (dict(client_max_window_bits=9),
     "permessage-deflate; client_max_window_bits=9", SHORT_SIZES),
    # The server announces a 9-bit window of its own, unasked.
    (dict(server_max_window_bits=9),
     "permessage-deflate; server_max_window_bits=9", SHORT_SIZES),
    (dict(server_max_window_bits=11, client_max_window_bits=10,
          server_no_context_takeover=True),
     "permessage-deflate; server_no_context_takeover; server_max_window_bits=11; "
     "client_max_window_bits=10", SHORT_SIZES),
]

results = {}


async def handler(ws, path=None):
    path = path if path is not None else ws.path
    case = path.strip("/")
    try:
        if case.startswith("case"):
            _, want, sizes = SERVER_CASES[int(case[4:])]
            await echo_all(ws, sizes, path)
            await ws.close(1000, "done")
        elif case == "wire":
            text = "compress me, echo me " * (16 * MiB // 21)
            await ws.send(text)
            check(await asyncio.wait_for(ws.recv(), 60) == text, "16 MiB echo differs")
            await ws.close(1000, "done")
        elif case == "wire-small":
            for i in range(300):
                text = ("message %d of small compressible text; " % i) * 40
                await ws.send(text[:1500])
                check(await asyncio.wait_for(ws.recv(), 10) == text[:1500],
                      "small echo %d differs" % i)
            await ws.close(1000, "done")
        elif case == "messages":
            async for msg in ws:
                await ws.send(msg)
        results[case] = (ws.response_headers.get("Sec-WebSocket-Extensions"),
                         [e.name for e in ws.extensions])
    except Exception as e:  # noqa: BLE001 - reported by the main task
        results[case] = e


async def result(key, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while key not in results and loop.time() < deadline:
        await asyncio.sleep(0.01)
    r = results.get(key)
    if isinstance(r, Exception):
        raise TestFailure("%s: %r" % (key, r))
    check(r is not None, "%s: the server handler did not finish" % key)
    return r


async def server_side(client_bin):
    loop = asyncio.get_running_loop()

    async def client(*args, stdin=None):
        return await loop.run_in_executor(
            None, lambda: run_client(client_bin, list(args), stdin, timeout=120))

    for i, (kwargs, want, sizes) in enumerate(SERVER_CASES):
        server = await websockets.serve(handler, "127.0.0.1", 0, max_size=None,
                                        compression=None,
                                        extensions=[ServerPerMessageDeflateFactory(**kwargs)])
        port = server.sockets[0].getsockname()[1]
        try:
            rc, out, err = await client("--echo", "ws://127.0.0.1:%d/case%d" % (port, i))
            check(rc == 0, "%r: echo_client exit %d: %s" % (kwargs, rc, err))
            header, active = await result("case%d" % i)
            check(header == want, "%r: answered %r, expected %r" % (kwargs, header, want))
            check(active == ["permessage-deflate"], "%r: not active: %r" % (kwargs, active))
            log("server %r: %s; echo_client echoed %s bytes exactly" % (kwargs, header, sizes))
        finally:
            server.close()
            await server.wait_closed()

    server = await websockets.serve(handler, "127.0.0.1", 0, max_size=None)
    port = server.sockets[0].getsockname()[1]
    relay = await ByteCounter(port).start()
    try:
        rc, out, err = await client("--echo", "ws://127.0.0.1:%d/wire" % relay.port)
        check(rc == 0, "wire: echo_client exit %d: %s" % (rc, err))
        header, _ = await result("wire")
        # websockets' default server settings (compression="deflate") vary
        # by version; they must still name the extension.
        check(header is not None and header.startswith("permessage-deflate"),
              "wire: answered %r" % header)
        # echo_client writes messages of 2 KiB and more with
        # wsp_conn_send_zerocopy, which cannot compress: only the server's
        # direction is compressed for those.
        check(relay.down < MiB,
              "16 MiB of text took %d bytes down: not compressed" % relay.down)
        log("wire: echo_client received 16 MiB of text in %d bytes" % relay.down)
        relay.up = relay.down = 0
        rc, out, err = await client("--echo", "ws://127.0.0.1:%d/wire-small" % relay.port)
        check(rc == 0, "wire-small: echo_client exit %d: %s" % (rc, err))
        await result("wire-small")
        check(relay.up < 150000 and relay.down < 150000,
              "300 x 1500 bytes of text took %d bytes up, %d down: not compressed"
              % (relay.up, relay.down))
        log("wire: 300 echoes of 1500 bytes of text took %d bytes up, %d down"
            % (relay.up, relay.down))

        # Message mode with compression.
        words = ["hello", "", "h\u00e9llo w\u00f6rld \u2713", "x" * 5000]
        rc, out, err = await client("ws://127.0.0.1:%d/messages" % port, *words)
        check(rc == 0 and out == "".join(w + "\n" for w in words),
              "message mode: %d %r %r" % (rc, out[:100], err))
        header, active = await result("messages")
        check(header.startswith("permessage-deflate") and active == ["permessage-deflate"],
              "message mode: %r %r" % (header, active))
        log("server: echo_client message mode over permessage-deflate ok")

        # --no-deflate: nothing offered, nothing answered.
        results.pop("messages", None)
        rc, out, err = await client("--no-deflate", "ws://127.0.0.1:%d/messages" % port,
                                    "plain")
        check(rc == 0 and out == "plain\n", "--no-deflate: %d %r %r" % (rc, out, err))
        header, active = await result("messages")
        check(header is None and active == [], "--no-deflate: %r %r" % (header, active))
        log("server: echo_client --no-deflate offers nothing")
    finally:
        await relay.stop()
        server.close()
        await server.wait_closed()


def main():
    if len(sys.argv) != 3:
        raise TestFailure(__doc__)
    server_bin, client_bin = sys.argv[1], sys.argv[2]
    with EchoServer(server_bin) as srv:
        srv.binary = server_bin
        asyncio.run(client_side(srv))
        check(srv.alive(), "echo_server died")
        closed = [line for line in srv.log_lines if "outcome=closed" in line]
        bad = [line for line in srv.log_lines if "outcome=" in line and
               "outcome=closed" not in line]
        check(not bad, "echo_server logged failed connections:\n%s" % "\n".join(bad))
        check(len(closed) >= len(CLIENT_CASES), "too few clean closes: %d" % len(closed))
    asyncio.run(server_side(client_bin))


if __name__ == "__main__":
    main_wrapper(main)
