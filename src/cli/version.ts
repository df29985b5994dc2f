import { readFileSync } from 'node:fs';
import { fromPackageRoot } from '../util/package-root.js';

export function toolVersion(): string {
  return (JSON.parse(readFileSync(fromPackageRoot('package.json'), 'utf8')) as { version: string }).version;
}
