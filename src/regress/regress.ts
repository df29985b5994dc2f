/**
 * `regress` as pure logic: the baseline's recommended configuration is measured again through
 * an injected function, `repeats` times (and optionally the space searched again), and compared
 * with the baseline at its own p99 target. It returns the comparison and its verdict; the CLI
 * (src/cli/commands/regress.ts) measures, writes the outputs and maps the verdict to an exit code.
 */
import type { LoadPoint } from '../domain/measurement.js';
import type { ServingConfig } from '../domain/serving.js';
import { exitCodeForVerdict } from '../domain/exit-codes.js';
import { describeConfig } from '../report/specs.js';
import {
  BASELINE_SCHEMA,
  BASELINE_SCHEMA_VERSION,
  baselineRecommended,
  configFromJson,
  findTrial,
  measuredFromTrial,
  pointToJson,
  type BaselineDoc,
  type BaselineTrial,
} from './doc.js';
import { compare, formatFigure, operatingLoad, throughputAtTarget } from './compare.js';
import { median } from '../measure/stats.js';
import { type Comparison, type Measured, type Thresholds } from '../domain/comparison.js';
import type { FixedLoad } from '../domain/measurement.js';
import { bestPoint } from '../domain/target.js';

/** What the measurement of one repeat is asked to measure. */
export interface MeasureTarget {
  config: ServingConfig;
  /** The baseline's config.pbtxt for it (write it as the variant, under `variantName`). */
  pbtxt: string | null;
  variantName: string;
  targetP99Ms: number;
  /** 0-based. */
  repeat: number;
  /** The baseline's operating load (concurrency or offered rate): measuring it too makes the p99 check exact. */
  fixedLoad: FixedLoad | null;
}

/** A load search's result, as measureConfiguration returns it (TrialResult plus why it stopped). */
export interface MeasureResult {
  points: LoadPoint[];
  bestIndex?: number | null;
  stopReason?: string;
  firstError?: string;
}

export type MeasureFn = (target: MeasureTarget) => Promise<MeasureResult>;

export interface RegressOptions {
  baseline: BaselineDoc;
  /** How the baseline is named in messages (a file, or `<db>#<run>`). */
  baselineSource?: string;
  /** Measures the configuration once (one load search); thrown errors are infrastructure failures. */
  measure: MeasureFn;
  thresholds?: Thresholds;
  /** Measurements of the configuration (default 3). */
  repeats?: number;
  /** Optionally search again; returns the new run as a document (exportBaseline of it). */
  research?: () => Promise<BaselineDoc>;
  log?: (line: string) => void;
  now?: () => Date;
  /** Facts about the candidate's environment, for the page and the saved baseline. */
  environment?: { serverVersion?: string; hardware?: string; launch?: string; toolVersion?: string };
}

export interface RegressResult {
  comparison: Comparison;
  /** For the comparison page: baseline, candidate, candidate best. */
  sides: Measured[];
  candidate: Measured;
  candidateBest: Measured | null;
  /** The fresh measurements as a baseline document (for --save-baseline). */
  candidateDoc: BaselineDoc;
  durationS: number;
}

function lowestP99Trial(doc: BaselineDoc): BaselineTrial | null {
  const lowest = (t: BaselineTrial) => Math.min(...t.measurements.flat().map((p) => (p.p99_ms === null ? Infinity : p.p99_ms)));
  const measured = doc.trials.filter((t) => t.state !== 'FAILED' && t.state !== 'SKIPPED' && t.measurements.some((m) => m.length > 0));
  return [...measured].sort((a, b) => lowest(a) - lowest(b))[0] ?? null;
}

/**
 * Measures the baseline's recommended configuration again `repeats` times through `measure`,
 * optionally searches again, and compares against the baseline at the baseline's p99 target.
 * A thrown measurement, or requests failing at the lightest load, make the verdict
 * `infrastructure` unless a re-search measured something.
 */
export async function regress(opts: RegressOptions): Promise<RegressResult> {
  const now = opts.now ?? (() => new Date());
  const log = opts.log ?? (() => {});
  const started = now().getTime();
  const source = opts.baselineSource ?? '--baseline';
  const doc = opts.baseline;
  const baseTrial = baselineRecommended(doc, source);
  const baseline = measuredFromTrial(doc, baseTrial, 'baseline');
  const target = doc.run.target_p99_ms;
  const config = configFromJson(baseTrial.config);
  const fixed = baseline.repeats.map((r) => operatingLoad(r, target)).find((c) => c !== null) ?? null;
  const repeats = Math.max(1, Math.floor(opts.repeats ?? 3));

  const measured: LoadPoint[][] = [];
  let infra: string | null = null;
  let failed: string | null = null;
  for (let i = 0; i < repeats; i++) {
    log(`[${i + 1}/${repeats}] measuring the baseline's configuration: ${describeConfig(config)}`);
    let res: MeasureResult;
    try {
      res = await opts.measure({ config, pbtxt: baseTrial.pbtxt, variantName: baseTrial.variant_name, targetP99Ms: target, repeat: i, fixedLoad: fixed });
    } catch (e) {
      infra = (e as Error)?.message ?? String(e);
      log(`  measurement failed: ${infra}`);
      break;
    }
    measured.push(res.points);
    const tp = throughputAtTarget(res.points, target);
    log(`  ${tp === null ? `no load point within the ${target} ms target` : `${formatFigure(tp, 'inf/s')} within the target`} (${res.points.length} load points)`);
    if (res.stopReason?.startsWith('errors')) {
      failed = `requests failed: ${res.firstError ?? res.stopReason}`;
      break;
    }
  }
  const feasible = measured.some((r) => throughputAtTarget(r, target) !== null);
  const candidate: Measured = {
    label: 'candidate',
    runId: null,
    trialIndex: null,
    variantName: baseTrial.variant_name,
    config,
    state: infra !== null || failed !== null ? 'FAILED' : feasible ? 'COMPLETE' : 'INFEASIBLE',
    error: infra ?? failed,
    repeats: measured,
  };

  let candidateBest: Measured | null = null;
  let researchError: string | null = null;
  if (opts.research) {
    log('searching the space again');
    try {
      const found = await opts.research();
      const t = findTrial(found, found.recommended_index) ?? lowestP99Trial(found);
      if (t) candidateBest = measuredFromTrial(found, t, 'candidate best');
      else researchError = `the new search (run ${found.run.id}) measured no configuration`;
    } catch (e) {
      researchError = `the new search failed: ${(e as Error)?.message ?? String(e)}`;
    }
  }
  const bestMeasured = candidateBest !== null && candidateBest.state !== 'FAILED';
  const comparison = compare({
    model: doc.run.model,
    targetP99Ms: target,
    baseline,
    candidate,
    candidateBest,
    ...(opts.thresholds ? { thresholds: opts.thresholds } : {}),
    fixedLoad: fixed,
    infrastructureError: (infra !== null || failed !== null) && !bestMeasured ? (infra ?? failed) : null,
  });
  if (researchError && comparison.verdict !== 'infrastructure') {
    // The re-measurement was compared; the failed search is an error check, and the verdict
    // when nothing else failed (a regression or a missed SLA says more and is kept).
    comparison.checks.push({
      id: 'measurement', name: 'search again', status: 'error', unit: '', baseline: null, candidate: null, worse: null, threshold: null, noise: null, allowance: null,
      lowerBound: false, withinNoise: false, samples: { baseline: [], candidate: [] }, message: researchError,
    });
    if (comparison.verdict === 'pass') {
      comparison.verdict = 'infrastructure';
      comparison.exitCode = exitCodeForVerdict('infrastructure');
      comparison.headline = `Infrastructure failure: ${researchError}. ${comparison.headline}`;
    }
  }
  const end = now();
  return {
    comparison,
    sides: [baseline, candidate, candidateBest].filter((m): m is Measured => m !== null && m.repeats.length > 0),
    candidate,
    candidateBest,
    candidateDoc: candidateDocOf(doc, baseTrial, candidate, target, end, opts.environment),
    durationS: (end.getTime() - started) / 1000,
  };
}

/** The regress measurements as a baseline of their own: one trial, every repeat as a measurement. */
function candidateDocOf(base: BaselineDoc, t: BaselineTrial, cand: Measured, target: number, at: Date, env: RegressOptions['environment']): BaselineDoc {
  const tps = cand.repeats.map((r) => throughputAtTarget(r, target));
  const feasible = tps.some((x) => x !== null);
  const objective = feasible ? median(tps.map((x) => x ?? 0)) : null;
  const atBest = bestPoint(cand.repeats.flat(), target);
  const iso = at.toISOString();
  const id = `regress-${iso.slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`;
  return {
    schema: BASELINE_SCHEMA,
    schema_version: BASELINE_SCHEMA_VERSION,
    exported_at: iso,
    tool_version: env?.toolVersion ?? base.tool_version,
    run: {
      ...base.run,
      id,
      created_at: iso,
      finished_at: iso,
      status: cand.state === 'FAILED' ? 'failed' : 'complete',
      stop_reason: `regress: ${cand.repeats.length} measurement${cand.repeats.length === 1 ? '' : 's'} of run ${base.run.id}'s recommended configuration`,
      strategy: 'regress',
      budget: 1,
      launch: env?.launch ?? base.run.launch,
      server_version: env?.serverVersion ?? '',
      hardware: env?.hardware ?? '',
      tool_version: env?.toolVersion ?? base.run.tool_version,
    },
    recommended_index: feasible && cand.state === 'COMPLETE' ? t.index : null,
    default_index: t.is_default ? t.index : null,
    trials: [
      {
        index: t.index,
        variant_name: t.variant_name,
        is_default: t.is_default,
        state: cand.state,
        error: cand.error,
        objective_ips: objective,
        p99_ms: atBest ? atBest.p99Ms : null,
        pbtxt: t.pbtxt,
        config: t.config,
        measurements: cand.repeats.map((r) => r.map(pointToJson)),
      },
    ],
  };
}
