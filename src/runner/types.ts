import type { ServingConfig } from '../search/types.js';

/** Server-side times per request, averaged over a measurement (from ModelStatistics deltas). */
export interface ServerTimes {
  requests: number;
  executions: number;
  queueUs: number;
  computeInputUs: number;
  computeInferUs: number;
  computeOutputUs: number;
}

/** One measured load point: a load level held until stable (or out of windows). */
export interface LoadPoint {
  /** Closed-loop: number of requests in flight. */
  concurrency: number;
  throughputIps: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Requests that completed in the windows used for the figures. */
  requests: number;
  errors: number;
  windows: number;
  stable: boolean;
  /** Why measuring stopped: 'stable' | 'max-windows' | 'errors' | ... */
  stopReason: string;
  server: ServerTimes | null;
  durationS: number;
  /** The first failed request's message, when any request failed while measuring. */
  firstError?: string;
}

/** How each load point is measured (perf_analyzer's rule by default). */
export interface WindowSettings {
  windowMs: number;
  minWindows: number; // 3
  maxWindows: number; // 10
  stabilityTolerance: number; // 0.10
  warmupMs: number;
}

/** The result of measuring one configuration at rising load. */
export interface TrialResult {
  points: LoadPoint[];
  /** Index into points of the best point meeting the target, or null when none did. */
  bestIndex: number | null;
}

/** A model variant as written to a model repository for one trial. */
export interface ModelVariant {
  /** Name the server knows it by (`<model>_config_<n>`, or the model's own name for remote reload). */
  modelName: string;
  /** Folder of the variant in the output model repository. */
  dir: string;
  config: ServingConfig;
  /** The full config.pbtxt text written for it. */
  pbtxt: string;
}

/** What answers the measurement: embedded server, tritonserver, container, remote Triton. */
export interface Launcher {
  readonly kind: string;
  /** Start (or connect to) the server; returns the gRPC address host:port. */
  start(): Promise<{ grpcAddress: string; serverVersion: string }>;
  /** Make the variant loaded and ready (reload where possible, restart only when needed). */
  apply(variant: ModelVariant): Promise<void>;
  /** Unload what was loaded for the variant. */
  release(variant: ModelVariant): Promise<void>;
  stop(): Promise<void>;
}
