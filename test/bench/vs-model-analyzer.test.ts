import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../../src/config/pbtxt.js';
import {
  bestWithinTarget,
  describeModelConfig,
  modelAnalyzerFigures,
  parseModelAnalyzerCsv,
  renderTable,
  summarizeRepeats,
} from '../../bench/vs-model-analyzer/compare.js';

test("Model Analyzer's log: each variant profiled is a configuration, each perf_analyzer run a load point", () => {
  const log = [
    '[Model Analyzer] Creating model config: tiny_resnet_config_default',
    '[Model Analyzer] Profiling tiny_resnet_config_default: concurrency=1',
    '[Model Analyzer] Profiling tiny_resnet_config_default: concurrency=2',
    '[Model Analyzer] Creating model config: tiny_resnet_config_0',
    '[Model Analyzer] Creating model config: tiny_resnet_config_1',
    '[Model Analyzer] Profiling tiny_resnet_config_1: client batch size=1, concurrency=4',
  ].join('\n');
  // config_0 was created but never profiled: not counted.
  assert.deepEqual(modelAnalyzerFigures(log), { configurations: 2, loadPoints: 3 });
});

test("metrics-model-inference.csv is read by its header's names, the quoted instance group included", () => {
  const csv = [
    'Model,Batch,Concurrency,Model Config Path,Instance Group,Max Batch Size,Satisfies Constraints,Throughput (infer/sec),p99 Latency (ms)',
    'tiny_resnet,1,8,tiny_resnet_config_4,"2:CPU",8,Yes,310.5,80.2',
    'tiny_resnet,1,16,tiny_resnet_config_4,"2:CPU",8,No,350.0,140.9',
    'tiny_resnet,1,4,tiny_resnet_config_1,1:CPU,8,Yes,200.0,40.0',
  ].join('\n');
  const rows = parseModelAnalyzerCsv(csv);
  assert.deepEqual(rows[0], { variant: 'tiny_resnet_config_4', concurrency: 8, throughputIps: 310.5, p99Ms: 80.2 });
  // The faster row breaks the target: the pick is the fastest one within it.
  assert.deepEqual(bestWithinTarget(rows, 100), rows[0]);
  assert.equal(bestWithinTarget(rows, 30), null);
  assert.throws(() => parseModelAnalyzerCsv('Model,Batch\nx,1', 'm.csv'), /m\.csv: no 'Model Config Path' column/);
});

test('a variant config.pbtxt as Model Analyzer writes it is described by the three dimensions', () => {
  const text = 'name: "tiny_resnet_config_1"\nmax_batch_size: 8\ninstance_group {\n  count: 2\n  kind: KIND_CPU\n}\ndynamic_batching {\n}\nbackend: "python"\n';
  assert.equal(describeModelConfig(parseModelConfig(text)), 'max batch 8, delay 0 us, 2 instances');
  assert.equal(describeModelConfig(parseModelConfig('max_batch_size: 4\nbackend: "python"\n')), 'max batch 4, no batcher, 1 instance');
});

test('repeats: mean and range over those that met the target; the table says how many did', () => {
  const y = summarizeRepeats([100, null, 120], [50, null, 70]);
  assert.deepEqual(y, { repeats: 3, feasible: 2, meanIps: 110, minIps: 100, maxIps: 120, meanP99Ms: 60 });
  const table = renderTable(
    [
      { strategy: 'a', figures: { configurations: 19, loadPoints: 80 }, wallS: 900, exitCode: 0, pick: 'x', ownIps: 1, ownP99Ms: 2, yardstick: y },
      { strategy: 'b', figures: null, wallS: 10, exitCode: 1, pick: null, ownIps: null, ownP99Ms: null, yardstick: summarizeRepeats([null], [null]) },
    ],
    100,
  );
  assert.match(table, /\| a \| 19 \| 80 \| 900 \| x: 1\.0 inf\/s at p99 2\.0 ms \| 110\.0 \[100\.0\.\.120\.0\] \(2\/3 met it\) \| 60\.0 \|/);
  assert.match(table, /\| b \| - \| - \| 10 \(exit 1\) \| none \| none met the target \(0\/1\) \| - \|/);
});
