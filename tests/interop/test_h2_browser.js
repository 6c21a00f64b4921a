'use strict';
// Headless Chromium loads the echo page from h2_echo_server over https
// (HTTP/2, ALPN h2); the page opens wss:// to the same origin, sends
// "WebSocket rocks", shows the echo and closes. The server speaks nothing
// but HTTP/2, and its log says how each WebSocket arrived: "ws over h2
// stream N" on the page's own connection is RFC 8441; a second TLS
// connection offering only http/1.1 is a browser that did not use it.
// The test profile alone ignores certificate errors (the certificate comes
// from a throwaway CA).
//
// usage: node test_h2_browser.js H2_ECHO_SERVER|NOT-BUILT MAKE_TEST_CA
// Exit status 77 (skipped) only when the server was not built.
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { check, startServer, main } = require('./common');
const { launch, CHROMIUM } = require('./chromium');

const EXPECTED = ['CONNECTED', 'SENT: WebSocket rocks', 'RESPONSE: WebSocket rocks', 'DISCONNECTED'];

main(async () => {
  const [server, makeCa] = process.argv.slice(2);
  check(server && makeCa, 'usage: test_h2_browser.js H2_ECHO_SERVER|NOT-BUILT MAKE_TEST_CA');
  if (server === 'NOT-BUILT') {
    console.log('test_h2_browser: not run: h2_echo_server is not in this build (needs libnghttp2-dev and libssl-dev)');
    process.exit(77);
  }
  const version = execFileSync(CHROMIUM, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] })
    .toString().trim();
  console.log(version);
  const caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsp-h2-browser-'));
  let srv;
  let browser;
  let lines = [];
  let docProtocol = null;
  try {
    execFileSync('bash', [makeCa, caDir]);
    srv = await startServer(server, ['--tls-cert', path.join(caDir, 'server.pem'),
      '--tls-key', path.join(caDir, 'server.key')]);
    browser = await launch({ extraArgs: ['--ignore-certificate-errors'] });
    const { page } = browser;
    page.on('Network.responseReceived', (e) => {
      if (e.type === 'Document') docProtocol = e.response.protocol;
    });
    const status = await page.goto(`https://127.0.0.1:${srv.port}/`, 20000);
    check(status === 200, `GET / answered ${status}`);
    await page.waitFor(
      () => document.getElementById('output').innerText.includes('DISCONNECTED'), [], 20000)
      .catch(() => {});
    lines = await page.evaluate(
      () => Array.from(document.querySelectorAll('#output p')).map((p) => p.textContent));
  } finally {
    if (browser) await browser.close();
    if (srv) await srv.stop();
    fs.rmSync(caDir, { recursive: true, force: true });
  }
  const log = srv.log.join('');
  console.log(lines.map((l) => `  ${l}`).join('\n'));
  console.log(`page loaded over ${docProtocol}; server log:\n${log}`);
  // Which connection carried what: the page stream and the WebSocket
  // stream name their connection by the client's address and port.
  const pagePeer = (/peer=(\S+) h2 stream \d+ path=\/ outcome=page/.exec(log) || [])[1];
  const ws = /peer=(\S+) ws over h2 stream (\d+) \(tls\) path=(\S+) outcome=(\S+) close_in=(\d+)/.exec(log);
  const refused = /peer=(\S+) conn transport=\S+ \(tls, alpn h2\) outcome=no-h2 .*alpn_offered=(\S+)/.exec(log);
  if (!ws) {
    throw new Error(`${version} did not open its WebSocket over HTTP/2 (RFC 8441)` +
      (refused ? `: it made a separate TLS connection offering ALPN ${refused[2]}` : '') +
      `; page shows ${JSON.stringify(lines)}`);
  }
  console.log(`RFC 8441: ${version} opened the WebSocket as stream ${ws[2]} of ` +
    `${ws[1] === pagePeer ? 'the page\'s own HTTP/2 connection' : `another HTTP/2 connection (${ws[1]}, page on ${pagePeer})`}`);
  check(docProtocol === 'h2', `page loaded over ${docProtocol}, not h2`);
  check(JSON.stringify(lines) === JSON.stringify(EXPECTED),
    `page shows ${JSON.stringify(lines)}, expected ${JSON.stringify(EXPECTED)}`);
  check(ws[4] === 'closed' && ws[5] === '1000', `WebSocket ended ${ws[4]} close_in=${ws[5]}`);
  check(ws[1] === pagePeer, 'the WebSocket did not share the page\'s HTTP/2 connection');
  check(!refused, `a connection offered only ${refused && refused[2]}`);
});
