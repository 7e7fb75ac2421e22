// Safe by default for a site, easy for the demo: without a policy the
// binary gives anonymous callers only {"public:*":["subscribe"]}; the shipped
// conf/ably-token.conf says the same and, in its first lines, what to decide
// before deploying; a policy that gives every caller without a login
// {"*":["*"]} is a start-up warning naming the setting to change.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startStack, testKey, binaryPath, repoRoot, run, TEST_POLICY } from './lib/stack.mjs';
import { assertAblyError, assertTokenRequest } from './lib/checks.mjs';

const KEY = testKey('main');
const WARNING = /warn: EVERY CALLER, WITHOUT A LOGIN, GETS \{"\*":\["\*"\]\}/;

/** --check-config of the config text (the key from ABLY_API_KEY); {out, err}. */
async function check(text) {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-it-'));
  try {
    const conf = path.join(dir, 'ably-token.conf');
    await fsp.writeFile(conf, text, { mode: 0o600 });
    const env = { ...process.env, ABLY_API_KEY: KEY };
    delete env.VITE_ABLY_KEY;
    delete env.ABLY_TOKEN_CONF;
    const r = await run(binaryPath, ['--config', conf, '--check-config'], { env });
    return { out: r.stdout, err: r.stderr };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

test('the built-in defaults: anonymous, subscribe on public:* only; nothing more is granted; no warning', async () => {
  const stack = await startStack({ emulator: false, config: { mode: 'token-request', client_id: null, capability: null } });
  try {
    const res = await stack.get({ ttl: 60000 });
    assertTokenRequest(res, stack, { ttl: 60000, capability: { 'public:*': ['subscribe'] } });
    assert.equal(JSON.parse(res.body).clientId, undefined, 'anonymous');
    assertAblyError(await stack.get({ capability: '{"chat":["publish"]}' }), 403, [40160]);
    assertAblyError(await stack.get({ clientId: 'example-client-id' }), 403, [40300]);
    assert.doesNotMatch(stack.binaryLog, WARNING);
  } finally {
    await stack.stop();
  }
});

test('the shipped conf/ably-token.conf: the same narrow policy, and its first lines say what to decide', async () => {
  const text = fs.readFileSync(path.join(repoRoot, 'conf/ably-token.conf'), 'utf8');
  const head = text.split('\n').slice(0, 20).join('\n');
  assert.match(head, /BEFORE YOU DEPLOY/);
  for (const setting of ['client_id', 'capability', 'ttl']) assert.match(head, new RegExp(`\\(${setting}[,)]`), setting);
  assert.match(text, /^client_id =\s*$/m);
  assert.match(text, /^capability = \{"public:\*":\["subscribe"\]\}$/m);
  const r = await check(text);
  assert.match(r.out, /client_id \(anonymous\)/);
  assert.doesNotMatch(r.err, WARNING);
});

test('{"*":["*"]} for every caller without a login is a warning naming the settings to change', async () => {
  const stack = await startStack({ emulator: false, config: { mode: 'token-request', ...TEST_POLICY } });
  try {
    assert.match(stack.binaryLog, WARNING);
    assert.match(stack.binaryLog, /from capability \(client_id = example-client-id\): for a site, narrow capability .*client_id = \$remote_user or \$header:NAME/);
  } finally {
    await stack.stop();
  }
});

test('the warning follows the rule such a caller gets, and stays quiet where callers must log in', async () => {
  const ALL = '{"*":["*"]}';
  let r = await check(`client_id = $random\nrule.all.match = *\nrule.all.capability = ${ALL}\n`);
  assert.match(r.err, /GETS .* from rule\.all\.capability \(client_id = \$random\)/);
  r = await check(`client_id =\ncapability = {"*":["*"],"[*]*":["subscribe"]}\n`);
  assert.match(r.err, /from capability \(client_id = \(none\)\)/);
  r = await check(`client_id = $random\ncapability = ${ALL}\nrule.all.match = *\nrule.all.capability = {"chat":["*"]}\n`);
  assert.doesNotMatch(r.err, WARNING);
  r = await check(`client_id = $remote_user\ncapability = ${ALL}\n`);
  assert.doesNotMatch(r.err, WARNING);
  r = await check(`capability = {"*":["subscribe"]}\n`);
  assert.doesNotMatch(r.err, WARNING);
});
