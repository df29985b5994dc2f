/** The seam between the trial loop and whatever answers the measurement. */
import type { ServingConfig } from './serving.js';
import type { LoadPoint, TrialResult, WindowSettings } from './measurement.js';

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
  /**
   * When the server process tanalyze started has died: how ("tritonserver died (killed by
   * SIGKILL)"), so a measurement that failed says why; null while it runs. Only launchers
   * that own a process have it.
   */
  serverDeath?(): Promise<string | null>;
}

/** One applied configuration to measure at rising load (the per-configuration load search). */
export interface MeasureRequest {
  modelName: string;
  config: ServingConfig;
  targetP99Ms: number;
  settings: WindowSettings;
  maxConcurrency: number;
  onPoint: (point: LoadPoint, index: number) => void;
  /** How many earlier trials of the run measured this configuration (0: the first; replay draws fresh noise for a repeat). */
  repeat?: number;
}

/** A load search's result: the points, the best one, and why it stopped. */
export type MeasureResult = TrialResult & { stopReason?: string; firstError?: string };

/** Measures one applied configuration: the load search over it, each point passed to onPoint as it is measured. */
export type MeasureConfiguration = (req: MeasureRequest) => Promise<MeasureResult>;

/**
 * A launcher that measures its configurations itself. Replay and sim are such launchers:
 * their "server" is a recorded landscape or a queueing model, it applies a configuration (or
 * refuses one it cannot answer, as a server refuses a load) and answers the load search.
 * A server tanalyze launches or reaches is measured by the load generator instead
 * (src/cli/serving.ts puts the two behind the same measure function for the trial loop).
 */
export interface MeasuringLauncher extends Launcher {
  measure: MeasureConfiguration;
}
