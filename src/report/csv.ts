/**
 * Machine-readable tables of a run, written next to the HTML report in `reports/<run-id>/`.
 *
 * `metrics-model-inference.csv`: one row per measured load point. The first nine columns are
 * Model Analyzer's default `inference_output_fields` under its header names and units, so
 * scripts written for Model Analyzer's `metrics-model-inference.csv` read it unchanged:
 *
 *   Model, Batch, Concurrency, Model Config Path, Instance Group, Max Batch Size,
 *   Satisfies Constraints, Throughput (infer/sec), p99 Latency (ms)
 *
 * - Model: the model's name. Batch: the client batch size of each request (tanalyze sends 1).
 * - Model Config Path: the variant's name, as Model Analyzer writes it (`<model>_config_<n>`);
 *   its config.pbtxt is `model_repository/<variant>/config.pbtxt` in the same folder.
 * - Instance Group: `<count>:<KIND>` as Model Analyzer writes it (`2:GPU`); the kind is read
 *   from the stored config.pbtxt (CPU when it does not say).
 * - Satisfies Constraints: `Yes` when the point meets the p99 target by domain/target.ts's rule
 *   (the one the search and the recommendation use): measured without failing, reliable, keeping
 *   up with its offered rate in open loop, p99 within the target.
 *
 * Then, also under Model Analyzer's names: p95, p90, p50 Latency (ms); and the server's
 * per-request times in microseconds, as perf_analyzer reports them (`-f` CSV):
 * Server Queue (us), Server Compute Input (us), Server Compute Infer (us), Server Compute
 * Output (us), and Network+Client (us) = the client's latency minus the server total (client
 * mean when stored, else p50; clamped at 0). Empty where the server gave no statistics.
 * Then tanalyze's own columns: Trial, Default, Recommended, Max Queue Delay (us) (empty: no
 * dynamic batcher), Preferred Batch Sizes (space separated), Precision, Requests, Errors,
 * Windows, Stable, Stop Reason, GPU Memory (MB) (empty when not measured), State. Then the
 * measurement's own checks (MEASUREMENT_CHECK_COLUMNS), empty where the point does not carry them
 * (older runs, replayed or simulated ones): p99 CI Low (ms), p99 CI High (ms) (empty with a low
 * bound: too few requests to bound it above), CI Level (e.g. 0.95), Client Limited (Yes: the
 * load generator, not the server, limited throughput), Client Limit Reason, Unreliable (Yes: the
 * figures cannot be trusted), Unreliable Reason, p99 CI Verdict (where the target lies against the
 * interval: `meets` (its top is within the target), `misses` (its bottom is above it) or
 * `inconclusive`, so a `Yes` that is not certain shows).
 *
 * `metrics-configurations.csv`: one row per configuration (trial), with the same naming:
 * Trial, Model, Model Config Path, Default, Recommended, State, Max Batch Size, Max Queue
 * Delay (us), Instance Group, Precision, Preferred Batch Sizes, Satisfies Constraints,
 * Throughput (infer/sec) (best within the target), p99 Latency (ms) (at that point; for an
 * infeasible trial the lowest p99 seen), Load Points, Error; then the measurement checks of the
 * load point those figures come from (the same columns as above).
 *
 * Format: RFC 4180 (comma separated, `"` quoted when needed, CRLF line ends), UTF-8 without a
 * byte-order mark; numbers in plain decimal, empty for no value (and for NaN/Infinity).
 */
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.js';
import { join } from 'node:path';
import { ciTargetVerdict, pointMeetsTarget, trialFeasible } from '../domain/target.js';
import { figurePoint, kneePointsOf } from './pareto.js';
import type { ReportData, ReportPoint, ReportTrial } from './types.js';

export const MEASUREMENTS_CSV = 'metrics-model-inference.csv';
export const CONFIGURATIONS_CSV = 'metrics-configurations.csv';

/** The client batch size tanalyze's load generator sends. */
const CLIENT_BATCH = 1;

/** Appended to both tables, so the columns before them keep their positions. */
export const MEASUREMENT_CHECK_COLUMNS = [
  'p99 CI Low (ms)',
  'p99 CI High (ms)',
  'CI Level',
  'Client Limited',
  'Client Limit Reason',
  'Unreliable',
  'Unreliable Reason',
  'p99 CI Verdict',
] as const;

export const MEASUREMENT_COLUMNS = [
  'Model',
  'Batch',
  'Concurrency',
  'Model Config Path',
  'Instance Group',
  'Max Batch Size',
  'Satisfies Constraints',
  'Throughput (infer/sec)',
  'p99 Latency (ms)',
  'p95 Latency (ms)',
  'p90 Latency (ms)',
  'p50 Latency (ms)',
  'Server Queue (us)',
  'Server Compute Input (us)',
  'Server Compute Infer (us)',
  'Server Compute Output (us)',
  'Network+Client (us)',
  'Trial',
  'Default',
  'Recommended',
  'Max Queue Delay (us)',
  'Preferred Batch Sizes',
  'Precision',
  'Requests',
  'Errors',
  'Windows',
  'Stable',
  'Stop Reason',
  'GPU Memory (MB)',
  'State',
  ...MEASUREMENT_CHECK_COLUMNS,
] as const;

export const CONFIGURATION_COLUMNS = [
  'Trial',
  'Model',
  'Model Config Path',
  'Default',
  'Recommended',
  'State',
  'Max Batch Size',
  'Max Queue Delay (us)',
  'Instance Group',
  'Precision',
  'Preferred Batch Sizes',
  'Satisfies Constraints',
  'Throughput (infer/sec)',
  'p99 Latency (ms)',
  'Load Points',
  'Error',
  ...MEASUREMENT_CHECK_COLUMNS,
  // Added after the checks: every earlier column keeps its position.
  'Knee Confirmation Points',
] as const;

type Cell = string | number | boolean | null | undefined;

/** One CSV field: numbers rounded to `digits` decimals (trailing zeros dropped), text quoted when needed. */
export function csvField(v: Cell, digits = 3): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'boolean') return v ? 'Yes' : 'No';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return '';
    return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(digits)));
  }
  return /[",\r\n]/.test(v) || /^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function toCsv(columns: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return [columns, ...rows].map((r) => r.map((c) => csvField(c)).join(',')).join('\r\n') + '\r\n';
}

/** `count:KIND` from the stored config.pbtxt's first instance_group (KIND_GPU → GPU); CPU when absent. */
export function instanceGroupText(t: ReportTrial, pbtxt: string | null | undefined): string {
  // Only instance groups have a `kind: KIND_*` field in a ModelConfig.
  const kind = pbtxt ? /\binstance_group\b[\s\S]*?\bkind\s*:\s*KIND_([A-Z]+)/.exec(pbtxt)?.[1] : undefined;
  return `${t.config.instanceCount}:${kind ?? 'CPU'}`;
}

function us(v: number | undefined): number | null {
  return v === undefined || !Number.isFinite(v) ? null : v;
}

/** The client latency the server parts are taken from: mean when stored, else p50 (ms). */
function clientMs(p: ReportPoint): number {
  return typeof p.meanMs === 'number' && Number.isFinite(p.meanMs) ? p.meanMs : p.p50Ms;
}

/** The MEASUREMENT_CHECK_COLUMNS cells of a point; all empty without a point. */
function checkCells(p: ReportPoint | null | undefined, targetP99Ms: number): Cell[] {
  if (!p) return MEASUREMENT_CHECK_COLUMNS.map(() => null);
  const ci = p.p99CiMs;
  return [ci?.[0], ci?.[1], ci ? p.ciLevel : null, p.clientLimited, p.clientLimitReason, p.unreliable, p.unreliableReason, ciTargetVerdict(p, targetP99Ms)];
}

export interface CsvOptions {
  /** config.pbtxt text of a trial (for the instance kind); default: the trial's stored text. */
  pbtxtOf?: (t: ReportTrial) => string | null | undefined;
}

function pbtxtLookup(data: ReportData, opts: CsvOptions): (t: ReportTrial) => string | null | undefined {
  if (opts.pbtxtOf) return opts.pbtxtOf;
  return (t) => t.pbtxt ?? (t.index === data.recommendedIndex ? data.recommendedPbtxt : t.index === data.defaultIndex ? data.defaultPbtxt : null);
}

/** Rows of metrics-model-inference.csv, in trial then measurement order. */
export function measurementRows(data: ReportData, opts: CsvOptions = {}): Cell[][] {
  const target = data.run.targetP99Ms;
  const pbtxtOf = pbtxtLookup(data, opts);
  const rows: Cell[][] = [];
  for (const t of [...data.trials].sort((a, b) => a.index - b.index)) {
    const group = instanceGroupText(t, pbtxtOf(t));
    for (const p of t.points) {
      const s = p.server;
      const serverTotal = s ? [s.queueUs, s.computeInputUs, s.computeInferUs, s.computeOutputUs].reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0) : null;
      const client = clientMs(p);
      rows.push([
        data.run.model,
        CLIENT_BATCH,
        p.concurrency,
        t.variantName,
        group,
        t.config.maxBatchSize,
        pointMeetsTarget(p, target),
        p.throughputIps,
        p.p99Ms,
        p.p95Ms,
        p.p90Ms,
        p.p50Ms,
        us(s?.queueUs),
        us(s?.computeInputUs),
        us(s?.computeInferUs),
        us(s?.computeOutputUs),
        serverTotal !== null && Number.isFinite(client) ? Math.max(0, client * 1000 - serverTotal) : null,
        t.index,
        t.isDefault,
        t.index === data.recommendedIndex,
        t.config.maxQueueDelayUs,
        t.config.preferredBatchSizes.join(' '),
        t.config.precision,
        p.requests,
        p.errors,
        p.windows,
        p.stable,
        p.stopReason,
        typeof p.gpuMemoryMb === 'number' ? p.gpuMemoryMb : null,
        t.state,
        ...checkCells(p, target),
      ]);
    }
  }
  return rows;
}

/** Rows of metrics-configurations.csv, in trial order. */
export function configurationRows(data: ReportData, opts: CsvOptions = {}): Cell[][] {
  const target = data.run.targetP99Ms;
  const pbtxtOf = pbtxtLookup(data, opts);
  return [...data.trials]
    .sort((a, b) => a.index - b.index)
    .map((t) => {
      const feasible = trialFeasible(t, target);
      return [
        t.index,
        data.run.model,
        t.variantName,
        t.isDefault,
        t.index === data.recommendedIndex,
        t.state,
        t.config.maxBatchSize,
        t.config.maxQueueDelayUs,
        instanceGroupText(t, pbtxtOf(t)),
        t.config.precision,
        t.config.preferredBatchSizes.join(' '),
        feasible,
        feasible ? t.objectiveIps : null,
        t.p99Ms,
        t.points.length,
        t.error,
        ...checkCells(figurePoint(t, target), target),
        kneePointsOf(t, data.run),
      ];
    });
}

export function measurementsCsv(data: ReportData, opts: CsvOptions = {}): string {
  return toCsv(MEASUREMENT_COLUMNS, measurementRows(data, opts));
}

export function configurationsCsv(data: ReportData, opts: CsvOptions = {}): string {
  return toCsv(CONFIGURATION_COLUMNS, configurationRows(data, opts));
}

export interface CsvPaths {
  measurements: string;
  configurations: string;
}

/** Writes both tables into `dir` (created when missing). */
export async function writeCsvTables(dir: string, data: ReportData, opts: CsvOptions = {}): Promise<CsvPaths> {
  await mkdir(dir, { recursive: true });
  const measurements = join(dir, MEASUREMENTS_CSV);
  const configurations = join(dir, CONFIGURATIONS_CSV);
  await writeFileAtomic(measurements, measurementsCsv(data, opts));
  await writeFileAtomic(configurations, configurationsCsv(data, opts));
  return { measurements, configurations };
}
