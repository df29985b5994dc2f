/** The serving configuration of one trial: the knobs tanalyze searches over. */
export type Precision = 'FP32' | 'FP16' | 'BF16' | 'INT8';
/** In the order searches and tables list them: full precision first, then fewer bits. */
export const PRECISIONS: readonly Precision[] = ['FP32', 'FP16', 'BF16', 'INT8'];

export interface ServingConfig {
  /** Triton `max_batch_size`; 0 would mean "no batching" and is not searched. */
  maxBatchSize: number;
  /** `dynamic_batching.max_queue_delay_microseconds`; null = no dynamic batcher (Triton's default scheduler). */
  maxQueueDelayUs: number | null;
  /** `instance_group[0].count`. */
  instanceCount: number;
  precision: Precision;
  /** `dynamic_batching.preferred_batch_size`; empty = let the batcher fill up to max_batch_size. */
  preferredBatchSizes: number[];
}

/** Values for each dimension; a configuration is one value from each. */
export interface SearchSpace {
  maxBatchSizes: number[];
  maxQueueDelaysUs: number[];
  instanceCounts: number[];
  precisions: Precision[];
  /**
   * Optional: `dynamic_batching.preferred_batch_size` sets to try ([] = none); absent = [[]].
   * Sets above a max batch size are invalid combinations, skipped (see search/space.ts).
   */
  preferredBatchSizes?: number[][];
}

export type TrialState = 'RUNNING' | 'COMPLETE' | 'INFEASIBLE' | 'FAILED' | 'SKIPPED';

/** What a strategy sees of a finished (or crashed) trial: read back from the store. */
export interface TrialRecord {
  /** 0-based order in the run. */
  index: number;
  config: ServingConfig;
  state: TrialState;
  /** Highest throughput (inferences/s) whose p99 met the target; null when infeasible or failed. */
  objectiveIps: number | null;
  /** p99 (ms) at that best load point, or the lowest p99 seen when infeasible. */
  p99Ms: number | null;
  error: string | null;
}

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

export function configKey(c: ServingConfig): string {
  const pbs = c.preferredBatchSizes.length ? c.preferredBatchSizes.join('+') : '-';
  return `mbs=${c.maxBatchSize};delay=${c.maxQueueDelayUs ?? 'off'};inst=${c.instanceCount};prec=${c.precision};pbs=${pbs}`;
}
