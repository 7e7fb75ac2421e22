// `ably-token revoke` against the emulator, in each mode, with a key that has
// revocable tokens: ably-js connects as alice and as bob through the
// endpoint; revoking alice (by clientId, or by the JWT's revocation key)
// disconnects her with 40141 and her old credential is refused, while bob
// carries on; ably-js then renews through the authUrl (revocation does not
// stop the endpoint from issuing). Then the command's exits: Ably's refusals
// (bad key 40101, no revocable tokens 40163, issuedBefore 40003) are 1 with
// Ably's code, usage errors 2, fallback hosts on a host failure, --json, and
// the key never printed.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, test, after } from 'node:test';
import Ably from 'ably';
import { useStack, startEmulator, testKey, splitKey, binaryPath, sleep, freePort } from './lib/stack.mjs';
import { finalChecks } from './lib/checks.mjs';

const KEY = testKey('revocable');
const { keyName, secret } = splitKey(KEY);
const outputs = []; // every stdout and stderr of the command, for the secret check

/** Run the binary; resolves {code, stdout, stderr} whatever the exit code. */
function cli(args, env = {}) {
  const clean = { ...process.env, ...env };
  for (const v of ['ABLY_API_KEY', 'VITE_ABLY_KEY', 'ABLY_TOKEN_CONF']) if (!(v in env)) delete clean[v];
  return new Promise((resolve) => {
    execFile(binaryPath, args, { env: clean, encoding: 'utf8', timeout: 20000 }, (err, stdout, stderr) => {
      outputs.push(stdout, stderr);
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

const clients = [];
after(() => {
  for (const c of clients) c.close();
});

/** ably-js Realtime through the endpoint (authUrl), as a browser of clientId. */
function realtime(stack, clientId) {
  const c = new Ably.Realtime({
    authUrl: stack.tokenUrl, clientId, endpoint: '127.0.0.1', port: stack.emuPort, tls: false,
    useBinaryProtocol: false, transports: ['web_socket'], logLevel: 0,
  });
  c.changes = [];
  c.connection.on((ch) => c.changes.push(ch));
  clients.push(c);
  return c;
}

async function waitFor(what, fn, ms = 8000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The credential the endpoint hands alice, as a string a client presents (token or JWT). */
async function credential(stack, mode, clientId) {
  const r = await stack.get({ clientId });
  assert.equal(r.status, 200, r.body);
  if (mode === 'jwt') return r.body;
  if (mode === 'token') return JSON.parse(r.body).token;
  // token-request: exchanged with "Ably", as ably-js does.
  const res = await fetch(`${stack.emulatorUrl}/keys/${keyName}/requestToken`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: r.body,
  });
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

/** A REST publish with credential: the HTTP status and Ably's error code. */
async function publishWith(stack, credential) {
  const res = await fetch(`${stack.emulatorUrl}/channels/news/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${Buffer.from(credential).toString('base64')}` },
    body: JSON.stringify({ name: 'n', data: 'd' }),
  });
  const body = await res.json();
  return { status: res.status, code: body.error ? body.error.code : null };
}

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';

function stackFor(mode) {
  return useStack({
    key: KEY,
    workers: 1,
    config: (s) => ({
      mode,
      client_id: '$request', // the browser names its user (tests only)
      revocable_tokens: 'on',
      revocation_key: mode === 'jwt' ? 'user:{clientId}' : undefined,
      rest_host: `127.0.0.1:${s.emuPort}`,
      fallback_hosts: '',
      tls: 'off',
    }),
  });
}

for (const mode of ['token', 'token-request', 'jwt']) {
  describe(`${mode} mode`, () => {
    const stack = stackFor(mode);
    const how = mode === 'jwt' ? ['--revocation-key', 'user:alice'] : ['--client-id', 'alice'];
    const target = mode === 'jwt' ? 'revocationKey:user:alice' : 'clientId:alice';

    test(`revoke ${how.join(' ')}: alice is disconnected with 40141, bob is not`, { timeout: 30000 }, async () => {
      const oldAlice = await credential(stack, mode, 'alice');
      const oldBob = await credential(stack, mode, 'bob');
      const [alice, bob] = [realtime(stack, 'alice'), realtime(stack, 'bob')];
      await Promise.all([alice.connection.once('connected'), bob.connection.once('connected')]);
      assert.equal(alice.auth.clientId, 'alice');
      // JWTs carry their issue time in seconds: be a second past them.
      await sleep(mode === 'jwt' ? 1100 : 10);
      const disconnected = alice.connection.once('disconnected');
      const bobChanges = bob.changes.length;

      const r = await cli(['revoke', '--config', stack.configPath, ...how]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^${target}: revoked \\(tokens issued before ${ISO}; enforced from ${ISO}\\)\\n$`));

      const change = await disconnected;
      assert.equal(change.reason.code, 40141);
      assert.deepEqual(await publishWith(stack, oldAlice), { status: 401, code: 40141 });
      // Bob is untouched: still connected, his credential still publishes.
      assert.equal(bob.connection.state, 'connected');
      assert.equal(bob.changes.length, bobChanges);
      assert.deepEqual(await publishWith(stack, oldBob), { status: 201, code: null });
      await bob.channels.get('news').publish('still', 'here');

      const stats = await stack.emulatorStats();
      assert.equal(stats.realtime.revoked, 1);
      assert.equal(stats.routes.revokeTokens.ok, 1);
      const req = stats.lastRequests.find((q) => q.route === 'revokeTokens');
      assert.deepEqual(req.revoke.targets, [target]);
      assert.equal(req.headers.authorization, 'Basic [redacted]');

      if (mode !== 'jwt') {
        // Revocation does not stop the endpoint: ably-js renews through the
        // authUrl and connects with a token issued after the revocation.
        await waitFor('alice reconnected', () => alice.connection.state === 'connected');
        await alice.channels.get('news').publish('back', 'again');
      }
    });

    finalChecks(stack);
  });
}

describe('the command', () => {
  const stack = stackFor('token');
  let fallback = null;
  after(async () => {
    if (fallback) await fallback.proc.stop();
  });

  /** A config for the command alone, beside the stack's (mode 0600). */
  function config(name, settings) {
    const file = path.join(stack.dir, `${name}.conf`);
    const lines = Object.entries({ key: KEY, revocable_tokens: 'on', tls: 'off', ...settings })
      .map(([k, v]) => `${k} = ${v}`);
    fs.writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
    return file;
  }
  const emuHost = () => `127.0.0.1:${stack.emuPort}`;
  const fault = async (url, f) => {
    const res = await fetch(`${url}/_emulator/faults`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(f),
    });
    assert.equal(res.status, 200);
  };

  test('--json prints Ably\'s answer; several targets, issuedBefore and allowReauthMargin are sent', async () => {
    assert.equal((await stack.get({ clientId: 'carol' })).status, 200);
    const issuedBefore = Date.now() - 60000;
    const r = await cli(['revoke', '--config', stack.configPath, '--json', '--client-id', 'carol',
      '--revocation-key', 'user:carol', '--issued-before', String(issuedBefore), '--allow-reauth-margin']);
    assert.equal(r.code, 0, r.stderr);
    const answer = JSON.parse(r.stdout);
    assert.equal(answer.successCount, 2);
    assert.deepEqual(answer.results.map((x) => x.target), ['clientId:carol', 'revocationKey:user:carol']);
    assert.equal(answer.results[0].issuedBefore, issuedBefore);
    assert.ok(answer.results[0].appliesAt >= Date.now() + 25000);
  });

  test('Ably\'s refusals exit 1 with Ably\'s code: bad key 40101, no revocable tokens 40163, issuedBefore 40003', async () => {
    const cases = [
      [{ ABLY_API_KEY: `${keyName}:TEST-ONLY-wrong-secret` }, [], 40101, /check ABLY_API_KEY/],
      [{ ABLY_API_KEY: testKey('main') }, [], 40163, /revocable tokens/],
      [{}, ['--issued-before', String(Date.now() + 3600000)], 40003, /--issued-before must be/],
    ];
    for (const [env, extra, code, hint] of cases) {
      const r = await cli(['revoke', '--config', stack.configPath, '--client-id', 'dave', ...extra], env);
      assert.equal(r.code, 1, `${code}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`Ably refused the request: error ${code} \\(HTTP \\d+\\)`));
      assert.match(r.stderr, hint);
      assert.equal(r.stdout, '');
    }
  });

  test('usage and settings errors exit 2 before any request', async () => {
    const before = (await stack.emulatorStats()).routes.revokeTokens.requests;
    const many = [];
    for (let i = 0; i < 101; i++) many.push('--client-id', `u${i}`);
    const cases = [
      [[], /give --client-id or --revocation-key/],
      [['--client-id', ''], /--client-id: expected 1\.\.1024 bytes/],
      [['--revocation-key', 'a\nb'], /--revocation-key: expected/],
      [['--client-id', 'a', '--issued-before', 'soon'], /--issued-before: expected milliseconds/],
      [['--client-id', 'a', '--bogus'], /usage: ably-token revoke/],
      [['--client-id', 'a', 'extra'], /unexpected argument/],
      [many, /at most 100 targets/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(['revoke', '--config', stack.configPath, ...args]);
      assert.equal(r.code, 2, `${args.slice(0, 4)}: ${r.stderr}`);
      assert.match(r.stderr, msg);
    }
    // The key crosses the network as it is without TLS: only to this machine.
    const plain = config('plain', { rest_host: 'rest.example.invalid', fallback_hosts: emuHost() });
    let r = await cli(['revoke', '--config', plain, '--client-id', 'a']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /tls = off would send the key unencrypted/);
    r = await cli(['revoke', '--config', path.join(stack.dir, 'missing.conf'), '--client-id', 'a']);
    assert.equal(r.code, 2);
    r = await cli(['revoke', '--client-id', 'a']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no key/);
    assert.equal((await stack.emulatorStats()).routes.revokeTokens.requests, before);
  });

  test('a host failure moves on to the fallback host; an Ably 4xx does not', async () => {
    fallback = await startEmulator(null);
    const dead = await freePort(); // nothing listens there
    let r = await cli(['revoke', '--config', config('dead', {
      rest_host: `127.0.0.1:${dead}`, fallback_hosts: `127.0.0.1:${fallback.port}`, connect_timeout_ms: 500,
    }), '--client-id', 'erin']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^clientId:erin: revoked/);
    assert.match(r.stderr, new RegExp(`ably 127\\.0\\.0\\.1:${dead}: `));

    const both = config('both', { rest_host: emuHost(), fallback_hosts: `127.0.0.1:${fallback.port}` });
    await fault(stack.emulatorUrl, { status: 503, routes: ['revokeTokens'] });
    r = await cli(['revoke', '--config', both, '--client-id', 'erin']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await fetch(`${fallback.url}/_emulator/stats`).then((x) => x.json())).routes.revokeTokens.ok, 2);

    await fault(stack.emulatorUrl, { status: 401, code: 40160, routes: ['revokeTokens'] });
    r = await cli(['revoke', '--config', both, '--client-id', 'erin']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error 40160 \(HTTP 401\)/);
    assert.equal((await fetch(`${fallback.url}/_emulator/stats`).then((x) => x.json())).routes.revokeTokens.requests, 2);

    // No host answers: 1, saying so.
    r = await cli(['revoke', '--config', config('none', {
      rest_host: `127.0.0.1:${dead}`, fallback_hosts: '', connect_timeout_ms: 500,
    }), '--client-id', 'erin']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no Ably host answered \(error 50002\)/);
  });

  test('a target Ably refused gets its own line and exit 1; control bytes from Ably are not printed', async () => {
    // A stand-in for Ably answering a partly failed batch (the emulator fails no clientId target).
    const srv = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({
          successCount: 1, failureCount: 1, results: [
            { target: 'clientId:gina', issuedBefore: 1764645600000, appliesAt: 1764645630000 },
            { target: 'clientId:hal\u001b[2J', error: { code: 40000, statusCode: 400, message: 'bad\u0007 target' } },
          ],
        }));
      });
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const r = await cli(['revoke', '--config', config('partial', {
        rest_host: `127.0.0.1:${srv.address().port}`, fallback_hosts: '',
      }), '--client-id', 'gina', '--client-id', 'hal']);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, 'clientId:gina: revoked (tokens issued before 2025-12-02T03:20:00.000Z; '
        + 'enforced from 2025-12-02T03:20:30.000Z)\n'
        + 'clientId:hal?[2J: NOT revoked: Ably error 40000 (HTTP 400): bad? target\n');
      assert.match(r.stderr, /1 of 2 targets not revoked/);
    } finally {
      srv.close();
    }
  });

  test('--help, and the key\'s secret never printed', async () => {
    const r = await cli(['revoke', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: ably-token revoke/);
    const main = await cli(['--help']);
    assert.match(main.stdout, /ably-token revoke/);
    for (const text of outputs) assert.ok(!text.includes(secret), 'the secret was printed');
    assert.ok(outputs.length > 20);
  });

  finalChecks(stack);
});

describe('over TLS', () => {
  // The real path: Basic auth only ever over HTTPS, the certificate checked.
  const stack = useStack({
    key: KEY,
    workers: 1,
    emulatorTls: true,
    config: (s) => ({
      mode: 'token', revocable_tokens: 'on', rest_host: `127.0.0.1:${s.emuPort}`, fallback_hosts: '',
      tls: 'on', ca_file: s.ca.caFile,
    }),
  });

  test('revoke over HTTPS with the configured CA; without it the certificate is refused', async () => {
    assert.equal((await stack.get()).status, 200);
    let r = await cli(['revoke', '--config', stack.configPath, '--client-id', 'frank']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^clientId:frank: revoked/);
    const stats = await stack.emulatorStats();
    assert.equal(stats.tls, true);
    const req = stats.lastRequests.find((q) => q.route === 'revokeTokens');
    assert.equal(req.status, 201);
    assert.equal(req.headers.authorization, 'Basic [redacted]');

    const noCa = path.join(stack.dir, 'no-ca.conf');
    fs.writeFileSync(noCa, [`key = ${KEY}`, `rest_host = 127.0.0.1:${stack.emuPort}`, 'fallback_hosts =',
      'tls = on', 'revocable_tokens = on'].join('\n') + '\n', { mode: 0o600 });
    r = await cli(['revoke', '--config', noCa, '--client-id', 'frank']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /certificate|SSL/i);
    assert.match(r.stderr, /no Ably host answered/);
    assert.equal((await stack.emulatorStats()).routes.revokeTokens.requests, 1);
  });

  finalChecks(stack);
});
