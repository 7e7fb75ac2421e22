// The integration stack: local Ably emulator + build/ably-token on a unix
// socket + nginx rendered from nginx.conf.example, in a private scratch dir.
//
//   const stack = useStack({ config: { mode: 'jwt' } });   // at the top of a test file
//   test('...', async () => { const r = await stack.get({ ttl: 60000 }); ... });
//
// useStack() starts everything in before() and stops it, by PID, in after();
// whatever is still running when the test process exits gets SIGKILL. If
// start-up fails, the error carries the stderr of the binary, nginx and the
// emulator. Every HTTP answer fetched through stack.request() is kept in
// stack.responses so the last test can look for the key secret in all of them.

import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { makeTestCA } from './testca.mjs';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The binary under test: $ABLY_TOKEN_BIN (make check points it at the ASan build). */
export const binaryPath = path.resolve(repoRoot, process.env.ABLY_TOKEN_BIN || 'build/ably-token');
export const emulatorPath = path.join(repoRoot, 'tests/ably-emulator/server.mjs');
const renderScript = path.join(repoRoot, 'scripts/render-nginx-conf.sh');

const START_TIMEOUT_MS = Number(process.env.IT_START_TIMEOUT_MS || 15000);
const STOP_TIMEOUT_MS = 5000;
const LOG_CAP = 256 * 1024;

// ---------------------------------------------------------------- test keys

const FALLBACK_MAIN_KEY = 'TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000';

/** Find an API key string in whatever shape test-keys.json has for `name`. */
function pickKey(entry) {
  if (typeof entry === 'string') return /^[^:\s]+:[^:\s]+$/.test(entry) ? entry : null;
  if (entry && typeof entry === 'object') {
    if (typeof entry.key === 'string') return entry.key;
    if (typeof entry.keyName === 'string' && typeof entry.keySecret === 'string') return `${entry.keyName}:${entry.keySecret}`;
    if (typeof entry.keyName === 'string' && typeof entry.secret === 'string') return `${entry.keyName}:${entry.secret}`;
  }
  return null;
}

/** The named test key from tests/ably-emulator/test-keys.json ("main" by default). */
export function testKey(name = 'main') {
  let doc = null;
  try {
    doc = JSON.parse(fs.readFileSync(path.join(repoRoot, 'tests/ably-emulator/test-keys.json'), 'utf8'));
  } catch {
    /* not there yet: fall back below */
  }
  if (doc) {
    const lists = [doc, doc.keys].filter((x) => x && typeof x === 'object');
    for (const l of lists) {
      if (!Array.isArray(l) && l[name]) {
        const k = pickKey(l[name]);
        if (k) return k;
      }
      if (Array.isArray(l)) {
        // Entries may be named, or known by their keyId ("TESTAPP.limited" is "limited");
        // "main" is the first one.
        const e = l.find((x) => x && (x.name === name || x.id === name)) ||
          l.find((x) => { const k = pickKey(x); return k && k.split(':')[0].split('.')[1] === name; }) ||
          (name === 'main' ? l[0] : null);
        const k = e && pickKey(e);
        if (k) return k;
      }
    }
  }
  if (name === 'main') return FALLBACK_MAIN_KEY;
  throw new Error(`no test key "${name}" in tests/ably-emulator/test-keys.json`);
}

export function splitKey(key) {
  const i = key.indexOf(':');
  return { keyName: key.slice(0, i), secret: key.slice(i + 1) };
}

// -------------------------------------------------- processes, killed by PID

const live = new Set(); // every child we started and have not seen exit
const scratchDirs = new Set(); // scratch dirs of stacks not yet stopped

function killGroup(child, signal) {
  // Children are started detached (own process group), so the binary's
  // pre-forked workers and nginx's workers go with their parent.
  try {
    process.kill(-child.pid, signal);
  } catch {
    try { child.kill(signal); } catch { /* gone */ }
  }
}

process.on('exit', () => {
  for (const c of live) killGroup(c, 'SIGKILL');
  for (const d of scratchDirs) {
    try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ }
  }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    for (const c of live) killGroup(c, 'SIGKILL');
    process.exit(128 + os.constants.signals[sig]);
  });
}

/** A started process with its output kept (capped) for error messages. */
export class Proc {
  constructor(name, cmd, args, opts) {
    this.name = name;
    this.out = '';
    this.err = '';
    this.exit = null; // {code, signal} once exited
    this.child = spawn(cmd, args, { ...opts, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d) => { this.out = (this.out + d).slice(-LOG_CAP); });
    this.child.stderr.on('data', (d) => { this.err = (this.err + d).slice(-LOG_CAP); });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      this.child.on('error', (e) => {
        this.err += `\n[spawn error: ${e.message}]`;
        this.exit = { code: null, signal: null, error: e };
        resolve(this.exit);
      });
    });
    // 'close' waits for the pipes too, so the output is complete after stop().
    this.closed = new Promise((resolve) => this.child.on('close', resolve));
    this.exited.then(() => live.delete(this.child));
  }

  get pid() { return this.child.pid; }

  /** Is any process of its group (e.g. a pre-forked worker) still there? */
  groupAlive() {
    try {
      process.kill(-this.child.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * SIGTERM by PID, wait; SIGKILL the group if it does not stop in time.
   * Returns {code, signal, forced, stragglers}: forced = had to SIGKILL the
   * parent, stragglers = group members left after the parent exited.
   */
  async stop(signal = 'SIGTERM') {
    if (this.exit === null) {
      try { this.child.kill(signal); } catch { /* already gone */ }
    }
    let forced = false;
    if ((await Promise.race([this.exited, idle(STOP_TIMEOUT_MS, 'timeout')])) === 'timeout') {
      forced = true;
      killGroup(this.child, 'SIGKILL');
      await this.exited;
    }
    // Give workers a moment to follow their parent, then clean up any left.
    let stragglers = false;
    for (let i = 0; i < 20 && this.groupAlive(); i++) await sleep(50);
    if (this.groupAlive()) {
      stragglers = true;
      killGroup(this.child, 'SIGKILL');
    }
    await Promise.race([this.closed, idle(1000)]);
    return { ...this.exit, forced, stragglers };
  }

  describe() {
    const status = this.exit ? `exited (code ${this.exit.code}, signal ${this.exit.signal})` : `running (pid ${this.pid})`;
    return `--- ${this.name}: ${status}\n` +
      (this.err.trim() ? `stderr:\n${this.err.trimEnd()}\n` : '(no stderr)\n') +
      (this.out.trim() ? `stdout:\n${this.out.trimEnd()}\n` : '');
  }
}

export function sleep(ms, value) {
  return new Promise((r) => setTimeout(r, ms, value));
}

/** A timeout that does not keep the process alive once everything else is done. */
function idle(ms, value) {
  return new Promise((r) => setTimeout(r, ms, value).unref());
}

async function waitFor(what, proc, check, timeout = START_TIMEOUT_MS) {
  const end = Date.now() + timeout;
  for (;;) {
    if (proc && proc.exit) throw new Error(`${what}: ${proc.name} exited during start-up`);
    if (await check()) return;
    if (Date.now() > end) throw new Error(`${what}: not ready after ${timeout} ms`);
    await sleep(50);
  }
}

export function canConnect(opts) {
  return new Promise((resolve) => {
    const s = net.connect(opts);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

// ------------------------------------------------------------------- emulator

/**
 * Start the Ably emulator on a free port; resolves once it said where it listens.
 * Returns {proc, port, url, controlUrl, tls}. With --tls-cert/--tls-key in args, url is
 * https://127.0.0.1:port (HTTP/2 by ALPN) and controlUrl the emulator's plain-HTTP
 * listener for /_emulator/* calls without the test CA; otherwise both are http://127.0.0.1:port.
 */
export async function startEmulator(dir, args = []) {
  if (!fs.existsSync(emulatorPath)) throw new Error(`no emulator at ${emulatorPath}`);
  const proc = new Proc('ably-emulator', process.execPath, [emulatorPath, '--port', '0', ...args], {
    cwd: repoRoot,
    env: { ...process.env },
  });
  let port = null;
  let controlPort = null;
  let tls = false;
  try {
    await waitFor('emulator', proc, () => {
      for (const line of proc.out.split('\n')) {
        try {
          const ev = JSON.parse(line);
          if (ev && ev.event === 'listening' && ev.port) {
            port = ev.port;
            tls = ev.tls === true;
            controlPort = tls ? ev.controlPort : port;
            return true;
          }
        } catch { /* not a JSON line */ }
      }
      return false;
    });
  } catch (e) {
    await proc.stop();
    e.message += `\n${proc.describe()}`;
    throw e;
  }
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return { proc, port, url, controlUrl: `http://127.0.0.1:${controlPort}`, tls };
}

// --------------------------------------------------------------------- config

/**
 * The policy the tests were written against: the built-in defaults before
 * they became safe for a site (anonymous callers now only subscribe to
 * public:*). A test's own client_id or capability replaces it.
 */
export const TEST_POLICY = { client_id: 'example-client-id', capability: '{"*":["*"]}' };
/** The same as config file lines, for tests that write their own file. */
export const TEST_POLICY_LINES = Object.entries(TEST_POLICY).map(([k, v]) => `${k} = ${v}\n`).join('');

/** Render `name = value` lines; values must be single-line. */
function configText(settings) {
  const lines = ['# written by tests/integration/lib/stack.mjs'];
  for (const [k, v] of Object.entries(settings)) {
    if (v === undefined || v === null) continue;
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    if (/[\r\n]/.test(s)) throw new Error(`config value for ${k} has a newline`);
    lines.push(`${k} = ${s}`);
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------- stack

/**
 * Start emulator (unless emulator: false), binary and nginx.
 *   opts.config   settings for the config file (key added unless key: null), or a
 *                 function (stack) => settings, called once the emulator runs
 *   opts.key      API key for the config file; default the main test key; null = none
 *   opts.actualKey the key the binary ends up using, if not opts.key (env overrides)
 *   opts.env      extra environment for the binary (ABLY_API_KEY etc. are removed otherwise)
 *   opts.binArgs  arguments instead of --config/--listen/--workers (array, or fn(stack))
 *   opts.configMode file mode of the config file (default 0600)
 *   opts.workers  default 2
 *   opts.threads  --threads for the binary (default: the binary's own)
 *   opts.launcher a command that execs the binary, e.g. ['prlimit', '--nofile=90', '--']
 *   opts.emulator true (default) | false
 *   opts.emulatorArgs extra emulator arguments: an array, or fn(stack) called once
 *                 stack.ca exists (e.g. s => ['--latency-ms', '300'])
 *   opts.emulatorTls  true: make a test CA in the scratch dir (stack.ca, see
 *                 testca.mjs) and serve HTTPS/HTTP2 with its certificate for
 *                 127.0.0.1; stack.emulatorUrl is https, stack.emulatorControlUrl
 *                 the plain-HTTP control listener. Config: tls 'on', ca_file s.ca.caFile.
 *   opts.emulatorCert 'server' (default) | 'wrongName': the certificate the TLS
 *                 emulator serves (wrongName: signed by the test CA, for DNS:wrong.invalid)
 *   opts.nginxTransform (text) => text: a test's own change to the rendered nginx
 *                 config (e.g. a header the shipped example does not add)
 */
export async function startStack(opts = {}) {
  // opts.prepare: an async step that must finish first (e.g. start a second
  // emulator the config function names); one hook, so nothing runs before it.
  if (opts.prepare) await opts.prepare();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-it-'));
  const key = opts.key === undefined ? testKey('main') : opts.key;
  // The key the binary will really use (e.g. from ABLY_API_KEY), for checking answers.
  const stack = new Stack(dir, key, opts.actualKey === undefined ? key : opts.actualKey);
  if (!stack.keepDir) scratchDirs.add(dir);
  try {
    await stack.start(opts);
  } catch (e) {
    // Keep the scratch dir (config, nginx.conf, logs) for a look afterwards.
    stack.keepDir = true;
    scratchDirs.delete(dir);
    await stack.stop().catch(() => {});
    const logs = await stack.describe();
    e.message = `integration stack failed to start: ${e.message}\n(scratch dir kept: ${dir})\n${logs}`;
    throw e;
  }
  return stack;
}

/**
 * One HTTP request to 127.0.0.1:port on a fresh connection; the answer is
 * pushed onto `responses` (for the secret checks) unless record is false.
 * Returns {method, path, label, status, headers (lower-case), rawHeaders, raw, body}.
 */
export function httpRequest(port, responses, method, urlPath,
  { headers = {}, body = null, record = true, label = '' } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method, path: urlPath, headers, agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const r = {
          method, path: urlPath, label, status: res.statusCode, headers: res.headers,
          rawHeaders: res.rawHeaders, raw, body: raw.toString('utf8'),
        };
        if (record) responses.push(r);
        resolve(r);
      });
      res.on('error', reject);
    });
    req.setTimeout(10000, () => req.destroy(new Error(`${method} ${urlPath}: no answer in 10 s`)));
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}

class Stack {
  constructor(dir, configKey, key) {
    this.dir = dir;
    this.configKey = configKey;
    this.key = key;
    this.secret = key ? splitKey(key).secret : null;
    this.keyName = key ? splitKey(key).keyName : null;
    this.responses = [];
    this.procs = {};
    this.stopped = null;
    this.keepDir = !!process.env.IT_KEEP_TMP;
  }

  async start(opts) {
    if (!fs.existsSync(binaryPath)) {
      throw new Error(`no binary at ${binaryPath}: run make first (or set ABLY_TOKEN_BIN)`);
    }
    if (opts.emulatorTls || opts.emulatorCert) this.ca = await makeTestCA(path.join(this.dir, 'ca'));
    if (opts.emulator !== false) {
      const args = [];
      if (this.ca) {
        const which = opts.emulatorCert || 'server';
        if (!['server', 'wrongName'].includes(which)) throw new Error(`emulatorCert: unknown certificate ${which}`);
        args.push('--tls-cert', which === 'server' ? this.ca.certFile : this.ca.wrongNameCertFile,
          '--tls-key', which === 'server' ? this.ca.keyFile : this.ca.wrongNameKeyFile);
      }
      const extra = typeof opts.emulatorArgs === 'function' ? opts.emulatorArgs(this) : opts.emulatorArgs;
      const emu = await startEmulator(this.dir, [...args, ...(extra || [])]);
      this.procs.emulator = emu.proc;
      this.emuPort = emu.port;
      this.emulatorUrl = emu.url;
      this.emulatorControlUrl = emu.controlUrl;
      this.emulatorTls = emu.tls;
    }

    // Config file; a key in it means mode 600.
    this.configPath = path.join(this.dir, 'ably-token.conf');
    // opts.config may be a function of the stack (to point rest_host at the emulator).
    this.settings = typeof opts.config === 'function' ? opts.config(this) : (opts.config || {});
    const settings = { ...(this.configKey ? { key: this.configKey } : {}), ...TEST_POLICY, ...this.settings };
    await fsp.writeFile(this.configPath, configText(settings), { mode: 0o600 });
    await fsp.chmod(this.configPath, opts.configMode ?? 0o600);

    // The binary, with none of the key variables leaking in from our env.
    this.sockPath = path.join(this.dir, 'ably-token.sock');
    const env = { ...process.env, ...(opts.env || {}) };
    for (const v of ['ABLY_API_KEY', 'VITE_ABLY_KEY', 'ABLY_TOKEN_CONF']) {
      if (!(opts.env && v in opts.env)) delete env[v];
    }
    const binArgs = typeof opts.binArgs === 'function' ? opts.binArgs(this)
      : opts.binArgs || ['--config', this.configPath, '--listen', `unix:${this.sockPath}`,
        '--workers', String(opts.workers || 2), ...(opts.threads ? ['--threads', String(opts.threads)] : [])];
    const launcher = opts.launcher || [];
    this.procs.binary = launcher.length
      ? new Proc('ably-token', launcher[0], [...launcher.slice(1), binaryPath, ...binArgs], { cwd: this.dir, env })
      : new Proc('ably-token', binaryPath, binArgs, { cwd: this.dir, env });
    await waitFor('ably-token socket', this.procs.binary,
      () => fs.existsSync(this.sockPath) && canConnect({ path: this.sockPath }));

    // nginx from the shipped example.
    const nginx = await startNginx(path.join(this.dir, 'nginx'), this.sockPath,
      { cwd: this.dir, transform: opts.nginxTransform || null });
    this.port = nginx.port;
    this.nginxConf = nginx.conf;
    this.procs.nginx = nginx.proc;
    this.baseUrl = `http://127.0.0.1:${this.port}`;
    this.tokenUrl = `${this.baseUrl}/request-token`;

    // Ready when the health check comes back through nginx and the binary.
    const healthPath = this.settings.health_path || '/healthz';
    let last = null;
    await waitFor('health check through nginx', null, async () => {
      if (this.procs.binary.exit) throw new Error('ably-token exited');
      if (this.procs.nginx.exit) throw new Error('nginx exited');
      try {
        last = await this.request('GET', healthPath, { record: false });
        return last.status === 200;
      } catch (e) {
        last = { status: e.message, body: '' };
        return false;
      }
    }).catch((e) => {
      e.message += ` (last answer: ${last && last.status} ${last && last.body})`;
      throw e;
    });
  }

  async nginxErrorLog() {
    try {
      return await fsp.readFile(path.join(this.dir, 'nginx/logs/error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Everything useful for a failure message. */
  async describe() {
    const parts = [];
    for (const p of Object.values(this.procs)) parts.push(p.describe());
    const log = (await this.nginxErrorLog()).trim();
    if (log) parts.push(`--- nginx error.log:\n${log}\n`);
    return parts.join('');
  }

  /** The binary's stderr so far (for log checks). */
  get binaryLog() {
    return this.procs.binary ? this.procs.binary.err + this.procs.binary.out : '';
  }

  /**
   * One HTTP request through nginx on a fresh connection.
   * Returns {status, headers (lower-case names), body (string), raw (Buffer)}.
   */
  request(method, urlPath, opts = {}) {
    return httpRequest(this.port, this.responses, method, urlPath, opts);
  }

  /** GET /request-token with the given params (object or URLSearchParams or string). */
  get(params = {}, opts = {}) {
    const qs = typeof params === 'string' ? params : new URLSearchParams(params).toString();
    return this.request('GET', '/request-token' + (qs ? `?${qs}` : ''), opts);
  }

  /** POST /request-token with a form-urlencoded body, as ably-js authMethod 'POST' does. */
  postForm(params = {}, opts = {}) {
    const body = typeof params === 'string' ? params : new URLSearchParams(params).toString();
    return this.request('POST', '/request-token', {
      ...opts,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(opts.headers || {}) },
      body,
    });
  }

  /** POST /request-token with a JSON body. */
  postJson(obj, opts = {}) {
    return this.request('POST', '/request-token', {
      ...opts,
      headers: { 'Content-Type': 'application/json', ...(opts.headers || {}) },
      body: typeof obj === 'string' ? obj : JSON.stringify(obj),
    });
  }

  /** Emulator statistics (GET /_emulator/stats, over the plain control URL), or null without an emulator. */
  async emulatorStats() {
    if (!this.emulatorControlUrl) return null;
    const res = await fetch(`${this.emulatorControlUrl}/_emulator/stats`);
    return res.json();
  }

  /**
   * A control call to the stack's emulator (over its plain control URL): method, path
   * ('/_emulator/…'), optional JSON body. Resolves to the parsed answer; throws on >= 300.
   */
  async emulatorControl(method, urlPath, body) {
    if (!this.emulatorControlUrl) throw new Error('this stack has no emulator');
    const res = await fetch(`${this.emulatorControlUrl}${urlPath}`, {
      method,
      headers: body !== undefined ? { 'content-type': 'application/json' } : {},
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`emulator ${method} ${urlPath}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /**
   * Stop nginx, the binary and the emulator (in that order) by PID.
   * Returns {nginx, binary, emulator} exit reports (see Proc.stop). Idempotent.
   */
  stop() {
    if (!this.stopped) {
      this.stopped = (async () => {
        const report = {};
        for (const name of ['nginx', 'binary', 'emulator']) {
          if (this.procs[name]) report[name] = await this.procs[name].stop();
        }
        this.socketLeft = this.sockPath ? fs.existsSync(this.sockPath) : false;
        if (!this.keepDir) {
          await fsp.rm(this.dir, { recursive: true, force: true });
          scratchDirs.delete(this.dir);
        }
        return report;
      })();
    }
    return this.stopped;
  }
}

/**
 * nginx from the shipped nginx.conf.example (scripts/render-nginx-conf.sh)
 * in prefix, on a free port of 127.0.0.1, passing token requests to the
 * FastCGI unix socket sockPath. Resolves once it accepts connections.
 * Returns {proc, port, conf (the rendered file's path)}.
 */
export async function startNginx(prefix, sockPath, { cwd = prefix, transform = null } = {}) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const conf = (await run(renderScript, ['--prefix', prefix, '--port', String(port),
      '--socket', sockPath, '--www', path.join(repoRoot, 'www')])).stdout.trim();
    // transform(text) -> text: a test's own change to the rendered config.
    if (transform) await fsp.writeFile(conf, transform(await fsp.readFile(conf, 'utf8')));
    const proc = new Proc('nginx', nginxBinary(), ['-p', prefix, '-c', conf], { cwd });
    try {
      await waitFor('nginx', proc, () => canConnect({ host: '127.0.0.1', port }));
      return { proc, port, conf };
    } catch (e) {
      // Someone took the port between freePort() and nginx's bind: once more.
      const log = await fsp.readFile(path.join(prefix, 'logs/error.log'), 'utf8').catch(() => '');
      await proc.stop();
      if (attempt < 3 && /Address already in use/.test(proc.err + log)) continue;
      throw e;
    }
  }
}

function nginxBinary() {
  for (const p of (process.env.PATH || '').split(':').concat(['/usr/sbin', '/usr/local/sbin'])) {
    if (p && fs.existsSync(path.join(p, 'nginx'))) return path.join(p, 'nginx');
  }
  return 'nginx';
}

export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { ...opts, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\nstdout: ${stdout}\nstderr: ${stderr}`;
        reject(err);
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

/**
 * scripts/run-demo.sh (what `make run` starts) in a scratch dir with an
 * empty .env, so a real .env and a running demo are left alone; resolves
 * once it prints its address. Returns {demo (a Proc), dir, port, stop()}.
 */
export async function startDemo(prefix = 'ably-token-demo-') {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  const envFile = path.join(dir, 'empty.env');
  await fsp.writeFile(envFile, '# no key: the offline emulator\nABLY_API_KEY=\n');
  const port = await freePort();
  const env = { ...process.env, PORT: String(port), DEMO_RUN_DIR: path.join(dir, 'run'), DEMO_ENV_FILE: envFile,
    ABLY_TOKEN_BIN: binaryPath };
  for (const v of ['ABLY_API_KEY', 'VITE_ABLY_KEY', 'ABLY_TOKEN_CONF']) delete env[v];
  const demo = new Proc('run-demo.sh', path.join(repoRoot, 'scripts/run-demo.sh'), [], { cwd: repoRoot, env });
  const stop = async () => {
    await demo.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  };
  const end = Date.now() + 20000;
  while (!/ready: http:\/\/localhost:/.test(demo.out)) {
    if (demo.exit || Date.now() > end) {
      await stop();
      throw new Error(`run-demo.sh did not get ready\n${demo.describe()}`);
    }
    await sleep(50);
  }
  return { demo, dir, port, stop };
}

/**
 * Start a stack in before(), stop it in after(). The returned object is the
 * stack itself once before() has run (its fields are copied in).
 */
export function useStack(opts = {}) {
  const handle = {};
  let stack = null;
  before(async () => {
    stack = await startStack(opts);
    handle.stack = stack;
    // Let tests call handle.get(...) etc. directly.
    for (const k of Object.getOwnPropertyNames(Stack.prototype)) {
      if (k !== 'constructor' && typeof stack[k] === 'function' && !(k in handle)) handle[k] = stack[k].bind(stack);
    }
    for (const k of ['dir', 'key', 'secret', 'keyName', 'responses', 'port', 'baseUrl', 'tokenUrl',
      'emuPort', 'emulatorUrl', 'emulatorControlUrl', 'emulatorTls', 'ca', 'procs', 'sockPath', 'configPath']) {
      Object.defineProperty(handle, k, { get: () => stack[k], configurable: true });
    }
    Object.defineProperty(handle, 'binaryLog', { get: () => stack.binaryLog, configurable: true });
  }, { timeout: START_TIMEOUT_MS * 3 });
  after(async () => {
    if (stack) await stack.stop();
  });
  return handle;
}
