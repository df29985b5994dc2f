/** Latency histograms (HDR, µs): what the load drivers record into and the measurement merges. */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

/** Up to an hour in µs; autoResize keeps anything longer from throwing. */
const HIGHEST_TRACKABLE_US = 3_600_000_000;

export type LatencyHistogram = Histogram;

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
