import { float32ToBfloat16Bits, float32ToFloat16Bits } from '../../src/util/half-float.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelMetadataResponse } from '../../src/protocol/types.js';
import {
  concreteShape,
  makeInferRequest,
  makeSender,
  randomTensorBytes,
} from '../../src/load/infer-requests.js';
import { FakeQueueingClient, VirtualTime } from '../runner/fakes.js';

const META: ModelMetadataResponse = {
  name: 'bert',
  versions: ['1'],
  platform: 'onnxruntime_onnx',
  inputs: [
    { name: 'input_ids', datatype: 'INT64', shape: [-1, -1] },
    { name: 'attention_mask', datatype: 'INT64', shape: [-1, -1] },
    { name: 'pixels', datatype: 'FP16', shape: [-1, 3, 4, 4] },
    { name: 'flag', datatype: 'BOOL', shape: [1] },
  ],
  outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }],
};

test('concreteShape: leading -1 is the batch, other -1 become 1, explicit wins', () => {
  assert.deepEqual(concreteShape([-1, 3, 224, 224], 8), [8, 3, 224, 224]);
  assert.deepEqual(concreteShape([-1, -1, 16], 4), [4, 1, 16]);
  assert.deepEqual(concreteShape([16], 4), [16]);
  assert.deepEqual(concreteShape([-1, -1], 2, [2, 128]), [2, 128]);
  assert.throws(() => concreteShape([-1], 1, [-1]), /invalid shape/);
});

test('makeInferRequest: shapes, sizes and one buffer per (datatype, shape)', () => {
  const r = makeInferRequest(META, 4, 7);
  assert.equal(r.model_name, 'bert');
  assert.deepEqual(
    r.inputs.map((i) => [i.name, i.datatype, i.shape]),
    [
      ['input_ids', 'INT64', [4, 1]],
      ['attention_mask', 'INT64', [4, 1]],
      ['pixels', 'FP16', [4, 3, 4, 4]],
      ['flag', 'BOOL', [1]],
    ],
  );
  const raw = r.raw_input_contents!;
  assert.deepEqual(raw.map((b) => b.length), [32, 32, 4 * 48 * 2, 1]);
  assert.equal(raw[0], raw[1], 'same datatype and shape share one buffer');
  for (let i = 0; i < 4; i++) {
    const v = raw[0]!.readBigInt64LE(i * 8);
    assert.ok(v >= 0n && v < 100n);
  }
  assert.ok(raw[3]![0] === 0 || raw[3]![0] === 1);
});

test('makeInferRequest: deterministic by seed, explicit shapes, version', () => {
  const a = makeInferRequest(META, 1, 3);
  const b = makeInferRequest(META, 1, 3);
  const c = makeInferRequest(META, 1, 4);
  assert.deepEqual(a.raw_input_contents, b.raw_input_contents);
  assert.notDeepEqual(a.raw_input_contents![2], c.raw_input_contents![2]);
  const d = makeInferRequest(META, 2, 1, { shapes: { input_ids: [2, 128], attention_mask: [2, 128] }, modelVersion: '1' });
  assert.deepEqual(d.inputs[0]!.shape, [2, 128]);
  assert.equal(d.raw_input_contents![0]!.length, 2 * 128 * 8);
  assert.equal(d.model_version, '1');
  assert.throws(() => makeInferRequest(META, 0), RangeError);
  assert.throws(() => makeInferRequest({ ...META, inputs: [{ name: 'x', datatype: 'COMPLEX', shape: [1] }] }), /unsupported input datatype/);
});

test('randomTensorBytes: every datatype has the right size; floats in [0, 1)', () => {
  const sizes: Record<string, number> = { BOOL: 1, UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, FP16: 2, BF16: 2, UINT32: 4, INT32: 4, FP32: 4, UINT64: 8, INT64: 8, FP64: 8 };
  for (const [dt, size] of Object.entries(sizes)) assert.equal(randomTensorBytes(dt, [2, 5], 1).length, 10 * size, dt);
  const f = randomTensorBytes('FP32', [100], 1);
  for (let i = 0; i < 100; i++) {
    const v = f.readFloatLE(i * 4);
    assert.ok(v >= 0 && v < 1);
  }
});

test('randomTensorBytes: BYTES elements are length-prefixed little-endian', () => {
  const b = randomTensorBytes('BYTES', [3], 1);
  assert.equal(b.length, 3 * 12);
  for (let i = 0; i < 3; i++) {
    assert.equal(b.readUInt32LE(i * 12), 8);
    assert.match(b.subarray(i * 12 + 4, i * 12 + 12).toString('latin1'), /^[a-z]{8}$/);
  }
});

test('half and bfloat16 encodings', () => {
  assert.equal(float32ToFloat16Bits(1), 0x3c00);
  assert.equal(float32ToFloat16Bits(0.5), 0x3800);
  assert.equal(float32ToFloat16Bits(-2), 0xc000);
  assert.equal(float32ToFloat16Bits(65504), 0x7bff);
  assert.equal(float32ToFloat16Bits(1e6), 0x7c00);
  assert.equal(float32ToFloat16Bits(0), 0);
  assert.equal(float32ToFloat16Bits(2 ** -24), 0x0001, 'smallest subnormal');
  assert.equal(float32ToFloat16Bits(2 ** -14), 0x0400, 'smallest normal');
  assert.equal(float32ToFloat16Bits(1 / 3), 0x3555);
  assert.equal(float32ToFloat16Bits(Number.NaN) & 0x7c00, 0x7c00);
  assert.equal(float32ToBfloat16Bits(1), 0x3f80);
  assert.equal(float32ToBfloat16Bits(-2), 0xc000);
  assert.equal(float32ToBfloat16Bits(1 / 3), 0x3eab);
});

test('makeSender: sends the same request object every time', async () => {
  const vt = new VirtualTime();
  const client = new FakeQueueingClient(vt.sleep, 1, 0);
  const request = makeInferRequest(META, 1, 1);
  const send = makeSender(client, request);
  await vt.run(async () => {
    await send();
    await send();
    await send();
  });
  assert.equal(client.calls, 3);
  assert.ok(client.requests.every((r) => r === request));
});
