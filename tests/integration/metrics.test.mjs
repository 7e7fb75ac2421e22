// /metrics for the whole service: 2 workers in token mode behind the shipped
// nginx config, a known mix of requests (token 200s, one of them held in
// flight; policy 403s; one fallback forced with an emulator fault), then:
//   - the text format's own parser (python3-prometheus-client's
//     text_string_to_metric_families, Debian's python) reads exact values,
//     the same from each worker (the other one stopped with SIGSTOP while a
//     fresh FastCGI connection is answered), and after `kill -9` of a worker
//     the totals are kept and the restart counted;
//   - a real Prometheus (Debian's package, a private instance on a free
//     loopback port, scraping nginx every second) returns the same exact
//     values from its HTTP API;
//   - nginx lets only loopback's 127.0.0.1 scrape: a client whose address is
//     127.0.0.2 gets 403 for /metrics and a token all the same;
//   - a 431 answered before the endpoint counts, and SIGHUP reloads (one
//     refused, one done) are counted with the generation, totals kept.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test, after } from 'node:test';
import { useStack, startEmulator, freePort, sleep, Proc, binaryPath, run } from './lib/stack.mjs';
import { fcgiRequest } from './lib/fastcgi.mjs';

const PYTHON = '/usr/bin/python3';  // Debian's, where python3-prometheus-client is
const PROMETHEUS = '/usr/bin/prometheus';

let fallback = null;
after(async () => {
  if (fallback) await fallback.proc.stop();
});

const stack = useStack({
  workers: 2,
  prepare: async () => { fallback = await startEmulator(null); },
  config: (s) => ({
    mode: 'token',
    rest_host: `127.0.0.1:${s.emuPort}`,
    fallback_hosts: `127.0.0.1:${fallback.port}`,
    tls: 'off',
    client_id: 'metrics-client',
    query_time: 'on',  // each worker asks GET /time: the clock offset gauge
  }),
});

const control = (url, what, body) => fetch(`${url}/_emulator/${what}`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
}).then((r) => assert.ok(r.status < 300, `emulator ${what}: ${r.status}`));
const fault = (url, f) => fetch(`${url}/_emulator/faults`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(f),
}).then((r) => assert.ok(r.status < 300, `emulator fault: ${r.status}`));

/** The exposition parsed by prometheus_client.parser: [{name, labels, value}]. */
function parseExposition(text) {
  const script = [
    'import json, sys',
    'from prometheus_client.parser import text_string_to_metric_families',
    'out = []',
    'for fam in text_string_to_metric_families(sys.stdin.read()):',
    '    for s in fam.samples:',
    '        out.append({"family": fam.name, "type": fam.type, "name": s.name, "labels": s.labels, "value": s.value})',
    'print(json.dumps(out))',
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, ['-c', script], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`the parser refused the exposition: ${stderr}\n${text}`));
      else resolve(JSON.parse(stdout));
    });
    child.stdin.end(text);
  });
}

/** The value of the sample name{labels} (labels matched exactly); throws if absent. */
function value(samples, name, labels = {}) {
  const want = JSON.stringify(Object.entries(labels).sort());
  const hit = samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want);
  assert.equal(hit.length, 1, `${name}${JSON.stringify(labels)}: ${hit.length} samples`);
  return hit[0].value;
}

/** What the mix below must leave, as [name, labels, value]. */
function expected({ restarts = 0, forbidden = 3 } = {}) {
  return [
    ['ably_token_requests_total', { mode: 'token', status: '200' }, 6],
    ['ably_token_requests_total', { mode: 'token', status: '403' }, forbidden],
    ['ably_token_requests_total', { mode: 'token', status: '502' }, 0],
    ['ably_token_errors_total', { code: '40300' }, forbidden],
    ['ably_token_credentials_issued_total', { mode: 'token' }, 6],
    ['ably_token_credentials_issued_total', { mode: 'jwt' }, 0],
    ['ably_token_ably_requests_total', { role: 'primary', outcome: 'ok' }, 5],
    ['ably_token_ably_requests_total', { role: 'primary', outcome: 'failed' }, 1],
    ['ably_token_ably_requests_total', { role: 'fallback', outcome: 'ok' }, 1],
    ['ably_token_ably_requests_total', { role: 'fallback', outcome: 'failed' }, 0],
    ['ably_token_ably_fallbacks_total', {}, 1],
    ['ably_token_ably_hosts_avoided_total', { role: 'primary' }, 1],
    ['ably_token_ably_request_duration_seconds_count', { role: 'primary' }, 6],
    ['ably_token_ably_request_duration_seconds_count', { role: 'fallback' }, 1],
    ['ably_token_request_duration_seconds_count', { mode: 'token' }, 6 + forbidden],
    ['ably_token_request_duration_seconds_bucket', { mode: 'token', le: '+Inf' }, 6 + forbidden],
    ['ably_token_requests_in_flight', {}, 0],
    ['ably_token_worker_restarts_total', {}, restarts],
    ['ably_token_config_generation', {}, 1],
  ];
}

function checkAll(samples, want) {
  for (const [name, labels, v] of want) {
    assert.equal(value(samples, name, labels), v, `${name}${JSON.stringify(labels)}`);
  }
}

async function scrape() {
  const r = await stack.request('GET', '/metrics', { record: false });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  return r.body;
}

/** The binary's workers (its children), by PID. */
function workers() {
  const pid = stack.procs.binary.pid;
  const text = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

/** /metrics asked straight over FastCGI on a new connection to the socket. */
async function scrapeFcgi() {
  const r = await fcgiRequest({ path: stack.sockPath }, {
    REQUEST_METHOD: 'GET', REQUEST_URI: '/metrics', DOCUMENT_URI: '/metrics', QUERY_STRING: '',
  });
  assert.equal(r.status, 200, r.stdout);
  return r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4);
}

let version = null;

test('a known mix of requests, read back exactly by the text format\'s parser', async () => {
  version = (await run(binaryPath, ['--version'])).stdout.trim().split(' ')[1];
  // Before anything: zeros, and the probes the stack made at start are not counted.
  const first = await parseExposition(await scrape());
  assert.equal(value(first, 'ably_token_requests_total', { mode: 'token', status: '200' }), 0);
  assert.equal(value(first, 'ably_token_build_info', { version }), 1);

  // Both hosts' clocks 5 minutes ahead of ours.
  await control(stack.emulatorUrl, 'clock', { offsetMs: 300000 });
  await control(fallback.url, 'clock', { offsetMs: 300000 });
  // One token request held by Ably for a while: in flight while it waits.
  await fault(stack.emulatorUrl, { latencyMs: 1500, count: 1, routes: ['requestToken'] });
  const held = stack.get();
  await sleep(500);
  assert.equal(value(await parseExposition(await scrape()), 'ably_token_requests_in_flight'), 1);
  assert.equal((await held).status, 200);
  // Three more 200s on the primary, three policy 403s (another clientId).
  for (let i = 0; i < 3; i++) assert.equal((await stack.get()).status, 200);
  for (let i = 0; i < 3; i++) {
    const r = await stack.get({ clientId: 'someone-else' });
    assert.equal(r.status, 403, r.body);
    assert.equal(r.headers['x-ably-errorcode'], '40300');
  }
  // One more 200 on the primary, then one that fails there and falls back.
  assert.equal((await stack.get()).status, 200);
  await fault(stack.emulatorUrl, { status: 503, count: 1, routes: ['requestToken'] });
  assert.equal((await stack.get()).status, 200);

  // The same exact answer on new connections, whichever worker serves them.
  for (let i = 0; i < 6; i++) checkAll(await parseExposition(await scrape()), expected());
  const offset = value(await parseExposition(await scrape()), 'ably_token_ably_clock_offset_seconds');
  assert.ok(Math.abs(offset - 300) < 1, `clock offset ${offset} s`);
  const fams = new Map((await parseExposition(await scrape())).map((s) => [s.family, s.type]));
  assert.equal(fams.get('ably_token_requests'), 'counter');
  assert.equal(fams.get('ably_token_request_duration_seconds'), 'histogram');
  assert.equal(fams.get('ably_token_requests_in_flight'), 'gauge');
});

test('each worker gives the same totals (the other one stopped)', async () => {
  const pids = workers();
  assert.equal(pids.length, 2);
  for (const [answering, stopped] of [[pids[0], pids[1]], [pids[1], pids[0]]]) {
    // Stopped and settled, so only the other one takes new connections.
    process.kill(stopped, 'SIGSTOP');
    await sleep(300);
    try {
      for (let i = 0; i < 2; i++) checkAll(await parseExposition(await scrapeFcgi()), expected());
    } finally {
      process.kill(stopped, 'SIGCONT');
    }
    await sleep(300);
    assert.ok(workers().includes(answering));
  }
});

test('after kill -9 of a worker the totals are kept and the restart counted', async () => {
  const before = workers();
  process.kill(before[0], 'SIGKILL');
  const end = Date.now() + 10000;
  let now = workers();
  while (!(now.length === 2 && !now.includes(before[0]))) {
    assert.ok(Date.now() < end, `no new worker: ${now}`);
    await sleep(100);
    now = workers();
  }
  checkAll(await parseExposition(await scrape()), expected({ restarts: 1 }));
  // Counting goes on in the new worker as in the old one: two more 403s.
  for (let i = 0; i < 2; i++) assert.equal((await stack.get({ clientId: 'someone-else' })).status, 403);
  for (let i = 0; i < 4; i++) checkAll(await parseExposition(await scrape()), expected({ restarts: 1, forbidden: 5 }));
});

test('a real Prometheus scrapes it through nginx and answers the same values', async (t) => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-prom-'));
  const port = await freePort();
  const config = path.join(dir, 'prometheus.yml');
  await fsp.writeFile(config, [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    '  - job_name: ably-token',
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${stack.port}']`,
    '',
  ].join('\n'));
  const prom = new Proc('prometheus', PROMETHEUS, [
    `--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { cwd: dir });
  t.after(async () => {
    await prom.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  });
  const query = async (q) => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
    const doc = await res.json();
    assert.equal(doc.status, 'success', JSON.stringify(doc));
    return doc.data.result;
  };
  // Wait for a successful scrape.
  const end = Date.now() + 30000;
  for (;;) {
    assert.ok(!prom.exit, `prometheus exited\n${prom.describe()}`);
    assert.ok(Date.now() < end, `no successful scrape in 30 s\n${prom.describe()}`);
    try {
      const up = await query('up{job="ably-token"}');
      if (up.length === 1 && up[0].value[1] === '1') break;
    } catch { /* not listening yet */ }
    await sleep(250);
  }
  const one = async (q) => {
    const r = await query(q);
    assert.equal(r.length, 1, `${q}: ${JSON.stringify(r)}`);
    return Number(r[0].value[1]);
  };
  assert.equal(await one('ably_token_requests_total{mode="token",status="200"}'), 6);
  assert.equal(await one('ably_token_requests_total{mode="token",status="403"}'), 5);
  assert.equal(await one('ably_token_errors_total{code="40300"}'), 5);
  assert.equal(await one('ably_token_credentials_issued_total{mode="token"}'), 6);
  assert.equal(await one('sum(ably_token_ably_requests_total{outcome="ok"})'), 6);
  assert.equal(await one('ably_token_ably_fallbacks_total'), 1);
  assert.equal(await one('ably_token_worker_restarts_total'), 1);
  assert.equal(await one('ably_token_request_duration_seconds_count{mode="token"}'), 11);
  assert.equal(await one(`ably_token_build_info{version="${version}"}`), 1);
  // A histogram Prometheus can use: the median of the token requests is a number.
  const median = await one('histogram_quantile(0.5, sum by (le) (ably_token_request_duration_seconds_bucket{mode="token"}))');
  assert.ok(Number.isFinite(median) && median > 0, `median ${median}`);
});

/** GET path from the local address 127.0.0.2 (not 127.0.0.1) to nginx. */
function getFrom(localAddress, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: stack.port, path: urlPath, localAddress, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}

test('nginx refuses /metrics to a client that is not 127.0.0.1', async () => {
  assert.equal(await getFrom('127.0.0.2', '/metrics'), 403);
  assert.equal(await getFrom('127.0.0.2', '/request-token'), 200);  // nor is the token endpoint
  assert.equal(await getFrom('127.0.0.2', '/healthz'), 200);
  assert.equal(await getFrom('127.0.0.1', '/metrics'), 200);
});

test('a request whose parameters are over 64 KiB, answered 431 unread, is counted too', async () => {
  const r = await fcgiRequest({ path: stack.sockPath }, {
    REQUEST_METHOD: 'GET', REQUEST_URI: '/request-token', QUERY_STRING: '', HTTP_X_BIG: 'x'.repeat(70 * 1024),
  });
  assert.equal(r.status, 431, r.stdout.slice(0, 200));
  const samples = await parseExposition(await scrape());
  assert.equal(value(samples, 'ably_token_requests_total', { mode: 'token', status: '431' }), 1);
  assert.equal(value(samples, 'ably_token_errors_total', { code: '40000' }), 1);
});

test('reloads are counted (refused and done), the generation follows, the totals survive', async () => {
  const parent = stack.procs.binary.pid;
  const good = await fsp.readFile(stack.configPath, 'utf8');
  const waitLog = async (re) => {
    const end = Date.now() + 10000;
    while (!re.test(stack.binaryLog)) {
      assert.ok(Date.now() < end, `no ${re} in the log:\n${stack.binaryLog.slice(-2000)}`);
      await sleep(50);
    }
  };
  await fsp.writeFile(stack.configPath, `${good}no_such_setting = 1\n`);
  process.kill(parent, 'SIGHUP');
  await waitLog(/reload refused/);
  await fsp.writeFile(stack.configPath, good);
  process.kill(parent, 'SIGHUP');
  await waitLog(/reloaded: configuration generation 2,/);
  for (let i = 0; i < 3; i++) {
    const samples = await parseExposition(await scrape());
    assert.equal(value(samples, 'ably_token_reloads_total', { result: 'failed' }), 1);
    assert.equal(value(samples, 'ably_token_reloads_total', { result: 'ok' }), 1);
    assert.equal(value(samples, 'ably_token_config_generation'), 2);
    // Old workers retiring are no restarts; the counts go on.
    assert.equal(value(samples, 'ably_token_worker_restarts_total'), 1);
    // 6 of the mix and the one from 127.0.0.2.
    assert.equal(value(samples, 'ably_token_requests_total', { mode: 'token', status: '200' }), 7);
    assert.equal(value(samples, 'ably_token_requests_total', { mode: 'token', status: '403' }), 5);
  }
});
