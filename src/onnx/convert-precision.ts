/**
 * tanalyze's own FP16/BF16 converter for ONNX models, over the project's ONNX protobuf
 * subset (onnx.proto). TensorRT 11 builds every network strongly typed: precision comes
 * from the graph's types, not from builder flags, so an FP16 engine needs an FP16 graph.
 * The same converter writes the embedded server's model.fp16.onnx.
 *
 * What it does:
 * - FP32 weights (initializers, Constant nodes, ConstantOfShape values) become FP16/BF16
 *   (round to nearest even; values beyond FP16's range are clamped to +-65504 and counted);
 *   Cast(to=FLOAT) inside the graph becomes Cast(to=<target>), so activations follow.
 * - Inputs and outputs keep the type the caller asks for (by default FP32, as the model's
 *   config.pbtxt declares it): a Cast node at each such edge converts into and out of the
 *   low precision, so clients and Triton see the same tensors as before.
 * - A few ops whose float inputs may not be FP16 by the ONNX schema (Range, Resize's and
 *   Upsample's scales, random generators) stay in FP32 between Cast nodes.
 *
 * It refuses, with a reason, what it cannot convert faithfully: weights stored outside the
 * file, subgraphs (If/Loop/Scan), ops outside the default ONNX domain, and fields its
 * protobuf subset does not know (detected by re-encoding: the size would change).
 *
 * Why our own and not ModelOpt AutoCast: it runs here in Node (no Python, no container),
 * for the embedded server as well as TensorRT, and its output is checked against ONNX
 * Runtime in test/onnx/convert-precision.test.ts and bench/fp16-accuracy.ts.
 */
import type protobuf from 'protobufjs';
import { modelProtoType } from './build-model.js';
import { float32ToBfloat16Bits, float32ToFloat16Bits } from '../util/half-float.js';

export type LowPrecision = 'FP16' | 'BF16';

/** TensorProto.DataType values the converter deals with. */
export const ElemType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11, BFLOAT16: 16 } as const;

const ATTR_TENSOR = 4;
const ATTR_GRAPH = 5;
const ATTR_GRAPHS = 10;
const ATTR_INT = 2;

/** Bumped whenever the converter's output changes, so cached conversions are redone. */
export const CONVERTER_VERSION = 'tanalyze-onnx-precision 1';

/** The model cannot be converted faithfully: the message says why and what to do instead. */
export class OnnxConversionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxConversionError';
  }
}

export interface ConvertOptions {
  target: LowPrecision;
  /**
   * Per graph input/output name: the element type it must keep at the model's edge
   * ('FP32' keeps FLOAT with a Cast inside; 'FP16'/'BF16' changes the edge itself).
   * Names not listed keep FP32.
   */
  edgeTypes?: Record<string, 'FP32' | LowPrecision>;
}

export interface ConversionReport {
  target: LowPrecision;
  initializersConverted: number;
  constantsConverted: number;
  /** Weight values beyond the target's range, clamped. */
  valuesClamped: number;
  /** Cast nodes added at the model's edges and around FP32-only ops. */
  castsAdded: number;
  /** Nodes left in FP32 ("name (OpType)"). */
  keptFp32: string[];
  /** Graph inputs/outputs whose own type changed. */
  edgesConverted: string[];
  /** What the result may not be valid for (said in the build log). */
  warnings: string[];
}

/** Ops whose ONNX schema gained bfloat16 only in opset 22 (onnx/onnx#6099), among those common in vision models. */
const BF16_FROM_OPSET_22 = new Set(['Conv', 'ConvTranspose', 'AveragePool', 'MaxPool', 'GlobalAveragePool', 'GlobalMaxPool', 'InstanceNormalization', 'LeakyRelu', 'PRelu', 'HardSigmoid', 'HardSwish', 'Resize', 'RoiAlign', 'Round', 'Softplus', 'Softsign', 'Selu', 'Celu']);

// ------------------------------------------------------------ number formats: src/util/half-float.ts


export const FLOAT16_MAX = 65504;
const BFLOAT16_MAX = 3.3895313892515355e38;

/** Converts float32 values to the target's 16-bit little-endian bytes, clamping what is out of range. */
export function encodeLowPrecision(values: ArrayLike<number>, target: LowPrecision): { bytes: Uint8Array; clamped: number } {
  const out = new Uint8Array(values.length * 2);
  const dv = new DataView(out.buffer);
  const max = target === 'FP16' ? FLOAT16_MAX : BFLOAT16_MAX;
  let clamped = 0;
  for (let i = 0; i < values.length; i++) {
    let v = values[i]!;
    if (Number.isFinite(v) && Math.abs(v) > max) {
      v = Math.sign(v) * max;
      clamped++;
    }
    dv.setUint16(i * 2, target === 'FP16' ? float32ToFloat16Bits(v) : float32ToBfloat16Bits(v), true);
  }
  return { bytes: out, clamped };
}

// ------------------------------------------------------------ graph rules (pure)

/**
 * Ops kept in FP32, with the input positions whose (float) values are cast back to FP32:
 * their schema does not allow FP16 there (Range's T, Resize's roi/scales, Upsample's scales),
 * or they generate numbers from a dtype attribute.
 */
const FP32_ONLY: Record<string, number[]> = {
  Range: [0, 1, 2],
  Resize: [1, 2],
  Upsample: [1],
  RandomNormal: [],
  RandomUniform: [],
  RandomNormalLike: [],
  RandomUniformLike: [],
};

/** Ops whose output element type is fixed whatever their inputs (for the type walk). */
const FIXED_OUTPUT: Record<string, number> = {
  Shape: ElemType.INT64,
  Size: ElemType.INT64,
  NonZero: ElemType.INT64,
  ArgMax: ElemType.INT64,
  ArgMin: ElemType.INT64,
  Equal: ElemType.BOOL,
  Less: ElemType.BOOL,
  LessOrEqual: ElemType.BOOL,
  Greater: ElemType.BOOL,
  GreaterOrEqual: ElemType.BOOL,
  Not: ElemType.BOOL,
  And: ElemType.BOOL,
  Or: ElemType.BOOL,
  Xor: ElemType.BOOL,
  IsNaN: ElemType.BOOL,
  IsInf: ElemType.BOOL,
  // Their dtype attribute defaults to FLOAT; they stay FP32 and are cast after (FP32_ONLY).
  RandomNormal: ElemType.FLOAT,
  RandomUniform: ElemType.FLOAT,
};

const targetElem = (t: LowPrecision): number => (t === 'FP16' ? ElemType.FLOAT16 : ElemType.BFLOAT16);
const isFloat32 = (t: number | undefined): boolean => t === ElemType.FLOAT;

// ------------------------------------------------------------ the conversion

type Msg = Record<string, any>;

const num = (v: unknown): number => (typeof v === 'number' ? v : v && typeof (v as { toNumber?: unknown }).toNumber === 'function' ? (v as { toNumber(): number }).toNumber() : Number(v));

function floatValues(t: Msg): Float32Array {
  const raw = t['rawData'] as Uint8Array | undefined;
  if (raw && raw.length) {
    const copy = new Uint8Array(raw); // aligned
    const dv = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
    const out = new Float32Array(copy.byteLength / 4);
    for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
    return out;
  }
  return Float32Array.from((t['floatData'] as number[] | undefined) ?? []);
}

/** Turns a FLOAT TensorProto into the target type in place; returns how many values were clamped. */
function convertTensor(t: Msg, target: LowPrecision): number {
  const { bytes, clamped } = encodeLowPrecision(floatValues(t), target);
  t['dataType'] = targetElem(target);
  t['rawData'] = bytes;
  t['floatData'] = [];
  return clamped;
}

function attr(node: Msg, name: string): Msg | undefined {
  return ((node['attribute'] as Msg[] | undefined) ?? []).find((a) => a['name'] === name);
}

/** ValueInfoProto's element type, or undefined for non-tensor values. */
function elemTypeOf(vi: Msg): number | undefined {
  const t = vi['type']?.['tensorType'];
  return t ? num(t['elemType']) : undefined;
}

/**
 * Converts an FP32 ONNX model to FP16 or BF16 (see the file comment). Returns the new
 * model bytes and what was done; throws OnnxConversionError for models it cannot convert.
 */
export function convertModelPrecision(bytes: Uint8Array, opts: ConvertOptions): { bytes: Uint8Array; report: ConversionReport } {
  const T = modelProtoType();
  let model: protobuf.Message & Msg;
  try {
    model = T.decode(bytes) as protobuf.Message & Msg;
  } catch (e) {
    throw new OnnxConversionError(`not an ONNX model: ${(e as Error).message}`);
  }
  if (T.encode(model).finish().length !== bytes.length) {
    throw new OnnxConversionError(
      "the model uses ONNX fields outside tanalyze's protobuf subset (functions, sparse initializers, training info, ...), which a conversion would drop; convert it with ModelOpt AutoCast and put the result beside the model as model.fp16.onnx",
    );
  }
  const target = opts.target;
  const low = targetElem(target);
  const opset = ((model['opsetImport'] as Msg[] | undefined) ?? []).find((o) => !o['domain'])?.['version'];
  const opsetVersion = opset === undefined ? 1 : num(opset);
  if (target === 'BF16' && opsetVersion < 13) throw new OnnxConversionError(`BF16 needs ONNX opset 13 or later (Cast to bfloat16); the model has opset ${opsetVersion}`);
  if (opsetVersion < 6) throw new OnnxConversionError(`the model's ONNX opset ${opsetVersion} is older than 6 (Cast with a 'to' attribute)`);

  const graph = model['graph'] as Msg;
  const nodes = (graph['node'] as Msg[] | undefined) ?? [];
  const initializers = (graph['initializer'] as Msg[] | undefined) ?? [];
  const initNames = new Set(initializers.map((t) => t['name'] as string));
  const report: ConversionReport = { target, initializersConverted: 0, constantsConverted: 0, valuesClamped: 0, castsAdded: 0, keptFp32: [], edgesConverted: [], warnings: [] };

  for (const n of nodes) {
    if (n['domain'] && n['domain'] !== 'ai.onnx') throw new OnnxConversionError(`node '${n['name'] || n['opType']}' is op '${n['opType']}' of domain '${n['domain']}': the converter only knows the default ONNX domain's type rules`);
    for (const a of (n['attribute'] as Msg[] | undefined) ?? []) {
      const at = num(a['type']);
      if (at === ATTR_GRAPH || at === ATTR_GRAPHS) throw new OnnxConversionError(`node '${n['name'] || n['opType']}' (${n['opType']}) holds a subgraph: the converter does not convert subgraphs`);
    }
  }
  for (const t of initializers) {
    if (num(t['dataLocation'] ?? 0) === 1 || ((t['externalData'] as unknown[] | undefined) ?? []).length) {
      throw new OnnxConversionError(`initializer '${t['name']}' keeps its data outside the model file (external data), which the converter does not read`);
    }
  }

  if (target === 'BF16' && opsetVersion < 22) {
    const early = [...new Set(nodes.map((n) => n['opType'] as string).filter((op) => BF16_FROM_OPSET_22.has(op)))];
    if (early.length) report.warnings.push(`the ONNX schema allows bfloat16 for ${early.join(', ')} only from opset 22 and the model has opset ${opsetVersion}: ONNX Runtime refuses the result; TensorRT reads the types per layer`);
  }

  // Element types as the graph stands (before conversion), walked in node order.
  const types = new Map<string, number>();
  for (const vi of (graph['input'] as Msg[] | undefined) ?? []) {
    const et = elemTypeOf(vi);
    if (et !== undefined) types.set(vi['name'], et);
  }
  for (const t of initializers) types.set(t['name'], num(t['dataType']));
  for (const n of nodes) {
    const op = n['opType'] as string;
    let out: number | undefined;
    if (op === 'Cast') out = num(attr(n, 'to')?.['i']);
    else if (op === 'Constant') {
      const v = attr(n, 'value');
      out = v ? num(v['t']?.['dataType']) : attr(n, 'value_float') || attr(n, 'value_floats') ? ElemType.FLOAT : ElemType.INT64;
    } else if (op === 'ConstantOfShape') out = attr(n, 'value') ? num(attr(n, 'value')!['t']?.['dataType']) : ElemType.FLOAT;
    else if (FIXED_OUTPUT[op] !== undefined) out = FIXED_OUTPUT[op];
    else if (op === 'Where' || op === 'OneHot') out = types.get(n['input']?.[op === 'Where' ? 1 : 2]); // the values, not the condition/indices
    else {
      const first = ((n['input'] as string[]) ?? []).find((x) => x && types.has(x));
      out = first === undefined ? undefined : types.get(first);
    }
    for (const o of (n['output'] as string[]) ?? []) if (o && out !== undefined) types.set(o, out);
    // TopK/ArgMax-like second outputs are indices.
    if ((op === 'TopK' || op === 'MaxPool') && n['output']?.[1]) types.set(n['output'][1], ElemType.INT64);
  }

  const edgeType = (name: string): 'FP32' | LowPrecision => opts.edgeTypes?.[name] ?? 'FP32';
  const rename = new Map<string, string>();
  const fresh = (base: string): string => {
    let name = `${base}.${target.toLowerCase()}`;
    let i = 1;
    while (types.has(name) || initNames.has(name)) name = `${base}.${target.toLowerCase()}.${i++}`;
    types.set(name, low);
    return name;
  };
  const castNode = (from: string, to: string, elem: number, why: string) => {
    report.castsAdded++;
    return { opType: 'Cast', name: `${why}:${to}`, input: [from], output: [to], attribute: [{ name: 'to', type: ATTR_INT, i: elem }] };
  };

  const head: Msg[] = [];
  for (const vi of (graph['input'] as Msg[] | undefined) ?? []) {
    const name = vi['name'] as string;
    if (initNames.has(name) || !isFloat32(elemTypeOf(vi))) continue;
    if (edgeType(name) === 'FP32') {
      const inner = fresh(name);
      rename.set(name, inner);
      head.push(castNode(name, inner, low, 'tanalyze.cast_in'));
    } else {
      vi['type']['tensorType']['elemType'] = low;
      report.edgesConverted.push(name);
    }
  }

  for (const t of initializers) {
    if (!isFloat32(num(t['dataType']))) continue;
    report.valuesClamped += convertTensor(t, target);
    report.initializersConverted++;
  }

  const body: Msg[] = [];
  let fp32Casts = 0;
  for (const n of nodes) {
    const op = n['opType'] as string;
    n['input'] = ((n['input'] as string[]) ?? []).map((x) => rename.get(x) ?? x);
    if (op === 'Constant') {
      const v = attr(n, 'value');
      if (v && isFloat32(num(v['t']?.['dataType']))) {
        report.valuesClamped += convertTensor(v['t'], target);
        report.constantsConverted++;
      }
      const vf = attr(n, 'value_float') ?? attr(n, 'value_floats');
      if (vf) {
        const values = vf['name'] === 'value_float' ? [vf['f'] as number] : (vf['floats'] as number[]);
        const dims = vf['name'] === 'value_float' ? [] : [values.length];
        const t: Msg = { dims, dataType: ElemType.FLOAT, floatData: values };
        report.valuesClamped += convertTensor(t, target);
        n['attribute'] = [{ name: 'value', type: ATTR_TENSOR, t }];
        report.constantsConverted++;
      }
    } else if (op === 'ConstantOfShape') {
      const v = attr(n, 'value');
      if (v && isFloat32(num(v['t']?.['dataType']))) convertTensor(v['t'], target);
      else if (!v) n['attribute'] = [...((n['attribute'] as Msg[]) ?? []), { name: 'value', type: ATTR_TENSOR, t: { dims: [1], dataType: low, rawData: new Uint8Array(2) } }];
    } else if (op === 'Cast') {
      const to = attr(n, 'to')!;
      if (isFloat32(num(to['i']))) to['i'] = low;
    } else if (FP32_ONLY[op]) {
      // Inputs back to FP32 before the op, float outputs to the target after it.
      report.keptFp32.push(`${n['name'] || '(unnamed)'} (${op})`);
      n['input'] = (n['input'] as string[]).map((x, i) => {
        if (!x || !FP32_ONLY[op]!.includes(i) || !isFloat32(types.get(x))) return x;
        const back = `${x}.fp32.${++fp32Casts}`;
        body.push(castNode(x, back, ElemType.FLOAT, 'tanalyze.cast_fp32'));
        return back;
      });
      body.push(n);
      n['output'] = (n['output'] as string[]).map((o) => {
        if (!o || !isFloat32(types.get(o))) return o;
        const raw = `${o}.fp32`;
        body.push(castNode(raw, o, low, 'tanalyze.cast_low'));
        return raw;
      });
      continue;
    }
    body.push(n);
  }

  // Outputs: the producer writes an inner tensor; a Cast restores the declared FP32 edge.
  const tail: Msg[] = [];
  const inputNames = new Set(((graph['input'] as Msg[] | undefined) ?? []).map((v) => v['name'] as string));
  for (const vi of (graph['output'] as Msg[] | undefined) ?? []) {
    const name = vi['name'] as string;
    if (!isFloat32(elemTypeOf(vi) ?? types.get(name))) continue;
    if (edgeType(name) !== 'FP32') {
      vi['type']['tensorType']['elemType'] = low;
      report.edgesConverted.push(name);
      continue;
    }
    if (inputNames.has(name)) continue; // an FP32 input passed straight through stays FP32
    if (initNames.has(name)) throw new OnnxConversionError(`graph output '${name}' is an initializer: the converter expects outputs computed by nodes`);
    const inner = fresh(`${name}.out`);
    for (const n of body) {
      n['input'] = (n['input'] as string[]).map((x) => (x === name ? inner : x));
      n['output'] = (n['output'] as string[]).map((x) => (x === name ? inner : x));
    }
    tail.push(castNode(inner, name, ElemType.FLOAT, 'tanalyze.cast_out'));
  }

  graph['node'] = [...head, ...body, ...tail];
  // Intermediate types are re-inferred by the runtime; stale FP32 annotations would contradict the graph.
  graph['valueInfo'] = [];
  const props = ((model['metadataProps'] as Msg[] | undefined) ?? []).filter((p) => p['key'] !== 'tanalyze.precision');
  model['metadataProps'] = [...props, { key: 'tanalyze.precision', value: `${target} (${CONVERTER_VERSION})` }];

  // encode reads plain objects as well as messages, so the new nodes need no conversion.
  const out = T.encode(model).finish();
  return { bytes: out, report };
}

/** The edge types a Triton config declares, for ConvertOptions.edgeTypes (pure). */
export function edgeTypesFromConfig(tensors: readonly { name: string; data_type?: string }[]): Record<string, 'FP32' | LowPrecision> {
  const out: Record<string, 'FP32' | LowPrecision> = {};
  for (const t of tensors) {
    if (t.data_type === 'TYPE_FP16') out[t.name] = 'FP16';
    else if (t.data_type === 'TYPE_BF16') out[t.name] = 'BF16';
    else if (t.data_type === 'TYPE_FP32') out[t.name] = 'FP32';
  }
  return out;
}

/** Counts of nodes by op type, and whether Q/DQ (explicit quantization) nodes are present. */
export function describeGraph(bytes: Uint8Array): { ops: Record<string, number>; explicitlyQuantized: boolean } {
  const m = modelProtoType().decode(bytes) as unknown as Msg;
  const ops: Record<string, number> = {};
  for (const n of (m['graph']?.['node'] as Msg[] | undefined) ?? []) ops[n['opType']] = (ops[n['opType']] ?? 0) + 1;
  return { ops, explicitlyQuantized: (ops['QuantizeLinear'] ?? 0) > 0 && (ops['DequantizeLinear'] ?? 0) > 0 };
}
