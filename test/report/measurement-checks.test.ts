// The p99 confidence interval and the client flags (client-limited, unreliable) of each load point:
// from the store into the report data, onto the charts, the table and the CSV tables; and runs
// measured without them render as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configurationRows, CONFIGURATION_COLUMNS, MEASUREMENT_CHECK_COLUMNS, MEASUREMENT_COLUMNS, measurementRows } from '../../src/report/csv.js';
import { reportDataFromStore, reportPoint } from '../../src/report/from-store.js';
import { headlineText, measurementNoteText, renderReportHtml, type VegaAssets } from '../../src/report/html.js';
import { chosenPoint } from '../../src/report/pareto.js';
import { allSpecs, pointRows } from '../../src/report/specs.js';
import type { ReportData, ReportPoint } from '../../src/report/types.js';
import type { LoadPoint } from '../../src/domain/measurement.js';
import { Store } from '../../src/store/store.js';
import { buildFixtureDb, FIXTURE_RUN_ID, fixtureData } from './fixture-db.js';
import { CHECK_REASONS, makeReportFixture } from './fixture.js';

const FAKE_ASSETS: VegaAssets = { vega: '', vegaLite: '', vegaEmbed: '' };

function fromDb(opts: { measurementChecks?: boolean }): ReportData {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-checks-'));
  try {
    const db = join(dir, 'fixture.db');
    buildFixtureDb(db, opts);
    const store = Store.open(db);
    try {
      return reportDataFromStore(store, FIXTURE_RUN_ID);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const CHECK_FIELDS = ['p99CiMs', 'ciLevel', 'clientLimited', 'clientLimitReason', 'unreliable', 'unreliableReason'] as const;

interface Layer {
  name?: string;
  data?: { values: Record<string, unknown>[] };
  transform?: { filter: string }[];
  layer?: Layer[];
  encoding?: Record<string, any>;
}
type Spec = Layer & { data: { values: Record<string, unknown>[] }; layer: Layer[]; resolve?: unknown };

const spec = (data: ReportData, name: string) => allSpecs(data)[name] as unknown as Spec;
const layerNamed = (s: Spec, name: string) => s.layer.find((l) => l.name === name);

test('the store hands the report every point with its interval and flags; the chosen point is found by the trial figures', () => {
  const data = fromDb({ measurementChecks: true });
  const written = fixtureData({ measurementChecks: true });
  for (const t of written.trials) {
    const read = data.trials.find((x) => x.index === t.index)!;
    t.points.forEach((p, i) => {
      for (const f of CHECK_FIELDS) assert.deepEqual(read.points[i]![f], p[f], `trial ${t.index} point ${i}: ${f}`);
    });
  }
  // An interval open above (too few requests) comes back as Infinity, not null.
  const infeasible = data.trials.find((t) => t.index === 3)!;
  assert.equal(infeasible.points[0]!.p99CiMs![1], Infinity);
  const rec = data.trials.find((t) => t.index === data.recommendedIndex)!;
  const best = chosenPoint(rec, data.run.targetP99Ms)!;
  assert.equal(best.throughputIps, rec.objectiveIps);
  assert.equal(best.clientLimited, true);
  assert.equal(best.clientLimitReason, CHECK_REASONS.busy);
  assert.equal(chosenPoint(data.trials.find((t) => t.state === 'FAILED')!, data.run.targetP99Ms), null);
});

test('an older run from the store: no interval or flag on any point', () => {
  const data = fromDb({});
  for (const t of data.trials) for (const p of t.points) for (const f of CHECK_FIELDS) assert.ok(!(f in p), `trial ${t.index}: ${f} present`);
});

test('reportPoint: an open bound written as null reads as open; malformed values are left out', () => {
  const base = makeReportFixture().trials[1]!.points[0]! as LoadPoint;
  assert.deepEqual(reportPoint(base), base, 'a point without the fields is unchanged');
  const odd = (over: Record<string, unknown>) => reportPoint({ ...base, ...over } as LoadPoint);
  assert.deepEqual(odd({ p99CiMs: [3, null] }).p99CiMs, [3, Infinity]);
  assert.deepEqual(odd({ p99CiMs: [3, 4], ciLevel: 0.99 }).ciLevel, 0.99);
  for (const bad of [[4, 3], [NaN, 4], ['3', 4], [3], null, 'x', [-1, 2]]) assert.ok(!('p99CiMs' in odd({ p99CiMs: bad })), `kept ${JSON.stringify(bad)}`);
  assert.ok(!('ciLevel' in odd({ ciLevel: 95 })));
  assert.ok(!('clientLimited' in odd({ clientLimited: 'yes' })));
  assert.ok(!('unreliable' in odd({ unreliable: 1 })));
  assert.ok(!('clientLimitReason' in odd({ clientLimited: true, clientLimitReason: '  ' })));
  assert.equal(odd({ unreliable: true, unreliableReason: 'late' }).unreliableReason, 'late');
});

test('frontier chart: error bars at each configuration\'s chosen point, flagged points hollow with a legend', () => {
  const data = makeReportFixture({ measurementChecks: true });
  const s = spec(data, 'frontier');
  assert.deepEqual(s.layer.map((l) => l.name), ['measured', 'frontier', 'p99-ci', 'target', 'flagged', 'markers']);
  const bars = layerNamed(s, 'p99-ci')!;
  const charted = data.trials.filter((t) => t.state !== 'FAILED' && t.points.length > 0);
  const want = charted.map((t) => chosenPoint(t, data.run.targetP99Ms)!).filter((p) => p.p99CiMs);
  assert.equal(bars.data!.values.length, want.length);
  assert.deepEqual(bars.data!.values.map((r) => r['p99_ci_lo']), want.map((p) => p.p99CiMs![0]));
  assert.deepEqual(bars.data!.values.map((r) => r['p99_ci_hi']), want.map((p) => (Number.isFinite(p.p99CiMs![1]) ? p.p99CiMs![1] : null)));
  assert.ok(bars.data!.values.every((r) => r['trial'] !== undefined && r['variant'] !== undefined), 'the bars carry the tooltip fields');
  // Closed intervals: a rule and two ticks; open ones: a dashed rule to the edge and one tick.
  assert.deepEqual(bars.layer!.map((l) => l.transform![0]!.filter), ['isValid(datum.p99_ci_hi)', 'isValid(datum.p99_ci_lo) && !isValid(datum.p99_ci_hi)']);
  assert.equal(bars.layer![1]!.layer![0]!.encoding!['x2'].value, 'width');

  const flagged = layerNamed(s, 'flagged')!;
  assert.deepEqual(flagged.encoding!['shape'].scale.domain, ['client-limited', 'unreliable']);
  assert.ok(flagged.encoding!['shape'].legend, 'the flags have a legend');
  assert.deepEqual(layerNamed(s, 'measured')!.transform, [{ filter: 'datum.flag == null' }], 'flagged points are not also drawn filled');
  assert.deepEqual(s.resolve, { scale: { shape: 'independent' } });
  const tooltip = flagged.encoding!['tooltip'].map((f: { field: string }) => f.field);
  assert.ok(tooltip.includes('p99_ci') && tooltip.includes('flag_note'));

  const rows = pointRows(data);
  assert.equal(rows.filter((r) => r.flag === 'client-limited').length, 3);
  assert.equal(rows.filter((r) => r.flag === 'unreliable').length, 1);
  const late = rows.find((r) => r.flag === 'unreliable')!;
  assert.equal(late.flag_note, `unreliable: ${CHECK_REASONS.late}`);
  assert.match(rows.find((r) => r.trial === 5 && r.p99_ci_lo !== undefined)!.p99_ci!, /^\d+\.\d–\d+\.\d ms \(95 %\)$/);
  // Trial 1's first point was measured without an interval: said so, and no bar.
  const without = rows.find((r) => r.trial === 1 && r.concurrency === 1)!;
  assert.equal(without.p99_ci, 'not measured');
  assert.ok(!('p99_ci_lo' in without));
  assert.equal(rows.find((r) => r.trial === 3 && r.concurrency === 1)!.p99_ci, `${rows.find((r) => r.trial === 3 && r.concurrency === 1)!.p99_ci_lo!.toFixed(1)}–∞ ms (95 %)`);
});

test('load curves: p99 error bars at every point with an interval, flagged points on both charts', () => {
  const data = makeReportFixture({ measurementChecks: true });
  const p99 = spec(data, 'load-p99');
  const bars = layerNamed(p99, 'p99-ci')!;
  assert.equal(bars.data, undefined, 'the bars use the chart\'s own rows');
  assert.equal(bars.layer![0]!.layer![0]!.encoding!['y2'].field, 'p99_ci_hi');
  assert.equal(bars.layer![0]!.layer![0]!.encoding!['color'].field, 'series', 'bars in their series\' colour');
  assert.ok(layerNamed(p99, 'flagged'));
  const throughput = spec(data, 'load-throughput');
  assert.ok(layerNamed(throughput, 'flagged'));
  assert.equal(layerNamed(throughput, 'p99-ci'), undefined, 'no p99 bars on the throughput chart');
});

test('a run measured without intervals or flags charts as before: no new fields, layers or tooltip entries', () => {
  const text = JSON.stringify(allSpecs(makeReportFixture()));
  for (const s of ['p99_ci', 'flag_note', '"flag"', 'p99-ci', '"flagged"', 'resolve']) assert.ok(!text.includes(s), `${s} in the specs`);
  // Flags without intervals: the flag layer only.
  const base = makeReportFixture();
  const flaggedOnly: ReportData = {
    ...base,
    trials: base.trials.map((t) => (t.index === 2 ? { ...t, points: t.points.map((p, i) => (i === 0 ? { ...p, clientLimited: true } : p)) } : t)),
  };
  const s = spec(flaggedOnly, 'frontier');
  assert.deepEqual(s.layer.map((l) => l.name), ['measured', 'frontier', 'target', 'flagged', 'markers']);
  assert.equal(pointRows(flaggedOnly).find((r) => r.flag === 'client-limited')!.flag_note, 'client-limited: the load generator, not the server, limited throughput');
  assert.ok(!JSON.stringify(s).includes('p99_ci'));
});

test('the table: the interval after p99, a flag column with the reason as a tooltip, and a note saying what they mean', () => {
  const data = makeReportFixture({ measurementChecks: true });
  const html = renderReportHtml(data, FAKE_ASSETS);
  const rec = data.trials.find((t) => t.index === data.recommendedIndex)!;
  const best = chosenPoint(rec, data.run.targetP99Ms)!;
  const [lo, hi] = best.p99CiMs!.map((v) => v.toFixed(1));
  const row = (i: number) => html.match(new RegExp(`<tr[^>]*data-trial="${i}">([\\s\\S]*?)</tr>`))![1] as string;
  assert.ok(
    row(rec.index).includes(`${rec.p99Ms!.toFixed(1)} <span class="note ci" title="95 % confidence interval of p99: ${lo} to ${hi} ms">(${lo}–${hi})</span>`),
    row(rec.index),
  );
  assert.ok(row(rec.index).includes(`<span class="tag client-limited" title="the client&#39;s event loop was 96.4% busy">client-limited</span>`));
  assert.ok(row(rec.index).includes('1 other load point client-limited'));
  assert.ok(row(6).includes('>1 load point unreliable</div>'));
  assert.match(row(3), /\(\d+\.\d–∞\)/);
  assert.ok(row(3).includes('too few requests were measured to bound it above'));
  assert.equal(html.match(/<th[^>]*>flags<\/th>/g)?.length, 1);
  assert.ok(html.includes('id="measurement-note"'));
  assert.match(measurementNoteText(data), /^Error bars and the figures in brackets are the 95 % confidence interval of p99.*Client-limited: the load generator.*Unreliable: the figures cannot be trusted/);
  assert.match(html, /p99 \d+\.\d ms \(CI \d+\.\d–\d+\.\d\) · client-limited/, 'the best card gives the interval and the flag');
});

test('the table and page of a run measured without them are unchanged: no interval, no flag column, no note', () => {
  const data = makeReportFixture();
  const html = renderReportHtml(data, FAKE_ASSETS);
  assert.equal(measurementNoteText(data), '');
  for (const s of ['measurement-note', 'class="note ci"', '>flags<', 'class="tag client-limited', '(CI ']) assert.ok(!html.includes(s), `${s} in the page`);
});

test('flag reasons are untrusted text: escaped in the table and the specs', () => {
  const base = makeReportFixture({ measurementChecks: true });
  const evil = '<img src=x onerror="alert(1)"> </script><!--';
  const data: ReportData = {
    ...base,
    trials: base.trials.map((t) => ({ ...t, points: t.points.map((p): ReportPoint => (p.clientLimited ? { ...p, clientLimitReason: evil } : p)) })),
  };
  const html = renderReportHtml(data, FAKE_ASSETS);
  assert.ok(!html.includes('<img'), 'raw <img> in the page');
  assert.ok(html.includes('title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &lt;/script&gt;&lt;!--"'));
  assert.equal(html.match(/<\/script/gi)?.length, Object.values(allSpecs(data)).filter(Boolean).length + 4);
});

test('CSV: the interval, the flags and the interval\'s verdict as columns at the end of both tables, empty where not measured', () => {
  const oldMeasurement = MEASUREMENT_COLUMNS.slice(0, MEASUREMENT_COLUMNS.length - MEASUREMENT_CHECK_COLUMNS.length);
  assert.equal(oldMeasurement.length, 30, 'the columns before keep their positions');
  assert.equal(oldMeasurement.at(-1), 'State');
  assert.deepEqual(MEASUREMENT_COLUMNS.slice(-MEASUREMENT_CHECK_COLUMNS.length), [...MEASUREMENT_CHECK_COLUMNS]);
  assert.equal(CONFIGURATION_COLUMNS[15], 'Error');
  assert.deepEqual(CONFIGURATION_COLUMNS.slice(16, 16 + MEASUREMENT_CHECK_COLUMNS.length), [...MEASUREMENT_CHECK_COLUMNS]);
  assert.deepEqual(CONFIGURATION_COLUMNS.slice(16 + MEASUREMENT_CHECK_COLUMNS.length), ['Knee Confirmation Points'], 'and the knee\'s cost after them');

  const data = makeReportFixture({ measurementChecks: true });
  const cell = (row: unknown[], columns: readonly string[], name: string) => row[columns.indexOf(name)];
  const m = measurementRows(data);
  const at = (trial: number, concurrency: number) => m.find((r) => cell(r, MEASUREMENT_COLUMNS, 'Trial') === trial && cell(r, MEASUREMENT_COLUMNS, 'Concurrency') === concurrency)!;
  const rec = data.trials.find((t) => t.index === data.recommendedIndex)!;
  const best = chosenPoint(rec, data.run.targetP99Ms)!;
  const r = at(rec.index, best.concurrency);
  assert.deepEqual(r.slice(-8), [best.p99CiMs![0], best.p99CiMs![1], 0.95, true, CHECK_REASONS.busy, undefined, undefined, 'meets']);
  const late = data.trials.find((t) => t.index === 6)!.points.at(-1)!;
  assert.deepEqual(at(6, late.concurrency).slice(-5, -1), [true, CHECK_REASONS.late, true, CHECK_REASONS.late]);
  assert.equal(cell(at(3, 1), MEASUREMENT_COLUMNS, 'p99 CI High (ms)'), Infinity, 'open above: written as an empty field');
  const openAbove = cell(at(3, 1), MEASUREMENT_COLUMNS, 'p99 CI Low (ms)') as number;
  assert.equal(cell(at(3, 1), MEASUREMENT_COLUMNS, 'p99 CI Verdict'), openAbove > data.run.targetP99Ms ? 'misses' : 'inconclusive', 'open above: never meets');
  assert.deepEqual(at(1, 1).slice(-8, -5), [undefined, undefined, null], 'measured without an interval');
  assert.equal(at(1, 1).at(-1), null, 'no interval, no verdict');

  const c = configurationRows(data);
  // A configuration's check cells: the 8 before its last column (the knee's cost).
  const checks = (row: unknown[]) => row.slice(-9, -1);
  const conf = (trial: number) => c.find((row) => row[0] === trial)!;
  assert.deepEqual(checks(conf(rec.index)), r.slice(-8), "a configuration's row carries its chosen point's");
  assert.deepEqual(checks(conf(4)), [null, null, null, null, null, null, null, null], 'a failed trial has no point');

  for (const row of measurementRows(makeReportFixture())) assert.ok(row.slice(-8).every((v) => v === null || v === undefined), `an older run wrote ${JSON.stringify(row.slice(-8))}`);
  for (const row of configurationRows(makeReportFixture())) assert.ok(row.slice(-9).every((v) => v === null || v === undefined), `an older run wrote ${JSON.stringify(row.slice(-9))}`);
});

test('a recommendation whose p99 interval reaches above the target says it is not certain: headline, table and CSV', () => {
  const base = makeReportFixture({ measurementChecks: true });
  const target = base.run.targetP99Ms;
  const rec = base.trials.find((t) => t.index === base.recommendedIndex)!;
  const best = chosenPoint(rec, target)!;
  assert.ok(!headlineText(base).includes('not certain'), 'its interval lies within the target: certain');
  const data: ReportData = {
    ...base,
    trials: base.trials.map((t) => (t !== rec ? t : { ...t, points: t.points.map((p) => (p !== best ? p : { ...p, p99CiMs: [best.p99Ms * 0.9, target * 1.2] as [number, number] })) })),
  };
  assert.match(headlineText(data), / Not certain: the p99 confidence interval \([\d.]+–60\.0 ms\) reaches above the target\.( |$)/);
  const html = renderReportHtml(data, FAKE_ASSETS);
  const row = html.slice(html.indexOf(`data-trial="${rec.index}"`)).split('</tr>')[0]!;
  assert.match(row, /<div class="note">not certain: the p99 confidence interval/);
  const m = measurementRows(data).find((r) => r[MEASUREMENT_COLUMNS.indexOf('Trial')] === rec.index && r[MEASUREMENT_COLUMNS.indexOf('Concurrency')] === best.concurrency)!;
  assert.deepEqual([m[MEASUREMENT_COLUMNS.indexOf('Satisfies Constraints')], m.at(-1)], [true, 'inconclusive'], 'a pass, and its verdict');
});
