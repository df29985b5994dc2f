import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { renderReadme, allHelpTexts } from '../../scripts/gen-readme.js';
import { COMMANDS, OPTIONS, defaultShown, type CommandName } from '../../src/cli/options.js';

test('README flag, command, environment and exit-code sections match --help and the option table (run node dist/scripts/gen-readme.js)', () => {
  const readme = readFileSync(fromPackageRoot('README.md'), 'utf8');
  assert.equal(readme, renderReadme(readme));
});

const HELP_OF: Record<CommandName, string> = {
  run: 'tanalyze',
  plan: 'tanalyze plan',
  regress: 'tanalyze regress',
  report: 'tanalyze report',
  compare: 'tanalyze compare',
  'baseline export': 'tanalyze baseline export',
  'export-landscape': 'tanalyze export-landscape',
};

test("every command's --help lists exactly the table's flags for it, with the table's default", () => {
  const helps = new Map(allHelpTexts().map((h) => [h.name, h.text]));
  for (const command of COMMANDS) {
    const text = helps.get(HELP_OF[command]);
    assert.ok(text, `no help for ${command}`);
    const help = text.replace(/\s+/g, ' ');
    // The flags the help lists: the start of its option lines.
    const flags = new Set([...text.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]));
    for (const o of OPTIONS.filter((x) => x.flags)) {
      const flag = o.flags!.split(' ')[0]!;
      const listed = flags.has(flag);
      assert.equal(listed, o.commands.includes(command), `${command}: ${flag}`);
      const shown = defaultShown(o, command);
      if (listed && shown && !o.describeFor?.[command]) assert.ok(help.includes(`default: ${shown}`), `${command} ${flag}: default ${shown}`);
    }
  }
});

test('commands that start a server take the same launch flags', () => {
  const launch = ['--launch', '--landscape', '--triton-path', '--triton-image', '--gpus', '--docker-socket', '--url', '--metrics-url', '--engine-target', '--engine-cache', '--port', '--replay-noise'];
  for (const flag of launch) {
    const o = OPTIONS.find((x) => x.flags?.startsWith(`${flag} `))!;
    for (const command of ['run', 'plan', 'regress'] as const) assert.ok(o.commands.includes(command), `${command} ${flag}`);
  }
});

test('the README lists every environment variable of the table, the GPU worker ones included', () => {
  const readme = readFileSync(fromPackageRoot('README.md'), 'utf8');
  const vars = OPTIONS.flatMap((o) => (o.env ? [o.env] : []));
  assert.ok(vars.filter((v) => /^TANALYZE_(GPU_|NVIDIA_SMI)/.test(v)).length === 8, 'the eight GPU worker variables are in the table');
  for (const v of vars) assert.ok(readme.includes(`| \`${v}\` |`), v);
});
