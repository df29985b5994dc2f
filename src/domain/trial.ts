/** A trial as the search sees it: read back from the store. */
import type { ServingConfig } from './serving.js';

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
