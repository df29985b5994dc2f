/**
 * A server that hangs in the middle of a measurement (a FAKE client whose requests stop
 * being answered after a while, like a stalled connection): the measurement ends within
 * its bounds, records that nothing completed, and the configuration misses the target
 * instead of hanging the search.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureConfiguration } from '../../src/measure/measure-config.js';
import type { InferenceClient, ModelInferResponse } from '../../src/protocol/types.js';

/** FAKE KServe client: answers in 1 ms until `hangAfter` requests, then never again. */
function hangingClient(hangAfter: number): InferenceClient {
  let served = 0;
  const stats = { name: 'm', version: '1', last_inference: 0, inference_count: 0, execution_count: 0, inference_stats: null, batch_stats: [] };
  return {
    modelMetadata: async () => ({ name: 'm', versions: ['1'], platform: 'fake', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 4] }] }),
    modelInfer: () =>
      ++served > hangAfter
        ? new Promise<ModelInferResponse>(() => {})
        : new Promise<ModelInferResponse>((r) => setTimeout(() => r({ model_name: 'm', model_version: '1', id: '', outputs: [], raw_output_contents: [] }), 1)),
    modelStatistics: async () => [stats as never],
  } as unknown as InferenceClient;
}

test('a server that stops answering mid-measurement: bounded, recorded, the target missed', { timeout: 30_000 }, async () => {
  const started = Date.now();
  const result = await measureConfiguration({
    client: hangingClient(150),
    modelName: 'm',
    targetP99Ms: 50,
    settings: { windowMs: 100, minWindows: 3, maxWindows: 4, stabilityTolerance: 0.1, warmupMs: 0 },
    maxConcurrency: 4,
    stopTimeoutMs: 300,
  });
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 20_000, `took ${elapsed} ms`);
  assert.ok(result.points.length >= 1);
  const last = result.points[result.points.length - 1]!;
  assert.equal(last.stopReason, 'no-completions', JSON.stringify(result.points.map((p) => p.stopReason)));
  assert.ok(last.p99Ms > 50, 'a point where nothing completed never meets the target');
});
