/**
 * The remote launcher against the real embedded server standing in for a running
 * Triton over the same protocol: explicit-mode detection, config-override loads,
 * statistics of what it loaded, and putting the server back as it found it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RemoteTritonLauncher, overrideConfigJson, probeModelControl } from '../../src/runner/launchers/remote.js';
import { LaunchError } from '../../src/runner/launchers/errors.js';
import { startEmbeddedServer, type EmbeddedServer } from '../../src/server/server.js';
import { createInferenceClient } from '../../src/protocol/client.js';
import { parseModelConfig, printModelConfig } from '../../src/config/pbtxt.js';
import { applyServingConfig } from '../../src/config/variant.js';
import type { ServingConfig } from '../../src/domain/serving.js';
import type { ModelVariant } from '../../src/domain/launcher.js';
import { makeRepository, rawRequest, range } from '../server/helpers.js';
import { freePorts } from '../../src/runner/launchers/ports.js';

function variantOf(repoDir: string, model: string, sc: ServingConfig, index: number): ModelVariant {
  const base = parseModelConfig(readFileSync(join(repoDir, model, 'config.pbtxt'), 'utf8'));
  // The lead's variants are named <model>_config_<n>; the remote launcher loads them under the model's own name.
  const cfg = applyServingConfig(base, sc, { name: `${model}_config_${index}` });
  return { modelName: model, dir: join(repoDir, model), config: sc, pbtxt: printModelConfig(cfg) };
}

const sc = (maxBatchSize: number, delay: number | null, instances = 1): ServingConfig => ({
  maxBatchSize,
  maxQueueDelayUs: delay,
  instanceCount: instances,
  precision: 'FP32',
  preferredBatchSizes: [],
});

describe('RemoteTritonLauncher against the embedded server (as a running Triton)', () => {
  let repo: { dir: string; cleanup: () => void };
  before(() => {
    repo = makeRepository({ m: { spec: { dims: [4], maxBatchSize: 8 } }, other: { spec: { dims: [2], maxBatchSize: 4 } } });
  });
  after(() => repo.cleanup());

  it('loads each variant with the config override under the model name, and unloads it at stop', async () => {
    const server = await startEmbeddedServer({ repository: repo.dir, modelControl: 'explicit' });
    const client = createInferenceClient(server.address);
    try {
      const launcher = new RemoteTritonLauncher({ url: `grpc://${server.address}/`, readyTimeoutMs: 10_000 });
      const started = await launcher.start();
      assert.equal(started.grpcAddress, server.address);
      assert.match(started.serverVersion, /^tanalyze-embedded /);
      assert.equal(launcher.probe?.explicit, true);
      assert.match(launcher.probe!.evidence, /__tanalyze_probe_[0-9a-f]{12}/);

      await launcher.apply(variantOf(repo.dir, 'm', sc(4, 500, 2), 1));
      let cfg = await client.modelConfig('m');
      assert.equal(cfg.name, 'm');
      assert.equal(Number(cfg.max_batch_size), 4);
      assert.equal(Number(cfg.dynamic_batching?.max_queue_delay_microseconds), 500);
      assert.equal(Number(cfg.instance_group?.[0]?.count), 2);
      await client.modelInfer(rawRequest('m', [2, 4], range(8)));
      const [stats] = await client.modelStatistics('m');
      assert.equal(Number(stats!.inference_count), 2);

      // The next trial reloads the same model with the next configuration; release does nothing.
      await launcher.release(variantOf(repo.dir, 'm', sc(4, 500, 2), 1));
      assert.equal(await client.modelReady('m'), true);
      await launcher.apply(variantOf(repo.dir, 'm', sc(2, null), 2));
      cfg = await client.modelConfig('m');
      assert.equal(Number(cfg.max_batch_size), 2);
      assert.equal(cfg.dynamic_batching, undefined, 'the override replaces the config; it is not merged');
      const [fresh] = await client.modelStatistics('m');
      assert.equal(Number(fresh!.inference_count), 0, 'a reload starts the statistics afresh');

      await launcher.stop();
      assert.equal(await client.modelReady('m'), false, 'unloaded: it was not loaded before tanalyze came');
      assert.equal(await client.serverLive(), true, 'the server itself is left running');
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('a model that was serving before is loaded again from its own config at stop', async () => {
    const server = await startEmbeddedServer({ repository: repo.dir, modelControl: 'explicit', loadModels: ['m', 'other'] });
    const client = createInferenceClient(server.address);
    try {
      const launcher = new RemoteTritonLauncher({ url: server.address, readyTimeoutMs: 10_000 });
      await launcher.start();
      await launcher.apply(variantOf(repo.dir, 'm', sc(2, 100), 1));
      assert.equal(Number((await client.modelConfig('m')).max_batch_size), 2);
      await launcher.stop();
      assert.equal(await client.modelReady('m'), true);
      assert.equal(Number((await client.modelConfig('m')).max_batch_size), 8, "back to the repository's config.pbtxt");
      assert.equal(await client.modelReady('other'), true, 'other models are never touched');
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('a server in NONE model-control mode is refused with the reason and what to do', async () => {
    const server = await startEmbeddedServer({ repository: repo.dir, modelControl: 'none' });
    try {
      const c = createInferenceClient(server.address);
      const probe = await probeModelControl(c);
      c.close();
      assert.equal(probe.explicit, false);
      assert.match(probe.evidence, /UNIMPLEMENTED: explicit model unload is not allowed/);
      const launcher = new RemoteTritonLauncher({ url: server.address });
      await assert.rejects(launcher.start(), (e: unknown) => {
        assert.ok(e instanceof LaunchError);
        assert.equal(e.failure, 'not-explicit');
        assert.match(e.hint ?? '', /--model-control-mode=explicit/);
        return true;
      });
    } finally {
      await server.stop();
    }
  });

  it("Triton's own answer in POLL or NONE mode is recognized", async () => {
    const fakeClient = {
      async repositoryModelUnload() {
        const { ProtocolError } = await import('../../src/protocol/client.js');
        throw new ProtocolError('RepositoryModelUnload', 'UNAVAILABLE', 'explicit model load / unload is not allowed if polling is enabled');
      },
    } as unknown as Parameters<typeof probeModelControl>[0];
    const probe = await probeModelControl(fakeClient);
    assert.equal(probe.explicit, false);
  });

  it('nothing listening at the URL is an unreachable error naming the URL', async () => {
    const [port] = await freePorts(1);
    const launcher = new RemoteTritonLauncher({ url: `127.0.0.1:${port}`, deadlineMs: 1500 });
    await assert.rejects(launcher.start(), (e: unknown) => e instanceof LaunchError && e.failure === 'unreachable' && e.message.includes(`127.0.0.1:${port}`));
  });

  it('the override is the full variant config in ModelConfig JSON, renamed to the model', () => {
    const v = variantOf(repo.dir, 'm', sc(4, 250), 3);
    const json = JSON.parse(overrideConfigJson(v)) as Record<string, unknown>;
    assert.equal(json['name'], 'm');
    assert.equal(json['max_batch_size'], 4);
    assert.deepEqual(json['dynamic_batching'], { max_queue_delay_microseconds: 250 });
    assert.ok(Array.isArray(json['input']) && Array.isArray(json['output']), 'inputs and outputs go too');
    assert.equal(json['inputs'], undefined, "ModelConfig's own field names, not the docs example's");
  });

  it('metrics URL defaults to port 8002 of the same host', () => {
    assert.equal(new RemoteTritonLauncher({ url: 'grpc://triton.internal:8001' }).metricsUrl(), 'http://triton.internal:8002/metrics');
    assert.equal(new RemoteTritonLauncher({ url: 'h:1', metricsUrl: 'http://h:9/metrics' }).metricsUrl(), 'http://h:9/metrics');
  });
});
