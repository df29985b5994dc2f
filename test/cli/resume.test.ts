/** `tanalyze --resume latest` alone goes on with the stored settings; contradicting flags are named. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../src/cli/commands/run.js';
import { planCommand, type PlanReport } from '../../src/cli/commands/plan.js';
import { resolveRunPlan } from '../../src/cli/resume.js';
import { EXIT_CODES } from '../../src/domain/exit-codes.js';
import { UsageError } from '../../src/domain/errors.js';
import { Store } from '../../src/store/store.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { recordingIO } from './fake-io.js';
import Database from 'better-sqlite3';
import { loadOptionsFor } from '../../src/cli/serving.js';
import type { ServingConfig } from '../../src/domain/serving.js';

async function storedRun() {
  const cwd = mkdtempSync(join(tmpdir(), 'tanalyze-resume-'));
  const landscape = join(cwd, 'resnet.csv');
  writeFileSync(landscape, readFileSync(fromPackageRoot('bench', 'landscapes', 'h100-resnet50-p15.csv'), 'utf8'));
  const db = join(cwd, 'reports', 'tanalyze.db');
  const code = await runCommand({ launch: 'replay', landscape, p99: '15ms', search: 'random', seed: '5', budget: '3', window: '250ms', quiet: true }, recordingIO(cwd));
  assert.equal(code, EXIT_CODES.ok);
  return { cwd, landscape, db };
}

function trialsOf(db: string) {
  const store = Store.open(db);
  try {
    const runs = store.listRuns();
    return { runs: runs.length, trials: store.trials(runs[0]!.id).length, id: runs[0]!.id };
  } finally {
    store.close();
  }
}

test('--resume latest with no other flag goes on with the stored settings; --budget may grow it', async () => {
  const { cwd, db } = await storedRun();
  const before = trialsOf(db);
  assert.equal(before.trials, 3);
  const { plan, resumed } = await resolveRunPlan({ resume: 'latest' }, recordingIO(cwd));
  assert.equal(resumed?.id, before.id);
  assert.equal(plan.targetP99Ms, 15);
  assert.equal(plan.strategy, 'random');
  assert.equal(plan.seed, 5);
  assert.equal(plan.windows.windowMs, 250);
  assert.equal(plan.launch, 'replay');

  const io = recordingIO(cwd);
  assert.equal(await runCommand({ resume: 'latest', budget: '5' }, io), EXIT_CODES.ok, io.err.join(''));
  const after = trialsOf(db);
  assert.deepEqual({ runs: after.runs, trials: after.trials, id: after.id }, { runs: 1, trials: 5, id: before.id });
});

test('flags beside --resume that contradict the stored settings are one usage error naming each; equal ones are accepted', async () => {
  const { cwd } = await storedRun();
  await assert.rejects(resolveRunPlan({ resume: 'latest', p99: '20ms', seed: '9', search: 'grid' }, recordingIO(cwd)), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.equal(e.problems.length, 3, e.problems.join('\n'));
    const text = e.problems.join('\n');
    assert.match(text, /--p99: '20ms' contradicts run \S+'s stored setting '15ms'/);
    assert.match(text, /--seed: '9' contradicts run \S+'s stored setting '5'/);
    assert.match(text, /--search: 'grid' contradicts run \S+'s stored setting 'random'/);
    assert.match(e.hint ?? '', /--fresh/);
    return true;
  });
  const { plan } = await resolveRunPlan({ resume: 'latest', p99: '0.015s', seed: '5', quiet: true }, recordingIO(cwd));
  assert.equal(plan.seed, 5);
});

test('a run stored before --shared-memory existed resumes measuring with none', async () => {
  const { cwd, db } = await storedRun();
  const raw = new Database(db);
  raw.prepare(`UPDATE runs SET plan_json = json_remove(plan_json, '$.load.sharedMemory')`).run();
  assert.equal((raw.prepare(`SELECT json_extract(plan_json, '$.load.sharedMemory') AS s FROM runs`).get() as { s: unknown }).s, null);
  raw.close();
  const { plan } = await resolveRunPlan({ resume: 'latest' }, recordingIO(cwd));
  assert.equal(plan.load.sharedMemory, 'none');
  assert.equal(loadOptionsFor(plan, '127.0.0.1:1', { instanceCount: 1, maxBatchSize: 4 } as ServingConfig).sharedMemory, 'none');
});

test('--resume names a run that is not there: a usage error saying what is', async () => {
  const { cwd } = await storedRun();
  await assert.rejects(resolveRunPlan({ resume: 'nosuchrun' }, recordingIO(cwd)), /--resume: no run 'nosuchrun' in .*accepted: latest/);
  const empty = mkdtempSync(join(tmpdir(), 'tanalyze-resume-none-'));
  await assert.rejects(resolveRunPlan({ resume: 'latest' }, recordingIO(empty)), /--resume: the database '.*' does not exist/);
});

test('plan --resume latest shows the stored settings as coming from the run', async () => {
  const { cwd } = await storedRun();
  const io = recordingIO(cwd);
  assert.equal(await planCommand({ resume: 'latest', json: true }, io), EXIT_CODES.ok);
  const report = JSON.parse(io.out.join('')) as PlanReport;
  assert.ok(report.resumedRun);
  const seed = report.settings.find((s) => s.key === 'seed')!;
  assert.deepEqual({ value: seed.value, source: seed.source }, { value: 5, source: 'stored' });
});
