// Layer normalisation under the exact protocols: y = gamma (x - mean) / sqrt(var + epsilon) + beta
// over the last axis, with no private division: 1/sqrt comes from a fitted cubic and two Newton
// steps on a value scaled into [1, 4), the scale an exact power of two chosen by comparisons, so
// the relative precision does not depend on the rows' spread.
//
// Why two scalings: a product's local truncation fails with probability |product| / 2^64 at
// scale 2^2f (docs/pond.md), so squaring a row whose values reach 3464 (a spread of 2000) fails
// for about 1 element in 1 000, and one failure ruins the row. d^2 is therefore first taken at a
// coarse scale (d 2^-T, safe for d up to 2^15), only to bring the row into [4^-7, 4^(C+1)); the
// exact variance is taken after that, on values whose squares are small.
//
// Steps, per row of the last axis (n values):
// 1. d = x - mean(x).
// 2. Coarse: a = mean((d 2^-T)^2) = v 4^-T; s1 = 2^(C - e1) for 4^e1 <= v < 4^(e1+1), e1 in
//    [C, K_MAX] (powerOfFourScale on a: one batched DReLU on the rows), so s1 = 1 for rows
//    already below 4^(C+1). a's resolution is 4^T 2^-f in v, fine against the thresholds from
//    4^(C+1) up: a row near one may get s1 twice too large, which step 3 absorbs.
// 3. d1 = d s1, v1 = mean(d1^2) + epsilon s1^2 (< 4^(C+1), or just above it).
// 4. s2 = 2^-e2 with 4^e2 <= v1 < 4^(e2+1), e2 in [K_MIN, C+1] (powerOfFourScale again), exact.
// 5. d' = d1 s2 and v' = mean(d'^2) + epsilon (s1 s2)^2, in [1, 4) (from d', so that d1's
//    rounding is not scaled by s2^2 again), clamped to [1, 4] by two relus on the rows (rows whose
//    variance is below 4^K_MIN or at 4^(K_MAX+1) and above: see the bounds below).
// 6. r = 1/sqrt(v') from a cubic fitted on [1, 4] (relative error 1.2e-2) and two Newton steps
//    r <- r (1.5 - 0.5 v' r^2) (7.7e-8 in float64; fixed point dominates).
// 7. y = d' r (= d / sqrt(v)), then gamma y + beta.
// Nothing here is a new protocol step: DReLU and Beaver products as everywhere else, on values
// the servers hold as shares; the powers of two are summed locally from DReLU's output shares.
import { fitPolynomial } from '../math/poly_fit';
import { add, reduceSum, sub } from './ops';
import { mul, relu, square } from './ops_nonlinear';
import { powerOfFourScale } from './securenn_ops';
import type { AnyTensor } from './tensor';

/** The variance's range: 4^K_MIN = 6.1e-5 (four fixed-point units at 16 bits) to 4^(K_MAX+1) = 4.3e9. */
export const K_MIN = -7, K_MAX = 15;
/**
 * The coarse step's pre-scale 2^-T and target 4^(C+1): its squares fail with probability
 * d^2 2^(2f-2T-64) (2^-24.5 per element at d = 3464), the exact step's about n 4^(C+1) 2^-2f per
 * row, and 4^(C+1) = 16 is 16 units of the coarse resolution 4^T 2^-f.
 */
const T = 8, C = 1;

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
  const coarse = mul(reduceSum(square(mul(d, 2 ** -T)), keep, true), inv);
  const s1 = powerOfFourScale(coarse, C - T, K_MAX - T, C - T);
  const d1 = mul(d, s1);
  const v1 = add(mul(reduceSum(square(d1), keep, true), inv), mul(square(s1), eps));
  const s2 = powerOfFourScale(v1, K_MIN, C + 1);
  const dp = mul(d1, s2);
  // epsilon times the whole scale squared, from the scales (exact powers of two) rather than from
  // v1's epsilon term, whose rounding s2^2 (up to 4^7) would magnify.
  const vp = add(mul(reduceSum(square(dp), keep, true), inv), mul(square(mul(s1, s2)), eps));
  const low = add(relu(sub(vp, 1)), 1);
  const vc = sub(low, relu(sub(low, 4)));
  let r = cubicOn1to4At(vc, RSQRT);
  for (let i = 0; i < 2; i++) r = mul(r, add(mul(mul(mul(vc, 0.5), square(r)), -1), 1.5));
  let y = mul(dp, r);
  if (opts.gamma) y = mul(y, opts.gamma);
  if (opts.beta) y = add(y, opts.beta);
  return y;
}
