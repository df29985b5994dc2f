/**
 * The docker launcher against a FAKE Docker Engine API on a unix socket
 * (test/fakes/docker-api-fake.ts), which "runs" containers as the FAKE tritonserver:
 * what tanalyze asks the engine for, and how it reacts when there is no engine, no
 * GPU support, a failing pull, or a container that exits during start-up.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_TRITON_IMAGE,
  DockerTritonLauncher,
  connectDocker,
  dockerConnection,
  parseGpus,
  removeStaleContainers,
  tritonContainerSpec,
} from '../../src/runner/launchers/docker.js';
import { LaunchError } from '../../src/runner/launchers/errors.js';
import { killAllChildren } from '../../src/runner/launchers/cleanup.js';
import { writeVariant } from '../../src/config/variant.js';
import { parseModelConfig } from '../../src/config/pbtxt.js';
import { createInferenceClient } from '../../src/protocol/client.js';
import type { ModelVariant } from '../../src/domain/launcher.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { makeRepository } from '../server/helpers.js';
import { startFakeDocker, type FakeDocker } from '../fakes/docker-api-fake.js';
import { compiledServerModule, waitFor } from '../fakes/fake-bin.js';

const IMAGE = 'nvcr.io/nvidia/tritonserver:25.11-py3';

describe('DockerTritonLauncher with a FAKE Docker Engine API', () => {
  let src: { dir: string; cleanup: () => void };
  let work: string;
  let variantRepo: string;
  let variant: ModelVariant;

  before(async () => {
    src = makeRepository({ m: { spec: { dims: [4], maxBatchSize: 8 } } });
    work = mkdtempSync(join(tmpdir(), 'tanalyze-docker-'));
    variantRepo = join(work, 'model_repository');
    const cfg = parseModelConfig(readFileSync(join(src.dir, 'm', 'config.pbtxt'), 'utf8'));
    const dir = await writeVariant(variantRepo, join(src.dir, 'm'), { ...cfg, name: 'm_config_0' }, 'm_config_0');
    variant = { modelName: 'm_config_0', dir, config: { maxBatchSize: 8, maxQueueDelayUs: null, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [] }, pbtxt: '' };
  });
  after(async () => {
    await killAllChildren(1000);
    src.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  const tritonCommand = (env: Record<string, string> = {}) => ({
    tritonserver: { script: fromPackageRoot('test', 'fakes', 'tritonserver-fake.mjs'), env: { FAKE_TRITON_SERVER_MODULE: compiledServerModule(), ...env } },
  });

  it('pulls the image, creates a labelled container with GPUs, mounts and ports, serves a variant, and removes the container at stop', async () => {
    const fake = await startFakeDocker({ commands: tritonCommand() });
    const lines: string[] = [];
    const logFile = join(work, 'run-a', 'tritonserver.log');
    const launcher = new DockerTritonLauncher({
      repository: variantRepo,
      mounts: [src.dir],
      runId: 'run-a',
      logFile,
      gpus: '0,1',
      socket: fake.socketPath,
      extraArgs: ['--log-verbose=1'],
      startTimeoutMs: 15_000,
      readyTimeoutMs: 15_000,
      stopGraceMs: 2000,
      log: (l) => lines.push(l),
    });
    try {
      const started = await launcher.start();
      // The image was missing: it was pulled, with progress.
      const pull = fake.find(/^\/images\/create$/, 'POST');
      assert.equal(pull.length, 1);
      assert.deepEqual({ fromImage: pull[0]!.query['fromImage'], tag: pull[0]!.query['tag'] }, { fromImage: 'nvcr.io/nvidia/tritonserver', tag: '25.11-py3' });
      assert.ok(lines.some((l) => /pulling nvcr\.io\/nvidia\/tritonserver:25\.11-py3/.test(l)));
      assert.ok(lines.some((l) => /pulled/.test(l)));

      const [create] = fake.find(/^\/containers\/create$/, 'POST');
      const body = create!.body as Record<string, any>;
      const ports = launcher.listenPorts!;
      assert.equal(body['Image'], DEFAULT_TRITON_IMAGE);
      assert.deepEqual(body['Cmd'], [
        'tritonserver',
        `--model-repository=${variantRepo}`,
        '--model-control-mode=explicit',
        '--grpc-port=8001',
        '--http-port=8000',
        '--metrics-port=8002',
        '--log-verbose=1',
      ]);
      assert.deepEqual(body['Labels'], { 'tanalyze.run': 'run-a', 'tanalyze.pid': String(process.pid), 'tanalyze.host': hostname(), 'tanalyze.role': 'tritonserver' });
      assert.deepEqual(body['HostConfig']['Binds'], [`${variantRepo}:${variantRepo}:ro`, `${src.dir}:${src.dir}:ro`]);
      assert.deepEqual(body['HostConfig']['DeviceRequests'], [{ Driver: '', DeviceIDs: ['0', '1'], Capabilities: [['gpu']] }]);
      assert.deepEqual(body['HostConfig']['PortBindings'], {
        '8000/tcp': [{ HostIp: '127.0.0.1', HostPort: String(ports.http) }],
        '8001/tcp': [{ HostIp: '127.0.0.1', HostPort: String(ports.grpc) }],
        '8002/tcp': [{ HostIp: '127.0.0.1', HostPort: String(ports.metrics) }],
      });
      assert.equal(body['HostConfig']['ShmSize'], 1073741824);
      assert.equal(create!.query['name'], 'tanalyze-run-a-triton-1');
      assert.equal(fake.find(/\/start$/, 'POST').length, 1);
      assert.equal(started.grpcAddress, `127.0.0.1:${ports.grpc}`);

      await launcher.apply(variant);
      const client = createInferenceClient(started.grpcAddress);
      assert.equal(await client.modelReady('m_config_0'), true, 'the symlinked variant loads');
      client.close();
      const metrics = await (await fetch(launcher.metricsUrl()!)).text();
      assert.match(metrics, /nv_inference_count\{model="m_config_0"/);
      await launcher.release(variant);

      const id = launcher.containerId!;
      await launcher.stop();
      const stop = fake.find(new RegExp(`^/containers/${id}/stop$`), 'POST');
      assert.equal(stop.length, 1);
      assert.equal(stop[0]!.query['t'], '2');
      assert.equal(fake.find(new RegExp(`^/containers/${id}$`), 'DELETE')[0]!.query['force'], 'true');
      assert.equal(fake.containers.size, 0);
      const log = readFileSync(logFile, 'utf8');
      assert.match(log, /Started GRPCInferenceService at 0\.0\.0\.0:\d+/, 'the container log went to the run folder');
    } finally {
      await launcher.stop();
      await fake.close();
    }
  });

  it('no Docker engine is a clear error that suggests the other modes', async () => {
    await assert.rejects(connectDocker(join(work, 'no-such.sock')), (e: unknown) => {
      assert.ok(e instanceof LaunchError);
      assert.equal(e.failure, 'docker-unreachable');
      assert.match(e.message, /no Docker engine reachable: unix:\/\/.*no-such\.sock does not exist/);
      assert.match(e.hint ?? '', /--launch local/);
      assert.match(e.hint ?? '', /--launch remote --url/);
      assert.match(e.hint ?? '', /--launch embedded/);
      assert.match(e.hint ?? '', /--docker-socket/);
      return true;
    });
  });

  it('an engine without GPU support is an error naming the NVIDIA Container Toolkit', async () => {
    const fake = await startFakeDocker({ images: [IMAGE], createError: { status: 500, message: 'could not select device driver "" with capabilities: [[gpu]]' } });
    const launcher = new DockerTritonLauncher({ repository: variantRepo, runId: 'run-b', logFile: join(work, 'b.log'), socket: `unix://${fake.socketPath}` });
    try {
      await assert.rejects(launcher.start(), (e: unknown) => {
        assert.ok(e instanceof LaunchError);
        assert.equal(e.failure, 'docker-error');
        assert.match(e.message, /cannot give the container GPUs/);
        assert.match(e.hint ?? '', /NVIDIA Container Toolkit/);
        assert.match(e.hint ?? '', /--gpus none/);
        return true;
      });
      assert.equal(fake.find(/^\/images\/create$/).length, 0, 'the image was there: no pull');
      const body = fake.find(/^\/containers\/create$/)[0]!.body as Record<string, any>;
      assert.deepEqual(body['HostConfig']['DeviceRequests'], [{ Driver: '', Count: -1, Capabilities: [['gpu']] }], '--gpus all by default');
    } finally {
      await fake.close();
    }
  });

  it('a failed pull names the registry login', async () => {
    const fake = await startFakeDocker({ pullError: 'unauthorized: authentication required' });
    const launcher = new DockerTritonLauncher({ repository: variantRepo, runId: 'run-c', logFile: join(work, 'c.log'), socket: fake.socketPath });
    try {
      await assert.rejects(launcher.start(), (e: unknown) => e instanceof LaunchError && /pulling .* failed: unauthorized/.test(e.message) && /docker login nvcr\.io/.test(e.hint ?? ''));
      assert.equal(fake.find(/^\/containers\/create$/).length, 0);
    } finally {
      await fake.close();
    }
  });

  it('a container that exits during start-up is an error quoting its log, and it is removed', async () => {
    const fake = await startFakeDocker({ images: [IMAGE], commands: tritonCommand({ FAKE_TRITON_MODE: 'exit' }) });
    const launcher = new DockerTritonLauncher({ repository: variantRepo, runId: 'run-d', logFile: join(work, 'd', 'triton.log'), socket: fake.socketPath, gpus: 'none', startTimeoutMs: 10_000 });
    try {
      await assert.rejects(launcher.start(), (e: unknown) => {
        assert.ok(e instanceof LaunchError);
        assert.equal(e.failure, 'exited');
        assert.match(e.message, /exited during start-up \(exit code 1\)/);
        assert.match(e.message, /failed to load all models/);
        return true;
      });
      const body = fake.find(/^\/containers\/create$/)[0]!.body as Record<string, any>;
      assert.deepEqual(body['HostConfig']['DeviceRequests'], [], '--gpus none');
      assert.equal(fake.containers.size, 0, 'removed');
    } finally {
      await fake.close();
    }
  });

  it('a container that dies mid-run is replaced, with the same published ports, at the next apply', async () => {
    const onceFile = join(work, 'docker-crashed-once');
    const fake = await startFakeDocker({ images: [IMAGE], commands: tritonCommand({ FAKE_TRITON_CRASH_AFTER_READY_MODEL_MS: '150', FAKE_TRITON_CRASH_ONCE_FILE: onceFile }) });
    const launcher = new DockerTritonLauncher({ repository: variantRepo, mounts: [src.dir], runId: 'run-e', logFile: join(work, 'e', 'triton.log'), socket: fake.socketPath, startTimeoutMs: 15_000, readyTimeoutMs: 15_000, stopGraceMs: 1000 });
    try {
      const { grpcAddress } = await launcher.start();
      await launcher.apply(variant);
      const firstId = launcher.containerId!;
      await waitFor(() => fake.containers.get(firstId)?.running === false, 8000, 'the FAKE crash');
      await launcher.apply(variant);
      assert.equal(launcher.restartCount, 1);
      assert.notEqual(launcher.containerId, firstId);
      assert.equal(fake.containers.has(firstId), false, 'the dead container was removed');
      const creates = fake.find(/^\/containers\/create$/, 'POST');
      assert.deepEqual(creates.map((c) => c.query['name']), ['tanalyze-run-e-triton-1', 'tanalyze-run-e-triton-2']);
      const bindings = creates.map((c) => JSON.stringify((c.body as Record<string, any>)['HostConfig']['PortBindings']));
      assert.equal(bindings[0], bindings[1], 'same host ports: the measurement address stays valid');
      const client = createInferenceClient(grpcAddress);
      assert.equal(await client.modelReady('m_config_0'), true);
      client.close();
    } finally {
      await launcher.stop();
      await fake.close();
    }
  });

  it('removeStaleContainers removes the containers of killed runs from this host only', async () => {
    const host = hostname();
    const fake = await startFakeDocker({
      existing: [
        { name: 'tanalyze-killed-triton-1', labels: { 'tanalyze.run': 'killed', 'tanalyze.pid': '4000000', 'tanalyze.host': host } },
        { name: 'tanalyze-live-triton-1', labels: { 'tanalyze.run': 'live', 'tanalyze.pid': String(process.pid), 'tanalyze.host': host } },
        { name: 'tanalyze-elsewhere-triton-1', labels: { 'tanalyze.run': 'x', 'tanalyze.pid': '4000001', 'tanalyze.host': 'another-host' } },
        { name: 'someone-elses-container', labels: {} },
      ],
    });
    try {
      const docker = await connectDocker(fake.socketPath);
      const removed = await removeStaleContainers(docker, { isAlive: (pid) => pid === process.pid });
      assert.deepEqual(removed.map((r) => [r.name, r.runId]), [['tanalyze-killed-triton-1', 'killed']]);
      const list = fake.find(/^\/containers\/json$/, 'GET')[0]!;
      assert.deepEqual(JSON.parse(list.query['filters']!), { label: ['tanalyze.run'] });
      assert.equal(list.query['all'], 'true');
      assert.deepEqual([...fake.containers.values()].map((c) => c.name).sort(), ['someone-elses-container', 'tanalyze-elsewhere-triton-1', 'tanalyze-live-triton-1']);
    } finally {
      await fake.close();
    }
  });

  it('--gpus and --docker-socket parsing', () => {
    assert.deepEqual(parseGpus('all'), [{ Driver: '', Count: -1, Capabilities: [['gpu']] }]);
    assert.deepEqual(parseGpus(undefined), parseGpus('all'));
    assert.deepEqual(parseGpus('none'), []);
    assert.deepEqual(parseGpus('1'), [{ Driver: '', DeviceIDs: ['1'], Capabilities: [['gpu']] }]);
    assert.deepEqual(parseGpus('device=0,2'), [{ Driver: '', DeviceIDs: ['0', '2'], Capabilities: [['gpu']] }]);
    assert.deepEqual(parseGpus('GPU-e35ba3d2-6eef-2bb9-e35c-6ef6eada4f11'), [{ Driver: '', DeviceIDs: ['GPU-e35ba3d2-6eef-2bb9-e35c-6ef6eada4f11'], Capabilities: [['gpu']] }]);
    assert.deepEqual(parseGpus('count=2'), [{ Driver: '', Count: 2, Capabilities: [['gpu']] }]);
    assert.throws(() => parseGpus('two'), /--gpus: 'two' is not one of all, none/);

    assert.deepEqual(dockerConnection(undefined, {}).options, { socketPath: '/var/run/docker.sock' });
    assert.deepEqual(dockerConnection(undefined, { DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }).options, { socketPath: '/run/user/1000/docker.sock' });
    assert.deepEqual(dockerConnection('tcp://10.0.0.5:2375', {}).options, { host: '10.0.0.5', port: '2375', protocol: 'http' });
    assert.deepEqual(dockerConnection('/tmp/d.sock', { DOCKER_HOST: 'tcp://x:1' }).options, { socketPath: '/tmp/d.sock' }, 'the flag wins over DOCKER_HOST');
  });

  it('host networking: Triton listens on free host ports, nothing published', () => {
    const spec = tritonContainerSpec({ image: 'i', runId: 'r', repository: '/v', mounts: ['/src', '/v'], gpus: [], network: 'host', ports: { grpc: 5001, http: 5000, metrics: 5002 }, pid: 7, hostname: 'h' });
    assert.equal(spec.HostConfig!.NetworkMode, 'host');
    assert.equal(spec.HostConfig!.PortBindings, undefined);
    assert.equal(spec.ExposedPorts, undefined);
    assert.deepEqual(spec.Cmd!.slice(3, 6), ['--grpc-port=5001', '--http-port=5000', '--metrics-port=5002']);
    assert.deepEqual(spec.HostConfig!.Binds, ['/v:/v:ro', '/src:/src:ro'], 'each folder mounted once');
  });
});
