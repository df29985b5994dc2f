// Opens written reports in headless Chromium from file:// with the network cut off:
// the charts must render, nothing may error or warn, and hostile strings must stay text.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { writeReport } from '../../src/report/write.js';
import { allSpecs } from '../../src/report/specs.js';
import type { ReportData } from '../../src/report/types.js';
import { distinctColours, launchChromium, watchPage } from '../helpers/chromium.js';
import { CHECK_REASONS, makeReportFixture } from './fixture.js';

// Browser globals for the page.evaluate callbacks (the project compiles without the DOM lib).
declare const document: any;
declare const window: any;

const MODEL = 'resnet50 <script>alert(1)</script>';
const ERROR = 'engine build failed: <img src=x onerror="alert(2)">';
const SHOT = process.env.REPORT_SHOT ?? join(tmpdir(), 'report-shot.png');
const CHECKS_SHOT = process.env.REPORT_CHECKS_SHOT ?? join(tmpdir(), 'report-checks-shot.png');

let browser: Browser;
let dir: string;

before(async () => {
  browser = await launchChromium();
  dir = await mkdtemp(join(tmpdir(), 'tanalyze-report-'));
});

after(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Opened {
  page: Page;
  /** Console errors and warnings, page errors, dialogs, and requests that left file://. */
  problems: string[];
}

async function open(name: string, data: ReportData): Promise<Opened> {
  const { htmlPath } = await writeReport(join(dir, name, 'report'), data);
  assert.ok(existsSync(htmlPath));
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = await watchPage(page);
  await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load' });
  await page.waitForFunction(() => document.documentElement.getAttribute('data-charts') === 'done', null, { timeout: 30_000 });
  return { page, problems };
}

function count(page: Page, selector: string): Promise<number> {
  return page.evaluate((sel) => document.querySelectorAll(sel).length as number, selector);
}

test('the report renders offline in Chromium, with no errors and escaped text', { timeout: 120_000 }, async () => {
  const data = makeReportFixture({ model: MODEL, error: ERROR });
  const { page, problems } = await open('full', data);
  const info = await page.evaluate(() => ({
    views: Object.keys(window.__tanalyzeViews ?? {}).sort() as string[],
    frontierText: Array.from(document.querySelectorAll('#chart-frontier .mark-text text') as ArrayLike<{ textContent: string | null }>).map(
      (t) => t.textContent ?? '',
    ),
    h1: (document.querySelector('#model-name')?.textContent ?? '') as string,
    bodyText: document.body.innerText as string,
  }));
  const charted = data.trials.filter((t) => t.state !== 'FAILED').reduce((n, t) => n + t.points.length, 0);

  assert.deepEqual(problems, []);
  const names = Object.entries(allSpecs(data)).filter(([, v]) => v !== null).map(([k]) => `chart-${k}`).sort();
  assert.equal(names.length, 7, `the fixture should draw every chart: ${names.join(', ')}`);
  assert.deepEqual(info.views, names);
  assert.equal(await count(page, '.chart-error'), 0);
  // Every chart draws: an svg with marks in it, and not a blank one.
  for (const name of names) {
    assert.equal(await count(page, `#${name} svg.marks`), 1, `${name}: no svg`);
    const marks = await count(page, `#${name} .mark-symbol path, #${name} .mark-rect path, #${name} .mark-line path`);
    assert.ok(marks >= 3, `${name}: only ${marks} marks drawn`);
  }
  const symbols = await count(page, '#chart-frontier .mark-symbol path');
  assert.ok(symbols >= charted, `frontier chart: ${symbols} symbols for ${charted} points`);
  assert.ok((await count(page, '#chart-frontier .mark-line path')) >= 1, 'frontier chart: no frontier line');
  assert.ok((await count(page, '#chart-frontier .mark-rule line')) >= 1, 'frontier chart: no target rule');
  assert.ok(info.frontierText.some((t) => t.startsWith('p99 target 50 ms')), `no target label in ${JSON.stringify(info.frontierText)}`);
  assert.ok(info.frontierText.some((t) => t.startsWith('recommended')), 'no recommended label');
  assert.ok(info.frontierText.some((t) => t.startsWith('default')), 'no default label');
  const progressSymbols = await count(page, '#chart-progress .mark-symbol path');
  assert.ok(progressSymbols >= data.trials.length, `progress chart: ${progressSymbols} symbols`);
  assert.ok((await count(page, '#chart-progress .mark-line path')) >= 1, 'progress chart: no line');
  // Stacked bars: 5 parts per load level of the recommended configuration.
  const rec = data.trials.find((t) => t.index === data.recommendedIndex)!;
  assert.equal(await count(page, '#chart-breakdown-recommended .mark-rect path'), rec.points.length * 5);
  assert.ok((await count(page, '#chart-load-p99 .mark-rule line')) >= 1, 'load p99 chart: no target rule');

  // Tooltips carry the full configuration: the view's data holds every field.
  const tooltipFields = await page.evaluate(() => {
    const v = window.__tanalyzeViews['chart-frontier'];
    const first = v.data('source_0')?.[0] ?? v.data('data_0')?.[0] ?? {};
    return Object.keys(first) as string[];
  });
  for (const f of ['max_batch_size', 'queue_delay', 'instances', 'precision', 'preferred_batch', 'variant']) assert.ok(tooltipFields.includes(f), `no ${f} in the chart data`);

  // The table sorts on click, numerically, with failed trials (no figure) last either way.
  const order = () => page.evaluate(() => Array.from(document.querySelectorAll('#trials-table tbody tr') as ArrayLike<any>).map((r: any) => Number(r.getAttribute('data-trial'))) as number[]);
  const before = await order();
  assert.deepEqual(before, [...before].sort((a, b) => a - b));
  const tpHeader = page.locator('#trials-table th', { hasText: 'best throughput' });
  await tpHeader.click();
  const asc = await order();
  await tpHeader.click();
  const desc = await order();
  const tpOf = (i: number) => {
    const t = data.trials.find((x) => x.index === i)!;
    return t.state === 'COMPLETE' && t.objectiveIps !== null && (t.p99Ms ?? Infinity) <= 50 ? t.objectiveIps : null;
  };
  const figures = (o: number[]) => o.map(tpOf).filter((x): x is number => x !== null);
  assert.deepEqual(figures(asc), [...figures(asc)].sort((a, b) => a - b), `ascending order wrong: ${asc}`);
  assert.deepEqual(figures(desc), [...figures(desc)].sort((a, b) => b - a), `descending order wrong: ${desc}`);
  assert.equal(tpOf(asc[asc.length - 1] as number), null, 'a trial without a figure must sort last');
  assert.equal(tpOf(desc[desc.length - 1] as number), null, 'a trial without a figure must sort last');
  assert.equal(await page.evaluate(() => document.querySelector('#trials-table th[aria-sort="descending"]')?.textContent as string), 'best throughput (inf/s)');
  assert.ok(await page.evaluate(() => !!document.querySelector('#pbtxt-diff .add')), 'no pbtxt diff');

  assert.equal(info.h1, MODEL, 'the model name is not shown as text');
  assert.equal(await count(page, 'script'), names.length + 4, 'extra script elements in the DOM');
  assert.equal(await count(page, 'table img'), 0, 'the error text became an <img>');
  assert.ok(info.bodyText.includes(ERROR), 'the error text is not shown as text');
  assert.ok(info.bodyText.includes('Recommended: max_batch_size'));

  // Not blank: a blank page compresses to a few KB, and the chart must hold many distinct colours.
  const shot = await page.screenshot({ path: SHOT, fullPage: true });
  assert.ok(shot.length > 60_000, `screenshot is only ${shot.length} bytes`);
  const distinct = await distinctColours(page, await page.locator('#chart-frontier').screenshot());
  assert.ok(distinct > 50, `the chart looks blank: ${distinct} distinct colours`);
  await page.close();
});

test('no configuration met the target: renders without warnings', { timeout: 60_000 }, async () => {
  const { page, problems } = await open('none', makeReportFixture({ targetP99Ms: 1 }));
  assert.deepEqual(problems, []);
  assert.equal(await count(page, '.chart-error'), 0);
  assert.equal(await count(page, '#chart-frontier svg.marks'), 1);
  assert.equal(await count(page, '#chart-progress svg.marks'), 1);
  assert.match(await page.evaluate(() => document.querySelector('#headline').textContent as string), /^No configuration met the 1 ms p99 target\./);
  await page.close();
});

test('every trial failed: the frontier chart is replaced by a note', { timeout: 60_000 }, async () => {
  const base = makeReportFixture();
  const data: ReportData = {
    ...base,
    recommendedIndex: null,
    recommendedPbtxt: null,
    trials: base.trials.map((t) => ({ ...t, state: 'FAILED' as const, error: 'server exited with code 1', objectiveIps: null, p99Ms: null, points: [] })),
  };
  const { page, problems } = await open('failed', data);
  assert.deepEqual(problems, []);
  assert.equal(await count(page, '#chart-frontier'), 0);
  assert.equal(await count(page, '#chart-frontier-empty'), 1);
  assert.equal(await count(page, '#chart-progress svg.marks'), 1);
  await page.close();
});

test('p99 intervals and client flags: error bars, hollow flagged points with a legend, the table badge; no warnings', { timeout: 90_000 }, async () => {
  const data = makeReportFixture({ measurementChecks: true });
  const { page, problems } = await open('checks', data);
  assert.deepEqual(problems, []);
  assert.equal(await count(page, '.chart-error'), 0);
  const names = Object.entries(allSpecs(data)).filter(([, v]) => v !== null).map(([k]) => `chart-${k}`).sort();
  assert.deepEqual(await page.evaluate(() => Object.keys(window.__tanalyzeViews ?? {}).sort() as string[]), names);
  for (const name of names) assert.equal(await count(page, `#${name} svg.marks`), 1, `${name}: no svg`);

  // Frontier chart: one bar (a rule) per charted configuration's chosen point, plus the target rule;
  // the open interval (too few requests) is one of them.
  const chosen = data.trials.filter((t) => t.state !== 'FAILED' && t.points.length > 0).length;
  assert.equal(await count(page, '#chart-frontier .mark-rule.role-mark line'), chosen + 1);
  // Hollow flagged points: 4 flagged in the fixture, drawn white inside.
  const hollow = await page.evaluate(
    () => Array.from(document.querySelectorAll('#chart-frontier .mark-symbol.role-mark path') as ArrayLike<any>).filter((p: any) => p.getAttribute('fill') === 'white').length as number,
  );
  assert.equal(hollow, 4, `${hollow} hollow symbols`);
  const legend = await page.evaluate(() => Array.from(document.querySelectorAll('#chart-frontier .role-legend-label text') as ArrayLike<any>).map((t: any) => t.textContent as string));
  assert.ok(legend.includes('client-limited') && legend.includes('unreliable'), `legend: ${legend.join(', ')}`);
  // The p99 load curves draw a bar at every point of theirs that has an interval.
  assert.ok((await count(page, '#chart-load-p99 .mark-rule.role-mark line')) > 10, 'load p99 chart: no error bars');

  // The table: the interval after p99, the badge with its reason, the note explaining both.
  const rec = await page.evaluate(() => {
    const row = document.querySelector('#trials-table tr.recommended');
    return { text: row.textContent as string, badge: row.querySelector('.tag.client-limited')?.getAttribute('title') as string | undefined };
  });
  assert.match(rec.text, /\d+\.\d \(\d+\.\d–\d+\.\d\)/);
  assert.equal(rec.badge, CHECK_REASONS.busy);
  assert.match(await page.evaluate(() => document.querySelector('#measurement-note').textContent as string), /95 % confidence interval of p99/);

  await page.screenshot({ path: CHECKS_SHOT, fullPage: true });
  assert.ok((await distinctColours(page, await page.locator('#chart-frontier').screenshot())) > 50, 'the chart looks blank');
  await page.close();
});
