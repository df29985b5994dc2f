import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compareRounds,
  cpuTicksFromStat,
  formatTable,
  medianOfFinite,
  parsePerfAnalyzerCsv,
  steadyCpuPerRequest,
  type ToolRound,
  type UsageSample,
} from '../../bench/vs-perf-analyzer-report.js';

// Written by perf_analyzer 2.60.0 (-f) against tritonserver 2.51.0 serving the identity model.
const REAL_CSV = [
  'Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency',
  '4,7418.87,1,301,149,6,34,40,0,457,679,784,2848',
  '',
].join('\n');

test('perf_analyzer CSV: the real report parses to its figures, latencies in µs', () => {
  const rows = parsePerfAnalyzerCsv(REAL_CSV);
  assert.equal(rows.length, 1);
  assert.deepEqual(rows[0], {
    concurrency: 4,
    throughput: 7418.87,
    p50Us: 457,
    p90Us: 679,
    p95Us: 784,
    p99Us: 2848,
    clientSendUs: 1,
    clientRecvUs: 0,
    serverQueueUs: 149,
    serverComputeInferUs: 34,
  });
});

test('perf_analyzer CSV: columns are found by name, rows end at the first blank line', () => {
  const text = [
    'Concurrency,p99 latency,p50 latency,Inferences/Second,p95 latency,p90 latency,Avg latency',
    '1,900,300,2500.5,800,700,350',
    '16,5000,2000,6000,4000,3000,2100',
    '',
    'Server Metrics,whatever',
    'x,y',
  ].join('\r\n');
  const rows = parsePerfAnalyzerCsv(text);
  assert.deepEqual(
    rows.map((r) => [r.concurrency, r.throughput, r.p50Us, r.p99Us]),
    [
      [1, 2500.5, 300, 900],
      [16, 6000, 2000, 5000],
    ],
  );
  assert.equal(rows[0]!.serverQueueUs, undefined, 'optional columns stay absent when the CSV lacks them');
});

test('perf_analyzer CSV: a missing column, a bad number or no data is an error naming it', () => {
  assert.throws(() => parsePerfAnalyzerCsv('Concurrency,Inferences/Second,p50 latency\n1,2,3\n'), /no "p90 latency" column/);
  assert.throws(() => parsePerfAnalyzerCsv(REAL_CSV.replace('2848', 'n/a')), /"p99 latency" is not a number/);
  assert.throws(() => parsePerfAnalyzerCsv(REAL_CSV.split('\n')[0]!), /no data rows/);
  assert.throws(() => parsePerfAnalyzerCsv('Failed to obtain stable measurement.'), /no header line/);
});

test('cpuTicksFromStat: utime + stime, whatever the command name holds', () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const stat = '4242 (perf an) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 8 9 20 0 11 0';
  assert.equal(cpuTicksFromStat(stat), 1234 + 567);
  assert.throws(() => cpuTicksFromStat('4242 (x) S 1'), /cannot read utime/);
});

/** Samples every 100 ms: a client burning `usPerReq` of CPU per request at `rps`, between `from` and `to` ms. */
function run(opts: { rps: number; usPerReq: number; from: number; to: number; startupTicks: number; end: number; serverUs?: number }): UsageSample[] {
  const out: UsageSample[] = [{ tMs: 0, cpuTicks: 0, served: 1000, serverNs: 0 }];
  for (let t = 100; t <= opts.end; t += 100) {
    const active = Math.max(0, Math.min(t, opts.to) - opts.from);
    const requests = Math.floor((active / 1000) * opts.rps);
    const s: UsageSample = { tMs: t, cpuTicks: Math.round(opts.startupTicks + (requests * opts.usPerReq) / 1e4), served: 1000 + requests };
    if (opts.serverUs !== undefined) {
      s.serverNs = requests * opts.serverUs * 1000;
      s.queueNs = requests * 0.25 * opts.serverUs * 1000;
      s.computeNs = requests * 0.75 * opts.serverUs * 1000;
    }
    out.push(s);
  }
  return out;
}

test('steadyCpuPerRequest: start-up and warm-up are left out, the span ends while load is on', () => {
  // 5 ticks (50 ms) of start-up, then 50 µs per request at 2000/s from 200 ms to 4200 ms.
  const samples = run({ rps: 2000, usPerReq: 50, from: 200, to: 4200, startupTicks: 5, end: 4800, serverUs: 120 });
  const r = steadyCpuPerRequest(samples, 500)!;
  assert.ok(Math.abs(r.usPerRequest - 50) < 2, `got ${r.usPerRequest}`);
  assert.ok(Math.abs(r.serverAvgUs! - 120) < 1e-6);
  assert.ok(Math.abs(r.queueAvgUs! - 30) < 1e-6 && Math.abs(r.computeAvgUs! - 90) < 1e-6);
  // Warm-up: 500 requests are done 250 ms after the start, at 500 ms; the span starts one sample later.
  assert.ok(r.requests < 2000 * 3.6 && r.requests > 2000 * 3.2, `requests ${r.requests}`);
  // Over the whole life the start-up would have shown: (5 ticks + 8000 × 50 µs) / 8000 requests.
  const whole = ((samples.at(-1)!.cpuTicks - samples[0]!.cpuTicks) / 100) * 1e6 / (samples.at(-1)!.served - samples[0]!.served);
  assert.ok(whole > 55, `whole-life figure ${whole} includes the start-up`);
});

test('steadyCpuPerRequest: null without a steady span', () => {
  assert.equal(steadyCpuPerRequest([], 0), null);
  // Load never got past the warm-up.
  assert.equal(steadyCpuPerRequest(run({ rps: 100, usPerReq: 50, from: 0, to: 1000, startupTicks: 0, end: 1500 }), 500), null);
  // Nothing ever served.
  assert.equal(steadyCpuPerRequest(run({ rps: 0, usPerReq: 50, from: 0, to: 1000, startupTicks: 0, end: 1500 }), 0), null);
});

test('medianOfFinite: odd, even, and NaNs ignored', () => {
  assert.equal(medianOfFinite([3, 1, 2]), 2);
  assert.equal(medianOfFinite([4, 1, 2, 3]), 2.5);
  assert.equal(medianOfFinite([NaN, 5]), 5);
  assert.ok(Number.isNaN(medianOfFinite([])));
});

const round = (throughput: number, p99Us: number, cpu: number, extra: Partial<ToolRound> = {}): ToolRound => ({ throughput, p50Us: p99Us / 4, p99Us, cpuUsPerRequest: cpu, ...extra });

test('compareRounds: medians, ratios tanalyze/perf_analyzer and the issue targets', () => {
  const row = compareRounds(4, [round(1000, 1000, 80), round(1100, 900, 70), round(900, 5000, 90)], [round(960, 1080, 60), round(990, 1000, 65), round(10, 1, 1000)]);
  assert.equal(row.pa.throughput, 1000);
  assert.equal(row.ta.throughput, 960);
  assert.equal(row.throughputRatio, 0.96);
  assert.equal(row.pa.p99Us, 1000);
  assert.equal(row.ta.p99Us, 1000);
  assert.equal(row.p99Ratio, 1);
  assert.ok(row.meetsThroughput && row.meetsP99);
  assert.equal(row.ta.cpuUsPerRequest, 65);
  assert.ok(row.meetsCpu);
});

test('compareRounds: a reading too high fails as a reading too low does; more CPU fails', () => {
  const high = compareRounds(1, [round(1000, 1000, 50)], [round(1060, 1110, 51)]);
  assert.equal(high.meetsThroughput, false, '6% more throughput is outside ±5%');
  assert.equal(high.meetsP99, false, '11% higher p99 is outside ±10%');
  assert.equal(high.meetsCpu, false);
  const low = compareRounds(1, [round(1000, 1000, 50)], [round(950, 900, 50)]);
  assert.ok(low.meetsThroughput && low.meetsP99 && low.meetsCpu, 'exactly on the bounds passes');
});

test('compareRounds: failed rounds are counted and left out; all failed fails every target', () => {
  const failed = round(NaN, NaN, NaN, { error: 'perf_analyzer exited 1' });
  const row = compareRounds(16, [failed, round(1000, 1000, 50)], [round(1000, 1000, 40)]);
  assert.deepEqual(row.failedRounds, { pa: 1, ta: 0 });
  assert.equal(row.pa.throughput, 1000);
  assert.equal(row.pa.serverAvgUs, undefined, 'no server times in, none out');
  const none = compareRounds(16, [failed], [round(1000, 1000, 40)]);
  assert.ok(!none.meetsThroughput && !none.meetsP99 && !none.meetsCpu);
  const table = formatTable([row, none]);
  assert.match(table, /\| 16 \| 1000 \| 1000 \| 1\.000 \|/);
  assert.match(table, /\| 16 \| - \| 1000 \| - \|/);
  assert.match(table, /\| -\/- \| -\/- \|/, 'server times absent print as -/-');
  assert.match(table, /\| NO \| NO \| NO \|/);
});
