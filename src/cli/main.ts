/** Process entry: the CLI on the real process (the one place that builds the process IO). */
import { runCli } from './cli.js';
import { processIO } from './io.js';
import { EXIT_CODES } from '../domain/exit-codes.js';

// stdout on a full device or a closed pipe: Node would die of an unhandled 'error' event with
// exit 1, which compare and regress use for "regression found". It is an infrastructure failure.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    const name = stream === process.stdout ? 'standard output' : 'standard error';
    if (stream !== process.stderr) process.stderr.write(`tanalyze: cannot write to ${name}: ${e.message}\n`, () => {});
    process.exit(EXIT_CODES.infrastructure);
  });
}

const exitCode = await runCli(process.argv, processIO());
process.exitCode = exitCode;
// A stray handle (a gRPC channel in a failure path) must not keep a finished run alive.
setTimeout(() => process.exit(exitCode), 3000).unref();
