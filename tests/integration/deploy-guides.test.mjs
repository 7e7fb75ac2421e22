// The step-by-step guides, doc/deploy-nginx.md and the Debian recipe of
// doc/apache-fcgid.md, run as a root shell would: every marked block, in
// order, once per path (nginx: systemd, plain), each time in a scratch copy
// of this machine (lib/scratchroot.mjs: an overlay over / in a mount
// namespace of its own), then ably-js through the web server, the accounts
// the processes run as, and, after the guide's own removal steps, nothing
// left behind.
//
// Substituted, and nothing else (the guide's "How this guide is tested"
// says the same):
//   - the key: the placeholder appId.keyId:secret becomes the emulator's test key;
//   - Ably's host: once the guide has copied the settings file, its rest_host
//     and tls lines point at the local emulator (tests/ably-emulator), which
//     this test starts on 127.0.0.1: nothing reaches the internet;
//   - the port: the test's nginx reads copies of /etc/nginx/conf.d/*.conf and
//     /etc/nginx/sites-enabled/* with `listen 80` made a free loopback port
//     (IPv6 listen lines left out); the test's Apache reads Debian's
//     apache2.conf with copies of ports.conf and the enabled sites where
//     port 80 is that port;
//   - systemctl (no systemd as PID 1 here): a stand-in first in PATH records
//     each call, and the test does what systemd would (see emulateSystemctl).
// A block that fails, a missing or repeated step number, a placeholder that
// is gone, or a systemctl call the test cannot stand in for fails the test.
// The guides build the source tree's own build/ (`make`, in the scratch copy,
// so nothing is written to the real tree): ABLY_TOKEN_BIN plays no part.
// Skipped only when not root.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot, startEmulator, testKey, freePort, canConnect, sleep, run as runCommand } from './lib/stack.mjs';
import Ably from 'ably';
import { ablyClient, rejection } from './lib/ablyjs.mjs';
import { guideBlocks, guidePaths, blocksFor } from './lib/guide.mjs';
import { ScratchRoot } from './lib/scratchroot.mjs';

const isRoot = process.getuid && process.getuid() === 0;
const KEY_PLACEHOLDER = 'appId.keyId:secret';
const SETTINGS = '/etc/ably-token/ably-token.conf';
const UNIT_DIR = '/usr/local/lib/systemd/system';
const SHIM_DIR = '/tmp/ably-token-guide-shim';
const NGINX_DIR = '/tmp/ably-token-guide-nginx';
const APACHE_DIR = '/tmp/ably-token-guide-apache';
const STEP_TIMEOUT_MS = 180000;

// What may differ from the machine after the removal steps, and why (each
// guide adds its own below).
const ALLOWED_LEFTOVERS = [
  [/^\/tmp(\/|$)/, 'the test\'s own stand-ins (systemctl, nginx config)'],
  [/^\/var\/log\/nginx(\/|$)/, 'nginx\'s logs (nginx -t opens them)'],
  [/^\/var\/lib\/nginx(\/|$)/, 'nginx\'s temporary directories'],
  [/^\/etc\/(passwd|group|shadow|gshadow)-$/, 'the backup adduser and deluser keep of the file they changed'],
  // Other tests on this machine may add and remove their own accounts while
  // this one runs, so these are checked by name instead (accountLeft()).
  [/^\/etc\/(passwd|group|shadow|gshadow|subuid|subgid)$/, 'the account databases: checked by name'],
  [/^\/etc\/\.pwd\.lock$/, 'the shadow tools\' lock file'],
  [/^\/run\/adduser$/, 'adduser\'s lock file'],
  [new RegExp(`^${repoRoot.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(/|$)`), 'the build in the source tree (make)'],
];

// The guides: the web server they end with, the account the program's
// processes must run as, and whether the guide makes that account.
const GUIDES = [
  { file: 'doc/deploy-nginx.md', server: 'nginx', account: 'ably-token', makesAccount: true, minProcs: 3,
    paths: ['plain', 'systemd'], webPackages: ['nginx'], leftovers: [] },
  { file: 'doc/apache-fcgid.md', server: 'apache', account: 'www-data', makesAccount: false, minProcs: 1,
    paths: [null], webPackages: ['apache2', 'libapache2-mod-fcgid'],
    leftovers: [
      [/^\/etc\/apache2\/mods-enabled\/headers\.load$|^\/var\/lib\/apache2\/module\/enabled_by_admin(\/headers)?$/,
        'the module step 3 enables (and a2enmod\'s note of it), which the guide says it leaves'],
      [/^\/run\/apache2(\/socks)?$|^\/run\/lock\/apache2$/, 'Apache\'s runtime directories, which apache2ctl makes'],
      [/^\/var\/lib\/apache2\/site\/disabled_by_admin$/, 'the (empty) directory a2dissite keeps its notes in'],
      [/^\/var\/lib\/apache2\/fcgid(\/|$)/, 'mod_fcgid\'s own runtime files'],
    ] },
];

const key = testKey('main');
const keySecret = key.slice(key.indexOf(':') + 1);

/** A unit file's one value of name (the last one given). */
function unitValue(text, name) {
  const values = text.split('\n').map((l) => l.trim()).filter((l) => l.startsWith(`${name}=`))
    .map((l) => l.slice(name.length + 1));
  assert.ok(values.length > 0, `no ${name}= in the unit`);
  return values[values.length - 1];
}

/** One run of the guide along one path, in its own scratch root. */
class GuideRun {
  constructor(guide, pathName) {
    this.guide = guide;
    this.pathName = pathName;
    this.log = [];
    this.socketProc = null;
    this.web = null; // the test's nginx or Apache
    this.settingsPatched = false;
    this.callsSeen = 0;
  }

  async start() {
    this.root = await ScratchRoot.start();
    this.emulator = await startEmulator(null);
    this.port = await freePort();
    // The systemctl stand-in: records its arguments, one call a line.
    await this.root.sh([
      `mkdir -p ${SHIM_DIR}`,
      `printf '%s\\n' '#!/bin/sh' 'echo "$*" >>${SHIM_DIR}/calls' >${SHIM_DIR}/systemctl`,
      `chmod 0755 ${SHIM_DIR}/systemctl`,
      `: >${SHIM_DIR}/calls`,
    ].join('\n'));
  }

  say(line) {
    this.log.push(line);
  }

  /** Run one block as written (with the key substituted); then stand in for systemd. */
  async runBlock(b) {
    let text = b.text;
    if (text.includes(KEY_PLACEHOLDER)) text = text.split(KEY_PLACEHOLDER).join(key);
    const env = { PATH: `${SHIM_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` };
    const r = await this.root.sh(text, { cwd: repoRoot, env, timeout: STEP_TIMEOUT_MS });
    const title = `${b.kind}=${b.n}${b.path ? ` path=${b.path}` : ''} (${this.guide.file}:${b.line})`;
    this.say(`--- ${title}: exit ${r.code}\n${(r.stdout + r.stderr).trimEnd()}`);
    assert.equal(r.code, 0, `${title} failed:\n${b.text}\n${r.stdout}${r.stderr}`.split(keySecret).join('<secret>'));
    await this.pointAtEmulator();
    await this.emulateSystemctl();
  }

  /** Ably's host: the emulator, in the settings file the guide copied (once it exists). */
  async pointAtEmulator() {
    const file = this.root.hostPath(SETTINGS);
    if (this.settingsPatched || !fs.existsSync(file)) return;
    let text = fs.readFileSync(file, 'utf8');
    for (const [name, value] of [['rest_host', `127.0.0.1:${this.emulator.port}`], ['tls', 'off']]) {
      const re = new RegExp(`^${name}\\s*=.*$`, 'm');
      text = re.test(text) ? text.replace(re, `${name} = ${value}`) : `${text}${name} = ${value}\n`;
    }
    fs.writeFileSync(file, text);
    this.settingsPatched = true;
  }

  /** The systemctl calls the last block made, done the way systemd would. */
  async emulateSystemctl() {
    const calls = fs.readFileSync(this.root.hostPath(`${SHIM_DIR}/calls`), 'utf8').split('\n').filter(Boolean);
    for (const call of calls.slice(this.callsSeen)) {
      this.say(`systemctl ${call}`);
      const args = call.split(/\s+/);
      if (call === 'daemon-reload') {
        await this.verifyUnits();
      } else if (args[0] === 'enable' && args.includes('--now') && args.includes('ably-token.socket')) {
        await this.mustRun('/usr/bin/systemctl enable ably-token.socket');
        await this.startSocketUnit();
      } else if (args[0] === 'disable' && args.includes('--now') && args.includes('ably-token.socket')) {
        await this.stopSocketUnit();
        await this.mustRun('/usr/bin/systemctl disable ably-token.socket');
      } else if (['reload', 'restart', 'start'].includes(args[0]) && args[1] === 'nginx' && this.guide.server === 'nginx') {
        await this.restartNginx();
      } else if (['reload', 'restart', 'start'].includes(args[0]) && args[1] === 'apache2' && this.guide.server === 'apache') {
        await this.restartApache();
      } else {
        assert.fail(`${this.guide.file} calls "systemctl ${call}", which this test cannot stand in for`);
      }
    }
    this.callsSeen = calls.length;
  }

  async mustRun(script) {
    const r = await this.root.sh(script);
    assert.equal(r.code, 0, `${script}:\n${r.stdout}${r.stderr}`);
    return r;
  }

  async verifyUnits() {
    const r = await this.root.sh(`systemd-analyze verify --man=no ${UNIT_DIR}/ably-token.socket ${UNIT_DIR}/ably-token.service`);
    assert.equal(r.code, 0, `systemd-analyze verify: ${r.stderr}`);
    assert.equal(r.stderr.trim(), '', 'systemd-analyze verify warns about the installed units');
  }

  unit(name) {
    return fs.readFileSync(this.root.hostPath(`${UNIT_DIR}/${name}`), 'utf8');
  }

  /** The socket unit's ListenStream, owner and mode; the service's ExecStart as its User and Group. */
  async startSocketUnit() {
    const socket = this.unit('ably-token.socket');
    const service = this.unit('ably-token.service');
    const listen = unitValue(socket, 'ListenStream');
    this.socketPath = listen;
    await this.mustRun(`install -d -m ${unitValue(socket, 'DirectoryMode')} ${path.dirname(listen)}`);
    const execStart = unitValue(service, 'ExecStart').split(/\s+/);
    this.socketProc = this.root.spawn('ably-token.socket', ['systemd-socket-activate', '-l', listen, '--',
      'setpriv', `--reuid=${unitValue(service, 'User')}`, `--regid=${unitValue(service, 'Group')}`, '--init-groups',
      ...execStart]);
    const end = Date.now() + 10000;
    while (!fs.existsSync(this.root.hostPath(listen))) {
      assert.ok(!this.socketProc.exit && Date.now() < end, `no socket at ${listen}\n${this.socketProc.describe()}`);
      await sleep(20);
    }
    await this.mustRun(`chown ${unitValue(socket, 'SocketUser')}:${unitValue(socket, 'SocketGroup')} ${listen}\n` +
      `chmod ${unitValue(socket, 'SocketMode')} ${listen}`);
  }

  async stopSocketUnit() {
    assert.ok(this.socketProc, 'the socket unit was never started');
    const report = await this.socketProc.stop();
    this.say(`ably-token.service stopped: ${JSON.stringify(report)}\n${this.socketProc.err}`);
    assert.equal(report.forced, false, 'the service did not stop on SIGTERM');
    fs.rmSync(this.root.hostPath(this.socketPath), { force: true }); // RemoveOnStop=yes
    this.socketProc = null;
  }

  /** An nginx of the test's own, on the enabled sites with port 80 made this.port. */
  async restartNginx() {
    if (this.web) await this.web.stop();
    const includes = [];
    const dirs = [['/etc/nginx/conf.d', (f) => f.endsWith('.conf')], ['/etc/nginx/sites-enabled', () => true]];
    fs.mkdirSync(this.root.hostPath(NGINX_DIR), { recursive: true });
    for (const [dir, want] of dirs) {
      for (const f of fs.readdirSync(this.root.hostPath(dir)).filter(want).sort()) {
        const text = fs.readFileSync(this.root.hostPath(`${dir}/${f}`), 'utf8');
        const copy = `${NGINX_DIR}/${path.basename(dir)}-${f}`;
        fs.writeFileSync(this.root.hostPath(copy), this.onTestPort(text, `${dir}/${f}`));
        includes.push(`    include ${copy};`);
      }
    }
    fs.writeFileSync(this.root.hostPath(`${NGINX_DIR}/nginx.conf`), [
      '# the test\'s stand-in for Debian\'s nginx (tests/integration/deploy-guides.test.mjs)',
      'user www-data;',
      'daemon off;',
      `pid ${NGINX_DIR}/nginx.pid;`,
      `error_log ${NGINX_DIR}/error.log;`,
      'events {}',
      'http {',
      '    include /etc/nginx/mime.types;',
      '    default_type application/octet-stream;',
      `    access_log ${NGINX_DIR}/access.log;`,
      ...['client_body', 'fastcgi', 'proxy', 'scgi', 'uwsgi'].map((t) => `    ${t}_temp_path ${NGINX_DIR}/${t};`),
      ...includes,
      '}',
      '',
    ].join('\n'));
    this.web = this.root.spawn('nginx', ['nginx', '-c', `${NGINX_DIR}/nginx.conf`]);
    await this.webUp(`${NGINX_DIR}/error.log`);
  }

  async webUp(errorLog) {
    const end = Date.now() + 10000;
    while (!(await canConnect({ host: '127.0.0.1', port: this.port }))) {
      const log = fs.existsSync(this.root.hostPath(errorLog)) ? fs.readFileSync(this.root.hostPath(errorLog), 'utf8') : '';
      assert.ok(!this.web.exit && Date.now() < end, `${this.web.name} did not start:\n${this.web.describe()}${log}`);
      await sleep(20);
    }
  }

  /**
   * An Apache of the test's own: Debian's apache2.conf as it is, with its
   * own pid file, runtime, lock and log directories (the APACHE_* variables
   * of envvars), reading ports.conf and the enabled sites from copies where
   * port 80 is this.port.
   */
  async restartApache() {
    if (this.web) await this.web.stop();
    const dir = this.root.hostPath(APACHE_DIR);
    for (const d of ['', '/sites-enabled', '/run', '/lock', '/log']) fs.mkdirSync(dir + d, { recursive: true });
    let main = fs.readFileSync(this.root.hostPath('/etc/apache2/apache2.conf'), 'utf8');
    for (const [from, to] of [['Include ports.conf', `Include ${APACHE_DIR}/ports.conf`],
      ['IncludeOptional sites-enabled/*.conf', `IncludeOptional ${APACHE_DIR}/sites-enabled/*.conf`]]) {
      assert.ok(main.includes(`\n${from}\n`), `Debian's apache2.conf has no line "${from}"`);
      main = main.replace(`\n${from}\n`, `\n${to}\n`);
    }
    fs.writeFileSync(`${dir}/apache2.conf`, main);
    const ports = fs.readFileSync(this.root.hostPath('/etc/apache2/ports.conf'), 'utf8').split('\n').map((l) => {
      const m = /^(\s*)Listen\s+(\S+)/.exec(l);
      if (!m) return l;
      return m[2] === '80' ? `${m[1]}Listen 127.0.0.1:${this.port}` : `${m[1]}# (left out by the test) ${l.trim()}`;
    }).join('\n');
    fs.writeFileSync(`${dir}/ports.conf`, ports);
    const enabled = this.root.hostPath('/etc/apache2/sites-enabled');
    for (const f of fs.readdirSync(enabled).filter((x) => x.endsWith('.conf'))) {
      const text = fs.readFileSync(`${enabled}/${f}`, 'utf8');
      const moved = text.replace(/<VirtualHost \*:80>/g, `<VirtualHost *:${this.port}>`);
      assert.doesNotMatch(moved, /<VirtualHost (?!\*:\d+>)/, `${f}: a VirtualHost the test does not know how to move`);
      fs.writeFileSync(`${dir}/sites-enabled/${f}`, moved);
    }
    const script = ['. /etc/apache2/envvars',
      `export APACHE_PID_FILE=${APACHE_DIR}/apache2.pid APACHE_RUN_DIR=${APACHE_DIR}/run`,
      `export APACHE_LOCK_DIR=${APACHE_DIR}/lock APACHE_LOG_DIR=${APACHE_DIR}/log`,
      `exec apache2 -d /etc/apache2 -f ${APACHE_DIR}/apache2.conf -DFOREGROUND`].join('\n');
    this.web = this.root.spawn('apache2', ['/bin/sh', '-c', script]);
    await this.webUp(`${APACHE_DIR}/log/error.log`);
  }

  /** listen 80 -> 127.0.0.1:port; IPv6 listen lines out; any other listen is an error. */
  onTestPort(text, file) {
    return text.split('\n').map((line) => {
      const m = /^(\s*)listen\s+(\S+)(.*);\s*$/.exec(line);
      if (!m) return line;
      if (m[2] === '80') return `${m[1]}listen 127.0.0.1:${this.port}${m[3]};`;
      if (m[2] === '[::]:80') return `${m[1]}# (IPv6 left out by the test) ${line.trim()}`;
      return assert.fail(`${file}: a listen line the test does not know how to move: ${line.trim()}`);
    }).join('\n');
  }

  async stop() {
    if (this.socketProc) await this.socketProc.stop();
    if (this.web) await this.web.stop();
    if (this.root) await this.root.stop();
    if (this.emulator) await this.emulator.proc.stop();
  }
}

/**
 * The deployment is policy-aware: the settings as shipped do not hand an
 * anonymous caller everything, and "Ably" holds the token to what it says.
 * ably-js Realtime, authorized through the web server, attaches to a
 * channel the capability lets it subscribe to, and is refused (40160) on
 * one it names nowhere.
 */
async function policyHolds(details, target) {
  const cap = JSON.parse(details.capability);
  assert.notDeepEqual(cap, { '*': ['*'] }, 'the deployment hands every anonymous caller a token for everything');
  const client = new Ably.Realtime({
    authUrl: target.tokenUrl, endpoint: '127.0.0.1', port: target.emuPort, tls: false,
    useBinaryProtocol: false, transports: ['web_socket'], logLevel: 0,
  });
  try {
    await client.connection.once('connected');
    const readable = Object.keys(cap).find((r) => !r.startsWith('[') && cap[r].some((op) => op === '*' || op === 'subscribe'));
    if (readable) await client.channels.get(readable.replace(/\*/g, 'guide')).attach();
    const refused = await rejection(client.channels.get(`guide-granted-nowhere-${process.pid}`).attach());
    assert.equal(refused.code, 40160, `attaching to a channel the capability does not name: ${refused.message}`);
  } finally {
    client.close();
  }
}

/** The lines of the scratch root's account databases that name account (as user or group). */
function accountLeft(root, account) {
  const out = [];
  for (const f of ['passwd', 'group', 'shadow', 'gshadow', 'subuid', 'subgid']) {
    const file = root.hostPath(`/etc/${f}`);
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (line.split(':')[0] === account) out.push(`/etc/${f}: ${line.split(':')[0]}:...`);
    }
  }
  return out;
}

/** GET a path through the test's nginx. */
async function get(port, urlPath) {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`);
  return { status: res.status, type: res.headers.get('content-type') || '', body: Buffer.from(await res.arrayBuffer()) };
}

for (const guide of GUIDES) {
  const GUIDE = guide.file;
  const blocks = guideBlocks(path.join(repoRoot, GUIDE));

  test(`${GUIDE}: every step is marked, numbered without a gap, on every path`, async () => {
    const paths = guidePaths(blocks);
    assert.deepEqual(paths, guide.paths);
    for (const p of paths) {
      blocksFor(blocks, 'step', p, GUIDE);
      blocksFor(blocks, 'undo', p, GUIDE);
    }
    const withKey = blocks.filter((b) => b.text.includes(KEY_PLACEHOLDER));
    assert.equal(withKey.length, 1, `the key placeholder ${KEY_PLACEHOLDER} should be in exactly one block`);
    assert.ok(!blocks.some((b) => /(^|[;&|]\s*)sudo\s/m.test(b.text)), 'a step uses sudo: the reader is root');
    // The guide names the packages its step 1 installs.
    const text = fs.readFileSync(path.join(repoRoot, GUIDE), 'utf8');
    const { stdout } = await runCommand(path.join(repoRoot, 'scripts/install-deps.sh'), ['--build', '--list']);
    for (const pkg of [...stdout.split('\n').filter(Boolean), ...guide.webPackages]) {
      assert.ok(text.includes(pkg), `${GUIDE} does not name the package ${pkg}, which its step 1 installs`);
    }
  });

  for (const pathName of guide.paths) {
    test(`${GUIDE}${pathName ? `, path ${pathName}` : ''}: a root shell's literal run works, runs unprivileged, and removes everything`,
      { skip: !isRoot && 'needs root: the guide is for a root shell (accounts, /etc, /run, mount namespaces)', timeout: 300000 },
      async (t) => {
        const run = new GuideRun(guide, pathName);
        try {
          await run.start();
          for (const b of blocksFor(blocks, 'step', pathName, GUIDE)) await run.runBlock(b);
          assert.ok(run.settingsPatched, `no ${SETTINGS} after the steps`);
          assert.ok(run.web, `the steps never (re)loaded ${guide.server}`);

          // ably-js through the web server: a token from the endpoint, used against "Ably".
          const tokenUrl = `http://127.0.0.1:${run.port}/request-token`;
          const log = [];
          const rest = ablyClient({ tokenUrl, emuPort: run.emulator.port }, log);
          const details = await rest.auth.authorize();
          assert.equal(typeof details.token, 'string');
          assert.ok(details.expires > Date.now(), 'token already expired');
          t.diagnostic(`capability for an anonymous caller: ${details.capability}`);
          await policyHolds(details, { tokenUrl, emuPort: run.emulator.port });

          // The page, with ably-js in it.
          const page = await get(run.port, '/');
          assert.equal(page.status, 200);
          assert.match(page.type, /^text\/html/);
          const ablyJs = await get(run.port, '/vendor/ably.min.js');
          assert.equal(ablyJs.status, 200, 'the page cannot load ably-js');
          assert.ok(ablyJs.body.equals(fs.readFileSync(path.join(repoRoot, 'node_modules/ably/build/ably.min.js'))));

          // Every ably-token process runs as the service's account.
          const uid = run.root.uidOf(guide.account);
          assert.ok(uid !== null && uid !== 0, `no account ${guide.account}`);
          const procs = run.root.processes('ably-token');
          t.diagnostic(`ably-token processes: ${procs.map((p) => `${p.pid} uid ${p.uids.join('/')}`).join(', ')}`);
          assert.ok(procs.length >= guide.minProcs, `expected at least ${guide.minProcs} ably-token processes, found ${procs.length}`);
          for (const p of procs) assert.deepEqual(p.uids, [uid, uid, uid], `process ${p.pid} runs as uid ${p.uids}`);

          if (guide.server === 'nginx') {
            // The installed example, as it lies.
            const nt = await run.root.sh('nginx -t -c /usr/local/share/ably-token/nginx.conf.example');
            assert.equal(nt.code, 0, `nginx -t on the installed nginx.conf.example:\n${nt.stderr}`);
          }

          // A second run of the settings steps keeps an edited settings file as it is.
          const edited = run.root.hostPath(SETTINGS);
          fs.appendFileSync(edited, '# edited by hand after the guide (deploy-guides.test.mjs)\n');
          const before = fs.readFileSync(edited, 'utf8');
          // (the steps that write it: naming it other than as the program's --config)
          const settingsSteps = blocksFor(blocks, 'step', pathName, GUIDE)
            .filter((b) => b.text.split(`--config ${SETTINGS}`).join('').includes(SETTINGS));
          assert.ok(settingsSteps.length > 0, `no step writes ${SETTINGS}`);
          for (const b of settingsSteps) await run.runBlock(b);
          assert.equal(fs.readFileSync(edited, 'utf8'), before, `running the steps again changed ${SETTINGS}`);

          for (const b of blocksFor(blocks, 'undo', pathName, GUIDE)) await run.runBlock(b);
          if (run.web) await run.web.stop(); // the stand-in for the machine's own web server
          run.web = null;
          const left = run.root.pids().map((pid) => {
            try { return `${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')}`; } catch { return `${pid}`; }
          });
          assert.deepEqual(left, [], 'processes left after the removal steps');
          const allowed = [...ALLOWED_LEFTOVERS, ...guide.leftovers];
          const changes = run.root.changes().filter((c) => !allowed.some(([re]) => re.test(c.path)));
          assert.deepEqual(changes, [], 'left behind (or removed) by the guide, compared with the machine before it');
          if (guide.makesAccount) assert.deepEqual(accountLeft(run.root, guide.account), [], `the account ${guide.account} is still there`);
        } catch (e) {
          e.message += `\n--- the run so far:\n${run.log.join('\n')}`.split(keySecret).join('<secret>');
          throw e;
        } finally {
          await run.stop();
        }
      });
  }
}
