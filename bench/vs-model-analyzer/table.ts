// The file side of bench/vs-model-analyzer (run.sh calls it; the logic is in compare.ts):
//
//   node dist/bench/vs-model-analyzer/table.js picks <out-dir> <p99-ms>   each search's pick: label TAB config.pbtxt
//   node dist/bench/vs-model-analyzer/table.js table <out-dir> <p99-ms>   the one table (Markdown)

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelConfig } from '../../src/config/pbtxt.js';
import type { RunSummary } from '../../src/report/summary.js';
import {
  bestWithinTarget,
  describeModelConfig,
  modelAnalyzerFigures,
  parseModelAnalyzerCsv,
  renderTable,
  summarizeRepeats,
  type ComparisonRow,
} from './compare.js';

/** The searches in table order: label, folder under out-dir, which tool. */
const SEARCHES = [
  { label: 'model-analyzer brute', dir: 'ma-brute', tool: 'model-analyzer' },
  { label: 'model-analyzer quick', dir: 'ma-quick', tool: 'model-analyzer' },
  { label: 'tanalyze bayesian (default)', dir: 'tanalyze', tool: 'tanalyze' },
] as const;

interface Pick {
  label: string;
  dir: string;
  configPath: string | null;
  ownIps: number | null;
  ownP99Ms: number | null;
  row: ComparisonRow;
}

/** null when the file is missing, empty or cut short (a run that failed or is still going). */
function readJson<T>(path: string): T | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

function countCsvRows(path: string | undefined): number | null {
  if (!path || !existsSync(path)) return null;
  return readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '').length - 1;
}

function describeFile(path: string | null): string | null {
  if (!path || !existsSync(path)) return null;
  return describeModelConfig(parseModelConfig(readFileSync(path, 'utf8'), path));
}

function collect(out: string, p99Ms: number): Pick[] {
  return SEARCHES.map((s) => {
    const dir = join(out, s.dir);
    const wall = readJson<{ wall_s: number; exit_code: number }>(join(dir, 'wall.json'));
    const row: ComparisonRow = { strategy: s.label, figures: null, wallS: wall?.wall_s ?? null, exitCode: wall?.exit_code ?? null, pick: null, ownIps: null, ownP99Ms: null, yardstick: null };
    let configPath: string | null = null;
    if (s.tool === 'model-analyzer') {
      const log = join(dir, 'model-analyzer.log');
      if (existsSync(log)) row.figures = modelAnalyzerFigures(readFileSync(log, 'utf8'));
      const csv = join(dir, 'export', 'results', 'metrics-model-inference.csv');
      if (existsSync(csv)) {
        const best = bestWithinTarget(parseModelAnalyzerCsv(readFileSync(csv, 'utf8'), csv), p99Ms);
        if (best) {
          configPath = join(dir, 'output_model_repository', best.variant, 'config.pbtxt');
          row.ownIps = best.throughputIps;
          row.ownP99Ms = best.p99Ms;
          row.pick = `${best.variant} (${describeFile(configPath) ?? 'config.pbtxt missing'}), concurrency ${best.concurrency}`;
        }
      }
    } else {
      const summary = readJson<RunSummary>(join(dir, 'summary.json'));
      if (summary) {
        row.figures = { configurations: summary.trials, loadPoints: countCsvRows(summary.csv?.measurements) ?? 0 };
        if (summary.recommended && summary.config_pbtxt) {
          configPath = summary.config_pbtxt;
          row.ownIps = summary.recommended.throughput_ips;
          row.ownP99Ms = summary.recommended.p99_ms;
          row.pick = `${summary.recommended.variant_name} (${describeFile(configPath)})`;
        }
      }
    }
    return { label: s.label, dir: s.dir, configPath, ownIps: row.ownIps, ownP99Ms: row.ownP99Ms, row };
  });
}

function addYardstick(out: string, picks: Pick[]): void {
  for (const p of picks) {
    const ips: (number | null)[] = [];
    const p99: (number | null)[] = [];
    for (let r = 1; ; r++) {
      const file = join(out, 'yardstick', `${p.dir}.${r}.json`);
      const logFile = join(out, 'yardstick', `${p.dir}.${r}.log`);
      if (!existsSync(file) && !existsSync(logFile)) break;
      // A failed run leaves an empty or partial file: counted as not meeting the target.
      const s = readJson<RunSummary>(file);
      ips.push(s?.recommended?.throughput_ips ?? null);
      p99.push(s?.recommended?.p99_ms ?? null);
    }
    if (ips.length) p.row.yardstick = summarizeRepeats(ips, p99);
  }
}

function main(argv: string[]): void {
  const [command, out, p99Arg] = argv;
  const p99Ms = Number(p99Arg);
  if ((command !== 'picks' && command !== 'table') || !out || !(p99Ms > 0)) {
    console.error('usage: table.js picks|table <out-dir> <p99-ms>');
    process.exit(2);
  }
  const picks = collect(out, p99Ms);
  if (command === 'picks') {
    for (const p of picks) if (p.configPath && existsSync(p.configPath)) console.log(`${p.dir}\t${p.configPath}`);
    return;
  }
  addYardstick(out, picks);
  console.log(renderTable(picks.map((p) => p.row), p99Ms));
}

main(process.argv.slice(2));
