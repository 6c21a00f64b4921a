'use strict';
// Interop with the Node `ws` library: as a client against echo_server and as
// a server against echo_client.
// usage: node test_node_ws.js ECHO_SERVER ECHO_CLIENT
const crypto = require('crypto');
const { requireDep, check, startServer, runClient, SIZES, main } = require('./common');

const { WebSocket, WebSocketServer } = requireDep('ws');

const CLOSE_CODES = [1000, 1001, 3000, 4999];

// Wraps a ws socket so messages can be awaited one at a time, in order.
function inbox(ws) {
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const msg = { data: Buffer.from(data), isBinary };
    if (waiters.length) waiters.shift().resolve(msg);
    else queue.push(msg);
  });
  ws.on('close', () => {
    while (waiters.length) waiters.shift().reject(new Error('closed while waiting'));
  });
  return () => new Promise((resolve, reject) => {
    if (queue.length) resolve(queue.shift());
    else waiters.push({ resolve, reject });
  });
}

function open(url, protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 0 });
    const next = inbox(ws);
    ws.once('open', () => resolve({ ws, next }));
    ws.once('error', reject);
  });
}

function closed(ws) {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

function pingPong(ws, payload) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no pong')), 5000);
    ws.once('pong', (data) => { clearTimeout(t); resolve(Buffer.from(data)); });
    ws.ping(payload);
  });
}

async function clientSide(url) {
  const { ws, next } = await open(`${url}/node`);
  for (const size of SIZES) {
    const text = 'n'.repeat(size);
    ws.send(text);
    let m = await next();
    check(!m.isBinary && m.data.toString() === text, `text echo of ${size} bytes differs`);
    const bin = crypto.randomBytes(size);
    ws.send(bin);
    m = await next();
    check(m.isBinary && m.data.equals(bin), `binary echo of ${size} bytes differs`);
  }
  console.log(`client: text and binary ${SIZES} bytes ok`);

  // A fragmented message (fin: false pieces) comes back as one message.
  ws.send('frag', { fin: false });
  ws.send('mented', { fin: false });
  ws.send(' text', { fin: true });
  let m = await next();
  check(m.data.toString() === 'fragmented text', `fragmented echo: ${m.data}`);
  const utf8 = 'h\u00e9llo \u2713 \u{1F389}';
  ws.send(utf8);
  m = await next();
  check(m.data.toString() === utf8, 'UTF-8 echo differs');
  for (const p of [Buffer.alloc(0), Buffer.from('ping-data'), crypto.randomBytes(125)]) {
    const got = await pingPong(ws, p);
    check(got.equals(p), 'pong payload differs from ping');
  }
  const done = closed(ws);
  ws.close(1000, 'bye');
  check((await done).code === 1000, 'close 1000 not answered');
  console.log('client: fragments, UTF-8, pings ok');

  for (const code of CLOSE_CODES) {
    const c = await open(`${url}/close`);
    c.ws.send('before close');
    check((await c.next()).data.toString() === 'before close', 'echo before close');
    const d = closed(c.ws);
    c.ws.close(code, `bye ${code}`);
    const r = await d;
    check(r.code === code, `sent close ${code}, server answered ${r.code}`);
  }
  // A close frame without a code is answered without one (seen as 1005).
  const c = await open(`${url}/close`);
  const d = closed(c.ws);
  c.ws.close();
  check((await d).code === 1005, 'empty close not answered with an empty close');
  console.log(`client: close codes ${CLOSE_CODES} and an empty close ok`);
}

async function serverSide(clientBin) {
  const results = {};
  const handlers = [];
  const wss = new WebSocketServer({
    host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 0,
    handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
  });
  await new Promise((r) => wss.once('listening', r));
  const base = `ws://127.0.0.1:${wss.address().port}`;

  wss.on('connection', (ws, req) => {
    const next = inbox(ws);
    const path = req.url;
    const run = async () => {
      if (path.startsWith('/echo-all')) {
        results.header = req.headers['x-interop'];
        results.protocol = ws.protocol;
        for (const size of SIZES) {
          for (const msg of ['y'.repeat(size), crypto.randomBytes(size)]) {
            ws.send(msg);
            const got = await next();
            const isBin = Buffer.isBuffer(msg);
            check(got.isBinary === isBin && got.data.equals(Buffer.from(msg)),
              `echo_client echo of ${size} bytes differs`);
          }
        }
        ws.send('frag', { fin: false });
        ws.send('mented', { fin: true });
        check((await next()).data.toString() === 'fragmented', 'fragmented echo differs');
        for (const p of [Buffer.alloc(0), Buffer.from('abc'), crypto.randomBytes(125)]) {
          check((await pingPong(ws, p)).equals(p), 'pong payload differs');
        }
        const d = closed(ws);
        ws.close(1000, 'done');
        results['echo-all'] = (await d).code;
      } else if (path.startsWith('/close/')) {
        const code = Number(path.split('/')[2]);
        ws.send('hello');
        check((await next()).data.toString() === 'hello', 'echo before close');
        const d = closed(ws);
        ws.close(code, `closing with ${code}`);
        results[`close/${code}`] = (await d).code;
      } else {
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
        const d = await closed(ws);
        results.echoClose = d.code;
      }
    };
    handlers.push(run().catch((e) => { results.error = e; ws.terminate(); }));
  });
  // The client may exit before the server side sees the TCP close.
  const settle = async () => {
    await Promise.all(handlers.splice(0));
  };

  try {
    let r = await runClient(clientBin, ['--echo', '--subprotocol', 'chat',
      '--header', 'X-Interop: yes', `${base}/echo-all`]);
    await settle();
    check(r.code === 0, `--echo run failed: ${r.code} ${r.stderr}`);
    check(!results.error, `server side: ${results.error}`);
    check(results['echo-all'] === 1000, `close reply: ${results['echo-all']}`);
    check(results.header === 'yes', 'extra header not received');
    check(results.protocol === 'chat', `subprotocol: ${results.protocol}`);
    console.log('server: echo_client --echo handled every size, fragments, pings, subprotocol, header');

    for (const code of CLOSE_CODES) {
      r = await runClient(clientBin, ['--echo', `${base}/close/${code}`]);
      await settle();
      check(r.code === 0, `close ${code}: exit ${r.code} ${r.stderr}`);
      check(results[`close/${code}`] === code, `close ${code} answered with ${results[`close/${code}`]}`);
    }
    r = await runClient(clientBin, ['--echo', `${base}/close/1011`]);
    check(r.code === 6 && r.stderr.includes('1011'), `close 1011: ${r.code} ${r.stderr}`);
    console.log('server: close codes ok');

    r = await runClient(clientBin, [`${base}/echo`, 'one', 'two words']);
    await settle();
    check(r.code === 0 && r.stdout === 'one\ntwo words\n', `message mode: ${r.code} ${r.stdout} ${r.stderr}`);
    check(results.echoClose === 1000, `client close code: ${results.echoClose}`);
    r = await runClient(clientBin, [`${base}/echo`], 'alpha\nbeta\n');
    check(r.code === 0 && r.stdout === 'alpha\nbeta\n', `stdin mode: ${r.code} ${r.stdout} ${r.stderr}`);
    console.log('server: message and stdin modes ok');
  } finally {
    await new Promise((res) => wss.close(res));
    for (const c of wss.clients) c.terminate();
  }
}

main(async () => {
  const [serverBin, clientBin] = process.argv.slice(2);
  check(serverBin && clientBin, 'usage: test_node_ws.js ECHO_SERVER ECHO_CLIENT');
  const srv = await startServer(serverBin);
  try {
    await clientSide(srv.url);
    check(srv.proc.exitCode === null, 'echo_server died');
  } finally {
    await srv.stop();
  }
  await serverSide(clientBin);
});
