/**
 * The results database: tables and ordered migrations. A database records the highest
 * applied version in `schema_version`; Store.open applies the missing ones in order, each
 * in its own transaction. Never edit a released migration: add the next version.
 *
 * Conventions:
 * - snake_case columns with units (`_ms`, `_us`, `_s`, `_ips`); times are ISO 8601 UTC text.
 * - Non-finite numbers: SQLite has no NaN (it stores NULL) and ±Infinity would leak into
 *   SQL aggregates, so every non-finite number is stored as NULL in its column and named
 *   in the row's `nonfinite` column, a JSON object `{"column": "NaN" | "Infinity" | "-Infinity"}`.
 *   NULL without a tag means "no value". Plain SQL (AVG, MAX) therefore ignores them.
 * - Booleans are INTEGER 0/1.
 */
import type Database from 'better-sqlite3';

export interface Migration {
  version: number;
  description: string;
  up: (db: Database.Database) => void;
}

const V1 = `
CREATE TABLE runs (
  id TEXT PRIMARY KEY,                 -- sortable: YYYYMMDD-HHMMSS-xxxx (UTC)
  model TEXT NOT NULL,
  created_at TEXT NOT NULL,
  finished_at TEXT,
  status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'interrupted', 'failed')),
  stop_reason TEXT,
  target_p99_ms REAL,
  strategy TEXT NOT NULL,
  seed INTEGER,
  budget INTEGER,                      -- configurations the run may measure
  launch TEXT NOT NULL,                -- embedded | local | docker | remote | replay | sim
  server_version TEXT,
  tool_version TEXT NOT NULL,
  hardware TEXT,
  plan_json TEXT NOT NULL,             -- the whole resolved plan
  plan_hash TEXT NOT NULL,             -- sha256 of plan_json with sorted keys
  wall_s REAL,
  nonfinite TEXT
);
CREATE INDEX runs_by_model ON runs (model, created_at);

CREATE TABLE trials (
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  trial_index INTEGER NOT NULL CHECK (trial_index >= 0),
  variant_name TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('RUNNING', 'COMPLETE', 'INFEASIBLE', 'FAILED', 'SKIPPED')),
  is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
  config_json TEXT NOT NULL,
  config_key TEXT NOT NULL,
  pbtxt TEXT,
  error TEXT,
  objective_ips REAL,
  p99_ms REAL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  duration_s REAL,
  attempt INTEGER NOT NULL DEFAULT 1,  -- 2+ when redone after an interruption
  interrupted INTEGER NOT NULL DEFAULT 0 CHECK (interrupted IN (0, 1)), -- 1: FAILED by failStaleRunning, to redo
  nonfinite TEXT,
  UNIQUE (run_id, trial_index)
);
CREATE INDEX trials_by_key ON trials (run_id, config_key);

CREATE TABLE measurements (
  id INTEGER PRIMARY KEY,
  trial_id INTEGER NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
  point_index INTEGER NOT NULL CHECK (point_index >= 0),
  concurrency INTEGER,
  throughput_ips REAL,
  p50_ms REAL,
  p90_ms REAL,
  p95_ms REAL,
  p99_ms REAL,
  requests INTEGER,
  errors INTEGER,
  windows INTEGER,
  stable INTEGER CHECK (stable IN (0, 1)),
  stop_reason TEXT,
  server_queue_us REAL,                -- server_* NULL (untagged) = no server statistics
  server_compute_input_us REAL,
  server_compute_infer_us REAL,
  server_compute_output_us REAL,
  server_requests INTEGER,
  server_executions INTEGER,
  duration_s REAL,
  histogram_b64 TEXT,                  -- latency HDR histogram, base64 (later)
  nonfinite TEXT,
  UNIQUE (trial_id, point_index)
);
`;

/**
 * v2: what a measurement says beyond the fixed columns (load mode, offered rate, the p99
 * confidence interval, client-saturation and schedule flags, GPU memory) as one JSON
 * object, and each window's latency histogram, so percentiles can be recomputed and
 * windows merged later.
 */
const V2 = `
ALTER TABLE measurements ADD COLUMN detail_json TEXT;
CREATE TABLE measurement_windows (
  measurement_id INTEGER NOT NULL REFERENCES measurements(id) ON DELETE CASCADE,
  window_index INTEGER NOT NULL,
  histogram_b64 TEXT NOT NULL,
  PRIMARY KEY (measurement_id, window_index)
);
`;

/**
 * v3: repeats. A configuration measured again in a run (finalists, see search/finish.ts)
 * is a trial of its own; `repeat_of` is the trial_index of the run's first measurement of
 * that configuration (NULL on the first), so reports group the repeats without comparing keys.
 */
const V3 = `
ALTER TABLE trials ADD COLUMN repeat_of INTEGER CHECK (repeat_of IS NULL OR repeat_of >= 0);
UPDATE trials SET repeat_of = (SELECT MIN(f.trial_index) FROM trials f
  WHERE f.run_id = trials.run_id AND f.config_key = trials.config_key AND f.trial_index < trials.trial_index);
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: 'runs, trials, measurements', up: (db) => db.exec(V1) },
  { version: 2, description: 'measurement details and per-window histograms', up: (db) => db.exec(V2) },
  { version: 3, description: 'repeats: trials.repeat_of', up: (db) => db.exec(V3) },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export const SCHEMA_VERSION_TABLE = `
CREATE TABLE IF NOT EXISTS schema_version (
  version INTEGER PRIMARY KEY,
  description TEXT NOT NULL,
  applied_at TEXT NOT NULL
);`;
