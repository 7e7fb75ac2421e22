// Shared hosting: the binary as a plain CGI program in user directories
// (/~USER/, mod_userdir) of a private Apache with mod_cgid, each configured
// only by conf/htaccess.example under the AllowOverride a shared host gives:
//   alice  the `make static` binary; key in a settings file outside
//          public_html (SetEnv ABLY_TOKEN_CONF), plus copies of the key file
//          left in public_html by mistake, which must not be served
//   bob    the binary under test in `token` mode (it fetches the token from
//          the emulator); the key itself in .htaccess (SetEnv ABLY_API_KEY),
//          the settings, without the key, in a file outside public_html
//   carol  the suEXEC wrapper from the example's comments (no SetEnv at all)
//   dave   a settings path that does not exist: an Ably-shaped 500
// ably-js end to end through alice; ldd of the static build; nothing secret
// downloadable.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot, binaryPath, TEST_POLICY_LINES } from './lib/stack.mjs';
import { buildDir, make } from './lib/build.mjs';
import { assertAblyError, assertTokenRequest, finalChecks, header } from './lib/checks.mjs';
import { ablyJsTests, ablyLogResponse } from './lib/ablyjs.mjs';
import { lddNames, neededLibs, renderExample, shareWithApache, useApache } from './lib/apache.mjs';

const HTACCESS = path.join(repoRoot, 'conf/htaccess.example');
const MODULES = ['mime', 'dir', 'userdir', 'cgid', 'env', 'headers'];
const CONF_LINE = 'SetEnv ABLY_TOKEN_CONF /home/USER/ably-token.conf';
const KEY_LINE = '# SetEnv ABLY_API_KEY appId.keyId:secret';

let staticBinary;

/**
 * `make static`, from build/ when that is up to date (only the link runs),
 * else from a private build. Never from the build under test: an ASan build
 * (make check) cannot be linked statically.
 */
async function makeStatic(dir) {
  const build = await buildDir('build', dir);
  await make(build, 'static');
  return path.join(build, 'ably-token-static');
}

/** The wrapper script shown in the example's comments, for a home dir. */
function wrapperFromExample(text, home) {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => /^#\s+#!\/bin\/sh$/.test(l));
  assert.ok(i >= 0, 'htaccess.example: the "#!/bin/sh" wrapper is gone from its comments');
  return lines.slice(i, i + 2).map((l) => l.replace(/^#\s{3}/, '').split('/home/USER').join(home)).join('\n') + '\n';
}

async function userDir(h, user, { binary, htaccess, wrapperBinary = null }) {
  const home = path.join(h.dir, 'home', user);
  const pub = path.join(home, 'public_html');
  await fs.mkdir(pub, { recursive: true, mode: 0o755 });
  await fs.chmod(home, 0o755);
  const cgi = path.join(pub, 'request-token');
  if (wrapperBinary) {
    await fs.mkdir(path.join(home, 'bin'), { mode: 0o755 });
    await fs.copyFile(wrapperBinary, path.join(home, 'bin', 'ably-token'));
    await fs.chmod(path.join(home, 'bin', 'ably-token'), 0o755);
    await fs.writeFile(cgi, binary);
  } else {
    await fs.copyFile(binary, cgi);
  }
  await fs.chmod(cgi, 0o755);
  await fs.writeFile(path.join(pub, '.htaccess'), htaccess, { mode: 0o644 });
  return { home, pub };
}

async function keyFile(h, file) {
  await fs.writeFile(file, `key = ${h.key}\nmode = token-request\n${TEST_POLICY_LINES}`);
  await shareWithApache(file, 0o640);
}

const site = useApache('Apache CGI (shared hosting)', 'cgi', async (h) => {
  staticBinary = await makeStatic(h.dir);
  const example = await fs.readFile(HTACCESS, 'utf8');
  const home = (u) => path.join(h.dir, 'home', u);

  // alice: the documented recipe, with the static binary.
  const alice = await userDir(h, 'alice', {
    binary: staticBinary,
    htaccess: renderExample(example, { replace: [['/home/USER', home('alice')]] }, 'conf/htaccess.example'),
  });
  await keyFile(h, path.join(alice.home, 'ably-token.conf'));
  await fs.cp(path.join(repoRoot, 'www'), alice.pub, { recursive: true });
  // Mistakes the example's FilesMatch must cover.
  await keyFile(h, path.join(alice.pub, 'ably-token.conf'));
  await fs.writeFile(path.join(alice.pub, '.env'), `ABLY_API_KEY=${h.key}\n`, { mode: 0o644 });
  await fs.writeFile(path.join(alice.pub, 'ably-token.conf.bak'), `key = ${h.key}\n`, { mode: 0o644 });

  // bob: the key itself in .htaccess, token mode, the binary under test.
  const bob = await userDir(h, 'bob', {
    binary: binaryPath,
    htaccess: renderExample(example, { replace: [['/home/USER', home('bob')],
      [KEY_LINE, `SetEnv ABLY_API_KEY ${h.key}`]] }, 'conf/htaccess.example'),
  });
  await fs.writeFile(path.join(bob.home, 'ably-token.conf'),
    `mode = token\nrest_host = 127.0.0.1:${h.emuPort}\ntls = off\n${TEST_POLICY_LINES}`, { mode: 0o644 });

  // carol: as on a suEXEC host, where SetEnv does not reach the program.
  const carolHome = home('carol');
  await userDir(h, 'carol', {
    binary: wrapperFromExample(example, carolHome),
    wrapperBinary: binaryPath,
    htaccess: renderExample(example, { replace: [[CONF_LINE, '# (suEXEC: see the wrapper)']] }, 'conf/htaccess.example'),
  });
  await keyFile(h, path.join(carolHome, 'ably-token.conf'));

  // dave: a settings path that is not there.
  await userDir(h, 'dave', {
    binary: binaryPath,
    htaccess: renderExample(example, { replace: [['/home/USER', home('dave')]] }, 'conf/htaccess.example'),
  });

  return {
    modules: MODULES,
    body: [
      `ScriptSock "${h.dir}/run/cgisock"`,
      'DirectoryIndex index.html',
      `UserDir "${h.dir}/home/*/public_html"`,
      'UserDir disabled root',
      // What a shared host typically allows in .htaccess (Debian's userdir.conf
      // plus Options for CGI).
      `<Directory "${h.dir}/home/*/public_html">`,
      '    AllowOverride FileInfo AuthConfig Limit Indexes Options=ExecCGI,Indexes,MultiViews,SymLinksIfOwnerMatch',
      '    Options MultiViews Indexes SymLinksIfOwnerMatch IncludesNoExec',
      '    Require method GET POST OPTIONS',
      '</Directory>',
    ].join('\n'),
    tokenPath: '/~alice/request-token',
  };
});
const ablyLog = ablyJsTests(site, { label: 'Apache CGI', channelPrefix: 'cgi' });
const bobTarget = {
  get tokenUrl() { return `${site.baseUrl}/~bob/request-token`; },
  get emuPort() { return site.emuPort; },
};
const bobLog = ablyJsTests(bobTarget, { label: 'Apache CGI, token mode', channelPrefix: 'cgi-token', answer: /"issued"/ });

test('make static: libfcgi, json-c and libcrypto are linked in; the host needs only glibc and libcurl', (t) => {
  const needed = neededLibs(staticBinary);
  t.diagnostic(`NEEDED: ${needed.join(' ')}`);
  for (const lib of needed) {
    assert.match(lib, /^(libc\.so\.6|libcurl\.so\.4|ld-linux[-\w.]*\.so\.\d)$/, `${lib} is needed at run time`);
  }
  const ldd = lddNames(staticBinary);
  for (const banned of [/^libfcgi/, /^libjson-c/]) {
    assert.ok(!ldd.some((l) => banned.test(l)), `ldd lists ${ldd.filter((l) => banned.test(l))}`);
  }
  // Whatever else ldd lists comes with libcurl (its own dependencies).
  const viaCurl = needed.includes('libcurl.so.4')
    ? new Set(lddNames(ldd.includes('libcurl.so.4') ? execFileSync('sh', ['-c',
      `ldd ${JSON.stringify(staticBinary)} | awk '$1=="libcurl.so.4"{print $3}'`], { encoding: 'utf8' }).trim() : ''))
    : new Set();
  const extra = ldd.filter((l) => !/^(linux-vdso|libc\.so|ld-linux|libcurl\.so)/.test(l) && !viaCurl.has(l));
  assert.deepEqual(extra, [], 'libraries that neither glibc nor libcurl brings');
  // The linked-in OpenSSL stays private: no EVP_/HMAC symbols exported that
  // could interpose on the libcrypto libcurl loads.
  const dynsyms = execFileSync('objdump', ['-T', staticBinary], { encoding: 'utf8' });
  assert.doesNotMatch(dynsyms, /\s(EVP_|HMAC|OPENSSL_|FCGX_|json_object_)\w*\s*$/m);
  const glibc = [...dynsyms.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]).pop();
  t.diagnostic(`needs glibc >= ${glibc.join('.')}`);
});

test('alice: errors through CGI keep Ably\'s shape; the page is served beside the program', async () => {
  assertAblyError(await site.get({ clientId: 'mallory' }), 403, [40300]);
  assertAblyError(await site.get({ ttl: '5' }), 400, [40003]);
  assertAblyError(await site.postForm('pad=' + 'x'.repeat(12000)), 413);
  assertTokenRequest(await site.postJson({ ttl: 30000 }), site, { ttl: 30000, clientId: 'example-client-id' });
  const page = await site.request('GET', '/~alice/');
  assert.equal(page.status, 200);
  assert.match(page.body, /<html/i);
  assert.equal(header(page, 'x-content-type-options'), 'nosniff');
  // The program is run, never sent as a file.
  const r = await site.get();
  assert.match(header(r, 'content-type'), /^application\/json/);
  assert.ok(!r.raw.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1')), 'the binary itself was sent');
});

/** A token-mode answer: TokenDetails from the emulator, passed on. */
function assertTokenDetails(res, want = {}) {
  assert.equal(res.status, 200, `${res.status} ${res.body}`);
  assert.match(header(res, 'content-type'), /^application\/json/);
  const td = JSON.parse(res.body);
  assert.equal(typeof td.token, 'string');
  assert.equal(typeof td.issued, 'number');
  assert.equal(typeof td.expires, 'number');
  if (want.ttl) assert.equal(td.expires - td.issued, want.ttl);
  assert.equal(td.clientId, 'example-client-id');
  return td;
}

test('bob: key from SetEnv ABLY_API_KEY, token mode, the binary under test as CGI', async () => {
  const p = '/~bob/request-token';
  assertTokenDetails(await site.get({ ttl: 60000 }, { path: p }), { ttl: 60000 });
  assertTokenDetails(await site.postForm({ clientId: 'example-client-id', ttl: '90000' }, { path: p }), { ttl: 90000 });
  assertTokenDetails(await site.postJson({}, { path: p }));
  assertAblyError(await site.get({ clientId: 'mallory' }, { path: p }), 403, [40300]);
  const stats = await site.emulatorStats();
  assert.ok(stats.tokensIssued >= 3, `emulator issued ${stats.tokensIssued} tokens`);
});

test('a refused body is answered, not reset (the CGI reads the rest of its stdin)', async () => {
  // Without that, the program exits with the body unread, the kernel resets
  // mod_cgid's connection, and the client sees ECONNRESET instead of a 413.
  for (const n of [9000, 100000]) {
    assertAblyError(await site.postForm('pad=' + 'x'.repeat(n)), 413);
  }
  assertAblyError(await site.postForm('pad=' + 'x'.repeat(100000), { path: '/~dave/request-token' }), 500, [50000]);
});

test('a chunked POST body reaches the program (Apache passes it without CONTENT_LENGTH)', async () => {
  const chunked = { headers: { 'Transfer-Encoding': 'chunked' } };
  assertAblyError(await site.postForm({ clientId: 'mallory' }, chunked), 403, [40300]);
  assertTokenRequest(await site.postForm({ ttl: '90000' }, chunked), site, { ttl: 90000 });
  assertTokenRequest(await site.postJson({ ttl: 45000 }, chunked), site, { ttl: 45000 });
  assertAblyError(await site.postForm('pad=' + 'x'.repeat(20000), chunked), 413);
});

test('carol: the wrapper for suEXEC hosts from the example\'s comments', async () => {
  assertTokenRequest(await site.get({}, { path: '/~carol/request-token' }), site, { clientId: 'example-client-id' });
});

test('dave: settings file missing -> an Ably-shaped 500, not a crash', async () => {
  const r = await site.get({}, { path: '/~dave/request-token' });
  assertAblyError(r, 500, [50000]);
});

test('neither the settings nor the key can be downloaded through the web server', async () => {
  const paths = [
    '/~alice/ably-token.conf', // a copy left in public_html by mistake
    '/~alice/ably-token.conf.bak',
    '/~alice/.env',
    '/~alice/.htaccess',
    '/~bob/.htaccess', // holds the key itself
    '/~carol/.htaccess',
    '/~alice/ably-token', // MultiViews would offer ably-token.conf
    '/~alice/ABLY-TOKEN.CONF',
    '/~alice/ably-token.conf%00',
    '/~alice/request-token/../ably-token.conf',
    '/~alice/%2e%2e/ably-token.conf', // the real one, outside public_html
    '/~alice/../alice/ably-token.conf',
    '/~alice/vendor/', // no listing
    '/~carol/bin/ably-token',
    '/~carol/ably-token.conf',
  ];
  const wrong = [];
  for (const p of paths) {
    const r = await site.request('GET', p);
    if (![400, 403, 404].includes(r.status) || r.raw.includes(Buffer.from(site.secret))) {
      wrong.push(`${p} -> ${r.status} ${r.body.slice(0, 80)}`);
    }
  }
  assert.deepEqual(wrong, [], 'answers that should have been 400/403/404 without the key');
  assert.equal((await site.request('GET', '/~alice/.htaccess')).status, 403);
  assert.equal((await site.request('GET', '/~alice/ably-token.conf')).status, 403);
});

test('htaccess.example never sets the key unless you uncomment it', async () => {
  const live = (await fs.readFile(HTACCESS, 'utf8')).split('\n').filter((l) => !/^\s*#/.test(l));
  assert.ok(!live.some((l) => /ABLY_API_KEY/.test(l)));
  assert.ok(live.includes(CONF_LINE));
});

finalChecks(site, { extraResponses: () => [ablyLogResponse(ablyLog), ablyLogResponse(bobLog)] });
