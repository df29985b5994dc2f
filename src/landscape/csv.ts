/**
 * Landscapes: recorded measurements, one row per (configuration, concurrency), in a CSV
 * whose header is exactly LANDSCAPE_HEADER. Pure: text in, text out (the caller reads and
 * writes files).
 *
 * `max_queue_delay_us` is empty for "no dynamic batching" when written; reading accepts
 * empty or -1 for it. `gpu_memory_mb` may be empty (unknown). Preferred batch sizes are
 * not a column: every configuration of a landscape has none.
 */
import type { Precision, SearchSpace, ServingConfig } from '../domain/serving.js';
import { PRECISIONS, configKey } from '../domain/serving.js';
import { TanalyzeError } from '../domain/errors.js';

export const LANDSCAPE_HEADER =
  'max_batch_size,max_queue_delay_us,instance_count,precision,concurrency,throughput_ips,p50_ms,p90_ms,p99_ms,gpu_memory_mb';

const COLUMNS = LANDSCAPE_HEADER.split(',');

export interface LandscapeRow {
  config: ServingConfig;
  concurrency: number;
  throughputIps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  gpuMemoryMb: number | null;
}

export interface Landscape {
  /** Where it came from (a file name), for error messages. */
  source: string;
  rows: LandscapeRow[];
}

export class LandscapeError extends TanalyzeError {
  constructor(readonly file: string, readonly line: number, detail: string) {
    super('usage', `${file}:${line}: ${detail}`);
  }
}

function parseIntField(raw: string, column: string, min: number, fail: (m: string) => never): number {
  if (!/^-?\d+$/.test(raw)) fail(`${column} '${raw}' is not an integer; expected an integer >= ${min}`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) fail(`${column} '${raw}' is out of range; expected an integer >= ${min}`);
  return n;
}

function parseNumberField(raw: string, column: string, fail: (m: string) => never): number {
  const n = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(n) || n < 0) fail(`${column} '${raw}' is not a number >= 0`);
  return n;
}

/**
 * Parses a landscape CSV. Every problem is a LandscapeError naming the file, the line and
 * what was expected. Blank lines are ignored; a (configuration, concurrency) pair may
 * appear only once.
 */
export function parseLandscape(text: string, file = '<landscape>'): Landscape {
  const lines = text.replace(/^\uFEFF/, '').split('\n').map((l) => l.replace(/\r$/, ''));
  const header = lines[0] ?? '';
  if (header.trim() !== LANDSCAPE_HEADER) {
    throw new LandscapeError(file, 1, `the header is '${header}'; expected exactly '${LANDSCAPE_HEADER}'`);
  }
  const rows: LandscapeRow[] = [];
  const firstLine = new Map<string, number>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const lineNo = i + 1;
    const fail = (m: string): never => {
      throw new LandscapeError(file, lineNo, m);
    };
    const f = line.split(',').map((s) => s.trim());
    if (f.length !== COLUMNS.length) fail(`${f.length} fields; expected ${COLUMNS.length} (${LANDSCAPE_HEADER})`);
    const maxBatchSize = parseIntField(f[0]!, 'max_batch_size', 1, fail);
    const maxQueueDelayUs = f[1] === '' || f[1] === '-1' ? null : parseIntField(f[1]!, 'max_queue_delay_us', 0, fail);
    const instanceCount = parseIntField(f[2]!, 'instance_count', 1, fail);
    const precision = f[3]!.toUpperCase() as Precision;
    if (!PRECISIONS.includes(precision)) fail(`precision '${f[3]}' is not one of ${PRECISIONS.join(', ')}`);
    const concurrency = parseIntField(f[4]!, 'concurrency', 1, fail);
    const throughputIps = parseNumberField(f[5]!, 'throughput_ips', fail);
    const p50Ms = parseNumberField(f[6]!, 'p50_ms', fail);
    const p90Ms = parseNumberField(f[7]!, 'p90_ms', fail);
    const p99Ms = parseNumberField(f[8]!, 'p99_ms', fail);
    if (!(p50Ms <= p90Ms && p90Ms <= p99Ms)) fail(`percentiles p50 ${p50Ms}, p90 ${p90Ms}, p99 ${p99Ms} are not in order; expected p50 <= p90 <= p99`);
    const gpuMemoryMb = f[9] === '' ? null : parseNumberField(f[9]!, 'gpu_memory_mb', fail);
    const config: ServingConfig = { maxBatchSize, maxQueueDelayUs, instanceCount, precision, preferredBatchSizes: [] };
    const key = `${configKey(config)}@${concurrency}`;
    const prev = firstLine.get(key);
    if (prev !== undefined) fail(`${describeConfig(config)} at concurrency ${concurrency} was already given on line ${prev}; expected one row per configuration and concurrency`);
    firstLine.set(key, lineNo);
    rows.push({ config, concurrency, throughputIps, p50Ms, p90Ms, p99Ms, gpuMemoryMb });
  }
  if (rows.length === 0) throw new LandscapeError(file, lines.length, 'no rows; expected at least one measured point after the header');
  return { source: file, rows };
}

/** The CSV text of rows (header first, trailing newline); numbers as JavaScript prints them. */
export function formatLandscape(rows: readonly LandscapeRow[]): string {
  const out = [LANDSCAPE_HEADER];
  for (const r of rows) {
    const c = r.config;
    out.push([
      c.maxBatchSize, c.maxQueueDelayUs ?? '', c.instanceCount, c.precision, r.concurrency,
      r.throughputIps, r.p50Ms, r.p90Ms, r.p99Ms, r.gpuMemoryMb ?? '',
    ].join(','));
  }
  return out.join('\n') + '\n';
}

/** A configuration as the landscape's columns name it, for messages. */
export function describeConfig(c: ServingConfig): string {
  const pbs = c.preferredBatchSizes.length ? `, preferred_batch_size=[${c.preferredBatchSizes.join(',')}]` : '';
  return `max_batch_size=${c.maxBatchSize}, max_queue_delay_us=${c.maxQueueDelayUs ?? 'off'}, instance_count=${c.instanceCount}, precision=${c.precision}${pbs}`;
}

/**
 * The search space of a landscape: the set of values in the file, per dimension, sorted.
 * Rows without dynamic batching stay replayable (a model's default configuration, say)
 * but add nothing to the space, whose queue delays are numbers.
 */
export function landscapeSpace(landscape: Landscape): SearchSpace {
  const uniq = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);
  const rows = landscape.rows;
  const delays = uniq(rows.flatMap((r) => (r.config.maxQueueDelayUs === null ? [] : [r.config.maxQueueDelayUs])));
  return {
    maxBatchSizes: uniq(rows.map((r) => r.config.maxBatchSize)),
    maxQueueDelaysUs: delays,
    instanceCounts: uniq(rows.map((r) => r.config.instanceCount)),
    precisions: PRECISIONS.filter((p) => rows.some((r) => r.config.precision === p)),
  };
}

/** Rows grouped by configuration key, each group sorted by concurrency. */
export function landscapeIndex(landscape: Landscape): Map<string, LandscapeRow[]> {
  const cached = INDEX.get(landscape);
  if (cached && cached.count === landscape.rows.length) return cached.index;
  const index = new Map<string, LandscapeRow[]>();
  for (const r of landscape.rows) {
    const k = configKey(r.config);
    const group = index.get(k);
    if (group) group.push(r);
    else index.set(k, [r]);
  }
  for (const g of index.values()) g.sort((a, b) => a.concurrency - b.concurrency);
  INDEX.set(landscape, { count: landscape.rows.length, index });
  return index;
}

const INDEX = new WeakMap<Landscape, { count: number; index: Map<string, LandscapeRow[]> }>();
