// Parameter encoding as ably-js really sends it (GET: space as "+", POST:
// %20; "+" itself as %2B; UTF-8), with a configured clientId that needs all
// of it; and a burst of parallel requests against the 2 workers.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import Ably from 'ably';
import { useStack } from './lib/stack.mjs';
import { assertAblyError, assertTokenRequest, finalChecks } from './lib/checks.mjs';

const CLIENT_ID = 'Zoë Smith+1';

const stack = useStack({ config: { mode: 'token-request', client_id: CLIENT_ID } });

function client(extra = {}) {
  return new Ably.Rest({
    authUrl: stack.tokenUrl, restHost: '127.0.0.1', port: stack.emuPort, tls: false,
    useBinaryProtocol: false, logLevel: 0, ...extra,
  });
}

test('the configured clientId (space, "+", UTF-8) comes back exactly', async () => {
  assertTokenRequest(await stack.get(), stack, { clientId: CLIENT_ID });
});

test('asking for it by GET with "+" for space and %2B for "+"', async () => {
  const res = await stack.get('clientId=Zo%C3%AB+Smith%2B1');
  assertTokenRequest(res, stack, { clientId: CLIENT_ID });
});

test('asking for it by POST form with %20 for space', async () => {
  const res = await stack.postForm('clientId=Zo%C3%AB%20Smith%2B1');
  assertTokenRequest(res, stack, { clientId: CLIENT_ID });
});

test('a near miss is refused: "+" decoded as space is another clientId', async () => {
  assertAblyError(await stack.get('clientId=Zo%C3%AB+Smith+1'), 403, [40300]);
});

for (const authMethod of ['GET', 'POST']) {
  test(`ably-js ${authMethod} with ClientOptions clientId "${CLIENT_ID}": authorize and publish`, async () => {
    const rest = client({ authMethod, clientId: CLIENT_ID });
    const details = await rest.auth.authorize();
    assert.equal(details.clientId, CLIENT_ID);
    const ch = rest.channels.get(`enc-${authMethod}`);
    await ch.publish('m', 'x');
    const page = await ch.history();
    assert.equal(page.items[0].clientId, CLIENT_ID);
  });
}

test('a burst of 64 parallel requests (2 workers): every answer is right', async () => {
  const jobs = [];
  for (let i = 0; i < 64; i++) {
    if (i % 4 === 3) jobs.push(stack.get({ ttl: 'bad' }).then((r) => assertAblyError(r, 400, [40003])));
    else if (i % 2) jobs.push(stack.postForm({ ttl: String(60000 + i) }).then((r) => assertTokenRequest(r, stack, { ttl: 60000 + i })));
    else jobs.push(stack.get({ ttl: String(60000 + i) }).then((r) => assertTokenRequest(r, stack, { ttl: 60000 + i })));
  }
  await Promise.all(jobs);
});

finalChecks(stack);
