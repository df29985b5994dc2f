import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIGURATION_COLUMNS, configurationsCsv, csvField, MEASUREMENT_COLUMNS, measurementsCsv } from '../../src/report/csv.js';
import { reportDataFromStore } from '../../src/report/from-store.js';
import { writeReport } from '../../src/report/write.js';
import { Store } from '../../src/store/store.js';
import { makeReportFixture } from './fixture.js';
import { buildFixtureDb, FIXTURE_RUN_ID } from './fixture-db.js';

/** RFC 4180 reader for the tests: rows of fields. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field), rows.push(row), (row = []), (field = ''), i++;
    } else field += c;
  }
  assert.equal(field, '', 'text after the last line end');
  return rows;
}

function records(text: string): Record<string, string>[] {
  const [head, ...rows] = parseCsv(text);
  return rows.map((r) => {
    assert.equal(r.length, head!.length, `row of ${r.length} fields under ${head!.length} columns`);
    return Object.fromEntries(head!.map((h, i) => [h, r[i] as string]));
  });
}

test("measurements CSV: Model Analyzer's columns first, then server times in µs", () => {
  const data = makeReportFixture();
  const text = measurementsCsv(data);
  const [head] = parseCsv(text);
  assert.deepEqual(head!.slice(0, 9), ['Model', 'Batch', 'Concurrency', 'Model Config Path', 'Instance Group', 'Max Batch Size', 'Satisfies Constraints', 'Throughput (infer/sec)', 'p99 Latency (ms)']);
  assert.deepEqual(head, [...MEASUREMENT_COLUMNS]);
  const rows = records(text);
  assert.equal(rows.length, data.trials.reduce((n, t) => n + t.points.length, 0));
  const rec = data.trials.find((t) => t.index === data.recommendedIndex)!;
  const recRows = rows.filter((r) => r['Trial'] === String(rec.index));
  assert.equal(recRows.length, rec.points.length);
  const p = rec.points[0]!;
  const r = recRows[0]!;
  assert.equal(r['Model'], data.run.model);
  assert.equal(r['Batch'], '1');
  assert.equal(r['Model Config Path'], rec.variantName);
  assert.equal(r['Instance Group'], `${rec.config.instanceCount}:GPU`);
  assert.equal(r['Max Batch Size'], String(rec.config.maxBatchSize));
  assert.equal(r['Recommended'], 'Yes');
  assert.ok(Math.abs(Number(r['Throughput (infer/sec)']) - p.throughputIps) < 1e-3);
  assert.ok(Math.abs(Number(r['Server Queue (us)']) - p.server!.queueUs) < 1e-3);
  assert.ok(Math.abs(Number(r['Server Compute Infer (us)']) - p.server!.computeInferUs) < 1e-3);
  const s = p.server!;
  const rest = p.p50Ms * 1000 - s.queueUs - s.computeInputUs - s.computeInferUs - s.computeOutputUs;
  assert.ok(Math.abs(Number(r['Network+Client (us)']) - rest) < 1e-2);
  assert.ok(Number(r['GPU Memory (MB)']) > 0);
  for (const row of rows) {
    const ok = Number(row['p99 Latency (ms)']) <= data.run.targetP99Ms;
    assert.equal(row['Satisfies Constraints'], ok ? 'Yes' : 'No');
  }
});

test('configurations CSV: one row per trial, failed ones with their reason', () => {
  const data = makeReportFixture({ error: 'build failed: "x", y\nz' });
  const rows = records(configurationsCsv(data));
  assert.deepEqual(parseCsv(configurationsCsv(data))[0], [...CONFIGURATION_COLUMNS]);
  assert.equal(rows.length, data.trials.length);
  const failed = rows.find((r) => r['State'] === 'FAILED')!;
  assert.equal(failed['Error'], 'build failed: "x", y\nz');
  assert.equal(failed['Throughput (infer/sec)'], '');
  assert.equal(failed['Satisfies Constraints'], 'No');
  const def = rows.find((r) => r['Default'] === 'Yes')!;
  assert.equal(def['Max Queue Delay (us)'], '', 'no dynamic batcher is an empty delay');
  assert.equal(rows.filter((r) => r['Recommended'] === 'Yes').length, 1);
});

test('CSV fields: quoting and numbers', () => {
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('line\nbreak'), '"line\nbreak"');
  assert.equal(csvField(' padded'), '" padded"');
  assert.equal(csvField(1.23456789), '1.235');
  assert.equal(csvField(2.5), '2.5');
  assert.equal(csvField(NaN), '');
  assert.equal(csvField(Infinity), '');
  assert.equal(csvField(null), '');
  assert.equal(csvField(true), 'Yes');
});

test('writeReport writes both tables next to the page, from the stored run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-csv-'));
  try {
    const db = join(dir, 'runs.db');
    buildFixtureDb(db, { model: 'model, "quoted"' });
    const store = Store.open(db);
    const data = reportDataFromStore(store, FIXTURE_RUN_ID);
    store.close();
    const out = await writeReport(join(dir, FIXTURE_RUN_ID), data);
    assert.equal(out.csv.measurements, join(dir, FIXTURE_RUN_ID, 'metrics-model-inference.csv'));
    const rows = records(readFileSync(out.csv.measurements, 'utf8'));
    assert.equal(rows[0]!['Model'], 'model, "quoted"');
    assert.equal(rows[0]!['Instance Group'], '1:GPU', 'the kind comes from the stored config.pbtxt');
    assert.equal(rows[0]!['GPU Memory (MB)'], '', 'not measured: empty');
    assert.equal(records(readFileSync(out.csv.configurations, 'utf8')).length, data.trials.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
