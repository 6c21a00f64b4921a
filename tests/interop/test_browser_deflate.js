'use strict';
// Headless Chromium and permessage-deflate: the echo page's own WebSocket
// negotiates the extension (the handshake headers, read through the
// DevTools protocol, are printed and checked), and a WebSocket opened in the
// page reports it in ws.extensions and echoes compressible and random
// messages exactly. Against echo_server --no-deflate, ws.extensions is
// empty.
// usage: node test_browser_deflate.js ECHO_SERVER
const { check, startServer, main } = require('./common');
const { launch } = require('./chromium');

// In the page: open a WebSocket, send each message, compare each echo.
async function pageEcho(page) {
  return page.evaluate(() => new Promise((resolve) => {
    const ws = new WebSocket(`ws://${location.host}/deflate`);
    ws.binaryType = 'arraybuffer';
    const text = 'permessage-deflate from the browser '.repeat(30000);
    const random = new Uint8Array(200000);
    for (let i = 0; i < random.length; i += 65536) {
      crypto.getRandomValues(random.subarray(i, Math.min(i + 65536, random.length)));
    }
    const msgs = ['', 'short', text, random];
    const results = [];
    let i = 0;
    const equal = (a, b) => {
      if (typeof b === 'string') return a === b;
      if (!(a instanceof ArrayBuffer) || a.byteLength !== b.length) return false;
      const v = new Uint8Array(a);
      for (let k = 0; k < v.length; k++) if (v[k] !== b[k]) return false;
      return true;
    };
    ws.onopen = () => ws.send(msgs[0]);
    ws.onmessage = (e) => {
      results.push(equal(e.data, msgs[i]));
      i += 1;
      if (i < msgs.length) ws.send(msgs[i]);
      else ws.close(1000, 'done');
    };
    ws.onclose = (e) => resolve({ extensions: ws.extensions, results, code: e.code, clean: e.wasClean });
    ws.onerror = () => results.push('error');
  }));
}

async function run(serverBin, extra) {
  const srv = await startServer(serverBin, extra);
  let browser;
  const out = {};
  try {
    browser = await launch({ width: 900, height: 600 });
    const { page } = browser;
    // The WebSocket handshake as the browser saw it.
    const handshakes = [];
    page.on('Network.webSocketWillSendHandshakeRequest', (e) => {
      handshakes.push({ id: e.requestId, request: e.request.headers });
    });
    page.on('Network.webSocketHandshakeResponseReceived', (e) => {
      const h = handshakes.find((x) => x.id === e.requestId);
      if (h) h.response = e.response;
    });
    const header = (headers, name) => {
      const key = Object.keys(headers || {}).find((k) => k.toLowerCase() === name);
      return key === undefined ? null : headers[key];
    };

    const status = await page.goto(`http://127.0.0.1:${srv.port}/`, 20000);
    check(status === 200, `GET / answered ${status}`);
    await page.waitFor(
      () => document.getElementById('output').innerText.includes('DISCONNECTED'), [], 20000);
    const lines = await page.evaluate(
      () => Array.from(document.querySelectorAll('#output p')).map((p) => p.textContent));
    check(lines.includes('RESPONSE: WebSocket rocks'), `echo page shows ${JSON.stringify(lines)}`);
    check(handshakes.length === 1 && handshakes[0].response,
      `expected one WebSocket handshake, saw ${JSON.stringify(handshakes)}`);
    const hs = handshakes[0];
    out.offer = header(hs.request, 'sec-websocket-extensions');
    out.status = hs.response.status;
    out.answer = header(hs.response.headers, 'sec-websocket-extensions');
    out.echo = await pageEcho(page);
    const thrown = page.errors.filter((e) => e.startsWith('exception:'));
    check(thrown.length === 0, `page errors: ${thrown.join('; ')}`);
  } finally {
    if (browser) await browser.close();
    await srv.stop();
  }
  // Chromium may open a spare connection it never sends a request on
  // (path=-); every WebSocket must have closed cleanly.
  const bad = srv.log.join('').split('\n').filter((l) => /outcome=/.test(l) &&
    !/outcome=(closed|page)/.test(l) && !/path=- outcome=dropped messages=0/.test(l));
  check(bad.length === 0, `echo_server logged failed connections:\n${bad.join('\n')}`);
  return out;
}

main(async () => {
  const [serverBin] = process.argv.slice(2);
  check(serverBin, 'usage: test_browser_deflate.js ECHO_SERVER');

  const on = await run(serverBin, []);
  console.log(`echo page offered:  Sec-WebSocket-Extensions: ${on.offer}`);
  console.log(`echo_server (${on.status}): Sec-WebSocket-Extensions: ${on.answer}`);
  console.log(`page WebSocket: ws.extensions = "${on.echo.extensions}", echoes ${JSON.stringify(on.echo.results)}`);
  check(on.status === 101, `handshake status ${on.status}`);
  check(/permessage-deflate/.test(on.offer || ''), `Chromium did not offer permessage-deflate: ${on.offer}`);
  check(/^permessage-deflate(;|$)/.test(on.answer || ''),
    `echo_server did not answer permessage-deflate: ${on.answer}`);
  check(/^permessage-deflate(;|$)/.test(on.echo.extensions),
    `ws.extensions in the page is "${on.echo.extensions}"`);
  check(JSON.stringify(on.echo.results) === '[true,true,true,true]' && on.echo.code === 1000 && on.echo.clean,
    `compressed echoes in the page: ${JSON.stringify(on.echo)}`);

  const off = await run(serverBin, ['--no-deflate']);
  console.log(`echo_server --no-deflate: Sec-WebSocket-Extensions: ${off.answer}; ws.extensions = "${off.echo.extensions}"`);
  check(off.answer === null, `--no-deflate server answered ${off.answer}`);
  check(off.echo.extensions === '', `--no-deflate: ws.extensions is "${off.echo.extensions}"`);
  check(JSON.stringify(off.echo.results) === '[true,true,true,true]' && off.echo.code === 1000,
    `uncompressed echoes in the page: ${JSON.stringify(off.echo)}`);
});
