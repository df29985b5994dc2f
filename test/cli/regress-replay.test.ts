/**
 * `tanalyze regress` on a replayed landscape, end to end in process: a replay run is the
 * baseline; regress measures its recommended configuration again from the same landscape
 * (pass), then from a slower copy of it (regression), through the run's own trial function.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../src/cli/commands/run.js';
import { regressCommand } from '../../src/cli/commands/regress.js';
import { EXIT_CODES } from '../../src/domain/exit-codes.js';
import { UsageError } from '../../src/domain/errors.js';
import { Store } from '../../src/store/store.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { recordingIO } from './fake-io.js';

/** The landscape with throughput divided by `slower` and latencies multiplied by it. */
function slowerLandscape(text: string, slower: number): string {
  const [header, ...rows] = text.trim().split('\n');
  const cols = header!.split(',');
  const scale = (name: string, f: number, cells: string[]) => {
    const i = cols.indexOf(name);
    cells[i] = String(Number(cells[i]) * f);
  };
  return [header, ...rows.map((r) => {
    const cells = r.split(',');
    scale('throughput_ips', 1 / slower, cells);
    for (const c of ['p50_ms', 'p90_ms', 'p99_ms']) scale(c, slower, cells);
    return cells.join(',');
  })].join('\n') + '\n';
}

test('regress replays a landscape: the same one passes, a slower one is a regression (exit 1), with JUnit written', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tanalyze-regress-replay-'));
  const original = readFileSync(fromPackageRoot('bench', 'landscapes', 'h100-resnet50-p15.csv'), 'utf8');
  const same = join(cwd, 'resnet.csv');
  writeFileSync(same, original);
  const slower = join(cwd, 'resnet-slower.csv');
  writeFileSync(slower, slowerLandscape(original, 1.3));
  const db = join(cwd, 't.db');
  const io = recordingIO(cwd);
  assert.equal(await runCommand({ launch: 'replay', landscape: same, p99: '15ms', search: 'grid', budget: '8', db, quiet: true }, io), EXIT_CODES.ok);

  const pass = recordingIO(cwd);
  const junit = join(cwd, 'junit.xml');
  assert.equal(await regressCommand({ baseline: 'latest', launch: 'replay', landscape: same, db, repeats: '2', junit }, pass), EXIT_CODES.ok, pass.out.join('') + pass.err.join(''));
  assert.match(pass.out.join(''), /No regression/);
  assert.match(pass.err.join(''), /\[2\/2\] measuring the baseline's configuration/);
  assert.match(readFileSync(junit, 'utf8'), /<testsuite[^>]*failures="0"/);

  const fail = recordingIO(cwd);
  const code = await regressCommand({ baseline: 'latest', launch: 'replay', landscape: slower, db, repeats: '1', json: true }, fail);
  assert.equal(code, EXIT_CODES.regression, fail.out.join(''));
  const summary = JSON.parse(fail.out.join('')) as { verdict: string; exit_code: number };
  assert.equal(summary.verdict, 'regression');
  assert.equal(summary.exit_code, 1);

  // regress measures; it does not add runs to the database (its repeats are trials of no stored run).
  const store = Store.open(db);
  try {
    assert.equal(store.listRuns().length, 1);
  } finally {
    store.close();
  }
});

test('regress --research compares the run it started itself, not whatever run is latest', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tanalyze-regress-research-'));
  const landscape = join(cwd, 'resnet.csv');
  writeFileSync(landscape, readFileSync(fromPackageRoot('bench', 'landscapes', 'h100-resnet50-p15.csv'), 'utf8'));
  const db = join(cwd, 't.db');
  assert.equal(await runCommand({ launch: 'replay', landscape, p99: '15ms', search: 'grid', budget: '8', db, quiet: true }, recordingIO(cwd)), EXIT_CODES.ok);
  const io = recordingIO(cwd);
  const code = await regressCommand({ baseline: 'latest', launch: 'replay', landscape, db, repeats: '1', research: true, json: true }, io);
  assert.equal(code, EXIT_CODES.ok, io.out.join('') + io.err.join(''));
  const summary = JSON.parse(io.out.join('')) as { baseline: { run_id: string }; candidate_best: { run_id: string } | null };
  const store = Store.open(db);
  try {
    const runs = store.listRuns();
    assert.equal(runs.length, 2, 'the re-search is a run of its own');
    const researched = runs.find((r) => r.id !== summary.baseline.run_id)!;
    assert.equal(summary.candidate_best?.run_id, researched.id);
  } finally {
    store.close();
  }
});

test('regress reports every bad input at once: thresholds, the missing baseline and the launch flags', async () => {
  const io = recordingIO(mkdtempSync(join(tmpdir(), 'tanalyze-regress-bad-')));
  await assert.rejects(regressCommand({ maxP99Rise: '12', launch: 'replay', window: 'long' }, io), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    const text = e.problems.join('\n');
    assert.equal(e.problems.length, 4, text);
    assert.match(text, /--max-p99-rise: '12' is ambiguous/);
    assert.match(text, /--baseline: required/);
    assert.match(text, /--landscape: required with --launch replay/);
    assert.match(text, /--window: 'long' is not a duration; accepted:/);
    return true;
  });
});
