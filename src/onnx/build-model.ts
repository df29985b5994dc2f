// Builds small ONNX models as bytes, from TypeScript (no Python onnx package here).
// Uses the project's own subset of onnx.proto; output is deterministic given the options.

import protobuf from 'protobufjs';
import { fromPackageRoot } from '../util/package-root.js';
import { mulberry32 } from '../util/random.js';

/** ONNX IR version and default-domain opset written into every model. ORT >= 1.8 and
 * Triton's onnxruntime backend load these. */
export const IR_VERSION = 7;
export const OPSET_VERSION = 13;
const PRODUCER = 'tanalyze';

/** TensorProto.DataType values used here. */
export const OnnxDataType = { FLOAT: 1, INT64: 7 } as const;

let cachedRoot: protobuf.Root | undefined;

/** The parsed onnx.proto subset (cached). */
export function onnxRoot(): protobuf.Root {
  if (!cachedRoot) cachedRoot = protobuf.loadSync(fromPackageRoot('src', 'onnx', 'onnx.proto'));
  return cachedRoot;
}

export function modelProtoType(): protobuf.Type {
  return onnxRoot().lookupType('onnx.ModelProto');
}

/** Decode model bytes (for tests and inspection); plain object with camelCase keys. */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const t = modelProtoType();
  return t.toObject(t.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}

// ---------- deterministic PRNG ----------

/** Standard normal sampler (Box–Muller) over a uniform source. */
export function gaussian(uniform: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

// ---------- proto helpers (plain objects; protobufjs fromObject does the rest) ----------

type Dim = number | string;

interface AttrObj {
  name: string;
  type: number;
  i?: number;
  f?: number;
  ints?: number[];
}

const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

function attrInt(name: string, i: number): AttrObj {
  return { name, type: ATTR_INT, i };
}
function attrFloat(name: string, f: number): AttrObj {
  return { name, type: ATTR_FLOAT, f };
}
function attrInts(name: string, ints: number[]): AttrObj {
  return { name, type: ATTR_INTS, ints };
}

function node(opType: string, name: string, input: string[], output: string[], attribute: AttrObj[] = []) {
  return { opType, name, input, output, attribute };
}

function valueInfo(name: string, elemType: number, dims: Dim[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** FP32 initializer stored as little-endian raw_data (compact, exact). */
function floatTensor(name: string, dims: number[], values: Float32Array) {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== values.length) throw new Error(`tensor ${name}: ${values.length} values for dims [${dims}]`);
  const raw = new Uint8Array(values.length * 4);
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) dv.setFloat32(i * 4, values[i]!, true);
  return { name, dims, dataType: OnnxDataType.FLOAT, rawData: raw };
}

function encodeModel(graph: Record<string, unknown>, docString: string): Uint8Array {
  const t = modelProtoType();
  const obj = {
    irVersion: IR_VERSION,
    producerName: PRODUCER,
    producerVersion: '0.1.0',
    docString,
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
    graph,
  };
  const err = t.verify(obj);
  if (err) throw new Error(`onnx: invalid ModelProto: ${err}`);
  return t.encode(t.fromObject(obj)).finish();
}

function checkDims(dims: number[], what: string): void {
  if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d <= 0))
    throw new Error(`${what}: dims must be positive integers, got [${dims}]`);
}

// ---------- identity ----------

export interface IdentityModelOptions {
  inputName?: string;
  outputName?: string;
  /** Shape without the batch dimension. */
  dims: number[];
  dataType?: 'FP32';
}

/** output = Identity(input), shape ['batch', ...dims]. */
export function identityModel(opts: IdentityModelOptions): Uint8Array {
  const inputName = opts.inputName ?? 'input';
  const outputName = opts.outputName ?? 'output';
  if ((opts.dataType ?? 'FP32') !== 'FP32') throw new Error(`identityModel: unsupported dataType ${opts.dataType}`);
  checkDims(opts.dims, 'identityModel');
  const shape: Dim[] = ['batch', ...opts.dims];
  return encodeModel(
    {
      name: 'identity',
      node: [node('Identity', 'identity', [inputName], [outputName])],
      input: [valueInfo(inputName, OnnxDataType.FLOAT, shape)],
      output: [valueInfo(outputName, OnnxDataType.FLOAT, shape)],
    },
    'Identity model generated by tanalyze',
  );
}

// ---------- small ResNet-style conv net ----------

export interface ConvNetModelOptions {
  /** Input height = width. */
  imageSize: number;
  /** Channels per stage; stage 0 runs at the stem's resolution, each later stage halves it. */
  channels: number[];
  /** Residual blocks per stage (default 1); one number for all stages or one per stage. */
  blocksPerStage?: number | number[];
  classes: number;
  seed: number;
  /** Stride of the stem conv (default 1). */
  stemStride?: number;
  /** Blocks of a stage reuse one set of conv weights (default false): depth without file size. */
  tieBlockWeights?: boolean;
}

export const CONVNET_INPUT = 'input';
export const CONVNET_OUTPUT = 'logits';

/**
 * Input `input` FP32 [batch, 3, imageSize, imageSize] -> output `logits` FP32 [batch, classes].
 * Conv3x3+Relu stem (stride stemStride); per stage: [stride-2 Conv3x3+Relu transition, except
 * stage 0] then blocks x (Conv3x3-Relu-Conv3x3 + skip Add, Relu); GlobalAveragePool, Flatten, Gemm.
 * Weights are He-normal (std = sqrt(2/fan_in)) from mulberry32(seed); each block's second conv
 * is scaled by 1/sqrt(2 * total blocks) so the residual sum stays O(1) over depth.
 */
export function convNetModel(opts: ConvNetModelOptions): Uint8Array {
  const { imageSize, channels, classes, seed } = opts;
  const bps = opts.blocksPerStage ?? 1;
  const blocksOf = (s: number): number => (Array.isArray(bps) ? bps[s] ?? 0 : bps);
  const totalBlocks = channels.reduce((a, _c, s) => a + blocksOf(s), 0);
  const stemStride = opts.stemStride ?? 1;
  if (!Number.isInteger(imageSize) || imageSize < 4) throw new Error('convNetModel: imageSize must be an integer >= 4');
  if (!Number.isInteger(stemStride) || stemStride < 1) throw new Error('convNetModel: stemStride must be an integer >= 1');
  if (channels.length === 0 || channels.some((c) => !Number.isInteger(c) || c <= 0))
    throw new Error('convNetModel: channels must be positive integers');
  if (!Number.isInteger(classes) || classes <= 0) throw new Error('convNetModel: classes must be a positive integer');
  if (channels.some((_c, s) => !Number.isInteger(blocksOf(s)) || blocksOf(s) < 0))
    throw new Error('convNetModel: blocksPerStage must be integers >= 0');

  const randn = gaussian(mulberry32(seed));
  const nodes: ReturnType<typeof node>[] = [];
  const inits: ReturnType<typeof floatTensor>[] = [];
  const residualScale = 1 / Math.sqrt(2 * Math.max(1, totalBlocks));

  // `params` names the weights to use; when they already exist (tied blocks) they are reused.
  const conv = (name: string, x: string, cin: number, cout: number, stride: number, scale = 1, params = name): string => {
    if (!inits.some((t) => t.name === `${params}.weight`)) {
      const w = new Float32Array(cout * cin * 9);
      const std = Math.sqrt(2 / (cin * 9)) * scale;
      for (let i = 0; i < w.length; i++) w[i] = randn() * std;
      const b = new Float32Array(cout);
      for (let i = 0; i < b.length; i++) b[i] = randn() * 0.01;
      inits.push(floatTensor(`${params}.weight`, [cout, cin, 3, 3], w), floatTensor(`${params}.bias`, [cout], b));
    }
    nodes.push(
      node('Conv', name, [x, `${params}.weight`, `${params}.bias`], [name], [
        attrInts('kernel_shape', [3, 3]),
        attrInts('pads', [1, 1, 1, 1]),
        attrInts('strides', [stride, stride]),
      ]),
    );
    return name;
  };
  const relu = (x: string, name = `${x}.relu`): string => {
    nodes.push(node('Relu', name, [x], [name]));
    return name;
  };

  let x = relu(conv('stem', CONVNET_INPUT, 3, channels[0]!, stemStride));
  let c = channels[0]!;
  channels.forEach((cout, s) => {
    if (s > 0) {
      x = relu(conv(`stage${s}.down`, x, c, cout, 2));
      c = cout;
    }
    for (let b = 0; b < blocksOf(s); b++) {
      const p = `stage${s}.block${b}`;
      const w = opts.tieBlockWeights ? `stage${s}.block` : p;
      const h = relu(conv(`${p}.conv1`, x, c, c, 1, 1, `${w}.conv1`));
      const h2 = conv(`${p}.conv2`, h, c, c, 1, residualScale, `${w}.conv2`);
      nodes.push(node('Add', `${p}.add`, [x, h2], [`${p}.add`]));
      x = relu(`${p}.add`, `${p}.out`);
    }
  });

  nodes.push(node('GlobalAveragePool', 'pool', [x], ['pool']));
  nodes.push(node('Flatten', 'flatten', ['pool'], ['flatten'], [attrInt('axis', 1)]));
  const fcW = new Float32Array(classes * c);
  const fcStd = 1 / Math.sqrt(c);
  for (let i = 0; i < fcW.length; i++) fcW[i] = randn() * fcStd;
  const fcB = new Float32Array(classes);
  inits.push(floatTensor('fc.weight', [classes, c], fcW), floatTensor('fc.bias', [classes], fcB));
  nodes.push(
    node('Gemm', 'fc', ['flatten', 'fc.weight', 'fc.bias'], [CONVNET_OUTPUT], [
      attrFloat('alpha', 1),
      attrFloat('beta', 1),
      attrInt('transB', 1),
    ]),
  );

  return encodeModel(
    {
      name: 'convnet',
      node: nodes,
      initializer: inits,
      input: [valueInfo(CONVNET_INPUT, OnnxDataType.FLOAT, ['batch', 3, imageSize, imageSize])],
      output: [valueInfo(CONVNET_OUTPUT, OnnxDataType.FLOAT, ['batch', classes])],
    },
    `ResNet-style conv net generated by tanalyze: ${JSON.stringify({ ...opts, blocksPerStage: bps, stemStride, tieBlockWeights: !!opts.tieBlockWeights })}`,
  );
}

/** Deterministic pseudo-image batch in [0, 1) for tests and benches: [n, 3, size, size]. */
export function randomImages(n: number, size: number, seed: number): Float32Array {
  const u = mulberry32(seed);
  const out = new Float32Array(n * 3 * size * size);
  for (let i = 0; i < out.length; i++) out[i] = u();
  return out;
}

/**
 * The shipped example model (examples/model_repository/tiny_resnet). Sized so batching pays on
 * a 2-core CPU: stages at 16x16, 8x8 and 4x4 keep each Conv small, so at batch 1 ORT's two
 * intra-op threads spend much of each op synchronising, while a batch gives them real work.
 * Blocks within a stage share weights, which buys depth (batch-1 latency) without file size.
 */
export const TINY_RESNET: Readonly<ConvNetModelOptions> = Object.freeze({
  imageSize: 32,
  stemStride: 2,
  channels: [40, 80, 160],
  blocksPerStage: [3, 6, 12],
  tieBlockWeights: true,
  classes: 10,
  seed: 20240601,
});
