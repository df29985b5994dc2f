// Writes the example Triton model repository (examples/model_repository by default):
//
//   node dist/scripts/make-example-model.js [--out DIR]
//
//   tiny_resnet/{config.pbtxt,1/model.onnx}  ResNet-style CNN, FP32 [3,32,32] -> [10]
//   identity/{config.pbtxt,1/model.onnx}     Identity, FP32 [16] -> [16]
//
// The configs are the "default configuration" a user starts from: no dynamic_batching,
// one CPU instance. Output is deterministic (fixed seed), so reruns give identical bytes.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TINY_RESNET, convNetModel, identityModel } from '../src/onnx/build-model.js';
import { fromPackageRoot } from '../src/util/package-root.js';

interface ExampleModel {
  name: string;
  maxBatchSize: number;
  input: { name: string; dims: number[] };
  output: { name: string; dims: number[] };
  onnx: () => Uint8Array;
}

export const EXAMPLE_MODELS: readonly ExampleModel[] = [
  {
    name: 'tiny_resnet',
    maxBatchSize: 8,
    input: { name: 'input', dims: [3, TINY_RESNET.imageSize, TINY_RESNET.imageSize] },
    output: { name: 'logits', dims: [TINY_RESNET.classes] },
    onnx: () => convNetModel(TINY_RESNET),
  },
  {
    name: 'identity',
    maxBatchSize: 64,
    input: { name: 'input', dims: [16] },
    output: { name: 'output', dims: [16] },
    onnx: () => identityModel({ inputName: 'input', outputName: 'output', dims: [16] }),
  },
];

export function configPbtxt(m: ExampleModel): string {
  return `name: "${m.name}"
platform: "onnxruntime_onnx"
max_batch_size: ${m.maxBatchSize}
input [
  {
    name: "${m.input.name}"
    data_type: TYPE_FP32
    dims: [ ${m.input.dims.join(', ')} ]
  }
]
output [
  {
    name: "${m.output.name}"
    data_type: TYPE_FP32
    dims: [ ${m.output.dims.join(', ')} ]
  }
]
instance_group [
  {
    count: 1
    kind: KIND_CPU
  }
]
`;
}

export function writeExampleRepository(outDir: string): string[] {
  const written: string[] = [];
  for (const m of EXAMPLE_MODELS) {
    const dir = join(outDir, m.name);
    mkdirSync(join(dir, '1'), { recursive: true });
    writeFileSync(join(dir, 'config.pbtxt'), configPbtxt(m));
    writeFileSync(join(dir, '1', 'model.onnx'), m.onnx());
    written.push(join(dir, 'config.pbtxt'), join(dir, '1', 'model.onnx'));
  }
  return written;
}

function main(argv: string[]): void {
  let out = fromPackageRoot('examples', 'model_repository');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && argv[i + 1]) out = resolve(argv[++i]!);
    else if (argv[i] === '--help' || argv[i] === '-h') {
      console.log('usage: make-example-model [--out DIR]   (default: examples/model_repository)');
      return;
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  for (const f of writeExampleRepository(out)) console.log(`wrote ${f}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  }
}
