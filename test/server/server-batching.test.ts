/** Scheduling seen from outside: concurrent gRPC requests, statistics and instance concurrency. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createInferenceClient } from '../../src/protocol/client.js';
import type { InferenceClient, ModelStatistics } from '../../src/protocol/types.js';
import { startEmbeddedServer, type EmbeddedServer } from '../../src/server/server.js';
import { makeRepository, observingFactory, range, rawRequest, readFp32 } from './helpers.js';

const CONCURRENT = 48;

/** Sends CONCURRENT batch-1 requests at once, each with its own data, and checks every answer. */
async function burst(client: InferenceClient, model: string): Promise<void> {
  await Promise.all(
    range(CONCURRENT).map(async (i) => {
      const values = range(4, i * 10);
      const res = await client.modelInfer(rawRequest(model, [1, 4], values));
      assert.deepEqual(readFp32(res.raw_output_contents[0]!), values, 'each request gets its own rows back');
    }),
  );
}

function checkSums(s: ModelStatistics, requests: number, inferences: number): void {
  const is = s.inference_stats;
  assert.equal(is.success.count, requests);
  assert.equal(s.inference_count, inferences);
  assert.equal(s.execution_count, s.batch_stats.reduce((n, b) => n + b.compute_infer.count, 0));
  assert.equal(s.inference_count, s.batch_stats.reduce((n, b) => n + b.batch_size * b.compute_infer.count, 0));
  for (const k of ['queue', 'compute_input', 'compute_infer', 'compute_output'] as const) assert.equal(is[k].count, requests, k);
  // A request's phases lie within its own duration.
  assert.ok(is.queue.ns + is.compute_input.ns + is.compute_infer.ns + is.compute_output.ns <= is.success.ns);
  // Per-request compute sums count each batch once per request in it, so they bound the per-batch sums.
  const batchInfer = s.batch_stats.reduce((n, b) => n + b.compute_infer.ns, 0);
  assert.ok(batchInfer <= is.compute_infer.ns);
  assert.equal(is.fail.count, 0);
}

describe('embedded server: batching and instances', () => {
  const repo = makeRepository({
    plain: { spec: { dims: [4], maxBatchSize: 8 } },
    batched: { spec: { dims: [4], maxBatchSize: 8, dynamicBatching: 'max_queue_delay_microseconds: 20000' } },
    capped: { spec: { dims: [4], maxBatchSize: 4, dynamicBatching: 'preferred_batch_size: [ 2, 4 ] max_queue_delay_microseconds: 20000' } },
    two: { spec: { dims: [4], maxBatchSize: 8, instances: 2 } },
  });
  const observed = observingFactory({ model: 'two', holdUntil: 2 });
  let server: EmbeddedServer;
  let client: InferenceClient;

  before(async () => {
    server = await startEmbeddedServer({ repository: repo.dir, executorFactory: observed.factory });
    client = createInferenceClient(server.address);
  });
  after(async () => {
    client.close();
    await server.stop();
    repo.cleanup();
  });

  test('without dynamic batching every request is its own execution', async () => {
    await burst(client, 'plain');
    const [s] = await client.modelStatistics('plain');
    checkSums(s!, CONCURRENT, CONCURRENT);
    assert.equal(s!.execution_count, CONCURRENT);
    assert.deepEqual(s!.batch_stats.map((b) => b.batch_size), [1]);
  });

  test('with dynamic batching concurrent requests share executions', async () => {
    await burst(client, 'batched');
    const [s] = await client.modelStatistics('batched');
    checkSums(s!, CONCURRENT, CONCURRENT);
    assert.ok(s!.execution_count < s!.inference_count, `executions ${s!.execution_count} < inferences ${s!.inference_count}`);
    assert.ok(Math.max(...s!.batch_stats.map((b) => b.batch_size)) <= 8);
  });

  test('batches never exceed max_batch_size; preferred sizes are used', async () => {
    await burst(client, 'capped');
    const [s] = await client.modelStatistics('capped');
    checkSums(s!, CONCURRENT, CONCURRENT);
    const sizes = s!.batch_stats.map((b) => b.batch_size);
    assert.ok(Math.max(...sizes) <= 4, `batch sizes ${sizes}`);
    assert.ok(sizes.includes(4), `a full preferred batch of 4 formed: ${sizes}`);
  });

  test('two instances run two batches at the same time', async () => {
    // The observing executor holds each run until a second one is active (3 s at most),
    // so concurrency shows whatever the speed of the model.
    await Promise.all(range(4).map(() => client.modelInfer(rawRequest('two', [1, 4], range(4)))));
    assert.equal(observed.maxActive(), 2);
    const [s] = await client.modelStatistics('two');
    assert.equal(s!.execution_count, 4);
  });
});
