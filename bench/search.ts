/**
 * Search benchmark: every strategy on every landscape in bench/landscapes plus the measured
 * ViT-B/16 H200 landscape in ../shared/landscapes (when present), 20 seeds, with and without
 * replay noise, at two p99 targets per landscape. Run from the repository root:
 *
 *   npm run build && node dist/bench/search.js [--seeds 20] [--dir bench/landscapes]
 *     [--extra ../shared/landscapes/vit_b_16_h200.csv] [--only sim-peaked]
 *     [--strategies bayesian,random] [--budget-share 0.25] [--workers 2]
 *     [--noise 0,0.05] [--targets 2.3,4.7] [--trace on]
 *
 * --trace on prints, per landscape and target, the best configurations (noise-free) and, per
 * seed, every measurement (L: the final phase's neighbours, R: a finalist measured again;
 * the measured throughput and the configuration's share of the best in the truth) and the
 * recommendation: why a search misses. bench/search-reach says what any strategy could reach.
 *
 * Each search runs as the CLI's search loop does (runSearch): ask, measure (a replay of the
 * landscape through the runner's load search), repeat until the budget (25% of the space;
 * the whole space for grid), the strategy's early stop, or nothing left to ask. Its
 * RECOMMENDATION at the end (the report's choice over the measurements) is then judged
 * against the truth, the noise-free replay of every configuration: within 2% of the best
 * feasible throughput, or infeasible there.
 *
 * Targets: 3× and 6× the lowest p99 any configuration shows at its lightest load.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { landscapeIndex, landscapeSpace, parseLandscape, type Landscape } from '../src/landscape/csv.js';
import { missingConfigs, replayMeasure } from '../src/landscape/replay.js';
import { recommend } from '../src/search/estimate.js';
import { FinishingStrategy } from '../src/search/finish.js';
import { STRATEGY_NAMES, strategyByName } from '../src/search/index.js';
import { enumerateSpace } from '../src/search/space.js';
import type { SearchSpace, ServingConfig } from '../src/domain/serving.js';
import type { TrialRecord } from '../src/domain/trial.js';
import { measurementsOf } from '../src/domain/measurement.js';
import { configKey } from '../src/domain/serving.js';

/** The measured ViT-B/16 landscape the team keeps beside the project (not copied into it). */
const SHARED_LANDSCAPE = join('..', 'shared', 'landscapes', 'vit_b_16_h200.csv');

const FINISH_MODES = ['both', 'local', 'confirm', 'none'];

interface Args {
  seeds: number;
  dir: string;
  extra: string[];
  only: string[];
  strategies: string[];
  budgetShare: number;
  workers: number;
  /** Which parts of the final phase (finish.ts) run: both, local, confirm, none. */
  finish: string;
  /** The load search confirms the knee (runner/load-search.ts confirmKnee). */
  knee: boolean;
  /** Print every seed's measurements and recommendation (why a search misses). */
  trace: boolean;
  /** Only these noise levels (default 0 and 0.05). */
  noises: number[];
  /** Only these p99 targets (default: chooseTargets'). */
  targets: number[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    seeds: 20, dir: join('bench', 'landscapes'), extra: [SHARED_LANDSCAPE], only: [], strategies: [...STRATEGY_NAMES], budgetShare: 0.25,
    workers: Math.max(1, Math.min(2, availableParallelism())), finish: 'both', knee: true, trace: false, noises: [0, 0.05], targets: [],
  };
  for (let i = 0; i < argv.length; i += 2) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${a}: missing value`);
    if (a === '--seeds') args.seeds = Number(v);
    else if (a === '--dir') args.dir = v;
    else if (a === '--extra') args.extra = v === '' ? [] : v.split(',');
    else if (a === '--only') args.only = v.split(',');
    else if (a === '--strategies') args.strategies = v.split(',');
    else if (a === '--budget-share') args.budgetShare = Number(v);
    else if (a === '--workers') args.workers = Math.max(1, Number(v));
    else if (a === '--trace') args.trace = v === 'on';
    else if (a === '--noise') args.noises = v.split(',').map(Number);
    else if (a === '--targets') args.targets = v.split(',').map(Number);
    else if (a === '--knee') {
      if (v !== 'on' && v !== 'off') throw new Error(`--knee: '${v}' is not one of on, off`);
      args.knee = v === 'on';
    } else if (a === '--finish') {
      if (!FINISH_MODES.includes(v)) throw new Error(`--finish: '${v}' is not one of ${FINISH_MODES.join(', ')}`);
      args.finish = v;
    } else throw new Error(`unknown option ${a}; accepted: --seeds, --dir, --extra, --only, --strategies, --budget-share, --workers, --finish, --knee, --trace on|off, --noise 0,0.05, --targets MS,...`);
  }
  return args;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  if (sorted[lo] === sorted[hi]) return sorted[lo]!;
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

const sig2 = (x: number) => Number(x.toPrecision(2));

/**
 * The two targets: 3× and 6× the lowest lightest-load p99 of any configuration (two
 * significant digits): a tight latency budget and a loose one. Configurations whose queue
 * delay alone eats the budget are infeasible.
 */
export function chooseTargets(landscape: Landscape, space: SearchSpace): number[] {
  const index = landscapeIndex(landscape);
  const light = Math.min(...enumerateSpace(space).map((c) => index.get(configKey(c))![0]!.p99Ms));
  return [...new Set([sig2(3 * light), sig2(6 * light)])];
}

/** Simulated landscapes are named sim-*; every other file is a measurement. */
const isSimulated = (path: string) => basename(path).startsWith('sim-');

interface Task {
  path: string;
  target: number;
  strategy: string;
  noise: number;
  finish: string;
  knee: boolean;
  trace: boolean;
}

interface RunResult {
  /** The final recommendation is within 2% of the best feasible (noise-free truth). */
  good: boolean;
  /** The final recommendation is infeasible in the noise-free landscape (or there is none). */
  infeasible: boolean;
  /** Measurements made (configurations, repeats included). */
  measurements: number;
  /** Distinct configurations measured. */
  configurations: number;
  /** Measurements of the final phase: the incumbent's neighbours, and finalists measured again. */
  local: number;
  repeats: number;
  /** The run ended before its budget (early stop or nothing left to ask). */
  stoppedEarly: boolean;
  /** When the running recommendation first came within 2% (null: never). */
  reachedAt: number | null;
  /** When a configuration within 2% was first measured (the recommendation may still be another, under noise). */
  foundAt: number | null;
  loadPoints: number;
  /** Load points spent confirming the knee: beyond what the one-point rule measures for the same configurations. */
  kneePoints: number;
  ms: number;
  /** With --trace on: each measurement (phase, configuration, measured, share of the best in truth) and the recommendation. */
  trace?: string;
}

interface TaskResult extends Task {
  n: number;
  budget: number;
  runs: RunResult[];
}

function record(index: number, config: ServingConfig, result: ReturnType<typeof replayMeasure>): TrialRecord {
  if (result.bestIndex !== null) {
    const b = result.points[result.bestIndex]!;
    return { index, config, state: 'COMPLETE', objectiveIps: b.throughputIps, p99Ms: b.p99Ms, error: null };
  }
  const lowest = result.points.reduce((m, p) => Math.min(m, p.p99Ms), Infinity);
  return { index, config, state: 'INFEASIBLE', objectiveIps: null, p99Ms: Number.isFinite(lowest) ? lowest : null, error: 'above target' };
}

/** A configuration in a few characters: precision/max batch/delay µs/instances (preferred sizes when set). */
export function short(c: ServingConfig): string {
  const pbs = c.preferredBatchSizes.length ? `/p${c.preferredBatchSizes.join('+')}` : '';
  return `${c.precision}/${c.maxBatchSize}/${c.maxQueueDelayUs ?? '-'}/${c.instanceCount}${pbs}`;
}

/** The configuration the report recommends from these measurements. */
function recommendation(history: readonly TrialRecord[], target: number): ServingConfig | null {
  return recommend(history, target).best?.config ?? null;
}

/** One search, as runSearch walks it (budget, early stop, ask), on a replay of the landscape. */
/** Each configuration's noise-free throughput at the target (its replay's best point), by configKey; null = infeasible. */
export function noiseFreeTruth(landscape: Landscape, configs: readonly ServingConfig[], targetP99Ms: number): Map<string, number | null> {
  const truth = new Map<string, number | null>();
  for (const c of configs) {
    const r = replayMeasure(landscape, c, { targetP99Ms });
    truth.set(configKey(c), r.bestIndex === null ? null : r.points[r.bestIndex]!.throughputIps);
  }
  return truth;
}

function runOnce(
  task: Task, landscape: Landscape, space: SearchSpace, seed: number, truth: Map<string, number | null>, goal: number, budget: number,
): RunResult {
  const started = performance.now();
  const finish = task.finish === 'none' ? {} : {
    budget, finish: { local: task.finish !== 'confirm', confirm: task.finish !== 'local' },
  };
  const strategy = strategyByName(task.strategy, { targetP99Ms: task.target, ...finish });
  const history: TrialRecord[] = [];
  let local = 0;
  let repeats = 0;
  const timesMeasured = new Map<string, number>();
  let loadPoints = 0;
  let kneePoints = 0;
  let reachedAt: number | null = null;
  let foundAt: number | null = null;
  let stoppedEarly = false;
  const within = (c: ServingConfig | null) => c !== null && (truth.get(configKey(c)) ?? -1) >= goal;
  const steps: string[] = [];
  const pctOfBest = (c: ServingConfig) => {
    const v = truth.get(configKey(c));
    return v === null || v === undefined ? 'inf' : `${Math.round((100 * v * 0.98) / goal)}%`;
  };
  for (;;) {
    if (history.length >= budget) break;
    if (strategy.earlyStopReason?.(history, space, seed)) {
      stoppedEarly = true;
      break;
    }
    const d = strategy instanceof FinishingStrategy ? strategy.decide(history, space, seed) : null;
    const c = d ? d.next : strategy.ask(history, space, seed);
    if (c === null) {
      stoppedEarly = true;
      break;
    }
    if (d?.phase === 'local') local++;
    if (d?.phase === 'confirm') repeats++;
    const key = configKey(c);
    const repeat = timesMeasured.get(key) ?? 0;
    timesMeasured.set(key, repeat + 1);
    const r = replayMeasure(landscape, c, { targetP99Ms: task.target, noise: task.noise, seed, repeat, confirmKnee: task.knee });
    // A point measured twice (the load search's repeat of its best point) counts twice.
    const measured = r.points.reduce((a, p) => a + measurementsOf(p), 0);
    loadPoints += measured;
    if (task.knee) kneePoints += measured - replayMeasure(landscape, c, { targetP99Ms: task.target, noise: task.noise, seed, repeat, confirmKnee: false }).points.length;
    history.push(record(history.length, c, r));
    if (task.trace) {
      const h = history[history.length - 1]!;
      steps.push(`${d?.phase === 'local' ? 'L:' : d?.phase === 'confirm' ? 'R:' : ''}${short(c)}=${h.state === 'COMPLETE' ? Math.round(h.objectiveIps!) : 'inf'}(${pctOfBest(c)})`);
    }
    if (foundAt === null && within(c)) foundAt = history.length;
    if (reachedAt === null && within(recommendation(history, task.target))) reachedAt = history.length;
  }
  const rec = recommendation(history, task.target);
  const recTruth = rec === null ? null : (truth.get(configKey(rec)) ?? null);
  return {
    good: within(rec), infeasible: recTruth === null, measurements: history.length, configurations: timesMeasured.size, local, repeats,
    stoppedEarly, reachedAt, foundAt, loadPoints, kneePoints, ms: performance.now() - started,
    ...(task.trace ? { trace: `seed ${String(seed).padStart(2)} ${within(rec) ? 'ok  ' : 'MISS'} rec ${rec ? `${short(rec)} (${pctOfBest(rec)})` : 'none'} | ${steps.join(' ')}` } : {}),
  };
}

interface Prepared {
  landscape: Landscape;
  space: SearchSpace;
  n: number;
  truths: Map<number, { truth: Map<string, number | null>; best: number; feasible: number; near: number }>;
}

const prepared = new Map<string, Prepared>();

function prepare(path: string, targets?: number[]): Prepared {
  const cached = prepared.get(path);
  if (cached && (!targets || targets.every((t) => cached.truths.has(t)))) return cached;
  const landscape = parseLandscape(readFileSync(path, 'utf8'), basename(path));
  const space = landscapeSpace(landscape);
  const missing = missingConfigs(landscape, space);
  if (missing.length) throw new Error(`${path}: ${missing.length} configurations of its space have no rows`);
  const configs = enumerateSpace(space);
  const truths: Prepared['truths'] = new Map();
  for (const target of targets ?? chooseTargets(landscape, space)) {
    const truth = noiseFreeTruth(landscape, configs, target);
    const values = [...truth.values()].filter((v): v is number => v !== null);
    const best = Math.max(...values);
    truths.set(target, { truth, best, feasible: values.length, near: values.filter((v) => v >= 0.98 * best).length });
  }
  const p = { landscape, space, n: configs.length, truths };
  prepared.set(path, p);
  return p;
}

function runTask(task: Task, seeds: number, budgetShare: number): TaskResult {
  const p = prepare(task.path, [task.target]);
  const t = p.truths.get(task.target)!;
  const budget = task.strategy === 'grid' ? p.n : Math.ceil(budgetShare * p.n);
  const runs: RunResult[] = [];
  for (let seed = 0; seed < seeds; seed++) runs.push(runOnce(task, p.landscape, p.space, seed, t.truth, 0.98 * t.best, budget));
  return { ...task, n: p.n, budget, runs };
}

function pad(s: string | number, n: number, left = false): string {
  const t = String(s);
  return left ? t.padEnd(n) : t.padStart(n);
}

const landscapeName = (path: string) => basename(path).replace(/\.csv$/, '');

const COLUMNS: [string, number, boolean?][] = [
  ['strategy', 9, true], ['landscape', 24, true], ['N', 4], ['B', 4], ['p99', 5], ['noise', 5], ['rec<=2%', 7], ['infeas', 6],
  ['meas', 5], ['confs', 5], ['local', 5], ['rep', 5], ['early', 5], ['reach', 6], ['found', 6], ['points', 7], ['knee', 5], ['ms/run', 7],
];

function summarize(r: TaskResult): { row: string; verdict: string | null } {
  const runs = r.runs.length;
  const good = r.runs.filter((x) => x.good).length;
  const infeasible = r.runs.filter((x) => x.infeasible).length;
  const med = (f: (x: RunResult) => number | null) => quantile(r.runs.map((x) => f(x) ?? Infinity).sort((a, b) => a - b), 0.5);
  const fmt = (x: number) => (Number.isFinite(x) ? String(Math.round(x * 10) / 10) : `>${r.budget}`);
  const points = r.runs.reduce((s, x) => s + x.loadPoints, 0) / runs;
  const ms = r.runs.reduce((s, x) => s + x.ms, 0) / runs;
  const avg = (f: (x: RunResult) => number) => (r.runs.reduce((s, x) => s + f(x), 0) / runs).toFixed(1);
  const share = (k: number) => `${Math.round((100 * k) / runs)}%`;
  const name = landscapeName(r.path);
  const cells = [r.strategy, name, r.n, r.budget, r.target, r.noise, share(good), infeasible ? `${infeasible}` : '0',
    fmt(med((x) => x.measurements)), fmt(med((x) => x.configurations)), avg((x) => x.local), avg((x) => x.repeats), share(r.runs.filter((x) => x.stoppedEarly).length),
    fmt(med((x) => x.reachedAt)), fmt(med((x) => x.foundAt)), points.toFixed(1), avg((x) => x.kneePoints), ms.toFixed(0)];
  const row = cells.map((c, i) => pad(c, COLUMNS[i]![1], COLUMNS[i]![2])).join(' ');
  let verdict: string | null = null;
  if (r.strategy === 'bayesian' && !isSimulated(r.path)) {
    const goal = r.noise === 0 ? 0.85 : 0.7;
    const ok = good >= goal * runs && infeasible === 0;
    verdict = `${ok ? 'MET   ' : 'MISSED'} ${name} p99 ${r.target} ms, noise ${r.noise}: ${good}/${runs} (${share(good)}) within 2% (goal >= ${goal * 100}%), infeasible: ${infeasible}`;
  }
  return { row, verdict };
}

function landscapePaths(args: Args): string[] {
  const local = readdirSync(args.dir).filter((f) => f.endsWith('.csv')).sort().map((f) => join(args.dir, f));
  const extra: string[] = [];
  for (const e of args.extra) {
    if (existsSync(e)) extra.push(e);
    else console.log(`# ${e}: not found, left out (the shared landscapes sit beside the repository: ../shared/landscapes)`);
  }
  return [...local, ...extra].filter((f) => args.only.length === 0 || args.only.some((o) => basename(f).includes(o)));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const paths = landscapePaths(args);
  if (paths.length === 0) throw new Error(`no landscapes (*.csv) in ${args.dir}${args.only.length ? ` matching ${args.only.join(',')}` : ''}`);
  const t0 = performance.now();
  const tasks: Task[] = [];
  for (const path of paths) {
    const p = args.targets.length ? prepare(path, args.targets) : prepare(path);
    for (const [target, t] of p.truths) {
      if (args.targets.length && !args.targets.includes(target)) continue;
      console.log(`# ${landscapeName(path)}${isSimulated(path) ? ' (simulated)' : ''}: ${p.n} configurations; p99 target ${target} ms: ${t.feasible} feasible, best ${t.best.toFixed(1)}/s, ${t.near} within 2% of it`);
      if (args.trace) {
        const ranked = [...t.truth.entries()].filter((e): e is [string, number] => e[1] !== null).sort((a, b) => b[1] - a[1]);
        const byKey = new Map(enumerateSpace(p.space).map((c) => [configKey(c), c]));
        console.log(`#   best configurations: ${ranked.slice(0, 6).map(([k, v]) => `${short(byKey.get(k)!)} ${Math.round(v)} (${Math.round((100 * v) / t.best)}%)`).join(', ')}`);
      }
      for (const strategy of args.strategies) for (const noise of args.noises) tasks.push({ path, target, strategy, noise, finish: args.finish, knee: args.knee, trace: args.trace });
    }
  }
  // Longest first (bayesian and grid on the largest landscapes), so the workers finish together.
  const cost = (t: Task) => prepared.get(t.path)!.n * (t.strategy === 'bayesian' ? 20 : t.strategy === 'grid' ? 3 : 1) * (1 + t.noise * 20);
  const queue = [...tasks].sort((a, b) => cost(b) - cost(a));
  const results = new Map<Task, TaskResult>();
  await Promise.all(Array.from({ length: Math.min(args.workers, queue.length) }, async () => {
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { seeds: args.seeds, budgetShare: args.budgetShare } });
    try {
      for (let task = queue.shift(); task; task = queue.shift()) {
        const current = task;
        const result = await new Promise<TaskResult>((resolve, reject) => {
          const onError = (e: Error) => reject(e);
          worker.once('error', onError);
          worker.once('message', (m: TaskResult) => {
            worker.off('error', onError);
            resolve(m);
          });
          worker.postMessage(current);
        });
        results.set(current, result);
      }
    } finally {
      await worker.terminate();
    }
  }));
  const header = COLUMNS.map(([name, width, left]) => pad(name, width, left)).join(' ');
  const lines: string[] = [];
  const verdicts: string[] = [];
  for (const task of tasks) {
    const r = results.get(task)!;
    if (args.trace) {
      console.log(`\n## ${task.strategy} ${landscapeName(task.path)} p99 ${task.target} noise ${task.noise}: N ${r.n}, budget ${r.budget}`);
      for (const run of r.runs) console.log(run.trace);
    }
    const s = summarize(r);
    lines.push(s.row);
    if (s.verdict) verdicts.push(s.verdict);
  }
  console.log(`\n${header}\n${lines.join('\n')}\n`);
  console.log([
    'N: configurations; B: budget (measurements, repeats included); rec<=2%: share of seeds whose final recommendation is within 2% of the',
    'best feasible throughput (noise-free truth); infeas: seeds whose final recommendation is infeasible there (or missing);',
    'meas, confs: median measurements and distinct configurations; local, rep: mean measurements of the final phase (finish.ts):',
    'the incumbent\'s untested neighbours, and finalists measured again; early: share of runs that ended before the budget;',
    'reach: median measurements until the running recommendation is within 2% (">B": never); found: until one within 2% is measured;',
    'points: mean load points measured per run (a point measured twice counts twice); knee: of those, mean points spent confirming the knee (beyond the one-point rule, and the best point\'s repeat).',
  ].join('\n'));
  if (verdicts.length) console.log(`\nIssue targets (bayesian, measured landscapes: within 2% in >= 85% of seeds noise-free, >= 70% with 5% noise, never infeasible):\n${verdicts.join('\n')}`);
  console.log(`\n${args.seeds} seeds; final phase: ${args.finish}; knee confirmation: ${args.knee ? 'on' : 'off'}; budget ${Math.round(args.budgetShare * 100)}% of N (grid: N); ${args.workers} workers; ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// Run only as the entry point (bench/search-reach imports chooseTargets from here).
const isEntry = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMainThread && isEntry) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
} else if (!isMainThread) {
  const { seeds, budgetShare } = workerData as { seeds: number; budgetShare: number };
  parentPort!.on('message', (task: Task) => parentPort!.postMessage(runTask(task, seeds, budgetShare)));
}
