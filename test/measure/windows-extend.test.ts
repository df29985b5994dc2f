import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadDriver, StopResult, ThreadLoad, WindowResult } from '../../src/domain/load.js';
import type { ClientMonitor, ClientSample } from '../../src/load/client-monitor.js';
import { measureLoadPoint } from '../../src/measure/windows.js';
import { decodeHistogram, newLatencyHistogram } from '../../src/load/histogram.js';
import type { WindowSettings } from '../../src/domain/measurement.js';

const SETTINGS: WindowSettings = { windowMs: 100, minWindows: 3, maxWindows: 10, stabilityTolerance: 0.1, warmupMs: 0, maxExtraWindows: 4 };

/**
 * FAKE driver on a FAKE clock: completes `perMs` requests per ms of (fake) time, each
 * window holding latencies 1..N µs evenly (so its p99 is 0.99·N µs). Warm-up windows and
 * measured windows look the same.
 */
class SteadyDriver implements LoadDriver {
  now = 0;
  windows = 0;
  protected openedAt = 0;
  constructor(private readonly perMs: number, private readonly clientLoad?: ThreadLoad) {}
  readonly sleep = async (ms: number): Promise<void> => {
    this.now += ms;
  };
  start(): void {}
  startWindow(): void {
    this.openedAt = this.now;
  }
  endWindow(): WindowResult {
    this.windows++;
    const span = this.now - this.openedAt;
    const count = Math.round(span * this.perMs);
    const h = newLatencyHistogram();
    for (let v = 1; v <= count; v++) h.recordValue(Math.round((v * 1000) / count));
    const w: WindowResult = { histogram: h, count, errors: 0, firstError: null, durationNs: BigInt(Math.round(span * 1e6)) };
    if (this.clientLoad) w.clientLoad = this.clientLoad;
    return w;
  }
  async stop(): Promise<StopResult> {
    return { drained: true, inFlight: 0 };
  }
}

// With 1000 requests a window, p99 = 990 µs; the 95% CI of 3 windows is [987, 994] µs,
// of 5 windows [988, 993] µs.
const rows: { name: string; target: number; windows: number; extra: number | undefined; verdict: string }[] = [
  { name: 'target far above: no extension, meets', target: 2, windows: 3, extra: undefined, verdict: 'meets' },
  { name: 'target far below: no extension, misses', target: 0.5, windows: 3, extra: undefined, verdict: 'misses' },
  { name: 'target on the p99: extended to the bound, still inconclusive', target: 0.99, windows: 7, extra: 4, verdict: 'inconclusive' },
  { name: 'target near the p99: extended until the CI excludes it', target: 0.9935, windows: 5, extra: 2, verdict: 'meets' },
];

for (const r of rows) {
  test(`measureLoadPoint CI extension: ${r.name}`, async () => {
    const d = new SteadyDriver(10);
    const p = await measureLoadPoint({ driver: d, concurrency: 4, settings: SETTINGS, sleep: d.sleep, targetP99Ms: r.target });
    assert.equal(p.stopReason, 'stable');
    assert.equal(p.windows, r.windows);
    assert.equal(p.extraWindows, r.extra);
    assert.equal(p.usedWindows, r.windows, 'the extension windows join the used ones');
    assert.equal(p.requests, 1000 * r.windows);
    assert.equal(p.targetVerdict, r.verdict);
    assert.equal(p.ciLevel, 0.95);
    assert.ok(p.p99CiMs![0] <= p.p99Ms && p.p99Ms <= p.p99CiMs![1], `${p.p99CiMs} around ${p.p99Ms}`);
    assert.equal(p.windowHistogramsB64!.length, r.windows);
    assert.equal(decodeHistogram(p.histogramB64!).totalCount, p.requests);
  });
}

test('measureLoadPoint: no extension without a target or with maxExtraWindows 0', async () => {
  const a = new SteadyDriver(10);
  const p = await measureLoadPoint({ driver: a, concurrency: 1, settings: SETTINGS, sleep: a.sleep });
  assert.equal(p.windows, 3);
  assert.equal(p.targetVerdict, undefined);
  const b = new SteadyDriver(10);
  const q = await measureLoadPoint({ driver: b, concurrency: 1, settings: { ...SETTINGS, maxExtraWindows: 0 }, sleep: b.sleep, targetP99Ms: 0.99 });
  assert.equal(q.windows, 3);
  assert.equal(q.extraWindows, undefined);
  assert.equal(q.targetVerdict, 'inconclusive');
});

test('measureLoadPoint: warm-up lasts the time and the request count, excluded from the figures', async () => {
  const d = new SteadyDriver(2); // 2 requests per ms
  const p = await measureLoadPoint({
    driver: d,
    concurrency: 1,
    settings: { ...SETTINGS, warmupMs: 50, warmupRequests: 500 },
    sleep: d.sleep,
  });
  // 50 ms give 100 requests; the rest of the 500 at 2/ms take 200 ms more (+10%).
  assert.ok(p.warmupRequests! >= 500, `warm-up requests ${p.warmupRequests}`);
  assert.ok(p.warmupMs! >= 250 && p.warmupMs! <= 300, `warm-up ${p.warmupMs} ms`);
  assert.equal(p.requests, 600, 'three 100 ms windows at 2/ms, none of the warm-up');
  assert.equal(p.windows, 3);

  const byTime = new SteadyDriver(2);
  const q = await measureLoadPoint({ driver: byTime, concurrency: 1, settings: { ...SETTINGS, warmupMs: 50, warmupRequests: 10 }, sleep: byTime.sleep });
  assert.equal(q.warmupMs, 50, 'the time is the longer condition here');
  assert.equal(q.warmupRequests, 100);
});

test('measureLoadPoint: warm-up by count is bounded when nothing completes', async () => {
  const d = new SteadyDriver(0);
  const p = await measureLoadPoint({
    driver: d,
    concurrency: 1,
    settings: { ...SETTINGS, warmupMs: 20, warmupRequests: 100, maxWarmupMs: 400, maxWindows: 3 },
    sleep: d.sleep,
  });
  assert.equal(p.warmupRequests, 0);
  assert.equal(p.warmupMs, 400);
  assert.equal(p.stopReason, 'no-completions');
});

/** FAKE monitor: returns the given sample for every window. */
const fixedMonitor = (s: ClientSample): ClientMonitor => ({ begin() {}, take: () => s, close() {} });

test('measureLoadPoint: a saturated client event loop flags the point as client-limited', async () => {
  const d = new SteadyDriver(10);
  const p = await measureLoadPoint({
    driver: d,
    concurrency: 8,
    settings: SETTINGS,
    sleep: d.sleep,
    monitor: fixedMonitor({ eventLoopUtilization: 0.99, eventLoopStallMs: 0.2, cpuCores: 1.01 }),
  });
  assert.equal(p.clientLimited, true);
  assert.match(p.clientLimitReason!, /99% busy/);
  assert.equal(p.unreliable, undefined, 'a closed-loop point stays usable, only flagged');
  assert.equal(p.clientCpuCores, 1.01);
  assert.ok(Math.abs(p.clientEventLoopUtilization! - 0.99) < 1e-9);

  const idle = new SteadyDriver(10);
  const q = await measureLoadPoint({
    driver: idle,
    concurrency: 8,
    settings: SETTINGS,
    sleep: idle.sleep,
    monitor: fixedMonitor({ eventLoopUtilization: 0.3, eventLoopStallMs: 0.1, cpuCores: 0.3 }),
  });
  assert.equal(q.clientLimited, false);
  assert.equal(q.clientLimitReason, undefined);
});

test('measureLoadPoint: worker threads report their own load, which wins over this thread', async () => {
  // This thread (serving, say, an embedded server) is busy; the sending worker is not.
  const d = new SteadyDriver(10, { eventLoopUtilization: 0.4, eventLoopStallMs: 0.1 });
  const p = await measureLoadPoint({
    driver: d,
    concurrency: 8,
    settings: SETTINGS,
    sleep: d.sleep,
    monitor: fixedMonitor({ eventLoopUtilization: 1, eventLoopStallMs: 0.1, cpuCores: 1.5 }),
  });
  assert.equal(p.clientLimited, false);
  assert.ok(Math.abs(p.clientEventLoopUtilization! - 0.4) < 1e-9);
});

/**
 * FAKE driver whose windows scatter: window i holds 1000 latencies uniform up to a p99 of
 * 40, 50 or 60 ms in turn (a slow spell every third window), as on a busy shared machine.
 */
class ScatterDriver extends SteadyDriver {
  private i = 0;
  constructor() {
    super(0);
  }
  override endWindow(): WindowResult {
    const p99Us = [40_000, 50_000, 60_000][this.i++ % 3]!;
    const h = newLatencyHistogram();
    for (let v = 1; v <= 1000; v++) h.recordValue(Math.round((v * p99Us) / 0.99 / 1000));
    return { histogram: h, count: 1000, errors: 0, firstError: null, durationNs: BigInt(Math.round((this.now - this.openedAt) * 1e6)) };
  }
}

test('measureLoadPoint: windows that scatter around the target extend the point, though the pooled interval excludes it', async () => {
  // The last 3 of 10 windows pool to a p99 near 59 ms whose order-statistic interval is a
  // few ms wide; 52 ms lies outside it but inside the spread between the windows.
  const d = new ScatterDriver();
  const p = await measureLoadPoint({ driver: d, concurrency: 8, settings: SETTINGS, sleep: d.sleep, targetP99Ms: 52 });
  assert.equal(p.stopReason, 'max-windows');
  assert.equal(p.extraWindows, 4, 'extended to the bound: the target stays inside the interval across windows');
  assert.equal(p.usedWindows, 7);
  assert.equal(p.targetVerdict, 'inconclusive');
  assert.ok(p.p99CiMs![0] < 52 && p.p99CiMs![1] > 52, `${p.p99CiMs}`);

  const far = new ScatterDriver();
  const q = await measureLoadPoint({ driver: far, concurrency: 8, settings: SETTINGS, sleep: far.sleep, targetP99Ms: 200 });
  assert.equal(q.extraWindows, undefined, 'a target far above every window: no extension');
  assert.equal(q.targetVerdict, 'meets');
});
