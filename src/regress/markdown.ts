/**
 * A comparison as Markdown for CI systems (a GitHub Actions job summary, a merge-request
 * comment): the verdict, one table row per check with the figures, and what was compared.
 * Untrusted text (model names, error messages, run ids from a file) is escaped so it shows as
 * text: no HTML, links or table breaks can come from it.
 */
import { describeConfig } from '../report/specs.js';
import type { Check, Comparison, SideSummary, Verdict } from '../domain/comparison.js';
import { formatFigure } from './compare.js';
import { describeLoad } from '../domain/measurement.js';

/** Text safe in a Markdown table cell: HTML special characters as entities, Markdown punctuation escaped, one line. */
export function mdText(s: string): string {
  return s
    .replace(/[\r\n]+/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_{}[\]()#+!|~]/g, (c) => `\\${c}`);
}

const TITLE: Record<Verdict, string> = {
  pass: '✅ no regression',
  regression: '❌ regression',
  'sla-not-met': '❌ SLA not met',
  infrastructure: '⚠️ infrastructure failure',
};

const STATUS: Record<Check['status'], string> = { pass: '✅ pass', fail: '❌ fail', skipped: '➖ skipped', error: '⚠️ error' };

function pctText(x: number | null, sign = true): string {
  if (x === null || !Number.isFinite(x)) return '—';
  const v = (x * 100).toFixed(1).replace(/\.0$/, '');
  return `${sign && x > 0 ? '+' : ''}${v} %`;
}

/** The change as people read it: throughput drop as a negative, p99 rise as a positive percentage. */
function changeText(k: Check): string {
  if (k.worse === null) return '—';
  const change = k.id === 'throughput_at_target' ? -k.worse : k.worse;
  return `${k.lowerBound ? '≥ ' : ''}${pctText(change)}`;
}

function allowedText(k: Check): string {
  if (k.allowance === null || k.threshold === null) return '—';
  const dir = k.id === 'throughput_at_target' ? '−' : '+';
  const noise = k.noise ? ` (${pctText(k.threshold, false)} + ${pctText(k.noise, false)} noise)` : '';
  return `${dir}${pctText(k.allowance, false)}${noise}`;
}

function side(s: SideSummary | null): string {
  if (!s) return '—';
  const where = s.runId ? `run ${mdText(s.runId)}${s.trialIndex !== null ? `, trial ${s.trialIndex}` : ''}` : 'measured now';
  const n = s.measurements > 1 ? `, ${s.measurements} measurements` : '';
  return `${mdText(describeConfig(s.config))} (${where}${n})`;
}

export interface MarkdownOptions {
  command: string;
  /** Where the baseline came from (a file or `<db>#<run>`); shown as text. */
  baselineSource?: string;
  candidateSource?: string;
  /** Relative links are not made: paths are shown as text. */
  reportHtml?: string | null;
}

export function renderMarkdown(c: Comparison, opts: MarkdownOptions): string {
  const lines: string[] = [];
  lines.push(`## tanalyze ${mdText(opts.command)}: ${mdText(c.model)} — ${TITLE[c.verdict]}`, '');
  lines.push(mdText(c.headline), '');
  lines.push('| check | baseline | candidate | change | allowed | result |', '| --- | ---: | ---: | ---: | ---: | --- |');
  for (const k of c.checks) {
    const cand = k.candidate === null ? '—' : `${k.lowerBound ? '≥ ' : ''}${formatFigure(k.candidate, k.unit)}`;
    lines.push(`| ${mdText(k.name)} | ${formatFigure(k.baseline, k.unit)} | ${cand} | ${changeText(k)} | ${allowedText(k)} | ${STATUS[k.status]}${k.withinNoise ? ' (within noise)' : ''} |`);
  }
  lines.push('');
  const details = c.checks.filter((k) => k.status !== 'pass').map((k) => `- ${mdText(k.name)}: ${mdText(k.message)}`);
  if (details.length) lines.push(...details, '');
  lines.push(`- **Baseline:** ${side(c.baseline)}${opts.baselineSource ? ` from ${mdText(opts.baselineSource)}` : ''}`);
  if (c.candidate) lines.push(`- **Candidate:** ${side(c.candidate)}${opts.candidateSource ? ` from ${mdText(opts.candidateSource)}` : ''}`);
  if (c.candidateBest) lines.push(`- **Candidate's best configuration:** ${side(c.candidateBest)}`);
  lines.push(
    `- **Target:** p99 ≤ ${Number(c.targetP99Ms.toFixed(3))} ms; p99 compared at ${c.fixedLoad === null ? '—' : describeLoad(c.fixedLoad)}.`,
    `- **Thresholds:** throughput drop ≤ ${pctText(c.thresholds.maxThroughputDrop, false)}, p99 rise ≤ ${pctText(c.thresholds.maxP99Rise, false)}, plus the noise of repeated measurements (at most ${pctText(c.thresholds.maxNoise, false)}).`,
    `- **Exit code:** ${c.exitCode}`,
  );
  if (opts.reportHtml) lines.push(`- **Comparison page:** ${mdText(opts.reportHtml)}`);
  return lines.join('\n') + '\n';
}
