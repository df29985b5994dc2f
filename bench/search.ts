/**
 * Search benchmark: every strategy on every landscape in bench/landscapes, 20 seeds, with
 * and without replay noise, at two p99 targets per landscape. Run from the repository root:
 *
 *   npm run build && node dist/bench/search.js [--seeds 20] [--dir bench/landscapes]
 *     [--only sim-peaked] [--strategies bayesian,random] [--budget-share 0.25]
 *
 * For each run it counts the configurations measured until the recommendation (the best
 * COMPLETE trial so far, by its measured throughput) is within 2% of the true best
 * feasible throughput. "True" is the noise-free replay of every configuration: what a
 * perfect, noiseless measurement by tanalyze's load search reports. A run stops there or
 * at its budget (25% of the space; the whole space for grid). It also checks every
 * recommendation on the way against the noise-free landscape (infeasible there = a bad
 * recommendation).
 *
 * Targets: per landscape, the p99 at the lightest load of each configuration is taken, and
 * the targets are its 50th and 85th percentiles (two significant digits), so about half
 * and about 85% of the configurations are feasible.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { landscapeIndex, landscapeSpace, parseLandscape, type Landscape } from '../src/landscape/csv.js';
import { missingConfigs, replayMeasure } from '../src/landscape/replay.js';
import { STRATEGY_NAMES, strategyByName } from '../src/search/index.js';
import { enumerateSpace } from '../src/search/space.js';
import type { SearchSpace, ServingConfig, TrialRecord } from '../src/search/types.js';
import { configKey } from '../src/search/types.js';

interface Args {
  seeds: number;
  dir: string;
  only: string[];
  strategies: string[];
  budgetShare: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 20, dir: join('bench', 'landscapes'), only: [], strategies: [...STRATEGY_NAMES], budgetShare: 0.25 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${a}: missing value`);
    if (a === '--seeds') args.seeds = Number(v);
    else if (a === '--dir') args.dir = v;
    else if (a === '--only') args.only = v.split(',');
    else if (a === '--strategies') args.strategies = v.split(',');
    else if (a === '--budget-share') args.budgetShare = Number(v);
    else throw new Error(`unknown option ${a}; accepted: --seeds, --dir, --only, --strategies, --budget-share`);
    i++;
  }
  return args;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

const sig2 = (x: number) => Number(x.toPrecision(2));

/** The two targets: 50th and 85th percentiles of the configurations' lightest-load p99. */
export function chooseTargets(landscape: Landscape, space: SearchSpace): number[] {
  const index = landscapeIndex(landscape);
  const light = enumerateSpace(space).map((c) => index.get(configKey(c))![0]!.p99Ms).sort((a, b) => a - b);
  return [...new Set([sig2(quantile(light, 0.5)), sig2(quantile(light, 0.85))])];
}

interface RunResult {
  reachedAt: number | null;
  loadPoints: number;
  badRecommendation: boolean;
  ms: number;
}

function record(index: number, config: ServingConfig, result: ReturnType<typeof replayMeasure>): TrialRecord {
  if (result.bestIndex !== null) {
    const b = result.points[result.bestIndex]!;
    return { index, config, state: 'COMPLETE', objectiveIps: b.throughputIps, p99Ms: b.p99Ms, error: null };
  }
  const lowest = result.points.reduce((m, p) => Math.min(m, p.p99Ms), Infinity);
  return { index, config, state: 'INFEASIBLE', objectiveIps: null, p99Ms: Number.isFinite(lowest) ? lowest : null, error: 'above target' };
}

function runOnce(
  name: string, landscape: Landscape, space: SearchSpace, target: number, noise: number, seed: number,
  truth: Map<string, number | null>, goal: number, budget: number,
): RunResult {
  const started = performance.now();
  const strategy = strategyByName(name, { targetP99Ms: target });
  const history: TrialRecord[] = [];
  let loadPoints = 0;
  let bad = false;
  let best: TrialRecord | null = null;
  for (let step = 1; step <= budget; step++) {
    const c = strategy.ask(history, space, seed);
    if (c === null) break;
    const r = replayMeasure(landscape, c, { targetP99Ms: target, noise, seed });
    loadPoints += r.points.length;
    const t = record(history.length, c, r);
    history.push(t);
    if (t.state === 'COMPLETE' && (best === null || t.objectiveIps! > best.objectiveIps!)) best = t;
    if (best) {
      const v = truth.get(configKey(best.config));
      if (v === null || v === undefined) bad = true;
      else if (v >= goal) return { reachedAt: step, loadPoints, badRecommendation: bad, ms: performance.now() - started };
    }
  }
  return { reachedAt: null, loadPoints, badRecommendation: bad, ms: performance.now() - started };
}

function pad(s: string | number, n: number, left = false): string {
  const t = String(s);
  return left ? t.padEnd(n) : t.padStart(n);
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const files = readdirSync(args.dir).filter((f) => f.endsWith('.csv')).sort()
    .filter((f) => args.only.length === 0 || args.only.some((o) => f.includes(o)));
  if (files.length === 0) throw new Error(`no landscapes (*.csv) in ${args.dir}`);
  const header = [pad('strategy', 9, true), pad('landscape', 14, true), pad('N', 4), pad('p99', 6), pad('noise', 5),
    pad('median', 7), pad('(%N)', 6), pad('p90', 5), pad('reach', 6), pad('points', 7), pad('bad rec', 7), pad('ms/run', 7)].join(' ');
  const lines: string[] = [];
  const verdicts: string[] = [];
  const t0 = performance.now();
  for (const file of files) {
    const landscape = parseLandscape(readFileSync(join(args.dir, file), 'utf8'), file);
    const space = landscapeSpace(landscape);
    const missing = missingConfigs(landscape, space);
    if (missing.length) throw new Error(`${file}: ${missing.length} configurations of its space have no rows`);
    const configs = enumerateSpace(space);
    const n = configs.length;
    const name = file.replace(/\.csv$/, '');
    for (const target of chooseTargets(landscape, space)) {
      const truth = new Map<string, number | null>();
      for (const c of configs) {
        const r = replayMeasure(landscape, c, { targetP99Ms: target });
        truth.set(configKey(c), r.bestIndex === null ? null : r.points[r.bestIndex]!.throughputIps);
      }
      const values = [...truth.values()].filter((v): v is number => v !== null);
      const best = Math.max(...values);
      const goal = 0.98 * best;
      const near = values.filter((v) => v >= goal).length;
      console.log(`# ${name}: ${n} configurations, p99 target ${target} ms: ${values.length} feasible, best ${best.toFixed(1)}/s, ${near} within 2%`);
      for (const strategy of args.strategies) {
        for (const noise of [0, 0.05]) {
          const budget = strategy === 'grid' ? n : Math.ceil(args.budgetShare * n);
          const runs: RunResult[] = [];
          for (let seed = 0; seed < args.seeds; seed++) runs.push(runOnce(strategy, landscape, space, target, noise, seed, truth, goal, budget));
          const reached = runs.map((r) => r.reachedAt ?? Infinity).sort((a, b) => a - b);
          const med = quantile(reached, 0.5);
          const p90 = quantile(reached, 0.9);
          const share = runs.filter((r) => r.reachedAt !== null).length / runs.length;
          const points = runs.reduce((s, r) => s + r.loadPoints, 0) / runs.length;
          const bad = runs.filter((r) => r.badRecommendation).length;
          const ms = runs.reduce((s, r) => s + r.ms, 0) / runs.length;
          const fmt = (x: number) => (Number.isFinite(x) ? String(Math.round(x * 10) / 10) : `>${budget}`);
          const row = [pad(strategy, 9, true), pad(name, 14, true), pad(n, 4), pad(target, 6), pad(noise, 5),
            pad(fmt(med), 7), pad(Number.isFinite(med) ? `${((100 * med) / n).toFixed(1)}%` : '-', 6), pad(fmt(p90), 5),
            pad(`${Math.round(share * 100)}%`, 6), pad(points.toFixed(1), 7), pad(bad ? `${bad}/${runs.length}` : 'none', 7), pad(ms.toFixed(0), 7)].join(' ');
          lines.push(row);
          console.log(row);
          if (strategy === 'bayesian' && n >= 100) {
            const ok = Number.isFinite(med) && med <= 0.08 * n && bad === 0;
            verdicts.push(`${ok ? 'MET   ' : 'MISSED'} bayesian ${name} p99 ${target} noise ${noise}: median ${fmt(med)} configs (target <= ${(0.08 * n).toFixed(1)}), bad recommendations: ${bad}`);
          }
        }
      }
    }
  }
  console.log(`\n${header}\n${lines.join('\n')}\n`);
  if (verdicts.length) console.log(`Targets (bayesian, landscapes of >= 100 configurations: median <= 8% of N, no infeasible recommendation):\n${verdicts.join('\n')}`);
  console.log(`\n${args.seeds} seeds; budget ${Math.round(args.budgetShare * 100)}% of N (grid: N); ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main();
