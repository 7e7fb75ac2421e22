#!/usr/bin/env node
// `make bench`: how much a token costs through nginx + build/ably-token, side by side with
// the floors (nginx `return 200`, a trivial libfcgi responder) and the original Node stack,
// all measured in one run on this machine. Prints a table and a verdict line per target of
// issues 7 and 12, and writes tests/bench/results/latest.json (raw figures) and latest.txt.
//
//   node tests/bench/run.mjs [--section all|main|rtt] [--build build] [--duration 2]
//        [--rounds 5] [--conns 8,64] [--warmup 1] [--node-warmup 6] [--setups a,b,...]
//        [--mem-requests 100000] [--no-memory] [--no-sign] [--no-probe] [--quick] [--keep]
//        [--out DIR] [--workers 2] [--threads 2 (wrk's)]
//        [--token-threads N (ours' --threads in token mode; not passed unless given)]
//        [--rtt-ms 0,20,50,100] [--rtt-conns 64,512] [--rtt-rounds 3]
//        [--rtt-duration (as --duration)] [--rtt-standin c|node] [--storm-requests 5000]
//        [--storm-conns 1000] [--no-storm] [--no-emulator-pair]
//
// Sections: `main` is everything below; `rtt` is token mode at a round trip to Ably
// (tests/bench/rtt.mjs: a delayed HTTPS/HTTP-2 stand-in, ours vs Node at each round trip
// and connection count, upstream connections and memory per worker, a renewal storm).
// Default: both (only `main` when --setups is given). `--section rtt` alone keeps the
// other section's figures in results/latest.* and replaces only its own.
//
// What runs (every process started here, on loopback, in a scratch dir, stopped by PID):
//   nginx-return     nginx `return 200` with the same JSON bytes as a TokenRequest answer
//   responder        nginx -> tests/bench/fixed_responder.c (the FastCGI floor), plain
//   responder-detach the same, ending each connection the way ours does (FCGX_Detach)
//   tr-*, jwt-*, token-*   nginx -> build/ably-token in token-request, jwt and token mode
//                    (token against the local Ably emulator), each in two nginx configs:
//                      plain   = nginx.conf.example with the stock fastcgi_params (all of
//                                them, request headers passed) instead of its own short list
//                      shipped = nginx.conf.example as it is
//   node-tr, node-jwt, node-token   tests/bench/node-server.mjs: Express + the npm `ably`
//                    package, one process, listening directly (as Ably's Node example)
//   token-fast, node-token-fast   token mode against a fast stand-in for Ably (nginx
//                    answering a fixed TokenDetails), to show whether the emulator limits
// Then a starvation probe (shipped config at 1 and 256 connections), unique memory per
// worker of tr-shipped, jwt-shipped and token-fast after >= N requests since they started
// and again N requests later, and tests/bench/sign_bench.c (the signing path alone;
// instructions per signature under callgrind).
// Each setup has its own nginx (rendered from nginx.conf.example by
// scripts/render-nginx-conf.sh) and backend, so CPU and memory are attributed exactly.
// Cells (setup x connections) run one at a time, rounds interleaved; figures are medians
// over rounds, and ratios are taken within each round before the median.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runRtt, rttText, rttMarkdown, RTT_TEXT_MARK, RTT_MD_MARK } from './rtt.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const TEST_KEY = 'TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const WALL_LIMIT_MS = 20 * 60 * 1000; // the whole run, whatever happens

// ------------------------------------------------------------------------------ options

const { values: opt } = parseArgs({
  options: {
    build: { type: 'string', default: 'build' },
    duration: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
    conns: { type: 'string', default: '8,64' },
    threads: { type: 'string', default: '2' },
    workers: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '1' },
    'node-warmup': { type: 'string', default: '6' },
    setups: { type: 'string' },
    'mem-requests': { type: 'string', default: '100000' },
    'token-threads': { type: 'string' },
    section: { type: 'string' },
    'rtt-ms': { type: 'string', default: '0,20,50,100' },
    'rtt-conns': { type: 'string', default: '64,512' },
    'rtt-rounds': { type: 'string', default: '3' },
    'rtt-duration': { type: 'string' },
    'rtt-standin': { type: 'string', default: 'c' },
    'storm-requests': { type: 'string', default: '5000' },
    'storm-conns': { type: 'string', default: '1000' },
    'no-storm': { type: 'boolean', default: false },
    'no-emulator-pair': { type: 'boolean', default: false },
    'no-memory': { type: 'boolean', default: false },
    'no-sign': { type: 'boolean', default: false },
    'no-probe': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(here, 'results') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  const lines = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  const end = lines.findIndex((l, i) => i > 0 && !l.startsWith('//'));
  process.stdout.write(lines.slice(1, end).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}
if (opt.quick) Object.assign(opt, { duration: '1', rounds: '1', warmup: '1', 'node-warmup': '2', 'mem-requests': '20000', 'rtt-rounds': '1' });
const DURATION = Number(opt.duration);
const ROUNDS = Number(opt.rounds);
const CONNS = opt.conns.split(',').map(Number);
const THREADS = Number(opt.threads);
const WORKERS = Number(opt.workers);
// Threads per worker of ours in token mode (its --threads), only when asked for: the
// binary's own default otherwise (an event loop per worker since issue 12).
const TOKEN_THREADS = opt['token-threads'] === undefined ? null : Number(opt['token-threads']);
// These set-ups reach their upstream over plain HTTP/1.1 (tls = off), where a connection
// carries one call at a time: a worker keeps a pool of up to upstream_connections (64 by
// default) and reuses it. The bound on new upstream connections per run is that pool (or one
// per thread with --token-threads, for a threaded binary).
const UPSTREAM_PER_WORKER = TOKEN_THREADS ?? 64;
const SECTION = opt.section ?? (opt.setups ? 'main' : 'all');
const RUN_MAIN = SECTION === 'all' || SECTION === 'main';
const RUN_RTT = SECTION === 'all' || SECTION === 'rtt';
const RTT_MS = opt['rtt-ms'].split(',').map(Number);
const RTT_CONNS = opt['rtt-conns'].split(',').map(Number);
const RTT_ROUNDS = Number(opt['rtt-rounds']);
const RTT_DURATION = Number(opt['rtt-duration'] ?? opt.duration);
const WARMUP = Number(opt.warmup);
const NODE_WARMUP = Number(opt['node-warmup']);
const MEM_REQUESTS = Number(opt['mem-requests']);
const buildDir = path.resolve(repo, opt.build);
const BUILT_BIN = path.join(buildDir, 'ably-token');
let BIN = BUILT_BIN; // replaced by a private copy at start (others may rebuild during the run)
const RESPONDER = path.join(buildDir, 'bench/fixed_responder');
const SIGN_BENCH = path.join(buildDir, 'bench/sign_bench');
const need = (ok, msg) => { if (!ok) { console.error(`bench: ${msg}`); process.exit(2); } };
need(Number.isInteger(DURATION) && DURATION >= 1 && Number.isInteger(WARMUP) && Number.isInteger(NODE_WARMUP) && ROUNDS >= 1 && CONNS.every((c) => c >= 1) && THREADS >= 1 && (TOKEN_THREADS === null || (Number.isInteger(TOKEN_THREADS) && TOKEN_THREADS >= 1)), 'bad --duration/--warmup (whole seconds, wrk takes no less)/--rounds/--conns/--threads/--token-threads');
need(['all', 'main', 'rtt'].includes(SECTION), 'bad --section (all, main or rtt)');
need(RTT_MS.every((x) => Number.isInteger(x) && x >= 0) && RTT_MS.includes(0) && RTT_CONNS.every((c) => Number.isInteger(c) && c >= 1)
  && Number(opt['storm-requests']) >= 1 && Number(opt['storm-conns']) >= 1 && Number.isInteger(RTT_ROUNDS) && RTT_ROUNDS >= 1
  && Number.isInteger(RTT_DURATION) && RTT_DURATION >= 1 && ['c', 'node'].includes(opt['rtt-standin']),
  'bad --rtt-ms (whole ms, 0 among them: the bound needs it)/--rtt-conns/--rtt-rounds/--rtt-duration/--rtt-standin (c or node)/--storm-requests/--storm-conns');
for (const f of [BUILT_BIN, ...(RUN_MAIN ? [RESPONDER, SIGN_BENCH] : [])]) need(fs.existsSync(f), `missing ${f} (run make bench)`);

const T0 = Date.now();
const log = (...a) => console.error(`bench [${String(Math.round((Date.now() - T0) / 1000)).padStart(3)}s]:`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

function which(cmd, extra = []) {
  for (const d of (process.env.PATH || '').split(':').concat(extra)) {
    if (d && fs.existsSync(path.join(d, cmd))) return path.join(d, cmd);
  }
  return null;
}
const NGINX = which('nginx', ['/usr/sbin', '/usr/local/sbin']);
const WRK = which('wrk');
need(NGINX, 'nginx not found (scripts/install-deps.sh)');
need(WRK, 'wrk not found (scripts/install-deps.sh installs it)');
need(fs.existsSync(path.join(repo, 'node_modules/express')), 'node_modules/express missing: run npm ci');

// ------------------------------------------------------------- processes, stopped by PID

const live = new Set();

class Proc {
  constructor(name, cmd, args, opts = {}) {
    this.name = name;
    this.out = '';
    this.err = '';
    this.exit = null;
    // Output to a file (the binary's log) or a pipe we keep the tail of. Detached: its own
    // process group, so its workers can be found (and, if they linger, killed) by its PID.
    const files = [opts.stdoutFile, opts.stderrFile].map((f) => (f ? fs.openSync(f, 'a') : 'pipe'));
    this.child = spawn(cmd, args, { cwd: opts.cwd || repo, env: opts.env || process.env, detached: true,
      stdio: ['ignore', ...files] });
    for (const fd of files) if (fd !== 'pipe') fs.closeSync(fd);
    this.pid = this.child.pid;
    live.add(this);
    const cap = (s, d) => (s + d).slice(-65536);
    this.child.stdout?.setEncoding('utf8');
    this.child.stderr?.setEncoding('utf8');
    this.child.stdout?.on('data', (d) => { this.out = cap(this.out, d); });
    this.child.stderr?.on('data', (d) => { this.err = cap(this.err, d); });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => { this.exit = { code, signal }; live.delete(this); resolve(this.exit); });
      this.child.on('error', (e) => { this.exit = { error: e.message }; live.delete(this); resolve(this.exit); });
    });
  }

  groupAlive() {
    try { process.kill(-this.pid, 0); return true; } catch { return false; }
  }

  // SIGTERM the process we started; SIGKILL its process group (its own workers) if it or
  // any of them is still there after a grace period.
  async stop() {
    if (this.exit === null) { try { process.kill(this.pid, 'SIGTERM'); } catch { /* gone */ } }
    const t = setTimeout(() => { try { process.kill(-this.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
    await this.exited;
    clearTimeout(t);
    for (let i = 0; i < 20 && this.groupAlive(); i++) await sleep(50);
    if (this.groupAlive()) { try { process.kill(-this.pid, 'SIGKILL'); } catch { /* gone */ } }
  }
}

function killAll() {
  for (const p of live) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(sig, () => { killAll(); process.exit(130); });
setTimeout(() => { log(`still running after ${WALL_LIMIT_MS / 60000} min: giving up`); killAll(); process.exit(3); },
  WALL_LIMIT_MS).unref();

async function waitFor(what, proc, check, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    if (proc && proc.exit) throw new Error(`${what}: ${proc.name} exited (${JSON.stringify(proc.exit)})\n${proc.err}`);
    if (await check()) return;
    if (Date.now() > end) throw new Error(`${what}: not ready after ${ms} ms\n${proc ? proc.err : ''}`);
    await sleep(50);
  }
}

function canConnect(o) {
  return new Promise((resolve) => {
    const s = net.connect(o);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** GET on a connection of its own (closed after), so connection counters stay exact. */
function getOnce(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
  });
}

function jsonLine(text, pred) {
  for (const l of text.split('\n')) {
    try { const v = JSON.parse(l); if (pred(v)) return v; } catch { /* not JSON */ }
  }
  return null;
}

// ------------------------------------------------------------------------- /proc readers

function procStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(f[1]), pgrp: Number(f[2]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return null;
  }
}

/** Every process whose process group is one of pgids. */
function groupMembers(pgids) {
  const want = new Set(pgids);
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = procStat(Number(d));
    if (st && want.has(st.pgrp)) out.push(st);
  }
  return out;
}

function cpuTicks(pgids) {
  const m = new Map();
  for (const st of groupMembers(pgids)) m.set(st.pid, st.ticks);
  return m;
}

/** CPU seconds used between two cpuTicks() snapshots (processes present in the second). */
function cpuDelta(a, b) {
  let t = 0;
  for (const [pid, ticks] of b) t += ticks - (a.get(pid) ?? 0);
  return t / CLK_TCK;
}

/** Machine-wide CPU time (s) from /proc/stat: busy (user..softirq) and steal. */
function machineCpu() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal = 0] = f;
  return { busy: (user + nice + system + irq + softirq) / CLK_TCK, steal: steal / CLK_TCK };
}

function memOf(pid) {
  try {
    const r = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (name) => Number((new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(r) || [])[1]);
    return { pid, rss_kb: kb('Rss'), private_dirty_kb: kb('Private_Dirty') };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------- nginx

const SHIPPED_EXAMPLE = fs.readFileSync(path.join(repo, 'nginx.conf.example'), 'utf8');
const STOCK_PARAMS = ['/etc/nginx/fastcgi_params'].find((f) => fs.existsSync(f));

/** The example's own text, plus the floor location (a fixed JSON answer) before /healthz. */
function withFixedLocation(text, fixedBody) {
  const esc = fixedBody.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  const loc = '        # --- bench only: the nginx floor, the same bytes as a TokenRequest answer\n' +
    '        location = /bench-fixed {\n' +
    '            default_type application/json;\n' +
    '            add_header Cache-Control "no-store" always;\n' +
    `            return 200 '${esc}';\n` +
    '        }\n\n';
  const at = text.search(/^[ \t]*location = \/healthz \{/m);
  if (at < 0) throw new Error('nginx.conf.example has no "location = /healthz {" to put the floor before');
  return text.slice(0, at) + loc + text.slice(at);
}

/** The "plain" set-up: the stock fastcgi_params (every parameter, request headers passed)
 *  in place of the example's own short list, and a connection per request (no upstream
 *  keepalive pool, fastcgi_keep_conn off). Everything else as shipped. */
function plainVariant(text) {
  if (!STOCK_PARAMS) throw new Error('no /etc/nginx/fastcgi_params for the plain set-up');
  let replaced = 0;
  const lines = text.split('\n').flatMap((l) => {
    if (/^\s*keepalive\s+\d+\s*;/.test(l)) return [];
    if (/^\s*fastcgi_keep_conn\s+on\s*;/.test(l)) return [l.replace(/on\s*;/, 'off;')];
    if (/^\s*fastcgi_param\s/.test(l) || /^\s*fastcgi_pass_request_headers\s+off\s*;/.test(l)) {
      return replaced++ ? [] : [`        include ${STOCK_PARAMS};  # bench: plain set-up`];
    }
    return [l];
  });
  if (!replaced) throw new Error('nginx.conf.example has no fastcgi_param lines to replace');
  return lines.join('\n');
}

/** What the shipped example does about kept FastCGI connections. */
function shippedConnectionModel(text) {
  const live = text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
  const keep = /fastcgi_keep_conn\s+on\s*;/.test(live);
  const upstreamKeepalive = /^\s*keepalive\s+\d+\s*;/m.test(live);
  const params = (live.match(/^\s*fastcgi_param\s/mg) || []).length;
  const stock = STOCK_PARAMS ? (fs.readFileSync(STOCK_PARAMS, 'utf8').match(/^\s*fastcgi_param\s/mg) || []).length : 0;
  const headersOff = /fastcgi_pass_request_headers\s+off\s*;/.test(live);
  return { keep_conn: keep, upstream_keepalive: upstreamKeepalive, params, stock_params: stock,
    request_headers_passed: !headersOff };
}

async function startNginx(dir, name, exampleText, socket) {
  const prefix = path.join(dir, `nginx-${name}`);
  await fsp.mkdir(prefix, { recursive: true });
  const example = path.join(prefix, 'example.conf');
  await fsp.writeFile(example, exampleText);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const conf = execFileSync(path.join(repo, 'scripts/render-nginx-conf.sh'), ['--prefix', prefix, '--port',
      String(port), '--socket', socket, '--example', example], { encoding: 'utf8' }).trim();
    const proc = new Proc(`nginx(${name})`, NGINX, ['-p', prefix, '-c', conf]);
    try {
      await waitFor(`nginx ${name}`, proc, () => canConnect({ host: '127.0.0.1', port }));
      return { proc, port, conf };
    } catch (e) {
      const errlog = fs.existsSync(path.join(prefix, 'logs/error.log'))
        ? fs.readFileSync(path.join(prefix, 'logs/error.log'), 'utf8') : '';
      await proc.stop();
      if (attempt < 3 && /Address already in use/.test(proc.err + errlog)) continue;
      throw new Error(`${e.message}\n${errlog}`);
    }
  }
}

// --------------------------------------------------------------------------- setups

const SETUPS = [
  { name: 'nginx-return', kind: 'nginx-return', label: 'nginx return 200 (same JSON)' },
  { name: 'responder', kind: 'responder', variant: 'plain', label: 'nginx -> trivial libfcgi responder, plain' },
  { name: 'responder-detach', kind: 'responder', variant: 'plain', detach: true,
    label: 'the same responder closing like ours (FCGX_Detach), plain' },
  { name: 'tr-plain', kind: 'ours', mode: 'token-request', variant: 'plain', label: 'ours token-request, plain' },
  { name: 'tr-shipped', kind: 'ours', mode: 'token-request', variant: 'shipped', label: 'ours token-request, shipped' },
  { name: 'jwt-plain', kind: 'ours', mode: 'jwt', variant: 'plain', label: 'ours jwt, plain' },
  { name: 'jwt-shipped', kind: 'ours', mode: 'jwt', variant: 'shipped', label: 'ours jwt, shipped' },
  { name: 'token-plain', kind: 'ours', mode: 'token', variant: 'plain', upstream: 'emulator', label: 'ours token (emulator), plain' },
  { name: 'token-shipped', kind: 'ours', mode: 'token', variant: 'shipped', upstream: 'emulator', label: 'ours token (emulator), shipped' },
  { name: 'node-tr', kind: 'node', mode: 'token-request', label: 'Node+Express+ably createTokenRequest' },
  { name: 'node-jwt', kind: 'node', mode: 'jwt', label: 'Node+Express JWT (node:crypto)' },
  { name: 'node-token', kind: 'node', mode: 'token', upstream: 'emulator', label: 'Node+Express+ably requestToken (emulator)' },
  { name: 'token-fast', kind: 'ours', mode: 'token', variant: 'shipped', upstream: 'standin', label: 'ours token (fast stand-in), shipped' },
  { name: 'node-token-fast', kind: 'node', mode: 'token', upstream: 'standin', label: 'Node+Express+ably requestToken (fast stand-in)' },
];

async function writeConfig(file, settings) {
  const text = '# written by tests/bench/run.mjs\n' +
    Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n';
  await fsp.writeFile(file, text, { mode: 0o600 });
}

/** Start an ours/responder backend on a unix socket; returns its Proc. */
async function startBackend(dir, s, ctx) {
  const sock = path.join(dir, `${s.name}.sock`);
  let proc;
  if (s.kind === 'ours') {
    const conf = path.join(dir, `${s.name}.conf`);
    // The Node servers' policy (the built-in defaults before they became
    // narrow), so that both sides sign the same TokenParams.
    const settings = { key: TEST_KEY, mode: s.mode, client_id: 'example-client-id', capability: '{"*":["*"]}' };
    if (s.mode === 'token') {
      Object.assign(settings, { rest_host: `127.0.0.1:${ctx.upstreams[s.upstream].port}`, tls: 'off', fallback_hosts: '' });
    }
    await writeConfig(conf, settings);
    const env = { ...process.env };
    for (const v of ['ABLY_API_KEY', 'VITE_ABLY_KEY', 'ABLY_TOKEN_CONF']) delete env[v];
    // The log (one line per request at the default level) goes to a file, as to a journal.
    proc = new Proc(`ably-token(${s.name})`, BIN, ['--config', conf, '--listen', `unix:${sock}`, '--workers',
      String(WORKERS), ...(s.mode === 'token' && TOKEN_THREADS ? ['--threads', String(TOKEN_THREADS)] : [])], { cwd: dir, env, stderrFile: path.join(dir, `${s.name}.log`), stdoutFile: path.join(dir, `${s.name}.log`) });
  } else {
    proc = new Proc(`fixed_responder(${s.name})`, RESPONDER, ['--listen', `unix:${sock}`, '--workers', String(WORKERS),
      '--body', ctx.fixedFile, ...(s.detach ? ['--detach'] : [])], { cwd: dir });
  }
  await waitFor(`${s.name} socket`, proc, () => fs.existsSync(sock) && canConnect({ path: sock }));
  return { proc, sock };
}

async function startSetup(dir, s, ctx) {
  const st = { ...s, pgids: [], procs: [] };
  if (s.kind === 'node') {
    const args = [path.join(here, 'node-server.mjs'), '--mode', s.mode, '--port', '0'];
    if (s.mode === 'token') args.push('--rest-port', String(ctx.upstreams[s.upstream].port));
    const proc = new Proc(`node(${s.name})`, process.execPath, args, { cwd: repo });
    await waitFor(`${s.name}`, proc, () => !!jsonLine(proc.out, (v) => v.event === 'listening'));
    st.port = jsonLine(proc.out, (v) => v.event === 'listening').port;
    st.procs.push(proc);
    st.backendPgid = proc.pid;
    st.path = '/request-token';
  } else {
    let text = s.variant === 'plain' ? plainVariant(SHIPPED_EXAMPLE) : SHIPPED_EXAMPLE;
    text = withFixedLocation(text, ctx.fixedBody);
    let sock = path.join(dir, `${s.name}-unused.sock`);
    if (s.kind !== 'nginx-return') {
      const be = await startBackend(dir, s, ctx);
      st.procs.push(be.proc);
      st.backendPgid = be.proc.pid;
      sock = be.sock;
    }
    const ng = await startNginx(dir, s.name, text, sock);
    st.procs.push(ng.proc);
    st.nginxPgid = ng.proc.pid;
    st.port = ng.port;
    st.path = s.kind === 'nginx-return' ? '/bench-fixed' : '/request-token';
  }
  st.pgids = st.procs.map((p) => p.pid);
  st.url = `http://127.0.0.1:${st.port}${st.path}`;
  return st;
}

/** The serving processes' workers: backend workers (or the node process), nginx workers. */
function workersOf(st) {
  const members = groupMembers(st.pgids);
  const be = st.backendPgid;
  const backend = st.kind === 'node' ? members.filter((m) => m.pid === be)
    : members.filter((m) => m.pgrp === be && m.pid !== be);
  const nginx = members.filter((m) => m.pgrp === st.nginxPgid && m.pid !== st.nginxPgid);
  return { backend: backend.map((m) => memOf(m.pid)).filter(Boolean), nginx: nginx.map((m) => memOf(m.pid)).filter(Boolean) };
}

/** One GET, checked: 200 and the body this setup should produce. */
async function sample(st) {
  const res = await fetch(st.url, { signal: AbortSignal.timeout(10000) });
  const body = await res.text();
  let ok = res.status === 200;
  if (ok && (st.mode === 'jwt')) ok = /^[\w-]+\.[\w-]+\.[\w-]+$/.test(body);
  else if (ok) {
    try {
      const j = JSON.parse(body);
      ok = st.mode === 'token' ? typeof j.token === 'string' : typeof j.keyName === 'string';
    } catch { ok = false; }
  }
  return { status: res.status, ok, bytes: Buffer.byteLength(body), content_type: res.headers.get('content-type'), body };
}

// ----------------------------------------------------------------------------- wrk

const WRK_LUA = `
-- wrk's own CPU (all its threads, joined by now): utime + stime from /proc/self/stat
local function own_ticks()
  local f = io.open("/proc/self/stat", "r")
  if not f then return -1 end
  local st = f:read("*a")
  f:close()
  local rest = st:match("%) (.*)$")
  local i, ticks = 0, 0
  for field in rest:gmatch("%S+") do
    i = i + 1
    if i == 12 or i == 13 then ticks = ticks + tonumber(field) end
  end
  return ticks
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH-JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"wrk_ticks":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    own_ticks()))
end
`;

async function wrk(url, conns, seconds, { threads = THREADS, timeout = '2s' } = {}) {
  const t = Math.max(1, Math.min(threads, conns));
  const args = ['-t', String(t), '-c', String(conns), '-d', `${seconds}s`, '--timeout', timeout, '--latency',
    '-s', wrkLuaFile, url];
  const p = new Proc('wrk', WRK, args);
  const killer = setTimeout(() => { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } },
    (seconds + 15) * 1000);
  await p.exited;
  clearTimeout(killer);
  const line = p.out.split('\n').find((l) => l.startsWith('BENCH-JSON '));
  if (!line) throw new Error(`wrk ${url}: no summary (exit ${JSON.stringify(p.exit)})\n${p.out}\n${p.err}`);
  const r = JSON.parse(line.slice('BENCH-JSON '.length));
  r.rps = r.requests / (r.duration_us / 1e6);
  r.errors = r.connect + r.read + r.write + r.status + r.timeout;
  r.text = p.out.replace(/^BENCH-JSON .*\n?/m, '');
  return r;
}
let wrkLuaFile;

// ------------------------------------------------------------ upstreams for token mode

async function startEmulator() {
  const proc = new Proc('ably-emulator', process.execPath, [path.join(repo, 'tests/ably-emulator/server.mjs'),
    '--port', '0', '--quiet']);
  await waitFor('emulator', proc, () => !!jsonLine(proc.out, (x) => x.event === 'listening'));
  const port = jsonLine(proc.out, (x) => x.event === 'listening').port;
  const stats = async () => {
    try {
      const x = JSON.parse((await getOnce(`http://127.0.0.1:${port}/_emulator/stats`)).body);
      // apiConnections: connections that carried API (not control) requests.
      return { connections: x.apiConnections, requests: x.routes?.requestToken?.requests ?? NaN, open: x.openConnections };
    } catch {
      return null;
    }
  };
  return { name: 'emulator', proc, port, stats };
}

/** A faster stand-in for Ably's requestToken: nginx answering every POST with the same
 *  TokenDetails (no mac check), one worker, connections kept. Only to show whether the
 *  emulator (one node process checking everything) is what limits token mode. */
async function startStandIn(dir) {
  const prefix = path.join(dir, 'standin');
  await fsp.mkdir(path.join(prefix, 'logs'), { recursive: true });
  const now = Date.now();
  const details = JSON.stringify({ token: 'TESTAPP.standin-token-not-valid-anywhere-0000000000', keyName: 'TESTAPP.fulltest',
    issued: now, expires: now + 3600000, capability: '{"*":["*"]}', clientId: 'example-client-id' });
  const esc = details.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const temp = ['client_body', 'fastcgi', 'proxy', 'scgi', 'uwsgi'].map((t) => `    ${t}_temp_path ${prefix}/${t};`).join('\n');
    await fsp.writeFile(path.join(prefix, 'nginx.conf'), `# bench: a stand-in for Ably's requestToken
daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
${temp}
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:${port};
        location /keys/ {
            default_type application/json;
            return 200 '${esc}';
        }
        location = /bench-status { stub_status; }
    }
}
`);
    const proc = new Proc('stand-in(nginx)', NGINX, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')]);
    try {
      await waitFor('stand-in', proc, () => canConnect({ host: '127.0.0.1', port }));
    } catch (e) {
      await proc.stop();
      if (attempt < 3) continue;
      throw e;
    }
    const stats = async () => {
      try {
        const t = (await getOnce(`http://127.0.0.1:${port}/bench-status`)).body;
        const [acc, , req] = (/\n\s*(\d+)\s+(\d+)\s+(\d+)/.exec(t) || []).slice(1).map(Number);
        // The status requests themselves come over connections of their own: leave them out.
        return { connections: acc - ++statusCalls, requests: req - statusCalls };
      } catch {
        return null;
      }
    };
    let statusCalls = 0;
    return { name: 'stand-in', proc, port, stats };
  }
}

// ------------------------------------------------------------------------- one cell

async function cell(st, conns, seconds, ctx) {
  const up = st.upstream ? ctx.upstreams[st.upstream] : null;
  const upBefore = up ? await up.stats() : null;
  const a = cpuTicks(st.pgids);
  const ba = st.backendPgid ? cpuTicks([st.backendPgid]) : null;
  const ua = up ? cpuTicks([up.proc.pid]) : null;
  const ma = machineCpu();
  const t0 = process.hrtime.bigint();
  const r = await wrk(st.url, conns, seconds);
  st.served += r.requests;
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const mb = machineCpu();
  const b = cpuTicks(st.pgids);
  const bb = st.backendPgid ? cpuTicks([st.backendPgid]) : null;
  const ub = up ? cpuTicks([up.proc.pid]) : null;
  const cpu = cpuDelta(a, b);
  const secs = r.duration_us / 1e6;
  const out = {
    rps: r.rps, requests: r.requests, duration_s: secs, errors: r.errors,
    error_detail: { connect: r.connect, read: r.read, write: r.write, status: r.status, timeout: r.timeout },
    p50_ms: r.p50_us / 1000, p90_ms: r.p90_us / 1000, p99_ms: r.p99_us / 1000, max_ms: r.max_us / 1000,
    cpu_s: cpu, cpu_us_per_req: r.requests ? (cpu * 1e6) / r.requests : NaN,
    backend_cpu_us_per_req: ba && r.requests ? (cpuDelta(ba, bb) * 1e6) / r.requests : NaN,
    cpu_cores: cpu / secs,
    wrk_cores: r.wrk_ticks >= 0 ? r.wrk_ticks / CLK_TCK / wall : NaN,
    machine_busy_cores: (mb.busy - ma.busy) / wall,
    steal_cores: (mb.steal - ma.steal) / wall,
  };
  let upCpu = 0;
  if (up) {
    const upAfter = await up.stats();
    upCpu = cpuDelta(ua, ub);
    out.upstream_cpu_us_per_req = r.requests ? (upCpu * 1e6) / r.requests : NaN;
    out.upstream_cpu_cores = upCpu / secs;
    if (upBefore && upAfter) {
      out.upstream_new_connections = upAfter.connections - upBefore.connections;
      out.upstream_requests = upAfter.requests - upBefore.requests;
    }
  }
  // CPU used by anything else on the machine meanwhile (other people's test runs).
  out.other_cores = out.machine_busy_cores - (cpu + upCpu) / wall - (Number.isFinite(out.wrk_cores) ? out.wrk_cores : 0);
  const w = workersOf(st);
  out.backend_workers = w.backend;
  out.nginx_workers = w.nginx;
  return out;
}

// ------------------------------------------------------------------------ sign bench

function signBench() {
  const res = { timed: null, callgrind: {} };
  log('signing micro-benchmark (tests/bench/sign_bench.c)');
  res.timed = JSON.parse(execFileSync(SIGN_BENCH, ['--seconds', opt.quick ? '0.2' : '0.5', '--json'],
    { encoding: 'utf8', timeout: 60000 }));
  const valgrind = which('valgrind');
  if (!valgrind) { log('no valgrind: instructions per signature skipped'); return res; }
  // One valgrind run for every case (valgrind's start-up is the slow part): sign_bench
  // dumps callgrind's counters after each case, named after it.
  const n = opt.quick ? 200 : 1000;
  const cgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-callgrind-'));
  try {
    execFileSync(valgrind, ['--tool=callgrind', '--toggle-collect=bench_loop',
      `--callgrind-out-file=${path.join(cgDir, 'cg.out')}`, SIGN_BENCH, '--count', String(n)],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 180000 });
    for (const f of fs.readdirSync(cgDir)) {
      const text = fs.readFileSync(path.join(cgDir, f), 'utf8');
      const name = (/^desc: Trigger: Client Request: (.*)$/m.exec(text) || [])[1];
      const ir = Number((/^summary:\s*(\d+)/m.exec(text) || [])[1]);
      if (name && Number.isFinite(ir)) res.callgrind[name.trim()] = { count: n, instructions: ir, per_op: ir / n };
    }
  } catch (e) {
    log(`callgrind failed: ${e.message.split('\n')[0]}`);
  } finally {
    fs.rmSync(cgDir, { recursive: true, force: true });
  }
  return res;
}

// --------------------------------------------------------------------- memory check

/** Unique memory per worker of the running instances of ours (shipped config; token mode
 *  against the fast stand-in, since the emulator would take minutes for 200k), counting
 *  every request they served since start (the rounds included): taken once they have
 *  served at least N (topped up with wrk), and again after N more. */
async function memoryCheck(started) {
  const results = [];
  for (const name of ['tr-shipped', 'jwt-shipped', 'token-fast']) {
    const st = started.find((x) => x.name === name);
    if (!st) continue;
    const entry = { setup: name, mode: st.mode, upstream: st.upstream ?? null, points: [] };
    const snap = (label, workers) => {
      entry.points.push({ label, requests: st.served, workers });
      log(`  ${name}: ${st.served} requests, Private_Dirty per worker ${workers.map((x) => x.private_dirty_kb + ' kB').join(', ')}`);
    };
    entry.points.push({ label: 'start', requests: 1, workers: st.memStart });
    let rate = 0;
    // At least N since start, then at least N more (the rounds may have served N already).
    const first = Math.max(MEM_REQUESTS, st.served);
    for (const target of [first, first + MEM_REQUESTS]) {
      const t0 = Date.now();
      while (st.served < target) {
        if (Date.now() - t0 > 120000) { entry.incomplete = true; break; }
        // Whole seconds (wrk's unit), sized from the rate so far: overshoot <= about 1 s.
        const secs = rate ? Math.max(1, Math.min(10, Math.ceil((target - st.served) / rate))) : 1;
        const r = await wrk(st.url, 64, secs);
        rate = r.rps;
        st.served += r.requests;
        entry.errors = (entry.errors || 0) + r.errors;
      }
      snap(`after ${target}`, workersOf(st).backend);
    }
    results.push(entry);
  }
  return results;
}

// ---------------------------------------------------------------------------- report

const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const fmtK = (x) => (Number.isFinite(x) ? (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0)) : '-');
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

function summarise(rounds, setups) {
  // rounds[r][setup][conns] = cell
  const sum = {};
  for (const s of setups) {
    sum[s.name] = {};
    for (const c of CONNS) {
      const cells = rounds.map((r) => r[s.name]?.[c]).filter(Boolean);
      const ratio = (base) => median(rounds.map((r) => (r[s.name]?.[c] && r[base]?.[c])
        ? r[s.name][c].rps / r[base][c].rps : NaN));
      const last = cells[cells.length - 1];
      const maxKb = (ws, k) => (ws && ws.length ? Math.max(...ws.map((w) => w[k])) : NaN);
      sum[s.name][c] = {
        rps: median(cells.map((x) => x.rps)),
        rps_all: cells.map((x) => Math.round(x.rps)),
        p50_ms: median(cells.map((x) => x.p50_ms)),
        p99_ms: median(cells.map((x) => x.p99_ms)),
        max_ms: Math.max(...cells.map((x) => x.max_ms)),
        cpu_us_per_req: median(cells.map((x) => x.cpu_us_per_req)),
        backend_cpu_us_per_req: median(cells.map((x) => x.backend_cpu_us_per_req)),
        upstream_cpu_us_per_req: median(cells.map((x) => x.upstream_cpu_us_per_req)),
        upstream_cpu_cores: median(cells.map((x) => x.upstream_cpu_cores)),
        upstream_new_connections: cells.map((x) => x.upstream_new_connections).filter((x) => x !== undefined),
        other_cores: median(cells.map((x) => x.other_cores)),
        wrk_cores: median(cells.map((x) => x.wrk_cores)),
        steal_cores: median(cells.map((x) => x.steal_cores)),
        errors: cells.reduce((t, x) => t + x.errors, 0),
        requests: cells.reduce((t, x) => t + x.requests, 0),
        x_nginx_return: ratio('nginx-return'),
        x_responder: ratio('responder'),
        backend_rss_kb: maxKb(last?.backend_workers, 'rss_kb'),
        backend_private_dirty_kb: maxKb(last?.backend_workers, 'private_dirty_kb'),
        nginx_rss_kb: maxKb(last?.nginx_workers, 'rss_kb'),
        nginx_private_dirty_kb: maxKb(last?.nginx_workers, 'private_dirty_kb'),
      };
    }
  }
  return sum;
}

/** Median over rounds of a per-round figure f(round) (NaN where missing). */
function perRound(rounds, f) {
  return median(rounds.map((r) => { try { return f(r); } catch { return NaN; } }));
}

function verdicts(rounds, sum, probe, mem, model, sign) {
  const v = [];
  const have = (...n) => n.every((x) => sum[x]);
  const add = (pass, target, detail) => v.push({ pass, target, detail });
  const ratioAt = (a, b, c) => perRound(rounds, (r) => r[a][c].rps / r[b][c].rps);
  const cpuDiff = (a, b, c) => perRound(rounds, (r) => r[a][c].cpu_us_per_req - r[b][c].cpu_us_per_req);
  const cs = CONNS.join('/');
  for (const [mode, s] of [['token-request', 'tr'], ['jwt', 'jwt']]) {
    if (!have(`${s}-plain`, 'responder')) continue;
    const ratios = CONNS.map((c) => ratioAt(`${s}-plain`, 'responder', c));
    const diffs = CONNS.map((c) => cpuDiff(`${s}-plain`, 'responder', c));
    add(ratios.every((x) => x >= 0.95) && diffs.every((x) => x <= 5),
      `our work is free (${mode}, plain vs trivial responder)`,
      `${ratios.map((x) => fmt(x, 2) + 'x').join(' / ')} throughput at ${cs} conns (target >= 0.95x), ` +
      `${diffs.map((x) => (x >= 0 ? '+' : '') + fmt(x, 1)).join(' / ')} us CPU/req (target <= +5 us)`);
    // The same comparison against a floor that closes connections the way ours does, so
    // that a cheaper hop in ours does not hide what the work costs.
    if (!have('responder-detach')) continue;
    const mr = CONNS.map((c) => ratioAt(`${s}-plain`, 'responder-detach', c));
    const md = CONNS.map((c) => cpuDiff(`${s}-plain`, 'responder-detach', c));
    const inproc = sign?.timed?.[`endpoint-${s}`]?.cpu_us_per_op;
    add(mr.every((x) => x >= 0.95) && md.every((x) => x <= 5),
      `our work is free (${mode}, hop-matched: plain vs responder with FCGX_Detach)`,
      `${mr.map((x) => fmt(x, 2) + 'x').join(' / ')} throughput at ${cs} conns (target >= 0.95x), ` +
      `${md.map((x) => (x >= 0 ? '+' : '') + fmt(x, 1)).join(' / ')} us CPU/req (target <= +5 us)` +
      (Number.isFinite(inproc) ? `; in-process, endpoint_handle costs ${fmt(inproc, 1)} us CPU per request (sign_bench)` : ''));
  }
  for (const [mode, s] of [['token-request', 'tr'], ['jwt', 'jwt']]) {
    if (!have(`${s}-shipped`, `${s}-plain`, 'responder')) continue;
    const ratios = CONNS.map((c) => ratioAt(`${s}-shipped`, 'responder', c));
    const p99 = CONNS.map((c) => perRound(rounds, (r) => r[`${s}-shipped`][c].p99_ms / r[`${s}-plain`][c].p99_ms));
    const pr = probe && probe.find((p) => p.setup === `${s}-shipped`);
    const starved = pr ? pr.cells.some((x) => x.errors > 0) : null;
    add(ratios.every((x) => x >= 1.6) && p99.every((x) => x <= 1.2) && starved === false,
      `the hop gets cheaper (${mode}, shipped vs trivial responder plain)`,
      `${ratios.map((x) => fmt(x, 2) + 'x').join(' / ')} at ${cs} conns (target >= 1.6x); ` +
      `p99 ${p99.map((x) => fmt(x, 2) + 'x').join(' / ')} of plain (target <= 1.2x); ` +
      (pr ? `probe at ${pr.cells.map((x) => x.conns).join('/')} conns: ` +
        `${pr.cells.map((x) => `${x.errors} errors, p99 ${fmt(x.p99_ms, 1)} ms`).join('; ')}` : 'no starvation probe run') +
      (model.keep_conn ? '' : ' [shipped config keeps no FastCGI connection: same connection model as plain]'));
  }
  for (const [label, ours, node] of [['emulator', 'token-shipped', 'node-token'], ['fast stand-in', 'token-fast', 'node-token-fast']]) {
    if (!have(ours, node)) continue;
    const ratios = CONNS.map((c) => ratioAt(ours, node, c));
    const conns = CONNS.flatMap((c) => sum[ours][c].upstream_new_connections);
    const maxNew = conns.length ? Math.max(...conns) : NaN;
    const emuCores = Math.max(...CONNS.map((c) => sum[ours][c].upstream_cpu_cores));
    // Kept, not one per call: at least 50 calls per new connection in each run.
    const perNew = CONNS.flatMap((c) => sum[ours][c].upstream_new_connections.map((n) =>
      n > 0 ? sum[ours][c].rps * DURATION / n : Infinity));
    const minPerNew = perNew.length ? Math.min(...perNew) : NaN;
    add(ratios.every((x) => x >= 3) && maxNew <= WORKERS * UPSTREAM_PER_WORKER && minPerNew >= 50,
      `token mode (${label}, HTTP/1.1): >= 3x Node requestToken, upstream connections kept (pool of ${UPSTREAM_PER_WORKER} per worker)`,
      `${ratios.map((x) => fmt(x, 2) + 'x').join(' / ')} at ${cs} conns (target >= 3x); ` +
      `at most ${maxNew} new upstream connections per ${DURATION}s run with ${WORKERS} workers ` +
      `(${TOKEN_THREADS ? `of ${TOKEN_THREADS} threads` : 'upstream_connections 64 each'}; allowed ${WORKERS * UPSTREAM_PER_WORKER}), ` +
      `at least ${Number.isFinite(minPerNew) ? Math.round(minPerNew) : 'all'} calls per new connection (target >= 50); ` +
      `${label} at ${fmt(emuCores, 2)} cores${emuCores > 0.85 ? ` (the ${label} is the limit)` : ''}`);
  }
  for (const m of mem || []) {
    const [, p1, p2] = m.points;
    if (!p1 || !p2) continue;
    const worst1 = Math.max(...p1.workers.map((w) => w.private_dirty_kb));
    const grow = Math.max(...p2.workers.map((w) => w.private_dirty_kb - (p1.workers.find((x) => x.pid === w.pid)?.private_dirty_kb ?? 0)));
    add(worst1 <= 2048 && grow <= 64 && !m.incomplete,
      `unique memory per worker (${m.setup})`,
      `Private_Dirty ${p1.workers.map((w) => w.private_dirty_kb).join('/')} kB after ${p1.requests} requests, ` +
      `${p2.workers.map((w) => w.private_dirty_kb).join('/')} kB after ${p2.requests} ` +
      `(target <= 2048 kB, flat: growth ${grow} kB, allowed 64 kB)`);
  }
  return v;
}

function table(setups, sum) {
  const lines = [];
  const hdr = `${pad('setup', 14)} ${lpad('conns', 5)} ${lpad('req/s', 8)} ${lpad('xnginx', 6)} ${lpad('xresp', 6)} ` +
    `${lpad('p50 ms', 7)} ${lpad('p99 ms', 7)} ${lpad('CPU us/req', 10)} ${lpad('backend', 7)} ${lpad('/core', 6)} ${lpad('upstr us', 8)} ${lpad('err', 4)} ` +
    `${lpad('RSS/wkr', 8)} ${lpad('uniq/wkr', 8)} ${lpad('other', 5)}`;
  lines.push(hdr, '-'.repeat(hdr.length));
  for (const s of setups) {
    for (const c of CONNS) {
      const x = sum[s.name][c];
      lines.push(`${pad(s.name, 14)} ${lpad(c, 5)} ${lpad(fmtK(x.rps), 8)} ${lpad(fmt(x.x_nginx_return, 2), 6)} ` +
        `${lpad(fmt(x.x_responder, 2), 6)} ${lpad(fmt(x.p50_ms, 2), 7)} ${lpad(fmt(x.p99_ms, 2), 7)} ` +
        `${lpad(fmt(x.cpu_us_per_req, 1), 10)} ${lpad(fmt(x.backend_cpu_us_per_req, 1), 7)} ${lpad(fmtK(1e6 / x.cpu_us_per_req), 6)} ` +
        `${lpad(fmt(x.upstream_cpu_us_per_req, 1), 8)} ${lpad(x.errors, 4)} ` +
        `${lpad(Number.isFinite(x.backend_rss_kb) ? (x.backend_rss_kb / 1024).toFixed(1) + 'M' : '-', 8)} ` +
        `${lpad(Number.isFinite(x.backend_private_dirty_kb) ? (x.backend_private_dirty_kb / 1024).toFixed(2) + 'M' : '-', 8)} ` +
        `${lpad(fmt(x.other_cores, 2), 5)}`);
    }
  }
  return lines;
}

function machine() {
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m) || [])[1];
  // Some tools print their version on stderr, or exit non-zero after printing it.
  const v = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10000 });
    return `${r.stdout || ''}${r.stderr || ''}`.trim();
  };
  const git = (args) => v('git', ['-C', repo, ...args]);
  return {
    date: new Date().toISOString(),
    host_cpus: os.cpus().length,
    cpu_model: cpu,
    kernel: os.release(),
    loadavg_at_start: os.loadavg(),
    nginx: v(NGINX, ['-v']).replace(/^nginx version: /, ''),
    node: process.version,
    wrk: (v(WRK, ['--version']).split('\n')[0] || '').replace(/ Copyright.*/, ''),
    libfcgi: v('dpkg-query', ['-W', '-f=${Version}', 'libfcgi-dev']),
    openssl: v('openssl', ['version']),
    git_commit: git(['rev-parse', '--short', 'HEAD']),
    loadavg_at_end: null,
    git_dirty: git(['status', '--porcelain', '--', 'fcgi', 'nginx.conf.example']) !== '',
  };
}

// ------------------------------------------------------------------------------ main

async function main() {
  const t0 = Date.now();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-bench-'));
  // Run a private copy, so a rebuild of build/ during the run changes nothing here.
  BIN = path.join(dir, 'ably-token');
  await fsp.copyFile(BUILT_BIN, BIN);
  await fsp.chmod(BIN, 0o755);
  const binSha = crypto.createHash('sha256').update(await fsp.readFile(BIN)).digest('hex');
  wrkLuaFile = path.join(dir, 'summary.lua');
  await fsp.writeFile(wrkLuaFile, WRK_LUA);
  const model = shippedConnectionModel(SHIPPED_EXAMPLE);
  const result = { command: `node tests/bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim(), machine: machine(),
    binary: { path: path.relative(repo, BUILT_BIN), sha256: binSha,
      built: (await fsp.stat(BUILT_BIN)).mtime.toISOString() },
    settings: { duration_s: DURATION, rounds: ROUNDS, conns: CONNS, wrk_threads: THREADS, workers: WORKERS, token_threads: TOKEN_THREADS,
      warmup_s: WARMUP, node_warmup_s: NODE_WARMUP, mem_requests: MEM_REQUESTS, clk_tck: CLK_TCK }, shipped_config: model };
  const only = opt.setups ? new Set(opt.setups.split(',')) : null;
  const setups = SETUPS.filter((s) => !only || only.has(s.name));
  const ctx = {};
  const started = [];
  // What results/ held before this run: the 0 ms figures of the rtt section are read
  // against it, and `--section rtt` keeps the other section's figures from it.
  const previous = readPrevious();
  let text = '';
  let md = '';
  try {
    log(`scratch dir ${dir} (section ${SECTION})`);
    if (RUN_MAIN) {
      if (!opt['no-sign']) result.sign = signBench();

      ctx.upstreams = { emulator: await startEmulator(), standin: await startStandIn(dir) };

      // The floor's JSON: the very bytes of one answer of ours in token-request mode.
      const probeSetup = await startSetup(dir, { name: 'size-probe', kind: 'ours', mode: 'token-request', variant: 'shipped' },
        { ...ctx, fixedBody: '{}' });
      const sizeSample = await sample(probeSetup);
      for (const p of probeSetup.procs.reverse()) await p.stop();
      if (!sizeSample.ok) throw new Error(`ours token-request answered ${sizeSample.status}: ${sizeSample.body.slice(0, 300)}`);
      ctx.fixedBody = sizeSample.body;
      ctx.fixedFile = path.join(dir, 'fixed.json');
      await fsp.writeFile(ctx.fixedFile, ctx.fixedBody);
      result.fixed_json_bytes = Buffer.byteLength(ctx.fixedBody);
      log(`fixed JSON for the floors: ${result.fixed_json_bytes} bytes (a TokenRequest answer of ours)`);

      for (const s of setups) {
        const st = await startSetup(dir, s, ctx);
        started.push(st);
        const smp = await sample(st);
        st.served = 1;
        st.memStart = workersOf(st).backend;
        st.sample = { status: smp.status, ok: smp.ok, bytes: smp.bytes, content_type: smp.content_type };
        if (!smp.ok) throw new Error(`${s.name}: sample answer ${smp.status}: ${smp.body.slice(0, 300)}`);
        if (s.kind === 'nginx-return' && smp.body !== ctx.fixedBody) throw new Error('nginx-return: body differs from the fixed JSON');
        log(`started ${s.name}: ${st.url} (${smp.bytes} bytes, ${smp.content_type})`);
      }
      result.setups = started.map((st) => ({ name: st.name, label: st.label, kind: st.kind, mode: st.mode ?? null,
        variant: st.variant ?? null, sample: st.sample }));

      if (WARMUP > 0) {
        // Node compiles its hot paths as it goes: give it longer.
        log(`warm-up: ${WARMUP}s per setup, ${NODE_WARMUP}s per node server`);
        for (const st of started) {
          st.served += (await wrk(st.url, Math.max(...CONNS), st.kind === 'node' ? NODE_WARMUP : WARMUP)).requests;
        }
      }

      const rounds = [];
      const cellsTotal = ROUNDS * started.length * CONNS.length;
      let done = 0;
      for (let r = 0; r < ROUNDS; r++) {
        const round = {};
        // Interleave: each round starts at a different setup.
        const order = started.map((_, i) => started[(i + r * 3) % started.length]);
        for (const st of order) {
          round[st.name] = {};
          for (const c of r % 2 ? [...CONNS].reverse() : CONNS) {
            round[st.name][c] = await cell(st, c, DURATION, ctx);
            done++;
            const x = round[st.name][c];
            log(`round ${r + 1}/${ROUNDS} [${done}/${cellsTotal}] ${pad(st.name, 14)} c=${lpad(c, 3)} ` +
              `${lpad(fmtK(x.rps), 7)} req/s p99 ${fmt(x.p99_ms, 2)} ms CPU ${fmt(x.cpu_us_per_req, 1)} us/req` +
              (x.errors ? ` ERRORS ${x.errors}` : ''));
          }
        }
        rounds.push(round);
      }
      result.rounds = rounds;
      const sum = summarise(rounds, started);
      result.summary = sum;

      // Starvation probe of the shipped configuration: 1 and 256 connections.
      if (!opt['no-probe']) {
        result.probe = [];
        for (const st of started.filter((x) => x.variant === 'shipped' && x.mode !== 'token')) {
          const cells = [];
          for (const c of [1, 256]) {
            const r = await wrk(st.url, c, Math.min(DURATION, 2), { threads: c === 1 ? 1 : THREADS, timeout: '2s' });
            st.served += r.requests;
            cells.push({ conns: c, rps: r.rps, errors: r.errors, timeouts: r.timeout, p99_ms: r.p99_us / 1000,
              max_ms: r.max_us / 1000 });
            log(`probe ${st.name} c=${c}: ${fmtK(r.rps)} req/s, ${r.errors} errors, p99 ${fmt(r.p99_us / 1000, 2)} ms, ` +
              `max ${fmt(r.max_us / 1000, 1)} ms`);
          }
          result.probe.push({ setup: st.name, cells });
        }
      }

      // Upstream connection accounting for token mode, over the whole run.
      result.upstreams = {};
      for (const [k, u] of Object.entries(ctx.upstreams)) result.upstreams[k] = await u.stats();

      if (!opt['no-memory']) {
        log(`memory check: Private_Dirty per worker after >= ${MEM_REQUESTS} requests since start and ${MEM_REQUESTS} more`);
        result.memory = await memoryCheck(started);
      }
      for (const st of started.splice(0)) for (const p of st.procs.reverse()) await p.stop();
      for (const u of Object.values(ctx.upstreams)) await u.proc.stop();

      result.machine.loadavg_at_end = os.loadavg();
      result.verdicts = verdicts(rounds, sum, result.probe, result.memory, model, result.sign);
      text = report(result, setups.filter((s) => sum[s.name]), sum);
      md = markdown(result, setups.filter((s) => sum[s.name]), sum);
      process.stdout.write(text);
    }

    let out = result;
    if (RUN_RTT) {
      const rtt = await runRtt(rttHelpers(), dir, {
        rtts: RTT_MS, conns: RTT_CONNS, rounds: RTT_ROUNDS, duration: RTT_DURATION, warmup: WARMUP, nodeWarmup: NODE_WARMUP,
        standin: opt['rtt-standin'],
        tokenThreads: TOKEN_THREADS, storm: !opt['no-storm'], stormRequests: Number(opt['storm-requests']),
        stormConns: Number(opt['storm-conns']), emulator: !opt['no-emulator-pair'], previous: previous.json,
      });
      Object.assign(rtt, { date: new Date().toISOString(), command: result.command, binary: result.binary,
        machine: RUN_MAIN ? undefined : { ...result.machine, loadavg_at_end: os.loadavg() } });
      const rtext = rttText(rtt, rttHelpers());
      process.stdout.write(`${RUN_MAIN ? '\n' : ''}${rtext}`);
      if (RUN_MAIN) {
        result.rtt = rtt;
        text += `\n${rtext}`;
        md += `\n${rttMarkdown(rtt, rttHelpers())}`;
      } else {
        // Only this section ran: the other one's figures stay as they were recorded.
        out = previous.json && previous.json.summary ? { ...previous.json, rtt } : { ...result, rtt };
        text = `${previous.text ? `${previous.text.replace(/\n+$/, '')}\n\n` : ''}${rtext}`;
        md = `${previous.md ? `${previous.md.replace(/\n+$/, '')}\n\n` : ''}${rttMarkdown(rtt, rttHelpers())}`;
      }
    }
    result.elapsed_s = (Date.now() - t0) / 1000;
    if (out.rtt) out.rtt.elapsed_s = RUN_MAIN ? undefined : result.elapsed_s;
    await fsp.mkdir(opt.out, { recursive: true });
    await fsp.writeFile(path.join(opt.out, 'latest.json'), JSON.stringify(out, null, 1) + '\n');
    await fsp.writeFile(path.join(opt.out, 'latest.txt'), text);
    await fsp.writeFile(path.join(opt.out, 'latest.md'), md);
    log(`wrote ${path.relative(repo, path.join(opt.out, 'latest.json'))}, latest.txt and latest.md (${fmt(result.elapsed_s, 0)} s)`);
  } finally {
    for (const st of started) for (const p of st.procs.reverse()) await p.stop();
    for (const p of [...live]) await p.stop();
    if (!opt.keep) await fsp.rm(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  }
}

/** results/latest.* as they were before this run, each without its rtt section (the text
 *  and Markdown ones carry it last, after a marker line). */
function readPrevious() {
  const read = (f) => { try { return fs.readFileSync(path.join(opt.out, f), 'utf8'); } catch { return null; } };
  let json = null;
  try { json = JSON.parse(read('latest.json')); } catch { /* none, or not JSON */ }
  const cut = (t, mark) => (t && t.includes(mark) ? t.slice(0, t.indexOf(mark)) : t);
  return { json, text: cut(read('latest.txt'), RTT_TEXT_MARK), md: cut(read('latest.md'), RTT_MD_MARK) };
}

/** What tests/bench/rtt.mjs uses of this file. */
function rttHelpers() {
  return { Proc, waitFor, canConnect, getOnce, jsonLine, startNginx, wrk, groupMembers, memOf, cpuTicks, cpuDelta,
    machineCpu, log, sleep, fmt, fmtK, pad, lpad, TEST_KEY, WORKERS, THREADS, SHIPPED_EXAMPLE, repo, here, CLK_TCK,
    cpus: os.cpus().length, bin: () => BIN };
}

/** The same figures as a Markdown table, for doc/performance.md. */
function markdown(result, setups, sum) {
  const m = result.machine;
  const mb = (kb) => (Number.isFinite(kb) ? `${(kb / 1024).toFixed(kb < 10240 ? 2 : 0)} MB` : '–');
  const L = [];
  L.push(`<!-- generated by tests/bench/run.mjs on ${m.date}; raw figures in latest.json -->`);
  L.push(`Run: \`make bench\` (\`${result.command}\`) on ${m.date.slice(0, 10)}: ${m.host_cpus} vCPUs (${m.cpu_model}), ` +
    `Linux ${m.kernel}, nginx ${m.nginx.replace('nginx/', '')}, node ${m.node}, ${m.openssl.split(' (')[0]}, ` +
    `libfcgi ${m.libfcgi}; binary sha256 ${result.binary.sha256.slice(0, 12)}. ` +
    `wrk -t${THREADS}, ${DURATION} s per cell, medians of ${ROUNDS} interleaved rounds, ${WORKERS} workers. ` +
    `Other work kept ${fmt(m.foreign_load_cores_median, 2)} of the ${m.host_cpus} cores busy meanwhile (median).`);
  L.push('');
  L.push('| set-up | conns | req/s | × nginx return | × responder | p50 ms | p99 ms | server CPU µs/req | of which backend | unique memory / worker |');
  L.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const s of setups) {
    for (const c of CONNS) {
      const x = sum[s.name][c];
      const up = Number.isFinite(x.upstream_cpu_us_per_req) ? ` (+${fmt(x.upstream_cpu_us_per_req, 0)} upstream)` : '';
      L.push(`| ${s.label} | ${c} | ${fmtK(x.rps)} | ${fmt(x.x_nginx_return, 2)} | ${fmt(x.x_responder, 2)} | ` +
        `${fmt(x.p50_ms, 2)} | ${fmt(x.p99_ms, 1)} | ${fmt(x.cpu_us_per_req, 0)}${up} | ${fmt(x.backend_cpu_us_per_req, 0)} | ${mb(x.backend_private_dirty_kb)} |`);
    }
  }
  if (result.sign) {
    L.push('');
    L.push('| signing path alone (sign_bench) | ops/s (CPU) | µs CPU / op | instructions / op (callgrind) |');
    L.push('|---|--:|--:|--:|');
    for (const [k, x] of Object.entries(result.sign.timed)) {
      const cg = result.sign.callgrind[k];
      L.push(`| ${k} | ${fmtK(x.cpu_ops_per_s)} | ${fmt(x.cpu_us_per_op, 2)} | ${cg ? fmt(cg.per_op, 0) : '–'} |`);
    }
  }
  L.push('');
  L.push('| target | verdict | measured |');
  L.push('|---|---|---|');
  for (const v of result.verdicts) L.push(`| ${v.target} | ${v.pass ? 'PASS' : '**FAIL**'} | ${v.detail.replace(/\|/g, '/')} |`);
  L.push('');
  return L.join('\n');
}

function report(result, setups, sum) {
  const m = result.machine;
  const L = [];
  L.push(`ably-token-fcgi benchmark, ${m.date}`);
  L.push(`machine: ${m.host_cpus} CPUs (${m.cpu_model}), Linux ${m.kernel}, load ${m.loadavg_at_start.map((x) => x.toFixed(2)).join(' ')} at start, ` +
    `${(m.loadavg_at_end || []).map((x) => x.toFixed(2)).join(' ')} at end; ` +
    `nginx ${m.nginx}, node ${m.node}, ${m.wrk}, libfcgi ${m.libfcgi}, ${m.openssl}; commit ${m.git_commit}${m.git_dirty ? ' + local changes in fcgi/ or nginx.conf.example' : ''}`);
  L.push(`run: ${result.command}  (wrk -t${THREADS}, ${DURATION}s per cell, ${ROUNDS} interleaved rounds, medians; ` +
    `${WORKERS} backend workers${TOKEN_THREADS ? `, of ${TOKEN_THREADS} threads in token mode` : ''}; ratios taken within each round)`);
  L.push(`fixed JSON for the floors: ${result.fixed_json_bytes} bytes. shipped config: ${result.shipped_config.params} FastCGI params ` +
    `(stock: ${result.shipped_config.stock_params}${result.shipped_config.request_headers_passed ? '' : ' + request headers'}), ` +
    `fastcgi_keep_conn ${result.shipped_config.keep_conn ? 'on' : 'off'}, upstream keepalive ${result.shipped_config.upstream_keepalive ? 'yes' : 'no'}` +
    (result.shipped_config.keep_conn ? '' : ' -> the same connection model as plain; they differ only in the parameters passed'));
  const other = median(result.rounds.flatMap((r) => Object.values(r).flatMap((x) => Object.values(x).map((c) => c.other_cores))));
  result.machine.foreign_load_cores_median = other;
  if (other > 0.3) {
    L.push(`WARNING: other work kept ${fmt(other, 2)} of ${m.host_cpus} cores busy during the cells (median; column "other"). ` +
      'Throughput then depends on the scheduler\'s share per process (a one-process Node server gets less than nginx + ' +
      `${WORKERS} workers), so read req/s ratios with care; CPU us/req and /core are the robust figures.`);
  }
  L.push('');
  L.push(...table(setups, sum));
  L.push('');
  L.push('xnginx / xresp: throughput relative to nginx-return / responder at the same connection count, same round.');
  L.push('CPU us/req: utime+stime of nginx (master+workers) and the backend (all its processes, or the node process)');
  L.push('over the run, per request; /core: 1e6 / that, the req/s one fully used core would serve (robust to foreign load);');
  L.push('backend: the part of CPU us/req spent in the backend alone (the FastCGI program, or the node process).');
  L.push('upstr us: the upstream\'s (emulator or stand-in) CPU per request in token mode, not counted in CPU us/req.');
  L.push('RSS/wkr, uniq/wkr: largest RSS and Private_Dirty (smaps_rollup) of one backend worker (or the node process) after its last run.');
  L.push('other: CPU cores busy with anything but the servers, the upstream and wrk during the cells (other people\'s runs).');
  for (const s of setups.filter((x) => x.upstream)) {
    const nc = CONNS.map((c) => sum[s.name][c].upstream_new_connections.join(','));
    L.push(`${s.name}: new upstream connections per run (c=${CONNS.join('/')}): ${nc.join(' / ')}; ${s.upstream} CPU ` +
      `${CONNS.map((c) => fmt(sum[s.name][c].upstream_cpu_cores, 2)).join(' / ')} cores`);
  }
  const node = (a, b) => (sum[a] && sum[b] ? CONNS.map((c) => fmt(perRound(result.rounds, (r) => r[a][c].rps / r[b][c].rps), 2) + 'x').join(' / ') : null);
  const nodeLines = [['tr-shipped', 'node-tr'], ['jwt-shipped', 'node-jwt'], ['token-shipped', 'node-token'],
    ['token-fast', 'node-token-fast'], ['tr-shipped', 'tr-plain'], ['jwt-shipped', 'jwt-plain'],
  ].map(([a, b]) => { const x = node(a, b); return x ? `${a} / ${b}: ${x}` : null; }).filter(Boolean);
  if (nodeLines.length) L.push(`throughput ratios at ${CONNS.join('/')} conns: ${nodeLines.join('; ')}`);
  const cpuRatio = (a, b) => (sum[a] && sum[b] ? CONNS.map((c) => fmt(perRound(result.rounds, (r) => r[b][c].cpu_us_per_req / r[a][c].cpu_us_per_req), 1) + 'x').join(' / ') : null);
  const cpuLines = [['tr-shipped', 'node-tr'], ['jwt-shipped', 'node-jwt'], ['token-shipped', 'node-token'],
    ['token-fast', 'node-token-fast']].map(([a, b]) => { const x = cpuRatio(a, b); return x ? `${a} vs ${b}: ${x}` : null; }).filter(Boolean);
  if (cpuLines.length) L.push(`less server CPU per request than Node at ${CONNS.join('/')} conns: ${cpuLines.join('; ')}`);
  if (result.probe) {
    L.push('');
    L.push('starvation probe (shipped config, 2 s, wrk --timeout 2s):');
    for (const p of result.probe) {
      L.push(`  ${pad(p.setup, 14)} ` + p.cells.map((x) => `c=${x.conns}: ${fmtK(x.rps)} req/s, ${x.errors} errors ` +
        `(${x.timeouts} timeouts), p99 ${fmt(x.p99_ms, 2)} ms, max ${fmt(x.max_ms, 1)} ms`).join('; '));
    }
  }
  if (result.sign) {
    L.push('');
    L.push('signing path alone (tests/bench/sign_bench.c; CPU time, instructions under callgrind):');
    for (const [k, x] of Object.entries(result.sign.timed)) {
      const cg = result.sign.callgrind[k];
      L.push(`  ${pad(k, 14)} ${lpad(fmtK(x.cpu_ops_per_s), 8)} ops/s  ${lpad(fmt(x.cpu_us_per_op, 2), 6)} us/op` +
        (cg ? `  ${lpad(fmt(cg.per_op, 0), 7)} instructions/op` : ''));
    }
  }
  if (result.memory) {
    L.push('');
    L.push(`memory per worker (shipped config, ${WORKERS} workers; Private_Dirty / RSS in kB after N requests since start):`);
    for (const mm of result.memory) {
      L.push(`  ${pad(mm.setup, 14)} ` + mm.points.map((p) => `${p.requests} req: ` +
        p.workers.map((w) => `${w.private_dirty_kb}/${w.rss_kb}`).join(', ')).join('  |  ') +
        (mm.errors ? `  (${mm.errors} errors)` : '') + (mm.incomplete ? '  (time limit: incomplete)' : ''));
    }
  }
  L.push('');
  L.push('verdicts (targets of issue 7, ratios from this run):');
  for (const v of result.verdicts) L.push(`  ${v.pass ? 'PASS' : 'FAIL'}  ${v.target}: ${v.detail}`);
  L.push('');
  return L.join('\n');
}

main().catch((e) => {
  console.error(`bench: ${e.stack || e.message}`);
  killAll();
  process.exit(1);
});
