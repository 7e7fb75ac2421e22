// Peers that send nothing, trickle, or stop half way cost a normal request
// nothing: the worker hands a connection to libfcgi only once a whole
// request is there (fcgi/fcgi_frame.c), drops a new connection silent for
// 10 s and a request not whole 10 s after its first byte, and answers a
// request whose parameters are over 64 KiB with 431 without reading it.
// These peers talk FastCGI to the binary's socket directly; the normal
// requests go through nginx as usual.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { useStack, sleep } from './lib/stack.mjs';
import { nameValue, records } from './lib/fastcgi.mjs';

const stack = useStack({ workers: 1, config: { mode: 'token-request' } });

function workerPid() {
  const out = execFileSync('pgrep', ['-P', String(stack.procs.binary.pid)], { encoding: 'utf8' });
  return Number(out.trim().split('\n')[0]);
}

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

/** A whole GET /request-token with extra parameters, as bytes. */
function requestBytes(extra = {}) {
  const begin = Buffer.alloc(8);
  begin.writeUInt16BE(1, 0);  // RESPONDER
  const params = { REQUEST_METHOD: 'GET', REQUEST_URI: '/request-token', DOCUMENT_URI: '/request-token',
    QUERY_STRING: '', SCRIPT_NAME: '/request-token', ...extra };
  const p = Buffer.concat(Object.entries(params).map(([k, v]) => nameValue(k, v)));
  return Buffer.concat([records(1, begin), records(4, p), records(4, Buffer.alloc(0)), records(5, Buffer.alloc(0))]);
}

/** A connection to the binary's socket that records when it closed and what it got. */
function peer() {
  const sock = net.connect({ path: stack.sockPath });
  const p = { sock, got: Buffer.alloc(0), closedAt: null, openedAt: Date.now() };
  sock.on('data', (d) => { p.got = Buffer.concat([p.got, d]); });
  sock.on('error', () => {});
  sock.on('close', () => { p.closedAt = Date.now(); });
  p.ready = new Promise((resolve) => sock.once('connect', resolve));
  return p;
}

const statusOf = (buf) => {
  const m = /Status: (\d+)/.exec(buf.toString('latin1'));
  return m ? Number(m[1]) : (buf.length ? 200 : null);
};

async function timedGets(n) {
  const took = [];
  for (let i = 0; i < n; i++) {
    const t0 = Date.now();
    const r = await stack.get();
    assert.equal(r.status, 200, r.body);
    took.push(Date.now() - t0);
  }
  return took;
}

test('idle, trickling and half-sent peers: normal requests meanwhile take their usual time, and the peers are dropped after 10 s', async () => {
  const baseline = Math.max(...await timedGets(5));
  const whole = requestBytes();
  const idle = Array.from({ length: 6 }, () => peer());
  const trickle = Array.from({ length: 2 }, () => peer());
  const half = Array.from({ length: 2 }, () => peer());
  await Promise.all([...idle, ...trickle, ...half].map((p) => p.ready));
  const t0 = Date.now();
  for (const p of half) p.sock.write(whole.subarray(0, 30));  // BEGIN and part of PARAMS
  let sent = 0;
  const timer = setInterval(() => {  // a byte every 250 ms: whole after ~45 s
    for (const p of trickle) if (!p.closedAt) p.sock.write(whole.subarray(sent, sent + 1));
    sent++;
  }, 250);
  try {
    await sleep(300);
    // A loop held by a slow peer would hold these for its 10 s window (the
    // old worker: 35 s with six idle peers); 2 s leaves room for a busy CI.
    const during = await timedGets(20);
    assert.ok(Math.max(...during) < Math.max(2000, baseline * 4),
      `with 10 slow peers the slowest of 20 requests took ${Math.max(...during)} ms (before: ${baseline} ms)`);
    // A request sent whole on a fresh connection is answered at once too.
    const direct = peer();
    await direct.ready;
    const td = Date.now();
    direct.sock.write(whole);
    while (!direct.got.length && Date.now() - td < 3000) await sleep(10);
    assert.equal(statusOf(direct.got), 200, 'a whole request sent directly was not answered');
    assert.ok(Date.now() - td < 2000, `direct request took ${Date.now() - td} ms`);
    direct.sock.destroy();
    // The peers are dropped 10 s after they connected or began.
    while (Date.now() - t0 < 12000 && [...idle, ...trickle, ...half].some((p) => !p.closedAt)) await sleep(100);
    for (const [name, group] of [['idle', idle], ['trickling', trickle], ['half-sent', half]]) {
      for (const p of group) {
        assert.ok(p.closedAt, `a ${name} peer was still open 12 s on`);
        const after = p.closedAt - t0;
        assert.ok(after >= 9000 && after < 12000, `a ${name} peer was dropped after ${after} ms`);
        assert.equal(p.got.length, 0, `a ${name} peer got an answer to a request it never finished`);
      }
    }
    assert.match(stack.binaryLog, /request was not whole within 10 s/);
    // and the worker serves on
    await timedGets(3);
  } finally {
    clearInterval(timer);
    for (const p of [...idle, ...trickle, ...half]) p.sock.destroy();
  }
});

test('parameters over 64 KiB are answered 431 unread, and the worker does not grow', async () => {
  const pid = workerPid();
  await timedGets(3);
  const before = rssKb(pid);
  for (const size of [70 * 1024, 1024 * 1024, 8 * 1024 * 1024]) {
    const p = peer();
    await p.ready;
    p.sock.write(requestBytes({ HTTP_X_PAD: 'x'.repeat(size) }));
    const end = Date.now() + 3000;
    while (!p.closedAt && Date.now() < end) await sleep(10);
    assert.ok(p.closedAt, `a ${size}-byte parameter: the connection was not closed`);
    assert.equal(statusOf(p.got), 431, `a ${size}-byte parameter: ${p.got.toString('latin1').slice(0, 200)}`);
    assert.match(p.got.toString('latin1'), /"statusCode":431/);
    p.sock.destroy();
  }
  const after = rssKb(pid);
  assert.ok(after - before < 1024, `worker RSS ${before} -> ${after} kB after three oversized requests`);
  assert.match(stack.binaryLog, /parameters are over 64 KiB: answered 431 unread/);
  // Just under the cap is a request like any other.
  const ok = peer();
  await ok.ready;
  ok.sock.write(requestBytes({ HTTP_X_PAD: 'x'.repeat(60 * 1024) }));
  const end = Date.now() + 3000;
  while (!ok.got.includes(Buffer.from([1, 3])) && Date.now() < end) await sleep(10);  // END_REQUEST
  assert.equal(statusOf(ok.got), 200, ok.got.toString('latin1').slice(0, 300));
  ok.sock.destroy();
  await timedGets(3);
});

test('bytes that are not FastCGI close the connection at once, and the worker serves on', async () => {
  const p = peer();
  await p.ready;
  p.sock.write('GET /request-token HTTP/1.1\r\nHost: x\r\n\r\n');
  const end = Date.now() + 2000;
  while (!p.closedAt && Date.now() < end) await sleep(10);
  assert.ok(p.closedAt, 'an HTTP request on the FastCGI socket was not closed');
  assert.equal(p.got.length, 0);
  await timedGets(3);
});
