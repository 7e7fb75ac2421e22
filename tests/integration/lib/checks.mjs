// Assertions shared by the integration tests: Ably error answers, TokenRequests,
// JWTs, and the checks every file ends with (no secret anywhere, clean stop).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

/** Header value as one string (node joins repeated headers except set-cookie). */
export function header(res, name) {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}

function where(res) {
  return `${res.method} ${res.path} -> ${res.status} ${JSON.stringify(res.headers)} ${res.body.slice(0, 300)}`;
}

export function assertNoStore(res) {
  const cc = header(res, 'cache-control') || '';
  assert.ok(/(^|,\s*)no-store(\s*,|$)/.test(cc), `Cache-Control: no-store expected: ${where(res)}`);
}

/**
 * An error in Ably's shape: status, exactly `application/json`, X-Ably-ErrorCode
 * (= body error.code), X-Ably-ErrorMessage, body {error:{message,code,statusCode,href}},
 * Cache-Control: no-store. codes: the acceptable error codes (any if omitted).
 * Returns the parsed error.
 */
export function assertAblyError(res, status, codes = null) {
  assert.equal(res.status, status, `status: ${where(res)}`);
  assert.equal(header(res, 'content-type'), 'application/json', `Content-Type: ${where(res)}`);
  assertNoStore(res);
  let body;
  try {
    body = JSON.parse(res.body);
  } catch (e) {
    assert.fail(`error body is not JSON: ${where(res)}`);
  }
  const err = body && body.error;
  assert.ok(err && typeof err === 'object', `body has no "error" object: ${where(res)}`);
  assert.equal(typeof err.message, 'string', `error.message: ${where(res)}`);
  assert.ok(err.message.length > 0, `error.message is empty: ${where(res)}`);
  assert.equal(typeof err.code, 'number', `error.code: ${where(res)}`);
  assert.equal(err.statusCode, status, `error.statusCode: ${where(res)}`);
  assert.equal(typeof err.href, 'string', `error.href: ${where(res)}`);
  const hc = header(res, 'x-ably-errorcode');
  assert.ok(hc !== undefined, `X-Ably-ErrorCode header missing: ${where(res)}`);
  assert.equal(Number(hc), err.code, `X-Ably-ErrorCode header vs body code: ${where(res)}`);
  assert.ok(header(res, 'x-ably-errormessage'), `X-Ably-ErrorMessage header missing: ${where(res)}`);
  if (codes) assert.ok(codes.includes(err.code), `error code ${err.code} not one of ${codes}: ${where(res)}`);
  return err;
}

/** The text ably-js and Ably sign (the TokenRequest mac). */
export function signedText(tr) {
  const f = (v) => (v === undefined || v === null || v === 0 || v === '' ? '' : String(v));
  return [tr.keyName, tr.ttl, tr.capability, tr.clientId, tr.timestamp, tr.nonce].map(f).join('\n') + '\n';
}

export function expectedMac(tr, secret) {
  return crypto.createHmac('sha256', Buffer.from(secret, 'utf8')).update(signedText(tr), 'utf8').digest('base64');
}

/**
 * A 200 TokenRequest answer, checked field by field and its mac recomputed.
 * want: {clientId, ttl, capability (object or canonical string)}; a key present
 * with value undefined means "must be absent". Returns the TokenRequest.
 */
export function assertTokenRequest(res, stack, want = {}) {
  assert.equal(res.status, 200, `status: ${where(res)}`);
  assert.ok((header(res, 'content-type') || '').startsWith('application/json'), `Content-Type: ${where(res)}`);
  assertNoStore(res);
  assert.ok(!res.body.endsWith('\n'), `success body ends with a newline: ${where(res)}`);
  const tr = JSON.parse(res.body);
  assert.equal(tr.keyName, stack.keyName, 'keyName');
  assert.equal(typeof tr.timestamp, 'number', 'timestamp is a number');
  assert.ok(Math.abs(tr.timestamp - Date.now()) < 60_000, `timestamp ${tr.timestamp} is not now`);
  assert.equal(typeof tr.nonce, 'string', 'nonce is a string');
  assert.ok(tr.nonce.length >= 16, `nonce "${tr.nonce}" shorter than 16`);
  assert.equal(typeof tr.mac, 'string', 'mac is a string');
  assert.equal(tr.mac, expectedMac(tr, stack.secret), 'mac does not verify with the key secret');
  if ('ttl' in tr) assert.equal(typeof tr.ttl, 'number', 'ttl is a number');
  if ('capability' in tr) {
    assert.equal(typeof tr.capability, 'string', 'capability is a JSON string');
    JSON.parse(tr.capability);
  }
  if ('clientId' in want) assert.equal(tr.clientId, want.clientId, 'clientId');
  if ('ttl' in want) assert.equal(tr.ttl, want.ttl, 'ttl');
  if ('capability' in want) {
    const c = typeof want.capability === 'string' ? want.capability : JSON.stringify(want.capability);
    assert.equal(tr.capability, c, 'capability');
  }
  return tr;
}

function b64urlJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** Split, decode and verify an HS256 JWT with secret. Returns {header, claims}. */
export function verifyJwt(jwt, secret) {
  const parts = jwt.split('.');
  assert.equal(parts.length, 3, `not a JWT: ${jwt.slice(0, 80)}`);
  for (const p of parts) assert.match(p, /^[A-Za-z0-9_-]+$/, 'JWT parts are base64url without padding');
  const sig = crypto.createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${parts[0]}.${parts[1]}`).digest('base64url');
  assert.equal(parts[2], sig, 'JWT signature does not verify with the key secret');
  return { header: b64urlJson(parts[0]), claims: b64urlJson(parts[1]) };
}

/** Where (if anywhere) the secret shows up in one response. */
function secretIn(res, secret) {
  const hits = [];
  if (res.raw && res.raw.includes(Buffer.from(secret, 'utf8'))) hits.push('body');
  // Also the base64 forms, in case something encodes the key.
  for (const enc of ['base64', 'base64url']) {
    const b = Buffer.from(secret, 'utf8').toString(enc).replace(/=+$/, '');
    if (b.length >= 8 && res.body.includes(b)) hits.push(`body (${enc})`);
  }
  for (let i = 0; i < (res.rawHeaders || []).length; i += 2) {
    if (`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`.includes(secret)) hits.push(`header ${res.rawHeaders[i]}`);
  }
  return hits;
}

/**
 * The tests every file ends with (they run after all others, in order):
 *   - the key secret appears in no collected response, nor in the binary's log;
 *   - on SIGTERM the binary exits 0 in time, leaves no worker behind and
 *     prints no sanitizer report.
 */
export function finalChecks(stack, { extraResponses = () => [] } = {}) {
  test('the key secret never appears in any response body or header', () => {
    const all = stack.responses.concat(extraResponses());
    assert.ok(all.length > 0, 'no responses were collected');
    const leaks = [];
    for (const r of all) {
      const hits = secretIn(r, stack.secret);
      if (hits.length) leaks.push(`${r.method} ${r.path} (${r.status}): ${hits.join(', ')}`);
    }
    assert.deepEqual(leaks, [], `secret leaked in ${leaks.length} of ${all.length} responses`);
  });

  test('ably-token stops cleanly on SIGTERM, and never logged the secret', async (t) => {
    const report = await stack.stack.stop();
    const bin = report.binary;
    const log = stack.binaryLog;
    assert.ok(!log.includes(stack.secret), 'the key secret appears in the binary\'s stderr');
    assert.doesNotMatch(log, /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/,
      `sanitizer report in the binary's stderr:\n${log.slice(-4000)}`);
    assert.equal(bin.forced, false, `ably-token did not exit within 5 s of SIGTERM`);
    assert.equal(bin.stragglers, false, 'worker processes were left running after the parent exited');
    assert.equal(bin.signal, null, `ably-token died of signal ${bin.signal}`);
    assert.equal(bin.code, 0, `ably-token exit status ${bin.code}; stderr tail:\n${log.slice(-2000)}`);
    if (stack.stack.socketLeft) t.diagnostic('note: the unix socket file was left behind after exit');
  });
}
