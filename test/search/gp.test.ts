import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GaussianProcess, logExpectedImprovement, logNormCdf, normCdf, normPdf, type GpPoint } from '../../src/search/gp.js';

const f = (x: number, y: number) => Math.sin(3 * x) + 0.5 * Math.cos(2 * y) + x * y;
const grid: GpPoint[] = [];
for (let i = 0; i < 5; i++) for (let j = 0; j < 4; j++) grid.push({ ord: [i / 4, j / 3], cat: [] });
const ys = grid.map((p) => f(p.ord[0]!, p.ord[1]!));

describe('GaussianProcess', () => {
  it('posterior mean interpolates noise-free data', () => {
    const gp = GaussianProcess.fit(grid, ys);
    assert.ok(gp.hyper.noise <= 1e-3, `fitted noise ${gp.hyper.noise}`);
    const { mean } = gp.predict(grid);
    mean.forEach((m, i) => assert.ok(Math.abs(m - ys[i]!) < 0.02, `${m} vs ${ys[i]}`));
    // And predicts reasonably between the points.
    const mid = { ord: [0.375, 0.5], cat: [] };
    assert.ok(Math.abs(gp.predict([mid]).mean[0]! - f(0.375, 0.5)) < 0.15);
  });

  it('variance shrinks at observed points and grows away from them', () => {
    const gp = GaussianProcess.fit(grid, ys);
    const atData = gp.predict(grid).variance;
    const far = gp.predict([{ ord: [3, 3], cat: [] }]).variance[0]!;
    const between = gp.predict([{ ord: [0.125, 1 / 6], cat: [] }]).variance[0]!;
    for (const v of atData) assert.ok(v < between, `${v} < ${between}`);
    assert.ok(between < far);
    assert.ok(Math.max(...atData) < 0.01 * gp.signalVariance);
    assert.ok(Math.abs(far - gp.signalVariance) / gp.signalVariance < 0.01, 'far away: the prior variance');
  });

  it('fits a noise term to noisy data, and then does not interpolate it', () => {
    let s = 1;
    const noise = () => {
      s = (s * 16807) % 2147483647;
      return (s / 2147483647 - 0.5) * 0.6;
    };
    const pts: GpPoint[] = [];
    const y: number[] = [];
    for (let i = 0; i < 30; i++) {
      const x = (i % 10) / 9;
      pts.push({ ord: [x], cat: [] });
      y.push(Math.sin(3 * x) + noise());
    }
    const gp = GaussianProcess.fit(pts, y);
    assert.ok(gp.noiseVariance > 0.005, `noise variance ${gp.noiseVariance}`);
    const { mean } = gp.predict(pts);
    const resid = mean.map((m, i) => Math.abs(m - y[i]!));
    assert.ok(Math.max(...resid) > 0.05, 'does not chase the noise');
    const truthErr = pts.map((p, i) => Math.abs(mean[i]! - Math.sin(3 * p.ord[0]!)));
    assert.ok(truthErr.reduce((a, b) => a + b, 0) / truthErr.length < 0.15);
  });

  it('learns how much categories share: unrelated categories, low correlation', () => {
    const pts: GpPoint[] = [];
    const y: number[] = [];
    for (let i = 0; i < 8; i++) {
      pts.push({ ord: [i / 7], cat: [0] }, { ord: [i / 7], cat: [1] });
      y.push(Math.sin(4 * i / 7), -Math.sin(4 * i / 7));
    }
    assert.ok(GaussianProcess.fit(pts, y).hyper.catCorrelations[0]! <= 0.35);
    const same = y.map((v, i) => (i % 2 ? y[i - 1]! : v));
    assert.ok(GaussianProcess.fit(pts, same).hyper.catCorrelations[0]! >= 0.8);
  });

  it('is deterministic, and copes with one point and with duplicates', () => {
    const a = GaussianProcess.fit(grid, ys);
    const b = GaussianProcess.fit(grid, ys);
    assert.deepEqual(a.hyper, b.hyper);
    assert.deepEqual(a.predict(grid), b.predict(grid));
    const one = GaussianProcess.fit([{ ord: [0.5], cat: [] }], [3]);
    const p = one.predict([{ ord: [0.5], cat: [] }, { ord: [0.9], cat: [] }]);
    assert.ok(Math.abs(p.mean[0]! - 3) < 1e-6);
    assert.ok(p.variance[1]! > p.variance[0]!);
    const dup = GaussianProcess.fit([{ ord: [0.2], cat: [] }, { ord: [0.2], cat: [] }, { ord: [0.8], cat: [] }], [1, 1.1, 2]);
    assert.ok(Number.isFinite(dup.predict([{ ord: [0.5], cat: [] }]).mean[0]!));
    assert.throws(() => GaussianProcess.fit([], []), /0 points/);
  });

  it('fits hyperparameters on a subset of a long history, the posterior on all of it', () => {
    const pts: GpPoint[] = [];
    const y: number[] = [];
    for (let i = 0; i < 120; i++) {
      const x = (i * 0.6180339887) % 1;
      pts.push({ ord: [x, (i * 0.41) % 1], cat: [] });
      y.push(f(x, (i * 0.41) % 1));
    }
    const gp = GaussianProcess.fit(pts, y, { maxFitPoints: 30 });
    const { mean } = gp.predict(pts);
    mean.forEach((m, i) => assert.ok(Math.abs(m - y[i]!) < 0.05));
  });
});

describe('normal helpers', () => {
  it('normCdf and normPdf match known values', () => {
    assert.ok(Math.abs(normCdf(0) - 0.5) < 1e-7);
    assert.ok(Math.abs(normCdf(1.96) - 0.9750021) < 1e-6);
    assert.ok(Math.abs(normCdf(-3) - 0.0013499) < 1e-6);
    assert.ok(Math.abs(normPdf(0) - 0.3989423) < 1e-6);
  });

  it('logNormCdf stays finite and continuous in the far tail', () => {
    assert.ok(Math.abs(logNormCdf(-4.999) - logNormCdf(-5.001)) < 0.02);
    assert.ok(Number.isFinite(logNormCdf(-40)));
    assert.ok(logNormCdf(-40) < logNormCdf(-39));
    assert.ok(Math.abs(logNormCdf(-1) - Math.log(normCdf(-1))) < 1e-9);
  });

  it('logExpectedImprovement matches the closed form and is monotone', () => {
    const ei = (m: number, s: number, b: number) => {
      const u = (m - b) / s;
      return s * (normPdf(u) + u * normCdf(u));
    };
    for (const [m, s, b] of [[0, 1, 0], [1, 0.5, 0.2], [-1, 0.3, 0], [0.1, 0.05, 0.3]] as const) {
      assert.ok(Math.abs(Math.exp(logExpectedImprovement(m, s, b)) - ei(m, s, b)) < 1e-6 * Math.max(1, ei(m, s, b)));
    }
    assert.ok(Math.abs(logExpectedImprovement(-4.999, 1, 0) - logExpectedImprovement(-5.001, 1, 0)) < 0.02, 'continuous where the formula switches');
    assert.ok(Number.isFinite(logExpectedImprovement(-30, 1, 0)));
    assert.ok(logExpectedImprovement(-30, 1, 0) < logExpectedImprovement(-29, 1, 0));
    assert.equal(logExpectedImprovement(1, 0, 0), 0);
    assert.equal(logExpectedImprovement(-1, 0, 0), -Infinity);
  });
});
