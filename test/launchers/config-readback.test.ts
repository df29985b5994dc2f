import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../src/config/types.js';
import { compareLoadedConfig, describeMismatches } from '../../src/runner/launchers/config-readback.js';

// The gRPC decoder (defaults filled) gives null for an absent message field; ModelConfig's type says undefined.
const NULL_MESSAGE = null as unknown as undefined;

// What tanalyze writes for a variant of tiny_resnet (examples/triton_repository).
const intended: ModelConfig = {
  name: 'tiny_resnet_config_2',
  backend: 'python',
  max_batch_size: 4,
  dynamic_batching: { max_queue_delay_microseconds: 4000, preferred_batch_size: [2, 4] },
  instance_group: [{ count: 2, kind: 'KIND_CPU' }],
};

// The same configuration as tritonserver 2.51.0 answers ModelConfig for it (the shape the
// gRPC client decodes with defaults filled: absent messages null, names and defaults added).
const asTritonLoadsIt = (): ModelConfig => ({
  name: 'tiny_resnet_config_2',
  platform: '',
  backend: 'python',
  max_batch_size: 4,
  dynamic_batching: { max_queue_delay_microseconds: 4000, preferred_batch_size: [4, 2], preserve_ordering: false, priority_levels: 0 },
  instance_group: [{ name: 'tiny_resnet_config_2_0', kind: 'KIND_CPU', count: 2, gpus: [], passive: false }],
  sequence_batching: null,
  ensemble_scheduling: null,
  default_model_filename: 'model.py',
  optimization: { priority: 'PRIORITY_DEFAULT', input_pinned_memory: { enable: true } },
});

describe('compareLoadedConfig: the fields tanalyze set, against what the server loaded', () => {
  const cases: { name: string; intended?: ModelConfig; loaded: (c: ModelConfig) => ModelConfig; fields: string[] }[] = [
    { name: 'the server runs what was set (its own names and defaults beside it)', loaded: (c) => c, fields: [] },
    { name: 'max_batch_size changed', loaded: (c) => ({ ...c, max_batch_size: 8 }), fields: ['max_batch_size'] },
    { name: 'dynamic batcher dropped', loaded: (c) => ({ ...c, dynamic_batching: NULL_MESSAGE }), fields: ['dynamic_batching'] },
    {
      name: 'queue delay changed',
      loaded: (c) => ({ ...c, dynamic_batching: { ...c.dynamic_batching!, max_queue_delay_microseconds: 0 } }),
      fields: ['dynamic_batching.max_queue_delay_microseconds'],
    },
    {
      name: 'no preferred sizes set: Triton reports [max_batch_size], the same batches',
      intended: { ...intended, dynamic_batching: { max_queue_delay_microseconds: 4000 } },
      loaded: (c) => ({ ...c, dynamic_batching: { ...c.dynamic_batching!, preferred_batch_size: [4] } }),
      fields: [],
    },
    {
      name: 'preferred sizes dropped',
      loaded: (c) => ({ ...c, dynamic_batching: { ...c.dynamic_batching!, preferred_batch_size: [] } }),
      fields: ['dynamic_batching.preferred_batch_size'],
    },
    { name: 'instance count changed', loaded: (c) => ({ ...c, instance_group: [{ ...c.instance_group![0]!, count: 1 }] }), fields: ['instance_group[0].count'] },
    { name: 'instance kind changed', loaded: (c) => ({ ...c, instance_group: [{ ...c.instance_group![0]!, kind: 'KIND_GPU' }] }), fields: ['instance_group[0].kind'] },
    { name: 'instance group dropped', loaded: (c) => ({ ...c, instance_group: [] }), fields: ['instance_group'] },
    {
      name: 'a batcher added where none was set (Triton auto-complete does this for batching ONNX models)',
      intended: { ...intended, dynamic_batching: undefined },
      loaded: (c) => ({ ...c, dynamic_batching: { max_queue_delay_microseconds: 0, preferred_batch_size: [] } }),
      fields: ['dynamic_batching'],
    },
    {
      name: 'no batcher set, none loaded (null from the gRPC decoder)',
      intended: { ...intended, dynamic_batching: undefined },
      loaded: (c) => ({ ...c, dynamic_batching: NULL_MESSAGE }),
      fields: [],
    },
    {
      name: 'the precision model file replaced',
      intended: { ...intended, default_model_filename: 'model.fp16.onnx' },
      loaded: (c) => ({ ...c, default_model_filename: 'model.onnx' }),
      fields: ['default_model_filename'],
    },
    {
      name: "ONNX Runtime's TensorRT accelerator dropped (its precision_mode is the precision)",
      intended: {
        ...intended,
        optimization: { execution_accelerators: { gpu_execution_accelerator: [{ name: 'tensorrt', parameters: { precision_mode: 'FP16' } }] } },
      },
      loaded: (c) => c,
      fields: ['optimization.execution_accelerators.gpu_execution_accelerator[tensorrt].precision_mode'],
    },
    {
      name: "ONNX Runtime's TensorRT accelerator kept",
      intended: {
        ...intended,
        optimization: { execution_accelerators: { gpu_execution_accelerator: [{ name: 'tensorrt', parameters: { precision_mode: 'FP16' } }] } },
      },
      loaded: (c) => ({
        ...c,
        optimization: { priority: 'PRIORITY_DEFAULT', execution_accelerators: { gpu_execution_accelerator: [{ name: 'tensorrt', parameters: { precision_mode: 'FP16', max_workspace_size_bytes: '1073741824' } }] } },
      }),
      fields: [],
    },
    {
      name: 'an unset count is one instance, as Triton runs it',
      intended: { ...intended, instance_group: [{ kind: 'KIND_CPU' }] },
      loaded: (c) => ({ ...c, instance_group: [{ ...c.instance_group![0]!, count: 1 }] }),
      fields: [],
    },
    {
      name: 'KIND_AUTO is resolved by the server',
      intended: { ...intended, instance_group: [{ count: 2, kind: 'KIND_AUTO' }] },
      loaded: (c) => c,
      fields: [],
    },
    {
      name: '64-bit fields as strings compare as numbers',
      loaded: (c) => ({ ...c, dynamic_batching: { ...c.dynamic_batching!, max_queue_delay_microseconds: '4000' as unknown as number } }),
      fields: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = compareLoadedConfig(c.intended ?? intended, c.loaded(asTritonLoadsIt()));
      assert.deepEqual(
        got.map((m) => m.field),
        c.fields,
      );
    });
  }

  it('a batcher the server added says where it comes from and how to turn it off', async () => {
    const { ConfigReadbackError } = await import('../../src/runner/launchers/config-readback.js');
    const added = compareLoadedConfig({ ...intended, dynamic_batching: undefined }, asTritonLoadsIt());
    assert.match(new ConfigReadbackError('m', added).message, /auto-complete .*--disable-auto-complete-config/);
    assert.doesNotMatch(new ConfigReadbackError('m', compareLoadedConfig(intended, { ...asTritonLoadsIt(), max_batch_size: 8 })).message, /auto-complete/);
  });

  it('names the field, the value set and the value loaded', () => {
    const got = compareLoadedConfig(intended, { ...asTritonLoadsIt(), max_batch_size: 8, dynamic_batching: NULL_MESSAGE });
    assert.equal(describeMismatches(got), 'max_batch_size: set 4, loaded 8; dynamic_batching: set max_queue_delay_microseconds 4000, loaded absent');
  });
});
