/** The client against a scripted gRPC server speaking our service definition. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { ModelConfig } from '../../src/config/types.js';
import { createInferenceClient, ProtocolError } from '../../src/protocol/client.js';
import { decodeModelConfigResponse, encodeModelConfigResponse, inferenceServiceDefinition } from '../../src/protocol/service.js';
import type { InferenceClient } from '../../src/protocol/types.js';

const CONFIG: ModelConfig = {
  name: 'm',
  backend: 'onnxruntime',
  max_batch_size: 8,
  input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [3, -1] }],
  output: [{ name: 'y', data_type: 'TYPE_INT64', dims: [2] }],
  instance_group: [{ kind: 'KIND_CPU', count: 2 }],
  dynamic_batching: { preferred_batch_size: [4, 8], max_queue_delay_microseconds: 100 },
  parameters: { intra_op_thread_count: { string_value: '1' } },
};

describe('client', () => {
  const seen: Record<string, unknown> = {};
  const server = new grpc.Server();
  let client: InferenceClient;

  before(async () => {
    const reply =
      (name: string, res: (req: unknown) => unknown) =>
      (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        seen[name] = call.request;
        cb(null, res(call.request));
      };
    server.addService(inferenceServiceDefinition(), {
      ServerLive: reply('ServerLive', () => ({ live: true })),
      ServerReady: reply('ServerReady', () => ({ ready: false })),
      ServerMetadata: reply('ServerMetadata', () => ({ name: 'scripted', version: '9', extensions: ['a', 'b'] })),
      ModelReady: reply('ModelReady', () => ({ ready: true })),
      ModelMetadata: (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
        cb({ code: grpc.status.NOT_FOUND, details: "Request for unknown model: 'q' is not found" }),
      ModelConfig: reply('ModelConfig', () => ({ config: CONFIG })),
      // Never answers: the deadline must end the call.
      ModelInfer: () => undefined,
      ModelStatistics: reply('ModelStatistics', () => ({
        model_stats: [{ name: 'm', version: '1', inference_count: 2 ** 40, execution_count: 3, last_inference: 1_700_000_000_000 }],
      })),
      RepositoryIndex: reply('RepositoryIndex', () => ({ models: [{ name: 'm', version: '1', state: 'READY', reason: '' }] })),
      RepositoryModelLoad: reply('RepositoryModelLoad', () => ({})),
      RepositoryModelUnload: reply('RepositoryModelUnload', () => ({})),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    client = createInferenceClient(`127.0.0.1:${port}`, { deadlineMs: 2000, inferDeadlineMs: 200 });
  });
  after(() => {
    client.close();
    server.forceShutdown();
  });

  test('health and metadata', async () => {
    assert.equal(await client.serverLive(), true);
    assert.equal(await client.serverReady(), false);
    assert.deepEqual(await client.serverMetadata(), { name: 'scripted', version: '9', extensions: ['a', 'b'] });
    assert.equal(await client.modelReady('m', '3'), true);
    assert.deepEqual(seen['ModelReady'], { name: 'm', version: '3' });
  });

  test('ModelConfig comes back as the plain ModelConfig', async () => {
    assert.deepEqual(await client.modelConfig('m'), CONFIG);
  });

  test('statistics: 64-bit counters as numbers, defaults filled', async () => {
    const [s] = await client.modelStatistics('m');
    assert.equal(s!.inference_count, 2 ** 40);
    assert.deepEqual(s!.inference_stats, null, 'an absent message field is null with defaults');
    assert.deepEqual(s!.batch_stats, []);
    assert.deepEqual(seen['ModelStatistics'], { name: 'm', version: '' });
  });

  test('repository calls send Triton parameters', async () => {
    assert.deepEqual(await client.repositoryIndex(true), [{ name: 'm', version: '1', state: 'READY', reason: '' }]);
    await client.repositoryModelLoad('m', '{"name":"m"}', { '1/model.onnx': Buffer.from([1, 2, 3]) });
    const load = seen['RepositoryModelLoad'] as { model_name: string; parameters: Record<string, Record<string, unknown>> };
    assert.equal(load.model_name, 'm');
    assert.equal(load.parameters['config']!['string_param'], '{"name":"m"}');
    assert.deepEqual([...(load.parameters['file:1/model.onnx']!['bytes_param'] as Buffer)], [1, 2, 3]);
    await client.repositoryModelUnload('m', true);
    const unload = seen['RepositoryModelUnload'] as { parameters: Record<string, Record<string, unknown>> };
    assert.equal(unload.parameters['unload_dependents']!['bool_param'], true);
  });

  test('server errors become ProtocolError with the code name and message', async () => {
    await assert.rejects(client.modelMetadata('q'), (e: unknown) => {
      assert.ok(e instanceof ProtocolError);
      assert.equal(e.code, 'NOT_FOUND');
      assert.equal(e.details, "Request for unknown model: 'q' is not found");
      assert.equal(e.method, 'ModelMetadata');
      return true;
    });
  });

  test('ModelInfer has its own deadline', async () => {
    const t0 = Date.now();
    await assert.rejects(client.modelInfer({ model_name: 'm', inputs: [] }), (e: unknown) => e instanceof ProtocolError && e.code === 'DEADLINE_EXCEEDED');
    assert.ok(Date.now() - t0 < 1500);
  });
});

test('an unreachable server fails fast as UNAVAILABLE or DEADLINE_EXCEEDED', async () => {
  const c = createInferenceClient('127.0.0.1:1', { deadlineMs: 1000 });
  try {
    await assert.rejects(c.serverLive(), (e: unknown) => e instanceof ProtocolError && ['UNAVAILABLE', 'DEADLINE_EXCEEDED'].includes(e.code));
  } finally {
    c.close();
  }
});

test('ModelConfigResponse codec round-trips, and an empty response gives an empty config', () => {
  assert.deepEqual(decodeModelConfigResponse(encodeModelConfigResponse({ config: CONFIG })), { config: CONFIG });
  assert.deepEqual(decodeModelConfigResponse(Buffer.alloc(0)), { config: {} });
});
