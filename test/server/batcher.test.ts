import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Batcher, decideBatch, systemClock, type BatchPolicy, type QueueEntry, type SchedulerClock } from '../../src/server/batcher.js';

const US = 1000;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

class FakeClock implements SchedulerClock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, delayNs: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + delayNs, fn, id });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  get armed(): number {
    return this.timers.length;
  }
  advance(ns: number): void {
    const until = this.t + ns;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > until) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = until;
  }
}

interface Req {
  batchSize: number;
  id: number;
}

/** A batcher whose runs finish only when the test says so. */
function harness(policy: BatchPolicy, instances = 1) {
  const clock = new FakeClock();
  const runs: { ids: number[]; sizes: number[]; instance: number; finish: () => void }[] = [];
  let active = 0;
  let maxActive = 0;
  const batcher = new Batcher<Req>(
    policy,
    instances,
    (batch, instance) =>
      new Promise<void>((resolve) => {
        active++;
        maxActive = Math.max(maxActive, active);
        runs.push({
          ids: batch.map((e) => e.request.id),
          sizes: batch.map((e) => e.request.batchSize),
          instance,
          finish: () => {
            active--;
            resolve();
          },
        });
      }),
    clock,
  );
  let id = 0;
  const add = (...sizes: number[]) => sizes.forEach((batchSize) => batcher.enqueue({ batchSize, id: id++ }));
  // Lets the batcher's promise continuations run after a finish().
  const settle = () => new Promise<void>((r) => setImmediate(r));
  return { clock, runs, batcher, add, settle, maxActive: () => maxActive };
}

const q = (...sizes: number[]): QueueEntry<{ batchSize: number }>[] =>
  sizes.map((batchSize, i) => ({ request: { batchSize }, enqueuedNs: i }));

test('without dynamic batching every request executes alone, in order', async () => {
  const h = harness({ maxBatchSize: 8 });
  h.add(1, 1, 4, 1);
  assert.deepEqual(h.runs.map((r) => r.ids), [[0]]);
  for (let i = 0; i < 3; i++) {
    h.runs[i]!.finish();
    await h.settle();
  }
  assert.deepEqual(h.runs.map((r) => r.ids), [[0], [1], [2], [3]]);
  assert.equal(h.clock.armed, 0);
});

test('decideBatch: no dynamic batching → one request', () => {
  assert.deepEqual(decideBatch(q(1, 1, 1), 0, { maxBatchSize: 8 }), { kind: 'send', count: 1 });
  assert.deepEqual(decideBatch([], 0, { maxBatchSize: 8 }), { kind: 'idle' });
});

test('decideBatch: zero delay sends what is queued at once, up to max_batch_size', () => {
  const policy: BatchPolicy = { maxBatchSize: 4, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 0 } };
  assert.deepEqual(decideBatch(q(1), 0, policy), { kind: 'send', count: 1 });
  assert.deepEqual(decideBatch(q(1, 1, 1, 1, 1, 1), 0, policy), { kind: 'send', count: 4 });
});

test('decideBatch: never exceeds max_batch_size and never splits a request', () => {
  const policy: BatchPolicy = { maxBatchSize: 8, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 100 * US } };
  // 3 + 3 = 6; adding 3 would make 9 > 8, so the batch is full at 6 (sent now).
  assert.deepEqual(decideBatch(q(3, 3, 3), 0, policy), { kind: 'send', count: 2 });
  // A lone request larger than what is left waits for the next batch.
  assert.deepEqual(decideBatch(q(7, 2), 0, policy), { kind: 'send', count: 1 });
  // Exactly max_batch_size: sent at once.
  assert.deepEqual(decideBatch(q(4, 4, 1), 0, policy), { kind: 'send', count: 2 });
});

test('decideBatch: waits for the oldest request to reach max_queue_delay, then sends what it has', () => {
  const policy: BatchPolicy = { maxBatchSize: 8, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 100 * US } };
  const queue = q(1, 1, 1); // enqueued at 0, 1, 2 ns
  assert.deepEqual(decideBatch(queue, 50 * US, policy), { kind: 'wait', untilNs: 100 * US });
  assert.deepEqual(decideBatch(queue, 100 * US, policy), { kind: 'send', count: 3 });
});

test('decideBatch: prefers the largest preferred size that can be formed', () => {
  const policy: BatchPolicy = { maxBatchSize: 16, dynamic: { preferredBatchSizes: [2, 4, 8], maxQueueDelayNs: 1000 * US } };
  assert.deepEqual(decideBatch(q(1), 0, policy), { kind: 'wait', untilNs: 1000 * US });
  assert.deepEqual(decideBatch(q(1, 1), 0, policy), { kind: 'send', count: 2 });
  assert.deepEqual(decideBatch(q(1, 1, 1), 0, policy), { kind: 'send', count: 2 });
  assert.deepEqual(decideBatch(q(1, 1, 1, 1, 1), 0, policy), { kind: 'send', count: 4 });
  assert.deepEqual(decideBatch(q(...Array(11).fill(1)), 0, policy), { kind: 'send', count: 8 });
  // Once the delay has passed, the largest batch up to max_batch_size goes.
  assert.deepEqual(decideBatch(q(...Array(11).fill(1)), 1000 * US, policy), { kind: 'send', count: 11 });
  // A preferred size is a sum of whole requests: 3 then 3 → 6 (not preferred; 8 cannot be reached in order).
  assert.deepEqual(decideBatch(q(3, 3, 3), 0, policy), { kind: 'send', count: 2 });
});

test('decideBatch: requests with different input shapes are not batched together', () => {
  const policy: BatchPolicy = { maxBatchSize: 8, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 100 * US } };
  const queue = [
    { request: { batchSize: 1, shapeKey: '3' }, enqueuedNs: 0 },
    { request: { batchSize: 1, shapeKey: '3' }, enqueuedNs: 1 },
    { request: { batchSize: 1, shapeKey: '5' }, enqueuedNs: 2 },
  ];
  assert.deepEqual(decideBatch(queue, 0, policy), { kind: 'send', count: 2 });
});

test('Batcher: max_queue_delay is honoured with a fake clock', () => {
  const h = harness({ maxBatchSize: 8, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 500 * US } });
  h.add(1);
  h.clock.advance(200 * US);
  h.add(1);
  assert.equal(h.runs.length, 0, 'nothing before the delay');
  h.clock.advance(299 * US);
  assert.equal(h.runs.length, 0, 'still waiting 1 µs before the delay');
  h.clock.advance(1 * US);
  assert.deepEqual(h.runs.map((r) => r.ids), [[0, 1]]);
});

test('Batcher: a full batch goes at once, before the delay', () => {
  const h = harness({ maxBatchSize: 4, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 10_000 * US } });
  h.add(1, 1, 1);
  assert.equal(h.runs.length, 0);
  h.add(1);
  assert.deepEqual(h.runs.map((r) => r.ids), [[0, 1, 2, 3]]);
  assert.equal(h.clock.armed, 0, 'timer cancelled once the queue is empty');
});

test('Batcher: batches grow while the instance is busy, and never exceed max_batch_size', async () => {
  const h = harness({ maxBatchSize: 4, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 0 } });
  h.add(1);
  assert.deepEqual(h.runs.map((r) => r.ids), [[0]]);
  h.add(1, 2, 1, 3, 1);
  assert.equal(h.runs.length, 1, 'queued while the only instance is busy');
  h.runs[0]!.finish();
  await h.settle();
  assert.deepEqual(h.runs[1]!.sizes, [1, 2, 1]);
  h.runs[1]!.finish();
  await h.settle();
  assert.deepEqual(h.runs[2]!.sizes, [3, 1]);
  for (const r of h.runs) assert.ok(r.sizes.reduce((a, b) => a + b, 0) <= 4);
  assert.deepEqual(h.runs.flatMap((r) => r.ids), [0, 1, 2, 3, 4, 5], 'every request once, in order');
});

test('Batcher: two instances run two batches at the same time', async () => {
  const h = harness({ maxBatchSize: 2, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 0 } }, 2);
  h.add(1, 1, 1, 1, 1, 1);
  // With no delay each of the first two requests finds a free instance alone.
  assert.deepEqual(h.runs.map((r) => r.ids), [[0], [1]]);
  assert.deepEqual(h.runs.map((r) => r.instance), [0, 1]);
  assert.equal(h.batcher.pending, 4);
  assert.equal(h.batcher.executing, 2);
  h.runs[0]!.finish();
  await h.settle();
  assert.deepEqual(h.runs[2]!.ids, [2, 3]);
  assert.equal(h.runs[2]!.instance, 0);
  h.runs[1]!.finish();
  await h.settle();
  assert.deepEqual(h.runs[3]!.ids, [4, 5]);
  assert.equal(h.runs[3]!.instance, 1);
  h.runs[2]!.finish();
  h.runs[3]!.finish();
  await h.batcher.drain();
  assert.equal(h.maxActive(), 2);
});

test('Batcher: drain waits for running batches; takeAll empties the queue', async () => {
  const h = harness({ maxBatchSize: 1 });
  h.add(1, 1, 1);
  let drained = false;
  const d = h.batcher.drain().then(() => (drained = true));
  assert.equal(h.batcher.takeAll().length, 2);
  await h.settle();
  assert.equal(drained, false);
  h.runs[0]!.finish();
  await d;
  assert.equal(drained, true);
});

test('property: every request runs exactly once, in order, whole, in batches within max_batch_size', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        maxBatchSize: fc.integer({ min: 1, max: 16 }),
        dynamic: fc.boolean(),
        delayUs: fc.constantFrom(0, 100, 1000),
        preferred: fc.uniqueArray(fc.integer({ min: 1, max: 16 }), { maxLength: 3 }),
        instances: fc.integer({ min: 1, max: 3 }),
        // Each step: enqueue requests of these sizes, advance the clock, finish the oldest run.
        steps: fc.array(fc.record({ sizes: fc.array(fc.integer({ min: 1, max: 16 }), { maxLength: 4 }), advanceUs: fc.nat(2000), finish: fc.boolean() }), {
          maxLength: 12,
        }),
      }),
      async (p) => {
        const policy: BatchPolicy = {
          maxBatchSize: p.maxBatchSize,
          ...(p.dynamic
            ? { dynamic: { preferredBatchSizes: p.preferred.filter((s) => s <= p.maxBatchSize), maxQueueDelayNs: p.delayUs * US } }
            : {}),
        };
        const h = harness(policy, p.instances);
        const clampSize = (s: number) => Math.min(s, p.maxBatchSize); // larger requests are refused before the queue
        let finished = 0;
        for (const step of p.steps) {
          h.add(...step.sizes.map(clampSize));
          h.clock.advance(step.advanceUs * US);
          if (step.finish && finished < h.runs.length) {
            h.runs[finished++]!.finish();
            await h.settle();
          }
        }
        // Let everything left run to completion.
        for (let guard = 0; guard < 1000 && (h.batcher.pending > 0 || finished < h.runs.length); guard++) {
          if (finished < h.runs.length) {
            h.runs[finished++]!.finish();
            await h.settle();
          } else h.clock.advance(p.delayUs * US + 1);
        }
        const ids = h.runs.flatMap((r) => r.ids);
        assert.deepEqual(ids, range(ids.length), 'FIFO, each once');
        assert.equal(h.batcher.pending, 0);
        for (const r of h.runs) {
          assert.ok(r.sizes.reduce((a, b) => a + b, 0) <= Math.max(p.maxBatchSize, r.sizes[0]!), 'within max_batch_size');
          if (!p.dynamic) assert.equal(r.ids.length, 1, 'default scheduler: one request per batch');
        }
        assert.ok(h.maxActive() <= p.instances);
      },
    ),
    { numRuns: 150 },
  );
});

test('systemClock timers: sub-millisecond delays are honoured, never early, and can be cancelled', async () => {
  for (const delayUs of [200, 3000]) {
    const start = systemClock.now();
    const firedAt = await new Promise<number>((resolve) => systemClock.setTimer(() => resolve(systemClock.now()), delayUs * US));
    const waitedUs = (firedAt - start) / US;
    assert.ok(waitedUs >= delayUs, `waited ${waitedUs} µs for ${delayUs}`);
    assert.ok(waitedUs < delayUs + 50_000, `waited ${waitedUs} µs for ${delayUs}`);
  }
  let fired = false;
  const h = systemClock.setTimer(() => (fired = true), 100 * US);
  systemClock.clearTimer(h);
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(fired, false);
});
