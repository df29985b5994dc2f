import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { createInferenceClient } from '../../src/protocol/client.js';
import { createRawChannel, makeInferRequest, serializeInferRequest } from '../../src/load/infer-requests.js';
import { LoadWorkerPool } from '../../src/load/workers.js';
import { measureLoadPoint } from '../../src/measure/windows.js';
import { decodeHistogram } from '../../src/load/histogram.js';
import { startEmbeddedServer } from '../../src/server/server.js';
import { fromPackageRoot } from '../../src/util/package-root.js';

// The real embedded server on loopback, serving the example identity model; bounded to a few seconds.
test('worker-thread load against the embedded server: closed and open loop, histograms merged here', async () => {
  const server = await startEmbeddedServer({ repository: fromPackageRoot('examples', 'model_repository'), modelControl: 'explicit', loadModels: ['identity'] });
  const client = createInferenceClient(server.address);
  let pool: LoadWorkerPool | undefined;
  try {
    const bytes = serializeInferRequest(makeInferRequest(await client.modelMetadata('identity'), 1, 1));
    pool = await LoadWorkerPool.start({ address: server.address, workers: 2 });
    assert.equal(pool.size, 2);
    const settings = { windowMs: 150, minWindows: 2, maxWindows: 3, stabilityTolerance: 0.5, warmupMs: 50 };
    const sleep = (ms: number): Promise<void> => delay(ms);

    const closed = await measureLoadPoint({ driver: pool.driver({ mode: 'concurrency', request: bytes }), concurrency: 3, settings, sleep });
    assert.equal(closed.errors, 0, closed.firstError);
    assert.ok(closed.requests > 20, `requests ${closed.requests}`);
    assert.ok(closed.concurrency === 3 && closed.mode === 'concurrency');
    assert.equal(decodeHistogram(closed.histogramB64!).totalCount, closed.requests, 'the merged histogram holds the requests of every worker');
    assert.ok(closed.clientEventLoopUtilization !== undefined, 'the workers report their event loops');
    assert.ok(closed.p50Ms > 0 && closed.p50Ms <= closed.p99Ms);

    const open = await measureLoadPoint({ driver: pool.driver({ mode: 'rate', request: bytes, pacer: { arrivals: 'poisson', seed: 3 } }), rate: 200, arrivals: 'poisson', settings, sleep });
    assert.equal(open.errors, 0, open.firstError);
    assert.equal(open.mode, 'rate');
    assert.ok(open.sent! >= 30 && open.sent! <= 130, `sent ${open.sent} at 200/s over ${open.durationS} s`);
    assert.ok(open.requests > 20);
    assert.equal(open.windowHistogramsB64!.length, open.windows);

    // The lateness slack travels with the point: with none, every send counts as late.
    const strict = await measureLoadPoint({ driver: pool.driver({ mode: 'rate', request: bytes, lateSlackNs: 0 }), rate: 200, settings: { ...settings, minWindows: 1, maxWindows: 1 }, sleep });
    assert.ok(strict.late! > 0.9 * strict.sent!, `${strict.late} of ${strict.sent} late with no slack`);

    // The same channels serve the next point: a further driver still works after the stops.
    const again = await measureLoadPoint({ driver: pool.driver({ mode: 'concurrency', request: bytes }), concurrency: 1, settings: { ...settings, minWindows: 1, maxWindows: 1 }, sleep });
    assert.ok(again.requests > 0);
  } finally {
    await pool?.close();
    client.close();
    await server.stop();
  }
});

test('worker pool: a server that is not there fails the start, not later', async () => {
  await assert.rejects(LoadWorkerPool.start({ address: '127.0.0.1:1', workers: 1, connectTimeoutMs: 300 }), /could not connect/);
});

test('raw channel: the load generator\'s own send path answers and reports failures as ProtocolError', async () => {
  const server = await startEmbeddedServer({ repository: fromPackageRoot('examples', 'model_repository'), modelControl: 'explicit', loadModels: ['identity'] });
  const client = createInferenceClient(server.address);
  const channel = createRawChannel(server.address);
  try {
    const request = makeInferRequest(await client.modelMetadata('identity'), 2, 1);
    await channel.ready();
    await channel.sender(serializeInferRequest(request))();
    const wrong = serializeInferRequest({ ...request, model_name: 'no_such_model' });
    await assert.rejects(channel.sender(wrong)(), (e: Error) => e.name === 'ProtocolError' && /ModelInfer: NOT_FOUND|UNAVAILABLE/.test(e.message));
  } finally {
    channel.close();
    client.close();
    await server.stop();
  }
});
