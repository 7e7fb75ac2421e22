// A scratch copy of this machine to run a deployment guide in as root: an
// overlay over / (the machine read-only below, a tmpfs on top) in a mount
// namespace of its own, with /proc, /dev and /sys bound in. Commands run in
// it with nsenter + chroot, so whatever they write (/etc, /usr/local, /run,
// accounts) lands in the tmpfs and nowhere else; the namespace, and with it
// the tmpfs, goes away when its last process ends. The network is the
// machine's: servers in it are reached on 127.0.0.1.
//
//   const root = await ScratchRoot.start();
//   await root.sh('adduser --system x', { cwd: '/' });
//   root.changes()   // what differs from the machine: the overlay's upper layer
//   await root.stop();
//
// Needs root (mount namespaces, overlayfs). Every process started in it is
// stopped by PID in stop(): the ones this module spawned, and any other
// process found in the namespace (a guide's own background job).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Proc, sleep } from './stack.mjs';

// How long the namespace outlives a test process that was killed outright.
const HOLD_SECONDS = 900;

/** The mount namespace of a process, as its /proc link text, or null. */
function mountNs(pid) {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

export class ScratchRoot {
  /** Mount the overlay in a new namespace held by a sleeping process. */
  static async start() {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ably-token-scratchroot-'));
    const script = [
      'set -e',
      `mount -t tmpfs -o mode=0755,size=2g scratch "${dir}"`,
      `mkdir "${dir}/upper" "${dir}/work" "${dir}/root"`,
      `mount -t overlay scratch -o lowerdir=/,upperdir="${dir}/upper",workdir="${dir}/work" "${dir}/root"`,
      `for d in proc dev sys; do mount --rbind /$d "${dir}/root/$d"; done`,
      'echo ready',
      `exec sleep ${HOLD_SECONDS}`,
    ].join('\n');
    const holder = new Proc('scratch root', 'unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {});
    const end = Date.now() + 10000;
    while (!/^ready$/m.test(holder.out)) {
      if (holder.exit || Date.now() > end) {
        await holder.stop('SIGKILL');
        await fsp.rm(dir, { recursive: true, force: true });
        throw new Error(`could not make the scratch root (overlayfs over / in a mount namespace):\n${holder.describe()}`);
      }
      await sleep(20);
    }
    return new ScratchRoot(dir, holder);
  }

  constructor(dir, holder) {
    this.dir = dir;
    this.holder = holder;
    this.ns = mountNs(holder.pid);
    this.procs = [];
  }

  /** A path inside the scratch root, as this process can reach it. */
  hostPath(p) {
    return `/proc/${this.holder.pid}/root${this.dir}/root${p}`;
  }

  /** The overlay's upper layer, as this process can reach it. */
  get upperPath() {
    return `/proc/${this.holder.pid}/root${this.dir}/upper`;
  }

  /** argv that runs argv inside the scratch root. */
  command(argv) {
    return ['nsenter', `--target=${this.holder.pid}`, '--mount', '--', 'chroot', `${this.dir}/root`, ...argv];
  }

  /**
   * Run a shell script in it with `bash -e -o pipefail` in cwd; resolves to
   * {code, stdout, stderr} (never rejects on a non-zero exit).
   */
  sh(script, { cwd = '/', env = {}, timeout = 120000 } = {}) {
    const full = `cd ${JSON.stringify(cwd)}\n${script}`;
    const argv = this.command(['/bin/bash', '-e', '-o', 'pipefail', '-c', full]);
    return new Promise((resolve) => {
      const child = spawn(argv[0], argv.slice(1), { env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
      child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
      // 'exit', not 'close': a background job the script started may keep
      // a copy of the pipes open.
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        setTimeout(() => resolve({ code: code === null ? `signal ${signal}` : code, stdout, stderr }), 50);
      });
    });
  }

  /** A long-running process inside it (a Proc, stopped in stop()). */
  spawn(name, argv, { env = {} } = {}) {
    const full = this.command(argv);
    const p = new Proc(name, full[0], full.slice(1), { env: { ...cleanEnv(), ...env } });
    this.procs.push(p);
    return p;
  }

  /** PIDs of the processes in its namespace but the holder. */
  pids() {
    const out = [];
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(e) || Number(e) === this.holder.pid) continue;
      if (mountNs(e) === this.ns) out.push(Number(e));
    }
    return out;
  }

  /** {pid, comm, uid} of its processes named comm. */
  processes(comm) {
    const out = [];
    for (const pid of this.pids()) {
      try {
        const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        const name = /^Name:\s*(.*)$/m.exec(status)[1];
        if (comm && name !== comm) continue;
        const uids = /^Uid:\s*(\d+)\s+(\d+)\s+(\d+)/m.exec(status).slice(1).map(Number);
        out.push({ pid, comm: name, uids });
      } catch { /* gone meanwhile */ }
    }
    return out;
  }

  /** The uid of a user in the scratch root's own /etc/passwd, or null. */
  uidOf(user) {
    const passwd = fs.readFileSync(this.hostPath('/etc/passwd'), 'utf8');
    const line = passwd.split('\n').find((l) => l.split(':')[0] === user);
    return line ? Number(line.split(':')[2]) : null;
  }

  /**
   * What differs from the machine, from the upper layer: [{path, what}],
   * what = 'new' | 'changed' | 'removed'. A file or link copied up with the
   * machine's bytes (and mode), or a directory the machine has, is no
   * difference.
   */
  changes() {
    const upper = this.upperPath;
    const out = [];
    const walk = (rel) => {
      for (const e of fs.readdirSync(path.join(upper, rel), { withFileTypes: true })) {
        const r = path.join(rel, e.name);
        const up = path.join(upper, r);
        const st = fs.lstatSync(up);
        let low = null;
        try { low = fs.lstatSync(r); } catch { /* not on the machine */ }
        if (st.isCharacterDevice() && st.rdev === 0) {
          if (low) out.push({ path: r, what: 'removed' });
        } else if (st.isDirectory()) {
          if (!low || !low.isDirectory()) out.push({ path: r, what: 'new' });
          walk(r);
        } else if (!low) {
          out.push({ path: r, what: 'new' });
        } else if (st.isSymbolicLink()) {
          if (!low.isSymbolicLink() || fs.readlinkSync(up) !== fs.readlinkSync(r)) out.push({ path: r, what: 'changed' });
        } else if (!low.isFile() || (st.mode & 0o7777) !== (low.mode & 0o7777) ||
                   !fs.readFileSync(up).equals(fs.readFileSync(r))) {
          out.push({ path: r, what: 'changed' });
        }
      }
    };
    walk('/');
    return out;
  }

  /** Stop every process in it (spawned here or found there) by PID, then the holder. */
  async stop() {
    for (const p of this.procs) await p.stop();
    for (let round = 0; round < 2; round++) {
      const left = this.pids();
      if (left.length === 0) break;
      for (const pid of left) {
        try { process.kill(pid, round === 0 ? 'SIGTERM' : 'SIGKILL'); } catch { /* gone */ }
      }
      for (let i = 0; i < 40 && this.pids().length; i++) await sleep(50);
    }
    await this.holder.stop('SIGKILL');
    await fsp.rm(this.dir, { recursive: true, force: true });
  }
}

/** What a root shell on the machine would have: no test variables, no keys. */
function cleanEnv() {
  return { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C', HOME: '/root',
    TERM: 'dumb' };
}
