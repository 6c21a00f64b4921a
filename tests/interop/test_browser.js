'use strict';
// Headless Chromium loads echo_server's "/" page, which opens a WebSocket
// back to the server, sends "WebSocket rocks", shows the echo and closes.
// usage: node test_browser.js ECHO_SERVER SCREENSHOT.png
const fs = require('fs');
const os = require('os');
const path = require('path');
const { requireDep, check, startServer, main } = require('./common');

const { chromium } = requireDep('playwright-core');

const CHROMIUM = process.env.WSPROTO_CHROMIUM || '/usr/bin/chromium';

main(async () => {
  const [serverBin, shotPath] = process.argv.slice(2);
  check(serverBin && shotPath, 'usage: test_browser.js ECHO_SERVER SCREENSHOT.png');
  check(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}; run tests/interop/install-deps.sh`);

  const srv = await startServer(serverBin);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wsproto-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
        '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
      viewport: { width: 900, height: 600 },
      timeout: 30000,
    });
    const page = context.pages()[0] || await context.newPage();
    const consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));

    const url = `http://127.0.0.1:${srv.port}/`;
    const resp = await page.goto(url, { waitUntil: 'load', timeout: 20000 });
    check(resp && resp.status() === 200, `GET / answered ${resp && resp.status()}`);
    await page.waitForFunction(
      () => document.getElementById('output').innerText.includes('DISCONNECTED'),
      null, { timeout: 20000 });

    const lines = await page.$$eval('#output p', (ps) => ps.map((p) => ({
      text: p.textContent, cls: p.className, color: getComputedStyle(p).color,
    })));
    console.log(lines.map((l) => `  ${l.text}`).join('\n'));
    const texts = lines.map((l) => l.text);
    const expect = ['CONNECTED', 'SENT: WebSocket rocks', 'RESPONSE: WebSocket rocks', 'DISCONNECTED'];
    check(JSON.stringify(texts) === JSON.stringify(expect),
      `page shows ${JSON.stringify(texts)}, expected ${JSON.stringify(expect)}`);
    const response = lines[2];
    check(response.color === 'rgb(0, 0, 255)', `RESPONSE is not blue: ${response.color}`);
    check(!lines.some((l) => l.cls === 'error'), 'page shows an error');
    check(consoleErrors.length === 0, `console errors: ${consoleErrors.join('; ')}`);

    fs.mkdirSync(path.dirname(path.resolve(shotPath)), { recursive: true });
    await page.screenshot({ path: shotPath, fullPage: true });
    console.log(`screenshot: ${shotPath}`);

    // The input box opens a new connection that stays open for more.
    for (const msg of ['typed \u00e9\u2713', 'second typed']) {
      await page.fill('#message', msg);
      await page.click('button[type=submit]');
      await page.waitForFunction((m) => document.getElementById('output').innerText
        .includes(`RESPONSE: ${m}`), msg, { timeout: 10000 });
    }
    await page.click('#disconnect');
    await page.waitForFunction(() => document.querySelectorAll('#output p').length >= 10,
      null, { timeout: 10000 });
    const more = await page.$$eval('#output p', (ps) => ps.slice(4).map((p) => p.textContent));
    const expectMore = ['CONNECTED', 'SENT: typed \u00e9\u2713', 'RESPONSE: typed \u00e9\u2713',
      'SENT: second typed', 'RESPONSE: second typed', 'DISCONNECTED'];
    check(JSON.stringify(more) === JSON.stringify(expectMore),
      `input box: ${JSON.stringify(more)}`);
    check(!(await page.$('#output p.error')), 'input box run shows an error');
    check(consoleErrors.length === 0, `console errors: ${consoleErrors.join('; ')}`);
  } finally {
    if (context) await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
    await srv.stop();
  }
  // The server logs one line per connection: the page load and the
  // WebSocket, which must have ended with a clean close.
  const log = srv.log.join('');
  check(/outcome=page/.test(log), `no page load in the server log:\n${log}`);
  check(/outcome=closed close_in=1000/.test(log), `no clean WebSocket close in the server log:\n${log}`);
});
