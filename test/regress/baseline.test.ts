import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/domain/errors.js';
import type { CliIO } from '../../src/cli/io.js';
import { Store } from '../../src/store/store.js';
import { reportDataFromStore } from '../../src/report/from-store.js';
import { BaselineError, baselineJson, exportBaseline, loadBaseline } from '../../src/regress/baseline.js';
import { BASELINE_SCHEMA_VERSION, compareDocs, configFromJson, pointFromJson, pointToJson, reportDataFromDoc, validateBaseline, type BaselineDoc } from '../../src/regress/doc.js';
import { defaultDeps, finishRegress, resolveComparisonSettings, type ComparisonDeps as RegressDeps } from '../../src/cli/comparison.js';
import { compareCommand } from '../../src/cli/commands/compare.js';
import { exportBaselineCommand } from '../../src/cli/commands/baseline-export.js';
import { regress, type MeasureTarget } from '../../src/regress/regress.js';
import { buildFixtureDb, FIXTURE_RUN_ID, fixtureData } from '../report/fixture-db.js';
import { parseXml, findAll } from './xml.js';
import { pt } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'tanalyze-baseline-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const dir = join(root, `case-${++n}`);
  return { dir, db: join(dir, 'runs.db') };
};
const META = { exportedAt: '2026-01-01T00:00:00.000Z', toolVersion: '9.9.9' };
const deps: RegressDeps = { ...defaultDeps, now: () => new Date('2026-01-01T00:00:00.000Z'), toolVersion: () => '9.9.9' };

function fakeIo(cwd: string): CliIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (s) => out.push(s), stderr: (s) => err.push(s), cwd, env: {} };
}

function exported(db: string, run = 'latest'): BaselineDoc {
  const store = Store.open(db);
  try {
    return exportBaseline(store, run, META);
  } finally {
    store.close();
  }
}

describe('baseline export and import', () => {
  test('round trip through a real SQLite file and a JSON file: nothing lost', () => {
    const { dir, db } = fresh();
    buildFixtureDb(db);
    const doc = exported(db);
    assert.equal(doc.schema, 'tanalyze-baseline');
    assert.equal(doc.schema_version, BASELINE_SCHEMA_VERSION);
    assert.equal(doc.run.id, FIXTURE_RUN_ID);
    assert.equal(doc.exported_at, META.exportedAt);
    const file = join(dir, 'baseline.json');
    writeFileSync(file, baselineJson(doc));
    const back = loadBaseline(file, { cwd: dir });
    assert.equal(back.source, 'file');
    assert.deepEqual(back.doc, doc);
    // The document renders the same report data as the database.
    const store = Store.open(db);
    try {
      const fromDb = reportDataFromStore(store, FIXTURE_RUN_ID);
      const fromDoc = reportDataFromDoc(back.doc);
      assert.deepEqual(fromDoc.trials, fromDb.trials);
      assert.equal(fromDoc.recommendedIndex, fromDb.recommendedIndex);
      assert.equal(fromDoc.recommendedPbtxt, fromDb.recommendedPbtxt);
      assert.deepEqual({ ...fromDoc.run, wallS: null }, { ...fromDb.run, wallS: null });
    } finally {
      store.close();
    }
    // And a run reference reads the same document straight from the database.
    const byRun = loadBaseline(FIXTURE_RUN_ID.slice(0, 10), { cwd: dir, db, meta: META });
    assert.equal(byRun.source, 'database');
    assert.equal(byRun.where, `${db}#${FIXTURE_RUN_ID}`);
    assert.deepEqual(byRun.doc, doc);
  });

  test('non-finite figures survive as null in JSON and NaN when read', () => {
    const p = pt(4, NaN, Infinity, { server: { requests: 1, executions: 1, queueUs: NaN, computeInputUs: 1, computeInferUs: 2, computeOutputUs: 3 } });
    const j = pointToJson(p);
    assert.equal(j.throughput_ips, null);
    assert.equal(j.p99_ms, null);
    const back = pointFromJson(JSON.parse(JSON.stringify(j)));
    assert.ok(Number.isNaN(back.throughputIps) && Number.isNaN(back.p99Ms) && Number.isNaN(back.server!.queueUs));
    assert.equal(back.server!.computeInferUs, 2);
  });

  const bad: [string, (dir: string) => string, RegExp][] = [
    ['a missing file', (dir) => join(dir, 'nope.json'), /^--baseline: file '.*nope\.json' does not exist; give a baseline JSON file \(`tanalyze baseline export <run> --out FILE` writes one\)/],
    ['not JSON', (dir) => write(dir, 'x.json', '{ nope'), /^--baseline: '.*x\.json' is not JSON: /],
    ['another JSON document', (dir) => write(dir, 'x.json', '{"name": "package"}'), /not a tanalyze baseline: "schema" is null, expected "tanalyze-baseline"/],
    ['a newer schema', (dir) => write(dir, 'x.json', JSON.stringify({ schema: 'tanalyze-baseline', schema_version: 99 })), /baseline schema_version 99 is newer than this tanalyze reads \(up to 1\); use a newer tanalyze/],
    ['broken fields, all listed with their paths', (dir) => {
      const doc = JSON.parse(readFileSync(join(dir, 'good.json'), 'utf8'));
      doc.run.target_p99_ms = 'fast';
      doc.trials[1].config.precision = 'FP64';
      doc.trials[2].measurements[0][1].p99_ms = 'slow';
      doc.recommended_index = 42;
      return write(dir, 'x.json', JSON.stringify(doc));
    }, /not a valid tanalyze baseline:\n  - run\.target_p99_ms: expected a number > 0, found "fast"\n  - trials\[1\]\.config\.precision: expected FP32, FP16, BF16, INT8, found "FP64"\n  - trials\[2\]\.measurements\[0\]\[1\]\.p99_ms: expected a number or null, found "slow"\n  - recommended_index: trial 42 is not in "trials"$/],
  ];
  function write(dir: string, name: string, text: string): string {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  }
  for (const [name, make, re] of bad) {
    test(`clear error: ${name}`, () => {
      const { dir, db } = fresh();
      buildFixtureDb(db);
      writeFileSync(join(dir, 'good.json'), baselineJson(exported(db)));
      assert.throws(() => loadBaseline(make(dir), { cwd: dir }), (e: unknown) => e instanceof BaselineError && re.test(e.message), 'message');
    });
  }

  test('clear error: a run that is not in the database, or no database', () => {
    const { dir, db } = fresh();
    buildFixtureDb(db);
    assert.throws(() => loadBaseline('nightly-42', { cwd: dir, db }), (e: unknown) => e instanceof BaselineError && /^--baseline: no run 'nightly-42' in .*runs\.db; accepted: latest, or a run id such as 20250114-093012-7f3a/.test(e.message));
    assert.throws(() => loadBaseline('latest', { cwd: dir, db: join(dir, 'missing.db') }), (e: unknown) => e instanceof BaselineError && /is not a file, and the results database '.*missing\.db' does not exist/.test(e.message));
  });

  test('a run without a recommendation cannot be a baseline', () => {
    const { db } = fresh();
    buildFixtureDb(db, { targetP99Ms: 1 });
    const doc = exported(db);
    assert.equal(doc.recommended_index, null);
    assert.throws(() => compareDocs(doc, doc), (e: unknown) => e instanceof BaselineError && /has no recommended configuration \(no configuration met its 1 ms p99 target\)/.test(e.message));
  });
});

describe('compare command: stored runs and files', () => {
  test('the same run against itself: no regression, exit 0, outputs written', async () => {
    const { dir, db } = fresh();
    buildFixtureDb(db);
    const io = fakeIo(dir);
    const code = await compareCommand('latest', FIXTURE_RUN_ID, { db, junit: 'out/junit.xml', markdown: 'out/summary.md', html: 'out/compare.html' }, io, deps);
    assert.equal(code, 0, io.out.join(''));
    assert.match(io.out.join(''), /No regression\./);
    const junit = parseXml(readFileSync(join(dir, 'out/junit.xml'), 'utf8'));
    assert.equal(junit.attrs.failures, '0');
    assert.equal(findAll(junit, 'testcase').length, 3);
    assert.match(readFileSync(join(dir, 'out/summary.md'), 'utf8'), /✅ no regression/);
    assert.ok(existsSync(join(dir, 'out/compare.html')));
  });

  test('a slower candidate run against a baseline file: regression, exit 1, JSON summary', async () => {
    const { dir, db } = fresh();
    buildFixtureDb(db);
    writeFileSync(join(dir, 'baseline.json'), baselineJson(exported(db)));
    const slow = join(dir, 'slow.db');
    buildFixtureDb(slow, { runId: 'candidate-run', throughputFactor: 0.85 });
    const io = fakeIo(dir);
    const code = await compareCommand('baseline.json', 'candidate-run', { db: slow, json: true, maxThroughputDrop: '5%' }, io, deps);
    assert.equal(code, 1);
    const s = JSON.parse(io.out.join(''));
    assert.equal(s.kind, 'comparison');
    assert.equal(s.command, 'compare');
    assert.equal(s.verdict, 'regression');
    assert.equal(s.exit_code, 1);
    const tp = s.checks.find((c: { id: string }) => c.id === 'throughput_at_target');
    assert.equal(tp.status, 'fail');
    assert.ok(Math.abs(tp.worse - 0.15) < 1e-6, String(tp.worse));
    assert.equal(s.baseline.run_id, FIXTURE_RUN_ID);
    // A looser threshold lets it pass.
    const io2 = fakeIo(dir);
    assert.equal(await compareCommand('baseline.json', 'candidate-run', { db: slow, maxThroughputDrop: '20%' }, io2, deps), 0);
  });

  test('a candidate that meets the target nowhere: SLA not met, exit 2', async () => {
    const { dir, db } = fresh();
    buildFixtureDb(db);
    const bad = join(dir, 'bad.db');
    buildFixtureDb(bad, { runId: 'hopeless', latencyFactor: 40 });
    writeFileSync(join(dir, 'b.json'), baselineJson(exported(db)));
    const io = fakeIo(dir);
    assert.equal(await compareCommand('b.json', 'hopeless', { db: bad }, io, deps), 2);
    assert.match(io.out.join(''), /^\nSLA not met: no load point of the candidate met the 50 ms p99 target/);
  });

  test('usage errors name the argument; a bad threshold names the flag', async () => {
    const { dir, db } = fresh();
    buildFixtureDb(db);
    await assert.rejects(compareCommand('nope.json', 'latest', { db }, fakeIo(dir), deps), (e: unknown) => e instanceof UsageError && /^compare: <baseline>: file '.*nope\.json' does not exist/.test(e.problems[0] as string));
    await assert.rejects(compareCommand('latest', 'zzz', { db }, fakeIo(dir), deps), (e: unknown) => e instanceof UsageError && /^compare: <candidate>: no run 'zzz'/.test(e.problems[0] as string));
    await assert.rejects(compareCommand('latest', 'latest', { db, maxP99Rise: 'ten' }, fakeIo(dir), deps), (e: unknown) => e instanceof UsageError && /^--max-p99-rise: 'ten' is not a fraction/.test(e.problems[0] as string));
  });
});

describe('baseline export command', () => {
  test('writes the file and a JSON summary; without --out the document goes to stdout', async () => {
    const { dir, db } = fresh();
    buildFixtureDb(db);
    const io = fakeIo(dir);
    assert.equal(await exportBaselineCommand('latest', { db, out: 'ci/baseline.json', json: true }, io, deps), 0);
    const s = JSON.parse(io.out.join(''));
    assert.equal(s.kind, 'baseline-export');
    assert.equal(s.file, join(dir, 'ci/baseline.json'));
    assert.equal(s.recommended.trial_index, exported(db).recommended_index);
    assert.deepEqual(validateBaseline(JSON.parse(readFileSync(s.file, 'utf8')), 'x'), { ...exported(db), exported_at: '2026-01-01T00:00:00.000Z', tool_version: '9.9.9' });
    const io2 = fakeIo(dir);
    await exportBaselineCommand(FIXTURE_RUN_ID, { db }, io2, deps);
    assert.equal(JSON.parse(io2.out.join('')).run.id, FIXTURE_RUN_ID);
    await assert.rejects(exportBaselineCommand('nope', { db }, fakeIo(dir), deps), (e: unknown) => e instanceof UsageError && /^baseline export: no run 'nope'/.test(e.problems[0] as string));
  });
});

describe('regress: the measurement injected', () => {
  function baselineDoc(): BaselineDoc {
    const { db } = fresh();
    buildFixtureDb(db);
    return exported(db);
  }
  /** Measures "again": the baseline's recommended points, scaled, with a little spread between repeats. */
  function fakeMeasure(doc: BaselineDoc, tf: number[], calls: MeasureTarget[]) {
    const rec = doc.trials.find((t) => t.index === doc.recommended_index)!;
    return async (t: MeasureTarget) => {
      calls.push(t);
      const f = tf[t.repeat % tf.length] as number;
      return { points: rec.measurements[0]!.map(pointFromJson).map((p) => ({ ...p, throughputIps: p.throughputIps * f })), bestIndex: null, stopReason: 'bracketed: ok' };
    };
  }

  test('measures the recommended configuration N times and finds no regression', async () => {
    const doc = baselineDoc();
    const calls: MeasureTarget[] = [];
    const r = await regress({ baseline: doc, measure: fakeMeasure(doc, [0.99, 1.0, 1.01], calls), repeats: 3, thresholds: { maxThroughputDrop: 0.05, maxP99Rise: 0.1 } });
    const rec = doc.trials.find((t) => t.index === doc.recommended_index)!;
    assert.equal(calls.length, 3);
    assert.deepEqual(calls.map((c) => c.repeat), [0, 1, 2]);
    assert.deepEqual(calls[0]!.config, configFromJson(rec.config));
    assert.equal(calls[0]!.pbtxt, rec.pbtxt);
    assert.equal(calls[0]!.variantName, rec.variant_name);
    assert.equal(calls[0]!.targetP99Ms, 50);
    assert.equal(calls[0]!.fixedLoad?.mode, 'concurrency');
    assert.equal(typeof calls[0]!.fixedLoad?.level, 'number');
    assert.equal(r.comparison.verdict, 'pass', r.comparison.headline);
    assert.equal(r.candidate.repeats.length, 3);
    const k = r.comparison.checks.find((c) => c.id === 'throughput_at_target')!;
    assert.ok((k.noise as number) > 0.009 && (k.noise as number) < 0.011, String(k.noise));
    // The fresh measurements make a valid baseline of their own, which compares clean against the old one.
    const again = validateBaseline(JSON.parse(baselineJson(r.candidateDoc)), 'candidate');
    assert.equal(again.trials[0]!.measurements.length, 3);
    assert.equal(again.recommended_index, rec.index);
    assert.equal(compareDocs(doc, again).comparison.verdict, 'pass');
  });

  test('a slower server is a regression (exit 1); --save-baseline and the outputs are written', async () => {
    const doc = baselineDoc();
    const r = await regress({ baseline: doc, measure: fakeMeasure(doc, [0.8], []), repeats: 2 });
    assert.equal(r.comparison.exitCode, 1);
    const { dir } = fresh();
    const io = fakeIo(dir);
    const settings = resolveComparisonSettings({ junit: 'junit.xml', saveBaseline: 'next.json', markdown: 'sum.md' }, {}, dir);
    assert.equal(await finishRegress(r, settings, io, 'baseline.json', deps), 1);
    assert.equal(findAll(parseXml(readFileSync(join(dir, 'junit.xml'), 'utf8')), 'failure').length, 1);
    assert.ok(validateBaseline(JSON.parse(readFileSync(join(dir, 'next.json'), 'utf8')), 'next'));
    assert.match(readFileSync(join(dir, 'sum.md'), 'utf8'), /❌ regression/);
  });

  test('a measurement that throws is an infrastructure failure (exit 3), and stops the repeats', async () => {
    const doc = baselineDoc();
    let calls = 0;
    const r = await regress({
      baseline: doc,
      repeats: 3,
      measure: async () => {
        calls++;
        throw new Error('the server did not load the configuration: engine build failed');
      },
    });
    assert.equal(calls, 1);
    assert.equal(r.comparison.verdict, 'infrastructure');
    assert.equal(r.comparison.exitCode, 3);
    assert.match(r.comparison.headline, /engine build failed/);
  });

  test('requests failing at the lightest load: infrastructure (exit 3)', async () => {
    const doc = baselineDoc();
    const r = await regress({ baseline: doc, repeats: 2, measure: async () => ({ points: [pt(1, 0, NaN, { stopReason: 'errors', errors: 10 })], stopReason: 'errors: every request failed', firstError: 'UNAVAILABLE' }) });
    assert.equal(r.comparison.exitCode, 3);
    assert.match(r.comparison.headline, /requests failed: UNAVAILABLE/);
  });

  test('with a re-search: its best configuration is compared too', async () => {
    const doc = baselineDoc();
    const { db } = fresh();
    buildFixtureDb(db, { runId: 'research', throughputFactor: 1.2 });
    const found = exported(db);
    const r = await regress({ baseline: doc, repeats: 1, measure: fakeMeasure(doc, [1], []), research: async () => found });
    assert.equal(r.candidateBest?.runId, 'research');
    assert.equal(r.comparison.verdict, 'pass');
    const failing = await regress({ baseline: doc, repeats: 1, measure: fakeMeasure(doc, [1], []), research: async () => { throw new Error('no GPU'); } });
    assert.equal(failing.comparison.verdict, 'infrastructure');
    assert.ok(failing.comparison.checks.some((c) => c.name === 'search again' && c.status === 'error'));
  });

  test('fixtureData scales a run for candidates', () => {
    const slow = fixtureData({ throughputFactor: 0.5 });
    const base = fixtureData();
    const i = base.recommendedIndex as number;
    assert.ok(Math.abs((slow.trials[i]!.objectiveIps as number) - (base.trials[i]!.objectiveIps as number) * 0.5) < 1e-9);
  });
});

test('a baseline keeps each point\'s p99 interval and client flags (an open upper bound as null), and rejects malformed ones', () => {
  const point = {
    ...pointFromJson(pointToJson({ concurrency: 4, throughputIps: 900, p50Ms: 3, p90Ms: 4, p95Ms: 5, p99Ms: 6, requests: 900, errors: 0, windows: 3, stable: true, stopReason: 'stable', server: null, durationS: 1 })),
    p99CiMs: [5.5, Number.POSITIVE_INFINITY] as [number, number],
    ciLevel: 0.95,
    clientLimited: true,
    clientLimitReason: "the client's event loop was 97% busy",
    unreliable: true,
    unreliableReason: 'the client fell behind its schedule: 4% of 600 requests left late (more than 1%)',
  };
  const json = JSON.parse(JSON.stringify(pointToJson(point)));
  assert.deepEqual(json.p99_ci_ms, [5.5, null]);
  assert.deepEqual(pointFromJson(json), point);
  const doc = JSON.parse(JSON.stringify(baselineJsonFixture()));
  doc.trials[0].measurements[0][0].p99_ci_ms = ['low', 7];
  doc.trials[0].measurements[0][0].unreliable = 'yes';
  assert.throws(() => validateBaseline(doc, 'b.json'), /measurements\[0\]\[0\]\.p99_ci_ms: expected a \[low, high or null\] pair of numbers[\s\S]*measurements\[0\]\[0\]\.unreliable: expected true or false/);
});

function baselineJsonFixture(): BaselineDoc {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-bl-'));
  const db = join(dir, 't.db');
  buildFixtureDb(db);
  const store = Store.open(db);
  try {
    return JSON.parse(baselineJson(exportBaseline(store, FIXTURE_RUN_ID, META))) as BaselineDoc;
  } finally {
    store.close();
  }
}

test('a baseline keeps an open-loop point\'s offered rate, so regress compares p99 at that rate; a bad one is named', () => {
  const point = pointFromJson(pointToJson({ concurrency: 12, mode: 'rate', offeredRate: 850, throughputIps: 840, p50Ms: 3, p90Ms: 4, p95Ms: 5, p99Ms: 6, requests: 900, errors: 0, windows: 3, stable: true, stopReason: 'stable', server: null, durationS: 1 }));
  assert.equal(point.offeredRate, 850);
  assert.equal(point.mode, 'rate');
  const json = JSON.parse(JSON.stringify(pointToJson(point)));
  assert.equal(json.offered_rate, 850);
  assert.equal(pointToJson(pointFromJson(json)).offered_rate, 850);
  assert.equal('offered_rate' in pointToJson({ ...point, mode: 'concurrency', offeredRate: undefined as unknown as number }), false);
  const doc = JSON.parse(JSON.stringify(baselineJsonFixture()));
  doc.trials[0].measurements[0][0].offered_rate = -3;
  assert.throws(() => validateBaseline(doc, 'b.json'), /measurements\[0\]\[0\]\.offered_rate: expected a positive number of requests\/s/);
});

test('baselineLoadMode: the recommended configuration\'s points say how the baseline was loaded', async () => {
  const { baselineLoadMode } = await import('../../src/regress/doc.js');
  const doc = JSON.parse(JSON.stringify(baselineJsonFixture())) as BaselineDoc;
  assert.equal(baselineLoadMode(doc), 'concurrency');
  const rec = doc.trials.find((t) => t.index === doc.recommended_index)!;
  for (const m of rec.measurements) for (const p of m) p.offered_rate = 100 * (p.concurrency + 1);
  assert.equal(baselineLoadMode(doc), 'rate');
  assert.equal(baselineLoadMode({ ...doc, recommended_index: null }), null);
});
