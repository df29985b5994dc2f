/** Messages between the server and an instance process (see ort-instance.ts). */

/** A tensor on the wire: ORT type name, full shape, data as little-endian byte parts to concatenate. */
export interface WireTensor {
  name: string;
  type: string;
  shape: number[];
  parts: Uint8Array[];
}

/** A model input or output as the session reports it; -1 = dynamic dimension. */
export interface IoMeta {
  name: string;
  type: string;
  shape: number[];
}

export type InstanceRequest =
  | { op: 'load'; modelPath: string; options: Record<string, unknown> }
  /** dequeuedNs: when the batch left the server's queue (process.hrtime ns). */
  | { op: 'run'; id: number; dequeuedNs: number; inputs: WireTensor[]; outputs: string[] }
  | { op: 'close' };

export type InstanceReply =
  | { op: 'loaded'; inputs: IoMeta[]; outputs: IoMeta[] }
  /**
   * startedNs: when the instance took the run up: the end of its previous run if the run
   * waited behind it (staged), else dequeuedNs (an idle instance waits for the transfer,
   * which is compute_input). builtNs: inputs ready; ranNs: inference done.
   */
  | { op: 'result'; id: number; startedNs: number; builtNs: number; ranNs: number; outputs: WireTensor[] }
  | { op: 'error'; id: number; message: string };
