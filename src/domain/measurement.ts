/** Server-side times per request, averaged over a measurement (from ModelStatistics deltas). */
export interface ServerTimes {
  requests: number;
  executions: number;
  queueUs: number;
  computeInputUs: number;
  computeInferUs: number;
  computeOutputUs: number;
}

/** One measured load point: a load level held until stable (or out of windows). */
export interface LoadPoint {
  /** Closed-loop: number of requests in flight. */
  concurrency: number;
  throughputIps: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Requests that completed in the windows used for the figures. */
  requests: number;
  errors: number;
  windows: number;
  stable: boolean;
  /** Why measuring stopped: 'stable' | 'max-windows' | 'errors' | ... */
  stopReason: string;
  server: ServerTimes | null;
  durationS: number;
  /** The first failed request's message, when any request failed while measuring. */
  firstError?: string;
  /** Peak GPU memory used during the point (MiB, summed over GPUs), from the server's metrics; absent on the CPU. */
  gpuMemoryMb?: number | null;
  /** Mean GPU utilization (0..1) during the point. */
  gpuUtilization?: number;

  // ---- Optional figures (issue 6). Absent on points measured before they existed. ----

  /** How load was applied: closed loop (`concurrency` in flight) or open loop (`offeredRate`). Absent = concurrency. */
  mode?: LoadMode;
  /** Open loop: the scheduled request rate (requests/s). `concurrency` then holds the peak in flight. */
  offeredRate?: number;
  /** Completed requests/s over the used windows (throughputIps counts inferences). */
  achievedRate?: number;
  /** Open loop: the arrival process. */
  arrivals?: Arrivals;
  /** Open loop: requests sent in the used windows, and how many of them left later than the slack after their intended time. */
  sent?: number;
  late?: number;
  /** Open loop: the latest any request left after its intended time, and the p99 of that lateness, ms. */
  maxLateMs?: number;
  lateP99Ms?: number;
  /** The figures cannot be trusted (e.g. the client fell behind its schedule); `unreliableReason` says why. */
  unreliable?: boolean;
  unreliableReason?: string;
  /** Confidence interval of p99 (order statistics, see stats.ts); hi is Infinity when too few samples bound it. */
  p99CiMs?: [number, number];
  /** Confidence level of p99CiMs (e.g. 0.95). */
  ciLevel?: number;
  /** Where the target lies against the CI: 'meets' (hi ≤ target), 'misses' (lo > target), 'inconclusive'. */
  targetVerdict?: 'meets' | 'misses' | 'inconclusive';
  /** Windows added beyond the stopping rule because the target lay inside the CI. */
  extraWindows?: number;
  /** Whether the client (this process), not the server, limited throughput; `clientLimitReason` says why. */
  clientLimited?: boolean;
  clientLimitReason?: string;
  /** Client CPU over the used windows, in cores (process.cpuUsage: every thread of this process). */
  clientCpuCores?: number;
  /** Busiest client event loop's utilisation (0..1) and longest stall (ms, client-monitor.ts: eventLoopStallMs) over the used windows. */
  clientEventLoopUtilization?: number;
  clientEventLoopStallMs?: number;
  /** Requests and time spent warming up (excluded from every figure). */
  warmupRequests?: number;
  warmupMs?: number;
  /** Merged latency histogram (µs) of the used windows, HdrHistogram compressed base64. */
  histogramB64?: string;
  /** Every measured window's histogram (µs, compressed base64), in order; the used ones are the last `usedWindows`. */
  windowHistogramsB64?: string[];
  /** How many of the last windows the figures come from. */
  usedWindows?: number;
  /** Coefficient of variation of throughput over the used windows (the load search's measure of a point's noise). */
  throughputCv?: number;
  /**
   * Separate measurements of this load level pooled into the point's figures (absent = 1): the
   * load search measures the point it ends on a second time (load-search.ts, repeat-point.ts).
   */
  measurements?: number;
}

/** How many separate measurements a point pools (1 for a point measured once). */
export function measurementsOf(p: { measurements?: number }): number {
  return p.measurements ?? 1;
}

export type LoadMode = 'concurrency' | 'rate';
export type Arrivals = 'constant' | 'poisson';

/** How each load point is measured (perf_analyzer's rule by default). */
export interface WindowSettings {
  windowMs: number;
  minWindows: number; // 3
  maxWindows: number; // 10
  stabilityTolerance: number; // 0.10
  warmupMs: number;
  /** Warm-up also lasts until this many requests completed (bounded by maxWarmupMs). Default 0. */
  warmupRequests?: number;
  /** Bound on warm-up by request count (default max(10 × warmupMs, 10 s)). */
  maxWarmupMs?: number;
  /** Most windows added when the p99 target lies inside the CI (default 0: off). */
  maxExtraWindows?: number;
  /** Confidence level of the p99 interval (default 0.95). */
  ciLevel?: number;
  /**
   * A window lasts long enough for about this many requests (default 0: windowMs alone), at
   * most maxWindowMs: at 50 requests/s a 500 ms window holds 25 requests, whose "p99" is
   * their maximum, and the merged windows could never tell p99 from the target.
   */
  minWindowRequests?: number;
  /** Bound on a window stretched by minWindowRequests (default 10 s). */
  maxWindowMs?: number;
}

/** The result of measuring one configuration at rising load. */
export interface TrialResult {
  points: LoadPoint[];
  /** Index into points of the best point meeting the target, or null when none did. */
  bestIndex: number | null;
}


/**
 * The load a point was measured at: its concurrency in closed loop; in open loop its offered
 * request rate (its `concurrency` there is only the peak in flight, a result, not a setting).
 * Regress compares p99 at one; the report names where a flagged point was measured.
 */
export interface FixedLoad {
  mode: 'concurrency' | 'rate';
  level: number;
}

export function loadOf(p: { concurrency: number; offeredRate?: number }): FixedLoad {
  return p.offeredRate !== undefined ? { mode: 'rate', level: p.offeredRate } : { mode: 'concurrency', level: p.concurrency };
}

/** 'concurrency 8' or '850 requests/s'. */
export function describeLoad(load: FixedLoad): string {
  if (load.mode === 'concurrency') return `concurrency ${load.level}`;
  return `${load.level >= 100 ? load.level.toFixed(0) : Number(load.level.toPrecision(3))} requests/s`;
}
