/**
 * 48-configuration cuts of a measured landscape, for checking a strategy beyond the files
 * it was tuned on: each cut keeps one part of one dimension (every other max_batch_size, two
 * of the queue delays, one precision) of ../shared/landscapes/vit_b_16_h200.csv (96
 * configurations), which gives landscapes the size of the real GPU ones kept aside for
 * validation (48 configurations at 4 concurrencies), with other optima and other edges.
 *
 *   npm run build && node dist/bench/landscape-cuts.js OUT_DIR [SOURCE.csv]
 *   node dist/bench/search.js --only vit-cut --extra "$(ls OUT_DIR/*.csv | paste -sd,)" --strategies bayesian
 *
 * The cuts are named vit-cut-*.csv (not sim-*: bench/search counts them as measured).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { formatLandscape, landscapeSpace, parseLandscape, type LandscapeRow } from '../src/landscape/csv.js';

const source = process.argv[3] ?? join('..', 'shared', 'landscapes', 'vit_b_16_h200.csv');
const out = process.argv[2];
if (!out) {
  console.error('usage: node dist/bench/landscape-cuts.js OUT_DIR [SOURCE.csv]');
  process.exit(2);
}
const landscape = parseLandscape(readFileSync(source, 'utf8'), basename(source));
const space = landscapeSpace(landscape);
const every = <T>(xs: readonly T[], start: number) => xs.filter((_, i) => i % 2 === start);
const delays = space.maxQueueDelaysUs;
const cuts: Record<string, (r: LandscapeRow) => boolean> = {
  'batch-odd': (r) => every(space.maxBatchSizes, 1).includes(r.config.maxBatchSize),
  'batch-even': (r) => every(space.maxBatchSizes, 0).includes(r.config.maxBatchSize),
  'delay-even': (r) => every(delays, 0).includes(r.config.maxQueueDelayUs ?? -1),
  'delay-odd': (r) => every(delays, 1).includes(r.config.maxQueueDelayUs ?? -1),
  ...Object.fromEntries(space.precisions.map((p) => [p.toLowerCase(), (r: LandscapeRow) => r.config.precision === p])),
};
mkdirSync(out, { recursive: true });
for (const [name, keep] of Object.entries(cuts)) {
  const rows = landscape.rows.filter(keep);
  const file = join(out, `vit-cut-${name}.csv`);
  writeFileSync(file, formatLandscape(rows));
  console.log(`${file}: ${new Set(rows.map((r) => JSON.stringify(r.config))).size} configurations`);
}
