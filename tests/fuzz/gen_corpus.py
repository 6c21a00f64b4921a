#!/usr/bin/env python3
"""Writes the seed corpora under corpus/<target>/, each file named by the
SHA-1 of its content. Re-running only adds files; regression inputs saved
next to the seeds are left alone.

The leading configuration bytes follow the layouts documented at the top of
each target's source file."""
import base64
import hashlib
import os
import struct
import zlib
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# the key a client with counter entropy sends (bytes 0..15)
COUNTER_KEY = base64.b64encode(bytes(range(16)))
RFC_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 5.7


def accept(key):
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def write(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def frame(op, payload=b"", fin=True, mask=None, rsv=0, force_len=None):
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(payload) if force_len is None else force_len
    mbit = 0x80 if mask else 0
    if n < 126:
        h = bytes([b0, mbit | n])
    elif n < 65536:
        h = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if mask:
        h += mask
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return h + payload


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + reason


def http(lines, body=b""):
    return b"".join(l + b"\r\n" for l in lines) + b"\r\n" + body


# ---- handshakes --------------------------------------------------------
RFC_REQUEST = http([
    b"GET /chat HTTP/1.1",
    b"Host: server.example.com",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Key: " + RFC_KEY,
    b"Origin: http://example.com",
    b"Sec-WebSocket-Protocol: chat, superchat",
    b"Sec-WebSocket-Version: 13",
])

CHROMIUM = http([
    b"GET /socket HTTP/1.1",
    b"Host: example.com",
    b"Connection: Upgrade",
    b"Pragma: no-cache",
    b"Cache-Control: no-cache",
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
    b"(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    b"Upgrade: websocket",
    b"Origin: https://example.com",
    b"Sec-WebSocket-Version: 13",
    b"Accept-Encoding: gzip, deflate, br",
    b"Accept-Language: en-US,en;q=0.9",
    b"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==",
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
])

FIREFOX = http([
    b"GET /socket HTTP/1.1",
    b"Host: example.com",
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 "
    b"Firefox/121.0",
    b"Accept: */*",
    b"Accept-Language: en-US,en;q=0.5",
    b"Accept-Encoding: gzip, deflate, br",
    b"Sec-WebSocket-Version: 13",
    b"Origin: https://example.com",
    b"Sec-WebSocket-Protocol: chat",
    b"Sec-WebSocket-Extensions: permessage-deflate",
    b"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==",
    b"Connection: keep-alive, Upgrade",
    b"Sec-Fetch-Dest: empty",
    b"Sec-Fetch-Mode: websocket",
    b"Sec-Fetch-Site: same-origin",
    b"Pragma: no-cache",
    b"Cache-Control: no-cache",
    b"Upgrade: websocket",
])

SAFARI = http([
    b"GET /socket HTTP/1.1",
    b"Host: localhost:8080",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Origin: http://localhost:8080",
    b"Sec-WebSocket-Key: 3vrp0nH0mQiSEi5S2bMqDQ==",
    b"Sec-WebSocket-Version: 13",
    b"Sec-WebSocket-Extensions: permessage-deflate",
    b"User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
    b"AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    b"Pragma: no-cache",
    b"Cache-Control: no-cache",
    b"Accept-Language: en-GB,en;q=0.9",
    b"Accept-Encoding: gzip, deflate",
])

OLD_WEBKIT_COOKIES = http([
    b"GET /updates?channel=7 HTTP/1.1",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Host: www.example.org",
    b"Origin: http://www.example.org",
    b"Cookie: sid=31d4d96e407aad42; lang=en-US; _ga=GA1.2.1234.5678",
    b"Sec-WebSocket-Key: K7fh0MrhUYHJn2p0z1NYnw==",
    b"Sec-WebSocket-Version: 13",
    b"Sec-WebSocket-Extensions: x-webkit-deflate-frame",
])

BAD_REQUESTS = [
    RFC_REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0"),
    RFC_REQUEST.replace(b"GET", b"POST"),
    RFC_REQUEST.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"),
    RFC_REQUEST.replace(RFC_KEY, b"dGhlIHNhbXBsZSBub25jZQ"),
    RFC_REQUEST.replace(b"Upgrade: websocket", b"Upgrade: h2c"),
    RFC_REQUEST.replace(b"Connection: Upgrade", b"Connection: keep-alive"),
    RFC_REQUEST.replace(b"Host: server.example.com\r\n", b""),
    RFC_REQUEST.replace(b"Host: server.example.com\r\n",
                        b"Host: a\r\nHost: b\r\n"),
    RFC_REQUEST.replace(b"\r\n", b"\n"),
    RFC_REQUEST.replace(b"Upgrade: websocket\r\n", b"Upgrade:\r\n websocket\r\n"),
    RFC_REQUEST.replace(b"Host:", b"Host :"),
    RFC_REQUEST.replace(b"Origin: http://example.com", b"Origin: null"),
    RFC_REQUEST[:-2],
    b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 300 + b"\r\n\r\n",
]

RESP_OK = [
    b"HTTP/1.1 101 Switching Protocols",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Accept: " + accept(COUNTER_KEY),
]


def reqcfg(flags=0, maxb=0, maxh=0, chunks=(1, 3, 7, 0x85)):
    return bytes([flags, maxb, maxh]) + bytes(chunks)


def framecfg(flags=0, maxframe=0, maxmsg=0, maxfrag=0, chunks=(1, 2, 5, 0x84)):
    return bytes([flags, maxframe, maxmsg, maxfrag]) + bytes(chunks)


def frame_sets(mask):
    """Frames a peer might send, masked with mask (None: unmasked)."""
    big = bytes((i * 7) & 0xFF for i in range(300))
    sets = [
        frame(1, b"Hello", mask=mask),
        frame(1, b"Hel", fin=False, mask=mask) + frame(0, b"lo", mask=mask),
        frame(9, b"Hello", mask=mask),
        frame(10, b"Hello", mask=mask),
        frame(2, b"", mask=mask),
        frame(2, b"x", mask=mask),
        frame(2, big[:125], mask=mask),
        frame(2, big[:126], mask=mask),
        frame(2, big, mask=mask),
        frame(2, big, mask=mask, force_len=65535)[:400],
        frame(2, big, mask=mask, force_len=65536)[:400],
        frame(1, "κόσμε 😀".encode(), mask=mask),
        frame(1, b"\xce", fin=False, mask=mask) + frame(9, b"mid", mask=mask)
        + frame(0, b"\xba", mask=mask),
        frame(1, b"ab\xc0\xafcd", mask=mask),
        frame(1, b"\xed\xa0\x80", mask=mask),
        frame(1, b"abc\xe2\x82", mask=mask),
        frame(8, close_payload(1000, b"bye"), mask=mask),
        frame(8, b"", mask=mask),
        frame(8, b"\x03", mask=mask),
        frame(8, close_payload(1005), mask=mask),
        frame(8, close_payload(999), mask=mask),
        frame(8, close_payload(4999, b"app"), mask=mask),
        frame(8, close_payload(1000, b"\xff"), mask=mask),
        frame(1, b"x", mask=mask, rsv=4),
        frame(3, b"", mask=mask),
        frame(0, b"cont", mask=mask),
        frame(9, b"x", fin=False, mask=mask),
        frame(9, big[:126], mask=mask),
        frame(1, b"a", fin=False, mask=mask) + frame(1, b"b", mask=mask),
        # 16-bit length used for a 5-byte payload: not minimal
        bytes([0x82, (0x80 if mask else 0) | 126, 0, 5]) + (mask or b"")
        + b"\0" * 5,
        bytes([0x82, (0x80 if mask else 0) | 127]) + b"\x80" + b"\0" * 7,
        frame(9, b"1", mask=mask) + frame(9, b"22", mask=mask)
        + frame(1, b"done", mask=mask) + frame(8, close_payload(1001), mask=mask)
        + frame(1, b"after close", mask=mask),
        frame(2, b"a" * 10, fin=False, mask=mask) +
        frame(0, b"b" * 10, fin=False, mask=mask) +
        frame(0, b"c" * 10, mask=mask),
    ]
    # the wrong masking for the role
    sets.append(frame(1, b"Hello", mask=None if mask else MASK))
    return sets


def main():
    # fuzz_http_request
    for req in [RFC_REQUEST, CHROMIUM, FIREFOX, SAFARI, OLD_WEBKIT_COOKIES]:
        write("fuzz_http_request", reqcfg() + req)
        write("fuzz_http_request", reqcfg(flags=0x08) + req
              + frame(1, b"Hello", mask=MASK))
        write("fuzz_http_request", reqcfg(flags=0x01) + req)
        write("fuzz_http_request", reqcfg(flags=0x10) + req)
    write("fuzz_http_request", reqcfg(flags=0x03)
          + RFC_REQUEST.replace(b"http://example.com", b"null"))
    write("fuzz_http_request", reqcfg(flags=0x05)
          + RFC_REQUEST.replace(b"Origin: http://example.com\r\n", b""))
    write("fuzz_http_request", reqcfg(maxb=4) + CHROMIUM)
    write("fuzz_http_request", reqcfg(maxh=3) + FIREFOX)
    for req in BAD_REQUESTS:
        write("fuzz_http_request", reqcfg() + req)

    # fuzz_http_response
    ok = http(RESP_OK)
    write("fuzz_http_response", reqcfg() + ok)
    write("fuzz_http_response", reqcfg() + ok + frame(1, b"Hello")
          + frame(9, b"ping") + frame(8, close_payload(1000)))
    write("fuzz_http_response", reqcfg(flags=0x01)
          + http(RESP_OK + [b"Sec-WebSocket-Protocol: chat"]))
    write("fuzz_http_response", reqcfg(flags=0x02)
          + http(RESP_OK + [b"Sec-WebSocket-Protocol: superchat"]))
    write("fuzz_http_response", reqcfg(flags=0x00)
          + http(RESP_OK + [b"Sec-WebSocket-Protocol: chat"]))
    write("fuzz_http_response", reqcfg(flags=0x04) + http(RESP_OK + [
        b"Sec-WebSocket-Extensions: permessage-deflate; "
        b"client_max_window_bits=15"]))
    write("fuzz_http_response", reqcfg(flags=0x18) + http(RESP_OK + [
        b"Set-Cookie: sid=1; Path=/; HttpOnly", b"Server: nginx/1.24.0",
        b"Date: Mon, 01 Jan 2024 00:00:00 GMT"]))
    write("fuzz_http_response", reqcfg() + http([
        b"HTTP/1.1 101 Switching Protocols", b"Upgrade: websocket",
        b"Connection: Upgrade", b"Sec-WebSocket-Accept: " + accept(RFC_KEY)]))
    write("fuzz_http_response", reqcfg() + http([
        b"HTTP/1.1 400 Bad Request", b"Content-Length: 0",
        b"Connection: close"]))
    write("fuzz_http_response", reqcfg() + http([
        b"HTTP/1.1 426 Upgrade Required", b"Sec-WebSocket-Version: 13",
        b"Content-Length: 0"]))
    write("fuzz_http_response", reqcfg() + http([
        b"HTTP/1.0 101 Switching Protocols"] + RESP_OK[1:]))
    write("fuzz_http_response", reqcfg() + ok.replace(b"\r\n", b"\n"))
    write("fuzz_http_response", reqcfg(maxb=2) + ok)

    # fuzz_server_frames (client-masked) and fuzz_client_frames (unmasked)
    for target, mask in (("fuzz_server_frames", MASK),
                         ("fuzz_client_frames", None)):
        for i, fr in enumerate(frame_sets(mask)):
            write(target, framecfg() + fr)
            if i % 3 == 0:
                write(target, framecfg(flags=1) + fr)
            if i % 4 == 1:
                write(target, framecfg(flags=2, maxframe=8, maxmsg=16,
                                       maxfrag=2) + fr)
        write(target, framecfg(flags=5) + frame(1, b"hi", mask=mask))
        # the application closes first, then the peer keeps talking
        write(target, framecfg(flags=0x08) + frame(1, b"hi", mask=mask)
              + frame(9, b"p", mask=mask) + frame(1, b"more", mask=mask)
              + frame(8, close_payload(1000), mask=mask))
        write(target, framecfg(flags=0x11) + frame(2, b"x", mask=mask)
              + frame(8, b"", mask=mask))

    # fuzz_utf8
    texts = [b"Hello, world", "κόσμε".encode(), "😀 ok €".encode(),
             b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
             b"\xf0\x9f\x98", b"a\x80b", b"\xe1\x41", b"\xf5", b"\xff\xfe",
             "\U0010ffff\ud7ff\ue000".encode("utf-8", "surrogatepass"),
             b"\xef\xbf\xbf\xf4\x8f\xbf\xbf"]
    for t in texts:
        write("fuzz_utf8", b"\x00" + t)
        write("fuzz_utf8", b"\x03\x01\x01\x02" + t)
    # Long enough for the block scanners (16 to 64 bytes a block): text of
    # each kind, valid and with a fault just before, on and after a block
    # boundary, and with one cut inside the first block.
    kinds = [("{\"name\": \"Zoë Ångström\", \"city\": \"Málaga\"} " * 6).encode(),
             ("日本語のテキスト、中文文本。" * 8).encode(),
             ("😀👍🏽 ❤️ 👨‍👩‍👧 " * 10).encode(),
             ("aé€😀" * 30).encode()]
    for t in kinds:
        write("fuzz_utf8", b"\x00" + t)
        write("fuzz_utf8", b"\x01\x0b" + t)
        for at in (15, 16, 31, 32, 63, 64, 65):
            for bad in (b"\xff", b"\x80", b"\xc0", b"\xed\xa0\x80"):
                broken = t[:at] + bad + t[at + len(bad):]
                write("fuzz_utf8", b"\x00" + broken)
        # ends inside a code point right at a block end
        write("fuzz_utf8", b"\x00" + t[:63] + b"\xf0\x9f")

    # fuzz_roundtrip
    def op(kind, payload):
        if len(payload) > 255:
            return bytes([kind | 0x20]) + struct.pack(">H", len(payload)) + payload
        return bytes([kind, len(payload)]) + payload
    rcfg = bytes([0, 0, 1, 3, 9, 0x82, 42])
    write("fuzz_roundtrip", rcfg + op(0, b"Hello") + op(1, b"\x00\x01\x02"))
    write("fuzz_roundtrip", rcfg + op(0 | 8, "κό".encode()) + op(2, b"p")
          + op(0, "σμε".encode()) + op(3, b"unsolicited"))
    write("fuzz_roundtrip", bytes([100]) + rcfg[1:] + op(1, bytes(range(256)) * 2)
          + op(4, close_payload(1000, b"bye")))
    write("fuzz_roundtrip", rcfg + op(1 | 16, b"zero-copy") + op(2 | 16, b"zc")
          + op(0 | 8 | 16, b"a") + op(0, b"b"))
    write("fuzz_roundtrip", rcfg + op(2, b"x" * 126) + op(2 | 8, b"more")
          + op(4, close_payload(1005)) + op(4, b"") + op(0, b"late"))
    write("fuzz_roundtrip", bytes([1, 1]) + rcfg[2:] + op(1 | 8, b"ab")
          + op(0, b"wrong opcode") + op(1, b"cd"))

    deflate_seeds(op)


def deflate_raw(data, wbits=15, level=6):
    """Raw deflate of one message as RFC 7692 7.2.1 sends it: sync flush,
    the trailing 00 00 ff ff removed."""
    c = zlib.compressobj(level, zlib.DEFLATED, -max(wbits, 9))
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def deflate_seeds(op):
    # fuzz_deflate: [flags][bits][buffer][b3][b4][4 chunk sizes][body]
    t = "fuzz_deflate"
    chunks = bytes([1, 3, 7, 0x84])

    def dcfg(flags=0, bits=7, buf=0x82, b3=0, b4=0):
        return bytes([flags, bits, buf, b3, b4]) + chunks

    for client in (0, 1):  # the receiver's role: its peer masks or not
        mask = None if client else b"\x37\xfa\x21\x3d"
        f = client
        # RFC 7692 7.2.3.1: "Hello" compressed, 7.2.3.2: the same in two
        # fragments, 7.2.3.3: a second "Hello" using the shared context,
        # 7.2.3.4: a stored (uncompressed) block, 7.2.3.5: two blocks,
        # 7.2.3.6: an empty stored block ends a message
        hello = bytes.fromhex("f248cdc9c90700")
        write(t, dcfg(f) + frame(1, hello, mask=mask, rsv=4))
        write(t, dcfg(f) + frame(1, bytes.fromhex("f248cd"), fin=False,
                                 mask=mask, rsv=4)
              + frame(0, bytes.fromhex("c9c90700"), mask=mask))
        write(t, dcfg(f) + frame(1, hello, mask=mask, rsv=4)
              + frame(1, bytes.fromhex("f200110000"), mask=mask, rsv=4))
        write(t, dcfg(f | 2) + frame(1, hello, mask=mask, rsv=4)
              + frame(1, hello, mask=mask, rsv=4))
        write(t, dcfg(f) + frame(1, bytes.fromhex("0005 00fa ff48 656c 6c6f 00"
                                                  .replace(" ", "")),
                                 mask=mask, rsv=4))
        write(t, dcfg(f) + frame(1, bytes.fromhex("f248 0500 00ff ff48 cdc9 c907 00"
                                                  .replace(" ", "")),
                                 mask=mask, rsv=4))
        write(t, dcfg(f) + frame(1, bytes.fromhex("f24805000000ffffcac9c90700"),
                                 mask=mask, rsv=4))
        write(t, dcfg(f) + frame(1, bytes.fromhex("f248cdc9c90700") + b"\x00",
                                 mask=mask, rsv=4))
        # an uncompressed message in between, a ping inside a compressed
        # fragmented one, a close
        write(t, dcfg(f) + frame(1, b"plain", mask=mask)
              + frame(2, deflate_raw(b"abc" * 20), fin=False, mask=mask, rsv=4)
              + frame(9, b"ping", mask=mask)
              + frame(0, b"", mask=mask)
              + frame(8, close_payload(1000), mask=mask))
        # compressed frames of each length class: 7-bit, 16-bit, 64-bit
        rnd = bytes((i * 7919 + 13) & 0xFF for i in range(70000))
        for size in (100, 300, 70000):
            write(t, dcfg(f, bits=7, buf=0xA0)
                  + frame(2, deflate_raw(rnd[:size]), mask=mask, rsv=4))
        # a small bomb: 64 KiB of zeros in ~100 bytes, against a small
        # max_message and a tiny buffer
        bomb = deflate_raw(b"\x00" * 65536, level=9)
        write(t, dcfg(f, buf=0x0F, b3=0x90) + frame(2, bomb, mask=mask, rsv=4))
        write(t, dcfg(f, buf=0x84) + frame(2, bomb, mask=mask, rsv=4))
        # window bits 8 and 9, no context takeover
        for bits in (0, 1):
            data = b"abcdefgh" * 64
            write(t, dcfg(f | 2, bits=bits)
                  + frame(1, deflate_raw(data, wbits=9), mask=mask, rsv=4)
                  + frame(1, deflate_raw(data, wbits=9), mask=mask, rsv=4))
        # invalid: RSV1 on a continuation, on a control frame, corrupt data,
        # BFINAL block followed by more, invalid UTF-8 after inflating
        write(t, dcfg(f) + frame(1, hello, fin=False, mask=mask, rsv=4)
              + frame(0, b"\x00", mask=mask, rsv=4))
        write(t, dcfg(f) + frame(9, b"", mask=mask, rsv=4))
        write(t, dcfg(f) + frame(1, b"\xff\xff\xff\xff", mask=mask, rsv=4))
        write(t, dcfg(f) + frame(1, bytes.fromhex("f348cdc9c90700") + b"junk",
                                 mask=mask, rsv=4))
        write(t, dcfg(f) + frame(1, deflate_raw(b"\xc0\xaf"), mask=mask, rsv=4))

    # round-trip mode (flags bit2)
    for client in (0, 1):
        write(t, dcfg(4 | client, b3=0, b4=0) + op(0, b"Hello") + op(0, b"Hello")
              + op(1, bytes(range(256))) + op(8, b"ping") + op(2, b"raw"))
        write(t, dcfg(4 | 2 | client, bits=0, buf=3, b3=16)
              + op(4, b"ab" * 100) + op(8, b"p") + op(0, "κόσμε".encode() * 40))
        write(t, dcfg(4 | client, bits=0x79, b4=10) + op(1, b"x")
              + op(1 | 0x20, b"\x00" * 3000) + op(1 | 4, b"") + op(1, b""))


if __name__ == "__main__":
    sys.exit(main())
