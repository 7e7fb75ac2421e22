// FCGI_WEB_SERVER_ADDRS on a TCP listener: libfcgi's own accept closes a
// connection from an address not in the list, and the binary, which
// accepts connections itself (fcgi/worker.c), keeps that promise. Talks
// FastCGI directly (lib/fastcgi.mjs): no web server in between.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Proc, binaryPath, freePort, sleep, testKey } from './lib/stack.mjs';
import { fcgiRequest } from './lib/fastcgi.mjs';

const PARAMS = {
  REQUEST_METHOD: 'GET', REQUEST_URI: '/request-token', DOCUMENT_URI: '/request-token',
  QUERY_STRING: '', SCRIPT_NAME: '/request-token',
};

/** The binary on 127.0.0.1:PORT, one worker, with this FCGI_WEB_SERVER_ADDRS. */
async function startTcp(addrs) {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-peers-'));
  const conf = path.join(dir, 'ably-token.conf');
  await fsp.writeFile(conf, 'mode = token-request\n', { mode: 0o600 });
  const port = await freePort();
  const env = { ...process.env, ABLY_API_KEY: testKey('main'), FCGI_WEB_SERVER_ADDRS: addrs };
  const proc = new Proc('ably-token', binaryPath,
    ['--config', conf, '--listen', `127.0.0.1:${port}`, '--workers', '1'], { env });
  const stop = async () => {
    await proc.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  };
  return { proc, port, stop };
}

/** Until the supervisor says it serves (it listens before it says so). */
async function waitListening(s) {
  for (let i = 0; i < 100 && !s.proc.exit && !/serving with/.test(s.proc.err); i++) await sleep(50);
  assert.match(s.proc.err, /serving with/, s.proc.describe());
}

test('FCGI_WEB_SERVER_ADDRS names this address: the request is served', async () => {
  const s = await startTcp('::1, 127.0.0.1');
  try {
    await waitListening(s);
    const r = await fcgiRequest({ host: '127.0.0.1', port: s.port }, PARAMS);
    assert.equal(r.closed, false, s.proc.describe());
    assert.equal(r.status, 200, r.stdout);
    assert.match(r.stdout, /"mac":"/);
    assert.ok(r.ended, 'no FCGI_END_REQUEST');
  } finally {
    await s.stop();
  }
});

test('FCGI_WEB_SERVER_ADDRS leaves this address out: the connection is closed unanswered, and said once in the log', async () => {
  const s = await startTcp('127.0.0.2,10.1.2.3');
  try {
    await waitListening(s);
    for (let i = 0; i < 3; i++) {
      const r = await fcgiRequest({ host: '127.0.0.1', port: s.port }, PARAMS);
      assert.equal(r.closed, true, `answered: ${r.stdout}`);
    }
    for (let i = 0; i < 40 && !/refused/.test(s.proc.err); i++) await sleep(50);
    const lines = s.proc.err.split('\n').filter((l) => /refused/.test(l));
    assert.equal(lines.length, 1, s.proc.err);
    assert.match(lines[0], /refused 1 connection from addresses not in FCGI_WEB_SERVER_ADDRS \(the last from 127\.0\.0\.1\)/);
    assert.equal(s.proc.exit, null, 'the binary exited');
  } finally {
    await s.stop();
  }
});

test('FCGI_WEB_SERVER_ADDRS with an entry that is not an address: exit 2, the entry named', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-peers-'));
  try {
    const conf = path.join(dir, 'ably-token.conf');
    await fsp.writeFile(conf, 'mode = token-request\n', { mode: 0o600 });
    for (const [addrs, entry] of [['127.0.0.1,nope', 2], ['127.0.0.1,', 2], ['127.0.0.1/8', 1]]) {
      const port = await freePort();
      const r = await new Promise((resolve) => {
        execFile(binaryPath, ['--config', conf, '--listen', `127.0.0.1:${port}`],
          { env: { ...process.env, ABLY_API_KEY: testKey('main'), FCGI_WEB_SERVER_ADDRS: addrs }, timeout: 5000 },
          (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stderr }));
      });
      assert.equal(r.code, 2, `${addrs}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`FCGI_WEB_SERVER_ADDRS: entry ${entry} is not an IPv4 or IPv6 address`), addrs);
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
