/** `tanalyze report <run|latest>`: re-render a stored run's report from the database alone. */
import { resolve, join, dirname } from 'node:path';
import { existingDbPath, type CliIO } from '../io.js';
import { EXIT_CODES } from '../../domain/exit-codes.js';
import { InfrastructureError } from '../../domain/errors.js';
import { Store } from '../../store/store.js';
import { resolveStoredRun } from '../stored-run.js';
import { reportDataFromStore } from '../../report/from-store.js';
import { writeReport } from '../../report/write.js';
import { renderReportHtml } from '../../report/html.js';
import { summarizeRun } from '../../report/summary.js';
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../../util/atomic-write.js';

export async function reportCommand(runArg: string, flags: Record<string, unknown>, io: CliIO): Promise<number> {
  const db = existingDbPath(flags, io);
  const store = Store.open(db, { readonly: true });
  try {
    const run = resolveStoredRun(store, runArg, 'report');
    const data = reportDataFromStore(store, run.id);
    let htmlPath: string;
    try {
      if (flags.out) {
        htmlPath = resolve(io.cwd, flags.out as string);
        await mkdir(dirname(htmlPath), { recursive: true });
        await writeFileAtomic(htmlPath, renderReportHtml(data));
      } else {
        ({ htmlPath } = await writeReport(join(dirname(db), run.id), data));
      }
    } catch (e) {
      throw new InfrastructureError(`could not write the report: ${(e as Error).message}`, `The run is unchanged in ${db}; try another --out.`);
    }
    if (flags.json) io.stdout(JSON.stringify(summarizeRun(data, { htmlPath }), null, 2) + '\n');
    else io.stdout(`Report: ${htmlPath}\n`);
    return EXIT_CODES.ok;
  } finally {
    store.close();
  }
}
