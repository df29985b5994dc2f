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
  /** Put the marker's label left of the point, where on the right it would cross the target rule or the edge. */
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
    r.label_left = (toRule >= -0.02 && toRule < 0.22) || r.p99_ms / xMax > 0.78;
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
            // Runs up along the rule, so it never collides with point labels.
            mark: { type: 'text', color: COLORS.target, angle: 270, align: 'right', baseline: 'top', dx: -6, dy: 4, fontWeight: 600 },
            encoding: { x: { field: 'target', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } },
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
