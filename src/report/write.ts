import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderReportHtml } from './html.js';
import type { ReportData } from './types.js';

/** Writes `<dir>/index.html` (creating dir), rendered from the store's data only. */
export async function writeReport(dir: string, data: ReportData): Promise<{ htmlPath: string }> {
  const html = renderReportHtml(data);
  await mkdir(dir, { recursive: true });
  const htmlPath = join(dir, 'index.html');
  await writeFile(htmlPath, html, 'utf8');
  return { htmlPath };
}
