'use strict';
// h2_echo_server against Node's built-in http2 client (no npm): WebSocket
// over HTTP/2 (RFC 8441) with the WebSocket framing written out below
// (masking, fragments, permessage-deflate with zlib's raw deflate and the
// 00 00 ff ff tail rule of RFC 7692 7.2.1). Over h2c and over TLS (ALPN h2,
// certificate from a throwaway CA): the server's SETTINGS allow extended
// CONNECT, text and binary echoes from 0 B to 16 MiB, ping, close codes
// 1000 and 4000, several WebSocket streams and a GET / on one connection,
// compression off and on.
//
// usage: node test_h2_node.js H2_ECHO_SERVER|NOT-BUILT MAKE_TEST_CA
// Exit status 77 (skipped) only when the server was not built.
const { execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http2 = require('http2');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { check, startServer, main } = require('./common');

const SIZES = [0, 125, 126, 65535, 65536, 1 << 20, 16 << 20];
const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
// The client compresses every message on its own (client_no_context_takeover)
// and asks the server to do the same, so one-shot zlib calls suffice.
const DEFLATE_OFFER = 'permessage-deflate; client_no_context_takeover; server_no_context_takeover';

function clientFrame(opcode, payload, rsv1 = false) {
  const n = payload.length;
  let head;
  if (n < 126) {
    head = Buffer.from([0x80 | (rsv1 ? 0x40 : 0) | opcode, 0x80 | n]);
  } else if (n < 65536) {
    head = Buffer.alloc(4);
    head.writeUInt16BE(n, 2);
    head[1] = 0x80 | 126;
  } else {
    head = Buffer.alloc(10);
    head.writeBigUInt64BE(BigInt(n), 2);
    head[1] = 0x80 | 127;
  }
  head[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  const key = crypto.randomBytes(4);
  const masked = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) masked[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([head, key, masked]);
}

// Received bytes as a list of chunks, taken in whole frames without
// re-copying what is already buffered (a 16 MiB echo arrives in many DATA
// frames).
class Chunks {
  constructor() { this.list = []; this.length = 0; }
  push(b) { this.list.push(b); this.length += b.length; }
  peek(n) { return Buffer.concat(this.list, Math.min(n, this.length)).subarray(0, n); }
  take(n) {
    const out = [];
    let need = n;
    while (need > 0) {
      const b = this.list[0];
      if (b.length <= need) { out.push(b); this.list.shift(); need -= b.length; } else {
        out.push(b.subarray(0, need)); this.list[0] = b.subarray(need); need = 0;
      }
    }
    this.length -= n;
    return Buffer.concat(out, n);
  }
}

class WsStream {
  constructor(req, id) {
    this.req = req;
    this.id = id;
    this.in = new Chunks();
    this.messages = [];
    this.controls = [];
    this.partial = null;
    this.status = null;
    this.headers = null;
    this.deflate = false;
    this.ended = false;
    this.closed = false;
    this.error = null;
    this.waiters = new Set();
    req.on('response', (h) => { this.status = h[':status']; this.headers = h; this.wake(); });
    req.on('data', (d) => { this.in.push(d); this.parse(); this.wake(); });
    req.on('end', () => { this.ended = true; this.wake(); });
    req.on('close', () => { this.closed = true; this.wake(); });
    req.on('error', (e) => { this.error = e; this.wake(); });
  }

  wake() { for (const w of this.waiters) w(); }

  waitFor(pred, what, ms = 120000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiters.delete(poll); reject(new Error(`timed out: ${what}`)); }, ms);
      const poll = () => {
        let ok;
        try { ok = pred(); } catch (e) { ok = e; }
        if (ok instanceof Error) { clearTimeout(timer); this.waiters.delete(poll); reject(ok); }
        else if (ok) { clearTimeout(timer); this.waiters.delete(poll); resolve(); }
        else if (this.error || (this.closed && !ok)) {
          clearTimeout(timer); this.waiters.delete(poll);
          reject(new Error(`stream ${this.id} ${this.error ? this.error.message : 'closed'} while waiting: ${what}`));
        }
      };
      this.waiters.add(poll);
      poll();
    });
  }

  parse() {
    for (;;) {
      if (this.in.length < 2) return;
      const h = this.in.peek(10);
      check(!(h[1] & 0x80), 'server frame is masked');
      let n = h[1] & 0x7f;
      let at = 2;
      if (n === 126) { if (this.in.length < 4) return; n = h.readUInt16BE(2); at = 4; }
      else if (n === 127) { if (this.in.length < 10) return; n = Number(h.readBigUInt64BE(2)); at = 10; }
      if (this.in.length < at + n) return;
      this.in.take(at);
      const payload = this.in.take(n);
      const fin = (h[0] & 0x80) !== 0;
      const rsv1 = (h[0] & 0x40) !== 0;
      const opcode = h[0] & 0x0f;
      if (opcode >= 8) { this.controls.push([opcode, payload]); continue; }
      if (opcode !== OP.CONT) {
        check(this.partial === null, 'new message inside a message');
        check(!rsv1 || this.deflate, 'RSV1 without permessage-deflate');
        this.partial = { opcode, rsv1, pieces: [payload] };
      } else {
        check(this.partial !== null, 'continuation of nothing');
        this.partial.pieces.push(payload);
      }
      if (fin) {
        let data = Buffer.concat(this.partial.pieces);
        if (this.partial.rsv1) {
          data = zlib.inflateRawSync(Buffer.concat([data, TAIL]),
            { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: 64 << 20 });
        }
        this.messages.push([this.partial.opcode, data]);
        this.partial = null;
      }
    }
  }

  send(opcode, payload) {
    if (this.deflate && (opcode === OP.TEXT || opcode === OP.BINARY)) {
      const z = zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      check(z.subarray(z.length - 4).equals(TAIL), 'deflate output lacks the 00 00 ff ff tail');
      this.req.write(clientFrame(opcode, z.subarray(0, z.length - 4), true));
    } else {
      this.req.write(clientFrame(opcode, payload));
    }
  }

  async echo(opcode, payload) {
    const want = this.messages.length + 1;
    this.send(opcode, payload);
    await this.waitFor(() => this.messages.length >= want, `echo of ${payload.length} bytes`);
    const [op, data] = this.messages[want - 1];
    check(op === opcode, `echo opcode ${op}, sent ${opcode}`);
    check(data.equals(payload), `echo of ${payload.length} bytes differs (${data.length} back)`);
  }

  async ping(payload) {
    this.req.write(clientFrame(OP.PING, payload));
    await this.waitFor(() => this.controls.some(([op, p]) => op === OP.PONG && p.equals(payload)), 'pong');
  }

  // Clean close: our close, the server's echo of it, then its END_STREAM.
  async close(code, reason = '') {
    const body = Buffer.alloc(2 + Buffer.byteLength(reason));
    body.writeUInt16BE(code, 0);
    body.write(reason, 2);
    this.req.write(clientFrame(OP.CLOSE, body));
    await this.waitFor(() => this.controls.some(([op]) => op === OP.CLOSE), 'close reply');
    const [, p] = this.controls.find(([op]) => op === OP.CLOSE);
    check(p.length >= 2 && p.readUInt16BE(0) === code, `close reply ${p.toString('hex')}, sent ${code}`);
    await this.waitFor(() => this.ended, 'END_STREAM after the close');
    this.req.end();
    await this.waitFor(() => this.closed || this.ended, 'stream end');
    check(this.req.rstCode === undefined || this.req.rstCode === 0,
      `stream ended with RST_STREAM ${this.req.rstCode}`);
  }
}

async function connect(port, ca) {
  const url = ca ? `https://127.0.0.1:${port}` : `http://127.0.0.1:${port}`;
  const session = http2.connect(url, ca ? { ca: fs.readFileSync(ca) } : {});
  session.on('error', () => {});
  const settings = await new Promise((resolve, reject) => {
    session.once('remoteSettings', resolve);
    session.once('error', reject);
  });
  check(settings.enableConnectProtocol === true,
    `SETTINGS_ENABLE_CONNECT_PROTOCOL missing: ${JSON.stringify(settings)}`);
  if (ca) check(session.alpnProtocol === 'h2', `ALPN chose ${session.alpnProtocol}`);
  session.scheme = ca ? 'https' : 'http';
  session.port = port;
  return session;
}

let nextId = 0;
async function openWs(session, wsPath, deflate) {
  const headers = {
    ':method': 'CONNECT', ':protocol': 'websocket', ':path': wsPath,
    ':scheme': session.scheme, ':authority': `127.0.0.1:${session.port}`,
    'sec-websocket-version': '13',
  };
  if (deflate) headers['sec-websocket-extensions'] = DEFLATE_OFFER;
  const ws = new WsStream(session.request(headers), ++nextId);
  await ws.waitFor(() => ws.status !== null, 'response to CONNECT', 10000);
  check(ws.status === 200, `CONNECT answered ${ws.status}`);
  check(!('sec-websocket-accept' in ws.headers), 'RFC 8441 5: no sec-websocket-accept over HTTP/2');
  ws.deflate = /^permessage-deflate/.test(ws.headers['sec-websocket-extensions'] || '');
  check(ws.deflate === deflate, `permessage-deflate ${ws.deflate}, offered ${deflate}: ${JSON.stringify(ws.headers)}`);
  return ws;
}

function get(session, p) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': p });
    const parts = [];
    let status = null;
    req.on('response', (h) => { status = h[':status']; });
    req.on('data', (d) => parts.push(d));
    req.on('end', () => resolve({ status, body: Buffer.concat(parts) }));
    req.on('error', reject);
    req.end();
  });
}

function textOf(n) {
  const unit = Buffer.from('h\u00e9\u2713\u{1f600}'); // 1 + 2 + 3 + 4 bytes
  const out = Buffer.alloc(n, 0x61);
  for (let i = 0; i + unit.length <= n; i += unit.length) unit.copy(out, i);
  return out;
}

async function basic(port, ca, deflate, what) {
  const session = await connect(port, ca);
  try {
    const ws = await openWs(session, '/echo', deflate);
    for (const n of SIZES) {
      await ws.echo(OP.TEXT, textOf(n));
      await ws.echo(OP.BINARY, crypto.randomBytes(n));
    }
    console.log(`${what}: text and binary ${SIZES.join(', ')} bytes echoed`);
    await ws.ping(Buffer.from('are you there'));
    await ws.ping(Buffer.alloc(0));
    await ws.close(1000, 'done');
    const ws2 = await openWs(session, '/second', deflate);
    await ws2.echo(OP.TEXT, Buffer.from('again'));
    await ws2.close(4000, 'custom');
    console.log(`${what}: ping, close 1000 and 4000 ok`);
  } finally {
    session.close();
  }
}

async function concurrent(port, ca, deflate, what) {
  const session = await connect(port, ca);
  try {
    const streams = await Promise.all([0, 1, 2, 3].map((i) => openWs(session, `/s${i}`, deflate)));
    const page = get(session, '/');
    const missing = get(session, '/nothing-here');
    // Every stream sends before any echo is awaited.
    const sent = streams.map((ws, i) => [crypto.randomBytes(100000 + i), textOf(3000 + i)]);
    streams.forEach((ws, i) => { ws.send(OP.BINARY, sent[i][0]); ws.send(OP.TEXT, sent[i][1]); });
    await Promise.all(streams.map((ws) => ws.waitFor(() => ws.messages.length >= 2, 'two echoes')));
    streams.forEach((ws, i) => {
      check(ws.messages[0][1].equals(sent[i][0]) && ws.messages[1][1].equals(sent[i][1]),
        `stream ${i} echoed other bytes`);
    });
    const p = await page;
    check(p.status === 200 && /WebSocket/.test(p.body.toString()), `GET / gave ${p.status}`);
    check((await missing).status === 404, 'GET /nothing-here is not 404');
    await Promise.all(streams.map((ws, i) => ws.close(i % 2 ? 4000 : 1000)));
    console.log(`${what}: ${streams.length} WebSocket streams, GET / and a 404 on one connection ok`);
  } finally {
    session.close();
  }
}

main(async () => {
  const [server, makeCa] = process.argv.slice(2);
  check(server && makeCa, 'usage: test_h2_node.js H2_ECHO_SERVER|NOT-BUILT MAKE_TEST_CA');
  if (server === 'NOT-BUILT') {
    console.log('test_h2_node: not run: h2_echo_server is not in this build (needs libnghttp2-dev and libssl-dev)');
    process.exit(77);
  }
  const caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsp-h2-node-'));
  try {
    execFileSync('bash', [makeCa, caDir]);
    const h2c = await startServer(server);
    try {
      await basic(h2c.port, null, false, 'h2c');
      await basic(h2c.port, null, true, 'h2c deflate');
      await concurrent(h2c.port, null, false, 'h2c');
      await concurrent(h2c.port, null, true, 'h2c deflate');
    } finally {
      await h2c.stop();
    }
    const tls = await startServer(server, ['--tls-cert', path.join(caDir, 'server.pem'),
      '--tls-key', path.join(caDir, 'server.key')]);
    try {
      const ca = path.join(caDir, 'ca.pem');
      await basic(tls.port, ca, false, 'h2 over TLS');
      await basic(tls.port, ca, true, 'h2 over TLS, deflate');
      await concurrent(tls.port, ca, true, 'h2 over TLS');
    } finally {
      await tls.stop();
    }
    const log = h2c.log.join('') + tls.log.join('');
    check(/ws over h2 stream \d+ path=\/echo outcome=closed close_in=1000/.test(log),
      `no clean close in the server log:\n${log}`);
    check(/ws over h2 stream \d+ \(tls\) path=\/second outcome=closed close_in=4000/.test(log),
      `no 4000 close over TLS in the server log:\n${log}`);
  } finally {
    fs.rmSync(caDir, { recursive: true, force: true });
  }
});
