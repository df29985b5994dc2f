/**
 * GPU instances: each model instance is a Python worker process (gpu_worker.py) holding
 * a TorchScript model on an NVIDIA GPU with its own CUDA stream. The TypeScript server
 * keeps doing what Triton's core does (gRPC, queueing, dynamic batching, statistics) and
 * hands each batch to the worker over its stdin, the outputs coming back on its stdout,
 * in a small framed, versioned binary protocol (described in gpu_worker.py; encoded and
 * decoded here by `encodeFrame` / `FrameReader`).
 *
 * The worker handles its frames in order, so the executor takes a second batch while one
 * executes (the batcher's staging): its frame waits in the pipe and the worker starts it
 * as soon as the first one ends.
 *
 * A worker that crashes, hangs (no answer within `runTimeoutMs` of starting a batch) or runs
 * out of CUDA memory fails the batch it held with a clear reason and is replaced by a fresh
 * worker, which runs the batch staged behind the failed one (the worker never started it);
 * after `maxRestarts` replacements the instance reports a failure and the model stops
 * serving.
 *
 * Precision comes from the model file name (`model.pt` FP32, `model.fp16.pt` FP16,
 * `model.bf16.pt` BF16, as variant.ts reads precision elsewhere) or the config parameter
 * `precision`. The build step is done in the worker at load: the model cast to the
 * precision and frozen (cached by hash in `cacheDir`), then one CUDA graph captured per
 * batch size (1..max_batch_size); both timed and returned in `loadInfo`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import type { ModelConfig, ModelTensor } from '../config/types.js';
import { batchInputs, batchOutcome, splitOutputs, type BatchOutcome, type ExecRequest, type Executor, type ExecutorSpec } from './executor.js';
import type { IoMeta } from './instance-protocol.js';
import { apiFromConfigType, ortType } from './tensors.js';
import { TanalyzeError } from '../domain/errors.js';

// ------------------------------------------------------------------ protocol

export const GPU_PROTOCOL_MAGIC = 0x55504754; // "TGPU" little-endian
export const GPU_PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 24;

export const MsgType = { LOAD: 1, LOADED: 2, RUN: 3, RESULT: 4, ERROR: 5, CLOSE: 6 } as const;
export type MsgTypeCode = (typeof MsgType)[keyof typeof MsgType];
const TYPE_NAMES = new Map<number, string>(Object.entries(MsgType).map(([k, v]) => [v, k]));

/** Bytes per element of the wire dtypes (ONNX Runtime's type names, as instance-protocol.ts uses). */
export const DTYPE_SIZES: Readonly<Record<string, number>> = {
  float32: 4, float16: 2, bfloat16: 2, float64: 8, int8: 1, uint8: 1, int16: 2, int32: 4, int64: 8, bool: 1,
};

export interface FrameTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte parts concatenated in order (a batch's per-request inputs). */
  parts: Uint8Array[];
}

export interface Frame {
  type: MsgTypeCode;
  id: number;
  meta: Record<string, unknown>;
  tensors: { name: string; dtype: string; shape: number[]; data: Uint8Array }[];
}

export class GpuProtocolError extends TanalyzeError {
  constructor(message: string) {
    super('infrastructure', message);
  }
}

/** One frame as buffers to write back to back (no tensor data is copied). */
export function encodeFrame(type: MsgTypeCode, id: number, meta: Record<string, unknown>, tensors: readonly FrameTensor[] = []): Uint8Array[] {
  const descs: { name: string; dtype: string; shape: number[]; offset: number; nbytes: number }[] = [];
  const payload: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const size = DTYPE_SIZES[t.dtype];
    if (size === undefined) throw new GpuProtocolError(`tensor '${t.name}': dtype ${t.dtype} cannot go to a GPU worker`);
    const nbytes = t.parts.reduce((n, p) => n + p.byteLength, 0);
    const elements = t.shape.reduce((a, d) => a * d, 1);
    if (elements * size !== nbytes) throw new GpuProtocolError(`tensor '${t.name}': ${nbytes} bytes do not fit shape [${t.shape.join(',')}] of ${t.dtype}`);
    descs.push({ name: t.name, dtype: t.dtype, shape: [...t.shape], offset, nbytes });
    payload.push(...t.parts);
    offset += nbytes;
  }
  const metaBytes = Buffer.from(JSON.stringify(descs.length ? { ...meta, tensors: descs } : meta), 'utf8');
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(GPU_PROTOCOL_MAGIC, 0);
  header.writeUInt16LE(GPU_PROTOCOL_VERSION, 4);
  header.writeUInt16LE(type, 6);
  header.writeUInt32LE(id >>> 0, 8);
  header.writeUInt32LE(metaBytes.byteLength, 12);
  header.writeBigUInt64LE(BigInt(offset), 16);
  return [header, metaBytes, ...payload];
}

/** Incremental decoder of a byte stream into frames. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Adds bytes; returns the frames now complete. Throws GpuProtocolError on a bad header. */
  push(chunk: Uint8Array): Frame[] {
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.buffered += chunk.byteLength;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < HEADER_BYTES) return frames;
      const head = this.peek(HEADER_BYTES);
      const magic = head.readUInt32LE(0);
      if (magic !== GPU_PROTOCOL_MAGIC) throw new GpuProtocolError(`bad magic 0x${magic.toString(16).padStart(8, '0')} from the GPU worker (is something printing to its stdout?)`);
      const version = head.readUInt16LE(4);
      if (version !== GPU_PROTOCOL_VERSION) throw new GpuProtocolError(`GPU worker speaks protocol version ${version}, the server ${GPU_PROTOCOL_VERSION}`);
      const type = head.readUInt16LE(6);
      if (!TYPE_NAMES.has(type)) throw new GpuProtocolError(`unknown message type ${type} from the GPU worker`);
      const metaLen = head.readUInt32LE(12);
      const payloadLen = Number(head.readBigUInt64LE(16));
      const total = HEADER_BYTES + metaLen + payloadLen;
      if (this.buffered < total) return frames;
      const all = this.take(total);
      const meta = metaLen ? (JSON.parse(all.subarray(HEADER_BYTES, HEADER_BYTES + metaLen).toString('utf8')) as Record<string, unknown>) : {};
      const payload = all.subarray(HEADER_BYTES + metaLen);
      const descs = (meta['tensors'] as { name: string; dtype: string; shape: number[]; offset: number; nbytes: number }[] | undefined) ?? [];
      const tensors = descs.map((d) => {
        if (d.offset + d.nbytes > payload.byteLength) throw new GpuProtocolError(`tensor '${d.name}' runs past the frame`);
        return { name: d.name, dtype: d.dtype, shape: d.shape, data: payload.subarray(d.offset, d.offset + d.nbytes) };
      });
      frames.push({ type: type as MsgTypeCode, id: head.readUInt32LE(8), meta, tensors });
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.byteLength >= n) return this.chunks[0]!.subarray(0, n);
    return Buffer.concat(this.chunks).subarray(0, n);
  }

  private take(n: number): Buffer {
    let out: Buffer;
    if (this.chunks[0]!.byteLength >= n) {
      // Copied so the frame owns aligned memory and the chunk can be released.
      out = Buffer.from(this.chunks[0]!.subarray(0, n));
      this.chunks[0] = this.chunks[0]!.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, n);
      this.chunks = [all.subarray(n)];
    }
    if (this.chunks[0]!.byteLength === 0) this.chunks.shift();
    this.buffered -= n;
    return out;
  }
}

// ------------------------------------------------------------------ executor

export type GpuPrecision = 'FP32' | 'FP16' | 'BF16' | 'INT8';

/** Precision of a TorchScript file name (`model.fp16.pt`), else the `precision` config parameter, else FP32 (pure). */
export function gpuPrecisionOf(modelPath: string, cfg?: ModelConfig): GpuPrecision {
  const m = /(?:^|[._-])(fp16|bf16|int8|fp32)(?=[._-]|$)/i.exec(path.basename(modelPath));
  if (m) return m[1]!.toUpperCase() as GpuPrecision;
  const p = cfg?.parameters?.['precision']?.string_value?.toUpperCase();
  return p === 'FP16' || p === 'BF16' || p === 'INT8' ? p : 'FP32';
}

/** Whether a config is served by the GPU executor: Triton's PyTorch platform/backend (pure). */
export function isTorchModel(cfg: ModelConfig): boolean {
  return cfg.platform === 'pytorch_libtorch' || cfg.backend === 'pytorch';
}

/** IoMeta from the config's tensors: TorchScript files carry no signature (pure). */
export function ioFromConfig(cfg: ModelConfig): { inputs: IoMeta[]; outputs: IoMeta[] } {
  const batching = Number(cfg.max_batch_size ?? 0) > 0;
  const conv = (t: ModelTensor): IoMeta => {
    const api = apiFromConfigType(t.data_type);
    const type = api ? ortType(api) : undefined;
    if (!type || type === 'string') throw new Error(`tensor '${t.name}': data_type ${t.data_type ?? 'none'} is not supported by the GPU executor`);
    const dims = (t.dims ?? []).map(Number);
    return { name: t.name, type, shape: batching ? [-1, ...dims] : dims };
  };
  if (!cfg.input?.length || !cfg.output?.length) throw new Error('a pytorch_libtorch model needs its inputs and outputs in config.pbtxt (TorchScript files carry no signature)');
  return { inputs: cfg.input.map(conv), outputs: cfg.output.map(conv) };
}

/**
 * The CLI reads these from its option table (environment variables TANALYZE_GPU_*) once, in
 * the plan, and passes them down; nothing here reads the environment.
 */
export interface GpuWorkerOptions {
  /** Python interpreter (default python3). */
  python?: string;
  /** Worker script (default gpu_worker.py of this package). */
  script?: string;
  /** Extra arguments after the script (fake workers in tests take their behaviour here). */
  args?: string[];
  /** Cache of built models (default <os tmpdir>/tanalyze-gpu-cache). */
  cacheDir?: string;
  /** A batch with no answer after this long is a hang: the worker is killed and replaced (default 60000). */
  runTimeoutMs?: number;
  /** Load (build and CUDA-graph capture included) time limit (default 600000). */
  loadTimeoutMs?: number;
  /** Replacements before the instance gives up (default 3). */
  maxRestarts?: number;
  /** Capture CUDA graphs per batch size at load (default true). */
  cudaGraphs?: boolean;
  /** CUDA device index (default 0). */
  device?: number;
  /** The worker's own log lines (default: dropped). */
  log?: (line: string) => void;
}

/** What the worker reported at load: build/cache and capture times. */
export interface GpuLoadInfo {
  precision?: string;
  cache_hit?: boolean;
  cache_key?: string;
  build_s?: number;
  load_s?: number;
  graph_capture_s?: number;
  graph_sizes?: number[];
  gpu_memory_mb?: number;
  total_load_s?: number;
  device_name?: string;
  torch?: string;
  [k: string]: unknown;
}

function defaultScript(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // From src/server (tsx, tests on sources) or dist/src/server (tsc output: .py is not copied).
  const candidates = [path.join(here, 'gpu_worker.py'), path.resolve(here, '../../../src/server/gpu_worker.py')];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

function withDefaults(o: GpuWorkerOptions): Required<Omit<GpuWorkerOptions, 'log' | 'args'>> & Pick<GpuWorkerOptions, 'log' | 'args'> {
  return {
    python: o.python ?? 'python3',
    script: o.script ?? defaultScript(),
    args: o.args,
    cacheDir: o.cacheDir ?? path.join(tmpdir(), 'tanalyze-gpu-cache'),
    runTimeoutMs: o.runTimeoutMs ?? 60_000,
    loadTimeoutMs: o.loadTimeoutMs ?? 600_000,
    maxRestarts: o.maxRestarts ?? 3,
    cudaGraphs: o.cudaGraphs ?? true,
    device: o.device ?? 0,
    log: o.log,
  };
}

interface Waiter {
  resolve: (f: Frame) => void;
  reject: (e: Error) => void;
  timeoutMs: number;
  onTimeout: string;
  timer?: NodeJS.Timeout;
}

/** The worker was lost before it started this request (it waited behind the one that failed). */
class NotStartedError extends TanalyzeError {
  constructor(message: string) {
    super('infrastructure', message);
  }
}

/** One worker process and its pipe. */
class WorkerProcess {
  readonly child: ChildProcess;
  private readonly reader = new FrameReader();
  private readonly waiting = new Map<number, Waiter>();
  private stderrTail = '';
  exited: Error | undefined;
  /** Set before a kill so the exit message says why. */
  killReason: string | undefined;

  constructor(python: string, script: string, args: string[], private readonly label: string, private readonly log?: (line: string) => void) {
    this.child = spawn(python, [script, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
      // Its own process group, so a terminal's Ctrl-C does not kill it mid-batch; it exits when its stdin closes.
      detached: true,
    });
    this.child.stdout!.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.reader.push(chunk);
      } catch (e) {
        this.kill(`protocol error: ${(e as Error).message}`);
        return;
      }
      for (const f of frames) {
        const w = this.waiting.get(f.id);
        if (!w) continue;
        this.waiting.delete(f.id);
        if (w.timer) clearTimeout(w.timer);
        this.armHead();
        w.resolve(f);
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-2000);
      if (this.log) for (const line of chunk.toString('utf8').split('\n')) if (line) this.log(line);
    });
    this.child.stdin!.on('error', () => undefined); // EPIPE after a crash: the exit handler reports it
    this.child.on('error', (e) => this.fail(new Error(`${this.label}: could not start '${python} ${script}': ${e.message}`)));
    this.child.on('exit', (code, signal) => {
      const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
      this.fail(this.lost(this.killReason ?? `${this.label} ${how}`));
    });
  }

  private lost(why: string): Error {
    const tail = this.stderrTail.trim().split('\n').slice(-3).join(' | ');
    return new Error(`${why}${tail ? ` (worker stderr: ${tail})` : ''}`);
  }

  /** Fails the request in progress (if `oneStarted`) with `e`, and those waiting behind it as not started. */
  private fail(e: Error, oneStarted = true): void {
    if (this.exited) return;
    this.exited = e;
    let first = oneStarted;
    for (const w of this.waiting.values()) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(first ? e : new NotStartedError(e.message));
      first = false;
    }
    this.waiting.clear();
  }

  /**
   * Kills the process and fails its pending requests at once (it will answer no more).
   * `oneStarted` false: the worker had started none of them (it had just answered a fatal error).
   */
  kill(reason: string, oneStarted = true): void {
    this.killReason ??= reason;
    this.child.kill('SIGKILL');
    this.fail(this.lost(this.killReason), oneStarted);
  }

  /**
   * Arms the hang timer of the request the worker works on now: the oldest unanswered one.
   * A request staged behind another is timed from the end of that one, not from its send.
   */
  private armHead(): void {
    const head = this.waiting.values().next().value;
    if (!head || head.timer) return;
    head.timer = setTimeout(
      () => this.kill(`${head.onTimeout} (no answer within ${(head.timeoutMs / 1000).toFixed(1)} s): the worker was killed and is being replaced`),
      head.timeoutMs,
    );
  }

  /** Sends a frame and waits for the reply with the same id (replies come in the order sent). */
  request(type: MsgTypeCode, id: number, meta: Record<string, unknown>, tensors: FrameTensor[], timeoutMs: number, onTimeout: string): Promise<Frame> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<Frame>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, timeoutMs, onTimeout });
      this.armHead();
      const bufs = encodeFrame(type, id, meta, tensors);
      const stdin = this.child.stdin!;
      for (const b of bufs) stdin.write(b);
    });
  }

  send(type: MsgTypeCode, id: number, meta: Record<string, unknown> = {}): void {
    if (this.exited) return;
    for (const b of encodeFrame(type, id, meta)) this.child.stdin!.write(b);
  }
}

/** A model instance served by a Python GPU worker, replaced when it fails. */
export class GpuWorkerExecutor implements Executor {
  /** The worker handles its frames one after the other, in order. */
  readonly acceptsStagedRun = true;
  private worker: WorkerProcess | undefined;
  private ready: Promise<WorkerProcess>;
  private nextId = 1;
  private restarts = 0;
  private closing = false;
  private fatal: Error | undefined;
  /** The last load's report (build, cache hit, capture). */
  loadInfo: GpuLoadInfo = {};
  /** Every load's report, the first one and each replacement's. */
  readonly loads: GpuLoadInfo[] = [];
  readonly io: { inputs: IoMeta[]; outputs: IoMeta[] };
  private readonly o: ReturnType<typeof withDefaults>;
  private readonly precision: GpuPrecision;

  private constructor(private readonly spec: ExecutorSpec, private readonly config: ModelConfig, opts: GpuWorkerOptions) {
    this.o = withDefaults(opts);
    this.io = ioFromConfig(config);
    this.precision = gpuPrecisionOf(spec.modelPath, config);
    this.ready = this.startWorker();
  }

  static async start(spec: ExecutorSpec, opts: GpuWorkerOptions = {}): Promise<GpuWorkerExecutor> {
    if (!spec.config) throw new Error('the GPU executor needs the model configuration (ExecutorSpec.config)');
    const x = new GpuWorkerExecutor(spec, spec.config, opts);
    await x.ready;
    return x;
  }

  private loadMeta(): Record<string, unknown> {
    const tensor = (m: IoMeta) => ({ name: m.name, dtype: m.type, dims: this.spec.batching ? m.shape.slice(1) : m.shape });
    return {
      model_path: this.spec.modelPath,
      precision: this.precision,
      max_batch_size: Number(this.config.max_batch_size ?? 0),
      inputs: this.io.inputs.map(tensor),
      outputs: this.io.outputs.map(tensor),
      cuda_graphs: this.o.cudaGraphs,
      cache_dir: this.o.cacheDir,
      device: this.o.device,
    };
  }

  private async startWorker(): Promise<WorkerProcess> {
    const label = `GPU worker of '${this.spec.modelName}'`;
    const w = new WorkerProcess(this.o.python, this.o.script, this.o.args ?? [], label, this.o.log);
    this.worker = w;
    const reply = await w.request(MsgType.LOAD, 0, this.loadMeta(), [], this.o.loadTimeoutMs, `${label} did not finish loading`);
    if (reply.type === MsgType.ERROR) {
      w.kill('load failed');
      throw new Error(String(reply.meta['message'] ?? 'the worker refused the model'));
    }
    if (reply.type !== MsgType.LOADED) {
      w.kill('unexpected reply');
      throw new Error(`${label} answered ${TYPE_NAMES.get(reply.type)} to LOAD`);
    }
    this.loadInfo = reply.meta as GpuLoadInfo;
    this.loads.push(this.loadInfo);
    const i = this.loadInfo;
    this.o.log?.(
      `  ${label} ${w.child.pid}: ${i.precision ?? this.precision}, ` +
        `${i.cache_hit ? 'model from the cache' : `model built in ${(i.build_s ?? 0).toFixed(2)} s`}, ` +
        `CUDA graphs for ${i.graph_sizes?.[2] ?? 0} batch sizes captured in ${(i.graph_capture_s ?? 0).toFixed(2)} s`,
    );
    return w;
  }

  /** Starts a replacement for `failed`, once; past maxRestarts the instance gives up. */
  private replace(failed: WorkerProcess, reason: Error): void {
    // Every run the failed worker held reports the failure: only the first one replaces it.
    if (this.closing || this.fatal || failed !== this.worker) return;
    if (this.restarts >= this.o.maxRestarts) {
      this.fatal = new Error(`${reason.message}; gave up after ${this.restarts} replacement${this.restarts === 1 ? '' : 's'}`);
      return;
    }
    this.restarts++;
    this.o.log?.(`  replacing the GPU worker of '${this.spec.modelName}' (${this.restarts}/${this.o.maxRestarts}): ${reason.message}`);
    this.ready = this.startWorker();
    this.ready.catch((e: Error) => {
      this.fatal = new Error(`the replacement worker failed to load: ${e.message}`);
    });
  }

  get pid(): number | undefined {
    return this.worker?.child.pid;
  }

  get replacements(): number {
    return this.restarts;
  }

  get failure(): Error | undefined {
    return this.closing ? undefined : this.fatal;
  }

  async run(requests: readonly ExecRequest[], startNs: number): Promise<BatchOutcome> {
    if (this.fatal) throw this.fatal;
    const batching = this.spec.batching;
    const tensors: FrameTensor[] = batchInputs(requests, batching).map(({ ortType: dtype, ...t }) => ({ ...t, dtype }));
    let w: WorkerProcess;
    let reply: Frame;
    for (;;) {
      w = await this.ready;
      const id = this.nextId++;
      try {
        reply = await w.request(MsgType.RUN, id, { dequeued_ns: startNs }, tensors, this.o.runTimeoutMs, `GPU worker of '${this.spec.modelName}' hung on a batch of ${requests.length} request(s)`);
        break;
      } catch (e) {
        this.replace(w, e as Error);
        if (!(e instanceof NotStartedError) || this.closing) throw e;
        if (this.fatal) throw this.fatal;
        // Staged behind the batch that brought the worker down, this one never ran: the
        // replacement runs it, as it would have had the batch still been queued.
      }
    }
    if (reply.type === MsgType.ERROR) {
      const err = new Error(`GPU worker of '${this.spec.modelName}': ${String(reply.meta['message'])}`);
      if (reply.meta['fatal']) {
        // The worker exits after a fatal error, without reading what was staged behind.
        w.kill(err.message, false);
        this.replace(w, err);
      }
      throw err;
    }
    if (reply.type !== MsgType.RESULT) throw new Error(`GPU worker answered ${TYPE_NAMES.get(reply.type)} to RUN`);
    const wanted = this.spec.outputs.length ? this.spec.outputs : this.io.outputs.map((o) => o.name);
    const outputs = reply.tensors.map(({ dtype: ortType, ...t }) => ({ ...t, ortType }));
    // A worker without started_ns (older than staging) took the batch up when it was sent.
    const startedNs = Number(reply.meta['started_ns'] ?? startNs);
    const builtNs = Number(reply.meta['built_ns'] ?? startedNs);
    const ranNs = Number(reply.meta['ran_ns'] ?? builtNs);
    return batchOutcome(splitOutputs(outputs, requests, batching, wanted), startedNs, builtNs, ranNs);
  }

  async close(): Promise<void> {
    this.closing = true;
    const w = await this.ready.catch(() => this.worker);
    if (!w || w.exited) return;
    const gone = new Promise<void>((resolve) => w.child.once('exit', () => resolve()));
    const kill = setTimeout(() => w.kill('closed'), 5000);
    w.send(MsgType.CLOSE, 0);
    w.child.stdin!.end();
    await gone;
    clearTimeout(kill);
  }
}

/** The factory for pytorch_libtorch models: GPU workers with these options. */
export const gpuExecutorFactoryWith =
  (opts: GpuWorkerOptions = {}) =>
  (spec: ExecutorSpec): Promise<Executor> =>
    GpuWorkerExecutor.start(spec, opts);
export const gpuExecutorFactory = gpuExecutorFactoryWith();
