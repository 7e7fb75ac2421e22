// Structured logs and trace context through real nginx (issue 14, part 5):
// with log_format = json every line the binary writes to stderr is one
// JSON object; a request's closing line carries nginx's $request_id (the
// example passes it as REQUEST_ID; the test's rendered config also sends
// it back as X-Request-ID, which the shipped example does not), method,
// status, Ably's code, mode, identity source, rule, clientId, ttl, the
// upstream host, tries and latency in token mode, the trace id and the
// duration. A valid traceparent reaches "Ably" (the emulator records what
// it got); an invalid one is ignored and not passed on. With log_format =
// text the same request id and trace id are on the text line; a reload
// (SIGHUP) switches the format, and a refused one leaves it.

import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import { test, after, describe } from 'node:test';
import { useStack, startEmulator, sleep } from './lib/stack.mjs';
import { assertAblyError } from './lib/checks.mjs';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const traceparent = (span) => `00-${TRACE_ID}-${span}-01`;

// nginx answers with its $request_id, so a test knows which id to look for.
const addRequestIdHeader = (text) => {
  const out = text.replace(/location = \/request-token \{\n/,
    (m) => `${m}            add_header X-Request-ID $request_id always;\n`);
  assert.notEqual(out, text, 'no token location in the rendered nginx config');
  return out;
};

let fallback = null;
after(async () => {
  if (fallback) await fallback.proc.stop();
});

/** Every line of the binary's stderr so far, each parsed as JSON (fails on one that is not). */
function jsonLines(stack) {
  const text = stack.procs.binary.err;
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'stderr does not end with a whole line');
  return lines.map((l, i) => {
    try {
      return JSON.parse(l);
    } catch (e) {
      assert.fail(`stderr line ${i + 1} is not JSON (${e.message}): ${l}`);
    }
  });
}

/** The closing line of the request nginx called rid (lines are written once per batch: wait). */
async function requestLine(stack, rid) {
  for (let i = 0; i < 100; i++) {
    const found = jsonLines(stack).filter((o) => o.request_id === rid && o.msg === 'request');
    if (found.length) {
      assert.equal(found.length, 1, `more than one closing line for ${rid}`);
      return found[0];
    }
    await sleep(50);
  }
  assert.fail(`no log line for request ${rid}:\n${stack.procs.binary.err.slice(-3000)}`);
}

function requestId(res) {
  const rid = res.headers['x-request-id'];
  assert.match(rid || '', /^[0-9a-f]{32}$/, `nginx's $request_id in X-Request-ID: ${rid}`);
  return rid;
}

const emu = async (url, method, p, body) => {
  const res = await fetch(`${url}${p}`, {
    method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(res.status < 300, `emulator ${p}: ${res.status}`);
  return res.status === 204 ? null : res.json();
};

describe('log_format = json, token mode', () => {
  const stack = useStack({
    workers: 1,
    prepare: async () => { fallback = await startEmulator(null); },
    nginxTransform: addRequestIdHeader,
    config: (s) => ({
      mode: 'token',
      rest_host: `127.0.0.1:${s.emuPort}`,
      fallback_hosts: `127.0.0.1:${fallback.port}`,
      tls: 'off',
      log_format: 'json',
      client_id: 'web-user',
      'rule.everyone.match': '*',
      'rule.everyone.capability': '{"chat:*":["publish","subscribe"]}',
    }),
  });
  const primary = () => stack.emulatorUrl;
  const reset = async () => {
    await emu(primary(), 'POST', '/_emulator/reset');
    await emu(fallback.url, 'POST', '/_emulator/reset');
  };

  test('a token: request id, status, mode, identity, rule, clientId, ttl, upstream, trace id, duration', async () => {
    await reset();
    const res = await stack.get({ ttl: 60000 }, { headers: { traceparent: traceparent('00f067aa0ba902b7') } });
    assert.equal(res.status, 200, res.body);
    const line = await requestLine(stack, requestId(res));
    assert.equal(line.level, 'info');
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/request-token');
    assert.equal(line.status, 200);
    assert.equal(line.error_code, undefined);
    assert.equal(line.mode, 'token');
    assert.equal(line.identity_source, 'fixed');
    assert.equal(line.rule, 'everyone');
    assert.equal(line.client_id, 'web-user');
    assert.equal(line.ttl_ms, 60000);
    assert.equal(line.upstream_host, `127.0.0.1:${stack.emuPort}`);
    assert.equal(line.upstream_tries, 1);
    assert.equal(typeof line.upstream_ms, 'number');
    assert.equal(line.trace_id, TRACE_ID);
    assert.equal(typeof line.duration_ms, 'number');
    assert.ok(line.duration_ms >= line.upstream_ms, 'the request took at least as long as its call to Ably');
    assert.equal(typeof line.pid, 'number');
    assert.ok(!Number.isNaN(Date.parse(line.time)) && line.time.endsWith('Z'), `time: ${line.time}`);
    // "Ably" got the trace context, as sent.
    const st = await emu(primary(), 'GET', '/_emulator/stats');
    assert.deepEqual(st.traceparents.map((t) => [t.route, t.value]),
      [['requestToken', traceparent('00f067aa0ba902b7')]]);
  });

  test('a policy refusal: 403 40300 with the rule, no call to Ably', async () => {
    await reset();
    const res = await stack.get({ clientId: 'someone-else' }, { headers: { traceparent: traceparent('1111111111111111') } });
    assertAblyError(res, 403, [40300]);
    const line = await requestLine(stack, requestId(res));
    assert.equal(line.status, 403);
    assert.equal(line.error_code, 40300);
    assert.equal(typeof line.error, 'string');
    assert.equal(line.identity_source, 'fixed');
    assert.equal(line.rule, 'everyone');
    assert.equal(line.upstream_host, undefined);
    assert.equal(line.trace_id, TRACE_ID);
    assert.equal((await emu(primary(), 'GET', '/_emulator/stats')).traceparents.length, 0);
  });

  test('a bad request: 400 with its code, before any identity or rule', async () => {
    const res = await stack.get('ttl=%zz');
    assertAblyError(res, 400, [40000]);
    const line = await requestLine(stack, requestId(res));
    assert.equal(line.status, 400);
    assert.equal(line.error_code, 40000);
    assert.equal(line.mode, 'token');
    assert.equal(line.identity_source, undefined);
    assert.ok(!('rule' in line), 'no rule was reached');
    assert.equal(line.trace_id, undefined);
  });

  test('a fallback: the primary answers 503, the line names the fallback and 2 tries; both hosts got the traceparent', async () => {
    await reset();
    await emu(primary(), 'POST', '/_emulator/faults', { status: 503, count: 1, routes: ['requestToken'] });
    const tp = traceparent('2222222222222222');
    const res = await stack.postForm({ ttl: '120000' }, { headers: { traceparent: tp } });
    assert.equal(res.status, 200, res.body);
    const line = await requestLine(stack, requestId(res));
    assert.equal(line.method, 'POST');
    assert.equal(line.status, 200);
    assert.equal(line.upstream_host, `127.0.0.1:${fallback.port}`);
    assert.equal(line.upstream_tries, 2);
    assert.equal(line.ttl_ms, 120000);
    assert.equal(line.trace_id, TRACE_ID);
    const values = async (url) => (await emu(url, 'GET', '/_emulator/stats')).traceparents.map((t) => t.value);
    assert.deepEqual(await values(primary()), [tp]);
    assert.deepEqual(await values(fallback.url), [tp]);
    // The primary's failure is a warning line of the same request.
    const rid = requestId(res);
    assert.ok(jsonLines(stack).some((o) => o.request_id === rid && o.level === 'warn' && /503/.test(o.msg)),
      'no warning line for the 503 with the request id');
  });

  test('an invalid traceparent is ignored: the request is served, nothing is passed on or logged', async () => {
    await reset();
    for (const bad of [traceparent('00F067AA0BA902B7'), `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, 'garbage']) {
      const res = await stack.get({}, { headers: { traceparent: bad } });
      assert.equal(res.status, 200, res.body);
      const line = await requestLine(stack, requestId(res));
      assert.equal(line.trace_id, undefined, bad);
    }
    assert.deepEqual((await emu(primary(), 'GET', '/_emulator/stats')).traceparents, []);
  });

  test('every line is one JSON object with time, level, pid and msg (start-up and warnings too)', async () => {
    const lines = jsonLines(stack);
    assert.ok(lines.length >= 8, `only ${lines.length} lines`);
    for (const o of lines) {
      assert.equal(typeof o, 'object');
      for (const k of ['time', 'level', 'pid', 'msg']) assert.ok(k in o, `${k} missing: ${JSON.stringify(o)}`);
      assert.ok(['error', 'warn', 'info', 'debug'].includes(o.level), o.level);
    }
    assert.ok(lines.some((o) => /^serving with 1 workers? \(mode token\)$/.test(o.msg)), 'no start-up line');
    assert.ok(lines.some((o) => o.level === 'warn'), 'no warning line');
    // The health checks nginx passed are logged with their request id too.
    assert.ok(lines.some((o) => o.msg === 'request' && o.path === '/healthz' && /^[0-9a-f]{32}$/.test(o.request_id)));
  });
});

describe('log_format = text', () => {
  const stack = useStack({
    workers: 1,
    emulator: false,
    nginxTransform: addRequestIdHeader,
    config: { mode: 'jwt' },
  });

  test('the text line carries nginx\'s request id as rid= and the trace id as trace=', async () => {
    const res = await stack.get({}, { headers: { traceparent: traceparent('00f067aa0ba902b7') } });
    assert.equal(res.status, 200, res.body);
    const rid = requestId(res);
    const want = new RegExp(`^ably-token\\[\\d+\\] info rid=${rid}: GET /request-token -> ok clientId=example-client-id trace=${TRACE_ID} \\d+ms$`, 'm');
    for (let i = 0; i < 100 && !want.test(stack.binaryLog); i++) await sleep(50);
    assert.match(stack.binaryLog, want);
    assert.doesNotMatch(stack.binaryLog, /^\{/m, 'a JSON line in text format');
  });
});

describe('log_format and SIGHUP', () => {
  const stack = useStack({ workers: 1, emulator: false, nginxTransform: addRequestIdHeader, config: { mode: 'jwt' } });

  /** Rewrite the config file, SIGHUP, wait for the outcome; the log's length before. */
  async function reloadWith(text) {
    const tmp = `${stack.configPath}.new`;
    await fsp.writeFile(tmp, `key = ${stack.key}\n${text}`, { mode: 0o600 });
    await fsp.rename(tmp, stack.configPath);
    const before = stack.binaryLog.length;
    process.kill(stack.procs.binary.pid, 'SIGHUP');
    for (let i = 0; i < 200 && !/reloaded:|reload refused/.test(stack.binaryLog.slice(before)); i++) await sleep(25);
    return before;
  }

  /** A request's line, found by its X-Request-ID. */
  async function lineOf(res) {
    const rid = requestId(res);
    for (let i = 0; i < 100; i++) {
      const line = stack.binaryLog.split('\n').find((l) => l.includes(rid));
      if (line) return line;
      await sleep(25);
    }
    assert.fail(`no line for ${rid}`);
  }

  test('text, then json after a SIGHUP; a reload refused after the file was read keeps json', async () => {
    assert.match(await lineOf(await stack.get()), /^ably-token\[\d+\] info rid=[0-9a-f]{32}: GET/);
    let offset = await reloadWith('mode = jwt\nlog_format = json\n');
    assert.match(stack.binaryLog.slice(offset), /"msg":"reloaded: /);
    // The old worker may answer once more on a connection it kept.
    let line = '';
    for (let i = 0; i < 20 && !line.startsWith('{'); i++) line = await lineOf(await stack.get());
    assert.equal(JSON.parse(line).msg, 'request');
    // The file reads (log_format = text in it), the checks after refuse it.
    offset = await reloadWith('mode = jwt\nlog_format = text\nttl = 2h\nmax_ttl = 1h\n');
    const refusal = stack.binaryLog.slice(offset).split('\n').find((l) => /reload refused/.test(l));
    assert.ok(refusal, `no refusal in the log:\n${stack.binaryLog.slice(offset)}`);
    assert.equal(JSON.parse(refusal).level, 'error');
    assert.equal(JSON.parse(await lineOf(await stack.get())).msg, 'request');
  });
});
