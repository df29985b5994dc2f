/** commander wiring: every command's options come from the one table in options.ts; actions live in commands/. */
import { Command, Option } from 'commander';
import { helpDescription, optionsFor, type CommandName } from './options.js';
import { EXIT_CODE_DOCS } from '../domain/exit-codes.js';
import { toolVersion } from './version.js';
import { UsageError } from '../domain/errors.js';

export type Flags = Record<string, unknown>;

export interface Actions {
  run(flags: Flags): Promise<number>;
  plan(flags: Flags): Promise<number>;
  report(run: string, flags: Flags): Promise<number>;
  compare(baseline: string, candidate: string, flags: Flags): Promise<number>;
  exportBaseline(run: string, flags: Flags): Promise<number>;
  regress(flags: Flags): Promise<number>;
  exportLandscape(run: string, flags: Flags): Promise<number>;
}

/** Registers every option of the table that `command` takes (settings without a flag are environment or profile only). */
function addOptions(cmd: Command, command: CommandName): Command {
  for (const spec of optionsFor(command)) if (spec.flags) cmd.addOption(new Option(spec.flags, helpDescription(spec, command)));
  return cmd;
}

/** Where commander prints help, version and its own errors (default: the process's streams). */
export interface ProgramOutput {
  writeOut: (s: string) => void;
  writeErr: (s: string) => void;
}

export function buildProgram(actions: Actions, setExit: (code: number) => void, output?: ProgramOutput): Command {
  const program = new Command('tanalyze')
    .description('Find the best way to serve a model on Triton: search serving configurations, measure throughput and p99 latency, report the Pareto frontier and write the winning config.pbtxt.')
    .version(toolVersion(), '-V, --version')
    .configureHelp({ helpWidth: 100 })
    .showHelpAfterError('(run `tanalyze --help` for the flags and their forms)')
    .exitOverride();
  // Set before the subcommands are added: they copy it.
  if (output) program.configureOutput(output);

  // Subcommands parse their own options (`tanalyze report latest --db F` is report's --db).
  program.enablePositionalOptions();
  addOptions(program, 'run');
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
  program.action(async (flags: Flags) => setExit(await actions.run(flags)));

  const sub = (name: string, command: CommandName, description: string, parent: Command = program): Command =>
    addOptions(parent.command(name).description(description).exitOverride(), command);

  sub('plan', 'plan', 'print what a run with these flags would do (settings and where each came from, the space, strategy, budget, engine builds, an estimate of the wall time) and start nothing')
    .action(async (flags: Flags) => setExit(await actions.plan(flags)));

  sub('report', 'report', 'write the HTML report of a stored run again, from the database alone')
    .argument('<run>', "run id, or 'latest'")
    .action(async (run: string, flags: Flags) => setExit(await actions.report(run, flags)));

  sub('compare', 'compare', 'compare a candidate run with a baseline (runs in the database or baseline JSON files); exit 1 on regression')
    .argument('<baseline>', "baseline: a baseline JSON file, or a run id ('latest')")
    .argument('<candidate>', 'candidate: a baseline JSON file, or a run id')
    .action(async (b: string, c: string, flags: Flags) => setExit(await actions.compare(b, c, flags)));

  const baseline = program.command('baseline').description('baselines for regression jobs');
  sub('export', 'baseline export', 'write a stored run as a baseline JSON file', baseline)
    .argument('<run>', "run id, or 'latest'")
    .action(async (run: string, flags: Flags) => setExit(await actions.exportBaseline(run, flags)));

  sub('export-landscape', 'export-landscape', "write a stored run's measurements as a landscape CSV that --launch replay answers from")
    .argument('<run>', "run id, or 'latest'")
    .action(async (run: string, flags: Flags) => setExit(await actions.exportLandscape(run, flags)));

  sub('regress', 'regress', "measure a baseline's recommended configuration again, on any launch mode, and compare (nightly jobs); the load and server settings come from the nightly profile unless --profile names another; exit 1 on regression")
    .action(async (flags: Flags) => setExit(await actions.regress(flags)));

  // Commander's own message ("too many arguments") does not say which: a stray argument is named.
  const allCommands = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(allCommands)];
  for (const cmd of allCommands(program)) cmd.allowExcessArguments(true);
  program.hook('preAction', (_program, cmd) => {
    const stray = cmd.args.slice(cmd.registeredArguments.length);
    if (!stray.length) return;
    const name = cmd === program ? 'tanalyze' : `tanalyze ${cmd.parent && cmd.parent !== program ? `${cmd.parent.name()} ` : ''}${cmd.name()}`;
    const takes = cmd.registeredArguments.length ? `takes ${cmd.registeredArguments.map((a) => `<${a.name()}>`).join(' ')} only` : 'takes no positional arguments (settings are flags, e.g. --model NAME)';
    const commands = cmd === program ? `; commands: ${program.commands.map((c) => c.name()).join(', ')}` : '';
    throw new UsageError([`unexpected argument${stray.length > 1 ? 's' : ''} ${stray.map((a) => `'${a}'`).join(', ')}: ${name} ${takes}${commands}`]);
  });
  return program;
}

/** Every command's --help, for the README: the program's own, then each subcommand's. */
export function commandHelps(program: Command): { name: string; text: string }[] {
  const out = [{ name: 'tanalyze', text: program.helpInformation() }];
  const walk = (cmd: Command, prefix: string) => {
    for (const c of cmd.commands) {
      const name = `${prefix} ${c.name()}`;
      if (c.commands.length) walk(c, name);
      else out.push({ name, text: c.helpInformation() });
    }
  };
  walk(program, 'tanalyze');
  return out;
}
