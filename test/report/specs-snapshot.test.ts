// Snapshot of every vega-lite spec of the report, rendered from a small database fixture built
// with the real Store. Times and ids are scrubbed, numbers rounded to 6 significant digits.
// Update after an intended change: UPDATE_SNAPSHOTS=1 node --test <this file>, then review the diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Store } from '../../src/store/store.js';
import { reportDataFromStore } from '../../src/report/from-store.js';
import { allSpecs } from '../../src/report/specs.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { buildFixtureDb, FIXTURE_RUN_ID } from './fixture-db.js';

const SNAPSHOT = fromPackageRoot('test', 'report', '__snapshots__', 'report-specs.json');
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Replaces times and the run id, rounds numbers, so the snapshot only changes when the specs do. */
export function scrub(value: unknown, runId: string): unknown {
  if (typeof value === 'number') return Number.isFinite(value) && !Number.isInteger(value) ? Number(value.toPrecision(6)) : value;
  if (typeof value === 'string') {
    if (ISO_TIME.test(value)) return '<time>';
    return value.split(runId).join('<run-id>');
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, runId));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, runId)]));
  return value;
}

// The first is a run measured before p99 intervals and client flags existed: its snapshot must not
// change when they are added. The second carries both (fixture.ts, addMeasurementChecks).
const SNAPSHOTS = [
  { name: 'the fixture database', file: SNAPSHOT, opts: {} },
  { name: 'the fixture database with p99 intervals and client flags', file: fromPackageRoot('test', 'report', '__snapshots__', 'report-specs-checks.json'), opts: { measurementChecks: true } },
];

for (const snap of SNAPSHOTS) {
  test(`the report specs from ${snap.name} match the snapshot`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tanalyze-snap-'));
    try {
      const db = join(dir, 'fixture.db');
      const runId = buildFixtureDb(db, snap.opts);
      assert.equal(runId, FIXTURE_RUN_ID);
      const store = Store.open(db);
      let specs: unknown;
      try {
        specs = scrub(allSpecs(reportDataFromStore(store, runId)), runId);
      } finally {
        store.close();
      }
      const text = JSON.stringify(specs, null, 2) + '\n';
      if (process.env.UPDATE_SNAPSHOTS === '1' || !existsSync(snap.file)) {
        if (process.env.UPDATE_SNAPSHOTS !== '1') assert.fail(`no snapshot at ${snap.file}; run the test with UPDATE_SNAPSHOTS=1 to write it, then review it`);
        mkdirSync(dirname(snap.file), { recursive: true });
        writeFileSync(snap.file, text);
        return;
      }
      const expected = JSON.parse(readFileSync(snap.file, 'utf8')) as unknown;
      assert.deepEqual(JSON.parse(text), expected, `the report's vega-lite specs changed; if intended, run with UPDATE_SNAPSHOTS=1 and review the diff of ${snap.file}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the fixture database: GPU memory is absent, so that chart is left out; every other chart is drawn', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-snap-'));
  try {
    const db = join(dir, 'fixture.db');
    buildFixtureDb(db);
    const store = Store.open(db);
    try {
      const specs = allSpecs(reportDataFromStore(store, FIXTURE_RUN_ID));
      assert.equal(specs['gpu-memory'], null);
      for (const [name, spec] of Object.entries(specs)) if (name !== 'gpu-memory') assert.ok(spec, `${name} is missing`);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
