// nginx.conf.example and scripts/render-nginx-conf.sh: the example is valid
// nginx as shipped, the rendered config differs from it only where it must,
// the renderer refuses an example it no longer understands, and nginx's own
// failure answers on /request-token keep Ably's error shape.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot, run, startStack } from './lib/stack.mjs';
import { assertAblyError, header } from './lib/checks.mjs';

const EXAMPLE = path.join(repoRoot, 'nginx.conf.example');
const RENDER = path.join(repoRoot, 'scripts/render-nginx-conf.sh');
const isRoot = process.getuid && process.getuid() === 0;

/** Directive lines without comments and indentation. */
function directives(text) {
  return text.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
}

async function tmpdir() {
  return fs.mkdtemp(path.join(os.tmpdir(), 'ably-token-nginx-'));
}

test('nginx.conf.example passes nginx -t where it lies (absolute paths, as root)', { skip: !isRoot && 'needs root' }, async () => {
  // Nothing relative to the file's directory: the installed copy
  // (PREFIX/share/ably-token) and a copy anywhere else work the same.
  const dir = await tmpdir();
  try {
    const copy = path.join(dir, 'copy.conf');
    await fs.copyFile(EXAMPLE, copy);
    for (const file of [EXAMPLE, copy]) {
      const { stderr } = await run('nginx', ['-t', '-c', file]);
      assert.match(stderr, /test is successful/, file);
    }
    const text = await fs.readFile(EXAMPLE, 'utf8');
    assert.match(text, /^pid \/run\/nginx-ably-token\.pid;$/m, 'its own pid file, not Debian\'s /run/nginx.pid');
    assert.match(text, /^\s*root \/usr\/local\/share\/ably-token\/www;$/m, 'root is the page make install puts there');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

/** The site part of the example, cut out with the command the header and doc/deploy-nginx.md give. */
async function siteBlocks() {
  const { stdout } = await run('sed', ['-n', '/^    # BEGIN ably-token site/,/^    # END ably-token site/p', EXAMPLE]);
  return stdout;
}

test('the upstream and server blocks alone, in another nginx\'s http { }, pass nginx -t', { skip: !isRoot && 'needs root' }, async () => {
  const dir = await tmpdir();
  try {
    const site = await siteBlocks();
    const live = directives(site);
    assert.ok(live.includes('upstream ably_token {'), 'no upstream block between the markers');
    assert.ok(live.includes('server {'), 'no server block between the markers');
    assert.equal(live.filter((l) => l === 'server {').length, 1);
    await fs.writeFile(path.join(dir, 'site.conf'), site);
    const main = path.join(dir, 'nginx.conf');
    await fs.writeFile(main, `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\n` +
      `http {\n    include /etc/nginx/mime.types;\n    include ${dir}/site.conf;\n}\n`);
    const { stderr } = await run('nginx', ['-t', '-c', main]);
    assert.match(stderr, /test is successful/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('the rendered config keeps every directive of the example except the rewritten ones', async () => {
  const dir = await tmpdir();
  try {
    const { stdout } = await run(RENDER, ['--prefix', dir, '--port', '18123', '--socket', '/tmp/x/ably.sock']);
    const rendered = directives(await fs.readFile(stdout.trim(), 'utf8'));
    const rewritten = /^(user|pid|error_log|listen|server_name|root) |^include \/etc\/nginx\/mime\.types;|^access_log \/|unix:\/run\/ably-token\/ably-token\.sock/;
    let at = 0;
    for (const line of directives(await fs.readFile(EXAMPLE, 'utf8'))) {
      if (rewritten.test(line)) continue;
      const i = rendered.indexOf(line, at);
      assert.ok(i >= 0, `example line missing (or out of order) in the rendered config: ${line}`);
      at = i + 1;
    }
    const all = rendered.join('\n');
    assert.match(all, /^daemon off;$/m);
    assert.match(all, new RegExp(`^pid ${dir}/nginx.pid;$`, 'm'));
    assert.match(all, /^listen 127\.0\.0\.1:18123;$/m);
    assert.equal((all.match(/server unix:\/tmp\/x\/ably\.sock;/g) || []).length, 1);
    // Every location the example passes to the binary, and no other.
    const passes = (t) => (t.match(/fastcgi_pass ably_token;/g) || []).length;
    assert.ok(passes(all) >= 2);
    assert.equal(passes(all), passes(await fs.readFile(EXAMPLE, 'utf8')));
    // /metrics: for loopback only.
    assert.match(all, /^location = \/metrics \{\nallow 127\.0\.0\.1;\nallow ::1;\ndeny all;\nfastcgi_pass ably_token;/m);
    assert.match(all, new RegExp(`^root ${repoRoot}/www;$`, 'm'));
    for (const t of ['client_body', 'fastcgi', 'proxy', 'scgi', 'uwsgi']) {
      assert.match(all, new RegExp(`^${t}_temp_path ${dir}/tmp/${t};$`, 'm'));
    }
    assert.doesNotMatch(all, /\/var\/(log|lib)\/nginx|\/run\/nginx\.pid/, 'system paths left in the rendered config');
    assert.doesNotMatch(all, /demo-config|proxy_pass/, 'demo-only locations without --emulator');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('the renderer refuses an example it no longer recognises', async () => {
  const dir = await tmpdir();
  try {
    const text = await fs.readFile(EXAMPLE, 'utf8');
    const broken = path.join(dir, 'broken.conf');
    await fs.writeFile(broken, text.replace(/^\s*server_name .*$/m, ''));
    await assert.rejects(run(RENDER, ['--prefix', dir, '--port', '1', '--socket', '/tmp/s', '--example', broken]),
      /server_name/);
    await fs.writeFile(broken, text.replace(/unix:\/run\/ably-token\/ably-token\.sock;/g, 'unix:/elsewhere.sock;'));
    await assert.rejects(run(RENDER, ['--prefix', dir, '--port', '1', '--socket', '/tmp/s', '--example', broken]),
      /socket/);
    await assert.rejects(run(RENDER, ['--prefix', dir, '--port', 'http', '--socket', '/tmp/s']), /--port/);
    await assert.rejects(run(RENDER, ['--prefix', dir, '--port', '1', '--socket', 'relative.sock']), /absolute/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('www/app.js is valid JavaScript', async () => {
  await run(process.execPath, ['--check', path.join(repoRoot, 'www/app.js')]);
});

test('nginx\'s own failure answers on /request-token use Ably\'s error shape', async () => {
  const stack = await startStack({ emulator: false });
  try {
    const page = await stack.request('GET', '/');
    assert.equal(header(page, 'x-content-type-options'), 'nosniff');
    // Over client_max_body_size: nginx answers before the binary sees it.
    assertAblyError(await stack.postForm('pad=' + 'x'.repeat(40000)), 413);
    // Binary gone: nginx's 502, still as JSON with X-Ably-ErrorCode.
    await stack.procs.binary.stop();
    assertAblyError(await stack.get(), 502, [50000]);
  } finally {
    await stack.stop();
  }
});
