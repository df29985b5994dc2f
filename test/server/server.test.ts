/** The embedded server over real gRPC (127.0.0.1, OS-picked port) with real ONNX Runtime inference. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createInferenceClient, ProtocolError } from '../../src/protocol/client.js';
import type { InferenceClient } from '../../src/protocol/types.js';
import { startEmbeddedServer, type EmbeddedServer } from '../../src/server/server.js';
import { fp32, makeRepository, range, rawRequest, readFp32 } from './helpers.js';
import { fromPackageRoot } from '../../src/util/package-root.js';

async function rejectsWith(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `expected a ProtocolError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.details, pattern);
    return true;
  });
}

describe('embedded server: every rpc', () => {
  const repo = makeRepository({
    ident: { spec: { dims: [4], maxBatchSize: 8 } },
    fixed: {
      spec: {
        dims: [2, 3],
        maxBatchSize: 0,
        extra: 'parameters [ { key: "intra_op_thread_count" value: { string_value: "1" } }, { key: "inter_op_thread_count" value: { string_value: "1" } } ]',
      },
    },
  });
  let server: EmbeddedServer;
  let client: InferenceClient;

  before(async () => {
    server = await startEmbeddedServer({ repository: repo.dir });
    client = createInferenceClient(server.address);
  });
  after(async () => {
    client.close();
    await server.stop();
    repo.cleanup();
  });

  test('address, liveness, readiness and server metadata', async () => {
    assert.match(server.address, /^127\.0\.0\.1:\d+$/);
    assert.ok(server.port > 0);
    assert.equal(await client.serverLive(), true);
    assert.equal(await client.serverReady(), true);
    const meta = await client.serverMetadata();
    assert.equal(meta.name, 'tanalyze-embedded');
    assert.equal(meta.version, server.version);
    for (const ext of ['model_repository', 'statistics', 'model_configuration']) assert.ok(meta.extensions.includes(ext), ext);
  });

  test('ModelReady', async () => {
    assert.equal(await client.modelReady('ident'), true);
    assert.equal(await client.modelReady('ident', '1'), true);
    assert.equal(await client.modelReady('ident', '2'), false);
    assert.equal(await client.modelReady('nope'), false);
  });

  test('ModelMetadata: batch dim -1 when max_batch_size > 0', async () => {
    const m = await client.modelMetadata('ident');
    assert.equal(m.name, 'ident');
    assert.deepEqual(m.versions, ['1']);
    assert.equal(m.platform, 'onnxruntime_onnx');
    assert.deepEqual(m.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }]);
    assert.deepEqual(m.outputs, [{ name: 'output', datatype: 'FP32', shape: [-1, 4] }]);
    const f = await client.modelMetadata('fixed');
    assert.deepEqual(f.inputs[0]!.shape, [2, 3]);
    const fixedConfig = await client.modelConfig('fixed');
    assert.equal(fixedConfig.parameters?.['intra_op_thread_count']?.string_value, '1', 'loaded with ONNX Runtime thread parameters');
  });

  test('ModelConfig returns the plain, completed ModelConfig', async () => {
    const cfg = await client.modelConfig('ident');
    assert.equal(cfg.name, 'ident');
    assert.equal(cfg.max_batch_size, 8);
    assert.equal(cfg.backend, 'onnxruntime');
    assert.deepEqual(cfg.input, [{ name: 'input', data_type: 'TYPE_FP32', dims: [4] }]);
    assert.equal(cfg.instance_group?.[0]?.count, 1);
    assert.equal(cfg.instance_group?.[0]?.kind, 'KIND_CPU');
    assert.equal(cfg.default_model_filename, 'model.onnx');
  });

  test('ModelInfer with raw_input_contents answers raw_output_contents', async () => {
    const res = await client.modelInfer({ ...rawRequest('ident', [2, 4], range(8)), id: 'req-1' });
    assert.equal(res.model_name, 'ident');
    assert.equal(res.model_version, '1');
    assert.equal(res.id, 'req-1');
    assert.deepEqual(
      res.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape })),
      [{ name: 'output', datatype: 'FP32', shape: [2, 4] }],
    );
    assert.equal(res.raw_output_contents.length, 1);
    assert.deepEqual(readFp32(res.raw_output_contents[0]!), range(8));
  });

  test('ModelInfer with typed contents', async () => {
    const res = await client.modelInfer({
      model_name: 'ident',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1.5, -2, 3, 4] } }],
      outputs: [{ name: 'output' }],
    });
    assert.deepEqual(readFp32(res.raw_output_contents[0]!), [1.5, -2, 3, 4]);
  });

  test('ModelInfer on a model without batching (max_batch_size 0)', async () => {
    const res = await client.modelInfer(rawRequest('fixed', [2, 3], range(6, 10)));
    assert.deepEqual(res.outputs[0]!.shape, [2, 3]);
    assert.deepEqual(readFp32(res.raw_output_contents[0]!), range(6, 10));
  });

  test('errors carry the right gRPC codes', async () => {
    await rejectsWith(client.modelInfer(rawRequest('nope', [1, 4], range(4))), 'NOT_FOUND', /unknown model/);
    await rejectsWith(client.modelInfer(rawRequest('ident', [1, 5], range(5))), 'INVALID_ARGUMENT', /unexpected shape/);
    await rejectsWith(client.modelInfer(rawRequest('ident', [9, 4], range(36))), 'INVALID_ARGUMENT', /batch-size must be <= 8/);
    await rejectsWith(client.modelInfer(rawRequest('ident', [2, 4], range(4))), 'INVALID_ARGUMENT', /byte size/);
    await rejectsWith(
      client.modelInfer({ model_name: 'ident', inputs: [{ name: 'input', datatype: 'INT32', shape: [1, 4] }], raw_input_contents: [fp32(range(4))] }),
      'INVALID_ARGUMENT',
      /data-type is 'INT32'.*expects 'FP32'/,
    );
    await rejectsWith(
      client.modelInfer({ model_name: 'ident', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [fp32(range(4))] }),
      'INVALID_ARGUMENT',
      /unexpected inference input 'x'/,
    );
    await rejectsWith(
      client.modelInfer({ model_name: 'ident', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3] } }] }),
      'INVALID_ARGUMENT',
      /expected 4 elements/,
    );
    await rejectsWith(
      client.modelInfer({
        model_name: 'ident',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } }],
        raw_input_contents: [fp32(range(4))],
      }),
      'INVALID_ARGUMENT',
      /contents field must not be specified/,
    );
    await rejectsWith(client.modelInfer({ ...rawRequest('ident', [1, 4], range(4)), outputs: [{ name: 'nope' }] }), 'INVALID_ARGUMENT', /output 'nope'/);
    await rejectsWith(client.modelMetadata('nope'), 'NOT_FOUND');
    await rejectsWith(client.modelConfig('nope'), 'NOT_FOUND');
    await rejectsWith(client.modelStatistics('nope'), 'NOT_FOUND');
  });

  test('load and unload are refused outside explicit mode', async () => {
    await rejectsWith(client.repositoryModelLoad('ident'), 'UNIMPLEMENTED');
    await rejectsWith(client.repositoryModelUnload('ident'), 'UNIMPLEMENTED');
  });

  test('RepositoryIndex lists the models with their state', async () => {
    const index = await client.repositoryIndex();
    assert.deepEqual(
      index.map((m) => [m.name, m.version, m.state]),
      [
        ['fixed', '1', 'READY'],
        ['ident', '1', 'READY'],
      ],
    );
  });

  test('ModelStatistics: fields add up (after the requests above)', async () => {
    const all = await client.modelStatistics();
    assert.deepEqual(all.map((s) => s.name).sort(), ['fixed', 'ident']);
    const [s] = await client.modelStatistics('ident', '1');
    assert.ok(s);
    const is = s.inference_stats;
    // Successful requests: raw [2,4] + typed [1,4]; each failed input check counts as a failure.
    assert.equal(is.success.count, 2);
    assert.equal(s.inference_count, 3);
    assert.equal(s.execution_count, s.batch_stats.reduce((n, b) => n + b.compute_infer.count, 0));
    assert.equal(s.inference_count, s.batch_stats.reduce((n, b) => n + b.batch_size * b.compute_infer.count, 0));
    for (const k of ['queue', 'compute_input', 'compute_infer', 'compute_output'] as const) assert.equal(is[k].count, is.success.count, k);
    assert.ok(is.compute_infer.ns > 0);
    assert.ok(is.queue.ns + is.compute_input.ns + is.compute_infer.ns + is.compute_output.ns <= is.success.ns, 'phases fit in the request time');
    assert.equal(is.fail.count, 8, 'the rejected ModelInfer requests of the errors test');
    assert.ok(s.last_inference > Date.now() - 60_000 && s.last_inference <= Date.now());
    assert.equal(is.cache_hit.count, 0);
  });

  test('metricsText reports the same counters as ModelStatistics', async () => {
    const [s] = await client.modelStatistics('ident');
    const text = server.metricsText();
    assert.match(text, new RegExp(`^nv_inference_request_success\\{model="ident",version="1"\\} ${s!.inference_stats.success.count}$`, 'm'));
    assert.match(text, new RegExp(`^nv_inference_count\\{model="ident",version="1"\\} ${s!.inference_count}$`, 'm'));
    assert.match(text, new RegExp(`^nv_inference_exec_count\\{model="ident",version="1"\\} ${s!.execution_count}$`, 'm'));
  });
});

test('the embedded server advertises wide HTTP/2 receive windows (16 MiB per stream and per connection, large frames)', async () => {
  const http2 = await import('node:http2');
  const server = await startEmbeddedServer({ repository: fromPackageRoot('examples', 'model_repository') });
  const session = http2.connect(`http://${server.address}`);
  try {
    const settings = await new Promise<import('node:http2').Settings>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    assert.equal(settings.initialWindowSize, 16 * 1024 * 1024);
    assert.equal(settings.maxFrameSize, 2 ** 24 - 1);
    // The connection window comes in a WINDOW_UPDATE right after the session starts.
    const deadline = Date.now() + 2000;
    while ((session.state.remoteWindowSize ?? 0) <= 65_535 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(session.state.remoteWindowSize, 16 * 1024 * 1024);
  } finally {
    session.close();
    await server.stop();
  }
});
