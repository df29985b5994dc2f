/**
 * Search benchmark: every strategy on every landscape in bench/landscapes, 20 seeds, with
 * and without replay noise, at two p99 targets per landscape. Run from the repository root:
 *
 *   npm run build && node dist/bench/search.js [--seeds 20] [--dir bench/landscapes]
 *     [--only sim-peaked] [--strategies bayesian,random] [--budget-share 0.25] [--workers 2]
 *
 * For each run it counts the configurations measured until the recommendation (the report's
 * chooseRecommended over the trials so far: the best measured feasible throughput) is within 2%
 * of the true best feasible throughput. "True" is the noise-free replay of every
 * configuration: what a perfect, noiseless measurement by tanalyze's load search reports.
 * A run ends there or at its budget (25% of the space; the whole space for grid). Every
 * recommendation on the way is checked against the noise-free landscape (infeasible
 * there = a bad recommendation).
 *
 * Bayesian runs go on past that point until the early-stopping rule fires (or the
 * budget), to report when the CLI's default search would stop and how good its
 * recommendation is then.
 *
 * Targets: 3× and 6× the lowest p99 any configuration shows at its lightest load.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { landscapeIndex, landscapeSpace, parseLandscape, type Landscape } from '../src/landscape/csv.js';
import { missingConfigs, replayMeasure } from '../src/landscape/replay.js';
import { chooseRecommended } from '../src/report/pareto.js';
import { BayesianStrategy } from '../src/search/bayesian.js';
import { STRATEGY_NAMES, strategyByName } from '../src/search/index.js';
import { enumerateSpace } from '../src/search/space.js';
import type { SearchSpace, ServingConfig } from '../src/domain/serving.js';
import type { TrialRecord } from '../src/domain/trial.js';
import { configKey } from '../src/domain/serving.js';

interface Args {
  seeds: number;
  dir: string;
  only: string[];
  strategies: string[];
  budgetShare: number;
  workers: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    seeds: 20, dir: join('bench', 'landscapes'), only: [], strategies: [...STRATEGY_NAMES], budgetShare: 0.25,
    workers: Math.max(1, Math.min(2, availableParallelism())),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${a}: missing value`);
    if (a === '--seeds') args.seeds = Number(v);
    else if (a === '--dir') args.dir = v;
    else if (a === '--only') args.only = v.split(',');
    else if (a === '--strategies') args.strategies = v.split(',');
    else if (a === '--budget-share') args.budgetShare = Number(v);
    else if (a === '--workers') args.workers = Math.max(1, Number(v));
    else throw new Error(`unknown option ${a}; accepted: --seeds, --dir, --only, --strategies, --budget-share, --workers`);
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

interface Task {
  file: string;
  target: number;
  strategy: string;
  noise: number;
}

interface RunResult {
  reachedAt: number | null;
  /** When a configuration within 2% was first measured (the recommendation may still be another, under noise). */
  foundAt: number | null;
  loadPoints: number;
  badRecommendation: boolean;
  /** Bayesian only: trials when early stopping fires (null: not within the budget), and whether the recommendation then is within 2%. */
  stoppedAt: number | null;
  goodAtStop: boolean | null;
  ms: number;
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

const EARLY_STOP_GAIN = 0.005;
const EARLY_STOP_PATIENCE = 3;

function runOnce(
  task: Task, landscape: Landscape, space: SearchSpace, seed: number, truth: Map<string, number | null>, goal: number, budget: number,
): RunResult {
  const started = performance.now();
  const bayesian = task.strategy === 'bayesian' ? new BayesianStrategy({ targetP99Ms: task.target }) : null;
  const strategy = bayesian ?? strategyByName(task.strategy, { targetP99Ms: task.target });
  const history: TrialRecord[] = [];
  // Gains of the asks so far: early stopping (shouldStopEarly's rule) reads the last three.
  const gains: (number | null)[] = [];
  let loadPoints = 0;
  let bad = false;
  let best: TrialRecord | null = null;
  let reachedAt: number | null = null;
  let foundAt: number | null = null;
  let stoppedAt: number | null = null;
  let goodAtStop: boolean | null = null;
  const isGood = () => best !== null && (truth.get(configKey(best.config)) ?? -1) >= goal;
  for (let step = 1; step <= budget; step++) {
    let c: ServingConfig | null;
    if (bayesian) {
      const a = bayesian.analyze(history, space, seed);
      gains.push(a.phase === 'improvement' ? a.maxExpectedGain : null);
      const last = gains.slice(-EARLY_STOP_PATIENCE);
      if (stoppedAt === null && last.length === EARLY_STOP_PATIENCE && last.every((g) => g !== null && g < EARLY_STOP_GAIN)) {
        stoppedAt = history.length;
        goodAtStop = isGood();
      }
      if (stoppedAt !== null && reachedAt !== null) break;
      c = a.next;
    } else {
      c = strategy.ask(history, space, seed);
    }
    if (c === null) break;
    const r = replayMeasure(landscape, c, { targetP99Ms: task.target, noise: task.noise, seed });
    if (reachedAt === null) loadPoints += r.points.length;
    const t = record(history.length, c, r);
    history.push(t);
    if (foundAt === null && (truth.get(configKey(c)) ?? -1) >= goal) foundAt = step;
    best = chooseRecommended(best ? [best, t] : [t], task.target);
    if (best) {
      const v = truth.get(configKey(best.config));
      if (v === null || v === undefined) bad = true;
      else if (reachedAt === null && v >= goal) {
        reachedAt = step;
        if (!bayesian || stoppedAt !== null) break;
      }
    }
  }
  return { reachedAt, foundAt, loadPoints, badRecommendation: bad, stoppedAt, goodAtStop, ms: performance.now() - started };
}

interface Prepared {
  landscape: Landscape;
  space: SearchSpace;
  n: number;
  truths: Map<number, { truth: Map<string, number | null>; best: number; feasible: number; near: number }>;
}

const prepared = new Map<string, Prepared>();

function prepare(dir: string, file: string, targets?: number[]): Prepared {
  const cached = prepared.get(file);
  if (cached && (!targets || targets.every((t) => cached.truths.has(t)))) return cached;
  const landscape = parseLandscape(readFileSync(join(dir, file), 'utf8'), file);
  const space = landscapeSpace(landscape);
  const missing = missingConfigs(landscape, space);
  if (missing.length) throw new Error(`${file}: ${missing.length} configurations of its space have no rows`);
  const configs = enumerateSpace(space);
  const truths: Prepared['truths'] = new Map();
  for (const target of targets ?? chooseTargets(landscape, space)) {
    const truth = new Map<string, number | null>();
    for (const c of configs) {
      const r = replayMeasure(landscape, c, { targetP99Ms: target });
      truth.set(configKey(c), r.bestIndex === null ? null : r.points[r.bestIndex]!.throughputIps);
    }
    const values = [...truth.values()].filter((v): v is number => v !== null);
    const best = Math.max(...values);
    truths.set(target, { truth, best, feasible: values.length, near: values.filter((v) => v >= 0.98 * best).length });
  }
  const p = { landscape, space, n: configs.length, truths };
  prepared.set(file, p);
  return p;
}

function runTask(dir: string, task: Task, seeds: number, budgetShare: number): TaskResult {
  const p = prepare(dir, task.file, [task.target]);
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

function summarize(r: TaskResult): { row: string; verdict: string | null } {
  const reached = r.runs.map((x) => x.reachedAt ?? Infinity).sort((a, b) => a - b);
  const med = quantile(reached, 0.5);
  const p90 = quantile(reached, 0.9);
  const share = r.runs.filter((x) => x.reachedAt !== null).length / r.runs.length;
  const found = quantile(r.runs.map((x) => x.foundAt ?? Infinity).sort((a, b) => a - b), 0.5);
  const points = r.runs.reduce((s, x) => s + x.loadPoints, 0) / r.runs.length;
  const bad = r.runs.filter((x) => x.badRecommendation).length;
  const ms = r.runs.reduce((s, x) => s + x.ms, 0) / r.runs.length;
  const fmt = (x: number) => (Number.isFinite(x) ? String(Math.round(x * 10) / 10) : `>${r.budget}`);
  let stop = '';
  if (r.strategy === 'bayesian') {
    const at = r.runs.map((x) => x.stoppedAt ?? Infinity).sort((a, b) => a - b);
    const good = r.runs.filter((x) => x.stoppedAt === null ? x.reachedAt !== null : x.goodAtStop).length;
    stop = `${fmt(quantile(at, 0.5))} (${Math.round((100 * good) / r.runs.length)}% ok)`;
  }
  const name = r.file.replace(/\.csv$/, '');
  const row = [pad(r.strategy, 9, true), pad(name, 14, true), pad(r.n, 4), pad(r.target, 5), pad(r.noise, 5),
    pad(fmt(med), 7), pad(Number.isFinite(med) ? `${((100 * med) / r.n).toFixed(1)}%` : '-', 6), pad(fmt(p90), 6),
    pad(`${Math.round(share * 100)}%`, 5), pad(fmt(found), 6), pad(points.toFixed(1), 7), pad(bad ? `${bad}/${r.runs.length}` : 'none', 7),
    pad(stop, 15), pad(ms.toFixed(0), 7)].join(' ');
  let verdict: string | null = null;
  if (r.strategy === 'bayesian' && r.n >= 100) {
    const ok = Number.isFinite(med) && med <= 0.08 * r.n && bad === 0;
    verdict = `${ok ? 'MET   ' : 'MISSED'} ${name} p99 ${r.target} ms, noise ${r.noise}: median ${fmt(med)} configurations (goal <= ${(0.08 * r.n).toFixed(1)}), infeasible recommendations: ${bad}`;
  }
  return { row, verdict };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const files = readdirSync(args.dir).filter((f) => f.endsWith('.csv')).sort()
    .filter((f) => args.only.length === 0 || args.only.some((o) => f.includes(o)));
  if (files.length === 0) throw new Error(`no landscapes (*.csv) in ${args.dir}`);
  const t0 = performance.now();
  const tasks: Task[] = [];
  for (const file of files) {
    const p = prepare(args.dir, file);
    for (const [target, t] of p.truths) {
      console.log(`# ${file}: ${p.n} configurations; p99 target ${target} ms: ${t.feasible} feasible, best ${t.best.toFixed(1)}/s, ${t.near} within 2% of it`);
      for (const strategy of args.strategies) for (const noise of [0, 0.05]) tasks.push({ file, target, strategy, noise });
    }
  }
  // Longest first (bayesian and grid on the largest landscapes), so the workers finish together.
  const cost = (t: Task) => prepared.get(t.file)!.n * (t.strategy === 'bayesian' ? 20 : t.strategy === 'grid' ? 3 : 1) * (1 + t.noise * 20);
  const queue = [...tasks].sort((a, b) => cost(b) - cost(a));
  const results = new Map<Task, TaskResult>();
  await Promise.all(Array.from({ length: Math.min(args.workers, queue.length) }, async () => {
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { dir: args.dir, seeds: args.seeds, budgetShare: args.budgetShare } });
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
  const header = [pad('strategy', 9, true), pad('landscape', 14, true), pad('N', 4), pad('p99', 5), pad('noise', 5),
    pad('median', 7), pad('(%N)', 6), pad('p90', 6), pad('reach', 5), pad('found', 6), pad('points', 7), pad('bad rec', 7),
    pad('early stop', 15), pad('ms/run', 7)].join(' ');
  const lines: string[] = [];
  const verdicts: string[] = [];
  for (const task of tasks) {
    const s = summarize(results.get(task)!);
    lines.push(s.row);
    if (s.verdict) verdicts.push(s.verdict);
  }
  console.log(`\n${header}\n${lines.join('\n')}\n`);
  console.log([
    'median, p90: configurations measured until the recommendation is within 2% of the true best (">B": not within the budget B);',
    'reach: share of seeds that get there within the budget; found: median configurations until one within 2% is measured',
    '(under noise the recommendation can still be a lucky measurement of another); points: load points measured until reach (or the budget);',
    'bad rec: seeds where some recommendation was infeasible in the noise-free landscape;',
    'early stop (bayesian): median trials when the expected-improvement rule would stop the run, and the share of seeds whose recommendation is then within 2%.',
  ].join('\n'));
  if (verdicts.length) console.log(`\nIssue targets (bayesian, landscapes of >= 100 configurations: median <= 8% of N, no infeasible recommendation):\n${verdicts.join('\n')}`);
  console.log(`\n${args.seeds} seeds; budget ${Math.round(args.budgetShare * 100)}% of N (grid: N); ${args.workers} workers; ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

if (isMainThread) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
} else {
  const { dir, seeds, budgetShare } = workerData as { dir: string; seeds: number; budgetShare: number };
  parentPort!.on('message', (task: Task) => parentPort!.postMessage(runTask(dir, task, seeds, budgetShare)));
}
