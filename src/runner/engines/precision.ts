/**
 * How a precision is built on a given TensorRT, and whether the built engine really is in
 * that precision. Pure functions.
 *
 * TensorRT 10 and older are weakly typed: `--fp16`, `--bf16`, `--int8 [--calib]` let the
 * builder pick lower-precision kernels where it likes. TensorRT 11 removed those flags,
 * the INT8 calibrators and weak typing altogether: every network is strongly typed and
 * runs in the types its ONNX graph carries. So on 11 the precision must be in the graph:
 * FP16/BF16 through our converter (src/onnx/convert-precision.ts), INT8 through explicit
 * quantization (QuantizeLinear/DequantizeLinear nodes, e.g. from NVIDIA ModelOpt).
 *
 * Whatever the version, a flag or a graph is a request, not a guarantee (a build can log
 * a warning and still write FP32 layers), so every engine's layer information
 * (`--exportLayerInfo --profilingVerbosity=detailed`) is checked before it is measured.
 */
import type { Precision } from '../../domain/serving.js';

export interface TensorRtVersion {
  major: number;
  minor: number;
  patch: number;
}

/** "10.13.3" → { major: 10, minor: 13, patch: 3 }; null for anything else. */
export function parseVersionText(text: string): TensorRtVersion | null {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : null;
}

/** TensorRT 11 and later build every network strongly typed, and have no precision flags. */
export const isStronglyTypedOnly = (v: TensorRtVersion): boolean => v.major >= 11;

/** The flags TensorRT 11 removed (trtexec refuses them as unknown options). */
export const REMOVED_IN_TENSORRT_11 = ['--fp16', '--bf16', '--int8', '--fp8', '--int4', '--best', '--calib'] as const;

/** How one precision is built (pure). */
export type PrecisionBuildPlan =
  | { kind: 'builder-flags'; flags: string[]; note?: string }
  | { kind: 'strongly-typed'; source: 'model' | 'converted' | 'quantized-model'; convert?: 'FP16' | 'BF16'; flags: string[] }
  | { kind: 'unavailable'; reason: string };

export interface PlanContext {
  /** A user-made explicitly quantized model (Q/DQ nodes) beside the model, e.g. model.int8.onnx. */
  quantizedModel?: string | null;
  /** An INT8 calibration cache for TensorRT 10's --calib. */
  calibCache?: string | null;
}

/**
 * The build plan for `precision` on TensorRT `v` (pure).
 * - <= 10: today's builder flags.
 * - >= 11: FP32 as it is, FP16/BF16 from the converted graph, INT8 from a Q/DQ model the
 *   user made; without one, INT8 is unavailable (the reason says what to do), never a
 *   silent FP32 engine under the label INT8.
 */
export function planPrecisionBuild(v: TensorRtVersion, precision: Precision, ctx: PlanContext = {}): PrecisionBuildPlan {
  if (!isStronglyTypedOnly(v)) {
    if (precision === 'FP16') return { kind: 'builder-flags', flags: ['--fp16'] };
    if (precision === 'BF16') {
      if (v.major < 9 || (v.major === 9 && v.minor < 1)) return { kind: 'unavailable', reason: `BF16 needs TensorRT 9.1 or later (--bf16); this is TensorRT ${fmtVersion(v)}` };
      return { kind: 'builder-flags', flags: ['--bf16'] };
    }
    if (precision === 'INT8') {
      return ctx.calibCache
        ? { kind: 'builder-flags', flags: ['--int8', `--calib=${ctx.calibCache}`] }
        : { kind: 'builder-flags', flags: ['--int8'], note: 'no calibration cache: TensorRT uses placeholder dynamic ranges, so the speed is INT8 but the accuracy is not measured' };
    }
    return { kind: 'builder-flags', flags: [] };
  }
  // --stronglyTyped is the default on 11 (a no-op there) and keeps the command explicit.
  if (precision === 'FP32') return { kind: 'strongly-typed', source: 'model', flags: ['--stronglyTyped'] };
  if (precision === 'FP16' || precision === 'BF16') return { kind: 'strongly-typed', source: 'converted', convert: precision, flags: ['--stronglyTyped'] };
  if (ctx.quantizedModel) return { kind: 'strongly-typed', source: 'quantized-model', flags: ['--stronglyTyped'] };
  return {
    kind: 'unavailable',
    reason:
      `INT8 is unavailable on TensorRT ${fmtVersion(v)} without an explicitly quantized model: TensorRT 11 removed implicit INT8 (--int8, --calib and the calibrators), ` +
      'so INT8 needs QuantizeLinear/DequantizeLinear nodes in the ONNX graph, and tanalyze does not run a quantizer (NVIDIA ModelOpt is a Python package that is not in the TensorRT image and needs representative calibration data). ' +
      'Quantize the model with ModelOpt (python -m modelopt.onnx.quantization --onnx_path model.onnx --quantize_mode int8 --calibration_data <inputs.npz> --output_path model.int8.onnx) and put the result beside the model',
  };
}

export const fmtVersion = (v: TensorRtVersion): string => `${v.major}.${v.minor}.${v.patch}`;

// ------------------------------------------------------------ layer information

/** A tensor type as the layer information names it, normalized. */
export type LayerDataType = 'FP32' | 'FP16' | 'BF16' | 'INT8' | 'FP8' | 'FP4' | 'INT4' | 'INT32' | 'INT64' | 'BOOL' | 'UINT8' | 'UNKNOWN';

export interface EngineLayer {
  name: string;
  /** LayerType (e.g. CaskConvolution, Reformat), else ParameterType. */
  type: string;
  parameterType: string;
  inputs: LayerDataType[];
  outputs: LayerDataType[];
}

/**
 * One tensor's type from either format: TensorRT <= 10 writes "Format/Datatype": "Row major
 * linear FP16 format" (or "Channel major FP16 format where channel % 8 == 0"); TensorRT 11
 * splits it into "Format" and "DataType" ("Half", "Float", "BFloat16", "Int8", ...).
 */
export function tensorDataType(t: Record<string, unknown>): LayerDataType {
  const dt = t['DataType'] ?? t['Datatype'];
  if (typeof dt === 'string') {
    const d = dt.toLowerCase().replace(/^k/, '');
    const direct: Record<string, LayerDataType> = { float: 'FP32', fp32: 'FP32', half: 'FP16', fp16: 'FP16', bfloat16: 'BF16', bf16: 'BF16', int8: 'INT8', fp8: 'FP8', fp4: 'FP4', int4: 'INT4', int32: 'INT32', int64: 'INT64', bool: 'BOOL', uint8: 'UINT8' };
    if (direct[d]) return direct[d]!;
  }
  const fd = t['Format/Datatype'] ?? t['Format'];
  if (typeof fd === 'string') {
    // Order matters: "BFloat16" before "FP16"-ish matches, "Int8" before "Int".
    if (/bf(loat)?16/i.test(fd)) return 'BF16';
    if (/\bfp16\b|\bhalf\b/i.test(fd)) return 'FP16';
    if (/\bfp32\b|\bfloat\b/i.test(fd)) return 'FP32';
    if (/\bfp8\b/i.test(fd)) return 'FP8';
    if (/\bfp4\b/i.test(fd)) return 'FP4';
    if (/\bint8\b/i.test(fd)) return 'INT8';
    if (/\bint4\b/i.test(fd)) return 'INT4';
    if (/\bint32\b/i.test(fd)) return 'INT32';
    if (/\bint64\b/i.test(fd)) return 'INT64';
    if (/\bbool\b/i.test(fd)) return 'BOOL';
    if (/\buint8\b/i.test(fd)) return 'UINT8';
  }
  return 'UNKNOWN';
}

/** A layer information file could not be used: the engine's precision cannot be told. */
export class LayerInfoError extends Error {}

/** The layers of trtexec's --exportLayerInfo JSON (TensorRT 10 or 11 schema). */
export function parseLayerInfo(text: string): EngineLayer[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new LayerInfoError(`the layer information is not JSON (${(e as Error).message})`);
  }
  const layers = (doc as { Layers?: unknown })?.Layers;
  if (!Array.isArray(layers)) throw new LayerInfoError('the layer information has no "Layers" list');
  if (layers.some((l) => typeof l === 'string')) {
    throw new LayerInfoError('the layer information lists layer names only (no tensor types): the engine was built without --profilingVerbosity=detailed');
  }
  return layers.map((l: Record<string, unknown>) => {
    const ts = (k: string) => (Array.isArray(l[k]) ? (l[k] as Record<string, unknown>[]).map(tensorDataType) : []);
    return {
      name: String(l['Name'] ?? '?'),
      type: String(l['LayerType'] ?? l['ParameterType'] ?? '?'),
      parameterType: String(l['ParameterType'] ?? l['LayerType'] ?? '?'),
      inputs: ts('Inputs'),
      outputs: ts('Outputs'),
    };
  });
}

/** Layers that only move or retype data (reformats, casts, shuffles, constants): their types say nothing about compute precision. */
const DATA_MOVEMENT = /reformat|copy|cast|shuffle|constant|noop|identity|shape|slice|concat|gather|quantize|dequantize|myelin.*copy/i;
/** Layers whose precision is what a precision choice is for: convolutions and matrix products. */
const HEAVY = /conv|matmul|matrixmultiply|gemm|fullyconnected|deconv/i;
const INDEX_TYPES: ReadonlySet<LayerDataType> = new Set(['INT32', 'INT64', 'BOOL', 'UINT8']);

const RANK: Partial<Record<LayerDataType, number>> = { INT4: 0, FP4: 0, INT8: 1, FP8: 1, FP16: 2, BF16: 2, FP32: 3 };

/**
 * The precision a layer computes in: the lowest-precision float type among its activation
 * tensors (index tensors skipped). A fused region that starts or ends with a cast (FP32 in,
 * FP16 out) computes in FP16; an INT8 convolution with a dequantized output computes in INT8.
 */
export function layerPrecision(l: EngineLayer): LayerDataType {
  let best: LayerDataType = 'UNKNOWN';
  for (const t of [...l.inputs, ...l.outputs]) {
    if (INDEX_TYPES.has(t) || RANK[t] === undefined) continue;
    if (best === 'UNKNOWN' || RANK[t]! < RANK[best]!) best = t;
  }
  return best;
}

export interface PrecisionCheck {
  ok: boolean;
  asked: Precision;
  /** Which layers the rule looked at: convolutions/matrix products, else every compute layer. */
  checked: 'conv-matmul' | 'compute' | 'none';
  /** Counts of checked layers by precision. */
  found: Partial<Record<LayerDataType, number>>;
  /** Checked layers not in the precision asked ("name: FP32"), at most 8. */
  offenders: string[];
  offenderCount: number;
  summary: string;
}

/**
 * Is the engine in the precision asked (pure)? The convolution and matrix layers, where a
 * precision choice pays, must all compute in it (their first activation input's type; for
 * INT8, Int8). An engine without such layers has every compute layer checked instead.
 * An engine with no compute layer at all has nothing to check and passes.
 */
export function checkEnginePrecision(layers: readonly EngineLayer[], asked: Precision): PrecisionCheck {
  const compute = layers.filter((l) => !DATA_MOVEMENT.test(l.type) && !DATA_MOVEMENT.test(l.parameterType));
  const heavy = compute.filter((l) => HEAVY.test(l.type) || HEAVY.test(l.parameterType));
  const checkedLayers = heavy.length ? heavy : compute.filter((l) => !INDEX_TYPES.has(layerPrecision(l)));
  const checked = heavy.length ? 'conv-matmul' : checkedLayers.length ? 'compute' : 'none';
  const found: Partial<Record<LayerDataType, number>> = {};
  const bad: string[] = [];
  for (const l of checkedLayers) {
    const p = layerPrecision(l);
    found[p] = (found[p] ?? 0) + 1;
    if (p !== asked) bad.push(`${l.name}: ${p}`);
  }
  const counts = Object.entries(found).map(([k, n]) => `${n} ${k}`).join(', ');
  const what = checked === 'conv-matmul' ? 'convolution/matrix layers' : 'compute layers';
  const summary =
    checked === 'none'
      ? 'no compute layers to check'
      : bad.length === 0
        ? `${checkedLayers.length}/${checkedLayers.length} ${what} in ${asked}`
        : `asked ${asked}, but ${bad.length} of ${checkedLayers.length} ${what} are not in ${asked} (found ${counts}): ${bad.slice(0, 8).join('; ')}${bad.length > 8 ? '; ...' : ''}`;
  return { ok: bad.length === 0, asked, checked, found, offenders: bad.slice(0, 8), offenderCount: bad.length, summary };
}
