import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextRate, roundRate, type NextRateOptions, type RateSearchPoint } from '../../src/measure/load-search.js';
import { bestPointIndex } from '../../src/domain/target.js';

type Curve = (rate: number) => Omit<RateSearchPoint, 'offeredRate'>;

/** Runs the rate search against a synthetic server; returns the rates measured and the outcome. */
function simulate(curve: Curve, opts: NextRateOptions) {
  const points: RateSearchPoint[] = [];
  for (let guard = 0; guard < 100; guard++) {
    const next = nextRate(points, opts);
    if ('done' in next) {
      const best = bestPointIndex(points, opts.targetP99Ms, opts.keepUp);
      return { order: points.map((p) => p.offeredRate), kind: next.kind, reason: next.reason, best: best === null ? null : points[best]!.offeredRate };
    }
    assert.ok(next.rate >= opts.minRate && next.rate <= opts.maxRate, `in range: ${next.rate}`);
    assert.ok(!points.some((p) => p.offeredRate === next.rate), `not measured twice: ${next.rate}`);
    points.push({ offeredRate: next.rate, ...curve(next.rate) });
  }
  throw new Error('search did not end');
}

/**
 * A queueing server of `capacity` requests/s: p99 = base / (1 − load) below capacity; at
 * or above it the queue grows, it completes `capacity`/s and p99 is whatever the window saw.
 */
const queueing = (capacity: number, baseMs: number): Curve => (r) => {
  if (r >= capacity) return { achievedRate: capacity, throughputIps: capacity, p99Ms: 1000 };
  return { achievedRate: r, throughputIps: r, p99Ms: baseMs / (1 - r / capacity) };
};

/** The server of `queueing`, driven by a client that falls behind above `clientMax`/s. */
const clientBound = (curve: Curve, clientMax: number): Curve => (r) =>
  r > clientMax ? { ...curve(r), unreliable: true, clientLimited: true, achievedRate: clientMax, throughputIps: clientMax } : curve(r);

const rows: { name: string; curve: Curve; opts: NextRateOptions; kind: string; best: number | null | [number, number]; maxPoints: number; order?: number[] }[] = [
  {
    name: 'queueing server: capacity bounds the bracket, bisection within 10%',
    curve: queueing(2000, 1), // p99 ≤ 5 ms up to 1600/s
    opts: { targetP99Ms: 5, minRate: 1, maxRate: 100_000 },
    kind: 'bracketed',
    best: [1455, 1600],
    maxPoints: 7,
  },
  {
    name: 'overloaded first probe: the next goes just below what the server completed',
    curve: queueing(100, 1), // p99 ≤ 20 ms up to 95/s
    opts: { targetP99Ms: 20, minRate: 1, maxRate: 100_000 },
    order: [316, 90, 94.9],
    kind: 'bracketed',
    best: 94.9,
    maxPoints: 3,
  },
  {
    name: 'infeasible: even the minimum rate misses the target',
    curve: queueing(1000, 10),
    opts: { targetP99Ms: 5, minRate: 1, maxRate: 100_000 },
    order: [316, 17.8, 1], // the second failure with the same latency floor sends it to the minimum
    kind: 'infeasible',
    best: null,
    maxPoints: 3,
  },
  {
    name: 'the target holds up to the maximum rate',
    curve: queueing(1e9, 1),
    opts: { targetP99Ms: 5, minRate: 1, maxRate: 10_000 },
    order: [100, 1000, 3160, 5620, 10_000],
    kind: 'max-rate',
    best: 10_000,
    maxPoints: 5,
  },
  {
    name: 'the client falls behind first: stops at the client, not beyond',
    curve: clientBound(queueing(1e6, 1), 1000),
    opts: { targetP99Ms: 5, minRate: 1, maxRate: 100_000 },
    kind: 'client-limited',
    best: [900, 1000],
    maxPoints: 7,
  },
  {
    name: 'a slow server: starts overloaded, comes down to its capacity',
    curve: queueing(20, 1), // p99 ≤ 5 ms up to 16/s
    opts: { targetP99Ms: 5, minRate: 1, maxRate: 100_000 },
    kind: 'bracketed',
    best: [14.5, 16],
    maxPoints: 7,
  },
  {
    name: 'growth mode with a start rate: doubles, then bisects',
    curve: queueing(2000, 1),
    opts: { targetP99Ms: 5, minRate: 1, maxRate: 100_000, startRate: 100, growth: 2 },
    kind: 'bracketed',
    best: [1455, 1600],
    maxPoints: 10,
  },
];

for (const r of rows) {
  test(`nextRate: ${r.name}`, () => {
    const out = simulate(r.curve, r.opts);
    if (r.order) assert.deepEqual(out.order, r.order);
    assert.equal(out.kind, r.kind, out.reason);
    assert.ok(out.order.length <= r.maxPoints, `${out.order.length} points: ${out.order.join(', ')}`);
    if (Array.isArray(r.best)) assert.ok(out.best !== null && out.best >= r.best[0] && out.best <= r.best[1], `best ${out.best} (${out.order.join(', ')})`);
    else assert.equal(out.best, r.best);
    assert.match(out.reason, new RegExp(`^${r.kind}: `));
  });
}

test('nextRate: starts in the geometric middle of the range, or at startRate', () => {
  assert.deepEqual(nextRate([], { targetP99Ms: 5, minRate: 1, maxRate: 10_000 }), { rate: 100 });
  assert.deepEqual(nextRate([], { targetP99Ms: 5, minRate: 1, maxRate: 10_000, startRate: 50_000 }), { rate: 10_000 });
  assert.throws(() => nextRate([], { targetP99Ms: 5, minRate: 0, maxRate: 10 }), RangeError);
});

test('nextRate: budget ends the search', () => {
  const ok: RateSearchPoint = { offeredRate: 100, achievedRate: 100, throughputIps: 100, p99Ms: 1 };
  const next = nextRate([ok, { ...ok, offeredRate: 200, achievedRate: 200 }], { targetP99Ms: 5, minRate: 1, maxRate: 1000, maxPoints: 2 });
  assert.ok('done' in next && next.kind === 'budget');
});

test('roundRate: three significant digits', () => {
  assert.equal(roundRate(316.227766), 316);
  assert.equal(roundRate(1.23456), 1.23);
  assert.equal(roundRate(56234.13), 56200);
  assert.equal(roundRate(0.012345), 0.0123);
});
