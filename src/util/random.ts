/**
 * The one seeded uniform generator of the project (input data, Poisson arrivals, search
 * draws, example-model weights): every use must give the same numbers on every platform
 * for a seed, so runs, strategies and the shipped example model are reproducible. Pure.
 */

/** mulberry32 (public-domain algorithm by Tommy Ettinger): 32-bit state, floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
