/**
 * What a quarter of the space can reach on each measured landscape, whatever the strategy:
 * the evidence behind bench/search's targets. For each landscape and p99 target (the
 * search bench's: chooseTargets), with the budget B = ceil(budget share x N):
 *
 * - near: the configurations within 2% of the best feasible (noise-free replay);
 * - random: the chance that B configurations drawn at random include one of them
 *   (hypergeometric), what random search gets noise-free;
 * - structure oracle: a strategy that knows the landscape's main effects (an additive model
 *   of log throughput over the dimensions' values; each configuration predicted from all the
 *   others, so no cell judges itself:
 *   "FP16 is 20% faster, max batch 32 beats 8 ...") but not the cells, and measures the B
 *   configurations that model ranks highest. A miss there means the best is an interaction
 *   or an outlier cell that no smooth model of the space predicts;
 * - with 5% replay noise (bench/search's --noise 0.05): how often one measurement of the best
 *   finds it at the load point it has noise-free (its p99 there may sit just under the
 *   target), and how often measuring the best and the best configuration below 2% once each
 *   ranks them right: what even an oracle that measures the right two configurations gets;
 * - for two recordings of the same grid (the h100 files), how one predicts the other:
 *   the rank correlation of the configurations' throughputs and where each best ranks in
 *   the other recording. A "best" that the other recording ranks low is noise, not structure.
 *
 *   npm run build && node dist/bench/search-reach.js [--budget-share 0.25] [FILE.csv ...]
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { landscapeSpace, parseLandscape } from '../src/landscape/csv.js';
import { replayMeasure } from '../src/landscape/replay.js';
import { enumerateSpace } from '../src/search/space.js';
import type { SearchSpace, ServingConfig } from '../src/domain/serving.js';
import { configKey } from '../src/domain/serving.js';
import { chooseTargets, noiseFreeTruth, short } from './search.js';

const DEFAULT_FILES = [
  join('bench', 'landscapes', 'embedded-tiny-resnet-cpu.csv'),
  join('bench', 'landscapes', 'h100-resnet50-p15.csv'),
  join('bench', 'landscapes', 'h100-resnet50-p30.csv'),
  join('..', 'shared', 'landscapes', 'vit_b_16_h200.csv'),
];

interface Truth {
  configs: ServingConfig[];
  /** Noise-free throughput at the target by configKey; null = infeasible. */
  ips: Map<string, number | null>;
}

function truthAt(path: string, target: number): Truth & { space: SearchSpace; landscape: ReturnType<typeof parseLandscape> } {
  const landscape = parseLandscape(readFileSync(path, 'utf8'), basename(path));
  const space = landscapeSpace(landscape);
  const configs = enumerateSpace(space);
  return { configs, ips: noiseFreeTruth(landscape, configs, target), space, landscape };
}

const NOISE = 0.05;
const DRAWS = 400;

/** Shares of DRAWS noisy single measurements: the best seen at its noise-free load point; best and rival ranked right. */
function underNoise(t: ReturnType<typeof truthAt>, target: number, best: ServingConfig, rival: ServingConfig | null): { atPoint: number; ranked: number | null } {
  const clean = replayMeasure(t.landscape, best, { targetP99Ms: target });
  const cleanC = clean.points[clean.bestIndex!]!.concurrency;
  let atPoint = 0;
  let ranked = 0;
  const value = (c: ServingConfig, seed: number) => {
    const r = replayMeasure(t.landscape, c, { targetP99Ms: target, noise: NOISE, seed, confirmKnee: true });
    return { r, v: r.bestIndex === null ? 0 : r.points[r.bestIndex]!.throughputIps };
  };
  for (let seed = 0; seed < DRAWS; seed++) {
    const b = value(best, seed);
    if (b.r.bestIndex !== null && b.r.points[b.r.bestIndex]!.concurrency === cleanC) atPoint++;
    if (rival && b.v > value(rival, seed).v) ranked++;
  }
  return { atPoint: atPoint / DRAWS, ranked: rival ? ranked / DRAWS : null };
}

/** log C(n, k). */
function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 0; i < k; i++) s += Math.log(n - i) - Math.log(i + 1);
  return s;
}

/** The dimensions' values of a configuration, as levels of an additive model. */
const levels = (c: ServingConfig): string[] =>
  [`p${c.precision}`, `b${c.maxBatchSize}`, `d${c.maxQueueDelayUs}`, `i${c.instanceCount}`, `s${c.preferredBatchSizes.join('+')}`];

/**
 * Main effects of log throughput (backfitting), fitted on the feasible configurations but
 * `leaveOut`; predicts every configuration.
 */
function additive(t: Truth, leaveOut?: string): Map<string, number> {
  const rows = t.configs.filter((c) => t.ips.get(configKey(c)) != null && configKey(c) !== leaveOut).map((c) => ({ lv: levels(c), y: Math.log(t.ips.get(configKey(c))!) }));
  const mu = rows.reduce((s, r) => s + r.y, 0) / rows.length;
  const effect = new Map<string, number>();
  const fx = (lv: string[]) => lv.reduce((s, l) => s + (effect.get(l) ?? 0), mu);
  for (let iter = 0; iter < 50; iter++) {
    for (let d = 0; d < 5; d++) {
      const sum = new Map<string, { s: number; n: number }>();
      for (const r of rows) {
        const l = r.lv[d]!;
        const resid = r.y - fx(r.lv) + (effect.get(l) ?? 0);
        const a = sum.get(l) ?? { s: 0, n: 0 };
        a.s += resid;
        a.n++;
        sum.set(l, a);
      }
      for (const [l, a] of sum) effect.set(l, a.s / a.n);
    }
  }
  return new Map(t.configs.map((c) => [configKey(c), fx(levels(c))]));
}

/** Spearman rank correlation over the configurations feasible in both. */
function spearman(a: Map<string, number | null>, b: Map<string, number | null>): number {
  const keys = [...a.keys()].filter((k) => a.get(k) != null && b.get(k) != null);
  const rank = (m: Map<string, number | null>) => {
    const sorted = [...keys].sort((x, y) => m.get(x)! - m.get(y)!);
    return new Map(sorted.map((k, i) => [k, i]));
  };
  const ra = rank(a), rb = rank(b);
  const n = keys.length;
  const d2 = keys.reduce((s, k) => s + (ra.get(k)! - rb.get(k)!) ** 2, 0);
  return 1 - (6 * d2) / (n * (n * n - 1));
}


function main(): void {
  const argv = process.argv.slice(2);
  let share = 0.25;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--budget-share') share = Number(argv[++i]);
    else files.push(argv[i]!);
  }
  const truths = new Map<string, Truth & { space: SearchSpace }>();
  for (const path of files.length ? files : DEFAULT_FILES) {
    const landscape = parseLandscape(readFileSync(path, 'utf8'), basename(path));
    for (const target of chooseTargets(landscape, landscapeSpace(landscape))) {
      const t = truthAt(path, target);
      truths.set(`${basename(path)}@${target}`, t);
      const n = t.configs.length;
      const budget = Math.ceil(share * n);
      const feasible = t.configs.filter((c) => t.ips.get(configKey(c)) != null);
      const best = Math.max(...feasible.map((c) => t.ips.get(configKey(c))!));
      const near = feasible.filter((c) => t.ips.get(configKey(c))! >= 0.98 * best);
      const pRandom = 1 - Math.exp(logChoose(n - near.length, budget) - logChoose(n, budget));
      // Each configuration as the main effects of all the others predict it: no cell judges itself.
      const model = new Map(t.configs.map((c) => [configKey(c), additive(t, configKey(c)).get(configKey(c))!]));
      const byModel = [...t.configs].sort((a, b) => model.get(configKey(b))! - model.get(configKey(a))!);
      const picked = byModel.slice(0, budget);
      const got = Math.max(...picked.map((c) => t.ips.get(configKey(c)) ?? 0));
      const rankOfBest = Math.min(...near.map((c) => byModel.indexOf(c) + 1));
      console.log(`${basename(path).replace(/\.csv$/, '')} p99 ${target} ms: N ${n}, B ${budget}, ${feasible.length} feasible; best ${short(near.sort((a, b) => t.ips.get(configKey(b))! - t.ips.get(configKey(a))!)[0]!)} ${best.toFixed(0)}/s; ` +
        `${near.length} within 2% (${near.map(short).join(', ')}); next below: ${(100 * Math.max(...feasible.filter((c) => !near.includes(c)).map((c) => t.ips.get(configKey(c))!)) / best).toFixed(1)}%`);
      console.log(`   random search at B: ${(100 * pRandom).toFixed(0)}%; structure oracle (B best by main effects): ${(100 * got / best).toFixed(1)}% of the best ${got >= 0.98 * best ? '(within 2%)' : '(MISS)'}, the best is its #${rankOfBest} of ${n}`);
      const below = feasible.filter((c) => !near.includes(c)).sort((a, b) => t.ips.get(configKey(b))! - t.ips.get(configKey(a))!)[0] ?? null;
      const u = underNoise(t, target, near[0]!, below);
      console.log(`   noise ${NOISE}: one measurement of the best finds its load point in ${(100 * u.atPoint).toFixed(0)}%` +
        (below ? `; measured once each, it beats the next below 2% (${short(below)}, ${(100 * t.ips.get(configKey(below))! / best).toFixed(1)}%) in ${(100 * u.ranked!).toFixed(0)}%` : ''));
    }
  }
  // Two recordings of one grid (same space): how well does one predict the other?
  const h15 = [...truths.entries()].filter(([k]) => k.startsWith('h100-resnet50-p15'));
  const h30 = [...truths.entries()].filter(([k]) => k.startsWith('h100-resnet50-p30'));
  for (let i = 0; i < Math.min(h15.length, h30.length); i++) {
    const [ka, a] = h15[i]!;
    const [kb, b] = h30[i]!;
    const rankIn = (m: Map<string, number | null>, key: string) => 1 + [...m.values()].filter((v) => v != null && v > (m.get(key) ?? -1)).length;
    const bestOf = (m: Map<string, number | null>) => [...m.entries()].reduce((x, y) => ((y[1] ?? -1) > (x[1] ?? -1) ? y : x))[0];
    const ba = bestOf(a.ips), bb = bestOf(b.ips);
    const pct = (m: Map<string, number | null>, k: string) => `${(100 * (m.get(k) ?? 0) / m.get(bestOf(m))!).toFixed(0)}%`;
    console.log(`two recordings of one grid, ${ka} vs ${kb}: Spearman ${spearman(a.ips, b.ips).toFixed(2)}; ${ka}'s best is #${rankIn(b.ips, ba)} (${pct(b.ips, ba)}) in ${kb}; ${kb}'s best is #${rankIn(a.ips, bb)} (${pct(a.ips, bb)}) in ${ka}`);
  }
}

main();
