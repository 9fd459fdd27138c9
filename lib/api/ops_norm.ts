// Layer normalisation under the exact protocols: y = gamma (x - mean) / sqrt(var + epsilon) + beta
// over the last axis (or, not centred, RMS normalisation: x / sqrt(mean(x^2) + epsilon)), with no
// private division: 1/sqrt comes from a fitted cubic and two Newton
// steps on a value scaled into [1, 4), the scale an exact power of two chosen by comparisons, so
// the relative precision does not depend on the rows' spread.
//
// No step divides by n or truncates a large value, because a local truncation fails with
// probability |value| / 2^64 (docs/pond.md) and 1/n in fixed point is off by up to n 2^-17
// relatively (0.4% at n = 768, an error in the mean that a row's offset multiplies). So the row is
// centred exactly in integers, the variance estimates are exact sums of squares compared against
// public thresholds, and the constants left are powers of two and one final sqrt(n / 2^q).
//
// Steps, per row of the last axis (n values; p = ceil(log2 n), q = 2 floor(log4 n), so a = n / 2^p
// lies in (1/2, 1] and c = n / 2^q in [1, 4)):
// 1. D = n x - sum(x) = n (x - mean), exact (an integer multiple and a sum); d~ = D 2^-p = a d, a
//    truncation by p bits (fails with probability about n |d| 2^(f+1-64): 2^-29 at n = 768 and
//    |d| = 256).
// 2. W = (sum d~^2 + n a^2 eps) / 2^q = a^2 c (var + eps), known two ways in one product round,
//    neither truncated (squareUntruncated): fine = sum of d~^2 at 2f fractional bits (exact, but
//    wraps where W reaches 2^(31-q)), and coarse = sum of (d~ rounded to h fractional bits)^2 at
//    2h (h = f/2 but for rows of 64 values or more: see below; it never wraps below 4^(K_MAX+1), and
//    its rounding is below 0.4% of W from 4^(SPLIT+1) up).
// 3. s = 2^-e with 4^e <= W < 4^(e+1), e in [k, K_MAX] (k = K_MIN, or lower for a small epsilon:
//    lowestExponent), and lambda s^2 with lambda =
//    n a^2 eps / 2^q (powerOfFourScaleWide: one batched DReLU on the rows, thresholds up to
//    4^SPLIT on fine and above on coarse, then one selection by the bit [coarse >= 4^(SPLIT+1)]),
//    exact in fixed point.
// 4. d' = d~ s and W' = (sum d'^2) 2^-q + lambda s^2 = W s^2, in [1, 4) (clamped to [LO, HI] by
//    one batched relu on the rows, for rows outside [4^k, 4^(K_MAX+1)): see the bounds below).
// 5. r = 1/sqrt(W') from a cubic fitted on [LO, HI] (relative error 2.0e-2) and two Newton steps
//    r <- r (1.5 - 0.5 W' r^2) (5.6e-7 in float64; fixed point dominates).
// 6. y = d' r sqrt(c) (= d / sqrt(var + eps)), then gamma y + beta.
// Nothing here is a new protocol step: DReLU and Beaver products as everywhere else, on values
// the servers hold as shares; the powers of two are summed locally from DReLU's output shares.
import { fitPolynomial } from '../math/poly_fit';
import { add, concat, neg, reduceSum, reshape, slice, sub } from './ops';
import { mul, relu, square, squareUntruncated } from './ops_nonlinear';
import { powerOfFourScaleWide } from './comparison_ops';
import type { AnyTensor, PrivateTensor } from './tensor';

/**
 * W's range, 4^K_MIN = 6.1e-5 to 4^(K_MAX+1) = 4.3e9 (var + eps within a factor a^2 c, 1/4 to 4,
 * of it). The thresholds up to 4^SPLIT read the fine estimate, exact while W < 2^(31-q), and the
 * larger ones the coarse, whose rounding is below 0.4% from 4^(SPLIT+1) = 1024 up.
 *
 * K_MIN goes lower where epsilon lets W go lower (W >= lambda = a^2 c eps): a transformer's 1e-6 or
 * 1e-12 on rows of small spread would otherwise be clamped, and off by up to 1 (the clamp makes
 * 1/sqrt too small). Not below K_FLOOR: there the row's standard deviation is about 2^-14, a few
 * units of the inputs' rounding, which alone puts the output off by a tenth; and 4^K_FLOOR
 * 2^(q+2f) stays an integer, so the fine thresholds are exact.
 */
export const K_MIN = -7, K_MAX = 15, K_FLOOR = -14;

/** The lowest exponent the scale needs: floor(log4 lambda) within [K_FLOOR, K_MIN]. */
export function lowestExponent(lambda: number): number {
  return lambda > 0 ? Math.max(K_FLOOR, Math.min(K_MIN, Math.floor(Math.log(lambda) / Math.log(4)))) : K_FLOOR;
}

/** A row of n values: p, q, a = n / 2^p and lambda = a^2 c eps = n a^2 eps / 2^q (the header's steps). */
function rowConstants(n: number, eps: number): { p: number; q: number; a: number; lambda: number } {
  const p = Math.ceil(Math.log2(n)), q = 2 * Math.floor(Math.log2(n) / 2), a = n / 2 ** p;
  return { p, q, a, lambda: (n * a * a * eps) / 2 ** q };
}

/** The comparisons per row of n values at this epsilon: the scale's thresholds and the clamp's two (22 + 2 at Keras's 1e-3). */
export function layerNormComparisons(n: number, eps: number): number {
  return K_MAX - lowestExponent(rowConstants(n, eps).lambda) + 2;
}
const SPLIT = 4;
/**
 * The bits of the centred row d~ = a d kept beyond f: its truncation by p bits rounded it at
 * 2^-f, up to 2^-f / a of d (a = n / 2^p, near 1/2 for rows just above a power of two in length),
 * four times the inputs' own rounding (a walkthrough measured 2 to 5 times their error at spreads
 * of 1e-3). Truncated by p - E bits, it is rounded at 2^-(f+E) / a, at most the inputs'.
 */
const E = 2;
/**
 * The last threshold read on the fine estimate for rows of n = 4^(q/2).. values at f fractional
 * bits: 4^SPLIT, or lower where 4^split 2^(q+f) at f fractional bits would pass 2^52, the public
 * scalars' exact range (rows of 4096 values or more at f = 16; a GroupNormalization over an
 * image's positions). The coarse estimate then decides from 4^(split+1) up, at h fractional bits
 * (3 at q = 14): its rounding, up to 6% of W there, can pick the scale a power of four off only
 * where W is within that of a threshold, which leaves W' within [LO, HI] (the clamp's slack).
 */
const splitFor = (q: number, f: number): number => Math.min(SPLIT, Math.floor((51 - q - 2 * f) / 2));
/** The range W' is clamped to and 1/sqrt fitted on: [1, 4) and some slack. */
const LO = 0.9, HI = 4.4;
/**
 * The widest row: q <= 14, so that the coarse estimate keeps 3 fractional bits (h) at f = 16, and
 * n x stays within the ring for |x| < 2^31.
 */
export const LAYER_NORM_MAX_WIDTH = 65535;

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
  /**
   * false: RMS normalisation, y = x / sqrt(mean(x^2) + epsilon) (Keras's RMSNormalization): the
   * same steps with D = n x, the row not centred.
   */
  centred?: boolean;
}

/** [a; b] along a new first axis (two tensors of one shape), so that one op runs on both. */
function stack2(a: AnyTensor, b: AnyTensor): AnyTensor {
  return concat([reshape(a, [1, ...a.shape]), reshape(b, [1, ...b.shape])], 0);
}

/** The first (0) or second (1) of a stack2. */
function half(t: AnyTensor, which: 0 | 1): AnyTensor {
  return reshape(slice(t, t.shape.map((_, i) => (i === 0 ? which : 0)), [1, ...t.shape.slice(1)]), t.shape.slice(1));
}

/**
 * LayerNormalization over the last axis of a private x (see the header for the method). Every
 * comparison in it takes the library's values (the variance against its thresholds, the clamp),
 * which fssBits does not bound: its ops are internal (OpCtx.internal).
 */
export function layerNormOp(x: AnyTensor, opts: LayerNormOptions): AnyTensor {
  return x.cluster.internalOps(() => layerNorm(x, opts));
}

function layerNorm(x: AnyTensor, opts: LayerNormOptions): AnyTensor {
  const n = x.shape[x.shape.length - 1], eps = opts.epsilon, f = x.cluster.fixed.fracBits, keep = x.rank - 1;
  if (!(n >= 1 && n <= LAYER_NORM_MAX_WIDTH)) throw new RangeError(`LayerNormalization: rows of ${n} values are not supported (1 to ${LAYER_NORM_MAX_WIDTH})`);
  const { p, q, a, lambda } = rowConstants(n, eps);
  // d~ is held times 2^E (the truncation by p - E bits keeps E more of its bits), so every sum of
  // its squares is 4^E times W's: read with 2E more bits of scale, as a row of 4^E times the values.
  const qe = q + 2 * E;
  // The coarse rounding keeps h fractional bits of d~ 2^E, so that its largest threshold,
  // 4^K_MAX 2^(qe+f-2h) at f fractional bits, stays below 2^52: h = f/2 for the narrow rows.
  const h = Math.min(Math.ceil(f / 2), Math.floor((51 - 2 * K_MAX - qe) / 2));
  const dt = mul(opts.centred === false ? mul(x, n) : sub(mul(x, n), reduceSum(x, keep, true)), 2 ** (E - p));
  // fine: (d~ 2^E)^2 at 2f fractional bits; coarse: (d~ 2^E to h fractional bits)^2, at 2h (read at
  // f fractional bits, fine holds W 2^(qe+f) and coarse W 2^(qe+2h-f), epsilon's term included).
  const sums = reduceSum(squareUntruncated(stack2(dt, mul(dt, 2 ** (h - f))) as PrivateTensor), -1, true);
  const epsTerm = n * a * a * eps * 4 ** E;
  // epsilon's share of the fine sum is a public scalar at 2f fractional bits: below 2^52 in ring units.
  if (!(epsTerm * 2 ** (2 * f) < 2 ** 52)) throw new RangeError(`LayerNormalization: epsilon ${eps} is too large for rows of ${n} values (at most ${(2 ** (52 - 2 * f) / (n * a * a * 4 ** E)).toPrecision(3)})`);
  const fine = add(half(sums, 0), epsTerm * 2 ** f), coarse = add(half(sums, 1), epsTerm * 2 ** (2 * h - f));
  const scale = powerOfFourScaleWide({ value: fine, scale: 2 ** (qe + f) }, { value: coarse, scale: 2 ** (qe + 2 * h - f) }, lowestExponent(lambda), splitFor(qe, f), K_MAX, lambda);
  const s = scale.s;
  // d' = d~ 2^E s: W' = (sum d'^2) 2^-(q+2E) + lambda s^2 = W s^2, and y = d' r sqrt(c) 2^-E.
  const dp = mul(dt, s);
  // (2^-q and 2^-2E apart: 2^-qe itself, up to 2^-18, is below a public scalar's resolution at f = 16.)
  const wp = add(mul(mul(reduceSum(square(dp), keep, true), 2 ** -q), 2 ** (-2 * E)), scale.squared!);
  // Clamped to [LO, HI] by one batched relu: wp + relu(LO - wp) - relu(wp - HI).
  const outside = relu(stack2(add(neg(wp), LO), sub(wp, HI)));
  const wc = sub(add(wp, half(outside, 0)), half(outside, 1));
  let r = fittedCubicAt(wc, RSQRT);
  for (let i = 0; i < 2; i++) r = mul(r, add(mul(mul(mul(wc, 0.5), square(r)), -1), 1.5));
  let y = mul(dp, mul(r, Math.sqrt(n / 2 ** q) * 2 ** -E));
  if (opts.gamma) y = mul(y, opts.gamma);
  if (opts.beta) y = add(y, opts.beta);
  return y;
}
