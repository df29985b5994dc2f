/**
 * The one place that decides "this load point meets the p99 target", "this trial is feasible"
 * and "the best point of a trial". The load search, the trial loop, the report (HTML, CSV,
 * charts) and regress (compare, baseline documents) all ask here, so no two of them can
 * disagree about the same point.
 *
 * A load point meets the target when all of these hold:
 * 1. Its measurement did not fail: stopReason is neither 'errors' (more requests failed than
 *    the measurement's error bound, see measure/windows.ts) nor 'no-completions' (its p99 is
 *    then only a lower bound, the span of its windows). A few failed requests under that bound
 *    do not fail the point: the bound is where the measurement decides how many are too many.
 * 2. It is not marked unreliable: when the client fell behind its own schedule the figures
 *    describe the client, not the server.
 * 3. In open loop (offeredRate set), the server completed at least KEEP_UP_SHARE of the offered
 *    rate. A server that falls behind builds a queue that grows without bound; the p99 of a few
 *    short windows only sees its start and can look fine.
 * 4. Its p99 is finite and at most the target.
 *
 * The p99 estimate decides, not its confidence interval. Requiring the interval's top to be
 * under the target would reject every point with too few requests to bound it (top = ∞), so the
 * answer would follow the window length more than the server. The interval's verdict is given
 * beside the rule (ciTargetVerdict, uncertainPass) so that whatever shows a pass can say when it
 * is not certain.
 */
import type { TrialState } from './trial.js';

/** In open loop the server kept up when it completed at least this share of the offered rate. */
export const KEEP_UP_SHARE = 0.95;

/** What the rule reads of a load point (a LoadPoint has all of it; the load search's points a part). */
export interface TargetPoint {
  p99Ms: number;
  /** 'errors' and 'no-completions' mean the measurement failed. */
  stopReason?: string;
  unreliable?: boolean;
  /** Open loop: the scheduled requests/s. Absent in closed loop. */
  offeredRate?: number;
  /** Completed requests/s; when absent, requests / durationS (baseline documents keep only those). */
  achievedRate?: number;
  requests?: number;
  durationS?: number;
}

/** What bestPoint ranks by, beside the rule. */
export interface RankablePoint extends TargetPoint {
  throughputIps: number;
  /** Closed loop: requests in flight; the lower load wins a tie. */
  concurrency?: number;
}

/** Whether measuring the point failed: too many requests failed, or none completed. */
export function measurementFailed(p: Pick<TargetPoint, 'stopReason'>): boolean {
  return p.stopReason === 'errors' || p.stopReason === 'no-completions';
}

/** Whether a point's figures describe the server: its measurement did not fail and it is not unreliable. */
export function figuresUsable(p: Pick<TargetPoint, 'stopReason' | 'unreliable'>): boolean {
  return !measurementFailed(p) && p.unreliable !== true;
}

/**
 * Whether the server kept up with the load: always in closed loop; in open loop when it
 * completed at least `share` of the offered rate (unknown completions count as not kept up).
 */
export function keptUpWithOfferedRate(p: TargetPoint, share = KEEP_UP_SHARE): boolean {
  if (p.offeredRate === undefined) return true;
  const achieved = p.achievedRate ?? (p.requests !== undefined && p.durationS !== undefined && p.durationS > 0 ? p.requests / p.durationS : undefined);
  return achieved !== undefined && achieved >= share * p.offeredRate;
}

/** The rule (see the module comment). `keepUpShare` is for the load search's own setting only. */
export function pointMeetsTarget(p: TargetPoint, targetP99Ms: number, keepUpShare = KEEP_UP_SHARE): boolean {
  return figuresUsable(p) && keptUpWithOfferedRate(p, keepUpShare) && Number.isFinite(p.p99Ms) && p.p99Ms <= targetP99Ms;
}

/**
 * Index of the best point meeting the target: the highest throughput; ties to the lower p99,
 * then to the lower load (offered rate in open loop, else concurrency), then the earlier point.
 * Null when none meets it.
 */
export function bestPointIndex(points: readonly RankablePoint[], targetP99Ms: number, keepUpShare = KEEP_UP_SHARE): number | null {
  let best: number | null = null;
  points.forEach((p, i) => {
    if (!pointMeetsTarget(p, targetP99Ms, keepUpShare) || !Number.isFinite(p.throughputIps)) return;
    if (best === null || ranksBefore(p, points[best]!)) best = i;
  });
  return best;
}

/** The best point meeting the target (see bestPointIndex), or null. */
export function bestPoint<P extends RankablePoint>(points: readonly P[], targetP99Ms: number): P | null {
  const i = bestPointIndex(points, targetP99Ms);
  return i === null ? null : points[i]!;
}

function ranksBefore(a: RankablePoint, b: RankablePoint): boolean {
  if (a.throughputIps !== b.throughputIps) return a.throughputIps > b.throughputIps;
  if (a.p99Ms !== b.p99Ms) return a.p99Ms < b.p99Ms;
  return loadLevel(a) < loadLevel(b);
}

const loadLevel = (p: RankablePoint): number => p.offeredRate ?? p.concurrency ?? 0;

/** What trialFeasible reads of a trial (TrialRecord, ReportTrial and regress's rankings fit). */
export interface TargetTrial {
  state: TrialState;
  objectiveIps: number | null;
  p99Ms: number | null;
}

/**
 * A trial is feasible when it completed with a throughput at a p99 within the target. The trial
 * loop sets COMPLETE and copies those figures from bestPoint, so this is the point rule seen
 * through the trial's figures; the p99 check matters when a trial is judged against another
 * target than the one it ran for (regress ranks a candidate run under the baseline's target).
 */
export function trialFeasible(t: TargetTrial, targetP99Ms: number): boolean {
  return (
    t.state === 'COMPLETE' &&
    t.objectiveIps !== null &&
    Number.isFinite(t.objectiveIps) &&
    t.p99Ms !== null &&
    Number.isFinite(t.p99Ms) &&
    t.p99Ms <= targetP99Ms
  );
}

// ---- How certain the answer is: the p99 confidence interval against the target ----

export type TargetVerdict = 'meets' | 'misses' | 'inconclusive';

/** Where a target lies against an interval: at or above its top meets, below its bottom misses, else inconclusive. */
export function intervalVerdict(ci: readonly [number, number], targetP99Ms: number): TargetVerdict {
  if (ci[1] <= targetP99Ms) return 'meets';
  if (ci[0] > targetP99Ms) return 'misses';
  return 'inconclusive';
}

/**
 * The p99 confidence interval's verdict on a point against a target, or null when the point
 * carries no interval (older runs, replayed and simulated ones). Worked out from the stored
 * interval rather than the stored LoadPoint.targetVerdict, which holds the same answer for the
 * target the point was measured for, and no answer for another one (regress compares against
 * the baseline's target).
 */
export function ciTargetVerdict(p: { p99CiMs?: [number, number] }, targetP99Ms: number): TargetVerdict | null {
  const ci = p.p99CiMs;
  if (!ci || !Number.isFinite(ci[0])) return null;
  return intervalVerdict(ci, targetP99Ms);
}

/** A point that meets the target although its p99 interval reaches over it: the pass is not certain. */
export function uncertainPass(p: TargetPoint & { p99CiMs?: [number, number] }, targetP99Ms: number): boolean {
  return pointMeetsTarget(p, targetP99Ms) && ciTargetVerdict(p, targetP99Ms) === 'inconclusive';
}
