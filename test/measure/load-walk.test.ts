import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConcurrencyWalk, RateWalk } from '../../src/measure/load-walk.js';
import { bestPointIndex } from '../../src/domain/target.js';
import { measurementsOf, type LoadPoint } from '../../src/domain/measurement.js';

/** A replayed-style point (no histograms): throughput and p99 given, 100 requests a second over one second. */
function point(concurrency: number, throughputIps: number, p99Ms: number, over: Partial<LoadPoint> = {}): LoadPoint {
  return {
    concurrency, throughputIps, p50Ms: p99Ms / 2, p90Ms: p99Ms * 0.8, p95Ms: p99Ms * 0.9, p99Ms,
    requests: 100, errors: 0, windows: 3, stable: true, stopReason: 'stable', server: null, durationS: 1, ...over,
  };
}

/** A server whose throughput grows to 800/s at concurrency 8 and stays there; p99 grows with the load. */
const saturating = (c: number): LoadPoint => point(c, 100 * Math.min(c, 8), 2 * c);

test('ConcurrencyWalk: asks for loads until the knee, then the best point again, pooled into it in place', () => {
  const walk = new ConcurrencyWalk({ targetP99Ms: 100, maxConcurrency: 64 });
  const asked: string[] = [];
  let guard = 0;
  for (let step = walk.next(); !('done' in step); step = walk.next()) {
    assert.ok(++guard < 30, 'the walk ends');
    asked.push(step.repeatOf === undefined ? String(step.concurrency) : `again ${step.concurrency}`);
    const before = walk.points.length;
    const { point: stored, index } = walk.record(step, saturating(step.concurrency));
    if (step.repeatOf === undefined) {
      assert.equal(index, before, 'a new point is appended');
    } else {
      assert.equal(index, step.repeatOf, 'a repeat replaces the point it measures again');
      assert.equal(walk.points.length, before, 'and adds no point');
      assert.equal(stored.concurrency, step.concurrency);
      assert.equal(measurementsOf(stored), 2);
      assert.equal(stored.requests, 200, 'the pooled point holds both measurements');
    }
    assert.equal(walk.points[index], stored, 'what record returns is what the walk holds');
  }
  // Doubling while throughput grows (to 8), two flat points (16, 32) confirm saturation, then
  // the best point, the highest throughput at the lowest load, is measured again.
  assert.deepEqual(asked, ['1', '2', '4', '8', '16', '32', 'again 8']);
  assert.equal(walk.bestIndex(), bestPointIndex(walk.points, 100));
  assert.equal(walk.points[walk.bestIndex()!]!.concurrency, 8);
});

test('ConcurrencyWalk.noLoadBetween: where the driver holds no load, the best point is confirmed, then the walk ends with the reason given', () => {
  const walk = new ConcurrencyWalk({ targetP99Ms: 100, maxConcurrency: 64 });
  walk.record({ concurrency: 1 }, point(1, 100, 5));
  walk.record({ concurrency: 4 }, point(4, 300, 20));
  const instead = walk.noLoadBetween('the file holds no load between 4 and 16');
  assert.deepEqual(instead, { concurrency: 4, repeatOf: 1 });
  walk.record(instead as { concurrency: number; repeatOf: number }, point(4, 280, 22));
  assert.equal(walk.points.length, 2);
  assert.deepEqual(walk.noLoadBetween('the file holds no load between 4 and 16'), { done: true, reason: 'the file holds no load between 4 and 16' });

  // With the knee confirmation off there is nothing to confirm: the walk just ends.
  const plain = new ConcurrencyWalk({ targetP99Ms: 100, maxConcurrency: 64, confirmKnee: false });
  plain.record({ concurrency: 1 }, point(1, 100, 5));
  assert.ok('done' in plain.noLoadBetween('gap'));
});

test('RateWalk: request rates, each point appended (open loop has no repeats), ends with load-search\'s reason', () => {
  const walk = new RateWalk({ targetP99Ms: 50, minRate: 10, maxRate: 10_000 });
  const rates: number[] = [];
  let step = walk.next();
  for (let guard = 0; !('done' in step); step = walk.next(), guard++) {
    assert.ok(guard < 20, 'the walk ends');
    assert.ok(!('repeatOf' in step) && !('concurrency' in step));
    rates.push(step.rate);
    // The server keeps up to 1000/s with p99 10 ms; beyond, it completes 1000/s and p99 grows.
    const done = Math.min(step.rate, 1000);
    const { index } = walk.record(step, point(0, done, step.rate <= 1000 ? 10 : 200, { mode: 'rate', offeredRate: step.rate, achievedRate: done }));
    assert.equal(index, rates.length - 1);
  }
  assert.match(step.reason, /^bracketed: /);
  assert.ok(new Set(rates).size === rates.length, 'no rate measured twice');
  const best = walk.points[walk.bestIndex()!]!;
  assert.ok(best.offeredRate! <= 1000 && best.offeredRate! >= 900, `best offered ${best.offeredRate}/s, within the 10% bracket below 1000/s`);
});
