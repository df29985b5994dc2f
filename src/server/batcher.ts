/**
 * Request scheduling for one loaded model: Triton's default scheduler (each request
 * runs alone) or its dynamic batcher. `decideBatch` (which batch a free instance runs) and
 * `decideStagedBatch` (which batch may be staged on a busy one) are the pure rules;
 * `Batcher` adds the queue, the model instances and the delay timer around them, with an
 * injectable clock so tests can drive time by hand.
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

/**
 * Whether the queue holds a batch that may be handed now to a BUSY instance, to run as soon
 * as its current batch ends ("staging"). Staging hides the transfer of the next batch to
 * the instance (IPC to its process) behind the current execution; it must not change which
 * requests are batched together, so only a batch that can no longer change is staged:
 * the batch `decideBatch` would send now, if every later arrival and the passing of
 * max_queue_delay leave it as it is. That holds
 * - with Triton's default scheduler (no dynamic batching, or max_batch_size <= 1): every
 *   request is its own batch, so always;
 * - when the batch is closed: it holds max_batch_size, or the next queued request ends it
 *   (it would overflow max_batch_size, or its input shapes differ). Nothing can join it
 *   and, the walk of `decideBatch` stopping at the same place, the delay running out
 *   sends the same requests;
 * - when the batch is the largest preferred size and there is no max_queue_delay: later
 *   arrivals cannot beat the largest preferred size, and with no delay the preferred size
 *   is never overridden.
 * A batch at the largest preferred size that is not closed is NOT staged when
 * max_queue_delay > 0: an instance still busy once the oldest request has waited the delay
 * would get everything queued up to max_batch_size instead (decideBatch), so the batch
 * could still grow. Otherwise the batch waits for a free instance, as without staging.
 * 'wait' asks for a new look at `untilNs` (the delay running out may close the batch).
 */
export function decideStagedBatch(queue: readonly QueueEntry<Batchable>[], nowNs: number, policy: BatchPolicy): BatchDecision {
  const decision = decideBatch(queue, nowNs, policy);
  const dyn = policy.dynamic;
  if (!dyn || policy.maxBatchSize <= 1 || decision.kind === 'idle') return decision;
  const oldest = queue[0]!.enqueuedNs;
  const delayRunsOutAt = dyn.maxQueueDelayNs > 0 && nowNs < oldest + dyn.maxQueueDelayNs ? oldest + dyn.maxQueueDelayNs : undefined;
  const hold: BatchDecision = delayRunsOutAt === undefined ? { kind: 'idle' } : { kind: 'wait', untilNs: delayRunsOutAt };
  if (decision.kind === 'wait') return decision;

  const maxBatch = policy.maxBatchSize;
  const shapeKey = queue[0]!.request.shapeKey;
  const sizeOf = (e: QueueEntry<Batchable>): number => Math.max(1, e.request.batchSize);
  const size = queue.slice(0, decision.count).reduce((n, e) => n + sizeOf(e), 0);
  const next = queue[decision.count];
  const closed = size >= maxBatch || (next !== undefined && (size + sizeOf(next) > maxBatch || next.request.shapeKey !== shapeKey));
  if (closed) return decision;
  const preferred = dyn.preferredBatchSizes.filter((s) => s > 0 && s <= maxBatch);
  if (dyn.maxQueueDelayNs === 0 && preferred.length > 0 && size === Math.max(...preferred)) return decision;
  return hold;
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

/**
 * Runs one batch on one instance; resolves when the batch is done. Must not reject. With
 * staging, it may be called for an instance that is still executing its previous batch:
 * the instance must run its batches in call order.
 */
export type RunBatch<T> = (batch: QueueEntry<T>[], instance: number, startNs: number) => Promise<void>;

export interface BatcherOptions {
  /**
   * Stage batches on busy instances (see decideStagedBatch): each instance holds at most one
   * executing batch and one staged batch. Only for instances that can take a second batch
   * while executing and run them in order; off by default.
   */
  staging?: boolean;
}

/**
 * The queue in front of a model's instances. A batch is formed when an instance is free,
 * so requests that arrive while all instances are busy wait and join later batches; with
 * staging, a batch that can no longer change is also handed to a busy instance, free
 * instances always being served first.
 */
export class Batcher<T extends Batchable> {
  private readonly queue: QueueEntry<T>[] = [];
  /** Instances with nothing to run, longest idle first. */
  private readonly free: number[];
  /** Per instance: batches handed to it and not finished (0, 1, or 2 with a staged one). */
  private readonly inFlight: number[];
  /** Per instance: when its current batch began (the instance likely to finish first gets the staged batch). */
  private readonly busySinceNs: number[];
  private readonly staging: boolean;
  private timer: { handle: unknown; untilNs: number } | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly policy: BatchPolicy,
    instances: number,
    private readonly run: RunBatch<T>,
    private readonly clock: SchedulerClock = systemClock,
    options: BatcherOptions = {},
  ) {
    if (!Number.isInteger(instances) || instances < 1) throw new RangeError(`instances must be a positive integer, got ${instances}`);
    this.free = Array.from({ length: instances }, (_, i) => i);
    this.inFlight = Array.from({ length: instances }, () => 0);
    this.busySinceNs = Array.from({ length: instances }, () => 0);
    this.staging = options.staging ?? false;
  }

  /** Requests waiting for an instance. */
  get pending(): number {
    return this.queue.length;
  }

  /** Batches executing now (staged batches not included). */
  get executing(): number {
    return this.inFlight.filter((n) => n > 0).length;
  }

  /** Batches staged on busy instances, waiting for the batch ahead of them. */
  get staged(): number {
    return this.inFlight.filter((n) => n > 1).length;
  }

  enqueue(request: T): void {
    this.queue.push({ request, enqueuedNs: this.clock.now() });
    this.schedule();
  }

  /** Resolves once nothing is queued, executing or staged. */
  drain(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Takes every queued request out (e.g. to fail them on unload); staged batches still run. */
  takeAll(): QueueEntry<T>[] {
    this.cancelTimer();
    const all = this.queue.splice(0);
    this.notifyIfIdle();
    return all;
  }

  private schedule(): void {
    let retryAt: number | undefined;
    let now = this.clock.now();
    for (; ; now = this.clock.now()) {
      const free = this.free.length > 0;
      const instance = free ? this.free[0]! : this.staging ? this.stagingSlot() : undefined;
      if (instance === undefined) break;
      const decision = (free ? decideBatch : decideStagedBatch)(this.queue, now, this.policy);
      if (decision.kind === 'idle') break;
      if (decision.kind === 'wait') {
        retryAt = decision.untilNs;
        break;
      }
      if (free) this.free.shift();
      this.dispatch(this.queue.splice(0, decision.count), instance, now);
    }
    if (retryAt !== undefined) this.armTimer(retryAt, now);
    else this.cancelTimer();
  }

  /** The busy instance without a staged batch whose current batch began first, if any. */
  private stagingSlot(): number | undefined {
    let best: number | undefined;
    this.inFlight.forEach((n, i) => {
      if (n === 1 && (best === undefined || this.busySinceNs[i]! < this.busySinceNs[best]!)) best = i;
    });
    return best;
  }

  private dispatch(batch: QueueEntry<T>[], instance: number, now: number): void {
    if (this.inFlight[instance]++ === 0) this.busySinceNs[instance] = now;
    void this.run(batch, instance, now)
      .catch(() => undefined)
      .then(() => {
        // The staged batch, if any, starts now.
        if (--this.inFlight[instance]! === 0) this.free.push(instance);
        else this.busySinceNs[instance] = this.clock.now();
        this.schedule();
        this.notifyIfIdle();
      });
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

  private idle(): boolean {
    return this.queue.length === 0 && this.inFlight.every((n) => n === 0);
  }

  private notifyIfIdle(): void {
    if (!this.idle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
