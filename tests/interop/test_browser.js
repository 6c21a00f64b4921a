'use strict';
// Headless Chromium loads echo_server's "/" page, which opens a WebSocket
// back to the server, sends "WebSocket rocks", shows the echo and closes.
// usage: node test_browser.js ECHO_SERVER SCREENSHOT.png
const { check, startServer, main } = require('./common');
const { launch } = require('./chromium');

// The page's output lines: text, class and the colour they are shown in.
function outputLines() {
  return Array.from(document.querySelectorAll('#output p')).map((p) => ({
    text: p.textContent, cls: p.className, color: getComputedStyle(p).color,
  }));
}

main(async () => {
  const [serverBin, shotPath] = process.argv.slice(2);
  check(serverBin && shotPath, 'usage: test_browser.js ECHO_SERVER SCREENSHOT.png');

  const srv = await startServer(serverBin);
  let browser;
  try {
    browser = await launch({ width: 900, height: 600 });
    const { page } = browser;

    const url = `http://127.0.0.1:${srv.port}/`;
    const status = await page.goto(url, 20000);
    check(status === 200, `GET / answered ${status}`);
    await page.waitFor(
      () => document.getElementById('output').innerText.includes('DISCONNECTED'), [], 20000);

    const lines = await page.evaluate(outputLines);
    console.log(lines.map((l) => `  ${l.text}`).join('\n'));
    const texts = lines.map((l) => l.text);
    const expect = ['CONNECTED', 'SENT: WebSocket rocks', 'RESPONSE: WebSocket rocks', 'DISCONNECTED'];
    check(JSON.stringify(texts) === JSON.stringify(expect),
      `page shows ${JSON.stringify(texts)}, expected ${JSON.stringify(expect)}`);
    const response = lines[2];
    check(response.color === 'rgb(0, 0, 255)', `RESPONSE is not blue: ${response.color}`);
    check(!lines.some((l) => l.cls === 'error'), 'page shows an error');
    check(page.errors.length === 0, `page errors: ${page.errors.join('; ')}`);

    await page.screenshot(shotPath);
    console.log(`screenshot: ${shotPath}`);

    // The input box opens a new connection that stays open for more.
    for (const msg of ['typed \u00e9\u2713', 'second typed']) {
      await page.fill('#message', msg);
      await page.click('button[type=submit]');
      await page.waitFor((m) => document.getElementById('output').innerText
        .includes(`RESPONSE: ${m}`), [msg], 10000);
    }
    await page.click('#disconnect');
    await page.waitFor(() => document.querySelectorAll('#output p').length >= 10, [], 10000);
    const more = (await page.evaluate(outputLines)).slice(4).map((l) => l.text);
    const expectMore = ['CONNECTED', 'SENT: typed \u00e9\u2713', 'RESPONSE: typed \u00e9\u2713',
      'SENT: second typed', 'RESPONSE: second typed', 'DISCONNECTED'];
    check(JSON.stringify(more) === JSON.stringify(expectMore),
      `input box: ${JSON.stringify(more)}`);
    check(!(await page.evaluate(() => document.querySelector('#output p.error') !== null)),
      'input box run shows an error');
    check(page.errors.length === 0, `page errors: ${page.errors.join('; ')}`);
  } finally {
    if (browser) await browser.close();
    await srv.stop();
  }
  // The server logs one line per connection: the page load and the
  // WebSocket, which must have ended with a clean close.
  const log = srv.log.join('');
  check(/outcome=page/.test(log), `no page load in the server log:\n${log}`);
  check(/outcome=closed close_in=1000/.test(log), `no clean WebSocket close in the server log:\n${log}`);
});
