/**
 * Is the client the bottleneck? A monitor of this thread's event loop (utilisation and
 * delay) and of the process's CPU, sampled per measurement window, and a pure rule that
 * says whether a load point was limited by the client rather than by the server.
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import type { ThreadLoad } from '../domain/load.js';
import type { LoadMode } from '../domain/measurement.js';

/** What the client did over one window. */
export interface ClientSample extends ThreadLoad {
  /** CPU time of the whole process (every thread) over wall time, in cores. */
  cpuCores: number;
}

export interface ClientMonitor {
  /** Starts (or restarts) the interval the next take() reports. */
  begin(): void;
  /** The figures since begin() or the previous take(); starts the next interval. */
  take(): ClientSample;
  /** Releases the event-loop delay timer. */
  close(): void;
}

/**
 * Resolution of the event-loop delay monitor, ms (its timer fires this often). Each wake-up
 * costs the client CPU (about 60 µs on these VMs: at 1 ms the monitor alone took 57 µs of CPU
 * per ms, more than the load it watched at a few hundred requests/s); at 10 ms it is about 1%
 * of a core. A stall shows whenever it covers one of the timer's due times.
 */
export const ELD_RESOLUTION_MS = 10;

/**
 * The percentile of the ticks' delays the rule reads: 100 − resolution, so that the same
 * number of late ticks per window decides as p99 of 1 ms ticks did (the 3rd worst of a
 * 300 ms window's 30 ticks, as of its 300): one stall alone does not move a p99 latency,
 * and does not count either.
 */
export const ELD_PERCENTILE = 100 - ELD_RESOLUTION_MS;

/**
 * How long the event loop stalled, ms: the ELD_PERCENTILE of the monitor's delays beyond its
 * own interval (Node records the interval between the timer's callbacks, so the resolution
 * is subtracted).
 */
export function eventLoopStallMs(h: IntervalHistogram): number {
  if (h.count === 0) return 0;
  return Math.max(0, h.percentile(ELD_PERCENTILE) / 1e6 - ELD_RESOLUTION_MS);
}

/** A monitor of the calling thread's event loop and of process CPU (real clocks). */
export function processClientMonitor(): ClientMonitor {
  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  eld.enable();
  let elu: EventLoopUtilization = performance.eventLoopUtilization();
  let cpu = process.cpuUsage();
  let wall = process.hrtime.bigint();
  const begin = (): void => {
    eld.reset();
    elu = performance.eventLoopUtilization();
    cpu = process.cpuUsage();
    wall = process.hrtime.bigint();
  };
  return {
    begin,
    take(): ClientSample {
      const u = performance.eventLoopUtilization(elu);
      const c = process.cpuUsage(cpu);
      const wallUs = Number(process.hrtime.bigint() - wall) / 1000;
      const sample: ClientSample = {
        eventLoopUtilization: u.utilization,
        eventLoopStallMs: eventLoopStallMs(eld),
        cpuCores: wallUs > 0 ? (c.user + c.system) / wallUs : 0,
      };
      begin();
      return sample;
    },
    close(): void {
      eld.disable();
    },
  };
}

/** Per-thread figures of a worker, measured in that worker over its window. */
export function threadLoadSince(start: EventLoopUtilization, eld: IntervalHistogram): ThreadLoad {
  return { eventLoopUtilization: performance.eventLoopUtilization(start).utilization, eventLoopStallMs: eventLoopStallMs(eld) };
}

export interface ClientLimitRules {
  /** Open loop: more than this share of requests sent late means the client fell behind (default 0.01). */
  maxLateShare?: number;
  /** Open loop: the lateness beyond which a send counted as late, for the message (ms). */
  lateSlackMs?: number;
  /** Closed loop: a sending event loop at least this busy is saturated (default 0.95). */
  maxUtilization?: number;
  /** Event-loop delay p99 at least this share of the measured p99 latency distorts it (default 0.25)... */
  maxDelayShareOfP99?: number;
  /** ...and at least this many ms (default 2). */
  minDelayMs?: number;
}

export interface ClientLimitInput {
  mode: LoadMode;
  sent?: number;
  late?: number;
  /** Busiest sending thread over the used windows. */
  eventLoopUtilization?: number;
  eventLoopStallMs?: number;
  p99Ms: number;
}

export interface ClientLimitVerdict {
  clientLimited: boolean;
  /** The client fell behind its schedule: the figures are not the server's (open loop only). */
  unreliable: boolean;
  reason?: string;
}

const pct = (x: number): string => `${(Math.round(x * 1000) / 10).toString()}%`;

/**
 * Pure. Open loop: the client limited the point when more than 1% of requests left late
 * (then it is also unreliable: latencies include the client's own delay). Closed loop: when
 * a sending event loop was ≥ 95% busy (the pacer's spinning makes utilisation meaningless
 * in open loop, where lateness measures the same thing directly). Either mode: when the
 * event loop stalled for a quarter of the measured p99 or more (GC, synchronous work).
 */
export function judgeClientLimit(input: ClientLimitInput, rules: ClientLimitRules = {}): ClientLimitVerdict {
  const maxLate = rules.maxLateShare ?? 0.01;
  const maxUtil = rules.maxUtilization ?? 0.95;
  const delayShare = rules.maxDelayShareOfP99 ?? 0.25;
  const minDelay = rules.minDelayMs ?? 2;
  const reasons: string[] = [];
  let unreliable = false;
  if (input.mode === 'rate' && input.sent !== undefined && input.sent > 0 && input.late !== undefined) {
    const share = input.late / input.sent;
    if (share > maxLate) {
      unreliable = true;
      const beyond = rules.lateSlackMs !== undefined ? ` (more than ${Number(rules.lateSlackMs.toFixed(1))} ms after their intended time)` : '';
      reasons.push(`the client fell behind its schedule: ${pct(share)} of ${input.sent} requests left late${beyond}, more than ${pct(maxLate)}`);
    }
  }
  if (input.mode === 'concurrency' && input.eventLoopUtilization !== undefined && input.eventLoopUtilization >= maxUtil) {
    reasons.push(`the client's event loop was ${pct(input.eventLoopUtilization)} busy`);
  }
  const d = input.eventLoopStallMs;
  if (d !== undefined && Number.isFinite(input.p99Ms) && d >= minDelay && d >= delayShare * input.p99Ms) {
    reasons.push(`the client's event loop stalled ${d.toFixed(1)} ms (p${ELD_PERCENTILE} of its ${ELD_RESOLUTION_MS} ms ticks), against a ${input.p99Ms.toFixed(1)} ms p99 latency`);
  }
  const verdict: ClientLimitVerdict = { clientLimited: reasons.length > 0, unreliable };
  if (reasons.length) verdict.reason = reasons.join('; ');
  return verdict;
}
