// The token endpoint through nginx with raw HTTP: successful answers in every
// request form, every bad input the contract names, CORS, health and the
// static page. token-request mode with a narrowed capability.

import assert from 'node:assert/strict';
import { test, describe } from 'node:test';
import { useStack } from './lib/stack.mjs';
import { assertAblyError, assertTokenRequest, assertNoStore, header, finalChecks } from './lib/checks.mjs';

const ALLOWED_ORIGIN = 'http://allowed.example';
const CAPABILITY = { 'chat:*': ['subscribe', 'publish', 'presence'], status: ['subscribe'] };
const CANONICAL_CAPABILITY = '{"chat:*":["presence","publish","subscribe"],"status":["subscribe"]}';

const stack = useStack({
  config: {
    mode: 'token-request', // signs locally; client_id left at example-client-id
    capability: CAPABILITY,
    ttl: '30m',
    max_ttl: '2h',
    cors_origins: `${ALLOWED_ORIGIN}, http://other-allowed.example`,
    log_level: 'debug', // the secret must not show up even in debug logs
  },
});

/** After a refused request, a valid one must still work (the worker survived). */
async function assertStillServing() {
  const ok = await stack.get({ ttl: 60000 }, { label: 'follow-up' });
  assertTokenRequest(ok, stack, { ttl: 60000, clientId: 'example-client-id' });
}

describe('successful answers', () => {
  test('GET with no params: the configured defaults', async () => {
    const res = await stack.get();
    assertTokenRequest(res, stack, {
      clientId: 'example-client-id',
      ttl: 30 * 60 * 1000,
      capability: CANONICAL_CAPABILITY,
    });
  });

  test('GET with ttl, clientId and a narrower capability', async () => {
    const res = await stack.get({
      ttl: '60000',
      clientId: 'example-client-id',
      capability: '{ "status": ["subscribe"], "chat:room1": ["publish"] }',
    });
    assertTokenRequest(res, stack, {
      clientId: 'example-client-id',
      ttl: 60000,
      capability: '{"chat:room1":["publish"],"status":["subscribe"]}',
    });
  });

  test('ttl equal to max_ttl is accepted', async () => {
    assertTokenRequest(await stack.get({ ttl: String(2 * 3600 * 1000) }), stack, { ttl: 2 * 3600 * 1000 });
  });

  test('unknown params (rnd from the browser build, others) are ignored', async () => {
    const res = await stack.get({ rnd: '8204793641053186', foo: 'bar', ttl: '60000' });
    assertTokenRequest(res, stack, { ttl: 60000, clientId: 'example-client-id' });
  });

  test('POST form-urlencoded, as ably-js authMethod POST sends it', async () => {
    const res = await stack.postForm({ ttl: '120000', capability: '{"chat:*":["subscribe"]}', clientId: 'example-client-id' });
    assertTokenRequest(res, stack, { ttl: 120000, capability: '{"chat:*":["subscribe"]}', clientId: 'example-client-id' });
  });

  test('POST form with a charset in Content-Type', async () => {
    const res = await stack.postForm({ ttl: '120000' },
      { headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=UTF-8' } });
    assertTokenRequest(res, stack, { ttl: 120000 });
  });

  test('POST JSON body', async () => {
    const res = await stack.postJson({ ttl: 90000, capability: '{"status":["subscribe"]}', clientId: 'example-client-id' });
    assertTokenRequest(res, stack, { ttl: 90000, capability: '{"status":["subscribe"]}', clientId: 'example-client-id' });
  });

  test('POST with a chunked body (nginx buffers it and passes CONTENT_LENGTH)', async () => {
    const res = await stack.request('POST', '/request-token', {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Transfer-Encoding': 'chunked' },
      body: 'ttl=150000',
    });
    assertTokenRequest(res, stack, { ttl: 150000 });
  });

  test('POST with an empty body: the defaults', async () => {
    const res = await stack.postForm('');
    assertTokenRequest(res, stack, { ttl: 30 * 60 * 1000, clientId: 'example-client-id' });
  });

  test('query string on the URL plus a form body (ably-js keeps the URL\'s own params)', async () => {
    const res = await stack.request('POST', '/request-token?ttl=70000', {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'clientId=example-client-id',
    });
    assertTokenRequest(res, stack, { clientId: 'example-client-id' });
  });

  // A capability wider than allowed is intersected with it (never widened;
  // nothing in common is a 403, under "bad inputs" below).
  test('capability partly beyond the allowed: the part that is allowed', async () => {
    const res = await stack.get({ capability: '{"chat:room1":["publish","history"],"admin":["publish"]}' });
    assertTokenRequest(res, stack, { capability: '{"chat:room1":["publish"]}', clientId: 'example-client-id' });
  });

  test('capability wider than allowed (wildcard): exactly the allowed one', async () => {
    assertTokenRequest(await stack.get({ capability: '{"*":["*"]}' }), stack, { capability: CANONICAL_CAPABILITY });
    assertTokenRequest(await stack.get({ capability: '{"*":["subscribe"]}' }), stack,
      { capability: '{"chat:*":["subscribe"],"status":["subscribe"]}' });
  });

  test('capability JSON comes back canonical: "/" not escaped, UTF-8 raw, sorted like JS', async () => {
    const res = await stack.get({ capability: '{"chat:z":["subscribe"],"chat:a/b":["publish"],"chat:chät":["publish"]}' });
    assertTokenRequest(res, stack, {
      capability: '{"chat:a/b":["publish"],"chat:chät":["publish"],"chat:z":["subscribe"]}',
    });
  });

  test('every TokenRequest has a fresh nonce', async () => {
    const nonces = new Set();
    const answers = await Promise.all(Array.from({ length: 12 }, () => stack.get({ ttl: '60000' })));
    for (const res of answers) nonces.add(assertTokenRequest(res, stack).nonce);
    assert.equal(nonces.size, answers.length, 'nonce repeated');
  });

  test('the emulator (strict like Ably) accepts the TokenRequest and grants what it says', async () => {
    const tr = assertTokenRequest(await stack.get({ ttl: '60000', capability: '{"chat:room1":["publish","subscribe"]}' }), stack);
    const res = await fetch(`${stack.emulatorUrl}/keys/${tr.keyName}/requestToken`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(tr),
    });
    const details = await res.json();
    assert.equal(res.status, 200, `emulator said ${JSON.stringify(details)}`);
    assert.equal(typeof details.token, 'string');
    assert.equal(details.clientId, 'example-client-id');
    assert.equal(details.capability, '{"chat:room1":["publish","subscribe"]}');
    assert.equal(details.expires - details.issued, 60000);
  });

  test('health path answers 200 JSON', async () => {
    const res = await stack.request('GET', '/healthz');
    assert.equal(res.status, 200);
    assert.match(header(res, 'content-type') || '', /^application\/json/);
    JSON.parse(res.body);
    assertNoStore(res);
  });

  test('the health path never hands out a credential (any method)', async () => {
    for (const [method, body] of [['POST', 'ttl=60000'], ['GET', null]]) {
      const res = await stack.request(method, '/healthz?clientId=example-client-id', {
        headers: body ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {},
        body,
      });
      assert.doesNotMatch(res.body, /"mac"|"keyName"/, `${method} /healthz answered a TokenRequest: ${res.body}`);
    }
  });
});

describe('bad inputs through nginx', () => {
  const cases = [
    // [name, request(), status, acceptable codes]
    ['ttl abc', () => stack.get({ ttl: 'abc' }), 400, [40003]],
    ['ttl -5', () => stack.get({ ttl: '-5' }), 400, [40003]],
    ['ttl 0', () => stack.get({ ttl: '0' }), 400, [40003]],
    ['ttl over max_ttl', () => stack.get({ ttl: String(2 * 3600 * 1000 + 1) }), 400, [40003]],
    ['ttl over Ably\'s 24 h', () => stack.get({ ttl: String(24 * 3600 * 1000 + 1) }), 400, [40003]],
    ['ttl with trailing junk', () => stack.get({ ttl: '60000abc' }), 400, [40003]],
    ['ttl with a fraction', () => stack.get({ ttl: '60000.5' }), 400, [40003]],
    ['ttl that overflows 64 bits', () => stack.get({ ttl: '99999999999999999999999999' }), 400, [40003]],
    ['ttl in a POST form', () => stack.postForm({ ttl: 'abc' }), 400, [40003]],
    ['capability not JSON', () => stack.get({ capability: '{"chat:*":["publish"' }), 400, [40000, 40003]],
    ['capability a JSON array', () => stack.get({ capability: '["publish"]' }), 400, [40000, 40003]],
    ['capability operations not a list', () => stack.get({ capability: '{"chat:*":"publish"}' }), 400, [40000, 40003]],
    ['capability on a channel not allowed', () => stack.get({ capability: '{"admin":["publish"]}' }), 403, [40300, 40160]],
    ['capability with an operation not allowed', () => stack.get({ capability: '{"status":["publish"]}' }), 403, [40300, 40160]],
    ['capability on a queue only', () => stack.get({ capability: '{"[queue]status":["subscribe"]}' }), 403, [40160]],
    ['foreign clientId', () => stack.get({ clientId: 'mallory' }), 403, [40300]],
    ['wildcard clientId', () => stack.get({ clientId: '*' }), 403, [40300]],
    ['foreign clientId in a JSON body', () => stack.postJson({ clientId: 'mallory' }), 403, [40300]],
    ['empty clientId', () => stack.get('clientId='), 400, [40012]],
    ['body over max_body (binary answers)', () => stack.postForm('ttl=60000&pad=' + 'x'.repeat(10000)), 413, null],
    ['body over client_max_body_size (nginx answers)', () => stack.postForm('pad=' + 'x'.repeat(20000)), 413, null],
    ['JSON body that is not JSON', () => stack.postJson('{"ttl":'), 400, [40000, 40003]],
    ['PUT', () => stack.request('PUT', '/request-token', { headers: { 'Content-Type': 'application/json' }, body: '{}' }), 405, null],
    ['DELETE', () => stack.request('DELETE', '/request-token'), 405, null],
    ['PATCH', () => stack.request('PATCH', '/request-token?ttl=60000'), 405, null],
  ];

  for (const [name, send, status, codes] of cases) {
    test(`${name} -> ${status}${codes ? ' ' + codes.join('/') : ''}`, async (t) => {
      const res = await send();
      assertAblyError(res, status, codes);
      if (status === 405 && !header(res, 'allow')) t.diagnostic('note: 405 without an Allow header');
      await assertStillServing();
    });
  }

  test('no trailing newline and no-store on every success collected so far', () => {
    const ok = stack.responses.filter((r) => r.status === 200 && r.path.startsWith('/request-token'));
    assert.ok(ok.length > 10);
    for (const r of ok) {
      assert.ok(!r.body.endsWith('\n'), `${r.method} ${r.path}: body ends with a newline`);
      assertNoStore(r);
    }
  });
});

describe('CORS', () => {
  test('preflight from an allowed origin: ACAO = that origin, Vary: Origin', async () => {
    const res = await stack.request('OPTIONS', '/request-token', {
      headers: {
        Origin: ALLOWED_ORIGIN,
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'authorization',
      },
    });
    assert.ok(res.status === 200 || res.status === 204, `preflight status ${res.status}`);
    assert.equal(header(res, 'access-control-allow-origin'), ALLOWED_ORIGIN);
    assert.match(header(res, 'vary') || '', /(^|,\s*)Origin(\s*,|$)/i);
    const methods = header(res, 'access-control-allow-methods') || '';
    assert.match(methods, /\bGET\b/);
    assert.match(methods, /\bPOST\b/);
    assert.match((header(res, 'access-control-allow-headers') || '').toLowerCase(), /authorization/,
      'requested header not allowed');
    assertNoStore(res);
  });

  test('preflight from the second configured origin', async () => {
    const res = await stack.request('OPTIONS', '/request-token', {
      headers: { Origin: 'http://other-allowed.example', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(header(res, 'access-control-allow-origin'), 'http://other-allowed.example');
  });

  test('preflight from another origin: no ACAO', async () => {
    for (const origin of ['http://evil.example', 'http://allowed.example.evil.example', 'null', 'http://ALLOWED.example:80']) {
      const res = await stack.request('OPTIONS', '/request-token', {
        headers: { Origin: origin, 'Access-Control-Request-Method': 'GET' },
      });
      assert.equal(header(res, 'access-control-allow-origin'), undefined, `ACAO for ${origin}: ${res.status}`);
      assert.notEqual(header(res, 'access-control-allow-origin'), '*');
    }
  });

  test('GET from the allowed origin carries ACAO and Vary: Origin', async (t) => {
    const res = await stack.get({ ttl: '60000' }, { headers: { Origin: ALLOWED_ORIGIN } });
    assertTokenRequest(res, stack, { ttl: 60000 });
    assert.equal(header(res, 'access-control-allow-origin'), ALLOWED_ORIGIN);
    assert.match(header(res, 'vary') || '', /Origin/i);
    if (!/X-Ably-ErrorCode/i.test(header(res, 'access-control-expose-headers') || '')) {
      t.diagnostic('note: no Access-Control-Expose-Headers: X-Ably-ErrorCode on a CORS answer');
    }
  });

  test('an error for the allowed origin is readable cross-origin (ACAO present)', async () => {
    const res = await stack.get({ ttl: 'abc' }, { headers: { Origin: ALLOWED_ORIGIN } });
    assertAblyError(res, 400, [40003]);
    assert.equal(header(res, 'access-control-allow-origin'), ALLOWED_ORIGIN);
  });

  test('GET from another origin still works but gets no ACAO', async () => {
    const res = await stack.get({ ttl: '60000' }, { headers: { Origin: 'http://evil.example' } });
    assertTokenRequest(res, stack, { ttl: 60000 });
    assert.equal(header(res, 'access-control-allow-origin'), undefined);
  });
});

describe('nginx around the endpoint', () => {
  test('serves the static page from www/', async () => {
    const res = await stack.request('GET', '/');
    assert.equal(res.status, 200);
    assert.match(header(res, 'content-type'), /^text\/html/);
    assert.match(res.body, /request-token/);
    const js = await stack.request('GET', '/app.js');
    assert.equal(js.status, 200);
    assert.match(header(js, 'content-type'), /javascript/);
  });

  test('only the exact path goes to the binary', async () => {
    const res = await stack.request('GET', '/request-token/extra');
    assert.equal(res.status, 404);
  });
});

finalChecks(stack);
