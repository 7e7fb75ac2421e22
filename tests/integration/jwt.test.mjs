// jwt mode: the endpoint answers an Ably JWT (HS256, kid = key name) as
// text/plain; ably-js uses it as the token and the emulator verifies it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useStack } from './lib/stack.mjs';
import { assertAblyError, assertNoStore, header, verifyJwt, finalChecks } from './lib/checks.mjs';
import { ablyClient } from './lib/ablyjs.mjs';

const stack = useStack({ config: { mode: 'jwt', ttl: '10m' } });

const ablyLog = [];
const client = (extra = {}) => ablyClient(stack, ablyLog, extra);

/** A 200 JWT answer: text/plain, no-store, no trailing newline, valid signature. */
function assertJwt(res) {
  assert.equal(res.status, 200, `${res.status} ${res.body}`);
  assert.match(header(res, 'content-type') || '', /^text\/plain/, 'Content-Type');
  assertNoStore(res);
  assert.ok(!res.body.endsWith('\n'), 'JWT body ends with a newline (ably-js would make it part of the token)');
  assert.equal(res.body, res.body.trim(), 'JWT body has surrounding whitespace');
  const { header: h, claims } = verifyJwt(res.body, stack.secret);
  assert.equal(h.alg, 'HS256');
  assert.equal(h.typ, 'JWT');
  assert.equal(h.kid, stack.keyName);
  assert.equal(typeof claims.iat, 'number');
  assert.equal(typeof claims.exp, 'number');
  assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 60, `iat ${claims.iat} is not now (seconds)`);
  assert.equal(typeof claims['x-ably-capability'], 'string', 'x-ably-capability is a JSON string');
  JSON.parse(claims['x-ably-capability']);
  return claims;
}

test('GET: a signed JWT with the configured defaults', async () => {
  const claims = assertJwt(await stack.get());
  assert.equal(claims.exp - claims.iat, 600, 'exp - iat = ttl 10m in seconds');
  assert.equal(claims['x-ably-capability'], '{"*":["*"]}');
  assert.equal(claims['x-ably-clientId'], 'example-client-id');
});

test('GET with ttl and capability: reflected in the claims', async () => {
  const claims = assertJwt(await stack.get({ ttl: '120000', capability: '{"b":["subscribe"],"a":["publish","subscribe"]}' }));
  assert.equal(claims.exp - claims.iat, 120);
  assert.equal(claims['x-ably-capability'], '{"a":["publish","subscribe"],"b":["subscribe"]}');
});

test('POST form and POST JSON give JWTs too', async () => {
  assertJwt(await stack.postForm({ ttl: '60000', clientId: 'example-client-id' }));
  assertJwt(await stack.postJson({ ttl: 60000 }));
});

test('errors in jwt mode keep the JSON error shape', async () => {
  assertAblyError(await stack.get({ ttl: 'abc' }), 400, [40003]);
  assertAblyError(await stack.get({ clientId: 'mallory' }), 403, [40300]);
  assertAblyError(await stack.get({ capability: 'nope' }), 400, [40000, 40003]);
  assertJwt(await stack.get());
});

test('ably-js: authorize() yields the JWT as its token, and publish through the emulator works', async () => {
  const rest = client();
  const details = await rest.auth.authorize();
  assert.equal(details.token.split('.').length, 3, `not a JWT: ${details.token}`);
  const { header: h } = verifyJwt(details.token, stack.secret);
  assert.equal(h.kid, stack.keyName);
  const channel = rest.channels.get('jwt-e2e');
  await channel.publish('greeting', 'hello over a JWT');
  const page = await channel.history();
  assert.ok(page.items.some((m) => m.data === 'hello over a JWT'), 'message not in history');
  const msg = page.items.find((m) => m.data === 'hello over a JWT');
  assert.equal(msg.clientId, 'example-client-id', 'message clientId comes from the JWT');
});

test('ably-js with authMethod POST and clientId example-client-id', async () => {
  const rest = client({ authMethod: 'POST', clientId: 'example-client-id' });
  const details = await rest.auth.authorize();
  verifyJwt(details.token, stack.secret);
  await rest.channels.get('jwt-e2e-post').publish('x', 'y');
});

test('ably-js with clientId mallory: 40300', async () => {
  const rest = client({ clientId: 'mallory' });
  const err = await rest.auth.authorize().then(() => null, (e) => e);
  assert.ok(err, 'authorize() should fail');
  assert.equal(err.code, 40300, err.message);
  assert.equal(err.statusCode, 403);
});

test('the emulator accepted every JWT (no 40144/4014x)', async () => {
  const stats = await stack.emulatorStats();
  for (const code of Object.keys(stats.errorCodes)) {
    assert.ok(!/^401/.test(code), `emulator answered ${code}: ${JSON.stringify(stats.errorCodes)}`);
  }
});

finalChecks(stack, {
  extraResponses: () => [{
    method: 'ably-js', path: '(log of everything ably-js received)', status: 0,
    raw: Buffer.from(ablyLog.join('\n')), body: ablyLog.join('\n'), rawHeaders: [],
  }],
});
