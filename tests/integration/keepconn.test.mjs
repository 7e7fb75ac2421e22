// nginx.conf.example keeps FastCGI connections open between requests
// (upstream `keepalive`, fastcgi_keep_conn on). The trap of PERF-NOTES.md is
// starvation: a worker blocked reading one idle kept connection serves no one
// else, while nginx sends the next request down another. The binary's workers
// (fcgi/worker.c) watch all their connections and read only those with a
// request waiting; these tests would hang (nginx waits 60 s for a starved
// request) or fail if that broke.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import { startStack, sleep } from './lib/stack.mjs';

function workerPids(parentPid) {
  try {
    return execFileSync('pgrep', ['-P', String(parentPid)], { encoding: 'utf8' })
      .trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

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
