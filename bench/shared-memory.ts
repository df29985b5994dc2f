// What --shared-memory system changes: the same requests with their inputs inside the gRPC
// message (none) or in a registered POSIX shared-memory region (system), on the embedded
// server and on the real Triton (.triton/, scripts/install-triton.sh), in one run:
//
//   node dist/bench/shared-memory.js [--servers embedded,triton] [--concurrency 1,4,16]
//        [--cases tiny_resnet:1,tiny_resnet:8,big_mean:1] [--rounds 3] [--window 1000]
//
// A case is model:batch. tiny_resnet (examples/, 12 KB of FP32 per image) answers 10
// logits per image; big_mean, made here, takes a 3x224x224 FP32 image (588 KB, ResNet-50's
// input) and answers its 3 channel means, so its requests are almost all input: the case
// shared memory is for. Outputs come back over gRPC in both modes.
// For each server, case and concurrency, the two modes alternate inside each round (the
// order flips every round, so a slow spell of a shared machine hits both); each measurement
// is closed-loop load from one worker thread (as --load-workers 1: the embedded server then
// has the main thread to itself), a warm-up and two windows; the median round is printed.
// A second table isolates the embedded server's own cost per request on its event loop:
// decoding the request and preparing its inputs (for system: the parameters and one pread
// of the region), timed in this process without load, so a busy machine disturbs it less.

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { createInferenceClient } from '../src/protocol/client.js';
import type { InferenceClient } from '../src/protocol/types.js';
import { makeInferRequest, serializeInferRequest } from '../src/load/infer-requests.js';
import { placeInputsInSharedMemory } from '../src/load/shared-memory.js';
import { LoadWorkerPool } from '../src/load/workers.js';
import { measureLoadPoint } from '../src/measure/windows.js';
import { startEmbeddedServer } from '../src/server/server.js';
import { modelProtoType, IR_VERSION, OPSET_VERSION, OnnxDataType } from '../src/onnx/build-model.js';
import { fromPackageRoot } from '../src/util/package-root.js';
import { median } from '../src/measure/stats.js';
import { inferenceServiceDefinition } from '../src/protocol/service.js';
import { prepareInferRequest, type InferRequestIn } from '../src/server/infer-request.js';
import { SystemSharedMemory } from '../src/server/shared-memory.js';
import { SharedMemoryObject, layoutInputs, sharedMemoryRequest, uniqueRegionName } from '../src/load/shared-memory.js';
import { parseModelConfig } from '../src/config/pbtxt.js';
import type { ModelConfig } from '../src/config/types.js';
import { exampleRepository, startRealTriton } from '../test/triton/real-triton.js';

interface Args {
  servers: string[];
  concurrency: number[];
  cases: { model: string; batch: number }[];
  rounds: number;
  windowMs: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { servers: ['embedded', 'triton'], concurrency: [1, 4, 16], cases: parseCases('tiny_resnet:1,tiny_resnet:8,big_mean:1'), rounds: 3, windowMs: 1000 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--help' || k === '-h') {
      console.log('usage: bench/shared-memory [--servers embedded,triton] [--concurrency 1,4,16] [--cases tiny_resnet:1,tiny_resnet:8,big_mean:1] [--rounds 3] [--window 1000]');
      process.exit(0);
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--servers') a.servers = v.split(',').filter(Boolean);
    else if (k === '--concurrency') a.concurrency = v.split(',').map(Number);
    else if (k === '--cases') a.cases = parseCases(v);
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--window') a.windowMs = Number(v);
    else throw new Error(`unknown flag ${k}`);
  }
  return a;
}

function parseCases(v: string): Args['cases'] {
  return v.split(',').map((c) => {
    const [model, batch] = c.split(':');
    if (!model || !(Number(batch) >= 1)) throw new Error(`--cases: '${c}' is not model:batch`);
    return { model, batch: Number(batch) };
  });
}

const BIG_DIMS = [3, 224, 224];

/** ONNX: logits = ReduceMean(input, axes [2, 3]): [batch, 3, 224, 224] -> [batch, 3]. */
function bigMeanOnnx(): Uint8Array {
  const t = modelProtoType();
  const vi = (name: string, dims: (number | string)[]) => ({ name, type: { tensorType: { elemType: OnnxDataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });
  const obj = {
    irVersion: IR_VERSION,
    producerName: 'tanalyze-bench',
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
    graph: {
      name: 'big_mean',
      node: [{ opType: 'ReduceMean', name: 'mean', input: ['input'], output: ['logits'], attribute: [{ name: 'axes', type: 7, ints: [2, 3] }, { name: 'keepdims', type: 2, i: 0 }] }],
      input: [vi('input', ['batch', ...BIG_DIMS])],
      output: [vi('logits', ['batch', 3])],
    },
  };
  return t.encode(t.fromObject(obj)).finish();
}

function bigMeanConfig(backend: 'onnx' | 'python'): string {
  return [
    'name: "big_mean"',
    backend === 'onnx' ? 'platform: "onnxruntime_onnx"' : 'backend: "python"',
    'max_batch_size: 8',
    `input [ { name: "input" data_type: TYPE_FP32 dims: [ ${BIG_DIMS.join(', ')} ] } ]`,
    'output [ { name: "logits" data_type: TYPE_FP32 dims: [ 3 ] } ]',
    'instance_group [ { count: 1 kind: KIND_CPU } ]',
    '',
  ].join('\n');
}

const BIG_MEAN_PY = [
  'import numpy as np',
  'import triton_python_backend_utils as pb_utils',
  '',
  'class TritonPythonModel:',
  '    def execute(self, requests):',
  '        out = []',
  '        for r in requests:',
  '            x = pb_utils.get_input_tensor_by_name(r, "input").as_numpy()',
  '            out.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("logits", x.mean(axis=(2, 3)).astype(np.float32))]))',
  '        return out',
  '',
].join('\n');

/** The embedded server's repository: the shipped examples plus big_mean. */
function embeddedRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-bench-shm-'));
  for (const m of ['tiny_resnet']) {
    mkdirSync(join(dir, m, '1'), { recursive: true });
    writeFileSync(join(dir, m, 'config.pbtxt'), readText(fromPackageRoot('examples', 'model_repository', m, 'config.pbtxt')));
    writeFileSync(join(dir, m, '1', 'model.onnx'), readBytes(fromPackageRoot('examples', 'model_repository', m, '1', 'model.onnx')));
  }
  mkdirSync(join(dir, 'big_mean', '1'), { recursive: true });
  writeFileSync(join(dir, 'big_mean', 'config.pbtxt'), bigMeanConfig('onnx'));
  writeFileSync(join(dir, 'big_mean', '1', 'model.onnx'), bigMeanOnnx());
  return dir;
}

const readText = (f: string): string => readFileSync(f, 'utf8');
const readBytes = (f: string): Buffer => readFileSync(f);

interface Row {
  server: string;
  model: string;
  batch: number;
  concurrency: number;
  requestBytes: Record<Mode, number>;
  ips: Record<Mode, number[]>;
  p99: Record<Mode, number[]>;
}
type Mode = 'none' | 'system';
const MODES: Mode[] = ['none', 'system'];


async function benchServer(server: string, address: string, client: InferenceClient, args: Args, rows: Row[]): Promise<void> {
  const pool = await LoadWorkerPool.start({ address, workers: 1 });
  const settings = { windowMs: args.windowMs, minWindows: 2, maxWindows: 2, stabilityTolerance: 1, warmupMs: 300 };
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  try {
    for (const c of args.cases) {
      const request = { ...makeInferRequest(await client.modelMetadata(c.model), c.batch, 7), model_name: c.model };
      const placed = await placeInputsInSharedMemory(client, request);
      try {
        const bytes: Record<Mode, Uint8Array> = { none: serializeInferRequest(request), system: serializeInferRequest(placed.request) };
        // Both forms answer, and alike, before anything is timed.
        const [a, b] = await Promise.all([client.modelInfer(request), client.modelInfer(placed.request)]);
        if (!a.raw_output_contents[0]!.equals(b.raw_output_contents[0]!)) throw new Error(`${server} ${c.model}: outputs differ between gRPC and shared-memory inputs`);
        const mine = args.concurrency.map((k) => {
          const row: Row = { server, model: c.model, batch: c.batch, concurrency: k, requestBytes: { none: bytes.none.byteLength, system: bytes.system.byteLength }, ips: { none: [], system: [] }, p99: { none: [], system: [] } };
          rows.push(row);
          return row;
        });
        for (let round = 0; round < args.rounds; round++) {
          for (const row of mine) {
            for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
              const p = await measureLoadPoint({ driver: pool.driver({ mode: 'concurrency', request: bytes[mode] }), concurrency: row.concurrency, settings, sleep, inferencesPerRequest: c.batch });
              if (p.errors > 0) throw new Error(`${server} ${c.model} ${mode}: ${p.firstError}`);
              row.ips[mode].push(p.throughputIps);
              row.p99[mode].push(p.p99Ms);
            }
          }
          process.stderr.write(`${server} ${c.model}:${c.batch} round ${round + 1}/${args.rounds} done (load ${loadavg()[0]!.toFixed(2)})\n`);
        }
      } finally {
        await placed.release();
      }
    }
  } finally {
    await pool.close();
  }
}

/** µs per request on the embedded server's event loop: decode the wire bytes, then prepare the inputs (median of 5 runs of `n`). */
function serverCostUs(config: ModelConfig, request: ReturnType<typeof makeInferRequest>, n: number): Record<Mode, number> {
  const decode = inferenceServiceDefinition()['ModelInfer']!.requestDeserialize;
  const raw = request.raw_input_contents!;
  const { offsets, byteSize } = layoutInputs(raw.map((b) => b.byteLength));
  const name = uniqueRegionName();
  const obj = SharedMemoryObject.create(name, Math.max(byteSize, 4096), raw.map((bytes, i) => ({ offset: offsets[i]!, bytes })));
  const shm = new SystemSharedMemory();
  try {
    shm.register({ name, key: obj.key, offset: 0, byte_size: Math.max(byteSize, 4096) });
    const wire: Record<Mode, Buffer> = { none: serializeInferRequest(request), system: serializeInferRequest(sharedMemoryRequest(request, name, offsets)) };
    const out = { none: 0, system: 0 };
    for (const mode of MODES) {
      const runs: number[] = [];
      for (let r = 0; r < 5; r++) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < n; i++) {
          // As the server does: the buffers go back to the pool once the request is answered.
          const borrowed: Buffer[] = [];
          prepareInferRequest(config, decode(wire[mode]) as InferRequestIn, { read: (region, o, size) => borrowed[borrowed.push(shm.read(region, o, size)) - 1]! });
          shm.recycle(borrowed);
        }
        runs.push(Number(process.hrtime.bigint() - t0) / 1e3 / n);
      }
      out[mode] = median(runs);
    }
    return out;
  } finally {
    shm.close();
    obj.remove();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const costRepo = embeddedRepository();
  const costs = args.cases.map((c) => {
    const config = parseModelConfig(readText(join(costRepo, c.model, 'config.pbtxt')));
    const inputs = (config.input ?? []).map((t) => ({ name: t.name, datatype: 'FP32', shape: [-1, ...(t.dims ?? []).map(Number)] }));
    const request = makeInferRequest({ name: c.model, versions: ['1'], platform: '', inputs, outputs: [] }, c.batch, 7);
    return { ...c, us: serverCostUs(config, request, 300) };
  });
  const rows: Row[] = [];
  const loadBefore = loadavg();
  for (const server of args.servers) {
    if (server === 'embedded') {
      const s = await startEmbeddedServer({ repository: embeddedRepository(), modelControl: 'none' });
      const client = createInferenceClient(s.address, { deadlineMs: 60_000 });
      try {
        await benchServer('embedded', s.address, client, args, rows);
      } finally {
        client.close();
        await s.stop();
      }
    } else if (server === 'triton') {
      const repo = exampleRepository(['tiny_resnet'], { big_mean: { config: bigMeanConfig('python'), modelPy: BIG_MEAN_PY } });
      const t = await startRealTriton({ repository: repo, loadModels: ['tiny_resnet', 'big_mean'] });
      try {
        await benchServer('triton', t.grpcAddress, t.client, args, rows);
      } finally {
        await t.stop();
      }
    } else throw new Error(`--servers: '${server}' is not embedded or triton`);
  }
  const loadAfter = loadavg();

  console.log(`\n${cpus().length} cores; load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after; median of ${args.rounds} interleaved rounds, 2 windows of ${args.windowMs} ms each\n`);
  console.log('| server | model:batch | request bytes none / system | concurrency | inf/s none | inf/s system | system/none | p99 ms none | p99 ms system |');
  console.log('|---|---|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const ips = { none: median(r.ips.none), system: median(r.ips.system) };
    const p99 = { none: median(r.p99.none), system: median(r.p99.system) };
    console.log(`| ${r.server} | ${r.model}:${r.batch} | ${r.requestBytes.none} / ${r.requestBytes.system} | ${r.concurrency} | ${ips.none.toFixed(0)} | ${ips.system.toFixed(0)} | ${(ips.system / ips.none).toFixed(2)} | ${p99.none.toFixed(2)} | ${p99.system.toFixed(2)} |`);
  }
  console.log('\nEmbedded server, its event loop per request (decode + prepare inputs), µs, median of 5 x 300:\n');
  console.log('| model:batch | none | system |');
  console.log('|---|---:|---:|');
  for (const c of costs) console.log(`| ${c.model}:${c.batch} | ${c.us.none.toFixed(1)} | ${c.us.system.toFixed(1)} |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
