'use strict';
// Helpers shared by the Node interop tests: start echo_server on a port the
// kernel picks, run echo_client, and fail loudly when something is missing.
const { spawn, execFile } = require('child_process');
const fs = require('fs');
const path = require('path');

// Debian's node-* packages (node-ws) install under /usr/share/nodejs, which
// Debian's own node searches by itself and a node from elsewhere (a newer
// release on the same machine) does not: that directory is tried first, so
// every node runs the tests against the same, Debian-packaged library.
const DEBIAN_NODE_MODULES = '/usr/share/nodejs';

function requireDep(name) {
  const tried = [];
  for (const where of [path.join(DEBIAN_NODE_MODULES, name), name]) {
    try {
      return require(where);
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') throw e;
      tried.push(where);
    }
  }
  console.error(`FAIL: Node module '${name}' not found (tried ${tried.join(', ')}); ` +
    `run tests/interop/install-deps.sh (Debian package node-${name})`);
  process.exit(1);
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

function startServer(binary, extra = []) {
  if (!fs.existsSync(binary)) throw new Error(`echo_server not found: ${binary}`);
  return new Promise((resolve, reject) => {
    const proc = spawn(binary, ['--host', '127.0.0.1', '--port', '0', ...extra],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = [];
    let out = '';
    proc.stderr.on('data', (d) => log.push(d.toString()));
    const timer = setTimeout(() => reject(new Error('echo_server did not start')), 5000);
    proc.on('error', reject);
    proc.stdout.on('data', (d) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          proc, log, port: Number(m[1]), url: `ws://127.0.0.1:${m[1]}`,
          stop: () => new Promise((res, rej) => {
            if (proc.exitCode !== null) { res(proc.exitCode); return; }
            const kill = setTimeout(() => { proc.kill('SIGKILL'); rej(new Error('echo_server ignored SIGTERM')); }, 10000);
            proc.on('exit', (code) => {
              clearTimeout(kill);
              if (code !== 0) rej(new Error(`echo_server exited with ${code}\n${log.join('')}`));
              else res(code);
            });
            proc.kill('SIGTERM');
          }),
        });
      }
    });
  });
}

function runClient(binary, args, input) {
  return new Promise((resolve) => {
    const child = execFile(binary, args, { timeout: 60000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

const SIZES = [0, 125, 126, 65535, 65536, 16 * 1024 * 1024];

function main(fn) {
  fn().then(() => {
    console.log('PASS');
    process.exit(0);
  }, (e) => {
    console.error(e && e.stack ? e.stack : e);
    console.log(`FAIL: ${e && e.message ? e.message : e}`);
    process.exit(1);
  });
}

module.exports = { requireDep, check, startServer, runClient, SIZES, main };
