// systemd socket activation, from conf/ably-token.socket and
// conf/ably-token.service: the binary is started the way the units describe,
// by systemd's own systemd-socket-activate (which listens on the socket, sets
// LISTEN_FDS/LISTEN_PID and execs the ExecStart command line on the first
// connection), with the key in a file of its own (key_file) and
// nginx in front. The container has no systemd as PID 1, so the units
// themselves are checked with `systemd-analyze verify` and
// `systemd-analyze security --offline`.
//
// lib/stack.mjs starts $ABLY_TOKEN_BIN with the arguments a test gives; here
// that is systemd-socket-activate, with the real binary (the build under test)
// in its arguments. The variable must be set before stack.mjs is loaded, so
// it is imported dynamically below, and nothing imported statically here may
// import it (checks.mjs and ablyjs.mjs do not). node --test runs each file in
// its own process, so no other file sees the change.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { finalChecks } from './lib/checks.mjs';
import { ablyJsTests, ablyLogResponse } from './lib/ablyjs.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const realBinary = path.resolve(repo, process.env.ABLY_TOKEN_BIN || 'build/ably-token');
const activate = ['/usr/bin/systemd-socket-activate', '/bin/systemd-socket-activate']
  .find((p) => fs.existsSync(p)) || 'systemd-socket-activate';
process.env.ABLY_TOKEN_BIN = activate;
const { useStack, testKey } = await import('./lib/stack.mjs');

const SOCKET_UNIT = path.join(repo, 'conf/ably-token.socket');
const SERVICE_UNIT = path.join(repo, 'conf/ably-token.service');
const INSTALLED_BIN = '/usr/local/bin/ably-token';
const ETC_CONF = '/etc/ably-token/ably-token.conf';

/** A unit file as {Section: [[key, value], ...]} (comments and blanks dropped). */
function parseUnit(file) {
  const sections = {};
  let cur = null;
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      cur = sections[sec[1]] = [];
      continue;
    }
    const i = line.indexOf('=');
    assert.ok(cur && i > 0, `${path.basename(file)}: cannot read "${line}"`);
    cur.push([line.slice(0, i).trim(), line.slice(i + 1).trim()]);
  }
  return sections;
}

/** The one value of key in section (fails if absent or repeated). */
function one(unit, section, key) {
  const v = (unit[section] || []).filter(([k]) => k === key).map(([, x]) => x);
  assert.equal(v.length, 1, `expected one ${key}= in [${section}], found ${v.length}`);
  return v[0];
}

const socketUnit = parseUnit(SOCKET_UNIT);
const serviceUnit = parseUnit(SERVICE_UNIT);
const key = testKey('main');
// The key as doc/deploy-nginx.md gives it: a file of its own (mode 0600)
// that the settings file names with key_file; nothing in the environment.
function writeKeyFile(dir) {
  const file = path.join(dir, 'ably-token.key');
  fs.writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return file;
}

/** ExecStart with the installed paths replaced by the test's. */
function execStartArgs(stack) {
  const argv = one(serviceUnit, 'Service', 'ExecStart').split(/\s+/);
  assert.equal(argv[0], INSTALLED_BIN, 'ExecStart runs something other than the installed binary');
  const i = argv.indexOf('--config');
  assert.ok(i > 0 && argv[i + 1] === ETC_CONF, `ExecStart has no --config ${ETC_CONF}`);
  assert.ok(!argv.includes('--listen'), 'ExecStart must not open its own socket');
  return argv.map((a) => (a === INSTALLED_BIN ? realBinary : a === ETC_CONF ? stack.configPath : a));
}

const stack = useStack({
  key: null, // none in the settings file: it names the key file
  actualKey: key,
  // The default mode (token): the binary fetches tokens from the emulator.
  binArgs: (s) => {
    fs.appendFileSync(s.configPath, `rest_host = 127.0.0.1:${s.emuPort}\ntls = off\nkey_file = ${writeKeyFile(s.dir)}\n`);
    const listen = one(socketUnit, 'Socket', 'ListenStream');
    assert.equal(listen, '/run/ably-token/ably-token.sock');
    return ['--listen', s.sockPath, ...execStartArgs(s)];
  },
});
const ablyLog = ablyJsTests(stack, { label: 'systemd socket activation', channelPrefix: 'systemd', answer: /"issued"/ });

test('the socket-activated process is the ExecStart command, serving fd 3 with the unit\'s workers', async () => {
  const pid = stack.stack.procs.binary.pid;
  const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  assert.equal(cmdline[0], realBinary, 'systemd-socket-activate did not exec the binary in its own process');
  assert.ok(!cmdline.join(' ').includes(stack.secret), 'the key is on the command line');
  assert.match(fs.readlinkSync(`/proc/${pid}/fd/3`), /^socket:/);
  const workers = one(serviceUnit, 'Service', 'ExecStart').match(/--workers (\d+)/);
  assert.ok(workers, 'ExecStart sets --workers');
  assert.match(stack.binaryLog, new RegExp(`serving with ${workers[1]} workers`));
  const conf = fs.readFileSync(stack.configPath, 'utf8');
  assert.doesNotMatch(conf, /^\s*key\s*=/m, 'the settings file holds a key');
});

function runUnchecked(cmd, args) {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Copies of both units with ExecStart pointing at the build under test. */
async function unitsForAnalyze() {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-units-'));
  await fsp.copyFile(SOCKET_UNIT, path.join(dir, 'ably-token.socket'));
  const service = (await fsp.readFile(SERVICE_UNIT, 'utf8')).split(INSTALLED_BIN).join(realBinary);
  await fsp.writeFile(path.join(dir, 'ably-token.service'), service);
  return dir;
}

test('systemd-analyze verify accepts both units without a warning', async () => {
  const dir = await unitsForAnalyze();
  try {
    const r = await runUnchecked('systemd-analyze', ['verify', '--man=no',
      path.join(dir, 'ably-token.socket'), path.join(dir, 'ably-token.service')]);
    assert.equal(r.code, 0, `systemd-analyze verify: ${r.stderr}`);
    assert.equal(r.stderr.trim(), '', 'systemd-analyze verify printed warnings');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('systemd-analyze security --offline rates the service\'s sandbox OK (exposure <= 2.0)', async (t) => {
  const dir = await unitsForAnalyze();
  try {
    const r = await runUnchecked('systemd-analyze', ['security', '--offline=true', '--no-pager',
      path.join(dir, 'ably-token.service')]);
    const m = /Overall exposure level for ably-token\.service: ([\d.]+)/.exec(r.stdout);
    assert.ok(m, `no exposure level in:\n${r.stdout}\n${r.stderr}`);
    t.diagnostic(`exposure ${m[1]}`);
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]}:\n${r.stdout}`);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('the units: root-owned socket for the web server\'s group, sandboxed service as its own account', () => {
  assert.equal(one(socketUnit, 'Socket', 'Accept'), 'no');
  assert.equal(one(socketUnit, 'Socket', 'SocketMode'), '0660');
  assert.equal(one(socketUnit, 'Socket', 'SocketGroup'), 'www-data');
  const want = {
    User: 'ably-token', Group: 'ably-token', NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes',
    PrivateDevices: 'yes', CapabilityBoundingSet: '',
  };
  assert.ok(!(serviceUnit.Service || []).some(([k]) => k === 'EnvironmentFile' || k === 'DynamicUser'),
    'the key comes from key_file, read by the service\'s own account');
  for (const [k, v] of Object.entries(want)) assert.equal(one(serviceUnit, 'Service', k), v, k);
  const all = fs.readFileSync(SERVICE_UNIT, 'utf8') + fs.readFileSync(SOCKET_UNIT, 'utf8');
  assert.ok(!(serviceUnit.Service || []).some(([k, v]) => k === 'Environment' && /ABLY_API_KEY/.test(v)),
    'the key is set in the unit itself');
  assert.doesNotMatch(all, /TEST-ONLY|:[A-Za-z0-9_-]{20,}/, 'something like a key in the units');
});

finalChecks(stack, { extraResponses: () => [ablyLogResponse(ablyLog)] });
