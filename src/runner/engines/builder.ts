/**
 * The build step of a trial, between "the strategy proposed a configuration" and
 * "write the variant and load it": one EngineBuilder per run, chosen by the launch
 * mode and the model.
 *
 * - 'trtexec' (Triton, ONNX model served as tensorrt_plan): builds a TensorRT engine
 *   for the trial's precision and max_batch_size with trtexec, cached; the variant
 *   becomes a tensorrt_plan model whose version folder links the engine.
 * - 'ort-tensorrt' (Triton, ONNX model served by ONNX Runtime): no build; the
 *   precision goes into the TensorRT execution accelerator of `optimization`.
 * - 'embedded' (the embedded server): an ONNX Runtime graph-optimized model file per
 *   source file and precision, cached the same way.
 * - 'none': the model is used as it is (a prebuilt plan, or no build wanted).
 *
 * A builder that makes each precision itself (`handlesPrecision`) does not need the
 * model repository to hold model.fp16.onnx-style files.
 */
import { cp, mkdir, rm, symlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../../config/types.js';
import type { Precision, ServingConfig } from '../../domain/serving.js';
import { cacheKey, hashFile, type EngineCache } from './cache.js';
import { buildOrtOptimizedModel, cpuDevice, onnxRuntimeVersion, type OrtOptimizationLevel } from './embedded.js';
import { withOrtTensorRtPrecision, type OrtTensorRtOptions } from './onnxruntime.js';
import { detectGpuName, type ToolRunner } from './tools.js';
import { EngineBuildError, EngineConfigError, buildEngine, detectTensorRtVersion, profileKey, shapeProfileFor, type ShapeOverrides } from './trtexec.js';
import { PrecisionUnavailableError } from './onnxruntime.js';
import { isStronglyTypedOnly, parseVersionText, planPrecisionBuild, type PrecisionBuildPlan, type PrecisionCheck } from './precision.js';
import { checkLayerInfoFile, convertedModel, precisionFileName, quantizedModelBeside } from './precision-files.js';

export interface BuildRequest {
  model: { name: string; dir: string; config: ModelConfig; versions: string[] };
  serving: ServingConfig;
  /** The variant's config as the search loop made it (applyServingConfig). */
  variantConfig: ModelConfig;
}

export interface ArtifactFile {
  /** Version folder of the variant ('1'). */
  version: string;
  /** File name inside it ('model.fp16.plan'). */
  name: string;
  /** The artifact (in the cache). */
  path: string;
}

export interface BuildResult {
  /** The config to write for the variant instead of variantConfig. */
  config: ModelConfig;
  /** Files to place in the variant's version folders (installArtifacts). */
  files: ArtifactFile[];
  /** True when nothing was built (a cache hit, or nothing to build). */
  cached: boolean;
  key: string | null;
  seconds: number;
  logFile: string | null;
  /** One line for the run's log. */
  summary: string;
}

export interface EngineBuilder {
  readonly kind: BuilderKind;
  readonly handlesPrecision: boolean;
  /** The largest max_batch_size the served model can take whatever the trial, when fixed (a prebuilt engine). */
  maxBatchLimit(model: BuildRequest['model']): number | null;
  prepare(req: BuildRequest): Promise<BuildResult | null>;
}

export type BuilderKind = 'none' | 'trtexec' | 'ort-tensorrt' | 'embedded';

const TENSORRT_PLATFORMS = new Set(['tensorrt_plan', 'tensorrt']);
const isPlan = (cfg: ModelConfig): boolean => TENSORRT_PLATFORMS.has(String(cfg.platform ?? '')) || cfg.backend === 'tensorrt';
const isOnnx = (cfg: ModelConfig): boolean => cfg.platform === 'onnxruntime_onnx' || cfg.backend === 'onnxruntime';

// ------------------------------------------------------------ pure rules

/**
 * A prebuilt engine's profile caps max_batch_size: Triton refuses a config whose
 * max_batch_size is above the engine's profile. Never propose more (pure).
 */
export function maxBatchForEngine(engineMaxBatch: number | null | undefined, requested: number): number {
  return engineMaxBatch && engineMaxBatch > 0 ? Math.min(requested, engineMaxBatch) : requested;
}

/** The search's max_batch_size values that a prebuilt engine admits, and the ones it does not (pure). */
export function limitMaxBatchSizes(values: readonly number[], engineMaxBatch: number | null | undefined): { allowed: number[]; dropped: number[] } {
  if (!engineMaxBatch || engineMaxBatch <= 0) return { allowed: [...values], dropped: [] };
  const allowed = values.filter((v) => v <= engineMaxBatch);
  const dropped = values.filter((v) => v > engineMaxBatch);
  return { allowed: allowed.length ? allowed : [engineMaxBatch], dropped };
}

/**
 * What limits a prebuilt tensorrt_plan model (pure): the max batch the user declared
 * for its profile (profile engine.prebuilt_max_batch), else the model's own
 * max_batch_size, which Triton accepted against that engine. Null for models tanalyze builds.
 */
export function prebuiltEngineLimit(cfg: ModelConfig, declared?: number): number | null {
  if (!isPlan(cfg)) return null;
  if (declared && declared > 0) return declared;
  const own = Number(cfg.max_batch_size ?? 0);
  return own > 0 ? own : null;
}

/** A variant served as a TensorRT plan (pure): platform, file, GPU instances, no ONNX Runtime accelerators. */
export function toTensorRtPlanConfig(cfg: ModelConfig, fileName: string): ModelConfig {
  const out = structuredClone(cfg) as ModelConfig;
  out.platform = 'tensorrt_plan';
  delete out.backend;
  delete out['runtime'];
  out.default_model_filename = fileName;
  const opt = out['optimization'] as Record<string, unknown> | undefined;
  if (opt) {
    delete opt['execution_accelerators'];
    if (!Object.keys(opt).length) delete out['optimization'];
  }
  out.instance_group = (out.instance_group ?? [{ count: 1 }]).map((g) => (g.kind === 'KIND_CPU' || g.kind === undefined || g.kind === 'KIND_AUTO' ? { ...g, kind: 'KIND_GPU' } : g));
  return out;
}

/** 'model.plan', 'model.fp16.plan', 'model.int8.plan' (variant.ts reads the precision back from the name). */
export function planFileName(precision: Precision): string {
  return precision === 'FP32' ? 'model.plan' : `model.${precision.toLowerCase()}.plan`;
}

function latestVersion(model: BuildRequest['model']): string {
  const v = model.versions[model.versions.length - 1];
  if (v === undefined) throw new EngineConfigError(`model '${model.name}' has no numeric version folder`);
  return v;
}

// ------------------------------------------------------------ I/O

/** Links each artifact into the variant's version folder (copies where links are not allowed). */
export async function installArtifacts(variantDir: string, files: readonly ArtifactFile[]): Promise<void> {
  for (const f of files) {
    const dir = join(variantDir, f.version);
    await mkdir(dir, { recursive: true });
    const at = join(dir, f.name);
    await rm(at, { force: true });
    try {
      await symlink(f.path, at);
    } catch {
      await cp(f.path, at);
    }
  }
}

export interface TrtexecBuilderOptions {
  cache: EngineCache;
  runner: ToolRunner;
  shapes?: ShapeOverrides;
  calibCache?: string;
  workspaceMiB?: number;
  extraArgs?: string[];
  /** Per build (default 1 h). */
  timeoutMs?: number;
  /** Known values instead of probing (trtexec --help, nvidia-smi). */
  tensorrtVersion?: string;
  gpuName?: string;
  /** Which GPU's name goes into the key (default 0). */
  device?: number;
  log?: (line: string) => void;
}

export class TrtexecPlanBuilder implements EngineBuilder {
  readonly kind = 'trtexec' as const;
  readonly handlesPrecision = true;
  private env: Promise<{ tensorrtVersion: string; gpuName: string }> | undefined;

  constructor(private readonly o: TrtexecBuilderOptions) {}

  maxBatchLimit(): number | null {
    return null; // each trial's engine is built for its own max batch
  }

  /** TensorRT version and GPU name, probed once per run. */
  environment(): Promise<{ tensorrtVersion: string; gpuName: string }> {
    this.env ??= (async () => ({
      tensorrtVersion: this.o.tensorrtVersion ?? (await detectTensorRtVersion(this.o.runner)),
      gpuName: this.o.gpuName ?? (await detectGpuName(this.o.runner, this.o.device ?? 0)),
    }))();
    return this.env;
  }

  async prepare(req: BuildRequest): Promise<BuildResult | null> {
    const base = req.model.config;
    if (isPlan(base)) return null; // prebuilt: nothing to build
    if (!isOnnx(base)) throw new EngineConfigError(`model '${req.model.name}' is not an ONNX model (platform '${base.platform ?? ''}', backend '${base.backend ?? ''}'): trtexec builds engines from ONNX`);
    const version = latestVersion(req.model);
    const onnx = join(req.model.dir, version, (base.default_model_filename as string | undefined) ?? 'model.onnx');
    if (!existsSync(onnx)) throw new EngineConfigError(`model '${req.model.name}': ${onnx} does not exist`);
    const precision = req.serving.precision;
    const profile = shapeProfileFor(base, req.serving.maxBatchSize, { shapes: this.o.shapes });
    const env = await this.environment();
    const trt = parseVersionText(env.tensorrtVersion);
    if (!trt) throw new EngineConfigError(`TensorRT version '${env.tensorrtVersion}' is not of the form major.minor.patch`);
    // The version decides how a precision is built: flags up to 10, the graph's own types from 11.
    const quantizedModel = precision === 'INT8' && isStronglyTypedOnly(trt) ? await quantizedModelBeside(onnx) : null;
    const plan = planPrecisionBuild(trt, precision, { quantizedModel, calibCache: this.o.calibCache ?? null });
    if (plan.kind === 'unavailable') throw new PrecisionUnavailableError(plan.reason);
    let buildFrom = onnx;
    if (plan.kind === 'strongly-typed' && plan.source === 'converted') buildFrom = (await convertedModel(this.o.cache, onnx, plan.convert!, base, this.o.log)).file;
    if (plan.kind === 'strongly-typed' && plan.source === 'quantized-model') buildFrom = quantizedModel!;
    const how = describePlan(plan);
    const parts = {
      builder: 'trtexec',
      sourceSha256: await hashFile(onnx),
      buildInputSha256: buildFrom === onnx ? '' : await hashFile(buildFrom),
      precision,
      profile: profileKey(profile),
      builderVersion: `TensorRT ${env.tensorrtVersion}`,
      device: env.gpuName,
      calibSha256: precision === 'INT8' && this.o.calibCache ? await hashFile(this.o.calibCache) : '',
      precisionFlags: JSON.stringify(plan.flags),
      precisionCheck: PRECISION_CHECK_VERSION,
      flags: JSON.stringify({ workspaceMiB: this.o.workspaceMiB ?? null, extra: this.o.extraArgs ?? [] }),
    };
    const what = `TensorRT ${env.tensorrtVersion} engine ${precision} (${how}), max batch ${req.serving.maxBatchSize}`;
    if (plan.kind === 'builder-flags' && plan.note) this.o.log?.(`  note: ${plan.note}`);
    const state: { check: PrecisionCheck | null } = { check: null };
    const { entry, built } = await this.o.cache.getOrBuild(parts, '.plan', async (out, logFile) => {
      this.o.log?.(`  building a TensorRT ${env.tensorrtVersion} engine: ${precision} (${how}), profile ${parts.profile} (${this.o.runner.describe})`);
      const layerInfo = layerInfoPath(logFile);
      const outcome = await buildEngine(
        this.o.runner,
        {
          onnx: buildFrom,
          engine: out,
          profile,
          precision,
          precisionFlags: plan.flags,
          layerInfo,
          ...(this.o.workspaceMiB ? { workspaceMiB: this.o.workspaceMiB } : {}),
          extraArgs: this.o.extraArgs,
        },
        { logFile, timeoutMs: this.o.timeoutMs ?? 3600_000 },
      );
      if (outcome.tensorrtVersion && outcome.tensorrtVersion !== env.tensorrtVersion) {
        throw new EngineBuildError(`${what}: trtexec reported TensorRT ${outcome.tensorrtVersion} while building but ${env.tensorrtVersion} when probed; the engine would be cached under the wrong version`, [], logFile);
      }
      // Checked before it is cached or measured: a wrong engine is never reused under this label.
      state.check = await checkLayerInfoFile(layerInfo, precision, what);
    });
    if (!state.check && existsSync(layerInfoPath(entry.logFile))) state.check = await checkLayerInfoFile(layerInfoPath(entry.logFile), precision, what);
    const checked = state.check;
    const name = planFileName(precision);
    return {
      config: toTensorRtPlanConfig(req.variantConfig, name),
      files: [{ version, name, path: entry.file }],
      cached: !built,
      key: entry.key,
      seconds: built ? entry.buildSeconds : 0,
      logFile: entry.logFile,
      summary: `${what}: ${built ? `built in ${entry.buildSeconds.toFixed(1)} s` : 'from the cache'} (${entry.key.slice(0, 12)}); precision checked: ${checked ? checked.summary : 'at build time'}${plan.kind === 'builder-flags' && plan.note ? `; note: ${plan.note}` : ''}`,
    };
  }
}

/** Bumped when the engine precision rule changes, so engines are checked (built) again. */
const PRECISION_CHECK_VERSION = 'layer-precision 1';

/** Where a build's layer information goes: beside its log in the cache. */
export const layerInfoPath = (logFile: string): string => logFile.replace(/\.log$/, '') + '.layers.json';

/** "--fp16", "strongly typed, converted ONNX" ... for logs and summaries (pure). */
export function describePlan(plan: PrecisionBuildPlan): string {
  if (plan.kind === 'builder-flags') return plan.flags.length ? `builder flags ${plan.flags.join(' ')}` : 'no precision flags';
  if (plan.kind === 'strongly-typed') return plan.source === 'converted' ? `strongly typed, ${plan.convert} graph from tanalyze's converter` : plan.source === 'quantized-model' ? 'strongly typed, the Q/DQ model' : 'strongly typed, the model as it is';
  return 'unavailable';
}

export class OrtTensorRtBuilder implements EngineBuilder {
  readonly kind = 'ort-tensorrt' as const;
  readonly handlesPrecision = true;
  constructor(private readonly o: OrtTensorRtOptions = {}) {}

  maxBatchLimit(): number | null {
    return null;
  }

  async prepare(req: BuildRequest): Promise<BuildResult | null> {
    if (!isOnnx(req.model.config)) return null;
    const cfg = structuredClone(req.variantConfig) as ModelConfig;
    // The precision comes from the accelerator, not from a per-precision file.
    if (req.model.config.default_model_filename === undefined) delete cfg.default_model_filename;
    else cfg.default_model_filename = req.model.config.default_model_filename;
    return {
      config: withOrtTensorRtPrecision(cfg, req.serving.precision, this.o),
      files: [],
      cached: true,
      key: null,
      seconds: 0,
      logFile: null,
      summary: `ONNX Runtime TensorRT accelerator, precision_mode ${req.serving.precision}`,
    };
  }
}

/**
 * The embedded server's build step. FP32 serves the model file; FP16 serves the user's
 * model.fp16.onnx when there is one, else the FP16 variant tanalyze's converter writes
 * (inputs and outputs as config.pbtxt declares them). BF16 and INT8 need the user's own
 * file (model.bf16.onnx, model.int8.onnx): ONNX Runtime's CPU provider has no BF16 Conv or
 * Gemm, and INT8 needs a quantized model. Each file is then graph-optimized by ONNX
 * Runtime, through the same cache as TensorRT engines.
 */
export class EmbeddedOrtBuilder implements EngineBuilder {
  readonly kind = 'embedded' as const;
  readonly handlesPrecision = true;
  constructor(private readonly o: { cache: EngineCache; level?: OrtOptimizationLevel; log?: (line: string) => void }) {}

  maxBatchLimit(): number | null {
    return null;
  }

  async prepare(req: BuildRequest): Promise<BuildResult | null> {
    if (!isOnnx(req.model.config)) return null;
    const version = latestVersion(req.model);
    const baseFile = (req.model.config.default_model_filename as string | undefined) ?? 'model.onnx';
    const basePath = join(req.model.dir, version, baseFile);
    if (!existsSync(basePath)) throw new EngineConfigError(`model '${req.model.name}': ${basePath} does not exist`);
    const level = this.o.level ?? 'extended';
    const precision = req.serving.precision;
    const files: ArtifactFile[] = [];
    let src = basePath;
    let origin = baseFile;
    if (precision !== 'FP32') {
      const own = precisionFileName(baseFile, precision);
      if (existsSync(join(req.model.dir, version, own))) {
        src = join(req.model.dir, version, own);
        origin = `${own} (the model repository's)`;
      } else if (precision === 'FP16') {
        const converted = await convertedModel(this.o.cache, basePath, 'FP16', req.model.config, this.o.log);
        src = converted.file;
        origin = `${own} (tanalyze's converter${converted.cached ? ', cached' : ''})`;
        files.push({ version, name: own, path: converted.file });
      } else {
        throw new PrecisionUnavailableError(
          `precision ${precision} is unavailable on the embedded server: the model repository has no ${own}, and tanalyze converts only FP16 here (${precision === 'BF16' ? "ONNX Runtime's CPU provider has no BF16 Conv or Gemm" : 'INT8 needs a quantized model (QuantizeLinear/DequantizeLinear nodes)'})`,
        );
      }
    }
    const parts = {
      builder: 'onnxruntime',
      sourceSha256: await hashFile(src),
      precision,
      profile: 'as-exported',
      builderVersion: await onnxRuntimeVersion(),
      device: cpuDevice(),
      level,
    };
    const { entry, built } = await this.o.cache.getOrBuild(parts, '.onnx', async (out) => {
      this.o.log?.(`  optimizing ${origin} with ONNX Runtime (${level})`);
      await buildOrtOptimizedModel(src, out, level);
    });
    const stem = precision === 'FP32' ? baseFile : precisionFileName(baseFile, precision);
    const name = stem.replace(/\.onnx$/, '') + '.opt.onnx';
    files.push({ version, name, path: entry.file });
    return {
      config: { ...req.variantConfig, default_model_filename: name },
      files,
      cached: !built,
      key: entry.key,
      seconds: built ? entry.buildSeconds : 0,
      logFile: null,
      summary: `ONNX Runtime optimized model (${precision} from ${origin}, ${level}): ${built ? `built in ${entry.buildSeconds.toFixed(2)} s` : 'from the cache'} (${entry.key.slice(0, 12)})`,
    };
  }
}

export class NoBuild implements EngineBuilder {
  readonly kind = 'none' as const;
  readonly handlesPrecision = false;
  constructor(private readonly declaredMaxBatch?: number) {}
  maxBatchLimit(model: BuildRequest['model']): number | null {
    return prebuiltEngineLimit(model.config, this.declaredMaxBatch);
  }
  async prepare(): Promise<BuildResult | null> {
    return null;
  }
}

/** Which builder a run gets by default (pure): by launch mode, the model, and the engine target. */
export function defaultBuilderKind(launch: string, model: ModelConfig, target: 'tensorrt_plan' | 'onnxruntime' = 'onnxruntime'): BuilderKind {
  if (isPlan(model)) return 'none';
  if (launch === 'embedded') return isOnnx(model) ? 'embedded' : 'none';
  if (!isOnnx(model)) return 'none';
  return target === 'tensorrt_plan' ? 'trtexec' : 'ort-tensorrt';
}

export { cacheKey };
