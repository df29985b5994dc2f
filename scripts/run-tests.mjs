#!/usr/bin/env node
// Runs the compiled test files with node's test runner. Node 20's `node --test`
// takes no globs, and with no file list it runs nothing and exits 0, so the list
// is built here; an empty list is an error, never a silent pass.
// `--fast` leaves out files tagged slow (`*.slow.test.js`).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const fast = process.argv.includes('--fast');
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const root = 'dist/test';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const slow = (f) => f.endsWith('.slow.test.js');
// Slow files first: the runner starts files in list order, two at a time, so the long ones
// overlap each other and the many short files fill in at the end instead of one long file
// running alone after everything else has finished.
let files = walk(root).sort((a, b) => Number(slow(b)) - Number(slow(a)) || a.localeCompare(b));
if (fast) files = files.filter((f) => !slow(f));
if (only.length) files = files.filter((f) => only.some((o) => f.includes(o)));
if (files.length === 0) {
  console.error(`run-tests: no test files found under ${root}${only.length ? ` matching ${only.join(', ')}` : ''}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
