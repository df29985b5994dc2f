/**
 * Bayesian search: two Gaussian processes over the mixed space, a constrained expected
 * improvement over every untried configuration, and a small designed start.
 *
 * Inputs: max_batch_size, queue delay and instance count on log scales normalized to
 * [0, 1] (delay as log(1 + delay/100 µs), so 0 and 50 µs are neighbours while 1 and 10 ms
 * are not); precision and preferred-batch-size sets as categorical dimensions. A dimension
 * with one value in the space is left out.
 *
 * Models (gp.ts: Matérn-5/2, per-dimension lengthscales, fitted noise):
 * - objective: log throughput of the COMPLETE trials. Improvement in logs is relative
 *   improvement, so EI reads as "expected fraction gained". In small spaces (SMALL_SPACE)
 *   its posterior mean and variance are pooled with a main-effects model's
 *   (main-effects.ts, weight MAIN_EFFECTS_WEIGHT): a sum of per-dimension terms, so a drop
 *   lands on what the poor measurements share (2 instances, say) rather than on every
 *   configuration near one of them (all of FP16), and a value never measured keeps a
 *   fixed-scale prior spread where the GP's is scaled to the few measurements' own.
 * - feasibility: log(p99 / target). INFEASIBLE trials enter with their lowest p99 (> 0).
 *   A COMPLETE trial's p99 is taken where the load search pushed it near the target, so it
 *   says little about the margin at light load: it enters as at most log(0.8) (clearly
 *   feasible). FAILED and SKIPPED trials enter as infeasible, log(2): the region that broke
 *   the server (or lacks a precision) is avoided, not retried. P(feasible) = P(f < 0).
 *
 * Choice of the next configuration (all deterministic under the seed):
 * 1. the designed initial set (initialDesign), in order, until it is measured: for each
 *    precision the configuration nearest the centre of the ordinal dimensions, then
 *    greedy maximin points (space-filling, towards the corners);
 * 2. while no trial is feasible: the untried configuration most likely to be feasible;
 * 3. then the maximum of log EI + log P(feasible) (optuna's constrained log EI), with the
 *    incumbent being the best posterior mean among the feasible trials (noise-aware).
 *    Every second ask (`localEvery`; every ask in small spaces), the choice is limited to the untried neighbours of
 *    that incumbent (one step in one dimension, or another precision), when it has any:
 *    near the optimum, configurations differ by a few percent, less than the model can
 *    tell apart from measurement noise, and the neighbourhood is where they are. It is
 *    the quick search's move, ranked by the same acquisition. Steps along a dimension the
 *    model finds flat are skipped: they give near-copies of the incumbent, whose noisy
 *    measurements would mostly compete for the recommendation by luck.
 * Null when every configuration of the space has been tried.
 *
 * Light-load prior: a configuration of one precision with at least the queue delay and
 * max_batch_size of one that missed the target gets a tenth of the modelled P(feasible)
 * (lightLoadDominance): one request waits out the whole delay, so it should miss too.
 *
 * Barely feasible trials have tiny throughputs whose logs would dominate the objective
 * fit; values below a quarter of the best measured are raised to it.
 *
 * The p99 target comes from the constructor (the CLI passes it). Without it, it is
 * inferred from the history: between the highest p99 of a COMPLETE trial and the lowest
 * of an INFEASIBLE one.
 */
import { GaussianProcess, logExpectedImprovement, logNormCdf, type GpHyper, type GpPoint } from './gp.js';
import { MainEffectsModel } from './main-effects.js';
import { neighbours } from './quick.js';
import { seededRng, shuffled } from './rng.js';
import { enumerateSpace } from './space.js';
import type { SearchSpace, ServingConfig } from '../domain/serving.js';
import type { Strategy } from './types.js';
import type { TrialRecord } from '../domain/trial.js';
import { configKey } from '../domain/serving.js';

export interface BayesianOptions {
  /** The p99 target (ms) trials are judged against. */
  targetP99Ms?: number;
  /** Size of the designed initial set (default: designSize(space size)). */
  initialPoints?: number;
  /**
   * Every how many asks the choice is limited to the incumbent's neighbours (0 = never).
   * Default 2; 1 (every ask) in spaces of up to SMALL_SPACE configurations.
   */
  localEvery?: number;
  /**
   * Local steps skip neighbours along ordinal dimensions whose fitted lengthscale is at
   * least this (default 1: the dimension's whole range moves the objective little).
   */
  flatLengthscale?: number;
  /**
   * Weight of the main-effects model in the objective's prediction (0 = the Gaussian process
   * alone); default defaultMainEffectsWeight(space size).
   */
  mainEffectsWeight?: number;
}

export type AskPhase = 'design' | 'feasibility' | 'improvement' | 'exhausted';

export interface Analysis {
  phase: AskPhase;
  next: ServingConfig | null;
  /**
   * In the improvement phase, the largest EI × P(feasible) over the candidates, in log
   * throughput: roughly the expected relative gain of the best next trial (0.01 = 1%).
   */
  maxExpectedGain: number | null;
  /** Best measured throughput so far (a feasible trial), or null. */
  bestIps: number | null;
  /** In the improvement phase, log(EI × P(feasible)) of every untried configuration, by configKey. */
  scores?: Map<string, number>;
  /** The fitted hyperparameters, for diagnostics. */
  hyper?: { objective?: GpHyper; feasibility?: GpHyper; objectiveNoiseSd?: number };
}

const DELAY_UNIT_US = 100;
const FEASIBLE_CAP = Math.log(0.8);
const FAILED_Z = Math.log(2);
const OBJECTIVE_RANGE = Math.log(4);
/** log of the factor on P(feasible) of a configuration lightLoadDominance says misses the target. */
const DOMINATED_LOG_P = Math.log(0.1);

/**
 * Spaces of up to this many configurations are small: a quarter of one is a dozen
 * measurements or fewer, too few for the model to explore with. There the design is the
 * centre in each of two precisions (designSize's 2) and every ask after it is one of the
 * incumbent's untried neighbours, ranked by the model (localEvery 1), the steps by which
 * the few measurements climb to a good configuration (bench/search, measured landscapes
 * and 48-configuration cuts of the ViT-B/16 one: see bench/landscapes/README.md).
 */
export const SMALL_SPACE = 56;

/** How often the choice is limited to the incumbent's neighbours by default: every ask in small spaces, every second one otherwise. */
export function defaultLocalEvery(n: number): number {
  return n <= SMALL_SPACE ? 1 : 2;
}

/**
 * Weight of the main-effects model (main-effects.ts) in small spaces: the objective's
 * posterior mean and variance at each configuration are 0.9 × the Gaussian process's plus
 * 0.1 × the main-effects model's. The Gaussian process alone reads a poor design point as
 * "every configuration like it is poor", so one FP16 measurement at 2 instances kept the
 * search in FP32; the main effects spread the drop over what the poor points share, and give
 * a value never measured a fixed prior spread (a factor of about 1.6 in throughput), often larger than the
 * GP's, which is scaled to the few measurements' own: so even a tenth of it steers which
 * unmeasured values get tried. Measured on bench/search (bench/landscapes/README.md): 0.1
 * to 0.2 helped on the h200-triton landscapes without costing the h100 and embedded ones;
 * 0.5 and more, or the main effects alone, cost the h100 recordings, whose best is an
 * interaction (FP16, max batch 32, 2 instances), and 0.1 cost the 48-configuration ViT cuts
 * least.
 */
export const MAIN_EFFECTS_WEIGHT = 0.1;

/** The main-effects model's weight by default: MAIN_EFFECTS_WEIGHT in small spaces, none otherwise (unmeasured there). */
export function defaultMainEffectsWeight(n: number): number {
  return n <= SMALL_SPACE ? MAIN_EFFECTS_WEIGHT : 0;
}

/**
 * Initial-design size for a space of n configurations: about ⅓·√n, between 2 and 6. Small
 * spaces (up to SMALL_SPACE) get 2: a third designed point, a maximin corner (smallest
 * batch with the longest delay, say), is rarely good on a serving landscape and costs a
 * twelfth of the budget there.
 */
export function designSize(n: number): number {
  return Math.max(1, Math.min(n, Math.max(2, Math.min(6, Math.round(Math.sqrt(n) / 3)))));
}

interface Encoder {
  encode(c: ServingConfig): GpPoint;
}

function logScale(values: readonly number[], f: (v: number) => number): ((v: number) => number) | null {
  if (values.length < 2) return null;
  const lo = f(Math.min(...values));
  const hi = f(Math.max(...values));
  if (!(hi > lo)) return null;
  return (v: number) => (f(v) - lo) / (hi - lo);
}

export function makeEncoder(space: SearchSpace): Encoder {
  const ord: ((c: ServingConfig) => number)[] = [];
  const mbs = logScale(space.maxBatchSizes, Math.log);
  if (mbs) ord.push((c) => mbs(c.maxBatchSize));
  const delay = logScale(space.maxQueueDelaysUs, (d) => Math.log1p(d / DELAY_UNIT_US));
  // A config without dynamic batching (not in a space, but in a history) sits at delay 0.
  if (delay) ord.push((c) => delay(c.maxQueueDelayUs ?? Math.min(...space.maxQueueDelaysUs)));
  const inst = logScale(space.instanceCounts, Math.log);
  if (inst) ord.push((c) => inst(c.instanceCount));
  const cat: ((c: ServingConfig) => number)[] = [];
  if (space.precisions.length > 1) cat.push((c) => space.precisions.indexOf(c.precision));
  const pbs = space.preferredBatchSizes ?? [[]];
  if (pbs.length > 1) cat.push((c) => pbs.findIndex((p) => p.join('+') === c.preferredBatchSizes.join('+')));
  return { encode: (c) => ({ ord: ord.map((f) => f(c)), cat: cat.map((f) => f(c)) }) };
}

function distance2(a: GpPoint, b: GpPoint): number {
  let d = 0;
  for (let i = 0; i < a.ord.length; i++) d += (a.ord[i]! - b.ord[i]!) ** 2;
  for (let j = 0; j < a.cat.length; j++) if (a.cat[j] !== b.cat[j]) d += 1;
  return d;
}

/**
 * The designed initial set, a function of (space, seed) only: the configuration nearest
 * the centre of the ordinal dimensions for each precision (in an order the seed picks),
 * then greedy maximin points (each as far as possible from those chosen so far; among
 * near-ties, within 10% of the largest distance, the seed picks).
 */
export function initialDesign(space: SearchSpace, seed: number, size?: number): ServingConfig[] {
  const key = `${JSON.stringify(space)}|${seed}|${size ?? ''}`;
  let design = DESIGNS.get(key);
  if (!design) {
    design = computeDesign(space, seed, size);
    if (DESIGNS.size > 64) DESIGNS.clear();
    DESIGNS.set(key, design);
  }
  return design.map((c) => ({ ...c, preferredBatchSizes: [...c.preferredBatchSizes] }));
}

// A pure function of its arguments, asked on every ask: memoized.
const DESIGNS = new Map<string, ServingConfig[]>();

function computeDesign(space: SearchSpace, seed: number, size?: number): ServingConfig[] {
  const all = enumerateSpace(space);
  const n = Math.min(all.length, size ?? designSize(all.length));
  if (n === 0) return [];
  const enc = makeEncoder(space);
  const rand = seededRng(seed, 'bayesian-design');
  const order = shuffled(all, rand);
  const pts = order.map((c) => enc.encode(c));
  const chosen: number[] = [];
  for (const precision of shuffled(space.precisions, rand)) {
    if (chosen.length >= n) break;
    let first = -1;
    let firstScore = Infinity;
    pts.forEach((p, i) => {
      if (order[i]!.precision !== precision) return;
      const d = p.ord.reduce((s, x) => s + (x - 0.5) ** 2, 0);
      if (d < firstScore - 1e-12) {
        firstScore = d;
        first = i;
      }
    });
    if (first >= 0) chosen.push(first);
  }
  const minD = pts.map((p) => Math.min(...chosen.map((c) => distance2(p, pts[c]!))));
  while (chosen.length < n) {
    const far = Math.max(...minD.filter((_, i) => !chosen.includes(i)));
    const near = minD.map((d, i) => (!chosen.includes(i) && d >= 0.9 * far - 1e-12 ? i : -1)).filter((i) => i >= 0);
    const pick = near[Math.floor(rand() * near.length)]!;
    chosen.push(pick);
    for (let i = 0; i < pts.length; i++) minD[i] = Math.min(minD[i]!, distance2(pts[i]!, pts[pick]!));
  }
  return chosen.map((i) => order[i]!);
}

/** The p99 target: given, or inferred from the history (null when nothing tells). */
export function inferTarget(history: readonly TrialRecord[]): number | null {
  let lo = -Infinity;
  let hi = Infinity;
  for (const t of history) {
    if (t.p99Ms === null || !(t.p99Ms > 0)) continue;
    if (t.state === 'COMPLETE') lo = Math.max(lo, t.p99Ms);
    if (t.state === 'INFEASIBLE') hi = Math.min(hi, t.p99Ms);
  }
  if (lo > 0 && hi < Infinity) return lo < hi ? Math.sqrt(lo * hi) : lo;
  if (lo > 0) return lo;
  if (hi < Infinity) return hi;
  return null;
}

function feasibilityValue(t: TrialRecord, target: number | null): number | null {
  const z = t.p99Ms !== null && t.p99Ms > 0 && target !== null ? Math.log(t.p99Ms / target) : null;
  switch (t.state) {
    case 'COMPLETE':
      return Math.min(z ?? FEASIBLE_CAP, FEASIBLE_CAP);
    case 'INFEASIBLE':
      return Math.max(z ?? FAILED_Z, 1e-3);
    case 'FAILED':
    case 'SKIPPED':
      return FAILED_Z;
    default:
      return null; // RUNNING: no result yet
  }
}

export class BayesianStrategy implements Strategy {
  readonly name = 'bayesian';

  constructor(private readonly opts: BayesianOptions = {}) {}

  ask(history: readonly TrialRecord[], space: SearchSpace, seed: number): ServingConfig | null {
    return this.analyze(history, space, seed).next;
  }

  /**
   * Untried configurations, most promising first by the model's acquisition (the given
   * order where the model has not started: design phase, nothing feasible yet).
   */
  rank(candidates: readonly ServingConfig[], history: readonly TrialRecord[], space: SearchSpace, seed: number): ServingConfig[] {
    const scores = this.analyze(history, space, seed).scores;
    if (!scores) return [...candidates];
    const score = (c: ServingConfig) => scores.get(configKey(c)) ?? -Infinity;
    return candidates.map((c, i) => ({ c, i })).sort((a, b) => score(b.c) - score(a.c) || a.i - b.i).map((x) => x.c);
  }

  /** Why the search should stop now (negligible expected improvement), or null. */
  earlyStopReason(history: readonly TrialRecord[], space: SearchSpace, seed: number): string | null {
    return shouldStopEarly(history, space, { seed, ...this.opts });
  }

  /**
   * The decision behind ask, with the figures early stopping reads. Memoized: the loop asks
   * for the same history (and its prefixes, for early stopping) several times, and each
   * answer costs two model fits.
   */
  analyze(history: readonly TrialRecord[], space: SearchSpace, seed: number): Analysis {
    const key = JSON.stringify([this.opts, space, seed, history]);
    const hit = ANALYSES.get(key);
    if (hit) return hit;
    const a = this.computeAnalysis(history, space, seed);
    if (ANALYSES.size >= 16) ANALYSES.delete(ANALYSES.keys().next().value!);
    ANALYSES.set(key, a);
    return a;
  }

  private computeAnalysis(history: readonly TrialRecord[], space: SearchSpace, seed: number): Analysis {
    const all = enumerateSpace(space);
    const valid = new Map(all.map((c) => [configKey(c), c]));
    const tried = new Set(history.map((t) => configKey(t.config)));
    const candidates = shuffled(all.filter((c) => !tried.has(configKey(c))), seededRng(seed, 'bayesian-ties'));
    const bestIps = history.reduce<number | null>((b, t) => (t.state === 'COMPLETE' && t.objectiveIps !== null && (b === null || t.objectiveIps > b) ? t.objectiveIps : b), null);
    if (candidates.length === 0) return { phase: 'exhausted', next: null, maxExpectedGain: null, bestIps };

    const design = initialDesign(space, seed, this.opts.initialPoints);
    const pending = design.find((c) => !tried.has(configKey(c)));
    if (pending) return { phase: 'design', next: pending, maxExpectedGain: null, bestIps };

    const enc = makeEncoder(space);
    const target = this.opts.targetP99Ms ?? inferTarget(history);
    const inSpace = history.filter((t) => valid.has(configKey(t.config)));
    const fx: GpPoint[] = [];
    const fz: number[] = [];
    const ox: GpPoint[] = [];
    const oy: number[] = [];
    for (const t of inSpace) {
      const z = feasibilityValue(t, target);
      if (z === null) continue;
      const p = enc.encode(t.config);
      fx.push(p);
      fz.push(z);
      if (t.state === 'COMPLETE' && t.objectiveIps !== null && t.objectiveIps > 0) {
        ox.push(p);
        oy.push(Math.log(t.objectiveIps));
      }
    }
    const cx = candidates.map((c) => enc.encode(c));
    if (fx.length === 0) return { phase: 'feasibility', next: candidates[0]!, maxExpectedGain: null, bestIps };

    const feas = GaussianProcess.fit(fx, fz, { minScale: 0.1 });
    const fp = feas.predict(cx);
    const logPf = withLightLoadPrior(fp.mean.map((m, i) => logNormCdf(-m / Math.sqrt(fp.variance[i]!))), candidates, inSpace);

    if (ox.length === 0) {
      return { phase: 'feasibility', next: candidates[argmax(logPf)]!, maxExpectedGain: null, bestIps, hyper: { feasibility: feas.hyper } };
    }

    const floor = Math.max(...oy) - OBJECTIVE_RANGE;
    const oyFloored = oy.map((v) => Math.max(v, floor));
    const obj = GaussianProcess.fit(ox, oyFloored, { minScale: 0.05 });
    const weight = this.opts.mainEffectsWeight ?? defaultMainEffectsWeight(all.length);
    // The space's encodings give the main-effects model its levels; without it (large spaces) they are not needed.
    const spacePoints = weight > 0 ? all.map((c) => enc.encode(c)) : [];
    const both = objectivePrediction(obj, ox, oyFloored, [...ox, ...cx], weight, spacePoints);
    const observedMean = both.mean.slice(0, ox.length);
    const incumbent = Math.max(...observedMean);
    const op = { mean: both.mean.slice(ox.length), variance: both.variance.slice(ox.length) };
    const acq = op.mean.map((m, i) => logExpectedImprovement(m, Math.sqrt(op.variance[i]!), incumbent) + logPf[i]!);
    const globalBest = argmax(acq);
    let best = globalBest;
    const every = this.opts.localEvery ?? defaultLocalEvery(all.length);
    if (every > 0 && (history.length - design.length) % every === every - 1) {
      const feasibleIn = inSpace.filter((t) => t.state === 'COMPLETE' && t.objectiveIps !== null && t.objectiveIps > 0);
      const inc = feasibleIn[argmax(observedMean)]!.config;
      const flat = this.opts.flatLengthscale ?? 1;
      const incP = enc.encode(inc);
      // A step along a dimension the model finds flat yields a near-copy of the incumbent:
      // under noise, one more lottery ticket for the recommendation and little news.
      const informative = (n: ServingConfig): boolean => {
        const p = enc.encode(n);
        for (let i = 0; i < p.ord.length; i++) if (p.ord[i] !== incP.ord[i] && obj.hyper.lengthscales[i]! >= flat) return false;
        return true;
      };
      const near = new Set(neighbours(inc, space, valid).filter(informative).map(configKey));
      let lb = -1;
      candidates.forEach((c, i) => {
        if (near.has(configKey(c)) && (lb < 0 || acq[i]! > acq[lb]!)) lb = i;
      });
      if (lb >= 0) best = lb;
    }
    const scores = new Map(candidates.map((c, i) => [configKey(c), acq[i]!]));
    return { phase: 'improvement', next: candidates[best]!, maxExpectedGain: Math.exp(acq[globalBest]!), bestIps, scores, hyper: { objective: obj.hyper, feasibility: feas.hyper, objectiveNoiseSd: Math.sqrt(obj.noiseVariance) } };
  }
}

/**
 * The objective's posterior at `at`: the Gaussian process's, or with weight w > 0, means and
 * variances pooled (1 − w)·GP + w·main effects (main-effects.ts, fitted to the same points;
 * `space` gives each ordinal dimension's values).
 */
function objectivePrediction(gp: GaussianProcess, x: readonly GpPoint[], y: readonly number[], at: readonly GpPoint[], w: number, space: readonly GpPoint[]): { mean: number[]; variance: number[] } {
  const g = gp.predict(at);
  if (!(w > 0)) return g;
  const levels = (space[0]?.ord ?? []).map((_, i) => [...new Set(space.map((p) => p.ord[i]!))].sort((a, b) => a - b));
  const m = MainEffectsModel.fit(x, y, levels).predict(at);
  return { mean: g.mean.map((v, i) => (1 - w) * v + w * m.mean[i]!), variance: g.variance.map((v, i) => (1 - w) * v + w * m.variance[i]!) };
}

/**
 * Whether a configuration should miss the target because one measured did: at the lightest
 * load (one request in flight) a request waits out the whole queue delay unless
 * max_batch_size is 1, and a larger engine is no faster on one request; so a configuration of
 * the same precision with at least the queue delay and the max_batch_size (>= 2) of an
 * INFEASIBLE trial should miss too. True of every pair in the simulated landscapes and the
 * measured ViT-B/16 H200 one; not of the noisy CPU recording (embedded-tiny-resnet-cpu: 22
 * of 59 pairs), hence a prior on the feasibility model, not a rule that skips.
 */
export function lightLoadDominance(history: readonly TrialRecord[]): (c: ServingConfig) => boolean {
  const missed = history.filter((t) => t.state === 'INFEASIBLE' && t.config.maxBatchSize >= 2 && t.config.maxQueueDelayUs !== null);
  return (c) => missed.some((t) => t.config.precision === c.precision && c.maxBatchSize >= t.config.maxBatchSize && (c.maxQueueDelayUs ?? -1) >= t.config.maxQueueDelayUs!);
}

/**
 * The modelled log P(feasible) of each candidate with the light-load prior: the model knows
 * nothing of the batcher, so a candidate lightLoadDominance marks gets a tenth of its chance.
 */
export function withLightLoadPrior(logPf: readonly number[], candidates: readonly ServingConfig[], history: readonly TrialRecord[]): number[] {
  const dominated = lightLoadDominance(history);
  return logPf.map((l, i) => l + (dominated(candidates[i]!) ? DOMINATED_LOG_P : 0));
}

// A pure function of (options, space, seed, history): the latest answers, oldest evicted first.
const ANALYSES = new Map<string, Analysis>();

function argmax(xs: readonly number[]): number {
  let b = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[b]!) b = i;
  return b;
}

export interface EarlyStopOptions extends BayesianOptions {
  seed: number;
  /** Expected relative gain under which a trial is not worth it (default 0.005 = 0.5%). */
  minExpectedGain?: number;
  /** How many consecutive asks must all fall under it (default 3). */
  patience?: number;
}

/**
 * Early stopping: a reason to stop when, for the last `patience` asks (the history and its
 * prefixes one and two trials shorter), the best expected gain of the Bayesian model was
 * below `minExpectedGain` of the best throughput; null otherwise (also before the initial
 * design is measured and while nothing is feasible). Pure: the runner may call it with
 * any strategy's history to print why it stopped.
 */
export function shouldStopEarly(history: readonly TrialRecord[], space: SearchSpace, opts: EarlyStopOptions): string | null {
  const threshold = opts.minExpectedGain ?? 0.005;
  const patience = opts.patience ?? 3;
  const strategy = new BayesianStrategy(opts);
  const gains: number[] = [];
  for (let k = 0; k < patience; k++) {
    if (history.length - k < 1) return null;
    const a = strategy.analyze(history.slice(0, history.length - k), space, opts.seed);
    if (a.phase !== 'improvement' || a.maxExpectedGain === null || a.maxExpectedGain >= threshold) return null;
    gains.push(a.maxExpectedGain);
  }
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  return `expected improvement below ${pct(threshold)} of the best throughput for ${patience} consecutive trials (now ${pct(gains[0]!)})`;
}
