/**
 * What must not change for a run to be resumed: the settings that shape the measurements
 * and the bytes of the model files. Budget, output flags and the port may change.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * Folders a server writes into the model folder itself: Python's bytecode cache, which
 * Triton's Python backend leaves beside model.py when it imports it. Their bytes are not the
 * model, and hashing them made the second invocation of an interrupted run start a new run
 * instead of resuming it.
 */
const WRITTEN_BY_SERVERS = new Set(['__pycache__']);

/** sha256 over every file of a model folder (config.pbtxt and version folders), in path order. */
export async function hashModelDir(dir: string): Promise<string> {
  const files: string[] = [];
  const walk = async (d: string) => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (!WRITTEN_BY_SERVERS.has(e.name)) await walk(p);
      } else if ((await stat(p)).isFile()) files.push(p);
    }
  };
  await walk(dir);
  const h = createHash('sha256');
  for (const f of files) {
    h.update(relative(dir, f)).update('\0');
    h.update(await readFile(f)).update('\0');
  }
  return h.digest('hex');
}

export interface ResumableSettings {
  model: string;
  modelHash: string;
  targetP99Ms: number;
  strategy: string;
  seed: number;
  space: unknown;
  maxConcurrency: number;
  windows: unknown;
  load: unknown;
  launch: string;
}

export function settingsHash(s: ResumableSettings): string {
  return createHash('sha256').update(stableJson(s)).digest('hex').slice(0, 16);
}

/** The settings that differ, by name, for the refusal message. */
export function changedSettings(before: ResumableSettings, after: ResumableSettings): string[] {
  return (Object.keys(after) as (keyof ResumableSettings)[]).filter((k) => stableJson(before[k]) !== stableJson(after[k]));
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
