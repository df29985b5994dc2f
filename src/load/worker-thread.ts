/**
 * Entry of one load worker thread (started by load-workers.ts, which defines the
 * messages). It holds one gRPC channel for its whole life and runs one closed- or
 * open-loop driver per load point over the request bytes it is given; each window's
 * histogram goes back encoded, with this thread's event-loop load.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { ClosedLoopDriver } from './closed-loop.js';
import { type LoadDriver } from '../domain/load.js';
import { ELD_RESOLUTION_MS, threadLoadSince } from './client-monitor.js';
import { createRawChannel } from './infer-requests.js';
import { OpenLoopDriver } from './open-loop.js';
import { encodeHistogram } from './histogram.js';
import type { FromWorker, ToWorker, WorkerInit } from './workers.js';

if (!parentPort) throw new Error('load-worker-thread: not started as a worker thread');
const port = parentPort;
const init = workerData as WorkerInit;
const post = (m: FromWorker): void => port.postMessage(m);

const channel = createRawChannel(init.address, {
  ...(init.deadlineMs !== undefined ? { deadlineMs: init.deadlineMs } : {}),
  ...(init.transport !== undefined ? { transport: init.transport } : {}),
});
let driver: LoadDriver | null = null;
const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
eld.enable();
let eluStart: EventLoopUtilization = performance.eventLoopUtilization();

port.on('message', (m: ToWorker) => {
  handle(m).catch((e: unknown) => post({ op: 'failed', id: 'id' in m ? m.id : -1, message: e instanceof Error ? e.message : String(e) }));
});

async function handle(m: ToWorker): Promise<void> {
  switch (m.op) {
    case 'start': {
      if (driver) throw new Error('a load point is already running in this worker');
      const send = channel.sender(m.request);
      const stop = init.stopTimeoutMs !== undefined ? { stopTimeoutMs: init.stopTimeoutMs } : {};
      driver =
        m.mode === 'rate'
          ? new OpenLoopDriver({ send, pacer: m.pacer ?? {}, ...init.openLoop, ...(m.lateSlackNs !== undefined ? { lateSlackNs: m.lateSlackNs } : {}), ...stop })
          : new ClosedLoopDriver({ send, ...stop });
      driver.start(m.level);
      post({ op: 'started', id: m.id });
      return;
    }
    case 'startWindow': {
      if (!driver) return;
      driver.startWindow();
      eld.reset();
      eluStart = performance.eventLoopUtilization();
      return;
    }
    case 'endWindow': {
      if (!driver) throw new Error('endWindow without a running load point');
      const w = await driver.endWindow();
      post({
        op: 'window',
        id: m.id,
        histogram: encodeHistogram(w.histogram),
        count: w.count,
        errors: w.errors,
        firstError: w.firstError,
        durationNs: w.durationNs,
        sent: w.sent ?? 0,
        late: w.late ?? 0,
        maxLateNs: w.maxLateNs ?? 0,
        lateness: w.lateness ? encodeHistogram(w.lateness) : null,
        peakInFlight: w.peakInFlight ?? 0,
        load: threadLoadSince(eluStart, eld),
      });
      return;
    }
    case 'stop': {
      const d = driver;
      driver = null;
      const r = d ? await d.stop() : { drained: true, inFlight: 0 };
      post({ op: 'stopped', id: m.id, drained: r.drained, inFlight: r.inFlight });
      return;
    }
    case 'close': {
      channel.close();
      eld.disable();
      port.close();
      return;
    }
  }
}

// Connect before saying ready, so the first window does not pay for the handshake.
channel.ready(init.connectTimeoutMs ?? 10_000).then(
  () => post({ op: 'ready' }),
  (e: unknown) => post({ op: 'ready', error: e instanceof Error ? e.message : String(e) }),
);
