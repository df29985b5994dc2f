/**
 * The plan of a run or of `tanalyze plan`: from flags, environment and profile; or, with
 * --resume, the resumed run's stored plan, with the flags given beside it checked against it.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliIO } from './io.js';
import { UsageError } from '../domain/errors.js';
import { Store, StoreError, type RunRow } from '../store/store.js';
import { defaultOf, flagName, optionSpec, OPTIONS, type CommandName } from './options.js';
import { formatPlanValue, loadProfile, planValue, PLAN_KEYS, resolvePlanSourced, type Profile, type RunPlan, type SettingSource } from './plan.js';

/**
 * Settings a resumed run may take from the flags given beside --resume: they do not change
 * what is measured (how long to go on, where outputs go, how load is sent, machine paths; a
 * moved model repository is checked by the hash of the model files).
 */
export const RESUME_MAY_CHANGE: ReadonlySet<string> = new Set([
  'budget', 'timeBudget', 'db', 'outDir', 'json', 'quiet', 'port', 'loadWorkers', 'clientTransport', 'engineCache',
  'modelRepository', 'tritonPath', 'dockerSocket',
  'gpuPython', 'gpuWorker', 'gpuCache', 'gpuRunTimeoutMs', 'gpuCudaGraphs', 'gpuDevice', 'gpuLog', 'nvidiaSmi',
]);

export interface ResolvedRunPlan {
  plan: RunPlan;
  /** Where each setting came from; 'stored' when a resumed run's stored plan gave it. */
  sources: Record<string, SettingSource>;
  /** The run --resume named, when given. */
  resumed: RunRow | null;
}

/** The profile a command reads: --profile, else TANALYZE_PROFILE, else the table's default for the command. */
export function profileFor(flags: Record<string, unknown>, io: CliIO, command: CommandName): Profile {
  const ref = (flags.profile as string | undefined) ?? (io.env.TANALYZE_PROFILE || undefined) ?? defaultOf<string>('profile', command);
  return loadProfile(ref, io.cwd);
}

export async function resolveRunPlan(flags: Record<string, unknown>, io: CliIO): Promise<ResolvedRunPlan> {
  if (typeof flags.resume === 'string' && flags.fresh === true) {
    throw new UsageError([`--resume ${flags.resume} and --fresh contradict each other: --resume goes on with a stored run, --fresh starts a new one; give one of them`]);
  }
  if (typeof flags.resume !== 'string') return { ...resolvePlanSourced(flags, io.env, profileFor(flags, io, 'run'), io.cwd), resumed: null };
  return resumePlan(flags.resume, flags, io);
}

/** A stored plan as the run stored it (with its resume fingerprint beside it): the plan alone. */
function storedPlanOf(run: RunRow): RunPlan | null {
  const p = run.plan as (RunPlan & { settings?: unknown; settingsHash?: unknown; pid?: unknown; host?: unknown }) | null;
  if (!p || typeof p !== 'object' || !p.windows || !p.space || !p.load) return null;
  const { settings: _s, settingsHash: _h, pid: _p, host: _o, ...plan } = p;
  // Plans stored before --shared-memory existed sent their inputs in the requests.
  return { ...plan, load: { ...plan.load, sharedMemory: plan.load.sharedMemory ?? 'none' } } as RunPlan;
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v ?? null);
}


async function resumePlan(ref: string, flags: Record<string, unknown>, io: CliIO): Promise<ResolvedRunPlan> {
  const db = resolve(io.cwd, (flags.db as string | undefined) ?? (io.env.TANALYZE_DB || undefined) ?? defaultOf<string>('db'));
  if (!existsSync(db)) throw new UsageError([`--resume: the database '${db}' does not exist; name the database of the run with --db`]);
  const store = Store.open(db);
  let run: RunRow;
  try {
    run = store.resolveRun(ref, typeof flags.model === 'string' ? flags.model : undefined);
  } catch (e) {
    if (e instanceof StoreError && e.code === 'not-found') throw new UsageError([`--resume: ${e.message}`]);
    throw e;
  } finally {
    store.close();
  }
  const stored = storedPlanOf(run);
  if (!stored) throw new UsageError([`--resume: run ${run.id} in ${db} has no stored settings (an older version wrote it); give its flags again, or start a new run with --fresh`]);

  // The flags given beside --resume, resolved over the stored run's model, target and launch
  // (so nothing required is missing), then compared with the stored plan one by one.
  const given = Object.keys(flags).filter((k) => flags[k] !== undefined && k !== 'resume' && k !== 'fresh' && OPTIONS.some((o) => o.key === k && o.flags));
  let profile: Profile;
  try {
    profile = flags.profile !== undefined ? profileFor(flags, io, 'run') : loadProfile(stored.profile.file, io.cwd);
  } catch {
    profile = { name: stored.profile.name, file: stored.profile.file, values: {} };
  }
  const base = {
    model: stored.model,
    p99: `${stored.targetP99Ms}ms`,
    launch: stored.launch,
    ...(stored.landscape ? { landscape: stored.landscape } : {}),
    ...(stored.server.url ? { url: stored.server.url } : {}),
  };
  const resolved = resolvePlanSourced({ ...base, ...flags }, io.env, profile, io.cwd);
  const contradictions: string[] = [];
  for (const key of given) {
    if (RESUME_MAY_CHANGE.has(key)) continue;
    const before = planValue(key, stored);
    const now = planValue(key, resolved.plan);
    if (before === undefined || stableJson(before) === stableJson(now)) continue;
    const was = formatPlanValue(key, before);
    contradictions.push(`${flagName(optionSpec(key))}: '${String(flags[key])}' contradicts run ${run.id}'s stored setting '${was}'; accepted: leave it out (the stored value is used) or '${was}'`);
  }
  if (contradictions.length) throw new UsageError(contradictions, 'A resumed run keeps the settings it was started with; start a new run with --fresh to change them.');

  const takeGiven = (key: string) => given.includes(key) && RESUME_MAY_CHANGE.has(key);
  const plan: RunPlan = {
    ...stored,
    // Machine-local and output settings: as given now (flags, environment), not as stored.
    gpu: resolved.plan.gpu,
    db,
    budget: takeGiven('budget') ? resolved.plan.budget : stored.budget,
    timeBudgetMs: takeGiven('timeBudget') ? resolved.plan.timeBudgetMs : stored.timeBudgetMs,
    outDir: takeGiven('outDir') ? resolved.plan.outDir : stored.outDir,
    port: takeGiven('port') ? resolved.plan.port : stored.port,
    modelRepository: takeGiven('modelRepository') ? resolved.plan.modelRepository : stored.modelRepository,
    server: {
      ...stored.server,
      tritonPath: takeGiven('tritonPath') ? resolved.plan.server.tritonPath : stored.server.tritonPath,
      dockerSocket: takeGiven('dockerSocket') ? resolved.plan.server.dockerSocket : stored.server.dockerSocket,
    },
    load: {
      ...stored.load,
      workers: takeGiven('loadWorkers') ? resolved.plan.load.workers : stored.load.workers,
      transport: takeGiven('clientTransport') ? resolved.plan.load.transport : stored.load.transport,
    },
    engine: { ...stored.engine, cache: takeGiven('engineCache') ? resolved.plan.engine.cache : stored.engine.cache },
    json: flags.json === true,
    quiet: flags.quiet === true,
  };
  const sources: Record<string, SettingSource> = {};
  for (const key of PLAN_KEYS) {
    if (key === 'json' || key === 'quiet') {
      sources[key] = flags[key] === true ? { source: 'flag', where: flagName(optionSpec(key)), value: true } : { source: 'default', where: 'default', value: false };
      continue;
    }
    const fromNow = takeGiven(key) || key.startsWith('gpu') || key === 'nvidiaSmi';
    sources[key] = fromNow && resolved.sources[key] ? resolved.sources[key]! : { source: 'stored', where: `run ${run.id}`, value: planValue(key, stored) };
  }
  return { plan, sources, resumed: run };
}
