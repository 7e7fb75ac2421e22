// ably-js (the real client) end to end, token-request mode: ably-js calls
// /request-token through nginx, exchanges the TokenRequest with the emulator
// (which checks the mac, timestamp and nonce like Ably), then publishes with
// the token.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useStack } from './lib/stack.mjs';
import { finalChecks } from './lib/checks.mjs';
import { ablyClient, publishAndReadBack, rejection } from './lib/ablyjs.mjs';

const stack = useStack({ config: { mode: 'token-request' } });

// ably-js's most verbose log includes every authUrl answer it received (body
// and content type); the secret check at the end looks through it.
const ablyLog = [];

/** An ably-js REST client using our authUrl and the emulator as "Ably". */
const client = (extra = {}) => ablyClient(stack, ablyLog, extra);

test('authorize() (GET authUrl) yields TokenDetails for example-client-id, then publish works', async () => {
  const rest = client();
  const details = await rest.auth.authorize();
  assert.equal(typeof details.token, 'string');
  assert.ok(details.token.length > 0);
  assert.equal(details.clientId, 'example-client-id');
  assert.equal(details.capability, '{"*":["*"]}');
  assert.ok(details.expires > Date.now());
  await publishAndReadBack(rest, 'e2e-get');
});

test('authMethod POST works the same', async () => {
  const rest = client({ authMethod: 'POST' });
  const details = await rest.auth.authorize();
  assert.equal(details.clientId, 'example-client-id');
  await publishAndReadBack(rest, 'e2e-post');
});

test('TokenParams from ably-js reach the endpoint (ttl, capability) and bind the token', async () => {
  const rest = client();
  const details = await rest.auth.authorize({ ttl: 120000, capability: { 'chat:*': ['publish', 'history'] } });
  assert.equal(details.expires - details.issued, 120000);
  assert.equal(details.capability, '{"chat:*":["history","publish"]}');
  await publishAndReadBack(rest, 'chat:lobby');
  // The emulator enforces the narrowed capability on the token.
  const err = await rejection(rest.channels.get('elsewhere').publish('x', 'y'));
  assert.equal(err.statusCode, 401, `unexpected ${err.code} ${err.statusCode}: ${err.message}`);
  assert.equal(err.code, 40160);
});

test('ClientOptions clientId example-client-id is accepted', async () => {
  const rest = client({ clientId: 'example-client-id' });
  const details = await rest.auth.authorize();
  assert.equal(details.clientId, 'example-client-id');
  await publishAndReadBack(rest, 'e2e-clientid');
});

test('ClientOptions clientId mallory: the authUrl answers 403 and ably-js reports 40300', async () => {
  for (const authMethod of ['GET', 'POST']) {
    const rest = client({ clientId: 'mallory', authMethod });
    const err = await rejection(rest.auth.authorize());
    assert.equal(err.code, 40300, `${authMethod}: code ${err.code}: ${err.message}`);
    assert.equal(err.statusCode, 403, `${authMethod}: statusCode`);
  }
});

test('a bad ttl asked through ably-js comes back as 40003/400', async () => {
  const rest = client();
  const err = await rejection(rest.auth.authorize({ ttl: 5 }));
  assert.equal(err.code, 40003, err.message);
  assert.equal(err.statusCode, 400);
});

test('ably-js renews: two authorize() calls give two tokens from two TokenRequests', async () => {
  const rest = client();
  const a = await rest.auth.authorize();
  const b = await rest.auth.authorize();
  assert.notEqual(a.token, b.token);
});

test('the emulator saw no signature, timestamp or nonce errors', async () => {
  const stats = await stack.emulatorStats();
  assert.ok(stats.tokensIssued >= 6, `tokensIssued ${stats.tokensIssued}`);
  for (const code of ['40101', '40104', '40105', '40000', '40003']) {
    assert.ok(!stats.errorCodes[code], `emulator answered ${code} ${stats.errorCodes[code]} time(s): ${JSON.stringify(stats.errorCodes)}`);
  }
});

test('ably-js received the authUrl answers (the log the secret check reads)', () => {
  assert.ok(ablyLog.some((l) => /Received; content-type: application\/json/.test(l) && /"mac"/.test(l)),
    'no authUrl answer in the ably-js log');
});

test('raw requests like the ones ably-js made', async () => {
  assert.equal((await stack.get({ clientId: 'example-client-id' })).status, 200);
  assert.equal((await stack.get({ clientId: 'mallory' })).status, 403);
  assert.equal((await stack.postForm({ ttl: '5' })).status, 400);
});

finalChecks(stack, {
  extraResponses: () => [{
    method: 'ably-js', path: '(log of everything ably-js received)', status: 0,
    raw: Buffer.from(ablyLog.join('\n')), body: ablyLog.join('\n'), rawHeaders: [],
  }],
});
