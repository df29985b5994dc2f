import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadDriver, StopResult, WindowResult } from '../../src/domain/load.js';
import { measureLoadPoint, windowLengthMs } from '../../src/measure/windows.js';
import { newLatencyHistogram } from '../../src/load/histogram.js';
import type { ServerTimes, WindowSettings } from '../../src/domain/measurement.js';

const SETTINGS: WindowSettings = { windowMs: 100, minWindows: 3, maxWindows: 10, stabilityTolerance: 0.1, warmupMs: 50 };

interface Script {
  count: number;
  p99Us: number;
  errors?: number;
  firstError?: string;
}

/** FAKE driver: each window is scripted (count requests, 98% at p99Us/2 and 2% at p99Us). */
class ScriptedDriver implements LoadDriver {
  started: number | null = null;
  windowsOpened = 0;
  stopped = 0;
  constructor(private readonly script: (i: number) => Script, private readonly windowMs = SETTINGS.windowMs) {}
  start(concurrency: number): void {
    this.started = concurrency;
  }
  startWindow(): void {
    this.windowsOpened++;
  }
  endWindow(): WindowResult {
    const s = this.script(this.windowsOpened - 1);
    const h = newLatencyHistogram();
    const tail = Math.ceil(s.count / 50);
    if (s.count > 0) {
      h.recordValueWithCount(Math.round(s.p99Us / 2), s.count - tail);
      h.recordValueWithCount(s.p99Us, tail);
    }
    return { histogram: h, count: s.count, errors: s.errors ?? 0, firstError: s.firstError ?? null, durationNs: BigInt(this.windowMs * 1e6) };
  }
  async stop(): Promise<StopResult> {
    this.stopped++;
    return { drained: true, inFlight: 0 };
  }
}

/** FAKE sleep: resolves at once, remembering what was asked. */
const fakeSleep = () => {
  const calls: number[] = [];
  return { calls, sleep: async (ms: number) => void calls.push(ms) };
};

test('measureLoadPoint: steady windows are stable after 3', async () => {
  const driver = new ScriptedDriver(() => ({ count: 100, p99Us: 2000 }));
  const { calls, sleep } = fakeSleep();
  const p = await measureLoadPoint({ driver, concurrency: 4, settings: SETTINGS, sleep });
  assert.equal(driver.started, 4);
  assert.equal(driver.stopped, 1);
  assert.deepEqual(calls, [50, 100, 100, 100], 'warm-up, then three windows');
  assert.equal(p.stopReason, 'stable');
  assert.equal(p.stable, true);
  assert.equal(p.windows, 3);
  assert.equal(p.concurrency, 4);
  assert.equal(p.requests, 300);
  assert.ok(Math.abs(p.throughputIps - 1000) < 1e-9);
  assert.ok(Math.abs(p.durationS - 0.3) < 1e-9);
  assert.equal(p.p99Ms, 2);
  assert.equal(p.p50Ms, 1);
  assert.equal(p.server, null);
  assert.equal(p.firstError, undefined);
});

test('measureLoadPoint: drifting windows stop at max-windows, figures from the last 3', async () => {
  // Throughput grows 20% a window: never within 10%.
  const driver = new ScriptedDriver((i) => ({ count: Math.round(100 * 1.2 ** i), p99Us: 1000 }));
  const { sleep } = fakeSleep();
  const p = await measureLoadPoint({ driver, concurrency: 2, settings: SETTINGS, sleep });
  assert.equal(p.stopReason, 'max-windows');
  assert.equal(p.stable, false);
  assert.equal(p.windows, 10);
  const last3 = [7, 8, 9].map((i) => Math.round(100 * 1.2 ** i));
  assert.equal(p.requests, last3.reduce((a, b) => a + b));
  assert.ok(Math.abs(p.throughputIps - p.requests / 0.3) < 1e-6);
});

test('measureLoadPoint: settles after a ramp, stable once the last 3 agree', async () => {
  const counts = [40, 70, 100, 150, 200, 205, 198, 500];
  const driver = new ScriptedDriver((i) => ({ count: counts[i]!, p99Us: 1000 }));
  const { sleep } = fakeSleep();
  const p = await measureLoadPoint({ driver, concurrency: 2, settings: SETTINGS, sleep });
  assert.equal(p.stopReason, 'stable');
  assert.equal(p.windows, 7);
  assert.equal(p.requests, 200 + 205 + 198);
});

test('measureLoadPoint: p99 drift alone keeps it unstable', async () => {
  const driver = new ScriptedDriver((i) => ({ count: 100, p99Us: Math.round(1000 * 1.25 ** i) }));
  const { sleep } = fakeSleep();
  const p = await measureLoadPoint({ driver, concurrency: 2, settings: SETTINGS, sleep });
  assert.equal(p.stopReason, 'max-windows');
  assert.equal(p.windows, 10);
  // Merged windows 7..9: 6 tail samples; rank 297 of 300 falls on window 8's.
  const want = 1.25 ** 8;
  assert.ok(Math.abs(p.p99Ms - want) / want < 0.002, `${p.p99Ms} ≈ ${want}`);
});

test('measureLoadPoint: more than 5% failures stops early with the first message', async () => {
  const driver = new ScriptedDriver((i) =>
    i < 1 ? { count: 100, p99Us: 1000, errors: 2, firstError: 'minor' } : { count: 90, p99Us: 1000, errors: 10, firstError: 'overloaded' },
  );
  const { sleep } = fakeSleep();
  const p = await measureLoadPoint({ driver, concurrency: 8, settings: SETTINGS, sleep });
  assert.equal(p.stopReason, 'errors');
  assert.equal(p.stable, false);
  assert.equal(p.windows, 2);
  assert.equal(p.errors, 12);
  assert.equal(p.firstError, 'minor');
  assert.equal(driver.stopped, 1);
});

test('measureLoadPoint: maxErrorRate is a parameter', async () => {
  const driver = new ScriptedDriver(() => ({ count: 90, p99Us: 1000, errors: 10, firstError: 'x' }));
  const { sleep } = fakeSleep();
  const p = await measureLoadPoint({ driver, concurrency: 1, settings: SETTINGS, sleep, maxErrorRate: 0.2 });
  assert.equal(p.stopReason, 'stable');
  assert.equal(p.errors, 30);
  assert.equal(p.firstError, 'x');
});

test('measureLoadPoint: server times span the used windows only', async () => {
  const driver = new ScriptedDriver((i) => ({ count: i < 4 ? 50 + 40 * i : 300, p99Us: 1000 }));
  const { sleep } = fakeSleep();
  let k = 0;
  const diffs: [number, number][] = [];
  const p = await measureLoadPoint<number>({
    driver,
    concurrency: 2,
    settings: SETTINGS,
    sleep,
    snapshotServer: async () => k++,
    diffServer: (a, b): ServerTimes => {
      diffs.push([a, b]);
      return { requests: b - a, executions: 0, queueUs: 0, computeInputUs: 0, computeInferUs: 0, computeOutputUs: 0 };
    },
  });
  // Counts 50, 90, 130, 170, 300, 300, 300: stable over windows 4..6.
  assert.equal(p.stopReason, 'stable');
  const n = p.windows;
  assert.equal(n, 7);
  assert.equal(k, n + 1, 'one snapshot per window start and one after the last');
  assert.deepEqual(diffs, [[n - 3, n]]);
  assert.equal(p.server?.requests, 3);
});

test('measureLoadPoint: a failing snapshot leaves server null', async () => {
  const driver = new ScriptedDriver(() => ({ count: 100, p99Us: 1000 }));
  const { sleep } = fakeSleep();
  let k = 0;
  const p = await measureLoadPoint<number>({
    driver,
    concurrency: 1,
    settings: SETTINGS,
    sleep,
    snapshotServer: async () => {
      if (k++ === 3) throw new Error('statistics unavailable');
      return k;
    },
    diffServer: () => ({ requests: 1, executions: 1, queueUs: 0, computeInputUs: 0, computeInferUs: 0, computeOutputUs: 0 }),
  });
  assert.equal(p.stopReason, 'stable');
  assert.equal(p.server, null);
});

test('measureLoadPoint: no completions reports the window span as a lower bound', async () => {
  const driver = new ScriptedDriver(() => ({ count: 0, p99Us: 0 }));
  const { sleep } = fakeSleep();
  const p = await measureLoadPoint({ driver, concurrency: 1, settings: SETTINGS, sleep });
  assert.equal(p.stopReason, 'no-completions');
  assert.equal(p.windows, 10);
  assert.equal(p.throughputIps, 0);
  assert.ok(Math.abs(p.p99Ms - 300) < 1e-9);
});

test('measureLoadPoint: batch size scales throughput to inferences/s', async () => {
  const driver = new ScriptedDriver(() => ({ count: 100, p99Us: 1000 }));
  const { sleep } = fakeSleep();
  const p = await measureLoadPoint({ driver, concurrency: 1, settings: SETTINGS, sleep, inferencesPerRequest: 8 });
  assert.ok(Math.abs(p.throughputIps - 8000) < 1e-6);
  assert.equal(p.requests, 300);
});

test('measureLoadPoint: the driver is stopped even when sleeping fails', async () => {
  const driver = new ScriptedDriver(() => ({ count: 100, p99Us: 1000 }));
  await assert.rejects(
    measureLoadPoint({ driver, concurrency: 1, settings: SETTINGS, sleep: async () => Promise.reject(new Error('interrupted')) }),
    /interrupted/,
  );
  assert.equal(driver.stopped, 1);
});

test('windowLengthMs: stretched to hold the wanted requests, within windowMs and maxWindowMs', () => {
  const s: WindowSettings = { ...SETTINGS, windowMs: 500, minWindowRequests: 200 };
  assert.equal(windowLengthMs(s, 1000), 500, 'fast enough: the window as set');
  assert.equal(windowLengthMs(s, 50), 4000, '200 requests at 50/s');
  assert.equal(windowLengthMs(s, 5), 10_000, 'bounded by 10 s');
  assert.equal(windowLengthMs({ ...s, maxWindowMs: 2000 }, 5), 2000);
  assert.equal(windowLengthMs(s, 0), 500, 'no rate known: as set');
  assert.equal(windowLengthMs({ ...s, minWindowRequests: 0 }, 5), 500, 'off');
});

test('measureLoadPoint: open loop at a low rate measures longer windows; closed loop adapts after the first window', async () => {
  const settings: WindowSettings = { ...SETTINGS, windowMs: 100, minWindowRequests: 200 };
  const open = fakeSleep();
  await measureLoadPoint({ driver: new ScriptedDriver(() => ({ count: 100, p99Us: 2000 }), 4000), rate: 50, settings, sleep: open.sleep });
  assert.deepEqual(open.calls, [50, 4000, 4000, 4000], '200 requests per window at 50/s');
  const closed = fakeSleep();
  // 100 requests in a 100 ms window = 1000/s: 200 need 200 ms.
  await measureLoadPoint({ driver: new ScriptedDriver(() => ({ count: 100, p99Us: 2000 })), concurrency: 2, settings, sleep: closed.sleep });
  assert.deepEqual(closed.calls, [50, 100, 200, 200]);
});
