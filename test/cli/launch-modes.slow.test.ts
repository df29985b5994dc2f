/**
 * The Triton launch modes through the real CLI, end to end: `local` with a FAKE tritonserver,
 * `docker` with a FAKE Docker Engine API on a unix socket (its "containers" run the FAKE
 * tritonserver), and `remote` against tanalyze's embedded server standing in for a Triton in
 * explicit model-control mode. The fakes answer the real KServe v2 protocol.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHORT_LOAD, tanalyze as run } from './run-cli.js';
import { startEmbeddedServer } from '../../src/server/server.js';
import { createInferenceClient } from '../../src/protocol/client.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import Database from 'better-sqlite3';
import { compiledServerModule, readRecords } from '../fakes/fake-bin.js';
import { startFakeDocker } from '../fakes/docker-api-fake.js';

const FAKE_TRITON = fromPackageRoot('test', 'fakes', 'tritonserver-fake.mjs');
const QUICK = ['--model', 'identity', '--p99', '50ms', '--profile', 'quick', ...SHORT_LOAD, '--budget', '2', '--json'];

const tanalyze = (args: string[], cwd: string, env: Record<string, string> = {}) => run(args, cwd, { env, timeoutMs: 180_000 });

test('--launch local starts the (FAKE) tritonserver in explicit mode, measures through it, and stops it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-local-'));
  const argvFile = join(dir, 'argv.jsonl');
  const r = await tanalyze([...QUICK, '--launch', 'local', '--triton-path', FAKE_TRITON, '--engine-cache', join(dir, 'cache')], dir, {
    FAKE_TRITON_SERVER_MODULE: compiledServerModule(),
    FAKE_TRITON_ARGV_FILE: argvFile,
  });
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.ok(summary.recommended.throughput_ips > 0);
  const [start] = readRecords(argvFile);
  assert.ok(start, 'the fake was started');
  assert.ok(start.argv.includes('--model-control-mode=explicit'));
  assert.ok(start.argv.some((a) => a.startsWith('--model-repository=') && a.endsWith('model_repository')));
  assert.ok(start.argv.some((a) => /^--grpc-port=\d+$/.test(a)));
  assert.throws(() => process.kill(start.pid, 0), 'the server is gone when tanalyze exits');
  // The FAKE server reports 2 GiB of GPU memory used: it is scraped into every load point.
  const db = new Database(join(dir, 'reports', 'tanalyze.db'), { readonly: true });
  const details = (db.prepare('SELECT detail_json FROM measurements').all() as { detail_json: string | null }[]).map((r) => JSON.parse(r.detail_json ?? '{}'));
  db.close();
  assert.ok(details.length > 0 && details.every((d) => d.gpuMemoryMb === 2048), JSON.stringify(details.map((d) => d.gpuMemoryMb)));
});

test('--launch local: a server that exits during start-up is exit 3 quoting its log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-local-'));
  const r = await tanalyze([...QUICK, '--launch', 'local', '--triton-path', FAKE_TRITON], dir, { FAKE_TRITON_MODE: 'exit', FAKE_TRITON_SERVER_MODULE: compiledServerModule() });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /tritonserver exited during start-up/);
  assert.match(r.stderr, /last lines of its log/);
});

test('--launch local: a missing binary is a clear error (exit 3)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-local-'));
  const r = await tanalyze([...QUICK, '--launch', 'local', '--triton-path', join(dir, 'no-tritonserver')], dir);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /no-tritonserver/);
});

test('--launch docker drives the (FAKE) Docker Engine API: labelled container, GPUs requested, repository mounted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-docker-'));
  const image = 'nvcr.io/nvidia/tritonserver:26.11-py3';
  const docker = await startFakeDocker({
    images: [image],
    commands: { tritonserver: { script: FAKE_TRITON, env: { FAKE_TRITON_SERVER_MODULE: compiledServerModule() } } },
  });
  try {
    const r = await tanalyze([...QUICK, '--launch', 'docker', '--docker-socket', docker.socketPath, '--gpus', '0', '--engine-cache', join(dir, 'cache')], dir);
    assert.equal(r.code, 0, r.stderr);
    const [create] = docker.find(/\/containers\/create/, 'POST');
    assert.ok(create, 'a container was created');
    const body = create.body as Record<string, any>;
    assert.equal(body.Image, image);
    assert.ok(Object.keys(body.Labels ?? {}).some((k) => k.startsWith('tanalyze')), 'the container is labelled');
    assert.deepEqual(body.HostConfig.DeviceRequests[0].DeviceIDs, ['0']);
    assert.ok(body.HostConfig.Binds.some((b: string) => b.includes('model_repository')), 'the variant repository is mounted');
    assert.ok(body.Cmd.includes('--model-control-mode=explicit'));
    assert.ok(docker.find(/\/containers\/[^/]+\/stop/, 'POST').length >= 1, 'the container is stopped at the end');
  } finally {
    await docker.close();
  }
});

test('--launch docker with no engine reachable suggests the other modes (exit 3)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-docker-'));
  const r = await tanalyze([...QUICK, '--launch', 'docker', '--docker-socket', join(dir, 'no.sock')], dir);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /--launch (embedded|local|remote)/);
});

test('--launch remote reconfigures a running server with config-override loads and never stops it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-remote-'));
  // The embedded server stands in for Triton started with --model-control-mode=explicit.
  const server = await startEmbeddedServer({ repository: fromPackageRoot('examples', 'model_repository'), modelControl: 'explicit', loadModels: ['identity'] });
  try {
    const r = await tanalyze([...QUICK, '--launch', 'remote', '--url', server.address], dir);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.ok(summary.recommended.throughput_ips > 0);
    const client = createInferenceClient(server.address);
    try {
      assert.equal(await client.serverLive(), true, 'the remote server still runs');
      const cfg = await client.modelConfig('identity');
      assert.equal(cfg.max_batch_size, 64, 'the model is back to its own config.pbtxt');
      assert.equal(cfg.dynamic_batching, undefined);
    } finally {
      client.close();
    }
  } finally {
    await server.stop();
  }
});

test('--launch remote without --url is a usage error naming the flag', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-remote-'));
  const r = await tanalyze([...QUICK, '--launch', 'remote'], dir);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /--url: required with --launch remote/);
});

test('the (FAKE) server crashing in the middle of a measurement fails that trial with its reason; the server is restarted and the search goes on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-crash-'));
  const argvFile = join(dir, 'argv.jsonl');
  // A loose target: on a loaded machine a 150 ms window's p99 can pass 50 ms, and this test is
  // about the crash and the search going on, not about feasibility.
  const r = await tanalyze(['--model', 'identity', '--p99', '1s', '--profile', 'quick', ...SHORT_LOAD, '--budget', '3', '--search', 'grid', '--json', '--launch', 'local', '--triton-path', FAKE_TRITON, '--engine-cache', join(dir, 'cache')], dir, {
    FAKE_TRITON_SERVER_MODULE: compiledServerModule(),
    FAKE_TRITON_ARGV_FILE: argvFile,
    FAKE_TRITON_CRASH_AFTER_READY_MODEL_MS: '600',
    FAKE_TRITON_CRASH_ONCE_FILE: join(dir, 'crashed-once'),
  });
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.trials, 3, r.stderr);
  const db = new Database(join(dir, 'reports', 'tanalyze.db'), { readonly: true });
  const trials = db.prepare('SELECT trial_index AS i, state, error FROM trials ORDER BY trial_index').all() as { i: number; state: string; error: string | null }[];
  db.close();
  assert.equal(trials[0]!.state, 'FAILED', JSON.stringify(trials));
  assert.ok(trials[0]!.error && trials[0]!.error.length > 0);
  assert.ok(trials.slice(1).every((t) => t.state === 'COMPLETE'), JSON.stringify(trials));
  assert.ok(readRecords(argvFile).length >= 2, 'the server was started again');
});
