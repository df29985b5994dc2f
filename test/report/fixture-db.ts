// The report's fixture run written into a real results database (the Store the CLI uses), so
// tests read it back exactly as `tanalyze report` would. Deterministic: fixed run id and a fake
// clock, so two builds give the same database contents.
import { Store } from '../../src/store/store.js';
import type { ReportData } from '../../src/report/types.js';
import { makeReportFixture, pbtxt, type FixtureOptions } from './fixture.js';

export const FIXTURE_RUN_ID = '20250114-093012-7f3a';

/** A clock that advances one second per reading, from 2025-01-14 09:30:12 UTC. */
export function fakeClock(start = Date.UTC(2025, 0, 14, 9, 30, 12)): () => Date {
  let t = start;
  return () => new Date((t += 1000) - 1000);
}

export interface FixtureDbOptions extends FixtureOptions {
  runId?: string;
  /** Scale every throughput by this factor (a slower or faster candidate run). */
  throughputFactor?: number;
  /** Scale every latency by this factor. */
  latencyFactor?: number;
}

/** The report fixture as it would be after a run; GPU memory left out (the store has no column for it). */
export function fixtureData(opts: FixtureDbOptions = {}): ReportData {
  const data = makeReportFixture({ gpuMemory: false, ...opts });
  const tf = opts.throughputFactor ?? 1;
  const lf = opts.latencyFactor ?? 1;
  if (tf === 1 && lf === 1) return data;
  const target = data.run.targetP99Ms;
  const trials = data.trials.map((t) => {
    const points = t.points.map((p) => ({
      ...p,
      throughputIps: p.throughputIps * tf,
      p50Ms: p.p50Ms * lf,
      p90Ms: p.p90Ms * lf,
      p95Ms: p.p95Ms * lf,
      p99Ms: p.p99Ms * lf,
      ...(p.p99CiMs ? { p99CiMs: [p.p99CiMs[0] * lf, p.p99CiMs[1] * lf] as [number, number] } : {}),
    }));
    const ok = points.filter((p) => p.p99Ms <= target);
    if (t.state === 'FAILED') return { ...t, points };
    if (ok.length === 0) return { ...t, points, state: 'INFEASIBLE' as const, objectiveIps: null, p99Ms: Math.min(...points.map((p) => p.p99Ms)) };
    const best = ok.reduce((a, b) => (b.throughputIps > a.throughputIps ? b : a));
    return { ...t, points, state: 'COMPLETE' as const, objectiveIps: best.throughputIps, p99Ms: best.p99Ms };
  });
  return { ...data, trials };
}

/** Writes the fixture run into `file` (created) and returns its id. */
export function buildFixtureDb(file: string, opts: FixtureDbOptions = {}): string {
  const data = fixtureData(opts);
  const store = Store.open(file, { now: fakeClock(), random: () => 0.5 });
  try {
    const r = data.run;
    const run = store.createRun({
      id: opts.runId ?? FIXTURE_RUN_ID,
      model: r.model,
      targetP99Ms: r.targetP99Ms,
      strategy: r.strategy,
      seed: r.seed,
      budget: r.budget,
      launch: r.launch,
      serverVersion: r.serverVersion,
      toolVersion: r.toolVersion,
      hardware: r.hardware,
      plan: { model: r.model, windows: { windowMs: r.windowMs, minWindows: 3, maxWindows: r.maxWindows, stabilityTolerance: r.stabilityTolerance, warmupMs: 300 } },
    });
    for (const t of data.trials) {
      const id = store.startTrial(run.id, t.index, { config: t.config, variantName: t.variantName, isDefault: t.isDefault, pbtxt: pbtxt(t.variantName, t.config) });
      t.points.forEach((p, i) => store.recordPoint(id, i, p));
      store.finishTrial(id, { state: t.state as 'COMPLETE', objectiveIps: t.objectiveIps, p99Ms: t.p99Ms, error: t.error });
    }
    store.finishRun(run.id, { status: 'complete', stopReason: r.stopReason, wallS: r.wallS });
    return run.id;
  } finally {
    store.close();
  }
}
