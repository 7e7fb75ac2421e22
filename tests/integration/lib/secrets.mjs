// Looks for the key secret in everything a run produced: answers (body and
// headers), the binary's stderr, nginx's logs, the emulator's output. The
// secret is searched as is and in base64 and base64url (with and without
// padding), since an encoding mistake would print it that way.
//
//   const scan = new SecretScanner(secret);
//   scan.attach('ably-token stderr', proc.child.stderr);   // streamed, nothing kept
//   scan.text('answer 12', body);  scan.file('nginx error.log', path);
//   scan.hits  -> [{source, needle}]   scan.lines / scan.bytes: how much was read

import fs from 'node:fs';

export function secretNeedles(secret) {
  const b = Buffer.from(secret, 'utf8');
  const set = new Set([secret]);
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
    this.maxLen = Math.max(...this.needles.map((n) => n.length));
    this.hits = [];
    this.bytes = 0;
    this.lines = 0;
    this.sources = new Set();
  }

  text(source, s) {
    const str = Buffer.isBuffer(s) ? s.toString('latin1') : String(s);
    this.sources.add(source);
    this.bytes += str.length;
    for (let i = str.indexOf('\n'); i >= 0; i = str.indexOf('\n', i + 1)) this.lines++;
    for (const n of this.needles) {
      if (str.includes(n)) this.hits.push({ source, needle: n === this.needles[0] ? 'secret' : 'secret (base64)' });
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
