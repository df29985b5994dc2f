/**
 * The build step: TensorRT plans with a FAKE trtexec (on this machine and in a FAKE
 * Docker engine), the ONNX Runtime TensorRT accelerator config, and the embedded
 * server's optimized ONNX Runtime models (real ONNX Runtime, loaded by the real
 * embedded server), all through the engine cache; plus the max-batch rule.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseModelConfig, printModelConfig } from '../../src/config/pbtxt.js';
import { applyServingConfig, writeVariant } from '../../src/config/variant.js';
import type { ModelConfig } from '../../src/config/types.js';
import type { ServingConfig } from '../../src/domain/serving.js';
import { EngineCache } from '../../src/runner/engines/cache.js';
import {
  EmbeddedOrtBuilder,
  NoBuild,
  OrtTensorRtBuilder,
  TrtexecPlanBuilder,
  defaultBuilderKind,
  installArtifacts,
  limitMaxBatchSizes,
  maxBatchForEngine,
  prebuiltEngineLimit,
  type BuildRequest,
} from '../../src/runner/engines/builder.js';
import { DockerToolRunner, LocalToolRunner } from '../../src/runner/engines/tools.js';
import { EngineBuildError } from '../../src/runner/engines/trtexec.js';
import { startEmbeddedServer } from '../../src/server/server.js';
import { createInferenceClient } from '../../src/protocol/client.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { makeRepository, rawRequest, range, readFp32 } from '../server/helpers.js';
import { installFakes, readRecords, type FakeBin } from '../fakes/fake-bin.js';
import { startFakeDocker } from '../fakes/docker-api-fake.js';

const sc = (maxBatchSize: number, precision: ServingConfig['precision'] = 'FP32'): ServingConfig => ({
  maxBatchSize,
  maxQueueDelayUs: 1000,
  instanceCount: 1,
  precision,
  preferredBatchSizes: [],
});

describe('engine builders', () => {
  let work: string;
  let repo: { dir: string; cleanup: () => void };
  let bin: FakeBin;
  let model: BuildRequest['model'];

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'tanalyze-builder-'));
    repo = makeRepository({ m: { spec: { dims: [4], maxBatchSize: 8 } } });
    bin = installFakes({ trtexec: 'trtexec-fake.mjs', 'nvidia-smi': 'nvidia-smi-fake.mjs' });
    model = { name: 'm', dir: join(repo.dir, 'm'), config: parseModelConfig(readFileSync(join(repo.dir, 'm', 'config.pbtxt'), 'utf8')), versions: ['1'] };
  });
  after(() => {
    bin.cleanup();
    repo.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  const request = (s: ServingConfig, name = 'm_config_1'): BuildRequest => ({ model, serving: s, variantConfig: applyServingConfig(model.config, s, { name }) });

  it('trtexec: builds a plan per precision and max batch, once; a resumed run builds nothing', async () => {
    const argvFile = join(work, 'trtexec-argv.jsonl');
    const env = { ...process.env, PATH: bin.pathEnv, FAKE_TRTEXEC_ARGV_FILE: argvFile };
    const cacheDir = join(work, 'trt-cache');
    const lines: string[] = [];
    const builder = new TrtexecPlanBuilder({ cache: new EngineCache(cacheDir), runner: new LocalToolRunner({ env }), log: (l) => lines.push(l) });
    assert.equal(builder.handlesPrecision, true);

    const r1 = (await builder.prepare(request(sc(8, 'FP16'))))!;
    assert.equal(r1.cached, false);
    assert.match(r1.summary, /^TensorRT 10\.3\.0 engine FP16 \(builder flags --fp16\), max batch 8: built in .*; precision checked: no compute layers to check$/);
    assert.equal(r1.config.platform, 'tensorrt_plan');
    assert.equal(r1.config.backend, undefined);
    assert.equal(r1.config.default_model_filename, 'model.fp16.plan');
    assert.equal(r1.config.instance_group?.[0]?.kind, 'KIND_GPU');
    assert.equal(r1.config.name, 'm_config_1');
    assert.equal(r1.config.max_batch_size, 8);
    assert.deepEqual(r1.files, [{ version: '1', name: 'model.fp16.plan', path: join(cacheDir, 'artifacts', `${r1.key}.plan`) }]);
    const env1 = await builder.environment();
    assert.deepEqual(env1, { tensorrtVersion: '10.3.0', gpuName: 'NVIDIA H100 80GB HBM3' });

    const records = readRecords(argvFile);
    assert.deepEqual(records[0]!.argv, ['--help'], 'the TensorRT version probe');
    const buildArgv = records[1]!.argv;
    assert.equal(buildArgv[0], `--onnx=${join(repo.dir, 'm', '1', 'model.onnx')}`);
    assert.match(buildArgv[1]!, new RegExp(`^--saveEngine=${cacheDir}/tmp/${r1.key}\\.\\d+\\.[0-9a-f]+\\.plan$`));
    assert.deepEqual(buildArgv.slice(2), [
      '--minShapes=input:1x4',
      '--optShapes=input:8x4',
      '--maxShapes=input:8x4',
      '--fp16',
      '--skipInference',
      `--exportLayerInfo=${join(cacheDir, 'logs', `${r1.key}.layers.json`)}`,
      '--profilingVerbosity=detailed',
    ]);

    const again = (await builder.prepare(request(sc(8, 'FP16'), 'm_config_2')))!;
    assert.equal(again.cached, true);
    assert.equal(again.key, r1.key);
    const resumed = new TrtexecPlanBuilder({ cache: new EngineCache(cacheDir), runner: new LocalToolRunner({ env }) });
    assert.equal((await resumed.prepare(request(sc(8, 'FP16'))))!.cached, true);
    const builds = () => readRecords(argvFile).filter((r) => r.argv[0] !== '--help').length;
    assert.equal(builds(), 1, 'one build for three requests');

    const other = (await builder.prepare(request(sc(4, 'FP16'))))!;
    assert.equal(other.cached, false, 'another max batch is another engine');
    assert.equal(readRecords(argvFile).at(-1)!.argv[4], '--maxShapes=input:4x4');
    const int8 = (await builder.prepare(request(sc(4, 'INT8'))))!;
    assert.equal(int8.config.default_model_filename, 'model.int8.plan');
    assert.equal(builds(), 3);
    assert.ok(lines.some((l) => l.includes('building a TensorRT 10.3.0 engine: FP16 (builder flags --fp16), profile input:1x4/8x4/8x4 (local trtexec)')));

    // The variant folder links the engine beside the source model's files.
    const variantRepo = join(work, 'variants');
    const dir = await writeVariant(variantRepo, model.dir, r1.config, 'm_config_1');
    await installArtifacts(dir, r1.files);
    assert.ok(lstatSync(join(dir, '1', 'model.fp16.plan')).isSymbolicLink());
    assert.equal(readlinkSync(join(dir, '1', 'model.fp16.plan')), r1.files[0]!.path);
    assert.match(readFileSync(join(dir, 'config.pbtxt'), 'utf8'), /platform: "tensorrt_plan"/);
  });

  it('trtexec: a failed build is an EngineBuildError (the trial fails with the log tail); nothing is cached', async () => {
    const env = { ...process.env, PATH: bin.pathEnv, FAKE_TRTEXEC_MODE: 'fail' };
    const cache = new EngineCache(join(work, 'trt-fail'));
    const builder = new TrtexecPlanBuilder({ cache, runner: new LocalToolRunner({ env }), tensorrtVersion: '10.3.0', gpuName: 'NVIDIA L4' });
    await assert.rejects(builder.prepare(request(sc(8))), (e: unknown) => e instanceof EngineBuildError && /Failed to parse onnx file/.test(e.message));
    assert.deepEqual(await cache.entries(), []);
  });

  it('trtexec inside a TensorRT container (FAKE Docker engine): mounts, GPUs, user, labels', async () => {
    const fake = await startFakeDocker({
      images: ['nvcr.io/nvidia/tensorrt:26.11-py3'],
      commands: {
        trtexec: { script: fromPackageRoot('test', 'fakes', 'trtexec-fake.mjs') },
        'nvidia-smi': { script: fromPackageRoot('test', 'fakes', 'nvidia-smi-fake.mjs'), env: { FAKE_NVIDIA_SMI_GPUS: 'NVIDIA A10G' } },
      },
    });
    try {
      const cacheDir = join(work, 'docker-cache');
      const runner = new DockerToolRunner({ socket: fake.socketPath, runId: 'run-x', gpus: '0' });
      const builder = new TrtexecPlanBuilder({ cache: new EngineCache(cacheDir), runner });
      const r = (await builder.prepare(request(sc(2, 'FP16'))))!;
      assert.equal(r.cached, false);
      assert.deepEqual(await builder.environment(), { tensorrtVersion: '10.3.0', gpuName: 'NVIDIA A10G' });
      const creates = fake.find(/^\/containers\/create$/, 'POST').map((q) => q.body as Record<string, any>);
      assert.deepEqual(creates.map((c) => c['Cmd'][0]), ['trtexec', 'nvidia-smi', 'trtexec']);
      const build = creates[2]!;
      assert.equal(build['Image'], 'nvcr.io/nvidia/tensorrt:26.11-py3');
      assert.equal(build['User'], `${process.getuid!()}:${process.getgid!()}`);
      assert.deepEqual(build['Labels'], { 'tanalyze.run': 'run-x', 'tanalyze.pid': String(process.pid), 'tanalyze.host': (await import('node:os')).hostname(), 'tanalyze.role': 'trtexec' });
      assert.deepEqual(build['HostConfig']['Binds'], [`${cacheDir}/tmp:${cacheDir}/tmp`, `${cacheDir}/logs:${cacheDir}/logs`, `${join(repo.dir, 'm', '1')}:${join(repo.dir, 'm', '1')}:ro`]);
      assert.deepEqual(build['HostConfig']['DeviceRequests'], [{ Driver: '', DeviceIDs: ['0'], Capabilities: [['gpu']] }]);
      assert.equal(fake.find(/\/wait$/, 'POST').length, 3);
      assert.equal(fake.containers.size, 0, 'every tool container removed');
      assert.match(readFileSync(r.logFile!, 'utf8'), /&&&& PASSED TensorRT\.trtexec/);
    } finally {
      await fake.close();
    }
  });

  it('ONNX Runtime on Triton: the precision goes into the TensorRT accelerator, no build', async () => {
    const b = new OrtTensorRtBuilder({ engineCachePath: '/engine-cache' });
    const r = (await b.prepare(request(sc(8, 'FP16'))))!;
    assert.equal(r.files.length, 0);
    assert.equal(r.cached, true);
    assert.deepEqual((r.config['optimization'] as any).execution_accelerators.gpu_execution_accelerator, [
      { name: 'tensorrt', parameters: { precision_mode: 'FP16', trt_engine_cache_enable: '1', trt_engine_cache_path: '/engine-cache' } },
    ]);
    assert.equal(r.config.platform, undefined);
    assert.equal(r.config.backend, 'onnxruntime');
    assert.match(printModelConfig(r.config), /parameters \{\s+key: "precision_mode"\s+value: "FP16"/);
  });

  it('embedded: an optimized ONNX Runtime model per precision, cached, served by the embedded server', async () => {
    const cacheDir = join(work, 'ort-cache');
    const builder = new EmbeddedOrtBuilder({ cache: new EngineCache(cacheDir) });
    assert.equal(builder.handlesPrecision, true, 'FP16 comes from the converter when the repository has no model.fp16.onnx');
    const first = (await builder.prepare(request(sc(4))))!;
    assert.equal(first.cached, false);
    assert.equal(first.config.default_model_filename, 'model.opt.onnx');
    assert.match(first.summary, /ONNX Runtime optimized model \(FP32 from model\.onnx, extended\): built/);
    const second = (await new EmbeddedOrtBuilder({ cache: new EngineCache(cacheDir) }).prepare(request(sc(16))))!;
    assert.equal(second.cached, true, 'max batch does not change an ONNX Runtime model; a resumed run reuses it');
    const [entry] = await new EngineCache(cacheDir).entries();
    assert.equal(entry!.parts.builder, 'onnxruntime');
    assert.match(entry!.parts.builderVersion, /^onnxruntime-node \d+\.\d+\.\d+$/);
    assert.match(entry!.parts.device, /^cpu /);

    const variantRepo = join(work, 'ort-variants');
    const dir = await writeVariant(variantRepo, model.dir, first.config, 'm_config_1');
    await installArtifacts(dir, first.files);
    const server = await startEmbeddedServer({ repository: variantRepo, modelControl: 'explicit' });
    const client = createInferenceClient(server.address);
    try {
      await client.repositoryModelLoad('m_config_1');
      const res = await client.modelInfer(rawRequest('m_config_1', [2, 4], range(8)));
      assert.deepEqual(readFp32(res.raw_output_contents[0]!), range(8));
      assert.equal((await client.modelConfig('m_config_1')).default_model_filename, 'model.opt.onnx');
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('never a max_batch_size above a prebuilt engine', () => {
    assert.equal(maxBatchForEngine(8, 16), 8);
    assert.equal(maxBatchForEngine(8, 4), 4);
    assert.equal(maxBatchForEngine(null, 64), 64);
    assert.deepEqual(limitMaxBatchSizes([4, 8, 16, 32], 8), { allowed: [4, 8], dropped: [16, 32] });
    assert.deepEqual(limitMaxBatchSizes([16, 32], 8), { allowed: [8], dropped: [16, 32] });
    assert.deepEqual(limitMaxBatchSizes([16, 32], null), { allowed: [16, 32], dropped: [] });
    const plan = parseModelConfig('name: "r" platform: "tensorrt_plan" max_batch_size: 256');
    assert.equal(prebuiltEngineLimit(plan), 256);
    assert.equal(prebuiltEngineLimit(plan, 64), 64);
    assert.equal(prebuiltEngineLimit(model.config), null, 'an ONNX model is built per trial');
    assert.equal(new NoBuild(32).maxBatchLimit({ ...model, config: plan }), 32);
  });

  it('which builder a run gets', () => {
    const onnx: ModelConfig = { name: 'x', backend: 'onnxruntime' };
    const plan: ModelConfig = { name: 'x', platform: 'tensorrt_plan' };
    assert.equal(defaultBuilderKind('embedded', onnx), 'embedded');
    assert.equal(defaultBuilderKind('local', onnx), 'ort-tensorrt');
    assert.equal(defaultBuilderKind('docker', onnx, 'tensorrt_plan'), 'trtexec');
    assert.equal(defaultBuilderKind('remote', plan, 'tensorrt_plan'), 'none');
    assert.equal(defaultBuilderKind('local', { name: 'x', backend: 'python' }), 'none');
  });
});
