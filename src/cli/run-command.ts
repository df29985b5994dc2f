/** The main job: plan → search → report. The only place that builds the I/O objects. */
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import type { CliIO } from './io.js';
import { EXIT_CODES, InfrastructureError, UsageError } from './errors.js';
import { loadProfile, resolvePlan, type RunPlan } from './plan.js';
import { toolVersion } from './version.js';
import { readModelRepository } from '../config/variant.js';
import { printModelConfig } from '../config/pbtxt.js';
import { applyServingConfig } from '../config/variant.js';
import { summarizeRun, formatRunSummary, type RunOutputs } from '../report/summary.js';
import { Store, StoreError, type RunRow } from '../store/store.js';
import { changedSettings, hashModelDir, settingsHash, type ResumableSettings } from '../runner/fingerprint.js';
import { strategyByName } from '../search/index.js';
import { createBuilderFor, createLauncherFor, loadOptionsFor } from './serving.js';
import { installCleanupHooks, killAllChildrenSync } from '../runner/launchers/cleanup.js';
import { modelFileForPrecision, runSearch, type RepoModel, type SearchContext } from '../runner/search-loop.js';
import type { Launcher } from '../runner/types.js';
import type { SearchSpace } from '../search/types.js';
import { LandscapeError, landscapeSpace, parseLandscape } from '../landscape/csv.js';
import { replayMeasure } from '../landscape/replay.js';
import { OfflineLauncher, simMeasureConfig } from '../landscape/offline.js';
import { createHash } from 'node:crypto';
import { LoadWorkerPool } from '../runner/load-workers.js';
import { MetricsScraper } from '../runner/metrics.js';
import { metricsUrlOf } from '../runner/launchers/index.js';
import { EmbeddedLauncher } from '../runner/launchers/embedded.js';
import type { LoadPoint } from '../runner/types.js';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { measureConfiguration } from '../runner/measure-config.js';
import { createInferenceClient } from '../protocol/client.js';
import { reportDataFromStore } from '../report/from-store.js';
import { writeReport } from '../report/write.js';
import type { ReportData } from '../report/types.js';

export async function runCommand(flags: Record<string, unknown>, io: CliIO): Promise<number> {
  const profileName = (flags.profile as string | undefined) ?? io.env.TANALYZE_PROFILE ?? 'default';
  const profile = loadProfile(profileName, io.cwd);
  const plan = resolvePlan(flags, io.env, profile, io.cwd);
  const offline = plan.launch === 'replay' || plan.launch === 'sim' ? await openOffline(plan) : null;
  const model = offline ? offline.model : await findModel(plan);
  const space = offline?.space ?? plan.space;
  const log = plan.quiet || plan.json ? () => {} : (line: string) => io.stderr(line + '\n');

  const store = openStore(plan.db);
  const started = Date.now();
  const settings: ResumableSettings = {
    model: plan.model,
    modelHash: offline ? offline.hash : await hashModelDir(model.dir),
    targetP99Ms: plan.targetP99Ms,
    strategy: plan.strategy,
    seed: plan.seed,
    space,
    maxConcurrency: plan.maxConcurrency,
    windows: plan.windows,
    // The number of load workers does not change what is measured.
    load: { mode: plan.load.mode, arrivals: plan.load.arrivals, maxRate: plan.load.maxRate },
    launch: plan.launch,
  };
  const storedPlan = { ...plan, settings, settingsHash: settingsHash(settings), pid: process.pid, host: hostname() };
  let run = findRunToResume(store, flags, plan, settings, log);
  const wallBefore = run?.wallS ?? 0;
  if (run) {
    run = store.updateRun(run.id, { status: 'running', budget: plan.budget, plan: storedPlan, finishedAt: null });
  } else {
    run = store.createRun({
      model: plan.model,
      targetP99Ms: plan.targetP99Ms,
      strategy: plan.strategy,
      seed: plan.seed,
      budget: plan.budget,
      launch: plan.launch,
      toolVersion: toolVersion(),
      hardware: hardwareDescription(),
      plan: storedPlan,
    });
  }
  const runDir = join(plan.outDir, run.id);
  const variantRepo = join(runDir, 'model_repository');
  await mkdir(offline ? runDir : variantRepo, { recursive: true });
  log(`tanalyze ${toolVersion()}: run ${run.id}, model '${plan.model}', p99 target ${plan.targetP99Ms} ms, ${plan.strategy} search, budget ${plan.budget}`);

  // First Ctrl-C: finish the current trial, then report what was measured. Second: stop now.
  let stopRequested = false;
  const onSignal = () => {
    if (stopRequested) {
      io.stderr('tanalyze: stopping now\n');
      killAllChildrenSync(); // a tritonserver tanalyze started; embedded instances exit with their parent
      process.exit(EXIT_CODES.interrupted);
    }
    stopRequested = true;
    io.stderr('tanalyze: stopping after the current configuration (Ctrl-C again to stop now)\n');
  };
  installCleanupHooks();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const launcher = offline ? offline.launcher : createLauncherFor(plan, { variantRepo, runId: run.id, runDir }, log);
  const builder = offline ? undefined : createBuilderFor(plan, model.config, log);
  let stopReason = 'unknown';
  let client: ReturnType<typeof createInferenceClient> | undefined;
  let pool: LoadWorkerPool | undefined;
  try {
    const server = await launcher.start();
    store.updateRun(run.id, { serverVersion: server.serverVersion });
    log(`server: ${server.serverVersion} at ${server.grpcAddress}`);
    if (!offline) client = createInferenceClient(server.grpcAddress);
    const inferClient = client;
    if (!offline && plan.load.workers > 0) pool = await LoadWorkerPool.start({ address: server.grpcAddress, workers: plan.load.workers, transport: plan.load.transport });
    const scraper = metricsSourceOf(launcher);
    const outcome = await runSearch({
      runId: run.id,
      model,
      variantRepo,
      space,
      budget: plan.budget,
      seed: plan.seed,
      targetP99Ms: plan.targetP99Ms,
      windows: plan.windows,
      maxConcurrency: plan.maxConcurrency,
      store,
      strategy: strategyByName(plan.strategy, { targetP99Ms: plan.targetP99Ms, budget: plan.budget }),
      offline: offline !== null,
      ...(plan.timeBudgetMs !== null ? { deadline: started + plan.timeBudgetMs } : {}),
      launcher,
      ...(builder ? { builder } : {}),
      measure: offline
        ? offline.measure
        : (req) =>
            measureWithMetrics(scraper, req, async (onPoint) => {
              const result = await measureConfiguration({ client: inferClient!, ...req, onPoint, ...loadOptionsFor(plan, server.grpcAddress, req.config, pool) });
              const probe = result.capacityProbe;
              if (probe) log(`  capacity probe: ${probe.requestsPerS.toFixed(0)} requests/s at concurrency ${probe.concurrency}; rate search started at ${probe.startRate} requests/s`);
              return result;
            }),
      log,
      shouldStop: () => stopRequested,
    });
    stopReason = outcome.stopReason;
  } catch (e) {
    stopReason = `error: ${(e as Error).message}`;
    store.finishRun(run.id, { status: 'failed', stopReason, wallS: wallBefore + (Date.now() - started) / 1000 });
    throw e;
  } finally {
    await pool?.close();
    client?.close();
    await launcher.stop().catch(() => {});
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  store.finishRun(run.id, { status: stopRequested ? 'interrupted' : 'complete', stopReason, wallS: wallBefore + (Date.now() - started) / 1000 });

  const data = reportDataFromStore(store, run.id);
  store.close();
  let outputs: RunOutputs;
  try {
    outputs = await writeOutputs(runDir, data, offline ? null : model);
  } catch (e) {
    // Disk full, read-only folder: every measurement is already in the database.
    throw new InfrastructureError(
      `could not write the report to ${runDir}: ${(e as Error).message}`,
      `Every measurement is saved in ${plan.db}; write the report again with: tanalyze report ${run.id} --db ${plan.db} --out <file>`,
    );
  }
  const summary = summarizeRun(data, outputs);
  if (plan.json) io.stdout(JSON.stringify(summary, null, 2) + '\n');
  else io.stdout(formatRunSummary(summary, (p) => (p.startsWith(io.cwd) ? relative(io.cwd, p) : p)) + '\n');
  if (stopRequested) return EXIT_CODES.interrupted;
  return data.recommendedIndex === null ? EXIT_CODES.targetNotMet : EXIT_CODES.ok;
}

export async function findModel(plan: RunPlan): Promise<RepoModel> {
  if (!existsSync(plan.modelRepository)) {
    throw new UsageError([`--model-repository: '${plan.modelRepository}' does not exist; give a Triton model repository (a folder of <model>/config.pbtxt and <model>/<version>/ folders)`]);
  }
  const models = await readModelRepository(plan.modelRepository);
  const model = models.find((m) => m.name === plan.model);
  if (!model) {
    const names = models.map((m) => m.name).sort();
    throw new UsageError([
      `--model: '${plan.model}' is not in ${plan.modelRepository}; ${names.length ? `models there: ${names.join(', ')}` : 'it holds no models (no <model>/config.pbtxt)'}`,
    ]);
  }
  if (model.versions.length === 0) throw new UsageError([`model '${model.name}': ${model.dir} has no version folder (e.g. 1/model.onnx)`]);
  return model;
}

/** Where the server's Prometheus metrics come from: Triton's endpoint, or the embedded server's text. */
function metricsSourceOf(launcher: Launcher): MetricsScraper | null {
  const url = metricsUrlOf(launcher);
  if (url) return new MetricsScraper(url);
  if (launcher instanceof EmbeddedLauncher) return new MetricsScraper(() => launcher.metricsText());
  return null;
}

/**
 * Scrapes the server's metrics over each load point: GPU memory (the third objective) and
 * utilization go into the point before it is stored. A failed scrape leaves them out.
 */
async function measureWithMetrics<T>(
  scraper: MetricsScraper | null,
  req: { modelName: string; onPoint: (p: LoadPoint, i: number) => void },
  run: (onPoint: (p: LoadPoint, i: number) => Promise<void>) => Promise<T>,
): Promise<T> {
  let window = scraper?.startWindow(req.modelName);
  return run(async (p, i) => {
    const delta = await window?.stop().catch(() => null);
    if (delta?.gpuMemoryUsedMb != null) p.gpuMemoryMb = delta.gpuMemoryUsedMb;
    if (delta?.gpuUtilization != null) p.gpuUtilization = delta.gpuUtilization;
    req.onPoint(p, i);
    window = scraper?.startWindow(req.modelName);
  });
}

interface Offline {
  model: RepoModel;
  space: SearchSpace;
  hash: string;
  launcher: Launcher;
  measure: SearchContext['measure'];
}

/** replay and sim: no model files and no server; measurements come from a table or a model. */
async function openOffline(plan: RunPlan): Promise<Offline> {
  const model: RepoModel = { name: plan.model, dir: '', config: { name: plan.model, platform: 'onnxruntime_onnx', max_batch_size: 1 }, versions: ['1'] };
  if (plan.launch === 'replay') {
    const file = plan.landscape!;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new UsageError([`--landscape: cannot read '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
    }
    let landscape;
    try {
      landscape = parseLandscape(text, file);
    } catch (e) {
      if (e instanceof LandscapeError) throw new UsageError([e.message]);
      throw e;
    }
    return {
      model,
      // The space is what the file holds; flags and profile values for the space do not apply.
      space: landscapeSpace(landscape),
      hash: createHash('sha256').update(text).digest('hex'),
      launcher: new OfflineLauncher('replay', `replay of ${basename(file)}${plan.replayNoise ? ` with ${plan.replayNoise * 100}% noise` : ''}`),
      measure: async (req) => {
        const result = replayMeasure(landscape, req.config, { targetP99Ms: req.targetP99Ms, noise: plan.replayNoise, seed: plan.seed, repeat: req.repeat ?? 0 });
        result.points.forEach((p, i) => req.onPoint(p, i));
        return result;
      },
    };
  }
  const params = plan.sim!;
  return {
    model,
    space: plan.space,
    hash: createHash('sha256').update(JSON.stringify(params)).digest('hex'),
    launcher: new OfflineLauncher('sim', `simulated server '${params.name}'`),
    measure: async (req) => simMeasureConfig(params, req.config, req.targetP99Ms, req.maxConcurrency, req.onPoint),
  };
}

/**
 * --resume names a run; without it, the newest run of the same model and settings that
 * stopped before its end (Ctrl-C, or killed) is resumed, and said so. --fresh opts out.
 */
function findRunToResume(store: Store, flags: Record<string, unknown>, plan: RunPlan, settings: ResumableSettings, log: (s: string) => void): RunRow | null {
  const storedSettings = (r: RunRow) => (r.plan as { settings?: ResumableSettings } | null)?.settings;
  if (typeof flags.resume === 'string') {
    let run: RunRow;
    try {
      run = store.resolveRun(flags.resume, plan.model);
    } catch (e) {
      if (e instanceof StoreError && e.code === 'not-found') {
        throw new UsageError([`--resume: no run '${flags.resume}' of model '${plan.model}' in ${plan.db}; accepted: 'latest' or a run id`]);
      }
      throw e;
    }
    const before = storedSettings(run);
    const changed = before ? changedSettings(before, settings) : ['(the run has no stored settings)'];
    if (changed.length) {
      throw new UsageError([
        `--resume: run ${run.id} cannot be resumed: ${changed.map((c) => (c === 'modelHash' ? 'the model files' : c)).join(', ')} changed since it was started`,
      ], 'Start a new run with --fresh, or restore the settings and model files of that run.');
    }
    log(`Resuming run ${run.id} (${store.trials(run.id).length} configurations stored).`);
    return run;
  }
  if (flags.fresh === true) return null;
  const hash = settingsHash(settings);
  for (const r of store.listRuns(plan.model)) {
    if (r.status !== 'interrupted' && r.status !== 'running') continue;
    const p = r.plan as { settingsHash?: string; pid?: number; host?: string } | null;
    if (p?.settingsHash !== hash) continue;
    if (r.status === 'running' && p.host === hostname() && p.pid !== undefined && processAlive(p.pid)) continue;
    log(`Resuming run ${r.id}, which stopped before its end with the same settings (${store.trials(r.id).length} configurations stored); --fresh starts a new run.`);
    return r;
  }
  return null;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function openStore(file: string): Store {
  try {
    return Store.open(file);
  } catch (e) {
    throw new InfrastructureError(`--db: cannot open '${file}': ${(e as Error).message}`);
  }
}

export function hardwareDescription(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${process.platform}/${process.arch}, Node ${process.version}`;
}

async function writeOutputs(runDir: string, data: ReportData, model: RepoModel | null): Promise<RunOutputs> {
  const { htmlPath, csv } = await writeReport(runDir, data);
  let configPath: string | null = null;
  const rec = data.trials.find((t) => t.index === data.recommendedIndex);
  if (rec && model) {
    // The winning knobs applied to the model's own config.pbtxt, under its own name, ready to
    // replace it: built artifacts (an optimized model, an engine) stay in the variant folder.
    const name = model.config.name ?? model.name;
    const precisionFile = modelFileForPrecision(model, rec.config.precision);
    const cfg = rec.isDefault
      ? { ...model.config, name }
      : applyServingConfig(model.config, rec.config, { name, ...(precisionFile ? { modelFileForPrecision: precisionFile } : {}) });
    configPath = join(runDir, 'config.pbtxt');
    await writeFile(configPath, printModelConfig(cfg));
  }
  return { htmlPath, configPath, csv };
}

