/**
 * The CLI in process (runCli with a recording IO): usage errors, help, and whole offline
 * runs with their follow-up commands, without spawning a process. The spawned binary is
 * still tested in the slow tier (cli.slow.test.ts), for what only a real process shows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/cli.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { recordingIO } from './fake-io.js';

const LANDSCAPE = fromPackageRoot('bench', 'landscapes', 'sim-peaked.csv');

/** Runs `tanalyze ...args` in process; signals are not subscribed (a test must not catch the runner's). */
async function tanalyze(args: string[], cwd: string, env: Record<string, string> = {}) {
  const io = recordingIO(cwd, env);
  const code = await runCli(['node', 'tanalyze', ...args], { ...io, onSignal: () => () => {}, now: () => Date.now() });
  return { code, stdout: io.out.join(''), stderr: io.err.join('') };
}

test('usage errors name the flag, the value and what is accepted, with exit 64', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-inproc-usage-'));
  const unknownModel = await tanalyze(['--model', 'nope', '--p99', '50ms'], dir);
  assert.equal(unknownModel.code, 64);
  assert.match(unknownModel.stderr, /--model: 'nope' is not in .*models there: .*identity.*tiny_resnet/);
  assert.doesNotMatch(unknownModel.stderr, /\n\s+at /, 'no stack trace');
  const badP99 = await tanalyze(['--model', 'identity', '--p99', '50'], dir);
  assert.equal(badP99.code, 64);
  assert.match(badP99.stderr, /--p99: '50' is not a latency; accepted: .*50ms, 0\.05s or 50000us/);
  const noRepo = await tanalyze(['--model', 'identity', '--p99', '50ms', '--model-repository', join(dir, 'missing')], dir);
  assert.equal(noRepo.code, 64);
  assert.match(noRepo.stderr, /--model-repository: '.*missing' does not exist/);
  const unknownFlag = await tanalyze(['--model', 'identity', '--p99', '50ms', '--bogus'], dir);
  assert.equal(unknownFlag.code, 64);
  assert.match(unknownFlag.stderr, /unknown option '--bogus'/);
  assert.equal(existsSync(join(dir, 'reports')), false, 'nothing is written for a usage error');
});

test('--help and --version print on the IO given and exit 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-inproc-help-'));
  const help = await tanalyze(['--help'], dir);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: tanalyze/);
  assert.match(help.stdout, /Exit codes:/);
  const version = await tanalyze(['--version'], dir);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
});

test('a replay run in process: JSON summary, report, database; then report, export-landscape and plan on it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-inproc-replay-'));
  const run = await tanalyze(['--launch', 'replay', '--landscape', LANDSCAPE, '--p99', '28ms', '--budget', '12', '--seed', '2', '--json'], dir);
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.model, 'sim-peaked');
  assert.equal(summary.trials, 12);
  assert.ok(summary.recommended.p99_ms <= 28, 'the recommendation meets the target');
  assert.ok(existsSync(summary.report_html), 'the report page is written');
  assert.ok(existsSync(join(dir, 'reports', 'tanalyze.db')), 'the database is in the default place');

  const out = join(dir, 'again.html');
  const report = await tanalyze(['report', 'latest', '--out', out], dir);
  assert.equal(report.code, 0, report.stderr);
  assert.match(readFileSync(out, 'utf8'), /<html/);

  const csv = join(dir, 'land.csv');
  const exported = await tanalyze(['export-landscape', 'latest', '--out', csv], dir);
  assert.equal(exported.code, 0, exported.stderr);
  assert.match(readFileSync(csv, 'utf8').split('\n')[0]!, /^max_batch_size,max_queue_delay_us,instance_count,precision,concurrency,throughput_ips/);

  // A run nobody stored: every command that takes a run says which one, and which ids exist.
  for (const command of ['report', 'export-landscape']) {
    const missing = await tanalyze([command, 'nosuch'], dir);
    assert.equal(missing.code, 64, missing.stderr);
    assert.match(missing.stderr, new RegExp(`${command}: no run 'nosuch' in .*accepted: latest, or a run id such as ${summary.run_id}`));
  }

  const plan = await tanalyze(['plan', '--launch', 'replay', '--landscape', LANDSCAPE, '--p99', '28ms', '--budget', '12', '--json'], dir);
  assert.equal(plan.code, 0, plan.stderr);
  assert.equal(JSON.parse(plan.stdout).budget?.value ?? JSON.parse(plan.stdout).budget, 12);
});

test('a sim run in process ends with exit 0 and the number of trials asked for', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-inproc-sim-'));
  const r = await tanalyze(['--launch', 'sim', '--p99', '30ms', '--budget', '6', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).trials, 6);
});
