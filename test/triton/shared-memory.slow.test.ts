/**
 * System shared memory against the REAL tritonserver (.triton/): tanalyze's region (a file
 * in /dev/shm written by Node) is the object Triton's shm_open maps; tiny_resnet answers the
 * same logits from it as from gRPC inputs; the real server and the embedded server answer the
 * same bad requests with the same codes and messages; the load generator measures through
 * it, and a CLI run with --shared-memory system leaves no region and no file behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
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
  // The region exists while the configuration is measured: seen by polling /dev/shm.
  const seen = new Set<string>();
  const poll = setInterval(() => {
    for (const f of tanalyzeFiles()) if (!before.includes(f)) seen.add(f);
  }, 20);
  const r = await run(
    ['--model', 'tiny_resnet', '--model-repository', repo, '--p99', '2000ms', '--profile', 'quick', '--max-concurrency', '4', '--window', '200ms', '--max-windows', '4', '--window-requests', '30', '--json',
      '--search', 'grid', '--max-batch-sizes', '4', '--queue-delays', '0', '--instance-counts', '1', '--budget', '1', '--launch', 'local', '--triton-path', tritonPath, '--shared-memory', 'system'],
    dir,
    { timeoutMs: 300_000 },
  ).finally(() => clearInterval(poll));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(seen.size, 1, `one region for the one configuration: ${[...seen].join(', ')}`);
  const db = new Database(join(dir, 'reports', 'tanalyze.db'), { readonly: true });
  try {
    const trials = db.prepare('SELECT state, error FROM trials').all() as { state: string; error: string | null }[];
    assert.deepEqual(trials.map((t) => t.state), ['COMPLETE'], JSON.stringify(trials));
  } finally {
    db.close();
  }
  assert.deepEqual(tanalyzeFiles(), before);
});
