// The command-line face: `ably-token sign|jwt` reproduce every ably-js vector
// byte for byte (tests/vectors/), and the usage errors exit 2 with a message.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { binaryPath, repoRoot } from './lib/stack.mjs';

const vectors = (name) => JSON.parse(fs.readFileSync(path.join(repoRoot, 'tests/vectors', name), 'utf8'));

/** Run the binary; resolves {code, stdout, stderr} whatever the exit code. */
function cli(args, env = {}) {
  const clean = { ...process.env, ...env };
  for (const v of ['ABLY_API_KEY', 'VITE_ABLY_KEY', 'ABLY_TOKEN_CONF']) if (!(v in env)) delete clean[v];
  return new Promise((resolve) => {
    execFile(binaryPath, args, { env: clean, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

// ably-js quirks we do not copy (each vector's "quirk" says why).
const QUIRKS = new Set(['tr15-ttl-zero-quirk', 'tr16-clientId-null-quirk', 'tr17-ttl-as-string']);

test('ably-token sign reproduces every TokenRequest vector', async () => {
  const doc = vectors('token-requests.json');
  assert.ok(doc.vectors.length >= 17);
  for (const v of doc.vectors) {
    const p = v.tokenParams;
    const args = ['sign', '--key', v.key, '--timestamp', String(p.timestamp), '--nonce', p.nonce];
    if (Number(p.ttl)) args.push('--ttl', String(p.ttl));
    if (p.capability !== undefined) {
      args.push('--capability', typeof p.capability === 'string' ? p.capability : JSON.stringify(p.capability));
    }
    if (p.clientId) args.push('--client-id', p.clientId);
    const r = await cli(args);
    assert.equal(r.code, 0, `${v.id}: ${r.stderr}`);
    assert.equal(JSON.parse(r.stdout).mac, v.expected.mac, `${v.id}: mac`);
    if (!QUIRKS.has(v.id)) assert.equal(r.stdout, v.expected_json, `${v.id}: bytes`);
  }
});

test('ably-token jwt reproduces every JWT vector', async () => {
  const doc = vectors('jwt.json');
  assert.ok(doc.vectors.length >= 7);
  for (const v of doc.vectors) {
    const args = ['jwt', '--key', v.key, '--iat', String(v.iat), '--exp', String(v.exp)];
    // The claim is written by default now; the vector without one asks
    // for that explicitly.
    if (v.capability_input) args.push('--capability', JSON.stringify(v.capability_input));
    else args.push('--no-capability');
    if (v.clientId) args.push('--client-id', v.clientId);
    const rk = v.extraClaims['x-ably-revocation-key'];
    if (rk) args.push('--revocation-key', rk);
    const r = await cli(args);
    assert.equal(r.code, 0, `${v.id}: ${r.stderr}`);
    assert.equal(r.stdout, v.jwt, `${v.id}`);
  }
});

test('the key can come from ABLY_API_KEY instead of --key', async () => {
  const v = vectors('token-requests.json').vectors[1];
  const r = await cli(['sign', '--ttl', '3600000', '--capability', '{"*":["*"]}',
    '--timestamp', '1700000000123', '--nonce', v.tokenParams.nonce], { ABLY_API_KEY: v.key });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, v.expected_json);
});

test('--help and --version', async () => {
  for (const args of [['--help'], ['sign', '--help'], ['jwt', '--help']]) {
    const r = await cli(args);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: ably-token/);
  }
  const v = await cli(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^ably-token \d+\.\d+\.\d+\n$/);
});

test('usage errors exit 2 with a message, and never print a signature', async () => {
  const key = 'TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000';
  for (const [args, re] of [
    [['sign'], /no key/],
    [['sign', '--key', 'nocolon'], /--key/],
    [['sign', '--key', key, '--capability', 'not json'], /capability/],
    [['sign', '--key', key, '--ttl', 'soon'], /--ttl/],
    [['sign', '--key', key, '--nonce', 'short'], /--nonce/],
    [['sign', '--key', key, '--client-id', ''], /client-id/],
    [['jwt', '--key', key, '--iat', '100', '--exp', '50'], /exp/],
    [['jwt', '--key', key, '--nonce', '0123456789abcdef'], /unexpected/],
    [['--workers', '0'], /--workers/],
    [['--no-such-flag'], /usage/],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}`);
    assert.match(r.stderr, re, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', `${args.join(' ')} printed on stdout`);
    assert.ok(!r.stderr.includes('TEST-ONLY-not-a-real-secret'), 'secret in a message');
  }
});

test('a number that does not fit is refused, not clamped to the largest one', async () => {
  const key = 'TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000';
  for (const [args, re] of [
    [['sign', '--key', key, '--timestamp', '99999999999999999999'], /--timestamp/],
    [['jwt', '--key', key, '--iat', '99999999999999999999'], /--iat/],
    [['jwt', '--key', key, '--exp', '-99999999999999999999'], /--exp/],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}`);
    assert.match(r.stderr, re, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', `${args.join(' ')} printed on stdout`);
  }
});

test('started by hand with no web server, it says so instead of waiting', async () => {
  const r = await cli([], {});
  assert.equal(r.code, 2);
  assert.match(r.stderr, /not started by a web server/);
});

// Ably's docs mark x-ably-capability required (one table says optional):
// the CLI always writes it, the config's capability by default.
test('ably-token jwt always writes x-ably-capability: the config\'s capability, the built-in one without a config', async () => {
  const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
  const key = 'TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000';
  let r = await cli(['jwt', '--key', key, '--iat', '1700000000', '--exp', '1700003600']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(claims(r.stdout)['x-ably-capability'], '{"public:*":["subscribe"]}');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ably-token-cli-'));
  try {
    const conf = path.join(dir, 'c.conf');
    fs.writeFileSync(conf, 'capability = {"news:*":["subscribe"]}\n', { mode: 0o600 });
    r = await cli(['jwt', '--key', key, '--config', conf, '--iat', '1700000000', '--exp', '1700003600']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(claims(r.stdout)['x-ably-capability'], '{"news:*":["subscribe"]}');
    fs.writeFileSync(conf, 'client_id = alice\ncapability = {"private:{clientId}":["*"]}\n', { mode: 0o600 });
    r = await cli(['jwt', '--key', key, '--config', conf]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\{clientId\}: give --capability/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  r = await cli(['jwt', '--key', key, '--no-capability', '--iat', '1700000000', '--exp', '1700003600']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(claims(r.stdout)['x-ably-capability'], undefined);
  r = await cli(['jwt', '--key', key, '--no-capability', '--capability', '{}']);
  assert.equal(r.code, 2);
});
