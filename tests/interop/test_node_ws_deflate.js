'use strict';
// permessage-deflate interop with Node's ws: its client against echo_server
// and its server against echo_client, under several perMessageDeflate
// settings (context takeover, window bits 8..15, threshold 0 so every
// message is compressed). Checks the negotiated Sec-WebSocket-Extensions
// header, exact echoes of 0 bytes to 16 MiB (compressible, random, and
// repeated random blocks), and the bytes read from the socket, which show
// that compressible messages travel compressed.
// usage: node test_node_ws_deflate.js ECHO_SERVER ECHO_CLIENT
const crypto = require('crypto');
const { requireDep, check, startServer, runClient, main } = require('./common');

const WebSocket = requireDep('ws');

const MiB = 1024 * 1024;
const ALL_SIZES = [0, 1, 125, 126, 1000, 65535, 65536, MiB, 16 * MiB];
const SHORT_SIZES = [0, 1, 125, 126, 1000, 65535, 65536, 300000];

function messages(sizes) {
  const out = [];
  for (const size of sizes) {
    const text = `permessage-deflate ${size} `.repeat(Math.ceil(size / 20) + 1).slice(0, size);
    out.push({ kind: 'compressible', data: text, binary: false });
    out.push({ kind: 'random', data: crypto.randomBytes(size), binary: true });
    if (size >= 2000) {
      for (const block of [200, 1000]) {
        const b = crypto.randomBytes(block);
        const data = Buffer.alloc(size);
        for (let i = 0; i < size; i += block) b.copy(data, i, 0, Math.min(block, size - i));
        out.push({ kind: `block${block}`, data, binary: true });
      }
    }
  }
  return out;
}

function same(got, isBinary, msg) {
  if (isBinary !== msg.binary) return false;
  return msg.binary ? Buffer.from(got).equals(msg.data) : got.toString() === msg.data;
}

// Sends every message on ws and waits for each echo (ws as a client or as
// the server's end of the connection).
function echoAll(ws, msgs, what) {
  return new Promise((resolve, reject) => {
    let i = 0;
    const done = (err) => {
      ws.removeListener('message', onMessage);
      ws.removeListener('close', onClose);
      ws.removeListener('error', done);
      if (err) reject(err); else resolve();
    };
    const next = () => {
      if (i === msgs.length) { done(); return; }
      ws.send(msgs[i].data, { binary: msgs[i].binary });
    };
    const onMessage = (data, isBinary) => {
      if (!same(data, isBinary, msgs[i])) {
        done(new Error(`${what}: echo of ${msgs[i].data.length} bytes (${msgs[i].kind}) differs`));
        return;
      }
      i += 1;
      next();
    };
    const onClose = (code) => done(new Error(`${what}: closed with ${code} after ${i} echoes`));
    ws.on('message', onMessage);
    ws.on('close', onClose);
    ws.on('error', done);
    next();
  });
}

// ---------------------------------------------------------------------------
// ws client -> echo_server
// ---------------------------------------------------------------------------
const CLIENT_CASES = [
  [true, 'permessage-deflate', ALL_SIZES],
  [{ threshold: 0 }, 'permessage-deflate', ALL_SIZES],
  [{ threshold: 0, serverNoContextTakeover: true },
    'permessage-deflate; server_no_context_takeover', SHORT_SIZES],
  [{ threshold: 0, clientNoContextTakeover: true },
    'permessage-deflate; client_no_context_takeover', SHORT_SIZES],
  // Asking echo_server for 8 bits: a 9-bit zlib window fits in them.
  [{ threshold: 0, serverMaxWindowBits: 8 },
    'permessage-deflate; server_max_window_bits=8', SHORT_SIZES],
  [{ threshold: 0, serverMaxWindowBits: 9 },
    'permessage-deflate; server_max_window_bits=9', SHORT_SIZES],
  // A client limiting itself to 8 bits (zlib makes 9-bit streams whose
  // back-references stay within 256 bytes) and to 9.
  [{ threshold: 0, clientMaxWindowBits: 8 },
    'permessage-deflate; client_max_window_bits=8', SHORT_SIZES],
  [{ threshold: 0, clientMaxWindowBits: 9 },
    'permessage-deflate; client_max_window_bits=9', SHORT_SIZES],
  [{ threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true,
    serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
  'permessage-deflate; server_no_context_takeover; client_no_context_takeover; ' +
    'server_max_window_bits=10; client_max_window_bits=11', SHORT_SIZES],
];

function connect(url, pmd) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: pmd, maxPayload: 0 });
    let header = null;
    let socket = null;
    ws.on('upgrade', (res) => {
      header = res.headers['sec-websocket-extensions'];
      socket = res.socket;
    });
    ws.once('open', () => resolve({ ws, header, socket }));
    ws.once('error', reject);
  });
}

function closed(ws) {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve(ws._closeCode);
    else ws.once('close', (code) => resolve(code));
  });
}

async function clientSide(serverBin) {
  const srv = await startServer(serverBin);
  try {
    for (const [pmd, want, sizes] of CLIENT_CASES) {
      const what = JSON.stringify(pmd);
      const { ws, header } = await connect(`${srv.url}/node-deflate`, pmd);
      check(header === want, `${what}: server answered ${header}, expected ${want}`);
      check(ws.extensions === 'permessage-deflate', `${what}: ws.extensions is ${ws.extensions}`);
      await echoAll(ws, messages(sizes), what);
      ws.close(1000, 'done');
      const code = await closed(ws);
      check(code === 1000, `${what}: close ${code}`);
      console.log(`client ${what}: ${header}; echoes of ${sizes} bytes exact`);
    }

    // 16 MiB of text comes back in a small fraction of its size.
    const { ws, header, socket } = await connect(`${srv.url}/wire`, { threshold: 0 });
    check(header === 'permessage-deflate', `wire: ${header}`);
    const text = 'compress me, echo me '.repeat(Math.floor(16 * MiB / 21));
    await echoAll(ws, [{ kind: 'text', data: text, binary: false }], 'wire');
    const read = socket.bytesRead;
    const written = socket.bytesWritten;
    ws.close(1000);
    await closed(ws);
    check(read < MiB && written < MiB,
      `16 MiB of text took ${written} bytes up, ${read} down: not compressed`);
    console.log(`wire: ${text.length} bytes of text echoed with ${written} bytes up, ${read} down`);
  } finally {
    await srv.stop();
  }
  const bad = srv.log.join('').split('\n').filter((l) => /outcome=/.test(l) && !/outcome=closed/.test(l));
  check(bad.length === 0, `echo_server logged failed connections:\n${bad.join('\n')}`);
}

// ---------------------------------------------------------------------------
// ws server -> echo_client
// ---------------------------------------------------------------------------
const SERVER_CASES = [
  [true, 'permessage-deflate', ALL_SIZES],
  [{ threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true },
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover', ALL_SIZES],
  // The server asks echo_client for 8 bits (a 9-bit zlib window fits) or 9.
  [{ threshold: 0, clientMaxWindowBits: 8 },
    'permessage-deflate; client_max_window_bits=8', SHORT_SIZES],
  [{ threshold: 0, clientMaxWindowBits: 9 },
    'permessage-deflate; client_max_window_bits=9', SHORT_SIZES],
  // The server announces 8 or 9 bits of its own, unasked.
  [{ threshold: 0, serverMaxWindowBits: 8 },
    'permessage-deflate; server_max_window_bits=8', SHORT_SIZES],
  [{ threshold: 0, serverMaxWindowBits: 9 },
    'permessage-deflate; server_max_window_bits=9', SHORT_SIZES],
  [{ threshold: 0, serverNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 10 },
    // (ws writes the parameters in this order)
    'permessage-deflate; client_max_window_bits=10; server_no_context_takeover; ' +
    'server_max_window_bits=12', SHORT_SIZES],
];

async function withServer(pmd, onConnection, fn) {
  const wss = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: pmd, maxPayload: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  const seen = { header: null, done: null };
  wss.on('headers', (lines) => {
    const h = lines.find((l) => /^sec-websocket-extensions:/i.test(l));
    seen.header = h ? h.replace(/^[^:]*:\s*/, '') : null;
  });
  wss.on('connection', (ws, req) => { seen.done = onConnection(ws, req); });
  try {
    return await fn(`ws://127.0.0.1:${wss.address().port}`, seen);
  } finally {
    for (const c of wss.clients) c.terminate();
    await new Promise((resolve) => wss.close(resolve));
  }
}

async function serverSide(clientBin) {
  for (const [pmd, want, sizes] of SERVER_CASES) {
    const what = JSON.stringify(pmd);
    await withServer(pmd, async (ws) => {
      check(ws.extensions === 'permessage-deflate', `${what}: ws.extensions ${ws.extensions}`);
      await echoAll(ws, messages(sizes), what);
      ws.close(1000, 'done');
    }, async (url, seen) => {
      const r = await runClient(clientBin, ['--echo', `${url}/case`]);
      check(seen.done, `${what}: no connection`);
      await seen.done;
      check(r.code === 0, `${what}: echo_client exit ${r.code}: ${r.stderr}`);
      check(seen.header === want, `${what}: answered ${seen.header}, expected ${want}`);
      console.log(`server ${what}: ${seen.header}; echo_client echoed ${sizes} bytes exactly`);
    });
  }

  // Bytes echo_client receives and sends: the server's 16 MiB of text is
  // compressed; echo_client's echoes under 2 KiB are compressed too (larger
  // ones it writes with wsp_conn_send_zerocopy, which never compresses).
  await withServer({ threshold: 0 }, async (ws, req) => {
    const text = 'compress me, echo me '.repeat(Math.floor(16 * MiB / 21));
    await echoAll(ws, [{ kind: 'text', data: text, binary: false }], 'wire');
    const big = req.socket.bytesWritten;
    const small = [];
    for (let i = 0; i < 300; i++) {
      small.push({ kind: 'small', data: `message ${i} of small compressible text; `.repeat(40).slice(0, 1500), binary: false });
    }
    const before = req.socket.bytesRead;
    await echoAll(ws, small, 'wire-small');
    const up = req.socket.bytesRead - before;
    ws.close(1000);
    return { big, up };
  }, async (url, seen) => {
    const r = await runClient(clientBin, ['--echo', `${url}/wire`]);
    const { big, up } = await seen.done;
    check(r.code === 0, `wire: echo_client exit ${r.code}: ${r.stderr}`);
    check(big < MiB, `16 MiB of text took ${big} bytes down: not compressed`);
    check(up < 150000, `300 x 1500 bytes of text took ${up} bytes up: not compressed`);
    console.log(`wire: echo_client received 16 MiB of text in ${big} bytes; sent 300 x 1500 bytes in ${up}`);
  });

  // Message mode over a compressed connection, and --no-deflate.
  for (const noDeflate of [false, true]) {
    await withServer({ threshold: 0 }, (ws) => new Promise((resolve) => {
      ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary }));
      ws.on('close', () => resolve(ws.extensions));
    }), async (url, seen) => {
      const words = ['hello', '', 'h\u00e9llo w\u00f6rld \u2713', 'x'.repeat(5000)];
      const args = noDeflate ? ['--no-deflate'] : [];
      const r = await runClient(clientBin, [...args, `${url}/messages`, ...words]);
      check(r.code === 0 && r.stdout === words.map((w) => `${w}\n`).join(''),
        `message mode: ${r.code} ${r.stdout.slice(0, 80)} ${r.stderr}`);
      const ext = await seen.done;
      if (noDeflate) check(seen.header === null && ext === '', `--no-deflate: ${seen.header} ${ext}`);
      else check(seen.header === 'permessage-deflate' && ext === 'permessage-deflate', `messages: ${seen.header}`);
    });
  }
  console.log('server: echo_client message mode with and without deflate ok');
}

main(async () => {
  const [serverBin, clientBin] = process.argv.slice(2);
  check(serverBin && clientBin, 'usage: test_node_ws_deflate.js ECHO_SERVER ECHO_CLIENT');
  await clientSide(serverBin);
  await serverSide(clientBin);
});
