/**
 * Fuzzing the config.pbtxt parser with generated and mutated inputs: only the project's
 * own typed errors may come out, each with a location; no crash, no hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { ConfigParseError, ConfigValueError, parseModelConfig, printModelConfig } from '../../src/config/pbtxt.js';
import { packageRoot } from '../../src/util/package-root.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);

function seeds(): string[] {
  const shared = process.env.TANALYZE_SHARED ?? resolve(packageRoot(), '..', 'shared');
  const dir = join(shared, 'reference', 'triton', 'configs');
  const out = [readFileSync(join(packageRoot(), 'examples', 'model_repository', 'tiny_resnet', 'config.pbtxt'), 'utf8')];
  if (existsSync(dir)) for (const f of readdirSync(dir).filter((f) => f.endsWith('.pbtxt')).sort()) out.push(readFileSync(join(dir, f), 'utf8'));
  return out;
}

/** Parses, and checks the only outcomes allowed: a config that prints and re-parses, or a located typed error. */
function check(text: string): void {
  let cfg;
  try {
    cfg = parseModelConfig(text, 'fuzz.pbtxt');
  } catch (e) {
    if (e instanceof ConfigParseError) {
      assert.equal(e.file, 'fuzz.pbtxt');
      assert.ok(Number.isInteger(e.line) && e.line >= 1, `line ${e.line}`);
      assert.ok(Number.isInteger(e.column) && e.column >= 1, `column ${e.column}`);
      assert.ok(e.expected.length > 0);
      assert.match(e.message, /^fuzz\.pbtxt:\d+:\d+: /);
      return;
    }
    if (e instanceof ConfigValueError) return;
    throw new Error(`untyped error for input ${JSON.stringify(text.slice(0, 200))}: ${(e as Error).stack}`);
  }
  assert.deepEqual(parseModelConfig(printModelConfig(cfg), 'reprinted.pbtxt'), cfg);
}

const TOKENS = ['{', '}', '[', ']', '<', '>', ':', ',', ';', '"', "'", '#', '\n', ' ', '-', '0', '1e9', 'nan', 'inf', 'true', 'TYPE_FP32',
  'name', 'max_batch_size', 'input', 'dims', 'dynamic_batching', 'instance_group', 'parameters', 'key', 'value', '\\', '\u0000', 'é'];

test(`fuzz: ${RUNS} mutated real configs give a config or a located ConfigParseError`, { timeout: 120_000 }, () => {
  const base = seeds();
  const mutation = fc.record({
    seed: fc.nat({ max: base.length - 1 }),
    edits: fc.array(fc.record({ at: fc.nat(), del: fc.nat({ max: 8 }), insert: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 6 })) }), { minLength: 1, maxLength: 6 }),
  });
  fc.assert(
    fc.property(mutation, ({ seed, edits }) => {
      let text = base[seed]!;
      for (const e of edits) {
        const at = text.length ? e.at % text.length : 0;
        text = text.slice(0, at) + e.insert + text.slice(at + e.del);
      }
      check(text);
    }),
    { numRuns: RUNS, seed: 20261124 },
  );
});

test(`fuzz: ${RUNS} token soups give a config or a located ConfigParseError`, { timeout: 120_000 }, () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }), (parts) => check(parts.join(''))),
    { numRuns: RUNS, seed: 7 },
  );
});

test('deep nesting and huge inputs end quickly with an error, not a stack overflow', { timeout: 30_000 }, () => {
  check('dynamic_batching {'.repeat(20000));
  check('dims: ' + '['.repeat(50000));
  check('name: "' + 'x'.repeat(1_000_000));
});
