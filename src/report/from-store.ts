/** Builds the report's input from the database alone, so any stored run can be re-rendered. */
import type { Store } from '../store/store.js';
import type { ReportData, ReportTrial } from './types.js';
import { chooseRecommended } from './pareto.js';

/** The plan fields the report states; older runs may lack some (they read as 0). */
interface StoredPlan {
  windows?: { windowMs?: number; maxWindows?: number; stabilityTolerance?: number };
}

export function reportDataFromStore(store: Store, runId: string): ReportData {
  const run = store.getRun(runId);
  if (!run) throw new Error(`run '${runId}' is not in the database`);
  let plan: StoredPlan = {};
  try {
    plan = (JSON.parse(run.planJson ?? '{}') as StoredPlan | null) ?? {};
  } catch {
    // a plan that does not parse states nothing about windows
  }
  const rows = store.trials(runId);
  const trials: ReportTrial[] = rows.map((t) => ({
    index: t.index,
    variantName: t.variantName,
    config: t.config,
    state: t.state,
    error: t.error,
    objectiveIps: t.objectiveIps,
    p99Ms: t.p99Ms,
    isDefault: t.isDefault,
    points: store.points(t.id),
    pbtxt: t.pbtxt,
  }));
  const recommended = chooseRecommended(trials, run.targetP99Ms);
  const def = trials.find((t) => t.isDefault) ?? null;
  const pbtxtOf = (index: number | null) => (index === null ? null : rows.find((t) => t.index === index)?.pbtxt ?? null);
  return {
    run: {
      id: run.id,
      model: run.model,
      createdAt: run.createdAt,
      finishedAt: run.finishedAt ?? null,
      targetP99Ms: run.targetP99Ms,
      strategy: run.strategy,
      seed: run.seed,
      budget: run.budget,
      launch: run.launch,
      serverVersion: run.serverVersion ?? '',
      toolVersion: run.toolVersion ?? '',
      hardware: run.hardware ?? '',
      windowMs: plan.windows?.windowMs ?? 0,
      maxWindows: plan.windows?.maxWindows ?? 0,
      stabilityTolerance: plan.windows?.stabilityTolerance ?? 0,
      status: run.status,
      wallS: run.wallS ?? null,
      stopReason: run.stopReason ?? null,
    },
    trials,
    recommendedIndex: recommended?.index ?? null,
    defaultIndex: def?.index ?? null,
    recommendedPbtxt: pbtxtOf(recommended?.index ?? null),
    defaultPbtxt: pbtxtOf(def?.index ?? null),
  };
}
