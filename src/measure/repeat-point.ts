/**
 * A load level measured again: the two measurements pooled into one load point, so that the
 * point the load search ends on rests on two separate spells of the machine rather than on
 * one (issue 15: the best of several noisy points is, more often than not, a lucky one).
 * Pure.
 *
 * Pooling: counts, durations and windows add up; throughput is all completed inferences over
 * all the time measured; the percentiles come from the merged latency histograms of both
 * measurements' used windows, and the p99 interval from those windows too (within and across
 * windows, stats.ts). Without histograms (replayed and simulated points) each percentile is
 * the request-weighted mean of the two. A measurement that failed fails the pooled point; an
 * unreliable or client-limited one marks it so.
 */
import { decodeHistogram, encodeHistogram, mergeHistograms, type LatencyHistogram } from '../load/histogram.js';
import { intervalVerdict } from '../domain/target.js';
import { measurementsOf, type LoadPoint, type ServerTimes } from '../domain/measurement.js';
import { percentiles, quantileIntervalAcrossWindows } from './stats.js';

/** The histograms of a point's used windows (the last usedWindows of windowHistogramsB64), or null when it kept none. */
function usedWindowHistograms(p: LoadPoint): LatencyHistogram[] | null {
  const all = p.windowHistogramsB64;
  if (!all || all.length === 0) return null;
  const used = Math.min(all.length, p.usedWindows ?? all.length);
  return all.slice(all.length - used).map(decodeHistogram);
}

const FAILED = new Set(['errors', 'no-completions']);

/** `a` and `b` (the same load level, b measured after a) pooled into one point; `targetP99Ms` gives the pooled verdict. */
export function poolRepeat(a: LoadPoint, b: LoadPoint, targetP99Ms?: number): LoadPoint {
  const requests = a.requests + b.requests;
  const durationS = a.durationS + b.durationS;
  // Weights: completed requests where any completed, else equal.
  const wa = requests > 0 ? a.requests / requests : 0.5;
  const wb = 1 - wa;
  const mean = (x: number, y: number) => wa * x + wb * y;
  const timed = durationS > 0 && a.durationS > 0 && b.durationS > 0;

  const out: LoadPoint = {
    ...a,
    throughputIps: timed ? (a.throughputIps * a.durationS + b.throughputIps * b.durationS) / durationS : (a.throughputIps + b.throughputIps) / 2,
    p50Ms: mean(a.p50Ms, b.p50Ms),
    p90Ms: mean(a.p90Ms, b.p90Ms),
    p95Ms: mean(a.p95Ms, b.p95Ms),
    p99Ms: mean(a.p99Ms, b.p99Ms),
    requests,
    errors: a.errors + b.errors,
    windows: a.windows + b.windows,
    stable: a.stable && b.stable,
    stopReason: FAILED.has(a.stopReason) ? a.stopReason : b.stopReason,
    server: poolServer(a.server, b.server),
    durationS,
    measurements: measurementsOf(a) + measurementsOf(b),
  };
  if (timed && a.achievedRate !== undefined && b.achievedRate !== undefined) {
    out.achievedRate = (a.achievedRate * a.durationS + b.achievedRate * b.durationS) / durationS;
  }

  const wins = [usedWindowHistograms(a), usedWindowHistograms(b)];
  if (wins[0] && wins[1]) {
    const windows = [...wins[0], ...wins[1]];
    const merged = mergeHistograms(windows);
    if (merged.totalCount > 0) {
      const p = percentiles(merged);
      out.p50Ms = p.p50 / 1000;
      out.p90Ms = p.p90 / 1000;
      out.p95Ms = p.p95 / 1000;
      out.p99Ms = p.p99 / 1000;
      const ciLevel = a.ciLevel ?? b.ciLevel ?? 0.95;
      const [lo, hi] = quantileIntervalAcrossWindows(windows, merged, 0.99, ciLevel);
      out.p99CiMs = [lo / 1000, hi / 1000];
      out.ciLevel = ciLevel;
      if (targetP99Ms !== undefined) out.targetVerdict = intervalVerdict(out.p99CiMs, targetP99Ms);
    }
    out.histogramB64 = encodeHistogram(merged);
    out.windowHistogramsB64 = windows.map(encodeHistogram);
    out.usedWindows = windows.length;
  } else {
    delete out.histogramB64;
    delete out.windowHistogramsB64;
    delete out.usedWindows;
    delete out.p99CiMs;
    delete out.targetVerdict;
  }

  // Between the two measurements as well as within each: the search judges growth against it.
  const cvs = [a.throughputCv, b.throughputCv].filter((x): x is number => x !== undefined);
  const between = out.throughputIps > 0 ? Math.abs(a.throughputIps - b.throughputIps) / Math.SQRT2 / out.throughputIps : 0;
  if (cvs.length || between > 0) out.throughputCv = Math.max(between, ...cvs);

  const extra = (a.extraWindows ?? 0) + (b.extraWindows ?? 0);
  if (extra > 0) out.extraWindows = extra;
  else delete out.extraWindows;
  if (a.unreliable || b.unreliable) {
    out.unreliable = true;
    out.unreliableReason = a.unreliableReason ?? b.unreliableReason ?? 'the client fell behind its schedule';
  }
  if (a.clientLimited !== undefined || b.clientLimited !== undefined) {
    out.clientLimited = a.clientLimited === true || b.clientLimited === true;
    const why = a.clientLimitReason ?? b.clientLimitReason;
    if (why !== undefined) out.clientLimitReason = why;
  }
  const firstError = a.firstError ?? b.firstError;
  if (firstError !== undefined) out.firstError = firstError;
  if (a.gpuMemoryMb != null || b.gpuMemoryMb != null) out.gpuMemoryMb = Math.max(a.gpuMemoryMb ?? 0, b.gpuMemoryMb ?? 0);
  if (a.gpuUtilization !== undefined && b.gpuUtilization !== undefined) out.gpuUtilization = mean(a.gpuUtilization, b.gpuUtilization);
  if (a.clientCpuCores !== undefined && b.clientCpuCores !== undefined) out.clientCpuCores = mean(a.clientCpuCores, b.clientCpuCores);
  if (a.clientEventLoopUtilization !== undefined && b.clientEventLoopUtilization !== undefined) {
    out.clientEventLoopUtilization = mean(a.clientEventLoopUtilization, b.clientEventLoopUtilization);
  }
  if (a.clientEventLoopStallMs !== undefined || b.clientEventLoopStallMs !== undefined) {
    out.clientEventLoopStallMs = Math.max(a.clientEventLoopStallMs ?? 0, b.clientEventLoopStallMs ?? 0);
  }
  if (a.warmupMs !== undefined || b.warmupMs !== undefined) out.warmupMs = (a.warmupMs ?? 0) + (b.warmupMs ?? 0);
  if (a.warmupRequests !== undefined || b.warmupRequests !== undefined) out.warmupRequests = (a.warmupRequests ?? 0) + (b.warmupRequests ?? 0);
  return out;
}

function poolServer(a: ServerTimes | null, b: ServerTimes | null): ServerTimes | null {
  if (!a || !b) return a ?? b;
  const n = a.requests + b.requests;
  if (n <= 0) return { ...b, executions: a.executions + b.executions };
  const per = (x: number, y: number) => (x * a.requests + y * b.requests) / n;
  return {
    requests: n,
    executions: a.executions + b.executions,
    queueUs: per(a.queueUs, b.queueUs),
    computeInputUs: per(a.computeInputUs, b.computeInputUs),
    computeInferUs: per(a.computeInferUs, b.computeInferUs),
    computeOutputUs: per(a.computeOutputUs, b.computeOutputUs),
  };
}
