import type { LoadPoint } from '../runner/types.js';
import type { ServingConfig, TrialState } from '../search/types.js';

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

/** A trial that completed with a throughput whose p99 met the target. */
export function isFeasible(t: RankableTrial, targetP99Ms: number): boolean {
  return (
    t.state === 'COMPLETE' &&
    t.objectiveIps !== null &&
    Number.isFinite(t.objectiveIps) &&
    t.p99Ms !== null &&
    Number.isFinite(t.p99Ms) &&
    t.p99Ms <= targetP99Ms
  );
}

/**
 * The feasible trial with the highest objective; ties go to the lower p99, then fewer
 * instances, then the smaller max_batch_size, then the earlier trial. Null when none is feasible.
 */
export function chooseRecommended<T extends RankableTrial>(trials: readonly T[], targetP99Ms: number): T | null {
  let best: T | null = null;
  for (const t of trials) {
    if (!isFeasible(t, targetP99Ms)) continue;
    if (best === null || compareTrials(t, best) < 0) best = t;
  }
  return best;
}

/** Negative when a ranks before b. Only for feasible trials (non-null objective and p99). */
function compareTrials(a: RankableTrial, b: RankableTrial): number {
  return (
    (b.objectiveIps as number) - (a.objectiveIps as number) ||
    (a.p99Ms as number) - (b.p99Ms as number) ||
    a.config.instanceCount - b.config.instanceCount ||
    a.config.maxBatchSize - b.config.maxBatchSize
  );
}

/**
 * The load point that represents a trial: the highest throughput meeting the target (ties to
 * the lower p99), else the lowest p99 seen (what an infeasible trial got closest with).
 * Null when no point was measured.
 */
export function bestPoint(points: readonly LoadPoint[], targetP99Ms: number): LoadPoint | null {
  let best: LoadPoint | null = null;
  for (const p of points) {
    if (!Number.isFinite(p.throughputIps) || !Number.isFinite(p.p99Ms) || p.p99Ms > targetP99Ms) continue;
    if (best === null || p.throughputIps > best.throughputIps || (p.throughputIps === best.throughputIps && p.p99Ms < best.p99Ms)) best = p;
  }
  if (best) return best;
  for (const p of points) {
    if (!Number.isFinite(p.p99Ms)) continue;
    if (best === null || p.p99Ms < best.p99Ms || (p.p99Ms === best.p99Ms && p.throughputIps > best.throughputIps)) best = p;
  }
  return best;
}
