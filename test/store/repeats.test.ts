import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { reportDataFromStore } from '../../src/report/from-store.js';
import { renderReportHtml } from '../../src/report/html.js';
import { formatRunSummary, summarizeRun } from '../../src/report/summary.js';
import type { ServingConfig } from '../../src/domain/serving.js';
import { Store } from '../../src/store/store.js';

const root = mkdtempSync(join(tmpdir(), 'tanalyze-repeats-'));
after(() => rmSync(root, { recursive: true, force: true }));

const a: ServingConfig = { maxBatchSize: 8, maxQueueDelayUs: 1000, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [] };
const b: ServingConfig = { ...a, maxBatchSize: 16 };

function runWith(file: string, measurements: [ServingConfig, number][]): { store: Store; runId: string } {
  const store = Store.open(file);
  const run = store.createRun({
    model: 'm', targetP99Ms: 50, strategy: 'bayesian', seed: 1, budget: 10, launch: 'replay', serverVersion: null, toolVersion: 't', hardware: null, plan: {},
  });
  measurements.forEach(([config, ips], index) => {
    const id = store.startTrial(run.id, index, { config, variantName: `m_config_${index}`, isDefault: false, pbtxt: null });
    store.finishTrial(id, { state: 'COMPLETE', objectiveIps: ips, p99Ms: 40, error: null });
  });
  return { store, runId: run.id };
}

describe('repeats in the store and the report', () => {
  it('stores a repeat as a trial that names the first measurement of its configuration', () => {
    const { store, runId } = runWith(join(root, 'a.db'), [[a, 1000], [b, 980], [a, 940], [b, 990], [a, 950]]);
    assert.deepEqual(store.trials(runId).map((t) => t.repeatOf), [null, null, 0, 1, 0]);
    store.close();
  });

  it('migrates an older database: repeats found by configuration', () => {
    const file = join(root, 'old.db');
    const { store, runId } = runWith(file, [[a, 1000], [b, 980], [a, 940]]);
    store.close();
    // Back to version 2, as a database written before repeats existed.
    const raw = new Database(file);
    raw.exec('ALTER TABLE trials DROP COLUMN repeat_of; DELETE FROM schema_version WHERE version = 3;');
    raw.close();
    const again = Store.open(file);
    assert.deepEqual(again.trials(runId).map((t) => t.repeatOf), [null, null, 0]);
    again.close();
  });

  it('recommends by the mean of repeats and says in the JSON when the runner-up cannot be told apart', () => {
    // a's first measurement is the luckiest single figure; b is better on average.
    const { store, runId } = runWith(join(root, 'b.db'), [[a, 1000], [b, 980], [a, 940], [b, 990], [a, 950]]);
    const data = reportDataFromStore(store, runId);
    store.close();
    assert.equal(data.recommendedIndex, 1, 'b, shown by its measurement closest to its mean (985; 980 and 990 tie: the earlier)');
    const s = summarizeRun(data, { htmlPath: '/tmp/r.html' });
    assert.deepEqual(s.recommended_measurements!.trial_indexes, [1, 3]);
    assert.equal(s.recommended_measurements!.mean_ips, 985);
    const [lo, hi] = s.recommended_measurements!.interval_ips;
    assert.ok(lo < 985 && hi > 985);
    assert.deepEqual(s.runner_up!.measurements.trial_indexes, [0, 2, 4]);
    assert.equal(s.runner_up!.measurements.mean_ips, 2890 / 3);
    assert.equal(s.runner_up_indistinguishable, true);
    assert.match(formatRunSummary(s), /cannot tell it from the recommended one/);
    const html = renderReportHtml(data, { vega: '', vegaLite: '', vegaEmbed: '' });
    assert.match(html, /Measured again/);
    assert.match(html, /the two cannot be told apart/);
  });

  it('says the two are told apart when the repeats agree and the gap is large', () => {
    const { store, runId } = runWith(join(root, 'c.db'), [[a, 1000], [b, 700], [a, 1001], [b, 701]]);
    const s = summarizeRun(reportDataFromStore(store, runId), { htmlPath: '/tmp/r.html' });
    store.close();
    assert.equal(s.recommended!.max_batch_size, 8);
    assert.equal(s.runner_up_indistinguishable, false);
  });
});
