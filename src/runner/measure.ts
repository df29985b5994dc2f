/**
 * One load point, perf_analyzer's way: warm up, then measure windows until the last
 * `minWindows` agree (or `maxWindows` are spent, or too many requests fail); the
 * figures come from the merged histograms of those last windows. Sleep is injected;
 * this module never touches a timer itself.
 */
import type { LoadDriver, WindowResult } from './closed-loop.js';
import { isStable, mergeHistograms, percentiles, type WindowFigures } from './stats.js';
import type { LoadPoint, ServerTimes, WindowSettings } from './types.js';

export type StopReason = 'stable' | 'max-windows' | 'errors' | 'no-completions';

export interface MeasureLoadPointOptions<S> {
  driver: LoadDriver;
  concurrency: number;
  settings: WindowSettings;
  /** Cumulative server counters; taken at each window start and after the last window. */
  snapshotServer?: () => Promise<S>;
  diffServer?: (before: S, after: S) => ServerTimes;
  sleep: (ms: number) => Promise<void>;
  /** Stop early when a window's failed share exceeds this (default 0.05). */
  maxErrorRate?: number;
  /** Inferences carried by one request (its batch size), for inferences/s. Default 1. */
  inferencesPerRequest?: number;
  /** Progress hook, called after each window. */
  onWindow?: (index: number, window: WindowSummary) => void;
}

export interface WindowSummary extends WindowFigures {
  count: number;
  errors: number;
  durationS: number;
}

export async function measureLoadPoint<S>(opts: MeasureLoadPointOptions<S>): Promise<LoadPoint> {
  const { driver, concurrency, settings, sleep } = opts;
  const maxErrorRate = opts.maxErrorRate ?? 0.05;
  const perRequest = opts.inferencesPerRequest ?? 1;
  const minWindows = Math.max(1, settings.minWindows);
  const maxWindows = Math.max(minWindows, settings.maxWindows);
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

  const results: WindowResult[] = [];
  const summaries: WindowSummary[] = [];
  // snaps[i]: at the start of window i; snaps[n]: after the last window.
  const snaps: (S | null)[] = [];
  let stopReason: StopReason = 'max-windows';
  let firstError: string | undefined;

  driver.start(concurrency);
  try {
    if (settings.warmupMs > 0) await sleep(settings.warmupMs);
    driver.startWindow();
    snaps.push(await snapshot());
    for (;;) {
      await sleep(settings.windowMs);
      const w = driver.endWindow();
      results.push(w);
      const s = summarize(w, perRequest);
      summaries.push(s);
      opts.onWindow?.(summaries.length - 1, s);
      if (firstError === undefined && w.firstError !== null) firstError = w.firstError;

      let done = false;
      if (w.errors > 0 && w.errors / (w.errors + w.count) > maxErrorRate) {
        stopReason = 'errors';
        done = true;
      } else if (isStable(summaries, settings.stabilityTolerance, minWindows)) {
        stopReason = 'stable';
        done = true;
      } else if (summaries.length >= maxWindows) {
        stopReason = 'max-windows';
        done = true;
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

  const first = Math.max(0, results.length - minWindows);
  const used = results.slice(first);
  const count = used.reduce((a, w) => a + w.count, 0);
  const errors = used.reduce((a, w) => a + w.errors, 0);
  const durationNs = used.reduce((a, w) => a + w.durationNs, 0n);
  const durationS = Number(durationNs) / 1e9;
  const merged = mergeHistograms(used.map((w) => w.histogram));

  const p = percentiles(merged);
  let pMs = { p50: p.p50 / 1000, p90: p.p90 / 1000, p95: p.p95 / 1000, p99: p.p99 / 1000 };
  if (count === 0) {
    // Nothing completed in the used windows, so every request in flight through them has
    // lasted at least their span: report that lower bound, which is finite and fails any
    // target shorter than it, instead of an empty histogram's nothing.
    const spanMs = durationS * 1000;
    pMs = { p50: spanMs, p90: spanMs, p95: spanMs, p99: spanMs };
    if (stopReason !== 'errors') stopReason = 'no-completions';
  }

  const before = snaps[first] ?? null;
  const after = snaps[snaps.length - 1] ?? null;
  const server = wantServer && before !== null && after !== null ? opts.diffServer!(before, after) : null;

  const point: LoadPoint = {
    concurrency,
    throughputIps: durationS > 0 ? (count * perRequest) / durationS : 0,
    p50Ms: pMs.p50,
    p90Ms: pMs.p90,
    p95Ms: pMs.p95,
    p99Ms: pMs.p99,
    requests: count,
    errors,
    windows: results.length,
    stable: stopReason === 'stable',
    stopReason,
    server,
    durationS,
  };
  if (firstError !== undefined) point.firstError = firstError;
  return point;
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
