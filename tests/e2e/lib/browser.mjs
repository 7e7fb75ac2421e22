// Browser side of the e2e tests: Debian's Chromium driven by playwright-core (never a
// browser download), a fresh profile per launch, and helpers that drive www/ the way a
// person does. The servers come from tests/integration/lib/stack.mjs.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { repoRoot } from '../../integration/lib/stack.mjs';

export const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
export const outDir = path.join(repoRoot, 'tests/e2e/out');

/* ably-js's browser build into www/vendor/, as `make run` does (gitignored). */
export function vendorAblyJs() {
  const src = path.join(repoRoot, 'node_modules/ably/build/ably.min.js');
  const dst = path.join(repoRoot, 'www/vendor/ably.min.js');
  if (!fs.existsSync(src)) throw new Error(`${src} is missing: run npm ci`);
  const same = fs.existsSync(dst) && fs.readFileSync(src).equals(fs.readFileSync(dst));
  if (!same) {
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.copyFileSync(src, `${dst}.tmp.${process.pid}`);
    fs.renameSync(`${dst}.tmp.${process.pid}`, dst);
  }
}

/* Headless Chromium with a fresh temporary profile (playwright's default for launch()). */
export function launch() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (scripts/install-deps.sh)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * A new page in its own context. Requests to anything but loopback are aborted (and
 * recorded in page.offsite), so no test can reach Ably. Page errors are collected in
 * page.errors. `demoConfig`, if given, is served as /demo-config.json.
 */
export async function openPage(browser, { demoConfig, viewport } = {}) {
  const context = await browser.newContext({ viewport: viewport || { width: 900, height: 1000 } });
  const page = await context.newPage();
  page.offsite = [];
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === 'data:' || LOCAL_HOSTS.has(url.hostname)) return route.continue();
    page.offsite.push(url.href);
    return route.abort();
  });
  if (demoConfig) {
    await context.route('**/demo-config.json', (route) => route.fulfill({
      status: 200, contentType: 'application/json', body: JSON.stringify(demoConfig),
    }));
  }
  page.closeAll = () => context.close();
  return page;
}

export const text = (page, sel) => page.locator(sel).innerText();

/* Fill the connect form and press Connect (with the keyboard, as it should work). */
export async function connect(page, { ttl = '4000', auth = 'authUrl', method = 'GET', clientId = '', capability = '' } = {}) {
  await page.fill('#ttl', ttl);
  await page.fill('#clientId', clientId);
  await page.fill('#capability', capability);
  await page.check(`input[name="auth"][value="${auth}"]`);
  await page.selectOption('#method', method);
  await page.focus('#connect');
  await page.keyboard.press('Enter');
}

/* All three steps ✓ (data-state and the visible mark agree). */
export async function expectThreeTicks(page, timeout = 20000) {
  try {
    await page.waitForSelector('#step-connected[data-state="done"]', { timeout });
  } catch (e) {
    e.message += `\nsteps: ${await text(page, '#steps')}\nstatus: ${await text(page, '#status')}\n` +
      `error: ${await page.locator('#error').textContent()}`;
    throw e;
  }
  for (const id of ['step-token', 'step-init', 'step-connected']) {
    assert.equal(await page.getAttribute(`#${id}`, 'data-state'), 'done', id);
    assert.equal((await page.locator(`#${id} .mark`).textContent()).trim(), '✓', id);
  }
}

/* Wait until the page lists at least `n` renewals; returns their texts. */
export async function waitForRenewals(page, n = 1, timeout = 15000) {
  await page.waitForFunction((k) => document.querySelectorAll('#renewals li').length >= k, n, { timeout });
  return page.locator('#renewals li').allInnerTexts();
}

/* Publish a unique message from the page and wait until it comes back over realtime. */
export async function publishAndReceive(page, label) {
  const msg = `e2e ${label} ${Date.now()}`;
  await page.fill('#message', msg);
  await page.click('#publish');
  await page.waitForFunction((m) => [...document.querySelectorAll('#received li')].some((li) => li.textContent.includes(m)),
    msg, { timeout: 10000 });
  return msg;
}

export async function screenshot(page, name) {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/* Run fn(); if it fails, save NAME-failed.png and add what the page says to the error. */
export async function onFailureShot(page, name, fn) {
  try {
    return await fn();
  } catch (e) {
    try {
      await screenshot(page, `${name}-failed`);
      e.message += `\n(page: tests/e2e/out/${name}-failed.png)\nstatus: ${await text(page, '#status')}\n` +
        `error: ${await page.locator('#error').textContent()}\nsteps: ${(await text(page, '#steps')).replace(/\s+/g, ' ')}`;
    } catch { /* the page is gone */ }
    throw e;
  }
}
