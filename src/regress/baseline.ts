/**
 * Baselines: a run in the results database, or a JSON file exported from one (doc.ts has the
 * schema). `exportBaseline` reads a stored run; `loadBaseline` takes either a file or a run
 * reference and says clearly what is wrong when it cannot.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { reportDataFromStore } from '../report/from-store.js';
import { Store, StoreError } from '../store/store.js';
import { BaselineError, baselineFromReportData, validateBaseline, type BaselineDoc, type DocMeta } from './doc.js';

export { BaselineError } from './doc.js';

/** The baseline document of a stored run ('latest', an id, or an unambiguous id prefix). */
export function exportBaseline(store: Store, runRef: string, meta: DocMeta): BaselineDoc {
  const run = store.resolveRun(runRef);
  return baselineFromReportData(reportDataFromStore(store, run.id), meta);
}

/** The document as written to a file: 2-space JSON and a final newline. */
export function baselineJson(doc: BaselineDoc): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

export interface LoadBaselineOptions {
  /** Resolves relative file names. */
  cwd: string;
  /** The results database (for run references); opened only when the reference is not a file. */
  db?: string;
  /** How the reference is named in messages: '--baseline', 'compare: <candidate>'. */
  what?: string;
  /** Injected for tests. */
  openStore?: (file: string) => Store;
  meta?: DocMeta;
}

export interface LoadedBaseline {
  doc: BaselineDoc;
  source: 'file' | 'database';
  /** The file's absolute path, or `<db>#<run-id>`. */
  where: string;
}

/** A reference that names a file rather than a run: it ends in .json, holds a path separator, or is an existing file. */
export function looksLikeFile(ref: string, cwd: string): boolean {
  if (/\.json$/i.test(ref) || /[\\/]/.test(ref)) return true;
  const p = resolve(cwd, ref);
  return existsSync(p) && statSync(p).isFile();
}

/**
 * A baseline from a JSON file or from a run in the database. Throws BaselineError (a usage
 * error: missing file, not JSON, not a baseline, newer schema, unknown run) or StoreError
 * (the database cannot be opened: infrastructure).
 */
export function loadBaseline(ref: string, opts: LoadBaselineOptions): LoadedBaseline {
  const what = opts.what ?? '--baseline';
  if (ref.trim() === '') throw new BaselineError(`${what}: empty; give a baseline JSON file or a run id ('latest' for the newest run)`);
  if (looksLikeFile(ref, opts.cwd)) {
    const file = isAbsolute(ref) ? ref : resolve(opts.cwd, ref);
    if (!existsSync(file)) {
      throw new BaselineError(`${what}: file '${file}' does not exist; give a baseline JSON file (\`tanalyze baseline export <run> --out FILE\` writes one) or a run id in the results database`);
    }
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new BaselineError(`${what}: cannot read '${file}': ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new BaselineError(`${what}: '${file}' is not JSON: ${(e as Error).message}`);
    }
    return { doc: validateBaseline(json, `${what} ${file}`), source: 'file', where: file };
  }
  const db = opts.db;
  if (!db) throw new BaselineError(`${what}: '${ref}' is not a file, and no results database was given to look it up as a run`);
  const dbFile = resolve(opts.cwd, db);
  if (!existsSync(dbFile)) {
    throw new BaselineError(`${what}: '${ref}' is not a file, and the results database '${dbFile}' does not exist; give a baseline JSON file, or the database with --db`);
  }
  const store = (opts.openStore ?? ((f: string) => Store.open(f, { readonly: true })))(dbFile);
  try {
    let runId: string;
    try {
      runId = store.resolveRun(ref).id;
    } catch (e) {
      if (e instanceof StoreError && e.code === 'not-found') throw new BaselineError(`${what}: ${e.message}`);
      throw e;
    }
    const meta = opts.meta ?? { exportedAt: new Date().toISOString(), toolVersion: '' };
    return { doc: exportBaseline(store, runId, meta), source: 'database', where: `${dbFile}#${runId}` };
  } finally {
    store.close();
  }
}
