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

/** errno codes that mean tanalyze's own disk or file system failed, not the configuration it measured. */
const OWN_IO_ERRNOS = new Set(['ENOSPC', 'EIO', 'EROFS', 'EDQUOT', 'EMFILE', 'ENFILE']);

/**
 * An error that says nothing about the configuration being measured: tanalyze's own disk or
 * database failed (a full disk, an I/O error). A trial that meets one is not given a verdict:
 * it stays unfinished and a resumed run measures it again. Returns it as an infrastructure
 * error (kind 'infrastructure'), or null for any other error.
 */
export function ownInfrastructureFailure(e: unknown): TanalyzeError | null {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string' && OWN_IO_ERRNOS.has(code)) {
    return new InfrastructureError(`tanalyze's own disk failed: ${(e as Error).message}`, undefined, { cause: e });
  }
  return null;
}
