/**
 * Latency statistics over the load generator's HDR histograms (µs, src/load/histogram.ts): nearest-rank percentiles
 * (perf_analyzer 2.60 takes index round(p·(n−1)) of the sorted latencies: at most one rank apart) and a
 * window-agreement rule modelled on perf_analyzer's, and the median the benchmarks and regress use. Pure: no clocks, no I/O.
 */
import type { LatencyHistogram } from '../load/histogram.js';

/** Percentiles in the unit of the source (µs for the histograms built here). */
export interface Percentiles {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
}


/** The median (the mean of the two middle values of an even count); NaN when empty. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The nearest-rank percentile of ascending values: the ceil(p/100 · n)-th smallest. NaN when empty. */
export function nearestRank(sorted: readonly number[], p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  // The epsilon keeps 0.99 * 100 = 99.00000000000001 from skipping a rank.
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n - 1e-9)));
  return sorted[rank - 1]!;
}

function isHistogram(x: unknown): x is LatencyHistogram {
  return typeof x === 'object' && x !== null && typeof (x as LatencyHistogram).getValueAtPercentile === 'function';
}

/**
 * p50/p90/p95/p99 by nearest rank, from a histogram or from ascending latencies.
 * From a histogram the value is the top of the rank's bucket (exact below 2048 µs,
 * within 0.1% above), so a p99 is never reported lower than measured. NaN when empty.
 */
export function percentiles(source: LatencyHistogram | readonly number[]): Percentiles {
  if (isHistogram(source)) {
    if (source.totalCount === 0) return { p50: Number.NaN, p90: Number.NaN, p95: Number.NaN, p99: Number.NaN };
    return {
      p50: source.getValueAtPercentile(50),
      p90: source.getValueAtPercentile(90),
      p95: source.getValueAtPercentile(95),
      p99: source.getValueAtPercentile(99),
    };
  }
  return {
    p50: nearestRank(source, 50),
    p90: nearestRank(source, 90),
    p95: nearestRank(source, 95),
    p99: nearestRank(source, 99),
  };
}

export interface WindowFigures {
  throughputIps: number;
  p99Ms: number;
}

/**
 * The last `count` windows each lie within ±tolerance of their mean, on throughput and on
 * p99. Modelled on perf_analyzer's rule but looser: perf_analyzer 2.60 wants max/min of the
 * last 3 windows within 1 + tolerance, on throughput and on the average latency (or on
 * --percentile's), so 0.9 and 1.1 of the mean pass here and fail there. Fewer windows, a
 * non-finite value or a window with no throughput is never stable.
 */
export function isStable(windows: readonly WindowFigures[], tolerance = 0.1, count = 3): boolean {
  if (count < 1 || windows.length < count) return false;
  const last = windows.slice(-count);
  const within = (values: number[]): boolean => {
    if (!values.every(Number.isFinite)) return false;
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    // A relative slack of 1e-12 absorbs rounding when a value sits exactly on the bound.
    return values.every((v) => Math.abs(v - mean) <= tolerance * Math.abs(mean) * (1 + 1e-12));
  };
  if (last.some((w) => !(w.throughputIps > 0))) return false;
  return within(last.map((w) => w.throughputIps)) && within(last.map((w) => w.p99Ms));
}

/**
 * Ranks (1-based) of the order statistics that bound the q-quantile with at least `level`
 * confidence: the distribution-free order-statistic interval. Of n independent samples, the
 * number B at or below the true quantile ξ is Binomial(n, q), and X(r) ≤ ξ < X(s) exactly
 * when r ≤ B ≤ s − 1. `lo` is the largest r with P(B ≤ r − 1) ≤ α/2, `hi` the smallest s with
 * P(B ≥ s) ≤ α/2, so the coverage is at least 1 − α (it is reported exactly). lo = 0: no
 * lower bound; hi = n + 1: no upper bound (too few samples to bound a p99: under ~300 for 95%).
 *
 * The assumption is independence: latencies of one load point are correlated in time (a slow
 * spell slows its neighbours), which makes this interval optimistic. perf_analyzer reports
 * none; this one is a floor on the uncertainty, and measureLoadPoint extends the measurement
 * when the target falls inside it instead of guessing.
 */
export function quantileRankInterval(n: number, q: number, level = 0.95): { lo: number; hi: number; coverage: number } {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`sample count must be an integer >= 0, got ${n}`);
  if (!(q > 0 && q < 1)) throw new RangeError(`quantile must lie in (0, 1), got ${q}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`confidence level must lie in (0, 1), got ${level}`);
  if (n === 0) return { lo: 0, hi: 1, coverage: 1 };
  const alpha = 1 - level;
  // Binomial(n, q) pmf over a window around the mode (the mass outside is below 1e-20),
  // built from the mode by ratios and normalised, so no factorials overflow.
  const mode = Math.min(n, Math.floor((n + 1) * q));
  const sd = Math.sqrt(n * q * (1 - q));
  const from = Math.max(0, Math.floor(mode - 12 * sd - 12));
  const to = Math.min(n, Math.ceil(mode + 12 * sd + 12));
  const pmf = new Float64Array(to - from + 1);
  pmf[mode - from] = 1;
  const odds = q / (1 - q);
  for (let k = mode; k < to; k++) pmf[k + 1 - from] = pmf[k - from]! * ((n - k) / (k + 1)) * odds;
  for (let k = mode; k > from; k--) pmf[k - 1 - from] = pmf[k - from]! * (k / (n - k + 1)) / odds;
  let total = 0;
  for (const v of pmf) total += v;
  // cdf(k) = P(B ≤ k) for k in [from, to]; below `from` it is ~0, from `to` on ~1.
  const cdf = (k: number): number => {
    if (k < from) return 0;
    if (k >= to) return 1;
    let s = 0;
    for (let i = from; i <= k; i++) s += pmf[i - from]!;
    return s / total;
  };
  // Largest r with cdf(r − 1) ≤ α/2 (r − 1 ≥ 0), else 0.
  let lo = 0;
  {
    let acc = 0;
    for (let k = from; k <= Math.min(to, n - 1); k++) {
      acc += pmf[k - from]! / total;
      if (acc <= alpha / 2) lo = k + 1;
      else break;
    }
  }
  // Smallest s with 1 − cdf(s − 1) ≤ α/2, i.e. cdf(s − 1) ≥ 1 − α/2.
  let hi = n + 1;
  {
    let acc = 0;
    for (let k = from; k <= to; k++) {
      acc += pmf[k - from]! / total;
      if (acc >= 1 - alpha / 2) {
        hi = k + 1;
        break;
      }
    }
  }
  if (hi > n) hi = n + 1;
  const coverage = Math.min(1, (hi > n ? 1 : cdf(hi - 1)) - (lo > 0 ? cdf(lo - 1) : 0));
  return { lo, hi, coverage };
}

/** The r-th smallest recorded value (1-based; the top of its bucket, as `percentiles`). */
export function valueAtRank(h: LatencyHistogram, rank: number): number {
  const n = h.totalCount;
  if (rank < 1) return 0;
  if (rank > n) return Number.POSITIVE_INFINITY;
  return h.getValueAtPercentile((100 * rank) / n);
}

/**
 * Confidence interval of a histogram's q-quantile (default p99), in its unit (µs here):
 * [X(lo), X(hi)] of quantileRankInterval; [0, ∞] when empty.
 */
export function quantileInterval(h: LatencyHistogram, q = 0.99, level = 0.95): [number, number] {
  const n = h.totalCount;
  if (n === 0) return [0, Number.POSITIVE_INFINITY];
  const { lo, hi } = quantileRankInterval(n, q, level);
  return [valueAtRank(h, lo), valueAtRank(h, hi)];
}

// ---- Student's t, for intervals over a few windows or repeats ----

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits). */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The regularized incomplete beta function I_x(a, b), by its continued fraction (modified Lentz). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  // The fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x)) / a;
  const tiny = 1e-300;
  let f = 1;
  let c = 1;
  let d = 0;
  for (let i = 0; i <= 300; i++) {
    const m = i >> 1;
    const num = i === 0 ? 1 : i % 2 === 0 ? (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)) : -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 + num * d;
    d = Math.abs(d) < tiny ? tiny : d;
    d = 1 / d;
    c = 1 + num / c;
    c = Math.abs(c) < tiny ? tiny : c;
    const cd = c * d;
    f *= cd;
    if (Math.abs(1 - cd) < 1e-14) break;
  }
  return front * (f - 1);
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/**
 * The p-quantile of Student's t with `df` degrees of freedom (p in (0, 1), df > 0), by
 * bisection of the distribution function: e.g. (0.975, 2) is 4.303, the half-width factor
 * of a 95% interval from 3 values.
 */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`probability must lie in (0, 1), got ${p}`);
  if (!(df > 0)) throw new RangeError(`degrees of freedom must be > 0, got ${df}`);
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * Confidence interval of the q-quantile of latencies measured in consecutive windows: the
 * pooled histogram's order-statistic interval (quantileInterval), widened to hold the batch
 * quantiles' interval, the pooled quantile ± t · s / √n where s is the standard deviation of
 * the windows' own q-quantiles (Heidelberger and Lewis's batch method). The order-statistic
 * interval assumes independent latencies; a slow spell that lasts a window (a busy neighbour,
 * a collection in the server) moves whole windows, which only the spread between windows
 * shows. On a shared 2-core machine the windows' p99 at one load point ranged over ±25% where
 * the pooled interval claimed ±5%, and a load search deciding on it flipped between runs.
 * Windows without completions are left out; with fewer than two left, the pooled interval.
 */
export function quantileIntervalAcrossWindows(windows: readonly LatencyHistogram[], pooled: LatencyHistogram, q = 0.99, level = 0.95): [number, number] {
  const [lo, hi] = quantileInterval(pooled, q, level);
  const per = windows.filter((h) => h.totalCount > 0).map((h) => h.getValueAtPercentile(100 * q));
  if (per.length < 2 || pooled.totalCount === 0) return [lo, hi];
  const mean = per.reduce((a, b) => a + b, 0) / per.length;
  const sd = Math.sqrt(per.reduce((a, x) => a + (x - mean) ** 2, 0) / (per.length - 1));
  const half = (studentTQuantile(1 - (1 - level) / 2, per.length - 1) * sd) / Math.sqrt(per.length);
  const centre = pooled.getValueAtPercentile(100 * q);
  return [Math.max(0, Math.min(lo, centre - half)), Math.max(hi, centre + half)];
}
