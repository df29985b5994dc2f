import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPacer, splitPacers, type Pace, type PacerOptions } from '../../src/load/pacer.js';

const MS = 1e6;

// ghz-style table: one pacer, (elapsed, sent) → what the runner should do.
const rows: { name: string; opts: PacerOptions; elapsedNs: number; sent: number; want: Pace }[] = [
  { name: 'constant: the first request is due at once', opts: { rate: 1000 }, elapsedNs: 0, sent: 0, want: { waitNs: 0, dueNs: 0 } },
  { name: 'constant: the second is due one interval later', opts: { rate: 1000 }, elapsedNs: 0, sent: 1, want: { waitNs: 1 * MS, dueNs: 1 * MS } },
  { name: 'constant: part of the interval already passed', opts: { rate: 1000 }, elapsedNs: 0.25 * MS, sent: 1, want: { waitNs: 0.75 * MS, dueNs: 1 * MS } },
  { name: 'constant: behind schedule, negative wait = lateness', opts: { rate: 1000 }, elapsedNs: 5.5 * MS, sent: 3, want: { waitNs: -2.5 * MS, dueNs: 3 * MS } },
  { name: 'constant: 50/s is 20 ms apart', opts: { rate: 50 }, elapsedNs: 10 * MS, sent: 2, want: { waitNs: 30 * MS, dueNs: 40 * MS } },
  { name: 'constant: an offset shifts every due time', opts: { rate: 1000, offsetNs: 0.5 * MS }, elapsedNs: 0, sent: 0, want: { waitNs: 0.5 * MS, dueNs: 0.5 * MS } },
  { name: 'max requests: stop after the last one', opts: { rate: 1000, maxRequests: 3 }, elapsedNs: 2 * MS, sent: 3, want: { stop: 'max-requests' } },
  { name: 'max requests: the last one is still sent', opts: { rate: 1000, maxRequests: 3 }, elapsedNs: 2 * MS, sent: 2, want: { waitNs: 0, dueNs: 2 * MS } },
  { name: 'duration: nothing is due at or after the end', opts: { rate: 1000, durationNs: 3 * MS }, elapsedNs: 2.9 * MS, sent: 3, want: { stop: 'duration' } },
  { name: 'duration: a request due before the end is sent', opts: { rate: 1000, durationNs: 3 * MS }, elapsedNs: 1 * MS, sent: 2, want: { waitNs: 1 * MS, dueNs: 2 * MS } },
  { name: 'poisson: the first request is due at the offset', opts: { rate: 100, arrivals: 'poisson', seed: 7 }, elapsedNs: 0, sent: 0, want: { waitNs: 0, dueNs: 0 } },
];

for (const r of rows) {
  test(`pacer: ${r.name}`, () => {
    const p = createPacer(r.opts);
    const got = p.pace(r.elapsedNs, r.sent);
    if ('stop' in r.want) assert.deepEqual(got, r.want);
    else {
      assert.ok('waitNs' in got, JSON.stringify(got));
      assert.ok(Math.abs(got.waitNs - r.want.waitNs) < 1e-6, `wait ${got.waitNs} != ${r.want.waitNs}`);
      assert.ok(Math.abs(got.dueNs - r.want.dueNs) < 1e-6, `due ${got.dueNs} != ${r.want.dueNs}`);
    }
  });
}

test('pacer: poisson gaps are exponential with the right mean, seeded and replayable', () => {
  const rate = 500;
  const a = createPacer({ rate, arrivals: 'poisson', seed: 42 });
  const n = 20_000;
  // Due times asked forward, as the runner does (asking backwards replays from the start).
  const due = Array.from({ length: n + 1 }, (_, i) => a.dueNs(i));
  const gaps = due.slice(1).map((t, i) => t - due[i]!);
  assert.ok(gaps.every((g) => g > 0), 'due times strictly increase');
  const mean = gaps.reduce((x, y) => x + y, 0) / n;
  const sd = Math.sqrt(gaps.reduce((x, g) => x + (g - mean) ** 2, 0) / n);
  const want = 1e9 / rate;
  assert.ok(Math.abs(mean - want) / want < 0.03, `mean gap ${mean} ≈ ${want}`);
  assert.ok(Math.abs(sd / mean - 1) < 0.05, `coefficient of variation ${sd / mean} ≈ 1`);
  // Exponential: P(gap > mean) = e^-1.
  const above = gaps.filter((g) => g > want).length / n;
  assert.ok(Math.abs(above - Math.exp(-1)) < 0.02, `share above the mean ${above}`);

  const b = createPacer({ rate, arrivals: 'poisson', seed: 42 });
  const c = createPacer({ rate, arrivals: 'poisson', seed: 43 });
  assert.equal(b.dueNs(1000), a.dueNs(1000), 'same seed, same schedule');
  assert.notEqual(c.dueNs(1000), a.dueNs(1000), 'another seed, another schedule');
  const at500 = a.dueNs(500);
  assert.equal(a.dueNs(10), b.dueNs(10), 'asking backwards replays');
  assert.equal(a.dueNs(500), at500);
});

test('pacer: bad options are errors', () => {
  assert.throws(() => createPacer({ rate: 0 }), RangeError);
  assert.throws(() => createPacer({ rate: Number.NaN }), RangeError);
  assert.throws(() => createPacer({ rate: 10, arrivals: 'bursty' as never }), RangeError);
  assert.throws(() => splitPacers({ rate: 10 }, 0), RangeError);
});

test('splitPacers: k constant pacers interleave into the one schedule', () => {
  const whole = createPacer({ rate: 3000 });
  const parts = splitPacers({ rate: 3000 }, 3).map(createPacer);
  const union: number[] = [];
  for (const p of parts) for (let i = 0; i < 100; i++) union.push(p.dueNs(i));
  union.sort((x, y) => x - y);
  union.forEach((t, i) => assert.ok(Math.abs(t - whole.dueNs(i)) < 1e-3, `request ${i}: ${t} vs ${whole.dueNs(i)}`));
});

test('splitPacers: poisson parts have their own seeds and share the rate; request caps add up', () => {
  const parts = splitPacers({ rate: 900, arrivals: 'poisson', seed: 5, maxRequests: 10 }, 4);
  assert.deepEqual(parts.map((p) => p.rate), [225, 225, 225, 225]);
  assert.equal(new Set(parts.map((p) => p.seed)).size, 4);
  assert.deepEqual(parts.map((p) => p.maxRequests), [3, 3, 2, 2]);
  assert.ok(parts.every((p) => p.offsetNs === undefined));
});
