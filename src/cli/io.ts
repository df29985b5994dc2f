import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../domain/errors.js';
import { defaultOf } from './options.js';

/** The process-facing things a command needs; tests pass their own. */
export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  cwd: string;
  env: Record<string, string | undefined>;
}

/**
 * The database a command that reads stored runs works on: --db, else TANALYZE_DB, else
 * the option table's default (reports/tanalyze.db), relative to the working directory; a usage error when it is missing.
 */
export function existingDbPath(flags: Record<string, unknown>, io: CliIO): string {
  const db = resolve(io.cwd, (flags['db'] as string | undefined) ?? (io.env['TANALYZE_DB'] || undefined) ?? defaultOf<string>('db'));
  if (!existsSync(db)) throw new UsageError([`--db: '${db}' does not exist; run a search first or name the database with --db`]);
  return db;
}
