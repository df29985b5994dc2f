/**
 * Typed errors and the exit codes they map to. The mapping lives here and nowhere
 * else; the README's exit-code table is checked against EXIT_CODES by a test.
 */
export const EXIT_CODES = {
  ok: 0,
  /** Regression found (compare/regress). */
  regression: 1,
  /** The search finished but no configuration met the latency target. */
  targetNotMet: 2,
  /** Infrastructure failure: the server would not start, the database could not be opened. */
  infrastructure: 3,
  /** Bad flags, profile, model name or model repository. */
  usage: 64,
  /** A bug in tanalyze. */
  internal: 70,
  /** Stopped by Ctrl-C / SIGTERM. */
  interrupted: 130,
} as const;

export type ExitCodeName = keyof typeof EXIT_CODES;

/** What each exit code means, for --help and the README. */
export const EXIT_CODE_DOCS: readonly { code: number; meaning: string }[] = [
  { code: EXIT_CODES.ok, meaning: 'a configuration met the target; report and config.pbtxt written' },
  { code: EXIT_CODES.regression, meaning: 'a regression was found (compare, regress)' },
  { code: EXIT_CODES.targetNotMet, meaning: 'no configuration met the p99 target (run; report written), or the candidate met it nowhere (compare, regress)' },
  { code: EXIT_CODES.infrastructure, meaning: 'infrastructure failure: the server would not start, a configuration could not be built or loaded, the database could not be opened' },
  { code: EXIT_CODES.usage, meaning: 'usage error: a flag, profile, model name or model repository is wrong' },
  { code: EXIT_CODES.internal, meaning: 'internal error in tanalyze (a bug: please report it)' },
  { code: EXIT_CODES.interrupted, meaning: 'interrupted (Ctrl-C or SIGTERM); what was measured is saved and reported' },
];

/** Bad input: one or more problems, each naming the flag/key/file, the value and what is accepted. */
export class UsageError extends Error {
  constructor(readonly problems: string[], readonly hint?: string) {
    super(problems.join('\n'));
    this.name = 'UsageError';
  }
}

/** Something outside tanalyze failed: server, database, file system. */
export class InfrastructureError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'InfrastructureError';
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return EXIT_CODES.usage;
  if (err instanceof InfrastructureError) return EXIT_CODES.infrastructure;
  if (err && typeof err === 'object' && (err as { name?: string }).name === 'ConfigParseError') return EXIT_CODES.usage;
  if (err && typeof err === 'object' && (err as { name?: string }).name === 'StoreError') return EXIT_CODES.infrastructure;
  return EXIT_CODES.internal;
}

/** The text printed for an error: its message (every problem), and a hint; a stack only for bugs. */
export function formatError(err: unknown): string {
  if (err instanceof UsageError) {
    const lines = err.problems.length > 1 ? ['tanalyze: invalid input:', ...err.problems.map((p) => `  - ${p}`)] : [`tanalyze: ${err.problems[0]}`];
    if (err.hint) lines.push(err.hint);
    return lines.join('\n');
  }
  if (err instanceof InfrastructureError) return `tanalyze: ${err.message}${err.hint ? `\n${err.hint}` : ''}`;
  if (exitCodeFor(err) !== EXIT_CODES.internal) return `tanalyze: ${(err as Error).message}`;
  const e = err as Error;
  return `tanalyze: internal error (please report it): ${e?.stack ?? String(err)}`;
}
