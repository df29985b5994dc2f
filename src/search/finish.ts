/**
 * The end of every search, the one place that decides it: a strategy (random, quick,
 * bayesian) proposes while the budget lasts, and before the budget ends (or the strategy's
 * early stop fires, or it has nothing left) this wrapper spends the rest on
 *
 * 1. the local phase: the untested neighbours of the incumbent (the recommendation so far:
 *    recommend() in estimate.ts), one step along each dimension (max_batch_size, queue
 *    delay, instances, preferred sizes) or another precision, the edges of the space
 *    included. Strategies settle next to the optimum; on real landscapes the best is often
 *    one step away (an edge value) and configurations there differ by a few percent;
 * 2. confirmation: the finalists, configurations whose interval overlaps the incumbent's,
 *    are measured again, interleaved (each round measures the one with the fewest
 *    measurements, best first), so drift hits all alike, and the recommendation is the best
 *    mean, not the luckiest measurement. It ends when the intervals part, when each
 *    finalist has `maxMeasurements`, or with the budget.
 *
 * When: once the budget left is no more than what the local phase needs (the incumbent's
 * untested neighbours) plus the confirmation reserve (`confirmShare` of the budget). Pure,
 * a function of the history like ask: a resumed run decides the same.
 */
import { neighbours } from './quick.js';
import { enumerateSpace } from './space.js';
import { estimateConfigs, overlaps, recommend, type ConfigEstimate } from './estimate.js';
import type { SearchSpace, ServingConfig } from '../domain/serving.js';
import type { Strategy } from './types.js';
import type { TrialRecord } from '../domain/trial.js';
import { configKey } from '../domain/serving.js';

export interface FinishOptions {
  /** Measurements the run may make (the loop's --budget). */
  budget: number;
  targetP99Ms: number;
  /** Share of the budget kept for measuring finalists again (default 0.15, rounded down). */
  confirmShare?: number;
  /** Most of the budget the local phase reserves ahead (default 0.25, rounded down; it may use more once the strategy stops). */
  localShare?: number;
  /** Most finalists, the incumbent included (default 3). */
  maxFinalists?: number;
  /** Most measurements of one configuration (default 3). */
  maxMeasurements?: number;
  /** Reserve nothing ahead: finish only when the strategy stops or runs dry (grid: it measures every configuration). */
  onlyAtEnd?: boolean;
  /** Leave out the local phase (bench comparisons). */
  local?: boolean;
  /** Leave out confirmation (bench comparisons). */
  confirm?: boolean;
}

export type FinishPhase = 'search' | 'local' | 'confirm';

export interface FinishDecision {
  phase: FinishPhase;
  next: ServingConfig | null;
  /** Why the search ends (only when next is null). */
  reason?: string;
}

export class FinishingStrategy implements Strategy {
  readonly name: string;

  constructor(readonly inner: Strategy, private readonly opts: FinishOptions) {
    this.name = inner.name;
  }

  ask(history: readonly TrialRecord[], space: SearchSpace, seed: number): ServingConfig | null {
    return this.decide(history, space, seed).next;
  }

  earlyStopReason(history: readonly TrialRecord[], space: SearchSpace, seed: number): string | null {
    const d = this.decide(history, space, seed);
    return d.next === null && d.reason !== undefined && d.reason !== EXHAUSTED ? d.reason : null;
  }

  /** What to measure next and why. */
  decide(history: readonly TrialRecord[], space: SearchSpace, seed: number): FinishDecision {
    const left = this.opts.budget - history.length;
    const innerStop = this.inner.earlyStopReason?.(history, space, seed) ?? null;
    const local = this.opts.local === false ? [] : this.untestedNeighbours(history, space, seed);
    const repeat = this.opts.confirm === false ? null : this.nextRepeat(history);
    // No more than the finalists can use: each measured up to maxMeasurements times.
    const confirmCap = ((this.opts.maxMeasurements ?? 3) - 1) * (this.opts.maxFinalists ?? 3);
    const confirmReserve = this.opts.confirm === false ? 0 : Math.min(confirmCap, Math.floor((this.opts.confirmShare ?? 0.15) * this.opts.budget));
    const localReserve = Math.min(local.length, Math.floor((this.opts.localShare ?? 0.25) * this.opts.budget));
    const reserve = this.opts.onlyAtEnd ? 0 : localReserve + (repeat ? confirmReserve : 0);
    if (innerStop === null && left > reserve) {
      const next = this.inner.ask(history, space, seed);
      if (next !== null) return { phase: 'search', next };
    }
    // The final phase: the neighbours first, but not into the confirmation reserve.
    if (local.length > 0 && (repeat === null || left > confirmReserve)) return { phase: 'local', next: local[0]! };
    if (repeat) return { phase: 'confirm', next: repeat };
    if (local.length > 0) return { phase: 'local', next: local[0]! };
    if (innerStop !== null) return { phase: 'search', next: null, reason: innerStop };
    const next = this.inner.ask(history, space, seed);
    return next !== null ? { phase: 'search', next } : { phase: 'search', next: null, reason: EXHAUSTED };
  }

  /**
   * The neighbours never measured of the incumbent, then of the runner-up (the best is often
   * one step from the second best too, across a diagonal of the first), in quick search's
   * order, or the strategy's own (rank) where it has one.
   */
  private untestedNeighbours(history: readonly TrialRecord[], space: SearchSpace, seed: number): ServingConfig[] {
    const { best, runnerUp } = recommend(history, this.opts.targetP99Ms);
    const valid = new Map(enumerateSpace(space).map((c) => [configKey(c), c]));
    const tried = new Set(history.map((t) => configKey(t.config)));
    const out: ServingConfig[] = [];
    const seen = new Set<string>();
    // Each group in the strategy's order; the incumbent's before the runner-up's, whatever
    // the strategy thinks of the latter (on a small budget the one step left should go next
    // to the best measured, not next to the second).
    for (const e of [best, runnerUp]) {
      if (!e || !valid.has(e.key)) continue;
      const group = neighbours(e.config, space, valid).filter((c) => !tried.has(configKey(c)) && !seen.has(configKey(c)));
      for (const c of group) seen.add(configKey(c));
      out.push(...(this.inner.rank && group.length > 1 ? this.inner.rank(group, history, space, seed) : group));
    }
    return out;
  }

  /**
   * The finalist to measure again: among the incumbent and up to maxFinalists − 1 others
   * whose intervals overlap it, the one with the fewest measurements (the better on ties),
   * below maxMeasurements. Null when none overlaps or all have enough.
   */
  private nextRepeat(history: readonly TrialRecord[]): ServingConfig | null {
    return nextRepeat(history, this.opts.targetP99Ms, this.opts.maxFinalists ?? 3, this.opts.maxMeasurements ?? 3);
  }
}

const EXHAUSTED = 'search space exhausted';

export function finalists(history: readonly TrialRecord[], targetP99Ms: number, maxFinalists = 3): ConfigEstimate[] {
  const feasible = estimateConfigs(history, targetP99Ms).configs.filter((c) => c.feasible);
  const incumbent = feasible[0];
  if (!incumbent) return [];
  const rivals = feasible.slice(1).filter((c) => overlaps(incumbent, c)).slice(0, maxFinalists - 1);
  return rivals.length ? [incumbent, ...rivals] : [];
}

export function nextRepeat(history: readonly TrialRecord[], targetP99Ms: number, maxFinalists = 3, maxMeasurements = 3): ServingConfig | null {
  let pick: ConfigEstimate | null = null;
  for (const f of finalists(history, targetP99Ms, maxFinalists)) {
    if (f.indexes.length >= maxMeasurements) continue;
    if (pick === null || f.indexes.length < pick.indexes.length) pick = f;
  }
  return pick?.config ?? null;
}
