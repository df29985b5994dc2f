/**
 * The vocabulary of a comparison between a baseline and a candidate: what regress/compare.ts
 * works out, and what the report (summary JSON) and regress's renderers (JUnit, Markdown,
 * HTML) show. Here so that report/ reads it without importing regress/.
 */
import type { FixedLoad, LoadPoint } from './measurement.js';
import type { ServingConfig } from './serving.js';
import type { TrialState } from './trial.js';

export interface Thresholds {
  /** Largest accepted fall of throughput at the p99 target, as a fraction of the baseline (0.05 = 5 %). */
  maxThroughputDrop: number;
  /** Largest accepted rise of p99 at the fixed load, as a fraction of the baseline (0.10 = 10 %). */
  maxP99Rise: number;
  /** Most noise allowance added to either threshold, as a fraction (default 0.10). */
  maxNoise?: number;
}

/** One configuration's measurements on one side of a comparison. */
export interface Measured {
  /** 'baseline', 'candidate', 'candidate best'. */
  label: string;
  runId: string | null;
  trialIndex: number | null;
  variantName: string | null;
  config: ServingConfig;
  /** FAILED: the configuration could not be measured (infrastructure). */
  state: TrialState;
  error: string | null;
  /** Each measurement: the load points of one load search, in the order measured. */
  repeats: LoadPoint[][];
}

export type CheckId = 'sla' | 'throughput_at_target' | 'p99_at_fixed_load' | 'measurement';
export type CheckStatus = 'pass' | 'fail' | 'skipped' | 'error';

export interface Check {
  id: CheckId;
  /** For people and JUnit test names: 'throughput at the p99 target (50 ms)'. */
  name: string;
  status: CheckStatus;
  unit: 'inf/s' | 'ms' | '';
  /** The figures compared (medians over repeats); null where there is none. */
  baseline: number | null;
  candidate: number | null;
  /** Relative change in the bad direction: throughput drop, or p99 rise (0.07 = 7 % worse; negative = better). */
  worse: number | null;
  threshold: number | null;
  noise: number | null;
  /** threshold + noise. */
  allowance: number | null;
  /** The candidate's figure is only a lower bound (p99 beyond the loads measured). */
  lowerBound: boolean;
  /** Worse than the threshold but within the noise allowance. */
  withinNoise: boolean;
  samples: { baseline: number[]; candidate: number[] };
  /** One sentence with the figures. */
  message: string;
}

export type Verdict = 'pass' | 'regression' | 'sla-not-met' | 'infrastructure';

export interface SideSummary {
  label: string;
  runId: string | null;
  trialIndex: number | null;
  variantName: string | null;
  config: ServingConfig;
  state: TrialState;
  error: string | null;
  measurements: number;
  /** Median throughput at the target over the measurements; null when none met it. */
  throughputIps: number | null;
}

export interface Comparison {
  verdict: Verdict;
  exitCode: number;
  /** One sentence: the verdict and the figures that decided it. */
  headline: string;
  model: string;
  targetP99Ms: number;
  /** The load p99 is compared at; null when the baseline has no point within the target. */
  fixedLoad: FixedLoad | null;
  /** fixedLoad's concurrency in closed loop; null in open loop (kept for readers of the JSON and JUnit outputs). */
  fixedConcurrency: number | null;
  thresholds: Required<Thresholds>;
  baseline: SideSummary;
  candidate: SideSummary | null;
  candidateBest: SideSummary | null;
  checks: Check[];
}
