/**
 * Issue 16 item 1: Ctrl-C in a terminal reaches the whole process group. tanalyze runs the
 * embedded server on the shipped `identity` model in a process group of its own (as a shell
 * would start it), and the test sends SIGINT to that whole group at seeded random moments,
 * ten times or more, resuming after each. The run must end with the trial list of an
 * uninterrupted run: every trial measured once, none failed by the interruption, and no
 * instance process left behind by any of the interrupted invocations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MAIN } from './run-cli.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { mulberry32 } from '../../src/util/random.js';

const INTERRUPTS = 10;
const SEED = 16;
// A small deterministic space, short windows: a configuration takes a few seconds.
const ARGS = [
  '--model', 'identity', '--model-repository', 'repo', '--p99', '5s', '--search', 'grid', '--budget', '13',
  '--max-batch-sizes', '1,4', '--queue-delays', '0,100', '--instance-counts', '1,2,3', '--max-concurrency', '2',
  '--window', '100ms', '--max-windows', '4', '--window-requests', '0',
];

interface Invocation {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Instance processes seen while it ran (children of tanalyze). */
  children: number[];
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * tanalyze as a terminal's job: its own process group. With `interruptAfterMs`, SIGINT goes to
 * the whole group that long after the server is up (the search's signal handling is in place
 * then; before it, node's default ends the process, which tells nothing about trials).
 */
function invoke(cwd: string, interruptAfterMs: number | null): Promise<Invocation> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...ARGS], { cwd, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timer: NodeJS.Timeout | null = null;
    child.stderr!.on('data', (d) => {
      stderr += d;
      if (interruptAfterMs !== null && timer === null && /\nserver: /.test(stderr)) {
        timer = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGINT');
          } catch {
            /* already finished */
          }
        }, interruptAfterMs);
      }
    });
    const seen = new Set<number>();
    const poll = setInterval(() => childrenOf(child.pid!).forEach((p) => seen.add(p)), 150);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stderr, children: [...seen] });
    });
  });
}

interface StoredTrial { i: number; key: string; state: string; attempt: number; interrupted: number; error: string | null }

function storedRuns(cwd: string): { id: string; status: string }[] {
  const db = new Database(join(cwd, 'reports', 'tanalyze.db'), { readonly: true });
  try {
    return db.prepare('SELECT id, status FROM runs').all() as { id: string; status: string }[];
  } finally {
    db.close();
  }
}

function storedTrials(cwd: string): StoredTrial[] {
  const db = new Database(join(cwd, 'reports', 'tanalyze.db'), { readonly: true });
  try {
    return db.prepare('SELECT trial_index AS i, config_key AS key, state, attempt, interrupted, error FROM trials ORDER BY trial_index').all() as StoredTrial[];
  } finally {
    db.close();
  }
}

function workdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-kill-'));
  cpSync(fromPackageRoot('examples', 'model_repository', 'identity'), join(dir, 'repo', 'identity'), { recursive: true });
  return dir;
}

async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const until = Date.now() + ms;
  while (Date.now() < until && pids.some(alive)) await new Promise((r) => setTimeout(r, 100));
  return pids.filter(alive);
}

test(`SIGINT to the whole process group at ${INTERRUPTS} random moments, resumed each time, gives the trials of an uninterrupted run`, { timeout: 420_000 }, async (t) => {
  const reference = workdir();
  const interrupted = workdir();
  const random = mulberry32(SEED);
  // The uninterrupted run goes on beside the interrupted ones: only the list of trials and
  // their states are compared (a 5 s target every configuration meets), never the figures.
  const referenceRun = invoke(reference, null);

  let interrupts = 0;
  let handled = 0;
  const log: string[] = [];
  for (let attempt = 0; interrupts < INTERRUPTS && attempt < 40; attempt++) {
    const runs = attempt === 0 ? [] : storedRuns(interrupted);
    if (runs.length && runs.every((r) => r.status === 'complete')) break;
    // Anywhere from the server's start to well into a configuration.
    const at = Math.round(random() * 4000);
    const r = await invoke(interrupted, at);
    interrupts++;
    const finished = storedRuns(interrupted).length ? storedTrials(interrupted).filter((x) => x.state !== 'RUNNING').length : 0;
    log.push(`interrupt ${interrupts} ${at} ms after the server was up: ${r.signal ?? `exit ${r.code}`}, ${r.children.length} instance processes seen, ${finished} trials stored`);
    if (r.code === 130) handled++;
    assert.ok(r.code === 130 || r.code === 0, `interrupt at ${at} ms: ${r.signal ?? `exit ${r.code}`}\n${r.stderr}`);
    if (r.code === 130) assert.match(r.stderr, /stopping after the current configuration/);
    assert.doesNotMatch(r.stderr, /internal error/);
    const left = await waitGone(r.children, 5000);
    assert.deepEqual(left, [], `interrupt at ${at} ms left instance processes ${left.join(', ')} behind`);
  }
  // The run may have been completed by an invocation that the signal reached too late; then
  // one more invocation would start a new run, so it resumes only an unfinished one.
  if (!storedRuns(interrupted).every((r) => r.status === 'complete')) {
    const last = await invoke(interrupted, null);
    assert.equal(last.code, 0, last.stderr);
  }
  assert.ok(interrupts >= INTERRUPTS, `only ${interrupts} interrupts landed before the run was complete:\n${log.join('\n')}`);

  t.diagnostic(log.join('\n'));
  // Every signal reached a search (a run that finished first exits 0).
  assert.ok(handled >= INTERRUPTS / 2, `only ${handled} interrupts reached a running search:\n${log.join('\n')}`);
  const ref = await referenceRun;
  assert.equal(ref.code, 0, ref.stderr);
  const runs = storedRuns(interrupted);
  assert.equal(runs.length, 1, 'every invocation resumed the one run');
  assert.equal(runs[0]!.status, 'complete');
  const got = storedTrials(interrupted);
  const want = storedTrials(reference);
  assert.deepEqual(got.map((t) => [t.i, t.key, t.state]), want.map((t) => [t.i, t.key, t.state]), log.join('\n'));
  for (const t of got) {
    assert.notEqual(t.state, 'FAILED', `trial ${t.i} failed: ${t.error}`);
    assert.equal(t.interrupted, 0, `trial ${t.i} was cut short`);
    assert.equal(t.attempt, 1, `trial ${t.i} was measured ${t.attempt} times: an interruption spoiled it\n${log.join('\n')}`);
  }
});
