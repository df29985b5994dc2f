import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LANDSCAPE_HEADER, LandscapeError, formatLandscape, landscapeSpace, parseLandscape, type LandscapeRow } from '../../src/landscape/csv.js';
import type { ServingConfig } from '../../src/domain/serving.js';

const cfg = (mbs: number, delay: number | null, inst: number, precision: ServingConfig['precision']): ServingConfig => ({
  maxBatchSize: mbs, maxQueueDelayUs: delay, instanceCount: inst, precision, preferredBatchSizes: [],
});

const rows: LandscapeRow[] = [
  { config: cfg(8, 0, 1, 'FP32'), concurrency: 1, throughputIps: 123.4, p50Ms: 1.5, p90Ms: 2.25, p99Ms: 3.125, gpuMemoryMb: 1024 },
  { config: cfg(8, 0, 1, 'FP32'), concurrency: 4, throughputIps: 456.789, p50Ms: 4, p90Ms: 5, p99Ms: 9.5, gpuMemoryMb: 1024 },
  { config: cfg(16, null, 2, 'FP16'), concurrency: 2, throughputIps: 0.1 + 0.2, p50Ms: 1 / 3, p90Ms: 0.5, p99Ms: 0.75, gpuMemoryMb: null },
  { config: cfg(16, 500, 2, 'INT8'), concurrency: 1, throughputIps: 1e6, p50Ms: 0, p90Ms: 0, p99Ms: 1e-3, gpuMemoryMb: 0 },
];

const line = (...f: (string | number)[]) => f.join(',');

describe('landscape CSV', () => {
  it('round-trips rows exactly (numbers, no dynamic batching, unknown memory)', () => {
    const text = formatLandscape(rows);
    assert.equal(text.split('\n')[0], LANDSCAPE_HEADER);
    assert.ok(text.endsWith('\n'));
    const back = parseLandscape(text, 'x.csv');
    assert.deepEqual(back.rows, rows);
    assert.equal(back.source, 'x.csv');
    assert.equal(formatLandscape(back.rows), text);
  });

  it('writes no dynamic batching as an empty delay and reads empty or -1 as it', () => {
    assert.match(formatLandscape([rows[2]!]), /\n16,,2,FP16,2,/);
    const dup = [LANDSCAPE_HEADER, line(4, '', 1, 'FP32', 1, 10, 1, 2, 3, ''), line(4, -1, 1, 'FP32', 1, 10, 1, 2, 3, '')].join('\n');
    assert.throws(() => parseLandscape(dup, 'dup.csv'), /^LandscapeError: dup\.csv:3: max_batch_size=4, max_queue_delay_us=off, instance_count=1, precision=FP32 at concurrency 1 was already given on line 2; expected one row per configuration and concurrency$/);
    const distinct = [LANDSCAPE_HEADER, line(4, '', 1, 'FP32', 1, 10, 1, 2, 3, ''), line(8, -1, 1, 'fp16', 2, 10, 1, 2, 3, '')].join('\r\n');
    const parsed = parseLandscape(distinct);
    assert.equal(parsed.rows[0]!.config.maxQueueDelayUs, null);
    assert.equal(parsed.rows[1]!.config.maxQueueDelayUs, null);
    assert.equal(parsed.rows[1]!.config.precision, 'FP16');
  });

  it('requires exactly the header, naming what was expected', () => {
    const bad = LANDSCAPE_HEADER.replace('throughput_ips', 'throughput') + '\n' + line(4, 0, 1, 'FP32', 1, 10, 1, 2, 3, 5);
    assert.throws(() => parseLandscape(bad, 'h.csv'), (e: unknown) => {
      assert.ok(e instanceof LandscapeError);
      assert.equal(e.file, 'h.csv');
      assert.equal(e.line, 1);
      assert.match(e.message, /^h\.csv:1: the header is '.*throughput,.*'; expected exactly 'max_batch_size,max_queue_delay_us,/);
      return true;
    });
    assert.throws(() => parseLandscape('', 'e.csv'), /e\.csv:1: the header is ''/);
  });

  it('reports bad rows with the file, the line number and what was expected', () => {
    const cases: [string, RegExp][] = [
      [line(4, 0, 1, 'FP32', 1, 10, 1, 2, 3), /b\.csv:3: 9 fields; expected 10/],
      [line('four', 0, 1, 'FP32', 1, 10, 1, 2, 3, 5), /b\.csv:3: max_batch_size 'four' is not an integer; expected an integer >= 1/],
      [line(0, 0, 1, 'FP32', 1, 10, 1, 2, 3, 5), /b\.csv:3: max_batch_size '0' is out of range; expected an integer >= 1/],
      [line(4, -5, 1, 'FP32', 1, 10, 1, 2, 3, 5), /b\.csv:3: max_queue_delay_us '-5' is out of range/],
      [line(4, 0, 1, 'FP8', 1, 10, 1, 2, 3, 5), /b\.csv:3: precision 'FP8' is not one of FP32, FP16, BF16, INT8/],
      [line(4, 0, 1, 'FP32', 1.5, 10, 1, 2, 3, 5), /b\.csv:3: concurrency '1\.5' is not an integer/],
      [line(4, 0, 1, 'FP32', 1, 'fast', 1, 2, 3, 5), /b\.csv:3: throughput_ips 'fast' is not a number >= 0/],
      [line(4, 0, 1, 'FP32', 1, 10, 1, 2, '', 5), /b\.csv:3: p99_ms '' is not a number >= 0/],
      [line(4, 0, 1, 'FP32', 1, 10, 3, 2, 1, 5), /b\.csv:3: percentiles .* are not in order; expected p50 <= p90 <= p99/],
      [line(4, 0, 1, 'FP32', 1, 10, 1, 2, 3, -1), /b\.csv:3: gpu_memory_mb '-1' is not a number >= 0/],
    ];
    for (const [row, re] of cases) {
      const text = [LANDSCAPE_HEADER, line(4, 0, 1, 'FP32', 2, 10, 1, 2, 3, 5), row].join('\n');
      assert.throws(() => parseLandscape(text, 'b.csv'), re, row);
    }
    // Blank lines count for the numbering but are skipped.
    const text = [LANDSCAPE_HEADER, '', line(4, 0, 1, 'XX', 1, 10, 1, 2, 3, 5)].join('\n');
    assert.throws(() => parseLandscape(text, 'b.csv'), /b\.csv:3: precision 'XX'/);
    assert.throws(() => parseLandscape(LANDSCAPE_HEADER + '\n\n', 'n.csv'), /n\.csv:\d+: no rows/);
  });

  it('landscapeSpace is the set of values in the file, sorted; no-batching rows add no delay', () => {
    const space = landscapeSpace({ source: 's', rows });
    assert.deepEqual(space, { maxBatchSizes: [8, 16], maxQueueDelaysUs: [0, 500], instanceCounts: [1, 2], precisions: ['FP32', 'FP16', 'INT8'] });
  });
});
