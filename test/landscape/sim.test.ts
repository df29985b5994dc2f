import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatLandscape, parseLandscape } from '../../src/landscape/csv.js';
import { DEFAULT_SIM_PARAMS, parseSimParams, simLandscape, simLoadPoint, simMeasure } from '../../src/landscape/sim.js';
import { spaceSize } from '../../src/search/space.js';
import type { SearchSpace, ServingConfig } from '../../src/domain/serving.js';

const P = DEFAULT_SIM_PARAMS;
const cfg = (mbs: number, delay: number | null, inst: number, precision: ServingConfig['precision'] = 'FP32'): ServingConfig => ({
  maxBatchSize: mbs, maxQueueDelayUs: delay, instanceCount: inst, precision, preferredBatchSizes: [],
});
const ladder = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
const peak = (c: ServingConfig) => Math.max(...ladder.map((n) => simMeasure(P, c, n).throughputIps));

describe('simulated server', () => {
  it('is deterministic and keeps p50 <= p90 <= p99', () => {
    for (const n of ladder) {
      const a = simMeasure(P, cfg(32, 1000, 2, 'FP16'), n);
      assert.deepEqual(simMeasure(P, cfg(32, 1000, 2, 'FP16'), n), a);
      assert.ok(a.p50Ms <= a.p90Ms && a.p90Ms <= a.p99Ms, JSON.stringify(a));
      assert.ok(a.throughputIps > 0);
    }
  });

  it('the throughput peak is not always at the largest batch', () => {
    const batches = [1, 2, 4, 8, 16, 32, 64, 128, 256];
    const peaks = batches.map((b) => peak(cfg(b, 0, 1)));
    const best = peaks.indexOf(Math.max(...peaks));
    assert.ok(best > 0 && best < batches.length - 1, `peak at max_batch_size ${batches[best]}: ${peaks.join(', ')}`);
  });

  it('more instances stop paying: the GPU ceiling is shared', () => {
    const peaks = [1, 2, 4, 8].map((k) => peak(cfg(16, 0, k, 'INT8')));
    assert.ok(peaks[1]! > peaks[0]!);
    assert.ok(peaks[3]! < peaks[2]! * 1.05, peaks.join(', '));
    assert.ok(peaks[3]! <= P.precisions.INT8.capacityIps);
  });

  it('lower precisions are faster, more so at large batches', () => {
    const ratio = (n: number) => simMeasure(P, cfg(64, 0, 1, 'INT8'), n).throughputIps / simMeasure(P, cfg(64, 0, 1, 'FP32'), n).throughputIps;
    assert.ok(ratio(1) > 1);
    assert.ok(ratio(256) > ratio(1) * 1.5, `${ratio(1)} vs ${ratio(256)}`);
  });

  it('tail latency explodes near saturation while throughput flattens', () => {
    const c = cfg(16, 0, 1);
    const light = simMeasure(P, c, 1);
    const sat = simMeasure(P, c, 64);
    const over = simMeasure(P, c, 256);
    assert.ok(over.throughputIps < sat.throughputIps * 1.05);
    assert.ok(over.p99Ms > 3 * sat.p99Ms, `${sat.p99Ms} → ${over.p99Ms}`);
    assert.ok(over.p99Ms > 20 * light.p99Ms);
    assert.ok(over.p99Ms / over.p50Ms > 1.5, 'the tail, not just the median, grows');
  });

  it('a queue delay adds latency at light load and pays at higher load', () => {
    const off = cfg(32, 0, 1);
    assert.ok(simMeasure(P, cfg(32, 4000, 1), 1).p50Ms > simMeasure(P, off, 1).p50Ms + 3);
    // Bigger batches while they still get cheaper per item.
    for (const n of [4, 8]) assert.ok(simMeasure(P, cfg(32, 500, 1), n).throughputIps > simMeasure(P, off, n).throughputIps);
    // Without dynamic batching every request runs alone: a larger max_batch_size only costs.
    assert.ok(peak(cfg(4, null, 1)) >= peak(cfg(64, null, 1)));
    assert.ok(peak(cfg(32, 0, 1)) > 1.5 * peak(cfg(32, null, 1)));
  });

  it('simLandscape has a row per configuration and concurrency, and round-trips through CSV', () => {
    const space: SearchSpace = { maxBatchSizes: [4, 8], maxQueueDelaysUs: [0, 500], instanceCounts: [1, 2], precisions: ['FP32', 'FP16'] };
    const rows = simLandscape(P, space, [1, 4, 16]);
    assert.equal(rows.length, spaceSize(space) * 3);
    assert.deepEqual(parseLandscape(formatLandscape(rows)).rows, rows);
  });
});

describe('parseSimParams', () => {
  it('merges snake_case keys over the defaults', () => {
    const r = parseSimParams({ batch_overhead_ms: 2, instance_contention2: 0.1, precisions: { fp16: { capacity_ips: 9000 } } });
    assert.deepEqual(r.errors, []);
    assert.equal(r.params!.batchOverheadMs, 2);
    assert.equal(r.params!.instanceContention2, 0.1);
    assert.equal(r.params!.precisions.FP16.capacityIps, 9000);
    assert.equal(r.params!.precisions.FP16.speedupMax, P.precisions.FP16.speedupMax);
    assert.equal(P.precisions.FP16.capacityIps, 5200, 'the defaults are not modified');
    assert.deepEqual(parseSimParams(undefined).params, P);
  });

  it('reports every problem at once, naming key, value and what is accepted', () => {
    const r = parseSimParams({ batch_fill: 1.5, per_item: 1, precisions: { FP8: {}, INT8: { speedup_max: -1 } } }, 'profile.sim');
    assert.equal(r.params, null);
    assert.deepEqual(r.errors, [
      'profile.sim.batch_fill: 1.5 is not accepted; accepted: a number > 0 and <= 1',
      `profile.sim.per_item: unknown; accepted: name, precisions, ${'batch_overhead_ms, per_item_ms, per_item_squared_ms, max_batch_overhead_per_doubling, instance_contention, instance_contention2, batch_fill, fill_delay_us, service_cv2, base_memory_mb'}`,
      'profile.sim.precisions.FP8: not a precision; accepted: FP32, FP16, BF16, INT8',
      'profile.sim.precisions.INT8.speedup_max: -1 is not accepted; accepted: a number > 0',
    ]);
  });

  it('simLoadPoint is simMeasure as a LoadPoint', () => {
    const c = cfg(16, 500, 2, 'FP16');
    const lp = simLoadPoint(P, c, 32);
    const m = simMeasure(P, c, 32);
    assert.equal(lp.throughputIps, m.throughputIps);
    assert.equal(lp.p99Ms, m.p99Ms);
    assert.ok(lp.p90Ms <= lp.p95Ms && lp.p95Ms <= lp.p99Ms);
  });
});
