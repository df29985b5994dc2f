/**
 * Load from worker threads, for when one thread cannot send fast enough (or when the main
 * thread is busy serving the embedded server). Each worker (worker-thread.ts) keeps
 * one gRPC channel for the pool's life and sends pre-serialized request bytes; per load
 * point, the concurrency or the rate is split across the workers, and each window's
 * histograms come back encoded and are merged here. The pool hands out LoadDrivers, so
 * measureLoadPoint does not know threads are involved.
 */
import { Worker } from 'node:worker_threads';
import type { LoadDriver, StopResult, ThreadLoad, WindowResult } from '../domain/load.js';
import type { OpenLoopOptions } from './open-loop.js';
import { splitPacers, type PacerOptions } from './pacer.js';
import { decodeHistogram, newLatencyHistogram } from './histogram.js';
import type { ClientTransport } from '../domain/load.js';
import type { LoadMode } from '../domain/measurement.js';

/** workerData of a load worker. */
export interface WorkerInit {
  address: string;
  /** Deadline of each ModelInfer (default 60 s). */
  deadlineMs?: number;
  /** How requests are sent (default http2). */
  transport?: ClientTransport;
  /** How long a worker's stop waits for in-flight requests (default 10 s). */
  stopTimeoutMs?: number;
  /** How long a worker waits for its channel to connect (default 10 s). */
  connectTimeoutMs?: number;
  openLoop?: Pick<OpenLoopOptions, 'spinNs' | 'lateSlackNs' | 'maxInFlight' | 'burst'>;
}

export type ToWorker =
  | { op: 'start'; id: number; mode: LoadMode; level: number; request: Uint8Array; pacer?: Omit<PacerOptions, 'rate'>; lateSlackNs?: number }
  | { op: 'startWindow' }
  | { op: 'endWindow'; id: number }
  | { op: 'stop'; id: number }
  | { op: 'close' };

export interface WorkerWindow {
  op: 'window';
  id: number;
  histogram: string;
  count: number;
  errors: number;
  firstError: string | null;
  durationNs: bigint;
  sent: number;
  late: number;
  maxLateNs: number;
  /** Encoded lateness histogram (open loop), or null. */
  lateness: string | null;
  peakInFlight: number;
  load: ThreadLoad;
}

export type FromWorker =
  | { op: 'ready'; error?: string }
  | { op: 'started'; id: number }
  | WorkerWindow
  | { op: 'stopped'; id: number; drained: boolean; inFlight: number }
  | { op: 'failed'; id: number; message: string };

export interface LoadWorkerPoolOptions extends WorkerInit {
  /** Number of worker threads (≥ 1). */
  workers: number;
}

type Reply = Exclude<FromWorker, { op: 'ready' } | { op: 'failed' }>;
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
/** A message that expects a reply, before the handle numbers it. */
type Ask = WithoutId<Extract<ToWorker, { id: number }>>;

/** One worker thread and its pending requests. */
class WorkerHandle {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private failure: Error | null = null;
  readonly ready: Promise<void>;

  constructor(readonly worker: Worker) {
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if (m.op === 'ready') {
          if (m.error) reject(new Error(`load worker could not connect: ${m.error}`));
          else resolve();
          return;
        }
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.op === 'failed') p.reject(new Error(`load worker: ${m.message}`));
        else p.resolve(m);
      });
      const fail = (e: Error): void => {
        this.failure ??= e;
        reject(e);
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`load worker exited (code ${code})`)));
    });
    this.ready.catch(() => undefined);
  }

  /** Posts a message that expects a reply with its id. */
  ask<R extends Reply>(msg: Ask): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: Reply) => void, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }

  tell(msg: ToWorker): void {
    if (!this.failure) this.worker.postMessage(msg);
  }
}

export class LoadWorkerPool {
  private closed = false;

  private constructor(private readonly handles: WorkerHandle[]) {}

  /** Starts the workers and waits until each one's channel is connected. */
  static async start(opts: LoadWorkerPoolOptions): Promise<LoadWorkerPool> {
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new RangeError(`worker count must be a positive integer, got ${opts.workers}`);
    const { workers, ...init } = opts;
    const url = new URL('./worker-thread.js', import.meta.url);
    const handles = Array.from({ length: workers }, () => new WorkerHandle(new Worker(url, { workerData: init satisfies WorkerInit })));
    const pool = new LoadWorkerPool(handles);
    try {
      await Promise.all(handles.map((h) => h.ready));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  get size(): number {
    return this.handles.length;
  }

  /**
   * A driver for one load point over the pool: closed loop ('concurrency', split as evenly
   * as it goes; workers left without a loop stay idle) or open loop ('rate', the schedule
   * split with splitPacers). `request`: serializeInferRequest's bytes.
   */
  driver(opts: PoolDriverOptions): LoadDriver {
    if (this.closed) throw new Error('LoadWorkerPool: closed');
    return new PoolDriver(this.handles, opts);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      this.handles.map(async (h) => {
        h.tell({ op: 'close' });
        // A worker that does not leave on its own within a second is terminated.
        const exited = new Promise<void>((resolve) => h.worker.once('exit', () => resolve()));
        const timer = setTimeout(() => void h.worker.terminate(), 1000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** One load point over the pool; `lateSlackNs` (open loop) overrides the pool's openLoop setting for this point. */
export interface PoolDriverOptions {
  mode: LoadMode;
  request: Uint8Array;
  pacer?: Omit<PacerOptions, 'rate'>;
  lateSlackNs?: number;
}

class PoolDriver implements LoadDriver {
  private active: WorkerHandle[] = [];
  private starts: Promise<unknown>[] = [];
  private started = false;

  constructor(
    private readonly handles: readonly WorkerHandle[],
    private readonly opts: PoolDriverOptions,
  ) {}

  start(level: number): void {
    if (this.started) throw new Error('worker pool driver: start() called twice');
    this.started = true;
    const k = this.handles.length;
    if (this.opts.mode === 'concurrency') {
      if (!Number.isInteger(level) || level < 1) throw new RangeError(`concurrency must be a positive integer, got ${level}`);
      this.handles.forEach((h, i) => {
        const share = Math.floor(level / k) + (i < level % k ? 1 : 0);
        if (share === 0) return;
        this.active.push(h);
        this.starts.push(h.ask({ op: 'start', mode: 'concurrency', level: share, request: this.opts.request }));
      });
    } else {
      if (!(level > 0)) throw new RangeError(`rate must be > 0, got ${level}`);
      const parts = splitPacers({ ...(this.opts.pacer ?? {}), rate: level }, k);
      this.handles.forEach((h, i) => {
        const { rate, ...pacer } = parts[i]!;
        this.active.push(h);
        this.starts.push(h.ask({ op: 'start', mode: 'rate', level: rate, request: this.opts.request, pacer, ...(this.opts.lateSlackNs !== undefined ? { lateSlackNs: this.opts.lateSlackNs } : {}) }));
      });
    }
    for (const s of this.starts) s.catch(() => undefined);
  }

  startWindow(): void {
    for (const h of this.active) h.tell({ op: 'startWindow' });
  }

  async endWindow(): Promise<WindowResult> {
    await Promise.all(this.starts);
    const parts = await Promise.all(this.active.map((h) => h.ask<WorkerWindow>({ op: 'endWindow' })));
    const histogram = newLatencyHistogram();
    let count = 0;
    let errors = 0;
    let firstError: string | null = null;
    let duration = 0n;
    let sent = 0;
    let late = 0;
    let maxLateNs = 0;
    const lateness = newLatencyHistogram();
    let peak = 0;
    const load: ThreadLoad = { eventLoopUtilization: 0, eventLoopStallMs: 0 };
    for (const w of parts) {
      histogram.add(decodeHistogram(w.histogram));
      count += w.count;
      errors += w.errors;
      firstError ??= w.firstError;
      duration += w.durationNs;
      sent += w.sent;
      late += w.late;
      maxLateNs = Math.max(maxLateNs, w.maxLateNs);
      if (w.lateness !== null) lateness.add(decodeHistogram(w.lateness));
      // Peaks of different workers need not coincide: their sum bounds the joint peak.
      peak += w.peakInFlight;
      load.eventLoopUtilization = Math.max(load.eventLoopUtilization, w.load.eventLoopUtilization);
      load.eventLoopStallMs = Math.max(load.eventLoopStallMs, w.load.eventLoopStallMs);
    }
    const result: WindowResult = {
      histogram,
      count,
      errors,
      firstError,
      // The workers' windows open and close on the same messages: their mean span.
      durationNs: parts.length ? duration / BigInt(parts.length) : 0n,
      peakInFlight: peak,
      clientLoad: load,
    };
    if (this.opts.mode === 'rate') Object.assign(result, { sent, late, maxLateNs, lateness });
    return result;
  }

  async stop(): Promise<StopResult> {
    const replies = await Promise.all(
      this.active.map((h) =>
        h.ask<Extract<FromWorker, { op: 'stopped' }>>({ op: 'stop' }).catch(() => ({ op: 'stopped' as const, id: 0, drained: false, inFlight: 0 })),
      ),
    );
    return { drained: replies.every((r) => r.drained), inFlight: replies.reduce((a, r) => a + r.inFlight, 0) };
  }
}
