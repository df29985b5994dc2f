/**
 * A loaded model: its completed configuration, its instances (executors), the batcher in
 * front of them and its statistics. Requests come in validated (infer-request.ts).
 */
import { rm } from 'node:fs/promises';
import type { ModelConfig } from '../config/types.js';
import { Batcher, type QueueEntry, type SchedulerClock, systemClock } from './batcher.js';
import type { ExecRequest, ExecTensor, Executor, ExecutorFactory } from './executor.js';
import { gpuExecutorFactory, isTorchModel } from './gpu-executor.js';
import type { IoMeta } from './instance-protocol.js';
import { ModelLoadError, batchPolicy, completeConfig, instanceCount, sessionOptions, type ModelSource } from './model-repository.js';
import { ModelStatsRecorder } from './statistics.js';
import { TanalyzeError } from '../domain/errors.js';

/** A request waiting in the batcher. */
interface Pending {
  batchSize: number;
  shapeKey: string;
  exec: ExecRequest;
  receivedNs: number;
  resolve: (outputs: ExecTensor[]) => void;
  reject: (e: Error) => void;
}

export class ModelUnavailableError extends TanalyzeError {
  constructor(message: string) {
    super('configuration', message);
  }
}

let gpuFactoryOverride: ExecutorFactory | undefined;
/** Tests: the factory for pytorch_libtorch models (undefined: the real GPU workers). */
export function setGpuExecutorFactory(f: ExecutorFactory | undefined): void {
  gpuFactoryOverride = f;
}

async function removeTemporary(source: ModelSource): Promise<void> {
  if (source.temporary) await rm(source.dir, { recursive: true, force: true }).catch(() => undefined);
}

export class LoadedModel {
  readonly stats: ModelStatsRecorder;
  private readonly batcher: Batcher<Pending>;
  private accepting = true;

  private constructor(
    readonly source: ModelSource,
    readonly config: ModelConfig,
    readonly io: { inputs: IoMeta[]; outputs: IoMeta[] },
    private readonly executors: Executor[],
    clock: SchedulerClock,
  ) {
    this.stats = new ModelStatsRecorder(source.name, source.version);
    // Staging hides the transfer of the next batch behind the current one: only where every instance can take it.
    const staging = executors.every((x) => x.acceptsStagedRun === true);
    this.batcher = new Batcher<Pending>(batchPolicy(config), executors.length, (batch, i, startNs) => this.runBatch(batch, i, startNs), clock, { staging });
  }

  /** Starts the instances and validates the configuration against the model. */
  static async load(source: ModelSource, factory: ExecutorFactory, clock: SchedulerClock = systemClock, gpuFactory: ExecutorFactory = gpuExecutorFactory): Promise<LoadedModel> {
    const executors: Executor[] = [];
    try {
      const cfg = source.config;
      // TorchScript models (platform pytorch_libtorch) run on the GPU in Python workers.
      const torch = isTorchModel(cfg);
      if (torch) factory = gpuFactoryOverride ?? gpuFactory;
      const runtime = torch ? 'the GPU worker' : 'ONNX Runtime';
      const spec = (outputs: string[]) => ({
        modelName: source.name,
        modelPath: source.modelPath,
        sessionOptions: sessionOptions(cfg),
        batching: Number(cfg.max_batch_size ?? 0) > 0,
        outputs,
        config: cfg,
      });
      // The first instance tells us the model's inputs and outputs: check them before starting the rest.
      const first = await factory(spec((cfg.output ?? []).map((o) => o.name))).catch((e: Error) => {
        throw new ModelLoadError(source.name, `${runtime} could not load ${source.modelPath}: ${e.message}`);
      });
      executors.push(first);
      const config = completeConfig(cfg, first.io);
      const outputs = (config.output ?? []).map((o) => o.name);
      const rest = await Promise.allSettled(Array.from({ length: instanceCount(cfg) - 1 }, () => factory(spec(outputs))));
      for (const r of rest) if (r.status === 'fulfilled') executors.push(r.value);
      const failed = rest.find((r) => r.status === 'rejected');
      if (failed) throw new ModelLoadError(source.name, `an instance failed to start: ${(failed.reason as Error).message}`);
      return new LoadedModel(source, config, first.io, executors, clock);
    } catch (e) {
      await Promise.all(executors.map((x) => x.close().catch(() => undefined)));
      await removeTemporary(source);
      throw e;
    }
  }

  get version(): string {
    return this.source.version;
  }

  get instances(): number {
    return this.executors.length;
  }

  /** Why the model cannot serve any more (an instance died), if so. */
  get failure(): string | undefined {
    const f = this.executors.find((x) => x.failure)?.failure;
    return f ? f.message : undefined;
  }

  /** Requests queued and not yet executing. */
  get pending(): number {
    return this.batcher.pending;
  }

  /** Queues a validated request; resolves with its outputs. */
  infer(exec: ExecRequest, shapeKey: string, receivedNs: number): Promise<ExecTensor[]> {
    if (!this.accepting) return Promise.reject(new ModelUnavailableError(`model '${this.source.name}' is unloading`));
    const failure = this.failure;
    if (failure) return Promise.reject(new ModelUnavailableError(`model '${this.source.name}' is not ready: ${failure}`));
    return new Promise((resolve, reject) => {
      this.batcher.enqueue({ batchSize: exec.batchSize, shapeKey, exec, receivedNs, resolve, reject });
    });
  }

  /** Counts a request that failed before it was queued (bad input). */
  recordRejected(receivedNs: number): void {
    this.stats.recordFailure(Number(process.hrtime.bigint()) - receivedNs, 'OTHER');
  }

  /** Stops taking requests, lets queued and running ones finish, releases the instances. */
  async unload(): Promise<void> {
    this.accepting = false;
    await this.batcher.drain();
    await Promise.all(this.executors.map((x) => x.close().catch(() => undefined)));
    await removeTemporary(this.source);
  }

  private async runBatch(batch: QueueEntry<Pending>[], instance: number, startNs: number): Promise<void> {
    const requests = batch.map((e) => e.request);
    try {
      const outcome = await this.executors[instance]!.run(
        requests.map((r) => r.exec),
        startNs,
      );
      const doneNs = Number(process.hrtime.bigint());
      this.stats.recordExecution(
        requests.reduce((n, r) => n + r.batchSize, 0),
        outcome.times,
      );
      batch.forEach((e, i) => {
        const r = e.request;
        // Until the instance took the batch up: a staged batch's wait behind the previous one is queue time.
        this.stats.recordSuccess(r.batchSize, { ...outcome.times, queueNs: outcome.startedNs - e.enqueuedNs, requestNs: doneNs - r.receivedNs });
        r.resolve(outcome.outputs[i]!);
      });
    } catch (e) {
      const doneNs = Number(process.hrtime.bigint());
      for (const r of requests) {
        this.stats.recordFailure(doneNs - r.receivedNs, 'BACKEND');
        r.reject(e as Error);
      }
    }
  }
}
