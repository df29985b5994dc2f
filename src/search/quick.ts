/**
 * Quick search: coordinate hill-climbing in the spirit of Model Analyzer's quick search,
 * kept as a second baseline.
 *
 * Each dimension is a ladder of the space's values. The climb starts small (the first
 * configuration of enumerateSpace: smallest batch, delay and instance count, first
 * precision). At the current configuration it measures every neighbour (one step up or
 * down one ordinal dimension, or another precision; larger steps first), then moves to the
 * best feasible neighbour if it beats the current one. When none does (a local optimum, or
 * nothing feasible around), it restarts from an unexplored start: the first configuration,
 * in a permutation fixed by the seed, that was not measured when the climb ended. It
 * returns null only when the whole space has been measured (budgets end it sooner).
 *
 * Pure: the climb is replayed from the history on every ask. Restart points depend only
 * on what was measured before the climb ended (history order), so later trials never
 * change an earlier decision.
 */
import { seededRng, shuffled } from './rng.js';
import { enumerateSpace } from './space.js';
import type { SearchSpace, ServingConfig } from '../domain/serving.js';
import type { Strategy } from './types.js';
import type { TrialRecord } from '../domain/trial.js';
import { configKey } from '../domain/serving.js';

interface Seen {
  index: number;
  record: TrialRecord;
}

/** The neighbours of c in the space, in the order they are measured. */
export function neighbours(c: ServingConfig, space: SearchSpace, valid: Map<string, ServingConfig>): ServingConfig[] {
  const out: ServingConfig[] = [];
  const push = (n: ServingConfig) => {
    const v = valid.get(configKey(n));
    if (v) out.push(v);
  };
  const step = <K extends 'maxBatchSize' | 'instanceCount' | 'maxQueueDelayUs'>(field: K, values: readonly number[], dir: 1 | -1) => {
    const i = values.indexOf(c[field] as number);
    if (i < 0) return;
    const v = values[i + dir];
    if (v !== undefined) push({ ...c, [field]: v });
  };
  const pbsList = space.preferredBatchSizes ?? [[]];
  const pbsIndex = pbsList.findIndex((p) => p.join('+') === c.preferredBatchSizes.join('+'));
  for (const dir of [1, -1] as const) {
    step('maxBatchSize', space.maxBatchSizes, dir);
    step('instanceCount', space.instanceCounts, dir);
    step('maxQueueDelayUs', space.maxQueueDelaysUs, dir);
    const p = pbsIndex >= 0 ? pbsList[pbsIndex + dir] : undefined;
    if (p) push({ ...c, preferredBatchSizes: [...p] });
  }
  for (const precision of space.precisions) if (precision !== c.precision) push({ ...c, precision });
  return out;
}

export class QuickStrategy implements Strategy {
  readonly name = 'quick';

  ask(history: readonly TrialRecord[], space: SearchSpace, seed: number): ServingConfig | null {
    const all = enumerateSpace(space);
    if (all.length === 0) return null;
    const valid = new Map(all.map((c) => [configKey(c), c]));
    const seen = new Map<string, Seen>();
    history.forEach((record, index) => {
      const k = configKey(record.config);
      if (!seen.has(k)) seen.set(k, { index, record });
    });
    const value = (c: ServingConfig): number => {
      const r = seen.get(configKey(c))?.record;
      return r && r.state === 'COMPLETE' && r.objectiveIps !== null ? r.objectiveIps : -Infinity;
    };
    const restarts = shuffled(all, seededRng(seed, 'quick-restarts'));

    let current = all[0]!;
    let climbTime = 0; // one past the latest history index this climb has looked at
    for (let guard = 0; guard <= all.length * (history.length + 2); guard++) {
      const here = seen.get(configKey(current));
      if (!here) return current;
      climbTime = Math.max(climbTime, here.index + 1);
      const around = neighbours(current, space, valid);
      const todo = around.find((n) => !seen.has(configKey(n)));
      if (todo) return todo;
      for (const n of around) climbTime = Math.max(climbTime, seen.get(configKey(n))!.index + 1);
      let best: ServingConfig | null = null;
      for (const n of around) if (value(n) > value(best ?? current)) best = n;
      if (best) {
        current = best;
        continue;
      }
      const next = restarts.find((c) => {
        const s = seen.get(configKey(c));
        return !s || s.index >= climbTime;
      });
      if (!next) return null;
      current = next;
    }
    // Unreachable: climbTime grows with every restart and moves strictly improve.
    return all.find((c) => !seen.has(configKey(c))) ?? null;
  }
}
