// Pure logic of bench/vs-model-analyzer: reading Model Analyzer's log and results CSV, picking
// the best configuration within the p99 target, summarising the yardstick's repeats and
// rendering the one table. The file reading is in table.ts.

import type { ModelConfig } from '../../src/config/types.js';

/** What a search measured, from its own records. */
export interface SearchFigures {
  configurations: number;
  loadPoints: number;
}

/**
 * Model Analyzer logs one line per perf_analyzer run: "Profiling <variant>: concurrency=N"
 * (quick search: "Profiling <variant>: client batch size=1, concurrency=N"). The variants
 * named are the configurations it measured; the lines are its load points.
 */
export function modelAnalyzerFigures(log: string): SearchFigures {
  const variants = new Set<string>();
  let points = 0;
  for (const m of log.matchAll(/Profiling (\S+?):[^\n]*concurrency=\d+/g)) {
    variants.add(m[1]!);
    points++;
  }
  return { configurations: variants.size, loadPoints: points };
}

/** One row of Model Analyzer's metrics-model-inference.csv. */
export interface ModelAnalyzerRow {
  variant: string;
  concurrency: number;
  throughputIps: number;
  p99Ms: number;
}

/** Splits one CSV line; Model Analyzer quotes fields that hold commas ("instance group"). */
function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/**
 * Parses metrics-model-inference.csv by its header's names (Model Config Path, Concurrency,
 * Throughput (infer/sec), p99 Latency (ms)); a missing column is an error naming it.
 */
export function parseModelAnalyzerCsv(text: string, file = 'metrics-model-inference.csv'): ModelAnalyzerRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) return [];
  const header = splitCsvLine(lines[0]!).map((h) => h.toLowerCase());
  const col = (pred: (h: string) => boolean, what: string): number => {
    const i = header.findIndex(pred);
    if (i < 0) throw new Error(`${file}: no ${what} column in its header (${lines[0]})`);
    return i;
  };
  const iVariant = col((h) => h.includes('model config path'), "'Model Config Path'");
  const iConc = col((h) => h === 'concurrency', "'Concurrency'");
  const iTput = col((h) => h.startsWith('throughput'), "'Throughput'");
  const iP99 = col((h) => h.startsWith('p99 latency'), "'p99 Latency'");
  return lines.slice(1).map((l) => {
    const f = splitCsvLine(l);
    return { variant: f[iVariant]!, concurrency: Number(f[iConc]), throughputIps: Number(f[iTput]), p99Ms: Number(f[iP99]) };
  });
}

/** The highest-throughput row whose p99 meets the target (Model Analyzer's objective and constraint); null when none does. */
export function bestWithinTarget(rows: ModelAnalyzerRow[], targetP99Ms: number): ModelAnalyzerRow | null {
  let best: ModelAnalyzerRow | null = null;
  for (const r of rows) {
    if (!(r.p99Ms <= targetP99Ms) || !Number.isFinite(r.throughputIps)) continue;
    if (!best || r.throughputIps > best.throughputIps) best = r;
  }
  return best;
}

/** "max batch 8, delay 2000 us, 2 instances" from a config.pbtxt (no batcher: "no batcher"). */
export function describeModelConfig(cfg: ModelConfig): string {
  const delay = cfg.dynamic_batching ? `delay ${cfg.dynamic_batching.max_queue_delay_microseconds ?? 0} us` : 'no batcher';
  const preferred = cfg.dynamic_batching?.preferred_batch_size?.length ? `, preferred [${cfg.dynamic_batching.preferred_batch_size.join(',')}]` : '';
  const count = (cfg.instance_group ?? []).reduce((n, g) => n + (g.count ?? 1), 0) || 1;
  return `max batch ${cfg.max_batch_size ?? 0}, ${delay}${preferred}, ${count} instance${count === 1 ? '' : 's'}`;
}

/** The yardstick's repeats of one pick: highest throughput within the target per repeat (null: none met it, or the run failed). */
export interface YardstickFigures {
  repeats: number;
  feasible: number;
  meanIps: number | null;
  minIps: number | null;
  maxIps: number | null;
  meanP99Ms: number | null;
}

export function summarizeRepeats(ips: (number | null)[], p99Ms: (number | null)[]): YardstickFigures {
  const ok = ips.filter((x): x is number => x !== null && Number.isFinite(x));
  const okP99 = p99Ms.filter((x): x is number => x !== null && Number.isFinite(x));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return {
    repeats: ips.length,
    feasible: ok.length,
    meanIps: mean(ok),
    minIps: ok.length ? Math.min(...ok) : null,
    maxIps: ok.length ? Math.max(...ok) : null,
    meanP99Ms: mean(okP99),
  };
}

/** One row of the table. */
export interface ComparisonRow {
  strategy: string;
  /** null when the search did not finish or left no record. */
  figures: SearchFigures | null;
  wallS: number | null;
  exitCode: number | null;
  pick: string | null;
  /** The search's own figure for its pick. */
  ownIps: number | null;
  ownP99Ms: number | null;
  yardstick: YardstickFigures | null;
}

export function renderTable(rows: ComparisonRow[], targetP99Ms: number): string {
  const f = (x: number | null, d = 1) => (x === null ? '-' : x.toFixed(d));
  const lines = [
    `p99 target ${targetP99Ms} ms; yardstick: tanalyze's client and load search, repeats interleaved, inferences/s within the target, mean [min..max]`,
    '',
    '| strategy | configurations | load points | wall time (s) | best within the target (its own figures) | yardstick inf/s | yardstick p99 (ms) |',
    '| --- | ---: | ---: | ---: | --- | ---: | ---: |',
  ];
  for (const r of rows) {
    const exit = r.exitCode !== null && r.exitCode !== 0 ? ` (exit ${r.exitCode})` : '';
    const pick = r.pick === null ? 'none' : `${r.pick}: ${f(r.ownIps)} inf/s at p99 ${f(r.ownP99Ms, 1)} ms`;
    const y = r.yardstick;
    const ys = !y ? '-' : y.meanIps === null ? `none met the target (0/${y.repeats})` : `${f(y.meanIps)} [${f(y.minIps)}..${f(y.maxIps)}]${y.feasible < y.repeats ? ` (${y.feasible}/${y.repeats} met it)` : ''}`;
    lines.push(
      `| ${r.strategy} | ${r.figures ? r.figures.configurations : '-'} | ${r.figures ? r.figures.loadPoints : '-'} | ${f(r.wallS, 0)}${exit} | ${pick} | ${ys} | ${f(y?.meanP99Ms ?? null, 1)} |`,
    );
  }
  return lines.join('\n');
}
