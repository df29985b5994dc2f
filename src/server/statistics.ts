/**
 * Cumulative statistics of one model version, with Triton's semantics
 * (protocol extension "statistics", core InferenceStatsAggregator):
 * - inference_stats counts requests: a request inside a batch adds 1 to each count and
 *   its batch's compute durations to each ns;
 * - inference_count adds the batch size of each successful request, execution_count 1
 *   per executed batch, batch_stats one entry per executed batch size;
 * - failures add to `fail` only; last_inference is the end of the latest request (ms).
 */
import type { InferBatchStatistics, ModelStatistics, StatisticDuration } from '../protocol/types.js';

/** Where a request failed, as Triton's nv_inference_request_failure `reason` label. */
export type FailureReason = 'REJECTED' | 'CANCELED' | 'BACKEND' | 'OTHER';

/** Durations of one batch execution, in ns. */
export interface ComputeTimes {
  computeInputNs: number;
  computeInferNs: number;
  computeOutputNs: number;
}

/** Durations of one successful request, in ns. */
export interface RequestTimes extends ComputeTimes {
  requestNs: number;
  queueNs: number;
}

const zero = (): StatisticDuration => ({ count: 0, ns: 0 });
const add = (d: StatisticDuration, ns: number): void => {
  d.count += 1;
  d.ns += Math.max(0, Math.round(ns));
};

export class ModelStatsRecorder {
  private lastInferenceMs = 0;
  private inferenceCount = 0;
  private executionCount = 0;
  private readonly stats = {
    success: zero(),
    fail: zero(),
    queue: zero(),
    compute_input: zero(),
    compute_infer: zero(),
    compute_output: zero(),
    cache_hit: zero(),
    cache_miss: zero(),
  };
  private readonly batches = new Map<number, InferBatchStatistics>();
  private readonly failures: Record<FailureReason, number> = { REJECTED: 0, CANCELED: 0, BACKEND: 0, OTHER: 0 };

  constructor(
    readonly name: string,
    readonly version: string,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** One executed batch of `batchSize` inferences. */
  recordExecution(batchSize: number, t: ComputeTimes): void {
    this.executionCount += 1;
    let b = this.batches.get(batchSize);
    if (!b) {
      b = { batch_size: batchSize, compute_input: zero(), compute_infer: zero(), compute_output: zero() };
      this.batches.set(batchSize, b);
    }
    add(b.compute_input, t.computeInputNs);
    add(b.compute_infer, t.computeInferNs);
    add(b.compute_output, t.computeOutputNs);
  }

  /** One successful request of `batchSize` inferences. */
  recordSuccess(batchSize: number, t: RequestTimes): void {
    this.inferenceCount += batchSize;
    add(this.stats.success, t.requestNs);
    add(this.stats.queue, t.queueNs);
    add(this.stats.compute_input, t.computeInputNs);
    add(this.stats.compute_infer, t.computeInferNs);
    add(this.stats.compute_output, t.computeOutputNs);
    this.lastInferenceMs = this.nowMs();
  }

  recordFailure(requestNs: number, reason: FailureReason): void {
    add(this.stats.fail, requestNs);
    this.failures[reason] += 1;
    this.lastInferenceMs = this.nowMs();
  }

  failuresByReason(): Readonly<Record<FailureReason, number>> {
    return { ...this.failures };
  }

  /** A copy in the shape of the ModelStatistics message. */
  snapshot(): ModelStatistics {
    const copy = (d: StatisticDuration): StatisticDuration => ({ count: d.count, ns: d.ns });
    const s = this.stats;
    return {
      name: this.name,
      version: this.version,
      last_inference: this.lastInferenceMs,
      inference_count: this.inferenceCount,
      execution_count: this.executionCount,
      inference_stats: {
        success: copy(s.success),
        fail: copy(s.fail),
        queue: copy(s.queue),
        compute_input: copy(s.compute_input),
        compute_infer: copy(s.compute_infer),
        compute_output: copy(s.compute_output),
        cache_hit: copy(s.cache_hit),
        cache_miss: copy(s.cache_miss),
      },
      batch_stats: [...this.batches.values()]
        .sort((a, b) => a.batch_size - b.batch_size)
        .map((b) => ({
          batch_size: b.batch_size,
          compute_input: copy(b.compute_input),
          compute_infer: copy(b.compute_infer),
          compute_output: copy(b.compute_output),
        })),
    };
  }
}
