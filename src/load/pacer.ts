/**
 * The open-loop schedule, ghz's way: a pure pacer says when request number `sent` is due,
 * `pace(elapsed, sent) → { waitNs } | { stop }`, and only the runner waits. Arrivals are
 * constant (evenly spaced) or Poisson (exponential gaps from a seeded generator), so a
 * schedule is the same on every run with the same seed. Times are ns since the start, as
 * plain numbers (exact to 2^53 ns, about 104 days).
 */
import { mulberry32 } from '../util/random.js';
import type { Arrivals } from '../domain/measurement.js';

/** Why a schedule ended. */
export type PacerStop = 'max-requests' | 'duration';

/**
 * `waitNs` > 0: request `sent` is due that much later; ≤ 0: it is due now and −waitNs is how
 * late it already is (the runner sends it at once and counts it late beyond its slack).
 */
export type Pace = { waitNs: number; dueNs: number } | { stop: PacerStop };

export interface PacerOptions {
  /** Requests per second (> 0). */
  rate: number;
  arrivals?: Arrivals;
  /** Seed of the Poisson gaps (default 1). */
  seed?: number;
  /** The first request's due time, ns (default 0): k constant pacers offset by i/(k·rate) interleave evenly. */
  offsetNs?: number;
  /** The schedule ends after this many requests. */
  maxRequests?: number;
  /** The schedule ends at this elapsed time, ns: no request is due at or after it. */
  durationNs?: number;
}

export interface Pacer {
  readonly rate: number;
  readonly arrivals: Arrivals;
  /** Intended send time of request `index` (0-based), ns since the start. */
  dueNs(index: number): number;
  pace(elapsedNs: number, sent: number): Pace;
}

export function createPacer(opts: PacerOptions): Pacer {
  const rate = opts.rate;
  if (!(Number.isFinite(rate) && rate > 0)) throw new RangeError(`rate must be a positive number of requests/s, got ${rate}`);
  const arrivals: Arrivals = opts.arrivals ?? 'constant';
  if (arrivals !== 'constant' && arrivals !== 'poisson') throw new RangeError(`arrivals must be constant or poisson, got ${String(arrivals)}`);
  const offset = opts.offsetNs ?? 0;
  const intervalNs = 1e9 / rate;
  const maxRequests = opts.maxRequests ?? Number.POSITIVE_INFINITY;
  const durationNs = opts.durationNs ?? Number.POSITIVE_INFINITY;

  let dueNs: (index: number) => number;
  if (arrivals === 'constant') {
    dueNs = (i) => offset + i * intervalNs;
  } else {
    // Cumulative exponential gaps, generated forward and cached at the last index asked;
    // asking for an earlier index replays the generator from the start (never needed by the
    // runner, which only moves forward, but keeps dueNs a function of its argument).
    const seed = opts.seed ?? 1;
    let rand = mulberry32(seed);
    let at = 0; // index whose due time is `t`
    let t = offset;
    dueNs = (i) => {
      if (!Number.isInteger(i) || i < 0) throw new RangeError(`request index must be an integer >= 0, got ${i}`);
      if (i < at) {
        rand = mulberry32(seed);
        at = 0;
        t = offset;
      }
      while (at < i) {
        // 1 − u lies in (0, 1], so the log is finite.
        t += -Math.log(1 - rand()) * intervalNs;
        at++;
      }
      return t;
    };
  }

  return {
    rate,
    arrivals,
    dueNs,
    pace(elapsedNs: number, sent: number): Pace {
      if (sent >= maxRequests) return { stop: 'max-requests' };
      const due = dueNs(sent);
      if (due >= durationNs) return { stop: 'duration' };
      return { waitNs: due - elapsedNs, dueNs: due };
    },
  };
}

/**
 * `k` pacers whose union is the schedule of one at `rate`: constant ones phase-shifted by
 * 1/rate each, Poisson ones at rate/k with their own seeds (a sum of independent Poisson
 * processes is a Poisson process). For spreading one schedule over worker threads.
 */
export function splitPacers(opts: PacerOptions, k: number): PacerOptions[] {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`pacer count must be a positive integer, got ${k}`);
  const base = opts.offsetNs ?? 0;
  const seed = opts.seed ?? 1;
  return Array.from({ length: k }, (_, i) => {
    const part: PacerOptions = { ...opts, rate: opts.rate / k };
    if ((opts.arrivals ?? 'constant') === 'constant') part.offsetNs = base + (i * 1e9) / opts.rate;
    else part.seed = (seed + Math.imul(i, 0x9e3779b1)) >>> 0;
    if (opts.maxRequests !== undefined) part.maxRequests = Math.floor(opts.maxRequests / k) + (i < opts.maxRequests % k ? 1 : 0);
    return part;
  });
}
