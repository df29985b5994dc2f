import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricsText } from '../../src/server/prometheus.js';
import { ModelStatsRecorder } from '../../src/server/statistics.js';

const times = (input: number, infer: number, output: number) => ({ computeInputNs: input, computeInferNs: infer, computeOutputNs: output });

/** Two requests (batch 1 and batch 3) dynamically batched into one execution of 4, then one alone. */
function sample(): ModelStatsRecorder {
  let clock = 1_000;
  const s = new ModelStatsRecorder('m', '1', () => clock++);
  s.recordExecution(4, times(10, 100, 20));
  s.recordSuccess(1, { ...times(10, 100, 20), queueNs: 50, requestNs: 200 });
  s.recordSuccess(3, { ...times(10, 100, 20), queueNs: 70, requestNs: 220 });
  s.recordExecution(2, times(5, 60, 8));
  s.recordSuccess(2, { ...times(5, 60, 8), queueNs: 0, requestNs: 80 });
  s.recordFailure(30, 'OTHER');
  return s;
}

test('statistics: Triton semantics of counts and durations', () => {
  const snap = sample().snapshot();
  assert.equal(snap.name, 'm');
  assert.equal(snap.version, '1');
  assert.equal(snap.inference_count, 6, 'sum of the batch sizes of successful requests');
  assert.equal(snap.execution_count, 2, 'one per executed batch');
  const is = snap.inference_stats;
  assert.deepEqual(is.success, { count: 3, ns: 500 });
  assert.deepEqual(is.fail, { count: 1, ns: 30 });
  assert.deepEqual(is.queue, { count: 3, ns: 120 });
  // Each request carries its whole batch's compute time.
  assert.deepEqual(is.compute_input, { count: 3, ns: 25 });
  assert.deepEqual(is.compute_infer, { count: 3, ns: 260 });
  assert.deepEqual(is.compute_output, { count: 3, ns: 48 });
  assert.deepEqual(is.cache_hit, { count: 0, ns: 0 });
  assert.deepEqual(snap.batch_stats, [
    { batch_size: 2, compute_input: { count: 1, ns: 5 }, compute_infer: { count: 1, ns: 60 }, compute_output: { count: 1, ns: 8 } },
    { batch_size: 4, compute_input: { count: 1, ns: 10 }, compute_infer: { count: 1, ns: 100 }, compute_output: { count: 1, ns: 20 } },
  ]);
  assert.equal(snap.last_inference, 1_003, 'the latest request, success or failure');
});

test('statistics: snapshots are copies', () => {
  const s = sample();
  const a = s.snapshot();
  s.recordSuccess(1, { ...times(1, 1, 1), queueNs: 1, requestNs: 5 });
  assert.equal(a.inference_stats.success.count, 3);
  assert.equal(s.snapshot().inference_stats.success.count, 4);
});

test('prometheus: Triton family names, labels and values', () => {
  const s = sample();
  const text = metricsText([{ stats: s.snapshot(), failures: s.failuresByReason(), pending: 2 }]);
  const value = (line: string): string | undefined => text.split('\n').find((l) => l.startsWith(line + ' '))?.slice(line.length + 1);
  assert.equal(value('nv_inference_request_success{model="m",version="1"}'), '3');
  assert.equal(value('nv_inference_request_failure{model="m",version="1",reason="OTHER"}'), '1');
  assert.equal(value('nv_inference_request_failure{model="m",version="1",reason="BACKEND"}'), '0');
  assert.equal(value('nv_inference_count{model="m",version="1"}'), '6');
  assert.equal(value('nv_inference_exec_count{model="m",version="1"}'), '2');
  assert.equal(value('nv_inference_pending_request_count{model="m",version="1"}'), '2');
  // Durations in µs from ns, rounded.
  assert.equal(value('nv_inference_request_duration_us{model="m",version="1"}'), '1');
  assert.equal(value('nv_inference_queue_duration_us{model="m",version="1"}'), '0');
  for (const family of ['compute_input', 'compute_infer', 'compute_output']) {
    assert.match(text, new RegExp(`^# TYPE nv_inference_${family}_duration_us counter$`, 'm'));
    assert.match(text, new RegExp(`^nv_inference_${family}_duration_us\\{model="m",version="1"\\} \\d+$`, 'm'));
  }
  assert.match(text, /^# TYPE nv_inference_pending_request_count gauge$/m);
  assert.ok(text.endsWith('\n'));
});

test('prometheus: label values are escaped; no models gives only the headers', () => {
  const s = new ModelStatsRecorder('we"ird\\name', '2');
  assert.match(metricsText([{ stats: s.snapshot() }]), /nv_inference_count\{model="we\\"ird\\\\name",version="2"\} 0/);
  assert.ok(metricsText([]).split('\n').filter(Boolean).every((l) => l.startsWith('#')));
});
