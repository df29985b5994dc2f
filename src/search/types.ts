import type { SearchSpace, ServingConfig } from '../domain/serving.js';
import type { TrialRecord } from '../domain/trial.js';

/**
 * A search strategy: a pure function of the stored history (optuna-style ask).
 * "Tell" is the store's write of the finished trial, nothing else; so a resumed run
 * asks again with the stored history and continues where it stopped.
 */
export interface Strategy {
  readonly name: string;
  /** The next configuration to measure, or null when the strategy has nothing left to propose. */
  ask(history: readonly TrialRecord[], space: SearchSpace, seed: number): ServingConfig | null;
  /**
   * Optional: why the search should stop before the budget (e.g. the expected improvement
   * is negligible), or null to go on. Pure, like ask; the runner prints the reason.
   */
  earlyStopReason?(history: readonly TrialRecord[], space: SearchSpace, seed: number): string | null;
  /**
   * Optional: the given untried configurations, most promising first by the strategy's own
   * judgement (the final local phase measures them in this order). Pure, like ask.
   */
  rank?(candidates: readonly ServingConfig[], history: readonly TrialRecord[], space: SearchSpace, seed: number): ServingConfig[];
}

/** What a strategy may be built with (the CLI knows these from the run plan). */
export interface StrategyOptions {
  /** The p99 target (ms): strategies that model feasibility use it. */
  targetP99Ms?: number;
  /** The run's budget (measurements): with the target, the search ends with finish.ts's final phase. */
  budget?: number;
  /** Finer control of that final phase (benchmarks turn its parts off). */
  finish?: { local?: boolean; confirm?: boolean; confirmShare?: number; maxFinalists?: number; maxMeasurements?: number };
}

