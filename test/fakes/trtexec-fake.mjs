#!/usr/bin/env node
// FAKE trtexec, for tests only. It is not TensorRT: it records its arguments, replays
// log output shaped like trtexec's (banner, options, device, build, &&&& PASSED /
// &&&& FAILED), and for a build writes a small FAKE engine file at --saveEngine.
//
// Environment (all optional):
//   FAKE_TRTEXEC_ARGV_FILE  append one JSON line per run: {argv, pid}
//   FAKE_TRTEXEC_MODE       ok (default) | fail (parse error, exit 1) | hang | no-engine (PASSED, no file) | crash (SIGKILL mid-build)
//   FAKE_TRTEXEC_VERSION    NV_TENSORRT_VERSION in the banner (default 100300 = 10.3.0)
//   FAKE_TRTEXEC_GPU        device name (default "NVIDIA H100 80GB HBM3")
//   FAKE_TRTEXEC_DELAY_MS   build time (default 30)
import { appendFileSync, writeFileSync } from 'node:fs';

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
const opt = (name) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? undefined : a.slice(name.length + 3);
};
const has = (name) => argv.includes(`--${name}`);
const major = Number(version) >= 10000 ? Math.floor(Number(version) / 10000) : Math.floor(Number(version) / 1000);

process.stdout.write(`&&&& RUNNING TensorRT.trtexec [TensorRT v${version}] # ${cmd}\n`);
if (has('help') || argv.length === 0) {
  process.stdout.write('=== Model Options ===\n  --onnx=<file>               ONNX model\n=== Build Options ===\n  --minShapes=spec            Build with dynamic shapes using a profile with the min shapes provided\n  --fp16                      Enable fp16 precision, in addition to fp32 (default = disabled)\n  --int8                      Enable int8 precision, in addition to fp32 (default = disabled)\n  --calib=<file>              Read INT8 calibration cache file\n  --saveEngine=<file>         Save the serialized engine\n  --skipInference             Exit after the engine has been built and skip inference perf measurement\n');
  process.stdout.write(`&&&& PASSED TensorRT.trtexec [TensorRT v${version}] # ${cmd}\n`);
  process.exit(0);
}

const onnx = opt('onnx');
const engine = opt('saveEngine');
const precision = ['FP32', has('fp16') ? 'FP16' : null, has('int8') ? 'INT8' : null].filter(Boolean).join('+');
I('=== Model Options ===');
I('Format: ONNX');
I(`Model: ${onnx}`);
I('Output:');
I('=== Build Options ===');
I('Memory Pools: workspace: default, dlaSRAM: default, dlaLocalDRAM: default, dlaGlobalDRAM: default, tacticSharedMem: default');
I(`Precision: ${precision}`);
I(`Calibration: ${has('int8') ? (opt('calib') ?? 'Dynamic') : ''}`);
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
if (has('int8') && !opt('calib')) W('[TRT] Calibrator is not being used. Users must provide dynamic range for all tensors that are not Int32 or Bool.');

if (mode === 'fail') {
  E('[TRT] ModelImporter.cpp:949: While parsing node number 3 [Conv -> "/layer1/conv/Conv_output_0"]:');
  E('[TRT] ModelImporter.cpp:951: ERROR: ModelImporter.cpp:195 In function parseGraph: [6] Invalid Node - /layer1/conv/Conv');
  E('Failed to parse onnx file');
  E('Parsing model failed');
  E('Failed to create engine from model or file.');
  E('Engine set up failed');
  process.stdout.write(`&&&& FAILED TensorRT.trtexec [TensorRT v${version}] # ${cmd}\n`);
  process.exit(1);
}
I('Finished parsing network model. Parse time: 0.0123');
I('[TRT] Global timing cache in use. Profiling results in this builder pass will be stored.');
if (mode === 'hang') {
  I('[TRT] Compiler backend is used during engine build.');
  setInterval(() => undefined, 1 << 30);
} else {
  setTimeout(() => {
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
    if (has('skipInference')) I('Skipped inference phase since --skipInference is added.');
    process.stdout.write(`&&&& PASSED TensorRT.trtexec [TensorRT v${version}] # ${cmd}\n`);
    process.exit(0);
  }, Number(env.FAKE_TRTEXEC_DELAY_MS || 30));
}
