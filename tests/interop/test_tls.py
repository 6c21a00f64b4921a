"""wss:// end to end with Python `websockets`: as a client against
echo_server --tls-cert/--tls-key, and as a TLS server against echo_client,
with and without permessage-deflate, messages of 0 B to 16 MiB. The
certificates come from tests/support/make-test-ca.sh; echo_client must
refuse a certificate it cannot verify or that names another host.

usage: test_tls.py ECHO_SERVER ECHO_CLIENT MAKE_TEST_CA
"""
import asyncio
import os
import shutil
import ssl
import time
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import (SIZES, EchoServer, TestFailure,  # noqa: E402
                            check, check_tls_close_notify, expect_server_close,
                            log, main_wrapper, require_module, run_client)

websockets = require_module("websockets")
import websockets.exceptions  # noqa: E402


def make_ca():
    d = tempfile.mkdtemp(prefix="wsp-tls-")
    subprocess.run(["bash", sys.argv[3], d], check=True)
    return d


async def echo_sizes(ws):
    for size in SIZES:
        for msg in ("t" * size, os.urandom(size)):
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 60)
            check(got == msg, "echo of %d bytes (%s) differs"
                  % (size, type(msg).__name__))


async def client_side(server, ca):
    ctx = ssl.create_default_context(cafile=os.path.join(ca, "ca.pem"))
    url = "wss://127.0.0.1:%d/tls" % server.port
    for compression in (None, "deflate"):
        async with websockets.connect(url, ssl=ctx, max_size=None,
                                      compression=compression) as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions")
            check((ext is not None) == (compression is not None),
                  "extension %r with compression=%r" % (ext, compression))
            await echo_sizes(ws)
            await asyncio.wait_for(await ws.ping(b"over tls"), 5)
            await ws.close(4000, "done")
            check(ws.close_code == 4000, "close answered %r" % ws.close_code)
        log("client: wss echo %s, compression=%s ok" % (SIZES, compression))

    # The test page over https on the same port.
    page = urllib.request.urlopen("https://127.0.0.1:%d/" % server.port,
                                  context=ctx, timeout=10).read()
    check(b"wss://" in page and b"WebSocket" in page,
          "https page not served")
    # A client without the test CA must refuse the server.
    try:
        async with websockets.connect(url, ssl=ssl.create_default_context()):
            pass
        raise TestFailure("an untrusted certificate was accepted")
    except ssl.SSLCertVerificationError:
        pass
    log("client: https page served; untrusted CA refused")


async def idle_close(server, ca):
    """The server's own close (idle timeout) over TLS: 1001, then the
    close handshake and a TLS close_notify before TCP ends."""
    ctx = ssl.create_default_context(cafile=os.path.join(ca, "ca.pem"))
    async with websockets.connect("wss://127.0.0.1:%d/idle" % server.port,
                                  ssl=ctx, compression=None) as ws:
        await ws.send("still here")
        check(await ws.recv() == "still here", "echo before idling")
        await expect_server_close(ws, 1001, "idle close")
    log("client: idle timeout over wss closes with 1001")


# ---------------------------------------------------------------------------
# websockets as a TLS server, echo_client as the client.
# ---------------------------------------------------------------------------
results = {}


async def handler(ws, path=None):
    path = path if path is not None else ws.path
    try:
        if path == "/echo-all":
            await echo_sizes(ws)
            await ws.close(1000)
        elif path.startswith("/close/"):
            await ws.close(int(path.rsplit("/", 1)[1]), "bye")
        else:
            async for msg in ws:
                results.setdefault("types", []).append(type(msg).__name__)
                await ws.send(msg)
    except websockets.exceptions.ConnectionClosed:
        pass
    results[path] = ws.close_code


async def server_side(client_bin, ca):
    loop = asyncio.get_running_loop()

    async def client(*args):
        return await loop.run_in_executor(
            None, lambda: run_client(client_bin, list(args), timeout=120))

    def server_ctx(name):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(ca, name + ".pem"),
                            os.path.join(ca, name + ".key"))
        return ctx

    cafile = os.path.join(ca, "ca.pem")
    for compression in (None, "deflate"):
        server = await websockets.serve(handler, "127.0.0.1", 0,
                                        ssl=server_ctx("server"),
                                        max_size=None, compression=compression)
        port = server.sockets[0].getsockname()[1]
        try:
            for host in ("127.0.0.1", "localhost"):
                base = "wss://%s:%d" % (host, port)
                rc, out, err = await client("--ca", cafile, "--echo",
                                            base + "/echo-all")
                check(rc == 0, "--echo %s: %d %s" % (base, rc, err))
                want = "permessage-deflate" if compression else "none"
                check("extensions: " + want in err,
                      "negotiated extension not shown: %r" % err)
            log("server: echo_client --echo over wss %s, compression=%s ok"
                % (SIZES, compression))
        finally:
            server.close()
            await server.wait_closed()

    server = await websockets.serve(handler, "127.0.0.1", 0,
                                    ssl=server_ctx("server"), max_size=None)
    port = server.sockets[0].getsockname()[1]
    base = "wss://127.0.0.1:%d" % port
    try:
        rc, out, err = await client("--ca", cafile, "--binary", "--ping",
                                    base + "/echo", "one", "two")
        check(rc == 0 and out.startswith("pong after ") and
              out.endswith("[binary message, 3 bytes]\n" * 2),
              "--binary --ping: %d %r %r" % (rc, out, err))
        check(results.get("types") == ["bytes", "bytes"],
              "--binary sent %r" % results.get("types"))
        for code, want in ((4000, 0), (4999, 0), (1011, 6)):
            for mode in (["--echo"], []):
                rc, out, err = await client("--ca", cafile, *mode,
                                            base + "/close/%d" % code)
                check(rc == want, "close %d %s: exit %d, want %d: %r"
                      % (code, mode, rc, want, err))
        log("server: --binary, --ping, close 4000/4999 exit 0 and 1011 "
            "exit 6 in both modes")

        rc, out, err = await client(base + "/echo", "x")
        check(rc == 3 and "certificate" in err,
              "system store must not trust the test CA: %d %r" % (rc, err))
    finally:
        server.close()
        await server.wait_closed()

    server = await websockets.serve(handler, "127.0.0.1", 0,
                                    ssl=server_ctx("wrong-host"))
    port = server.sockets[0].getsockname()[1]
    try:
        url = "wss://127.0.0.1:%d/echo" % port
        rc, out, err = await client("--ca", cafile, url, "x")
        check(rc == 3 and "certificate" in err,
              "a certificate for another host was accepted: %d %r" % (rc, err))
        rc, out, err = await client("--insecure", url, "x")
        check(rc == 0 and out == "x\n", "--insecure: %d %r" % (rc, err))
    finally:
        server.close()
        await server.wait_closed()
    log("server: unknown CA and wrong host refused (exit 3); --insecure "
        "accepts")


def main():
    if len(sys.argv) != 4:
        raise TestFailure(__doc__)
    ca = make_ca()
    try:
        with EchoServer(sys.argv[1], "--tls-cert",
                        os.path.join(ca, "server.pem"), "--tls-key",
                        os.path.join(ca, "server.key")) as server:
            asyncio.run(client_side(server, ca))
            check_tls_close_notify(server.port, os.path.join(ca, "ca.pem"))
            log("client: a close over wss ends with a TLS close_notify")
        with EchoServer(sys.argv[1], "--idle-timeout", "1", "--tls-cert",
                        os.path.join(ca, "server.pem"), "--tls-key",
                        os.path.join(ca, "server.key")) as server:
            asyncio.run(idle_close(server, ca))
            # The line is written once the server has closed TCP, which
            # may be after the client saw the close: wait for it a while.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                    "outcome=timeout" in l and "close_out=1001" in l
                    for l in server.log_lines):
                time.sleep(0.05)
            check(any("outcome=timeout" in l and "close_out=1001" in l
                      for l in server.log_lines),
                  "server log: %r" % server.log_lines)
            check_tls_close_notify(server.port, os.path.join(ca, "ca.pem"),
                                   server_first=True)
            log("client: the idle close over wss ends with a TLS close_notify")
        asyncio.run(server_side(sys.argv[2], ca))
    finally:
        shutil.rmtree(ca, ignore_errors=True)


main_wrapper(main)
