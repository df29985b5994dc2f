import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { cpus, hostname, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { InfrastructureError, UsageError } from '../domain/errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { defaultOf } from './options.js';

/**
 * Everything a command takes from the process it runs in: output streams, working folder,
 * environment, clock, signals, exit, the machine, and how files it hands to the user are
 * written. Built once in main (processIO) and passed down; tests pass their own, so the
 * CLI runs in process (test/cli/fake-io.ts). Lower layers take narrower objects of their own
 * (a ToolRunner, a clock) and never read the process directly.
 */
export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  cwd: string;
  env: Record<string, string | undefined>;
  /** Wall clock, ms since the epoch. */
  now?: () => number;
  /** This process's id and host (stored with a run, so a second tanalyze can tell a live run from a crashed one). */
  pid?: number;
  host?: string;
  /** Subscribes to SIGINT/SIGTERM; returns the unsubscribe. */
  onSignal?: (handler: (signal: NodeJS.Signals) => void) => () => void;
  /** Ends the process at once (a second Ctrl-C). */
  exit?: (code: number) => never;
  /** The machine the run is on: limits for resource flags and the stored description. */
  machine?: MachineInfo;
  /** Writes a file the user asked for (report, config.pbtxt, baseline): old or new content, never a mix. */
  writeFile?: (path: string, text: string) => Promise<void>;
}

export interface MachineInfo {
  cores: number;
  memoryBytes: number;
  description: string;
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cores: c.length,
    memoryBytes: totalmem(),
    description: `${c.length} × ${c[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${process.platform}/${process.arch}, Node ${process.version}`,
  };
}

/** The real process, as main builds it. */
export function processIO(): Required<CliIO> {
  return {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    cwd: process.cwd(),
    env: process.env,
    now: () => Date.now(),
    pid: process.pid,
    host: hostname(),
    onSignal: (handler) => {
      process.on('SIGINT', handler);
      process.on('SIGTERM', handler);
      return () => {
        process.off('SIGINT', handler);
        process.off('SIGTERM', handler);
      };
    },
    exit: (code) => process.exit(code),
    machine: machineInfo(),
    writeFile: writeFileAtomic,
  };
}

/** The optional parts of an IO filled from the real process: tests give only what they fake. */
export function withProcessDefaults(io: CliIO): Required<CliIO> {
  const real = processIO();
  const out = { ...real } as Required<CliIO>;
  for (const [k, v] of Object.entries(io)) if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  return out;
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
