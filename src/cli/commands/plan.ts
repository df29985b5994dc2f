/**
 * `tanalyze plan [run flags]`: what a run with these flags would do, and nothing started: the
 * resolved settings and where each came from, the space and its size, the strategy and budget,
 * the engine builds needed, and an estimate of the wall time. `--json` prints it as one object.
 */
import type { CliIO } from '../io.js';
import { EXIT_CODES } from '../../domain/exit-codes.js';
import type { SearchSpace } from '../../domain/serving.js';
import { spaceCombinations, spaceSize } from '../../search/space.js';
import { defaultBuilderKind, type BuilderKind } from '../../runner/engines/builder.js';
import { flagName, formatMs, optionSpec } from '../options.js';
import { formatPlanValue, PLAN_KEYS, planValue, type RunPlan, type SettingSource } from '../plan.js';
import { resolveRunPlan } from '../resume.js';
import { openModel } from '../serving.js';

export const PLAN_SCHEMA_VERSION = 1;

export interface PlanSetting {
  key: string;
  /** The flag, or the environment variable / profile key of a setting without one. */
  name: string;
  value: unknown;
  source: SettingSource['source'];
  where: string;
}

export interface EngineBuilds {
  kind: BuilderKind;
  /** Builds a run may need (each cached: a repeated or resumed run builds nothing twice). */
  count: number;
  description: string;
}

export interface WallTimeEstimate {
  /** Seconds: a typical run, and the range from few load points and windows to many. */
  typicalS: number;
  lowS: number;
  highS: number;
  loadPointsPerConfiguration: { low: number; typical: number; high: number };
  windowsPerPoint: { low: number; typical: number; high: number };
  /** Whether --time-budget caps the estimate. */
  cappedByTimeBudget: boolean;
  note: string;
}

export interface PlanReport {
  kind: 'plan';
  schema_version: number;
  model: string;
  resumedRun: string | null;
  settings: PlanSetting[];
  space: { size: number; combinations: number; values: SearchSpace; fromLandscape: boolean };
  strategy: string;
  budget: number;
  seed: number;
  /** Configurations a run measures at most: the budget, or the space (and the default configuration) when smaller. */
  trials: number;
  engineBuilds: EngineBuilds;
  estimate: WallTimeEstimate;
}

export async function planCommand(flags: Record<string, unknown>, io: CliIO): Promise<number> {
  const { plan, sources, resumed } = await resolveRunPlan(flags, io);
  const opened = await openModel(plan);
  const builder: BuilderKind = opened.offline ? 'none' : defaultBuilderKind(plan.launch, opened.model.config, plan.engine.target);
  const report = planReport(plan, sources, { space: opened.space, fromLandscape: plan.launch === 'replay', builder, resumedRun: resumed?.id ?? null });
  io.stdout(plan.json ? JSON.stringify(report, null, 2) + '\n' : formatPlanReport(report) + '\n');
  return EXIT_CODES.ok;
}

/** The plan as a report (pure). */
export function planReport(
  plan: RunPlan,
  sources: Record<string, SettingSource>,
  ctx: { space: SearchSpace; fromLandscape: boolean; builder: BuilderKind; resumedRun: string | null },
): PlanReport {
  const offline = plan.launch === 'replay' || plan.launch === 'sim';
  const size = spaceSize(ctx.space);
  // Offline runs measure no default configuration; the others measure it first, as trial 0.
  const trials = Math.min(plan.budget, size + (offline ? 0 : 1));
  const settings = PLAN_KEYS.filter((k) => sources[k] !== undefined || k === 'json' || k === 'quiet').map((key) => {
    const src = sources[key] ?? { source: 'default' as const, where: 'default', value: null };
    return { key, name: flagName(optionSpec(key)), value: planValue(key, plan) ?? null, source: src.source, where: src.where };
  });
  const builds = engineBuilds(ctx.builder, ctx.space, plan.engine.cache);
  const estimate = estimateWallTime(plan, trials);
  // Build times depend on the model and the builder; a cached build costs nothing.
  if (builds.count > 0) estimate.note += builds.count === 1 ? '; the engine build (none when cached) is not counted' : `; the ${builds.count} engine builds (none when cached) are not counted`;
  return {
    kind: 'plan',
    schema_version: PLAN_SCHEMA_VERSION,
    model: plan.model,
    resumedRun: ctx.resumedRun,
    settings,
    space: { size, combinations: spaceCombinations(ctx.space), values: ctx.space, fromLandscape: ctx.fromLandscape },
    strategy: plan.strategy,
    budget: plan.budget,
    seed: plan.seed,
    trials,
    engineBuilds: builds,
    estimate,
  };
}

/** The builds a run may need: one per precision (embedded), one per precision and max batch (trtexec), or none. */
export function engineBuilds(kind: BuilderKind, space: SearchSpace, cache: string): EngineBuilds {
  switch (kind) {
    case 'embedded':
      return { kind, count: space.precisions.length, description: `an ONNX Runtime graph-optimized model per precision (${space.precisions.join(', ')}), cached in ${cache}` };
    case 'trtexec': {
      const n = space.precisions.length * space.maxBatchSizes.length;
      return { kind, count: n, description: `${n} TensorRT engine${n === 1 ? '' : 's'} with trtexec, one per precision (${space.precisions.join(', ')}) and max batch size (${space.maxBatchSizes.join(', ')}), cached in ${cache}` };
    }
    case 'ort-tensorrt':
      return { kind, count: 0, description: "none before loading: ONNX Runtime's TensorRT accelerator builds on the server when each configuration loads" };
    default:
      return { kind, count: 0, description: 'none' };
  }
}

/** Seconds a configuration's load and unload takes beside its measurement, and a server's start, by launch mode (rough). */
const LAUNCH_OVERHEAD_S: Record<RunPlan['launch'], { start: number; perConfiguration: number }> = {
  embedded: { start: 1, perConfiguration: 1 },
  local: { start: 15, perConfiguration: 5 },
  docker: { start: 30, perConfiguration: 5 },
  remote: { start: 1, perConfiguration: 5 },
  replay: { start: 0, perConfiguration: 0 },
  sim: { start: 0, perConfiguration: 0 },
};

/**
 * An estimate of a run's wall time from the window settings and the load search's typical
 * number of points: closed loop doubles the concurrency from 1 (up to log2(max) + 1 points)
 * and bisects the last step (about 2 more); open loop probes capacity with one window, then
 * takes about four rates. (The recorded landscapes in bench/landscapes/ hold 4.7 points per
 * configuration at --max-concurrency 32, where this says 5, and 5.9 and 7.2 at 64, where it
 * says 6.) Each point is a warm-up and `min_windows` windows when stable, up
 * to `max_windows` plus the extra windows. Windows lengthened by --window-requests at low
 * rates, and the time a configuration's requests take to fail, are not in it.
 */
export function estimateWallTime(plan: RunPlan, trials: number): WallTimeEstimate {
  const overhead = LAUNCH_OVERHEAD_S[plan.launch];
  const offline = overhead.perConfiguration === 0 && overhead.start === 0;
  const doublings = Math.floor(Math.log2(Math.max(1, plan.maxConcurrency))) + 1;
  const points =
    plan.load.mode === 'rate'
      ? { low: 3, typical: 5, high: 9 }
      : { low: Math.min(2, doublings), typical: Math.min(doublings, Math.ceil(doublings / 2)) + 2, high: doublings + 3 };
  const w = plan.windows;
  const windows = { low: w.minWindows, typical: w.minWindows + 1, high: w.maxWindows + (w.maxExtraWindows ?? 0) };
  const perConfig = (p: number, n: number) => overhead.perConfiguration + p * (w.warmupMs / 1000 + (n * w.windowMs) / 1000);
  let low = offline ? 0 : overhead.start + trials * perConfig(points.low, windows.low);
  let typical = offline ? 0 : overhead.start + trials * perConfig(points.typical, windows.typical);
  let high = offline ? 0 : overhead.start + trials * perConfig(points.high, windows.high);
  let capped = false;
  if (plan.timeBudgetMs !== null) {
    // No configuration starts after the time budget; the one running then still finishes.
    const cap = plan.timeBudgetMs / 1000;
    const capAt = (total: number, p: number, n: number) => Math.min(total, cap + perConfig(p, n));
    capped = high > cap;
    low = capAt(low, points.low, windows.low);
    typical = capAt(typical, points.typical, windows.typical);
    high = capAt(high, points.high, windows.high);
  }
  return {
    typicalS: Math.round(typical),
    lowS: Math.round(low),
    highS: Math.round(high),
    loadPointsPerConfiguration: points,
    windowsPerPoint: windows,
    cappedByTimeBudget: capped,
    note: offline
      ? 'an estimate: replay and sim answer each measurement at once, so a run takes seconds'
      : `an estimate, not a measurement: ${trials} configurations × about ${points.typical} load points × (${formatMs(w.warmupMs)} warm-up + ${windows.typical} windows of ${formatMs(w.windowMs)}), plus loading each configuration; windows lengthened by --window-requests at low rates are not counted`,
  };
}

export function formatDuration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

const SOURCE_TEXT: Record<SettingSource['source'], string> = { default: 'default', profile: 'profile', env: 'environment', flag: 'flag', stored: 'stored run' };

/** The report as text for people. */
export function formatPlanReport(r: PlanReport): string {
  const nameWidth = Math.max(...r.settings.map((s) => s.name.length));
  const valueWidth = Math.min(40, Math.max(...r.settings.map((s) => formatPlanValue(s.key, s.value).length)));
  const lines = [`Plan for model '${r.model}'${r.resumedRun ? ` (resuming run ${r.resumedRun} with its stored settings)` : ''}; nothing is started.`, '', 'Settings (value, and where it came from):'];
  for (const s of r.settings) {
    const where = s.source === 'default' || s.source === 'flag' ? SOURCE_TEXT[s.source] : `${SOURCE_TEXT[s.source]} ${s.where}`;
    lines.push(`  ${s.name.padEnd(nameWidth)}  ${formatPlanValue(s.key, s.value).padEnd(valueWidth)}  ${where}`);
  }
  const sp = r.space.values;
  const delays = sp.maxQueueDelaysUs.map((d) => (d === null ? 'none' : String(d))).join(',');
  lines.push(
    '',
    `Space: ${r.space.size} configurations${r.space.fromLandscape ? ' (the ones the landscape holds)' : ''}: max_batch_size ${sp.maxBatchSizes.join(',')} × queue delay ${delays} µs × instances ${sp.instanceCounts.join(',')} × ${sp.precisions.join(',')}` +
      (r.space.combinations !== r.space.size ? ` (${r.space.combinations - r.space.size} of ${r.space.combinations} combinations are invalid and never proposed)` : ''),
    `Strategy: ${r.strategy}, seed ${r.seed}; budget ${r.budget} configurations, so at most ${r.trials} are measured${r.trials < r.budget ? ' (the space is smaller than the budget)' : ''}`,
    `Engine builds: ${r.engineBuilds.description}`,
    r.estimate.highS === 0
      ? 'Wall time: seconds'
      : `Wall time: about ${formatDuration(r.estimate.typicalS)} (between ${formatDuration(r.estimate.lowS)} and ${formatDuration(r.estimate.highS)})${r.estimate.cappedByTimeBudget ? ', capped by --time-budget' : ''}`,
    `  ${r.estimate.note}.`,
  );
  return lines.join('\n');
}
