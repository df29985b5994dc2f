/**
 * Writes the simulated landscapes under bench/landscapes/ (deterministic: the same files
 * every time). Run from the repository root:
 *
 *   npm run build && node dist/scripts/make-landscapes.js [out-dir]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatLandscape } from '../src/landscape/csv.js';
import { DEFAULT_SIM_PARAMS, simLandscape, type SimParams } from '../src/landscape/sim.js';
import { spaceSize } from '../src/search/space.js';
import type { SearchSpace } from '../src/domain/serving.js';

export interface LandscapeSpec {
  file: string;
  what: string;
  params: SimParams;
  space: SearchSpace;
  concurrencies: number[];
}

/** A ladder of about 1.25× steps: the load search's bisection has values to land on. */
const CONCURRENCIES = [1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512];

/** A small CNN on a fast GPU: batch overhead dominates, instances overlap well. */
const SMALL: SimParams = {
  ...DEFAULT_SIM_PARAMS,
  name: 'small',
  batchOverheadMs: 2.5,
  perItemMs: 0.08,
  perItemSquaredMs: 0.0002,
  instanceContention: 0.12,
  instanceContention2: 0,
  precisions: {
    ...DEFAULT_SIM_PARAMS.precisions,
    FP32: { speedupAt1: 1, speedupMax: 1, speedupBatch: 16, capacityIps: 6000, weightsMb: 100, activationMbPerItem: 4 },
    FP16: { speedupAt1: 1.1, speedupMax: 1.8, speedupBatch: 16, capacityIps: 11000, weightsMb: 50, activationMbPerItem: 2 },
    BF16: { speedupAt1: 1.1, speedupMax: 1.8, speedupBatch: 16, capacityIps: 11000, weightsMb: 50, activationMbPerItem: 2 },
  },
};

/**
 * A large transformer-like model: slow per item, low ceilings, instances that get in each
 * other's way; INT8 is slow at small batches and best at large ones.
 */
const WIDE: SimParams = {
  ...DEFAULT_SIM_PARAMS,
  name: 'wide',
  batchOverheadMs: 3,
  perItemMs: 1.1,
  perItemSquaredMs: 0.004,
  maxBatchOverheadPerDoubling: 0.03,
  instanceContention: 0.6,
  instanceContention2: 0.05,
  fillDelayUs: 800,
  precisions: {
    FP32: { speedupAt1: 1, speedupMax: 1, speedupBatch: 8, capacityIps: 750, weightsMb: 1400, activationMbPerItem: 40 },
    FP16: { speedupAt1: 1.3, speedupMax: 2.4, speedupBatch: 8, capacityIps: 1500, weightsMb: 700, activationMbPerItem: 20 },
    BF16: { speedupAt1: 1.3, speedupMax: 2.4, speedupBatch: 8, capacityIps: 1500, weightsMb: 700, activationMbPerItem: 20 },
    INT8: { speedupAt1: 1, speedupMax: 3.8, speedupBatch: 24, capacityIps: 2600, weightsMb: 360, activationMbPerItem: 12 },
  },
};

/**
 * Strong interior optimum: steep large-batch penalty, costly large engines, and instances
 * that fight over the GPU past two or three.
 */
const PEAKED: SimParams = {
  ...DEFAULT_SIM_PARAMS,
  name: 'peaked',
  batchOverheadMs: 1.5,
  perItemMs: 0.25,
  perItemSquaredMs: 0.006,
  maxBatchOverheadPerDoubling: 0.05,
  instanceContention: 0.12,
  instanceContention2: 0.05,
  batchFill: 0.4,
  fillDelayUs: 400,
  serviceCv2: 0.08,
  precisions: {
    FP32: { speedupAt1: 1, speedupMax: 1, speedupBatch: 16, capacityIps: 3000, weightsMb: 300, activationMbPerItem: 9 },
    FP16: { speedupAt1: 1.2, speedupMax: 2.1, speedupBatch: 12, capacityIps: 6000, weightsMb: 150, activationMbPerItem: 4.5 },
    BF16: { speedupAt1: 1.2, speedupMax: 2.1, speedupBatch: 12, capacityIps: 6000, weightsMb: 150, activationMbPerItem: 4.5 },
    INT8: { speedupAt1: 0.9, speedupMax: 2.9, speedupBatch: 40, capacityIps: 7000, weightsMb: 80, activationMbPerItem: 2.5 },
  },
};

export const LANDSCAPES: LandscapeSpec[] = [
  {
    file: 'sim-gpu-small.csv',
    what: 'small CNN, FP32/FP16, 120 configurations',
    params: SMALL,
    space: { maxBatchSizes: [4, 8, 16, 32, 64], maxQueueDelaysUs: [0, 500, 2000, 20000], instanceCounts: [1, 2, 3], precisions: ['FP32', 'FP16'] },
    concurrencies: CONCURRENCIES.filter((c) => c <= 256),
  },
  {
    file: 'sim-gpu-wide.csv',
    what: 'large transformer-like model, three precisions, 420 configurations',
    params: WIDE,
    space: { maxBatchSizes: [2, 4, 8, 16, 32, 64, 128], maxQueueDelaysUs: [0, 100, 1000, 5000, 50000], instanceCounts: [1, 2, 3, 4], precisions: ['FP32', 'FP16', 'INT8'] },
    concurrencies: CONCURRENCIES,
  },
  {
    file: 'sim-peaked.csv',
    what: 'interior optimum in batch size and instances, 756 configurations',
    params: PEAKED,
    space: {
      maxBatchSizes: [2, 4, 8, 16, 32, 64, 128, 256, 512],
      maxQueueDelaysUs: [0, 100, 300, 1000, 3000, 10000, 30000],
      instanceCounts: [1, 2, 3, 4],
      precisions: ['FP32', 'FP16', 'INT8'],
    },
    concurrencies: CONCURRENCIES,
  },
];

function main(): void {
  const outDir = process.argv[2] ?? join('bench', 'landscapes');
  mkdirSync(outDir, { recursive: true });
  for (const spec of LANDSCAPES) {
    const rows = simLandscape(spec.params, spec.space, spec.concurrencies);
    writeFileSync(join(outDir, spec.file), formatLandscape(rows));
    console.log(`${join(outDir, spec.file)}: ${spaceSize(spec.space)} configurations, ${rows.length} rows (${spec.what})`);
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main();
