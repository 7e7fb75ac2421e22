// The documentation stays true to the tree: the README's Code map names every
// fcgi/*.c (and every header-only module) and nothing that does not exist;
// every relative link in README.md and doc/*.md points at a file that exists,
// and every #anchor at a heading of that file; every doc page is listed in the
// README's "Documentation" section, starts with a summary and links back.
// Reads files only: no binary, no server.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (rel) => fs.readFileSync(path.join(root, rel), 'utf8');

const MAP_BEGIN = '<!-- code-map -->';
const MAP_END = '<!-- /code-map -->';

/** The doc pages: doc/*.md, as paths relative to the repository. */
function docPages() {
  return fs.readdirSync(path.join(root, 'doc')).filter((f) => f.endsWith('.md')).sort()
    .map((f) => `doc/${f}`);
}

/** The files the Code map names: the first `fcgi/NAME` of each line between the markers. */
function codeMap() {
  const text = read('README.md');
  const a = text.indexOf(MAP_BEGIN);
  const b = text.indexOf(MAP_END);
  assert.ok(a >= 0 && b > a, `README.md: no Code map between ${MAP_BEGIN} and ${MAP_END}`);
  const names = [];
  for (const line of text.slice(a + MAP_BEGIN.length, b).split('\n')) {
    // "- `fcgi/x.c`: ...", "1. `fcgi/x.c` ...", "| `fcgi/x.c` | ... |" or "`fcgi/x.c` ..."
    const m = /^\s*(?:[-*+]|\d+[.)]|\|)?\s*`fcgi\/([^`\s]+)`/.exec(line);
    if (m) names.push(m[1]);
  }
  return names;
}

/** The modules in fcgi/: every .c, and every .h without a .c (header-only). */
function modules() {
  const files = fs.readdirSync(path.join(root, 'fcgi'));
  const c = files.filter((f) => f.endsWith('.c'));
  const headerOnly = files.filter((f) => f.endsWith('.h') && !files.includes(f.replace(/\.h$/, '.c')));
  return { c, headerOnly };
}

test('the Code map lists every fcgi/*.c and header-only module once', () => {
  const names = codeMap();
  const { c, headerOnly } = modules();
  const seen = new Set();
  const twice = names.filter((n) => (seen.has(n) ? true : (seen.add(n), false)));
  assert.deepEqual(twice, [], `README.md Code map names a file more than once: ${twice.join(', ')}`);
  const missing = [...c, ...headerOnly].filter((f) => !seen.has(f)).map((f) => `fcgi/${f}`);
  assert.deepEqual(missing, [], `README.md Code map misses: ${missing.join(', ')} (add one line each)`);
});

test('the Code map names no file that does not exist', () => {
  const absent = codeMap().filter((n) => !fs.existsSync(path.join(root, 'fcgi', n)))
    .map((n) => `fcgi/${n}`);
  assert.deepEqual(absent, [], `README.md Code map names files that do not exist: ${absent.join(', ')}`);
});

/** Markdown text without fenced code blocks and inline code spans (kept as blanks). */
function prose(text) {
  const out = [];
  let fence = null;
  for (const line of text.split('\n')) {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (m && m[1][0] === fence[0] && m[1].length >= fence.length) fence = null;
      out.push('');
      continue;
    }
    if (m) { fence = m[1]; out.push(''); continue; }
    out.push(line.replace(/(`+)[\s\S]*?\1/g, ''));
  }
  return out.join('\n');
}

/** GitHub's anchor for a heading's text. */
function slug(heading) {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // a link: its text
    .replace(/<[^>]+>/g, '')
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a Markdown file defines: heading slugs (repeats get -1, -2, ...) and id/name attributes. */
function anchors(text) {
  const found = new Set();
  const count = new Map();
  let fence = null;
  for (const line of text.split('\n')) {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (m && m[1][0] === fence[0] && m[1].length >= fence.length) fence = null;
      continue;
    }
    if (m) { fence = m[1]; continue; }
    const h = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const s = slug(h[1]);
      const n = count.get(s) || 0;
      count.set(s, n + 1);
      found.add(n ? `${s}-${n}` : s);
    }
    for (const a of line.matchAll(/<a\s[^>]*(?:id|name)="([^"]+)"/g)) found.add(a[1]);
  }
  return found;
}

/** The relative links of a Markdown file: [{ target, line }]. */
function links(text) {
  const out = [];
  prose(text).split('\n').forEach((l, i) => {
    for (const m of l.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue;
      out.push({ target, line: i + 1 });
    }
  });
  return out;
}

test('every relative link in README.md and doc/*.md points at an existing file and heading', () => {
  const problems = [];
  let checked = 0;
  for (const file of ['README.md', ...docPages()]) {
    const text = read(file);
    for (const { target, line } of links(text)) {
      checked++;
      const [p, hash] = target.split('#', 2);
      const dest = p ? path.normalize(path.join(path.dirname(file), decodeURI(p))) : file;
      const where = `${file}:${line}: ${target}`;
      if (dest.startsWith('..') || path.isAbsolute(dest)) { problems.push(`${where} leaves the repository`); continue; }
      if (!fs.existsSync(path.join(root, dest))) { problems.push(`${where}: no file ${dest}`); continue; }
      if (hash !== undefined && dest.endsWith('.md')) {
        if (!anchors(read(dest)).has(decodeURIComponent(hash))) problems.push(`${where}: no heading #${hash} in ${dest}`);
      }
    }
  }
  assert.ok(checked > 0, 'no relative link found at all');
  assert.deepEqual(problems, [], `broken links:\n${problems.join('\n')}`);
});

test('every doc page is listed in the README\'s Documentation section', () => {
  const text = read('README.md');
  const at = text.search(/^## Documentation\s*$/m);
  assert.ok(at >= 0, 'README.md has no "## Documentation" section');
  const next = text.slice(at + 1).search(/^## /m);
  const section = next < 0 ? text.slice(at) : text.slice(at, at + 1 + next);
  const listed = new Set(links(section).map(({ target }) => target.split('#')[0]));
  const missing = docPages().filter((p) => !listed.has(p));
  assert.deepEqual(missing, [], `not in README.md "Documentation": ${missing.join(', ')}`);
});

test('every doc page starts with a title and a summary, and links back to README.md', () => {
  for (const file of docPages()) {
    const blocks = read(file).split(/\n\s*\n/).map((b) => b.trim()).filter(Boolean);
    assert.match(blocks[0] || '', /^# \S/, `${file}: does not start with a "# " title`);
    assert.ok(blocks[1] && !/^(#|```|[-*+] |\d+\. |\||<)/.test(blocks[1]),
      `${file}: the title is not followed by a summary paragraph`);
    assert.ok(links(read(file)).some(({ target }) => target.split('#')[0] === '../README.md'),
      `${file}: no link back to ../README.md`);
  }
});

test('every setting of the table is documented in conf/ably-token.conf and doc/configuration.md (the policy ones in doc/security.md)', () => {
  const table = read('fcgi/setting.c');
  const names = [...table.matchAll(/\[SET_[A-Z_]+\]\s*=\s*\{\s*SET_[A-Z_]+,\s*"([^"]+)"/g)].map((m) => m[1]);
  const ids = (read('fcgi/setting.h').match(/\bSET_[A-Z_]+\b/g) || [])
    .filter((id) => id !== 'SET__MAX' && !id.startsWith('SETTING_'));
  assert.equal(names.length, new Set(ids).size, `setting.c names ${names.length} settings, setting.h has ${new Set(ids).size} ids`);
  const conf = read('conf/ably-token.conf');
  const doc = read('doc/configuration.md') + read('doc/security.md');
  for (const name of names) {
    // A prefix (group., rule.) is documented by an example under it.
    const inConf = name.endsWith('.')
      ? conf.includes(`#${name}`) || conf.includes(`\n${name}`)
      : new RegExp(`^#?${name.replace('.', '\\.')} =`, 'm').test(conf);
    assert.ok(inConf, `conf/ably-token.conf does not document ${name}`);
    assert.ok(doc.includes(`\`${name}`), `neither doc/configuration.md nor doc/security.md names \`${name}\``);
  }
});
