/**
 * ManagedProcess (src/runner/launchers/local.ts) runs tritonserver in its own process group.
 * When the leader dies (a crash, kill -9), what it started in the group (Triton's Python
 * backend stubs) must not outlive it. Real processes: a shell that starts a child in its
 * group, then kills itself with SIGKILL, as a crashing server would leave its stubs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ManagedProcess } from '../../src/runner/launchers/local.js';

/** Running, not a zombie: an orphan killed here is reparented, and its reaping is not ours to wait for. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

test('ManagedProcess: a leader killed with SIGKILL takes the rest of its process group with it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-group-'));
  const pidFile = join(dir, 'child.pid');
  // The child ignores SIGTERM and SIGHUP, like a stub that does not notice its parent is gone.
  const leader = spawn('bash', ['-c', `trap '' TERM HUP; sleep 60 & echo $! > ${pidFile}; sleep 0.2; kill -9 $$`], { detached: true, stdio: 'ignore' });
  const proc = new ManagedProcess(leader, 'leader');
  await proc.exited;
  assert.equal(proc.describeExit(), 'killed by SIGKILL');
  assert.ok(existsSync(pidFile), 'the child was started');
  const child = Number(readFileSync(pidFile, 'utf8'));
  // SIGKILL is delivered at once, but the kernel reaps asynchronously: allow it a moment.
  for (let i = 0; i < 50 && alive(child); i++) await new Promise((r) => setTimeout(r, 20));
  const left = alive(child);
  if (left) process.kill(child, 'SIGKILL');
  assert.equal(left, false, `the group's other process (pid ${child}) outlived its leader`);
});
