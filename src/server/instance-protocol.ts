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
  | { op: 'run'; id: number; inputs: WireTensor[]; outputs: string[] }
  | { op: 'close' };

export type InstanceReply =
  | { op: 'loaded'; inputs: IoMeta[]; outputs: IoMeta[] }
  | { op: 'result'; id: number; builtNs: number; ranNs: number; outputs: WireTensor[] }
  | { op: 'error'; id: number; message: string };
