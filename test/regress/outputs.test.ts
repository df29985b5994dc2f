import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderJUnit, xmlAttr, xmlText } from '../../src/regress/junit.js';
import { mdText, renderMarkdown } from '../../src/regress/markdown.js';
import { renderComparisonHtml } from '../../src/regress/html.js';
import { summarizeComparison } from '../../src/report/summary.js';
import { findAll, parseXml } from './xml.js';
import { comparisonOf } from './helpers.js';

const EVIL = 'resnet <script>alert(1)</script> & "quotes" | pipes ]]> \u0001\u0007 `tick`';
test('JUnit: well-formed, one test case per check, failures carry the figures', () => {
  const { comparison } = comparisonOf('regression', EVIL);
  const xml = renderJUnit(comparison, { command: 'regress', timestamp: '2026-01-01T00:00:00.000Z', durationS: 12.5, properties: { baseline: 'base.json', note: 'a\nb\t"c"' } });
  const root = parseXml(xml);
  assert.equal(root.name, 'testsuites');
  assert.equal(root.attrs.tests, '3');
  assert.equal(root.attrs.failures, '2');
  const suite = findAll(root, 'testsuite')[0]!;
  assert.equal(suite.attrs.name, `tanalyze regress: ${EVIL.replace(/[\u0001\u0007]/g, '\uFFFD')}`);
  assert.equal(suite.attrs.time, '12.500');
  const props = Object.fromEntries(findAll(root, 'property').map((p) => [p.attrs.name, p.attrs.value]));
  assert.equal(props.note, 'a\nb\t"c"', 'attribute line breaks must survive as character references');
  assert.equal(props.verdict, 'regression');
  const cases = findAll(root, 'testcase');
  assert.deepEqual(cases.map((c) => c.attrs.name), ['p99 target 50 ms met', 'throughput at the p99 target (50 ms)', 'p99 at concurrency 4']);
  const failures = findAll(root, 'failure');
  assert.equal(failures.length, 2);
  assert.match(failures[0]!.attrs.message!, /^Throughput at the p99 target fell 20 % \(300 inf\/s → 240 inf\/s\), more than the 5 % allowed\.$/);
  assert.equal(failures[0]!.attrs.type, 'regression');
  assert.match(failures[0]!.text, /baseline configuration: max_batch_size 8, queue delay 500 µs, 2 instances, FP32 \(run run-<1>, trial 3\)/);
  assert.match(failures[1]!.attrs.message!, /^p99 at concurrency 4 rose 30 %/);
});

test('JUnit: SLA not met and infrastructure failures', () => {
  const sla = parseXml(renderJUnit(comparisonOf('sla').comparison, { command: 'compare' }));
  assert.equal(findAll(sla, 'failure').find((f) => f.attrs.type === 'sla-not-met')?.attrs.message?.startsWith('No load point of the candidate met the 50 ms p99 target'), true);
  const infra = parseXml(renderJUnit(comparisonOf('infra').comparison, { command: 'regress' }));
  const errors = findAll(infra, 'error');
  assert.equal(errors.length, 1);
  assert.equal(infra.attrs.errors, '1');
  assert.equal(errors[0]!.attrs.message, 'The candidate could not be measured: server exited: <segfault> & "core"');
  const pass = parseXml(renderJUnit(comparisonOf('pass').comparison, { command: 'regress' }));
  assert.equal(pass.attrs.failures, '0');
  assert.equal(findAll(pass, 'failure').length + findAll(pass, 'error').length, 0);
});

test('XML escaping: text and attributes', () => {
  assert.equal(xmlText('a < b & c > d'), 'a &lt; b &amp; c &gt; d');
  assert.equal(xmlAttr(`"x" 'y'\n`), '&quot;x&quot; &apos;y&apos;&#10;');
  assert.equal(xmlText('bell\u0007 lone \uD800 surrogate'), 'bell\uFFFD lone \uFFFD surrogate');
  assert.equal(xmlText('pair \uD83D\uDE00 ok'), 'pair \uD83D\uDE00 ok');
});

test('Markdown: verdict, one row per check, untrusted text escaped', () => {
  const { comparison } = comparisonOf('regression', EVIL);
  const md = renderMarkdown(comparison, { command: 'regress', baselineSource: 'base<1>.json', reportHtml: 'out/compare.html' });
  assert.match(md, /^## tanalyze regress: .* — ❌ regression\n/);
  assert.ok(!md.includes('<script>'), 'raw HTML from the model name');
  assert.ok(md.includes('&lt;script&gt;'));
  assert.ok(md.includes('\\| pipes'), 'a pipe in a name must not break the table');
  const rows = md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| check') && !l.startsWith('| ---'));
  assert.equal(rows.length, 3);
  for (const r of rows) assert.equal(r.split(/(?<!\\)\|/).length - 2, 6, `row with a broken cell count: ${r}`);
  assert.ok(rows[1]!.includes('| 300 inf/s | 240 inf/s | -20 % | −5 % |'), rows[1]);
  assert.ok(rows[1]!.includes('❌ fail'));
  assert.match(md, /- \*\*Exit code:\*\* 1/);
  assert.equal(mdText('a|b\n<i>*x*</i>'), 'a\\|b &lt;i&gt;\\*x\\*&lt;/i&gt;');
});

test('JSON summary of a comparison: the documented shape', () => {
  const { comparison } = comparisonOf('pass');
  const s = summarizeComparison(comparison, 'regress', { junit: '/x/junit.xml' });
  assert.equal(s.kind, 'comparison');
  assert.equal(s.schema_version, 1);
  assert.equal(s.verdict, 'pass');
  assert.equal(s.exit_code, 0);
  assert.equal(s.checks.length, 3);
  assert.deepEqual(Object.keys(s.checks[1]!), ['id', 'name', 'status', 'unit', 'baseline', 'candidate', 'worse', 'threshold', 'noise', 'allowance', 'message']);
  assert.equal(s.baseline.max_batch_size, 8);
  assert.equal(s.junit, '/x/junit.xml');
  assert.equal(s.markdown, null);
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(s)));
});

test('comparison page: escaped, one chart with both sides', () => {
  const { comparison, sides } = comparisonOf('regression', EVIL);
  const html = renderComparisonHtml({ comparison, command: 'regress', sides, toolVersion: '0.1.0', baselineSource: '<b>base.json</b>' }, { vega: '', vegaLite: '', vegaEmbed: '' });
  assert.ok(!html.includes('<script>alert'));
  assert.ok(!html.includes('<b>base.json'));
  assert.equal(html.match(/<script/gi)?.length, 5);
  const spec = JSON.parse(html.match(/<script type="application\/json" id="spec-comparison"[^>]*>([\s\S]*?)<\/script>/)![1]!) as { data: { values: { side: string }[] } };
  assert.deepEqual([...new Set(spec.data.values.map((v) => v.side))], ['baseline', 'candidate']);
  assert.ok(html.includes('data-check="throughput_at_target" data-status="fail"'));
});
