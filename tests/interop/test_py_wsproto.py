"""Interop with Python `wsproto`, another sans-I/O implementation, driven
over plain blocking sockets: as a client against echo_server and as a
server against echo_client --echo.

usage: test_py_wsproto.py ECHO_SERVER ECHO_CLIENT
"""
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import (SIZES, EchoServer, TestFailure, check,  # noqa: E402
                            log, main_wrapper, require_module)

require_module("wsproto")
from wsproto import ConnectionType, WSConnection  # noqa: E402
from wsproto.events import (AcceptConnection, BytesMessage,  # noqa: E402
                            CloseConnection, Message, Ping, Pong,
                            RejectConnection, Request, TextMessage)

CLOSE_CODES = [1000, 1001, 3000, 4999]


class Peer:
    """A wsproto connection on a socket: send events, await whole events."""

    def __init__(self, sock, conn):
        self.sock = sock
        self.conn = conn
        self.events = []
        self.eof = False

    def send(self, event):
        self.sock.sendall(self.conn.send(event))

    def send_while_reading(self, event):
        """Sends from a thread so the echo can be read at the same time: the
        server echoes while it reads and stops reading when we stop."""
        data = self.conn.send(event)
        t = threading.Thread(target=self.sock.sendall, args=(data,))
        t.start()
        return t

    def _pump(self):
        data = self.sock.recv(1 << 20)
        if not data:
            self.eof = True
            self.conn.receive_data(None)
        else:
            self.conn.receive_data(data)
        for ev in self.conn.events():
            if isinstance(ev, Ping):
                self.send(ev.response())
            self.events.append(ev)

    def next(self, kinds):
        while True:
            while self.events:
                ev = self.events.pop(0)
                if isinstance(ev, kinds):
                    return ev
                if isinstance(ev, CloseConnection) and CloseConnection not in kinds:
                    raise TestFailure("unexpected close %r" % ev)
            if self.eof:
                raise TestFailure("EOF while waiting for %r" % (kinds,))
            self._pump()

    def message(self):
        """Reassembles one message from however many events carry it."""
        parts = []
        while True:
            ev = self.next((TextMessage, BytesMessage))
            parts.append(ev.data)
            if ev.message_finished:
                break
        return parts[0][:0].join(parts) if parts else b""

    def wait_eof(self):
        self.sock.settimeout(5)
        while not self.eof:
            self._pump()


def connect_client(port, path):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    peer = Peer(sock, WSConnection(ConnectionType.CLIENT))
    peer.send(Request(host="127.0.0.1:%d" % port, target=path))
    ev = peer.next((AcceptConnection, RejectConnection))
    check(isinstance(ev, AcceptConnection), "handshake rejected: %r" % ev)
    return peer


def client_side(port):
    peer = connect_client(port, "/wsproto")
    for size in SIZES:
        for msg in ("w" * size, os.urandom(size)):
            t = peer.send_while_reading(Message(data=msg))
            check(peer.message() == msg, "echo of %d bytes (%s) differs"
                  % (size, type(msg).__name__))
            t.join()
    # Fragmented: message_finished=False pieces make one message.
    peer.send(Message(data="frag", message_finished=False))
    peer.send(Message(data="m\u00e9nt", message_finished=False))
    peer.send(Message(data="ed", message_finished=True))
    check(peer.message() == "fragm\u00e9nted", "fragmented echo differs")
    for payload in (b"", b"wsproto-ping", os.urandom(125)):
        peer.send(Ping(payload=payload))
        pong = peer.next((Pong,))
        check(bytes(pong.payload) == payload, "pong payload differs")
    peer.send(CloseConnection(code=1000))
    ev = peer.next((CloseConnection,))
    check(ev.code == 1000, "close reply code %r" % ev.code)
    peer.wait_eof()
    peer.sock.close()
    log("client: sizes %s, fragments, pings, close ok" % SIZES)

    for code in CLOSE_CODES:
        peer = connect_client(port, "/close")
        peer.send(CloseConnection(code=code, reason="bye"))
        ev = peer.next((CloseConnection,))
        check(ev.code == code, "sent %d, got %r" % (code, ev.code))
        peer.wait_eof()
        peer.sock.close()
    log("client: close codes %s ok" % CLOSE_CODES)


def serve_one(listener, script, errors):
    try:
        sock, _ = listener.accept()
        sock.settimeout(30)
        peer = Peer(sock, WSConnection(ConnectionType.SERVER))
        peer.next((Request,))
        peer.send(AcceptConnection())
        script(peer)
        # RFC 6455 7.1.1: after the close handshake the server drops TCP
        # first; the client waits for that.
        sock.close()
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        errors.append(e)


def run_against_client(client_bin, script):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(30)
    port = listener.getsockname()[1]
    errors = []
    t = threading.Thread(target=serve_one, args=(listener, script, errors))
    t.start()
    p = subprocess.run([client_bin, "--echo", "ws://127.0.0.1:%d/" % port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    t.join(30)
    listener.close()
    if errors:
        raise errors[0]
    return p.returncode, p.stderr.decode("utf-8", "replace")


def server_side(client_bin):
    def everything(peer):
        for size in SIZES:
            for msg in ("z" * size, os.urandom(size)):
                peer.send(Message(data=msg))
                check(peer.message() == msg, "echo of %d bytes differs" % size)
        peer.send(Message(data=b"frag", message_finished=False))
        peer.send(Message(data=b"mented", message_finished=True))
        check(peer.message() == b"fragmented", "fragmented echo differs")
        for payload in (b"", b"abc", os.urandom(125)):
            peer.send(Ping(payload=payload))
            check(bytes(peer.next((Pong,)).payload) == payload, "pong differs")
        peer.send(CloseConnection(code=1000, reason="done"))
        check(peer.next((CloseConnection,)).code == 1000, "close reply")

    rc, err = run_against_client(client_bin, everything)
    check(rc == 0, "echo_client exit %d: %s" % (rc, err))
    log("server: echo_client --echo handled sizes, fragments, pings")

    for code in CLOSE_CODES:
        def closer(peer, code=code):
            peer.send(Message(data="hi"))
            check(peer.message() == "hi", "echo before close")
            peer.send(CloseConnection(code=code))
            got = peer.next((CloseConnection,)).code
            check(got == code, "close %d answered with %r" % (code, got))
        rc, err = run_against_client(client_bin, closer)
        check(rc == 0, "close %d: echo_client exit %d: %s" % (code, rc, err))
    log("server: close codes %s ok" % CLOSE_CODES)


def main():
    if len(sys.argv) != 3:
        raise TestFailure(__doc__)
    with EchoServer(sys.argv[1]) as srv:
        client_side(srv.port)
        check(srv.alive(), "echo_server died")
    server_side(sys.argv[2])


if __name__ == "__main__":
    main_wrapper(main)
