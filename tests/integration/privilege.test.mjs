// Privilege drop and the socket's directory (--user, --socket-owner,
// --listen unix:DIR/NAME with DIR missing). The binary is started as root,
// binds its socket and reads its config as root, then runs as the scratch
// user this file creates (and removes again): the supervisor and every
// worker are checked in /proc/PID/status. The failures are checked from
// the scratch user's side (setpriv): a chown it may not make, a switch it
// may not make; each names the errno and leaves no socket behind.
// Needs root (to create users and to switch): skipped otherwise.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, before, after } from 'node:test';
import { startStack, testKey, binaryPath, Proc, sleep } from './lib/stack.mjs';
import { assertTokenRequest } from './lib/checks.mjs';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = isRoot ? false : 'needs root: it creates a scratch user and switches to it';

// Unique names (at most 32 bytes): the user (with its own group), a group
// it is in besides, and a group it is not in.
const tag = `${process.pid.toString(36)}${crypto.randomBytes(3).toString('hex')}`;
const USER = `atpd-${tag}`;
const EXTRA = `atpdx-${tag}`;
const OTHER = `atpdo-${tag}`;
let ids = null; // { uid, gid, extraGid, otherGid }

function sh(cmd, ...args) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

before(() => {
  if (skip) return;
  sh('groupadd', '--system', EXTRA);
  sh('groupadd', '--system', OTHER);
  sh('useradd', '--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent',
    '--shell', '/usr/sbin/nologin', '--groups', EXTRA, USER);
  ids = {
    uid: Number(sh('id', '-u', USER)),
    gid: Number(sh('id', '-g', USER)),
    extraGid: Number(sh('getent', 'group', EXTRA).split(':')[2]),
    otherGid: Number(sh('getent', 'group', OTHER).split(':')[2]),
  };
});

after(() => {
  if (skip) return;
  for (const [cmd, name] of [['userdel', USER], ['groupdel', USER], ['groupdel', EXTRA], ['groupdel', OTHER]]) {
    try { sh(cmd, name); } catch { /* not there (userdel removed the user's group) */ }
  }
  assert.throws(() => sh('id', USER), 'the scratch user is gone');
});

/** Uid, Gid (real, effective, saved, fs) and Groups of a process. */
function credentials(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => status.match(new RegExp(`^${name}:\\s*(.*)$`, 'm'))[1].trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

/** The pids whose parent is pid. */
function children(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const v of ['ABLY_API_KEY', 'VITE_ABLY_KEY', 'ABLY_TOKEN_CONF']) delete env[v];
  return { ...env, ...extra };
}

/** A scratch dir the scratch user owns, with a config (no key: the key
 *  comes in ABLY_API_KEY) it can read. */
async function userDir() {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-it-'));
  await fsp.chmod(dir, 0o755);
  const conf = path.join(dir, 'ably-token.conf');
  await fsp.writeFile(conf, 'mode = token-request\n', { mode: 0o600 });
  fs.chownSync(conf, ids.uid, ids.gid);
  fs.chownSync(dir, ids.uid, ids.gid);
  return { dir, conf };
}

/** Run the binary to its exit (it must stop within 5 s). */
async function runToExit(cmd, args, env) {
  const p = new Proc('ably-token', cmd, args, { env });
  const exit = await Promise.race([p.exited, sleep(5000, null)]);
  if (exit === null) {
    await p.stop();
    assert.fail(`ably-token kept running:\n${p.err}`);
  }
  await p.closed;
  return { code: exit.code, err: p.err };
}

test('--user: the supervisor and every worker run as the user, its group and its groups; tokens are served', { skip }, async () => {
  const stack = await startStack({
    emulator: false,
    config: { mode: 'token-request' },
    binArgs: (s) => ['--config', s.configPath, '--listen', `unix:${s.sockPath}`, '--workers', '2', '--user', USER],
  });
  try {
    assertTokenRequest(await stack.get({ ttl: 60000 }), stack, { ttl: 60000 });
    const sup = stack.procs.binary.pid;
    const workers = children(sup);
    assert.equal(workers.length, 2, 'two workers');
    for (const pid of [sup, ...workers]) {
      const c = credentials(pid);
      assert.deepEqual(c.uid, [ids.uid, ids.uid, ids.uid, ids.uid], `pid ${pid} Uid`);
      assert.deepEqual(c.gid, [ids.gid, ids.gid, ids.gid, ids.gid], `pid ${pid} Gid`);
      assert.deepEqual([...c.groups].sort((a, b) => a - b), [ids.gid, ids.extraGid].sort((a, b) => a - b),
        `pid ${pid} Groups: the user's own, root's gone`);
    }
    assert.match(stack.binaryLog, new RegExp(`running as ${USER} \\(uid ${ids.uid}, gid ${ids.gid}\\)`));
    assert.doesNotMatch(stack.binaryLog, /RUNNING AS ROOT/);
  } finally {
    const report = await stack.stop();
    assert.equal(report.binary.code, 0, stack.binaryLog);
  }
});

const activate = ['/usr/bin/systemd-socket-activate', '/bin/systemd-socket-activate'].find((p) => fs.existsSync(p));

test('--user with a socket handed over (systemd socket activation): the same switch',
  { skip: skip || (!activate && 'no systemd-socket-activate (package systemd)') }, async () => {
  // systemd-socket-activate binds the socket in the scratch dir (the
  // binary's cwd) and execs the binary with it as fd 3.
  const stack = await startStack({
    emulator: false,
    config: { mode: 'token-request' },
    launcher: ['sh', '-c', `exec ${activate} --listen "$PWD/ably-token.sock" "$@"`, 'sh'],
    binArgs: (s) => ['--config', s.configPath, '--workers', '2', '--user', USER],
  });
  try {
    assertTokenRequest(await stack.get({ ttl: 60000 }), stack, { ttl: 60000 });
    const sup = stack.procs.binary.pid;
    for (const pid of [sup, ...children(sup)]) assert.equal(credentials(pid).uid[1], ids.uid, `pid ${pid}`);
    assert.equal(children(sup).length, 2);
  } finally {
    await stack.stop();
  }
});

test('as root without --user: a loud warning, naming --user', { skip }, async () => {
  const stack = await startStack({ emulator: false, config: { mode: 'token-request' } });
  try {
    assert.equal(credentials(stack.procs.binary.pid).uid[1], 0);
    assert.match(stack.binaryLog, /warn: RUNNING AS ROOT: without --user .* --user NAME/);
  } finally {
    await stack.stop();
  }
});

test('--user NAME:GROUP and the user setting: the group asked for; --user wins over the setting', { skip }, async () => {
  const stack = await startStack({
    emulator: false,
    config: { mode: 'token-request', user: 'nobody' },
    binArgs: (s) => ['--config', s.configPath, '--listen', `unix:${s.sockPath}`, '--workers', '1', '--user', `${USER}:${EXTRA}`],
  });
  try {
    const c = credentials(children(stack.procs.binary.pid)[0]);
    assert.equal(c.uid[1], ids.uid);
    assert.deepEqual(c.gid, [ids.extraGid, ids.extraGid, ids.extraGid, ids.extraGid]);
  } finally {
    await stack.stop();
  }
  // The setting alone.
  const byConf = await startStack({
    emulator: false,
    config: { mode: 'token-request', user: USER },
    workers: 1,
  });
  try {
    assert.equal(credentials(byConf.procs.binary.pid).uid[1], ids.uid);
  } finally {
    await byConf.stop();
  }
});

test('the socket directory is made with the socket owner and a mode to match; the socket goes at exit', { skip }, async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-it-'));
  try {
    await fsp.chmod(dir, 0o755);
    const conf = path.join(dir, 'ably-token.conf');
    await fsp.writeFile(conf, `mode = token-request\nkey = ${testKey('main')}\n`, { mode: 0o600 });
    const sockDir = path.join(dir, 'run');
    const sock = path.join(sockDir, 'ably-token.sock');
    const p = new Proc('ably-token', binaryPath, ['--config', conf, '--listen', `unix:${sock}`, '--workers', '1',
      '--user', USER, '--socket-owner', `${USER}:${OTHER}`], { env: cleanEnv() });
    try {
      for (let i = 0; i < 100 && !/serving with/.test(p.err); i++) await sleep(50);
      assert.match(p.err, /serving with/, p.err);
      const d = fs.statSync(sockDir);
      assert.equal(d.mode & 0o7777, 0o750, 'the group (the web server) may enter, others not');
      assert.deepEqual([d.uid, d.gid], [ids.uid, ids.otherGid]);
      const s = fs.statSync(sock);
      assert.ok(s.isSocket());
      assert.equal(s.mode & 0o777, 0o660);
      assert.deepEqual([s.uid, s.gid], [ids.uid, ids.otherGid]);
      assert.match(p.err, /created the socket's directory .*\/run \(mode 0750\)/);
    } finally {
      const r = await p.stop();
      assert.equal(r.code, 0, p.err);
    }
    assert.ok(!fs.existsSync(sock), 'the user removed its socket at exit');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('a socket directory that cannot be made: the reason with the errno, nothing left', { skip }, async () => {
  const { dir, conf } = await userDir();
  try {
    const sock = path.join(dir, 'missing', 'deeper', 's.sock');
    const r = await runToExit(binaryPath, ['--config', conf, '--listen', `unix:${sock}`, '--workers', '1'],
      cleanEnv({ ABLY_API_KEY: testKey('main') }));
    assert.equal(r.code, 2);
    assert.match(r.err, /cannot create the socket's directory .*\/missing\/deeper: No such file or directory/);
    assert.ok(!fs.existsSync(path.join(dir, 'missing')));
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('--socket-owner to a group the user is not in: EPERM named, with the likely reason; no socket left', { skip }, async () => {
  const { dir, conf } = await userDir();
  try {
    const sock = path.join(dir, 's.sock');
    const r = await runToExit('setpriv', [`--reuid=${USER}`, `--regid=${USER}`, '--init-groups', binaryPath,
      '--config', conf, '--listen', `unix:${sock}`, '--workers', '1', '--socket-owner', `${USER}:${OTHER}`],
    cleanEnv({ ABLY_API_KEY: testKey('main') }));
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, new RegExp(`chown ${sock} to ${USER}:${OTHER}: Operation not permitted \\(is ${USER} in ${OTHER}\\?\\)`));
    assert.ok(!fs.existsSync(sock), 'no stale socket');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('a switch that fails stops the program: exit 1, the step and its errno; no socket left', { skip }, async () => {
  const { dir, conf } = await userDir();
  try {
    const sock = path.join(dir, 's.sock');
    const r = await runToExit('setpriv', [`--reuid=${USER}`, `--regid=${USER}`, '--init-groups', binaryPath,
      '--config', conf, '--listen', `unix:${sock}`, '--workers', '1', '--user', 'daemon'],
    cleanEnv({ ABLY_API_KEY: testKey('main') }));
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /--user daemon: cannot switch to uid \d+ gid \d+: .*: Operation not permitted .*; stopping/);
    assert.doesNotMatch(r.err, /serving with/);
    assert.ok(!fs.existsSync(sock), 'no stale socket');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('an unknown --user, or root as --user: exit 2 before serving, no socket left', { skip }, async () => {
  const { dir, conf } = await userDir();
  try {
    const sock = path.join(dir, 's.sock');
    const env = cleanEnv({ ABLY_API_KEY: testKey('main') });
    const common = ['--config', conf, '--listen', `unix:${sock}`, '--workers', '1'];
    let r = await runToExit(binaryPath, [...common, '--user', `no-such-${tag}`], env);
    assert.equal(r.code, 2);
    assert.match(r.err, new RegExp(`--user no-such-${tag}: user no-such-${tag}: no such user`));
    r = await runToExit(binaryPath, [...common, '--user', `${USER}:no-such-${tag}`], env);
    assert.equal(r.code, 2);
    assert.match(r.err, /no such group/);
    r = await runToExit(binaryPath, [...common, '--user', 'root'], env);
    assert.equal(r.code, 1);
    assert.match(r.err, /user root has uid 0: name an unprivileged account/);
    r = await runToExit(binaryPath, [...common, '--user', 'bad name'], env);
    assert.equal(r.code, 2);
    assert.match(r.err, /expected NAME or NAME:GROUP/);
    assert.ok(!fs.existsSync(sock), 'no stale socket');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('with --user, SIGHUP re-reads the config as the user: a root-only file is refused (still serving), the user\'s is reloaded', { skip }, async () => {
  const stack = await startStack({
    emulator: false,
    config: { mode: 'token-request' },
    binArgs: (s) => ['--config', s.configPath, '--listen', `unix:${s.sockPath}`, '--workers', '1', '--user', USER],
  });
  try {
    fs.chmodSync(stack.dir, 0o755); // the user may reach its config
    const waitLog = async (re) => {
      for (let i = 0; i < 100 && !re.test(stack.binaryLog); i++) await sleep(50);
      assert.match(stack.binaryLog, re);
    };
    process.kill(stack.procs.binary.pid, 'SIGHUP');
    await waitLog(/reload refused, still serving .*ably-token\.conf: cannot open: Permission denied/);
    assertTokenRequest(await stack.get({ ttl: 60000 }), stack, { ttl: 60000 });
    fs.chownSync(stack.configPath, ids.uid, ids.gid);
    process.kill(stack.procs.binary.pid, 'SIGHUP');
    await waitLog(/reloaded: configuration generation 2/);
    assertTokenRequest(await stack.get({ ttl: 60000 }), stack, { ttl: 60000 });
  } finally {
    await stack.stop();
  }
});

test('--check-config looks the account up: an unknown one is exit 2, a known one is shown with its ids', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-check-user-'));
  try {
    const conf = path.join(dir, 'c.conf');
    await fsp.writeFile(conf, `mode = jwt\nkey = ${testKey('main')}\n`, { mode: 0o600 });
    const run = (args) => {
      try {
        return { code: 0, out: execFileSync(binaryPath, ['--check-config', '--config', conf, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
      } catch (e) {
        return { code: e.status, out: String(e.stdout), err: String(e.stderr) };
      }
    };
    const unknown = run(['--user', 'no-such-user-ably-x']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /--user no-such-user-ably-x: user no-such-user-ably-x: no such user/);
    const known = run(['--user', 'nobody']);
    assert.equal(known.code, 0, known.err);
    assert.match(known.out, /, runs as nobody \(uid 65534, gid \d+\)\n$/);
    await fsp.appendFile(conf, 'user = no-such-user-ably-y\n');
    const setting = run([]);
    assert.equal(setting.code, 2);
    assert.match(setting.err, /user = no-such-user-ably-y: /);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('as CGI, a user setting that cannot be switched to still gets the web server an answer (500)', async () => {
  const { cgiRequest, writeCgiConfig } = await import('./lib/cgi.mjs');
  const conf = await writeCgiConfig('bad-user.conf', { mode: 'jwt', key: testKey('main'), user: 'no-such-user-ably-z' });
  const res = await cgiRequest({ config: conf });
  assert.equal(res.status, 500, res.body);
  assert.match(res.body, /"code":50000/);
  assert.ok(!res.body.includes(testKey('main').split(':')[1]));
});
