/**
 * The Prometheus parser on Triton's own samples (shared/reference/triton/metrics-sample*.txt),
 * the per-model and per-GPU differencing, and the scraper against an HTTP endpoint, a
 * hanging one, and the embedded server's metrics text.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { MetricsScrapeError, MetricsScraper, familyOf, gpuGauges, modelCounters, parsePrometheusText, scrapeDelta, type MetricsSnapshot } from '../../src/measure/metrics.js';
import { metricsText } from '../../src/server/prometheus.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { freePorts } from '../../src/runner/launchers/ports.js';

function reference(file: string): string {
  // The shared reference folder sits beside the checkout.
  for (const p of [fromPackageRoot('..', 'shared', 'reference', 'triton', file), join('/work/shared/reference/triton', file)]) {
    if (existsSync(p)) return readFileSync(p, 'utf8');
  }
  throw new Error(`reference file ${file} not found`);
}

const snap = (atMs: number, text: string): MetricsSnapshot => ({ atMs, text: parsePrometheusText(text) });

describe('parsePrometheusText', () => {
  it("reads Triton's GPU fixture: gauges, counters, HELP/TYPE without samples, the license comment", () => {
    const t = parsePrometheusText(reference('metrics-sample-gpu-fixture.txt'));
    assert.deepEqual(t.errors, []);
    assert.equal(t.families.get('nv_gpu_utilization')?.type, 'gauge');
    assert.equal(t.families.get('nv_energy_consumption')?.type, 'counter');
    assert.equal(t.families.get('nv_gpu_utilization')?.help, 'GPU utilization rate [0.0 - 1.0)');
    const [gpu] = gpuGauges(t);
    assert.deepEqual(gpu, { uuid: 'GPU-e35ba3d2-6eef-2bb9-e35c-6ef6eada4f11', utilization: 0.5, memoryUsedBytes: 400000000, memoryTotalBytes: 1000000000, powerW: 20 });
    assert.equal(t.families.get('nv_inference_exec_count')?.type, 'counter', 'HELP/TYPE with no sample after them');
    assert.equal(t.families.get('nv_inference_exec_count')?.help, 'Number of modelexecutions performed');
    assert.equal(t.samples.filter((s) => s.name === 'nv_inference_exec_count').length, 0);
    const power = t.samples.find((s) => s.name === 'nv_gpu_power_limit')!;
    assert.equal(power.value, 280, "'280.000000' is a float");
  });

  it('reads the docs fragments: histogram and summary lines, labels with a space after the comma', () => {
    const t = parsePrometheusText(reference('metrics-sample-docs-fragments.txt'));
    assert.deepEqual(t.errors, []);
    const buckets = t.samples.filter((s) => s.name === 'nv_inference_first_response_histogram_ms' && s.labels['le'] !== undefined);
    assert.deepEqual(buckets.map((b) => [b.labels['le'], b.value]), [['100', 8], ['500', 30], ['2000', 36], ['5000', 37], ['+Inf', 37]]);
    assert.deepEqual(buckets[0]!.labels, { model: 'my_model', version: '1', le: '100' });
    const q = t.samples.find((s) => s.name === 'nv_inference_queue_summary_us' && s.labels['quantile'] === '0.99')!;
    assert.equal(q.value, 101);
    assert.equal(familyOf(t, 'nv_inference_queue_summary_us_count')?.type, 'summary');
    assert.deepEqual(modelCounters(t, 'my_model'), {
      requestSuccess: 161, requestFailure: 0, inferenceCount: 0, execCount: 0, requestDurationUs: 0,
      queueDurationUs: 11110, computeInputUs: 0, computeInferUs: 0, computeOutputUs: 0,
    });
  });

  it('reads the TensorRT-LLM sample: backend families with extra labels', () => {
    const t = parsePrometheusText(reference('metrics-sample.txt'));
    assert.deepEqual(t.errors, []);
    const kv = t.samples.find((s) => s.name === 'nv_trt_llm_kv_cache_block_metrics' && s.labels['kv_cache_block_type'] === 'fraction')!;
    assert.equal(kv.value, 0.4875);
    assert.equal(modelCounters(t, 'tensorrt_llm')?.requestSuccess, 0);
    assert.equal(modelCounters(t, 'absent'), null);
  });

  it('escapes, special values, timestamps, and bad lines reported without failing', () => {
    const t = parsePrometheusText(
      [
        'a{path="C:\\\\dir",msg="say \\"hi\\"\\n"} 1.5e3 1700000000000',
        'b +Inf',
        'c{x="1",} -Inf',
        'd NaN',
        'e{x="1" 2',
        'f{x="1"} twelve',
        '  g   7  ',
      ].join('\n'),
    );
    assert.deepEqual(t.samples[0], { name: 'a', labels: { path: 'C:\\dir', msg: 'say "hi"\n' }, value: 1500, timestampMs: 1700000000000 });
    assert.equal(t.samples[1]!.value, Infinity);
    assert.deepEqual(t.samples[2]!.labels, { x: '1' }, 'a trailing comma is accepted');
    assert.ok(Number.isNaN(t.samples[3]!.value));
    assert.equal(t.samples[4]!.value, 7);
    assert.equal(t.errors.length, 2);
    assert.match(t.errors[0]!, /^line 5: /);
    assert.match(t.errors[1]!, /^line 6: bad value 'twelve'/);
  });
});

describe('scrapeDelta', () => {
  const triton = (o: { success: number; count: number; exec: number; queue: number; infer: number; used: number; util: number; version?: string; gpuLabel?: boolean }) =>
    [
      `nv_inference_request_success{model="resnet",version="${o.version ?? '1'}"${o.gpuLabel ? ',gpu_uuid="GPU-a"' : ''}} ${o.success}`,
      `nv_inference_request_failure{model="resnet",version="1",reason="REJECTED"} 1`,
      `nv_inference_request_failure{model="resnet",version="1",reason="BACKEND"} 2`,
      `nv_inference_count{model="resnet",version="1"} ${o.count}`,
      `nv_inference_exec_count{model="resnet",version="1"} ${o.exec}`,
      `nv_inference_request_duration_us{model="resnet",version="1"} ${o.queue + o.infer}`,
      `nv_inference_queue_duration_us{model="resnet",version="1"} ${o.queue}`,
      `nv_inference_compute_infer_duration_us{model="resnet",version="1"} ${o.infer}`,
      `nv_inference_count{model="other",version="1"} 999`,
      `nv_gpu_utilization{gpu_uuid="GPU-a"} ${o.util}`,
      `nv_gpu_memory_used_bytes{gpu_uuid="GPU-a"} ${o.used}`,
      `nv_gpu_memory_total_bytes{gpu_uuid="GPU-a"} ${80 * 1024 ** 3}`,
      `nv_gpu_utilization{gpu_uuid="GPU-b"} 0.000000`,
      `nv_gpu_memory_used_bytes{gpu_uuid="GPU-b"} ${512 * 1024 ** 2}`,
      `nv_gpu_memory_total_bytes{gpu_uuid="GPU-b"} ${80 * 1024 ** 3}`,
    ].join('\n');

  it('differences the model counters and derives per-request times and batch size', () => {
    const before = snap(1000, triton({ success: 100, count: 400, exec: 50, queue: 1000, infer: 20000, used: 2 * 1024 ** 3, util: 0.1 }));
    const mid = snap(2000, triton({ success: 150, count: 600, exec: 70, queue: 2000, infer: 30000, used: 6 * 1024 ** 3, util: 0.9 }));
    const after = snap(3000, triton({ success: 200, count: 800, exec: 100, queue: 3000, infer: 40000, used: 4 * 1024 ** 3, util: 0.8 }));
    const d = scrapeDelta(before, after, 'resnet', [mid]);
    assert.equal(d.durationS, 2);
    assert.deepEqual(d.model, { requestSuccess: 100, requestFailure: 0, inferenceCount: 400, execCount: 50, requestDurationUs: 22000, queueDurationUs: 2000, computeInputUs: 0, computeInferUs: 20000, computeOutputUs: 0 });
    assert.deepEqual(d.perRequestUs, { request: 220, queue: 20, computeInput: 0, computeInfer: 200, computeOutput: 0 });
    assert.equal(d.avgBatchSize, 8);
    assert.equal(d.gpus.length, 2);
    assert.equal(d.gpus[0]!.uuid, 'GPU-a');
    assert.ok(Math.abs(d.gpus[0]!.utilizationMean! - 0.6) < 1e-9);
    assert.equal(d.gpus[0]!.utilizationMax, 0.9);
    assert.equal(d.gpus[0]!.memoryUsedBytesMax, 6 * 1024 ** 3, 'the peak, seen only in the middle scrape');
    assert.equal(d.gpuMemoryUsedMb, 6 * 1024 + 512, 'summed over GPUs, in MiB');
    assert.equal(d.gpuMemoryTotalMb, 160 * 1024);
    assert.ok(Math.abs(d.gpuUtilization! - 0.3) < 1e-9);
  });

  it('sums series with extra labels, and a counter that went down (a reload) counts from zero', () => {
    const before = snap(0, triton({ success: 500, count: 500, exec: 500, queue: 0, infer: 0, used: 0, util: 0, gpuLabel: true }));
    const after = snap(1000, triton({ success: 30, count: 60, exec: 10, queue: 0, infer: 0, used: 0, util: 0, gpuLabel: true }));
    const d = scrapeDelta(before, after, 'resnet');
    assert.equal(d.model!.requestSuccess, 30);
    assert.equal(d.model!.inferenceCount, 60);
  });

  it('no model series and no GPU: nulls, not zeros', () => {
    const d = scrapeDelta(snap(0, ''), snap(500, ''), 'resnet');
    assert.equal(d.model, null);
    assert.equal(d.perRequestUs, null);
    assert.equal(d.gpuMemoryUsedMb, null);
    assert.equal(d.gpuUtilization, null);
  });
});

describe('MetricsScraper', () => {
  it('fetches /metrics over HTTP and gives the delta of a window', async () => {
    let n = 0;
    const server = http.createServer((req, res) => {
      assert.equal(req.url, '/metrics');
      n++;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`nv_inference_request_success{model="m",version="1"} ${n * 10}\nnv_gpu_memory_used_bytes{gpu_uuid="GPU-x"} ${n * 1024 * 1024}\n`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/metrics`;
      const scraper = new MetricsScraper(url);
      const w = scraper.startWindow('m', 40);
      await new Promise((r) => setTimeout(r, 150));
      const d = await w.stop();
      assert.ok(n >= 3);
      assert.equal(d!.model!.requestSuccess, (n - 1) * 10);
      assert.equal(d!.gpuMemoryUsedMb, n, 'the peak is the last scrape here');
    } finally {
      server.close();
    }
  });

  it('a hanging endpoint times out with a clear error; a refused one says so', async () => {
    const sockets = new Set<net.Socket>();
    const server = http.createServer(() => undefined); // never answers
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const scraper = new MetricsScraper(`http://127.0.0.1:${port}/metrics`, { timeoutMs: 200 });
      await assert.rejects(scraper.scrape(), (e: unknown) => e instanceof MetricsScrapeError && /no answer within 200 ms/.test(e.message));
      assert.equal(await scraper.tryScrape(), null);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
    const [closed] = await freePorts(1);
    await assert.rejects(new MetricsScraper(`http://127.0.0.1:${closed}/metrics`).scrape(), /ECONNREFUSED/);
  });

  it("reads the embedded server's metrics text through a function source", async () => {
    const stats = (count: number) => ({
      name: 'tiny',
      version: '1',
      last_inference: 0,
      inference_count: count,
      execution_count: count / 2,
      inference_stats: {
        success: { count, ns: count * 1e6 },
        fail: { count: 0, ns: 0 },
        queue: { count, ns: count * 2e5 },
        compute_input: { count, ns: 0 },
        compute_infer: { count, ns: count * 5e5 },
        compute_output: { count, ns: 0 },
        cache_hit: { count: 0, ns: 0 },
        cache_miss: { count: 0, ns: 0 },
      },
      batch_stats: [],
    });
    let count = 10;
    const scraper = new MetricsScraper(() => metricsText([{ stats: stats(count) }]));
    const before = await scraper.scrape();
    count = 30;
    const after = await scraper.scrape();
    const d = scrapeDelta(before, after, 'tiny');
    assert.equal(d.model!.requestSuccess, 20);
    assert.equal(d.perRequestUs!.queue, 200);
    assert.equal(d.perRequestUs!.computeInfer, 500);
    assert.equal(d.avgBatchSize, 2);
    assert.equal(d.gpuMemoryUsedMb, null, 'the embedded server has no GPU');
  });
});
