/**
 * The baseline document: everything a comparison needs from a run, as one JSON file a CI job
 * can keep as an artifact (`tanalyze baseline export`), or read from the database. Pure: types,
 * conversion from the report's data, validation of parsed JSON, and comparison of two documents.
 *
 * Schema (`schema: "tanalyze-baseline"`, `schema_version: 1`), snake_case, units in the names:
 *
 * ```text
 * {
 *   schema: "tanalyze-baseline", schema_version: 1,
 *   exported_at: ISO 8601, tool_version: string,          // of the tanalyze that wrote it
 *   run: { id, model, created_at, finished_at, status, stop_reason, target_p99_ms, strategy,
 *          seed, budget, launch, server_version, hardware, tool_version, window_ms,
 *          max_windows, stability_tolerance },
 *   recommended_index: number | null,                     // trial index of the recommendation
 *   default_index: number | null,
 *   trials: [ { index, variant_name, is_default, state, error, objective_ips, p99_ms, pbtxt,
 *               config: { max_batch_size, max_queue_delay_us (null: no batcher), instance_count,
 *                         precision, preferred_batch_sizes },
 *               measurements: [ [ point, ... ], ... ] } ]  // one list of load points per
 *                                                          // measurement (repeats add more)
 * }
 * point: { concurrency, offered_rate? (open loop), throughput_ips, p50_ms, p90_ms, p95_ms, p99_ms, requests, errors,
 *          windows, stable, stop_reason, duration_s, gpu_memory_mb? and mean_ms? (when measured),
 *          server: { requests, executions, queue_us, compute_input_us, compute_infer_us,
 *                    compute_output_us } | null }
 * ```
 * JSON has no NaN or Infinity: a non-finite figure is written as null and read back as NaN.
 * A reader accepts every schema_version up to its own and refuses newer ones by name.
 */
import type { LoadPoint } from '../domain/measurement.js';
import { PRECISIONS, type Precision, type ServingConfig } from '../domain/serving.js';
import { type TrialState } from '../domain/trial.js';
import { chooseRecommended } from '../report/pareto.js';
import { bestPoint } from '../domain/target.js';
import type { ReportData, ReportTrial } from '../report/types.js';
import { compare } from './compare.js';
import { type Comparison, type Measured, type Thresholds } from '../domain/comparison.js';
import { TanalyzeError } from '../domain/errors.js';

export const BASELINE_SCHEMA = 'tanalyze-baseline';
export const BASELINE_SCHEMA_VERSION = 1;

export interface BaselineConfig {
  max_batch_size: number;
  max_queue_delay_us: number | null;
  instance_count: number;
  precision: Precision;
  preferred_batch_sizes: number[];
}

export interface BaselinePoint {
  concurrency: number;
  /** Open loop: the scheduled request rate (requests/s); `concurrency` is then the peak in flight. Absent in closed loop. */
  offered_rate?: number;
  throughput_ips: number | null;
  p50_ms: number | null;
  p90_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  requests: number | null;
  errors: number | null;
  windows: number | null;
  stable: boolean;
  stop_reason: string;
  duration_s: number | null;
  /** Present when measured: highest GPU memory used (MB), and the client mean latency (ms). */
  gpu_memory_mb?: number | null;
  mean_ms?: number | null;
  /** Present when measured: the p99 confidence interval (upper bound null when open) and its level. */
  p99_ci_ms?: [number, number | null];
  ci_level?: number;
  /** Present when measured: the client, not the server, limited the point / the client fell behind its schedule. */
  client_limited?: boolean;
  client_limit_reason?: string;
  unreliable?: boolean;
  unreliable_reason?: string;
  server: {
    requests: number | null;
    executions: number | null;
    queue_us: number | null;
    compute_input_us: number | null;
    compute_infer_us: number | null;
    compute_output_us: number | null;
  } | null;
}

export interface BaselineTrial {
  index: number;
  variant_name: string;
  is_default: boolean;
  state: TrialState;
  error: string | null;
  objective_ips: number | null;
  p99_ms: number | null;
  pbtxt: string | null;
  config: BaselineConfig;
  measurements: BaselinePoint[][];
}

export interface BaselineRun {
  id: string;
  model: string;
  created_at: string;
  finished_at: string | null;
  status: string;
  stop_reason: string | null;
  target_p99_ms: number;
  strategy: string;
  seed: number;
  budget: number;
  launch: string;
  server_version: string;
  hardware: string;
  tool_version: string;
  window_ms: number;
  max_windows: number;
  stability_tolerance: number;
}

export interface BaselineDoc {
  schema: typeof BASELINE_SCHEMA;
  schema_version: number;
  exported_at: string;
  tool_version: string;
  run: BaselineRun;
  recommended_index: number | null;
  default_index: number | null;
  trials: BaselineTrial[];
}

const fin = (x: number): number | null => (Number.isFinite(x) ? x : null);
const num = (x: number | null | undefined): number => (x === null || x === undefined ? NaN : x);

export function configToJson(c: ServingConfig): BaselineConfig {
  return {
    max_batch_size: c.maxBatchSize,
    max_queue_delay_us: c.maxQueueDelayUs,
    instance_count: c.instanceCount,
    precision: c.precision,
    preferred_batch_sizes: [...c.preferredBatchSizes],
  };
}

export function configFromJson(c: BaselineConfig): ServingConfig {
  return {
    maxBatchSize: c.max_batch_size,
    maxQueueDelayUs: c.max_queue_delay_us,
    instanceCount: c.instance_count,
    precision: c.precision,
    preferredBatchSizes: [...c.preferred_batch_sizes],
  };
}

export function pointToJson(p: LoadPoint & { gpuMemoryMb?: number | null; meanMs?: number | null }): BaselinePoint {
  const s = p.server;
  return {
    ...(typeof p.gpuMemoryMb === 'number' ? { gpu_memory_mb: fin(p.gpuMemoryMb) } : {}),
    ...(typeof p.meanMs === 'number' ? { mean_ms: fin(p.meanMs) } : {}),
    ...(p.p99CiMs ? { p99_ci_ms: [p.p99CiMs[0], fin(p.p99CiMs[1])] as [number, number | null] } : {}),
    ...(p.ciLevel !== undefined ? { ci_level: p.ciLevel } : {}),
    ...(p.clientLimited !== undefined ? { client_limited: p.clientLimited } : {}),
    ...(p.clientLimitReason !== undefined ? { client_limit_reason: p.clientLimitReason } : {}),
    ...(p.unreliable !== undefined ? { unreliable: p.unreliable } : {}),
    ...(p.unreliableReason !== undefined ? { unreliable_reason: p.unreliableReason } : {}),
    concurrency: p.concurrency,
    ...(p.offeredRate !== undefined ? { offered_rate: p.offeredRate } : {}),
    throughput_ips: fin(p.throughputIps),
    p50_ms: fin(p.p50Ms),
    p90_ms: fin(p.p90Ms),
    p95_ms: fin(p.p95Ms),
    p99_ms: fin(p.p99Ms),
    requests: fin(p.requests),
    errors: fin(p.errors),
    windows: fin(p.windows),
    stable: p.stable,
    stop_reason: p.stopReason,
    duration_s: fin(p.durationS),
    server: s
      ? {
          requests: fin(s.requests),
          executions: fin(s.executions),
          queue_us: fin(s.queueUs),
          compute_input_us: fin(s.computeInputUs),
          compute_infer_us: fin(s.computeInferUs),
          compute_output_us: fin(s.computeOutputUs),
        }
      : null,
  };
}

export function pointFromJson(p: BaselinePoint): LoadPoint & { gpuMemoryMb?: number | null; meanMs?: number | null } {
  const s = p.server;
  return {
    ...(p.gpu_memory_mb !== undefined ? { gpuMemoryMb: p.gpu_memory_mb } : {}),
    ...(p.mean_ms !== undefined ? { meanMs: p.mean_ms } : {}),
    ...(p.p99_ci_ms ? { p99CiMs: [p.p99_ci_ms[0], p.p99_ci_ms[1] ?? Number.POSITIVE_INFINITY] as [number, number] } : {}),
    ...(p.ci_level !== undefined ? { ciLevel: p.ci_level } : {}),
    ...(p.client_limited !== undefined ? { clientLimited: p.client_limited } : {}),
    ...(p.client_limit_reason !== undefined ? { clientLimitReason: p.client_limit_reason } : {}),
    ...(p.unreliable !== undefined ? { unreliable: p.unreliable } : {}),
    ...(p.unreliable_reason !== undefined ? { unreliableReason: p.unreliable_reason } : {}),
    concurrency: p.concurrency,
    ...(p.offered_rate !== undefined ? { mode: 'rate' as const, offeredRate: p.offered_rate } : {}),
    throughputIps: num(p.throughput_ips),
    p50Ms: num(p.p50_ms),
    p90Ms: num(p.p90_ms),
    p95Ms: num(p.p95_ms),
    p99Ms: num(p.p99_ms),
    requests: num(p.requests),
    errors: num(p.errors),
    windows: num(p.windows),
    stable: p.stable,
    stopReason: p.stop_reason,
    durationS: num(p.duration_s),
    server: s
      ? {
          requests: num(s.requests),
          executions: num(s.executions),
          queueUs: num(s.queue_us),
          computeInputUs: num(s.compute_input_us),
          computeInferUs: num(s.compute_infer_us),
          computeOutputUs: num(s.compute_output_us),
        }
      : null,
  };
}

export function trialToJson(t: ReportTrial, pbtxt: string | null, repeats?: LoadPoint[][]): BaselineTrial {
  return {
    index: t.index,
    variant_name: t.variantName,
    is_default: t.isDefault,
    state: t.state,
    error: t.error,
    objective_ips: t.objectiveIps === null ? null : fin(t.objectiveIps),
    p99_ms: t.p99Ms === null ? null : fin(t.p99Ms),
    pbtxt,
    config: configToJson(t.config),
    measurements: (repeats ?? [t.points]).map((r) => r.map(pointToJson)),
  };
}

export interface DocMeta {
  /** ISO 8601 time of the export. */
  exportedAt: string;
  /** The exporting tanalyze's version. */
  toolVersion: string;
}

/** A baseline document of a stored run (its report data, read from the store). */
export function baselineFromReportData(data: ReportData, meta: DocMeta): BaselineDoc {
  const r = data.run;
  const pbtxtOf = (t: ReportTrial) =>
    t.pbtxt ?? (t.index === data.recommendedIndex ? data.recommendedPbtxt : t.index === data.defaultIndex ? data.defaultPbtxt : null);
  return {
    schema: BASELINE_SCHEMA,
    schema_version: BASELINE_SCHEMA_VERSION,
    exported_at: meta.exportedAt,
    tool_version: meta.toolVersion,
    run: {
      id: r.id,
      model: r.model,
      created_at: r.createdAt,
      finished_at: r.finishedAt,
      status: r.status,
      stop_reason: r.stopReason,
      target_p99_ms: r.targetP99Ms,
      strategy: r.strategy,
      seed: r.seed,
      budget: r.budget,
      launch: r.launch,
      server_version: r.serverVersion,
      hardware: r.hardware,
      tool_version: r.toolVersion,
      window_ms: r.windowMs,
      max_windows: r.maxWindows,
      stability_tolerance: r.stabilityTolerance,
    },
    recommended_index: data.recommendedIndex,
    default_index: data.defaultIndex,
    trials: [...data.trials].sort((a, b) => a.index - b.index).map((t) => trialToJson(t, pbtxtOf(t) ?? null)),
  };
}

/** The report's view of a document (first measurement of each trial), so a file renders like a stored run. */
export function reportDataFromDoc(doc: BaselineDoc): ReportData {
  const r = doc.run;
  const trials: ReportTrial[] = doc.trials.map((t) => ({
    index: t.index,
    variantName: t.variant_name,
    config: configFromJson(t.config),
    state: t.state,
    error: t.error,
    objectiveIps: t.objective_ips,
    p99Ms: t.p99_ms,
    isDefault: t.is_default,
    points: (t.measurements[0] ?? []).map(pointFromJson),
    pbtxt: t.pbtxt,
  }));
  const pbtxtOf = (i: number | null) => (i === null ? null : doc.trials.find((t) => t.index === i)?.pbtxt ?? null);
  return {
    run: {
      id: r.id,
      model: r.model,
      createdAt: r.created_at,
      finishedAt: r.finished_at,
      targetP99Ms: r.target_p99_ms,
      strategy: r.strategy,
      seed: r.seed,
      budget: r.budget,
      launch: r.launch,
      serverVersion: r.server_version,
      toolVersion: r.tool_version,
      hardware: r.hardware,
      windowMs: r.window_ms,
      maxWindows: r.max_windows,
      stabilityTolerance: r.stability_tolerance,
      status: r.status,
      wallS: null,
      stopReason: r.stop_reason,
    },
    trials,
    recommendedIndex: doc.recommended_index,
    defaultIndex: doc.default_index,
    recommendedPbtxt: pbtxtOf(doc.recommended_index),
    defaultPbtxt: pbtxtOf(doc.default_index),
  };
}

export function findTrial(doc: BaselineDoc, index: number | null): BaselineTrial | null {
  return index === null ? null : doc.trials.find((t) => t.index === index) ?? null;
}

/** A trial of a document as one side of a comparison. */
export function measuredFromTrial(doc: BaselineDoc, t: BaselineTrial, label: string): Measured {
  return {
    label,
    runId: doc.run.id,
    trialIndex: t.index,
    variantName: t.variant_name,
    config: configFromJson(t.config),
    state: t.state,
    error: t.error,
    repeats: t.measurements.map((m) => m.map(pointFromJson)),
  };
}

/** Same configuration: every searched knob equal. */
export function sameConfig(a: BaselineConfig, b: BaselineConfig): boolean {
  return (
    a.max_batch_size === b.max_batch_size &&
    a.max_queue_delay_us === b.max_queue_delay_us &&
    a.instance_count === b.instance_count &&
    a.precision === b.precision &&
    a.preferred_batch_sizes.length === b.preferred_batch_sizes.length &&
    a.preferred_batch_sizes.every((x, i) => x === b.preferred_batch_sizes[i])
  );
}

/** The recommended trial of a baseline; throws with a clear message when there is none. */
export function baselineRecommended(doc: BaselineDoc, source: string): BaselineTrial {
  const t = findTrial(doc, doc.recommended_index);
  if (!t) {
    throw new BaselineError(
      `${source}: run ${doc.run.id} has no recommended configuration (no configuration met its ${doc.run.target_p99_ms} ms p99 target), so there is nothing to compare against; pick a run that met its target`,
    );
  }
  return t;
}

/**
 * How the baseline's recommended configuration was loaded: 'rate' when its points carry an
 * offered rate (open loop), 'concurrency' when they do not, null with no points (or no
 * recommendation). Regress measures the candidate the same way unless --load says otherwise,
 * since p99 at a fixed load compares only loads applied alike.
 */
export function baselineLoadMode(doc: BaselineDoc): 'concurrency' | 'rate' | null {
  const points = findTrial(doc, doc.recommended_index)?.measurements.flat() ?? [];
  if (points.length === 0) return null;
  return points.some((p) => p.offered_rate !== undefined) ? 'rate' : 'concurrency';
}

/**
 * Compares two runs (stored or exported): the candidate's best configuration against the
 * baseline's recommended one for throughput at the target, and the candidate's measurement of
 * the baseline's configuration (when it has one; else its best) for p99 at the baseline's load.
 * The target is the baseline's.
 */
export function compareDocs(
  baseline: BaselineDoc,
  candidate: BaselineDoc,
  thresholds?: Thresholds,
  sources = { baseline: 'baseline', candidate: 'candidate' },
): { comparison: Comparison; sides: Measured[] } {
  const baseTrial = baselineRecommended(baseline, sources.baseline);
  const target = baseline.run.target_p99_ms;
  const measured = candidate.trials.filter((t) => t.state !== 'FAILED' && t.state !== 'SKIPPED' && t.measurements.some((m) => m.length > 0));
  const same = measured.filter((t) => sameConfig(t.config, baseTrial.config)).pop() ?? null;
  // The candidate's best under the baseline's target (the candidate run may have had another target), by the
  // one recommendation rule (search/estimate.ts recommend): repeats of a configuration count by their mean.
  const ranked = chooseRecommended(
    measured.map((t) => {
      const tps = t.measurements.map((m) => m.map(pointFromJson));
      const top = bestPoint(tps.flat(), target);
      return { t, config: configFromJson(t.config), state: t.state, objectiveIps: top ? top.throughputIps : null, p99Ms: top ? top.p99Ms : null };
    }),
    target,
  );
  let best = ranked?.t ?? null;
  if (!best && !same && measured.length) {
    // Nothing met the target: the closest (lowest p99) trial stands for the candidate, so the SLA check says so.
    const lowest = (t: BaselineTrial) => Math.min(...t.measurements.flat().map((p) => (p.p99_ms === null ? Infinity : p.p99_ms)));
    best = [...measured].sort((a, b) => lowest(a) - lowest(b))[0] ?? null;
  }
  const failedRun = candidate.run.status === 'failed' && measured.length === 0;
  const sides = {
    baseline: measuredFromTrial(baseline, baseTrial, 'baseline'),
    candidate: same ? measuredFromTrial(candidate, same, 'candidate') : null,
    candidateBest: best && best !== same ? measuredFromTrial(candidate, best, 'candidate best') : null,
  };
  const comparison = compare({
    model: baseline.run.model,
    targetP99Ms: target,
    ...sides,
    ...(thresholds ? { thresholds } : {}),
    infrastructureError: failedRun
      ? `run ${candidate.run.id} failed${candidate.run.stop_reason ? `: ${candidate.run.stop_reason}` : ''}`
      : measured.length === 0
        ? `run ${candidate.run.id} has no measured configuration`
        : null,
  });
  return { comparison, sides: [sides.baseline, sides.candidate, sides.candidateBest].filter((m): m is Measured => m !== null) };
}

/** A baseline that cannot be used: names the source, what is wrong and what is accepted. */
export class BaselineError extends TanalyzeError {
  constructor(message: string) {
    super('usage', message);
  }
}

// ---- validation of parsed JSON ----

type Json = unknown;

function isObj(v: Json): v is Record<string, Json> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Checks parsed JSON against the schema; returns the document or throws one BaselineError
 * listing every problem (at most 10), each with its JSON path.
 */
export function validateBaseline(json: Json, source: string): BaselineDoc {
  if (!isObj(json)) throw new BaselineError(`${source}: not a tanalyze baseline: the file holds ${Array.isArray(json) ? 'a list' : typeof json}, not a JSON object`);
  if (json.schema !== BASELINE_SCHEMA) {
    throw new BaselineError(`${source}: not a tanalyze baseline: "schema" is ${JSON.stringify(json.schema ?? null)}, expected "${BASELINE_SCHEMA}" (write one with \`tanalyze baseline export <run> --out FILE\`)`);
  }
  const v = json.schema_version;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new BaselineError(`${source}: "schema_version" is ${JSON.stringify(v ?? null)}, expected an integer ≥ 1`);
  if (v > BASELINE_SCHEMA_VERSION) {
    throw new BaselineError(`${source}: baseline schema_version ${v} is newer than this tanalyze reads (up to ${BASELINE_SCHEMA_VERSION}); use a newer tanalyze, or export the baseline again with this one`);
  }
  const problems: string[] = [];
  const need = (cond: boolean, path: string, what: string, got: Json) => {
    if (!cond) problems.push(`${path}: expected ${what}, found ${got === undefined ? 'nothing' : JSON.stringify(got)?.slice(0, 60)}`);
    return cond;
  };
  const isNum = (x: Json) => typeof x === 'number' && Number.isFinite(x);
  const numOrNull = (x: Json) => x === null || isNum(x);
  const strOrNull = (x: Json) => x === null || typeof x === 'string';
  const run = json.run;
  if (need(isObj(run), 'run', 'an object', run) && isObj(run)) {
    for (const k of ['id', 'model', 'created_at', 'status', 'strategy', 'launch']) need(typeof run[k] === 'string', `run.${k}`, 'a string', run[k]);
    need(isNum(run.target_p99_ms) && (run.target_p99_ms as number) > 0, 'run.target_p99_ms', 'a number > 0', run.target_p99_ms);
  }
  need(numOrNull(json.recommended_index), 'recommended_index', 'a trial index or null', json.recommended_index);
  need(numOrNull(json.default_index), 'default_index', 'a trial index or null', json.default_index);
  const trials = json.trials;
  if (need(Array.isArray(trials), 'trials', 'a list', trials) && Array.isArray(trials)) {
    trials.forEach((t: Json, i) => {
      const at = `trials[${i}]`;
      if (!need(isObj(t), at, 'an object', t) || !isObj(t)) return;
      need(Number.isInteger(t.index), `${at}.index`, 'an integer', t.index);
      need(typeof t.variant_name === 'string', `${at}.variant_name`, 'a string', t.variant_name);
      need(['COMPLETE', 'INFEASIBLE', 'FAILED', 'SKIPPED', 'RUNNING'].includes(t.state as string), `${at}.state`, 'COMPLETE, INFEASIBLE, FAILED, SKIPPED or RUNNING', t.state);
      need(numOrNull(t.objective_ips), `${at}.objective_ips`, 'a number or null', t.objective_ips);
      need(numOrNull(t.p99_ms), `${at}.p99_ms`, 'a number or null', t.p99_ms);
      need(strOrNull(t.pbtxt ?? null), `${at}.pbtxt`, 'a string or null', t.pbtxt);
      need(strOrNull(t.error ?? null), `${at}.error`, 'a string or null', t.error);
      const c = t.config;
      if (need(isObj(c), `${at}.config`, 'an object', c) && isObj(c)) {
        need(Number.isInteger(c.max_batch_size), `${at}.config.max_batch_size`, 'an integer', c.max_batch_size);
        need(c.max_queue_delay_us === null || Number.isInteger(c.max_queue_delay_us), `${at}.config.max_queue_delay_us`, 'an integer or null', c.max_queue_delay_us);
        need(Number.isInteger(c.instance_count), `${at}.config.instance_count`, 'an integer', c.instance_count);
        need((PRECISIONS as readonly Json[]).includes(c.precision), `${at}.config.precision`, PRECISIONS.join(', '), c.precision);
        need(Array.isArray(c.preferred_batch_sizes) && c.preferred_batch_sizes.every(Number.isInteger), `${at}.config.preferred_batch_sizes`, 'a list of integers', c.preferred_batch_sizes);
      }
      const ms = t.measurements;
      if (need(Array.isArray(ms) && ms.every(Array.isArray), `${at}.measurements`, 'a list of lists of load points', ms) && Array.isArray(ms)) {
        ms.forEach((m: Json[], j) =>
          m.forEach((p, k) => {
            const pat = `${at}.measurements[${j}][${k}]`;
            if (!need(isObj(p), pat, 'a load point object', p) || !isObj(p)) return;
            need(isNum(p.concurrency), `${pat}.concurrency`, 'a number', p.concurrency);
            need(p.offered_rate === undefined || (isNum(p.offered_rate) && (p.offered_rate as number) > 0), `${pat}.offered_rate`, 'a positive number of requests/s', p.offered_rate);
            for (const f of ['throughput_ips', 'p50_ms', 'p90_ms', 'p95_ms', 'p99_ms']) need(numOrNull(p[f]), `${pat}.${f}`, 'a number or null', p[f]);
            need(typeof p.stop_reason === 'string', `${pat}.stop_reason`, 'a string', p.stop_reason);
            need(p.server === null || p.server === undefined || isObj(p.server), `${pat}.server`, 'an object or null', p.server);
            const ci = p.p99_ci_ms;
            need(ci === undefined || (Array.isArray(ci) && ci.length === 2 && isNum(ci[0]) && numOrNull(ci[1])), `${pat}.p99_ci_ms`, 'a [low, high or null] pair of numbers', ci);
            for (const f of ['client_limited', 'unreliable']) need(p[f] === undefined || typeof p[f] === 'boolean', `${pat}.${f}`, 'true or false', p[f]);
          }),
        );
      }
    });
    const indexes = new Set(trials.map((t: Json) => (isObj(t) ? t.index : undefined)));
    for (const k of ['recommended_index', 'default_index'] as const) {
      const i = json[k];
      if (typeof i === 'number' && !indexes.has(i)) problems.push(`${k}: trial ${i} is not in "trials"`);
    }
  }
  if (problems.length) {
    const shown = problems.slice(0, 10);
    throw new BaselineError(`${source}: not a valid tanalyze baseline:\n  - ${shown.join('\n  - ')}${problems.length > shown.length ? `\n  - ... and ${problems.length - shown.length} more` : ''}`);
  }
  // Fill optional fields older writers may leave out, so readers see one shape.
  const doc = json as unknown as BaselineDoc;
  for (const t of doc.trials) {
    t.pbtxt = t.pbtxt ?? null;
    t.error = t.error ?? null;
    t.is_default = t.is_default === true;
    for (const m of t.measurements) for (const p of m) {
      p.server = p.server ?? null;
      p.stable = p.stable === true;
    }
  }
  return doc;
}
