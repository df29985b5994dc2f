// Where does throughput go between the GPU and the client? On the GPU machine, one
// configuration of the ResNet-50 TorchScript repository (bench/gpu/run.sh setup), in one run:
//
//   node dist/bench/gpu/hostpath.js --model-repository /tmp/tzr/models [--model resnet50]
//        [--precision fp16] [--max-batch 32] [--instances 1] [--concurrency 64] [--seconds 4]
//        [--workers 0,4] [--batch 1] [--receive-window 16777216,65535]
//
// - worker alone: the GPU executor (Python worker, CUDA graphs) fed full max-batch batches
//   back to back from this process, no gRPC: the ceiling of the instance path;
// - server: the embedded server with dynamic batching (delay 0), driven over gRPC by
//   tanalyze's closed loop at --concurrency with --batch images per request, the load
//   generated in this thread (workers 0, as one embedded process does by default) or in
//   worker threads (the server then has this thread to itself); with the server's wide HTTP/2
//   receive window (16 MiB, the default) and with HTTP/2's 64 KB default, for comparison.
// Prints img/s, mean executed batch, and the share of the worker-alone rate. A row well
// below the worker alone is limited by the host path (gRPC, the TypeScript server, the
// pipe), not the GPU; `nvidia-smi` sampled beside it (run.sh) gives GPU utilization.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { modelConfigToJson, parseModelConfig } from '../../src/config/pbtxt.js';
import type { ModelConfig } from '../../src/config/types.js';
import { createInferenceClient } from '../../src/protocol/client.js';
import { ClosedLoopDriver } from '../../src/load/closed-loop.js';
import { type LoadDriver } from '../../src/domain/load.js';
import { createRawChannel, makeInferRequest, serializeInferRequest } from '../../src/load/infer-requests.js';
import { LoadWorkerPool } from '../../src/load/workers.js';
import { percentiles } from '../../src/measure/stats.js';
import { GpuWorkerExecutor } from '../../src/server/gpu-executor.js';
import { startEmbeddedServer } from '../../src/server/server.js';
import { gpuWorkerOptionsFromEnv } from '../../src/cli/serving.js';

interface Args {
  repository: string;
  model: string;
  precision: string;
  maxBatch: number;
  instances: number;
  concurrency: number;
  seconds: number;
  workers: number[];
  batch: number;
  windows: number[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { repository: '/tmp/tzr/models', model: 'resnet50', precision: 'fp16', maxBatch: 32, instances: 1, concurrency: 64, seconds: 4, workers: [0, 4], batch: 1, windows: [16 * 1024 * 1024, 65_535] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[++i];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--model-repository') a.repository = path.resolve(v);
    else if (k === '--model') a.model = v;
    else if (k === '--precision') a.precision = v.toLowerCase();
    else if (k === '--max-batch') a.maxBatch = Number(v);
    else if (k === '--instances') a.instances = Number(v);
    else if (k === '--concurrency') a.concurrency = Number(v);
    else if (k === '--seconds') a.seconds = Number(v);
    else if (k === '--workers') a.workers = v.split(',').map(Number);
    else if (k === '--batch') a.batch = Number(v);
    else if (k === '--receive-window') a.windows = v.split(',').map(Number);
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dir = path.join(args.repository, args.model);
  const base = parseModelConfig(readFileSync(path.join(dir, 'config.pbtxt'), 'utf8'));
  const file = args.precision === 'fp32' ? 'model.pt' : `model.${args.precision}.pt`;
  const cfg: ModelConfig = {
    ...base,
    max_batch_size: args.maxBatch,
    default_model_filename: file,
    dynamic_batching: { max_queue_delay_microseconds: 0 },
    instance_group: [{ kind: 'KIND_GPU', count: args.instances }],
  } as ModelConfig;
  const rows: { path: string; ips: number; batch: number; p50: number; p99: number }[] = [];
  // The TANALYZE_GPU_* variables, read through the CLI's option table as a run reads them.
  const gpuWorkers = gpuWorkerOptionsFromEnv(process.env, (l) => process.stderr.write(`${l}\n`));

  // Worker alone: full batches back to back, one request of max_batch images.
  {
    const x = await GpuWorkerExecutor.start({ modelName: args.model, modelPath: path.join(dir, '1', file), sessionOptions: {}, batching: true, outputs: [], config: cfg }, gpuWorkers);
    const input = cfg.input![0]!;
    const dims = (input.dims ?? []).map(Number);
    const n = args.maxBatch * dims.reduce((p, d) => p * d, 1);
    const data = new Uint8Array(new Float32Array(n).fill(0.5).buffer);
    const req = [{ batchSize: args.maxBatch, inputs: [{ name: input.name, datatype: 'FP32' as const, shape: [args.maxBatch, ...dims], data }] }];
    for (let i = 0; i < 5; i++) await x.run(req, Number(process.hrtime.bigint()));
    const t0 = process.hrtime.bigint();
    let runs = 0;
    while (Number(process.hrtime.bigint() - t0) < args.seconds * 1e9) {
      await x.run(req, Number(process.hrtime.bigint()));
      runs++;
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    rows.push({ path: `worker alone (batches of ${args.maxBatch}, no gRPC)`, ips: (runs * args.maxBatch) / s, batch: args.maxBatch, p50: NaN, p99: NaN });
    await x.close();
  }

  for (const window of args.windows) {
    const server = await startEmbeddedServer({ repository: args.repository, modelControl: 'explicit', receiveWindowBytes: window, gpuWorkers });
    const client = createInferenceClient(server.address, { deadlineMs: 120_000 });
    const windowLabel = window >= 1 << 20 ? `${window / (1 << 20)} MiB` : `${Math.round(window / 1024)} KB`;
    try {
      await client.repositoryModelLoad(args.model, modelConfigToJson({ ...cfg, name: args.model }));
      const meta = await client.modelMetadata(args.model);
      const bytes = serializeInferRequest({ ...makeInferRequest(meta, args.batch, 7), model_name: args.model });
      for (const k of args.workers) {
        const channel = k === 0 ? createRawChannel(server.address) : null;
        const pool = k > 0 ? await LoadWorkerPool.start({ address: server.address, workers: k }) : null;
        const driver: LoadDriver = pool ? pool.driver({ mode: 'concurrency', request: bytes }) : new ClosedLoopDriver({ send: channel!.sender(bytes) });
        const modelStats = async () => (await client.modelStatistics(args.model))[0]!;
        driver.start(args.concurrency);
        await sleep(1000);
        const b = await modelStats();
        driver.startWindow();
        await sleep(args.seconds * 1000);
        const w = await driver.endWindow();
        const a = await modelStats();
        await driver.stop();
        channel?.close();
        await pool?.close();
        const s = Number(w.durationNs) / 1e9;
        const p = percentiles(w.histogram);
        const execs = Number(a.execution_count) - Number(b.execution_count);
        const infs = Number(a.inference_count) - Number(b.inference_count);
        rows.push({
          path: `server (${windowLabel} HTTP/2 window), load ${k === 0 ? 'in the server thread' : `in ${k} worker threads`} (c=${args.concurrency}, ${args.batch}/request)`,
          ips: (w.count * args.batch) / s,
          batch: execs > 0 ? infs / execs : NaN,
          p50: p.p50 / 1000,
          p99: p.p99 / 1000,
        });
      }
    } finally {
      client.close();
      await server.stop();
    }
  }
  const ceiling = rows[0]!.ips;
  console.log(`\n# ${args.model} ${args.precision.toUpperCase()}, max_batch ${args.maxBatch}, ${args.instances} instance(s), ${args.seconds} s per row\n`);
  console.log('| path | img/s | % of worker alone | mean batch | p50 ms | p99 ms |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.path} | ${fmt(r.ips)} | ${((100 * r.ips) / ceiling).toFixed(0)}% | ${Number.isFinite(r.batch) ? r.batch.toFixed(1) : '-'} | ${Number.isFinite(r.p50) ? r.p50.toFixed(1) : '-'} | ${Number.isFinite(r.p99) ? r.p99.toFixed(1) : '-'} |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
