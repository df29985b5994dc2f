/**
 * A comparison as JUnit XML, the format CI systems (GitHub Actions reporters, GitLab, Jenkins,
 * Buildkite) show as test results: one <testsuite> per comparison, one <testcase> per check.
 * A failed check is a <failure> (type "regression" or "sla-not-met"), a check that could not be
 * made an <error>, a skipped one <skipped>; each message carries the figures.
 */
import { describeConfig } from '../report/specs.js';
import type { Check, Comparison } from '../domain/comparison.js';

/** Characters XML 1.0 does not allow at all (they cannot be escaped): replaced by U+FFFD. */
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text content: `&`, `<`, `>` escaped; characters XML cannot hold replaced. */
export function xmlText(s: string): string {
  return s.replace(INVALID_XML, '\uFFFD').replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c] as string);
}

/** Attribute value (double-quoted): also `"`, `'`, and line breaks and tabs kept as character references. */
export function xmlAttr(s: string): string {
  return xmlText(s).replace(/["'\t\n\r]/g, (c) => ({ '"': '&quot;', "'": '&apos;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' })[c] as string);
}

export interface JUnitOptions {
  /** 'compare' or 'regress'. */
  command: string;
  /** ISO 8601, for the suite's timestamp attribute. */
  timestamp?: string;
  /** Seconds the comparison took (measurements included). */
  durationS?: number;
  /** Extra <property> entries (baseline source, candidate, ...). */
  properties?: Record<string, string>;
}

function failureType(c: Comparison, k: Check): string {
  return k.id === 'sla' ? 'sla-not-met' : c.verdict === 'infrastructure' ? 'infrastructure' : 'regression';
}

function details(c: Comparison, k: Check): string {
  const lines = [k.message];
  if (k.baseline !== null || k.candidate !== null) {
    lines.push(`baseline: ${k.baseline ?? '—'} ${k.unit}; candidate: ${k.lowerBound ? '≥ ' : ''}${k.candidate ?? '—'} ${k.unit}`.trim());
  }
  if (k.worse !== null) lines.push(`change (worse direction): ${(k.worse * 100).toFixed(2)} %; allowed: ${((k.allowance ?? 0) * 100).toFixed(2)} % (threshold ${((k.threshold ?? 0) * 100).toFixed(2)} % + noise ${((k.noise ?? 0) * 100).toFixed(2)} %)`);
  if (k.samples.baseline.length > 1 || k.samples.candidate.length > 1) {
    lines.push(`samples: baseline [${k.samples.baseline.map((x) => x.toFixed(3)).join(', ')}]; candidate [${k.samples.candidate.map((x) => x.toFixed(3)).join(', ')}]`);
  }
  lines.push(`baseline configuration: ${describeConfig(c.baseline.config)}${c.baseline.runId ? ` (run ${c.baseline.runId}, trial ${c.baseline.trialIndex})` : ''}`);
  const cand = c.candidateBest && k.id === 'throughput_at_target' ? c.candidateBest : (c.candidate ?? c.candidateBest);
  if (cand) lines.push(`candidate configuration: ${describeConfig(cand.config)}${cand.runId ? ` (run ${cand.runId}, trial ${cand.trialIndex})` : ''}`);
  return lines.join('\n');
}

export function renderJUnit(c: Comparison, opts: JUnitOptions): string {
  const count = (s: Check['status']) => c.checks.filter((k) => k.status === s).length;
  const failures = count('fail');
  const errors = count('error');
  const skipped = count('skipped');
  const time = (opts.durationS ?? 0).toFixed(3);
  const suite = `tanalyze ${opts.command}: ${c.model}`;
  const classname = `tanalyze.${opts.command}.${c.model.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const props: Record<string, string> = {
    verdict: c.verdict,
    exit_code: String(c.exitCode),
    target_p99_ms: String(c.targetP99Ms),
    fixed_concurrency: c.fixedConcurrency === null ? '' : String(c.fixedConcurrency),
    fixed_rate: c.fixedLoad?.mode === 'rate' ? String(c.fixedLoad.level) : '',
    max_throughput_drop: String(c.thresholds.maxThroughputDrop),
    max_p99_rise: String(c.thresholds.maxP99Rise),
    max_noise: String(c.thresholds.maxNoise),
    ...(opts.properties ?? {}),
  };
  const cases = c.checks.map((k) => {
    const open = `    <testcase classname="${xmlAttr(classname)}" name="${xmlAttr(k.name)}" time="0">`;
    let body = '';
    if (k.status === 'fail') body = `\n      <failure message="${xmlAttr(k.message)}" type="${failureType(c, k)}">${xmlText(details(c, k))}</failure>\n    `;
    else if (k.status === 'error') body = `\n      <error message="${xmlAttr(k.message)}" type="infrastructure">${xmlText(details(c, k))}</error>\n    `;
    else if (k.status === 'skipped') body = `\n      <skipped message="${xmlAttr(k.message)}"/>\n    `;
    else body = `\n      <system-out>${xmlText(k.message)}</system-out>\n    `;
    return `${open}${body}</testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="tanalyze" tests="${c.checks.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${time}">`,
    `  <testsuite name="${xmlAttr(suite)}" tests="${c.checks.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${time}"${opts.timestamp ? ` timestamp="${xmlAttr(opts.timestamp)}"` : ''}>`,
    '    <properties>',
    ...Object.entries(props).map(([k, v]) => `      <property name="${xmlAttr(k)}" value="${xmlAttr(v)}"/>`),
    '    </properties>',
    ...cases,
    `    <system-out>${xmlText(c.headline)}</system-out>`,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
