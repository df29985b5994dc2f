/**
 * Runs the build tools (trtexec, nvidia-smi) on this machine or inside a container
 * (NVIDIA's TensorRT image, through the Docker Engine API), from argument arrays,
 * with their output kept in a log file, a timeout, and cleanup registration so a
 * build never outlives tanalyze. Paths in the arguments stay valid inside the
 * container because every folder they name is mounted at the same absolute path.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { register } from '../launchers/cleanup.js';
import { connectDocker, ensureImage, LABEL_HOST, LABEL_PID, LABEL_ROLE, LABEL_RUN, parseGpus } from '../launchers/docker.js';
import { LaunchError } from '../launchers/errors.js';
import { ManagedProcess, resolveBinary } from '../launchers/local.js';

/** NVIDIA's TensorRT container of the same release as DEFAULT_TRITON_IMAGE (engines must match Triton's TensorRT). */
export const DEFAULT_TENSORRT_IMAGE = 'nvcr.io/nvidia/tensorrt:26.11-py3';

export type Tool = 'trtexec' | 'nvidia-smi';

export interface ToolRun {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The output (stdout and stderr interleaved), at most the last 256 KiB. */
  output: string;
}

export interface ToolRunOptions {
  /** Where the output is appended (besides being returned). */
  logFile?: string;
  timeoutMs: number;
  /** Folders the arguments name: read-only and read-write (docker mounts them at the same path). */
  mounts?: { ro?: string[]; rw?: string[] };
}

export interface ToolRunner {
  readonly describe: string;
  run(tool: Tool, args: readonly string[], opts: ToolRunOptions): Promise<ToolRun>;
}

const KEEP = 256 * 1024;

class OutputSink {
  private chunks: Buffer[] = [];
  private size = 0;
  private readonly file: WriteStream | undefined;
  constructor(logFile: string | undefined, header: string) {
    if (logFile) {
      mkdirSync(dirname(resolve(logFile)), { recursive: true });
      this.file = createWriteStream(logFile, { flags: 'a' });
      this.file.write(header);
    }
  }
  write(d: Buffer): void {
    this.file?.write(d);
    this.chunks.push(d);
    this.size += d.length;
    while (this.size > KEEP && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  async close(): Promise<string> {
    await new Promise<void>((r) => (this.file ? this.file.end(r) : r()));
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** Tools on this machine: trtexec from --trtexec-path or PATH, nvidia-smi from PATH. */
export class LocalToolRunner implements ToolRunner {
  readonly describe: string;
  constructor(private readonly opts: { trtexecPath?: string; nvidiaSmiPath?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.describe = `local ${opts.trtexecPath ?? 'trtexec'}`;
  }

  async run(tool: Tool, args: readonly string[], o: ToolRunOptions): Promise<ToolRun> {
    const wanted = tool === 'trtexec' ? (this.opts.trtexecPath ?? 'trtexec') : (this.opts.nvidiaSmiPath ?? 'nvidia-smi');
    const env = this.opts.env ?? process.env;
    const bin = resolveBinary(wanted, env['PATH']);
    if (!bin) {
      throw new LaunchError(
        'missing-binary',
        `${tool} was not found${wanted.includes('/') ? `: '${wanted}'` : ' on PATH'}`,
        [],
        tool === 'trtexec' ? 'Point --trtexec-path at TensorRT\'s trtexec, or build engines in a container: --engine-builder docker.' : undefined,
      );
    }
    const sink = new OutputSink(o.logFile, `# tanalyze ${new Date().toISOString()}: ${bin} ${args.join(' ')}\n`);
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
    const proc = new ManagedProcess(child, tool);
    child.stdout!.on('data', (d: Buffer) => sink.write(d));
    child.stderr!.on('data', (d: Buffer) => sink.write(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void proc.stop(3000);
    }, o.timeoutMs);
    await proc.exited;
    clearTimeout(timer);
    // Let the pipes drain.
    await Promise.all([child.stdout, child.stderr].map((s) => new Promise<void>((r) => (s!.readableEnded || s!.destroyed ? r() : s!.once('close', () => r())))));
    const output = await sink.close();
    if (proc.spawnError && child.pid === undefined) throw new LaunchError('missing-binary', `${tool} could not be started: ${proc.spawnError.message}`);
    return { code: proc.exit?.code ?? null, signal: proc.exit?.signal ?? null, timedOut, output };
  }
}

/** Tools inside a container of NVIDIA's TensorRT image, with GPUs; one short-lived container per run. */
export class DockerToolRunner implements ToolRunner {
  readonly describe: string;
  private docker: Docker | undefined;
  private imageReady = false;

  constructor(
    private readonly opts: {
      image?: string;
      gpus?: string;
      socket?: string;
      runId: string;
      pull?: 'missing' | 'always' | 'never';
      env?: NodeJS.ProcessEnv;
      log?: (line: string) => void;
    },
  ) {
    this.describe = `docker ${opts.image ?? DEFAULT_TENSORRT_IMAGE}`;
  }

  private async engine(): Promise<Docker> {
    this.docker ??= await connectDocker(this.opts.socket, this.opts.env);
    if (!this.imageReady) {
      await ensureImage(this.docker, this.opts.image ?? DEFAULT_TENSORRT_IMAGE, { pull: this.opts.pull, log: this.opts.log });
      this.imageReady = true;
    }
    return this.docker;
  }

  async run(tool: Tool, args: readonly string[], o: ToolRunOptions): Promise<ToolRun> {
    const docker = await this.engine();
    const ro = [...new Set((o.mounts?.ro ?? []).map((p) => resolve(p)))];
    const rw = [...new Set((o.mounts?.rw ?? []).map((p) => resolve(p)))];
    const uid = process.getuid?.();
    const gid = process.getgid?.();
    const container = await docker.createContainer({
      Image: this.opts.image ?? DEFAULT_TENSORRT_IMAGE,
      Cmd: [tool, ...args],
      // Files it writes (engines) belong to the user, not root.
      ...(uid !== undefined && gid !== undefined ? { User: `${uid}:${gid}` } : {}),
      Labels: { [LABEL_RUN]: this.opts.runId, [LABEL_PID]: String(process.pid), [LABEL_HOST]: hostname(), [LABEL_ROLE]: tool },
      HostConfig: {
        Binds: [...rw.map((p) => `${p}:${p}`), ...ro.filter((p) => !rw.includes(p)).map((p) => `${p}:${p}:ro`)],
        DeviceRequests: parseGpus(this.opts.gpus),
      },
    });
    const removeIt = async (graceMs: number) => {
      await container.stop({ t: Math.max(1, Math.ceil(graceMs / 1000)) }).catch(() => undefined);
      await container.remove({ force: true }).catch(() => undefined);
    };
    const unregister = register({ description: `${tool} container ${container.id.slice(0, 12)}`, killNow: () => undefined, stop: removeIt });
    const sink = new OutputSink(o.logFile, `# tanalyze ${new Date().toISOString()}: ${this.describe}: ${tool} ${args.join(' ')}\n`);
    let timedOut = false;
    try {
      await container.start();
      const stream = (await container.logs({ follow: true, stdout: true, stderr: true })) as unknown as NodeJS.ReadableStream;
      const out = new PassThrough();
      out.on('data', (d: Buffer) => sink.write(d));
      docker.modem.demuxStream(stream, out, out);
      const ended = new Promise<void>((r) => {
        stream.on('end', () => r());
        stream.on('close', () => r());
        stream.on('error', () => r());
      });
      let timer: NodeJS.Timeout | undefined;
      const waited = await Promise.race([
        container.wait() as Promise<{ StatusCode: number }>,
        new Promise<null>((r) => {
          timer = setTimeout(() => r(null), o.timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (waited === null) {
        timedOut = true;
        await removeIt(3000);
      }
      await Promise.race([ended, new Promise((r) => setTimeout(r, 1000))]);
      const output = await sink.close();
      return { code: waited ? waited.StatusCode : null, signal: waited ? null : 'SIGKILL', timedOut, output };
    } finally {
      await removeIt(1000);
      unregister();
    }
  }
}

/** The GPU the engines are built for: nvidia-smi's first (or `device`-th) GPU name; 'unknown-gpu' when there is none. */
export async function detectGpuName(runner: ToolRunner, device = 0): Promise<string> {
  try {
    const r = await runner.run('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { timeoutMs: 20_000 });
    const names = r.output.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    if (r.code === 0 && names.length) return names[Math.min(device, names.length - 1)]!;
  } catch {
    /* no nvidia-smi */
  }
  return 'unknown-gpu';
}
