// key_file: the key from a file of its own, as a service manager's
// credential or a secrets mount provides it. Tokens signed with it; every
// bad file refused at start-up (exit 2) with a message naming it and never
// quoting it; --allow-insecure-config turns a loose mode into a warning;
// key and key_file together refused; ABLY_API_KEY overrides key_file, and
// says so.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startStack, testKey, splitKey, binaryPath, run } from './lib/stack.mjs';
import { assertTokenRequest } from './lib/checks.mjs';

const MAIN = testKey('main');
const LIMITED = testKey('limited');

/** A scratch dir holding a key file with content and mode. */
async function keyFile(content, mode = 0o600) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ably-token-it-'));
  const file = path.join(dir, 'ably-key');
  await fs.writeFile(file, content, { mode });
  await fs.chmod(file, mode);
  return { dir, file };
}

/** --check-config with a config of lines; {code, out, err}. */
async function check(lines, { env = {}, args = [] } = {}) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ably-token-it-'));
  try {
    const conf = path.join(dir, 'ably-token.conf');
    await fs.writeFile(conf, lines.join('\n') + '\n', { mode: 0o600 });
    const base = { ...process.env };
    for (const v of ['ABLY_API_KEY', 'VITE_ABLY_KEY', 'ABLY_TOKEN_CONF']) delete base[v];
    try {
      const r = await run(binaryPath, ['--config', conf, '--check-config', ...args], { env: { ...base, ...env } });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      return { code: e.code, out: e.stdout ?? '', err: String(e.message) };
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test('tokens are signed with the key from key_file (a trailing newline is fine)', async () => {
  const { dir, file } = await keyFile(`${LIMITED}\n`, 0o400);
  const stack = await startStack({ emulator: false, key: null, actualKey: LIMITED,
    config: { mode: 'token-request', key_file: file } });
  try {
    const res = await stack.get({ ttl: 60000 });
    assertTokenRequest(res, stack, { ttl: 60000 });
    assert.equal(JSON.parse(res.body).keyName, splitKey(LIMITED).keyName);
  } finally {
    await stack.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('--check-config names key_file as the key\'s source; CRLF is fine too', async () => {
  const { dir, file } = await keyFile(`${MAIN}\r\n`);
  try {
    const r = await check(['mode = jwt', `key_file = ${file}`]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`key ${splitKey(MAIN).keyName} from key_file ${file}`));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

const BAD = [
  ['an empty file', '', 0o600, /key_file \S+ is empty/],
  ['only a newline', '\n', 0o600, /is empty/],
  ['a second line', `${MAIN}\n${LIMITED}\n`, 0o600, /holds more than one line: it must hold only the key/],
  ['an environment file', `ABLY_API_KEY=${MAIN}\n`, 0o600, /holds a NAME=VALUE line \(an environment file\?\)/],
  ['not a key', 'appIdkeyId:secret\n', 0o600, /key_file \S+: key name has no '\.'/],
  ['readable by its group', `${MAIN}\n`, 0o640, /key_file \S+ is readable by its group; chmod 600 it/],
  ['readable by everyone', `${MAIN}\n`, 0o644, /is readable by every user; chmod 600 it/],
  ['writable by its group', `${MAIN}\n`, 0o620, /writable by its group/],
];

for (const [name, content, mode, want] of BAD) {
  test(`key_file refused: ${name}`, async () => {
    const { dir, file } = await keyFile(content, mode);
    try {
      const r = await check(['mode = jwt', `key_file = ${file}`]);
      assert.equal(r.code, 2, `exit status\n${r.err}`);
      assert.match(r.err, want);
      assert.ok(r.err.includes(file), 'names the file');
      for (const k of [MAIN, LIMITED]) assert.ok(!r.err.includes(splitKey(k).secret), 'never quotes the key');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
}

test('key_file refused: missing (the errno), relative path, a directory', async () => {
  let r = await check(['key_file = /nonexistent/ably-key']);
  assert.equal(r.code, 2);
  assert.match(r.err, /key_file: \/nonexistent\/ably-key: cannot open: No such file or directory/);
  r = await check(['key_file = ably-key']);
  assert.equal(r.code, 2);
  assert.match(r.err, /key_file: expected an absolute path/);
  r = await check([`key_file = ${os.tmpdir()}`]);
  assert.equal(r.code, 2);
  assert.match(r.err, /not a regular file/);
});

test('key_file refused: a read error names the errno (root\'s file, read as nobody)', async () => {
  const { dir, file } = await keyFile(`${MAIN}\n`, 0o600);
  try {
    await fs.chmod(dir, 0o755);
    const conf = path.join(dir, 'ably-token.conf');
    await fs.writeFile(conf, `mode = jwt\nkey_file = ${file}\n`, { mode: 0o644 });
    const isRoot = process.getuid() === 0;
    if (!isRoot) await fs.chmod(file, 0o000);
    const cmd = isRoot ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', binaryPath] : [binaryPath];
    const err = await run(cmd[0], [...cmd.slice(1), '--config', conf, '--check-config']).then(
      () => assert.fail('accepted an unreadable key_file'), (e) => e);
    assert.equal(err.code, 2);
    assert.match(err.message, /key_file: \S+ably-key: cannot open: Permission denied/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('--allow-insecure-config: a loose key_file is a warning, not a refusal', async () => {
  const { dir, file } = await keyFile(`${MAIN}\n`, 0o644);
  try {
    const r = await check(['mode = jwt', `key_file = ${file}`], { args: ['--allow-insecure-config'] });
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /warn: key_file \S+ is readable by every user.*\(allowed by --allow-insecure-config\)/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('key and key_file together are refused; ABLY_API_KEY overrides key_file and says so', async () => {
  const { dir, file } = await keyFile(`${LIMITED}\n`);
  try {
    let r = await check(['mode = jwt', `key = ${MAIN}`, `key_file = ${file}`]);
    assert.equal(r.code, 2);
    assert.match(r.err, /:3: key and key_file are both set: keep one/);
    r = await check(['mode = jwt', `key_file = ${file}`], { env: { ABLY_API_KEY: MAIN } });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`key ${splitKey(MAIN).keyName} from ABLY_API_KEY`));
    assert.match(r.err, new RegExp(`warn: ABLY_API_KEY overrides the key from key_file ${file}`));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
