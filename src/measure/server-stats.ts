/**
 * Server-side times from Triton's cumulative ModelStatistics counters: a snapshot
 * before and after a measurement, and the mean per-request times over the delta. Pure.
 */
import type { ModelStatistics } from '../protocol/types.js';
import type { ServerTimes } from '../domain/measurement.js';

/** The cumulative counters that matter, summed over the model's versions. */
export interface ServerSnapshot {
  successCount: number;
  failCount: number;
  inferenceCount: number;
  executionCount: number;
  queueNs: number;
  computeInputNs: number;
  computeInferNs: number;
  computeOutputNs: number;
}

// Longs may arrive as numbers or, with other loader options, as strings.
const num = (x: unknown): number => {
  const n = typeof x === 'number' ? x : Number(x ?? 0);
  return Number.isFinite(n) ? n : 0;
};

export function snapshotFromStatistics(stats: ModelStatistics | readonly ModelStatistics[]): ServerSnapshot {
  const list: readonly ModelStatistics[] = Array.isArray(stats) ? stats : [stats as ModelStatistics];
  const s: ServerSnapshot = {
    successCount: 0,
    failCount: 0,
    inferenceCount: 0,
    executionCount: 0,
    queueNs: 0,
    computeInputNs: 0,
    computeInferNs: 0,
    computeOutputNs: 0,
  };
  for (const m of list) {
    const is = m.inference_stats;
    s.successCount += num(is?.success?.count);
    s.failCount += num(is?.fail?.count);
    s.inferenceCount += num(m.inference_count);
    s.executionCount += num(m.execution_count);
    s.queueNs += num(is?.queue?.ns);
    s.computeInputNs += num(is?.compute_input?.ns);
    s.computeInferNs += num(is?.compute_infer?.ns);
    s.computeOutputNs += num(is?.compute_output?.ns);
  }
  return s;
}

/**
 * Mean per-request queue and compute times (µs) between two snapshots, divided by the
 * delta of successful requests. If `after` is below `before` the server restarted and
 * its counters began again from zero, so `after` alone is the delta.
 */
export function diffServerTimes(before: ServerSnapshot, after: ServerSnapshot): ServerTimes {
  const reset = after.successCount < before.successCount || after.executionCount < before.executionCount;
  const base: ServerSnapshot = reset
    ? {
        successCount: 0,
        failCount: 0,
        inferenceCount: 0,
        executionCount: 0,
        queueNs: 0,
        computeInputNs: 0,
        computeInferNs: 0,
        computeOutputNs: 0,
      }
    : before;
  const requests = after.successCount - base.successCount;
  const executions = after.executionCount - base.executionCount;
  const perRequestUs = (ns: number): number => (requests > 0 ? Math.max(0, ns) / requests / 1000 : 0);
  return {
    requests,
    executions,
    queueUs: perRequestUs(after.queueNs - base.queueNs),
    computeInputUs: perRequestUs(after.computeInputNs - base.computeInputNs),
    computeInferUs: perRequestUs(after.computeInferNs - base.computeInferNs),
    computeOutputUs: perRequestUs(after.computeOutputNs - base.computeOutputNs),
  };
}
