// Layer normalisation under the exact protocols: y = gamma (x - mean) / sqrt(var + epsilon) + beta
// over the last axis, with no private division: 1/sqrt comes from a fitted cubic and two Newton steps on a value scaled into [1, 4),
// the scale an exact power of two chosen by comparisons, so the relative precision does not depend
// on the rows' spread.
//
// Steps, per row of the last axis (n values):
// 1. d = x - mean(x); v = mean(d^2) + epsilon. (One product round.)
// 2. s = 2^-e with 4^e <= v < 4^(e+1), e in [K_MIN, K_MAX] (powerOfFourScale: one batched DReLU on
//    the rows, the sum local), exact in fixed point.
// 3. d' = d s and v' = mean(d'^2) + epsilon s^2, in [1, 4) (from d', so that d's rounding is not
//    scaled by s^2 again), clamped to [1, 4] by two relus on the rows (rows whose variance is
//    below 4^K_MIN or at 4^(K_MAX+1) and above: see the bounds below).
// 4. r = 1/sqrt(v') from a cubic fitted on [1, 4] (relative error 1.2e-2) and two Newton steps
//    r <- r (1.5 - 0.5 v' r^2) (7.7e-8 in float64; fixed point dominates).
// 5. y = d' r (= d / sqrt(v)), then gamma y + beta.
// Nothing here is a new protocol step: DReLU and Beaver products as everywhere else, on values
// the servers hold as shares; the power of two is summed locally from DReLU's output shares.
import { fitPolynomial } from '../math/poly_fit';
import { add, reduceSum, sub } from './ops';
import { mul, relu, square } from './ops_nonlinear';
import { powerOfFourScale } from './securenn_ops';
import type { AnyTensor } from './tensor';

/** The scaled variance's range: 4^K_MIN = 6.1e-5 (four fixed-point units at 16 bits) to 4^(K_MAX+1) = 4.3e9. */
export const K_MIN = -7, K_MAX = 15;

/** The cubic in u = v - 2.5 fitted to g on [1, 4] (least squares on 3001 points). */
function cubicOn1to4(g: (v: number) => number): number[] {
  const xs = Float64Array.from({ length: 3001 }, (_, i) => 1 + (3 * i) / 3000);
  return fitPolynomial(xs.map((x) => x - 2.5), xs.map(g), 3);
}

/**
 * g(v) for a private v in [1, 4] from its cubic fitted there (`fitted` memoises it): the starting
 * point of the Newton steps of LayerNormalization's 1/sqrt and softmax's 1/S. Two products deep.
 */
export function cubicOn1to4At(v: AnyTensor, fitted: { coeffs?: number[]; g: (v: number) => number }): AnyTensor {
  const [c0, c1, c2, c3] = (fitted.coeffs ??= cubicOn1to4(fitted.g));
  const u = sub(v, 2.5), u2 = square(u);
  return add(add(add(mul(u, c1), mul(u2, c2)), mul(mul(u2, u), c3)), c0);
}

const RSQRT: { coeffs?: number[]; g: (v: number) => number } = { g: (v) => 1 / Math.sqrt(v) };

export interface LayerNormOptions {
  epsilon: number;
  /** Per-channel scale and shift (shape [n], broadcast over the rows); absent: 1 and 0. */
  gamma?: AnyTensor;
  beta?: AnyTensor;
}

/** LayerNormalization over the last axis of a private x (see the header for the method). */
export function layerNormOp(x: AnyTensor, opts: LayerNormOptions): AnyTensor {
  const n = x.shape[x.shape.length - 1], inv = 1 / n, eps = opts.epsilon;
  const keep = x.rank - 1;
  const d = sub(x, mul(reduceSum(x, keep, true), inv));
  const v = add(mul(reduceSum(square(d), keep, true), inv), eps);
  const s = powerOfFourScale(v, K_MIN, K_MAX);
  const dp = mul(d, s);
  const vp = add(mul(reduceSum(square(dp), keep, true), inv), mul(square(s), eps));
  const low = add(relu(sub(vp, 1)), 1);
  const vc = sub(low, relu(sub(low, 4)));
  let r = cubicOn1to4At(vc, RSQRT);
  for (let i = 0; i < 2; i++) r = mul(r, add(mul(mul(mul(vc, 0.5), square(r)), -1), 1.5));
  let y = mul(dp, r);
  if (opts.gamma) y = mul(y, opts.gamma);
  if (opts.beta) y = add(y, opts.beta);
  return y;
}
