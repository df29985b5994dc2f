import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.js';
import { join } from 'node:path';
import { writeCsvTables, type CsvPaths } from './csv.js';
import { renderReportHtml } from './html.js';
import type { ReportData } from './types.js';

export interface WrittenReport {
  htmlPath: string;
  /** The CSV tables (see csv.ts), next to the page. */
  csv: CsvPaths;
}

/**
 * Writes `<dir>/index.html` and the CSV tables `<dir>/metrics-model-inference.csv` and
 * `<dir>/metrics-configurations.csv` (creating dir), rendered from the store's data only.
 */
export async function writeReport(dir: string, data: ReportData): Promise<WrittenReport> {
  const html = renderReportHtml(data);
  await mkdir(dir, { recursive: true });
  const htmlPath = join(dir, 'index.html');
  await writeFileAtomic(htmlPath, html);
  const csv = await writeCsvTables(dir, data);
  return { htmlPath, csv };
}
