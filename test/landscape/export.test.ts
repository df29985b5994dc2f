/** `tanalyze export-landscape`: a stored run's points, GPU memory included, as a landscape that parses back. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportLandscapeCommand } from '../../src/cli/commands/export-landscape.js';
import { parseLandscape } from '../../src/landscape/csv.js';
import { buildFixtureDb, fixtureData } from '../report/fixture-db.js';

test('export-landscape keeps each point\'s GPU memory (the third objective) and every measured configuration', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-export-'));
  const db = join(dir, 't.db');
  buildFixtureDb(db, { gpuMemory: true });
  const out = join(dir, 'land.csv');
  const io = { stdout: () => undefined, stderr: () => undefined, cwd: dir, env: {} };
  assert.equal(await exportLandscapeCommand('latest', { db, out }, io), 0);
  const rows = parseLandscape(readFileSync(out, 'utf8'), out).rows;
  const data = fixtureData({ gpuMemory: true });
  const measured = data.trials.filter((t) => t.state === 'COMPLETE' || t.state === 'INFEASIBLE');
  assert.equal(rows.length, measured.reduce((n, t) => n + t.points.length, 0));
  assert.ok(rows.length > 0 && rows.every((r) => r.gpuMemoryMb !== null && r.gpuMemoryMb > 0), 'every row has its GPU memory');
  const first = measured[0]!.points[0]!;
  const row = rows.find((r) => r.concurrency === first.concurrency && r.config.maxBatchSize === measured[0]!.config.maxBatchSize && r.config.instanceCount === measured[0]!.config.instanceCount && r.config.precision === measured[0]!.config.precision && r.config.maxQueueDelayUs === measured[0]!.config.maxQueueDelayUs)!;
  assert.equal(row.gpuMemoryMb, first.gpuMemoryMb);
});
