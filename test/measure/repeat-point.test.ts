import { test } from 'node:test';
import assert from 'node:assert/strict';
import { poolRepeat } from '../../src/measure/repeat-point.js';
import { decodeHistogram, encodeHistogram, mergeHistograms, newLatencyHistogram, type LatencyHistogram } from '../../src/load/histogram.js';
import { measurementsOf, type LoadPoint } from '../../src/domain/measurement.js';

/** A window of `n` latencies uniform on (0, topMs]. */
function window(n: number, topMs: number): LatencyHistogram {
  const h = newLatencyHistogram();
  for (let i = 1; i <= n; i++) h.recordValue(Math.round((i * topMs * 1000) / n));
  return h;
}

/** A measured point of three 1000-request windows whose latencies reach topMs, over `seconds`. */
function measured(topMs: number, seconds: number, over: Partial<LoadPoint> = {}): LoadPoint {
  const ws = [window(1000, topMs), window(1000, topMs), window(1000, topMs)];
  const merged = mergeHistograms(ws);
  return {
    concurrency: 8,
    throughputIps: 3000 / seconds,
    p50Ms: merged.getValueAtPercentile(50) / 1000,
    p90Ms: merged.getValueAtPercentile(90) / 1000,
    p95Ms: merged.getValueAtPercentile(95) / 1000,
    p99Ms: merged.getValueAtPercentile(99) / 1000,
    requests: 3000,
    errors: 0,
    windows: 4,
    stable: true,
    stopReason: 'stable',
    server: { requests: 3000, executions: 400, queueUs: 100, computeInputUs: 10, computeInferUs: 2000, computeOutputUs: 5 },
    durationS: seconds,
    achievedRate: 3000 / seconds,
    histogramB64: encodeHistogram(merged),
    // One warm-up window that was not used, then the three used ones.
    windowHistogramsB64: [encodeHistogram(window(1000, 500)), ...ws.map(encodeHistogram)],
    usedWindows: 3,
    p99CiMs: [0, 0],
    ciLevel: 0.95,
    throughputCv: 0.02,
    ...over,
  };
}

test('poolRepeat: two measurements of a level become one point over all their requests and used windows', () => {
  const a = measured(40, 3); // 1000/s, p99 39.6 ms
  const b = measured(60, 6, { server: { requests: 3000, executions: 600, queueUs: 300, computeInputUs: 10, computeInferUs: 2000, computeOutputUs: 5 } }); // 500/s
  const p = poolRepeat(a, b, 50);
  assert.equal(measurementsOf(a), 1);
  assert.equal(p.measurements, 2);
  assert.equal(p.requests, 6000);
  assert.equal(p.durationS, 9);
  assert.ok(Math.abs(p.throughputIps - 6000 / 9) < 1e-9, 'all inferences over all the time, not the mean of the rates');
  assert.ok(Math.abs(p.achievedRate! - 6000 / 9) < 1e-9);
  assert.equal(p.windows, 8);
  assert.equal(p.usedWindows, 6, 'the used windows of both; the unused warm-up-like ones are left out');
  assert.equal(p.windowHistogramsB64!.length, 6);
  const pooled = decodeHistogram(p.histogramB64!);
  assert.equal(pooled.totalCount, 6000);
  // Half the requests reach 60 ms: the pooled p99 lies in the 60 ms half's top, far above the mean of 39.6 and 59.4.
  assert.ok(p.p99Ms > 58 && p.p99Ms <= 60, `p99 ${p.p99Ms}`);
  assert.ok(p.p99CiMs![0] < p.p99Ms && p.p99CiMs![1] >= p.p99Ms, `${p.p99CiMs}`);
  assert.ok(p.p99CiMs![0] < 50, 'two measurements 20 ms apart: the interval spans the gap between them');
  assert.equal(p.targetVerdict, 'inconclusive');
  assert.equal(p.server!.requests, 6000);
  assert.equal(p.server!.executions, 1000);
  assert.equal(p.server!.queueUs, 200);
  assert.ok(p.throughputCv! > 0.3, `the two rates differ by half: cv ${p.throughputCv}`);
});

test('poolRepeat: without histograms (replayed points) the figures are request-weighted means', () => {
  const bare = (tput: number, p99: number): LoadPoint => ({
    concurrency: 4, throughputIps: tput, p50Ms: p99 / 3, p90Ms: p99 / 2, p95Ms: p99 / 1.5, p99Ms: p99, requests: 1000, errors: 0,
    windows: 3, stable: true, stopReason: 'replayed', server: null, durationS: 0,
  });
  const p = poolRepeat(bare(900, 10), bare(1100, 14), 12);
  assert.equal(p.throughputIps, 1000);
  assert.equal(p.p99Ms, 12);
  assert.equal(p.histogramB64, undefined);
  assert.equal(p.p99CiMs, undefined);
  assert.equal(p.server, null);
  assert.equal(p.measurements, 2);
  const again = poolRepeat(p, bare(1000, 12));
  assert.equal(again.measurements, 3);
});

test('poolRepeat: a failed or unreliable measurement marks the pooled point', () => {
  const ok = measured(40, 3);
  const failed = poolRepeat(ok, measured(40, 3, { stopReason: 'errors', errors: 500, firstError: 'boom' }));
  assert.equal(failed.stopReason, 'errors');
  assert.equal(failed.errors, 500);
  assert.equal(failed.firstError, 'boom');
  assert.equal(failed.stable, true);
  const late = poolRepeat(ok, measured(40, 3, { unreliable: true, unreliableReason: 'the client fell behind', clientLimited: true, stable: false }));
  assert.equal(late.unreliable, true);
  assert.equal(late.unreliableReason, 'the client fell behind');
  assert.equal(late.clientLimited, true);
  assert.equal(late.stable, false);
});
