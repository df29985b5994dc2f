import type { LoadPoint } from '../domain/measurement.js';
import type { ServingConfig } from '../domain/serving.js';
import type { TrialState } from '../domain/trial.js';
import { bestPoint } from '../domain/target.js';
import { recommend, representativeIndex } from '../search/estimate.js';
import { kneeConfirmationCost } from '../measure/load-search.js';

/**
 * The items no other item dominates, maximizing throughput and minimizing p99, sorted by
 * p99 ascending (throughput then rises strictly along the result, except for exact duplicates).
 * An item dominates another when it is at least as good on both and better on one, so an exact
 * duplicate of a frontier item is also on the frontier; same throughput at a higher p99, or the
 * same p99 at a lower throughput, is dominated. Items with a non-finite value are left out.
 * Among equal items the input order is kept.
 */
export function paretoFrontier<T>(items: readonly T[], throughput: (t: T) => number, p99: (t: T) => number): T[] {
  const rows = items
    .map((item, i) => ({ item, i, tp: throughput(item), lat: p99(item) }))
    .filter((r) => Number.isFinite(r.tp) && Number.isFinite(r.lat));
  rows.sort((a, b) => a.lat - b.lat || b.tp - a.tp || a.i - b.i);
  const out: T[] = [];
  let bestTp = -Infinity;
  let lastLat = NaN;
  for (const r of rows) {
    if (r.tp > bestTp || (r.tp === bestTp && r.lat === lastLat)) {
      out.push(r.item);
      bestTp = r.tp;
      lastLat = r.lat;
    }
  }
  return out;
}

/** What chooseRecommended needs of a trial (ReportTrial and TrialRecord both fit). */
export interface RankableTrial {
  config: ServingConfig;
  state: TrialState;
  objectiveIps: number | null;
  p99Ms: number | null;
}

/**
 * The trial that stands for the recommended configuration, or null when none is feasible.
 * The choice is search/estimate.ts's recommend, the one rule (the search, the report and
 * regress use it alike): the best mean throughput over a configuration's measurements that
 * met the target (a configuration is feasible when more than half of those that ran did); ties go to the lower
 * mean p99, then fewer instances, then the smaller max_batch_size, then the earlier. Of its
 * measurements, the one closest to the mean (the earlier on ties) stands for it.
 */
export function chooseRecommended<T extends RankableTrial>(trials: readonly T[], targetP99Ms: number): T | null {
  const { best } = recommend(trials, targetP99Ms);
  return best ? trials[representativeIndex(best, trials)]! : null;
}

/**
 * The load point that represents a trial: the best point meeting the target (domain/target.ts),
 * else the lowest p99 seen (what an infeasible trial got closest with). Null when no point was measured.
 */
export function representativePoint<P extends LoadPoint>(points: readonly P[], targetP99Ms: number): P | null {
  return bestPoint(points, targetP99Ms) ?? lowestP99Point(points);
}

/** The point with the lowest finite p99 (ties to the higher throughput, then the earlier point), or null. */
export function lowestP99Point<P extends LoadPoint>(points: readonly P[]): P | null {
  let best: P | null = null;
  for (const p of points) {
    if (!Number.isFinite(p.p99Ms)) continue;
    if (best === null || p.p99Ms < best.p99Ms || (p.p99Ms === best.p99Ms && p.throughputIps > best.throughputIps)) best = p;
  }
  return best;
}

/** What chosenPointIndex needs of a trial (ReportTrial fits). */
export interface TrialFigures {
  points: readonly LoadPoint[];
  objectiveIps: number | null;
  p99Ms: number | null;
}

/**
 * The index of the load point a trial's figures (objectiveIps, p99Ms) come from. The runner
 * copies them from that point, so they match it exactly: throughput and p99 for a feasible trial,
 * the lowest p99 (the highest throughput among equal ones) for an infeasible one. Matching the
 * figures, rather than choosing again, keeps the runner's rules (open loop, unreliable points).
 * Figures that match no point get representativePoint's choice. Null when no point was measured.
 */
export function chosenPointIndex(t: TrialFigures, targetP99Ms: number): number | null {
  const { points, objectiveIps, p99Ms } = t;
  let found = -1;
  if (objectiveIps !== null && p99Ms !== null) {
    found = points.findIndex((p) => p.throughputIps === objectiveIps && p.p99Ms === p99Ms);
  } else if (p99Ms !== null) {
    points.forEach((p, i) => {
      if (p.p99Ms === p99Ms && (found < 0 || p.throughputIps > (points[found] as LoadPoint).throughputIps)) found = i;
    });
  }
  if (found >= 0) return found;
  const best = representativePoint(points, targetP99Ms);
  return best ? points.indexOf(best) : null;
}

/** The load point a trial's figures come from (see chosenPointIndex). */
export function chosenPoint<P extends LoadPoint>(t: TrialFigures & { points: readonly P[] }, targetP99Ms: number): P | null {
  const i = chosenPointIndex(t, targetP99Ms);
  return i === null ? null : (t.points[i] ?? null);
}

/** The chosen point when its p99 is the trial's own p99 figure, so what the point carries (its interval, its flags) is about that figure. */
export function figurePoint<P extends LoadPoint>(t: TrialFigures & { points: readonly P[] }, targetP99Ms: number): P | null {
  const p = chosenPoint(t, targetP99Ms);
  return p && t.p99Ms !== null && p.p99Ms === t.p99Ms ? p : null;
}

/**
 * Load points the trial's load search spent confirming its knee (points beyond where one flat
 * point would have stopped it, and the points measured a second time): load-search.ts's
 * count. Null where it cannot be told: open loop, no points, or a run stored without its
 * highest concurrency.
 */
export function kneePointsOf(t: { points: readonly LoadPoint[] }, run: { targetP99Ms: number; maxConcurrency?: number }): number | null {
  if (run.maxConcurrency === undefined) return null;
  return kneeConfirmationCost(t.points, { targetP99Ms: run.targetP99Ms, maxConcurrency: run.maxConcurrency });
}
