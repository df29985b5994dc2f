// Opens written reports in headless Chromium from file:// with the network cut off:
// the charts must render, nothing may error or warn, and hostile strings must stay text.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { writeReport } from '../../src/report/write.js';
import { allSpecs } from '../../src/report/specs.js';
import type { ReportData } from '../../src/report/types.js';
import { makeReportFixture } from './fixture.js';

// Browser globals for the page.evaluate callbacks (the project compiles without the DOM lib).
declare const document: any;
declare const window: any;
declare const Image: any;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MODEL = 'resnet50 <script>alert(1)</script>';
const ERROR = 'engine build failed: <img src=x onerror="alert(2)">';
const SHOT = process.env.REPORT_SHOT ?? join(tmpdir(), 'report-shot.png');

let browser: Browser;
let dir: string;

before(async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `Chromium not found at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH to a Chromium binary`,
  );
  dir = await mkdtemp(join(tmpdir(), 'tanalyze-report-'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
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
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog (injected script ran): ${d.message()}`);
    void d.dismiss();
  });
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:') || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    problems.push(`network request: ${url}`);
    return route.abort();
  });
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
  const chartShot = await page.locator('#chart-frontier').screenshot();
  const distinct = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const px: Uint8ClampedArray = ctx.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < px.length; i += 4) seen.add(((px[i] as number) << 16) | ((px[i + 1] as number) << 8) | (px[i + 2] as number));
    return seen.size;
  }, chartShot.toString('base64'));
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
