import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 as seededRandom } from '../../src/util/random.js';
import { newLatencyHistogram } from '../../src/load/histogram.js';
import { quantileInterval, quantileRankInterval, valueAtRank } from '../../src/measure/stats.js';

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
