/**
 * What a run and regress share to serve and measure a model: the model (or the offline
 * landscape or simulation), the launcher and build step for the plan, and, once the server
 * is up, the measurement of one configuration. Both then execute trials with runTrial.
 */
import { join } from 'node:path';
import type { ModelConfig } from '../config/types.js';
import { writeVariant } from '../config/variant.js';
import { printModelConfig } from '../config/pbtxt.js';
import type { InferenceClient } from '../protocol/types.js';
import type { ServingConfig } from '../domain/serving.js';
import type { Launcher, MeasuringLauncher } from '../domain/launcher.js';
import type { LoadPoint } from '../domain/measurement.js';
import { createLauncher } from '../runner/launchers/index.js';
import { EmbeddedOrtBuilder, NoBuild, OrtTensorRtBuilder, TrtexecPlanBuilder, defaultBuilderKind, installArtifacts, type EngineBuilder } from '../runner/engines/builder.js';
import { EngineCache } from '../runner/engines/cache.js';
import { LocalToolRunner } from '../runner/engines/tools.js';
import { measureConfiguration, probeConcurrencyFor, type MeasureConfigurationOptions } from '../measure/measure-config.js';
import { LoadWorkerPool } from '../load/workers.js';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { createHash } from 'node:crypto';
import { UsageError } from '../domain/errors.js';
import { ModelLoadError } from '../server/model-repository.js';
import type { SearchSpace } from '../domain/serving.js';
import { modelNamesIn, readModelRepository } from '../config/variant.js';
import { hashModelDir } from '../runner/fingerprint.js';
import type { RepoModel, TrialContext } from '../runner/trial-loop.js';
import { LandscapeError, landscapeSpace, parseLandscape } from '../landscape/csv.js';
import { ReplayLauncher, SimLauncher } from '../landscape/offline.js';
import { MetricsScraper } from '../measure/metrics.js';
import { metricsUrlOf } from '../runner/launchers/index.js';
import { EmbeddedLauncher } from '../runner/launchers/embedded.js';
import { createInferenceClient } from '../protocol/client.js';
import { gpuSettingsFromEnv, type RunPlan } from './plan.js';
import type { GpuWorkerOptions } from '../server/gpu-executor.js';

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
    gpuWorkers: gpuWorkerOptions(plan, log),
    gpuMonitor: { nvidiaSmi: plan.gpu.nvidiaSmi },
    ...(log ? { log } : {}),
  });
}

/** The TANALYZE_GPU_* settings of the environment as the embedded server takes them. */
export function gpuWorkerOptionsFromEnv(env: Record<string, string | undefined>, log?: (line: string) => void): GpuWorkerOptions {
  return gpuWorkerOptions({ gpu: gpuSettingsFromEnv(env) }, log);
}

/** The plan's GPU worker settings as the embedded server takes them. */
export function gpuWorkerOptions(plan: Pick<RunPlan, 'gpu'>, log?: (line: string) => void): GpuWorkerOptions {
  return {
    python: plan.gpu.python,
    ...(plan.gpu.script ? { script: plan.gpu.script } : {}),
    ...(plan.gpu.cacheDir ? { cacheDir: plan.gpu.cacheDir } : {}),
    runTimeoutMs: plan.gpu.runTimeoutMs,
    cudaGraphs: plan.gpu.cudaGraphs,
    device: plan.gpu.device,
    ...(plan.gpu.log && log ? { log } : {}),
  };
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
): Pick<MeasureConfigurationOptions, 'load' | 'arrivals' | 'maxRate' | 'seed' | 'address' | 'transport' | 'sharedMemory' | 'workers' | 'probeConcurrency'> {
  return {
    load: plan.load.mode,
    arrivals: plan.load.arrivals,
    maxRate: plan.load.maxRate,
    seed: plan.seed,
    address,
    transport: plan.load.transport,
    sharedMemory: plan.load.sharedMemory,
    ...(pool ? { workers: pool } : {}),
    probeConcurrency: probeConcurrencyFor(config, plan.maxConcurrency),
  };
}

export async function findModel(plan: RunPlan): Promise<RepoModel> {
  const repoKind = await stat(plan.modelRepository).then((st) => (st.isDirectory() ? 'folder' : 'other'), () => 'missing');
  const accepted = 'give a Triton model repository (a folder of <model>/config.pbtxt and <model>/<version>/ folders)';
  if (repoKind === 'missing') throw new UsageError([`--model-repository: '${plan.modelRepository}' does not exist; ${accepted}`]);
  if (repoKind !== 'folder') throw new UsageError([`--model-repository: '${plan.modelRepository}' is a file, not a folder; ${accepted}`]);
  // Only the tuned model's config.pbtxt is parsed: another model's typo must not stop this run.
  const model = (await readModelRepository(plan.modelRepository, { only: plan.model }))[0];
  if (!model) {
    const names = await modelNamesIn(plan.modelRepository);
    throw new UsageError([
      `--model: '${plan.model}' is not in ${plan.modelRepository}; ${names.length ? `models there: ${names.join(', ')}` : 'it holds no models (no <model>/config.pbtxt)'}`,
    ]);
  }
  // Triton refuses such a model whatever the search would change, so nothing is measured (exit 3).
  const maxBatchSize = Number(model.config.max_batch_size ?? 0);
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 0) {
    throw new ModelLoadError(model.name, `${join(model.dir, 'config.pbtxt')}: max_batch_size must be >= 0, got ${String(model.config.max_batch_size)}; Triton cannot load the model as configured`);
  }
  if (model.versions.length === 0) throw new UsageError([`model '${model.name}': ${model.dir} has no version folder (e.g. 1/model.onnx)`]);
  return model;
}

/** Where the server's Prometheus metrics come from: Triton's endpoint, or the embedded server's text. */
function metricsSourceOf(launcher: Launcher): MetricsScraper | null {
  const url = metricsUrlOf(launcher);
  if (url) return new MetricsScraper(url);
  if (launcher instanceof EmbeddedLauncher) return new MetricsScraper(() => launcher.metricsText());
  return null;
}

/**
 * Scrapes the server's metrics over each load point: GPU memory (the third objective) and
 * utilization go into the point before it is stored. A failed scrape leaves them out.
 */
async function measureWithMetrics<T>(
  scraper: MetricsScraper | null,
  req: { modelName: string; onPoint: (p: LoadPoint, i: number) => void },
  run: (onPoint: (p: LoadPoint, i: number) => Promise<void>) => Promise<T>,
): Promise<T> {
  let window = scraper?.startWindow(req.modelName);
  return run(async (p, i) => {
    const delta = await window?.stop().catch(() => null);
    if (delta?.gpuMemoryUsedMb != null) p.gpuMemoryMb = delta.gpuMemoryUsedMb;
    if (delta?.gpuUtilization != null) p.gpuUtilization = delta.gpuUtilization;
    req.onPoint(p, i);
    window = scraper?.startWindow(req.modelName);
  });
}

export interface Offline {
  model: RepoModel;
  space: SearchSpace;
  hash: string;
  launcher: MeasuringLauncher;
}

/** replay and sim: no model files and no server; measurements come from a table or a model. */
export async function openOffline(plan: RunPlan): Promise<Offline> {
  const model: RepoModel = { name: plan.model, dir: '', config: { name: plan.model, platform: 'onnxruntime_onnx', max_batch_size: 1 }, versions: ['1'] };
  if (plan.launch === 'replay') {
    const file = plan.landscape!;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new UsageError([`--landscape: cannot read '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
    }
    let landscape;
    try {
      landscape = parseLandscape(text, file);
    } catch (e) {
      if (e instanceof LandscapeError) throw new UsageError([e.message]);
      throw e;
    }
    return {
      model,
      // The space is what the file holds; flags and profile values for the space do not apply.
      space: landscapeSpace(landscape),
      hash: createHash('sha256').update(text).digest('hex'),
      launcher: new ReplayLauncher(landscape, `replay of ${basename(file)}${plan.replayNoise ? ` with ${plan.replayNoise * 100}% noise` : ''}`, { noise: plan.replayNoise, seed: plan.seed }),
    };
  }
  const params = plan.sim!;
  return {
    model,
    space: plan.space,
    hash: createHash('sha256').update(JSON.stringify(params)).digest('hex'),
    launcher: new SimLauncher(params),
  };
}


/** The model a plan serves: from the model repository, or (replay, sim) a stand-in with the offline launcher and measurement. */
export interface OpenedModel {
  model: RepoModel;
  space: SearchSpace;
  /** What the measurements depend on: the model files, the landscape, the simulation. */
  hash: () => Promise<string>;
  offline: Offline | null;
}

export async function openModel(plan: RunPlan): Promise<OpenedModel> {
  if (plan.launch === 'replay' || plan.launch === 'sim') {
    const offline = await openOffline(plan);
    return { model: offline.model, space: offline.space, hash: async () => offline.hash, offline };
  }
  const model = await findModel(plan);
  return { model, space: plan.space, hash: () => hashModelDir(model.dir), offline: null };
}

/** A started server with its client, load workers and metrics: measure configurations on it, then close it. */
export interface Serving {
  launcher: Launcher;
  builder: EngineBuilder | undefined;
  serverVersion: string;
  grpcAddress: string;
  measure: TrialContext['measure'];
  close(): Promise<void>;
}

/**
 * Starts the server for the plan (or the offline stand-in) and returns the measurement every
 * trial uses: the plan's load mode, arrivals, rate and load workers, and the server's metrics
 * (GPU memory and utilization) scraped over each load point.
 */
export async function startServing(
  plan: RunPlan,
  opened: OpenedModel,
  where: { variantRepo: string; runId: string; runDir: string },
  log: (line: string) => void,
): Promise<Serving> {
  const offline = opened.offline;
  const launcher = offline ? offline.launcher : createLauncherFor(plan, where, log);
  const builder = offline ? undefined : createBuilderFor(plan, opened.model.config, log);
  let client: ReturnType<typeof createInferenceClient> | undefined;
  let pool: LoadWorkerPool | undefined;
  const close = async () => {
    await pool?.close();
    client?.close();
    await launcher.stop().catch(() => {});
  };
  try {
    const server = await launcher.start();
    // Replay and sim measure themselves; a server is measured by the load generator.
    if (offline) return { launcher, builder, serverVersion: server.serverVersion, grpcAddress: server.grpcAddress, measure: offline.launcher.measure, close };
    const inferClient = createInferenceClient(server.grpcAddress);
    client = inferClient;
    if (plan.load.workers > 0) pool = await LoadWorkerPool.start({ address: server.grpcAddress, workers: plan.load.workers, transport: plan.load.transport });
    const workers = pool;
    const scraper = metricsSourceOf(launcher);
    const measure: TrialContext['measure'] = (req) =>
      measureWithMetrics(scraper, req, async (onPoint) => {
        const result = await measureConfiguration({ client: inferClient, ...req, onPoint, ...loadOptionsFor(plan, server.grpcAddress, req.config, workers) });
        const probe = result.capacityProbe;
        if (probe) log(`  capacity probe: ${probe.requestsPerS.toFixed(0)} requests/s at concurrency ${probe.concurrency}; rate search started at ${probe.startRate} requests/s`);
        return result;
      });
    return { launcher, builder, serverVersion: server.serverVersion, grpcAddress: server.grpcAddress, measure, close };
  } catch (e) {
    await close();
    throw e;
  }
}
