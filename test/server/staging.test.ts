/**
 * Batch staging end to end: the real ONNX Runtime instance process taking runs while one
 * executes, and LoadedModel's statistics (the wait behind the previous batch is queue time).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { OrtProcessExecutor, ortExecutorFactory, type BatchOutcome, type ExecRequest, type Executor, type ExecutorFactory } from '../../src/server/executor.js';
import { LoadedModel } from '../../src/server/model.js';
import { resolveModelSource } from '../../src/server/model-repository.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { range, readFp32 } from './helpers.js';

const REPO = fromPackageRoot('examples', 'model_repository');
const hrNow = (): number => Number(process.hrtime.bigint());
const f32 = (xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);

/** `rows` rows of `width` floats, distinct per `seed`. */
function request(rows: number, width: number, seed: number, dims: number[] = [width]): ExecRequest {
  const values = range(rows * width).map((i) => Math.sin(seed * 1000 + i));
  return { batchSize: rows, inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, ...dims], data: f32(values) }] };
}

test('ORT instance process: runs sent while one executes complete in order with their own outputs', async () => {
  const x = await OrtProcessExecutor.start({
    modelName: 'tiny_resnet',
    modelPath: path.join(REPO, 'tiny_resnet', '1', 'model.onnx'),
    sessionOptions: {},
    batching: true,
    outputs: ['logits'],
  });
  const direct = await ort.InferenceSession.create(path.join(REPO, 'tiny_resnet', '1', 'model.onnx'));
  try {
    assert.equal(x.acceptsStagedRun, true);
    const width = 3 * 32 * 32;
    const batches = [[1], [2, 1], [4], [1, 1, 1], [3]].map((sizes, b) => sizes.map((rows, r) => request(rows, width, 10 * b + r, [3, 32, 32])));
    const sent = hrNow();
    const order: number[] = [];
    // All sent at once: from the second on, each waits in the instance behind the one before.
    const outcomes = await Promise.all(batches.map((reqs, i) => x.run(reqs, sent).then((o) => (order.push(i), o))));
    assert.deepEqual(order, range(batches.length), 'completed in the order sent');
    for (const [b, reqs] of batches.entries()) {
      for (const [r, req] of reqs.entries()) {
        const input = new Float32Array(new Uint8Array(req.inputs[0]!.data).buffer);
        const want = (await direct.run({ input: new ort.Tensor('float32', input, req.inputs[0]!.shape) }))['logits']!.data as Float32Array;
        const got = outcomes[b]!.outputs[r]![0]!;
        assert.deepEqual(got.shape, [req.batchSize, 10]);
        readFp32(got.data).forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-4, `batch ${b} request ${r} value ${i}: ${v} vs ${want[i]}`));
      }
    }
    // Each run was taken up after the previous one had built its inputs and run.
    const o: BatchOutcome[] = outcomes;
    assert.ok(o[0]!.startedNs >= sent);
    for (let i = 1; i < o.length; i++) {
      const prev = o[i - 1]!;
      assert.ok(o[i]!.startedNs >= prev.startedNs + prev.times.computeInputNs + prev.times.computeInferNs, `run ${i} started after run ${i - 1}`);
    }
  } finally {
    await direct.release();
    await x.close();
  }
});

test('LoadedModel on examples/model_repository/identity with the real instance: concurrent requests, exact outputs, consistent statistics', async () => {
  const m = await LoadedModel.load(await resolveModelSource(REPO, 'identity'), ortExecutorFactory);
  try {
    const reqs = range(40).map((i) => request(1 + (i % 3), 16, i));
    const t0 = hrNow();
    const outs = await Promise.all(reqs.map((r) => m.infer(r, '', t0)));
    outs.forEach((o, i) => assert.deepEqual(Buffer.from(o[0]!.data), Buffer.from(reqs[i]!.inputs[0]!.data), `request ${i}`));
    const s = m.stats.snapshot();
    const is = s.inference_stats;
    assert.equal(s.execution_count, 40, 'no dynamic batching: one execution per request');
    assert.equal(is.success.count, 40);
    assert.ok(is.queue.ns + is.compute_input.ns + is.compute_infer.ns + is.compute_output.ns <= is.success.ns);
  } finally {
    await m.unload();
  }
});

/** An instance that runs its batches one after the other, each taking `ms`, and says when it took each up. */
function slowFactory(ms: number, staged: boolean) {
  const calls: { startNs: number; busy: number }[] = [];
  let busy = 0;
  const factory: ExecutorFactory = async () => {
    let chain = Promise.resolve();
    const x: Executor = {
      acceptsStagedRun: staged,
      io: { inputs: [{ name: 'input', type: 'float32', shape: [-1, 16] }], outputs: [{ name: 'output', type: 'float32', shape: [-1, 16] }] },
      run(requests, startNs) {
        calls.push({ startNs, busy: busy++ });
        const outcome = chain.then(async (): Promise<BatchOutcome> => {
          const startedNs = hrNow();
          await new Promise((r) => setTimeout(r, ms));
          const ranNs = hrNow();
          busy--;
          return {
            outputs: requests.map((r) => [{ ...r.inputs[0]!, name: 'output' }]),
            startedNs,
            times: { computeInputNs: 0, computeInferNs: ranNs - startedNs, computeOutputNs: 0 },
          };
        });
        chain = outcome.then(() => undefined);
        return outcome;
      },
      close: async () => undefined,
    };
    return x;
  };
  return { factory, calls };
}

test('LoadedModel: a staged batch is handed over at once, and its wait behind the previous batch is queue time', async () => {
  const slow = slowFactory(60, true);
  const m = await LoadedModel.load(await resolveModelSource(REPO, 'identity'), slow.factory);
  try {
    const t0 = hrNow();
    await Promise.all([m.infer(request(1, 16, 1), '', t0), m.infer(request(1, 16, 2), '', t0)]);
    assert.deepEqual(slow.calls.map((c) => c.busy), [0, 1], 'the second batch was given to the busy instance');
    assert.ok(slow.calls[1]!.startNs - t0 < 30e6, 'and it left the queue at once');
    const is = m.stats.snapshot().inference_stats;
    // The second request waited ~60 ms behind the first: queue time, not compute time.
    assert.ok(is.queue.ns >= 55e6, `queue ${is.queue.ns / 1e6} ms`);
    assert.ok(is.compute_infer.ns >= 2 * 55e6 && is.compute_infer.ns < 2 * 200e6, `compute_infer ${is.compute_infer.ns / 1e6} ms`);
    assert.ok(is.queue.ns + is.compute_input.ns + is.compute_infer.ns + is.compute_output.ns <= is.success.ns);
  } finally {
    await m.unload();
  }
});

test('LoadedModel: an executor that cannot take a second batch never gets one while busy', async () => {
  const slow = slowFactory(20, false);
  const m = await LoadedModel.load(await resolveModelSource(REPO, 'identity'), slow.factory);
  try {
    await Promise.all(range(5).map((i) => m.infer(request(1, 16, i), '', hrNow())));
    assert.equal(slow.calls.length, 5);
    assert.ok(slow.calls.every((c) => c.busy === 0));
  } finally {
    await m.unload();
  }
});
