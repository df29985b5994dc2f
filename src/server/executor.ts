/**
 * Model instances: an Executor runs one batch at a time (inputs concatenated along
 * dim 0, outputs split back per request) and reports Triton's three compute phases. One
 * that `acceptsStagedRun` takes the next batch while executing one, so the transfer of
 * the next batch overlaps the current execution (the batcher's staging).
 * The ONNX Runtime implementation keeps one InferenceSession in a child process per
 * instance (see ort-instance.ts for why a process).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ModelConfig } from '../config/types.js';
import type { ComputeTimes } from './statistics.js';
import type { InstanceReply, InstanceRequest, IoMeta, WireTensor } from './instance-protocol.js';
import { apiFromOrtType, elementCount, ortType, type ApiDatatype } from './tensors.js';

/** One tensor of one request: raw little-endian bytes (BYTES with length prefixes). */
export interface ExecTensor {
  name: string;
  datatype: ApiDatatype;
  shape: number[];
  data: Uint8Array;
}

export interface ExecRequest {
  /** dim 0 of every input when the model batches; 1 otherwise. */
  batchSize: number;
  inputs: ExecTensor[];
}

export interface BatchOutcome {
  /** Per request, in the order given: every output the executor was created with. */
  outputs: ExecTensor[][];
  /** compute_input is measured from `startedNs`. */
  times: ComputeTimes;
  /**
   * When the instance took the batch up (process.hrtime, CLOCK_MONOTONIC ns): `startNs`, or
   * later when the batch was staged and waited behind the previous one, a wait that is queue
   * time, as in Triton, not compute time.
   */
  startedNs: number;
}

export interface Executor {
  /** The model's inputs and outputs as the runtime sees them (-1 = dynamic). */
  readonly io: { inputs: IoMeta[]; outputs: IoMeta[] };
  /**
   * Whether `run` may be called again while a batch is executing: the runs then execute one
   * after the other, in call order. Absent = one run at a time.
   */
  readonly acceptsStagedRun?: boolean;
  /**
   * Runs the requests as one batch. `startNs` (process.hrtime, ns) is when the batch left
   * the queue. Rejects on failure.
   */
  run(requests: readonly ExecRequest[], startNs: number): Promise<BatchOutcome>;
  /** Set once the instance can no longer run (e.g. its process died). */
  readonly failure?: Error | undefined;
  close(): Promise<void>;
}

export interface ExecutorSpec {
  modelName: string;
  modelPath: string;
  /** ONNX Runtime SessionOptions (thread counts, execution mode). */
  sessionOptions: Record<string, unknown>;
  /** Whether dim 0 is the batch dimension (max_batch_size > 0). */
  batching: boolean;
  /** Outputs to fetch, in order. Empty = all of the model's outputs. */
  outputs: string[];
  /** The model's configuration as given (the GPU executor takes its inputs and outputs from it). */
  config?: ModelConfig;
}

export type ExecutorFactory = (spec: ExecutorSpec) => Promise<Executor>;

const hrNow = (): number => Number(process.hrtime.bigint());

/** Concatenated shape of a batch: dim 0 summed when batching, else the single request's. */
export function batchShape(requests: readonly ExecRequest[], input: string, batching: boolean): number[] {
  const first = requests[0]!.inputs.find((t) => t.name === input)!;
  if (!batching) return [...first.shape];
  return [requests.reduce((n, r) => n + r.batchSize, 0), ...first.shape.slice(1)];
}

/** A batch input as both instance kinds send it: ONNX Runtime's type name, the batch's shape, the requests' bytes in order. */
export interface BatchInput {
  name: string;
  ortType: string;
  shape: number[];
  parts: Uint8Array[];
}

/** The batch's inputs: each request's bytes in request order, under the batch's shape (no copy). */
export function batchInputs(requests: readonly ExecRequest[], batching: boolean): BatchInput[] {
  return requests[0]!.inputs.map((t) => ({
    name: t.name,
    ortType: ortType(t.datatype)!,
    shape: batchShape(requests, t.name, batching),
    parts: requests.map((r) => r.inputs.find((x) => x.name === t.name)!.data),
  }));
}

/** The batch's outputs, back per request (in request order); `wanted` (when given) keeps only those outputs. */
export function splitOutputs(
  outputs: readonly { name: string; ortType: string; shape: readonly number[]; data: Uint8Array }[],
  requests: readonly ExecRequest[],
  batching: boolean,
  wanted?: readonly string[],
): ExecTensor[][] {
  const sizes = requests.map((r) => r.batchSize);
  const perRequest: ExecTensor[][] = requests.map(() => []);
  for (const t of outputs) {
    if (wanted && !wanted.includes(t.name)) continue;
    const datatype = apiFromOrtType(t.ortType);
    if (!datatype) throw new Error(`output '${t.name}' has unsupported type ${t.ortType}`);
    splitOutput(t.name, datatype, t.shape, t.data, sizes, batching).forEach((p, i) => perRequest[i]!.push(p));
  }
  return perRequest;
}

/** A run's outcome from the instance's stamps (taken up, inputs built, run done) and now, the reply's arrival. */
export function batchOutcome(outputs: ExecTensor[][], startedNs: number, builtNs: number, ranNs: number): BatchOutcome {
  const doneNs = hrNow();
  return {
    outputs,
    startedNs,
    times: {
      computeInputNs: Math.max(0, builtNs - startedNs),
      computeInferNs: Math.max(0, ranNs - builtNs),
      computeOutputNs: Math.max(0, doneNs - ranNs),
    },
  };
}

/** Splits one batched output tensor into per-request tensors along dim 0. */
export function splitOutput(
  name: string,
  datatype: ApiDatatype,
  shape: readonly number[],
  data: Uint8Array,
  batchSizes: readonly number[],
  batching: boolean,
): ExecTensor[] {
  if (!batching) return [{ name, datatype, shape: [...shape], data }];
  const total = batchSizes.reduce((a, b) => a + b, 0);
  if (shape[0] !== total) throw new Error(`output '${name}' has first dimension ${shape[0]}, expected the batch size ${total}`);
  const rest = shape.slice(1);
  const perRow = elementCount(rest);
  const out: ExecTensor[] = [];
  let offset = 0;
  if (datatype === 'BYTES') {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (const bs of batchSizes) {
      let end = offset;
      for (let i = 0; i < bs * perRow; i++) end += 4 + view.getUint32(end, true);
      out.push({ name, datatype, shape: [bs, ...rest], data: data.subarray(offset, end) });
      offset = end;
    }
    return out;
  }
  const rowBytes = total > 0 ? data.byteLength / total : 0;
  for (const bs of batchSizes) {
    const len = bs * rowBytes;
    out.push({ name, datatype, shape: [bs, ...rest], data: data.subarray(offset, offset + len) });
    offset += len;
  }
  return out;
}

const LOAD_TIMEOUT_MS = 120_000;
const INSTANCE_SCRIPT = fileURLToPath(new URL('./ort-instance.js', import.meta.url));

/** An ONNX Runtime session in its own process. */
export class OrtProcessExecutor implements Executor {
  /** The instance process handles its messages one after the other, in order. */
  readonly acceptsStagedRun = true;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: InstanceReply) => void; reject: (e: Error) => void }>();
  private exited: Error | undefined;
  private closing = false;

  private constructor(
    private readonly spec: ExecutorSpec,
    private readonly child: ChildProcess,
    readonly io: { inputs: IoMeta[]; outputs: IoMeta[] },
  ) {
    child.on('message', (msg: InstanceReply) => {
      if (msg.op === 'loaded') return;
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      if (msg.op === 'error') w.reject(new Error(msg.message));
      else w.resolve(msg);
    });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`instance process of '${spec.modelName}' exited (${signal ?? `code ${code}`})`);
      for (const w of this.waiting.values()) w.reject(this.exited);
      this.waiting.clear();
    });
  }

  static async start(spec: ExecutorSpec): Promise<OrtProcessExecutor> {
    const child = fork(INSTANCE_SCRIPT, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Not the parent's flags (--test, inspectors): the instance is a plain program.
      execArgv: [],
      // Its own process group: a terminal's Ctrl-C (SIGINT to the foreground group) reaches
      // tanalyze alone, which decides when instances stop (after the current configuration).
      // The instance still exits with its parent: it ends when the IPC channel closes.
      detached: true,
    });
    const io = await new Promise<{ inputs: IoMeta[]; outputs: IoMeta[] }>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`loading took longer than ${LOAD_TIMEOUT_MS / 1000} s`)), LOAD_TIMEOUT_MS);
      const fail = (e: Error): void => {
        clearTimeout(timer);
        child.kill();
        reject(e);
      };
      child.once('error', fail);
      child.once('exit', (code) => fail(new Error(`instance process exited while loading (code ${code})`)));
      child.once('message', (msg: InstanceReply) => {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.removeAllListeners('error');
        if (msg.op === 'loaded') resolve({ inputs: msg.inputs, outputs: msg.outputs });
        else {
          child.kill();
          reject(new Error(msg.op === 'error' ? msg.message : `unexpected reply '${msg.op}'`));
        }
      });
      const load: InstanceRequest = { op: 'load', modelPath: spec.modelPath, options: spec.sessionOptions };
      child.send(load);
    });
    return new OrtProcessExecutor(spec, child, io);
  }

  /** The instance's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get failure(): Error | undefined {
    return this.closing ? undefined : this.exited;
  }

  async run(requests: readonly ExecRequest[], startNs: number): Promise<BatchOutcome> {
    if (this.exited) throw this.exited;
    const batching = this.spec.batching;
    const inputs: WireTensor[] = batchInputs(requests, batching).map(({ ortType: type, ...t }) => ({ ...t, type }));
    const outputs = this.spec.outputs.length ? this.spec.outputs : this.io.outputs.map((o) => o.name);
    const id = this.nextId++;
    const reply = await new Promise<InstanceReply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const msg: InstanceRequest = { op: 'run', id, dequeuedNs: startNs, inputs, outputs };
      this.child.send(msg, (err) => {
        if (err && this.waiting.delete(id)) reject(err);
      });
    });
    if (reply.op !== 'result') throw new Error(`unexpected reply '${reply.op}'`);
    const results = reply.outputs.map((t) => ({ name: t.name, ortType: t.type, shape: t.shape, data: t.parts[0] ?? new Uint8Array(0) }));
    return batchOutcome(splitOutputs(results, requests, batching), reply.startedNs, reply.builtNs, reply.ranNs);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    try {
      this.child.send({ op: 'close' } satisfies InstanceRequest);
    } catch {
      this.child.kill();
    }
    await gone;
    clearTimeout(kill);
  }
}

export const ortExecutorFactory: ExecutorFactory = (spec) => OrtProcessExecutor.start(spec);
