/**
 * Replay: answers a configuration's measurement from a landscape instead of a server.
 * The load search is the runner's own (measure/load-walk.ts), walked over the
 * concurrency values the file holds for that configuration, so an offline search
 * measures load points the way a real run does. Pure and deterministic.
 *
 * Snapping: a requested concurrency is replaced by the nearest value in the file that lies
 * in the same gap between already measured values (ties go to the lower one). When that gap
 * holds no value, the load search is over: a value is never measured twice.
 *
 * Noise (`noise` = σ, e.g. 0.05): every point's throughput is multiplied by exp(σ·z1) and
 * its three latencies by one common exp(σ·z2) (so p50 <= p90 <= p99 still holds), with
 * z1, z2 standard normal draws seeded by (seed, configuration, concurrency): the same
 * point always gets the same noise, whatever the order of the measurements. A repeated
 * measurement of a configuration (`repeat` 1, 2, ...) draws its own noise.
 */
import type { NextLoadOptions } from '../measure/load-search.js';
import { ConcurrencyWalk } from '../measure/load-walk.js';
import { measurementsOf, type LoadPoint, type TrialResult } from '../domain/measurement.js';
import { normal, seededRng } from '../search/rng.js';
import { enumerateSpace } from '../search/space.js';
import type { SearchSpace, ServingConfig } from '../domain/serving.js';
import { configKey } from '../domain/serving.js';
import { describeConfig, landscapeIndex, type Landscape, type LandscapeRow } from './csv.js';
import { TanalyzeError } from '../domain/errors.js';

export interface ReplayOptions {
  targetP99Ms: number;
  /** σ of the multiplicative log-normal noise; 0 or absent = the recorded figures. */
  noise?: number;
  seed?: number;
  /**
   * How many times this configuration was measured before in the run (default 0): a repeat
   * gets noise of its own, as a measurement taken again would; repeat 0 is the noise above.
   */
  repeat?: number;
  /** Passed on to nextLoad (its defaults otherwise). */
  tolerance?: NextLoadOptions['tolerance'];
  minGrowth?: NextLoadOptions['minGrowth'];
  maxPoints?: NextLoadOptions['maxPoints'];
  confirmKnee?: NextLoadOptions['confirmKnee'];
}

export class MissingConfigError extends TanalyzeError {
  constructor(readonly config: ServingConfig, source: string) {
    super('configuration', `${source}: the landscape has no rows for ${describeConfig(config)}`);
  }
}

/** Configurations of the space that the landscape cannot answer. */
export function missingConfigs(landscape: Landscape, space: SearchSpace): ServingConfig[] {
  const index = landscapeIndex(landscape);
  return enumerateSpace(space).filter((c) => !index.has(configKey(c)));
}

/** The recorded rows of a configuration, by concurrency; throws MissingConfigError. */
export function configRows(landscape: Landscape, config: ServingConfig): LandscapeRow[] {
  const rows = landscapeIndex(landscape).get(configKey(config));
  if (!rows) throw new MissingConfigError(config, landscape.source);
  return rows;
}

function snap(requested: number, available: readonly number[], measured: ReadonlySet<number>): number | null {
  let below = -Infinity;
  let above = Infinity;
  for (const m of measured) {
    if (m <= requested && m > below) below = m;
    if (m >= requested && m < above) above = m;
  }
  if (below === requested || above === requested) return null;
  let best: number | null = null;
  for (const c of available) {
    if (c <= below || c >= above) continue;
    if (best === null || Math.abs(c - requested) < Math.abs(best - requested)) best = c;
  }
  return best;
}

/** A row as measured, with replay noise; `again` > 0 for the load search's repeat of the point (its own draw). */
function noisyPoint(row: LandscapeRow, config: ServingConfig, opts: ReplayOptions, again = 0): LoadPoint {
  const sigma = opts.noise ?? 0;
  let tf = 1;
  let lf = 1;
  if (sigma > 0) {
    const repeat = opts.repeat ?? 0;
    const labels: (string | number)[] = ['replay-noise', configKey(config), row.concurrency];
    if (repeat > 0) labels.push('repeat', repeat);
    if (again > 0) labels.push('again', again);
    const rand = seededRng(opts.seed ?? 0, ...labels);
    tf = Math.exp(sigma * normal(rand));
    lf = Math.exp(sigma * normal(rand));
  }
  const p50 = row.p50Ms * lf;
  const p90 = row.p90Ms * lf;
  const p99 = row.p99Ms * lf;
  const throughputIps = row.throughputIps * tf;
  return {
    concurrency: row.concurrency,
    throughputIps,
    p50Ms: p50,
    p90Ms: p90,
    // Not recorded: halfway between p90 and p99.
    p95Ms: (p90 + p99) / 2,
    p99Ms: p99,
    requests: Math.round(throughputIps),
    errors: 0,
    windows: 3,
    stable: true,
    stopReason: 'replayed',
    server: null,
    durationS: 0,
    // The replay's noise stands for the point's: the load search judges growth against it.
    ...(sigma > 0 ? { throughputCv: sigma } : {}),
  };
}

/**
 * Measures a configuration from the landscape: the runner's load search over the file's
 * concurrencies for it. Throws MissingConfigError (naming the configuration) when the
 * landscape has no rows for it.
 */
export function replayMeasure(landscape: Landscape, config: ServingConfig, opts: ReplayOptions): TrialResult {
  const rows = configRows(landscape, config);
  const byConcurrency = new Map(rows.map((r) => [r.concurrency, r]));
  const available = rows.map((r) => r.concurrency);
  const loadOpts: NextLoadOptions = {
    targetP99Ms: opts.targetP99Ms,
    minConcurrency: available[0]!,
    maxConcurrency: available[available.length - 1]!,
    ...(opts.tolerance !== undefined ? { tolerance: opts.tolerance } : {}),
    ...(opts.minGrowth !== undefined ? { minGrowth: opts.minGrowth } : {}),
    ...(opts.maxPoints !== undefined ? { maxPoints: opts.maxPoints } : {}),
    ...(opts.confirmKnee !== undefined ? { confirmKnee: opts.confirmKnee } : {}),
  };
  const walk = new ConcurrencyWalk(loadOpts);
  const measured = new Set<number>();
  const again = (i: number): void => {
    // Measured again: noise drawn afresh (a repeat's own label), pooled into the point.
    const first = walk.points[i]!;
    walk.record({ concurrency: first.concurrency, repeatOf: i }, noisyPoint(byConcurrency.get(first.concurrency)!, config, opts, measurementsOf(first)));
  };
  for (let step = walk.next(); !('done' in step); step = walk.next()) {
    if (step.repeatOf !== undefined) {
      again(step.repeatOf);
      continue;
    }
    const c = snap(step.concurrency, available, measured);
    if (c === null) {
      const instead = walk.noLoadBetween(`the landscape holds no load between the measured ones around concurrency ${step.concurrency}`);
      if ('done' in instead) break;
      again(instead.repeatOf);
      continue;
    }
    measured.add(c);
    walk.record(step, noisyPoint(byConcurrency.get(c)!, config, opts));
  }
  return { points: [...walk.points], bestIndex: walk.bestIndex() };
}
