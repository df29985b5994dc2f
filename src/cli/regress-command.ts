/**
 * `tanalyze regress --baseline <run|file>`: measure the baseline's recommended configuration
 * again on this machine and compare; the comparison itself is pure (src/regress/).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CliIO } from './io.js';
import { InfrastructureError, UsageError } from '../domain/errors.js';
import { loadProfile, resolvePlan } from './plan.js';
import { toolVersion } from './version.js';
import { findModel, hardwareDescription, runCommand } from './run-command.js';
import { createBuilderFor, createLauncherFor, measureVariant } from './serving.js';
import { modelFileForPrecision } from '../runner/trial-loop.js';
import { applyServingConfig } from '../config/variant.js';
import { createInferenceClient } from '../protocol/client.js';
import { LoadWorkerPool } from '../load/workers.js';
import { Store } from '../store/store.js';
import { loadBaseline, exportBaseline } from '../regress/baseline.js';
import { BaselineError, baselineLoadMode } from '../regress/doc.js';
import { finishRegress, regress, resolveComparisonSettings, type MeasureFn } from '../regress/commands.js';

export async function regressCommand(flags: Record<string, unknown>, io: CliIO): Promise<number> {
  const profile = loadProfile((flags.profile as string | undefined) ?? io.env.TANALYZE_PROFILE ?? 'nightly', io.cwd);
  const settings = resolveComparisonSettings(flags, io.env, io.cwd, profile.values, profile.file);
  if (typeof flags.baseline !== 'string') throw new UsageError(['--baseline: required; a baseline JSON file, or a run in the database (\'latest\' or a run id)']);
  let loaded;
  try {
    loaded = loadBaseline(flags.baseline, { cwd: io.cwd, db: settings.db });
  } catch (e) {
    if (e instanceof BaselineError) throw new UsageError([e.message]);
    throw e;
  }
  const { doc, where } = loaded;
  // The baseline fixes the model, the target and (unless --load is given) the load mode; the
  // profile and flags give the other load and server settings.
  const baselineMode = baselineLoadMode(doc);
  const load = flags.load ?? baselineMode ?? undefined;
  const plan = resolvePlan({ ...flags, model: doc.run.model, p99: `${doc.run.target_p99_ms}ms`, ...(load !== undefined ? { load } : {}) }, io.env, profile, io.cwd);
  const model = await findModel(plan);
  const log = settings.json ? () => {} : (line: string) => io.stderr(line + '\n');
  if (flags.load === undefined && baselineMode === 'rate') log('the baseline was measured in open loop: measuring again with --load rate');

  const workDir = join(plan.outDir, `regress-${Date.now()}`);
  const variantRepo = join(workDir, 'model_repository');
  await mkdir(variantRepo, { recursive: true });
  const builder = createBuilderFor(plan, model.config, log);
  const launcher = createLauncherFor(plan, { variantRepo, runId: `regress-${Date.now()}`, runDir: workDir }, log);
  let server;
  try {
    server = await launcher.start();
  } catch (e) {
    throw e instanceof InfrastructureError ? e : new InfrastructureError(`the server would not start: ${(e as Error).message}`);
  }
  const client = createInferenceClient(server.grpcAddress);
  let pool: LoadWorkerPool | undefined;
  try {
    // Load goes out as in a search run: the load generator's channel, or its worker threads.
    if (plan.load.workers > 0) pool = await LoadWorkerPool.start({ address: server.grpcAddress, workers: plan.load.workers, transport: plan.load.transport });
    const measure: MeasureFn = async (t) => {
      // The baseline's knobs applied to the model as it is now, built the way a search builds
      // it: the stored config.pbtxt may name artifacts (an optimized model, an engine) of its run.
      const variantName = `${model.name}_regress_${t.repeat}`;
      const precisionFile = modelFileForPrecision(model, t.config.precision);
      const cfg = applyServingConfig(model.config, t.config, { name: variantName, ...(precisionFile ? { modelFileForPrecision: precisionFile } : {}) });
      return measureVariant({ launcher, client, modelDir: model.dir, variantRepo, cfg, variantName, config: t.config, targetP99Ms: t.targetP99Ms, plan, builder, model, address: server.grpcAddress, ...(pool ? { workers: pool } : {}) });
    };
    const research = settings.research
      ? async () => {
          const quietIO: CliIO = { ...io, stdout: () => {}, stderr: io.stderr };
          await runCommand({ ...flags, model: doc.run.model, p99: `${doc.run.target_p99_ms}ms`, fresh: true, quiet: true, json: false }, quietIO);
          const store = Store.open(plan.db);
          try {
            return exportBaseline(store, store.resolveRun('latest', doc.run.model).id, { exportedAt: new Date().toISOString(), toolVersion: toolVersion() });
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
      environment: { serverVersion: server.serverVersion, hardware: hardwareDescription(), launch: plan.launch, toolVersion: toolVersion() },
    });
    return await finishRegress(result, settings, io, where);
  } finally {
    await pool?.close();
    client.close();
    await launcher.stop().catch(() => {});
  }
}
