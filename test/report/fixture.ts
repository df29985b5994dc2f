// A realistic ReportData for report tests: load points come from a small deterministic
// queueing model (batches amortize a fixed cost; queue delay adds latency; instances share one GPU).
import type { ServerTimes } from '../../src/domain/measurement.js';
import type { ServingConfig } from '../../src/domain/serving.js';
import type { TrialState } from '../../src/domain/trial.js';
import { chooseRecommended } from '../../src/report/pareto.js';
import type { ReportData, ReportPoint, ReportTrial } from '../../src/report/types.js';

const PREC_FACTOR = { FP32: 1, FP16: 0.55, BF16: 0.55, INT8: 0.4 } as const;
const CONCURRENCY = [1, 2, 4, 8, 16, 32, 64, 128, 256];

function cfg(maxBatchSize: number, maxQueueDelayUs: number | null, instanceCount: number, precision: ServingConfig['precision']): ServingConfig {
  return { maxBatchSize, maxQueueDelayUs, instanceCount, precision, preferredBatchSizes: [] };
}

/**
 * Server times that add up below the client p50: inference takes most of it at low load, the
 * queue grows with load, and what is left is network and client.
 */
function serverTimes(c: ServingConfig, serviceMs: number, p50Ms: number, requests: number): ServerTimes {
  const p50Us = p50Ms * 1000;
  const computeInferUs = Math.min(serviceMs * 1000, 0.7 * p50Us);
  const computeInputUs = 0.02 * p50Us;
  const computeOutputUs = 0.01 * p50Us;
  const queueUs = Math.max(0, 0.85 * p50Us - computeInferUs - computeInputUs - computeOutputUs);
  const executions = Math.max(1, Math.round(requests / Math.max(1, c.maxBatchSize / 2)));
  return { requests, executions, queueUs, computeInputUs, computeInferUs, computeOutputUs };
}

/** Weights per instance plus activations that grow with the batch (MB). */
function gpuMemoryMb(c: ServingConfig, batch: number): number {
  return Math.round(c.instanceCount * (420 * PREC_FACTOR[c.precision] + 9 * batch) + 310);
}

function point(c: ServingConfig, concurrency: number, seed: number, withGpuMemory: boolean): ReportPoint {
  const dynamic = c.maxQueueDelayUs !== null;
  const b = dynamic ? Math.min(c.maxBatchSize, Math.max(1, concurrency / c.instanceCount)) : 1;
  const serviceMs = (1.2 + 1.1 * b) * PREC_FACTOR[c.precision];
  const capacity = (Math.pow(c.instanceCount, 0.6) * b * 1000) / serviceMs;
  const waitMs = dynamic ? ((c.maxQueueDelayUs as number) / 1000) * (b < c.maxBatchSize ? 1 : 0.3) : 0;
  const meanMs = Math.max(serviceMs + waitMs, (concurrency / capacity) * 1000);
  const jitter = 1 + 0.04 * Math.sin(seed * 12.9898 + concurrency * 78.233);
  const throughputIps = (concurrency / meanMs) * 1000;
  const requests = Math.round(throughputIps * 3);
  const p50Ms = meanMs * 0.93;
  return {
    concurrency,
    throughputIps,
    p50Ms,
    p90Ms: meanMs * 1.18 * jitter,
    p95Ms: meanMs * 1.3 * jitter,
    p99Ms: meanMs * 1.45 * jitter,
    requests,
    errors: 0,
    windows: 3,
    stable: true,
    stopReason: 'stable',
    server: serverTimes(c, serviceMs, p50Ms, requests),
    durationS: 3,
    ...(withGpuMemory ? { gpuMemoryMb: gpuMemoryMb(c, b) } : {}),
  };
}

/** Rising load until the first point over the target (as the load search does), at least 3 points. */
function measure(c: ServingConfig, targetP99Ms: number, seed: number, withGpuMemory: boolean): ReportPoint[] {
  const out: ReportPoint[] = [];
  for (const n of CONCURRENCY) {
    const p = point(c, n, seed, withGpuMemory);
    out.push(p);
    if (p.p99Ms > targetP99Ms && out.length >= 3) break;
  }
  return out;
}

function trial(
  index: number,
  model: string,
  config: ServingConfig,
  target: number,
  opts: { error?: string; isDefault?: boolean; gpuMemory?: boolean } = {},
): ReportTrial {
  const variantName = `${model}_config_${index}`;
  if (opts.error !== undefined) {
    return { index, variantName, config, state: 'FAILED', error: opts.error, objectiveIps: null, p99Ms: null, isDefault: !!opts.isDefault, points: [] };
  }
  const points = measure(config, target, index + 1, opts.gpuMemory ?? true);
  const ok = points.filter((p) => p.p99Ms <= target);
  let state: TrialState = 'COMPLETE';
  let objectiveIps: number | null = null;
  let p99Ms: number | null = null;
  if (ok.length) {
    const best = ok.reduce((a, b) => (b.throughputIps > a.throughputIps ? b : a));
    objectiveIps = best.throughputIps;
    p99Ms = best.p99Ms;
  } else {
    state = 'INFEASIBLE';
    p99Ms = Math.min(...points.map((p) => p.p99Ms));
  }
  return { index, variantName, config, state, error: null, objectiveIps, p99Ms, isDefault: !!opts.isDefault, points, pbtxt: pbtxt(variantName, config) };
}

export function pbtxt(model: string, c: ServingConfig): string {
  const lines = [
    `name: "${model}"`,
    'platform: "onnxruntime_onnx"',
    `max_batch_size: ${c.maxBatchSize}`,
    'input [',
    '  { name: "input" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] }',
    ']',
    'output [',
    '  { name: "logits" data_type: TYPE_FP32 dims: [ 1000 ] }',
    ']',
    'instance_group [',
    `  { count: ${c.instanceCount} kind: KIND_GPU }`,
    ']',
  ];
  if (c.maxQueueDelayUs !== null) lines.push('dynamic_batching {', `  max_queue_delay_microseconds: ${c.maxQueueDelayUs}`, '}');
  if (c.precision !== 'FP32') {
    lines.push(
      'optimization { execution_accelerators { gpu_execution_accelerator [',
      `  { name: "tensorrt" parameters { key: "precision_mode" value: "${c.precision}" } }`,
      '] } }',
    );
  }
  return lines.join('\n') + '\n';
}

export interface FixtureOptions {
  model?: string;
  /** The failed trial's error text. */
  error?: string;
  targetP99Ms?: number;
  /** Give every load point a GPU memory figure (default true). */
  gpuMemory?: boolean;
  /** Give the load points p99 intervals and client flags, as a current measurement does (default false: an older run). See addMeasurementChecks. */
  measurementChecks?: boolean;
}

/** Reasons worded as the runner words them (client-load.ts). */
export const CHECK_REASONS = {
  busy: "the client's event loop was 96.4% busy",
  stall: "the client's event loop stalled 2.3 ms (p99), against a 2.8 ms p99 latency",
  late: 'the client fell behind its schedule: 3.4% of 7389 requests left late (more than 1%)',
} as const;

/**
 * What a current measurement adds to each point: a 95 % p99 interval that narrows with the
 * requests measured (open above under 300 requests, too few for the order statistics to bound
 * it) and clientLimited false. Then, by design: the recommended trial (5)'s chosen point and the
 * one after it are client-limited, trial 7's second point is client-limited (on the frontier),
 * trial 6's last point is unreliable, and trial 1's first point has no interval (a point measured
 * without one, among points with).
 */
export function addMeasurementChecks(trials: ReportTrial[]): ReportTrial[] {
  return trials.map((t) => ({
    ...t,
    points: t.points.map((p, i) => {
      const out: ReportPoint = { ...p, clientLimited: false };
      if (!(t.index === 1 && i === 0)) {
        const w = 0.03 + 2 / Math.sqrt(Math.max(1, p.requests));
        out.p99CiMs = [p.p99Ms * (1 - w), p.requests < 300 ? Infinity : p.p99Ms * (1 + 1.3 * w)];
        out.ciLevel = 0.95;
      }
      const last = i === t.points.length - 1;
      if ((t.index === 5 && p.throughputIps === t.objectiveIps) || (t.index === 5 && last)) Object.assign(out, { clientLimited: true, clientLimitReason: CHECK_REASONS.busy });
      if (t.index === 7 && i === 1) Object.assign(out, { clientLimited: true, clientLimitReason: CHECK_REASONS.stall });
      if (t.index === 6 && last) Object.assign(out, { clientLimited: true, clientLimitReason: CHECK_REASONS.late, unreliable: true, unreliableReason: CHECK_REASONS.late });
      return out;
    }),
  }));
}

export function makeReportFixture(opts: FixtureOptions = {}): ReportData {
  const model = opts.model ?? 'resnet50_onnx';
  const target = opts.targetP99Ms ?? 50;
  const error = opts.error ?? 'engine build failed: trtexec exited with code 1: [E] Error[4]: [network.cpp::validate::3026] IOptimizationProfile: kMAX dimensions < kOPT';
  const gpuMemory = opts.gpuMemory ?? true;
  const measured: ReportTrial[] = [
    trial(0, model, cfg(8, null, 1, 'FP32'), target, { isDefault: true, gpuMemory }),
    trial(1, model, cfg(8, 500, 2, 'FP32'), target, { gpuMemory }),
    trial(2, model, cfg(16, 1000, 2, 'FP16'), target, { gpuMemory }),
    trial(3, model, cfg(32, 60000, 1, 'FP32'), target, { gpuMemory }),
    trial(4, model, cfg(4, 100, 4, 'INT8'), target, { error, gpuMemory }),
    trial(5, model, cfg(16, 500, 3, 'FP16'), target, { gpuMemory }),
    trial(6, model, cfg(64, 2000, 2, 'FP16'), target, { gpuMemory }),
    trial(7, model, cfg(8, 0, 1, 'FP16'), target, { gpuMemory }),
  ];
  const trials = opts.measurementChecks ? addMeasurementChecks(measured) : measured;
  const rec = chooseRecommended(trials, target);
  const def = trials[0] as ReportTrial;
  return {
    run: {
      id: 'run-20250114-093012-7f3a',
      model,
      createdAt: '2025-01-14T09:30:12Z',
      finishedAt: '2025-01-14T10:01:46Z',
      targetP99Ms: target,
      strategy: 'bayesian',
      seed: 42,
      budget: 12,
      launch: 'docker',
      serverVersion: '2.53.0 (nvcr.io/nvidia/tritonserver:24.12-py3)',
      toolVersion: '0.1.0',
      hardware: '1x NVIDIA H100 80GB HBM3, 16 CPU cores, 128 GiB',
      windowMs: 5000,
      maxWindows: 10,
      stabilityTolerance: 0.1,
      status: 'finished',
      wallS: 1894.2,
      stopReason: 'search converged',
    },
    trials,
    recommendedIndex: rec ? rec.index : null,
    defaultIndex: def.index,
    recommendedPbtxt: rec ? pbtxt(model, rec.config) : null,
    defaultPbtxt: pbtxt(model, def.config),
  };
}
