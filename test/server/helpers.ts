/** Tiny model repositories for the server tests: identity ONNX models plus config text. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { identityModel } from '../../src/onnx/build-model.js';
import type { ModelInferRequest } from '../../src/protocol/types.js';
import type { Executor, ExecutorFactory } from '../../src/server/executor.js';
import { ortExecutorFactory } from '../../src/server/executor.js';

export interface IdentitySpec {
  dims: number[];
  maxBatchSize: number;
  instances?: number;
  dynamicBatching?: string; // body of dynamic_batching { ... }, e.g. 'max_queue_delay_microseconds: 1000'
  extra?: string;
}

export function identityConfig(name: string, s: IdentitySpec): string {
  const dims = s.dims.join(', ');
  return [
    `name: "${name}"`,
    `backend: "onnxruntime"`,
    `max_batch_size: ${s.maxBatchSize}`,
    `input [ { name: "input" data_type: TYPE_FP32 dims: [ ${dims} ] } ]`,
    `output [ { name: "output" data_type: TYPE_FP32 dims: [ ${dims} ] } ]`,
    `instance_group [ { kind: KIND_CPU count: ${s.instances ?? 1} } ]`,
    s.dynamicBatching !== undefined ? `dynamic_batching { ${s.dynamicBatching} }` : '',
    s.extra ?? '',
  ].join('\n');
}

/** A repository folder with the given models; `config: null` leaves config.pbtxt out. */
export function makeRepository(models: Record<string, { spec: IdentitySpec; config?: string | null }>): {
  dir: string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(path.join(tmpdir(), 'tanalyze-repo-'));
  for (const [name, { spec, config }] of Object.entries(models)) {
    // The ONNX model is batchable only when the config batches: max_batch_size 0 gets a fixed first dim.
    const onnxDims = spec.maxBatchSize > 0 ? spec.dims : spec.dims.slice(1);
    mkdirSync(path.join(dir, name, '1'), { recursive: true });
    writeFileSync(path.join(dir, name, '1', 'model.onnx'), identityModel({ dims: onnxDims.length ? onnxDims : spec.dims }));
    if (config !== null) writeFileSync(path.join(dir, name, 'config.pbtxt'), config ?? identityConfig(name, spec));
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function fp32(values: number[]): Buffer {
  return Buffer.from(new Float32Array(values).buffer);
}

export function readFp32(buf: Buffer | Uint8Array): number[] {
  const copy = new Uint8Array(buf);
  return [...new Float32Array(copy.buffer, 0, copy.byteLength / 4)];
}

export function rawRequest(model: string, shape: number[], values: number[]): ModelInferRequest {
  return { model_name: model, inputs: [{ name: 'input', datatype: 'FP32', shape }], raw_input_contents: [fp32(values)] };
}

export function range(n: number, start = 0): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}

/**
 * Wraps the ONNX Runtime executors to observe how many batches run at once. With
 * `holdUntil`, a run waits (up to `holdMs`) until that many runs are active, so
 * concurrency shows without depending on how fast the model is. Only `model` is observed.
 */
export function observingFactory(opts: { model: string; holdUntil?: number; holdMs?: number }): {
  factory: ExecutorFactory;
  maxActive: () => number;
  runs: () => number;
} {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  let waiters: (() => void)[] = [];
  const factory: ExecutorFactory = async (spec) => {
    const inner = await ortExecutorFactory(spec);
    if (spec.modelName !== opts.model) return inner;
    const wrapped: Executor = {
      io: inner.io,
      async run(requests, startNs) {
        active++;
        runs++;
        maxActive = Math.max(maxActive, active);
        if (opts.holdUntil && active >= opts.holdUntil) {
          waiters.forEach((w) => w());
          waiters = [];
        } else if (opts.holdUntil) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, opts.holdMs ?? 3000);
            waiters.push(() => {
              clearTimeout(t);
              resolve();
            });
          });
        }
        try {
          return await inner.run(requests, startNs);
        } finally {
          active--;
        }
      },
      close: () => inner.close(),
    };
    return wrapped;
  };
  return { factory, maxActive: () => maxActive, runs: () => runs };
}
