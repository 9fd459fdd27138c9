// Layer normalisation under the exact protocols: y = gamma (x - mean) / sqrt(var + epsilon) + beta
// over the last axis, with no private division: 1/sqrt comes from a fitted cubic and two Newton
// steps on a value scaled into [1, 4), the scale an exact power of two chosen by comparisons, so
// the relative precision does not depend on the rows' spread.
//
// Why two estimates of the variance: a product's local truncation fails with probability
// |product| / 2^64 at scale 2^2f (docs/pond.md), so squaring a row whose values reach 3464 (a
// spread of 2000) fails for about one element in a thousand, and one failure ruins the row. The
// squares are therefore also taken of d 2^-T, safe up to the fixed-point range but coarse, and
// the comparisons read the fine estimate for small variances and the coarse one for large.
//
// Steps, per row of the last axis (n values):
// 1. d = x - mean(x); v = mean(d^2) + epsilon and a = mean((d 2^-T)^2) = v 4^-T, both squares in
//    one product round.
// 2. s = 2^-e with 4^e <= v < 4^(e+1), e in [K_MIN, K_MAX] (powerOfFourScaleWide: one batched
//    DReLU on the rows, thresholds up to 4^SPLIT on v and above on a, then one selection by the
//    bit [a >= 4^(SPLIT+1-T)]), exact in fixed point.
// 3. d' = d s and v' = mean(d'^2) + epsilon s^2, in [1, 4) but for the estimates' rounding near
//    the thresholds (a few percent at most), clamped to [LO, HI] = [0.9, 4.4] by one batched relu on
//    the rows (rows whose variance is below 4^K_MIN or at 4^(K_MAX+1) and above: see the bounds
//    below). v' comes from d', so that d's rounding is not scaled by s^2 again.
// 4. r = 1/sqrt(v') from a cubic fitted on [LO, HI] (relative error 2.0e-2) and two Newton steps
//    r <- r (1.5 - 0.5 v' r^2) (5.6e-7 in float64; fixed point dominates).
// 5. y = d' r (= d / sqrt(v)), then gamma y + beta.
// Nothing here is a new protocol step: DReLU and Beaver products as everywhere else, on values
// the servers hold as shares; the powers of two are summed locally from DReLU's output shares.
import { fitPolynomial } from '../math/poly_fit';
import { add, concat, neg, reduceSum, reshape, slice, sub } from './ops';
import { mul, relu, square } from './ops_nonlinear';
import { powerOfFourScaleWide } from './securenn_ops';
import type { AnyTensor } from './tensor';

/** The variance's range: 4^K_MIN = 6.1e-5 (four fixed-point units at 16 bits) to 4^(K_MAX+1) = 4.3e9. */
export const K_MIN = -7, K_MAX = 15;
/**
 * The coarse estimate's pre-scale 2^-T, and the last threshold the fine one decides, 4^SPLIT.
 * Coarse squares fail with probability d^2 2^(2f-2T-64) (2^-22.5 per element at d = 3464, 2^-14
 * at d = 65536); fine ones matter only below 4^(SPLIT+1) = 16, about n 16 2^-2f per row. The
 * coarse resolution in v is 4^T 2^-f = 0.25, about two of its units with the truncations, so its
 * decisions at 16 and up are off by 3% at most, inside the clamp's slack.
 */
const T = 7, SPLIT = 1;
/** The range v' is clamped to and 1/sqrt fitted on: [1, 4) and the coarse decisions' slack. */
const LO = 0.9, HI = 4.4;

/** A function fitted on [lo, hi] (memoised on first use). */
export interface Fitted {
  g: (v: number) => number;
  lo: number;
  hi: number;
  coeffs?: number[];
}

/** The cubic in u = v - (lo + hi) / 2 fitted to g on [lo, hi] (least squares on 3001 points). */
function cubicFit(f: Fitted): number[] {
  const xs = Float64Array.from({ length: 3001 }, (_, i) => f.lo + ((f.hi - f.lo) * i) / 3000);
  return fitPolynomial(xs.map((x) => x - (f.lo + f.hi) / 2), xs.map(f.g), 3);
}

/**
 * g(v) for a private v in [lo, hi] from its cubic fitted there: the starting point of the Newton
 * steps of LayerNormalization's 1/sqrt and softmax's 1/S. Two products deep.
 */
export function fittedCubicAt(v: AnyTensor, fitted: Fitted): AnyTensor {
  const [c0, c1, c2, c3] = (fitted.coeffs ??= cubicFit(fitted));
  const u = sub(v, (fitted.lo + fitted.hi) / 2), u2 = square(u);
  return add(add(add(mul(u, c1), mul(u2, c2)), mul(mul(u2, u), c3)), c0);
}

const RSQRT: Fitted = { g: (v) => 1 / Math.sqrt(v), lo: LO, hi: HI };

export interface LayerNormOptions {
  epsilon: number;
  /** Per-channel scale and shift (shape [n], broadcast over the rows); absent: 1 and 0. */
  gamma?: AnyTensor;
  beta?: AnyTensor;
}

/** [a; b] along a new first axis (two tensors of one shape), so that one op runs on both. */
function stack2(a: AnyTensor, b: AnyTensor): AnyTensor {
  return concat([reshape(a, [1, ...a.shape]), reshape(b, [1, ...b.shape])], 0);
}

/** The first (0) or second (1) of a stack2. */
function half(t: AnyTensor, which: 0 | 1): AnyTensor {
  return reshape(slice(t, t.shape.map((_, i) => (i === 0 ? which : 0)), [1, ...t.shape.slice(1)]), t.shape.slice(1));
}

/** LayerNormalization over the last axis of a private x (see the header for the method). */
export function layerNormOp(x: AnyTensor, opts: LayerNormOptions): AnyTensor {
  const n = x.shape[x.shape.length - 1], inv = 1 / n, eps = opts.epsilon;
  const keep = x.rank - 1;
  const d = sub(x, mul(reduceSum(x, keep, true), inv));
  // d and d 2^-T squared in one product round; the two row means split apart again.
  const means = mul(reduceSum(square(stack2(d, mul(d, 2 ** -T))), -1, true), inv);
  const v = add(half(means, 0), eps), coarse = half(means, 1);
  const s = powerOfFourScaleWide(v, coarse, T, K_MIN, SPLIT, K_MAX);
  const dp = mul(d, s);
  const vp = add(mul(reduceSum(square(dp), keep, true), inv), mul(square(s), eps));
  // Clamped to [LO, HI] by one batched relu: vp + relu(LO - vp) - relu(vp - HI).
  const outside = relu(stack2(add(neg(vp), LO), sub(vp, HI)));
  const vc = sub(add(vp, half(outside, 0)), half(outside, 1));
  let r = fittedCubicAt(vc, RSQRT);
  for (let i = 0; i < 2; i++) r = mul(r, add(mul(mul(mul(vc, 0.5), square(r)), -1), 1.5));
  let y = mul(dp, r);
  if (opts.gamma) y = mul(y, opts.gamma);
  if (opts.beta) y = add(y, opts.beta);
  return y;
}
