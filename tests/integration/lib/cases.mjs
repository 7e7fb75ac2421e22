// Reader for tests/integration/cases.txt, the bad-input table (after jq's
// jq.test and kcgi's regress loop: data in one file, one driver).
//
// One case per line, fields separated by blanks (spaces or tabs); a field
// never holds a literal blank, so bytes are written with escapes:
//
//   name  method  target  content-type  body  status  expect  [option ...]
//
//   name          unique, for the test title
//   method        sent as is (HEAD, FOO, get ...)
//   target        path and query, e.g. /request-token?ttl=abc
//   content-type  the Content-Type header / CONTENT_TYPE, or - for none
//   body          the request body, or - for none
//   status        200, 400, 4xx (any 4xx); closed = nginx hangs up without an
//                 answer (a client that stopped sending mid-body: nobody to answer)
//   expect        ok            a valid credential (assertTokenRequest)
//                 40003         the Ably error code (40000|40003 for either)
//                 *             any Ably-shaped error
//                 /regex/       the body matches (plus an Ably-shaped error)
//                 -             the status only (nginx's own pages, a 204 preflight)
//
// Escapes (in every field but name/method/status/expect):
//   \s space  \t tab  \n LF  \r CR  \0 NUL  \xHH any byte  \\ backslash
//   \- a literal "-" where "-" alone would mean "none"
//   \{N:TEXT} TEXT (itself with escapes; write } as \}) repeated N times
//
// Options:
//   via=nginx|cgi       only through nginx / only in CGI mode (default: both)
//   cl=N|none           Content-Length (CONTENT_LENGTH) instead of the body's length
//   hdr=Name:value      a request header (CGI: HTTP_NAME); may repeat
//   env=NAME=value      CGI only: set a variable (the value may be empty)
//   unset=NAME          CGI only: leave a variable out (REQUEST_METHOD, ...)
//   halfclose           nginx only: stop sending after the request (a client gone quiet)
//   shape=nginx         nginx answers itself (its own page): check the status only
//   conf=big            CGI only: the config with max_body = 1 MiB (parser limits, not the cap)
//   todo=WORD           a known deviation, reported to the C owners: the case runs and
//                       prints its result, but a failure is not counted (node's todo)
//
// Every case, whatever it expects, is also checked for: no 5xx, no header
// carrying the marker INJ (header injection), no secret, and the process
// (or worker) still serving afterwards.

import fs from 'node:fs';

const SIMPLE = { s: ' ', t: '\t', n: '\n', r: '\r', 0: '\0', '\\': '\\', '-': '-', '}': '}' };

/** Decode a field's escapes into bytes. "-" alone is null (absent). */
export function unescapeField(field) {
  if (field === '-') return null;
  return decode(field, 0, false).buf;
}

function decode(s, i, inRepeat) {
  const out = [];
  while (i < s.length) {
    const c = s[i];
    if (inRepeat && c === '}') return { buf: Buffer.concat(out), next: i + 1 };
    if (c !== '\\') {
      // Copy a run of plain characters as UTF-8.
      let j = i;
      while (j < s.length && s[j] !== '\\' && !(inRepeat && s[j] === '}')) j++;
      out.push(Buffer.from(s.slice(i, j), 'utf8'));
      i = j;
      continue;
    }
    const e = s[i + 1];
    if (e === undefined) throw new Error(`dangling backslash in ${s}`);
    if (e in SIMPLE) {
      out.push(Buffer.from(SIMPLE[e], 'latin1'));
      i += 2;
    } else if (e === 'x') {
      const hex = s.slice(i + 2, i + 4);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error(`bad \\x escape in ${s}`);
      out.push(Buffer.from([parseInt(hex, 16)]));
      i += 4;
    } else if (e === '{') {
      const m = /^(\d+):/.exec(s.slice(i + 2));
      if (!m) throw new Error(`bad \\{N:...} in ${s}`);
      const inner = decode(s, i + 2 + m[0].length, true);
      out.push(Buffer.alloc(inner.buf.length * Number(m[1]), inner.buf));
      i = inner.next;
    } else {
      throw new Error(`unknown escape \\${e} in ${s}`);
    }
  }
  if (inRepeat) throw new Error(`unterminated \\{N:...} in ${s}`);
  return { buf: Buffer.concat(out), next: i };
}

/** Parse the expect field into {ok} | {codes:[...]} | {any} | {regex} | {none}. */
function parseExpect(f) {
  if (f === 'ok') return { ok: true };
  if (f === '*') return { any: true };
  if (f === '-') return { none: true };
  if (/^\/.*\/$/.test(f)) return { regex: new RegExp(f.slice(1, -1)) };
  if (/^\d{5}(\|\d{5})*$/.test(f)) return { codes: f.split('|').map(Number) };
  throw new Error(`bad expect field: ${f}`);
}

/** All cases of a table file, validated. */
export function loadCases(file) {
  const text = fs.readFileSync(file, 'utf8');
  const cases = [];
  const names = new Set();
  text.split('\n').forEach((line, idx) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    const where = `${file}:${idx + 1}`;
    const f = t.split(/[ \t]+/);
    if (f.length < 7) throw new Error(`${where}: expected at least 7 fields, got ${f.length}`);
    const [name, method, target, ctype, body, status, expect, ...opts] = f;
    if (names.has(name)) throw new Error(`${where}: duplicate case name ${name}`);
    names.add(name);
    if (!/^(\d{3}|[1-5]xx|closed)$/.test(status)) throw new Error(`${where}: bad status ${status}`);
    const c = {
      name, where, method,
      target: unescapeField(target) || Buffer.from('/'),
      contentType: unescapeField(ctype),
      body: unescapeField(body),
      status,
      expect: parseExpect(expect),
      via: 'both', contentLength: undefined, headers: [], env: {}, halfClose: false,
      nginxShape: false, conf: 'default', todo: null,
    };
    for (const o of opts) {
      const eq = o.indexOf('=');
      const k = eq < 0 ? o : o.slice(0, eq);
      const v = eq < 0 ? '' : o.slice(eq + 1);
      if (k === 'via' && ['nginx', 'cgi', 'both'].includes(v)) c.via = v;
      else if (k === 'cl') c.contentLength = v === 'none' ? null : unescapeField(v).toString('latin1');
      else if (k === 'hdr') {
        const hv = unescapeField(v);
        const colon = hv.indexOf(0x3a);
        if (colon <= 0) throw new Error(`${where}: hdr=Name:value expected`);
        c.headers.push([hv.subarray(0, colon).toString('latin1'), hv.subarray(colon + 1)]);
      } else if (k === 'env') {
        const ev = unescapeField(v);
        const e2 = ev.indexOf(0x3d);
        if (e2 <= 0) throw new Error(`${where}: env=NAME=value expected`);
        c.env[ev.subarray(0, e2).toString('latin1')] = ev.subarray(e2 + 1);
      } else if (k === 'unset' && /^[A-Z_]+$/.test(v)) c.env[v] = null;
      else if (k === 'halfclose') c.halfClose = true;
      else if (k === 'shape' && v === 'nginx') c.nginxShape = true;
      else if (k === 'conf' && v === 'big') c.conf = 'big';
      else if (k === 'todo' && v) c.todo = v;
      else throw new Error(`${where}: unknown option ${o}`);
    }
    if (status === 'closed' && (c.via !== 'nginx' || !c.halfClose)) throw new Error(`${where}: closed needs via=nginx halfclose`);
    if (c.nginxShape && c.via === 'cgi') throw new Error(`${where}: shape=nginx with via=cgi`);
    cases.push(c);
  });
  return cases;
}

/** Does the status field accept this status? */
export function statusMatches(field, status) {
  if (field === 'closed') return status === 0;
  if (/^\dxx$/.test(field)) return Math.floor(status / 100) === Number(field[0]);
  return Number(field) === status;
}
