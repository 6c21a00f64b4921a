"""Interop with Python `websockets`: as a client against echo_server and as
a server against echo_client.

usage: test_py_websockets.py ECHO_SERVER ECHO_CLIENT
"""
import asyncio
import http
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import (SIZES, EchoServer, TestFailure, check,  # noqa: E402
                            free_port, log, main_wrapper, require_module,
                            run_client)

websockets = require_module("websockets")
import websockets.exceptions  # noqa: E402

CLOSE_CODES = [1000, 1001, 3000, 4999]


async def client_side(url):
    async with websockets.connect(url + "/py", max_size=None,
                                  compression=None) as ws:
        for size in SIZES:
            text = "t" * size
            await ws.send(text)
            got = await asyncio.wait_for(ws.recv(), 30)
            check(got == text, "text echo of %d bytes differs" % size)
            data = os.urandom(size)
            await ws.send(data)
            got = await asyncio.wait_for(ws.recv(), 30)
            check(got == data, "binary echo of %d bytes differs" % size)
        log("client: text and binary %s bytes ok" % SIZES)

        text = "h\u00e9llo w\u00f6rld \u2713 \U0001F389"
        await ws.send(text)
        check(await ws.recv() == text, "UTF-8 text echo differs")

        # A message sent in fragments comes back whole.
        await ws.send(iter([b"frag", b"mented", b"", b" message"]))
        check(await ws.recv() == b"fragmented message",
              "fragmented echo differs")
        await ws.send(iter(["caf", "\u00e9 ", "\u2713"]))
        check(await ws.recv() == "caf\u00e9 \u2713",
              "fragmented text echo differs")

        for payload in (b"", b"ping-data", os.urandom(125)):
            pong = await ws.ping(payload)
            await asyncio.wait_for(pong, 5)
        log("client: fragments, UTF-8 and pings ok")

    for code in CLOSE_CODES:
        ws = await websockets.connect(url + "/close", compression=None)
        await ws.send("before close")
        check(await ws.recv() == "before close", "echo before close")
        await ws.close(code=code, reason="bye %d" % code)
        check(ws.close_code == code,
              "sent close %d, server answered %s" % (code, ws.close_code))
    log("client: close codes %s ok" % CLOSE_CODES)


# ---------------------------------------------------------------------------
# websockets as the server, echo_client as the client.
# ---------------------------------------------------------------------------
results = {}


async def server_handler(ws, path=None):
    path = path if path is not None else ws.path
    if path.startswith("/echo-all"):
        for size in SIZES:
            for msg in ("x" * size, os.urandom(size)):
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 30)
                check(got == msg, "echo_client echo of %d bytes (%s) differs"
                      % (size, type(msg).__name__))
        await ws.send(iter([b"frag", b"mented"]))
        check(await ws.recv() == b"fragmented", "fragmented echo differs")
        for payload in (b"", b"abc", os.urandom(125)):
            await asyncio.wait_for(await ws.ping(payload), 5)
        results["echo-all"] = ws.request_headers.get("X-Interop")
        results["subprotocol"] = ws.subprotocol
        await ws.close(1000, "done")
    elif path.startswith("/close/"):
        code = int(path.rsplit("/", 1)[1])
        await ws.send("hello")
        check(await ws.recv() == "hello", "echo before close %d" % code)
        await ws.close(code, "closing with %d" % code)
        results["close/%d" % code] = ws.close_code
    elif path.startswith("/getCaseCount"):
        # A stand-in for the Autobahn|Testsuite fuzzingserver's protocol.
        await ws.send("3")
        await ws.close()
    elif path.startswith("/runCase"):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        case = int(q["case"][0])
        msg = ("case %d" % case) if case % 2 else os.urandom(case * 1000)
        await ws.send(msg)
        check(await ws.recv() == msg, "autobahn case %d echo" % case)
        results.setdefault("cases", []).append((case, q["agent"][0]))
        await ws.close()
    elif path.startswith("/updateReports"):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        results["reports"] = q["agent"][0]
        await ws.close()
    elif path.startswith("/echo"):
        try:
            async for msg in ws:
                await ws.send(msg)
        except websockets.exceptions.ConnectionClosed:
            pass
        results.setdefault("echo-close", []).append(ws.close_code)


async def result(key, timeout=5.0):
    """The handler may finish just after echo_client exits."""
    deadline = asyncio.get_running_loop().time() + timeout
    while key not in results and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    return results.get(key)


async def reject_some(path, headers):
    if path.startswith("/forbidden"):
        return (http.HTTPStatus.FORBIDDEN, [], b"go away\n")
    return None


async def server_side(client_bin):
    server = await websockets.serve(server_handler, "127.0.0.1", 0,
                                    max_size=None, compression=None,
                                    subprotocols=["chat", "superchat"],
                                    process_request=reject_some)
    port = server.sockets[0].getsockname()[1]
    base = "ws://127.0.0.1:%d" % port
    loop = asyncio.get_running_loop()

    async def client(*args, stdin=None):
        return await loop.run_in_executor(
            None, lambda: run_client(client_bin, list(args), stdin))

    try:
        rc, out, err = await client("--echo", "--subprotocol", "superchat",
                                    "--header", "X-Interop: yes",
                                    base + "/echo-all")
        check(rc == 0, "--echo run failed: %d %s" % (rc, err))
        check(await result("echo-all") == "yes", "extra header not received")
        check(results.get("subprotocol") == "superchat",
              "subprotocol not negotiated: %r" % results.get("subprotocol"))
        log("server: echo_client --echo handled every size, fragments, "
            "pings, subprotocol and header")

        for code in CLOSE_CODES:
            rc, out, err = await client("--echo", base + "/close/%d" % code)
            check(rc == 0, "close %d: echo_client exit %d %s" % (code, rc, err))
            check(await result("close/%d" % code) == code,
                  "close %d answered with %r" % (code,
                                                 results.get("close/%d" % code)))
        rc, out, err = await client("--echo", base + "/close/1011")
        check(rc == 6 and "1011" in err,
              "close 1011 should exit 6 naming the code: %d %r" % (rc, err))
        log("server: close codes ok (1011 reported as exit 6)")

        rc, out, err = await client(base + "/echo", "hello", "second message",
                                    "\u00e9\u2713")
        check(rc == 0 and out == "hello\nsecond message\n\u00e9\u2713\n",
              "message mode: %d %r %r" % (rc, out, err))
        rc, out, err = await client(base + "/echo",
                                    stdin=b"line one\nline two\r\nlast")
        check(rc == 0 and out == "line one\nline two\nlast\n",
              "stdin mode: %d %r %r" % (rc, out, err))
        for _ in range(500):
            if len(results.get("echo-close", [])) >= 2:
                break
            await asyncio.sleep(0.01)
        check(results.get("echo-close") == [1000, 1000],
              "client did not close with 1000: %r" % results.get("echo-close"))
        log("server: message and stdin modes ok")

        rc, out, err = await client("--autobahn", base, "lib wsproto/1")
        check(rc == 0, "--autobahn: %d %r" % (rc, err))
        check(results.get("cases") == [(1, "lib wsproto/1"), (2, "lib wsproto/1"),
                                       (3, "lib wsproto/1")],
              "autobahn cases run: %r" % results.get("cases"))
        check(await result("reports") == "lib wsproto/1", "reports not updated")
        log("server: --autobahn ran getCaseCount, 3 cases, updateReports")

        rc, out, err = await client(base + "/forbidden", "x")
        check(rc == 5 and "403" in err, "403: %d %r" % (rc, err))
        rc, out, err = await client("ws://127.0.0.1:%d/" % free_port(), "x")
        check(rc == 4, "refused: %d %r" % (rc, err))
        rc, out, err = await client("http://127.0.0.1/", "x")
        check(rc == 2, "bad URL: %d %r" % (rc, err))
        rc, out, err = await client("ws://127.0.0.1:99999/", "x")
        check(rc == 2, "bad port: %d %r" % (rc, err))
        log("server: exit codes for rejection, refusal, bad URL ok")
    finally:
        server.close()
        await server.wait_closed()


def main():
    if len(sys.argv) != 3:
        raise TestFailure(__doc__)
    server_bin, client_bin = sys.argv[1], sys.argv[2]
    with EchoServer(server_bin) as srv:
        asyncio.run(client_side(srv.url))
        check(srv.alive(), "echo_server died")
    asyncio.run(server_side(client_bin))


if __name__ == "__main__":
    main_wrapper(main)
