/**
 * Precision for ONNX Runtime models on Triton, without a rebuild: the onnxruntime
 * backend runs the model through ONNX Runtime's TensorRT execution provider when the
 * config asks for it, and the provider builds its engine itself at load time.
 * Triton's onnxruntime_backend README documents the config:
 *
 *   optimization { execution_accelerators { gpu_execution_accelerator : [ {
 *     name : "tensorrt"
 *     parameters { key: "precision_mode" value: "FP16" }          # FP32 | FP16 | INT8
 *     parameters { key: "max_workspace_size_bytes" value: "1073741824" }
 *     parameters { key: "trt_engine_cache_enable" value: "1" }
 *     parameters { key: "trt_engine_cache_path" value: "/cache" }
 *   } ] } }
 *
 * INT8 without Q/DQ nodes in the model needs `int8_calibration_table_name` (a table in
 * the engine cache path). Pure functions on the plain ModelConfig.
 */
import type { ModelConfig } from '../../config/types.js';
import type { Precision } from '../../domain/serving.js';
import { TanalyzeError } from '../../domain/errors.js';

export interface OrtTensorRtOptions {
  /** max_workspace_size_bytes (the backend's default is 1 GiB). */
  maxWorkspaceBytes?: number;
  /** Let the execution provider keep its engines between loads (trt_engine_cache_enable/_path). */
  engineCachePath?: string;
  /** INT8: calibration table file name in the engine cache path. */
  int8CalibrationTableName?: string;
  /** INT8: the table is TensorRT's own (1) rather than ONNX Runtime's (0). */
  int8UseNativeCalibrationTable?: boolean;
  /** More accelerator parameters, e.g. { trt_builder_optimization_level: '4' }. */
  extraParameters?: Record<string, string>;
}

type Accelerator = { name: string; parameters?: Record<string, string> };

const isOrtModel = (cfg: ModelConfig): boolean => cfg.backend === 'onnxruntime' || cfg.platform === 'onnxruntime_onnx';

/**
 * `cfg` with the TensorRT accelerator set to `precision` (a new object; `cfg` is not
 * changed). Other GPU accelerators and the rest of `optimization` are kept; an existing
 * tensorrt entry is replaced. Throws for a model that is not an ONNX Runtime one.
 */
/** A precision the build step cannot make for this model or server: the trial is skipped, not failed. */
export class PrecisionUnavailableError extends TanalyzeError {
  constructor(message: string) {
    super('configuration', message);
  }
}

export function withOrtTensorRtPrecision(cfg: ModelConfig, precision: Precision, opts: OrtTensorRtOptions = {}): ModelConfig {
  if (!isOrtModel(cfg)) {
    throw new Error(`model '${cfg.name ?? '?'}' is not served by ONNX Runtime (backend '${cfg.backend ?? ''}', platform '${cfg.platform ?? ''}'): the TensorRT accelerator does not apply`);
  }
  if (precision === 'BF16') {
    throw new PrecisionUnavailableError(`precision BF16 is unavailable with ONNX Runtime's TensorRT accelerator: its precision_mode takes FP32, FP16 or INT8 (serve a TensorRT plan, --engine-target tensorrt_plan, for BF16)`);
  }
  const out = structuredClone(cfg) as ModelConfig;
  const parameters: Record<string, string> = { precision_mode: precision };
  if (opts.maxWorkspaceBytes !== undefined) parameters['max_workspace_size_bytes'] = String(opts.maxWorkspaceBytes);
  if (opts.engineCachePath) {
    parameters['trt_engine_cache_enable'] = '1';
    parameters['trt_engine_cache_path'] = opts.engineCachePath;
  }
  if (precision === 'INT8' && opts.int8CalibrationTableName) {
    parameters['int8_calibration_table_name'] = opts.int8CalibrationTableName;
    parameters['int8_use_native_calibration_table'] = opts.int8UseNativeCalibrationTable ? '1' : '0';
  }
  Object.assign(parameters, opts.extraParameters ?? {});
  const optimization = { ...((out['optimization'] as Record<string, unknown> | undefined) ?? {}) };
  const accel = { ...((optimization['execution_accelerators'] as Record<string, unknown> | undefined) ?? {}) };
  const gpu = ((accel['gpu_execution_accelerator'] as Accelerator[] | undefined) ?? []).filter((a) => a.name !== 'tensorrt');
  accel['gpu_execution_accelerator'] = [{ name: 'tensorrt', parameters }, ...gpu];
  optimization['execution_accelerators'] = accel;
  out['optimization'] = optimization;
  return out;
}

/** The precision the config's TensorRT accelerator asks for, or null when it has none (pure). */
export function ortTensorRtPrecision(cfg: ModelConfig): Precision | null {
  const accel = ((cfg['optimization'] as Record<string, any> | undefined)?.['execution_accelerators']?.['gpu_execution_accelerator'] ?? []) as Accelerator[];
  const trt = accel.find((a) => a.name === 'tensorrt');
  if (!trt) return null;
  const mode = String(trt.parameters?.['precision_mode'] ?? 'FP32').toUpperCase();
  return mode === 'FP16' || mode === 'INT8' ? mode : 'FP32';
}
