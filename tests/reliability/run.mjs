#!/usr/bin/env node
// `make reliability`: the endpoint measured under faults and load, on
// loopback, every row with its bound.
//
//   node tests/reliability/run.mjs [--build DIR] [--soak N] [--fault-seconds S]
//        [--fuzz-seconds S] [--valgrind-requests N] [--only a,b] [--out FILE]
//
//   --soak N             requests per mode in the soak (default 200000)
//   --fault-seconds S    length of each fault scenario's wrk run (default 12)
//   --fuzz-seconds S     per libFuzzer target (default 30; 0 skips the fuzz rows)
//   --valgrind-requests  per mode under valgrind (default 300)
//   --only               run only the scenarios whose name starts with one of these
//   --out FILE           where the table goes (default tests/reliability/results/latest.txt)
//
// Rows: faults under wrk load (a worker killed, the Ably primary killed /
// answering 503 / hanging with a fallback configured, nginx reloaded), the
// soak per mode (anonymous memory of each worker after warm-up vs at the end, open
// descriptors), valgrind, the bad-input table, the key-hygiene tests, the
// fuzzers, and the secret scan over every answer and log line of the run.
// Exit status 0 when every row is within its bound.

import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

// ------------------------------------------------------------------ options
const opts = { build: 'build', soak: 200000, faultSeconds: 12, fuzzSeconds: 30, valgrindRequests: 300, only: null,
  out: path.join(here, 'results/latest.txt') };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const v = () => process.argv[++i];
  if (a === '--build') opts.build = v();
  else if (a === '--soak') opts.soak = Number(v());
  else if (a === '--fault-seconds') opts.faultSeconds = Number(v());
  else if (a === '--fuzz-seconds') opts.fuzzSeconds = Number(v());
  else if (a === '--valgrind-requests') opts.valgrindRequests = Number(v());
  else if (a === '--only') opts.only = v().split(',');
  else if (a === '--out') opts.out = path.resolve(v());
  else if (a === '-h' || a === '--help') {
    console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 22).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    process.exit(0);
  } else {
    console.error(`reliability: unknown argument ${a}`);
    process.exit(2);
  }
}
const binary = path.resolve(root, opts.build, 'ably-token');
if (!fs.existsSync(binary)) {
  console.error(`reliability: no binary at ${binary} (make all)`);
  process.exit(2);
}
process.env.ABLY_TOKEN_BIN = binary;
const { startStack, startEmulator, sleep } = await import('../integration/lib/stack.mjs');
const { runWrk, soak, validVariants, badVariants, bodyPattern, workerStats, wrkPath } = await import('../integration/lib/load.mjs');
const { SecretScanner } = await import('../integration/lib/secrets.mjs');

if (!wrkPath()) {
  console.error('reliability: wrk is not installed (scripts/install-deps.sh installs it)');
  process.exit(2);
}

const want = (name) => !opts.only || opts.only.some((o) => name.startsWith(o));
const rows = [];
let scan = null; // created with the first stack (it needs the secret)
const answersChecked = { n: 0, leaks: 0 };
const CAPABILITY = { 'chat:*': ['subscribe', 'publish', 'presence'], status: ['subscribe'] };

function log(msg) {
  process.stderr.write(`[reliability] ${msg}\n`);
}

function fmt(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US') : String(n ?? '-');
}

function row(r) {
  rows.push(r);
  log(`${r.pass ? 'ok  ' : 'FAIL'} ${r.scenario}: ${fmt(r.requests)} requests, ${fmt(r.ok)} ok, ${fmt(r.failed)} failed (expected ${r.expected}); ${r.notes}`);
}

// ------------------------------------------------------------------ stacks

/** A stack whose every log line goes through the secret scanner. */
async function scannedStack(opts2) {
  const stack = await startStack(opts2);
  if (!scan) scan = new SecretScanner(stack.secret);
  for (const [name, p] of Object.entries(stack.procs)) {
    scan.text(`${name} output`, p.err + p.out);
    scan.attach(`${name} stderr`, p.child.stderr);
    scan.attach(`${name} stdout`, p.child.stdout);
  }
  // The binary logs a line per request: stack.binaryLog keeps only the
  // tail, so count the supervisor's restart lines as they go by.
  stack.restarts = 0;
  let carry = '';
  stack.procs.binary.child.stderr.on('data', (d) => {
    const lines = (carry + d).split('\n');
    carry = lines.pop();
    for (const l of lines) if (/killed by signal \d+; restarting|exited with \d+; restarting/.test(l)) stack.restarts++;
  });
  return stack;
}

async function stopScanned(stack, extra = []) {
  const logs = path.join(stack.dir, 'nginx/logs');
  for (const f of fs.existsSync(logs) ? fs.readdirSync(logs) : []) scan.file(`nginx ${f}`, path.join(logs, f));
  const errorLog = (() => { try { return fs.readFileSync(path.join(logs, 'error.log'), 'utf8'); } catch { return ''; } })();
  await stack.stop();
  for (const p of extra) await p.stop();
  return errorLog;
}

async function scannedEmulator() {
  const emu = await startEmulator(null);
  if (scan) {
    scan.attach('fallback emulator stderr', emu.proc.child.stderr);
    scan.attach('fallback emulator stdout', emu.proc.child.stdout);
  }
  return emu;
}

function tokenConfig(s, fallback, extra = {}) {
  return {
    mode: 'token', capability: CAPABILITY, rest_host: `127.0.0.1:${s.emuPort}`,
    fallback_hosts: `127.0.0.1:${fallback.port}`, tls: 'off',
    connect_timeout_ms: 500, request_timeout_ms: 1000, upstream_timeout_ms: 3000, ...extra,
  };
}

async function emuControl(url, pathName, body) {
  const res = await fetch(`${url}${pathName}`, {
    method: body ? 'POST' : 'GET', headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.status === 204 ? null : res.json();
}

function account(r) {
  answersChecked.n += r.answered;
  answersChecked.leaks += r.leaks;
  return r;
}

function loadNotes(r) {
  const st = Object.entries(r.status).map(([k, v]) => `${k}:${v}`).join(' ');
  const se = r.socketErrors ? ` socket errors ${JSON.stringify(r.errors)}` : '';
  return `${r.rps} req/s, p99 ${r.latency.p99.toFixed(1)} ms; statuses ${st}${se}`;
}

// ------------------------------------------------------------------ faults

async function faultKillWorker() {
  const name = 'fault: worker killed (x3)';
  if (!want(name)) return;
  const stack = await scannedStack({ workers: 4, emulator: false, config: { mode: 'token-request', capability: CAPABILITY } });
  const parent = stack.procs.binary.pid;
  const killed = [];
  let r;
  let after;
  let errorLog;
  try {
    r = account(await runWrk({
      baseUrl: stack.baseUrl, seconds: opts.faultSeconds, secret: stack.secret, expect200: bodyPattern('token-request'),
      onStart: async ({ startedAt }) => {
        // SIGKILL a different worker at 20%, 50% and 80% of the run.
        for (const at of [0.2, 0.5, 0.8]) {
          await sleep(Math.max(0, startedAt + opts.faultSeconds * 1000 * at - Date.now()));
          const ws = workerStats(parent);
          const victim = ws[killed.length % ws.length];
          if (victim) {
            try { process.kill(victim.pid, 'SIGKILL'); killed.push(victim.pid); } catch { /* gone already */ }
          }
        }
      },
    }));
    await sleep(1500);  // the supervisor waits a second before a quick restart
    after = workerStats(parent);
  } finally {
    errorLog = await stopScanned(stack);
  }
  const restarted = stack.restarts;
  const cut = (errorLog.match(/upstream prematurely closed|reset by peer/g) || []).length;
  // Each failure must be a request nginx saw cut off by a dying worker: one
  // at most per kill (a worker serves one request at a time). nginx also logs
  // the kept connections a dying worker closed under it, and retries the
  // requests that met those, so there may be more cut connections than failures.
  const pass = r.failed <= killed.length && r.failed <= cut && r.leaks === 0 && after.length === 4 &&
    restarted === killed.length && r.socketErrors === 0 && r.badBodies === 0;
  row({
    scenario: name, requests: r.sent, ok: r.ok, failed: r.failed,
    expected: `<= ${killed.length} (in flight)`, pass,
    short: `${killed.length} kills, ${restarted} restarts, ${cut} connections cut`,
    notes: `SIGKILL to ${killed.length} of 4 token-request workers at 20/50/80% of a ${opts.faultSeconds} s wrk run; ` +
      `${restarted} restarted by the supervisor, ${after.length} running after; nginx logged ${cut} connections cut by a ` +
      `worker's death (the request in flight, answered 502 with nginx's Ably-shaped page, or a kept connection, whose ` +
      `request nginx retried on another); ${loadNotes(r)}`,
  });
}

async function faultUpstream(name, inject, notes) {
  if (!want(name)) return;
  const fallback = await scannedEmulator();
  const stack = await scannedStack({ workers: 2, config: (s) => tokenConfig(s, fallback) });
  let r;
  let fbStats;
  try {
    r = account(await runWrk({
      baseUrl: stack.baseUrl, seconds: opts.faultSeconds, secret: stack.secret, expect200: bodyPattern('token'),
      onStart: async ({ startedAt }) => {
        await sleep(Math.max(0, startedAt + opts.faultSeconds * 1000 * 0.3 - Date.now()));
        await inject(stack, fallback);
      },
    }));
    fbStats = await emuControl(fallback.url, '/_emulator/stats');
  } finally {
    await stopScanned(stack, [fallback.proc]);
  }
  const fb = fbStats.routes.requestToken;
  row({
    scenario: name, requests: r.sent, ok: r.ok, failed: r.failed, expected: '0',
    pass: r.failed === 0 && r.leaks === 0 && fb.ok > 0,
    short: `fallback issued ${fmt(fb.ok)} tokens`,
    notes: `token mode, fallback_hosts = a second emulator; ${notes}; the fallback issued ${fmt(fb.ok)} tokens; ${loadNotes(r)}`,
  });
}

async function faultNginxReload(keepAlive) {
  const name = `fault: nginx -s reload x2 (${keepAlive ? 'keep-alive' : 'Connection: close'})`;
  if (!want(name)) return;
  const stack = await scannedStack({ workers: 2, emulator: false, config: { mode: 'token-request', capability: CAPABILITY } });
  const prefix = path.join(stack.dir, 'nginx');
  const connections = 8;
  let reloads = 0;
  let r;
  let access = '';
  try {
    const variants = validVariants().map((v) => (keepAlive ? v : { ...v, headers: { ...(v.headers || {}), Connection: 'close' } }));
    r = account(await runWrk({
      baseUrl: stack.baseUrl, seconds: opts.faultSeconds, secret: stack.secret, expect200: bodyPattern('token-request'),
      variants, connections,
      onStart: async ({ startedAt }) => {
        for (const at of [0.3, 0.6]) {
          await sleep(Math.max(0, startedAt + opts.faultSeconds * 1000 * at - Date.now()));
          await new Promise((resolve) => execFile(nginxBinary(), ['-p', prefix, '-c', stack.nginxConf, '-s', 'reload'],
            (err, so, se) => { if (err) log(`reload failed: ${err.message} ${se}`); else reloads++; resolve(); }));
        }
      },
    }));
    await sleep(500);
    try { access = fs.readFileSync(path.join(prefix, 'logs/access.log'), 'utf8'); } catch { access = ''; }
  } finally {
    await stopScanned(stack);
  }
  // What nginx itself answered: every request it read got a 2xx.
  const logged = access.split('\n').filter((l) => l.includes('/request-token'));
  const non2xx = logged.filter((l) => !/" 2\d\d /.test(l)).length;
  // With keep-alive, a request wrk sends on a kept connection just as an
  // old nginx worker closes it (idle, finishing gracefully) gets no answer:
  // the HTTP keep-alive race, which browsers answer by retrying and wrk
  // counts as a read error. At most one per connection per reload.
  const bound = keepAlive ? connections * 2 : 0;
  const pass = r.http5xx === 0 && r.badBodies === 0 && r.failed === r.socketErrors && r.failed <= bound &&
    r.leaks === 0 && reloads === 2 && non2xx === 0;
  row({
    scenario: name, requests: r.sent, ok: r.ok, failed: r.failed,
    expected: keepAlive ? `<= ${bound} (keep-alive race)` : '0', pass,
    short: `${reloads} reloads; nginx logged ${fmt(logged.length)}, ${non2xx} not 2xx`,
    notes: `${reloads} graceful reloads (nginx -s reload) at 30/60% of a ${opts.faultSeconds} s wrk run, ${connections} connections` +
      (keepAlive ? '; the only failures allowed are wrk read errors on kept-alive connections that an old worker closed ' +
        'between requests as it finished gracefully (the HTTP keep-alive race: browsers retry such a request, wrk does not)'
        : '; one connection per request, so no request can meet a closing connection') +
      `; nginx's access log holds ${fmt(logged.length)} token requests (those in flight when wrk stopped included), ` +
      `${non2xx} of them not 2xx; ${loadNotes(r)}`,
  });
}

function nginxBinary() {
  for (const p of (process.env.PATH || '').split(':').concat(['/usr/sbin'])) {
    if (p && fs.existsSync(path.join(p, 'nginx'))) return path.join(p, 'nginx');
  }
  return 'nginx';
}

// -------------------------------------------------------------------- soak

async function soakMode(mode) {
  const name = `soak: ${mode}`;
  if (!want(name)) return;
  let fallback = null;
  if (mode === 'token') fallback = await scannedEmulator();
  const stack = await scannedStack({
    workers: 2, emulator: mode === 'token',
    config: (s) => (mode === 'token' ? tokenConfig(s, fallback, { request_timeout_ms: 3000, upstream_timeout_ms: 7000 })
      : { mode, capability: CAPABILITY }),
  });
  const variants = [...validVariants(), ...validVariants(), ...validVariants(), ...badVariants()];
  let s;
  try {
    s = await soak({ stack, mode, requests: opts.soak, variants });
  } finally {
    await stopScanned(stack, fallback ? [fallback.proc] : []);
  }
  account(s.warm);
  account(s.main);
  const sent = s.warm.sent + s.main.sent;
  const ok = s.warm.ok + s.main.ok;
  const failed = s.warm.failed + s.main.failed;
  const rss = s.before.map((w, i) => `${w.anonKb}->${s.after[i] ? s.after[i].anonKb : '?'} kB (${s.growthKb[i] >= 0 ? '+' : ''}${s.growthKb[i]})`).join(', ');
  const fds = s.before.map((w, i) => `${w.fds}->${s.after[i] ? s.after[i].fds : '?'}`).join(', ');
  const rssOk = s.growthKb.every((g) => g !== null && g <= 1024);
  row({
    scenario: `${name} (${fmt(opts.soak)})`, requests: sent, ok, failed, expected: '0',
    pass: failed === 0 && s.warm.leaks + s.main.leaks === 0 && rssOk && s.fdsFlat && s.samePids,
    short: `anon +${Math.max(...s.growthKb)} kB max, fds ${s.fdsFlat ? 'flat' : 'CHANGED'}, ${s.main.rps} req/s`,
    notes: `anonymous memory (RssAnon) per worker after warm-up -> end: ${rss} (bound +1024 kB); fds ${fds}; ` +
      `${s.samePids ? 'no worker replaced' : 'WORKERS REPLACED'}; ${s.main.rps} req/s, p99 ${s.main.latency.p99.toFixed(1)} ms; ` +
      `${fmt(s.main.status[200] || 0)} of the main run 200, the rest the bad-input variants' 4xx`,
  });
}

// ---------------------------------------------------- suites run as children

function runChild(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    if (scan) {
      scan.attach(`${path.basename(args[args.length - 1] || cmd)} output`, child.stdout);
      scan.attach(`${path.basename(args[args.length - 1] || cmd)} output`, child.stderr);
    }
    child.on('close', (code) => resolve({ code, out }));
  });
}

async function nodeSuite(name, file, env, notes) {
  if (!want(name)) return;
  const tap = path.join(os.tmpdir(), `ably-token-rel-${process.pid}-${path.basename(file)}.tap`);
  const t0 = Date.now();
  const { code, out } = await runChild(process.execPath, ['--test', '--test-reporter=tap', `--test-reporter-destination=${tap}`, file], env);
  let text = '';
  try { text = fs.readFileSync(tap, 'utf8'); fs.rmSync(tap); } catch { text = out; }
  const num = (k) => Number((new RegExp(`^# ${k} (\\d+)`, 'm').exec(text) || [])[1] || 0);
  const pass = num('pass');
  const fail = num('fail') + num('cancelled');
  const todo = num('todo');
  const diags = [...text.matchAll(/^\s*# (token-request|jwt|token): (.*)$/gm)].map((m) => `${m[1]}: ${m[2]}`);
  const sum = (re) => diags.map((d) => Number((re.exec(d) || [])[1] || 0)).reduce((a, b) => a + b, 0);
  const reqs = sum(/(\d+) requests/);
  const asExpected = sum(/(\d+) as expected/);
  const failing = [...text.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1]).filter((t) => !/# TODO/.test(t));
  row({
    scenario: name, requests: reqs || `${pass + fail + todo} tests`, ok: reqs ? asExpected : pass, failed: fail, expected: '0',
    pass: code === 0 && fail === 0 && pass > 0,
    short: `${pass} tests passed${todo ? `, ${todo} todo` : ''}${fail ? `, ${fail} FAILED` : ''}`,
    notes: `${notes}${todo ? `; ${todo} known deviations (todo)` : ''}; ${Math.round((Date.now() - t0) / 1000)} s` +
      (diags.length ? `; ${diags.join('; ')}` : '') + (failing.length ? `; FAILING: ${failing.slice(0, 6).join(' | ')}` : ''),
  });
}

async function fuzzRows() {
  if (!opts.fuzzSeconds || !want('fuzz')) return;
  const { out } = await runChild(path.join(root, 'tests/fuzz/run.sh'), ['--seconds', String(opts.fuzzSeconds)]);
  const lines = out.split('\n').filter((l) => /^\s+(ok|FAIL)\s+fuzz_/.test(l));
  if (!lines.length) {
    row({ scenario: 'fuzz', requests: '-', ok: 0, failed: 1, expected: '0', pass: false, short: 'no result', notes: out.trim().split('\n').slice(-5).join(' / ') });
    return;
  }
  for (const l of lines) {
    const m = /^\s+(ok|FAIL)\s+(fuzz_\S+)\s+(.*)$/.exec(l);
    const runs = Number(((/(\d+) runs/.exec(l) || [])[1]) || 0);
    row({
      scenario: `fuzz: ${m[2]} (${opts.fuzzSeconds} s)`, requests: runs || '-', ok: m[1] === 'ok' ? runs : 0,
      failed: m[1] === 'ok' ? 0 : 1, expected: '0 findings', pass: m[1] === 'ok',
      short: m[3].replace(/\s+/g, ' ').trim().replace(/^\d+s /, ''),
      notes: `${m[3].replace(/\s+/g, ' ').trim()} (runs = inputs executed)`,
    });
  }
}

// ------------------------------------------------------------------- table

function table() {
  const head = ['scenario', 'requests', 'ok', 'failed', 'expected failures', 'result', 'notes'];
  const body = rows.map((r, i) => [r.scenario, fmt(r.requests), r.ok === undefined ? '-' : fmt(r.ok), fmt(r.failed), r.expected,
    r.pass ? 'ok' : 'FAIL', `[${i + 1}] ${r.short || ''}`]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
  const line = (cells) => cells.map((c, i) => (i >= 1 && i <= 3 ? String(c).padStart(w[i]) : i === 6 ? String(c) : String(c).padEnd(w[i]))).join('  ');
  const notes = rows.map((r, i) => `[${i + 1}] ${r.scenario}: ${r.notes}`);
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line), '', 'notes:', ...notes].join('\n');
}

function gitRev() {
  return new Promise((resolve) => execFile('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], (e, so) => resolve(e ? '?' : so.trim())));
}

// -------------------------------------------------------------------- main

const started = new Date();
log(`binary ${binary}; soak ${opts.soak} per mode; fault runs ${opts.faultSeconds} s; ${os.cpus().length} CPUs`);
try {
  await faultKillWorker();
  await faultUpstream('fault: Ably primary killed (SIGKILL)', async (stack) => { stack.procs.emulator.child.kill('SIGKILL'); },
    'primary emulator SIGKILLed 30% into the run');
  await faultUpstream('fault: Ably primary answers 503',
    (stack) => emuControl(stack.emulatorUrl, '/_emulator/faults', { status: 503, count: 1e9, routes: ['requestToken'] }),
    'every requestToken on the primary 503 from 30% into the run');
  await faultUpstream('fault: Ably primary hangs (timeout)',
    (stack) => emuControl(stack.emulatorUrl, '/_emulator/faults', { latencyMs: 20000, count: 1e9, routes: ['requestToken'] }),
    'the primary stops answering 30% into the run (request_timeout_ms 1000, then the fallback)');
  await faultNginxReload(true);
  await faultNginxReload(false);
  for (const mode of ['token-request', 'jwt', 'token']) await soakMode(mode);
  await nodeSuite(`valgrind memcheck (${opts.valgrindRequests} requests x 3 modes)`, 'tests/integration/valgrind.test.mjs',
    { VALGRIND_REQUESTS: String(opts.valgrindRequests) },
    '--leak-check=full --errors-for-leak-kinds=definite; supervisor + 2 workers per mode, each ERROR SUMMARY 0 (ok = answered as expected; in token mode the injected upstream faults may make up to 5 of them 502s)');
  await nodeSuite('bad-input table (nginx + CGI)', 'tests/integration/bad-input.test.mjs', {},
    'tests/integration/cases.txt through nginx (raw socket) and as CGI; each case + a valid request after it');
  await nodeSuite('key hygiene (config mode, wipe at exit)', 'tests/integration/secret-hygiene.test.mjs', {},
    'world-readable key file refused, --allow-insecure-config warns, secret gone from memory at exit');
  await fuzzRows();
} catch (e) {
  row({ scenario: 'runner', requests: '-', ok: '-', failed: 1, expected: '0', pass: false, short: 'aborted', notes: `aborted: ${e.stack || e}`.split('\n').slice(0, 3).join(' / ') });
}

if (scan) {
  // wrk checked every answer (body and headers) inside its Lua script.
  const hits = scan.hits.length + answersChecked.leaks;
  row({
    scenario: 'secret hygiene (whole run)', requests: answersChecked.n, ok: answersChecked.n - answersChecked.leaks, failed: hits,
    expected: '0 hits', pass: hits === 0,
    short: `${fmt(scan.lines)} log lines, ${hits} hits`,
    notes: `secret + base64/base64url searched in every answer (inside wrk) and ${fmt(scan.lines)} log lines ` +
      `(${(scan.bytes / 1e6).toFixed(1)} MB: binary stderr, nginx error/access logs, emulators, child suites)` +
      (answersChecked.leaks ? `; ${answersChecked.leaks} ANSWERS HELD IT` : '') +
      (scan.hits.length ? `; HITS: ${scan.summary().join(', ')}` : ''),
  });
}

const rev = await gitRev();
const header = `ably-token reliability run: ${started.toISOString()} (git ${rev} + working tree), ` +
  `${os.cpus().length} CPUs, ${Math.round((Date.now() - started) / 1000)} s\n` +
  `command: make reliability${process.argv.length > 4 ? ` RELIABILITY_ARGS="${process.argv.slice(4).join(' ')}"` : ''}  ` +
  `(node tests/reliability/run.mjs ${process.argv.slice(2).join(' ')})\n`;
const out = `${header}\n${table()}\n\n${rows.every((r) => r.pass) ? 'every row within its bound' : 'ROWS OUT OF BOUND: ' + rows.filter((r) => !r.pass).map((r) => r.scenario).join(', ')}\n`;
fs.mkdirSync(path.dirname(opts.out), { recursive: true });
fs.writeFileSync(opts.out, out);
console.log(`\n${out}`);
console.log(`(written to ${path.relative(root, opts.out)})`);
process.exit(rows.every((r) => r.pass) ? 0 : 1);
