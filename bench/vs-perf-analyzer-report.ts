/**
 * The pure half of bench/vs-perf-analyzer: reading perf_analyzer's `-f` CSV, client CPU
 * per request from samples taken while a tool ran, medians over rounds, the issue's
 * targets and the table. No I/O, no clocks.
 */
import { median } from '../src/measure/stats.js';

/** One row of perf_analyzer's `-f` CSV (latencies in µs, as perf_analyzer writes them). */
export interface PerfAnalyzerRow {
  concurrency: number;
  throughput: number;
  p50Us: number;
  p90Us: number;
  p95Us: number;
  p99Us: number;
  /** Client send / receive and the server's queue and compute, µs, when the CSV has them. */
  clientSendUs?: number;
  clientRecvUs?: number;
  serverQueueUs?: number;
  serverComputeInferUs?: number;
}

const REQUIRED: Record<'concurrency' | 'throughput' | 'p50Us' | 'p90Us' | 'p95Us' | 'p99Us', string> = {
  concurrency: 'Concurrency',
  throughput: 'Inferences/Second',
  p50Us: 'p50 latency',
  p90Us: 'p90 latency',
  p95Us: 'p95 latency',
  p99Us: 'p99 latency',
};
const OPTIONAL: Record<'clientSendUs' | 'clientRecvUs' | 'serverQueueUs' | 'serverComputeInferUs', string> = {
  clientSendUs: 'Client Send',
  clientRecvUs: 'Client Recv',
  serverQueueUs: 'Server Queue',
  serverComputeInferUs: 'Server Compute Infer',
};

/**
 * The data rows of perf_analyzer's latency report (`-f FILE`): a header line starting with
 * "Concurrency" and one line per concurrency up to the first blank line (with
 * --verbose-csv, other sections may follow). Columns are found by their header names, so
 * extra or reordered columns do not matter; a missing one is an error naming it.
 */
export function parsePerfAnalyzerCsv(text: string): PerfAnalyzerRow[] {
  const lines = text.split(/\r?\n/);
  const at = lines.findIndex((l) => l.startsWith('Concurrency,'));
  if (at < 0) throw new Error(`perf_analyzer CSV: no header line starting with "Concurrency," in ${JSON.stringify(text.slice(0, 200))}`);
  const header = lines[at]!.split(',').map((h) => h.trim());
  const column = (name: string): number => header.indexOf(name);
  for (const name of Object.values(REQUIRED)) {
    if (column(name) < 0) throw new Error(`perf_analyzer CSV: no "${name}" column (header: ${lines[at]})`);
  }
  const rows: PerfAnalyzerRow[] = [];
  for (let i = at + 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') break;
    const cells = line.split(',');
    const num = (name: string): number => {
      const v = Number(cells[column(name)]);
      if (cells[column(name)] === undefined || cells[column(name)]!.trim() === '' || !Number.isFinite(v)) {
        throw new Error(`perf_analyzer CSV: "${name}" is not a number in line ${JSON.stringify(line)}`);
      }
      return v;
    };
    const row = {} as PerfAnalyzerRow;
    for (const [key, name] of Object.entries(REQUIRED)) row[key as keyof typeof REQUIRED] = num(name);
    for (const [key, name] of Object.entries(OPTIONAL)) if (column(name) >= 0) row[key as keyof typeof OPTIONAL] = num(name);
    rows.push(row);
  }
  if (rows.length === 0) throw new Error('perf_analyzer CSV: a header but no data rows');
  return rows;
}

/** A sample taken while a load generator ran: its process's CPU and the server's count of successful requests. */
export interface UsageSample {
  tMs: number;
  /** utime + stime of the client process, clock ticks (/proc/<pid>/stat). */
  cpuTicks: number;
  /** The model's cumulative successful requests (ModelStatistics). */
  served: number;
  /** Their cumulative time inside the server, ns (ModelStatistics success.ns: queue and compute). */
  serverNs?: number;
  /** Of which queued, and computing (compute_input + compute_infer + compute_output), ns. */
  queueNs?: number;
  computeNs?: number;
}

export interface SteadyCpu {
  usPerRequest: number;
  requests: number;
  cpuS: number;
  spanS: number;
  /** Mean time a request of the span spent inside the server, µs, when the samples carry serverNs. */
  serverAvgUs?: number;
  /** Of which queued and computing, µs, when the samples carry them. */
  queueAvgUs?: number;
  computeAvgUs?: number;
}

/**
 * Client CPU per request in the load generator's steady state, the same way for both
 * tools: from the first sample after the server has counted `warmupRequests` beyond
 * samples[0] (taken before the tool started), to the sample before the last one at which
 * the count was still rising (so the span ends while load was still on). Start-up,
 * warm-up and shutdown are left out: perf_analyzer is a native binary that starts in
 * milliseconds, Node needs tens of ms, and that says nothing about per-request cost.
 * Null when the span holds no requests.
 */
export function steadyCpuPerRequest(samples: readonly UsageSample[], warmupRequests: number, ticksPerSecond = 100): SteadyCpu | null {
  if (samples.length < 4) return null;
  const base = samples[0]!.served;
  const final = samples[samples.length - 1]!.served;
  const warm = samples.findIndex((s) => s.served - base >= Math.max(1, warmupRequests));
  if (warm < 0) return null;
  const i = warm + 1;
  let k = -1;
  for (let x = samples.length - 1; x >= 0; x--) {
    if (samples[x]!.served < final) {
      k = x;
      break;
    }
  }
  const j = k - 1;
  if (j <= i) return null;
  const a = samples[i]!;
  const b = samples[j]!;
  const requests = b.served - a.served;
  if (requests <= 0) return null;
  const cpuS = (b.cpuTicks - a.cpuTicks) / ticksPerSecond;
  const out: SteadyCpu = { usPerRequest: (cpuS * 1e6) / requests, requests, cpuS, spanS: (b.tMs - a.tMs) / 1000 };
  const perRequestUs = (x?: number, y?: number): number | undefined => (x !== undefined && y !== undefined ? (y - x) / 1000 / requests : undefined);
  const server = perRequestUs(a.serverNs, b.serverNs);
  const queue = perRequestUs(a.queueNs, b.queueNs);
  const compute = perRequestUs(a.computeNs, b.computeNs);
  if (server !== undefined) out.serverAvgUs = server;
  if (queue !== undefined) out.queueAvgUs = queue;
  if (compute !== undefined) out.computeAvgUs = compute;
  return out;
}

/** utime + stime (clock ticks) from the text of /proc/<pid>/stat; the command name may hold spaces and parentheses. */
export function cpuTicksFromStat(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5); `rest` starts at field 3.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot read utime/stime from ${JSON.stringify(stat.slice(0, 120))}`);
  return utime + stime;
}

/** The median of the finite values (a failed round is NaN and does not count). */
export function medianOfFinite(xs: readonly number[]): number {
  return median(xs.filter((x) => Number.isFinite(x)));
}

/** One tool's figures for one round at one concurrency (NaN where the round failed). */
export interface ToolRound {
  throughput: number;
  p50Us: number;
  p99Us: number;
  cpuUsPerRequest: number;
  /** Mean time inside the server per request over the same span (ModelStatistics), µs, and of it queued and computing. */
  serverAvgUs?: number;
  queueAvgUs?: number;
  computeAvgUs?: number;
  /** TCP connections the tool held to the server's gRPC port. */
  connections?: number;
  /** Anything the tool said about its own state (tanalyze: how busy its sending thread was). */
  note?: string;
  error?: string;
}

export interface Targets {
  /** |tanalyze/pa − 1| of throughput at most this (0.05). */
  throughput: number;
  /** |tanalyze/pa − 1| of p99 at most this (0.10). */
  p99: number;
}

export const ISSUE_TARGETS: Targets = { throughput: 0.05, p99: 0.1 };

export interface ComparedRow {
  concurrency: number;
  rounds: number;
  pa: ToolRound;
  ta: ToolRound;
  throughputRatio: number;
  p99Ratio: number;
  meetsThroughput: boolean;
  meetsP99: boolean;
  /** tanalyze's CPU per request no higher than perf_analyzer's. */
  meetsCpu: boolean;
  failedRounds: { pa: number; ta: number };
}

function medianRound(rounds: readonly ToolRound[]): ToolRound {
  const ok = rounds.filter((r) => r.error === undefined);
  const out: ToolRound = {
    throughput: medianOfFinite(ok.map((r) => r.throughput)),
    p50Us: medianOfFinite(ok.map((r) => r.p50Us)),
    p99Us: medianOfFinite(ok.map((r) => r.p99Us)),
    cpuUsPerRequest: medianOfFinite(ok.map((r) => r.cpuUsPerRequest)),
  };
  for (const key of ['serverAvgUs', 'queueAvgUs', 'computeAvgUs'] as const) {
    const m = medianOfFinite(ok.map((r) => r[key] ?? Number.NaN));
    if (Number.isFinite(m)) out[key] = m;
  }
  const conns = ok.map((r) => r.connections).filter((c): c is number => c !== undefined);
  if (conns.length) out.connections = Math.max(...conns);
  return out;
}

/**
 * Medians of each tool's rounds, their ratios (tanalyze / perf_analyzer) and the targets:
 * throughput and p99 within the given fraction either way (a tool that reads higher is
 * as much a disagreement as one that reads lower), CPU per request no higher. A figure
 * missing on either side fails its target.
 */
export function compareRounds(concurrency: number, pa: readonly ToolRound[], ta: readonly ToolRound[], targets: Targets = ISSUE_TARGETS): ComparedRow {
  const p = medianRound(pa);
  const t = medianRound(ta);
  const throughputRatio = t.throughput / p.throughput;
  const p99Ratio = t.p99Us / p.p99Us;
  const within = (r: number, f: number): boolean => Number.isFinite(r) && Math.abs(r - 1) <= f + 1e-12;
  return {
    concurrency,
    rounds: Math.max(pa.length, ta.length),
    pa: p,
    ta: t,
    throughputRatio,
    p99Ratio,
    meetsThroughput: within(throughputRatio, targets.throughput),
    meetsP99: within(p99Ratio, targets.p99),
    meetsCpu: Number.isFinite(t.cpuUsPerRequest) && Number.isFinite(p.cpuUsPerRequest) && t.cpuUsPerRequest <= p.cpuUsPerRequest,
    failedRounds: { pa: pa.filter((r) => r.error !== undefined).length, ta: ta.filter((r) => r.error !== undefined).length },
  };
}

const f0 = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '-');
const yes = (b: boolean): string => (b ? 'yes' : 'NO');

/** The per-concurrency table (markdown), medians over rounds. */
export function formatTable(rows: readonly ComparedRow[], targets: Targets = ISSUE_TARGETS): string {
  const head = [
    'conc',
    'thr pa/s',
    'thr ta/s',
    'thr ta/pa',
    'p50 pa µs',
    'p50 ta µs',
    'p99 pa µs',
    'p99 ta µs',
    'p99 ta/pa',
    'cpu/req pa µs',
    'cpu/req ta µs',
    'in server pa/ta µs',
    'of it compute pa/ta µs',
    `thr ±${Math.round(targets.throughput * 100)}%`,
    `p99 ±${Math.round(targets.p99 * 100)}%`,
    'cpu ≤ pa',
    'conns pa/ta',
    'failed rounds pa/ta',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    lines.push(
      `| ${[
        r.concurrency,
        f0(r.pa.throughput),
        f0(r.ta.throughput),
        f3(r.throughputRatio),
        f0(r.pa.p50Us),
        f0(r.ta.p50Us),
        f0(r.pa.p99Us),
        f0(r.ta.p99Us),
        f3(r.p99Ratio),
        f1(r.pa.cpuUsPerRequest),
        f1(r.ta.cpuUsPerRequest),
        `${f0(r.pa.serverAvgUs ?? Number.NaN)}/${f0(r.ta.serverAvgUs ?? Number.NaN)}`,
        `${f0(r.pa.computeAvgUs ?? Number.NaN)}/${f0(r.ta.computeAvgUs ?? Number.NaN)}`,
        yes(r.meetsThroughput),
        yes(r.meetsP99),
        yes(r.meetsCpu),
        `${r.pa.connections ?? '-'}/${r.ta.connections ?? '-'}`,
        `${r.failedRounds.pa}/${r.failedRounds.ta}`,
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}
