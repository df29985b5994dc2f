/**
 * A Bayesian linear model of main effects, for the Bayesian search in small spaces: the
 * target is an intercept plus one term per dimension, each the same whatever the values of
 * the others. A categorical dimension gets one coefficient per value; an ordinal one a
 * coefficient per step between adjacent values (a value's term is the sum of the steps up to
 * it), so a value beyond the measured ones is predicted like the nearest measured one, with
 * the unknown steps' spread, not pulled back to the average. Coefficients have independent
 * normal priors of fixed scale, so the posterior is closed-form and needs no fitting.
 *
 * Why: with a handful of measurements the Gaussian process's product kernel reads a poor
 * point as "everything like it is poor", all its dimensions at once. A sum of per-dimension
 * terms puts a drop on what the poor points share: "FP16 at 2 instances was poor and FP32
 * at 2 instances too" reads as an instance effect, and FP16 at 1 instance stays promising.
 */
import { Matrix, inverse } from 'ml-matrix';
import type { GpPoint } from './gp.js';

export interface MainEffectsPrior {
  /** Prior sd of each categorical value's coefficient (target units; default 0.5: in log throughput, about ×1.6). */
  valueSd?: number;
  /** Prior sd of each step between adjacent values of an ordinal dimension (default 0.5). */
  stepSd?: number;
  /** Measurement noise sd (default 0.1). */
  noiseSd?: number;
}

const INTERCEPT_SD = 10;

export class MainEffectsModel {
  private constructor(
    /** Per ordinal dimension, its values' coordinates in increasing order. */
    private readonly levels: readonly (readonly number[])[],
    private readonly index: Map<string, number>,
    private readonly mean: number[],
    private readonly cov: Matrix,
    private readonly priorVar: (feature: string) => number,
  ) {}

  /**
   * Fits the posterior to targets y at points (at least one). `levels`: for each ordinal
   * dimension, the coordinates of its values in the space, in increasing order.
   */
  static fit(points: readonly GpPoint[], y: readonly number[], levels: readonly (readonly number[])[], prior: MainEffectsPrior = {}): MainEffectsModel {
    if (points.length === 0 || points.length !== y.length) throw new Error(`MainEffectsModel.fit: ${points.length} points and ${y.length} targets`);
    const valueVar = (prior.valueSd ?? 0.5) ** 2;
    const stepVar = (prior.stepSd ?? 0.5) ** 2;
    const noiseVar = (prior.noiseSd ?? 0.1) ** 2;
    const priorVar = (f: string) => (f === INTERCEPT ? INTERCEPT_SD ** 2 : f.startsWith('s') ? stepVar : valueVar);
    const rows = points.map((p) => features(p, levels));
    // Only the features some point has: the others keep their prior, independent of the data.
    const names = [...new Set(rows.flatMap((r) => r))];
    const index = new Map(names.map((n, i) => [n, i]));
    const k = names.length;
    const yMean = y.reduce((s, v) => s + v, 0) / y.length;
    // Posterior precision XᵀX/σ² + diag(1/prior); right side XᵀY/σ² + prior mean/prior (the intercept's prior mean is the data mean).
    const precision = new Matrix(k, k);
    const rhs = new Matrix(k, 1);
    names.forEach((n, i) => {
      precision.set(i, i, 1 / priorVar(n));
      if (n === INTERCEPT) rhs.set(i, 0, yMean / priorVar(n));
    });
    rows.forEach((r, m) => {
      for (const a of r) {
        const ia = index.get(a)!;
        rhs.set(ia, 0, rhs.get(ia, 0) + y[m]! / noiseVar);
        for (const b of r) {
          const ib = index.get(b)!;
          precision.set(ia, ib, precision.get(ia, ib) + 1 / noiseVar);
        }
      }
    });
    const cov = inverse(precision);
    return new MainEffectsModel(levels, index, cov.mmul(rhs).getColumn(0), cov, priorVar);
  }

  /** Posterior mean and variance of the modelled value (noise excluded) at each point. */
  predict(at: readonly GpPoint[]): { mean: number[]; variance: number[] } {
    const mean: number[] = [];
    const variance: number[] = [];
    for (const p of at) {
      const known: number[] = [];
      let v = 0;
      for (const f of features(p, this.levels)) {
        const i = this.index.get(f);
        if (i === undefined) v += this.priorVar(f);
        else known.push(i);
      }
      let m = 0;
      for (const i of known) {
        m += this.mean[i]!;
        for (const j of known) v += this.cov.get(i, j);
      }
      mean.push(m);
      variance.push(Math.max(v, 1e-12));
    }
    return { mean, variance };
  }
}

const INTERCEPT = '1';

/** The 0/1 features a point has, by name: the intercept, each step of an ordinal dimension at or below its value, its categorical values. */
function features(p: GpPoint, levels: readonly (readonly number[])[]): string[] {
  const f = [INTERCEPT];
  p.ord.forEach((x, i) => {
    const lv = levels[i] ?? [];
    for (let j = 1; j < lv.length; j++) if (x >= lv[j]! - 1e-12) f.push(`s${i}>${j}`);
  });
  p.cat.forEach((v, j) => f.push(`c${j}=${v}`));
  return f;
}
