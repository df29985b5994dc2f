/**
 * Fuzzing the profile loader: generated and mutated YAML may only give a plan or a
 * UsageError whose every problem names the file or the key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadProfile, resolvePlan } from '../../src/cli/plan.js';
import { UsageError } from '../../src/domain/errors.js';
import { fromPackageRoot } from '../../src/util/package-root.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);
const dir = mkdtempSync(join(tmpdir(), 'tanalyze-fuzz-profile-'));
const file = join(dir, 'fuzz.yaml');

function check(text: string): void {
  writeFileSync(file, text);
  try {
    resolvePlan({ model: 'm' }, {}, loadProfile(file, dir), dir);
  } catch (e) {
    if (!(e instanceof UsageError)) throw new Error(`untyped error for ${JSON.stringify(text.slice(0, 200))}: ${(e as Error).stack}`);
    for (const p of e.problems) assert.ok(/fuzz\.yaml|^--(p99|model)/.test(p), `problem does not say where: ${p}`);
  }
}

const KEYS = ['target', 'p99', 'search', 'strategy', 'budget', 'seed', 'space', 'max_batch_size', 'max_queue_delay_us', 'instance_count', 'precision', 'load', 'window', 'max_windows', 'stability', 'warmup', 'server', 'port', 'bogus'];
const VALUES = ['50ms', '0', '-1', '1.5', '[1, 2]', '[]', '[a]', 'null', '~', 'true', '"x"', '{}', '0.1', '1e400', 'FP16', '[FP32, fp8]', '30m', "'", '&a', '*a', '!!binary x'];

test(`fuzz: ${RUNS} generated profiles give a plan or a located UsageError`, { timeout: 120_000 }, () => {
  const line = fc.tuple(fc.nat({ max: 3 }), fc.constantFrom(...KEYS), fc.option(fc.constantFrom(...VALUES), { nil: undefined }))
    .map(([indent, k, v]) => `${'  '.repeat(indent)}${k}:${v === undefined ? '' : ` ${v}`}`);
  fc.assert(fc.property(fc.array(line, { maxLength: 12 }), (lines) => check(lines.join('\n'))), { numRuns: RUNS, seed: 11 });
});

test(`fuzz: ${RUNS} mutated shipped profiles give a plan or a located UsageError`, { timeout: 120_000 }, () => {
  const base = readFileSync(fromPackageRoot('profiles', 'default.yaml'), 'utf8');
  fc.assert(
    fc.property(fc.array(fc.record({ at: fc.nat(), del: fc.nat({ max: 6 }), insert: fc.string({ maxLength: 5 }) }), { minLength: 1, maxLength: 5 }), (edits) => {
      let text = base;
      for (const e of edits) {
        const at = e.at % text.length;
        text = text.slice(0, at) + e.insert + text.slice(at + e.del);
      }
      check(text);
    }),
    { numRuns: RUNS, seed: 12 },
  );
});
