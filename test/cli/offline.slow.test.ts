/**
 * Offline runs through the real CLI: replay from a recorded landscape, the simulated
 * server, export-landscape of a real embedded run replayed again, and SIGKILL at random
 * moments during a replay search, resumed each time, ending with the trials of an
 * uninterrupted run with the same seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHORT_LOAD, tanalyze as run } from './run-cli.js';
import Database from 'better-sqlite3';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { parseLandscape } from '../../src/landscape/csv.js';

const LANDSCAPE = fromPackageRoot('bench', 'landscapes', 'sim-peaked.csv');

const tanalyze = (args: string[], cwd: string, killAfterMs?: number) => run(args, cwd, killAfterMs === undefined ? {} : { killAfterMs });

function runStatus(db: string): string | null {
  if (!existsSync(db)) return null;
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare('SELECT status FROM runs').get() as { status: string } | undefined)?.status ?? null;
  } catch {
    return null; // killed before the schema was written
  } finally {
    d.close();
  }
}

function trialsOf(db: string): string[] {
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare("SELECT trial_index || ':' || config_key || ':' || state AS k FROM trials ORDER BY trial_index").all() as { k: string }[]).map((r) => r.k);
  } finally {
    d.close();
  }
}

test('replay answers every measurement from the landscape, and never recommends an infeasible configuration', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-replay-'));
  const r = await tanalyze(['--launch', 'replay', '--landscape', LANDSCAPE, '--p99', '28ms', '--budget', '40', '--seed', '3', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.model, 'sim-peaked');
  assert.equal(s.default, null, 'a landscape has no default configuration to measure');
  const rows = parseLandscape(readFileSync(LANDSCAPE, 'utf8'), LANDSCAPE).rows.filter(
    (row) => row.config.maxBatchSize === s.recommended.max_batch_size && row.config.maxQueueDelayUs === s.recommended.max_queue_delay_us && row.config.instanceCount === s.recommended.instance_count && row.config.precision === s.recommended.precision,
  );
  assert.ok(rows.some((row) => row.p99Ms <= 28 && Math.abs(row.throughputIps - s.recommended.throughput_ips) < 1e-6), 'the recommendation is a feasible point of the landscape');
});

test('sim: a simulated server answers a search; a bad landscape is a usage error naming the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-sim-'));
  const r = await tanalyze(['--launch', 'sim', '--p99', '30ms', '--budget', '8', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).trials, 8);
  const bad = await tanalyze(['--launch', 'replay', '--landscape', fromPackageRoot('README.md'), '--p99', '30ms'], dir);
  assert.equal(bad.code, 64);
  assert.match(bad.stderr, /README\.md:1: /);
});

test('export-landscape turns a real embedded grid run into a landscape that replays', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-export-'));
  const run = await tanalyze(['--model', 'tiny_resnet', '--p99', '200ms', '--profile', 'quick', ...SHORT_LOAD, '--search', 'grid', '--budget', '3', '--json'], dir);
  assert.equal(run.code, 0, run.stderr);
  const exp = await tanalyze(['export-landscape', 'latest', '--out', 'land.csv'], dir);
  assert.equal(exp.code, 0, exp.stderr);
  const land = parseLandscape(readFileSync(join(dir, 'land.csv'), 'utf8'), 'land.csv');
  assert.ok(land.rows.length >= 3);
  const replay = await tanalyze(['--launch', 'replay', '--landscape', 'land.csv', '--p99', '200ms', '--search', 'grid', '--json', '--db', 'replay.db'], dir);
  assert.equal(replay.code, 0, replay.stderr);
  assert.ok(JSON.parse(replay.stdout).recommended);
});

test('SIGKILL at random moments, resumed each time: the final trials equal an uninterrupted run with the same seed', { timeout: 300_000 }, async () => {
  // Random but reproducible kill times, within one uninterrupted run's wall time.
  let x = 12345;
  const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let kills = 0;
  let trials = 0;
  let seeds = 0;
  // Three seeds, and more only while fewer than 5 kills have landed (a kill drawn after a
  // resumed run's end lands on nothing, and how often that happens depends on the machine).
  for (const seed of [9, 10, 11, 12, 13]) {
    if (seeds >= 3 && kills >= 5) break;
    seeds++;
    const dir = mkdtempSync(join(tmpdir(), 'tanalyze-kill-'));
    const args = ['--launch', 'replay', '--landscape', LANDSCAPE, '--p99', '28ms', '--budget', '45', '--seed', String(seed), '--replay-noise', '0.05'];
    const t0 = Date.now();
    const straight = await tanalyze([...args, '--db', 'straight.db', '--out-dir', 'straight'], dir);
    const wallMs = Date.now() - t0;
    assert.equal(straight.code, 0, straight.stderr);
    const expected = trialsOf(join(dir, 'straight.db'));
    assert.ok(expected.length >= 10, `${expected.length} trials`);

    let finished = false;
    // A few kills per seed, then one run to the end: each restart pays the process start-up
    // again, so killing until a run happens to finish would mostly measure start-ups.
    for (let attempt = 0; attempt < 4 && !finished; attempt++) {
      const r = await tanalyze([...args, '--db', 'killed.db', '--out-dir', 'killed'], dir, Math.floor(wallMs * (0.2 + 0.8 * rand())));
      if (r.signal === 'SIGKILL') {
        kills++;
        // Killed after the run completed (while writing the report): the same command would
        // now start a new run, as it should after a finished one.
        finished = runStatus(join(dir, 'killed.db')) === 'complete';
      } else {
        assert.equal(r.code, 0, r.stderr);
        finished = true;
      }
    }
    if (!finished) {
      const last = await tanalyze([...args, '--db', 'killed.db', '--out-dir', 'killed'], dir);
      assert.equal(last.code, 0, last.stderr);
    }
    const d = new Database(join(dir, 'killed.db'), { readonly: true });
    const runs = (d.prepare('SELECT COUNT(*) AS n FROM runs').get() as { n: number }).n;
    d.close();
    assert.equal(runs, 1, 'every restart resumed the same run');
    assert.deepEqual(trialsOf(join(dir, 'killed.db')), expected, `seed ${seed}`);
    trials += expected.length;
  }
  assert.ok(kills >= 5, `killed ${kills} times: the kill times are too late for this machine`);
  console.log(`# kill-and-resume: ${kills} SIGKILLs over ${seeds} seeds, ${trials} trials, each run identical to its uninterrupted twin`);
});
