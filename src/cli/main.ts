/** Process entry: the CLI on the real process (the one place that builds the process IO). */
import { runCli } from './cli.js';
import { processIO } from './io.js';

const exitCode = await runCli(process.argv, processIO());
process.exitCode = exitCode;
// A stray handle (a gRPC channel in a failure path) must not keep a finished run alive.
setTimeout(() => process.exit(exitCode), 3000).unref();
