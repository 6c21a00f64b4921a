"""Origin policy (cross-site WebSocket hijacking, RFC 6455 10.2) against
echo_server: allowed, refused (403), null, missing; scheme and host case,
default ports and a trailing "/" as RFC 6454 compares origins.

usage: test_origin.py ECHO_SERVER
"""
import socket
import time

from seclib import (Client, EchoServer, check, log, read_head, run,
                    upgrade_request)


def status_for(port, origin=None, extra=()):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        req, _ = upgrade_request(origin, extra)
        s.sendall(req)
        status, head, _ = read_head(s)
        return status, head
    finally:
        s.close()


def expect(port, origin, want, what, extra=()):
    status, head = status_for(port, origin, extra)
    check(status == want, "%s: Origin %r answered %d, want %d: %r"
          % (what, origin, status, want, head[:80]))


def main(args):
    binary = args[0]

    # Default: no policy (non-browser use); any Origin passes.
    with EchoServer(binary) as srv:
        expect(srv.port, "https://evil.example", 101, "default permissive")
        expect(srv.port, "null", 101, "default permissive")
        expect(srv.port, None, 101, "default permissive")
        log("default: origin not checked (documented)")

    with EchoServer(binary, "--allow-origin", "https://example.com",
                    "--allow-origin", "http://localhost:8080") as srv:
        p = srv.port
        allowed = [
            "https://example.com",
            "https://EXAMPLE.com",          # host is case-insensitive
            "HTTPS://Example.Com",          # so is the scheme
            "https://example.com/",         # trailing "/" ignored
            "https://example.com:443",      # default port of https
            "http://localhost:8080",
            "http://LOCALHOST:8080/",
            None,                           # no Origin: non-browser client
        ]
        for o in allowed:
            expect(p, o, 101, "allowed")
        refused = [
            "https://evil.example",
            "http://example.com",           # other scheme
            "wss://example.com",
            "https://example.com:8443",     # other port
            "https://www.example.com",      # subdomain is another origin
            "https://example.com.evil.example",
            "https://evil.example/https://example.com",
            "https://example.com/path",     # not a serialized origin
            "https://example.com@evil.example",
            "http://localhost",             # port 80, not 8080
            "http://localhost:8081",
            "null",                         # not allowed without the flag
            "NULL",
            "",
            "example.com",
            "*",
        ]
        for o in refused:
            expect(p, o, 403, "refused")
        # The header name is case-insensitive: a lowercase "origin" is
        # still checked, and two Origin headers are refused outright.
        expect(p, None, 403, "lowercase header",
               extra=("origin: https://evil.example",))
        expect(p, "https://example.com", 403, "two Origin headers",
               extra=("Origin: https://evil.example",))
        # A refused request is one log line naming the origin.
        line = srv.wait_log(r"http=403 origin=https://evil\.example "
                            r".*WSP_ERR_HTTP_ORIGIN")
        check(line is not None, "no log line for the refused origin: %r"
              % srv.log_lines()[-5:])
        # The allowed origin really gets a working connection.
        c = Client(p, origin="https://example.com")
        got, _ = c.echo(b"hello")
        check(got == b"hello", "echo after allowed origin: %r" % got)
        c.close()
        log("allow-list: %d allowed, %d refused with 403, log line: %s"
            % (len(allowed), len(refused) + 2, line))

    with EchoServer(binary, "--allow-origin", "https://example.com",
                    "--allow-null-origin") as srv:
        expect(srv.port, "null", 101, "--allow-null-origin")
        expect(srv.port, "Null", 403, "null is case-sensitive")
        expect(srv.port, "https://evil.example", 403, "--allow-null-origin")
        log("null origin: allowed only with --allow-null-origin")

    with EchoServer(binary, "--allow-origin", "https://example.com",
                    "--require-origin") as srv:
        expect(srv.port, None, 403, "--require-origin, no Origin")
        expect(srv.port, "https://example.com", 101, "--require-origin")
        line = srv.wait_log(r"http=403 origin=\(none\)")
        check(line is not None, "no log line for the missing origin")
        log("missing origin: refused with --require-origin")

    # Bad allow-list entries are refused at startup, not silently ignored.
    import subprocess
    for bad in ("example.com", "null", "*", "https://"):
        r = subprocess.run([binary, "--port", "0", "--allow-origin", bad],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10)
        check(r.returncode == 2, "--allow-origin %r accepted (exit %d)"
              % (bad, r.returncode))
    log("invalid --allow-origin values refused at startup")


if __name__ == "__main__":
    run(main)
