/**
 * Replay and sim as launchers: the "server" is a recorded landscape or a queueing model.
 * Like a server, each one applies a configuration before it is measured (a landscape refuses
 * one it holds no rows for, as a server refuses a load), and it answers the same
 * per-configuration load search a real server gets (measure/load-walk.ts).
 */
import type { MeasureRequest, MeasureResult, MeasuringLauncher, ModelVariant } from '../domain/launcher.js';
import { configKey, type ServingConfig } from '../domain/serving.js';
import type { LoadPoint, TrialResult } from '../domain/measurement.js';
import { ConcurrencyWalk } from '../measure/load-walk.js';
import { configRows, replayMeasure, type ReplayOptions } from './replay.js';
import type { Landscape } from './csv.js';
import { simLoadPoint, type SimParams } from './sim.js';

/** Answers from a recorded landscape (optionally with seeded noise). */
export class ReplayLauncher implements MeasuringLauncher {
  readonly kind = 'replay';
  private applied = new Map<string, ServingConfig>();

  constructor(
    private readonly landscape: Landscape,
    private readonly description: string,
    private readonly options: Pick<ReplayOptions, 'noise' | 'seed'>,
  ) {}

  async start() {
    return { grpcAddress: 'none', serverVersion: this.description };
  }

  /** Refuses a configuration the landscape holds no rows for (MissingConfigError names it). */
  async apply(variant: ModelVariant): Promise<void> {
    configRows(this.landscape, variant.config);
    this.applied.set(variant.modelName, variant.config);
  }

  async release(variant: ModelVariant): Promise<void> {
    this.applied.delete(variant.modelName);
  }

  async stop(): Promise<void> {
    this.applied.clear();
  }

  measure = async (req: MeasureRequest): Promise<MeasureResult> => {
    const config = this.appliedConfig(req);
    const result = replayMeasure(this.landscape, config, { targetP99Ms: req.targetP99Ms, ...this.options, repeat: req.repeat ?? 0 });
    result.points.forEach((p, i) => req.onPoint(p, i));
    return result;
  };

  private appliedConfig(req: MeasureRequest): ServingConfig {
    const config = this.applied.get(req.modelName);
    if (!config || configKey(config) !== configKey(req.config)) throw new Error(`replay: '${req.modelName}' was not applied before it was measured`);
    return config;
  }
}

/** Answers from a queueing model of dynamic batching (deterministic: the sim has no noise of its own). */
export class SimLauncher implements MeasuringLauncher {
  readonly kind = 'sim';

  constructor(private readonly params: SimParams) {}

  async start() {
    return { grpcAddress: 'none', serverVersion: `simulated server '${this.params.name}'` };
  }

  async apply(): Promise<void> {}
  async release(): Promise<void> {}
  async stop(): Promise<void> {}

  measure = async (req: MeasureRequest): Promise<MeasureResult> => simMeasureConfig(this.params, req.config, req.targetP99Ms, req.maxConcurrency, req.onPoint);
}

/** The load search over the simulated server. */
export function simMeasureConfig(params: SimParams, config: ServingConfig, targetP99Ms: number, maxConcurrency: number, onPoint?: (p: LoadPoint, i: number) => void): TrialResult & { stopReason: string } {
  const walk = new ConcurrencyWalk({ targetP99Ms, maxConcurrency });
  for (let step = walk.next(); ; step = walk.next()) {
    if ('done' in step) return { points: [...walk.points], bestIndex: walk.bestIndex(), stopReason: step.reason };
    // A repeat of the best point gets the same answer: the sim has no noise of its own.
    const { point, index } = walk.record(step, simLoadPoint(params, config, step.concurrency));
    onPoint?.(point, index);
  }
}
