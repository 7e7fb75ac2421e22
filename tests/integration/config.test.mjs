// Where the key and settings come from (config file, ABLY_API_KEY,
// VITE_ABLY_KEY, ABLY_TOKEN_CONF) and what the binary does when they are
// wrong: no key -> 500 answers, a bad rest_host -> refuses to start, a bad key in
// the environment -> refuses to start, a world-readable key file -> refused
// (started only with --allow-insecure-config, with a warning).
// Each case starts its own small stack (no emulator needed).

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startStack, testKey, splitKey, binaryPath, Proc } from './lib/stack.mjs';
import { assertAblyError, assertTokenRequest } from './lib/checks.mjs';

const MAIN = testKey('main');
const LIMITED = testKey('limited');

/** Run fn(stack) against a fresh stack, always stopping it; returns the stop report. */
async function withStack(opts, fn) {
  // No emulator here, so sign locally unless a test says otherwise.
  const config = typeof opts.config === 'function' ? opts.config : { mode: 'token-request', ...(opts.config || {}) };
  const stack = await startStack({ emulator: false, ...opts, config });
  let report;
  try {
    await fn(stack);
  } finally {
    report = await stack.stop();
  }
  for (const r of stack.responses) {
    for (const secret of [MAIN, LIMITED].map((k) => splitKey(k).secret)) {
      assert.ok(!r.raw.includes(secret), `secret in ${r.method} ${r.path}`);
    }
  }
  assert.equal(report.binary.code, 0, `ably-token exit status ${report.binary.code}\n${stack.binaryLog}`);
  return { report, log: stack.binaryLog };
}

/** Start the binary alone and expect it to refuse: exit status != 0 within 5 s. */
async function expectRefusal(configText, env = {}, mode = 0o600) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ably-token-it-'));
  try {
    const conf = path.join(dir, 'ably-token.conf');
    await fs.writeFile(conf, configText, { mode });
    await fs.chmod(conf, mode);
    const baseEnv = { ...process.env };
    for (const v of ['ABLY_API_KEY', 'VITE_ABLY_KEY', 'ABLY_TOKEN_CONF']) delete baseEnv[v];
    const p = new Proc('ably-token', binaryPath,
      ['--config', conf, '--listen', `unix:${path.join(dir, 's.sock')}`, '--workers', '1'],
      { cwd: dir, env: { ...baseEnv, ...env } });
    const exit = await Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000, null).unref())]);
    if (exit === null) {
      await p.stop();
      assert.fail(`ably-token started although it should have refused:\n${p.err}`);
    }
    await p.closed;
    assert.equal(exit.code, 2, 'exit status');
    assert.equal(exit.signal, null, `died of ${exit.signal}`);
    return p.err;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test('key from the config file (mode 600)', async () => {
  await withStack({ key: LIMITED, config: { ttl: '90000' } }, async (s) => {
    assertTokenRequest(await s.get(), s, { ttl: 90000 });
    assert.equal(JSON.parse((await s.get()).body).keyName, 'TESTAPP.limited');
  });
});

test('ABLY_API_KEY overrides the key in the config file', async () => {
  await withStack({ key: LIMITED, actualKey: MAIN, env: { ABLY_API_KEY: MAIN, VITE_ABLY_KEY: LIMITED } }, async (s) => {
    assertTokenRequest(await s.get(), s);
  });
});

test('VITE_ABLY_KEY is used when ABLY_API_KEY is absent', async () => {
  await withStack({ key: null, actualKey: MAIN, env: { VITE_ABLY_KEY: MAIN } }, async (s) => {
    assertTokenRequest(await s.get(), s);
  });
});

test('ABLY_TOKEN_CONF instead of --config', async () => {
  // A config file of our own, named only by ABLY_TOKEN_CONF (no --config).
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ably-token-it-conf-'));
  const conf = path.join(dir, 'outside.conf');
  await fs.writeFile(conf, `mode = token-request\nkey = ${LIMITED}\nttl = 45s\n`, { mode: 0o600 });
  try {
    await withStack({
      key: null,
      actualKey: LIMITED,
      env: { ABLY_TOKEN_CONF: conf },
      binArgs: (s) => ['--listen', `unix:${s.sockPath}`, '--workers', '2'],
    }, async (s) => {
      assertTokenRequest(await s.get(), s, { ttl: 45000 });
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('no key at all: token requests get 500 in the error shape; the binary still runs', async () => {
  await withStack({ key: null }, async (s) => {
    assertAblyError(await s.get(), 500);
    assertAblyError(await s.postForm({ ttl: '60000' }), 500);
  });
});

test('a bad rest_host in token mode is refused at start-up, naming the setting', async () => {
  const err = await expectRefusal(`mode = token\nrest_host = https://example.com/\nkey = ${MAIN}\n`);
  assert.match(err, /rest_host/);
  assert.match(err, /:2:/);
  assert.ok(!err.includes(splitKey(MAIN).secret), 'secret in the error message');
});

test('a malformed key in ABLY_API_KEY is refused at start-up without echoing it', async () => {
  const bad = 'TESTAPP.fulltest-no-secret-here-SECRETISH';
  const err = await expectRefusal('mode = jwt\n', { ABLY_API_KEY: bad });
  assert.match(err, /ABLY_API_KEY/);
  const withSecret = 'TESTAPP.x:sec:ret-with-two-colons-SECRETISH';
  const err2 = await expectRefusal('mode = jwt\n', { ABLY_API_KEY: withSecret });
  assert.ok(!err2.includes('ret-with-two-colons-SECRETISH'), `secret part echoed: ${err2}`);
});

test('an unknown setting or bad value is refused, naming file:line', async () => {
  const err = await expectRefusal(`key = ${MAIN}\nttl = forever\n`);
  assert.match(err, /:2\b/, `no file:line in: ${err}`);
  const err2 = await expectRefusal(`key = ${MAIN}\nno_such_setting = 1\n`);
  assert.match(err2, /no_such_setting|:2\b/);
});

test('a world-readable config holding the key is refused; --allow-insecure-config starts with a warning', async () => {
  const err = await expectRefusal(`key = ${MAIN}\n`, {}, 0o644);
  assert.match(err, /readable/i);
  assert.match(err, /:1\b/);
  assert.ok(!err.includes(splitKey(MAIN).secret), 'secret in the error message');
  const { log } = await withStack({
    key: MAIN, configMode: 0o644, config: { mode: 'token-request' },
    binArgs: (s) => ['--allow-insecure-config', '--config', s.configPath, '--listen', `unix:${s.sockPath}`, '--workers', '2'],
  }, async (s) => {
    assertTokenRequest(await s.get(), s);
  });
  assert.match(log, /readable/i, `no warning about the file mode in:\n${log}`);
});

test('max_body, log_level, empty cors_origins and --socket-mode are honoured', async () => {
  const { log } = await withStack({
    key: MAIN,
    config: { max_body: '100', log_level: 'error', cors_origins: '' },
    binArgs: (s) => ['--config', s.configPath, '--listen', `unix:${s.sockPath}`, '--workers', '2', '--socket-mode', '0666'],
  }, async (s) => {
    const st = await fs.stat(s.sockPath);
    assert.equal(st.mode & 0o777, 0o666, `socket mode ${(st.mode & 0o777).toString(8)}`);
    assertTokenRequest(await s.postForm('ttl=60000&pad=' + 'x'.repeat(60)), s, { ttl: 60000 });
    assertAblyError(await s.postForm('ttl=60000&pad=' + 'x'.repeat(120)), 413);
    const pre = await s.request('OPTIONS', '/request-token', {
      headers: { Origin: 'http://allowed.example', 'Access-Control-Request-Method': 'GET' },
    });
    assert.equal(pre.headers['access-control-allow-origin'], undefined, 'ACAO with no cors_origins');
    const get = await s.get({}, { headers: { Origin: 'http://allowed.example' } });
    assert.equal(get.headers['access-control-allow-origin'], undefined, 'ACAO with no cors_origins');
  });
  assert.doesNotMatch(log, /\binfo\b/, `info lines logged at log_level = error:\n${log}`);
});

// A configuration the program cannot read exactly stops start-up: a NUL
// byte once cut the file short and dropped every rule after it, so the
// policy fell back to the default capability (fail open).
test('a NUL byte, a control character or invalid UTF-8 in the config file stops start-up with file:line', async () => {
  const rules = 'rule.users.match = *\nrule.users.capability = {"private:{clientId}":["subscribe"]}\n';
  for (const [what, text, line, why] of [
    ['NUL', `mode = token-request\nclient_id = $remote_user\0\n${rules}`, 2, /a NUL byte/],
    ['control character', `mode = token-request\nttl = 30m\x01\n${rules}`, 2, /control character 0x01/],
    ['lone CR', `mode = token-request\nttl = 30m\rmax_ttl = 1h\n`, 2, /control character 0x0d/],
    ['DEL', `mode = token-request\n\x7f\n`, 2, /control character 0x7f/],
    ['invalid UTF-8', Buffer.concat([Buffer.from('mode = token-request\nclient_id = caf'), Buffer.from([0xe9]), Buffer.from('\n')]), 2, /invalid UTF-8/],
  ]) {
    const err = await expectRefusal(text, { ABLY_API_KEY: MAIN });
    assert.match(err, new RegExp(`ably-token\\.conf:${line}: `), `${what}: ${err}`);
    assert.match(err, why, `${what}: ${err}`);
  }
});

/** `--check-config --config FILE` on text written to a private dir: {code, err, out}. */
async function checkConfig(text, args = [], mode = 0o600) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ably-token-check-'));
  try {
    const conf = path.join(dir, 'ably-token.conf');
    await fs.writeFile(conf, text, { mode });
    await fs.chmod(conf, mode);
    const p = new Proc('ably-token', binaryPath, [...args, '--check-config', '--config', conf],
      { cwd: dir, env: { PATH: process.env.PATH, ABLY_API_KEY: MAIN } });
    await p.closed;
    return { code: p.exit.code, err: p.err, out: p.out };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test('tabs and CRLF line ends are fine in the config file', async () => {
  const r = await checkConfig('mode = token-request\r\nttl\t=\t30m\r\n# caf\u00e9 \u2713\r\n');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /ttl 1800000 ms/);
});

// Whoever may write the config file decides the rules, rest_host and tls.
test('a config file writable by group or others, or in a directory they may write, is refused; --allow-insecure-config warns', async () => {
  for (const mode of [0o620, 0o602, 0o666]) {
    const err = await expectRefusal('mode = token-request\n', { ABLY_API_KEY: MAIN }, mode);
    assert.match(err, /writable by (its group|every user).*chmod go-w/, `mode ${mode.toString(8)}: ${err}`);
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ably-token-dir-'));
  try {
    const open = path.join(dir, 'open');
    await fs.mkdir(open, { mode: 0o777 });
    await fs.chmod(open, 0o777);  // not sticky: others could replace the file
    const conf = path.join(open, 'ably-token.conf');
    await fs.writeFile(conf, 'mode = token-request\n', { mode: 0o600 });
    const run = (args) => new Promise((resolve) => {
      const p = new Proc('ably-token', binaryPath, [...args, '--check-config', '--config', conf],
        { cwd: dir, env: { PATH: process.env.PATH, ABLY_API_KEY: MAIN } });
      p.closed.then(() => resolve({ code: p.exit.code, err: p.err }));
    });
    const refused = await run([]);
    assert.equal(refused.code, 2, refused.err);
    assert.match(refused.err, /its directory .*open is writable by every user.*chmod go-w/);
    const allowed = await run(['--allow-insecure-config']);
    assert.equal(allowed.code, 0, allowed.err);
    assert.match(allowed.err, /warn.*writable by every user.*allowed by --allow-insecure-config/);
    // A sticky directory (as /tmp) lets only the owner replace the file.
    await fs.chmod(open, 0o1777);
    const sticky = await run([]);
    assert.equal(sticky.code, 0, sticky.err);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
