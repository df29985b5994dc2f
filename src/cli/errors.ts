/** How an error that ended a command is printed. */
import { TanalyzeError, UsageError } from '../domain/errors.js';

/** The text printed for an error: its message (every problem), and a hint; a stack only for bugs. */
export function formatError(err: unknown): string {
  if (err instanceof UsageError) {
    const lines = err.problems.length > 1 ? ['tanalyze: invalid input:', ...err.problems.map((p) => `  - ${p}`)] : [`tanalyze: ${err.problems[0]}`];
    if (err.hint) lines.push(err.hint);
    return lines.join('\n');
  }
  if (err instanceof TanalyzeError) return `tanalyze: ${err.message}${err.hint ? `\n${err.hint}` : ''}`;
  const e = err as Error;
  return `tanalyze: internal error (please report it): ${e?.stack ?? String(err)}`;
}
