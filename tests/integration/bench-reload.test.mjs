// `make bench`'s reload section, run small: tests/bench/run.mjs --section reload against the
// binary under test (token mode with the bench's HTTPS stand-in for Ably 50 ms away, so that
// every connection has a request parked on it; 16 connections, 2 s runs, one SIGHUP), into a
// scratch results directory that already holds the other sections' parts. It checks what
// the section must get right whatever the machine's speed: every request answered, the
// reload done and logged, the retired workers gone, the figures written; and that a section
// run alone leaves the others' parts of results/latest.* as they were. No timing is judged
// here (the throughput line is only required to be there).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { binaryPath, repoRoot } from './lib/stack.mjs';

function which(cmd) {
  for (const d of (process.env.PATH || '').split(':').concat(['/usr/sbin', '/usr/local/sbin'])) {
    if (d && fs.existsSync(path.join(d, cmd))) return path.join(d, cmd);
  }
  return null;
}

const missing = ['nginx', 'wrk', 'openssl'].filter((c) => !which(c));

/** Run node tests/bench/run.mjs with args; its exit code and output (killed after 90 s). */
function runBench(args) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(repoRoot, 'tests/bench/run.mjs'), ...args],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => p.kill('SIGTERM'), 90000);
    p.on('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal, out, err }); });
  });
}

// What an earlier run left: a main part and an rtt part, each in all three files.
const MAIN_TXT = 'ably-token-fcgi benchmark, recorded earlier\n  PASS  an earlier main verdict\n';
const RTT_TXT = '== token mode at a round trip to Ably (section rtt) ==\n  PASS  an earlier rtt verdict\n';
const MAIN_MD = '<!-- generated earlier -->\n| target | verdict |\n|---|---|\n| main | PASS |\n';
const RTT_MD = '<!-- section rtt -->\n\n| target | verdict |\n|---|---|\n| rtt | PASS |\n';

test('bench --section reload: requests all answered, reload logged, workers back to --workers; other sections kept',
  { skip: missing.length ? `no ${missing.join(', ')}` : false, timeout: 120000 }, async () => {
    const out = await fsp.mkdtemp(path.join(os.tmpdir(), 'bench-reload-test-'));
    try {
      await fsp.writeFile(path.join(out, 'latest.txt'), `${MAIN_TXT}\n${RTT_TXT}`);
      await fsp.writeFile(path.join(out, 'latest.md'), `${MAIN_MD}\n${RTT_MD}`);
      await fsp.writeFile(path.join(out, 'latest.json'),
        JSON.stringify({ summary: { earlier: 1 }, verdicts: [], rtt: { earlier: 2 } }));
      const r = await runBench(['--section', 'reload', '--build', path.dirname(binaryPath), '--out', out,
        '--reload-settings', 'token', '--reload-rtt-ms', '50', '--reload-conns', '16', '--duration', '2', '--warmup', '0']);
      assert.equal(r.code, 0, `run.mjs exited ${r.code ?? r.signal}\n${r.err.slice(-3000)}`);

      const txt = await fsp.readFile(path.join(out, 'latest.txt'), 'utf8');
      const md = await fsp.readFile(path.join(out, 'latest.md'), 'utf8');
      const json = JSON.parse(await fsp.readFile(path.join(out, 'latest.json'), 'utf8'));

      // The other sections' parts, as they were, and this one after them.
      assert.ok(txt.startsWith(`${MAIN_TXT}\n${RTT_TXT}\n== reloads under load (section reload) ==\n`), txt.slice(0, 600));
      assert.ok(md.startsWith(`${MAIN_MD}\n${RTT_MD}\n<!-- section reload -->\n`), md.slice(0, 600));
      assert.deepEqual(json.summary, { earlier: 1 });
      assert.deepEqual(json.rtt, { earlier: 2 });

      // The figures: one pair of runs, one SIGHUP (at 1 s of 2), all of it answered.
      const [cell] = json.reload.cells;
      assert.equal(json.reload.cells.length, 1);
      assert.equal(cell.conns, 16);
      for (const run of [cell.baseline, cell.reload]) {
        assert.ok(run.requests > 0, 'wrk made requests');
        assert.equal(run.non_2xx, 0, 'non-2xx answers');
        assert.equal(run.socket_errors, 0, `socket errors ${JSON.stringify(run.error_detail)}`);
        assert.equal(run.workers_after, 2, 'workers left after the run');
        assert.equal(run.nginx_dropped, 0, `requests dropped after nginx sent them: ${run.nginx_error_sample.join(' | ')}`);
        assert.ok(Number.isFinite(run.cpu_us_per_req) && run.cpu_us_per_req > 0, 'server CPU per request');
      }
      assert.equal(cell.baseline.reloads_sent, 0);
      assert.equal(cell.baseline.reloads_done, 0);
      assert.equal(cell.reload.reloads_sent, 1);
      assert.equal(cell.reload.reloads_done, 1, '"reloaded:" logged once');
      assert.equal(cell.reload.workers_retired, 2, 'both old workers reported finishing');
      assert.ok(cell.reload.workers_max >= 2 && cell.reload.workers_max <= 4, `most workers alive ${cell.reload.workers_max}`);
      assert.ok(Number.isFinite(cell.ratio) && cell.ratio > 0);

      // The checks it prints: the three that do not depend on speed pass; the throughput one is there.
      const label = 'reloads under load (token, Ably at 50 ms)';
      for (const check of ['0 non-2xx answers and 0 socket errors', 'every reload done',
        'no request read by a worker and left unanswered (nginx: "upstream prematurely closed" or other)',
        'only --workers 2 workers remain after each run']) {
        assert.match(txt, new RegExp(`^  PASS  ${escape(label)}: ${escape(check)}: `, 'm'), check);
        assert.match(md, new RegExp(`^\\| ${escape(label)}: ${escape(check)} \\| PASS \\|`, 'm'), check);
      }
      assert.match(txt, new RegExp(`^  (PASS|FAIL)  ${escape(label)}: throughput with reloads >= 0\\.9x the baseline: 16 conns: `, 'm'));
      assert.match(r.out, /== reloads under load \(section reload\) ==/, 'printed too');
    } finally {
      await fsp.rm(out, { recursive: true, force: true });
    }
  });

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
