/**
 * Closed-loop load: `concurrency` independent loops, each sending the next request as
 * soon as its previous one completes, so exactly `concurrency` requests are in flight.
 * Latencies go into the open window's HDR histogram. The clock and `send` are injected.
 */
import { newLatencyHistogram, recordLatencyNs, type LatencyHistogram } from './histogram.js';
import type { Clock, LoadDriver, StopResult, WindowResult } from '../domain/load.js';

export interface ClosedLoopOptions {
  send: () => Promise<void>;
  clock?: Clock;
  /** How long stop() waits for in-flight requests (default 10 s). */
  stopTimeoutMs?: number;
  /** Sleep used only for stop()'s bound; default a real timer, cleared once drained. */
  sleep?: (ms: number) => Promise<void>;
  /** Gives the event loop a turn; default setImmediate. Used after a failure and every `yieldEvery` sends. */
  yieldTurn?: () => Promise<void>;
  /**
   * A loop yields a turn after this many consecutive sends, so a `send` that settles
   * without I/O (a fake, a synchronous rejection) cannot starve timers. Default 1000.
   */
  yieldEvery?: number;
}

interface OpenWindow extends CountingWindow {
  startNs: bigint;
  peakInFlight: number;
}

export const defaultClock: Clock = () => process.hrtime.bigint();
export const defaultYield = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** What every driver's open window counts. */
export interface CountingWindow {
  histogram: LatencyHistogram;
  count: number;
  errors: number;
  firstError: string | null;
}

/**
 * Counts one finished request into the open window, if any: its latency when it
 * succeeded, else the failure (the window keeps the first message). Both drivers use it.
 */
export function countFinished(w: CountingWindow | null, latencyNs: bigint, failed: boolean, failure: unknown): void {
  if (!w) return;
  if (failed) {
    w.errors++;
    if (w.firstError === null) w.firstError = errorMessage(failure);
  } else {
    w.count++;
    recordLatencyNs(w.histogram, latencyNs);
  }
}

export class ClosedLoopDriver implements LoadDriver {
  private readonly send: () => Promise<void>;
  private readonly clock: Clock;
  private readonly stopTimeoutMs: number;
  private readonly sleep: ((ms: number) => Promise<void>) | undefined;
  private readonly yieldTurn: () => Promise<void>;
  private readonly yieldEvery: number;

  private loops: Promise<void>[] = [];
  private stopping = false;
  private started = false;
  private window: OpenWindow | null = null;
  private inFlightNow = 0;
  private maxInFlightSeen = 0;
  private completedTotal = 0;
  private errorsTotal = 0;

  constructor(opts: ClosedLoopOptions) {
    this.send = opts.send;
    this.clock = opts.clock ?? defaultClock;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 10_000;
    this.sleep = opts.sleep;
    this.yieldTurn = opts.yieldTurn ?? defaultYield;
    this.yieldEvery = Math.max(1, opts.yieldEvery ?? 1000);
  }

  /** Requests in flight right now. */
  get inFlight(): number {
    return this.inFlightNow;
  }

  /** The most requests ever in flight at once (tests assert it equals the concurrency). */
  get maxInFlight(): number {
    return this.maxInFlightSeen;
  }

  /** Completions since start, windows or not. */
  get totals(): { completed: number; errors: number } {
    return { completed: this.completedTotal, errors: this.errorsTotal };
  }

  start(concurrency: number): void {
    if (this.started) throw new Error('ClosedLoopDriver: start() called twice');
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`ClosedLoopDriver: concurrency must be a positive integer, got ${concurrency}`);
    }
    this.started = true;
    for (let i = 0; i < concurrency; i++) this.loops.push(this.loop());
  }

  startWindow(): void {
    this.window = {
      histogram: newLatencyHistogram(),
      count: 0,
      errors: 0,
      firstError: null,
      startNs: this.clock(),
      peakInFlight: this.inFlightNow,
    };
  }

  endWindow(): WindowResult {
    const w = this.window;
    if (!w) throw new Error('ClosedLoopDriver: endWindow() without startWindow()');
    this.window = null;
    const durationNs = this.clock() - w.startNs;
    return { histogram: w.histogram, count: w.count, errors: w.errors, firstError: w.firstError, durationNs, peakInFlight: w.peakInFlight };
  }

  async stop(): Promise<StopResult> {
    this.stopping = true;
    const all = Promise.all(this.loops).then(() => true);
    let drained: boolean;
    if (this.sleep) {
      drained = await Promise.race([all, this.sleep(this.stopTimeoutMs).then(() => false)]);
    } else {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<boolean>((resolve) => {
        // Not unref'd: the caller awaits this bound; it is cleared once drained.
        timer = setTimeout(() => resolve(false), this.stopTimeoutMs);
      });
      drained = await Promise.race([all, bound]);
      clearTimeout(timer);
    }
    return { drained, inFlight: this.inFlightNow };
  }

  private async loop(): Promise<void> {
    let sinceYield = 0;
    while (!this.stopping) {
      this.inFlightNow++;
      if (this.inFlightNow > this.maxInFlightSeen) this.maxInFlightSeen = this.inFlightNow;
      if (this.window && this.inFlightNow > this.window.peakInFlight) this.window.peakInFlight = this.inFlightNow;
      const t0 = this.clock();
      let failure: unknown = undefined;
      let failed = false;
      try {
        await this.send();
      } catch (err) {
        failed = true;
        failure = err;
      }
      const t1 = this.clock();
      this.inFlightNow--;
      if (failed) this.errorsTotal++;
      else this.completedTotal++;
      countFinished(this.window, t1 - t0, failed, failure);
      // A failing or instant send must not monopolise the event loop.
      if (failed || ++sinceYield >= this.yieldEvery) {
        sinceYield = 0;
        await this.yieldTurn();
      }
    }
  }
}
