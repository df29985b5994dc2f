/**
 * Load search for one configuration: which concurrency to measure next so as to find
 * the highest throughput whose p99 meets the target in few load points. Pure: a
 * function of the points measured so far, so an interrupted search resumes as is.
 *
 * Start at the lowest concurrency; double while the target holds and throughput still
 * grows; once a point misses, bisect between the highest passing and the lowest
 * failing concurrency until they are adjacent (or close, relative to their size).
 */

export interface SearchPoint {
  concurrency: number;
  throughputIps: number;
  p99Ms: number;
  stable: boolean;
  /** A LoadPoint's stopReason: 'errors' and 'no-completions' points never meet the target. */
  stopReason?: string;
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
}

export type DoneKind = 'infeasible' | 'saturated' | 'max-concurrency' | 'bracketed' | 'budget';

export type NextLoad = { concurrency: number } | { done: true; reason: string; kind: DoneKind };

/** Whether a point meets the p99 target (a point that failed or saw no completions never does). */
export function meetsTarget(p: Pick<SearchPoint, 'p99Ms' | 'stopReason'>, targetP99Ms: number): boolean {
  if (p.stopReason === 'errors' || p.stopReason === 'no-completions') return false;
  return Number.isFinite(p.p99Ms) && p.p99Ms <= targetP99Ms;
}

const fmt = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 100) / 100) : String(x));

function done(kind: DoneKind, reason: string): NextLoad {
  return { done: true, kind, reason: `${kind}: ${reason}` };
}

export function nextLoad(points: readonly SearchPoint[], opts: NextLoadOptions): NextLoad {
  const min = Math.max(1, Math.floor(opts.minConcurrency ?? 1));
  const max = Math.max(min, Math.floor(opts.maxConcurrency));
  const tolerance = opts.tolerance ?? 0.1;
  const minGrowth = opts.minGrowth ?? 0.05;
  const maxPoints = opts.maxPoints ?? 24;
  const target = opts.targetP99Ms;

  if (points.length === 0) return { concurrency: min };
  if (points.length >= maxPoints) return done('budget', `${points.length} load points measured`);

  const measured = new Set(points.map((p) => p.concurrency));
  const pass = (p: SearchPoint): boolean => meetsTarget(p, target);
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
    const prevBest = below
      .filter((p) => p.concurrency < lo)
      .reduce((m, p) => Math.max(m, p.throughputIps), -Infinity);
    if (prevBest > 0 && top.throughputIps < prevBest * (1 + minGrowth)) {
      return done(
        'saturated',
        `throughput ${fmt(top.throughputIps)}/s at concurrency ${lo} is within ${Math.round(minGrowth * 100)}% of ${fmt(prevBest)}/s at lower load`,
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
 * Index of the best point meeting the target: highest throughput, ties to the lower
 * p99, then to the lower concurrency. Null when none meets it.
 */
export function bestPoint(
  points: readonly Pick<SearchPoint, 'concurrency' | 'throughputIps' | 'p99Ms' | 'stopReason'>[],
  targetP99Ms: number,
): number | null {
  let best: number | null = null;
  points.forEach((p, i) => {
    if (!meetsTarget(p, targetP99Ms)) return;
    if (best === null) {
      best = i;
      return;
    }
    const b = points[best]!;
    if (
      p.throughputIps > b.throughputIps ||
      (p.throughputIps === b.throughputIps &&
        (p.p99Ms < b.p99Ms || (p.p99Ms === b.p99Ms && p.concurrency < b.concurrency)))
    ) {
      best = i;
    }
  });
  return best;
}
