import type { TopLevelSpec } from 'vega-lite';
import type { LoadPoint } from '../domain/measurement.js';
import type { ServingConfig } from '../domain/serving.js';
import { chosenPoint, paretoFrontier } from './pareto.js';
import { trialFeasible } from '../domain/target.js';
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

/** A confidence level as people read it: 0.95 → "95 %"; empty when not known. */
export function formatLevel(level: number | undefined): string {
  return typeof level === 'number' && level > 0 && level < 1 ? `${formatNumber(level * 100)} %` : '';
}

/** A point's p99 interval as "35.9–39.2" (ms; "35.9–∞" when too few requests bound it above); null without one. */
export function formatCi(p: LoadPoint): string | null {
  const ci = p.p99CiMs;
  if (!ci) return null;
  return `${formatMs(ci[0])}–${Number.isFinite(ci[1]) ? formatMs(ci[1]) : '∞'}`;
}

/** Why a point's figures need care; see pointFlag. */
export type FlagKind = 'client-limited' | 'unreliable';
const FLAG_KINDS: readonly FlagKind[] = ['client-limited', 'unreliable'];

export interface PointFlag {
  kind: FlagKind;
  reason: string;
}

/**
 * Unreliable (the figures cannot be trusted) wins over client-limited (the load generator, not the
 * server, limited throughput): an open-loop client that fell behind is both.
 */
export function pointFlag(p: LoadPoint): PointFlag | null {
  if (p.unreliable === true) return { kind: 'unreliable', reason: p.unreliableReason ?? p.clientLimitReason ?? 'the figures cannot be trusted' };
  if (p.clientLimited === true) return { kind: 'client-limited', reason: p.clientLimitReason ?? 'the load generator, not the server, limited throughput' };
  return null;
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
  // The fields below are set only when some charted point of the run has a p99 interval (the CI
  // ones) or a flag (the flag ones), so runs measured without them chart exactly as before.
  /** The p99 interval for the tooltip: "35.9–39.2 ms (95 %)", or "not measured" for this point. */
  p99_ci?: string;
  /** The interval's bounds (ms), on points that have one; hi is null when too few requests bound it above. */
  p99_ci_lo?: number;
  p99_ci_hi?: number | null;
  /** This point's flag, null when none. */
  flag?: FlagKind | null;
  /** The flag and its reason for the tooltip, "none" when not flagged. */
  flag_note?: string;
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

interface BuiltRows {
  rows: PointRow[];
  /** The row of each charted trial's chosen point (the one its figures come from). */
  chosen: Set<PointRow>;
}

/** The interval and flag fields of a row (see PointRow), given that the run has intervals / flags at all. */
function measurementFields(p: LoadPoint, withCi: boolean, withFlags: boolean): Partial<PointRow> {
  const out: Partial<PointRow> = {};
  if (withCi) {
    const text = formatCi(p);
    const level = formatLevel(p.ciLevel);
    out.p99_ci = text === null ? 'not measured' : `${text} ms${level ? ` (${level})` : ''}`;
    if (p.p99CiMs) {
      out.p99_ci_lo = p.p99CiMs[0];
      out.p99_ci_hi = Number.isFinite(p.p99CiMs[1]) ? p.p99CiMs[1] : null;
    }
  }
  if (withFlags) {
    const flag = pointFlag(p);
    out.flag = flag?.kind ?? null;
    out.flag_note = flag ? `${flag.kind}: ${flag.reason}` : 'none';
  }
  return out;
}

function buildPointRows(data: ReportData): BuiltRows {
  const target = data.run.targetP99Ms;
  const rows: PointRow[] = [];
  const chosen = new Set<PointRow>();
  const isCharted = (p: LoadPoint) => Number.isFinite(p.throughputIps) && Number.isFinite(p.p99Ms);
  const chartedPoints = data.trials.filter(charted).flatMap((t) => t.points.filter(isCharted));
  const withCi = chartedPoints.some((p) => p.p99CiMs !== undefined);
  const withFlags = chartedPoints.some((p) => pointFlag(p) !== null);
  for (const t of data.trials) {
    if (!charted(t)) continue;
    const best = chosenPoint(t, target);
    const isRec = data.recommendedIndex === t.index;
    const isDef = data.defaultIndex === t.index || (data.defaultIndex === null && t.isDefault);
    for (const p of t.points) {
      if (!isCharted(p)) continue;
      let marker: PointRow['marker'] = null;
      let label: string | null = null;
      if (p === best && (isRec || isDef)) {
        marker = isRec ? 'recommended' : 'default';
        const name = isRec && isDef ? 'recommended (= default)' : marker;
        label = `${name}: ${formatIps(p.throughputIps)} inf/s`;
      }
      const row: PointRow = {
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
        ...measurementFields(p, withCi, withFlags),
      };
      rows.push(row);
      if (p === best) chosen.add(row);
    }
  }
  // A label is about a fifth of the chart wide; the x domain runs from 0 to the largest p99, the
  // target, or the largest upper bound of the intervals drawn on the frontier chart.
  const xMax = rows.reduce((m, r) => Math.max(m, r.p99_ms, chosen.has(r) && typeof r.p99_ci_hi === 'number' ? r.p99_ci_hi : 0), target);
  for (const r of rows) {
    if (!r.marker) continue;
    const toRule = (target - r.p99_ms) / xMax;
    // Left when the label would run into the target rule or off the right edge, and there is room on the left.
    const roomLeft = r.p99_ms / xMax > 0.24;
    r.label_left = roomLeft && ((toRule >= -0.02 && toRule < 0.22) || r.p99_ms / xMax > 0.78);
  }
  for (const r of paretoFrontier(rows, (r) => r.throughput_ips, (r) => r.p99_ms)) r.frontier = true;
  return { rows, chosen };
}

/** Every charted load point, with the Pareto frontier (over all points) and the two markers set. */
export function pointRows(data: ReportData): PointRow[] {
  return buildPointRows(data).rows;
}

const COLORS = { measured: '#9aa3ad', frontier: '#1f6feb', default: '#bf5b04', recommended: '#1a7f37', target: '#cf222e', flag: '#8250df', ci: '#57606a' };

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600, gridColor: '#e6e8eb', domainColor: '#8c959f', tickColor: '#8c959f' },
  legend: { labelFontSize: 11, titleFontSize: 12, orient: 'bottom', direction: 'horizontal', symbolOpacity: 1 },
  view: { stroke: '#d0d7de' },
  title: { fontSize: 14, fontWeight: 600, anchor: 'start' },
} as const;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** What every chart of the report shares: the schema, the page's width, the look, its rows. */
function chartFrame(description: string, height: number, rows: readonly object[]) {
  return {
    $schema: SCHEMA,
    description,
    width: 'container' as const,
    height,
    autosize: { type: 'fit-x' as const, contains: 'padding' as const },
    config: CONFIG,
    data: { values: rows },
  };
}

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

/** Tooltip fields of a point: POINT_TOOLTIP, then the interval and the flag where the rows carry them. */
function pointTooltip(rows: readonly PointRow[]): unknown[] {
  const first = rows[0];
  return [
    ...POINT_TOOLTIP,
    ...(first?.p99_ci !== undefined ? [{ field: 'p99_ci', type: 'nominal', title: 'p99 confidence interval' }] : []),
    ...(first?.flag_note !== undefined ? [{ field: 'flag_note', type: 'nominal', title: 'measurement flag' }] : []),
  ];
}

// ---- Layer builders shared by the report's charts and the comparison page (src/regress/html.ts).

/** Drag to pan and scroll to zoom, on the encodings given (continuous scales only). */
export function zoomParam(encodings?: ('x' | 'y')[]) {
  return { name: 'zoom', select: encodings ? { type: 'interval', encodings } : { type: 'interval' }, bind: 'scales' } as const;
}

/**
 * The p99 target as a dashed rule with its label, on a chart whose `axis` is p99. On x the label
 * runs up along the rule from the bottom, left of it: visible even when the target is the largest
 * x, and clear of labels near the top. On y it sits above the rule at the left edge.
 */
export function targetRuleLayer(targetP99Ms: number, axis: 'x' | 'y') {
  const at = { field: 'target', type: 'quantitative' } as const;
  const rule = { type: 'rule', color: COLORS.target, strokeDash: [6, 4], strokeWidth: 1.5 } as const;
  return {
    data: { values: [{ target: targetP99Ms, label: `p99 target ${formatNumber(targetP99Ms)} ms` }] },
    layer:
      axis === 'x'
        ? [
            { mark: rule, encoding: { x: at } },
            {
              mark: { type: 'text', color: COLORS.target, angle: 270, align: 'left', baseline: 'bottom', dx: 6, dy: -4, fontWeight: 600 },
              encoding: { x: at, y: { value: { expr: 'height' } }, text: { field: 'label' } },
            },
          ]
        : [
            { mark: rule, encoding: { y: at } },
            {
              mark: { type: 'text', color: COLORS.target, align: 'left', baseline: 'bottom', dx: 4, dy: -3, fontWeight: 600 },
              encoding: { x: { value: 0 }, y: at, text: { field: 'label' } },
            },
          ],
  };
}

/** How flagged points are drawn: hollow (white inside), one shape per flag; both cover a plain point drawn under them. */
const FLAG_SHAPES: Record<FlagKind, string> = { 'client-limited': 'triangle-up', unreliable: 'square' };

/**
 * Flagged points (rows with a flag) drawn hollow over the chart's own points, in one colour on
 * every chart, with a legend of the flags present. Null when no row is flagged.
 */
function flaggedLayer(rows: readonly PointRow[], x: unknown, y: unknown): unknown | null {
  const present = FLAG_KINDS.filter((k) => rows.some((r) => r.flag === k));
  if (present.length === 0) return null;
  return {
    name: 'flagged',
    transform: [{ filter: 'datum.flag != null' }],
    // Unfilled, so the colour goes to the outline; the white fill hides the point under it.
    mark: { type: 'point', filled: false, fill: 'white', color: COLORS.flag, strokeWidth: 1.8, size: 110, opacity: 1 },
    encoding: {
      x,
      y,
      shape: {
        field: 'flag',
        type: 'nominal',
        title: null,
        scale: { domain: present, range: present.map((k) => FLAG_SHAPES[k]) },
        // vega-lite gives an unfilled mark's legend symbols no stroke; draw them as the points look.
        legend: { symbolSize: 110, symbolStrokeWidth: 1.8, encode: { symbols: { update: { fill: { value: 'white' }, stroke: { value: COLORS.flag } } } } },
      },
      tooltip: pointTooltip(rows),
    },
  };
}

/**
 * p99 error bars: a rule across each interval with ticks at its ends, along `axis` (the chart's
 * p99 axis); `at` places the bar on the other axis. An interval open above (too few requests to
 * bound it) runs dashed to the edge of the plot. Only rows with an interval are drawn; null
 * when none has one. With `ownData` the layer carries those rows as its data, else it filters the chart's.
 */
function ciBarsLayer(rows: readonly PointRow[], axis: 'x' | 'y', at: unknown, color: { value: string } | Record<string, unknown>, ownData = false): unknown | null {
  const drawn = rows.filter((r) => r.p99_ci_lo !== undefined);
  if (drawn.length === 0) return null;
  const other = axis === 'x' ? 'y' : 'x';
  const lo = { field: 'p99_ci_lo', type: 'quantitative' } as const;
  const colorOf = 'value' in color ? { color: color.value } : {};
  const colorEnc = 'value' in color ? {} : { color };
  const tooltip = pointTooltip(rows);
  const tick = (field: string) => ({
    mark: { type: 'tick', orient: axis === 'x' ? 'vertical' : 'horizontal', size: 8, thickness: 1.5, opacity: 0.9, ...colorOf },
    encoding: { [axis]: { field, type: 'quantitative' }, [other]: at, ...colorEnc, tooltip },
  });
  const layers: unknown[] = [];
  if (drawn.some((r) => r.p99_ci_hi !== null)) {
    layers.push({
      transform: [{ filter: 'isValid(datum.p99_ci_hi)' }],
      layer: [
        {
          mark: { type: 'rule', strokeWidth: 1.5, opacity: 0.9, ...colorOf },
          encoding: { [axis]: lo, [`${axis}2`]: { field: 'p99_ci_hi' }, [other]: at, ...colorEnc, tooltip },
        },
        tick('p99_ci_lo'),
        tick('p99_ci_hi'),
      ],
    });
  }
  if (drawn.some((r) => r.p99_ci_hi === null)) {
    layers.push({
      transform: [{ filter: 'isValid(datum.p99_ci_lo) && !isValid(datum.p99_ci_hi)' }],
      layer: [
        {
          // Pixel position of the plot's far edge: the right one for x, the top (0) for y.
          mark: { type: 'rule', strokeWidth: 1.5, strokeDash: [3, 3], opacity: 0.9, ...colorOf },
          encoding: { [axis]: lo, [`${axis}2`]: { value: axis === 'x' ? 'width' : 0 }, [other]: at, ...colorEnc, tooltip },
        },
        tick('p99_ci_lo'),
      ],
    });
  }
  return { name: 'p99-ci', ...(ownData ? { data: { values: drawn } } : {}), layer: layers };
}

const SERIES = ['measured point', 'Pareto frontier', 'default', 'recommended'];
const SERIES_COLORS = [COLORS.measured, COLORS.frontier, COLORS.default, COLORS.recommended];

/**
 * Throughput against p99 for every measured load point: frontier, target, default and recommended.
 * Null when no load point was measured. Layers without data are left out (vega warns on them).
 */
export function frontierSpec(data: ReportData): TopLevelSpec | null {
  const target = data.run.targetP99Ms;
  const { rows, chosen } = buildPointRows(data);
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
  const tooltip = pointTooltip(rows);
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
        tooltip,
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
  // Bars at each configuration's chosen point only: one per configuration keeps the chart readable.
  const ciBars = ciBarsLayer(rows.filter((r) => chosen.has(r)), 'x', y, { value: COLORS.ci }, true);
  const flagged = flaggedLayer(rows, x, y);
  return {
    ...chartFrame('Throughput against p99 latency for every measured load point of every configuration.', 420, rows),
    layer: [
      {
        name: 'measured',
        params: [zoomParam()],
        // Flagged points are drawn hollow by their own layer.
        ...(flagged ? { transform: [{ filter: 'datum.flag == null' }] } : {}),
        mark: { type: 'point', filled: true, size: 45, opacity: 0.45 },
        encoding: { x, y, color: color('measured point'), tooltip },
      },
      {
        name: 'frontier',
        transform: [{ filter: 'datum.frontier' }],
        mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 60 } },
        encoding: { x, y, order: { field: 'p99_ms', type: 'quantitative' }, color: color('Pareto frontier'), tooltip },
      },
      ...(ciBars ? [ciBars] : []),
      { name: 'target', ...targetRuleLayer(target, 'x') },
      ...(flagged ? [flagged] : []),
      ...(markerLayers.length ? [{ name: 'markers', transform: [{ filter: 'datum.marker != null' }], layer: markerLayers }] : []),
    ],
    // The flags' shapes are their own legend, apart from the markers' shapes (which have none).
    ...(flagged ? { resolve: { scale: { shape: 'independent' } } } : {}),
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
    const feasible = trialFeasible(t, target);
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
  const defObj = def && trialFeasible(def, data.run.targetP99Ms) ? def.objectiveIps : null;
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
    ...chartFrame('Best feasible throughput found against the number of configurations measured.', 260, rows),
    layer: layers,
  } as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------
// Throughput against GPU memory, latency breakdown, and load curves of the frontier configurations.


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
  const tooltip = [...pointTooltip(rows), { field: 'gpu_memory_mb', type: 'quantitative', title: 'GPU memory (MB)', format: ',.0f' }];
  const present = ['measured point', 'memory frontier', ...(['default', 'recommended'] as const).filter((m) => rows.some((r) => r.marker === m))];
  const colorOf: Record<string, string> = { 'measured point': COLORS.measured, 'memory frontier': COLORS.frontier, default: COLORS.default, recommended: COLORS.recommended };
  const scale = { domain: present, range: present.map((s) => colorOf[s] as string) };
  const flagged = flaggedLayer(rows, x, y);
  const layers: unknown[] = [
    {
      params: [zoomParam()],
      ...(flagged ? { transform: [{ filter: 'datum.flag == null' }] } : {}),
      mark: { type: 'point', filled: true, size: 45, opacity: 0.5 },
      encoding: { x, y, color: { datum: 'measured point', scale, title: null }, tooltip },
    },
    {
      transform: [{ filter: 'datum.memory_frontier' }],
      mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 50 } },
      encoding: { x, y, order: { field: 'gpu_memory_mb', type: 'quantitative' }, color: { datum: 'memory frontier', scale, title: null }, tooltip },
    },
  ];
  if (flagged) layers.push(flagged);
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
    ...chartFrame('Throughput against the GPU memory used, for every load point where GPU memory was measured.', 320, rows),
    layer: layers,
    ...(flagged ? { resolve: { scale: { shape: 'independent' } } } : {}),
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
    ...chartFrame(`Latency breakdown against load for the ${role} configuration (trial ${trialIndex}).`, 260, rows),
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
      encoding: { x, y, color, order: { field: 'concurrency', type: 'quantitative' }, tooltip: pointTooltip(rows) },
    },
  ];
  if (metric === 'p99') {
    const ciBars = ciBarsLayer(rows, 'y', x, color);
    if (ciBars) layers.push(ciBars);
    layers.push(targetRuleLayer(data.run.targetP99Ms, 'y'));
  }
  const flagged = flaggedLayer(rows, x, y);
  if (flagged) layers.push(flagged);
  return {
    ...chartFrame(`${metric === 'throughput' ? 'Throughput' : 'p99 latency'} against load for the configurations on the Pareto frontier.`, 280, rows),
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
