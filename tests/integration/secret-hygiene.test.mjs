// Where the key may and may not be: a config file holding it must not be
// readable by other users (the binary refuses to start, exit 2, with a
// message saying so; --allow-insecure-config starts it with a warning), and
// when a process ends the secret is gone from its memory (the supervisor,
// each worker, and a CGI run). The memory check runs the binary with
// lib/memscan.c preloaded: at _exit/exit it searches every writable mapping,
// freed heap included, for the secret.
//
// config.test.mjs covers the --listen refusal and the warning through a
// stack; this file covers the other ways the binary starts (CGI,
// --check-config), the modes in between (0640, 0604) and the wipe.
//
// And what the logs hold: in either log_format (text, json), at debug
// level, after answers of every kind, no log line holds the key secret,
// a MAC, a token or JWT handed out, or the trusted-header secret, as is or
// encoded.

import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, after } from 'node:test';
import { binaryPath, repoRoot, startStack, startEmulator, testKey, splitKey } from './lib/stack.mjs';
import { assertAblyError, assertTokenRequest } from './lib/checks.mjs';
import { cgiRequest } from './lib/cgi.mjs';
import { SecretScanner } from './lib/secrets.mjs';

const KEY = testKey('main');
const SECRET = splitKey(KEY).secret;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ably-token-hyg-'));
after(() => { if (!process.env.IT_KEEP_TMP) fs.rmSync(scratch, { recursive: true, force: true }); });

const asan = (() => {
  try { return fs.readFileSync(binaryPath).includes(Buffer.from('__asan_init')); } catch { return false; }
})();

let seq = 0;
function configFile(text, mode) {
  const f = path.join(scratch, `c${++seq}.conf`);
  fs.writeFileSync(f, text, { mode: 0o600 });
  fs.chmodSync(f, mode);
  return f;
}

function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  for (const v of ['ABLY_API_KEY', 'VITE_ABLY_KEY', 'ABLY_TOKEN_CONF', 'GATEWAY_INTERFACE', 'REQUEST_METHOD']) {
    if (!(v in extra)) delete env[v];
  }
  return env;
}

/** Run the binary to completion (stdin: /dev/null); {code, signal, out, err}. */
function run(args, env, timeoutMs = 10000) {
  return new Promise((resolve) => {
    const child = spawn(binaryPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out, err }); });
  });
}

function assertRefusedForMode(r, file) {
  assert.equal(r.signal, null, `died of ${r.signal}`);
  assert.equal(r.code, 2, `exit status ${r.code}, expected 2; stderr: ${r.err}`);
  assert.match(r.err, /readable/i, `the message does not say the file is readable: ${r.err}`);
  assert.ok(r.err.includes(file), `the message does not name the file: ${r.err}`);
  assert.ok(!r.err.includes(SECRET) && !r.out.includes(SECRET), 'the secret was printed');
}

// ------------------------------------------------------ the config file's mode

test('--check-config refuses a world-readable key file (exit 2, "readable")', async () => {
  const f = configFile(`key = ${KEY}\nmode = token-request\n`, 0o644);
  assertRefusedForMode(await run(['--check-config', '--config', f], cleanEnv()), f);
});

test('ABLY_TOKEN_CONF pointing at a world-readable key file is refused too', async () => {
  const f = configFile(`mode = jwt\nkey = ${KEY}\n`, 0o604);
  assertRefusedForMode(await run(['--check-config'], cleanEnv({ ABLY_TOKEN_CONF: f })), f);
});

test('as CGI, a world-readable key file: exit 2 and an Ably-shaped 500, no secret', async () => {
  const f = configFile(`key = ${KEY}\nmode = token-request\n`, 0o644);
  const res = await cgiRequest({ target: '/request-token?ttl=60000', config: f });
  assert.equal(res.exit.code, 2, `exit status ${res.exit.code}: ${res.stderr}`);
  assert.match(res.stderr, /readable/i);
  assertAblyError(res, 500, [50000]);
  assert.ok(!res.stdout.includes(SECRET) && !res.stderr.includes(SECRET), 'the secret was printed');
});

test('modes 0600 and 0640 (the web server\'s group) are accepted; 0604 and 0666 are not', async () => {
  for (const mode of [0o600, 0o640, 0o400]) {
    const f = configFile(`key = ${KEY}\nmode = token-request\n`, mode);
    const r = await run(['--check-config', '--config', f], cleanEnv());
    assert.equal(r.code, 0, `mode ${mode.toString(8)} refused: ${r.err}`);
  }
  for (const mode of [0o604, 0o666, 0o644]) {
    const f = configFile(`key = ${KEY}\nmode = token-request\n`, mode);
    assertRefusedForMode(await run(['--check-config', '--config', f], cleanEnv()), f);
  }
});

test('a world-readable config without a key line is fine (the key comes from ABLY_API_KEY)', async () => {
  const f = configFile('mode = token-request\nttl = 30m\n', 0o644);
  const r = await run(['--check-config', '--config', f], cleanEnv({ ABLY_API_KEY: KEY }));
  assert.equal(r.code, 0, r.err);
  assert.ok(!r.err.includes(SECRET) && !r.out.includes(SECRET));
});

test('--allow-insecure-config starts with a warning that names the file and says readable', async () => {
  const f = configFile(`key = ${KEY}\nmode = token-request\n`, 0o644);
  const r = await run(['--allow-insecure-config', '--check-config', '--config', f], cleanEnv());
  assert.equal(r.code, 0, `exit status ${r.code}: ${r.err}`);
  assert.match(r.err, /warn/i);
  assert.match(r.err, /readable/i);
  assert.ok(r.err.includes(f), `the warning does not name the file: ${r.err}`);
  assert.ok(!r.err.includes(SECRET) && !r.out.includes(SECRET), 'the secret was printed');
});

// ------------------------------------------------------- wiped at exit

let shim = null;
function buildShim() {
  if (shim) return shim;
  shim = path.join(scratch, 'memscan.so');
  execFileSync('cc', ['-shared', '-fPIC', '-O1', '-o', shim, path.join(repoRoot, 'tests/integration/lib/memscan.c'), '-ldl']);
  return shim;
}

function scanEnv(outDir, extra = {}) {
  fs.mkdirSync(outDir, { recursive: true });
  return {
    LD_PRELOAD: buildShim(),
    MEMSCAN_NEEDLE: Buffer.from(SECRET).map((b) => b ^ 0x5a).toString('hex'),
    MEMSCAN_OUT: outDir,
    ...extra,
  };
}

/** The per-process reports the shim left: [{pid, via, hits, where}]. */
function readScans(dir) {
  return fs.readdirSync(dir).filter((f) => f.startsWith('scan.')).map((f) => {
    const lines = fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n');
    const m = /^pid (\d+) via (\S+) hits (\d+)$/.exec(lines[0]);
    return { pid: Number(m[1]), via: m[2], hits: Number(m[3]), where: lines.slice(1) };
  });
}

const wipeSkip = asan && 'an ASan build keeps freed memory in a quarantine and its heap is too large to scan';

test('the memory scan works: it finds the secret where it is (ABLY_API_KEY in the environment)', { skip: wipeSkip }, async () => {
  const out = path.join(scratch, 'control');
  const f = configFile('mode = token-request\n', 0o600);
  const res = await cgiRequest({
    target: '/request-token?ttl=60000', config: f, env: { ABLY_API_KEY: KEY, ...scanEnv(out) },
  });
  assert.equal(res.status, 200, res.stderr);
  const scans = readScans(out);
  assert.equal(scans.length, 1, `one report expected: ${JSON.stringify(scans)}`);
  assert.ok(scans[0].hits >= 1, 'the scan did not find the secret in the environment: the check below would prove nothing');
});

test('as CGI: the secret is not in memory when the process exits', { skip: wipeSkip }, async () => {
  const out = path.join(scratch, 'cgi');
  for (const mode of ['token-request', 'jwt']) {
    const f = configFile(`key = ${KEY}\nmode = ${mode}\n`, 0o600);
    const res = await cgiRequest({ target: '/request-token?ttl=60000', config: f, env: scanEnv(path.join(out, mode)) });
    assert.equal(res.status, 200, res.stderr);
    const scans = readScans(path.join(out, mode));
    assert.equal(scans.length, 1);
    assert.equal(scans[0].hits, 0, `${mode}: the secret is still in memory at exit:\n${scans[0].where.join('\n')}`);
  }
});

for (const [mode, logFormat] of ['token-request', 'jwt', 'token'].flatMap((m) => [[m, 'text'], [m, 'json']])) {
  test(`--listen --workers 2, ${mode} mode${logFormat === 'json' ? ', log_format = json' : ''}: the secret is not in the memory of the supervisor or any worker at exit`,
    { skip: wipeSkip }, async () => {
      const out = path.join(scratch, `listen-${mode}-${logFormat}`);
      let fallback = null;
      if (mode === 'token') fallback = await startEmulator(null);
      const stack = await startStack({
        workers: 2,
        emulator: mode === 'token',
        env: scanEnv(out),
        config: (s) => ({
          mode,
          log_format: logFormat,
          ...(mode === 'token' ? { rest_host: `127.0.0.1:${s.emuPort}`, fallback_hosts: `127.0.0.1:${fallback.port}`, tls: 'off' } : {}),
        }),
      });
      try {
        for (let i = 0; i < 20; i++) {
          const r = await stack.get({ ttl: 60000 });
          assert.equal(r.status, 200, r.body);
          if (mode === 'token-request') assertTokenRequest(r, stack);
        }
      } finally {
        const report = await stack.stop();
        if (fallback) await fallback.proc.stop();
        assert.equal(report.binary.code, 0, stack.binaryLog);
      }
      const scans = readScans(out);
      assert.ok(scans.some((s) => s.via === 'exit'), `no report from the supervisor: ${JSON.stringify(scans)}`);
      assert.ok(scans.filter((s) => s.via === '_exit').length >= 2, `no report from the workers: ${JSON.stringify(scans)}`);
      for (const s of scans) {
        assert.equal(s.hits, 0, `pid ${s.pid} (${s.via === 'exit' ? 'supervisor' : 'worker'}) still holds the secret at exit:\n${s.where.join('\n')}`);
      }
    });
}

// ------------------------------------------------------- never in a log line

const TRUSTED = 'hyg-trusted-5c1d9e2f7a3b4c6d8e0f1a2b3c4d5e6f';

// The identity comes from a header proven by the trusted-header secret, which
// nginx passes as a parameter (server level, next to the example's own).
function passIdentity(text) {
  const out = text.replace(/^(\s*fastcgi_param REMOTE_USER\s+\$remote_user;\n)/m,
    `$1        fastcgi_param HTTP_X_USER $http_x_user if_not_empty;\n` +
    `        fastcgi_param TRUSTED_HEADER_SECRET "${TRUSTED}";\n`);
  assert.notEqual(out, text, 'no REMOTE_USER line in the rendered nginx config');
  return out;
}

/** What a successful answer hands out that must never be logged. */
function handedOut(mode, res) {
  if (mode === 'token-request') return [['a MAC', JSON.parse(res.body).mac]];
  if (mode === 'jwt') return [['a JWT', res.body], ['a JWT signature', res.body.split('.')[2]]];
  return [['a token', JSON.parse(res.body).token]];
}

for (const logFormat of ['text', 'json']) {
  for (const mode of ['token-request', 'jwt', 'token']) {
    test(`log_format = ${logFormat}, ${mode} mode, debug: no key, MAC, token or trusted-header secret in any log line`, async () => {
      let fallback = null;
      if (mode === 'token') fallback = await startEmulator(null);
      const stack = await startStack({
        workers: 1,
        emulator: mode === 'token',
        nginxTransform: passIdentity,
        config: (s) => ({
          mode,
          log_format: logFormat,
          log_level: 'debug',
          client_id: '$header:X-User',
          trusted_header_secret: TRUSTED,
          ...(mode === 'token' ? { rest_host: `127.0.0.1:${s.emuPort}`, fallback_hosts: `127.0.0.1:${fallback.port}`, tls: 'off' } : {}),
        }),
      });
      const scan = new SecretScanner(stack.secret);
      scan.watch('the trusted-header secret', TRUSTED);
      const user = { 'X-User': 'alice', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
      try {
        const ok = [
          await stack.get({ ttl: 60000 }, { headers: user }),
          await stack.postForm({ ttl: '120000', clientId: 'alice' }, { headers: user }),
          await stack.postJson({ capability: { 'chat:*': ['subscribe'] } }, { headers: user }),
        ];
        if (mode === 'token') {
          await fetch(`${stack.emulatorControlUrl}/_emulator/faults`, {
            method: 'POST', headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ status: 503, count: 1, routes: ['requestToken'] }),
          });
          ok.push(await stack.get({}, { headers: user })); // from the fallback
        }
        for (const r of ok) {
          assert.equal(r.status, 200, r.body);
          for (const [label, value] of handedOut(mode, r)) scan.watch(label, value);
        }
        assertAblyError(await stack.get({ clientId: 'bob' }, { headers: user }), 403, [40300]);
        assertAblyError(await stack.get({}), 401, [40100]);
        assertAblyError(await stack.get('ttl=%zz', { headers: user }), 400, [40000]);
        assertAblyError(await stack.request('PUT', '/request-token', { headers: user }), 405, [40500]);
      } finally {
        const report = await stack.stop();
        if (fallback) await fallback.proc.stop();
        assert.equal(report.binary.code, 0, stack.binaryLog);
      }
      const log = stack.procs.binary.err;
      scan.text('ably-token stderr', log);
      scan.text('ably-token stdout', stack.procs.binary.out);
      assert.ok(scan.lines >= 8, `only ${scan.lines} log lines were scanned`);
      if (logFormat === 'json') {
        for (const l of log.trimEnd().split('\n')) assert.doesNotThrow(() => JSON.parse(l), `not JSON: ${l}`);
      } else {
        assert.match(log, /^ably-token\[\d+\] info rid=/m);
      }
      assert.deepEqual(scan.summary(), [], `a secret is in the ${logFormat} log`);
    });
  }
}
