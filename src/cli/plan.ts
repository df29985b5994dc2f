/**
 * From flags, environment and profile to a validated RunPlan. Pure apart from
 * `loadProfile` (reads one YAML file); every problem is collected and reported together.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Precision, SearchSpace } from '../domain/serving.js';
import { PRECISIONS } from '../domain/serving.js';
import { CLIENT_TRANSPORTS, SHARED_MEMORY_KINDS, type ClientTransport, type SharedMemoryKind } from '../domain/load.js';
import { isLoopbackAddress } from '../load/shared-memory.js';
import { type WindowSettings } from '../domain/measurement.js';
import { fromPackageRoot } from '../util/package-root.js';
import { STRATEGY_NAMES } from '../search/index.js';
import { parseSimParams, type SimParams } from '../landscape/sim.js';
import { defaultEngineCacheDir } from '../runner/engines/cache.js';
import { UsageError } from '../domain/errors.js';
import { OPTIONS, defaultOf, flagName, formatMs, optionSpec, type RawOptions } from './options.js';
import { DURATION_FORMS, LATENCY_FORMS, parseDurationMs, parseIntList, parseIntStrict, parseLatencyMs } from './units.js';

export const STRATEGIES = STRATEGY_NAMES;
export const LAUNCH_MODES = ['embedded', 'local', 'docker', 'remote', 'replay', 'sim'] as const;
export const OFFLINE_LAUNCH_MODES: readonly string[] = ['replay', 'sim'];
export const ENGINE_TARGETS = ['onnxruntime', 'tensorrt_plan'] as const;

export interface RunPlan {
  model: string;
  modelRepository: string;
  targetP99Ms: number;
  profile: { name: string; file: string };
  strategy: string;
  budget: number;
  seed: number;
  space: SearchSpace;
  maxConcurrency: number;
  windows: WindowSettings;
  load: {
    mode: 'concurrency' | 'rate';
    arrivals: 'constant' | 'poisson';
    maxRate: number;
    workers: number;
    transport: ClientTransport;
    /** Where request inputs travel. */
    sharedMemory: SharedMemoryKind;
  };
  launch: (typeof LAUNCH_MODES)[number];
  port: number;
  server: {
    tritonPath: string | null;
    tritonImage: string | null;
    gpus: string | null;
    dockerSocket: string | null;
    url: string | null;
    metricsUrl: string | null;
    /** Extra tritonserver flags (profile server.args). */
    args: string[];
  };
  engine: { target: (typeof ENGINE_TARGETS)[number]; cache: string };
  /**
   * The embedded server's GPU workers (TorchScript models) and GPU gauges: read here, once,
   * from the environment, and passed down to the server. Null: the package's own default.
   */
  gpu: GpuSettings;
  /** Wall-clock budget for the search, ms; null = none. */
  timeBudgetMs: number | null;
  /** replay: the landscape CSV and the noise to add. */
  landscape: string | null;
  replayNoise: number;
  /** sim: the simulated server's parameters (profile `sim:`). */
  sim: SimParams | null;
  db: string;
  outDir: string;
  json: boolean;
  quiet: boolean;
}

export interface GpuSettings {
  python: string;
  script: string | null;
  cacheDir: string | null;
  runTimeoutMs: number;
  cudaGraphs: boolean;
  device: number;
  log: boolean;
  nvidiaSmi: string;
}

/** Where a setting's value came from, for `tanalyze plan`. */
export interface SettingSource {
  source: 'default' | 'profile' | 'env' | 'flag' | 'stored';
  /** The flag, the environment variable, or `<profile file>: <key>`; for a default, 'default'. */
  where: string;
  /** The value as given (a default: its typed value). */
  value: unknown;
}

export interface Profile {
  name: string;
  file: string;
  /** Flattened dotted keys, e.g. `space.max_batch_size`. */
  values: Record<string, unknown>;
}

const PROFILE_KEYS = new Set(['description', ...OPTIONS.flatMap((o) => (o.profileKey ? [o.profileKey] : []))]);

export function profilesDir(): string {
  return fromPackageRoot('profiles');
}

export function listProfiles(): string[] {
  return readdirSync(profilesDir()).filter((f) => f.endsWith('.yaml')).map((f) => basename(f, '.yaml')).sort();
}

/** Reads a profile by name (profiles/<name>.yaml) or path; unknown keys are errors. */
export function loadProfile(nameOrFile: string, cwd = process.cwd()): Profile {
  const isPath = /[\\/]/.test(nameOrFile) || /\.ya?ml$/.test(nameOrFile);
  const file = isPath ? resolve(cwd, nameOrFile) : join(profilesDir(), `${nameOrFile}.yaml`);
  if (!existsSync(file)) {
    throw new UsageError([
      isPath
        ? `--profile: file '${file}' does not exist`
        : `--profile: '${nameOrFile}' is not a profile; accepted: ${listProfiles().join(', ')}, or a path to a YAML file`,
    ]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'), { logLevel: 'error' });
  } catch (e) {
    throw new UsageError([`${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`]);
  }
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  const walk = (node: unknown, prefix: string) => {
    if (node && typeof node === 'object' && !Array.isArray(node)) {
      for (const [k, v] of Object.entries(node)) {
        const key = prefix ? `${prefix}.${k}` : k;
        if (v && typeof v === 'object' && !Array.isArray(v)) walk(v, key);
        else if (PROFILE_KEYS.has(key) || key.startsWith('sim.')) values[key] = v;
        else problems.push(`${file}: unknown key '${key}'; accepted keys: ${[...PROFILE_KEYS].sort().join(', ')}`);
      }
    } else if (node !== null && node !== undefined) {
      problems.push(`${file}: a profile must be a YAML mapping of keys, found ${Array.isArray(node) ? 'a list' : typeof node}`);
    }
  };
  walk(doc, '');
  if (problems.length) throw new UsageError(problems);
  return { name: isPath ? basename(file) : nameOrFile, file, values };
}

/** {"a.b": 1} → {a: {b: 1}}, for sections read as nested objects (sim:). */
function unflatten(flat: Record<string, unknown>): Record<string, unknown> | undefined {
  if (Object.keys(flat).length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flat)) {
    const parts = k.split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]!] = v;
  }
  return out;
}

/** Where each option's value came from, for messages: `--budget` or `profiles/x.yaml: search.budget`. */
type Sourced = { value: unknown; from: string; source: SettingSource['source'] };

function pick(key: string, flags: RawOptions, env: Record<string, string | undefined>, profile: Profile): Sourced | undefined {
  const spec = optionSpec(key);
  if (spec.flags && flags[key] !== undefined) return { value: flags[key], from: flagName(spec), source: 'flag' };
  if (spec.env && env[spec.env] !== undefined && env[spec.env] !== '') return { value: env[spec.env], from: `${spec.env} (environment)`, source: 'env' };
  if (spec.profileKey && profile.values[spec.profileKey] !== undefined) return { value: profile.values[spec.profileKey], from: `${profile.file}: ${spec.profileKey}`, source: 'profile' };
  return undefined;
}

/** Validates everything and returns the plan, or throws one UsageError listing every problem. */
export function resolvePlan(flags: RawOptions, env: Record<string, string | undefined>, profile: Profile, cwd: string): RunPlan {
  return resolvePlanSourced(flags, env, profile, cwd).plan;
}

/** As resolvePlan, and where each setting came from (key of the option table → source). */
export function resolvePlanSourced(flags: RawOptions, env: Record<string, string | undefined>, profile: Profile, cwd: string, machine: Machine = thisMachine()): { plan: RunPlan; sources: Record<string, SettingSource> } {
  const problems: string[] = [];
  const sources: Record<string, SettingSource> = {};
  const get = (key: string): Sourced | undefined => {
    const s = pick(key, flags, env, profile);
    sources[key] = s ? { source: s.source, where: s.source === 'profile' ? s.from : s.from.replace(' (environment)', ''), value: s.value } : { source: 'default', where: 'default', value: optionSpec(key).default ?? null };
    return s;
  };
  for (const key of ['json', 'quiet']) sources[key] = flags[key] === true ? { source: 'flag', where: `--${key}`, value: true } : { source: 'default', where: 'default', value: false };
  sources['profile'] = flags['profile'] !== undefined ? { source: 'flag', where: '--profile', value: profile.name } : env['TANALYZE_PROFILE'] ? { source: 'env', where: 'TANALYZE_PROFILE', value: profile.name } : { source: 'default', where: 'default', value: profile.name };

  const str = (key: string, fallback: string = defaultOf<string>(key)): string => {
    const s = get(key);
    return s === undefined ? fallback : String(s.value);
  };
  const int = (key: string, min: number, fallback: number = defaultOf<number>(key)): number => {
    const s = get(key);
    if (s === undefined) return fallback;
    const n = typeof s.value === 'number' ? (Number.isSafeInteger(s.value) && s.value >= min ? s.value : null) : parseIntStrict(String(s.value), min);
    if (n === null) problems.push(`${s.from}: '${String(s.value)}' is not an integer ≥ ${min}`);
    return n ?? fallback;
  };
  const intList = (key: string, min: number, what: string): number[] => {
    const fallback = [...defaultOf<readonly number[]>(key)];
    const s = get(key);
    if (s === undefined) return fallback;
    const v = s.value;
    let list: number[] | null;
    if (Array.isArray(v)) list = v.every((x) => Number.isSafeInteger(x) && (x as number) >= min) ? (v as number[]) : null;
    else if (typeof v === 'number') list = Number.isSafeInteger(v) && v >= min ? [v] : null;
    else list = parseIntList(String(v), min);
    if (list === null || list.length === 0) {
      problems.push(`${s.from}: '${Array.isArray(v) ? `[${v.join(', ')}]` : String(v)}' is not a list of ${what}; accepted: integers ≥ ${min}, e.g. ${min === 0 ? '0,1000,5000' : '1,2,4'}`);
      return fallback;
    }
    return [...new Set(list)].sort((a, b) => a - b);
  };
  const duration = (key: string, fallbackMs: number = defaultOf<number>(key)): number => {
    const s = get(key);
    if (s === undefined) return fallbackMs;
    const ms = parseDurationMs(String(s.value));
    if (ms === null) problems.push(`${s.from}: '${String(s.value)}' is not a duration; accepted: ${DURATION_FORMS}`);
    return ms ?? fallbackMs;
  };

  const launchSrc = get('launch');
  const offline = launchSrc !== undefined && OFFLINE_LAUNCH_MODES.includes(String(launchSrc.value));
  const model = get('model');
  if (!offline && (model === undefined || String(model.value).trim() === '')) problems.push('--model: required; name a model folder of the model repository');

  let targetP99Ms = NaN;
  const p99 = get('p99');
  if (p99 === undefined) problems.push(`--p99: required (or target.p99 in the profile); accepted: ${LATENCY_FORMS}`);
  else {
    const ms = parseLatencyMs(String(p99.value));
    if (ms === null) problems.push(`${p99.from}: '${String(p99.value)}' is not a latency; accepted: ${LATENCY_FORMS}`);
    else targetP99Ms = ms;
  }

  const oneOf = (key: string, accepted: readonly string[], fallback: string = defaultOf<string>(key)): string => {
    const s = get(key);
    if (s === undefined) return fallback;
    const v = String(s.value);
    if (!accepted.includes(v)) problems.push(`${s.from}: '${v}' is not one of ${accepted.join(', ')}`);
    return v;
  };
  const strategy = oneOf('search', STRATEGIES);
  const launch = oneOf('launch', LAUNCH_MODES);
  const engineTarget = oneOf('engineTarget', ENGINE_TARGETS);
  const optional = (key: string): string | null => {
    const s = get(key);
    return s === undefined ? null : String(s.value);
  };
  const url = optional('url');
  if (launch === 'remote' && url === null) problems.push('--url: required with --launch remote; the gRPC address of a running Triton, e.g. triton-host:8001');
  const landscape = optional('landscape');
  if (launch === 'replay' && landscape === null) problems.push('--landscape: required with --launch replay; a CSV of measured points (tanalyze export-landscape writes one)');
  const noiseSrc = get('replayNoise');
  let replayNoise = defaultOf<number>('replayNoise');
  if (noiseSrc !== undefined) {
    const n = Number(noiseSrc.value);
    if (!(n >= 0 && n < 1) || String(noiseSrc.value).trim() === '') problems.push(`${noiseSrc.from}: '${String(noiseSrc.value)}' is not a noise level; accepted: a fraction from 0 to below 1, e.g. 0.05`);
    else replayNoise = n;
  }
  const timeBudgetSrc = get('timeBudget');
  let timeBudgetMs: number | null = null;
  if (timeBudgetSrc !== undefined) {
    timeBudgetMs = parseDurationMs(String(timeBudgetSrc.value));
    if (timeBudgetMs === null) problems.push(`${timeBudgetSrc.from}: '${String(timeBudgetSrc.value)}' is not a duration; accepted: ${DURATION_FORMS}`);
  }
  let sim: SimParams | null = null;
  if (launch === 'sim') {
    const simRaw = Object.fromEntries(Object.entries(profile.values).filter(([k]) => k.startsWith('sim.')).map(([k, v]) => [k.slice(4), v]));
    const parsed = parseSimParams(unflatten(simRaw), `${profile.file}: sim`);
    if (parsed.params === null) problems.push(...parsed.errors);
    else sim = parsed.params;
  }
  const argsSrc = get('serverArgs');
  let serverArgs: string[] = [...defaultOf<readonly string[]>('serverArgs')];
  if (argsSrc !== undefined) {
    const v = argsSrc.value;
    if (Array.isArray(v) && v.every((a) => typeof a === 'string')) serverArgs = v as string[];
    else problems.push(`${argsSrc.from}: '${String(v)}' is not a list of strings; accepted: e.g. ["--log-verbose=1"]`);
  }

  const precisionSrc = get('precisions');
  let precisions = [...defaultOf<readonly string[]>('precisions')] as Precision[];
  if (precisionSrc !== undefined) {
    const v = precisionSrc.value;
    const items = (Array.isArray(v) ? v.map(String) : String(v).split(',')).map((p) => p.trim().toUpperCase()).filter(Boolean);
    const bad = items.filter((p) => !(PRECISIONS as readonly string[]).includes(p));
    if (items.length === 0 || bad.length) problems.push(`${precisionSrc.from}: '${bad.join(',') || String(v)}' is not a precision; accepted: ${PRECISIONS.join(', ')}`);
    else precisions = [...new Set(items)] as Precision[];
  }

  const stabilitySrc = get('stability');
  let stability = defaultOf<number>('stability');
  if (stabilitySrc !== undefined) {
    const v = stabilitySrc.value;
    if (typeof v === 'number' && v > 0 && v < 1) stability = v;
    else problems.push(`${stabilitySrc.from}: '${String(v)}' is not a fraction between 0 and 1 (e.g. 0.10)`);
  }
  const minWindows = int('minWindows', 2);
  const warmupMs = duration('warmup');

  const maxWindows = int('maxWindows', 1);
  const loadMode = oneOf('load', ['concurrency', 'rate']) as RunPlan['load']['mode'];
  const arrivals = oneOf('arrivals', ['constant', 'poisson']) as RunPlan['load']['arrivals'];
  const transport = oneOf('clientTransport', [...CLIENT_TRANSPORTS]) as ClientTransport;
  const sharedMemory = oneOf('sharedMemory', [...SHARED_MEMORY_KINDS]) as SharedMemoryKind;
  if (sharedMemory === 'system') {
    const from = get('sharedMemory')!.from;
    problems.push(...sharedMemoryProblems(launch, url, from));
  }
  const maxExtraWindows = int('maxExtraWindows', 0);
  if (maxWindows < minWindows) {
    const from = get('maxWindows')?.from ?? 'max_windows (default)';
    problems.push(`${from}: ${maxWindows} is below the ${minWindows} windows a stable measurement needs (load.min_windows); accepted: at least ${minWindows}`);
  }
  const gpu = gpuSettings(get, problems);

  const plan: RunPlan = {
    model: model === undefined ? (launch === 'replay' && landscape ? basename(landscape).replace(/\.csv$/, '') : launch) : String(model.value).trim(),
    modelRepository: resolve(cwd, str('modelRepository', fromPackageRoot('examples', 'model_repository'))),
    targetP99Ms,
    profile: { name: profile.name, file: profile.file },
    strategy,
    budget: int('budget', 1),
    seed: int('seed', 0),
    space: {
      maxBatchSizes: intList('maxBatchSizes', 1, 'max_batch_size values'),
      maxQueueDelaysUs: intList('queueDelays', 0, 'queue delays in microseconds'),
      instanceCounts: intList('instanceCounts', 1, 'instance counts'),
      precisions,
    },
    maxConcurrency: int('maxConcurrency', 1),
    windows: { windowMs: duration('window'), minWindows, maxWindows, stabilityTolerance: stability, warmupMs, warmupRequests: int('warmupRequests', 0), maxExtraWindows, minWindowRequests: int('windowRequests', 0) },
    // Open loop against the embedded server: the pacer gets a thread of its own, since the
    // server's work in the main thread would otherwise make it send late.
    load: { mode: loadMode, arrivals, maxRate: int('maxRate', 1), workers: int('loadWorkers', 0, loadMode === 'rate' && launch === 'embedded' ? 1 : 0), transport, sharedMemory },
    launch: launch as RunPlan['launch'],
    port: int('port', 0),
    server: {
      tritonPath: optional('tritonPath'),
      tritonImage: str('tritonImage'),
      gpus: str('gpus'),
      dockerSocket: optional('dockerSocket'),
      url,
      metricsUrl: optional('metricsUrl'),
      args: serverArgs,
    },
    engine: { target: engineTarget as RunPlan['engine']['target'], cache: resolve(cwd, optional('engineCache') ?? defaultEngineCacheDir(env)) },
    gpu,
    timeBudgetMs,
    landscape: landscape === null ? null : resolve(cwd, landscape),
    replayNoise,
    sim,
    db: resolve(cwd, str('db')),
    outDir: resolve(cwd, str('outDir')),
    json: flags.json === true,
    quiet: flags.quiet === true,
  };
  if (plan.port > 65535) problems.push(`--port: ${plan.port} is not a port; accepted: 0 to 65535`);
  if (!problems.length) problems.push(...machineLimitProblems(plan, machine, (key) => get(key)?.from ?? `${flagName(optionSpec(key))} (default)`));
  if (problems.length) throw new UsageError(problems, 'Run `tanalyze --help` for the flags and their forms.');
  return { plan, sources };
}

/**
 * Why `--shared-memory system` cannot work with this launch: the server must map this
 * host's /dev/shm. Replay and sim send no requests, so the setting would silently mean
 * nothing: refused rather than ignored. A Docker container has a /dev/shm of its own. A
 * remote server must be reached on a loopback address (same host). Pure.
 */
export function sharedMemoryProblems(launch: string, url: string | null, from: string): string[] {
  if (OFFLINE_LAUNCH_MODES.includes(launch)) {
    return [`${from}: 'system' does nothing with --launch ${launch}, which answers from ${launch === 'replay' ? 'a recorded landscape' : 'a simulation'} and sends no requests; accepted: none`];
  }
  if (launch === 'docker') {
    return [`${from}: 'system' cannot work with --launch docker: the Triton container has its own /dev/shm, so it cannot open this host's shared-memory regions; accepted: none, or --launch local`];
  }
  if (launch === 'remote' && url !== null && !isLoopbackAddress(url)) {
    return [`${from}: 'system' needs the server on this host, but --url '${url}' is not a loopback address (the server maps this host's /dev/shm); accepted: none, or a --url on 127.0.0.1, ::1 or localhost`];
  }
  return [];
}

/** What the run is checked against: the cores and memory of the machine tanalyze runs on. */
export interface Machine {
  cores: number;
  memoryBytes: number;
}

export function thisMachine(): Machine {
  return { cores: availableParallelism(), memoryBytes: totalmem() };
}

/** An embedded ONNX Runtime instance is a process of about this size (32 took 2.8 GB). */
const INSTANCE_MEMORY_BYTES = 100 * 2 ** 20;
/** Requests in flight per core the load generator keeps up with. */
const CONCURRENCY_PER_CORE = 256;

/**
 * Settings that would overwhelm this machine (threads, processes, in-flight requests beyond
 * its cores and memory), and a time budget too short to measure one configuration: one problem
 * per setting, naming where it came from, the value and the limit.
 */
export function machineLimitProblems(plan: RunPlan, machine: Machine, from: (key: string) => string): string[] {
  const problems: string[] = [];
  const cores = Math.max(1, machine.cores);
  const gib = (machine.memoryBytes / 2 ** 30).toFixed(1);
  if (plan.load.workers > cores) {
    problems.push(`${from('loadWorkers')}: ${plan.load.workers} load workers is more than this machine's ${cores} cores (each worker is a thread that needs a core); accepted: 0 to ${cores}`);
  }
  const offline = OFFLINE_LAUNCH_MODES.includes(plan.launch) || plan.launch === 'remote';
  if (!offline) {
    const maxInstances = Math.max(1, Math.min(cores * 8, Math.floor(machine.memoryBytes / 2 / INSTANCE_MEMORY_BYTES)));
    const tooMany = plan.space.instanceCounts.filter((n) => n > maxInstances);
    if (tooMany.length) {
      problems.push(`${from('instanceCounts')}: ${tooMany.join(', ')} instances is more than this machine runs (${cores} cores, ${gib} GiB memory, about 100 MiB per instance); accepted: 1 to ${maxInstances}`);
    }
    const minMs = plan.windows.warmupMs + plan.windows.minWindows * plan.windows.windowMs;
    if (plan.timeBudgetMs !== null && plan.timeBudgetMs < minMs) {
      problems.push(`${from('timeBudget')}: ${formatMs(plan.timeBudgetMs)} cannot measure one configuration (warm-up plus ${plan.windows.minWindows} windows of ${formatMs(plan.windows.windowMs)} take ${formatMs(minMs)}); accepted: at least ${formatMs(minMs)}`);
    }
  }
  const maxConcurrency = cores * CONCURRENCY_PER_CORE;
  if (plan.maxConcurrency > maxConcurrency) {
    problems.push(`${from('maxConcurrency')}: ${plan.maxConcurrency} requests in flight is more than this machine's ${cores} cores drive; accepted: 1 to ${maxConcurrency}`);
  }
  return problems;
}

/** The GPU workers' settings from the environment alone (benchmarks that start the server themselves). */
export function gpuSettingsFromEnv(env: Record<string, string | undefined>): GpuSettings {
  const problems: string[] = [];
  const none: Profile = { name: 'none', file: 'none', values: {} };
  const settings = gpuSettings((key) => pick(key, {}, env, none), problems);
  if (problems.length) throw new UsageError(problems);
  return settings;
}

/** The GPU workers' settings, from the environment variables of the option table. */
function gpuSettings(get: (key: string) => Sourced | undefined, problems: string[]): GpuSettings {
  const text = (key: string): string | null => {
    const s = get(key);
    return s === undefined ? null : String(s.value);
  };
  const int = (key: string, min: number): number => {
    const s = get(key);
    if (s === undefined) return defaultOf<number>(key);
    const n = parseIntStrict(String(s.value), min);
    if (n === null) problems.push(`${s.from}: '${String(s.value)}' is not an integer ≥ ${min}`);
    return n ?? defaultOf<number>(key);
  };
  const onOff = (key: string): boolean => {
    const s = get(key);
    if (s === undefined) return defaultOf<boolean>(key);
    const v = String(s.value).trim().toLowerCase();
    if (['1', 'true', 'on', 'yes'].includes(v)) return true;
    if (['0', 'false', 'off', 'no'].includes(v)) return false;
    problems.push(`${s.from}: '${String(s.value)}' is not on or off; accepted: 1 or 0`);
    return defaultOf<boolean>(key);
  };
  return {
    python: text('gpuPython') ?? defaultOf<string>('gpuPython'),
    script: text('gpuWorker'),
    cacheDir: text('gpuCache'),
    runTimeoutMs: int('gpuRunTimeoutMs', 1),
    cudaGraphs: onOff('gpuCudaGraphs'),
    device: int('gpuDevice', 0),
    log: onOff('gpuLog'),
    nvidiaSmi: text('nvidiaSmi') ?? defaultOf<string>('nvidiaSmi'),
  };
}

/** Each option's value as the plan holds it, for `tanalyze plan` and for comparing a resumed run's flags with its stored plan. */
const PLAN_VALUES: Record<string, (p: RunPlan) => unknown> = {
  model: (p) => p.model,
  p99: (p) => p.targetP99Ms,
  modelRepository: (p) => p.modelRepository,
  profile: (p) => p.profile.name,
  search: (p) => p.strategy,
  budget: (p) => p.budget,
  timeBudget: (p) => p.timeBudgetMs,
  seed: (p) => p.seed,
  maxBatchSizes: (p) => p.space.maxBatchSizes,
  queueDelays: (p) => p.space.maxQueueDelaysUs,
  instanceCounts: (p) => p.space.instanceCounts,
  precisions: (p) => p.space.precisions,
  maxConcurrency: (p) => p.maxConcurrency,
  window: (p) => p.windows.windowMs,
  load: (p) => p.load.mode,
  arrivals: (p) => p.load.arrivals,
  maxRate: (p) => p.load.maxRate,
  windowRequests: (p) => p.windows.minWindowRequests,
  warmupRequests: (p) => p.windows.warmupRequests,
  loadWorkers: (p) => p.load.workers,
  clientTransport: (p) => p.load.transport,
  sharedMemory: (p) => p.load.sharedMemory,
  maxWindows: (p) => p.windows.maxWindows,
  minWindows: (p) => p.windows.minWindows,
  stability: (p) => p.windows.stabilityTolerance,
  warmup: (p) => p.windows.warmupMs,
  maxExtraWindows: (p) => p.windows.maxExtraWindows,
  launch: (p) => p.launch,
  port: (p) => p.port,
  tritonPath: (p) => p.server.tritonPath,
  tritonImage: (p) => p.server.tritonImage,
  gpus: (p) => p.server.gpus,
  dockerSocket: (p) => p.server.dockerSocket,
  url: (p) => p.server.url,
  metricsUrl: (p) => p.server.metricsUrl,
  serverArgs: (p) => p.server.args,
  landscape: (p) => p.landscape,
  replayNoise: (p) => p.replayNoise,
  engineTarget: (p) => p.engine.target,
  engineCache: (p) => p.engine.cache,
  gpuPython: (p) => p.gpu?.python,
  gpuWorker: (p) => p.gpu?.script,
  gpuCache: (p) => p.gpu?.cacheDir,
  gpuRunTimeoutMs: (p) => p.gpu?.runTimeoutMs,
  gpuCudaGraphs: (p) => p.gpu?.cudaGraphs,
  gpuDevice: (p) => p.gpu?.device,
  gpuLog: (p) => p.gpu?.log,
  nvidiaSmi: (p) => p.gpu?.nvidiaSmi,
  db: (p) => p.db,
  outDir: (p) => p.outDir,
  json: (p) => p.json,
  quiet: (p) => p.quiet,
};

/** The keys of the option table that a plan holds a value for, in the table's order. */
export const PLAN_KEYS: readonly string[] = OPTIONS.map((o) => o.key).filter((k) => k in PLAN_VALUES);

/** A plan value as a person reads it (and could give it): 500ms, 50ms, 10%, 4,8,16; '-' for none. */
export function formatPlanValue(key: string, v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.length ? v.join(',') : '[]';
  const spec = optionSpec(key);
  if (typeof v === 'number' && (spec.unit === 'ms' || key === 'timeBudget')) return formatMs(v);
  if (typeof v === 'number' && key === 'p99') return `${v}ms`;
  if (typeof v === 'number' && spec.unit === 'fraction') return `${+(v * 100).toFixed(4)}%`;
  return String(v);
}

/** An option's value in a plan (undefined for options a plan does not hold, such as --resume). */
export function planValue(key: string, plan: RunPlan): unknown {
  return PLAN_VALUES[key]?.(plan);
}
