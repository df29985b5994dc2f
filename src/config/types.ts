/**
 * Triton's ModelConfig as plain data: the object protobufjs gives for our own
 * src/config/model_config.proto with proto field names kept (snake_case), enums as
 * their names, 64-bit integers as numbers where they fit. Only the fields tanalyze
 * reads or changes are typed here; every other field of the message is kept as-is
 * (index signature) so a config round-trips whole.
 */
export type DataTypeName =
  | 'TYPE_INVALID' | 'TYPE_BOOL' | 'TYPE_UINT8' | 'TYPE_UINT16' | 'TYPE_UINT32' | 'TYPE_UINT64'
  | 'TYPE_INT8' | 'TYPE_INT16' | 'TYPE_INT32' | 'TYPE_INT64' | 'TYPE_FP16' | 'TYPE_FP32'
  | 'TYPE_FP64' | 'TYPE_STRING' | 'TYPE_BF16';

export interface ModelTensor {
  name: string;
  data_type?: DataTypeName;
  dims?: number[];
  [field: string]: unknown;
}

export interface ModelInstanceGroup {
  name?: string;
  kind?: 'KIND_AUTO' | 'KIND_GPU' | 'KIND_CPU' | 'KIND_MODEL';
  count?: number;
  gpus?: number[];
  [field: string]: unknown;
}

export interface ModelDynamicBatching {
  preferred_batch_size?: number[];
  max_queue_delay_microseconds?: number;
  preserve_ordering?: boolean;
  [field: string]: unknown;
}

export interface ModelConfig {
  name?: string;
  platform?: string;
  backend?: string;
  max_batch_size?: number;
  input?: ModelTensor[];
  output?: ModelTensor[];
  instance_group?: ModelInstanceGroup[];
  dynamic_batching?: ModelDynamicBatching;
  default_model_filename?: string;
  parameters?: Record<string, { string_value: string }>;
  [field: string]: unknown;
}
