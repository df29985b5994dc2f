/** `tanalyze compare <baseline> <candidate>`: each a baseline JSON file or a run ('latest', an id). */
import type { CliIO } from '../io.js';
import { loadBaseline } from '../../regress/baseline.js';
import { compareDocs } from '../../regress/doc.js';
import { asUsage, defaultDeps, finishComparison, resolveComparisonSettings, type ComparisonDeps } from '../comparison.js';

/** `tanalyze compare <baseline> <candidate>`: each a baseline JSON file or a run ('latest', an id). */
export async function compareCommand(baselineRef: string, candidateRef: string, flags: Record<string, unknown>, io: CliIO, deps: ComparisonDeps = defaultDeps): Promise<number> {
  const settings = resolveComparisonSettings(flags, io.env, io.cwd);
  const started = deps.now().getTime();
  const meta = { exportedAt: deps.now().toISOString(), toolVersion: deps.toolVersion() };
  const common = { cwd: io.cwd, db: settings.db, openStore: deps.openStore, meta };
  const base = asUsage(() => loadBaseline(baselineRef, { ...common, what: 'compare: <baseline>' }));
  const cand = asUsage(() => loadBaseline(candidateRef, { ...common, what: 'compare: <candidate>' }));
  const { comparison, sides } = asUsage(() => compareDocs(base.doc, cand.doc, settings.thresholds, { baseline: `compare: <baseline> ${base.where}`, candidate: `compare: <candidate> ${cand.where}` }));
  return finishComparison(
    {
      comparison,
      command: 'compare',
      sides,
      baselineSource: base.where,
      candidateSource: cand.where,
      environment: {
        'Baseline server': base.doc.run.server_version || '—',
        'Baseline hardware': base.doc.run.hardware || '—',
        'Candidate server': cand.doc.run.server_version || '—',
        'Candidate hardware': cand.doc.run.hardware || '—',
      },
      durationS: (deps.now().getTime() - started) / 1000,
    },
    settings,
    io,
    deps,
  );
}

