/**
 * Issue 16 through the compiled CLI: an offline search stops on SIGINT with its report and
 * summary (item 2); a model that cannot load at all exits 3 (item 8); the winning config.pbtxt
 * carries the model folder's name, as Triton requires (item 10). Embedded server, real ONNX.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MAIN, tanalyze } from './run-cli.js';
import { fromPackageRoot } from '../../src/util/package-root.js';

const tmp = (label: string) => mkdtempSync(join(tmpdir(), `tanalyze-safety-${label}-`));
const SMALL = ['--search', 'grid', '--max-batch-sizes', '1,4', '--queue-delays', '0,100', '--instance-counts', '1,2', '--max-concurrency', '2', '--window', '100ms', '--max-windows', '4', '--window-requests', '0'];

function repoWithIdentity(): { dir: string; model: string } {
  const dir = tmp('repo');
  const model = join(dir, 'repo', 'identity');
  cpSync(fromPackageRoot('examples', 'model_repository', 'identity'), model, { recursive: true });
  return { dir, model };
}

test('item 2: SIGINT stops an offline (replay) search promptly, with a report, a summary, exit 130 and the run stored interrupted', { timeout: 120_000 }, async () => {
  const dir = tmp('replay');
  const args = ['--launch', 'replay', '--landscape', fromPackageRoot('bench', 'landscapes', 'sim-peaked.csv'), '--p99', '30ms', '--search', 'random', '--budget', '5000', '--quiet'];
  // Its own process group, as a shell starts a job; the signal goes to the whole group.
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await new Promise((r) => setTimeout(r, 4000));
  const signalled = Date.now();
  process.kill(-child.pid!, 'SIGINT');
  const code = await done;
  const stoppedInS = (Date.now() - signalled) / 1000;
  assert.equal(code, 130, stderr);
  assert.ok(stoppedInS < 10, `stopped ${stoppedInS.toFixed(1)} s after the signal`);
  assert.match(stderr, /stopping after the current configuration/);
  assert.match(stdout, /Measured \d+ configurations .*stopped: interrupted\./);
  assert.match(stdout, /Report: /);
  const db = new Database(join(dir, 'reports', 'tanalyze.db'), { readonly: true });
  const run = db.prepare('SELECT status, budget FROM runs').get() as { status: string };
  const trials = (db.prepare('SELECT COUNT(*) AS n FROM trials').get() as { n: number }).n;
  db.close();
  assert.equal(run.status, 'interrupted');
  assert.ok(trials > 0 && trials < 5000, `${trials} trials`);
});

for (const [what, bytes] of [
  ['garbage', Buffer.from('this is not an ONNX model\n')],
  ['empty', Buffer.alloc(0)],
  ['truncated', null],
] as const) {
  test(`item 8: a model that cannot load at all (${what} ONNX) exits 3 after "5 configurations in a row failed the same way"`, { timeout: 120_000 }, async () => {
    const { dir, model } = repoWithIdentity();
    const file = join(model, '1', 'model.onnx');
    writeFileSync(file, bytes ?? readFileSync(file).subarray(0, 40));
    const r = await tanalyze(['--model', 'identity', '--model-repository', 'repo', '--p99', '50ms', '--budget', '8', ...SMALL], dir, { timeoutMs: 100_000 });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /stopped: 5 configurations in a row failed the same way/);
    assert.match(r.stderr, /no configuration of 'identity' could be measured/);
  });
}

test('item 10: a config name that differs from its folder is not copied into the winning config.pbtxt (Triton names a model by its folder)', { timeout: 120_000 }, async () => {
  const { dir, model } = repoWithIdentity();
  const cfg = join(model, 'config.pbtxt');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('name: "identity"', 'name: "identity_v2"'));
  const r = await tanalyze(['--model', 'identity', '--model-repository', 'repo', '--p99', '5s', '--budget', '2', ...SMALL], dir, { timeoutMs: 100_000 });
  assert.equal(r.code, 0, r.stderr);
  const written = /Config: (\S+)/.exec(r.stdout)![1]!;
  const text = readFileSync(join(dir, written), 'utf8');
  assert.match(text, /^name: "identity"$/m);
  assert.doesNotMatch(text, /identity_v2/);
});
