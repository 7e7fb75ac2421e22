// The binary as a plain CGI program: one process per request, the request in
// the CGI environment (RFC 3875) and the body on stdin, the answer on stdout.
// This is how shared hosting runs it, so bad input must be answered here just
// as it is behind nginx.
//
//   const res = await cgiRequest({ method: 'POST', target: '/request-token?ttl=1',
//     contentType: 'application/json', body: '{}', config: '/path/ably-token.conf' });
//   res.status, res.headers['x-ably-errorcode'], res.body, res.exit.code
//
// The answer has the shape stack.request() returns ({status, headers,
// rawHeaders, raw, body}) plus head (the raw header block), stderr and exit,
// so lib/checks.mjs works on it. stdin is a file, so the body ends exactly
// where the test says (a truncated body is EOF, not a hang).
//
// Environment values are strings or Buffers; a Buffer (raw bytes that are not
// UTF-8, e.g. a query string with 0xff in it) is passed through a small bash
// wrapper, because node can only put UTF-8 strings into an environment.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { binaryPath, TEST_POLICY } from './stack.mjs';

let scratch = null;
let seq = 0;

async function scratchDir() {
  if (!scratch) {
    scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-cgi-'));
    process.on('exit', () => { try { fs.rmSync(scratch, { recursive: true, force: true }); } catch { /* gone */ } });
  }
  return scratch;
}

/** HTTP header name -> CGI meta-variable (Origin -> HTTP_ORIGIN). */
export function cgiHeaderVar(name) {
  return 'HTTP_' + name.toUpperCase().replace(/-/g, '_');
}

/** Split the CGI answer into head and body and read its Status (RFC 3875 6.3). */
export function parseCgiOutput(buf) {
  let end = buf.indexOf('\r\n\r\n');
  let sep = 4;
  const lf = buf.indexOf('\n\n');
  if (end < 0 || (lf >= 0 && lf < end)) { end = lf; sep = 2; }
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const headers = {};
  const rawHeaders = [];
  const badLines = [];
  for (const line of head.split(/\r?\n/)) {
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*)$/.exec(line);
    if (!m) { badLines.push(line); continue; }
    rawHeaders.push(m[1], m[2]);
    const k = m[1].toLowerCase();
    headers[k] = k in headers ? `${headers[k]}, ${m[2]}` : m[2];
  }
  let status = 200;
  if (headers.status !== undefined) {
    const m = /^(\d{3})(\s|$)/.exec(headers.status);
    status = m ? Number(m[1]) : NaN;
  }
  const raw = buf.subarray(end + sep);
  return { status, headers, rawHeaders, raw, body: raw.toString('utf8'), head, badLines };
}

/**
 * Run one CGI request. Options:
 *   method, target ('/request-token?a=b'), contentType, body (string|Buffer),
 *   contentLength (what CONTENT_LENGTH says; default the body's length, null = unset),
 *   headers ({Origin: ...} -> HTTP_ORIGIN), env (extra/overriding variables; a
 *   value of null removes one), config (path for ABLY_TOKEN_CONF), bin, wrapper
 *   (argv prefix, e.g. valgrind), timeoutMs.
 */
export async function cgiRequest({
  method = 'GET', target = '/request-token', contentType = null, body = null, contentLength = undefined,
  headers = {}, env = {}, config = null, bin = binaryPath, wrapper = [], timeoutMs = 15000, label = '',
} = {}) {
  const dir = await scratchDir();
  const b = body === null || body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const t = Buffer.isBuffer(target) ? target : Buffer.from(target, 'utf8');
  const q = t.indexOf(0x3f);
  const scriptName = q < 0 ? t : t.subarray(0, q);
  const query = q < 0 ? Buffer.alloc(0) : t.subarray(q + 1);

  const vars = {
    PATH: process.env.PATH || '/usr/bin:/bin',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_SOFTWARE: 'ably-token-tests',
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    REMOTE_ADDR: '127.0.0.1',
    REQUEST_METHOD: method,
    SCRIPT_NAME: scriptName,
    REQUEST_URI: t,
    QUERY_STRING: query,
  };
  if (contentType !== null) vars.CONTENT_TYPE = contentType;
  const cl = contentLength === undefined ? (b.length ? String(b.length) : null) : contentLength;
  if (cl !== null) vars.CONTENT_LENGTH = String(cl);
  if (config) vars.ABLY_TOKEN_CONF = config;
  for (const [k, v] of Object.entries(headers)) vars[cgiHeaderVar(k)] = v;
  for (const [k, v] of Object.entries(env)) {
    if (v === null) delete vars[k]; else vars[k] = v;
  }
  // Sanitizer settings pass through (make check runs this against the ASan build).
  for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) {
    if (process.env[k] && !(k in vars)) vars[k] = process.env[k];
  }

  const n = ++seq;
  const bodyFile = path.join(dir, `body-${process.pid}-${n}`);
  await fsp.writeFile(bodyFile, b);
  const stdinFd = fs.openSync(bodyFile, 'r');

  // Values that are not valid UTF-8 (or hold a NUL byte, which no
  // environment can carry: refuse those) go through the bash wrapper.
  const needsRaw = Object.values(vars).some((v) => Buffer.isBuffer(v) && !isUtf8(v));
  for (const [k, v] of Object.entries(vars)) {
    if ((Buffer.isBuffer(v) ? v.includes(0) : String(v).includes('\0'))) {
      throw new Error(`cgiRequest: ${k} holds a NUL byte; no environment can carry one`);
    }
  }
  let cmd;
  let args;
  let spawnEnv;
  let envFd = null;
  if (needsRaw) {
    const envFile = path.join(dir, `env-${process.pid}-${n}`);
    const parts = [];
    for (const [k, v] of Object.entries(vars)) parts.push(Buffer.from(`${k}=`), Buffer.isBuffer(v) ? v : Buffer.from(String(v)), Buffer.from([0]));
    await fsp.writeFile(envFile, Buffer.concat(parts));
    envFd = fs.openSync(envFile, 'r');
    cmd = '/bin/bash';
    args = ['-c', 'while IFS= read -r -d "" kv; do export "$kv"; done <&3; exec 3<&-; exec "$@"', 'cgi-env', ...wrapper, bin];
    spawnEnv = {};
  } else {
    const argv = [...wrapper, bin];
    cmd = argv[0];
    args = argv.slice(1);
    spawnEnv = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('utf8') : String(v)]));
  }

  const stdio = [stdinFd, 'pipe', 'pipe'];
  if (envFd !== null) stdio.push(envFd);
  const child = spawn(cmd, args, { env: spawnEnv, stdio });
  fs.closeSync(stdinFd);
  if (envFd !== null) fs.closeSync(envFd);
  const out = [];
  const err = [];
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.on('data', (d) => err.push(d));
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
  const exit = await new Promise((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
    child.on('error', (e) => resolve({ code: null, signal: null, error: e }));
  });
  clearTimeout(timer);
  fsp.rm(bodyFile, { force: true }).catch(() => {});
  const stdout = Buffer.concat(out);
  const parsed = parseCgiOutput(stdout) ||
    { status: 0, headers: {}, rawHeaders: [], raw: stdout, body: stdout.toString('utf8'), head: '', badLines: [] };
  return {
    ...parsed,
    method: typeof method === 'string' ? method : String(method),
    path: label || t.toString('utf8').slice(0, 120),
    label,
    stdout,
    stderr: Buffer.concat(err).toString('utf8'),
    exit: { ...exit, timedOut },
  };
}

function isUtf8(b) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

/** Write a config file for CGI runs (mode 0600) and return its path; the
 *  tests' policy (stack.mjs's TEST_POLICY) unless settings give their own. */
export async function writeCgiConfig(name, settings) {
  const dir = await scratchDir();
  const file = path.join(dir, name);
  const lines = Object.entries({ ...TEST_POLICY, ...settings }).filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k} = ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  await fsp.writeFile(file, lines.join('\n') + '\n', { mode: 0o600 });
  await fsp.chmod(file, 0o600);
  return file;
}
