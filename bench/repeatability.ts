/**
 * Repeatability: the same configuration tuned in separate runs on the embedded server, and
 * the spread of the throughput found at the p99 target. Each run is a fresh `tanalyze`
 * process (its own server, its own results database), so nothing carries over between them.
 * Run from the repository root, when the machine is quiet:
 *
 *   npm run build && node dist/bench/repeatability.js [--runs 5] [--model tiny_resnet] [--p99 50ms]
 *     [--config 8,8000,1,FP32] [--max-concurrency 32] [--tanalyze-args "--model-repository DIR ..."]
 *
 * On the GPU machine: `bash bench/gpu/run.sh device setup repeat:15ms:5 finish:TAG` (bench/gpu/README.md).
 *
 * Each run measures the model's default configuration (every embedded run does) and then
 * the one configuration of --config (max_batch_size, queue delay µs, instances, precision);
 * both are reported, each run with its load points in the order measured, the points the
 * knee confirmation cost (points beyond the one-point rule, and the best point's repeat),
 * what the one-point rule would have found from the same points, and the measurement
 * windows (those added while the target lay inside the p99 interval in brackets). Target
 * (issue 15): every run's throughput within 7% of the median.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kneeConfirmationCost, onePointStop } from '../src/measure/load-search.js';
import { Store } from '../src/store/store.js';
import { fromPackageRoot } from '../src/util/package-root.js';
import { median } from '../src/measure/stats.js';
import { bestPoint } from '../src/domain/target.js';

interface Args {
  runs: number;
  model: string;
  p99: string;
  config: [number, number, number, string];
  maxConcurrency: number;
  /** More tanalyze flags for every run (e.g. another model repository, window settings). */
  tanalyzeArgs: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { runs: 5, model: 'tiny_resnet', p99: '50ms', config: [8, 8000, 1, 'FP32'], maxConcurrency: 32, tanalyzeArgs: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!;
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${k}: missing value`);
    if (k === '--runs') a.runs = Number(v);
    else if (k === '--model') a.model = v;
    else if (k === '--p99') a.p99 = v;
    else if (k === '--max-concurrency') a.maxConcurrency = Number(v);
    else if (k === '--tanalyze-args') a.tanalyzeArgs = v.split(/\s+/).filter(Boolean);
    else if (k === '--config') {
      const [mbs, delay, inst, prec] = v.split(',');
      a.config = [Number(mbs), Number(delay), Number(inst), String(prec)];
      if (!(a.config[0] >= 1 && a.config[1] >= 0 && a.config[2] >= 1 && prec)) throw new Error(`--config: '${v}' is not max_batch_size,delay_us,instances,precision (e.g. 8,8000,1,FP32)`);
    } else throw new Error(`unknown option ${k}; accepted: --runs, --model, --p99, --config, --max-concurrency, --tanalyze-args`);
  }
  if (!(Number.isInteger(a.runs) && a.runs >= 2)) throw new Error(`--runs: '${a.runs}' is not an integer >= 2`);
  return a;
}

interface Found {
  ips: number | null;
  p99Ms: number | null;
  points: number;
  kneePoints: number;
  /** What the one-point rule (no knee confirmation) would have found: the best of the points measured before it stopped. */
  onePointIps: number | null;
  concurrency: number | null;
  /** Measurement windows over all its load points (extra windows near the target included). */
  windows: number;
  /** Of those, windows added because the p99 target lay inside the point's p99 interval. */
  extraWindows: number;
  /** The load points in the order measured: concurrency:throughput/p99. */
  ladder: string;
}


function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-repeatability-'));
  const [mbs, delay, inst, prec] = args.config;
  const target = Number.parseFloat(args.p99);
  const rows: { run: number; def: Found; conf: Found; wallS: number }[] = [];
  try {
    for (let run = 1; run <= args.runs; run++) {
      const db = join(dir, `run-${run}.db`);
      const started = performance.now();
      const r = spawnSync(process.execPath, [fromPackageRoot('bin', 'tanalyze.js'),
        '--model', args.model, '--p99', args.p99, '--search', 'grid', '--budget', '2',
        '--max-batch-sizes', String(mbs), '--queue-delays', String(delay), '--instance-counts', String(inst), '--precisions', prec,
        '--max-concurrency', String(args.maxConcurrency), '--db', db, '--out-dir', join(dir, `out-${run}`), '--json', '--quiet', ...args.tanalyzeArgs],
      { encoding: 'utf8', timeout: 10 * 60_000 });
      // Exit 2: the run finished and nothing met the target (a busy machine can do that); the store says how close it came.
      if (r.status !== 0 && r.status !== 2) throw new Error(`run ${run} failed (exit ${r.status}): ${r.stderr.slice(-2000)}`);
      const summary = JSON.parse(r.stdout) as { run_id: string };
      const store = Store.open(db);
      try {
        const found = (isDefault: boolean): Found => {
          const t = store.trials(summary.run_id).find((x) => x.isDefault === isDefault);
          if (!t) return { ips: null, p99Ms: null, points: 0, kneePoints: 0, onePointIps: null, concurrency: null, windows: 0, extraWindows: 0, ladder: '' };
          const pts = store.points(t.id);
          const best = pts.find((p) => p.throughputIps === t.objectiveIps && p.p99Ms === t.p99Ms);
          const searchOpts = { targetP99Ms: target, maxConcurrency: args.maxConcurrency };
          const kneePoints = kneeConfirmationCost(pts, searchOpts) ?? 0;
          return {
            kneePoints,
            onePointIps: bestPoint(pts.slice(0, onePointStop(pts, searchOpts)), target)?.throughputIps ?? null,
            ips: t.objectiveIps, p99Ms: t.p99Ms, points: pts.length, concurrency: best?.concurrency ?? null,
            windows: pts.reduce((a, p) => a + p.windows, 0),
            extraWindows: pts.reduce((a, p) => a + (p.extraWindows ?? 0), 0),
            ladder: pts.map((p) => `c${p.concurrency}:${p.throughputIps.toFixed(0)}/${p.p99Ms.toFixed(0)}ms`).join(' '),
          };
        };
        rows.push({ run, def: found(true), conf: found(false), wallS: (performance.now() - started) / 1000 });
      } finally {
        store.close();
      }
      const last = rows[rows.length - 1]!;
      const show = (f: Found) => (f.ips !== null ? `${f.ips.toFixed(0)} inf/s` : `none within the target (lowest p99 ${f.p99Ms?.toFixed(1) ?? '-'} ms)`);
      console.log(`run ${run}: default ${show(last.def)}, configuration ${show(last.conf)} (${last.wallS.toFixed(0)} s)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const spread = (ips: readonly (number | null)[]): { line: string; met: boolean } | null => {
    const xs = ips.filter((x): x is number => x !== null);
    if (xs.length !== ips.length || xs.length === 0) return null;
    const m = median(xs);
    const worst = Math.max(...xs.map((x) => Math.abs(x - m) / m));
    return { met: worst <= 0.07, line: `median ${m.toFixed(0)} inf/s; range ${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}; largest deviation from the median ${(100 * worst).toFixed(1)}%` };
  };
  const report = (name: string, pick: (r: (typeof rows)[number]) => Found): string[] => {
    const found = rows.map(pick);
    const lines = [`${name}:`, 'run  inf/s  p99 ms  at conc  points  knee  1-point  windows (extra)  load points (concurrency:inf/s/p99, in order)'];
    found.forEach((f, i) => lines.push(`${String(i + 1).padStart(3)} ${(f.ips?.toFixed(0) ?? '-').padStart(6)} ${(f.p99Ms?.toFixed(1) ?? '-').padStart(7)} ${String(f.concurrency ?? '-').padStart(8)} ${String(f.points).padStart(7)} ${String(f.kneePoints).padStart(5)} ${(f.onePointIps?.toFixed(0) ?? '-').padStart(8)} ${String(f.windows).padStart(8)} ${`(${f.extraWindows})`.padStart(7)}  ${f.ladder}`));
    const found5 = spread(found.map((f) => f.ips));
    lines.push(found5 ? `${found5.line} -> ${found5.met ? 'MET' : 'MISSED'} (target: within 7%)` : `${found.filter((f) => f.ips === null).length} of ${found.length} runs found no throughput within the target -> MISSED`);
    const plain = spread(found.map((f) => f.onePointIps));
    if (plain) lines.push(`without knee confirmation (the one-point rule, same points up to where it stops): ${plain.line}`);
    return lines;
  };
  console.log(['', ...report(`configuration max_batch_size ${mbs}, queue delay ${delay} µs, ${inst} instance(s), ${prec}, p99 ${args.p99}`, (r) => r.conf),
    '', ...report('default configuration (config.pbtxt as given)', (r) => r.def),
    '', 'knee: load points spent confirming the knee (beyond the one-point rule); 1-point: what the one-point rule would have found from the points measured before it stopped; windows: measurement windows over all load points, (extra): of them, added while the p99 target lay inside the p99 interval.'].join('\n'));
}

main();
