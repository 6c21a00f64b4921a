"""200 concurrent clients, 100 messages each, all connected at once: every
echo must come back, in order, unchanged.

usage: test_concurrency.py ECHO_SERVER
"""
import asyncio
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import (EchoServer, TestFailure, check, log,  # noqa: E402
                            main_wrapper, require_module)

websockets = require_module("websockets")

CLIENTS = 200
MESSAGES = 100


def message(client, i, rng):
    # Mixed types and sizes, each tagged so a swap or a loss is visible.
    tag = "c%03d-m%03d-" % (client, i)
    size = rng.choice((0, 10, 125, 126, 1000, 5000, 70000))
    if i % 2:
        return tag.encode() + rng.randbytes(size)
    return tag + "x" * size


async def one_client(url, client, all_open):
    rng = random.Random(client)
    msgs = [message(client, i, rng) for i in range(MESSAGES)]
    async with websockets.connect("%s/c%d" % (url, client), max_size=None,
                                  compression=None, open_timeout=30) as ws:
        all_open.append(client)
        # Wait until every client is connected so they really overlap.
        while len(all_open) < CLIENTS:
            await asyncio.sleep(0.01)

        async def sender():
            for m in msgs:
                await ws.send(m)

        send_task = asyncio.create_task(sender())
        for i, want in enumerate(msgs):
            got = await asyncio.wait_for(ws.recv(), 60)
            if got != want:
                raise TestFailure("client %d message %d: got %r..., want %r..."
                                  % (client, i, got[:16], want[:16]))
        await send_task
    check(ws.close_code == 1000, "client %d close %r" % (client, ws.close_code))
    return client


async def run(url):
    all_open = []
    t0 = time.time()
    done = await asyncio.gather(*(one_client(url, c, all_open)
                                  for c in range(CLIENTS)))
    check(sorted(done) == list(range(CLIENTS)), "some clients did not finish")
    log("%d clients x %d messages echoed in order in %.1f s"
        % (CLIENTS, MESSAGES, time.time() - t0))


def main():
    if len(sys.argv) != 2:
        raise TestFailure(__doc__)
    with EchoServer(sys.argv[1], "--max-connections", "400", "--quiet") as srv:
        asyncio.run(run(srv.url))
        check(srv.alive(), "echo_server died")


if __name__ == "__main__":
    main_wrapper(main)
