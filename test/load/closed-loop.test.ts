import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { ClosedLoopDriver } from '../../src/load/closed-loop.js';
import { percentiles } from '../../src/measure/stats.js';
import { VirtualTime } from '../runner/fakes.js';

test('closed loop with real timers: exactly N in flight, never more', async () => {
  // FAKE send: a 1–4 ms timer, counting its own concurrency independently of the driver.
  let inFlight = 0;
  let peak = 0;
  const send = async (): Promise<void> => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await delay(1 + Math.floor(Math.random() * 4));
    inFlight--;
  };
  const driver = new ClosedLoopDriver({ send });
  driver.start(8);
  assert.equal(driver.inFlight, 8, 'all loops send at once');
  await delay(20);
  driver.startWindow();
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) {
    await delay(5);
    samples.push(driver.inFlight);
  }
  const win = driver.endWindow();
  const stop = await driver.stop();
  assert.equal(peak, 8);
  assert.equal(driver.maxInFlight, 8);
  assert.ok(samples.every((n) => n === 8), `in flight while running: ${samples.join(',')}`);
  assert.ok(win.count > 0);
  assert.equal(win.errors, 0);
  assert.ok(win.durationNs > 40_000_000n);
  assert.equal(win.histogram.totalCount, win.count);
  assert.deepEqual(stop, { drained: true, inFlight: 0 });
  assert.equal(inFlight, 0);
});

test('closed loop on a FAKE clock: counts and latencies are exact', async () => {
  const vt = new VirtualTime();
  const driver = new ClosedLoopDriver({ send: () => vt.sleep(1), clock: vt.clock, sleep: vt.sleep });
  const win = await vt.run(async () => {
    driver.start(4);
    await vt.sleep(10.5);
    driver.startWindow();
    await vt.sleep(100);
    const w = driver.endWindow();
    await driver.stop();
    return w;
  });
  assert.equal(win.count, 400);
  assert.equal(win.durationNs, 100_000_000n);
  assert.deepEqual(percentiles(win.histogram), { p50: 1000, p90: 1000, p95: 1000, p99: 1000 });
  assert.equal(driver.maxInFlight, 4);
  assert.equal(driver.inFlight, 0);
});

test('closed loop: failures are counted, not timed, and the first message kept', async () => {
  const vt = new VirtualTime();
  let n = 0;
  const send = async (): Promise<void> => {
    const k = n++;
    await vt.sleep(1);
    if (k % 4 === 3) throw new Error(`fake failure ${k}`);
  };
  const driver = new ClosedLoopDriver({ send, clock: vt.clock, sleep: vt.sleep });
  const win = await vt.run(async () => {
    driver.start(1);
    await vt.sleep(0.5);
    driver.startWindow();
    await vt.sleep(100);
    const w = driver.endWindow();
    await driver.stop();
    return w;
  });
  // Completions at 1..100 ms; the window (0.5, 100.5] holds the 100 of them.
  assert.equal(win.count + win.errors, 100);
  assert.equal(win.errors, 25);
  assert.equal(win.histogram.totalCount, 75);
  assert.equal(win.firstError, 'fake failure 3');
  assert.deepEqual(driver.totals, { completed: 76, errors: 25 });
});

test('closed loop: a send that rejects at once does not starve timers', async () => {
  const driver = new ClosedLoopDriver({ send: () => Promise.reject(new Error('refused')) });
  driver.start(4);
  driver.startWindow();
  await delay(20); // would never fire if the loops spun on microtasks
  const win = driver.endWindow();
  await driver.stop();
  assert.ok(win.errors > 0);
  assert.equal(win.count, 0);
  assert.equal(win.firstError, 'refused');
});

test('closed loop: an instant send does not starve timers either', async () => {
  const driver = new ClosedLoopDriver({ send: async () => undefined, yieldEvery: 100 });
  driver.start(2);
  driver.startWindow();
  await delay(10);
  const win = driver.endWindow();
  await driver.stop();
  assert.ok(win.count > 0);
});

test('closed loop: stop is bounded when requests hang', async () => {
  const driver = new ClosedLoopDriver({ send: () => new Promise<void>(() => undefined), stopTimeoutMs: 30 });
  driver.start(3);
  const t0 = Date.now();
  const res = await driver.stop();
  assert.deepEqual(res, { drained: false, inFlight: 3 });
  assert.ok(Date.now() - t0 < 1000);
});

test('closed loop: misuse is an error', () => {
  const driver = new ClosedLoopDriver({ send: async () => undefined });
  assert.throws(() => driver.endWindow(), /without startWindow/);
  assert.throws(() => driver.start(0), RangeError);
  assert.throws(() => driver.start(1.5), RangeError);
});
