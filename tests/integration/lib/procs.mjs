// Small helpers for tests that watch the binary's processes.
//
//   workerPids(parentPid)        the pids of its worker processes (its children)
//   await until(what, fn, ms)    poll fn (sync or async) every 25 ms until it is
//                                truthy; fail the test naming `what` after ms

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

export function workerPids(parentPid) {
  try {
    return execFileSync('pgrep', ['-P', String(parentPid)], { encoding: 'utf8' })
      .trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];  // pgrep exits 1 when there are none
  }
}

export async function until(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${what}`);
}
