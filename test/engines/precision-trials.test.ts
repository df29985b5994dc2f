/**
 * What the search records when precision goes wrong, with a FAKE trtexec 11 as the builder,
 * a FAKE launcher and a FAKE measurement (no server, no TensorRT): an engine that comes
 * out FP32 under the label FP16 is a FAILED trial with the layers found, never loaded or
 * measured; INT8 without a Q/DQ model is SKIPPED with the reason; the search goes on.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseModelConfig } from '../../src/config/pbtxt.js';
import { convNetModel } from '../../src/onnx/build-model.js';
import { TrtexecPlanBuilder } from '../../src/runner/engines/builder.js';
import { EngineCache } from '../../src/runner/engines/cache.js';
import { LocalToolRunner } from '../../src/runner/engines/tools.js';
import { runSearch, type RepoModel } from '../../src/runner/trial-loop.js';
import type { Launcher, ModelVariant } from '../../src/domain/launcher.js';
import type { LoadPoint } from '../../src/domain/measurement.js';
import { GridStrategy } from '../../src/search/grid.js';
import { Store } from '../../src/store/store.js';
import { installFakes, type FakeBin } from '../fakes/fake-bin.js';

const CONFIG = `name: "convnet"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 16, 16 ] } ]
output [ { name: "logits" data_type: TYPE_FP32 dims: [ 5 ] } ]
instance_group [ { count: 1 kind: KIND_GPU } ]
`;

/** FAKE launcher: records what it loads. */
class RecordingLauncher implements Launcher {
  readonly kind = 'fake';
  loaded: string[] = [];
  async start() {
    return { grpcAddress: 'fake:0', serverVersion: 'fake' };
  }
  async apply(v: ModelVariant) {
    this.loaded.push(`${v.modelName}:${v.config.precision}`);
  }
  async release() {}
  async stop() {}
}

const point = (): LoadPoint => ({ concurrency: 1, throughputIps: 100, p50Ms: 5, p90Ms: 8, p95Ms: 9, p99Ms: 10, requests: 100, errors: 0, windows: 3, stable: true, stopReason: 'stable', server: null, durationS: 1 });

describe('precision in the search (FAKE trtexec 11)', () => {
  let bin: FakeBin;
  let work: string;
  let model: RepoModel;

  before(() => {
    bin = installFakes({ trtexec: 'trtexec-fake.mjs', 'nvidia-smi': 'nvidia-smi-fake.mjs' });
    work = mkdtempSync(join(tmpdir(), 'tanalyze-precision-trials-'));
    const dir = join(work, 'repo', 'convnet');
    mkdirSync(join(dir, '1'), { recursive: true });
    writeFileSync(join(dir, 'config.pbtxt'), CONFIG);
    writeFileSync(join(dir, '1', 'model.onnx'), convNetModel({ imageSize: 16, channels: [8], blocksPerStage: 1, classes: 5, seed: 3 }));
    model = { name: 'convnet', dir, config: parseModelConfig(CONFIG), versions: ['1'] };
  });
  after(() => {
    bin.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  async function search(mode: string) {
    const store = Store.open(join(work, `${mode}.db`));
    const run = store.createRun({ model: 'convnet', targetP99Ms: 50, strategy: 'grid', seed: 1, budget: 10, launch: 'fake', toolVersion: 'test', plan: {} });
    const launcher = new RecordingLauncher();
    const env = { ...process.env, PATH: bin.pathEnv, FAKE_TRTEXEC_VERSION: '110400', FAKE_TRTEXEC_MODE: mode };
    const measured: string[] = [];
    await runSearch({
      runId: run.id,
      model,
      store,
      launcher,
      variantRepo: join(work, `${mode}-variants`),
      space: { maxBatchSizes: [8], maxQueueDelaysUs: [0], instanceCounts: [1], precisions: ['FP32', 'FP16', 'INT8'] },
      budget: 10,
      seed: 1,
      targetP99Ms: 50,
      windows: { windowMs: 10, minWindows: 3, maxWindows: 10, stabilityTolerance: 0.1, warmupMs: 0 },
      maxConcurrency: 8,
      strategy: new GridStrategy(),
      builder: new TrtexecPlanBuilder({ cache: new EngineCache(join(work, `${mode}-cache`)), runner: new LocalToolRunner({ env }) }),
      measure: async (req) => {
        measured.push(`${req.modelName}:${req.config.precision}`);
        req.onPoint(point(), 0);
        return { points: [point()], bestIndex: 0, stopReason: 'saturated' };
      },
      log: () => {},
    });
    const trials = store.trials(run.id).filter((t) => !t.isDefault);
    const byPrecision = Object.fromEntries(trials.map((t) => [t.config.precision, t]));
    store.close();
    return { byPrecision, launcher, measured };
  }

  it('a good FAKE trtexec 11: FP32 and FP16 measured, INT8 skipped with the reason', async () => {
    const { byPrecision, measured } = await search('ok');
    assert.equal(byPrecision['FP32']!.state, 'COMPLETE');
    assert.equal(byPrecision['FP16']!.state, 'COMPLETE');
    assert.equal(byPrecision['INT8']!.state, 'SKIPPED');
    assert.match(byPrecision['INT8']!.error!, /^INT8 is unavailable on TensorRT 11\.4\.0 without an explicitly quantized model/);
    assert.ok(!measured.some((m) => m.endsWith(':INT8')));
  });

  it('FAKE trtexec 11 silently building FP32: the FP16 trial fails with the layers found and is never loaded or measured', async () => {
    const { byPrecision, launcher, measured } = await search('silent-fp32');
    assert.equal(byPrecision['FP32']!.state, 'COMPLETE', 'an FP32 engine is what FP32 asked for');
    const fp16 = byPrecision['FP16']!;
    assert.equal(fp16.state, 'FAILED');
    assert.match(fp16.error!, /engine FP16 \(strongly typed, FP16 graph from tanalyze's converter\), max batch 8 is not in FP16: asked FP16, but 4 of 4 convolution\/matrix layers are not in FP16 \(found 4 FP32\)/);
    assert.ok(!launcher.loaded.some((l) => l.endsWith(':FP16')), 'never loaded');
    assert.ok(!measured.some((m) => m.endsWith(':FP16')), 'never measured');
    assert.equal(fp16.objectiveIps, null);
  });
});
