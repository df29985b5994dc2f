/**
 * The tanalyze CLI against the REAL tritonserver (.triton/, scripts/install-triton.sh), as a
 * user runs it: a search in local mode where Triton refuses one configuration, a search in
 * which tritonserver is killed with SIGKILL in the middle of a measurement, a search in
 * remote mode against a server the test started (the model back as found at the end), and
 * the nightly flow (search, baseline export, regress, compare).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tanalyze as run, MAIN } from '../cli/run-cli.js';
import { createInferenceClient } from '../../src/protocol/client.js';
import { exampleRepository, identityLikeConfig, realTritonPath, startRealTriton } from './real-triton.js';

// Short windows and low concurrency: the identity model answers in about a millisecond; the
// generous p99 target keeps the outcome (not the speed) under test on a busy 2-core machine.
const FAST = ['--p99', '1000ms', '--profile', 'quick', '--max-concurrency', '4', '--window', '200ms', '--max-windows', '4', '--window-requests', '50', '--json'];
const tanalyze = (args: string[], cwd: string, env: Record<string, string> = {}) => run(args, cwd, { env, timeoutMs: 300_000 });

interface TrialRow {
  i: number;
  state: string;
  error: string | null;
  pbtxt: string | null;
}
function trialsOf(dbFile: string): TrialRow[] {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare('SELECT trial_index AS i, state, error, pbtxt FROM trials ORDER BY trial_index').all() as TrialRow[];
  } finally {
    db.close();
  }
}

// An identity model that refuses, in initialize, to run as more than one instance without a
// queue delay: Triton then refuses the load and says why.
const PICKY_MODEL_PY = [
  'import json',
  'import triton_python_backend_utils as pb_utils',
  '',
  'class TritonPythonModel:',
  '    def initialize(self, args):',
  '        config = json.loads(args["model_config"])',
  '        count = config["instance_group"][0]["count"]',
  '        delay = int(config.get("dynamic_batching", {}).get("max_queue_delay_microseconds", 0))',
  '        if count > 1 and delay == 0:',
  '            raise ValueError(f"picky runs {count} instances only with a queue delay")',
  '',
  '    def execute(self, requests):',
  '        return [pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("output", pb_utils.get_input_tensor_by_name(r, "input").as_numpy())]) for r in requests]',
  '',
].join('\n');

test('--launch local: a configuration the real Triton refuses is a failed trial with its message; the search goes on', async () => {
  const tritonPath = realTritonPath();
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-real-refused-'));
  const repo = exampleRepository([], { picky: { config: identityLikeConfig('picky', 8), modelPy: PICKY_MODEL_PY } });
  const r = await tanalyze(
    ['--model', 'picky', '--model-repository', repo, ...FAST, '--search', 'grid', '--max-batch-sizes', '8', '--queue-delays', '0,500', '--instance-counts', '1,2', '--budget', '5', '--launch', 'local', '--triton-path', tritonPath],
    dir,
  );
  assert.equal(r.code, 0, r.stderr);
  const trials = trialsOf(join(dir, 'reports', 'tanalyze.db'));
  assert.equal(trials.length, 5, JSON.stringify(trials));
  assert.equal(trials[0]!.state, 'COMPLETE', 'the default configuration (one instance) is measured');
  const refused = trials.find((t) => t.state === 'FAILED');
  assert.ok(refused, JSON.stringify(trials));
  assert.match(refused.pbtxt ?? '', /count: 2/);
  assert.doesNotMatch(refused.pbtxt ?? '', /max_queue_delay_microseconds: [1-9]/);
  // Triton's own words, with the model's reason inside.
  assert.match(refused.error ?? '', /picky runs 2 instances only with a queue delay/);
  assert.match(refused.error ?? '', /load failed for model 'picky_config_\d+'/);
  assert.ok(trials.some((t) => t.i > refused.i && t.state === 'COMPLETE'), `the search goes on after the refusal: ${JSON.stringify(trials)}`);
});

/** The pid of the tritonserver serving `repoDir` (the run's own variant repository), from /proc. */
/** Processes (other than this one) whose command line satisfies `match`. */
function processesWhere(match: (argv: string[]) => boolean): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (match(readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0'))) found.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return found;
}

/** Processes whose command line names something under dir (a server, or its Python backend stubs). */
const processesUnder = (dir: string): number[] => processesWhere((argv) => argv.some((a) => a.includes(dir)));

function tritonPidServing(repoDir: string): number | null {
  return processesWhere((argv) => argv[0]!.endsWith('/server/bin/tritonserver') && argv.some((a) => a.startsWith(`--model-repository=${repoDir}`)))[0] ?? null;
}

test('--launch local: kill -9 of the real tritonserver mid-measurement fails that trial with the reason; the server is started again and the search goes on', async () => {
  const tritonPath = realTritonPath();
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-real-kill-'));
  const repo = exampleRepository(['identity']);
  const outDir = join(dir, 'reports');
  const args = ['--model', 'identity', '--model-repository', repo, ...FAST, '--search', 'grid', '--max-batch-sizes', '16', '--queue-delays', '0,500', '--instance-counts', '1', '--budget', '3', '--launch', 'local', '--triton-path', tritonPath, '--out-dir', outDir];
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);

  // Wait until trial 1's variant is being measured (its inference count grows), then kill.
  let killedPid: number | null = null;
  let runRepo = '';
  const deadline = Date.now() + 240_000;
  while (killedPid === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(outDir)) continue;
    const runDir = readdirSync(outDir, { withFileTypes: true }).find((e) => e.isDirectory())?.name;
    if (!runDir) continue;
    const log = (() => {
      try {
        return readFileSync(join(outDir, runDir, 'tritonserver.log'), 'utf8');
      } catch {
        return '';
      }
    })();
    const port = /Started GRPCInferenceService at 127\.0\.0\.1:(\d+)/.exec(log)?.[1];
    if (!port) continue;
    const client = createInferenceClient(`127.0.0.1:${port}`, { deadlineMs: 2000 });
    try {
      const [s] = await client.modelStatistics('identity_config_1');
      if (s && Number(s.inference_count) > 20) {
        runRepo = join(outDir, runDir, 'model_repository');
        const pid = tritonPidServing(runRepo);
        if (pid) {
          process.kill(pid, 'SIGKILL');
          killedPid = pid;
        }
      }
    } catch {
      /* not loaded yet */
    } finally {
      client.close();
    }
  }
  const code = await closed;
  clearTimeout(timer);
  assert.ok(killedPid, `tritonserver was found and killed while measuring trial 1: ${stderr}`);
  assert.equal(code, 0, stderr);
  // Started again on the same ports, its log appended.
  const starts = readFileSync(join(runRepo, '..', 'tritonserver.log'), 'utf8').match(/^# tanalyze .*tritonserver --model-repository=.*$/gm) ?? [];
  assert.equal(starts.length, 2, 'started twice');
  assert.equal(starts[1]!.replace(/^# tanalyze \S+/, ''), starts[0]!.replace(/^# tanalyze \S+/, ''), 'with the same arguments');
  const trials = trialsOf(join(outDir, 'tanalyze.db'));
  assert.equal(trials.length, 3, JSON.stringify(trials));
  assert.equal(trials[0]!.state, 'COMPLETE');
  assert.equal(trials[1]!.state, 'FAILED', JSON.stringify(trials));
  assert.match(trials[1]!.error ?? '', /^tritonserver died \(killed by SIGKILL\) during the measurement; requests failed: /);
  assert.equal(trials[2]!.state, 'COMPLETE', 'the next configuration is measured on the restarted server');
  assert.equal(tritonPidServing(runRepo), null, 'the restarted server is stopped at the end');
  // The killed server's Python backend stub is not left running (it was, for as long as the machine ran).
  assert.deepEqual(processesUnder(runRepo), [], 'no process of either server outlives the run');
});

test('--launch remote against a real Triton in explicit mode: measured through reloads, the model back as found at the end', async () => {
  realTritonPath();
  const repo = exampleRepository(['identity']);
  const server = await startRealTriton({ repository: repo, loadModels: ['identity'] });
  try {
    const before = await server.client.modelConfig('identity');
    const dir = mkdtempSync(join(tmpdir(), 'tanalyze-real-remote-'));
    const r = await tanalyze(
      ['--model', 'identity', '--model-repository', repo, ...FAST, '--search', 'grid', '--max-batch-sizes', '16', '--queue-delays', '500', '--instance-counts', '2', '--budget', '2', '--launch', 'remote', '--url', server.grpcAddress],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    const trials = trialsOf(join(dir, 'reports', 'tanalyze.db'));
    assert.deepEqual(
      trials.map((t) => t.state),
      ['COMPLETE', 'COMPLETE'],
      JSON.stringify(trials),
    );
    const after = await server.client.modelConfig('identity');
    assert.deepEqual(after, before, 'identity serves its own configuration again');
    const ready = (await server.client.repositoryIndex(true)).filter((m) => m.state === 'READY').map((m) => m.name);
    assert.deepEqual(ready, ['identity']);
    // The reloads happened on this server: the first load, one per trial, and the restore.
    assert.equal(server.log().match(/successfully loaded 'identity'/g)?.length, 4, server.log());
  } finally {
    await server.stop();
  }
});

test('nightly flow against the real Triton: search, baseline export, regress, compare', async () => {
  const tritonPath = realTritonPath();
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-real-nightly-'));
  const repo = exampleRepository(['identity']);
  const db = join(dir, 'runs.db');
  const env = { TANALYZE_LAUNCH: 'local', TANALYZE_TRITON_PATH: tritonPath, TANALYZE_MODEL_REPOSITORY: repo };
  const search = await tanalyze(['--model', 'identity', ...FAST, '--budget', '2', '--max-batch-sizes', '16', '--queue-delays', '500', '--instance-counts', '1', '--db', db], dir, env);
  assert.equal(search.code, 0, search.stderr);
  const summary = JSON.parse(search.stdout);
  assert.deepEqual(summary.trials_by_state, { COMPLETE: 2 }, search.stdout);

  const exported = await tanalyze(['baseline', 'export', 'latest', '--db', db, '--out', 'baseline.json'], dir);
  assert.equal(exported.code, 0, exported.stderr);
  const baseline = JSON.parse(readFileSync(join(dir, 'baseline.json'), 'utf8'));
  assert.equal(baseline.run.id, summary.run_id);

  const regress = await tanalyze(['regress', '--baseline', 'baseline.json', '--profile', 'quick', '--max-concurrency', '4', '--window', '200ms', '--max-windows', '4', '--repeats', '1', '--junit', 'junit.xml', '--db', db, '--json'], dir, env);
  // Same server, same configuration: no regression expected, but a noisy shared machine may say 1.
  assert.ok(regress.code === 0 || regress.code === 1, `exit ${regress.code}: ${regress.stderr}`);
  assert.equal(JSON.parse(regress.stdout).kind, 'comparison');
  assert.match(readFileSync(join(dir, 'junit.xml'), 'utf8'), /<testsuite[^>]*tests="\d+"/);

  const compare = await tanalyze(['compare', summary.run_id, 'baseline.json', '--db', db, '--json'], dir);
  assert.equal(compare.code, 0, `a run compared with its own export does not regress: ${compare.stderr}`);
});
