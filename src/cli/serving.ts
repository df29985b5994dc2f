/** Building the launcher for a plan, and measuring one model variant through it (used by run and regress). */
import { join } from 'node:path';
import type { ModelConfig } from '../config/types.js';
import { writeVariant } from '../config/variant.js';
import { printModelConfig } from '../config/pbtxt.js';
import type { InferenceClient } from '../protocol/types.js';
import type { ServingConfig } from '../domain/serving.js';
import type { Launcher } from '../domain/launcher.js';
import type { LoadPoint } from '../domain/measurement.js';
import { createLauncher } from '../runner/launchers/index.js';
import { EmbeddedOrtBuilder, NoBuild, OrtTensorRtBuilder, TrtexecPlanBuilder, defaultBuilderKind, installArtifacts, type EngineBuilder } from '../runner/engines/builder.js';
import { EngineCache } from '../runner/engines/cache.js';
import { LocalToolRunner } from '../runner/engines/tools.js';
import { measureConfiguration, probeConcurrencyFor, type ConfigurationResult, type MeasureConfigurationOptions } from '../measure/measure-config.js';
import type { LoadWorkerPool } from '../load/workers.js';
import type { RunPlan } from './plan.js';

export function createLauncherFor(plan: RunPlan, where: { variantRepo: string; runId: string; runDir: string }, log?: (line: string) => void): Launcher {
  return createLauncher(plan.launch, {
    repository: where.variantRepo,
    sourceRepository: plan.modelRepository,
    extraMounts: [plan.engine.cache],
    runId: where.runId,
    runDir: where.runDir,
    port: plan.port,
    ...(plan.server.tritonPath ? { tritonPath: plan.server.tritonPath } : {}),
    ...(plan.server.tritonImage ? { tritonImage: plan.server.tritonImage } : {}),
    ...(plan.server.gpus ? { gpus: plan.server.gpus } : {}),
    ...(plan.server.dockerSocket ? { dockerSocket: plan.server.dockerSocket } : {}),
    ...(plan.server.url ? { url: plan.server.url } : {}),
    ...(plan.server.metricsUrl ? { metricsUrl: plan.server.metricsUrl } : {}),
    extraArgs: plan.server.args,
    ...(log ? { log } : {}),
  });
}

/** The build step for the plan's launch mode and the model (an optimized ONNX Runtime model on the embedded server, trtexec engines, or nothing). */
export function createBuilderFor(plan: RunPlan, model: ModelConfig, log?: (line: string) => void): EngineBuilder {
  const cache = new EngineCache(plan.engine.cache);
  switch (defaultBuilderKind(plan.launch, model, plan.engine.target)) {
    case 'embedded':
      return new EmbeddedOrtBuilder({ cache, ...(log ? { log } : {}) });
    case 'ort-tensorrt':
      return new OrtTensorRtBuilder();
    case 'trtexec':
      return new TrtexecPlanBuilder({ cache, runner: new LocalToolRunner(), ...(log ? { log } : {}) });
    default:
      return new NoBuild();
  }
}

export interface MeasureVariantArgs {
  launcher: Launcher;
  client: InferenceClient;
  modelDir: string;
  variantRepo: string;
  cfg: ModelConfig;
  variantName: string;
  config: ServingConfig;
  targetP99Ms: number;
  plan: RunPlan;
  onPoint?: (p: LoadPoint, i: number) => void;
  /** The build step, as in a search run (the variant's model file may be a built artifact). */
  builder?: EngineBuilder;
  model?: { name: string; dir: string; config: ModelConfig; versions: string[] };
  /** The server's gRPC address: load then goes as in a search run (loadOptionsFor), else through `client`. */
  address?: string;
  workers?: LoadWorkerPool;
}

/**
 * How a configuration is loaded, the same for a search and for regress: the plan's load
 * mode, arrivals, highest rate and seed; requests through the load generator's own channel
 * to `address` (or from the worker pool's threads); in open loop, a capacity probe sized to
 * the configuration first.
 */
export function loadOptionsFor(
  plan: RunPlan,
  address: string,
  config: ServingConfig,
  pool?: LoadWorkerPool,
): Pick<MeasureConfigurationOptions, 'load' | 'arrivals' | 'maxRate' | 'seed' | 'address' | 'transport' | 'workers' | 'probeConcurrency'> {
  return {
    load: plan.load.mode,
    arrivals: plan.load.arrivals,
    maxRate: plan.load.maxRate,
    seed: plan.seed,
    address,
    transport: plan.load.transport,
    ...(pool ? { workers: pool } : {}),
    probeConcurrency: probeConcurrencyFor(config, plan.maxConcurrency),
  };
}

/** Writes the variant, loads it, runs the load search on it, and unloads it again. */
export async function measureVariant(a: MeasureVariantArgs): Promise<ConfigurationResult> {
  let cfg: ModelConfig = { ...a.cfg, name: a.variantName };
  const build = a.builder && a.model ? await a.builder.prepare({ model: a.model, serving: a.config, variantConfig: cfg }) : null;
  if (build) cfg = build.config;
  await writeVariant(a.variantRepo, a.modelDir, cfg, a.variantName);
  const variant = { modelName: a.variantName, dir: join(a.variantRepo, a.variantName), config: a.config, pbtxt: printModelConfig(cfg) };
  if (build) await installArtifacts(variant.dir, build.files);
  await a.launcher.apply(variant);
  try {
    return await measureConfiguration({
      client: a.client,
      modelName: a.variantName,
      targetP99Ms: a.targetP99Ms,
      settings: a.plan.windows,
      maxConcurrency: a.plan.maxConcurrency,
      ...(a.address ? loadOptionsFor(a.plan, a.address, a.config, a.workers) : {}),
      ...(a.onPoint ? { onPoint: a.onPoint } : {}),
    });
  } finally {
    await a.launcher.release(variant).catch(() => {});
  }
}
