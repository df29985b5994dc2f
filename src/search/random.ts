/**
 * Random search: the baseline every figure is compared against. The seed fixes one
 * permutation of the space; the next configuration is the first in it that the history
 * does not hold (in any state), so there are no repeats and a resumed run continues the
 * same sequence.
 */
import { seededRng, shuffled } from './rng.js';
import { enumerateSpace } from './space.js';
import type { SearchSpace, ServingConfig } from '../domain/serving.js';
import type { Strategy } from './types.js';
import type { TrialRecord } from '../domain/trial.js';
import { configKey } from '../domain/serving.js';

export class RandomStrategy implements Strategy {
  readonly name = 'random';

  ask(history: readonly TrialRecord[], space: SearchSpace, seed: number): ServingConfig | null {
    const seen = new Set(history.map((t) => configKey(t.config)));
    for (const c of shuffled(enumerateSpace(space), seededRng(seed, 'random'))) if (!seen.has(configKey(c))) return c;
    return null;
  }
}
