/**
 * Issue 16: misuse and failures get a clear error and the right exit code (items 4, 5, 7, 8,
 * 9, 10). Commands run in-process on real SQLite files and real files; a few cases that are
 * about the process itself (stdout on a full device, --out-dir) run the compiled CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { findModel } from '../../src/cli/serving.js';
import { loadProfile, resolvePlanSourced, type RunPlan } from '../../src/cli/plan.js';
import { defaultOf } from '../../src/cli/options.js';
import { buildProgram } from '../../src/cli/program.js';
import { exportLandscapeCommand } from '../../src/cli/commands/export-landscape.js';
import { exportBaselineCommand } from '../../src/cli/commands/baseline-export.js';
import { compareCommand } from '../../src/cli/commands/compare.js';
import { reportCommand } from '../../src/cli/commands/report.js';
import { TanalyzeError, UsageError } from '../../src/domain/errors.js';
import { exitCodeFor, exitCodeForRun } from '../../src/domain/exit-codes.js';
import { formatRunSummary, type RunSummary } from '../../src/report/summary.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { buildFixtureDb, FIXTURE_RUN_ID } from '../report/fixture-db.js';
import { recordingIO } from './fake-io.js';
import { MAIN } from './run-cli.js';

const tmp = (label: string) => mkdtempSync(join(tmpdir(), `tanalyze-safety-${label}-`));

function repoWithIdentity(): string {
  const repo = join(tmp('repo'), 'models');
  cpSync(fromPackageRoot('examples', 'model_repository', 'identity'), join(repo, 'identity'), { recursive: true });
  return repo;
}

const planFor = (repo: string, model: string) => ({ modelRepository: repo, model }) as RunPlan;

// ---- item 4: a broken config.pbtxt of another model ----

test('item 4: a typo in another model\'s config.pbtxt does not stop tuning this model', async () => {
  const repo = repoWithIdentity();
  mkdirSync(join(repo, 'broken', '1'), { recursive: true });
  writeFileSync(join(repo, 'broken', 'config.pbtxt'), 'name: "broken"\nmax_batch_size: 8\ninput [ { name: "x" data_typo: TYPE_FP32 dims: [ 4 ] }\n');
  const model = await findModel(planFor(repo, 'identity'));
  assert.equal(model.name, 'identity');
  assert.equal(model.config.max_batch_size, 64);
  // A model that is not there still lists the others by name, without parsing them.
  await assert.rejects(findModel(planFor(repo, 'nope')), (e: unknown) => e instanceof UsageError && /models there: broken, identity/.test(e.message));
});

// ---- item 8: the model repository and the model ----

test('item 8: --model-repository naming a file is a usage error that says so', async () => {
  const file = join(tmp('file'), 'repo.txt');
  writeFileSync(file, 'not a folder');
  await assert.rejects(findModel(planFor(file, 'identity')), (e: unknown) => e instanceof UsageError && e.message.includes(`--model-repository: '${file}' is a file, not a folder`) && exitCodeFor(e) === 64);
});

test('item 8: max_batch_size -1 cannot be loaded at all: exit 3 before any run, with the file named', async () => {
  const repo = repoWithIdentity();
  const file = join(repo, 'identity', 'config.pbtxt');
  writeFileSync(file, readFileSync(file, 'utf8').replace('max_batch_size: 64', 'max_batch_size: -1'));
  await assert.rejects(findModel(planFor(repo, 'identity')), (e: unknown) => e instanceof TanalyzeError && e.message.includes(file) && /max_batch_size must be >= 0, got -1/.test(e.message) && exitCodeFor(e) === 3);
});

test('item 8: a run where every configuration failed exits 3 (the model or server is broken), not 2', () => {
  assert.equal(exitCodeForRun({ interrupted: false, recommended: false, trialStates: ['FAILED', 'FAILED', 'FAILED', 'FAILED', 'FAILED'] }), 3);
  assert.equal(exitCodeForRun({ interrupted: false, recommended: false, trialStates: ['FAILED', 'SKIPPED'] }), 3);
  assert.equal(exitCodeForRun({ interrupted: false, recommended: false, trialStates: ['FAILED', 'INFEASIBLE'] }), 2);
  assert.equal(exitCodeForRun({ interrupted: true, recommended: false, trialStates: ['FAILED'] }), 130);
  assert.equal(exitCodeForRun({ interrupted: false, recommended: true, trialStates: ['COMPLETE'] }), 0);
});

// ---- item 5 and --time-budget: settings checked against the machine ----

const SMALL_MACHINE = { cores: 2, memoryBytes: 4 * 2 ** 30 };

function planProblems(flags: Record<string, unknown>): string[] {
  try {
    resolvePlanSourced({ model: 'identity', p99: '50ms', ...flags }, {}, loadProfile(defaultOf<string>('profile')), tmp('plan'), SMALL_MACHINE);
    return [];
  } catch (e) {
    assert.ok(e instanceof UsageError, String(e));
    return e.problems;
  }
}

test('item 5: resource flags beyond the machine are refused, naming the flag, the value and the limit', () => {
  const problems = planProblems({ loadWorkers: '200', instanceCounts: '1,1000000', maxConcurrency: '100000' });
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(problems[0]!, /^--load-workers: 200 load workers is more than this machine's 2 cores .*accepted: 0 to 2$/);
  assert.match(problems[1]!, /^--instance-counts: 1000000 instances is more than this machine runs \(2 cores, 4\.0 GiB memory.*accepted: 1 to 16$/);
  assert.match(problems[2]!, /^--max-concurrency: 100000 requests in flight .*accepted: 1 to 512$/);
  assert.deepEqual(planProblems({ loadWorkers: '2', instanceCounts: '1,16', maxConcurrency: '512' }), []);
  // Replay measures nothing on this machine: its instance counts are the landscape's.
  assert.deepEqual(planProblems({ launch: 'replay', landscape: fromPackageRoot('bench', 'landscapes', 'sim-peaked.csv'), instanceCounts: '1,64' }), []);
});

test('item 8: --time-budget too short to measure one configuration is refused with the minimum', () => {
  const problems = planProblems({ timeBudget: '1ms', window: '500ms' });
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems[0]!, /^--time-budget: 1ms cannot measure one configuration \(.*3 windows of 500ms.*\); accepted: at least \d+/);
});

// ---- items 7, 8 and 9: stored runs read and written safely ----

function fixtureDb(): { dir: string; db: string } {
  const dir = tmp('db');
  const db = join(dir, 'tanalyze.db');
  buildFixtureDb(db);
  buildFixtureDb(db, { runId: '20250114-093012-0002', throughputFactor: 0.98 });
  return { dir, db };
}

test('item 8: export-landscape and baseline export with --out /dev/full fail with exit 3, naming --out', async () => {
  const { dir, db } = fixtureDb();
  const io = recordingIO(dir);
  const full = (e: unknown) => e instanceof TanalyzeError && e.message.startsWith("--out: could not write '/dev/full'") && /ENOSPC/.test(e.message) && exitCodeFor(e) === 3;
  await assert.rejects(exportLandscapeCommand(FIXTURE_RUN_ID, { db, out: '/dev/full' }, io), full);
  await assert.rejects(exportBaselineCommand(FIXTURE_RUN_ID, { db, out: '/dev/full' }, io), full);
  assert.ok(statSync('/dev/full').isCharacterDevice(), 'the device is still a device');
});

test('item 7: --out, --junit, --markdown and --html replace a file whole (a new file renamed over it), never truncate it in place', async () => {
  const { dir, db } = fixtureDb();
  const io = recordingIO(dir);
  const paths = ['landscape.csv', 'baseline.json', 'junit.xml', 'summary.md', 'compare.html'].map((f) => join(dir, f));
  for (const p of paths) writeFileSync(p, 'old content');
  const before = paths.map((p) => statSync(p).ino);
  await exportLandscapeCommand(FIXTURE_RUN_ID, { db, out: paths[0] }, io);
  await exportBaselineCommand(FIXTURE_RUN_ID, { db, out: paths[1] }, io);
  await compareCommand(FIXTURE_RUN_ID, '20250114-093012-0002', { db, junit: paths[2], markdown: paths[3], html: paths[4] }, io);
  paths.forEach((p, i) => {
    assert.notEqual(statSync(p).ino, before[i], `${p} was rewritten in place`);
    assert.notEqual(readFileSync(p, 'utf8'), 'old content');
  });
});

test('item 9: report, export-landscape, compare and baseline export only read: no write to the database, even while another process holds its write lock', async () => {
  const { dir, db } = fixtureDb();
  const io = recordingIO(dir);
  // A database as a CI artifact may come: rollback journal, and another connection holding
  // the write lock. Opening it for writing would switch it to WAL (a write, which waits for
  // the lock and fails); opening it read-only changes nothing.
  const writer = new Database(db);
  writer.pragma('journal_mode = DELETE');
  writer.exec('BEGIN IMMEDIATE');
  try {
    assert.equal(await reportCommand(FIXTURE_RUN_ID, { db, out: join(dir, 'r.html') }, io), 0);
    assert.equal(await exportLandscapeCommand(FIXTURE_RUN_ID, { db, out: join(dir, 'l.csv') }, io), 0);
    assert.equal(await exportBaselineCommand(FIXTURE_RUN_ID, { db, out: join(dir, 'b.json') }, io), 0);
    await compareCommand(FIXTURE_RUN_ID, '20250114-093012-0002', { db }, io);
  } finally {
    writer.exec('ROLLBACK');
  }
  assert.equal(writer.pragma('journal_mode', { simple: true }), 'delete', 'a read-only command changed the journal mode');
  writer.close();
});

// ---- item 8: stdout on a full device, --out-dir that cannot be written ----

function runCli(args: string[], cwd: string, stdoutFd: number | 'pipe' = 'pipe'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, stdio: ['ignore', stdoutFd, 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('item 8: stdout on a full device exits 3 with a message, not 1 (which means "regression found")', async () => {
  const { dir, db } = fixtureDb();
  const fd = openSync('/dev/full', 'w');
  try {
    const r = await runCli(['export-landscape', FIXTURE_RUN_ID, '--db', db], dir, fd);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /cannot write to standard output: ENOSPC/);
  } finally {
    closeSync(fd);
  }
});

test('item 8: an --out-dir that cannot be written is exit 3 naming it, and no run is left "running"', async () => {
  const dir = tmp('outdir');
  const notAFolder = join(dir, 'file');
  writeFileSync(notAFolder, 'x');
  const db = join(dir, 'db', 't.db');
  const r = await runCli(['--launch', 'replay', '--landscape', fromPackageRoot('bench', 'landscapes', 'sim-peaked.csv'), '--p99', '30ms', '--budget', '3', '--out-dir', notAFolder, '--db', db], dir);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`--out-dir: cannot write to '${notAFolder}'`));
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  let running: unknown[] = [];
  try {
    const raw = new Database(db, { readonly: true, fileMustExist: true });
    running = raw.prepare("SELECT id FROM runs WHERE status = 'running'").all();
    raw.close();
  } catch {
    /* no database: no run either */
  }
  assert.deepEqual(running, []);
});

// ---- item 10 ----

function program() {
  const stub = async () => 0;
  return buildProgram({ run: stub, plan: stub, report: stub, compare: stub, exportBaseline: stub, regress: stub, exportLandscape: stub }, () => {});
}

test('item 10: a stray positional argument is named in the error', async () => {
  await assert.rejects(program().parseAsync(['node', 'tanalyze', '--model', 'identity', 'tiny_resnet']), (e: unknown) => e instanceof UsageError && /unexpected argument 'tiny_resnet': tanalyze takes no positional arguments/.test(e.message));
  await assert.rejects(program().parseAsync(['node', 'tanalyze', 'report', 'latest', 'extra']), (e: unknown) => e instanceof UsageError && /unexpected argument 'extra': tanalyze report takes <run> only/.test(e.message));
});

test('item 10: --resume latest --fresh is a usage error', async () => {
  const { resolveRunPlan } = await import('../../src/cli/resume.js');
  await assert.rejects(resolveRunPlan({ resume: 'latest', fresh: true }, recordingIO(tmp('resume'))), (e: unknown) => e instanceof UsageError && /--resume latest and --fresh contradict each other/.test(e.message));
});

test('item 10: a summary of no configurations reads "Measured 0 configurations in", with no empty parentheses', () => {
  const summary = { trials: 0, trials_by_state: {}, wall_s: 1, stop_reason: 'interrupted', target_p99_ms: 50, recommended: null, default: null, report_html: '/x/index.html', config_pbtxt: null, csv: null } as unknown as RunSummary;
  const text = formatRunSummary(summary);
  assert.match(text, /Measured 0 configurations in 1 s; stopped: interrupted\./);
  assert.doesNotMatch(text, /\(\)/);
});
