"""Slow-handshake load against examples/epoll_echo_server (a measurement,
not a suite test): SLOW connections each trickle their upgrade request one
byte every PERIOD seconds and reconnect when dropped, while 20
well-behaved clients echo a message every 50 ms and a new client connects
every 100 ms. Prints the p50/p99 echo latency, the new clients' handshake
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
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "security"))
from seclib import Client, EchoServer, read_head, upgrade_request  # noqa: E402


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
    lifetimes, lat, hs = [], [], []
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
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                born = conns.pop(s)[0]
                sel.unregister(s)
                s.close()
                with lock:
                    lifetimes.append(now - born)
                if not data or True:
                    open_one()
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

    def good_client():
        c = Client(srv.port)
        i = 0
        while time.time() < stop:
            got, dt = c.echo(b"good %d" % i)
            with lock:
                lat.append(dt)
            i += 1
            time.sleep(0.05)
        c.close()

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
    workers = [threading.Thread(target=good_client) for _ in range(20)]
    workers.append(threading.Thread(target=newcomer))
    for w in workers:
        w.start()
    for w in workers + [t_slow]:
        w.join()
    ok = [d for s, d in hs if s == 101]
    print("slow connections: %d, one byte every %.1f s, reconnecting; "
          "%d dropped, lifetime max %.2f s, p50 %.2f s"
          % (slow_n, period, len(lifetimes), max(lifetimes or [0]),
             pct(lifetimes, 0.5)))
    print("20 good clients: %d echoes, p50 %.1f ms, p99 %.1f ms, max %.1f ms"
          % (len(lat), pct(lat, 0.5) * 1e3, pct(lat, 0.99) * 1e3,
             max(lat or [0]) * 1e3))
    print("new clients: %d of %d got 101, handshake p50 %.1f ms, p99 %.1f ms"
          % (len(ok), len(hs), pct(ok, 0.5) * 1e3, pct(ok, 0.99) * 1e3))
    srv.stop()


if __name__ == "__main__":
    main()
