/** Model control in explicit mode: load (with config overrides), reload, unload, failures. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { identityModel } from '../../src/onnx/build-model.js';
import { createInferenceClient, ProtocolError } from '../../src/protocol/client.js';
import type { InferenceClient } from '../../src/protocol/types.js';
import { OrtProcessExecutor, type ExecutorFactory } from '../../src/server/executor.js';
import { startEmbeddedServer, type EmbeddedServer } from '../../src/server/server.js';
import { identityConfig, makeRepository, range, rawRequest, readFp32 } from './helpers.js';

async function rejectsWith(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<ProtocolError> {
  let caught: ProtocolError | undefined;
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `expected a ProtocolError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.details, pattern);
    caught = e;
    return true;
  });
  return caught!;
}

const configJson = (name: string, maxBatchSize: number, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    name,
    backend: 'onnxruntime',
    max_batch_size: maxBatchSize,
    input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [4] }],
    output: [{ name: 'output', data_type: 'TYPE_FP32', dims: [4] }],
    instance_group: [{ kind: 'KIND_CPU', count: 1 }],
    ...extra,
  });

test('a dead instance makes its model unavailable until it is reloaded', async () => {
  const repo = makeRepository({ ident: { spec: { dims: [4], maxBatchSize: 8 } } });
  const executors: OrtProcessExecutor[] = [];
  const factory: ExecutorFactory = async (spec) => {
    const x = await OrtProcessExecutor.start(spec);
    executors.push(x);
    return x;
  };
  const server = await startEmbeddedServer({ repository: repo.dir, modelControl: 'explicit', loadModels: ['ident'], executorFactory: factory });
  const client = createInferenceClient(server.address);
  try {
    await client.modelInfer(rawRequest('ident', [1, 4], range(4)));
    process.kill(executors[0]!.pid!, 'SIGKILL');
    for (let i = 0; i < 100 && (await client.modelReady('ident')); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await client.modelReady('ident'), false);
    await rejectsWith(client.modelInfer(rawRequest('ident', [1, 4], range(4))), 'UNAVAILABLE', /instance process of 'ident' exited/);
    const entry = (await client.repositoryIndex()).find((m) => m.name === 'ident')!;
    assert.equal(entry.state, 'UNAVAILABLE');
    assert.match(entry.reason, /exited \(SIGKILL\)/);
    await client.repositoryModelLoad('ident');
    assert.equal(await client.modelReady('ident'), true);
    await client.modelInfer(rawRequest('ident', [1, 4], range(4)));
  } finally {
    client.close();
    await server.stop();
    repo.cleanup();
  }
});

describe('embedded server: explicit model control', () => {
  const repo = makeRepository({
    ident: { spec: { dims: [4], maxBatchSize: 8 } },
    other: { spec: { dims: [4], maxBatchSize: 4 } },
    broken: { spec: { dims: [4], maxBatchSize: 8 }, config: identityConfig('broken', { dims: [5], maxBatchSize: 8 }) },
    noconfig: { spec: { dims: [3], maxBatchSize: 8 }, config: null },
  });
  let server: EmbeddedServer;
  let client: InferenceClient;

  before(async () => {
    server = await startEmbeddedServer({ repository: repo.dir, modelControl: 'explicit', loadModels: ['ident'] });
    client = createInferenceClient(server.address);
  });
  after(async () => {
    client.close();
    await server.stop();
    repo.cleanup();
  });

  test('only the named models are loaded at start; the index lists the rest by name', async () => {
    assert.equal(await client.modelReady('ident'), true);
    assert.equal(await client.modelReady('other'), false);
    await rejectsWith(client.modelInfer(rawRequest('other', [1, 4], range(4))), 'NOT_FOUND');
    const index = await client.repositoryIndex();
    assert.deepEqual(
      index.map((m) => [m.name, m.state]),
      [
        ['broken', ''],
        ['ident', 'READY'],
        ['noconfig', ''],
        ['other', ''],
      ],
    );
    assert.deepEqual((await client.repositoryIndex(true)).map((m) => m.name), ['ident']);
  });

  test('RepositoryModelLoad loads a model from its folder', async () => {
    await client.repositoryModelLoad('other');
    assert.equal(await client.modelReady('other'), true);
    const res = await client.modelInfer(rawRequest('other', [2, 4], range(8)));
    assert.deepEqual(readFp32(res.raw_output_contents[0]!), range(8));
  });

  test('a config override is used instead of config.pbtxt', async () => {
    await client.repositoryModelLoad('other', configJson('other', 2, { dynamic_batching: { max_queue_delay_microseconds: 100 } }));
    const cfg = await client.modelConfig('other');
    assert.equal(cfg.max_batch_size, 2);
    // As real Triton reports it: no preferred sizes reads back as [max_batch_size].
    assert.deepEqual(cfg.dynamic_batching, { max_queue_delay_microseconds: 100, preferred_batch_size: [2] });
    assert.deepEqual((await client.modelMetadata('other')).inputs[0]!.shape, [-1, 4]);
    await rejectsWith(client.modelInfer(rawRequest('other', [3, 4], range(12))), 'INVALID_ARGUMENT', /batch-size must be <= 2/);
    // Back to the file's configuration.
    await client.repositoryModelLoad('other', configJson('other', 4));
    assert.equal((await client.modelConfig('other')).max_batch_size, 4);
  });

  test('a reload replaces the model without failing requests in flight', async () => {
    // Closed loops keep requests in flight for the whole reload; every one must succeed.
    let reloading = true;
    let sent = 0;
    const loop = async (seed: number): Promise<void> => {
      while (reloading) {
        const values = range(4, seed * 100 + sent++);
        const res = await client.modelInfer(rawRequest('other', [1, 4], values));
        assert.deepEqual(readFp32(res.raw_output_contents[0]!), values);
      }
    };
    const loops = Promise.all(range(4).map(loop));
    await client.repositoryModelLoad('other', configJson('other', 4, { instance_group: [{ kind: 'KIND_CPU', count: 2 }] }));
    reloading = false;
    await loops;
    assert.ok(sent > 4, `requests were in flight during the reload (${sent})`);
    assert.equal((await client.modelConfig('other')).instance_group?.[0]?.count, 2);
    const [s] = await client.modelStatistics('other');
    assert.ok(s!.inference_stats.success.count < sent, 'statistics start again with the new model');
  });

  test('a bad config fails the load with a clear reason; other models keep serving', async () => {
    const err = await rejectsWith(client.repositoryModelLoad('broken'), 'INVALID_ARGUMENT', /input 'input': dimension 1 is 5 in the configuration but 4 in the model/);
    assert.match(err.details, /failed to load 'broken'/);
    assert.equal(await client.modelReady('broken'), false);
    const entry = (await client.repositoryIndex()).find((m) => m.name === 'broken')!;
    assert.equal(entry.state, 'UNAVAILABLE');
    assert.match(entry.reason, /dimension 1 is 5/);
    await rejectsWith(client.modelInfer(rawRequest('broken', [1, 5], range(5))), 'UNAVAILABLE', /not ready/);
    const res = await client.modelInfer(rawRequest('ident', [1, 4], range(4)));
    assert.deepEqual(readFp32(res.raw_output_contents[0]!), range(4));
  });

  test('bad override JSON, unknown fields and unknown models are refused', async () => {
    await rejectsWith(client.repositoryModelLoad('other', '{not json'), 'INVALID_ARGUMENT', /not valid JSON/);
    await rejectsWith(client.repositoryModelLoad('other', JSON.stringify({ name: 'other', inputs: [] })), 'INVALID_ARGUMENT', /inputs/);
    await rejectsWith(client.repositoryModelLoad('other', configJson('somethingelse', 4)), 'INVALID_ARGUMENT', /expected 'other'/);
    await rejectsWith(client.repositoryModelLoad('missing'), 'NOT_FOUND');
    await rejectsWith(client.repositoryModelLoad('../etc'), 'INVALID_ARGUMENT');
  });

  test('a failed reload leaves the model unavailable with the reason', async () => {
    await client.repositoryModelLoad('other', configJson('other', 4));
    await rejectsWith(client.repositoryModelLoad('other', configJson('other', 4, { max_batch_size: 4, input: [{ name: 'input', data_type: 'TYPE_INT32', dims: [4] }] })), 'INVALID_ARGUMENT', /TYPE_INT32.*float32/);
    assert.equal(await client.modelReady('other'), false);
    await client.repositoryModelLoad('other');
    assert.equal(await client.modelReady('other'), true);
  });

  test('a model without config.pbtxt is completed from the ONNX model', async () => {
    await client.repositoryModelLoad('noconfig');
    const cfg = await client.modelConfig('noconfig');
    assert.equal(cfg.max_batch_size ?? 0, 0);
    assert.deepEqual(cfg.input, [{ name: 'input', data_type: 'TYPE_FP32', dims: [-1, 3] }]);
    const res = await client.modelInfer(rawRequest('noconfig', [2, 3], range(6)));
    assert.deepEqual(readFp32(res.raw_output_contents[0]!), range(6));
  });

  test('file overrides replace the model folder', async () => {
    const model = Buffer.from(identityModel({ dims: [6] }));
    const json = JSON.stringify({
      name: 'fromfiles',
      max_batch_size: 2,
      input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [6] }],
      output: [{ name: 'output', data_type: 'TYPE_FP32', dims: [6] }],
      instance_group: [{ kind: 'KIND_CPU', count: 1 }],
    });
    await client.repositoryModelLoad('fromfiles', json, { '1/model.onnx': model });
    const res = await client.modelInfer({ ...rawRequest('fromfiles', [1, 6], range(6)) });
    assert.deepEqual(readFp32(res.raw_output_contents[0]!), range(6));
    await client.repositoryModelUnload('fromfiles');
    // A file ONNX Runtime cannot read fails the load with its reason.
    await rejectsWith(
      client.repositoryModelLoad('fromfiles', json, { '1/model.onnx': Buffer.from('not an onnx model') }),
      'INVALID_ARGUMENT',
      /ONNX Runtime could not load/,
    );
    await rejectsWith(client.repositoryModelLoad('fromfiles2', undefined, { '1/model.onnx': model }), 'INVALID_ARGUMENT', /need a 'config'/);
  });

  test('unload drains queued requests before releasing the model', async () => {
    // A long queue delay keeps the requests waiting in the batcher when the unload arrives.
    await client.repositoryModelLoad('other', configJson('other', 8, { dynamic_batching: { max_queue_delay_microseconds: 400_000 } }));
    const queued = Promise.all(range(3).map((i) => client.modelInfer(rawRequest('other', [1, 4], range(4, i)))));
    const pending = () => Number(/^nv_inference_pending_request_count\{model="other",version="1"\} (\d+)$/m.exec(server.metricsText())?.[1] ?? 0);
    for (let i = 0; i < 200 && pending() < 3; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(pending(), 3);
    await client.repositoryModelUnload('other');
    const results = await queued;
    results.forEach((r, i) => assert.deepEqual(readFp32(r.raw_output_contents[0]!), range(4, i)));
    assert.equal(await client.modelReady('other'), false);
    await client.repositoryModelLoad('other', configJson('other', 4));
  });

  test('unload, then infer fails as unavailable', async () => {
    await client.repositoryModelUnload('other');
    assert.equal(await client.modelReady('other'), false);
    await rejectsWith(client.modelInfer(rawRequest('other', [1, 4], range(4))), 'UNAVAILABLE');
    const entry = (await client.repositoryIndex()).find((m) => m.name === 'other')!;
    assert.deepEqual([entry.state, entry.reason], ['UNAVAILABLE', 'unloaded']);
    await rejectsWith(client.repositoryModelUnload('never-there'), 'NOT_FOUND');
  });

  test('a changed config.pbtxt is picked up by a plain load; an unchanged one is kept', async () => {
    await client.repositoryModelLoad('ident');
    await client.modelInfer(rawRequest('ident', [1, 4], range(4)));
    const before = (await client.modelStatistics('ident'))[0]!.inference_stats.success.count;
    assert.ok(before > 0);
    await client.repositoryModelLoad('ident'); // unchanged: the same model keeps serving
    assert.equal((await client.modelStatistics('ident'))[0]!.inference_stats.success.count, before);
    writeFileSync(path.join(repo.dir, 'ident', 'config.pbtxt'), identityConfig('ident', { dims: [4], maxBatchSize: 3 }));
    await client.repositoryModelLoad('ident');
    assert.equal((await client.modelConfig('ident')).max_batch_size, 3);
  });
});

test('startup fails when a model named at start cannot load', async () => {
  const repo = makeRepository({ broken: { spec: { dims: [4], maxBatchSize: 8 }, config: identityConfig('broken', { dims: [5], maxBatchSize: 8 }) } });
  try {
    await assert.rejects(startEmbeddedServer({ repository: repo.dir }), /failed to load all models[\s\S]*broken/);
  } finally {
    repo.cleanup();
  }
});
