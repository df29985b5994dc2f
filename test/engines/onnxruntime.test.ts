/** The ONNX Runtime TensorRT accelerator config (pure), as Triton's onnxruntime backend documents it. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { modelConfigFromJson, modelConfigToJson, parseModelConfig, printModelConfig } from '../../src/config/pbtxt.js';
import { PrecisionUnavailableError, ortTensorRtPrecision, withOrtTensorRtPrecision } from '../../src/runner/engines/onnxruntime.js';

const base = parseModelConfig(`
name: "text_recognition"
backend: "onnxruntime"
max_batch_size: 16
input [ { name: "input.1" data_type: TYPE_FP32 dims: [ 1, 32, 100 ] } ]
output [ { name: "308" data_type: TYPE_FP32 dims: [ 26, 37 ] } ]
optimization {
  graph: { level: 1 }
  execution_accelerators {
    gpu_execution_accelerator: [
      { name: "tensorrt" parameters { key: "precision_mode" value: "FP32" } },
      { name: "cuda" parameters { key: "cudnn_conv_use_max_workspace" value: "0" } }
    ]
  }
}`);

describe('withOrtTensorRtPrecision', () => {
  it('replaces the tensorrt accelerator and keeps everything else', () => {
    const cfg = withOrtTensorRtPrecision(base, 'FP16', { maxWorkspaceBytes: 1073741824 });
    const opt = cfg['optimization'] as any;
    assert.deepEqual(opt.execution_accelerators.gpu_execution_accelerator, [
      { name: 'tensorrt', parameters: { precision_mode: 'FP16', max_workspace_size_bytes: '1073741824' } },
      { name: 'cuda', parameters: { cudnn_conv_use_max_workspace: '0' } },
    ]);
    assert.equal(opt.graph.level, 1);
    assert.equal(ortTensorRtPrecision(base), 'FP32');
    assert.equal(ortTensorRtPrecision(cfg), 'FP16');
    assert.equal((base['optimization'] as any).execution_accelerators.gpu_execution_accelerator[0].parameters.precision_mode, 'FP32', 'the input is not changed');
  });

  it('INT8 with a calibration table; the result is a valid ModelConfig in text and JSON', () => {
    const cfg = withOrtTensorRtPrecision(base, 'INT8', { int8CalibrationTableName: 'calibration.flatbuffers', engineCachePath: '/cache' });
    const params = (cfg['optimization'] as any).execution_accelerators.gpu_execution_accelerator[0].parameters;
    assert.deepEqual(params, {
      precision_mode: 'INT8',
      trt_engine_cache_enable: '1',
      trt_engine_cache_path: '/cache',
      int8_calibration_table_name: 'calibration.flatbuffers',
      int8_use_native_calibration_table: '0',
    });
    const text = printModelConfig(cfg);
    assert.deepEqual(parseModelConfig(text), cfg);
    assert.deepEqual(modelConfigFromJson(modelConfigToJson(cfg)), cfg, 'fits the RepositoryModelLoad config override');
  });

  it("matches the shape of Triton's own example config", () => {
    const ref = '/work/shared/reference/triton/configs/ORT_TRT_config__config.pbtxt';
    if (!existsSync(ref)) return;
    const theirs = parseModelConfig(readFileSync(ref, 'utf8'));
    const ours = withOrtTensorRtPrecision({ ...theirs, optimization: { graph: { level: 1 } } }, 'FP16', { maxWorkspaceBytes: 1073741824 });
    assert.deepEqual(ours['optimization'], theirs['optimization']);
  });

  it('only for ONNX Runtime models', () => {
    assert.throws(() => withOrtTensorRtPrecision({ name: 'p', platform: 'tensorrt_plan' }, 'FP16'), /is not served by ONNX Runtime/);
    assert.equal(ortTensorRtPrecision({ name: 'x' }), null);
  });
});

describe('BF16 through the TensorRT accelerator', () => {
  it('is unavailable (precision_mode has no BF16): a typed error the search loop turns into a skipped trial', () => {
    const cfg = parseModelConfig('name: "m"\nbackend: "onnxruntime"\nmax_batch_size: 8\n');
    assert.throws(() => withOrtTensorRtPrecision(cfg, 'BF16'), (e: unknown) => e instanceof PrecisionUnavailableError && /BF16 is unavailable.*FP32, FP16 or INT8/.test((e as Error).message));
  });
});
