// A renewal storm for `make bench`: N token requests arriving together over C connections,
// as when many ably-js clients renew at once (their authUrl calls time out after 10 s).
//
//   node tests/bench/storm.mjs --url http://127.0.0.1:PORT/request-token
//        [--requests 5000] [--conns 1000] [--timeout-ms 30000] [--window-ms 10000]
//
// One node:http Agent (keepAlive, maxSockets = C) and every request issued at once, so the
// first C go out on C new connections and the rest queue in the agent for a free one.
// Each request's latency runs from its issue (all at t0) to the end of its answer, as a
// client that asked at t0 sees it. Prints one JSON line: counts by status (or error code),
// latency percentiles and max, how many were answered 200 with a token within the window,
// wall time, and the sockets the agent opened.

import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    requests: { type: 'string', default: '5000' },
    conns: { type: 'string', default: '1000' },
    'timeout-ms': { type: 'string', default: '30000' },
    'window-ms': { type: 'string', default: '10000' },
  },
});
if (!args.url) {
  process.stderr.write('storm: --url is required\n');
  process.exit(2);
}
const N = Number(args.requests);
const C = Number(args.conns);
const TIMEOUT = Number(args['timeout-ms']);
const WINDOW = Number(args['window-ms']);

const agent = new http.Agent({ keepAlive: true, maxSockets: C, maxFreeSockets: C });
let socketsOpened = 0;
const createConnection = agent.createConnection.bind(agent);
agent.createConnection = (...a) => { socketsOpened++; return createConnection(...a); };

const byStatus = {};
const latencies = new Array(N);
const answered = new Array(N).fill(false); // 200 with a token in it
let badBodies = 0;

function one(i, t0) {
  return new Promise((resolve) => {
    let settled = false;
    const end = (key, bodyOk = true) => {
      if (settled) return;
      settled = true;
      latencies[i] = performance.now() - t0;
      byStatus[key] = (byStatus[key] || 0) + 1;
      if (!bodyOk) badBodies++;
      answered[i] = key === '200' && bodyOk;
      resolve();
    };
    const req = http.get(args.url, { agent }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        let ok = true;
        if (res.statusCode === 200) {
          try { ok = typeof JSON.parse(Buffer.concat(chunks).toString('utf8')).token === 'string'; } catch { ok = false; }
        }
        end(String(res.statusCode), ok);
      });
      res.on('error', (e) => end(e.code || 'response-error'));
    });
    req.setTimeout(TIMEOUT, () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.on('error', (e) => end(e.code || 'error'));
  });
}

const t0 = performance.now();
const all = [];
for (let i = 0; i < N; i++) all.push(one(i, t0));
await Promise.all(all);
const wall = performance.now() - t0;
agent.destroy();

const sorted = latencies.slice().sort((a, b) => a - b);
const pct = (p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
process.stdout.write(JSON.stringify({
  requests: N, conns: C, by_status: byStatus, ok: byStatus['200'] || 0, bad_bodies: badBodies,
  ok_within_window: latencies.filter((x, i) => answered[i] && x <= WINDOW).length, window_ms: WINDOW,
  p50_ms: pct(50), p99_ms: pct(99), max_ms: sorted[sorted.length - 1], wall_ms: wall,
  sockets_opened: socketsOpened,
}) + '\n');
