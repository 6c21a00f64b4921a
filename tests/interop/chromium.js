'use strict';
// Drives Debian's Chromium over the DevTools protocol with nothing but a
// WebSocket client (Debian's node-ws): the browser is started headless with
// a debugging port the kernel picks, the test attaches to its first page and
// sends protocol commands (navigate, evaluate, input, screenshot). Only the
// few commands the browser tests need are wrapped here.
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { requireDep } = require('./common');

const WebSocket = requireDep('ws');

const CHROMIUM = process.env.WSPROTO_CHROMIUM || '/usr/bin/chromium';
const COMMAND_TIMEOUT_MS = 30000;

// One DevTools connection. Commands carry an id and are answered in any
// order; events are dispatched by method and session.
class Connection {
  constructor(ws) {
    this.ws = ws;
    this.nextId = 1;
    this.pending = new Map();
    this.handlers = new Map();
    this.closed = null;
    ws.on('message', (data) => this.dispatch(JSON.parse(data.toString())));
    ws.on('close', () => this.fail(new Error('DevTools connection closed')));
    ws.on('error', (e) => this.fail(e));
  }

  fail(err) {
    if (!this.closed) this.closed = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  dispatch(msg) {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result);
      return;
    }
    const key = `${msg.sessionId || ''}/${msg.method}`;
    for (const fn of this.handlers.get(key) || []) fn(msg.params);
  }

  send(method, params = {}, sessionId) {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer in ${COMMAND_TIMEOUT_MS} ms`));
      }, COMMAND_TIMEOUT_MS);
      const done = (fn) => (v) => { clearTimeout(timer); fn(v); };
      this.pending.set(id, { method, resolve: done(resolve), reject: done(reject) });
      this.ws.send(JSON.stringify(msg));
    });
  }

  on(method, fn, sessionId) {
    const key = `${sessionId || ''}/${method}`;
    if (!this.handlers.has(key)) this.handlers.set(key, []);
    this.handlers.get(key).push(fn);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Text of a console call or log entry, the way a person reading the
// console would see it.
function consoleText(args) {
  return args.map((a) => (a.value !== undefined ? String(a.value) : a.description || a.type)).join(' ');
}

// A page (tab) in flat session mode: every command carries its sessionId.
class Page {
  constructor(conn, sessionId) {
    this.conn = conn;
    this.sessionId = sessionId;
    // What the page reported as an error: console.error calls, uncaught
    // exceptions, and the browser's own error log entries (failed loads,
    // failed WebSocket connections).
    this.errors = [];
  }

  send(method, params) { return this.conn.send(method, params, this.sessionId); }

  on(method, fn) { this.conn.on(method, fn, this.sessionId); }

  async init(width, height) {
    this.on('Runtime.consoleAPICalled', (e) => {
      if (e.type === 'error') this.errors.push(`console.error: ${consoleText(e.args)}`);
    });
    this.on('Runtime.exceptionThrown', (e) => {
      const d = e.exceptionDetails;
      this.errors.push(`exception: ${(d.exception && d.exception.description) || d.text}`);
    });
    this.on('Log.entryAdded', (e) => {
      if (e.entry.level === 'error') this.errors.push(`log: ${e.entry.text} ${e.entry.url || ''}`.trim());
    });
    await Promise.all([this.send('Page.enable'), this.send('Runtime.enable'),
      this.send('Log.enable'), this.send('Network.enable')]);
    await this.send('Emulation.setDeviceMetricsOverride',
      { width, height, deviceScaleFactor: 1, mobile: false });
  }

  // Navigates and waits until the new document has loaded; answers its HTTP
  // status. Polling the document (not waiting for a load event) cannot be
  // fooled by the load of the blank page the browser started with.
  async goto(url, timeoutMs) {
    const statusByLoader = new Map();
    this.on('Network.responseReceived', (e) => {
      if (e.type === 'Document') statusByLoader.set(e.loaderId, e.response.status);
    });
    const nav = await this.send('Page.navigate', { url });
    if (nav.errorText) throw new Error(`navigating to ${url}: ${nav.errorText}`);
    const end = Date.now() + timeoutMs;
    for (;;) {
      let state = null;
      try {
        state = await this.evaluate(() => [location.href, document.readyState]);
      } catch (e) {
        // The old document's context went away mid-call: not loaded yet.
      }
      if (state && state[0] === url && state[1] === 'complete') break;
      if (Date.now() > end) throw new Error(`${url} did not load in ${timeoutMs} ms (${state})`);
      await sleep(50);
    }
    return statusByLoader.has(nav.loaderId) ? statusByLoader.get(nav.loaderId) : null;
  }

  // Runs fn(...args) in the page and answers its (awaited) result, which
  // must be JSON-serialisable. A throw in the page is a throw here.
  async evaluate(fn, ...args) {
    const expression = `(${fn.toString()})(...${JSON.stringify(args)})`;
    const r = await this.send('Runtime.evaluate',
      { expression, returnByValue: true, awaitPromise: true, userGesture: true });
    if (r.exceptionDetails) {
      const d = r.exceptionDetails;
      throw new Error(`in the page: ${(d.exception && d.exception.description) || d.text}`);
    }
    return r.result.value;
  }

  // Polls fn(...args) in the page until it is truthy.
  async waitFor(fn, args, timeoutMs) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (await this.evaluate(fn, ...args)) return;
      if (Date.now() > end) throw new Error(`page condition not met in ${timeoutMs} ms: ${fn}`);
      await sleep(50);
    }
  }

  // Types text into an input the way a user would: focus, select what is
  // there, insert the new text (which fires the input events).
  async fill(selector, text) {
    const found = await this.evaluate((sel) => {
      const el = document.querySelector(sel);
      if (!el) return false;
      el.focus();
      el.select();
      return true;
    }, selector);
    if (!found) throw new Error(`no element ${selector}`);
    await this.send('Input.insertText', { text });
  }

  // A real left click at the element's centre.
  async click(selector) {
    const box = await this.evaluate((sel) => {
      const el = document.querySelector(sel);
      if (!el) return null;
      el.scrollIntoView({ block: 'center' });
      const r = el.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    }, selector);
    if (!box) throw new Error(`no element ${selector}`);
    const mouse = { x: box.x, y: box.y, button: 'left', clickCount: 1 };
    await this.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x: box.x, y: box.y });
    await this.send('Input.dispatchMouseEvent', { type: 'mousePressed', ...mouse });
    await this.send('Input.dispatchMouseEvent', { type: 'mouseReleased', ...mouse });
  }

  // The whole page (not only the viewport) as a PNG file.
  async screenshot(file) {
    const m = await this.send('Page.getLayoutMetrics');
    const size = m.cssContentSize || m.contentSize;
    const shot = await this.send('Page.captureScreenshot', {
      format: 'png',
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: Math.ceil(size.width), height: Math.ceil(size.height), scale: 1 },
    });
    const png = Buffer.from(shot.data, 'base64');
    if (png.length < 8 || png.readUInt32BE(0) !== 0x89504e47) throw new Error('screenshot is not a PNG');
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(file, png);
  }
}

// Starts Chromium and answers { page, conn, close }. close() must be called
// (it also removes the throw-away profile). extraArgs are added to the
// command line (e.g. --ignore-certificate-errors for a test CA's server).
async function launch({ width = 900, height = 600, extraArgs = [] } = {}) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}; run tests/interop/install-deps.sh`);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wsproto-chromium-'));
  // --no-sandbox: the sandbox needs user namespaces or a setuid helper,
  // which root shells, containers and chroots do not give; the only page
  // loaded is the example's own, from loopback.
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--no-default-browser-check', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
    `--user-data-dir=${profile}`, '--remote-debugging-port=0',
    `--window-size=${width},${height}`, ...extraArgs, 'about:blank'];
  // Its own process group, so nothing it started outlives the test.
  const proc = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  let exited = null;
  const exit = new Promise((resolve) => proc.on('exit', (code, sig) => { exited = sig || code; resolve(); }));

  const killAll = () => {
    try { process.kill(-proc.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
  };
  const cleanup = async () => {
    // Also after a clean exit: a helper process may still be there.
    killAll();
    await exit;
    fs.rmSync(profile, { recursive: true, force: true });
  };

  let endpoint;
  try {
    endpoint = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Chromium gave no DevTools address in 30 s:\n${stderr}`)), 30000);
      proc.on('error', (e) => { clearTimeout(timer); reject(e); });
      proc.on('exit', () => { clearTimeout(timer); reject(new Error(`Chromium exited (${exited}):\n${stderr}`)); });
      proc.stderr.on('data', (d) => {
        stderr += d.toString();
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
    });
  } catch (e) {
    await cleanup();
    throw e;
  }

  let conn;
  try {
    const ws = new WebSocket(endpoint, { perMessageDeflate: false, maxPayload: 256 << 20 });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    conn = new Connection(ws);
    const { targetInfos } = await conn.send('Target.getTargets');
    let target = targetInfos.find((t) => t.type === 'page');
    if (!target) target = await conn.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await conn.send('Target.attachToTarget',
      { targetId: target.targetId, flatten: true });
    const page = new Page(conn, sessionId);
    await page.init(width, height);
    const close = async () => {
      // Ask the browser to quit so it writes nothing after the profile is
      // removed; a browser that does not is killed.
      if (exited === null && !conn.closed) {
        await Promise.race([conn.send('Browser.close').catch(() => {}), sleep(5000)]);
        await Promise.race([exit, sleep(5000)]);
      }
      conn.ws.terminate();
      await cleanup();
    };
    return { page, conn, close };
  } catch (e) {
    if (conn) conn.ws.terminate();
    await cleanup();
    throw new Error(`${e.message}\nChromium said:\n${stderr}`);
  }
}

module.exports = { launch, CHROMIUM };
