/**
 * Comparing a candidate against a baseline: pure functions of stored or fresh measurements.
 *
 * What is compared (each a check, reported in JUnit, Markdown, HTML and JSON):
 *
 * Whether a load point meets the target, and which is a measurement's best, is domain/target.ts's
 * rule, the one the load search and the report use.
 *
 * - `sla`: the candidate meets the p99 target at some load. When no measurement of any
 *   candidate configuration has a load point meeting the target, the verdict is `sla-not-met`
 *   (exit 2), whatever else the checks say. A pass says when it is not certain: when the p99
 *   confidence interval of every point that meets the target reaches above it.
 * - `throughput_at_target`: the highest throughput whose p99 met the target, baseline against
 *   candidate; a regression when it fell by more than `maxThroughputDrop` plus the noise allowance.
 * - `p99_at_fixed_load`: p99 at the baseline's operating load (the load of the baseline's best
 *   point within the target: its concurrency in closed loop, its offered request rate in open
 *   loop), baseline against candidate, compared only between points measured the same way; a
 *   regression when it rose by more than `maxP99Rise` plus the noise allowance. When the
 *   candidate's load search did not measure that load, p99 is interpolated linearly between
 *   the nearest lower and higher loads it did measure; when it only measured lower ones, the
 *   p99 at the highest of those is a lower bound (p99 does not fall as load rises) and fails
 *   the check only if even that bound is over the allowance; otherwise the check is skipped.
 *
 * Noise allowance: a configuration may be measured several times (regress --repeats, or a
 * baseline that holds repeated measurements). For each figure, the noise of one side is half the
 * relative range of its repeated values, (max − min) / (2 × median); the allowance adds the larger
 * of the two sides' noise to the threshold, capped at `maxNoise` (default 10 percentage points),
 * so a very noisy measurement cannot excuse any regression. The median of the repeats is the
 * figure compared. For p99, a load point that carries a confidence interval of its p99
 * (LoadPoint.p99CiMs, from the merged stable windows) also gives a noise figure, half the
 * interval's width relative to p99, and the larger of that and the repeats' spread counts.
 * Otherwise, with one measurement per side, there is no spread to measure and no allowance is
 * added: the threshold alone decides. (The stored load points keep no per-window throughput, so
 * the spread of the stable windows cannot be recovered afterwards for throughput.)
 * A change within the threshold plus the allowance but beyond the threshold passes, and says so.
 *
 * Verdict and exit code, the most severe first: `infrastructure` (3: the candidate could not be
 * measured: the server would not start or load the configuration, every request failed),
 * `sla-not-met` (2), `regression` (1), `pass` (0).
 */
import { exitCodeForVerdict } from '../domain/exit-codes.js';
import { describeLoad, loadOf, type FixedLoad, type LoadPoint } from '../domain/measurement.js';
import { bestPoint, ciTargetVerdict, figuresUsable, pointMeetsTarget, uncertainPass } from '../domain/target.js';
import type { Check, CheckStatus, Comparison, Measured, SideSummary, Thresholds, Verdict } from '../domain/comparison.js';
import { median } from '../measure/stats.js';

export const DEFAULT_THRESHOLDS: Required<Thresholds> = { maxThroughputDrop: 0.05, maxP99Rise: 0.1, maxNoise: 0.1 };

export interface CompareInput {
  model: string;
  targetP99Ms: number;
  /** The baseline's recommended configuration. */
  baseline: Measured;
  /** The same configuration measured again (regress), or found in the candidate run; null when absent. */
  candidate: Measured | null;
  /** The best configuration of a searched candidate (compare of runs; regress with re-search). */
  candidateBest?: Measured | null;
  thresholds?: Thresholds;
  /** Load for the p99 check; default: the load of the baseline's best point within the target. */
  fixedLoad?: FixedLoad | null;
  /** Set when the candidate could not be measured at all (server would not start, ...). */
  infrastructureError?: string | null;
}

const EPS = 1e-9;

/** Half the relative range of repeated values: (max − min) / (2 × median); 0 with fewer than 2 values. */
export function relativeNoise(xs: readonly number[]): number {
  const v = xs.filter(Number.isFinite);
  if (v.length < 2) return 0;
  const m = median(v);
  if (!(m > 0)) return 0;
  return (Math.max(...v) - Math.min(...v)) / (2 * m);
}

/**
 * Noise of one p99 figure from its confidence interval, where the measurement gives one
 * (LoadPoint.p99CiMs): half the interval's width relative to p99; 0 without a finite interval.
 */
export function ciNoise(p: LoadPoint | undefined): number {
  const ci = p?.p99CiMs;
  if (!p || !ci || !Number.isFinite(ci[0]) || !Number.isFinite(ci[1]) || !(p.p99Ms > 0)) return 0;
  return Math.max(0, (ci[1] - ci[0]) / (2 * p.p99Ms));
}

/** The throughput of the best point meeting the target (domain/target.ts); null when none does. */
export function throughputAtTarget(points: readonly LoadPoint[], targetP99Ms: number): number | null {
  return bestPoint(points, targetP99Ms)?.throughputIps ?? null;
}

/** The load of the best point meeting the target (domain/target.ts). */
export function operatingLoad(points: readonly LoadPoint[], targetP99Ms: number): FixedLoad | null {
  const best = bestPoint(points, targetP99Ms);
  return best ? loadOf(best) : null;
}

export type P99AtLoad = { value: number; kind: 'measured' | 'interpolated' | 'lower-bound' } | null;

/**
 * p99 at a load, among the points measured the same way (closed or open loop): measured
 * there (the later point if measured twice), interpolated linearly between the nearest
 * measured loads around it, or, when only lower ones were measured, the p99 at the highest of
 * them as a lower bound. Null when only higher ones were, or none the same way. Points whose
 * requests failed, or whose figures are marked unreliable, are left out.
 */
export function p99AtLoad(points: readonly LoadPoint[], load: FixedLoad): P99AtLoad {
  const usable = points
    .filter((p) => Number.isFinite(p.p99Ms) && figuresUsable(p))
    .map((p) => ({ p99: p.p99Ms, load: loadOf(p) }))
    .filter((x) => x.load.mode === load.mode && Number.isFinite(x.load.level));
  const target = load.level;
  const at = usable.filter((x) => x.load.level === target);
  if (at.length) return { value: at[at.length - 1]!.p99, kind: 'measured' };
  let lo: (typeof usable)[number] | null = null;
  let hi: (typeof usable)[number] | null = null;
  for (const x of usable) {
    if (x.load.level < target && (lo === null || x.load.level >= lo.load.level)) lo = x;
    if (x.load.level > target && (hi === null || x.load.level <= hi.load.level)) hi = x;
  }
  if (lo && hi) {
    const f = (target - lo.load.level) / (hi.load.level - lo.load.level);
    return { value: lo.p99 + f * (hi.p99 - lo.p99), kind: 'interpolated' };
  }
  if (lo) return { value: lo.p99, kind: 'lower-bound' };
  return null;
}

const pct = (x: number, digits = 1): string => `${(x * 100).toFixed(digits).replace(/\.0+$/, '')} %`;

export function formatFigure(v: number | null, unit: Check['unit']): string {
  if (v === null || !Number.isFinite(v)) return '—';
  if (unit === 'inf/s') return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} inf/s`;
  if (unit === 'ms') return `${v >= 10 ? v.toFixed(1) : v.toFixed(2)} ms`;
  return String(v);
}

/** A target as set: 50 ms, 12.5 ms. */
function targetText(ms: number): string {
  return `${Number.isInteger(ms) ? String(ms) : String(Number(ms.toFixed(3)))} ms`;
}

function allowanceText(threshold: number, noise: number): string {
  return noise > 0 ? `${pct(threshold)} + ${pct(noise)} noise` : pct(threshold);
}

function measuredAny(m: Measured | null | undefined): m is Measured {
  return !!m && m.state !== 'FAILED' && m.repeats.some((r) => r.length > 0);
}

/** `sla`: some measurement of some candidate configuration has a point within the target. */
export function checkSla(targetP99Ms: number, candidates: readonly (Measured | null | undefined)[]): Check {
  const name = `p99 target ${targetText(targetP99Ms)} met`;
  const measured = candidates.filter(measuredAny);
  const met = measured.filter((m) => m.repeats.some((r) => throughputAtTarget(r, targetP99Ms) !== null));
  const base = { id: 'sla' as const, name, unit: '' as const, baseline: null, candidate: null, worse: null, threshold: null, noise: null, allowance: null, lowerBound: false, withinNoise: false, samples: { baseline: [], candidate: [] } };
  if (met.length) {
    const tp = Math.max(...met.flatMap((m) => m.repeats.map((r) => throughputAtTarget(r, targetP99Ms) ?? 0)));
    const passing = met.flatMap((m) => m.repeats.flat()).filter((p) => pointMeetsTarget(p, targetP99Ms));
    // Certain when the p99 interval of some passing point lies within the target.
    const unsure = !passing.some((p) => ciTargetVerdict(p, targetP99Ms) === 'meets') && passing.some((p) => uncertainPass(p, targetP99Ms));
    const caveat = unsure ? ' Not certain: at every load point that meets it, the p99 confidence interval reaches above the target.' : '';
    return { ...base, status: 'pass', message: `The candidate meets the ${targetText(targetP99Ms)} p99 target (up to ${formatFigure(tp, 'inf/s')}).${caveat}` };
  }
  if (measured.length === 0) return { ...base, status: 'skipped', message: 'The candidate has no measurements.' };
  let lowest: LoadPoint | null = null;
  for (const p of measured.flatMap((m) => m.repeats.flat())) if (Number.isFinite(p.p99Ms) && (lowest === null || p.p99Ms < lowest.p99Ms)) lowest = p;
  const near = lowest ? ` (lowest p99 ${formatFigure(lowest.p99Ms, 'ms')}, at ${describeLoad(loadOf(lowest))})` : '';
  return { ...base, status: 'fail', message: `No load point of the candidate met the ${targetText(targetP99Ms)} p99 target${near}.` };
}

/** `throughput_at_target`: median over repeats; a repeat with no point within the target counts as 0. */
export function checkThroughput(targetP99Ms: number, baseline: Measured, candidate: Measured, thresholds: Required<Thresholds>): Check {
  const name = `throughput at the p99 target (${targetText(targetP99Ms)})`;
  const bs = baseline.repeats.map((r) => throughputAtTarget(r, targetP99Ms) ?? 0);
  const cs = candidate.repeats.map((r) => throughputAtTarget(r, targetP99Ms) ?? 0);
  const b = median(bs);
  const c = median(cs);
  const threshold = thresholds.maxThroughputDrop;
  const noise = Math.min(thresholds.maxNoise, Math.max(relativeNoise(bs), relativeNoise(cs)));
  const common = { id: 'throughput_at_target' as const, name, unit: 'inf/s' as const, threshold, noise, allowance: threshold + noise, lowerBound: false, samples: { baseline: bs, candidate: cs } };
  if (!(b > 0)) {
    return { ...common, status: 'error', baseline: null, candidate: Number.isFinite(c) ? c : null, worse: null, withinNoise: false, message: 'The baseline has no throughput within the target to compare against.' };
  }
  if (!Number.isFinite(c)) {
    return { ...common, status: 'skipped', baseline: b, candidate: null, worse: null, withinNoise: false, message: 'The candidate has no measurements.' };
  }
  const worse = (b - c) / b;
  const fail = worse > threshold + noise + EPS;
  const withinNoise = !fail && worse > threshold + EPS;
  const figures = `${formatFigure(b, 'inf/s')} → ${formatFigure(c, 'inf/s')}`;
  const allowed = allowanceText(threshold, noise);
  let message: string;
  if (fail) message = `Throughput at the p99 target fell ${pct(worse)} (${figures}), more than the ${allowed} allowed.`;
  else if (withinNoise) message = `Throughput at the p99 target fell ${pct(worse)} (${figures}): beyond the ${pct(threshold)} threshold but within the measured noise (${allowed} allowed).`;
  else if (worse > 0) message = `Throughput at the p99 target fell ${pct(worse)} (${figures}), within the ${allowed} allowed.`;
  else message = `Throughput at the p99 target ${worse < 0 ? `rose ${pct(-worse)}` : 'is unchanged'} (${figures}).`;
  return { ...common, status: fail ? 'fail' : 'pass', baseline: b, candidate: c, worse, withinNoise, message };
}

/** `p99_at_fixed_load`: p99 at `load`, median over the repeats that reach it (see p99AtLoad). */
export function checkP99AtLoad(load: FixedLoad | null, baseline: Measured, candidate: Measured, thresholds: Required<Thresholds>): Check {
  const at = load === null ? 'the baseline load' : describeLoad(load);
  const name = `p99 at ${at}`;
  const threshold = thresholds.maxP99Rise;
  const common = { id: 'p99_at_fixed_load' as const, name, unit: 'ms' as const, threshold };
  const none = (status: CheckStatus, message: string, b: number | null = null): Check => ({
    ...common, status, baseline: b, candidate: null, worse: null, noise: null, allowance: null, lowerBound: false, withinNoise: false, samples: { baseline: [], candidate: [] }, message,
  });
  if (load === null) return none('skipped', 'The baseline has no load point within the target, so there is no load to compare p99 at.');
  const bAt = baseline.repeats.map((r) => p99AtLoad(r, load)).filter((x): x is NonNullable<P99AtLoad> => x !== null && x.kind !== 'lower-bound');
  if (bAt.length === 0) return none('skipped', `The baseline was not measured at ${at}.`);
  const bs = bAt.map((x) => x.value);
  const b = median(bs);
  const candidatePoints = candidate.repeats.flat();
  if (candidatePoints.length > 0 && !candidatePoints.some((p) => loadOf(p).mode === load.mode)) {
    const how = (m: FixedLoad['mode']): string => (m === 'rate' ? 'open loop (--load rate)' : 'closed loop (--load concurrency)');
    return none('skipped', `The baseline was measured in ${how(load.mode)} and the candidate in ${how(load.mode === 'rate' ? 'concurrency' : 'rate')}; p99 at a fixed load compares only loads applied the same way.`, b);
  }
  const cAt = candidate.repeats.map((r) => p99AtLoad(r, load)).filter((x): x is NonNullable<P99AtLoad> => x !== null);
  const known = cAt.filter((x) => x.kind !== 'lower-bound').map((x) => x.value);
  const bounds = cAt.filter((x) => x.kind === 'lower-bound').map((x) => x.value);
  const cs = known.length ? known : bounds;
  if (cs.length === 0) return none('skipped', `The candidate was not measured at or below ${at}.`, b);
  const lowerBound = known.length === 0;
  const c = lowerBound ? Math.min(...bounds) : median(known);
  // Noise: the spread of repeats, or the p99 confidence interval of the points at that load where measured.
  const atLoad = (r: readonly LoadPoint[]) => [...r].reverse().find((p) => { const l = loadOf(p); return l.mode === load.mode && l.level === load.level; });
  const ci = Math.max(0, ...baseline.repeats.map((r) => ciNoise(atLoad(r))), ...(lowerBound ? [] : candidate.repeats.map((r) => ciNoise(atLoad(r)))));
  const noise = Math.min(thresholds.maxNoise, Math.max(relativeNoise(bs), lowerBound ? 0 : relativeNoise(known), ci));
  const allowance = threshold + noise;
  const worse = b > 0 ? (c - b) / b : null;
  const samples = { baseline: bs, candidate: cs };
  const figures = `${formatFigure(b, 'ms')} → ${lowerBound ? 'at least ' : ''}${formatFigure(c, 'ms')}`;
  const allowed = allowanceText(threshold, noise);
  const interpolated = !lowerBound && cAt.some((x) => x.kind === 'interpolated') ? ' (interpolated between the loads measured)' : '';
  if (worse === null) return { ...common, status: 'error', baseline: b, candidate: c, worse, noise, allowance, lowerBound, withinNoise: false, samples, message: `The baseline's p99 at ${at} is not positive.` };
  const fail = worse > allowance + EPS;
  if (lowerBound && !fail) {
    return {
      ...common, status: 'skipped', baseline: b, candidate: c, worse, noise, allowance, lowerBound, withinNoise: false, samples,
      message: `The candidate's load search stopped below ${at}; p99 there is at least ${formatFigure(c, 'ms')} (baseline ${formatFigure(b, 'ms')}), which does not decide the check.`,
    };
  }
  const withinNoise = !fail && worse > threshold + EPS;
  let message: string;
  if (fail) message = `p99 at ${at} rose ${lowerBound ? 'at least ' : ''}${pct(worse)} (${figures})${interpolated}, more than the ${allowed} allowed.`;
  else if (withinNoise) message = `p99 at ${at} rose ${pct(worse)} (${figures})${interpolated}: beyond the ${pct(threshold)} threshold but within the measured noise (${allowed} allowed).`;
  else if (worse > 0) message = `p99 at ${at} rose ${pct(worse)} (${figures})${interpolated}, within the ${allowed} allowed.`;
  else message = `p99 at ${at} ${worse < 0 ? `fell ${pct(-worse)}` : 'is unchanged'} (${figures})${interpolated}.`;
  return { ...common, status: fail ? 'fail' : 'pass', baseline: b, candidate: c, worse, noise, allowance, lowerBound, withinNoise, samples, message };
}

function sideSummary(m: Measured, targetP99Ms: number): SideSummary {
  const tps = m.repeats.map((r) => throughputAtTarget(r, targetP99Ms));
  const ok = tps.filter((x): x is number => x !== null);
  return {
    label: m.label,
    runId: m.runId,
    trialIndex: m.trialIndex,
    variantName: m.variantName,
    config: m.config,
    state: m.state,
    error: m.error,
    measurements: m.repeats.length,
    throughputIps: ok.length ? median(tps.map((x) => x ?? 0)) : null,
  };
}

/** Every check, the verdict and the headline. Pure. */
export function compare(input: CompareInput): Comparison {
  const thresholds: Required<Thresholds> = { ...DEFAULT_THRESHOLDS, ...stripUndefined(input.thresholds ?? {}) };
  const target = input.targetP99Ms;
  const base = input.baseline;
  const cand = input.candidate;
  const best = input.candidateBest ?? null;
  const fixed = input.fixedLoad ?? firstNonNull(base.repeats.map((r) => operatingLoad(r, target)));
  const checks: Check[] = [];

  const failures = [cand, best].filter((m): m is Measured => !!m && m.state === 'FAILED');
  const infra =
    input.infrastructureError ??
    (!measuredAny(cand) && !measuredAny(best) ? (failures[0]?.error ?? (cand || best ? 'the candidate has no measurements' : 'there is no candidate measurement to compare')) : null);
  if (infra !== null) {
    checks.push({
      id: 'measurement', name: 'candidate measured', status: 'error', unit: '', baseline: null, candidate: null, worse: null, threshold: null, noise: null, allowance: null,
      lowerBound: false, withinNoise: false, samples: { baseline: [], candidate: [] }, message: `The candidate could not be measured: ${infra}`,
    });
  } else {
    checks.push(checkSla(target, [cand, best]));
    const forThroughput = measuredAny(best) ? best : (cand as Measured);
    checks.push(checkThroughput(target, base, forThroughput, thresholds));
    const forLoad = measuredAny(cand) ? cand : (best as Measured);
    checks.push(checkP99AtLoad(fixed, base, forLoad, thresholds));
  }

  let verdict: Verdict;
  if (infra !== null) verdict = 'infrastructure';
  else if (checks.some((c) => c.id === 'sla' && c.status === 'fail')) verdict = 'sla-not-met';
  else if (checks.some((c) => c.status === 'fail')) verdict = 'regression';
  else verdict = 'pass';

  return {
    verdict,
    exitCode: exitCodeForVerdict(verdict),
    headline: headline(verdict, checks),
    model: input.model,
    targetP99Ms: target,
    fixedLoad: fixed,
    fixedConcurrency: fixed?.mode === 'concurrency' ? fixed.level : null,
    thresholds,
    baseline: sideSummary(base, target),
    candidate: cand ? sideSummary(cand, target) : null,
    candidateBest: best ? sideSummary(best, target) : null,
    checks,
  };
}

function headline(verdict: Verdict, checks: readonly Check[]): string {
  const pick = (status: CheckStatus) => checks.filter((c) => c.status === status).map((c) => c.message);
  switch (verdict) {
    case 'infrastructure':
      return `Infrastructure failure: ${pick('error').join(' ').replace(/^The candidate/, 'the candidate')}`;
    case 'sla-not-met':
      return `SLA not met: ${(checks.find((c) => c.id === 'sla')?.message ?? '').replace(/^No /, 'no ')}`;
    case 'regression':
      return `Regression: ${pick('fail').join(' ')}`;
    default: {
      const shown = checks.filter((c) => c.id !== 'sla' && c.status === 'pass').map((c) => c.message);
      return `No regression. ${shown.join(' ')}`.trim();
    }
  }
}

function firstNonNull<T>(xs: readonly (T | null)[]): T | null {
  for (const x of xs) if (x !== null) return x;
  return null;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

