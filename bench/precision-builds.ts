// The trtexec commands tanalyze issues per precision on TensorRT 10 and 11, and what becomes
// of each build, shown with FAKE trtexec executables (test/fakes/trtexec-fake.mjs: no
// TensorRT runs; they only play each generation's command line and layer information).
//
//   npx tsc -p tsconfig.json && node dist/bench/precision-builds.js [--max-batch 8]
//
// Model: the shipped examples/model_repository/tiny_resnet. Paths are shortened to $MODEL
// (its version folder) and $CACHE (a temporary engine cache).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseModelConfig } from '../src/config/pbtxt.js';
import { applyServingConfig } from '../src/config/variant.js';
import { TrtexecPlanBuilder, type BuildRequest } from '../src/runner/engines/builder.js';
import { EngineCache } from '../src/runner/engines/cache.js';
import { PrecisionUnavailableError } from '../src/runner/engines/onnxruntime.js';
import { LocalToolRunner } from '../src/runner/engines/tools.js';
import type { Precision, ServingConfig } from '../src/domain/serving.js';
import { fromPackageRoot } from '../src/util/package-root.js';
import { installFakes, readRecords } from '../test/fakes/fake-bin.js';

const maxBatchArg = process.argv.indexOf('--max-batch');
const maxBatch = maxBatchArg > 0 ? Number(process.argv[maxBatchArg + 1]) : 8;
if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`--max-batch must be a positive integer, got ${process.argv[maxBatchArg + 1]}`);

const modelDir = fromPackageRoot('examples', 'model_repository', 'tiny_resnet');
const config = parseModelConfig(readFileSync(join(modelDir, 'config.pbtxt'), 'utf8'));
const model: BuildRequest['model'] = { name: 'tiny_resnet', dir: modelDir, config, versions: ['1'] };
const serving = (precision: Precision): ServingConfig => ({ maxBatchSize: maxBatch, maxQueueDelayUs: 100, instanceCount: 1, precision, preferredBatchSizes: [] });

async function main(): Promise<void> {
  const bin = installFakes({ trtexec: 'trtexec-fake.mjs', 'nvidia-smi': 'nvidia-smi-fake.mjs' });
  const work = mkdtempSync(join(tmpdir(), 'tanalyze-precision-builds-'));
  try {
    for (const [label, version, mode] of [
      ['FAKE trtexec 10.3.0', '100300', 'ok'],
      ['FAKE trtexec 11.4.0', '110400', 'ok'],
      ['FAKE trtexec 10.3.0 that silently builds FP32', '100300', 'silent-fp32'],
      ['FAKE trtexec 11.4.0 that silently builds FP32', '110400', 'silent-fp32'],
    ] as const) {
      const cacheDir = join(work, `${version}-${mode}`);
      const argvFile = join(work, `${version}-${mode}.jsonl`);
      const env = { ...process.env, PATH: bin.pathEnv, FAKE_TRTEXEC_VERSION: version, FAKE_TRTEXEC_MODE: mode, FAKE_TRTEXEC_ARGV_FILE: argvFile };
      const builder = new TrtexecPlanBuilder({ cache: new EngineCache(cacheDir), runner: new LocalToolRunner({ env }) });
      const short = (s: string) => s.split(cacheDir).join('$CACHE').split(join(modelDir, '1')).join('$MODEL');
      console.log(`\n## ${label}\n`);
      console.log('| precision | trtexec command | outcome |');
      console.log('| --- | --- | --- |');
      for (const p of ['FP32', 'FP16', 'BF16', 'INT8'] as const) {
        const before = readRecords(argvFile).length;
        let outcome: string;
        try {
          const r = (await builder.prepare({ model, serving: serving(p), variantConfig: applyServingConfig(config, serving(p), { name: `tiny_resnet_config_${p}` }) }))!;
          outcome = `built: ${r.summary}`;
        } catch (e) {
          outcome = `${e instanceof PrecisionUnavailableError ? 'SKIPPED' : 'FAILED'}: ${(e as Error).message.split('\n')[0]}`;
        }
        const builds = readRecords(argvFile).slice(before).filter((r) => r.argv[0] !== '--help');
        const command = builds.length ? builds.map((b) => `\`trtexec ${b.argv.join(' ')}\``).join('<br>') : '(none)';
        console.log(`| ${p} | ${short(command)} | ${short(outcome).replace(/\|/g, '\\|')} |`);
      }
    }
  } finally {
    bin.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
