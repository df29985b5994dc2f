import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatLandscape, landscapeSpace, parseLandscape } from '../../src/landscape/csv.js';
import { missingConfigs } from '../../src/landscape/replay.js';
import { simLandscape } from '../../src/landscape/sim.js';
import { spaceSize } from '../../src/search/space.js';
import { LANDSCAPES } from '../../scripts/make-landscapes.js';

// Compiled tests live two folders below the output root, which mirrors the repository.
const dir = fileURLToPath(new URL('../../../bench/landscapes/', import.meta.url));

describe('bench/landscapes', () => {
  it('every landscape parses, is a full grid of its space, of 100 to 800 configurations', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.csv'));
    assert.ok(files.length >= 3);
    for (const f of files) {
      const l = parseLandscape(readFileSync(dir + f, 'utf8'), f);
      const space = landscapeSpace(l);
      assert.deepEqual(missingConfigs(l, space), [], f);
      if (f.startsWith('sim-')) {
        const n = spaceSize(space);
        assert.ok(n >= 100 && n <= 800, `${f}: ${n} configurations`);
      }
    }
  });

  it('the simulated ones are what scripts/make-landscapes writes', () => {
    for (const spec of LANDSCAPES) {
      const text = readFileSync(dir + spec.file, 'utf8');
      assert.ok(text === formatLandscape(simLandscape(spec.params, spec.space, spec.concurrencies)), `${spec.file} is stale: run scripts/make-landscapes`);
    }
  });
});
