/**
 * The compare, regress and baseline-export commands as functions the CLI wires up. The file and
 * clock access they need comes in through `RegressDeps` (defaults: node's fs and Date), and the
 * measurement of `regress` is injected, so everything here runs in tests without a server.
 *
 * - `compareCommand(baselineRef, candidateRef, flags, io)`: two runs (ids in the database, or
 *   baseline JSON files) compared; writes JUnit / Markdown / HTML when asked; returns the exit code.
 * - `regress({ baseline, measure, thresholds, repeats, research })`: measures the baseline's
 *   recommended configuration again `repeats` times (and optionally searches again) and compares.
 *   `finishComparison` then writes the outputs and prints, as for compare.
 * - `exportBaselineCommand(runRef, flags, io)`: a stored run as a baseline JSON file.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { existingDbPath, type CliIO } from '../cli/io.js';
import { UsageError } from '../domain/errors.js';
import { toolVersion } from '../cli/version.js';
import type { LoadPoint } from '../domain/measurement.js';
import type { ServingConfig } from '../domain/serving.js';
import { Store } from '../store/store.js';
import { describeConfig } from '../report/specs.js';
import { configSummary, summarizeComparison, SUMMARY_SCHEMA_VERSION, type BaselineExportSummary } from '../report/summary.js';
import { baselineJson, exportBaseline, loadBaseline } from './baseline.js';
import {
  BaselineError,
  BASELINE_SCHEMA,
  BASELINE_SCHEMA_VERSION,
  baselineRecommended,
  compareDocs,
  configFromJson,
  findTrial,
  measuredFromTrial,
  pointToJson,
  reportDataFromDoc,
  type BaselineDoc,
  type BaselineTrial,
} from './doc.js';
import { compare, DEFAULT_THRESHOLDS, exitCodeForVerdict, formatFigure, median, operatingLoad, throughputAtTarget, type Comparison, type Measured, type Thresholds } from './compare.js';
import type { FixedLoad } from '../domain/measurement.js';
import { bestPoint } from '../domain/target.js';
import { renderJUnit } from './junit.js';
import { renderMarkdown } from './markdown.js';
import { renderComparisonHtml } from './html.js';

// ---------------------------------------------------------------------------------------------
// Flags, environment and profile keys

/** Options of compare and regress, for the CLI's option table (kebab-case flags, like RUN_OPTIONS). */
export interface RegressOptionSpec {
  key: string;
  flags: string;
  description: string;
  defaultText?: string;
  env?: string;
  /** Dotted profile key (regress only; the plan loader must accept it). */
  profileKey?: string;
  commands: ('compare' | 'regress')[];
}

export const REGRESS_OPTIONS: readonly RegressOptionSpec[] = [
  { key: 'baseline', flags: '--baseline <run|file>', description: "baseline: a baseline JSON file, or a run in the database ('latest' or a run id)", env: 'TANALYZE_BASELINE', commands: ['regress'] },
  { key: 'maxThroughputDrop', flags: '--max-throughput-drop <fraction>', description: 'largest accepted fall of throughput at the p99 target: 5% or 0.05', defaultText: '5%', env: 'TANALYZE_MAX_THROUGHPUT_DROP', profileKey: 'regress.max_throughput_drop', commands: ['compare', 'regress'] },
  { key: 'maxP99Rise', flags: '--max-p99-rise <fraction>', description: "largest accepted rise of p99 at the baseline's load: 10% or 0.1", defaultText: '10%', env: 'TANALYZE_MAX_P99_RISE', profileKey: 'regress.max_p99_rise', commands: ['compare', 'regress'] },
  { key: 'maxNoise', flags: '--max-noise <fraction>', description: 'most noise allowance (from repeated measurements) added to a threshold', defaultText: '10%', profileKey: 'regress.max_noise', commands: ['compare', 'regress'] },
  { key: 'repeats', flags: '--repeats <n>', description: "times to measure the baseline's recommended configuration (2 or more give a noise allowance)", defaultText: '3', profileKey: 'regress.repeats', commands: ['regress'] },
  { key: 'research', flags: '--research', description: 'also search the profile\'s space again and compare its best configuration', profileKey: 'regress.research', commands: ['regress'] },
  { key: 'junit', flags: '--junit <file>', description: 'write a JUnit XML file: one test case per check', commands: ['compare', 'regress'] },
  { key: 'markdown', flags: '--markdown <file>', description: 'write a Markdown summary (e.g. "$GITHUB_STEP_SUMMARY")', commands: ['compare', 'regress'] },
  { key: 'html', flags: '--html <file>', description: 'write the comparison page: baseline against candidate on one chart', commands: ['compare', 'regress'] },
  { key: 'saveBaseline', flags: '--save-baseline <file>', description: 'write the new measurements as a baseline JSON file (to keep as the next baseline)', commands: ['regress'] },
  { key: 'db', flags: '--db <file>', description: 'SQLite database of runs', defaultText: 'reports/tanalyze.db', env: 'TANALYZE_DB', commands: ['compare', 'regress'] },
  { key: 'json', flags: '--json', description: 'print one JSON summary on stdout instead of text', commands: ['compare', 'regress'] },
];

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
 * keys such as `regress.max_throughput_drop`), then defaults. Every problem is reported at once.
 */
export function resolveComparisonSettings(
  flags: Record<string, unknown>,
  env: Record<string, string | undefined>,
  cwd: string,
  profileValues: Record<string, unknown> = {},
  profileFile = 'profile',
): ComparisonSettings {
  const problems: string[] = [];
  const spec = (key: string) => REGRESS_OPTIONS.find((o) => o.key === key) as RegressOptionSpec;
  const pick = (key: string): { value: unknown; from: string } | undefined => {
    const o = spec(key);
    if (flags[key] !== undefined && flags[key] !== false) return { value: flags[key], from: o.flags.split(' ')[0] as string };
    if (o.env && env[o.env] !== undefined && env[o.env] !== '') return { value: env[o.env], from: `${o.env} (environment)` };
    if (o.profileKey && profileValues[o.profileKey] !== undefined) return { value: profileValues[o.profileKey], from: `${profileFile}: ${o.profileKey}` };
    return undefined;
  };
  const fraction = (key: string, fallback: number, max?: number): number => {
    const s = pick(key);
    if (s === undefined) return fallback;
    try {
      return parseFraction(s.from, s.value, max === undefined ? {} : { max });
    } catch (e) {
      problems.push(...(e as UsageError).problems);
      return fallback;
    }
  };
  const thresholds = {
    maxThroughputDrop: fraction('maxThroughputDrop', DEFAULT_THRESHOLDS.maxThroughputDrop, 1),
    maxP99Rise: fraction('maxP99Rise', DEFAULT_THRESHOLDS.maxP99Rise),
    maxNoise: fraction('maxNoise', DEFAULT_THRESHOLDS.maxNoise, 1),
  };
  let repeats = 3;
  const r = pick('repeats');
  if (r !== undefined) {
    const n = typeof r.value === 'number' ? r.value : /^\d+$/.test(String(r.value).trim()) ? Number(String(r.value).trim()) : NaN;
    if (!Number.isSafeInteger(n) || n < 1 || n > 50) problems.push(`${r.from}: '${String(r.value)}' is not a number of repeats; accepted: an integer from 1 to 50`);
    else repeats = n;
  }
  let research = false;
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
      problems.push(`${spec(key).flags.split(' ')[0]}: needs a file name`);
      return null;
    }
    return resolve(cwd, v);
  };
  const settings: ComparisonSettings = {
    thresholds,
    repeats,
    research,
    junit: path('junit'),
    markdown: path('markdown'),
    html: path('html'),
    saveBaseline: path('saveBaseline'),
    db: resolve(cwd, (flags.db as string | undefined) ?? env.TANALYZE_DB ?? join('reports', 'tanalyze.db')),
    json: flags.json === true,
  };
  if (problems.length) throw new UsageError(problems, 'Thresholds are fractions of the baseline: --max-throughput-drop 5% --max-p99-rise 10%.');
  return settings;
}

// ---------------------------------------------------------------------------------------------
// Writing and printing a comparison (compare and regress)

export interface RegressDeps {
  writeFile: (path: string, text: string) => Promise<void>;
  now: () => Date;
  openStore: (file: string) => Store;
  toolVersion: () => string;
}

export const defaultDeps: RegressDeps = {
  writeFile: async (path, text) => {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text, 'utf8');
  },
  now: () => new Date(),
  openStore: (file) => Store.open(file),
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
export async function finishComparison(input: FinishInput, settings: ComparisonSettings, io: CliIO, deps: RegressDeps = defaultDeps): Promise<number> {
  const c = input.comparison;
  const now = deps.now().toISOString();
  const version = deps.toolVersion();
  const props: Record<string, string> = {};
  if (input.baselineSource) props.baseline = input.baselineSource;
  if (input.candidateSource) props.candidate = input.candidateSource;
  if (settings.html) props.report_html = settings.html;
  if (settings.junit) {
    await deps.writeFile(settings.junit, renderJUnit(c, { command: input.command, timestamp: now, durationS: input.durationS ?? 0, properties: props }));
  }
  if (settings.markdown) {
    await deps.writeFile(
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
function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BaselineError) throw new UsageError([e.message]);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// compare

/** `tanalyze compare <baseline> <candidate>`: each a baseline JSON file or a run ('latest', an id). */
export async function compareCommand(baselineRef: string, candidateRef: string, flags: Record<string, unknown>, io: CliIO, deps: RegressDeps = defaultDeps): Promise<number> {
  const settings = resolveComparisonSettings(flags, io.env, io.cwd);
  const started = deps.now().getTime();
  const meta = { exportedAt: deps.now().toISOString(), toolVersion: deps.toolVersion() };
  const common = { cwd: io.cwd, db: settings.db, openStore: deps.openStore, meta };
  const base = asUsage(() => loadBaseline(baselineRef, { ...common, what: 'compare: <baseline>' }));
  const cand = asUsage(() => loadBaseline(candidateRef, { ...common, what: 'compare: <candidate>' }));
  const { comparison, sides } = asUsage(() => compareDocs(base.doc, cand.doc, settings.thresholds, { baseline: `compare: <baseline> ${base.where}`, candidate: `compare: <candidate> ${cand.where}` }));
  return finishComparison(
    {
      comparison,
      command: 'compare',
      sides,
      baselineSource: base.where,
      candidateSource: cand.where,
      environment: {
        'Baseline server': base.doc.run.server_version || '—',
        'Baseline hardware': base.doc.run.hardware || '—',
        'Candidate server': cand.doc.run.server_version || '—',
        'Candidate hardware': cand.doc.run.hardware || '—',
      },
      durationS: (deps.now().getTime() - started) / 1000,
    },
    settings,
    io,
    deps,
  );
}

// ---------------------------------------------------------------------------------------------
// regress

/** What the measurement of one repeat is asked to measure. */
export interface MeasureTarget {
  config: ServingConfig;
  /** The baseline's config.pbtxt for it (write it as the variant, under `variantName`). */
  pbtxt: string | null;
  variantName: string;
  targetP99Ms: number;
  /** 0-based. */
  repeat: number;
  /** The baseline's operating load (concurrency or offered rate): measuring it too makes the p99 check exact. */
  fixedLoad: FixedLoad | null;
}

/** A load search's result, as measureConfiguration returns it (TrialResult plus why it stopped). */
export interface MeasureResult {
  points: LoadPoint[];
  bestIndex?: number | null;
  stopReason?: string;
  firstError?: string;
}

export type MeasureFn = (target: MeasureTarget) => Promise<MeasureResult>;

export interface RegressOptions {
  baseline: BaselineDoc;
  /** How the baseline is named in messages (a file, or `<db>#<run>`). */
  baselineSource?: string;
  /** Measures the configuration once (one load search); thrown errors are infrastructure failures. */
  measure: MeasureFn;
  thresholds?: Thresholds;
  /** Measurements of the configuration (default 3). */
  repeats?: number;
  /** Optionally search again; returns the new run as a document (exportBaseline of it). */
  research?: () => Promise<BaselineDoc>;
  log?: (line: string) => void;
  now?: () => Date;
  /** Facts about the candidate's environment, for the page and the saved baseline. */
  environment?: { serverVersion?: string; hardware?: string; launch?: string; toolVersion?: string };
}

export interface RegressResult {
  comparison: Comparison;
  /** For the comparison page: baseline, candidate, candidate best. */
  sides: Measured[];
  candidate: Measured;
  candidateBest: Measured | null;
  /** The fresh measurements as a baseline document (for --save-baseline). */
  candidateDoc: BaselineDoc;
  durationS: number;
}

function lowestP99Trial(doc: BaselineDoc): BaselineTrial | null {
  const lowest = (t: BaselineTrial) => Math.min(...t.measurements.flat().map((p) => (p.p99_ms === null ? Infinity : p.p99_ms)));
  const measured = doc.trials.filter((t) => t.state !== 'FAILED' && t.state !== 'SKIPPED' && t.measurements.some((m) => m.length > 0));
  return [...measured].sort((a, b) => lowest(a) - lowest(b))[0] ?? null;
}

/**
 * Measures the baseline's recommended configuration again `repeats` times through `measure`,
 * optionally searches again, and compares against the baseline at the baseline's p99 target.
 * A thrown measurement, or requests failing at the lightest load, make the verdict
 * `infrastructure` unless a re-search measured something.
 */
export async function regress(opts: RegressOptions): Promise<RegressResult> {
  const now = opts.now ?? (() => new Date());
  const log = opts.log ?? (() => {});
  const started = now().getTime();
  const source = opts.baselineSource ?? '--baseline';
  const doc = opts.baseline;
  const baseTrial = asUsage(() => baselineRecommended(doc, source));
  const baseline = measuredFromTrial(doc, baseTrial, 'baseline');
  const target = doc.run.target_p99_ms;
  const config = configFromJson(baseTrial.config);
  const fixed = baseline.repeats.map((r) => operatingLoad(r, target)).find((c) => c !== null) ?? null;
  const repeats = Math.max(1, Math.floor(opts.repeats ?? 3));

  const measured: LoadPoint[][] = [];
  let infra: string | null = null;
  let failed: string | null = null;
  for (let i = 0; i < repeats; i++) {
    log(`[${i + 1}/${repeats}] measuring the baseline's configuration: ${describeConfig(config)}`);
    let res: MeasureResult;
    try {
      res = await opts.measure({ config, pbtxt: baseTrial.pbtxt, variantName: baseTrial.variant_name, targetP99Ms: target, repeat: i, fixedLoad: fixed });
    } catch (e) {
      infra = (e as Error)?.message ?? String(e);
      log(`  measurement failed: ${infra}`);
      break;
    }
    measured.push(res.points);
    const tp = throughputAtTarget(res.points, target);
    log(`  ${tp === null ? `no load point within the ${target} ms target` : `${formatFigure(tp, 'inf/s')} within the target`} (${res.points.length} load points)`);
    if (res.stopReason?.startsWith('errors')) {
      failed = `requests failed: ${res.firstError ?? res.stopReason}`;
      break;
    }
  }
  const feasible = measured.some((r) => throughputAtTarget(r, target) !== null);
  const candidate: Measured = {
    label: 'candidate',
    runId: null,
    trialIndex: null,
    variantName: baseTrial.variant_name,
    config,
    state: infra !== null || failed !== null ? 'FAILED' : feasible ? 'COMPLETE' : 'INFEASIBLE',
    error: infra ?? failed,
    repeats: measured,
  };

  let candidateBest: Measured | null = null;
  let researchError: string | null = null;
  if (opts.research) {
    log('searching the space again');
    try {
      const found = await opts.research();
      const t = findTrial(found, found.recommended_index) ?? lowestP99Trial(found);
      if (t) candidateBest = measuredFromTrial(found, t, 'candidate best');
      else researchError = `the new search (run ${found.run.id}) measured no configuration`;
    } catch (e) {
      researchError = `the new search failed: ${(e as Error)?.message ?? String(e)}`;
    }
  }
  const bestMeasured = candidateBest !== null && candidateBest.state !== 'FAILED';
  const comparison = compare({
    model: doc.run.model,
    targetP99Ms: target,
    baseline,
    candidate,
    candidateBest,
    ...(opts.thresholds ? { thresholds: opts.thresholds } : {}),
    fixedLoad: fixed,
    infrastructureError: (infra !== null || failed !== null) && !bestMeasured ? (infra ?? failed) : null,
  });
  if (researchError && comparison.verdict !== 'infrastructure') {
    // The re-measurement was compared; the failed search is an error check, and the verdict
    // when nothing else failed (a regression or a missed SLA says more and is kept).
    comparison.checks.push({
      id: 'measurement', name: 'search again', status: 'error', unit: '', baseline: null, candidate: null, worse: null, threshold: null, noise: null, allowance: null,
      lowerBound: false, withinNoise: false, samples: { baseline: [], candidate: [] }, message: researchError,
    });
    if (comparison.verdict === 'pass') {
      comparison.verdict = 'infrastructure';
      comparison.exitCode = exitCodeForVerdict('infrastructure');
      comparison.headline = `Infrastructure failure: ${researchError}. ${comparison.headline}`;
    }
  }
  const end = now();
  return {
    comparison,
    sides: [baseline, candidate, candidateBest].filter((m): m is Measured => m !== null && m.repeats.length > 0),
    candidate,
    candidateBest,
    candidateDoc: candidateDocOf(doc, baseTrial, candidate, target, end, opts.environment),
    durationS: (end.getTime() - started) / 1000,
  };
}

/** The regress measurements as a baseline of their own: one trial, every repeat as a measurement. */
function candidateDocOf(base: BaselineDoc, t: BaselineTrial, cand: Measured, target: number, at: Date, env: RegressOptions['environment']): BaselineDoc {
  const tps = cand.repeats.map((r) => throughputAtTarget(r, target));
  const feasible = tps.some((x) => x !== null);
  const objective = feasible ? median(tps.map((x) => x ?? 0)) : null;
  const atBest = bestPoint(cand.repeats.flat(), target);
  const iso = at.toISOString();
  const id = `regress-${iso.slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`;
  return {
    schema: BASELINE_SCHEMA,
    schema_version: BASELINE_SCHEMA_VERSION,
    exported_at: iso,
    tool_version: env?.toolVersion ?? base.tool_version,
    run: {
      ...base.run,
      id,
      created_at: iso,
      finished_at: iso,
      status: cand.state === 'FAILED' ? 'failed' : 'complete',
      stop_reason: `regress: ${cand.repeats.length} measurement${cand.repeats.length === 1 ? '' : 's'} of run ${base.run.id}'s recommended configuration`,
      strategy: 'regress',
      budget: 1,
      launch: env?.launch ?? base.run.launch,
      server_version: env?.serverVersion ?? '',
      hardware: env?.hardware ?? '',
      tool_version: env?.toolVersion ?? base.run.tool_version,
    },
    recommended_index: feasible && cand.state === 'COMPLETE' ? t.index : null,
    default_index: t.is_default ? t.index : null,
    trials: [
      {
        index: t.index,
        variant_name: t.variant_name,
        is_default: t.is_default,
        state: cand.state,
        error: cand.error,
        objective_ips: objective,
        p99_ms: atBest ? atBest.p99Ms : null,
        pbtxt: t.pbtxt,
        config: t.config,
        measurements: cand.repeats.map((r) => r.map(pointToJson)),
      },
    ],
  };
}

/**
 * After `regress`: saves the candidate as a baseline when asked (--save-baseline), writes the
 * outputs and prints; returns the exit code. The lead's regress command calls this last.
 */
export async function finishRegress(result: RegressResult, settings: ComparisonSettings, io: CliIO, baselineSource: string, deps: RegressDeps = defaultDeps): Promise<number> {
  if (settings.saveBaseline) await deps.writeFile(settings.saveBaseline, baselineJson(result.candidateDoc));
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

// ---------------------------------------------------------------------------------------------
// baseline export

/**
 * `tanalyze baseline export <run> [--out FILE] [--db FILE] [--json]`: the stored run as a
 * baseline JSON file; without --out the document goes to stdout.
 */
export async function exportBaselineCommand(runRef: string, flags: Record<string, unknown>, io: CliIO, deps: RegressDeps = defaultDeps): Promise<number> {
  const db = existingDbPath(flags, io);
  const store = deps.openStore(db);
  let doc: BaselineDoc;
  try {
    doc = asUsage(() => {
      try {
        return exportBaseline(store, runRef, { exportedAt: deps.now().toISOString(), toolVersion: deps.toolVersion() });
      } catch (e) {
        if ((e as { name?: string; code?: string }).name === 'StoreError' && (e as { code?: string }).code === 'not-found') throw new BaselineError(`baseline export: ${(e as Error).message}`);
        throw e;
      }
    });
  } finally {
    store.close();
  }
  const out = typeof flags.out === 'string' && flags.out !== '' ? resolve(io.cwd, flags.out) : null;
  if (!out) {
    io.stdout(baselineJson(doc));
    return 0;
  }
  await deps.writeFile(out, baselineJson(doc));
  const rec = findTrial(doc, doc.recommended_index);
  const data = reportDataFromDoc(doc);
  const recTrial = data.trials.find((t) => t.index === doc.recommended_index);
  if (flags.json === true) {
    const summary: BaselineExportSummary = {
      kind: 'baseline-export',
      schema_version: SUMMARY_SCHEMA_VERSION,
      run_id: doc.run.id,
      model: doc.run.model,
      file: out,
      recommended: recTrial ? configSummary(recTrial) : null,
    };
    io.stdout(JSON.stringify(summary, null, 2) + '\n');
  } else {
    io.stdout(
      `Baseline of run ${doc.run.id} (${doc.run.model}, p99 target ${doc.run.target_p99_ms} ms) written to ${out.startsWith(io.cwd) ? relative(io.cwd, out) : out}` +
        (rec ? `\nRecommended: ${describeConfig(configFromJson(rec.config))}, ${formatFigure(rec.objective_ips, 'inf/s')} at p99 ${formatFigure(rec.p99_ms, 'ms')}\n` : '\nThe run has no recommended configuration: it cannot serve as a baseline for compare or regress.\n'),
    );
  }
  return 0;
}
