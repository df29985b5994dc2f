/**
 * Typed KServe v2 gRPC client over @grpc/grpc-js: one channel per client, a deadline on
 * every call, failures as ProtocolError with the gRPC code name and the server's message.
 */
import * as grpc from '@grpc/grpc-js';
import type { ModelConfig } from '../config/types.js';
import { inferenceServiceDefinition } from './service.js';
import type {
  InferenceClient,
  ModelInferRequest,
  ModelInferResponse,
  ModelMetadataResponse,
  ModelRepositoryParameter,
  ModelStatistics,
  RepositoryIndexEntry,
  SystemSharedMemoryRegion,
} from './types.js';
import { TanalyzeError } from '../domain/errors.js';

/** A failed call: `code` is the gRPC status name (NOT_FOUND, UNAVAILABLE, DEADLINE_EXCEEDED, ...). */
export class ProtocolError extends TanalyzeError {
  constructor(
    readonly method: string,
    readonly code: string,
    /** The server's message (or the transport's). */
    readonly details: string,
  ) {
    super('infrastructure', `${method}: ${code}: ${details}`);
  }
}

export interface ClientOptions {
  /** Deadline of every call except ModelInfer (default 10 s). */
  deadlineMs?: number;
  /** Deadline of ModelInfer (default: deadlineMs). */
  inferDeadlineMs?: number;
  /** Deadline of RepositoryModelLoad/Unload (default: the larger of deadlineMs and 120 s). */
  loadDeadlineMs?: number;
}

const DEFAULT_DEADLINE_MS = 10_000;

function codeName(code: number | undefined): string {
  return (code !== undefined && grpc.status[code]) || 'UNKNOWN';
}

export function createInferenceClient(address: string, opts: ClientOptions = {}): InferenceClient {
  const service = inferenceServiceDefinition();
  const channel = new grpc.Client(address, grpc.credentials.createInsecure(), {
    // Tensors can be large; Triton itself sets no limit either.
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
  const deadlineMs = opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const inferDeadlineMs = opts.inferDeadlineMs ?? deadlineMs;
  // Loading starts processes and sessions: allow more than a metadata call.
  const loadDeadlineMs = opts.loadDeadlineMs ?? Math.max(deadlineMs, 120_000);

  function call<Res>(method: string, request: object, timeoutMs = deadlineMs): Promise<Res> {
    const def = service[method]!;
    return new Promise<Res>((resolve, reject) => {
      channel.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize as (b: Buffer) => Res,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: Res) => {
          if (err) reject(new ProtocolError(method, codeName(err.code), err.details || err.message));
          else resolve(res as Res);
        },
      );
    });
  }

  return {
    async serverLive() {
      return (await call<{ live: boolean }>('ServerLive', {})).live;
    },
    async serverReady() {
      return (await call<{ ready: boolean }>('ServerReady', {})).ready;
    },
    async serverMetadata() {
      const r = await call<{ name: string; version: string; extensions: string[] }>('ServerMetadata', {});
      return { name: r.name, version: r.version, extensions: r.extensions };
    },
    async modelReady(name, version = '') {
      return (await call<{ ready: boolean }>('ModelReady', { name, version })).ready;
    },
    async modelMetadata(name, version = '') {
      return call<ModelMetadataResponse>('ModelMetadata', { name, version });
    },
    async modelConfig(name, version = ''): Promise<ModelConfig> {
      return (await call<{ config: ModelConfig }>('ModelConfig', { name, version })).config;
    },
    async modelInfer(request: ModelInferRequest) {
      return call<ModelInferResponse>('ModelInfer', request, inferDeadlineMs);
    },
    async modelStatistics(name = '', version = ''): Promise<ModelStatistics[]> {
      return (await call<{ model_stats: ModelStatistics[] }>('ModelStatistics', { name, version })).model_stats;
    },
    async repositoryIndex(ready = false): Promise<RepositoryIndexEntry[]> {
      return (await call<{ models: RepositoryIndexEntry[] }>('RepositoryIndex', { repository_name: '', ready })).models;
    },
    async repositoryModelLoad(name, configJson, files) {
      const parameters: Record<string, ModelRepositoryParameter> = {};
      if (configJson !== undefined) parameters['config'] = { string_param: configJson };
      for (const [path, content] of Object.entries(files ?? {})) parameters[`file:${path}`] = { bytes_param: content };
      await call('RepositoryModelLoad', { repository_name: '', model_name: name, parameters }, loadDeadlineMs);
    },
    async repositoryModelUnload(name, unloadDependents = false) {
      const parameters: Record<string, ModelRepositoryParameter> = {};
      if (unloadDependents) parameters['unload_dependents'] = { bool_param: true };
      await call('RepositoryModelUnload', { repository_name: '', model_name: name, parameters }, loadDeadlineMs);
    },
    async systemSharedMemoryStatus(name = '') {
      const r = await call<{ regions: Record<string, SystemSharedMemoryRegion> }>('SystemSharedMemoryStatus', { name });
      return Object.values(r.regions ?? {}).sort((a, b) => a.name.localeCompare(b.name));
    },
    async systemSharedMemoryRegister(region) {
      await call('SystemSharedMemoryRegister', region);
    },
    async systemSharedMemoryUnregister(name = '') {
      await call('SystemSharedMemoryUnregister', { name });
    },
    close() {
      channel.close();
    },
  };
}
