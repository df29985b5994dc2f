/**
 * A configuration's load search, walked: the points measured so far and the next load to
 * measure (load-search.ts's pure rules), with a repeat pooled into the point it measures
 * again (repeat-point.ts). Every driver walks it alike: the real server (measure-config.ts),
 * the simulator and a replayed landscape only measure what it asks for. State, no I/O.
 *
 *   const walk = new ConcurrencyWalk(opts);
 *   for (let step = walk.next(); !('done' in step); step = walk.next())
 *     store(walk.record(step, measureAt(step.concurrency)));
 */
import { bestPointIndex, KEEP_UP_SHARE } from '../domain/target.js';
import type { LoadPoint } from '../domain/measurement.js';
import { nextLoad, nextRate, pointToRepeatBeforeEnd, type NextLoadOptions, type NextRateOptions } from './load-search.js';
import { poolRepeat } from './repeat-point.js';

/** The walk is over, and why (load-search.ts's reason). */
export type WalkDone = { done: true; reason: string };
/** A concurrency to measure; `repeatOf`: the index of the point it measures again. */
export type ConcurrencyStep = { concurrency: number; repeatOf?: number };
/** A request rate to measure (open loop). */
export type RateStep = { rate: number };

/** What measure-config.ts needs of either walk. */
export interface LoadWalk {
  readonly points: readonly LoadPoint[];
  next(): ConcurrencyStep | RateStep | WalkDone;
  /** What was measured for `step`; returns the point as it now stands and its index (to be stored). */
  record(step: ConcurrencyStep | RateStep, point: LoadPoint): { point: LoadPoint; index: number };
  bestIndex(): number | null;
}

/** Closed loop: concurrencies (nextLoad), the best point measured again before the end. */
export class ConcurrencyWalk implements LoadWalk {
  private readonly measured: LoadPoint[] = [];

  constructor(private readonly opts: NextLoadOptions) {}

  /** The points so far, a repeated one pooled with its repeat. */
  get points(): readonly LoadPoint[] {
    return this.measured;
  }

  next(): ConcurrencyStep | WalkDone {
    const next = nextLoad(this.measured, this.opts);
    if ('done' in next) return { done: true, reason: next.reason };
    return next.repeat === undefined ? { concurrency: next.concurrency } : { concurrency: next.concurrency, repeatOf: next.repeat };
  }

  /** A new point, or a repeat pooled into the point it measures again, which it replaces. */
  record(step: ConcurrencyStep | RateStep, point: LoadPoint): { point: LoadPoint; index: number } {
    const repeatOf = 'repeatOf' in step ? step.repeatOf : undefined;
    if (repeatOf === undefined) {
      this.measured.push(point);
      return { point, index: this.measured.length - 1 };
    }
    const pooled = poolRepeat(this.measured[repeatOf]!, point, this.opts.targetP99Ms);
    this.measured[repeatOf] = pooled;
    return { point: pooled, index: repeatOf };
  }

  /**
   * The driver holds no load at the concurrency asked for, nor between the measured loads
   * around it (a recorded landscape's ladder): the step to take instead. The walk ends there
   * (`reason`) as a bracketed search does, with the same point measured again first.
   */
  noLoadBetween(reason: string): { concurrency: number; repeatOf: number } | WalkDone {
    const repeat = pointToRepeatBeforeEnd(this.measured, this.opts, 'bracketed');
    return repeat === null ? { done: true, reason } : { concurrency: this.measured[repeat]!.concurrency, repeatOf: repeat };
  }

  /** The index of the best point that meets the target, or null (domain/target.ts's rule). */
  bestIndex(): number | null {
    return bestPointIndex(this.measured, this.opts.targetP99Ms);
  }
}

/** Open loop: request rates (nextRate); no repeats. */
export class RateWalk implements LoadWalk {
  private readonly measured: LoadPoint[] = [];

  constructor(private readonly opts: NextRateOptions) {}

  get points(): readonly LoadPoint[] {
    return this.measured;
  }

  next(): RateStep | WalkDone {
    const next = nextRate(
      this.measured.map((p) => ({ ...p, offeredRate: p.offeredRate ?? 0, achievedRate: p.achievedRate ?? 0 })),
      this.opts,
    );
    return 'done' in next ? { done: true, reason: next.reason } : { rate: next.rate };
  }

  record(_step: ConcurrencyStep | RateStep, point: LoadPoint): { point: LoadPoint; index: number } {
    this.measured.push(point);
    return { point, index: this.measured.length - 1 };
  }

  bestIndex(): number | null {
    return bestPointIndex(this.measured, this.opts.targetP99Ms, this.opts.keepUp ?? KEEP_UP_SHARE);
  }
}
