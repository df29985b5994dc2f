// The comparison page in headless Chromium (file://, network cut off): no console errors, the
// chart draws both sides, the screenshot is not blank; and the JUnit XML parses with the
// browser's own XML parser (DOMParser), the strictest well-formedness check at hand.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { renderComparisonHtml } from '../../src/regress/html.js';
import { renderJUnit } from '../../src/regress/junit.js';
import { distinctColours, launchChromium, watchPage } from '../helpers/chromium.js';
import { comparisonOf } from './helpers.js';

declare const document: any;
declare const window: any;
declare const DOMParser: any;

const EVIL = 'bert <script>alert(1)</script> & "q"';

let browser: Browser;
let dir: string;

before(async () => {
  browser = await launchChromium();
  dir = await mkdtemp(join(tmpdir(), 'tanalyze-compare-'));
});

after(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the comparison page renders offline: both sides on one chart, no errors, not blank', { timeout: 90_000 }, async () => {
  const { comparison, sides } = comparisonOf('regression', EVIL);
  const file = join(dir, 'compare.html');
  writeFileSync(file, renderComparisonHtml({ comparison, command: 'regress', sides, toolVersion: '0.1.0', baselineSource: 'baseline.json', createdAt: '2026-01-01T00:00:00Z' }));
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems = await watchPage(page);
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  await page.waitForFunction(() => document.documentElement.getAttribute('data-charts') === 'done', null, { timeout: 30_000 });
  assert.deepEqual(problems, []);
  assert.deepEqual(await page.evaluate(() => Object.keys(window.__tanalyzeViews)), ['chart-comparison']);
  assert.equal(await page.evaluate(() => document.querySelectorAll('.chart-error').length), 0);
  const lines = await page.evaluate(() => document.querySelectorAll('#chart-comparison .mark-line path').length as number);
  assert.ok(lines >= 2, `${lines} lines: one per side expected`);
  const symbols = await page.evaluate(() => document.querySelectorAll('#chart-comparison .mark-symbol path').length as number);
  assert.ok(symbols >= 8, `${symbols} points drawn`);
  assert.equal(await page.evaluate(() => document.querySelector('#model-name').textContent), EVIL);
  assert.equal(await page.evaluate(() => document.querySelectorAll('#checks tbody tr').length), 3);
  const distinct = await distinctColours(page, await page.locator('#chart-comparison').screenshot());
  assert.ok(distinct > 50, `the chart looks blank: ${distinct} distinct colours`);
  await page.close();
});

test('JUnit XML is well-formed for the browser XML parser, hostile strings included', { timeout: 30_000 }, async () => {
  const page = await browser.newPage();
  for (const kind of ['pass', 'regression', 'sla', 'infra'] as const) {
    const xml = renderJUnit(comparisonOf(kind, `${EVIL} ]]> \u0002`).comparison, { command: 'regress', timestamp: '2026-01-01T00:00:00Z', properties: { note: '<x> & "y"\n' } });
    const result = await page.evaluate((text) => {
      const doc = new DOMParser().parseFromString(text, 'application/xml');
      const err = doc.getElementsByTagName('parsererror')[0];
      return {
        error: err ? err.textContent : null,
        cases: doc.getElementsByTagName('testcase').length,
        suite: doc.getElementsByTagName('testsuite')[0]?.getAttribute('name'),
        failures: doc.documentElement.getAttribute('failures'),
      };
    }, xml);
    assert.equal(result.error, null, `${kind}: ${result.error}`);
    assert.ok(result.cases >= 1, kind);
    assert.ok(result.suite?.includes('<script>'), `${kind}: the model name did not survive as text`);
  }
  await page.close();
});
