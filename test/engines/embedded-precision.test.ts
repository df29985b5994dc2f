/**
 * Precision on the embedded server (real ONNX Runtime, real gRPC on loopback): FP16 without
 * a hand-made model.fp16.onnx comes from tanalyze's converter, is served, and answers
 * within 1% of the FP32 variant's logit range; the repository's own model.fp16.onnx wins
 * when there is one; BF16 and INT8 without their own files are unavailable, with the reason.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseModelConfig } from '../../src/config/pbtxt.js';
import { applyServingConfig, writeVariant } from '../../src/config/variant.js';
import { convNetModel, randomImages } from '../../src/onnx/build-model.js';
import { convertModelPrecision } from '../../src/onnx/convert-precision.js';
import { createInferenceClient } from '../../src/protocol/client.js';
import type { Precision, ServingConfig } from '../../src/domain/serving.js';
import { EmbeddedOrtBuilder, installArtifacts, type BuildRequest } from '../../src/runner/engines/builder.js';
import { EngineCache } from '../../src/runner/engines/cache.js';
import { PrecisionUnavailableError } from '../../src/runner/engines/onnxruntime.js';
import { startEmbeddedServer } from '../../src/server/server.js';
import { fp32, readFp32 } from '../server/helpers.js';

const CONFIG = `name: "convnet"
platform: "onnxruntime_onnx"
max_batch_size: 4
input [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 16, 16 ] } ]
output [ { name: "logits" data_type: TYPE_FP32 dims: [ 5 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
`;
const SMALL = { imageSize: 16, channels: [8, 16], blocksPerStage: 1, classes: 5, seed: 42 };
const sc = (precision: Precision): ServingConfig => ({ maxBatchSize: 4, maxQueueDelayUs: 0, instanceCount: 1, precision, preferredBatchSizes: [] });

describe('embedded server precision', () => {
  let work: string;
  let model: BuildRequest['model'];
  let cache: EngineCache;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'tanalyze-embedded-precision-'));
    const dir = join(work, 'repo', 'convnet');
    mkdirSync(join(dir, '1'), { recursive: true });
    writeFileSync(join(dir, 'config.pbtxt'), CONFIG);
    writeFileSync(join(dir, '1', 'model.onnx'), convNetModel(SMALL));
    model = { name: 'convnet', dir, config: parseModelConfig(CONFIG), versions: ['1'] };
    cache = new EngineCache(join(work, 'cache'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const request = (p: Precision, name: string): BuildRequest => ({ model, serving: sc(p), variantConfig: applyServingConfig(model.config, sc(p), { name }) });

  it('FP16 without model.fp16.onnx: converted, optimized, served; answers within 1% of FP32', async () => {
    const lines: string[] = [];
    const builder = new EmbeddedOrtBuilder({ cache, log: (l) => lines.push(l) });
    const variants = join(work, 'variants');
    const built: Record<string, string> = {};
    for (const [p, name] of [['FP32', 'convnet_config_0'], ['FP16', 'convnet_config_1']] as const) {
      const r = (await builder.prepare(request(p, name)))!;
      const dir = await writeVariant(variants, model.dir, r.config, name);
      await installArtifacts(dir, r.files);
      built[p] = r.config.default_model_filename as string;
      if (p === 'FP16') {
        assert.deepEqual(r.files.map((f) => f.name), ['model.fp16.onnx', 'model.fp16.opt.onnx'], 'the variant holds model.fp16.onnx as if hand-made');
        assert.match(r.summary, /^ONNX Runtime optimized model \(FP16 from model\.fp16\.onnx \(tanalyze's converter\), extended\)/);
      }
    }
    assert.deepEqual(built, { FP32: 'model.opt.onnx', FP16: 'model.fp16.opt.onnx' });
    assert.ok(lines.some((l) => /converted model\.onnx to FP16 \(tanalyze's converter\)/.test(l)));

    const server = await startEmbeddedServer({ repository: variants, modelControl: 'explicit' });
    const client = createInferenceClient(server.address);
    try {
      const images = Array.from(randomImages(4, 16, 9));
      const out: Record<string, number[]> = {};
      for (const name of ['convnet_config_0', 'convnet_config_1']) {
        await client.repositoryModelLoad(name);
        const res = await client.modelInfer({ model_name: name, inputs: [{ name: 'input', datatype: 'FP32', shape: [4, 3, 16, 16] }], raw_input_contents: [fp32(images)] });
        assert.equal(res.outputs[0]!.datatype, 'FP32', 'the client sees the declared FP32 output');
        out[name] = readFp32(res.raw_output_contents[0]!);
      }
      const ref = out['convnet_config_0']!;
      const low = out['convnet_config_1']!;
      const range = Math.max(...ref.map(Math.abs));
      const maxErr = Math.max(...ref.map((v, i) => Math.abs(v - low[i]!)));
      assert.ok(maxErr > 0 && maxErr <= 0.01 * range, `max |FP16 - FP32| ${maxErr}, range ${range}`);
    } finally {
      client.close();
      await server.stop();
    }
  });

  it("the repository's own model.fp16.onnx is used when there is one", async () => {
    const own = join(model.dir, '1', 'model.fp16.onnx');
    writeFileSync(own, convertModelPrecision(convNetModel({ ...SMALL, seed: 7 }), { target: 'FP16' }).bytes);
    try {
      const r = (await new EmbeddedOrtBuilder({ cache }).prepare(request('FP16', 'convnet_config_2')))!;
      assert.match(r.summary, /FP16 from model\.fp16\.onnx \(the model repository's\)/);
      assert.deepEqual(r.files.map((f) => f.name), ['model.fp16.opt.onnx']);
    } finally {
      rmSync(own);
    }
  });

  it('BF16 and INT8 without their own files are unavailable (skipped), with the reason', async () => {
    const builder = new EmbeddedOrtBuilder({ cache });
    await assert.rejects(builder.prepare(request('BF16', 'convnet_config_3')), (e: unknown) => e instanceof PrecisionUnavailableError && /no model\.bf16\.onnx.*CPU provider has no BF16 Conv or Gemm/.test(e.message));
    await assert.rejects(builder.prepare(request('INT8', 'convnet_config_4')), (e: unknown) => e instanceof PrecisionUnavailableError && /no model\.int8\.onnx.*quantized model/.test(e.message));
  });
});
