import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadProfile, resolvePlan } from '../../src/cli/plan.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { resolveComparisonSettings } from '../../src/cli/comparison.js';

const FILE = fromPackageRoot('profiles', 'nightly.yaml');

test('profiles/nightly.yaml loads, by name and by path, and resolves to a valid plan', () => {
  for (const ref of ['nightly', FILE]) {
    const profile = loadProfile(ref, fromPackageRoot());
    const plan = resolvePlan({ model: 'tiny_resnet' }, {}, profile, fromPackageRoot());
    assert.equal(plan.targetP99Ms, 50);
    assert.equal(plan.windows.windowMs, 1000);
    assert.equal(plan.windows.maxWindows, 12);
    assert.equal(plan.launch, 'embedded');
    assert.deepEqual(plan.space.maxQueueDelaysUs, [0, 2000]);
  }
});

test('the regress block of nightly.yaml loads through the profile loader and resolves', () => {
  const profile = loadProfile(FILE, '/w');
  const s = resolveComparisonSettings({}, {}, '/w', profile.values, profile.file);
  assert.deepEqual(s.thresholds, { maxThroughputDrop: 0.05, maxP99Rise: 0.1, maxNoise: 0.1 });
  assert.equal(s.repeats, 3);
  assert.equal(s.research, false);
});
