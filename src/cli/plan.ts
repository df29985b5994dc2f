/**
 * From flags, environment and profile to a validated RunPlan. Pure apart from
 * `loadProfile` (reads one YAML file); every problem is collected and reported together.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Precision, SearchSpace } from '../domain/serving.js';
import { PRECISIONS } from '../domain/serving.js';
import { CLIENT_TRANSPORTS, type ClientTransport } from '../domain/load.js';
import { type WindowSettings } from '../domain/measurement.js';
import { fromPackageRoot } from '../util/package-root.js';
import { STRATEGY_NAMES, DEFAULT_STRATEGY } from '../search/index.js';
import { parseSimParams, type SimParams } from '../landscape/sim.js';
import { defaultEngineCacheDir } from '../runner/engines/cache.js';
import { UsageError } from '../domain/errors.js';
import { RUN_OPTIONS, type RawOptions } from './options.js';
import { REGRESS_OPTIONS } from '../regress/commands.js';
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
  load: { mode: 'concurrency' | 'rate'; arrivals: 'constant' | 'poisson'; maxRate: number; workers: number; transport: ClientTransport };
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

export interface Profile {
  name: string;
  file: string;
  /** Flattened dotted keys, e.g. `space.max_batch_size`. */
  values: Record<string, unknown>;
}

const PROFILE_KEYS = new Set([
  'description',
  ...RUN_OPTIONS.flatMap((o) => (o.profileKey ? [o.profileKey] : [])),
  'load.min_windows', 'load.stability', 'load.warmup', 'load.max_extra_windows', 'server.args',
  ...REGRESS_OPTIONS.flatMap((o) => (o.profileKey ? [o.profileKey] : [])),
]);

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
type Sourced = { value: unknown; from: string };

function pick(key: string, flags: RawOptions, env: Record<string, string | undefined>, profile: Profile): Sourced | undefined {
  const spec = RUN_OPTIONS.find((o) => o.key === key);
  const flagName = spec ? spec.flags.split(' ')[0]! : key;
  if (flags[key] !== undefined) return { value: flags[key], from: flagName };
  if (spec?.env && env[spec.env] !== undefined && env[spec.env] !== '') return { value: env[spec.env], from: `${spec.env} (environment)` };
  const pk = spec?.profileKey ?? key;
  if (profile.values[pk] !== undefined) return { value: profile.values[pk], from: `${profile.file}: ${pk}` };
  return undefined;
}

/** Validates everything and returns the plan, or throws one UsageError listing every problem. */
export function resolvePlan(flags: RawOptions, env: Record<string, string | undefined>, profile: Profile, cwd = process.cwd()): RunPlan {
  const problems: string[] = [];
  const get = (key: string) => pick(key, flags, env, profile);

  const str = (key: string, fallback: string): string => {
    const s = get(key);
    return s === undefined ? fallback : String(s.value);
  };
  const int = (key: string, fallback: number, min: number): number => {
    const s = get(key);
    if (s === undefined) return fallback;
    const n = typeof s.value === 'number' ? (Number.isSafeInteger(s.value) && s.value >= min ? s.value : null) : parseIntStrict(String(s.value), min);
    if (n === null) problems.push(`${s.from}: '${String(s.value)}' is not an integer ≥ ${min}`);
    return n ?? fallback;
  };
  const intList = (key: string, fallback: number[], min: number, what: string): number[] => {
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
  const duration = (key: string, fallbackMs: number): number => {
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

  const oneOf = (key: string, fallback: string, accepted: readonly string[]): string => {
    const s = get(key);
    if (s === undefined) return fallback;
    const v = String(s.value);
    if (!accepted.includes(v)) problems.push(`${s.from}: '${v}' is not one of ${accepted.join(', ')}`);
    return v;
  };
  const strategy = oneOf('search', DEFAULT_STRATEGY, STRATEGIES);
  const launch = oneOf('launch', 'embedded', LAUNCH_MODES);
  const engineTarget = oneOf('engineTarget', 'onnxruntime', ENGINE_TARGETS);
  const optional = (key: string): string | null => {
    const s = get(key);
    return s === undefined ? null : String(s.value);
  };
  const url = optional('url');
  if (launch === 'remote' && url === null) problems.push('--url: required with --launch remote; the gRPC address of a running Triton, e.g. triton-host:8001');
  const landscape = optional('landscape');
  if (launch === 'replay' && landscape === null) problems.push('--landscape: required with --launch replay; a CSV of measured points (tanalyze export-landscape writes one)');
  const noiseSrc = get('replayNoise');
  let replayNoise = 0;
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
  const argsSrc = profile.values['server.args'];
  let serverArgs: string[] = [];
  if (argsSrc !== undefined) {
    if (Array.isArray(argsSrc) && argsSrc.every((a) => typeof a === 'string')) serverArgs = argsSrc as string[];
    else problems.push(`${profile.file}: server.args: '${String(argsSrc)}' is not a list of strings; accepted: e.g. ["--log-verbose=1"]`);
  }

  const precisionSrc = get('precisions');
  let precisions: Precision[] = ['FP32'];
  if (precisionSrc !== undefined) {
    const v = precisionSrc.value;
    const items = (Array.isArray(v) ? v.map(String) : String(v).split(',')).map((p) => p.trim().toUpperCase()).filter(Boolean);
    const bad = items.filter((p) => !(PRECISIONS as readonly string[]).includes(p));
    if (items.length === 0 || bad.length) problems.push(`${precisionSrc.from}: '${bad.join(',') || String(v)}' is not a precision; accepted: ${PRECISIONS.join(', ')}`);
    else precisions = [...new Set(items)] as Precision[];
  }

  const stabilitySrc = profile.values['load.stability'];
  let stability = 0.1;
  if (stabilitySrc !== undefined) {
    if (typeof stabilitySrc === 'number' && stabilitySrc > 0 && stabilitySrc < 1) stability = stabilitySrc;
    else problems.push(`${profile.file}: load.stability: '${String(stabilitySrc)}' is not a fraction between 0 and 1 (e.g. 0.10)`);
  }
  const minWindowsSrc = profile.values['load.min_windows'];
  let minWindows = 3;
  if (minWindowsSrc !== undefined) {
    if (Number.isSafeInteger(minWindowsSrc) && (minWindowsSrc as number) >= 2) minWindows = minWindowsSrc as number;
    else problems.push(`${profile.file}: load.min_windows: '${String(minWindowsSrc)}' is not an integer ≥ 2`);
  }
  const warmupSrc = profile.values['load.warmup'];
  let warmupMs = 300;
  if (warmupSrc !== undefined) {
    const ms = parseDurationMs(String(warmupSrc));
    if (ms === null) problems.push(`${profile.file}: load.warmup: '${String(warmupSrc)}' is not a duration; accepted: ${DURATION_FORMS}`);
    else warmupMs = ms;
  }

  const maxWindows = int('maxWindows', 10, 1);
  const loadMode = oneOf('load', 'concurrency', ['concurrency', 'rate']) as RunPlan['load']['mode'];
  const arrivals = oneOf('arrivals', 'constant', ['constant', 'poisson']) as RunPlan['load']['arrivals'];
  const transport = oneOf('clientTransport', 'http2', [...CLIENT_TRANSPORTS]) as ClientTransport;
  const extraSrc = profile.values['load.max_extra_windows'];
  let maxExtraWindows = 4;
  if (extraSrc !== undefined) {
    if (Number.isSafeInteger(extraSrc) && (extraSrc as number) >= 0) maxExtraWindows = extraSrc as number;
    else problems.push(`${profile.file}: load.max_extra_windows: '${String(extraSrc)}' is not an integer ≥ 0`);
  }
  if (maxWindows < minWindows) {
    const from = get('maxWindows')?.from ?? 'max_windows (default)';
    problems.push(`${from}: ${maxWindows} is below the ${minWindows} windows a stable measurement needs (${profile.file}: load.min_windows); accepted: at least ${minWindows}`);
  }

  const plan: RunPlan = {
    model: model === undefined ? (launch === 'replay' && landscape ? basename(landscape).replace(/\.csv$/, '') : launch) : String(model.value).trim(),
    modelRepository: resolve(cwd, str('modelRepository', fromPackageRoot('examples', 'model_repository'))),
    targetP99Ms,
    profile: { name: profile.name, file: profile.file },
    strategy,
    budget: int('budget', 20, 1),
    seed: int('seed', 1, 0),
    space: {
      maxBatchSizes: intList('maxBatchSizes', [4, 8, 16], 1, 'max_batch_size values'),
      maxQueueDelaysUs: intList('queueDelays', [0, 2000, 8000], 0, 'queue delays in microseconds'),
      instanceCounts: intList('instanceCounts', [1, 2], 1, 'instance counts'),
      precisions,
    },
    maxConcurrency: int('maxConcurrency', 64, 1),
    windows: { windowMs: duration('window', 500), minWindows, maxWindows, stabilityTolerance: stability, warmupMs, warmupRequests: int('warmupRequests', 0, 0), maxExtraWindows, minWindowRequests: int('windowRequests', 200, 0) },
    // Open loop against the embedded server: the pacer gets a thread of its own, since the
    // server's work in the main thread would otherwise make it send late.
    load: { mode: loadMode, arrivals, maxRate: int('maxRate', 100_000, 1), workers: int('loadWorkers', loadMode === 'rate' && launch === 'embedded' ? 1 : 0, 0), transport },
    launch: launch as RunPlan['launch'],
    port: int('port', 0, 0),
    server: {
      tritonPath: optional('tritonPath'),
      tritonImage: optional('tritonImage'),
      gpus: optional('gpus'),
      dockerSocket: optional('dockerSocket'),
      url,
      metricsUrl: optional('metricsUrl'),
      args: serverArgs,
    },
    engine: { target: engineTarget as RunPlan['engine']['target'], cache: resolve(cwd, optional('engineCache') ?? defaultEngineCacheDir(env)) },
    timeBudgetMs,
    landscape: landscape === null ? null : resolve(cwd, landscape),
    replayNoise,
    sim,
    db: resolve(cwd, str('db', join('reports', 'tanalyze.db'))),
    outDir: resolve(cwd, str('outDir', 'reports')),
    json: flags.json === true,
    quiet: flags.quiet === true,
  };
  if (plan.port > 65535) problems.push(`--port: ${plan.port} is not a port; accepted: 0 to 65535`);
  if (problems.length) throw new UsageError(problems, 'Run `tanalyze --help` for the flags and their forms.');
  return plan;
}
