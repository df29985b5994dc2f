/**
 * Local launcher: starts `tritonserver` on this machine, serving the run's variant
 * repository in explicit model-control mode, and makes each trial's variant ready
 * with RepositoryModelLoad (a reload; the process is restarted only when it died).
 *
 * The process is started from an argument array (never a shell) in its own process
 * group, its stdout and stderr go to a log file in the run folder, and it is
 * registered for cleanup (cleanup.ts) so it never outlives tanalyze: stop() sends
 * SIGTERM and SIGKILL after a grace period; an exiting tanalyze SIGKILLs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../../domain/errors.js';
import { createInferenceClient } from '../../protocol/client.js';
import type { InferenceClient } from '../../protocol/types.js';
import type { Launcher, ModelVariant } from '../../domain/launcher.js';
import { register, type Resource } from './cleanup.js';
import { verifyLoadedConfig } from './config-readback.js';
import { LaunchError, mentionsPortInUse, tailFile } from './errors.js';
import { freePorts, portInUse } from './ports.js';
import { loadAndWait, sleep, waitForServerReady } from './server-control.js';

export { killAllChildren, killAllChildrenSync } from './cleanup.js';

export interface LocalTritonOptions {
  /** The model repository tritonserver serves (the run's variant repository). */
  repository: string;
  /** tritonserver binary: a path, or a name looked up on PATH (default 'tritonserver'). */
  tritonPath?: string;
  /** More tritonserver flags (from the profile's server.args), e.g. ['--log-verbose=1']. */
  extraArgs?: string[];
  /** Where tritonserver's stdout and stderr go (appended; one file across restarts). */
  logFile: string;
  /** Address tanalyze connects to (default 127.0.0.1). */
  host?: string;
  /** Ports; 0 or absent = a free one is picked. */
  grpcPort?: number;
  httpPort?: number;
  metricsPort?: number;
  /** How long start-up may take until ServerReady (default 120 s). */
  startTimeoutMs?: number;
  /** How long a model load may take until ModelReady (default 600 s: TensorRT engines deserialize slowly). */
  readyTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL at stop (default 10 s; Triton waits for in-flight requests). */
  stopGraceMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Progress lines (restarts). */
  log?: (line: string) => void;
}

/** Flags tanalyze sets itself; the profile's extra args may not set them. */
export const RESERVED_TRITON_FLAGS = ['--model-repository', '--model-store', '--model-control-mode', '--grpc-port', '--http-port', '--metrics-port'];

/** The extra args that conflict with what tanalyze sets, as one UsageError (or nothing). */
export function checkExtraArgs(args: readonly string[], source = 'server.args'): void {
  const bad = args.filter((a) => RESERVED_TRITON_FLAGS.some((f) => a === f || a.startsWith(`${f}=`)));
  if (bad.length) {
    throw new UsageError(
      bad.map((a) => `${source}: '${a}' is set by tanalyze itself (reserved: ${RESERVED_TRITON_FLAGS.join(', ')})`),
      'Leave the repository, model-control mode and ports to tanalyze; set ports with the launcher options if needed.',
    );
  }
}

/** The address flags tanalyze sets unless the profile's server.args set them. */
export const TRITON_ADDRESS_FLAGS = ['--grpc-address', '--http-address', '--metrics-address'] as const;

/**
 * tritonserver's argument array (pure): tanalyze's flags first, the profile's after.
 * gRPC, HTTP and metrics listen on `listenAddress` (default 127.0.0.1: with explicit model
 * control anyone who reaches the server can load and unload models), each unless the
 * profile's args name that address flag themselves.
 */
export function tritonArgs(opts: {
  repository: string;
  grpcPort: number;
  httpPort: number;
  metricsPort: number;
  extraArgs?: readonly string[];
  listenAddress?: string;
}): string[] {
  const extra = opts.extraArgs ?? [];
  const address = opts.listenAddress ?? '127.0.0.1';
  const setByProfile = (flag: string) => extra.some((a) => a === flag || a.startsWith(`${flag}=`));
  return [
    `--model-repository=${resolve(opts.repository)}`,
    '--model-control-mode=explicit',
    `--grpc-port=${opts.grpcPort}`,
    `--http-port=${opts.httpPort}`,
    `--metrics-port=${opts.metricsPort}`,
    ...TRITON_ADDRESS_FLAGS.filter((f) => !setByProfile(f)).map((f) => `${f}=${address}`),
    ...extra,
  ];
}

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A binary by path (must exist and be executable) or by name on PATH; null when not found. */
export function resolveBinary(nameOrPath: string, pathEnv = process.env['PATH'] ?? ''): string | null {
  if (nameOrPath.includes('/') || isAbsolute(nameOrPath)) {
    const p = resolve(nameOrPath);
    return isExecutable(p) ? p : null;
  }
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, nameOrPath);
    if (isExecutable(p)) return p;
  }
  return null;
}

/** Waits for `p` at most `ms`; true when the time ran out. The timer never holds the process open. */
async function raceTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(true), ms);
    timer.unref();
  });
  try {
    return await Promise.race([p.then(() => false), t]);
  } finally {
    clearTimeout(timer);
  }
}

/** A child process in its own process group, stopped with SIGTERM then SIGKILL. */
export class ManagedProcess implements Resource {
  readonly description: string;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  spawnError: Error | null = null;
  readonly exited: Promise<void>;
  private readonly unregister: () => void;

  constructor(readonly child: ChildProcess, name: string) {
    this.description = `${name} (pid ${child.pid ?? '?'})`;
    this.exited = new Promise<void>((resolveExit) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.sweepOrphans();
        resolveExit();
      });
      child.once('error', (e) => {
        this.spawnError = e;
        if (child.pid === undefined) {
          this.exit = { code: null, signal: null };
          resolveExit();
        }
      });
    });
    this.unregister = register(this);
    void this.exited.then(() => this.unregister());
  }

  get alive(): boolean {
    return this.exit === null;
  }

  /** "exit code 1" / "signal SIGSEGV" / the spawn error. */
  describeExit(): string {
    if (this.spawnError && this.child.pid === undefined) return this.spawnError.message;
    if (!this.exit) return 'running';
    return this.exit.signal ? `killed by ${this.exit.signal}` : `exit code ${this.exit.code}`;
  }

  private signalGroup(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || !this.alive) return;
    try {
      process.kill(-pid, sig); // the whole group: backend stub processes too
    } catch {
      try {
        this.child.kill(sig);
      } catch {
        /* gone */
      }
    }
  }

  /**
   * What the leader left in its group dies with it. A tritonserver that crashed (or was
   * killed) leaves its Python backend stubs running, each holding its model (and GPU memory)
   * with nobody to serve; they would pile up with every restart. Done at once on exit, while
   * the group still has members, so its id cannot yet belong to anyone else.
   */
  private sweepOrphans(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* the group is empty: nothing was left */
    }
  }

  killNow(): void {
    this.signalGroup('SIGKILL');
  }

  async stop(graceMs: number): Promise<void> {
    if (!this.alive) return;
    this.signalGroup('SIGTERM');
    const timedOut = await raceTimeout(this.exited, graceMs);
    if (timedOut) {
      this.signalGroup('SIGKILL');
      await raceTimeout(this.exited, 5000);
    }
    this.unregister();
  }
}

export class LocalTritonLauncher implements Launcher {
  readonly kind = 'local';
  private proc: ManagedProcess | undefined;
  private client: InferenceClient | undefined;
  private binary: string | undefined;
  private ports: { grpc: number; http: number; metrics: number } | undefined;
  private readonly host: string;
  private restarts = 0;

  constructor(private readonly opts: LocalTritonOptions) {
    this.host = opts.host ?? '127.0.0.1';
    checkExtraArgs(opts.extraArgs ?? []);
  }

  /** The running server's process id (tests, messages). */
  get pid(): number | undefined {
    return this.proc?.alive ? this.proc.child.pid : undefined;
  }

  get alive(): boolean {
    return !!this.proc?.alive;
  }

  /** How many times the server was started again after it died. */
  get restartCount(): number {
    return this.restarts;
  }

  get listenPorts(): { grpc: number; http: number; metrics: number } | undefined {
    return this.ports ? { ...this.ports } : undefined;
  }

  /** Triton's Prometheus endpoint. */
  metricsUrl(): string | null {
    return this.ports ? `http://${this.host}:${this.ports.metrics}/metrics` : null;
  }

  async start(): Promise<{ grpcAddress: string; serverVersion: string }> {
    const wanted = this.opts.tritonPath ?? 'tritonserver';
    const binary = resolveBinary(wanted, this.opts.env?.['PATH'] ?? process.env['PATH']);
    if (!binary) {
      throw new LaunchError(
        'missing-binary',
        wanted.includes('/') ? `tritonserver not found or not executable: '${wanted}'` : `'${wanted}' was not found on PATH`,
        [],
        'Point --triton-path at the tritonserver binary (in NGC containers /opt/tritonserver/bin/tritonserver), or use --launch docker (Triton in a container), --launch remote --url HOST:8001 (a running Triton) or --launch embedded.',
      );
    }
    this.binary = binary;
    const explicit = { grpc: this.opts.grpcPort ?? 0, http: this.opts.httpPort ?? 0, metrics: this.opts.metricsPort ?? 0 };
    const flagOf = { grpc: '--grpc-port', http: '--http-port', metrics: '--metrics-port' } as const;
    for (const k of ['grpc', 'http', 'metrics'] as const) {
      const p = explicit[k];
      if (p && (await portInUse(p))) {
        throw new LaunchError('port-in-use', `port ${p} (tritonserver ${flagOf[k]}) is already in use`, [], 'Stop what listens there, or leave the port to tanalyze (0 picks a free one).');
      }
    }
    // Ports tanalyze picked may be taken between the pick and the bind: pick again then.
    const autoPicked = !explicit.grpc || !explicit.http || !explicit.metrics;
    for (let attempt = 1; ; attempt++) {
      const free = await freePorts(3);
      this.ports = { grpc: explicit.grpc || free[0]!, http: explicit.http || free[1]!, metrics: explicit.metrics || free[2]! };
      try {
        await this.spawnAndWait();
        break;
      } catch (e) {
        if (e instanceof LaunchError && e.failure === 'port-in-use' && autoPicked && attempt < 3) continue;
        throw e;
      }
    }
    const meta = await this.client!.serverMetadata().catch(() => ({ name: 'triton', version: 'unknown' }));
    return { grpcAddress: `${this.host}:${this.ports.grpc}`, serverVersion: `${meta.name} ${meta.version}` };
  }

  private async spawnAndWait(): Promise<void> {
    const ports = this.ports!;
    const args = tritonArgs({ repository: this.opts.repository, grpcPort: ports.grpc, httpPort: ports.http, metricsPort: ports.metrics, extraArgs: this.opts.extraArgs });
    const logFile = this.opts.logFile;
    mkdirSync(dirname(resolve(logFile)), { recursive: true });
    const fd = openSync(logFile, 'a');
    writeSync(fd, `# tanalyze ${new Date().toISOString()}: ${this.binary} ${args.join(' ')}\n`);
    let child: ChildProcess;
    try {
      child = spawn(this.binary!, args, {
        stdio: ['ignore', fd, fd],
        detached: true, // its own process group, so stop() reaches backend stubs too
        env: this.opts.env ?? process.env,
      });
    } finally {
      closeSync(fd); // the child holds its own copy
    }
    const proc = new ManagedProcess(child, 'tritonserver');
    this.proc = proc;
    this.client?.close();
    // RepositoryModelLoad returns when the load is done: as long as a model may take to load.
    this.client = createInferenceClient(`${this.host}:${ports.grpc}`, { deadlineMs: 5000, loadDeadlineMs: this.opts.readyTimeoutMs ?? 600_000 });

    const timeoutMs = this.opts.startTimeoutMs ?? 120_000;
    const r = await waitForServerReady(this.client, { timeoutMs, deadReason: () => (proc.alive ? null : proc.describeExit()) });
    if (r.ready) return;
    if (r.dead === undefined) await proc.stop(2000);
    // Give the log a moment to receive the last lines of a dying process.
    await sleep(50);
    const tail = tailFile(logFile);
    if (r.dead !== undefined) {
      if (proc.spawnError && child.pid === undefined) {
        throw new LaunchError('missing-binary', `tritonserver could not be started: ${proc.spawnError.message}`, [], 'Check --triton-path.');
      }
      if (mentionsPortInUse(tail)) {
        throw new LaunchError('port-in-use', `tritonserver could not listen on its ports (gRPC ${ports.grpc}, HTTP ${ports.http}, metrics ${ports.metrics}): a port is already in use`, tail, undefined, logFile);
      }
      throw new LaunchError('exited', `tritonserver exited during start-up (${r.dead})`, tail, 'Its log says why; a model repository or flag problem is the usual cause.', logFile);
    }
    throw new LaunchError(
      'timeout',
      `tritonserver was not ready after ${Math.round(timeoutMs / 1000)} s; it was stopped`,
      tail,
      'Raise the start timeout (server.start_timeout in the profile) if the machine is slow to start.',
      logFile,
    );
  }

  async apply(variant: ModelVariant): Promise<void> {
    if (!this.proc) throw new Error('local launcher: start() was not called');
    if (!this.proc.alive) {
      // Restart only when needed: the server died (a crash mid-run). Same ports, so the
      // address the measurement connects to stays valid.
      this.opts.log?.(`  tritonserver stopped (${this.proc.describeExit()}); starting it again`);
      this.restarts++;
      await this.spawnAndWait();
    }
    const proc = this.proc;
    try {
      await loadAndWait(this.client!, variant.modelName, this.opts.readyTimeoutMs ?? 600_000);
      await verifyLoadedConfig(this.client!, variant);
    } catch (e) {
      if (!proc.alive) {
        await proc.exited;
        throw new LaunchError('crashed', `tritonserver died while loading '${variant.modelName}' (${proc.describeExit()})`, tailFile(this.opts.logFile), undefined, this.opts.logFile);
      }
      throw e;
    }
  }

  async serverDeath(): Promise<string | null> {
    const proc = this.proc;
    if (!proc) return null;
    // Failed requests can be seen a moment before the exit is.
    if (proc.alive) await raceTimeout(proc.exited, 1000);
    return proc.alive ? null : `tritonserver died (${proc.describeExit()})`;
  }

  async release(variant: ModelVariant): Promise<void> {
    if (!this.proc?.alive || !this.client) return;
    await this.client.repositoryModelUnload(variant.modelName);
  }

  async stop(): Promise<void> {
    this.client?.close();
    this.client = undefined;
    await this.proc?.stop(this.opts.stopGraceMs ?? 10_000);
  }
}
