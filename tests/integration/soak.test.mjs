// The short soak (make test): SOAK_REQUESTS (default 5,000) requests per
// mode through nginx with wrk, a mix of valid requests in every form and a
// few bad ones. Each worker's anonymous memory (RssAnon) after a warm-up
// tenth and at the end may not differ by more than 1 MB, its open descriptors not at all, no worker
// may be replaced, no answer may be a 5xx or a socket error, and neither the
// answers (every body and header, checked inside wrk) nor any log line may
// hold the key secret. `make reliability` runs the same with 200,000.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { startStack, startEmulator, binaryPath } from './lib/stack.mjs';
import { soak, validVariants, badVariants, wrkPath } from './lib/load.mjs';
import { SecretScanner } from './lib/secrets.mjs';

const N = Number(process.env.SOAK_REQUESTS || 5000);
const RSS_LIMIT_KB = 1024;
// Under ASan freed memory sits in a quarantine, so memory says nothing there.
const asan = (() => {
  try { return fs.readFileSync(binaryPath).includes(Buffer.from('__asan_init')); } catch { return false; }
})();

const CAPABILITY = { 'chat:*': ['subscribe', 'publish', 'presence'], status: ['subscribe'] };
const VARIANTS = [...validVariants(), ...validVariants(), ...validVariants(), ...badVariants()];

for (const mode of ['token-request', 'jwt', 'token']) {
  test(`soak: ${N} requests in ${mode} mode, memory within ${RSS_LIMIT_KB} kB, descriptors flat, no failures`,
    { skip: !wrkPath() && 'wrk is not installed (scripts/install-deps.sh installs it)', timeout: 600000 },
    async (t) => {
      let fallback = null;
      if (mode === 'token') fallback = await startEmulator(null);
      const stack = await startStack({
        workers: 2,
        emulator: mode === 'token',
        config: (s) => ({
          mode, capability: CAPABILITY,
          ...(mode === 'token' ? { rest_host: `127.0.0.1:${s.emuPort}`, fallback_hosts: `127.0.0.1:${fallback.port}`, tls: 'off' } : {}),
        }),
      });
      const scan = new SecretScanner(stack.secret);
      scan.text('ably-token stderr', stack.procs.binary.err);
      scan.attach('ably-token stderr', stack.procs.binary.child.stderr);
      let r;
      try {
        r = await soak({ stack, mode, requests: N, variants: VARIANTS });
      } finally {
        await stack.stop();
        if (fallback) await fallback.proc.stop();
      }
      for (const p of Object.values(stack.procs).concat(fallback ? [fallback.proc] : [])) scan.text(`${p.name} output`, p.out);
      const total = { sent: r.warm.sent + r.main.sent, ok: r.warm.ok + r.main.ok, failed: r.warm.failed + r.main.failed };
      t.diagnostic(`${mode}: ${total.sent} sent, ${total.ok} ok, ${total.failed} failed, ${r.main.rps} req/s; ` +
        `anon ${r.before.map((w) => w.anonKb).join('/')} -> ${r.after.map((w) => w.anonKb).join('/')} kB, ` +
        `RSS ${r.before.map((w) => w.rssKb).join('/')} -> ${r.after.map((w) => w.rssKb).join('/')} kB; ` +
        `fds ${r.before.map((w) => w.fds).join('/')} -> ${r.after.map((w) => w.fds).join('/')}`);
      assert.equal(total.failed, 0, `failures: warm-up ${JSON.stringify(r.warm.status)} ${JSON.stringify(r.warm.errors)}, ` +
        `main ${JSON.stringify(r.main.status)} ${JSON.stringify(r.main.errors)}, bad bodies ${r.main.badBodies}`);
      assert.equal(r.warm.leaks + r.main.leaks, 0, 'the key secret appeared in an answer');
      assert.ok(r.samePids, `workers were replaced: ${JSON.stringify(r.before)} -> ${JSON.stringify(r.after)}`);
      assert.ok(r.fdsFlat, `open descriptors changed: ${JSON.stringify(r.before)} -> ${JSON.stringify(r.after)}`);
      if (asan) t.diagnostic('ASan build: memory growth not checked (quarantine)');
      else {
        for (const g of r.growthKb) assert.ok(g !== null && g <= RSS_LIMIT_KB, `a worker's anonymous memory grew by ${g} kB`);
      }
      assert.ok(scan.lines > 0, 'no log lines were scanned');
      assert.deepEqual(scan.summary(), [], 'the key secret appeared in a log');
    });
}
