/**
 * Engine builds on TensorRT 10 and 11, through FAKE trtexec executables
 * (test/fakes/trtexec-fake.mjs playing each generation; no TensorRT runs here): the exact
 * commands per precision, FAKE trtexec 11 refusing the removed flags, engines that come
 * out in the wrong precision (a FAKE variant that silently builds FP32) failing their
 * trial uncached, INT8 on 11 unavailable without a Q/DQ model, and the cache keyed by
 * TensorRT version.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseModelConfig } from '../../src/config/pbtxt.js';
import { applyServingConfig } from '../../src/config/variant.js';
import { convNetModel, modelProtoType } from '../../src/onnx/build-model.js';
import { ElemType } from '../../src/onnx/convert-precision.js';
import type { Precision, ServingConfig } from '../../src/domain/serving.js';
import { TrtexecPlanBuilder, type BuildRequest } from '../../src/runner/engines/builder.js';
import { EngineCache } from '../../src/runner/engines/cache.js';
import { PrecisionUnavailableError } from '../../src/runner/engines/onnxruntime.js';
import { EnginePrecisionError } from '../../src/runner/engines/precision-files.js';
import { LocalToolRunner } from '../../src/runner/engines/tools.js';
import { EngineBuildError, buildEngine, shapeProfileFor } from '../../src/runner/engines/trtexec.js';
import { installFakes, readRecords, type FakeBin } from '../fakes/fake-bin.js';

const CONFIG = `name: "convnet"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 16, 16 ] } ]
output [ { name: "logits" data_type: TYPE_FP32 dims: [ 5 ] } ]
`;

/** input -> Q -> DQ -> Conv(DQ(int8 weights)) -> logits: the shape of an explicitly quantized (ModelOpt-style) model. */
function qdqModel(): Uint8Array {
  const T = modelProtoType();
  const scalar = (name: string, dataType: number, v: number) => ({ name, dims: [], dataType, ...(dataType === ElemType.FLOAT ? { floatData: [v] } : { int32Data: [v] }) });
  return T.encode(
    T.fromObject({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'qdq',
        node: [
          { opType: 'QuantizeLinear', name: 'q_in', input: ['input', 'scale', 'zero'], output: ['input_q'] },
          { opType: 'DequantizeLinear', name: 'dq_in', input: ['input_q', 'scale', 'zero'], output: ['input_dq'] },
          { opType: 'DequantizeLinear', name: 'dq_w', input: ['w_q', 'scale', 'zero'], output: ['w'] },
          { opType: 'Conv', name: 'conv', input: ['input_dq', 'w'], output: ['logits'] },
        ],
        initializer: [scalar('scale', ElemType.FLOAT, 0.02), scalar('zero', ElemType.INT8, 0), { name: 'w_q', dims: [5, 3, 16, 16], dataType: ElemType.INT8, rawData: new Uint8Array(5 * 3 * 16 * 16).fill(3) }],
        input: [{ name: 'input', type: { tensorType: { elemType: ElemType.FLOAT, shape: { dim: [{ dimParam: 'b' }, { dimValue: 3 }, { dimValue: 16 }, { dimValue: 16 }] } } } }],
        output: [{ name: 'logits', type: { tensorType: { elemType: ElemType.FLOAT, shape: { dim: [{ dimParam: 'b' }, { dimValue: 5 }, { dimValue: 1 }, { dimValue: 1 }] } } } }],
      },
    }),
  ).finish();
}

const sc = (precision: Precision, maxBatchSize = 8): ServingConfig => ({ maxBatchSize, maxQueueDelayUs: 500, instanceCount: 1, precision, preferredBatchSizes: [] });

describe('TensorRT 10 and 11 (FAKE trtexec)', () => {
  let bin: FakeBin;
  let work: string;
  let model: BuildRequest['model'];
  let modelDir: string;
  let n = 0;

  before(() => {
    bin = installFakes({ trtexec: 'trtexec-fake.mjs', 'nvidia-smi': 'nvidia-smi-fake.mjs' });
    work = mkdtempSync(join(tmpdir(), 'tanalyze-trt-versions-'));
    modelDir = join(work, 'repo', 'convnet');
    mkdirSync(join(modelDir, '1'), { recursive: true });
    writeFileSync(join(modelDir, 'config.pbtxt'), CONFIG);
    writeFileSync(join(modelDir, '1', 'model.onnx'), convNetModel({ imageSize: 16, channels: [8, 16], blocksPerStage: 1, classes: 5, seed: 42 }));
    model = { name: 'convnet', dir: modelDir, config: parseModelConfig(CONFIG), versions: ['1'] };
  });
  after(() => {
    bin.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  function setup(version: '100300' | '110400', fakeEnv: Record<string, string> = {}, cacheDir = join(work, `cache-${++n}`)) {
    const argvFile = join(work, `argv-${++n}.jsonl`);
    const env = { ...process.env, PATH: bin.pathEnv, FAKE_TRTEXEC_ARGV_FILE: argvFile, FAKE_TRTEXEC_VERSION: version, ...fakeEnv };
    const cache = new EngineCache(cacheDir);
    const lines: string[] = [];
    const builder = new TrtexecPlanBuilder({ cache, runner: new LocalToolRunner({ env }), log: (l) => lines.push(l) });
    const builds = () => readRecords(argvFile).filter((r) => r.argv[0] !== '--help').map((r) => r.argv);
    return { builder, cache, cacheDir, builds, lines };
  }
  const request = (p: Precision, name = 'convnet_config_1'): BuildRequest => ({ model, serving: sc(p), variantConfig: applyServingConfig(model.config, sc(p), { name }) });
  const onnx = () => join(modelDir, '1', 'model.onnx');

  it('TensorRT 10: the flags path, one command per precision, each engine checked', async () => {
    const { builder, cacheDir, builds } = setup('100300');
    const results = [];
    for (const p of ['FP32', 'FP16', 'BF16', 'INT8'] as const) results.push(await builder.prepare(request(p)));
    const argvs = builds();
    assert.equal(argvs.length, 4);
    const tail = (argv: string[]) => argv.slice(2).filter((a) => !/^--(min|opt|max)Shapes=|^--exportLayerInfo=/.test(a));
    assert.deepEqual(argvs.map((a) => a[0]), Array(4).fill(`--onnx=${onnx()}`), 'every build from the model itself');
    assert.deepEqual(argvs.map(tail), [
      ['--skipInference', '--profilingVerbosity=detailed'],
      ['--fp16', '--skipInference', '--profilingVerbosity=detailed'],
      ['--bf16', '--skipInference', '--profilingVerbosity=detailed'],
      ['--int8', '--skipInference', '--profilingVerbosity=detailed'],
    ]);
    for (const [i, r] of results.entries()) {
      assert.ok(argvs[i]!.includes(`--exportLayerInfo=${join(cacheDir, 'logs', `${r!.key}.layers.json`)}`));
    }
    assert.match(results[1]!.summary, /^TensorRT 10\.3\.0 engine FP16 \(builder flags --fp16\), max batch 8: built in .*; precision checked: 7\/7 convolution\/matrix layers in FP16$/);
    assert.match(results[3]!.summary, /precision checked: 7\/7 convolution\/matrix layers in INT8; note: no calibration cache: TensorRT uses placeholder dynamic ranges, so the speed is INT8 but the accuracy is not measured$/);
  });

  it('TensorRT 11: strongly typed builds; FP16/BF16 from the converted graph; no removed flag is ever passed', async () => {
    const { builder, cacheDir, builds, cache, lines } = setup('110400');
    const fp32 = (await builder.prepare(request('FP32')))!;
    const fp16 = (await builder.prepare(request('FP16')))!;
    const bf16 = (await builder.prepare(request('BF16')))!;
    const argvs = builds();
    assert.equal(argvs.length, 3);
    assert.equal(argvs[0]![0], `--onnx=${onnx()}`);
    const converted = (await cache.entries()).filter((e) => e.parts.builder === 'tanalyze-onnx-precision');
    assert.deepEqual(converted.map((e) => e.parts.precision).sort(), ['BF16', 'FP16']);
    const convertedFile = (p: string) => converted.find((e) => e.parts.precision === p)!.file;
    assert.equal(argvs[1]![0], `--onnx=${convertedFile('FP16')}`);
    assert.equal(argvs[2]![0], `--onnx=${convertedFile('BF16')}`);
    assert.ok(convertedFile('FP16').startsWith(join(cacheDir, 'artifacts')));
    for (const argv of argvs) {
      assert.ok(argv.includes('--stronglyTyped'));
      assert.ok(!argv.some((a) => /^--(fp16|bf16|int8|fp8|int4|best|calib)/.test(a)), argv.join(' '));
    }
    assert.match(fp16.summary, /^TensorRT 11\.4\.0 engine FP16 \(strongly typed, FP16 graph from tanalyze's converter\), max batch 8: .*precision checked: 7\/7 convolution\/matrix layers in FP16$/);
    assert.match(bf16.summary, /7\/7 convolution\/matrix layers in BF16$/);
    assert.match(fp32.summary, /strongly typed, the model as it is.*7\/7 convolution\/matrix layers in FP32$/);
    assert.ok(lines.some((l) => /converted model\.onnx to FP16 \(tanalyze's converter\): 14 weights, 2 edge casts/.test(l)));
    // The converted graph keeps the config's FP32 edges.
    const g = modelProtoType().decode(readFileSync(convertedFile('FP16'))) as any;
    assert.deepEqual([g.graph.input[0].type.tensorType.elemType, g.graph.output[0].type.tensorType.elemType], [ElemType.FLOAT, ElemType.FLOAT]);
  });

  it('FAKE trtexec 11 refuses the removed flags as unknown options: a TensorRT 10 command fails there', async () => {
    const { builds } = setup('110400');
    const env = { ...process.env, PATH: bin.pathEnv, FAKE_TRTEXEC_VERSION: '110400' };
    const build = { onnx: onnx(), engine: join(work, 'old-style.plan'), profile: shapeProfileFor(model.config, 8), precision: 'FP16' as const };
    await assert.rejects(buildEngine(new LocalToolRunner({ env }), build, { logFile: join(work, 'old-style.log'), timeoutMs: 10_000 }), (e: unknown) => {
      assert.ok(e instanceof EngineBuildError);
      assert.match(e.message, /failed \(exit code 1\)/);
      assert.ok(e.logTail.some((l) => /\[E\] Unknown option: --fp16/.test(l)));
      return true;
    });
    assert.equal(builds().length, 0);
  });

  it('INT8 on TensorRT 11: unavailable (skipped) without a Q/DQ model, built from model.int8.onnx with one', async () => {
    const { builder, builds } = setup('110400');
    await assert.rejects(builder.prepare(request('INT8')), (e: unknown) => e instanceof PrecisionUnavailableError && /^INT8 is unavailable on TensorRT 11\.4\.0 without an explicitly quantized model/.test(e.message));
    assert.equal(builds().length, 0, 'nothing built, nothing measured under the label INT8');

    writeFileSync(join(modelDir, '1', 'model.int8.onnx'), convNetModel({ imageSize: 16, channels: [8], classes: 5, seed: 1 }));
    await assert.rejects(builder.prepare(request('INT8')), /model\.int8\.onnx has no QuantizeLinear\/DequantizeLinear nodes/);
    writeFileSync(join(modelDir, '1', 'model.int8.onnx'), qdqModel());
    try {
      const r = (await builder.prepare(request('INT8')))!;
      assert.equal(builds().at(-1)![0], `--onnx=${join(modelDir, '1', 'model.int8.onnx')}`);
      assert.match(r.summary, /strongly typed, the Q\/DQ model.*precision checked: 1\/1 convolution\/matrix layers in INT8$/);
      assert.equal(r.config.default_model_filename, 'model.int8.plan');
    } finally {
      rmSync(join(modelDir, '1', 'model.int8.onnx'));
    }
  });

  for (const version of ['100300', '110400'] as const) {
    it(`an engine that comes out in FP32 when FP16 was asked (FAKE trtexec ${version.slice(0, 2)} silently building FP32) fails, uncached`, async () => {
      const { builder, cache, lines } = setup(version, { FAKE_TRTEXEC_MODE: 'silent-fp32' });
      await assert.rejects(builder.prepare(request('FP16')), (e: unknown) => {
        assert.ok(e instanceof EnginePrecisionError);
        assert.ok(!(e instanceof PrecisionUnavailableError), 'a failed trial, not a skipped one');
        assert.match(e.message, /engine FP16 .* is not in FP16: asked FP16, but 7 of 7 convolution\/matrix layers are not in FP16 \(found 7 FP32\): stem: FP32; stage0\.block0\.conv1: FP32/);
        assert.match(e.message, /the engine is not measured$/);
        assert.deepEqual(e.check?.found, { FP32: 7 });
        assert.ok(readFileSync(e.layerInfoFile, 'utf8').includes('CaskConvolution'), 'the layer information is kept for a look');
        return true;
      });
      assert.deepEqual((await cache.entries()).filter((x) => x.parts.builder === 'trtexec'), [], 'the wrong engine is not cached');
      assert.ok(!lines.some((l) => /precision checked/.test(l)));
    });
  }

  it('no layer information, or names only, is a failed check, never a pass', async () => {
    const a = setup('100300', { FAKE_TRTEXEC_MODE: 'no-layer-info' });
    await assert.rejects(a.builder.prepare(request('FP16')), (e: unknown) => e instanceof EnginePrecisionError && /trtexec wrote no layer information at .*layers\.json, so the engine's precision cannot be checked/.test(e.message));
    const b = setup('110400', {}, join(work, 'names-only'));
    const b2 = new TrtexecPlanBuilder({ cache: b.cache, runner: new LocalToolRunner({ env: { ...process.env, PATH: bin.pathEnv, FAKE_TRTEXEC_VERSION: '110400' } }), extraArgs: ['--profilingVerbosity=layer_names_only'] });
    await assert.rejects(b2.prepare(request('FP16')), /lists layer names only/);
  });

  it('the engine cache is keyed by TensorRT version; the build must report the probed version', async () => {
    const shared = join(work, 'shared-cache');
    const ten = setup('100300', {}, shared);
    const eleven = setup('110400', {}, shared);
    const a = (await ten.builder.prepare(request('FP16')))!;
    const b = (await eleven.builder.prepare(request('FP16')))!;
    assert.notEqual(a.key, b.key);
    assert.equal(b.cached, false, 'a TensorRT 10 engine is not served to TensorRT 11');
    const again = (await setup('100300', {}, shared).builder.prepare(request('FP16')))!;
    assert.deepEqual([again.cached, again.key], [true, a.key]);
    assert.match(again.summary, /from the cache .*precision checked: 7\/7 convolution\/matrix layers in FP16/);
    const plans = (await new EngineCache(shared).entries()).filter((e) => e.parts.builder === 'trtexec');
    assert.deepEqual(plans.map((e) => e.parts.builderVersion).sort(), ['TensorRT 10.3.0', 'TensorRT 11.4.0']);

    // Told 10.3.0 (e.g. from a profile) but trtexec is 11: the build says so instead of caching under 10.
    const env = { ...process.env, PATH: bin.pathEnv, FAKE_TRTEXEC_VERSION: '110400' };
    const wrong = new TrtexecPlanBuilder({ cache: new EngineCache(join(work, 'wrong')), runner: new LocalToolRunner({ env }), tensorrtVersion: '10.3.0', gpuName: 'NVIDIA L4' });
    await assert.rejects(wrong.prepare(request('FP32')), /trtexec reported TensorRT 11\.4\.0 while building but 10\.3\.0 when probed/);
  });
});
