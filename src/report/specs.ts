import type { TopLevelSpec } from 'vega-lite';
import type { ServingConfig } from '../search/types.js';
import { bestPoint, isFeasible, paretoFrontier } from './pareto.js';
import type { ReportData, ReportTrial } from './types.js';

// Formatting shared by the charts and the page, so both say the same thing.

/** Queue delay as people read it; null means Triton's default scheduler. */
export function formatDelay(us: number | null): string {
  return us === null ? 'off' : `${us} µs`;
}

/** Throughput: whole numbers once they are large enough for decimals to be noise. */
export function formatIps(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 100 ? Math.round(n).toString() : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export function formatMs(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 1 ? n.toFixed(1) : n.toFixed(2);
}

/** A round number (a target, a setting) without trailing zeros: 50, 12.5. */
export function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(3)));
}

/** "max_batch_size 8, queue delay 500 µs, 2 instances, FP32". */
export function describeConfig(c: ServingConfig): string {
  const parts = [
    `max_batch_size ${c.maxBatchSize}`,
    c.maxQueueDelayUs === null ? 'no dynamic batching' : `queue delay ${c.maxQueueDelayUs} µs`,
    `${c.instanceCount} ${c.instanceCount === 1 ? 'instance' : 'instances'}`,
    c.precision,
  ];
  if (c.preferredBatchSizes.length) parts.push(`preferred batch ${c.preferredBatchSizes.join(', ')}`);
  return parts.join(', ');
}

/** One measured load point of one trial, flattened for the chart's inline data. */
export interface PointRow {
  trial: number;
  variant: string;
  config: string;
  max_batch_size: number;
  queue_delay: string;
  instances: number;
  precision: string;
  preferred_batch: string;
  state: string;
  concurrency: number;
  throughput_ips: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  frontier: boolean;
  /** Set on the best point of the default and the recommended trial. */
  marker: 'default' | 'recommended' | null;
  marker_label: string | null;
  /** Put the marker's label left of the point, where on the right it would cross the target rule or the edge (and the left has room). */
  label_left: boolean;
}

function trialFields(t: ReportTrial) {
  return {
    trial: t.index,
    variant: t.variantName,
    config: describeConfig(t.config),
    max_batch_size: t.config.maxBatchSize,
    queue_delay: formatDelay(t.config.maxQueueDelayUs),
    instances: t.config.instanceCount,
    precision: t.config.precision,
    preferred_batch: t.config.preferredBatchSizes.length ? t.config.preferredBatchSizes.join(', ') : '-',
    state: t.state,
  };
}

/** Failed and skipped trials are left off the charts: their points are not trustworthy measurements. */
function charted(t: ReportTrial): boolean {
  return t.state !== 'FAILED' && t.state !== 'SKIPPED';
}

/** Every charted load point, with the Pareto frontier (over all points) and the two markers set. */
export function pointRows(data: ReportData): PointRow[] {
  const target = data.run.targetP99Ms;
  const rows: PointRow[] = [];
  for (const t of data.trials) {
    if (!charted(t)) continue;
    const best = bestPoint(t.points, target);
    const isRec = data.recommendedIndex === t.index;
    const isDef = data.defaultIndex === t.index || (data.defaultIndex === null && t.isDefault);
    for (const p of t.points) {
      if (!Number.isFinite(p.throughputIps) || !Number.isFinite(p.p99Ms)) continue;
      let marker: PointRow['marker'] = null;
      let label: string | null = null;
      if (p === best && (isRec || isDef)) {
        marker = isRec ? 'recommended' : 'default';
        const name = isRec && isDef ? 'recommended (= default)' : marker;
        label = `${name}: ${formatIps(p.throughputIps)} inf/s`;
      }
      rows.push({
        ...trialFields(t),
        concurrency: p.concurrency,
        throughput_ips: p.throughputIps,
        p50_ms: p.p50Ms,
        p90_ms: p.p90Ms,
        p99_ms: p.p99Ms,
        frontier: false,
        marker,
        marker_label: label,
        label_left: false,
      });
    }
  }
  // A label is about a fifth of the chart wide; the x domain runs from 0 to the largest p99 or the target.
  const xMax = rows.reduce((m, r) => Math.max(m, r.p99_ms), target);
  for (const r of rows) {
    if (!r.marker) continue;
    const toRule = (target - r.p99_ms) / xMax;
    // Left when the label would run into the target rule or off the right edge, and there is room on the left.
    const roomLeft = r.p99_ms / xMax > 0.24;
    r.label_left = roomLeft && ((toRule >= -0.02 && toRule < 0.22) || r.p99_ms / xMax > 0.78);
  }
  for (const r of paretoFrontier(rows, (r) => r.throughput_ips, (r) => r.p99_ms)) r.frontier = true;
  return rows;
}

const COLORS = { measured: '#9aa3ad', frontier: '#1f6feb', default: '#bf5b04', recommended: '#1a7f37', target: '#cf222e' };

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600, gridColor: '#e6e8eb', domainColor: '#8c959f', tickColor: '#8c959f' },
  legend: { labelFontSize: 11, titleFontSize: 12, orient: 'bottom', direction: 'horizontal', symbolOpacity: 1 },
  view: { stroke: '#d0d7de' },
  title: { fontSize: 14, fontWeight: 600, anchor: 'start' },
} as const;

const POINT_TOOLTIP = [
  { field: 'trial', type: 'ordinal', title: 'trial #' },
  { field: 'variant', type: 'nominal', title: 'variant' },
  { field: 'max_batch_size', type: 'quantitative', title: 'max_batch_size' },
  { field: 'queue_delay', type: 'nominal', title: 'queue delay' },
  { field: 'instances', type: 'quantitative', title: 'instances' },
  { field: 'precision', type: 'nominal', title: 'precision' },
  { field: 'preferred_batch', type: 'nominal', title: 'preferred batch' },
  { field: 'concurrency', type: 'quantitative', title: 'concurrency' },
  { field: 'throughput_ips', type: 'quantitative', title: 'throughput (inf/s)', format: ',.1f' },
  { field: 'p50_ms', type: 'quantitative', title: 'p50 (ms)', format: '.2f' },
  { field: 'p90_ms', type: 'quantitative', title: 'p90 (ms)', format: '.2f' },
  { field: 'p99_ms', type: 'quantitative', title: 'p99 (ms)', format: '.2f' },
  { field: 'state', type: 'nominal', title: 'trial state' },
] as const;

const SERIES = ['measured point', 'Pareto frontier', 'default', 'recommended'];
const SERIES_COLORS = [COLORS.measured, COLORS.frontier, COLORS.default, COLORS.recommended];

/**
 * Throughput against p99 for every measured load point: frontier, target, default and recommended.
 * Null when no load point was measured. Layers without data are left out (vega warns on them).
 */
export function frontierSpec(data: ReportData): TopLevelSpec | null {
  const target = data.run.targetP99Ms;
  const rows = pointRows(data);
  if (rows.length === 0) return null;
  const x = { field: 'p99_ms', type: 'quantitative', title: 'p99 latency (ms)', scale: { zero: true } } as const;
  // Headroom above the highest point, so its label is not cut off at the top.
  const maxTp = rows.reduce((m, r) => Math.max(m, r.throughput_ips), 0);
  const yScale = maxTp > 0 ? { zero: true, domainMax: maxTp * 1.1 } : { zero: true };
  const y = { field: 'throughput_ips', type: 'quantitative', title: 'throughput (inferences/s)', scale: yScale } as const;
  const present = SERIES.filter((s, i) => i < 2 || rows.some((r) => r.marker === s));
  const scale = { domain: present, range: present.map((s) => SERIES_COLORS[SERIES.indexOf(s)] as string) };
  const color = (datum: string) => ({ datum, scale, title: null });
  const markerColor = { field: 'marker', type: 'nominal', scale, title: null } as const;
  const markerLayers: unknown[] = [];
  const markers = rows.filter((r) => r.marker);
  if (markers.length) {
    markerLayers.push({
      mark: { type: 'point', filled: true, size: 260, stroke: 'white', strokeWidth: 1.5, opacity: 1 },
      encoding: {
        x,
        y,
        color: markerColor,
        shape: { field: 'marker', type: 'nominal', scale: { domain: ['default', 'recommended'], range: ['diamond', 'square'] }, legend: null },
        tooltip: [...POINT_TOOLTIP],
      },
    });
    for (const left of [true, false]) {
      if (!markers.some((r) => r.label_left === left)) continue;
      markerLayers.push({
        transform: [{ filter: left ? 'datum.label_left' : '!datum.label_left' }],
        mark: { type: 'text', align: left ? 'right' : 'left', dx: left ? -12 : 12, dy: -12, fontWeight: 700, fontSize: 12 },
        encoding: { x, y, text: { field: 'marker_label' }, color: markerColor },
      });
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: 'Throughput against p99 latency for every measured load point of every configuration.',
    width: 'container',
    height: 420,
    autosize: { type: 'fit-x', contains: 'padding' },
    config: CONFIG,
    data: { values: rows },
    layer: [
      {
        name: 'measured',
        params: [{ name: 'zoom', select: { type: 'interval' }, bind: 'scales' }],
        mark: { type: 'point', filled: true, size: 45, opacity: 0.45 },
        encoding: { x, y, color: color('measured point'), tooltip: [...POINT_TOOLTIP] },
      },
      {
        name: 'frontier',
        transform: [{ filter: 'datum.frontier' }],
        mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 60 } },
        encoding: { x, y, order: { field: 'p99_ms', type: 'quantitative' }, color: color('Pareto frontier'), tooltip: [...POINT_TOOLTIP] },
      },
      {
        name: 'target',
        data: { values: [{ target, label: `p99 target ${formatNumber(target)} ms` }] },
        layer: [
          {
            mark: { type: 'rule', color: COLORS.target, strokeDash: [6, 4], strokeWidth: 1.5 },
            encoding: { x: { field: 'target', type: 'quantitative' } },
          },
          {
            // Runs up along the rule from the bottom, left of it: visible even when the target is the largest x,
            // and clear of the marker labels, which sit near the top.
            mark: { type: 'text', color: COLORS.target, angle: 270, align: 'left', baseline: 'bottom', dx: 6, dy: -4, fontWeight: 600 },
            encoding: { x: { field: 'target', type: 'quantitative' }, y: { value: { expr: 'height' } }, text: { field: 'label' } },
          },
        ],
      },
      ...(markerLayers.length ? [{ name: 'markers', transform: [{ filter: 'datum.marker != null' }], layer: markerLayers }] : []),
    ],
  } as TopLevelSpec;
}

/** One row per configuration measured, in run order, for the search-progress chart. */
export interface ProgressRow {
  n: number;
  trial: number;
  variant: string;
  config: string;
  state: string;
  objective_ips: number | null;
  best_so_far_ips: number | null;
  /** 0 for trials without a feasible result, so they sit on the axis. */
  miss: number | null;
}

export function progressRows(data: ReportData): ProgressRow[] {
  const target = data.run.targetP99Ms;
  const trials = [...data.trials].sort((a, b) => a.index - b.index);
  let best: number | null = null;
  return trials.map((t, i) => {
    const feasible = isFeasible(t, target);
    const obj = feasible ? (t.objectiveIps as number) : null;
    if (obj !== null && (best === null || obj > best)) best = obj;
    return {
      n: i + 1,
      trial: t.index,
      variant: t.variantName,
      config: describeConfig(t.config),
      state: t.state,
      objective_ips: obj,
      best_so_far_ips: best,
      miss: feasible ? null : 0,
    };
  });
}

/** Best feasible throughput found against the number of configurations measured; null with no trials. */
export function progressSpec(data: ReportData): TopLevelSpec | null {
  const rows = progressRows(data);
  if (rows.length === 0) return null;
  const n = rows.length;
  const anyFeasible = rows.some((r) => r.objective_ips !== null);
  const anyMiss = rows.some((r) => r.miss !== null);
  const def = data.trials.find((t) => t.index === data.defaultIndex);
  const defObj = def && isFeasible(def, data.run.targetP99Ms) ? def.objectiveIps : null;
  const x = {
    field: 'n',
    type: 'quantitative',
    title: 'configurations measured',
    scale: { domain: [0.5, n + 0.5], nice: false, zero: false },
    axis: { tickMinStep: 1, format: 'd' },
  } as const;
  const tooltip = [
    { field: 'n', type: 'quantitative', title: 'configuration #' },
    { field: 'trial', type: 'ordinal', title: 'trial #' },
    { field: 'config', type: 'nominal', title: 'config' },
    { field: 'state', type: 'nominal', title: 'state' },
    { field: 'objective_ips', type: 'quantitative', title: 'throughput within target (inf/s)', format: ',.1f' },
    { field: 'best_so_far_ips', type: 'quantitative', title: 'best so far (inf/s)', format: ',.1f' },
  ];
  // With nothing feasible the axis would hold only 0; give it a range so the crosses sit on a real axis.
  const y = (field: string) =>
    ({ field, type: 'quantitative', title: 'best feasible throughput (inf/s)', scale: anyFeasible ? { zero: true } : { domain: [0, 1] }, ...(anyFeasible ? {} : { axis: { values: [0] } }) }) as const;
  const layers: unknown[] = [];
  if (anyFeasible) {
    layers.push(
      {
        transform: [{ filter: 'datum.best_so_far_ips != null' }],
        mark: { type: 'line', interpolate: 'step-after', color: COLORS.frontier, strokeWidth: 2 },
        encoding: { x, y: y('best_so_far_ips') },
      },
      {
        transform: [{ filter: 'datum.objective_ips != null' }],
        mark: { type: 'point', filled: true, size: 60, color: COLORS.frontier },
        encoding: { x, y: y('objective_ips'), tooltip },
      },
    );
  }
  if (anyMiss) {
    layers.push({
      transform: [{ filter: 'datum.miss != null' }],
      mark: { type: 'point', shape: 'cross', size: 70, filled: true, color: COLORS.target, opacity: 0.8 },
      encoding: { x, y: y('miss'), tooltip },
    });
  }
  if (defObj !== null && defObj !== undefined) {
    layers.push({
      data: { values: [{ y: defObj, label: `default ${formatIps(defObj)} inf/s` }] },
      layer: [
        { mark: { type: 'rule', color: COLORS.default, strokeDash: [6, 4] }, encoding: { y: { field: 'y', type: 'quantitative' } } },
        {
          mark: { type: 'text', color: COLORS.default, align: 'right', baseline: 'bottom', dy: -3, fontWeight: 600 },
          encoding: { x: { value: 'width' }, y: { field: 'y', type: 'quantitative' }, text: { field: 'label' } },
        },
      ],
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: 'Best feasible throughput found against the number of configurations measured.',
    width: 'container',
    height: 260,
    autosize: { type: 'fit-x', contains: 'padding' },
    config: CONFIG,
    data: { values: rows },
    layer: layers,
  } as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------
// Throughput against GPU memory, latency breakdown, and load curves of the frontier configurations.

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Drag to pan and scroll to zoom, on the encodings given (continuous scales only). */
function zoomParam(encodings?: ('x' | 'y')[]) {
  return { name: 'zoom', select: encodings ? { type: 'interval', encodings } : { type: 'interval' }, bind: 'scales' } as const;
}

export interface GpuMemoryRow extends PointRow {
  gpu_memory_mb: number;
  /** On the frontier of throughput against GPU memory (more throughput for less memory). */
  memory_frontier: boolean;
}

/** Charted load points that carry a GPU memory figure. */
export function gpuMemoryRows(data: ReportData): GpuMemoryRow[] {
  const memory = new Map<string, number>();
  for (const t of data.trials) {
    t.points.forEach((p, i) => {
      if (typeof p.gpuMemoryMb === 'number' && Number.isFinite(p.gpuMemoryMb)) memory.set(`${t.index}/${i}`, p.gpuMemoryMb);
    });
  }
  if (memory.size === 0) return [];
  // pointRows skips non-finite points, so match rows to points by trial and concurrency order.
  const rows: GpuMemoryRow[] = [];
  const byTrial = new Map<number, PointRow[]>();
  for (const r of pointRows(data)) byTrial.set(r.trial, [...(byTrial.get(r.trial) ?? []), r]);
  for (const t of data.trials) {
    const trialRows = byTrial.get(t.index) ?? [];
    let k = 0;
    t.points.forEach((p, i) => {
      if (!Number.isFinite(p.throughputIps) || !Number.isFinite(p.p99Ms)) return;
      const row = trialRows[k++];
      const mb = memory.get(`${t.index}/${i}`);
      if (row && mb !== undefined) rows.push({ ...row, gpu_memory_mb: mb, memory_frontier: false });
    });
  }
  for (const r of paretoFrontier(rows, (r) => r.throughput_ips, (r) => r.gpu_memory_mb)) r.memory_frontier = true;
  return rows;
}

/** Throughput against GPU memory for every point where memory was measured; null when none was. */
export function gpuMemorySpec(data: ReportData): TopLevelSpec | null {
  const rows = gpuMemoryRows(data);
  if (rows.length === 0) return null;
  const x = { field: 'gpu_memory_mb', type: 'quantitative', title: 'GPU memory used (MB)', scale: { zero: false } } as const;
  const y = { field: 'throughput_ips', type: 'quantitative', title: 'throughput (inferences/s)', scale: { zero: true } } as const;
  const tooltip = [...POINT_TOOLTIP, { field: 'gpu_memory_mb', type: 'quantitative', title: 'GPU memory (MB)', format: ',.0f' }];
  const present = ['measured point', 'memory frontier', ...(['default', 'recommended'] as const).filter((m) => rows.some((r) => r.marker === m))];
  const colorOf: Record<string, string> = { 'measured point': COLORS.measured, 'memory frontier': COLORS.frontier, default: COLORS.default, recommended: COLORS.recommended };
  const scale = { domain: present, range: present.map((s) => colorOf[s] as string) };
  const layers: unknown[] = [
    {
      params: [zoomParam()],
      mark: { type: 'point', filled: true, size: 45, opacity: 0.5 },
      encoding: { x, y, color: { datum: 'measured point', scale, title: null }, tooltip },
    },
    {
      transform: [{ filter: 'datum.memory_frontier' }],
      mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 50 } },
      encoding: { x, y, order: { field: 'gpu_memory_mb', type: 'quantitative' }, color: { datum: 'memory frontier', scale, title: null }, tooltip },
    },
  ];
  if (rows.some((r) => r.marker)) {
    layers.push({
      transform: [{ filter: 'datum.marker != null' }],
      mark: { type: 'point', filled: true, size: 220, stroke: 'white', strokeWidth: 1.5, opacity: 1 },
      encoding: {
        x,
        y,
        color: { field: 'marker', type: 'nominal', scale, title: null },
        shape: { field: 'marker', type: 'nominal', scale: { domain: ['default', 'recommended'], range: ['diamond', 'square'] }, legend: null },
        tooltip,
      },
    });
  }
  return {
    $schema: SCHEMA,
    description: 'Throughput against the GPU memory used, for every load point where GPU memory was measured.',
    width: 'container',
    height: 320,
    autosize: { type: 'fit-x', contains: 'padding' },
    config: CONFIG,
    data: { values: rows },
    layer: layers,
  } as TopLevelSpec;
}

/** The parts of a request's latency, in stacking order. */
export const BREAKDOWN_COMPONENTS = ['queue', 'compute input', 'compute infer', 'compute output', 'network + client'] as const;
const BREAKDOWN_COLORS = ['#d4a72c', '#8250df', '#1f6feb', '#54aeff', '#9aa3ad'];

export interface BreakdownRow {
  trial: number;
  variant: string;
  config: string;
  role: 'recommended' | 'default' | 'recommended (= default)';
  concurrency: number;
  component: (typeof BREAKDOWN_COMPONENTS)[number];
  /** Stacking order (0 = bottom). */
  order: number;
  ms: number;
  /** The client figure the server parts are taken from: the mean when stored, else p50. */
  client_ms: number;
  client_stat: 'mean' | 'p50';
  server_ms: number;
  throughput_ips: number;
}

/**
 * The latency of one trial split into the server's queue and compute times (from the
 * ModelStatistics deltas, averaged per request) and the rest, "network + client": the client's
 * latency minus the server total, clamped at 0. The client's mean latency is the right figure
 * to subtract from (perf_analyzer does); while the store keeps no mean, p50 stands in for it.
 * Points without server statistics are left out; one row per component per load level (the
 * later point wins if a concurrency was measured twice).
 */
export function breakdownRows(data: ReportData, trialIndex: number, role: BreakdownRow['role']): BreakdownRow[] {
  const t = data.trials.find((x) => x.index === trialIndex);
  if (!t || !charted(t)) return [];
  const byLoad = new Map<number, BreakdownRow[]>();
  for (const p of t.points) {
    const s = p.server;
    if (!s || !Number.isFinite(p.concurrency)) continue;
    const parts = [s.queueUs, s.computeInputUs, s.computeInferUs, s.computeOutputUs].map((us) => (Number.isFinite(us) ? us / 1000 : 0));
    const hasMean = typeof p.meanMs === 'number' && Number.isFinite(p.meanMs);
    const clientMs = hasMean ? (p.meanMs as number) : p.p50Ms;
    if (!Number.isFinite(clientMs)) continue;
    const serverMs = parts.reduce((a, b) => a + b, 0);
    const values = [...parts, Math.max(0, clientMs - serverMs)];
    byLoad.set(
      p.concurrency,
      BREAKDOWN_COMPONENTS.map((component, order) => ({
        trial: t.index,
        variant: t.variantName,
        config: describeConfig(t.config),
        role,
        concurrency: p.concurrency,
        component,
        order,
        ms: values[order] as number,
        client_ms: clientMs,
        client_stat: hasMean ? 'mean' : 'p50',
        server_ms: serverMs,
        throughput_ips: p.throughputIps,
      })),
    );
  }
  return [...byLoad.keys()].sort((a, b) => a - b).flatMap((c) => byLoad.get(c) as BreakdownRow[]);
}

/** Stacked latency parts against load for one trial; null when it has no server statistics. */
export function breakdownSpec(data: ReportData, trialIndex: number, role: BreakdownRow['role']): TopLevelSpec | null {
  const rows = breakdownRows(data, trialIndex, role);
  if (rows.length === 0) return null;
  const stat = rows[0]?.client_stat === 'mean' ? 'mean' : 'p50';
  return {
    $schema: SCHEMA,
    description: `Latency breakdown against load for the ${role} configuration (trial ${trialIndex}).`,
    width: 'container',
    height: 260,
    autosize: { type: 'fit-x', contains: 'padding' },
    config: CONFIG,
    data: { values: rows },
    params: [zoomParam(['y'])],
    mark: { type: 'bar', tooltip: true },
    encoding: {
      x: { field: 'concurrency', type: 'ordinal', title: 'concurrency (requests in flight)', sort: 'ascending', axis: { labelAngle: 0 } },
      y: { field: 'ms', type: 'quantitative', title: `latency (ms, client ${stat})`, stack: 'zero' },
      color: { field: 'component', type: 'nominal', title: null, scale: { domain: [...BREAKDOWN_COMPONENTS], range: BREAKDOWN_COLORS }, legend: { columns: 3, labelLimit: 200 } },
      order: { field: 'order', type: 'quantitative', sort: 'ascending' },
      tooltip: [
        { field: 'component', type: 'nominal', title: 'part' },
        { field: 'ms', type: 'quantitative', title: 'time (ms)', format: '.3f' },
        { field: 'concurrency', type: 'quantitative', title: 'concurrency' },
        { field: 'client_ms', type: 'quantitative', title: `client ${stat} (ms)`, format: '.3f' },
        { field: 'server_ms', type: 'quantitative', title: 'server total (ms)', format: '.3f' },
        { field: 'throughput_ips', type: 'quantitative', title: 'throughput (inf/s)', format: ',.1f' },
        { field: 'trial', type: 'ordinal', title: 'trial #' },
        { field: 'variant', type: 'nominal', title: 'variant' },
        { field: 'config', type: 'nominal', title: 'config' },
      ],
    },
  } as TopLevelSpec;
}

/** Trials with at least one point on the Pareto frontier, best throughput first (at most `limit`). */
export function frontierTrials(data: ReportData, limit = 8): ReportTrial[] {
  const onFrontier = new Set(pointRows(data).filter((r) => r.frontier).map((r) => r.trial));
  const best = (t: ReportTrial) => t.points.reduce((m, p) => (Number.isFinite(p.throughputIps) ? Math.max(m, p.throughputIps) : m), 0);
  return data.trials
    .filter((t) => onFrontier.has(t.index))
    .sort((a, b) => best(b) - best(a) || a.index - b.index)
    .slice(0, limit);
}

export interface LoadRow extends PointRow {
  /** Legend label: "#3 mbs 8, delay 500 µs, 2 inst, FP16". */
  series: string;
}

function shortConfig(t: ReportTrial): string {
  const c = t.config;
  return `#${t.index} mbs ${c.maxBatchSize}, ${c.maxQueueDelayUs === null ? 'no batcher' : `delay ${c.maxQueueDelayUs} µs`}, ${c.instanceCount} inst, ${c.precision}`;
}

export function loadRows(data: ReportData, limit = 8): LoadRow[] {
  const chosen = new Map(frontierTrials(data, limit).map((t) => [t.index, shortConfig(t)] as const));
  return pointRows(data)
    .filter((r) => chosen.has(r.trial))
    .map((r) => ({ ...r, series: chosen.get(r.trial) as string }));
}

/**
 * Throughput or p99 against load (concurrency, log2 axis) for the configurations on the frontier,
 * one line each; the p99 chart shows the target. Null when nothing is on the frontier.
 */
export function loadSpec(data: ReportData, metric: 'throughput' | 'p99'): TopLevelSpec | null {
  const rows = loadRows(data);
  if (rows.length === 0) return null;
  const series = [...new Set(rows.map((r) => r.series))];
  const minC = rows.reduce((m, r) => Math.min(m, r.concurrency), Infinity);
  const maxC = rows.reduce((m, r) => Math.max(m, r.concurrency), 0);
  // Log2 axis with a little room at both ends, so the first and last points are not cut in half.
  const x = {
    field: 'concurrency',
    type: 'quantitative',
    title: 'concurrency (requests in flight)',
    scale: minC > 0 ? { type: 'log', base: 2, domain: [minC / 1.25, maxC * 1.25], nice: false } : { zero: true },
    axis: { tickCount: 8 },
  } as const;
  const y =
    metric === 'throughput'
      ? ({ field: 'throughput_ips', type: 'quantitative', title: 'throughput (inferences/s)', scale: { zero: true } } as const)
      : ({ field: 'p99_ms', type: 'quantitative', title: 'p99 latency (ms)', scale: { zero: true } } as const);
  const color = { field: 'series', type: 'nominal', title: null, scale: { domain: series, scheme: 'tableau10' }, legend: { columns: 1, labelLimit: 480 } } as const;
  const layers: unknown[] = [
    {
      params: [zoomParam()],
      mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 45 } },
      encoding: { x, y, color, order: { field: 'concurrency', type: 'quantitative' }, tooltip: [...POINT_TOOLTIP] },
    },
  ];
  if (metric === 'p99') {
    const target = data.run.targetP99Ms;
    layers.push({
      data: { values: [{ target, label: `p99 target ${formatNumber(target)} ms` }] },
      layer: [
        { mark: { type: 'rule', color: COLORS.target, strokeDash: [6, 4], strokeWidth: 1.5 }, encoding: { y: { field: 'target', type: 'quantitative' } } },
        {
          mark: { type: 'text', color: COLORS.target, align: 'left', baseline: 'bottom', dx: 4, dy: -3, fontWeight: 600 },
          encoding: { x: { value: 0 }, y: { field: 'target', type: 'quantitative' }, text: { field: 'label' } },
        },
      ],
    });
  }
  return {
    $schema: SCHEMA,
    description: `${metric === 'throughput' ? 'Throughput' : 'p99 latency'} against load for the configurations on the Pareto frontier.`,
    width: 'container',
    height: 280,
    autosize: { type: 'fit-x', contains: 'padding' },
    config: CONFIG,
    data: { values: rows },
    layer: layers,
  } as TopLevelSpec;
}

/** Every chart of the report by its element name, null where there is nothing to draw. */
export function allSpecs(data: ReportData): Record<string, TopLevelSpec | null> {
  const rec = data.recommendedIndex;
  const def = data.defaultIndex ?? data.trials.find((t) => t.isDefault)?.index ?? null;
  const same = rec !== null && rec === def;
  return {
    frontier: frontierSpec(data),
    'gpu-memory': gpuMemorySpec(data),
    'breakdown-recommended': rec === null ? null : breakdownSpec(data, rec, same ? 'recommended (= default)' : 'recommended'),
    'breakdown-default': def === null || same ? null : breakdownSpec(data, def, 'default'),
    'load-throughput': loadSpec(data, 'throughput'),
    'load-p99': loadSpec(data, 'p99'),
    progress: progressSpec(data),
  };
}
