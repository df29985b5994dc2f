/**
 * KServe v2 / Triton gRPC messages as plain objects, in the shape @grpc/proto-loader
 * gives with keepCase (snake_case field names), longs as Number, enums as String,
 * bytes as Buffer, defaults filled. Only the messages tanalyze uses are typed.
 */
import type { ModelConfig } from '../config/types.js';

export type InferParameter =
  | { bool_param: boolean }
  | { int64_param: number }
  | { string_param: string }
  | { double_param: number }
  | { uint64_param: number };

/**
 * The parameters by which an input names its bytes in a registered system shared-memory
 * region instead of carrying them (Triton's names), and the InferParameter kind of each.
 * The load generator writes them and the embedded server reads them.
 */
export const SHARED_MEMORY_INPUT_PARAMS = {
  shared_memory_region: 'string_param',
  shared_memory_offset: 'int64_param',
  shared_memory_byte_size: 'int64_param',
} as const;

export type SharedMemoryInputParam = keyof typeof SHARED_MEMORY_INPUT_PARAMS;

export interface TensorMetadata { name: string; datatype: string; shape: number[] }

export interface ModelMetadataResponse {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export interface InferInputTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: Record<string, InferParameter>;
  contents?: Record<string, unknown>;
}

export interface ModelInferRequest {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, InferParameter>;
  inputs: InferInputTensor[];
  outputs?: { name: string; parameters?: Record<string, InferParameter> }[];
  raw_input_contents?: Buffer[];
}

export interface InferOutputTensor { name: string; datatype: string; shape: number[] }

export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: InferOutputTensor[];
  raw_output_contents: Buffer[];
}

export interface StatisticDuration { count: number; ns: number }

export interface InferStatistics {
  success: StatisticDuration;
  fail: StatisticDuration;
  queue: StatisticDuration;
  compute_input: StatisticDuration;
  compute_infer: StatisticDuration;
  compute_output: StatisticDuration;
  cache_hit: StatisticDuration;
  cache_miss: StatisticDuration;
}

export interface InferBatchStatistics {
  batch_size: number;
  compute_input: StatisticDuration;
  compute_infer: StatisticDuration;
  compute_output: StatisticDuration;
}

export interface ModelStatistics {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: InferStatistics;
  batch_stats: InferBatchStatistics[];
}

export interface RepositoryIndexEntry { name: string; version: string; state: string; reason: string }

export type ModelRepositoryParameter =
  | { bool_param: boolean }
  | { int64_param: number }
  | { string_param: string }
  | { bytes_param: Buffer };

/** One registered system shared-memory region, as SystemSharedMemoryStatus reports it. */
export interface SystemSharedMemoryRegion {
  name: string;
  /** The POSIX shared-memory object's name (shm_open's), e.g. /tanalyze_123_ab12. */
  key: string;
  offset: number;
  byte_size: number;
}

/** What the rest of tanalyze needs from a KServe v2 endpoint (Triton or the embedded server). */
export interface InferenceClient {
  serverLive(): Promise<boolean>;
  serverReady(): Promise<boolean>;
  serverMetadata(): Promise<{ name: string; version: string; extensions: string[] }>;
  modelReady(name: string, version?: string): Promise<boolean>;
  modelMetadata(name: string, version?: string): Promise<ModelMetadataResponse>;
  modelConfig(name: string, version?: string): Promise<ModelConfig>;
  modelInfer(request: ModelInferRequest): Promise<ModelInferResponse>;
  modelStatistics(name?: string, version?: string): Promise<ModelStatistics[]>;
  repositoryIndex(ready?: boolean): Promise<RepositoryIndexEntry[]>;
  /** `configJson` is the JSON form of ModelConfig (Triton's `config` override parameter). */
  repositoryModelLoad(name: string, configJson?: string, files?: Record<string, Buffer>): Promise<void>;
  repositoryModelUnload(name: string, unloadDependents?: boolean): Promise<void>;
  /**
   * The system shared-memory extension (present on the gRPC client; absent on test fakes):
   * status of one region or (empty name) all, register a region of an shm object, unregister
   * one or (empty name) all.
   */
  systemSharedMemoryStatus?(name?: string): Promise<SystemSharedMemoryRegion[]>;
  systemSharedMemoryRegister?(region: SystemSharedMemoryRegion): Promise<void>;
  systemSharedMemoryUnregister?(name?: string): Promise<void>;
  close(): void;
}
