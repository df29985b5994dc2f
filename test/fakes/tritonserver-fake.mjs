#!/usr/bin/env node
// FAKE tritonserver, for tests only. It is not Triton: it records the arguments it was
// started with, prints log lines shaped like Triton's, and answers Triton's gRPC
// protocol on --grpc-port by running tanalyze's EMBEDDED server in-process (same RPCs:
// ServerReady, RepositoryModelLoad with config overrides, ModelReady, statistics). It
// serves Prometheus text on --metrics-port (the embedded server's per-model families
// plus FAKE GPU gauges) and /v2/health/ready on --http-port.
//
// Environment (all optional):
//   FAKE_TRITON_SERVER_MODULE   path of the compiled src/server/server.js (required for 'ok')
//   FAKE_TRITON_ARGV_FILE       append one JSON line per start: {argv, pid}
//   FAKE_TRITON_MODE            ok (default) | exit | hang | port-in-use
//   FAKE_TRITON_EXIT_CODE       exit code for mode 'exit' (default 1)
//   FAKE_TRITON_START_DELAY_MS  wait before listening (a slow start)
//   FAKE_TRITON_IGNORE_SIGTERM  1: log and ignore SIGTERM (to test SIGKILL after the grace period)
//   FAKE_TRITON_CRASH_AFTER_READY_MODEL_MS  die by SIGKILL this long after the first model is READY
//   FAKE_TRITON_CRASH_ONCE_FILE with the above: crash only if this file does not exist (then create it)
//   FAKE_TRITON_GPU_MEMORY_USED bytes reported as nv_gpu_memory_used_bytes (default 2147483648)
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const env = process.env;
const argv = process.argv.slice(2);
if (env.FAKE_TRITON_ARGV_FILE) appendFileSync(env.FAKE_TRITON_ARGV_FILE, JSON.stringify({ argv, pid: process.pid }) + '\n');

function flag(name, dflt) {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === name && i + 1 < argv.length) return argv[i + 1];
    if (a.startsWith(name + '=')) return a.slice(name.length + 1);
  }
  return dflt;
}

const stamp = () => {
  const d = new Date();
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getMonth() + 1)}${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds() * 1000, 6)}`;
};
const info = (where, msg) => process.stdout.write(`I${stamp()} ${process.pid} ${where}] "${msg}"\n`);
const error = (where, msg) => process.stderr.write(`E${stamp()} ${process.pid} ${where}] "${msg}"\n`);

const repo = flag('--model-repository', flag('--model-store', ''));
const mode = (flag('--model-control-mode', 'none') || 'none').toLowerCase();
const grpcPort = Number(flag('--grpc-port', '8001'));
const httpPort = Number(flag('--http-port', '8000'));
const metricsPort = Number(flag('--metrics-port', '8002'));
// Real tritonserver listens on 0.0.0.0 unless told; metrics follow --http-address.
const grpcAddress = flag('--grpc-address', '0.0.0.0');
const httpAddress = flag('--http-address', '0.0.0.0');
const metricsAddress = flag('--metrics-address', httpAddress);
const fakeMode = env.FAKE_TRITON_MODE || 'ok';

info('pinned_memory_manager.cc:277', 'Pinned memory pool is created at \'0x7f0000000000\' with size 268435456');
info('cuda_memory_manager.cc:107', 'CUDA memory pool is created on device 0 with size 67108864');
info('server.cc:604', `FAKE tritonserver: model repository '${repo}', model control mode ${mode.toUpperCase()}`);

if (env.FAKE_TRITON_IGNORE_SIGTERM === '1') {
  process.on('SIGTERM', () => info('server.cc:339', 'FAKE: ignoring SIGTERM'));
}

if (fakeMode === 'exit') {
  error('model_repository_manager.cc:1390', `Poll failed for model directory 'broken': failed to open text file for read ${repo}/broken/config.pbtxt: No such file or directory`);
  error('main.cc:178', 'failed to load all models');
  process.exit(Number(env.FAKE_TRITON_EXIT_CODE || 1));
}
if (fakeMode === 'port-in-use') {
  error('main.cc:245', `failed to start GRPC service: Unavailable - Socket '0.0.0.0:${grpcPort}' already in use`);
  process.exit(1);
}
if (fakeMode === 'hang') {
  info('server.cc:674', 'FAKE: hanging during start-up (never ready)');
  setInterval(() => undefined, 1 << 30);
} else {
  await main();
}

async function listenHttp(address, port, handler, what) {
  const server = http.createServer(handler);
  await new Promise((resolve) => {
    server.once('error', (e) => {
      if (e.code === 'EADDRINUSE') {
        error('main.cc:245', `failed to start ${what} service: Unavailable - Socket '${address}:${port}' already in use`);
        process.exit(1);
      }
      error('main.cc:245', `failed to start ${what} service: ${e.message}`);
      process.exit(1);
    });
    server.listen(port, address, resolve);
  });
  return server;
}

async function main() {
  if (env.FAKE_TRITON_START_DELAY_MS) await new Promise((r) => setTimeout(r, Number(env.FAKE_TRITON_START_DELAY_MS)));
  const modPath = env.FAKE_TRITON_SERVER_MODULE;
  if (!modPath) {
    error('main.cc:1', 'FAKE tritonserver: FAKE_TRITON_SERVER_MODULE is not set');
    process.exit(2);
  }
  const { startEmbeddedServer } = await import(pathToFileURL(path.resolve(modPath)).href);
  let server;
  try {
    server = await startEmbeddedServer({
      repository: repo,
      host: grpcAddress,
      port: grpcPort,
      modelControl: mode === 'explicit' ? 'explicit' : 'none',
    });
  } catch (e) {
    const msg = String(e && e.message);
    if (/EADDRINUSE|address already in use|No address added/i.test(msg)) {
      error('main.cc:245', `failed to start GRPC service: Unavailable - Socket '${grpcAddress}:${grpcPort}' already in use`);
    } else {
      error('main.cc:178', msg);
    }
    process.exit(1);
  }
  info('grpc_server.cc:2558', `Started GRPCInferenceService at ${grpcAddress}:${grpcPort}`);

  let ready = true;
  const httpServer = await listenHttp(
    httpAddress,
    httpPort,
    (req, res) => {
      if (req.url === '/v2/health/ready') res.writeHead(ready ? 200 : 400).end();
      else if (req.url === '/v2/health/live') res.writeHead(200).end();
      else res.writeHead(404).end();
    },
    'HTTP',
  );
  info('http_server.cc:4713', `Started HTTPService at ${httpAddress}:${httpPort}`);

  const gpu = 'GPU-fa4e0000-0000-4000-8000-00000000fake';
  const gpuText = () =>
    [
      '# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)',
      '# TYPE nv_gpu_utilization gauge',
      `nv_gpu_utilization{gpu_uuid="${gpu}"} 0.420000`,
      '# HELP nv_gpu_memory_total_bytes GPU total memory, in bytes',
      '# TYPE nv_gpu_memory_total_bytes gauge',
      `nv_gpu_memory_total_bytes{gpu_uuid="${gpu}"} 85899345920`,
      '# HELP nv_gpu_memory_used_bytes GPU used memory, in bytes',
      '# TYPE nv_gpu_memory_used_bytes gauge',
      `nv_gpu_memory_used_bytes{gpu_uuid="${gpu}"} ${env.FAKE_TRITON_GPU_MEMORY_USED || '2147483648'}`,
      '',
    ].join('\n');
  const metricsServer = await listenHttp(
    metricsAddress,
    metricsPort,
    (req, res) => {
      if (req.url !== '/metrics') return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(server.metricsText() + gpuText());
    },
    'Metrics',
  );
  info('http_server.cc:362', `Started Metrics Service at ${metricsAddress}:${metricsPort}`);

  const crashMs = env.FAKE_TRITON_CRASH_AFTER_READY_MODEL_MS;
  const onceFile = env.FAKE_TRITON_CRASH_ONCE_FILE;
  if (crashMs && !(onceFile && existsSync(onceFile))) {
    const timer = setInterval(() => {
      // The embedded server's metrics list exactly the READY models.
      if (!/nv_inference_count\{model="/.test(server.metricsText())) return;
      clearInterval(timer);
      setTimeout(() => {
        if (onceFile) writeFileSync(onceFile, String(process.pid));
        error('backtrace.cc:1', 'Signal (11) received.');
        process.kill(process.pid, 'SIGKILL');
      }, Number(crashMs));
    }, 20);
  }

  const shutdown = async (sig) => {
    ready = false;
    info('server.cc:339', `Received ${sig}: Waiting for in-flight requests to complete.`);
    await server.stop();
    httpServer.close();
    metricsServer.close();
    info('server.cc:355', 'All models are stopped, unloading models');
    process.exit(0);
  };
  if (env.FAKE_TRITON_IGNORE_SIGTERM !== '1') process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
