"""TLS echo against plain echo, same run: examples/echo_server started
twice (plain, and with --tls-cert/--tls-key), both without compression,
loaded by tls_echo_client (C, one connection, one message in flight),
alternating plain and TLS rounds so both see the same machine load. Prints
a Markdown table; each cell is the median of the rounds, and the ratio is
TLS / plain.

usage: tls_echo_bench.py BUILD_DIR [SECONDS_PER_ROUND] [ROUNDS]

BUILD_DIR is a build with -DWSPROTO_BUILD_BENCH=ON and OpenSSL found.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = [("128 B echo", "128"), ("16 KiB echo", "16384"),
             ("1 MiB echo", "1048576"),
             ("connect + 16 B echo + close", "connect")]


def start(binary, *extra):
    proc = subprocess.Popen([binary, "--port", "0", "--quiet", "--no-deflate"]
                            + list(extra), stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    return proc, int(re.search(r":(\d+)", line).group(1))


def main():
    build = sys.argv[1]
    seconds = sys.argv[2] if len(sys.argv) > 2 else "3"
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    server_bin = os.path.join(build, "examples", "echo_server")
    client_bin = os.path.join(build, "tests", "bench", "tls_echo_client")
    ca = tempfile.mkdtemp(prefix="wsp-bench-")
    subprocess.run(["bash", os.path.join(HERE, "..", "support",
                                         "make-test-ca.sh"), ca], check=True)
    plain, plain_port = start(server_bin)
    tls, tls_port = start(server_bin,
                          "--tls-cert", os.path.join(ca, "server.pem"),
                          "--tls-key", os.path.join(ca, "server.key"))
    urls = {"plain": ["ws://127.0.0.1:%d/" % plain_port],
            "tls": ["wss://127.0.0.1:%d/" % tls_port]}
    ca_arg = [os.path.join(ca, "ca.pem")]
    rows = []
    try:
        for label, what in SCENARIOS:
            got = {"plain": [], "tls": []}
            for _ in range(rounds):
                for kind in ("plain", "tls"):
                    out = subprocess.run(
                        [client_bin, urls[kind][0], what, seconds] +
                        (ca_arg if kind == "tls" else []),
                        stdout=subprocess.PIPE, check=True).stdout.split()
                    got[kind].append(float(out[2]))
            p = statistics.median(got["plain"])
            t = statistics.median(got["tls"])
            rows.append((label, what, p, t, got))
    finally:
        plain.kill()
        tls.kill()
        shutil.rmtree(ca, ignore_errors=True)
    print("| scenario | plain /s | TLS /s | TLS / plain | plain MB/s | TLS MB/s "
          "| plain rounds | TLS rounds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, what, p, t, got in rows:
        mb = (lambda r: "%.1f" % (r * int(what) / 1e6)) if what.isdigit() \
            else (lambda r: "-")
        print("| %s | %.0f | %.0f | %.2f | %s | %s | %s | %s |" % (
            label, p, t, t / p, mb(p), mb(t),
            " ".join("%.0f" % v for v in got["plain"]),
            " ".join("%.0f" % v for v in got["tls"])))


main()
