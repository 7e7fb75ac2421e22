// `make install` and `make uninstall` with DESTDIR and PREFIX, from a private
// build directory: the staged tree holds exactly the files the install list
// of doc/install.md names (the page as www/ has it, ably-js included), with
// the right modes and the install paths rewritten for PREFIX; the man page
// documents every option --help prints; uninstall leaves nothing behind, not
// even the directories install made, and keeps those it found; without
// ably.min.js install stops before writing anything.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, before, after } from 'node:test';
import { repoRoot, run, binaryPath } from './lib/stack.mjs';
import { buildDir, make as makeIn } from './lib/build.mjs';

const MARKER = '<!-- install-list';
const DEFAULT_PREFIX = '/usr/local';
const WWW_EXT = /\.(html|css|js|svg|png|ico)$/;

let dir;
let build;

function make(...args) {
  return makeIn(build, ...args);
}

/** Every directory under root, as absolute paths inside it. */
function dirsUnder(root) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      out.push('/' + path.relative(root, path.join(d, e.name)));
      walk(path.join(d, e.name));
    }
  };
  if (fs.existsSync(root)) walk(root);
  return out.sort();
}

/** Every file under root, as absolute paths inside it ("/usr/local/bin/..."). */
function filesUnder(root) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push('/' + path.relative(root, p));
    }
  };
  if (fs.existsSync(root)) walk(root);
  return out.sort();
}

/** The install list: the code block after the marker, in doc/install.md (or README.md). */
const LIST_FILES = ['doc/install.md', 'README.md'];
function readmeList() {
  for (const f of LIST_FILES) {
    const text = fs.readFileSync(path.join(repoRoot, f), 'utf8');
    const at = text.indexOf(MARKER);
    if (at < 0) continue;
    const block = /```[^\n]*\n([\s\S]*?)```/.exec(text.slice(at));
    assert.ok(block, `${f}: no code block after the install-list marker`);
    return { file: f, entries: block[1].split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean) };
  }
  return assert.fail(`no install list (marker "<!-- install-list") in ${LIST_FILES.join(' or ')}`);
}

/** What the page directory must hold: www's web files, plus ably-js (install stops without it). */
function wwwFiles() {
  const files = fs.readdirSync(path.join(repoRoot, 'www'), { withFileTypes: true })
    .filter((e) => e.isFile() && WWW_EXT.test(e.name)).map((e) => e.name);
  files.push('vendor/ably.min.js');
  return files;
}

/** The install list for `prefix`, the www/ entry expanded. */
function expectedFiles(prefix) {
  const { entries } = readmeList();
  const out = [];
  for (const e of entries) {
    assert.ok(e.startsWith(DEFAULT_PREFIX + '/'), `install list entry outside ${DEFAULT_PREFIX}: ${e}`);
    const p = prefix + e.slice(DEFAULT_PREFIX.length);
    if (p.endsWith('/')) out.push(...wwwFiles().map((f) => p + f));
    else out.push(p);
  }
  return out.sort();
}

before(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-install-'));
  // The build under test when it is up to date (install then compiles
  // nothing), else a private one.
  build = await buildDir(path.dirname(binaryPath), dir);
}, { timeout: 120000 });

after(async () => {
  if (dir && !process.env.IT_KEEP_TMP) await fsp.rm(dir, { recursive: true, force: true });
});

test('make install DESTDIR=... installs exactly what doc/install.md lists, with the right modes', async (t) => {
  const dest = path.join(dir, 'default');
  const { stdout, stderr } = await make(`DESTDIR=${dest}`, 'install');
  t.diagnostic(`install list read from ${readmeList().file}`);
  assert.doesNotMatch(stdout + stderr, /warning/i);
  assert.deepEqual(filesUnder(dest), expectedFiles(DEFAULT_PREFIX));
  for (const f of filesUnder(dest)) {
    const mode = fs.statSync(path.join(dest, f)).mode & 0o777;
    assert.equal(mode.toString(8), f.endsWith('/bin/ably-token') ? '755' : '644', f);
  }
  // The staged binary runs, and is the one just built.
  const v = await run(path.join(dest, 'usr/local/bin/ably-token'), ['--version']);
  assert.match(v.stdout, /^ably-token \d/);
  assert.deepEqual(fs.readFileSync(path.join(dest, 'usr/local/bin/ably-token')),
    fs.readFileSync(path.join(build, 'ably-token')));
  // The page is www/ as it is.
  for (const f of wwwFiles().filter((x) => !x.startsWith('vendor/'))) {
    assert.deepEqual(fs.readFileSync(path.join(dest, 'usr/local/share/ably-token/www', f)),
      fs.readFileSync(path.join(repoRoot, 'www', f)), f);
  }
});

test('another PREFIX: the units and the Apache example name the installed paths', async () => {
  const dest = path.join(dir, 'opt');
  const prefix = '/opt/ably';
  await make(`DESTDIR=${dest}`, `PREFIX=${prefix}`, 'install');
  assert.deepEqual(filesUnder(dest), expectedFiles(prefix));
  const read = (p) => fs.readFileSync(path.join(dest, p), 'utf8');
  const service = read('opt/ably/lib/systemd/system/ably-token.service');
  assert.match(service, /^ExecStart=\/opt\/ably\/bin\/ably-token /m);
  assert.doesNotMatch(service, /\/usr\/local/);
  const nginx = read('opt/ably/share/ably-token/nginx.conf.example');
  assert.match(nginx, /^\s*root \/opt\/ably\/share\/ably-token\/www;$/m, 'nginx.conf.example serves another page');
  assert.doesNotMatch(nginx, /\/usr\/local/);
  const apache = read('opt/ably/share/ably-token/apache-fcgid.conf.example');
  assert.match(apache, /^Define ABLY_TOKEN_BIN\s+\/opt\/ably\/bin\/ably-token$/m);
  assert.match(apache, /^Define ABLY_TOKEN_WWW\s+\/opt\/ably\/share\/ably-token\/www$/m);
  // Only the install paths change.
  const orig = fs.readFileSync(path.join(repoRoot, 'conf/apache-fcgid.conf.example'), 'utf8');
  assert.equal(apache.split('\n').length, orig.split('\n').length);
  assert.equal(read('opt/ably/share/ably-token/ably-token.conf'),
    fs.readFileSync(path.join(repoRoot, 'conf/ably-token.conf'), 'utf8'));
});

test('make install records the directories it made: all of them under DESTDIR', () => {
  const dest = path.join(dir, 'default');
  const recorded = fs.readFileSync(path.join(dest, 'usr/local/share/ably-token/installed-dirs'), 'utf8')
    .split('\n').filter(Boolean);
  assert.deepEqual(recorded, dirsUnder(dest), 'installed-dirs is not every directory install made');
});

test('make uninstall removes everything make install put there, directories included', async () => {
  for (const [name, prefix] of [['default', null], ['opt', '/opt/ably']]) {
    const dest = path.join(dir, name);
    await make(`DESTDIR=${dest}`, ...(prefix ? [`PREFIX=${prefix}`] : []), 'uninstall');
    assert.deepEqual(filesUnder(dest), [], `left after uninstall (${name})`);
    assert.deepEqual(dirsUnder(dest), [], `directories left after uninstall (${name})`);
  }
});

test('make uninstall keeps a directory that was there before install, and one something else uses', async () => {
  const dest = path.join(dir, 'existing');
  await fsp.mkdir(path.join(dest, 'usr/local/bin'), { recursive: true });
  await make(`DESTDIR=${dest}`, 'install');
  await fsp.mkdir(path.join(dest, 'usr/local/share/man/man8/other'), { recursive: true });
  const { stderr } = await make(`DESTDIR=${dest}`, 'uninstall');
  assert.match(stderr, /kept .*share\/man\/man8: not empty/);
  assert.deepEqual(dirsUnder(dest), ['/usr', '/usr/local', '/usr/local/bin', '/usr/local/share',
    '/usr/local/share/man', '/usr/local/share/man/man8', '/usr/local/share/man/man8/other']);
});

test('make install without ably.min.js stops with a message, and installs nothing', async () => {
  const dest = path.join(dir, 'no-ably-js');
  await assert.rejects(make(`DESTDIR=${dest}`, 'ABLY_JS=', 'install'),
    (e) => /no ably\.min\.js for the page: run npm ci/.test(e.message));
  assert.deepEqual(filesUnder(dest), []);
});

test('the man page documents every option --help prints, and man renders it without warnings', async (t) => {
  const bin = path.join(build, 'ably-token');
  const help = [];
  for (const args of [['--help'], ['sign', '--help'], ['jwt', '--help'], ['revoke', '--help']]) {
    const r = await run(bin, args).catch((e) => ({ stdout: e.stdout || '' }));
    help.push(r.stdout);
  }
  const options = new Set(help.join('\n').match(/--[a-z][a-z-]+/g));
  assert.ok(options.size >= 15, `only ${options.size} options found in --help`);
  const page = fs.readFileSync(path.join(repoRoot, 'doc/ably-token.8'), 'utf8').replace(/\\-/g, '-');
  const missing = [...options].filter((o) => !new RegExp(`${o}(?![a-z-])`).test(page));
  assert.deepEqual(missing, [], 'options --help prints that the man page does not describe');
  const file = path.join(repoRoot, 'doc/ably-token.8');
  const renderer = fs.existsSync('/usr/bin/man') ? ['man', ['--warnings', '-E', 'UTF-8', '-l', file]]
    : fs.existsSync('/usr/bin/groff') ? ['groff', ['-man', '-Tutf8', '-ww', file]] : null;
  if (!renderer) {
    t.diagnostic('neither man nor groff is installed: rendering not checked');
    return;
  }
  const r = await run(renderer[0], renderer[1], { env: { ...process.env, MANWIDTH: '80' } });
  assert.equal(r.stderr.trim(), '', `${renderer[0]} warnings`);
  assert.match(r.stdout.replace(/.\x08/g, ''), /ably-token - Ably token endpoint/);
});
