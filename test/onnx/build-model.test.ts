import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import {
  CONVNET_INPUT,
  CONVNET_OUTPUT,
  TINY_RESNET,
  convNetModel,
  decodeModel,
  identityModel,
  randomImages,
} from '../../src/onnx/build-model.js';
import { mulberry32 } from '../../src/util/random.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { writeExampleRepository } from '../../scripts/make-example-model.js';

const SMALL = { imageSize: 16, channels: [8, 16], blocksPerStage: 1, classes: 5, seed: 42 };

async function run(bytes: Uint8Array, name: string, data: Float32Array, dims: number[]): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ [name]: new ort.Tensor('float32', data, dims) });
    return out[session.outputNames[0]!]!;
  } finally {
    await session.release();
  }
}

test('identity model returns its input for batch 1 and 5', async () => {
  const bytes = identityModel({ dims: [16] });
  const session = await ort.InferenceSession.create(bytes);
  assert.deepEqual(session.inputNames, ['input']);
  assert.deepEqual(session.outputNames, ['output']);
  for (const b of [1, 5]) {
    const data = Float32Array.from({ length: b * 16 }, (_, i) => i * 0.5 - 3);
    const out = (await session.run({ input: new ort.Tensor('float32', data, [b, 16]) })).output!;
    assert.deepEqual(out.dims, [b, 16]);
    assert.deepEqual(Array.from(out.data as Float32Array), Array.from(data));
  }
  await session.release();
});

test('identity model honours custom names, multi-dim shapes and a symbolic batch dim', async () => {
  const bytes = identityModel({ inputName: 'IN', outputName: 'OUT', dims: [2, 3] });
  const g = decodeModel(bytes).graph as { input: { type: { tensorType: { shape: { dim: object[] } } } }[] };
  assert.deepEqual(g.input[0]!.type.tensorType.shape.dim, [{ dimParam: 'batch' }, { dimValue: 2 }, { dimValue: 3 }]);
  const data = Float32Array.from({ length: 12 }, (_, i) => i);
  const out = await run(bytes, 'IN', data, [2, 2, 3]);
  assert.deepEqual(out.dims, [2, 2, 3]);
  assert.deepEqual(Array.from(out.data as Float32Array), Array.from(data));
  assert.throws(() => identityModel({ dims: [] }), /dims/);
  assert.throws(() => identityModel({ dims: [0] }), /dims/);
});

test('convnet loads, takes batch 1 and 4, gives finite [b, classes] logits', async () => {
  const bytes = convNetModel(SMALL);
  const session = await ort.InferenceSession.create(bytes);
  assert.deepEqual(session.inputNames, [CONVNET_INPUT]);
  assert.deepEqual(session.outputNames, [CONVNET_OUTPUT]);
  for (const b of [1, 4]) {
    const x = new ort.Tensor('float32', randomImages(b, 16, 1), [b, 3, 16, 16]);
    const y = (await session.run({ input: x })).logits!;
    assert.deepEqual(y.dims, [b, 5]);
    const v = y.data as Float32Array;
    assert.ok(v.every(Number.isFinite));
    assert.ok(v.some((e) => e !== 0), 'not all zero');
  }
  await session.release();
});

test('convnet is deterministic for a seed and differs across seeds', () => {
  const a = convNetModel(SMALL);
  const b = convNetModel(SMALL);
  const c = convNetModel({ ...SMALL, seed: 43 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('convnet batch-of-4 row i equals image i run alone', async () => {
  for (const opts of [SMALL, { ...SMALL, stemStride: 2, channels: [8, 16, 24], blocksPerStage: [1, 2, 0], tieBlockWeights: true }]) {
    const bytes = convNetModel(opts);
    const session = await ort.InferenceSession.create(bytes);
    const images = randomImages(4, 16, 9);
    const per = 3 * 16 * 16;
    const batched = (await session.run({ input: new ort.Tensor('float32', images, [4, 3, 16, 16]) })).logits!.data as Float32Array;
    for (let i = 0; i < 4; i++) {
      const one = images.slice(i * per, (i + 1) * per);
      const y = (await session.run({ input: new ort.Tensor('float32', one, [1, 3, 16, 16]) })).logits!.data as Float32Array;
      for (let k = 0; k < 5; k++) assert.ok(Math.abs(y[k]! - batched[i * 5 + k]!) <= 1e-4, `row ${i} class ${k}: ${y[k]} vs ${batched[i * 5 + k]}`);
    }
    await session.release();
  }
});

test('tied block weights add depth but not initializers', () => {
  const untied = decodeModel(convNetModel({ ...SMALL, blocksPerStage: 3 })).graph as { node: unknown[]; initializer: unknown[] };
  const tied = decodeModel(convNetModel({ ...SMALL, blocksPerStage: 3, tieBlockWeights: true })).graph as { node: unknown[]; initializer: unknown[] };
  assert.equal(tied.node.length, untied.node.length);
  assert.ok(tied.initializer.length < untied.initializer.length);
});

test('convnet rejects bad options', () => {
  assert.throws(() => convNetModel({ ...SMALL, channels: [] }), /channels/);
  assert.throws(() => convNetModel({ ...SMALL, classes: 0 }), /classes/);
  assert.throws(() => convNetModel({ ...SMALL, imageSize: 2 }), /imageSize/);
  assert.throws(() => convNetModel({ ...SMALL, blocksPerStage: -1 }), /blocksPerStage/);
});

test('mulberry32 is a deterministic uniform source', () => {
  const a = mulberry32(5);
  const b = mulberry32(5);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05);
});

test('the shipped example repository is what the generator writes', () => {
  const out = mkdtempSync(join(tmpdir(), 'tanalyze-examples-'));
  try {
    writeExampleRepository(out);
    for (const f of ['tiny_resnet/config.pbtxt', 'tiny_resnet/1/model.onnx', 'identity/config.pbtxt', 'identity/1/model.onnx']) {
      const shipped = fromPackageRoot('examples', 'model_repository', f);
      assert.ok(existsSync(shipped), `${f} is shipped`);
      assert.deepEqual(readFileSync(join(out, f)), readFileSync(shipped), `${f} is up to date (rerun make-example-model)`);
    }
    assert.ok(readFileSync(join(out, 'tiny_resnet/1/model.onnx')).byteLength < 5e6);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('tiny_resnet runs with its config shapes and gives sane logits', async () => {
  const bytes = new Uint8Array(readFileSync(fromPackageRoot('examples', 'model_repository', 'tiny_resnet', '1', 'model.onnx')));
  const s = TINY_RESNET.imageSize;
  const y = await run(bytes, 'input', randomImages(2, s, 3), [2, 3, s, s]);
  assert.deepEqual(y.dims, [2, TINY_RESNET.classes]);
  const v = Array.from(y.data as Float32Array);
  assert.ok(v.every((e) => Number.isFinite(e) && Math.abs(e) < 100), `activations stay bounded: ${v}`);
  const cfg = readFileSync(fromPackageRoot('examples', 'model_repository', 'tiny_resnet', 'config.pbtxt'), 'utf8');
  assert.match(cfg, /name: "tiny_resnet"/);
  assert.match(cfg, /platform: "onnxruntime_onnx"/);
  assert.match(cfg, /max_batch_size: 8/);
  assert.match(cfg, /dims: \[ 3, 32, 32 \]/);
  assert.doesNotMatch(cfg, /dynamic_batching/);
});
