import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { landscapeSpace, type Landscape, type LandscapeRow } from '../../src/landscape/csv.js';
import { MissingConfigError, configRows, missingConfigs, replayMeasure } from '../../src/landscape/replay.js';
import { DEFAULT_SIM_PARAMS, simLandscape } from '../../src/landscape/sim.js';
import { nextLoad } from '../../src/measure/load-search.js';
import { bestPointIndex } from '../../src/domain/target.js';
import type { SearchSpace, ServingConfig } from '../../src/domain/serving.js';

const space: SearchSpace = { maxBatchSizes: [4, 16], maxQueueDelaysUs: [0, 2000], instanceCounts: [1, 2], precisions: ['FP32', 'FP16'] };
const ladder = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128];
const landscape: Landscape = { source: 'sim.csv', rows: simLandscape(DEFAULT_SIM_PARAMS, space, ladder) };
const config: ServingConfig = { maxBatchSize: 16, maxQueueDelayUs: 2000, instanceCount: 2, precision: 'FP16', preferredBatchSizes: [] };

describe('replayMeasure', () => {
  it('names a configuration the landscape lacks', () => {
    const missing: ServingConfig = { ...config, maxBatchSize: 32 };
    assert.throws(() => replayMeasure(landscape, missing, { targetP99Ms: 20 }), (e: unknown) => {
      assert.ok(e instanceof MissingConfigError);
      assert.equal(e.message, 'sim.csv: the landscape has no rows for max_batch_size=32, max_queue_delay_us=2000, instance_count=2, precision=FP16');
      assert.deepEqual(e.config, missing);
      return true;
    });
    assert.deepEqual(missingConfigs(landscape, landscapeSpace(landscape)), []);
    assert.equal(missingConfigs(landscape, { ...space, maxBatchSizes: [4, 16, 32] }).length, 8);
  });

  it('without noise, reports the recorded figures, at the file\'s concurrencies, never twice', () => {
    const r = replayMeasure(landscape, config, { targetP99Ms: 20 });
    const rows = new Map(configRows(landscape, config).map((row) => [row.concurrency, row]));
    assert.ok(r.points.length >= 3);
    const seen = new Set<number>();
    for (const p of r.points) {
      const row = rows.get(p.concurrency);
      assert.ok(row, `concurrency ${p.concurrency} is in the file`);
      assert.ok(!seen.has(p.concurrency));
      seen.add(p.concurrency);
      assert.equal(p.throughputIps, row.throughputIps);
      assert.equal(p.p99Ms, row.p99Ms);
      assert.ok(p.p50Ms <= p.p90Ms && p.p90Ms <= p.p95Ms && p.p95Ms <= p.p99Ms);
    }
    assert.equal(r.bestIndex, bestPointIndex(r.points, 20));
    assert.ok(r.bestIndex !== null && r.points[r.bestIndex]!.p99Ms <= 20);
  });

  it('walks the runner\'s load search exactly when the file holds every concurrency', () => {
    const every = Array.from({ length: 128 }, (_, i) => i + 1);
    const full: Landscape = { source: 'full', rows: simLandscape(DEFAULT_SIM_PARAMS, space, every) };
    const byC = new Map(configRows(full, config).map((row) => [row.concurrency, row]));
    const points: { concurrency: number; throughputIps: number; p99Ms: number; stable: boolean; measurements?: number }[] = [];
    for (;;) {
      const next = nextLoad(points, { targetP99Ms: 20, minConcurrency: 1, maxConcurrency: 128 });
      if ('done' in next) break;
      const row = byC.get(next.concurrency)!;
      // The best point measured again: without noise the same figures, pooled into it.
      if (next.repeat !== undefined) points[next.repeat]!.measurements = 2;
      else points.push({ concurrency: next.concurrency, throughputIps: row.throughputIps, p99Ms: row.p99Ms, stable: true });
    }
    const replayed = replayMeasure(full, config, { targetP99Ms: 20 }).points;
    assert.deepEqual(replayed.map((p) => p.concurrency), points.map((p) => p.concurrency));
    assert.deepEqual(replayed.map((p) => p.measurements ?? 1), points.map((p) => p.measurements ?? 1));
    assert.equal(replayed.filter((p) => p.measurements === 2).length, 1, 'the best point, measured twice');
  });

  it('snaps a bisection to the file\'s values, and stops when the gap holds none', () => {
    const rows: LandscapeRow[] = [1, 10, 100].map((c) => ({
      config, concurrency: c, throughputIps: c * 10, p50Ms: c, p90Ms: c, p99Ms: c, gpuMemoryMb: null,
    }));
    const r = replayMeasure({ source: 'coarse', rows }, config, { targetP99Ms: 50 });
    // 1 passes; doubling asks 2 → snapped to 10 (same gap above 1); 20 → 100 fails; the gap 10..100 is empty.
    assert.deepEqual(r.points.map((p) => p.concurrency), [1, 10, 100]);
    assert.equal(r.points[r.bestIndex!]!.concurrency, 10);
    // Ended there as a bracketed search ends: its best point measured again, pooled into it.
    assert.deepEqual(r.points.map((p) => p.measurements ?? 1), [1, 2, 1]);
    assert.equal(r.points[1]!.throughputIps, 100, 'without noise the same figures');
    const plain = replayMeasure({ source: 'coarse', rows }, config, { targetP99Ms: 50, confirmKnee: false });
    assert.deepEqual(plain.points.map((p) => p.measurements ?? 1), [1, 1, 1], 'the one-point rule measures nothing twice');
  });

  it('an infeasible configuration costs one point and has no best index', () => {
    const r = replayMeasure(landscape, config, { targetP99Ms: 0.5 });
    assert.equal(r.points.length, 1);
    assert.equal(r.bestIndex, null);
  });

  it('noise is deterministic under the seed, multiplicative, and keeps the percentiles in order', () => {
    const opts = { targetP99Ms: 20, noise: 0.05, seed: 7 };
    const a = replayMeasure(landscape, config, opts);
    const b = replayMeasure(landscape, config, opts);
    assert.deepEqual(a, b);
    const other = replayMeasure(landscape, config, { ...opts, seed: 8 });
    assert.notDeepEqual(other.points.map((p) => p.throughputIps), a.points.map((p) => p.throughputIps));
    const rows = new Map(configRows(landscape, config).map((row) => [row.concurrency, row]));
    let changed = 0;
    for (const p of a.points) {
      const row = rows.get(p.concurrency)!;
      const tf = p.throughputIps / row.throughputIps;
      assert.ok(tf > 0.7 && tf < 1.4, `throughput factor ${tf}`);
      // One latency factor for all three percentiles.
      assert.ok(Math.abs(p.p50Ms / row.p50Ms - p.p99Ms / row.p99Ms) < 1e-9);
      assert.ok(p.p50Ms <= p.p90Ms && p.p90Ms <= p.p99Ms);
      if (tf !== 1) changed++;
    }
    assert.ok(changed > 0);
  });

  it('the noise of a point does not depend on what was measured before it', () => {
    const opts = { targetP99Ms: 1e9, noise: 0.05, seed: 3 };
    const loose = replayMeasure(landscape, config, opts);
    const tight = replayMeasure(landscape, config, { ...opts, targetP99Ms: 20 });
    const first = (r: typeof loose) => r.points.find((p) => p.concurrency === 2)!;
    assert.equal(first(loose).throughputIps, first(tight).throughputIps);
  });

  it('a repeated measurement draws noise of its own; the first is the plain one', () => {
    const opts = { targetP99Ms: 1e9, noise: 0.05, seed: 3 };
    const at2 = (r: ReturnType<typeof replayMeasure>) => r.points.find((p) => p.concurrency === 2)!.throughputIps;
    assert.equal(at2(replayMeasure(landscape, config, { ...opts, repeat: 0 })), at2(replayMeasure(landscape, config, opts)));
    const again = at2(replayMeasure(landscape, config, { ...opts, repeat: 1 }));
    assert.notEqual(again, at2(replayMeasure(landscape, config, opts)));
    assert.equal(again, at2(replayMeasure(landscape, config, { ...opts, repeat: 1 })), 'still deterministic');
    assert.equal(at2(replayMeasure(landscape, config, { targetP99Ms: 1e9, repeat: 2 })), at2(replayMeasure(landscape, config, { targetP99Ms: 1e9 })), 'no noise: repeats agree');
  });
});
