/**
 * The comparison page: baseline against candidate on one chart (throughput against p99 of every
 * measured load point of the compared configurations, one line per measurement), the checks
 * with their figures, and what was compared. Self-contained like the report (html.ts pieces).
 */
import type { TopLevelSpec } from 'vega-lite';
import { chartDiv, escapeHtml, renderPage, type VegaAssets } from '../report/html.js';
import { describeConfig, formatNumber, targetRuleLayer, zoomParam } from '../report/specs.js';
import type { Check, Comparison, Measured } from '../domain/comparison.js';
import { formatFigure } from './compare.js';
import { describeLoad } from '../domain/measurement.js';
import { pointMeetsTarget } from '../domain/target.js';

export interface ComparisonPageInput {
  comparison: Comparison;
  command: 'compare' | 'regress';
  /** The measurements compared, in the order: baseline, candidate, candidate best (null ones left out). */
  sides: Measured[];
  /** Where the baseline and the candidate came from (file or database#run), shown as text. */
  baselineSource?: string;
  candidateSource?: string;
  toolVersion: string;
  /** ISO 8601 time the comparison was made. */
  createdAt?: string;
  /** Server, hardware and other facts about the candidate's environment. */
  environment?: Record<string, string>;
}

const SIDE_COLORS: Record<string, string> = { baseline: '#6e7781', candidate: '#bf5b04', 'candidate best': '#1f6feb' };

export interface ComparisonRow {
  side: string;
  series: string;
  measurement: number;
  run: string;
  trial: number | null;
  variant: string;
  config: string;
  concurrency: number;
  throughput_ips: number;
  p50_ms: number;
  p99_ms: number;
  within_target: boolean;
}

export function comparisonRows(sides: readonly Measured[], targetP99Ms: number): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  for (const m of sides) {
    m.repeats.forEach((points, r) => {
      for (const p of points) {
        if (!Number.isFinite(p.throughputIps) || !Number.isFinite(p.p99Ms)) continue;
        rows.push({
          side: m.label,
          series: m.repeats.length > 1 ? `${m.label} #${r + 1}` : m.label,
          measurement: r + 1,
          run: m.runId ?? 'measured now',
          trial: m.trialIndex,
          variant: m.variantName ?? '',
          config: describeConfig(m.config),
          concurrency: p.concurrency,
          throughput_ips: p.throughputIps,
          p50_ms: p.p50Ms,
          p99_ms: p.p99Ms,
          within_target: pointMeetsTarget(p, targetP99Ms),
        });
      }
    });
  }
  return rows;
}

/** Throughput against p99, baseline and candidate in contrasting colours, the target marked. Null with no points. */
export function comparisonSpec(input: ComparisonPageInput): TopLevelSpec | null {
  const c = input.comparison;
  const rows = comparisonRows(input.sides, c.targetP99Ms);
  if (rows.length === 0) return null;
  const labels = [...new Set(rows.map((r) => r.side))];
  const scale = { domain: labels, range: labels.map((l) => SIDE_COLORS[l] ?? '#8250df') };
  const x = { field: 'p99_ms', type: 'quantitative', title: 'p99 latency (ms)', scale: { zero: true } } as const;
  const y = { field: 'throughput_ips', type: 'quantitative', title: 'throughput (inferences/s)', scale: { zero: true } } as const;
  const tooltip = [
    { field: 'side', type: 'nominal', title: 'side' },
    { field: 'measurement', type: 'ordinal', title: 'measurement #' },
    { field: 'run', type: 'nominal', title: 'run' },
    { field: 'trial', type: 'ordinal', title: 'trial #' },
    { field: 'variant', type: 'nominal', title: 'variant' },
    { field: 'config', type: 'nominal', title: 'config' },
    { field: 'concurrency', type: 'quantitative', title: 'concurrency' },
    { field: 'throughput_ips', type: 'quantitative', title: 'throughput (inf/s)', format: ',.1f' },
    { field: 'p50_ms', type: 'quantitative', title: 'p50 (ms)', format: '.2f' },
    { field: 'p99_ms', type: 'quantitative', title: 'p99 (ms)', format: '.2f' },
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: 'Throughput against p99 latency: baseline against candidate.',
    width: 'container',
    height: 400,
    autosize: { type: 'fit-x', contains: 'padding' },
    config: {
      font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
      axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600, gridColor: '#e6e8eb' },
      legend: { orient: 'bottom', direction: 'horizontal', labelFontSize: 12, symbolOpacity: 1 },
      view: { stroke: '#d0d7de' },
    },
    data: { values: rows },
    layer: [
      {
        params: [zoomParam()],
        mark: { type: 'line', strokeWidth: 2, opacity: 0.85, point: { filled: true, size: 55 } },
        encoding: {
          x,
          y,
          color: { field: 'side', type: 'nominal', title: null, scale },
          detail: { field: 'series', type: 'nominal' },
          order: { field: 'concurrency', type: 'quantitative' },
          strokeDash: { field: 'side', type: 'nominal', title: null, scale: { domain: labels, range: labels.map((l) => (l === 'baseline' ? [6, 3] : [1, 0])) } },
          tooltip,
        },
      },
      targetRuleLayer(c.targetP99Ms, 'x'),
    ],
  } as TopLevelSpec;
}

const VERDICT_TEXT = { pass: 'No regression', regression: 'Regression', 'sla-not-met': 'SLA not met', infrastructure: 'Infrastructure failure' } as const;

function changeCell(k: Check): string {
  if (k.worse === null) return '—';
  const change = k.id === 'throughput_at_target' ? -k.worse : k.worse;
  return `${k.lowerBound ? '≥ ' : ''}${change > 0 ? '+' : ''}${(change * 100).toFixed(1)} %`;
}

function allowedCell(k: Check): string {
  if (k.allowance === null || k.threshold === null) return '—';
  const dir = k.id === 'throughput_at_target' ? '−' : '+';
  return `${dir}${(k.allowance * 100).toFixed(1)} %${k.noise ? ` (${(k.threshold * 100).toFixed(1)} % + ${(k.noise * 100).toFixed(1)} % noise)` : ''}`;
}

function checksTable(c: Comparison): string {
  const rows = c.checks.map((k) => {
    const cls = k.status === 'fail' ? 'FAILED' : k.status === 'error' ? 'FAILED' : k.status === 'pass' ? 'COMPLETE' : 'SKIPPED';
    const cand = k.candidate === null ? '—' : `${k.lowerBound ? '≥ ' : ''}${formatFigure(k.candidate, k.unit)}`;
    return (
      `<tr data-check="${escapeHtml(k.id)}" data-status="${escapeHtml(k.status)}">` +
      `<td>${escapeHtml(k.name)}</td>` +
      `<td class="num">${escapeHtml(formatFigure(k.baseline, k.unit))}</td>` +
      `<td class="num">${escapeHtml(cand)}</td>` +
      `<td class="num">${escapeHtml(changeCell(k))}</td>` +
      `<td class="num">${escapeHtml(allowedCell(k))}</td>` +
      `<td><span class="state ${cls}">${escapeHtml(k.status)}</span>${k.withinNoise ? ' <span class="note">(within noise)</span>' : ''}</td>` +
      `<td class="notes">${escapeHtml(k.message)}</td>` +
      `</tr>`
    );
  });
  return `<div class="table-wrap"><table id="checks"><thead><tr><th>check</th><th class="num">baseline</th><th class="num">candidate</th><th class="num">change</th><th class="num">allowed</th><th>result</th><th>details</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function sidesTable(input: ComparisonPageInput): string {
  const c = input.comparison;
  const rows: [string, string][] = [];
  const side = (s: Comparison['baseline'] | null) =>
    s
      ? `${describeConfig(s.config)} — ${s.runId ? `run ${s.runId}${s.trialIndex !== null ? `, trial ${s.trialIndex}` : ''}` : 'measured now'}${s.measurements > 1 ? `, ${s.measurements} measurements` : ''}${s.error ? ` (${s.error})` : ''}`
      : '—';
  rows.push(['Baseline', side(c.baseline) + (input.baselineSource ? ` from ${input.baselineSource}` : '')]);
  if (c.candidate) rows.push(['Candidate', side(c.candidate) + (input.candidateSource ? ` from ${input.candidateSource}` : '')]);
  if (c.candidateBest) rows.push(["Candidate's best configuration", side(c.candidateBest)]);
  rows.push(['p99 target', `${formatNumber(c.targetP99Ms)} ms`]);
  rows.push(['p99 compared at', c.fixedLoad === null ? '—' : describeLoad(c.fixedLoad)]);
  rows.push(['Thresholds', `throughput drop ≤ ${formatNumber(c.thresholds.maxThroughputDrop * 100)} %, p99 rise ≤ ${formatNumber(c.thresholds.maxP99Rise * 100)} %, plus the noise of repeated measurements (at most ${formatNumber(c.thresholds.maxNoise * 100)} %)`]);
  rows.push(['Exit code', String(c.exitCode)]);
  for (const [k, v] of Object.entries(input.environment ?? {})) rows.push([k, v]);
  if (input.createdAt) rows.push(['Compared at', input.createdAt]);
  rows.push(['tanalyze version', input.toolVersion]);
  return `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v || '—')}</td></tr>`).join('')}</tbody></table>`;
}

export function renderComparisonHtml(input: ComparisonPageInput, assets?: VegaAssets): string {
  const c = input.comparison;
  const spec = comparisonSpec(input);
  const ok = c.verdict === 'pass';
  const body = `<header>
<p class="eyebrow">tanalyze ${escapeHtml(input.command)}</p>
<h1 id="model-name">${escapeHtml(c.model)}</h1>
<p class="meta">baseline against candidate · p99 target ${escapeHtml(formatNumber(c.targetP99Ms))} ms · exit code ${c.exitCode}</p>
</header>
<section class="headline${ok ? '' : ' none'}" id="headline"><p style="margin:0"><strong>${escapeHtml(VERDICT_TEXT[c.verdict])}.</strong> ${escapeHtml(c.headline.replace(/^[^:.]*[:.]\s*/, ''))}</p></section>

<h2>Checks</h2>
${checksTable(c)}

<h2>Throughput against p99 latency</h2>
<p class="caption">Every load point measured for the compared configurations, one line per measurement (dashed: the baseline). Hover a point for its configuration; drag to pan, scroll to zoom, double-click to reset.</p>
${chartDiv('comparison', spec, 'Neither side has a measured load point to plot.')}

<h2>What was compared</h2>
${sidesTable(input)}

<footer>Generated by tanalyze ${escapeHtml(input.toolVersion)}. This file is self-contained and works offline.</footer>`;
  return renderPage({ title: `tanalyze ${input.command} · ${c.model}`, toolVersion: input.toolVersion, body, specs: { comparison: spec } }, assets);
}
