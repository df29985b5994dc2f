/**
 * The GRPCInferenceService definition from our own .proto, shared by the client and the
 * embedded server. ModelConfigResponse.config is (de)serialized with the config module's
 * codec, so both sides see the canonical plain ModelConfig of src/config.
 */
import * as protoLoader from '@grpc/proto-loader';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { decodeModelConfig, encodeModelConfig } from '../config/pbtxt.js';
import type { ModelConfig } from '../config/types.js';
import { fromPackageRoot } from '../util/package-root.js';

export const SERVICE_NAME = 'inference.GRPCInferenceService';

/** ModelInfer's HTTP/2 path, for the load channels that send pre-encoded requests. */
export const MODEL_INFER_PATH = `/${SERVICE_NAME}/ModelInfer`;

/** Loader options: snake_case names, 64-bit as Number, enums as names, defaults filled. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [fromPackageRoot('src', 'protocol'), fromPackageRoot('src', 'config')],
};

// Field 1, length-delimited: the only field of ModelConfigResponse.
const CONFIG_TAG = (1 << 3) | 2;

export function encodeModelConfigResponse(res: { config?: ModelConfig | null }): Buffer {
  const w = protobuf.Writer.create();
  if (res.config) w.uint32(CONFIG_TAG).bytes(encodeModelConfig(res.config));
  return Buffer.from(w.finish());
}

export function decodeModelConfigResponse(buf: Buffer): { config: ModelConfig } {
  const r = protobuf.Reader.create(buf);
  let config: ModelConfig = {};
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === CONFIG_TAG) config = decodeModelConfig(r.bytes());
    else r.skipType(tag & 7);
  }
  return { config };
}

let cached: ServiceDefinition | undefined;

export function inferenceServiceDefinition(): ServiceDefinition {
  if (cached) return cached;
  const pkg = protoLoader.loadSync(fromPackageRoot('src', 'protocol', 'grpc_service.proto'), LOADER_OPTIONS);
  const service = pkg[SERVICE_NAME] as unknown as ServiceDefinition;
  const modelConfig = service['ModelConfig'] as MethodDefinition<unknown, { config?: ModelConfig | null }>;
  cached = {
    ...service,
    ModelConfig: {
      ...modelConfig,
      responseSerialize: encodeModelConfigResponse,
      responseDeserialize: decodeModelConfigResponse,
    },
  };
  return cached;
}
