import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GridStrategy } from '../../src/search/grid.js';
import { DEFAULT_STRATEGY, STRATEGY_NAMES, UnknownStrategyError, strategyByName } from '../../src/search/index.js';
import { enumerateSpace } from '../../src/search/space.js';
import type { SearchSpace } from '../../src/domain/serving.js';
import type { TrialRecord } from '../../src/domain/trial.js';
import { configKey } from '../../src/domain/serving.js';

const space: SearchSpace = { precisions: ['FP32'], instanceCounts: [1, 2], maxBatchSizes: [4, 8], maxQueueDelaysUs: [0], preferredBatchSizes: [[], [8]] };

const rec = (index: number, config: TrialRecord['config'], state: TrialRecord['state']): TrialRecord => ({ index, config, state, objectiveIps: null, p99Ms: null, error: null });

describe('GridStrategy', () => {
  it('proposes in enumerateSpace order, skipping what the history holds in any state', () => {
    const all = enumerateSpace(space);
    const g = new GridStrategy();
    assert.deepEqual(g.ask([], space, 0), all[0]);
    const history = [rec(0, all[0]!, 'FAILED'), rec(1, all[2]!, 'SKIPPED')];
    assert.deepEqual(g.ask(history, space, 0), all[1]);
    history.push(rec(2, all[1]!, 'INFEASIBLE'));
    assert.deepEqual(g.ask(history, space, 0), all[3]);
  });

  it('returns null when every configuration is in the history', () => {
    const all = enumerateSpace(space);
    assert.equal(new GridStrategy().ask(all.map((c, i) => rec(i, c, 'COMPLETE')), space, 7), null);
  });

  it('never proposes invalid combinations, and lists them with the reason', () => {
    const g = new GridStrategy();
    const skipped = g.skipped(space);
    assert.deepEqual(skipped.map((s) => configKey(s.config)), ['mbs=4;delay=0;inst=1;prec=FP32;pbs=8', 'mbs=4;delay=0;inst=2;prec=FP32;pbs=8']);
    assert.match(skipped[0]!.reason, /preferred_batch_size 8 is above max_batch_size 4/);
    const proposed = enumerateSpace(space).map(configKey);
    for (const s of skipped) assert.ok(!proposed.includes(configKey(s.config)));
  });
});

describe('strategyByName', () => {
  it('knows grid, random, quick and bayesian (the default)', () => {
    assert.deepEqual([...STRATEGY_NAMES], ['grid', 'random', 'quick', 'bayesian']);
    assert.equal(DEFAULT_STRATEGY, 'bayesian');
    for (const name of STRATEGY_NAMES) assert.equal(strategyByName(name).name, name);
    assert.notEqual(strategyByName('grid'), strategyByName('grid'));
  });

  it('names the bad value and the accepted names', () => {
    assert.throws(() => strategyByName('bayes'), (e: unknown) => {
      assert.ok(e instanceof UnknownStrategyError);
      assert.equal(e.message, "search strategy 'bayes' is not one of grid, random, quick, bayesian");
      assert.deepEqual(e.accepted, STRATEGY_NAMES);
      return true;
    });
    assert.throws(() => strategyByName('toString'), UnknownStrategyError);
  });
});
