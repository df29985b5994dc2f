/** `tanalyze plan`: the resolved settings with their sources, the space, the budget, builds and an estimate; nothing started. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planCommand, estimateWallTime, engineBuilds, type PlanReport } from '../../src/cli/commands/plan.js';
import { loadProfile, resolvePlan } from '../../src/cli/plan.js';
import { UsageError } from '../../src/domain/errors.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { recordingIO } from './fake-io.js';

function sourceOf(r: PlanReport, name: string) {
  const s = r.settings.find((x) => x.name === name);
  assert.ok(s, name);
  return s;
}

test('plan --json: every setting with where it came from (flag, environment, profile, default), and nothing is started', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tanalyze-plan-cmd-'));
  const io = recordingIO(cwd, { TANALYZE_SEED: '7' });
  const code = await planCommand({ model: 'tiny_resnet', p99: '40ms', maxBatchSizes: '4,8', json: true }, io);
  assert.equal(code, 0);
  const report = JSON.parse(io.out.join('')) as PlanReport;
  assert.equal(report.kind, 'plan');
  assert.deepEqual(sourceOf(report, '--p99'), { key: 'p99', name: '--p99', value: 40, source: 'flag', where: '--p99' });
  assert.deepEqual({ ...sourceOf(report, '--seed') }, { key: 'seed', name: '--seed', value: 7, source: 'env', where: 'TANALYZE_SEED' });
  const budget = sourceOf(report, '--budget');
  assert.equal(budget.source, 'profile');
  assert.match(budget.where, /default\.yaml: search\.budget$/);
  assert.equal(sourceOf(report, '--max-rate').source, 'default');
  assert.equal(sourceOf(report, '--max-rate').value, 100_000);
  // max_batch_size 4,8 × queue delays 0,2000,8000 × instances 1,2 × FP32
  assert.equal(report.space.size, 12);
  assert.equal(report.strategy, 'bayesian');
  assert.equal(report.budget, 12);
  assert.equal(report.trials, 12);
  assert.equal(report.engineBuilds.kind, 'embedded');
  assert.ok(report.estimate.lowS > 0 && report.estimate.lowS <= report.estimate.typicalS && report.estimate.typicalS <= report.estimate.highS, JSON.stringify(report.estimate));
  assert.match(report.estimate.note, /estimate/);
  assert.equal(existsSync(join(cwd, 'reports')), false, 'no run folder and no database');
});

test('plan as text names the sources, the space, the budget, the builds and says the time is an estimate', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tanalyze-plan-cmd-'));
  const io = recordingIO(cwd);
  assert.equal(await planCommand({ model: 'tiny_resnet', p99: '50ms', budget: '40' }, io), 0);
  const text = io.out.join('');
  assert.match(text, /nothing is started/);
  assert.match(text, /--budget +40 +flag/);
  assert.match(text, /--search +bayesian +profile .*default\.yaml: search\.strategy/);
  assert.match(text, /--max-rate +100000 +default/);
  assert.match(text, /Space: 18 configurations/);
  assert.match(text, /budget 40 configurations, so at most 19 are measured \(the space is smaller than the budget\)/);
  assert.match(text, /Engine builds: an ONNX Runtime graph-optimized model per precision/);
  assert.match(text, /Wall time: about .* \(between .* and .*\)\n +an estimate, not a measurement/);
});

test('plan of a replay: the space is the landscape\'s, no builds, seconds', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tanalyze-plan-cmd-'));
  const io = recordingIO(cwd);
  const landscape = fromPackageRoot('bench', 'landscapes', 'h100-resnet50-p15.csv');
  assert.equal(await planCommand({ launch: 'replay', landscape, p99: '15ms', json: true }, io), 0);
  const report = JSON.parse(io.out.join('')) as PlanReport;
  assert.equal(report.space.fromLandscape, true);
  assert.ok(report.space.size > 1);
  assert.equal(report.engineBuilds.count, 0);
  assert.equal(report.estimate.typicalS, 0);
});

test('plan validates like a run: every bad flag at once, naming the flag, the value and what is accepted', async () => {
  const io = recordingIO(mkdtempSync(join(tmpdir(), 'tanalyze-plan-cmd-')));
  await assert.rejects(planCommand({ model: 'tiny_resnet', p99: 'fast', budget: '0', load: 'burst' }, io), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.equal(e.problems.length, 3, e.problems.join('\n'));
    assert.match(e.problems.join('\n'), /--p99: 'fast' is not a latency; accepted:/);
    assert.match(e.problems.join('\n'), /--budget: '0' is not an integer ≥ 1/);
    assert.match(e.problems.join('\n'), /--load: 'burst' is not one of concurrency, rate/);
    return true;
  });
  await assert.rejects(planCommand({ model: 'no_such_model', p99: '50ms' }, io), /--model: 'no_such_model' is not in .*models there: .*tiny_resnet/);
});

test('the estimate grows with the windows and the budget, and a time budget caps it', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tanalyze-plan-est-'));
  const file = join(cwd, 'p.yaml');
  writeFileSync(file, 'target:\n  p99: 50ms\n');
  const profile = loadProfile(file, cwd);
  const base = estimateWallTime(resolvePlan({ model: 'm' }, {}, profile, cwd), 10);
  const longer = estimateWallTime(resolvePlan({ model: 'm', window: '2s' }, {}, profile, cwd), 10);
  assert.ok(longer.typicalS > base.typicalS * 2, `${longer.typicalS} vs ${base.typicalS}`);
  assert.ok(estimateWallTime(resolvePlan({ model: 'm' }, {}, profile, cwd), 20).typicalS > base.typicalS);
  const capped = estimateWallTime(resolvePlan({ model: 'm', timeBudget: '1m' }, {}, profile, cwd), 100);
  const uncapped = estimateWallTime(resolvePlan({ model: 'm' }, {}, profile, cwd), 100);
  assert.equal(capped.cappedByTimeBudget, true);
  // No configuration starts after a minute; the one running then may still take its time.
  assert.ok(capped.highS < uncapped.highS / 10 && capped.highS > 60, `${capped.highS} vs ${uncapped.highS}`);
});

test('engine builds: one per precision and max batch with trtexec, none with the TensorRT accelerator', () => {
  const space = { maxBatchSizes: [4, 8, 16], maxQueueDelaysUs: [0], instanceCounts: [1], precisions: ['FP32', 'FP16'] as ('FP32' | 'FP16')[] };
  assert.equal(engineBuilds('trtexec', space, '/c').count, 6);
  assert.equal(engineBuilds('ort-tensorrt', space, '/c').count, 0);
  assert.equal(engineBuilds('embedded', space, '/c').count, 2);
});
