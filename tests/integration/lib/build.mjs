// Running `make` from a test without disturbing the build under test: a
// build directory is reused only when `make -q` says it is up to date (so
// nothing is compiled into it, with whatever flags), otherwise the test
// builds into its own scratch directory.

import path from 'node:path';
import { repoRoot, run } from './stack.mjs';

/** The environment for a sub-make: no jobserver or variables from a parent make. */
export function makeEnv() {
  const env = { ...process.env };
  for (const v of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'DESTDIR', 'PREFIX', 'BUILD', 'CFLAGS', 'LDFLAGS']) delete env[v];
  return env;
}

/** make -C repo BUILD=build ARGS...; rejects with make's output on failure. */
export function make(build, ...args) {
  return run('make', ['-C', repoRoot, `BUILD=${build}`, ...args], { env: makeEnv(), maxBuffer: 16 << 20 });
}

/** Is `build` (a directory, absolute or relative to the repo) up to date? */
export async function upToDate(build) {
  try {
    await run('make', ['-C', repoRoot, '-q', `BUILD=${build}`, 'all'], { env: makeEnv() });
    return true;
  } catch {
    return false;
  }
}

/**
 * A build directory holding an up-to-date `make all`: `preferred` when it
 * already is, else scratch/build, built now.
 */
export async function buildDir(preferred, scratch) {
  const p = path.resolve(repoRoot, preferred);
  if (await upToDate(p)) return p;
  const own = path.join(scratch, 'build');
  await make(own, '-j2', 'all');
  return own;
}
