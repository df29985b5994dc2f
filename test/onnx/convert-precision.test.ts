/**
 * tanalyze's FP16/BF16 ONNX converter, checked against real ONNX Runtime on the CPU:
 * converted models load and give outputs close to the FP32 model's, inputs and outputs
 * keep the types the config declares, and models it cannot convert are refused with a reason.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { CONVNET_INPUT, CONVNET_OUTPUT, convNetModel, modelProtoType, randomImages } from '../../src/onnx/build-model.js';
import { ElemType, OnnxConversionError, convertModelPrecision, describeGraph, edgeTypesFromConfig } from '../../src/onnx/convert-precision.js';
import { float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from '../../src/util/half-float.js';
import { fromPackageRoot } from '../../src/util/package-root.js';

const SMALL = { imageSize: 16, channels: [8, 16], blocksPerStage: 1, classes: 5, seed: 42 };

async function runOnce(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.Tensor> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    const out = await s.run(feeds);
    return out[s.outputNames[0]!]!;
  } finally {
    await s.release();
  }
}

function graphOf(bytes: Uint8Array): any {
  return (modelProtoType().toObject(modelProtoType().decode(bytes), { longs: Number, defaults: false }) as any).graph;
}

/** A model the converter must keep partly in FP32: y = x + Range(0, 4, 1) (Range has no FP16 in the ONNX schema). */
function rangeModel(): Uint8Array {
  const T = modelProtoType();
  const scalar = (name: string, v: number) => ({ name, dims: [], dataType: ElemType.FLOAT, floatData: [v] });
  const obj = {
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'range',
      node: [
        { opType: 'Range', name: 'r', input: ['start', 'limit', 'delta'], output: ['seq'] },
        { opType: 'Add', name: 'add', input: ['x', 'seq'], output: ['y'] },
      ],
      initializer: [scalar('start', 0), scalar('limit', 4), scalar('delta', 1)],
      input: [{ name: 'x', type: { tensorType: { elemType: ElemType.FLOAT, shape: { dim: [{ dimValue: 4 }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: ElemType.FLOAT, shape: { dim: [{ dimValue: 4 }] } } } }],
    },
  };
  return T.encode(T.fromObject(obj)).finish();
}

describe('number formats', () => {
  it('float32 to IEEE half, rounding to nearest even, with subnormals and overflow', () => {
    assert.equal(float32ToFloat16Bits(1), 0x3c00);
    assert.equal(float32ToFloat16Bits(-2), 0xc000);
    assert.equal(float32ToFloat16Bits(0.1), 0x2e66);
    assert.equal(float32ToFloat16Bits(65504), 0x7bff, 'the largest half');
    assert.equal(float32ToFloat16Bits(65520), 0x7c00, 'rounds up to infinity');
    assert.equal(float32ToFloat16Bits(6e-8), 0x0001, 'the smallest subnormal');
    assert.equal(float32ToFloat16Bits(2e-8), 0x0000, 'below half the smallest subnormal');
    assert.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00, 'a tie rounds to the even neighbour');
    assert.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02);
    assert.ok(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN))));
    for (const v of [0.333251953125, -1025, 3.0517578125e-5, 5.960464477539063e-8]) assert.equal(float16BitsToFloat32(float32ToFloat16Bits(v)), v);
  });

  it('float32 to bfloat16', () => {
    assert.equal(float32ToBfloat16Bits(1), 0x3f80);
    assert.equal(float32ToBfloat16Bits(-2.5), 0xc020);
    assert.equal(float32ToBfloat16Bits(1 + 2 ** -8), 0x3f80, 'a tie rounds to even');
    assert.equal(float32ToBfloat16Bits(1 + 3 * 2 ** -8), 0x3f82);
    assert.equal(float32ToBfloat16Bits(NaN) & 0x7fc0, 0x7fc0, 'NaN stays NaN');
  });
});

describe('FP16 conversion against ONNX Runtime', () => {
  it('a conv net: FP16 weights, FP32 edges with Casts, outputs within 1% of the FP32 range, same top-1', async () => {
    const src = convNetModel(SMALL);
    const { bytes, report } = convertModelPrecision(src, { target: 'FP16' });
    const g = graphOf(bytes);
    assert.ok(g.initializer.every((t: any) => t.dataType === ElemType.FLOAT16), 'every weight is FP16');
    assert.equal(report.initializersConverted, g.initializer.length);
    assert.equal(g.input[0].type.tensorType.elemType, ElemType.FLOAT, 'input kept FP32');
    assert.equal(g.output[0].type.tensorType.elemType, ElemType.FLOAT, 'output kept FP32');
    assert.deepEqual([g.node[0].opType, g.node[0].input[0], g.node.at(-1).opType, g.node.at(-1).output[0]], ['Cast', CONVNET_INPUT, 'Cast', CONVNET_OUTPUT]);
    assert.equal(report.castsAdded, 2);

    const n = 6;
    const x = new ort.Tensor('float32', randomImages(n, 16, 3), [n, 3, 16, 16]);
    const ref = (await runOnce(src, { [CONVNET_INPUT]: x })).data as Float32Array;
    const low = await runOnce(bytes, { [CONVNET_INPUT]: x });
    assert.equal(low.type, 'float32');
    const range = Math.max(...ref.map(Math.abs));
    const maxErr = Math.max(...ref.map((v, i) => Math.abs(v - (low.data as Float32Array)[i]!)));
    assert.ok(maxErr <= 0.01 * range, `max |FP16 - FP32| ${maxErr} within 1% of ${range}`);
    assert.ok(maxErr > 0, 'the weights really changed');
    for (let i = 0; i < n; i++) {
      const row = (a: ArrayLike<number>) => Array.from({ length: 5 }, (_, j) => a[i * 5 + j]!);
      const argmax = (r: number[]) => r.indexOf(Math.max(...r));
      assert.equal(argmax(row(low.data as Float32Array)), argmax(row(ref)));
    }
  });

  it('the shipped tiny_resnet: within 1% of the FP32 logit range, same top-1 on 32 images', async () => {
    const src = readFileSync(fromPackageRoot('examples', 'model_repository', 'tiny_resnet', '1', 'model.onnx'));
    const { bytes } = convertModelPrecision(src, { target: 'FP16' });
    assert.ok(bytes.length < src.length * 0.55, 'weights take half the bytes');
    const n = 32;
    const x = new ort.Tensor('float32', randomImages(n, 32, 11), [n, 3, 32, 32]);
    const ref = (await runOnce(src, { input: x })).data as Float32Array;
    const low = (await runOnce(bytes, { input: x })).data as Float32Array;
    const range = Math.max(...ref.map(Math.abs));
    const maxErr = Math.max(...ref.map((v, i) => Math.abs(v - low[i]!)));
    assert.ok(maxErr <= 0.01 * range, `max |FP16 - FP32| ${maxErr} within 1% of ${range}`);
    for (let i = 0; i < n; i++) {
      const a = Array.from(ref.subarray(i * 10, i * 10 + 10));
      const b = Array.from(low.subarray(i * 10, i * 10 + 10));
      assert.equal(b.indexOf(Math.max(...b)), a.indexOf(Math.max(...a)), `image ${i}`);
    }
  });

  it('an input the config declares TYPE_FP16 becomes FP16 itself (no Cast); outputs stay FP32', async () => {
    const src = convNetModel(SMALL);
    const edgeTypes = edgeTypesFromConfig([
      { name: CONVNET_INPUT, data_type: 'TYPE_FP16' },
      { name: CONVNET_OUTPUT, data_type: 'TYPE_FP32' },
    ]);
    assert.deepEqual(edgeTypes, { [CONVNET_INPUT]: 'FP16', [CONVNET_OUTPUT]: 'FP32' });
    const { bytes, report } = convertModelPrecision(src, { target: 'FP16', edgeTypes });
    const g = graphOf(bytes);
    assert.equal(g.input[0].type.tensorType.elemType, ElemType.FLOAT16);
    assert.equal(g.node[0].opType, 'Conv', 'no input Cast');
    assert.deepEqual(report.edgesConverted, [CONVNET_INPUT]);
    const images = randomImages(2, 16, 5);
    const halves = Uint16Array.from(images, (v) => float32ToFloat16Bits(v));
    const out = await runOnce(bytes, { [CONVNET_INPUT]: new ort.Tensor('float16', halves, [2, 3, 16, 16]) });
    assert.equal(out.type, 'float32');
    const ref = (await runOnce(src, { [CONVNET_INPUT]: new ort.Tensor('float32', images, [2, 3, 16, 16]) })).data as Float32Array;
    const range = Math.max(...ref.map(Math.abs));
    assert.ok(ref.every((v, i) => Math.abs(v - (out.data as Float32Array)[i]!) <= 0.01 * range));
  });

  it('ops without FP16 in the schema stay FP32 between Casts (Range), and the result is exact', async () => {
    const src = rangeModel();
    const { bytes, report } = convertModelPrecision(src, { target: 'FP16' });
    assert.deepEqual(report.keptFp32, ['r (Range)']);
    const ops = describeGraph(bytes).ops;
    assert.equal(ops['Cast'], 6, 'in, 3 Range inputs back to FP32, Range output to FP16, out');
    const y = await runOnce(bytes, { x: new ort.Tensor('float32', Float32Array.from([10, 20, 30, 40]), [4]) });
    assert.deepEqual(Array.from(y.data as Float32Array), [10, 21, 32, 43]);
  });

  it('ops whose first input is not their value type (Where) are typed by their values: an untyped output still gets its FP32 edge', async () => {
    const T = modelProtoType();
    const f = (name: string) => ({ name, type: { tensorType: { elemType: ElemType.FLOAT, shape: { dim: [{ dimValue: 3 }] } } } });
    const src = T.encode(
      T.fromObject({
        irVersion: 7,
        opsetImport: [{ domain: '', version: 13 }],
        graph: {
          node: [
            { opType: 'Greater', input: ['x', 'zero'], output: ['pos'] },
            { opType: 'Where', input: ['pos', 'x', 'fill'], output: ['y'] },
          ],
          initializer: [
            { name: 'zero', dims: [], dataType: ElemType.FLOAT, floatData: [0] },
            { name: 'fill', dims: [], dataType: ElemType.FLOAT, floatData: [-0.5] },
          ],
          input: [f('x')],
          output: [{ name: 'y' }],
        },
      }),
    ).finish();
    const { bytes } = convertModelPrecision(src, { target: 'FP16' });
    const y = await runOnce(bytes, { x: new ort.Tensor('float32', Float32Array.from([2, -1, 0.25]), [3]) });
    assert.equal(y.type, 'float32', 'the output edge got its Cast back to FP32');
    assert.deepEqual(Array.from(y.data as Float32Array), [2, -0.5, 0.25]);
  });

  it('weights beyond the FP16 range are clamped and counted', () => {
    const T = modelProtoType();
    const big = T.encode(
      T.fromObject({
        irVersion: 7,
        opsetImport: [{ domain: '', version: 13 }],
        graph: {
          node: [{ opType: 'Mul', input: ['x', 'w'], output: ['y'] }],
          initializer: [{ name: 'w', dims: [2], dataType: ElemType.FLOAT, floatData: [1e6, -3] }],
          input: [{ name: 'x', type: { tensorType: { elemType: ElemType.FLOAT, shape: { dim: [{ dimValue: 2 }] } } } }],
          output: [{ name: 'y', type: { tensorType: { elemType: ElemType.FLOAT, shape: { dim: [{ dimValue: 2 }] } } } }],
        },
      }),
    ).finish();
    const { bytes, report } = convertModelPrecision(big, { target: 'FP16' });
    assert.equal(report.valuesClamped, 1);
    const raw = graphOf(bytes).initializer[0].rawData as Uint8Array;
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    assert.deepEqual([float16BitsToFloat32(dv.getUint16(0, true)), float16BitsToFloat32(dv.getUint16(2, true))], [65504, -3]);
  });

  it('BF16: weights in bfloat16, edges FP32', () => {
    const { bytes, report } = convertModelPrecision(convNetModel(SMALL), { target: 'BF16' });
    const g = graphOf(bytes);
    assert.ok(g.initializer.every((t: any) => t.dataType === ElemType.BFLOAT16));
    assert.equal(g.node[0].attribute[0].i, ElemType.BFLOAT16);
    assert.equal(g.node.at(-1).attribute[0].i, ElemType.FLOAT);
    assert.equal(report.target, 'BF16');
    assert.match(report.warnings[0]!, /bfloat16 for Conv, GlobalAveragePool only from opset 22 and the model has opset 13/);
  });
});

describe('models the converter refuses, with the reason', () => {
  it('fields outside the protobuf subset (they would be dropped)', () => {
    // ModelProto field 25 (functions), empty: unknown to tanalyze's onnx.proto.
    const src = convNetModel(SMALL);
    const withFunctions = new Uint8Array([...src, 0xca, 0x01, 0x00]);
    assert.throws(() => convertModelPrecision(withFunctions, { target: 'FP16' }), (e: unknown) => e instanceof OnnxConversionError && /outside tanalyze's protobuf subset/.test(e.message) && /model\.fp16\.onnx/.test(e.message));
  });

  it('external data, custom domains, subgraphs, old opsets', () => {
    const T = modelProtoType();
    const model = (graph: object, opset = 13) =>
      T.encode(T.fromObject({ irVersion: 7, opsetImport: [{ domain: '', version: opset }], graph: { input: [], output: [], ...graph } })).finish();
    const ext = model({ initializer: [{ name: 'w', dims: [1], dataType: ElemType.FLOAT, dataLocation: 1, externalData: [{ key: 'location', value: 'w.bin' }] }] });
    assert.throws(() => convertModelPrecision(ext, { target: 'FP16' }), /initializer 'w' keeps its data outside the model file/);
    const custom = model({ node: [{ opType: 'FusedConv', domain: 'com.microsoft', name: 'fc', input: ['x'], output: ['y'] }] });
    assert.throws(() => convertModelPrecision(custom, { target: 'FP16' }), /node 'fc' is op 'FusedConv' of domain 'com\.microsoft'/);
    const sub = model({ node: [{ opType: 'If', name: 'if0', input: ['c'], output: ['y'], attribute: [{ name: 'then_branch', type: 5, g: { name: 't' } }] }] });
    assert.throws(() => convertModelPrecision(sub, { target: 'FP16' }), /node 'if0' \(If\) holds a subgraph/);
    assert.throws(() => convertModelPrecision(model({}, 11), { target: 'BF16' }), /BF16 needs ONNX opset 13 or later/);
    assert.throws(() => convertModelPrecision(new Uint8Array([0xff, 0xff, 0xff]), { target: 'FP16' }), /not an ONNX model/);
  });
});
