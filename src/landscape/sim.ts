/**
 * A simulated GPU server: a deterministic queueing model of dynamic batching under
 * closed-loop load (concurrency N). Not a measurement of anything; a landscape generator
 * with the shapes that matter to a search:
 *
 * - a batch of b items takes (a + c1·b + c2·b²) / speedup(b) ms: fixed overhead, per-item
 *   cost, and a quadratic term (cache and memory pressure) that makes per-batch efficiency
 *   peak before the largest batch; the precision speedup over FP32 grows with b;
 * - an engine built for a larger max_batch_size is a little slower at every batch;
 * - busy instances run in parallel but slow each other down (contention), and all share one
 *   GPU throughput ceiling per precision, so more instances stop paying at some point;
 * - the dynamic batcher picks up part of the waiting requests; a queue delay lets it gather
 *   more (bigger batches, cheaper per item while below the efficiency peak, as load rises)
 *   but makes a batch that does not fill wait for the delay (latency at light load); no
 *   dynamic batching means batches of one;
 * - throughput follows min(N / (light-load latency), capacity) with a smooth knee; the
 *   waiting time is what the closed loop adds (R = N / X minus the light-load latency),
 *   spread M/D/c-like: waits with probability ρ^(√(2(c+1))−1) (Sakasegawa), exponentially,
 *   so p99 explodes once the load passes the knee.
 */
import type { LoadPoint } from '../domain/measurement.js';
import type { Precision, SearchSpace, ServingConfig } from '../domain/serving.js';
import { enumerateSpace } from '../search/space.js';
import type { LandscapeRow } from './csv.js';

export interface SimPrecisionParams {
  /** Speedup over FP32 for a batch of one, and for large batches. */
  speedupAt1: number;
  speedupMax: number;
  /** Batch size over which the speedup approaches its maximum (1 − 1/e of the way). */
  speedupBatch: number;
  /** GPU throughput ceiling (inferences/s) shared by all instances. */
  capacityIps: number;
  /** Weights per instance and activations per batch slot (MB). */
  weightsMb: number;
  activationMbPerItem: number;
}

export interface SimParams {
  name?: string;
  /** FP32 batch cost: overhead (ms), per item (ms), per item² (ms). */
  batchOverheadMs: number;
  perItemMs: number;
  perItemSquaredMs: number;
  /** Relative slowdown of every batch per doubling of max_batch_size. */
  maxBatchOverheadPerDoubling: number;
  /** Relative slowdown of a batch per extra busy instance (linear, quadratic). */
  instanceContention: number;
  instanceContention2: number;
  /** Share of the waiting requests a batch picks up with no queue delay (0..1]. */
  batchFill: number;
  /** Queue delay (µs) over which the batcher gathers 1 − 1/e of the rest. */
  fillDelayUs: number;
  /** Squared coefficient of variation of a batch's service time. */
  serviceCv2: number;
  baseMemoryMb: number;
  precisions: Record<Precision, SimPrecisionParams>;
}

export interface SimPoint {
  concurrency: number;
  throughputIps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  gpuMemoryMb: number;
}

/** A mid-size vision model on a datacenter GPU, roughly. */
export const DEFAULT_SIM_PARAMS: SimParams = {
  name: 'default',
  batchOverheadMs: 1.2,
  perItemMs: 0.35,
  perItemSquaredMs: 0.0015,
  maxBatchOverheadPerDoubling: 0.02,
  instanceContention: 0.3,
  instanceContention2: 0.04,
  batchFill: 0.5,
  fillDelayUs: 500,
  serviceCv2: 0.05,
  baseMemoryMb: 600,
  precisions: {
    FP32: { speedupAt1: 1, speedupMax: 1, speedupBatch: 16, capacityIps: 2600, weightsMb: 400, activationMbPerItem: 12 },
    FP16: { speedupAt1: 1.15, speedupMax: 2.2, speedupBatch: 16, capacityIps: 5200, weightsMb: 200, activationMbPerItem: 6 },
    // Same tensor-core rate and bytes as FP16 on Ampere and Hopper GPUs.
    BF16: { speedupAt1: 1.15, speedupMax: 2.2, speedupBatch: 16, capacityIps: 5200, weightsMb: 200, activationMbPerItem: 6 },
    INT8: { speedupAt1: 1.2, speedupMax: 3.2, speedupBatch: 32, capacityIps: 7800, weightsMb: 110, activationMbPerItem: 3.5 },
  },
};

const Z = { 0.5: 0, 0.9: 1.2816, 0.99: 2.3263 } as const;

const round = (x: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** The simulated figures of one configuration at one concurrency. */
export function simMeasure(params: SimParams, config: ServingConfig, concurrency: number): SimPoint {
  const n = Math.max(1, concurrency);
  const k = config.instanceCount;
  const mbs = config.maxBatchSize;
  const prec = params.precisions[config.precision];
  const busy = Math.min(k, n);
  const perInstance = n / busy;

  let batch = 1;
  let waitMs = 0;
  if (config.maxQueueDelayUs !== null) {
    const d = config.maxQueueDelayUs;
    const fill = params.batchFill + (1 - params.batchFill) * (1 - Math.exp(-d / params.fillDelayUs));
    batch = Math.min(mbs, Math.max(1, perInstance * fill));
    // A batch that cannot fill (to a preferred size, or to the maximum) waits out the delay.
    const fillTo = config.preferredBatchSizes.length ? Math.min(...config.preferredBatchSizes) : mbs;
    waitMs = (d / 1000) * Math.max(0, 1 - perInstance / fillTo);
  }

  const speedup = prec.speedupAt1 + (prec.speedupMax - prec.speedupAt1) * (1 - Math.exp(-(batch - 1) / prec.speedupBatch));
  const engine = 1 + params.maxBatchOverheadPerDoubling * Math.log2(mbs);
  const contention = 1 + params.instanceContention * (busy - 1) + params.instanceContention2 * (busy - 1) ** 2;
  const batchMs = ((params.batchOverheadMs + params.perItemMs * batch + params.perItemSquaredMs * batch * batch) / speedup) * engine * contention;
  const instancesIps = (busy * batch * 1000) / batchMs;
  const capacity = (instancesIps ** -4 + prec.capacityIps ** -4) ** -0.25;
  const serviceMs = (busy * batch * 1000) / capacity;

  // The first request of a batch waits the whole delay, later ones less.
  const meanWaitMs = (waitMs * (1 + 1 / perInstance)) / 2;
  const lightMs = meanWaitMs + serviceMs;
  const lightIps = (n * 1000) / lightMs;
  const throughput = (lightIps ** -3 + capacity ** -3) ** (-1 / 3);
  const responseMs = (n * 1000) / throughput;
  const queueMs = Math.max(0, responseMs - lightMs);
  const rho = Math.min(1, throughput / capacity);
  const pWait = Math.min(1, rho ** (Math.sqrt(2 * (busy + 1)) - 1));
  const theta = pWait > 0 ? queueMs / pWait : 0;

  const quantile = (q: 0.5 | 0.9 | 0.99): number => {
    const batching = waitMs * (1 / perInstance + (1 - 1 / perInstance) * q);
    const service = serviceMs * (1 + Z[q] * Math.sqrt(params.serviceCv2));
    const queue = pWait > 1 - q ? theta * Math.log(pWait / (1 - q)) : 0;
    return batching + service + queue;
  };

  const memory = params.baseMemoryMb + k * (prec.weightsMb + prec.activationMbPerItem * mbs);
  return {
    concurrency: n,
    throughputIps: round(throughput, 1),
    p50Ms: round(quantile(0.5), 3),
    p90Ms: round(quantile(0.9), 3),
    p99Ms: round(quantile(0.99), 3),
    gpuMemoryMb: Math.round(memory),
  };
}

/** Landscape rows for every valid configuration of the space at every concurrency. */
export function simLandscape(params: SimParams, space: SearchSpace, concurrencies: readonly number[]): LandscapeRow[] {
  const rows: LandscapeRow[] = [];
  for (const config of enumerateSpace(space)) {
    for (const c of concurrencies) {
      const p = simMeasure(params, config, c);
      rows.push({ config, concurrency: c, throughputIps: p.throughputIps, p50Ms: p.p50Ms, p90Ms: p.p90Ms, p99Ms: p.p99Ms, gpuMemoryMb: p.gpuMemoryMb });
    }
  }
  return rows;
}

/** A simulated LoadPoint, as a launcher would report it (p95 halfway between p90 and p99). */
export function simLoadPoint(params: SimParams, config: ServingConfig, concurrency: number): LoadPoint {
  const p = simMeasure(params, config, concurrency);
  return {
    concurrency: p.concurrency, throughputIps: p.throughputIps, p50Ms: p.p50Ms, p90Ms: p.p90Ms, p95Ms: (p.p90Ms + p.p99Ms) / 2, p99Ms: p.p99Ms,
    requests: Math.round(p.throughputIps), errors: 0, windows: 3, stable: true, stopReason: 'simulated', server: null, durationS: 0,
  };
}

const snake = (k: string) => k.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);

type NumberRule = { min: number; max?: number; exclusiveMin?: boolean };

const TOP_RULES: Record<Exclude<keyof SimParams, 'name' | 'precisions'>, NumberRule> = {
  batchOverheadMs: { min: 0 },
  perItemMs: { min: 0, exclusiveMin: true },
  perItemSquaredMs: { min: 0 },
  maxBatchOverheadPerDoubling: { min: 0 },
  instanceContention: { min: 0 },
  instanceContention2: { min: 0 },
  batchFill: { min: 0, max: 1, exclusiveMin: true },
  fillDelayUs: { min: 0, exclusiveMin: true },
  serviceCv2: { min: 0 },
  baseMemoryMb: { min: 0 },
};

const PRECISION_RULES: Record<keyof SimPrecisionParams, NumberRule> = {
  speedupAt1: { min: 0, exclusiveMin: true },
  speedupMax: { min: 0, exclusiveMin: true },
  speedupBatch: { min: 0, exclusiveMin: true },
  capacityIps: { min: 0, exclusiveMin: true },
  weightsMb: { min: 0 },
  activationMbPerItem: { min: 0 },
};

function ruleText(r: NumberRule): string {
  return `a number ${r.exclusiveMin ? '>' : '>='} ${r.min}${r.max !== undefined ? ` and <= ${r.max}` : ''}`;
}

function checkNumber(v: unknown, r: NumberRule): v is number {
  return typeof v === 'number' && Number.isFinite(v) && (r.exclusiveMin ? v > r.min : v >= r.min) && (r.max === undefined || v <= r.max);
}

/**
 * Simulator parameters from a profile's `sim:` section (YAML keys in snake_case, e.g.
 * `batch_overhead_ms`, `precisions: { FP16: { capacity_ips: 5000 } }`), over
 * DEFAULT_SIM_PARAMS. Returns every problem at once, each naming the key, the bad value
 * and what is accepted.
 */
export function parseSimParams(raw: unknown, where = 'sim'): { params: SimParams; errors: [] } | { params: null; errors: string[] } {
  const errors: string[] = [];
  const params: SimParams = { ...DEFAULT_SIM_PARAMS, precisions: { ...DEFAULT_SIM_PARAMS.precisions } };
  if (raw === undefined || raw === null) return { params, errors: [] };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { params: null, errors: [`${where}: ${JSON.stringify(raw)} is not a mapping of simulator parameters`] };
  const topKeys = new Map(Object.keys(TOP_RULES).map((k) => [snake(k), k as keyof typeof TOP_RULES]));
  const precKeys = new Map(Object.keys(PRECISION_RULES).map((k) => [snake(k), k as keyof SimPrecisionParams]));
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (key === 'name') {
      if (typeof value === 'string') params.name = value;
      else errors.push(`${where}.name: ${JSON.stringify(value)} is not a string`);
    } else if (key === 'precisions') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        errors.push(`${where}.precisions: ${JSON.stringify(value)} is not a mapping of ${Object.keys(params.precisions).join(', ')}`);
        continue;
      }
      for (const [pname, pv] of Object.entries(value as Record<string, unknown>)) {
        const prec = pname.toUpperCase() as Precision;
        if (!(prec in params.precisions)) {
          errors.push(`${where}.precisions.${pname}: not a precision; accepted: ${Object.keys(params.precisions).join(', ')}`);
          continue;
        }
        if (pv === null || typeof pv !== 'object' || Array.isArray(pv)) {
          errors.push(`${where}.precisions.${pname}: ${JSON.stringify(pv)} is not a mapping`);
          continue;
        }
        const merged = { ...params.precisions[prec] };
        for (const [k, v] of Object.entries(pv as Record<string, unknown>)) {
          const field = precKeys.get(k);
          if (!field) errors.push(`${where}.precisions.${pname}.${k}: unknown; accepted: ${[...precKeys.keys()].join(', ')}`);
          else if (!checkNumber(v, PRECISION_RULES[field])) errors.push(`${where}.precisions.${pname}.${k}: ${JSON.stringify(v)} is not accepted; accepted: ${ruleText(PRECISION_RULES[field])}`);
          else merged[field] = v;
        }
        params.precisions[prec] = merged;
      }
    } else {
      const field = topKeys.get(key);
      if (!field) errors.push(`${where}.${key}: unknown; accepted: name, precisions, ${[...topKeys.keys()].join(', ')}`);
      else if (!checkNumber(value, TOP_RULES[field])) errors.push(`${where}.${key}: ${JSON.stringify(value)} is not accepted; accepted: ${ruleText(TOP_RULES[field])}`);
      else params[field] = value;
    }
  }
  return errors.length ? { params: null, errors } : { params, errors: [] };
}
