/** commander wiring: options come from the table in options.ts; actions live in commands/. */
import { Command, Option } from 'commander';
import { RUN_OPTIONS } from './options.js';
import { REGRESS_OPTIONS } from '../regress/commands.js';
import { EXIT_CODE_DOCS } from '../domain/exit-codes.js';
import { toolVersion } from './version.js';

export interface Actions {
  run(flags: Record<string, unknown>): Promise<number>;
  report(run: string, flags: Record<string, unknown>): Promise<number>;
  compare(baseline: string, candidate: string, flags: Record<string, unknown>): Promise<number>;
  exportBaseline(run: string, flags: Record<string, unknown>): Promise<number>;
  regress(flags: Record<string, unknown>): Promise<number>;
  exportLandscape(run: string, flags: Record<string, unknown>): Promise<number>;
}

/** Run options a regress job also takes: where the model is and how load is measured. */
const REGRESS_RUN_KEYS = ['modelRepository', 'profile', 'maxConcurrency', 'window', 'maxWindows', 'load', 'arrivals', 'maxRate', 'loadWorkers', 'clientTransport', 'launch', 'url', 'port', 'outDir', 'quiet'];

function optionFor(spec: { flags: string; description: string; defaultText?: string; env?: string }): Option {
  const extras = [spec.defaultText ? `default: ${spec.defaultText}` : '', spec.env ? `env ${spec.env}` : ''].filter(Boolean).join('; ');
  return new Option(spec.flags, extras ? `${spec.description} (${extras})` : spec.description);
}

export function buildProgram(actions: Actions, setExit: (code: number) => void): Command {
  const program = new Command('tanalyze')
    .description('Find the best way to serve a model on Triton: search serving configurations, measure throughput and p99 latency, report the Pareto frontier and write the winning config.pbtxt.')
    .version(toolVersion(), '-V, --version')
    .configureHelp({ helpWidth: 100 })
    .showHelpAfterError('(run `tanalyze --help` for the flags and their forms)')
    .exitOverride();

  // Subcommands parse their own options (`tanalyze report latest --db F` is report's --db).
  program.enablePositionalOptions();
  for (const spec of RUN_OPTIONS) program.addOption(optionFor(spec));
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

  const compare = program
    .command('compare')
    .description('compare a candidate run with a baseline (runs in the database or baseline JSON files); exit 1 on regression')
    .argument('<baseline>', "baseline: a baseline JSON file, or a run id ('latest')")
    .argument('<candidate>', 'candidate: a baseline JSON file, or a run id');
  for (const spec of REGRESS_OPTIONS.filter((o) => o.commands.includes('compare'))) compare.addOption(optionFor(spec));
  compare.action(async (b: string, c: string, flags: Record<string, unknown>) => setExit(await actions.compare(b, c, flags)));

  program
    .command('baseline')
    .description('baselines for regression jobs')
    .command('export')
    .description('write a stored run as a baseline JSON file')
    .argument('<run>', "run id, or 'latest'")
    .option('--db <file>', 'SQLite database of runs (default: reports/tanalyze.db)')
    .option('--out <file>', 'where to write the baseline (default: stdout)')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (run: string, flags: Record<string, unknown>) => setExit(await actions.exportBaseline(run, flags)));

  program
    .command('export-landscape')
    .description("write a stored run's measurements as a landscape CSV that --launch replay answers from")
    .argument('<run>', "run id, or 'latest'")
    .option('--db <file>', 'SQLite database of runs (default: reports/tanalyze.db)')
    .option('--out <file>', 'where to write the CSV (default: stdout)')
    .option('--json', 'print a JSON summary on stdout (with --out)')
    .action(async (run: string, flags: Record<string, unknown>) => setExit(await actions.exportLandscape(run, flags)));

  const regress = program
    .command('regress')
    .description("measure a baseline's recommended configuration again and compare (nightly jobs); exit 1 on regression");
  for (const spec of REGRESS_OPTIONS.filter((o) => o.commands.includes('regress'))) regress.addOption(optionFor(spec));
  for (const key of REGRESS_RUN_KEYS) regress.addOption(optionFor(RUN_OPTIONS.find((o) => o.key === key)!));
  regress.action(async (flags: Record<string, unknown>) => setExit(await actions.regress(flags)));
  return program;
}
