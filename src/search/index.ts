/** Strategies by name: the one place a `--search` value becomes a Strategy. */
import { BayesianStrategy } from './bayesian.js';
import { FinishingStrategy } from './finish.js';
import { GridStrategy } from './grid.js';
import { QuickStrategy } from './quick.js';
import { RandomStrategy } from './random.js';
import type { Strategy, StrategyOptions } from './types.js';
import { TanalyzeError } from '../domain/errors.js';

const FACTORIES: Record<string, (opts: StrategyOptions) => Strategy> = {
  grid: () => new GridStrategy(),
  random: () => new RandomStrategy(),
  quick: () => new QuickStrategy(),
  bayesian: (opts) => new BayesianStrategy(opts.targetP99Ms !== undefined ? { targetP99Ms: opts.targetP99Ms } : {}),
};

/** Accepted names, in the order they are listed to users. */
export const STRATEGY_NAMES: readonly string[] = Object.keys(FACTORIES);

/** The strategy a run uses when none is named. */
export const DEFAULT_STRATEGY = 'bayesian';

export class UnknownStrategyError extends TanalyzeError {
  constructor(readonly value: string, readonly accepted: readonly string[]) {
    super('usage', `search strategy '${value}' is not one of ${accepted.join(', ')}`);
  }
}

/**
 * A fresh strategy; throws UnknownStrategyError naming the value and the accepted names.
 * Pass the run's p99 target: the Bayesian strategy models feasibility against it (it
 * infers it from the history otherwise). With the run's budget and target, the strategy
 * ends as every search does (finish.ts: the incumbent's neighbours, then its rivals measured
 * again); grid, which measures every configuration, only once it has.
 */
export function strategyByName(name: string, opts: StrategyOptions = {}): Strategy {
  const make = Object.hasOwn(FACTORIES, name) ? FACTORIES[name] : undefined;
  if (!make) throw new UnknownStrategyError(name, STRATEGY_NAMES);
  const inner = make(opts);
  if (opts.budget === undefined || opts.targetP99Ms === undefined) return inner;
  return new FinishingStrategy(inner, { ...opts.finish, budget: opts.budget, targetP99Ms: opts.targetP99Ms, ...(name === 'grid' ? { onlyAtEnd: true } : {}) });
}

export { BayesianStrategy, designSize, initialDesign, shouldStopEarly } from './bayesian.js';
export type { Analysis, BayesianOptions, EarlyStopOptions } from './bayesian.js';
export { GaussianProcess } from './gp.js';
export { estimateConfigs, recommend, representativeIndex } from './estimate.js';
export type { ConfigEstimate, Estimates, Recommendation } from './estimate.js';
export { FinishingStrategy, finalists, nextRepeat } from './finish.js';
export type { FinishDecision, FinishOptions, FinishPhase } from './finish.js';
export { GridStrategy } from './grid.js';
export { QuickStrategy } from './quick.js';
export { RandomStrategy } from './random.js';
export { enumerateSpace, parseSpace, skippedConfigs, spaceCombinations, spaceSize, validateConfig, validateSpace } from './space.js';
export type { ParsedSpace, SkippedConfig, SpaceLabels } from './space.js';
export type { StrategyOptions } from './types.js';
