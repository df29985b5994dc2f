import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The tanalyze package folder (holds package.json), found by walking up from this file,
 * so data files (.proto, examples) resolve the same from src/ (tests) and dist/ (builds). */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'tanalyze') return (cached = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('tanalyze: cannot find the package root (package.json named "tanalyze")');
    dir = up;
  }
}

export function fromPackageRoot(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}
