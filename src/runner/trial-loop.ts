/**
 * The search loop: ask the strategy for a configuration, write its model variant,
 * load it, measure it at rising load, and commit the finished trial before the next
 * one starts. Every dependency with I/O comes in through SearchContext.
 * `runTrial` is the one function that executes a trial: the search and regress both call it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../config/types.js';
import { applyServingConfig, defaultModelFile, precisionVariantName, servingConfigOf, writeVariant } from '../config/variant.js';
import { printModelConfig } from '../config/pbtxt.js';
import type { Strategy } from '../search/types.js';
import type { ServingConfig, SearchSpace } from '../domain/serving.js';
import type { TrialRecord } from '../domain/trial.js';
import { configKey } from '../domain/serving.js';
import type { Store } from '../store/store.js';
import type { Launcher, MeasureConfiguration, MeasureResult, ModelVariant } from '../domain/launcher.js';
import type { LoadPoint, TrialResult, WindowSettings } from '../domain/measurement.js';
import { installArtifacts, limitMaxBatchSizes, type BuildResult, type EngineBuilder } from './engines/builder.js';
import { PrecisionUnavailableError } from './engines/onnxruntime.js';
import { ownInfrastructureFailure, TanalyzeError } from '../domain/errors.js';
import { kneeConfirmationCost } from '../measure/load-search.js';

/** One turn of the event loop, so a signal (Ctrl-C, SIGTERM) is handled even when no trial waits on I/O (replay, sim). */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface RepoModel {
  name: string;
  dir: string;
  config: ModelConfig;
  versions: string[];
}


/** What executing one trial needs: the model, where variants go, the server and the measurement. */
export interface TrialContext {
  model: RepoModel;
  /** Where the variants are written: the repository the server serves. */
  variantRepo: string;
  /** Trials planned in all, for the progress label `[i/budget]`. */
  budget: number;
  targetP99Ms: number;
  windows: WindowSettings;
  maxConcurrency: number;
  launcher: Launcher;
  measure: MeasureConfiguration;
  log: (line: string) => void;
  /** The build step (engines, optimized models), cached; none when absent. */
  builder?: EngineBuilder;
  /**
   * Replay and sim runs have no model files and no server: no variants are written and no
   * default configuration is measured (a landscape need not hold it).
   */
  offline?: boolean;
}

/** Where a trial's progress goes: the store for a search; regress keeps only what runTrial returns. */
export interface TrialSink {
  start(index: number, t: { config: ServingConfig; variantName: string; isDefault: boolean; pbtxt: string }): number;
  point(trialId: number, index: number, point: LoadPoint): void;
  finish(trialId: number, r: { state: Exclude<TrialRecord['state'], 'RUNNING'>; objectiveIps: number | null; p99Ms: number | null; error: string | null }): void;
}

/** A trial's sink in a stored run: every point and the finished trial are committed as they come. */
export function storeSink(store: Store, runId: string): TrialSink {
  return {
    start: (index, t) => store.startTrial(runId, index, t),
    point: (trialId, i, p) => store.recordPoint(trialId, i, p),
    finish: (trialId, r) => store.finishTrial(trialId, r),
  };
}

/** A sink that keeps nothing (the caller reads runTrial's outcome). */
export const DISCARD_SINK: TrialSink = { start: () => 0, point: () => {}, finish: () => {} };

/** What a trial came to: its state and figures, and the load search's own result when it ran. */
export interface TrialOutcome {
  state: Exclude<TrialRecord['state'], 'RUNNING'>;
  objectiveIps: number | null;
  p99Ms: number | null;
  error: string | null;
  result: MeasureResult | null;
}

export interface SearchContext extends TrialContext {
  runId: string;
  space: SearchSpace;
  seed: number;
  store: Store;
  strategy: Strategy;
  /** Checked between trials: a stop request (Ctrl-C) ends the loop after the current trial. */
  shouldStop?: () => boolean;
  /** Stop after this many trials in a row failed the same way (default 5). */
  maxRepeatedFailures?: number;
  /** Wall-clock budget: no new configuration is started after this time (ms since epoch). */
  deadline?: number;
  now?: () => number;
}

export interface SearchOutcome {
  trials: number;
  stopReason: string;
}

/**
 * File name of the model for a precision, in the version folder: undefined for FP32 (the
 * model as given), null when the precision has no file there (the value is unavailable).
 * Never the FP32 file under another precision's label.
 */
export function modelFileForPrecision(model: RepoModel, precision: ServingConfig['precision']): string | null | undefined {
  if (precision === 'FP32') return undefined;
  const base = (model.config.default_model_filename as string | undefined) ?? defaultModelFile(model.config);
  const file = precisionVariantName(base, precision);
  const version = model.versions[model.versions.length - 1];
  return file !== null && version !== undefined && existsSync(join(model.dir, version, file)) ? file : null;
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
    await yieldToEventLoop();
    if (ctx.shouldStop?.()) break;
    await runTrial(ctx, { index: t.index, config: t.config, isDefault: t.isDefault, repeat: repeatsBefore(ctx, t.index, t.config) }, storeSink(ctx.store, ctx.runId));
  }
  let history = ctx.store.trialHistory(ctx.runId);
  const hasDefault = ctx.store.trials(ctx.runId).some((t) => t.isDefault);
  if (!ctx.offline && !hasDefault && history.length < ctx.budget && !ctx.shouldStop?.()) {
    await runTrial(ctx, { index: history.length, config: servingConfigOf(ctx.model.config), isDefault: true }, storeSink(ctx.store, ctx.runId));
    history = ctx.store.trialHistory(ctx.runId);
  }
  for (;;) {
    await yieldToEventLoop();
    if (ctx.shouldStop?.()) return { trials: history.length, stopReason: 'interrupted' };
    if (history.length >= ctx.budget) return { trials: history.length, stopReason: `budget of ${ctx.budget} configurations reached` };
    const repeated = repeatedFailure(history, ctx.maxRepeatedFailures ?? 5);
    if (repeated) return { trials: history.length, stopReason: repeated };
    if (ctx.deadline !== undefined && (ctx.now ?? Date.now)() >= ctx.deadline) return { trials: history.length, stopReason: 'time budget reached' };
    const early = ctx.strategy.earlyStopReason?.(history, ctx.space, ctx.seed) ?? null;
    if (early) return { trials: history.length, stopReason: early };
    const next = ctx.strategy.ask(history, ctx.space, ctx.seed);
    if (next === null) return { trials: history.length, stopReason: 'search space exhausted' };
    await runTrial(ctx, { index: history.length, config: next, isDefault: false, repeat: repeatsBefore(ctx, history.length, next) }, storeSink(ctx.store, ctx.runId));
    history = ctx.store.trialHistory(ctx.runId);
  }
}

/** How many earlier trials of the run measured this configuration (0: the first). */
function repeatsBefore(ctx: SearchContext, index: number, config: ServingConfig): number {
  return ctx.store.trialHistory(ctx.runId).filter((t) => t.index < index && configKey(t.config) === configKey(config)).length;
}

/**
 * Executes one trial: builds and writes the configuration's variant, loads it, runs the load
 * search on it, unloads it, and reports every step to `sink`. A configuration that fails
 * becomes a FAILED (or SKIPPED) outcome with its reason; nothing here throws for it.
 */
export async function runTrial(
  ctx: TrialContext,
  trial: { index: number; config: ServingConfig; isDefault: boolean; variantName?: string; repeat?: number },
  sink: TrialSink,
): Promise<TrialOutcome> {
  const { index, config, isDefault } = trial;
  const variantName = trial.variantName ?? `${ctx.model.name}_config_${index}`;
  // How many earlier trials measured this configuration (finalists are measured again).
  const repeat = trial.repeat ?? 0;
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
    const own = ownInfrastructureFailure(e);
    if (own) throw own; // a full disk while building: no verdict on the configuration
    setupError = (e as Error).message;
    setupUnavailable = e instanceof PrecisionUnavailableError;
    cfg = ctx.model.config;
  }
  const trialId = sink.start(index, { config, variantName, isDefault, pbtxt });
  if (setupError !== null) {
    const skipped = precisionFile === null || setupUnavailable;
    const outcome: TrialOutcome = { state: skipped ? 'SKIPPED' : 'FAILED', objectiveIps: null, p99Ms: null, error: setupError, result: null };
    sink.finish(trialId, outcome);
    ctx.log(`${label}: ${skipped ? 'skipped' : 'failed'}: ${setupError}`);
    return outcome;
  }

  // A remote Triton holds the model under its own name: each configuration is a reload of it.
  const servedName = ctx.launcher.kind === 'remote' ? ctx.model.name : variantName;
  const variant: ModelVariant = { modelName: servedName, dir: join(ctx.variantRepo, variantName), config, pbtxt };
  let state: TrialOutcome['state'] = 'FAILED';
  let objectiveIps: number | null = null;
  let p99Ms: number | null = null;
  let error: string | null = null;
  let loaded = false;
  let pointCount = 0;
  let measured: MeasureResult | null = null;
  // A failure of tanalyze's own database or disk is no verdict on the configuration: the
  // trial is left unfinished (RUNNING), so a resumed run measures it again.
  let ownFailure = null as TanalyzeError | null;
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
        try {
          sink.point(trialId, i, p);
        } catch (e) {
          ownFailure ??= asOwnFailure(e);
          throw e;
        }
      },
    });
    if (ownFailure) throw ownFailure;
    measured = result;
    // Closed loop: the load points spent confirming the knee (one noisy point does not end the load search).
    kneeCost = kneeConfirmationCost(result.points, { targetP99Ms: ctx.targetP99Ms, maxConcurrency: ctx.maxConcurrency }) ?? 0;
    if (result.stopReason?.startsWith('errors')) {
      // Requests fail even at the lightest load: the configuration is broken, not overloaded,
      // unless the server died under it (then the failure says so).
      state = 'FAILED';
      error = `requests failed: ${result.firstError ?? result.stopReason}`;
      const death = await ctx.launcher.serverDeath?.();
      if (death) error = `${death} during the measurement; ${error}`;
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
    ownFailure ??= ownInfrastructureFailure(e);
    state = 'FAILED';
    error = (e as Error).message;
  } finally {
    if (loaded) await ctx.launcher.release(variant).catch((e) => ctx.log(`  (unloading ${variantName} failed: ${(e as Error).message})`));
  }
  if (ownFailure) {
    ctx.log(`${label}: not finished: ${ownFailure.message} (it is measured again when the run is resumed)`);
    throw ownFailure;
  }
  sink.finish(trialId, { state, objectiveIps, p99Ms, error });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (state === 'COMPLETE') ctx.log(`${label}: ${fmt(objectiveIps)} inf/s at p99 ${fmt(p99Ms)} ms (${pointCount} load points${kneeCost ? `, ${kneeCost} to confirm the knee` : ''}, ${secs} s)`);
  else ctx.log(`${label}: ${state.toLowerCase()}: ${error} (${secs} s)`);
  return { state, objectiveIps, p99Ms, error, result: measured };
}

/** An error the trial's sink (the results database) threw: tanalyze's own infrastructure. */
function asOwnFailure(e: unknown): TanalyzeError {
  if (e instanceof TanalyzeError && e.kind === 'infrastructure') return e;
  return ownInfrastructureFailure(e) ?? new TanalyzeError('infrastructure', `the results could not be stored: ${(e as Error).message}`, undefined, { cause: e });
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
