/**
 * The CLI as a user runs it: a real process, the embedded server over real gRPC,
 * real ONNX inference, a real SQLite file, the report on disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHORT_LOAD, tanalyze } from './run-cli.js';
import Database from 'better-sqlite3';
import { parseModelConfig } from '../../src/config/pbtxt.js';

test('a short search on the embedded server finds a configuration and writes report, config and database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-cli-'));
  const r = await tanalyze(['--model', 'tiny_resnet', '--p99', '200ms', '--profile', 'quick', ...SHORT_LOAD, '--budget', '3', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.trials, 3);
  assert.ok(summary.default, 'the default configuration is measured');
  assert.equal(summary.default.trial_index, 0);
  const rec = summary.recommended;
  for (const k of ['max_batch_size', 'max_queue_delay_us', 'instance_count', 'precision', 'throughput_ips', 'p99_ms']) assert.ok(k in rec, k);
  assert.ok(rec.throughput_ips > 0);
  assert.ok(rec.p99_ms <= 200);
  assert.ok(existsSync(summary.report_html));
  const html = readFileSync(summary.report_html, 'utf8');
  assert.ok(html.includes('tiny_resnet'));
  const cfg = parseModelConfig(readFileSync(summary.config_pbtxt, 'utf8'), summary.config_pbtxt);
  assert.equal(cfg.name, 'tiny_resnet', 'the winning config carries the model its own name');
  assert.equal(cfg.max_batch_size, rec.max_batch_size);

  const db = new Database(join(dir, 'reports', 'tanalyze.db'), { readonly: true });
  const trials = db.prepare('SELECT state FROM trials WHERE run_id = ?').all(summary.run_id) as { state: string }[];
  assert.equal(trials.length, 3);
  assert.ok(trials.every((t) => t.state !== 'RUNNING'));
  const points = db.prepare('SELECT COUNT(*) AS n FROM measurements m JOIN trials t ON t.id = m.trial_id WHERE t.run_id = ?').get(summary.run_id) as { n: number };
  assert.ok(points.n >= 3, 'every load point is stored');
  db.close();
});

// The usage errors' texts are tested in process (in-process.test.ts); this one checks the process's own exit code.
test('an unknown flag is a usage error (exit 64)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-cli-'));
  const r = await tanalyze(['--model', 'x', '--p99', '50ms', '--bugdet', '3'], dir);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /unknown option '--bugdet'/);
});

test('nightly flow: search, export a baseline, regress against it, compare two runs, re-render a report', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-cli-'));
  const db = join(dir, 'runs.db');
  const search = await tanalyze(['--model', 'tiny_resnet', '--p99', '200ms', '--profile', 'quick', ...SHORT_LOAD, '--budget', '2', '--db', db, '--json'], dir);
  assert.equal(search.code, 0, search.stderr);
  const runId = JSON.parse(search.stdout).run_id;

  const exported = await tanalyze(['baseline', 'export', 'latest', '--db', db, '--out', 'baseline.json'], dir);
  assert.equal(exported.code, 0, exported.stderr);
  const baseline = JSON.parse(readFileSync(join(dir, 'baseline.json'), 'utf8'));
  assert.equal(baseline.run.id, runId);

  const regress = await tanalyze(['regress', '--baseline', 'baseline.json', '--profile', 'quick', ...SHORT_LOAD, '--repeats', '1', '--junit', 'junit.xml', '--db', db, '--json'], dir);
  // Same machine, same configuration: no regression expected, but a noisy shared machine may say 1.
  assert.ok(regress.code === 0 || regress.code === 1, `exit ${regress.code}: ${regress.stderr}`);
  const verdict = JSON.parse(regress.stdout);
  assert.equal(verdict.kind, 'comparison');
  assert.match(readFileSync(join(dir, 'junit.xml'), 'utf8'), /<testsuite[^>]*tests="\d+"/);

  const compare = await tanalyze(['compare', runId, 'baseline.json', '--db', db, '--json'], dir);
  assert.equal(compare.code, 0, `a run compared with its own export does not regress: ${compare.stderr}`);

  const report = await tanalyze(['report', 'latest', '--db', db, '--json'], dir);
  assert.equal(report.code, 0, report.stderr);
  assert.ok(existsSync(JSON.parse(report.stdout).report_html));

  const badBaseline = await tanalyze(['regress', '--baseline', 'nosuch.json', '--db', db], dir);
  assert.equal(badBaseline.code, 64);
  assert.match(badBaseline.stderr, /--baseline/);
});

test('a full disk when writing the report is exit 3 naming the file; the stored run is intact and re-renders', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-cli-'));
  const run = await tanalyze(['--launch', 'sim', '--p99', '30ms', '--budget', '3', '--json'], dir);
  assert.equal(run.code, 0, run.stderr);
  // /dev/full answers every write with ENOSPC.
  const full = await tanalyze(['report', 'latest', '--out', '/dev/full'], dir);
  assert.equal(full.code, 3, full.stderr);
  assert.match(full.stderr, /could not write the report: .*ENOSPC/);
  assert.doesNotMatch(full.stderr, /\n\s+at /, 'no stack trace');
  const again = await tanalyze(['report', 'latest', '--out', 'again.html'], dir);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(existsSync(join(dir, 'again.html')));
});

test('resume refuses flags that contradict the stored settings, naming each with the stored value', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-cli-'));
  const first = await tanalyze(['--launch', 'sim', '--p99', '30ms', '--budget', '3', '--json'], dir);
  assert.equal(first.code, 0, first.stderr);
  const r = await tanalyze(['--launch', 'sim', '--p99', '40ms', '--budget', '3', '--resume', 'latest'], dir);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /--p99: '40ms' contradicts run \S+'s stored setting '30ms'; accepted: leave it out \(the stored value is used\) or '30ms'/);
  // With no other flag, the stored settings are used and the run goes on.
  const resumed = await tanalyze(['--resume', 'latest', '--budget', '4', '--json'], dir);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(JSON.parse(resumed.stdout).trials, 4);
});
