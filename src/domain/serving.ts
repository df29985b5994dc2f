/** The serving configuration of one trial: the knobs tanalyze searches over, and the space of them. */
/** The serving configuration of one trial: the knobs tanalyze searches over. */
export type Precision = 'FP32' | 'FP16' | 'BF16' | 'INT8';

/** In the order searches and tables list them: full precision first, then fewer bits. */
export const PRECISIONS: readonly Precision[] = ['FP32', 'FP16', 'BF16', 'INT8'];

export interface ServingConfig {
  /** Triton `max_batch_size`; 0 would mean "no batching" and is not searched. */
  maxBatchSize: number;
  /** `dynamic_batching.max_queue_delay_microseconds`; null = no dynamic batcher (Triton's default scheduler). */
  maxQueueDelayUs: number | null;
  /** `instance_group[0].count`. */
  instanceCount: number;
  precision: Precision;
  /** `dynamic_batching.preferred_batch_size`; empty = let the batcher fill up to max_batch_size. */
  preferredBatchSizes: number[];
}

/** Values for each dimension; a configuration is one value from each. */
export interface SearchSpace {
  maxBatchSizes: number[];
  maxQueueDelaysUs: number[];
  instanceCounts: number[];
  precisions: Precision[];
  /**
   * Optional: `dynamic_batching.preferred_batch_size` sets to try ([] = none); absent = [[]].
   * Sets above a max batch size are invalid combinations, skipped (see search/space.ts).
   */
  preferredBatchSizes?: number[][];
}

export function configKey(c: ServingConfig): string {
  const pbs = c.preferredBatchSizes.length ? c.preferredBatchSizes.join('+') : '-';
  return `mbs=${c.maxBatchSize};delay=${c.maxQueueDelayUs ?? 'off'};inst=${c.instanceCount};prec=${c.precision};pbs=${pbs}`;
}
