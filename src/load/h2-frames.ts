/**
 * HTTP/2 framing (RFC 9113 section 4, 6) for the load generator's client: encoders of the
 * frames a client sends and an incremental reader of the byte stream a server sends. Pure:
 * no sockets, so each piece can be tested on its own.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME_HEADER_BYTES = 9;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
} as const;

/** The smallest SETTINGS_MAX_FRAME_SIZE, and every peer's until it says otherwise. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** Every window's size until SETTINGS or WINDOW_UPDATE change it. */
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 2 ** 31 - 1;

export class H2ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Writes a frame header at `at`. */
export function writeFrameHeader(buf: Buffer, at: number, length: number, type: number, flags: number, streamId: number): void {
  buf[at] = (length >>> 16) & 0xff;
  buf[at + 1] = (length >>> 8) & 0xff;
  buf[at + 2] = length & 0xff;
  buf[at + 3] = type;
  buf[at + 4] = flags;
  buf.writeUInt32BE(streamId & 0x7fffffff, at + 5);
}

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(buf, 0, payload.length, type, flags, streamId);
  buf.set(payload, FRAME_HEADER_BYTES);
  return buf;
}

export function settingsFrame(settings: readonly (readonly [number, number])[]): Buffer {
  const payload = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export const SETTINGS_ACK = frame(FrameType.SETTINGS, Flag.ACK, 0);

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment & 0x7fffffff, 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code, 0);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function goawayFrame(lastStreamId: number, code: number, debug = ''): Buffer {
  const text = Buffer.from(debug, 'utf8');
  const payload = Buffer.allocUnsafe(8 + text.length);
  payload.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  payload.writeUInt32BE(code, 4);
  text.copy(payload, 8);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

export function pingAckFrame(opaque: Uint8Array): Buffer {
  return frame(FrameType.PING, Flag.ACK, 0, opaque);
}

/** A SETTINGS payload as [id, value] pairs. */
export function parseSettings(payload: Buffer): [number, number][] {
  if (payload.length % 6 !== 0) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `SETTINGS payload of ${payload.length} bytes, not a multiple of 6`);
  const out: [number, number][] = [];
  for (let at = 0; at < payload.length; at += 6) out.push([payload.readUInt16BE(at), payload.readUInt32BE(at + 2)]);
  return out;
}

/** The header block fragment of a HEADERS frame's payload: padding and priority fields removed (6.2). */
export function headersFragment(flags: number, payload: Buffer): Buffer {
  let start = 0;
  let end = payload.length;
  if (flags & Flag.PADDED) {
    if (payload.length < 1) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'padded HEADERS without its pad length');
    end -= payload[0]!;
    start = 1;
  }
  if (flags & Flag.PRIORITY) start += 5;
  if (end < start) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding longer than its payload');
  return payload.subarray(start, end);
}

export interface FrameHandler {
  /** A whole frame other than DATA; `payload` is valid only during the call. */
  onFrame(type: number, flags: number, streamId: number, payload: Buffer): void;
  /** A whole DATA frame, its payload skipped: `length` counts padding too, as flow control does. */
  onData(streamId: number, flags: number, length: number): void;
}

/**
 * Splits a byte stream into frames, across chunks however they fall. DATA payloads are
 * counted, never buffered or copied (the load generator does not read answers); other
 * payloads are handed over in place when a chunk holds them whole, else gathered.
 */
export class FrameReader {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerHave = 0;
  /** The frame whose payload is being read: its fields, and the bytes still to come. */
  private inPayload = false;
  private type = 0;
  private flags = 0;
  private streamId = 0;
  private length = 0;
  private left = 0;
  private gathered: Buffer | null = null;

  constructor(
    private readonly handler: FrameHandler,
    /** The SETTINGS_MAX_FRAME_SIZE this end announced: a larger frame is a FRAME_SIZE_ERROR. */
    private readonly maxFrameSize = DEFAULT_MAX_FRAME_SIZE,
  ) {}

  /** Feeds bytes in; frames complete in them are handed to the handler before it returns. */
  push(chunk: Buffer): void {
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (!this.inPayload) {
        if (this.headerHave === 0 && end - at >= FRAME_HEADER_BYTES) {
          this.begin(chunk, at);
          at += FRAME_HEADER_BYTES;
        } else {
          const take = Math.min(FRAME_HEADER_BYTES - this.headerHave, end - at);
          chunk.copy(this.header, this.headerHave, at, at + take);
          this.headerHave += take;
          at += take;
          if (this.headerHave < FRAME_HEADER_BYTES) return;
          this.headerHave = 0;
          this.begin(this.header, 0);
        }
        if (this.left === 0) {
          this.finish(EMPTY);
          continue;
        }
      }
      const take = Math.min(this.left, end - at);
      if (this.type === FrameType.DATA) {
        this.left -= take;
        at += take;
        if (this.left === 0) this.finish(EMPTY);
      } else if (this.gathered === null && take === this.left) {
        // The whole payload is in this chunk: no copy.
        this.left = 0;
        at += take;
        this.finish(chunk.subarray(at - take, at));
      } else {
        if (this.gathered === null) this.gathered = Buffer.allocUnsafe(this.length);
        chunk.copy(this.gathered, this.length - this.left, at, at + take);
        this.left -= take;
        at += take;
        if (this.left === 0) {
          const payload = this.gathered;
          this.gathered = null;
          this.finish(payload);
        }
      }
    }
  }

  private begin(src: Buffer, at: number): void {
    this.length = (src[at]! << 16) | (src[at + 1]! << 8) | src[at + 2]!;
    this.type = src[at + 3]!;
    this.flags = src[at + 4]!;
    this.streamId = src.readUInt32BE(at + 5) & 0x7fffffff;
    if (this.length > this.maxFrameSize) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `a frame of ${this.length} bytes, above the ${this.maxFrameSize} allowed`);
    this.left = this.length;
    this.inPayload = true;
  }

  private finish(payload: Buffer): void {
    this.inPayload = false;
    if (this.type === FrameType.DATA) this.handler.onData(this.streamId, this.flags, this.length);
    else this.handler.onFrame(this.type, this.flags, this.streamId, payload);
  }
}

const EMPTY = Buffer.alloc(0);
