import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { ClosedLoopDriver } from '../../src/load/closed-loop.js';
import { measureLoadPoint } from '../../src/measure/windows.js';
import { OpenLoopDriver } from '../../src/load/open-loop.js';
import { percentiles } from '../../src/measure/stats.js';
import type { WindowSettings } from '../../src/domain/measurement.js';
import { VirtualTime } from '../runner/fakes.js';

/**
 * FAKE server on virtual time: answers in 1 ms, except that it stalls for `stallMs` at the
 * start of every `periodMs`: whatever arrives during a stall is answered 1 ms after it ends.
 */
function stallingServer(vt: VirtualTime, periodMs = 1000, stallMs = 100): () => Promise<void> {
  return async () => {
    const now = vt.nowMs;
    const phase = now % periodMs;
    const doneAt = phase < stallMs ? now - phase + stallMs + 1 : now + 1;
    await vt.sleep(doneAt - now);
  };
}

/** Runs a driver on virtual time: warm-up, one window of `windowMs`, stop. */
async function oneWindow(vt: VirtualTime, driver: ClosedLoopDriver | OpenLoopDriver, level: number, warmupMs: number, windowMs: number) {
  return vt.run(async () => {
    driver.start(level);
    await vt.sleep(warmupMs);
    driver.startWindow();
    await vt.sleep(windowMs);
    const w = driver.endWindow();
    await driver.stop();
    return w;
  });
}

test('coordinated omission: open loop shows a FAKE server stall in p99, closed loop hides it', async () => {
  // 100 ms stall every second. Closed loop, one request in flight: ~900 answers a second
  // take 1 ms and one takes ~100 ms, so p99 stays 1 ms. Open loop at 200/s: the 20
  // requests due in each stall wait 6 to 101 ms, 10% of all, so p99 lies far above 1 ms.
  const vtc = new VirtualTime();
  vtc.nowNs = 50_000_000n; // start between stalls
  const closed = await oneWindow(vtc, new ClosedLoopDriver({ send: stallingServer(vtc), clock: vtc.clock, sleep: vtc.sleep }), 1, 0, 2000);

  const vto = new VirtualTime();
  vto.nowNs = 50_000_000n;
  const open = await oneWindow(vto, new OpenLoopDriver({ send: stallingServer(vto), clock: vto.clock, sleep: vto.sleep, spinNs: 0 }), 200, 1, 2000);

  const pc = percentiles(closed.histogram);
  const po = percentiles(open.histogram);
  assert.equal(pc.p99, 1000, `closed loop p99 ${pc.p99} µs: the stall is hidden`);
  assert.ok(closed.histogram.maxValue >= 90_000, 'the closed loop did see one slow request per stall');
  assert.ok(po.p99 >= 50_000, `open loop p99 ${po.p99} µs shows the stall`);
  assert.ok(po.p90 >= 1000 && po.p50 === 1000, `open loop p50 ${po.p50}, p90 ${po.p90}`);
  assert.equal(open.sent, 400);
  assert.equal(open.late, 0, 'the client kept its schedule');
  assert.ok(open.count >= 380, `completed ${open.count}`); // those due in the stall at the window's end answer after it
  // Latency counts from the intended send time: the worst waited the whole stall.
  assert.ok(open.histogram.maxValue >= 100_000 && open.histogram.maxValue <= 101_100, `max ${open.histogram.maxValue}`);
});

test('open loop on FAKE time: constant arrivals at the rate, latencies exact', async () => {
  const vt = new VirtualTime();
  const driver = new OpenLoopDriver({ send: () => vt.sleep(1.5), clock: vt.clock, sleep: vt.sleep, spinNs: 0 });
  const w = await oneWindow(vt, driver, 1000, 10, 500);
  assert.equal(w.sent, 500);
  assert.equal(w.count, 500);
  assert.equal(w.late, 0);
  assert.equal(w.maxLateNs, 0);
  assert.deepEqual(percentiles(w.histogram), { p50: 1500, p90: 1500, p95: 1500, p99: 1500 });
  assert.equal(driver.maxInFlight, 2, '1.5 ms answers at one request per ms');
  assert.equal(driver.inFlight, 0);
});

/**
 * FAKE slow client: after each send the driver yields, and the yield takes the client
 * `costMs` of virtual time, as a busy event loop would.
 */
function slowClient(vt: VirtualTime, costMs: number) {
  return { send: () => vt.sleep(1), clock: vt.clock, sleep: vt.sleep, spinNs: 0, burst: 1, yieldTurn: () => vt.sleep(costMs) };
}

test('open loop: a client that cannot keep its schedule counts the late sends and still times from the due time', async () => {
  const vt = new VirtualTime();
  // 2 ms per send against a request due every 1 ms: it falls further behind with each one.
  const driver = new OpenLoopDriver(slowClient(vt, 2));
  const w = await oneWindow(vt, driver, 1000, 0, 200);
  assert.ok(w.sent! >= 95 && w.sent! <= 105, `sent ${w.sent} of the 200 due`);
  assert.ok(w.late! / w.sent! > 0.9, `late ${w.late} of ${w.sent}`);
  assert.ok(w.maxLateNs! >= 90_000_000, `max lateness ${w.maxLateNs}`);
  // Each latency includes the wait behind the schedule, so the worst is ~100 ms, not 1 ms.
  assert.ok(w.histogram.maxValue >= 90_000, `max latency ${w.histogram.maxValue} µs`);
});

test('open loop: measureLoadPoint marks a point unreliable when the client fell behind, reliable when not', async () => {
  const settings: WindowSettings = { windowMs: 100, minWindows: 3, maxWindows: 4, stabilityTolerance: 0.1, warmupMs: 20 };
  const run = async (costMs: number) => {
    const vt = new VirtualTime();
    const driver = new OpenLoopDriver(slowClient(vt, costMs));
    return vt.run(() => measureLoadPoint({ driver, rate: 1000, arrivals: 'constant', settings, sleep: vt.sleep }));
  };
  const busy = await run(1.2); // 1.2 ms a send against 1 ms between sends
  assert.equal(busy.mode, 'rate');
  assert.equal(busy.offeredRate, 1000);
  assert.equal(busy.unreliable, true);
  assert.equal(busy.clientLimited, true);
  assert.match(busy.unreliableReason!, /fell behind its schedule/);
  assert.ok(busy.late! / busy.sent! > 0.01);

  const fine = await run(0.5); // 0.5 ms a send: keeps up
  assert.equal(fine.unreliable, undefined);
  assert.equal(fine.clientLimited, false);
  assert.equal(fine.late, 0);
  assert.ok(Math.abs(fine.achievedRate! - 1000) < 20, `achieved ${fine.achievedRate}`);
  assert.equal(fine.arrivals, 'constant');
  assert.equal(fine.p99Ms, 1);
});

test('open loop: the in-flight cap holds requests back without calling it client lateness', async () => {
  const vt = new VirtualTime();
  // FAKE server that answers in 50 ms: at 1000/s, 50 would be in flight; the cap is 10.
  const driver = new OpenLoopDriver({ send: () => vt.sleep(50), clock: vt.clock, sleep: vt.sleep, spinNs: 0, maxInFlight: 10 });
  const w = await oneWindow(vt, driver, 1000, 100, 200);
  assert.equal(driver.maxInFlight, 10);
  assert.equal(w.late, 0);
  assert.ok(driver.totals.capped > 0);
  // Held-back requests are timed from when they were due: the latency shows the backlog.
  assert.ok(w.histogram.maxValue > 100_000, `max ${w.histogram.maxValue}`);
});

test('open loop with real timers: keeps a 500/s schedule, stops cleanly', async () => {
  const driver = new OpenLoopDriver({ send: () => delay(2) });
  driver.start(500);
  await delay(30);
  driver.startWindow();
  await delay(200);
  const w = driver.endWindow();
  const stop = await driver.stop();
  assert.ok(w.sent! >= 80 && w.sent! <= 120, `sent ${w.sent}`);
  assert.ok(w.count > 50);
  assert.deepEqual(stop, { drained: true, inFlight: 0 });
});

test('open loop: failures are counted, a synchronous throw too, and misuse is an error', async () => {
  const vt = new VirtualTime();
  let n = 0;
  const send = (): Promise<void> => {
    if (n++ % 2) throw new Error('fake sync failure');
    return vt.sleep(1);
  };
  const driver = new OpenLoopDriver({ send, clock: vt.clock, sleep: vt.sleep, spinNs: 0 });
  const w = await oneWindow(vt, driver, 100, 0, 100);
  assert.equal(w.count + w.errors, 10);
  assert.equal(w.errors, 5);
  assert.equal(w.firstError, 'fake sync failure');
  assert.throws(() => driver.start(10), /twice/);
  assert.throws(() => new OpenLoopDriver({ send }).endWindow(), /without startWindow/);
  assert.throws(() => new OpenLoopDriver({ send }).start(0), RangeError);
});

test('open loop on FAKE time: a due time a fraction of a ns away does not stall the clock', async () => {
  // 316/s: due times fall between whole ns; a timer for the remaining fraction would fire at the same instant for ever.
  const vt = new VirtualTime();
  const driver = new OpenLoopDriver({ send: () => vt.sleep(1), clock: vt.clock, sleep: vt.sleep, spinNs: 0 });
  const w = await oneWindow(vt, driver, 316, 1, 1000);
  assert.ok(w.sent === 316 || w.sent === 317, `sent ${w.sent}`);
  assert.equal(w.late, 0);
});

test('open loop with real timers: stop does not wait out a long gap between requests', async () => {
  const driver = new OpenLoopDriver({ send: () => delay(1) });
  driver.start(0.5); // one request now, the next in 2 s
  await delay(20);
  const t0 = Date.now();
  await driver.stop();
  assert.ok(Date.now() - t0 < 500, `stop took ${Date.now() - t0} ms`);
});

test('lateSlackNsFor: 10% of the p99 target, never under 2 ms', async () => {
  const { lateSlackNsFor } = await import('../../src/load/open-loop.js');
  assert.equal(lateSlackNsFor(undefined), 2_000_000);
  assert.equal(lateSlackNsFor(8), 2_000_000);
  assert.equal(lateSlackNsFor(50), 5_000_000);
  assert.equal(lateSlackNsFor(250), 25_000_000);
  assert.equal(lateSlackNsFor(0), 2_000_000);
});
