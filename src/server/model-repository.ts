/**
 * From a model folder (or a RepositoryModelLoad override) to a validated, completed
 * configuration: which version and file to run, how many instances, which batching
 * policy. File access is confined to `resolveModelSource`; the rest is pure.
 */
import { mkdtemp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { modelConfigFromJson, parseModelConfig } from '../config/pbtxt.js';
import { defaultModelFile } from '../config/variant.js';
import type { ModelConfig, ModelTensor } from '../config/types.js';
import type { BatchPolicy } from './batcher.js';
import type { IoMeta } from './instance-protocol.js';
import { apiFromConfigType, apiFromOrtType, type ApiDatatype } from './tensors.js';
import { TanalyzeError } from '../domain/errors.js';

/** A model that cannot be loaded; the message is what RepositoryIndex reports as reason. */
export class ModelLoadError extends TanalyzeError {
  constructor(model: string, detail: string) {
    super('configuration', `failed to load '${model}': ${detail}`);
  }
}

export interface ModelSource {
  name: string;
  /** Folder holding the version folders (a temporary one for file overrides). */
  dir: string;
  version: string;
  modelPath: string;
  config: ModelConfig;
  /** `dir` was written for this load (file overrides) and is removed with the model. */
  temporary?: boolean;
}

export interface LoadOverride {
  /** JSON ModelConfig used instead of config.pbtxt. */
  configJson?: string;
  /** "<version>/<path>" → content: a model folder used instead of the repository's. */
  files?: Record<string, Buffer>;
}

const isVersion = (s: string): boolean => /^[0-9]+$/.test(s);
const isDir = (p: string): Promise<boolean> => stat(p).then((s) => s.isDirectory(), () => false);

/** Model folders of the repository (every sub-folder is a model, as in Triton). */
export async function listModelNames(repository: string): Promise<string[]> {
  const names = await readdir(repository).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`model repository '${repository}' cannot be read: ${e.code ?? e.message}`);
  });
  const out: string[] = [];
  for (const n of names.sort()) if (!n.startsWith('.') && (await isDir(path.join(repository, n)))) out.push(n);
  return out;
}

/** Reads the configuration and picks the version (the latest, Triton's default policy). */
export async function resolveModelSource(repository: string, name: string, override: LoadOverride = {}): Promise<ModelSource> {
  if (override.files && Object.keys(override.files).length > 0) {
    if (!override.configJson) throw new ModelLoadError(name, "file overrides need a 'config' parameter as well");
    const dir = await writeOverrideFiles(name, override.files);
    try {
      return { ...(await readModelFolder(dir, name, override.configJson)), temporary: true };
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }
  const dir = path.join(repository, name);
  if (!(await isDir(dir))) throw new ModelLoadError(name, `no model folder '${name}' in the repository`);
  return readModelFolder(dir, name, override.configJson);
}

async function readModelFolder(dir: string, name: string, configJson: string | undefined): Promise<ModelSource> {

  let config: ModelConfig;
  try {
    if (configJson !== undefined) {
      config = modelConfigFromJson(configJson, `'config' parameter of ${name}`);
    } else {
      const file = path.join(dir, 'config.pbtxt');
      const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) =>
        e.code === 'ENOENT' ? '' : Promise.reject(new Error(`${file}: ${e.code ?? e.message}`)),
      );
      config = parseModelConfig(text, file);
    }
  } catch (e) {
    throw new ModelLoadError(name, (e as Error).message);
  }
  if (config.name && config.name !== name) {
    throw new ModelLoadError(name, `configuration names the model '${config.name}', expected '${name}' (the folder name)`);
  }

  const versions: string[] = [];
  for (const v of await readdir(dir)) if (isVersion(v) && (await isDir(path.join(dir, v)))) versions.push(v);
  if (versions.length === 0) throw new ModelLoadError(name, `no version folder (e.g. '1/') in ${dir}`);
  const version = versions.sort((a, b) => Number(a) - Number(b)).at(-1)!;
  const file = config.default_model_filename || defaultModelFile(config);
  const modelPath = path.join(dir, version, file);
  if (!(await stat(modelPath).then((s) => s.isFile(), () => false))) {
    throw new ModelLoadError(name, `model file ${path.join(version, file)} not found in ${dir}`);
  }
  return { name, dir, version, modelPath, config: { ...config, name } };
}

async function writeOverrideFiles(name: string, files: Record<string, Buffer>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `tanalyze-override-${name}-`));
  try {
    for (const [rel, data] of Object.entries(files)) {
      const target = path.resolve(dir, rel);
      if (!target.startsWith(dir + path.sep)) throw new ModelLoadError(name, `file override '${rel}' escapes the model folder`);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, data);
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return dir;
}

const isTorch = (cfg: ModelConfig): boolean => cfg.platform === 'pytorch_libtorch' || cfg.backend === 'pytorch';

/** Which platform/backend values mean "ONNX Runtime" (or PyTorch, served by the GPU workers). */
export function checkBackend(cfg: ModelConfig): void {
  if (isTorch(cfg)) return;
  const platform = cfg.platform ?? '';
  const backend = cfg.backend ?? '';
  if (platform && platform !== 'onnxruntime_onnx') {
    throw new ModelLoadError(cfg.name ?? '?', `the embedded server runs ONNX models only; platform '${platform}' is not supported`);
  }
  if (backend && backend !== 'onnxruntime') {
    throw new ModelLoadError(cfg.name ?? '?', `the embedded server runs ONNX models only; backend '${backend}' is not supported`);
  }
}

const fmt = (dims: readonly number[]): string => `[${dims.join(',')}]`;

function checkTensor(model: string, kind: 'input' | 'output', t: ModelTensor, io: IoMeta, maxBatchSize: number): void {
  const api: ApiDatatype | undefined = apiFromConfigType(t.data_type);
  const actual = apiFromOrtType(io.type);
  if (!api) throw new ModelLoadError(model, `${kind} '${t.name}' has no valid data_type (got ${t.data_type ?? 'none'})`);
  if (api !== actual) {
    throw new ModelLoadError(model, `${kind} '${t.name}' is ${t.data_type} in the configuration but ${io.type} in the model`);
  }
  if (t.reshape) return; // The config shape is then the API shape, not the model's.
  const dims = (t.dims ?? []).map(Number);
  const full = maxBatchSize > 0 ? [-1, ...dims] : dims;
  const expl = maxBatchSize > 0 ? ' (a batch dimension, since max_batch_size > 0, then dims)' : '';
  if (full.length !== io.shape.length) {
    throw new ModelLoadError(
      model,
      `${kind} '${t.name}': the model has shape ${fmt(io.shape)} but the configuration gives ${fmt(full)}${expl}`,
    );
  }
  if (maxBatchSize > 0 && io.shape[0] !== -1) {
    throw new ModelLoadError(
      model,
      `${kind} '${t.name}': max_batch_size > 0 needs a variable first dimension, but the model's shape is ${fmt(io.shape)}; set max_batch_size: 0`,
    );
  }
  for (let i = maxBatchSize > 0 ? 1 : 0; i < full.length; i++) {
    if (io.shape[i] !== -1 && io.shape[i] !== full[i]) {
      throw new ModelLoadError(model, `${kind} '${t.name}': dimension ${i} is ${full[i]} in the configuration but ${io.shape[i]} in the model ${fmt(io.shape)}`);
    }
  }
}

/**
 * Checks the configuration against the session's inputs and outputs and returns it
 * completed as Triton reports it (ModelConfig rpc): inputs/outputs filled from the model
 * when the configuration has none, backend, default file name and instance groups set.
 */
export function completeConfig(cfg: ModelConfig, io: { inputs: IoMeta[]; outputs: IoMeta[] }): ModelConfig {
  const name = cfg.name ?? '?';
  checkBackend(cfg);
  const maxBatchSize = Number(cfg.max_batch_size ?? 0);
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 0) throw new ModelLoadError(name, `max_batch_size must be >= 0, got ${cfg.max_batch_size}`);
  if (cfg.dynamic_batching && maxBatchSize === 0) {
    throw new ModelLoadError(name, 'dynamic_batching needs max_batch_size > 0');
  }
  for (const p of cfg.dynamic_batching?.preferred_batch_size ?? []) {
    if (Number(p) < 1 || Number(p) > maxBatchSize) {
      throw new ModelLoadError(name, `preferred_batch_size ${p} must be between 1 and max_batch_size (${maxBatchSize})`);
    }
  }
  const out: ModelConfig = { ...cfg };
  if (!out.platform && !out.backend) out.backend = 'onnxruntime';
  if (!out.default_model_filename) out.default_model_filename = defaultModelFile(cfg);

  const fromModel = (m: IoMeta): ModelTensor => {
    const api = apiFromOrtType(m.type);
    if (!api) throw new ModelLoadError(name, `model tensor '${m.name}' has unsupported type ${m.type}`);
    return { name: m.name, data_type: api === 'BYTES' ? 'TYPE_STRING' : (`TYPE_${api}` as ModelTensor['data_type']), dims: maxBatchSize > 0 ? m.shape.slice(1) : m.shape };
  };
  if (!out.input?.length) out.input = io.inputs.map(fromModel);
  if (!out.output?.length) out.output = io.outputs.map(fromModel);

  const modelInputs = new Map(io.inputs.map((m) => [m.name, m]));
  const modelOutputs = new Map(io.outputs.map((m) => [m.name, m]));
  for (const t of out.input) {
    const m = modelInputs.get(t.name);
    if (!m) throw new ModelLoadError(name, `unexpected input '${t.name}'; the model's inputs are: ${[...modelInputs.keys()].join(', ')}`);
    checkTensor(name, 'input', t, m, maxBatchSize);
  }
  const configured = new Set(out.input.map((t) => t.name));
  const missing = io.inputs.filter((m) => !configured.has(m.name)).map((m) => m.name);
  if (missing.length) throw new ModelLoadError(name, `model input(s) missing from the configuration: ${missing.join(', ')}`);
  for (const t of out.output) {
    const m = modelOutputs.get(t.name);
    if (!m) throw new ModelLoadError(name, `unexpected output '${t.name}'; the model's outputs are: ${[...modelOutputs.keys()].join(', ')}`);
    checkTensor(name, 'output', t, m, maxBatchSize);
  }
  out.instance_group = completeInstanceGroups(cfg);
  // Real Triton (2.51) reports a dynamic batcher without preferred sizes as preferring
  // max_batch_size, which batches the same way (batchPolicy sends full batches at once).
  if (out.dynamic_batching && !out.dynamic_batching.preferred_batch_size?.length) {
    out.dynamic_batching = { ...out.dynamic_batching, preferred_batch_size: [maxBatchSize] };
  }
  return out;
}

/** Triton's defaults: count 2 for a CPU group of the ONNX Runtime backend, else 1 per GPU. */
function completeInstanceGroups(cfg: ModelConfig): NonNullable<ModelConfig['instance_group']> {
  const groups = cfg.instance_group?.length ? cfg.instance_group : [{ kind: 'KIND_CPU' as const }];
  return groups.map((g, i) => {
    const kind = g.kind ?? 'KIND_AUTO';
    const cpu = kind === 'KIND_CPU';
    return { ...g, name: g.name || `${cfg.name}_${i}`, kind: kind === 'KIND_AUTO' ? 'KIND_CPU' : kind, count: Number(g.count) > 0 ? Number(g.count) : cpu ? 2 : 1 };
  });
}

/**
 * Instances to start. The embedded server has CPUs only, so GPU groups run on the CPU
 * with the same number of instances they would have (count per listed GPU).
 */
export function instanceCount(cfg: ModelConfig): number {
  let n = 0;
  for (const g of completeInstanceGroups(cfg)) {
    const gpus = g.kind === 'KIND_GPU' && Array.isArray(g.gpus) && g.gpus.length > 0 ? g.gpus.length : 1;
    n += Number(g.count) * gpus;
  }
  return Math.max(1, n);
}

export function batchPolicy(cfg: ModelConfig): BatchPolicy {
  const maxBatchSize = Number(cfg.max_batch_size ?? 0);
  const db = cfg.dynamic_batching;
  if (!db || maxBatchSize === 0) return { maxBatchSize };
  return {
    maxBatchSize,
    dynamic: {
      preferredBatchSizes: (db.preferred_batch_size ?? []).map(Number),
      maxQueueDelayNs: Number(db.max_queue_delay_microseconds ?? 0) * 1000,
    },
  };
}

/**
 * ONNX Runtime session options from the backend's config parameters.
 *
 * Beside them, every session stops its thread pool's spinning when a run ends
 * (session.force_spinning_stop). ONNX Runtime's threads otherwise spin-wait after each run
 * for the next one, taking the cores that the server's own thread needs right then to
 * return the answer and hand over the next batch (on 2 cores, an instance's reply took
 * ~450 µs to send, against ~8 µs for the same send in an idle process). With the stop,
 * the server at batch 1 rose from 651 to 794 inferences/s (1.14-1.22x over two runs;
 * 1.12-1.15x at batch 2), while ONNX Runtime alone, running back to back, did not change
 * (`node dist/bench/server.js --batches 1,2,4`).
 */
export function sessionOptions(cfg: ModelConfig): Record<string, unknown> {
  const opts: Record<string, unknown> = { extra: { session: { force_spinning_stop: '1' } } };
  const param = (key: string): string | undefined => cfg.parameters?.[key]?.string_value;
  const int = (key: string): number | undefined => {
    const v = param(key);
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new ModelLoadError(cfg.name ?? '?', `parameter ${key} must be a non-negative integer, got '${v}'`);
    return n;
  };
  const intra = int('intra_op_thread_count');
  const inter = int('inter_op_thread_count');
  const mode = int('execution_mode');
  if (intra !== undefined) opts['intraOpNumThreads'] = intra;
  if (inter !== undefined) opts['interOpNumThreads'] = inter;
  if (mode !== undefined) opts['executionMode'] = mode === 1 ? 'parallel' : 'sequential';
  return opts;
}
