import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 as seededRandom } from '../../src/util/random.js';
import { mergeHistograms, newLatencyHistogram } from '../../src/load/histogram.js';
import { quantileInterval, quantileIntervalAcrossWindows, quantileRankInterval, studentTCdf, studentTQuantile, valueAtRank } from '../../src/measure/stats.js';

/** Binomial(n, q) cdf computed independently: log pmf from k = 0 upwards, no window. */
function binomialCdf(n: number, q: number): number[] {
  const cdf: number[] = [];
  let logPmf = n * Math.log(1 - q);
  let acc = 0;
  for (let k = 0; k <= n; k++) {
    acc += Math.exp(logPmf);
    cdf.push(Math.min(1, acc));
    logPmf += Math.log((n - k) / (k + 1)) + Math.log(q / (1 - q));
  }
  return cdf;
}

for (const [n, q, level] of [
  [400, 0.99, 0.95],
  [1000, 0.99, 0.95],
  [5000, 0.99, 0.9],
  [2000, 0.5, 0.95],
  [20000, 0.99, 0.99],
] as const) {
  test(`quantileRankInterval(${n}, ${q}, ${level}): the tightest ranks with exact coverage`, () => {
    const { lo, hi, coverage } = quantileRankInterval(n, q, level);
    const F = binomialCdf(n, q);
    const alpha = 1 - level;
    const cdf = (k: number): number => (k < 0 ? 0 : k >= n ? 1 : F[k]!);
    assert.ok(lo >= 1 && hi <= n, `bounded: [${lo}, ${hi}]`);
    // P(B ≤ lo − 1) ≤ α/2 < P(B ≤ lo): lo is the largest rank allowed.
    assert.ok(cdf(lo - 1) <= alpha / 2 + 1e-9 && cdf(lo) > alpha / 2 - 1e-9, `lo ${lo}`);
    // P(B ≥ hi) ≤ α/2 < P(B ≥ hi − 1): hi is the smallest.
    assert.ok(1 - cdf(hi - 1) <= alpha / 2 + 1e-9 && 1 - cdf(hi - 2) > alpha / 2 - 1e-9, `hi ${hi}`);
    assert.ok(Math.abs(coverage - (cdf(hi - 1) - cdf(lo - 1))) < 1e-6, `coverage ${coverage}`);
    assert.ok(coverage >= level - 1e-9);
  });
}

test('quantileRankInterval: too few samples leave the p99 unbounded above', () => {
  // 0.99^100 = 0.37 > 0.025: even the maximum of 100 samples is below p99 too often.
  assert.equal(quantileRankInterval(100, 0.99).hi, 101);
  assert.equal(quantileRankInterval(0, 0.99).lo, 0);
  assert.throws(() => quantileRankInterval(10, 1), RangeError);
  assert.throws(() => quantileRankInterval(10, 0.5, 1), RangeError);
  assert.throws(() => quantileRankInterval(-1, 0.5), RangeError);
});

test('valueAtRank and quantileInterval on a histogram; unbounded ends', () => {
  const h = newLatencyHistogram();
  for (let v = 1; v <= 1000; v++) h.recordValue(v);
  assert.equal(valueAtRank(h, 1), 1);
  assert.equal(valueAtRank(h, 990), 990);
  assert.equal(valueAtRank(h, 0), 0);
  assert.equal(valueAtRank(h, 1001), Number.POSITIVE_INFINITY);
  const [lo, hi] = quantileInterval(h, 0.99, 0.95);
  const r = quantileRankInterval(1000, 0.99, 0.95);
  assert.deepEqual([lo, hi], [r.lo, r.hi]);
  assert.ok(lo < 990 && hi > 990);
  assert.deepEqual(quantileInterval(newLatencyHistogram()), [0, Number.POSITIVE_INFINITY]);
});

test('p99 CI contains the true p99 of synthetic data in ~95% of seeds', () => {
  // Exponential latencies, mean 1000 µs: the true p99 is 1000·ln(100) ≈ 4605 µs.
  const truth = 1000 * Math.log(100);
  let covered = 0;
  const seeds = 200;
  for (let seed = 1; seed <= seeds; seed++) {
    const rand = seededRandom(seed);
    const h = newLatencyHistogram();
    for (let i = 0; i < 3000; i++) h.recordValue(Math.round(-1000 * Math.log(1 - rand())));
    const [lo, hi] = quantileInterval(h, 0.99, 0.95);
    if (lo <= truth && truth <= hi) covered++;
  }
  const share = covered / seeds;
  // Binomial(200, 0.95) lies within [0.90, 0.99] with probability > 0.99.
  assert.ok(share >= 0.9 && share <= 0.995, `covered in ${covered} of ${seeds} seeds`);
});

test('studentTQuantile: the textbook table, both tails, and the normal limit', () => {
  // Two-sided 95% and 90% factors (one-sided 0.975 and 0.95) from the standard t table.
  const table: [number, number, number][] = [
    [1, 12.706, 6.314],
    [2, 4.303, 2.92],
    [3, 3.182, 2.353],
    [6, 2.447, 1.943],
    [10, 2.228, 1.812],
    [30, 2.042, 1.697],
  ];
  for (const [df, t975, t95] of table) {
    assert.ok(Math.abs(studentTQuantile(0.975, df) - t975) < 1e-3, `t(0.975, ${df}) = ${studentTQuantile(0.975, df)}`);
    assert.ok(Math.abs(studentTQuantile(0.95, df) - t95) < 1e-3, `t(0.95, ${df}) = ${studentTQuantile(0.95, df)}`);
    assert.ok(Math.abs(studentTQuantile(0.025, df) + t975) < 1e-3, 'symmetric');
  }
  assert.ok(Math.abs(studentTQuantile(0.975, 1e6) - 1.96) < 1e-3);
  assert.ok(Math.abs(studentTQuantile(0.5, 4)) < 1e-12, "the median is 0");
  assert.ok(Math.abs(studentTCdf(2.776, 4) - 0.975) < 1e-4);
  assert.throws(() => studentTQuantile(1, 3), RangeError);
  assert.throws(() => studentTQuantile(0.9, 0), RangeError);
});

/** A histogram of `n` latencies, uniform on (0, top] µs: its p99 is 0.99·top. */
function uniformWindow(n: number, top: number): ReturnType<typeof newLatencyHistogram> {
  const h = newLatencyHistogram();
  for (let i = 1; i <= n; i++) h.recordValue(Math.round((i * top) / n));
  return h;
}

test('quantileIntervalAcrossWindows: windows that agree keep the pooled interval; windows that scatter widen it', () => {
  const same = [1, 2, 3].map(() => uniformWindow(1000, 50_000));
  const pooledSame = mergeHistograms(same);
  assert.deepEqual(quantileIntervalAcrossWindows(same, pooledSame), quantileInterval(pooledSame), 'no spread between windows: nothing to add');

  // Slow spells: the windows' p99 are 40, 50 and 60 ms. The pooled order-statistic interval
  // is a few ms wide; the batch interval, 50 ± 4.303 · 10 / √3 ms, is far wider.
  const scattered = [40_000, 50_000, 60_000].map((p99) => uniformWindow(1000, p99 / 0.99));
  const pooled = mergeHistograms(scattered);
  const [plo, phi] = quantileInterval(pooled);
  const [lo, hi] = quantileIntervalAcrossWindows(scattered, pooled);
  const centre = pooled.getValueAtPercentile(99);
  const half = (studentTQuantile(0.975, 2) * 10_000) / Math.sqrt(3);
  assert.ok(phi - plo < 6000, `pooled interval [${plo}, ${phi}]`);
  assert.ok(Math.abs(hi - (centre + half)) < 100 && Math.abs(lo - (centre - half)) < 100, `[${lo}, ${hi}] around ${centre} ± ${half}`);
  assert.ok(lo <= plo && hi >= phi, 'never narrower than the pooled interval');

  // One window with completions is not a spread; empty windows are left out.
  const one = [uniformWindow(1000, 50_000), newLatencyHistogram()];
  assert.deepEqual(quantileIntervalAcrossWindows(one, mergeHistograms(one)), quantileInterval(mergeHistograms(one)));
});
