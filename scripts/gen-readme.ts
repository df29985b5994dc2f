/**
 * Writes the generated sections of README.md from the option table and EXIT_CODE_DOCS: every
 * command's --help, the environment variables, and the exit codes. test/cli/readme.test.ts
 * fails when they differ: after changing an option, run `node dist/scripts/gen-readme.js`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { buildProgram, commandHelps, type Actions } from '../src/cli/program.js';
import { EXIT_CODE_DOCS } from '../src/domain/exit-codes.js';
import { OPTIONS, defaultShown, flagName } from '../src/cli/options.js';
import { fromPackageRoot } from '../src/util/package-root.js';

function program() {
  const noop = async () => 0;
  const actions: Actions = { run: noop, plan: noop, report: noop, compare: noop, exportBaseline: noop, regress: noop, exportLandscape: noop };
  return buildProgram(actions, () => {});
}

/** `tanalyze --help`. */
export function helpText(): string {
  return program().helpInformation();
}

/** Every command's --help: `tanalyze --help`, `tanalyze regress --help`, ... */
export function allHelpTexts(): { name: string; text: string }[] {
  return commandHelps(program());
}

export function readmeSections(): Record<string, string> {
  const helps = allHelpTexts();
  const envRows = OPTIONS.filter((o) => o.env).map((o) => {
    const shown = defaultShown(o);
    // A value in code type; a description of a derived default (defaultText) as words.
    const cell = shown === null ? '—' : o.defaultText ? shown : `\`${shown}\``;
    return `| \`${o.env}\` | ${o.flags ? `\`${flagName(o)}\`` : '—'} | ${o.description.replace(/\|/g, '\\|')} | ${cell} |`;
  });
  return {
    help: ['```text', helps[0]!.text.trimEnd(), '```'].join('\n'),
    'command-help': helps.slice(1).flatMap((h) => [`**\`${h.name}\`**`, '', '```text', h.text.trimEnd(), '```', '']).join('\n').trimEnd(),
    env: ['| variable | flag | what it sets | default |', '| --- | --- | --- | --- |', ...envRows].join('\n'),
    'exit-codes': ['| code | meaning |', '| --- | --- |', ...EXIT_CODE_DOCS.map((d) => `| ${d.code} | ${d.meaning} |`)].join('\n'),
  };
}

export function renderReadme(readme: string): string {
  let out = readme;
  for (const [name, body] of Object.entries(readmeSections())) {
    const re = new RegExp(`(<!-- ${name}:start -->)[\\s\\S]*?(<!-- ${name}:end -->)`);
    if (!re.test(out)) throw new Error(`README.md has no <!-- ${name}:start --> ... <!-- ${name}:end --> markers`);
    out = out.replace(re, () => `<!-- ${name}:start -->\n${body}\n<!-- ${name}:end -->`);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = fromPackageRoot('README.md');
  writeFileSync(file, renderReadme(readFileSync(file, 'utf8')));
  console.log('README.md: help, command help, environment and exit-code sections written');
}
