/**
 * The search loop: ask the strategy for a configuration, write its model variant,
 * load it, measure it at rising load, and commit the finished trial before the next
 * one starts. Every dependency with I/O comes in through SearchContext.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../config/types.js';
import { applyServingConfig, servingConfigOf, writeVariant } from '../config/variant.js';
import { printModelConfig } from '../config/pbtxt.js';
import type { Strategy, ServingConfig, TrialRecord, SearchSpace } from '../search/types.js';
import { configKey } from '../search/types.js';
import type { Store } from '../store/store.js';
import type { Launcher, LoadPoint, ModelVariant, TrialResult, WindowSettings } from './types.js';
import { installArtifacts, limitMaxBatchSizes, type BuildResult, type EngineBuilder } from './engines/builder.js';
import { PrecisionUnavailableError } from './engines/onnxruntime.js';
import { kneeConfirmationCost } from './load-search.js';

export interface RepoModel {
  name: string;
  dir: string;
  config: ModelConfig;
  versions: string[];
}

export interface MeasureRequest {
  modelName: string;
  config: ServingConfig;
  targetP99Ms: number;
  settings: WindowSettings;
  maxConcurrency: number;
  onPoint: (point: LoadPoint, index: number) => void;
  /** How many earlier trials of the run measured this configuration (0: the first; replay draws fresh noise for a repeat). */
  repeat?: number;
}

export interface SearchContext {
  runId: string;
  model: RepoModel;
  /** Where the variants are written: the repository the server serves. */
  variantRepo: string;
  space: SearchSpace;
  budget: number;
  seed: number;
  targetP99Ms: number;
  windows: WindowSettings;
  maxConcurrency: number;
  store: Store;
  strategy: Strategy;
  launcher: Launcher;
  measure: (req: MeasureRequest) => Promise<TrialResult & { stopReason?: string; firstError?: string }>;
  log: (line: string) => void;
  /** Checked between trials: a stop request (Ctrl-C) ends the loop after the current trial. */
  shouldStop?: () => boolean;
  /** Stop after this many trials in a row failed the same way (default 5). */
  maxRepeatedFailures?: number;
  /** The build step (engines, optimized models), cached; none when absent. */
  builder?: EngineBuilder;
  /**
   * Replay and sim runs have no model files and no server: no variants are written and no
   * default configuration is measured (a landscape need not hold it).
   */
  offline?: boolean;
  /** Wall-clock budget: no new configuration is started after this time (ms since epoch). */
  deadline?: number;
  now?: () => number;
}

export interface SearchOutcome {
  trials: number;
  stopReason: string;
}

/** File name of the model for a precision, in the version folder; FP32 is the model as given. */
export function modelFileForPrecision(model: RepoModel, precision: ServingConfig['precision']): string | null | undefined {
  if (precision === 'FP32') return undefined;
  const base = (model.config.default_model_filename as string | undefined) ?? 'model.onnx';
  const file = base.replace(/\.(onnx|pt)$/, (_m, ext: string) => `.${precision.toLowerCase()}.${ext}`);
  const version = model.versions[model.versions.length - 1];
  return version !== undefined && existsSync(join(model.dir, version, file)) ? file : null;
}

export async function runSearch(ctxIn: SearchContext): Promise<SearchOutcome> {
  // A prebuilt engine caps max_batch_size: never propose more than its profile admits.
  let ctx = ctxIn;
  const limit = ctx.builder?.maxBatchLimit(ctx.model) ?? null;
  if (limit !== null) {
    const { allowed, dropped } = limitMaxBatchSizes(ctx.space.maxBatchSizes, limit);
    if (dropped.length) ctx.log(`max_batch_size ${dropped.join(', ')} left out: the prebuilt engine's profile stops at ${limit}`);
    ctx = { ...ctx, space: { ...ctx.space, maxBatchSizes: allowed } };
  }
  // Trials a killed process left half-done are measured again first, at their own index,
  // so the history the strategy sees is the one an uninterrupted run would have had.
  ctx.store.failStaleRunning(ctx.runId, 'the process stopped during the trial');
  for (const t of ctx.store.trialsToRedo(ctx.runId)) {
    if (ctx.shouldStop?.()) break;
    await runTrial(ctx, t.index, t.config, t.isDefault);
  }
  let history = ctx.store.trialHistory(ctx.runId);
  const hasDefault = ctx.store.trials(ctx.runId).some((t) => t.isDefault);
  if (!ctx.offline && !hasDefault && history.length < ctx.budget) {
    await runTrial(ctx, history.length, servingConfigOf(ctx.model.config), true);
    history = ctx.store.trialHistory(ctx.runId);
  }
  for (;;) {
    if (ctx.shouldStop?.()) return { trials: history.length, stopReason: 'interrupted' };
    if (history.length >= ctx.budget) return { trials: history.length, stopReason: `budget of ${ctx.budget} configurations reached` };
    const repeated = repeatedFailure(history, ctx.maxRepeatedFailures ?? 5);
    if (repeated) return { trials: history.length, stopReason: repeated };
    if (ctx.deadline !== undefined && (ctx.now ?? Date.now)() >= ctx.deadline) return { trials: history.length, stopReason: 'time budget reached' };
    const early = ctx.strategy.earlyStopReason?.(history, ctx.space, ctx.seed) ?? null;
    if (early) return { trials: history.length, stopReason: early };
    const next = ctx.strategy.ask(history, ctx.space, ctx.seed);
    if (next === null) return { trials: history.length, stopReason: 'search space exhausted' };
    await runTrial(ctx, history.length, next, false);
    history = ctx.store.trialHistory(ctx.runId);
  }
}

async function runTrial(ctx: SearchContext, index: number, config: ServingConfig, isDefault: boolean): Promise<TrialRecord> {
  const variantName = `${ctx.model.name}_config_${index}`;
  const repeat = ctx.store.trialHistory(ctx.runId).filter((t) => t.index < index && configKey(t.config) === configKey(config)).length;
  const label = `[${index + 1}/${ctx.budget}] ${isDefault ? 'default ' : ''}${repeat ? `again (measurement ${repeat + 1}): ` : ''}${describe(config)}`;
  const started = Date.now();

  // The builder gives precision its meaning where it can (a TensorRT build); otherwise a
  // precision needs its own model file (model.fp16.onnx), or the value is unavailable.
  const precisionFile = ctx.builder?.handlesPrecision || ctx.offline ? undefined : modelFileForPrecision(ctx.model, config.precision);
  let cfg: ModelConfig;
  let pbtxt = '';
  let setupError: string | null = null;
  let setupUnavailable = false;
  let build: BuildResult | null = null;
  try {
    if (precisionFile === null) throw new Error(`precision ${config.precision} is unavailable: the model repository has no ${config.precision.toLowerCase()} variant of the model file`);
    cfg = isDefault
      ? { ...ctx.model.config, name: variantName }
      : applyServingConfig(ctx.model.config, config, { name: variantName, ...(precisionFile ? { modelFileForPrecision: precisionFile } : {}) });
    if (ctx.builder) {
      build = await ctx.builder.prepare({ model: ctx.model, serving: config, variantConfig: cfg });
      if (build) {
        cfg = build.config;
        ctx.log(`  build: ${build.summary}`);
      }
    }
    pbtxt = printModelConfig(cfg);
  } catch (e) {
    setupError = (e as Error).message;
    setupUnavailable = e instanceof PrecisionUnavailableError;
    cfg = ctx.model.config;
  }
  const trialId = ctx.store.startTrial(ctx.runId, index, { config, variantName, isDefault, pbtxt });
  if (setupError !== null) {
    const skipped = precisionFile === null || setupUnavailable;
    ctx.store.finishTrial(trialId, { state: skipped ? 'SKIPPED' : 'FAILED', objectiveIps: null, p99Ms: null, error: setupError });
    ctx.log(`${label}: ${skipped ? 'skipped' : 'failed'}: ${setupError}`);
    return ctx.store.trialHistory(ctx.runId)[index]!;
  }

  // A remote Triton holds the model under its own name: each configuration is a reload of it.
  const servedName = ctx.launcher.kind === 'remote' ? ctx.model.name : variantName;
  const variant: ModelVariant = { modelName: servedName, dir: join(ctx.variantRepo, variantName), config, pbtxt };
  let state: TrialRecord['state'] = 'FAILED';
  let objectiveIps: number | null = null;
  let p99Ms: number | null = null;
  let error: string | null = null;
  let loaded = false;
  let pointCount = 0;
  let kneeCost = 0;
  try {
    if (!ctx.offline) await writeVariant(ctx.variantRepo, ctx.model.dir, cfg, variantName);
    if (build) await installArtifacts(variant.dir, build.files);
    try {
      await ctx.launcher.apply(variant);
      loaded = true;
    } catch (e) {
      throw new Error(`the server did not load the configuration: ${(e as Error).message}`);
    }
    const result = await ctx.measure({
      modelName: servedName,
      config,
      targetP99Ms: ctx.targetP99Ms,
      settings: ctx.windows,
      maxConcurrency: ctx.maxConcurrency,
      repeat,
      onPoint: (p, i) => {
        pointCount++;
        ctx.store.recordPoint(trialId, i, p);
      },
    });
    // Closed loop: the load points spent confirming the knee (one noisy point does not end the load search).
    if (result.points.length && result.points.every((p) => p.offeredRate === undefined)) {
      kneeCost = kneeConfirmationCost(result.points, { targetP99Ms: ctx.targetP99Ms, maxConcurrency: ctx.maxConcurrency });
    }
    if (result.stopReason?.startsWith('errors')) {
      // Requests fail even at the lightest load: the configuration is broken, not overloaded.
      state = 'FAILED';
      error = `requests failed: ${result.firstError ?? result.stopReason}`;
    } else if (result.bestIndex !== null) {
      const best = result.points[result.bestIndex]!;
      state = 'COMPLETE';
      objectiveIps = best.throughputIps;
      p99Ms = best.p99Ms;
    } else {
      state = 'INFEASIBLE';
      const lowest = result.points.reduce<number | null>((m, p) => (m === null || p.p99Ms < m ? p.p99Ms : m), null);
      p99Ms = lowest;
      // A point can fail with a p99 inside the target: unreliable (the client fell behind its
      // schedule) or overloaded (the server did not keep up with the offered rate).
      error = !result.points.length
        ? 'no load point could be measured'
        : lowest !== null && lowest > ctx.targetP99Ms
          ? `p99 ${fmt(lowest)} ms at the lightest load is above the ${fmt(ctx.targetP99Ms)} ms target`
          : `no load point met the target reliably (${result.stopReason ?? 'see the load points'})`;
    }
  } catch (e) {
    state = 'FAILED';
    error = (e as Error).message;
  } finally {
    if (loaded) await ctx.launcher.release(variant).catch((e) => ctx.log(`  (unloading ${variantName} failed: ${(e as Error).message})`));
  }
  ctx.store.finishTrial(trialId, { state, objectiveIps, p99Ms, error });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (state === 'COMPLETE') ctx.log(`${label}: ${fmt(objectiveIps)} inf/s at p99 ${fmt(p99Ms)} ms (${pointCount} load points${kneeCost ? `, ${kneeCost} to confirm the knee` : ''}, ${secs} s)`);
  else ctx.log(`${label}: ${state.toLowerCase()}: ${error} (${secs} s)`);
  return ctx.store.trialHistory(ctx.runId)[index]!;
}

/** Error text with names and numbers blanked, so the same failure on different variants compares equal. */
export function failureKind(error: string): string {
  return error.replace(/\b\S+_config_\d+\b/g, '<variant>').replace(/\d+(\.\d+)?/g, 'N');
}

/** Why to stop when the last `limit` trials all failed the same way (a broken model or server, not a bad configuration). */
export function repeatedFailure(history: readonly TrialRecord[], limit: number): string | null {
  const last = history.slice(-limit);
  if (last.length < limit || !last.every((t) => t.state === 'FAILED' && t.error)) return null;
  const kinds = new Set(last.map((t) => failureKind(t.error!)));
  return kinds.size === 1 ? `${limit} configurations in a row failed the same way: ${last[last.length - 1]!.error}` : null;
}

export function describe(c: ServingConfig): string {
  const batching = c.maxQueueDelayUs === null ? 'no dynamic batching' : `queue delay ${c.maxQueueDelayUs} µs`;
  const pbs = c.preferredBatchSizes.length ? `, preferred ${c.preferredBatchSizes.join('/')}` : '';
  return `max_batch_size ${c.maxBatchSize}, ${batching}${pbs}, ${c.instanceCount} instance${c.instanceCount === 1 ? '' : 's'}, ${c.precision}`;
}

function fmt(n: number | null): string {
  if (n === null) return '-';
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export { configKey };
