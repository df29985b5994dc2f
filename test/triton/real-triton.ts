/**
 * The REAL Triton Inference Server of `.triton/` (scripts/install-triton.sh: tritonserver
 * 2.51.0 from nvidia-pytriton's wheel, Python backend) for the real-server tests. Nothing
 * here is a fake. A test that needs the server calls realTritonPath() first: when the
 * install is missing the test FAILS with the command that installs it, never skips.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, closeSync, cpSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { freePorts } from '../../src/runner/launchers/ports.js';
import { createInferenceClient } from '../../src/protocol/client.js';
import type { InferenceClient } from '../../src/protocol/types.js';

export const TRITON_REPOSITORY = fromPackageRoot('examples', 'triton_repository');

/** .triton/bin/tritonserver, or an Error naming the install script. */
export function realTritonPath(): string {
  const p = fromPackageRoot('.triton', 'bin', 'tritonserver');
  if (!existsSync(p)) {
    throw new Error(`the real Triton is not installed: ${p} is missing. Run 'bash scripts/install-triton.sh' in the repository root (it needs pip's access to the Python package index).`);
  }
  return p;
}

/** A fresh model repository holding copies of the named examples/triton_repository models (the ONNX link stays a link). */
export function exampleRepository(models: string[], extra: Record<string, { config: string; modelPy: string }> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-real-repo-'));
  for (const m of models) cpSync(join(TRITON_REPOSITORY, m), join(dir, m), { recursive: true, verbatimSymlinks: false, filter: (src) => !src.includes('__pycache__') });
  for (const [name, files] of Object.entries(extra)) {
    mkdirSync(join(dir, name, '1'), { recursive: true });
    writeFileSync(join(dir, name, 'config.pbtxt'), files.config);
    writeFileSync(join(dir, name, '1', 'model.py'), files.modelPy);
  }
  return dir;
}

/** config.pbtxt of a Python-backend FP32 [16] -> [16] model (the identity's shape). */
export function identityLikeConfig(name: string, maxBatchSize = 64): string {
  return [
    `name: "${name}"`,
    'backend: "python"',
    `max_batch_size: ${maxBatchSize}`,
    'input [ { name: "input" data_type: TYPE_FP32 dims: [ 16 ] } ]',
    'output [ { name: "output" data_type: TYPE_FP32 dims: [ 16 ] } ]',
    'instance_group [ { count: 1 kind: KIND_CPU } ]',
    '',
  ].join('\n');
}

export interface RealTriton {
  grpcAddress: string;
  metricsUrl: string;
  pid: number;
  client: InferenceClient;
  logFile: string;
  log(): string;
  stop(): Promise<void>;
}

/** Starts the real tritonserver on loopback, free ports, and waits until it is ready. */
export async function startRealTriton(opts: { repository: string; explicit?: boolean; loadModels?: string[]; extraArgs?: string[] }): Promise<RealTriton> {
  const binary = realTritonPath();
  const [grpc, http, metrics] = await freePorts(3);
  const logFile = join(mkdtempSync(join(tmpdir(), 'tanalyze-real-log-')), 'tritonserver.log');
  const args = [
    `--model-repository=${opts.repository}`,
    `--model-control-mode=${opts.explicit === false ? 'none' : 'explicit'}`,
    ...(opts.loadModels ?? []).map((m) => `--load-model=${m}`),
    `--grpc-port=${grpc}`,
    `--http-port=${http}`,
    `--metrics-port=${metrics}`,
    '--grpc-address=127.0.0.1',
    '--http-address=127.0.0.1',
    '--metrics-address=127.0.0.1',
    ...(opts.extraArgs ?? []),
  ];
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(binary, args, { stdio: ['ignore', fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
  let exited = false;
  child.once('exit', () => (exited = true));
  const client = createInferenceClient(`127.0.0.1:${grpc}`, { deadlineMs: 5000, loadDeadlineMs: 120_000 });
  const log = () => readFileSync(logFile, 'utf8');
  const stop = async () => {
    client.close();
    if (exited) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      process.kill(-child.pid!, 'SIGTERM'); // the group: Python backend stubs too
    } catch {
      /* gone */
    }
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 15_000);
    await gone;
    clearTimeout(t);
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited) throw new Error(`the real tritonserver exited during start-up:\n${log().slice(-3000)}`);
    if (await client.serverReady().catch(() => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the real tritonserver was not ready in 120 s:\n${log().slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { grpcAddress: `127.0.0.1:${grpc}`, metricsUrl: `http://127.0.0.1:${metrics}/metrics`, pid: child.pid!, client, logFile, log, stop };
}

/**
 * The local addresses that listen on `port` (from /proc/net/tcp and tcp6), as
 * "127.0.0.1", "0.0.0.0", "::" ... : what a port scan of this machine would find.
 */
export function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '0A') continue; // 0A: LISTEN
      const [addrHex, portHex] = f[1]!.split(':');
      if (parseInt(portHex!, 16) !== port) continue;
      if (addrHex!.length === 8) {
        out.push([3, 2, 1, 0].map((i) => parseInt(addrHex!.slice(i * 2, i * 2 + 2), 16)).join('.'));
      } else {
        // Four 32-bit words in host order; ::ffff:a.b.c.d is an IPv4 address on a dual-stack socket.
        if (addrHex === '0'.repeat(32)) out.push('::');
        else if (addrHex === '00000000000000000000000001000000') out.push('::1');
        else if (addrHex!.startsWith('0000000000000000FFFF0000')) {
          const v4 = addrHex!.slice(24);
          out.push([3, 2, 1, 0].map((i) => parseInt(v4.slice(i * 2, i * 2 + 2), 16)).join('.'));
        } else out.push(addrHex!);
      }
    }
  }
  return out;
}
