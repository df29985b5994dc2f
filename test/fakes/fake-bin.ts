/**
 * Installs the FAKE executables (test/fakes/*-fake.mjs) under their real names
 * (`tritonserver`, `trtexec`, `nvidia-smi`) in a temporary bin folder: each is a tiny
 * sh wrapper that execs node on the fake, so the pid is the fake's own.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromPackageRoot } from '../../src/util/package-root.js';

export interface FakeBin {
  dir: string;
  /** Absolute path of the installed fake. */
  path(name: string): string;
  /** PATH with the fake folder first. */
  pathEnv: string;
  cleanup(): void;
}

export function installFakes(fakes: Record<string, string>): FakeBin {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-fakebin-'));
  for (const [name, fakeFile] of Object.entries(fakes)) {
    const script = fromPackageRoot('test', 'fakes', fakeFile);
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/sh\n# FAKE ${name} for tests\nexec "${process.execPath}" "${script}" "$@"\n`);
    chmodSync(p, 0o755);
  }
  return {
    dir,
    path: (name) => join(dir, name),
    pathEnv: `${dir}:${process.env['PATH'] ?? ''}`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The compiled embedded server module the FAKE tritonserver runs (beside this compiled file). */
export function compiledServerModule(): string {
  return fileURLToPath(new URL('../../src/server/server.js', import.meta.url));
}

/** JSON lines a fake appended to its record file. */
export function readRecords<T = { argv: string[]; pid: number }>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
