/**
 * Embedded launcher: tanalyze's own KServe v2 server, in-process, serving the variant
 * repository with ONNX Runtime on the CPU, in explicit model-control mode like the
 * remote Triton path. A configuration change is a model reload, never a restart.
 */
import type { Launcher, ModelVariant } from '../../domain/launcher.js';
import type { InferenceClient } from '../../protocol/types.js';
import { createInferenceClient } from '../../protocol/client.js';
import { startEmbeddedServer, type EmbeddedServer } from '../../server/server.js';
import type { GpuWorkerOptions } from '../../server/gpu-executor.js';
import type { GpuMonitorOptions } from '../../server/gpu-monitor.js';
import { InfrastructureError } from '../../domain/errors.js';
import { waitForModelReady } from './ready.js';

export class EmbeddedLauncher implements Launcher {
  readonly kind = 'embedded';
  private server: EmbeddedServer | undefined;
  private client: InferenceClient | undefined;

  constructor(private readonly opts: { repository: string; port: number; readyTimeoutMs?: number; gpuWorkers?: GpuWorkerOptions; gpuMonitor?: GpuMonitorOptions }) {}

  async start(): Promise<{ grpcAddress: string; serverVersion: string }> {
    try {
      this.server = await startEmbeddedServer({
        repository: this.opts.repository,
        port: this.opts.port,
        modelControl: 'explicit',
        ...(this.opts.gpuWorkers ? { gpuWorkers: this.opts.gpuWorkers } : {}),
        ...(this.opts.gpuMonitor ? { gpuMonitor: this.opts.gpuMonitor } : {}),
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new InfrastructureError(
        `embedded server could not start on 127.0.0.1:${this.opts.port}: ${err.message}`,
        this.opts.port ? 'Pick another --port, or --port 0 to let the OS choose a free one.' : undefined,
      );
    }
    this.client = createInferenceClient(this.server.address);
    return { grpcAddress: this.server.address, serverVersion: `tanalyze-embedded ${this.server.version}` };
  }

  async apply(variant: ModelVariant): Promise<void> {
    const client = this.requireClient();
    await client.repositoryModelLoad(variant.modelName);
    await waitForModelReady(client, variant.modelName, this.opts.readyTimeoutMs ?? 60_000);
  }

  async release(variant: ModelVariant): Promise<void> {
    await this.requireClient().repositoryModelUnload(variant.modelName);
  }

  /** The embedded server's Prometheus text (Triton's per-model metric names, for its CPU work). */
  metricsText(): string {
    return this.server?.metricsText() ?? '';
  }

  async stop(): Promise<void> {
    this.client?.close();
    this.client = undefined;
    await this.server?.stop();
    this.server = undefined;
  }

  private requireClient(): InferenceClient {
    if (!this.client) throw new Error('embedded launcher: start() was not called');
    return this.client;
  }
}
