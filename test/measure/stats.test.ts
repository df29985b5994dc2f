import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHistogram, encodeHistogram, mergeHistograms, newLatencyHistogram, recordLatencyNs } from '../../src/load/histogram.js';
import { isStable, nearestRank, percentiles } from '../../src/measure/stats.js';
import { mulberry32 as seededRandom } from '../../src/util/random.js';

const exact = (values: number[], p: number): number => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.ceil((p / 100) * s.length) - 1]!;
};

test('nearestRank: the ceil(p·n)-th smallest', () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(nearestRank(v, 50), 50);
  assert.equal(nearestRank(v, 99), 99);
  assert.equal(nearestRank(v, 100), 100);
  assert.equal(nearestRank([7], 99), 7);
  assert.equal(nearestRank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95), 10);
  assert.equal(nearestRank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), 9);
  assert.ok(Number.isNaN(nearestRank([], 50)));
});

test('percentiles: histogram equals an exact sort where values are below 2048 µs', () => {
  const rand = seededRandom(42);
  for (const n of [1, 7, 100, 1001, 5000]) {
    const values = Array.from({ length: n }, () => 1 + Math.floor(rand() * 2000));
    const h = newLatencyHistogram();
    for (const v of values) recordLatencyNs(h, v * 1000);
    const fromHist = percentiles(h);
    const fromSort = percentiles([...values].sort((a, b) => a - b));
    for (const p of [50, 90, 95, 99] as const) {
      assert.equal(fromHist[`p${p}`], exact(values, p), `n=${n} p${p}`);
      assert.equal(fromSort[`p${p}`], exact(values, p), `n=${n} p${p} sorted`);
    }
  }
});

test('percentiles: above 2048 µs within 0.1%, never below the exact value', () => {
  const rand = seededRandom(7);
  const values = Array.from({ length: 3000 }, () => 2000 + Math.floor(rand() * 200_000));
  const h = newLatencyHistogram();
  for (const v of values) recordLatencyNs(h, v * 1000);
  const got = percentiles(h);
  for (const p of [50, 90, 95, 99] as const) {
    const want = exact(values, p);
    assert.ok(got[`p${p}`] >= want, `p${p} ${got[`p${p}`]} >= ${want}`);
    assert.ok(got[`p${p}`] <= want * 1.001, `p${p} ${got[`p${p}`]} <= ${want}·1.001`);
  }
});

test('percentiles: empty is NaN; nanoseconds round to µs', () => {
  const h = newLatencyHistogram();
  assert.ok(Number.isNaN(percentiles(h).p99));
  recordLatencyNs(h, 1_499n);
  recordLatencyNs(h, 1_500);
  assert.equal(percentiles(h).p50, 1);
  assert.equal(percentiles(h).p99, 2);
});

test('mergeHistograms: same percentiles as recording everything in one', () => {
  const rand = seededRandom(3);
  const parts = [newLatencyHistogram(), newLatencyHistogram(), newLatencyHistogram()];
  const all: number[] = [];
  parts.forEach((h, i) => {
    for (let k = 0; k < 300; k++) {
      const v = 100 * (i + 1) + Math.floor(rand() * 500);
      all.push(v);
      recordLatencyNs(h, v * 1000);
    }
  });
  const merged = mergeHistograms(parts);
  assert.equal(merged.totalCount, 900);
  assert.equal(parts[0]!.totalCount, 300, 'inputs untouched');
  assert.deepEqual(percentiles(merged), percentiles([...all].sort((a, b) => a - b)));
});

test('encodeHistogram / decodeHistogram round-trip', () => {
  const h = newLatencyHistogram();
  for (let i = 1; i <= 500; i++) recordLatencyNs(h, i * 7_000);
  const back = decodeHistogram(encodeHistogram(h));
  assert.equal(back.totalCount, 500);
  assert.deepEqual(percentiles(back), percentiles(h));
});

const w = (throughputIps: number, p99Ms: number) => ({ throughputIps, p99Ms });

const stabilityCases: [string, { throughputIps: number; p99Ms: number }[], boolean][] = [
  ['three identical', [w(100, 10), w(100, 10), w(100, 10)], true],
  ['fewer than three', [w(100, 10), w(100, 10)], false],
  ['within 10% on both', [w(95, 9.5), w(100, 10), w(105, 10.5)], true],
  ['throughput drifts beyond 10%', [w(80, 10), w(100, 10), w(120, 10)], false],
  ['p99 drifts beyond 10%', [w(100, 8), w(100, 10), w(100, 12.5)], false],
  ['only the last three count', [w(10, 99), w(500, 1), w(100, 10), w(101, 10), w(99, 10)], true],
  ['a late outlier breaks it', [w(100, 10), w(100, 10), w(100, 10), w(100, 20)], false],
  ['no throughput is never stable', [w(0, 0), w(0, 0), w(0, 0)], false],
  ['NaN p99 is never stable', [w(100, Number.NaN), w(100, 10), w(100, 10)], false],
];
for (const [name, windows, want] of stabilityCases) {
  test(`isStable: ${name}`, () => assert.equal(isStable(windows), want));
}

test('isStable: tolerance and count are parameters', () => {
  const ws = [w(90, 10), w(100, 10), w(110, 10)];
  assert.equal(isStable(ws, 0.1), true);
  assert.equal(isStable(ws, 0.05), false);
  assert.equal(isStable([w(50, 1), ...ws], 0.1, 4), false);
  assert.equal(isStable(ws.slice(1), 0.1, 2), true);
});
