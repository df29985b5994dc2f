/**
 * Fuzzing the landscape CSV reader with mutated real landscapes and generated rows: only
 * LandscapeError comes out, with the file and a line number; no crash, no hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { LandscapeError, LANDSCAPE_HEADER, parseLandscape } from '../../src/landscape/csv.js';
import { fromPackageRoot } from '../../src/util/package-root.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

function check(text: string): void {
  try {
    parseLandscape(text, 'fuzz.csv');
  } catch (e) {
    if (!(e instanceof LandscapeError)) throw new Error(`untyped error for ${JSON.stringify(text.slice(0, 200))}: ${(e as Error).stack}`);
    assert.match(e.message, /^fuzz\.csv(:\d+)?: /);
  }
}

test(`fuzz: ${RUNS} mutated landscapes give rows or a located LandscapeError`, { timeout: 120_000 }, () => {
  const base = readFileSync(fromPackageRoot('bench', 'landscapes', 'sim-gpu-small.csv'), 'utf8').split('\n').slice(0, 40).join('\n');
  const edit = fc.record({ at: fc.nat(), del: fc.nat({ max: 10 }), insert: fc.oneof(fc.constantFrom(',', '\n', '-', '.', 'e', 'NaN', 'FP8', '""', '\r', '1e999'), fc.string({ maxLength: 6 })) });
  fc.assert(
    fc.property(fc.array(edit, { minLength: 1, maxLength: 6 }), (edits) => {
      let text = base;
      for (const e of edits) {
        const at = e.at % text.length;
        text = text.slice(0, at) + e.insert + text.slice(at + e.del);
      }
      check(text);
    }),
    { numRuns: RUNS, seed: 21 },
  );
});

test(`fuzz: ${RUNS} generated rows under the real header`, { timeout: 120_000 }, () => {
  const cell = fc.oneof(fc.constantFrom('', '0', '-1', '8', '1.5', 'FP32', 'FP16', 'INT8', 'x', 'Infinity', '1e9'), fc.string({ maxLength: 4 }));
  const row = fc.array(cell, { minLength: 0, maxLength: 12 }).map((cells) => cells.join(','));
  fc.assert(fc.property(fc.array(row, { maxLength: 8 }), (rows) => check([LANDSCAPE_HEADER, ...rows].join('\n'))), { numRuns: RUNS, seed: 22 });
});
