/**
 * GPU gauges of the embedded server: nvidia-smi's CSV parsed (pure), printed as Triton's
 * gauge families (checked against Triton's own GPU metrics sample and read back by the
 * scraper's parser), and the monitor end to end with a FAKE nvidia-smi behind a loaded
 * pytorch_libtorch model (served by a FAKE in-process executor: no Python, no GPU).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { gpuGauges, MetricsScraper, parsePrometheusText } from '../../src/measure/metrics.js';
import { gpuMetricsText, NvidiaSmiMonitor, parseNvidiaSmiLine } from '../../src/server/gpu-monitor.js';
import type { Executor, ExecutorSpec } from '../../src/server/executor.js';
import { setGpuExecutorFactory } from '../../src/server/model.js';
import { startEmbeddedServer } from '../../src/server/server.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { installFakes, readRecords } from '../fakes/fake-bin.js';

const MiB = 1024 * 1024;

test('parseNvidiaSmiLine: fields in Triton units; [N/A] fields are null; other lines are not samples', () => {
  assert.deepEqual(parseNvidiaSmiLine('GPU-8a0c6b5e-1f2d-4c3b-9a8e-7d6f5e4c3b2a, 42, 10240, 81559, 312.45'), {
    uuid: 'GPU-8a0c6b5e-1f2d-4c3b-9a8e-7d6f5e4c3b2a',
    utilization: 0.42,
    memoryUsedBytes: 10240 * MiB,
    memoryTotalBytes: 81559 * MiB,
    powerW: 312.45,
  });
  assert.deepEqual(parseNvidiaSmiLine('GPU-x, [N/A], 5, 10, [Not Supported]'), {
    uuid: 'GPU-x',
    utilization: null,
    memoryUsedBytes: 5 * MiB,
    memoryTotalBytes: 10 * MiB,
    powerW: null,
  });
  assert.equal(parseNvidiaSmiLine("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."), null);
  assert.equal(parseNvidiaSmiLine('uuid, utilization.gpu [%], memory.used [MiB], memory.total [MiB], power.draw [W]'), null);
  assert.equal(parseNvidiaSmiLine(''), null);
});

function reference(file: string): string | null {
  for (const p of [fromPackageRoot('..', 'shared', 'reference', 'triton', file), join('/work/shared/reference/triton', file)]) {
    if (existsSync(p)) return readFileSync(p, 'utf8');
  }
  return null;
}

test("gpuMetricsText: Triton's gauge families, read back by the scraper", () => {
  const text = gpuMetricsText([
    { uuid: 'GPU-a', utilization: 0.5, memoryUsedBytes: 4e8, memoryTotalBytes: 1e9, powerW: 20 },
    { uuid: 'GPU-b', utilization: null, memoryUsedBytes: 1e8, memoryTotalBytes: 1e9, powerW: null },
  ]);
  assert.deepEqual(gpuGauges(parsePrometheusText(text)), [
    { uuid: 'GPU-a', utilization: 0.5, memoryUsedBytes: 4e8, memoryTotalBytes: 1e9, powerW: 20 },
    { uuid: 'GPU-b', utilization: null, memoryUsedBytes: 1e8, memoryTotalBytes: 1e9, powerW: null },
  ]);
  assert.equal(gpuMetricsText([]), '', 'no GPU, no families');
  // Same HELP and TYPE lines as Triton's own GPU metrics.
  const sample = reference('metrics-sample-gpu-fixture.txt');
  if (sample !== null) {
    const header = (t: string) => t.split('\n').filter((l) => /^# (HELP|TYPE) nv_gpu_(utilization|memory_used_bytes|memory_total_bytes|power_usage) /.test(l));
    assert.deepEqual(new Set(header(text)), new Set(header(sample)));
  }
});

test('NvidiaSmiMonitor: without nvidia-smi it reports nothing and does not throw', async () => {
  const m = new NvidiaSmiMonitor({ nvidiaSmi: '/nonexistent/nvidia-smi' });
  m.ensureStarted();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(m.samples(), []);
  m.ensureStarted(); // no respawn loop after a failure
  m.stop();
});

/** FAKE executor: echoes the input; io from the config, as the GPU executor's. */
function echoExecutor(_spec: ExecutorSpec): Promise<Executor> {
  const io = { inputs: [{ name: 'x', type: 'float32', shape: [-1, 2] }], outputs: [{ name: 'x', type: 'float32', shape: [-1, 2] }] };
  return Promise.resolve({
    io,
    run: async (requests) => ({
      outputs: requests.map((r) => r.inputs),
      times: { computeInputNs: 0, computeInferNs: 0, computeOutputNs: 0 },
      startedNs: Number(process.hrtime.bigint()),
    }),
    close: async () => undefined,
  } as Executor);
}

test('embedded server: GPU gauges from a FAKE nvidia-smi in /metrics while a GPU model is loaded; the scraper gets GPU memory', async () => {
  const repo = mkdtempSync(path.join(tmpdir(), 'tanalyze-gpumon-'));
  const bin = installFakes({ 'nvidia-smi': 'nvidia-smi-fake.mjs' });
  const record = join(repo, 'nvidia-smi.jsonl');
  mkdirSync(join(repo, 'tm', '1'), { recursive: true });
  writeFileSync(join(repo, 'tm', '1', 'model.pt'), 'not really torchscript');
  writeFileSync(
    join(repo, 'tm', 'config.pbtxt'),
    'platform: "pytorch_libtorch"\nmax_batch_size: 4\ninput [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ]\noutput [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ]\ninstance_group [ { kind: KIND_GPU count: 1 } ]\n',
  );
  const saved = { sample: process.env['FAKE_NVIDIA_SMI_SAMPLE'], record: process.env['FAKE_NVIDIA_SMI_RECORD'] };
  process.env['FAKE_NVIDIA_SMI_SAMPLE'] = 'GPU-fake-0001, 61, 3072, 81559, 250.00';
  process.env['FAKE_NVIDIA_SMI_RECORD'] = record;
  setGpuExecutorFactory(echoExecutor);
  const server = await startEmbeddedServer({ repository: repo, gpuMonitor: { nvidiaSmi: bin.path('nvidia-smi'), intervalMs: 50 } });
  try {
    const scraper = new MetricsScraper(() => server.metricsText());
    const deadline = Date.now() + 5000;
    while (!server.metricsText().includes('nv_gpu_memory_used_bytes') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const window = scraper.startWindow('tm', 50);
    await new Promise((r) => setTimeout(r, 150));
    const delta = await window.stop();
    assert.ok(delta, 'a metrics window');
    assert.equal(delta.gpuMemoryUsedMb, 3072);
    assert.ok(Math.abs(delta.gpuUtilization! - 0.61) < 1e-9);
    const runs = readRecords(record);
    assert.equal(runs.length, 1, 'one nvidia-smi for the whole run, not one per scrape');
    assert.ok(runs[0]!.argv.includes('-lms'));
  } finally {
    await server.stop();
    setGpuExecutorFactory(undefined);
    for (const [k, v] of [['FAKE_NVIDIA_SMI_SAMPLE', saved.sample], ['FAKE_NVIDIA_SMI_RECORD', saved.record]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    bin.cleanup();
    rmSync(repo, { recursive: true, force: true });
  }
});

test('embedded server: no GPU model, no nvidia-smi started and no GPU families', async () => {
  const bin = installFakes({ 'nvidia-smi': 'nvidia-smi-fake.mjs' });
  const record = join(mkdtempSync(path.join(tmpdir(), 'tanalyze-gpumon-')), 'r.jsonl');
  process.env['FAKE_NVIDIA_SMI_RECORD'] = record;
  const server = await startEmbeddedServer({ repository: fromPackageRoot('examples', 'model_repository'), gpuMonitor: { nvidiaSmi: bin.path('nvidia-smi'), intervalMs: 50 } });
  try {
    await new Promise((r) => setTimeout(r, 100));
    assert.doesNotMatch(server.metricsText(), /nv_gpu_/);
    assert.deepEqual(readRecords(record), []);
  } finally {
    await server.stop();
    delete process.env['FAKE_NVIDIA_SMI_RECORD'];
    bin.cleanup();
  }
});
