/** Process entry: parse, dispatch, map errors to exit codes in one place. */
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { EXIT_CODES, exitCodeFor } from '../domain/exit-codes.js';
import { formatError } from './errors.js';
import { runCommand } from './commands/run.js';
import { planCommand } from './commands/plan.js';
import { reportCommand } from './commands/report.js';
import { regressCommand } from './commands/regress.js';
import { exportLandscapeCommand } from './commands/export-landscape.js';
import { compareCommand } from './commands/compare.js';
import { exportBaselineCommand } from './commands/baseline-export.js';

async function main(argv: string[]): Promise<number> {
  let code = EXIT_CODES.ok as number;
  const io = { stdout: (s: string) => process.stdout.write(s), stderr: (s: string) => process.stderr.write(s), cwd: process.cwd(), env: process.env };
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
  );
  try {
    await program.parseAsync(argv);
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

// stdout on a full device or a closed pipe: Node would die of an unhandled 'error' event with
// exit 1, which compare and regress use for "regression found". It is an infrastructure failure.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    const name = stream === process.stdout ? 'standard output' : 'standard error';
    if (stream !== process.stderr) process.stderr.write(`tanalyze: cannot write to ${name}: ${e.message}\n`, () => {});
    process.exit(EXIT_CODES.infrastructure);
  });
}

const exitCode = await main(process.argv);
process.exitCode = exitCode;
// A stray handle (a gRPC channel in a failure path) must not keep a finished run alive.
setTimeout(() => process.exit(exitCode), 3000).unref();
