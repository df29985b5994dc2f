// The embedded server under closed-loop load, with and without dynamic batching:
//
//   node .build-server/bench/server.js [--model-repository DIR] [--model tiny_resnet]
//        [--seconds 3] [--concurrency 1,2,4,8] [--delay-us 1000] [--instances N] [--intra-op N]
//
// Default repository: examples/model_repository (node dist/scripts/make-example-model.js
// writes it). One server, explicit model control; each configuration is a reload with a
// JSON config override, as tanalyze's embedded launcher does. Every row: throughput
// (inferences/s), p50/p99 latency of a request, and the mean batch the server executed
// (Δinference_count / Δexecution_count). Then client-side batch sizes at concurrency 1
// without dynamic batching: what batching itself buys (batch-1 vs the best batch).

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cpus } from 'node:os';
import { modelConfigToJson, parseModelConfig } from '../src/config/pbtxt.js';
import type { ModelConfig } from '../src/config/types.js';
import { createInferenceClient } from '../src/protocol/client.js';
import type { InferenceClient, ModelInferRequest } from '../src/protocol/types.js';
import { makeInferRequest } from '../src/runner/infer-load.js';
import { startEmbeddedServer } from '../src/server/server.js';
import { fromPackageRoot } from '../src/util/package-root.js';

interface Args {
  repository: string;
  model: string;
  seconds: number;
  concurrency: number[];
  delayUs: number;
  instances?: number;
  /** Triton onnxruntime backend parameter intra_op_thread_count. */
  intraOp?: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    repository: fromPackageRoot('examples', 'model_repository'),
    model: 'tiny_resnet',
    seconds: 3,
    concurrency: [1, 2, 4, 8],
    delayUs: 1000,
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--model-repository': a.repository = path.resolve(v!); i++; break;
      case '--model': a.model = v!; i++; break;
      case '--seconds': a.seconds = Number(v); i++; break;
      case '--concurrency': a.concurrency = v!.split(',').map(Number); i++; break;
      case '--delay-us': a.delayUs = Number(v); i++; break;
      case '--instances': a.instances = Number(v); i++; break;
      case '--intra-op': a.intraOp = Number(v); i++; break;
      case '--help': case '-h':
        console.log('usage: bench/server [--model-repository DIR] [--model NAME] [--seconds S] [--concurrency 1,2,4] [--delay-us US] [--instances N] [--intra-op N]');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return a;
}

interface Row {
  throughput: number;
  p50: number;
  p99: number;
  meanBatch: number;
  requests: number;
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

async function counters(client: InferenceClient, model: string): Promise<{ inferences: number; executions: number }> {
  const [s] = await client.modelStatistics(model);
  return { inferences: s?.inference_count ?? 0, executions: s?.execution_count ?? 0 };
}

/** `concurrency` loops, each sending its next request when the previous one answers. */
async function closedLoop(client: InferenceClient, request: ModelInferRequest, batch: number, concurrency: number, seconds: number): Promise<Row> {
  const run = async (ms: number, latencies: number[] | null): Promise<void> => {
    const end = performance.now() + ms;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          await client.modelInfer(request);
          latencies?.push(performance.now() - t0);
        }
      }),
    );
  };
  await run(Math.min(1000, seconds * 300), null); // warm-up
  const before = await counters(client, request.model_name);
  const latencies: number[] = [];
  const t0 = performance.now();
  await run(seconds * 1000, latencies);
  const elapsed = (performance.now() - t0) / 1000;
  const after = await counters(client, request.model_name);
  latencies.sort((x, y) => x - y);
  const execs = after.executions - before.executions;
  return {
    throughput: (latencies.length * batch) / elapsed,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    meanBatch: execs > 0 ? (after.inferences - before.inferences) / execs : NaN,
    requests: latencies.length,
  };
}

const pad = (s: string, n: number): string => s.padStart(n);
const fmtRow = (cells: string[], widths: number[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[0]!) : pad(c, widths[i]!))).join('  ');

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const modelDir = path.join(args.repository, args.model);
  if (!existsSync(path.join(modelDir, 'config.pbtxt'))) {
    throw new Error(`no ${args.model}/config.pbtxt in ${args.repository}; run node dist/scripts/make-example-model.js or pass --model-repository`);
  }
  const base = parseModelConfig(readFileSync(path.join(modelDir, 'config.pbtxt'), 'utf8'));
  const maxBatch = Number(base.max_batch_size ?? 0);
  const instanceGroup = args.instances ? [{ kind: 'KIND_CPU' as const, count: args.instances }] : base.instance_group;
  const variant = (dynamic: boolean): ModelConfig => {
    const cfg: ModelConfig = { ...base, instance_group: instanceGroup };
    if (args.intraOp !== undefined) cfg.parameters = { ...base.parameters, intra_op_thread_count: { string_value: String(args.intraOp) } };
    delete cfg.dynamic_batching;
    if (dynamic) cfg.dynamic_batching = { max_queue_delay_microseconds: args.delayUs };
    return cfg;
  };

  const server = await startEmbeddedServer({ repository: args.repository, modelControl: 'explicit' });
  const client = createInferenceClient(server.address, { deadlineMs: 60_000 });
  try {
    console.log(`# embedded server, ${args.model} (max_batch_size ${maxBatch}, instances ${instanceGroup?.map((g) => g.count ?? 1).join('+') ?? 'default'}, intra_op_thread_count ${args.intraOp ?? 'default'}), ${cpus().length} CPUs, ${args.seconds} s per row, closed loop`);
    console.log('');
    const widths = [28, 11, 12, 9, 9, 10];
    console.log(fmtRow(['configuration', 'concurrency', 'infer/s', 'p50 ms', 'p99 ms', 'mean batch'], widths));
    for (const dynamic of maxBatch > 0 ? [false, true] : [false]) {
      await client.repositoryModelLoad(args.model, modelConfigToJson(variant(dynamic)));
      const request = makeInferRequest(await client.modelMetadata(args.model), 1, 1);
      const label = dynamic ? `dynamic batching ${args.delayUs} µs` : 'no dynamic batching';
      for (const c of args.concurrency) {
        const r = await closedLoop(client, request, 1, c, args.seconds);
        console.log(fmtRow([label, String(c), r.throughput.toFixed(1), r.p50.toFixed(2), r.p99.toFixed(2), r.meanBatch.toFixed(2)], widths));
      }
    }

    if (maxBatch > 1) {
      console.log('');
      console.log('# client batch size at concurrency 1, no dynamic batching');
      const w2 = [10, 12, 9, 9];
      console.log(fmtRow(['batch', 'infer/s', 'p50 ms', 'p99 ms'], w2));
      await client.repositoryModelLoad(args.model, modelConfigToJson(variant(false)));
      const meta = await client.modelMetadata(args.model);
      const results: { batch: number; throughput: number }[] = [];
      for (let b = 1; b <= maxBatch; b *= 2) {
        const r = await closedLoop(client, makeInferRequest(meta, b, 1), b, 1, args.seconds);
        results.push({ batch: b, throughput: r.throughput });
        console.log(fmtRow([String(b), r.throughput.toFixed(1), r.p50.toFixed(2), r.p99.toFixed(2)], w2));
      }
      const best = results.reduce((x, y) => (y.throughput > x.throughput ? y : x));
      console.log(`batch-1 vs best batch (${best.batch}): ${results[0]!.throughput.toFixed(1)} vs ${best.throughput.toFixed(1)} infer/s = ${(best.throughput / results[0]!.throughput).toFixed(2)}x`);
    }
  } finally {
    client.close();
    await server.stop();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
