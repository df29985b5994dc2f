/**
 * `tanalyze baseline export <run> [--out FILE] [--db FILE] [--json]`: the stored run as a
 * baseline JSON file; without --out the document goes to stdout.
 */
import { relative, resolve } from 'node:path';
import { existingDbPath, type CliIO } from '../io.js';
import { describeConfig } from '../../report/specs.js';
import { configSummary, SUMMARY_SCHEMA_VERSION, type BaselineExportSummary } from '../../report/summary.js';
import { baselineJson, exportBaseline } from '../../regress/baseline.js';
import { BaselineError, configFromJson, findTrial, reportDataFromDoc, type BaselineDoc } from '../../regress/doc.js';
import { formatFigure } from '../../regress/compare.js';
import { asUsage, defaultDeps, type ComparisonDeps } from '../comparison.js';

export async function exportBaselineCommand(runRef: string, flags: Record<string, unknown>, io: CliIO, deps: ComparisonDeps = defaultDeps): Promise<number> {
  const db = existingDbPath(flags, io);
  const store = deps.openStore(db);
  let doc: BaselineDoc;
  try {
    doc = asUsage(() => {
      try {
        return exportBaseline(store, runRef, { exportedAt: deps.now().toISOString(), toolVersion: deps.toolVersion() });
      } catch (e) {
        if ((e as { name?: string; code?: string }).name === 'StoreError' && (e as { code?: string }).code === 'not-found') throw new BaselineError(`baseline export: ${(e as Error).message}`);
        throw e;
      }
    });
  } finally {
    store.close();
  }
  const out = typeof flags.out === 'string' && flags.out !== '' ? resolve(io.cwd, flags.out) : null;
  if (!out) {
    io.stdout(baselineJson(doc));
    return 0;
  }
  await deps.writeFile('--out', out, baselineJson(doc));
  const rec = findTrial(doc, doc.recommended_index);
  const data = reportDataFromDoc(doc);
  const recTrial = data.trials.find((t) => t.index === doc.recommended_index);
  if (flags.json === true) {
    const summary: BaselineExportSummary = {
      kind: 'baseline-export',
      schema_version: SUMMARY_SCHEMA_VERSION,
      run_id: doc.run.id,
      model: doc.run.model,
      file: out,
      recommended: recTrial ? configSummary(recTrial) : null,
    };
    io.stdout(JSON.stringify(summary, null, 2) + '\n');
  } else {
    io.stdout(
      `Baseline of run ${doc.run.id} (${doc.run.model}, p99 target ${doc.run.target_p99_ms} ms) written to ${out.startsWith(io.cwd) ? relative(io.cwd, out) : out}` +
        (rec ? `\nRecommended: ${describeConfig(configFromJson(rec.config))}, ${formatFigure(rec.objective_ips, 'inf/s')} at p99 ${formatFigure(rec.p99_ms, 'ms')}\n` : '\nThe run has no recommended configuration: it cannot serve as a baseline for compare or regress.\n'),
    );
  }
  return 0;
}
