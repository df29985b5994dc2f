/**
 * The one error base. Every error tanalyze raises on purpose carries a kind, which decides
 * its exit code in one place (src/cli/exit-codes.ts), and may carry a hint: the next step
 * for the user. Anything that is not a TanalyzeError is a bug (exit 70).
 */

/**
 * - usage: the user's input is wrong (a flag, profile, model repository, baseline, landscape file);
 * - infrastructure: something outside tanalyze failed (server, database, file system, network);
 * - configuration: one serving configuration failed (build, load, measurement); inside a search
 *   it becomes a failed or skipped trial, and only stops the run when nothing else can go on.
 */
export type ErrorKind = 'usage' | 'infrastructure' | 'configuration';

export class TanalyzeError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input: one or more problems, each naming the flag/key/file, the value and what is accepted. */
export class UsageError extends TanalyzeError {
  constructor(readonly problems: string[], hint?: string) {
    super('usage', problems.join('\n'), hint);
  }
}

/** Something outside tanalyze failed: server, database, file system. */
export class InfrastructureError extends TanalyzeError {
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super('infrastructure', message, hint, options);
  }
}
