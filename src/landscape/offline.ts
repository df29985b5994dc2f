/**
 * Offline measurement for replay and sim runs: a launcher that serves nothing (there is no
 * server; each measurement is answered from a table or a model), and the measure functions
 * that walk the same per-configuration load search as a real run.
 */
import type { Launcher } from '../domain/launcher.js';
import type { ServingConfig } from '../domain/serving.js';
import type { LoadPoint, TrialResult } from '../domain/measurement.js';
import { nextLoad } from '../measure/load-search.js';
import { bestPointIndex } from '../domain/target.js';
import { simLoadPoint, type SimParams } from './sim.js';

export class OfflineLauncher implements Launcher {
  constructor(readonly kind: 'replay' | 'sim', private readonly description: string) {}
  async start() {
    return { grpcAddress: 'none', serverVersion: this.description };
  }
  async apply() {}
  async release() {}
  async stop() {}
}

/** The load search over the simulated server (deterministic: the sim has no noise of its own). */
export function simMeasureConfig(params: SimParams, config: ServingConfig, targetP99Ms: number, maxConcurrency: number, onPoint?: (p: LoadPoint, i: number) => void): TrialResult & { stopReason: string } {
  const points: LoadPoint[] = [];
  for (;;) {
    const next = nextLoad(points, { targetP99Ms, maxConcurrency });
    if ('done' in next) return { points, bestIndex: bestPointIndex(points, targetP99Ms), stopReason: next.reason };
    const p = simLoadPoint(params, config, next.concurrency);
    points.push(p);
    onPoint?.(p, points.length - 1);
  }
}
