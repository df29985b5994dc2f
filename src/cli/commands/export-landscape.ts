/** `tanalyze export-landscape <run>`: a stored run's measurements as a replayable landscape CSV. */
import { resolve } from 'node:path';
import { existingDbPath, writeOutputFile, type CliIO } from '../io.js';
import { EXIT_CODES } from '../../domain/exit-codes.js';
import { Store } from '../../store/store.js';
import { resolveStoredRun } from '../stored-run.js';
import { formatLandscape, type LandscapeRow } from '../../landscape/csv.js';

export async function exportLandscapeCommand(runArg: string, flags: Record<string, unknown>, io: CliIO): Promise<number> {
  const db = existingDbPath(flags, io);
  const store = Store.open(db, { readonly: true });
  try {
    const run = resolveStoredRun(store, runArg, 'export-landscape');
    const rows: LandscapeRow[] = [];
    for (const t of store.trials(run.id)) {
      if (t.state !== 'COMPLETE' && t.state !== 'INFEASIBLE') continue;
      for (const p of store.points(t.id)) {
        rows.push({ config: t.config, concurrency: p.concurrency, throughputIps: p.throughputIps, p50Ms: p.p50Ms, p90Ms: p.p90Ms, p99Ms: p.p99Ms, gpuMemoryMb: p.gpuMemoryMb ?? null });
      }
    }
    const text = formatLandscape(rows);
    const configurations = new Set(rows.map((r) => JSON.stringify(r.config))).size;
    if (flags.json) {
      const out = flags.out ? resolve(io.cwd, flags.out as string) : null;
      if (out) await writeOutputFile('--out', out, text);
      io.stdout(JSON.stringify({ kind: 'landscape-export', schema_version: 1, run_id: run.id, strategy: run.strategy, rows: rows.length, configurations, path: out }, null, 2) + '\n');
    } else if (flags.out) {
      const out = resolve(io.cwd, flags.out as string);
      await writeOutputFile('--out', out, text);
      io.stderr(`${rows.length} load points of ${configurations} configurations written to ${out}${run.strategy !== 'grid' ? ` (run ${run.id} was a ${run.strategy} search: the landscape holds only the configurations it measured)` : ''}\n`);
    } else {
      io.stdout(text);
    }
    return EXIT_CODES.ok;
  } finally {
    store.close();
  }
}
