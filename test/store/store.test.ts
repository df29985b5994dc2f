import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { LoadPoint } from '../../src/domain/measurement.js';
import type { ServingConfig } from '../../src/domain/serving.js';
import { SCHEMA_VERSION } from '../../src/store/schema.js';
import { type NewRun, Store, StoreError } from '../../src/store/store.js';

const root = mkdtempSync(join(tmpdir(), 'tanalyze-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const dbFile = () => join(root, `case-${++n}`, 'nested', 'runs.db');

/** A clock that advances one second per reading. */
function fakeClock(start = Date.UTC(2026, 10, 24, 15, 30, 12)): () => Date {
  let t = start;
  return () => new Date((t += 1000) - 1000);
}

const newRun = (over: Partial<NewRun> = {}): NewRun => ({
  model: 'resnet',
  targetP99Ms: 50,
  strategy: 'grid',
  seed: 7,
  budget: 12,
  launch: 'embedded',
  serverVersion: null,
  toolVersion: '0.1.0',
  hardware: 'test cpu',
  plan: { model: 'resnet', windows: { windowMs: 1000, maxWindows: 10 }, space: { maxBatchSizes: [4, 8] } },
  ...over,
});

const config = (over: Partial<ServingConfig> = {}): ServingConfig => ({
  maxBatchSize: 8, maxQueueDelayUs: 100, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [], ...over,
});

const point = (over: Partial<LoadPoint> = {}): LoadPoint => ({
  concurrency: 4,
  throughputIps: 812.5,
  p50Ms: 3.25,
  p90Ms: 4.5,
  p95Ms: 5.125,
  p99Ms: 7.75,
  requests: 4062,
  errors: 0,
  windows: 3,
  stable: true,
  stopReason: 'stable',
  server: { requests: 4062, executions: 1016, queueUs: 120.5, computeInputUs: 10.25, computeInferUs: 2900.5, computeOutputUs: 8 },
  durationS: 3.5,
  ...over,
});

function isStoreError(code: StoreError['code'], file: string, pattern?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof StoreError, `expected a StoreError, got ${String(e)}`);
    assert.equal(e.name, 'StoreError');
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(file), `message names the file: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

describe('Store', () => {
  it('creates the folder, applies the schema, and reads everything back identically after reopening', () => {
    const file = dbFile();
    const s = Store.open(file, { now: fakeClock(), random: () => 0.6667 });
    assert.equal(s.schemaVersion(), SCHEMA_VERSION);
    const run = s.createRun(newRun());
    assert.match(run.id, /^20261124-1530\d\d-aaac$/); // UTC time of creation + random hex
    assert.equal(run.createdAt, `2026-11-24T15:30:${run.id.slice(13, 15)}.000Z`);
    assert.equal(run.status, 'running');
    assert.deepEqual(run.plan, newRun().plan);
    assert.match(run.planHash, /^[0-9a-f]{64}$/);

    const t0 = s.startTrial(run.id, 0, { config: config({ maxQueueDelayUs: null }), variantName: 'resnet_config_0', isDefault: true, pbtxt: 'max_batch_size: 8\n' });
    s.recordPoint(t0, 0, point({ concurrency: 1 }));
    s.recordPoint(t0, 1, point({ concurrency: 2, server: null }), { histogramB64: 'SElTVA==' });
    s.finishTrial(t0, { state: 'COMPLETE', objectiveIps: 812.5, p99Ms: 7.75, error: null });
    const t1 = s.startTrial(run.id, 1, { config: config({ preferredBatchSizes: [4, 8], precision: 'FP16' }), variantName: 'resnet_config_1', isDefault: false, pbtxt: null });
    s.finishTrial(t1, { state: 'FAILED', objectiveIps: null, p99Ms: null, error: 'the server did not load it' });
    s.updateRun(run.id, { serverVersion: '2.52.0' });
    s.finishRun(run.id, { status: 'complete', stopReason: 'search space exhausted', wallS: 12.5 });

    const before = { run: s.getRun(run.id), trials: s.trials(run.id), points: s.pointRows(t0), history: s.trialHistory(run.id), list: s.listRuns() };
    s.close();

    const r = Store.open(file);
    const again = { run: r.getRun(run.id), trials: r.trials(run.id), points: r.pointRows(t0), history: r.trialHistory(run.id), list: r.listRuns() };
    assert.deepEqual(again, before);
    r.close();

    // And what was read is what was written.
    assert.equal(before.run!.status, 'complete');
    assert.equal(before.run!.serverVersion, '2.52.0');
    assert.equal(before.run!.stopReason, 'search space exhausted');
    assert.equal(before.run!.wallS, 12.5);
    assert.ok(before.run!.finishedAt);
    assert.deepEqual(before.list.map((x) => [x.id, x.trialCount, x.completeCount]), [[run.id, 2, 1]]);
    const [a, b] = before.trials;
    assert.deepEqual(
      { index: a!.index, state: a!.state, isDefault: a!.isDefault, config: a!.config, variantName: a!.variantName, pbtxt: a!.pbtxt, objectiveIps: a!.objectiveIps, p99Ms: a!.p99Ms, attempt: a!.attempt },
      { index: 0, state: 'COMPLETE', isDefault: true, config: config({ maxQueueDelayUs: null }), variantName: 'resnet_config_0', pbtxt: 'max_batch_size: 8\n', objectiveIps: 812.5, p99Ms: 7.75, attempt: 1 },
    );
    assert.equal(a!.durationS, 1); // the fake clock reads once at start and once at finish
    assert.equal(a!.configKey, 'mbs=8;delay=off;inst=1;prec=FP32;pbs=-');
    assert.deepEqual([b!.state, b!.error, b!.pbtxt, b!.config.preferredBatchSizes], ['FAILED', 'the server did not load it', null, [4, 8]]);
    assert.deepEqual(before.points.map((p) => p.point), [point({ concurrency: 1 }), point({ concurrency: 2, server: null })]);
    assert.deepEqual(before.points.map((p) => p.histogramB64), [null, 'SElTVA==']);
    assert.deepEqual(before.history, [
      { index: 0, config: config({ maxQueueDelayUs: null }), state: 'COMPLETE', objectiveIps: 812.5, p99Ms: 7.75, error: null },
      { index: 1, config: config({ preferredBatchSizes: [4, 8], precision: 'FP16' }), state: 'FAILED', objectiveIps: null, p99Ms: null, error: 'the server did not load it' },
    ]);
  });

  it('round-trips NaN and ±Infinity, stored as NULL plus a tag so plain SQL ignores them', () => {
    const file = dbFile();
    const s = Store.open(file);
    const run = s.createRun(newRun({ targetP99Ms: Infinity }));
    const t = s.startTrial(run.id, 0, { config: config(), variantName: 'v0', isDefault: false, pbtxt: '' });
    const odd = point({
      throughputIps: NaN, p50Ms: Infinity, p99Ms: -Infinity, requests: 0,
      server: { requests: 0, executions: 0, queueUs: NaN, computeInputUs: NaN, computeInferUs: Infinity, computeOutputUs: 0 },
    });
    s.recordPoint(t, 0, odd);
    s.recordPoint(t, 1, point({ throughputIps: 100 }));
    s.finishTrial(t, { state: 'INFEASIBLE', objectiveIps: NaN, p99Ms: Infinity, error: 'above target' });
    s.updateRun(run.id, { wallS: -Infinity });
    s.updateRun(run.id, { stopReason: 'x' }); // leaves the other columns' tags alone
    s.close();

    const r = Store.open(file);
    assert.deepEqual(r.points(t)[0], odd);
    const tr = r.trials(run.id)[0]!;
    assert.ok(Number.isNaN(tr.objectiveIps));
    assert.equal(tr.p99Ms, Infinity);
    const rr = r.getRun(run.id)!;
    assert.equal(rr.targetP99Ms, Infinity);
    assert.equal(rr.wallS, -Infinity);
    r.close();

    const raw = new Database(file, { readonly: true });
    const row = raw.prepare('SELECT throughput_ips, p50_ms, nonfinite FROM measurements WHERE point_index = 0').get() as Record<string, unknown>;
    assert.equal(row.throughput_ips, null);
    assert.equal(row.p50_ms, null);
    assert.deepEqual(JSON.parse(String(row.nonfinite)), {
      throughput_ips: 'NaN', p50_ms: 'Infinity', p99_ms: '-Infinity',
      server_queue_us: 'NaN', server_compute_input_us: 'NaN', server_compute_infer_us: 'Infinity',
    });
    assert.equal((raw.prepare('SELECT AVG(throughput_ips) AS a FROM measurements').get() as { a: number }).a, 100);
    raw.close();
  });

  it('makes a finished trial visible to a second connection at once', () => {
    const file = dbFile();
    const writer = Store.open(file);
    const reader = Store.open(file);
    const run = writer.createRun(newRun());
    const t = writer.startTrial(run.id, 0, { config: config(), variantName: 'v0', isDefault: false, pbtxt: '' });
    assert.deepEqual(reader.trialHistory(run.id).map((h) => h.state), ['RUNNING']);
    writer.recordPoint(t, 0, point());
    assert.equal(reader.points(t).length, 1);
    writer.finishTrial(t, { state: 'COMPLETE', objectiveIps: 812.5, p99Ms: 7.75, error: null });
    assert.deepEqual(reader.trialHistory(run.id).map((h) => [h.state, h.objectiveIps]), [['COMPLETE', 812.5]]);
    writer.close();
    reader.close();
  });

  it('refuses contradicting writes with a typed error', () => {
    const file = dbFile();
    const s = Store.open(file);
    const run = s.createRun(newRun());
    const t = s.startTrial(run.id, 0, { config: config(), variantName: 'v0', isDefault: false, pbtxt: '' });
    s.recordPoint(t, 0, point());
    assert.throws(() => s.recordPoint(t, 0, point()), isStoreError('conflict', file, /already has load point 0/));
    s.finishTrial(t, { state: 'COMPLETE', objectiveIps: 1, p99Ms: 1, error: null });
    assert.throws(() => s.finishTrial(t, { state: 'FAILED', objectiveIps: null, p99Ms: null, error: 'x' }), isStoreError('conflict', file, /already finished/));
    assert.throws(() => s.recordPoint(t, 1, point()), isStoreError('conflict', file, /COMPLETE/));
    assert.throws(() => s.startTrial(run.id, 0, { config: config(), variantName: 'v0', isDefault: false, pbtxt: '' }), isStoreError('conflict', file, /already has trial 0/));
    assert.throws(() => s.startTrial('nope', 0, { config: config(), variantName: 'v0', isDefault: false, pbtxt: '' }), isStoreError('not-found', file, /no run 'nope'/));
    assert.throws(() => s.finishTrial(9999, { state: 'FAILED', objectiveIps: null, p99Ms: null, error: null }), isStoreError('not-found', file));
    assert.throws(() => s.createRun(newRun({ id: run.id })), isStoreError('conflict', file));
    assert.throws(() => s.createRun(newRun({ id: 'latest' })), isStoreError('invalid', file));
    assert.throws(() => s.trials('nope'), isStoreError('not-found', file));
    s.close();
  });

  it('replaces a load point only with one that pools more measurements of it (the load search\'s repeat)', () => {
    const file = dbFile();
    const s = Store.open(file);
    const run = s.createRun(newRun());
    const t = s.startTrial(run.id, 0, { config: config(), variantName: 'v0', isDefault: false, pbtxt: '' });
    s.recordPoint(t, 0, point({ windowHistogramsB64: ['a', 'b', 'c'] }));
    s.recordPoint(t, 1, point({ concurrency: 8 }));
    s.recordPoint(t, 0, point({ throughputIps: 700, requests: 8000, windows: 6, measurements: 2, windowHistogramsB64: ['a', 'b', 'c', 'd', 'e', 'f'] }));
    const pts = s.points(t);
    assert.deepEqual(pts.map((p) => [p.concurrency, p.throughputIps, p.measurements ?? 1]), [[4, 700, 2], [8, 812.5, 1]]);
    assert.deepEqual(s.windowHistograms(t, 0), ['a', 'b', 'c', 'd', 'e', 'f'], 'the pooled point\'s windows, none left over');
    assert.throws(() => s.recordPoint(t, 0, point({ measurements: 2 })), isStoreError('conflict', file, /already has load point 0/), 'no more measurements than stored: a conflict');
    assert.throws(() => s.recordPoint(t, 1, point()), isStoreError('conflict', file, /already has load point 1/));
    s.close();
  });

  it('failStaleRunning marks interrupted trials FAILED, drops their points, and lets the runner redo them', () => {
    const file = dbFile();
    const s = Store.open(file);
    const run = s.createRun(newRun());
    const t0 = s.startTrial(run.id, 0, { config: config(), variantName: 'v0', isDefault: true, pbtxt: '' });
    s.finishTrial(t0, { state: 'COMPLETE', objectiveIps: 10, p99Ms: 5, error: null });
    const t1 = s.startTrial(run.id, 1, { config: config({ maxBatchSize: 16 }), variantName: 'v1', isDefault: false, pbtxt: '' });
    s.recordPoint(t1, 0, point());

    assert.deepEqual(s.failStaleRunning(run.id, 'the process ended before the trial finished'), [1]);
    assert.deepEqual(s.failStaleRunning(run.id, 'again'), []);
    const stale = s.trials(run.id)[1]!;
    assert.deepEqual([stale.state, stale.error, stale.interrupted, stale.objectiveIps], ['FAILED', 'interrupted: the process ended before the trial finished', true, null]);
    assert.deepEqual(s.points(t1), []);
    assert.deepEqual(s.trialsToRedo(run.id).map((t) => t.index), [1]);

    // Redo: same index, same config → same row, next attempt.
    assert.throws(() => s.startTrial(run.id, 1, { config: config({ maxBatchSize: 4 }), variantName: 'v1', isDefault: false, pbtxt: '' }), isStoreError('conflict', file, /would change the history/));
    const again = s.startTrial(run.id, 1, { config: config({ maxBatchSize: 16 }), variantName: 'v1', isDefault: false, pbtxt: 'new' });
    assert.equal(again, t1);
    const redone = s.trials(run.id)[1]!;
    assert.deepEqual([redone.state, redone.error, redone.interrupted, redone.attempt, redone.pbtxt], ['RUNNING', null, false, 2, 'new']);
    assert.deepEqual(s.trialsToRedo(run.id), []);
    s.recordPoint(t1, 0, point());
    s.finishTrial(t1, { state: 'COMPLETE', objectiveIps: 20, p99Ms: 6, error: null });
    assert.deepEqual(s.trialHistory(run.id).map((h) => h.state), ['COMPLETE', 'COMPLETE']);
    s.close();
  });

  it('survives a process killed mid-trial: finished trials are kept, the running one is redone', () => {
    const file = dbFile();
    const storeUrl = new URL('../../src/store/store.js', import.meta.url).href;
    const script = join(root, 'crash.mjs');
    writeFileSync(script, `
      import { Store } from ${JSON.stringify(storeUrl)};
      const s = Store.open(process.argv[2]);
      const cfg = (mbs) => ({ maxBatchSize: mbs, maxQueueDelayUs: 0, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [] });
      const run = s.createRun({ id: 'crash', model: 'm', targetP99Ms: 10, strategy: 'grid', seed: 0, budget: 5, launch: 'sim', toolVersion: 't', plan: {} });
      const pt = { concurrency: 1, throughputIps: 1, p50Ms: 1, p90Ms: 1, p95Ms: 1, p99Ms: 1, requests: 1, errors: 0, windows: 3, stable: true, stopReason: 'stable', server: null, durationS: 1 };
      const a = s.startTrial(run.id, 0, { config: cfg(4), variantName: 'v0', isDefault: false, pbtxt: '' });
      s.recordPoint(a, 0, pt);
      s.finishTrial(a, { state: 'COMPLETE', objectiveIps: 1, p99Ms: 1, error: null });
      const b = s.startTrial(run.id, 1, { config: cfg(8), variantName: 'v1', isDefault: false, pbtxt: '' });
      s.recordPoint(b, 0, pt);
      process.kill(process.pid, 'SIGKILL');
    `);
    const child = spawnSync(process.execPath, [script, file], { encoding: 'utf8' });
    assert.equal(child.signal, 'SIGKILL', child.stderr);

    const s = Store.open(file);
    assert.deepEqual(s.trialHistory('crash').map((h) => h.state), ['COMPLETE', 'RUNNING']);
    assert.equal(s.points(s.trials('crash')[0]!.id).length, 1);
    assert.deepEqual(s.failStaleRunning('crash', 'killed'), [1]);
    assert.deepEqual(s.trialsToRedo('crash').map((t) => [t.index, t.config.maxBatchSize]), [[1, 8]]);
    s.close();
  });

  it("resolveRun: 'latest' (per model), a full id or a unique prefix; not found names the file", () => {
    const file = dbFile();
    const s = Store.open(file, { now: fakeClock() });
    assert.throws(() => s.resolveRun('latest'), isStoreError('not-found', file, /no runs in/));
    const a = s.createRun(newRun({ id: 'run-a', model: 'resnet' }));
    const b = s.createRun(newRun({ id: 'run-b', model: 'bert' }));
    const c = s.createRun(newRun({ id: 'other-c', model: 'resnet' }));
    assert.equal(s.resolveRun('latest').id, c.id);
    assert.equal(s.resolveRun('latest', 'bert').id, b.id);
    assert.equal(s.resolveRun('latest', 'resnet').id, c.id);
    assert.equal(s.resolveRun('run-a').id, a.id);
    assert.equal(s.resolveRun('oth').id, c.id);
    assert.throws(() => s.resolveRun('run-'), isStoreError('not-found', file, /ambiguous.*run-a, run-b/));
    assert.throws(() => s.resolveRun('zzz'), isStoreError('not-found', file, /no run 'zzz'.*latest, or a run id such as other-c, run-b, run-a/));
    assert.throws(() => s.resolveRun('latest', 'gpt'), isStoreError('not-found', file, /no runs for model 'gpt'/));
    assert.throws(() => s.resolveRun('run-a', 'bert'), isStoreError('not-found', file, /of model 'resnet', not 'bert'/));
    assert.throws(() => s.resolveRun('%'), isStoreError('not-found', file, /no run '%'/));
    assert.deepEqual(s.listRuns().map((r) => r.id), ['other-c', 'run-b', 'run-a']);
    assert.deepEqual(s.listRuns('resnet').map((r) => r.id), ['other-c', 'run-a']);
    s.close();
  });

  it('gives a StoreError naming the file when another connection holds the write lock past busy_timeout', () => {
    const file = dbFile();
    const holder = Store.open(file);
    const run = holder.createRun(newRun());
    const waiter = Store.open(file, { busyTimeoutMs: 150 });
    holder.transaction(() => {
      holder.updateRun(run.id, { stopReason: 'holding the write lock' });
      const t = Date.now();
      assert.throws(() => waiter.createRun(newRun()), isStoreError('locked', file, /locked.*150 ms/));
      assert.ok(Date.now() - t >= 100, 'it waited for the busy timeout');
      assert.equal(waiter.getRun(run.id)!.stopReason, null, 'readers are not blocked (WAL), and see only committed data');
    });
    assert.equal(waiter.getRun(run.id)!.stopReason, 'holding the write lock');
    waiter.createRun(newRun()); // the lock is gone
    waiter.close();
    holder.close();
  });

  it('refuses files it cannot use, naming them', () => {
    assert.throws(() => Store.open(root), isStoreError('open', root));
    const junk = join(root, 'junk.db');
    writeFileSync(junk, 'this is not an SQLite database, just some text that is long enough to have a header');
    assert.throws(() => Store.open(junk), isStoreError('open', junk, /not a database/));
    const blocker = join(root, 'a-file');
    writeFileSync(blocker, 'x');
    const under = join(blocker, 'runs.db');
    assert.throws(() => Store.open(under), isStoreError('open', under, /folder/));

    const foreign = join(root, 'foreign.db');
    const f = new Database(foreign);
    f.exec('CREATE TABLE notes (x TEXT)');
    f.close();
    assert.throws(() => Store.open(foreign), isStoreError('schema', foreign, /not a tanalyze results database/));

    const future = dbFile();
    Store.open(future).close();
    const raw = new Database(future);
    raw.prepare('INSERT INTO schema_version (version, description, applied_at) VALUES (99, ?, ?)').run('from the future', 'now');
    raw.close();
    assert.throws(() => Store.open(future), isStoreError('schema', future, /schema version 99.*knows up to 3/));
  });

  it('migrates once, records the version, and uses WAL', () => {
    const file = dbFile();
    Store.open(file).close();
    Store.open(file).close();
    const raw = new Database(file, { readonly: true });
    assert.deepEqual((raw.prepare('SELECT version FROM schema_version').all() as { version: number }[]).map((r) => r.version), [1, 2, 3]);
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.close();
  });
});

it('a load point keeps its measurement details and window histograms (schema v2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-store-v2-'));
  const file = join(dir, 'runs.db');
  let store = Store.open(file);
  const run = store.createRun({ model: 'm', targetP99Ms: 50, strategy: 'grid', seed: 1, budget: 1, launch: 'embedded', toolVersion: 't', plan: {} });
  const id = store.startTrial(run.id, 0, { config: { maxBatchSize: 4, maxQueueDelayUs: 0, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [] }, variantName: 'm_config_0', isDefault: false, pbtxt: '' });
  const point = {
    concurrency: 4, throughputIps: 100, p50Ms: 1, p90Ms: 2, p95Ms: 3, p99Ms: 4, requests: 10, errors: 0, windows: 3, stable: true, stopReason: 'stable', server: null, durationS: 1,
    mode: 'rate' as const, offeredRate: 120, p99CiMs: [3.5, Infinity] as [number, number], clientLimited: true, clientLimitReason: 'event loop busy',
    histogramB64: 'merged', windowHistogramsB64: ['w0', 'w1', 'w2'],
  };
  store.recordPoint(id, 0, point);
  store.close();
  store = Store.open(file);
  const [back] = store.points(id);
  assert.equal(back!.mode, 'rate');
  assert.equal(back!.offeredRate, 120);
  assert.deepEqual(back!.p99CiMs, [3.5, Infinity]);
  assert.equal(back!.clientLimited, true);
  assert.deepEqual(store.windowHistograms(id, 0), ['w0', 'w1', 'w2']);
  assert.equal(store.pointRows(id)[0]!.histogramB64, 'merged');
  store.close();
});

describe('reading safely (a shared or crafted database)', () => {
  it('a read-only open writes nothing: no migration, no journal, and a write through it is refused', () => {
    const file = dbFile();
    const s = Store.open(file, { now: fakeClock() });
    const run = s.createRun(newRun());
    s.close();
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    const ro = Store.open(file, { readonly: true });
    assert.equal(ro.getRun(run.id)?.model, 'resnet');
    assert.throws(() => ro.createRun(newRun()), (e: unknown) => e instanceof StoreError && /readonly/i.test(e.message));
    ro.close();
  });

  it('a read-only open of a missing file or an older schema is a clear error, not a new file', () => {
    const missing = join(root, 'nope', 'runs.db');
    assert.throws(() => Store.open(missing, { readonly: true }), (e: unknown) => e instanceof StoreError && e.code === 'open');
    const old = dbFile();
    Store.open(old).close();
    const db = new Database(old);
    db.prepare('DELETE FROM schema_version WHERE version = ?').run(SCHEMA_VERSION);
    db.close();
    assert.throws(() => Store.open(old, { readonly: true }), (e: unknown) => e instanceof StoreError && e.code === 'schema' && /migrates/.test(e.message));
  });

  it('a run id read from the database that could leave the reports folder is refused', () => {
    const file = dbFile();
    const s = Store.open(file, { now: fakeClock() });
    const run = s.createRun(newRun());
    s.close();
    const db = new Database(file);
    db.pragma('foreign_keys = OFF');
    db.prepare('UPDATE runs SET id = ? WHERE id = ?').run('../../../x', run.id);
    db.close();
    const again = Store.open(file);
    assert.throws(() => again.resolveRun('latest'), (e: unknown) => e instanceof StoreError && e.code === 'invalid' && e.message.includes('"../../../x"'));
    assert.throws(() => again.getRun('../../../x'), (e: unknown) => e instanceof StoreError && e.code === 'invalid');
    again.close();
  });
});
