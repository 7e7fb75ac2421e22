// Tests of the local Ably emulator itself. Run: node --test tests/ably-emulator/
// ably-js (the real client) drives the happy paths; raw fetch/http covers what ably-js won't send.

import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Ably from 'ably';
import {
  startEmulator, intersectResources, intersectCapabilities, capabilityAllows,
  canonicalCapability, parseCapability,
} from './server.mjs';

const KEY = {
  full: 'TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000',
  limited: 'TESTAPP.limited:TEST-ONLY-limited-secret-00000000000',
  revocable: 'TESTAPP.revocable:TEST-ONLY-revocable-secret-000000000',
};
const [keyName, secret] = [(k) => k.split(':')[0], (k) => k.split(':')[1]];
const HOUR = 3600000;

const rest = (emu, opts) => new Ably.Rest({
  restHost: '127.0.0.1', port: emu.port, tls: false, useBinaryProtocol: false, logLevel: 0, ...opts,
});

/* A client that only holds a TokenRequest, as a browser does with an authUrl. */
const exchange = (emu, tokenRequest) => rest(emu, { authCallback: (_p, cb) => cb(null, tokenRequest) }).auth.requestToken();

const rejectsWith = (promise, code, statusCode) =>
  assert.rejects(promise, (e) => {
    assert.equal(e.code, code, e.message);
    assert.equal(e.statusCode, statusCode);
    return true;
  });

/* Raw HTTP for what ably-js refuses to send. Returns {status, headers, body, json}. */
async function raw(emu, method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${emu.url}${path}`, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body: text, json };
}

/* An Ably-shaped error answer with the given code (headers and body agree). */
function assertAblyError(r, status, code) {
  assert.equal(r.status, status, r.body);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal(r.headers.get('x-ably-errorcode'), String(code));
  assert.ok(r.headers.get('x-ably-errormessage'));
  assert.equal(r.json.error.code, code);
  assert.equal(r.json.error.statusCode, status);
  assert.equal(r.json.error.href, `https://help.ably.io/error/${code}`);
  assert.equal(typeof r.json.error.message, 'string');
}

/* Sign a TokenRequest by hand (node:crypto), so tests can send fields ably-js would not. */
function signTokenRequest(key, fields) {
  const tr = { keyName: keyName(key), timestamp: Date.now(), nonce: crypto.randomBytes(16).toString('hex'), ...fields };
  const text = [tr.keyName, tr.ttl ?? '', tr.capability ?? '', tr.clientId ?? '', tr.timestamp, tr.nonce].join('\n') + '\n';
  tr.mac = crypto.createHmac('sha256', secret(key)).update(text).digest('base64');
  return tr;
}

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
function signJwt(key, claims, header = { typ: 'JWT', alg: 'HS256', kid: keyName(key) }) {
  const input = `${b64url(header)}.${b64url(claims)}`;
  return `${input}.${crypto.createHmac('sha256', secret(key)).update(input).digest('base64url')}`;
}
const nowS = () => Math.floor(Date.now() / 1000);
const bearer = (token) => ({ authorization: `Bearer ${Buffer.from(token).toString('base64')}` });

let emu;
before(async () => {
  emu = await startEmulator();
});
after(() => emu.close());
beforeEach(() => emu.reset());

describe('requestToken with ably-js', () => {
  test('a createTokenRequest TokenRequest is exchanged for TokenDetails', async () => {
    const tr = await rest(emu, { key: KEY.full }).auth.createTokenRequest({ clientId: 'bob' });
    const td = await exchange(emu, tr);
    assert.match(td.token, /^TESTAPP\.[A-Za-z0-9_-]{20,}$/);
    assert.equal(td.keyName, 'TESTAPP.fulltest');
    assert.equal(td.clientId, 'bob');
    assert.equal(td.capability, '{"*":["*"]}');
    assert.equal(td.expires - td.issued, HOUR, 'default ttl is 1 h');
    assert.ok(Math.abs(td.issued - Date.now()) < 5000, 'issued is in ms');
    const s = emu.stats();
    assert.equal(s.tokensIssued, 1);
    assert.equal(s.routes.requestToken.ok, 1);
    // What ably-js sent is on record, credentials aside.
    const last = s.lastRequests.at(-1);
    assert.equal(last.path, '/keys/TESTAPP.fulltest/requestToken');
    assert.equal(last.status, 200);
    assert.equal(last.headers['x-ably-version'], '6');
    assert.match(last.headers['ably-agent'], /^ably-js\/2\.28\.0 nodejs\//);
    assert.equal(last.headers['content-type'], 'application/json');
    assert.equal(last.headers.authorization, undefined);
    assert.equal(last.tokenRequest.clientId, 'bob');
    assert.equal(last.tokenRequest.nonce, tr.nonce);
    assert.equal(last.tokenRequest.mac, undefined, 'the mac is never recorded');
  });

  test('clientId and a restricted capability on the limited key get the intersection', async () => {
    const client = rest(emu, { key: KEY.limited });
    const td = await client.auth.requestToken({
      clientId: 'alice',
      ttl: 600000,
      capability: { 'chat:room1': ['history', 'publish', 'subscribe'], public: ['*'], private: ['subscribe'] },
    });
    assert.equal(td.clientId, 'alice');
    assert.equal(td.expires - td.issued, 600000);
    // history is not in the key; "private" is not in the key at all.
    assert.equal(td.capability, '{"chat:room1":["publish","subscribe"],"public":["subscribe"]}');
    // A bare "*" request narrows to each of the key's resources.
    const wide = await client.auth.requestToken({ capability: { '*': ['subscribe', 'presence'] } });
    assert.equal(wide.capability, '{"chat:*":["presence","subscribe"],"public":["subscribe"]}');
    assert.equal(wide.clientId, undefined);
  });

  test('no capability gives the key capability', async () => {
    const td = await rest(emu, { key: KEY.limited }).auth.requestToken();
    assert.equal(td.capability, '{"chat:*":["presence","publish","subscribe"],"public":["subscribe"]}');
  });

  test('empty intersection is 40160/401', async () => {
    const client = rest(emu, { key: KEY.limited });
    await rejectsWith(client.auth.requestToken({ capability: { private: ['publish'] } }), 40160, 401);
    await rejectsWith(client.auth.requestToken({ capability: { 'chat:x': ['history'] } }), 40160, 401);
    await rejectsWith(client.auth.requestToken({ capability: { '[queue]chat:x': ['*'] } }), 40160, 401);
    assert.equal(emu.stats().errorCodes['40160'], 3);
  });

  test('ttl over 24 h is 40003; exactly 24 h is fine', async () => {
    const client = rest(emu, { key: KEY.full });
    await rejectsWith(client.auth.requestToken({ ttl: 24 * HOUR + 1 }), 40003, 400);
    const td = await client.auth.requestToken({ ttl: 24 * HOUR });
    assert.equal(td.expires - td.issued, 24 * HOUR);
  });

  test('revocable keys are limited to 1 h', async () => {
    const client = rest(emu, { key: KEY.revocable });
    await rejectsWith(client.auth.requestToken({ ttl: HOUR + 1 }), 40003, 400);
    const td = await client.auth.requestToken({ ttl: HOUR });
    assert.equal(td.expires - td.issued, HOUR);
    assert.equal(td.keyName, 'TESTAPP.revocable');
  });

  test('a timestamp more than 2 min off is 40104, both ways', async () => {
    const signer = rest(emu, { key: KEY.full });
    const stale = await signer.auth.createTokenRequest({ timestamp: Date.now() - 3 * 60000 });
    await rejectsWith(exchange(emu, stale), 40104, 401);
    const future = await signer.auth.createTokenRequest({ timestamp: Date.now() + 3 * 60000 });
    await rejectsWith(exchange(emu, future), 40104, 401);
    const recent = await signer.auth.createTokenRequest({ timestamp: Date.now() - 60000 });
    assert.ok((await exchange(emu, recent)).token);
  });

  test('the emulator clock offset moves the window', async () => {
    emu.setClockOffset(10 * 60000);
    const tr = await rest(emu, { key: KEY.full }).auth.createTokenRequest();
    await rejectsWith(exchange(emu, tr), 40104, 401);
    const r = await raw(emu, 'GET', '/time');
    assert.ok(Math.abs(r.json[0] - (Date.now() + 10 * 60000)) < 5000);
    // A client that asks /time first (queryTime) signs with server time and gets through.
    const td = await rest(emu, { key: KEY.full, queryTime: true }).auth.requestToken();
    assert.ok(td.issued - Date.now() > 9 * 60000, 'issued on the emulator clock');
    assert.equal(emu.stats().routes.time.ok, 2);
  });
});

describe('requestToken, raw', () => {
  test('a tampered field breaks the mac: 40101', async () => {
    const tr = await rest(emu, { key: KEY.limited }).auth.createTokenRequest({ capability: { 'chat:a': ['subscribe'] } });
    const r = await raw(emu, 'POST', '/keys/TESTAPP.limited/requestToken', { body: { ...tr, capability: '{"*":["*"]}' } });
    assertAblyError(r, 401, 40101);
    const r2 = await raw(emu, 'POST', '/keys/TESTAPP.limited/requestToken', { body: { ...tr, ttl: 60000 } });
    assertAblyError(r2, 401, 40101);
    // The untouched request still works: a bad mac does not burn the nonce.
    const ok = await raw(emu, 'POST', '/keys/TESTAPP.limited/requestToken', { body: tr });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.capability, '{"chat:a":["subscribe"]}');
  });

  test('a mac made with another key secret is 40101', async () => {
    const tr = signTokenRequest(KEY.full, {});
    tr.keyName = 'TESTAPP.limited';
    const r = await raw(emu, 'POST', '/keys/TESTAPP.limited/requestToken', { body: tr });
    assertAblyError(r, 401, 40101);
  });

  test('the same nonce and timestamp twice is 40105', async () => {
    const tr = await rest(emu, { key: KEY.full }).auth.createTokenRequest();
    const first = await raw(emu, 'POST', '/keys/TESTAPP.fulltest/requestToken', { body: tr });
    assert.equal(first.status, 200);
    const again = await raw(emu, 'POST', '/keys/TESTAPP.fulltest/requestToken', { body: tr });
    assertAblyError(again, 401, 40105);
    // reset forgets nonces
    emu.reset();
    assert.equal((await raw(emu, 'POST', '/keys/TESTAPP.fulltest/requestToken', { body: tr })).status, 200);
  });

  test('the mac is checked over the capability string as sent (whitespace matters)', async () => {
    const tr = signTokenRequest(KEY.full, { capability: '{ "b": ["subscribe"], "a": ["publish"] }' });
    const r = await raw(emu, 'POST', '/keys/TESTAPP.fulltest/requestToken', { body: tr });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.capability, '{"a":["publish"],"b":["subscribe"]}', 'issued capability is canonical');
  });

  test('field checks: nonce, ttl, clientId, capability', async () => {
    const post = (fields) => raw(emu, 'POST', '/keys/TESTAPP.fulltest/requestToken', { body: signTokenRequest(KEY.full, fields) });
    assertAblyError(await post({ nonce: 'short' }), 400, 40000);
    assertAblyError(await post({ ttl: 0 }), 400, 40003);
    assertAblyError(await post({ ttl: '3600000' }), 400, 40003);
    assertAblyError(await post({ ttl: 1.5 }), 400, 40003);
    assertAblyError(await post({ clientId: '' }), 400, 40012);
    assertAblyError(await post({ capability: 'not json' }), 400, 40000);
    assertAblyError(await post({ capability: '{"a":[]}' }), 400, 40000);
    assertAblyError(await post({ capability: '{"a":["fly"]}' }), 400, 40000);
    assertAblyError(await post({ capability: '{"a":"subscribe"}' }), 400, 40000);
    assertAblyError(await post({ capability: '["subscribe"]' }), 400, 40000);
    assertAblyError(await post({ timestamp: String(Date.now()) }), 400, 40000);
    // and a well-formed one passes, with clientId "*" allowed in a TokenRequest
    const ok = await post({ ttl: 1000, clientId: '*', capability: '{"x":["publish"]}' });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json.clientId, '*');
  });

  test('keyName: unknown key and path/body mismatch are 40101', async () => {
    const tr = signTokenRequest(KEY.full, {});
    assertAblyError(await raw(emu, 'POST', '/keys/TESTAPP.nosuchkey/requestToken', { body: tr }), 401, 40101);
    assertAblyError(await raw(emu, 'POST', '/keys/TESTAPP.limited/requestToken', { body: tr }), 401, 40101);
    const { keyName: _drop, ...noKeyName } = tr;
    assertAblyError(await raw(emu, 'POST', '/keys/TESTAPP.fulltest/requestToken', { body: noKeyName }), 401, 40101);
  });

  test('an unsigned TokenRequest needs Basic auth with the right key', async () => {
    const path = '/keys/TESTAPP.limited/requestToken';
    const body = { keyName: 'TESTAPP.limited', clientId: 'carol', capability: '{"chat:z":["publish"]}' };
    assertAblyError(await raw(emu, 'POST', path, { body }), 401, 40101);
    const wrong = { authorization: `Basic ${Buffer.from('TESTAPP.limited:nope').toString('base64')}` };
    assertAblyError(await raw(emu, 'POST', path, { body, headers: wrong }), 401, 40101);
    const other = { authorization: `Basic ${Buffer.from(KEY.full).toString('base64')}` };
    assertAblyError(await raw(emu, 'POST', path, { body, headers: other }), 401, 40101);
    const good = { authorization: `Basic ${Buffer.from(KEY.limited).toString('base64')}` };
    const r = await raw(emu, 'POST', path, { body, headers: good });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.capability, '{"chat:z":["publish"]}');
    assert.equal(r.json.clientId, 'carol');
    assert.equal(emu.stats().lastRequests.at(-1).headers.authorization, 'Basic [redacted]');
  });

  test('JSON only: msgpack and other content types get 415, bad JSON 40000, huge bodies 413', async () => {
    const path = '/keys/TESTAPP.fulltest/requestToken';
    const tr = signTokenRequest(KEY.full, {});
    assertAblyError(await raw(emu, 'POST', path, { body: JSON.stringify(tr), headers: { 'content-type': 'application/x-msgpack' } }), 415, 41500);
    assertAblyError(await raw(emu, 'POST', path, { body: JSON.stringify(tr), headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 41500);
    assertAblyError(await raw(emu, 'GET', '/time', { headers: { accept: 'application/x-msgpack' } }), 415, 41500);
    assertAblyError(await raw(emu, 'POST', path, { body: '{"keyName":' }), 400, 40000);
    assertAblyError(await raw(emu, 'POST', path, { body: '' }), 400, 40000);
    assertAblyError(await raw(emu, 'POST', path, { body: '[1,2]' }), 400, 40000);
    assertAblyError(await raw(emu, 'POST', path, { body: 'x'.repeat(70 * 1024) }), 413, 41300);
    // charset is fine
    const ok = await raw(emu, 'POST', path, { body: JSON.stringify(tr), headers: { 'content-type': 'application/json; charset=utf-8' } });
    assert.equal(ok.status, 200);
  });
});

describe('token-authenticated REST', () => {
  test('publish with an issued token is allowed or denied by capability; history reads it back', async () => {
    const td = await rest(emu, { key: KEY.limited }).auth.requestToken({
      clientId: 'alice', capability: { 'chat:*': ['publish'], public: ['subscribe'] },
    });
    const client = rest(emu, { token: td.token });
    await client.channels.get('chat:room1').publish('greeting', 'hello');
    await client.channels.get('chat:room1').publish([{ name: 'a', data: '1' }, { name: 'b', data: '2' }]);
    await rejectsWith(client.channels.get('public').publish('x', 'y'), 40160, 401);
    await rejectsWith(client.channels.get('chat').publish('x', 'y'), 40160, 401);
    await rejectsWith(client.channels.get('chat:room1').publish({ name: 'x', clientId: 'mallory' }), 40012, 400);
    await client.channels.get('chat:room1').publish({ name: 'same', clientId: 'alice' });
    // Token lacks history; a full-key token reads it, newest first, with Ably's implicit clientId.
    await rejectsWith(client.channels.get('chat:room1').history(), 40160, 401);
    const reader = rest(emu, { key: KEY.full, useTokenAuth: true });
    const page = await reader.channels.get('chat:room1').history();
    assert.deepEqual(page.items.map((m) => m.name), ['same', 'b', 'a', 'greeting']);
    assert.ok(page.items.every((m) => m.clientId === 'alice'));
    assert.equal(page.items[3].data, 'hello');
    const s = emu.stats();
    assert.equal(s.messagesStored, 4);
    assert.equal(s.routes.publish.ok, 3);
    assert.equal(s.errorCodes['40160'], 3);
  });

  test('a wildcard-clientId token may publish as anyone; an anonymous one as no one', async () => {
    const signer = rest(emu, { key: KEY.full });
    const star = rest(emu, { token: (await signer.auth.requestToken({ clientId: '*' })).token });
    await star.channels.get('c').publish({ name: 'x', clientId: 'anybody' });
    const anon = rest(emu, { token: (await signer.auth.requestToken()).token });
    await anon.channels.get('c').publish({ name: 'y' });
    await rejectsWith(anon.channels.get('c').publish({ name: 'z', clientId: 'somebody' }), 40012, 400);
    assert.equal(emu.stats().messagesStored, 2);
  });

  test('unknown, expired, malformed and missing credentials', async () => {
    const msg = { body: { name: 'x' } };
    assertAblyError(await raw(emu, 'POST', '/channels/c/messages', { ...msg, headers: bearer('TESTAPP.never-issued') }), 401, 40140);
    // a raw (not base64) token is a client bug and is not recognised
    assertAblyError(await raw(emu, 'POST', '/channels/c/messages', { ...msg, headers: { authorization: 'Bearer TESTAPP.abc' } }), 401, 40140);
    assertAblyError(await raw(emu, 'POST', '/channels/c/messages', msg), 401, 40100);
    const td = await rest(emu, { key: KEY.full }).auth.requestToken({ ttl: 1000 });
    assert.equal((await raw(emu, 'POST', '/channels/c/messages', { ...msg, headers: bearer(td.token) })).status, 201);
    emu.setClockOffset(2000);
    assertAblyError(await raw(emu, 'POST', '/channels/c/messages', { ...msg, headers: bearer(td.token) }), 401, 40142);
  });

  test('40140 is a token error to ably-js: it asks its authCallback for a new token', async () => {
    // ably-js 2.28.0 REST then retries with the *old* Authorization header and would loop
    // (see README), so the second callback refuses and the test checks the renewal attempt.
    let calls = 0;
    const client = rest(emu, {
      authCallback: (_p, cb) => {
        calls++;
        if (calls === 1) cb(null, { token: 'TESTAPP.stale', issued: Date.now(), expires: Date.now() + HOUR, capability: '{"*":["*"]}' });
        else cb(new Error('no more tokens'));
      },
    });
    await assert.rejects(client.channels.get('c').publish('x', 'y'));
    assert.equal(calls, 2);
    assert.equal(emu.stats().errorCodes['40140'], 1);
    assert.equal(emu.stats().messagesStored, 0);
  });

  describe('Ably JWT', () => {
    const claims = (extra = {}) => ({ iat: nowS(), exp: nowS() + 600, 'x-ably-capability': '{"*":["*"]}', ...extra });

    test('a JWT signed with node:crypto is accepted, capability intersected with the key', async () => {
      const jwt = signJwt(KEY.limited, claims({ 'x-ably-capability': '{"chat:*":["publish","history"],"public":["publish"]}', 'x-ably-clientId': 'dave' }));
      const client = rest(emu, { token: jwt });
      await client.channels.get('chat:lobby').publish('hi', 'there');
      await rejectsWith(client.channels.get('public').publish('no', 'pe'), 40160, 401); // key has only subscribe there
      await rejectsWith(client.channels.get('chat:lobby').publish({ name: 'x', clientId: 'eve' }), 40012, 400);
      const rec = emu.stats().lastRequests.find((r) => r.route === 'publish' && r.status === 201);
      assert.deepEqual(rec.auth, { kind: 'jwt', clientId: 'dave' });
      const hist = await raw(emu, 'GET', '/channels/chat%3Alobby/messages', { headers: bearer(signJwt(KEY.full, claims())) });
      assert.equal(hist.status, 200);
      assert.equal(hist.json[0].clientId, 'dave');
      assert.equal(hist.json[0].data, 'there');
    });

    test('a JWT without a capability claim is refused (40144), as Ably\'s docs make the claim required', async () => {
      const r = await raw(emu, 'POST', '/channels/public/messages', { body: { name: 'x' }, headers: bearer(signJwt(KEY.full, { iat: nowS(), exp: nowS() + 600 })) });
      assertAblyError(r, 401, 40144);
      assert.match(JSON.parse(r.body).error.message, /x-ably-capability is required/);
      const ok = await raw(emu, 'POST', '/channels/public/messages', { body: { name: 'x' }, headers: bearer(signJwt(KEY.full, claims({ 'x-ably-capability': '{"*":["*"]}' }))) });
      assert.equal(ok.status, 201, ok.body);
    });

    test('tampered, wrong alg, unknown kid, bad claims: 40144; expired: 40142', async () => {
      const post = (jwt) => raw(emu, 'POST', '/channels/c/messages', { body: { name: 'x' }, headers: bearer(jwt) });
      const good = signJwt(KEY.full, claims({ 'x-ably-capability': '{"c":["subscribe"]}' }));
      const [h, , s] = good.split('.');
      const widened = `${h}.${b64url(claims({ 'x-ably-capability': '{"*":["*"]}' }))}.${s}`;
      assertAblyError(await post(widened), 401, 40144);
      assertAblyError(await post(good.slice(0, -2) + (good.endsWith('AA') ? 'BB' : 'AA')), 401, 40144);
      assertAblyError(await post(`${b64url({ alg: 'none', kid: 'TESTAPP.fulltest' })}.${b64url(claims())}.x`), 401, 40144);
      assertAblyError(await post(signJwt(KEY.full, claims(), { alg: 'HS512', kid: 'TESTAPP.fulltest' })), 401, 40144);
      assertAblyError(await post(signJwt(KEY.full, claims(), { alg: 'HS256', kid: 'TESTAPP.unknown' })), 401, 40144);
      assertAblyError(await post(signJwt(KEY.full, claims(), { alg: 'HS256' })), 401, 40144);
      assertAblyError(await post(signJwt(KEY.full, { exp: nowS() + 60 })), 401, 40144);
      assertAblyError(await post(signJwt(KEY.full, claims({ 'x-ably-capability': { '*': ['*'] } }))), 401, 40144);
      assertAblyError(await post(signJwt(KEY.full, claims({ 'x-ably-capability': '{"c":["fly"]}' }))), 401, 40144);
      assertAblyError(await post('a.b.c'), 401, 40144);
      assertAblyError(await post(signJwt(KEY.full, { iat: nowS() - 700, exp: nowS() - 100 })), 401, 40142);
      assertAblyError(await post(signJwt(KEY.revocable, { iat: nowS(), exp: nowS() + 3601 })), 400, 40003);
      // the untouched one is fine (capability: subscribe only, so publish is denied, not invalid)
      assertAblyError(await post(good), 401, 40160);
    });
  });
});

describe('revokeTokens', () => {
  const basic = (key) => ({ authorization: `Basic ${Buffer.from(key).toString('base64')}` });
  const V = { 'x-ably-version': '6' };
  const revoke = (key, body, headers = {}, name = keyName(key)) =>
    raw(emu, 'POST', `/keys/${name}/revokeTokens`, { body, headers: { ...basic(key), ...V, ...headers } });
  /* A token for clientId from the revocable key, and a check that it still publishes. */
  const tokenFor = async (clientId) => (await rest(emu, { key: KEY.revocable, useTokenAuth: true, clientId })
    .auth.requestToken({ clientId })).token;
  const publishWith = (token) => raw(emu, 'POST', '/channels/rv/messages', { body: { name: 'x' }, headers: bearer(token) });

  test('Basic auth with the key that issued the tokens, on a key with revocable tokens', async () => {
    const body = { targets: ['clientId:alice'] };
    assertAblyError(await raw(emu, 'POST', `/keys/${keyName(KEY.revocable)}/revokeTokens`, { body }), 401, 40100);
    const token = await tokenFor('alice');
    assertAblyError(await revoke(KEY.revocable, body, bearer(token)), 401, 40162);
    assertAblyError(await revoke(`${keyName(KEY.revocable)}:wrong-secret`, body), 401, 40101);
    assertAblyError(await revoke(KEY.revocable, body, {}, keyName(KEY.full)), 401, 40133);
    assertAblyError(await revoke(KEY.full, body), 401, 40163);
    assert.equal(emu.stats().revocations, 0);
    assert.equal((await publishWith(token)).status, 201);
  });

  test('the body: targets (1..100 strings), issuedBefore (not future, not over 1 h old), allowReauthMargin', async () => {
    for (const body of [[], {}, { targets: [] }, { targets: 'clientId:a' }, { targets: [1] },
      { targets: Array(101).fill('clientId:a') }, { targets: ['clientId:a'], allowReauthMargin: 'yes' }]) {
      assertAblyError(await revoke(KEY.revocable, body), 400, 40000);
    }
    for (const issuedBefore of [Date.now() + 60000, Date.now() - HOUR - 60000, 'now', 1.5]) {
      assertAblyError(await revoke(KEY.revocable, { targets: ['clientId:a'], issuedBefore }), 400, 40003);
    }
    assert.equal(emu.stats().revocations, 0);
  });

  test('one result per target: 201 {successCount, failureCount, results} with X-Ably-Version >= 3', async () => {
    const before = Date.now();
    const r = await revoke(KEY.revocable, { targets: ['clientId:alice', 'revocationKey:user:bob', 'channel:x', 'invalidType:abc', 'clientId:'] });
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.successCount, 2);
    assert.equal(r.json.failureCount, 3);
    const [alice, bob, channel, bad, empty] = r.json.results;
    assert.equal(alice.target, 'clientId:alice');
    assert.ok(alice.issuedBefore >= before && alice.appliesAt === alice.issuedBefore, JSON.stringify(alice));
    assert.equal(bob.target, 'revocationKey:user:bob');
    assert.deepEqual([channel.target, channel.error.code, channel.error.statusCode], ['channel:x', 40121, 401]);
    assert.deepEqual([bad.target, bad.error.code, bad.error.statusCode], ['invalidType:abc', 40000, 400]);
    assert.equal(empty.error.code, 40000);
    assert.equal(emu.stats().revocations, 2);
    assert.equal(emu.stats().routes.revokeTokens.ok, 1);
  });

  test('without X-Ably-Version: 201 and a bare array, or 400 40020 with batchResponse when a target failed', async () => {
    const ok = await revoke(KEY.revocable, { targets: ['clientId:alice'] }, { 'x-ably-version': '' });
    assert.equal(ok.status, 201);
    assert.ok(Array.isArray(ok.json) && ok.json[0].target === 'clientId:alice');
    const partly = await revoke(KEY.revocable, { targets: ['clientId:alice', 'nope'] }, { 'x-ably-version': '' });
    assert.equal(partly.status, 400);
    assert.equal(partly.json.error.code, 40020);
    assert.equal(partly.json.batchResponse.length, 2);
    assert.equal(partly.json.batchResponse[1].error.code, 40000);
  });

  test('a revoked token is refused with 40141; other clients and later tokens are not', async () => {
    const alice = await tokenFor('alice');
    const bob = await tokenFor('bob');
    await new Promise((r) => setTimeout(r, 5)); // issued strictly before the revocation
    const r = await revoke(KEY.revocable, { targets: ['clientId:alice'] });
    assert.equal(r.status, 201, r.body);
    assertAblyError(await publishWith(alice), 401, 40141);
    assert.equal((await publishWith(bob)).status, 201);
    await new Promise((res) => setTimeout(res, 5));
    assert.equal((await publishWith(await tokenFor('alice'))).status, 201, 'a token issued after the revocation works');
  });

  test('revocationKey matches the JWT claim x-ably-revocation-key', async () => {
    const jwt = (rk) => signJwt(KEY.revocable, { iat: nowS() - 2, exp: nowS() + 600, 'x-ably-capability': '{"*":["*"]}', 'x-ably-revocation-key': rk });
    const [alice, carol] = [jwt('user:alice'), jwt('user:carol')];
    assert.equal((await revoke(KEY.revocable, { targets: ['revocationKey:user:alice'] })).status, 201);
    assertAblyError(await publishWith(alice), 401, 40141);
    assert.equal((await publishWith(carol)).status, 201);
  });

  test('issuedBefore in the past spares tokens issued after it', async () => {
    const issuedBefore = Date.now() - 1000;
    const alice = await tokenFor('alice');
    const r = await revoke(KEY.revocable, { targets: ['clientId:alice'], issuedBefore });
    assert.equal(r.json.results[0].issuedBefore, issuedBefore);
    assert.equal((await publishWith(alice)).status, 201);
  });

  test('allowReauthMargin: enforced 30 s later, so the token still works now', async () => {
    const alice = await tokenFor('alice');
    await new Promise((r) => setTimeout(r, 5));
    const r = await revoke(KEY.revocable, { targets: ['clientId:alice'], allowReauthMargin: true });
    const [res] = r.json.results;
    assert.ok(res.appliesAt - res.issuedBefore >= 29000 && res.appliesAt - res.issuedBefore <= 31000, JSON.stringify(res));
    assert.equal((await publishWith(alice)).status, 201);
    emu.setClockOffset(31000); // the emulator's clock past appliesAt
    assertAblyError(await publishWith(alice), 401, 40141);
  });

  test('faults apply to revokeTokens only when named in routes', async () => {
    emu.setFaults({ status: 503 });
    assert.equal((await revoke(KEY.revocable, { targets: ['clientId:a'] })).status, 201);
    emu.setFaults({ status: 503, routes: ['revokeTokens'] });
    assertAblyError(await revoke(KEY.revocable, { targets: ['clientId:a'] }), 503, 50300);
  });
});

describe('capability rules', () => {
  test('resource intersection follows the wildcard rules', () => {
    const cases = [
      ['chat:room1', 'chat:*', 'chat:room1'],
      ['*', 'chat:*', 'chat:*'],
      ['chat:*:x', 'chat:*', 'chat:*:x'],
      ['foo:*:baz', 'foo:x:*', 'foo:x:baz'],
      ['foo:*:baz', 'foo:x:y:baz', null], // a middle * is exactly one segment
      ['ns:*', 'ns', null], // a trailing * needs at least one segment
      ['foo*', '*', 'foo*'], // foo* is a literal name
      ['foo*', 'foobar', null],
      ['*', '[queue]q', null], // bare * does not reach queues ...
      ['*', '[meta]m', null], // ... or metachannels
      ['[*]*', '[queue]q', '[queue]q'],
      ['[*]*', '*', '*'],
      ['[queue]*', '[meta]*', null],
      ['a', 'b', null],
    ];
    for (const [a, b, want] of cases) {
      assert.equal(intersectResources(a, b), want, `${a} ∩ ${b}`);
      assert.equal(intersectResources(b, a), want, `${b} ∩ ${a}`);
    }
  });

  test('operations intersect, with * meaning all; result is canonical', () => {
    const cap = intersectCapabilities(
      parseCapability('{"x":["*"],"y":["publish","subscribe"],"z":["presence"]}'),
      parseCapability('{"*":["subscribe","publish"],"y":["*"]}'),
    );
    assert.equal(canonicalCapability(cap), '{"x":["publish","subscribe"],"y":["publish","subscribe"]}');
    // integer-like resource names are sorted as strings, not hoisted the way JS objects order them
    assert.equal(canonicalCapability(parseCapability('{"b":["subscribe"],"10":["subscribe"],"9":["publish"]}')),
      '{"10":["subscribe"],"9":["publish"],"b":["subscribe"]}');
  });

  test('channel checks', () => {
    const cap = parseCapability('{"chat:*":["publish"],"a:*:c":["subscribe"],"[meta]*":["subscribe"],"lit":["*"]}');
    assert.ok(capabilityAllows(cap, 'chat:x', 'publish'));
    assert.ok(capabilityAllows(cap, 'chat:x:y', 'publish'));
    assert.ok(!capabilityAllows(cap, 'chat', 'publish'));
    assert.ok(!capabilityAllows(cap, 'chat:x', 'subscribe'));
    assert.ok(capabilityAllows(cap, 'a:b:c', 'subscribe'));
    assert.ok(!capabilityAllows(cap, 'a:b:b:c', 'subscribe'));
    assert.ok(capabilityAllows(cap, '[meta]log', 'subscribe'));
    assert.ok(!capabilityAllows(cap, 'log', 'subscribe'));
    assert.ok(capabilityAllows(cap, 'lit', 'history'));
    assert.ok(!capabilityAllows(parseCapability('{"*":["*"]}'), '[queue]q', 'publish'));
    assert.ok(capabilityAllows(parseCapability('{"[*]*":["publish"]}'), '[queue]q', 'publish'));
  });
});

describe('plumbing', () => {
  test('GET /time returns [ms]', async () => {
    const r = await raw(emu, 'GET', '/time');
    assert.equal(r.status, 200);
    assert.equal(r.json.length, 1);
    assert.ok(Math.abs(r.json[0] - Date.now()) < 5000);
    assert.ok(Math.abs((await rest(emu, { key: KEY.full }).time()) - Date.now()) < 5000, 'ably-js reads it too');
  });

  test('unknown routes 40400, wrong methods 40500, all Ably-shaped', async () => {
    assertAblyError(await raw(emu, 'GET', '/nope'), 404, 40400);
    assertAblyError(await raw(emu, 'GET', '/keys/TESTAPP.fulltest/requestToken'), 405, 40500);
    assertAblyError(await raw(emu, 'POST', '/time', { body: {} }), 405, 40500);
    assertAblyError(await raw(emu, 'GET', '/%zz'), 400, 40000);
    assertAblyError(await raw(emu, 'GET', '/_emulator/nope'), 404, 40400);
    assert.equal(emu.stats().errorCodes['40400'], 1, 'control calls are counted apart');
  });

  test('garbage on the socket gets 400 and the emulator keeps serving', async () => {
    const reply = await new Promise((resolve, reject) => {
      const sock = net.connect(emu.port, '127.0.0.1', () => sock.write('\x00\x01NOT HTTP\r\n\r\n'));
      let data = '';
      sock.on('data', (d) => (data += d));
      sock.on('close', () => resolve(data));
      sock.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.equal((await raw(emu, 'GET', '/time')).status, 200);
  });

  test('traceparent headers received are kept in the stats, control calls aside, until a reset', async () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await raw(emu, 'GET', '/time', { headers: { traceparent: tp } });
    await raw(emu, 'GET', '/time');
    await raw(emu, 'GET', '/_emulator/stats', { headers: { traceparent: tp } });
    await raw(emu, 'POST', '/keys/TESTAPP.fulltest/requestToken', { body: {}, headers: { traceparent: 'not one' } });
    const s = (await raw(emu, 'GET', '/_emulator/stats')).json;
    assert.deepEqual(s.traceparents.map((t) => [t.route, t.value]), [['time', tp], ['requestToken', 'not one']]);
    assert.equal(s.traceparents[0].seq, s.lastRequests.find((r) => r.route === 'time').seq);
    await raw(emu, 'POST', '/_emulator/reset');
    assert.deepEqual((await raw(emu, 'GET', '/_emulator/stats')).json.traceparents, []);
  });

  test('control endpoints over HTTP: stats, faults, reset, clock', async () => {
    await raw(emu, 'GET', '/time');
    let s = (await raw(emu, 'GET', '/_emulator/stats')).json;
    assert.equal(s.routes.time.requests, 1);
    // fetch may reuse a socket opened before reset: connections (accepted since reset) can be 0,
    // apiConnections (distinct connections that carried API requests since reset) cannot.
    assert.equal(typeof s.connections, 'number');
    assert.equal(s.apiConnections, 1);
    for (const k of ['apiConnections', 'openConnections', 'tokensIssued', 'faultsApplied', 'lastRequests', 'errorCodes'])
      assert.ok(k in s, k);
    const f = await raw(emu, 'POST', '/_emulator/faults', { body: { status: 502, count: 2 } });
    assert.equal(f.json.faults.remaining, 2);
    assertAblyError(await raw(emu, 'POST', '/_emulator/faults', { body: { statsu: 500 } }), 400, 40000);
    assert.equal((await raw(emu, 'GET', '/_emulator/faults')).json.faults.status, 502, 'a bad spec leaves the old one');
    assert.equal((await raw(emu, 'DELETE', '/_emulator/faults')).json.faults, null);
    assert.equal((await raw(emu, 'GET', '/time')).status, 200);
    assert.equal((await raw(emu, 'POST', '/_emulator/clock', { body: { offsetMs: -5000 } })).json.offsetMs, -5000);
    assert.equal((await raw(emu, 'POST', '/_emulator/reset')).status, 200);
    s = (await raw(emu, 'GET', '/_emulator/stats')).json;
    assert.equal(s.routes.time.requests, 0);
    assert.equal(s.clockOffsetMs, 0);
  });

  test('CORS preflight is answered for browser clients', async () => {
    const r = await raw(emu, 'OPTIONS', '/keys/TESTAPP.fulltest/requestToken', {
      headers: { origin: 'http://localhost:8080', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-ably-version,ably-agent,content-type' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.match(r.headers.get('access-control-allow-headers'), /x-ably-version/);
  });
});

describe('connections', () => {
  test('sequential requests through one keep-alive client share one connection', async () => {
    const fresh = await startEmulator(); // a new port, so no socket from earlier tests is reused
    try {
      const client = rest(fresh, { key: KEY.full });
      for (let i = 0; i < 5; i++) await client.auth.requestToken();
      let s = fresh.stats();
      assert.equal(s.routes.requestToken.ok, 5);
      assert.equal(s.connections, 1);
      assert.equal(s.apiConnections, 1);
      assert.equal(new Set(s.lastRequests.map((r) => r.connection)).size, 1);
      // Without keep-alive every request is a new connection, and the counter sees it.
      fresh.reset();
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve, reject) => {
          http.get({ host: '127.0.0.1', port: fresh.port, path: '/time', agent: false, headers: { connection: 'close' } }, (res) => {
            res.resume();
            res.on('end', resolve);
          }).on('error', reject);
        });
      }
      s = fresh.stats();
      assert.equal(s.connections, 3);
      assert.equal(s.apiConnections, 3);
    } finally {
      await fresh.close();
    }
  });
});

describe('faults', () => {
  test('a 5xx fault fails the next request, then the emulator recovers', async () => {
    const client = rest(emu, { key: KEY.full });
    emu.setFaults({ status: 503, count: 1 });
    await rejectsWith(client.auth.requestToken(), 50300, 503);
    const td = await client.auth.requestToken();
    assert.ok(td.token);
    const s = emu.stats();
    assert.equal(s.faultsApplied, 1);
    assert.equal(s.faults, null);
    assert.equal(s.routes.requestToken.errors, 1);
    assert.equal(s.routes.requestToken.ok, 1);
  });

  test('count applies to that many requests and routes can be limited', async () => {
    emu.setFaults({ status: 500, count: 2, routes: ['time'] });
    assertAblyError(await raw(emu, 'GET', '/time'), 500, 50000);
    const tr = signTokenRequest(KEY.full, {});
    assert.equal((await raw(emu, 'POST', '/keys/TESTAPP.fulltest/requestToken', { body: tr })).status, 200, 'not a faulted route');
    assertAblyError(await raw(emu, 'GET', '/time'), 500, 50000);
    assert.equal((await raw(emu, 'GET', '/time')).status, 200);
    assert.equal(emu.stats().faultsApplied, 2);
  });

  test('reset destroys the socket', async () => {
    emu.setFaults({ reset: true });
    await assert.rejects(raw(emu, 'GET', '/time'));
    assert.equal((await raw(emu, 'GET', '/time')).status, 200);
    assert.equal(emu.stats().lastRequests[0].status, 0, 'recorded as no answer');
  });

  test('garbage sends a body that claims JSON but is not', async () => {
    emu.setFaults({ garbage: true });
    const r = await raw(emu, 'POST', '/keys/TESTAPP.fulltest/requestToken', { body: signTokenRequest(KEY.full, {}) });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.throws(() => JSON.parse(r.body));
  });

  test('latency delays the answer; slowBodyMs dribbles an intact body', async () => {
    emu.setFaults({ latencyMs: 300 });
    let t0 = Date.now();
    assert.equal((await raw(emu, 'GET', '/time')).status, 200);
    assert.ok(Date.now() - t0 >= 280, `took ${Date.now() - t0} ms`);
    emu.setFaults({ slowBodyMs: 60, chunks: 5 });
    t0 = Date.now();
    const r = await raw(emu, 'POST', '/keys/TESTAPP.fulltest/requestToken', { body: signTokenRequest(KEY.full, {}) });
    assert.ok(Date.now() - t0 >= 280, `took ${Date.now() - t0} ms`);
    assert.equal(r.status, 200);
    assert.equal(r.json.keyName, 'TESTAPP.fulltest');
  });
});

describe('command line', () => {
  test('prints the port, serves, logs without secrets, exits 0 on SIGTERM', async () => {
    const server = fileURLToPath(new URL('./server.mjs', import.meta.url));
    const child = spawn(process.execPath, [server, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const line = await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        if (stdout.includes('\n')) resolve(stdout.split('\n')[0]);
      });
      child.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
    });
    const msg = JSON.parse(line);
    assert.deepEqual(Object.keys(msg), ['event', 'port']);
    assert.equal(msg.event, 'listening');
    const cli = { port: msg.port, url: `http://127.0.0.1:${msg.port}` };
    const td = await rest(cli, { key: KEY.full }).auth.requestToken();
    await rest(cli, { token: td.token }).channels.get('c').publish('x', 'y');
    child.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.equal(stdout.trim().split('\n').length, 1, 'exactly one stdout line');
    assert.match(stderr, /POST \/keys\/TESTAPP\.fulltest\/requestToken 200/);
    assert.match(stderr, /POST \/channels\/c\/messages 201/);
    assert.ok(!stderr.includes(secret(KEY.full)), 'no secret in the log');
    assert.ok(!stderr.includes(td.token), 'no token in the log');
  });
});
