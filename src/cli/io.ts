import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InfrastructureError, UsageError } from '../domain/errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
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

/**
 * Writes a file a flag names (--out, --junit, --save-baseline), atomically: the old file stays
 * whole on a kill or a full disk. A failure is an infrastructure error naming the flag and path.
 */
export async function writeOutputFile(flag: string, path: string, text: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, text);
  } catch (e) {
    throw new InfrastructureError(`${flag}: could not write '${path}': ${(e as Error).message}`, 'Free space on that disk or choose another path.', { cause: e });
  }
}
