/**
 * Request scheduling for one loaded model: Triton's default scheduler (each request
 * runs alone) or its dynamic batcher. `decideBatch` is the pure rule; `Batcher` adds the
 * queue, the model instances and the delay timer around it, with an injectable clock so
 * tests can drive time by hand.
 */

/** What the scheduler needs to know of a request. */
export interface Batchable {
  /** Size of the request's first dimension (1 for models without batching). */
  readonly batchSize: number;
  /**
   * Shapes of the request's variable-size inputs; requests with different keys are never
   * batched together (Triton enforces equal shapes for non-ragged variable-size inputs).
   */
  readonly shapeKey?: string;
}

export interface BatchPolicy {
  /** 0 = the model does not batch: every request runs alone. */
  maxBatchSize: number;
  /** Absent = Triton's default scheduler. */
  dynamic?: {
    preferredBatchSizes: readonly number[];
    /** 0 = never wait: run what is queued as soon as an instance is free. */
    maxQueueDelayNs: number;
  };
}

export interface QueueEntry<T> {
  request: T;
  enqueuedNs: number;
}

export type BatchDecision =
  | { kind: 'idle' }
  | { kind: 'send'; count: number }
  | { kind: 'wait'; untilNs: number };

/**
 * Which queued requests (a FIFO prefix: requests are never reordered or split) to run
 * next on a free instance, following Triton's DynamicBatchScheduler::GetDynamicBatch:
 * - a batch never exceeds max_batch_size;
 * - the largest preferred size formable as a queue prefix (or, without preferred sizes,
 *   a full max_batch_size batch) is sent at once;
 * - otherwise the batcher waits until the oldest request has waited max_queue_delay,
 *   then sends the largest batch it can form;
 * - a request whose input shapes differ from the batch's ends the batch, which goes at once.
 */
export function decideBatch(queue: readonly QueueEntry<Batchable>[], nowNs: number, policy: BatchPolicy): BatchDecision {
  if (queue.length === 0) return { kind: 'idle' };
  const dyn = policy.dynamic;
  if (!dyn || policy.maxBatchSize <= 1) return { kind: 'send', count: 1 };

  const maxBatch = policy.maxBatchSize;
  const preferred = new Set(dyn.preferredBatchSizes.filter((s) => s > 0 && s <= maxBatch));
  const maxPreferred = preferred.size > 0 ? Math.max(...preferred) : maxBatch;

  let size = 0;
  let count = 0;
  // Request count of the best batch found on the walk: the last preferred size reached,
  // or the prefix that saturates the largest preferred size.
  let best = 0;
  let full = false;
  const shapeKey = queue[0]!.request.shapeKey;
  for (const entry of queue) {
    const bs = Math.max(1, entry.request.batchSize);
    if (count > 0) {
      if (size + bs > maxPreferred && best === 0) best = count;
      if (size + bs > maxBatch || entry.request.shapeKey !== shapeKey) {
        full = true;
        break;
      }
    }
    size += bs;
    count++;
    if (preferred.has(size)) best = count;
  }

  const delayNs = dyn.maxQueueDelayNs;
  const oldest = queue[0]!.enqueuedNs;
  const delayExceeded = delayNs > 0 && nowNs - oldest >= delayNs;

  if (best > 0 && !delayExceeded) return { kind: 'send', count: best };
  if (full || size >= maxPreferred || delayExceeded || delayNs === 0) return { kind: 'send', count };
  return { kind: 'wait', untilNs: oldest + delayNs };
}

/** Time source and timer, in nanoseconds; replaced by a fake in tests. */
export interface SchedulerClock {
  now(): number;
  setTimer(fn: () => void, delayNs: number): unknown;
  clearTimer(handle: unknown): void;
}

const hrNow = (): number => Number(process.hrtime.bigint());

interface PreciseTimer {
  cancelled: boolean;
  timeout?: NodeJS.Timeout;
  immediate?: NodeJS.Immediate;
}

/**
 * The real clock. setTimeout alone has millisecond resolution, which would turn a
 * 100 µs max_queue_delay into more than 1 ms; so the last millisecond before the
 * deadline is waited out in event-loop turns (setImmediate), which still let I/O in.
 */
export const systemClock: SchedulerClock = {
  now: hrNow,
  setTimer(fn, delayNs) {
    const due = hrNow() + delayNs;
    const t: PreciseTimer = { cancelled: false };
    // Never calls fn synchronously: the caller stores the handle first.
    const arm = (left: number): void => {
      if (left > 2e6) t.timeout = setTimeout(tick, Math.floor(left / 1e6) - 1);
      else t.immediate = setImmediate(tick);
    };
    const tick = (): void => {
      if (t.cancelled) return;
      const left = due - hrNow();
      if (left <= 0) fn();
      else arm(left);
    };
    arm(delayNs);
    return t;
  },
  clearTimer(handle) {
    const t = handle as PreciseTimer;
    t.cancelled = true;
    if (t.timeout) clearTimeout(t.timeout);
    if (t.immediate) clearImmediate(t.immediate);
  },
};

/** Runs one batch on one instance; resolves when the instance is free again. Must not reject. */
export type RunBatch<T> = (batch: QueueEntry<T>[], instance: number, startNs: number) => Promise<void>;

/**
 * The queue in front of a model's instances. A batch is formed only when an instance is
 * free, so requests that arrive while all instances are busy wait and join later batches.
 */
export class Batcher<T extends Batchable> {
  private readonly queue: QueueEntry<T>[] = [];
  private readonly free: number[];
  private running = 0;
  private timer: { handle: unknown; untilNs: number } | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly policy: BatchPolicy,
    instances: number,
    private readonly run: RunBatch<T>,
    private readonly clock: SchedulerClock = systemClock,
  ) {
    if (!Number.isInteger(instances) || instances < 1) throw new RangeError(`instances must be a positive integer, got ${instances}`);
    this.free = Array.from({ length: instances }, (_, i) => i);
  }

  /** Requests waiting for an instance. */
  get pending(): number {
    return this.queue.length;
  }

  /** Batches executing now. */
  get executing(): number {
    return this.running;
  }

  enqueue(request: T): void {
    this.queue.push({ request, enqueuedNs: this.clock.now() });
    this.schedule();
  }

  /** Resolves once nothing is queued or executing. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Takes every queued request out (e.g. to fail them on unload). */
  takeAll(): QueueEntry<T>[] {
    this.cancelTimer();
    const all = this.queue.splice(0);
    this.notifyIfIdle();
    return all;
  }

  private schedule(): void {
    while (this.free.length > 0) {
      const now = this.clock.now();
      const decision = decideBatch(this.queue, now, this.policy);
      if (decision.kind === 'idle') break;
      if (decision.kind === 'wait') {
        this.armTimer(decision.untilNs, now);
        return;
      }
      this.cancelTimer();
      const batch = this.queue.splice(0, decision.count);
      const instance = this.free.shift()!;
      this.running++;
      void this.run(batch, instance, now)
        .catch(() => undefined)
        .then(() => {
          this.running--;
          this.free.push(instance);
          this.schedule();
          this.notifyIfIdle();
        });
    }
    if (this.queue.length === 0) this.cancelTimer();
  }

  private armTimer(untilNs: number, now: number): void {
    if (this.timer && this.timer.untilNs === untilNs) return;
    this.cancelTimer();
    const handle = this.clock.setTimer(() => {
      this.timer = undefined;
      this.schedule();
    }, untilNs - now);
    this.timer = { handle, untilNs };
  }

  private cancelTimer(): void {
    if (!this.timer) return;
    this.clock.clearTimer(this.timer.handle);
    this.timer = undefined;
  }

  private notifyIfIdle(): void {
    if (this.queue.length > 0 || this.running > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
