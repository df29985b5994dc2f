/**
 * Latency statistics: HDR histograms in microseconds, nearest-rank percentiles
 * (perf_analyzer's convention) and perf_analyzer's stability rule. Pure: no clocks, no I/O.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

export type LatencyHistogram = Histogram;

/** Percentiles in the unit of the source (µs for the histograms built here). */
export interface Percentiles {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
}

/** Up to an hour in µs; autoResize keeps anything longer from throwing. */
const HIGHEST_TRACKABLE_US = 3_600_000_000;

/** An empty latency histogram: µs resolution, 3 significant digits, the JS implementation. */
export function newLatencyHistogram(): LatencyHistogram {
  return build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_US,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/** Records one latency given in nanoseconds (rounded to whole µs). */
export function recordLatencyNs(h: LatencyHistogram, ns: bigint | number): void {
  const us = Math.max(0, Math.round(Number(ns) / 1000));
  h.recordValue(us);
}

/** A new histogram holding all of `parts` (the inputs are left untouched). */
export function mergeHistograms(parts: readonly LatencyHistogram[]): LatencyHistogram {
  const out = newLatencyHistogram();
  for (const p of parts) out.add(p);
  return out;
}

/** Compact text form (HdrHistogram's compressed V2 base64), for storing histograms. */
export function encodeHistogram(h: LatencyHistogram): string {
  return encodeIntoCompressedBase64(h);
}

export function decodeHistogram(text: string): LatencyHistogram {
  const h = decodeFromCompressedBase64(text, 32, false);
  h.autoResize = true;
  return h;
}

/** The nearest-rank percentile of ascending values: the ceil(p/100 · n)-th smallest. NaN when empty. */
export function nearestRank(sorted: readonly number[], p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  // The epsilon keeps 0.99 * 100 = 99.00000000000001 from skipping a rank.
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n - 1e-9)));
  return sorted[rank - 1]!;
}

function isHistogram(x: unknown): x is LatencyHistogram {
  return typeof x === 'object' && x !== null && typeof (x as LatencyHistogram).getValueAtPercentile === 'function';
}

/**
 * p50/p90/p95/p99 by nearest rank, from a histogram or from ascending latencies.
 * From a histogram the value is the top of the rank's bucket (exact below 2048 µs,
 * within 0.1% above), so a p99 is never reported lower than measured. NaN when empty.
 */
export function percentiles(source: LatencyHistogram | readonly number[]): Percentiles {
  if (isHistogram(source)) {
    if (source.totalCount === 0) return { p50: Number.NaN, p90: Number.NaN, p95: Number.NaN, p99: Number.NaN };
    return {
      p50: source.getValueAtPercentile(50),
      p90: source.getValueAtPercentile(90),
      p95: source.getValueAtPercentile(95),
      p99: source.getValueAtPercentile(99),
    };
  }
  return {
    p50: nearestRank(source, 50),
    p90: nearestRank(source, 90),
    p95: nearestRank(source, 95),
    p99: nearestRank(source, 99),
  };
}

export interface WindowFigures {
  throughputIps: number;
  p99Ms: number;
}

/**
 * perf_analyzer's rule: the last `count` windows each lie within ±tolerance of their
 * mean, on throughput and on p99. Fewer windows, a non-finite value or a window
 * with no throughput is never stable.
 */
export function isStable(windows: readonly WindowFigures[], tolerance = 0.1, count = 3): boolean {
  if (count < 1 || windows.length < count) return false;
  const last = windows.slice(-count);
  const within = (values: number[]): boolean => {
    if (!values.every(Number.isFinite)) return false;
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    // A relative slack of 1e-12 absorbs rounding when a value sits exactly on the bound.
    return values.every((v) => Math.abs(v - mean) <= tolerance * Math.abs(mean) * (1 + 1e-12));
  };
  if (last.some((w) => !(w.throughputIps > 0))) return false;
  return within(last.map((w) => w.throughputIps)) && within(last.map((w) => w.p99Ms));
}
