import type { LoadPoint } from '../domain/measurement.js';
import type { ServingConfig } from '../domain/serving.js';
import type { TrialState } from '../domain/trial.js';
import type { Confirmation } from './confirmation.js';

/**
 * A load point as the report sees it: the stored LoadPoint, plus figures the store may hold
 * in later schema versions. The report uses them where present and says so where not.
 */
export interface ReportPoint extends LoadPoint {
  /** Highest GPU memory used while the point was measured (MB); absent or null when not measured. */
  gpuMemoryMb?: number | null;
  /** Client mean latency (ms); absent when not stored (the latency breakdown then uses p50). */
  meanMs?: number | null;
  // From LoadPoint, read by the report where present (absent on older runs and replayed or simulated ones):
  // p99CiMs and ciLevel (hi is Infinity when too few requests bound it), clientLimited and
  // clientLimitReason, unreliable and unreliableReason.
}

/** One trial as the report sees it: read back from the store, plain data. */
export interface ReportTrial {
  /** 0-based order in the run. */
  index: number;
  /** Name the server knew the variant by (`<model>_config_<n>`). */
  variantName: string;
  config: ServingConfig;
  state: TrialState;
  error: string | null;
  /** Highest throughput (inf/s) whose p99 met the target; null when infeasible or failed. */
  objectiveIps: number | null;
  /** p99 (ms) at that best point, or the lowest p99 seen when infeasible. */
  p99Ms: number | null;
  /** The model's own configuration as found in the repository (the baseline). */
  isDefault: boolean;
  /**
   * Every measured load point, in the order measured. The one objectiveIps and p99Ms come from
   * (the chosen point, whose interval and flags the table shows) is found by those figures: see
   * chosenPoint in pareto.ts.
   */
  points: ReportPoint[];
  /** The variant's config.pbtxt as stored; absent when not known. */
  pbtxt?: string | null;
}

export interface ReportRun {
  id: string;
  model: string;
  /** ISO 8601. */
  createdAt: string;
  finishedAt: string | null;
  targetP99Ms: number;
  strategy: string;
  seed: number;
  /** Configurations the run was allowed to measure. */
  budget: number;
  /** Launch mode: embedded | local | docker | remote | replay | sim. */
  launch: string;
  serverVersion: string;
  toolVersion: string;
  hardware: string;
  windowMs: number;
  maxWindows: number;
  /** The load search's highest concurrency; absent on runs stored without it (the knee's cost is then not stated). */
  maxConcurrency?: number;
  /** Fraction, e.g. 0.1 for 10 %. */
  stabilityTolerance: number;
  status: string;
  wallS: number | null;
  stopReason: string | null;
}

/** Everything the report renders; built by the caller from the store only. */
export interface ReportData {
  run: ReportRun;
  trials: ReportTrial[];
  /** Trial index (ReportTrial.index), not array position. */
  recommendedIndex: number | null;
  defaultIndex: number | null;
  recommendedPbtxt: string | null;
  defaultPbtxt: string | null;
  /** The recommended configuration and the runner-up with their repeats and intervals; absent: not computed (tests, older callers). */
  confirmation?: Confirmation;
}
