// FastCGI, small enough to read, for tests that need one side of it alone.
//
// A client: one request per connection, the way a web server without kept
// connections talks to the binary (a TCP listener, who may connect).
//
//   const r = await fcgiRequest({ host: '127.0.0.1', port }, { REQUEST_METHOD: 'GET', ... });
//   r.closed     true when the connection ended before any answer
//   r.stdout     the CGI answer (Status and headers, blank line, body)
//   r.status     the Status header's number, or 200 without one
//
// A scripted upstream: answers the requests a web server sends on a unix
// socket, and may close a connection instead of answering (what nginx
// meets when the binary closes a kept connection just as it reuses it).
//
//   const up = await fakeUpstream(sockPath, (req) => 'answer' or 'close');
//   req: {method, connRequest (1 = the connection's first request)}; up.seen: [req...]

import net from 'node:net';

const VERSION = 1;
const BEGIN_REQUEST = 1;
const END_REQUEST = 3;
const PARAMS = 4;
const STDIN = 5;
const STDOUT = 6;
const RESPONDER = 1;

/** FastCGI records of type for request 1: content split into records of
 *  at most 65535 bytes (one empty record when content is empty). */
export function records(type, content) {
  const out = [];
  let off = 0;
  do {
    const part = content.subarray(off, off + 65535);
    const header = Buffer.alloc(8);
    header.writeUInt8(VERSION, 0);
    header.writeUInt8(type, 1);
    header.writeUInt16BE(1, 2);  // request id
    header.writeUInt16BE(part.length, 4);
    out.push(header, part);
    off += part.length;
  } while (off < content.length);
  return Buffer.concat(out);
}
const record = records;

/** One FastCGI name-value pair. */
export function nameValue(name, value) {
  const len = (n) => {
    if (n < 128) return Buffer.from([n]);
    const b = Buffer.alloc(4);
    b.writeUInt32BE((n | 0x80000000) >>> 0);
    return b;
  };
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  return Buffer.concat([len(n.length), len(v.length), n, v]);
}

/** One request; resolves when the connection ends (or after timeoutMs).
 *  where: net.connect() options, or {socket} a connection already open. */
export function fcgiRequest(where, params, body = '', timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const sock = where.socket || net.connect(where);
    const chunks = [];
    let ended = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    const send = () => {
      const begin = Buffer.alloc(8);
      begin.writeUInt16BE(RESPONDER, 0);
      const p = Buffer.concat(Object.entries(params).map(([k, v]) => nameValue(k, String(v))));
      sock.write(Buffer.concat([
        record(BEGIN_REQUEST, begin), record(PARAMS, p), record(PARAMS, Buffer.alloc(0)),
        ...(body ? [record(STDIN, Buffer.from(body))] : []), record(STDIN, Buffer.alloc(0)),
      ]));
    };
    if (where.socket) send();
    else sock.on('connect', send);
    sock.on('data', (d) => chunks.push(d));
    // A refused connection may be reset instead of closed: both end it.
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      let stdout = Buffer.alloc(0);
      for (let off = 0; off + 8 <= all.length;) {
        const type = all.readUInt8(off + 1);
        const clen = all.readUInt16BE(off + 4);
        const plen = all.readUInt8(off + 6);
        if (type === STDOUT) stdout = Buffer.concat([stdout, all.subarray(off + 8, off + 8 + clen)]);
        if (type === END_REQUEST) ended = true;
        off += 8 + clen + plen;
      }
      const text = stdout.toString('utf8');
      const m = /^Status: (\d+)/m.exec(text);
      resolve({ closed: all.length === 0, ended, stdout: text, status: m ? Number(m[1]) : 200 });
    });
  });
}

/**
 * A FastCGI responder on the unix socket sockPath. decide(req) says, per
 * request, 'answer' (a 200 with a small JSON, the connection kept if the
 * web server asked) or 'close' (the connection closed unanswered).
 * Returns {seen, close()}.
 */
export async function fakeUpstream(sockPath, decide) {
  const seen = [];
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    let connRequest = 0;
    let params = Buffer.alloc(0);
    let keep = false;
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8) {
        const type = buf.readUInt8(1);
        const id = buf.readUInt16BE(2);
        const clen = buf.readUInt16BE(4);
        const plen = buf.readUInt8(6);
        if (buf.length < 8 + clen + plen) return;
        const content = buf.subarray(8, 8 + clen);
        buf = buf.subarray(8 + clen + plen);
        if (type === BEGIN_REQUEST) {
          connRequest++;
          keep = (content.readUInt8(2) & 1) === 1;
          params = Buffer.alloc(0);
        } else if (type === PARAMS && clen > 0) {
          params = Buffer.concat([params, content]);
        } else if (type === STDIN && clen === 0) {
          const req = { method: readParams(params).REQUEST_METHOD, connRequest };
          seen.push(req);
          if (decide(req) === 'close') {
            sock.destroy();
            return;
          }
          const body = Buffer.from('Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{"ok":true}');
          const end = Buffer.alloc(8);  // appStatus 0, FCGI_REQUEST_COMPLETE
          sock.write(Buffer.concat([recordFor(STDOUT, id, body), recordFor(STDOUT, id, Buffer.alloc(0)),
            recordFor(END_REQUEST, id, end)]));
          if (!keep) sock.end();
        }
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, resolve);
  });
  return { seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function recordFor(type, id, content) {
  const r = record(type, content);
  r.writeUInt16BE(id, 2);
  return r;
}

/** FastCGI name-value pairs into an object. */
function readParams(b) {
  const out = {};
  let off = 0;
  const len = () => {
    if (b[off] < 128) return b[off++];
    const n = b.readUInt32BE(off) & 0x7fffffff;
    off += 4;
    return n;
  };
  while (off < b.length) {
    const nl = len();
    const vl = len();
    out[b.toString('latin1', off, off + nl)] = b.toString('latin1', off + nl, off + nl + vl);
    off += nl + vl;
  }
  return out;
}
