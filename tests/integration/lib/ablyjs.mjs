// The ably-js end-to-end check of ably-js.test.mjs, for any hosting path:
// ably-js (the real client) calls the authUrl, exchanges the TokenRequest
// with the emulator (which checks mac, timestamp and nonce like Ably), then
// publishes with the token and reads the message back; a foreign clientId is
// refused with 40300.
//
//   const log = ablyJsTests(stack, { label: 'Apache mod_fcgid' });
//   finalChecks(stack, { extraResponses: () => [ablyLogResponse(log)] });
//
// `stack` needs tokenUrl and emuPort (a useStack() handle or a hosting stack);
// it is read when the tests run, so it may be filled in by before().
// Imports nothing from stack.mjs on purpose (see hosting-systemd.test.mjs).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import Ably from 'ably';

/** An ably-js REST client on `tokenUrl`, with the emulator as "Ably". */
export function ablyClient(target, log, extra = {}) {
  return new Ably.Rest({
    authUrl: target.tokenUrl,
    restHost: '127.0.0.1',
    port: target.emuPort,
    tls: false,
    useBinaryProtocol: false,
    // The most verbose level includes every authUrl answer ably-js received;
    // the secret check at the end looks through it.
    logLevel: 4,
    logHandler: (msg) => log.push(String(msg)),
    ...extra,
  });
}

/** Publish with the client's token, then find the message in the history. */
export async function publishAndReadBack(rest, channelName) {
  const channel = rest.channels.get(channelName);
  const data = `hello ${Math.random()}`;
  await channel.publish('greeting', data);
  const page = await channel.history();
  assert.ok(page.items.some((m) => m.name === 'greeting' && m.data === data), 'published message not in history');
}

/** The error ably-js rejects with, for assertions on code/statusCode. */
export async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  return assert.fail('expected ably-js to fail');
}

/**
 * Register the ably-js tests for `stack` (GET and POST authorize + publish,
 * clientId refused). Returns the array that collects ably-js's log.
 * opts.label names the hosting path in the test titles; opts.clientId is the
 * identity the endpoint is configured with (default example-client-id);
 * opts.answer matches an authUrl answer in ably-js's log (default: a
 * TokenRequest's "mac"; /"issued"/ for token mode's TokenDetails).
 */
export function ablyJsTests(stack, {
  label = '', clientId = 'example-client-id', channelPrefix = 'hosting', answer = /"mac"/,
} = {}) {
  const log = [];
  const at = label ? ` (${label})` : '';

  test(`ably-js authorize() via GET authUrl, then publish through the emulator${at}`, async () => {
    const rest = ablyClient(stack, log);
    const details = await rest.auth.authorize();
    assert.equal(typeof details.token, 'string');
    assert.ok(details.token.length > 0, 'empty token');
    assert.equal(details.clientId, clientId);
    assert.ok(details.expires > Date.now(), 'token already expired');
    await publishAndReadBack(rest, `${channelPrefix}-get`);
  });

  test(`ably-js with authMethod POST works the same${at}`, async () => {
    const rest = ablyClient(stack, log, { authMethod: 'POST' });
    const details = await rest.auth.authorize({ ttl: 120000 });
    assert.equal(details.clientId, clientId);
    assert.equal(details.expires - details.issued, 120000);
    await publishAndReadBack(rest, `${channelPrefix}-post`);
  });

  test(`ably-js asking for another clientId gets 40300/403${at}`, async () => {
    const rest = ablyClient(stack, log, { clientId: 'mallory' });
    const err = await rejection(rest.auth.authorize());
    assert.equal(err.code, 40300, `code ${err.code}: ${err.message}`);
    assert.equal(err.statusCode, 403);
  });

  test(`ably-js received the authUrl answers${at}`, () => {
    assert.ok(log.some((l) => /Received; content-type: application\/json/.test(l) && answer.test(l)),
      'no authUrl answer in the ably-js log');
  });

  return log;
}

/** ably-js's log as a pseudo-response for finalChecks' secret check. */
export function ablyLogResponse(log) {
  const text = log.join('\n');
  return {
    method: 'ably-js', path: '(log of everything ably-js received)', status: 0,
    raw: Buffer.from(text), body: text, rawHeaders: [],
  };
}
