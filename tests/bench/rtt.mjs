// The `rtt` section of `make bench` (issue 12): `token` mode when every call to Ably takes a
// round trip, as it does in production. Run from tests/bench/run.mjs (`--section rtt` runs
// it alone); the helpers it uses (processes stopped by PID, nginx, wrk, /proc readers) are
// run.mjs's and come in as `h`.
//
// What runs, on loopback, in the bench's scratch dir:
//   a test CA (openssl CLI, EC P-256) and a server certificate for IP:127.0.0.1;
//   a delayed fast stand-in for Ably: HTTPS, HTTP/2 offered by ALPN (HTTP/1.1 accepted),
//     1,000 streams per connection, a fixed TokenDetails after a delay set per cell:
//     tests/bench/h2_standin.c (built here with cc; 1-15 us of CPU per request) or, with
//     --rtt-standin node or if it will not build, tests/bench/delayed-standin.mjs (50-100 us);
//   ours: nginx (nginx.conf.example as shipped) -> build/ably-token, `tls = on`, `ca_file` the
//     test CA, no fallback hosts, 2 workers, no --threads (unless --token-threads is given);
//   node: tests/bench/node-server.mjs (Express + ably-js requestToken, tls, ably-js's own
//     HTTP agent) with NODE_EXTRA_CA_CERTS = the test CA;
//   and, when tests/ably-emulator/server.mjs takes --latency-ms and --tls-cert, the same pair
//     against the real emulator at 50 ms (64 connections): the strict upstream.
// Cells (round trip x connections x server) run one at a time, rounds interleaved; medians
// over rounds, ratios within each round. During each cell, every 400 ms: the established TCP
// connections from each serving process to the upstream's port (`ss -tnpH state established`,
// by pid=) and each worker's Private_Dirty (/proc/PID/smaps_rollup). Then a renewal storm
// (tests/bench/storm.mjs) at 50 ms.

import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const SAMPLE_MS = 400;
const WRK_TIMEOUT = '10s'; // ably-js gives an authUrl call 10 s
const MEM_LIMIT_KB = 12 * 1024;
const BOUND_FRACTION = 0.8;
const NODE_AGENT_SOCKETS = 40; // ably-js's restAgentOptions default (maxSockets)

// ------------------------------------------------------------------------- test CA

/** A CA and a server certificate (SAN IP:127.0.0.1), EC P-256, made with the openssl CLI. */
export function makeTestCa(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n) => path.join(dir, n);
  const ossl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('ca.key'));
  ossl('req', '-x509', '-new', '-key', f('ca.key'), '-sha256', '-days', '2', '-subj', '/CN=ably-token bench test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', f('ca.pem'));
  ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('server.key'));
  ossl('req', '-new', '-key', f('server.key'), '-subj', '/CN=127.0.0.1', '-out', f('server.csr'));
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' +
    'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  ossl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', f('server.ext'), '-out', f('server.pem'));
  ossl('verify', '-CAfile', f('ca.pem'), f('server.pem'));
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

// ------------------------------------------------------------------------- upstreams

/** tests/bench/h2_standin.c, built here with cc (OpenSSL); null (and why) if it will not build. */
function buildCStandIn(h, dir) {
  const out = path.join(dir, 'h2_standin');
  try {
    execFileSync('cc', ['-std=c11', '-O2', '-Wall', '-o', out, path.join(h.here, 'h2_standin.c'), '-lssl', '-lcrypto'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    return { bin: out };
  } catch (e) {
    return { why: `cc tests/bench/h2_standin.c failed: ${String(e.stderr || e.message).split('\n').slice(0, 3).join(' ')}` };
  }
}

export async function startStandIn(h, dir, tls, impl, notes) {
  let cmd = process.execPath;
  let args = [path.join(h.here, 'delayed-standin.mjs')];
  let label = 'delayed stand-in in Node (delayed-standin.mjs: node:http2, HTTPS, h2 offered, 1000 streams)';
  if (impl === 'c') {
    const b = buildCStandIn(h, dir);
    if (b.bin) {
      cmd = b.bin;
      args = [];
      label = 'delayed stand-in in C (h2_standin.c: OpenSSL + epoll, HTTPS, h2 offered, 1000 streams)';
    } else {
      notes.push(`${b.why}; the Node stand-in serves instead`);
    }
  }
  const proc = new h.Proc('delayed-standin', cmd, [...args, '--cert', tls.cert, '--key', tls.key, '--port', '0',
    '--latency-ms', '0', '--max-streams', '1000'], { cwd: dir });
  await h.waitFor('delayed stand-in', proc, () => !!h.jsonLine(proc.out, (x) => x.event === 'listening'));
  const { port, controlPort } = h.jsonLine(proc.out, (x) => x.event === 'listening');
  const ctl = `http://127.0.0.1:${controlPort}`;
  return {
    name: 'stand-in', label, impl: cmd === process.execPath ? 'node' : 'c', proc, port,
    async stats() {
      try { return normStats(JSON.parse((await h.getOnce(`${ctl}/stats`)).body)); } catch { return null; }
    },
    async setLatency(ms) {
      const r = await h.getOnce(`${ctl}/latency?ms=${ms}`);
      if (r.status !== 200) throw new Error(`stand-in: latency ${ms}: ${r.status} ${r.body}`);
      this.latency = ms;
    },
    latency: 0,
  };
}

/** The emulator with --latency-ms and TLS, if it has them (tests/ably-emulator, another
 *  helper's work); {unsupported: why} if not. */
async function startEmulator(h, dir, tls, latency) {
  const file = path.join(h.repo, 'tests/ably-emulator/server.mjs');
  const src = fs.readFileSync(file, 'utf8');
  if (!/latency-ms/.test(src) || !/tls-cert/.test(src)) {
    return { unsupported: 'tests/ably-emulator/server.mjs has no --latency-ms / --tls-cert yet' };
  }
  const proc = new h.Proc('ably-emulator(tls)', process.execPath, [file, '--port', '0', '--quiet',
    '--latency-ms', String(latency), '--tls-cert', tls.cert, '--tls-key', tls.key], { cwd: dir });
  try {
    await h.waitFor('emulator (tls)', proc, () => !!h.jsonLine(proc.out, (x) => x.event === 'listening'));
  } catch (e) {
    await proc.stop();
    return { unsupported: `the emulator did not start with --latency-ms/--tls-cert: ${e.message.split('\n').slice(0, 3).join(' ')}` };
  }
  const ev = h.jsonLine(proc.out, (x) => x.event === 'listening');
  if (!ev.tls || !ev.controlPort) {
    await proc.stop();
    return { unsupported: `the emulator's listening line has no tls/controlPort: ${JSON.stringify(ev)}` };
  }
  const ctl = `http://127.0.0.1:${ev.controlPort}`;
  return {
    name: 'emulator', label: `emulator (--latency-ms ${latency}, HTTPS, h2 offered)`, proc, port: ev.port, latency,
    async stats() {
      try {
        const x = JSON.parse((await h.getOnce(`${ctl}/_emulator/stats`)).body);
        return normStats({ ...x, connections: x.connections ?? x.apiConnections,
          requestToken: x.routes?.requestToken?.requests, inFlight: x.inFlight });
      } catch { return null; }
    },
  };
}

/** The counters both upstreams report, under one set of names. */
function normStats(x) {
  return { connections: x.connections, tlsHandshakes: x.tlsHandshakes, tlsResumed: x.tlsResumed,
    h2Sessions: x.h2Sessions, httpVersions: x.httpVersions || {}, requestToken: x.requestToken,
    inFlight: x.inFlight, maxConcurrentStreams: x.maxConcurrentStreams };
}

function statsDelta(a, b) {
  if (!a || !b) return null;
  const d = (k) => (Number.isFinite(b[k]) && Number.isFinite(a[k]) ? b[k] - a[k] : null);
  const versions = {};
  for (const [v, n] of Object.entries(b.httpVersions)) {
    const x = n - (a.httpVersions[v] || 0);
    if (x) versions[v] = x;
  }
  return { new_connections: d('connections'), tls_handshakes: d('tlsHandshakes'), tls_resumed: d('tlsResumed'),
    h2_sessions: d('h2Sessions'), requests: d('requestToken'), http_versions: versions };
}

// --------------------------------------------------------------------------- servers

/** o.settings: settings added to (or replacing) these, e.g. another mode (tests/bench/reload.mjs). */
export async function startOurs(h, dir, name, up, tls, o) {
  const sock = path.join(dir, `${name}.sock`);
  const conf = path.join(dir, `${name}.conf`);
  const settings = {
    mode: 'token', rest_host: `127.0.0.1:${up.port}`, fallback_hosts: '', tls: 'on', ca_file: tls.ca,
    query_time: 'off', connect_timeout_ms: 5000, request_timeout_ms: 10000, upstream_timeout_ms: 10000,
    ...(o.settings || {}),
  };
  await fsp.writeFile(conf, '# written by tests/bench/rtt.mjs\n' +
    Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n', { mode: 0o600 });
  const env = { ...process.env, ABLY_API_KEY: h.TEST_KEY };
  for (const v of ['VITE_ABLY_KEY', 'ABLY_TOKEN_CONF']) delete env[v];
  const log = path.join(dir, `${name}.log`);
  const args = ['--config', conf, '--listen', `unix:${sock}`, '--workers', String(h.WORKERS),
    ...(o.tokenThreads ? ['--threads', String(o.tokenThreads)] : [])];
  const be = new h.Proc(`ably-token(${name})`, h.bin(), args, { cwd: dir, env, stdoutFile: log, stderrFile: log });
  await h.waitFor(`${name} socket`, be, () => fs.existsSync(sock) && h.canConnect({ path: sock }));
  const ng = await h.startNginx(dir, name, h.SHIPPED_EXAMPLE, sock);
  return {
    name, kind: 'ours', upstream: up, procs: [be, ng.proc], backendPgid: be.pid, nginxPgid: ng.proc.pid,
    pgids: [be.pid, ng.proc.pid], url: `http://127.0.0.1:${ng.port}/request-token`, args,
    errorLog: path.join(path.dirname(ng.conf), 'logs/error.log'), conf, settings, log,
    workers() { return h.groupMembers([be.pid]).filter((m) => m.pid !== be.pid).map((m) => m.pid); },
  };
}

async function startNode(h, dir, name, up, tls) {
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: tls.ca };
  const proc = new h.Proc(`node(${name})`, process.execPath, [path.join(h.here, 'node-server.mjs'), '--mode', 'token',
    '--port', '0', '--tls', '--rest-port', String(up.port)], { cwd: h.repo, env });
  await h.waitFor(name, proc, () => !!h.jsonLine(proc.out, (v) => v.event === 'listening'));
  const port = h.jsonLine(proc.out, (v) => v.event === 'listening').port;
  return {
    name, kind: 'node', upstream: up, procs: [proc], backendPgid: proc.pid, pgids: [proc.pid],
    url: `http://127.0.0.1:${port}/request-token`, workers() { return [proc.pid]; },
  };
}

async function checkOne(srv) {
  const res = await fetch(srv.url, { signal: AbortSignal.timeout(15000) });
  const body = await res.text();
  let ok = res.status === 200;
  try { ok = ok && typeof JSON.parse(body).token === 'string'; } catch { ok = false; }
  if (!ok) throw new Error(`${srv.name}: first request answered ${res.status}: ${body.slice(0, 300)}`);
}

// -------------------------------------------------------------------------- sampling

/** Established TCP connections to 127.0.0.1:port, counted per owning pid. */
async function upstreamConnsByPid(port) {
  const { stdout } = await execFileP('ss', ['-tnpH', 'state', 'established', `( dport = :${port} )`],
    { maxBuffer: 64 * 1024 * 1024 });
  const byPid = new Map();
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    // One socket can be listed under several processes (an inherited fd): count it for each.
    const pids = new Set([...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
    for (const pid of pids) byPid.set(pid, (byPid.get(pid) || 0) + 1);
  }
  return byPid;
}

/** Samples every SAMPLE_MS until stop(): upstream connections and Private_Dirty per worker. */
function startSampler(h, srv, port) {
  const samples = [];
  let running = true;
  const loop = (async () => {
    await h.sleep(250);
    while (running) {
      const t = Date.now();
      try {
        const workers = srv.workers();
        const conns = await upstreamConnsByPid(port);
        samples.push({
          conns: workers.map((pid) => conns.get(pid) || 0),
          other_conns: [...conns.entries()].filter(([pid]) => !workers.includes(pid)).reduce((s, [, n]) => s + n, 0),
          mem_kb: workers.map((pid) => h.memOf(pid)?.private_dirty_kb).filter(Number.isFinite),
        });
      } catch { /* a worker gone between listing and reading: skip this sample */ }
      await h.sleep(Math.max(50, SAMPLE_MS - (Date.now() - t)));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const max = (xs) => (xs.length ? Math.max(...xs) : NaN);
      return {
        samples: samples.length,
        upstream_conns_per_worker_max: max(samples.flatMap((s) => s.conns)),
        upstream_conns_total_max: max(samples.map((s) => s.conns.reduce((a, b) => a + b, 0))),
        upstream_conns_other_max: max(samples.map((s) => s.other_conns)),
        private_dirty_kb_per_worker_max: max(samples.flatMap((s) => s.mem_kb)),
        private_dirty_kb_sum_max: max(samples.map((s) => s.mem_kb.reduce((a, b) => a + b, 0))),
      };
    },
  };
}

function countInLog(file, re) {
  try { return (fs.readFileSync(file, 'utf8').match(re) || []).length; } catch { return 0; }
}
const NGINX_SHORT = /worker_connections are not enough/g;

/** Wait until the upstream is idle: nothing in flight and no new request for 200 ms (a
 *  server may still be working through a queue left by the last cell's closed connections). */
async function settle(h, up) {
  const end = Date.now() + 10000;
  let quiet = 0;
  let last = null;
  while (Date.now() < end) {
    const s = await up.stats();
    if (!s) { await h.sleep(300); return; }
    const idle = (!Number.isFinite(s.inFlight) || s.inFlight === 0) && last !== null && s.requestToken === last;
    last = s.requestToken;
    quiet = idle ? quiet + 1 : 0;
    if (quiet >= 2) return;
    await h.sleep(100);
  }
}

// ------------------------------------------------------------------------------ cell

async function cell(h, srv, conns, o) {
  const up = srv.upstream;
  await settle(h, up);
  const before = await up.stats();
  const errBefore = srv.errorLog ? countInLog(srv.errorLog, NGINX_SHORT) : 0;
  const a = h.cpuTicks(srv.pgids);
  const ua = h.cpuTicks([up.proc.pid]);
  const ma = h.machineCpu();
  const t0 = process.hrtime.bigint();
  const sampler = startSampler(h, srv, up.port);
  const r = await h.wrk(srv.url, conns, o.duration, { timeout: WRK_TIMEOUT });
  const smp = await sampler.stop();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const mb = h.machineCpu();
  const b = h.cpuTicks(srv.pgids);
  const ub = h.cpuTicks([up.proc.pid]);
  const after = await up.stats();
  const secs = r.duration_us / 1e6;
  const cpu = h.cpuDelta(a, b);
  const upCpu = h.cpuDelta(ua, ub);
  return {
    rps: r.rps, requests: r.requests, duration_s: secs, errors: r.errors,
    error_detail: { connect: r.connect, read: r.read, write: r.write, status: r.status, timeout: r.timeout },
    p50_ms: r.p50_us / 1000, p90_ms: r.p90_us / 1000, p99_ms: r.p99_us / 1000, max_ms: r.max_us / 1000,
    cpu_us_per_req: r.requests ? (cpu * 1e6) / r.requests : NaN,
    server_cores: cpu / secs,
    upstream_cores: upCpu / secs,
    machine_busy_cores: (mb.busy - ma.busy) / wall,
    // CPU used by anything but the server, the upstream and wrk meanwhile (other people's runs).
    other_cores: (mb.busy - ma.busy) / wall - (cpu + upCpu) / wall - (r.wrk_ticks >= 0 ? r.wrk_ticks / h.CLK_TCK / wall : 0),
    upstream: statsDelta(before, after),
    nginx_worker_connections_short: srv.errorLog ? countInLog(srv.errorLog, NGINX_SHORT) - errBefore : 0,
    ...smp,
  };
}

// ----------------------------------------------------------------------------- storm

async function storm(h, srv, o) {
  const up = srv.upstream;
  await settle(h, up);
  const before = await up.stats();
  const errBefore = srv.errorLog ? countInLog(srv.errorLog, NGINX_SHORT) : 0;
  const sampler = startSampler(h, srv, up.port);
  const p = new h.Proc(`storm(${srv.name})`, process.execPath, [path.join(h.here, 'storm.mjs'), '--url', srv.url,
    '--requests', String(o.stormRequests), '--conns', String(o.stormConns), '--timeout-ms', '30000',
    '--window-ms', '10000']);
  const killer = setTimeout(() => { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }, 60000);
  await p.exited;
  clearTimeout(killer);
  const smp = await sampler.stop();
  const after = await up.stats();
  const out = h.jsonLine(p.out, (x) => Number.isFinite(x.requests));
  if (!out) return { server: srv.name, failed: `storm client: no result (exit ${JSON.stringify(p.exit)}) ${p.err.slice(-500)}` };
  return { server: srv.name, latency_ms: up.latency, ...out, upstream: statsDelta(before, after), ...smp,
    nginx_worker_connections_short: srv.errorLog ? countInLog(srv.errorLog, NGINX_SHORT) - errBefore : 0 };
}

// ------------------------------------------------------------------------------ main

/**
 * o: { rtts, conns, rounds, duration, warmup, nodeWarmup, tokenThreads, storm (bool),
 *      stormRequests, stormConns, emulator (bool: the emulator pair), standin ('c' or 'node'),
 *      previous (the latest.json found before this run, or null) }
 */
export async function runRtt(h, dir, o) {
  const res = { settings: { rtts_ms: o.rtts, conns: o.conns, rounds: o.rounds, duration_s: o.duration,
    workers: h.WORKERS, token_threads: o.tokenThreads || null, wrk_threads: h.THREADS, wrk_timeout: WRK_TIMEOUT,
    sample_ms: SAMPLE_MS, storm: o.storm ? { requests: o.stormRequests, conns: o.stormConns, latency_ms: 50 } : null },
  notes: [] };
  const mine = [];
  const stopAll = async () => { for (const p of mine.splice(0).reverse()) await p.stop(); };
  try {
    try { execFileSync('ss', ['-V'], { stdio: 'ignore' }); } catch {
      res.notes.push('no `ss` (iproute2): upstream connections per worker cannot be counted (shown as -)');
    }
    h.log('rtt: test CA (openssl, EC P-256) and the delayed stand-in');
    const tls = makeTestCa(path.join(dir, 'tls'));
    const standin = await startStandIn(h, dir, tls, o.standin, res.notes);
    mine.push(standin.proc);
    const ours = await startOurs(h, dir, 'rtt-ours', standin, tls, o);
    mine.push(...ours.procs);
    const node = await startNode(h, dir, 'rtt-node', standin, tls);
    mine.push(...node.procs);
    const servers = [ours, node];
    res.upstream = { name: standin.name, label: standin.label, impl: standin.impl, port: standin.port };
    res.ours_args = ['--workers', String(h.WORKERS), ...(o.tokenThreads ? ['--threads', String(o.tokenThreads)] : [])];

    // The strict upstream, for one pair of cells: 50 ms, 64 connections.
    const emuConns = o.conns.includes(64) ? 64 : o.conns[0];
    let emuPair = null;
    if (o.emulator) {
      const emu = await startEmulator(h, dir, tls, 50);
      if (emu.unsupported) {
        res.notes.push(`emulator pair skipped: ${emu.unsupported}`);
        h.log(`rtt: ${res.notes[res.notes.length - 1]}`);
      } else {
        mine.push(emu.proc);
        const oe = await startOurs(h, dir, 'rtt-ours-emu', emu, tls, o);
        mine.push(...oe.procs);
        const ne = await startNode(h, dir, 'rtt-node-emu', emu, tls);
        mine.push(...ne.procs);
        emuPair = { emu, servers: [oe, ne], conns: emuConns };
        res.emulator = { label: emu.label, port: emu.port, conns: emuConns, latency_ms: 50 };
      }
    }

    for (const s of [...servers, ...(emuPair ? emuPair.servers : [])]) await checkOne(s);
    const first = await standin.stats();
    res.upstream.max_concurrent_streams = first?.maxConcurrentStreams ?? 1000;

    // Warm-up at 0 ms (Node needs seconds of traffic before its figures settle); it also
    // opens ours' upstream connections, so the cells count only what a loaded worker adds.
    const maxC = Math.max(...o.conns);
    h.log(`rtt: warm-up ${o.warmup}s (ours), ${o.nodeWarmup}s (node) at 0 ms`);
    if (o.warmup > 0) await h.wrk(ours.url, maxC, o.warmup, { timeout: WRK_TIMEOUT });
    if (o.nodeWarmup > 0) await h.wrk(node.url, 64, o.nodeWarmup, { timeout: WRK_TIMEOUT });
    if (emuPair) {
      if (o.warmup > 0) await h.wrk(emuPair.servers[0].url, emuPair.conns, o.warmup, { timeout: WRK_TIMEOUT });
      if (o.nodeWarmup > 0) await h.wrk(emuPair.servers[1].url, emuPair.conns, o.nodeWarmup, { timeout: WRK_TIMEOUT });
    }

    const rounds = [];
    const total = o.rounds * (o.rtts.length * o.conns.length * 2 + (emuPair ? 2 : 0));
    let done = 0;
    const show = (name, rtt, c, x) => h.log(`rtt round ${rounds.length + 1}/${o.rounds} [${++done}/${total}] ` +
      `${h.pad(name, 12)} ${h.lpad(rtt, 3)} ms c=${h.lpad(c, 3)} ${h.lpad(h.fmtK(x.rps), 6)} req/s p99 ${h.fmt(x.p99_ms, 1)} ms ` +
      `upstream conns/worker ${x.upstream_conns_per_worker_max} (+${x.upstream?.new_connections ?? '?'} new) ` +
      `uniq ${h.fmt(x.private_dirty_kb_per_worker_max / 1024, 1)} MB` + (x.errors ? ` ERRORS ${x.errors}` : ''));
    for (let r = 0; r < o.rounds; r++) {
      const round = { ours: {}, node: {} };
      const rtts = o.rtts.map((_, i) => o.rtts[(i + r) % o.rtts.length]);
      for (const rtt of rtts) {
        await standin.setLatency(rtt);
        for (const s of servers) round[s.name === ours.name ? 'ours' : 'node'][rtt] = {};
        for (const c of r % 2 ? [...o.conns].reverse() : o.conns) {
          for (const s of r % 2 ? [...servers].reverse() : servers) {
            const k = s === ours ? 'ours' : 'node';
            const x = await cell(h, s, c, o);
            round[k][rtt][c] = x;
            show(k, rtt, c, x);
          }
        }
      }
      if (emuPair) {
        round['ours-emu'] = { 50: {} };
        round['node-emu'] = { 50: {} };
        for (const s of r % 2 ? [...emuPair.servers].reverse() : emuPair.servers) {
          const k = s.kind === 'ours' ? 'ours-emu' : 'node-emu';
          const x = await cell(h, s, emuPair.conns, o);
          round[k][50][emuPair.conns] = x;
          show(k, 50, emuPair.conns, x);
        }
      }
      rounds.push(round);
    }
    res.rounds = rounds;

    if (o.storm) {
      await standin.setLatency(50);
      res.storm = [];
      for (const s of servers) {
        h.log(`rtt: renewal storm on ${s.name}: ${o.stormRequests} requests over ${o.stormConns} connections, Ably at 50 ms`);
        const x = await storm(h, s, o);
        res.storm.push(x);
        h.log(`rtt: storm ${s.name}: ${x.failed || `${JSON.stringify(x.by_status)}, max ${h.fmt(x.max_ms, 0)} ms, ` +
          `p99 ${h.fmt(x.p99_ms, 0)} ms, wall ${h.fmt(x.wall_ms, 0)} ms, upstream conns/worker ${x.upstream_conns_per_worker_max}`}`);
      }
    }
    res.upstream.stats_at_end = await standin.stats();
    if (emuPair) res.emulator.stats_at_end = await emuPair.emu.stats();
  } finally {
    await stopAll();
  }
  res.summary = summarise(res);
  res.verdicts = verdicts(res, o.previous);
  return res;
}

// -------------------------------------------------------------------------- summary

const med = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const maxOf = (xs) => { const v = xs.filter(Number.isFinite); return v.length ? Math.max(...v) : NaN; };

function summarise(res) {
  const rounds = res.rounds || [];
  const sum = {};
  for (const k of ['ours', 'node', 'ours-emu', 'node-emu']) {
    if (!rounds.length || !rounds[0][k]) continue;
    sum[k] = {};
    for (const rtt of Object.keys(rounds[0][k])) {
      sum[k][rtt] = {};
      for (const c of Object.keys(rounds[0][k][rtt])) {
        const cells = rounds.map((r) => r[k]?.[rtt]?.[c]).filter(Boolean);
        const f = (name) => cells.map((x) => x[name]);
        sum[k][rtt][c] = {
          rps: med(f('rps')), rps_all: f('rps').map(Math.round), p50_ms: med(f('p50_ms')), p99_ms: med(f('p99_ms')),
          max_ms: maxOf(f('max_ms')), errors: f('errors').reduce((a, b) => a + b, 0),
          cpu_us_per_req: med(f('cpu_us_per_req')), server_cores: med(f('server_cores')),
          upstream_cores: med(f('upstream_cores')), machine_busy_cores: med(f('machine_busy_cores')),
          other_cores: med(f('other_cores')),
          upstream_conns_per_worker_max: maxOf(f('upstream_conns_per_worker_max')),
          upstream_conns_total_max: maxOf(f('upstream_conns_total_max')),
          upstream_new_connections: cells.map((x) => x.upstream?.new_connections),
          http_versions: cells.reduce((acc, x) => {
            for (const [v, n] of Object.entries(x.upstream?.http_versions || {})) acc[v] = (acc[v] || 0) + n;
            return acc;
          }, {}),
          private_dirty_kb_per_worker_max: maxOf(f('private_dirty_kb_per_worker_max')),
          private_dirty_kb_sum_max: maxOf(f('private_dirty_kb_sum_max')),
          nginx_worker_connections_short: f('nginx_worker_connections_short').reduce((a, b) => a + (b || 0), 0),
          // Within each round, then the median.
          x_node: k === 'ours' || k === 'ours-emu'
            ? med(rounds.map((r) => r[k]?.[rtt]?.[c]?.rps / r[k === 'ours' ? 'node' : 'node-emu']?.[rtt]?.[c]?.rps)) : NaN,
          x_bound: k === 'ours' ? med(rounds.map((r) => r.ours[rtt][c].rps / bound(r.ours['0']?.[c]?.rps, Number(c), Number(rtt))))
            : k === 'ours-emu' ? med(rounds.map((r) => r[k][rtt][c].rps / (Number(c) * 1000 / Number(rtt)))) : NaN,
          bound: k === 'ours' ? med(rounds.map((r) => bound(r.ours['0']?.[c]?.rps, Number(c), Number(rtt))))
            : k === 'ours-emu' ? Number(c) * 1000 / Number(rtt) : NaN,
        };
      }
    }
  }
  return sum;
}

/** Little's law: c requests in flight for rtt ms each -> c / rtt per second, no more than
 *  ours did with no round trip (the CPU limit). */
function bound(ours0, c, rtt) {
  const little = rtt > 0 ? (c * 1000) / rtt : Infinity;
  return Math.min(Number.isFinite(ours0) ? ours0 : Infinity, little);
}

/** What limits a cell of ours (a reading, not a measurement). */
function limitOf(x, rtt, c, cpus) {
  if (rtt > 0 && x.rps >= 0.9 * (c * 1000) / rtt) return 'round trip (c/RTT)';
  if (x.upstream_cores >= 0.85) return 'upstream CPU';
  if (x.machine_busy_cores >= 0.9 * cpus) return 'machine CPU';
  return 'ours';
}

// ------------------------------------------------------------------------- verdicts

function verdicts(res, previous) {
  const v = [];
  const add = (pass, target, detail) => v.push({ pass, target, detail });
  const S = res.summary;
  if (!S.ours || !S.node) return v;
  const rtts = res.settings.rtts_ms.filter((x) => x > 0);
  const cs = res.settings.conns;
  const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const k = (x) => (Number.isFinite(x) ? (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0)) : '-');
  for (const rtt of rtts) {
    const cells = cs.map((c) => ({ c, x: S.ours[rtt]?.[c], n: S.node[rtt]?.[c] })).filter((e) => e.x);
    add(cells.every((e) => e.x.x_bound >= BOUND_FRACTION),
      `token at ${rtt} ms: ours >= ${BOUND_FRACTION} x min(ours at 0 ms, connections / round trip)`,
      cells.map((e) => `${e.c} conns ${k(e.x.rps)} req/s = ${fmt(e.x.x_bound, 2)}x of ${k(e.x.bound)} ` +
        `(min(${k(S.ours['0']?.[e.c]?.rps)}, ${k((e.c * 1000) / rtt)}))`).join('; '));
    // Little's law caps ours at conns / RTT whatever it does: where Node is near that cap too
    // (its agent keeps up to 40 requests in flight), 3x cannot be reached; say so.
    const ceiling = (e) => ((e.c * 1000) / rtt) / e.n?.rps;
    add(cells.every((e) => e.x.x_node >= 3),
      `token at ${rtt} ms: ours >= 3x the Node requestToken server`,
      cells.map((e) => `${e.c} conns ${fmt(e.x.x_node, 2)}x (${k(e.x.rps)} vs ${k(e.n?.rps)} req/s` +
        `${ceiling(e) < 3 ? `; at most ${fmt(ceiling(e), 2)}x possible: ${e.c} conns / ${rtt} ms = ${k((e.c * 1000) / rtt)} req/s` : ''})`).join('; '));
    const c64 = cs.includes(64) ? 64 : Math.min(...cs);
    const x64 = S.ours[rtt]?.[c64];
    if (x64) {
      add(x64.p99_ms <= rtt + 50 && x64.errors === 0, `token at ${rtt} ms: p99 <= round trip + 50 ms at ${c64} connections`,
        `p99 ${fmt(x64.p99_ms, 1)} ms (target <= ${rtt + 50} ms), ${x64.errors} errors; Node p99 ${fmt(S.node[rtt]?.[c64]?.p99_ms, 1)} ms`);
    }
  }
  // 0 ms: against the figures recorded before this run (not a hard gate).
  if (S.ours['0']) {
    const prevRtt = previous?.rtt?.summary?.ours?.['0'];
    const prevFast = previous?.summary?.['token-fast'];
    const parts = cs.map((c) => `${c} conns ${k(S.ours['0'][c]?.rps)} req/s (p99 ${fmt(S.ours['0'][c]?.p99_ms, 1)} ms)`);
    const cmp = [];
    if (prevRtt) {
      cmp.push(`previous rtt run (${previous.rtt.date?.slice(0, 16) ?? '?'}, binary ${previous.rtt.binary?.sha256?.slice(0, 12) ?? '?'}, ` +
        `same method): ${cs.map((c) => (prevRtt[c] ? `${c} conns ${k(prevRtt[c].rps)} -> ${fmt(S.ours['0'][c].rps / prevRtt[c].rps, 2)}x` : null)).filter(Boolean).join(', ')}`);
    }
    if (prevFast?.['64'] && S.ours['0']['64']) {
      cmp.push(`token-fast at 64 conns in results/latest.json (${previous.machine?.date?.slice(0, 16) ?? '?'}, binary ` +
        `${previous.binary?.sha256?.slice(0, 12) ?? '?'}; plain-HTTP nginx stand-in, not TLS/h2): ${k(prevFast['64'].rps)} -> ` +
        `${fmt(S.ours['0']['64'].rps / prevFast['64'].rps, 2)}x`);
    }
    add(null, 'token at 0 ms: no worse than the recorded figures (within noise; not a gate)',
      `${parts.join('; ')}. ${cmp.length ? `Against ${cmp.join('; ')}` : 'No previous figure recorded in results/latest.json'}`);
  }
  // Unique memory during 512-connection cells at 50 and 100 ms.
  const memCells = [];
  for (const rtt of [50, 100]) for (const c of cs.filter((x) => x >= 512)) if (S.ours[rtt]?.[c]) memCells.push([rtt, c, S.ours[rtt][c]]);
  if (memCells.length) {
    const worst = maxOf(memCells.map(([, , x]) => x.private_dirty_kb_per_worker_max));
    add(worst <= MEM_LIMIT_KB, `unique memory per worker with 512 requests in flight over ${res.settings.workers} workers`,
      memCells.map(([rtt, c, x]) => `${rtt} ms/${c} conns: max ${fmt(x.private_dirty_kb_per_worker_max / 1024, 1)} MB per worker ` +
        `(${fmt(x.private_dirty_kb_sum_max / 1024, 1)} MB summed over workers)`).join('; ') +
      ` (Private_Dirty sampled every ${SAMPLE_MS} ms during the cells, max; target <= ${MEM_LIMIT_KB / 1024} MB)`);
  }
  // Upstream connections per worker with HTTP/2 offered.
  const streams = res.upstream?.max_concurrent_streams || 1000;
  const connCells = [];
  for (const rtt of res.settings.rtts_ms) for (const c of cs) if (S.ours[rtt]?.[c]) connCells.push([rtt, c, S.ours[rtt][c]]);
  if (connCells.length) {
    const ok = connCells.every(([, c, x]) => x.upstream_conns_per_worker_max <= Math.ceil(c / streams));
    const news = connCells.flatMap(([, , x]) => x.upstream_new_connections).filter(Number.isFinite);
    const vers = {};
    for (const [, , x] of connCells) for (const [ver, n] of Object.entries(x.http_versions)) vers[ver] = (vers[ver] || 0) + n;
    add(ok, `upstream connections per worker <= ceil(requests in flight / ${streams} streams) (HTTP/2 offered)`,
      connCells.map(([rtt, c, x]) => `${rtt}/${c}: ${x.upstream_conns_per_worker_max}`).join(', ') +
      ` (RTT ms/conns: max established per worker, target <= ${Math.ceil(Math.max(...cs) / streams)}); ` +
      `new connections accepted by the upstream per cell: max ${news.length ? Math.max(...news) : '-'}, total ${news.reduce((a, b) => a + b, 0)}; ` +
      `HTTP versions of ours' requests: ${Object.entries(vers).map(([ver, n]) => `${ver} ${n}`).join(', ') || '-'}`);
  }
  // The storm.
  for (const st of res.storm || []) {
    if (st.server !== 'rtt-ours') continue;
    if (st.failed) { add(false, 'renewal storm', st.failed); continue; }
    add(st.ok === st.requests && st.bad_bodies === 0 && st.max_ms <= 10000,
      `renewal storm: ${st.requests} requests together over ${st.conns} connections, Ably at 50 ms, all 200 within 10 s`,
      `${JSON.stringify(st.by_status)}, max ${fmt(st.max_ms, 0)} ms, p99 ${fmt(st.p99_ms, 0)} ms, wall ${fmt(st.wall_ms, 0)} ms, ` +
      `${st.ok_within_window} of ${st.requests} answered 200 within 10 s; upstream conns/worker max ${st.upstream_conns_per_worker_max}, ` +
      `${st.upstream?.new_connections ?? '-'} new; nginx "worker_connections are not enough" ${st.nginx_worker_connections_short}x`);
  }
  // The strict upstream: the same picture as against the stand-in (ours / Node within 0.8x of
  // the stand-in's at the same round trip and connections, each taken within a round), and
  // the same latency target.
  const oe = S['ours-emu']?.['50'];
  if (oe) {
    const c = Object.keys(oe)[0];
    const x = oe[c];
    const n = S['node-emu']['50'][c];
    const st = S.ours['50']?.[c];
    const rel = med((res.rounds || []).map((r) => (r['ours-emu']['50'][c].rps / r['node-emu']['50'][c].rps) /
      (r.ours['50']?.[c]?.rps / r.node['50']?.[c]?.rps)));
    add(rel >= 0.8 && x.p99_ms <= 100 && x.errors === 0,
      `the same picture against the emulator (50 ms, ${c} connections): ours / Node >= 0.8 x that against the stand-in, p99 <= 100 ms`,
      `${fmt(x.rps, 0)} vs ${fmt(n.rps, 0)} req/s = ${fmt(x.x_node, 2)}x (stand-in: ${fmt(st?.x_node, 2)}x; ratio ${fmt(rel, 2)}); ` +
      `ours ${fmt(x.x_bound, 2)}x of c/RTT ${k(x.bound)}; p99 ${fmt(x.p99_ms, 1)} ms (Node ${fmt(n.p99_ms, 1)}); ${x.errors} errors; ` +
      `upstream conns/worker ${x.upstream_conns_per_worker_max} (new per cell ${x.upstream_new_connections.join('/')}); ` +
      `emulator at ${fmt(x.upstream_cores, 2)} cores during ours' cell ` +
      `(${fmt((x.upstream_cores * 1e6) / x.rps, 0)} us per request)${x.upstream_cores >= 0.85 ? ': the emulator is the limit' : ''}`);
  }
  return v;
}

// --------------------------------------------------------------------------- report

export const RTT_TEXT_MARK = '== token mode at a round trip to Ably (section rtt) ==';
export const RTT_MD_MARK = '<!-- section rtt -->';

export function rttText(res, h) {
  const { fmt, fmtK, pad, lpad } = h;
  const S = res.summary;
  const L = [RTT_TEXT_MARK];
  L.push(`${res.date}; binary sha256 ${res.binary?.sha256?.slice(0, 12)} (${res.ours_args?.join(' ')}); ` +
    `${res.settings.rounds} interleaved rounds of ${res.settings.duration_s}s cells, medians; wrk -t${res.settings.wrk_threads} ` +
    `--timeout ${res.settings.wrk_timeout}; upstream: ${res.upstream?.label}; ours: nginx.conf.example as shipped -> ` +
    `${res.settings.workers} workers, tls = on, ca_file = test CA; Node: node-server.mjs, ably-js requestToken over TLS ` +
    `(its agent: keepAlive, maxSockets ${NODE_AGENT_SOCKETS}).`);
  for (const n of res.notes || []) L.push(`note: ${n}`);
  if (!S.ours) return L.join('\n') + '\n';
  const hdr = `${lpad('RTT', 4)} ${lpad('conns', 5)} | ${lpad('ours r/s', 8)} ${lpad('p99 ms', 7)} ${lpad('us/req', 6)} | ${lpad('Node r/s', 8)} ${lpad('p99 ms', 7)} | ` +
    `${lpad('xNode', 6)} ${lpad('bound', 6)} ${lpad('xbound', 6)} | ${lpad('up/wkr', 6)} ${lpad('new', 4)} ${lpad('Node up', 7)} | ` +
    `${lpad('uniq/wkr', 8)} ${lpad('Node uniq', 9)} | ${lpad('up cores', 8)} ${lpad('busy', 4)} ${lpad('other', 5)} | ${pad('limit (ours)', 18)} ${lpad('err', 4)}`;
  L.push(hdr, '-'.repeat(hdr.length));
  const mb = (kb) => (Number.isFinite(kb) ? `${(kb / 1024).toFixed(1)}M` : '-');
  for (const rtt of res.settings.rtts_ms) {
    for (const c of res.settings.conns) {
      const x = S.ours[rtt]?.[c];
      const n = S.node[rtt]?.[c];
      if (!x || !n) continue;
      const news = x.upstream_new_connections.filter(Number.isFinite);
      L.push(`${lpad(rtt, 4)} ${lpad(c, 5)} | ${lpad(fmtK(x.rps), 8)} ${lpad(fmt(x.p99_ms, 1), 7)} ${lpad(fmt(x.cpu_us_per_req, 0), 6)} | ` +
        `${lpad(fmtK(n.rps), 8)} ${lpad(fmt(n.p99_ms, 1), 7)} | ` +
        `${lpad(fmt(x.x_node, 2), 6)} ${lpad(fmtK(x.bound), 6)} ${lpad(fmt(x.x_bound, 2), 6)} | ` +
        `${lpad(fmt(x.upstream_conns_per_worker_max, 0), 6)} ${lpad(news.length ? Math.max(...news) : '-', 4)} ${lpad(fmt(n.upstream_conns_per_worker_max, 0), 7)} | ` +
        `${lpad(mb(x.private_dirty_kb_per_worker_max), 8)} ${lpad(mb(n.private_dirty_kb_per_worker_max), 9)} | ` +
        `${lpad(fmt(x.upstream_cores, 2), 8)} ${lpad(fmt(x.machine_busy_cores, 1), 4)} ${lpad(fmt(x.other_cores, 2), 5)} | ` +
        `${pad(limitOf(x, rtt, c, h.cpus), 18)} ${lpad(x.errors + n.errors, 4)}`);
    }
  }
  L.push('us/req: server CPU (nginx + the binary) per request of ours. ' +
    'xNode, xbound: ours / Node and ours / bound within each round, medians. bound: min(ours at 0 ms, conns / RTT) ' +
    '(Little\'s law). up/wkr: most established connections from one worker to the upstream at any sample (every ' +
    `${SAMPLE_MS} ms, ss); new: most connections the upstream accepted during one cell; Node up: the same for the Node ` +
    'process. uniq/wkr: most Private_Dirty of one worker (or the Node process) at any sample. up cores: the upstream\'s CPU ' +
    'during ours\' cell; busy: machine-wide busy cores then; other: the part of busy that was neither the servers, the ' +
    'upstream nor wrk (other people\'s work on this machine). limit: round trip if ours >= 0.9 x conns/RTT; upstream CPU ' +
    `if it used >= 0.85 cores; machine CPU if the machine was >= 90% busy; else ours. Node's limit at RTT > 0 is its agent: ` +
    `${NODE_AGENT_SOCKETS} sockets, ${NODE_AGENT_SOCKETS} / RTT.`);
  const other = med(Object.values(S.ours).concat(Object.values(S.node)).flatMap((r) => Object.values(r)).map((x) => x.other_cores));
  if (other > 0.3) {
    L.push(`WARNING: other work kept ${fmt(other, 2)} of ${h.cpus} cores busy during the cells (median; column "other"): ` +
      'read the req/s figures and ratios with care.');
  }
  const vers = (k) => {
    const acc = {};
    for (const rtt of Object.keys(S[k] || {})) for (const x of Object.values(S[k][rtt])) {
      for (const [v, n] of Object.entries(x.http_versions)) acc[v] = (acc[v] || 0) + n;
    }
    return Object.entries(acc).map(([v, n]) => `HTTP/${v} ${n}`).join(', ');
  };
  L.push(`requests the upstream saw from ours: ${vers('ours')}; from Node: ${vers('node')}.`);
  const short = Object.values(S.ours).flatMap((r) => Object.values(r)).reduce((a, x) => a + x.nginx_worker_connections_short, 0);
  if (short) L.push(`nginx logged "worker_connections are not enough" ${short} times during ours' cells.`);
  if (S['ours-emu']) {
    const c = Object.keys(S['ours-emu']['50'])[0];
    const x = S['ours-emu']['50'][c];
    const n = S['node-emu']['50'][c];
    L.push(`against the emulator (${res.emulator.label}), 50 ms, ${c} conns: ours ${fmtK(x.rps)} req/s p99 ${fmt(x.p99_ms, 1)} ms, ` +
      `Node ${fmtK(n.rps)} req/s p99 ${fmt(n.p99_ms, 1)} ms, ${fmt(x.x_node, 2)}x; ours ${fmt(x.x_bound, 2)}x of c/RTT; ` +
      `upstream conns/worker ${x.upstream_conns_per_worker_max} (Node ${n.upstream_conns_per_worker_max}), new per cell ` +
      `${x.upstream_new_connections.join('/')} (Node ${n.upstream_new_connections.join('/')}); emulator at ` +
      `${fmt(x.upstream_cores, 2)} cores during ours' cell, ${fmt(n.upstream_cores, 2)} during Node's.`);
  }
  for (const st of res.storm || []) {
    L.push(`storm (${st.server}): ` + (st.failed || `${st.requests} requests over ${st.conns} connections at 50 ms: ` +
      `${JSON.stringify(st.by_status)}, ${st.ok_within_window} answered 200 within 10 s, p50 ${fmt(st.p50_ms, 0)} ms, ` +
      `p99 ${fmt(st.p99_ms, 0)} ms, max ${fmt(st.max_ms, 0)} ms, wall ${fmt(st.wall_ms, 0)} ms; upstream conns/worker max ` +
      `${st.upstream_conns_per_worker_max}, ${st.upstream?.new_connections ?? '-'} new; uniq/worker max ` +
      `${mb(st.private_dirty_kb_per_worker_max)}` + (st.nginx_worker_connections_short ? `; nginx "worker_connections are not enough" ${st.nginx_worker_connections_short}x` : '')));
  }
  L.push('');
  L.push('verdicts (issue 12, ratios from this run):');
  for (const v of res.verdicts) L.push(`  ${verdictWord(v)}  ${v.target}: ${v.detail}`);
  L.push('');
  return L.join('\n');
}

/** A verdict's word in the text report: INFO (not a gate), PASS or FAIL. */
export const verdictWord = (v) => (v.pass === null ? 'INFO' : v.pass ? 'PASS' : 'FAIL');

export function rttMarkdown(res, h) {
  const { fmt, fmtK } = h;
  const S = res.summary;
  const L = [RTT_MD_MARK, ''];
  L.push(`\`token\` mode at a round trip to Ably (\`--section rtt\`, ${res.date?.slice(0, 10)}; binary sha256 ` +
    `${res.binary?.sha256?.slice(0, 12)}): ${res.upstream?.label}; medians of ${res.settings.rounds} rounds of ` +
    `${res.settings.duration_s} s cells, ${res.settings.workers} workers.`);
  L.push('');
  if (!S.ours) return L.join('\n') + '\n';
  L.push('| RTT | conns | ours req/s | p99 ms | Node req/s | p99 ms | × Node | bound | × bound | upstream conns / worker | unique memory / worker |');
  L.push('|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const rtt of res.settings.rtts_ms) {
    for (const c of res.settings.conns) {
      const x = S.ours[rtt]?.[c];
      const n = S.node[rtt]?.[c];
      if (!x || !n) continue;
      L.push(`| ${rtt} ms | ${c} | ${fmtK(x.rps)} | ${fmt(x.p99_ms, 1)} | ${fmtK(n.rps)} | ${fmt(n.p99_ms, 1)} | ${fmt(x.x_node, 2)} | ` +
        `${fmtK(x.bound)} | ${fmt(x.x_bound, 2)} | ${fmt(x.upstream_conns_per_worker_max, 0)} | ` +
        `${Number.isFinite(x.private_dirty_kb_per_worker_max) ? (x.private_dirty_kb_per_worker_max / 1024).toFixed(1) + ' MB' : '–'} |`);
    }
  }
  L.push('');
  L.push('| target | verdict | measured |');
  L.push('|---|---|---|');
  for (const v of res.verdicts) L.push(`| ${v.target} | ${v.pass === null ? 'info' : v.pass ? 'PASS' : '**FAIL**'} | ${v.detail.replace(/\|/g, '/')} |`);
  L.push('');
  return L.join('\n');
}
