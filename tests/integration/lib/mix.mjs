// A mixed request load for the memory and soak checks: mostly valid token
// requests in every form ably-js sends, plus health checks, CORS preflights
// and a sample of the bad-input table, so error paths are exercised (and
// checked for leaks) as often as the happy path.
//
//   const mix = requestMix(stack, { bad: 0.25 });
//   const tally = await runMix(mix, 300, { concurrency: 4 });

import path from 'node:path';
import { repoRoot } from './stack.mjs';
import { loadCases } from './cases.mjs';
import { buildRequest, rawRequest } from './rawhttp.mjs';

/** Bad-input cases that go through nginx quickly (no half-close, no huge bodies). */
export function quickBadCases() {
  return loadCases(path.join(repoRoot, 'tests/integration/cases.txt')).filter((c) =>
    c.via !== 'cgi' && !c.halfClose && c.status !== 'closed' &&
    (c.body ? c.body.length : 0) + c.target.length < 32 * 1024);
}

/**
 * Request makers for a stack: next() sends one and resolves {kind, res, ok}:
 * ok means 200 for a valid request (200/204 for health and preflight) and
 * "answered, no 5xx" for a bad one.
 */
export function requestMix(stack, { bad = 0.25, origin = null } = {}) {
  const headers = origin ? { Origin: origin } : {};
  const valid = [
    () => stack.get({ ttl: 60000 }, { headers }),
    () => stack.get({ ttl: 120000, clientId: 'example-client-id', rnd: String(Math.random()).slice(2) }, { headers }),
    () => stack.postForm({ ttl: '90000', capability: '{"chat:*":["subscribe"]}' }, { headers }),
    () => stack.postJson({ ttl: 60000, capability: { 'chat:room': ['publish', 'subscribe'] } }, { headers }),
  ];
  const extra = [
    () => stack.request('GET', '/healthz'),
    () => stack.request('OPTIONS', '/request-token', {
      headers: { Origin: 'http://allowed.example', 'Access-Control-Request-Method': 'POST' },
    }),
  ];
  const cases = quickBadCases();
  const badMakers = cases.map((c) => async () => {
    const hdrs = [];
    if (c.contentType !== null) hdrs.push(['Content-Type', c.contentType]);
    hdrs.push(...c.headers);
    const res = await rawRequest(stack.port, buildRequest({
      method: c.method, target: c.target, headers: hdrs, body: c.body, contentLength: c.contentLength,
    }), { label: c.name });
    return res;
  });
  let i = 0;
  return async function next() {
    i++;
    const r = Math.random();
    let res;
    let kind;
    if (r < bad && badMakers.length) {
      const k = Math.floor(Math.random() * badMakers.length);
      kind = `bad:${cases[k].name}`;
      res = await badMakers[k]();
      // Whether each case gets exactly its status is bad-input.test.mjs's
      // business; here a bad request must simply be answered, without a 5xx.
      return { kind, res, ok: res.status >= 200 && res.status < 500 };
    }
    if (r < bad + 0.05) {
      kind = 'extra';
      res = await extra[i % extra.length]();
      return { kind, res, ok: res.status === 200 || res.status === 204 };
    }
    kind = 'valid';
    res = await valid[i % valid.length]();
    return { kind, res, ok: res.status === 200 };
  };
}

/** Run n requests from next() with some concurrency; tally the outcomes. */
export async function runMix(next, n, { concurrency = 4, keep = null } = {}) {
  const tally = { sent: 0, ok: 0, failed: 0, byStatus: {}, failures: [] };
  let started = 0;
  async function worker() {
    while (started < n) {
      started++;
      tally.sent++;
      let out;
      try {
        out = await next();
      } catch (e) {
        out = { kind: 'error', res: { status: 0, body: e.message }, ok: false };
      }
      tally.byStatus[out.res.status] = (tally.byStatus[out.res.status] || 0) + 1;
      if (keep) keep(out.res);
      if (out.ok) tally.ok++;
      else {
        tally.failed++;
        if (tally.failures.length < 10) tally.failures.push(`${out.kind}: ${out.res.status} ${String(out.res.body).slice(0, 160)}`);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return tally;
}
