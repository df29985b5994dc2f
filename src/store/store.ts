/**
 * The results database (SQLite, one file, WAL). Synchronous, better-sqlite3 style.
 *
 * Durability: synchronous=FULL, so every committed write (a finished trial, a load point)
 * is on disk before the call returns; a killed process loses at most the trial in flight.
 *
 * Resume: a process killed mid-trial leaves that trial RUNNING. failStaleRunning(runId)
 * deletes its load points and marks it FAILED 'interrupted: <reason>' (interrupted = 1);
 * trialsToRedo(runId) lists those trials, and startTrial(runId, sameIndex, sameConfig)
 * reopens the row (attempt + 1) so it is measured again. Strategies keep seeing the same
 * history prefix, so the sequence they propose after the redo is unchanged.
 * There is no heartbeat: the caller must know no live process still owns the run.
 *
 * Non-finite numbers are stored as NULL plus a tag (see schema.ts) and read back as
 * NaN / Infinity / -Infinity.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { measurementsOf, type LoadPoint } from '../domain/measurement.js';
import type { ServingConfig } from '../domain/serving.js';
import type { TrialRecord, TrialState } from '../domain/trial.js';
import { configKey } from '../domain/serving.js';
import { MIGRATIONS, SCHEMA_VERSION, SCHEMA_VERSION_TABLE } from './schema.js';
import { TanalyzeError } from '../domain/errors.js';

export type StoreErrorCode =
  | 'open' // the file cannot be created, opened, or is not a database
  | 'locked' // another connection held the write lock past busy_timeout
  | 'schema' // newer schema than this tanalyze knows, or a foreign SQLite file
  | 'not-found' // no such run / trial
  | 'conflict' // write that contradicts what is stored (trial index taken, trial already finished)
  | 'invalid' // bad argument
  | 'io'; // any other SQLite / disk failure

/** Every failure of the store; the message always names the database file. */
export class StoreError extends TanalyzeError {
  constructor(readonly code: StoreErrorCode, readonly file: string, message: string, options?: { cause?: unknown }) {
    super('infrastructure', message.includes(file) ? message : `${message} (results database ${file})`, undefined, options);
  }
}

export interface StoreOptions {
  /** How long a write waits for another connection's write lock (default 5000 ms). */
  busyTimeoutMs?: number;
  /** Clock for timestamps and durations (tests pass a fake). */
  now?: () => Date;
  /** Source of the random part of run ids, in [0, 1). */
  random?: () => number;
  /**
   * Open without writing anything (no folder, no journal mode, no migration): for commands
   * that only read, so a read-only file or a shared artifact can be read.
   */
  readonly?: boolean;
}

/** What a run id may look like: it names a folder under the reports folder. */
const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Whether `id` is an acceptable run id (not 'latest', no path separators, no leading dot). */
export function isRunId(id: string): boolean {
  return RUN_ID_PATTERN.test(id) && id !== 'latest' && !id.includes('..');
}

export type RunStatus = 'running' | 'complete' | 'interrupted' | 'failed';
export const RUN_STATUSES: readonly RunStatus[] = ['running', 'complete', 'interrupted', 'failed'];

export interface NewRun {
  /** Normally generated (YYYYMMDD-HHMMSS-xxxx, UTC). */
  id?: string;
  model: string;
  targetP99Ms: number;
  strategy: string;
  seed: number;
  /** Configurations the run may measure. */
  budget: number;
  launch: string;
  serverVersion?: string | null;
  toolVersion: string;
  hardware?: string | null;
  /** The whole resolved plan; must be JSON-serializable. */
  plan: unknown;
}

export interface RunRow {
  id: string;
  model: string;
  createdAt: string;
  finishedAt: string | null;
  status: RunStatus;
  stopReason: string | null;
  targetP99Ms: number;
  strategy: string;
  seed: number;
  budget: number;
  launch: string;
  serverVersion: string | null;
  toolVersion: string;
  hardware: string | null;
  planJson: string;
  /** planJson parsed. */
  plan: unknown;
  planHash: string;
  wallS: number | null;
}

export interface RunSummary extends RunRow {
  trialCount: number;
  completeCount: number;
}

export interface RunUpdate {
  status?: RunStatus;
  stopReason?: string | null;
  serverVersion?: string | null;
  hardware?: string | null;
  toolVersion?: string;
  budget?: number;
  wallS?: number | null;
  finishedAt?: string | null;
  /** Replaces plan_json and plan_hash. */
  plan?: unknown;
}

export interface StartTrial {
  config: ServingConfig;
  variantName: string;
  isDefault: boolean;
  pbtxt: string | null;
}

export interface FinishTrial {
  state: Exclude<TrialState, 'RUNNING'>;
  objectiveIps: number | null;
  p99Ms: number | null;
  error: string | null;
}

export interface TrialRow extends TrialRecord {
  id: number;
  runId: string;
  variantName: string;
  isDefault: boolean;
  configKey: string;
  pbtxt: string | null;
  startedAt: string;
  finishedAt: string | null;
  durationS: number | null;
  /** 1, or more when the trial was redone after an interruption. */
  attempt: number;
  /** FAILED by failStaleRunning and not redone yet. */
  interrupted: boolean;
  /** A repeat: the index of the run's first trial of the same configuration; null on the first. */
  repeatOf: number | null;
}

export interface PointRow {
  id: number;
  trialId: number;
  pointIndex: number;
  point: LoadPoint;
  histogramB64: string | null;
}

type Row = Record<string, unknown>;

const NONFINITE_TAGS = new Set(['NaN', 'Infinity', '-Infinity']);

/** Non-finite numbers → NULL + a tag in `nonfinite`; booleans → 0/1. */
function encode(values: Row): Row {
  const out: Row = {};
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === 'number' && !Number.isFinite(v)) {
      out[k] = null;
      tags[k] = String(v);
    } else if (typeof v === 'boolean') out[k] = v ? 1 : 0;
    else out[k] = v === undefined ? null : v;
  }
  out.nonfinite = Object.keys(tags).length ? JSON.stringify(tags) : null;
  return out;
}

/** Reads numeric columns of a row, restoring tagged non-finite values. */
function decoder(row: Row): (col: string) => number | null {
  const tags = typeof row.nonfinite === 'string' ? (JSON.parse(row.nonfinite) as Record<string, string>) : {};
  return (col) => {
    const tag = tags[col];
    if (tag !== undefined && NONFINITE_TAGS.has(tag)) return Number(tag);
    const v = row[col];
    return v === null || v === undefined ? null : Number(v);
  };
}

/** JSON with object keys sorted, so the hash does not depend on key order. */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Row).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

export function planHash(plan: unknown): string {
  return createHash('sha256').update(canonicalJson(plan) ?? 'null').digest('hex');
}

/** Fixed key order, so config_json is the same text for the same configuration. */
function configJson(c: ServingConfig): string {
  return JSON.stringify({
    maxBatchSize: c.maxBatchSize,
    maxQueueDelayUs: c.maxQueueDelayUs,
    instanceCount: c.instanceCount,
    precision: c.precision,
    preferredBatchSizes: c.preferredBatchSizes,
  });
}

function sqliteCode(e: unknown): string | undefined {
  return e instanceof Database.SqliteError ? e.code : undefined;
}

function makeRunId(d: Date, random: () => number): string {
  const iso = d.toISOString(); // 2026-11-24T15:30:12.345Z
  const hex = Math.floor(random() * 0x10000).toString(16).padStart(4, '0').slice(-4);
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}-${hex}`;
}

const RUN_UPDATE_COLUMNS: Record<Exclude<keyof RunUpdate, 'plan'>, string> = {
  status: 'status',
  stopReason: 'stop_reason',
  serverVersion: 'server_version',
  hardware: 'hardware',
  toolVersion: 'tool_version',
  budget: 'budget',
  wallS: 'wall_s',
  finishedAt: 'finished_at',
};

export class Store {
  private readonly now: () => Date;
  private readonly random: () => number;

  private constructor(
    private readonly db: Database.Database,
    /** The database file as given to open(). */
    readonly file: string,
    readonly busyTimeoutMs: number,
    opts: StoreOptions,
  ) {
    this.now = opts.now ?? (() => new Date());
    this.random = opts.random ?? Math.random;
  }

  /** Opens (creating the file and its folder when missing) and migrates to the current schema. */
  static open(file: string, opts: StoreOptions = {}): Store {
    const busy = opts.busyTimeoutMs ?? 5000;
    const memory = file === ':memory:';
    const readonly = opts.readonly === true && !memory;
    if (!memory && !readonly) {
      try {
        mkdirSync(dirname(resolve(file)), { recursive: true });
      } catch (e) {
        throw new StoreError('open', file, `cannot create the folder of the results database ${file}: ${(e as Error).message}`, { cause: e });
      }
    }
    let db: Database.Database;
    try {
      db = new Database(file, readonly ? { timeout: busy, readonly: true, fileMustExist: true } : { timeout: busy });
    } catch (e) {
      throw new StoreError('open', file, `cannot open the results database ${file}: ${(e as Error).message}`, { cause: e });
    }
    const store = new Store(db, file, busy, opts);
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busy))}`);
      if (readonly) {
        store.checkReadableSchema();
      } else {
        if (!memory) db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        db.pragma('foreign_keys = ON');
        store.migrate();
      }
    } catch (e) {
      db.close();
      const err = store.wrap(e);
      if (err.code === 'io' || err.code === 'open') {
        throw new StoreError('open', file, `cannot open the results database ${file}: ${(e as Error).message}`, { cause: e });
      }
      throw err;
    }
    return store;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Schema version of the open database. */
  schemaVersion(): number {
    return this.guard(() => (this.db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null }).v ?? 0);
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE): all of it is stored, or none. */
  transaction<T>(fn: () => T): T {
    return this.guard(() => this.db.transaction(fn).immediate());
  }

  // ---- runs ----

  createRun(r: NewRun): RunRow {
    return this.transaction(() => {
      const created = this.now();
      let id = r.id;
      if (id === undefined) {
        for (let i = 0; i < 20 && (id === undefined || this.runExists(id)); i++) id = makeRunId(created, this.random);
        if (this.runExists(id!)) throw new StoreError('conflict', this.file, `could not pick an unused run id in ${this.file}`);
      } else if (!isRunId(id)) {
        throw new StoreError('invalid', this.file, `run id '${id}' is not accepted; accepted: letters, digits, '.', '_', '-' (not starting with '.', no '..', not 'latest')`);
      } else if (this.runExists(id)) {
        throw new StoreError('conflict', this.file, `run '${id}' already exists in ${this.file}`);
      }
      const planJson = JSON.stringify(r.plan);
      if (planJson === undefined) throw new StoreError('invalid', this.file, 'the run plan is not JSON-serializable');
      this.db.prepare(`INSERT INTO runs (id, model, created_at, status, target_p99_ms, strategy, seed, budget, launch,
          server_version, tool_version, hardware, plan_json, plan_hash, nonfinite)
        VALUES (@id, @model, @created_at, 'running', @target_p99_ms, @strategy, @seed, @budget, @launch,
          @server_version, @tool_version, @hardware, @plan_json, @plan_hash, @nonfinite)`).run(encode({
        id,
        model: r.model,
        created_at: created.toISOString(),
        target_p99_ms: r.targetP99Ms,
        strategy: r.strategy,
        seed: r.seed,
        budget: r.budget,
        launch: r.launch,
        server_version: r.serverVersion ?? null,
        tool_version: r.toolVersion,
        hardware: r.hardware ?? null,
        plan_json: planJson,
        plan_hash: planHash(r.plan),
      }));
      return this.getRun(id!)!;
    });
  }

  getRun(id: string): RunRow | null {
    return this.guard(() => {
      const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
      return row ? runFromRow(row, this.file) : null;
    });
  }

  /**
   * 'latest' → the newest run (of `model` when given); otherwise a run id or an unambiguous
   * prefix of one. Throws StoreError 'not-found' naming the file and what exists.
   */
  resolveRun(idOrLatest: string, model?: string): RunRow {
    return this.guard(() => {
      const m = model ?? null;
      if (idOrLatest === 'latest') {
        const row = this.db.prepare(`SELECT * FROM runs WHERE (@m IS NULL OR model = @m)
          ORDER BY created_at DESC, rowid DESC LIMIT 1`).get({ m }) as Row | undefined;
        if (!row) throw new StoreError('not-found', this.file, m === null ? `no runs in ${this.file}` : `no runs for model '${m}' in ${this.file}`);
        return runFromRow(row, this.file);
      }
      let rows = this.db.prepare('SELECT * FROM runs WHERE id = ?').all(idOrLatest) as Row[];
      if (rows.length === 0) {
        const like = idOrLatest.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';
        rows = this.db.prepare(`SELECT * FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY id`).all(like) as Row[];
      }
      if (rows.length > 1) {
        throw new StoreError('not-found', this.file, `run '${idOrLatest}' is ambiguous in ${this.file}: it starts ${rows.length} run ids (${rows.slice(0, 5).map((r) => r.id).join(', ')}${rows.length > 5 ? ', ...' : ''})`);
      }
      if (rows.length === 0) {
        const recent = (this.db.prepare('SELECT id FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 5').all() as { id: string }[]).map((r) => r.id);
        throw new StoreError('not-found', this.file, `no run '${idOrLatest}' in ${this.file}; accepted: latest${recent.length ? `, or a run id such as ${recent.join(', ')}` : ' (the database has no runs yet)'}`);
      }
      const run = runFromRow(rows[0]!, this.file);
      if (m !== null && run.model !== m) throw new StoreError('not-found', this.file, `run '${run.id}' in ${this.file} is of model '${run.model}', not '${m}'`);
      return run;
    });
  }

  /** Newest first, with trial counts; only `model`'s when given. */
  listRuns(model?: string): RunSummary[] {
    return this.guard(() => {
      const rows = this.db.prepare(`SELECT r.*,
          (SELECT COUNT(*) FROM trials t WHERE t.run_id = r.id) AS trial_count,
          (SELECT COUNT(*) FROM trials t WHERE t.run_id = r.id AND t.state = 'COMPLETE') AS complete_count
        FROM runs r WHERE (@m IS NULL OR r.model = @m) ORDER BY r.created_at DESC, r.rowid DESC`).all({ m: model ?? null }) as Row[];
      return rows.map((row) => ({ ...runFromRow(row, this.file), trialCount: Number(row.trial_count), completeCount: Number(row.complete_count) }));
    });
  }

  updateRun(runId: string, partial: RunUpdate): RunRow {
    return this.transaction(() => {
      const current = this.requireRun(runId);
      if (partial.status !== undefined && !RUN_STATUSES.includes(partial.status)) {
        throw new StoreError('invalid', this.file, `run status '${partial.status}' is not one of ${RUN_STATUSES.join(', ')}`);
      }
      const values: Row = {};
      for (const [k, col] of Object.entries(RUN_UPDATE_COLUMNS)) {
        const v = partial[k as keyof RunUpdate];
        if (v !== undefined) values[col] = v;
      }
      if (partial.plan !== undefined) {
        const json = JSON.stringify(partial.plan);
        if (json === undefined) throw new StoreError('invalid', this.file, 'the run plan is not JSON-serializable');
        values.plan_json = json;
        values.plan_hash = planHash(partial.plan);
      }
      const cols = Object.keys(values);
      if (cols.length === 0) return current;
      // Keep the tags of numeric columns this update does not touch.
      const kept = this.tagsOf('runs', runId, cols);
      const enc = encode(values);
      const tags = { ...kept, ...(enc.nonfinite ? (JSON.parse(enc.nonfinite as string) as Row) : {}) };
      enc.nonfinite = Object.keys(tags).length ? JSON.stringify(tags) : null;
      enc.id = runId;
      this.db.prepare(`UPDATE runs SET ${cols.map((c) => `${c} = @${c}`).join(', ')}, nonfinite = @nonfinite WHERE id = @id`).run(enc);
      return this.getRun(runId)!;
    });
  }

  finishRun(runId: string, r: { status: Exclude<RunStatus, 'running'>; stopReason: string | null; wallS: number | null }): RunRow {
    if (r.status === ('running' as RunStatus)) throw new StoreError('invalid', this.file, `finishRun: status must be one of ${RUN_STATUSES.slice(1).join(', ')}`);
    return this.updateRun(runId, { status: r.status, stopReason: r.stopReason, wallS: r.wallS, finishedAt: this.now().toISOString() });
  }

  // ---- trials ----

  /**
   * Writes trial `index` as RUNNING and returns its id. An index is written once, except a
   * trial left interrupted by failStaleRunning: it is reopened (same id, attempt + 1, old
   * points gone), and must be given the same configuration.
   */
  startTrial(runId: string, index: number, t: StartTrial): number {
    if (!Number.isSafeInteger(index) || index < 0) throw new StoreError('invalid', this.file, `trial index ${index} is not an integer >= 0`);
    return this.transaction(() => {
      this.requireRun(runId);
      const key = configKey(t.config);
      const values = {
        variant_name: t.variantName,
        is_default: t.isDefault,
        config_json: configJson(t.config),
        config_key: key,
        pbtxt: t.pbtxt,
        started_at: this.now().toISOString(),
      };
      const existing = this.db.prepare('SELECT id, state, interrupted, config_key FROM trials WHERE run_id = ? AND trial_index = ?').get(runId, index) as
        | { id: number; state: TrialState; interrupted: number; config_key: string }
        | undefined;
      if (existing) {
        if (!(existing.state === 'FAILED' && existing.interrupted === 1)) {
          throw new StoreError('conflict', this.file, `run '${runId}' in ${this.file} already has trial ${index} (${existing.state}); only a trial interrupted by a crash is written again`);
        }
        if (existing.config_key !== key) {
          throw new StoreError('conflict', this.file, `trial ${index} of run '${runId}' was ${existing.config_key}; redoing it with ${key} would change the history strategies see`);
        }
        this.db.prepare('DELETE FROM measurements WHERE trial_id = ?').run(existing.id);
        this.db.prepare(`UPDATE trials SET variant_name = @variant_name, is_default = @is_default, config_json = @config_json,
            config_key = @config_key, pbtxt = @pbtxt, started_at = @started_at, state = 'RUNNING', error = NULL,
            objective_ips = NULL, p99_ms = NULL, finished_at = NULL, duration_s = NULL, attempt = attempt + 1,
            interrupted = 0, nonfinite = NULL WHERE id = @id`).run({ ...encode(values), id: existing.id });
        return existing.id;
      }
      const first = this.db.prepare('SELECT MIN(trial_index) AS i FROM trials WHERE run_id = ? AND config_key = ? AND trial_index < ?').get(runId, key, index) as { i: number | null };
      const res = this.db.prepare(`INSERT INTO trials (run_id, trial_index, variant_name, state, is_default, config_json, config_key, pbtxt, started_at, repeat_of)
        VALUES (@run_id, @trial_index, @variant_name, 'RUNNING', @is_default, @config_json, @config_key, @pbtxt, @started_at, @repeat_of)`)
        .run({ ...encode(values), run_id: runId, trial_index: index, repeat_of: first.i ?? null });
      return Number(res.lastInsertRowid);
    });
  }

  /**
   * Stores one measured load point of a RUNNING trial. A point already stored at the index is
   * replaced only by one that pools more measurements of it (the load search's repeat of its
   * best point, measure/repeat-point.ts); any other second write is a conflict.
   */
  recordPoint(trialId: number, pointIndex: number, p: LoadPoint, extra: { histogramB64?: string | null } = {}): void {
    if (!Number.isSafeInteger(pointIndex) || pointIndex < 0) throw new StoreError('invalid', this.file, `point index ${pointIndex} is not an integer >= 0`);
    this.transaction(() => {
      const trial = this.requireTrial(trialId);
      if (trial.state !== 'RUNNING') throw new StoreError('conflict', this.file, `trial ${trial.trial_index} of run '${trial.run_id}' is ${trial.state}; points are recorded only while it runs`);
      const taken = this.db.prepare('SELECT id, detail_json FROM measurements WHERE trial_id = ? AND point_index = ?').get(trialId, pointIndex) as { id: number; detail_json: string | null } | undefined;
      if (taken) {
        const before = measurementsOf(parseDetail(taken.detail_json) as { measurements?: number });
        if (!(measurementsOf(p) > before)) throw new StoreError('conflict', this.file, `trial ${trial.trial_index} of run '${trial.run_id}' already has load point ${pointIndex}`);
        // Its windows go with it (ON DELETE CASCADE, foreign keys are on); the pooled point brings them all.
        this.db.prepare('DELETE FROM measurements WHERE id = ?').run(taken.id);
      }
      const s = p.server;
      this.db.prepare(`INSERT INTO measurements (trial_id, point_index, concurrency, throughput_ips, p50_ms, p90_ms, p95_ms, p99_ms,
          requests, errors, windows, stable, stop_reason, server_queue_us, server_compute_input_us, server_compute_infer_us,
          server_compute_output_us, server_requests, server_executions, duration_s, histogram_b64, nonfinite)
        VALUES (@trial_id, @point_index, @concurrency, @throughput_ips, @p50_ms, @p90_ms, @p95_ms, @p99_ms,
          @requests, @errors, @windows, @stable, @stop_reason, @server_queue_us, @server_compute_input_us, @server_compute_infer_us,
          @server_compute_output_us, @server_requests, @server_executions, @duration_s, @histogram_b64, @nonfinite)`).run(encode({
        trial_id: trialId,
        point_index: pointIndex,
        concurrency: p.concurrency,
        throughput_ips: p.throughputIps,
        p50_ms: p.p50Ms,
        p90_ms: p.p90Ms,
        p95_ms: p.p95Ms,
        p99_ms: p.p99Ms,
        requests: p.requests,
        errors: p.errors,
        windows: p.windows,
        stable: p.stable,
        stop_reason: p.stopReason,
        server_queue_us: s?.queueUs ?? null,
        server_compute_input_us: s?.computeInputUs ?? null,
        server_compute_infer_us: s?.computeInferUs ?? null,
        server_compute_output_us: s?.computeOutputUs ?? null,
        server_requests: s?.requests ?? null,
        server_executions: s?.executions ?? null,
        duration_s: p.durationS,
        histogram_b64: extra.histogramB64 ?? p.histogramB64 ?? null,
      }));
      const id = Number((this.db.prepare('SELECT last_insert_rowid() AS id').get() as { id: number }).id);
      this.db.prepare('UPDATE measurements SET detail_json = ? WHERE id = ?').run(detailJson(p), id);
      const insertWindow = this.db.prepare('INSERT INTO measurement_windows (measurement_id, window_index, histogram_b64) VALUES (?, ?, ?)');
      (p.windowHistogramsB64 ?? []).forEach((h, i) => insertWindow.run(id, i, h));
    });
  }

  /** The latency histograms of a load point's windows (base64 HdrHistogram), in order. */
  windowHistograms(trialId: number, pointIndex: number): string[] {
    return this.guard(() =>
      (this.db.prepare(`SELECT w.histogram_b64 AS h FROM measurement_windows w JOIN measurements m ON m.id = w.measurement_id
          WHERE m.trial_id = ? AND m.point_index = ? ORDER BY w.window_index`).all(trialId, pointIndex) as { h: string }[]).map((r) => r.h),
    );
  }

  /** Ends a RUNNING trial in one transaction; committed (and fsynced) before it returns. */
  finishTrial(trialId: number, f: FinishTrial): TrialRow {
    if ((f.state as TrialState) === 'RUNNING' || !['COMPLETE', 'INFEASIBLE', 'FAILED', 'SKIPPED'].includes(f.state)) {
      throw new StoreError('invalid', this.file, `finishTrial: state '${f.state}' is not one of COMPLETE, INFEASIBLE, FAILED, SKIPPED`);
    }
    return this.transaction(() => {
      const trial = this.requireTrial(trialId);
      if (trial.state !== 'RUNNING') throw new StoreError('conflict', this.file, `trial ${trial.trial_index} of run '${trial.run_id}' is already finished (${trial.state})`);
      const end = this.now();
      const durationS = (end.getTime() - Date.parse(trial.started_at)) / 1000;
      this.db.prepare(`UPDATE trials SET state = @state, objective_ips = @objective_ips, p99_ms = @p99_ms, error = @error,
          finished_at = @finished_at, duration_s = @duration_s, interrupted = 0, nonfinite = @nonfinite WHERE id = @id`).run({
        ...encode({ state: f.state, objective_ips: f.objectiveIps, p99_ms: f.p99Ms, error: f.error, finished_at: end.toISOString(), duration_s: durationS }),
        id: trialId,
      });
      return this.trialById(trialId)!;
    });
  }

  /** What strategies see: every trial of the run, by index. */
  trialHistory(runId: string): TrialRecord[] {
    return this.trials(runId).map((t) => ({ index: t.index, config: t.config, state: t.state, objectiveIps: t.objectiveIps, p99Ms: t.p99Ms, error: t.error }));
  }

  /** Full trial rows of a run, by index. */
  trials(runId: string): TrialRow[] {
    return this.guard(() => {
      this.requireRun(runId);
      return (this.db.prepare('SELECT * FROM trials WHERE run_id = ? ORDER BY trial_index').all(runId) as Row[]).map(trialFromRow);
    });
  }

  trialById(trialId: number): TrialRow | null {
    return this.guard(() => {
      const row = this.db.prepare('SELECT * FROM trials WHERE id = ?').get(trialId) as Row | undefined;
      return row ? trialFromRow(row) : null;
    });
  }

  /** The load points of a trial, in point order. */
  points(trialId: number): LoadPoint[] {
    return this.pointRows(trialId).map((r) => r.point);
  }

  pointRows(trialId: number): PointRow[] {
    return this.guard(() =>
      (this.db.prepare('SELECT * FROM measurements WHERE trial_id = ? ORDER BY point_index').all(trialId) as Row[]).map(pointFromRow),
    );
  }

  /**
   * Trials of the run still RUNNING (their process died) become FAILED with error
   * 'interrupted: <reason>', their partial load points deleted; returns their indexes.
   * Call only when no live process owns the run.
   */
  failStaleRunning(runId: string, reason: string): number[] {
    return this.transaction(() => {
      this.requireRun(runId);
      const stale = this.db.prepare(`SELECT id, trial_index FROM trials WHERE run_id = ? AND state = 'RUNNING' ORDER BY trial_index`).all(runId) as { id: number; trial_index: number }[];
      for (const t of stale) {
        this.db.prepare('DELETE FROM measurements WHERE trial_id = ?').run(t.id);
        this.db.prepare(`UPDATE trials SET state = 'FAILED', error = ?, interrupted = 1, objective_ips = NULL, p99_ms = NULL,
            finished_at = NULL, duration_s = NULL, nonfinite = NULL WHERE id = ?`).run(`interrupted: ${reason}`, t.id);
      }
      return stale.map((t) => t.trial_index);
    });
  }

  /** Interrupted trials to measure again (same index, same config) before asking the strategy for more. */
  trialsToRedo(runId: string): TrialRow[] {
    return this.trials(runId).filter((t) => t.interrupted);
  }

  // ---- internals ----

  private runExists(id: string): boolean {
    return this.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(id) !== undefined;
  }

  private requireRun(runId: string): RunRow {
    const run = this.getRun(runId);
    if (!run) throw new StoreError('not-found', this.file, `no run '${runId}' in ${this.file}`);
    return run;
  }

  private requireTrial(trialId: number): { id: number; run_id: string; trial_index: number; state: TrialState; started_at: string } {
    const t = this.db.prepare('SELECT id, run_id, trial_index, state, started_at FROM trials WHERE id = ?').get(trialId) as
      | { id: number; run_id: string; trial_index: number; state: TrialState; started_at: string }
      | undefined;
    if (!t) throw new StoreError('not-found', this.file, `no trial with id ${trialId} in ${this.file}`);
    return t;
  }

  /** Tags of the row's columns other than `except`. */
  private tagsOf(table: 'runs', id: string, except: string[]): Row {
    const row = this.db.prepare(`SELECT nonfinite FROM ${table} WHERE id = ?`).get(id) as { nonfinite: string | null } | undefined;
    const tags = row?.nonfinite ? (JSON.parse(row.nonfinite) as Row) : {};
    for (const c of except) delete tags[c];
    return tags;
  }

  /** A read-only open cannot migrate: the schema must be this tanalyze's already. */
  private checkReadableSchema(): void {
    const hasVersionTable = this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`).get() !== undefined;
    const v = hasVersionTable ? ((this.db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null }).v ?? 0) : 0;
    if (v !== SCHEMA_VERSION) {
      throw new StoreError(
        'schema',
        this.file,
        v === 0
          ? `${this.file} is not a tanalyze results database (no schema_version)`
          : `results database ${this.file} has schema version ${v}; this tanalyze reads version ${SCHEMA_VERSION}${v < SCHEMA_VERSION ? ': run a search with this tanalyze on it once (it migrates), or read it with the tanalyze that wrote it' : ': use a newer tanalyze'}`,
      );
    }
  }

  private migrate(): void {
    const db = this.db;
    const hasVersionTable = () => db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`).get() !== undefined;
    const version = () => (hasVersionTable() ? ((db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null }).v ?? 0) : 0);
    const check = (v: number) => {
      if (v > SCHEMA_VERSION) {
        throw new StoreError('schema', this.file, `results database ${this.file} has schema version ${v}; this tanalyze knows up to ${SCHEMA_VERSION}: use a newer tanalyze, or another --db file`);
      }
    };
    if (!hasVersionTable()) {
      const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as { name: string }[]).map((t) => t.name);
      if (tables.length) {
        throw new StoreError('schema', this.file, `${this.file} is an SQLite database but not a tanalyze results database (tables: ${tables.slice(0, 5).join(', ')}; no schema_version)`);
      }
    }
    check(version());
    if (version() === SCHEMA_VERSION) return;
    // Re-read inside the write transaction: another process may have migrated meanwhile.
    db.transaction(() => {
      db.exec(SCHEMA_VERSION_TABLE);
      const from = version();
      check(from);
      for (const m of MIGRATIONS) {
        if (m.version <= from) continue;
        m.up(db);
        db.prepare('INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)').run(m.version, m.description, this.now().toISOString());
      }
    }).immediate();
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw this.wrap(e);
    }
  }

  private wrap(e: unknown): StoreError {
    if (e instanceof StoreError) return e;
    const code = sqliteCode(e) ?? '';
    const msg = (e as Error)?.message ?? String(e);
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      return new StoreError('locked', this.file,
        `results database ${this.file} is locked: another connection held its write lock for more than ${this.busyTimeoutMs} ms ` +
        `(is another tanalyze run writing to it?); wait for it to finish, or use another --db file`, { cause: e });
    }
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || code === 'SQLITE_CANTOPEN') {
      return new StoreError('open', this.file, `cannot open the results database ${this.file}: ${msg}`, { cause: e });
    }
    if (code.startsWith('SQLITE_CONSTRAINT')) return new StoreError('conflict', this.file, `results database ${this.file}: ${msg}`, { cause: e });
    if (e instanceof RangeError || e instanceof TypeError) return new StoreError('invalid', this.file, `results database ${this.file}: ${msg}`, { cause: e });
    return new StoreError('io', this.file, `results database ${this.file}: ${msg}`, { cause: e });
  }
}

function str(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

/** A run row as stored; its id is checked like any input (it names a folder: a crafted database must not write elsewhere). */
function runFromRow(row: Row, file: string): RunRow {
  const n = decoder(row);
  const planJson = String(row.plan_json);
  const id = String(row.id);
  if (!isRunId(id)) throw new StoreError('invalid', file, `run id ${JSON.stringify(id)} stored in ${file} is not a valid run id (letters, digits, '.', '_', '-'; no '..'): refusing to use it as a folder name`);
  return {
    id,
    model: String(row.model),
    createdAt: String(row.created_at),
    finishedAt: str(row.finished_at),
    status: row.status as RunStatus,
    stopReason: str(row.stop_reason),
    targetP99Ms: n('target_p99_ms') ?? NaN,
    strategy: String(row.strategy),
    seed: n('seed') ?? NaN,
    budget: n('budget') ?? NaN,
    launch: String(row.launch),
    serverVersion: str(row.server_version),
    toolVersion: String(row.tool_version),
    hardware: str(row.hardware),
    planJson,
    plan: JSON.parse(planJson) as unknown,
    planHash: String(row.plan_hash),
    wallS: n('wall_s'),
  };
}

function trialFromRow(row: Row): TrialRow {
  const n = decoder(row);
  return {
    id: Number(row.id),
    runId: String(row.run_id),
    index: Number(row.trial_index),
    variantName: String(row.variant_name),
    state: row.state as TrialState,
    isDefault: row.is_default === 1,
    config: JSON.parse(String(row.config_json)) as ServingConfig,
    configKey: String(row.config_key),
    pbtxt: str(row.pbtxt),
    error: str(row.error),
    objectiveIps: n('objective_ips'),
    p99Ms: n('p99_ms'),
    startedAt: String(row.started_at),
    finishedAt: str(row.finished_at),
    durationS: n('duration_s'),
    attempt: Number(row.attempt),
    interrupted: row.interrupted === 1,
    repeatOf: row.repeat_of === null || row.repeat_of === undefined ? null : Number(row.repeat_of),
  };
}

const SERVER_COLUMNS = ['server_queue_us', 'server_compute_input_us', 'server_compute_infer_us', 'server_compute_output_us', 'server_requests', 'server_executions'];

/** LoadPoint fields kept in columns of their own (or as histograms), left out of detail_json. */
const COLUMN_FIELDS = new Set(['concurrency', 'throughputIps', 'p50Ms', 'p90Ms', 'p95Ms', 'p99Ms', 'requests', 'errors', 'windows', 'stable', 'stopReason', 'server', 'durationS', 'histogramB64', 'windowHistogramsB64']);

/** JSON of the optional LoadPoint fields; non-finite numbers (an open CI bound) as tagged strings. */
function detailJson(p: LoadPoint): string | null {
  const detail = Object.fromEntries(Object.entries(p).filter(([k, v]) => !COLUMN_FIELDS.has(k) && v !== undefined));
  if (Object.keys(detail).length === 0) return null;
  return JSON.stringify(detail, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? `__num:${v}` : v));
}

function parseDetail(text: unknown): Record<string, unknown> {
  if (typeof text !== 'string') return {};
  return JSON.parse(text, (_k, v) => (typeof v === 'string' && v.startsWith('__num:') ? Number(v.slice(6)) : v)) as Record<string, unknown>;
}

function pointFromRow(row: Row): PointRow {
  const n = decoder(row);
  const v = (col: string) => n(col) ?? NaN; // LoadPoint numbers are never null; an untagged NULL reads as NaN
  const hasServer = SERVER_COLUMNS.some((c) => n(c) !== null);
  return {
    id: Number(row.id),
    trialId: Number(row.trial_id),
    pointIndex: Number(row.point_index),
    histogramB64: str(row.histogram_b64),
    point: {
      ...parseDetail(row.detail_json),
      concurrency: v('concurrency'),
      throughputIps: v('throughput_ips'),
      p50Ms: v('p50_ms'),
      p90Ms: v('p90_ms'),
      p95Ms: v('p95_ms'),
      p99Ms: v('p99_ms'),
      requests: v('requests'),
      errors: v('errors'),
      windows: v('windows'),
      stable: row.stable === 1,
      stopReason: String(row.stop_reason ?? ''),
      server: hasServer
        ? {
            queueUs: v('server_queue_us'),
            computeInputUs: v('server_compute_input_us'),
            computeInferUs: v('server_compute_infer_us'),
            computeOutputUs: v('server_compute_output_us'),
            requests: v('server_requests'),
            executions: v('server_executions'),
          }
        : null,
      durationS: v('duration_s'),
    },
  };
}
