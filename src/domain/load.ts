/** The load generator's vocabulary: drivers, windows, channels. Implementations live in src/load/. */
import type { Histogram as LatencyHistogram } from 'hdr-histogram-js';

/**
 * How the load generator sends ModelInfer: 'http2' (default) is the lean gRPC call on
 * tanalyze's own HTTP/2 client over a TCP socket (h2-channel.ts on h2-connection.ts, with
 * hpack.ts and h2-frames.ts; 0.25-0.4x grpc-js's client CPU per request in
 * bench/loadgen, 0.35-0.6x that of the node:http2 channel it replaced); 'grpc-js' is
 * @grpc/grpc-js's generic client, kept for addresses only it understands (unix:, dns:) and
 * as the reference the lean one is checked and benchmarked against.
 */
export const CLIENT_TRANSPORTS = ['http2', 'grpc-js'] as const;

export type ClientTransport = (typeof CLIENT_TRANSPORTS)[number];

/**
 * Where a request's inputs travel: 'none' in the gRPC message; 'system' in a POSIX
 * shared-memory region registered with the server once (Triton's system shared-memory
 * extension; the server must share the client's host). Outputs always come back over gRPC.
 */
export const SHARED_MEMORY_KINDS = ['none', 'system'] as const;

export type SharedMemoryKind = (typeof SHARED_MEMORY_KINDS)[number];

/** A load channel: pre-serialized ModelInfer requests out, only the status back. */
export interface RawChannel {
  /** A send of these pre-serialized request bytes; resolves when the server answers OK (the answer is not decoded). */
  sender(requestBytes: Uint8Array): () => Promise<void>;
  /** Resolves once the channel is connected (rejects after timeoutMs). */
  ready(timeoutMs?: number): Promise<void>;
  close(): void;
}

/** Monotonic clock in nanoseconds. */
export type Clock = () => bigint;

export interface WindowResult {
  /** Latencies (µs) of requests that completed successfully inside the window. */
  histogram: LatencyHistogram;
  /** Successful completions inside the window. */
  count: number;
  /** Failed completions inside the window. */
  errors: number;
  /** The first failure's message in the window, or null. */
  firstError: string | null;
  durationNs: bigint;
  /** Open loop: requests sent in the window, and those sent later than the slack after their intended time. */
  sent?: number;
  late?: number;
  /** Open loop: the latest a request of the window left after its intended time, ns. */
  maxLateNs?: number;
  /** Open loop: how late each request of the window left (µs; 0 when on time). */
  lateness?: LatencyHistogram;
  /** The most requests in flight at once during the window. */
  peakInFlight?: number;
  /** Load of the threads that sent (worker threads report their own): busiest event loop. */
  clientLoad?: ThreadLoad;
}

/** How busy a sending thread's event loop was over a window. */
export interface ThreadLoad {
  /** performance.eventLoopUtilization: share of the time the loop was not idle (0..1). */
  eventLoopUtilization: number;
  /** How long the loop stalled, ms (client-monitor.ts: eventLoopStallMs). */
  eventLoopStallMs: number;
}

/**
 * What measureLoadPoint drives: ClosedLoopDriver, OpenLoopDriver and the worker-thread
 * pool's drivers are the real ones; tests pass fakes.
 */
export interface LoadDriver {
  /** Begin sending at the given load level (once per driver): a concurrency, or requests/s for an open-loop driver. */
  start(level: number): void;
  /** Open a window; completions from now on are counted in it. */
  startWindow(): void;
  /** Close the open window and return what it saw (a worker pool answers asynchronously). */
  endWindow(): WindowResult | Promise<WindowResult>;
  /** Send no more; wait (bounded) for in-flight requests to finish. */
  stop(): Promise<StopResult>;
}

export interface StopResult {
  /** True when every in-flight request finished before the bound. */
  drained: boolean;
  /** Requests still in flight when stop returned. */
  inFlight: number;
}
