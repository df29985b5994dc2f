/**
 * Open-loop load (wrk2's lesson): requests leave on a schedule the server cannot slow
 * down, and each latency is measured from the request's INTENDED send time. A server that
 * stalls for 100 ms therefore shows in p99 through every request that should have left
 * during the stall, instead of through the one request a closed loop would have had in
 * flight (coordinated omission).
 *
 * The pacer decides when each request is due; this runner is the only thing that waits.
 * Waits longer than `spinNs` use a timer (woken `spinNs` early), shorter ones give the
 * event loop a turn and check again, because Node's timers have 1 ms granularity: the
 * spinning costs CPU (up to a core at high rates) and buys sends within microseconds of
 * their due time. A request that leaves more than `lateSlackNs` after its due time counts
 * as late; more than 1% late means the client fell behind and the load point is marked
 * unreliable (measure.ts). Its latency still counts from the due time, so lateness can only
 * make a point look worse, never better.
 */
import { countFinished, defaultClock, defaultYield, type CountingWindow } from './closed-loop.js';
import { type Clock, type LoadDriver, type StopResult, type WindowResult } from '../domain/load.js';
import { createPacer, type Pacer, type PacerOptions } from './pacer.js';
import { newLatencyHistogram, recordLatencyNs, type LatencyHistogram } from './histogram.js';

/** Default lateness slack when no p99 target is known: twice Node's timer granularity. */
export const DEFAULT_LATE_SLACK_NS = 2_000_000;

/**
 * How late a send may leave before it counts as late, for a p99 target: 10% of the target,
 * at least 2 ms. A send's latency is counted from its intended time, so lateness can only
 * make a point look worse; what the rule must catch is a client whose delays could move a
 * point across the target, not a few milliseconds of scheduling on a machine whose cores
 * the server under test also uses (on 2 cores, with the embedded server busy, 1.5-3% of
 * sends left 2-4 ms late at 300-400 requests/s, which marked almost every point unreliable
 * against a 50 ms target). Pure.
 */
export function lateSlackNsFor(targetP99Ms: number | undefined): number {
  if (targetP99Ms === undefined || !(targetP99Ms > 0)) return DEFAULT_LATE_SLACK_NS;
  return Math.max(DEFAULT_LATE_SLACK_NS, Math.round(targetP99Ms * 0.1 * 1e6));
}

export interface OpenLoopOptions {
  send: () => Promise<void>;
  /** The schedule at the rate given to start(): default constant arrivals. */
  pacer?: Omit<PacerOptions, 'rate'>;
  clock?: Clock;
  /** Timer sleep; default setTimeout. Tests pass a virtual one (with spinNs 0). */
  sleep?: (ms: number) => Promise<void>;
  /** Gives the event loop a turn; default setImmediate. */
  yieldTurn?: () => Promise<void>;
  /** Waits up to this long are spun on yieldTurn, longer ones sleep until this long before the due time (default 1 ms; 0: always sleep). */
  spinNs?: number;
  /** A request leaving later than this after its due time is late (default 2 ms; measurements pass lateSlackNsFor(target)). */
  lateSlackNs?: number;
  /**
   * Most requests in flight (default 10 000), so a dead server cannot grow memory without
   * bound. Requests held back by it are still timed from their intended send time and are
   * counted as `capped`, not late: the server, not the client, held them.
   */
  maxInFlight?: number;
  /** Sends in a row before the runner yields a turn to let responses in (default 32). */
  burst?: number;
  /** How long stop() waits for in-flight requests (default 10 s). */
  stopTimeoutMs?: number;
}

interface OpenWindow extends CountingWindow {
  startNs: bigint;
  sent: number;
  late: number;
  maxLateNs: number;
  lateness: LatencyHistogram;
  peakInFlight: number;
}

export class OpenLoopDriver implements LoadDriver {
  private readonly send: () => Promise<void>;
  private readonly pacerOptions: Omit<PacerOptions, 'rate'>;
  private readonly clock: Clock;
  private readonly sleep: ((ms: number) => Promise<void>) | undefined;
  private readonly yieldTurn: () => Promise<void>;
  private readonly spinNs: number;
  private readonly lateSlackNs: number;
  private readonly maxInFlightAllowed: number;
  private readonly burst: number;
  private readonly stopTimeoutMs: number;

  private pacer: Pacer | null = null;
  private runner: Promise<void> | null = null;
  private stopping = false;
  private window: OpenWindow | null = null;
  private inFlightNow = 0;
  private peak = 0;
  private sentTotal = 0;
  private lateTotal = 0;
  private cappedTotal = 0;
  private completedTotal = 0;
  private errorsTotal = 0;
  private wakeOnCompletion: (() => void) | null = null;
  private wakeRunner: (() => void) | null = null;
  private drained: (() => void) | null = null;
  private scheduleEnd: string | null = null;

  constructor(opts: OpenLoopOptions) {
    this.send = opts.send;
    this.pacerOptions = opts.pacer ?? {};
    this.clock = opts.clock ?? defaultClock;
    this.sleep = opts.sleep;
    this.yieldTurn = opts.yieldTurn ?? defaultYield;
    this.spinNs = Math.max(0, opts.spinNs ?? 1_000_000);
    this.lateSlackNs = Math.max(0, opts.lateSlackNs ?? DEFAULT_LATE_SLACK_NS);
    this.maxInFlightAllowed = Math.max(1, opts.maxInFlight ?? 10_000);
    this.burst = Math.max(1, opts.burst ?? 32);
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 10_000;
  }

  get inFlight(): number {
    return this.inFlightNow;
  }

  get maxInFlight(): number {
    return this.peak;
  }

  /** Since start, windows or not. `capped`: requests held back by maxInFlight. */
  get totals(): { sent: number; late: number; capped: number; completed: number; errors: number } {
    return { sent: this.sentTotal, late: this.lateTotal, capped: this.cappedTotal, completed: this.completedTotal, errors: this.errorsTotal };
  }

  /** Why the schedule ended on its own ('max-requests' | 'duration'), or null while it runs or when stopped. */
  get scheduleStop(): string | null {
    return this.scheduleEnd;
  }

  /** Starts the schedule at `rate` requests/s. */
  start(rate: number): void {
    if (this.pacer) throw new Error('OpenLoopDriver: start() called twice');
    this.pacer = createPacer({ ...this.pacerOptions, rate });
    this.runner = this.run(this.pacer);
  }

  startWindow(): void {
    this.window = {
      histogram: newLatencyHistogram(),
      count: 0,
      errors: 0,
      firstError: null,
      startNs: this.clock(),
      sent: 0,
      late: 0,
      maxLateNs: 0,
      lateness: newLatencyHistogram(),
      peakInFlight: this.inFlightNow,
    };
  }

  endWindow(): WindowResult {
    const w = this.window;
    if (!w) throw new Error('OpenLoopDriver: endWindow() without startWindow()');
    this.window = null;
    return {
      histogram: w.histogram,
      count: w.count,
      errors: w.errors,
      firstError: w.firstError,
      durationNs: this.clock() - w.startNs,
      sent: w.sent,
      late: w.late,
      maxLateNs: w.maxLateNs,
      lateness: w.lateness,
      peakInFlight: w.peakInFlight,
    };
  }

  async stop(): Promise<StopResult> {
    this.stopping = true;
    this.wakeOnCompletion?.();
    this.wakeRunner?.();
    if (this.runner) await this.runner;
    if (this.inFlightNow === 0) return { drained: true, inFlight: 0 };
    const all = new Promise<boolean>((resolve) => {
      this.drained = () => resolve(true);
    });
    let drained: boolean;
    if (this.sleep) {
      drained = await Promise.race([all, this.sleep(this.stopTimeoutMs).then(() => false)]);
    } else {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), this.stopTimeoutMs);
      });
      drained = await Promise.race([all, bound]);
      clearTimeout(timer);
    }
    this.drained = null;
    return { drained, inFlight: this.inFlightNow };
  }

  private async run(pacer: Pacer): Promise<void> {
    const t0 = this.clock();
    let inBurst = 0;
    while (!this.stopping) {
      const elapsed = Number(this.clock() - t0);
      const p = pacer.pace(elapsed, this.sentTotal);
      if ('stop' in p) {
        this.scheduleEnd = p.stop;
        return;
      }
      // The clock counts whole ns: a fraction of one left to wait is no wait (and a timer
      // asked for it would fire at the same instant, for ever, on a virtual clock).
      const waitNs = Math.round(p.waitNs);
      if (waitNs > 0) {
        inBurst = 0;
        if (waitNs > this.spinNs) await this.pause((waitNs - this.spinNs) / 1e6);
        else await this.yieldTurn();
        continue;
      }
      if (this.inFlightNow >= this.maxInFlightAllowed) {
        // Held back by the cap: wait for a completion; the request stays timed from its due time.
        await new Promise<void>((resolve) => {
          this.wakeOnCompletion = resolve;
        });
        this.wakeOnCompletion = null;
        if (this.stopping) return;
        this.fire(t0 + BigInt(Math.round(p.dueNs)), -waitNs, true);
      } else {
        this.fire(t0 + BigInt(Math.round(p.dueNs)), -waitNs, false);
      }
      if (++inBurst >= this.burst) {
        inBurst = 0;
        await this.yieldTurn();
      }
    }
  }

  /** The runner's wait for the next due time, which stop() cuts short (at a low rate it may be long). */
  private async pause(ms: number): Promise<void> {
    if (this.sleep) {
      await Promise.race([this.sleep(ms), new Promise<void>((resolve) => (this.wakeRunner = resolve))]);
    } else {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        this.wakeRunner = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.wakeRunner = null;
  }

  private fire(intendedNs: bigint, lateNs: number, capped: boolean): void {
    const w = this.window;
    this.sentTotal++;
    const late = !capped && lateNs > this.lateSlackNs;
    if (late) this.lateTotal++;
    if (capped) this.cappedTotal++;
    if (w) {
      w.sent++;
      if (late) w.late++;
      if (!capped) {
        if (lateNs > w.maxLateNs) w.maxLateNs = lateNs;
        recordLatencyNs(w.lateness, Math.max(0, lateNs));
      }
    }
    this.inFlightNow++;
    if (this.inFlightNow > this.peak) this.peak = this.inFlightNow;
    if (w && this.inFlightNow > w.peakInFlight) w.peakInFlight = this.inFlightNow;
    let pending: Promise<void>;
    try {
      pending = this.send();
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      () => this.complete(intendedNs, false, undefined),
      (err: unknown) => this.complete(intendedNs, true, err),
    );
  }

  private complete(intendedNs: bigint, failed: boolean, failure: unknown): void {
    const t1 = this.clock();
    this.inFlightNow--;
    if (failed) this.errorsTotal++;
    else this.completedTotal++;
    countFinished(this.window, t1 - intendedNs, failed, failure);
    this.wakeOnCompletion?.();
    if (this.inFlightNow === 0) this.drained?.();
  }
}
