/**
 * One load point, perf_analyzer's way with three additions: warm up (by time and by request
 * count), then measure windows until the last `minWindows` agree on throughput and p99 (or
 * `maxWindows` are spent, or too many requests fail); the figures come from the merged
 * histograms of those last windows. Added: a confidence interval for p99, more windows
 * (bounded) while the p99 target lies inside it, and a verdict on whether the client
 * limited the point. Sleep is injected; this module never touches a timer itself.
 */
import type { LoadDriver, ThreadLoad, WindowResult } from '../domain/load.js';
import { judgeClientLimit, type ClientLimitRules, type ClientMonitor, type ClientSample } from '../load/client-monitor.js';
import { encodeHistogram, mergeHistograms, type LatencyHistogram } from '../load/histogram.js';
import { isStable, percentiles, quantileIntervalAcrossWindows, type WindowFigures } from './stats.js';
import { intervalVerdict } from '../domain/target.js';
import type { Arrivals, LoadPoint, ServerTimes, WindowSettings } from '../domain/measurement.js';

export type StopReason = 'stable' | 'max-windows' | 'errors' | 'no-completions';

export interface MeasureLoadPointOptions<S> {
  driver: LoadDriver;
  /** Closed loop: requests in flight. Give this or `rate`. */
  concurrency?: number;
  /** Open loop: requests per second; the driver is started with it. */
  rate?: number;
  /** Open loop: recorded with the point. */
  arrivals?: Arrivals;
  settings: WindowSettings;
  /** Cumulative server counters; taken at each window start and after the last window. */
  snapshotServer?: () => Promise<S>;
  diffServer?: (before: S, after: S) => ServerTimes;
  sleep: (ms: number) => Promise<void>;
  /** Stop early when a window's failed share exceeds this (default 0.05). */
  maxErrorRate?: number;
  /** Inferences carried by one request (its batch size), for inferences/s. Default 1. */
  inferencesPerRequest?: number;
  /** The p99 target (ms): with settings.maxExtraWindows > 0, windows are added while it lies inside the p99 CI. */
  targetP99Ms?: number;
  /** This thread's event loop and the process CPU, sampled per window (default: none). */
  monitor?: ClientMonitor;
  clientRules?: ClientLimitRules;
  /** Keep every window's encoded histogram on the point (default true). */
  keepWindowHistograms?: boolean;
  /** Progress hook, called after each window. */
  onWindow?: (index: number, window: WindowSummary) => void;
}

export interface WindowSummary extends WindowFigures {
  count: number;
  errors: number;
  durationS: number;
}

interface Measured {
  result: WindowResult;
  summary: WindowSummary;
  client: ClientSample | null;
}

export async function measureLoadPoint<S>(opts: MeasureLoadPointOptions<S>): Promise<LoadPoint> {
  const { driver, settings, sleep } = opts;
  const rateMode = opts.rate !== undefined;
  const level = rateMode ? opts.rate! : opts.concurrency;
  if (level === undefined) throw new RangeError('measureLoadPoint: give a concurrency or a rate');
  const maxErrorRate = opts.maxErrorRate ?? 0.05;
  const perRequest = opts.inferencesPerRequest ?? 1;
  const minWindows = Math.max(1, settings.minWindows);
  const maxWindows = Math.max(minWindows, settings.maxWindows);
  const maxExtra = opts.targetP99Ms !== undefined ? Math.max(0, settings.maxExtraWindows ?? 0) : 0;
  const ciLevel = settings.ciLevel ?? 0.95;
  const wantServer = opts.snapshotServer !== undefined && opts.diffServer !== undefined;

  // A failed snapshot leaves the point without server times rather than failing it.
  const snapshot = async (): Promise<S | null> => {
    if (!wantServer) return null;
    try {
      return await opts.snapshotServer!();
    } catch {
      return null;
    }
  };

  const windows: Measured[] = [];
  // snaps[i]: at the start of window i; snaps[n]: after the last window.
  const snaps: (S | null)[] = [];
  let stopReason: StopReason = 'max-windows';
  let firstError: string | undefined;
  /** Index of the first used window, fixed when the stopping rule first holds. */
  let firstUsed: number | null = null;
  let extra = 0;
  let warm = { requests: 0, ms: 0 };

  driver.start(level);
  try {
    warm = await warmUp(driver, settings, sleep);
    // Open loop: the offered rate sets the window's length; closed loop: the rate seen so far.
    let windowMs = windowLengthMs(settings, rateMode ? level : warm.ms > 0 ? (warm.requests * 1000) / warm.ms : undefined);
    driver.startWindow();
    opts.monitor?.begin();
    snaps.push(await snapshot());
    for (;;) {
      await sleep(windowMs);
      const w = await driver.endWindow();
      const client = opts.monitor?.take() ?? null;
      const s = summarize(w, perRequest);
      if (!rateMode && s.durationS > 0) windowMs = windowLengthMs(settings, (w.count + w.errors) / s.durationS);
      windows.push({ result: w, summary: s, client });
      opts.onWindow?.(windows.length - 1, s);
      if (firstError === undefined && w.firstError !== null) firstError = w.firstError;

      let done = false;
      if (w.errors > 0 && w.errors / (w.errors + w.count) > maxErrorRate) {
        stopReason = 'errors';
        firstUsed ??= Math.max(0, windows.length - minWindows);
        done = true;
      } else if (firstUsed !== null) {
        // Extending: stop once the target leaves the CI or the extra windows are spent.
        extra++;
        done = extra >= maxExtra || !targetInsideCi(windows.slice(firstUsed), opts.targetP99Ms!, ciLevel);
      } else {
        const summaries = windows.map((m) => m.summary);
        if (isStable(summaries, settings.stabilityTolerance, minWindows)) stopReason = 'stable';
        else if (windows.length >= maxWindows) stopReason = 'max-windows';
        if (stopReason === 'stable' || windows.length >= maxWindows) {
          firstUsed = Math.max(0, windows.length - minWindows);
          done = maxExtra === 0 || !targetInsideCi(windows.slice(firstUsed), opts.targetP99Ms!, ciLevel);
        }
      }
      if (done) {
        snaps.push(await snapshot());
        break;
      }
      driver.startWindow();
      snaps.push(await snapshot());
    }
  } finally {
    await driver.stop();
  }

  const first = firstUsed ?? Math.max(0, windows.length - minWindows);
  const used = windows.slice(first);
  const results = used.map((m) => m.result);
  const count = results.reduce((a, w) => a + w.count, 0);
  const errors = results.reduce((a, w) => a + w.errors, 0);
  const durationNs = results.reduce((a, w) => a + w.durationNs, 0n);
  const durationS = Number(durationNs) / 1e9;
  const merged = mergeHistograms(results.map((w) => w.histogram));

  const p = percentiles(merged);
  let pMs = { p50: p.p50 / 1000, p90: p.p90 / 1000, p95: p.p95 / 1000, p99: p.p99 / 1000 };
  let ciMs = p99IntervalMs(results.map((w) => w.histogram), merged, ciLevel);
  if (count === 0) {
    // Nothing completed in the used windows, so every request in flight through them has
    // lasted at least their span: report that lower bound, which is finite and fails any
    // target shorter than it, instead of an empty histogram's nothing.
    const spanMs = durationS * 1000;
    pMs = { p50: spanMs, p90: spanMs, p95: spanMs, p99: spanMs };
    ciMs = [spanMs, Number.POSITIVE_INFINITY];
    if (stopReason !== 'errors') stopReason = 'no-completions';
  }

  const before = snaps[first] ?? null;
  const after = snaps[snaps.length - 1] ?? null;
  const server = wantServer && before !== null && after !== null ? opts.diffServer!(before, after) : null;
  const peakInFlight = results.reduce((m, w) => Math.max(m, w.peakInFlight ?? 0), 0);

  const point: LoadPoint = {
    concurrency: rateMode ? peakInFlight : level,
    throughputIps: durationS > 0 ? (count * perRequest) / durationS : 0,
    p50Ms: pMs.p50,
    p90Ms: pMs.p90,
    p95Ms: pMs.p95,
    p99Ms: pMs.p99,
    requests: count,
    errors,
    windows: windows.length,
    stable: stopReason === 'stable',
    stopReason,
    server,
    durationS,
    mode: rateMode ? 'rate' : 'concurrency',
    achievedRate: durationS > 0 ? count / durationS : 0,
    p99CiMs: ciMs,
    ciLevel,
    usedWindows: used.length,
    histogramB64: encodeHistogram(merged),
  };
  // The windows' spread of throughput: the load search judges growth against it.
  const cv = coefficientOfVariation(used.map((m) => m.summary.throughputIps));
  if (cv !== null) point.throughputCv = cv;
  if (opts.targetP99Ms !== undefined) point.targetVerdict = count === 0 ? 'misses' : intervalVerdict(ciMs, opts.targetP99Ms);
  if (extra > 0) point.extraWindows = extra;
  if (warm.ms > 0 || warm.requests > 0) {
    point.warmupMs = warm.ms;
    point.warmupRequests = warm.requests;
  }
  if (opts.keepWindowHistograms ?? true) point.windowHistogramsB64 = windows.map((m) => encodeHistogram(m.result.histogram));

  let sent: number | undefined;
  let late: number | undefined;
  if (rateMode) {
    point.offeredRate = level;
    if (opts.arrivals) point.arrivals = opts.arrivals;
    sent = results.reduce((a, w) => a + (w.sent ?? 0), 0);
    late = results.reduce((a, w) => a + (w.late ?? 0), 0);
    point.sent = sent;
    point.late = late;
    point.maxLateMs = results.reduce((m, w) => Math.max(m, (w.maxLateNs ?? 0) / 1e6), 0);
    const lateness = mergeHistograms(results.flatMap((w) => (w.lateness ? [w.lateness] : [])));
    if (lateness.totalCount > 0) point.lateP99Ms = lateness.getValueAtPercentile(99) / 1000;
  }

  // The sending threads: the workers when the driver reports their load (this thread then
  // only coordinates, and may be serving an embedded server), else this one (monitor).
  const busiest = used.map((m) => sendingLoad(m.client, m.result.clientLoad));
  const known = busiest.filter((b): b is ThreadLoad => b !== null);
  const cpu = used.map((m) => m.client?.cpuCores).filter((c): c is number => c !== undefined);
  if (known.length) {
    point.clientEventLoopUtilization = known.reduce((a, b) => a + b.eventLoopUtilization, 0) / known.length;
    point.clientEventLoopStallMs = known.reduce((m, b) => Math.max(m, b.eventLoopStallMs), 0);
  }
  if (cpu.length) point.clientCpuCores = cpu.reduce((a, b) => a + b, 0) / cpu.length;
  const verdict = judgeClientLimit(
    {
      mode: rateMode ? 'rate' : 'concurrency',
      ...(sent !== undefined ? { sent } : {}),
      ...(late !== undefined ? { late } : {}),
      ...(point.clientEventLoopUtilization !== undefined ? { eventLoopUtilization: point.clientEventLoopUtilization } : {}),
      ...(point.clientEventLoopStallMs !== undefined ? { eventLoopStallMs: point.clientEventLoopStallMs } : {}),
      p99Ms: point.p99Ms,
    },
    opts.clientRules,
  );
  point.clientLimited = verdict.clientLimited;
  if (verdict.reason) point.clientLimitReason = verdict.reason;
  if (verdict.unreliable) {
    point.unreliable = true;
    point.unreliableReason = verdict.reason ?? 'the client fell behind its schedule';
  }
  if (firstError !== undefined) point.firstError = firstError;
  return point;
}

/**
 * How long the next window lasts: settings.windowMs, stretched to hold about
 * settings.minWindowRequests requests at `requestsPerS`, at most settings.maxWindowMs
 * (default 10 s) and never shorter than windowMs. Pure.
 */
export function windowLengthMs(settings: WindowSettings, requestsPerS: number | undefined): number {
  const want = settings.minWindowRequests ?? 0;
  if (want <= 0 || requestsPerS === undefined || !(requestsPerS > 0)) return settings.windowMs;
  const bound = Math.max(settings.windowMs, settings.maxWindowMs ?? 10_000);
  return Math.min(bound, Math.max(settings.windowMs, Math.ceil((1000 * want) / requestsPerS)));
}

/**
 * Warm-up, excluded from every figure: at least warmupMs, and until warmupRequests have
 * completed (bounded by maxWarmupMs). By time alone it is one sleep; by count it uses
 * throw-away windows to count completions.
 */
async function warmUp(driver: LoadDriver, settings: WindowSettings, sleep: (ms: number) => Promise<void>): Promise<{ requests: number; ms: number }> {
  const wantRequests = Math.max(0, settings.warmupRequests ?? 0);
  const warmupMs = Math.max(0, settings.warmupMs);
  if (wantRequests === 0) {
    if (warmupMs > 0) await sleep(warmupMs);
    return { requests: 0, ms: warmupMs };
  }
  const bound = settings.maxWarmupMs ?? Math.max(10 * warmupMs, 10_000);
  let done = 0;
  let spent = 0;
  let step = warmupMs > 0 ? warmupMs : 50;
  for (;;) {
    driver.startWindow();
    await sleep(step);
    const w = await driver.endWindow();
    spent += step;
    done += w.count + w.errors;
    if (done >= wantRequests || spent >= bound) return { requests: done, ms: spent };
    // Enough time for the rest at the rate seen so far, plus 10%, at least 10 ms.
    const perMs = done / spent;
    const need = perMs > 0 ? ((wantRequests - done) / perMs) * 1.1 : step * 2;
    step = Math.min(bound - spent, Math.max(10, need));
  }
}

/** The p99 interval of the used windows, ms: within and across windows (quantileIntervalAcrossWindows). */
function p99IntervalMs(windows: readonly LatencyHistogram[], merged: LatencyHistogram, level: number): [number, number] {
  const [lo, hi] = quantileIntervalAcrossWindows(windows, merged, 0.99, level);
  return [lo / 1000, hi / 1000];
}

function targetInsideCi(used: readonly Measured[], targetP99Ms: number, level: number): boolean {
  const windows = used.map((m) => m.result.histogram);
  const merged = mergeHistograms(windows);
  if (merged.totalCount === 0) return false;
  return intervalVerdict(p99IntervalMs(windows, merged, level), targetP99Ms) === 'inconclusive';
}

function sendingLoad(self: ClientSample | null, workers: ThreadLoad | undefined): ThreadLoad | null {
  if (workers) return workers;
  if (!self) return null;
  return { eventLoopUtilization: self.eventLoopUtilization, eventLoopStallMs: self.eventLoopStallMs };
}

/** Sample standard deviation over the mean; null for fewer than two values or a mean of 0. */
function coefficientOfVariation(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (!(mean > 0)) return null;
  const v = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
  return Math.sqrt(v) / mean;
}

function summarize(w: WindowResult, perRequest: number): WindowSummary {
  const durationS = Number(w.durationNs) / 1e9;
  const p99Us = w.count > 0 ? w.histogram.getValueAtPercentile(99) : Number.NaN;
  return {
    throughputIps: durationS > 0 ? (w.count * perRequest) / durationS : 0,
    p99Ms: p99Us / 1000,
    count: w.count,
    errors: w.errors,
    durationS,
  };
}
