// A FastCGI client small enough to read: one request per connection, the
// way a web server without kept connections talks to the binary. For tests
// that need no web server in between (a TCP listener, who may connect).
//
//   const r = await fcgiRequest({ host: '127.0.0.1', port }, { REQUEST_METHOD: 'GET', ... });
//   r.closed     true when the connection ended before any answer
//   r.stdout     the CGI answer (Status and headers, blank line, body)
//   r.status     the Status header's number, or 200 without one

import net from 'node:net';

const VERSION = 1;
const BEGIN_REQUEST = 1;
const END_REQUEST = 3;
const PARAMS = 4;
const STDIN = 5;
const STDOUT = 6;
const RESPONDER = 1;

function record(type, content) {
  const header = Buffer.alloc(8);
  header.writeUInt8(VERSION, 0);
  header.writeUInt8(type, 1);
  header.writeUInt16BE(1, 2);  // request id
  header.writeUInt16BE(content.length, 4);
  return Buffer.concat([header, content]);
}

function nameValue(name, value) {
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

/** One request; resolves when the connection ends (or after timeoutMs). */
export function fcgiRequest(where, params, body = '', timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(where);
    const chunks = [];
    let ended = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => {
      const begin = Buffer.alloc(8);
      begin.writeUInt16BE(RESPONDER, 0);
      const p = Buffer.concat(Object.entries(params).map(([k, v]) => nameValue(k, String(v))));
      sock.write(Buffer.concat([
        record(BEGIN_REQUEST, begin), record(PARAMS, p), record(PARAMS, Buffer.alloc(0)),
        ...(body ? [record(STDIN, Buffer.from(body))] : []), record(STDIN, Buffer.alloc(0)),
      ]));
    });
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
