// The realtime (WebSocket) side of the local Ably emulator: enough of Ably's realtime protocol
// for ably-js 2.28.0 to connect with an Ably token (issued by requestToken) or an Ably JWT,
// be refused with the right error code, renew its credential on the open connection (AUTH),
// resume after a drop, and attach, publish and subscribe within the token's capability.
// JSON protocol only (ably-js: useBinaryProtocol: false; browsers use JSON anyway).
// Protocol actions and flags are Ably's (ably-js src/common/lib/types/protocolmessagecommon.ts).

import crypto from 'node:crypto';
import { WebSocketServer } from 'ws';
// server.mjs imports this module too; the cycle is fine because both only use each other's
// exports inside functions, never while the modules are being evaluated.
import { AblyError, capabilityAllows, revocationMatches } from './server.mjs';

export const ACTION = {
  HEARTBEAT: 0, ACK: 1, NACK: 2, CONNECT: 3, CONNECTED: 4, DISCONNECT: 5, DISCONNECTED: 6,
  CLOSE: 7, CLOSED: 8, ERROR: 9, ATTACH: 10, ATTACHED: 11, DETACH: 12, DETACHED: 13,
  PRESENCE: 14, MESSAGE: 15, SYNC: 16, AUTH: 17,
};
export const FLAG = {
  RESUMED: 1 << 2, PRESENCE: 1 << 16, PUBLISH: 1 << 17, SUBSCRIBE: 1 << 18, PRESENCE_SUBSCRIBE: 1 << 19,
};
const MODES = FLAG.PRESENCE | FLAG.PUBLISH | FLAG.SUBSCRIBE | FLAG.PRESENCE_SUBSCRIBE;

export const MAX_IDLE_INTERVAL = 15000;      // we send something at least this often
export const CONNECTION_STATE_TTL = 120000;  // a dropped connection can be resumed for this long
export const MAX_MESSAGE_SIZE = 65536;       // Ably's default per message
const MAX_FRAME = 512 * 1024;                // larger frames close the socket (1009)
export const REAUTH_LEAD_MAX = 30000;        // Ably asks for a new token 30 s before expiry...
const MAX_CONNECTIONS = 1000;
const MAX_MISSED = 100;                      // messages kept for a dropped connection

/* ...or, for short-lived credentials, a third of their lifetime before expiry. */
export function reauthLead(lifetimeMs) {
  return Math.min(REAUTH_LEAD_MAX, Math.floor(lifetimeMs / 3));
}

const errorBody = (code, statusCode, message) =>
  ({ code, statusCode, message, href: `https://help.ably.io/error/${code}` });

const randomId = (bytes) => crypto.randomBytes(bytes).toString('base64url');

/* The channel modes a capability grants on a channel: 0 = it may not attach at all,
 * ATTACH_ONLY = it may attach (history, channel-metadata, ...) but gets no mode. */
const ATTACH_ONLY = -1;
function grantedModes(cap, channel) {
  let modes = 0;
  if (capabilityAllows(cap, channel, 'publish')) modes |= FLAG.PUBLISH;
  if (capabilityAllows(cap, channel, 'subscribe')) modes |= FLAG.SUBSCRIBE | FLAG.PRESENCE_SUBSCRIBE;
  if (capabilityAllows(cap, channel, 'presence')) modes |= FLAG.PRESENCE;
  if (modes === 0) {
    for (const op of ['history', 'channel-metadata', 'object-subscribe', 'annotation-subscribe'])
      if (capabilityAllows(cap, channel, op)) return ATTACH_ONLY;
  }
  return modes;
}

const newStats = () => ({
  connections: 0,      // WebSocket upgrades accepted
  connected: 0,        // CONNECTED sent for a new or resumed connection
  refused: 0,          // connection attempts answered with ERROR
  resumed: 0,          // resume/recover of a known connection
  authRequested: 0,    // AUTH sent to clients (credential about to expire, or control endpoint)
  reauthorized: 0,     // AUTH from a client accepted (CONNECTED sent back)
  reauthFailed: 0,     // AUTH from a client refused
  expired: 0,          // connections dropped because their credential expired (40142)
  revoked: 0,          // connections dropped because their credential was revoked (40141)
  attached: 0,
  messagesIn: 0,       // MESSAGE protocol messages accepted
  messagesOut: 0,      // MESSAGE protocol messages delivered to subscribers
  nacks: 0,
  errorCodes: {},      // code -> count, for every error sent on a WebSocket
});

/* One client connection; an open WebSocket carries at most one at a time. */
class Connection {
  constructor(rt, ws, params) {
    this.rt = rt;
    this.ws = ws;
    this.params = params;
    this.id = null;
    this.key = null;
    this.auth = null;
    this.clientId = null;   // identity from the token (or the clientId param with a wildcard token)
    this.echo = params.get('echo') !== 'false';
    this.channels = new Map(); // name -> granted mode flags
    this.timers = new Set();
    this.closed = false;
    this.lastSent = Date.now();
  }

  send(msg) {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    this.lastSent = Date.now();
    this.ws.send(JSON.stringify(msg));
  }

  later(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, Math.max(0, ms));
    this.timers.add(t);
    return t;
  }

  cancel(t) {
    if (t) {
      clearTimeout(t);
      this.timers.delete(t);
    }
  }

  /* A connection-level error: ERROR (or DISCONNECTED), then close the socket. */
  fatal(err, action = ACTION.ERROR) {
    this.rt.countError(err.code);
    this.send({ action, error: errorBody(err.code, err.statusCode, err.message) });
    this.close(1000);
  }

  close(code = 1000) {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    try {
      this.ws.close(code);
    } catch { /* already closing */ }
    // A socket that does not finish the close handshake is cut off.
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }
}

export class Realtime {
  constructor(emu) {
    this.emu = emu;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME, perMessageDeflate: false });
    this.open = new Set();          // Connection objects with an open socket
    // connectionKey -> {id, until, conn}; once the socket is gone also {channels, pending}:
    // what it was attached to, and the messages it missed (delivered on resume, as Ably does).
    this.resumable = new Map();
    this.channelSerials = new Map(); // channel -> last serial number
    this.reset();
  }

  reset() {
    this.stats = newStats();
  }

  snapshot() {
    return { ...this.stats, open: this.open.size, errorCodes: { ...this.stats.errorCodes } };
  }

  countError(code) {
    this.stats.errorCodes[code] = (this.stats.errorCodes[code] || 0) + 1;
  }

  log(line) {
    if (this.emu.log) process.stderr.write(`[ably-emulator] WS ${line}\n`);
  }

  /* http 'upgrade': Ably's realtime endpoint is the root path; anything else is 404. */
  handleUpgrade(req, socket, head) {
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    const params = new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1));
    const refuse = (status, text) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (path !== '/') return refuse(404, 'Not Found');
    if (String(req.headers.upgrade || '').toLowerCase() !== 'websocket') return refuse(400, 'Bad Request');
    if (this.open.size >= MAX_CONNECTIONS) return refuse(503, 'Service Unavailable');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onOpen(ws, params));
  }

  onOpen(ws, params) {
    this.stats.connections++;
    const conn = new Connection(this, ws, params);
    this.open.add(conn);
    ws.on('message', (data, isBinary) => this.onData(conn, data, isBinary));
    ws.on('close', () => this.onClose(conn));
    ws.on('error', () => conn.close(1011));
    try {
      this.connect(conn);
    } catch (err) {
      if (!(err instanceof AblyError)) throw err;
      this.stats.refused++;
      this.log(`connect refused ${err.code}`);
      conn.fatal(err);
    }
  }

  onClose(conn) {
    conn.closed = true;
    for (const t of conn.timers) clearTimeout(t);
    conn.timers.clear();
    this.open.delete(conn);
    const entry = conn.key && this.resumable.get(conn.key);
    if (entry && entry.conn === conn) {
      entry.conn = null;
      entry.until = Date.now() + CONNECTION_STATE_TTL;
      entry.channels = conn.channels;
      entry.pending = [];
    }
  }

  /* The credential in the connect params -> {kind, keyName, capability, clientId, issued, expires}. */
  credentials(params) {
    const token = params.get('access_token') ?? params.get('accessToken');
    if (token !== null) {
      if (token === '') throw new AblyError(401, 40140, 'Token not recognised: empty access_token');
      return this.emu.verifyToken(token);
    }
    if (params.has('key')) throw new AblyError(401, 40103, 'Cannot use Basic authentication over a non-TLS connection');
    throw new AblyError(401, 40101, 'No authentication information provided (access_token)');
  }

  connect(conn) {
    const { params } = conn;
    const format = params.get('format');
    if (format !== null && format !== 'json')
      throw new AblyError(400, 40000, 'Unsupported format: the emulator speaks JSON only (useBinaryProtocol: false)');
    const auth = this.credentials(params);
    const wanted = params.get('clientId');
    if (wanted !== null) {
      if (wanted === '' || wanted === '*') throw new AblyError(400, 40012, 'Invalid clientId');
      if (auth.clientId !== '*' && auth.clientId !== wanted)
        throw new AblyError(401, 40102, `Incompatible clientId: the connection asks for "${wanted}", the credentials are for ${auth.clientId === null ? 'no clientId' : `"${auth.clientId}"`}`);
    }
    conn.auth = auth;
    conn.clientId = wanted ?? auth.clientId;

    // resume / recover: keep the connectionId of a connection we know.
    this.sweepResumable();
    const oldKey = params.get('resume') ?? params.get('recover');
    let error;
    const entry = oldKey ? this.resumable.get(oldKey) : null;
    let missed = [];
    if (entry) {
      this.resumable.delete(oldKey);
      if (entry.conn && !entry.conn.closed) {
        // The client gave up on its old socket before we noticed; that one is superseded.
        conn.channels = new Map(entry.conn.channels);
        entry.conn.close(1000);
      } else {
        conn.channels = new Map(entry.channels || []);
        missed = entry.pending || [];
      }
      conn.id = entry.id;
      this.stats.resumed++;
    } else {
      conn.id = randomId(8);
      if (oldKey) error = errorBody(80008, 400, 'Unable to resume connection: unknown or expired connection key');
    }
    conn.key = `${randomId(6)}!${conn.id}-${randomId(6)}`;
    this.resumable.set(conn.key, { id: conn.id, until: Infinity, conn });
    this.stats.connected++;
    const msg = { action: ACTION.CONNECTED, connectionId: conn.id, connectionDetails: this.details(conn) };
    if (error) msg.error = error;
    conn.send(msg);
    for (const text of missed) {
      this.stats.messagesOut++;
      conn.ws.send(text);
    }
    this.log(`connected ${conn.id}${entry ? ` (resumed, ${missed.length} missed messages)` : ''} ${auth.kind} clientId=${conn.clientId ?? '-'}`);
    this.scheduleAuth(conn);
    this.scheduleHeartbeat(conn);
  }

  details(conn) {
    const d = {
      connectionKey: conn.key,
      maxMessageSize: MAX_MESSAGE_SIZE,
      maxInboundRate: 250,
      maxOutboundRate: 100,
      maxFrameSize: MAX_FRAME,
      serverId: 'ably-emulator',
      connectionStateTtl: CONNECTION_STATE_TTL,
      maxIdleInterval: MAX_IDLE_INTERVAL,
    };
    // A wildcard token without a clientId param gives the connection no identity of its own.
    if (conn.clientId && conn.clientId !== '*') d.clientId = conn.clientId;
    return d;
  }

  sweepResumable() {
    const now = Date.now();
    for (const [k, e] of this.resumable) if (!e.conn && e.until < now) this.resumable.delete(k);
  }

  /* Ask for a new credential before this one expires (AUTH); drop the connection with 40142
   * when it expires without one, as Ably does. ably-js then renews and resumes. */
  scheduleAuth(conn) {
    conn.cancel(conn.authTimer);
    conn.cancel(conn.expiryTimer);
    const { issued, expires } = conn.auth;
    if (!Number.isFinite(expires)) return;
    const remaining = expires - this.emu.now();
    const lifetime = Number.isFinite(issued) ? expires - issued : remaining;
    // Once per credential: a client that answers AUTH with the same credential is not asked
    // again in a loop; it is dropped when that credential expires.
    if (conn.authAskedFor !== expires) {
      conn.authTimer = conn.later(remaining - reauthLead(lifetime), () => {
        conn.authAskedFor = expires;
        this.requestAuth(conn);
      });
    }
    conn.expiryTimer = conn.later(remaining, () => {
      this.stats.expired++;
      this.log(`expired ${conn.id}`);
      conn.fatal(new AblyError(401, 40142, 'Token expired'), ACTION.DISCONNECTED);
    });
  }

  /* Drop the connection with DISCONNECTED 40141 if its credential is revoked now (ably-js
   * treats it as a token error: it renews through authUrl/authCallback if it can). */
  dropIfRevoked(conn) {
    if (!conn.auth || !this.emu.isRevoked(conn.auth)) return false;
    this.stats.revoked++;
    this.log(`revoked ${conn.id}`);
    conn.fatal(new AblyError(401, 40141, 'Token revoked'), ACTION.DISCONNECTED);
    return true;
  }

  /* Enforce the revocations now due on every open connection. */
  enforceRevocations() {
    for (const conn of [...this.open]) if (!conn.closed && conn.id) this.dropIfRevoked(conn);
  }

  /* allowReauthMargin: the connections revocation r will cover get AUTH now, a hint to renew
   * before it is enforced. */
  hintRevoked(keyName, r) {
    for (const conn of [...this.open]) {
      if (!conn.closed && conn.id && conn.auth && conn.auth.keyName === keyName && revocationMatches(r, conn.auth))
        this.requestAuth(conn);
    }
  }

  requestAuth(conn) {
    this.stats.authRequested++;
    conn.send({ action: ACTION.AUTH });
  }

  scheduleHeartbeat(conn) {
    const tick = () => {
      if (Date.now() - conn.lastSent >= MAX_IDLE_INTERVAL - 1000) conn.send({ action: ACTION.HEARTBEAT });
      conn.later(MAX_IDLE_INTERVAL / 3, tick);
    };
    conn.later(MAX_IDLE_INTERVAL / 3, tick);
  }

  onData(conn, data, isBinary) {
    if (conn.closed || !conn.id) return;
    // A credential revoked since the last check: nothing more on it.
    if (this.dropIfRevoked(conn)) return;
    let msg;
    try {
      if (isBinary) throw new Error('binary');
      msg = JSON.parse(data.toString('utf8'));
      if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || !Number.isInteger(msg.action)) throw new Error('shape');
    } catch {
      return conn.fatal(new AblyError(400, 40000, 'Invalid protocol message: expected a JSON object with an action'));
    }
    try {
      switch (msg.action) {
        case ACTION.HEARTBEAT:
          return conn.send(msg.id === undefined ? { action: ACTION.HEARTBEAT } : { action: ACTION.HEARTBEAT, id: msg.id });
        case ACTION.CLOSE:
          conn.send({ action: ACTION.CLOSED });
          return conn.close(1000);
        case ACTION.DISCONNECT:
          return conn.close(1000);
        case ACTION.AUTH:
          return this.onAuth(conn, msg);
        case ACTION.ATTACH:
          return this.onAttach(conn, msg);
        case ACTION.DETACH:
          conn.channels.delete(msg.channel);
          return conn.send({ action: ACTION.DETACHED, channel: msg.channel });
        case ACTION.MESSAGE:
          return this.onMessage(conn, msg);
        case ACTION.PRESENCE:
          return this.nack(conn, msg, new AblyError(400, 40000, 'Presence is not emulated'));
        default:
          return undefined; // Ably ignores what it does not know
      }
    } catch (err) {
      if (!(err instanceof AblyError)) throw err;
      return conn.fatal(err);
    }
  }

  /* AUTH from the client: a renewed credential for the open connection. */
  onAuth(conn, msg) {
    const token = msg.auth && (msg.auth.accessToken ?? msg.auth.access_token);
    let auth;
    try {
      if (typeof token !== 'string' || token === '') throw new AblyError(401, 40140, 'AUTH without an accessToken');
      auth = this.emu.verifyToken(token);
      if (auth.clientId !== '*' && auth.clientId !== conn.clientId)
        throw new AblyError(401, 40102, `Incompatible clientId: the new credentials are for ${auth.clientId === null ? 'no clientId' : `"${auth.clientId}"`}, the connection is ${conn.clientId === null ? 'anonymous' : `"${conn.clientId}"`}`);
    } catch (err) {
      if (!(err instanceof AblyError)) throw err;
      this.stats.reauthFailed++;
      this.log(`reauth refused ${conn.id} ${err.code}`);
      return conn.fatal(err);
    }
    conn.auth = auth;
    this.stats.reauthorized++;
    this.log(`reauthorized ${conn.id} ${auth.kind}`);
    // Channels the new capability no longer covers are failed, as Ably does.
    for (const name of [...conn.channels.keys()]) {
      if (grantedModes(auth.capability, name) === 0) {
        conn.channels.delete(name);
        this.countError(40160);
        conn.send({ action: ACTION.ERROR, channel: name, error: errorBody(40160, 401, `Channel denied access based on given capability (${name})`) });
      }
    }
    conn.send({ action: ACTION.CONNECTED, connectionId: conn.id, connectionDetails: this.details(conn) });
    this.scheduleAuth(conn);
  }

  onAttach(conn, msg) {
    const name = msg.channel;
    if (typeof name !== 'string' || name === '' || name.length > 2048) {
      this.countError(40010);
      return conn.send({ action: ACTION.ERROR, channel: String(name ?? ''), error: errorBody(40010, 400, 'Invalid channel name') });
    }
    const allowed = grantedModes(conn.auth.capability, name);
    if (allowed === 0) {
      this.countError(40160);
      return conn.send({ action: ACTION.ERROR, channel: name, error: errorBody(40160, 401, `Channel denied access based on given capability (${name})`) });
    }
    const asked = Number.isInteger(msg.flags) ? msg.flags & MODES : 0;
    const modes = allowed === ATTACH_ONLY ? 0 : asked ? asked & allowed : allowed;
    const resumed = conn.channels.has(name) ? FLAG.RESUMED : 0;
    conn.channels.set(name, modes);
    this.stats.attached++;
    const reply = { action: ACTION.ATTACHED, channel: name, flags: modes | resumed };
    const serial = this.channelSerials.get(name);
    if (serial !== undefined) reply.channelSerial = `emu:${serial}`;
    conn.send(reply);
  }

  nack(conn, msg, err) {
    this.stats.nacks++;
    this.countError(err.code);
    conn.send({ action: ACTION.NACK, msgSerial: msg.msgSerial, count: 1, error: errorBody(err.code, err.statusCode, err.message) });
  }

  onMessage(conn, msg) {
    const name = msg.channel;
    const list = msg.messages;
    if (typeof name !== 'string' || name === '') return this.nack(conn, msg, new AblyError(400, 40010, 'Invalid channel name'));
    if (!Array.isArray(list) || list.length === 0) return this.nack(conn, msg, new AblyError(400, 40000, 'MESSAGE without messages'));
    if (!capabilityAllows(conn.auth.capability, name, 'publish'))
      return this.nack(conn, msg, new AblyError(401, 40160, `Action not permitted: no "publish" capability for channel "${name}"`));
    let size = 0;
    for (const m of list) {
      if (m === null || typeof m !== 'object' || Array.isArray(m)) return this.nack(conn, msg, new AblyError(400, 40000, 'Each message must be a JSON object'));
      if (m.clientId !== undefined && m.clientId !== null) {
        if (typeof m.clientId !== 'string' || m.clientId === '' || m.clientId === '*')
          return this.nack(conn, msg, new AblyError(400, 40012, 'Invalid message clientId'));
        if (conn.auth.clientId !== '*' && m.clientId !== conn.clientId)
          return this.nack(conn, msg, new AblyError(400, 40012, `Mismatched clientId: message has "${m.clientId}", the connection is ${conn.clientId === null ? 'anonymous' : `"${conn.clientId}"`}`));
      }
      size += Buffer.byteLength(JSON.stringify([m.name ?? '', m.data ?? '', m.clientId ?? '', m.extras ?? '']));
    }
    if (size > MAX_MESSAGE_SIZE)
      return this.nack(conn, msg, new AblyError(400, 40009, `Maximum message size exceeded (${size} > ${MAX_MESSAGE_SIZE} bytes)`));
    const now = this.emu.now();
    const base = `${conn.id}:${msg.msgSerial}`;
    const stored = list.map((m, i) => {
      const out = { ...m, id: m.id ?? `${base}:${i}`, timestamp: m.timestamp ?? now, connectionId: conn.id };
      const implicit = conn.clientId && conn.clientId !== '*' ? conn.clientId : undefined;
      out.clientId = m.clientId ?? implicit;
      if (out.clientId === undefined || out.clientId === null) delete out.clientId;
      return out;
    });
    this.stats.messagesIn++;
    this.emu.storeMessages(name, stored);
    conn.send({ action: ACTION.ACK, msgSerial: msg.msgSerial, count: 1, res: [{ serials: stored.map((m) => m.id) }] });
    this.broadcast(name, stored, conn);
  }

  /* Deliver stored messages to every connection attached to the channel with the subscribe
   * mode (not back to the publisher if it asked for echo=false). */
  broadcast(channel, messages, from = null) {
    if (messages.length === 0) return;
    const serial = (this.channelSerials.get(channel) ?? 0) + 1;
    this.channelSerials.set(channel, serial);
    const first = messages[0];
    const msg = {
      action: ACTION.MESSAGE,
      channel,
      channelSerial: `emu:${serial}`,
      id: String(first.id).replace(/:0$/, ''),
      timestamp: first.timestamp,
      messages,
    };
    if (first.connectionId) msg.connectionId = first.connectionId;
    const text = JSON.stringify(msg);
    for (const conn of this.open) {
      if (conn.closed || !conn.id) continue;
      const modes = conn.channels.get(channel);
      if (modes === undefined || !(modes & FLAG.SUBSCRIBE)) continue;
      if (conn === from && !conn.echo) continue;
      this.stats.messagesOut++;
      conn.lastSent = Date.now();
      conn.ws.send(text);
    }
    // Connections whose socket dropped keep what they miss until they resume (or expire).
    for (const entry of this.resumable.values()) {
      if (entry.conn || !entry.channels || entry.pending.length >= MAX_MISSED) continue;
      const modes = entry.channels.get(channel);
      if (modes !== undefined && modes & FLAG.SUBSCRIBE) entry.pending.push(text);
    }
  }

  /* Control endpoint: {"action":"requestAuth"} sends AUTH to every open connection,
   * {"action":"disconnect"} drops them all (without CLOSED, as a network failure would). */
  control(body) {
    const action = body && body.action;
    const conns = [...this.open].filter((c) => !c.closed && c.id);
    if (action === 'requestAuth') for (const c of conns) this.requestAuth(c);
    else if (action === 'disconnect') for (const c of conns) c.ws.terminate();
    else throw new AblyError(400, 40000, 'realtime: expected {"action": "requestAuth" | "disconnect"}');
    return { action, connections: conns.length };
  }

  close() {
    for (const conn of this.open) {
      conn.closed = true;
      for (const t of conn.timers) clearTimeout(t);
      conn.ws.terminate();
    }
    this.open.clear();
    this.wss.close();
  }
}
