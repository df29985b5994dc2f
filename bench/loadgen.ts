// Is tanalyze's own load generator ever the bottleneck? Against the embedded server serving
// the identity model (FP32 [16]), in the same run:
//
//   node .build-load/bench/loadgen.js [--seconds 0.6] [--rounds 5] [--concurrency 16]
//        [--workers 1,2] [--server child|inproc|both] [--spin-us 1000] [--model identity]
//        [--open-rounds 3]
//
// - the ceiling: a bare @grpc/grpc-js unary call loop (closed loop; "bare" encodes and
//   decodes with the proto per call, "bare raw" sends pre-encoded bytes and leaves the
//   answer undecoded, which is also what tanalyze does);
// - tanalyze's ClosedLoopDriver in this thread and the worker-thread pool (HDR histograms,
//   windows, its raw channel: the lean one on tanalyze's own HTTP/2 client by default,
//   grpc-js's and the node:http2 one it replaced (bench/h2-node-channel.ts) beside it), at
//   concurrency 1 (the latency it adds) and at --concurrency (the highest rate it
//   sustains), each with the client process's CPU per request;
// - tanalyze's OpenLoopDriver: the highest constant rate it keeps on schedule (≤ 1% of
//   requests late, ≥ 98% completed), bisected between 10% and 100% of the ceiling; beside
//   it the same search for a bare open loop (the least an open-loop client can do), which
//   shows what evenly spaced traffic costs the server apart from tanalyze's driver; each
//   open-loop row notes the CPU cores of the client process and of the server's process tree.
//
// The server runs in a child process ("child": it does not share the client's thread) or
// in this process ("inproc": it does, as the embedded launcher does today). Targets:
// ≥ 80% of the bare ceiling's rate, < 100 µs added median latency. Figures of a shared,
// noisy machine: compare the ratios within one run.

import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { createInferenceClient } from '../src/protocol/client.js';
import { inferenceServiceDefinition, MODEL_INFER_PATH } from '../src/protocol/service.js';
import type { ModelInferRequest } from '../src/protocol/types.js';
import { ClosedLoopDriver } from '../src/load/closed-loop.js';
import { type LoadDriver, type StopResult, type WindowResult } from '../src/domain/load.js';
import { createRawChannel, makeInferRequest, serializeInferRequest } from '../src/load/infer-requests.js';
import { LoadWorkerPool } from '../src/load/workers.js';
import { OpenLoopDriver } from '../src/load/open-loop.js';
import { newLatencyHistogram, recordLatencyNs } from '../src/load/histogram.js';
import { percentiles } from '../src/measure/stats.js';
import { startEmbeddedServer, type EmbeddedServer } from '../src/server/server.js';
import { fromPackageRoot } from '../src/util/package-root.js';
import { createNodeHttp2Channel } from './h2-node-channel.js';

interface Args {
  seconds: number;
  concurrency: number;
  workers: number[];
  server: ('child' | 'inproc')[];
  spinUs: number;
  model: string;
  rounds: number;
  openRounds: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 0.6, concurrency: 16, workers: [1, 2], server: ['child', 'inproc'], spinUs: 1000, model: 'identity', rounds: 5, openRounds: 3 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--help' || k === '-h') {
      console.log('usage: bench/loadgen [--seconds 0.6] [--concurrency 16] [--workers 1,2] [--server child|inproc|both] [--spin-us 1000] [--model identity] [--rounds 5] [--open-rounds 3]');
      process.exit(0);
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--seconds') a.seconds = Number(v);
    else if (k === '--concurrency') a.concurrency = Number(v);
    else if (k === '--workers') a.workers = v === '0' || v === '' ? [] : v.split(',').map(Number);
    else if (k === '--server') a.server = v === 'both' ? ['child', 'inproc'] : [v as 'child' | 'inproc'];
    else if (k === '--spin-us') a.spinUs = Number(v);
    else if (k === '--model') a.model = v;
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--open-rounds') a.openRounds = Number(v);
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

const REPOSITORY = fromPackageRoot('examples', 'model_repository');

// ---- the server, in a child process or here ----

async function serveChild(model: string): Promise<void> {
  const server = await startEmbeddedServer({ repository: REPOSITORY, modelControl: 'explicit', loadModels: [model] });
  process.send!({ address: server.address });
  process.on('disconnect', () => void server.stop().then(() => process.exit(0)));
}

interface Served {
  address: string;
  /** The server's process (with its instance processes) when it runs in a child. */
  pid?: number;
  stop(): Promise<void>;
}

/** CPU seconds used so far by a process and its descendants (Linux /proc; 0 elsewhere). */
function treeCpuSeconds(pid: number): number {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  const visit = (p: number): void => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(f[11]) + Number(f[12])) / tick; // utime, stime
      for (const t of readdirSync(`/proc/${p}/task`)) {
        const kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim();
        for (const k of kids ? kids.split(' ') : []) visit(Number(k));
      }
    } catch {
      // gone, or not Linux
    }
  };
  visit(pid);
  return total;
}

/** CPU cores busy in this process and in the server's process tree over `run`. */
async function withCpu<T>(serverPid: number | undefined, run: () => Promise<T>): Promise<T & { clientCores?: number; serverCores?: number }> {
  const c0 = process.cpuUsage();
  const s0 = serverPid ? treeCpuSeconds(serverPid) : 0;
  const t0 = performance.now();
  const r = await run();
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const out = { ...r } as T & { clientCores?: number; serverCores?: number };
  out.clientCores = (c.user + c.system) / 1e6 / wall;
  if (serverPid) out.serverCores = (treeCpuSeconds(serverPid) - s0) / wall;
  return out;
}

async function startServer(where: 'child' | 'inproc', model: string): Promise<Served> {
  if (where === 'inproc') {
    const s: EmbeddedServer = await startEmbeddedServer({ repository: REPOSITORY, modelControl: 'explicit', loadModels: [model] });
    return { address: s.address, stop: () => s.stop() };
  }
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--serve-child', model], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const address = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { address: string }) => resolve(m.address));
    child.once('exit', (code) => reject(new Error(`server child exited (code ${code})`)));
  });
  return {
    address,
    ...(child.pid !== undefined ? { pid: child.pid } : {}),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.disconnect();
        setTimeout(() => child.kill(), 3000).unref();
      }),
  };
}

// ---- measurements ----

interface Row {
  label: string;
  load: string;
  rps: number;
  p50Us: number;
  p99Us: number;
  /** Share of the round's bare ceiling: median, min, max over the rounds. */
  ratio?: [number, number, number];
  /** p50 minus the round's bare raw p50, µs: median, min, max. */
  added?: [number, number, number];
  note?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A bare grpc-js closed loop: `concurrency` loops of makeUnaryRequest, latencies into an array. */
async function bareLoop(address: string, request: ModelInferRequest, raw: boolean, concurrency: number, seconds: number): Promise<Omit<Row, 'label' | 'load'>> {
  const def = inferenceServiceDefinition()['ModelInfer']!;
  const channel = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
  const bytes = serializeInferRequest(request);
  const same = (b: Buffer): Buffer => b;
  const call = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const cb = (err: grpc.ServiceError | null): void => (err ? reject(err) : resolve());
      if (raw) channel.makeUnaryRequest(MODEL_INFER_PATH, same, same, bytes, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, cb);
      else channel.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, cb);
    });
  const run = async (ms: number, lat: number[] | null): Promise<number> => {
    const end = performance.now() + ms;
    let n = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const t0 = process.hrtime.bigint();
          await call();
          n++;
          lat?.push(Number(process.hrtime.bigint() - t0) / 1000);
        }
      }),
    );
    return n;
  };
  await run(300, null);
  const lat: number[] = [];
  const t0 = performance.now();
  const n = await run(seconds * 1000, lat);
  const elapsed = (performance.now() - t0) / 1000;
  channel.close();
  lat.sort((x, y) => x - y);
  const rank = (p: number): number => lat[Math.max(0, Math.ceil(p * lat.length) - 1)] ?? NaN;
  return { rps: n / elapsed, p50Us: rank(0.5), p99Us: rank(0.99) };
}

type RunFigures = Omit<Row, 'label' | 'load'> & { sent?: number; late?: number; lateP99Us?: number; achieved: number; clientCores?: number; serverCores?: number };

/**
 * The bare open loop: the least an open-loop client can do (wait for the due time, spinning
 * on setImmediate under 1 ms as OpenLoopDriver does, send pre-encoded bytes with
 * makeUnaryRequest, time from the due time into an array). The reference that shows what
 * open-loop traffic itself costs this server, apart from tanalyze's driver.
 */
class BareOpenLoop implements LoadDriver {
  private stopped = false;
  private inWindow = false;
  private lat: number[] = [];
  private sent = 0;
  private late = 0;
  private windowStart = 0n;
  private inFlight = 0;
  private readonly channel: grpc.Client;
  constructor(address: string, private readonly bytes: Buffer) {
    this.channel = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
  }
  start(rate: number): void {
    const interval = 1e9 / rate;
    const t0 = process.hrtime.bigint();
    const same = (b: Buffer): Buffer => b;
    let i = 0;
    const loop = async (): Promise<void> => {
      while (!this.stopped) {
        const due = t0 + BigInt(Math.round(i * interval));
        const wait = Number(due - process.hrtime.bigint());
        if (wait > 1e6) await sleep((wait - 1e6) / 1e6);
        else if (wait > 0) await new Promise((r) => setImmediate(r));
        else {
          i++;
          const counted = this.inWindow;
          if (counted) {
            this.sent++;
            if (-wait > 2e6) this.late++;
          }
          this.inFlight++;
          this.channel.makeUnaryRequest(MODEL_INFER_PATH, same, same, this.bytes, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, (err) => {
            this.inFlight--;
            if (!err && counted && this.inWindow) this.lat.push(Number(process.hrtime.bigint() - due) / 1000);
          });
          if (i % 32 === 0) await new Promise((r) => setImmediate(r));
        }
      }
    };
    void loop();
  }
  startWindow(): void {
    this.lat = [];
    this.sent = 0;
    this.late = 0;
    this.inWindow = true;
    this.windowStart = process.hrtime.bigint();
  }
  endWindow(): WindowResult {
    this.inWindow = false;
    const histogram = newLatencyHistogram();
    for (const us of this.lat) recordLatencyNs(histogram, BigInt(Math.round(us * 1000)));
    return { histogram, count: this.lat.length, errors: 0, firstError: null, durationNs: process.hrtime.bigint() - this.windowStart, sent: this.sent, late: this.late };
  }
  async stop(): Promise<StopResult> {
    this.stopped = true;
    const end = Date.now() + 5000;
    while (this.inFlight > 0 && Date.now() < end) await sleep(5);
    this.channel.close();
    return { drained: this.inFlight === 0, inFlight: this.inFlight };
  }
}

/** One driver run: warm-up 300 ms, one window of `seconds`. */
async function driverRun(driver: LoadDriver, level: number, seconds: number): Promise<RunFigures> {
  driver.start(level);
  await sleep(300);
  driver.startWindow();
  await sleep(seconds * 1000);
  const w = await driver.endWindow();
  await driver.stop();
  const p = percentiles(w.histogram);
  const s = Number(w.durationNs) / 1e9;
  const out: RunFigures = { rps: w.count / s, p50Us: p.p50, p99Us: p.p99, achieved: w.count / s };
  if (w.sent !== undefined) out.sent = w.sent;
  if (w.late !== undefined) out.late = w.late;
  if (w.lateness) out.lateP99Us = w.lateness.getValueAtPercentile(99);
  return out;
}

/** Highest constant rate the open-loop driver keeps on schedule, bisected geometrically. */
async function maxOpenRate(make: () => LoadDriver, ceiling: number, seconds: number, serverPid?: number): Promise<{ rate: number; row: Omit<Row, 'label' | 'load'> | null; note: string }> {
  const ok = (r: RunFigures, rate: number): boolean => (r.sent ?? 0) > 0 && (r.late ?? 0) / r.sent! <= 0.01 && r.achieved >= 0.98 * rate;
  let lo = 0;
  let loRow: RunFigures | null = null;
  let hi = ceiling * 1.05;
  let rate = ceiling * 0.5;
  let probes = 0;
  for (; probes < 8 && hi / Math.max(lo, 1) > 1.08; probes++) {
    // A failed probe is run once more: a single preemption of a shared machine should not decide it.
    let r = await withCpu(serverPid, () => driverRun(make(), rate, seconds));
    if (!ok(r, rate)) r = await withCpu(serverPid, () => driverRun(make(), rate, seconds));
    if (ok(r, rate)) {
      lo = rate;
      loRow = r;
    } else hi = rate;
    rate = lo > 0 ? Math.sqrt(lo * hi) : rate / 2;
  }
  const cpu = loRow?.clientCores !== undefined ? `; CPU cores: client ${fmt(loRow.clientCores, 2)}${loRow.serverCores !== undefined ? `, server ${fmt(loRow.serverCores, 2)}` : ''}` : '';
  const lateness = loRow?.lateP99Us !== undefined ? `, lateness p99 ${fmt(loRow.lateP99Us)} µs` : '';
  const note = loRow ? `${probes} probes; ${fmt((100 * (loRow.late ?? 0)) / (loRow.sent ?? 1), 2)}% late${lateness}${cpu}` : `${probes} probes`;
  return { rate: lo, row: loRow, note };
}

const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

/**
 * Per row: median req/s, p50, p99 over the rounds; "% of ceiling" and "added p50" are taken
 * within each round against that round's ceiling (the faster bare loop; the bare raw p50)
 * and their median reported with the range, so a slow spell of the machine, which moves a
 * whole round, cancels out.
 */
function printTable(title: string, rows: Row[]): void {
  console.log(`\n## ${title}`);
  const head = ['variant', 'load', 'req/s', '% of bare ceiling (range)', 'p50 µs', 'p99 µs', 'added p50 µs (range)', 'note'];
  const range = (r: [number, number, number] | undefined, unit: string, scale = 1): string =>
    !r ? '' : r[1] === r[2] ? `${fmt(r[0] * scale)}${unit}` : `${fmt(r[0] * scale)}${unit} (${fmt(r[1] * scale)}..${fmt(r[2] * scale)})`;
  const cells = rows.map((r) => [r.label, r.load, fmt(r.rps), range(r.ratio, '%', 100), fmt(r.p50Us), fmt(r.p99Us), range(r.added, ''), r.note ?? '']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const left = (i: number): boolean => i < 2 || i === 7;
  const line = (c: string[]): string => `| ${c.map((x, i) => (left(i) ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w, i) => (left(i) ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`);
  for (const c of cells) console.log(line(c));
}

interface Variant {
  label: string;
  load: string;
  run: () => Promise<RunFigures>;
  /** A bare loop: one of the references of its round. */
  bare?: 'proto' | 'raw';
}

const med3 = (xs: number[]): [number, number, number] => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return [s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2, s[0]!, s[s.length - 1]!];
};

/** Every variant once per round, rounds interleaved; ratios and differences taken within each round. */
async function inRounds(variants: Variant[], rounds: number, compare: 'rps' | 'p50'): Promise<Row[]> {
  const results = variants.map((): RunFigures[] => []);
  for (let r = 0; r < rounds; r++) for (const [i, v] of variants.entries()) results[i]!.push(await withCpu(undefined, v.run));
  const ceiling = Array.from({ length: rounds }, (_, r) => Math.max(...variants.flatMap((v, i) => (v.bare ? [results[i]![r]!.rps] : []))));
  const rawIndex = variants.findIndex((v) => v.bare === 'raw');
  return variants.map((v, i) => {
    const runs = results[i]!;
    const row: Row = {
      label: v.label,
      load: v.load,
      rps: med3(runs.map((x) => x.rps))[0],
      p50Us: med3(runs.map((x) => x.p50Us))[0],
      p99Us: med3(runs.map((x) => x.p99Us))[0],
      ratio: med3(runs.map((x, r) => x.rps / ceiling[r]!)),
      // The whole client process's CPU over the run (warm-up included) per request answered in the window.
      note: `client CPU ${fmt(med3(runs.map((x) => ((x.clientCores ?? NaN) * 1e6) / x.rps))[0])} µs/req`,
    };
    if (compare === 'p50' && rawIndex >= 0) row.added = med3(runs.map((x, r) => x.p50Us - results[rawIndex]![r]!.p50Us));
    return row;
  });
}

async function benchPlacement(where: 'child' | 'inproc', args: Args): Promise<void> {
  const served = await startServer(where, args.model);
  const client = createInferenceClient(served.address);
  const request = makeInferRequest(await client.modelMetadata(args.model), 1, 1);
  client.close();
  const bytes = serializeInferRequest(request);
  const channel = createRawChannel(served.address);
  const grpcJsChannel = createRawChannel(served.address, { transport: 'grpc-js' });
  const nodeHttp2Channel = createNodeHttp2Channel(served.address);
  await channel.ready();
  await grpcJsChannel.ready();
  await nodeHttp2Channel.ready();
  const open = { spinNs: args.spinUs * 1000 };
  const pools = new Map<number, LoadWorkerPool>();
  for (const k of args.workers) pools.set(k, await LoadWorkerPool.start({ address: served.address, workers: k, openLoop: open }));
  const bare = (raw: boolean, c: number) => async (): Promise<RunFigures> => {
    const r = await bareLoop(served.address, request, raw, c, args.seconds);
    return { ...r, achieved: r.rps };
  };
  const closed = (c: number) => (): Promise<RunFigures> => driverRun(new ClosedLoopDriver({ send: channel.sender(bytes) }), c, args.seconds);
  const closedGrpcJs = (c: number) => (): Promise<RunFigures> => driverRun(new ClosedLoopDriver({ send: grpcJsChannel.sender(bytes) }), c, args.seconds);
  const closedNodeHttp2 = (c: number) => (): Promise<RunFigures> => driverRun(new ClosedLoopDriver({ send: nodeHttp2Channel.sender(bytes) }), c, args.seconds);
  const pooled = (pool: LoadWorkerPool, c: number) => (): Promise<RunFigures> => driverRun(pool.driver({ mode: 'concurrency', request: bytes }), c, args.seconds);
  const workersLabel = (k: number): string => `${k} worker thread${k > 1 ? 's' : ''}`;
  try {
    console.log(
      `\n# server: ${where === 'child' ? 'a child process' : 'this process (it shares the client thread)'}; model ${args.model}; ${availableParallelism()} CPUs, load average ${loadavg()[0]!.toFixed(1)}; ` +
        `${args.seconds} s per run after 300 ms warm-up; closed-loop rows: median of ${args.rounds} interleaved rounds`,
    );

    // Latency added: concurrency 1.
    const lat = await inRounds(
      [
        { label: 'bare grpc-js (proto)', load: 'c=1', run: bare(false, 1), bare: 'proto' },
        { label: 'bare grpc-js raw', load: 'c=1', run: bare(true, 1), bare: 'raw' },
        { label: 'tanalyze closed loop', load: 'c=1', run: closed(1) },
        { label: 'tanalyze closed loop, grpc-js transport', load: 'c=1', run: closedGrpcJs(1) },
        { label: 'tanalyze closed loop, node:http2 channel (before issue 13)', load: 'c=1', run: closedNodeHttp2(1) },
        ...[...pools].filter(([k]) => k === 1).map(([k, pool]) => ({ label: `tanalyze, ${workersLabel(k)}`, load: 'c=1', run: pooled(pool, 1) })),
      ],
      args.rounds,
      'p50',
    );
    printTable('latency added (closed loop, concurrency 1; added = p50 − bare raw p50 of the same round)', lat);

    // Highest rate: closed loop at --concurrency.
    const c = args.concurrency;
    const tput = await inRounds(
      [
        { label: 'bare grpc-js (proto)', load: `c=${c}`, run: bare(false, c), bare: 'proto' },
        { label: 'bare grpc-js raw', load: `c=${c}`, run: bare(true, c), bare: 'raw' },
        { label: 'tanalyze closed loop', load: `c=${c}`, run: closed(c) },
        { label: 'tanalyze closed loop, grpc-js transport', load: `c=${c}`, run: closedGrpcJs(c) },
        { label: 'tanalyze closed loop, node:http2 channel (before issue 13)', load: `c=${c}`, run: closedNodeHttp2(c) },
        ...[...pools].map(([k, pool]) => ({ label: `tanalyze, ${workersLabel(k)}`, load: `c=${c}`, run: pooled(pool, c) })),
      ],
      args.rounds,
      'rps',
    );
    const ceiling = Math.max(tput[0]!.rps, tput[1]!.rps);

    // Highest open-loop rate kept on schedule (probes of at least 2 s).
    const probeS = Math.max(2, args.seconds);
    // Each open-loop search is repeated --open-rounds times, variants interleaved; the median
    // search is shown (its row and note) with the range of the rates found.
    type OpenResult = Awaited<ReturnType<typeof maxOpenRate>>;
    const openVariants: { label: string; make: () => LoadDriver }[] = [
      { label: 'bare grpc-js open loop (raw)', make: () => new BareOpenLoop(served.address, bytes) },
      { label: 'tanalyze open loop', make: () => new OpenLoopDriver({ send: channel.sender(bytes), ...open }) },
      { label: 'tanalyze open loop, grpc-js transport', make: () => new OpenLoopDriver({ send: grpcJsChannel.sender(bytes), ...open }) },
      ...[...pools].map(([k, pool]) => ({ label: `tanalyze open loop, ${workersLabel(k)}`, make: () => pool.driver({ mode: 'rate', request: bytes }) })),
    ];
    const openRuns = openVariants.map((): OpenResult[] => []);
    for (let r = 0; r < args.openRounds; r++) for (const [i, v] of openVariants.entries()) openRuns[i]!.push(await maxOpenRate(v.make, ceiling, probeS, served.pid));
    // --open-rounds 0: closed-loop rows only.
    for (const [i, v] of args.openRounds > 0 ? openVariants.entries() : []) {
      const runs = [...openRuns[i]!].sort((a, b) => a.rate - b.rate);
      const mid = runs[(runs.length - 1) >> 1]!;
      const shares = med3(runs.map((x) => x.rate / ceiling));
      const rates = runs.length > 1 ? `; rates ${runs.map((x) => fmt(x.rate)).join(', ')}` : '';
      tput.push({ label: v.label, load: `${fmt(mid.rate)}/s`, ...(mid.row ?? { rps: 0, p50Us: NaN, p99Us: NaN }), ratio: [mid.rate / ceiling, shares[1], shares[2]], note: `${mid.note}${rates}` });
    }
    printTable(
      `highest rate (closed loop at concurrency ${c}; open loop: the highest constant rate with ≤ 1% of requests > 2 ms late and ≥ 98% completed, against the median ceiling; median of ${args.openRounds} searches)`,
      tput,
    );
  } finally {
    for (const p of pools.values()) await p.close();
    channel.close();
    grpcJsChannel.close();
    nodeHttp2Channel.close();
    await served.stop();
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === '--serve-child') return serveChild(process.argv[3] ?? 'identity');
  const args = parseArgs(process.argv.slice(2));
  for (const where of args.server) await benchPlacement(where, args);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
