/**
 * trtexec builds: the optimization profile and argument array (pure), the TensorRT
 * version banner, and builds through a FAKE trtexec (test/fakes/trtexec-fake.mjs):
 * what it is given, and failures (parse error, hang, no engine written, crash).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseModelConfig } from '../../src/config/pbtxt.js';
import {
  EngineBuildError,
  EngineConfigError,
  buildEngine,
  detectTensorRtVersion,
  parseTensorRtVersion,
  profileKey,
  shapeProfileFor,
  trtexecArgs,
} from '../../src/runner/engines/trtexec.js';
import { LocalToolRunner, detectGpuName } from '../../src/runner/engines/tools.js';
import { LaunchError } from '../../src/runner/launchers/errors.js';
import { installFakes, isAlive, readRecords, waitFor, type FakeBin } from '../fakes/fake-bin.js';

const tiny = parseModelConfig(`
name: "tiny_resnet"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 32, 32 ] } ]
output [ { name: "logits" data_type: TYPE_FP32 dims: [ 10 ] } ]
`);

describe('optimization profile and arguments (pure)', () => {
  it("the trial's max_batch_size is the profile's max (and opt); min is 1", () => {
    const p = shapeProfileFor(tiny, 16);
    assert.deepEqual(p.inputs, [{ name: 'input', min: [1, 3, 32, 32], opt: [16, 3, 32, 32], max: [16, 3, 32, 32] }]);
    assert.equal(profileKey(p), 'input:1x3x32x32/16x3x32x32/16x3x32x32');
    assert.equal(profileKey(shapeProfileFor(tiny, 16, { optBatch: 4 })), 'input:1x3x32x32/4x3x32x32/16x3x32x32');
    assert.equal(profileKey(shapeProfileFor(tiny, 0)), 'input:3x32x32/3x32x32/3x32x32', 'a model that does not batch');
  });

  it('variable dimensions need shapes from the profile', () => {
    const dyn = parseModelConfig(`name: "r" platform: "onnxruntime_onnx" max_batch_size: 4 input [ { name: "x" data_type: TYPE_FP32 dims: [ 3, -1, -1 ] } ]`);
    assert.throws(() => shapeProfileFor(dyn, 4), (e: unknown) => e instanceof EngineConfigError && /input 'x' has a variable dimension \(dims \[3, -1, -1\]\).*engine\.shapes\.x: \[3, 224, 224\]/.test(e.message));
    assert.equal(profileKey(shapeProfileFor(dyn, 4, { shapes: { x: [3, 224, 224] } })), 'x:1x3x224x224/4x3x224x224/4x3x224x224');
    assert.equal(
      profileKey(shapeProfileFor(dyn, 4, { shapes: { x: { min: [3, 128, 128], opt: [3, 224, 224], max: [3, 512, 512] } } })),
      'x:1x3x128x128/4x3x224x224/4x3x512x512',
    );
  });

  it('trtexec arguments for each precision', () => {
    const profile = shapeProfileFor(tiny, 8);
    const common = ['--onnx=/m/1/model.onnx', '--saveEngine=/c/e.plan', '--minShapes=input:1x3x32x32', '--optShapes=input:8x3x32x32', '--maxShapes=input:8x3x32x32'];
    assert.deepEqual(trtexecArgs({ onnx: '/m/1/model.onnx', engine: '/c/e.plan', profile, precision: 'FP32' }), [...common, '--skipInference']);
    assert.deepEqual(trtexecArgs({ onnx: '/m/1/model.onnx', engine: '/c/e.plan', profile, precision: 'FP16' }), [...common, '--fp16', '--skipInference']);
    assert.deepEqual(trtexecArgs({ onnx: '/m/1/model.onnx', engine: '/c/e.plan', profile, precision: 'BF16' }), [...common, '--bf16', '--skipInference']);
    assert.deepEqual(trtexecArgs({ onnx: '/m/1/model.onnx', engine: '/c/e.plan', profile, precision: 'INT8', calibCache: '/cal/calib.cache' }), [
      ...common,
      '--int8',
      '--calib=/cal/calib.cache',
      '--skipInference',
    ]);
    assert.deepEqual(
      trtexecArgs({ onnx: '/m/1/model.onnx', engine: '/c/e.plan', profile, precision: 'FP32', workspaceMiB: 2048, timingCache: '/c/timing.cache', extraArgs: ['--builderOptimizationLevel=4'] }),
      [...common, '--memPoolSize=workspace:2048M', '--timingCacheFile=/c/timing.cache', '--skipInference', '--builderOptimizationLevel=4'],
    );
  });

  it('several inputs, and names trtexec must see quoted', () => {
    const two = parseModelConfig(`name: "b" platform: "onnxruntime_onnx" max_batch_size: 32
      input [ { name: "input_ids" data_type: TYPE_INT64 dims: [ 128 ] }, { name: "mask:0" data_type: TYPE_INT64 dims: [ 128 ] } ]`);
    const args = trtexecArgs({ onnx: 'a', engine: 'b', profile: shapeProfileFor(two, 32), precision: 'FP16' });
    assert.equal(args[2], "--minShapes=input_ids:1x128,'mask:0':1x128");
    assert.equal(args[4], "--maxShapes=input_ids:32x128,'mask:0':32x128");
  });

  it('TensorRT version from the banner or the version line', () => {
    assert.equal(parseTensorRtVersion('&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec --help'), '10.3.0');
    assert.equal(parseTensorRtVersion('&&&& RUNNING TensorRT.trtexec [TensorRT v101303] # trtexec'), '10.13.3');
    assert.equal(parseTensorRtVersion('&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec'), '8.6.1');
    assert.equal(parseTensorRtVersion('[11/24/2025-10:00:00] [I] TensorRT version: 10.7.0'), '10.7.0');
    assert.equal(parseTensorRtVersion('nothing here'), null);
  });
});

describe('builds with a FAKE trtexec', () => {
  let bin: FakeBin;
  let work: string;
  let n = 0;
  before(() => {
    bin = installFakes({ trtexec: 'trtexec-fake.mjs', 'nvidia-smi': 'nvidia-smi-fake.mjs' });
    work = mkdtempSync(join(tmpdir(), 'tanalyze-trtexec-'));
  });
  after(() => {
    bin.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  function setup(fakeEnv: Record<string, string> = {}) {
    const id = ++n;
    const argvFile = join(work, `argv-${id}.jsonl`);
    const runner = new LocalToolRunner({ env: { ...process.env, PATH: bin.pathEnv, FAKE_TRTEXEC_ARGV_FILE: argvFile, ...fakeEnv } });
    const build = { onnx: join(work, 'model.onnx'), engine: join(work, `engine-${id}.plan`), profile: shapeProfileFor(tiny, 8), precision: 'FP16' as const };
    return { runner, argvFile, build, logFile: join(work, `build-${id}.log`) };
  }

  it('a build passes the argument array and keeps the log', async () => {
    const { runner, argvFile, build, logFile } = setup();
    const out = await buildEngine(runner, build, { logFile, timeoutMs: 10_000 });
    assert.equal(out.tensorrtVersion, '10.3.0');
    assert.deepEqual(readRecords(argvFile)[0]!.argv, trtexecArgs(build));
    assert.match(readFileSync(build.engine, 'utf8'), /^FAKE TensorRT engine/);
    const log = readFileSync(logFile, 'utf8');
    assert.match(log, /^# tanalyze .*trtexec --onnx=/);
    assert.match(log, /Precision: FP32\+FP16/);
    assert.match(log, /&&&& PASSED TensorRT\.trtexec/);
  });

  it('a failed build is an EngineBuildError quoting the end of the log', async () => {
    const { runner, build, logFile } = setup({ FAKE_TRTEXEC_MODE: 'fail' });
    await assert.rejects(buildEngine(runner, build, { logFile, timeoutMs: 10_000 }), (e: unknown) => {
      assert.ok(e instanceof EngineBuildError);
      assert.match(e.message, /TensorRT engine build \(FP16, max batch 8\) failed \(exit code 1\)/);
      assert.ok(e.logTail.some((l) => l.includes('Failed to parse onnx file')));
      assert.ok(e.logTail.some((l) => l.includes('&&&& FAILED TensorRT.trtexec')));
      assert.equal(e.logFile, logFile);
      return true;
    });
    assert.equal(existsSync(build.engine), false);
  });

  it('a hung build is stopped at the timeout', async () => {
    const { runner, argvFile, build, logFile } = setup({ FAKE_TRTEXEC_MODE: 'hang' });
    await assert.rejects(buildEngine(runner, build, { logFile, timeoutMs: 700 }), /did not finish in 1 s and was stopped/);
    const pid = readRecords(argvFile)[0]!.pid;
    await waitFor(() => !isAlive(pid), 5000, 'the hung trtexec to be killed');
  });

  it('PASSED without an engine file, and a crash mid-build, are failures too', async () => {
    const a = setup({ FAKE_TRTEXEC_MODE: 'no-engine' });
    await assert.rejects(buildEngine(a.runner, a.build, { logFile: a.logFile, timeoutMs: 10_000 }), /reported success but wrote no engine/);
    const b = setup({ FAKE_TRTEXEC_MODE: 'crash' });
    await assert.rejects(buildEngine(b.runner, b.build, { logFile: b.logFile, timeoutMs: 10_000 }), /failed \(killed by SIGKILL\)/);
  });

  it('TensorRT version and GPU name probes; no GPU driver gives unknown-gpu', async () => {
    const { runner, argvFile } = setup({ FAKE_TRTEXEC_VERSION: '101303', FAKE_NVIDIA_SMI_GPUS: 'NVIDIA L4,NVIDIA A100-SXM4-80GB' });
    assert.equal(await detectTensorRtVersion(runner), '10.13.3');
    assert.deepEqual(readRecords(argvFile)[0]!.argv, ['--help']);
    assert.equal(await detectGpuName(runner), 'NVIDIA L4');
    assert.equal(await detectGpuName(runner, 1), 'NVIDIA A100-SXM4-80GB');
    assert.equal(await detectGpuName(setup({ FAKE_NVIDIA_SMI_FAIL: '1' }).runner), 'unknown-gpu');
  });

  it('no trtexec is a LaunchError naming --trtexec-path', async () => {
    const runner = new LocalToolRunner({ trtexecPath: join(work, 'none', 'trtexec') });
    await assert.rejects(runner.run('trtexec', ['--help'], { timeoutMs: 1000 }), (e: unknown) => e instanceof LaunchError && e.failure === 'missing-binary' && /--trtexec-path/.test(e.hint ?? ''));
  });
});
