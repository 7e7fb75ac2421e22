// The `reload` section of `make bench`: what a SIGHUP reload costs while users are served.
// Run from tests/bench/run.mjs (`--section reload` runs it alone); the helpers it uses are
// run.mjs's (`h`) and rtt.mjs's (the test CA, the delayed HTTPS/HTTP-2 stand-in for Ably in
// C, ours behind nginx.conf.example as shipped, with kept FastCGI connections).
//
// For each setting (`token` mode with Ably a round trip away; `token-request` mode, which has
// no upstream) and each connection count, two wrk runs of the same length, back to back:
//   baseline  no reload;
//   reload    SIGHUP to the supervisor every --reload-every-ms, each after the config file was
//             replaced (written aside, renamed over) by one whose ttl differs (1h, 2h, 1h, ...),
//             the last one at least half an interval before wrk stops.
// During each run the supervisor's children are counted every 100 ms (/proc, by ppid). After
// it, until only --workers remain (at most 20 s): how long the retiring workers took. From the
// binary's log, what was written during the run: "reloaded:" lines, refusals, worker deaths;
// from nginx's error.log, the requests it had to send again, told apart by what the worker
// did (closed the connection unread, or read the request and left it unanswered); and the
// CPU of nginx and the binary per request, retired workers included, with the cores that
// other people's work took meanwhile (req/s follows those on a shared machine).

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { makeTestCa, startStandIn, startOurs, verdictWord } from './rtt.mjs';

const WORKER_SAMPLE_MS = 100;
const WRK_TIMEOUT = '10s';
const SETTLE_LIMIT_MS = 20000;
const MIN_RATIO = 0.9;
const TTLS = ['1h', '2h'];

export const RELOAD_TEXT_MARK = '== reloads under load (section reload) ==';
export const RELOAD_MD_MARK = '<!-- section reload -->';

/** The settings this section knows, by name (--reload-settings). */
function settingOf(name, rttMs) {
  if (name === 'token') return { name, label: `token, Ably at ${rttMs} ms`, mode: 'token', upstream: true };
  if (name === 'token-request') return { name, label: 'token-request (no upstream)', mode: 'token-request', upstream: false };
  return null;
}
export const RELOAD_SETTINGS = ['token', 'token-request'];

/** The supervisor's children (its workers, current and retiring). */
function children(h, sup) {
  return h.groupMembers([sup]).filter((m) => m.ppid === sup).map((m) => m.pid);
}

/** CPU seconds used so far by the serving processes (nginx and the binary): every live
 *  member of their process groups, plus what the reaped ones used (cutime + cstime of the
 *  parent that waited for them), so that retired workers are counted too. */
function serverCpu(h, pgids) {
  let ticks = 0;
  for (const m of h.groupMembers(pgids)) {
    ticks += m.ticks;
    if (pgids.includes(m.pid)) {
      try {
        const st = fs.readFileSync(`/proc/${m.pid}/stat`, 'utf8');
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        ticks += Number(f[13]) + Number(f[14]);
      } catch { /* gone */ }
    }
  }
  return ticks / h.CLK_TCK;
}

/** The text appended to `file` after byte offset `from`. */
function textSince(file, from) {
  let text = '';
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.max(0, size - from));
      fs.readSync(fd, buf, 0, buf.length, from);
      text = buf.toString('utf8');
    } finally { fs.closeSync(fd); }
  } catch { /* no log yet */ }
  return text;
}

const sizeOf = (file) => (fs.existsSync(file) ? fs.statSync(file).size : 0);

/** Counts of what the binary logged after byte offset `from`. */
function logSince(file, from) {
  const text = textSince(file, from);
  const n = (re) => (text.match(re) || []).length;
  return {
    reloaded: n(/reloaded: configuration generation \d+/g),
    refused: n(/reload refused|reload failed/g),
    deaths: n(/killed by signal|exited with/g),
    retired: n(/of configuration generation \d+ finished/g),
  };
}

/** The config file replaced the way an operator does it: written aside, renamed over. */
async function writeConfig(srv, ttl) {
  const text = '# written by tests/bench/reload.mjs\n' +
    Object.entries({ ...srv.settings, ttl }).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n';
  await fsp.writeFile(`${srv.conf}.new`, text, { mode: 0o600 });
  await fsp.rename(`${srv.conf}.new`, srv.conf);
}

/** Wait (at most SETTLE_LIMIT_MS) until only `want` workers are left; how long it took. */
async function settleWorkers(h, sup, want) {
  const t0 = Date.now();
  for (;;) {
    const n = children(h, sup).length;
    if (n === want) return { settle_ms: Date.now() - t0, workers_after: n };
    if (Date.now() - t0 > SETTLE_LIMIT_MS) return { settle_ms: Date.now() - t0, workers_after: n, timed_out: true };
    await h.sleep(50);
  }
}

/** One wrk run of `o.duration` s at `conns`, with SIGHUPs every o.everyMs if `reload`. */
async function run(h, srv, conns, reload, o) {
  const sup = srv.backendPgid;
  const before = await settleWorkers(h, sup, h.WORKERS);
  const logFrom = sizeOf(srv.log);
  const nginxFrom = sizeOf(srv.errorLog);
  let sampling = true;
  let workersMax = 0;
  let samples = 0;
  const sampler = (async () => {
    while (sampling) {
      workersMax = Math.max(workersMax, children(h, sup).length);
      samples++;
      await h.sleep(WORKER_SAMPLE_MS);
    }
  })();
  const ma = h.machineCpu();
  const cpuA = serverCpu(h, srv.pgids);
  const upPids = srv.upstream?.proc ? [srv.upstream.proc.pid] : [];
  const upA = h.cpuTicks(upPids);
  const t0 = Date.now();
  const wrkDone = h.wrk(srv.url, conns, o.duration, { timeout: WRK_TIMEOUT });
  let sent = 0;
  if (reload) {
    // The last one at least half an interval before the end, so that it lands under load.
    for (let at = o.everyMs; at <= o.duration * 1000 - o.everyMs / 2; at += o.everyMs) {
      await h.sleep(Math.max(0, t0 + at - Date.now()));
      srv.ttl = TTLS[(TTLS.indexOf(srv.ttl) + 1) % TTLS.length];
      await writeConfig(srv, srv.ttl);
      process.kill(sup, 'SIGHUP');
      sent++;
    }
  }
  const r = await wrkDone;
  const wall = (Date.now() - t0) / 1000;
  const mb = h.machineCpu();
  const upCpu = h.cpuDelta(upA, h.cpuTicks(upPids));
  // Keep sampling while the retiring workers finish: they count towards the most alive.
  const after = await settleWorkers(h, sup, h.WORKERS);
  const cpu = serverCpu(h, srv.pgids) - cpuA;
  sampling = false;
  await sampler;
  const lg = logSince(srv.log, logFrom);
  // When a kept connection fails, nginx sends the request again on a new one (the shipped
  // config allows that for POST too), so its client sees only the delay; it logs the failure.
  // Over a unix socket the kind of failure says what the worker did. A broken pipe, or a
  // reset: it closed the connection with the request unread (closing an idle kept connection
  // just as nginx picked it for a request; a close with unread bytes resets). "prematurely
  // closed": it had read the request and closed without an answer, a request dropped.
  const nginxErrors = textSince(srv.errorLog, nginxFrom).split('\n').filter((l) => /\[(error|crit|alert)\].*upstream/.test(l));
  const unread = nginxErrors.filter((l) => /\((32|104): [^)]*\) while (sending request to|reading response header from) upstream/.test(l));
  const dropped = nginxErrors.filter((l) => !unread.includes(l));
  return {
    reload, conns, rps: r.rps, requests: r.requests, duration_s: r.duration_us / 1e6,
    p50_ms: r.p50_us / 1000, p99_ms: r.p99_us / 1000, max_ms: r.max_us / 1000,
    non_2xx: r.status, socket_errors: r.connect + r.read + r.write + r.timeout,
    error_detail: { connect: r.connect, read: r.read, write: r.write, timeout: r.timeout },
    reloads_sent: sent, reloads_done: lg.reloaded, reloads_refused: lg.refused, worker_deaths: lg.deaths,
    workers_retired: lg.retired, nginx_retried_unread: unread.length, nginx_dropped: dropped.length,
    nginx_error_sample: [...dropped.slice(0, 3), ...unread.slice(0, 2)].map((l) => l.replace(/^\S+ \S+ /, '').slice(0, 300)),
    workers_max: workersMax, worker_samples: samples,
    workers_before: before.workers_after, workers_after: after.workers_after, settle_ms: after.settle_ms,
    settle_timed_out: !!after.timed_out, machine_busy_cores: (mb.busy - ma.busy) / wall,
    // Until the retiring workers were gone, so that their last work counts.
    cpu_us_per_req: r.requests ? (cpu * 1e6) / r.requests : NaN,
    server_cores: cpu / wall,
    upstream_cores: upCpu / wall,
    wrk_cores: r.wrk_ticks >= 0 ? r.wrk_ticks / h.CLK_TCK / wall : NaN,
    // Busy cores that were neither the servers, the stand-in nor wrk: other people's work.
    other_cores: (mb.busy - ma.busy) / wall - cpu / wall - upCpu / wall - (r.wrk_ticks >= 0 ? r.wrk_ticks / h.CLK_TCK / wall : 0),
  };
}

async function checkOne(srv, mode) {
  const res = await fetch(srv.url, { signal: AbortSignal.timeout(15000) });
  const body = await res.text();
  let ok = res.status === 200;
  try { ok = ok && typeof JSON.parse(body)[mode === 'token' ? 'token' : 'keyName'] === 'string'; } catch { ok = false; }
  if (!ok) throw new Error(`${srv.name}: first request answered ${res.status}: ${body.slice(0, 300)}`);
}

/**
 * o: { conns, duration (s per run), everyMs, rttMs, settings (names), warmup (s) }
 */
export async function runReload(h, dir, o) {
  const res = { settings: { conns: o.conns, duration_s: o.duration, every_ms: o.everyMs, rtt_ms: o.rttMs,
    workers: h.WORKERS, wrk_threads: h.THREADS, wrk_timeout: WRK_TIMEOUT, worker_sample_ms: WORKER_SAMPLE_MS,
    ttls: TTLS, min_ratio: MIN_RATIO }, notes: [], cells: [] };
  const mine = [];
  const stopAll = async () => { for (const p of mine.splice(0).reverse()) await p.stop(); };
  try {
    const settings = o.settings.map((n) => settingOf(n, o.rttMs));
    let standin = null;
    let tls = null;
    if (settings.some((s) => s.upstream)) {
      h.log('reload: test CA and the delayed stand-in');
      tls = makeTestCa(path.join(dir, 'tls-reload'));
      standin = await startStandIn(h, dir, tls, 'c', res.notes);
      mine.push(standin.proc);
      await standin.setLatency(o.rttMs);
      res.upstream = { label: standin.label, latency_ms: o.rttMs };
    }
    for (const s of settings) {
      // token-request reaches no upstream: the stand-in's port and the CA are only unused settings.
      const srv = await startOurs(h, dir, `reload-${s.name}`, standin ?? { port: 1 },
        tls ?? { ca: '/dev/null' }, { settings: { mode: s.mode, ttl: TTLS[0] } });
      srv.ttl = TTLS[0];
      mine.push(...srv.procs);
      await checkOne(srv, s.mode);
      if (o.warmup > 0) await h.wrk(srv.url, Math.max(...o.conns), o.warmup, { timeout: WRK_TIMEOUT });
      for (const c of o.conns) {
        const pair = {};
        for (const reload of [false, true]) {
          const x = await run(h, srv, c, reload, o);
          pair[reload ? 'reload' : 'baseline'] = x;
          h.log(`reload: ${h.pad(s.label, 27)} c=${h.lpad(c, 3)} ${reload ? 'reloads ' : 'baseline'} ` +
            `${h.lpad(h.fmtK(x.rps), 6)} req/s p50 ${h.fmt(x.p50_ms, 1)} p99 ${h.fmt(x.p99_ms, 1)} ms, ` +
            `${h.fmt(x.cpu_us_per_req, 0)} us CPU/req, ` +
            `${x.non_2xx} non-2xx, ${x.socket_errors} socket errors, nginx retried ${x.nginx_retried_unread} unread + ${x.nginx_dropped} dropped, reloads ${x.reloads_done}/${x.reloads_sent}, ` +
            `workers max ${x.workers_max}, ${x.workers_after} after (${x.settle_ms} ms)`);
        }
        res.cells.push({ setting: s.name, label: s.label, conns: c, ...pair, ratio: pair.reload.rps / pair.baseline.rps,
          cpu_ratio: pair.reload.cpu_us_per_req / pair.baseline.cpu_us_per_req });
      }
      for (const p of [...srv.procs].reverse()) { await p.stop(); mine.splice(mine.indexOf(p), 1); }
    }
  } finally {
    await stopAll();
  }
  res.verdicts = verdicts(res, h);
  return res;
}

// ------------------------------------------------------------------------- verdicts

function verdicts(res, h) {
  const v = [];
  const add = (pass, target, detail) => v.push({ pass, target, detail });
  const { fmt } = h;
  const labels = [...new Set(res.cells.map((x) => x.label))];
  for (const label of labels) {
    const cells = res.cells.filter((x) => x.label === label);
    add(cells.every((x) => x.reload.non_2xx === 0 && x.reload.socket_errors === 0),
      `reloads under load (${label}): 0 non-2xx answers and 0 socket errors`,
      cells.map((x) => `${x.conns} conns: ${x.reload.non_2xx} non-2xx, ${x.reload.socket_errors} socket errors ` +
        `in ${x.reload.requests} requests (baseline ${x.baseline.non_2xx}/${x.baseline.socket_errors})`).join('; '));
    add(cells.every((x) => x.reload.nginx_dropped === 0 && x.baseline.nginx_dropped === 0),
      `reloads under load (${label}): no request read by a worker and left unanswered (nginx: "upstream prematurely closed" or other)`,
      cells.map((x) => `${x.conns} conns: ${x.reload.nginx_dropped} dropped` +
        (x.reload.nginx_dropped ? ` (${x.reload.nginx_error_sample[0]})` : '') +
        `; ${x.reload.nginx_retried_unread} sent on a kept connection a retiring worker closed unread ` +
        '(broken pipe or reset), sent again by nginx on a new one').join('; '));
    add(cells.every((x) => x.ratio >= MIN_RATIO),
      `reloads under load (${label}): throughput with reloads >= ${MIN_RATIO}x the baseline`,
      cells.map((x) => `${x.conns} conns: ${fmt(x.ratio, 2)}x (${fmt(x.reload.rps, 0)} vs ${fmt(x.baseline.rps, 0)} req/s; ` +
        `p99 ${fmt(x.reload.p99_ms, 1)} vs ${fmt(x.baseline.p99_ms, 1)} ms; server CPU ${fmt(x.reload.cpu_us_per_req, 0)} vs ` +
        `${fmt(x.baseline.cpu_us_per_req, 0)} us/req; nginx + ours had ${fmt(x.reload.server_cores, 2)} vs ` +
        `${fmt(x.baseline.server_cores, 2)} cores, other work ${fmt(x.reload.other_cores, 2)} vs ${fmt(x.baseline.other_cores, 2)})`).join('; '));
    add(null, `reloads under load (${label}): what the reloads cost in server CPU per request (not a gate; robust to other work)`,
      cells.map((x) => `${x.conns} conns: ${fmt(x.reload.cpu_us_per_req, 0)} vs ${fmt(x.baseline.cpu_us_per_req, 0)} us/req ` +
        `(${x.cpu_ratio >= 1 ? '+' : ''}${fmt((x.cpu_ratio - 1) * 100, 0)}%) with ${x.reload.reloads_done} reloads in ` +
        `${fmt(x.reload.duration_s, 0)} s`).join('; '));
    add(cells.every((x) => x.reload.reloads_sent > 0 && x.reload.reloads_done === x.reload.reloads_sent
      && x.reload.reloads_refused === 0 && x.reload.worker_deaths === 0 && x.baseline.reloads_done === 0),
    `reloads under load (${label}): every reload done`,
    cells.map((x) => `${x.conns} conns: ${x.reload.reloads_done} "reloaded:" of ${x.reload.reloads_sent} SIGHUPs, ` +
      `${x.reload.reloads_refused} refused, ${x.reload.worker_deaths} worker deaths, ${x.reload.workers_retired} workers retired`).join('; '));
    const runs = cells.flatMap((x) => [x.baseline, x.reload]);
    add(runs.every((x) => x.workers_after === res.settings.workers && !x.settle_timed_out),
      `reloads under load (${label}): only --workers ${res.settings.workers} workers remain after each run`,
      cells.map((x) => `${x.conns} conns: ${x.reload.workers_after} left ${x.reload.settle_ms} ms after wrk ended ` +
        `(baseline ${x.baseline.workers_after}); most alive at once ${x.reload.workers_max} (baseline ${x.baseline.workers_max})`).join('; '));
  }
  return v;
}

// --------------------------------------------------------------------------- report


export function reloadText(res, h) {
  const { fmt, fmtK, pad, lpad } = h;
  const S = res.settings;
  const L = [RELOAD_TEXT_MARK];
  L.push(`${res.date}; binary sha256 ${res.binary?.sha256?.slice(0, 12)}; ${S.workers} workers behind nginx.conf.example as ` +
    `shipped (kept FastCGI connections); wrk -t${S.wrk_threads} --timeout ${S.wrk_timeout}, ${S.duration_s} s per run; ` +
    `a SIGHUP every ${S.every_ms} ms in the reload runs (ttl ${S.ttls.join('/')} alternately); ` +
    `upstream: ${res.upstream?.label ?? 'none'}${res.upstream ? ` at ${S.rtt_ms} ms` : ''}; ` +
    `load average ${(res.loadavg_at_start || []).map((x) => x.toFixed(2)).join(' ')} at start, ` +
    `${(res.loadavg_at_end || []).map((x) => x.toFixed(2)).join(' ')} at end.`);
  for (const n of res.notes || []) L.push(`note: ${n}`);
  const hdr = `${pad('setting', 27)} ${lpad('conns', 5)} ${pad('run', 8)} | ${lpad('req/s', 7)} ${lpad('p50 ms', 7)} ${lpad('p99 ms', 7)} ` +
    `${lpad('max ms', 7)} ${lpad('us/req', 6)} | ${lpad('non2xx', 6)} ${lpad('sockerr', 7)} ${lpad('ngx u/d', 8)} | ${lpad('reloads', 7)} ${lpad('wkrs max', 8)} ${lpad('after', 5)} ` +
    `${lpad('settle ms', 9)} | ${lpad('busy', 4)} ${lpad('srv', 4)} ${lpad('other', 5)} ${lpad('ratio', 5)}`;
  L.push(hdr, '-'.repeat(hdr.length));
  for (const c of res.cells) {
    for (const [name, x] of [['baseline', c.baseline], ['reloads', c.reload]]) {
      L.push(`${pad(c.label, 27)} ${lpad(c.conns, 5)} ${pad(name, 8)} | ${lpad(fmtK(x.rps), 7)} ${lpad(fmt(x.p50_ms, 1), 7)} ` +
        `${lpad(fmt(x.p99_ms, 1), 7)} ${lpad(fmt(x.max_ms, 0), 7)} ${lpad(fmt(x.cpu_us_per_req, 0), 6)} | ${lpad(x.non_2xx, 6)} ${lpad(x.socket_errors, 7)} ` +
        `${lpad(`${x.nginx_retried_unread}/${x.nginx_dropped}`, 8)} | ` +
        `${lpad(x.reload ? `${x.reloads_done}/${x.reloads_sent}` : x.reloads_done, 7)} ${lpad(x.workers_max, 8)} ` +
        `${lpad(x.workers_after, 5)} ${lpad(x.settle_ms, 9)} | ${lpad(fmt(x.machine_busy_cores, 1), 4)} ` +
        `${lpad(fmt(x.server_cores, 2), 4)} ${lpad(fmt(x.other_cores, 2), 5)} ` +
        `${lpad(x.reload ? fmt(c.ratio, 2) : '', 5)}`);
    }
  }
  L.push('us/req: CPU of nginx and the binary (retired workers included) per request, until the retiring workers ' +
    'were gone; the figure to trust on a busy machine. ' +
    'ngx u/d: nginx error.log lines during the run: u, a request sent on a kept connection that a retiring worker ' +
    'closed without reading it (broken pipe or reset; nginx sent it again on a new connection) / d, any other upstream ' +
    'error, such as a request read and left unanswered ("upstream prematurely closed"; nginx may send it again too, ' +
    'so wrk need not see it). ' +
    'reloads: "reloaded:" lines the binary logged during the run / SIGHUPs sent. wkrs max: most children of the ' +
    `supervisor alive at one ${S.worker_sample_ms} ms sample (current and retiring workers). after, settle ms: workers ` +
    'left once the retiring ones were gone, and how long after wrk ended that was. busy: machine-wide busy cores ' +
    'during the run; srv: of which nginx and the binary; other: of which neither they, the stand-in nor wrk (other ' +
    'people\'s work). ratio: req/s with reloads / without, the two runs back to back.');
  L.push('');
  L.push('verdicts (reloads under load):');
  for (const v of res.verdicts) L.push(`  ${verdictWord(v)}  ${v.target}: ${v.detail}`);
  L.push('');
  return L.join('\n');
}

export function reloadMarkdown(res, h) {
  const { fmt, fmtK } = h;
  const S = res.settings;
  const L = [RELOAD_MD_MARK, ''];
  L.push(`Reloads under load (\`--section reload\`, ${res.date?.slice(0, 16).replace('T', ' ')} UTC; binary sha256 ` +
    `${res.binary?.sha256?.slice(0, 12)}): ${S.workers} workers behind nginx (kept FastCGI connections), wrk ` +
    `${S.duration_s} s per run, a SIGHUP every ${S.every_ms} ms in the reload runs` +
    `${res.upstream ? `; Ably: ${res.upstream.label} at ${S.rtt_ms} ms` : ''}; load average ` +
    `${(res.loadavg_at_start || []).map((x) => x.toFixed(2)).join(' ')} at start.`);
  L.push('');
  L.push('| setting | conns | run | req/s | p50 ms | p99 ms | non-2xx | socket errors | nginx retried: unread / dropped | reloads done / sent | most workers alive | workers after | server CPU µs/req | cores: nginx + ours / other work | × baseline req/s |');
  L.push('|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const c of res.cells) {
    for (const [name, x] of [['baseline', c.baseline], ['reloads', c.reload]]) {
      L.push(`| ${c.label} | ${c.conns} | ${name} | ${fmtK(x.rps)} | ${fmt(x.p50_ms, 1)} | ${fmt(x.p99_ms, 1)} | ${x.non_2xx} | ` +
        `${x.socket_errors} | ${x.nginx_retried_unread} / ${x.nginx_dropped} | ${x.reload ? `${x.reloads_done} / ${x.reloads_sent}` : x.reloads_done} | ${x.workers_max} | ` +
        `${x.workers_after} (${x.settle_ms} ms) | ${fmt(x.cpu_us_per_req, 0)} | ${fmt(x.server_cores, 2)} / ${fmt(x.other_cores, 2)} | ${x.reload ? fmt(c.ratio, 2) : ''} |`);
    }
  }
  L.push('');
  L.push('| target | verdict | measured |');
  L.push('|---|---|---|');
  for (const v of res.verdicts) L.push(`| ${v.target} | ${v.pass === null ? 'info' : v.pass ? 'PASS' : '**FAIL**'} | ${v.detail.replace(/\|/g, '/')} |`);
  L.push('');
  return L.join('\n');
}
