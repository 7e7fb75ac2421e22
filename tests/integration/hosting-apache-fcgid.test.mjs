// Apache httpd + mod_fcgid, from conf/apache-fcgid.conf.example: a private
// apache2 on a loopback port serves the page and hands /request-token and
// /healthz to the binary, which mod_fcgid starts with the FastCGI socket on
// stdin. ably-js end to end through it, error shapes, concurrency, and a
// second Apache with mod_fcgid's recycling limits set low: requests across
// many process recycles (max requests, idle timeout, lifetime) all succeed.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot, binaryPath, sleep, TEST_POLICY_LINES } from './lib/stack.mjs';
import { assertAblyError, assertTokenRequest, finalChecks, header } from './lib/checks.mjs';
import { ablyJsTests, ablyLogResponse } from './lib/ablyjs.mjs';
import { HostedStack, renderExample, shareWithApache, useApache } from './lib/apache.mjs';

const EXAMPLE = path.join(repoRoot, 'conf/apache-fcgid.conf.example');
const MODULES = ['mime', 'dir', 'headers', 'fcgid'];

/**
 * Lay out what `make install` and the example's header describe, in h.dir:
 * bin/ably-token, etc/ably-token.conf (key, mode 0640 group www-data), www/;
 * then the example with its Define lines pointing there. `limits` rewrites
 * the example's Fcgid* values; `server` is test-only server-wide config.
 */
async function fcgidSite(h, { limits = {}, server = [] } = {}) {
  const bin = path.join(h.dir, 'bin', 'ably-token');
  await fs.mkdir(path.dirname(bin), { mode: 0o755 });
  await fs.copyFile(binaryPath, bin);
  await fs.chmod(bin, 0o755);

  const etc = path.join(h.dir, 'etc');
  await fs.mkdir(etc);
  const conf = path.join(etc, 'ably-token.conf');
  await fs.writeFile(conf, `key = ${h.key}\nmode = token-request\nlog_level = info\n${TEST_POLICY_LINES}`);
  await shareWithApache(conf, 0o640);
  await shareWithApache(etc, 0o750);

  const www = path.join(h.dir, 'www');
  await fs.cp(path.join(repoRoot, 'www'), www, { recursive: true });

  const site = renderExample(await fs.readFile(EXAMPLE, 'utf8'), {
    defines: { ABLY_TOKEN_BIN: bin, ABLY_TOKEN_CONF: conf, ABLY_TOKEN_WWW: www },
    directives: limits,
    // The test's Listen port is not 80: let the vhost take any address.
    replace: [['<VirtualHost *:80>', '<VirtualHost *:*>']],
  }, 'conf/apache-fcgid.conf.example');
  return {
    modules: MODULES,
    body: [
      `FcgidIPCDir "${h.dir}/fcgid"`,
      `FcgidProcessTableFile "${h.dir}/fcgid_shm"`,
      ...server,
      site,
    ].join('\n'),
    tokenPath: '/request-token',
    readyPath: '/healthz',
  };
}

const site = useApache('Apache mod_fcgid', 'fcgid', (h) => fcgidSite(h));
const ablyLog = ablyJsTests(site, { label: 'Apache mod_fcgid', channelPrefix: 'fcgid' });
let recycleResponses = [];

test('the page and the health check come through Apache', async () => {
  const page = await site.request('GET', '/');
  assert.equal(page.status, 200);
  assert.match(header(page, 'content-type'), /^text\/html/);
  assert.match(page.body, /<html/i);
  assert.equal(header(page, 'x-content-type-options'), 'nosniff');
  const health = await site.request('GET', '/healthz');
  assert.equal(health.status, 200);
  assert.match(header(health, 'content-type'), /^application\/json/);
  JSON.parse(health.body);
  // Readiness, for a load balancer: a process mod_fcgid started is ready.
  const ready = await site.request('GET', '/readyz');
  assert.equal(ready.status, 200, ready.body);
  assert.equal(ready.body, 'ready\n');
  // Nothing else under /request-token is routed to the binary.
  assert.equal((await site.request('GET', '/request-token/x')).status, 404);
});

test('TokenRequests from GET, form POST and JSON POST verify with the key', async () => {
  assertTokenRequest(await site.get({ ttl: 60000 }), site, { clientId: 'example-client-id', ttl: 60000 });
  assertTokenRequest(await site.postForm({ clientId: 'example-client-id' }), site, { clientId: 'example-client-id' });
  assertTokenRequest(await site.postJson({ capability: { 'chat:*': ['publish'] } }), site,
    { capability: { 'chat:*': ['publish'] } });
});

test('errors keep Ably\'s shape through Apache (403, 400, 405, 413)', async () => {
  assertAblyError(await site.get({ clientId: 'mallory' }), 403, [40300]);
  assertAblyError(await site.get({ ttl: '5' }), 400, [40003]);
  assertAblyError(await site.request('PUT', '/request-token', { body: 'x' }), 405);
  // Over the binary's max_body (8192) but under FcgidMaxRequestLen (16384):
  // the binary answers.
  assertAblyError(await site.postForm('pad=' + 'x'.repeat(12000)), 413);
  // A valid request still works afterwards.
  assert.equal((await site.get()).status, 200);
});

test('a body over FcgidMaxRequestLen is refused by mod_fcgid, never passed on', async () => {
  const before = (site.binaryLog.match(/POST \/request-token/g) || []).length;
  const r = await site.postForm('pad=' + 'x'.repeat(40000));
  // mod_fcgid reports its own limit as 500 (its HTML page, not Ably's shape).
  assert.equal(r.status, 500);
  assert.equal((site.binaryLog.match(/POST \/request-token/g) || []).length, before, 'the binary saw the request');
  assert.equal((await site.get()).status, 200);
});

test('24 concurrent requests all succeed (mod_fcgid queues them over at most 4 processes)', async () => {
  const all = await Promise.all(Array.from({ length: 24 }, (_, i) => site.get({ ttl: 60000 + i })));
  all.forEach((r, i) => assertTokenRequest(r, site, { ttl: 60000 + i }));
  const pids = new Set([...site.binaryLog.matchAll(/ably-token\[(\d+)\]/g)].map((m) => m[1]));
  assert.ok(pids.size <= 4, `FcgidMaxProcessesPerClass 4, yet ${pids.size} processes served requests`);
});

test('mod_fcgid recycling (max requests, idle timeout, lifetime) loses no request', async (t) => {
  const MAX_REQUESTS = 4;
  const r = new HostedStack('Apache mod_fcgid recycling', 'fcgid');
  await r.start((h) => fcgidSite(h, {
    limits: {
      FcgidMaxRequestsPerProcess: String(MAX_REQUESTS),
      FcgidIdleTimeout: '1',
      FcgidProcessLifeTime: '2',
    },
    // How often mod_fcgid's process manager looks (server-wide, default 3-120 s).
    server: ['FcgidIdleScanInterval 1', 'FcgidBusyScanInterval 1', 'FcgidErrorScanInterval 1',
      'FcgidZombieScanInterval 1'],
  }));
  let report;
  const answers = [];
  try {
    // Bursts longer than MAX_REQUESTS, and pauses around the idle timeout
    // and the lifetime, so that requests arrive while processes are being
    // stopped and started.
    const pauseAfter = { 6: 2100, 12: 1300, 18: 2100 };
    for (let i = 1; i <= 24; i++) {
      answers.push(await r.get({ ttl: 60000 + i }));
      if (pauseAfter[i]) await sleep(pauseAfter[i]);
    }
  } finally {
    report = await r.stop();
    recycleResponses = r.responses;
  }
  answers.forEach((a, i) => assertTokenRequest(a, r, { ttl: 60000 + i + 1 }));

  // Which process served each request, from the binary's own log lines.
  const served = new Map();
  for (const m of r.binaryLog.matchAll(/ably-token\[(\d+)\] info rid=\d+-\d+: GET \/request-token -> ok/g)) {
    served.set(m[1], (served.get(m[1]) || 0) + 1);
  }
  const total = [...served.values()].reduce((a, b) => a + b, 0);
  assert.equal(total, answers.length, `log lines for ${total} of ${answers.length} requests`);
  assert.ok(served.size >= 6, `only ${served.size} processes served ${answers.length} requests`);
  for (const [pid, n] of served) assert.ok(n <= MAX_REQUESTS, `process ${pid} served ${n} > ${MAX_REQUESTS}`);

  // Every one of them ended on mod_fcgid's SIGTERM with status 0.
  const exits = report.binary.exits;
  const reasons = new Set(exits.map((e) => e.reason));
  t.diagnostic(`${served.size} processes; mod_fcgid exit reasons: ${[...reasons].join(', ')}`);
  for (const pid of served.keys()) {
    const e = exits.find((x) => String(x.pid) === pid);
    assert.ok(e, `mod_fcgid logged no exit for process ${pid}`);
    assert.equal(e.code, 0, `process ${pid}: ${e.text}`);
  }
  assert.ok(reasons.has('idle timeout') || reasons.has('lifetime expired'),
    `no process was stopped for idleness or age: ${[...reasons].join(', ')}`);
  assert.equal(report.apache.forced, false, 'Apache did not stop on SIGTERM');
  assert.equal(report.apache.stragglers, false, 'processes left after Apache stopped');
  assert.ok(!r.binaryLog.includes(r.secret), 'the key secret is in the error log');
});

test('the example keeps the key out of Apache\'s config and routes only two paths', async () => {
  const text = await fs.readFile(EXAMPLE, 'utf8');
  const live = text.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
  assert.ok(!live.some((l) => /ABLY_API_KEY/.test(l)), 'ABLY_API_KEY set in the example');
  assert.ok(live.includes('FcgidInitialEnv ABLY_TOKEN_CONF "${ABLY_TOKEN_CONF}"'));
  assert.ok(live.includes('<LocationMatch "^/(request-token|healthz|readyz)$">'));
});

finalChecks(site, { extraResponses: () => [ablyLogResponse(ablyLog), ...recycleResponses] });
