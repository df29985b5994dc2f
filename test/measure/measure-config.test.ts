import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureConfiguration, probeConcurrencyFor, rateSearchStart } from '../../src/measure/measure-config.js';
import type { LoadPoint, WindowSettings } from '../../src/domain/measurement.js';
import { FakeQueueingClient, VirtualTime } from '../runner/fakes.js';

const SETTINGS: WindowSettings = { windowMs: 100, minWindows: 3, maxWindows: 10, stabilityTolerance: 0.1, warmupMs: 50 };

test('measureConfiguration on FAKE time: finds the concurrency where p99 meets the target', async () => {
  const vt = new VirtualTime();
  // FAKE server: latency 2 ms + 0.5 ms per request in flight, so p99 = 2 + 0.5·c ms
  // and throughput = c / p99, saturating towards 2000/s.
  const client = new FakeQueueingClient(vt.sleep, 2, 0.5);
  const seen: [number, LoadPoint][] = [];
  const result = await vt.run(() =>
    measureConfiguration({
      client,
      modelName: 'fake_model_config_1',
      targetP99Ms: 12.5,
      settings: SETTINGS,
      maxConcurrency: 256,
      sleep: vt.sleep,
      clock: vt.clock,
      onPoint: (p, i) => void seen.push([i, p]),
    }),
  );
  assert.deepEqual(
    result.points.map((p) => p.concurrency),
    [1, 2, 4, 8, 16, 32, 24, 20, 22],
  );
  // The best point (index 7, concurrency 20) is measured a second time and comes again, pooled.
  assert.deepEqual(seen.map(([i]) => i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 7]);
  assert.equal(seen[3]![1], result.points[3]);
  assert.equal(seen[9]![1], result.points[7]);
  assert.equal(result.points[7]!.measurements, 2);
  assert.ok(result.points[7]!.requests > 1.9 * seen[7]![1].requests, 'the pooled point holds both measurements\' requests');
  assert.match(result.stopReason, /^bracketed: /);
  assert.notEqual(result.bestIndex, null);
  const best = result.points[result.bestIndex!]!;
  assert.equal(best.concurrency, 20);
  assert.ok(best.p99Ms <= 12.5 && best.p99Ms >= 12, `p99 ${best.p99Ms}`);
  assert.ok(Math.abs(best.throughputIps - 20 / 0.012) / (20 / 0.012) < 0.02, `throughput ${best.throughputIps}`);
  for (const p of result.points) {
    assert.equal(p.stopReason, 'stable', `c=${p.concurrency}`);
    assert.equal(p.windows, 3 * (p.measurements ?? 1));
    assert.equal(p.errors, 0);
    assert.ok(Math.abs(p.p99Ms - (2 + 0.5 * p.concurrency)) / p.p99Ms < 0.002, `c=${p.concurrency} p99 ${p.p99Ms}`);
    // Server times from the fake's statistics: 0.5·c ms queue and 2 ms compute per request.
    assert.ok(p.server, 'server times present');
    assert.ok(Math.abs(p.server.queueUs - 500 * p.concurrency) < 1, `queue ${p.server.queueUs}`);
    assert.ok(Math.abs(p.server.computeInferUs - 2000) < 1e-6);
    assert.ok(Math.abs(p.server.requests - p.requests) <= p.concurrency, `server ${p.server.requests} vs client ${p.requests}`);
  }
  assert.ok(client.maxInFlight <= 32, 'never more in flight than the highest concurrency');
  assert.equal(client.inFlight, 0, 'drained after each point');
  assert.equal(client.requests[0]!.model_name, 'fake_model_config_1');
});

test('measureConfiguration on FAKE time: saturation ends the search without a target miss', async () => {
  const vt = new VirtualTime();
  const client = new FakeQueueingClient(vt.sleep, 1, 1); // throughput saturates at 1000/s
  const result = await vt.run(() =>
    measureConfiguration({ client, modelName: 'm', targetP99Ms: 10_000, settings: SETTINGS, maxConcurrency: 4096, sleep: vt.sleep, clock: vt.clock }),
  );
  assert.match(result.stopReason, /^saturated: /);
  const order = result.points.map((p) => p.concurrency);
  // 16/17 ms → 941/s; 32/33 → 970/s (+3%): flat; 64/65 → 985/s (+1.5%): flat again, stop.
  assert.deepEqual(order, [1, 2, 4, 8, 16, 32, 64]);
  assert.equal(result.points[result.bestIndex!]!.concurrency, 64);
});

test('measureConfiguration on FAKE time: infeasible at concurrency 1', async () => {
  const vt = new VirtualTime();
  const client = new FakeQueueingClient(vt.sleep, 30, 0);
  const result = await vt.run(() =>
    measureConfiguration({ client, modelName: 'm', targetP99Ms: 10, settings: SETTINGS, maxConcurrency: 64, sleep: vt.sleep, clock: vt.clock }),
  );
  assert.equal(result.points.length, 1);
  assert.equal(result.bestIndex, null);
  assert.match(result.stopReason, /^infeasible: p99 30(\.\d+)? ms at concurrency 1/);
});

test('measureConfiguration on FAKE time: a model whose requests fail is an error, with the message', async () => {
  const vt = new VirtualTime();
  const client = new FakeQueueingClient(vt.sleep, 1, 0);
  client.failWhen = () => 'unexpected shape for input INPUT0';
  const result = await vt.run(() =>
    measureConfiguration({ client, modelName: 'm', targetP99Ms: 10, settings: SETTINGS, maxConcurrency: 64, sleep: vt.sleep, clock: vt.clock }),
  );
  assert.equal(result.points.length, 1);
  assert.equal(result.points[0]!.stopReason, 'errors');
  assert.equal(result.bestIndex, null);
  assert.equal(result.stopReason, 'errors: unexpected shape for input INPUT0');
  assert.equal(result.firstError, 'unexpected shape for input INPUT0');
});

test('measureConfiguration with real timers (small): completes and picks a point', async () => {
  const { setTimeout: delay } = await import('node:timers/promises');
  const client = new FakeQueueingClient((ms) => delay(ms), 2, 0.5);
  const result = await measureConfiguration({
    client,
    modelName: 'm',
    targetP99Ms: 1000,
    settings: { windowMs: 50, minWindows: 3, maxWindows: 4, stabilityTolerance: 0.1, warmupMs: 10 },
    maxConcurrency: 4,
  });
  assert.deepEqual(result.points.map((p) => p.concurrency).slice(0, 3), [1, 2, 4]);
  assert.notEqual(result.bestIndex, null);
  assert.equal(client.inFlight, 0);
  assert.ok(client.maxInFlight <= 4);
});

test('measureConfiguration on FAKE time, open loop: bisects the rate to the target in few points', async () => {
  const vt = new VirtualTime();
  // FAKE server: 2 ms + 0.5 ms per request in flight. Open loop at r/s holds n = 2r/(1000 − 0.5r)
  // in flight, so p99 ≈ 2 + 0.5n ms: the 5 ms target holds up to about 1200/s.
  const client = new FakeQueueingClient(vt.sleep, 2, 0.5);
  const seen: LoadPoint[] = [];
  const result = await vt.run(() =>
    measureConfiguration({
      client,
      modelName: 'm',
      targetP99Ms: 5,
      settings: { windowMs: 50, minWindows: 3, maxWindows: 6, stabilityTolerance: 0.1, warmupMs: 50 },
      maxConcurrency: 64,
      load: 'rate',
      arrivals: 'constant',
      minRate: 10,
      maxRate: 10_000,
      sleep: vt.sleep,
      clock: vt.clock,
      onPoint: (p) => void seen.push(p),
    }),
  );
  assert.equal(result.mode, 'rate');
  assert.equal(result.loadPoints, result.points.length);
  assert.equal(seen.length, result.points.length);
  assert.ok(result.points.length <= 8, `${result.points.length} points: ${result.points.map((p) => p.offeredRate).join(', ')}`);
  assert.match(result.stopReason, /^bracketed: /);
  assert.equal(result.points[0]!.offeredRate, 316, 'the geometric middle of [10, 10000]');
  const best = result.points[result.bestIndex!]!;
  assert.ok(best.p99Ms <= 5, `best p99 ${best.p99Ms}`);
  assert.ok(best.offeredRate! >= 1000 && best.offeredRate! <= 1250, `best rate ${best.offeredRate}`);
  for (const p of result.points) {
    assert.equal(p.mode, 'rate');
    assert.equal(p.arrivals, 'constant');
    assert.equal(p.late, 0, `the virtual client never falls behind (rate ${p.offeredRate})`);
    assert.ok(p.histogramB64 && p.p99CiMs, 'histogram and CI kept');
  }
});

test('measureConfiguration on FAKE time, open loop with a capacity probe: starts near capacity and needs fewer points', async () => {
  const run = async (probeConcurrency?: number) => {
    const vt = new VirtualTime();
    // The FAKE server of the test above: closed loop at c in flight completes c / (2 + 0.5c) per ms (1600/s at 16).
    const client = new FakeQueueingClient(vt.sleep, 2, 0.5);
    return vt.run(() =>
      measureConfiguration({
        client,
        modelName: 'm',
        targetP99Ms: 5,
        settings: { windowMs: 50, minWindows: 3, maxWindows: 6, stabilityTolerance: 0.1, warmupMs: 50 },
        maxConcurrency: 64,
        load: 'rate',
        minRate: 10,
        maxRate: 10_000,
        ...(probeConcurrency !== undefined ? { probeConcurrency } : {}),
        sleep: vt.sleep,
        clock: vt.clock,
      }),
    );
  };
  const plain = await run();
  const probed = await run(16);
  assert.equal(plain.capacityProbe, undefined, 'no probe unless asked');
  const probe = probed.capacityProbe!;
  assert.equal(probe.concurrency, 16);
  assert.ok(Math.abs(probe.requestsPerS - 1600) / 1600 < 0.05, `capacity ${probe.requestsPerS}`);
  assert.equal(probed.points[0]!.offeredRate, probe.startRate, 'the search starts where the probe said');
  assert.ok(Math.abs(probe.startRate - 0.8 * probe.requestsPerS) / probe.startRate < 0.01, `start ${probe.startRate}`);
  assert.ok(probed.points.every((p) => p.mode === 'rate'), 'the probe is not a load point');
  const best = probed.points[probed.bestIndex!]!;
  assert.ok(best.offeredRate! >= 1000 && best.offeredRate! <= 1250, `best rate ${best.offeredRate}`);
  assert.ok(
    probed.points.length < plain.points.length,
    `with the probe ${probed.points.length} points (${probed.points.map((p) => p.offeredRate).join(', ')}), without ${plain.points.length}`,
  );
});

test('rateSearchStart and probeConcurrencyFor: 80% of capacity within the range; two full batches per instance', () => {
  assert.deepEqual(rateSearchStart(1000, { minRate: 1, maxRate: 100_000 }), { startRate: 800, growth: 1.5 });
  assert.equal(rateSearchStart(1000, { minRate: 1, maxRate: 500 }).startRate, 500, 'never above the highest rate');
  assert.equal(rateSearchStart(0.5, { minRate: 1, maxRate: 500 }).startRate, 1, 'never below the lowest');
  assert.equal(probeConcurrencyFor({ instanceCount: 2, maxBatchSize: 8 }, 64), 32);
  assert.equal(probeConcurrencyFor({ instanceCount: 4, maxBatchSize: 32 }, 64), 64, 'bounded by --max-concurrency');
  assert.equal(probeConcurrencyFor({ instanceCount: 1, maxBatchSize: 0 }, 64), 2);
});

test('open loop on FAKE time with timers that fire 3 ms late: late beyond 10% of the target (at least 2 ms) marks the point unreliable', async () => {
  const point = async (targetP99Ms: number) => {
    const vt = new VirtualTime();
    const client = new FakeQueueingClient(vt.sleep, 2, 0.5);
    const lateTimers = (ms: number) => vt.sleep(ms + 3);
    const result = await vt.run(() =>
      measureConfiguration({
        client,
        modelName: 'm',
        targetP99Ms,
        settings: { windowMs: 200, minWindows: 3, maxWindows: 3, stabilityTolerance: 1, warmupMs: 50 },
        maxConcurrency: 64,
        load: 'rate',
        startRate: 100,
        maxPoints: 1,
        sleep: lateTimers,
        clock: vt.clock,
      }),
    );
    return result.points[0]!;
  };
  const loose = await point(50); // slack 5 ms: 3 ms late is on schedule
  assert.equal(loose.late, 0);
  assert.notEqual(loose.unreliable, true);
  const tight = await point(8); // slack 2 ms
  assert.ok(tight.late! > 0.9 * tight.sent!, `${tight.late} of ${tight.sent} late`);
  assert.equal(tight.unreliable, true);
  assert.match(tight.unreliableReason!, /left late \(more than 2 ms after their intended time\)/);
});
