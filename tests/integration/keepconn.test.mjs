// nginx.conf.example keeps FastCGI connections open between requests
// (upstream `keepalive`, fastcgi_keep_conn on). The trap of kept
// connections is starvation: a worker blocked reading one idle kept connection serves no one
// else, while nginx sends the next request down another. The binary's workers
// (fcgi/worker.c) watch all their connections and read only those with a
// request waiting; these tests would hang (nginx waits 60 s for a starved
// request) or fail if that broke.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startStack, startNginx, httpRequest, sleep } from './lib/stack.mjs';
import { fakeUpstream } from './lib/fastcgi.mjs';
import { workerPids } from './lib/procs.mjs';


/** Sockets a process holds: its FastCGI connections, plus the listening socket and
 *  the stdio the tests gave it (node makes those socket pairs): compare with a count
 *  taken before any request. */
function socketCount(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:'); } catch { return false; }
  }).length;
}

async function allOk(s, n) {
  const answers = await Promise.all(Array.from({ length: n }, () => s.get()));
  const bad = answers.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.body.slice(0, 80)}`);
  assert.deepEqual(bad, [], `${bad.length} of ${n} parallel requests failed`);
}

test('the shipped config keeps FastCGI connections, and a worker holds them open between requests', async () => {
  const s = await startStack({ workers: 1, config: { mode: 'token-request' } });
  try {
    const conf = fs.readFileSync(s.nginxConf, 'utf8');
    assert.match(conf, /fastcgi_keep_conn on;/);
    assert.match(conf, /^\s*keepalive \d+;/m);
    const [worker] = workerPids(s.procs.binary.pid);
    assert.ok(worker, 'no worker process');
    const idle = socketCount(worker);
    await allOk(s, 16);
    // At least two connections nginx keeps idle.
    const held = socketCount(worker);
    assert.ok(held >= idle + 2, `worker holds ${held} sockets after a burst of 16, ${idle} before`);
    // Sequential requests reuse them: the count does not climb.
    for (let i = 0; i < 40; i++) assert.equal((await s.get()).status, 200);
    assert.ok(socketCount(worker) <= held + 1, `sockets ${held} -> ${socketCount(worker)}`);
  } finally {
    await s.stop();
  }
});

// When the binary closes a kept connection just as nginx reuses it (a
// worker closing its longest-idle one to make room, a worker's death, a
// stop), nginx has already written the request. It sends a GET again on
// another connection, but a POST (ably-js's authMethod 'POST') only if
// fastcgi_next_upstream allows non_idempotent: the shipped config does, as
// a token request is safe to send twice. A scripted upstream closes every
// reused connection, so each request after the first meets that race.
test('a kept connection closed just as nginx reuses it: the shipped config sends the GET and the POST again', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-race-'));
  const sock = path.join(dir, 'upstream.sock');
  const up = await fakeUpstream(sock, (req) => (req.connRequest > 1 ? 'close' : 'answer'));
  let nginx = null;
  try {
    nginx = await startNginx(path.join(dir, 'nginx'), sock);
    assert.match(fs.readFileSync(nginx.conf, 'utf8'), /fastcgi_next_upstream\s+error timeout non_idempotent;/);
    const answers = [];
    for (let i = 0; i < 8; i++) {
      answers.push(await httpRequest(nginx.port, [], 'GET', '/request-token?ttl=60000', { record: false }));
      answers.push(await httpRequest(nginx.port, [], 'POST', '/request-token', {
        record: false, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'ttl=60000',
      }));
    }
    const bad = answers.filter((r) => r.status !== 200).map((r) => `${r.method} ${r.status}`);
    assert.deepEqual(bad, [], `${bad.length} of ${answers.length} failed`);
    // The race was met, by both methods, and each met it on a reused connection.
    for (const method of ['GET', 'POST']) {
      const met = up.seen.filter((r) => r.method === method && r.connRequest > 1).length;
      assert.ok(met >= 4, `${method}: ${met} requests met a closing kept connection`);
    }
  } finally {
    if (nginx) await nginx.proc.stop();
    await up.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('one worker, from 1 to 256 connections at once: every request is answered, none waits on an idle kept connection', async () => {
  const s = await startStack({ workers: 1, config: { mode: 'token-request' } });
  try {
    const t0 = Date.now();
    for (const n of [1, 8, 64, 256, 8, 1]) await allOk(s, n);
    // Alternating between fresh bursts and single requests: nginx picks a
    // pooled connection the worker was not reading last.
    for (let i = 0; i < 30; i++) assert.equal((await s.get()).status, 200, `request ${i}`);
    assert.ok(Date.now() - t0 < 20000, `took ${Date.now() - t0} ms`);
  } finally {
    await s.stop();
  }
});

test('with few descriptors, a worker closes its longest-idle kept connection to take a new one, and nothing is lost', async () => {
  // RLIMIT_NOFILE 90 leaves room for 26 connections (worker.c keeps 64 spare).
  const s = await startStack({ workers: 1, config: { mode: 'token-request' }, launcher: ['prlimit', '--nofile=90', '--'] });
  try {
    const [worker] = workerPids(s.procs.binary.pid);
    const idle = socketCount(worker);
    for (let round = 0; round < 3; round++) await allOk(s, 64);
    const held = socketCount(worker) - idle;
    assert.ok(held <= 26, `worker holds ${held} connections, over its 26`);
    assert.ok(held >= 20, `worker holds only ${held} connections: did nginx keep any?`);
    assert.doesNotMatch(s.binaryLog, /accept failed|cannot watch/);
  } finally {
    await s.stop();
  }
});
test('SIGTERM with kept connections open: the workers close them and exit at once', async () => {
  const s = await startStack({ workers: 2, config: { mode: 'token-request' } });
  try {
    await allOk(s, 32);
    const t0 = Date.now();
    process.kill(s.procs.binary.pid, 'SIGTERM');
    const end = Date.now() + 3000;
    while (!s.procs.binary.exit && Date.now() < end) await sleep(20);
    assert.ok(s.procs.binary.exit, 'still running 3 s after SIGTERM');
    assert.equal(s.procs.binary.exit.code, 0, `exit ${JSON.stringify(s.procs.binary.exit)}`);
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms to stop`);
  } finally {
    await s.stop();
  }
});

/** Ask the stack's emulator to hold its next requestToken answer for ms. */
async function slowNextToken(s, ms) {
  const res = await fetch(`${s.emulatorUrl}/_emulator/faults`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ latencyMs: ms, count: 1, routes: ['requestToken'] }),
  });
  assert.equal(res.status, 200, 'emulator fault switch');
}

const tokenMode = (s) => ({ mode: 'token', rest_host: `127.0.0.1:${s.emuPort}`, tls: 'off' });

// In token mode a request waiting for Ably is parked in the worker's event
// loop: one slow answer from Ably holds up only the request that waits for it.
test('token mode, one worker: a request waiting on a slow Ably does not hold up the next', async () => {
  const s = await startStack({ workers: 1, config: tokenMode });
  try {
    assert.equal((await s.get()).status, 200);  // the upstream connection is open
    await slowNextToken(s, 1500);
    const t0 = Date.now();
    const slow = s.get();
    await sleep(200);  // the slow one is in flight
    const r = await s.get();
    const waited = Date.now() - t0;
    assert.equal(r.status, 200, r.body);
    const slowAnswer = await slow;
    assert.equal(slowAnswer.status, 200, slowAnswer.body);
    assert.ok(Date.now() - t0 >= 1500, 'the fault did not slow the first request');
    assert.ok(waited < 1000, `the second request took ${waited} ms: it waited for the slow one`);
  } finally {
    await s.stop();
  }
});

// Over HTTP/1.1 (tls off: no HTTP/2) a connection carries one call at a
// time: concurrent calls open more, up to upstream_connections, and keep them.
test('token mode over HTTP/1.1: concurrent calls share a pool of at most upstream_connections kept connections', async () => {
  const s = await startStack({ workers: 1, config: (st) => ({ ...tokenMode(st), upstream_connections: 3 }) });
  try {
    const stats = async () => (await fetch(`${s.emulatorUrl}/_emulator/stats`)).json();
    // Eight requests at once while Ably takes 300 ms each: three at a
    // time go out, the others queue for a free connection.
    await fetch(`${s.emulatorUrl}/_emulator/faults`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ latencyMs: 300, count: 8, routes: ['requestToken'] }),
    });
    const t0 = Date.now();
    await allOk(s, 8);
    const took = Date.now() - t0;
    // apiConnections: distinct connections that carried requestToken calls.
    const warm = await stats();
    assert.equal(warm.apiConnections, 3, 'upstream connections for 8 calls at once with a pool of 3');
    assert.ok(took >= 900, `8 calls of 300 ms over 3 connections took ${took} ms: more than 3 at a time?`);
    for (let i = 0; i < 20; i++) assert.equal((await s.get()).status, 200);
    await allOk(s, 8);
    const after = await stats();
    assert.equal(after.apiConnections, warm.apiConnections, 'a new upstream connection was opened');
    assert.equal(after.connections, warm.connections, 'a kept connection was closed and opened again');
    assert.equal(after.routes.requestToken.ok, warm.routes.requestToken.ok + 28);
  } finally {
    await s.stop();
  }
});

test('--threads is gone: any value but 1 is refused with a message that says what to use', async () => {
  const { spawnSync } = await import('node:child_process');
  const { binaryPath } = await import('./lib/stack.mjs');
  for (const bad of ['0', '2', '8', 'many']) {
    const r = spawnSync(binaryPath, ['--threads', bad, '--check-config'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    assert.equal(r.status, 2, `--threads ${bad}: exit ${r.status}`);
    assert.match(r.stderr, /--threads is gone: .*event loop.*--workers/);
  }
  const ok = spawnSync(binaryPath, ['--threads', '1', '--check-config'], {
    encoding: 'utf8', env: { PATH: process.env.PATH, ABLY_API_KEY: 'TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000' },
  });
  assert.equal(ok.status, 0, `--threads 1 (what it always meant outside token mode): ${ok.stderr}`);
});
