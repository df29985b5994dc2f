import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadPoint } from '../../src/domain/measurement.js';
import { pt } from './helpers.js';
import type { ServingConfig } from '../../src/domain/serving.js';
import { UsageError } from '../../src/domain/errors.js';
import { compare, p99AtLoad, relativeNoise, throughputAtTarget } from '../../src/regress/compare.js';
import { median } from '../../src/measure/stats.js';
import { type Measured, type Thresholds } from '../../src/domain/comparison.js';
import { parseFraction, resolveComparisonSettings } from '../../src/cli/comparison.js';

const CONFIG: ServingConfig = { maxBatchSize: 8, maxQueueDelayUs: 500, instanceCount: 2, precision: 'FP32', preferredBatchSizes: [] };
const TARGET = 50;

/** The baseline's load search: best within the 50 ms target is 300 inf/s at concurrency 4 (p99 20 ms). */
const BASE_POINTS = [pt(1, 100, 5), pt(2, 190, 8), pt(4, 300, 20), pt(8, 320, 60)];

function scaled(tf: number, lf = 1): LoadPoint[] {
  return BASE_POINTS.map((p) => pt(p.concurrency, p.throughputIps * tf, p.p99Ms * lf));
}

function side(label: string, repeats: LoadPoint[][], over: Partial<Measured> = {}): Measured {
  return { label, runId: label === 'baseline' ? 'base-run' : null, trialIndex: 3, variantName: 'm_config_3', config: CONFIG, state: 'COMPLETE', error: null, repeats, ...over };
}

function run(candidate: Measured | null, opts: { thresholds?: Thresholds; baseline?: LoadPoint[][]; best?: Measured; infra?: string } = {}) {
  return compare({
    model: 'm',
    targetP99Ms: TARGET,
    baseline: side('baseline', opts.baseline ?? [BASE_POINTS]),
    candidate,
    ...(opts.best ? { candidateBest: opts.best } : {}),
    ...(opts.thresholds ? { thresholds: opts.thresholds } : {}),
    ...(opts.infra ? { infrastructureError: opts.infra } : {}),
  });
}

const status = (c: ReturnType<typeof compare>, id: string) => c.checks.find((k) => k.id === id)?.status;

describe('compare: verdict table', () => {
  const rows: { name: string; candidate: Measured | null; opts?: Parameters<typeof run>[1]; verdict: string; exit: number; checks: Record<string, string> }[] = [
    { name: 'no change', candidate: side('candidate', [scaled(1)]), verdict: 'pass', exit: 0, checks: { sla: 'pass', throughput_at_target: 'pass', p99_at_fixed_load: 'pass' } },
    { name: 'faster: throughput up, p99 down', candidate: side('candidate', [scaled(1.2, 0.8)]), verdict: 'pass', exit: 0, checks: { throughput_at_target: 'pass', p99_at_fixed_load: 'pass' } },
    { name: 'throughput drop within the 5 % threshold', candidate: side('candidate', [scaled(0.96)]), verdict: 'pass', exit: 0, checks: { throughput_at_target: 'pass' } },
    { name: 'throughput drop of 10 %, beyond the 5 % threshold', candidate: side('candidate', [scaled(0.9)]), verdict: 'regression', exit: 1, checks: { throughput_at_target: 'fail', p99_at_fixed_load: 'pass' } },
    { name: 'a looser threshold accepts the same drop', candidate: side('candidate', [scaled(0.9)]), opts: { thresholds: { maxThroughputDrop: 0.15, maxP99Rise: 0.1 } }, verdict: 'pass', exit: 0, checks: { throughput_at_target: 'pass' } },
    { name: 'p99 rise of 20 % at the fixed load', candidate: side('candidate', [scaled(1, 1.2)]), verdict: 'regression', exit: 1, checks: { throughput_at_target: 'pass', p99_at_fixed_load: 'fail' } },
    { name: 'p99 rise of 8 %, within 10 %', candidate: side('candidate', [scaled(1, 1.08)]), verdict: 'pass', exit: 0, checks: { p99_at_fixed_load: 'pass' } },
    { name: 'SLA not met: every point over the target', candidate: side('candidate', [scaled(1, 11)], { state: 'INFEASIBLE' }), verdict: 'sla-not-met', exit: 2, checks: { sla: 'fail', throughput_at_target: 'fail' } },
    { name: 'infrastructure: the configuration failed to load', candidate: side('candidate', [], { state: 'FAILED', error: 'the server did not load the configuration: boom' }), verdict: 'infrastructure', exit: 3, checks: { measurement: 'error' } },
    { name: 'infrastructure: told so by the caller', candidate: null, opts: { infra: 'the server would not start' }, verdict: 'infrastructure', exit: 3, checks: { measurement: 'error' } },
  ];
  for (const r of rows) {
    test(r.name, () => {
      const c = run(r.candidate, r.opts);
      assert.equal(c.verdict, r.verdict, c.headline);
      assert.equal(c.exitCode, r.exit);
      for (const [id, s] of Object.entries(r.checks)) assert.equal(status(c, id), s, `${id}: ${c.checks.find((k) => k.id === id)?.message}`);
    });
  }
});

describe('compare: noise allowance from repeated measurements', () => {
  test('a 6 % drop fails with one measurement per side', () => {
    const c = run(side('candidate', [scaled(0.94)]));
    const k = c.checks.find((x) => x.id === 'throughput_at_target')!;
    assert.equal(k.status, 'fail');
    assert.equal(k.noise, 0);
    assert.ok(Math.abs((k.worse as number) - 0.06) < 1e-9);
    assert.match(k.message, /^Throughput at the p99 target fell 6 % \(300 inf\/s → 282 inf\/s\), more than the 5 % allowed\.$/);
  });
  test('the same median drop passes within the noise of three repeats, and says so', () => {
    const c = run(side('candidate', [scaled(0.88), scaled(0.94), scaled(1.0)]));
    const k = c.checks.find((x) => x.id === 'throughput_at_target')!;
    assert.equal(c.verdict, 'pass');
    assert.equal(k.status, 'pass');
    assert.equal(k.withinNoise, true);
    assert.ok(Math.abs((k.noise as number) - 0.12 / (2 * 0.94)) < 1e-9, `noise ${k.noise}`);
    assert.deepEqual(k.samples.candidate.map((x) => Math.round(x)), [264, 282, 300]);
    assert.match(k.message, /within the measured noise/);
  });
  test('the noise allowance is capped (10 points by default), so a noisy run cannot excuse a large drop', () => {
    const c = run(side('candidate', [scaled(0.5), scaled(0.8), scaled(1.1)]));
    const k = c.checks.find((x) => x.id === 'throughput_at_target')!;
    assert.equal(k.noise, 0.1);
    assert.equal(k.status, 'fail');
    assert.equal(c.exitCode, 1);
  });
  test('noise on the baseline side counts too', () => {
    const c = run(side('candidate', [scaled(0.93)]), { baseline: [scaled(0.96), scaled(1), scaled(1.04)] });
    const k = c.checks.find((x) => x.id === 'throughput_at_target')!;
    assert.ok((k.noise as number) > 0.03);
    assert.equal(k.status, 'pass');
  });
});

describe('compare: p99 at the fixed load', () => {
  test('the fixed load is the concurrency of the baseline best point', () => {
    const c = run(side('candidate', [scaled(1)]));
    assert.deepEqual(c.fixedLoad, { mode: 'concurrency', level: 4 });
    assert.equal(c.fixedConcurrency, 4);
  });
  test('interpolated between the loads the candidate measured', () => {
    const cand = [pt(1, 100, 5), pt(3, 250, 16), pt(5, 310, 28), pt(8, 320, 60)];
    assert.deepEqual(p99AtLoad(cand, { mode: 'concurrency', level: 4 }), { value: 22, kind: 'interpolated' });
    const c = run(side('candidate', [cand]));
    const k = c.checks.find((x) => x.id === 'p99_at_fixed_load')!;
    assert.equal(k.candidate, 22);
    assert.equal(k.status, 'pass', k.message);
    assert.match(k.message, /interpolated/);
  });
  test('only lower loads measured: a lower bound fails the check when already over the allowance', () => {
    const c = run(side('candidate', [[pt(1, 90, 20), pt(2, 150, 30)]]));
    const k = c.checks.find((x) => x.id === 'p99_at_fixed_load')!;
    assert.equal(k.lowerBound, true);
    assert.equal(k.status, 'fail');
    assert.match(k.message, /rose at least 50 %/);
  });
  test('only lower loads measured and the bound decides nothing: skipped', () => {
    const c = run(side('candidate', [[pt(1, 100, 5), pt(2, 190, 8)]]));
    const k = c.checks.find((x) => x.id === 'p99_at_fixed_load')!;
    assert.equal(k.status, 'skipped');
  });
  test("a p99 confidence interval at that load gives a noise allowance of its own", () => {
    const withCi = BASE_POINTS.map((p) => (p.concurrency === 4 ? { ...p, p99CiMs: [18.4, 21.6] as [number, number] } : p));
    const cand = side('candidate', [scaled(1, 1.12)]);
    assert.equal(run(cand).checks.find((x) => x.id === 'p99_at_fixed_load')!.status, 'fail');
    const k = run(cand, { baseline: [withCi] }).checks.find((x) => x.id === 'p99_at_fixed_load')!;
    assert.ok(Math.abs((k.noise as number) - 0.08) < 1e-9, String(k.noise));
    assert.equal(k.status, 'pass');
    assert.equal(k.withinNoise, true);
  });
  test('points with failed requests are not used', () => {
    assert.equal(p99AtLoad([pt(4, 0, 1, { stopReason: 'errors' })], { mode: 'concurrency', level: 4 }), null);
  });
});

describe('compare: p99 at the fixed load, open loop', () => {
  /** An open-loop point: offered rate, peak in flight (its `concurrency`), throughput, p99. */
  const rp = (rate: number, peak: number, ips: number, p99: number): LoadPoint => ({ ...pt(peak, ips, p99), mode: 'rate', offeredRate: rate });
  // The baseline's rate search: best within 50 ms is 300 req/s (p99 20 ms); its peak in flight
  // happens to be 7, which is a result of the load, not a load to compare at.
  const BASE = [rp(100, 2, 100, 5), rp(200, 3, 200, 9), rp(300, 7, 300, 20), rp(450, 30, 410, 80)];
  const runRate = (cand: LoadPoint[]) => compare({ model: 'm', targetP99Ms: TARGET, baseline: side('baseline', [BASE]), candidate: side('candidate', [cand]) });
  const check = (c: ReturnType<typeof compare>) => c.checks.find((x) => x.id === 'p99_at_fixed_load')!;

  test('the fixed load is the offered rate of the best point, not its peak in flight', () => {
    const c = runRate(BASE);
    assert.deepEqual(c.fixedLoad, { mode: 'rate', level: 300 });
    assert.equal(c.fixedConcurrency, null);
    assert.equal(check(c).name, 'p99 at 300 requests/s');
    assert.equal(check(c).status, 'pass');
  });
  test('a p99 rise at the same rate fails even when the peaks in flight differ', () => {
    const cand = [rp(100, 2, 100, 5), rp(200, 4, 200, 10), rp(300, 12, 300, 26), rp(450, 40, 380, 95)];
    const k = check(runRate(cand));
    assert.equal(k.status, 'fail', k.message);
    assert.equal(k.candidate, 26);
    assert.match(k.message, /^p99 at 300 requests\/s rose 30 %/);
  });
  test('interpolated between the rates the candidate measured', () => {
    const cand = [rp(100, 2, 100, 5), rp(250, 5, 250, 14), rp(350, 9, 340, 24)];
    assert.deepEqual(p99AtLoad(cand, { mode: 'rate', level: 300 }), { value: 19, kind: 'interpolated' });
    assert.equal(check(runRate(cand)).status, 'pass');
  });
  test('a candidate measured in closed loop is not compared with an open-loop baseline', () => {
    const k = check(runRate(BASE_POINTS));
    assert.equal(k.status, 'skipped');
    assert.match(k.message, /baseline was measured in open loop \(--load rate\) and the candidate in closed loop/);
  });
});

test('compare of a searched candidate: its best configuration is compared for throughput', () => {
  const best = side('candidate best', [scaled(1.3)], { config: { ...CONFIG, maxBatchSize: 16 }, trialIndex: 7 });
  const c = run(side('candidate', [scaled(0.9)]), { best });
  assert.equal(c.checks.find((k) => k.id === 'throughput_at_target')?.status, 'pass');
  assert.equal(c.checks.find((k) => k.id === 'p99_at_fixed_load')?.status, 'pass');
  assert.equal(c.candidateBest?.trialIndex, 7);
});

test('helpers: median, noise, throughput at target', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(relativeNoise([100]), 0);
  assert.equal(relativeNoise([90, 100, 110]), 0.1);
  assert.equal(throughputAtTarget(BASE_POINTS, 50), 300);
  assert.equal(throughputAtTarget(BASE_POINTS, 1), null);
  assert.equal(throughputAtTarget([pt(1, 500, 1, { stopReason: 'errors' })], 50), null);
});

test('regress judges points by the same rule as the search: unreliable and fallen-behind points do not meet the target', () => {
  // Before domain/target.ts, regress counted both (its rule only left out failed measurements).
  assert.equal(throughputAtTarget([pt(1, 100, 5), pt(2, 500, 6, { unreliable: true })], 50), 100);
  const behind = pt(9, 500, 6, { mode: 'rate', offeredRate: 400, achievedRate: 200 });
  assert.equal(throughputAtTarget([pt(1, 100, 5, { mode: 'rate', offeredRate: 100, achievedRate: 100 }), behind], 50), 100);
  const c = run(side('candidate', [[pt(1, 100, 5, { unreliable: true })]]));
  assert.equal(c.verdict, 'sla-not-met', 'an unreliable pass is no pass');
});

test('the SLA check says when a pass is not certain: every passing point\'s p99 interval reaches above the target', () => {
  const message = (points: LoadPoint[]) => run(side('candidate', [points])).checks.find((k) => k.id === 'sla')!.message;
  const unsure = [pt(1, 100, 45, { p99CiMs: [40, 55] }), pt(2, 190, 48, { p99CiMs: [44, Number.POSITIVE_INFINITY] })];
  assert.match(message(unsure), /meets the 50 ms p99 target \(up to 190 inf\/s\)\. Not certain: at every load point that meets it, the p99 confidence interval reaches above the target\.$/);
  assert.doesNotMatch(message([...unsure, pt(4, 150, 30, { p99CiMs: [28, 33] })]), /Not certain/, 'one certain pass is enough');
  assert.doesNotMatch(message(scaled(1)), /Not certain/, 'no interval: nothing to say');
});

describe('thresholds: parsing', () => {
  const ok: [string, number][] = [['5%', 0.05], ['0.05', 0.05], ['12.5%', 0.125], ['.1', 0.1], ['0%', 0], ['150%', 1.5]];
  for (const [raw, want] of ok) test(`'${raw}' is ${want}`, () => assert.ok(Math.abs(parseFraction('--max-p99-rise', raw) - want) < 1e-12));
  const bad: [string, RegExp][] = [
    ['5', /^--max-throughput-drop: '5' is ambiguous: write 5% for 5 percent, or a fraction of at most 1 \(e\.g\. 0\.05\)$/],
    ['abc', /^--max-throughput-drop: 'abc' is not a fraction; accepted: a percentage such as 5% or a fraction such as 0\.05$/],
    ['-5%', /is not a fraction/],
    ['', /'' is not a fraction/],
    ['150%', /is more than 100%/],
  ];
  for (const [raw, re] of bad) {
    test(`'${raw}' is refused, naming the flag`, () => {
      assert.throws(() => parseFraction('--max-throughput-drop', raw, { max: 1 }), (e: unknown) => e instanceof UsageError && re.test(e.problems[0] as string));
    });
  }
  test('flags over environment over profile over defaults; every problem at once', () => {
    const s = resolveComparisonSettings({ maxThroughputDrop: '2%' }, { TANALYZE_MAX_THROUGHPUT_DROP: '9%', TANALYZE_MAX_P99_RISE: '0.2' }, '/w', { 'regress.max_p99_rise': '30%', 'regress.repeats': 5, 'regress.max_noise': '4%' });
    assert.equal(s.thresholds.maxThroughputDrop, 0.02);
    assert.equal(s.thresholds.maxP99Rise, 0.2);
    assert.equal(s.thresholds.maxNoise, 0.04);
    assert.equal(s.repeats, 5);
    const d = resolveComparisonSettings({ junit: 'out/j.xml' }, {}, '/w');
    assert.deepEqual(d.thresholds, { maxThroughputDrop: 0.05, maxP99Rise: 0.1, maxNoise: 0.1 });
    assert.equal(d.repeats, 3);
    assert.equal(d.junit, '/w/out/j.xml');
    assert.throws(
      () => resolveComparisonSettings({ maxThroughputDrop: '5', maxP99Rise: 'x' }, {}, '/w', { 'regress.repeats': 0 }, 'profiles/nightly.yaml'),
      (e: unknown) =>
        e instanceof UsageError &&
        e.problems.length === 3 &&
        /^--max-throughput-drop: '5' is ambiguous/.test(e.problems[0] as string) &&
        /^--max-p99-rise: 'x' is not a fraction/.test(e.problems[1] as string) &&
        /^profiles\/nightly\.yaml: regress\.repeats: '0' is not a number of repeats/.test(e.problems[2] as string),
    );
  });
});
