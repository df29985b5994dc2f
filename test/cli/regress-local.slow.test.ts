/**
 * `tanalyze regress --launch local --triton-path P`: a nightly regression of a local Triton at
 * a custom path, in process. The server is the FAKE tritonserver (test/fakes: not Triton; it
 * answers the KServe v2 protocol with tanalyze's embedded server), measured for real.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../src/cli/commands/run.js';
import { regressCommand } from '../../src/cli/commands/regress.js';
import { EXIT_CODES } from '../../src/domain/exit-codes.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { compiledServerModule, readRecords } from '../fakes/fake-bin.js';
import { recordingIO } from './fake-io.js';

const FAKE_TRITON = fromPackageRoot('test', 'fakes', 'tritonserver-fake.mjs');

test('regress drives a local (FAKE) tritonserver at a custom path and measures the baseline configuration through it', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tanalyze-regress-local-'));
  const db = join(cwd, 't.db');
  const quick = { model: 'identity', profile: 'quick', db, engineCache: join(cwd, 'cache') };
  assert.equal(await runCommand({ ...quick, p99: '50ms', budget: '2', search: 'grid', quiet: true }, recordingIO(cwd)), EXIT_CODES.ok);

  const argvFile = join(cwd, 'argv.jsonl');
  // The FAKE server is a child process: it reads its settings from the environment it inherits.
  process.env['FAKE_TRITON_SERVER_MODULE'] = compiledServerModule();
  process.env['FAKE_TRITON_ARGV_FILE'] = argvFile;
  try {
    const io = recordingIO(cwd);
    const code = await regressCommand({ baseline: 'latest', profile: 'quick', db, launch: 'local', tritonPath: FAKE_TRITON, engineCache: join(cwd, 'cache'), repeats: '1', json: true }, io);
    assert.ok(code === EXIT_CODES.ok || code === EXIT_CODES.regression, `exit ${code}: ${io.err.join('')}`);
    const summary = JSON.parse(io.out.join('')) as { candidate: { state: string; measurements: number } };
    assert.equal(summary.candidate.state, 'COMPLETE');
    assert.equal(summary.candidate.measurements, 1);
  } finally {
    delete process.env['FAKE_TRITON_SERVER_MODULE'];
    delete process.env['FAKE_TRITON_ARGV_FILE'];
  }
  const [start] = readRecords(argvFile);
  assert.ok(start, 'regress started the server at --triton-path');
  assert.ok(start.argv.includes('--model-control-mode=explicit'));
  assert.throws(() => process.kill(start.pid, 0), 'the server is stopped when regress ends');
});
