/**
 * Load search for one configuration: which concurrency to measure next so as to find
 * the highest throughput whose p99 meets the target in few load points. Pure: a
 * function of the points measured so far, so an interrupted search resumes as is.
 *
 * Start at the lowest concurrency; double while the target holds and throughput still
 * grows; once a point misses, bisect between the highest passing and the lowest
 * failing concurrency until they are adjacent (or close, relative to their size).
 * Whether a point passes is domain/target.ts's rule (pointMeetsTarget), as everywhere.
 */
import { bestPointIndex, intervalVerdict, KEEP_UP_SHARE, keptUpWithOfferedRate, pointMeetsTarget } from '../domain/target.js';
import { measurementsOf } from '../domain/measurement.js';

export interface SearchPoint {
  concurrency: number;
  throughputIps: number;
  p99Ms: number;
  stable: boolean;
  /** A LoadPoint's stopReason: 'errors' and 'no-completions' points never meet the target. */
  stopReason?: string;
  /** An unreliable point (the client fell behind its schedule) never meets the target. */
  unreliable?: boolean;
  /** Relative spread (coefficient of variation) of throughput over the point's windows; absent = unknown (0). */
  throughputCv?: number;
  /** Separate measurements pooled into the point (absent = 1; repeat-point.ts). */
  measurements?: number;
  /** The p99 confidence interval (ms); absent (replayed and simulated points) = unknown. */
  p99CiMs?: [number, number];
}

export interface NextLoadOptions {
  targetP99Ms: number;
  minConcurrency?: number;
  maxConcurrency: number;
  /** Bisection stops when the bracket is within this fraction of its lower end (default 0.10). */
  tolerance?: number;
  /** A doubling that adds less than this fraction of throughput means saturation (default 0.05). */
  minGrowth?: number;
  /** Stop after this many points whatever else (default 24). */
  maxPoints?: number;
  /**
   * Confirm the knee (default true; false: the one-point rule): judge growth against the
   * points' noise and stop only after two flat points in a row, and before stopping, measure
   * the best point a second time (pooled into it: repeat-point.ts), and the failing point the
   * search ends on when its p99 interval reaches the target, at most MAX_REPEATS points.
   */
  confirmKnee?: boolean;
}

/**
 * Most points measured a second time in one search: the best point (whose pooled figures can
 * fall below another point's, measured once, which is then confirmed too) and a failing point
 * the search would end on while its interval reaches the target; two bound the cost.
 */
export const MAX_REPEATS = 2;

/** Endings after which the best point is measured again: those where the search found a knee. */
const CONFIRMABLE: ReadonlySet<DoneKind> = new Set(['saturated', 'bracketed', 'max-concurrency']);

/** Growth below this many standard deviations of the difference of two points' throughputs is flat. */
const GROWTH_SIGMAS = 2;

export type DoneKind = 'infeasible' | 'saturated' | 'max-concurrency' | 'max-rate' | 'bracketed' | 'budget' | 'client-limited';

/** The next concurrency to measure; with `repeat`, the index of the point it measures again (to be pooled into it). */
export type NextLoad = { concurrency: number; repeat?: number } | { done: true; reason: string; kind: DoneKind };

const fmt = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 100) / 100) : String(x));

function done(kind: DoneKind, reason: string): { done: true; reason: string; kind: DoneKind } {
  return { done: true, kind, reason: `${kind}: ${reason}` };
}

export function nextLoad(points: readonly SearchPoint[], opts: NextLoadOptions): NextLoad {
  const step = searchStep(points, opts);
  if (!('done' in step)) return step;
  const repeat = pointToRepeatBeforeEnd(points, opts, step.kind);
  return repeat === null ? step : { concurrency: points[repeat]!.concurrency, repeat };
}

/**
 * Before the search ends (`kind`): the index of the point to measure again first, or null to
 * end. Null with confirmKnee false, for a point measured twice already, and after MAX_REPEATS
 * points. (Replay asks it too, with 'bracketed', when its file holds no load between the
 * bracket's ends.)
 *
 * - A failing point the search would end on (the top of its bracket, or the lowest load when
 *   nothing met the target), when its p99 interval reaches down to the target. One spell of
 *   stalls fails a point that meets the target otherwise (on an H200, one configuration's
 *   point at concurrency 4 measured p99 20 ms in one run and 9-13 ms in four, and that run
 *   ended at concurrency 3); measured again and pooled, it either fails again or the search
 *   climbs on. Not a point that certainly fails, has no interval (replayed and simulated
 *   points) or failed its requests.
 * - Else, once the search has found its knee, the best point: the highest of several noisy
 *   ones, so more often than not a lucky one; measured again, its figures pool two spells of
 *   the machine instead of resting on one.
 */
export function pointToRepeatBeforeEnd(points: readonly SearchPoint[], opts: Pick<NextLoadOptions, 'targetP99Ms' | 'confirmKnee'>, kind: DoneKind): number | null {
  if (!(opts.confirmKnee ?? true)) return null;
  if (points.filter((p) => measurementsOf(p) > 1).length >= MAX_REPEATS) return null;
  const once = (i: number | null): number | null => (i !== null && measurementsOf(points[i]!) === 1 ? i : null);
  if (kind === 'bracketed' || kind === 'infeasible') {
    const failing = once(uncertainLowestFailure(points, opts.targetP99Ms));
    if (failing !== null) return failing;
  }
  return CONFIRMABLE.has(kind) ? once(bestPointIndex(points, opts.targetP99Ms)) : null;
}

/** The lowest-load failing point, when its p99 interval reaches down to the target and its requests did not fail; else null. */
function uncertainLowestFailure(points: readonly SearchPoint[], targetP99Ms: number): number | null {
  let lowest: number | null = null;
  points.forEach((p, i) => {
    if (!pointMeetsTarget(p, targetP99Ms) && (lowest === null || p.concurrency < points[lowest]!.concurrency)) lowest = i;
  });
  if (lowest === null) return null;
  const p = points[lowest]!;
  if (!p.p99CiMs || intervalVerdict(p.p99CiMs, targetP99Ms) !== 'inconclusive') return null;
  if (p.stopReason === 'errors' || p.stopReason === 'no-completions' || p.unreliable) return null;
  return lowest;
}

/** The search without the best point's repeat: the next new concurrency, or why to stop. */
function searchStep(points: readonly SearchPoint[], opts: NextLoadOptions): NextLoad {
  const min = Math.max(1, Math.floor(opts.minConcurrency ?? 1));
  const max = Math.max(min, Math.floor(opts.maxConcurrency));
  const tolerance = opts.tolerance ?? 0.1;
  const minGrowth = opts.minGrowth ?? 0.05;
  const maxPoints = opts.maxPoints ?? 24;
  const target = opts.targetP99Ms;

  if (points.length === 0) return { concurrency: min };
  if (points.length >= maxPoints) return done('budget', `${points.length} load points measured`);

  const measured = new Set(points.map((p) => p.concurrency));
  const pass = (p: SearchPoint): boolean => pointMeetsTarget(p, target);
  const lowestFail = points.filter((p) => !pass(p)).reduce((m, p) => Math.min(m, p.concurrency), Infinity);
  // Passing points above a failing one are noise for the bracket (bestPoint still sees them).
  const below = points.filter((p) => pass(p) && p.concurrency < lowestFail);

  if (below.length === 0) {
    if (!measured.has(min)) return { concurrency: min };
    const atMin = points.find((p) => p.concurrency === min)!;
    const why = atMin.stopReason === 'errors' ? 'requests failed' : `p99 ${fmt(atMin.p99Ms)} ms`;
    return done('infeasible', `${why} at concurrency ${min} misses the ${fmt(target)} ms target`);
  }

  const top = below.reduce((a, p) => (p.concurrency > a.concurrency ? p : a));
  const lo = top.concurrency;

  if (lowestFail === Infinity) {
    if (lo >= max) return done('max-concurrency', `p99 ${fmt(top.p99Ms)} ms meets the target at the maximum concurrency ${max}`);
    const ladder = [...below].sort((a, b) => a.concurrency - b.concurrency);
    const confirm = opts.confirmKnee ?? true;
    // Whether the point at ladder[i] failed to grow beyond the best below it (by minGrowth, or its noise).
    const flat = (i: number): { flat: boolean; prev: SearchPoint | null; need: number } => {
      const p = ladder[i]!;
      const prev = ladder.slice(0, i).reduce<SearchPoint | null>((m, q) => (m === null || q.throughputIps > m.throughputIps ? q : m), null);
      if (!prev || !(prev.throughputIps > 0)) return { flat: false, prev, need: minGrowth };
      const noise = confirm ? GROWTH_SIGMAS * Math.hypot(p.throughputCv ?? 0, prev.throughputCv ?? 0) : 0;
      const need = Math.max(minGrowth, noise);
      return { flat: p.throughputIps < prev.throughputIps * (1 + need), prev, need };
    };
    const last = flat(ladder.length - 1);
    if (last.flat && (!confirm || flat(ladder.length - 2).flat)) {
      return done(
        'saturated',
        `throughput ${fmt(top.throughputIps)}/s at concurrency ${lo} is within ${Math.round(last.need * 100)}% of ${fmt(last.prev!.throughputIps)}/s at lower load${confirm ? ', as was the point below it' : ''}`,
      );
    }
    const next = Math.min(lo * 2, max);
    if (measured.has(next)) return done('bracketed', `concurrency ${next} was already measured`);
    return { concurrency: next };
  }

  const hi = lowestFail;
  if (hi - lo <= 1 || hi - lo <= tolerance * lo) {
    return done('bracketed', `concurrency ${lo} meets the target and ${hi} does not`);
  }
  const mid = Math.floor((lo + hi) / 2);
  if (measured.has(mid)) return done('bracketed', `concurrency ${mid} was already measured`);
  return { concurrency: mid };
}

/**
 * Load points a search spent confirming the knee: the points it measured beyond where the
 * one-point rule (confirmKnee false) would have stopped, plus the points it measured a second
 * time. Pure; 0 when that rule would not have stopped sooner and nothing was repeated; null
 * for no points or an open-loop search (rate points, `offeredRate` set: no knee to confirm).
 */
export function kneeConfirmationCost(points: readonly (SearchPoint & { offeredRate?: number })[], opts: NextLoadOptions): number | null {
  if (points.length === 0 || points.some((p) => p.offeredRate !== undefined)) return null;
  const repeats = points.reduce((a, p) => a + measurementsOf(p) - 1, 0);
  return points.length - onePointStop(points, opts) + repeats;
}

/** How many of the points the one-point rule (confirmKnee false) would have measured before it stopped. Pure. */
export function onePointStop(points: readonly SearchPoint[], opts: NextLoadOptions): number {
  const plain = { ...opts, confirmKnee: false };
  for (let n = 1; n < points.length; n++) if ('done' in nextLoad(points.slice(0, n), plain)) return n;
  return points.length;
}

// ---- Open loop: bisection over the request rate ----

/** A rate point as the rate search sees it (a LoadPoint with mode 'rate' has these). */
export interface RateSearchPoint {
  /** Scheduled requests/s. */
  offeredRate: number;
  /** Completed requests/s. */
  achievedRate: number;
  throughputIps: number;
  p99Ms: number;
  stopReason?: string;
  unreliable?: boolean;
  clientLimited?: boolean;
}

export interface NextRateOptions {
  targetP99Ms: number;
  /** Lowest rate to try, requests/s (> 0). */
  minRate: number;
  /** Highest rate to try, requests/s. */
  maxRate: number;
  /** First rate (default: the geometric middle of minRate and maxRate). */
  startRate?: number;
  /** Bisection stops when hi/lo ≤ 1 + tolerance (default 0.10). */
  tolerance?: number;
  /**
   * While every point passes, multiply the rate by this (default: none, i.e. bisect
   * geometrically towards maxRate, which needs the fewest points when nothing is known).
   */
  growth?: number;
  /** The server kept up when it completed at least this share of the offered rate (default 0.95). */
  keepUp?: number;
  /** Stop after this many points whatever else (default 16). */
  maxPoints?: number;
}

export type NextRate = { rate: number } | { done: true; reason: string; kind: DoneKind };

/** Rates are rounded to 3 significant digits (readable, and distinct enough for a 10% bracket). */
export function roundRate(r: number): number {
  if (!(r > 0) || !Number.isFinite(r)) return r;
  const mag = 10 ** (Math.floor(Math.log10(r)) - 2);
  return Number((Math.round(r / mag) * mag).toPrecision(3));
}

/**
 * The next rate to measure, or why to stop. Pure, like nextLoad. Rates span decades, so
 * the search bisects geometrically: start in the geometric middle of [minRate, maxRate];
 * while every point passes, go halfway (in log) to maxRate; once one fails, bisect between
 * the highest passing and the lowest failing rate until they are within `tolerance`.
 * A point at which the server fell behind the schedule (completed < keepUp × offered) also
 * tells the server's capacity, what it completed: the bracket's top drops to it, so the
 * next probe lies below what the server can serve instead of halfway to a rate it cannot.
 * A failing point that the client limited (unreliable) just above the best passing rate
 * ends the search as 'client-limited': nothing above it can be measured by this client.
 */
export function nextRate(points: readonly RateSearchPoint[], opts: NextRateOptions): NextRate {
  const min = opts.minRate;
  if (!(min > 0)) throw new RangeError(`minRate must be > 0, got ${min}`);
  const max = Math.max(min, opts.maxRate);
  const tolerance = opts.tolerance ?? 0.1;
  const keepUp = opts.keepUp ?? KEEP_UP_SHARE;
  const maxPoints = opts.maxPoints ?? 16;
  const target = opts.targetP99Ms;
  const towards = (from: number, to: number): number =>
    opts.growth !== undefined ? (to > from ? Math.min(to, from * opts.growth) : Math.max(to, from / opts.growth)) : Math.sqrt(from * to);

  if (points.length === 0) return { rate: Math.min(max, Math.max(min, roundRate(opts.startRate ?? Math.sqrt(min * max)))) };
  if (points.length >= maxPoints) return done('budget', `${points.length} load points measured`);
  const pass = (p: RateSearchPoint): boolean => pointMeetsTarget(p, target, keepUp);
  const overloaded = (p: RateSearchPoint): boolean => !keptUpWithOfferedRate(p, keepUp);
  const measured = (r: number): boolean => points.some((p) => Math.abs(p.offeredRate - r) <= 1e-9 * r);
  const failing = points.filter((p) => !pass(p));
  const lowestFail = failing.reduce<RateSearchPoint | null>((m, p) => (m === null || p.offeredRate < m.offeredRate ? p : m), null);
  const hiRate = lowestFail?.offeredRate ?? Infinity;
  const below = points.filter((p) => pass(p) && p.offeredRate < hiRate);
  const clientBound = (p: RateSearchPoint): boolean => p.unreliable === true && p.clientLimited === true;

  if (below.length === 0) {
    // Even the lowest rate measured failed: go lower, to below the server's capacity when it fell behind.
    const f = lowestFail!;
    if (f.offeredRate > min * (1 + 1e-9)) {
      // What an overloaded point completed is the server's capacity, unless the client was what fell behind.
      const capacity = overloaded(f) && !clientBound(f) && f.achievedRate > 0 ? 0.9 * f.achievedRate : Infinity;
      // Straight to the minimum when it is near, or when a second failing rate that the server
      // kept up with shows that latency does not fall with load (a floor above the target).
      const keptUp = failing.filter((p) => !overloaded(p) && p.stopReason !== 'errors');
      const floor = keptUp.length >= 2;
      const down = floor || f.offeredRate / min <= 2 ? min : towards(f.offeredRate, min);
      const next = Math.max(min, roundRate(capacity < f.offeredRate ? capacity : down));
      if (!measured(next) && next < f.offeredRate) return { rate: next };
    }
    if (clientBound(f)) return done('client-limited', `the client could not keep ${fmt(f.offeredRate)} requests/s on schedule`);
    const why =
      f.stopReason === 'errors'
        ? 'requests failed'
        : overloaded(f)
          ? `${fmt(f.achievedRate)} of ${fmt(f.offeredRate)} requests/s completed`
          : `p99 ${fmt(f.p99Ms)} ms`;
    return done('infeasible', `${why} at ${fmt(f.offeredRate)} requests/s misses the ${fmt(target)} ms target`);
  }

  const top = below.reduce((a, p) => (p.offeredRate > a.offeredRate ? p : a));
  const lo = top.offeredRate;
  if (lowestFail === null) {
    if (lo >= max * (1 - 1e-9)) return done('max-rate', `p99 ${fmt(top.p99Ms)} ms meets the target at the maximum rate ${fmt(max)} requests/s`);
    let next = max / lo <= 2 ? max : Math.min(max, roundRate(towards(lo, max)));
    if (next <= lo || measured(next)) next = max;
    if (measured(next)) return done('bracketed', `${fmt(next)} requests/s was already measured`);
    return { rate: next };
  }

  // The server's capacity, seen as what an overloaded point completed, also bounds the bracket.
  const capacity = failing
    .filter((p) => overloaded(p) && !clientBound(p) && p.achievedRate > lo)
    .reduce((m, p) => Math.min(m, p.achievedRate), Infinity);
  const hi = Math.min(hiRate, capacity);
  if (hi / lo <= 1 + tolerance) {
    if (hi === hiRate && clientBound(lowestFail)) {
      // The bracket's top is where the client, not the server, gave out.
      return done('client-limited', `${fmt(lo)} requests/s meets the target; the client could not keep ${fmt(hiRate)} requests/s on schedule`);
    }
    const by = hi < hiRate ? `the server completes at most ~${fmt(capacity)} requests/s` : `${fmt(hiRate)} requests/s does not`;
    return done('bracketed', `${fmt(lo)} requests/s meets the target and ${by}`);
  }
  const mid = roundRate(Math.sqrt(lo * hi));
  if (measured(mid) || mid <= lo || mid >= hiRate) return done('bracketed', `${fmt(mid)} requests/s was already measured`);
  return { rate: mid };
}
