/**
 * Measuring one configuration: build the request from the model's metadata (once per
 * shape), then let the load search pick load levels (concurrencies, or request rates in
 * open loop) and measure each as a load point, with the model's statistics snapshotted
 * around the used windows.
 *
 * Where the load comes from, fastest first: a LoadWorkerPool (worker threads, each with
 * its own channel, pre-serialized request), a raw channel to `address` in this thread
 * (pre-serialized request), or the typed client (the request encoded on every call).
 */
import type { InferenceClient } from '../protocol/types.js';
import { processClientMonitor, type ClientLimitRules, type ClientMonitor } from '../load/client-monitor.js';
import { ClosedLoopDriver } from '../load/closed-loop.js';
import { type Clock, type LoadDriver } from '../domain/load.js';
import { createRawChannel, makeInferRequest, makeSender, serializeInferRequest, type InferRequestOptions, type RawChannel } from '../load/infer-requests.js';
import { roundRate } from './load-search.js';
import { ConcurrencyWalk, RateWalk, type LoadWalk } from './load-walk.js';
import type { LoadWorkerPool } from '../load/workers.js';
import { measureLoadPoint } from './windows.js';
import { lateSlackNsFor, OpenLoopDriver, type OpenLoopOptions } from '../load/open-loop.js';
import { diffServerTimes, snapshotFromStatistics, type ServerSnapshot } from './server-stats.js';
import type { Arrivals, LoadMode, LoadPoint, TrialResult, WindowSettings } from '../domain/measurement.js';
import type { ClientTransport, SharedMemoryKind } from '../domain/load.js';
import { placeInputsInSharedMemory, type SharedMemoryInputs } from '../load/shared-memory.js';
import type { NextRateOptions } from './load-search.js';
import type { ServingConfig } from '../domain/serving.js';

export interface MeasureConfigurationOptions {
  client: InferenceClient;
  modelName: string;
  modelVersion?: string;
  targetP99Ms: number;
  settings: WindowSettings;
  maxConcurrency: number;
  minConcurrency?: number;
  /** Closed loop (default) or open loop. */
  load?: LoadMode;
  /** Open loop: arrival process (default constant) and its seed (default `seed`). */
  arrivals?: Arrivals;
  /** Open loop: the range of rates searched, requests/s (defaults 1 and 100 000), and the first rate. */
  minRate?: number;
  maxRate?: number;
  startRate?: number;
  /**
   * Open loop without startRate: first measure the server's capacity with one closed-loop
   * window at this concurrency, then start the rate search just below it and step by 1.5x
   * (default: no probe; the search starts in the geometric middle of the rate range).
   */
  probeConcurrency?: number;
  /** Open loop driver tuning (spinning, lateness slack, in-flight cap). */
  openLoop?: Pick<OpenLoopOptions, 'spinNs' | 'lateSlackNs' | 'maxInFlight' | 'burst'>;
  /** Send from these worker threads. */
  workers?: LoadWorkerPool;
  /** Send over a raw channel of this thread to this gRPC address (host:port) instead of through `client`. */
  address?: string;
  /** How the raw channel sends (default http2). */
  transport?: ClientTransport;
  /**
   * Where the inputs travel (default none: in each request). 'system': written once into a
   * shared-memory region registered through `client` for this configuration, released after.
   */
  sharedMemory?: SharedMemoryKind;
  /** Inferences per request (the leading -1 dim); throughput counts inferences. Default 1. */
  batchSize?: number;
  seed?: number;
  shapes?: InferRequestOptions['shapes'];
  /**
   * Called with each point as soon as it is measured, so the caller can persist it. A point
   * measured a second time comes again with its index, pooled (its `measurements` is 2): it
   * replaces the one given before.
   */
  onPoint?: (point: LoadPoint, index: number) => void | Promise<void>;
  /** Injected for tests; default real timers and process.hrtime. */
  sleep?: (ms: number) => Promise<void>;
  clock?: Clock;
  /** Client saturation monitor; default: this thread's, unless `sleep` is injected (then none). Null: none. */
  monitor?: ClientMonitor | null;
  clientRules?: ClientLimitRules;
  /** Tests: the driver of each point (default: by `load`, `workers` and `address`). */
  driverFactory?: (mode: LoadMode) => LoadDriver;
  maxErrorRate?: number;
  maxPoints?: number;
  /** How long to wait for in-flight requests after each point (default 10 s). */
  stopTimeoutMs?: number;
}

export interface ConfigurationResult extends TrialResult {
  /** Why the load search ended: 'saturated: ...', 'bracketed: ...', 'infeasible: ...', 'client-limited: ...', 'errors: ...'. */
  stopReason: string;
  /** The first failed request's message seen in any point. */
  firstError?: string;
  /** Load points the search needed (points.length, kept explicit for the store and the report). */
  loadPoints: number;
  mode: LoadMode;
  /** Open loop: the closed-loop capacity probe that placed the rate search, when one ran. */
  capacityProbe?: CapacityProbe;
}

export interface CapacityProbe {
  concurrency: number;
  /** Requests/s completed in the probe window. */
  requestsPerS: number;
  /** Where the rate search started. */
  startRate: number;
}

/**
 * Requests in flight for the open loop's capacity probe: enough to fill every instance's
 * largest batch twice over (a dynamic batcher needs them queued to form full batches).
 */
export function probeConcurrencyFor(config: Pick<ServingConfig, 'instanceCount' | 'maxBatchSize'>, maxConcurrency: number): number {
  return Math.max(2, Math.min(maxConcurrency, 2 * config.instanceCount * Math.max(1, config.maxBatchSize)));
}

/**
 * Where an open-loop rate search starts, given a closed-loop capacity estimate: at 80% of
 * it (most servers still meet a latency target there), stepping by 1.5x while points pass,
 * so the bracket around the capacity closes in about four points instead of the seven a
 * bisection of [1, 100 000] needs. Pure.
 */
export function rateSearchStart(capacityRps: number, range: { minRate: number; maxRate: number }): { startRate: number; growth: number } {
  const start = Math.min(range.maxRate, Math.max(range.minRate, roundRate(0.8 * capacityRps)));
  return { startRate: start, growth: 1.5 };
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function measureConfiguration(opts: MeasureConfigurationOptions): Promise<ConfigurationResult> {
  const { client, modelName, modelVersion } = opts;
  const sleep = opts.sleep ?? realSleep;
  const batchSize = opts.batchSize ?? 1;
  const mode: LoadMode = opts.load ?? 'concurrency';
  const seed = opts.seed ?? 1;
  const metadata = await client.modelMetadata(modelName, modelVersion);
  const reqOptions: InferRequestOptions = {};
  if (opts.shapes) reqOptions.shapes = opts.shapes;
  if (modelVersion) reqOptions.modelVersion = modelVersion;
  // The request names the model as asked, whatever name the metadata reports. Built (and
  // serialized) once for the configuration: every point and every worker reuses it.
  const built = { ...makeInferRequest(metadata, batchSize, seed, reqOptions), model_name: modelName };
  // Shared memory: one region per configuration, registered before the first point (the
  // server may have been restarted since the last one); workers only see the request naming it.
  const shared: SharedMemoryInputs | null = opts.sharedMemory === 'system' ? await placeInputsInSharedMemory(client, built) : null;
  const request = shared ? shared.request : built;
  const needBytes = opts.driverFactory === undefined && (opts.workers !== undefined || opts.address !== undefined);
  const bytes = needBytes ? serializeInferRequest(request) : null;
  let channel: RawChannel | null = null;
  try {
    if (opts.driverFactory === undefined && opts.workers === undefined && opts.address !== undefined) {
      channel = createRawChannel(opts.address, opts.transport ? { transport: opts.transport } : {});
    }
  } catch (e) {
    await shared?.release();
    throw e;
  }
  const send = channel ? channel.sender(bytes!) : makeSender(client, request);
  const monitor = opts.monitor === null ? undefined : (opts.monitor ?? (opts.sleep ? undefined : processClientMonitor()));
  const ownMonitor = opts.monitor === undefined && monitor !== undefined;
  const pacer = { arrivals: opts.arrivals ?? 'constant', seed };
  // Open loop: a send counts as late beyond 10% of the target (at least 2 ms), unless set.
  const lateSlackNs = opts.openLoop?.lateSlackNs ?? lateSlackNsFor(opts.targetP99Ms);

  const makeDriver = (m: LoadMode = mode): LoadDriver => {
    if (opts.driverFactory) return opts.driverFactory(m);
    if (opts.workers) return opts.workers.driver(m === 'rate' ? { mode: m, request: bytes!, pacer, lateSlackNs } : { mode: m, request: bytes! });
    const common = {
      send,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
      ...(opts.stopTimeoutMs !== undefined ? { stopTimeoutMs: opts.stopTimeoutMs } : {}),
    };
    if (m === 'rate') return new OpenLoopDriver({ ...common, ...opts.openLoop, lateSlackNs, pacer, ...(opts.sleep ? { spinNs: 0 } : {}) });
    return new ClosedLoopDriver(common);
  };

  const snapshotServer = async (): Promise<ServerSnapshot> =>
    snapshotFromStatistics(await client.modelStatistics(modelName, modelVersion));

  let stopReason = '';
  let firstError: string | undefined;
  const rateOpts: NextRateOptions = {
    targetP99Ms: opts.targetP99Ms,
    minRate: opts.minRate ?? 1,
    maxRate: opts.maxRate ?? 100_000,
    ...(opts.startRate !== undefined ? { startRate: opts.startRate } : {}),
    ...(opts.maxPoints !== undefined ? { maxPoints: opts.maxPoints } : {}),
  };
  let capacityProbe: CapacityProbe | undefined;
  try {
    if (mode === 'rate' && opts.startRate === undefined && opts.probeConcurrency !== undefined && opts.probeConcurrency > 0) {
      const rps = await probeCapacity(makeDriver('concurrency'), opts.probeConcurrency, opts.settings, sleep);
      if (rps > 0) {
        Object.assign(rateOpts, rateSearchStart(rps, rateOpts));
        capacityProbe = { concurrency: opts.probeConcurrency, requestsPerS: rps, startRate: rateOpts.startRate! };
      }
    }
    const walk: LoadWalk = mode === 'rate'
      ? new RateWalk(rateOpts)
      : new ConcurrencyWalk({
        targetP99Ms: opts.targetP99Ms,
        minConcurrency: opts.minConcurrency ?? 1,
        maxConcurrency: opts.maxConcurrency,
        ...(opts.maxPoints !== undefined ? { maxPoints: opts.maxPoints } : {}),
      });
    for (let step = walk.next(); ; step = walk.next()) {
      if ('done' in step) {
        stopReason = step.reason;
        break;
      }
      const point = await measureLoadPoint<ServerSnapshot>({
        driver: makeDriver(),
        ...('rate' in step ? { rate: step.rate, arrivals: pacer.arrivals } : { concurrency: step.concurrency }),
        settings: opts.settings,
        snapshotServer,
        diffServer: diffServerTimes,
        sleep,
        inferencesPerRequest: batchSize,
        targetP99Ms: opts.targetP99Ms,
        ...(monitor ? { monitor } : {}),
        ...(mode === 'rate' || opts.clientRules ? { clientRules: { lateSlackMs: lateSlackNs / 1e6, ...opts.clientRules } } : {}),
        ...(opts.maxErrorRate !== undefined ? { maxErrorRate: opts.maxErrorRate } : {}),
      });
      if (firstError === undefined && point.firstError !== undefined) firstError = point.firstError;
      // A repeat (the load search's second measurement of a point) is pooled into it, which it replaces.
      const stored = walk.record(step, point);
      await opts.onPoint?.(stored.point, stored.index);
      // Failures at the lightest load mean the configuration is broken, not overloaded.
      if (!('repeatOf' in step) && stored.index === 0 && point.stopReason === 'errors' && (mode === 'concurrency' || point.requests === 0)) {
        stopReason = `errors: ${point.firstError ?? 'requests failed'}`;
        break;
      }
    }
    const points = [...walk.points];
    const result: ConfigurationResult = { points, bestIndex: walk.bestIndex(), stopReason, loadPoints: points.length, mode };
    if (firstError !== undefined) result.firstError = firstError;
    if (capacityProbe) result.capacityProbe = capacityProbe;
    return result;
  } finally {
    channel?.close();
    if (ownMonitor) monitor!.close();
    await shared?.release();
  }
}

/**
 * Requests/s the server completes under closed-loop load at `concurrency`: one window after
 * the warm-up. 0 when nothing completed or a request failed (the rate search then starts
 * where it would without a probe).
 */
async function probeCapacity(driver: LoadDriver, concurrency: number, settings: WindowSettings, sleep: (ms: number) => Promise<void>): Promise<number> {
  driver.start(concurrency);
  try {
    if (settings.warmupMs > 0) await sleep(settings.warmupMs);
    driver.startWindow();
    await sleep(settings.windowMs);
    const w = await driver.endWindow();
    const seconds = Number(w.durationNs) / 1e9;
    return w.errors === 0 && seconds > 0 ? w.count / seconds : 0;
  } finally {
    await driver.stop();
  }
}
