// Tests of the emulator's network side: latency on every API answer, HTTPS with HTTP/2 by
// ALPN (and its plain control listener), the connection and protocol counters, TLS session
// resumption, dropping connections, and the faults that are not Ably errors (a CloudFront
// page, a proxy's HTML page, a host that never answers). Run: node --test tests/ably-emulator/

import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startEmulator } from './server.mjs';
import { makeTestCA } from '../integration/lib/testca.mjs';

const KEY = 'TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000';
const SERVER = fileURLToPath(new URL('./server.mjs', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* A TokenRequest signed by hand (node:crypto). */
function signedTokenRequest(fields = {}) {
  const [keyName, secret] = KEY.split(':');
  const tr = { keyName, timestamp: Date.now(), nonce: crypto.randomBytes(16).toString('hex'), ...fields };
  const text = [tr.keyName, tr.ttl ?? '', tr.capability ?? '', tr.clientId ?? '', tr.timestamp, tr.nonce].join('\n') + '\n';
  tr.mac = crypto.createHmac('sha256', secret).update(text).digest('base64');
  return tr;
}

/* One HTTP/1.1 request on a fresh connection (http or https). Returns {status, headers, body, ms}. */
function h1(url, { method = 'GET', path: p = '/time', body, headers = {}, ca, timeout = 5000 } = {}) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = mod.request({
      host: u.hostname, port: u.port, method, path: p, agent: false, ca, ALPNProtocols: ['http/1.1'],
      headers: body !== undefined ? { 'content-type': 'application/json', ...headers } : headers,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString(), ms: Date.now() - t0,
        httpVersion: res.httpVersion,
      }));
    });
    req.setTimeout(timeout, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  });
}

/* One request as a stream of an HTTP/2 session. Returns {status, headers, body, ms}. */
function h2(session, { method = 'GET', path: p = '/time', body, headers = {} } = {}) {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': method, ':path': p, ...headers,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    });
    let head = null;
    const chunks = [];
    req.on('response', (h) => { head = h; });
    req.on('data', (c) => chunks.push(c));
    const noAnswer = () => reject(new Error(`stream ended without an answer (rstCode ${req.rstCode})`));
    req.on('end', () => (head ? resolve({ status: head[':status'], headers: head, body: Buffer.concat(chunks).toString(), ms: Date.now() - t0 })
      : noAnswer()));
    req.on('error', reject);
    req.on('close', () => { if (!head) noAnswer(); });
    req.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  });
}

async function control(emu, method, p, body) {
  const res = await fetch(`${emu.controlUrl}${p}`, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/json' } : {},
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json() };
}

/* Run server.mjs; resolves with {child, line (the parsed stdout line), stderr(), exited}. */
async function runCli(args, env = {}) {
  const child = spawn(process.execPath, [SERVER, '--quiet', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const line = await new Promise((resolve) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('\n')) resolve(JSON.parse(stdout.split('\n')[0]));
    });
    exited.then(() => resolve(null));
  });
  return { child, line, stderr: () => stderr, exited };
}

let dir;
let ca;
before(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-emulator-net-'));
  ca = await makeTestCA(dir);
});
after(() => fsp.rm(dir, { recursive: true, force: true }));
const tlsOpts = () => ({ cert: fs.readFileSync(ca.certFile), key: fs.readFileSync(ca.keyFile) });
const caPem = () => fs.readFileSync(ca.caFile);

describe('latency', () => {
  let emu;
  before(async () => {
    emu = await startEmulator({ latencyMs: 300 });
  });
  after(() => emu.close());
  beforeEach(() => emu.reset());

  test('every API answer waits the latency, concurrently: 50 requests at 300 ms take about 300 ms in all', async () => {
    const t0 = Date.now();
    const answers = await Promise.all(Array.from({ length: 50 }, () => h1(emu.url)));
    const total = Date.now() - t0;
    assert.deepEqual(answers.map((r) => r.status), Array(50).fill(200));
    for (const r of answers) assert.ok(r.ms >= 290, `an answer came after ${r.ms} ms`);
    // One after the other they would take 15 s.
    assert.ok(total < 600, `50 answers took ${total} ms: latency is not concurrent`);
    // Errors wait too; control calls do not.
    const missing = await h1(emu.url, { path: '/nope' });
    assert.equal(missing.status, 404);
    assert.ok(missing.ms >= 290, `404 after ${missing.ms} ms`);
    const st = await h1(emu.url, { path: '/_emulator/stats' });
    assert.ok(st.ms < 250, `a control call waited ${st.ms} ms`);
    assert.equal(JSON.parse(st.body).latencyMs, 300);
  });

  test('latency counts from the end of the request body, not from its headers', async () => {
    const body = JSON.stringify(signedTokenRequest());
    const sock = net.connect(emu.port, '127.0.0.1');
    await once(sock, 'connect');
    let bodySentAt = 0;
    let firstByteAt = 0;
    let data = '';
    sock.on('data', (d) => {
      firstByteAt ||= Date.now();
      data += d;
    });
    sock.write(`POST /keys/TESTAPP.fulltest/requestToken HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`);
    await sleep(150);
    bodySentAt = Date.now();
    sock.write(body);
    await once(sock, 'close');
    assert.match(data, /^HTTP\/1\.1 200/);
    assert.ok(firstByteAt - bodySentAt >= 290, `answered ${firstByteAt - bodySentAt} ms after the body`);
  });

  test('set at run time (POST /_emulator/latency), reset goes back to the start-up value, faults add theirs', async () => {
    const set = (ms) => h1(emu.url, { method: 'POST', path: '/_emulator/latency', body: { ms } });
    assert.equal((await set(20)).status, 200);
    assert.equal(JSON.parse((await h1(emu.url, { path: '/_emulator/latency' })).body).latencyMs, 20);
    let r = await h1(emu.url);
    assert.ok(r.ms >= 15 && r.ms < 250, `${r.ms} ms at 20 ms latency`);
    for (const bad of [-1, 1.5, '20', 120001]) assert.equal((await set(bad)).status, 400, `ms ${bad}`);
    assert.equal((await h1(emu.url, { method: 'POST', path: '/_emulator/latency', body: { ms: 5, extra: 1 } })).status, 400);
    // A fault's latency comes on top of the network's.
    emu.setFaults({ latencyMs: 100, routes: ['time'] });
    r = await h1(emu.url);
    assert.ok(r.ms >= 115, `fault 100 + latency 20 answered in ${r.ms} ms`);
    emu.reset();
    assert.equal(emu.stats().latencyMs, 300);
    emu.setLatency(0);
    assert.ok((await h1(emu.url)).ms < 250);
    assert.throws(() => emu.setLatency(-5));
  });

  test('command line: --latency-ms and ABLY_EMULATOR_LATENCY_MS, the flag wins; bad values exit 2', async () => {
    for (const [args, env, want] of [[[], { ABLY_EMULATOR_LATENCY_MS: '70' }, 70],
      [['--latency-ms', '30'], { ABLY_EMULATOR_LATENCY_MS: '70' }, 30]]) {
      const cli = await runCli(args, env);
      try {
        assert.deepEqual(Object.keys(cli.line), ['event', 'port']);
        const r = await h1(`http://127.0.0.1:${cli.line.port}`, { path: '/_emulator/stats' });
        assert.equal(JSON.parse(r.body).latencyMs, want);
        const t = await h1(`http://127.0.0.1:${cli.line.port}`);
        assert.ok(t.ms >= want - 5, `${t.ms} ms at ${want}`);
      } finally {
        cli.child.kill('SIGTERM');
        assert.deepEqual(await cli.exited, { code: 0, signal: null });
      }
    }
    for (const [args, env] of [[['--latency-ms', 'x'], {}], [[], { ABLY_EMULATOR_LATENCY_MS: '-1' }],
      [['--latency-ms', '120001'], {}]]) {
      const cli = await runCli(args, env);
      assert.equal(cli.line, null);
      assert.equal((await cli.exited).code, 2, `${args} ${JSON.stringify(env)}`);
      assert.match(cli.stderr(), /latency/i);
    }
  });
});

describe('HTTPS and HTTP/2', () => {
  let emu;
  before(async () => {
    emu = await startEmulator({ tls: tlsOpts() });
  });
  after(() => emu.close());
  beforeEach(() => emu.reset());

  const connect = async (e = emu) => {
    const s = http2.connect(e.url, { ca: caPem() });
    await once(s, 'connect');
    return s;
  };

  test('h2 clients get HTTP/2, HTTP/1.1 clients HTTP/1.1, on one port; every counter sees which', async () => {
    assert.match(emu.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(emu.controlUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(emu.controlPort, emu.port);
    const s = await connect();
    try {
      const t = await h2(s);
      assert.equal(t.status, 200);
      assert.equal(JSON.parse(t.body).length, 1);
      const td = await h2(s, { method: 'POST', path: '/keys/TESTAPP.fulltest/requestToken', body: signedTokenRequest({ clientId: 'h2' }) });
      assert.equal(td.status, 200, td.body);
      assert.equal(JSON.parse(td.body).clientId, 'h2');
      const one = await h1(emu.url, { ca: caPem() });
      assert.equal(one.status, 200);
      assert.equal(one.httpVersion, '1.1');
      const st = (await control(emu, 'GET', '/_emulator/stats')).json;
      assert.equal(st.tls, true);
      assert.deepEqual(st.httpVersions, { '2.0': 2, '1.1': 1 });
      assert.equal(st.h2Sessions, 1);
      assert.equal(st.connections, 2, 'the control call is not an API-port connection');
      assert.equal(st.apiConnections, 2, 'two streams of one session are one connection');
      assert.equal(st.tlsHandshakes, 2);
      assert.equal(st.tlsResumed, 0);
      assert.equal(st.openConnections, 1, 'the h2 session is still open');
      const tokenReq = st.lastRequests.find((r) => r.route === 'requestToken');
      assert.equal(tokenReq.httpVersion, '2.0');
      assert.equal(tokenReq.headers[':scheme'], 'https');
      assert.equal(st.lastRequests.at(-1).httpVersion, '1.1');
    } finally {
      s.close();
    }
  });

  test('errors over HTTP/2 carry no connection-specific header (a 413 would set Connection: close on HTTP/1.1)', async () => {
    const s = await connect();
    try {
      const big = await h2(s, { method: 'POST', path: '/keys/TESTAPP.fulltest/requestToken', body: 'x'.repeat(70 * 1024) });
      assert.equal(big.status, 413);
      assert.equal(JSON.parse(big.body).error.code, 41300);
      assert.equal(big.headers.connection, undefined);
      const missing = await h2(s, { path: '/nope' });
      assert.equal(missing.status, 404);
      assert.equal(missing.headers['x-ably-errorcode'], '40400');
      assert.equal((await h2(s)).status, 200, 'the session still serves');
    } finally {
      s.close();
    }
  });

  test('500 concurrent streams on one session at 50 ms latency finish together; streams in flight are counted', async () => {
    emu.setLatency(50);
    const s = await connect();
    try {
      const t0 = Date.now();
      const answers = await Promise.all(Array.from({ length: 500 }, () => h2(s)));
      const total = Date.now() - t0;
      assert.deepEqual(answers.map((r) => r.status), Array(500).fill(200));
      assert.ok(total < 1500, `500 answers took ${total} ms`);
      const st = emu.stats();
      assert.equal(st.apiConnections, 1);
      assert.ok(st.maxConcurrentStreams >= 100, `at most ${st.maxConcurrentStreams} streams in flight`);
    } finally {
      s.close();
      emu.setLatency(0);
    }
  });

  test('maxStreams (--max-streams) is the SETTINGS_MAX_CONCURRENT_STREAMS clients see and keep to', async () => {
    const small = await startEmulator({ tls: tlsOpts(), maxStreams: 3, latencyMs: 50 });
    const s = http2.connect(small.url, { ca: caPem() });
    try {
      await once(s, 'remoteSettings');
      assert.equal(s.remoteSettings.maxConcurrentStreams, 3);
      const answers = await Promise.all(Array.from({ length: 9 }, () => h2(s)));
      assert.deepEqual(answers.map((r) => r.status), Array(9).fill(200));
      assert.equal(small.stats().maxConcurrentStreams, 3);
    } finally {
      s.close();
      await small.close();
    }
  });

  test('a client that reconnects with its TLS session resumes it', async () => {
    let session = null;
    for (let i = 0; i < 2; i++) {
      const sock = tls.connect({ host: '127.0.0.1', port: emu.port, ca: caPem(), ALPNProtocols: ['http/1.1'], session });
      sock.on('session', (s) => { session = s; });
      await once(sock, 'secureConnect');
      assert.equal(sock.isSessionReused(), i === 1);
      sock.write('GET /time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      sock.resume();
      await once(sock, 'close');
      assert.ok(session, 'no session ticket');
    }
    const st = emu.stats();
    assert.equal(st.tlsHandshakes, 1);
    assert.equal(st.tlsResumed, 1);
    assert.equal(st.connections, 2);
  });

  test('a client that does not trust the certificate: tlsErrors, and no request', async () => {
    const sock = tls.connect({ host: '127.0.0.1', port: emu.port, ca: fs.readFileSync(ca.otherCaFile) });
    const [err] = await once(sock, 'error');
    assert.match(err.code, /UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    for (let i = 0; i < 20 && emu.stats().tlsErrors === 0; i++) await sleep(20);
    const st = emu.stats();
    assert.equal(st.tlsErrors, 1);
    assert.equal(st.tlsHandshakes, 0);
    assert.equal(st.requests, 0);
  });

  test('the plain control listener serves every route; its connections are not the API port\'s', async () => {
    const st = await control(emu, 'GET', '/_emulator/stats');
    assert.equal(st.status, 200);
    const t = await h1(emu.controlUrl);
    assert.equal(t.status, 200);
    const after = emu.stats();
    assert.equal(after.connections, 0);
    assert.equal(after.tlsHandshakes, 0);
    assert.deepEqual(after.httpVersions, { '1.1': 1 });
    // The API port itself does not speak plain HTTP.
    await assert.rejects(h1(emu.url.replace('https:', 'http:'), { timeout: 1000 }));
  });

  test('drop-connections cuts every API connection at once, or with graceful sends GOAWAY', async () => {
    let s = await connect();
    assert.equal((await h2(s)).status, 200);
    let closed = once(s, 'close');
    let r = await control(emu, 'POST', '/_emulator/drop-connections');
    assert.deepEqual(r.json, { dropped: 1, graceful: false });
    await closed;
    for (let i = 0; i < 20 && emu.stats().openConnections; i++) await sleep(20);
    assert.equal(emu.stats().openConnections, 0);

    s = await connect();
    assert.equal((await h2(s)).status, 200);
    const goaway = once(s, 'goaway');
    closed = once(s, 'close');
    r = await control(emu, 'POST', '/_emulator/drop-connections', { graceful: true });
    assert.deepEqual(r.json, { dropped: 1, graceful: true });
    const [code] = await goaway;
    assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
    await closed;
    assert.equal((await control(emu, 'POST', '/_emulator/drop-connections', { how: 'x' })).status, 400);
  });

  test('a reset fault over HTTP/2 cuts the whole connection, as a TCP reset would', async () => {
    const s = await connect();
    s.on('error', () => {});
    emu.setFaults({ reset: true, routes: ['time'] });
    await assert.rejects(h2(s));
    assert.equal(emu.stats().lastRequests.at(-1).status, 0);
    assert.ok(s.destroyed || s.closed);
  });

  test('realtime over wss on the TLS port (HTTP/1.1 upgrade)', async () => {
    const s = await connect();
    const td = JSON.parse((await h2(s, { method: 'POST', path: '/keys/TESTAPP.fulltest/requestToken', body: signedTokenRequest({ clientId: 'wss' }) })).body);
    s.close();
    const qs = new URLSearchParams({ format: 'json', v: '6', access_token: td.token });
    const ws = new WebSocket(`wss://127.0.0.1:${emu.port}/?${qs}`, { ca: caPem() });
    try {
      const [msg] = await once(ws, 'message');
      const first = JSON.parse(msg.toString());
      assert.equal(first.action, 4, JSON.stringify(first)); // CONNECTED
      assert.equal(first.connectionDetails.clientId, 'wss');
      assert.equal(emu.stats().realtime.connected, 1);
    } finally {
      ws.close();
    }
  });

  test('ably-js over TLS (trusting the test CA): REST with Basic auth, and realtime over wss', async () => {
    // ably-js takes no CA option: a child node with NODE_EXTRA_CA_CERTS.
    const script = `
      import Ably from 'ably';
      const opts = { endpoint: '127.0.0.1', tls: true, tlsPort: ${emu.port}, useBinaryProtocol: false, logLevel: 0 };
      const rest = new Ably.Rest({ ...opts, key: '${KEY}' });
      await rest.channels.get('tls').publish('m', 'over https');
      const td = await rest.auth.requestToken({ clientId: 'js' });
      const rt = new Ably.Realtime({ ...opts, token: td.token, transports: ['web_socket'] });
      await new Promise((ok, no) => { rt.connection.once('connected', ok); rt.connection.once('failed', no); });
      process.stdout.write(JSON.stringify({ clientId: rt.auth.clientId }));
      rt.close();
      process.exit(0);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.caFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, err);
    assert.deepEqual(JSON.parse(out), { clientId: 'js' });
    const st = emu.stats();
    assert.equal(st.messagesStored, 1);
    assert.equal(st.routes.publish.ok, 1);
    assert.equal(st.realtime.connected, 1);
    assert.ok(st.httpVersions['1.1'] >= 2, JSON.stringify(st.httpVersions));
  });

  test('http2: false (--no-http2): HTTPS with HTTP/1.1 only, even for clients that offer h2', async () => {
    const h1only = await startEmulator({ tls: tlsOpts(), http2: false });
    try {
      const sock = tls.connect({ host: '127.0.0.1', port: h1only.port, ca: caPem(), ALPNProtocols: ['h2', 'http/1.1'] });
      await once(sock, 'secureConnect');
      assert.equal(sock.alpnProtocol, 'http/1.1');
      sock.destroy();
      const r = await h1(h1only.url, { ca: caPem() });
      assert.equal(r.status, 200);
      const st = h1only.stats();
      assert.equal(st.http2, false);
      assert.equal(st.h2Sessions, 0);
      assert.deepEqual(st.httpVersions, { '1.1': 1 });
    } finally {
      await h1only.close();
    }
  });

  test('command line: the TLS listening line names the control port; TLS flags are checked', async () => {
    const cli = await runCli(['--tls-cert', ca.certFile, '--tls-key', ca.keyFile, '--max-streams', '7']);
    try {
      assert.deepEqual(Object.keys(cli.line), ['event', 'port', 'tls', 'controlPort']);
      assert.equal(cli.line.tls, true);
      const st = await h1(`http://127.0.0.1:${cli.line.controlPort}`, { path: '/_emulator/stats' });
      assert.equal(JSON.parse(st.body).tls, true);
      const s = http2.connect(`https://127.0.0.1:${cli.line.port}`, { ca: caPem() });
      await once(s, 'remoteSettings');
      assert.equal(s.remoteSettings.maxConcurrentStreams, 7);
      s.close();
    } finally {
      cli.child.kill('SIGTERM');
      assert.deepEqual(await cli.exited, { code: 0, signal: null });
    }
    for (const args of [['--tls-cert', ca.certFile], ['--max-streams', '5'], ['--no-http2'],
      ['--tls-cert', ca.certFile, '--tls-key', ca.keyFile, '--max-streams', '0']]) {
      const bad = await runCli(args);
      assert.equal((await bad.exited).code, 2, args.join(' '));
    }
    const missing = await runCli(['--tls-cert', path.join(dir, 'nope.pem'), '--tls-key', ca.keyFile]);
    assert.equal((await missing.exited).code, 1);
  });
});

describe('faults that are not Ably errors', () => {
  let emu;
  before(async () => {
    emu = await startEmulator();
  });
  after(() => emu.close());
  beforeEach(() => emu.reset());

  const token = () => h1(emu.url, { method: 'POST', path: '/keys/TESTAPP.fulltest/requestToken', body: signedTokenRequest() });

  test('cloudfront: CloudFront\'s HTML error page, 403 unless told, for count requests', async () => {
    emu.setFaults({ cloudfront: true, count: 2 });
    for (let i = 0; i < 2; i++) {
      const r = await token();
      assert.equal(r.status, 403);
      assert.equal(r.headers.server, 'CloudFront');
      assert.equal(r.headers['content-type'], 'text/html');
      assert.equal(r.headers['x-ably-errorcode'], undefined);
      assert.match(r.body, /<TITLE>ERROR: The request could not be satisfied<\/TITLE>/);
      assert.match(r.body, /Generated by cloudfront \(CloudFront\)/);
      assert.throws(() => JSON.parse(r.body));
    }
    assert.equal((await token()).status, 200, 'count 2: the third is served');
    emu.setFaults({ cloudfront: true, status: 503, routes: ['time'] });
    assert.equal((await token()).status, 200, 'not a faulted route');
    const t = await h1(emu.url);
    assert.equal(t.status, 503);
    assert.match(t.body, /503 ERROR/);
    assert.equal(emu.stats().faultsApplied, 3);
    assert.deepEqual(emu.stats().errorCodes, {}, 'no Ably error code was sent');
  });

  test('htmlError: a proxy\'s HTML page, 502 unless told, without Server: CloudFront', async () => {
    emu.setFaults({ htmlError: true });
    let r = await token();
    assert.equal(r.status, 502);
    assert.equal(r.headers['content-type'], 'text/html');
    assert.equal(r.headers.server, undefined);
    assert.match(r.body, /502 Bad Gateway/);
    emu.setFaults({ htmlError: true, status: 404 });
    r = await token();
    assert.equal(r.status, 404);
    assert.match(r.body, /404 Not Found/);
    assert.equal(r.headers['x-ably-errorcode'], undefined);
  });

  test('silent: the request is taken and never answered, not a byte, until reset; GET /time too', async () => {
    emu.setFaults({ silent: true, routes: ['time'] });
    const sock = net.connect(emu.port, '127.0.0.1');
    await once(sock, 'connect');
    let got = '';
    sock.on('data', (d) => (got += d));
    const closed = once(sock, 'close');
    sock.write('GET /time HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(300);
    assert.equal(got, '');
    assert.equal(emu.stats().heldRequests, 1);
    assert.equal((await token()).status, 200, 'other routes are served meanwhile');
    assert.equal((await h1(emu.url)).status, 200, 'count 1: the next /time is answered');
    emu.reset();
    await closed;
    assert.equal(got, '', 'reset cuts the held request without an answer');
    assert.equal(emu.stats().heldRequests, 0);
  });

  test('silent over HTTP/2 holds one stream; the session\'s other streams are served', async () => {
    const t = await startEmulator({ tls: tlsOpts() });
    const s = http2.connect(t.url, { ca: caPem() });
    try {
      t.setFaults({ silent: true, routes: ['requestToken'] });
      let answered = false;
      const held = h2(s, { method: 'POST', path: '/keys/TESTAPP.fulltest/requestToken', body: signedTokenRequest() })
        .then(() => { answered = true; }, () => { answered = 'error'; });
      await sleep(200);
      assert.equal((await h2(s)).status, 200);
      assert.equal(answered, false);
      assert.equal(t.stats().heldRequests, 1);
      t.reset();
      await held;
      assert.equal(t.stats().heldRequests, 0);
    } finally {
      s.destroy();
      await t.close();
    }
  });

  test('latency applies to fault answers; fault kinds exclude each other; unknown fields are refused', async () => {
    emu.setLatency(120);
    emu.setFaults({ cloudfront: true });
    const r = await token();
    assert.equal(r.status, 403);
    assert.ok(r.ms >= 110, `${r.ms} ms`);
    emu.setLatency(0);
    assert.throws(() => emu.setFaults({ silent: true, reset: true }), /exclude each other/);
    assert.throws(() => emu.setFaults({ cloudfront: 'yes' }), /boolean/);
    const bad = await h1(emu.url, { method: 'POST', path: '/_emulator/faults', body: { htmlError: true, garbage: true } });
    assert.equal(bad.status, 400);
  });
});
