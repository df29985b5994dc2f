import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Batcher, decideBatch, decideStagedBatch, systemClock, type Batchable, type BatchPolicy, type QueueEntry, type SchedulerClock } from '../../src/server/batcher.js';

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

/** A batcher whose runs finish only when the test says so (a staged run is finished after the one ahead of it). */
function harness(policy: BatchPolicy, instances = 1, staging = false) {
  const clock = new FakeClock();
  const runs: { ids: number[]; sizes: number[]; instance: number; startNs: number; finish: () => void }[] = [];
  let active = 0;
  let maxActive = 0;
  const perInstance = Array.from({ length: instances }, () => 0);
  let maxPerInstance = 0;
  const batcher = new Batcher<Req>(
    policy,
    instances,
    (batch, instance, startNs) =>
      new Promise<void>((resolve) => {
        active++;
        maxActive = Math.max(maxActive, active);
        maxPerInstance = Math.max(maxPerInstance, ++perInstance[instance]!);
        runs.push({
          ids: batch.map((e) => e.request.id),
          sizes: batch.map((e) => e.request.batchSize),
          instance,
          startNs,
          finish: () => {
            active--;
            perInstance[instance]!--;
            resolve();
          },
        });
      }),
    clock,
    { staging },
  );
  let id = 0;
  const add = (...sizes: number[]) => sizes.forEach((batchSize) => batcher.enqueue({ batchSize, id: id++ }));
  // Lets the batcher's promise continuations run after a finish().
  const settle = () => new Promise<void>((r) => setImmediate(r));
  return { clock, runs, batcher, add, settle, maxActive: () => maxActive, maxPerInstance: () => maxPerInstance };
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
        staging: fc.boolean(),
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
        const h = harness(policy, p.instances, p.staging);
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
        // At most one executing and, with staging, one staged batch per instance.
        assert.ok(h.maxPerInstance() <= (p.staging ? 2 : 1));
        assert.ok(h.maxActive() <= p.instances * (p.staging ? 2 : 1));
      },
    ),
    { numRuns: 150 },
  );
});

// ------------------------------------------------------------------ staging

const entries = (...reqs: (number | [number, string])[]): QueueEntry<Batchable>[] =>
  reqs.map((r, i) => ({ request: typeof r === 'number' ? { batchSize: r } : { batchSize: r[0], shapeKey: r[1] }, enqueuedNs: i }));

test('decideStagedBatch: with the default scheduler every request is its own batch, so it is always staged', () => {
  assert.deepEqual(decideStagedBatch(q(1, 1, 1), 0, { maxBatchSize: 8 }), { kind: 'send', count: 1 });
  assert.deepEqual(decideStagedBatch(q(4), 0, { maxBatchSize: 0 }), { kind: 'send', count: 1 });
  // max_batch_size 1 with dynamic batching: still one request per batch.
  assert.deepEqual(decideStagedBatch(q(1, 1), 0, { maxBatchSize: 1, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 100 * US } }), { kind: 'send', count: 1 });
  assert.deepEqual(decideStagedBatch([], 0, { maxBatchSize: 8 }), { kind: 'idle' });
});

test('decideStagedBatch: dynamic without preferred sizes stages only a batch nothing can join', () => {
  const noDelay: BatchPolicy = { maxBatchSize: 4, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 0 } };
  // A free instance would take 2 now, but a busy one may see more arrive first: hold.
  assert.deepEqual(decideBatch(q(1, 1), 0, noDelay), { kind: 'send', count: 2 });
  assert.deepEqual(decideStagedBatch(q(1, 1), 0, noDelay), { kind: 'idle' });
  // max_batch_size reached.
  assert.deepEqual(decideStagedBatch(q(1, 1, 2), 0, noDelay), { kind: 'send', count: 3 });
  assert.deepEqual(decideStagedBatch(q(1, 1, 1, 1, 1), 0, noDelay), { kind: 'send', count: 4 });
  // Ended by the next request, which would overflow max_batch_size.
  assert.deepEqual(decideStagedBatch(q(1, 2, 3), 0, noDelay), { kind: 'send', count: 2 });
  const delayed: BatchPolicy = { maxBatchSize: 4, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 100 * US } };
  // Waiting for the delay either way; the delay running out may close the batch.
  assert.deepEqual(decideStagedBatch(q(1, 1), 0, delayed), { kind: 'wait', untilNs: 100 * US });
  assert.deepEqual(decideStagedBatch(q(2, 2), 0, delayed), { kind: 'send', count: 2 });
});

test('decideStagedBatch: a different input shape ends the batch, which can then be staged', () => {
  const policy: BatchPolicy = { maxBatchSize: 8, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 100 * US } };
  assert.deepEqual(decideStagedBatch(entries([1, 'a'], [1, 'a'], [1, 'b']), 0, policy), { kind: 'send', count: 2 });
  assert.deepEqual(decideStagedBatch(entries([1, 'a'], [1, 'a']), 0, policy), { kind: 'wait', untilNs: 100 * US });
});

test('decideStagedBatch: preferred sizes', () => {
  // Largest preferred size = max_batch_size: reaching it closes the batch.
  const full: BatchPolicy = { maxBatchSize: 4, dynamic: { preferredBatchSizes: [2, 4], maxQueueDelayNs: 100 * US } };
  assert.deepEqual(decideStagedBatch(q(1, 1, 1, 1, 1), 0, full), { kind: 'send', count: 4 });
  // Preferred 2 formed, but 4 may still form before the instance is free: hold.
  assert.deepEqual(decideStagedBatch(q(1, 1, 1), 0, full), { kind: 'wait', untilNs: 100 * US });
  // Largest preferred size 2 below max_batch_size 4: with a delay, an instance busy past it
  // would take all 4 queued, so the 2 are not staged before the delay...
  const below: BatchPolicy = { maxBatchSize: 4, dynamic: { preferredBatchSizes: [2], maxQueueDelayNs: 100 * US } };
  assert.deepEqual(decideBatch(q(1, 1, 1, 1, 1), 0, below), { kind: 'send', count: 2 });
  assert.deepEqual(decideStagedBatch(q(1, 1, 1, 1, 1), 0, below), { kind: 'wait', untilNs: 100 * US });
  // ... and once it has run out, the 4 (the fifth request would overflow) are.
  assert.deepEqual(decideStagedBatch(q(1, 1, 1, 1, 1), 100 * US, below), { kind: 'send', count: 4 });
  // With fewer queued, after the delay more could still join: nothing more to wait for.
  assert.deepEqual(decideStagedBatch(q(1, 1, 1), 100 * US, below), { kind: 'idle' });
  // Without a delay the largest preferred size always wins: staged.
  const noDelay: BatchPolicy = { maxBatchSize: 4, dynamic: { preferredBatchSizes: [2], maxQueueDelayNs: 0 } };
  assert.deepEqual(decideStagedBatch(q(1, 1, 1), 0, noDelay), { kind: 'send', count: 2 });
  assert.deepEqual(decideStagedBatch(q(1), 0, noDelay), { kind: 'idle' });
});

test('property: a staged batch is the batch a free instance would take later, whatever arrives and however long it waits', () => {
  fc.assert(
    fc.property(
      fc.record({
        maxBatchSize: fc.integer({ min: 0, max: 12 }),
        dynamic: fc.boolean(),
        delayUs: fc.constantFrom(0, 100, 1000),
        preferred: fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 3 }),
        queue: fc.array(fc.record({ size: fc.integer({ min: 1, max: 12 }), key: fc.constantFrom('a', 'b'), atUs: fc.nat(1500) }), { minLength: 1, maxLength: 10 }),
        nowUs: fc.nat(1500),
        arrivals: fc.array(fc.record({ size: fc.integer({ min: 1, max: 12 }), key: fc.constantFrom('a', 'b') }), { maxLength: 6 }),
        laterUs: fc.nat(3000),
      }),
      (p) => {
        const policy: BatchPolicy = {
          maxBatchSize: p.maxBatchSize,
          ...(p.dynamic ? { dynamic: { preferredBatchSizes: p.preferred, maxQueueDelayNs: p.delayUs * US } } : {}),
        };
        const cap = Math.max(1, p.maxBatchSize);
        const times = p.queue.map((r) => r.atUs).sort((a, b) => a - b);
        const now = Math.max(p.nowUs, times[times.length - 1]!) * US;
        const queue = p.queue.map((r, i) => ({ request: { batchSize: Math.min(r.size, cap), shapeKey: r.key }, enqueuedNs: times[i]! * US }));
        const staged = decideStagedBatch(queue, now, policy);
        if (staged.kind !== 'send') return;
        const later = now + p.laterUs * US;
        const grown = [...queue, ...p.arrivals.map((r) => ({ request: { batchSize: Math.min(r.size, cap), shapeKey: r.key }, enqueuedNs: later }))];
        assert.deepEqual(decideBatch(grown, later, policy), staged);
      },
    ),
    { numRuns: 2000 },
  );
});

test('Batcher staging: free instances first, then at most one staged batch per instance', async () => {
  const h = harness({ maxBatchSize: 8 }, 2, true);
  h.add(1);
  h.clock.advance(10 * US);
  h.add(1, 1);
  assert.deepEqual(h.runs.map((r) => [r.ids, r.instance]), [[[0], 0], [[1], 1], [[2], 0]], 'instance 1 free: used before staging; then staged on the instance busy longest');
  h.add(1);
  assert.equal(h.runs[3]!.instance, 1);
  assert.equal(h.batcher.staged, 2);
  assert.equal(h.batcher.executing, 2);
  h.add(1);
  assert.equal(h.runs.length, 4, 'no second staged batch on an instance');
  assert.equal(h.batcher.pending, 1);
  // Instance 0 finishes: its staged batch starts, and the queued request is staged behind it.
  h.runs[0]!.finish();
  await h.settle();
  assert.deepEqual(h.runs.map((r) => r.ids), [[0], [1], [2], [3], [4]]);
  assert.equal(h.runs[4]!.instance, 0);
  for (const i of [1, 2, 3, 4]) {
    h.runs[i]!.finish();
    await h.settle();
  }
  await h.batcher.drain();
  assert.equal(h.batcher.staged, 0);
});

test('Batcher staging: off by default; a batch that could still grow waits for the free instance', async () => {
  const plain = harness({ maxBatchSize: 8 }, 1);
  plain.add(1, 1);
  assert.equal(plain.runs.length, 1, 'no staging unless asked for');

  const h = harness({ maxBatchSize: 4, dynamic: { preferredBatchSizes: [], maxQueueDelayNs: 0 } }, 1, true);
  h.add(1);
  h.add(1, 1);
  assert.equal(h.runs.length, 1, 'two requests could become four: not staged');
  h.add(1, 1);
  assert.deepEqual(h.runs.map((r) => r.ids), [[0], [1, 2, 3, 4]], 'full: staged');
  h.add(1);
  h.runs[0]!.finish();
  await h.settle();
  assert.equal(h.runs.length, 2, 'the new request waits behind the executing staged batch');
  h.runs[1]!.finish();
  await h.settle();
  assert.deepEqual(h.runs[2]!.ids, [5]);
});

test('Batcher staging: the delay running out can close a batch, which is then staged', () => {
  const h = harness({ maxBatchSize: 4, dynamic: { preferredBatchSizes: [2], maxQueueDelayNs: 100 * US } }, 1, true);
  h.add(1, 1);
  assert.deepEqual(h.runs.map((r) => r.ids), [[0, 1]], 'preferred size on the free instance');
  h.add(1, 1, 1, 1, 1);
  assert.equal(h.runs.length, 1, 'preferred size reached but the delay may still make it 4');
  h.clock.advance(100 * US);
  assert.deepEqual(h.runs.map((r) => r.ids), [[0, 1], [2, 3, 4, 5]]);
  assert.equal(h.runs[1]!.startNs, 100 * US);
});

test('property: with one instance, staging never changes which requests are batched together', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        maxBatchSize: fc.integer({ min: 1, max: 8 }),
        dynamic: fc.boolean(),
        delayUs: fc.constantFrom(0, 100, 1000),
        preferred: fc.uniqueArray(fc.integer({ min: 1, max: 8 }), { maxLength: 3 }),
        steps: fc.array(fc.record({ sizes: fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 4 }), advanceUs: fc.nat(1500), finish: fc.boolean() }), {
          maxLength: 15,
        }),
      }),
      async (p) => {
        const policy: BatchPolicy = {
          maxBatchSize: p.maxBatchSize,
          ...(p.dynamic ? { dynamic: { preferredBatchSizes: p.preferred.filter((s) => s <= p.maxBatchSize), maxQueueDelayNs: p.delayUs * US } } : {}),
        };
        // The same arrivals and the same execution ends (the instance's current batch) in both.
        const both = [harness(policy, 1, false), harness(policy, 1, true)];
        const finished = [0, 0];
        const step = async (sizes: number[], advanceUs: number, finish: boolean) => {
          for (const [i, h] of both.entries()) {
            h.add(...sizes.map((s) => Math.min(s, p.maxBatchSize)));
            h.clock.advance(advanceUs * US);
            if (finish && finished[i]! < h.runs.length) h.runs[finished[i]!++]!.finish();
          }
          await both[0]!.settle();
        };
        for (const s of p.steps) await step(s.sizes, s.advanceUs, s.finish);
        for (let guard = 0; guard < 200 && both.some((h, i) => h.batcher.pending > 0 || finished[i]! < h.runs.length); guard++) await step([], p.delayUs + 1, true);
        const executed = (i: number) => both[i]!.runs.slice(0, finished[i]).map((r) => r.ids);
        assert.deepEqual(executed(1), executed(0));
      },
    ),
    { numRuns: 300 },
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
