import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BayesianStrategy, defaultMainEffectsWeight, makeEncoder, SMALL_SPACE } from '../../src/search/bayesian.js';
import { MainEffectsModel } from '../../src/search/main-effects.js';
import { enumerateSpace } from '../../src/search/space.js';
import type { Precision, SearchSpace, ServingConfig } from '../../src/domain/serving.js';

const space: SearchSpace = { maxBatchSizes: [1, 8, 32], maxQueueDelaysUs: [0, 2000], instanceCounts: [1, 2], precisions: ['FP32', 'FP16'] };
const enc = makeEncoder(space);
const all = enumerateSpace(space).map((c) => enc.encode(c));
const levels = all[0]!.ord.map((_, i) => [...new Set(all.map((p) => p.ord[i]!))].sort((a, b) => a - b));
const cfg = (precision: Precision, maxBatchSize: number, instanceCount: number, maxQueueDelayUs = 0): ServingConfig => ({ precision, maxBatchSize, maxQueueDelayUs, instanceCount, preferredBatchSizes: [] });
const at = (...cs: ServingConfig[]) => cs.map((c) => enc.encode(c));

describe('MainEffectsModel', () => {
  it('puts a drop on the value two poor observations share, not on the values they differ in', () => {
    // The h200 Triton case: FP32 at 1 instance good; FP16 at 2 instances poor, and FP32 at 2 instances poor too.
    const x = at(cfg('FP32', 8, 1), cfg('FP16', 8, 2), cfg('FP32', 8, 2));
    const y = [Math.log(800), Math.log(200), Math.log(200)];
    const [fp16one, fp16two] = MainEffectsModel.fit(x, y, levels).predict(at(cfg('FP16', 8, 1), cfg('FP16', 8, 2))).mean;
    // An instance effect: FP16 at 1 instance is predicted like FP32 at 1 instance, far above FP16 at 2.
    assert.ok(Math.abs(fp16one! - Math.log(800)) < 0.2, `FP16 at 1 instance: ${Math.exp(fp16one!).toFixed(0)}/s`);
    assert.ok(fp16one! - fp16two! > Math.log(3), `${Math.exp(fp16one!).toFixed(0)} vs ${Math.exp(fp16two!).toFixed(0)}`);
    // Two observations that differ in precision alone say nothing about it: FP32 and FP16 at 2 instances alike.
    const fp32two = MainEffectsModel.fit(x, y, levels).predict(at(cfg('FP32', 8, 2))).mean[0]!;
    assert.ok(Math.abs(fp32two - fp16two!) < 0.05);
  });

  it('predicts an ordinal value beyond the measured ones like the nearest measured one, with the unknown step\'s spread', () => {
    const x = at(cfg('FP32', 1, 1), cfg('FP32', 8, 1));
    const y = [Math.log(300), Math.log(800)];
    const p = MainEffectsModel.fit(x, y, levels).predict(at(cfg('FP32', 8, 1), cfg('FP32', 32, 1)));
    // Not pulled back towards the average of 1 and 8: max batch 32 is as promising as 8, and less known.
    assert.ok(Math.abs(p.mean[1]! - p.mean[0]!) < 0.05, `${Math.exp(p.mean[1]!).toFixed(0)} vs ${Math.exp(p.mean[0]!).toFixed(0)}`);
    assert.ok(p.variance[1]! > p.variance[0]! + 0.2);
  });

  it('is a function of the points: the same fit gives the same predictions, and a value never measured keeps its prior spread', () => {
    const x = at(cfg('FP32', 8, 1), cfg('FP32', 8, 2));
    const y = [Math.log(800), Math.log(200)];
    const a = MainEffectsModel.fit(x, y, levels).predict(all);
    assert.deepEqual(MainEffectsModel.fit(x, y, levels).predict(all), a);
    const fp16 = MainEffectsModel.fit(x, y, levels).predict(at(cfg('FP16', 8, 1))).variance[0]!;
    assert.ok(fp16 >= 2 * 0.5 ** 2 - 0.05, `variance ${fp16}`);
  });

  it('steers the Bayesian search in small spaces towards a value no measurement has had', () => {
    // Both design points at 2 instances (seed 1's design here), both poor: 1 instance is unknown, not "like them".
    const small: SearchSpace = { ...space, maxQueueDelaysUs: [0] };
    const t = (index: number, config: ServingConfig, ips: number) => ({ index, config, state: 'COMPLETE' as const, objectiveIps: ips, p99Ms: 10, error: null });
    const history = [t(0, cfg('FP32', 8, 2), 216), t(1, cfg('FP16', 8, 2), 190)];
    const untried = enumerateSpace(small).filter((c) => c.instanceCount === 1 || c.maxBatchSize !== 8);
    const first = (w: number | undefined) => new BayesianStrategy({ targetP99Ms: 20, ...(w === undefined ? {} : { mainEffectsWeight: w }) }).rank(untried, history, small, 1)[0]!;
    assert.equal(first(undefined).instanceCount, 1, 'with the main effects (the default in a small space)');
    assert.equal(first(0).instanceCount, 2, 'the Gaussian process alone ranks the configurations next to the measured ones first');
  });

  it('is weighed in only in small spaces by default', () => {
    assert.ok(defaultMainEffectsWeight(SMALL_SPACE) > 0);
    assert.equal(defaultMainEffectsWeight(SMALL_SPACE + 1), 0);
  });
});
