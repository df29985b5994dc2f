#!/usr/bin/env node
// FAKE trtexec, for tests only. It is not TensorRT: it records its arguments, replays
// log output shaped like trtexec's (banner, options, device, build, &&&& PASSED /
// &&&& FAILED), and for a build writes a small FAKE engine file at --saveEngine.
//
// It plays two TensorRT generations (FAKE_TRTEXEC_VERSION):
// - 10 and older (weakly typed): --fp16/--bf16/--int8 choose the layers' precision.
// - 11 and newer (strongly typed only): those flags and --calib were removed, and are
//   refused as unknown options, as the real trtexec refuses options it does not know;
//   the layers run in the types of the ONNX graph (its weights' types, Int8 after
//   DequantizeLinear).
// With --exportLayerInfo=<file> it writes FAKE layer information in the schema of its
// generation (10: "Format/Datatype"; 11: "Format" and "DataType", "I/O Tensors"); with
// --profilingVerbosity=detailed only does it include tensor types, as the real one.
//
// Environment (all optional):
//   FAKE_TRTEXEC_ARGV_FILE  append one JSON line per run: {argv, pid}
//   FAKE_TRTEXEC_MODE       ok (default) | fail (parse error, exit 1) | hang | no-engine (PASSED, no file) | crash (SIGKILL mid-build)
//                           | silent-fp32 (precision flags only warned about; every layer FP32; exit 0: the wrong engine users saw)
//                           | no-layer-info (builds, writes no layer information)
//   FAKE_TRTEXEC_VERSION    NV_TENSORRT_VERSION in the banner (default 100300 = 10.3.0; 110400 = 11.4.0)
//   FAKE_TRTEXEC_GPU        device name (default "NVIDIA H100 80GB HBM3")
//   FAKE_TRTEXEC_DELAY_MS   build time (default 30)
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const env = process.env;
const argv = process.argv.slice(2);
if (env.FAKE_TRTEXEC_ARGV_FILE) appendFileSync(env.FAKE_TRTEXEC_ARGV_FILE, JSON.stringify({ argv, pid: process.pid }) + '\n');

const version = env.FAKE_TRTEXEC_VERSION || '100300';
const gpu = env.FAKE_TRTEXEC_GPU || 'NVIDIA H100 80GB HBM3';
const mode = env.FAKE_TRTEXEC_MODE || 'ok';
const cmd = `trtexec ${argv.join(' ')}`;
const now = () => {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `[${p(d.getMonth() + 1)}/${p(d.getDate())}/${d.getFullYear()}-${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}]`;
};
const I = (s) => process.stdout.write(`${now()} [I] ${s}\n`);
const W = (s) => process.stdout.write(`${now()} [W] ${s}\n`);
const E = (s) => process.stderr.write(`${now()} [E] ${s}\n`);
// The last occurrence of an option wins.
const opt = (name) => {
  const a = argv.filter((x) => x.startsWith(`--${name}=`)).at(-1);
  return a === undefined ? undefined : a.slice(name.length + 3);
};
const has = (name) => argv.includes(`--${name}`);
const major = Number(version) >= 10000 ? Math.floor(Number(version) / 10000) : Math.floor(Number(version) / 1000);
const strongOnly = major >= 11;
const failed = () => {
  process.stdout.write(`&&&& FAILED TensorRT.trtexec [TensorRT v${version}] # ${cmd}\n`);
  process.exit(1);
};

process.stdout.write(`&&&& RUNNING TensorRT.trtexec [TensorRT v${version}] # ${cmd}\n`);
if (has('help') || argv.length === 0) {
  const precisionHelp = strongOnly
    ? '  --stronglyTyped             Create a strongly typed network (default in this version)\n'
    : '  --fp16                      Enable fp16 precision, in addition to fp32 (default = disabled)\n  --int8                      Enable int8 precision, in addition to fp32 (default = disabled)\n  --calib=<file>              Read INT8 calibration cache file\n  --stronglyTyped             Create a strongly typed network\n';
  process.stdout.write(`=== Model Options ===\n  --onnx=<file>               ONNX model\n=== Build Options ===\n  --minShapes=spec            Build with dynamic shapes using a profile with the min shapes provided\n${precisionHelp}  --saveEngine=<file>         Save the serialized engine\n  --skipInference             Exit after the engine has been built and skip inference perf measurement\n  --exportLayerInfo=<file>    Write the layer information of the engine in JSON\n  --profilingVerbosity=mode   layer_names_only | detailed | none\n`);
  process.stdout.write(`&&&& PASSED TensorRT.trtexec [TensorRT v${version}] # ${cmd}\n`);
  process.exit(0);
}

// TensorRT 11 removed the weak-typing precision flags: unknown options end the run.
const removed = ['--fp16', '--bf16', '--int8', '--fp8', '--int4', '--best'];
const removedUsed = argv.filter((a) => removed.includes(a) || a.startsWith('--calib='));
if (strongOnly && removedUsed.length) {
  if (mode === 'silent-fp32') {
    for (const a of removedUsed) W(`${a} has no effect: networks are strongly typed`);
  } else {
    E(`Unknown option: ${removedUsed[0]}`);
    failed();
  }
}

const onnx = opt('onnx');
const engine = opt('saveEngine');
const precisionText = strongOnly ? 'Strongly typed' : ['FP32', has('fp16') ? 'FP16' : null, has('bf16') ? 'BF16' : null, has('int8') ? 'INT8' : null].filter(Boolean).join('+');
I('=== Model Options ===');
I('Format: ONNX');
I(`Model: ${onnx}`);
I('Output:');
I('=== Build Options ===');
I('Memory Pools: workspace: default, dlaSRAM: default, dlaLocalDRAM: default, dlaGlobalDRAM: default, tacticSharedMem: default');
I(`Precision: ${precisionText}`);
if (!strongOnly) I(`Calibration: ${has('int8') ? (opt('calib') ?? 'Dynamic') : ''}`);
I(`Input build shape (profile 0): min ${opt('minShapes') ?? '-'} opt ${opt('optShapes') ?? '-'} max ${opt('maxShapes') ?? '-'}`);
I(`Save engine: ${engine ?? ''}`);
I('=== Device Information ===');
I('Available Devices: ');
I(`  Device 0: "${gpu}" UUID: GPU-fa4e0000-0000-4000-8000-00000000fake`);
I(`Selected Device: ${gpu}`);
I(`TensorRT version: ${major}.${Math.floor(Number(version) / 100) % (major >= 10 ? 100 : 10)}.${Number(version) % 100}`);
I('[TRT] ----------------------------------------------------------------');
I(`[TRT] Input filename:   ${onnx}`);
I('[TRT] ONNX IR version:  0.0.8');
I('[TRT] Opset version:    17');
if (!strongOnly && has('int8') && !opt('calib')) W('[TRT] Calibrator is not being used. Users must provide dynamic range for all tensors that are not Int32 or Bool.');
if (!strongOnly && mode === 'silent-fp32' && (has('fp16') || has('bf16') || has('int8'))) W('[TRT] No implementation obeys the requested precision; falling back to FP32 kernels.');

if (mode === 'fail') {
  E('[TRT] ModelImporter.cpp:949: While parsing node number 3 [Conv -> "/layer1/conv/Conv_output_0"]:');
  E('[TRT] ModelImporter.cpp:951: ERROR: ModelImporter.cpp:195 In function parseGraph: [6] Invalid Node - /layer1/conv/Conv');
  E('Failed to parse onnx file');
  E('Parsing model failed');
  E('Failed to create engine from model or file.');
  E('Engine set up failed');
  failed();
}

// ------------------------------------------------------------ FAKE layer information

/** The graph's nodes, initializer types and IO, read with the project's own onnx.proto. */
async function readGraph(file) {
  const protobuf = (await import('protobufjs')).default;
  const here = dirname(fileURLToPath(import.meta.url));
  const root = protobuf.loadSync(join(here, '..', '..', 'src', 'onnx', 'onnx.proto'));
  const T = root.lookupType('onnx.ModelProto');
  const m = T.toObject(T.decode(readFileSync(file)), { longs: Number, defaults: false });
  const g = m.graph ?? {};
  const initTypes = new Map((g.initializer ?? []).map((t) => [t.name, t.dataType]));
  const ioType = (vi) => vi.type?.tensorType?.elemType;
  return { nodes: g.node ?? [], initTypes, inputs: (g.input ?? []).filter((v) => !initTypes.has(v.name)).map((v) => ({ name: v.name, type: ioType(v) })), outputs: (g.output ?? []).map((v) => ({ name: v.name, type: ioType(v) })) };
}

const ONNX_TYPE = { 1: 'FP32', 10: 'FP16', 16: 'BF16', 3: 'INT8', 6: 'INT32', 7: 'INT64', 9: 'BOOL' };
const HEAVY = { Conv: ['CaskConvolution', 'Convolution'], ConvTranspose: ['CaskDeconvolution', 'Deconvolution'], Gemm: ['CaskGemmMatrixMultiply', 'MatrixMultiply'], MatMul: ['CaskGemmMatrixMultiply', 'MatrixMultiply'] };

function layersFor(graph) {
  // The precision the weakly typed builder would pick (10), or the graph's own types (11).
  const flagPrecision = mode === 'silent-fp32' ? 'FP32' : has('int8') ? 'INT8' : has('fp16') ? 'FP16' : has('bf16') ? 'BF16' : 'FP32';
  const fromDq = new Set(graph.nodes.filter((n) => n.opType === 'DequantizeLinear').map((n) => n.output[0]));
  const layers = [];
  for (const n of graph.nodes) {
    if (n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear' || n.opType === 'Identity') continue;
    let p;
    if (mode === 'silent-fp32') p = 'FP32';
    else if (!strongOnly) p = flagPrecision;
    else if (fromDq.has(n.input[0])) p = 'INT8';
    else p = ONNX_TYPE[graph.initTypes.get(n.input[1])] ?? ONNX_TYPE[graph.initTypes.get(n.input[0])] ?? null;
    if (n.opType === 'Cast') {
      const to = (n.attribute ?? []).find((a) => a.name === 'to')?.i;
      layers.push({ name: n.name || 'cast', type: 'Cast', param: 'Cast', in: 'FP32', out: ONNX_TYPE[to] ?? 'FP32' });
      continue;
    }
    const [type, param] = HEAVY[n.opType] ?? ['PointWiseV2', n.opType];
    layers.push({ name: n.name || n.opType, type, param, in: p ?? layers.at(-1)?.out ?? 'FP32', out: p ?? layers.at(-1)?.out ?? 'FP32' });
  }
  return layers;
}

const tensor10 = (name, p) => ({ Name: name, Location: 'Device', Dimensions: [-1], 'Format/Datatype': { FP32: 'Row major linear FP32', FP16: 'Channel major FP16 format where channel % 8 == 0', BF16: 'Row major linear BFloat16 format', INT8: 'Channel major INT8 format where channel % 32 == 0' }[p] ?? 'Row major linear FP32' });
const tensor11 = (name, p) => ({ Name: name, Location: 'Device', Dimensions: [-1], Format: 'kLINEAR', DataType: { FP32: 'Float', FP16: 'Half', BF16: 'BFloat16', INT8: 'Int8' }[p] ?? 'Float' });

async function writeLayerInfo(file) {
  const detailed = opt('profilingVerbosity') === 'detailed';
  const graph = await readGraph(onnx);
  const layers = layersFor(graph);
  if (!detailed) {
    writeFileSync(file, JSON.stringify({ Layers: layers.map((l) => l.name), Bindings: [...graph.inputs, ...graph.outputs].map((t) => t.name) }));
    return;
  }
  const t = strongOnly ? tensor11 : tensor10;
  const doc = {
    Layers: layers.map((l, i) => ({ Name: l.name, LayerType: l.type, Inputs: [t(`${l.name}:in${i}`, l.in)], Outputs: [t(`${l.name}:out${i}`, l.out)], ParameterType: l.param, TacticValue: '0x000000000000fa4e' })),
  };
  if (strongOnly) doc['I/O Tensors'] = [...graph.inputs.map((x) => ({ Name: x.name, IOMode: 'Input', DataType: ONNX_TYPE[x.type] === 'FP16' ? 'Half' : 'Float' })), ...graph.outputs.map((x) => ({ Name: x.name, IOMode: 'Output', DataType: ONNX_TYPE[x.type] === 'FP16' ? 'Half' : 'Float' }))];
  else doc.Bindings = [...graph.inputs, ...graph.outputs].map((x) => x.name);
  writeFileSync(file, JSON.stringify(doc, null, 1));
}

I('Finished parsing network model. Parse time: 0.0123');
I('[TRT] Global timing cache in use. Profiling results in this builder pass will be stored.');
if (mode === 'hang') {
  I('[TRT] Compiler backend is used during engine build.');
  setInterval(() => undefined, 1 << 30);
} else {
  setTimeout(async () => {
    if (mode === 'crash') {
      process.stdout.write(`${now()} [I] [TRT] Detected 1 inputs and 1 output network tensors.\n`);
      process.kill(process.pid, 'SIGKILL');
      return;
    }
    I('[TRT] Detected 1 inputs and 1 output network tensors.');
    I('[TRT] Engine generation completed in 0.03 seconds.');
    I('Engine built in 0.04 sec.');
    if (engine && mode !== 'no-engine') writeFileSync(engine, `FAKE TensorRT engine\n${JSON.stringify({ argv })}\n`);
    I('Created engine with size: 0.0012 MiB');
    const layerInfo = opt('exportLayerInfo');
    if (layerInfo && mode !== 'no-layer-info' && onnx) {
      try {
        await writeLayerInfo(layerInfo);
      } catch (e) {
        E(`FAKE trtexec could not read ${onnx}: ${e.message}`);
        failed();
      }
    }
    if (has('skipInference')) I('Skipped inference phase since --skipInference is added.');
    process.stdout.write(`&&&& PASSED TensorRT.trtexec [TensorRT v${version}] # ${cmd}\n`);
    process.exit(0);
  }, Number(env.FAKE_TRTEXEC_DELAY_MS || 30));
}
