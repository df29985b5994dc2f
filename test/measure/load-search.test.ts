import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kneeConfirmationCost, MAX_REPEATS, nextLoad, type NextLoadOptions, type SearchPoint } from '../../src/measure/load-search.js';
import { bestPointIndex } from '../../src/domain/target.js';
import { mulberry32 as seededRandom } from '../../src/util/random.js';

type Curve = (c: number) => Omit<SearchPoint, 'concurrency'>;

/**
 * Runs the search against a synthetic curve; returns the measured concurrencies (new points,
 * in order), the ones measured a second time, and the outcome. A repeat is pooled as the
 * mean of the two measurements (the real pooling, of LoadPoints, is repeat-point.ts's).
 */
function simulate(curve: Curve, opts: NextLoadOptions) {
  const points: SearchPoint[] = [];
  const repeated: number[] = [];
  for (let guard = 0; guard < 100; guard++) {
    const next = nextLoad(points, opts);
    if ('done' in next) {
      const best = bestPointIndex(points, opts.targetP99Ms);
      return {
        order: points.map((p) => p.concurrency),
        repeated,
        points,
        kind: next.kind,
        reason: next.reason,
        best: best === null ? null : points[best]!.concurrency,
      };
    }
    assert.ok(next.concurrency >= (opts.minConcurrency ?? 1) && next.concurrency <= opts.maxConcurrency, `in range: ${next.concurrency}`);
    const again = curve(next.concurrency);
    if (next.repeat !== undefined) {
      const first = points[next.repeat]!;
      assert.equal(first.concurrency, next.concurrency, 'a repeat measures the same load again');
      assert.equal(first.measurements ?? 1, 1, 'no point is repeated twice');
      points[next.repeat] = { ...first, throughputIps: (first.throughputIps + again.throughputIps) / 2, p99Ms: (first.p99Ms + again.p99Ms) / 2, measurements: 2 };
      repeated.push(next.concurrency);
      continue;
    }
    assert.ok(!points.some((p) => p.concurrency === next.concurrency), `no new point at a measured load: ${next.concurrency}`);
    points.push({ concurrency: next.concurrency, ...again });
  }
  throw new Error('search did not end');
}

/** Latency grows linearly with load (base + k·c), throughput c / latency: saturates at 1/k. */
const linear = (baseMs: number, kMs: number): Curve => (c) => {
  const p99Ms = baseMs + kMs * c;
  return { p99Ms, throughputIps: (c / p99Ms) * 1000, stable: true };
};

/** Throughput capped at `cap`; latency flat until the cap, then queueing. */
const capped = (perLoop: number, cap: number, latencyMs: number): Curve => (c) => {
  const tput = Math.min(c * perLoop, cap);
  return { throughputIps: tput, p99Ms: latencyMs * Math.max(1, (c * perLoop) / cap), stable: true };
};

const noisy = (curve: Curve, amplitude: number, seed: number): Curve => {
  const rand = seededRandom(seed);
  return (c) => {
    const p = curve(c);
    const n = () => 1 + amplitude * (2 * rand() - 1);
    return { ...p, p99Ms: p.p99Ms * n(), throughputIps: p.throughputIps * n(), stable: false };
  };
};

const rows: {
  name: string;
  curve: Curve;
  opts: NextLoadOptions;
  order?: number[];
  maxPoints?: number;
  kind: string;
  best: number | null | [number, number];
}[] = [
  {
    name: 'monotone: double, then bisect to within 10%',
    curve: linear(2, 0.5), // p99 ≤ 12.5 up to c = 21
    opts: { targetP99Ms: 12.5, maxConcurrency: 1024 },
    order: [1, 2, 4, 8, 16, 32, 24, 20, 22],
    kind: 'bracketed',
    best: 20,
  },
  {
    name: 'monotone, adjacent bracket at small concurrency',
    curve: linear(1, 1), // p99 ≤ 6.5 up to c = 5
    opts: { targetP99Ms: 6.5, maxConcurrency: 64 },
    order: [1, 2, 4, 8, 6, 5],
    kind: 'bracketed',
    best: 5,
  },
  {
    name: 'large concurrency: stop within 10% rather than adjacent',
    curve: linear(1, 0.01), // p99 ≤ 3 up to c = 200
    opts: { targetP99Ms: 3, maxConcurrency: 4096 },
    order: [1, 2, 4, 8, 16, 32, 64, 128, 256, 192, 224, 208],
    kind: 'bracketed',
    best: 192,
  },
  {
    name: 'saturating: stop doubling once throughput stops growing, on the second flat point',
    curve: capped(100, 800, 5),
    opts: { targetP99Ms: 1000, maxConcurrency: 1024 },
    order: [1, 2, 4, 8, 16, 32],
    kind: 'saturated',
    best: 8,
  },
  {
    name: 'saturating, one-point rule (confirmKnee false): the first flat point stops',
    curve: capped(100, 800, 5),
    opts: { targetP99Ms: 1000, maxConcurrency: 1024, confirmKnee: false },
    order: [1, 2, 4, 8, 16],
    kind: 'saturated',
    best: 8,
  },
  {
    name: 'infeasible at concurrency 1',
    curve: linear(20, 1),
    opts: { targetP99Ms: 10, maxConcurrency: 64 },
    order: [1],
    kind: 'infeasible',
    best: null,
  },
  {
    name: 'feasible up to the maximum concurrency',
    curve: linear(1, 0.001),
    opts: { targetP99Ms: 100, maxConcurrency: 50 },
    order: [1, 2, 4, 8, 16, 32, 50],
    kind: 'max-concurrency',
    best: 50,
  },
  {
    name: 'maximum passes at once when it is the minimum',
    curve: linear(1, 0.001),
    opts: { targetP99Ms: 100, maxConcurrency: 1 },
    order: [1],
    kind: 'max-concurrency',
    best: 1,
  },
  {
    name: 'target missed just above the clamp to the maximum',
    curve: linear(1, 0.1), // p99 ≤ 9 up to c = 80
    opts: { targetP99Ms: 9, maxConcurrency: 100 },
    order: [1, 2, 4, 8, 16, 32, 64, 100, 82, 73, 77], // 77..82 is within 10%
    kind: 'bracketed',
    best: 77,
  },
  {
    name: 'minConcurrency above 1',
    curve: linear(2, 0.5),
    opts: { targetP99Ms: 12.5, minConcurrency: 3, maxConcurrency: 1024 },
    order: [3, 6, 12, 24, 18, 21, 22],
    kind: 'bracketed',
    best: 21,
  },
  {
    name: 'noisy (±4%): ends near the true boundary in few points',
    curve: noisy(linear(2, 0.5), 0.04, 11),
    opts: { targetP99Ms: 12.5, maxConcurrency: 1024 },
    maxPoints: 11,
    kind: 'bracketed',
    best: [17, 22],
  },
  {
    name: 'point budget',
    curve: linear(1, 0.0001),
    opts: { targetP99Ms: 100, maxConcurrency: 1 << 20, maxPoints: 5 },
    order: [1, 2, 4, 8, 16],
    kind: 'budget',
    best: 16,
  },
];

for (const row of rows) {
  test(`load search: ${row.name}`, () => {
    const r = simulate(row.curve, row.opts);
    if (row.order) assert.deepEqual(r.order, row.order);
    // Where the search found a knee, its best point is measured a second time (a curve without
    // noise answers the same, so the best stays); not after the one-point rule, a budget or an infeasible start.
    const confirms = row.opts.confirmKnee !== false && ['saturated', 'bracketed', 'max-concurrency'].includes(row.kind);
    if (!Array.isArray(row.best)) assert.deepEqual(r.repeated, confirms && row.best !== null ? [row.best] : [], `repeated ${r.repeated.join(',')}`);
    else assert.ok(r.repeated.length >= 1 && r.repeated.length <= MAX_REPEATS, `repeated ${r.repeated.join(',')}`);
    if (row.maxPoints !== undefined) assert.ok(r.order.length <= row.maxPoints, `${r.order.length} points: ${r.order.join(',')}`);
    assert.equal(r.kind, row.kind, r.reason);
    assert.ok(r.reason.startsWith(`${row.kind}: `));
    if (Array.isArray(row.best)) {
      assert.ok(r.best !== null && r.best >= row.best[0] && r.best <= row.best[1], `best ${r.best} in ${row.best.join('..')} (${r.order.join(',')})`);
    } else {
      assert.equal(r.best, row.best);
    }
  });
}

test('load search: a point that stopped on errors counts as a miss', () => {
  const pts: SearchPoint[] = [1, 2, 4, 8].map((c) => ({ concurrency: c, ...linear(1, 0.1)(c) }));
  pts.push({ concurrency: 16, throughputIps: 9000, p99Ms: 1, stable: false, stopReason: 'errors' });
  assert.deepEqual(nextLoad(pts, { targetP99Ms: 100, maxConcurrency: 64 }), { concurrency: 12 });
  const first: SearchPoint[] = [{ concurrency: 1, throughputIps: 0, p99Ms: 0, stable: false, stopReason: 'errors' }];
  const d = nextLoad(first, { targetP99Ms: 100, maxConcurrency: 64 });
  assert.ok('done' in d && d.kind === 'infeasible' && /requests failed/.test(d.reason));
});

test('load search: starts at the minimum and proposes it again if a resume lost it', () => {
  assert.deepEqual(nextLoad([], { targetP99Ms: 10, maxConcurrency: 8 }), { concurrency: 1 });
  const pts: SearchPoint[] = [{ concurrency: 4, throughputIps: 10, p99Ms: 50, stable: true }];
  assert.deepEqual(nextLoad(pts, { targetP99Ms: 10, maxConcurrency: 8 }), { concurrency: 1 });
});

test('load search: one noisy flat point does not end the doubling; the knee is confirmed above it', () => {
  // True throughput 100·c up to 1600; the point at 8 came out low (noise), 4% above the one at 4.
  const measured = new Map([[1, 100], [2, 200], [4, 400], [8, 416], [16, 1600], [32, 1600], [64, 1610]]);
  const curve: Curve = (c) => ({ throughputIps: measured.get(c) ?? 1600, p99Ms: 5, stable: true });
  const opts = { targetP99Ms: 100, maxConcurrency: 1024 };
  const r = simulate(curve, opts);
  assert.deepEqual(r.order, [1, 2, 4, 8, 16, 32, 64]);
  assert.equal(r.kind, 'saturated');
  assert.equal(r.best, 64);
  const plain = simulate(curve, { ...opts, confirmKnee: false });
  assert.deepEqual(plain.order, [1, 2, 4, 8], 'the one-point rule stops on the noisy point, at a quarter of the throughput');
  assert.deepEqual(r.repeated, [64], 'and the best point measured again');
  assert.equal(kneeConfirmationCost(r.points, opts), 4, 'three points beyond where the one-point rule stopped, and one repeat');
});

test('load search: growth within the windows\' measured noise is flat', () => {
  // +8% per doubling, but the windows of each point spread by 5%: 2·√(0.05² + 0.05²) = 14% is needed.
  const noisyCurve: Curve = (c) => ({ throughputIps: 1000 * 1.08 ** Math.log2(c), p99Ms: 5, stable: true, throughputCv: 0.05 });
  const quietCurve: Curve = (c) => ({ ...noisyCurve(c), throughputCv: 0.005 });
  const opts = { targetP99Ms: 100, maxConcurrency: 64 };
  assert.deepEqual(simulate(noisyCurve, opts).order, [1, 2, 4], 'two flat points in a row: saturated');
  assert.equal(simulate(noisyCurve, opts).kind, 'saturated');
  assert.deepEqual(simulate(quietCurve, opts).order, [1, 2, 4, 8, 16, 32, 64], 'the same growth with quiet windows is growth');
});

test('load search: the best point, measured again, pools into a lower figure; the new best is confirmed too, then no more', () => {
  // A plateau of 1000/s from concurrency 4 on; the point at 8 came out lucky (1300/s) the first
  // time and measures 1000/s again: pooled to 1150, still the best. Had it pooled below another
  // point measured once, that one would be confirmed in turn, up to MAX_REPEATS points.
  const firstTime = new Map([[1, 300], [2, 600], [4, 1000], [8, 1300], [16, 1000]]);
  const seen = new Set<number>();
  const curve: Curve = (c) => {
    const tput = seen.has(c) ? 1000 : (firstTime.get(c) ?? 1000);
    seen.add(c);
    return { throughputIps: Math.min(tput, c * 300), p99Ms: c >= 16 ? 200 : 5, stable: true };
  };
  const r = simulate(curve, { targetP99Ms: 100, maxConcurrency: 64 });
  assert.deepEqual(r.order, [1, 2, 4, 8, 16, 12, 14, 15]);
  assert.equal(r.best, 8);
  assert.deepEqual(r.repeated, [8]);
  assert.equal(r.points.find((p) => p.concurrency === 8)!.throughputIps, 1150, 'the mean of 1300 and 1000, not the lucky 1300');

  // Two points, each lucky once: 8 pools below 4's single 1200, so 4 is measured again; then the search stops.
  const lucky = new Map([[4, 1200], [8, 1300]]);
  const seen2 = new Set<number>();
  const curve2: Curve = (c) => {
    const tput = seen2.has(c) ? 900 : (lucky.get(c) ?? Math.min(c * 300, 1000));
    seen2.add(c);
    return { throughputIps: tput, p99Ms: c >= 16 ? 200 : 5, stable: true };
  };
  const r2 = simulate(curve2, { targetP99Ms: 100, maxConcurrency: 64 });
  assert.deepEqual(r2.repeated, [8, 4]);
  assert.equal(r2.repeated.length, MAX_REPEATS);
});

test('load search: a failing point whose p99 interval reaches the target is measured again before the search ends on it', () => {
  // Throughput grows to 2400/s at concurrency 8; p99 is 8 ms below 16 and 40 ms (certainly) from 16 on.
  // The first measurement at `stalled` caught a spell of stalls: p99 18 ms, interval 10-26 ms.
  const server = (stalled: number, firstCi: [number, number] | undefined): Curve => {
    const seen = new Set<number>();
    return (c) => {
      const first = !seen.has(c);
      seen.add(c);
      const throughputIps = Math.min(c * 300, 2400);
      if (c >= 16) return { throughputIps, p99Ms: 40, p99CiMs: [35, 45], stable: true };
      if (c === stalled && first) return { throughputIps, p99Ms: 18, ...(firstCi ? { p99CiMs: firstCi } : {}), stable: true };
      return { throughputIps, p99Ms: 8, p99CiMs: [6, 10], stable: true };
    };
  };
  const opts = { targetP99Ms: 15, maxConcurrency: 64 };

  // Inconclusive: before ending between 3 and 4, the point at 4 is measured again; pooled (13 ms) it
  // meets the target, and the search climbs on to the real knee.
  const r = simulate(server(4, [10, 26]), opts);
  assert.equal(r.repeated[0], 4, 'the stalled point first');
  assert.ok(r.order.includes(8), `climbed past 4: ${r.order.join(',')}`);
  assert.equal(r.best, 8);

  // The same first measurement with an interval all above the target: it fails, certainly; the
  // search ends between 3 and 4 and confirms its best point, as before.
  const certain = simulate(server(4, [17, 19]), opts);
  assert.deepEqual(certain.order, [1, 2, 4, 3]);
  assert.deepEqual(certain.repeated, [3]);
  assert.equal(certain.best, 3);

  // Without an interval (replayed and simulated points): unchanged.
  const replayed = simulate(server(4, undefined), opts);
  assert.deepEqual(replayed.order, [1, 2, 4, 3]);
  assert.deepEqual(replayed.repeated, [3]);

  // At the lowest load: not declared infeasible on one stalled measurement.
  const atMin = simulate(server(1, [10, 26]), opts);
  assert.equal(atMin.repeated[0], 1);
  assert.notEqual(atMin.kind, 'infeasible');
  assert.equal(atMin.best, 8);
  assert.equal(simulate(server(1, [17, 19]), opts).kind, 'infeasible', 'certainly above the target at the lowest load: infeasible');

  // Off with the one-point rule.
  assert.deepEqual(simulate(server(4, [10, 26]), { ...opts, confirmKnee: false }).repeated, []);
});
