// Scale-out: the binary keeps no state that instances must share (nonces
// are random, `$random` ids carry a MAC made with the key, what a worker
// learns about Ably's hosts is its own), so several instances sit behind one
// nginx `upstream` as they are. Two instances on TCP (127.0.0.1 and
// 127.0.0.2, FCGI_WEB_SERVER_ADDRS set), nginx.conf.example's upstream
// settings with both as servers, ably-js clients renewing tokens; one
// instance is SIGKILLed (supervisor and workers) in the middle: no client
// request fails, nginx sends what met the dead one to the other. An id that
// one instance issued under `$random` renews on the other. doc/scaling.md
// says how to deploy it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, after } from 'node:test';
import Ably from 'ably';
import { Proc, binaryPath, freePort, startEmulator, startNginx, canConnect, sleep, testKey } from './lib/stack.mjs';
import { fcgiRequest } from './lib/fastcgi.mjs';

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => {});
});

async function waitUntil(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** One instance: `--listen HOST:PORT --workers 2`, $random identities, token mode. */
async function startInstance(dir, host, emuPort) {
  const port = await freePort();
  const conf = path.join(dir, `ably-token-${host}.conf`);
  await fsp.writeFile(conf, [
    'mode = token',
    `rest_host = 127.0.0.1:${emuPort}`,
    'fallback_hosts =',
    'tls = off',
    'client_id = $random',
    '',
  ].join('\n'), { mode: 0o600 });
  const env = { PATH: process.env.PATH, ABLY_API_KEY: testKey('main'), FCGI_WEB_SERVER_ADDRS: '127.0.0.1,127.0.0.2' };
  const proc = new Proc(`ably-token@${host}`, binaryPath,
    ['--config', conf, '--listen', `${host}:${port}`, '--workers', '2'], { env });
  cleanup.push(() => proc.stop());
  await waitUntil(`ably-token on ${host}:${port}`, () => canConnect({ host, port }));
  return { proc, host, port };
}

test('two instances behind one nginx upstream: one SIGKILLed under load costs no request, and a $random id renews on the other', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-scale-'));
  cleanup.push(() => fsp.rm(dir, { recursive: true, force: true }));
  const emu = await startEmulator(dir);
  cleanup.push(() => emu.proc.stop());
  const a = await startInstance(dir, '127.0.0.1', emu.port);
  const b = await startInstance(dir, '127.0.0.2', emu.port);

  // nginx from the shipped example, its upstream pointed at both instances
  // (the rest of the file as shipped: keepalive, fastcgi_next_upstream ...).
  const unused = path.join(dir, 'unused.sock');
  const upstream = /server unix:[^;]*unused\.sock;/;
  const nginx = await startNginx(path.join(dir, 'nginx'), unused, {
    transform: (text) => {
      assert.match(text, upstream, 'the rendered config has no upstream server line to replace');
      return text.replace(upstream, `server ${a.host}:${a.port};\n        server ${b.host}:${b.port};`);
    },
  });
  cleanup.push(() => nginx.proc.stop());
  const tokenUrl = `http://127.0.0.1:${nginx.port}/request-token`;
  assert.match(fs.readFileSync(nginx.conf, 'utf8'), /fastcgi_next_upstream\s+error timeout non_idempotent;/);

  // An id issued by instance A (asked directly over FastCGI, not through nginx).
  const direct = await fcgiRequest({ host: a.host, port: a.port }, {
    REQUEST_METHOD: 'GET', REQUEST_URI: '/request-token', DOCUMENT_URI: '/request-token',
    QUERY_STRING: '', SCRIPT_NAME: '/request-token',
  });
  assert.equal(direct.status, 200, direct.stdout);
  const idFromA = JSON.parse(direct.stdout.slice(direct.stdout.indexOf('\r\n\r\n') + 4)).clientId;
  assert.match(idFromA, /^anon-/);

  // Four ably-js clients renew tokens as fast as they can; A dies 1 s in.
  const clients = Array.from({ length: 4 }, () => new Ably.Rest({
    authUrl: tokenUrl, endpoint: '127.0.0.1', port: emu.port, tls: false, useBinaryProtocol: false,
  }));
  const results = { ok: 0, failed: [] };
  const stopAt = Date.now() + 3000;
  const killer = (async () => {
    await sleep(1000);
    process.kill(-a.proc.pid, 'SIGKILL');  // the supervisor and its workers
  })();
  await Promise.all(clients.map(async (rest) => {
    while (Date.now() < stopAt) {
      try {
        const td = await rest.auth.requestToken();
        assert.match(td.clientId, /^anon-/);
        results.ok++;
      } catch (e) {
        results.failed.push(`${e.code || ''} ${e.statusCode || ''} ${e.message}`);
      }
    }
  }));
  await killer;
  await a.proc.exited;
  assert.deepEqual(results.failed, [], `${results.failed.length} of ${results.ok + results.failed.length} token requests failed`);
  assert.ok(results.ok >= 40, `only ${results.ok} tokens in 3 s`);
  // Both instances served the clients: A before it died (beside the one
  // request asked of it directly), B throughout.
  const served = (inst) => (inst.proc.err.match(/GET \/request-token -> ok/g) || []).length;
  assert.ok(served(a) >= 2, `${a.host} served no client before it died:\n${a.proc.err.slice(-2000)}`);
  assert.ok(served(b) >= 1, `${b.host} served no client:\n${b.proc.err.slice(-2000)}`);
  // nginx saw the dead instance and went on with the other.
  const errLog = fs.readFileSync(path.join(dir, 'nginx/logs/error.log'), 'utf8');
  assert.match(errLog, new RegExp(`${a.host.replace(/\./g, '\\.')}:${a.port}`), 'nginx never met the dead instance');

  // The id A issued renews on B (the only instance left), a made-up one does not.
  const renew = await fetch(`${tokenUrl}?clientId=${encodeURIComponent(idFromA)}`);
  const body = await renew.text();
  assert.equal(renew.status, 200, body);
  assert.equal(JSON.parse(body).clientId, idFromA);
  const forged = await fetch(`${tokenUrl}?clientId=${encodeURIComponent(`${idFromA.slice(0, -4)}AAAA`)}`);
  assert.equal(forged.status, 403, await forged.text());
});
