// Operations: SIGHUP reloads the configuration without losing a request,
// a bad configuration is refused while the old one keeps serving, a key
// rotation keeps the anonymous ids issued with the previous key, the
// readiness answer (/readyz) says when not to send traffic, and the
// service manager hears READY/RELOADING/STOPPING (sd_notify's protocol).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { fcgiRequest } from './lib/fastcgi.mjs';
import { workerPids as workers, until } from './lib/procs.mjs';
import { binaryPath, startStack, sleep, testKey, splitKey, Proc, canConnect } from './lib/stack.mjs';



/** Write the stack's config file the way a careful operator does: a new
 *  file renamed over the old one, so no reader sees half of it. */
async function writeConfig(stack, settings) {
  const lines = Object.entries(settings).map(([k, v]) => `${k} = ${v}`);
  const tmp = `${stack.configPath}.new`;
  await fsp.writeFile(tmp, lines.join('\n') + '\n', { mode: 0o600 });
  await fsp.rename(tmp, stack.configPath);
}

function count(text, re) {
  return (text.match(re) || []).length;
}

function tokenTtl(body) {
  const t = JSON.parse(body);
  return t.expires - t.issued;
}

test('SIGHUP under load: every request answered, new settings served, old workers gone', async () => {
  // token mode with a 40 ms round trip to "Ably": requests are parked on
  // the upstream while the workers are replaced.
  const base = (st) => ({
    mode: 'token', rest_host: `127.0.0.1:${st.emuPort}`, tls: 'off', key: st.key,
  });
  const s = await startStack({
    workers: 2,
    config: (st) => ({ ...base(st), ttl: '1h' }),
    emulatorArgs: ['--latency-ms', '40'],
  });
  try {
    const parent = s.procs.binary.pid;
    const first = workers(parent);
    assert.equal(first.length, 2);

    // 12 clients in a loop over kept connections to nginx (which keeps its
    // own to the binary): any status but 200, or a socket error, fails.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 12 });
    const results = { ok: 0, failed: [] };
    let running = true;
    const client = async () => {
      while (running) {
        try {
          const r = await new Promise((resolve, reject) => {
            const req = http.get(`${s.tokenUrl}`, { agent }, (res) => {
              let body = '';
              res.on('data', (d) => { body += d; });
              res.on('end', () => resolve({ status: res.statusCode, body }));
            });
            req.on('error', reject);
          });
          if (r.status === 200) results.ok++;
          else results.failed.push(`${r.status} ${r.body.slice(0, 200)}`);
        } catch (e) {
          results.failed.push(`socket: ${e.message}`);
        }
      }
    };
    const clients = Array.from({ length: 12 }, client);

    // Six reloads, alternating ttl 1h and 2h; after each, a new request
    // must carry the new ttl.
    const ttls = ['2h', '1h', '2h', '1h', '2h', '1h'];
    for (let i = 0; i < ttls.length; i++) {
      await sleep(400);
      await writeConfig(s, { ...base(s), ttl: ttls[i] });
      process.kill(parent, 'SIGHUP');
      await until(`reload ${i + 1} in the log`,
        () => count(s.binaryLog, /reloaded: configuration generation \d+/g) === i + 1);
      const want = ttls[i] === '2h' ? 7200000 : 3600000;
      // Old workers may still answer a request on a connection they hold;
      // within a few requests the new setting shows.
      await until(`ttl ${ttls[i]} served`, async () => {
        const r = await s.get();
        return r.status === 200 && tokenTtl(r.body) === want;
      });
    }
    await sleep(400);
    running = false;
    await Promise.all(clients);
    agent.destroy();

    assert.deepEqual(results.failed, [], `${results.failed.length} of ${results.ok + results.failed.length} failed`);
    assert.ok(results.ok > 100, `only ${results.ok} requests made`);
    assert.match(s.binaryLog, /reloaded: configuration generation 7,/);
    // Every worker of the first generation is gone, two serve now.
    await until('old workers to exit', () => {
      const now = workers(parent);
      return now.length === 2 && !now.some((p) => first.includes(p));
    });
    assert.ok(count(s.binaryLog, /of configuration generation \d+ finished/g) >= 12,
      'each of the 12 replaced workers reported finishing');
    assert.equal(count(s.binaryLog, /killed by signal|exited with/g), 0);
  } finally {
    await s.stop();
  }
});

test('SIGHUP with a bad configuration: refused with file:line, old settings keep serving', async () => {
  const s = await startStack({ workers: 2, config: { mode: 'token-request', ttl: '1h' } });
  try {
    const parent = s.procs.binary.pid;
    const before = workers(parent).sort();
    // A bad ttl on line 3, and a key that does not parse on line 2: the
    // message names the place, never the secret.
    const badSecret = 'TEST-ONLY-bad-secret-xyz';
    await fsp.writeFile(s.configPath, `mode = token-request\nkey = TESTAPP.x:${badSecret}:extra\n`, { mode: 0o600 });
    process.kill(parent, 'SIGHUP');
    await until('the refusal in the log', () => /reload refused/.test(s.binaryLog));
    assert.match(s.binaryLog, /reload refused, still serving configuration generation 1: .*ably-token\.conf:2: key: /);
    assert.ok(!s.binaryLog.includes(badSecret), 'the bad key\'s secret was logged');

    await fsp.writeFile(s.configPath, `mode = token-request\nkey = ${s.key}\nttl = banana\n`, { mode: 0o600 });
    process.kill(parent, 'SIGHUP');
    await until('the second refusal', () => count(s.binaryLog, /reload refused/g) === 2);
    assert.match(s.binaryLog, /ably-token\.conf:3: ttl: /);

    // Same workers, same settings, still answering.
    assert.deepEqual(workers(parent).sort(), before);
    const r = await s.get();
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).ttl, 3600000);
    assert.equal(count(s.binaryLog, /reloaded:/g), 0);
  } finally {
    await s.stop();
  }
});

test('key rotation: an id issued with the old key renews under the new one; a made-up id does not', async () => {
  const oldKey = testKey('main');
  const newKey = testKey('revocable');
  const s = await startStack({
    workers: 1, key: oldKey,
    config: { mode: 'token-request', client_id: '$random', capability: '{"*":["subscribe"]}' },
  });
  try {
    const parent = s.procs.binary.pid;
    const r1 = await s.get();
    assert.equal(r1.status, 200, r1.body);
    const issued = JSON.parse(r1.body);
    assert.equal(issued.keyName, splitKey(oldKey).keyName);
    const id = issued.clientId;
    assert.match(id, /^anon-/);
    // A made-up id of the same shape.
    const forged = id.slice(0, -4) + (id.endsWith('0000') ? '1111' : '0000');

    const rotate = async (settings, n) => {
      await writeConfig(s, { mode: 'token-request', client_id: '$random', capability: '{"*":["subscribe"]}', ...settings });
      process.kill(parent, 'SIGHUP');
      await until(`reload ${n}`, () => count(s.binaryLog, /reloaded:/g) === n);
      // The retiring worker answers only what it holds; new requests go to the new one.
      await until('the new key in use', async () => {
        const r = await s.get();
        return r.status === 200 && JSON.parse(r.body).keyName === splitKey(settings.key).keyName;
      });
    };

    // Step 1 of the rotation: key = new, previous_key = old.
    await rotate({ key: newKey, previous_key: oldKey }, 1);
    assert.match(s.binaryLog, /key rotation: ids issued with previous_key TESTAPP\.fulltest/);
    const renewed = await s.get({ clientId: id });
    assert.equal(renewed.status, 200, renewed.body);
    const tr = JSON.parse(renewed.body);
    assert.equal(tr.clientId, id);
    assert.equal(tr.keyName, splitKey(newKey).keyName, 'renewed with the current key');
    const bad = await s.get({ clientId: forged });
    assert.equal(bad.status, 403, bad.body);

    // An id the new key issued renews too.
    const fresh = JSON.parse((await s.get()).body).clientId;
    assert.equal((await s.get({ clientId: fresh })).status, 200);

    // Last step: previous_key removed. Old ids are refused now, new ones not.
    await rotate({ key: newKey }, 2);
    assert.equal((await s.get({ clientId: id })).status, 403);
    assert.equal((await s.get({ clientId: fresh })).status, 200);

    // The mistake of setting both to the same key is said.
    await rotate({ key: newKey, previous_key: newKey }, 3);
    assert.match(s.binaryLog, /previous_key \(from .*\) is the same key as key/);
    assert.ok(!s.binaryLog.includes(splitKey(newKey).secret));
    assert.ok(!s.binaryLog.includes(splitKey(oldKey).secret));
  } finally {
    await s.stop();
  }
});

test('ABLY_PREVIOUS_API_KEY holds the previous key too', async () => {
  const oldKey = testKey('main');
  const first = await startStack({ workers: 1, key: oldKey, config: { mode: 'token-request', client_id: '$random' } });
  let id;
  try {
    id = JSON.parse((await first.get()).body).clientId;
  } finally {
    await first.stop();
  }
  const s = await startStack({
    workers: 1, key: testKey('revocable'),
    config: { mode: 'token-request', client_id: '$random' },
    env: { ABLY_PREVIOUS_API_KEY: oldKey },
  });
  try {
    const r = await s.get({ clientId: id });
    assert.equal(r.status, 200, r.body);
    assert.match(s.binaryLog, /from ABLY_PREVIOUS_API_KEY/);
  } finally {
    await s.stop();
  }
});

test('/readyz: 503 without a key, 200 with one, /healthz 200 either way; GET only', async () => {
  const s = await startStack({ workers: 1, key: null, config: { mode: 'token-request' } });
  try {
    const r = await s.request('GET', '/readyz');
    assert.equal(r.status, 503);
    assert.equal(r.body, 'not ready: no Ably key is configured\n');
    assert.equal((await s.request('GET', '/healthz')).status, 200);
    const post = await s.request('POST', '/readyz');
    assert.equal(post.status, 405);
    // A key arrives with a reload: ready.
    await writeConfig(s, { mode: 'token-request', key: testKey('main') });
    process.kill(s.procs.binary.pid, 'SIGHUP');
    await until('ready after the reload', async () => (await s.request('GET', '/readyz')).status === 200);
    assert.equal((await s.request('GET', '/readyz')).body, 'ready\n');
  } finally {
    await s.stop();
  }
});

test('/readyz in token mode: 503 once no Ably host has answered for ready_fail_after, ready again after', async () => {
  const s = await startStack({
    workers: 1,
    config: (st) => ({
      mode: 'token', rest_host: `127.0.0.1:${st.emuPort}`, tls: 'off', ready_fail_after: '1s',
      upstream_timeout_ms: 1000, request_timeout_ms: 500, connect_timeout_ms: 500,
    }),
  });
  try {
    assert.equal((await s.request('GET', '/readyz')).status, 200);
    await s.emulatorControl('POST', '/_emulator/faults', { status: 503, count: 1000000 });
    // Failing calls for longer than 1 s.
    const t0 = Date.now();
    while (Date.now() - t0 < 1300) {
      const r = await s.get();
      assert.equal(r.status, 502, r.body);
      await sleep(100);
    }
    const r = await s.request('GET', '/readyz');
    assert.equal(r.status, 503);
    assert.match(r.body, /^not ready: no Ably host has answered for 1 s\n$/);
    // No traffic for ready_fail_after: ready again, so traffic can show
    // whether Ably is back.
    await sleep(1100);
    assert.equal((await s.request('GET', '/readyz')).status, 200);
    // Ably is back: calls succeed and the worker stays ready.
    await s.emulatorControl('DELETE', '/_emulator/faults');
    assert.equal((await s.get()).status, 200);
    assert.equal((await s.request('GET', '/readyz')).status, 200);
  } finally {
    await s.stop();
  }
});

test('draining: a connection opened before SIGTERM is still answered, and /readyz says stopping', async () => {
  const s = await startStack({ workers: 1, config: { mode: 'token-request' } });
  try {
    // A web server's new connection, accepted but with no request yet
    // when the stop comes: the request it then sends is answered.
    const params = { REQUEST_METHOD: 'GET', SCRIPT_NAME: '/readyz', REQUEST_URI: '/readyz', DOCUMENT_URI: '/readyz', QUERY_STRING: '' };
    const pending = new Promise((resolve, reject) => {
      const net = import('node:net');
      net.then(({ default: n }) => {
        const sock = n.connect({ path: s.sockPath });
        sock.on('connect', () => resolve(sock));
        sock.on('error', reject);
      });
    });
    const sock = await pending;
    await sleep(300);  // accepted by the worker
    process.kill(s.procs.binary.pid, 'SIGTERM');
    await sleep(300);  // the worker is draining
    const answer = await fcgiRequest({ socket: sock }, params);
    assert.equal(answer.status, 503, answer.stdout);
    assert.match(answer.stdout, /not ready: stopping\n$/);
  } finally {
    await s.stop();
  }
});

/** A unix datagram socket that collects sd_notify messages (python3: node
 *  has no unix datagram sockets). */
async function notifyListener(dir) {
  const sockPath = path.join(dir, 'notify.sock');
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    `s.bind(${JSON.stringify(sockPath)})`,
    'print("listening", flush=True)',
    'while True:',
    '    m = s.recv(4096).decode()',
    '    print(m.replace("\\n", "|"), flush=True)',
  ].join('\n');
  const p = new Proc('notify', 'python3', ['-c', script], { cwd: dir });
  await until('the notify socket', () => fs.existsSync(sockPath));
  return { proc: p, sockPath, messages: () => p.out.split('\n').filter((l) => l && l !== 'listening') };
}

test('sd_notify: READY=1 once serving, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM', async () => {
  const dir = await fsp.mkdtemp('/tmp/ably-notify-');
  const listener = await notifyListener(dir);
  const s = await startStack({ workers: 2, config: { mode: 'token-request' }, env: { NOTIFY_SOCKET: listener.sockPath } });
  try {
    await until('READY=1', () => listener.messages().some((m) => m.startsWith('READY=1|STATUS=serving with 2 workers')));
    process.kill(s.procs.binary.pid, 'SIGHUP');
    await until('the reload said', () => listener.messages().length >= 3);
    const [, reloading, ready] = listener.messages();
    assert.match(reloading, /^RELOADING=1\|MONOTONIC_USEC=\d+$/);
    assert.match(ready, /^READY=1\|STATUS=.*configuration generation 2$/);
    await s.stop();
    await until('STOPPING=1', () => listener.messages().includes('STOPPING=1'));
  } finally {
    await s.stop();
    await listener.proc.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('one process alone (systemd socket, no --workers): SIGHUP is ignored, it keeps serving', async () => {
  const dir = await fsp.mkdtemp('/tmp/ably-alone-');
  const sock = path.join(dir, 'alone.sock');
  const conf = path.join(dir, 'alone.conf');
  await fsp.writeFile(conf, `mode = token-request\nkey = ${testKey('main')}\n`, { mode: 0o600 });
  const p = new Proc('alone', 'systemd-socket-activate', ['-l', sock, binaryPath, '--config', conf], { cwd: dir });
  try {
    await until('the socket', () => fs.existsSync(sock) && canConnect({ path: sock }));
    const params = { REQUEST_METHOD: 'GET', SCRIPT_NAME: '/request-token', REQUEST_URI: '/request-token', DOCUMENT_URI: '/request-token', QUERY_STRING: '' };
    assert.equal((await fcgiRequest({ path: sock }, params)).status, 200);
    // systemd-socket-activate execs the binary: the pid is the binary's.
    process.kill(p.pid, 'SIGHUP');
    await sleep(300);
    assert.equal(p.exit, null, 'the process died on SIGHUP');
    assert.equal((await fcgiRequest({ path: sock }, params)).status, 200);
  } finally {
    await p.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('/readyz during start: the first answer from a new process is already 200', async () => {
  const dir = await fsp.mkdtemp('/tmp/ably-start-');
  const sock = path.join(dir, 'start.sock');
  const conf = path.join(dir, 'start.conf');
  await fsp.writeFile(conf, `mode = token-request\nkey = ${testKey('main')}\n`, { mode: 0o600 });
  const p = new Proc('start', binaryPath, ['--config', conf, '--listen', `unix:${sock}`, '--workers', '2'], { cwd: dir });
  const params = { REQUEST_METHOD: 'GET', SCRIPT_NAME: '/readyz', REQUEST_URI: '/readyz', DOCUMENT_URI: '/readyz', QUERY_STRING: '' };
  try {
    // Ask from the moment the socket exists: a connection made before the
    // workers run waits in the listen queue and is answered by them.
    await until('the socket file', () => fs.existsSync(sock), 5000);
    const answers = await Promise.all(Array.from({ length: 8 }, () => fcgiRequest({ path: sock }, params)));
    for (const a of answers) {
      assert.equal(a.status, 200, a.stdout);
      assert.match(a.stdout, /\r\n\r\nready\n$/);
    }
  } finally {
    await p.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('a burst of SIGHUPs: the last configuration wins, nothing is left behind', async () => {
  const s = await startStack({ workers: 2, config: { mode: 'token-request', ttl: '1h' } });
  try {
    const parent = s.procs.binary.pid;
    await writeConfig(s, { mode: 'token-request', key: s.key, ttl: '3h' });
    for (let i = 0; i < 5; i++) {
      process.kill(parent, 'SIGHUP');
      await sleep(20);
    }
    await until('ttl 3h served', async () => {
      const r = await s.get();
      return r.status === 200 && JSON.parse(r.body).ttl === 3 * 3600000;
    });
    // However many reloads the burst made (signals coalesce), the old
    // workers all exit and two remain.
    await until('two workers left', () => workers(parent).length === 2);
    assert.ok(count(s.binaryLog, /reloaded:/g) >= 1);
    assert.equal(count(s.binaryLog, /killed by signal|exited with/g), 0);
  } finally {
    await s.stop();
  }
});

test('a reload that changes the user setting says it needs a restart, and reloads the rest', async () => {
  const s = await startStack({ workers: 1, config: { mode: 'token-request', ttl: '1h' } });
  try {
    await writeConfig(s, { mode: 'token-request', key: s.key, ttl: '2h', user: 'nobody' });
    process.kill(s.procs.binary.pid, 'SIGHUP');
    await until('the reload', () => /reloaded:/.test(s.binaryLog));
    assert.match(s.binaryLog, /the user setting changed, but a reload cannot change the account the service runs as \(still as started\): restart for that/);
    await until('ttl 2h served', async () => JSON.parse((await s.get()).body).ttl === 7200000);
  } finally {
    await s.stop();
  }
});
