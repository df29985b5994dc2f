// The load channel as it was before issue 13: unary gRPC calls on node:http2 (one
// ClientHttp2Stream per call). Kept only as a reference row of bench/loadgen.ts, beside
// src/load/h2-channel.ts (the same calls on tanalyze's own HTTP/2 client), so the CPU per
// request of the two can be compared in one run.
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { ProtocolError } from '../src/protocol/client.js';
import type { RawChannel } from '../src/domain/load.js';
import { MODEL_INFER_PATH } from '../src/protocol/service.js';
import {
  awaitReady,
  decodeGrpcMessage,
  grpcMessage,
  grpcTimeoutHeader,
  h2Authority,
  httpToGrpcStatus,
  REFUSED_RETRIES,
  statusName,
  type H2ChannelOptions,
} from '../src/load/h2-channel.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;
/** A session is replaced before its client stream ids (odd, below 2^31) run out. */
const STREAMS_PER_SESSION = 1_000_000_000;

interface Pending {
  stream: http2.ClientHttp2Stream;
  deadline: number;
  expire: () => void;
}

export function createNodeHttp2Channel(address: string, opts: H2ChannelOptions = {}): RawChannel {
  const authority = h2Authority(address);
  if (authority === null) throw new Error(`the HTTP/2 load channel needs host:port, got ${JSON.stringify(address)}`);
  const deadlineMs = opts.deadlineMs ?? 60_000;
  const windowBytes = opts.windowBytes ?? 16 * 1024 * 1024;
  const headers: http2.OutgoingHttpHeaders = {
    ':method': 'POST',
    ':path': opts.path ?? MODEL_INFER_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': grpcTimeoutHeader(deadlineMs),
    'user-agent': 'tanalyze-load',
  };

  let session: http2.ClientHttp2Session | null = null;
  let opened = 0;
  let closed = false;
  const pending = new Set<Pending>();
  let sweep: NodeJS.Timeout | null = null;

  const current = (): http2.ClientHttp2Session => {
    if (session && !session.destroyed && !session.closed && opened < STREAMS_PER_SESSION) return session;
    if (session && !session.closed) session.close();
    const s = http2.connect(authority, {
      settings: { initialWindowSize: Math.min(windowBytes, 2 ** 31 - 1), enablePush: false },
      // In-flight large tensors count against a session's memory; the default 10 MB would refuse streams.
      maxSessionMemory: 1024,
    });
    s.on('connect', () => {
      try {
        s.setLocalWindowSize(windowBytes);
      } catch {
        // an older Node without setLocalWindowSize: the per-stream window still applies
      }
    });
    const forget = (): void => {
      if (session === s) session = null;
    };
    // A failed or closing session is dropped here; its streams fail on their own.
    s.on('error', forget);
    s.on('goaway', forget);
    s.on('close', forget);
    session = s;
    opened = 0;
    return s;
  };

  const startSweep = (): void => {
    if (sweep) return;
    const every = Math.max(5, Math.min(1000, deadlineMs / 4));
    sweep = setInterval(() => {
      const now = Date.now();
      for (const p of pending) if (now >= p.deadline) p.expire();
      if (pending.size === 0 && sweep) {
        clearInterval(sweep);
        sweep = null;
      }
    }, every);
    sweep.unref();
  };

  /**
   * One try of a call. A stream the server refused (REFUSED_STREAM: over its concurrent-stream
   * limit, or sent before its SETTINGS arrived) was never processed, so it is sent again, as
   * grpc-js's transparent retry does; its latency still counts from the first send.
   */
  const attempt = (frame: Buffer, deadline: number, retriesLeft: number, resolve: () => void, reject: (e: Error) => void): void => {
    if (closed) {
      reject(new ProtocolError('ModelInfer', 'CANCELLED', 'channel closed'));
      return;
    }
    let stream: http2.ClientHttp2Stream;
    try {
      stream = current().request(headers, { endStream: false });
      opened++;
    } catch (err) {
      session = null;
      reject(new ProtocolError('ModelInfer', 'UNAVAILABLE', err instanceof Error ? err.message : String(err)));
      return;
    }
    let status: number | null = null;
    let message = '';
    let transportError: Error | null = null;
    let expired = false;
    const entry: Pending = {
      stream,
      deadline,
      expire: () => {
        expired = true;
        stream.close(NGHTTP2_CANCEL);
      },
    };
    pending.add(entry);
    startSweep();
    const take = (h: http2.IncomingHttpHeaders): void => {
      const s = h['grpc-status'];
      if (s !== undefined) {
        status = Number(s);
        const raw = h['grpc-message'];
        message = typeof raw === 'string' ? decodeGrpcMessage(raw) : '';
      }
    };
    stream.on('response', (h) => {
      const http = Number(h[':status']);
      if (http !== 200 && h['grpc-status'] === undefined) {
        // Not a gRPC answer (a proxy's error page, say): the HTTP status decides, as gRPC's mapping says.
        status = httpToGrpcStatus(http);
        message = `HTTP status ${http}`;
        return;
      }
      take(h);
    });
    stream.on('trailers', take);
    stream.on('error', (err: Error) => {
      transportError = err;
    });
    stream.on('close', () => {
      pending.delete(entry);
      const rst = stream.rstCode;
      if (status === grpc.status.OK) resolve();
      else if (status !== null) reject(new ProtocolError('ModelInfer', statusName(status), message));
      else if (expired) reject(new ProtocolError('ModelInfer', 'DEADLINE_EXCEEDED', `no answer within ${deadlineMs} ms`));
      else if (rst === NGHTTP2_REFUSED_STREAM && retriesLeft > 0 && Date.now() < deadline) attempt(frame, deadline, retriesLeft - 1, resolve, reject);
      else {
        const why = transportError?.message ?? (rst !== undefined && rst !== 0 ? `stream reset (HTTP/2 code ${rst})` : 'stream ended without a gRPC status');
        reject(new ProtocolError('ModelInfer', rst === NGHTTP2_REFUSED_STREAM || transportError ? 'UNAVAILABLE' : 'INTERNAL', why));
      }
    });
    // The answer's bytes are not needed: only its status and arrival time are.
    stream.resume();
    stream.end(frame);
  };

  return {
    sender(requestBytes: Uint8Array): () => Promise<void> {
      const frame = grpcMessage(requestBytes); // built once
      return () => new Promise<void>((resolve, reject) => attempt(frame, Date.now() + deadlineMs, REFUSED_RETRIES, resolve, reject));
    },

    ready(timeoutMs = 10_000): Promise<void> {
      return awaitReady(address, timeoutMs, () => closed, (settle) => {
        const s = current();
        if (!s.connecting && !s.destroyed) return settle(null);
        const onConnect = (): void => {
          s.off('error', onError);
          settle(null);
        };
        const onError = (err: Error): void => {
          s.off('connect', onConnect);
          settle(err.message);
        };
        s.once('connect', onConnect);
        s.once('error', onError);
      });
    },

    close(): void {
      // As grpc-js's close(): no new calls; those in flight finish (or meet their deadline).
      closed = true;
      session?.close();
      session = null;
    },
  };
}
