/**
 * The file side of precision (precision.ts holds the rules): a model's FP16/BF16 variant
 * written by our converter into the engine cache, the user's explicitly quantized model,
 * and the check of a built engine's layer information.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ModelConfig } from '../../config/types.js';
import type { Precision } from '../../domain/serving.js';
import { CONVERTER_VERSION, OnnxConversionError, convertModelPrecision, describeGraph, edgeTypesFromConfig, type ConversionReport, type LowPrecision } from '../../onnx/convert-precision.js';
import { hashFile, type EngineCache } from './cache.js';
import { PrecisionUnavailableError } from './onnxruntime.js';
import { LayerInfoError, checkEnginePrecision, parseLayerInfo, type PrecisionCheck } from './precision.js';

/** A built engine is not in the precision asked: the trial fails with what was found, and the engine is not cached. */
export class EnginePrecisionError extends Error {
  constructor(
    message: string,
    readonly check: PrecisionCheck | null,
    readonly layerInfoFile: string,
  ) {
    super(message);
    this.name = 'EnginePrecisionError';
  }
}

/** `model.onnx` → `model.fp16.onnx` (the repository's convention for per-precision files). */
export function precisionFileName(base: string, precision: Precision): string {
  return base.replace(/\.onnx$/, '') + `.${precision.toLowerCase()}.onnx`;
}

export interface ConvertedModel {
  file: string;
  /** True when it came from the cache. */
  cached: boolean;
  report: ConversionReport | null;
}

/**
 * The FP16/BF16 variant of `src`, written by tanalyze's converter into the engine cache
 * (keyed by the source's hash, the target, the edge types and the converter's version).
 * Inputs and outputs keep the types `config` declares. A model the converter cannot
 * convert makes the precision unavailable for it, with the converter's reason.
 */
export async function convertedModel(cache: EngineCache, src: string, target: LowPrecision, config: ModelConfig, log?: (line: string) => void): Promise<ConvertedModel> {
  const edgeTypes = edgeTypesFromConfig([...(config.input ?? []), ...(config.output ?? [])]);
  let report: ConversionReport | null = null;
  const parts = {
    builder: 'tanalyze-onnx-precision',
    sourceSha256: await hashFile(src),
    precision: target,
    profile: 'as-exported',
    builderVersion: CONVERTER_VERSION,
    device: 'any',
    edges: JSON.stringify(edgeTypes),
  };
  try {
    const { entry, built } = await cache.getOrBuild(parts, '.onnx', async (out) => {
      const converted = convertModelPrecision(await readFile(src), { target, edgeTypes });
      report = converted.report;
      await writeFile(out, converted.bytes);
      const r = converted.report;
      log?.(`  converted ${basename(src)} to ${target} (tanalyze's converter): ${r.initializersConverted} weights, ${r.castsAdded} edge casts${r.valuesClamped ? `, ${r.valuesClamped} values clamped to the ${target} range` : ''}${r.keptFp32.length ? `, kept in FP32: ${r.keptFp32.join(', ')}` : ''}`);
      for (const w of r.warnings) log?.(`  note: ${w}`);
    });
    return { file: entry.file, cached: !built, report };
  } catch (e) {
    if (e instanceof OnnxConversionError) throw new PrecisionUnavailableError(`precision ${target} is unavailable: ${basename(src)} cannot be converted: ${e.message}`);
    throw e;
  }
}

/**
 * The user's explicitly quantized model beside `onnx` (model.int8.onnx), or null. A file
 * of that name without QuantizeLinear/DequantizeLinear nodes is refused: a strongly typed
 * build of it would not be INT8.
 */
export async function quantizedModelBeside(onnx: string): Promise<string | null> {
  const file = join(dirname(onnx), precisionFileName(basename(onnx), 'INT8'));
  if (!existsSync(file)) return null;
  if (!describeGraph(await readFile(file)).explicitlyQuantized) {
    throw new PrecisionUnavailableError(`precision INT8 is unavailable: ${file} has no QuantizeLinear/DequantizeLinear nodes, so a strongly typed TensorRT build of it would not run in INT8`);
  }
  return file;
}

/** Reads trtexec's layer information and checks it against `asked`; throws EnginePrecisionError when the engine is not in it or cannot be told. */
export async function checkLayerInfoFile(file: string, asked: Precision, what: string): Promise<PrecisionCheck> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new EnginePrecisionError(`${what}: trtexec wrote no layer information at ${file}, so the engine's precision cannot be checked; it is not measured`, null, file);
  }
  let check: PrecisionCheck;
  try {
    check = checkEnginePrecision(parseLayerInfo(text), asked);
  } catch (e) {
    if (e instanceof LayerInfoError) throw new EnginePrecisionError(`${what}: ${e.message} (${file}); the engine is not measured`, null, file);
    throw e;
  }
  if (!check.ok) throw new EnginePrecisionError(`${what} is not in ${asked}: ${check.summary} (layer information: ${file}); the engine is not measured`, check, file);
  return check;
}
