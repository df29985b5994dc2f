/** Which file a precision loads: the variant beside the FP32 file, or unavailable, never the FP32 file relabelled. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFileForPrecision, type RepoModel } from '../../src/runner/trial-loop.js';
import { precisionOfModelFile, precisionVariantName } from '../../src/config/variant.js';

function repoModel(config: RepoModel['config'], files: string[]): RepoModel {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-precision-file-'));
  mkdirSync(join(dir, '1'));
  for (const f of files) writeFileSync(join(dir, '1', f), '');
  return { name: 'm', dir, config, versions: ['1'] };
}

test('variant names: a dot before the extension for ONNX and TorchScript, an underscore for Python modules', () => {
  assert.equal(precisionVariantName('model.onnx', 'FP16'), 'model.fp16.onnx');
  assert.equal(precisionVariantName('model.pt', 'BF16'), 'model.bf16.pt');
  assert.equal(precisionVariantName('model.py', 'FP16'), 'model_fp16.py');
  assert.equal(precisionVariantName('model.savedmodel', 'INT8'), null);
  // The name a variant gets is read back as its precision.
  for (const p of ['FP16', 'BF16', 'INT8'] as const) {
    for (const base of ['model.onnx', 'model.pt', 'model.py']) assert.equal(precisionOfModelFile(precisionVariantName(base, p)!), p);
  }
});

test('a Python-backend model loads model_fp16.py for FP16, and FP16 is unavailable without it (never model.py under the FP16 label)', () => {
  const withVariant = repoModel({ name: 'm', backend: 'python', max_batch_size: 8 }, ['model.py', 'model_fp16.py']);
  assert.equal(modelFileForPrecision(withVariant, 'FP16'), 'model_fp16.py');
  assert.equal(modelFileForPrecision(withVariant, 'FP32'), undefined);
  const without = repoModel({ name: 'm', backend: 'python', max_batch_size: 8, default_model_filename: 'model.py' }, ['model.py']);
  assert.equal(modelFileForPrecision(without, 'FP16'), null);
});

test('ONNX and TorchScript models find their variants by the default file of their platform', () => {
  assert.equal(modelFileForPrecision(repoModel({ name: 'm', platform: 'onnxruntime_onnx' }, ['model.onnx', 'model.fp16.onnx']), 'FP16'), 'model.fp16.onnx');
  assert.equal(modelFileForPrecision(repoModel({ name: 'm', platform: 'pytorch_libtorch' }, ['model.pt', 'model.bf16.pt']), 'BF16'), 'model.bf16.pt');
  assert.equal(modelFileForPrecision(repoModel({ name: 'm', platform: 'pytorch_libtorch' }, ['model.pt']), 'FP16'), null);
  // A file name with no variant form: unavailable, not the FP32 file.
  assert.equal(modelFileForPrecision(repoModel({ name: 'm', default_model_filename: 'model.savedmodel' }, ['model.savedmodel']), 'FP16'), null);
});

test("the model's hash leaves out the bytecode cache a Python-backend server writes beside model.py, and sees a changed model file", async () => {
  const { hashModelDir } = await import('../../src/runner/fingerprint.js');
  const m = repoModel({ name: 'm', backend: 'python' }, ['model.py']);
  const before = await hashModelDir(m.dir);
  mkdirSync(join(m.dir, '1', '__pycache__'));
  writeFileSync(join(m.dir, '1', '__pycache__', 'model.cpython-312.pyc'), 'bytecode');
  assert.equal(await hashModelDir(m.dir), before, 'a run that loaded the model once resumes as the same run');
  writeFileSync(join(m.dir, '1', 'model.py'), 'changed');
  assert.notEqual(await hashModelDir(m.dir), before);
});
