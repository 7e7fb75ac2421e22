// Apache httpd for the hosting tests: a private apache2 started from a
// generated httpd.conf (own ServerRoot, PidFile, loopback port, error log) in
// a scratch dir, never the system service, stopped by PID; plus the shipped
// examples rendered into it, and a stack object that the shared checks
// (checks.mjs finalChecks, ablyjs.mjs) accept like a useStack() handle.
//
//   const site = useApache('mod_fcgid', async (h) => ({ modules: [...], body: '...',
//                                                        tokenPath: '/request-token' }));
//   test('...', async () => { const r = await site.get({ ttl: 60000 }); ... });
//   finalChecks(site);
//
// As root Apache runs its children (and so mod_fcgid's processes and CGI
// programs) as www-data: the scratch dir is made traversable and files the
// binary must read are given to that group (see shareWithApache).
// The binary's stderr goes to Apache's error log, so that log is the
// "binary log" the secret and sanitizer checks read.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { before, after } from 'node:test';
import { Proc, freePort, startEmulator, testKey, splitKey, sleep, httpRequest } from './stack.mjs';

export const MODULES_DIR = '/usr/lib/apache2/modules';
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
/** The user Apache's children run as when the tests run as root. */
export const RUN_AS = 'www-data';

const START_TIMEOUT_MS = Number(process.env.IT_START_TIMEOUT_MS || 15000);

export function apacheBinary() {
  for (const p of ['/usr/sbin/apache2', '/usr/local/sbin/apache2', '/usr/sbin/httpd']) {
    if (fs.existsSync(p)) return p;
  }
  return 'apache2';
}

/** uid/gid of RUN_AS when root (null otherwise). */
function runAsIds() {
  if (!isRoot) return null;
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${RUN_AS}:`));
  if (!line) throw new Error(`no user ${RUN_AS} to run Apache's children as`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/**
 * Make `file` readable by Apache's children and nobody else: mode (default
 * 0640 for files, 0750 for directories), group RUN_AS when root. Without root
 * the children run as us and only the mode changes.
 */
export async function shareWithApache(file, mode) {
  const st = await fsp.stat(file);
  const ids = runAsIds();
  if (ids) await fsp.chown(file, 0, ids.gid);
  await fsp.chmod(file, mode ?? (st.isDirectory() ? 0o750 : 0o640));
}

function countMatches(text, re) {
  return (text.match(re) || []).length;
}

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Turn a shipped example (Apache config or .htaccess) into the one a test
 * runs, changing only what the test must, and refusing an example whose lines
 * it no longer finds (so the file cannot drift away from what is tested):
 *   defines     {NAME: value}      the value of the one `Define NAME ...` line
 *   directives  {Name: value}      the value of the one uncommented `Name ...` line
 *   replace     [[from, to], ...]  literal text, which must occur at least once
 */
export function renderExample(text, { defines = {}, directives = {}, replace = [] } = {}, what = 'example') {
  let out = text;
  for (const [name, value] of Object.entries(defines)) {
    const re = new RegExp(`^(\\s*Define\\s+${escapeRe(name)}\\s+)\\S.*$`, 'gm');
    const n = countMatches(out, re);
    if (n !== 1) throw new Error(`${what}: expected one "Define ${name}" line, found ${n}`);
    out = out.replace(re, (_, head) => head + value);
  }
  for (const [name, value] of Object.entries(directives)) {
    const re = new RegExp(`^(\\s*${escapeRe(name)}\\s+)\\S.*$`, 'gm');
    const n = countMatches(out, re);
    if (n !== 1) throw new Error(`${what}: expected one "${name}" line, found ${n}`);
    out = out.replace(re, (_, head) => head + value);
  }
  for (const [from, to] of replace) {
    if (!out.includes(from)) throw new Error(`${what}: "${from}" not found`);
    out = out.split(from).join(to);
  }
  return out;
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** The server-wide part of httpd.conf: what Debian's apache2.conf would give. */
function httpdConf({ dir, port, modules, body }) {
  const lines = [
    '# written by tests/integration/lib/apache.mjs',
    `ServerRoot "${dir}"`,
    'ServerName 127.0.0.1',
    `Listen 127.0.0.1:${port}`,
    `PidFile "${dir}/httpd.pid"`,
    `DefaultRuntimeDir "${dir}/run"`,
    `ErrorLog "${dir}/error.log"`,
    'LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined',
    `CustomLog "${dir}/access.log" combined`,
    // The examples log to ${APACHE_LOG_DIR}, as Debian's envvars set it.
    `Define APACHE_LOG_DIR "${dir}"`,
    'TypesConfig /etc/mime.types',
    'Timeout 30',
    'StartServers 1',
    'ServerLimit 2',
    'ThreadsPerChild 16',
    'MaxRequestWorkers 32',
    'MinSpareThreads 4',
    'MaxSpareThreads 32',
  ];
  if (isRoot) lines.push(`User ${RUN_AS}`, `Group ${RUN_AS}`);
  for (const m of ['mpm_event', 'authz_core', ...modules]) {
    lines.push(`LoadModule ${m}_module ${MODULES_DIR}/mod_${m}.so`);
  }
  // mod_fcgid logs each process it starts and stops (with its exit status) at info.
  lines.push(modules.includes('fcgid') ? 'LogLevel warn fcgid:info' : 'LogLevel warn');
  lines.push(
    '<Directory />',
    '    Options None',
    '    AllowOverride None',
    '    Require all denied',
    '</Directory>',
    'AccessFileName .htaccess',
    '<FilesMatch "^\\.ht">',
    '    Require all denied',
    '</FilesMatch>',
    '',
    body,
  );
  return lines.join('\n') + '\n';
}

/** A running apache2 -DFOREGROUND (own process group, stopped by PID). */
export class Apache {
  constructor(dir, port, proc) {
    this.dir = dir;
    this.port = port;
    this.proc = proc;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.errorLogPath = path.join(dir, 'error.log');
    this.savedLog = null;
  }

  errorLog() {
    if (this.savedLog !== null) return this.savedLog;
    try {
      return fs.readFileSync(this.errorLogPath, 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * mod_fcgid's record of each FastCGI process that ended (LogLevel fcgid:info):
   * [{path, pid, reason, code (number|null), signal (number|null), text}].
   */
  fcgidExits() {
    const exits = [];
    const re = /mod_fcgid: process (\S+)\((\d+)\) exit\(([^)]*)\), (.*)$/gm;
    for (const m of this.errorLog().matchAll(re)) {
      const code = /return code: (-?\d+)/.exec(m[4]);
      const sig = /signal (\d+)/.exec(m[4]);
      exits.push({ path: m[1], pid: Number(m[2]), reason: m[3], code: code ? Number(code[1]) : null,
        signal: sig ? Number(sig[1]) : null, text: m[4] });
    }
    return exits;
  }

  /** SIGTERM by PID (Apache stops its children, mod_fcgid its processes). */
  async stop() {
    const report = await this.proc.stop();
    this.savedLog = this.errorLog();
    return report;
  }
}

/**
 * Start apache2 with a generated httpd.conf in `dir` on a free loopback port.
 * modules: names as in mod_NAME.so (mpm_event and authz_core are always
 * loaded); body: the rest of the config (the rendered example).
 */
export async function startApache({ dir, modules = [], body = '', name = 'apache2' }) {
  await fsp.mkdir(path.join(dir, 'run'), { recursive: true });
  if (isRoot) await fsp.chmod(dir, 0o755); // www-data must reach what lies below
  const env = { PATH: process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const confPath = path.join(dir, 'httpd.conf');
    await fsp.writeFile(confPath, httpdConf({ dir, port, modules, body }));
    await fsp.rm(path.join(dir, 'error.log'), { force: true });
    const proc = new Proc(name, apacheBinary(), ['-f', confPath, '-DFOREGROUND'], { cwd: dir, env });
    const server = new Apache(dir, port, proc);
    const end = Date.now() + START_TIMEOUT_MS;
    let up = false;
    while (!proc.exit && Date.now() < end) {
      if (await canConnect(port)) { up = true; break; }
      await sleep(50);
    }
    if (up) return server;
    await proc.stop();
    const log = server.errorLog() + proc.err;
    if (attempt < 3 && /Address already in use/.test(log)) continue;
    throw new Error(`${name} did not start on 127.0.0.1:${port}\n${proc.describe()}--- error.log:\n${log}`);
  }
}

/**
 * The emulator plus an Apache in front of the binary, shaped like a
 * useStack() handle for the shared checks: tokenUrl, emuPort, key, secret,
 * keyName, responses, request/get/postForm/postJson, binaryLog, and
 * stack.stop() resolving to {binary, apache} reports.
 *
 * How the binary's end is judged (report.binary, read by finalChecks):
 *   'fcgid'  from mod_fcgid's log of each process it ran: code = the first
 *            non-zero exit status (null if mod_fcgid logged no exit at all),
 *            signal = a process that died of a signal;
 *   'cgi'    one process per request, reaped by Apache: code 1 if the error
 *            log shows a CGI program that ended before its headers, else 0.
 * forced/stragglers: Apache had to be killed / processes of its group
 * (including the binary's) were left after it exited.
 */
export class HostedStack {
  constructor(name, kind) {
    this.name = name;
    this.kind = kind;
    this.stack = this; // finalChecks calls stack.stack.stop()
    this.responses = [];
    this.procs = {};
    this.stopped = null;
    this.keepDir = !!process.env.IT_KEEP_TMP;
    this.socketLeft = false;
    this.setKey(testKey('main'));
  }

  /** The key the binary uses, for checking answers and looking for leaks. */
  setKey(key) {
    this.key = key;
    ({ secret: this.secret, keyName: this.keyName } = splitKey(key));
  }

  /**
   * setup(h) runs with h.dir and h.emulatorUrl known and returns
   * {modules, body, tokenPath, readyPath (default tokenPath)}.
   */
  async start(setup) {
    this.dir = await fsp.mkdtemp(path.join(os.tmpdir(), `ably-token-${this.kind}-`));
    try {
      const emu = await startEmulator(this.dir);
      this.procs.emulator = emu.proc;
      this.emuPort = emu.port;
      this.emulatorUrl = emu.url;
      const cfg = await setup(this);
      this.tokenPath = cfg.tokenPath;
      this.apache = await startApache({ dir: this.dir, modules: cfg.modules, body: cfg.body, name: `apache2 (${this.name})` });
      this.procs.apache = this.apache.proc;
      this.port = this.apache.port;
      this.baseUrl = this.apache.baseUrl;
      this.tokenUrl = this.baseUrl + this.tokenPath;
      const readyPath = cfg.readyPath || this.tokenPath;
      let last = null;
      const end = Date.now() + START_TIMEOUT_MS;
      for (;;) {
        try {
          last = await this.request('GET', readyPath, { record: false });
          if (last.status === 200) break;
        } catch (e) {
          last = { status: e.message, body: '' };
        }
        if (this.apache.proc.exit || Date.now() > end) {
          throw new Error(`GET ${readyPath} through Apache: ${last.status} ${String(last.body).slice(0, 300)}`);
        }
        await sleep(100);
      }
    } catch (e) {
      this.keepDir = true;
      await this.stop().catch(() => {});
      e.message = `${this.name} stack failed to start: ${e.message}\n(scratch dir kept: ${this.dir})\n${this.describe()}`;
      throw e;
    }
  }

  describe() {
    const parts = Object.values(this.procs).map((p) => p.describe());
    if (this.apache) parts.push(`--- Apache error.log:\n${this.apache.errorLog().trimEnd()}\n`);
    return parts.join('');
  }

  /** Apache's error log: the binary's stderr (and Apache's own lines). */
  get binaryLog() {
    return this.apache ? this.apache.errorLog() : '';
  }

  /**
   * One HTTP request on a fresh connection; {status, headers, body, raw, rawHeaders}.
   * A body goes with Content-Length, as browsers and ably-js send it, unless
   * headers say Transfer-Encoding: chunked.
   */
  request(method, urlPath, { headers = {}, body = null, record = true, label = '' } = {}) {
    const names = Object.keys(headers).map((k) => k.toLowerCase());
    if (body !== null && !names.includes('content-length') && !names.includes('transfer-encoding')) {
      headers = { ...headers, 'Content-Length': String(Buffer.byteLength(body)) };
    }
    return httpRequest(this.port, this.responses, method, urlPath, { headers, body, record, label });
  }

  get(params = {}, opts = {}) {
    const qs = typeof params === 'string' ? params : new URLSearchParams(params).toString();
    return this.request('GET', (opts.path || this.tokenPath) + (qs ? `?${qs}` : ''), opts);
  }

  postForm(params = {}, opts = {}) {
    const body = typeof params === 'string' ? params : new URLSearchParams(params).toString();
    return this.request('POST', opts.path || this.tokenPath, {
      ...opts, headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(opts.headers || {}) }, body,
    });
  }

  postJson(obj, opts = {}) {
    return this.request('POST', opts.path || this.tokenPath, {
      ...opts, headers: { 'Content-Type': 'application/json', ...(opts.headers || {}) },
      body: typeof obj === 'string' ? obj : JSON.stringify(obj),
    });
  }

  async emulatorStats() {
    const res = await fetch(`${this.emulatorUrl}/_emulator/stats`);
    return res.json();
  }

  /** How the binary's processes ended (see the class comment). */
  binaryReport(apacheReport) {
    const rep = { code: 0, signal: null, forced: !!(apacheReport && apacheReport.forced),
      stragglers: !!(apacheReport && apacheReport.stragglers) };
    const log = this.apache ? this.apache.errorLog() : '';
    if (this.kind === 'fcgid') {
      const exits = this.apache.fcgidExits();
      rep.exits = exits;
      if (exits.length === 0) rep.code = null;
      const bad = exits.find((e) => e.code !== 0);
      if (bad) {
        rep.code = bad.code;
        if (bad.signal !== null) rep.signal = `signal ${bad.signal} (${bad.reason})`;
      }
    } else {
      const failures = log.split('\n').filter((l) => /End of script output before headers|Premature end of script|malformed header from script/.test(l));
      rep.failures = failures;
      if (failures.length) rep.code = 1;
    }
    return rep;
  }

  /** Stop Apache, then the emulator, by PID. Idempotent. */
  stop() {
    if (!this.stopped) {
      this.stopped = (async () => {
        const report = {};
        if (this.procs.apache) {
          report.apache = await this.apache.stop();
          report.binary = this.binaryReport(report.apache);
        }
        if (this.procs.emulator) report.emulator = await this.procs.emulator.stop();
        if (!this.keepDir && this.dir) await fsp.rm(this.dir, { recursive: true, force: true });
        return report;
      })();
    }
    return this.stopped;
  }
}

/** A HostedStack started in before() and stopped in after(). */
export function useApache(name, kind, setup) {
  const h = new HostedStack(name, kind);
  before(() => h.start(setup), { timeout: START_TIMEOUT_MS * 4 });
  after(() => h.stop());
  return h;
}

/** `ldd FILE` as a list of library names (libc.so.6, ...). */
export function lddNames(file) {
  const out = execFileSync('ldd', [file], { encoding: 'utf8' });
  return out.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean).map((n) => path.basename(n));
}

/** The DT_NEEDED entries of an ELF file. */
export function neededLibs(file) {
  const out = execFileSync('readelf', ['-d', file], { encoding: 'utf8' });
  return [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
}
