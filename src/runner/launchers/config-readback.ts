/**
 * After a load, the configuration the server actually runs, read back with the ModelConfig
 * RPC and compared with what tanalyze asked for, field by field. A real Triton fills in
 * defaults, may rewrite a config (auto-complete adds a dynamic batcher to batching ONNX
 * models, for one) and can ignore what it does not understand; a trial measured on a
 * configuration other than the one it reports would make the recommendation a lie, so a
 * field the server dropped or changed fails the trial with the field named.
 *
 * Only the fields tanalyze sets are compared (max_batch_size, the dynamic batcher's queue
 * delay and preferred sizes, the instance groups' count and kind, the model file or the
 * TensorRT accelerator's precision_mode that stands for a precision); what the server adds elsewhere (names, optimization defaults)
 * is its business. compareLoadedConfig is pure; verifyLoadedConfig does the RPC.
 */
import type { ModelConfig, ModelInstanceGroup } from '../../config/types.js';
import { parseModelConfig } from '../../config/pbtxt.js';
import { ortTensorRtPrecision } from '../engines/onnxruntime.js';
import type { InferenceClient } from '../../protocol/types.js';
import type { ModelVariant } from '../../domain/launcher.js';

export interface ConfigMismatch {
  /** The field's path in ModelConfig, e.g. `dynamic_batching.max_queue_delay_microseconds`. */
  field: string;
  /** What tanalyze set ('absent' when it left the field out). */
  set: string;
  /** What the server loaded ('absent' when it has none). */
  loaded: string;
}

const present = <T>(x: T | null | undefined): x is T => x !== null && x !== undefined;
// 64-bit fields arrive as numbers (loader option longs: Number) but may be strings elsewhere.
const num = (x: unknown): number => (present(x) ? Number(x) : 0);
const list = (xs: readonly unknown[] | null | undefined): string => `[${(xs ?? []).map(num).join(', ')}]`;
const sortedList = (xs: readonly unknown[] | null | undefined): string => `[${(xs ?? []).map(num).sort((a, b) => a - b).join(', ')}]`;

/** Triton runs one instance when a group's count is unset (0). */
const countOf = (g: ModelInstanceGroup | undefined): number => Math.max(1, num(g?.count));

/**
 * The fields tanalyze set in `intended` that differ in `loaded` (empty: the server runs
 * what was asked). Preferred batch sizes are compared as a set: their order means nothing;
 * none is the same as [max_batch_size], as Triton reports it.
 */
export function compareLoadedConfig(intended: ModelConfig, loaded: ModelConfig): ConfigMismatch[] {
  const out: ConfigMismatch[] = [];
  const differ = (field: string, set: string, got: string): void => {
    if (set !== got) out.push({ field, set, loaded: got });
  };

  differ('max_batch_size', String(num(intended.max_batch_size)), String(num(loaded.max_batch_size)));

  const want = intended.dynamic_batching;
  const got = loaded.dynamic_batching;
  if (!present(want)) {
    if (present(got)) {
      out.push({ field: 'dynamic_batching', set: 'absent', loaded: `max_queue_delay_microseconds ${num(got.max_queue_delay_microseconds)}, preferred_batch_size ${list(got.preferred_batch_size)}` });
    }
  } else if (!present(got)) {
    out.push({ field: 'dynamic_batching', set: `max_queue_delay_microseconds ${num(want.max_queue_delay_microseconds)}`, loaded: 'absent' });
  } else {
    differ('dynamic_batching.max_queue_delay_microseconds', String(num(want.max_queue_delay_microseconds)), String(num(got.max_queue_delay_microseconds)));
    // Triton writes "no preferred sizes" as [max_batch_size]: the same batches.
    const preferred = (db: typeof want, mbs: unknown) => (db.preferred_batch_size?.length ? db.preferred_batch_size : [num(mbs)]);
    differ('dynamic_batching.preferred_batch_size', sortedList(preferred(want, intended.max_batch_size)), sortedList(preferred(got, loaded.max_batch_size)));
  }

  const wantGroups = intended.instance_group ?? [];
  const gotGroups = loaded.instance_group ?? [];
  if (wantGroups.length && gotGroups.length !== wantGroups.length) {
    differ('instance_group', `${wantGroups.length} group(s)`, `${gotGroups.length} group(s)`);
  }
  wantGroups.forEach((g, i) => {
    const other = gotGroups[i];
    if (!other) return; // counted above
    differ(`instance_group[${i}].count`, String(countOf(g)), String(countOf(other)));
    // KIND_AUTO (or unset) is the server's to resolve; an explicit kind must stay.
    if (present(g.kind) && g.kind !== 'KIND_AUTO') differ(`instance_group[${i}].kind`, g.kind, String(other.kind ?? 'absent'));
  });

  // The precision tanalyze chose: the model file it points the server at, or the precision
  // mode of ONNX Runtime's TensorRT accelerator.
  if (intended.default_model_filename) {
    differ('default_model_filename', intended.default_model_filename, loaded.default_model_filename || 'absent');
  }
  const precision = ortTensorRtPrecision(intended);
  if (precision !== null) {
    differ('optimization.execution_accelerators.gpu_execution_accelerator[tensorrt].precision_mode', precision, ortTensorRtPrecision(loaded) ?? 'absent');
  }
  return out;
}

/** "max_batch_size: set 4, loaded 8; dynamic_batching: set absent, loaded ..." */
export function describeMismatches(mismatches: readonly ConfigMismatch[]): string {
  return mismatches.map((m) => `${m.field}: set ${m.set}, loaded ${m.loaded}`).join('; ');
}

export class ConfigReadbackError extends Error {
  constructor(
    readonly modelName: string,
    readonly mismatches: readonly ConfigMismatch[],
  ) {
    const addedBatcher = mismatches.some((m) => m.field === 'dynamic_batching' && m.set === 'absent');
    super(
      `the server's loaded configuration of '${modelName}' differs from the one tanalyze set (${describeMismatches(mismatches)})` +
        (addedBatcher
          ? "; Triton's auto-complete turns the dynamic batcher on for a batching model without a scheduler (ONNX Runtime and TensorRT backends, a Python model's auto_complete_config): such a server cannot serve 'no dynamic batching' unless started with --disable-auto-complete-config (server.args)"
          : ''),
    );
    this.name = 'ConfigReadbackError';
  }
}

/** Reads the loaded configuration back (ModelConfig RPC) and throws ConfigReadbackError on a difference. */
export async function verifyLoadedConfig(client: InferenceClient, variant: ModelVariant): Promise<void> {
  const intended = parseModelConfig(variant.pbtxt, `${variant.modelName} (variant config)`);
  const loaded = await client.modelConfig(variant.modelName);
  const mismatches = compareLoadedConfig(intended, loaded);
  if (mismatches.length) throw new ConfigReadbackError(variant.modelName, mismatches);
}
