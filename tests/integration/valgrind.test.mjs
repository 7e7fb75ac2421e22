// valgrind memcheck over a few hundred requests in each mode: the binary
// runs under valgrind behind nginx (--workers 2, so the supervisor and both
// workers are checked, each at its own exit, and after a SIGHUP halfway
// the two workers that replace them), and a mixed load goes through:
// valid requests in every form, health, preflights, and a sample of the
// bad-input table; in token mode also upstream failures (503, a garbage
// body) from the emulator. Every process must end with "ERROR SUMMARY: 0
// errors" under --leak-check=full --errors-for-leak-kinds=definite.
//
// An ASan build cannot run under valgrind: with ABLY_TOKEN_BIN pointing at
// one (make check), the plain build/ably-token next to it is used, and the
// suite is skipped if there is none. VALGRIND_REQUESTS (default 300) sets
// the number of requests per mode.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { test, after } from 'node:test';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const N = Number(process.env.VALGRIND_REQUESTS || 300);

function isAsan(bin) {
  try {
    return fs.readFileSync(bin).includes(Buffer.from('__asan_init'));
  } catch {
    return false;
  }
}

// The binary valgrind runs, and why the suite may not run at all.
let real = path.resolve(root, process.env.ABLY_TOKEN_BIN || 'build/ably-token');
let skip = false;
if (isAsan(real)) {
  const plain = path.join(root, 'build/ably-token');
  if (fs.existsSync(plain) && !isAsan(plain)) real = plain;
  else skip = `${real} is an ASan build and there is no plain build/ably-token to run under valgrind`;
}
let valgrind = null;
try {
  valgrind = execFileSync('sh', ['-c', 'command -v valgrind'], { encoding: 'utf8' }).trim();
} catch {
  valgrind = null;
}

// stack.mjs starts $ABLY_TOKEN_BIN: point it at a wrapper that execs the
// binary under valgrind, logging per process into $VG_LOG_DIR (set per stack).
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ably-token-vg-'));
const wrapper = path.join(scratch, 'ably-token-under-valgrind');
fs.writeFileSync(wrapper, `#!/bin/sh
exec ${valgrind || 'valgrind'} --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite \\
  --show-leak-kinds=definite --error-exitcode=99 --num-callers=30 \\
  --log-file="$VG_LOG_DIR/vg.%p.log" ${real} "$@"
`, { mode: 0o755 });
process.env.ABLY_TOKEN_BIN = wrapper;
process.env.IT_START_TIMEOUT_MS = process.env.IT_START_TIMEOUT_MS || '90000';
const { startStack, startEmulator } = await import('./lib/stack.mjs');
const { requestMix, runMix } = await import('./lib/mix.mjs');

after(() => {
  if (!process.env.IT_KEEP_TMP) fs.rmSync(scratch, { recursive: true, force: true });
});

const CAPABILITY = { 'chat:*': ['subscribe', 'publish', 'presence'], status: ['subscribe'] };

/** Every valgrind log of a run: {file, pid, errors, summary, text}. */
function readLogs(dir) {
  return fs.readdirSync(dir).filter((f) => f.startsWith('vg.')).map((f) => {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    const m = /ERROR SUMMARY: (\d+) errors/.exec(text);
    const lost = /definitely lost: ([\d,]+) bytes/.exec(text);
    return { file: f, errors: m ? Number(m[1]) : null, definitelyLost: lost ? lost[1] : '0', text };
  });
}

async function underValgrind(t, mode) {
  const logDir = path.join(scratch, mode);
  fs.mkdirSync(logDir);
  let fallback = null;
  if (mode === 'token') fallback = await startEmulator(null);
  const stack = await startStack({
    workers: 2,
    emulator: mode === 'token',
    env: { VG_LOG_DIR: logDir },
    config: (s) => ({
      mode,
      capability: CAPABILITY,
      cors_origins: 'http://allowed.example',
      ...(mode === 'token' ? {
        rest_host: `127.0.0.1:${s.emuPort}`, fallback_hosts: `127.0.0.1:${fallback.port}`, tls: 'off',
        connect_timeout_ms: 1000, request_timeout_ms: 2000, upstream_timeout_ms: 5000,
      } : {}),
    }),
  });
  let tally;
  let exit;
  try {
    if (mode === 'token') {
      // Upstream failures too: the primary answers 503 and then garbage a
      // few times (the fallback takes those over), the fallback fails once.
      const fault = (url, f) => fetch(`${url}/_emulator/faults`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(f),
      });
      await fault(stack.emulatorUrl, { status: 503, count: 5 });
      await fault(fallback.url, { garbage: true, count: 2 });
    }
    // Half the load, a reload (SIGHUP: the config read again, two new
    // workers, the old ones retire, each checked at its own exit), the
    // other half.
    const next = requestMix(stack, { bad: 0.3 });
    const first = await runMix(next, Math.ceil(N / 2), { concurrency: 4 });
    process.kill(stack.procs.binary.pid, 'SIGHUP');
    const end = Date.now() + 60000;
    while (!/reloaded: configuration generation 2/.test(stack.binaryLog) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(stack.binaryLog, /reloaded: configuration generation 2/, 'the reload under valgrind');
    const second = await runMix(next, Math.floor(N / 2), { concurrency: 4 });
    tally = {
      sent: first.sent + second.sent, ok: first.ok + second.ok, failed: first.failed + second.failed,
      failures: [...first.failures, ...second.failures], byStatus: { first: first.byStatus, second: second.byStatus },
    };
    t.diagnostic(`${mode}: ${tally.sent} requests, ${tally.ok} as expected, statuses ${JSON.stringify(tally.byStatus)}`);
  } finally {
    // valgrind's leak check at exit takes a while: wait longer than stop() does.
    const bin = stack.procs.binary;
    if (bin.exit === null) bin.child.kill('SIGTERM');
    let timer;
    exit = await Promise.race([bin.exited, new Promise((r) => { timer = setTimeout(r, 60000, null); })]);
    clearTimeout(timer);
    await stack.stop();
    if (fallback) await fallback.proc.stop();
  }
  const logs = readLogs(logDir);
  return { tally, exit, logs, stack };
}

for (const mode of ['token-request', 'jwt', 'token']) {
  test(`valgrind memcheck, ${N} requests in ${mode} mode: no memory errors, no definite leaks`,
    { skip: skip || (!valgrind && 'valgrind is not installed (scripts/install-deps.sh installs it)'), timeout: 300000 },
    async (t) => {
      const { tally, exit, logs, stack } = await underValgrind(t, mode);
      assert.ok(exit, `ably-token under valgrind did not exit within 60 s of SIGTERM\n${stack.binaryLog.slice(-2000)}`);
      // Every request got what it should; in token mode the injected upstream
      // faults may turn a few valid requests into 502s.
      const allowedMisses = mode === 'token' ? 5 : 0;
      assert.ok(tally.failed <= allowedMisses, `${tally.failed} unexpected answers: ${tally.failures.join('\n')}`);
      assert.ok(logs.length >= 5, `expected logs of the supervisor, 2 workers and 2 after the reload, got ${logs.map((l) => l.file)}`);
      for (const l of logs) {
        assert.notEqual(l.errors, null, `${l.file}: no ERROR SUMMARY (the process did not exit normally):\n${l.text.slice(-3000)}`);
        assert.equal(l.errors, 0, `${l.file}: ${l.errors} errors (definitely lost: ${l.definitelyLost} bytes):\n${l.text.slice(-6000)}`);
      }
      assert.equal(exit.signal, null, `died of ${exit.signal}`);
      assert.equal(exit.code, 0, `exit status ${exit.code} (99 = valgrind found errors in the supervisor)`);
      assert.ok(!stack.binaryLog.includes(stack.secret), 'the key secret appears in the binary\'s stderr');
      for (const r of stack.responses) assert.ok(!r.raw.includes(stack.secret), `secret in ${r.method} ${r.path}`);
    });
}
