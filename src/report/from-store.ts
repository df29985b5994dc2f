/** Builds the report's input from the database alone, so any stored run can be re-rendered. */
import type { LoadPoint } from '../domain/measurement.js';
import type { Store } from '../store/store.js';
import type { ReportData, ReportPoint, ReportTrial } from './types.js';
import { confirmationOf } from './confirmation.js';

/** The plan fields the report states; older runs may lack some (they read as 0). */
interface StoredPlan {
  windows?: { windowMs?: number; maxWindows?: number; stabilityTolerance?: number };
  maxConcurrency?: number;
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
    points: store.points(t.id).map(reportPoint),
    pbtxt: t.pbtxt,
  }));
  // The search's own choice: the best mean over repeats, not the luckiest single measurement.
  const confirmation = confirmationOf(trials, run.targetP99Ms);
  const recommended = confirmation.recommended ? { index: confirmation.recommended.representativeIndex } : null;
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
      ...(typeof plan.maxConcurrency === 'number' && plan.maxConcurrency >= 1 ? { maxConcurrency: plan.maxConcurrency } : {}),
      status: run.status,
      wallS: run.wallS ?? null,
      stopReason: run.stopReason ?? null,
    },
    trials,
    recommendedIndex: recommended?.index ?? null,
    defaultIndex: def?.index ?? null,
    recommendedPbtxt: pbtxtOf(recommended?.index ?? null),
    defaultPbtxt: pbtxtOf(def?.index ?? null),
    confirmation,
  };
}

/** A p99 interval as drawn: a finite lower bound at most the upper; an upper bound of null reads as open. */
function ciBounds(v: unknown): [number, number] | undefined {
  if (!Array.isArray(v) || v.length !== 2) return undefined;
  const lo: unknown = v[0];
  // JSON has no Infinity: an open bound written without the store's tagging of non-finite numbers reads back as null.
  const hi: unknown = v[1] === null ? Infinity : v[1];
  if (typeof lo !== 'number' || typeof hi !== 'number' || !Number.isFinite(lo) || Number.isNaN(hi) || lo < 0 || hi < lo) return undefined;
  return [lo, hi];
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);

/**
 * A stored load point as the report reads it. The p99 interval and the client flags come from
 * measurements.detail_json, which holds whatever the measuring version wrote: malformed values are
 * left out (the point then renders as one measured without them) rather than drawn wrongly.
 */
export function reportPoint(p: LoadPoint): ReportPoint {
  const { p99CiMs, ciLevel, clientLimited, clientLimitReason, unreliable, unreliableReason, ...rest } = p;
  const out: ReportPoint = rest;
  const ci = ciBounds(p99CiMs);
  if (ci) out.p99CiMs = ci;
  if (typeof ciLevel === 'number' && ciLevel > 0 && ciLevel < 1) out.ciLevel = ciLevel;
  if (typeof clientLimited === 'boolean') out.clientLimited = clientLimited;
  const limitReason = text(clientLimitReason);
  if (limitReason !== undefined) out.clientLimitReason = limitReason;
  if (typeof unreliable === 'boolean') out.unreliable = unreliable;
  const unreliableWhy = text(unreliableReason);
  if (unreliableWhy !== undefined) out.unreliableReason = unreliableWhy;
  return out;
}
