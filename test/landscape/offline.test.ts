import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { parseLandscape } from '../../src/landscape/csv.js';
import { ReplayLauncher, SimLauncher } from '../../src/landscape/offline.js';
import { MissingConfigError } from '../../src/landscape/replay.js';
import { DEFAULT_SIM_PARAMS } from '../../src/landscape/sim.js';
import type { MeasureRequest, ModelVariant } from '../../src/domain/launcher.js';
import type { ServingConfig } from '../../src/domain/serving.js';
import type { LoadPoint } from '../../src/domain/measurement.js';
import { fromPackageRoot } from '../../src/util/package-root.js';

const file = fromPackageRoot('bench', 'landscapes', 'sim-peaked.csv');
const landscape = parseLandscape(readFileSync(file, 'utf8'), file);
const held = landscape.rows[0]!.config;
const variant = (config: ServingConfig, name = 'm_config_1'): ModelVariant => ({ modelName: name, dir: '', config, pbtxt: '' });
const request = (config: ServingConfig, seen: LoadPoint[], name = 'm_config_1'): MeasureRequest => ({
  modelName: name,
  config,
  targetP99Ms: 30,
  settings: { windowMs: 500, minWindows: 3, maxWindows: 10, stabilityTolerance: 0.1, warmupMs: 0 },
  maxConcurrency: 64,
  onPoint: (p) => void seen.push(p),
});

test('replay is a launcher: it applies what the landscape holds and refuses the rest, as a server refuses a load', async () => {
  const replay = new ReplayLauncher(landscape, 'replay of sim-peaked.csv', {});
  assert.equal((await replay.start()).serverVersion, 'replay of sim-peaked.csv');
  await replay.apply(variant(held));
  const seen: LoadPoint[] = [];
  const result = await replay.measure(request(held, seen));
  assert.ok(result.points.length > 0);
  assert.deepEqual(seen, result.points, 'every point is passed on as it is answered');
  const missing: ServingConfig = { ...held, maxBatchSize: 999 };
  await assert.rejects(replay.apply(variant(missing, 'm_config_2')), MissingConfigError);
  await replay.release(variant(held));
  await assert.rejects(replay.measure(request(held, [])), /was not applied before it was measured/);
});

test('sim is a launcher whose measurement walks the load search over the queueing model', async () => {
  const sim = new SimLauncher(DEFAULT_SIM_PARAMS);
  await sim.start();
  const config: ServingConfig = { maxBatchSize: 8, maxQueueDelayUs: 1000, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [] };
  await sim.apply();
  const seen: LoadPoint[] = [];
  const result = await sim.measure(request(config, seen));
  assert.ok(result.points.length >= 2);
  // Each point as it is measured, and the best once more, pooled (the sim answers the same again).
  assert.equal(seen.length, result.points.length + 1);
  const best = result.points[result.bestIndex!]!;
  assert.equal(best.measurements, 2);
  assert.deepEqual(seen[seen.length - 1], best);
  assert.equal(best.throughputIps, seen.find((p) => p.concurrency === best.concurrency)!.throughputIps, 'a noise-free repeat keeps the figures');
});
