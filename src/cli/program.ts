/** commander wiring: options come from the table in options.ts; actions live in commands/. */
import { Command, Option } from 'commander';
import { RUN_OPTIONS } from './options.js';
import { EXIT_CODE_DOCS } from './errors.js';
import { toolVersion } from './version.js';

export interface Actions {
  run(flags: Record<string, unknown>): Promise<number>;
  report(run: string, flags: Record<string, unknown>): Promise<number>;
}

export function buildProgram(actions: Actions, setExit: (code: number) => void): Command {
  const program = new Command('tanalyze')
    .description('Find the best way to serve a model on Triton: search serving configurations, measure throughput and p99 latency, report the Pareto frontier and write the winning config.pbtxt.')
    .version(toolVersion(), '-V, --version')
    .configureHelp({ helpWidth: 100 })
    .showHelpAfterError('(run `tanalyze --help` for the flags and their forms)')
    .exitOverride();

  for (const spec of RUN_OPTIONS) {
    const extras = [spec.defaultText ? `default: ${spec.defaultText}` : '', spec.env ? `env ${spec.env}` : ''].filter(Boolean).join('; ');
    program.addOption(new Option(spec.flags, extras ? `${spec.description} (${extras})` : spec.description));
  }
  program.addHelpText(
    'after',
    [
      '',
      'Exit codes:',
      ...EXIT_CODE_DOCS.map((d) => `  ${String(d.code).padEnd(4)}${d.meaning}`),
      '',
      'Example:',
      '  tanalyze --model tiny_resnet --p99 50ms',
    ].join('\n'),
  );
  program.action(async (flags: Record<string, unknown>) => setExit(await actions.run(flags)));

  program
    .command('report')
    .description('write the HTML report of a stored run again, from the database alone')
    .argument('<run>', "run id, or 'latest'")
    .option('--db <file>', 'SQLite database of runs (default: reports/tanalyze.db)')
    .option('--out <file>', 'where to write the HTML (default: reports/<run-id>/index.html)')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (run: string, flags: Record<string, unknown>) => setExit(await actions.report(run, flags)));
  return program;
}
