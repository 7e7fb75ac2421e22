// Tests of the emulator's realtime (WebSocket) side. Run: node --test tests/ably-emulator/
// ably-js Realtime drives what a browser does; a raw `ws` client checks the exact error codes
// the emulator sends when ably-js would hide them behind its own retries.

import { test, describe, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import Ably from 'ably';
import WebSocket from 'ws';
import { startEmulator } from './server.mjs';
import { ACTION, FLAG, reauthLead } from './realtime.mjs';

const KEY = {
  full: 'TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000',
  limited: 'TESTAPP.limited:TEST-ONLY-limited-secret-00000000000',
  revocable: 'TESTAPP.revocable:TEST-ONLY-revocable-secret-000000000',
};
const keyName = (k) => k.split(':')[0];
const secret = (k) => k.split(':')[1];

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
function signJwt(key, claims, header = { typ: 'JWT', alg: 'HS256', kid: keyName(key) }) {
  const input = `${b64url(header)}.${b64url(claims)}`;
  return `${input}.${crypto.createHmac('sha256', secret(key)).update(input).digest('base64url')}`;
}
const nowS = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let emu;
const clients = [];

/* The server side of the browser flow: a TokenRequest signed with the key (as the C binary does). */
const signer = (key = KEY.full) => new Ably.Rest({
  key, restHost: '127.0.0.1', port: emu.port, tls: false, useBinaryProtocol: false, logLevel: 0,
});

/* An ably-js Realtime client against the emulator; closed after each test. */
function realtime(opts) {
  const c = new Ably.Realtime({
    endpoint: '127.0.0.1', port: emu.port, tls: false, useBinaryProtocol: false,
    transports: ['web_socket'], logLevel: 0, ...opts,
  });
  clients.push(c);
  return c;
}

/* authCallback that hands ably-js a fresh TokenRequest each time and counts the calls. */
function tokenRequests(params = {}, key = KEY.full) {
  const cb = async (_tokenParams, done) => {
    cb.calls++;
    try {
      done(null, await signer(key).auth.createTokenRequest(params));
    } catch (e) {
      done(e);
    }
  };
  cb.calls = 0;
  return cb;
}

const waitFor = async (what, fn, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
};

/* Raw WebSocket: connect with these query params, return the first protocol message and
 * whether the server closed the socket afterwards. */
async function rawConnect(params, path = '/') {
  const qs = new URLSearchParams({ format: 'json', v: '6', ...params });
  const ws = new WebSocket(`ws://127.0.0.1:${emu.port}${path}?${qs}`);
  const first = await new Promise((resolve, reject) => {
    ws.once('message', (d) => resolve(JSON.parse(d.toString())));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
  });
  return { ws, first };
}

function assertError(msg, action, code, statusCode) {
  assert.equal(msg.action, action, JSON.stringify(msg));
  assert.equal(msg.error.code, code, msg.error.message);
  assert.equal(msg.error.statusCode, statusCode);
  assert.equal(msg.error.href, `https://help.ably.io/error/${code}`);
}

before(async () => {
  emu = await startEmulator();
});
after(() => emu.close());
beforeEach(() => emu.reset());
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await sleep(20);
});

describe('connecting', () => {
  test('a token exchanged from a TokenRequest reaches connected with the token clientId', async () => {
    const cb = tokenRequests({ clientId: 'alice' });
    const client = realtime({ authCallback: cb });
    await client.connection.once('connected');
    assert.equal(client.auth.clientId, 'alice');
    assert.match(client.connection.id, /^[\w-]+$/);
    assert.match(client.connection.key, /!/);
    assert.equal(cb.calls, 1);
    const s = emu.stats().realtime;
    assert.equal(s.connected, 1);
    assert.equal(s.open, 1);
  });

  test('a JWT reaches connected; its clientId claim is the identity', async () => {
    const jwt = signJwt(KEY.full, { iat: nowS(), exp: nowS() + 600, 'x-ably-capability': '{"*":["*"]}', 'x-ably-clientId': 'bob' });
    const client = realtime({ authCallback: (_p, cb) => cb(null, jwt) });
    await client.connection.once('connected');
    assert.equal(client.auth.clientId, 'bob');
  });

  test('a TokenDetails handed over as is reaches connected; no clientId means anonymous', async () => {
    const td = await signer().auth.requestToken({ ttl: 60000 });
    const client = realtime({ authCallback: (_p, cb) => cb(null, td) });
    await client.connection.once('connected');
    assert.equal(client.auth.clientId ?? null, null);
  });

  test('bad credentials get ERROR with Ably\'s code and the socket is closed', async () => {
    const td = await signer().auth.requestToken({ ttl: 1000 });
    const cases = [
      [{ access_token: 'TESTAPP.never-issued' }, 40140, 401],
      [{ access_token: signJwt(KEY.full, { iat: nowS() - 700, exp: nowS() - 100 }) }, 40142, 401],
      [{ access_token: signJwt(KEY.full, { iat: nowS(), exp: nowS() + 60 }).slice(0, -2) + 'xx' }, 40144, 401],
      [{ access_token: signJwt(KEY.full, { iat: nowS(), exp: nowS() + 60 }, { alg: 'HS256', kid: 'TESTAPP.nope' }) }, 40144, 401],
      [{}, 40101, 401],
      [{ key: KEY.full }, 40103, 401],
      [{ access_token: td.token, format: 'msgpack' }, 40000, 400],
      [{ access_token: signJwt(KEY.full, { iat: nowS(), exp: nowS() + 60, 'x-ably-capability': '{"*":["*"]}', 'x-ably-clientId': 'carol' }), clientId: 'mallory' }, 40102, 401],
    ];
    for (const [params, code, status] of cases) {
      const { ws, first } = await rawConnect(params);
      assertError(first, ACTION.ERROR, code, status);
      const [closeCode] = await once(ws, 'close');
      assert.equal(closeCode, 1000);
    }
    emu.setClockOffset(1500);
    const { first } = await rawConnect({ access_token: td.token });
    assertError(first, ACTION.ERROR, 40142, 401);
    const s = emu.stats().realtime;
    assert.equal(s.refused, cases.length + 1);
    assert.equal(s.errorCodes['40144'], 2);
  });

  test('only the root path is the realtime endpoint', async () => {
    await assert.rejects(rawConnect({ access_token: 'x' }, '/comet/connect'), (e) => e.status === 404);
  });

  test('ably-js renews once on a token error at connect, and gives up with the error if that fails too', async () => {
    let calls = 0;
    const good = await signer().auth.requestToken({ ttl: 60000 });
    const client = realtime({
      authCallback: (_p, cb) => {
        calls++;
        cb(null, calls === 1 ? 'TESTAPP.stale-token' : good);
      },
    });
    await client.connection.once('connected');
    assert.equal(calls, 2);
    assert.equal(emu.stats().realtime.errorCodes['40140'], 1);

    const bad = realtime({ authCallback: (_p, cb) => cb(null, 'TESTAPP.always-stale') });
    const change = await bad.connection.once('disconnected');
    assert.equal(change.reason.code, 40140);
  });

  test('a wildcard-clientId token takes the clientId the client asks for', async () => {
    const client = realtime({ authCallback: tokenRequests({ clientId: '*' }), clientId: 'dora' });
    await client.connection.once('connected');
    assert.equal(client.auth.clientId, 'dora');
  });
});

describe('renewal', () => {
  test('AUTH before expiry: ably-js fetches a new credential and stays connected', async () => {
    const cb = tokenRequests({ clientId: 'alice', ttl: 2400 });
    const client = realtime({ authCallback: cb });
    await client.connection.once('connected');
    const firstExpiry = client.auth.tokenDetails.expires;
    const id = client.connection.id;
    const updated = once(client.connection, 'update');
    await updated; // the CONNECTED that acknowledges the new token
    assert.equal(cb.calls, 2);
    assert.ok(client.auth.tokenDetails.expires > firstExpiry);
    assert.equal(client.connection.state, 'connected');
    assert.equal(client.connection.id, id);
    const s = emu.stats().realtime;
    assert.equal(s.authRequested, 1);
    assert.equal(s.reauthorized, 1);
    assert.equal(s.expired, 0);
  });

  test('the AUTH comes 30 s before expiry, or a third of a short lifetime', () => {
    assert.equal(reauthLead(3600000), 30000);
    assert.equal(reauthLead(60000), 20000);
    assert.equal(reauthLead(6000), 2000);
  });

  test('a credential that is not renewed ends the connection with DISCONNECTED 40142', async () => {
    const td = await signer().auth.requestToken({ ttl: 1200 });
    const { ws, first } = await rawConnect({ access_token: td.token });
    assert.equal(first.action, ACTION.CONNECTED);
    const seen = [];
    ws.on('message', (d) => seen.push(JSON.parse(d.toString())));
    const [code] = await once(ws, 'close');
    assert.equal(code, 1000);
    assert.deepEqual(seen.map((m) => m.action), [ACTION.AUTH, ACTION.DISCONNECTED]);
    assertError(seen[1], ACTION.DISCONNECTED, 40142, 401);
    assert.equal(emu.stats().realtime.expired, 1);
  });

  test('AUTH with a bad or foreign credential is refused on the open connection', async () => {
    const td = await signer().auth.requestToken({ clientId: 'alice', ttl: 60000 });
    const other = await signer().auth.requestToken({ clientId: 'eve', ttl: 60000 });
    for (const [token, code] of [['TESTAPP.never-issued', 40140], [other.token, 40102]]) {
      const { ws, first } = await rawConnect({ access_token: td.token });
      assert.equal(first.action, ACTION.CONNECTED);
      ws.send(JSON.stringify({ action: ACTION.AUTH, auth: { accessToken: token } }));
      const [msg] = await once(ws, 'message');
      assertError(JSON.parse(msg.toString()), ACTION.ERROR, code, 401);
      await once(ws, 'close');
    }
    assert.equal(emu.stats().realtime.reauthFailed, 2);
  });

  test('messages published while the socket is gone arrive on resume', async () => {
    const td = await signer().auth.requestToken({ clientId: 'alice' });
    const open = async (params) => {
      const ws = new WebSocket(`ws://127.0.0.1:${emu.port}/?${new URLSearchParams({ format: 'json', ...params })}`);
      const got = [];
      ws.on('message', (d) => got.push(JSON.parse(d.toString())));
      await waitFor('CONNECTED', () => got.length > 0);
      return { ws, got };
    };
    const a = await open({ access_token: td.token });
    assert.equal(a.got[0].action, ACTION.CONNECTED);
    a.ws.send(JSON.stringify({ action: ACTION.ATTACH, channel: 'missed' }));
    await waitFor('ATTACHED', () => a.got.some((m) => m.action === ACTION.ATTACHED));
    a.ws.terminate();
    await waitFor('socket gone', () => emu.stats().realtime.open === 0);
    await signer().channels.get('missed').publish('while-away', 'you missed this');
    const b = await open({ access_token: td.token, resume: a.got[0].connectionDetails.connectionKey });
    assert.equal(b.got[0].connectionId, a.got[0].connectionId);
    await waitFor('the missed message', () => b.got.length > 1);
    assert.equal(b.got[1].action, ACTION.MESSAGE);
    assert.equal(b.got[1].messages[0].data, 'you missed this');
    b.ws.close();
  });

  test('a dropped connection is resumed with the same connectionId and its channels reattached', async () => {
    const client = realtime({ authCallback: tokenRequests({ clientId: 'alice' }) });
    await client.connection.once('connected');
    const id = client.connection.id;
    const ch = client.channels.get('resume-me');
    await ch.attach();
    emu.realtimeControl({ action: 'disconnect' });
    await client.connection.once('disconnected');
    await client.connection.once('connected');
    assert.equal(client.connection.id, id);
    assert.equal(emu.stats().realtime.resumed, 1);
    await waitFor('reattach', () => ch.state === 'attached' && emu.stats().realtime.attached === 2);
    const got = new Promise((r) => ch.subscribe((m) => r(m)));
    await ch.publish('after', 'resume');
    assert.equal((await got).data, 'resume');
  });
});

describe('channels', () => {
  test('publish and subscribe: ACK, echo, ids, clientId stamped, history has it', async () => {
    const client = realtime({ authCallback: tokenRequests({ clientId: 'alice' }) });
    const ch = client.channels.get('chat:lobby');
    await ch.attach();
    assert.deepEqual([...ch.modes].sort(), ['presence', 'presence_subscribe', 'publish', 'subscribe']);
    const got = new Promise((r) => ch.subscribe('greeting', (m) => r(m)));
    await ch.publish('greeting', { text: 'hello' });
    const m = await got;
    assert.deepEqual(m.data, { text: 'hello' });
    assert.equal(m.clientId, 'alice');
    assert.equal(m.connectionId, client.connection.id);
    assert.match(m.id, new RegExp(`^${client.connection.id}:0:0$`));
    assert.equal(typeof m.timestamp, 'number');
    const history = await signer().channels.get('chat:lobby').history();
    assert.equal(history.items[0].data.text, 'hello');
  });

  test('a second client receives; echo=false keeps the publisher\'s own messages away', async () => {
    const a = realtime({ authCallback: tokenRequests({ clientId: 'a' }), echoMessages: false });
    const b = realtime({ authCallback: tokenRequests({ clientId: 'b' }) });
    const ca = a.channels.get('room');
    const cb = b.channels.get('room');
    const seenA = [];
    await ca.subscribe((m) => seenA.push(m));
    const got = new Promise((r) => cb.subscribe((m) => r(m)));
    await ca.publish('x', 'from a');
    assert.equal((await got).clientId, 'a');
    await sleep(100);
    assert.equal(seenA.length, 0);
  });

  test('REST publishes reach realtime subscribers', async () => {
    const client = realtime({ authCallback: tokenRequests() });
    const ch = client.channels.get('news');
    const got = new Promise((r) => ch.subscribe((m) => r(m)));
    await ch.attach();
    await signer().channels.get('news').publish('rest', 'via REST');
    assert.equal((await got).data, 'via REST');
  });

  test('capability: attach needs the channel, publish needs publish, modes follow the operations', async () => {
    const client = realtime({ authCallback: tokenRequests({ clientId: 'lim' }, KEY.limited) });
    const pub = client.channels.get('public');
    await pub.attach();
    assert.deepEqual([...pub.modes].sort(), ['presence_subscribe', 'subscribe']);
    await assert.rejects(pub.publish('no', 'pe'), (e) => e.code === 40160 && e.statusCode === 401);
    const secretCh = client.channels.get('secret');
    await assert.rejects(secretCh.attach(), (e) => e.code === 40160);
    assert.equal(secretCh.state, 'failed');
    await client.channels.get('chat:x').publish('ok', 'fine');
    await assert.rejects(client.channels.get('chat:x').publish({ name: 'spoof', data: 'x', clientId: 'someone-else' }),
      (e) => e.code === 40012);
    assert.equal(client.connection.state, 'connected');
    assert.equal(emu.stats().realtime.nacks, 2);
  });

  test('heartbeat, detach and close', async () => {
    // (not connection.ping(): ably-js 2.28.0 leaves its 10 s timeout running after the answer)
    const td = await signer().auth.requestToken();
    const { ws, first } = await rawConnect({ access_token: td.token });
    assert.equal(first.action, ACTION.CONNECTED);
    assert.equal(first.connectionDetails.maxIdleInterval, 15000);
    ws.send(JSON.stringify({ action: ACTION.HEARTBEAT, id: 'ping-1' }));
    const [pong] = await once(ws, 'message');
    assert.deepEqual(JSON.parse(pong.toString()), { action: ACTION.HEARTBEAT, id: 'ping-1' });
    ws.close();
    const client = realtime({ authCallback: tokenRequests() });
    await client.connection.once('connected');
    const ch = client.channels.get('d');
    await ch.attach();
    await ch.detach();
    assert.equal(ch.state, 'detached');
    client.close();
    await client.connection.once('closed');
    await waitFor('socket closed', () => emu.stats().realtime.open === 0);
  });

  test('reset clears the counters but leaves connections open', async () => {
    const client = realtime({ authCallback: tokenRequests() });
    await client.connection.once('connected');
    emu.reset();
    const s = emu.stats().realtime;
    assert.equal(s.connected, 0);
    assert.equal(s.open, 1);
    assert.equal(client.connection.state, 'connected');
  });
});

describe('revocation', () => {
  const T = { timeout: 8000 }; // a revocation never enforced must fail, not hang
  /* POST /keys/{keyName}/revokeTokens with the revocable key, as `ably-token revoke` does. */
  async function revoke(body) {
    const res = await fetch(`${emu.url}/keys/${keyName(KEY.revocable)}/revokeTokens`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json', 'x-ably-version': '6',
        authorization: `Basic ${Buffer.from(KEY.revocable).toString('base64')}`,
      },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 201);
    return res.json();
  }
  const connected = async (clientId) => {
    const cb = tokenRequests({ clientId }, KEY.revocable);
    const client = realtime({ authCallback: cb });
    await client.connection.once('connected');
    client.cb = cb;
    client.changes = [];
    client.connection.on((c) => client.changes.push(c));
    return client;
  };

  test('an open connection whose token is revoked gets DISCONNECTED 40141; ably-js renews, others stay', T, async () => {
    const [alice, bob] = [await connected('alice'), await connected('bob')];
    await sleep(5);
    const disconnected = alice.connection.once('disconnected');
    const answer = await revoke({ targets: ['clientId:alice'] });
    assert.equal(answer.successCount, 1);
    const change = await disconnected;
    assert.equal(change.reason.code, 40141);
    assert.equal(change.reason.statusCode, 401);
    // A token error ably-js can renew from: a new token (issued after issuedBefore) connects.
    await alice.connection.once('connected');
    assert.equal(alice.cb.calls, 2);
    assert.equal(bob.connection.state, 'connected');
    assert.deepEqual(bob.changes, []);
    const s = emu.stats().realtime;
    assert.equal(s.revoked, 1);
    assert.equal(s.errorCodes['40141'], 1);
  });

  test('a revoked token is refused at connect with ERROR 40141', T, async () => {
    const td = await signer(KEY.revocable).auth.requestToken({ clientId: 'alice' });
    await sleep(5);
    await revoke({ targets: ['clientId:alice'] });
    const { ws, first } = await rawConnect({ access_token: td.token });
    assertError(first, ACTION.ERROR, 40141, 401);
    const [closeCode] = await once(ws, 'close');
    assert.equal(closeCode, 1000);
  });

  test('a JWT is revoked by its x-ably-revocation-key', T, async () => {
    const jwt = signJwt(KEY.revocable, { iat: nowS() - 2, exp: nowS() + 600, 'x-ably-capability': '{"*":["*"]}', 'x-ably-revocation-key': 'group:red' });
    const client = realtime({ authCallback: (_p, cb) => cb(null, jwt) });
    await client.connection.once('connected');
    const disconnected = client.connection.once('disconnected');
    await revoke({ targets: ['revocationKey:group:red'] });
    assert.equal((await disconnected).reason.code, 40141);
  });

  test('allowReauthMargin: the connections it covers get AUTH at once and stay connected once renewed', T, async () => {
    const [alice, bob] = [await connected('alice'), await connected('bob')];
    await sleep(5);
    const updated = alice.connection.once('update');
    const [res] = (await revoke({ targets: ['clientId:alice'], allowReauthMargin: true })).results;
    assert.ok(res.appliesAt - res.issuedBefore >= 29000, JSON.stringify(res));
    await updated;
    assert.equal(alice.cb.calls, 2);
    await sleep(100);
    assert.equal(alice.connection.state, 'connected');
    assert.equal(bob.cb.calls, 1, 'bob was not asked to renew');
    const s = emu.stats().realtime;
    assert.equal(s.authRequested, 1);
    assert.equal(s.reauthorized, 1);
    assert.equal(s.revoked, 0);
  });
});

test('the realtime control endpoint over HTTP', async () => {
  const client = realtime({ authCallback: tokenRequests() });
  await client.connection.once('connected');
  const post = (body) => fetch(`${emu.url}/_emulator/realtime`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const r = await post({ action: 'requestAuth' });
  assert.deepEqual(await r.json(), { action: 'requestAuth', connections: 1 });
  await once(client.connection, 'update');
  assert.equal((await post({ action: 'explode' })).status, 400);
  assert.equal(FLAG.SUBSCRIBE, 1 << 18);
});
