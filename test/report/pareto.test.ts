import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseRecommended, chosenPoint, chosenPointIndex, figurePoint, lowestP99Point, paretoFrontier, representativePoint, type RankableTrial } from '../../src/report/pareto.js';
import type { LoadPoint } from '../../src/domain/measurement.js';
import type { ServingConfig } from '../../src/domain/serving.js';
import type { TrialState } from '../../src/domain/trial.js';

interface P {
  id: string;
  tp: number;
  p99: number;
}
const p = (id: string, tp: number, p99: number): P => ({ id, tp, p99 });

const frontierCases: { name: string; items: P[]; want: string[] }[] = [
  { name: 'empty', items: [], want: [] },
  { name: 'single point', items: [p('a', 100, 10)], want: ['a'] },
  {
    name: 'dominated points dropped, sorted by p99',
    items: [p('slow', 50, 30), p('best', 300, 20), p('fast', 100, 5), p('dom', 90, 6), p('mid', 200, 10)],
    want: ['fast', 'mid', 'best'],
  },
  { name: 'same throughput: the lower p99 wins', items: [p('hi', 100, 20), p('lo', 100, 10)], want: ['lo'] },
  { name: 'same p99: the higher throughput wins', items: [p('low', 80, 10), p('high', 100, 10)], want: ['high'] },
  { name: 'exact duplicates both stay, in input order', items: [p('x', 100, 10), p('y', 100, 10), p('z', 50, 20)], want: ['x', 'y'] },
  { name: 'non-finite values are ignored', items: [p('nan', NaN, 1), p('inf', Infinity, 1), p('ok', 10, 5), p('lat', 20, Infinity)], want: ['ok'] },
  { name: 'a monotone curve is all frontier', items: [p('c', 30, 3), p('a', 10, 1), p('b', 20, 2)], want: ['a', 'b', 'c'] },
  { name: 'throughput falling with p99 keeps only the first', items: [p('a', 30, 1), p('b', 20, 2), p('c', 10, 3)], want: ['a'] },
];

for (const c of frontierCases) {
  test(`paretoFrontier: ${c.name}`, () => {
    const got = paretoFrontier(c.items, (x) => x.tp, (x) => x.p99).map((x) => x.id);
    assert.deepEqual(got, c.want);
  });
}

test('paretoFrontier: no frontier point is dominated by any input point', () => {
  const items: P[] = [];
  for (let i = 0; i < 200; i++) items.push(p(String(i), Math.round(Math.abs(Math.sin(i * 7.1)) * 50), Math.round(Math.abs(Math.cos(i * 3.3)) * 40)));
  const front = paretoFrontier(items, (x) => x.tp, (x) => x.p99);
  for (const f of front) {
    for (const o of items) assert.ok(!(o.tp >= f.tp && o.p99 <= f.p99 && (o.tp > f.tp || o.p99 < f.p99)), `${o.id} dominates ${f.id}`);
  }
  for (const o of items) {
    if (front.includes(o)) continue;
    assert.ok(front.some((f) => f.tp >= o.tp && f.p99 <= o.p99), `${o.id} is off the frontier but nothing dominates it`);
  }
});

function cfg(maxBatchSize: number, instanceCount: number): ServingConfig {
  return { maxBatchSize, maxQueueDelayUs: 100, instanceCount, precision: 'FP32', preferredBatchSizes: [] };
}
interface T extends RankableTrial {
  id: string;
}
const t = (id: string, state: TrialState, objectiveIps: number | null, p99Ms: number | null, mbs = 8, inst = 1): T => ({
  id,
  state,
  objectiveIps,
  p99Ms,
  config: cfg(mbs, inst),
});

const recCases: { name: string; trials: T[]; target: number; want: string | null }[] = [
  { name: 'no trials', trials: [], target: 50, want: null },
  { name: 'single feasible trial', trials: [t('a', 'COMPLETE', 100, 20)], target: 50, want: 'a' },
  {
    name: 'no feasible trial',
    trials: [t('a', 'INFEASIBLE', null, 80), t('b', 'FAILED', null, null), t('c', 'SKIPPED', null, null)],
    target: 50,
    want: null,
  },
  { name: 'highest objective wins', trials: [t('a', 'COMPLETE', 100, 20, 4), t('b', 'COMPLETE', 300, 45, 8), t('c', 'COMPLETE', 200, 10, 16)], target: 50, want: 'b' },
  { name: 'failed trials ignored even with a stale objective', trials: [t('a', 'COMPLETE', 100, 20), t('bad', 'FAILED', 999, 10)], target: 50, want: 'a' },
  { name: 'running trials ignored', trials: [t('a', 'COMPLETE', 100, 20), t('run', 'RUNNING', 500, 10)], target: 50, want: 'a' },
  { name: 'p99 over the target is not feasible', trials: [t('a', 'COMPLETE', 100, 20, 4), t('over', 'COMPLETE', 500, 60, 8)], target: 50, want: 'a' },
  { name: 'p99 exactly at the target is feasible', trials: [t('a', 'COMPLETE', 100, 20, 4), t('edge', 'COMPLETE', 500, 50, 8)], target: 50, want: 'edge' },
  { name: 'tie on objective: lower p99', trials: [t('a', 'COMPLETE', 200, 30, 8), t('b', 'COMPLETE', 200, 25, 16)], target: 50, want: 'b' },
  {
    name: 'tie on objective and p99: fewer instances',
    trials: [t('a', 'COMPLETE', 200, 25, 8, 3), t('b', 'COMPLETE', 200, 25, 16, 2)],
    target: 50,
    want: 'b',
  },
  {
    name: 'tie on objective, p99, instances: smaller max_batch_size',
    trials: [t('a', 'COMPLETE', 200, 25, 16, 2), t('b', 'COMPLETE', 200, 25, 8, 2)],
    target: 50,
    want: 'b',
  },
  { name: 'two equal measurements of one configuration: the earlier stands for it', trials: [t('a', 'COMPLETE', 200, 25), t('b', 'COMPLETE', 200, 25)], target: 50, want: 'a' },
  {
    name: 'repeats are judged by their mean, not the luckiest measurement',
    // Configuration 8 measured 300 once and 100 on the repeat (mean 200); configuration 16 twice 250.
    trials: [t('lucky', 'COMPLETE', 300, 20, 8), t('steady', 'COMPLETE', 250, 20, 16), t('again', 'COMPLETE', 100, 20, 8), t('steady2', 'COMPLETE', 250, 20, 16)],
    target: 50,
    want: 'steady',
  },
  {
    name: 'the measurement closest to the mean stands for the configuration',
    trials: [t('a', 'COMPLETE', 300, 20), t('b', 'COMPLETE', 210, 20), t('c', 'COMPLETE', 150, 20)],
    target: 50,
    want: 'b',
  },
  {
    name: 'a configuration that missed the target in most of its measurements is not feasible',
    trials: [t('once', 'COMPLETE', 500, 20, 8), t('miss', 'INFEASIBLE', null, 80, 8), t('miss2', 'INFEASIBLE', null, 90, 8), t('other', 'COMPLETE', 100, 20, 16)],
    target: 50,
    want: 'other',
  },
  { name: 'null p99 is not trusted as feasible', trials: [t('a', 'COMPLETE', 100, 20, 4), t('b', 'COMPLETE', 300, null, 8)], target: 50, want: 'a' },
];

for (const c of recCases) {
  test(`chooseRecommended: ${c.name}`, () => {
    assert.equal(chooseRecommended(c.trials, c.target)?.id ?? null, c.want);
  });
}

function lp(concurrency: number, throughputIps: number, p99Ms: number): LoadPoint {
  return {
    concurrency,
    throughputIps,
    p50Ms: p99Ms / 2,
    p90Ms: p99Ms * 0.8,
    p95Ms: p99Ms * 0.9,
    p99Ms,
    requests: 100,
    errors: 0,
    windows: 3,
    stable: true,
    stopReason: 'stable',
    server: null,
    durationS: 1,
  };
}

const bestCases: { name: string; points: LoadPoint[]; want: number | null }[] = [
  { name: 'no points', points: [], want: null },
  { name: 'highest throughput within target', points: [lp(1, 100, 5), lp(2, 180, 20), lp(4, 200, 60)], want: 2 },
  { name: 'tie on throughput: lower p99', points: [lp(4, 200, 40), lp(2, 200, 30)], want: 2 },
  { name: 'none within target: lowest p99', points: [lp(1, 10, 70), lp(2, 15, 65), lp(4, 16, 90)], want: 2 },
  // The target rule is domain/target.ts's: an unreliable point is not the best even within the target.
  { name: 'an unreliable point within the target is passed over', points: [lp(1, 100, 5), { ...lp(2, 190, 20), unreliable: true }, lp(4, 150, 30)], want: 4 },
];
for (const c of bestCases) {
  test(`representativePoint: ${c.name}`, () => {
    assert.equal(representativePoint(c.points, 50)?.concurrency ?? null, c.want);
  });
}

test('lowestP99Point: the lowest finite p99, ties to the higher throughput; null without one', () => {
  assert.equal(lowestP99Point([lp(1, 10, 70), lp(2, 12, 65), lp(4, 16, 65)])?.concurrency, 4);
  assert.equal(lowestP99Point([lp(1, 10, Number.NaN)]), null);
  assert.equal(lowestP99Point([]), null);
});

// The runner copies a trial's figures from the point it chose; the report finds that point by them.
const chosenCases: { name: string; points: LoadPoint[]; objectiveIps: number | null; p99Ms: number | null; want: number | null }[] = [
  { name: 'no points', points: [], objectiveIps: null, p99Ms: null, want: null },
  { name: 'feasible: the point with both figures', points: [lp(1, 100, 5), lp(2, 180, 20), lp(4, 200, 60)], objectiveIps: 180, p99Ms: 20, want: 1 },
  {
    // An unreliable point within the target: the figures lead to the runner's point.
    name: "the runner's choice",
    points: [lp(1, 100, 5), { ...lp(2, 190, 20), unreliable: true }, lp(4, 150, 30)],
    objectiveIps: 150,
    p99Ms: 30,
    want: 2,
  },
  { name: 'infeasible: the lowest p99, the higher throughput among equal ones', points: [lp(1, 10, 70), lp(2, 12, 65), lp(4, 16, 65)], objectiveIps: null, p99Ms: 65, want: 2 },
  { name: "figures that match no point: representativePoint's", points: [lp(1, 100, 5), lp(2, 180, 20)], objectiveIps: 181, p99Ms: 20, want: 1 },
];
for (const c of chosenCases) {
  test(`chosenPointIndex: ${c.name}`, () => {
    assert.equal(chosenPointIndex(c, 50), c.want);
  });
}

test('chosenPoint is the point at chosenPointIndex; figurePoint also needs the p99 to be the trial figure', () => {
  const points = [lp(1, 100, 5), lp(2, 180, 20)];
  assert.equal(chosenPoint({ points, objectiveIps: 180, p99Ms: 20 }, 50), points[1]);
  assert.equal(chosenPoint({ points: [], objectiveIps: null, p99Ms: null }, 50), null);
  assert.equal(figurePoint({ points, objectiveIps: 180, p99Ms: 20 }, 50), points[1]);
  // Figures that match no point: chosenPoint falls back to representativePoint's, which does not carry the figure.
  assert.equal(chosenPoint({ points, objectiveIps: 181, p99Ms: 21 }, 50), points[1]);
  assert.equal(figurePoint({ points, objectiveIps: 181, p99Ms: 21 }, 50), null);
  assert.equal(figurePoint({ points, objectiveIps: null, p99Ms: null }, 50), null);
});
