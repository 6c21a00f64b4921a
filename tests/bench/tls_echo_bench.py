"""TLS echo against plain echo, same run: examples/echo_server started
twice (plain, and with --tls-cert/--tls-key), both without compression,
driven by the same Python `websockets` client, alternating plain and TLS
rounds so both see the same machine load. Prints a Markdown table; the
ratio is TLS / plain.

usage: tls_echo_bench.py ECHO_SERVER MAKE_TEST_CA [SECONDS_PER_ROUND] [ROUNDS]

The client is Python for both servers, so small-message rows measure the
client's per-message cost as much as the server's: read the ratios.
"""
import asyncio
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

import websockets

SIZES = [128, 16 * 1024, 1024 * 1024]


def start(binary, *extra):
    proc = subprocess.Popen([binary, "--port", "0", "--quiet", "--no-deflate"]
                            + list(extra), stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    port = int(re.search(r":(\d+)", line).group(1))
    return proc, port


async def echo_rate(url, ctx, size, seconds):
    """Messages per second, one connection, one message in flight."""
    payload = os.urandom(size)
    async with websockets.connect(url, ssl=ctx, max_size=None,
                                  compression=None) as ws:
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            await ws.send(payload)
            got = await ws.recv()
            assert len(got) == size
            n += 1
        return n / (time.perf_counter() - start)


async def connect_rate(url, ctx, seconds):
    """Opening handshakes (TCP, TLS, HTTP upgrade) and closes per second."""
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        async with websockets.connect(url, ssl=ctx, compression=None) as ws:
            await ws.send(b"x")
            await ws.recv()
        n += 1
    return n / (time.perf_counter() - start)


def main():
    binary, make_ca = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    ca = tempfile.mkdtemp(prefix="wsp-bench-")
    subprocess.run(["bash", make_ca, ca], check=True)
    plain, plain_port = start(binary)
    tls, tls_port = start(binary, "--tls-cert", os.path.join(ca, "server.pem"),
                          "--tls-key", os.path.join(ca, "server.key"))
    ctx = ssl.create_default_context(cafile=os.path.join(ca, "ca.pem"))
    peers = {"plain": ("ws://127.0.0.1:%d/" % plain_port, None),
             "tls": ("wss://127.0.0.1:%d/" % tls_port, ctx)}
    def size_label(size):
        if size < 1024:
            return "%d B echo" % size
        if size < 1 << 20:
            return "%d KiB echo" % (size // 1024)
        return "%d MiB echo" % (size >> 20)

    scenarios = [(size_label(size),
                  lambda url, c, size=size: echo_rate(url, c, size, seconds))
                 for size in SIZES]
    scenarios.append(("connect + 1 echo + close",
                      lambda url, c: connect_rate(url, c, seconds)))
    rows = []
    try:
        for label, measure in scenarios:
            got = {"plain": [], "tls": []}
            for _ in range(rounds):
                for kind in ("plain", "tls"):
                    url, c = peers[kind]
                    got[kind].append(asyncio.run(measure(url, c)))
            p = statistics.median(got["plain"])
            t = statistics.median(got["tls"])
            rows.append((label, p, t, t / p, got))
    finally:
        plain.kill()
        tls.kill()
        shutil.rmtree(ca, ignore_errors=True)
    print("| scenario | plain /s | TLS /s | TLS / plain | plain rounds | TLS rounds |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, p, t, ratio, got in rows:
        print("| %s | %.0f | %.0f | %.2f | %s | %s |" % (
            label, p, t, ratio,
            " ".join("%.0f" % v for v in got["plain"]),
            " ".join("%.0f" % v for v in got["tls"])))


main()
