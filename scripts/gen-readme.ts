/**
 * Writes the generated sections of README.md (the --help text and the exit codes) from
 * the option table and EXIT_CODE_DOCS. test/cli/readme.test.ts fails when they differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { buildProgram } from '../src/cli/program.js';
import { EXIT_CODE_DOCS } from '../src/domain/exit-codes.js';
import { fromPackageRoot } from '../src/util/package-root.js';

export function helpText(): string {
  const noop = async () => 0;
  return buildProgram({ run: noop, report: noop, compare: noop, exportBaseline: noop, regress: noop, exportLandscape: noop }, () => {}).helpInformation();
}

export function readmeSections(): Record<string, string> {
  return {
    help: ['```text', helpText().trimEnd(), '```'].join('\n'),
    'exit-codes': ['| code | meaning |', '| --- | --- |', ...EXIT_CODE_DOCS.map((d) => `| ${d.code} | ${d.meaning} |`)].join('\n'),
  };
}

export function renderReadme(readme: string): string {
  let out = readme;
  for (const [name, body] of Object.entries(readmeSections())) {
    const re = new RegExp(`(<!-- ${name}:start -->)[\\s\\S]*?(<!-- ${name}:end -->)`);
    if (!re.test(out)) throw new Error(`README.md has no <!-- ${name}:start --> ... <!-- ${name}:end --> markers`);
    out = out.replace(re, `$1\n${body}\n$2`);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = fromPackageRoot('README.md');
  writeFileSync(file, renderReadme(readFileSync(file, 'utf8')));
  console.log('README.md: help and exit-code sections written');
}
