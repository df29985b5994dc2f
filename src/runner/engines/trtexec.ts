/**
 * TensorRT engine builds with trtexec: the optimization profile of a trial (pure),
 * trtexec's argument array (pure), the TensorRT version from its output (pure), and
 * the build itself through a ToolRunner (this machine or a TensorRT container), with
 * its log kept and a failed build turned into an EngineBuildError quoting the log.
 *
 * The profile's batch range is 1 .. the trial's max_batch_size (opt = max, where the
 * dynamic batcher spends its time under load), so Triton can serve every batch the
 * configuration allows and no larger one. Non-batch dimensions come from the model
 * config; variable ones (-1) need concrete shapes from the profile (engine.shapes).
 */
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ModelConfig } from '../../config/types.js';
import type { Precision } from '../../domain/serving.js';
import { tailLines } from '../launchers/errors.js';
import type { ToolRunner } from './tools.js';
import { TanalyzeError } from '../../domain/errors.js';

/** A failed engine build: the trial fails with this message (it ends with the log's last lines). */
export class EngineBuildError extends TanalyzeError {
  constructor(
    message: string,
    readonly logTail: string[],
    readonly logFile?: string,
  ) {
    super('configuration', logTail.length ? `${message}\nlast lines of the build log${logFile ? ` (${logFile})` : ''}:\n${logTail.map((l) => `  | ${l}`).join('\n')}` : message);
  }
}

/** The model cannot be built as asked (variable dims without shapes, ...): a configuration problem. */
export class EngineConfigError extends TanalyzeError {
  constructor(message: string) {
    super('configuration', message);
  }
}

export interface InputProfile {
  name: string;
  min: number[];
  opt: number[];
  max: number[];
}

/** One optimization profile: full shapes (batch dimension first when the model batches). */
export interface ShapeProfile {
  inputs: InputProfile[];
}

/** Per input: concrete dims (without the batch dim), or min/opt/max of them for variable dims. */
export type ShapeOverrides = Record<string, number[] | { min: number[]; opt: number[]; max: number[] }>;

/**
 * The trial's optimization profile (pure). `maxBatch` is the trial's max_batch_size
 * (0 = the model does not batch: shapes are taken as they are).
 */
export function shapeProfileFor(cfg: ModelConfig, maxBatch: number, opts: { optBatch?: number; shapes?: ShapeOverrides } = {}): ShapeProfile {
  const inputs = cfg.input ?? [];
  if (!inputs.length) throw new EngineConfigError(`model '${cfg.name ?? '?'}': the config lists no inputs, so no optimization profile can be made`);
  const batched = maxBatch > 0;
  const opt = Math.min(Math.max(1, opts.optBatch ?? maxBatch), Math.max(1, maxBatch));
  return {
    inputs: inputs.map((t) => {
      const given = opts.shapes?.[t.name];
      const dims = (t.dims ?? []).map(Number);
      let mn: number[];
      let op: number[];
      let mx: number[];
      if (given && !Array.isArray(given)) {
        [mn, op, mx] = [given.min, given.opt, given.max];
      } else {
        const d = given ?? dims;
        if (d.some((x) => x < 0)) {
          throw new EngineConfigError(
            `input '${t.name}' has a variable dimension (dims [${dims.join(', ')}]): give its shape for the engine in the profile, e.g. engine.shapes.${t.name}: [${dims.map((x) => (x < 0 ? 224 : x)).join(', ')}]`,
          );
        }
        mn = op = mx = d;
      }
      return batched ? { name: t.name, min: [1, ...mn], opt: [opt, ...op], max: [maxBatch, ...mx] } : { name: t.name, min: mn, opt: op, max: mx };
    }),
  };
}

/** Canonical text of a profile, for cache keys and messages: "input:1x3x32x32/8x3x32x32/8x3x32x32". */
export function profileKey(p: ShapeProfile): string {
  const s = (d: number[]) => d.join('x');
  return p.inputs.map((i) => `${i.name}:${s(i.min)}/${s(i.opt)}/${s(i.max)}`).join(';');
}

/** The largest batch the profile admits (its max shapes' first dimension), 0 when it has no batch dim. */
export function profileMaxBatch(p: ShapeProfile, batched: boolean): number {
  return batched ? Math.min(...p.inputs.map((i) => i.max[0] ?? 0)) : 0;
}

/** trtexec quotes input names holding ':' or ',' with single quotes (its own parser, not a shell's). */
function shapeSpec(p: ShapeProfile, which: 'min' | 'opt' | 'max'): string {
  return p.inputs.map((i) => `${/[:,]/.test(i.name) ? `'${i.name}'` : i.name}:${i[which].join('x')}`).join(',');
}

export interface TrtexecBuild {
  onnx: string;
  engine: string;
  profile: ShapeProfile;
  precision: Precision;
  /** INT8 calibration cache (trtexec --calib); without one trtexec uses placeholder ranges: right speed, meaningless accuracy. */
  calibCache?: string;
  /** Builder workspace in MiB (--memPoolSize=workspace:<n>M). */
  workspaceMiB?: number;
  /** A timing cache file shared by builds (--timingCacheFile) to make later builds faster. */
  timingCache?: string;
  /** Build only, no inference benchmark after (--skipInference, TensorRT 8.6+). Default true. */
  skipInference?: boolean;
  /** More trtexec flags from the profile, e.g. ['--builderOptimizationLevel=4']. */
  extraArgs?: readonly string[];
  /**
   * The precision flags, when a version-aware plan decided them (precision.ts:
   * planPrecisionBuild); without it they follow `precision` as TensorRT 10 takes them.
   */
  precisionFlags?: readonly string[];
  /** Where trtexec writes the engine's layer information (--exportLayerInfo, with detailed profiling verbosity so tensor types are in it). */
  layerInfo?: string;
}

/** trtexec's argument array for a build (pure). */
export function trtexecArgs(b: TrtexecBuild): string[] {
  const args = [`--onnx=${b.onnx}`, `--saveEngine=${b.engine}`];
  args.push(`--minShapes=${shapeSpec(b.profile, 'min')}`, `--optShapes=${shapeSpec(b.profile, 'opt')}`, `--maxShapes=${shapeSpec(b.profile, 'max')}`);
  if (b.precisionFlags) args.push(...b.precisionFlags);
  else if (b.precision === 'FP16') args.push('--fp16');
  else if (b.precision === 'BF16') args.push('--bf16'); // TensorRT 9.1 and later
  else if (b.precision === 'INT8') {
    args.push('--int8');
    if (b.calibCache) args.push(`--calib=${b.calibCache}`);
  }
  if (b.workspaceMiB) args.push(`--memPoolSize=workspace:${b.workspaceMiB}M`);
  if (b.timingCache) args.push(`--timingCacheFile=${b.timingCache}`);
  if (b.skipInference ?? true) args.push('--skipInference');
  if (b.layerInfo) args.push(`--exportLayerInfo=${b.layerInfo}`, '--profilingVerbosity=detailed');
  args.push(...(b.extraArgs ?? []));
  return args;
}

/**
 * TensorRT's version from trtexec output: "&&&& RUNNING TensorRT.trtexec [TensorRT v100300]"
 * (NV_TENSORRT_VERSION: major*10000+minor*100+patch from TensorRT 10, major*1000+minor*100+patch
 * before) or "TensorRT version: 10.3.0". Null when neither is there.
 */
export function parseTensorRtVersion(output: string): string | null {
  const v = /TensorRT version:\s*(\d+\.\d+\.\d+)/.exec(output);
  if (v) return v[1]!;
  const m = /\[TensorRT v(\d+)\]/.exec(output);
  if (!m) return null;
  const n = Number(m[1]);
  if (n >= 10000) return `${Math.floor(n / 10000)}.${Math.floor(n / 100) % 100}.${n % 100}`;
  return `${Math.floor(n / 1000)}.${Math.floor(n / 100) % 10}.${n % 100}`;
}

/** Runs `trtexec --help` and reads the TensorRT version from its banner. */
export async function detectTensorRtVersion(runner: ToolRunner): Promise<string> {
  const r = await runner.run('trtexec', ['--help'], { timeoutMs: 60_000 });
  const v = parseTensorRtVersion(r.output);
  if (!v) throw new EngineBuildError(`could not tell the TensorRT version from '${runner.describe} --help'`, tailLines(r.output, 10));
  return v;
}

export interface BuildOutcome {
  seconds: number;
  tensorrtVersion: string | null;
}

/**
 * Builds one engine. Success is exit code 0, trtexec's "&&&& PASSED" line and a
 * non-empty engine file; anything else is an EngineBuildError with the log's tail
 * (a hang is stopped at `timeoutMs`).
 */
export async function buildEngine(runner: ToolRunner, b: TrtexecBuild, opts: { logFile: string; timeoutMs: number }): Promise<BuildOutcome> {
  const args = trtexecArgs(b);
  const ro = [dirname(b.onnx), ...(b.calibCache ? [dirname(b.calibCache)] : [])];
  const rw = [dirname(b.engine), ...(b.timingCache ? [dirname(b.timingCache)] : []), ...(b.layerInfo ? [dirname(b.layerInfo)] : [])];
  const started = Date.now();
  const r = await runner.run('trtexec', args, { logFile: opts.logFile, timeoutMs: opts.timeoutMs, mounts: { ro, rw } });
  const seconds = (Date.now() - started) / 1000;
  const tail = tailLines(r.output, 15);
  const what = `TensorRT engine build (${b.precision}, max batch ${profileMaxBatch(b.profile, true) || '-'})`;
  if (r.timedOut) throw new EngineBuildError(`${what} did not finish in ${Math.round(opts.timeoutMs / 1000)} s and was stopped`, tail, opts.logFile);
  const failedLine = /&&&& FAILED/.test(r.output);
  if (r.code !== 0 || failedLine) {
    throw new EngineBuildError(`${what} failed (${r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`})`, tail, opts.logFile);
  }
  if (!existsSync(b.engine) || statSync(b.engine).size === 0) {
    throw new EngineBuildError(`${what} reported success but wrote no engine at ${b.engine}`, tail, opts.logFile);
  }
  return { seconds, tensorrtVersion: parseTensorRtVersion(r.output) };
}
