/**
 * ModelInfer requests against a model's configuration: checks names, datatypes, shapes,
 * batch size and data size as Triton does, and turns the tensors (raw or typed) into
 * raw bytes for the executor; builds the response in Triton's raw form. Pure.
 */
import type { ModelConfig, ModelTensor } from '../config/types.js';
import type { ExecRequest, ExecTensor } from './executor.js';
import {
  apiFromConfigType,
  elementCount,
  elementSize,
  hasContents,
  rawFromContents,
  splitBytesElements,
  type ApiDatatype,
} from './tensors.js';
import { TanalyzeError } from '../domain/errors.js';
import { SHARED_MEMORY_INPUT_PARAMS, type SharedMemoryInputParam } from '../protocol/types.js';

/** A request the server must refuse with INVALID_ARGUMENT. */
/** A request the server cannot run (wrong inputs): the client's mistake, answered INVALID_ARGUMENT. */
export class InvalidRequestError extends TanalyzeError {
  constructor(message: string) {
    super('usage', message);
  }
}

/** The fields of ModelInferRequest the server reads (proto-loader's plain object). */
export interface InferRequestIn {
  model_name: string;
  model_version?: string;
  id?: string;
  inputs?: {
    name: string;
    datatype: string;
    shape: (number | string)[];
    parameters?: Record<string, unknown>;
    contents?: Record<string, unknown> | null;
  }[];
  outputs?: { name: string; parameters?: Record<string, unknown> }[];
  raw_input_contents?: Uint8Array[];
}

/** Where inputs that name a system shared-memory region are read from (the server's regions). */
export interface SharedInputSource {
  read(region: string, offset: number, byteSize: number): Uint8Array;
}

const SHM_PARAMS = Object.keys(SHARED_MEMORY_INPUT_PARAMS) as SharedMemoryInputParam[];

/** An InferParameter's kind and value: proto-loader's `parameter_choice`, or the one field a plain object sets. */
function paramValue(p: unknown): { kind: string; value: unknown } | null {
  if (!p || typeof p !== 'object') return null;
  const o = p as Record<string, unknown>;
  const kind = typeof o['parameter_choice'] === 'string' ? (o['parameter_choice'] as string) : Object.keys(o).find((k) => k.endsWith('_param'));
  return kind ? { kind, value: o[kind] } : null;
}

/**
 * An input's shared-memory parameters, checked as Triton checks them (same messages):
 * null when the input carries its data in the request.
 */
export function sharedMemoryParams(input: { name: string; parameters?: Record<string, unknown> }): { region: string; offset: number; byteSize: number } | null {
  const params = input.parameters ?? {};
  const got: Partial<Record<SharedMemoryInputParam, unknown>> = {};
  for (const key of SHM_PARAMS) {
    if (!(key in params)) continue;
    const v = paramValue(params[key]);
    if (!v || v.kind !== SHARED_MEMORY_INPUT_PARAMS[key]) throw new InvalidRequestError(`invalid value type for '${key}' parameter for tensor '${input.name}', expected ${SHARED_MEMORY_INPUT_PARAMS[key]}.`);
    got[key] = v.value;
  }
  const region = got.shared_memory_region;
  if (region === undefined) {
    if (got.shared_memory_byte_size !== undefined) throw new InvalidRequestError(`'shared_memory_byte_size' can not be specified without 'shared_memory_region' parameter for tensor '${input.name}'`);
    if (got.shared_memory_offset !== undefined) throw new InvalidRequestError(`'shared_memory_offset' can not be specified without 'shared_memory_region' parameter for tensor '${input.name}'`);
    return null;
  }
  if (got.shared_memory_byte_size === undefined) throw new InvalidRequestError(`'shared_memory_byte_size' must be specified along with 'shared_memory_region' parameter for tensor '${input.name}'`);
  return { region: String(region), offset: Number(got.shared_memory_offset ?? 0), byteSize: Number(got.shared_memory_byte_size) };
}

export interface PreparedRequest {
  exec: ExecRequest;
  /** Equal for requests that may share a batch. */
  shapeKey: string;
  /** Output names to return, in response order. */
  outputs: string[];
}

const fmt = (s: readonly number[]): string => `[${s.join(',')}]`;

function matches(shape: readonly number[], dims: readonly number[]): boolean {
  return shape.length === dims.length && dims.every((d, i) => d === -1 || d === shape[i]);
}

/**
 * `shared`: the server's shared-memory regions, for inputs that name one (without it, such
 * inputs are refused); raw_input_contents then hold only the other inputs' data, in order.
 */
export function prepareInferRequest(cfg: ModelConfig, req: InferRequestIn, shared?: SharedInputSource): PreparedRequest {
  const model = cfg.name ?? req.model_name;
  const bad = (msg: string): never => {
    throw new InvalidRequestError(msg);
  };
  const maxBatchSize = Number(cfg.max_batch_size ?? 0);
  const configInputs = new Map<string, ModelTensor>((cfg.input ?? []).map((t) => [t.name, t]));
  const inputs = req.inputs ?? [];
  const raw = req.raw_input_contents ?? [];

  const shm = inputs.map((t) => sharedMemoryParams(t));
  if (shm.some((p) => p !== null) && !shared) bad(`input '${inputs[shm.findIndex((p) => p !== null)]!.name}' names a shared-memory region, but this server has no shared memory`);
  shm.forEach((p, i) => {
    if (p && hasContents(inputs[i]!.contents)) bad(`unexpected 'content' provided when using shared memory for input tensor '${inputs[i]!.name}' for model '${model}'`);
  });
  // Stricter than Triton 2.51, which ignores raw_input_contents left over when inputs are in
  // shared memory: here their count must match the inputs that are not.
  const inRequest = shm.filter((p) => p === null).length;
  if (raw.length > 0) {
    if (inputs.some((t, i) => shm[i] === null && hasContents(t.contents))) bad(`contents field must not be specified when using raw_input_contents for '${model}'`);
    if (raw.length !== inRequest) bad(`expected ${inRequest} raw_input_contents (one per input not in shared memory) for '${model}', got ${raw.length}`);
  }
  let nextRaw = 0;

  const seen = new Set<string>();
  let batchSize: number | undefined;
  const tensors: ExecTensor[] = [];
  const keyParts: string[] = [];
  inputs.forEach((input, i) => {
    const t = configInputs.get(input.name);
    if (!t) bad(`unexpected inference input '${input.name}' for model '${model}'; expected: ${[...configInputs.keys()].join(', ')}`);
    if (seen.has(input.name)) bad(`input '${input.name}' given more than once`);
    seen.add(input.name);

    const expected = apiFromConfigType(t!.data_type)!;
    if (input.datatype !== expected) {
      bad(`inference input '${input.name}' data-type is '${input.datatype}', but model '${model}' expects '${expected}'`);
    }
    const shape = input.shape.map(Number);
    if (shape.some((d) => !Number.isInteger(d) || d < 0)) bad(`input '${input.name}' has an invalid shape ${fmt(shape)}`);
    const dims = (t!.dims ?? []).map(Number);
    let inner = shape;
    if (maxBatchSize > 0) {
      if (shape.length === 0) bad(`input '${input.name}' has no batch dimension; model '${model}' has max_batch_size ${maxBatchSize}`);
      const bs = shape[0]!;
      if (bs < 1 || bs > maxBatchSize) bad(`inference request batch-size must be <= ${maxBatchSize} for '${model}' (and >= 1), got ${bs}`);
      if (batchSize !== undefined && bs !== batchSize) bad(`input '${input.name}' has batch size ${bs}, other inputs have ${batchSize}`);
      batchSize = bs;
      inner = shape.slice(1);
    }
    if (!matches(inner, dims)) {
      const want = maxBatchSize > 0 ? `[-1,${dims.join(',')}]` : fmt(dims);
      bad(`unexpected shape for input '${input.name}' for model '${model}'. Expected ${want}, got ${fmt(shape)}`);
    }

    const count = elementCount(shape);
    let data: Uint8Array;
    const region = shm[i];
    if (region) {
      data = shared!.read(region.region, region.offset, region.byteSize);
      if (expected === 'BYTES') {
        const elements = splitBytesElements(data);
        if (!elements || elements.length !== count) bad(`input '${input.name}': expected ${count} BYTES elements in shared memory region '${region.region}'`);
      } else if (data.byteLength !== count * elementSize(expected)) {
        bad(`input byte size mismatch for input '${input.name}' for model '${model}'. Expected ${count * elementSize(expected)}, got ${data.byteLength}`);
      }
    } else if (raw.length > 0) {
      data = raw[nextRaw++]!;
      if (expected === 'BYTES') {
        const elements = splitBytesElements(data);
        if (!elements) bad(`input '${input.name}': malformed BYTES data (each element needs a 4-byte length prefix)`);
        if (elements!.length !== count) bad(`input '${input.name}': expected ${count} BYTES elements, got ${elements!.length}`);
      } else if (data.byteLength !== count * elementSize(expected)) {
        bad(`input '${input.name}' byte size ${data.byteLength} does not match the expected ${count * elementSize(expected)} for shape ${fmt(shape)} of ${expected}`);
      }
    } else {
      try {
        data = rawFromContents(expected, input.contents ?? {}, count, input.name);
      } catch (e) {
        return bad((e as Error).message);
      }
    }
    // The model sees `reshape` where the configuration gives one.
    const reshape = (t!.reshape as { shape?: number[] } | undefined)?.shape?.map(Number);
    const modelShape = reshape ? (maxBatchSize > 0 ? [shape[0]!, ...reshape] : reshape) : shape;
    tensors.push({ name: input.name, datatype: expected, shape: modelShape, data: data! });
    if (dims.some((d) => d === -1)) keyParts.push(`${input.name}:${inner.join('x')}`);
  });

  const missing = [...configInputs.keys()].filter((n) => !seen.has(n) && !configInputs.get(n)!['optional']);
  if (missing.length) bad(`expected ${configInputs.size} inputs but got ${inputs.length} inputs for model '${model}'; missing: ${missing.join(', ')}`);

  const configOutputs = (cfg.output ?? []).map((o) => o.name);
  const requested = req.outputs ?? [];
  for (const o of requested) {
    if (!configOutputs.includes(o.name)) bad(`unexpected inference output '${o.name}' for model '${model}'`);
    if (o.parameters && 'classification' in o.parameters) bad(`output '${o.name}': classification is not supported by the embedded server`);
  }
  return {
    exec: { batchSize: maxBatchSize > 0 ? batchSize ?? 1 : 1, inputs: tensors },
    shapeKey: keyParts.join(';'),
    outputs: requested.length ? requested.map((o) => o.name) : configOutputs,
  };
}

/** The response message, raw form (Triton never fills typed contents in responses). */
export function buildInferResponse(
  cfg: ModelConfig,
  req: InferRequestIn,
  version: string,
  outputs: readonly ExecTensor[],
  wanted: readonly string[],
): {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, never>;
  outputs: { name: string; datatype: ApiDatatype; shape: number[]; parameters: Record<string, never> }[];
  raw_output_contents: Buffer[];
} {
  const byName = new Map(outputs.map((o) => [o.name, o]));
  const configOut = new Map((cfg.output ?? []).map((o) => [o.name, o]));
  const list = wanted.map((name) => {
    const o = byName.get(name);
    if (!o) throw new Error(`the model produced no output '${name}'`);
    const t = configOut.get(name);
    // With reshape, the client sees the configuration's dims, not the model's shape.
    let shape = o.shape;
    if (t?.reshape) {
      const dims = (t.dims ?? []).map(Number);
      shape = Number(cfg.max_batch_size ?? 0) > 0 ? [o.shape[0]!, ...dims] : dims;
    }
    return { ...o, shape };
  });
  return {
    model_name: req.model_name,
    model_version: version,
    id: req.id ?? '',
    parameters: {},
    outputs: list.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, parameters: {} })),
    raw_output_contents: list.map((o) => Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength)),
  };
}
