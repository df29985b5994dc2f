/**
 * The load generator's ModelInfer path: a lean unary gRPC call over this package's own HTTP/2
 * client (h2-connection.ts, on a net.Socket), beside @grpc/grpc-js, which every other call of
 * tanalyze uses.
 *
 * Why hand-written: a load generator's only job per request is to POST pre-encoded bytes
 * and read the grpc-status trailer. grpc-js wraps each call in metadata objects, a filter
 * stack, a deadline timer and status parsing; node:http2, which this channel used before,
 * still makes each call a Duplex stream with header objects and nghttp2 callbacks, which cost
 * 2-3x perf_analyzer's client CPU per request. Here a call is one small object: its HEADERS
 * are a constant HPACK block built once per channel, its DATA the pre-built gRPC message (the
 * 5-byte prefix and the bytes), and the answer is read only for :status, grpc-status and
 * grpc-message (from the trailers, or from the headers of a trailers-only answer), per the
 * gRPC-over-HTTP/2 specification.
 *
 * One connection is reused for every request; one that fails, closes or receives GOAWAY is
 * replaced on the next send. Deadlines are enforced by one sweep timer per channel rather than
 * a timer per call, and told to the server in grpc-timeout.
 */
import * as grpc from '@grpc/grpc-js';
import { ProtocolError } from '../protocol/client.js';
import { MODEL_INFER_PATH } from '../protocol/service.js';
import type { RawChannel } from '../domain/load.js';
import { ErrorCode } from './h2-frames.js';
import { encodeConstantHeaderBlock } from './hpack.js';
import { H2Connection, StreamEnd, type H2Stream, type StreamEndKind } from './h2-connection.js';

export interface H2ChannelOptions {
  /** Deadline of each call (default 60 s). */
  deadlineMs?: number;
  /** HTTP/2 receive window, per stream and for the connection (default 16 MiB, at most 2^31-1): large outputs are not throttled by 64 KiB windows. */
  windowBytes?: number;
  /** The gRPC method's path (default ModelInfer's). */
  path?: string;
}

/** Sends again of a stream the server refused unprocessed, per call. */
export const REFUSED_RETRIES = 5;

/** gRPC's mapping of an HTTP status that came without a gRPC status. */
export function httpToGrpcStatus(http: number): number {
  if (http === 400) return grpc.status.INTERNAL;
  if (http === 401) return grpc.status.UNAUTHENTICATED;
  if (http === 403) return grpc.status.PERMISSION_DENIED;
  if (http === 404) return grpc.status.UNIMPLEMENTED;
  if (http === 429 || http === 502 || http === 503 || http === 504) return grpc.status.UNAVAILABLE;
  return grpc.status.UNKNOWN;
}

/** A gRPC timeout header value: at most 8 digits, in the finest unit that fits. */
export function grpcTimeoutHeader(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole < 1e8) return `${whole}m`;
  const s = Math.ceil(whole / 1000);
  if (s < 1e8) return `${s}S`;
  return `${Math.min(99_999_999, Math.ceil(s / 3600))}H`;
}

/** The gRPC status name of a numeric code ('UNKNOWN' for one outside the table). */
export function statusName(code: number): string {
  return (grpc.status as unknown as Record<number, string | undefined>)[code] ?? 'UNKNOWN';
}

/** A grpc-message header's text (percent-encoded on the wire; left as it is when malformed). */
export function decodeGrpcMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** `host:port` (or `[v6]:port`) as an http:// authority; null for anything grpc-js alone understands (unix:, dns:, ...). */
export function h2Authority(address: string): string | null {
  if (/^\[[0-9a-fA-F:.]+\]:\d+$/.test(address)) return `http://${address}`;
  if (/^[A-Za-z0-9.-]+:\d+$/.test(address)) return `http://${address}`;
  return null;
}

/** `host:port` (or `[v6]:port`) split for net.connect. */
function hostAndPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon);
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(address.slice(colon + 1)) };
}

/** What one call settles with, from how its stream ended; 'retry' for one the server never processed. */
export function callOutcome(
  c: { httpStatus: number; headerStatus: number; headerMessage: string; trailerStatus: number; trailerMessage: string },
  end: StreamEndKind,
  resetCode: number,
  why: string,
  canRetry: boolean,
): { code: number; message: string } | 'retry' {
  // The trailers' grpc-status decides; else that of a trailers-only answer's headers; else a
  // non-200 HTTP status, as gRPC's mapping says (a proxy's error page, say). -1: none seen.
  if (c.trailerStatus >= 0) return { code: c.trailerStatus, message: c.trailerStatus === 0 ? '' : decodeGrpcMessage(c.trailerMessage) };
  if (c.headerStatus >= 0) return { code: c.headerStatus, message: c.headerStatus === 0 ? '' : decodeGrpcMessage(c.headerMessage) };
  if (c.httpStatus >= 0 && c.httpStatus !== 200) return { code: httpToGrpcStatus(c.httpStatus), message: `HTTP status ${c.httpStatus}` };
  const refused = end === StreamEnd.UNPROCESSED || (end === StreamEnd.RESET && resetCode === ErrorCode.REFUSED_STREAM);
  if (refused && canRetry) return 'retry';
  if (end === StreamEnd.FAILED) return { code: grpc.status.UNAVAILABLE, message: why };
  if (end === StreamEnd.UNPROCESSED) return { code: grpc.status.UNAVAILABLE, message: why };
  if (end === StreamEnd.RESET && resetCode !== 0) return { code: refused ? grpc.status.UNAVAILABLE : grpc.status.INTERNAL, message: `stream reset (HTTP/2 code ${resetCode})` };
  return { code: grpc.status.INTERNAL, message: 'stream ended without a gRPC status' };
}

/** A gRPC message on the wire: flag 0 (uncompressed), the 4-byte big-endian length, the bytes. */
export function grpcMessage(bytes: Uint8Array): Buffer {
  const body = Buffer.allocUnsafe(5 + bytes.byteLength);
  body[0] = 0;
  body.writeUInt32BE(bytes.byteLength, 1);
  body.set(bytes, 5);
  return body;
}

/**
 * A load channel's ready(): `connectOnce` tries one connection and settles with null once it
 * is up, or with why not; a refused try is repeated shortly (a server may still be starting)
 * until `timeoutMs`, which rejects naming the address and the last reason.
 */
export function awaitReady(address: string, timeoutMs: number, isClosed: () => boolean, connectOnce: (settle: (error: string | null) => void) => void): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise<void>((resolve, reject) => {
    let lastError = 'no answer';
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(limit);
      if (err) reject(err);
      else resolve();
    };
    const limit = setTimeout(() => finish(new Error(`could not connect to ${address} within ${timeoutMs} ms: ${lastError}`)), timeoutMs);
    const tryOnce = (): void => {
      if (done) return;
      if (isClosed()) return finish(new Error('channel closed'));
      connectOnce((error) => {
        if (error === null) return finish();
        lastError = error;
        if (!done) setTimeout(tryOnce, Math.min(100, Math.max(0, until - Date.now())));
      });
    };
    tryOnce();
  });
}

export function createH2Channel(address: string, opts: H2ChannelOptions = {}): RawChannel {
  if (h2Authority(address) === null) throw new Error(`the HTTP/2 load channel needs host:port, got ${JSON.stringify(address)}`);
  const { host, port } = hostAndPort(address);
  const deadlineMs = opts.deadlineMs ?? 60_000;
  const windowBytes = opts.windowBytes ?? 16 * 1024 * 1024;
  const headerBlock = encodeConstantHeaderBlock([
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', opts.path ?? MODEL_INFER_PATH],
    [':authority', address],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ['grpc-timeout', grpcTimeoutHeader(deadlineMs)],
    ['user-agent', 'tanalyze-load'],
  ]);

  let connection: H2Connection | null = null;
  let closed = false;
  const pending = new Set<Call>();
  let sweep: NodeJS.Timeout | null = null;

  const current = (): H2Connection => {
    if (connection && connection.usable) return connection;
    // One that can take no new streams finishes those it has, then closes.
    connection?.closeWhenIdle();
    connection = new H2Connection({ host, port, windowBytes, headerBlock });
    return connection;
  };

  const startSweep = (): void => {
    if (sweep) return;
    const every = Math.max(5, Math.min(1000, deadlineMs / 4));
    sweep = setInterval(() => {
      const now = Date.now();
      for (const c of pending) if (now >= c.deadline) c.expire();
      if (pending.size === 0 && sweep) {
        clearInterval(sweep);
        sweep = null;
      }
    }, every);
    sweep.unref();
  };

  /**
   * One call: the connection's view of its stream (H2Stream) and the answer's status. A
   * stream the server never processed (REFUSED_STREAM: over its concurrent-stream limit; or
   * above a GOAWAY's last stream id) is sent again, as grpc-js's transparent retry does, up to
   * REFUSED_RETRIES times; its latency still counts from the first send.
   */
  class Call implements H2Stream {
    id = 0;
    sent = 0;
    window = 0;
    unacked = 0;
    blocks = 0;
    httpStatus = -1;
    headerStatus = -1;
    headerMessage = '';
    trailerStatus = -1;
    trailerMessage = '';
    retriesLeft = REFUSED_RETRIES;
    on: H2Connection | null = null;

    constructor(
      readonly body: Buffer,
      readonly deadline: number,
      private readonly resolve: () => void,
      private readonly reject: (e: Error) => void,
    ) {}

    attempt(): void {
      if (closed) {
        this.reject(new ProtocolError('ModelInfer', 'CANCELLED', 'channel closed'));
        return;
      }
      this.httpStatus = this.headerStatus = this.trailerStatus = -1;
      this.headerMessage = this.trailerMessage = '';
      pending.add(this);
      startSweep();
      this.on = current();
      this.on.send(this);
    }

    header(name: string, value: string, trailers: boolean): void {
      if (trailers) {
        if (name === 'grpc-status') this.trailerStatus = Number(value);
        else if (name === 'grpc-message') this.trailerMessage = value;
      } else if (name === ':status') this.httpStatus = Number(value);
      else if (name === 'grpc-status') this.headerStatus = Number(value);
      else if (name === 'grpc-message') this.headerMessage = value;
    }

    ended(kind: StreamEndKind, code: number, why: string): void {
      pending.delete(this);
      this.on = null;
      const outcome = callOutcome(this, kind, code, why, this.retriesLeft > 0 && Date.now() < this.deadline);
      if (outcome === 'retry') {
        this.retriesLeft--;
        this.attempt();
      } else if (outcome.code === grpc.status.OK) this.resolve();
      else this.reject(new ProtocolError('ModelInfer', statusName(outcome.code), outcome.message));
    }

    expire(): void {
      pending.delete(this);
      this.on?.cancel(this);
      this.on = null;
      this.reject(new ProtocolError('ModelInfer', 'DEADLINE_EXCEEDED', `no answer within ${deadlineMs} ms`));
    }
  }

  return {
    sender(requestBytes: Uint8Array): () => Promise<void> {
      const body = grpcMessage(requestBytes); // built once
      return () => new Promise<void>((resolve, reject) => new Call(body, Date.now() + deadlineMs, resolve, reject).attempt());
    },

    ready(timeoutMs = 10_000): Promise<void> {
      // Ready once the server's SETTINGS arrived: it speaks HTTP/2.
      return awaitReady(address, timeoutMs, () => closed, (settle) => current().whenReady(settle));
    },

    close(): void {
      // As grpc-js's close(): no new calls; those in flight finish (or meet their deadline).
      closed = true;
      connection?.closeWhenIdle();
      connection = null;
    },
  };
}
