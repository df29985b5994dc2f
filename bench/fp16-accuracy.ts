// How close is tanalyze's FP16 conversion to the FP32 model, run through ONNX Runtime on the CPU?
//
//   npx tsc -p tsconfig.json && node dist/bench/fp16-accuracy.js [--model PATH] [--images 256] [--seed 1]
//
// Default model: the shipped examples/model_repository/tiny_resnet (its config.pbtxt decides
// which inputs/outputs keep FP32). Inputs are seeded pseudo-images in [0, 1). Prints the
// conversion, the error table (absolute, relative to the FP32 logit range, top-1 agreement)
// per batch size, and which ops ONNX Runtime's CPU provider runs in FP32 after all (it casts
// nodes that have no FP16 kernel back to FP32 itself).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseModelConfig } from '../src/config/pbtxt.js';
import { modelProtoType, randomImages } from '../src/onnx/build-model.js';
import { convertModelPrecision, edgeTypesFromConfig } from '../src/onnx/convert-precision.js';
import { fromPackageRoot } from '../src/util/package-root.js';

function parseArgs(argv: string[]): { model: string; images: number; seed: number } {
  const a = { model: fromPackageRoot('examples', 'model_repository', 'tiny_resnet', '1', 'model.onnx'), images: 256, seed: 1 };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i]!, argv[i + 1]];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--model') a.model = v;
    else if (k === '--images') a.images = Number(v);
    else if (k === '--seed') a.seed = Number(v);
    else throw new Error(`unknown flag ${k}; accepted: --model, --images, --seed`);
  }
  if (!Number.isInteger(a.images) || a.images < 1) throw new Error(`--images must be a positive integer, got ${a.images}`);
  return a;
}

/** Op types that ONNX Runtime feeds through the Casts it inserted to run them in FP32. */
async function opsRunInFp32(bytes: Uint8Array): Promise<{ ops: string[]; inserted: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-fp16-bench-'));
  try {
    const file = join(dir, 'opt.onnx');
    const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', optimizedModelFilePath: file });
    await s.release();
    const g = (modelProtoType().toObject(modelProtoType().decode(readFileSync(file)), { defaults: false }) as any).graph;
    const inserted = new Set<string>(g.node.filter((n: any) => n.opType === 'Cast' && /^InsertedPrecisionFreeCast/.test(n.name)).map((n: any) => n.output[0]));
    const ops = new Set<string>(g.node.filter((n: any) => n.input.some((i: string) => inserted.has(i))).map((n: any) => n.opType));
    return { ops: [...ops].sort(), inserted: inserted.size };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const src = readFileSync(args.model);
  const config = parseModelConfig(readFileSync(join(dirname(dirname(args.model)), 'config.pbtxt'), 'utf8'));
  const input = config.input![0]!;
  const dims = input.dims!.map(Number);
  const started = Date.now();
  const { bytes, report } = convertModelPrecision(src, { target: 'FP16', edgeTypes: edgeTypesFromConfig([...(config.input ?? []), ...(config.output ?? [])]) });
  const ms = Date.now() - started;
  console.log(`model: ${args.model}`);
  console.log(`conversion: ${ms} ms, ${(src.length / 1e6).toFixed(2)} MB -> ${(bytes.length / 1e6).toFixed(2)} MB; ${report.initializersConverted} weights to FP16, ${report.valuesClamped} clamped, ${report.castsAdded} edge casts, kept FP32: ${report.keptFp32.join(', ') || 'none'}`);
  const fp32 = await ort.InferenceSession.create(src);
  const fp16 = await ort.InferenceSession.create(bytes);
  console.log(`\n${args.images} seeded images, ONNX Runtime ${ort.env.versions?.['node'] ?? ''} CPU\n`);
  console.log('| batch | max abs err | mean abs err | max err / FP32 range | top-1 agree | FP32 ms | FP16 ms |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const batch of [1, 8]) {
    let maxErr = 0;
    let sumErr = 0;
    let count = 0;
    let range = 0;
    let agree = 0;
    let t32 = 0;
    let t16 = 0;
    for (let i = 0; i < args.images; i += batch) {
      const b = Math.min(batch, args.images - i);
      const x = new ort.Tensor('float32', randomImages(b, dims[1]!, args.seed * 100_003 + i), [b, ...dims]);
      let t = performance.now();
      const a = (await fp32.run({ [input.name]: x }))[fp32.outputNames[0]!]!.data as Float32Array;
      t32 += performance.now() - t;
      t = performance.now();
      const h = (await fp16.run({ [input.name]: x }))[fp16.outputNames[0]!]!.data as Float32Array;
      t16 += performance.now() - t;
      const classes = a.length / b;
      for (let j = 0; j < a.length; j++) {
        const e = Math.abs(a[j]! - h[j]!);
        maxErr = Math.max(maxErr, e);
        sumErr += e;
        range = Math.max(range, Math.abs(a[j]!));
        count++;
      }
      for (let k = 0; k < b; k++) {
        const ra = Array.from(a.subarray(k * classes, (k + 1) * classes));
        const rh = Array.from(h.subarray(k * classes, (k + 1) * classes));
        if (ra.indexOf(Math.max(...ra)) === rh.indexOf(Math.max(...rh))) agree++;
      }
    }
    const calls = Math.ceil(args.images / batch);
    console.log(`| ${batch} | ${maxErr.toExponential(2)} | ${(sumErr / count).toExponential(2)} | ${((100 * maxErr) / range).toFixed(3)}% (range ${range.toFixed(3)}) | ${agree}/${args.images} | ${(t32 / calls).toFixed(2)} | ${(t16 / calls).toFixed(2)} |`);
  }
  await fp32.release();
  await fp16.release();
  const fallback = await opsRunInFp32(bytes);
  console.log(
    `\nONNX Runtime CPU: ${fallback.inserted} Casts inserted to run ${fallback.ops.join(', ') || 'nothing'} in FP32 (no FP16 kernel for them here), so on this CPU the FP16 variant measures FP16 weights with FP32 arithmetic; TensorRT runs the same graph in FP16.`,
  );
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
