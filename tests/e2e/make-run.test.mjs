// `make run` in a real browser: scripts/run-demo.sh with no key (emulator + test key +
// binary in its default mode + nginx with the emulator's REST paths and realtime WebSocket
// proxied on the page's own origin), opened at http://localhost:PORT/ as a person would.
// Also checks the page on a phone-sized screen. Runs in a scratch dir with an empty .env,
// so a real .env and a running demo are left alone.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test, describe, before, after } from 'node:test';
import { startDemo, sleep } from '../integration/lib/stack.mjs';
import {
  launch, openPage, connect, expectThreeTicks, waitForRenewals, publishAndReceive, screenshot, text, onFailureShot,
} from './lib/browser.mjs';

let demo;
let dir;
let port;
let stopDemo;
let browser;

before(async () => {
  ({ demo, dir, port, stop: stopDemo } = await startDemo('ably-token-e2e-'));
  browser = await launch();
}, { timeout: 40000 });

after(async () => {
  if (browser) await browser.close();
  if (stopDemo) await stopDemo();
});

describe('make run', { concurrency: true }, () => {
  test('make run offline: Connect gives three ✓, TokenDetails, a renewal, and messages through nginx', async () => {
    const page = await openPage(browser);
    await onFailureShot(page, 'make-run', async () => {
      await page.goto(`http://localhost:${port}/`);
      await page.waitForSelector('#where:not([hidden])');
      assert.match(await text(page, '#where'), /local Ably emulator with a TEST key/);
      await connect(page, { auth: 'authUrl', method: 'POST' });
      await expectThreeTicks(page);
      assert.equal(await text(page, '#cred-clientId'), 'example-client-id');
      assert.match(await text(page, '#cred-type'), /TokenDetails|TokenRequest/);
      await publishAndReceive(page, 'make-run');
      const renewals = await waitForRenewals(page, 1);
      assert.match(renewals.at(-1), /^Renewal 1 /); // newest first
      await publishAndReceive(page, 'make-run after renewal');
      await screenshot(page, 'make-run');
      assert.deepEqual(page.errors, []);
      assert.deepEqual(page.offsite, []);
    });
    await page.closeAll();
    // The page only ever talked to its own origin: the WebSocket went through nginx, which
    // logs it (101) once it is closed.
    const wsLine = /"GET \/\?access_token=[^"]*format=json[^"]*" 101 /;
    let access = '';
    for (let i = 0; i < 50 && !wsLine.test(access); i++) {
      await sleep(100);
      access = await fs.readFile(path.join(dir, 'run/nginx/logs/access.log'), 'utf8').catch(() => '');
    }
    assert.match(access, wsLine);
  });

  test('on a phone-sized screen: no sideways scrolling, every control labelled, keyboard works', async () => {
    const page = await openPage(browser, { viewport: { width: 375, height: 740 } });
    await page.goto(`http://localhost:${port}/`);
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, button')]
      .filter((e) => !(e.labels && e.labels.length) && !e.closest('label') && !e.textContent.trim() && !e.getAttribute('aria-label'))
      .map((e) => e.id || e.name));
    assert.deepEqual(unlabelled, []);
    // Tab from the top reaches the Connect button; Enter presses it.
    let reached = false;
    for (let i = 0; i < 20 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement && document.activeElement.id === 'connect');
    }
    assert.ok(reached, 'Connect cannot be reached with Tab');
    await page.keyboard.press('Enter');
    await expectThreeTicks(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
    assert.equal(await page.getAttribute('#status', 'aria-live'), 'polite');
    await screenshot(page, 'phone');
    await page.closeAll();
  });
});
