/**
 * System shared memory against the REAL tritonserver (.triton/): tanalyze's region (a file
 * in /dev/shm written by Node) is the object Triton's shm_open maps; tiny_resnet answers the
 * same logits from it as from gRPC inputs; the real server and the embedded server answer the
 * same bad requests with the same codes and messages; the load generator measures through
 * it, and a CLI run with --shared-memory system leaves no region and no file behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createInferenceClient } from '../../src/protocol/client.js';
import { makeInferRequest } from '../../src/load/infer-requests.js';
import { SHM_DIR, placeInputsInSharedMemory } from '../../src/load/shared-memory.js';
import { measureConfiguration } from '../../src/measure/measure-config.js';
import { startEmbeddedServer } from '../../src/server/server.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { SHM_CASES, runShmCases } from '../helpers/shm-cases.js';
import { tanalyze as run } from '../cli/run-cli.js';
import { exampleRepository, realTritonPath, startRealTriton } from './real-triton.js';

const tanalyzeFiles = (): string[] => readdirSync(SHM_DIR).filter((f) => f.startsWith('tanalyze_'));

test('the real Triton reads tanalyze regions: outputs equal to gRPC inputs, the same answers to bad requests as the embedded server, a measurement through a region', async () => {
  const before = tanalyzeFiles();
  const triton = await startRealTriton({ repository: exampleRepository(['identity', 'tiny_resnet']), loadModels: ['identity', 'tiny_resnet'] });
  const embedded = await startEmbeddedServer({ repository: fromPackageRoot('examples', 'model_repository'), modelControl: 'explicit', loadModels: ['identity'] });
  const embeddedClient = createInferenceClient(embedded.address);
  try {
    const client = triton.client;
    assert.ok((await client.serverMetadata()).extensions.includes('system_shared_memory'));

    for (const batch of [1, 4]) {
      const request = makeInferRequest(await client.modelMetadata('tiny_resnet'), batch, 11);
      const viaGrpc = await client.modelInfer(request);
      const placed = await placeInputsInSharedMemory(client, request);
      try {
        assert.deepEqual(await client.systemSharedMemoryStatus!(placed.regionName), [{ name: placed.regionName, key: placed.object.key, offset: 0, byte_size: batch * 3 * 32 * 32 * 4 }]);
        const viaShm = await client.modelInfer(placed.request);
        assert.deepEqual(viaShm.outputs, viaGrpc.outputs);
        assert.ok(viaShm.raw_output_contents[0]!.equals(viaGrpc.raw_output_contents[0]!), `batch ${batch}: the same logits from the region as from the request`);
      } finally {
        await placed.release();
      }
      assert.deepEqual(await client.systemSharedMemoryStatus!(), []);
    }

    const real = await runShmCases(client);
    const ours = await runShmCases(embeddedClient);
    for (const [i, c] of SHM_CASES.entries()) {
      assert.equal(real[i]!.code, c.code, `real Triton, ${c.name}: ${real[i]!.message}`);
      assert.match(real[i]!.message, c.message, `real Triton, ${c.name}`);
      assert.equal(ours[i]!.code, real[i]!.code, `embedded server, ${c.name}: ${ours[i]!.message} (Triton: ${real[i]!.message})`);
      assert.match(ours[i]!.message, c.message, `embedded server, ${c.name}`);
    }

    const result = await measureConfiguration({
      client,
      modelName: 'tiny_resnet',
      targetP99Ms: 2000,
      settings: { windowMs: 300, minWindows: 2, maxWindows: 3, stabilityTolerance: 0.9, warmupMs: 100 },
      maxConcurrency: 2,
      maxPoints: 1,
      batchSize: 2,
      address: triton.grpcAddress,
      sharedMemory: 'system',
      monitor: null,
    });
    assert.equal(result.points[0]!.errors, 0, result.firstError);
    assert.ok(result.points[0]!.requests > 5, `requests ${result.points[0]!.requests}`);
    assert.deepEqual(await client.systemSharedMemoryStatus!(), [], 'released on the server');
    assert.deepEqual(tanalyzeFiles(), before, 'and in /dev/shm');
  } finally {
    embeddedClient.close();
    await embedded.stop();
    await triton.stop();
  }
});

test('tanalyze --launch local --shared-memory system: a search on the real Triton with inputs in shared memory, nothing left in /dev/shm', async () => {
  const tritonPath = realTritonPath();
  const before = tanalyzeFiles();
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-real-shm-'));
  const repo = exampleRepository(['tiny_resnet']);
  // Triton's verbose log names each shared-memory RPC it served.
  const profile = join(dir, 'verbose.yaml');
  writeFileSync(profile, 'server:\n  args: ["--log-verbose=1"]\n');
  const r = await run(
    ['--model', 'tiny_resnet', '--model-repository', repo, '--p99', '2000ms', '--profile', profile, '--max-concurrency', '4', '--window', '200ms', '--max-windows', '4', '--window-requests', '30', '--json',
      '--search', 'grid', '--max-batch-sizes', '4', '--queue-delays', '0', '--instance-counts', '1', '--budget', '1', '--launch', 'local', '--triton-path', tritonPath, '--shared-memory', 'system'],
    dir,
    { timeoutMs: 300_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const db = new Database(join(dir, 'reports', 'tanalyze.db'), { readonly: true });
  try {
    const trials = db.prepare('SELECT state, error FROM trials').all() as { state: string; error: string | null }[];
    assert.deepEqual(trials.map((t) => t.state), ['COMPLETE'], JSON.stringify(trials));
    const plan = JSON.parse((db.prepare('SELECT plan_json FROM runs').get() as { plan_json: string }).plan_json) as { load: { sharedMemory: string } };
    assert.equal(plan.load.sharedMemory, 'system', 'stored with the run');
  } finally {
    db.close();
  }
  const logs = readdirSync(join(dir, 'reports'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('tritonserver.log'));
  assert.equal(logs.length, 1, logs.join(', '));
  const log = readFileSync(join(dir, 'reports', logs[0]!), 'utf8');
  assert.equal(log.match(/Process for SystemSharedMemoryRegister, rpc_ok=1, \d+ step COMPLETE/g)?.length, 1, 'one region registered, for the one configuration');
  assert.match(log, /Process for SystemSharedMemoryUnregister, rpc_ok=1, \d+ step COMPLETE/, 'and unregistered after it');
  assert.deepEqual(tanalyzeFiles(), before);
});
