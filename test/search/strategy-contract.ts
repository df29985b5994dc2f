/**
 * The contract every search strategy keeps (optuna-style): run it with
 * `strategyContract(name, () => strategyByName(name))`. Trials are simulated by a
 * deterministic fake landscape (no server), including FAILED and INFEASIBLE ones.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { enumerateSpace, spaceSize, validateConfig } from '../../src/search/space.js';
import type { SearchSpace, ServingConfig } from '../../src/domain/serving.js';
import type { Strategy } from '../../src/search/types.js';
import type { TrialRecord, TrialState } from '../../src/domain/trial.js';
import { configKey } from '../../src/domain/serving.js';

export const CONTRACT_SPACES: Record<string, SearchSpace> = {
  small: { precisions: ['FP32', 'FP16'], instanceCounts: [1, 2], maxBatchSizes: [4, 8], maxQueueDelaysUs: [0, 500] },
  'with invalid combinations': {
    precisions: ['FP32'],
    instanceCounts: [1],
    maxBatchSizes: [2, 8, 16],
    maxQueueDelaysUs: [100],
    preferredBatchSizes: [[], [4], [4, 8]],
  },
  'one point': { precisions: ['INT8'], instanceCounts: [3], maxBatchSizes: [32], maxQueueDelaysUs: [0] },
};

const SEEDS = [0, 1, 42, 2 ** 31 - 1];

function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export type Landscape = 'mixed' | 'all-failed';

/** A deterministic fake measurement: throughput rises with batch and instances, some configs fail. */
export function simulateTrial(config: ServingConfig, index: number, landscape: Landscape = 'mixed'): TrialRecord {
  const h = fnv(configKey(config));
  let state: TrialState = 'COMPLETE';
  if (landscape === 'all-failed' || h % 5 === 0) state = 'FAILED';
  else if (h % 4 === 0) state = 'INFEASIBLE';
  const prec = { FP32: 1, FP16: 1.8, BF16: 1.8, INT8: 2.5 }[config.precision];
  const ips = config.maxBatchSize * config.instanceCount * prec * 100 / (1 + (config.maxQueueDelayUs ?? 0) / 2000) + (h % 97);
  const p99 = 2 + config.maxBatchSize / config.instanceCount + (config.maxQueueDelayUs ?? 0) / 1000;
  return {
    index,
    config,
    state,
    objectiveIps: state === 'COMPLETE' ? ips : null,
    p99Ms: state === 'FAILED' ? null : p99,
    error: state === 'FAILED' ? 'simulated failure' : state === 'INFEASIBLE' ? 'simulated: above target' : null,
  };
}

/** Asks until null (or one ask past the space size), telling simulated results. */
export function runToEnd(strategy: Strategy, space: SearchSpace, seed: number, opts: { landscape?: Landscape; prefix?: TrialRecord[] } = {}): {
  proposals: ServingConfig[];
  history: TrialRecord[];
  endedWithNull: boolean;
} {
  const history: TrialRecord[] = [...(opts.prefix ?? [])];
  const proposals: ServingConfig[] = [];
  const limit = spaceSize(space) + 1;
  for (let i = 0; i < limit; i++) {
    const c = strategy.ask(history, space, seed);
    if (c === null) return { proposals, history, endedWithNull: true };
    proposals.push(c);
    history.push(simulateTrial(c, history.length, opts.landscape));
  }
  return { proposals, history, endedWithNull: false };
}

export function strategyContract(name: string, makeStrategy: () => Strategy): void {
  describe(`strategy contract: ${name}`, () => {
    it('has the name it is registered under', () => {
      assert.equal(makeStrategy().name, name);
    });

    for (const [spaceName, space] of Object.entries(CONTRACT_SPACES)) {
      describe(`space: ${spaceName}`, () => {
        const valid = new Set(enumerateSpace(space).map(configKey));

        it('proposes only valid configurations of the space', () => {
          for (const seed of SEEDS) {
            for (const c of runToEnd(makeStrategy(), space, seed).proposals) {
              assert.equal(validateConfig(c), null, `seed ${seed}: ${configKey(c)}`);
              assert.ok(valid.has(configKey(c)), `seed ${seed}: ${configKey(c)} is not in the space`);
            }
          }
        });

        it('never proposes a configuration twice', () => {
          for (const seed of SEEDS) {
            const keys = runToEnd(makeStrategy(), space, seed).proposals.map(configKey);
            assert.equal(new Set(keys).size, keys.length, `seed ${seed}: ${keys.join(' | ')}`);
          }
        });

        it('terminates: returns null after at most spaceSize proposals, and keeps returning null', () => {
          for (const seed of SEEDS) {
            const s = makeStrategy();
            const r = runToEnd(s, space, seed);
            assert.ok(r.endedWithNull, `seed ${seed}: still proposing after ${r.proposals.length} (space size ${valid.size})`);
            assert.ok(r.proposals.length <= valid.size);
            assert.equal(s.ask(r.history, space, seed), null);
          }
        });

        it('is deterministic under a seed, with no hidden state between asks', () => {
          for (const seed of SEEDS) {
            const a = runToEnd(makeStrategy(), space, seed).proposals;
            const b = runToEnd(makeStrategy(), space, seed).proposals;
            assert.deepEqual(b, a, `seed ${seed}: two fresh strategies differ`);
            const reused = makeStrategy();
            runToEnd(reused, space, seed + 1);
            assert.deepEqual(runToEnd(reused, space, seed).proposals, a, `seed ${seed}: a used strategy differs from a fresh one`);
          }
        });

        it('resumes: asked with any prefix of its own history, it continues the same sequence', () => {
          for (const seed of SEEDS) {
            const { proposals, history } = runToEnd(makeStrategy(), space, seed);
            for (let k = 0; k <= history.length; k++) {
              const fresh = makeStrategy(); // a new process after a crash
              const next = fresh.ask(history.slice(0, k), space, seed);
              assert.deepEqual(next, k < proposals.length ? proposals[k] : null, `seed ${seed}, prefix ${k}`);
            }
          }
        });

        it('survives FAILED trials in the history (and does not retry them)', () => {
          for (const seed of SEEDS) {
            const r = runToEnd(makeStrategy(), space, seed, { landscape: 'all-failed' });
            assert.ok(r.endedWithNull);
            const keys = r.proposals.map(configKey);
            assert.equal(new Set(keys).size, keys.length);
            for (const k of keys) assert.ok(valid.has(k));
          }
        });

        it('tolerates history entries outside the space (the model\'s default config, SKIPPED trials)', () => {
          const outside: TrialRecord[] = [
            { index: 0, config: { maxBatchSize: 0, maxQueueDelayUs: null, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [] }, state: 'COMPLETE', objectiveIps: 123, p99Ms: 4, error: null },
            { index: 1, config: { maxBatchSize: 64, maxQueueDelayUs: 99, instanceCount: 7, precision: 'INT8', preferredBatchSizes: [3] }, state: 'SKIPPED', objectiveIps: null, p99Ms: null, error: 'no INT8 model' },
          ];
          for (const seed of SEEDS) {
            const r = runToEnd(makeStrategy(), space, seed, { prefix: outside });
            assert.ok(r.endedWithNull);
            const keys = r.proposals.map(configKey);
            assert.equal(new Set(keys).size, keys.length);
            for (const k of keys) assert.ok(valid.has(k), k);
          }
        });
      });
    }
  });
}
