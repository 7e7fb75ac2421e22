// The demo page (www/) in a real browser against nginx + build/ably-token + the Ably
// emulator (tests/integration/lib/stack.mjs), in token-request and jwt modes, plus the
// errors a person must see as text. /demo-config.json is served by the browser context to
// point the page at the stack's emulator (as `make run` does through nginx).
// The three stacks start together and the tests run concurrently (each in its own browser
// context), so the waits for a renewal overlap.
// Run: node --test tests/e2e/      Screenshots: tests/e2e/out/*.png

import assert from 'node:assert/strict';
import { test, describe, before, after } from 'node:test';
import { startStack } from '../integration/lib/stack.mjs';
import {
  vendorAblyJs, launch, openPage, connect, expectThreeTicks, waitForRenewals, publishAndReceive, screenshot, text,
  onFailureShot,
} from './lib/browser.mjs';

const STACKS = {
  tokenRequest: { config: { mode: 'token-request', client_id: 'e2e-alice', max_ttl: '1h' } },
  jwt: { config: { mode: 'jwt', client_id: 'e2e-bob' } },
  noKey: { key: null, emulator: false },
};
const h = {}; // name -> started stack
let browser;

before(async () => {
  vendorAblyJs();
  const names = Object.keys(STACKS);
  const started = await Promise.allSettled([launch(), ...names.map((n) => startStack(STACKS[n]))]);
  if (started[0].status === 'fulfilled') browser = started[0].value;
  names.forEach((n, i) => {
    if (started[i + 1].status === 'fulfilled') h[n] = started[i + 1].value;
  });
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}, { timeout: 60000 });

after(async () => {
  if (browser) await browser.close();
  await Promise.all(Object.values(h).map((s) => s.stop()));
});

const emulatorConfig = (stack) => ({ emulator: true, host: '127.0.0.1', port: stack.emuPort });

/* Connect, three ✓, the credential panel, one renewal, publish/receive; returns the page. */
async function fullFlow(stack, { name, connectOpts, clientId, type }) {
  const page = await openPage(browser, { demoConfig: emulatorConfig(stack) });
  await onFailureShot(page, name, async () => {
    await page.goto(stack.baseUrl + '/');
    await connect(page, connectOpts);
    await expectThreeTicks(page);
    assert.equal(await text(page, '#cred-clientId'), clientId);
    assert.match(await text(page, '#cred-type'), type);
    assert.match(await text(page, '#cred-capability'), /\*.*everything/);
    assert.match(await text(page, '#cred-countdown'), /^\((in \d+ s|expired)\)$/);
    const firstExpiry = await text(page, '#cred-expires');

    await publishAndReceive(page, name);
    const received = await text(page, '#received');
    assert.match(received, new RegExp(clientId));

    // ttl 4 s: the emulator asks for a new credential before expiry, ably-js fetches one.
    const renewals = await waitForRenewals(page, 1); // newest first
    assert.match(renewals.at(-1), /^Renewal 1 at .* from \/request-token in \d+ ms/);
    await page.waitForFunction((old) => document.getElementById('cred-expires').textContent !== old, firstExpiry, { timeout: 5000 });
    await page.waitForFunction(() => /Connected/.test(document.getElementById('status').textContent), null, { timeout: 10000 });
    assert.equal(await page.getAttribute('#step-connected', 'data-state'), 'done');
    await publishAndReceive(page, `${name} after renewal`);

    await screenshot(page, name);
    const html = await page.content();
    assert.ok(!html.includes(stack.secret), 'the key secret reached the page');
    assert.deepEqual(page.errors, []);
    assert.deepEqual(page.offsite, []);
  });
  return page;
}

describe('the demo page', { concurrency: true }, () => {
  test('token-request mode, authUrl: connected, credential, renewal, publish and receive', async () => {
    const page = await fullFlow(h.tokenRequest, {
      name: 'token-request-authUrl',
      connectOpts: { auth: 'authUrl', method: 'GET' },
      clientId: 'e2e-alice',
      type: /TokenRequest, exchanged by ably-js/,
    });
    assert.match(await text(page, '#step-init'), /TokenRequest exchanged at Ably/);
    await page.closeAll();
    const s = (await h.tokenRequest.emulatorStats()).realtime;
    assert.ok(s.reauthorized >= 1, JSON.stringify(s));
  });

  test('a clientId the server does not give out is refused: 403 shown as text', async () => {
    const page = await openPage(browser, { demoConfig: emulatorConfig(h.tokenRequest) });
    await page.goto(h.tokenRequest.baseUrl + '/');
    await connect(page, { clientId: 'mallory' });
    await page.waitForSelector('#step-token[data-state="failed"]', { timeout: 10000 });
    const err = await text(page, '#error');
    assert.match(err, /40300/);
    assert.match(err, /403/);
    assert.match(await text(page, '#status'), /failed/);
    assert.equal(await page.getAttribute('#step-connected', 'data-state'), 'todo');
    await screenshot(page, 'error-clientid-refused');
    await page.closeAll();
  });

  test('the raw answer panel shows the TokenRequest as it came', async () => {
    const page = await openPage(browser, { demoConfig: emulatorConfig(h.tokenRequest) });
    await page.goto(h.tokenRequest.baseUrl + '/');
    await page.click('#request-token');
    await page.waitForFunction(() => /HTTP 200/.test(document.getElementById('raw-status').textContent));
    assert.match(await text(page, '#raw-status'), /a TokenRequest \(application\/json\)/);
    assert.match(await text(page, '#raw-output'), /"keyName": "TESTAPP\.fulltest"/);
    await page.closeAll();
  });

  test('jwt mode, authCallback with fetch (POST): connected, credential, renewal, publish and receive', async () => {
    const page = await fullFlow(h.jwt, {
      name: 'jwt-authCallback',
      connectOpts: { auth: 'authCallback', method: 'POST' },
      clientId: 'e2e-bob',
      type: /^JWT/,
    });
    assert.match(await text(page, '#step-token'), /got a JWT/);
    assert.match(await text(page, '#step-init'), /JWT used as is/);
    await page.closeAll();
  });

  test('no key configured: the endpoint\'s 500 is shown in plain words with its code; nothing reaches Ably', async () => {
    // No /demo-config.json here: the page would talk to real Ably, but it never gets a credential.
    const page = await openPage(browser);
    await page.goto(h.noKey.baseUrl + '/');
    await page.waitForSelector('#where:not([hidden])');
    assert.match(await text(page, '#where'), /talks to Ably/);
    await connect(page, { ttl: '60000' });
    await page.waitForSelector('#step-token[data-state="failed"]', { timeout: 10000 });
    const err = await text(page, '#error');
    assert.match(err, /error 50000/);
    assert.match(err, /HTTP 500/);
    assert.match(err, /no Ably key configured/);
    assert.match(err, /could not get a credential/);
    assert.match(await text(page, '#status'), /disconnected.*tries again/);
    for (const id of ['step-init', 'step-connected']) assert.equal(await page.getAttribute(`#${id}`, 'data-state'), 'todo');
    await screenshot(page, 'error-no-key');
    assert.deepEqual(page.offsite, []);
    assert.deepEqual(page.errors, []);
    await page.closeAll();
  });
});
