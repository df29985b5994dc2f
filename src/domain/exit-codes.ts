/**
 * tanalyze's exit codes, what each means (for --help and the README, checked by a test),
 * and the one mapping from an error's kind to its code.
 */
import { TanalyzeError, type ErrorKind } from './errors.js';
import type { Verdict } from './comparison.js';

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
  { code: EXIT_CODES.infrastructure, meaning: 'infrastructure failure: the server would not start, the database or the disk failed, or no configuration could be measured at all (every one failed or was skipped: the model or the server is broken)' },
  { code: EXIT_CODES.usage, meaning: 'usage error: a flag, profile, model name or model repository is wrong' },
  { code: EXIT_CODES.internal, meaning: 'internal error in tanalyze (a bug: please report it)' },
  { code: EXIT_CODES.interrupted, meaning: 'interrupted (Ctrl-C or SIGTERM); what was measured is saved and reported' },
];

const VERDICT_EXIT_CODES: Record<Verdict, number> = {
  pass: EXIT_CODES.ok,
  regression: EXIT_CODES.regression,
  'sla-not-met': EXIT_CODES.targetNotMet,
  infrastructure: EXIT_CODES.infrastructure,
};

/** The exit code of compare and regress for their verdict. */
export function exitCodeForVerdict(v: Verdict): number {
  return VERDICT_EXIT_CODES[v];
}

const KIND_EXIT_CODES: Record<ErrorKind, number> = {
  usage: EXIT_CODES.usage,
  infrastructure: EXIT_CODES.infrastructure,
  configuration: EXIT_CODES.infrastructure,
};

/** The exit code for an error that ended a command: by its kind; anything else is a bug. */
export function exitCodeFor(err: unknown): number {
  return err instanceof TanalyzeError ? KIND_EXIT_CODES[err.kind] : EXIT_CODES.internal;
}

/**
 * The exit code of a search: interrupted; a configuration met the target; the model could not
 * be served at all (every trial failed or was skipped: a model that does not load, a server
 * that fails every configuration), which is no verdict on the target; or no configuration met it.
 */
export function exitCodeForRun(r: { interrupted: boolean; recommended: boolean; trialStates: readonly string[] }): number {
  if (r.interrupted) return EXIT_CODES.interrupted;
  if (r.recommended) return EXIT_CODES.ok;
  const measuredAny = r.trialStates.some((s) => s === 'COMPLETE' || s === 'INFEASIBLE');
  if (r.trialStates.length > 0 && !measuredAny) return EXIT_CODES.infrastructure;
  return EXIT_CODES.targetNotMet;
}
