import type { LoadPoint } from '../../src/domain/measurement.js';
import type { ServingConfig } from '../../src/domain/serving.js';
import { compare } from '../../src/regress/compare.js';
import { type Measured } from '../../src/domain/comparison.js';

/** A load point: p50, p90, p95 follow from p99. */
export function pt(concurrency: number, throughputIps: number, p99Ms: number, over: Partial<LoadPoint> = {}): LoadPoint {
  return {
    concurrency, throughputIps, p50Ms: p99Ms * 0.6, p90Ms: p99Ms * 0.8, p95Ms: p99Ms * 0.9, p99Ms,
    requests: Math.round(throughputIps * 3), errors: 0, windows: 3, stable: true, stopReason: 'stable', server: null, durationS: 3, ...over,
  };
}

const CONFIG: ServingConfig = { maxBatchSize: 8, maxQueueDelayUs: 500, instanceCount: 2, precision: 'FP32', preferredBatchSizes: [] };
const BASE = [pt(1, 100, 5), pt(2, 190, 8), pt(4, 300, 20), pt(8, 320, 60)];

function side(label: string, tf: number, lf = 1, over: Partial<Measured> = {}): Measured {
  return {
    label, runId: label === 'baseline' ? 'run-<1>' : null, trialIndex: 3, variantName: 'm_config_3', config: CONFIG, state: 'COMPLETE', error: null,
    repeats: [BASE.map((p) => pt(p.concurrency, p.throughputIps * tf, p.p99Ms * lf))], ...over,
  };
}

/** A comparison of each verdict, against a baseline whose best within 50 ms is 300 inf/s at concurrency 4. */
export function comparisonOf(kind: 'pass' | 'regression' | 'sla' | 'infra', model = 'm') {
  const cand =
    kind === 'pass' ? side('candidate', 1) :
    kind === 'regression' ? side('candidate', 0.8, 1.3) :
    kind === 'sla' ? side('candidate', 1, 20) :
    side('candidate', 1, 1, { state: 'FAILED', repeats: [], error: 'server exited: <segfault> & "core"' });
  return { comparison: compare({ model, targetP99Ms: 50, baseline: side('baseline', 1), candidate: cand }), sides: [side('baseline', 1), cand] };
}
