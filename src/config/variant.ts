/**
 * Model configuration variants: a serving configuration applied to a model's own
 * config (pure), read back from one (pure), written out as a Triton model
 * repository folder, and the scan of a model repository (I/O).
 */
import { cp, mkdir, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.js';
import { join, resolve } from 'node:path';
import type { ModelConfig, ModelDynamicBatching, ModelInstanceGroup } from './types.js';
import type { Precision, ServingConfig } from '../domain/serving.js';
import { validateConfig } from '../search/space.js';
import { normalizeModelConfig, parseModelConfig, printModelConfig } from './pbtxt.js';

const TENSORRT = new Set(['tensorrt_plan', 'tensorrt']);

/**
 * `base` with the knobs of `sc` set; `base` is not changed. The instance count goes
 * to the first instance group (the one servingConfigOf reads); other groups stay.
 */
export function applyServingConfig(
  base: ModelConfig,
  sc: ServingConfig,
  opts: { name: string; modelFileForPrecision?: string },
): ModelConfig {
  // One place for Triton's rules on these knobs (the search space uses it too).
  const invalid = validateConfig(sc);
  if (invalid !== null) throw new Error(`invalid serving configuration for '${opts.name}': ${invalid}`);
  if (sc.maxQueueDelayUs !== null && (base.sequence_batching || base.ensemble_scheduling)) {
    const which = base.sequence_batching ? 'sequence_batching' : 'ensemble_scheduling';
    throw new Error(`'${opts.name}': the model uses ${which}, so the dynamic batcher cannot be turned on (only one scheduler per model)`);
  }
  const cfg = structuredClone(base) as ModelConfig;
  cfg.name = opts.name;
  cfg.max_batch_size = sc.maxBatchSize;

  if (sc.maxQueueDelayUs === null) {
    delete cfg.dynamic_batching;
  } else {
    // Keep the base's other batcher settings (queue policies, ordering).
    const db: ModelDynamicBatching = { ...(cfg.dynamic_batching ?? {}) };
    db.max_queue_delay_microseconds = sc.maxQueueDelayUs;
    if (sc.preferredBatchSizes.length) db.preferred_batch_size = [...sc.preferredBatchSizes];
    else delete db.preferred_batch_size;
    cfg.dynamic_batching = db;
  }

  const groups = cfg.instance_group ?? [];
  if (groups.length) {
    groups[0] = { ...groups[0]!, count: sc.instanceCount };
  } else {
    // No group: Triton would place instances itself; make the count explicit. CPU by
    // default (the embedded server's device), but TensorRT plans only run on a GPU.
    const gpuOnly = TENSORRT.has(String(cfg.platform ?? '')) || cfg.backend === 'tensorrt';
    groups.push({ count: sc.instanceCount, kind: gpuOnly ? 'KIND_GPU' : 'KIND_CPU' } satisfies ModelInstanceGroup);
  }
  cfg.instance_group = groups;

  if (opts.modelFileForPrecision !== undefined) cfg.default_model_filename = opts.modelFileForPrecision;
  // Catch a base that does not fit the message before anything is written.
  return normalizeModelConfig(cfg, `variant '${opts.name}'`);
}

/**
 * The file Triton loads when default_model_filename is not set: model.py for the Python
 * backend, model.pt for PyTorch, model.onnx otherwise (the ONNX Runtime backend).
 */
export function defaultModelFile(cfg: ModelConfig): string {
  if (cfg.backend === 'python') return 'model.py';
  if (cfg.platform === 'pytorch_libtorch' || cfg.backend === 'pytorch') return 'model.pt';
  return 'model.onnx';
}

/**
 * The file name of a model's precision variant beside its FP32 file (precisionOfModelFile
 * reads the precision back from it), or null where the name has no variant form.
 * `model.onnx` → `model.fp16.onnx`, `model.pt` → `model.fp16.pt`; a Python-backend
 * `model.py` → `model_fp16.py`, since the backend imports the file as the module
 * `<version>.<name>` and a dot in the name fails ("No module named '1.model.fp16'"). Pure.
 */
export function precisionVariantName(fp32File: string, precision: Exclude<Precision, 'FP32'>): string | null {
  const tag = precision.toLowerCase();
  if (/\.py$/.test(fp32File)) return fp32File.replace(/\.py$/, `_${tag}.py`);
  if (/\.(onnx|pt)$/.test(fp32File)) return fp32File.replace(/\.(onnx|pt)$/, (_m, ext: string) => `.${tag}.${ext}`);
  return null;
}

/** The precision a model file name stands for: `model.fp16.onnx` → FP16 (bf16, int8 alike); anything else FP32. */
export function precisionOfModelFile(file: string | undefined): Precision {
  const m = /(?:^|[._-])(fp16|bf16|int8)(?=[._-]|$)/i.exec(file ?? '');
  return m ? (m[1]!.toUpperCase() as Precision) : 'FP32';
}

/** The knobs tanalyze searches, read from a config (absent values as Triton reads them). */
export function servingConfigOf(cfg: ModelConfig): ServingConfig {
  const db = cfg.dynamic_batching;
  const count = Number(cfg.instance_group?.[0]?.count ?? 0);
  return {
    maxBatchSize: Number(cfg.max_batch_size ?? 0),
    maxQueueDelayUs: db ? Number(db.max_queue_delay_microseconds ?? 0) : null,
    instanceCount: count > 0 ? count : 1, // Triton runs one instance when count is unset
    precision: precisionOfModelFile(cfg.default_model_filename),
    preferredBatchSizes: db?.preferred_batch_size ? db.preferred_batch_size.map(Number) : [],
  };
}

const isVersion = (name: string) => /^[0-9]+$/.test(name);

/** Links `target` at `at`, or copies it where links are not allowed (e.g. some Windows setups). */
async function linkOrCopy(target: string, at: string): Promise<void> {
  try {
    await symlink(target, at);
  } catch {
    await cp(target, at, { recursive: true });
  }
}

/**
 * Writes `<outRepo>/<variantName>/config.pbtxt` and links the source model's
 * version folders' files (and its other files, e.g. label files) beside it, so
 * `outRepo` is a repository Triton can load the variant from. Replaces an older
 * copy of the same variant. Returns the variant folder.
 */
export async function writeVariant(outRepo: string, srcModelDir: string, cfg: ModelConfig, variantName: string): Promise<string> {
  if (!variantName || /[/\\]/.test(variantName) || variantName === '.' || variantName === '..') {
    throw new Error(`invalid variant name '${variantName}'`);
  }
  if (cfg.name && cfg.name !== variantName) {
    throw new Error(`variant '${variantName}': config name '${cfg.name}' must equal the folder name (Triton refuses the model otherwise)`);
  }
  const text = printModelConfig(cfg);
  const src = resolve(srcModelDir);
  const entries = await readdir(src, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`model folder '${srcModelDir}' cannot be read: ${e.code ?? e.message}`);
  });
  const dir = join(resolve(outRepo), variantName);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const e of entries) {
    if (e.name === 'config.pbtxt') continue;
    const from = join(src, e.name);
    const isDir = e.isDirectory() || (e.isSymbolicLink() && (await stat(from).then((s) => s.isDirectory(), () => false)));
    if (isDir && isVersion(e.name)) {
      // A real folder per version, its files linked: Triton lists versions by folder.
      await mkdir(join(dir, e.name));
      for (const f of await readdir(from)) await linkOrCopy(join(from, f), join(dir, e.name, f));
    } else {
      await linkOrCopy(from, join(dir, e.name));
    }
  }
  await writeFileAtomic(join(dir, 'config.pbtxt'), text);
  return dir;
}

export interface RepositoryModel {
  /** Folder name (what Triton calls the model). */
  name: string;
  dir: string;
  config: ModelConfig;
  /** Numeric version folders, ascending. */
  versions: string[];
}

/** Every model folder (one with a config.pbtxt) of a Triton model repository, by name. */
/**
 * The repository's models. With `only`, just that model's config.pbtxt is read and parsed:
 * a broken configuration of another model in the same repository does not stop tuning this one
 * (Triton too loads each model on its own).
 */
export async function readModelRepository(repoDir: string, opts: { only?: string } = {}): Promise<RepositoryModel[]> {
  const root = resolve(repoDir);
  const st = await stat(root).catch(() => null);
  if (!st) throw new Error(`model repository '${repoDir}' does not exist`);
  if (!st.isDirectory()) throw new Error(`model repository '${repoDir}' is not a folder`);
  const out: RepositoryModel[] = [];
  const names = (await readdir(root)).filter((n) => !n.startsWith('.')).sort();
  for (const name of names) {
    if (opts.only !== undefined && name !== opts.only) continue;
    const dir = join(root, name);
    if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) continue;
    const file = join(dir, 'config.pbtxt');
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw new Error(`${file}: cannot be read: ${e.code ?? e.message}`);
    });
    if (text === null) continue;
    const config = parseModelConfig(text, file);
    const versions: string[] = [];
    for (const v of await readdir(dir)) {
      if (isVersion(v) && (await stat(join(dir, v)).then((s) => s.isDirectory(), () => false))) versions.push(v);
    }
    versions.sort((a, b) => Number(a) - Number(b));
    out.push({ name, dir, config, versions });
  }
  return out;
}

/** The names of the models in a repository (folders with a config.pbtxt), none of them parsed. */
export async function modelNamesIn(repoDir: string): Promise<string[]> {
  const root = resolve(repoDir);
  const names: string[] = [];
  for (const name of (await readdir(root)).filter((n) => !n.startsWith('.')).sort()) {
    if (await stat(join(root, name, 'config.pbtxt')).then((s) => s.isFile(), () => false)) names.push(name);
  }
  return names;
}
