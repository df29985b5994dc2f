/**
 * Measuring one configuration: build the request from the model's metadata, then let
 * the load search pick concurrencies and measure each as a load point, with the
 * model's statistics snapshotted around the used windows.
 */
import type { InferenceClient } from '../protocol/types.js';
import { ClosedLoopDriver, type Clock } from './closed-loop.js';
import { makeInferRequest, makeSender, type InferRequestOptions } from './infer-load.js';
import { bestPoint, nextLoad } from './load-search.js';
import { measureLoadPoint } from './measure.js';
import { diffServerTimes, snapshotFromStatistics, type ServerSnapshot } from './server-stats.js';
import type { LoadPoint, TrialResult, WindowSettings } from './types.js';

export interface MeasureConfigurationOptions {
  client: InferenceClient;
  modelName: string;
  modelVersion?: string;
  targetP99Ms: number;
  settings: WindowSettings;
  maxConcurrency: number;
  minConcurrency?: number;
  /** Inferences per request (the leading -1 dim); throughput counts inferences. Default 1. */
  batchSize?: number;
  seed?: number;
  shapes?: InferRequestOptions['shapes'];
  /** Called with each point as soon as it is measured, so the caller can persist it. */
  onPoint?: (point: LoadPoint, index: number) => void | Promise<void>;
  /** Injected for tests; default real timers and process.hrtime. */
  sleep?: (ms: number) => Promise<void>;
  clock?: Clock;
  maxErrorRate?: number;
  maxPoints?: number;
  /** How long to wait for in-flight requests after each point (default 10 s). */
  stopTimeoutMs?: number;
}

export interface ConfigurationResult extends TrialResult {
  /** Why the load search ended: 'saturated: ...', 'bracketed: ...', 'infeasible: ...', 'errors: ...'. */
  stopReason: string;
  /** The first failed request's message seen in any point. */
  firstError?: string;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function measureConfiguration(opts: MeasureConfigurationOptions): Promise<ConfigurationResult> {
  const { client, modelName, modelVersion } = opts;
  const sleep = opts.sleep ?? realSleep;
  const batchSize = opts.batchSize ?? 1;
  const metadata = await client.modelMetadata(modelName, modelVersion);
  const reqOptions: InferRequestOptions = {};
  if (opts.shapes) reqOptions.shapes = opts.shapes;
  if (modelVersion) reqOptions.modelVersion = modelVersion;
  // The request names the model as asked, whatever name the metadata reports.
  const request = { ...makeInferRequest(metadata, batchSize, opts.seed ?? 1, reqOptions), model_name: modelName };
  const send = makeSender(client, request);

  const snapshotServer = async (): Promise<ServerSnapshot> =>
    snapshotFromStatistics(await client.modelStatistics(modelName, modelVersion));

  const points: LoadPoint[] = [];
  let stopReason = '';
  let firstError: string | undefined;
  for (;;) {
    const next = nextLoad(points, {
      targetP99Ms: opts.targetP99Ms,
      minConcurrency: opts.minConcurrency ?? 1,
      maxConcurrency: opts.maxConcurrency,
      ...(opts.maxPoints !== undefined ? { maxPoints: opts.maxPoints } : {}),
    });
    if ('done' in next) {
      stopReason = next.reason;
      break;
    }
    const driver = new ClosedLoopDriver({
      send,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
      ...(opts.stopTimeoutMs !== undefined ? { stopTimeoutMs: opts.stopTimeoutMs } : {}),
    });
    const point = await measureLoadPoint<ServerSnapshot>({
      driver,
      concurrency: next.concurrency,
      settings: opts.settings,
      snapshotServer,
      diffServer: diffServerTimes,
      sleep,
      inferencesPerRequest: batchSize,
      ...(opts.maxErrorRate !== undefined ? { maxErrorRate: opts.maxErrorRate } : {}),
    });
    points.push(point);
    if (firstError === undefined && point.firstError !== undefined) firstError = point.firstError;
    await opts.onPoint?.(point, points.length - 1);
    // Failures at the lightest load mean the configuration is broken, not overloaded.
    if (points.length === 1 && point.stopReason === 'errors') {
      stopReason = `errors: ${point.firstError ?? 'requests failed'}`;
      break;
    }
  }

  const result: ConfigurationResult = { points, bestIndex: bestPoint(points, opts.targetP99Ms), stopReason };
  if (firstError !== undefined) result.firstError = firstError;
  return result;
}
