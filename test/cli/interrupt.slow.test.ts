/**
 * Ctrl-C and resume through the real CLI on the embedded server: the first SIGINT stops
 * after the current configuration and writes the report; the same command again resumes
 * that run (and says so) without measuring finished configurations again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
// Short configurations (load up to concurrency 4, 250 ms windows): what is tested is the
// stop and the resume, and on a shared 2-core CI machine a full load search per
// configuration took this test past its timeout.
const ARGS = ['--model', 'tiny_resnet', '--p99', '200ms', '--profile', 'quick', '--budget', '4',
  '--max-concurrency', '4', '--window', '250ms', '--window-requests', '0'];

function start(cwd: string, extra: string[] = []) {
  const child = spawn(process.execPath, [MAIN, ...ARGS, ...extra], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null }>((resolve) => child.on('close', (code) => resolve({ code })));
  return { child, out: () => stdout, err: () => stderr, done };
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

test('first Ctrl-C finishes the current configuration, saves, reports and exits 130; the same command resumes', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-int-'));
  const first = start(dir);
  // Interrupt while the second configuration is being measured.
  const deadline = Date.now() + 120_000;
  while (!/\[2\/4\]|\[1\/4\][^\n]*\n/.test(first.err()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const instancePids = childrenOf(first.child.pid!);
  first.child.kill('SIGINT');
  const { code } = await first.done;
  assert.equal(code, 130, first.err());
  assert.match(first.err(), /stopping after the current configuration/);
  assert.match(first.out(), /Report: /);
  for (const pid of instancePids) assert.throws(() => process.kill(pid, 0), `child ${pid} was left behind`);

  const db = new Database(join(dir, 'reports', 'tanalyze.db'), { readonly: true });
  const run = db.prepare('SELECT id, status FROM runs').get() as { id: string; status: string };
  const doneBefore = (db.prepare("SELECT COUNT(*) AS n FROM trials WHERE run_id = ? AND state != 'RUNNING'").get(run.id) as { n: number }).n;
  db.close();
  assert.equal(run.status, 'interrupted');
  assert.ok(doneBefore >= 1 && doneBefore < 4, `${doneBefore} trials finished before the stop`);
  assert.ok(existsSync(join(dir, 'reports', run.id, 'index.html')));

  const second = start(dir);
  const r2 = await second.done;
  assert.equal(r2.code, 0, second.err());
  assert.match(second.err(), new RegExp(`Resuming run ${run.id}`));
  const db2 = new Database(join(dir, 'reports', 'tanalyze.db'), { readonly: true });
  const trials = db2.prepare('SELECT trial_index AS i, attempt FROM trials WHERE run_id = ? ORDER BY trial_index').all(run.id) as { i: number; attempt: number }[];
  const runs = (db2.prepare('SELECT COUNT(*) AS n FROM runs').get() as { n: number }).n;
  db2.close();
  assert.equal(runs, 1, 'no second run was made');
  assert.deepEqual(trials.map((t) => t.i), [0, 1, 2, 3]);
  assert.ok(trials.every((t) => t.attempt === 1), 'no finished trial was measured again');
});

test('a second Ctrl-C stops at once and leaves no process behind', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-int2-'));
  const run = start(dir);
  const deadline = Date.now() + 60_000;
  while (!/\[1\/4\]/.test(run.err()) && childrenOf(run.child.pid!).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 500));
  const instancePids = childrenOf(run.child.pid!);
  run.child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  run.child.kill('SIGINT');
  const { code } = await run.done;
  assert.equal(code, 130, run.err());
  assert.ok(Date.now() - t0 < 5000, 'stopped at once');
  assert.match(run.err(), /stopping now/);
  // Instances exit when their parent's IPC channel closes; give them a moment to notice.
  const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
  for (let i = 0; i < 50 && instancePids.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of instancePids) assert.ok(!alive(pid), `child ${pid} was left behind`);
});
