/**
 * Statistics and metrics of the REAL tritonserver (.triton/, scripts/install-triton.sh),
 * read by the project's own code: ModelStatistics deltas over a burst of requests that
 * Triton's dynamic batcher groups, a Prometheus scrape parsed and agreeing with the
 * statistics, the embedded server's Prometheus families printed as the real server
 * prints them, and the embedded server reloading as the real one does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffServerTimes, snapshotFromStatistics } from '../../src/measure/server-stats.js';
import { modelCounters, parsePrometheusText, scrapeDelta } from '../../src/measure/metrics.js';
import { metricsText } from '../../src/server/prometheus.js';
import { startEmbeddedServer } from '../../src/server/server.js';
import { createInferenceClient } from '../../src/protocol/client.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { rawRequest, range } from '../server/helpers.js';
import { exampleRepository, startRealTriton } from './real-triton.js';

test('real ModelStatistics deltas and a real Prometheus scrape, read by the project, agree with what was sent', async () => {
  const server = await startRealTriton({ repository: exampleRepository(['identity']) });
  try {
    const { client } = server;
    // identity as 16-request batches after at most 20 ms in the queue: a burst is batched.
    await client.repositoryModelLoad(
      'identity',
      JSON.stringify({
        name: 'identity',
        backend: 'python',
        max_batch_size: 16,
        input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [16] }],
        output: [{ name: 'output', data_type: 'TYPE_FP32', dims: [16] }],
        instance_group: [{ count: 1, kind: 'KIND_CPU' }],
        dynamic_batching: { max_queue_delay_microseconds: 20000 },
      }),
    );
    await client.modelInfer(rawRequest('identity', [1, 16], range(16))); // warm-up, before the snapshot
    const scrape = async () => ({ atMs: Date.now(), text: parsePrometheusText(await (await fetch(server.metricsUrl)).text()) });
    const metricsBefore = await scrape();
    const before = snapshotFromStatistics(await client.modelStatistics('identity'));
    const burst = 32;
    await Promise.all(range(burst).map((i) => client.modelInfer(rawRequest('identity', [1, 16], range(16, i)))));
    const rawStats = await client.modelStatistics('identity');
    const after = snapshotFromStatistics(rawStats);
    const d = diffServerTimes(before, after);
    assert.equal(d.requests, burst);
    assert.ok(d.executions >= 2 && d.executions < burst, `the dynamic batcher grouped the burst (${d.executions} executions)`);
    assert.ok(d.queueUs > 0 && d.computeInferUs > 0, JSON.stringify(d));
    // Real Triton counts compute times per request (a batch's time added to each of its
    // requests) and inferences by batch size; the embedded server's statistics follow this.
    const s = rawStats[0]!;
    assert.equal(Number(s.inference_stats.compute_infer.count), Number(s.inference_stats.success.count));
    assert.equal(Number(s.inference_count), Number(s.inference_stats.success.count), 'batch size 1 each');
    assert.ok(s.batch_stats.length >= 1 && s.batch_stats.every((b) => Number(b.batch_size) >= 1));

    // Metrics are refreshed by the server on an interval (2 s by default).
    await new Promise((r) => setTimeout(r, 2500));
    const metricsAfter = await scrape();
    assert.deepEqual(metricsAfter.text.errors, [], 'every line of the real scrape parses');
    const counters = modelCounters(metricsAfter.text, 'identity')!;
    assert.equal(counters.requestSuccess, Number(s.inference_stats.success.count));
    assert.equal(counters.execCount, Number(s.execution_count));
    assert.equal(counters.requestFailure, 0);
    const delta = scrapeDelta(metricsBefore, metricsAfter, 'identity');
    assert.equal(delta.model!.requestSuccess, burst);
    assert.ok(delta.avgBatchSize! > 1, `batched: ${delta.avgBatchSize}`);
    assert.deepEqual(delta.gpus, [], 'a CPU-only server has no GPU gauges');
    assert.equal(delta.gpuMemoryUsedMb, null);

    // The embedded server prints each per-model family with the real server's type and help.
    const real = metricsAfter.text.families;
    const embedded = parsePrometheusText(metricsText([{ stats: s }])).families;
    for (const [name, f] of embedded) {
      assert.deepEqual(real.get(name), f, `family ${name} as the real server prints it`);
    }
    // What only the real server prints on a CPU-only machine (server-wide, not per model).
    assert.deepEqual(
      [...real.keys()].filter((n) => !embedded.has(n)).sort(),
      ['nv_cpu_memory_total_bytes', 'nv_cpu_memory_used_bytes', 'nv_cpu_utilization', 'nv_pinned_memory_pool_total_bytes', 'nv_pinned_memory_pool_used_bytes'],
    );
  } finally {
    await server.stop();
  }
});

test('a load without a config after an override keeps the override, an unload then a load reads config.pbtxt: the real server, and the embedded server alike', async () => {
  // The same model in both: the embedded server runs examples/model_repository's ONNX
  // identity, the real one the Python identity; both are max_batch_size 64, no batcher.
  const real = await startRealTriton({ repository: exampleRepository(['identity']), loadModels: ['identity'] });
  const embedded = await startEmbeddedServer({ repository: fromPackageRoot('examples', 'model_repository'), modelControl: 'explicit' });
  const embeddedClient = createInferenceClient(`127.0.0.1:${embedded.port}`);
  try {
    await embeddedClient.repositoryModelLoad('identity');
    const sequence = async (client: typeof embeddedClient): Promise<unknown[]> => {
      const seen: unknown[] = [];
      const look = async () => {
        const c = await client.modelConfig('identity');
        seen.push({ max_batch_size: c.max_batch_size, delay: c.dynamic_batching ? Number(c.dynamic_batching.max_queue_delay_microseconds) : null });
      };
      await look();
      const base = await client.modelConfig('identity');
      await client.repositoryModelLoad('identity', JSON.stringify({ ...base, max_batch_size: 16, dynamic_batching: { max_queue_delay_microseconds: 500 } }));
      await look();
      await client.repositoryModelLoad('identity');
      await look();
      await client.repositoryModelUnload('identity');
      await client.repositoryModelLoad('identity');
      await look();
      return seen;
    };
    const expected = [
      { max_batch_size: 64, delay: null },
      { max_batch_size: 16, delay: 500 },
      { max_batch_size: 16, delay: 500 }, // files unchanged: the override stays
      { max_batch_size: 64, delay: null },
    ];
    assert.deepEqual(await sequence(real.client), expected, 'the real server');
    assert.deepEqual(await sequence(embeddedClient), expected, 'the embedded server');
  } finally {
    embeddedClient.close();
    await embedded.stop();
    await real.stop();
  }
});
