/**
 * The GPU executor without a GPU: the framing protocol (TS encoder/decoder, and against
 * gpu_worker.py's Python side), and worker crash / hang / CUDA OOM handling with a FAKE
 * worker (test/server/fake_gpu_worker.py) that speaks the protocol but computes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelConfig } from '../../src/config/types.js';
import type { ExecRequest, ExecutorSpec } from '../../src/server/executor.js';
import { ortExecutorFactory } from '../../src/server/executor.js';
import {
  FrameReader, GpuProtocolError, GpuWorkerExecutor, MsgType, encodeFrame, gpuPrecisionOf, ioFromConfig, type Frame,
} from '../../src/server/gpu-executor.js';
import { LoadedModel, setGpuExecutorFactory } from '../../src/server/model.js';
import { resolveModelSource } from '../../src/server/model-repository.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const FAKE = path.join(root, 'test/server/fake_gpu_worker.py');
const hasPython = spawnSync('python3', ['-c', 'import sys; sys.exit(0)']).status === 0;
const skip = hasPython ? false : 'python3 not available';

const f32 = (xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);
const readF32 = (u: Uint8Array): number[] => Array.from(new Float32Array(u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength)));

const config: ModelConfig = {
  name: 'fake',
  platform: 'pytorch_libtorch',
  max_batch_size: 8,
  input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [2] }],
  output: [{ name: 'x', data_type: 'TYPE_FP32', dims: [2] }],
} as ModelConfig;

function spec(modelPath = '/nonexistent/1/model.fp16.pt'): ExecutorSpec {
  return { modelName: 'fake', modelPath, sessionOptions: {}, batching: true, outputs: ['x'], config };
}

const req = (rows: number[][]): ExecRequest => ({ batchSize: rows.length, inputs: [{ name: 'x', datatype: 'FP32', shape: [rows.length, 2], data: f32(rows.flat()) }] });

function fake(mode: string, extra: Partial<Parameters<typeof GpuWorkerExecutor.start>[1]> = {}, fakeArgs: string[] = []) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tanalyze-fakegpu-'));
  return { dir, start: () => GpuWorkerExecutor.start(spec(), { script: FAKE, args: [mode, path.join(dir, 'flag'), ...fakeArgs], ...extra }) };
}

const hrNow = (): number => Number(process.hrtime.bigint());

test('frames round-trip through the TS encoder and decoder, whatever the chunking', () => {
  const a = f32([1, 2, 3, 4, 5, 6]);
  const b = new Uint8Array(new BigInt64Array([1n, -2n]).buffer);
  const bufs = encodeFrame(MsgType.RUN, 42, { note: 'hi' }, [
    { name: 'a', dtype: 'float32', shape: [3, 2], parts: [a.subarray(0, 8), a.subarray(8)] },
    { name: 'b', dtype: 'int64', shape: [2], parts: [b] },
  ]);
  const whole = Buffer.concat(bufs);
  assert.equal(whole.readUInt32LE(0), 0x55504754);
  for (const step of [1, 7, 24, 1000, whole.length]) {
    const r = new FrameReader();
    const got: Frame[] = [];
    for (let o = 0; o < whole.length; o += step) got.push(...r.push(whole.subarray(o, o + step)));
    assert.equal(got.length, 1, `step ${step}`);
    const f = got[0]!;
    assert.equal(f.type, MsgType.RUN);
    assert.equal(f.id, 42);
    assert.equal(f.meta['note'], 'hi');
    assert.deepEqual(readF32(f.tensors[0]!.data), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(f.tensors[0]!.shape, [3, 2]);
    assert.deepEqual(Array.from(new BigInt64Array(new Uint8Array(f.tensors[1]!.data).buffer)), [1n, -2n]);
  }
  const two = new FrameReader().push(Buffer.concat([whole, whole]));
  assert.equal(two.length, 2);
});

test('bad magic, version and shape are refused', () => {
  const good = Buffer.concat(encodeFrame(MsgType.CLOSE, 1, {}));
  const badMagic = Buffer.from(good);
  badMagic.writeUInt32LE(0xdeadbeef, 0);
  assert.throws(() => new FrameReader().push(badMagic), GpuProtocolError);
  const badVersion = Buffer.from(good);
  badVersion.writeUInt16LE(99, 4);
  assert.throws(() => new FrameReader().push(badVersion), /version 99/);
  assert.throws(() => encodeFrame(MsgType.RUN, 1, {}, [{ name: 'a', dtype: 'float32', shape: [3], parts: [new Uint8Array(8)] }]), /do not fit/);
});

test('precision from the file name or the config parameter; io from the config', () => {
  assert.equal(gpuPrecisionOf('/r/m/1/model.pt'), 'FP32');
  assert.equal(gpuPrecisionOf('/r/m/1/model.fp16.pt'), 'FP16');
  assert.equal(gpuPrecisionOf('/r/m/1/model.bf16.pt'), 'BF16');
  assert.equal(gpuPrecisionOf('/r/m/1/model.pt', { parameters: { precision: { string_value: 'bf16' } } } as ModelConfig), 'BF16');
  assert.deepEqual(ioFromConfig(config).inputs, [{ name: 'x', type: 'float32', shape: [-1, 2] }]);
});

test('the Python side decodes TS frames and its frames decode in TS (several dtypes)', { skip }, async () => {
  const child = spawn('python3', [FAKE, 'echo'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const reader = new FrameReader();
  const frames: Frame[] = [];
  const got = new Promise<void>((resolve) => child.stdout.on('data', (c: Buffer) => { frames.push(...reader.push(c)); if (frames.length >= 2) resolve(); }));
  const h = new Uint8Array(new Uint16Array([0x3c00, 0xc000]).buffer); // float16 1, -2
  const i64 = new Uint8Array(new BigInt64Array([7n, -9n, 1n << 40n]).buffer);
  for (const b of encodeFrame(MsgType.LOAD, 0, { precision: 'FP16' })) child.stdin.write(b);
  for (const b of encodeFrame(MsgType.RUN, 5, {}, [
    { name: 'h', dtype: 'float16', shape: [2, 1], parts: [h] },
    { name: 'i', dtype: 'int64', shape: [3], parts: [i64] },
    { name: 'f', dtype: 'float32', shape: [1, 2], parts: [f32([0.5]), f32([-1.25])] },
  ])) child.stdin.write(b);
  await got;
  for (const b of encodeFrame(MsgType.CLOSE, 0, {})) child.stdin.write(b);
  assert.equal(frames[0]!.type, MsgType.LOADED);
  assert.equal(frames[0]!.meta['precision'], 'FP16');
  const r = frames[1]!;
  assert.equal(r.type, MsgType.RESULT);
  assert.equal(r.id, 5);
  assert.deepEqual(r.tensors.map((t) => [t.name, t.dtype, t.shape]), [['h', 'float16', [2, 1]], ['i', 'int64', [3]], ['f', 'float32', [1, 2]]]);
  assert.deepEqual(Buffer.from(r.tensors[0]!.data), Buffer.from(h));
  assert.deepEqual(Buffer.from(r.tensors[1]!.data), Buffer.from(i64));
  assert.deepEqual(readF32(r.tensors[2]!.data), [0.5, -1.25]);
  await new Promise((resolve) => child.once('exit', resolve));
});

test('a batch runs on the (fake) worker and splits back per request', { skip }, async () => {
  const { dir, start } = fake('echo');
  const x = await start();
  try {
    assert.equal(x.loadInfo['fake'], true);
    assert.equal(x.loadInfo.precision, 'FP16'); // from model.fp16.pt
    const out = await x.run([req([[1, 2]]), req([[3, 4], [5, 6]])], Number(process.hrtime.bigint()));
    assert.deepEqual(out.outputs.map((o) => readF32(o[0]!.data)), [[1, 2], [3, 4, 5, 6]]);
    assert.deepEqual(out.outputs[1]![0]!.shape, [2, 2]);
    assert.ok(out.times.computeInferNs >= 0 && out.times.computeInputNs >= 0);
  } finally {
    await x.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The FAKE worker's ways to lose a batch, with the reason each must give. */
const FAILURES = [
  ['crash-once', /exited with code 9/, {}],
  ['hang-once', /hung on a batch.*no answer within 0\.5 s.*replaced/, { runTimeoutMs: 500 }],
  ['oom-once', /CUDA out of memory/, {}],
] as const;

for (const [mode, reason, extra] of FAILURES) {
  test(`FAKE worker ${mode}: the batch fails with a clear reason, the worker is replaced, the next batch runs`, { skip }, async () => {
    const { dir, start } = fake(mode, extra);
    const x = await start();
    try {
      const pid = x.pid;
      await assert.rejects(x.run([req([[1, 2]])], Number(process.hrtime.bigint())), reason);
      const out = await x.run([req([[7, 8]])], Number(process.hrtime.bigint()));
      assert.deepEqual(readF32(out.outputs[0]![0]!.data), [7, 8]);
      assert.notEqual(x.pid, pid);
      assert.equal(x.replacements, 1);
      assert.equal(x.failure, undefined);
    } finally {
      await x.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('staged runs on the (fake) worker: run in order, the wait behind the first is not compute time, each timed from its own start', { skip }, async () => {
  // Each RUN takes 300 ms; a hang is 500 ms without an answer. The second batch, sent at
  // once, is answered 600 ms after its send: timed from the first one's end, it is no hang.
  const { dir, start } = fake('echo', { runTimeoutMs: 500 }, ['--run-ms=300']);
  const x = await start();
  try {
    assert.equal(x.acceptsStagedRun, true);
    const sent = hrNow();
    const done: number[] = [];
    const runs = [[[1, 2]], [[3, 4], [5, 6]], [[7, 8]]].map((rows, i) => x.run([req(rows)], sent).then((o) => (done.push(i), o)));
    const outs = await Promise.all(runs);
    assert.deepEqual(done, [0, 1, 2], 'answered in the order sent');
    assert.deepEqual(outs.map((o) => readF32(o.outputs[0]![0]!.data)), [[1, 2], [3, 4, 5, 6], [7, 8]]);
    assert.equal(x.replacements, 0);
    for (let i = 1; i < outs.length; i++) {
      const waitedMs = (outs[i]!.startedNs - sent) / 1e6;
      assert.ok(waitedMs >= 300 * i - 5, `batch ${i} started ${waitedMs.toFixed(0)} ms after its send, behind ${i} batch(es)`);
      assert.ok(outs[i]!.times.computeInputNs < 100e6, `the wait is not compute_input (${outs[i]!.times.computeInputNs} ns)`);
    }
  } finally {
    await x.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const [mode, reason, extra] of FAILURES) {
  test(`FAKE worker ${mode} with a batch staged behind the failing one: that one fails, the staged one runs on the replacement`, { skip }, async () => {
    const { dir, start } = fake(mode, extra, ['--run-ms=50']);
    const x = await start();
    try {
      const pid = x.pid;
      const failing = x.run([req([[1, 2]])], hrNow());
      const staged = x.run([req([[3, 4]])], hrNow());
      await assert.rejects(failing, reason);
      assert.deepEqual(readF32((await staged).outputs[0]![0]!.data), [3, 4]);
      assert.notEqual(x.pid, pid);
      assert.equal(x.replacements, 1, 'one replacement for one lost worker');
      const out = await x.run([req([[7, 8]])], hrNow());
      assert.deepEqual(readF32(out.outputs[0]![0]!.data), [7, 8]);
      assert.equal(x.failure, undefined);
    } finally {
      await x.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('FAKE worker that always crashes: the instance gives up after maxRestarts', { skip }, async () => {
  const { dir, start } = fake('crash', { maxRestarts: 2 });
  const x = await start();
  try {
    for (let i = 0; i < 3; i++) await assert.rejects(x.run([req([[1, 2]])], 0), /exited with code 9/);
    assert.match(x.failure?.message ?? '', /gave up after 2 replacements/);
    await assert.rejects(x.run([req([[1, 2]])], 0), /gave up/);
  } finally {
    await x.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('FAKE worker: a non-fatal error fails the batch without a replacement; load errors and garbage are refused', { skip }, async () => {
  const soft = fake('soft-error');
  const x = await soft.start();
  try {
    await assert.rejects(x.run([req([[1, 2]])], 0), /fake: bad batch/);
    assert.equal(x.replacements, 0);
  } finally {
    await x.close();
    rmSync(soft.dir, { recursive: true, force: true });
  }
  await assert.rejects(fake('fail-load').start(), /fake: cannot load/);
  await assert.rejects(fake('garbage').start(), /bad magic/);
  await assert.rejects(GpuWorkerExecutor.start(spec(), { python: '/nonexistent/python3' }), /could not start/);
});

test('a pytorch_libtorch model in a repository loads through the GPU executor (FAKE worker) and serves', { skip }, async () => {
  const repo = mkdtempSync(path.join(tmpdir(), 'tanalyze-torchrepo-'));
  mkdirSync(path.join(repo, 'tm', '1'), { recursive: true });
  writeFileSync(path.join(repo, 'tm', '1', 'model.pt'), 'not really torchscript');
  writeFileSync(path.join(repo, 'tm', 'config.pbtxt'), [
    'platform: "pytorch_libtorch"', 'max_batch_size: 4',
    'input [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ]', 'output [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ]',
    'instance_group [ { kind: KIND_GPU count: 2 } ]',
  ].join('\n'));
  setGpuExecutorFactory((s) => GpuWorkerExecutor.start(s, { script: FAKE, args: ['echo'] }));
  try {
    const source = await resolveModelSource(repo, 'tm');
    assert.equal(path.basename(source.modelPath), 'model.pt');
    const m = await LoadedModel.load(source, ortExecutorFactory);
    try {
      assert.equal(m.instances, 2);
      assert.equal(m.config.default_model_filename, 'model.pt');
      const out = await m.infer(req([[9, 10]]), 'k', Number(process.hrtime.bigint()));
      assert.deepEqual(readF32(out[0]!.data), [9, 10]);
    } finally {
      await m.unload();
    }
  } finally {
    setGpuExecutorFactory(undefined);
    rmSync(repo, { recursive: true, force: true });
  }
});
