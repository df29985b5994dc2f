import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listProfiles, loadProfile, resolvePlan } from '../../src/cli/plan.js';
import { UsageError } from '../../src/domain/errors.js';
import { loadOptionsFor } from '../../src/cli/serving.js';
import type { ServingConfig } from '../../src/domain/serving.js';

const cwd = '/tmp';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected UsageError, got ${(e as Error).stack}`);
    return e.problems;
  }
  assert.fail('expected a UsageError');
}

test('shipped profiles load and resolve', () => {
  assert.ok(listProfiles().includes('default'));
  for (const name of listProfiles()) {
    const plan = resolvePlan({ model: 'm' }, {}, loadProfile(name), cwd);
    assert.ok(plan.targetP99Ms > 0, name);
    assert.ok(plan.space.maxBatchSizes.length > 0, name);
  }
});

test('precedence: default < profile < environment < flag', () => {
  const profile = loadProfile('default');
  assert.equal(resolvePlan({ model: 'm' }, {}, profile, cwd).budget, 12);
  assert.equal(resolvePlan({ model: 'm' }, { TANALYZE_BUDGET: '7' }, profile, cwd).budget, 7);
  assert.equal(resolvePlan({ model: 'm', budget: '3' }, { TANALYZE_BUDGET: '7' }, profile, cwd).budget, 3);
  assert.equal(resolvePlan({ model: 'm', p99: '0.02s' }, {}, profile, cwd).targetP99Ms, 20);
});

test('every bad value is reported at once, naming the flag, the value and what is accepted', () => {
  const problems = problemsOf(() =>
    resolvePlan({ model: 'm', p99: '50', budget: 'ten', search: 'bayes', maxBatchSizes: '4,x', precisions: 'FP8', window: '5 parsecs' }, {}, loadProfile('default'), cwd),
  );
  assert.equal(problems.length, 6, problems.join('\n'));
  assert.match(problems.join('\n'), /--p99: '50' is not a latency; accepted: .*50ms, 0\.05s or 50000us/);
  assert.match(problems.join('\n'), /--budget: 'ten' is not an integer/);
  assert.match(problems.join('\n'), /--search: 'bayes' is not one of grid, random, quick, bayesian/);
  assert.match(problems.join('\n'), /--max-batch-sizes: '4,x' is not a list/);
  assert.match(problems.join('\n'), /--precisions: 'FP8' is not a precision; accepted: FP32, FP16, BF16, INT8/);
  assert.match(problems.join('\n'), /--window: '5 parsecs' is not a duration/);
});

test('a missing model is reported', () => {
  assert.match(problemsOf(() => resolvePlan({}, {}, loadProfile('default'), cwd)).join('\n'), /--model: required/);
});

test('profile files: unknown keys and bad values name the file and key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-profile-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(file, 'target:\n  p99: 50ms\nspace:\n  max_batch_sise: [1]\n');
  assert.match(problemsOf(() => loadProfile(file)).join('\n'), /p\.yaml: unknown key 'space\.max_batch_sise'/);
  writeFileSync(file, 'space:\n  max_batch_size: [4, -1]\nload:\n  stability: 3\n');
  const problems = problemsOf(() => resolvePlan({ model: 'm', p99: '50ms' }, {}, loadProfile(file), cwd));
  assert.match(problems.join('\n'), /p\.yaml: space\.max_batch_size: '\[4, -1\]' is not a list/);
  assert.match(problems.join('\n'), /load\.stability: '3' is not a fraction/);
  assert.match(problemsOf(() => loadProfile('nosuch')).join('\n'), /'nosuch' is not a profile; accepted: .*default/);
});

test('open loop on the embedded server sends from a worker thread by default; elsewhere, or when given, as asked', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tanalyze-plan-'));
  const profile = loadProfile('default');
  assert.equal(resolvePlan({ model: 'm', load: 'rate' }, {}, profile, cwd).load.workers, 1);
  assert.equal(resolvePlan({ model: 'm', load: 'rate', loadWorkers: '0' }, {}, profile, cwd).load.workers, 0);
  assert.equal(resolvePlan({ model: 'm' }, {}, profile, cwd).load.workers, 0, 'closed loop: the main thread');
  assert.equal(resolvePlan({ model: 'm', load: 'rate', launch: 'remote', url: 'h:8001' }, {}, profile, cwd).load.workers, 0, 'a separate server: the main thread is free');
});

test('--client-transport: http2 by default, grpc-js when asked, anything else named with what is accepted', () => {
  const profile = loadProfile('default');
  assert.equal(resolvePlan({ model: 'm' }, {}, profile, cwd).load.transport, 'http2');
  assert.equal(resolvePlan({ model: 'm', clientTransport: 'grpc-js' }, {}, profile, cwd).load.transport, 'grpc-js');
  assert.match(problemsOf(() => resolvePlan({ model: 'm', clientTransport: 'h3' }, {}, profile, cwd)).join('\n'), /--client-transport: 'h3' is not one of http2, grpc-js/);
});

test('--shared-memory: none by default; system where the server shares this host; refused where it cannot work, naming the flag', () => {
  const profile = loadProfile('default');
  assert.equal(resolvePlan({ model: 'm' }, {}, profile, cwd).load.sharedMemory, 'none');
  assert.equal(resolvePlan({ model: 'm', sharedMemory: 'system' }, {}, profile, cwd).load.sharedMemory, 'system');
  assert.equal(resolvePlan({ model: 'm', sharedMemory: 'system', launch: 'local' }, {}, profile, cwd).load.sharedMemory, 'system');
  for (const url of ['127.0.0.1:8001', 'localhost:8001', '[::1]:8001', '127.0.0.2:9']) {
    assert.equal(resolvePlan({ model: 'm', sharedMemory: 'system', launch: 'remote', url }, {}, profile, cwd).load.sharedMemory, 'system', url);
  }
  assert.match(problemsOf(() => resolvePlan({ model: 'm', sharedMemory: 'cuda' }, {}, profile, cwd)).join('\n'), /--shared-memory: 'cuda' is not one of none, system/);
  const remote = problemsOf(() => resolvePlan({ model: 'm', sharedMemory: 'system', launch: 'remote', url: 'triton-host:8001' }, {}, profile, cwd)).join('\n');
  assert.match(remote, /--shared-memory: 'system' needs the server on this host, but --url 'triton-host:8001' is not a loopback address/);
  assert.match(problemsOf(() => resolvePlan({ model: 'm', sharedMemory: 'system', launch: 'remote', url: '10.0.0.7:8001' }, {}, profile, cwd)).join('\n'), /not a loopback address/);
  assert.match(problemsOf(() => resolvePlan({ model: 'm', sharedMemory: 'system', launch: 'docker' }, {}, profile, cwd)).join('\n'), /--shared-memory: 'system' cannot work with --launch docker/);
  assert.match(problemsOf(() => resolvePlan({ sharedMemory: 'system', launch: 'sim' }, {}, profile, cwd)).join('\n'), /--shared-memory: 'system' does nothing with --launch sim/);
  assert.match(problemsOf(() => resolvePlan({ sharedMemory: 'system', launch: 'replay', landscape: 'x.csv' }, {}, profile, cwd)).join('\n'), /--shared-memory: 'system' does nothing with --launch replay/);
  // 'none' is always accepted, offline included.
  assert.equal(resolvePlan({ sharedMemory: 'none', launch: 'replay', landscape: 'x.csv' }, {}, profile, cwd).load.sharedMemory, 'none');
});

test('--shared-memory reaches the measurement of every configuration', () => {
  const config = { instanceCount: 1, maxBatchSize: 4 } as ServingConfig;
  const plan = resolvePlan({ model: 'm', sharedMemory: 'system' }, {}, loadProfile('default'), cwd);
  assert.equal(loadOptionsFor(plan, '127.0.0.1:1', config).sharedMemory, 'system');
});
