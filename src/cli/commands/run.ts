/** The main job: plan → search → report. */
import { access, constants, mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { withProcessDefaults, type CliIO } from '../io.js';
import { EXIT_CODES, exitCodeForRun } from '../../domain/exit-codes.js';
import { InfrastructureError, TanalyzeError, UsageError } from '../../domain/errors.js';
import type { RunPlan } from '../plan.js';
import { resolveRunPlan } from '../resume.js';
import { resolveStoredRun } from '../stored-run.js';
import { toolVersion } from '../version.js';
import { printModelConfig } from '../../config/pbtxt.js';
import { applyServingConfig } from '../../config/variant.js';
import { summarizeRun, formatRunSummary, type RunOutputs } from '../../report/summary.js';
import { Store, type RunRow } from '../../store/store.js';
import { changedSettings, settingsHash, type ResumableSettings } from '../../runner/fingerprint.js';
import { strategyByName } from '../../search/index.js';
import { openModel, startServing } from '../serving.js';
import { installCleanupHooks, killAllChildrenSync } from '../../runner/launchers/cleanup.js';
import { modelFileForPrecision, runSearch, type RepoModel } from '../../runner/trial-loop.js';
import { reportDataFromStore } from '../../report/from-store.js';
import { writeReport } from '../../report/write.js';
import type { ReportData } from '../../report/types.js';

/** `tanalyze [flags]`: a search; with --resume, a stored run goes on with its stored settings. */
export async function runCommand(flags: Record<string, unknown>, io: CliIO): Promise<number> {
  const { plan, resumed } = await resolveRunPlan(flags, io);
  return (await executeRun(plan, { resume: resumed?.id ?? null, fresh: flags.fresh === true }, io)).exitCode;
}

export interface RunResult {
  exitCode: number;
  /** The run's id in plan.db: what `regress --research` compares, without guessing it as 'latest'. */
  runId: string;
}

/** Runs the search a plan describes, stores it, writes its report and prints its summary. */
export async function executeRun(plan: RunPlan, opts: { resume: string | null; fresh: boolean }, io: CliIO): Promise<RunResult> {
  const opened = await openModel(plan);
  const { model, space } = opened;
  const offline = opened.offline;
  const log = plan.quiet || plan.json ? () => {} : (line: string) => io.stderr(line + '\n');

  await requireWritableFolder(plan.outDir);
  const store = openStore(plan.db);
  const sys = withProcessDefaults(io);
  const started = sys.now();
  const settings = resumableSettings(plan, space, await opened.hash());
  const storedPlan = { ...plan, settings, settingsHash: settingsHash(settings), pid: sys.pid, host: sys.host };
  let run = findRunToResume(store, opts, plan, settings, log, sys.host);
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
      hardware: sys.machine.description,
      plan: storedPlan,
    });
  }
  const runDir = join(plan.outDir, run.id);
  const variantRepo = join(runDir, 'model_repository');
  try {
    await mkdir(offline ? runDir : variantRepo, { recursive: true });
  } catch (e) {
    // The run must not stay 'running' in the database: nothing was measured.
    const error = new InfrastructureError(`--out-dir: cannot create '${runDir}': ${(e as Error).message}`, 'Choose a folder you can write to with --out-dir.', { cause: e });
    store.finishRun(run.id, { status: 'failed', stopReason: `error: ${error.message}`, wallS: wallBefore });
    throw error;
  }
  log(`tanalyze ${toolVersion()}: run ${run.id}, model '${plan.model}', p99 target ${plan.targetP99Ms} ms, ${plan.strategy} search, budget ${plan.budget}`);

  // First Ctrl-C: finish the current trial, then report what was measured. Second: stop now.
  let stopRequested = false;
  const onSignal = () => {
    if (stopRequested) {
      io.stderr('tanalyze: stopping now\n');
      killAllChildrenSync(); // a tritonserver tanalyze started; embedded instances exit with their parent
      sys.exit(EXIT_CODES.interrupted);
    }
    stopRequested = true;
    io.stderr('tanalyze: stopping after the current configuration (Ctrl-C again to stop now)\n');
  };
  installCleanupHooks();
  const stopListening = sys.onSignal(onSignal);

  // The handler stays until the summary is printed: a Ctrl-C while the report is written
  // must not kill tanalyze half-way (the cleanup hook would re-raise the signal).
  try {
    let stopReason = 'unknown';
    let serving: Awaited<ReturnType<typeof startServing>> | undefined;
    try {
      serving = await startServing(plan, opened, { variantRepo, runId: run.id, runDir }, log);
      store.updateRun(run.id, { serverVersion: serving.serverVersion });
      log(`server: ${serving.serverVersion} at ${serving.grpcAddress}`);
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
        launcher: serving.launcher,
        ...(serving.builder ? { builder: serving.builder } : {}),
        measure: serving.measure,
        log,
        shouldStop: () => stopRequested,
      });
      stopReason = outcome.stopReason;
    } catch (e) {
      stopReason = `error: ${(e as Error).message}`;
      try {
        store.finishRun(run.id, { status: 'failed', stopReason, wallS: wallBefore + (sys.now() - started) / 1000 });
      } catch {
        // The database itself failed (a full disk): the run stays 'running', and is resumed as a stopped run.
      }
      if (e instanceof TanalyzeError && e.kind === 'infrastructure' && !e.hint) {
        throw new TanalyzeError('infrastructure', e.message, `What was measured is saved; once fixed, go on with: tanalyze --resume ${run.id} (the unfinished configuration is measured again)`, { cause: e });
      }
      throw e;
    } finally {
      await serving?.close();
    }
    // A Ctrl-C after this point changes nothing: the search is over and the report is written.
    const interrupted = stopRequested;
    store.finishRun(run.id, { status: interrupted ? 'interrupted' : 'complete', stopReason, wallS: wallBefore + (sys.now() - started) / 1000 });

    const data = reportDataFromStore(store, run.id);
    store.close();
    let outputs: RunOutputs;
    try {
      outputs = await writeOutputs(runDir, data, offline ? null : model, sys.writeFile);
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
    const exitCode = exitCodeForRun({ interrupted, recommended: data.recommendedIndex !== null, trialStates: data.trials.map((t) => t.state) });
    if (exitCode === EXIT_CODES.infrastructure) {
      io.stderr(`tanalyze: no configuration of '${plan.model}' could be measured (every one failed or was skipped; see the reasons above): the model or the server is broken, not the target\n`);
    }
    return { exitCode, runId: run.id };
  } finally {
    stopListening();
  }
}

/** What must not change for a run to be resumed (runner/fingerprint.ts). */
export function resumableSettings(plan: RunPlan, space: RunPlan['space'], modelHash: string): ResumableSettings {
  return {
    model: plan.model,
    modelHash,
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
}

/**
 * --resume names a run; without it, the newest run of the same model and settings that
 * stopped before its end (Ctrl-C, or killed) is resumed, and said so. --fresh opts out.
 */
function findRunToResume(store: Store, opts: { resume: string | null; fresh: boolean }, plan: RunPlan, settings: ResumableSettings, log: (s: string) => void, host: string): RunRow | null {
  const storedSettings = (r: RunRow) => (r.plan as { settings?: ResumableSettings } | null)?.settings;
  if (opts.resume !== null) {
    const run: RunRow = resolveStoredRun(store, opts.resume, '--resume', plan.model);
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
  if (opts.fresh) return null;
  const hash = settingsHash(settings);
  for (const r of store.listRuns(plan.model)) {
    if (r.status !== 'interrupted' && r.status !== 'running') continue;
    const p = r.plan as { settingsHash?: string; pid?: number; host?: string } | null;
    if (p?.settingsHash !== hash) continue;
    if (r.status === 'running' && p.host === host && p.pid !== undefined && processAlive(p.pid)) continue;
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

/** --out-dir must be a folder tanalyze can write to, checked before a run is stored. */
async function requireWritableFolder(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (e) {
    throw new InfrastructureError(`--out-dir: cannot write to '${dir}': ${(e as Error).message}`, 'Choose a folder you can write to with --out-dir.', { cause: e });
  }
}

function openStore(file: string): Store {
  try {
    return Store.open(file);
  } catch (e) {
    throw new InfrastructureError(`--db: cannot open '${file}': ${(e as Error).message}`);
  }
}

async function writeOutputs(runDir: string, data: ReportData, model: RepoModel | null, writeFile: (path: string, text: string) => Promise<void>): Promise<RunOutputs> {
  const { htmlPath, csv } = await writeReport(runDir, data);
  let configPath: string | null = null;
  const rec = data.trials.find((t) => t.index === data.recommendedIndex);
  if (rec && model) {
    // The winning knobs applied to the model's own config.pbtxt, under its own name, ready to
    // replace it: built artifacts (an optimized model, an engine) stay in the variant folder.
    // Triton names a model by its folder; a config `name` that differs is rejected, so the folder's name is used.
    const name = model.name;
    const precisionFile = modelFileForPrecision(model, rec.config.precision);
    const cfg = rec.isDefault
      ? { ...model.config, name }
      : applyServingConfig(model.config, rec.config, { name, ...(precisionFile ? { modelFileForPrecision: precisionFile } : {}) });
    configPath = join(runDir, 'config.pbtxt');
    await writeFile(configPath, printModelConfig(cfg));
  }
  return { htmlPath, configPath, csv };
}

