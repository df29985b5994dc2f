// How much does batching buy for a model run directly in onnxruntime-node (no server)?
//
//   node .build-onnx/bench/onnx-batching.js [--model PATH | --arch JSON] [--seconds 3]
//        [--batches 1,2,4,8,16,32] [--threads default,1]
//
// Default model: examples/model_repository/tiny_resnet/1/model.onnx. --arch builds a
// convNetModel in memory instead (architecture exploration). Each row gets --seconds of
// measuring, split into rounds that interleave the batch sizes, and reports the median
// round, so slow spells of a shared machine hit all rows alike.

import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import * as ort from 'onnxruntime-node';
import { convNetModel, decodeModel, randomImages, type ConvNetModelOptions } from '../src/onnx/build-model.js';
import { fromPackageRoot } from '../src/util/package-root.js';
import { median } from '../src/measure/stats.js';

interface Args {
  model: string;
  arch?: ConvNetModelOptions;
  seconds: number;
  batches: number[];
  threads: ('default' | number)[];
  rounds: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    model: fromPackageRoot('examples', 'model_repository', 'tiny_resnet', '1', 'model.onnx'),
    seconds: 3,
    batches: [1, 2, 4, 8, 16, 32],
    threads: ['default', 1],
    rounds: 8,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${k} needs a value`);
    i++;
    if (k === '--model') a.model = v;
    else if (k === '--arch') a.arch = { classes: 10, seed: 1, ...JSON.parse(v) } as ConvNetModelOptions;
    else if (k === '--seconds') a.seconds = Number(v);
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--batches') a.batches = v.split(',').map(Number);
    else if (k === '--threads') a.threads = v.split(',').map((t) => (t === 'default' ? 'default' : Number(t)));
    else throw new Error(`unknown option ${k}`);
  }
  if (!(a.seconds > 0) || a.batches.some((b) => !(b >= 1))) throw new Error('bad --seconds or --batches');
  return a;
}

/** Input name and per-image dims (without batch) from the model's graph input. */
function inputOf(bytes: Uint8Array): { name: string; dims: number[] } {
  const g = decodeModel(bytes).graph as {
    input: { name: string; type: { tensorType: { shape: { dim: { dimValue?: number }[] } } } }[];
  };
  const inp = g.input[0]!;
  return { name: inp.name, dims: inp.type.tensorType.shape.dim.slice(1).map((d) => Number(d.dimValue)) };
}


async function benchSession(bytes: Uint8Array, threads: 'default' | number, args: Args): Promise<void> {
  const opts: ort.InferenceSession.SessionOptions = threads === 'default' ? {} : { intraOpNumThreads: threads };
  const session = await ort.InferenceSession.create(bytes, opts);
  const { name, dims } = inputOf(bytes);
  const per = dims.reduce((x, y) => x * y, 1);
  const feeds = new Map<number, Record<string, ort.Tensor>>();
  for (const b of args.batches) {
    const data = dims.length === 3 && dims[1] === dims[2] ? randomImages(b, dims[1]!, 7) : new Float32Array(b * per).fill(0.5);
    feeds.set(b, { [name]: new ort.Tensor('float32', data, [b, ...dims]) });
  }
  for (const b of args.batches) for (let i = 0; i < 3; i++) await session.run(feeds.get(b)!);

  const slice = (args.seconds * 1000) / args.rounds;
  const msPerBatch = new Map<number, number[]>(args.batches.map((b) => [b, []]));
  for (let r = 0; r < args.rounds; r++) {
    for (const b of args.batches) {
      const feed = feeds.get(b)!;
      let n = 0;
      const t0 = performance.now();
      while (n < 2 || performance.now() - t0 < slice) {
        await session.run(feed);
        n++;
      }
      msPerBatch.get(b)!.push((performance.now() - t0) / n);
    }
  }
  await session.release();

  const label = threads === 'default' ? 'default intra-op threads' : `intraOpNumThreads=${threads}`;
  console.log(`\n${label}`);
  console.log('| batch | ms/batch | images/s | speed-up vs batch 1 |');
  console.log('|------:|---------:|---------:|--------------------:|');
  const base = args.batches[0]!;
  const ips = (b: number): number => (b * 1000) / median(msPerBatch.get(b)!);
  for (const b of args.batches) {
    const ms = median(msPerBatch.get(b)!);
    console.log(`| ${b} | ${ms.toFixed(2)} | ${ips(b).toFixed(0)} | ${(ips(b) / ips(base)).toFixed(2)}x |`);
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const bytes = args.arch ? convNetModel(args.arch) : new Uint8Array(readFileSync(args.model));
  const what = args.arch ? `convNetModel ${JSON.stringify(args.arch)}` : args.model;
  console.log(`model: ${what} (${(bytes.byteLength / 1e6).toFixed(2)} MB)`);
  console.log(`onnxruntime-node ${ort.env.versions.common ?? ''}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ` +
    `${args.seconds}s per row in ${args.rounds} interleaved rounds, median round`);
  for (const t of args.threads) await benchSession(bytes, t, args);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
