/** Pure parts of loading and serving: config validation/completion, request checks, batch split. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../src/config/types.js';
import { batchShape, splitOutput, type ExecRequest } from '../../src/server/executor.js';
import { InvalidRequestError, buildInferResponse, prepareInferRequest } from '../../src/server/infer-request.js';
import { ModelLoadError, batchPolicy, completeConfig, instanceCount, sessionOptions } from '../../src/server/model-repository.js';
import { joinBytesElements, rawFromContents, splitBytesElements } from '../../src/server/tensors.js';

const io = {
  inputs: [{ name: 'x', type: 'float32', shape: [-1, 3, 8, 8] }],
  outputs: [{ name: 'y', type: 'float32', shape: [-1, 10] }],
};

const base: ModelConfig = {
  name: 'net',
  backend: 'onnxruntime',
  max_batch_size: 8,
  input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [3, 8, 8] }],
  output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [10] }],
};

test('completeConfig accepts a matching config and fills Triton defaults', () => {
  const cfg = completeConfig(base, io);
  assert.equal(cfg.default_model_filename, 'model.onnx');
  assert.deepEqual(cfg.instance_group, [{ name: 'net_0', kind: 'KIND_CPU', count: 2 }]);
  assert.equal(instanceCount(base), 2, 'ONNX Runtime CPU default');
  assert.equal(instanceCount({ ...base, instance_group: [{ kind: 'KIND_GPU', count: 2, gpus: [0, 1] }, { kind: 'KIND_CPU', count: 1 }] }), 5);
  assert.equal(instanceCount({ ...base, instance_group: [{ kind: 'KIND_GPU' }] }), 1);
});

test('completeConfig fills inputs and outputs from the model when the config has none', () => {
  const cfg = completeConfig({ name: 'net', max_batch_size: 4 }, io);
  assert.equal(cfg.backend, 'onnxruntime');
  assert.deepEqual(cfg.input, [{ name: 'x', data_type: 'TYPE_FP32', dims: [3, 8, 8] }]);
  assert.deepEqual(cfg.output, [{ name: 'y', data_type: 'TYPE_FP32', dims: [10] }]);
});

test('completeConfig rejects mismatches with a clear reason', () => {
  const bad = (cfg: ModelConfig, pattern: RegExp) =>
    assert.throws(() => completeConfig(cfg, io), (e: unknown) => e instanceof ModelLoadError && pattern.test(e.message));
  bad({ ...base, input: [{ name: 'z', data_type: 'TYPE_FP32', dims: [3, 8, 8] }] }, /unexpected input 'z'; the model's inputs are: x/);
  bad({ ...base, input: [{ name: 'x', data_type: 'TYPE_INT64', dims: [3, 8, 8] }] }, /TYPE_INT64 in the configuration but float32/);
  bad({ ...base, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [3, 8] }] }, /shape \[-1,3,8,8\].*\[-1,3,8\]/);
  bad({ ...base, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [3, 8, 9] }] }, /dimension 3 is 9 in the configuration but 8/);
  bad({ ...base, max_batch_size: 0, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [1, 3, 8, 8] }] }, /output 'y'/);
  bad({ ...base, output: [{ name: 'nope', data_type: 'TYPE_FP32', dims: [10] }] }, /unexpected output 'nope'/);
  bad({ ...base, backend: 'tensorrt' }, /ONNX models only/);
  bad({ ...base, platform: 'tensorrt_plan', backend: undefined }, /ONNX models only/);
  bad({ ...base, max_batch_size: 0, dynamic_batching: {} }, /needs max_batch_size > 0/);
  bad({ ...base, dynamic_batching: { preferred_batch_size: [4, 16] } }, /preferred_batch_size 16/);
});

test('completeConfig: max_batch_size > 0 needs a variable first dimension', () => {
  const fixed = { inputs: [{ name: 'x', type: 'float32', shape: [1, 3, 8, 8] }], outputs: io.outputs };
  assert.throws(() => completeConfig(base, fixed), /variable first dimension.*set max_batch_size: 0/);
});

test('batchPolicy and sessionOptions follow the config', () => {
  assert.deepEqual(batchPolicy(base), { maxBatchSize: 8 });
  assert.deepEqual(batchPolicy({ ...base, dynamic_batching: { preferred_batch_size: [4, 8], max_queue_delay_microseconds: 250 } }), {
    maxBatchSize: 8,
    dynamic: { preferredBatchSizes: [4, 8], maxQueueDelayNs: 250_000 },
  });
  assert.deepEqual(batchPolicy({ ...base, max_batch_size: 0, dynamic_batching: {} }), { maxBatchSize: 0 });
  const params = (p: Record<string, string>): ModelConfig => ({
    ...base,
    parameters: Object.fromEntries(Object.entries(p).map(([k, v]) => [k, { string_value: v }])),
  });
  const spinningStops = { extra: { session: { force_spinning_stop: '1' } } };
  assert.deepEqual(sessionOptions(base), spinningStops);
  assert.deepEqual(sessionOptions(params({ intra_op_thread_count: '1', inter_op_thread_count: '2', execution_mode: '1' })), {
    ...spinningStops,
    intraOpNumThreads: 1,
    interOpNumThreads: 2,
    executionMode: 'parallel',
  });
  assert.throws(() => sessionOptions(params({ intra_op_thread_count: 'many' })), /intra_op_thread_count must be a non-negative integer/);
});

const served = completeConfig(base, io);

test('prepareInferRequest: raw and typed inputs become the same bytes', () => {
  const values = Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => i / 7);
  const raw = Buffer.from(new Float32Array(values).buffer);
  const a = prepareInferRequest(served, { model_name: 'net', inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3, 8, 8] }], raw_input_contents: [raw] });
  const b = prepareInferRequest(served, {
    model_name: 'net',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3, 8, 8], contents: { fp32_contents: values } }],
  });
  assert.equal(a.exec.batchSize, 2);
  assert.deepEqual(Buffer.from(b.exec.inputs[0]!.data), Buffer.from(a.exec.inputs[0]!.data));
  assert.deepEqual(a.outputs, ['y']);
  assert.equal(a.shapeKey, b.shapeKey);
});

test('prepareInferRequest: a missing input and a zero batch are refused', () => {
  assert.throws(() => prepareInferRequest(served, { model_name: 'net', inputs: [] }), InvalidRequestError);
  assert.throws(
    () => prepareInferRequest(served, { model_name: 'net', inputs: [{ name: 'x', datatype: 'FP32', shape: [0, 3, 8, 8] }], raw_input_contents: [Buffer.alloc(0)] }),
    /batch-size/,
  );
});

test('prepareInferRequest: variable dims go into the shape key', () => {
  const cfg = completeConfig(
    { name: 'seq', max_batch_size: 4, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [-1] }], output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [-1] }] },
    { inputs: [{ name: 'x', type: 'float32', shape: [-1, -1] }], outputs: [{ name: 'y', type: 'float32', shape: [-1, -1] }] },
  );
  const req = (len: number) =>
    prepareInferRequest(cfg, { model_name: 'seq', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, len] }], raw_input_contents: [Buffer.alloc(4 * len)] });
  assert.notEqual(req(3).shapeKey, req(5).shapeKey);
  assert.equal(req(3).shapeKey, req(3).shapeKey);
});

test('typed contents for integer, 64-bit, bool and BYTES types', () => {
  assert.deepEqual([...new Int32Array(new Uint8Array(rawFromContents('INT32', { int_contents: [1, -2] }, 2, 'a')).buffer)], [1, -2]);
  assert.deepEqual([...new BigInt64Array(new Uint8Array(rawFromContents('INT64', { int64_contents: [5, -6] }, 2, 'a')).buffer)], [5n, -6n]);
  assert.deepEqual([...rawFromContents('BOOL', { bool_contents: [true, false] }, 2, 'a')], [1, 0]);
  assert.deepEqual([...new Uint16Array(new Uint8Array(rawFromContents('UINT16', { uint_contents: [7, 65535] }, 2, 'a')).buffer)], [7, 65535]);
  const bytes = rawFromContents('BYTES', { bytes_contents: [Buffer.from('ab'), Buffer.from('')] }, 2, 'a');
  assert.deepEqual([...bytes], [2, 0, 0, 0, 97, 98, 0, 0, 0, 0]);
  assert.deepEqual(splitBytesElements(bytes)!.map((e) => Buffer.from(e).toString()), ['ab', '']);
  assert.equal(splitBytesElements(Buffer.from([5, 0, 0, 0, 1])), null);
  assert.throws(() => rawFromContents('FP16', {}, 1, 'h'), /must be sent in raw_input_contents/);
});

test('batchShape and splitOutput: concatenate along dim 0 and split back per request', () => {
  const t = (bs: number) => ({ name: 'x', datatype: 'FP32' as const, shape: [bs, 2], data: new Uint8Array(bs * 8) });
  const requests: ExecRequest[] = [1, 3, 2].map((bs) => ({ batchSize: bs, inputs: [t(bs)] }));
  assert.deepEqual(batchShape(requests, 'x', true), [6, 2]);
  const data = new Uint8Array(new Float32Array(Array.from({ length: 12 }, (_, i) => i)).buffer);
  const parts = splitOutput('y', 'FP32', [6, 2], data, [1, 3, 2], true);
  assert.deepEqual(parts.map((p) => p.shape), [[1, 2], [3, 2], [2, 2]]);
  assert.deepEqual([...new Float32Array(parts[1]!.data.slice().buffer)], [2, 3, 4, 5, 6, 7]);
  assert.throws(() => splitOutput('y', 'FP32', [5, 2], data, [1, 3, 2], true), /expected the batch size 6/);
  const strings = joinBytesElements(['a', 'bb', 'ccc'].map((s) => Buffer.from(s)));
  const split = splitOutput('s', 'BYTES', [3], strings, [1, 2], true);
  assert.deepEqual(split.map((p) => splitBytesElements(p.data)!.map((e) => Buffer.from(e).toString())), [['a'], ['bb', 'ccc']]);
});

test('buildInferResponse answers in raw form, in the requested order', () => {
  const out = [
    { name: 'y', datatype: 'FP32' as const, shape: [1, 10], data: new Uint8Array(40) },
  ];
  const res = buildInferResponse(served, { model_name: 'net', id: 'abc' }, '1', out, ['y']);
  assert.equal(res.id, 'abc');
  assert.equal(res.model_version, '1');
  assert.deepEqual(res.outputs, [{ name: 'y', datatype: 'FP32', shape: [1, 10], parameters: {} }]);
  assert.equal(res.raw_output_contents[0]!.byteLength, 40);
});
