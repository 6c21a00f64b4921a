"""TLS echo against plain echo, same run: each server under test started
twice (plain, and with --tls-cert/--tls-key), all without compression,
loaded by tls_echo_client (C, one connection, one message in flight).
Every round runs each server and kind once, in turn, so all of them see the
same machine load. Prints one Markdown table per server; each cell is the
median of the rounds, ratios are TLS / plain, and the CPU columns are the
server process's user + system time over the round divided by the
messages echoed (connections for the connect scenario).

usage: tls_echo_bench.py BUILD_DIR [SECONDS_PER_ROUND] [ROUNDS] [SERVER...]

BUILD_DIR is a build with -DWSPROTO_BUILD_BENCH=ON and OpenSSL found.
SERVER is a program in BUILD_DIR/examples taking --tls-cert/--tls-key
(default: echo_server; e.g. echo_server epoll_echo_server).
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
TICK = os.sysconf("SC_CLK_TCK")


def start(binary, *extra):
    proc = subprocess.Popen([binary, "--port", "0", "--quiet", "--no-deflate"]
                            + list(extra), stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    return proc, int(re.search(r":(\d+)", line).group(1))


def cpu_seconds(pid):
    """User + system time of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main():
    build = sys.argv[1]
    seconds = sys.argv[2] if len(sys.argv) > 2 else "3"
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    servers = sys.argv[4:] or ["echo_server"]
    client_bin = os.path.join(build, "tests", "bench", "tls_echo_client")
    ca = tempfile.mkdtemp(prefix="wsp-bench-")
    subprocess.run(["bash", os.path.join(HERE, "..", "support",
                                         "make-test-ca.sh"), ca], check=True)
    tls_args = ("--tls-cert", os.path.join(ca, "server.pem"),
                "--tls-key", os.path.join(ca, "server.key"))
    ca_arg = [os.path.join(ca, "ca.pem")]
    procs = {}
    try:
        for name in servers:
            binary = os.path.join(build, "examples", name)
            procs[(name, "plain")] = start(binary)
            procs[(name, "tls")] = start(binary, *tls_args)
        # results[(server, kind, scenario)] = list of (rate, cpu per message)
        results = {}
        for label, what in SCENARIOS:
            for _ in range(rounds):
                for (name, kind), (proc, port) in procs.items():
                    url = "%s://127.0.0.1:%d/" % (
                        "wss" if kind == "tls" else "ws", port)
                    cpu0 = cpu_seconds(proc.pid)
                    out = subprocess.run(
                        [client_bin, url, what, seconds] +
                        (ca_arg if kind == "tls" else []),
                        stdout=subprocess.PIPE, check=True).stdout.split()
                    cpu = cpu_seconds(proc.pid) - cpu0
                    count = int(out[0])
                    results.setdefault((name, kind, label), []).append(
                        (float(out[2]), cpu / count if count else 0.0))
    finally:
        for proc, _ in procs.values():
            proc.kill()
        shutil.rmtree(ca, ignore_errors=True)

    for name in servers:
        print("\n%s\n" % name)
        print("| scenario | plain /s | TLS /s | TLS / plain | plain MB/s "
              "| TLS MB/s | server CPU/msg plain | TLS | TLS / plain |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        rounds_text = []
        for label, what in SCENARIOS:
            plain = results[(name, "plain", label)]
            tls = results[(name, "tls", label)]
            p = statistics.median(r for r, _ in plain)
            t = statistics.median(r for r, _ in tls)
            pc = statistics.median(c for _, c in plain)
            tc = statistics.median(c for _, c in tls)
            mb = (lambda r: "%.1f" % (r * int(what) / 1e6)) \
                if what.isdigit() else (lambda r: "-")
            print("| %s | %.0f | %.0f | %.2f | %s | %s | %.1f us | %.1f us "
                  "| %s |" % (label, p, t, t / p, mb(p), mb(t), pc * 1e6,
                              tc * 1e6, "%.2f" % (tc / pc) if pc else "-"))
            rounds_text.append("%s %s / %s" % (
                label, " ".join("%.0f" % r for r, _ in plain),
                " ".join("%.0f" % r for r, _ in tls)))
        print("\nRounds (plain / TLS, per second): " + "; ".join(rounds_text))


main()
