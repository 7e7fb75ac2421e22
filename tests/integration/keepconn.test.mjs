// The documented alternative to the shipped connection-per-request set-up:
// nginx keeping FastCGI connections (upstream `keepalive`, fastcgi_keep_conn
// on). With single-threaded workers that is the starvation trap of
// PERF-NOTES.md: a worker parked on an idle kept connection serves no one
// else. The binary releases an idle kept connection after 100 ms, so even
// one worker against a pool of 8 per nginx worker must serve everything.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { test } from 'node:test';
import { startStack, sleep } from './lib/stack.mjs';

/** Turn kept connections on in the stack's rendered nginx.conf and reload. */
async function keepConnections(s) {
  let conf = await fs.readFile(s.nginxConf, 'utf8');
  conf = conf.replace(/(server unix:[^;]+;)/, '$1\n        keepalive 8;');
  conf = conf.replace(/fastcgi_keep_conn off;/, 'fastcgi_keep_conn on;');
  assert.match(conf, /keepalive 8;/);
  assert.match(conf, /fastcgi_keep_conn on;/);
  await fs.writeFile(s.nginxConf, conf);
  process.kill(s.procs.nginx.pid, 'SIGHUP');
  await sleep(500);  // the new workers take over
}

for (const workers of [1, 2]) {
  test(`kept connections with ${workers} worker(s): sequential and parallel requests all served`, async () => {
    const s = await startStack({ workers, config: { mode: 'token-request' } });
    try {
      await keepConnections(s);
      const t0 = Date.now();
      for (let i = 0; i < 30; i++) {
        const r = await s.get();
        assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.body}`);
      }
      const answers = await Promise.all(Array.from({ length: 64 }, () => s.get()));
      const bad = answers.filter((r) => r.status !== 200);
      assert.deepEqual(bad.map((r) => r.status), [], 'some parallel requests failed');
      // Starved requests would wait for nginx's 60 s fastcgi_read_timeout.
      assert.ok(Date.now() - t0 < 20000, `took ${Date.now() - t0} ms`);
    } finally {
      await s.stop();
    }
  });
}
