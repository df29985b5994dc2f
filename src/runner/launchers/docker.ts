/**
 * Docker launcher: Triton in a container from NVIDIA's image, through the Docker
 * Engine API (dockerode), serving the run's variant repository in explicit
 * model-control mode. A configuration change is a RepositoryModelLoad into the
 * running container; the container is re-created only when it died.
 *
 * - Image: `--triton-image`, default DEFAULT_TRITON_IMAGE; pulled (with progress)
 *   when missing.
 * - GPUs: `HostConfig.DeviceRequests`, as `docker run --gpus` builds them (parseGpus).
 *   Needs the NVIDIA Container Toolkit on the Docker host.
 * - Mounts: the variant repository, and the source model repository, each read-only
 *   at the same absolute path inside the container: variant folders hold absolute
 *   symbolic links into the source model folder (config/variant.ts writeVariant), so
 *   the links resolve inside the container only if their targets sit at the same
 *   path. Engine caches the variants link into go in `extraMounts` the same way.
 * - Network: ports 8000-8002 published on 127.0.0.1 at free host ports, or host
 *   networking (Triton then listens on free host ports directly).
 * - Labels: every container carries `tanalyze.run=<run id>`, `tanalyze.pid` and
 *   `tanalyze.host`; removeStaleContainers() removes the ones whose tanalyze process
 *   is gone (a killed run), since nothing asynchronous can run when tanalyze dies.
 * - Logs: the container's stdout and stderr are streamed to a log file in the run folder.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import Docker from 'dockerode';
import { createInferenceClient } from '../../protocol/client.js';
import type { InferenceClient } from '../../protocol/types.js';
import type { Launcher, ModelVariant } from '../../domain/launcher.js';
import { register } from './cleanup.js';
import { LaunchError, mentionsPortInUse, tailFile } from './errors.js';
import { checkExtraArgs, tritonArgs } from './local.js';
import { verifyLoadedConfig } from './config-readback.js';
import { freePorts } from './ports.js';
import { loadAndWait, sleep, waitForServerReady } from './server-control.js';

/** The current Triton release (26.11, Triton 2.75.0, November 2026). Override with --triton-image. */
export const DEFAULT_TRITON_IMAGE = 'nvcr.io/nvidia/tritonserver:26.11-py3';
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export const LABEL_RUN = 'tanalyze.run';
export const LABEL_PID = 'tanalyze.pid';
export const LABEL_HOST = 'tanalyze.host';
export const LABEL_ROLE = 'tanalyze.role';

const TRITON_PORTS = { http: 8000, grpc: 8001, metrics: 8002 } as const;

// ------------------------------------------------------------------ pure parts

/**
 * `--gpus` as Docker device requests, the way `docker run --gpus` builds them
 * (docker/cli opts/gpus.go: no driver, capabilities [["gpu"]]):
 * - 'all' → every GPU (Count -1); 'none' or '' → no GPU (a CPU-only Triton);
 * - '0,1' or 'device=0,1' → those devices (indexes or GPU UUIDs). Unlike docker's own
 *   flag, a bare number is a device index, as in CUDA_VISIBLE_DEVICES;
 * - 'count=2' → any two GPUs.
 */
export function parseGpus(spec: string | undefined): Docker.DeviceRequest[] {
  const s = (spec ?? 'all').trim();
  if (s === '' || s === 'none') return [];
  if (s === 'all') return [{ Driver: '', Count: -1, Capabilities: [['gpu']] }];
  const count = /^count=(all|\d+)$/.exec(s);
  if (count) return [{ Driver: '', Count: count[1] === 'all' ? -1 : Number(count[1]), Capabilities: [['gpu']] }];
  const list = s.replace(/^"?device=/, '').replace(/"$/, '');
  const ids = list.split(',').map((x) => x.trim());
  if (!ids.length || ids.some((id) => !/^(\d+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-zA-Z/-]+)$/.test(id))) {
    throw new Error(`--gpus: '${spec}' is not one of all, none, a device list such as 0,1 (indexes or GPU UUIDs), or count=N`);
  }
  return [{ Driver: '', DeviceIDs: ids, Capabilities: [['gpu']] }];
}

/** Where the Docker engine is: an explicit socket/URL, else DOCKER_HOST, else /var/run/docker.sock. */
export function dockerConnection(socket: string | undefined, env: NodeJS.ProcessEnv = process.env): { options: Docker.DockerOptions; describe: string } {
  const raw = socket ?? env['DOCKER_HOST'];
  if (!raw) return { options: { socketPath: DEFAULT_DOCKER_SOCKET }, describe: `unix://${DEFAULT_DOCKER_SOCKET}` };
  if (raw.startsWith('unix://')) return { options: { socketPath: raw.slice(7) }, describe: raw };
  if (raw.startsWith('/') || raw.startsWith('.')) return { options: { socketPath: resolve(raw) }, describe: `unix://${resolve(raw)}` };
  const m = /^(tcp|http|https):\/\/([^:/]+)(?::(\d+))?/.exec(raw);
  if (m) {
    const protocol = m[1] === 'https' || m[3] === '2376' ? 'https' : 'http';
    return { options: { host: m[2], port: m[3] ?? (protocol === 'https' ? '2376' : '2375'), protocol }, describe: raw };
  }
  throw new Error(`--docker-socket: '${raw}' is not a unix socket path, unix://PATH or tcp://HOST:PORT`);
}

export interface TritonContainerSpecInput {
  image: string;
  runId: string;
  /** The variant repository (served) and other folders to mount read-only at the same path. */
  repository: string;
  mounts: string[];
  gpus: Docker.DeviceRequest[];
  network: 'bridge' | 'host';
  /** Host ports: published (bridge) or listened on directly (host). */
  ports: { grpc: number; http: number; metrics: number };
  extraArgs?: readonly string[];
  shmSizeBytes?: number;
  name?: string;
  pid?: number;
  hostname?: string;
}

/** The container create request (pure). */
export function tritonContainerSpec(i: TritonContainerSpecInput): Docker.ContainerCreateOptions {
  const repo = resolve(i.repository);
  const binds = [...new Set([repo, ...i.mounts.map((m) => resolve(m))])].map((p) => `${p}:${p}:ro`);
  const host = i.network === 'host';
  const listen = host ? i.ports : { grpc: TRITON_PORTS.grpc, http: TRITON_PORTS.http, metrics: TRITON_PORTS.metrics };
  // On the host network the server binds to loopback itself; on a bridge it must listen on
  // the container's interface for the published ports to reach it, and those are published
  // on the host's 127.0.0.1 only.
  const args = tritonArgs({
    repository: repo,
    grpcPort: listen.grpc,
    httpPort: listen.http,
    metricsPort: listen.metrics,
    extraArgs: i.extraArgs,
    listenAddress: host ? '127.0.0.1' : '0.0.0.0',
  });
  const publish = (inner: number, outer: number) => [`${inner}/tcp`, [{ HostIp: '127.0.0.1', HostPort: String(outer) }]] as const;
  return {
    ...(i.name ? { name: i.name } : {}),
    Image: i.image,
    Cmd: ['tritonserver', ...args],
    Labels: {
      [LABEL_RUN]: i.runId,
      [LABEL_PID]: String(i.pid ?? process.pid),
      [LABEL_HOST]: i.hostname ?? osHostname(),
      [LABEL_ROLE]: 'tritonserver',
    },
    ...(host ? {} : { ExposedPorts: { '8000/tcp': {}, '8001/tcp': {}, '8002/tcp': {} } }),
    HostConfig: {
      Binds: binds,
      DeviceRequests: i.gpus,
      // NVIDIA's recommended settings for Triton containers.
      ShmSize: i.shmSizeBytes ?? 1024 * 1024 * 1024,
      Ulimits: [
        { Name: 'memlock', Soft: -1, Hard: -1 },
        { Name: 'stack', Soft: 67108864, Hard: 67108864 },
      ],
      ...(host
        ? { NetworkMode: 'host' }
        : {
            PortBindings: Object.fromEntries([
              publish(TRITON_PORTS.http, i.ports.http),
              publish(TRITON_PORTS.grpc, i.ports.grpc),
              publish(TRITON_PORTS.metrics, i.ports.metrics),
            ]),
          }),
    },
  };
}

// ------------------------------------------------------------------ engine access

/** A dockerode client for the engine at `socket`, checked with /_ping. */
export async function connectDocker(socket?: string, env: NodeJS.ProcessEnv = process.env): Promise<Docker> {
  const { options, describe } = dockerConnection(socket, env);
  const docker = new Docker({ ...options, timeout: 0 } as Docker.DockerOptions);
  try {
    await withTimeout(docker.ping(), 10_000, 'no answer in 10 s');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EACCES' ? `permission denied on ${describe}` : err.code === 'ENOENT' ? `${describe} does not exist` : `${describe}: ${err.message}`;
    throw new LaunchError(
      'docker-unreachable',
      `no Docker engine reachable: ${why}`,
      [],
      [
        err.code === 'EACCES' ? 'Add your user to the docker group (or run with access to the socket). ' : '',
        'Start Docker (with the NVIDIA Container Toolkit for GPUs), or point --docker-socket / DOCKER_HOST at it. ',
        'Without Docker: --launch local (tritonserver on this machine), --launch remote --url HOST:8001 (a running Triton), or --launch embedded (CPU, no Triton).',
      ].join(''),
    );
  }
  return docker;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(what)), ms);
      t.unref();
    }),
  ]);
}

interface PullEvent {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

/** Summarizes pull progress events into occasional lines ("12/20 layers, 1.2 GB of 4.0 GB"). */
export function pullProgressSummarizer(image: string, emit: (line: string) => void, everyMs = 2000): (e: PullEvent) => void {
  const layers = new Map<string, { current: number; total: number; done: boolean }>();
  let last = 0;
  return (e: PullEvent) => {
    if (!e.id || !e.status) {
      if (e.status) emit(`  ${image}: ${e.status}`);
      return;
    }
    const l = layers.get(e.id) ?? { current: 0, total: 0, done: false };
    if (e.progressDetail?.total) l.total = e.progressDetail.total;
    if (e.status === 'Downloading' && e.progressDetail?.current !== undefined) l.current = e.progressDetail.current;
    if (/^(Pull complete|Already exists|Download complete)$/.test(e.status)) {
      l.done = e.status !== 'Download complete' ? true : l.done;
      if (l.total) l.current = l.total;
    }
    layers.set(e.id, l);
    const now = Date.now();
    if (now - last < everyMs) return;
    last = now;
    const all = [...layers.values()];
    const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
    const cur = all.reduce((s, x) => s + x.current, 0);
    const tot = all.reduce((s, x) => s + x.total, 0);
    emit(`  pulling ${image}: ${all.filter((x) => x.done).length}/${all.length} layers${tot ? `, ${gb(cur)} of ${gb(tot)}` : ''}`);
  };
}

/** Makes sure `image` is on the engine: pulled when missing ('missing'), always, or never. */
export async function ensureImage(docker: Docker, image: string, opts: { pull?: 'missing' | 'always' | 'never'; log?: (line: string) => void } = {}): Promise<void> {
  const policy = opts.pull ?? 'missing';
  if (policy !== 'always') {
    const present = await docker
      .getImage(image)
      .inspect()
      .then(() => true)
      .catch((e: { statusCode?: number }) => {
        if (e.statusCode === 404) return false;
        throw e;
      });
    if (present) return;
    if (policy === 'never') throw new LaunchError('docker-error', `image ${image} is not on the Docker host and pulling is off`, [], `docker pull ${image}`);
  }
  opts.log?.(`  pulling ${image} (this can take minutes the first time)`);
  const onProgress = pullProgressSummarizer(image, opts.log ?? (() => undefined));
  try {
    const stream = (await docker.pull(image)) as NodeJS.ReadableStream;
    await new Promise<void>((resolvePull, reject) => {
      docker.modem.followProgress(
        stream,
        (err: Error | null, events: PullEvent[]) => {
          const failed = events?.find((x) => x.error);
          if (err) reject(err);
          else if (failed) reject(new Error(failed.errorDetail?.message ?? failed.error));
          else resolvePull();
        },
        onProgress,
      );
    });
  } catch (e) {
    const msg = (e as Error).message;
    throw new LaunchError(
      'docker-error',
      `pulling ${image} failed: ${msg}`,
      [],
      /unauthorized|denied|authentication/i.test(msg) ? 'Log in to the registry first (docker login nvcr.io, user $oauthtoken, an NGC API key as password).' : 'Check the image name (--triton-image) and the network.',
    );
  }
  opts.log?.(`  pulled ${image}`);
}

export interface StaleContainer {
  id: string;
  name: string;
  runId: string;
}

/**
 * Removes containers tanalyze created whose tanalyze process is gone: labelled
 * `tanalyze.run`, created from this host, and whose `tanalyze.pid` is not a live
 * process (nor this one). Containers of runs still going on are left alone.
 */
export async function removeStaleContainers(
  docker: Docker,
  opts: { hostname?: string; isAlive?: (pid: number) => boolean; log?: (line: string) => void } = {},
): Promise<StaleContainer[]> {
  const host = opts.hostname ?? osHostname();
  const isAlive =
    opts.isAlive ??
    ((pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === 'EPERM';
      }
    });
  const list = await docker.listContainers({ all: true, filters: { label: [LABEL_RUN] } });
  const removed: StaleContainer[] = [];
  for (const c of list) {
    const labels = c.Labels ?? {};
    const pid = Number(labels[LABEL_PID]);
    if (labels[LABEL_HOST] !== host) continue;
    if (Number.isInteger(pid) && pid > 0 && (pid === process.pid || isAlive(pid))) continue;
    const name = (c.Names?.[0] ?? c.Id).replace(/^\//, '');
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .then(() => {
        removed.push({ id: c.Id, name, runId: labels[LABEL_RUN] ?? '' });
        opts.log?.(`  removed stale container ${name} of run ${labels[LABEL_RUN]} (its tanalyze process ${labels[LABEL_PID]} is gone)`);
      })
      .catch((e: { statusCode?: number; message: string }) => {
        if (e.statusCode !== 404) opts.log?.(`  could not remove stale container ${name}: ${e.message}`);
      });
  }
  return removed;
}

/** What the engine's error means for the user (GPU support, busy ports). */
function explainDockerError(e: unknown, what: string): LaunchError {
  const msg = (e as { json?: { message?: string }; message?: string }).json?.message ?? (e as Error).message ?? String(e);
  if (/could not select device driver|nvidia-container-cli|unknown or invalid runtime name: nvidia/i.test(msg)) {
    return new LaunchError(
      'docker-error',
      `${what}: the Docker engine cannot give the container GPUs: ${msg}`,
      [],
      'Install the NVIDIA Container Toolkit on the Docker host (nvidia-ctk runtime configure --runtime=docker, then restart Docker), or run without GPUs: --gpus none.',
    );
  }
  if (/port is already allocated|address already in use/i.test(msg)) return new LaunchError('port-in-use', `${what}: ${msg}`);
  return new LaunchError('docker-error', `${what}: ${msg}`);
}

// ------------------------------------------------------------------ launcher

export interface DockerTritonOptions {
  /** The model repository Triton serves (the run's variant repository). */
  repository: string;
  /** Folders the variants link into (the source model repository, engine caches): mounted read-only at the same path. */
  mounts?: string[];
  runId: string;
  logFile: string;
  image?: string;
  /** 'all' (default), 'none', '0,1', 'count=N' (see parseGpus). */
  gpus?: string;
  /** Docker engine: socket path, unix://, tcp://; default DOCKER_HOST or /var/run/docker.sock. */
  socket?: string;
  network?: 'bridge' | 'host';
  pull?: 'missing' | 'always' | 'never';
  extraArgs?: string[];
  /** Remove containers of killed tanalyze runs before starting (default true). */
  removeStale?: boolean;
  startTimeoutMs?: number;
  readyTimeoutMs?: number;
  stopGraceMs?: number;
  shmSizeBytes?: number;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export class DockerTritonLauncher implements Launcher {
  readonly kind = 'docker';
  private docker: Docker | undefined;
  private container: Docker.Container | undefined;
  private client: InferenceClient | undefined;
  private ports: { grpc: number; http: number; metrics: number } | undefined;
  private logStream: WriteStream | undefined;
  private unregister: (() => void) | undefined;
  private generation = 0;
  private restarts = 0;
  private readonly gpus: Docker.DeviceRequest[];

  constructor(private readonly opts: DockerTritonOptions) {
    checkExtraArgs(opts.extraArgs ?? []);
    this.gpus = parseGpus(opts.gpus);
  }

  get containerId(): string | undefined {
    return this.container?.id;
  }

  get restartCount(): number {
    return this.restarts;
  }

  get listenPorts(): { grpc: number; http: number; metrics: number } | undefined {
    return this.ports ? { ...this.ports } : undefined;
  }

  metricsUrl(): string | null {
    return this.ports ? `http://127.0.0.1:${this.ports.metrics}/metrics` : null;
  }

  async start(): Promise<{ grpcAddress: string; serverVersion: string }> {
    const docker = await connectDocker(this.opts.socket, this.opts.env);
    this.docker = docker;
    if (this.opts.removeStale ?? true) await removeStaleContainers(docker, { log: this.opts.log });
    const image = this.opts.image ?? DEFAULT_TRITON_IMAGE;
    await ensureImage(docker, image, { pull: this.opts.pull, log: this.opts.log });
    const [grpc, http, metrics] = await freePorts(3);
    this.ports = { grpc: grpc!, http: http!, metrics: metrics! };
    await this.createAndWait();
    const meta = await this.client!.serverMetadata().catch(() => ({ name: 'triton', version: 'unknown' }));
    return { grpcAddress: `127.0.0.1:${this.ports.grpc}`, serverVersion: `${meta.name} ${meta.version} (${image})` };
  }

  private async createAndWait(): Promise<void> {
    const docker = this.docker!;
    const image = this.opts.image ?? DEFAULT_TRITON_IMAGE;
    const spec = tritonContainerSpec({
      image,
      runId: this.opts.runId,
      repository: this.opts.repository,
      mounts: this.opts.mounts ?? [],
      gpus: this.gpus,
      network: this.opts.network ?? 'bridge',
      ports: this.ports!,
      extraArgs: this.opts.extraArgs,
      shmSizeBytes: this.opts.shmSizeBytes,
      name: `tanalyze-${this.opts.runId}-triton-${++this.generation}`.replace(/[^a-zA-Z0-9_.-]/g, '-'),
    });
    let container: Docker.Container;
    try {
      container = await docker.createContainer(spec);
    } catch (e) {
      throw explainDockerError(e, `creating the Triton container (${image})`);
    }
    this.container = container;
    this.unregister?.();
    this.unregister = register({
      description: `container ${spec.name} (${container.id.slice(0, 12)})`,
      // Nothing synchronous can reach the engine: the label lets the next run remove it.
      killNow: () => undefined,
      stop: (graceMs) => this.removeContainer(container, graceMs),
    });
    try {
      await container.start();
    } catch (e) {
      await container.remove({ force: true }).catch(() => undefined);
      this.unregister?.();
      throw explainDockerError(e, `starting the Triton container (${image})`);
    }
    await this.followLogs(container);

    this.client?.close();
    this.client = createInferenceClient(`127.0.0.1:${this.ports!.grpc}`, { deadlineMs: 5000, loadDeadlineMs: this.opts.readyTimeoutMs ?? 600_000 });
    const timeoutMs = this.opts.startTimeoutMs ?? 180_000;
    const r = await waitForServerReady(this.client, { timeoutMs, pollMs: 300, deadReason: () => this.deadReason(container) });
    if (r.ready) return;
    await sleep(100); // the last log lines
    const tail = tailFile(this.opts.logFile);
    await this.removeContainer(container, 2000);
    if (r.dead !== undefined) {
      if (mentionsPortInUse(tail)) throw new LaunchError('port-in-use', `Triton in the container could not listen on its ports: a port is already in use`, tail, undefined, this.opts.logFile);
      throw new LaunchError('exited', `the Triton container exited during start-up (${r.dead})`, tail, 'Its log says why: a model repository problem, or GPUs the container cannot use.', this.opts.logFile);
    }
    throw new LaunchError('timeout', `Triton in the container was not ready after ${Math.round(timeoutMs / 1000)} s; the container was removed`, tail, undefined, this.opts.logFile);
  }

  /** Null while the container runs; "exit code N" once it stopped. */
  private async deadReason(container: Docker.Container): Promise<string | null> {
    try {
      const info = await container.inspect();
      if (info.State.Running) return null;
      return info.State.OOMKilled ? 'killed: out of memory' : `exit code ${info.State.ExitCode}`;
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return 'the container is gone';
      return null;
    }
  }

  private async followLogs(container: Docker.Container): Promise<void> {
    mkdirSync(dirname(resolve(this.opts.logFile)), { recursive: true });
    this.logStream?.end(); // the previous container's (after a restart)
    const out = createWriteStream(this.opts.logFile, { flags: 'a' });
    out.write(`# tanalyze ${new Date().toISOString()}: container ${container.id.slice(0, 12)}\n`);
    this.logStream = out;
    try {
      const stream = (await container.logs({ follow: true, stdout: true, stderr: true })) as unknown as NodeJS.ReadableStream;
      this.docker!.modem.demuxStream(stream, out, out);
      stream.on('error', () => undefined);
    } catch (e) {
      out.write(`# tanalyze: could not follow the container's logs: ${(e as Error).message}\n`);
    }
  }

  private async removeContainer(container: Docker.Container, graceMs: number): Promise<void> {
    await container.stop({ t: Math.max(1, Math.ceil(graceMs / 1000)) }).catch(() => undefined); // SIGTERM, SIGKILL after t
    await container.remove({ force: true }).catch(() => undefined);
    if (this.container === container) this.unregister?.();
  }

  async apply(variant: ModelVariant): Promise<void> {
    if (!this.container || !this.client) throw new Error('docker launcher: start() was not called');
    const dead = await this.deadReason(this.container);
    if (dead) {
      this.opts.log?.(`  the Triton container stopped (${dead}); starting a new one`);
      this.restarts++;
      await this.removeContainer(this.container, 1000);
      await this.createAndWait();
    }
    const container = this.container;
    try {
      await loadAndWait(this.client, variant.modelName, this.opts.readyTimeoutMs ?? 600_000);
      await verifyLoadedConfig(this.client, variant);
    } catch (e) {
      const died = await this.deadReason(container);
      if (died) throw new LaunchError('crashed', `the Triton container died while loading '${variant.modelName}' (${died})`, tailFile(this.opts.logFile), undefined, this.opts.logFile);
      throw e;
    }
  }

  async serverDeath(): Promise<string | null> {
    if (!this.container) return null;
    const dead = await this.deadReason(this.container);
    return dead ? `the Triton container died (${dead})` : null;
  }

  async release(variant: ModelVariant): Promise<void> {
    if (!this.client || !this.container || (await this.deadReason(this.container))) return;
    await this.client.repositoryModelUnload(variant.modelName);
  }

  async stop(): Promise<void> {
    this.client?.close();
    this.client = undefined;
    if (this.container) await this.removeContainer(this.container, this.opts.stopGraceMs ?? 10_000);
    this.container = undefined;
    await new Promise<void>((r) => (this.logStream ? this.logStream.end(r) : r()));
    this.logStream = undefined;
  }
}
