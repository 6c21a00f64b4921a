"""Python `websockets` as a client against examples/minimal_server, run
once with the smallest output buffer it takes (WSP_MAX_PENDING bytes, so
echoes larger than that are split into frames and the buffer is sent early
to make room) and once with its default buffer.

usage: test_minimal_server.py MINIMAL_SERVER
"""
import asyncio
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import SIZES, TestFailure, check, log, main_wrapper  # noqa: E402
from interop_common import RawClient, encode_frame, require_module  # noqa: E402

websockets = require_module("websockets")

SMALLEST_OUTPUT = 512  # WSP_MAX_PENDING


def start(binary, *args):
    proc = subprocess.Popen([binary, "0"] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline().decode("utf-8", "replace")
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.kill()
        raise TestFailure("minimal_server did not start: %r" % line)
    return proc, "ws://127.0.0.1:%s/" % m.group(1)


async def exercise(url):
    async with websockets.connect(url, max_size=None,
                                  compression=None) as ws:
        for size in SIZES:
            text = "m" * size
            await ws.send(text)
            check(await asyncio.wait_for(ws.recv(), 60) == text,
                  "text echo of %d bytes differs" % size)
            data = os.urandom(size)
            await ws.send(data)
            check(await asyncio.wait_for(ws.recv(), 60) == data,
                  "binary echo of %d bytes differs" % size)
        await ws.send(iter([b"frag", b"", b"mented"]))
        check(await ws.recv() == b"fragmented", "fragmented echo differs")
        for payload in (b"", os.urandom(125)):
            await asyncio.wait_for(await ws.ping(payload), 5)
        await ws.close(4001, "done")
        check(ws.close_code == 4001,
              "close 4001 answered with %r" % ws.close_code)
    # One connection at a time: the next one is served after the first.
    async with websockets.connect(url, compression=None) as ws:
        await ws.send("again")
        check(await ws.recv() == "again", "second connection echo differs")


def split_echo(url, size):
    """Reads the echo of one binary message frame by frame; returns the
    (opcode, payload length) of each frame and the reassembled payload."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    c = RawClient(port).handshake()
    try:
        data = os.urandom(size)
        c.send(encode_frame(0x2, data))
        frames, pieces = [], []
        while True:
            op, fin, payload = c.read_frame()
            frames.append((op, len(payload)))
            pieces.append(payload)
            if fin:
                break
        check(b"".join(pieces) == data, "split echo of %d bytes differs" % size)
        return frames
    finally:
        c.close()


def main():
    if len(sys.argv) != 2:
        raise TestFailure(__doc__)
    for args in ([str(SMALLEST_OUTPUT)], []):
        proc, url = start(sys.argv[1], *args)
        try:
            asyncio.run(exercise(url))
            check(proc.poll() is None, "minimal_server exited")
            frames = split_echo(url, 3000)
            if args:
                # 3000 bytes cannot leave a 512-byte buffer in one frame.
                check(len(frames) > 1 and frames[0][0] == 0x2 and
                      all(op == 0x0 for op, _ in frames[1:]) and
                      all(n <= SMALLEST_OUTPUT for _, n in frames),
                      "echo not split into frames that fit: %r" % frames)
            else:
                check(frames == [(0x2, 3000)], "one frame expected: %r" % frames)
            log("output buffer %s: sizes %s, fragments, pings, close ok"
                % (args[0] if args else "default", SIZES))
        finally:
            proc.kill()
            proc.wait()
    p = subprocess.run([sys.argv[1], "0", "100"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    check(p.returncode == 2 and b"usage" in p.stderr,
          "a buffer below WSP_MAX_PENDING must be refused: %r" % (p,))


main_wrapper(main)
