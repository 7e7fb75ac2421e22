// The process model under --listen --workers: a worker that dies is
// replaced while the others keep serving, and SIGTERM lets a request in
// flight finish before the program exits.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { binaryPath, startStack, sleep } from './lib/stack.mjs';
import { workerPids as workers, until } from './lib/procs.mjs';



test('a killed worker is replaced, and requests keep succeeding', async () => {
  const s = await startStack({ workers: 2, config: { mode: 'token-request' } });
  try {
    const parent = s.procs.binary.pid;
    const before = workers(parent);
    assert.equal(before.length, 2, `workers: ${before}`);
    process.kill(before[0], 'SIGKILL');
    await until('a replacement worker', () => {
      const now = workers(parent);
      return now.length === 2 && !now.includes(before[0]);
    });
    await until('the restart in the log', () => /killed by signal 9; restarting/.test(s.binaryLog));
    for (let i = 0; i < 20; i++) {
      const r = await s.get();
      assert.equal(r.status, 200, r.body);
    }
  } finally {
    await s.stop();
  }
});

test('SIGTERM waits for the request in flight, then exits 0', async () => {
  // token mode against a slow emulator: the request takes ~2 s upstream.
  const s = await startStack({
    workers: 1,
    config: (st) => ({ mode: 'token', rest_host: `127.0.0.1:${st.emuPort}`, tls: 'off' }),
  });
  try {
    await fetch(`${s.emulatorUrl}/_emulator/faults`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ latencyMs: 2000, count: 1 }),
    });
    const inFlight = s.get();
    // Upstream holds the request for 2 s; 700 ms in, it is being served
    // (not still queued in the listen backlog), even on a slow ASan build.
    await sleep(700);
    const t0 = Date.now();
    const stopped = s.procs.binary.stop('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200, `the request in flight was lost: ${res.status} ${res.body}`);
    assert.ok(JSON.parse(res.body).token, 'no token in the answer');
    const exit = await stopped;
    assert.equal(exit.code, 0, s.binaryLog);
    assert.equal(exit.forced, false);
    assert.equal(exit.stragglers, false);
    assert.ok(Date.now() - t0 >= 500, 'exited before the request finished');
  } finally {
    await s.stop();
  }
});

test('a second start on the socket of a running instance is refused, and the first keeps serving', async () => {
  const s = await startStack({ workers: 1, config: { mode: 'token-request' } });
  try {
    const second = spawnSync(binaryPath, ['--config', s.configPath, '--listen', `unix:${s.sockPath}`, '--workers', '1'],
      { encoding: 'utf8', timeout: 10000 });
    assert.equal(second.status, 2, second.stderr);
    assert.match(second.stderr, /another process is serving .*ably-token\.sock \(stop it first, or listen on another path\)/);
    const r = await s.get();
    assert.equal(r.status, 200, r.body);
  } finally {
    await s.stop();
  }
});

test('a stale socket left by a process that died is replaced at start', async () => {
  const s = await startStack({ workers: 1, config: { mode: 'token-request' } });
  const sock = `${s.sockPath}.stale`;
  try {
    // A socket file nobody serves: bound, then its process gone.
    execFileSync('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`]);
    const p = spawnSync('timeout', ['-s', 'TERM', '1', binaryPath, '--config', s.configPath, '--listen', `unix:${sock}`, '--workers', '1'],
      { encoding: 'utf8' });
    // Served until timeout's SIGTERM (exit 124 from timeout), not refused.
    assert.equal(p.status, 124, p.stderr);
    assert.doesNotMatch(p.stderr, /another process is serving/);
    assert.match(p.stderr, /serving with 1 workers/);
  } finally {
    await s.stop();
  }
});
