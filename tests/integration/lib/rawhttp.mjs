// HTTP/1.1 over a bare TCP socket, for requests node's http client refuses to
// send: raw bytes in the request line, a Content-Length that lies, a body cut
// short, conflicting framing headers, lower-case methods.
//
//   const res = await rawRequest(port, buildRequest({ method: 'POST', target: '/request-token',
//     headers: [['Content-Type', 'application/json']], body: '{"ttl":1', contentLength: 100 }),
//     { halfClose: true });
//
// The answer has the shape stack.request() returns ({status, headers,
// rawHeaders, raw, body, head}), so lib/checks.mjs works on it. A connection
// closed without an answer resolves with status 0 (never rejects on that):
// the caller decides whether silence is acceptable.

import net from 'node:net';

/**
 * Request bytes. headers: [[name, value], ...] (value string or Buffer, sent
 * as is); contentLength: number/string to send as Content-Length, null for
 * none, undefined = the body's length when there is a body. `Connection:
 * close` is added unless a Connection header is given, so the answer ends
 * with the connection.
 */
export function buildRequest({ method = 'GET', target = '/', headers = [], body = null,
  contentLength = undefined, host = '127.0.0.1' } = {}) {
  const b = body === null || body === undefined ? null : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const parts = [Buffer.from(`${method} `, 'latin1'), Buffer.isBuffer(target) ? target : Buffer.from(target, 'utf8'),
    Buffer.from(` HTTP/1.1\r\nHost: ${host}\r\n`, 'latin1')];
  const names = headers.map(([n]) => n.toLowerCase());
  for (const [n, v] of headers) {
    parts.push(Buffer.from(`${n}: `, 'latin1'), Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8'), Buffer.from('\r\n'));
  }
  const cl = contentLength === undefined ? (b && !names.includes('transfer-encoding') ? b.length : null) : contentLength;
  if (cl !== null) parts.push(Buffer.from(`Content-Length: ${cl}\r\n`, 'latin1'));
  if (!names.includes('connection')) parts.push(Buffer.from('Connection: close\r\n'));
  parts.push(Buffer.from('\r\n'));
  if (b) parts.push(b);
  return Buffer.concat(parts);
}

/** Parse one HTTP/1.x answer from bytes (the whole connection's output). */
export function parseResponse(buf, { method = 'GET' } = {}) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) return null;
  const headers = {};
  const rawHeaders = [];
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i);
    const value = line.slice(i + 1).trim();
    rawHeaders.push(name, value);
    const k = name.toLowerCase();
    headers[k] = k in headers ? `${headers[k]}, ${value}` : value;
  }
  const status = Number(m[1]);
  let raw = buf.subarray(end + 4);
  if (method === 'HEAD' || status === 204 || status === 304) {
    raw = Buffer.alloc(0);
  } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    raw = dechunk(raw);
  } else if (headers['content-length'] !== undefined) {
    raw = raw.subarray(0, Number(headers['content-length']));
  }
  return { status, headers, rawHeaders, raw, body: raw.toString('utf8'), head };
}

function dechunk(b) {
  const out = [];
  let i = 0;
  for (;;) {
    const nl = b.indexOf('\r\n', i);
    if (nl < 0) break;
    const size = parseInt(b.subarray(i, nl).toString('latin1'), 16);
    if (!(size > 0)) break;
    out.push(b.subarray(nl + 2, nl + 2 + size));
    i = nl + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/**
 * Send bytes to 127.0.0.1:port and read until the peer closes (or timeoutMs).
 * opts.halfClose: shut down our writing side after sending (a client that
 * stops sending, e.g. mid-body). Resolves with the parsed answer plus
 * {closedWithoutAnswer, timedOut}; status 0 if nothing parseable came back.
 */
export function rawRequest(port, bytes, { halfClose = false, timeoutMs = 10000, method, label = '' } = {}) {
  return new Promise((resolve) => {
    const chunks = [];
    let timedOut = false;
    const s = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => { timedOut = true; s.destroy(); }, timeoutMs);
    s.on('connect', () => {
      s.write(bytes);
      if (halfClose) s.end();
    });
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => { /* reset by the peer: whatever came is the answer */ });
    s.on('close', () => {
      clearTimeout(timer);
      const buf = Buffer.concat(chunks);
      const m = method || bytes.subarray(0, bytes.indexOf(0x20)).toString('latin1');
      const res = parseResponse(buf, { method: m }) ||
        { status: 0, headers: {}, rawHeaders: [], raw: buf, body: buf.toString('utf8'), head: '' };
      resolve({ ...res, method: m, path: label, label, timedOut, closedWithoutAnswer: buf.length === 0 });
    });
  });
}
