// Local Ably emulator: the slice of Ably's REST API that ably-token-fcgi and its tests touch,
// and (realtime.mjs) the realtime WebSocket protocol on the same port.
// It checks what clients send as strictly as Ably does, so tests never need the network.
// Node core plus the npm `ws` package. Usage: node server.mjs [--host H] [--port N] [--keys FILE] [--quiet]
//   [--latency-ms N] [--tls-cert FILE --tls-key FILE [--max-streams N] [--control-port N]]
// With TLS it serves HTTPS, HTTP/2 by ALPN (HTTP/1.1 too), plus a plain-HTTP control listener.
// See README.md beside this file for the routes, the control endpoints and the error codes.

import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Realtime } from './realtime.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_KEYS_FILE = path.join(HERE, 'test-keys.json');

const MAX_BODY = 64 * 1024;               // far above any TokenRequest; stops memory abuse
const TIME_WINDOW_MS = 2 * 60 * 1000;     // Ably accepts TokenRequest timestamps within 2 min
const DEFAULT_TTL = 60 * 60 * 1000;
const MAX_TTL = 24 * 60 * 60 * 1000;
const MAX_TTL_REVOCABLE = 60 * 60 * 1000;
const LAST_REQUESTS = 50;
const LAST_TRACEPARENTS = 100;
const MAX_MESSAGES_PER_CHANNEL = 1000;
const MAX_TOKENS = 200000;
const FAULT_ROUTES = ['requestToken', 'time', 'revokeTokens'];
const DEFAULT_FAULT_ROUTES = ['requestToken', 'time']; // revokeTokens only when named
const MAX_REVOKE_TARGETS = 100;           // Ably's limit per revokeTokens request
const REAUTH_MARGIN_MS = 30 * 1000;       // allowReauthMargin postpones enforcement this long
const MAX_ISSUED_BEFORE_AGE_MS = 60 * 60 * 1000; // Ably refuses an issuedBefore older than 1 h
const MAX_LATENCY_MS = 120000;
const DEFAULT_MAX_STREAMS = 1000;
const ROUTES = ['requestToken', 'revokeTokens', 'time', 'publish', 'history', 'control', 'preflight', 'other'];

export const OPERATIONS = new Set([
  'subscribe', 'publish', 'presence', 'history', 'stats', 'channel-metadata', 'push-subscribe',
  'push-admin', 'privileged-headers', 'object-subscribe', 'object-publish', 'annotation-subscribe',
  'annotation-publish', 'message-update-own', 'message-update-any', 'message-delete-own',
  'message-delete-any', '*',
]);

/* An error Ably would answer with: HTTP status plus Ably error code. */
export class AblyError extends Error {
  constructor(statusCode, code, message) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
  }
}
function fail(statusCode, code, message) {
  throw new AblyError(statusCode, code, message);
}

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/* Header values must be printable ASCII, or node throws; also keeps log lines on one line. */
const printable = (s, max = 200) => String(s).replace(/[^\x20-\x7e]/g, '?').slice(0, max);

/* Constant-time string compare; hashing first makes unequal lengths safe to compare. */
function safeEqual(a, b) {
  const h = (s) => crypto.createHash('sha256').update(String(s)).digest();
  return crypto.timingSafeEqual(h(a), h(b)) && a.length === b.length;
}

const hmac = (secret, text, enc) =>
  crypto.createHmac('sha256', Buffer.from(secret, 'utf8')).update(text, 'utf8').digest(enc);

// ---------------------------------------------------------------------------------------------
// Capabilities. A capability is a Map of resource -> sorted operations.

/* Parse a capability JSON string; 40000 for anything Ably would refuse. */
export function parseCapability(text) {
  let obj;
  try {
    obj = JSON.parse(text);
  } catch {
    fail(400, 40000, 'Invalid capability: not valid JSON');
  }
  if (!isPlainObject(obj)) fail(400, 40000, 'Invalid capability: must be a JSON object');
  const cap = new Map();
  for (const [resource, ops] of Object.entries(obj)) {
    if (resource === '') fail(400, 40000, 'Invalid capability: empty resource name');
    if (!Array.isArray(ops) || ops.length === 0)
      fail(400, 40000, `Invalid capability: operations for "${resource}" must be a non-empty array`);
    for (const op of ops) {
      if (typeof op !== 'string' || !OPERATIONS.has(op))
        fail(400, 40000, `Invalid capability: unknown operation ${JSON.stringify(op)}`);
    }
    cap.set(resource, normaliseOps(ops));
  }
  return cap;
}

function normaliseOps(ops) {
  const set = new Set(ops);
  return set.has('*') ? ['*'] : [...set].sort();
}

/* Canonical JSON string: keys and operations sorted (JS sort, as ably-js), no whitespace.
 * Built by hand because JSON.stringify would put integer-like keys ("10") first. */
export function canonicalCapability(cap) {
  const keys = [...cap.keys()].sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + JSON.stringify(cap.get(k))).join(',') + '}';
}

/* "[queue]a:b" -> {qual:'queue', segs:['a','b']}; no qualifier -> qual null. */
function splitResource(name) {
  const m = /^\[([^\]]*)\](.*)$/s.exec(name);
  return m ? { qual: m[1], segs: m[2].split(':') } : { qual: null, segs: name.split(':') };
}

/* Segment lists of two patterns -> the pattern matching what both match, or null.
 * A "*" segment matches one segment; a trailing "*" matches one or more. */
function intersectSegments(a, b) {
  const out = [];
  for (let i = 0; ; i++) {
    const aEnd = i >= a.length;
    const bEnd = i >= b.length;
    if (aEnd || bEnd) return aEnd && bEnd ? out : null;
    if (i === a.length - 1 && a[i] === '*') return out.concat(b.slice(i));
    if (i === b.length - 1 && b[i] === '*') return out.concat(a.slice(i));
    if (a[i] === '*') out.push(b[i]);
    else if (b[i] === '*' || a[i] === b[i]) out.push(a[i]);
    else return null;
  }
}

/* Two resource patterns -> their intersection as a resource string, or null.
 * A bare name has no qualifier, so "*" never meets "[queue]x"; "[*]" meets every qualifier. */
export function intersectResources(a, b) {
  const A = splitResource(a);
  const B = splitResource(b);
  let qual;
  if (A.qual === B.qual) qual = A.qual;
  else if (A.qual === '*') qual = B.qual;
  else if (B.qual === '*') qual = A.qual;
  else return null;
  const segs = intersectSegments(A.segs, B.segs);
  if (segs === null) return null;
  return (qual === null ? '' : `[${qual}]`) + segs.join(':');
}

function intersectOps(a, b) {
  if (a.includes('*')) return b;
  if (b.includes('*')) return a;
  return a.filter((op) => b.includes(op));
}

/* Requested ∩ allowed, resource by resource and operation by operation. May be empty. */
export function intersectCapabilities(requested, allowed) {
  const out = new Map();
  for (const [r, rOps] of requested) {
    for (const [k, kOps] of allowed) {
      const resource = intersectResources(r, k);
      if (resource === null) continue;
      const ops = intersectOps(rOps, kOps);
      if (ops.length) out.set(resource, normaliseOps([...(out.get(resource) || []), ...ops]));
    }
  }
  return out;
}

/* Does the capability grant `op` on the (literal) channel name? */
export function capabilityAllows(cap, channel, op) {
  const C = splitResource(channel);
  if (C.qual !== null && C.qual.startsWith('?')) C.qual = null; // "[?rewind=1]x": params, not a namespace
  for (const [resource, ops] of cap) {
    if (!ops.includes('*') && !ops.includes(op)) continue;
    const P = splitResource(resource);
    if (P.qual !== '*' && P.qual !== C.qual) continue;
    if (matchSegments(P.segs, C.segs)) return true;
  }
  return false;
}

function matchSegments(pat, name) {
  for (let i = 0; i < pat.length; i++) {
    if (i === pat.length - 1 && pat[i] === '*') return name.length > i;
    if (i >= name.length || (pat[i] !== '*' && pat[i] !== name[i])) return false;
  }
  return pat.length === name.length;
}

// ---------------------------------------------------------------------------------------------
// Keys

/* Load keys from a file path, an array of entries, or {keys:[...]}. Throws on a bad entry. */
export function loadKeys(spec = DEFAULT_KEYS_FILE) {
  let data = spec;
  if (typeof spec === 'string') data = JSON.parse(fs.readFileSync(spec, 'utf8'));
  const entries = Array.isArray(data) ? data : data && data.keys;
  if (!Array.isArray(entries) || entries.length === 0) throw new Error('keys: expected a non-empty "keys" array');
  const keys = new Map();
  for (const entry of entries) {
    // Same shape ably-js insists on: keyName ":" secret, keyName = appId "." keyId.
    const m = /^(([^:.\s]+)\.[^:\s]+):([^:.\s]+)$/.exec(entry && entry.key);
    if (!m) throw new Error(`keys: bad key ${JSON.stringify(entry && entry.key && entry.key.split(':')[0])}`);
    const capText = typeof entry.capability === 'string' ? entry.capability
      : JSON.stringify(entry.capability ?? { '*': ['*'] });
    const revocable = entry.revocableTokens === true;
    keys.set(m[1], {
      keyName: m[1],
      appId: m[2],
      secret: m[3],
      capability: parseCapability(capText),
      revocable,
      maxTtl: Math.min(entry.maxTtl ?? MAX_TTL, revocable ? MAX_TTL_REVOCABLE : MAX_TTL),
    });
  }
  return keys;
}

/* Whether revocation r ({type, value, issuedBefore}) covers the credential info. */
export function revocationMatches(r, info) {
  if (!(Number.isFinite(info.issued) && info.issued < r.issuedBefore)) return false;
  if (r.type === 'clientId') return info.clientId === r.value;
  if (r.type === 'revocationKey') return info.revocationKey === r.value;
  return false;
}

// ---------------------------------------------------------------------------------------------
// The emulator

const kCountedEpoch = Symbol('countedEpoch');
const kId = Symbol('connectionId');
const kInFlight = Symbol('streamsInFlight');
const kTls = Symbol('tlsSocket'); // raw TCP socket -> its TLS socket
const kSession = Symbol('h2Session'); // TLS socket -> its HTTP/2 session

/* A latency in ms as the CLI, the environment, the API and the control route take it. */
export function checkLatency(v, what = 'latency') {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (!(Number.isInteger(n) && n >= 0 && n <= MAX_LATENCY_MS))
    throw new AblyError(400, 40000, `${what} must be an integer in 0..${MAX_LATENCY_MS} (ms)`);
  return n;
}

/* Has this response's transport gone? (http2 compat responses have no `destroyed`.) */
const gone = (res) => !!(res.destroyed || (res.stream && res.stream.destroyed));

/* An error page in the shape CloudFront's edge sends (HTML 4, upper-case tags). */
function cloudfrontPage(status, id) {
  return [
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">',
    '<HTML><HEAD><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">',
    '<TITLE>ERROR: The request could not be satisfied</TITLE>',
    '</HEAD><BODY>',
    `<H1>${status} ERROR</H1>`,
    '<H2>The request could not be satisfied.</H2>',
    '<HR noshade size="1px">',
    'Request blocked (emulated by the ably-emulator cloudfront fault).',
    '<BR clear="all">',
    '<HR noshade size="1px">',
    '<PRE>',
    'Generated by cloudfront (CloudFront)',
    `Request ID: ${id}`,
    '</PRE>',
    '<ADDRESS>',
    '</ADDRESS>',
    '</BODY></HTML>',
  ].join('\n');
}

/* A generic reverse proxy's error page. */
function proxyPage(status) {
  const title = `${status} ${http.STATUS_CODES[status] || 'Error'}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n` +
    '<hr><center>proxy</center>\r\n</body>\r\n</html>\r\n';
}

class Emulator {
  constructor(opts) {
    this.keys = opts.keys instanceof Map ? opts.keys : loadKeys(opts.keys ?? DEFAULT_KEYS_FILE);
    this.log = opts.log ?? false;
    this.startLatencyMs = checkLatency(opts.latencyMs ?? 0);
    this.tls = !!opts.tls;
    this.timers = new Set();
    this.openSockets = new Set(); // raw TCP sockets of the API port
    this.controlSockets = new Set(); // raw TCP sockets of the plain control port (TLS only)
    this.held = new Set(); // requests a `silent` fault keeps unanswered
    this.tokens = new Map();
    this.connectionSeq = 0;
    this.startedAt = Date.now();
    const handler = (req, res) => this.handle(req, res);
    this.http2 = this.tls && opts.http2 !== false;
    if (this.tls) {
      // HTTPS; ALPN picks HTTP/2 for clients that offer h2, HTTP/1.1 for the rest
      // (http2: false: HTTP/1.1 only, as a server without h2).
      this.server = this.http2 ? http2.createSecureServer({
        cert: opts.tls.cert,
        key: opts.tls.key,
        allowHTTP1: true,
        settings: { maxConcurrentStreams: opts.maxStreams ?? DEFAULT_MAX_STREAMS },
      }, handler) : https.createServer({ cert: opts.tls.cert, key: opts.tls.key, ALPNProtocols: ['http/1.1'] }, handler);
      // Before http2's own listener, so the connection has its id before any request on it.
      this.server.prependListener('secureConnection', (socket) => this.onSecureConnection(socket));
      this.server.on('tlsClientError', (err, socket) => {
        this.tlsErrors++; // e.g. the client refused our certificate
        socket.destroy();
      });
      this.server.on('session', (session) => {
        this.h2Sessions++;
        session.socket[kSession] = session; // (session.socket stands for the TLS socket)
      });
      this.server.on('stream', (stream) => this.onStream(stream));
      this.server.on('sessionError', () => {}); // a peer that vanished: its streams end with it
      this.server.on('connection', (socket) => this.onConnection(socket, this.openSockets, true)); // TCP, before TLS
      this.server.on('clientError', (err, socket) => this.onClientError(socket)); // HTTP/1.1 over TLS
      // Plain HTTP on another port, same routes: control calls without the test CA.
      this.controlServer = this.plainServer(handler, this.controlSockets, false);
    } else {
      this.server = this.plainServer(handler, this.openSockets, true);
    }
    this.server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 60000; // like a cloud LB; keeps reuse visible
    // Realtime: ably-js opens ws://host:port/?access_token=... (wss:// with TLS) on the same port.
    this.realtime = new Realtime(this);
    for (const srv of [this.server, this.controlServer]) {
      if (srv) srv.on('upgrade', (req, socket, head) => this.realtime.handleUpgrade(req, socket, head));
    }
    this.reset();
  }

  /* An HTTP/1.1 server whose raw sockets go into `sockets`; `counted`: the API port. */
  plainServer(handler, sockets, counted) {
    const srv = http.createServer(handler);
    srv.keepAliveTimeout = 60000;
    srv.on('connection', (socket) => this.onConnection(socket, sockets, counted));
    srv.on('clientError', (err, socket) => this.onClientError(socket));
    return srv;
  }

  /* Unparseable HTTP: answer 400 if we still can, never throw. */
  onClientError(socket) {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  }

  now() {
    return Date.now() + this.clockOffsetMs;
  }

  /* Counters, nonces, messages, faults, clock offset, latency (back to the start-up value).
   * Issued tokens stay valid; requests a silent fault holds are cut off. */
  reset() {
    this.epoch = (this.epoch || 0) + 1; // sockets used before this reset count again (apiConnections)
    this.connections = this.apiConnections = this.requests = this.requestSeq = 0;
    this.tokensIssued = this.messagesStored = this.faultsApplied = this.clockOffsetMs = 0;
    this.h2Sessions = this.tlsHandshakes = this.tlsResumed = this.tlsErrors = this.maxConcurrentStreams = 0;
    this.httpVersions = {};
    this.latencyMs = this.startLatencyMs;
    this.routes = Object.fromEntries(ROUTES.map((r) => [r, { requests: 0, ok: 0, errors: 0 }]));
    this.errorCodes = {};
    this.faults = null;
    this.nonces = new Map(); // keyName -> Map("timestamp\nnonce" -> timestamp)
    this.channels = new Map(); // channel -> stored messages, oldest first
    this.revocations = new Map(); // keyName -> [{type, value, issuedBefore, appliesAt}]
    this.lastRequests = [];
    this.traceparents = []; // W3C traceparent headers received, oldest first
    this.releaseHeld();
    this.realtime.reset(); // counters only: open connections stay open
  }

  /* End the requests a silent fault is holding, without an answer. */
  releaseHeld() {
    for (const ctx of this.held) ctx.res.destroy();
    this.held.clear();
  }

  stats() {
    return {
      startedAt: this.startedAt,
      now: this.now(),
      clockOffsetMs: this.clockOffsetMs,
      latencyMs: this.latencyMs,
      tls: this.tls,
      http2: this.http2,
      connections: this.connections,
      apiConnections: this.apiConnections,
      openConnections: this.openSockets.size,
      h2Sessions: this.h2Sessions,
      httpVersions: { ...this.httpVersions },
      maxConcurrentStreams: this.maxConcurrentStreams,
      tlsHandshakes: this.tlsHandshakes,
      tlsResumed: this.tlsResumed,
      tlsErrors: this.tlsErrors,
      heldRequests: this.held.size,
      requests: this.requests,
      routes: structuredClone(this.routes),
      errorCodes: { ...this.errorCodes },
      tokensIssued: this.tokensIssued,
      liveTokens: this.tokens.size,
      messagesStored: this.messagesStored,
      revocations: [...this.revocations.values()].reduce((n, list) => n + list.length, 0),
      faults: this.faults && { ...this.faults },
      faultsApplied: this.faultsApplied,
      lastRequests: structuredClone(this.lastRequests),
      traceparents: structuredClone(this.traceparents),
      realtime: this.realtime.snapshot(),
    };
  }

  onConnection(socket, sockets, counted) {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket[kId] = ++this.connectionSeq;
    if (counted) this.connections++;
  }

  /* A TLS handshake completed on the API port: full or resumed (session ticket or id). */
  onSecureConnection(socket) {
    socket[kId] = (socket._parent && socket._parent[kId]) ?? ++this.connectionSeq;
    if (socket._parent) socket._parent[kTls] = socket;
    if (socket.isSessionReused()) this.tlsResumed++;
    else this.tlsHandshakes++;
  }

  /* HTTP/2 streams in flight on one session; the largest count since reset is kept. */
  onStream(stream) {
    const session = stream.session;
    if (!session) return;
    session[kInFlight] = (session[kInFlight] || 0) + 1;
    if (session[kInFlight] > this.maxConcurrentStreams) this.maxConcurrentStreams = session[kInFlight];
    stream.once('close', () => session[kInFlight]--);
  }

  /* Close every open API-port connection but `exceptId` (the one asking). Returns how many.
   * Default: destroyed at once (no GOAWAY, no TLS close_notify), as a network failure or a
   * crashed host. graceful: HTTP/2 sessions get GOAWAY and close once their streams are done;
   * other connections are ended (TLS close_notify, FIN), as a server closing idle connections. */
  dropConnections(exceptId = null, { graceful = false } = {}) {
    let n = 0;
    for (const socket of [...this.openSockets]) {
      if (exceptId !== null && socket[kId] === exceptId) continue;
      n++;
      const tlsSocket = socket[kTls];
      const session = tlsSocket && tlsSocket[kSession];
      if (!graceful) socket.destroy();
      else if (session && !session.destroyed) session.close();
      else (tlsSocket || socket).end();
    }
    return n;
  }

  /* setTimeout that close() can cancel. */
  later(ms, fn) {
    const t = setTimeout(() => this.timers.delete(t) && fn(), ms);
    this.timers.add(t);
  }

  sleep(ms) {
    return new Promise((resolve) => this.later(ms, resolve));
  }

  listen(host, port, controlPort = 0) {
    const one = (srv, p) => new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(p, host, () => {
        srv.off('error', reject);
        resolve(srv.address().port);
      });
    });
    return (async () => {
      const apiPort = await one(this.server, port);
      const ctlPort = this.controlServer ? await one(this.controlServer, controlPort) : apiPort;
      return { port: apiPort, controlPort: ctlPort };
    })();
  }

  close() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.releaseHeld();
    this.realtime.close();
    const servers = [this.server, this.controlServer].filter(Boolean);
    const closed = servers.map((srv) => new Promise((resolve) => {
      if (!srv.listening) return resolve();
      srv.close(() => resolve());
    }));
    for (const socket of [...this.openSockets, ...this.controlSockets]) socket.destroy();
    return Promise.all(closed).then(() => {});
  }

  // --- request plumbing ----------------------------------------------------------------------

  async handle(req, res) {
    const started = Date.now();
    const ctx = {
      req, res, route: 'other', code: null, slow: null, extra: {}, started,
      receivedAt: started, // moved on once a body has been read: latency counts from there
      faultDelayMs: 0, // latency a fault already added
      h2: req.httpVersionMajor >= 2,
      connection: (req.socket && req.socket[kId]) ?? null,
    };
    const q = req.url.indexOf('?');
    ctx.path = q < 0 ? req.url : req.url.slice(0, q); // not new URL(): "//host/x" would parse as a host
    ctx.query = new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1));
    // Recorded once: as the answer's last byte is handed over (ended()), or when the exchange
    // ends without one ('close'). An HTTP/2 stream closes a little after its last frame has
    // gone, so waiting for 'close' would let a fast client read the stats before its answer counts.
    ctx.ended = () => {
      if (ctx.recorded) return;
      ctx.recorded = true;
      this.finish(ctx);
    };
    res.on('finish', ctx.ended);
    res.on('close', ctx.ended);
    // Browsers (the offline demo) call us cross-origin; error codes must stay readable.
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'X-Ably-ErrorCode, X-Ably-ErrorMessage');
    try {
      await this.route(ctx);
    } catch (err) {
      if (err instanceof AblyError) {
        this.sendError(ctx, err.statusCode, err.code, err.message);
      } else {
        process.stderr.write(`[ably-emulator] internal error: ${printable(err && err.stack, 2000)}\n`);
        this.sendError(ctx, 500, 50000, 'Internal emulator error');
      }
    }
  }

  async route(ctx) {
    const { req } = ctx;
    let segs;
    try {
      segs = ctx.path.split('/').slice(1).map(decodeURIComponent);
    } catch {
      fail(400, 40000, 'Malformed percent-encoding in path');
    }
    const method = req.method;
    const want = (m) => {
      if (method !== m) fail(405, 40500, `Method ${printable(method, 20)} not allowed here`);
    };
    if (method === 'OPTIONS') {
      ctx.route = 'preflight';
      return this.preflight(ctx);
    }
    if (segs[0] === '_emulator') {
      ctx.route = 'control';
      return this.control(ctx, segs.slice(1).join('/'));
    }
    this.markApiConnection(req.socket);
    this.httpVersions[req.httpVersion] = (this.httpVersions[req.httpVersion] || 0) + 1;
    this.refuseMsgpack(ctx);
    if (segs.length === 1 && segs[0] === 'time') {
      ctx.route = 'time';
      want('GET');
      if (await this.applyFault(ctx)) return;
      return this.sendJson(ctx, 200, [this.now()]);
    }
    if (segs.length === 3 && segs[0] === 'keys' && segs[2] === 'requestToken') {
      ctx.route = 'requestToken';
      want('POST');
      const body = await this.jsonBody(ctx);
      if (await this.applyFault(ctx)) return;
      return this.requestToken(ctx, segs[1], body);
    }
    if (segs.length === 3 && segs[0] === 'keys' && segs[2] === 'revokeTokens') {
      ctx.route = 'revokeTokens';
      want('POST');
      const body = await this.jsonBody(ctx);
      if (await this.applyFault(ctx)) return;
      return this.revokeTokens(ctx, segs[1], body);
    }
    if (segs.length === 3 && segs[0] === 'channels' && segs[2] === 'messages') {
      if (method === 'POST') {
        ctx.route = 'publish';
        const body = await this.jsonBody(ctx);
        return this.publish(ctx, segs[1], body);
      }
      ctx.route = 'history';
      want('GET');
      return this.history(ctx, segs[1]);
    }
    fail(404, 40400, 'Not found');
  }

  /* Distinct connections that carried API (non-control) requests since the last reset.
   * For HTTP/2, req.socket stands for the session's TLS socket: one per session, not per stream. */
  markApiConnection(socket) {
    if (!socket || socket[kCountedEpoch] === this.epoch) return;
    socket[kCountedEpoch] = this.epoch;
    this.apiConnections++;
  }

  /* JSON only: a msgpack client (useBinaryProtocol: true) gets 415, not a confusing parse error. */
  refuseMsgpack(ctx) {
    const type = String(ctx.req.headers['content-type'] || '');
    const accept = String(ctx.req.headers.accept || '');
    if (/msgpack/i.test(type) || (/msgpack/i.test(accept) && !/json|\*\/\*/i.test(accept)))
      fail(415, 41500, 'Unsupported format: the emulator speaks JSON only (useBinaryProtocol: false)');
  }

  /* Read at most MAX_BODY bytes. */
  readBody(ctx) {
    const { req, res } = ctx;
    return new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      let done = false;
      const settle = (fn, v) => {
        if (done) return;
        done = true;
        fn(v);
      };
      const tooLarge = () => {
        if (!ctx.h2) res.setHeader('Connection', 'close'); // do not read the rest of a huge upload (HTTP/2 forbids the header)
        settle(reject, new AblyError(413, 41300, `Request body larger than ${MAX_BODY} bytes`));
      };
      if (Number(req.headers['content-length']) > MAX_BODY) return tooLarge();
      req.on('data', (chunk) => {
        size += chunk.length;
        if (size > MAX_BODY) tooLarge();
        else if (!done) chunks.push(chunk);
      });
      req.on('end', () => {
        ctx.receivedAt = Date.now();
        settle(resolve, Buffer.concat(chunks));
      });
      req.on('close', () => settle(reject, new AblyError(400, 40000, 'Request aborted')));
    });
  }

  /* A POST body as Ably's REST API takes it: Content-Type application/json, valid JSON. */
  async jsonBody(ctx) {
    const body = await this.readBody(ctx);
    const type = String(ctx.req.headers['content-type'] || '');
    if (!/^application\/json\s*(;|$)/i.test(type))
      fail(415, 41500, `Unsupported Content-Type "${printable(type, 60)}"; send application/json`);
    if (body.length === 0) fail(400, 40000, 'Empty request body');
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      fail(400, 40000, 'Request body is not valid JSON');
    }
  }

  sendJson(ctx, status, value, headers = {}) {
    this.send(ctx, status, Buffer.from(JSON.stringify(value), 'utf8'), {
      'Content-Type': 'application/json', // exactly this: ably-js only parses error bodies then
      'Cache-Control': 'no-store',
      ...headers,
    });
  }

  sendError(ctx, status, code, message) {
    ctx.code = code;
    if (ctx.res.headersSent || gone(ctx.res)) return void ctx.res.destroy();
    this.sendJson(ctx, status, {
      error: { message, code, statusCode: status, href: `https://help.ably.io/error/${code}` },
    }, { 'X-Ably-ErrorCode': String(code), 'X-Ably-ErrorMessage': printable(message) });
  }

  /* How long an answer must still wait: the emulated network latency counts from the moment
   * the request was fully received (plus any fault latency). Control answers never wait. */
  answerDelay(ctx) {
    if (ctx.route === 'control' || !this.latencyMs) return 0;
    return Math.max(0, ctx.receivedAt + ctx.faultDelayMs + this.latencyMs - Date.now());
  }

  /* Write a response once the latency has passed (a timer per answer, so answers overlap). */
  send(ctx, status, buf, headers) {
    const wait = this.answerDelay(ctx);
    if (wait > 0) this.later(wait, () => this.sendNow(ctx, status, buf, headers));
    else this.sendNow(ctx, status, buf, headers);
  }

  /* Write a response, dribbling it in chunks when a slowBody fault is active. */
  sendNow(ctx, status, buf, headers) {
    const { res } = ctx;
    if (gone(res)) return;
    res.writeHead(status, { ...headers, 'Content-Length': buf.length });
    if (!ctx.slow || buf.length === 0) {
      res.end(buf);
      return void ctx.ended();
    }
    const size = Math.ceil(buf.length / Math.min(ctx.slow.chunks, buf.length));
    let off = 0;
    const step = () => {
      if (gone(res)) return;
      const part = buf.subarray(off, off + size);
      off += size;
      if (off >= buf.length) {
        res.end(part);
        ctx.ended();
      } else {
        res.write(part);
        this.later(ctx.slow.slowBodyMs, step);
      }
    };
    res.flushHeaders();
    this.later(ctx.slow.slowBodyMs, step);
  }

  /* One log line and one stats record per request, whatever way it ended. */
  finish(ctx) {
    const { req, res } = ctx;
    const status = res.headersSent ? res.statusCode : 0; // 0: socket destroyed before an answer
    const ok = status >= 200 && status < 400;
    this.requests++;
    const r = this.routes[ctx.route];
    r.requests++;
    r[ok ? 'ok' : 'errors']++;
    const pathForLog = printable(ctx.path, 200);
    if (ctx.route !== 'control' && ctx.route !== 'preflight') {
      // Control traffic stays out of errorCodes and lastRequests so tests see only the client's.
      if (ctx.code) this.errorCodes[ctx.code] = (this.errorCodes[ctx.code] || 0) + 1;
      const headers = { ...req.headers };
      // Never keep credentials: the scheme is enough to check what a client sent.
      if (headers.authorization) headers.authorization = `${printable(headers.authorization.split(' ')[0], 20)} [redacted]`;
      delete headers.cookie;
      this.lastRequests.push({
        seq: ++this.requestSeq, at: ctx.started, method: req.method, path: pathForLog, route: ctx.route,
        status, code: ctx.code, connection: ctx.connection, httpVersion: req.httpVersion, headers, ...ctx.extra,
      });
      if (this.lastRequests.length > LAST_REQUESTS) this.lastRequests.shift();
      // Trace context as received, so a test can check what a client passed on.
      if (req.headers.traceparent !== undefined) {
        this.traceparents.push({ seq: this.requestSeq, route: ctx.route, value: printable(String(req.headers.traceparent), 200) });
        if (this.traceparents.length > LAST_TRACEPARENTS) this.traceparents.shift();
      }
    }
    if (this.log) {
      const code = ctx.code ? ` ${ctx.code}` : '';
      process.stderr.write(`[ably-emulator] ${printable(req.method, 10)} ${pathForLog} ${status}${code} ${Date.now() - ctx.started}ms\n`);
    }
  }

  async preflight(ctx) {
    const { req, res } = ctx;
    const wait = this.answerDelay(ctx);
    if (wait > 0) await this.sleep(wait);
    if (gone(res)) return;
    res.writeHead(204, {
      'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
      'Access-Control-Allow-Headers': printable(req.headers['access-control-request-headers'] || '', 1000),
      'Access-Control-Max-Age': '600',
    });
    res.end();
    ctx.ended();
  }

  // --- faults --------------------------------------------------------------------------------

  /* Validate and install a fault switch; throws 40000 on anything unexpected (catches typos). */
  setFaults(spec) {
    if (!isPlainObject(spec)) fail(400, 40000, 'faults: expected a JSON object');
    const known = ['latencyMs', 'status', 'count', 'reset', 'garbage', 'slowBodyMs', 'chunks', 'routes',
      'silent', 'cloudfront', 'htmlError', 'code'];
    for (const k of Object.keys(spec)) if (!known.includes(k)) fail(400, 40000, `faults: unknown field "${printable(k, 40)}"`);
    const int = (name, min, max, dflt) => {
      const v = spec[name] ?? dflt;
      if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max))
        fail(400, 40000, `faults: ${name} must be an integer in ${min}..${max}`);
      return v;
    };
    const bool = (name) => {
      if (spec[name] !== undefined && typeof spec[name] !== 'boolean') fail(400, 40000, `faults: ${name} must be a boolean`);
      return spec[name] === true;
    };
    const routes = spec.routes ?? DEFAULT_FAULT_ROUTES;
    if (!Array.isArray(routes) || routes.length === 0 || !routes.every((r) => FAULT_ROUTES.includes(r)))
      fail(400, 40000, `faults: routes must be a non-empty subset of ${FAULT_ROUTES.join(', ')}`);
    const kinds = ['silent', 'reset', 'garbage', 'cloudfront', 'htmlError'].filter(bool);
    if (kinds.length > 1) fail(400, 40000, `faults: ${kinds.join(' and ')} exclude each other`);
    this.faults = {
      latencyMs: int('latencyMs', 0, MAX_LATENCY_MS, 0),
      status: int('status', 400, 599, undefined) ?? null,
      code: int('code', 10000, 99999, undefined) ?? null,
      reset: bool('reset'),
      garbage: bool('garbage'),
      silent: bool('silent'),
      cloudfront: bool('cloudfront'),
      htmlError: bool('htmlError'),
      slowBodyMs: int('slowBodyMs', 0, MAX_LATENCY_MS, 0),
      chunks: int('chunks', 1, 1000, 8),
      routes: [...routes],
      remaining: int('count', 1, 1e9, 1),
    };
    return { ...this.faults };
  }

  /* Apply the active fault to this request if it matches. True when the fault has answered
   * (or, silent, decided never to). */
  async applyFault(ctx) {
    const f = this.faults;
    if (!f || !f.routes.includes(ctx.route)) return false;
    if (--f.remaining <= 0) this.faults = null;
    this.faultsApplied++;
    ctx.extra.fault = true;
    if (f.latencyMs) {
      await this.sleep(f.latencyMs);
      ctx.faultDelayMs = f.latencyMs;
    }
    if (gone(ctx.res)) return true;
    if (f.slowBodyMs) ctx.slow = f;
    if (f.silent) {
      // Accepted, never answered: no status, no bytes, the connection stays open.
      this.held.add(ctx);
      ctx.res.on('close', () => this.held.delete(ctx));
      return true;
    }
    if (f.reset) {
      const wait = this.answerDelay(ctx); // the reset too travels the emulated network
      if (wait > 0) await this.sleep(wait);
      // The client sees ECONNRESET / "socket hang up". HTTP/2: the whole connection goes,
      // with every stream on it, as with a TCP reset.
      if (ctx.h2) ctx.req.stream.session.destroy();
      else ctx.req.socket.destroy();
      return true;
    }
    if (f.garbage) {
      // Claims JSON but is not: the client's parser must cope.
      this.send(ctx, f.status ?? 200, Buffer.from('<html>garbage from the emulator {"token":'), {
        'Content-Type': 'application/json',
      });
      return true;
    }
    if (f.cloudfront) {
      // What Ably's CDN edge answers when it refuses a request itself: HTML, no Ably error.
      const status = f.status ?? 403;
      const id = crypto.randomBytes(40).toString('base64url').slice(0, 56);
      this.send(ctx, status, Buffer.from(cloudfrontPage(status, id), 'latin1'), {
        'Content-Type': 'text/html',
        Server: 'CloudFront',
        'X-Cache': 'Error from cloudfront',
        Via: '1.1 emulator.cloudfront.invalid (CloudFront)',
        'X-Amz-Cf-Pop': 'EMU50-C1',
        'X-Amz-Cf-Id': id,
      });
      return true;
    }
    if (f.htmlError) {
      // Some proxy on the way answered: an HTML error page, no Ably error, no JSON.
      const status = f.status ?? 502;
      this.send(ctx, status, Buffer.from(proxyPage(status)), { 'Content-Type': 'text/html' });
      return true;
    }
    if (f.status) {
      this.sendError(ctx, f.status, f.code ?? f.status * 100, `Emulated upstream failure (HTTP ${f.status})`);
      return true;
    }
    return false; // latency / slow body only: carry on normally
  }

  // --- control endpoints ---------------------------------------------------------------------

  async control(ctx, what) {
    const m = ctx.req.method;
    if (what === 'stats' && m === 'GET') return this.sendJson(ctx, 200, this.stats());
    if (what === 'reset' && m === 'POST') {
      await this.readBody(ctx);
      this.reset();
      return this.sendJson(ctx, 200, { reset: true });
    }
    if (what === 'faults' && m === 'POST') return this.sendJson(ctx, 200, { faults: this.setFaults(await this.jsonBody(ctx)) });
    if (what === 'faults' && m === 'DELETE') {
      this.faults = null;
      return this.sendJson(ctx, 200, { faults: null });
    }
    if (what === 'faults' && m === 'GET') return this.sendJson(ctx, 200, { faults: this.faults });
    if (what === 'latency' && m === 'GET') return this.sendJson(ctx, 200, { latencyMs: this.latencyMs });
    if (what === 'latency' && m === 'POST') {
      const body = await this.jsonBody(ctx);
      if (!isPlainObject(body) || Object.keys(body).join() !== 'ms' || !Number.isInteger(body.ms))
        fail(400, 40000, 'latency: expected {"ms": integer}');
      this.latencyMs = checkLatency(body.ms, 'latency: ms');
      return this.sendJson(ctx, 200, { latencyMs: this.latencyMs });
    }
    if (what === 'drop-connections' && m === 'POST') {
      const raw = await this.readBody(ctx);
      let body = {};
      if (raw.length) {
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch { /* checked below */ }
      }
      if (!isPlainObject(body) || Object.keys(body).some((k) => k !== 'graceful') ||
          (body.graceful !== undefined && typeof body.graceful !== 'boolean'))
        fail(400, 40000, 'drop-connections: expected no body or {"graceful": boolean}');
      const dropped = this.dropConnections(ctx.connection, { graceful: body.graceful === true });
      return this.sendJson(ctx, 200, { dropped, graceful: body.graceful === true });
    }
    if (what === 'realtime' && m === 'POST') return this.sendJson(ctx, 200, this.realtime.control(await this.jsonBody(ctx)));
    if (what === 'clock' && m === 'POST') {
      const body = await this.jsonBody(ctx);
      if (!isPlainObject(body) || !Number.isInteger(body.offsetMs) || Math.abs(body.offsetMs) > 365 * 86400000)
        fail(400, 40000, 'clock: expected {"offsetMs": integer}');
      this.clockOffsetMs = body.offsetMs;
      return this.sendJson(ctx, 200, { offsetMs: this.clockOffsetMs, now: this.now() });
    }
    fail(404, 40400, 'Unknown control endpoint');
  }

  // --- POST /keys/{keyName}/requestToken -----------------------------------------------------

  requestToken(ctx, pathKeyName, body) {
    if (!isPlainObject(body)) fail(400, 40000, 'TokenRequest must be a JSON object');
    const { ttl, capability, clientId, timestamp, nonce, mac } = body;
    ctx.extra.tokenRequest = { keyName: body.keyName, ttl, capability, clientId, timestamp, nonce, signed: mac !== undefined };
    const key = this.keys.get(pathKeyName);
    if (!key) fail(401, 40101, `Invalid credentials: no key named "${pathKeyName}"`);
    const signed = mac !== undefined;
    if ((signed || body.keyName !== undefined) && body.keyName !== pathKeyName)
      fail(401, 40101, 'Invalid credentials: keyName in the body does not match the URL');

    // Field shapes first: the mac is computed over them exactly as sent.
    if (ttl !== undefined && !(Number.isSafeInteger(ttl) && ttl > 0))
      fail(400, 40003, 'Invalid ttl: must be a positive integer number of milliseconds');
    if (clientId !== undefined && (typeof clientId !== 'string' || clientId === ''))
      fail(400, 40012, 'Invalid clientId: must be a non-empty string');
    if (capability !== undefined && typeof capability !== 'string')
      fail(400, 40000, 'Invalid capability: must be a JSON-encoded string');
    const requested = capability ? parseCapability(capability) : null; // "" means "the key's"

    if (signed) {
      if (typeof mac !== 'string') fail(401, 40101, 'Invalid mac');
      if (!Number.isSafeInteger(timestamp)) fail(400, 40000, 'Invalid timestamp: must be an integer (ms since epoch)');
      if (typeof nonce !== 'string' || nonce.length < 16) fail(400, 40000, 'Invalid nonce: must be a string of at least 16 characters');
      const text = [pathKeyName, ttl ?? '', capability ?? '', clientId ?? '', timestamp, nonce].join('\n') + '\n';
      if (!safeEqual(hmac(key.secret, text, 'base64'), mac)) fail(401, 40101, 'Invalid mac: signature does not match');
      const now = this.now();
      if (Math.abs(now - timestamp) > TIME_WINDOW_MS)
        fail(401, 40104, `Timestamp not current: ${timestamp} is ${Math.round((timestamp - now) / 1000)}s from server time`);
      this.useNonce(key, timestamp, nonce, now);
    } else {
      this.checkBasic(ctx, key); // an unsigned TokenRequest needs the key itself
    }

    const ttlMs = ttl ?? Math.min(DEFAULT_TTL, key.maxTtl);
    if (ttlMs > key.maxTtl)
      fail(400, 40003, `Invalid ttl: ${ttlMs} exceeds the maximum ${key.maxTtl} ms${key.revocable ? ' for keys with revocable tokens' : ''}`);
    const cap = requested ? intersectCapabilities(requested, key.capability) : key.capability;
    if (cap.size === 0) fail(401, 40160, 'Requested capability is not permitted by the key (empty intersection)');

    const issued = this.now();
    const details = {
      token: `${key.appId}.${crypto.randomBytes(30).toString('base64url')}`,
      keyName: key.keyName,
      issued,
      expires: issued + ttlMs,
      capability: canonicalCapability(cap),
    };
    if (clientId !== undefined) details.clientId = clientId;
    this.sweep(issued);
    this.tokens.set(details.token, { keyName: key.keyName, issued, expires: details.expires, capability: cap, clientId: clientId ?? null });
    this.tokensIssued++;
    ctx.extra.issued = { capability: details.capability, clientId: details.clientId ?? null, ttl: ttlMs };
    this.sendJson(ctx, 200, details);
  }

  /* Each timestamp+nonce pair is good once per key (40105). Pairs older than the window are dropped. */
  useNonce(key, timestamp, nonce, now) {
    let seen = this.nonces.get(key.keyName);
    if (!seen) this.nonces.set(key.keyName, (seen = new Map()));
    const id = `${timestamp}\n${nonce}`;
    if (seen.has(id)) fail(401, 40105, 'Nonce value replayed: use a fresh nonce and timestamp for each TokenRequest');
    seen.set(id, timestamp);
  }

  checkBasic(ctx, key) {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(String(ctx.req.headers.authorization || ''));
    if (!m) fail(401, 40101, 'TokenRequest has no mac and no Basic authentication');
    const cred = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = cred.indexOf(':');
    if (colon < 0 || cred.slice(0, colon) !== key.keyName || !safeEqual(cred.slice(colon + 1), key.secret))
      fail(401, 40101, 'Invalid credentials: Basic authentication failed');
  }

  /* Forget expired tokens and nonces outside the window. At most every 10 s, so a benchmark
   * issuing thousands of tokens a second stays O(1) per request; the token map is also capped. */
  sweep(now) {
    if (now - (this.lastSweep || 0) > 10000) {
      this.lastSweep = now;
      for (const [t, info] of this.tokens) if (info.expires <= now) this.tokens.delete(t);
      for (const seen of this.nonces.values())
        for (const [id, ts] of seen) if (Math.abs(now - ts) > TIME_WINDOW_MS) seen.delete(id);
    }
    while (this.tokens.size >= MAX_TOKENS) this.tokens.delete(this.tokens.keys().next().value); // oldest first
  }

  // --- POST /keys/{keyName}/revokeTokens ------------------------------------------------------

  /* Token revocation as Ably documents it (docs: auth/revocation, api/rest-api#revoke-tokens;
   * ably-js rest.revokeTokens; ably-common errors 40133, 40141, 40162, 40163, 40121, 40020):
   * Basic auth with the key that issued the tokens, a body {targets, issuedBefore?,
   * allowReauthMargin?}, one result per target. With X-Ably-Version >= 3 (ably-js sends 6) the
   * answer is 201 {successCount, failureCount, results} even when some targets failed; older
   * clients get 201 and a bare array, or 400 40020 with the results in batchResponse. */
  revokeTokens(ctx, pathKeyName, body) {
    const header = String(ctx.req.headers.authorization || '');
    const scheme = header.split(' ')[0].toLowerCase();
    if (!header) fail(401, 40100, 'Unauthorized: token revocation needs Basic authentication with the key');
    if (scheme !== 'basic') fail(401, 40162, 'Token revocation requires Basic authentication with an API key, not a token');
    const cred = Buffer.from(header.slice(header.indexOf(' ') + 1).trim(), 'base64').toString('utf8');
    const key = this.keys.get(cred.slice(0, cred.indexOf(':')));
    if (!key) fail(401, 40101, 'Invalid credentials: unknown key');
    this.checkBasic(ctx, key);
    if (key.keyName !== pathKeyName) fail(401, 40133, 'Can only revoke tokens using the same key that issued them');
    if (!key.revocable) fail(401, 40163, 'Token revocation is not enabled for this key (revocable tokens)');
    if (!isPlainObject(body)) fail(400, 40000, 'revokeTokens: the body must be a JSON object');
    const { targets, issuedBefore, allowReauthMargin } = body;
    ctx.extra.revoke = { targets, issuedBefore, allowReauthMargin };
    if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => typeof t === 'string'))
      fail(400, 40000, 'revokeTokens: targets must be a non-empty array of strings');
    if (targets.length > MAX_REVOKE_TARGETS) fail(400, 40000, `revokeTokens: at most ${MAX_REVOKE_TARGETS} targets`);
    if (allowReauthMargin !== undefined && typeof allowReauthMargin !== 'boolean')
      fail(400, 40000, 'revokeTokens: allowReauthMargin must be a boolean');
    const now = this.now();
    if (issuedBefore !== undefined) {
      if (!Number.isSafeInteger(issuedBefore)) fail(400, 40003, 'revokeTokens: issuedBefore must be an integer (ms since epoch)');
      if (issuedBefore > now) fail(400, 40003, 'revokeTokens: issuedBefore is in the future');
      if (issuedBefore < now - MAX_ISSUED_BEFORE_AGE_MS) fail(400, 40003, 'revokeTokens: issuedBefore is more than an hour ago');
    }
    const before = issuedBefore ?? now;
    const appliesAt = allowReauthMargin ? now + REAUTH_MARGIN_MS : now;
    const results = targets.map((target) => {
      const colon = target.indexOf(':');
      const type = colon < 0 ? '' : target.slice(0, colon);
      const value = colon < 0 ? '' : target.slice(colon + 1);
      if (type === 'channel')
        return { target, error: { code: 40121, statusCode: 401, message: 'Revocation by channel is not enabled for this account' } };
      if ((type !== 'clientId' && type !== 'revocationKey') || value === '')
        return { target, error: { code: 40000, statusCode: 400, message: 'Invalid target: expected clientId:ID or revocationKey:KEY' } };
      this.revoke(key.keyName, { type, value, issuedBefore: before, appliesAt });
      return { target, issuedBefore: before, appliesAt };
    });
    const failureCount = results.filter((r) => r.error).length;
    const version = Number(ctx.req.headers['x-ably-version']);
    if (version >= 3) {
      return this.sendJson(ctx, 201, { successCount: results.length - failureCount, failureCount, results });
    }
    if (failureCount === 0) return this.sendJson(ctx, 201, results);
    ctx.code = 40020;
    return this.sendJson(ctx, 400, {
      error: { message: 'Batched response includes errors', code: 40020, statusCode: 400, href: 'https://help.ably.io/error/40020' },
      batchResponse: results,
    });
  }

  /* Remember a revocation; enforce it on open realtime connections at appliesAt (before that,
   * with allowReauthMargin, they get AUTH: a hint to renew first). */
  revoke(keyName, r) {
    let list = this.revocations.get(keyName);
    if (!list) this.revocations.set(keyName, (list = []));
    list.push(r);
    const wait = r.appliesAt - this.now();
    if (wait > 0) {
      this.realtime.hintRevoked(keyName, r);
      this.later(wait, () => this.realtime.enforceRevocations());
    } else {
      // After the answer is on its way, as Ably acts after answering.
      setImmediate(() => this.realtime.enforceRevocations());
    }
  }

  /* Whether a verified credential {keyName, issued, clientId, revocationKey} is revoked now. */
  isRevoked(info, now = this.now()) {
    const list = this.revocations.get(info.keyName);
    return !!list && list.some((r) => r.appliesAt <= now && revocationMatches(r, info));
  }

  // --- token-authenticated REST --------------------------------------------------------------

  /* Authorization header -> {kind, keyName, capability, clientId}. clientId '*' = any. */
  authenticate(ctx) {
    const header = String(ctx.req.headers.authorization || '');
    if (!header) fail(401, 40100, 'Unauthorized: no Authorization header');
    const space = header.indexOf(' ');
    const scheme = header.slice(0, space).toLowerCase();
    const cred = header.slice(space + 1).trim();
    if (scheme === 'basic') {
      const cred2 = Buffer.from(cred, 'base64').toString('utf8');
      const key = this.keys.get(cred2.slice(0, cred2.indexOf(':')));
      if (!key) fail(401, 40101, 'Invalid credentials: unknown key');
      this.checkBasic(ctx, key);
      return { kind: 'basic', keyName: key.keyName, capability: key.capability, clientId: '*' };
    }
    if (scheme !== 'bearer') fail(401, 40100, 'Unauthorized: use Bearer (token) or Basic (key) authentication');
    // ably-js sends base64(token); a raw token (a client bug) is not valid base64 and is refused.
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(cred)) fail(401, 40140, 'Token not recognised: Bearer value must be base64(token)');
    return this.verifyToken(Buffer.from(cred, 'base64').toString('utf8'));
  }

  /* An Ably token we issued, or an Ably JWT -> {kind, keyName, capability, clientId, issued,
   * expires}; throws the AblyError Ably would answer with. REST and realtime share it. */
  verifyToken(token) {
    let info;
    if (token.split('.').length === 3) {
      info = this.verifyJwt(token);
    } else {
      const known = this.tokens.get(token);
      if (!known) fail(401, 40140, 'Token not recognised');
      if (known.expires <= this.now()) fail(401, 40142, 'Token expired');
      info = { kind: 'token', revocationKey: null, ...known };
    }
    if (this.isRevoked(info)) fail(401, 40141, 'Token revoked');
    return info;
  }

  /* Ably JWT: HS256 only, kid = keyName, iat/exp in seconds. */
  verifyJwt(jwt) {
    const bad = (why) => fail(401, 40144, `Invalid JWT: ${why}`);
    const parts = jwt.split('.');
    if (!parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) bad('not three base64url parts');
    const decode = (p) => {
      let v = null;
      try {
        v = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
      } catch { /* v stays null */ }
      return isPlainObject(v) ? v : null;
    };
    const header = decode(parts[0]) ?? bad('header is not a JSON object');
    if (header.alg !== 'HS256') bad('alg must be HS256');
    if (header.typ !== undefined && header.typ !== 'JWT') bad('typ must be JWT');
    const key = typeof header.kid === 'string' ? this.keys.get(header.kid) : undefined;
    if (!key) bad('kid is not a known key name');
    if (!safeEqual(hmac(key.secret, `${parts[0]}.${parts[1]}`, 'base64url'), parts[2])) bad('signature does not match');
    const claims = decode(parts[1]) ?? bad('claims are not a JSON object');
    const { iat, exp } = claims;
    if (!Number.isFinite(iat) || !Number.isFinite(exp)) bad('iat and exp (seconds) are required numbers');
    const nowS = this.now() / 1000;
    if (exp <= nowS) fail(401, 40142, 'Token expired');
    if (iat > nowS + TIME_WINDOW_MS / 1000) bad('iat is in the future');
    if (exp <= iat) bad('exp must be later than iat');
    if ((exp - iat) * 1000 > key.maxTtl) fail(400, 40003, `Invalid JWT: lifetime exceeds the maximum ${key.maxTtl} ms`);
    let cap = key.capability;
    const capClaim = claims['x-ably-capability'];
    // Ably's docs mark the claim required (one table says optional): be
    // the stricter of the two, so that what works here works there.
    if (capClaim === undefined) bad('x-ably-capability is required');
    {
      if (typeof capClaim !== 'string') bad('x-ably-capability must be a JSON string');
      let requested;
      try {
        requested = parseCapability(capClaim);
      } catch (e) {
        bad(e.message);
      }
      cap = intersectCapabilities(requested, key.capability);
      if (cap.size === 0) fail(401, 40160, 'JWT capability is not permitted by the key (empty intersection)');
    }
    const clientId = claims['x-ably-clientId'];
    if (clientId !== undefined && (typeof clientId !== 'string' || clientId === '')) bad('x-ably-clientId must be a non-empty string');
    const revocationKey = typeof claims['x-ably-revocation-key'] === 'string' ? claims['x-ably-revocation-key'] : null;
    return {
      kind: 'jwt', keyName: key.keyName, capability: cap, clientId: clientId ?? null, revocationKey,
      issued: iat * 1000, expires: exp * 1000,
    };
  }

  requireCapability(auth, channel, op) {
    if (!capabilityAllows(auth.capability, channel, op))
      fail(401, 40160, `Action not permitted: no "${op}" capability for channel "${channel}"`);
  }

  publish(ctx, channel, body) {
    const auth = this.authenticate(ctx);
    ctx.extra.auth = { kind: auth.kind, clientId: auth.clientId };
    this.requireCapability(auth, channel, 'publish');
    const list = Array.isArray(body) ? body : [body];
    if (list.length > 1000) fail(400, 40000, 'Too many messages in one publish');
    const now = this.now();
    const stored = list.map((msg, i) => {
      if (!isPlainObject(msg)) fail(400, 40000, 'Each message must be a JSON object');
      if (msg.clientId !== undefined && msg.clientId !== null) {
        if (typeof msg.clientId !== 'string' || msg.clientId === '' || msg.clientId === '*')
          fail(400, 40012, 'Invalid message clientId');
        if (auth.clientId !== '*' && msg.clientId !== auth.clientId)
          fail(400, 40012, `Mismatched clientId: message has "${msg.clientId}", credentials allow ${auth.clientId === null ? 'none' : `"${auth.clientId}"`}`);
      }
      // Ably stamps the connection's identity on messages that carry none.
      const implicit = auth.clientId && auth.clientId !== '*' ? auth.clientId : undefined;
      return { ...msg, id: msg.id ?? `emu-${now}-${i}`, clientId: msg.clientId ?? implicit, timestamp: msg.timestamp ?? now };
    });
    this.storeMessages(channel, stored);
    ctx.extra.publish = { channel, messages: stored.length };
    this.sendJson(ctx, 201, {});
    this.realtime.broadcast(channel, stored); // realtime subscribers see REST publishes too
  }

  /* Keep published messages for history (REST and realtime publishes alike). */
  storeMessages(channel, stored) {
    let messages = this.channels.get(channel);
    if (!messages) this.channels.set(channel, (messages = []));
    messages.push(...stored);
    if (messages.length > MAX_MESSAGES_PER_CHANNEL) messages.splice(0, messages.length - MAX_MESSAGES_PER_CHANNEL);
    this.messagesStored += stored.length;
  }

  history(ctx, channel) {
    const auth = this.authenticate(ctx);
    ctx.extra.auth = { kind: auth.kind, clientId: auth.clientId };
    this.requireCapability(auth, channel, 'history');
    const limit = ctx.query.has('limit') ? Number(ctx.query.get('limit')) : 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) fail(400, 40003, 'Invalid limit: 1..1000');
    const direction = ctx.query.get('direction') ?? 'backwards';
    if (direction !== 'backwards' && direction !== 'forwards') fail(400, 40003, 'Invalid direction');
    const all = this.channels.get(channel) || [];
    const ordered = direction === 'backwards' ? [...all].reverse() : all;
    this.sendJson(ctx, 200, ordered.slice(0, limit));
  }
}

/* Start an emulator; resolves once it listens. Options: host ('127.0.0.1'), port (0 = any),
 * keys (file path, array or {keys}; default test-keys.json), log (false), keepAliveTimeoutMs,
 * latencyMs (0), tls ({cert, key}: PEM text or Buffers; HTTPS + HTTP/2 by ALPN), http2 (true;
 * false: HTTPS with HTTP/1.1 only), maxStreams (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS, default
 * 1000), controlPort (TLS only; 0 = any). */
export async function startEmulator(opts = {}) {
  const emu = new Emulator(opts);
  const host = opts.host ?? '127.0.0.1';
  const { port, controlPort } = await emu.listen(host, opts.port ?? 0, opts.controlPort ?? 0);
  const h = host.includes(':') ? `[${host}]` : host;
  const url = `${emu.tls ? 'https' : 'http'}://${h}:${port}`;
  return {
    host,
    port,
    url,
    tls: emu.tls,
    controlPort,
    controlUrl: emu.tls ? `http://${h}:${controlPort}` : url,
    server: emu.server,
    controlServer: emu.controlServer ?? null,
    keys: emu.keys,
    stats: () => emu.stats(),
    reset: () => emu.reset(),
    setFaults: (spec) => emu.setFaults(spec),
    clearFaults: () => void (emu.faults = null),
    setClockOffset: (ms) => void (emu.clockOffsetMs = ms),
    setLatency: (ms) => void (emu.latencyMs = checkLatency(ms)),
    dropConnections: (opts) => emu.dropConnections(null, opts), // {graceful}
    realtimeControl: (body) => emu.realtime.control(body), // {action: 'requestAuth' | 'disconnect'}
    close: () => emu.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// Command line

const USAGE = 'usage: node server.mjs [--host 127.0.0.1] [--port 0] [--keys FILE] [--quiet] [--latency-ms N]\n' +
  '                      [--tls-cert FILE --tls-key FILE [--max-streams 1000 | --no-http2] [--control-port 0]]\n' +
  'env: ABLY_EMULATOR_LATENCY_MS (the flag wins)\n';

async function main() {
  let args;
  const intArg = (name, v, min, max) => {
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!(Number.isInteger(n) && n >= min && n <= max)) throw new Error(`${name} must be an integer in ${min}..${max}`);
    return n;
  };
  try {
    ({ values: args } = parseArgs({
      options: {
        host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' },
        keys: { type: 'string', default: DEFAULT_KEYS_FILE }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
        'latency-ms': { type: 'string' }, 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' },
        'max-streams': { type: 'string' }, 'control-port': { type: 'string' }, 'no-http2': { type: 'boolean' },
      },
    }));
    args.port = intArg('--port', args.port, 0, 65535);
    const latency = args['latency-ms'] ?? process.env.ABLY_EMULATOR_LATENCY_MS;
    const latencyName = args['latency-ms'] !== undefined ? '--latency-ms' : 'ABLY_EMULATOR_LATENCY_MS';
    args.latencyMs = latency === undefined || latency === '' ? 0 : intArg(latencyName, latency, 0, MAX_LATENCY_MS);
    if (!args['tls-cert'] !== !args['tls-key']) throw new Error('--tls-cert and --tls-key go together');
    if (!args['tls-cert'] && (args['max-streams'] !== undefined || args['control-port'] !== undefined || args['no-http2']))
      throw new Error('--max-streams, --no-http2 and --control-port need --tls-cert and --tls-key');
    if (args['no-http2'] && args['max-streams'] !== undefined) throw new Error('--max-streams is for HTTP/2; not with --no-http2');
    if (args['max-streams'] !== undefined) args.maxStreams = intArg('--max-streams', args['max-streams'], 1, 2 ** 31 - 1);
    if (args['control-port'] !== undefined) args.controlPort = intArg('--control-port', args['control-port'], 0, 65535);
  } catch (err) {
    process.stderr.write(`ably-emulator: ${err.message}\n`);
    process.exit(2);
  }
  if (args.help) return void process.stdout.write(USAGE);
  const tls = args['tls-cert'] ? { cert: fs.readFileSync(args['tls-cert']), key: fs.readFileSync(args['tls-key']) } : null;
  const emu = await startEmulator({
    host: args.host, port: args.port, keys: args.keys, log: !args.quiet, latencyMs: args.latencyMs,
    tls, http2: !args['no-http2'], maxStreams: args.maxStreams, controlPort: args.controlPort,
  });
  const line = { event: 'listening', port: emu.port };
  if (emu.tls) Object.assign(line, { tls: true, controlPort: emu.controlPort });
  process.stdout.write(JSON.stringify(line) + '\n');
  const stop = () => emu.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

let invokedDirectly = false;
try {
  invokedDirectly = fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
} catch { /* not run as a script */ }
if (invokedDirectly) {
  main().catch((err) => {
    process.stderr.write(`ably-emulator: ${err.message}\n`);
    process.exit(1);
  });
}
