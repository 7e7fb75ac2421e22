// `token` mode over TLS, as against the real Ably: the emulator serves HTTPS
// (HTTP/2 by ALPN, HTTP/1.1 otherwise) with a certificate from a throwaway
// test CA (lib/testca.mjs), and the binary trusts that CA through ca_file.
// Covers: TokenDetails over HTTPS and HTTP/2; a certificate from another CA
// and one for another name are refused (502/50002, reason in the log); the
// kept connection is reused, and a new one resumes the TLS session; many
// token requests of one worker share one HTTP/2 connection.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useStack, startStack, sleep } from './lib/stack.mjs';
import { assertAblyError, assertNoStore, finalChecks } from './lib/checks.mjs';

/** Token mode against the stack's TLS emulator, no fallback hosts. */
function tlsConfig(s, extra = {}) {
  return {
    mode: 'token',
    rest_host: `127.0.0.1:${s.emuPort}`,
    fallback_hosts: '',
    tls: 'on',
    ca_file: s.ca.caFile,
    connect_timeout_ms: 1000,
    request_timeout_ms: 2000,
    upstream_timeout_ms: 3000,
    ...extra,
  };
}

// One worker: "one upstream connection" is exactly one.
const stack = useStack({ workers: 1, emulatorTls: true, config: (s) => tlsConfig(s) });

const stats = (s = stack) => s.emulatorControl('GET', '/_emulator/stats');
const reset = (s = stack) => s.emulatorControl('POST', '/_emulator/reset');

function assertTokenDetails(res) {
  assert.equal(res.status, 200, res.body);
  assert.equal(res.headers['content-type'], 'application/json');
  assertNoStore(res);
  const td = JSON.parse(res.body);
  assert.equal(typeof td.token, 'string');
  assert.equal(td.keyName, stack.keyName);
  assert.ok(td.expires > td.issued, 'expires after issued');
  assert.equal(td.clientId, 'example-client-id');
  return td;
}

/** A line matching re that the binary logged after offset (waits a little: output travels
 * through a pipe), or undefined. */
async function logLine(s, offset, re) {
  const since = () => s.binaryLog.slice(offset);
  for (let i = 0; i < 40 && !re.test(since()); i++) await sleep(50);
  return since().split('\n').find((l) => re.test(l));
}

test('TokenDetails over HTTPS, verified against ca_file, spoken in HTTP/2', async () => {
  const res = await stack.get();
  assertTokenDetails(res);
  const st = await stats();
  assert.equal(st.tls, true, 'the emulator is not serving TLS');
  assert.equal(st.routes.requestToken.ok, 1);
  assert.ok(st.tlsHandshakes >= 1, `no TLS handshake at the emulator: ${JSON.stringify(st)}`);
  // libcurl offers h2 by ALPN on https and the emulator takes it.
  assert.ok((st.httpVersions['2.0'] || 0) >= 1, `httpVersions ${JSON.stringify(st.httpVersions)}`);
  const sent = st.lastRequests.find((r) => r.route === 'requestToken');
  assert.equal(sent.httpVersion, '2.0');
  assert.equal(sent.headers[':scheme'], 'https');
  assert.equal(sent.tokenRequest.clientId, 'example-client-id');
});

test('a certificate from another CA is refused: 502/50002, and the log says why', async () => {
  const s = await startStack({
    workers: 1, emulatorTls: true, config: (st) => tlsConfig(st, { ca_file: st.ca.otherCaFile }),
  });
  try {
    const offset = s.binaryLog.length;
    const res = await s.get();
    assertAblyError(res, 502, [50002]);
    const line = await logLine(s, offset, /certificate|SSL|verify/i);
    assert.ok(line, `no TLS reason in the log:\n${s.binaryLog}`);
    const st = await stats(s);
    assert.equal(st.routes.requestToken.requests, 0, 'a request went through the untrusted connection');
    assert.ok(st.tlsErrors >= 1, `the emulator saw no refused handshake: ${JSON.stringify(st)}`);
  } finally {
    await s.stop();
  }
});

test('a certificate for another name is refused: 502/50002, and the log names the mismatch', async () => {
  const s = await startStack({
    workers: 1, emulatorTls: true, emulatorCert: 'wrongName', config: (st) => tlsConfig(st),
  });
  try {
    const offset = s.binaryLog.length;
    const res = await s.get();
    assertAblyError(res, 502, [50002]);
    const line = await logLine(s, offset, /subject name|match|host name/i);
    assert.ok(line, `no name mismatch in the log:\n${s.binaryLog}`);
    assert.equal((await stats(s)).routes.requestToken.requests, 0, 'a request went through the wrong-name connection');
  } finally {
    await s.stop();
  }
});

test('sequential token requests reuse the kept TLS connection: no new connection, no new handshake', async () => {
  assertTokenDetails(await stack.get()); // the worker's connection is open
  await reset();
  for (let i = 0; i < 10; i++) assertTokenDetails(await stack.get());
  const st = await stats();
  assert.equal(st.routes.requestToken.ok, 10);
  assert.equal(st.connections, 0, `new upstream connections since the reset: ${st.connections}`);
  assert.equal(st.tlsHandshakes + st.tlsResumed, 0, 'a TLS handshake since the reset');
  assert.equal(st.apiConnections, 1, 'token requests came over more than one connection');
});

/** Warm up, drop the emulator's connections, ask again: the new connection's TLS handshake. */
async function afterDrop(s) {
  assertTokenDetails(await s.get()); // a connection, and a session ticket from it
  await reset(s);
  const { dropped } = await s.emulatorControl('POST', '/_emulator/drop-connections');
  assert.ok(dropped >= 1, 'the kept connection was not there to drop');
  assertTokenDetails(await s.get());
  const st = await stats(s);
  assert.equal(st.connections, 1, `connections since the drop: ${st.connections}`);
  return st;
}

// A worker's second HTTP/2 connection (the server allows one stream per
// connection, so a second request in flight needs one) resumes the TLS
// session of the first: the curl handles share their session cache.
// (After the server has dropped an HTTP/2 connection, libcurl 7.88.1 with
// OpenSSL 3.0 frees its SSL without a close_notify, OpenSSL marks the cached
// session not resumable, and the next connection does a full handshake:
// doc/token-mode.md. Over HTTP/1.1, next test, it resumes.)
test('a second HTTP/2 connection resumes the TLS session of the first', async () => {
  const s = await startStack({
    workers: 1, emulatorTls: true, emulatorArgs: ['--max-streams', '1', '--latency-ms', '300'], config: (st) => tlsConfig(st),
  });
  try {
    assertTokenDetails(await s.get()); // the first connection, and a session from it
    await reset(s);
    const answers = await Promise.all([s.get(), s.get()]);
    answers.forEach((r) => assertTokenDetails(r));
    const st = await stats(s);
    assert.equal(st.h2Sessions, 1, `new HTTP/2 sessions: ${st.h2Sessions}`);
    assert.ok(st.tlsResumed >= 1, `TLS session not resumed: ${st.tlsHandshakes} full handshake(s), ${st.tlsResumed} resumed`);
    assert.equal(st.tlsHandshakes, 0);
  } finally {
    await s.stop();
  }
});

test('a new connection after the old one dropped resumes the TLS session (HTTP/1.1 server)', async () => {
  const s = await startStack({
    workers: 1, emulatorTls: true, emulatorArgs: ['--no-http2'], config: (st) => tlsConfig(st),
  });
  try {
    const st = await afterDrop(s);
    assert.equal(st.httpVersions['1.1'], 1, `not HTTP/1.1: ${JSON.stringify(st.httpVersions)}`);
    assert.ok(st.tlsResumed >= 1, `TLS session not resumed: ${st.tlsHandshakes} full handshake(s), ${st.tlsResumed} resumed`);
    assert.equal(st.tlsHandshakes, 0);
  } finally {
    await s.stop();
  }
});

// Servers close idle HTTP/2 connections, gracefully (GOAWAY, as nginx after
// keepalive_timeout or http2 max_requests, or a CDN edge) or not. The next
// token request must not fail for it: it belongs on a new connection.
test('after the server closes the kept connection (at once, or with GOAWAY), the next token request is served', async () => {
  for (const graceful of [false, true]) {
    for (let i = 0; i < 3; i++) {
      assertTokenDetails(await stack.get());
      await reset();
      const r = await stack.emulatorControl('POST', '/_emulator/drop-connections', { graceful });
      assert.equal(r.dropped, 1);
      const res = await stack.get();
      assert.equal(res.status, 200, `graceful ${graceful}, round ${i}: ${res.body}`);
      assert.equal((await stats()).connections, 1, 'not served on a new connection');
    }
  }
});

// needs the event-loop token mode (issue 12)
test('one worker multiplexes concurrent token requests as HTTP/2 streams on one connection', async () => {
  const s = await startStack({
    workers: 1, emulatorTls: true, emulatorArgs: ['--latency-ms', '300'], config: (st) => tlsConfig(st),
  });
  try {
    const n = 20;
    const answers = await Promise.all(Array.from({ length: n }, () => s.get()));
    assert.deepEqual(answers.map((r) => r.status), Array(n).fill(200), answers.map((r) => r.body).join('\n'));
    const st = await stats(s);
    assert.equal(st.routes.requestToken.ok, n);
    assert.equal(st.h2Sessions, 1, `HTTP/2 sessions: ${st.h2Sessions}`);
    assert.equal(st.apiConnections, 1, `connections that carried token requests: ${st.apiConnections}`);
    assert.ok(st.maxConcurrentStreams >= 2, `at most ${st.maxConcurrentStreams} stream(s) in flight at once`);
  } finally {
    await s.stop();
  }
});

finalChecks(stack);
