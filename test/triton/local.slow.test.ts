/**
 * LocalTritonLauncher against the REAL tritonserver (.triton/, scripts/install-triton.sh):
 * it listens on loopback only, the default configuration loads and reads back as set, each
 * searched dimension is applied by a reload (same process) and read back, and a field the
 * real server changes on its own (a Python model's auto_complete_config) fails the load
 * naming the field.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTritonLauncher } from '../../src/runner/launchers/local.js';
import { ConfigReadbackError } from '../../src/runner/launchers/config-readback.js';
import { applyServingConfig, servingConfigOf, writeVariant } from '../../src/config/variant.js';
import { parseModelConfig, printModelConfig } from '../../src/config/pbtxt.js';
import { createInferenceClient } from '../../src/protocol/client.js';
import type { ModelVariant } from '../../src/domain/launcher.js';
import type { ServingConfig } from '../../src/domain/serving.js';
import { rawRequest, range } from '../server/helpers.js';
import { waitFor } from '../fakes/fake-bin.js';
import { exampleRepository, identityLikeConfig, listeningAddresses, realTritonPath } from './real-triton.js';

async function variantOf(variantRepo: string, modelDir: string, sc: ServingConfig, name: string): Promise<ModelVariant> {
  const base = parseModelConfig(readFileSync(join(modelDir, 'config.pbtxt'), 'utf8'));
  const cfg = applyServingConfig(base, sc, { name });
  const dir = await writeVariant(variantRepo, modelDir, cfg, name);
  return { modelName: name, dir, config: sc, pbtxt: printModelConfig(cfg) };
}

describe('LocalTritonLauncher with the REAL tritonserver', () => {
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('listens on 127.0.0.1 only; the default configuration, then each dimension by a reload, is read back as set', async () => {
    const tritonPath = realTritonPath();
    const src = exampleRepository(['identity']);
    const variantRepo = mkdtempSync(join(tmpdir(), 'tanalyze-real-variants-'));
    cleanups.push(() => rmSync(src, { recursive: true, force: true }), () => rmSync(variantRepo, { recursive: true, force: true }));
    const logFile = join(variantRepo, '..', `${variantRepo.split('/').pop()}-tritonserver.log`);
    const launcher = new LocalTritonLauncher({ repository: variantRepo, tritonPath, logFile, readyTimeoutMs: 120_000 });
    cleanups.push(() => launcher.stop());
    const started = await launcher.start();
    assert.match(started.serverVersion, /^triton 2\.\d+\.\d+$/);
    const ports = launcher.listenPorts!;
    for (const [what, port] of Object.entries(ports)) {
      // Ready is answered on gRPC; Triton's HTTP endpoint can start listening a moment later.
      await waitFor(() => listeningAddresses(port).length > 0, 10_000, `${what} port ${port} to listen`);
      assert.deepEqual(listeningAddresses(port), ['127.0.0.1'], `${what} port ${port} listens on loopback only`);
    }
    const log = readFileSync(logFile, 'utf8');
    assert.match(log, new RegExp(`Started GRPCInferenceService at 127\\.0\\.0\\.1:${ports.grpc}`));
    assert.match(log, new RegExp(`Started Metrics Service at 127\\.0\\.0\\.1:${ports.metrics}`));

    const modelDir = join(src, 'identity');
    const base = servingConfigOf(parseModelConfig(readFileSync(join(modelDir, 'config.pbtxt'), 'utf8')));
    const steps: { sc: ServingConfig; check: (loaded: Awaited<ReturnType<ReturnType<typeof createInferenceClient>['modelConfig']>>) => void }[] = [
      { sc: base, check: (c) => (assert.equal(c.max_batch_size, 64), assert.ok(!c.dynamic_batching, 'no batcher by default')) },
      { sc: { ...base, maxBatchSize: 16 }, check: (c) => assert.equal(c.max_batch_size, 16) },
      {
        sc: { ...base, maxBatchSize: 16, maxQueueDelayUs: 500, preferredBatchSizes: [4, 8] },
        check: (c) => {
          assert.equal(Number(c.dynamic_batching!.max_queue_delay_microseconds), 500);
          assert.deepEqual(c.dynamic_batching!.preferred_batch_size!.map(Number), [4, 8]);
        },
      },
      { sc: { ...base, maxBatchSize: 16, maxQueueDelayUs: 500, instanceCount: 2 }, check: (c) => assert.equal(c.instance_group![0]!.count, 2) },
    ];
    const client = createInferenceClient(started.grpcAddress);
    cleanups.push(() => client.close());
    const pid = launcher.pid;
    let previous: ModelVariant | undefined;
    for (const [i, step] of steps.entries()) {
      const v = await variantOf(variantRepo, modelDir, step.sc, `identity_config_${i}`);
      if (previous) await launcher.release(previous);
      await launcher.apply(v); // loads, then reads the configuration back (throws on a difference)
      step.check(await client.modelConfig(v.modelName));
      const res = await client.modelInfer(rawRequest(v.modelName, [2, 16], range(32)));
      assert.deepEqual(res.outputs[0]!.shape.map(Number), [2, 16], `${v.modelName} serves`);
      assert.equal(launcher.pid, pid, 'a reload, not a restart');
      previous = v;
    }
    const index = await client.repositoryIndex(true);
    assert.deepEqual(
      index.filter((m) => m.state === 'READY').map((m) => m.name),
      ['identity_config_3'],
      'released variants are unloaded',
    );
  });

  it("a field the real server changes on its own (a Python model's auto_complete_config) fails the load naming it", async () => {
    const tritonPath = realTritonPath();
    // auto_complete_config may raise max_batch_size and add a dynamic batcher; Triton runs it
    // on every load unless --strict-model-config, and says nothing.
    const src = exampleRepository([], {
      autocompleting: {
        config: identityLikeConfig('autocompleting', 8),
        modelPy: [
          'import triton_python_backend_utils as pb_utils',
          '',
          'class TritonPythonModel:',
          '    @staticmethod',
          '    def auto_complete_config(auto_complete_model_config):',
          '        auto_complete_model_config.set_max_batch_size(32)',
          '        auto_complete_model_config.set_dynamic_batching()',
          '        return auto_complete_model_config',
          '',
          '    def execute(self, requests):',
          '        return [pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("output", pb_utils.get_input_tensor_by_name(r, "input").as_numpy())]) for r in requests]',
          '',
        ].join('\n'),
      },
    });
    const variantRepo = mkdtempSync(join(tmpdir(), 'tanalyze-real-variants-'));
    cleanups.push(() => rmSync(src, { recursive: true, force: true }), () => rmSync(variantRepo, { recursive: true, force: true }));
    const launcher = new LocalTritonLauncher({ repository: variantRepo, tritonPath, logFile: join(variantRepo, 'tritonserver.log'), readyTimeoutMs: 120_000 });
    cleanups.push(() => launcher.stop());
    await launcher.start();
    const modelDir = join(src, 'autocompleting');
    const sc: ServingConfig = { maxBatchSize: 8, maxQueueDelayUs: null, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [] };
    const v = await variantOf(variantRepo, modelDir, sc, 'autocompleting_config_0');
    await assert.rejects(launcher.apply(v), (e: unknown) => {
      assert.ok(e instanceof ConfigReadbackError, String(e));
      assert.deepEqual(
        e.mismatches.map((m) => m.field),
        ['max_batch_size', 'dynamic_batching'],
      );
      assert.match(e.message, /max_batch_size: set 8, loaded 32/);
      return true;
    });
    // With the batcher and the size it would pick set by tanalyze, nothing differs.
    const same = await variantOf(variantRepo, modelDir, { ...sc, maxBatchSize: 32, maxQueueDelayUs: 0 }, 'autocompleting_config_1');
    await launcher.apply(same);
    await launcher.stop();

    // The way out the error names: a server started without auto-complete serves what was set.
    const strict = new LocalTritonLauncher({ repository: variantRepo, tritonPath, logFile: join(variantRepo, 'strict.log'), readyTimeoutMs: 120_000, extraArgs: ['--disable-auto-complete-config'] });
    cleanups.push(() => strict.stop());
    await strict.start();
    await strict.apply(v);
  });
});
