// The bad-input table (cases.txt): every hostile or malformed request, sent
// byte for byte through nginx over a raw socket and to the binary run as a
// plain CGI program. Each must get its status with an Ably-shaped error (or
// nginx's own page where nginx answers first), never a 5xx, never a header
// the caller wrote (the marker INJ), never the secret; and a valid request
// must succeed right after it, on the same stack / in the same setup.
//
//   node --test --test-reporter=spec tests/integration/bad-input.test.mjs
//   BAD_INPUT_ONLY=cid- node --test ...   (only cases whose name starts so)

import assert from 'node:assert/strict';
import path from 'node:path';
import { test, describe, before } from 'node:test';
import { useStack, repoRoot, testKey } from './lib/stack.mjs';
import { assertAblyError, assertTokenRequest, finalChecks } from './lib/checks.mjs';
import { loadCases, statusMatches } from './lib/cases.mjs';
import { buildRequest, rawRequest } from './lib/rawhttp.mjs';
import { cgiRequest, writeCgiConfig } from './lib/cgi.mjs';

const SETTINGS = {
  mode: 'token-request',
  capability: { 'chat:*': ['subscribe', 'publish', 'presence'], status: ['subscribe'] },
  ttl: '30m',
  max_ttl: '2h',
  cors_origins: 'http://allowed.example',
  log_level: 'debug', // the secret must not show up even in debug logs
};

const cases = loadCases(path.join(repoRoot, 'tests/integration/cases.txt'))
  .filter((c) => !process.env.BAD_INPUT_ONLY || c.name.startsWith(process.env.BAD_INPUT_ONLY));

const stack = useStack({ config: SETTINGS, emulator: false });
const cgiResponses = [];
const cgiLogs = [];
const cgiConfigs = {};

before(async () => {
  const key = testKey('main');
  cgiConfigs.default = await writeCgiConfig('default.conf', { key, ...SETTINGS });
  cgiConfigs.big = await writeCgiConfig('big.conf', { key, ...SETTINGS, max_body: '1048576' });
});

const SANITIZER = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/;

function where(c, res) {
  return `${c.where} ${c.name}: ${res.status} ${JSON.stringify(res.headers)} ${String(res.body).slice(0, 200)}`;
}

/** What every answer must satisfy, whatever the case expects. */
function checkAnswer(c, res) {
  if (c.status === 'closed') {
    // Nobody left to answer: nginx must hang up at once, not hold the connection.
    assert.equal(res.timedOut, false, `nginx held the connection: ${where(c, res)}`);
    assert.ok(res.status === 0 || (res.status >= 400 && res.status < 500), `unexpected answer: ${where(c, res)}`);
    return;
  }
  assert.ok(res.status > 0, `no answer at all: ${where(c, res)}`);
  assert.ok(res.status < 500, `5xx for bad input: ${where(c, res)}`);
  assert.ok(statusMatches(c.status, res.status), `status ${res.status}, expected ${c.status}: ${where(c, res)}`);
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    const line = `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`;
    assert.ok(!line.includes('INJ'), `request bytes reached a response header: ${line}`);
  }
  if (c.expect.ok) {
    assertTokenRequest(res, stack, { clientId: 'example-client-id' });
    return;
  }
  if (c.nginxShape || c.expect.none) return;
  if (c.method === 'HEAD') {
    // No body to read: the headers carry the error.
    assert.ok(res.headers['x-ably-errorcode'], `HEAD: no X-Ably-ErrorCode: ${where(c, res)}`);
    return;
  }
  const err = assertAblyError(res, res.status, c.expect.codes || null);
  if (c.expect.regex) assert.match(res.body, c.expect.regex);
  assert.ok(!err.message.includes('INJ'), 'request bytes in the error message');
}

describe('through nginx (raw socket)', () => {
  for (const c of cases.filter((x) => x.via !== 'cgi')) {
    test(`${c.name} -> ${c.status}`, { todo: c.todo || undefined }, async () => {
      const headers = [];
      if (c.contentType !== null) headers.push(['Content-Type', c.contentType]);
      headers.push(...c.headers);
      const bytes = buildRequest({
        method: c.method, target: c.target, headers, body: c.body, contentLength: c.contentLength,
      });
      const res = await rawRequest(stack.port, bytes, { halfClose: c.halfClose, label: c.name });
      stack.responses.push(res);
      checkAnswer(c, res);
      // The worker that answered (or the one next to it) still serves.
      const ok = await stack.get({ ttl: 60000 }, { label: `after ${c.name}` });
      assertTokenRequest(ok, stack, { ttl: 60000, clientId: 'example-client-id' });
    });
  }

  test('no worker died or was restarted while the table ran', () => {
    assert.doesNotMatch(stack.binaryLog, /restarting|killed by signal/, stack.binaryLog.slice(-3000));
    assert.doesNotMatch(stack.binaryLog, SANITIZER);
  });
});

describe('as a CGI program', () => {
  // One process per request: a few at a time keeps the suite short.
  describe('cases', { concurrency: 4 }, () => {
  for (const c of cases.filter((x) => x.via !== 'nginx')) {
    test(`${c.name} -> ${c.status}`, { todo: c.todo || undefined }, async () => {
      const res = await cgiRequest({
        method: c.method, target: c.target, contentType: c.contentType, body: c.body,
        contentLength: c.contentLength, headers: Object.fromEntries(c.headers), env: c.env,
        config: cgiConfigs[c.conf], label: c.name,
      });
      cgiResponses.push(res);
      cgiLogs.push(res.stderr);
      assert.equal(res.exit.signal, null, `died of ${res.exit.signal}\n${res.stderr}`);
      assert.equal(res.exit.timedOut, false, 'no answer within 15 s');
      assert.equal(res.exit.code, 0, `exit status ${res.exit.code}\n${res.stderr}`);
      assert.doesNotMatch(res.stderr, SANITIZER);
      assert.deepEqual(res.badLines, [], `malformed CGI header lines: ${JSON.stringify(res.badLines)}`);
      checkAnswer(c, res);
    });
  }
  });

  // Each CGI request is a fresh process, so "the next request still works"
  // is the same check after every case: once, after the whole table, for
  // each config used.
  test('a valid CGI request after the table succeeds', async () => {
    for (const conf of Object.values(cgiConfigs)) {
      const ok = await cgiRequest({ target: '/request-token?ttl=60000', config: conf, label: 'after the table' });
      cgiResponses.push(ok);
      assertTokenRequest(ok, stack, { ttl: 60000, clientId: 'example-client-id' });
    }
  });

  test('the CGI runs never logged the secret or a sanitizer report', () => {
    assert.ok(cgiLogs.length > 0);
    const all = cgiLogs.join('');
    assert.ok(!all.includes(stack.secret), 'the key secret appears in a CGI run\'s stderr');
    assert.doesNotMatch(all, SANITIZER);
  });
});

test('the table is big enough (>= 60 hostile requests answered with a 4xx)', () => {
  const hostile = cases.filter((c) => c.status.startsWith('4'));
  if (!process.env.BAD_INPUT_ONLY) assert.ok(hostile.length >= 60, `only ${hostile.length} 4xx cases`);
});

finalChecks(stack, { extraResponses: () => cgiResponses });
