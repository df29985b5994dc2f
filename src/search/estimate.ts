/**
 * Noise-aware figures per configuration, from the history: a configuration measured more
 * than once (a repeat, see finish.ts) is judged by the mean of its measurements, with an
 * interval from the measurement noise, never by its single luckiest measurement. Pure.
 *
 * Noise: measurements of one configuration differ by a multiplicative factor (windows,
 * warm-up, the machine), so it is estimated on log throughput, pooled over every
 * configuration measured feasible twice or more: s² = Σ (n_i − 1)·s_i² / Σ (n_i − 1).
 * Before any repeat there is no estimate and `priorNoise` stands in (default 5%).
 * Interval of a mean of n: mean × exp(± t·s/√n), t the two-sided Student quantile for the
 * pooled degrees of freedom (wide while few repeats tell the noise).
 */
import { studentTQuantile } from '../measure/stats.js';
import { trialFeasible } from '../domain/target.js';
import type { ServingConfig } from '../domain/serving.js';
import type { TrialRecord } from '../domain/trial.js';
import { configKey } from '../domain/serving.js';

export interface ConfigEstimate {
  config: ServingConfig;
  key: string;
  /** History indexes of its measurements, in order. */
  indexes: number[];
  /** Throughput of each measurement that met the target (inf/s), in order. */
  feasibleIps: number[];
  /**
   * Met the target in more than half of its measurements that ran (COMPLETE or INFEASIBLE;
   * a FAILED trial says nothing about the target): one that missed as often as it met it
   * sits on the target's edge, a coin flip to recommend.
   */
  feasible: boolean;
  /** Mean throughput of the feasible measurements; null when none was feasible. */
  meanIps: number | null;
  /** Mean p99 (ms) of the feasible measurements (tie-break); null when none. */
  meanP99Ms: number | null;
  /** Interval of meanIps (inf/s) at `level`; null when none was feasible. */
  lowIps: number | null;
  highIps: number | null;
}

export interface Estimates {
  /** Feasible configurations best first (mean throughput, then lower p99, fewer instances, smaller batch, earlier), then the rest in history order. */
  configs: ConfigEstimate[];
  /** Relative measurement noise (σ of log throughput) the intervals use. */
  noise: number;
  /** Degrees of freedom behind it (0: the prior). */
  noiseDf: number;
  /** Two-sided level of the intervals, e.g. 0.9. */
  level: number;
}

export interface EstimateOptions {
  /** Relative noise assumed before any configuration was measured twice (default 0.05). */
  priorNoise?: number;
}

export const INTERVAL_LEVEL = 0.9;

/** The t factor of a two-sided INTERVAL_LEVEL interval; with no degrees of freedom (no repeats anywhere), the normal's. */
export function tQuantile90(df: number): number {
  return df > 0 ? studentTQuantile(1 - (1 - INTERVAL_LEVEL) / 2, df) : 1.645;
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** What the estimate reads of a measurement (a TrialRecord, the report's and regress's trials fit). */
export type Measurement = Pick<TrialRecord, 'config' | 'state' | 'objectiveIps' | 'p99Ms'>;

export function estimateConfigs(history: readonly Measurement[], targetP99Ms: number, opts: EstimateOptions = {}): Estimates {
  const groups = new Map<string, { config: ServingConfig; indexes: number[]; ips: number[]; p99: number[]; votes: number }>();
  history.forEach((t, i) => {
    if (t.state === 'RUNNING') return;
    const key = configKey(t.config);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { config: t.config, indexes: [], ips: [], p99: [], votes: 0 }));
    g.indexes.push(i);
    if (t.state === 'COMPLETE' || t.state === 'INFEASIBLE') g.votes++;
    if (trialFeasible(t, targetP99Ms) && t.objectiveIps! > 0) {
      g.ips.push(t.objectiveIps!);
      g.p99.push(t.p99Ms!);
    }
  });
  let ss = 0;
  let df = 0;
  for (const g of groups.values()) {
    if (g.ips.length < 2) continue;
    const logs = g.ips.map(Math.log);
    const m = mean(logs);
    ss += logs.reduce((s, x) => s + (x - m) ** 2, 0);
    df += logs.length - 1;
  }
  const noise = df > 0 ? Math.sqrt(ss / df) : (opts.priorNoise ?? 0.05);
  const t = tQuantile90(df);
  const configs: ConfigEstimate[] = [...groups.entries()].map(([key, g]) => {
    const feasible = g.ips.length > 0 && 2 * g.ips.length > g.votes;
    const m = g.ips.length ? mean(g.ips) : null;
    const half = g.ips.length ? Math.exp((t * noise) / Math.sqrt(g.ips.length)) : 1;
    return {
      config: g.config, key, indexes: g.indexes, feasibleIps: g.ips, feasible, meanIps: m,
      meanP99Ms: g.p99.length ? mean(g.p99) : null,
      lowIps: m === null ? null : m / half, highIps: m === null ? null : m * half,
    };
  });
  const ranked = configs.filter((c) => c.feasible).sort(compareEstimates);
  const rest = configs.filter((c) => !c.feasible);
  return { configs: [...ranked, ...rest], noise, noiseDf: df, level: INTERVAL_LEVEL };
}

function compareEstimates(a: ConfigEstimate, b: ConfigEstimate): number {
  return (
    b.meanIps! - a.meanIps! ||
    a.meanP99Ms! - b.meanP99Ms! ||
    a.config.instanceCount - b.config.instanceCount ||
    a.config.maxBatchSize - b.config.maxBatchSize ||
    a.indexes[0]! - b.indexes[0]!
  );
}

/** Whether two estimates' intervals overlap (the measurements cannot tell them apart). */
export function overlaps(a: ConfigEstimate, b: ConfigEstimate): boolean {
  if (a.lowIps === null || b.lowIps === null) return false;
  return a.lowIps <= b.highIps! && b.lowIps <= a.highIps!;
}

export interface Recommendation {
  best: ConfigEstimate | null;
  /** The next best feasible configuration, or null. */
  runnerUp: ConfigEstimate | null;
  /** True when the intervals of best and runner-up overlap: the measurements cannot tell them apart. */
  tied: boolean;
  estimates: Estimates;
}

/**
 * The recommended configuration: the best mean throughput among the feasible ones. The one
 * rule of which configuration to recommend: the search's final phase, the report and regress
 * (report/pareto.ts chooseRecommended, the trial standing for it) all read it from here.
 */
export function recommend(history: readonly Measurement[], targetP99Ms: number, opts: EstimateOptions = {}): Recommendation {
  const estimates = estimateConfigs(history, targetP99Ms, opts);
  const feasible = estimates.configs.filter((c) => c.feasible);
  const best = feasible[0] ?? null;
  const runnerUp = feasible[1] ?? null;
  return { best, runnerUp, tied: best !== null && runnerUp !== null && overlaps(best, runnerUp), estimates };
}

/**
 * The measurement that stands for a configuration in tables (the report's recommended
 * row): the feasible one closest to the mean, earliest on ties.
 */
export function representativeIndex(e: ConfigEstimate, history: readonly Pick<Measurement, 'objectiveIps'>[]): number {
  if (e.meanIps === null) return e.indexes[0]!;
  let best = -1;
  for (const i of e.indexes) {
    const v = history[i]!.objectiveIps;
    if (v === null || !e.feasibleIps.includes(v)) continue;
    if (best < 0 || Math.abs(v - e.meanIps) < Math.abs(history[best]!.objectiveIps! - e.meanIps)) best = i;
  }
  return best >= 0 ? best : e.indexes[0]!;
}
