import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ConfigParseError, parseModelConfig, printModelConfig, type ModelConfig } from '../../src/config/pbtxt.js';
import { applyServingConfig, precisionOfModelFile, readModelRepository, servingConfigOf, writeVariant } from '../../src/config/variant.js';
import type { ServingConfig } from '../../src/domain/serving.js';

const BASE_TEXT = `
name: "resnet"
platform: "onnxruntime_onnx"
max_batch_size: 4
input [ { name: "x" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1000 ] label_filename: "labels.txt" } ]
instance_group [ { count: 1 kind: KIND_GPU gpus: [ 0, 1 ] } ]
dynamic_batching {
  preferred_batch_size: [ 2 ]
  max_queue_delay_microseconds: 50
  default_queue_policy { timeout_action: DELAY max_queue_size: 8 }
}
`;
const base = (): ModelConfig => parseModelConfig(BASE_TEXT);
const sc = (o: Partial<ServingConfig> = {}): ServingConfig => ({
  maxBatchSize: 16, maxQueueDelayUs: 100, instanceCount: 2, precision: 'FP32', preferredBatchSizes: [4, 8], ...o,
});

describe('applyServingConfig', () => {
  test('sets the knobs on a copy', () => {
    const b = base();
    const before = structuredClone(b);
    const v = applyServingConfig(b, sc(), { name: 'resnet_config_3' });
    assert.deepStrictEqual(b, before, 'base untouched');
    assert.equal(v.name, 'resnet_config_3');
    assert.equal(v.max_batch_size, 16);
    assert.deepStrictEqual(v.dynamic_batching, {
      preferred_batch_size: [4, 8],
      max_queue_delay_microseconds: 100,
      default_queue_policy: { timeout_action: 'DELAY', max_queue_size: 8 }, // kept from the base
    });
    assert.deepStrictEqual(v.instance_group, [{ count: 2, kind: 'KIND_GPU', gpus: [0, 1] }]);
    assert.deepStrictEqual(v.input, b.input);
    assert.equal(v.default_model_filename, undefined);
  });

  test('no queue delay removes the dynamic batcher; no preferred sizes removes them', () => {
    assert.equal(applyServingConfig(base(), sc({ maxQueueDelayUs: null, preferredBatchSizes: [] }), { name: 'v' }).dynamic_batching, undefined);
    const v = applyServingConfig(base(), sc({ maxQueueDelayUs: 0, preferredBatchSizes: [] }), { name: 'v' });
    assert.deepStrictEqual(v.dynamic_batching, { default_queue_policy: { timeout_action: 'DELAY', max_queue_size: 8 } });
  });

  test('instance groups: none → one explicit group; several → the first one changes', () => {
    const none = parseModelConfig('name: "m" backend: "onnxruntime"');
    assert.deepStrictEqual(applyServingConfig(none, sc(), { name: 'v' }).instance_group, [{ count: 2, kind: 'KIND_CPU' }]);
    const trt = parseModelConfig('platform: "tensorrt_plan"');
    assert.deepStrictEqual(applyServingConfig(trt, sc(), { name: 'v' }).instance_group, [{ count: 2, kind: 'KIND_GPU' }]);
    const two = parseModelConfig('instance_group { count: 1 kind: KIND_CPU } instance_group { count: 3 kind: KIND_GPU }');
    assert.deepStrictEqual(applyServingConfig(two, sc({ instanceCount: 4 }), { name: 'v' }).instance_group, [
      { count: 4, kind: 'KIND_CPU' },
      { count: 3, kind: 'KIND_GPU' },
    ]);
  });

  test('precision file sets default_model_filename', () => {
    const v = applyServingConfig(base(), sc({ precision: 'FP16' }), { name: 'v', modelFileForPrecision: 'model.fp16.onnx' });
    assert.equal(v.default_model_filename, 'model.fp16.onnx');
  });

  test('invalid combinations are clear errors', () => {
    assert.throws(() => applyServingConfig(base(), sc({ preferredBatchSizes: [32] }), { name: 'v' }), /'v'.*preferred_batch_size 32 is above max_batch_size 16/);
    assert.throws(() => applyServingConfig(base(), sc({ maxBatchSize: 0, preferredBatchSizes: [] }), { name: 'v' }), /max_batch_size 0 is not a positive integer/);
    assert.throws(() => applyServingConfig(base(), sc({ instanceCount: 0 }), { name: 'v' }), /instance count 0 is not a positive integer/);
    assert.throws(() => applyServingConfig(base(), sc({ maxQueueDelayUs: null }), { name: 'v' }), /preferred_batch_size needs the dynamic batcher/);
    const seq = parseModelConfig('sequence_batching { max_sequence_idle_microseconds: 5 }');
    assert.throws(() => applyServingConfig(seq, sc(), { name: 'v' }), /uses sequence_batching/);
    // Without the dynamic batcher a sequence model is fine, and keeps its scheduler.
    assert.ok(applyServingConfig(seq, sc({ maxQueueDelayUs: null, preferredBatchSizes: [] }), { name: 'v' }).sequence_batching);
  });
});

describe('servingConfigOf', () => {
  test('reads the knobs back; absent values as Triton takes them', () => {
    assert.deepStrictEqual(servingConfigOf(base()), { maxBatchSize: 4, maxQueueDelayUs: 50, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [2] });
    assert.deepStrictEqual(servingConfigOf({}), { maxBatchSize: 0, maxQueueDelayUs: null, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [] });
    assert.equal(servingConfigOf(parseModelConfig('dynamic_batching { }')).maxQueueDelayUs, 0);
  });

  test('precision from the model file name', () => {
    assert.equal(precisionOfModelFile('model.fp16.onnx'), 'FP16');
    assert.equal(precisionOfModelFile('model.int8.onnx'), 'INT8');
    assert.equal(precisionOfModelFile('model.bf16.pt'), 'BF16');
    assert.equal(precisionOfModelFile('model_INT8.plan'), 'INT8');
    assert.equal(precisionOfModelFile('model.onnx'), 'FP32');
    assert.equal(precisionOfModelFile('fp16ish.onnx'), 'FP32');
    assert.equal(precisionOfModelFile(undefined), 'FP32');
  });

  test('property: servingConfigOf inverts applyServingConfig', () => {
    const arb = fc
      .record({
        maxBatchSize: fc.integer({ min: 1, max: 256 }),
        maxQueueDelayUs: fc.option(fc.integer({ min: 0, max: 100_000 }), { nil: null }),
        instanceCount: fc.integer({ min: 1, max: 8 }),
        precision: fc.constantFrom('FP32' as const, 'FP16' as const, 'INT8' as const),
        pbs: fc.uniqueArray(fc.integer({ min: 1, max: 256 }), { maxLength: 3 }),
      })
      .map(({ pbs, ...c }): ServingConfig => ({
        ...c,
        preferredBatchSizes: c.maxQueueDelayUs === null ? [] : pbs.filter((b) => b <= c.maxBatchSize).sort((a, b) => a - b),
      }));
    fc.assert(
      fc.property(arb, (c) => {
        const file = c.precision === 'FP32' ? undefined : `model.${c.precision.toLowerCase()}.onnx`;
        const v = applyServingConfig(base(), c, { name: 'v', ...(file ? { modelFileForPrecision: file } : {}) });
        assert.deepStrictEqual(servingConfigOf(v), c);
        assert.deepStrictEqual(parseModelConfig(printModelConfig(v)), v);
      }),
      { numRuns: 100 },
    );
  });
});

describe('model repositories on disk', () => {
  let tmp = '';
  const setup = async () => {
    tmp ||= await mkdtemp(join(tmpdir(), 'tanalyze-variant-'));
    return tmp;
  };
  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  async function makeModel(repo: string, name: string, config: string, versions: string[]): Promise<string> {
    const dir = join(repo, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.pbtxt'), config);
    for (const v of versions) {
      await mkdir(join(dir, v, 'model.savedmodel'), { recursive: true });
      await writeFile(join(dir, v, 'model.onnx'), `weights v${v}`);
      await writeFile(join(dir, v, 'model.savedmodel', 'saved_model.pb'), 'pb');
    }
    await writeFile(join(dir, 'labels.txt'), 'cat\ndog\n');
    return dir;
  }

  test('writeVariant writes a loadable variant folder', async () => {
    const root = await setup();
    const src = await makeModel(join(root, 'repo'), 'resnet', BASE_TEXT, ['1', '2']);
    const out = join(root, 'variants');
    const cfg = applyServingConfig(base(), sc(), { name: 'resnet_config_0' });
    const dir = await writeVariant(out, src, cfg, 'resnet_config_0');
    assert.equal(dir, join(out, 'resnet_config_0'));

    const models = await readModelRepository(out);
    assert.equal(models.length, 1);
    const m = models[0]!;
    assert.equal(m.name, 'resnet_config_0');
    assert.deepStrictEqual(m.config, cfg);
    assert.deepStrictEqual(m.versions, ['1', '2']);
    assert.equal(await readFile(join(dir, '2', 'model.onnx'), 'utf8'), 'weights v2');
    assert.equal(await readFile(join(dir, '1', 'model.savedmodel', 'saved_model.pb'), 'utf8'), 'pb');
    assert.equal(await readFile(join(dir, 'labels.txt'), 'utf8'), 'cat\ndog\n');
    assert.ok((await lstat(join(dir, '1'))).isDirectory(), 'version folders are real folders');
    assert.ok((await lstat(join(dir, '1', 'model.onnx'))).isSymbolicLink());
    assert.equal(await readlink(join(dir, '1', 'model.onnx')), join(src, '1', 'model.onnx'));

    // Written again (a resumed run): replaced, not merged.
    const cfg2 = applyServingConfig(base(), sc({ maxBatchSize: 8, preferredBatchSizes: [] }), { name: 'resnet_config_0' });
    await writeVariant(out, src, cfg2, 'resnet_config_0');
    assert.equal(parseModelConfig(await readFile(join(dir, 'config.pbtxt'), 'utf8')).max_batch_size, 8);
  });

  test('writeVariant refuses a config named differently from its folder', async () => {
    const root = await setup();
    const src = await makeModel(join(root, 'repo2'), 'm', 'name: "m"', ['1']);
    await assert.rejects(writeVariant(join(root, 'v2'), src, { name: 'm' }, 'm_config_1'), /config name 'm' must equal the folder name/);
    await assert.rejects(writeVariant(join(root, 'v2'), join(root, 'nope'), {}, 'x'), /model folder .*nope.* cannot be read/);
  });

  test('readModelRepository: models by name, numeric versions, folders without config skipped', async () => {
    const root = await setup();
    const repo = join(root, 'repo3');
    await makeModel(repo, 'b', 'name: "b"', ['10', '2', '1']);
    await makeModel(repo, 'a', 'backend: "python"', []);
    await mkdir(join(repo, 'not_a_model'), { recursive: true });
    await writeFile(join(repo, 'README.md'), 'hi');
    const models = await readModelRepository(repo);
    assert.deepStrictEqual(models.map((m) => [m.name, m.versions]), [['a', []], ['b', ['1', '2', '10']]]);
    assert.deepStrictEqual(models[0]!.config, { backend: 'python' });
    assert.equal(models[1]!.dir, join(repo, 'b'));
  });

  test('readModelRepository errors: missing folder, malformed config', async () => {
    const root = await setup();
    await assert.rejects(readModelRepository(join(root, 'missing')), (e: Error) => e.message.includes(join(root, 'missing')) && /does not exist/.test(e.message));
    const repo = join(root, 'repo4');
    await makeModel(repo, 'bad', 'name: "bad"\nmax_batch_size = 3\n', ['1']);
    await assert.rejects(readModelRepository(repo), (e: unknown) =>
      e instanceof ConfigParseError && e.file === join(repo, 'bad', 'config.pbtxt') && e.line === 2 && e.column === 16);
  });
});
