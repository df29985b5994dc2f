/**
 * What the report says about the recommendation's certainty: the recommended configuration
 * and the runner-up with every measurement of each (repeats, see search/finish.ts), their
 * mean and interval, and whether the two can be told apart. Pure; the choice itself is
 * search/estimate.ts's recommend, the same the search used.
 */
import { recommend, representativeIndex, type ConfigEstimate } from '../search/estimate.js';
import type { ServingConfig } from '../domain/serving.js';
import type { TrialRecord } from '../domain/trial.js';
import type { RankableTrial } from './pareto.js';

export interface FinalistFigures {
  config: ServingConfig;
  /** Trial indexes of its measurements, in order. */
  trialIndexes: number[];
  /** Throughput found at the target by each feasible measurement (inf/s), in order. */
  throughputsIps: number[];
  meanIps: number;
  /** Interval of the mean at `level` (inf/s). */
  intervalIps: [number, number];
  /** The trial the tables show for it (the measurement closest to the mean). */
  representativeIndex: number;
}

export interface Confirmation {
  recommended: FinalistFigures | null;
  runnerUp: FinalistFigures | null;
  /** The intervals of the two overlap: the measurements cannot tell them apart. */
  cannotTellApart: boolean;
  /** Two-sided level of the intervals, e.g. 0.9. */
  level: number;
  /** Relative measurement noise used (σ of log throughput) and the repeats behind it (degrees of freedom; 0 = assumed). */
  noise: number;
  noiseDf: number;
}

type Trial = RankableTrial & { index: number; error?: string | null };

export function confirmationOf(trials: readonly Trial[], targetP99Ms: number): Confirmation {
  const history: TrialRecord[] = trials.map((t) => ({ index: t.index, config: t.config, state: t.state, objectiveIps: t.objectiveIps, p99Ms: t.p99Ms, error: t.error ?? null }));
  const r = recommend(history, targetP99Ms);
  const figures = (e: ConfigEstimate | null): FinalistFigures | null =>
    e === null || e.meanIps === null
      ? null
      : {
          config: e.config,
          trialIndexes: e.indexes.map((i) => history[i]!.index),
          throughputsIps: e.feasibleIps,
          meanIps: e.meanIps,
          intervalIps: [e.lowIps!, e.highIps!],
          representativeIndex: history[representativeIndex(e, history)]!.index,
        };
  return { recommended: figures(r.best), runnerUp: figures(r.runnerUp), cannotTellApart: r.tied, level: r.estimates.level, noise: r.estimates.noise, noiseDf: r.estimates.noiseDf };
}
