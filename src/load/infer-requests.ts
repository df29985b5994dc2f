/**
 * What the closed-loop driver sends: one ModelInferRequest built from the model's
 * metadata, with seeded random input data built once and reused for every request.
 */
import * as grpc from '@grpc/grpc-js';
import { ProtocolError } from '../protocol/client.js';
import { createH2Channel, h2Authority } from './h2-channel.js';
import type { ClientTransport, RawChannel } from '../domain/load.js';
import { MODEL_INFER_PATH, inferenceServiceDefinition } from '../protocol/service.js';
import type { InferenceClient, ModelInferRequest, ModelMetadataResponse } from '../protocol/types.js';

export interface InferRequestOptions {
  /** Explicit shapes by input name (for variable dims other than the batch dim), batch dim included. */
  shapes?: Record<string, number[]>;
  modelVersion?: string;
}

const ELEMENT_BYTES: Record<string, number> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  BF16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
};

import { mulberry32 } from '../util/random.js';
import { float32ToBfloat16Bits, float32ToFloat16Bits } from '../util/half-float.js';


/** Input data, little-endian, as Triton's raw_input_contents expects. */
export function randomTensorBytes(datatype: string, shape: readonly number[], seed: number): Buffer {
  const n = shape.reduce((a, b) => a * b, 1);
  const rand = mulberry32(seed);
  // Integers stay in [0, 100): valid for every width and safe as indices into small tables.
  const smallInt = (): number => Math.floor(rand() * 100);
  if (datatype === 'BYTES') {
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const s = Buffer.alloc(4 + 8);
      s.writeUInt32LE(8, 0);
      for (let j = 0; j < 8; j++) s[4 + j] = 97 + Math.floor(rand() * 26);
      parts.push(s);
    }
    return Buffer.concat(parts);
  }
  const size = ELEMENT_BYTES[datatype];
  if (size === undefined) throw new Error(`unsupported input datatype ${datatype}`);
  const buf = Buffer.alloc(n * size);
  for (let i = 0; i < n; i++) {
    const o = i * size;
    switch (datatype) {
      case 'BOOL':
        buf.writeUInt8(rand() < 0.5 ? 0 : 1, o);
        break;
      case 'UINT8':
        buf.writeUInt8(smallInt(), o);
        break;
      case 'INT8':
        buf.writeInt8(smallInt(), o);
        break;
      case 'UINT16':
        buf.writeUInt16LE(smallInt(), o);
        break;
      case 'INT16':
        buf.writeInt16LE(smallInt(), o);
        break;
      case 'UINT32':
        buf.writeUInt32LE(smallInt(), o);
        break;
      case 'INT32':
        buf.writeInt32LE(smallInt(), o);
        break;
      case 'UINT64':
        buf.writeBigUInt64LE(BigInt(smallInt()), o);
        break;
      case 'INT64':
        buf.writeBigInt64LE(BigInt(smallInt()), o);
        break;
      case 'FP16':
        buf.writeUInt16LE(float32ToFloat16Bits(rand()), o);
        break;
      case 'BF16':
        buf.writeUInt16LE(float32ToBfloat16Bits(rand()), o);
        break;
      case 'FP32':
        buf.writeFloatLE(rand(), o);
        break;
      case 'FP64':
        buf.writeDoubleLE(rand(), o);
        break;
    }
  }
  return buf;
}

/**
 * The concrete shape of an input: a leading -1 is the batch dim (→ batchSize), any
 * other -1 becomes 1, unless `explicit` gives the shape.
 */
export function concreteShape(shape: readonly number[], batchSize: number, explicit?: readonly number[]): number[] {
  if (explicit) {
    if (explicit.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`invalid shape [${explicit.join(',')}]`);
    return [...explicit];
  }
  return shape.map((d, i) => (d >= 0 ? d : i === 0 ? batchSize : 1));
}

/** One request for the model, with random data built once per (datatype, shape). */
export function makeInferRequest(
  metadata: ModelMetadataResponse,
  batchSize = 1,
  seed = 1,
  options: InferRequestOptions = {},
): ModelInferRequest {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  if (metadata.inputs.length === 0) throw new Error(`model ${metadata.name} declares no inputs`);
  const cache = new Map<string, Buffer>();
  const inputs: ModelInferRequest['inputs'] = [];
  const raw: Buffer[] = [];
  for (const input of metadata.inputs) {
    const shape = concreteShape(input.shape, batchSize, options.shapes?.[input.name]);
    const key = `${input.datatype}:${shape.join('x')}`;
    let data = cache.get(key);
    if (!data) {
      data = randomTensorBytes(input.datatype, shape, seed);
      cache.set(key, data);
    }
    inputs.push({ name: input.name, datatype: input.datatype, shape });
    raw.push(data);
  }
  const request: ModelInferRequest = { model_name: metadata.name, inputs, raw_input_contents: raw };
  if (options.modelVersion) request.model_version = options.modelVersion;
  return request;
}

/** The driver's `send`: the same request object every time, response discarded. */
export function makeSender(client: InferenceClient, request: ModelInferRequest): () => Promise<void> {
  return async () => {
    await client.modelInfer(request);
  };
}

/** The request's wire bytes: serialized once per shape, then sent as they are. */
export function serializeInferRequest(request: ModelInferRequest): Buffer {
  return inferenceServiceDefinition()['ModelInfer']!.requestSerialize(request);
}

export type { RawChannel } from '../domain/load.js';

const passBytes = (b: Buffer): Buffer => b;

export interface RawChannelOptions {
  deadlineMs?: number;
  transport?: ClientTransport;
}

/**
 * The load generator's own send path: one channel, reused for every request and every
 * load point; each request serialized once (serializeInferRequest), and the response left
 * undecoded, since only its status and arrival time matter. Failures reject with
 * ProtocolError, as the typed client's do. An address that is not host:port goes through
 * grpc-js whatever the transport asked.
 */
export function createRawChannel(address: string, opts: RawChannelOptions = {}): RawChannel {
  const transport = opts.transport ?? 'http2';
  if (transport === 'http2' && h2Authority(address) !== null) {
    return createH2Channel(address, opts.deadlineMs !== undefined ? { deadlineMs: opts.deadlineMs } : {});
  }
  return createGrpcJsChannel(address, opts);
}

function createGrpcJsChannel(address: string, opts: RawChannelOptions): RawChannel {
  const channel = new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
  const deadlineMs = opts.deadlineMs ?? 60_000;
  return {
    sender(requestBytes: Uint8Array): () => Promise<void> {
      // Worker threads receive plain Uint8Arrays; grpc-js wants a Buffer (a view, no copy).
      const bytes = Buffer.isBuffer(requestBytes)
        ? requestBytes
        : Buffer.from(requestBytes.buffer, requestBytes.byteOffset, requestBytes.byteLength);
      return () =>
        new Promise<void>((resolve, reject) => {
          channel.makeUnaryRequest(
            MODEL_INFER_PATH,
            passBytes,
            passBytes,
            bytes,
            new grpc.Metadata(),
            { deadline: Date.now() + deadlineMs },
            (err: grpc.ServiceError | null) => {
              if (err) reject(new ProtocolError('ModelInfer', (err.code !== undefined && grpc.status[err.code]) || 'UNKNOWN', err.details || err.message));
              else resolve();
            },
          );
        });
    },
    ready: (timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        channel.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve()));
      }),
    close: () => channel.close(),
  };
}
