/**
 * The build step on the embedded server: ONNX Runtime's offline graph optimization.
 * A session created with `optimizedModelFilePath` writes the model after its graph
 * transformations (constant folding, fusions at the chosen level); the embedded
 * server then loads that file. It goes through the same cache as TensorRT engines,
 * keyed by the source file's hash, the precision, ONNX Runtime's version and the CPU,
 * so the embedded path exercises the same build-and-cache logic.
 *
 * Level 'extended' (not 'all'): 'all' adds layout changes tied to this CPU's
 * instruction set, which ONNX Runtime advises against saving.
 */
import { cpus, arch } from 'node:os';

export type OrtOptimizationLevel = 'basic' | 'extended' | 'all';

interface OrtModule {
  InferenceSession: {
    create(path: string, options: Record<string, unknown>): Promise<{ release(): Promise<void>; inputNames: readonly string[] }>;
  };
  env: { versions?: Record<string, string | undefined> };
}

let ortModule: OrtModule | undefined;
async function ort(): Promise<OrtModule> {
  if (!ortModule) {
    const m = (await import('onnxruntime-node')) as unknown as OrtModule & { default?: OrtModule };
    ortModule = m.InferenceSession ? m : m.default!;
  }
  return ortModule;
}

/** "onnxruntime-node 1.22.0". */
export async function onnxRuntimeVersion(): Promise<string> {
  const m = await ort();
  const v = m.env.versions?.['node'] ?? m.env.versions?.['common'] ?? 'unknown';
  return `onnxruntime-node ${v}`;
}

/** This machine's CPU, for the cache key of CPU-specific builds. */
export function cpuDevice(): string {
  return `cpu ${cpus()[0]?.model?.trim() ?? 'unknown'} (${arch()})`;
}

/** Writes the graph-optimized form of `src` to `out` (ONNX Runtime on the CPU). */
export async function buildOrtOptimizedModel(src: string, out: string, level: OrtOptimizationLevel = 'extended'): Promise<void> {
  const m = await ort();
  const session = await m.InferenceSession.create(src, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: level,
    optimizedModelFilePath: out,
  });
  await session.release();
}
