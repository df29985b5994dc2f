/**
 * `tanalyze regress --baseline <run|file>`: measure the baseline's recommended configuration
 * again, on any launch mode a run takes (a local Triton, docker, remote, a replayed landscape),
 * and compare. Each measurement is a trial executed by the search's own runTrial; the
 * comparison and its verdict are pure (src/regress/), the exit code comes from the verdict.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { withProcessDefaults, type CliIO } from '../io.js';
import { UsageError } from '../../domain/errors.js';
import { resolvePlan } from '../plan.js';
import { profileFor } from '../resume.js';
import { toolVersion } from '../version.js';
import { executeRun } from './run.js';
import { openModel, startServing } from '../serving.js';
import { DISCARD_SINK, runTrial } from '../../runner/trial-loop.js';
import { Store } from '../../store/store.js';
import { loadBaseline, exportBaseline } from '../../regress/baseline.js';
import { baselineLoadMode } from '../../regress/doc.js';
import { regress, type MeasureFn } from '../../regress/regress.js';
import { asUsage, finishRegress, resolveComparisonSettings } from '../comparison.js';

export async function regressCommand(flags: Record<string, unknown>, io: CliIO): Promise<number> {
  const profile = profileFor(flags, io, 'regress');
  // Every problem of the thresholds, the baseline and the run settings is reported at once.
  const problems: string[] = [];
  const collect = <T>(fn: () => T): T | null => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      problems.push(...e.problems);
      return null;
    }
  };
  const settings = collect(() => resolveComparisonSettings(flags, io.env, io.cwd, profile.values, profile.file));
  const baselineRef = (flags.baseline as string | undefined) ?? (io.env.TANALYZE_BASELINE || undefined);
  if (baselineRef === undefined) problems.push("--baseline: required; a baseline JSON file, or a run in the database ('latest' or a run id)");
  const loaded = baselineRef !== undefined && settings ? collect(() => asUsage(() => loadBaseline(baselineRef, { cwd: io.cwd, db: settings.db }))) : null;
  // The baseline fixes the model, the target and (unless --load is given) the load mode; the
  // profile and flags give the other load and server settings. Without a baseline, the flags
  // are still checked (over a stand-in model and target).
  const baselineMode = loaded ? baselineLoadMode(loaded.doc) : null;
  const load = flags.load ?? baselineMode ?? undefined;
  const runFlags = { ...flags, model: loaded?.doc.run.model ?? 'baseline-model', p99: `${loaded?.doc.run.target_p99_ms ?? 1}ms`, ...(load !== undefined ? { load } : {}) };
  const plan = collect(() => resolvePlan(runFlags, io.env, profile, io.cwd));
  if (problems.length || !settings || !loaded || !plan) throw new UsageError(problems, 'Run `tanalyze regress --help` for the flags and their forms.');
  const { doc, where } = loaded;
  const opened = await openModel(plan);
  const log = settings.json || plan.quiet ? () => {} : (line: string) => io.stderr(line + '\n');
  if (flags.load === undefined && baselineMode === 'rate') log('the baseline was measured in open loop: measuring again with --load rate');

  const workId = `regress-${Date.now()}`;
  const workDir = join(plan.outDir, workId);
  const variantRepo = join(workDir, 'model_repository');
  await mkdir(opened.offline ? workDir : variantRepo, { recursive: true });
  const serving = await startServing(plan, opened, { variantRepo, runId: workId, runDir: workDir }, log);
  try {
    // Each repeat is a trial as a search runs one: the baseline's knobs applied to the model as
    // it is now, built the way a search builds it (the stored config.pbtxt may name artifacts
    // of its own run), loaded, measured with the plan's load settings, and unloaded.
    const trialContext = {
      model: opened.model,
      variantRepo,
      budget: settings.repeats,
      targetP99Ms: plan.targetP99Ms,
      windows: plan.windows,
      maxConcurrency: plan.maxConcurrency,
      launcher: serving.launcher,
      measure: serving.measure,
      log: (line: string) => log(`  ${line}`),
      ...(serving.builder ? { builder: serving.builder } : {}),
      offline: opened.offline !== null,
    };
    const measure: MeasureFn = async (t) => {
      const outcome = await runTrial(trialContext, { index: t.repeat, config: t.config, isDefault: false, variantName: `${opened.model.name}_regress_${t.repeat}` }, DISCARD_SINK);
      // A configuration that could not be built, loaded or measured at all: an infrastructure failure for regress.
      if (outcome.result === null) throw new Error(outcome.error ?? `the trial ended ${outcome.state}`);
      return outcome.result;
    };
    const research = settings.research
      ? async () => {
          const quietIO: CliIO = { ...io, stdout: () => {}, stderr: io.stderr };
          const researchPlan = resolvePlan({ ...runFlags, quiet: true, json: false }, io.env, profile, io.cwd);
          const { runId } = await executeRun(researchPlan, { resume: null, fresh: true }, quietIO);
          const store = Store.open(plan.db);
          try {
            return exportBaseline(store, runId, { exportedAt: new Date().toISOString(), toolVersion: toolVersion() });
          } finally {
            store.close();
          }
        }
      : undefined;
    const result = await regress({
      baseline: doc,
      baselineSource: where,
      measure,
      thresholds: settings.thresholds,
      repeats: settings.repeats,
      ...(research ? { research } : {}),
      log,
      environment: { serverVersion: serving.serverVersion, hardware: withProcessDefaults(io).machine.description, launch: plan.launch, toolVersion: toolVersion() },
    });
    return await finishRegress(result, settings, io, where);
  } finally {
    await serving.close();
  }
}
