/**
 * Exhaustive search in enumerateSpace order. A pure function of the history: the next
 * configuration is the first one whose key is not in the history, whatever that trial's
 * state (a FAILED or SKIPPED configuration is not tried again; the runner, not the
 * strategy, redoes trials that were interrupted).
 */
import { enumerateSpace, skippedConfigs, type SkippedConfig } from './space.js';
import type { SearchSpace, ServingConfig } from '../domain/serving.js';
import type { Strategy } from './types.js';
import type { TrialRecord } from '../domain/trial.js';
import { configKey } from '../domain/serving.js';

export class GridStrategy implements Strategy {
  readonly name = 'grid';

  ask(history: readonly TrialRecord[], space: SearchSpace, _seed: number): ServingConfig | null {
    const seen = new Set(history.map((t) => configKey(t.config)));
    for (const c of enumerateSpace(space)) if (!seen.has(configKey(c))) return c;
    return null;
  }

  /** Combinations of the space the grid never proposes, and why. */
  skipped(space: SearchSpace): SkippedConfig[] {
    return skippedConfigs(space);
  }
}
