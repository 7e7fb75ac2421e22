// The policy engine through real nginx: identities from nginx's own login
// (auth_basic -> $remote_user) and from an auth_request service (a trusted
// header with TRUSTED_HEADER_SECRET), per-user rules and {clientId}
// templates, in every mode. The point: user A can never obtain user B's
// clientId or private channels, however it asks.
//
// One nginx (nginx.conf.example with locations added, rendered by
// scripts/render-nginx-conf.sh --example) in front of four binaries:
//   /request-token  auth_basic    token-request  (the example's own location)
//   /jwt-token      auth_basic    jwt, with trusted_header_secret passed
//                   only here (and /jwt-unchecked without auth_basic, where
//                   a made-up Basic user must fail)
//   /ably-token     auth_basic    token (TokenDetails fetched from the emulator)
//   /sso-token      auth_request  jwt, $header:X-Auth-User + X-Auth-Groups
//   /leaky-token    no login, client headers passed through: a misconfigured
//                   path to the $header binary, whose forged headers must fail

import assert from 'node:assert/strict';
import { test, before, after, describe } from 'node:test';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Ably from 'ably';
import {
  Proc, binaryPath, freePort, repoRoot, run, sleep, splitKey, startEmulator, testKey,
} from './lib/stack.mjs';
import { assertAblyError, assertTokenRequest, header, verifyJwt } from './lib/checks.mjs';

const KEY = testKey('main');
const { keyName, secret } = splitKey(KEY);
const TRUSTED_SECRET = 'it-3b6c0f5e9d2a4871a0c4d7e1f2b3c4d5';
const PASSWORDS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' };
// The auth_request service's sessions: bearer token -> user and groups.
const SESSIONS = {
  'tok-erin': { user: 'erin', groups: 'dev' },
  'tok-sam': { user: 'sam', groups: 'dev, staff' },
};

const USER_RULES = {
  client_id: '$remote_user',
  capability: '{"public":["subscribe"]}',
  'group.admins': 'carol',
  'rule.admins.match': 'group:admins',
  'rule.admins.capability': '{"*":["*"]}',
  'rule.admins.wildcard_client_id': 'on',
  'rule.users.match': '*',
  'rule.users.capability': '{"private:{clientId}":["*"],"chat:*":["publish","subscribe","history"],"public":["subscribe"]}',
  'rule.users.ttl': '10m',
  log_level: 'debug',
};
const USERS_CAP = (id) => `{"chat:*":["history","publish","subscribe"],"private:${id}":["*"],"public":["subscribe"]}`;

const h = { responses: [], procs: [] };

function configText(settings) {
  return Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n';
}

function canConnect(opts) {
  return new Promise((resolve) => {
    const s = net.connect(opts);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function waitFor(what, check, proc, ms = 15000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (proc && proc.exit) throw new Error(`${what}: exited\n${proc.describe()}`);
    if (Date.now() > end) throw new Error(`${what}: not ready in ${ms} ms${proc ? `\n${proc.describe()}` : ''}`);
    await sleep(50);
  }
}

function nginxBinary() {
  for (const p of (process.env.PATH || '').split(':').concat(['/usr/sbin', '/usr/local/sbin'])) {
    if (p && fs.existsSync(path.join(p, 'nginx'))) return path.join(p, 'nginx');
  }
  return 'nginx';
}

/** A binary with these settings on its own socket. */
async function startBinary(name, settings) {
  const conf = path.join(h.dir, `${name}.conf`);
  await fsp.writeFile(conf, configText({ key: KEY, ...settings }), { mode: 0o600 });
  const sock = path.join(h.dir, `${name}.sock`);
  const env = { ...process.env };
  for (const v of ['ABLY_API_KEY', 'VITE_ABLY_KEY', 'ABLY_TOKEN_CONF']) delete env[v];
  const proc = new Proc(`ably-token ${name}`, binaryPath,
    ['--config', conf, '--listen', `unix:${sock}`, '--workers', '1'], { cwd: h.dir, env });
  h.procs.push(proc);
  await waitFor(`ably-token ${name}`, () => fs.existsSync(sock) && canConnect({ path: sock }), proc);
  return { proc, sock };
}

/** The auth_request service: Authorization: Bearer <session> -> 200 + headers, else 401. */
async function startAuthService() {
  const srv = http.createServer((req, res) => {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization || '');
    const s = m && SESSIONS[m[1]];
    if (!s) {
      res.writeHead(401);
      res.end();
      return;
    }
    res.writeHead(200, { 'X-Auth-User': s.user, 'X-Auth-Groups': s.groups });
    res.end();
  });
  srv.listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  return srv;
}

/**
 * nginx.conf.example with the test's logins added. The FastCGI parameters of
 * the server block are copied into the auth_request location: nginx drops
 * inherited fastcgi_param lines as soon as a location sets its own (the
 * pattern the example's comments describe).
 */
function exampleWithLogins(example, socks, authPort, htpasswd) {
  const params = example.split('\n')
    .filter((l) => /^ {8}fastcgi_param /.test(l))
    .map((l) => `    ${l}`).join('\n');
  const basic = `            auth_basic "ably-token test";\n            auth_basic_user_file ${htpasswd};\n`;
  let out = example.replace(/( *location = \/request-token \{\n)/, `$1${basic}`);
  assert.notEqual(out, example, 'no location = /request-token in the example');
  const locations = `
        # auth_basic plus the secret: REMOTE_USER counts only from here
        location = /jwt-token {
${basic}${params}
            fastcgi_param TRUSTED_HEADER_SECRET "${TRUSTED_SECRET}";
            fastcgi_pass unix:${socks.jwt};
        }

        # misconfigured on purpose: the jwt binary without auth_basic, where
        # nginx takes $remote_user from any Basic header unchecked
        location = /jwt-unchecked {
            fastcgi_pass unix:${socks.jwt};
        }

        location = /ably-token {
${basic}            fastcgi_pass unix:${socks.token};
        }

        location = /sso-token {
            auth_request /_auth;
            auth_request_set $auth_user $upstream_http_x_auth_user;
            auth_request_set $auth_groups $upstream_http_x_auth_groups;
${params}
            fastcgi_param HTTP_X_AUTH_USER $auth_user;
            fastcgi_param HTTP_X_AUTH_GROUPS $auth_groups;
            fastcgi_param TRUSTED_HEADER_SECRET "${TRUSTED_SECRET}";
            fastcgi_pass unix:${socks.sso};
        }

        location = /_auth {
            internal;
            proxy_pass http://127.0.0.1:${authPort}/check;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }

        # misconfigured on purpose: no login, every client header passed on
        location = /leaky-token {
            fastcgi_pass_request_headers on;
            fastcgi_pass unix:${socks.sso};
        }

`;
  const at = out.indexOf('        location @body_too_large');
  assert.ok(at > 0, 'no location @body_too_large in the example');
  return out.slice(0, at) + locations.slice(1) + out.slice(at);
}

before(async () => {
  h.dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-policy-'));
  const emu = await startEmulator(h.dir);
  h.procs.push(emu.proc);
  h.emuPort = emu.port;
  h.auth = await startAuthService();

  const socks = {};
  socks.tr = (await startBinary('token-request', { mode: 'token-request', ...USER_RULES })).sock;
  socks.jwt = (await startBinary('jwt', {
    mode: 'jwt',
    ...USER_RULES,
    trusted_header_secret: TRUSTED_SECRET,
    'rule.users.revocation_key': 'user:{clientId}',
    'rule.users.channel_claim.private:{clientId}': 'owner',
    'rule.users.publish_max_rate.chat:*': '5',
  })).sock;
  socks.token = (await startBinary('token', {
    mode: 'token', rest_host: `127.0.0.1:${h.emuPort}`, tls: 'off', ...USER_RULES,
  })).sock;
  const sso = await startBinary('sso', {
    mode: 'jwt',
    client_id: '$header:X-Auth-User',
    group_header: 'X-Auth-Groups',
    trusted_header_secret: TRUSTED_SECRET,
    capability: '{"public":["subscribe"]}',
    'rule.staff.match': 'group:staff',
    'rule.staff.capability': '{"staff:*":["*"],"private:{clientId}":["*"]}',
    'rule.users.match': '*',
    'rule.users.capability': '{"private:{clientId}":["*"],"public":["subscribe"]}',
    'rule.users.revocation_key': 'sso:{clientId}',
    log_level: 'debug',
  });
  socks.sso = sso.sock;
  h.ssoProc = sso.proc;

  const htpasswd = path.join(h.dir, 'htpasswd');
  // {PLAIN} keeps the test free of hashing tools; use htpasswd -B for real.
  await fsp.writeFile(htpasswd, Object.entries(PASSWORDS).map(([u, p]) => `${u}:{PLAIN}${p}`).join('\n') + '\n');
  const example = await fsp.readFile(path.join(repoRoot, 'nginx.conf.example'), 'utf8');
  const exampleCopy = path.join(h.dir, 'nginx.conf.example');
  await fsp.writeFile(exampleCopy, exampleWithLogins(example, socks, h.auth.address().port, htpasswd));
  const prefix = path.join(h.dir, 'nginx');
  h.port = await freePort();
  const conf = (await run(path.join(repoRoot, 'scripts/render-nginx-conf.sh'), ['--prefix', prefix,
    '--port', String(h.port), '--socket', socks.tr, '--example', exampleCopy])).stdout.trim();
  const nginx = new Proc('nginx', nginxBinary(), ['-p', prefix, '-c', conf], { cwd: h.dir });
  h.procs.push(nginx);
  await waitFor('nginx', () => canConnect({ host: '127.0.0.1', port: h.port }), nginx);
  h.base = `http://127.0.0.1:${h.port}`;
}, { timeout: 60000 });

after(async () => {
  if (h.auth) h.auth.close();
  for (const p of h.procs.reverse()) await p.stop();
  if (h.dir && !process.env.IT_KEEP_TMP) await fsp.rm(h.dir, { recursive: true, force: true });
});

/** One request through nginx; answers are kept for the secret check. */
function request(method, urlPath, headers = {}, body = null) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: h.port, method, path: urlPath, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const r = { method, path: urlPath, status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, raw, body: raw.toString('utf8') };
        h.responses.push(r);
        resolve(r);
      });
    });
    req.setTimeout(10000, () => req.destroy(new Error(`${method} ${urlPath}: no answer`)));
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}

const basic = (user, pw = PASSWORDS[user]) => ({ Authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });
const bearer = (t) => ({ Authorization: `Bearer ${t}` });
const get = (loc, params = {}, headers = {}) => {
  const qs = new URLSearchParams(params).toString();
  return request('GET', `/${loc}${qs ? `?${qs}` : ''}`, headers);
};

/** What a 200 answer grants, whatever the mode: {clientId, capability, ttl}. */
function granted(res, mode) {
  assert.equal(res.status, 200, `${res.path}: ${res.status} ${res.body}`);
  if (mode === 'token-request') {
    const tr = assertTokenRequest(res, { keyName, secret });
    return { clientId: tr.clientId, capability: tr.capability, ttl: tr.ttl };
  }
  if (mode === 'jwt') {
    const { claims } = verifyJwt(res.body, secret);
    return { clientId: claims['x-ably-clientId'], capability: claims['x-ably-capability'], ttl: (claims.exp - claims.iat) * 1000, claims };
  }
  const d = JSON.parse(res.body);  // token: TokenDetails from the emulator
  assert.equal(typeof d.token, 'string');
  return { clientId: d.clientId, capability: d.capability, ttl: d.expires - d.issued };
}

const MODES = [['request-token', 'token-request'], ['jwt-token', 'jwt'], ['ably-token', 'token']];

describe('auth_basic -> $remote_user, in every mode', () => {
  for (const [loc, mode] of MODES) {
    test(`${mode}: no login or a wrong password never reaches the binary (nginx 401)`, async () => {
      assert.equal((await get(loc)).status, 401);
      assert.equal((await get(loc, {}, basic('alice', 'bob-pw'))).status, 401);
      assert.equal((await get(loc, { clientId: 'alice' })).status, 401);
    });

    test(`${mode}: alice gets her clientId, her private channel and the shared ones`, async () => {
      const g = granted(await get(loc, {}, basic('alice')), mode);
      assert.equal(g.clientId, 'alice');
      assert.equal(g.capability, USERS_CAP('alice'));
      assert.equal(g.ttl, 600000);
    });

    test(`${mode}: alice can never obtain bob's clientId or private channel`, async () => {
      assertAblyError(await get(loc, { clientId: 'bob' }, basic('alice')), 403, [40300]);
      assertAblyError(await get(loc, { clientId: '*' }, basic('alice')), 403, [40300]);
      assertAblyError(await get(loc, { capability: '{"private:bob":["subscribe"]}' }, basic('alice')), 403, [40160]);
      for (const capability of ['{"private:*":["*"]}', '{"*":["*"]}', '{"[*]*":["*"]}', '{"private:bob":["*"],"private:alice":["*"]}']) {
        const g = granted(await get(loc, { capability }, basic('alice')), mode);
        assert.equal(g.clientId, 'alice');
        assert.doesNotMatch(g.capability, /private:bob|private:\*|"\*"\s*:/, `${capability} -> ${g.capability}`);
        assert.match(g.capability, /private:alice/);
      }
      // the username alone decides: a clientId param for bob with alice's login
      assertAblyError(await request('POST', `/${loc}`, { ...basic('alice'), 'Content-Type': 'application/json' },
        JSON.stringify({ clientId: 'bob' })), 403, [40300]);
    });

    test(`${mode}: bob gets his own, not alice's`, async () => {
      const g = granted(await get(loc, { capability: '{"private:*":["subscribe"]}' }, basic('bob')), mode);
      assert.equal(g.clientId, 'bob');
      assert.equal(g.capability, '{"private:bob":["subscribe"]}');
    });

    test(`${mode}: the admins group may ask for a wildcard clientId`, async () => {
      const g = granted(await get(loc, { clientId: '*' }, basic('carol')), mode);
      assert.equal(g.clientId, '*');
      assert.equal(g.capability, '{"*":["*"]}');
    });
  }

  test('jwt: with trusted_header_secret, a location without auth_basic cannot pass a made-up user', async () => {
    // nginx fills $remote_user from the Basic header even where no
    // auth_basic checks it; the secret is passed only where one does.
    for (const user of ['alice', 'carol', 'mallory']) {
      assertAblyError(await get('jwt-unchecked', {}, basic(user, 'wrong')), 401, [40100]);
    }
    assertAblyError(await get('jwt-unchecked'), 401, [40100]);
  });

  test('jwt: the rule\'s claims are templated with the user', async () => {
    const { claims } = granted(await get('jwt-token', {}, basic('alice')), 'jwt');
    assert.equal(claims['x-ably-revocation-key'], 'user:alice');
    assert.equal(claims['ably.channel.private:alice'], 'owner');
    assert.equal(claims['ably.limits.publish.perAttachment.maxRate.chat:*'], 5);
    for (const k of Object.keys(claims)) assert.doesNotMatch(k, /bob/);
  });
});

describe('ably-js as the client', () => {
  const client = (loc, user, extra = {}) => new Ably.Rest({
    authUrl: `${h.base}/${loc}`,
    authHeaders: basic(user),
    restHost: '127.0.0.1',
    port: h.emuPort,
    tls: false,
    useBinaryProtocol: false,
    logHandler: () => {},
    ...extra,
  });

  for (const [loc, mode] of MODES) {
    test(`${mode}: alice publishes on private:alice, the emulator refuses private:bob`, async () => {
      const rest = client(loc, 'alice');
      await rest.channels.get('private:alice').publish('m', 'hello');
      const page = await rest.channels.get('private:alice').history();
      assert.ok(page.items.some((m) => m.data === 'hello' && m.clientId === 'alice'));
      await assert.rejects(rest.channels.get('private:bob').publish('m', 'x'),
        (e) => e.code === 40160 || e.statusCode === 401);
    });

    test(`${mode}: ClientOptions clientId bob with alice's login is refused (40300)`, async () => {
      const rest = client(loc, 'alice', { clientId: 'bob' });
      await assert.rejects(rest.auth.authorize(), (e) => e.code === 40300 && e.statusCode === 403);
    });
  }
});

describe('auth_request -> $header:X-Auth-User with TRUSTED_HEADER_SECRET', () => {
  test('no session: nginx answers 401 before the binary', async () => {
    assert.equal((await get('sso-token')).status, 401);
    assert.equal((await get('sso-token', {}, bearer('tok-nobody'))).status, 401);
  });

  test('erin gets her identity, private channel and revocation key', async () => {
    const { clientId, capability, claims } = granted(await get('sso-token', {}, bearer('tok-erin')), 'jwt');
    assert.equal(clientId, 'erin');
    assert.equal(capability, '{"private:erin":["*"],"public":["subscribe"]}');
    assert.equal(claims['x-ably-revocation-key'], 'sso:erin');
  });

  test('groups come from the auth service: sam is staff', async () => {
    const { clientId, capability } = granted(await get('sso-token', {}, bearer('tok-sam')), 'jwt');
    assert.equal(clientId, 'sam');
    assert.equal(capability, '{"private:sam":["*"],"staff:*":["*"]}');
  });

  test('headers the client sends itself change nothing on the trusted path', async () => {
    const forged = { 'X-Auth-User': 'sam', 'X-Auth-Groups': 'staff', 'Trusted-Header-Secret': TRUSTED_SECRET };
    const { clientId, capability } = granted(await get('sso-token', {}, { ...bearer('tok-erin'), ...forged }), 'jwt');
    assert.equal(clientId, 'erin');
    assert.doesNotMatch(capability, /staff|sam/);
    assertAblyError(await get('sso-token', { clientId: 'sam' }, bearer('tok-erin')), 403, [40300]);
  });

  test('a path that skips the login cannot forge the identity (no secret: 401 40100)', async () => {
    const forged = { 'X-Auth-User': 'sam', 'X-Auth-Groups': 'staff' };
    assertAblyError(await get('leaky-token', {}, forged), 401, [40100]);
    // the secret as a client header arrives as HTTP_TRUSTED_HEADER_SECRET, not the parameter
    assertAblyError(await get('leaky-token', {}, { ...forged, 'Trusted-Header-Secret': TRUSTED_SECRET }), 401, [40100]);
    assertAblyError(await get('leaky-token', {}, { 'X-Auth-Groups': 'staff' }), 401, [40100]);
    assertAblyError(await get('leaky-token'), 401, [40100]);
    assert.match(h.ssoProc.err, /trusted identity header came without TRUSTED_HEADER_SECRET/);
  });
});

test('the key secret and the trusted header secret appear in no answer', () => {
  assert.ok(h.responses.length > 20);
  for (const r of h.responses) {
    const all = Buffer.concat([r.raw, Buffer.from(r.rawHeaders.join('\n'))]);
    assert.ok(!all.includes(Buffer.from(secret)), `key secret in ${r.method} ${r.path}`);
    assert.ok(!all.includes(Buffer.from(TRUSTED_SECRET)), `trusted secret in ${r.method} ${r.path}`);
  }
});

test('every binary stops cleanly on SIGTERM and never logged either secret', async () => {
  for (const p of h.procs.filter((x) => x.name.startsWith('ably-token'))) {
    const rep = await p.stop();
    assert.equal(rep.code, 0, `${p.name}: exit ${rep.code} ${rep.signal}\n${p.err.slice(-2000)}`);
    assert.equal(rep.stragglers, false, `${p.name}: workers left behind`);
    assert.ok(!p.err.includes(secret), `${p.name} logged the key secret`);
    assert.ok(!p.err.includes(TRUSTED_SECRET), `${p.name} logged the trusted header secret`);
    assert.doesNotMatch(p.err, /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/, `${p.name}: sanitizer report`);
  }
});
