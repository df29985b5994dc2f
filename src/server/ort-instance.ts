/**
 * One model instance: a child process holding one ONNX Runtime InferenceSession.
 *
 * A process rather than a worker thread because onnxruntime-node's addon loads in only
 * one thread per process and its `run` blocks the thread that calls it; separate
 * processes give instances real parallelism (as Triton's instance threads have) and keep
 * the server's event loop free while a batch computes.
 *
 * Timestamps are process.hrtime (CLOCK_MONOTONIC), comparable with the parent's.
 */
import * as ort from 'onnxruntime-node';
import type { InstanceReply, InstanceRequest, IoMeta, WireTensor } from './instance-protocol.js';

let session: ort.InferenceSession | undefined;
/** When the previous run's reply was sent: a run that arrived before waited behind it. */
let previousRunEndNs = 0;

const now = (): number => Number(process.hrtime.bigint());

function send(msg: InstanceReply): void {
  process.send!(msg);
}

function meta(names: readonly string[], metadata: readonly ort.InferenceSession.ValueMetadata[]): IoMeta[] {
  return names.map((name, i) => {
    const m = metadata[i] as { isTensor: boolean; type?: string; shape?: readonly (number | string)[] } | undefined;
    return {
      name,
      type: m?.isTensor ? (m.type ?? 'unknown') : 'non-tensor',
      shape: m?.isTensor ? (m.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) : [],
    };
  });
}

/** A copy of the parts, concatenated into fresh (so aligned) memory. */
function concat(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function toOrt(t: WireTensor): ort.Tensor {
  const data = concat(t.parts);
  const b = data.buffer;
  const n = t.shape.reduce((a, d) => a * d, 1);
  switch (t.type) {
    case 'float32': return new ort.Tensor('float32', new Float32Array(b, 0, n), t.shape);
    case 'float64': return new ort.Tensor('float64', new Float64Array(b, 0, n), t.shape);
    case 'float16': return new ort.Tensor('float16', new Uint16Array(b, 0, n), t.shape);
    case 'int8': return new ort.Tensor('int8', new Int8Array(b, 0, n), t.shape);
    case 'int16': return new ort.Tensor('int16', new Int16Array(b, 0, n), t.shape);
    case 'int32': return new ort.Tensor('int32', new Int32Array(b, 0, n), t.shape);
    case 'int64': return new ort.Tensor('int64', new BigInt64Array(b, 0, n), t.shape);
    case 'uint8': return new ort.Tensor('uint8', data, t.shape);
    case 'uint16': return new ort.Tensor('uint16', new Uint16Array(b, 0, n), t.shape);
    case 'uint32': return new ort.Tensor('uint32', new Uint32Array(b, 0, n), t.shape);
    case 'uint64': return new ort.Tensor('uint64', new BigUint64Array(b, 0, n), t.shape);
    case 'bool': return new ort.Tensor('bool', data, t.shape);
    case 'string': {
      // BYTES: 4-byte little-endian length before each element.
      const view = new DataView(b);
      const strings: string[] = [];
      for (let o = 0; o < data.byteLength; ) {
        const len = view.getUint32(o, true);
        strings.push(decoder.decode(data.subarray(o + 4, o + 4 + len)));
        o += 4 + len;
      }
      return new ort.Tensor('string', strings, t.shape);
    }
    default:
      throw new Error(`unsupported tensor type ${t.type}`);
  }
}

function fromOrt(name: string, tensor: ort.Tensor): WireTensor {
  const shape = tensor.dims.map(Number);
  if (tensor.type === 'string') {
    const parts = (tensor.data as string[]).flatMap((s) => {
      const bytes = encoder.encode(s);
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, bytes.byteLength, true);
      return [len, bytes];
    });
    return { name, type: 'string', shape, parts: [concat(parts)] };
  }
  const d = tensor.data as ArrayBufferView;
  return { name, type: tensor.type, shape, parts: [new Uint8Array(d.buffer, d.byteOffset, d.byteLength)] };
}

async function handle(msg: InstanceRequest): Promise<void> {
  switch (msg.op) {
    case 'load': {
      try {
        session = await ort.InferenceSession.create(msg.modelPath, msg.options as ort.InferenceSession.SessionOptions);
        send({ op: 'loaded', inputs: meta(session.inputNames, session.inputMetadata), outputs: meta(session.outputNames, session.outputMetadata) });
      } catch (e) {
        send({ op: 'error', id: -1, message: (e as Error).message });
      }
      return;
    }
    case 'run': {
      const startedNs = Math.max(msg.dequeuedNs, previousRunEndNs);
      try {
        if (!session) throw new Error('no session loaded');
        const feeds: Record<string, ort.Tensor> = {};
        for (const t of msg.inputs) feeds[t.name] = toOrt(t);
        const builtNs = now();
        const results = await session.run(feeds, msg.outputs);
        const ranNs = now();
        const outputs = msg.outputs.map((name) => fromOrt(name, results[name]!));
        send({ op: 'result', id: msg.id, startedNs, builtNs, ranNs, outputs });
      } catch (e) {
        send({ op: 'error', id: msg.id, message: (e as Error).message });
      }
      previousRunEndNs = now();
      return;
    }
    case 'close': {
      await session?.release().catch(() => undefined);
      session = undefined;
      process.disconnect?.();
      return;
    }
  }
}

if (!process.send) {
  console.error('ort-instance: must be started by the embedded server (child process with IPC)');
  process.exit(2);
}
// The server may send a run while the previous one executes (staging): runs are handled one
// after the other, in order, the next one already transferred when the previous one ends.
let chain = Promise.resolve();
process.on('message', (msg: InstanceRequest) => {
  chain = chain.then(() => handle(msg));
});
// The server went away: nothing left to serve.
process.on('disconnect', () => process.exit(0));
