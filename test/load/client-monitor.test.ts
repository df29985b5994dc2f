import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeClientLimit, processClientMonitor, type ClientLimitInput } from '../../src/load/client-monitor.js';

const rows: { name: string; input: ClientLimitInput; limited: boolean; unreliable: boolean; reason?: RegExp }[] = [
  { name: 'open loop on schedule', input: { mode: 'rate', sent: 1000, late: 10, p99Ms: 5 }, limited: false, unreliable: false },
  { name: 'open loop, 1.1% late', input: { mode: 'rate', sent: 1000, late: 11, p99Ms: 5 }, limited: true, unreliable: true, reason: /1\.1% of 1000 requests left late, more than 1%/ },
  { name: 'open loop: a busy pacing loop is not a verdict (it spins)', input: { mode: 'rate', sent: 1000, late: 0, eventLoopUtilization: 1, p99Ms: 5 }, limited: false, unreliable: false },
  { name: 'closed loop, event loop 96% busy', input: { mode: 'concurrency', eventLoopUtilization: 0.96, p99Ms: 5 }, limited: true, unreliable: false, reason: /96% busy/ },
  { name: 'closed loop, event loop 80% busy', input: { mode: 'concurrency', eventLoopUtilization: 0.8, p99Ms: 5 }, limited: false, unreliable: false },
  { name: 'an event-loop stall of a third of the p99', input: { mode: 'concurrency', eventLoopStallMs: 4, p99Ms: 12 }, limited: true, unreliable: false, reason: /stalled 4\.0 ms/ },
  { name: 'a small stall against a long p99', input: { mode: 'concurrency', eventLoopStallMs: 4, p99Ms: 100 }, limited: false, unreliable: false },
  { name: 'a stall under 2 ms never counts', input: { mode: 'rate', sent: 10, late: 0, eventLoopStallMs: 1.5, p99Ms: 1 }, limited: false, unreliable: false },
];

for (const r of rows) {
  test(`judgeClientLimit: ${r.name}`, () => {
    const v = judgeClientLimit(r.input);
    assert.equal(v.clientLimited, r.limited);
    assert.equal(v.unreliable, r.unreliable);
    if (r.reason) assert.match(v.reason!, r.reason);
    else assert.equal(v.reason, undefined);
  });
}

test('judgeClientLimit: the thresholds are parameters', () => {
  assert.equal(judgeClientLimit({ mode: 'rate', sent: 100, late: 3, p99Ms: 5 }, { maxLateShare: 0.05 }).unreliable, false);
  assert.equal(judgeClientLimit({ mode: 'concurrency', eventLoopUtilization: 0.8, p99Ms: 5 }, { maxUtilization: 0.75 }).clientLimited, true);
});

test('processClientMonitor: a busy loop shows as utilisation and CPU', async () => {
  const m = processClientMonitor();
  m.begin();
  const end = Date.now() + 60;
  while (Date.now() < end) {
    // busy
  }
  await new Promise((r) => setTimeout(r, 5));
  const s = m.take();
  m.close();
  assert.ok(s.eventLoopUtilization > 0.5, `utilisation ${s.eventLoopUtilization}`);
  assert.ok(s.cpuCores > 0.05, `cpu ${s.cpuCores}`); // loose: the machine may be shared
  assert.ok(s.eventLoopStallMs >= 0);
});

test('processClientMonitor: repeated 40 ms stalls of the event loop show as its stall, beyond the timer resolution', async () => {
  const m = processClientMonitor();
  m.begin();
  // Five stalls among about 15 ticks: more than the (100 - ELD_PERCENTILE)% of ticks the percentile leaves out.
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 15));
    const end = Date.now() + 40;
    while (Date.now() < end) {
      // stalled: a tick comes due inside this loop and fires when it ends, at least 30 ms late
    }
  }
  await new Promise((r) => setTimeout(r, 15));
  const s = m.take();
  m.close();
  assert.ok(s.eventLoopStallMs >= 25, `stall ${s.eventLoopStallMs} ms`);
});

test('judgeClientLimit: the reason names the lateness slack when given', () => {
  const v = judgeClientLimit({ mode: 'rate', sent: 200, late: 5, p99Ms: 30 }, { lateSlackMs: 5 });
  assert.match(v.reason!, /2\.5% of 200 requests left late \(more than 5 ms after their intended time\), more than 1%/);
});
