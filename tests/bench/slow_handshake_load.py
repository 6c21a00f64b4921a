"""Slow-handshake load against examples/epoll_echo_server (a measurement,
not a suite test): SLOW connections each trickle their upgrade request one
byte every PERIOD seconds and reconnect when dropped, while 20
well-behaved clients (examples/ws_load, a separate process, so its
latencies do not include this script's own scheduling) echo 32-byte
messages one at a time, and a new client connects every 100 ms. Prints the p50/p99 echo latency, the new clients' handshake
times, and how long the server let each slow connection live.

usage: python3 slow_handshake_load.py SERVER_BINARY [SECONDS] [SLOW] [PERIOD]
           [-- SERVER ARGS...]

Python 3 standard library only; everything on 127.0.0.1; bounded by
SECONDS.
"""
import os
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "security"))
from seclib import EchoServer, read_head, upgrade_request  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def main():
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        extra = args[args.index("--") + 1:]
        args = args[:args.index("--")]
    binary = args[0]
    seconds = float(args[1]) if len(args) > 1 else 20
    slow_n = int(args[2]) if len(args) > 2 else 2000
    period = float(args[3]) if len(args) > 3 else 3.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    srv = EchoServer(binary, "--quiet", *extra)
    stop = time.time() + seconds
    lifetimes, hs = [], []
    req = upgrade_request()[0]
    lock = threading.Lock()

    def slow_loop():
        sel = selectors.DefaultSelector()
        conns = {}

        def open_one():
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", srv.port))
            except BlockingIOError:
                pass
            conns[s] = [time.time(), 0, time.time()]  # born, sent, next send
            sel.register(s, selectors.EVENT_READ)

        for _ in range(slow_n):
            open_one()
        while time.time() < stop:
            now = time.time()
            for key, _ in sel.select(timeout=0.05):
                s = key.fileobj
                # Readable means dropped (EOF or reset): nothing else is
                # ever sent to a request that never completes.
                try:
                    s.recv(4096)
                except OSError:
                    pass
                born = conns.pop(s)[0]
                sel.unregister(s)
                s.close()
                with lock:
                    lifetimes.append(now - born)
                open_one()  # the flood reconnects at once
            for s, st in list(conns.items()):
                if st[2] <= now and st[1] < len(req) - 1:
                    try:
                        s.send(req[st[1]:st[1] + 1])
                        st[1] += 1
                    except OSError:
                        pass
                    st[2] = now + period
        for s in conns:
            s.close()

    load_bin = os.path.join(os.path.dirname(os.path.abspath(binary)), "ws_load")
    load_out = []

    def good_clients():
        # Bounded by its message count and --timeout; ends before `stop`
        # on any machine that echoes more than 20,000 messages a second.
        r = subprocess.run([load_bin, "--port", str(srv.port), "-c", "20",
                            "-n", "10000", "-s", "32", "-w", "1",
                            "--timeout", str(int(seconds) + 30)],
                           capture_output=True, text=True)
        load_out.append(r.stdout + r.stderr)

    def newcomer():
        while time.time() < stop:
            t0 = time.time()
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(upgrade_request()[0])
            status, _, _ = read_head(s)
            with lock:
                hs.append((status, time.time() - t0))
            s.close()
            time.sleep(0.1)

    t_slow = threading.Thread(target=slow_loop)
    t_slow.start()
    time.sleep(min(3.0, seconds / 4))  # let the slow ones pile up
    workers = [threading.Thread(target=good_clients),
               threading.Thread(target=newcomer)]
    for w in workers:
        w.start()
    for w in workers + [t_slow]:
        w.join()
    ok = [d for s, d in hs if s == 101]
    print("slow connections: %d, one byte every %.1f s, reconnecting; "
          "%d dropped, lifetime max %.2f s, p50 %.2f s"
          % (slow_n, period, len(lifetimes), max(lifetimes or [0]),
             pct(lifetimes, 0.5)))
    res = [l for l in "".join(load_out).splitlines() if l.startswith("RESULT")]
    print("20 good clients (ws_load): %s" % (res[0] if res else "".join(load_out)))
    print("new clients: %d of %d got 101, handshake p50 %.1f ms, p99 %.1f ms"
          % (len(ok), len(hs), pct(ok, 0.5) * 1e3, pct(ok, 0.99) * 1e3))
    srv.stop()


if __name__ == "__main__":
    main()
