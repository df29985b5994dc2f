/**
 * One HTTP/2 client connection on a net.Socket (RFC 9113), as lean as a load generator's
 * unary calls allow: each stream is a POST of a constant header block and one pre-built body,
 * and the answer is read only for its header fields (HPACK-decoded in full, which the dynamic
 * table requires); DATA is counted for flow control and dropped.
 *
 * What it does for the peer: the preface with SETTINGS (push off, a large receive window) and
 * a connection WINDOW_UPDATE; the server's SETTINGS applied and acknowledged, PING answered;
 * its MAX_CONCURRENT_STREAMS honoured (streams beyond it wait here, as do all streams until its
 * first SETTINGS); its MAX_FRAME_SIZE, INITIAL_WINDOW_SIZE and WINDOW_UPDATEs honoured when
 * sending (a body larger than the windows waits for them); received DATA given back by
 * WINDOW_UPDATEs on the connection and the stream once half a window is used; GOAWAY ends the
 * streams it did not process (the caller may send them again elsewhere) and no new stream
 * starts on the connection.
 *
 * Writes are gathered: everything queued in one turn of the event loop (several requests'
 * frames, window updates) goes out in one socket write at the end of the turn (process.nextTick).
 */
import * as net from 'node:net';
import { HpackDecoder, HpackError } from './hpack.js';
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_BYTES,
  FrameReader,
  FrameType,
  goawayFrame,
  H2ProtocolError,
  headersFragment,
  MAX_WINDOW,
  parseSettings,
  pingAckFrame,
  PREFACE,
  rstStreamFrame,
  Setting,
  SETTINGS_ACK,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './h2-frames.js';

/** How a stream ended, as its owner is told once. */
export const StreamEnd = {
  /** The server ended the stream (END_STREAM). */
  ENDED: 0,
  /** The server reset it (RST_STREAM; the code says why). */
  RESET: 1,
  /** Not processed by the server (above a GOAWAY's last stream id, or never sent before it): safe to send again. */
  UNPROCESSED: 2,
  /** The connection failed or closed with the stream open (or waiting): the message says how. */
  FAILED: 3,
} as const;
export type StreamEndKind = (typeof StreamEnd)[keyof typeof StreamEnd];

/** A request stream as the connection sees it; the owner's object, whose fields the connection keeps. */
export interface H2Stream {
  /** The body to send (the whole gRPC message). */
  readonly body: Buffer;
  /** Set by the connection: the stream id (0 while waiting), body bytes sent, the peer's window for it, DATA bytes received not yet given back, header blocks received. */
  id: number;
  sent: number;
  window: number;
  unacked: number;
  blocks: number;
  /** A header field of the answer: of its first header block, or (trailers) of a later one. */
  header(name: string, value: string, trailers: boolean): void;
  ended(kind: StreamEndKind, code: number, message: string): void;
}

export interface H2ConnectionOptions {
  host: string;
  port: number;
  /** The receive window announced per stream and for the connection. */
  windowBytes: number;
  /** The request header block (HPACK, constant: it must not use the dynamic table). */
  headerBlock: Buffer;
}

/** The highest client stream id (odd, below 2^31). */
const MAX_STREAM_ID = 2 ** 31 - 1;
/** Bytes of one read from the socket. */
const READ_BUFFER_BYTES = 256 * 1024;
/** Queued writes up to this size are copied into one buffer; above it they go out as a writev. */
const COALESCE_BYTES = 16 * 1024;

export class H2Connection {
  private readonly socket: net.Socket;
  private readonly reader: FrameReader;
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, H2Stream>();
  /** Streams not started: before the server's first SETTINGS, or beyond its MAX_CONCURRENT_STREAMS. */
  private readonly waiting: H2Stream[] = [];
  /** Started streams with body bytes waiting for send window. */
  private readonly blocked: H2Stream[] = [];
  /** HEADERS frame header, the header block, and a DATA frame header: copied per request, ids filled in. */
  private readonly requestTemplate: Buffer;
  private readonly dataHeaderAt: number;
  private readonly windowBytes: number;
  private nextId = 1;
  private settingsSeen = false;
  private peerMaxStreams = Infinity;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = DEFAULT_MAX_FRAME_SIZE;
  /** The peer's connection window for what this end sends. */
  private sendWindow = DEFAULT_WINDOW;
  /** DATA bytes received on the connection not yet given back. */
  private unacked = 0;
  private goaway = false;
  private closing = false;
  private shutDown = false;
  private closed = false;
  private failure = '';
  private readyCallbacks: ((error: string | null) => void)[] = [];
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushQueued = false;
  /** A header block continued in CONTINUATION frames: its stream, END_STREAM, and the fragments so far. */
  private continued: { streamId: number; endStream: boolean; parts: Buffer[] } | null = null;
  /** The stream and block kind the HPACK decoder's fields go to (one bound callback, no closure per block). */
  private fieldStream: H2Stream | undefined;
  private fieldTrailers = false;

  constructor(opts: H2ConnectionOptions) {
    this.windowBytes = Math.min(Math.max(opts.windowBytes, DEFAULT_WINDOW), MAX_WINDOW);
    const block = opts.headerBlock;
    this.requestTemplate = Buffer.alloc(FRAME_HEADER_BYTES + block.length + FRAME_HEADER_BYTES);
    writeFrameHeader(this.requestTemplate, 0, block.length, FrameType.HEADERS, Flag.END_HEADERS, 0);
    block.copy(this.requestTemplate, FRAME_HEADER_BYTES);
    this.dataHeaderAt = FRAME_HEADER_BYTES + block.length;
    this.reader = new FrameReader({ onFrame: (t, f, id, p) => this.onFrame(t, f, id, p), onData: (id, f, n) => this.onData(id, f, n) });
    this.socket = net.connect({
      host: opts.host,
      port: opts.port,
      // Each flush is a whole batch of requests: Nagle's delay would only add latency.
      noDelay: true,
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
        callback: (n: number, buf: Uint8Array): boolean => {
          this.onBytes(buf as Buffer, n);
          return true;
        },
      },
    });
    this.socket.on('error', (err) => {
      this.failure ||= err.message;
    });
    this.socket.on('close', () => this.fail(this.failure || 'the server closed the connection'));
    this.queue(PREFACE);
    this.queue(
      settingsFrame([
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, this.windowBytes],
      ]),
    );
    if (this.windowBytes > DEFAULT_WINDOW) this.queue(windowUpdateFrame(0, this.windowBytes - DEFAULT_WINDOW));
  }

  /** New streams may start here: not failed, closing, told to go away, or out of stream ids. */
  get usable(): boolean {
    return !this.closed && !this.goaway && !this.closing && this.nextId <= MAX_STREAM_ID;
  }

  /** Streams started or waiting. */
  get active(): number {
    return this.streams.size + this.waiting.length;
  }

  /** Calls back once the server's first SETTINGS arrived (null) or the connection failed (its reason). */
  whenReady(callback: (error: string | null) => void): void {
    if (this.settingsSeen && !this.closed) callback(null);
    else if (this.closed) callback(this.failure || 'connection closed');
    else this.readyCallbacks.push(callback);
  }

  /** Starts a stream, or queues it until the server allows it. */
  send(s: H2Stream): void {
    s.id = 0;
    s.sent = 0;
    s.unacked = 0;
    s.blocks = 0;
    if (this.closed) {
      s.ended(StreamEnd.FAILED, 0, this.failure || 'connection closed');
      return;
    }
    if (!this.settingsSeen || this.streams.size >= this.peerMaxStreams || this.waiting.length > 0) this.waiting.push(s);
    else this.start(s);
  }

  /** Abandons a stream (its deadline passed): a started one is reset with CANCEL. Its owner is not called back. */
  cancel(s: H2Stream): void {
    if (s.id === 0) {
      const at = this.waiting.indexOf(s);
      if (at >= 0) this.waiting.splice(at, 1);
      return;
    }
    if (this.streams.get(s.id) !== s) return;
    this.forget(s);
    this.queue(rstStreamFrame(s.id, ErrorCode.CANCEL));
    this.afterStreamEnd();
  }

  /** No new streams; the socket is closed once those started or waiting have ended. */
  closeWhenIdle(): void {
    this.closing = true;
    if (this.active === 0) this.shutdown();
  }

  private start(s: H2Stream): void {
    if (this.nextId > MAX_STREAM_ID) {
      s.ended(StreamEnd.UNPROCESSED, 0, 'stream ids ran out on the connection');
      return;
    }
    const id = this.nextId;
    this.nextId += 2;
    s.id = id;
    s.window = this.peerInitialWindow;
    this.streams.set(id, s);
    const body = s.body;
    const whole = body.length <= s.window && body.length <= this.sendWindow && body.length <= this.peerMaxFrame;
    const head = Buffer.allocUnsafe(whole ? this.requestTemplate.length : this.dataHeaderAt);
    this.requestTemplate.copy(head, 0, 0, head.length);
    head.writeUInt32BE(id, 5);
    if (whole) {
      // The common case: HEADERS and the one DATA frame (END_STREAM) in one go.
      writeFrameHeader(head, this.dataHeaderAt, body.length, FrameType.DATA, Flag.END_STREAM, id);
      this.queue(head);
      this.queue(body);
      s.sent = body.length;
      s.window -= body.length;
      this.sendWindow -= body.length;
      return;
    }
    this.queue(head);
    this.sendBody(s);
  }

  /** Sends what the windows and frame size allow of a stream's body; true once all of it is sent. */
  private sendBody(s: H2Stream): boolean {
    const body = s.body;
    while (s.sent < body.length) {
      const n = Math.min(body.length - s.sent, s.window, this.sendWindow, this.peerMaxFrame);
      if (n <= 0) {
        if (!this.blocked.includes(s)) this.blocked.push(s);
        return false;
      }
      const last = s.sent + n === body.length;
      const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeFrameHeader(head, 0, n, FrameType.DATA, last ? Flag.END_STREAM : 0, s.id);
      this.queue(head);
      this.queue(body.subarray(s.sent, s.sent + n));
      s.sent += n;
      s.window -= n;
      this.sendWindow -= n;
    }
    return true;
  }

  /** Sends blocked bodies, oldest first, as far as the windows now allow. */
  private drainBlocked(): void {
    for (let i = 0; i < this.blocked.length && this.sendWindow > 0; ) {
      const s = this.blocked[i]!;
      if (s.window > 0 && this.sendBody(s)) this.blocked.splice(i, 1);
      else i++;
    }
  }

  /** Starts waiting streams while the server's limit allows. */
  private startWaiting(): void {
    while (this.waiting.length > 0 && this.settingsSeen && !this.closed && !this.goaway && this.streams.size < this.peerMaxStreams) {
      this.start(this.waiting.shift()!);
    }
  }

  private forget(s: H2Stream): void {
    this.streams.delete(s.id);
    if (this.blocked.length > 0) {
      const at = this.blocked.indexOf(s);
      if (at >= 0) this.blocked.splice(at, 1);
    }
  }

  private afterStreamEnd(): void {
    if (this.waiting.length > 0) this.startWaiting();
    if ((this.closing || this.goaway) && this.active === 0) this.shutdown();
  }

  private queue(buf: Buffer): void {
    this.out.push(buf);
    this.outBytes += buf.length;
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    const out = this.out;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (this.closed || out.length === 0 || this.socket.writableEnded) return;
    if (out.length === 1) this.socket.write(out[0]!);
    else if (bytes <= COALESCE_BYTES) this.socket.write(Buffer.concat(out, bytes));
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
  };

  /** Ends the connection politely: GOAWAY, then the socket's end. */
  private shutdown(): void {
    if (this.closed || this.shutDown) return;
    this.shutDown = true;
    this.closing = true;
    this.queue(goawayFrame(0, ErrorCode.NO_ERROR));
    this.flush();
    this.socket.end();
  }

  /** A connection error found here: GOAWAY with its code, and the connection fails. */
  private protocolError(code: number, message: string): void {
    if (this.closed) return;
    this.queue(goawayFrame(0, code, message));
    this.flush();
    this.socket.end();
    this.fail(`HTTP/2 connection error (code ${code}): ${message}`);
  }

  /** The connection is gone: every stream started or waiting fails with the reason. */
  private fail(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.failure = reason;
    this.socket.destroy();
    const open = [...this.streams.values(), ...this.waiting];
    this.streams.clear();
    this.waiting.length = 0;
    this.blocked.length = 0;
    for (const s of open) s.ended(StreamEnd.FAILED, 0, reason);
    const callbacks = this.readyCallbacks;
    this.readyCallbacks = [];
    for (const cb of callbacks) cb(reason);
  }

  private onBytes(buf: Buffer, n: number): void {
    if (this.closed) return;
    try {
      this.reader.push(n === buf.length ? buf : buf.subarray(0, n));
    } catch (err) {
      if (err instanceof H2ProtocolError) this.protocolError(err.code, err.message);
      else if (err instanceof HpackError) this.protocolError(ErrorCode.COMPRESSION_ERROR, err.message);
      else throw err;
    }
  }

  private onData(streamId: number, flags: number, length: number): void {
    if (streamId === 0) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    if (this.continued) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'DATA inside a header block');
    this.unacked += length;
    if (this.unacked >= this.windowBytes / 2) {
      this.queue(windowUpdateFrame(0, this.unacked));
      this.unacked = 0;
    }
    const s = this.streams.get(streamId);
    if (!s) return;
    if (flags & Flag.END_STREAM) {
      this.endedByServer(s);
      return;
    }
    s.unacked += length;
    if (s.unacked >= this.windowBytes / 2) {
      this.queue(windowUpdateFrame(streamId, s.unacked));
      s.unacked = 0;
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.continued && type !== FrameType.CONTINUATION) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, `frame type ${type} inside a header block`);
    switch (type) {
      case FrameType.HEADERS: {
        if (streamId === 0) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
        const fragment = headersFragment(flags, payload);
        const endStream = (flags & Flag.END_STREAM) !== 0;
        if (flags & Flag.END_HEADERS) this.headerBlock(streamId, endStream, fragment);
        else this.continued = { streamId, endStream, parts: [Buffer.from(fragment)] };
        return;
      }
      case FrameType.CONTINUATION: {
        const c = this.continued;
        if (!c || c.streamId !== streamId) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without its HEADERS');
        c.parts.push(Buffer.from(payload));
        if (flags & Flag.END_HEADERS) {
          this.continued = null;
          this.headerBlock(streamId, c.endStream, Buffer.concat(c.parts));
        }
        return;
      }
      case FrameType.RST_STREAM: {
        if (payload.length !== 4) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM of other than 4 bytes');
        const s = this.streams.get(streamId);
        if (!s) return;
        this.forget(s);
        s.ended(StreamEnd.RESET, payload.readUInt32BE(0), '');
        this.afterStreamEnd();
        return;
      }
      case FrameType.SETTINGS:
        if (streamId !== 0) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
        if (flags & Flag.ACK) return;
        this.applySettings(parseSettings(payload));
        return;
      case FrameType.PING:
        if (payload.length !== 8) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'PING of other than 8 bytes');
        if (!(flags & Flag.ACK)) this.queue(pingAckFrame(payload));
        return;
      case FrameType.GOAWAY:
        if (payload.length < 8) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 bytes');
        this.onGoaway(payload.readUInt32BE(0) & 0x7fffffff, payload.readUInt32BE(4), payload.subarray(8).toString('utf8'));
        return;
      case FrameType.WINDOW_UPDATE: {
        if (payload.length !== 4) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of other than 4 bytes');
        const increment = payload.readUInt32BE(0) & 0x7fffffff;
        if (streamId === 0) {
          if (increment === 0) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'connection WINDOW_UPDATE of 0');
          this.sendWindow += increment;
          if (this.sendWindow > MAX_WINDOW) throw new H2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
        } else {
          const s = this.streams.get(streamId);
          if (!s) return;
          s.window += increment;
        }
        if (this.blocked.length > 0) this.drainBlocked();
        return;
      }
      case FrameType.PUSH_PROMISE:
        throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE with push disabled');
      default:
        // PRIORITY and frame types this end does not know are ignored (RFC 9113 5.5).
        return;
    }
  }

  private readonly onField = (name: string, value: string): void => {
    this.fieldStream?.header(name, value, this.fieldTrailers);
  };

  private headerBlock(streamId: number, endStream: boolean, block: Buffer): void {
    // Decoded whatever stream it is for (one reset or forgotten too): the dynamic table depends on it.
    const s = this.streams.get(streamId);
    this.fieldStream = s;
    this.fieldTrailers = s !== undefined && s.blocks > 0;
    try {
      this.decoder.decode(block, this.onField);
    } finally {
      this.fieldStream = undefined;
    }
    if (!s) return;
    s.blocks++;
    if (endStream) this.endedByServer(s);
  }

  /** The server ended its side: the exchange is over (a body still unsent is abandoned with a reset). */
  private endedByServer(s: H2Stream): void {
    this.forget(s);
    if (s.sent < s.body.length) this.queue(rstStreamFrame(s.id, ErrorCode.NO_ERROR));
    s.ended(StreamEnd.ENDED, 0, '');
    this.afterStreamEnd();
  }

  private applySettings(settings: [number, number][]): void {
    for (const [id, value] of settings) {
      if (id === Setting.MAX_CONCURRENT_STREAMS) this.peerMaxStreams = value;
      else if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > 2 ** 24 - 1) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
        this.peerMaxFrame = value;
      } else if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new H2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value} above 2^31-1`);
        // The change applies to every open stream's window (6.9.2).
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        if (delta !== 0) for (const s of this.streams.values()) s.window += delta;
      }
      // HEADER_TABLE_SIZE bounds the encoder's table, which this end's constant block does not use.
    }
    this.queue(SETTINGS_ACK);
    const first = !this.settingsSeen;
    this.settingsSeen = true;
    if (this.blocked.length > 0) this.drainBlocked();
    this.startWaiting();
    if (first) {
      const callbacks = this.readyCallbacks;
      this.readyCallbacks = [];
      for (const cb of callbacks) cb(null);
    }
  }

  private onGoaway(lastStreamId: number, code: number, debug: string): void {
    this.goaway = true;
    const why = `the server sent GOAWAY (code ${code}${debug ? `: ${debug}` : ''})`;
    const unprocessed = [...this.waiting];
    this.waiting.length = 0;
    for (const s of this.streams.values()) if (s.id > lastStreamId) unprocessed.push(s);
    for (const s of unprocessed) if (s.id !== 0) this.forget(s);
    for (const s of unprocessed) s.ended(StreamEnd.UNPROCESSED, code, why);
    if (this.active === 0) this.shutdown();
  }
}
