/** Building the launcher for a plan, and measuring one model variant through it (used by run and regress). */
import { join } from 'node:path';
import type { ModelConfig } from '../config/types.js';
import { writeVariant } from '../config/variant.js';
import { printModelConfig } from '../config/pbtxt.js';
import type { InferenceClient } from '../protocol/types.js';
import type { ServingConfig } from '../search/types.js';
import type { Launcher, LoadPoint } from '../runner/types.js';
import { EmbeddedLauncher } from '../runner/launchers/embedded.js';
import { measureConfiguration, type ConfigurationResult } from '../runner/measure-config.js';
import type { RunPlan } from './plan.js';

export function createLauncherFor(plan: RunPlan, variantRepo: string): Launcher {
  return new EmbeddedLauncher({ repository: variantRepo, port: plan.port });
}

export interface MeasureVariantArgs {
  launcher: Launcher;
  client: InferenceClient;
  modelDir: string;
  variantRepo: string;
  cfg: ModelConfig;
  variantName: string;
  config: ServingConfig;
  targetP99Ms: number;
  plan: RunPlan;
  onPoint?: (p: LoadPoint, i: number) => void;
}

/** Writes the variant, loads it, runs the load search on it, and unloads it again. */
export async function measureVariant(a: MeasureVariantArgs): Promise<ConfigurationResult> {
  const cfg = { ...a.cfg, name: a.variantName };
  await writeVariant(a.variantRepo, a.modelDir, cfg, a.variantName);
  const variant = { modelName: a.variantName, dir: join(a.variantRepo, a.variantName), config: a.config, pbtxt: printModelConfig(cfg) };
  await a.launcher.apply(variant);
  try {
    return await measureConfiguration({
      client: a.client,
      modelName: a.variantName,
      targetP99Ms: a.targetP99Ms,
      settings: a.plan.windows,
      maxConcurrency: a.plan.maxConcurrency,
      ...(a.onPoint ? { onPoint: a.onPoint } : {}),
    });
  } finally {
    await a.launcher.release(variant).catch(() => {});
  }
}
