import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelStatistics } from '../../src/protocol/types.js';
import { diffServerTimes, snapshotFromStatistics } from '../../src/measure/server-stats.js';

/** Triton-shaped statistics with cumulative ns counters, as proto-loader gives them. */
function tritonStats(version: string, success: number, queueNs: number, inNs: number, inferNs: number, outNs: number, executions: number): ModelStatistics {
  const d = (count: number, ns: number) => ({ count, ns });
  return {
    name: 'resnet50_config_3',
    version,
    last_inference: 1718000000000,
    inference_count: success * 4,
    execution_count: executions,
    inference_stats: {
      success: d(success, queueNs + inNs + inferNs + outNs),
      fail: d(0, 0),
      queue: d(success, queueNs),
      compute_input: d(success, inNs),
      compute_infer: d(success, inferNs),
      compute_output: d(success, outNs),
      cache_hit: d(0, 0),
      cache_miss: d(0, 0),
    },
    batch_stats: [],
  };
}

test('diffServerTimes: mean µs per request over the delta', () => {
  const a = snapshotFromStatistics([tritonStats('1', 1000, 5e8, 1e7, 2e9, 3e7, 250)]);
  const b = snapshotFromStatistics([tritonStats('1', 3000, 5e8 + 2000 * 150_000, 1e7 + 2000 * 20_000, 2e9 + 2000 * 1_500_000, 3e7 + 2000 * 10_000, 750)]);
  assert.deepEqual(diffServerTimes(a, b), {
    requests: 2000,
    executions: 500,
    queueUs: 150,
    computeInputUs: 20,
    computeInferUs: 1500,
    computeOutputUs: 10,
  });
});

test('snapshotFromStatistics: sums versions and accepts a single object or string longs', () => {
  const s = snapshotFromStatistics([tritonStats('1', 10, 100, 0, 1000, 0, 5), tritonStats('2', 30, 300, 0, 3000, 0, 15)]);
  assert.equal(s.successCount, 40);
  assert.equal(s.executionCount, 20);
  assert.equal(s.inferenceCount, 160);
  assert.equal(s.queueNs, 400);
  assert.equal(s.computeInferNs, 4000);
  const one = tritonStats('1', 7, 70, 0, 700, 0, 7);
  assert.equal(snapshotFromStatistics(one).successCount, 7);
  const stringy = JSON.parse(JSON.stringify(one).replace(/"count":7/g, '"count":"7"')) as ModelStatistics;
  assert.equal(snapshotFromStatistics(stringy).successCount, 7);
});

test('diffServerTimes: no requests in the delta gives zero times', () => {
  const a = snapshotFromStatistics([tritonStats('1', 10, 100, 0, 1000, 0, 5)]);
  assert.deepEqual(diffServerTimes(a, a), { requests: 0, executions: 0, queueUs: 0, computeInputUs: 0, computeInferUs: 0, computeOutputUs: 0 });
});

test('diffServerTimes: counters that went backwards (server restart) use the later snapshot alone', () => {
  const a = snapshotFromStatistics([tritonStats('1', 5000, 9e9, 0, 9e9, 0, 5000)]);
  const b = snapshotFromStatistics([tritonStats('1', 100, 100 * 50_000, 0, 100 * 1_000_000, 0, 50)]);
  const d = diffServerTimes(a, b);
  assert.equal(d.requests, 100);
  assert.equal(d.executions, 50);
  assert.equal(d.queueUs, 50);
  assert.equal(d.computeInferUs, 1000);
});

test('snapshotFromStatistics: no statistics (model not found) is all zeros', () => {
  const s = snapshotFromStatistics([]);
  assert.equal(s.successCount, 0);
  assert.equal(diffServerTimes(s, s).requests, 0);
});
