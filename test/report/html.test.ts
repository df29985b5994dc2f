import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headlineText, jsonForScript, renderReportHtml, renderReportJson, type VegaAssets } from '../../src/report/html.js';
import { allSpecs, breakdownRows, gpuMemoryRows, loadRows, pointRows } from '../../src/report/specs.js';
import type { ReportData } from '../../src/report/types.js';
import { makeReportFixture } from './fixture.js';
import { ConcurrencyWalk } from '../../src/measure/load-walk.js';
import { CONFIGURATION_COLUMNS, configurationRows } from '../../src/report/csv.js';

const EVIL_MODEL = '<script>alert(1)</script>';
const EVIL_ERROR = 'engine build failed: <img src=x onerror="alert(2)"> & </td></tr></table><!-- broken';
const FAKE_ASSETS: VegaAssets = { vega: '/* vega */', vegaLite: '/* vega-lite */', vegaEmbed: '/* vega-embed */' };

function chartCount(data: ReportData): number {
  return Object.values(allSpecs(data)).filter((s) => s !== null).length;
}

function specFrom(html: string, id: string): unknown {
  const m = html.match(new RegExp(`<script type="application/json" id="${id}"[^>]*>([\\s\\S]*?)</script>`));
  assert.ok(m, `no <script id="${id}"> in the page`);
  return JSON.parse(m[1] as string);
}

test('untrusted strings are HTML-escaped: model name, error text, pbtxt', () => {
  const data = makeReportFixture({ model: EVIL_MODEL, error: EVIL_ERROR });
  const html = renderReportHtml(data, FAKE_ASSETS);
  assert.ok(!html.includes('<script>alert(1)'), 'raw <script>alert(1) in the page');
  assert.ok(!html.includes('<img src=x'), 'raw <img> from the error text in the page');
  assert.ok(!html.includes('</td></tr></table><!--'), 'raw markup from the error text in the page');
  assert.ok(html.includes('<h1 id="model-name">&lt;script&gt;alert(1)&lt;/script&gt;</h1>'));
  assert.ok(html.includes('<title>tanalyze · &lt;script&gt;alert(1)&lt;/script&gt;</title>'));
  assert.ok(html.includes('engine build failed: &lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp; &lt;/td&gt;'));
  assert.ok(html.includes('name: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;'), 'pbtxt not escaped in <pre>');
  // The only <script> tags are the page's own: one per chart, 3 libraries, 1 boot script.
  const scripts = chartCount(data) + 4;
  assert.equal(html.match(/<script/gi)?.length, scripts);
  assert.equal(html.match(/<\/script/gi)?.length, scripts);
  assert.equal(html.match(/<!--/g), null);
});

test('no network: no http(s) or protocol-relative sources, with the real vega builds inlined', () => {
  const data = makeReportFixture();
  const html = renderReportHtml(data);
  assert.ok(html.length > 500_000, 'the vega builds do not look inlined');
  // Library code holds markup in strings (vega-tooltip's <img> template); judge the page's own markup.
  const scriptTags = html.match(/<script\b[^>]*>/gi) ?? [];
  assert.equal(scriptTags.length, chartCount(data) + 4);
  for (const tag of scriptTags) assert.ok(!/\bsrc\s*=/i.test(tag), `script loads a file: ${tag}`);
  const markup = html.replace(/(<script\b[^>]*>)[\s\S]*?<\/script>/gi, '$1</script>');
  assert.ok(markup.length < 100_000);
  assert.equal(markup.match(/<(img|iframe|link|source|embed|object|video|audio)\b/gi), null, 'an element loads a resource');
  assert.equal(markup.match(/https?:\/\//gi), null, 'a web address in the page markup');
  assert.equal(markup.match(/@import/gi), null);
  assert.equal(html.match(/sourceMappingURL/g), null);
  for (const lib of ['vegaEmbed', 'vegaLite']) assert.ok(html.includes(lib), `${lib} build missing`);
});

test('the embedded specs parse, carry every charted point and survive hostile strings', () => {
  const data = makeReportFixture({ model: EVIL_MODEL });
  const html = renderReportHtml(data, FAKE_ASSETS);
  const frontier = specFrom(html, 'spec-frontier') as { data: { values: { variant: string; frontier: boolean; marker: string | null }[] }; layer: unknown[] };
  const charted = data.trials.filter((t) => t.state !== 'FAILED').reduce((n, t) => n + t.points.length, 0);
  assert.equal(frontier.data.values.length, charted);
  assert.equal(frontier.data.values[0]?.variant, `${EVIL_MODEL}_config_0`);
  assert.ok(frontier.data.values.some((v) => v.frontier));
  assert.deepEqual(frontier.data.values.filter((v) => v.marker).map((v) => v.marker).sort(), ['default', 'recommended']);
  assert.ok(frontier.layer.length >= 4);
  const progress = specFrom(html, 'spec-progress') as { data: { values: { n: number; best_so_far_ips: number | null }[] } };
  assert.equal(progress.data.values.length, data.trials.length);
  const best = progress.data.values.map((v) => v.best_so_far_ips ?? 0);
  assert.deepEqual(best, [...best].sort((a, b) => a - b), 'best so far must never fall');
});

test('jsonForScript: no closing tag or comment opener survives, and the JSON is unchanged', () => {
  const value = { s: '</script><!-- --> </SCRIPT> & \u2028 \u2029' };
  const out = jsonForScript(value);
  assert.ok(!/<\/script/i.test(out) && !out.includes('<!--') && !out.includes('-->'));
  assert.deepEqual(JSON.parse(out), value);
});

test('headline: recommended against the default', () => {
  const data = makeReportFixture();
  assert.match(
    headlineText(data),
    /^Recommended: max_batch_size \d+, queue delay \d+ µs, \d instances?, FP(16|32) — [\d.]+x the throughput of the default configuration \(\d+ vs \d+ inf\/s\) at p99 \d+\.\d ms, within the 50 ms target\.$/,
  );
  const html = renderReportHtml(data, FAKE_ASSETS);
  assert.ok(html.includes('<section class="headline" id="headline">'));
  assert.match(html, /<tr class="recommended" data-trial="\d+">/);
  assert.match(html, /<tr class="default" data-trial="0">/);
});

test('headline: no configuration met the target', () => {
  const data = makeReportFixture({ targetP99Ms: 1 });
  assert.equal(data.recommendedIndex, null);
  const text = headlineText(data);
  assert.match(text, /^No configuration met the 1 ms p99 target\. The lowest p99 measured was \d+\.\d+ ms \(max_batch_size .*, at [\d.]+ inf\/s\)\./);
  const html = renderReportHtml(data, FAKE_ASSETS);
  assert.ok(html.includes('<section class="headline none" id="headline">'));
  assert.ok(html.includes('nothing to recommend'));
  assert.ok(!html.includes('<tr class="recommended"'));
});

test('headline: every trial failed', () => {
  const base = makeReportFixture();
  const data: ReportData = {
    ...base,
    recommendedIndex: null,
    recommendedPbtxt: null,
    trials: base.trials.map((t) => ({ ...t, state: 'FAILED' as const, error: 'boom', objectiveIps: null, p99Ms: null, points: [] })),
  };
  assert.equal(headlineText(data), `No configuration met the 50 ms p99 target: none completed a measurement (8 of 8 failed).`);
  const html = renderReportHtml(data, FAKE_ASSETS);
  assert.equal(pointRows(data).length, 0);
  assert.ok(!html.includes('id="spec-frontier"'), 'an empty frontier chart was embedded');
  assert.ok(html.includes('No load point was measured'));
  assert.ok(html.includes('id="spec-progress"'));
});

test('headline: the default is already the best', () => {
  const base = makeReportFixture();
  const data: ReportData = { ...base, recommendedIndex: base.defaultIndex };
  assert.match(headlineText(data), /the default configuration is already the best found: \d+ inf\/s at p99 [\d.]+ ms, within the 50 ms target\.$/);
  const marked = pointRows(data).filter((r) => r.marker);
  assert.equal(marked.length, 1, 'one marker when the default is the recommendation');
  assert.match(marked[0]?.marker_label ?? '', /^recommended \(= default\): \d+ inf\/s$/);
});

test('renderReportJson: summary matches the page', () => {
  const data = makeReportFixture();
  const j = renderReportJson(data);
  assert.equal(j.recommended?.index, data.recommendedIndex);
  assert.equal(j.default?.index, 0);
  assert.ok((j.speedup_vs_default ?? 0) > 1);
  assert.equal(j.trials.length, data.trials.length);
  assert.ok(j.frontier.length > 0);
  assert.equal(j.headline, headlineText(data));
});

test('every chart of the fixture has a spec: frontier, GPU memory, breakdowns, load curves, progress', () => {
  const data = makeReportFixture();
  const specs = allSpecs(data);
  assert.deepEqual(Object.entries(specs).filter(([, v]) => v === null).map(([k]) => k), []);
  const html = renderReportHtml(data, FAKE_ASSETS);
  for (const name of Object.keys(specs)) {
    assert.ok(html.includes(`id="chart-${name}"`), `no chart element for ${name}`);
    specFrom(html, `spec-${name}`);
  }
});

test('GPU memory: charted where measured, left out with a note where not', () => {
  const withMemory = makeReportFixture();
  const rows = gpuMemoryRows(withMemory);
  assert.equal(rows.length, pointRows(withMemory).length);
  assert.ok(rows.some((r) => r.memory_frontier));
  const without = makeReportFixture({ gpuMemory: false });
  assert.equal(gpuMemoryRows(without).length, 0);
  assert.equal(allSpecs(without)['gpu-memory'], null);
  const html = renderReportHtml(without, FAKE_ASSETS);
  assert.ok(html.includes('id="chart-gpu-memory-empty"'));
  assert.ok(html.includes('GPU memory was not measured in this run'));
  assert.ok(!html.includes('id="spec-gpu-memory"'));
});

test('latency breakdown: the parts add up to the client p50 and never go negative', () => {
  const data = makeReportFixture();
  const rec = data.recommendedIndex as number;
  const rows = breakdownRows(data, rec, 'recommended');
  const trial = data.trials.find((t) => t.index === rec)!;
  const loads = [...new Set(trial.points.map((p) => p.concurrency))];
  assert.equal(rows.length, loads.length * 5);
  for (const c of loads) {
    const parts = rows.filter((r) => r.concurrency === c);
    assert.deepEqual(parts.map((r) => r.component), ['queue', 'compute input', 'compute infer', 'compute output', 'network + client']);
    for (const r of parts) assert.ok(r.ms >= 0, `${r.component} is negative`);
    const p = trial.points.find((x) => x.concurrency === c)!;
    const sum = parts.reduce((a, r) => a + r.ms, 0);
    assert.ok(Math.abs(sum - p.p50Ms) < 1e-9, `parts add to ${sum}, p50 is ${p.p50Ms}`);
    assert.equal(parts[0]?.client_stat, 'p50');
  }
  // No server statistics: no rows, and the page says why.
  const bare: ReportData = { ...data, trials: data.trials.map((t) => ({ ...t, points: t.points.map((p) => ({ ...p, server: null })) })) };
  assert.deepEqual(breakdownRows(bare, rec, 'recommended'), []);
  const html = renderReportHtml(bare, FAKE_ASSETS);
  assert.ok(html.includes('id="chart-breakdown-recommended-empty"'));
  assert.ok(html.includes('id="chart-breakdown-default-empty"'));
});

test('load curves: only the frontier configurations, each with all its points', () => {
  const data = makeReportFixture();
  const rows = loadRows(data);
  const frontierTrials = new Set(pointRows(data).filter((r) => r.frontier).map((r) => r.trial));
  assert.deepEqual(new Set(rows.map((r) => r.trial)), frontierTrials);
  for (const t of frontierTrials) {
    const trial = data.trials.find((x) => x.index === t)!;
    assert.equal(rows.filter((r) => r.trial === t).length, trial.points.length);
  }
});

test('the recommended config.pbtxt is diffed against the default, escaped, variant names ignored', () => {
  const data = makeReportFixture({ model: EVIL_MODEL });
  const html = renderReportHtml(data, FAKE_ASSETS);
  const m = html.match(/<pre class="diff" id="pbtxt-diff">([\s\S]*?)<\/pre>/);
  assert.ok(m, 'no diff in the page');
  const diff = m[1] as string;
  assert.ok(diff.includes('<span class="hdr">--- default (trial 0)</span>'));
  assert.ok(diff.includes('<span class="del">-max_batch_size: 8</span>') || diff.includes('<span class="del">-  { count: 1 kind: KIND_GPU }</span>'));
  assert.ok(diff.includes('<span class="add">+'));
  assert.ok(!diff.includes('<script>'), 'unescaped model name in the diff');
  assert.ok(!/class="(add|del)">[+-]name:/.test(diff), 'the variant name shows as a change');
  const same: ReportData = { ...data, recommendedIndex: 0, recommendedPbtxt: data.defaultPbtxt };
  assert.ok(renderReportHtml(same, FAKE_ASSETS).includes('id="pbtxt-diff-none"'));
});

test('the table of configurations is sortable: headers and numeric keys', () => {
  const data = makeReportFixture();
  const html = renderReportHtml(data, FAKE_ASSETS);
  assert.ok(html.includes('<table class="trials sortable" id="trials-table">'));
  assert.equal(html.match(/<th[^>]*data-sort="num"/g)?.length, 7);
  assert.ok(/<td class="num" data-v="-1">off<\/td>/.test(html), 'no dynamic batcher must sort below every delay');
  const failed = data.trials.find((t) => t.state === 'FAILED')!;
  const row = html.match(new RegExp(`<tr[^>]*data-trial="${failed.index}">([\\s\\S]*?)</tr>`))?.[1] ?? '';
  assert.ok(row.includes('data-v=""'), 'a failed trial has no throughput key (sorts last)');
});

test('each configuration states the load points its search spent confirming the knee: in the table and the JSON', () => {
  const data = makeReportFixture();
  // Trial 1's points as the load search measures them on a server that saturates at concurrency 8:
  // doubling to 8, two flat points (16, 32) confirm the knee, and the best point is measured twice.
  const walk = new ConcurrencyWalk({ targetP99Ms: data.run.targetP99Ms, maxConcurrency: 64 });
  const template = data.trials[1]!.points[0]!;
  for (let step = walk.next(); !('done' in step); step = walk.next()) {
    const c = step.concurrency;
    walk.record(step, { ...template, concurrency: c, throughputIps: 100 * Math.min(c, 8), p99Ms: c, windowHistogramsB64: undefined });
  }
  const t = data.trials[1]!;
  t.points = [...walk.points];
  t.objectiveIps = t.points[3]!.throughputIps;
  t.p99Ms = t.points[3]!.p99Ms;
  assert.deepEqual(t.points.map((p) => p.concurrency), [1, 2, 4, 8, 16, 32]);

  // Stored without the run's highest concurrency (older runs): the cost is not stated.
  assert.equal(renderReportJson(data).trials[1]!.knee_confirmation_points, null);
  assert.doesNotMatch(renderReportHtml(data, FAKE_ASSETS), /to confirm the knee/);

  data.run.maxConcurrency = 64;
  const j = renderReportJson(data).trials;
  // One point beyond where a single flat point (16) would have stopped, and one repeat.
  assert.equal(j[1]!.knee_confirmation_points, 2);
  assert.equal(j[1]!.repeated_points, 1);
  assert.equal(j[1]!.load_points, 6);
  assert.equal(j[4]!.knee_confirmation_points, null, 'a failed trial measured no load point');
  const html = renderReportHtml(data, FAKE_ASSETS);
  const row = html.match(/<tr[^>]*data-trial="1">[\s\S]*?<\/tr>/)![0];
  assert.match(row, />6<div class="note">2 to confirm the knee<\/div><\/td>/);
  assert.match(html, /how many of them the load search spent confirming the knee/);
  const csvRow = configurationRows(data).find((r) => r[0] === 1)!;
  assert.equal(csvRow[CONFIGURATION_COLUMNS.indexOf('Knee Confirmation Points')], 2, 'and metrics-configurations.csv');
});
