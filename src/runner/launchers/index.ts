/**
 * One factory for every launch mode, so the CLI builds a launcher from the run plan
 * without knowing the modes' details. Every launcher implements the same Launcher
 * interface; the Triton ones also say where their Prometheus endpoint is.
 */
import type { GpuWorkerOptions } from '../../server/gpu-executor.js';
import type { GpuMonitorOptions } from '../../server/gpu-monitor.js';
import { join } from 'node:path';
import { UsageError } from '../../domain/errors.js';
import type { Launcher } from '../../domain/launcher.js';
import { DockerTritonLauncher } from './docker.js';
import { EmbeddedLauncher } from './embedded.js';
import { LocalTritonLauncher } from './local.js';
import { RemoteTritonLauncher } from './remote.js';

export { killAllChildren, killAllChildrenSync, installCleanupHooks } from './cleanup.js';
export { LaunchError, type LaunchFailure } from './errors.js';
export { DEFAULT_TRITON_IMAGE, removeStaleContainers, connectDocker, parseGpus } from './docker.js';

export const LAUNCH_MODES = ['embedded', 'local', 'docker', 'remote'] as const;
export type LaunchMode = (typeof LAUNCH_MODES)[number];

export interface LauncherOptions {
  /** The run's variant repository: what the server serves. */
  repository: string;
  /** The model repository the variants link into (docker: mounted at the same path). */
  sourceRepository?: string;
  /** More folders the variants link into (an engine cache), mounted read-only by docker. */
  extraMounts?: string[];
  runId: string;
  /** The run folder: server logs go to <runDir>/tritonserver.log. */
  runDir: string;
  /** embedded: gRPC port (0 = any free one). */
  port?: number;
  /** embedded: how GPU workers (TorchScript models) start, and the nvidia-smi for GPU gauges. */
  gpuWorkers?: GpuWorkerOptions;
  gpuMonitor?: GpuMonitorOptions;
  /** local: tritonserver binary (default: 'tritonserver' on PATH). */
  tritonPath?: string;
  /** docker: image (default DEFAULT_TRITON_IMAGE). */
  tritonImage?: string;
  /** docker: 'all' | 'none' | '0,1' | 'count=N'. */
  gpus?: string;
  /** docker: engine socket (default DOCKER_HOST or /var/run/docker.sock). */
  dockerSocket?: string;
  /** docker: 'bridge' (ports published on 127.0.0.1) or 'host'. */
  dockerNetwork?: 'bridge' | 'host';
  /** docker: image pull policy. */
  pull?: 'missing' | 'always' | 'never';
  /** remote: gRPC URL of the running Triton. */
  url?: string;
  /** remote: its metrics endpoint (default http://<host>:8002/metrics). */
  metricsUrl?: string;
  /** remote: send the variant's model files with each load. */
  uploadFiles?: boolean;
  /** local, docker: more tritonserver flags (profile server.args). */
  extraArgs?: string[];
  startTimeoutMs?: number;
  readyTimeoutMs?: number;
  stopGraceMs?: number;
  log?: (line: string) => void;
}

/** A launcher that can also say where the server's Prometheus metrics are (null: none over HTTP). */
export type TritonLauncher = Launcher & { metricsUrl(): string | null };

export function isLaunchMode(s: string): s is LaunchMode {
  return (LAUNCH_MODES as readonly string[]).includes(s);
}

export function createLauncher(kind: string, o: LauncherOptions): Launcher {
  const logFile = join(o.runDir, 'tritonserver.log');
  switch (kind) {
    case 'embedded':
      return new EmbeddedLauncher({
        repository: o.repository,
        port: o.port ?? 0,
        readyTimeoutMs: o.readyTimeoutMs,
        ...(o.gpuWorkers ? { gpuWorkers: o.gpuWorkers } : {}),
        ...(o.gpuMonitor ? { gpuMonitor: o.gpuMonitor } : {}),
      });
    case 'local':
      return new LocalTritonLauncher({
        repository: o.repository,
        tritonPath: o.tritonPath,
        extraArgs: o.extraArgs,
        logFile,
        startTimeoutMs: o.startTimeoutMs,
        readyTimeoutMs: o.readyTimeoutMs,
        stopGraceMs: o.stopGraceMs,
        log: o.log,
      });
    case 'docker':
      return new DockerTritonLauncher({
        repository: o.repository,
        mounts: [...(o.sourceRepository ? [o.sourceRepository] : []), ...(o.extraMounts ?? [])],
        runId: o.runId,
        logFile,
        image: o.tritonImage,
        gpus: o.gpus,
        socket: o.dockerSocket,
        network: o.dockerNetwork,
        pull: o.pull,
        extraArgs: o.extraArgs,
        startTimeoutMs: o.startTimeoutMs,
        readyTimeoutMs: o.readyTimeoutMs,
        stopGraceMs: o.stopGraceMs,
        log: o.log,
      });
    case 'remote':
      if (!o.url) throw new UsageError(['--url is required with --launch remote (the gRPC address of a running Triton, e.g. triton-host:8001)']);
      return new RemoteTritonLauncher({ url: o.url, metricsUrl: o.metricsUrl, readyTimeoutMs: o.readyTimeoutMs, uploadFiles: o.uploadFiles, log: o.log });
    default:
      throw new UsageError([`--launch: '${kind}' is not one of ${LAUNCH_MODES.join(', ')}`]);
  }
}

/** The launcher's Prometheus endpoint, when it has one. */
export function metricsUrlOf(launcher: Launcher): string | null {
  const m = (launcher as Partial<TritonLauncher>).metricsUrl;
  return typeof m === 'function' ? m.call(launcher) : null;
}
