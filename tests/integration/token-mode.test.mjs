// `token` mode end to end: the binary signs a TokenRequest, POSTs it to
// "Ably" (the emulator) over libcurl and hands back the TokenDetails. Covers
// ably-js with the answer, fallback hosts (503, reset, timeout), no fallback
// on 4xx, 502/504 when every host fails, connection reuse, clock skew.

import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import Ably from 'ably';
import { useStack, startEmulator, startStack, sleep } from './lib/stack.mjs';
import { assertAblyError, assertNoStore, finalChecks } from './lib/checks.mjs';

// A second emulator plays the fallback host; the stack's own is the primary.
// It is started by the stack's own before() (opts.prepare), so it is up
// before the config that names it is written.
let fallback = null;
after(async () => {
  if (fallback) await fallback.proc.stop();
});

// One worker, so "one upstream connection per worker" is exactly one.
const stack = useStack({
  workers: 1,
  prepare: async () => { fallback = await startEmulator(null); },
  config: (s) => ({
    mode: 'token',
    rest_host: `127.0.0.1:${s.emuPort}`,
    fallback_hosts: `127.0.0.1:${fallback.port}`,
    tls: 'off',
    connect_timeout_ms: 500,
    request_timeout_ms: 800,
    upstream_timeout_ms: 2500,
  }),
});

async function emu(url, method, pathName, body) {
  const res = await fetch(`${url}${pathName}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(res.status < 300, `emulator control ${pathName}: ${res.status}`);
  return res.status === 204 ? null : res.json();
}
const primary = () => stack.emulatorUrl;
const secondary = () => fallback.url;
const stats = (url) => emu(url, 'GET', '/_emulator/stats');
const reset = async () => {
  await emu(primary(), 'POST', '/_emulator/reset');
  await emu(secondary(), 'POST', '/_emulator/reset');
};
const fault = (url, f) => emu(url, 'POST', '/_emulator/faults', f);

/** Token requests the emulator at url answered (any status). */
async function tokenCalls(url) {
  return (await stats(url)).routes.requestToken.requests;
}

function assertTokenDetails(res, want = {}) {
  assert.equal(res.status, 200, res.body);
  assert.equal(res.headers['content-type'], 'application/json');
  assertNoStore(res);
  assert.ok(!res.body.endsWith('\n'), 'trailing newline');
  const td = JSON.parse(res.body);
  assert.equal(typeof td.token, 'string');
  assert.equal(td.keyName, stack.keyName);
  assert.ok(td.expires > td.issued, 'expires after issued');
  assert.equal(td.clientId, want.clientId ?? 'example-client-id');
  if (want.capability) assert.equal(td.capability, want.capability);
  if (want.ttl) assert.equal(td.expires - td.issued, want.ttl);
  return td;
}

test('GET returns TokenDetails fetched from the primary, with the SDK headers', async () => {
  await reset();
  const res = await stack.get({ ttl: 120000, capability: '{"chat:*":["publish","subscribe"]}' });
  assertTokenDetails(res, { ttl: 120000, capability: '{"chat:*":["publish","subscribe"]}' });
  const st = await stats(primary());
  assert.equal(st.routes.requestToken.ok, 1);
  const sent = st.lastRequests.find((r) => r.route === 'requestToken');
  assert.equal(sent.headers['x-ably-version'], '6');
  assert.match(sent.headers['ably-agent'], /^ably-token-fcgi\/\S+ libcurl\//);
  assert.equal(sent.headers['content-type'], 'application/json');
  assert.equal(sent.headers.accept, 'application/json');
  assert.equal(sent.tokenRequest.clientId, 'example-client-id');
  assert.equal(await tokenCalls(secondary()), 0, 'the fallback was used without need');
});

test('ably-js gets TokenDetails through authUrl and publishes with the token', async () => {
  const rest = new Ably.Rest({
    authUrl: stack.tokenUrl, restHost: '127.0.0.1', port: stack.emuPort, tls: false, useBinaryProtocol: false,
  });
  const details = await rest.auth.authorize();
  assert.equal(details.clientId, 'example-client-id');
  assert.ok(details.issued > 0 && details.expires > details.issued);
  const ch = rest.channels.get('token-mode');
  await ch.publish('m', 'via TokenDetails');
  const page = await ch.history();
  assert.ok(page.items.some((m) => m.data === 'via TokenDetails'));
});

test('N sequential token requests through one worker use one upstream connection', async () => {
  assertTokenDetails(await stack.get());  // the thread's connection is open
  await reset();
  const before = await stats(primary());
  for (let i = 0; i < 10; i++) assertTokenDetails(await stack.get());
  const st = await stats(primary());
  assert.equal(st.routes.requestToken.ok, 10);
  // connections counts TCP accepts since the reset; the worker's kept
  // connection predates it, so no new one may appear at all.
  assert.equal(st.connections - (before.connections || 0), 0,
    `new upstream connections: ${st.connections}; apiConnections ${st.apiConnections}`);
  assert.equal(st.apiConnections, 1, 'token requests came over more than one connection');
});

// Each fallback case gets a fresh binary: a host that failed is avoided,
// and a fallback that worked is preferred, for minutes afterwards.
async function freshTokenStack() {
  return startStack({
    workers: 1,
    config: (s) => ({
      mode: 'token', rest_host: `127.0.0.1:${s.emuPort}`, fallback_hosts: `127.0.0.1:${fallback.port}`,
      tls: 'off', connect_timeout_ms: 500, request_timeout_ms: 800, upstream_timeout_ms: 2500,
    }),
  });
}

// RSC15l4: an error page from the CDN in front of Ably (or any error that
// is not Ably's own JSON) is a host failure, not Ably's verdict: the last
// two rows, with the reason the log must give.
for (const [name, f, why] of [
  ['answers 503', { status: 503, count: 1 }],
  ['resets the connection', { reset: true, count: 1 }],
  ['times out', { latencyMs: 1500, count: 1 }],
  ['answers 200 with a body that is not TokenDetails', { garbage: true, count: 1 }],
  ['dribbles its body too slowly', { slowBodyMs: 400, chunks: 8, count: 1 }],
  ['answers with a CloudFront 403 page', { cloudfront: true, status: 403, count: 1 }, /CloudFront/],
  ['answers 404 without an Ably error', { htmlError: true, status: 404, count: 1 }, /without an Ably error body/],
]) {
  test(`fallback host takes over when the primary ${name}`, async () => {
    const s = await freshTokenStack();
    try {
      await emu(secondary(), 'POST', '/_emulator/reset');
      await fault(s.emulatorUrl, f);
      const res = await s.get();
      assert.equal(res.status, 200, res.body);
      assert.equal(JSON.parse(res.body).clientId, 'example-client-id');
      assert.equal(await tokenCalls(secondary()), 1, 'fallback not used');
      assert.equal((await stats(s.emulatorUrl)).faultsApplied, 1, 'primary fault never triggered');
      // The next request goes straight to the fallback that worked.
      assert.equal((await s.get()).status, 200);
      assert.equal(await tokenCalls(secondary()), 2, 'the working fallback was not preferred');
      assert.equal(await tokenCalls(s.emulatorUrl), 1, 'the failed primary was tried again at once');
      if (why) {
        for (let i = 0; i < 40 && !why.test(s.binaryLog); i++) await sleep(50);
        assert.match(s.binaryLog, why);
      }
    } finally {
      await s.stop();
    }
  });
}

test('the requests of a worker share what it learns: after one fails over, all use the fallback', async () => {
  const s = await freshTokenStack();
  try {
    await emu(secondary(), 'POST', '/_emulator/reset');
    await fault(s.emulatorUrl, { status: 503, count: 1 });
    assert.equal((await s.get()).status, 200);
    assert.equal(await tokenCalls(secondary()), 1, 'fallback not used');
    // Parallel requests, all in flight at once: none goes back to the primary.
    const answers = await Promise.all(Array.from({ length: 12 }, () => s.get()));
    assert.deepEqual(answers.map((r) => r.status), Array(12).fill(200));
    assert.equal(await tokenCalls(s.emulatorUrl), 1, 'another request tried the failed primary');
    assert.equal(await tokenCalls(secondary()), 13);
  } finally {
    await s.stop();
  }
});

// The health answer speaks for the worker: with twelve calls to Ably in
// flight at once, its counters count every one.
test('the health answer counts the whole worker, every call in flight', async () => {
  const s = await freshTokenStack();
  try {
    const before = JSON.parse((await s.request('GET', '/healthz')).body);
    assert.equal(before.ably.calls, 0);
    await fault(s.emulatorUrl, { status: 503, count: 1 });
    assert.equal((await s.get()).status, 200);  // the primary fails, the fallback answers
    // 300 ms per answer, 12 at once: all parked in the worker together.
    await fault(s.emulatorUrl, { latencyMs: 300, count: 12, routes: ['requestToken'] });
    await emu(secondary(), 'POST', '/_emulator/faults', { latencyMs: 300, count: 12, routes: ['requestToken'] });
    const answers = await Promise.all(Array.from({ length: 12 }, () => s.get()));
    assert.deepEqual(answers.map((r) => r.status), Array(12).fill(200));
    const h = JSON.parse((await s.request('GET', '/healthz')).body);
    assert.equal(h.ably.calls, 13, JSON.stringify(h));
    assert.equal(h.ably.tries, 14, JSON.stringify(h));
    assert.equal(h.ably.failures, 0, JSON.stringify(h));
    assert.equal(h.ably.reachable, true);
    assert.equal(h.requests, before.requests + 14, JSON.stringify(h));
    assert.equal(h.errors, before.errors);
  } finally {
    await s.stop();
  }
});

test('no fallback on a 4xx: Ably\'s error is passed on with its code', async () => {
  await reset();
  await fault(primary(), { status: 401, count: 1 });
  const res = await stack.get();
  assertAblyError(res, 401, [40100]);
  assert.equal(await tokenCalls(secondary()), 0, 'a 4xx must not fall back');
  // and the worker serves the next request normally
  assertTokenDetails(await stack.get());
});

test('every host failing gives 502/50002, then the worker still serves', async () => {
  await reset();
  await fault(primary(), { status: 500, count: 5 });
  await fault(secondary(), { status: 503, count: 5 });
  const res = await stack.get();
  assertAblyError(res, 502, [50002]);
  await emu(primary(), 'DELETE', '/_emulator/faults');
  await emu(secondary(), 'DELETE', '/_emulator/faults');
  assertTokenDetails(await stack.get());
});

test('every host too slow gives 504/50003 within the upstream budget', async () => {
  await reset();
  await fault(primary(), { latencyMs: 3000, count: 5 });
  await fault(secondary(), { latencyMs: 3000, count: 5 });
  const t0 = Date.now();
  const res = await stack.get();
  const took = Date.now() - t0;
  assertAblyError(res, 504, [50003]);
  assert.ok(took < 2500 + 700, `took ${took} ms, budget 2500`);
  await emu(primary(), 'DELETE', '/_emulator/faults');
  await emu(secondary(), 'DELETE', '/_emulator/faults');
  await sleep(1600);  // let the slow answers drain
  assertTokenDetails(await stack.get());
});

// The budget is one absolute deadline per request: the clock query, every
// try and every fallback are charged to it, whatever the hosts do. Both
// hosts accept and never answer (the `silent` fault), GET /time too.
for (const queryTime of ['off', 'on']) {
  test(`both hosts silent, query_time ${queryTime}: 504/50003 within the budget`, async () => {
    const s = await startStack({
      workers: 1,
      config: (st) => ({
        mode: 'token', rest_host: `127.0.0.1:${st.emuPort}`, fallback_hosts: `127.0.0.1:${fallback.port}`,
        tls: 'off', connect_timeout_ms: 500, request_timeout_ms: 3000, upstream_timeout_ms: 3000,
        query_time: queryTime,
      }),
    });
    try {
      await emu(secondary(), 'POST', '/_emulator/reset');
      for (const url of [s.emulatorUrl, secondary()]) {
        await fault(url, { silent: true, count: 20, routes: ['requestToken', 'time'] });
      }
      for (let round = 0; round < 2; round++) {
        const t0 = Date.now();
        const res = await s.get();
        const took = Date.now() - t0;
        assertAblyError(res, 504, [50003]);
        assert.ok(took < 3000 + 1000, `round ${round}: took ${took} ms, budget 3000`);
        assert.ok(took >= 2900, `round ${round}: 504 after ${took} ms, before the budget was spent`);
      }
      if (queryTime === 'on') {
        // A failed GET /time is not asked again for every request.
        const times = (await stats(s.emulatorUrl)).routes.time.requests + (await stats(secondary())).routes.time.requests;
        assert.equal(times, 1, `GET /time asked ${times} times for two requests`);
      }
    } finally {
      await emu(secondary(), 'POST', '/_emulator/reset');
      await s.stop();
    }
  });
}

// 40105 "nonce replayed" can only mean Ably saw this very request before
// (every try is signed afresh): libcurl resends streams above a GOAWAY's
// last stream id on a new connection, and a server may have served them.
// The request is signed anew once, on the same host; a second 40105 is
// passed on.
test('Ably\'s 40105 (a resent request): signed afresh once on the same host; twice is passed on', async () => {
  const s = await freshTokenStack();
  try {
    await emu(secondary(), 'POST', '/_emulator/reset');
    await fault(s.emulatorUrl, { status: 401, code: 40105, count: 1 });
    const res = await s.get();
    assert.equal(res.status, 200, res.body);
    assert.equal(await tokenCalls(s.emulatorUrl), 2, 'not tried again on the same host');
    assert.equal(await tokenCalls(secondary()), 0, 'a 40105 is no reason to fall back');
    // Info lines are held up to 50 ms (log.h) and travel through a pipe.
    for (let i = 0; i < 40 && !/signing it afresh/.test(s.binaryLog); i++) await sleep(50);
    assert.match(s.binaryLog, /signing it afresh/);
    await fault(s.emulatorUrl, { status: 401, code: 40105, count: 2 });
    assertAblyError(await s.get(), 401, [40105]);
    assert.equal(await tokenCalls(s.emulatorUrl), 4);
  } finally {
    await s.stop();
  }
});

// SIGTERM while requests wait on Ably: the worker stops taking new ones but
// answers every parked request before it exits.
test('SIGTERM with requests parked on a slow Ably: every one is answered, then the binary exits 0', async () => {
  const s = await freshTokenStack();
  try {
    await emu(secondary(), 'POST', '/_emulator/reset');
    assert.equal((await s.get()).status, 200);
    await fault(s.emulatorUrl, { latencyMs: 600, count: 6, routes: ['requestToken'] });  // under request_timeout_ms
    const t0 = Date.now();
    const pending = Array.from({ length: 6 }, () => s.get());
    await sleep(200);  // all six are parked
    process.kill(s.procs.binary.pid, 'SIGTERM');
    const answers = await Promise.all(pending);
    assert.deepEqual(answers.map((r) => r.status), Array(6).fill(200), answers.map((r) => r.body).join('\n'));
    assert.ok(Date.now() - t0 >= 600, `the fault did not hold the requests: ${Date.now() - t0} ms\n${s.binaryLog}`);
    assert.equal(await tokenCalls(secondary()), 0, 'a parked request went to the fallback');
    const end = Date.now() + 3000;
    while (!s.procs.binary.exit && Date.now() < end) await sleep(20);
    assert.ok(s.procs.binary.exit, 'still running after its parked requests were answered');
    assert.equal(s.procs.binary.exit.code, 0, JSON.stringify(s.procs.binary.exit));
    assert.match(s.binaryLog, /stopping: \d+ requests? waiting on Ably/);
  } finally {
    await s.stop();
  }
});

// Ably answers a capability beyond the key's with 401/40160; passed to the
// browser as 403/40160, as the endpoint's own 40160 is: after a 403 from
// its authUrl ably-js stops (RSA4d), after a 401 it would ask again every
// 15 s for a capability the key will never have.
test('a capability beyond the key\'s is Ably\'s 40160, passed on as 403 so that ably-js stops asking', async () => {
  const limited = await startStack({
    key: 'TESTAPP.limited:TEST-ONLY-limited-secret-00000000000',
    workers: 1,
    config: (s) => ({ mode: 'token', rest_host: `127.0.0.1:${s.emuPort}`, tls: 'off',
      capability: '{"secret:*":["subscribe"]}' }),
  });
  try {
    const res = await limited.get();
    assertAblyError(res, 403, [40160]);
    assert.match(JSON.parse(res.body).error.message, /Ably refused/);
  } finally {
    await limited.stop();
  }
});

test('clock an hour off: 40104 explained without query_time, tokens with query_time = on', async () => {
  await reset();
  await emu(primary(), 'POST', '/_emulator/clock', { offsetMs: 3600 * 1000 });
  try {
    const res = await stack.get();
    const err = assertAblyError(res, 401, [40104]);
    assert.match(err.message, /clock/);
    assert.match(err.message, /query_time/);
    // The log line travels through a pipe: give it a moment.
    for (let i = 0; i < 40 && !/40104/.test(stack.binaryLog); i++) await sleep(50);
    assert.match(stack.binaryLog, /40104/, 'the rejection is not in the log');

    const s = await startStack({
      workers: 1,
      config: (st) => ({ mode: 'token', rest_host: `127.0.0.1:${st.emuPort}`, tls: 'off', query_time: 'on' }),
    });
    try {
      await emu(s.emulatorUrl, 'POST', '/_emulator/clock', { offsetMs: 3600 * 1000 });
      const ok = await s.get();
      assert.equal(ok.status, 200, ok.body);
      const td = JSON.parse(ok.body);
      // Ably's clock signed the request, so "issued" is an hour ahead of ours.
      assert.ok(td.issued - Date.now() > 3500 * 1000, `issued ${td.issued} vs now ${Date.now()}`);
      const time = (await stats(s.emulatorUrl)).routes.time.requests;
      assert.equal(time, 1, 'GET /time not asked exactly once');
      assert.equal((await s.get()).status, 200);
      assert.equal((await stats(s.emulatorUrl)).routes.time.requests, 1, '/time is not cached');
      // The worker's requests share what /time said: parallel requests
      // ask it no more.
      await emu(s.emulatorUrl, 'POST', '/_emulator/faults', { latencyMs: 200, count: 8, routes: ['requestToken'] });
      const answers = await Promise.all(Array.from({ length: 8 }, () => s.get()));
      assert.deepEqual(answers.map((r) => r.status), Array(8).fill(200));
      assert.equal((await stats(s.emulatorUrl)).routes.time.requests, 1, 'another request asked /time again');
    } finally {
      await s.stop();
    }
  } finally {
    await emu(primary(), 'POST', '/_emulator/clock', { offsetMs: 0 });
  }
});

test('proxies: the environment is ignored (httpoxy), the proxy setting is used', async () => {
  // A Proxy: request header reaches a CGI program as HTTP_PROXY; libcurl
  // would also read http_proxy/ALL_PROXY. None of them may be used.
  const dead = 'http://127.0.0.1:9';
  const s = await startStack({
    workers: 1,
    env: { HTTP_PROXY: dead, http_proxy: dead, HTTPS_PROXY: dead, https_proxy: dead, ALL_PROXY: dead, all_proxy: dead },
    config: (st) => ({ mode: 'token', rest_host: `127.0.0.1:${st.emuPort}`, tls: 'off' }),
  });
  try {
    const res = await s.get();
    assert.equal(res.status, 200, `a proxy from the environment was used: ${res.body}`);
  } finally {
    await s.stop();
  }
  // ... while `proxy =` is honoured: through a dead proxy nothing gets through.
  const p = await startStack({
    workers: 1,
    config: (st) => ({ mode: 'token', rest_host: `127.0.0.1:${st.emuPort}`, tls: 'off', proxy: dead,
      connect_timeout_ms: 300, request_timeout_ms: 500, upstream_timeout_ms: 1000 }),
  });
  try {
    const res = await p.get();
    assertAblyError(res, 502, [50002]);
    assert.equal((await stats(p.emulatorUrl)).routes.requestToken.requests, 0, 'the proxy setting was bypassed');
  } finally {
    await p.stop();
  }
});

finalChecks(stack);
