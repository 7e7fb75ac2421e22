// A delayed fast stand-in for Ably's REST API, for the round-trip cells of `make bench`:
// HTTPS with HTTP/2 by ALPN (HTTP/1.1 still accepted), answering
//   POST /keys/<key>/requestToken   a fixed TokenDetails (no check of any kind)
//   GET  /time                      [now]
// each after a fixed delay (the "round trip" to Ably), concurrently: a timer per request,
// nothing else. The body of a POST is not read beyond draining it. It exists because the
// emulator (one Node process checking every mac) caps at a few thousand requests/s.
//
//   node tests/bench/delayed-standin.mjs --cert FILE --key FILE [--port 0] [--latency-ms 0]
//        [--max-streams 1000] [--host 127.0.0.1]
//
// Prints {"event":"listening","port":P,"tls":true,"controlPort":C} once ready. C is a plain
// HTTP listener for the driver:
//   GET /stats            counters since start (below)
//   GET /latency?ms=N     set the delay of every later answer (answers {"latencyMs":N})
// Counters: connections (TCP connections accepted on the API port), openConnections,
// tlsHandshakes, tlsResumed, h2Sessions, httpVersions {"2.0":n,"1.1":n}, requests,
// requestToken, time, other, inFlight, maxInFlight, maxConcurrentStreams (the setting).
// SIGTERM/SIGINT end it.

import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    cert: { type: 'string' },
    key: { type: 'string' },
    'latency-ms': { type: 'string', default: '0' },
    'max-streams': { type: 'string', default: '1000' },
  },
});
if (!args.cert || !args.key) {
  process.stderr.write('delayed-standin: --cert and --key are required\n');
  process.exit(2);
}

let latencyMs = Number(args['latency-ms']);
const maxStreams = Number(args['max-streams']);

const issued = Date.now();
const DETAILS = Buffer.from(JSON.stringify({
  token: 'TESTAPP.standin-token-not-valid-anywhere-0000000000', keyName: 'TESTAPP.fulltest',
  issued, expires: issued + 3600000, capability: '{"*":["*"]}', clientId: 'example-client-id',
}));

const stats = {
  connections: 0, openConnections: 0, tlsHandshakes: 0, tlsResumed: 0, h2Sessions: 0,
  httpVersions: {}, requests: 0, requestToken: 0, time: 0, other: 0, inFlight: 0, maxInFlight: 0,
  maxConcurrentStreams: maxStreams,
};

const TOKEN_HEADERS = { 'content-type': 'application/json', 'content-length': DETAILS.length };

function answer(req, res) {
  stats.requests++;
  stats.httpVersions[req.httpVersion] = (stats.httpVersions[req.httpVersion] || 0) + 1;
  req.resume(); // drain any body; nothing in it matters here
  let status = 200;
  let body = DETAILS;
  let headers = TOKEN_HEADERS;
  const url = req.url;
  if (req.method === 'POST' && url.startsWith('/keys/') && url.endsWith('/requestToken')) {
    stats.requestToken++;
  } else if (req.method === 'GET' && (url === '/time' || url.startsWith('/time?'))) {
    stats.time++;
    body = Buffer.from(`[${Date.now() + latencyMs}]`);
    headers = { 'content-type': 'application/json', 'content-length': body.length };
  } else {
    stats.other++;
    status = 404;
    body = Buffer.from('{"error":{"message":"stand-in: no such route","code":40400,"statusCode":404}}');
    headers = { 'content-type': 'application/json', 'content-length': body.length };
  }
  stats.inFlight++;
  if (stats.inFlight > stats.maxInFlight) stats.maxInFlight = stats.inFlight;
  const send = () => {
    stats.inFlight--;
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, headers);
    res.end(body);
  };
  if (latencyMs > 0) setTimeout(send, latencyMs);
  else send();
}

const server = http2.createSecureServer({
  cert: fs.readFileSync(args.cert),
  key: fs.readFileSync(args.key),
  allowHTTP1: true,
  settings: { maxConcurrentStreams: maxStreams },
}, answer);
// Connections stay open however long they idle (between cells, say), as Ably's do for minutes.
server.setTimeout(0);
server.on('connection', (sock) => {
  stats.connections++;
  stats.openConnections++;
  sock.once('close', () => { stats.openConnections--; });
});
server.on('secureConnection', (tls) => {
  stats.tlsHandshakes++;
  if (tls.isSessionReused()) stats.tlsResumed++;
});
server.on('session', () => { stats.h2Sessions++; });
server.on('sessionError', () => {});
server.on('tlsClientError', () => {});

const control = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  let out;
  if (u.pathname === '/stats') {
    out = { ...stats, latencyMs };
  } else if (u.pathname === '/latency' && u.searchParams.has('ms')) {
    const ms = Number(u.searchParams.get('ms'));
    if (!(Number.isFinite(ms) && ms >= 0)) { res.writeHead(400).end('bad ms\n'); return; }
    latencyMs = ms;
    out = { latencyMs };
  } else {
    res.writeHead(404).end('no such route\n');
    return;
  }
  const b = JSON.stringify(out);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) }).end(b);
});

server.listen(Number(args.port), args.host, () => {
  control.listen(0, args.host, () => {
    process.stdout.write(JSON.stringify({ event: 'listening', port: server.address().port, tls: true,
      controlPort: control.address().port }) + '\n');
  });
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => process.exit(0));
}
