import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QuickStrategy, neighbours } from '../../src/search/quick.js';
import { RandomStrategy } from '../../src/search/random.js';
import { enumerateSpace } from '../../src/search/space.js';
import type { SearchSpace, ServingConfig } from '../../src/domain/serving.js';
import type { TrialRecord } from '../../src/domain/trial.js';
import { configKey } from '../../src/domain/serving.js';

const space: SearchSpace = { maxBatchSizes: [1, 4, 16, 64], maxQueueDelaysUs: [0, 1000, 10000], instanceCounts: [1, 2, 4], precisions: ['FP32', 'FP16'] };
const all = enumerateSpace(space);
const valid = new Map(all.map((c) => [configKey(c), c]));
const cfg = (mbs: number, delay: number, inst: number, precision: ServingConfig['precision'] = 'FP32'): ServingConfig => valid.get(configKey({ maxBatchSize: mbs, maxQueueDelayUs: delay, instanceCount: inst, precision, preferredBatchSizes: [] }))!;

/** Unimodal: best at batch 16, delay 1000, 2 instances, FP16. */
function measure(c: ServingConfig, index: number): TrialRecord {
  const d = Math.abs(Math.log2(c.maxBatchSize) - 4) + Math.abs(c.instanceCount - 2) + (c.maxQueueDelayUs === 1000 ? 0 : 1) + (c.precision === 'FP16' ? 0 : 1);
  return { index, config: c, state: 'COMPLETE', objectiveIps: 1000 - 100 * d, p99Ms: 5, error: null };
}

function run(s: { ask: QuickStrategy['ask'] }, seed: number, steps: number, m = measure): TrialRecord[] {
  const h: TrialRecord[] = [];
  for (let i = 0; i < steps; i++) {
    const c = s.ask(h, space, seed);
    if (!c) break;
    h.push(m(c, i));
  }
  return h;
}

describe('RandomStrategy', () => {
  it('is a seeded permutation of the space', () => {
    const a = run(new RandomStrategy(), 1, all.length + 1).map((t) => configKey(t.config));
    assert.equal(a.length, all.length);
    assert.deepEqual([...a].sort(), all.map(configKey).sort());
    const b = run(new RandomStrategy(), 2, all.length).map((t) => configKey(t.config));
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(a, all.map(configKey), 'not the grid order');
  });
});

describe('QuickStrategy', () => {
  it('neighbours: one step along each ordinal dimension, larger first, then the other precisions', () => {
    const n = neighbours(cfg(4, 1000, 2), space, valid).map(configKey);
    assert.deepEqual(n, [cfg(16, 1000, 2), cfg(4, 1000, 4), cfg(4, 10000, 2), cfg(1, 1000, 2), cfg(4, 1000, 1), cfg(4, 0, 2), cfg(4, 1000, 2, 'FP16')].map(configKey));
    assert.equal(neighbours(cfg(1, 0, 1), space, valid).length, 4);
  });

  it('starts small, measures the neighbourhood, and climbs to the optimum', () => {
    const h = run(new QuickStrategy(), 0, 40);
    assert.deepEqual(h[0]!.config, cfg(1, 0, 1));
    assert.deepEqual(h.slice(1, 5).map((t) => configKey(t.config)).sort(), neighbours(cfg(1, 0, 1), space, valid).map(configKey).sort());
    const best = h.reduce((b, t) => (t.objectiveIps! > b.objectiveIps! ? t : b));
    assert.deepEqual(best.config, cfg(16, 1000, 2, 'FP16'));
    assert.ok(h.findIndex((t) => configKey(t.config) === configKey(cfg(16, 1000, 2, 'FP16'))) < 30);
  });

  it('restarts from an unexplored configuration at a local optimum, and covers the space in the end', () => {
    const h = run(new QuickStrategy(), 5, all.length + 1);
    assert.equal(h.length, all.length);
    assert.equal(new Set(h.map((t) => configKey(t.config))).size, all.length);
    // After the first climb's optimum and its neighbours, the next proposal is not one of them.
    const opt = cfg(16, 1000, 2, 'FP16');
    const around = new Set([opt, ...neighbours(opt, space, valid)].map(configKey));
    const lastOfClimb = Math.max(...h.map((t, i) => (around.has(configKey(t.config)) ? i : -1)));
    assert.ok(lastOfClimb < all.length - 1);
  });

  it('when nothing around the start is feasible, it moves on instead of stalling', () => {
    const infeasible = (c: ServingConfig, i: number): TrialRecord => ({ index: i, config: c, state: 'INFEASIBLE', objectiveIps: null, p99Ms: 50, error: null });
    const h = run(new QuickStrategy(), 0, 20, infeasible);
    assert.equal(h.length, 20);
    assert.equal(new Set(h.map((t) => configKey(t.config))).size, 20);
  });
});
