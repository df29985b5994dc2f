import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fromPackageRoot } from '../util/package-root.js';
import { figurePoint, kneePointsOf, lowestP99Point, paretoFrontier } from './pareto.js';
import { trialFeasible, uncertainPass } from '../domain/target.js';
import { formatDiff, hasChanges, lineDiff } from './diff.js';
import { describeLoad, loadOf, measurementsOf } from '../domain/measurement.js';
import {
  allSpecs,
  describeConfig,
  formatCi,
  formatDelay,
  formatIps,
  formatLevel,
  formatMs,
  formatNumber,
  frontierTrials,
  pointFlag,
  pointRows,
  type PointFlag,
} from './specs.js';
import type { ReportData, ReportPoint, ReportTrial } from './types.js';

/** The browser builds inlined into the page, so it works offline. */
export interface VegaAssets {
  vega: string;
  vegaLite: string;
  vegaEmbed: string;
  /** The installed vega package's version (its 6.x builds still report "5.33.1"). */
  vegaVersion?: string;
}

const BUILDS = {
  vega: ['vega', 'build/vega.min.js'],
  vegaLite: ['vega-lite', 'build/vega-lite.min.js'],
  vegaEmbed: ['vega-embed', 'build/vega-embed.min.js'],
} as const;

/**
 * The build file of a package. The packages do not export their build/ folders, so resolve
 * the package's entry point and walk up to its package.json; fall back to node_modules/.
 */
export function resolveBuild(pkg: string, file: string): string {
  try {
    const req = createRequire(import.meta.url);
    let dir = dirname(req.resolve(pkg));
    for (;;) {
      const manifest = join(dir, 'package.json');
      if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === pkg) {
        const p = join(dir, file);
        if (existsSync(p)) return p;
        break;
      }
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  } catch {
    // fall through to the package-root path
  }
  return fromPackageRoot('node_modules', pkg, file);
}

let cachedAssets: VegaAssets | undefined;

export function loadVegaAssets(): VegaAssets {
  if (cachedAssets) return cachedAssets;
  const read = ([pkg, file]: readonly [string, string]) => {
    const p = resolveBuild(pkg, file);
    try {
      return readFileSync(p, 'utf8');
    } catch (e) {
      throw new Error(`report: cannot read the ${pkg} browser build at ${p} (${(e as Error).message}); is ${pkg} installed?`);
    }
  };
  let vegaVersion: string | undefined;
  try {
    vegaVersion = JSON.parse(read(['vega', 'package.json'])).version;
  } catch {
    // only used to correct a stale version string
  }
  cachedAssets = { vega: read(BUILDS.vega), vegaLite: read(BUILDS.vegaLite), vegaEmbed: read(BUILDS.vegaEmbed), vegaVersion };
  return cachedAssets;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** JSON safe inside <script>: no `</script`, `<!--` or `-->` can appear, and it still parses as the same JSON. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** A library build safe inside <script>; the source map comment would only point at a missing file. */
export function scriptForInline(js: string): string {
  return js
    .replace(/\n?\/\/# sourceMappingURL=\S*\s*$/, '\n')
    .replace(/<\/script/gi, '<\\/script')
    .replace(/<!--/g, '<\\!--');
}

/**
 * vega 6.x builds report version "5.33.1", so vega-embed warns on every chart that the compiled
 * spec (Vega v6) does not match; state the installed version before vega-embed reads it.
 */
export function versionFix(version: string | undefined): string {
  if (!version || !/^\d+\.\d+\.\d+/.test(version)) return '';
  const v = JSON.stringify(version);
  return `\n;if (typeof vega === 'object' && String(vega.version).split('.')[0] !== ${v}.split('.')[0]) vega.version = ${v};\n`;
}

function findTrial(data: ReportData, index: number | null): ReportTrial | undefined {
  return index === null ? undefined : data.trials.find((t) => t.index === index);
}

function defaultTrial(data: ReportData): ReportTrial | undefined {
  return findTrial(data, data.defaultIndex) ?? data.trials.find((t) => t.isDefault);
}

function recommendedTrial(data: ReportData): ReportTrial | undefined {
  const t = findTrial(data, data.recommendedIndex);
  return t && t.objectiveIps !== null ? t : undefined;
}

function formatRatio(r: number): string {
  return r >= 10 ? r.toFixed(0) : r < 1.1 ? r.toFixed(2) : r.toFixed(1);
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return String(s);
  if (s < 60) return `${s.toFixed(1)} s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h} h ${pad(m)} m ${pad(sec)} s` : `${m} m ${pad(sec)} s`;
}

/** The one sentence that answers "what should I run?" (plain text; escape before use in HTML). */
export function headlineText(data: ReportData): string {
  const target = `${formatNumber(data.run.targetP99Ms)} ms`;
  const rec = recommendedTrial(data);
  const def = defaultTrial(data);
  if (rec) {
    const ips = rec.objectiveIps as number;
    const at = rec.p99Ms !== null ? ` at p99 ${formatMs(rec.p99Ms)} ms` : '';
    const base = `Recommended: ${describeConfig(rec.config)}`;
    const unsure = uncertainPassNote(rec, data.run.targetP99Ms);
    const caveat = unsure ? ` ${unsure[0]!.toUpperCase()}${unsure.slice(1)}.` : '';
    if (def && def.index === rec.index) {
      return `${base} — the default configuration is already the best found: ${formatIps(ips)} inf/s${at}, within the ${target} target.${caveat}`;
    }
    if (def && trialFeasible(def, data.run.targetP99Ms) && (def.objectiveIps as number) > 0) {
      const d = def.objectiveIps as number;
      return `${base} — ${formatRatio(ips / d)}x the throughput of the default configuration (${formatIps(ips)} vs ${formatIps(d)} inf/s)${at}, within the ${target} target.${caveat}`;
    }
    let tail = '';
    if (def) {
      const why = def.state === 'FAILED' ? 'failed' : def.p99Ms !== null ? `did not meet the target (lowest p99 ${formatMs(def.p99Ms)} ms)` : 'did not meet the target';
      tail = ` The default configuration ${why}.`;
    }
    return `${base} — ${formatIps(ips)} inf/s${at}, within the ${target} target.${caveat}${tail}`;
  }
  const measured = data.trials.filter((t) => t.state !== 'FAILED' && t.state !== 'SKIPPED' && t.points.length > 0);
  if (measured.length === 0) {
    const failed = data.trials.filter((t) => t.state === 'FAILED').length;
    return `No configuration met the ${target} p99 target: none completed a measurement (${failed} of ${data.trials.length} failed).`;
  }
  let closest: { t: ReportTrial; p99: number; ips: number } | null = null;
  for (const t of measured) {
    const p = lowestP99Point(t.points);
    if (p && (closest === null || p.p99Ms < closest.p99)) closest = { t, p99: p.p99Ms, ips: p.throughputIps };
  }
  const near = closest
    ? ` The lowest p99 measured was ${formatMs(closest.p99)} ms (${describeConfig(closest.t.config)}, at ${formatIps(closest.ips)} inf/s).`
    : '';
  return `No configuration met the ${target} p99 target.${near} Loosen the target or widen the search space.`;
}

/**
 * "not certain: the p99 confidence interval (4.1–5.6 ms) reaches above the target" when a
 * feasible trial's best point meets the target by its p99 but not by its interval; else null.
 */
export function uncertainPassNote(t: ReportTrial, targetP99Ms: number): string | null {
  const p = trialFeasible(t, targetP99Ms) ? figurePoint(t, targetP99Ms) : null;
  if (!p || !uncertainPass(p, targetP99Ms)) return null;
  return `not certain: the p99 confidence interval (${formatCi(p)} ms) reaches above the target`;
}

/** A machine-readable summary of the report (the same facts the page states). */
export function renderReportJson(data: ReportData) {
  const rec = recommendedTrial(data);
  const def = defaultTrial(data);
  const brief = (t: ReportTrial | undefined) =>
    t ? { index: t.index, variant: t.variantName, config: t.config, state: t.state, throughput_ips: t.objectiveIps, p99_ms: t.p99Ms } : null;
  const speedup =
    rec && def && trialFeasible(def, data.run.targetP99Ms) && (def.objectiveIps as number) > 0
      ? (rec.objectiveIps as number) / (def.objectiveIps as number)
      : null;
  const frontier = paretoFrontier(pointRows(data), (r) => r.throughput_ips, (r) => r.p99_ms).map((r) => ({
    trial: r.trial,
    concurrency: r.concurrency,
    throughput_ips: r.throughput_ips,
    p99_ms: r.p99_ms,
  }));
  return {
    run: data.run,
    headline: headlineText(data),
    recommended: brief(rec),
    default: brief(def),
    speedup_vs_default: speedup,
    recommended_pbtxt: data.recommendedPbtxt,
    frontier,
    trials: [...data.trials]
      .sort((a, b) => a.index - b.index)
      .map((t) => ({
        ...brief(t),
        load_points: t.points.length,
        repeated_points: t.points.filter((p) => measurementsOf(p) > 1).length,
        knee_confirmation_points: kneePointsOf(t, data.run),
        error: t.error,
        is_default: t.isDefault,
      })),
  };
}

export const CSS = `
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#ffffff; --soft:#f6f8fa; --blue:#1f6feb;
  --green:#1a7f37; --green-bg:#dafbe1; --orange:#bf5b04; --orange-bg:#fff1e5; --red:#cf222e; --red-bg:#ffebe9; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
main { max-width:1120px; margin:0 auto; padding:28px 24px 48px; }
header .eyebrow { margin:0; color:var(--muted); font-size:13px; text-transform:uppercase; letter-spacing:.06em; }
h1 { margin:2px 0 4px; font-size:26px; word-break:break-word; }
h2 { margin:36px 0 8px; font-size:18px; border-bottom:1px solid var(--line); padding-bottom:6px; }
.meta, .caption { color:var(--muted); font-size:13px; margin:0 0 8px; }
.headline { margin:18px 0 8px; padding:14px 18px; border-radius:8px; font-size:17px; font-weight:500;
  border:1px solid var(--line); border-left:6px solid var(--green); background:var(--green-bg); }
.headline.none { border-left-color:var(--red); background:var(--red-bg); }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(190px,1fr)); gap:12px; margin:16px 0 0; }
.card { border:1px solid var(--line); border-radius:8px; padding:10px 14px; background:var(--soft); }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .v { font-size:22px; font-weight:600; font-variant-numeric:tabular-nums; }
.card .s { color:var(--muted); font-size:12px; }
.chart { width:100%; min-height:120px; border:1px solid var(--line); border-radius:8px; padding:12px 12px 4px; }
.chart .vega-embed { width:100%; }
.chart-error { color:var(--red); padding:12px; }
pre { background:var(--soft); border:1px solid var(--line); border-radius:8px; padding:12px 14px; overflow:auto;
  font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; white-space:pre; }
details { margin-top:10px; } summary { cursor:pointer; color:var(--muted); }
.table-wrap { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:13.5px; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:var(--soft); font-weight:600; font-size:12.5px; }
table.trials th { vertical-align:bottom; }
table.trials th.num { min-width:72px; }
td.num { white-space:nowrap; }
td.notes { min-width:230px; }
.variant { color:var(--muted); font-family:ui-monospace,Menlo,Consolas,monospace; font-size:12px; word-break:break-all; }
td.num, th.num { text-align:right; }
tbody tr:nth-child(even) { background:#fbfcfd; }
tr.recommended { background:var(--green-bg) !important; box-shadow:inset 4px 0 0 var(--green); }
tr.default { background:var(--orange-bg) !important; box-shadow:inset 4px 0 0 var(--orange); }
.tag { display:inline-block; font-size:11px; font-weight:600; padding:0 6px; border-radius:10px; margin-top:2px; white-space:nowrap; }
.tag.rec { background:var(--green); color:#fff; } .tag.def { background:var(--orange); color:#fff; }
.tag.client-limited { background:#8250df; color:#fff; cursor:help; } .tag.unreliable { background:var(--red); color:#fff; cursor:help; }
.ci { cursor:help; }
.state { font-size:12px; font-weight:600; }
.state.COMPLETE { color:var(--green); } .state.INFEASIBLE { color:var(--orange); } .state.FAILED { color:var(--red); }
.state.SKIPPED, .state.RUNNING { color:var(--muted); }
.err { color:var(--red); white-space:pre-wrap; word-break:break-word; font-family:ui-monospace,Menlo,Consolas,monospace; font-size:12px; }
.note { color:var(--muted); font-size:12.5px; }
table.kv { width:auto; min-width:50%; } table.kv th { width:220px; background:none; }
footer { margin-top:40px; color:var(--muted); font-size:12px; }
.chart-pair { display:grid; grid-template-columns:repeat(auto-fit,minmax(420px,1fr)); gap:12px; }
.chart-pair h3 { margin:4px 0 6px; font-size:14px; font-weight:600; }
table.sortable th[data-sort] { cursor:pointer; user-select:none; white-space:nowrap; }
table.sortable th[data-sort]::after { content:'\\2195'; color:#b0b8c1; margin-left:4px; font-size:11px; }
table.sortable th[aria-sort=ascending]::after { content:'\\25B2'; color:var(--blue); }
table.sortable th[aria-sort=descending]::after { content:'\\25BC'; color:var(--blue); }
pre.diff .add { background:var(--green-bg); color:#116329; display:block; }
pre.diff .del { background:var(--red-bg); color:#82071e; display:block; }
pre.diff .ctx { color:var(--muted); display:block; }
pre.diff .hdr { color:var(--fg); font-weight:600; display:block; }
`;

// ---- The p99 interval and the flags of a trial's chosen point (see ReportPoint).

/** "95 % confidence interval of p99: 35.9 to 39.2 ms" (plain text). */
function ciTitle(p: ReportPoint): string {
  const ci = p.p99CiMs as [number, number];
  const level = formatLevel(p.ciLevel);
  const head = `${level ? `${level} ` : ''}confidence interval of p99`;
  return Number.isFinite(ci[1])
    ? `${head}: ${formatMs(ci[0])} to ${formatMs(ci[1])} ms`
    : `${head}: at least ${formatMs(ci[0])} ms; too few requests were measured to bound it above`;
}

/** " (35.9–39.2)" after a p99 figure, with its meaning as a tooltip; empty without an interval. */
function ciSuffixHtml(p: ReportPoint | null): string {
  const text = p ? formatCi(p) : null;
  return p && text ? ` <span class="note ci" title="${escapeHtml(ciTitle(p))}">(${escapeHtml(text)})</span>` : '';
}

function flagTag(flag: PointFlag): string {
  return `<span class="tag ${flag.kind}" title="${escapeHtml(flag.reason)}">${flag.kind}</span>`;
}

/** Whether any load point of the run carries a p99 interval, and whether any is flagged. */
function measurementExtras(data: ReportData): { ci: boolean; flags: boolean; level: string } {
  const points = data.trials.flatMap((t) => t.points);
  const withCi = points.filter((p) => p.p99CiMs !== undefined);
  const levels = new Set(withCi.map((p) => formatLevel(p.ciLevel)));
  return { ci: withCi.length > 0, flags: points.some((p) => pointFlag(p) !== null), level: levels.size === 1 ? ([...levels][0] as string) : '' };
}

/** What the intervals and flags mean; empty for a run that has neither (older runs, replayed or simulated ones). */
export function measurementNoteText(data: ReportData): string {
  const extras = measurementExtras(data);
  const parts: string[] = [];
  if (extras.ci) {
    parts.push(
      `Error bars and the figures in brackets are the ${extras.level ? `${extras.level} ` : ''}confidence interval of p99, exact from the order statistics of the requests measured: the true p99 at that load lies inside it${extras.level ? ` with ${extras.level} confidence` : ''} (∞: too few requests to bound it above). Configurations whose intervals overlap may not really differ in p99. On this chart the bars are at each configuration's chosen point, the one its row in the table reports.`,
    );
  }
  if (extras.flags) {
    parts.push(
      'Hollow points are flagged. Client-limited: the load generator (its CPU or event loop), not the server, limited throughput, so the server may manage more than measured. Unreliable: the figures cannot be trusted (for example the open-loop client fell behind its schedule); such a point never counts as meeting the target. Hover a point for the reason.',
    );
  }
  return parts.join(' ');
}

function card(k: string, v: string, s: string): string {
  return `<div class="card"><div class="k">${escapeHtml(k)}</div><div class="v">${escapeHtml(v)}</div><div class="s">${escapeHtml(s)}</div></div>`;
}

/** " (CI 35.9–39.2) · client-limited" after a card's p99 (plain text); empty for a point with neither. */
function pointNote(p: ReportPoint | null): string {
  if (!p) return '';
  const ci = formatCi(p);
  const flag = pointFlag(p);
  return `${ci ? ` (CI ${ci})` : ''}${flag ? ` · ${flag.kind}` : ''}`;
}

function cards(data: ReportData): string {
  const rec = recommendedTrial(data);
  const def = defaultTrial(data);
  const target = data.run.targetP99Ms;
  const out: string[] = [];
  out.push(
    rec
      ? card('Best within target', `${formatIps(rec.objectiveIps as number)} inf/s`, rec.p99Ms !== null ? `p99 ${formatMs(rec.p99Ms)} ms${pointNote(figurePoint(rec, target))}` : '')
      : card('Best within target', 'none', `no configuration met ${formatNumber(target)} ms`),
  );
  if (def) {
    out.push(
      trialFeasible(def, target)
        ? card('Default configuration', `${formatIps(def.objectiveIps as number)} inf/s`, `p99 ${formatMs(def.p99Ms as number)} ms`)
        : card('Default configuration', def.state === 'FAILED' ? 'failed' : 'over target', def.p99Ms !== null ? `lowest p99 ${formatMs(def.p99Ms)} ms` : ''),
    );
  }
  const conf = data.confirmation;
  if (conf?.recommended && (conf.recommended.trialIndexes.length > 1 || conf.runnerUp)) {
    const f = conf.recommended;
    const iv = (x: [number, number]) => `${formatIps(x[0])}–${formatIps(x[1])}`;
    const lvl = `${Math.round(conf.level * 100)}%`;
    const runner = conf.runnerUp
      ? `; runner-up (trial ${conf.runnerUp.representativeIndex}) ${formatIps(conf.runnerUp.meanIps)} inf/s over ${conf.runnerUp.trialIndexes.length}, ${lvl} interval ${iv(conf.runnerUp.intervalIps)}${conf.cannotTellApart ? ': the two cannot be told apart' : ''}`
      : '';
    out.push(card('Measured again', `${f.trialIndexes.length}× · mean ${formatIps(f.meanIps)} inf/s`,
      `measurements ${f.throughputsIps.map(formatIps).join(', ')}; ${lvl} interval ${iv(f.intervalIps)}${runner}`));
  }
  if (rec && def && trialFeasible(def, target) && (def.objectiveIps as number) > 0) {
    out.push(card('Speed-up vs default', `${formatRatio((rec.objectiveIps as number) / (def.objectiveIps as number))}x`, 'same p99 target'));
  }
  const counts = { ok: 0, over: 0, failed: 0 };
  for (const t of data.trials) {
    if (trialFeasible(t, target)) counts.ok++;
    else if (t.state === 'FAILED') counts.failed++;
    else counts.over++;
  }
  out.push(
    card(
      'Configurations measured',
      `${data.trials.length}${data.run.budget ? ` / ${data.run.budget}` : ''}`,
      `${counts.ok} within target, ${counts.over} not, ${counts.failed} failed`,
    ),
  );
  return `<div class="cards">${out.join('')}</div>`;
}

/** A sortable header cell: `num` columns sort by each cell's data-v, `text` ones by their text. */
function th(label: string, sort: 'num' | 'text', cls = ''): string {
  return `<th${cls ? ` class="${cls}"` : ''} data-sort="${sort}" tabindex="0" role="columnheader" aria-sort="none" title="sort by ${escapeHtml(label)}">${escapeHtml(label)}</th>`;
}

/** A numeric sort key for a cell: empty (sorts last) when there is no value. */
function sortKey(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '' : String(n);
}

/** The chosen point's flag as a badge, then a count of the trial's other flagged points; the reasons are title tooltips. */
function flagsCell(t: ReportTrial, chosen: ReportPoint | null): string {
  const own = chosen ? pointFlag(chosen) : null;
  const others = t.points.filter((p) => p !== chosen).flatMap((p) => {
    const flag = pointFlag(p);
    return flag ? [{ flag, line: `${describeLoad(loadOf(p))}: ${flag.kind}, ${flag.reason}` }] : [];
  });
  let cell = own ? flagTag(own) : '';
  if (others.length) {
    const kinds = new Set(others.map((o) => o.flag.kind));
    const what = `${others.length} ${own ? 'other ' : ''}load point${others.length === 1 ? '' : 's'} ${kinds.size === 1 ? [...kinds][0] : 'flagged'}`;
    cell += `<div class="note ci" title="${escapeHtml(others.map((o) => o.line).join('\n'))}">${what}</div>`;
  }
  return cell;
}

function trialsTable(data: ReportData): string {
  const target = data.run.targetP99Ms;
  const rec = recommendedTrial(data);
  const def = defaultTrial(data);
  const withPreferred = data.trials.some((t) => t.config.preferredBatchSizes.length > 0);
  const withFlags = measurementExtras(data).flags;
  const head = [
    th('#', 'num', 'num'),
    th('max_batch_size', 'num', 'num'),
    th('queue delay', 'num', 'num'),
    th('instances', 'num', 'num'),
    th('precision', 'text'),
    withPreferred ? th('preferred batch', 'text') : '',
    th('state', 'text'),
    th('best throughput (inf/s)', 'num', 'num'),
    th('p99 at best (ms)', 'num', 'num'),
    th('load points', 'num', 'num'),
    withFlags ? th('flags', 'text') : '',
    th('variant and notes', 'text'),
  ].join('');
  const rows = [...data.trials]
    .sort((a, b) => a.index - b.index)
    .map((t) => {
      const isRec = rec?.index === t.index;
      const isDef = def?.index === t.index;
      const cls = isRec ? 'recommended' : isDef ? 'default' : '';
      const tags = (isRec ? '<span class="tag rec">recommended</span>' : '') + (isDef ? '<span class="tag def">default</span>' : '');
      const feasible = trialFeasible(t, target);
      const tp = feasible ? formatIps(t.objectiveIps as number) : '—';
      const chosen = figurePoint(t, target);
      const knee = kneePointsOf(t, data.run);
      const p99 = (t.p99Ms === null ? '—' : feasible ? formatMs(t.p99Ms) : `<span class="note">${formatMs(t.p99Ms)}*</span>`) + ciSuffixHtml(chosen);
      let note = `<div class="variant">${escapeHtml(t.variantName)}</div>`;
      const unsure = uncertainPassNote(t, target);
      if (unsure) note += `<div class="note">${escapeHtml(unsure)}</div>`;
      if (t.error) note += `<div class="err">${escapeHtml(t.error)}</div>`;
      else if (t.state === 'INFEASIBLE' || (!feasible && t.state === 'COMPLETE'))
        note += `<div class="note">no load point met the ${escapeHtml(formatNumber(target))} ms target${t.p99Ms !== null ? '; * marks the lowest p99 seen' : ''}</div>`;
      // No dynamic batcher sorts below every queue delay.
      const delayKey = t.config.maxQueueDelayUs === null ? -1 : t.config.maxQueueDelayUs;
      return (
        `<tr class="${cls}" data-trial="${t.index}">` +
        `<td class="num" data-v="${t.index}">${t.index}</td>` +
        `<td class="num" data-v="${t.config.maxBatchSize}">${t.config.maxBatchSize}</td>` +
        `<td class="num" data-v="${delayKey}">${escapeHtml(formatDelay(t.config.maxQueueDelayUs))}</td>` +
        `<td class="num" data-v="${t.config.instanceCount}">${t.config.instanceCount}</td>` +
        `<td>${escapeHtml(t.config.precision)}</td>` +
        (withPreferred ? `<td>${escapeHtml(t.config.preferredBatchSizes.join(', ') || '—')}</td>` : '') +
        `<td><span class="state ${escapeHtml(t.state)}">${escapeHtml(t.state)}</span>${tags ? `<div>${tags}</div>` : ''}</td>` +
        `<td class="num" data-v="${feasible ? sortKey(t.objectiveIps) : ''}">${tp}</td>` +
        `<td class="num" data-v="${sortKey(t.p99Ms)}">${p99}</td>` +
        `<td class="num" data-v="${t.points.length}">${t.points.length}${knee ? `<div class="note">${knee} to confirm the knee</div>` : ''}</td>` +
        (withFlags ? `<td>${flagsCell(t, chosen)}</td>` : '') +
        `<td class="notes">${note}</td>` +
        `</tr>`
      );
    })
    .join('\n');
  return `<div class="table-wrap"><table class="trials sortable" id="trials-table"><thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table></div>`;
}

function settingsTable(data: ReportData): string {
  const r = data.run;
  const rows: [string, string][] = [
    ['Run id', r.id],
    ['Model', r.model],
    ['Status', r.status + (r.stopReason ? ` (${r.stopReason})` : '')],
    ['Started', r.createdAt],
    ['Finished', r.finishedAt ?? '—'],
    ['Wall time', r.wallS === null ? '—' : formatDuration(r.wallS)],
    ['p99 target', `${formatNumber(r.targetP99Ms)} ms`],
    ['Search strategy', r.strategy],
    ['Seed', String(r.seed)],
    ['Budget', `${r.budget} configurations`],
    ['Launch mode', r.launch],
    ['Server version', r.serverVersion],
    ['Hardware', r.hardware],
    ['Measurement window', `${formatNumber(r.windowMs)} ms, at most ${r.maxWindows} windows, stable within ${formatNumber(r.stabilityTolerance * 100)} %`],
    ['tanalyze version', r.toolVersion],
  ];
  return `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v || '—')}</td></tr>`).join('')}</tbody></table>`;
}

/** The top-level `name: "..."` line names the variant; give both texts the model's name so only real changes show. */
function withModelName(pbtxt: string, model: string): string {
  return pbtxt.replace(/^name\s*:\s*"(?:[^"\\]|\\.)*"\s*$/m, `name: ${JSON.stringify(model)}`);
}

/** The recommended config.pbtxt against the default's, as a line diff (escaped). */
export function pbtxtDiffHtml(data: ReportData): string {
  const rec = recommendedTrial(data);
  const def = defaultTrial(data);
  if (!rec || !def || !data.recommendedPbtxt || !data.defaultPbtxt) return '';
  if (rec.index === def.index) return '<p class="note" id="pbtxt-diff-none">The recommendation is the default configuration: nothing to change.</p>';
  const diff = lineDiff(withModelName(data.defaultPbtxt, data.run.model), withModelName(data.recommendedPbtxt, data.run.model));
  if (!hasChanges(diff)) return '<p class="note" id="pbtxt-diff-none">The two config.pbtxt files are the same apart from the variant name.</p>';
  const text = formatDiff(diff, `default (trial ${def.index})`, `recommended (trial ${rec.index})`);
  const lines = text.replace(/\n$/, '').split('\n').map((l, i) => {
    const cls = i < 2 ? 'hdr' : l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : 'ctx';
    return `<span class="${cls}">${escapeHtml(l)}</span>`;
  });
  const added = diff.filter((d) => d.op === '+').length;
  const removed = diff.filter((d) => d.op === '-').length;
  return (
    `<h3 style="font-size:15px;margin:18px 0 6px">Changes against the default configuration</h3>` +
    `<p class="caption">${added} line${added === 1 ? '' : 's'} added, ${removed} removed (variant names replaced by the model's name). Apply the recommended file as a whole; this diff only shows what it changes.</p>` +
    `<pre class="diff" id="pbtxt-diff">${lines.join('')}</pre>`
  );
}

// Plain ES5 so any browser that opens the file runs it; views are exposed for tests and debugging.
// Also makes every table.sortable sortable by clicking (or Enter on) a header with data-sort.
export const BOOT = `
(function () {
  var views = (window.__tanalyzeViews = {});
  var specs = document.querySelectorAll('script[type="application/json"][data-chart]');
  var charts = [];
  for (var i = 0; i < specs.length; i++) charts.push([specs[i].getAttribute('data-chart'), specs[i].id]);
  function fail(el, e) {
    el.className += ' chart-error';
    el.textContent = 'The chart could not be drawn: ' + (e && e.message ? e.message : e);
    console.error(e);
  }
  function sortBy(table, th) {
    var ths = th.parentNode.children, col = 0;
    for (var k = 0; k < ths.length; k++) { if (ths[k] === th) col = k; else ths[k].setAttribute('aria-sort', 'none'); }
    var dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
    th.setAttribute('aria-sort', dir);
    var num = th.getAttribute('data-sort') === 'num', body = table.tBodies[0], rows = [];
    for (var r = 0; r < body.rows.length; r++) rows.push([body.rows[r], r]);
    function key(row) {
      var cell = row.cells[col];
      if (!cell) return null;
      if (num) { var v = cell.getAttribute('data-v'); return v === null || v === '' ? null : parseFloat(v); }
      return (cell.textContent || '').toLowerCase();
    }
    rows.sort(function (a, b) {
      var x = key(a[0]), y = key(b[0]);
      if (x === null && y === null) return a[1] - b[1];
      if (x === null) return 1;
      if (y === null) return -1;
      var c = x < y ? -1 : x > y ? 1 : 0;
      return (dir === 'ascending' ? c : -c) || a[1] - b[1];
    });
    for (var s = 0; s < rows.length; s++) body.appendChild(rows[s][0]);
  }
  var tables = document.querySelectorAll('table.sortable');
  for (var t = 0; t < tables.length; t++) (function (table) {
    var heads = table.querySelectorAll('th[data-sort]');
    for (var h = 0; h < heads.length; h++) (function (th) {
      th.addEventListener('click', function () { sortBy(table, th); });
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(table, th); } });
    })(heads[h]);
  })(tables[t]);
  if (typeof vegaEmbed !== 'function') {
    document.documentElement.setAttribute('data-charts', 'done');
    return;
  }
  window.__tanalyzeReady = Promise.all(charts.map(function (c) {
    var el = document.getElementById(c[0]);
    try {
      var spec = JSON.parse(document.getElementById(c[1]).textContent);
      return vegaEmbed(el, spec, {
        mode: 'vega-lite', renderer: 'svg', downloadFileName: 'tanalyze-' + c[0].slice(6),
        actions: { export: true, source: false, compiled: false, editor: false }
      }).then(function (r) { views[c[0]] = r.view; }, function (e) { fail(el, e); });
    } catch (e) { fail(el, e); return Promise.resolve(); }
  })).then(function () { document.documentElement.setAttribute('data-charts', 'done'); });
})();
`;

/** A chart's container, or a note saying why there is no chart. */
export function chartDiv(name: string, spec: unknown, empty: string): string {
  return spec
    ? `<div id="chart-${name}" class="chart"><noscript><p class="note">The charts need JavaScript; every figure is also in the tables.</p></noscript></div>`
    : `<p class="note chart-empty" id="chart-${name}-empty">${escapeHtml(empty)}</p>`;
}

export interface PageParts {
  /** Plain text; escaped here. */
  title: string;
  toolVersion: string;
  /** Trusted markup (everything untrusted in it already escaped). */
  body: string;
  /** Chart specs by name (the `chart-<name>` element draws `specs[name]`); null ones are skipped. */
  specs: Record<string, unknown>;
}

/** The page around a body: styles, chart specs, the inlined vega builds and the boot script. */
export function renderPage(parts: PageParts, assets: VegaAssets = loadVegaAssets()): string {
  const specScripts = Object.entries(parts.specs)
    .filter(([, spec]) => spec)
    .map(([name, spec]) => `<script type="application/json" id="spec-${escapeHtml(name)}" data-chart="chart-${escapeHtml(name)}">${jsonForScript(spec)}</script>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tanalyze ${escapeHtml(parts.toolVersion)}">
<title>${escapeHtml(parts.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${parts.body}
</main>
${specScripts}
<script>${scriptForInline(assets.vega)}${versionFix(assets.vegaVersion)}</script>
<script>${scriptForInline(assets.vegaLite)}</script>
<script>${scriptForInline(assets.vegaEmbed)}</script>
<script>${BOOT}</script>
</body>
</html>
`;
}

function breakdownSection(data: ReportData, specs: Record<string, unknown>): string {
  const rec = recommendedTrial(data);
  const def = defaultTrial(data);
  const same = rec && def && rec.index === def.index;
  const noServer = 'The server reported no queue and compute times for this configuration.';
  const parts: string[] = [];
  if (rec) {
    parts.push(
      `<div><h3>${same ? 'Recommended (= default)' : 'Recommended'}: trial ${rec.index}</h3><p class="caption">${escapeHtml(describeConfig(rec.config))}</p>` +
        chartDiv('breakdown-recommended', specs['breakdown-recommended'], noServer) +
        '</div>',
    );
  }
  if (def && !same) {
    parts.push(
      `<div><h3>Default: trial ${def.index}</h3><p class="caption">${escapeHtml(describeConfig(def.config))}</p>` +
        chartDiv('breakdown-default', specs['breakdown-default'], def.state === 'FAILED' ? 'The default configuration failed, so it has no measurements.' : noServer) +
        '</div>',
    );
  }
  if (parts.length === 0) return '<p class="note" id="chart-breakdown-empty">No configuration met the target and there is no default configuration to break down.</p>';
  return `<div class="chart-pair">${parts.join('')}</div>`;
}

/** The whole report as one self-contained HTML file (no network access needed to view it). */
export function renderReportHtml(data: ReportData, assets: VegaAssets = loadVegaAssets()): string {
  const r = data.run;
  const rec = recommendedTrial(data);
  const def = defaultTrial(data);
  const model = escapeHtml(r.model);
  const headline = escapeHtml(headlineText(data));
  const target = escapeHtml(formatNumber(r.targetP99Ms));
  const specs = allSpecs(data);
  const pbtxt = data.recommendedPbtxt
    ? `<pre class="pbtxt" id="recommended-pbtxt">${escapeHtml(data.recommendedPbtxt)}</pre>`
    : `<p class="note">${rec ? 'The configuration text was not stored for this run.' : 'No configuration met the target, so there is nothing to recommend.'}</p>`;
  const defPbtxt = data.defaultPbtxt
    ? `<details><summary>The default configuration${def ? ` (trial ${def.index})` : ''}</summary><pre class="pbtxt">${escapeHtml(data.defaultPbtxt)}</pre></details>`
    : '';
  const onFrontier = frontierTrials(data).length;
  const measurementNote = measurementNoteText(data);
  const extras = measurementExtras(data);
  const tableNote =
    (extras.ci ? ` In brackets: the ${escapeHtml(extras.level ? `${extras.level} ` : '')}confidence interval of that p99 (hover for details).` : '') +
    (extras.flags ? ' Flags: client-limited or unreliable figures at that point (hover for the reason), and how many other load points were flagged.' : '') +
    (data.trials.some((t) => (kneePointsOf(t, r) ?? 0) > 0)
      ? ' Under load points: how many of them the load search spent confirming the knee (beyond where one flat point would have stopped it, and its best point measured a second time).'
      : '');
  const body = `<header>
<p class="eyebrow">tanalyze serving report</p>
<h1 id="model-name">${model}</h1>
<p class="meta">run ${escapeHtml(r.id)} · ${escapeHtml(r.createdAt)} · ${escapeHtml(r.status)} · p99 target ${target} ms · ${escapeHtml(r.strategy)} search</p>
</header>
<section class="headline${rec ? '' : ' none'}" id="headline"><p style="margin:0">${headline}</p></section>
${cards(data)}

<h2>Throughput against p99 latency</h2>
<p class="caption">Every measured load point of every configuration. The line is the Pareto frontier (no other point has more throughput at a lower p99); grey points are dominated. Hover a point for its configuration; drag to pan, scroll to zoom, double-click to reset.</p>
${measurementNote ? `<p class="caption" id="measurement-note">${escapeHtml(measurementNote)}</p>\n` : ''}${chartDiv('frontier', specs.frontier, 'No load point was measured, so there is nothing to plot.')}

<h2>Throughput against GPU memory</h2>
<p class="caption">The highest GPU memory used while each load point was measured; the line is the frontier of more throughput for less memory.</p>
${chartDiv('gpu-memory', specs['gpu-memory'], 'GPU memory was not measured in this run (the embedded server runs on the CPU, and the results database holds no GPU memory figures), so this chart is left out.')}

<h2>Where the time goes</h2>
<p class="caption">Latency against load, split into the server's queue and compute times (per request, from the server's statistics) and the rest: network, serialization and the client, taken as the client's ${data.trials.some((t) => t.points.some((p) => typeof p.meanMs === 'number')) ? 'mean' : 'median (p50)'} latency minus the server's total. Scroll on a chart to zoom its latency axis.</p>
${breakdownSection(data, specs)}

<h2>Load curves of the frontier configurations</h2>
<p class="caption">Throughput and p99 against concurrency for the ${onFrontier} configuration${onFrontier === 1 ? '' : 's'} with a point on the Pareto frontier (log scale).${extras.ci ? ' Error bars on the p99 chart: the confidence interval of p99 at every point.' : ''}${extras.flags ? ' Hollow points are flagged (see above).' : ''}</p>
<div class="chart-pair">
<div><h3>Throughput</h3>${chartDiv('load-throughput', specs['load-throughput'], 'No configuration has a point on the frontier.')}</div>
<div><h3>p99 latency</h3>${chartDiv('load-p99', specs['load-p99'], 'No configuration has a point on the frontier.')}</div>
</div>

<h2>Recommended config.pbtxt</h2>
${rec ? `<p class="caption">Trial ${rec.index} (${escapeHtml(rec.variantName)}): ${escapeHtml(describeConfig(rec.config))}.</p>` : ''}
${pbtxt}
${pbtxtDiffHtml(data)}
${defPbtxt}

<h2>All configurations</h2>
<p class="caption">Best throughput is the highest measured throughput whose p99 met the ${target} ms target.${tableNote} Click a column header to sort.</p>
${trialsTable(data)}

<h2>Search progress</h2>
<p class="caption">Best throughput within the target found after each configuration measured; crosses on the axis are configurations that met no load point within the target or failed.</p>
${chartDiv('progress', specs.progress, 'No configuration was measured.')}

<h2>Settings and environment</h2>
${settingsTable(data)}

<footer>Generated by tanalyze ${escapeHtml(r.toolVersion)}. This file is self-contained and works offline.</footer>`;
  return renderPage({ title: `tanalyze · ${r.model}`, toolVersion: r.toolVersion, body, specs }, assets);
}
