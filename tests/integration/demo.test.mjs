// scripts/run-demo.sh (what `make run` starts) with no key: emulator + test
// key + binary + nginx; the page's offline path (/demo-config.json and the
// emulator's REST paths on the same origin) works with ably-js; SIGTERM stops
// everything. Runs in a scratch dir with an empty .env, so a real .env and a
// running demo are left alone.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { test, before, after } from 'node:test';
import Ably from 'ably';
import { startDemo, testKey, splitKey } from './lib/stack.mjs';

let demo;
let dir;
let port;
let stopDemo;

function portOpen(p) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port: p });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

before(async () => {
  ({ demo, dir, port, stop: stopDemo } = await startDemo('ably-token-demo-'));
}, { timeout: 30000 });

after(async () => {
  if (stopDemo) await stopDemo();
});

test('says loudly that it uses a local test key and the emulator', () => {
  assert.match(demo.out, /LOCAL TEST KEY \/ offline emulator/);
  assert.match(demo.out, new RegExp(`http://localhost:${port}/`));
});

test('the runtime config is private (mode 600) in its run dir', async () => {
  const st = await fs.stat(path.join(dir, 'run/ably-token.conf'));
  assert.equal(st.mode & 0o777, 0o600);
});

test('serves the page and TokenDetails fetched from the emulator with the main test key', async () => {
  const page = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(page.status, 200);
  const res = await fetch(`http://127.0.0.1:${port}/request-token`);
  assert.equal(res.status, 200);
  const td = await res.json();
  const { keyName } = splitKey(testKey('main'));
  // token mode (the default): the binary exchanged its TokenRequest itself.
  assert.equal(td.keyName, keyName);
  assert.equal(typeof td.token, 'string');
  assert.ok(td.issued > 0 && td.expires > td.issued);
  assert.equal(td.clientId, 'example-client-id');
  assert.equal(td.mac, undefined);
});

test('the page\'s offline path: /demo-config.json, and ably-js via the same origin', async () => {
  const cfg = await (await fetch(`http://127.0.0.1:${port}/demo-config.json`)).json();
  assert.deepEqual(cfg, { emulator: true });
  // What www/app.js does in the browser: restHost/port = the page's own origin.
  const rest = new Ably.Rest({
    authUrl: `http://127.0.0.1:${port}/request-token`,
    restHost: '127.0.0.1', port, tls: false, useBinaryProtocol: false, logLevel: 0,
  });
  const details = await rest.auth.authorize();
  assert.equal(details.clientId, 'example-client-id');
  await rest.channels.get('demo:test').publish('greeting', 'hello from the demo test');
});

test('SIGTERM stops the binary, nginx and the emulator', async () => {
  const report = await demo.stop('SIGTERM');
  assert.equal(report.forced, false, 'run-demo.sh did not exit within 5 s');
  assert.equal(report.stragglers, false, `processes left behind:\n${demo.describe()}`);
  assert.equal(await portOpen(port), false, 'nginx still listening');
  assert.match(demo.out, /stopping nginx/);
  assert.match(demo.out, /stopping ably-token/);
  assert.match(demo.out, /stopping Ably emulator/);
});
