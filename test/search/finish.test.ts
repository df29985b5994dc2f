import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { estimateConfigs, recommend } from '../../src/search/estimate.js';
import { FinishingStrategy, nextRepeat } from '../../src/search/finish.js';
import { strategyByName } from '../../src/search/index.js';
import { enumerateSpace } from '../../src/search/space.js';
import type { SearchSpace, ServingConfig } from '../../src/domain/serving.js';
import type { Strategy } from '../../src/search/types.js';
import type { TrialRecord } from '../../src/domain/trial.js';
import { configKey } from '../../src/domain/serving.js';

const space: SearchSpace = { maxBatchSizes: [1, 4, 16, 64], maxQueueDelaysUs: [0, 1000, 4000], instanceCounts: [1, 2], precisions: ['FP32', 'FP16'] };
const all = enumerateSpace(space);
const cfg = (mbs: number, delay: number, inst: number, precision: ServingConfig['precision'] = 'FP16'): ServingConfig =>
  ({ maxBatchSize: mbs, maxQueueDelayUs: delay, instanceCount: inst, precision, preferredBatchSizes: [] });
const ok = (index: number, config: ServingConfig, ips: number): TrialRecord => ({ index, config, state: 'COMPLETE', objectiveIps: ips, p99Ms: 5, error: null });

/** A strategy that proposes a fixed list, then nothing; optionally says to stop early after `stopAfter` trials. */
class ListStrategy implements Strategy {
  readonly name = 'list';
  constructor(private readonly list: ServingConfig[], private readonly stopAfter = Infinity) {}
  ask(history: readonly TrialRecord[]): ServingConfig | null {
    const seen = new Set(history.map((t) => configKey(t.config)));
    return this.list.find((c) => !seen.has(configKey(c))) ?? null;
  }
  earlyStopReason(history: readonly TrialRecord[]): string | null {
    return history.length >= this.stopAfter ? 'inner says stop' : null;
  }
}

/** Runs the loop as runSearch does: budget, early stop, ask. */
function run(s: Strategy, budget: number, value: (c: ServingConfig, repeat: number) => number): { history: TrialRecord[]; stop: string } {
  const history: TrialRecord[] = [];
  const times = new Map<string, number>();
  for (;;) {
    if (history.length >= budget) return { history, stop: 'budget' };
    const early = s.earlyStopReason?.(history, space, 0);
    if (early) return { history, stop: early };
    const c = s.ask(history, space, 0);
    if (!c) return { history, stop: 'exhausted' };
    const k = configKey(c);
    const n = times.get(k) ?? 0;
    times.set(k, n + 1);
    history.push(ok(history.length, c, value(c, n)));
  }
}

describe('FinishingStrategy: the local phase', () => {
  // The best sits at the edge (delay 4000) one step from where the inner strategy settles.
  const value = (c: ServingConfig) => (c.precision === 'FP16' ? 1000 : 500) + (c.maxBatchSize === 4 ? 100 : 0) + (c.instanceCount === 2 ? 50 : 0) + c.maxQueueDelayUs! / 100;

  it('measures the untested neighbours of the incumbent before the budget ends', () => {
    // Settles at (4, 1000 µs, 2, FP16), having tried everything around it but the edge delay.
    const inner = new ListStrategy([cfg(4, 1000, 2), cfg(1, 1000, 2), cfg(16, 1000, 2), cfg(4, 0, 2), cfg(4, 1000, 1), cfg(64, 1000, 2),
      ...all.filter((c) => c.maxQueueDelayUs !== 4000)]);
    const plain = run(inner, 8, value);
    const best = (h: TrialRecord[]) => recommend(h, 10).best!.config;
    assert.notEqual(best(plain.history).maxQueueDelayUs, 4000, 'the inner strategy alone never reaches the edge');
    const finished = run(new FinishingStrategy(inner, { budget: 8, targetP99Ms: 10, confirm: false }), 8, value);
    assert.equal(finished.history.length, 8, 'the local phase is inside the budget');
    assert.equal(best(finished.history).maxQueueDelayUs, 4000);
  });

  it('goes on after the inner strategy stops early until the neighbours are measured, then stops with its reason', () => {
    const inner = new ListStrategy([cfg(4, 1000, 2)], 1);
    const { history, stop } = run(new FinishingStrategy(inner, { budget: 50, targetP99Ms: 10, confirm: false }), 50, value);
    assert.equal(stop, 'inner says stop');
    assert.ok(history.length > 1);
    assert.deepEqual(recommend(history, 10).best!.config, cfg(4, 4000, 2), 'climbed to the edge through the neighbours');
  });

  it('is pure: the same history gives the same decision', () => {
    const s = strategyByName('bayesian', { targetP99Ms: 10, budget: 12 }) as FinishingStrategy;
    const h = run(s, 7, value).history;
    assert.deepEqual(s.decide(h, space, 3), s.decide(h, space, 3));
    assert.deepEqual(s.decide(h, space, 3), (strategyByName('bayesian', { targetP99Ms: 10, budget: 12 }) as FinishingStrategy).decide(h, space, 3));
  });
});

describe('FinishingStrategy: finalists measured again', () => {
  it('measures close rivals again, interleaved, and recommends the best mean, not the luckiest measurement', () => {
    const a = cfg(4, 1000, 2);
    const b = cfg(16, 1000, 2);
    // b is truly better (1000 vs 960), but a's first measurement was lucky (1050).
    const value = (c: ServingConfig, repeat: number) =>
      configKey(c) === configKey(a) ? [1050, 930, 950][repeat] ?? 950 : configKey(c) === configKey(b) ? [1000, 990, 1010][repeat] ?? 1000 : 100;
    const inner = new ListStrategy([a, b]);
    const { history } = run(new FinishingStrategy(inner, { budget: 6, targetP99Ms: 10, local: false }), 6, value);
    const order = history.map((t) => (configKey(t.config) === configKey(a) ? 'a' : 'b')).join('');
    assert.equal(order, 'ababba', 'after the search (ab): the fewest-measured finalist first, the better one on ties');
    assert.deepEqual(recommend(history, 10).best!.config, b);
    assert.deepEqual(recommend(history.slice(0, 2), 10).best!.config, a, 'on single measurements, the lucky one would have won');
  });

  it('stops measuring again once the intervals part (noise-free repeats)', () => {
    const a = cfg(4, 1000, 2);
    const b = cfg(16, 1000, 2);
    const h = [ok(0, a, 1000), ok(1, b, 980)];
    assert.deepEqual(nextRepeat(h, 10), a, 'with the assumed 5% noise the two overlap');
    const again = [...h, ok(2, a, 1000)];
    assert.equal(estimateConfigs(again, 10).noise, 0, 'the repeat shows no noise');
    assert.equal(nextRepeat(again, 10), null);
  });
});

describe('recommend', () => {
  it('judges by the mean of repeats, with an interval, and says when the two best cannot be told apart', () => {
    const a = cfg(4, 1000, 2);
    const b = cfg(16, 1000, 2);
    const h = [ok(0, a, 1100), ok(1, b, 1000), ok(2, a, 900), ok(3, b, 1010), ok(4, a, 950)];
    const r = recommend(h, 10);
    assert.deepEqual(r.best!.config, b);
    assert.equal(r.best!.meanIps, 1005);
    assert.deepEqual(r.runnerUp!.indexes, [0, 2, 4]);
    assert.ok(r.best!.lowIps! < 1005 && r.best!.highIps! > 1005);
    assert.equal(r.tied, true, 'a is noisy: its interval covers b');
    assert.ok(r.estimates.noiseDf === 3);
  });

  it('does not recommend a configuration that missed the target in most of its measurements', () => {
    const a = cfg(4, 1000, 2);
    const b = cfg(16, 1000, 2);
    const miss = (index: number, config: ServingConfig): TrialRecord => ({ index, config, state: 'INFEASIBLE', objectiveIps: null, p99Ms: 12, error: 'above' });
    const h = [ok(0, a, 2000), miss(1, a), miss(2, a), ok(3, b, 1000)];
    assert.deepEqual(recommend(h, 10).best!.config, b);
  });
});

describe('FinishingStrategy: which neighbours first', () => {
  it('measures the incumbent\'s untried neighbours before the runner-up\'s, even when the strategy ranks the runner-up\'s higher', () => {
    const incumbent = cfg(16, 1000, 1);
    const runnerUp = cfg(4, 1000, 1);
    // A strategy that ranks configurations with max_batch_size 4 first, and has nothing else to propose.
    const inner: Strategy = {
      name: 'ranker',
      ask: () => null,
      rank: (cs) => [...cs].sort((a, b) => Number(b.maxBatchSize === 4) - Number(a.maxBatchSize === 4)),
    };
    const history = [ok(0, incumbent, 1000), ok(1, runnerUp, 900)];
    const s = new FinishingStrategy(inner, { budget: 3, targetP99Ms: 10, confirm: false });
    const d = s.decide(history, space, 0);
    assert.equal(d.phase, 'local');
    const stepFromIncumbent = [cfg(64, 1000, 1), cfg(16, 0, 1), cfg(16, 4000, 1), cfg(16, 1000, 2), cfg(16, 1000, 1, 'FP32')].map(configKey);
    assert.ok(stepFromIncumbent.includes(configKey(d.next!)), `one step from the incumbent: ${configKey(d.next!)}`);
  });
});

describe('estimateConfigs: feasible by majority', () => {
  const miss = (index: number, config: ServingConfig): TrialRecord => ({ index, config, state: 'INFEASIBLE', objectiveIps: null, p99Ms: 12, error: 'above target' });
  const failed = (index: number, config: ServingConfig): TrialRecord => ({ index, config, state: 'FAILED', objectiveIps: null, p99Ms: null, error: 'server crashed' });
  const a = cfg(4, 1000, 1);
  const b = cfg(16, 1000, 1);

  it('does not recommend a configuration that missed the target as often as it met it', () => {
    const h = [ok(0, a, 2000), miss(1, a), ok(2, b, 1000)];
    assert.equal(estimateConfigs(h, 10).configs.find((e) => e.key === configKey(a))!.feasible, false);
    assert.deepEqual(recommend(h, 10).best!.config, b);
  });

  it('recommends one that met it in most of its measurements, by the mean of those', () => {
    const h = [ok(0, a, 2000), miss(1, a), ok(2, a, 1800), ok(3, b, 1000)];
    const r = recommend(h, 10);
    assert.deepEqual(r.best!.config, a);
    assert.equal(r.best!.meanIps, 1900);
  });

  it('leaves FAILED trials out of the vote: they say nothing about the target', () => {
    const h = [ok(0, a, 2000), failed(1, a), ok(2, b, 1000)];
    assert.deepEqual(recommend(h, 10).best!.config, a);
  });
});
