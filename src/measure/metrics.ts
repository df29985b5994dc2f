/**
 * Triton's Prometheus metrics: a parser for the text exposition format, the per-model
 * counters and per-GPU gauges tanalyze needs, differenced over a measurement, and a
 * scraper that fetches `http://host:8002/metrics` (or asks the embedded server) with a
 * timeout. Parsing and differencing are pure; only MetricsScraper does I/O.
 *
 * What the parser accepts (Triton's output across releases, see
 * shared/reference/triton/metrics-sample*.txt): HELP/TYPE lines with or without
 * samples after them, other comments, labels with spaces after the commas and escaped
 * quotes, values printed as integers or with six decimals, +Inf/-Inf/NaN, optional
 * timestamps, histogram and summary series (_bucket/_sum/_count, le/quantile labels).
 * A line it cannot read is skipped and reported in `errors`, never fatal.
 *
 * Per-model series may carry more labels than model and version (gpu_uuid, namespace,
 * model tags): a model's counter is the sum of every series with its `model` label.
 */
import { TanalyzeError } from '../domain/errors.js';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

export interface PromFamily {
  name: string;
  type: MetricType;
  help: string;
}

export interface PromText {
  families: Map<string, PromFamily>;
  samples: PromSample[];
  /** Lines that could not be read: "line 12: ...". */
  errors: string[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(s: string): number | null {
  const t = s.trim();
  if (/^[+]?inf(inity)?$/i.test(t)) return Infinity;
  if (/^-inf(inity)?$/i.test(t)) return -Infinity;
  if (/^nan$/i.test(t)) return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return null;
  return Number(t);
}

function unescapeHelp(s: string): string {
  return s.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

/** Labels from `{...}` starting at text[0] === '{'; returns the labels and the rest after '}'. */
function parseLabels(text: string): { labels: Record<string, string>; rest: string } | string {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === ',')) i++;
    if (i >= text.length) return 'unterminated label set';
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) };
    const name = LABEL_NAME.exec(text.slice(i));
    if (!name) return `bad label name at column ${i + 1}`;
    i += name[0].length;
    while (text[i] === ' ') i++;
    if (text[i] !== '=') return `expected '=' after label ${name[0]}`;
    i++;
    while (text[i] === ' ') i++;
    if (text[i] !== '"') return `expected '"' to open the value of label ${name[0]}`;
    i++;
    let value = '';
    for (;;) {
      if (i >= text.length) return `unterminated value of label ${name[0]}`;
      const c = text[i]!;
      if (c === '\\') {
        const n = text[i + 1];
        value += n === 'n' ? '\n' : (n ?? '');
        i += 2;
        continue;
      }
      if (c === '"') {
        i++;
        break;
      }
      value += c;
      i++;
    }
    labels[name[0]] = value;
  }
}

/** Parses Prometheus text exposition format 0.0.4. Pure; never throws on bad lines. */
export function parsePrometheusText(text: string): PromText {
  const families = new Map<string, PromFamily>();
  const samples: PromSample[] = [];
  const errors: string[] = [];
  const lines = text.split(/\r?\n/);
  const family = (name: string): PromFamily => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', help: '' }));
    return f;
  };
  lines.forEach((raw, idx) => {
    const line = raw.trim();
    if (!line) return;
    if (line.startsWith('#')) {
      const m = /^#\s*(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s+(.*))?$/.exec(line);
      if (!m) return; // a plain comment
      if (m[1] === 'HELP') family(m[2]!).help = unescapeHelp(m[3] ?? '');
      else {
        const t = (m[3] ?? '').trim().toLowerCase();
        family(m[2]!).type = (['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(t) ? t : 'untyped') as MetricType;
      }
      return;
    }
    const name = NAME.exec(line);
    if (!name) {
      errors.push(`line ${idx + 1}: not a metric name: ${line.slice(0, 60)}`);
      return;
    }
    let rest = line.slice(name[0].length);
    let labels: Record<string, string> = {};
    if (rest.trimStart().startsWith('{')) {
      const parsed = parseLabels(rest.trimStart());
      if (typeof parsed === 'string') {
        errors.push(`line ${idx + 1}: ${parsed}`);
        return;
      }
      labels = parsed.labels;
      rest = parsed.rest;
    }
    const parts = rest.trim().split(/\s+/);
    const value = parts[0] !== undefined ? parseValue(parts[0]) : null;
    if (value === null) {
      errors.push(`line ${idx + 1}: bad value '${parts[0] ?? ''}' for ${name[0]}`);
      return;
    }
    const sample: PromSample = { name: name[0], labels, value };
    if (parts[1] !== undefined && /^-?\d+$/.test(parts[1])) sample.timestampMs = Number(parts[1]);
    samples.push(sample);
  });
  return { families, samples, errors };
}

/** The family a sample belongs to: its own name, or a histogram/summary's base name. */
export function familyOf(text: PromText, sampleName: string): PromFamily | undefined {
  const own = text.families.get(sampleName);
  if (own) return own;
  const m = /^(.*)_(bucket|sum|count|total|created)$/.exec(sampleName);
  return m ? text.families.get(m[1]!) : undefined;
}

function sum(text: PromText, name: string, pick: (l: Record<string, string>) => boolean): number | null {
  let total: number | null = null;
  for (const s of text.samples) if (s.name === name && pick(s.labels) && Number.isFinite(s.value)) total = (total ?? 0) + s.value;
  return total;
}

// ---------------------------------------------------------------- model counters

/** Triton's per-model counters (cumulative since the model was loaded). */
export interface ModelCounters {
  requestSuccess: number;
  requestFailure: number;
  inferenceCount: number;
  execCount: number;
  requestDurationUs: number;
  queueDurationUs: number;
  computeInputUs: number;
  computeInferUs: number;
  computeOutputUs: number;
}

const COUNTERS: Record<keyof ModelCounters, string> = {
  requestSuccess: 'nv_inference_request_success',
  requestFailure: 'nv_inference_request_failure',
  inferenceCount: 'nv_inference_count',
  execCount: 'nv_inference_exec_count',
  requestDurationUs: 'nv_inference_request_duration_us',
  queueDurationUs: 'nv_inference_queue_duration_us',
  computeInputUs: 'nv_inference_compute_input_duration_us',
  computeInferUs: 'nv_inference_compute_infer_duration_us',
  computeOutputUs: 'nv_inference_compute_output_duration_us',
};

/** The model's counters summed over all its series (versions, GPUs, failure reasons); null when it has none. */
export function modelCounters(text: PromText, model: string): ModelCounters | null {
  const out = {} as ModelCounters;
  let any = false;
  for (const [k, name] of Object.entries(COUNTERS) as [keyof ModelCounters, string][]) {
    const v = sum(text, name, (l) => l['model'] === model);
    if (v !== null) any = true;
    out[k] = v ?? 0;
  }
  return any ? out : null;
}

// ---------------------------------------------------------------- GPU gauges

export interface GpuGauges {
  uuid: string;
  utilization: number | null;
  memoryUsedBytes: number | null;
  memoryTotalBytes: number | null;
  powerW: number | null;
}

/** One entry per gpu_uuid, in first-seen order. */
export function gpuGauges(text: PromText): GpuGauges[] {
  const byUuid = new Map<string, GpuGauges>();
  const at = (uuid: string) => {
    let g = byUuid.get(uuid);
    if (!g) byUuid.set(uuid, (g = { uuid, utilization: null, memoryUsedBytes: null, memoryTotalBytes: null, powerW: null }));
    return g;
  };
  for (const s of text.samples) {
    const uuid = s.labels['gpu_uuid'];
    if (uuid === undefined || s.labels['model'] !== undefined) continue;
    if (s.name === 'nv_gpu_utilization') at(uuid).utilization = s.value;
    else if (s.name === 'nv_gpu_memory_used_bytes') at(uuid).memoryUsedBytes = s.value;
    else if (s.name === 'nv_gpu_memory_total_bytes') at(uuid).memoryTotalBytes = s.value;
    else if (s.name === 'nv_gpu_power_usage') at(uuid).powerW = s.value;
  }
  return [...byUuid.values()];
}

// ---------------------------------------------------------------- deltas

export interface MetricsSnapshot {
  /** When it was taken (ms, any monotonic-enough clock). */
  atMs: number;
  text: PromText;
}

export interface GpuWindow {
  uuid: string;
  /** Mean and peak of the utilization gauge over the snapshots (0..1). */
  utilizationMean: number | null;
  utilizationMax: number | null;
  /** Peak used memory over the snapshots. */
  memoryUsedBytesMax: number | null;
  memoryTotalBytes: number | null;
}

export interface MetricsDelta {
  durationS: number;
  /** The model's counters differenced over the window (a counter that went down restarted: its after value). */
  model: ModelCounters | null;
  /** Mean µs per successful request, from the differenced counters (Triton's metrics.md). */
  perRequestUs: { request: number; queue: number; computeInput: number; computeInfer: number; computeOutput: number } | null;
  /** Δinference_count / Δexec_count. */
  avgBatchSize: number | null;
  gpus: GpuWindow[];
  /** Mean utilization over the GPUs (0..1); null without GPU metrics. */
  gpuUtilization: number | null;
  /** Peak GPU memory used, summed over the GPUs, in MiB (2^20 bytes, as nvidia-smi): the third objective. */
  gpuMemoryUsedMb: number | null;
  gpuMemoryTotalMb: number | null;
}

const MiB = 1024 * 1024;

/**
 * What happened between two scrapes (pure). `during` are scrapes taken in between:
 * gauges (GPU utilization, memory) are averaged and peaked over all of them; counters
 * only need the two ends.
 */
export function scrapeDelta(before: MetricsSnapshot, after: MetricsSnapshot, model: string, during: readonly MetricsSnapshot[] = []): MetricsDelta {
  const b = modelCounters(before.text, model);
  const a = modelCounters(after.text, model);
  let diff: ModelCounters | null = null;
  if (a) {
    diff = {} as ModelCounters;
    for (const k of Object.keys(COUNTERS) as (keyof ModelCounters)[]) {
      const d = a[k] - (b?.[k] ?? 0);
      diff[k] = d < 0 ? a[k] : d; // counters restart from 0 when the model reloads
    }
  }
  const ok = diff?.requestSuccess ?? 0;
  const perRequestUs =
    diff && ok > 0
      ? {
          request: diff.requestDurationUs / ok,
          queue: diff.queueDurationUs / ok,
          computeInput: diff.computeInputUs / ok,
          computeInfer: diff.computeInferUs / ok,
          computeOutput: diff.computeOutputUs / ok,
        }
      : null;
  const avgBatchSize = diff && diff.execCount > 0 ? diff.inferenceCount / diff.execCount : null;

  const snaps = [before, ...during, after];
  const windows = new Map<string, { util: number[]; used: number[]; total: number | null }>();
  for (const s of snaps) {
    for (const g of gpuGauges(s.text)) {
      const w = windows.get(g.uuid) ?? { util: [], used: [], total: null };
      if (g.utilization !== null && Number.isFinite(g.utilization)) w.util.push(g.utilization);
      if (g.memoryUsedBytes !== null && Number.isFinite(g.memoryUsedBytes)) w.used.push(g.memoryUsedBytes);
      if (g.memoryTotalBytes !== null) w.total = g.memoryTotalBytes;
      windows.set(g.uuid, w);
    }
  }
  const gpus: GpuWindow[] = [...windows.entries()].map(([uuid, w]) => ({
    uuid,
    utilizationMean: w.util.length ? w.util.reduce((x, y) => x + y, 0) / w.util.length : null,
    utilizationMax: w.util.length ? Math.max(...w.util) : null,
    memoryUsedBytesMax: w.used.length ? Math.max(...w.used) : null,
    memoryTotalBytes: w.total,
  }));
  const utils = gpus.map((g) => g.utilizationMean).filter((x): x is number => x !== null);
  const used = gpus.map((g) => g.memoryUsedBytesMax).filter((x): x is number => x !== null);
  const totals = gpus.map((g) => g.memoryTotalBytes).filter((x): x is number => x !== null);
  return {
    durationS: Math.max(0, (after.atMs - before.atMs) / 1000),
    model: diff,
    perRequestUs,
    avgBatchSize,
    gpus,
    gpuUtilization: utils.length ? utils.reduce((x, y) => x + y, 0) / utils.length : null,
    gpuMemoryUsedMb: used.length ? used.reduce((x, y) => x + y, 0) / MiB : null,
    gpuMemoryTotalMb: totals.length ? totals.reduce((x, y) => x + y, 0) / MiB : null,
  };
}

// ---------------------------------------------------------------- scraping

export class MetricsScrapeError extends TanalyzeError {
  constructor(readonly source: string, detail: string) {
    super('infrastructure', `metrics from ${source}: ${detail}`);
  }
}

export type MetricsSource = string | (() => string | Promise<string>);

export interface ScraperOptions {
  /** Per scrape (default 2 s). */
  timeoutMs?: number;
  now?: () => number;
  fetchImpl?: typeof fetch;
}

/**
 * Fetches Prometheus text from a URL (Triton's :8002/metrics) or a function (the
 * embedded server's metricsText). Windows scrape at the start, every `intervalMs`,
 * and at the end; a failed scrape is skipped (measurement never fails for metrics).
 */
export class MetricsScraper {
  readonly describe: string;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly source: MetricsSource, opts: ScraperOptions = {}) {
    this.describe = typeof source === 'string' ? source : 'the embedded server';
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.now = opts.now ?? (() => Date.now());
    this.fetchImpl = opts.fetchImpl ?? fetch;
  }

  async scrape(): Promise<MetricsSnapshot> {
    const atMs = this.now();
    let body: string;
    if (typeof this.source === 'function') {
      body = await this.source();
    } else {
      let res: Response;
      try {
        res = await this.fetchImpl(this.source, { signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (e) {
        const err = e as Error & { cause?: { code?: string; message?: string } };
        const cause = err.cause?.code ? `${err.cause.code}${err.cause.message ? ` (${err.cause.message})` : ''}` : err.message;
        const why = err.name === 'TimeoutError' || err.name === 'AbortError' ? `no answer within ${this.timeoutMs} ms` : cause;
        throw new MetricsScrapeError(this.describe, why);
      }
      if (!res.ok) throw new MetricsScrapeError(this.describe, `HTTP ${res.status}`);
      try {
        body = await res.text();
      } catch (e) {
        throw new MetricsScrapeError(this.describe, (e as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (e as Error).message);
      }
    }
    return { atMs, text: parsePrometheusText(body) };
  }

  /** scrape(), or null when it failed. */
  async tryScrape(): Promise<MetricsSnapshot | null> {
    return this.scrape().catch(() => null);
  }

  /**
   * Scrapes now and then every `intervalMs` until stop(), which scrapes once more and
   * returns the delta for `model` (null when the first or last scrape failed).
   */
  startWindow(model: string, intervalMs = 1000): { stop(): Promise<MetricsDelta | null> } {
    const first = this.tryScrape();
    const during: Promise<MetricsSnapshot | null>[] = [];
    const timer = setInterval(() => during.push(this.tryScrape()), intervalMs);
    timer.unref();
    return {
      stop: async () => {
        clearInterval(timer);
        const before = await first;
        const after = await this.tryScrape();
        const mid = (await Promise.all(during)).filter((s): s is MetricsSnapshot => s !== null);
        return before && after ? scrapeDelta(before, after, model, mid) : null;
      },
    };
  }
}
