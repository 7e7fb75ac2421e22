// The executable blocks of a step-by-step guide (doc/deploy-nginx.md): fenced
// blocks whose info string marks them,
//
//   ```sh step=3                 install step 3, on every path
//   ```sh step=6 path=systemd    install step 6, only on the path "systemd"
//   ```sh undo=2                 removal step 2
//
// blocksFor() gives one path's steps or removal steps in order, and throws
// when a number is missing, repeated, or a mark cannot be read, so that a
// guide whose blocks a reader could not follow in order fails the tests.

import fs from 'node:fs';

const FENCE = /^```(\S*)\s*(.*)$/;

/** Every marked block: {kind: 'step'|'undo', n, path (or null), text, line}. */
export function guideBlocks(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]);
    if (!open || open[1] === '') continue;
    const start = i;
    const body = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]);
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: a code block that never ends`);
    const attrs = open[2].trim();
    if (!/\b(step|undo)=/.test(attrs)) continue; // an ordinary example, not a step
    if (open[1] !== 'sh') throw new Error(`${file}:${start + 1}: a step that is not a sh block`);
    const fields = {};
    for (const word of attrs.split(/\s+/)) {
      const m = /^(step|undo|path)=([A-Za-z0-9_-]+)$/.exec(word);
      if (!m || m[1] in fields) throw new Error(`${file}:${start + 1}: cannot read the mark "${attrs}"`);
      fields[m[1]] = m[2];
    }
    const kind = 'step' in fields ? 'step' : 'undo';
    if ('step' in fields && 'undo' in fields) throw new Error(`${file}:${start + 1}: both step= and undo=`);
    if (!/^[1-9]\d*$/.test(fields[kind])) throw new Error(`${file}:${start + 1}: ${kind}=${fields[kind]} is no number`);
    blocks.push({ kind, n: Number(fields[kind]), path: fields.path || null, text: body.join('\n') + '\n',
      line: start + 1 });
  }
  return blocks;
}

/** The paths a guide names (e.g. ['plain', 'systemd']); [null] when none. */
export function guidePaths(blocks) {
  const paths = [...new Set(blocks.map((b) => b.path).filter(Boolean))].sort();
  return paths.length ? paths : [null];
}

/**
 * One path's blocks of one kind, in order: 1, 2, ... with no gap and no
 * number twice; throws otherwise, naming the file.
 */
export function blocksFor(blocks, kind, path, file) {
  const mine = blocks.filter((b) => b.kind === kind && (b.path === null || b.path === path));
  const where = `${file} (${kind}s${path ? `, path ${path}` : ''})`;
  if (mine.length === 0) throw new Error(`${where}: no block marked ${kind}=1`);
  const byNumber = new Map();
  for (const b of mine) {
    if (byNumber.has(b.n)) {
      throw new Error(`${where}: ${kind}=${b.n} twice (lines ${byNumber.get(b.n).line} and ${b.line})`);
    }
    byNumber.set(b.n, b);
  }
  const max = Math.max(...byNumber.keys());
  for (let n = 1; n <= max; n++) {
    if (!byNumber.has(n)) throw new Error(`${where}: ${kind}=${n} is missing (the blocks go up to ${max})`);
  }
  return [...byNumber.values()].sort((a, b) => a.n - b.n);
}
