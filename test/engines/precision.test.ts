/**
 * Precision rules (pure): how each precision is built on TensorRT 10 and 11, reading the
 * layer information of both generations, and the check that decides whether an engine
 * is in the precision asked.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LayerInfoError,
  checkEnginePrecision,
  layerPrecision,
  parseLayerInfo,
  parseVersionText,
  planPrecisionBuild,
  tensorDataType,
  type EngineLayer,
} from '../../src/runner/engines/precision.js';

const v10 = parseVersionText('10.13.3')!;
const v11 = parseVersionText('11.4.0')!;

describe('build plan by TensorRT version', () => {
  it('TensorRT 10: builder flags, as before', () => {
    assert.deepEqual(planPrecisionBuild(v10, 'FP32'), { kind: 'builder-flags', flags: [] });
    assert.deepEqual(planPrecisionBuild(v10, 'FP16'), { kind: 'builder-flags', flags: ['--fp16'] });
    assert.deepEqual(planPrecisionBuild(v10, 'BF16'), { kind: 'builder-flags', flags: ['--bf16'] });
    assert.deepEqual(planPrecisionBuild(v10, 'INT8', { calibCache: '/c/calib.cache' }), { kind: 'builder-flags', flags: ['--int8', '--calib=/c/calib.cache'] });
    const noCalib = planPrecisionBuild(v10, 'INT8');
    assert.equal(noCalib.kind === 'builder-flags' && noCalib.note?.includes('placeholder dynamic ranges'), true);
    assert.equal(planPrecisionBuild(parseVersionText('8.6.1')!, 'BF16').kind, 'unavailable');
  });

  it('TensorRT 11: strongly typed; FP16/BF16 from the converted graph; INT8 only from a Q/DQ model', () => {
    assert.deepEqual(planPrecisionBuild(v11, 'FP32'), { kind: 'strongly-typed', source: 'model', flags: ['--stronglyTyped'] });
    assert.deepEqual(planPrecisionBuild(v11, 'FP16'), { kind: 'strongly-typed', source: 'converted', convert: 'FP16', flags: ['--stronglyTyped'] });
    assert.deepEqual(planPrecisionBuild(v11, 'BF16'), { kind: 'strongly-typed', source: 'converted', convert: 'BF16', flags: ['--stronglyTyped'] });
    assert.deepEqual(planPrecisionBuild(v11, 'INT8', { quantizedModel: '/m/1/model.int8.onnx' }), { kind: 'strongly-typed', source: 'quantized-model', flags: ['--stronglyTyped'] });
    const int8 = planPrecisionBuild(v11, 'INT8', { calibCache: '/c/calib.cache' });
    assert.equal(int8.kind, 'unavailable', 'a TensorRT 10 calibration cache does not make INT8 on 11');
    assert.match(int8.kind === 'unavailable' ? int8.reason : '', /^INT8 is unavailable on TensorRT 11\.4\.0 without an explicitly quantized model: TensorRT 11 removed implicit INT8 \(--int8, --calib.*ModelOpt.*--output_path model\.int8\.onnx\) and put the result beside the model$/);
    for (const p of ['FP32', 'FP16', 'BF16'] as const) {
      const plan = planPrecisionBuild(v11, p);
      assert.ok(plan.kind === 'strongly-typed' && !plan.flags.some((f) => /--(fp16|bf16|int8|calib)/.test(f)), `${p}: no removed flag`);
    }
  });

  it('version text', () => {
    assert.deepEqual(parseVersionText('11.4.0'), { major: 11, minor: 4, patch: 0 });
    assert.equal(parseVersionText('eleven'), null);
  });
});

const v10Info = JSON.stringify({
  Layers: [
    { Name: 'Reformatting CopyNode for Input Tensor 0 to stem', LayerType: 'Reformat', Inputs: [{ Name: 'input', 'Format/Datatype': 'Row major linear FP32' }], Outputs: [{ Name: 'r', 'Format/Datatype': 'Channel major FP16 format where channel % 8 == 0' }], ParameterType: 'Reformat' },
    { Name: 'stem + stem.relu', LayerType: 'CaskConvolution', Inputs: [{ Name: 'r', 'Format/Datatype': 'Channel major FP16 format where channel % 8 == 0' }], Outputs: [{ Name: 's', 'Format/Datatype': 'Channel major FP16 format where channel % 8 == 0' }], ParameterType: 'Convolution' },
    { Name: 'pool', LayerType: 'CaskPooling', Inputs: [{ Name: 's', 'Format/Datatype': 'Row major linear FP32' }], Outputs: [{ Name: 'p', 'Format/Datatype': 'Row major linear FP32' }], ParameterType: 'Pooling' },
    { Name: 'fc', LayerType: 'CaskGemmMatrixMultiply', Inputs: [{ Name: 'p', 'Format/Datatype': 'Row major linear FP32' }], Outputs: [{ Name: 'logits', 'Format/Datatype': 'Row major linear FP32' }], ParameterType: 'MatrixMultiply' },
  ],
  Bindings: ['input', 'logits'],
});

const v11Info = JSON.stringify({
  Layers: [
    { Name: 'cast_in', LayerType: 'Cast', Inputs: [{ Name: 'input', Format: 'kLINEAR', DataType: 'Float' }], Outputs: [{ Name: 'x', Format: 'kLINEAR', DataType: 'Half' }], ParameterType: 'Cast' },
    { Name: 'stem', LayerType: 'CaskConvolution', Inputs: [{ Name: 'x', Format: 'kHWC8', DataType: 'Half' }], Outputs: [{ Name: 's', Format: 'kHWC8', DataType: 'Half' }], ParameterType: 'Convolution' },
    { Name: 'fc', LayerType: 'CaskGemmMatrixMultiply', Inputs: [{ Name: 's', Format: 'kLINEAR', DataType: 'Half' }], Outputs: [{ Name: 'l', Format: 'kLINEAR', DataType: 'Half' }], ParameterType: 'MatrixMultiply' },
    { Name: 'cast_out', LayerType: 'Cast', Inputs: [{ Name: 'l', Format: 'kLINEAR', DataType: 'Half' }], Outputs: [{ Name: 'logits', Format: 'kLINEAR', DataType: 'Float' }], ParameterType: 'Cast' },
  ],
  'I/O Tensors': [{ Name: 'input', IOMode: 'Input', DataType: 'Float' }],
});

describe('layer information and the precision check', () => {
  it('tensor types from both schemas', () => {
    assert.equal(tensorDataType({ 'Format/Datatype': 'Row major linear FP32' }), 'FP32');
    assert.equal(tensorDataType({ 'Format/Datatype': 'Channel major FP16 format where channel % 8 == 0' }), 'FP16');
    assert.equal(tensorDataType({ 'Format/Datatype': 'Row major Int8 format' }), 'INT8');
    assert.equal(tensorDataType({ 'Format/Datatype': 'Row major linear BFloat16 format' }), 'BF16');
    assert.equal(tensorDataType({ Format: 'kLINEAR', DataType: 'Half' }), 'FP16');
    assert.equal(tensorDataType({ Format: 'kLINEAR', DataType: 'BFloat16' }), 'BF16');
    assert.equal(tensorDataType({ Format: 'kCHW32', DataType: 'Int8' }), 'INT8');
    assert.equal(tensorDataType({ DataType: 'Int64' }), 'INT64');
    assert.equal(tensorDataType({}), 'UNKNOWN');
  });

  it('TensorRT 10 engine asked FP16 with its matrix layer left in FP32: fails, naming the layer', () => {
    const check = checkEnginePrecision(parseLayerInfo(v10Info), 'FP16');
    assert.equal(check.ok, false);
    assert.equal(check.checked, 'conv-matmul', 'reformats and pooling are not what a precision is for');
    assert.deepEqual(check.found, { FP16: 1, FP32: 1 });
    assert.deepEqual(check.offenders, ['fc: FP32']);
    assert.equal(check.summary, 'asked FP16, but 1 of 2 convolution/matrix layers are not in FP16 (found 1 FP16, 1 FP32): fc: FP32');
  });

  it('TensorRT 11 strongly typed FP16 engine: casts at the edges ignored, passes', () => {
    const check = checkEnginePrecision(parseLayerInfo(v11Info), 'FP16');
    assert.equal(check.ok, true);
    assert.equal(check.summary, '2/2 convolution/matrix layers in FP16');
    assert.equal(checkEnginePrecision(parseLayerInfo(v11Info), 'FP32').ok, false, 'and it is not an FP32 engine');
  });

  it('an engine without conv/matrix layers has its compute layers checked; one with none passes', () => {
    const pw = (name: string, dt: string): EngineLayer => ({ name, type: 'PointWiseV2', parameterType: 'PointWise', inputs: [dt as 'FP16'], outputs: [dt as 'FP16'] });
    assert.equal(checkEnginePrecision([pw('a', 'FP16'), pw('b', 'FP32')], 'FP16').summary, 'asked FP16, but 1 of 2 compute layers are not in FP16 (found 1 FP16, 1 FP32): b: FP32');
    const copy: EngineLayer = { name: 'c', type: 'Reformat', parameterType: 'Reformat', inputs: ['FP32'], outputs: ['FP16'] };
    const none = checkEnginePrecision([copy], 'INT8');
    assert.deepEqual([none.ok, none.checked, none.summary], [true, 'none', 'no compute layers to check']);
  });

  it('a fused region with a cast inside computes in its lower type; index tensors do not count', () => {
    const region: EngineLayer = { name: 'myelin region', type: 'Myelin', parameterType: 'Myelin', inputs: ['FP32', 'INT64'], outputs: ['FP16'] };
    assert.equal(layerPrecision(region), 'FP16');
    const int8conv: EngineLayer = { name: 'conv', type: 'CaskConvolution', parameterType: 'Convolution', inputs: ['INT8'], outputs: ['FP16'] };
    assert.equal(layerPrecision(int8conv), 'INT8');
    assert.equal(checkEnginePrecision([region], 'FP16').ok, true);
    assert.equal(checkEnginePrecision([int8conv], 'FP16').ok, false, 'an INT8 engine is not an FP16 one');
  });

  it('layer information that cannot tell the precision is an error, not a pass', () => {
    assert.throws(() => parseLayerInfo('{"Layers": ["stem + relu", "fc"], "Bindings": ["input"]}'), (e: unknown) => e instanceof LayerInfoError && /names only.*--profilingVerbosity=detailed/.test(e.message));
    assert.throws(() => parseLayerInfo('not json'), /not JSON/);
    assert.throws(() => parseLayerInfo('{"Bindings": []}'), /no "Layers" list/);
  });
});
