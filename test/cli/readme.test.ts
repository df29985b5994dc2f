import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { renderReadme, helpText } from '../../scripts/gen-readme.js';
import { RUN_OPTIONS } from '../../src/cli/options.js';

test('README flag and exit-code sections match --help (run node dist/scripts/gen-readme.js)', () => {
  const readme = readFileSync(fromPackageRoot('README.md'), 'utf8');
  assert.equal(readme, renderReadme(readme));
});

test('--help lists every option of the table', () => {
  const help = helpText();
  for (const o of RUN_OPTIONS) assert.ok(help.includes(o.flags.split(' ')[0]!), o.flags);
});
