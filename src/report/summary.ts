/**
 * The JSON that `--json` prints, for every command: one object on stdout, snake_case keys,
 * numbers in the units their names say, `null` for "no value". Every object carries `kind`
 * (which shape it is) and `schema_version` (bumped only when a field is removed or changes
 * meaning; new fields may appear in any version, so readers should ignore keys they do not know).
 *
 * | command                              | kind               |
 * | ------------------------------------ | ------------------ |
 * | `tanalyze` (a run), `tanalyze report` | `run`              |
 * | `tanalyze compare`, `tanalyze regress`| `comparison`       |
 * | `tanalyze baseline export`           | `baseline-export`  |
 *
 * Errors are not JSON: they go to stderr as text, and the exit code says what happened.
 */
import type { ServingConfig } from '../domain/serving.js';
import type { Check, Comparison, Verdict } from '../domain/comparison.js';
import type { CsvPaths } from './csv.js';
import { describeConfig } from './specs.js';
import type { FinalistFigures } from './confirmation.js';
import type { ReportData } from './types.js';

export const SUMMARY_SCHEMA_VERSION = 1;

/** One configuration (trial) of a run. */
export interface ConfigSummary {
  trial_index: number;
  variant_name: string;
  max_batch_size: number;
  /** null: no dynamic batcher. */
  max_queue_delay_us: number | null;
  instance_count: number;
  precision: string;
  preferred_batch_sizes: number[];
  /** COMPLETE | INFEASIBLE | FAILED | SKIPPED | RUNNING */
  state: string;
  /** Highest throughput (inferences/s) whose p99 met the target; null when none did. */
  throughput_ips: number | null;
  /** p99 (ms) at that point; for an infeasible trial, the lowest p99 seen. */
  p99_ms: number | null;
}

/** A finalist's measurements: the recommended configuration or the runner-up, measured once or more. */
export interface FinalistSummary {
  /** Trial indexes of its measurements (repeats included), in order. */
  trial_indexes: number[];
  /** Throughput found at the target by each feasible measurement (inferences/s). */
  throughputs_ips: number[];
  mean_ips: number;
  /** Interval of the mean (inferences/s) at `interval_level`. */
  interval_ips: [number, number];
  interval_level: number;
}

/** `kind: "run"`: the result of a search run (also printed by `tanalyze report`). */
export interface RunSummary {
  kind: 'run';
  schema_version: number;
  run_id: string;
  model: string;
  target_p99_ms: number;
  /** Configurations measured, the default one included. */
  trials: number;
  trials_by_state: Record<string, number>;
  stop_reason: string | null;
  wall_s: number | null;
  /** The best mean throughput over repeats (the row shown is its measurement closest to the mean). */
  recommended: ConfigSummary | null;
  /** Every measurement of the recommended configuration, their mean and interval. */
  recommended_measurements: FinalistSummary | null;
  /** The next best configuration, its measurements, mean and interval. */
  runner_up: (ConfigSummary & { measurements: FinalistSummary }) | null;
  /** True when the intervals of the recommended configuration and the runner-up overlap: the measurements cannot tell them apart. */
  runner_up_indistinguishable: boolean | null;
  default: ConfigSummary | null;
  /** Recommended throughput / default throughput at the target; null when either is missing. */
  throughput_gain: number | null;
  /** Absolute paths of what was written. */
  report_html: string;
  config_pbtxt: string | null;
  csv: { measurements: string; configurations: string } | null;
}

export function configSummary(t: { index: number; variantName: string; config: ServingConfig; state: string; objectiveIps: number | null; p99Ms: number | null }): ConfigSummary {
  return {
    trial_index: t.index,
    variant_name: t.variantName,
    max_batch_size: t.config.maxBatchSize,
    max_queue_delay_us: t.config.maxQueueDelayUs,
    instance_count: t.config.instanceCount,
    precision: t.config.precision,
    preferred_batch_sizes: [...t.config.preferredBatchSizes],
    state: t.state,
    throughput_ips: t.objectiveIps,
    p99_ms: t.p99Ms,
  };
}

export interface RunOutputs {
  htmlPath: string;
  configPath?: string | null;
  csv?: CsvPaths | null;
}

export function summarizeRun(data: ReportData, out: RunOutputs): RunSummary {
  const conf = (index: number | null): ConfigSummary | null => {
    const t = data.trials.find((x) => x.index === index);
    return t ? configSummary(t) : null;
  };
  const rec = conf(data.recommendedIndex);
  const def = conf(data.defaultIndex);
  const byState: Record<string, number> = {};
  for (const t of data.trials) byState[t.state] = (byState[t.state] ?? 0) + 1;
  const c = data.confirmation;
  const finalist = (f: FinalistFigures | null | undefined): FinalistSummary | null =>
    f ? { trial_indexes: f.trialIndexes, throughputs_ips: f.throughputsIps, mean_ips: f.meanIps, interval_ips: f.intervalIps, interval_level: c!.level } : null;
  const runnerUpRow = c?.runnerUp ? conf(c.runnerUp.representativeIndex) : null;
  return {
    kind: 'run',
    schema_version: SUMMARY_SCHEMA_VERSION,
    run_id: data.run.id,
    model: data.run.model,
    target_p99_ms: data.run.targetP99Ms,
    trials: data.trials.length,
    trials_by_state: byState,
    stop_reason: data.run.stopReason,
    wall_s: data.run.wallS,
    recommended: rec,
    recommended_measurements: finalist(c?.recommended),
    runner_up: runnerUpRow && c?.runnerUp ? { ...runnerUpRow, measurements: finalist(c.runnerUp)! } : null,
    runner_up_indistinguishable: c && c.recommended && c.runnerUp ? c.cannotTellApart : null,
    default: def,
    throughput_gain: rec?.throughput_ips && def?.throughput_ips && def.state === 'COMPLETE' ? rec.throughput_ips / def.throughput_ips : null,
    report_html: out.htmlPath,
    config_pbtxt: out.configPath ?? null,
    csv: out.csv ? { measurements: out.csv.measurements, configurations: out.csv.configurations } : null,
  };
}

/** The run summary as text for people (what the run prints without --json). */
export function formatRunSummary(s: RunSummary, rel: (path: string) => string = (p) => p): string {
  const n = (x: number | null, d = 1) => (x === null ? '-' : x.toFixed(d));
  const lines: string[] = [''];
  const states = Object.entries(s.trials_by_state).map(([k, v]) => `${v} ${k.toLowerCase()}`).join(', ');
  const measured = `Measured ${s.trials} configuration${s.trials === 1 ? '' : 's'}${states ? ` (${states})` : ''}`;
  lines.push(`${measured} in ${n(s.wall_s, 0)} s; stopped: ${s.stop_reason}.`);
  const asConfig = (c: ConfigSummary) =>
    describeConfig({ maxBatchSize: c.max_batch_size, maxQueueDelayUs: c.max_queue_delay_us, instanceCount: c.instance_count, precision: c.precision as ServingConfig['precision'], preferredBatchSizes: c.preferred_batch_sizes });
  if (s.recommended) {
    lines.push(`Recommended (trial ${s.recommended.trial_index}): ${asConfig(s.recommended)}`);
    lines.push(`  ${n(s.recommended.throughput_ips)} inferences/s at p99 ${n(s.recommended.p99_ms, 2)} ms (target ${s.target_p99_ms} ms)`);
    const m = s.recommended_measurements;
    if (m && m.trial_indexes.length > 1) lines.push(`  measured ${m.trial_indexes.length} times: ${m.throughputs_ips.map((x) => n(x, 0)).join(', ')} inferences/s; mean ${n(m.mean_ips)}, ${Math.round(m.interval_level * 100)}% interval ${n(m.interval_ips[0])}-${n(m.interval_ips[1])}`);
    const r = s.runner_up;
    if (r) {
      const rm = r.measurements;
      lines.push(`Runner-up (trial ${r.trial_index}): ${asConfig(r)}`);
      lines.push(`  mean ${n(rm.mean_ips)} inferences/s over ${rm.trial_indexes.length} measurement${rm.trial_indexes.length === 1 ? '' : 's'}, interval ${n(rm.interval_ips[0])}-${n(rm.interval_ips[1])}${s.runner_up_indistinguishable ? '; the measurements cannot tell it from the recommended one' : ''}`);
    }
  } else {
    lines.push(`No configuration met the p99 target of ${s.target_p99_ms} ms.`);
  }
  if (s.default) {
    const d = s.default;
    const dres = d.state === 'COMPLETE' ? `${n(d.throughput_ips)} inferences/s at p99 ${n(d.p99_ms, 2)} ms` : d.state.toLowerCase();
    lines.push(`Default (trial ${d.trial_index}): ${asConfig(d)}`);
    lines.push(`  ${dres}${s.throughput_gain ? `; the recommendation gives ${s.throughput_gain.toFixed(2)}x its throughput` : ''}`);
  }
  lines.push(`Report: ${rel(s.report_html)}`);
  if (s.csv) lines.push(`Tables: ${rel(s.csv.measurements)}, ${rel(s.csv.configurations)}`);
  if (s.config_pbtxt) lines.push(`Config: ${rel(s.config_pbtxt)}`);
  return lines.join('\n');
}

/** One side of a comparison. */
export interface ComparedConfigSummary {
  /** 'baseline' | 'candidate' | 'candidate best' */
  label: string;
  /** Where it came from: a run id, or null for fresh measurements (regress). */
  run_id: string | null;
  trial_index: number | null;
  variant_name: string | null;
  max_batch_size: number;
  max_queue_delay_us: number | null;
  instance_count: number;
  precision: string;
  preferred_batch_sizes: number[];
  state: string;
  error: string | null;
  /** How many times the configuration was measured. */
  measurements: number;
  /** Median over the measurements; null when no point met the target. */
  throughput_ips: number | null;
}

export interface CheckSummary {
  /** sla | throughput_at_target | p99_at_fixed_load | measurement */
  id: Check['id'];
  name: string;
  /** pass | fail | skipped | error */
  status: Check['status'];
  /** 'inf/s' or 'ms' (or '' for checks without a figure). */
  unit: string;
  baseline: number | null;
  candidate: number | null;
  /** Relative change in the bad direction (throughput drop, p99 rise): 0.07 = 7 % worse; negative = better. */
  worse: number | null;
  /** The threshold, the noise allowance and their sum, as fractions. */
  threshold: number | null;
  noise: number | null;
  allowance: number | null;
  message: string;
}

/** `kind: "comparison"`: the verdict of `compare` and `regress`. */
export interface ComparisonSummary {
  kind: 'comparison';
  schema_version: number;
  command: 'compare' | 'regress';
  /** pass | regression | sla-not-met | infrastructure */
  verdict: Verdict;
  /** The process exit code: 0 pass, 1 regression, 2 SLA not met, 3 infrastructure. */
  exit_code: number;
  headline: string;
  model: string;
  target_p99_ms: number;
  /** The load at which p99 is compared: a closed-loop concurrency, or an open-loop rate (requests/s); both null when unknown. */
  fixed_concurrency: number | null;
  fixed_rate: number | null;
  thresholds: { max_throughput_drop: number; max_p99_rise: number; max_noise: number };
  baseline: ComparedConfigSummary;
  candidate: ComparedConfigSummary | null;
  /** The best configuration of a searched candidate (compare of two runs, regress with re-search). */
  candidate_best: ComparedConfigSummary | null;
  checks: CheckSummary[];
  /** Absolute paths of what was written, null when not asked for. */
  junit: string | null;
  markdown: string | null;
  report_html: string | null;
}

export interface ComparisonOutputs {
  junit?: string | null;
  markdown?: string | null;
  html?: string | null;
}

export function summarizeComparison(c: Comparison, command: 'compare' | 'regress', out: ComparisonOutputs = {}): ComparisonSummary {
  const side = (s: Comparison['baseline'] | null): ComparedConfigSummary | null =>
    s && {
      label: s.label,
      run_id: s.runId,
      trial_index: s.trialIndex,
      variant_name: s.variantName,
      max_batch_size: s.config.maxBatchSize,
      max_queue_delay_us: s.config.maxQueueDelayUs,
      instance_count: s.config.instanceCount,
      precision: s.config.precision,
      preferred_batch_sizes: [...s.config.preferredBatchSizes],
      state: s.state,
      error: s.error,
      measurements: s.measurements,
      throughput_ips: s.throughputIps,
    };
  return {
    kind: 'comparison',
    schema_version: SUMMARY_SCHEMA_VERSION,
    command,
    verdict: c.verdict,
    exit_code: c.exitCode,
    headline: c.headline,
    model: c.model,
    target_p99_ms: c.targetP99Ms,
    fixed_concurrency: c.fixedConcurrency,
    fixed_rate: c.fixedLoad?.mode === 'rate' ? c.fixedLoad.level : null,
    thresholds: { max_throughput_drop: c.thresholds.maxThroughputDrop, max_p99_rise: c.thresholds.maxP99Rise, max_noise: c.thresholds.maxNoise },
    baseline: side(c.baseline) as ComparedConfigSummary,
    candidate: side(c.candidate),
    candidate_best: side(c.candidateBest),
    checks: c.checks.map((k) => ({
      id: k.id,
      name: k.name,
      status: k.status,
      unit: k.unit,
      baseline: k.baseline,
      candidate: k.candidate,
      worse: k.worse,
      threshold: k.threshold,
      noise: k.noise,
      allowance: k.allowance,
      message: k.message,
    })),
    junit: out.junit ?? null,
    markdown: out.markdown ?? null,
    report_html: out.html ?? null,
  };
}

/** `kind: "baseline-export"`: `tanalyze baseline export`. */
export interface BaselineExportSummary {
  kind: 'baseline-export';
  schema_version: number;
  run_id: string;
  model: string;
  /** Absolute path of the baseline JSON written. */
  file: string;
  recommended: ConfigSummary | null;
}
