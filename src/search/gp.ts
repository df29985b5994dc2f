/**
 * A small Gaussian process for the Bayesian search: mixed inputs (ordinal coordinates
 * in [0, 1] and categorical indices), a Matérn-5/2 kernel with one lengthscale per
 * ordinal dimension times one correlation per categorical dimension, and a fitted noise
 * term. Linear algebra is ml-matrix's (Cholesky and its solves).
 *
 * Hyperparameters are chosen by maximizing the marginal likelihood (plus weak priors, so
 * a handful of points cannot pick absurd values) by coordinate search over fixed grids:
 * deterministic, no random restarts, so a strategy built on it stays a pure function of
 * the history. The signal variance is not searched: for given lengthscales and noise it
 * has a closed-form maximum (with an inverse-gamma prior), which is used.
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';

export interface GpPoint {
  /** Ordinal coordinates, each in [0, 1]. */
  ord: readonly number[];
  /** Categorical values as small integers. */
  cat: readonly number[];
}

export interface GpHyper {
  /** One per ordinal dimension, in the units of the [0, 1] coordinates. */
  lengthscales: number[];
  /** Kernel correlation between two different values of each categorical dimension. */
  catCorrelations: number[];
  /** Noise variance as a fraction of the signal variance. */
  noise: number;
}

export interface GpFitOptions {
  /** Targets are centred and divided by max(sample sd, minScale). */
  minScale?: number;
  lengthscaleGrid?: readonly number[];
  correlationGrid?: readonly number[];
  noiseGrid?: readonly number[];
  /** Hyperparameters to hold fixed instead of fitting. */
  fixed?: Partial<GpHyper>;
  /** Passes of the coordinate search (default 2). */
  sweeps?: number;
  /**
   * Hyperparameters are chosen on at most this many points, spread evenly through the input
   * order (default 40); the posterior then uses them all. Keeps a fit cheap late in a run.
   */
  maxFitPoints?: number;
  /** Centre of the log-normal prior on lengthscales (default 0.5). */
  lengthscalePrior?: number;
}

export const LENGTHSCALE_GRID = [0.1, 0.18, 0.3, 0.5, 0.8, 1.3, 2.5] as const;
export const CORRELATION_GRID = [0.1, 0.35, 0.6, 0.8, 0.95] as const;
export const NOISE_GRID = [1e-6, 1e-4, 1e-3, 0.01, 0.03, 0.1, 0.3] as const;

const LS_PRIOR_MEAN = Math.log(0.5);
const LS_PRIOR_SD = 1;
// Inverse-gamma(a, b) prior on the standardized signal variance.
const IG_A = 1;
const IG_B = 1;
const JITTER = 1e-8;

const SQRT5 = Math.sqrt(5);

function matern52(r: number): number {
  const s = SQRT5 * r;
  return (1 + s + (s * s) / 3) * Math.exp(-s);
}

/** Kernel correlation (unit signal variance) between two points. */
export function correlation(a: GpPoint, b: GpPoint, h: Pick<GpHyper, 'lengthscales' | 'catCorrelations'>): number {
  let r2 = 0;
  for (let i = 0; i < a.ord.length; i++) {
    const d = (a.ord[i]! - b.ord[i]!) / h.lengthscales[i]!;
    r2 += d * d;
  }
  let k = matern52(Math.sqrt(r2));
  for (let j = 0; j < a.cat.length; j++) if (a.cat[j] !== b.cat[j]) k *= h.catCorrelations[j]!;
  return k;
}

interface Fitted {
  hyper: GpHyper;
  chol: CholeskyDecomposition;
  alpha: Matrix;
  signalVar: number;
  score: number;
}

function logPrior(h: GpHyper, lsCentre: number): number {
  let lp = 0;
  for (const l of h.lengthscales) lp -= 0.5 * ((Math.log(l) - lsCentre) / LS_PRIOR_SD) ** 2;
  return lp;
}

/** Fits the given hyperparameters; null when the kernel matrix is not positive definite. */
function evaluate(points: readonly GpPoint[], y: readonly number[], hyper: GpHyper, lsCentre = LS_PRIOR_MEAN): Fitted | null {
  const n = points.length;
  const a = new Matrix(n, n);
  for (let i = 0; i < n; i++) {
    a.set(i, i, 1 + hyper.noise + JITTER);
    for (let j = 0; j < i; j++) {
      const k = correlation(points[i]!, points[j]!, hyper);
      a.set(i, j, k);
      a.set(j, i, k);
    }
  }
  const chol = new CholeskyDecomposition(a);
  if (!chol.isPositiveDefinite()) return null;
  const alpha = chol.solve(Matrix.columnVector(y as number[]));
  let quad = 0;
  for (let i = 0; i < n; i++) quad += y[i]! * alpha.get(i, 0);
  const l = chol.lowerTriangularMatrix;
  let logDet = 0;
  for (let i = 0; i < n; i++) logDet += 2 * Math.log(l.get(i, i));
  // MAP signal variance s² for K = s²·A under an inverse-gamma prior, and the log posterior there.
  const signalVar = (quad / 2 + IG_B) / (n / 2 + IG_A + 1);
  const score = -quad / (2 * signalVar) - (n / 2) * Math.log(signalVar) - logDet / 2
    - (IG_A + 1) * Math.log(signalVar) - IG_B / signalVar + logPrior(hyper, lsCentre);
  return { hyper, chol, alpha, signalVar, score };
}

export class GaussianProcess {
  private inverse: Matrix | undefined;

  private constructor(
    private readonly points: readonly GpPoint[],
    private readonly fitted: Fitted,
    /** Mean and scale the targets were standardized with. */
    readonly yMean: number,
    readonly yScale: number,
  ) {}

  get hyper(): GpHyper {
    return this.fitted.hyper;
  }

  /** Signal variance in the targets' units². */
  get signalVariance(): number {
    return this.fitted.signalVar * this.yScale ** 2;
  }

  /** Noise variance in the targets' units². */
  get noiseVariance(): number {
    return this.fitted.hyper.noise * this.signalVariance;
  }

  /** Log posterior of the chosen hyperparameters (standardized units): higher fits better. */
  get score(): number {
    return this.fitted.score;
  }

  /**
   * Fits a GP to targets y at points (at least one). All points must have the same number
   * of ordinal and categorical coordinates.
   */
  static fit(points: readonly GpPoint[], y: readonly number[], opts: GpFitOptions = {}): GaussianProcess {
    if (points.length === 0 || points.length !== y.length) throw new Error(`GaussianProcess.fit: ${points.length} points and ${y.length} targets`);
    const n = y.length;
    const mean = y.reduce((s, v) => s + v, 0) / n;
    const sd = Math.sqrt(y.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
    const scale = Math.max(sd, opts.minScale ?? 1e-9, 1e-12);
    const ys = y.map((v) => (v - mean) / scale);
    const dOrd = points[0]!.ord.length;
    const dCat = points[0]!.cat.length;
    const lsGrid = opts.lengthscaleGrid ?? LENGTHSCALE_GRID;
    const corrGrid = opts.correlationGrid ?? CORRELATION_GRID;
    const noiseGrid = opts.noiseGrid ?? NOISE_GRID;
    const fixed = opts.fixed ?? {};

    const nearest = (grid: readonly number[], v: number) => grid.reduce((b, g) => (Math.abs(Math.log(g / v)) < Math.abs(Math.log(b / v)) ? g : b));
    const lsCentre = Math.log(opts.lengthscalePrior ?? 0.5);
    const maxFit = Math.max(2, opts.maxFitPoints ?? 40);
    const subset = n <= maxFit ? null : Array.from({ length: maxFit }, (_, i) => Math.floor((i * n) / maxFit));
    const fitPoints = subset ? subset.map((i) => points[i]!) : points;
    const fitY = subset ? subset.map((i) => ys[i]!) : ys;
    let best: Fitted | null = null;
    const start: GpHyper = {
      lengthscales: fixed.lengthscales ? [...fixed.lengthscales] : Array.from({ length: dOrd }, () => nearest(lsGrid, 0.5)),
      catCorrelations: fixed.catCorrelations ? [...fixed.catCorrelations] : Array.from({ length: dCat }, () => nearest(corrGrid, 0.6)),
      noise: fixed.noise ?? nearest(noiseGrid, 1e-3),
    };
    const tryHyper = (h: GpHyper): boolean => {
      const f = evaluate(fitPoints, fitY, h, lsCentre);
      if (f && (best === null || f.score > best.score + 1e-12)) {
        best = f;
        return true;
      }
      return false;
    };
    tryHyper(start);
    // Coordinate search: each hyperparameter in turn over its grid, the others held.
    const sweeps = opts.sweeps ?? 2;
    for (let s = 0; s < sweeps; s++) {
      let changed = false;
      const cur = (): GpHyper => (best as Fitted | null)?.hyper ?? start;
      if (!fixed.lengthscales) {
        for (let d = 0; d < dOrd; d++) {
          for (const v of lsGrid) {
            const h = cur();
            if (h.lengthscales[d] === v) continue;
            changed = tryHyper({ ...h, lengthscales: h.lengthscales.map((x, i) => (i === d ? v : x)) }) || changed;
          }
        }
      }
      if (!fixed.catCorrelations) {
        for (let d = 0; d < dCat; d++) {
          for (const v of corrGrid) {
            const h = cur();
            if (h.catCorrelations[d] === v) continue;
            changed = tryHyper({ ...h, catCorrelations: h.catCorrelations.map((x, i) => (i === d ? v : x)) }) || changed;
          }
        }
      }
      if (fixed.noise === undefined) {
        for (const v of noiseGrid) {
          const h = cur();
          if (h.noise === v) continue;
          changed = tryHyper({ ...h, noise: v }) || changed;
        }
      }
      if (!changed) break;
    }
    const chosen: GpHyper = (best as Fitted | null)?.hyper ?? start;
    let final = subset || best === null ? evaluate(points, ys, chosen, lsCentre) : best;
    // Duplicate points with tiny noise can defeat the Cholesky: fall back to more noise.
    for (const noise of [1e-3, 0.01, 0.1]) {
      if (final) break;
      final = evaluate(points, ys, { ...chosen, noise: Math.max(chosen.noise, noise) }, lsCentre);
    }
    if (!final) throw new Error('GaussianProcess.fit: the kernel matrix is not positive definite');
    return new GaussianProcess(points, final, mean, scale);
  }

  /** Posterior mean and variance of the latent function (noise excluded) at each point. */
  predict(at: readonly GpPoint[]): { mean: number[]; variance: number[] } {
    const n = this.points.length;
    const m = at.length;
    if (m === 0) return { mean: [], variance: [] };
    const ks = new Matrix(n, m);
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) ks.set(i, j, correlation(this.points[i]!, at[j]!, this.fitted.hyper));
    // A⁻¹ once, then one product: cheaper than two triangular solves per candidate column.
    this.inverse ??= this.fitted.chol.solve(Matrix.eye(n));
    const v = this.inverse.mmul(ks);
    const mean: number[] = new Array(m);
    const variance: number[] = new Array(m);
    const s2 = this.fitted.signalVar;
    for (let j = 0; j < m; j++) {
      let mu = 0;
      let q = 0;
      for (let i = 0; i < n; i++) {
        const k = ks.get(i, j);
        mu += k * this.fitted.alpha.get(i, 0);
        q += k * v.get(i, j);
      }
      mean[j] = this.yMean + this.yScale * mu;
      variance[j] = Math.max(s2 * (1 - q), 1e-12) * this.yScale ** 2;
    }
    return { mean, variance };
  }
}

// Normal distribution helpers, with logs that stay finite far in the tails.

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

export function normPdf(x: number): number {
  return Math.exp(-0.5 * x * x - LOG_SQRT_2PI);
}

/** Standard normal CDF (Numerical Recipes' erfc fit: relative error below 1.2e-7). */
export function normCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}

/** log Φ(x), accurate for very negative x (asymptotic series) where Φ underflows. */
export function logNormCdf(x: number): number {
  if (x > -5) return Math.log(normCdf(x));
  const x2 = x * x;
  return -0.5 * x2 - LOG_SQRT_2PI - Math.log(-x) + Math.log(1 - 1 / x2 + 3 / (x2 * x2));
}

/**
 * log of the expected improvement over `best` of a normal(mean, sd²) value:
 * EI = sd·(φ(u) + u·Φ(u)), u = (mean − best)/sd; stable for very negative u.
 */
export function logExpectedImprovement(mean: number, sd: number, best: number): number {
  if (!(sd > 0)) return mean > best ? Math.log(mean - best) : -Infinity;
  const u = (mean - best) / sd;
  let logH: number;
  // φ(u) + u·Φ(u) cancels badly for u << 0; there it is φ(u)/u²·(1 − 3/u² + 15/u⁴ …).
  if (u > -5) logH = Math.log(Math.max(normPdf(u) + u * normCdf(u), 1e-300));
  else logH = -0.5 * u * u - LOG_SQRT_2PI - 2 * Math.log(-u) + Math.log(1 - 3 / (u * u) + 15 / (u * u * u * u));
  return Math.log(sd) + logH;
}
