/** The seam between the trial loop and whatever answers the measurement. */
import type { ServingConfig } from './serving.js';

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
