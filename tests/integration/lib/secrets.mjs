// Looks for the key secret in everything a run produced: answers (body and
// headers), the binary's stderr, nginx's logs, the emulator's output. The
// secret is searched as is, in base64 and base64url (with and without
// padding) and as a JSON string would escape it (log_format = json), since
// an encoding mistake would print it that way. watch() adds other values
// that must not show up (a MAC, a token, the trusted-header secret).
//
//   const scan = new SecretScanner(secret);
//   scan.watch('trusted-header secret', value);  scan.watch('a MAC', mac);
//   scan.attach('ably-token stderr', proc.child.stderr);   // streamed, nothing kept
//   scan.text('answer 12', body);  scan.file('nginx error.log', path);
//   scan.hits  -> [{source, needle}]   scan.lines / scan.bytes: how much was read

import fs from 'node:fs';

export function secretNeedles(secret) {
  const b = Buffer.from(secret, 'utf8');
  const set = new Set([secret, JSON.stringify(secret).slice(1, -1)]);
  for (const enc of ['base64', 'base64url']) {
    const s = b.toString(enc);
    set.add(s);
    set.add(s.replace(/=+$/, ''));
  }
  return [...set].filter((n) => n.length >= 8);
}

export class SecretScanner {
  constructor(secret) {
    this.needles = secretNeedles(secret);
    this.labels = new Map(this.needles.map((n, i) => [n, i === 0 ? 'secret' : 'secret (encoded)']));
    this.maxLen = Math.max(...this.needles.map((n) => n.length));
    this.hits = [];
    this.bytes = 0;
    this.lines = 0;
    this.sources = new Set();
  }

  /** Also look for value (as is and encoded), reported as label. Before attach(). */
  watch(label, value) {
    for (const n of secretNeedles(value)) {
      if (this.labels.has(n)) continue;
      this.needles.push(n);
      this.labels.set(n, n === value ? label : `${label} (encoded)`);
      this.maxLen = Math.max(this.maxLen, n.length);
    }
  }

  text(source, s) {
    const str = Buffer.isBuffer(s) ? s.toString('latin1') : String(s);
    this.sources.add(source);
    this.bytes += str.length;
    for (let i = str.indexOf('\n'); i >= 0; i = str.indexOf('\n', i + 1)) this.lines++;
    for (const n of this.needles) {
      if (str.includes(n)) this.hits.push({ source, needle: this.labels.get(n) });
    }
  }

  /** Scan a stream as it flows, keeping only an overlap between chunks. */
  attach(source, stream) {
    let tail = '';
    stream.on('data', (d) => {
      const s = tail + (Buffer.isBuffer(d) ? d.toString('latin1') : String(d));
      this.text(source, s);
      // Lines and bytes of the overlap were counted already: take them back.
      this.bytes -= tail.length;
      for (let i = tail.indexOf('\n'); i >= 0; i = tail.indexOf('\n', i + 1)) this.lines--;
      tail = s.slice(-(this.maxLen - 1));
    });
  }

  file(source, path) {
    let data;
    try {
      data = fs.readFileSync(path);
    } catch {
      return false;
    }
    this.text(source, data);
    return true;
  }

  /** De-duplicated hits, for a message. */
  summary() {
    const seen = new Map();
    for (const h of this.hits) seen.set(`${h.source}: ${h.needle}`, (seen.get(`${h.source}: ${h.needle}`) || 0) + 1);
    return [...seen].map(([k, n]) => `${k} (${n}x)`);
  }
}
