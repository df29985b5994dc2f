/** The option table's typed defaults are the values the plan uses: --help cannot show another. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OPTIONS, defaultOf, defaultShown, helpDescription } from '../../src/cli/options.js';
import { loadProfile, planValue, resolvePlan } from '../../src/cli/plan.js';
import { resolveComparisonSettings } from '../../src/cli/comparison.js';

const cwd = mkdtempSync(join(tmpdir(), 'tanalyze-options-'));

/** A profile that sets only the target: everything else comes from the table. */
function bareProfile() {
  const file = join(cwd, 'bare.yaml');
  writeFileSync(file, 'target:\n  p99: 50ms\n');
  return loadProfile(file, cwd);
}

test('a profile without a key gets the default --help shows, for every option the plan holds', () => {
  const plan = resolvePlan({ model: 'm' }, {}, bareProfile(), cwd);
  let checked = 0;
  for (const o of OPTIONS) {
    if (o.default === undefined || o.defaultText || o.key === 'profile') continue;
    const v = planValue(o.key, plan);
    if (v === undefined) continue; // not a plan setting (regress thresholds, below)
    const expected = o.key === 'db' || o.key === 'outDir' ? resolve(cwd, o.default as string) : o.default;
    assert.deepEqual(v, expected, o.key);
    checked++;
  }
  assert.ok(checked >= 30, `checked ${checked} defaults`);
  assert.equal(plan.budget, 12, 'the budget --help shows');
  assert.match(helpDescription(OPTIONS.find((o) => o.key === 'budget')!, 'run'), /default: 12;/);
});

test("regress thresholds and repeats without flags or profile are the table's defaults", () => {
  const s = resolveComparisonSettings({}, {}, cwd);
  assert.deepEqual(s.thresholds, { maxThroughputDrop: defaultOf('maxThroughputDrop'), maxP99Rise: defaultOf('maxP99Rise'), maxNoise: defaultOf('maxNoise') });
  assert.equal(s.repeats, defaultOf('repeats'));
  assert.equal(defaultShown(OPTIONS.find((o) => o.key === 'maxThroughputDrop')!), '5%');
});

test('the shipped default profile agrees with the table wherever it sets a value', () => {
  const profile = loadProfile('default');
  for (const o of OPTIONS) {
    if (!o.profileKey || o.default === undefined || profile.values[o.profileKey] === undefined) continue;
    const fromProfile = planValue(o.key, resolvePlan({ model: 'm' }, {}, profile, cwd));
    assert.deepEqual(fromProfile, planValue(o.key, resolvePlan({ model: 'm' }, {}, bareProfile(), cwd)), o.profileKey);
  }
});

test('regress reads the nightly profile unless told otherwise; the others the default one', () => {
  assert.equal(defaultOf('profile', 'regress'), 'nightly');
  assert.equal(defaultOf('profile', 'run'), 'default');
});

test('GPU worker variables are read once, in the plan, and every bad one is named', () => {
  const env = { TANALYZE_GPU_PYTHON: '/opt/py/bin/python3', TANALYZE_GPU_CUDA_GRAPHS: '0', TANALYZE_GPU_DEVICE: '2', TANALYZE_NVIDIA_SMI: '/x/nvidia-smi', TANALYZE_GPU_LOG: '1' };
  const plan = resolvePlan({ model: 'm' }, env, bareProfile(), cwd);
  assert.deepEqual(plan.gpu, { python: '/opt/py/bin/python3', script: null, cacheDir: null, runTimeoutMs: 60_000, cudaGraphs: false, device: 2, log: true, nvidiaSmi: '/x/nvidia-smi' });
  try {
    resolvePlan({ model: 'm' }, { TANALYZE_GPU_DEVICE: 'first', TANALYZE_GPU_RUN_TIMEOUT_MS: '-1', TANALYZE_GPU_CUDA_GRAPHS: 'maybe' }, bareProfile(), cwd);
    assert.fail('expected a usage error');
  } catch (e) {
    const text = (e as { problems: string[] }).problems.join('\n');
    assert.match(text, /TANALYZE_GPU_DEVICE \(environment\): 'first' is not an integer ≥ 0/);
    assert.match(text, /TANALYZE_GPU_RUN_TIMEOUT_MS \(environment\): '-1' is not an integer ≥ 1/);
    assert.match(text, /TANALYZE_GPU_CUDA_GRAPHS \(environment\): 'maybe' is not on or off; accepted: 1 or 0/);
  }
});
