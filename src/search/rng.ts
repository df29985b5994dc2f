/**
 * Seeded randomness for the strategies and the offline landscapes. Pure: every draw is a
 * function of its inputs, so a strategy asked again with the same history draws the same.
 */

import { mulberry32 } from '../util/random.js';

/** FNV-1a over a string: stable 32-bit hash (keys, seeds mixed with names). */
export function hashString(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** A generator seeded from a seed and any number of labels (e.g. a config key and a purpose). */
export function seededRng(seed: number, ...labels: (string | number)[]): () => number {
  let h = hashString(String(seed >>> 0));
  for (const l of labels) h = hashString(`|${l}`, h);
  return mulberry32(h);
}

/** A standard normal draw (Box-Muller) from a uniform generator. */
export function normal(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Fisher-Yates shuffle of a copy. */
export function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
