/** The launcher factory: one constructor per mode, usage errors for what a mode needs. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LAUNCH_MODES, createLauncher, isLaunchMode, metricsUrlOf } from '../../src/runner/launchers/index.js';
import { DockerTritonLauncher } from '../../src/runner/launchers/docker.js';
import { EmbeddedLauncher } from '../../src/runner/launchers/embedded.js';
import { LocalTritonLauncher } from '../../src/runner/launchers/local.js';
import { RemoteTritonLauncher } from '../../src/runner/launchers/remote.js';
import { UsageError } from '../../src/domain/errors.js';

const base = { repository: '/tmp/variants', runId: 'r1', runDir: '/tmp/run' };

describe('createLauncher', () => {
  it('builds the launcher of each mode', () => {
    assert.deepEqual([...LAUNCH_MODES], ['embedded', 'local', 'docker', 'remote']);
    assert.ok(createLauncher('embedded', base) instanceof EmbeddedLauncher);
    assert.ok(createLauncher('local', { ...base, tritonPath: '/opt/tritonserver/bin/tritonserver' }) instanceof LocalTritonLauncher);
    assert.ok(createLauncher('docker', { ...base, gpus: '0,1', sourceRepository: '/models' }) instanceof DockerTritonLauncher);
    const remote = createLauncher('remote', { ...base, url: 'triton:8001' });
    assert.ok(remote instanceof RemoteTritonLauncher);
    assert.equal(metricsUrlOf(remote), 'http://triton:8002/metrics');
    assert.equal(metricsUrlOf(createLauncher('embedded', base)), null);
    assert.equal(isLaunchMode('docker'), true);
    assert.equal(isLaunchMode('k8s'), false);
  });

  it('usage errors name the flag', () => {
    assert.throws(() => createLauncher('remote', base), (e: unknown) => e instanceof UsageError && /--url is required with --launch remote/.test(e.message));
    assert.throws(() => createLauncher('k8s', base), (e: unknown) => e instanceof UsageError && /--launch: 'k8s' is not one of embedded, local, docker, remote/.test(e.message));
    assert.throws(() => createLauncher('docker', { ...base, gpus: 'lots' }), /--gpus: 'lots'/);
    assert.throws(() => createLauncher('local', { ...base, extraArgs: ['--http-port=1'] }), UsageError);
  });
});
