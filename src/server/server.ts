/**
 * The embedded KServe v2 server: tanalyze's stand-in for Triton's core, serving ONNX
 * models on the CPU over the same gRPC service (our grpc_service.proto). The rpc
 * handlers here only translate; models, batching and statistics live in their modules.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { inferenceServiceDefinition } from '../protocol/service.js';
import { fromPackageRoot } from '../util/package-root.js';
import { ortExecutorFactory, type ExecutorFactory } from './executor.js';
import { InvalidRequestError, buildInferResponse, prepareInferRequest, type InferRequestIn, type PreparedRequest } from './infer-request.js';
import { ModelUnavailableError, type LoadedModel } from './model.js';
import { listModelNames, type LoadOverride } from './model-repository.js';
import { metricsText } from './prometheus.js';
import { gpuMetricsText, NvidiaSmiMonitor, type GpuMonitorOptions } from './gpu-monitor.js';
import { gpuExecutorFactoryWith, type GpuWorkerOptions } from './gpu-executor.js';
import { isTorchModel } from './gpu-executor.js';
import { ModelRegistry, ServerError, type GrpcStatusName } from './registry.js';
import { apiFromConfigType } from './tensors.js';
import { SystemSharedMemory, type RegionRequest } from './shared-memory.js';

export const SERVER_NAME = 'tanalyze-embedded';
export const SERVER_EXTENSIONS = ['model_repository', 'model_configuration', 'statistics', 'system_shared_memory'];

export interface EmbeddedServerOptions {
  repository: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (default) lets the OS pick a free port. */
  port?: number;
  /** As Triton's --model-control-mode: 'none' (default) loads every model at start and refuses load/unload. */
  modelControl?: 'explicit' | 'none';
  /** Explicit mode: models to load at start (['*'] = all), as Triton's --load-model. */
  loadModels?: string[];
  /** How model instances run (tests wrap the default to observe it). */
  executorFactory?: ExecutorFactory;
  /** GPU gauges in /metrics while a GPU (pytorch_libtorch) model is loaded: nvidia-smi to use, sampling period. */
  gpuMonitor?: GpuMonitorOptions;
  /** How GPU workers for pytorch_libtorch models start (interpreter, cache, timeouts). */
  gpuWorkers?: GpuWorkerOptions;
  /** HTTP/2 receive window of each stream and connection (default 16 MiB; 65535 = HTTP/2's default). */
  receiveWindowBytes?: number;
  /** Where POSIX shared-memory objects are files (default /dev/shm). */
  sharedMemoryDir?: string;
}

/** Enough for a few dozen 600 KB images (a ResNet-50 request) in flight before a WINDOW_UPDATE is due. */
const DEFAULT_RECEIVE_WINDOW = 16 * 1024 * 1024;

/**
 * Raises the server's HTTP/2 flow-control windows. With HTTP/2's 64 KB defaults a 600 KB
 * request needs about ten WINDOW_UPDATEs from the server's event loop, so a busy server
 * throttles its own clients (grpc-node #2429; Triton's C++ core uses large windows).
 * grpc-js reads `grpc-node.flow_control_window` for clients only (the server side is an
 * open pull request, grpc-node #3058), so this sets the two places its server uses: the
 * SETTINGS it creates its http2 server with (per-stream window; before bind) and each new
 * session's connection window (after bind). Written against grpc-js 1.14's internals:
 * if they move, it does nothing and the server keeps the default windows.
 */
function widenReceiveWindow(server: grpc.Server, bytes: number, when: 'before-bind' | 'after-bind'): void {
  const internals = server as unknown as {
    commonServerOptions?: { settings?: Record<string, unknown> };
    http2Servers?: Map<{ on(event: 'session', fn: (s: { setLocalWindowSize?(n: number): void }) => void): void }, unknown>;
  };
  if (when === 'before-bind') {
    if (!internals.commonServerOptions) return;
    internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: Math.min(bytes, 2 ** 31 - 1), maxFrameSize: 2 ** 24 - 1 };
    return;
  }
  for (const http2Server of internals.http2Servers?.keys() ?? []) {
    http2Server.on('session', (session) => {
      try {
        session.setLocalWindowSize?.(Math.min(bytes, 2 ** 31 - 1));
      } catch {
        // an old Node without setLocalWindowSize: the default window stays
      }
    });
  }
}

export interface EmbeddedServer {
  /** host:port for a gRPC client. */
  address: string;
  port: number;
  version: string;
  /** Triton's per-model Prometheus metrics for the loaded models, and GPU gauges while a GPU model is loaded. */
  metricsText(): string;
  stop(): Promise<void>;
}

const GRPC_CODE: Record<GrpcStatusName, grpc.status> = {
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  UNIMPLEMENTED: grpc.status.UNIMPLEMENTED,
  INTERNAL: grpc.status.INTERNAL,
};

function toServiceError(e: unknown): Partial<grpc.ServiceError> {
  const err = e as Error;
  let code = grpc.status.INTERNAL;
  if (e instanceof ServerError) code = GRPC_CODE[e.status];
  else if (e instanceof InvalidRequestError) code = grpc.status.INVALID_ARGUMENT;
  else if (e instanceof ModelUnavailableError) code = grpc.status.UNAVAILABLE;
  return { code, details: err?.message ?? String(e), metadata: new grpc.Metadata() };
}

type Handler<Req, Res> = (req: Req) => Promise<Res> | Res;

/** A unary grpc-js handler from an async function; thrown errors become statuses. */
function unary<Req, Res>(fn: Handler<Req, Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request))
      .then(
        (res) => callback(null, res),
        (e) => callback(toServiceError(e)),
      );
  };
}

function packageVersion(): string {
  try {
    return String(JSON.parse(readFileSync(fromPackageRoot('package.json'), 'utf8')).version ?? '0.0.0');
  } catch {
    return '0.0.0';
  }
}

const hrNow = (): number => Number(process.hrtime.bigint());

/** Triton's load parameters: `config` (string, JSON ModelConfig) and `file:<path>` (bytes). */
function loadOverride(model: string, parameters: Record<string, Record<string, unknown>>): LoadOverride {
  const override: LoadOverride = {};
  for (const [key, p] of Object.entries(parameters)) {
    if (key === 'config') {
      if (p['parameter_choice'] !== 'string_param') {
        throw new ServerError('INVALID_ARGUMENT', `failed to load '${model}': the 'config' parameter must be a string`);
      }
      override.configJson = p['string_param'] as string;
    } else if (key.startsWith('file:')) {
      if (p['parameter_choice'] !== 'bytes_param') throw new ServerError('INVALID_ARGUMENT', `failed to load '${model}': '${key}' must be bytes`);
      (override.files ??= {})[key.slice('file:'.length)] = p['bytes_param'] as Buffer;
    }
  }
  return override;
}

function tensorMetadata(model: LoadedModel, kind: 'input' | 'output') {
  const batching = Number(model.config.max_batch_size ?? 0) > 0;
  return (model.config[kind] ?? []).map((t) => ({
    name: t.name,
    datatype: apiFromConfigType(t.data_type) ?? 'INVALID',
    shape: [...(batching ? [-1] : []), ...(t.dims ?? []).map(Number)],
  }));
}

export async function startEmbeddedServer(opts: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const repository = path.resolve(opts.repository);
  const host = opts.host ?? '127.0.0.1';
  const explicit = opts.modelControl === 'explicit';
  const version = packageVersion();
  const registry = new ModelRegistry(repository, opts.executorFactory ?? ortExecutorFactory, gpuExecutorFactoryWith(opts.gpuWorkers));
  const gpus = new NvidiaSmiMonitor(opts.gpuMonitor);
  const sharedMemory = new SystemSharedMemory(opts.sharedMemoryDir);
  let serving = false;

  const requireExplicit = (what: string): void => {
    if (!explicit) throw new ServerError('UNIMPLEMENTED', `explicit model ${what} is not allowed if model control mode is NONE`);
  };

  const handlers: grpc.UntypedServiceImplementation = {
    ServerLive: unary(() => ({ live: true })),
    ServerReady: unary(() => ({ ready: serving })),
    ServerMetadata: unary(() => ({ name: SERVER_NAME, version, extensions: SERVER_EXTENSIONS })),
    ModelReady: unary((r: { name: string; version: string }) => ({ ready: registry.isReady(r.name, r.version) })),
    ModelMetadata: unary((r: { name: string; version: string }) => {
      const m = registry.get(r.name, r.version);
      return {
        name: r.name,
        versions: [m.version],
        platform: 'onnxruntime_onnx',
        inputs: tensorMetadata(m, 'input'),
        outputs: tensorMetadata(m, 'output'),
      };
    }),
    ModelConfig: unary((r: { name: string; version: string }) => ({ config: registry.get(r.name, r.version).config })),
    ModelInfer: unary(async (r: InferRequestIn) => {
      const receivedNs = hrNow();
      const model = registry.get(r.model_name, r.model_version);
      // Inputs read from shared-memory regions: their buffers go back to the pool once the
      // batch that used them has run (the answer carries outputs only).
      const borrowed: Buffer[] = [];
      const shared = {
        read: (region: string, offset: number, byteSize: number): Uint8Array => {
          const b = sharedMemory.read(region, offset, byteSize);
          borrowed.push(b);
          return b;
        },
      };
      try {
        let prepared: PreparedRequest;
        try {
          prepared = prepareInferRequest(model.config, r, shared);
        } catch (e) {
          model.recordRejected(receivedNs);
          throw e;
        }
        const outputs = await model.infer(prepared.exec, prepared.shapeKey, receivedNs);
        return buildInferResponse(model.config, r, model.version, outputs, prepared.outputs);
      } finally {
        if (borrowed.length) sharedMemory.recycle(borrowed);
      }
    }),
    ModelStatistics: unary((r: { name: string; version: string }) => {
      const models = r.name ? [registry.get(r.name, r.version)] : registry.ready();
      return { model_stats: models.map((m) => m.stats.snapshot()) };
    }),
    SystemSharedMemoryStatus: unary((r: { name: string }) => ({
      regions: Object.fromEntries(sharedMemory.status(r.name ?? '').map((x) => [x.name, x])),
    })),
    SystemSharedMemoryRegister: unary((r: RegionRequest) => {
      sharedMemory.register(r);
      return {};
    }),
    SystemSharedMemoryUnregister: unary((r: { name: string }) => {
      sharedMemory.unregister(r.name ?? '');
      return {};
    }),
    RepositoryIndex: unary(async (r: { ready: boolean }) => ({ models: await registry.index(r.ready) })),
    RepositoryModelLoad: unary(async (r: { model_name: string; parameters: Record<string, Record<string, unknown>> }) => {
      requireExplicit('load');
      await registry.load(r.model_name, loadOverride(r.model_name, r.parameters ?? {}));
      return {};
    }),
    RepositoryModelUnload: unary(async (r: { model_name: string }) => {
      requireExplicit('unload');
      await registry.unload(r.model_name);
      return {};
    }),
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
  const windowBytes = opts.receiveWindowBytes ?? DEFAULT_RECEIVE_WINDOW;
  if (windowBytes > 65_535) widenReceiveWindow(server, windowBytes, 'before-bind');
  server.addService(inferenceServiceDefinition(), handlers);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${opts.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  if (windowBytes > 65_535) widenReceiveWindow(server, windowBytes, 'after-bind');

  const stop = async (): Promise<void> => {
    serving = false;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 5000);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    await registry.unloadAll();
    sharedMemory.close();
    gpus.stop();
  };

  // Startup loads fail the start, as Triton does by default (--exit-on-error=true).
  const initial = explicit
    ? opts.loadModels?.length === 1 && opts.loadModels[0] === '*'
      ? await listModelNames(repository)
      : (opts.loadModels ?? [])
    : await listModelNames(repository);
  const failures: string[] = [];
  for (const name of initial) await registry.load(name).catch((e: Error) => failures.push(e.message));
  if (failures.length) {
    await stop();
    throw new Error(`embedded server: failed to load all models:\n  ${failures.join('\n  ')}`);
  }
  serving = true;

  return {
    address: `${host}:${port}`,
    port,
    version,
    metricsText: () => {
      const models = registry.ready();
      // Sampling starts with the first GPU model and goes on until the server stops.
      if (models.some((m) => isTorchModel(m.config))) gpus.ensureStarted();
      return metricsText(models.map((m) => ({ stats: m.stats.snapshot(), failures: m.stats.failuresByReason(), pending: m.pending }))) + gpuMetricsText(gpus.samples());
    },
    stop,
  };
}
