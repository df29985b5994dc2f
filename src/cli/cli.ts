/** The CLI as a function: parse, dispatch, map errors to exit codes in one place. main.ts runs it on the real process; tests run it in process. */
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { EXIT_CODES, exitCodeFor } from '../domain/exit-codes.js';
import { formatError } from './errors.js';
import { withProcessDefaults, type CliIO } from './io.js';
import { runCommand } from './commands/run.js';
import { planCommand } from './commands/plan.js';
import { reportCommand } from './commands/report.js';
import { regressCommand } from './commands/regress.js';
import { exportLandscapeCommand } from './commands/export-landscape.js';
import { compareCommand } from './commands/compare.js';
import { exportBaselineCommand } from './commands/baseline-export.js';

/** `argv` as process.argv gives it (node, script, args...); returns the exit code. */
export async function runCli(argv: readonly string[], ioIn: CliIO): Promise<number> {
  const io = withProcessDefaults(ioIn);
  let code = EXIT_CODES.ok as number;
  const program = buildProgram(
    {
      run: (flags) => runCommand(flags, io),
      plan: (flags) => planCommand(flags, io),
      report: (run, flags) => reportCommand(run, flags, io),
      compare: (b, c, flags) => compareCommand(b, c, flags, io),
      exportBaseline: (run, flags) => exportBaselineCommand(run, flags, io),
      regress: (flags) => regressCommand(flags, io),
      exportLandscape: (run, flags) => exportLandscapeCommand(run, flags, io),
    },
    (c) => (code = c),
    { writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) },
  );
  try {
    await program.parseAsync([...argv]);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; unknown flags and missing values are usage errors
      return err.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
    }
    io.stderr(formatError(err) + '\n');
    return exitCodeFor(err);
  }
}
