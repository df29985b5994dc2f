// The embedded server at saturation beside onnxruntime-node running the same batches
// directly, in the same run:
//
//   node .build-load/bench/server.js [--model tiny_resnet] [--model-repository DIR]
//        [--batches 1,2,4,8,16,32] [--seconds 1] [--rounds 3] [--concurrency 2,4]
//        [--intra-op N] [--dynamic] [--staging on|off|both] [--no-staging]
//
// For each batch size b, in interleaved rounds (a slow spell of a shared machine hits every
// row alike; the median round is reported):
// - direct: one InferenceSession in this process, with the session options the server
//   derives from the model's config, running the same b-image input back to back;
// - server: the embedded server (in this process, as tanalyze's embedded launcher runs it;
//   one instance, no dynamic batching, max_batch_size raised to the largest b) under closed-
//   loop load of b-image requests from tanalyze's load generator at each --concurrency
//   (the best kept): with 2 or more requests in flight the instance never waits for work.
//   The server executes exactly the client's batches (mean batch = Δinferences/Δexecutions).
// --staging both measures, in the same rounds, a second embedded server whose instances
// take one batch at a time (no batch staging: each execution waits for the IPC round
// trip of the next batch); --staging off (--no-staging) measures only that one.
// Target: server ≥ 90% of direct. Then batch 1 against the best batch, for both.
// --dynamic adds the colleague's earlier table: batch-1 requests at rising concurrency,
// with and without dynamic batching.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { availableParallelism, cpus, loadavg } from 'node:os';
import * as ort from 'onnxruntime-node';
import { modelConfigToJson, parseModelConfig } from '../src/config/pbtxt.js';
import type { ModelConfig } from '../src/config/types.js';
import { createInferenceClient } from '../src/protocol/client.js';
import type { InferenceClient, ModelInferRequest } from '../src/protocol/types.js';
import { ortExecutorFactory, type ExecutorFactory } from '../src/server/executor.js';
import { ClosedLoopDriver } from '../src/load/closed-loop.js';
import { createRawChannel, makeInferRequest, serializeInferRequest, type RawChannel } from '../src/load/infer-requests.js';
import { median, percentiles } from '../src/measure/stats.js';
import { sessionOptions } from '../src/server/model-repository.js';
import { startEmbeddedServer, type EmbeddedServer } from '../src/server/server.js';
import { fromPackageRoot } from '../src/util/package-root.js';

interface Args {
  repository: string;
  model: string;
  batches: number[];
  seconds: number;
  rounds: number;
  concurrency: number[];
  intraOp?: number;
  dynamic: boolean;
  staging: 'on' | 'off' | 'both';
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    repository: fromPackageRoot('examples', 'model_repository'),
    model: 'tiny_resnet',
    batches: [1, 2, 4, 8, 16, 32],
    seconds: 1,
    rounds: 3,
    concurrency: [2, 4],
    dynamic: false,
    staging: 'on',
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--help' || k === '-h') {
      console.log('usage: bench/server [--model NAME] [--model-repository DIR] [--batches 1,2,4,8,16,32] [--seconds 1] [--rounds 3] [--concurrency 2,4] [--intra-op N] [--dynamic] [--staging on|off|both] [--no-staging]');
      process.exit(0);
    }
    if (k === '--dynamic') {
      a.dynamic = true;
      continue;
    }
    if (k === '--no-staging') {
      a.staging = 'off';
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--model-repository') a.repository = path.resolve(v);
    else if (k === '--model') a.model = v;
    else if (k === '--batches') a.batches = v.split(',').map(Number);
    else if (k === '--seconds') a.seconds = Number(v);
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--concurrency') a.concurrency = v.split(',').map(Number);
    else if (k === '--intra-op') a.intraOp = Number(v);
    else if (k === '--staging' && (v === 'on' || v === 'off' || v === 'both')) a.staging = v;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!(a.seconds > 0) || a.batches.some((b) => !Number.isInteger(b) || b < 1)) throw new Error('bad --seconds or --batches');
  return a;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function counters(client: InferenceClient, model: string): Promise<{ inferences: number; executions: number }> {
  const [s] = await client.modelStatistics(model);
  return { inferences: s?.inference_count ?? 0, executions: s?.execution_count ?? 0 };
}

/** Direct: the same batch back to back in one session for `seconds`; inferences/s. */
async function direct(session: ort.InferenceSession, feed: Record<string, ort.Tensor>, batch: number, seconds: number): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  while (n < 2 || performance.now() - t0 < seconds * 1000) {
    await session.run(feed);
    n++;
  }
  return (n * batch * 1000) / (performance.now() - t0);
}

interface ServerFigures {
  ips: number;
  concurrency: number;
  meanBatch: number;
  p50Ms: number;
}

/** Server: closed loop of `batch`-image requests at each concurrency (200 ms warm-up); the best. */
async function served(channel: RawChannel, client: InferenceClient, model: string, bytes: Buffer, batch: number, concurrency: number[], seconds: number): Promise<ServerFigures> {
  let best: ServerFigures | null = null;
  for (const c of concurrency) {
    const driver = new ClosedLoopDriver({ send: channel.sender(bytes) });
    driver.start(c);
    await sleep(200);
    const before = await counters(client, model);
    driver.startWindow();
    await sleep(seconds * 1000);
    const w = driver.endWindow();
    const after = await counters(client, model);
    await driver.stop();
    const execs = after.executions - before.executions;
    const f: ServerFigures = {
      ips: (w.count * batch) / (Number(w.durationNs) / 1e9),
      concurrency: c,
      meanBatch: execs > 0 ? (after.inferences - before.inferences) / execs : Number.NaN,
      p50Ms: percentiles(w.histogram).p50 / 1000,
    };
    if (!best || f.ips > best.ips) best = f;
  }
  return best!;
}

const pad = (cells: string[], widths: number[], left: number[] = [0]): string =>
  `| ${cells.map((c, i) => (left.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;

function table(head: string[], rows: string[][], left: number[] = [0]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  console.log(pad(head, widths, left));
  console.log(`|${widths.map((w, i) => (left.includes(i) ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`);
  for (const r of rows) console.log(pad(r, widths, left));
}

/** ORT instances that take one batch at a time: the server without batch staging. */
const unstagedFactory: ExecutorFactory = async (spec) => {
  const x = await ortExecutorFactory(spec);
  return { io: x.io, get failure() { return x.failure; }, run: (r, startNs) => x.run(r, startNs), close: () => x.close() };
};

interface Served {
  label: string;
  server: EmbeddedServer;
  client: InferenceClient;
  channel: RawChannel;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const modelDir = path.join(args.repository, args.model);
  if (!existsSync(path.join(modelDir, 'config.pbtxt'))) throw new Error(`no ${args.model}/config.pbtxt in ${args.repository}; pass --model-repository`);
  const base = parseModelConfig(readFileSync(path.join(modelDir, 'config.pbtxt'), 'utf8'));
  const maxBatch = Math.max(...args.batches);
  if (Number(base.max_batch_size ?? 0) === 0 && maxBatch > 1) throw new Error(`${args.model} does not batch (max_batch_size 0): pass --batches 1`);
  const cfg: ModelConfig = { ...base, max_batch_size: Math.max(Number(base.max_batch_size ?? 0), maxBatch), instance_group: [{ kind: 'KIND_CPU', count: 1 }] };
  delete cfg.dynamic_batching;
  if (args.intraOp !== undefined) cfg.parameters = { ...base.parameters, intra_op_thread_count: { string_value: String(args.intraOp) } };

  const kinds = args.staging === 'both' ? [true, false] : [args.staging === 'on'];
  const servers: Served[] = [];
  const modelFile = path.join(modelDir, '1', String(base.default_model_filename ?? 'model.onnx'));
  const session = await ort.InferenceSession.create(modelFile, sessionOptions(cfg) as ort.InferenceSession.SessionOptions);
  try {
    for (const staged of kinds) {
      const server = await startEmbeddedServer({ repository: args.repository, modelControl: 'explicit', ...(staged ? {} : { executorFactory: unstagedFactory }) });
      const s: Served = { label: staged ? 'server' : 'no staging', server, client: createInferenceClient(server.address, { deadlineMs: 60_000 }), channel: createRawChannel(server.address) };
      servers.push(s);
      await s.client.repositoryModelLoad(args.model, modelConfigToJson(cfg));
      await s.channel.ready();
    }
    const { client, channel } = servers[0]!;
    const meta = await client.modelMetadata(args.model);
    const requests = new Map<number, { request: ModelInferRequest; bytes: Buffer; feed: Record<string, ort.Tensor> }>();
    for (const b of args.batches) {
      const request = makeInferRequest(meta, b, 7);
      // The very bytes the server receives, as the direct session's input.
      const feed: Record<string, ort.Tensor> = {};
      request.inputs.forEach((inp, i) => {
        if (inp.datatype !== 'FP32') throw new Error(`bench/server feeds FP32 inputs only; ${inp.name} is ${inp.datatype}`);
        const raw = request.raw_input_contents![i]!;
        const copy = new Float32Array(raw.byteLength / 4);
        new Uint8Array(copy.buffer).set(raw);
        feed[inp.name] = new ort.Tensor('float32', copy, inp.shape);
      });
      requests.set(b, { request, bytes: serializeInferRequest(request), feed });
    }
    // Warm every path for every batch size.
    for (const b of args.batches) {
      const r = requests.get(b)!;
      for (let i = 0; i < 3; i++) await session.run(r.feed);
      for (const s of servers) for (let i = 0; i < 3; i++) await s.channel.sender(r.bytes)();
    }

    console.log(
      `# ${args.model}: one instance, no dynamic batching, max_batch_size ${cfg.max_batch_size}, session options ${JSON.stringify(sessionOptions(cfg))}; ` +
        `onnxruntime-node ${ort.env.versions.common ?? ''}; ${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()[0]!.toFixed(1)}; ` +
        `${args.seconds} s per cell, median of ${args.rounds} interleaved rounds; batch staging ${args.staging}`,
    );
    const directIps = new Map<number, number[]>(args.batches.map((b) => [b, []]));
    const serverRuns = servers.map(() => new Map<number, ServerFigures[]>(args.batches.map((b) => [b, []])));
    for (let round = 0; round < args.rounds; round++) {
      for (const b of args.batches) {
        const r = requests.get(b)!;
        directIps.get(b)!.push(await direct(session, r.feed, b, args.seconds));
        for (const [i, s] of servers.entries()) serverRuns[i]!.get(b)!.push(await served(s.channel, s.client, args.model, r.bytes, b, args.concurrency, args.seconds));
      }
    }
    const rows: string[][] = [];
    const srv = servers.map(() => new Map<number, ServerFigures>());
    const dir = new Map<number, number>();
    for (const b of args.batches) {
      const d = median(directIps.get(b)!);
      dir.set(b, d);
      const row = [String(b), d.toFixed(0)];
      for (const [i] of servers.entries()) {
        const runs = [...serverRuns[i]!.get(b)!].sort((x, y) => x.ips - y.ips);
        const f = runs[runs.length >> 1]!;
        srv[i]!.set(b, f);
        row.push(f.ips.toFixed(0), `${((100 * f.ips) / d).toFixed(0)}%`);
      }
      const f = srv[0]!.get(b)!;
      rows.push([...row, f.meanBatch.toFixed(2), String(f.concurrency), f.p50Ms.toFixed(2)]);
    }
    console.log('\n## embedded server at saturation vs onnxruntime-node direct (inferences/s)');
    const heads = servers.flatMap((s) => [s.label, `${s.label} / direct`]);
    table(['batch', 'direct', ...heads, `mean batch executed (${servers[0]!.label})`, 'concurrency', `${servers[0]!.label} p50 ms`], rows);

    const bestOf = (m: Map<number, number>): [number, number] => [...m].reduce((x, y) => (y[1] > x[1] ? y : x));
    const b1 = args.batches.includes(1);
    const line = (label: string, m: Map<number, number>): string[] => {
      const [bb, v] = bestOf(m);
      return [label, b1 ? m.get(1)!.toFixed(0) : '-', String(bb), v.toFixed(0), b1 ? `${(v / m.get(1)!).toFixed(2)}x` : '-'];
    };
    console.log('\n## batch 1 vs the best batch (inferences/s)');
    table(
      ['path', 'batch 1', 'best batch', 'best', 'speed-up'],
      [line('direct', dir), ...servers.map((s, i) => line(s.label, new Map([...srv[i]!].map(([b, f]) => [b, f.ips]))))],
    );

    if (args.dynamic) await dynamicTable(client, channel, args, cfg, meta);
  } finally {
    await session.release();
    for (const s of servers) {
      s.channel.close();
      s.client.close();
      await s.server.stop();
    }
  }
}

/** Batch-1 requests at rising concurrency, without and with dynamic batching (1 ms queue delay). */
async function dynamicTable(client: InferenceClient, channel: RawChannel, args: Args, cfg: ModelConfig, meta: Awaited<ReturnType<InferenceClient['modelMetadata']>>): Promise<void> {
  console.log('\n## batch-1 requests: without and with dynamic batching (1000 µs queue delay)');
  const rows: string[][] = [];
  const bytes = serializeInferRequest(makeInferRequest(meta, 1, 7));
  for (const dynamic of [false, true]) {
    const c: ModelConfig = { ...cfg };
    if (dynamic) c.dynamic_batching = { max_queue_delay_microseconds: 1000 };
    await client.repositoryModelLoad(args.model, modelConfigToJson(c));
    for (const conc of [1, 2, 4, 8, 16]) {
      const f = await served(channel, client, args.model, bytes, 1, [conc], args.seconds);
      rows.push([dynamic ? 'dynamic batching' : 'no dynamic batching', String(conc), f.ips.toFixed(0), f.p50Ms.toFixed(2), f.meanBatch.toFixed(2)]);
    }
  }
  table(['configuration', 'concurrency', 'infer/s', 'p50 ms', 'mean batch'], rows, [0]);
}

main().catch((e) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
