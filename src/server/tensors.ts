/**
 * Tensor data as the KServe v2 protocol carries it: API datatype names, the config's
 * TYPE_* names, ONNX Runtime's type names, and conversion between typed
 * `InferTensorContents` and raw little-endian bytes. Pure.
 */

export type ApiDatatype =
  | 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64'
  | 'FP16' | 'BF16' | 'FP32' | 'FP64' | 'BYTES';

interface DatatypeInfo {
  /** Bytes per element; 0 = variable (BYTES). */
  size: number;
  /** Field of InferTensorContents holding this type; undefined = raw only. */
  contents?: string;
  /** ONNX Runtime tensor type; undefined = not runnable by ORT in Node. */
  ort?: string;
}

const INFO: Record<ApiDatatype, DatatypeInfo> = {
  BOOL: { size: 1, contents: 'bool_contents', ort: 'bool' },
  UINT8: { size: 1, contents: 'uint_contents', ort: 'uint8' },
  UINT16: { size: 2, contents: 'uint_contents', ort: 'uint16' },
  UINT32: { size: 4, contents: 'uint_contents', ort: 'uint32' },
  UINT64: { size: 8, contents: 'uint64_contents', ort: 'uint64' },
  INT8: { size: 1, contents: 'int_contents', ort: 'int8' },
  INT16: { size: 2, contents: 'int_contents', ort: 'int16' },
  INT32: { size: 4, contents: 'int_contents', ort: 'int32' },
  INT64: { size: 8, contents: 'int64_contents', ort: 'int64' },
  FP16: { size: 2, ort: 'float16' },
  BF16: { size: 2 },
  FP32: { size: 4, contents: 'fp32_contents', ort: 'float32' },
  FP64: { size: 8, contents: 'fp64_contents', ort: 'float64' },
  BYTES: { size: 0, contents: 'bytes_contents', ort: 'string' },
};

export function isApiDatatype(s: string): s is ApiDatatype {
  return Object.prototype.hasOwnProperty.call(INFO, s);
}

export function elementSize(dt: ApiDatatype): number {
  return INFO[dt].size;
}

export function contentsField(dt: ApiDatatype): string | undefined {
  return INFO[dt].contents;
}

export function ortType(dt: ApiDatatype): string | undefined {
  return INFO[dt].ort;
}

/** Config TYPE_* name → API datatype (TYPE_STRING is BYTES); undefined for TYPE_INVALID. */
export function apiFromConfigType(t: string | undefined): ApiDatatype | undefined {
  if (!t) return undefined;
  if (t === 'TYPE_STRING') return 'BYTES';
  const name = t.replace(/^TYPE_/, '');
  return isApiDatatype(name) && name !== 'BYTES' ? name : undefined;
}

/** ONNX Runtime type name → API datatype. */
export function apiFromOrtType(t: string): ApiDatatype | undefined {
  for (const [dt, info] of Object.entries(INFO) as [ApiDatatype, DatatypeInfo][]) if (info.ort === t) return dt;
  return undefined;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Splits BYTES raw data (4-byte LE length + bytes per element); null if malformed. */
export function splitBytesElements(raw: Uint8Array): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let o = 0;
  while (o < raw.byteLength) {
    if (o + 4 > raw.byteLength) return null;
    const len = view.getUint32(o, true);
    o += 4;
    if (o + len > raw.byteLength) return null;
    out.push(raw.subarray(o, o + len));
    o += len;
  }
  return out;
}

export function joinBytesElements(elements: readonly Uint8Array[]): Buffer {
  const total = elements.reduce((n, e) => n + 4 + e.byteLength, 0);
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (const e of elements) {
    out.writeUInt32LE(e.byteLength, o);
    out.set(e, o + 4);
    o += 4 + e.byteLength;
  }
  return out;
}

/**
 * Raw little-endian bytes from typed contents (the field matching `dt`). Throws a
 * message fit for the client when the field is missing or holds the wrong count.
 */
export function rawFromContents(dt: ApiDatatype, contents: Record<string, unknown>, count: number, name: string): Buffer {
  const field = contentsField(dt);
  if (!field) throw new Error(`input '${name}': datatype ${dt} must be sent in raw_input_contents`);
  const values = (contents[field] ?? []) as unknown[];
  if (values.length !== count) {
    throw new Error(`input '${name}': expected ${count} elements in ${field}, got ${values.length}`);
  }
  if (dt === 'BYTES') return joinBytesElements(values as Uint8Array[]);
  const size = elementSize(dt);
  const buf = Buffer.alloc(count * size);
  const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
  for (let i = 0; i < count; i++) {
    const v = values[i];
    const o = i * size;
    switch (dt) {
      case 'BOOL': buf.writeUInt8(v ? 1 : 0, o); break;
      case 'UINT8': buf.writeUInt8(num(v) & 0xff, o); break;
      case 'UINT16': buf.writeUInt16LE(num(v) & 0xffff, o); break;
      case 'UINT32': buf.writeUInt32LE(num(v) >>> 0, o); break;
      case 'UINT64': buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v as number | string)), o); break;
      case 'INT8': buf.writeInt8(num(v), o); break;
      case 'INT16': buf.writeInt16LE(num(v), o); break;
      case 'INT32': buf.writeInt32LE(num(v), o); break;
      case 'INT64': buf.writeBigInt64LE(BigInt.asIntN(64, BigInt(v as number | string)), o); break;
      case 'FP32': buf.writeFloatLE(num(v), o); break;
      case 'FP64': buf.writeDoubleLE(num(v), o); break;
    }
  }
  return buf;
}

/** True when any field of an InferTensorContents holds elements. */
export function hasContents(contents: Record<string, unknown> | null | undefined): boolean {
  if (!contents) return false;
  return Object.values(contents).some((v) => Array.isArray(v) && v.length > 0);
}
