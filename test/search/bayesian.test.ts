import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BayesianStrategy, defaultLocalEvery, designSize, inferTarget, initialDesign, lightLoadDominance, makeEncoder, SMALL_SPACE, shouldStopEarly, withLightLoadPrior } from '../../src/search/bayesian.js';
import { strategyByName } from '../../src/search/index.js';
import { enumerateSpace } from '../../src/search/space.js';
import type { SearchSpace, ServingConfig } from '../../src/domain/serving.js';
import type { TrialRecord } from '../../src/domain/trial.js';
import { configKey } from '../../src/domain/serving.js';
import { strategyContract } from './strategy-contract.js';

const space: SearchSpace = {
  maxBatchSizes: [1, 2, 4, 8, 16, 32, 64],
  maxQueueDelaysUs: [0, 100, 1000, 5000, 20000],
  instanceCounts: [1, 2, 3, 4],
  precisions: ['FP32', 'FP16'],
};
const TARGET = 20;

/** A smooth synthetic server: throughput peaks at batch 16, two instances, FP16; p99 grows with the delay. */
function measure(c: ServingConfig, index: number): TrialRecord {
  const lb = Math.log2(c.maxBatchSize);
  const ips = 1000 * (c.precision === 'FP16' ? 1.6 : 1) * Math.exp(-((lb - 4) ** 2) / 8 - ((c.instanceCount - 2) ** 2) / 4) * (1 + 0.1 * Math.log1p((c.maxQueueDelayUs ?? 0) / 100));
  const lightP99 = 4 + (c.maxQueueDelayUs ?? 0) / 1000 + c.maxBatchSize / 16;
  if (lightP99 > TARGET) return { index, config: c, state: 'INFEASIBLE', objectiveIps: null, p99Ms: lightP99, error: 'above target' };
  return { index, config: c, state: 'COMPLETE', objectiveIps: ips, p99Ms: TARGET * 0.95, error: null };
}

function run(strategy: BayesianStrategy, seed: number, steps: number, m = measure): TrialRecord[] {
  const history: TrialRecord[] = [];
  for (let i = 0; i < steps; i++) {
    const c = strategy.ask(history, space, seed);
    if (!c) break;
    history.push(m(c, i));
  }
  return history;
}

strategyContract('bayesian', () => strategyByName('bayesian', { targetP99Ms: 5 }));

describe('BayesianStrategy', () => {
  it('encodes the ordinal dimensions on log scales in [0, 1] and the precision as a category', () => {
    const enc = makeEncoder(space);
    assert.deepEqual(enc.encode({ maxBatchSize: 1, maxQueueDelayUs: 0, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [] }), { ord: [0, 0, 0], cat: [0] });
    const top = enc.encode({ maxBatchSize: 64, maxQueueDelayUs: 20000, instanceCount: 4, precision: 'FP16', preferredBatchSizes: [] });
    assert.deepEqual(top.cat, [1]);
    for (const x of top.ord) assert.ok(Math.abs(x - 1) < 1e-12);
    const mid = enc.encode({ maxBatchSize: 8, maxQueueDelayUs: 100, instanceCount: 2, precision: 'FP32', preferredBatchSizes: [] });
    assert.ok(Math.abs(mid.ord[0]! - 0.5) < 1e-12);
    assert.ok(Math.abs(mid.ord[2]! - 0.5) < 1e-12);
    // One-value dimensions are left out.
    assert.deepEqual(makeEncoder({ ...space, precisions: ['FP16'], instanceCounts: [2] }).encode(enumerateSpace(space)[0]!).cat, []);
  });

  it('starts with a deterministic design: each precision at the centre, then spread out', () => {
    const d = initialDesign(space, 3);
    assert.equal(d.length, designSize(enumerateSpace(space).length));
    assert.deepEqual(initialDesign(space, 3), d);
    assert.deepEqual(new Set(d.slice(0, 2).map((c) => c.precision)), new Set(['FP32', 'FP16']));
    for (const c of d.slice(0, 2)) {
      assert.equal(c.maxBatchSize, 8);
      assert.equal(c.instanceCount, 2);
    }
    assert.equal(new Set(d.map(configKey)).size, d.length);
    const s = new BayesianStrategy({ targetP99Ms: TARGET });
    assert.deepEqual(run(s, 3, d.length).map((t) => t.config), d);
  });

  it('designs 2 points (the centre in each of two precisions) for spaces of up to 56 configurations, more for larger ones', () => {
    assert.deepEqual([1, 2, 18, 24, 48, 56].map(designSize), [1, 2, 2, 2, 2, 2]);
    assert.deepEqual([57, 96, 120, 420, 756, 5000].map(designSize), [3, 3, 4, 6, 6, 6]);
    const small: SearchSpace = { maxBatchSizes: [1, 4, 8, 16, 32, 64], maxQueueDelaysUs: [0, 2000], instanceCounts: [1, 2], precisions: ['FP32', 'FP16'] };
    const d = initialDesign(small, 5);
    assert.equal(d.length, 2);
    assert.deepEqual(new Set(d.map((c) => c.precision)), new Set(['FP32', 'FP16']));
    for (const c of d) assert.ok(c.maxBatchSize === 8 || c.maxBatchSize === 4, `the centre of the batch sizes: ${configKey(c)}`);
  });

  it('in small spaces limits every ask after the design to the incumbent\'s neighbours, every second one in larger spaces', () => {
    assert.deepEqual([1, 24, 48, SMALL_SPACE].map(defaultLocalEvery), [1, 1, 1, 1]);
    assert.deepEqual([SMALL_SPACE + 1, 96, 756].map(defaultLocalEvery), [2, 2, 2]);
  });

  it('seeks feasibility first: with nothing feasible it proposes the most likely feasible configuration', () => {
    // Everything measured so far is infeasible, and less so at short delays.
    const all = enumerateSpace(space);
    const pick = (mbs: number, delay: number, inst: number, precision: ServingConfig['precision']) =>
      all.find((c) => c.maxBatchSize === mbs && c.maxQueueDelayUs === delay && c.instanceCount === inst && c.precision === precision)!;
    const history: TrialRecord[] = [
      initialDesign(space, 0, 1)[0]!, pick(64, 20000, 4, 'FP32'), pick(64, 5000, 1, 'FP16'), pick(1, 20000, 4, 'FP16'), pick(8, 1000, 2, 'FP32'), pick(2, 5000, 1, 'FP32'), pick(16, 1000, 3, 'FP16'),
    ].map((c, index) => ({ index, config: c, state: 'INFEASIBLE' as const, objectiveIps: null, p99Ms: 21 + (c.maxQueueDelayUs ?? 0) / 1000, error: 'above target' }));
    const s = new BayesianStrategy({ targetP99Ms: TARGET, initialPoints: 1 });
    const a = s.analyze(history, space, 0);
    assert.equal(a.phase, 'feasibility');
    assert.ok(a.next!.maxQueueDelayUs! <= 100, `proposes a short delay: ${configKey(a.next!)}`);
  });

  it('finds the optimum of a smooth landscape in few trials and never prefers infeasible ones once it knows', () => {
    const truth = enumerateSpace(space).map((c) => measure(c, 0));
    const best = Math.max(...truth.map((t) => t.objectiveIps ?? 0));
    for (const seed of [0, 1, 2]) {
      const history = run(new BayesianStrategy({ targetP99Ms: TARGET }), seed, 20);
      const found = Math.max(...history.map((t) => t.objectiveIps ?? 0));
      assert.ok(found >= 0.98 * best, `seed ${seed}: ${found} vs ${best}`);
      const infeasibleAfterDesign = history.slice(8).filter((t) => t.state === 'INFEASIBLE').length;
      assert.ok(infeasibleAfterDesign <= 3, `seed ${seed}: ${infeasibleAfterDesign} infeasible trials after the design`);
    }
  });

  it('treats FAILED trials as infeasible and does not retry them', () => {
    const failing = (c: ServingConfig, i: number): TrialRecord =>
      c.instanceCount >= 3 ? { index: i, config: c, state: 'FAILED', objectiveIps: null, p99Ms: null, error: 'out of memory' } : measure(c, i);
    const history = run(new BayesianStrategy({ targetP99Ms: TARGET }), 0, 25, failing);
    const keys = history.map((t) => configKey(t.config));
    assert.equal(new Set(keys).size, keys.length);
    assert.ok(history.slice(10).filter((t) => t.state === 'FAILED').length <= 4);
  });

  it('infers the target from the history when none is given', () => {
    const rec = (state: TrialRecord['state'], p99Ms: number | null): TrialRecord => ({ index: 0, config: enumerateSpace(space)[0]!, state, objectiveIps: state === 'COMPLETE' ? 1 : null, p99Ms, error: null });
    assert.equal(inferTarget([]), null);
    assert.equal(inferTarget([rec('COMPLETE', 9), rec('INFEASIBLE', 16)]), 12);
    assert.equal(inferTarget([rec('COMPLETE', 9)]), 9);
    assert.equal(inferTarget([rec('INFEASIBLE', 16), rec('FAILED', null)]), 16);
    const s = new BayesianStrategy();
    const h = run(s, 0, 12);
    assert.equal(h.length, 12);
  });
});

describe('lightLoadDominance', () => {
  const c = (maxBatchSize: number, maxQueueDelayUs: number | null, precision: ServingConfig['precision'] = 'FP16', instanceCount = 1): ServingConfig =>
    ({ maxBatchSize, maxQueueDelayUs, instanceCount, precision, preferredBatchSizes: [] });
  const missed = (config: ServingConfig): TrialRecord => ({ index: 0, config, state: 'INFEASIBLE', objectiveIps: null, p99Ms: 6, error: 'above target' });

  it('marks configurations that wait at least as long, with at least the batch size, in the precision of one that missed', () => {
    const d = lightLoadDominance([missed(c(8, 2000))]);
    assert.equal(d(c(8, 2000, 'FP16', 2)), true, 'instances do not change one request\'s wait');
    assert.equal(d(c(16, 4000)), true);
    assert.equal(d(c(4, 2000)), false, 'a smaller batch size');
    assert.equal(d(c(8, 500)), false, 'a shorter delay');
    assert.equal(d(c(8, 2000, 'FP32')), false, 'another precision');
  });

  it('learns nothing from a miss without batching to wait for, nor from a trial that met the target', () => {
    assert.equal(lightLoadDominance([missed(c(1, 2000))])(c(8, 4000)), false, 'max_batch_size 1 sends at once: the miss was the model, not the delay');
    assert.equal(lightLoadDominance([missed(c(8, null))])(c(8, 4000)), false);
    const met: TrialRecord = { index: 0, config: c(8, 2000), state: 'COMPLETE', objectiveIps: 100, p99Ms: 4, error: null };
    assert.equal(lightLoadDominance([met])(c(16, 4000)), false);
  });

  it('gives the configurations it marks a tenth of their modelled chance of meeting the target, the others theirs', () => {
    const candidates = [c(16, 4000), c(4, 4000), c(16, 4000, 'FP32')];
    const out = withLightLoadPrior([Math.log(0.5), Math.log(0.5), Math.log(0.8)], candidates, [missed(c(8, 2000))]);
    assert.ok(Math.abs(out[0]! - Math.log(0.05)) < 1e-12);
    assert.deepEqual(out.slice(1), [Math.log(0.5), Math.log(0.8)]);
  });
});

describe('shouldStopEarly', () => {
  const flat = (c: ServingConfig, index: number): TrialRecord => ({ index, config: c, state: 'COMPLETE', objectiveIps: 500, p99Ms: 10, error: null });

  it('says nothing during the design or while nothing is feasible', () => {
    const s = new BayesianStrategy({ targetP99Ms: TARGET });
    const h = run(s, 0, 3, flat);
    assert.equal(shouldStopEarly(h, space, { seed: 0, targetP99Ms: TARGET }), null);
    const none = run(s, 0, 8, (c, i) => ({ index: i, config: c, state: 'INFEASIBLE', objectiveIps: null, p99Ms: 30, error: null }));
    assert.equal(shouldStopEarly(none, space, { seed: 0, targetP99Ms: TARGET }), null);
  });

  it('stops when the expected improvement stays negligible, with the reason', () => {
    const s = new BayesianStrategy({ targetP99Ms: TARGET });
    const h = run(s, 0, 12, flat);
    const reason = shouldStopEarly(h, space, { seed: 0, targetP99Ms: TARGET });
    assert.match(reason ?? '', /^expected improvement below 0\.50% of the best throughput for 3 consecutive trials \(now \d+\.\d\d%\)$/);
    assert.equal(s.earlyStopReason(h, space, 0), reason);
  });

  it('does not stop while a steep landscape still promises gains', () => {
    const h = run(new BayesianStrategy({ targetP99Ms: TARGET }), 0, 7);
    assert.equal(shouldStopEarly(h, space, { seed: 0, targetP99Ms: TARGET }), null);
  });
});
