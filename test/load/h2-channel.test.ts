/**
 * The lean HTTP/2 ModelInfer channel against real gRPC servers on loopback: the embedded
 * server (answers must match grpc-js's own channel, call for call) and scripted
 * @grpc/grpc-js servers that record what arrives or misbehave on purpose.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { createInferenceClient, ProtocolError } from '../../src/protocol/client.js';
import { inferenceServiceDefinition } from '../../src/protocol/service.js';
import type { ModelInferRequest } from '../../src/protocol/types.js';
import { callOutcome, createH2Channel, grpcTimeoutHeader, h2Authority } from '../../src/load/h2-channel.js';
import { StreamEnd } from '../../src/load/h2-connection.js';
import { createRawChannel, makeInferRequest, serializeInferRequest } from '../../src/load/infer-requests.js';
import { startEmbeddedServer } from '../../src/server/server.js';
import { fromPackageRoot } from '../../src/util/package-root.js';

type InferHandler = (call: grpc.ServerUnaryCall<ModelInferRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => void;

/** A scripted server: only ModelInfer is answered, by `handler`. */
async function scripted(handler: InferHandler, port = 0, options: grpc.ServerOptions = {}): Promise<{ address: string; server: grpc.Server }> {
  const server = new grpc.Server(options);
  server.addService(inferenceServiceDefinition(), { ModelInfer: handler });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { address: `127.0.0.1:${bound}`, server };
}

const rejection = async (p: Promise<unknown>): Promise<ProtocolError> => {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `expected a ProtocolError, got ${String(e)}`);
    return e;
  }
  assert.fail('the call succeeded');
};

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

test('grpcTimeoutHeader: at most 8 digits, in the finest unit that fits', () => {
  assert.equal(grpcTimeoutHeader(60_000), '60000m');
  assert.equal(grpcTimeoutHeader(0.2), '1m');
  assert.equal(grpcTimeoutHeader(99_999_999), '99999999m');
  assert.equal(grpcTimeoutHeader(100_000_000), '100000S');
});

test('h2Authority: host:port and [v6]:port only; grpc-js schemes are left to grpc-js', () => {
  assert.equal(h2Authority('127.0.0.1:8001'), 'http://127.0.0.1:8001');
  assert.equal(h2Authority('triton-host:8001'), 'http://triton-host:8001');
  assert.equal(h2Authority('[::1]:8001'), 'http://[::1]:8001');
  assert.equal(h2Authority('unix:/tmp/triton.sock'), null);
  assert.equal(h2Authority('dns:///triton:8001'), null);
  assert.equal(h2Authority('triton-host'), null);
  assert.throws(() => createH2Channel('unix:/tmp/x'), /host:port/);
});

test('callOutcome: trailers, then a trailers-only status, then the HTTP status decide; unprocessed streams are retried while allowed', () => {
  const none = { httpStatus: -1, headerStatus: -1, headerMessage: '', trailerStatus: -1, trailerMessage: '' };
  const ok200 = { ...none, httpStatus: 200 };
  assert.deepEqual(callOutcome({ ...ok200, trailerStatus: 0 }, StreamEnd.ENDED, 0, '', true), { code: 0, message: '' });
  assert.deepEqual(callOutcome({ ...ok200, headerStatus: 5, headerMessage: 'no%20model' }, StreamEnd.ENDED, 0, '', true), { code: 5, message: 'no model' });
  assert.deepEqual(callOutcome({ ...none, httpStatus: 503, trailerStatus: 8, trailerMessage: 'bad %zz' }, StreamEnd.ENDED, 0, '', true), { code: 8, message: 'bad %zz' });
  assert.deepEqual(callOutcome({ ...none, httpStatus: 404 }, StreamEnd.ENDED, 0, '', true), { code: grpc.status.UNIMPLEMENTED, message: 'HTTP status 404' });
  assert.deepEqual(callOutcome(ok200, StreamEnd.ENDED, 0, '', true), { code: grpc.status.INTERNAL, message: 'stream ended without a gRPC status' });
  assert.equal(callOutcome(none, StreamEnd.RESET, 7, '', true), 'retry');
  assert.equal(callOutcome(none, StreamEnd.UNPROCESSED, 0, 'GOAWAY', true), 'retry');
  assert.deepEqual(callOutcome(none, StreamEnd.RESET, 7, '', false), { code: grpc.status.UNAVAILABLE, message: 'stream reset (HTTP/2 code 7)' });
  assert.deepEqual(callOutcome(none, StreamEnd.UNPROCESSED, 0, 'GOAWAY', false), { code: grpc.status.UNAVAILABLE, message: 'GOAWAY' });
  assert.deepEqual(callOutcome(none, StreamEnd.RESET, 2, '', true), { code: grpc.status.INTERNAL, message: 'stream reset (HTTP/2 code 2)' });
  assert.deepEqual(callOutcome(none, StreamEnd.FAILED, 0, 'connect ECONNREFUSED', true), { code: grpc.status.UNAVAILABLE, message: 'connect ECONNREFUSED' });
});

test('against the embedded server: the HTTP/2 channel and grpc-js answer the same, success and failure', async () => {
  const server = await startEmbeddedServer({ repository: fromPackageRoot('examples', 'model_repository'), modelControl: 'explicit', loadModels: ['identity'] });
  const client = createInferenceClient(server.address);
  const h2 = createRawChannel(server.address);
  const viaGrpcJs = createRawChannel(server.address, { transport: 'grpc-js' });
  try {
    const request = makeInferRequest(await client.modelMetadata('identity'), 1, 1);
    const before = (await client.modelStatistics('identity'))[0]!.inference_count;
    const ok = serializeInferRequest(request);
    await Promise.all(Array.from({ length: 50 }, () => h2.sender(ok)()));
    await viaGrpcJs.sender(ok)();
    const after = (await client.modelStatistics('identity'))[0]!.inference_count;
    assert.equal(after - before, 51, 'every call reached the model');

    for (const bad of [{ ...request, model_name: 'no_such_model' }, { ...request, inputs: [{ ...request.inputs[0]!, shape: [1, 3] }] }]) {
      const bytes = serializeInferRequest(bad);
      const a = await rejection(h2.sender(bytes)());
      const b = await rejection(viaGrpcJs.sender(bytes)());
      assert.equal(a.code, b.code);
      assert.equal(a.details, b.details);
      assert.equal(a.method, 'ModelInfer');
    }
  } finally {
    h2.close();
    viaGrpcJs.close();
    client.close();
    await server.stop();
  }
});

test('what a scripted grpc-js server receives: the request bytes, the deadline, no compression', async () => {
  let seen: { request: ModelInferRequest; deadlineInMs: number; encoding: unknown } | null = null;
  const { address, server } = await scripted((call, cb) => {
    const deadline = call.getDeadline();
    seen = { request: call.request, deadlineInMs: (deadline instanceof Date ? deadline.getTime() : Number(deadline)) - Date.now(), encoding: call.metadata.get('grpc-encoding')[0] };
    cb(null, { model_name: call.request.model_name, outputs: [], raw_output_contents: [] });
  });
  const channel = createH2Channel(address, { deadlineMs: 5000 });
  try {
    const request: ModelInferRequest = { model_name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2] }], raw_input_contents: [Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])] };
    // A worker thread hands over a plain Uint8Array: it must go out as it is.
    const bytes = new Uint8Array(serializeInferRequest(request));
    await channel.sender(bytes)();
    assert.ok(seen);
    const got = seen as { request: ModelInferRequest; deadlineInMs: number; encoding: unknown };
    assert.equal(got.request.model_name, 'm');
    assert.deepEqual(Buffer.from(got.request.raw_input_contents![0]!), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
    assert.ok(got.deadlineInMs > 4000 && got.deadlineInMs <= 5000, `deadline ${got.deadlineInMs} ms`);
    assert.equal(got.encoding, undefined);
  } finally {
    channel.close();
    server.forceShutdown();
  }
});

test('error status and percent-encoded message come back as the server sent them', async () => {
  const { address, server } = await scripted((_call, cb) => cb({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'queue full: 100% used, try "later" — ünïcode' }));
  const channel = createH2Channel(address);
  try {
    const e = await rejection(channel.sender(Buffer.alloc(0))());
    assert.equal(e.code, 'RESOURCE_EXHAUSTED');
    assert.equal(e.details, 'queue full: 100% used, try "later" — ünïcode');
  } finally {
    channel.close();
    server.forceShutdown();
  }
});

test('large answers pass (16 MiB windows): a 24 MiB response arrives whole', async () => {
  const big = Buffer.alloc(24 * 1024 * 1024, 7);
  const { address, server } = await scripted((_call, cb) => cb(null, { model_name: 'm', outputs: [], raw_output_contents: [big] }));
  const channel = createH2Channel(address);
  try {
    await Promise.all([channel.sender(Buffer.alloc(0))(), channel.sender(Buffer.alloc(0))()]);
  } finally {
    channel.close();
    server.forceShutdown();
  }
});

test('a server that never answers: the call ends at its deadline with DEADLINE_EXCEEDED', async () => {
  const { address, server } = await scripted(() => undefined);
  const channel = createH2Channel(address, { deadlineMs: 150 });
  try {
    const t0 = Date.now();
    const e = await rejection(channel.sender(Buffer.alloc(0))());
    assert.equal(e.code, 'DEADLINE_EXCEEDED');
    assert.ok(Date.now() - t0 < 5000);
  } finally {
    channel.close();
    server.forceShutdown();
  }
});

test('nothing listening: UNAVAILABLE per call, and ready() gives up at its limit naming the address', async () => {
  const port = await freePort();
  const channel = createH2Channel(`127.0.0.1:${port}`);
  try {
    const e = await rejection(channel.sender(Buffer.alloc(0))());
    assert.equal(e.code, 'UNAVAILABLE');
    await assert.rejects(channel.ready(300), new RegExp(`127\\.0\\.0\\.1:${port} within 300 ms`));
  } finally {
    channel.close();
  }
});

test('a restarted server is reached again on the next call (the dead session is replaced)', async () => {
  const answer: InferHandler = (call, cb) => cb(null, { model_name: call.request.model_name, outputs: [], raw_output_contents: [] });
  const first = await scripted(answer);
  const port = Number(first.address.split(':')[1]);
  const channel = createH2Channel(first.address);
  try {
    await channel.sender(Buffer.alloc(0))();
    first.server.forceShutdown();
    // The old session is gone; the next calls may fail until the new server listens.
    const second = await scripted(answer, port);
    try {
      let lastError: unknown = null;
      let ok = false;
      for (let i = 0; i < 20 && !ok; i++) {
        try {
          await channel.sender(Buffer.alloc(0))();
          ok = true;
        } catch (e) {
          lastError = e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      assert.ok(ok, `never reconnected: ${String(lastError)}`);
    } finally {
      second.server.forceShutdown();
    }
  } finally {
    channel.close();
  }
});

test('close(): calls in flight finish, new ones are refused', async () => {
  const { address, server } = await scripted((call, cb) => setTimeout(() => cb(null, { model_name: call.request.model_name, outputs: [], raw_output_contents: [] }), 100));
  const channel = createH2Channel(address);
  try {
    const send = channel.sender(Buffer.alloc(0));
    await channel.ready();
    const inFlight = send();
    await new Promise((r) => setTimeout(r, 20));
    channel.close();
    await inFlight;
    const e = await rejection(send());
    assert.equal(e.code, 'CANCELLED');
  } finally {
    server.forceShutdown();
  }
});

test('against a FAKE HTTP/2 server that is not gRPC: a silent one meets the client-side deadline, an error page maps by HTTP status', async () => {
  const http2 = await import('node:http2');
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.resume();
    if (headers[':path'] === '/busy') stream.respond({ ':status': 503, 'content-type': 'text/html' }, { endStream: false });
    if (headers[':path'] === '/busy') stream.end('<h1>overloaded</h1>');
    // any other path: headers read, never answered (the server ignores grpc-timeout)
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
  const silent = createH2Channel(address, { deadlineMs: 100 });
  const busy = createH2Channel(address, { path: '/busy' });
  try {
    const e = await rejection(silent.sender(Buffer.alloc(0))());
    assert.equal(e.code, 'DEADLINE_EXCEEDED');
    const b = await rejection(busy.sender(Buffer.alloc(0))());
    assert.equal(b.code, 'UNAVAILABLE');
    assert.match(b.details, /HTTP status 503/);
  } finally {
    silent.close();
    busy.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('a server that allows only 4 concurrent streams: 32 calls at once wait their turn, none fails', async () => {
  let inHandler = 0;
  let most = 0;
  const { address, server } = await scripted(
    (call, cb) => {
      most = Math.max(most, ++inHandler);
      setTimeout(() => {
        inHandler--;
        cb(null, { model_name: call.request.model_name, outputs: [], raw_output_contents: [] });
      }, 10);
    },
    0,
    { 'grpc.max_concurrent_streams': 4 },
  );
  const channel = createH2Channel(address);
  try {
    const send = channel.sender(Buffer.alloc(0));
    await Promise.all(Array.from({ length: 32 }, () => send()));
    assert.ok(most <= 4, `the server saw ${most} calls at once`);
  } finally {
    channel.close();
    server.forceShutdown();
  }
});

// ---- against node:http2 servers (an independent HTTP/2 implementation) that stress the client's HTTP/2 ----

type H2Server = import('node:http2').Http2Server;
type H2Stream = import('node:http2').ServerHttp2Stream;

/** A node:http2 server whose streams go to `onStream`; its address, and every session it accepted. */
async function h2Server(onStream: (stream: H2Stream, headers: import('node:http2').IncomingHttpHeaders) => void, settings: import('node:http2').Settings = {}) {
  const http2 = await import('node:http2');
  const server: H2Server = http2.createServer({ settings });
  const sessions: import('node:http2').ServerHttp2Session[] = [];
  server.on('session', (s) => sessions.push(s));
  server.on('stream', (stream, headers) => {
    // A stream reset (by the test's own server or by the client's deadline) is expected here.
    stream.on('error', () => undefined);
    onStream(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
  const stop = (): Promise<void> => {
    for (const s of sessions) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { address, sessions, stop };
}

/** Answers as a gRPC server does: headers, an empty message, then grpc-status 0 in trailers (after `delayMs`). */
function answerOk(stream: H2Stream, delayMs = 0, extraHeaders: Record<string, string> = {}): void {
  const go = (): void => {
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...extraHeaders }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  };
  if (delayMs > 0) setTimeout(go, delayMs);
  else go();
}

/** Reads a stream's whole body, then calls back with it. */
function readBody(stream: H2Stream, then: (body: Buffer) => void): void {
  const parts: Buffer[] = [];
  stream.on('data', (b: Buffer) => parts.push(b));
  stream.on('end', () => then(Buffer.concat(parts)));
}

test('flow control: 600 KB requests through a peer with 1000-byte stream windows and 16 KiB frames arrive whole', async () => {
  const request = Buffer.alloc(600 * 1024);
  for (let i = 0; i < request.length; i++) request[i] = (i * 7) & 0xff;
  const received: Buffer[] = [];
  const peer = await h2Server(
    (stream) =>
      readBody(stream, (body) => {
        received.push(body);
        answerOk(stream);
      }),
    { initialWindowSize: 1000 },
  );
  const channel = createH2Channel(peer.address);
  try {
    const send = channel.sender(request);
    await Promise.all([send(), send(), send()]);
    assert.equal(received.length, 3);
    for (const body of received) {
      assert.equal(body.length, 5 + request.length);
      assert.equal(body.readUInt32BE(1), request.length);
      assert.ok(body.subarray(5).equals(request), 'the bytes arrived unchanged');
    }
  } finally {
    channel.close();
    await peer.stop();
  }
});

test("the peer's MAX_CONCURRENT_STREAMS of 1: 8 calls at once are sent one after another, all succeed", async () => {
  let open = 0;
  let most = 0;
  let handled = 0;
  const peer = await h2Server(
    (stream) => {
      most = Math.max(most, ++open);
      stream.on('close', () => open--);
      stream.resume();
      handled++;
      answerOk(stream, 5);
    },
    { maxConcurrentStreams: 1 },
  );
  const channel = createH2Channel(peer.address);
  try {
    const send = channel.sender(Buffer.from('x'));
    await Promise.all(Array.from({ length: 8 }, () => send()));
    assert.equal(most, 1, `the server saw ${most} streams at once`);
    assert.equal(handled, 8, 'none refused and sent again');
  } finally {
    channel.close();
    await peer.stop();
  }
});

test('GOAWAY mid-run: streams above its last stream id are sent again on a new connection, all succeed', async () => {
  const http2 = await import('node:http2');
  let goawaySent = false;
  const peer = await h2Server((stream) => {
    stream.resume();
    if (!goawaySent && stream.id === 3) {
      goawaySent = true;
      // Streams 1 and 3 will be answered; any later one on this connection is not processed.
      stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, 3);
    }
    answerOk(stream, 10);
  });
  const channel = createH2Channel(peer.address);
  try {
    await channel.ready();
    const send = channel.sender(Buffer.from('x'));
    await Promise.all(Array.from({ length: 10 }, () => send()));
    assert.ok(goawaySent);
    assert.ok(peer.sessions.length >= 2, `${peer.sessions.length} connection(s)`);
    // The channel keeps working on the new connection.
    await send();
  } finally {
    channel.close();
    await peer.stop();
  }
});

test('the server closing the connection mid-call: the call fails UNAVAILABLE, the next one reconnects', async () => {
  let streams = 0;
  const peer = await h2Server((stream) => {
    stream.resume();
    if (++streams === 1) stream.session!.destroy();
    else answerOk(stream);
  });
  const channel = createH2Channel(peer.address);
  try {
    const send = channel.sender(Buffer.from('x'));
    const e = await rejection(send());
    assert.equal(e.code, 'UNAVAILABLE');
    await send();
    assert.equal(peer.sessions.length, 2);
  } finally {
    channel.close();
    await peer.stop();
  }
});

test('REFUSED_STREAM is sent again (up to 5 times), then fails UNAVAILABLE', async () => {
  const http2 = await import('node:http2');
  let refuse = 2;
  let seen = 0;
  const peer = await h2Server((stream) => {
    seen++;
    stream.resume();
    if (refuse-- > 0) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    else answerOk(stream);
  });
  const channel = createH2Channel(peer.address);
  try {
    await channel.sender(Buffer.from('x'))();
    assert.equal(seen, 3);
    refuse = 100;
    seen = 0;
    const e = await rejection(channel.sender(Buffer.from('x'))());
    assert.equal(e.code, 'UNAVAILABLE');
    assert.equal(seen, 6, 'the first send and 5 more');
  } finally {
    channel.close();
    await peer.stop();
  }
});

test('answers the client must decode whole: a 40 KB header (HEADERS + CONTINUATION), headers indexed across calls, PING answered', async () => {
  const big = 'v'.repeat(40_000);
  let pinged: Promise<void> | null = null;
  const peer = await h2Server((stream) => {
    stream.resume();
    pinged ??= new Promise<void>((resolve, reject) => stream.session!.ping((err) => (err ? reject(err) : resolve())));
    answerOk(stream, 0, { 'x-big': big, 'x-seq': 'same value each time' });
  });
  const channel = createH2Channel(peer.address);
  try {
    const send = channel.sender(Buffer.from('x'));
    for (let i = 0; i < 3; i++) await send();
    await Promise.all(Array.from({ length: 5 }, () => send()));
    await pinged;
  } finally {
    channel.close();
    await peer.stop();
  }
});
