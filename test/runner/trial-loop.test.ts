/**
 * The search loop with a FAKE launcher and a FAKE measurement (no server): the default
 * first, the budget, failed loads becoming failed trials while the search goes on, every
 * finished trial committed before the next starts, and resume after a kill.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store, StoreError } from '../../src/store/store.js';
import { TanalyzeError } from '../../src/domain/errors.js';
import { exitCodeFor } from '../../src/domain/exit-codes.js';
import { GridStrategy } from '../../src/search/grid.js';
import { runSearch, type RepoModel, type SearchContext } from '../../src/runner/trial-loop.js';
import { parseModelConfig } from '../../src/config/pbtxt.js';
import type { Launcher, ModelVariant } from '../../src/domain/launcher.js';
import type { LoadPoint } from '../../src/domain/measurement.js';
import { OrtTensorRtBuilder } from '../../src/runner/engines/builder.js';

function fakeModel(): RepoModel {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-model-'));
  mkdirSync(join(dir, '1'));
  writeFileSync(join(dir, '1', 'model.onnx'), 'not really onnx: the fake launcher never reads it');
  const config = parseModelConfig(
    'name: "m"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 8\ninput [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]\noutput [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]\ninstance_group [ { count: 1 kind: KIND_CPU } ]\n',
  );
  writeFileSync(join(dir, 'config.pbtxt'), 'unused');
  return { name: 'm', dir, config, versions: ['1'] };
}

/** FAKE launcher: records what it was asked to load; refuses variants with 2 instances. */
class FakeLauncher implements Launcher {
  readonly kind = 'fake';
  loaded: string[] = [];
  released: string[] = [];
  async start() { return { grpcAddress: 'fake:0', serverVersion: 'fake' }; }
  async apply(v: ModelVariant) {
    if (v.config.instanceCount === 2) throw new Error('fake server: out of memory');
    this.loaded.push(v.modelName);
  }
  async release(v: ModelVariant) { this.released.push(v.modelName); }
  async stop() {}
}

function point(concurrency: number, throughputIps: number, p99Ms: number): LoadPoint {
  return { concurrency, throughputIps, p50Ms: p99Ms / 2, p90Ms: p99Ms * 0.9, p95Ms: p99Ms * 0.95, p99Ms, requests: 100, errors: 0, windows: 3, stable: true, stopReason: 'stable', server: null, durationS: 1 };
}

function context(store: Store, runId: string, model: RepoModel, launcher: Launcher, extra: Partial<SearchContext> = {}): SearchContext {
  return {
    runId, model, store, launcher,
    variantRepo: mkdtempSync(join(tmpdir(), 'tanalyze-variants-')),
    space: { maxBatchSizes: [4, 8], maxQueueDelaysUs: [0, 1000], instanceCounts: [1, 2], precisions: ['FP32'] },
    budget: 100, seed: 1, targetP99Ms: 50,
    windows: { windowMs: 10, minWindows: 3, maxWindows: 10, stabilityTolerance: 0.1, warmupMs: 0 },
    maxConcurrency: 8,
    strategy: new GridStrategy(),
    // FAKE measurement: throughput grows with max_batch_size; the committed-trial count is
    // checked on every call, so a trial not written before the next one starts fails the test.
    measure: async (req) => {
      const mbs = Number(/_config_(\d+)/.exec(req.modelName)![1]);
      const p = point(1, 100 + mbs, 10);
      req.onPoint(p, 0);
      return { points: [p], bestIndex: 0, stopReason: 'saturated' };
    },
    log: () => {},
    ...extra,
  };
}

function newRun(store: Store, budget: number) {
  return store.createRun({ model: 'm', targetP99Ms: 50, strategy: 'grid', seed: 1, budget, launch: 'fake', toolVersion: 'test', plan: {} });
}

test('the default is trial 0, then the grid; a refused load is a failed trial and the search goes on', async () => {
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'tanalyze-db-')), 't.db'));
  const run = newRun(store, 100);
  const launcher = new FakeLauncher();
  const finishedBefore: number[] = [];
  const ctx = context(store, run.id, fakeModel(), launcher);
  const measure = ctx.measure;
  ctx.measure = async (req) => {
    finishedBefore.push(store.trials(run.id).filter((t) => t.state !== 'RUNNING').length);
    return measure(req);
  };
  const outcome = await runSearch(ctx);
  assert.equal(outcome.stopReason, 'search space exhausted');
  const trials = store.trials(run.id);
  assert.equal(trials.length, 1 + 8);
  assert.equal(trials[0]!.isDefault, true);
  assert.deepEqual(trials[0]!.config, { maxBatchSize: 8, maxQueueDelayUs: null, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [] });
  const failed = trials.filter((t) => t.state === 'FAILED');
  assert.equal(failed.length, 4, 'every 2-instance variant was refused');
  assert.ok(failed.every((t) => /did not load the configuration: fake server: out of memory/.test(t.error ?? '')));
  assert.equal(trials.filter((t) => t.state === 'COMPLETE').length, 5);
  assert.deepEqual(finishedBefore, [0, 1, 2, 3, 4], 'each trial is committed before the next is measured');
  assert.deepEqual(launcher.released, launcher.loaded, 'every loaded variant is unloaded');
  assert.ok(store.points(trials[0]!.id).length === 1);
});

test('the budget counts the default configuration', async () => {
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'tanalyze-db-')), 't.db'));
  const run = newRun(store, 3);
  const outcome = await runSearch(context(store, run.id, fakeModel(), new FakeLauncher(), { budget: 3 }));
  assert.match(outcome.stopReason, /budget of 3/);
  assert.equal(store.trials(run.id).length, 3);
});

test('a precision with no model file is skipped with its reason, not faked', async () => {
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'tanalyze-db-')), 't.db'));
  const run = newRun(store, 100);
  const ctx = context(store, run.id, fakeModel(), new FakeLauncher(), {
    space: { maxBatchSizes: [4], maxQueueDelaysUs: [0], instanceCounts: [1], precisions: ['FP32', 'FP16'] },
  });
  await runSearch(ctx);
  const fp16 = store.trials(run.id).find((t) => t.config.precision === 'FP16')!;
  assert.equal(fp16.state, 'SKIPPED');
  assert.match(fp16.error!, /precision FP16 is unavailable/);
});

test('resume: a trial left RUNNING by a killed process is measured again, finished ones are not', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'tanalyze-db-')), 't.db');
  const model = fakeModel();
  let store = Store.open(file);
  const run = newRun(store, 5);
  // First process: dies during the third trial (the measurement never returns).
  const ctx1 = context(store, run.id, model, new FakeLauncher(), { budget: 5 });
  let calls = 0;
  const measure = ctx1.measure;
  ctx1.measure = async (req) => {
    if (++calls === 3) throw Object.assign(new Error('killed'), { killed: true });
    return measure(req);
  };
  // A real kill leaves the trial RUNNING; simulate by bypassing finishTrial for the third.
  const finish = store.finishTrial.bind(store);
  let finishes = 0;
  store.finishTrial = ((id: number, r: Parameters<Store['finishTrial']>[1]) => {
    if (++finishes === 3) throw new Error('process killed');
    return finish(id, r);
  }) as Store['finishTrial'];
  await assert.rejects(runSearch(ctx1), /process killed/);
  store.close();

  store = Store.open(file);
  assert.equal(store.trials(run.id).filter((t) => t.state === 'RUNNING').length, 1);
  const launcher = new FakeLauncher();
  await runSearch(context(store, run.id, model, launcher, { budget: 5 }));
  const trials = store.trials(run.id);
  assert.equal(trials.length, 5);
  assert.ok(trials.every((t) => t.state === 'COMPLETE' || t.state === 'FAILED'));
  assert.deepEqual(trials.map((t) => t.index), [0, 1, 2, 3, 4]);
  assert.ok(!launcher.loaded.includes('m_config_0') && !launcher.loaded.includes('m_config_1'), 'finished trials are not measured again');
  assert.equal(launcher.loaded[0], 'm_config_2', 'the interrupted trial is redone first');
});

test('repeated failures of the same kind stop the run with the reason, instead of looping', async () => {
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'tanalyze-db-')), 't.db'));
  const run = newRun(store, 100);
  const launcher = new FakeLauncher();
  launcher.apply = async (v: ModelVariant) => {
    throw new Error(`fake server: cannot open ${v.modelName}/1/model.onnx: file is truncated`);
  };
  const outcome = await runSearch(context(store, run.id, fakeModel(), launcher, { maxRepeatedFailures: 3 }));
  assert.match(outcome.stopReason, /3 configurations in a row failed the same way: .*file is truncated/);
  assert.equal(store.trials(run.id).length, 3);
});

test('different failures do not stop the run', async () => {
  const { repeatedFailure } = await import('../../src/runner/trial-loop.js');
  const t = (error: string) => ({ index: 0, config: { maxBatchSize: 1, maxQueueDelayUs: 0, instanceCount: 1, precision: 'FP32' as const, preferredBatchSizes: [] }, state: 'FAILED' as const, objectiveIps: null, p99Ms: null, error });
  assert.equal(repeatedFailure([t('out of memory'), t('timeout after 10 s')], 2), null);
  assert.match(repeatedFailure([t('m_config_3: out of memory at 1024 MB'), t('m_config_4: out of memory at 2048 MB')], 2)!, /2 configurations in a row/);
});

test('a precision the build step cannot make (BF16 through ONNX Runtime TensorRT) is skipped with its reason', async () => {
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'tanalyze-db-')), 't.db'));
  const run = newRun(store, 100);
  const ctx = context(store, run.id, fakeModel(), new FakeLauncher(), {
    space: { maxBatchSizes: [4], maxQueueDelaysUs: [0], instanceCounts: [1], precisions: ['FP32', 'BF16'] },
  });
  ctx.builder = new OrtTensorRtBuilder();
  await runSearch(ctx);
  const bf16 = store.trials(run.id).find((t) => t.config.precision === 'BF16')!;
  assert.equal(bf16.state, 'SKIPPED');
  assert.match(bf16.error!, /BF16 is unavailable with ONNX Runtime's TensorRT accelerator/);
  assert.equal(store.trials(run.id).find((t) => t.config.precision === 'FP32' && !t.isDefault)!.state, 'COMPLETE');
});

test('an infeasible trial whose points failed for another reason than p99 says so', async () => {
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'tanalyze-db-')), 't.db'));
  const run = newRun(store, 1);
  const ctx = context(store, run.id, fakeModel(), new FakeLauncher(), { budget: 1 });
  ctx.measure = async () => ({
    points: [{ concurrency: 1, throughputIps: 100, p50Ms: 2, p90Ms: 3, p95Ms: 3.5, p99Ms: 4, requests: 600, errors: 0, windows: 3, stable: true, stopReason: 'stable', server: null, durationS: 6, unreliable: true }],
    bestIndex: null,
    stopReason: 'client-limited: the client could not keep 100 requests/s on schedule',
  });
  await runSearch(ctx);
  const t = store.trials(run.id)[0]!;
  assert.equal(t.state, 'INFEASIBLE');
  assert.match(t.error!, /no load point met the target reliably \(client-limited: the client could not keep 100 requests\/s on schedule\)/);
});

// Issue 16 item 3: a failure of tanalyze's own database or disk is no verdict on the configuration.
test('a full disk in the middle of a trial leaves it to be redone on resume, not FAILED', async () => {
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'tanalyze-db-')), 't.db'));
  const run = newRun(store, 4);
  const launcher = new FakeLauncher();
  const ctx = context(store, run.id, fakeModel(), launcher, { budget: 4 });
  const recordPoint = store.recordPoint.bind(store);
  let calls = 0;
  // FAKE disk: the third point written hits a full disk, as SQLite reports it.
  store.recordPoint = (...args: Parameters<Store['recordPoint']>) => {
    if (++calls === 3) throw new StoreError('io', 't.db', 'results database t.db: database or disk is full');
    return recordPoint(...args);
  };
  await assert.rejects(runSearch(ctx), (e: unknown) => e instanceof TanalyzeError && e.kind === 'infrastructure' && /disk is full/.test((e as Error).message));
  const stored = store.trials(run.id);
  assert.equal(stored.length, 3);
  assert.equal(stored[2]!.state, 'RUNNING', 'the trial got no verdict');
  assert.equal(exitCodeFor(new StoreError('io', 't.db', 'full')), 3);

  store.recordPoint = recordPoint;
  await runSearch(ctx);
  const after = store.trials(run.id);
  assert.deepEqual(after.map((t) => t.state), ['COMPLETE', 'COMPLETE', 'COMPLETE', 'COMPLETE']);
  assert.equal(after[2]!.attempt, 2, 'the trial cut short by the full disk was measured again');
});

test("ENOSPC from tanalyze's own disk during a measurement is an infrastructure failure, not a failed trial", async () => {
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'tanalyze-db-')), 't.db'));
  const run = newRun(store, 2);
  const ctx = context(store, run.id, fakeModel(), new FakeLauncher(), { budget: 2 });
  ctx.measure = async () => {
    throw Object.assign(new Error("ENOSPC: no space left on device, write '/x/server.log'"), { code: 'ENOSPC' });
  };
  await assert.rejects(runSearch(ctx), (e: unknown) => e instanceof TanalyzeError && e.kind === 'infrastructure' && /own disk failed: ENOSPC/.test((e as Error).message));
  assert.equal(store.trials(run.id)[0]!.state, 'RUNNING');
});

// Issue 16 item 2: an offline search (no I/O to wait on) still sees a stop request.
test('a search whose trials never wait on I/O yields, so a signal handled between trials stops it', async () => {
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'tanalyze-db-')), 't.db'));
  const run = newRun(store, 100_000);
  let stop = false;
  const timer = setTimeout(() => (stop = true), 30);
  const ctx = context(store, run.id, fakeModel(), new FakeLauncher(), {
    budget: 100_000,
    offline: true,
    space: { maxBatchSizes: Array.from({ length: 64 }, (_, i) => i + 1), maxQueueDelaysUs: [0, 100, 200, 500, 1000, 2000, 5000, 10000], instanceCounts: [1, 3, 4, 5, 6, 7, 8], precisions: ['FP32'] },
    shouldStop: () => stop,
  });
  const outcome = await runSearch(ctx);
  clearTimeout(timer);
  assert.equal(outcome.stopReason, 'interrupted');
  assert.ok(outcome.trials < 64 * 8 * 7, `${outcome.trials} trials`);
});
