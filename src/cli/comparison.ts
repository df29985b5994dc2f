/**
 * What compare and regress share: their thresholds and output paths (from the option table),
 * and writing and printing a comparison (JUnit, Markdown, the comparison page, text or JSON).
 * File and clock access come in through `ComparisonDeps` (defaults: node's fs and Date).
 */
import { relative, resolve } from 'node:path';
import { writeOutputFile, type CliIO } from './io.js';
import { UsageError } from '../domain/errors.js';
import { toolVersion } from './version.js';
import { Store } from '../store/store.js';
import { describeConfig } from '../report/specs.js';
import { summarizeComparison } from '../report/summary.js';
import { baselineJson } from '../regress/baseline.js';
import { BaselineError } from '../regress/doc.js';
import { formatFigure } from '../regress/compare.js';
import { type Comparison, type Measured, type Thresholds } from '../domain/comparison.js';
import type { RegressResult } from '../regress/regress.js';
import { renderJUnit } from '../regress/junit.js';
import { renderMarkdown } from '../regress/markdown.js';
import { renderComparisonHtml } from '../regress/html.js';
import { defaultOf, flagName, optionSpec } from './options.js';

/**
 * A fraction from `5%`, `0.05` or `12.5%`. A plain number must be at most 1 (`5` is refused:
 * it is ambiguous between 5 % and 500 %). Throws a UsageError naming the flag.
 */
export function parseFraction(flag: string, raw: unknown, opts: { max?: number } = {}): number {
  const text = typeof raw === 'number' ? String(raw) : String(raw ?? '').trim();
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(%?)$/.exec(text);
  const accepted = 'a percentage such as 5% or a fraction such as 0.05';
  if (!m) throw new UsageError([`${flag}: '${text}' is not a fraction; accepted: ${accepted}`]);
  const n = Number(m[1]);
  const value = m[2] === '%' ? n / 100 : n;
  if (m[2] !== '%' && n > 1) throw new UsageError([`${flag}: '${text}' is ambiguous: write ${n}% for ${n} percent, or a fraction of at most 1 (e.g. ${(n / 100).toFixed(2)})`]);
  if (opts.max !== undefined && value > opts.max) throw new UsageError([`${flag}: '${text}' is more than ${opts.max * 100}%; accepted: ${accepted}, at most ${opts.max * 100}%`]);
  return value;
}

export interface ComparisonSettings {
  thresholds: Required<Thresholds>;
  repeats: number;
  research: boolean;
  /** Absolute paths, null when not asked for. */
  junit: string | null;
  markdown: string | null;
  html: string | null;
  saveBaseline: string | null;
  db: string;
  json: boolean;
}

/**
 * Thresholds, repeats and output paths from flags, then environment, then profile values (dotted
 * keys such as `regress.max_throughput_drop`), then the option table's defaults. Every problem is
 * reported at once.
 */
export function resolveComparisonSettings(
  flags: Record<string, unknown>,
  env: Record<string, string | undefined>,
  cwd: string,
  profileValues: Record<string, unknown> = {},
  profileFile = 'profile',
): ComparisonSettings {
  const problems: string[] = [];
  const pick = (key: string): { value: unknown; from: string } | undefined => {
    const o = optionSpec(key);
    if (flags[key] !== undefined && flags[key] !== false) return { value: flags[key], from: flagName(o) };
    if (o.env && env[o.env] !== undefined && env[o.env] !== '') return { value: env[o.env], from: `${o.env} (environment)` };
    if (o.profileKey && profileValues[o.profileKey] !== undefined) return { value: profileValues[o.profileKey], from: `${profileFile}: ${o.profileKey}` };
    return undefined;
  };
  const fraction = (key: string, max?: number): number => {
    const s = pick(key);
    if (s === undefined) return defaultOf<number>(key);
    try {
      return parseFraction(s.from, s.value, max === undefined ? {} : { max });
    } catch (e) {
      problems.push(...(e as UsageError).problems);
      return defaultOf<number>(key);
    }
  };
  const thresholds = {
    maxThroughputDrop: fraction('maxThroughputDrop', 1),
    maxP99Rise: fraction('maxP99Rise'),
    maxNoise: fraction('maxNoise', 1),
  };
  let repeats = defaultOf<number>('repeats');
  const r = pick('repeats');
  if (r !== undefined) {
    const n = typeof r.value === 'number' ? r.value : /^\d+$/.test(String(r.value).trim()) ? Number(String(r.value).trim()) : NaN;
    if (!Number.isSafeInteger(n) || n < 1 || n > 50) problems.push(`${r.from}: '${String(r.value)}' is not a number of repeats; accepted: an integer from 1 to 50`);
    else repeats = n;
  }
  let research = defaultOf<boolean>('research');
  const rs = pick('research');
  if (rs !== undefined) {
    if (rs.value === true || rs.value === 'true' || rs.value === '1') research = true;
    else if (rs.value === false || rs.value === 'false' || rs.value === '0') research = false;
    else problems.push(`${rs.from}: '${String(rs.value)}' is not true or false`);
  }
  const path = (key: string): string | null => {
    const v = flags[key];
    if (v === undefined || v === null || v === false) return null;
    if (typeof v !== 'string' || v.trim() === '') {
      problems.push(`${flagName(optionSpec(key))}: needs a file name`);
      return null;
    }
    return resolve(cwd, v);
  };
  const db = pick('db');
  const settings: ComparisonSettings = {
    thresholds,
    repeats,
    research,
    junit: path('junit'),
    markdown: path('markdown'),
    html: path('html'),
    saveBaseline: path('saveBaseline'),
    db: resolve(cwd, db === undefined ? defaultOf<string>('db') : String(db.value)),
    json: flags.json === true,
  };
  if (problems.length) throw new UsageError(problems, 'Thresholds are fractions of the baseline: --max-throughput-drop 5% --max-p99-rise 10%.');
  return settings;
}

// ---------------------------------------------------------------------------------------------
// Writing and printing a comparison (compare and regress)

export interface ComparisonDeps {
  /** Writes the file a flag names (`flag` is for the error message). */
  writeFile: (flag: string, path: string, text: string) => Promise<void>;
  now: () => Date;
  openStore: (file: string) => Store;
  toolVersion: () => string;
}

export const defaultDeps: ComparisonDeps = {
  writeFile: writeOutputFile,
  now: () => new Date(),
  // compare, baseline export and regress only read stored runs: a read-only file is enough.
  openStore: (file) => Store.open(file, { readonly: true }),
  toolVersion,
};

export interface FinishInput {
  comparison: Comparison;
  command: 'compare' | 'regress';
  sides: Measured[];
  baselineSource?: string;
  candidateSource?: string;
  environment?: Record<string, string>;
  durationS?: number;
}

/** The comparison as text for people: the verdict, one line per check, what was written. */
export function formatComparison(c: Comparison, written: { junit?: string | null; markdown?: string | null; html?: string | null } = {}, rel: (p: string) => string = (p) => p): string {
  const mark = { pass: '✓', fail: '✗', skipped: '-', error: '!' } as const;
  const lines = ['', c.headline];
  for (const k of c.checks) {
    const figures = k.baseline !== null || k.candidate !== null ? `: ${formatFigure(k.baseline, k.unit)} → ${k.lowerBound ? '≥ ' : ''}${formatFigure(k.candidate, k.unit)}` : '';
    lines.push(`  ${mark[k.status]} ${k.name}${figures} (${k.status}${k.withinNoise ? ', within noise' : ''})`);
  }
  lines.push(`Baseline: ${describeConfig(c.baseline.config)}${c.baseline.runId ? ` (run ${c.baseline.runId}, trial ${c.baseline.trialIndex})` : ''}`);
  for (const [k, v] of [['JUnit', written.junit], ['Markdown', written.markdown], ['Page', written.html]] as const) if (v) lines.push(`${k}: ${rel(v)}`);
  lines.push(`Exit code ${c.exitCode} (${c.verdict}).`);
  return lines.join('\n');
}

/** Writes the JUnit, Markdown and HTML outputs asked for, prints the summary, returns the exit code. */
export async function finishComparison(input: FinishInput, settings: ComparisonSettings, io: CliIO, deps: ComparisonDeps = defaultDeps): Promise<number> {
  const c = input.comparison;
  const now = deps.now().toISOString();
  const version = deps.toolVersion();
  const props: Record<string, string> = {};
  if (input.baselineSource) props.baseline = input.baselineSource;
  if (input.candidateSource) props.candidate = input.candidateSource;
  if (settings.html) props.report_html = settings.html;
  if (settings.junit) {
    await deps.writeFile('--junit', settings.junit, renderJUnit(c, { command: input.command, timestamp: now, durationS: input.durationS ?? 0, properties: props }));
  }
  if (settings.markdown) {
    await deps.writeFile(
      '--markdown',
      settings.markdown,
      renderMarkdown(c, {
        command: input.command,
        ...(input.baselineSource ? { baselineSource: input.baselineSource } : {}),
        ...(input.candidateSource ? { candidateSource: input.candidateSource } : {}),
        reportHtml: settings.html,
      }),
    );
  }
  if (settings.html) {
    await deps.writeFile(
      '--html',
      settings.html,
      renderComparisonHtml({
        comparison: c,
        command: input.command,
        sides: input.sides,
        toolVersion: version,
        createdAt: now,
        ...(input.baselineSource ? { baselineSource: input.baselineSource } : {}),
        ...(input.candidateSource ? { candidateSource: input.candidateSource } : {}),
        ...(input.environment ? { environment: input.environment } : {}),
      }),
    );
  }
  const written = { junit: settings.junit, markdown: settings.markdown, html: settings.html };
  if (settings.json) io.stdout(JSON.stringify(summarizeComparison(c, input.command, written), null, 2) + '\n');
  else io.stdout(formatComparison(c, written, (p) => (p.startsWith(io.cwd) ? relative(io.cwd, p) : p)) + '\n');
  return c.exitCode;
}

/** BaselineError is a usage error: the reference or file is wrong. */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BaselineError) throw new UsageError([e.message]);
    throw e;
  }
}

/**
 * After `regress`: saves the candidate as a baseline when asked (--save-baseline), writes the
 * outputs and prints; returns the exit code.
 */
export async function finishRegress(result: RegressResult, settings: ComparisonSettings, io: CliIO, baselineSource: string, deps: ComparisonDeps = defaultDeps): Promise<number> {
  if (settings.saveBaseline) await deps.writeFile('--save-baseline', settings.saveBaseline, baselineJson(result.candidateDoc));
  const env = result.candidateDoc.run;
  return finishComparison(
    {
      comparison: result.comparison,
      command: 'regress',
      sides: result.sides,
      baselineSource,
      candidateSource: 'measured now',
      environment: { 'Candidate server': env.server_version || '—', 'Candidate hardware': env.hardware || '—', Measurements: String(result.candidate.repeats.length) },
      durationS: result.durationS,
    },
    settings,
    io,
    deps,
  );
}

