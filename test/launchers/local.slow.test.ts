/**
 * The local launcher against a FAKE tritonserver (test/fakes/tritonserver-fake.mjs):
 * what it is started with, and how tanalyze reacts to a missing binary, a server
 * that exits during start-up, one that hangs, a busy port, a crash mid-run and a
 * server that ignores SIGTERM.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTritonLauncher, checkExtraArgs, killAllChildren, tritonArgs } from '../../src/runner/launchers/local.js';
import { LaunchError } from '../../src/runner/launchers/errors.js';
import { liveResources } from '../../src/runner/launchers/cleanup.js';
import type { ModelVariant } from '../../src/domain/launcher.js';
import { UsageError } from '../../src/domain/errors.js';
import { createInferenceClient } from '../../src/protocol/client.js';
import { makeRepository } from '../server/helpers.js';
import { compiledServerModule, installFakes, isAlive, readRecords, waitFor, type FakeBin } from '../fakes/fake-bin.js';

const variant = (name: string): ModelVariant => ({
  modelName: name,
  dir: '',
  config: { maxBatchSize: 8, maxQueueDelayUs: null, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [] },
  pbtxt: '',
});

describe('LocalTritonLauncher with a FAKE tritonserver', () => {
  let bin: FakeBin;
  let repo: { dir: string; cleanup: () => void };
  let work: string;
  let n = 0;

  before(() => {
    bin = installFakes({ tritonserver: 'tritonserver-fake.mjs' });
    repo = makeRepository({ m: { spec: { dims: [4], maxBatchSize: 8 } } });
    work = mkdtempSync(join(tmpdir(), 'tanalyze-local-'));
  });
  after(async () => {
    await killAllChildren(1000);
    bin.cleanup();
    repo.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  function setup(fakeEnv: Record<string, string> = {}, opts: Partial<ConstructorParameters<typeof LocalTritonLauncher>[0]> = {}) {
    const id = ++n;
    const argvFile = join(work, `argv-${id}.jsonl`);
    const logFile = join(work, `run-${id}`, 'tritonserver.log');
    const env = { ...process.env, PATH: bin.pathEnv, FAKE_TRITON_SERVER_MODULE: compiledServerModule(), FAKE_TRITON_ARGV_FILE: argvFile, ...fakeEnv };
    const launcher = new LocalTritonLauncher({ repository: repo.dir, logFile, env, startTimeoutMs: 15_000, readyTimeoutMs: 15_000, stopGraceMs: 3000, ...opts });
    return { launcher, argvFile, logFile };
  }

  it('finds tritonserver on PATH, starts it with an argument array, loads a variant, serves metrics and stops it', async () => {
    const { launcher, argvFile, logFile } = setup({}, { extraArgs: ['--log-verbose=1', '--exit-timeout-secs=5'] });
    const started = await launcher.start();
    const [rec] = readRecords(argvFile);
    const ports = launcher.listenPorts!;
    assert.deepEqual(rec!.argv, [
      `--model-repository=${repo.dir}`,
      '--model-control-mode=explicit',
      `--grpc-port=${ports.grpc}`,
      `--http-port=${ports.http}`,
      `--metrics-port=${ports.metrics}`,
      '--log-verbose=1',
      '--exit-timeout-secs=5',
    ]);
    assert.equal(new Set([ports.grpc, ports.http, ports.metrics]).size, 3, 'three distinct ports');
    assert.equal(started.grpcAddress, `127.0.0.1:${ports.grpc}`);
    assert.match(started.serverVersion, /\S+ \S+/);

    await launcher.apply(variant('m'));
    const client = createInferenceClient(started.grpcAddress);
    assert.equal(await client.modelReady('m'), true);
    const metrics = await (await fetch(launcher.metricsUrl()!)).text();
    assert.match(metrics, /nv_inference_count\{model="m",version="1"\} 0/);
    assert.match(metrics, /nv_gpu_memory_used_bytes\{gpu_uuid="GPU-/);
    await launcher.release(variant('m'));
    assert.equal(await client.modelReady('m'), false);
    client.close();

    const pid = launcher.pid!;
    assert.ok(isAlive(pid));
    assert.ok(liveResources().some((r) => r.description.includes(String(pid))), 'registered for cleanup');
    await launcher.stop();
    assert.equal(isAlive(pid), false);
    assert.ok(!liveResources().some((r) => r.description.includes(String(pid))), 'unregistered after stop');
    const log = readFileSync(logFile, 'utf8');
    assert.match(log, /Started GRPCInferenceService/);
    assert.match(log, /Received SIGTERM/);
  });

  it('a missing binary is a LaunchError naming --triton-path', async () => {
    const { launcher } = setup({}, { tritonPath: join(work, 'no', 'tritonserver') });
    await assert.rejects(launcher.start(), (e: unknown) => {
      assert.ok(e instanceof LaunchError);
      assert.equal(e.failure, 'missing-binary');
      assert.match(e.hint ?? '', /--triton-path/);
      assert.match(e.hint ?? '', /--launch docker/);
      return true;
    });
    const { launcher: byName } = setup({}, { tritonPath: 'tritonserver-not-installed' });
    await assert.rejects(byName.start(), /'tritonserver-not-installed' was not found on PATH/);
  });

  it('a server that exits during start-up is an error quoting the last lines of its log', async () => {
    const { launcher, logFile } = setup({ FAKE_TRITON_MODE: 'exit', FAKE_TRITON_EXIT_CODE: '3' });
    await assert.rejects(launcher.start(), (e: unknown) => {
      assert.ok(e instanceof LaunchError);
      assert.equal(e.failure, 'exited');
      assert.match(e.message, /exited during start-up \(exit code 3\)/);
      assert.match(e.message, /failed to load all models/);
      assert.ok(e.logTail.some((l) => l.includes("Poll failed for model directory 'broken'")));
      assert.equal(e.logFile, logFile);
      return true;
    });
  });

  it('a server that never becomes ready is stopped after the start timeout', async () => {
    const { launcher, argvFile } = setup({ FAKE_TRITON_MODE: 'hang' }, { startTimeoutMs: 1200 });
    const t0 = Date.now();
    await assert.rejects(launcher.start(), (e: unknown) => {
      assert.ok(e instanceof LaunchError);
      assert.equal(e.failure, 'timeout');
      assert.match(e.message, /not ready after 1 s/);
      assert.ok(e.logTail.some((l) => l.includes('hanging during start-up')));
      return true;
    });
    assert.ok(Date.now() - t0 < 8000);
    const [rec] = readRecords(argvFile);
    await waitFor(() => !isAlive(rec!.pid), 5000, 'the hung fake to be killed');
  });

  it('a port that is already taken is reported before anything starts', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const { launcher, argvFile } = setup({}, { grpcPort: port });
      await assert.rejects(launcher.start(), (e: unknown) => e instanceof LaunchError && e.failure === 'port-in-use' && e.message.includes(`port ${port} (tritonserver --grpc-port)`));
      assert.equal(readRecords(argvFile).length, 0, 'tritonserver was not started');
    } finally {
      blocker.close();
    }
  });

  it("Triton's own 'already in use' log line is a port-in-use error; picked ports are tried again", async () => {
    const fixed = setup({ FAKE_TRITON_MODE: 'port-in-use' }, { grpcPort: 0, httpPort: 0, metricsPort: 0 });
    await assert.rejects(fixed.launcher.start(), (e: unknown) => {
      assert.ok(e instanceof LaunchError);
      assert.equal(e.failure, 'port-in-use');
      assert.ok(e.logTail.some((l) => /Socket '0\.0\.0\.0:\d+' already in use/.test(l)));
      return true;
    });
    // Ports tanalyze picked itself: three attempts with fresh ports, then the error.
    const records = readRecords(fixed.argvFile);
    assert.equal(records.length, 3);
    const grpcPorts = records.map((r) => r.argv.find((a) => a.startsWith('--grpc-port='))!);
    assert.equal(new Set(grpcPorts).size, 3);
  });

  it('a server that crashes mid-run is started again, on the same ports, at the next apply', async () => {
    const onceFile = join(work, 'crashed-once');
    const { launcher, argvFile, logFile } = setup({ FAKE_TRITON_CRASH_AFTER_READY_MODEL_MS: '150', FAKE_TRITON_CRASH_ONCE_FILE: onceFile });
    const { grpcAddress } = await launcher.start();
    await launcher.apply(variant('m'));
    const firstPid = readRecords(argvFile)[0]!.pid;
    await waitFor(() => !isAlive(firstPid), 8000, 'the FAKE crash');
    await waitFor(() => !launcher.alive, 2000, 'the launcher to notice');
    await launcher.apply(variant('m'));
    assert.equal(launcher.restartCount, 1);
    const records = readRecords(argvFile);
    assert.equal(records.length, 2);
    assert.deepEqual(records[1]!.argv, records[0]!.argv, 'same repository and ports');
    const client = createInferenceClient(grpcAddress);
    assert.equal(await client.modelReady('m'), true);
    client.close();
    assert.match(readFileSync(logFile, 'utf8'), /Signal \(11\) received/);
    await launcher.stop();
  });

  it('a server that ignores SIGTERM gets SIGKILL after the grace period', async () => {
    const { launcher } = setup({ FAKE_TRITON_IGNORE_SIGTERM: '1' }, { stopGraceMs: 400 });
    await launcher.start();
    const pid = launcher.pid!;
    const t0 = Date.now();
    await launcher.stop();
    assert.equal(isAlive(pid), false);
    assert.ok(Date.now() - t0 >= 380, 'waited for the grace period first');
  });

  it('killAllChildren() stops every server tanalyze started', async () => {
    const a = setup().launcher;
    await a.start();
    const pid = a.pid!;
    await killAllChildren(2000);
    await waitFor(() => !isAlive(pid), 3000, 'the server to stop');
  });

  it('the argument array and the reserved flags', () => {
    assert.deepEqual(tritonArgs({ repository: '/r', grpcPort: 1, httpPort: 2, metricsPort: 3, extraArgs: ['--backend-config=onnxruntime,default-max-batch-size=8'] }), [
      '--model-repository=/r',
      '--model-control-mode=explicit',
      '--grpc-port=1',
      '--http-port=2',
      '--metrics-port=3',
      '--backend-config=onnxruntime,default-max-batch-size=8',
    ]);
    assert.throws(() => checkExtraArgs(['--log-verbose=1', '--grpc-port=9', '--model-control-mode', 'poll']), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.problems.length, 2);
      assert.match(e.problems[0]!, /server\.args: '--grpc-port=9' is set by tanalyze itself/);
      return true;
    });
  });
});
