import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bestPoint,
  bestPointIndex,
  ciTargetVerdict,
  intervalVerdict,
  KEEP_UP_SHARE,
  pointMeetsTarget,
  trialFeasible,
  uncertainPass,
  type RankablePoint,
  type TargetPoint,
  type TargetTrial,
} from '../../src/domain/target.js';
import type { LoadPoint } from '../../src/domain/measurement.js';
import { throughputAtTarget } from '../../src/regress/compare.js';
import { comparisonRows } from '../../src/regress/html.js';
import { representativePoint } from '../../src/report/pareto.js';
import { nextLoad } from '../../src/measure/load-search.js';

const TARGET = 10;

/** Every branch of pointMeetsTarget, against a 10 ms target. */
const pointRows: { name: string; p: TargetPoint; keepUp?: number; meets: boolean }[] = [
  { name: 'p99 under the target', p: { p99Ms: 5 }, meets: true },
  { name: 'p99 exactly at the target', p: { p99Ms: 10 }, meets: true },
  { name: 'p99 over the target', p: { p99Ms: 10.01 }, meets: false },
  { name: 'p99 NaN', p: { p99Ms: Number.NaN }, meets: false },
  { name: 'p99 infinite', p: { p99Ms: Number.POSITIVE_INFINITY }, meets: false },
  { name: "stopReason 'stable'", p: { p99Ms: 5, stopReason: 'stable' }, meets: true },
  { name: "stopReason 'max-windows' (unstable but measured)", p: { p99Ms: 5, stopReason: 'max-windows' }, meets: true },
  { name: "stopReason 'errors': the measurement failed", p: { p99Ms: 1, stopReason: 'errors' }, meets: false },
  { name: "stopReason 'no-completions': p99 is only a lower bound", p: { p99Ms: 1, stopReason: 'no-completions' }, meets: false },
  { name: 'unreliable: the client fell behind', p: { p99Ms: 1, unreliable: true }, meets: false },
  { name: 'unreliable: false', p: { p99Ms: 1, unreliable: false }, meets: true },
  { name: 'closed loop: no keep-up test', p: { p99Ms: 5, achievedRate: 1 }, meets: true },
  { name: 'open loop, kept up', p: { p99Ms: 5, offeredRate: 100, achievedRate: 99 }, meets: true },
  { name: 'open loop, exactly the keep-up share', p: { p99Ms: 5, offeredRate: 100, achievedRate: 100 * KEEP_UP_SHARE }, meets: true },
  { name: 'open loop, fell behind', p: { p99Ms: 5, offeredRate: 100, achievedRate: 94 }, meets: false },
  { name: 'open loop, fell behind, with a looser share', p: { p99Ms: 5, offeredRate: 100, achievedRate: 90 }, keepUp: 0.8, meets: true },
  { name: 'open loop, achieved rate from requests / duration (kept up)', p: { p99Ms: 5, offeredRate: 100, requests: 980, durationS: 10 }, meets: true },
  { name: 'open loop, achieved rate from requests / duration (fell behind)', p: { p99Ms: 5, offeredRate: 100, requests: 500, durationS: 10 }, meets: false },
  { name: 'open loop, zero duration: completions unknown', p: { p99Ms: 5, offeredRate: 100, requests: 10, durationS: 0 }, meets: false },
  { name: 'open loop, completions unknown', p: { p99Ms: 5, offeredRate: 100 }, meets: false },
  { name: 'open loop, kept up but over the target', p: { p99Ms: 11, offeredRate: 100, achievedRate: 100 }, meets: false },
];
for (const r of pointRows) {
  test(`pointMeetsTarget: ${r.name} → ${r.meets}`, () => {
    assert.equal(pointMeetsTarget(r.p, TARGET, r.keepUp), r.meets);
  });
}

const rp = (concurrency: number, throughputIps: number, p99Ms: number, extra: Partial<RankablePoint> = {}): RankablePoint => ({ concurrency, throughputIps, p99Ms, ...extra });

const bestRows: { name: string; points: RankablePoint[]; want: number | null }[] = [
  { name: 'no points', points: [], want: null },
  { name: 'none meets the target', points: [rp(1, 100, 20), rp(2, 150, 30)], want: null },
  { name: 'the highest throughput meeting the target', points: [rp(1, 100, 5), rp(2, 180, 8), rp(4, 250, 12)], want: 1 },
  { name: 'throughput tie: the lower p99', points: [rp(1, 100, 5), rp(2, 180, 9), rp(4, 180, 7)], want: 2 },
  { name: 'throughput and p99 tie: the lower concurrency', points: [rp(4, 180, 7), rp(2, 180, 7)], want: 1 },
  {
    name: 'throughput and p99 tie in open loop: the lower offered rate',
    points: [rp(9, 180, 7, { offeredRate: 200, achievedRate: 200 }), rp(12, 180, 7, { offeredRate: 190, achievedRate: 190 })],
    want: 1,
  },
  { name: 'a full tie: the earlier point', points: [rp(2, 180, 7), rp(2, 180, 7)], want: 0 },
  { name: 'a failed measurement is passed over', points: [rp(1, 100, 5), rp(2, 900, 1, { stopReason: 'errors' })], want: 0 },
  { name: 'an unreliable point is passed over', points: [rp(1, 100, 5), rp(2, 900, 1, { unreliable: true })], want: 0 },
  {
    name: 'an open-loop point that fell behind is passed over',
    points: [rp(3, 100, 5, { offeredRate: 100, achievedRate: 100 }), rp(9, 150, 6, { offeredRate: 300, achievedRate: 150 })],
    want: 0,
  },
  { name: 'a non-finite throughput is passed over', points: [rp(1, 100, 5), rp(2, Number.NaN, 5)], want: 0 },
];
for (const r of bestRows) {
  test(`bestPointIndex / bestPoint: ${r.name}`, () => {
    assert.equal(bestPointIndex(r.points, TARGET), r.want);
    assert.equal(bestPoint(r.points, TARGET), r.want === null ? null : r.points[r.want]);
  });
}

test('bestPointIndex: the load search may loosen the keep-up share', () => {
  const behind = [rp(9, 150, 6, { offeredRate: 100, achievedRate: 90 })];
  assert.equal(bestPointIndex(behind, TARGET), null);
  assert.equal(bestPointIndex(behind, TARGET, 0.8), 0);
});

const trial = (t: Partial<TargetTrial>): TargetTrial => ({ state: 'COMPLETE', objectiveIps: 100, p99Ms: 8, ...t });
const trialRows: { name: string; t: TargetTrial; feasible: boolean }[] = [
  { name: 'complete, p99 within the target', t: trial({}), feasible: true },
  { name: 'complete, p99 exactly at the target', t: trial({ p99Ms: 10 }), feasible: true },
  { name: 'complete for a looser target, judged against this one', t: trial({ p99Ms: 12 }), feasible: false },
  { name: 'infeasible', t: trial({ state: 'INFEASIBLE' }), feasible: false },
  { name: 'failed', t: trial({ state: 'FAILED' }), feasible: false },
  { name: 'skipped', t: trial({ state: 'SKIPPED' }), feasible: false },
  { name: 'still running', t: trial({ state: 'RUNNING' }), feasible: false },
  { name: 'no throughput', t: trial({ objectiveIps: null }), feasible: false },
  { name: 'a NaN throughput', t: trial({ objectiveIps: Number.NaN }), feasible: false },
  { name: 'no p99', t: trial({ p99Ms: null }), feasible: false },
  { name: 'an infinite p99', t: trial({ p99Ms: Number.POSITIVE_INFINITY }), feasible: false },
];
for (const r of trialRows) {
  test(`trialFeasible: ${r.name} → ${r.feasible}`, () => {
    assert.equal(trialFeasible(r.t, TARGET), r.feasible);
  });
}

const ciRows: { name: string; ci: [number, number] | undefined; verdict: 'meets' | 'misses' | 'inconclusive' | null }[] = [
  { name: 'the interval within the target', ci: [4, 6], verdict: 'meets' },
  { name: 'the interval topping out at the target', ci: [4, 10], verdict: 'meets' },
  { name: 'the interval above the target', ci: [11, 13], verdict: 'misses' },
  { name: 'the interval starting at the target', ci: [10, 13], verdict: 'inconclusive' },
  { name: 'the target inside the interval', ci: [8, 12], verdict: 'inconclusive' },
  { name: 'too few requests to bound it above', ci: [4, Number.POSITIVE_INFINITY], verdict: 'inconclusive' },
  { name: 'no interval', ci: undefined, verdict: null },
  { name: 'an unusable interval', ci: [Number.NaN, 5], verdict: null },
];
for (const r of ciRows) {
  test(`ciTargetVerdict: ${r.name} → ${r.verdict}`, () => {
    assert.equal(ciTargetVerdict(r.ci ? { p99CiMs: r.ci } : {}, TARGET), r.verdict);
    if (r.ci && r.verdict !== null) assert.equal(intervalVerdict(r.ci, TARGET), r.verdict);
  });
}

test('uncertainPass: a pass whose p99 interval reaches above the target', () => {
  assert.equal(uncertainPass({ p99Ms: 9, p99CiMs: [8, 12] }, TARGET), true);
  assert.equal(uncertainPass({ p99Ms: 9, p99CiMs: [8, 9.5] }, TARGET), false, 'a certain pass');
  assert.equal(uncertainPass({ p99Ms: 9 }, TARGET), false, 'no interval: nothing to say');
  assert.equal(uncertainPass({ p99Ms: 11, p99CiMs: [9, 12] }, TARGET), false, 'an uncertain miss is no pass');
  assert.equal(uncertainPass({ p99Ms: 9, p99CiMs: [8, 12], unreliable: true }, TARGET), false, 'no pass under the rule');
});

function loadPoint(concurrency: number, throughputIps: number, p99Ms: number, extra: Partial<LoadPoint> = {}): LoadPoint {
  return {
    concurrency, throughputIps, p50Ms: p99Ms / 2, p90Ms: p99Ms * 0.8, p95Ms: p99Ms * 0.9, p99Ms,
    requests: 100, errors: 0, windows: 3, stable: true, stopReason: 'stable', server: null, durationS: 1, ...extra,
  };
}

test('the load search, the report and regress all follow the rule on the same points', () => {
  // Each point alone within the target by p99, but only the first meets it.
  const cases: { p: LoadPoint; meets: boolean }[] = [
    { p: loadPoint(1, 100, 5), meets: true },
    { p: loadPoint(1, 100, 5, { unreliable: true }), meets: false },
    { p: loadPoint(1, 100, 5, { stopReason: 'errors', errors: 40 }), meets: false },
    { p: loadPoint(1, 100, 5, { mode: 'rate', offeredRate: 100, achievedRate: 50 }), meets: false },
    { p: loadPoint(1, 100, 5, { mode: 'rate', offeredRate: 100, achievedRate: 100, errors: 2 }), meets: true },
  ];
  for (const { p, meets } of cases) {
    const what = JSON.stringify(p);
    assert.equal(pointMeetsTarget(p, TARGET), meets, what);
    assert.equal(throughputAtTarget([p], TARGET) !== null, meets, `regress: ${what}`);
    const rows = comparisonRows([{ label: 'baseline', runId: 'r', trialIndex: 0, variantName: 'v', config: { maxBatchSize: 1, maxQueueDelayUs: null, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [] }, state: 'COMPLETE', error: null, repeats: [[p]] }], TARGET);
    assert.equal(rows[0]!.within_target, meets, `regress chart: ${what}`);
    // The report's representative point: p when it meets the target, else the slower point that does.
    const slower = loadPoint(2, 50, 1);
    assert.equal(representativePoint([p, slower], TARGET), meets ? p : slower, `report: ${what}`);
    if (p.offeredRate === undefined) {
      // The closed-loop search doubles past a passing point and stops at a failing one.
      const next = nextLoad([p], { targetP99Ms: TARGET, maxConcurrency: 8 });
      assert.equal('done' in next, !meets, `search: ${what}`);
    }
  }
});
