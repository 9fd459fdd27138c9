// Sigmoid, tanh, swish, softplus, elu, selu, gelu and mish under the exact protocols (softsign:
// ops_softsign.ts): piecewise cubics on intervals chosen by exact comparisons, with an error bound
// that holds on the whole line (Pond's single polynomial is only good on [-4, 4] and explodes
// outside). tanh(x) = 2 sigmoid(2x) - 1; the others are relu(x) plus a bounded function of |x| fitted the same way
// (swish, softplus, gelu), or times the sign bit (elu, selu), or one of each (mish).
//
// Method, for a private x (sigmoid(-a) = 1 - sigmoid(a), so only a = |x| is fitted):
// 1. s = [x >= 0] and relu(x) from one comparison (relu computes the bit on the way:
//    reluAndBitOp), a = 2 relu(x) - x = |x| (exact: relu multiplies by a bit, no truncation),
//    and c = a - relu(a - T) = min(a, T) for the last knot T (keeps every power small).
// 2. b_k = [c >= t_k] for the inner knots, in one batched comparison. (Taken from a instead,
//    the same bits alongside the clamp, an Embedding -> LSTM query got 10-40% slower over the
//    service, 2026-12-01: the servers' CPU, not the rounds, bounds it on loopback.)
// 3. Piece k is a cubic in u_k = c - m_k, m_k its interval's centre, so |u_k| stays small and
//    rounding the public coefficients to fixed point costs little; its powers are two products.
//    The first piece's m_0 is 0 and its constant h(0) (exact near 0; fitOnAbs says why).
// 4. f = p_0 + sum_k b_k (p_k - p_{k-1}): the pieces telescope to the selected one (each
//    product with a 0/1 bit errs by one unit at most). Beyond the last knot, f = h(T).
// 5. sigmoid(x) = 1 - f + s (2f - 1).
// The cubics are least-squares fits computed at load time; SIGMOID_ERROR_BOUND adds their
// measured fit error to the fixed-point error derived below, and the protocol suites
// (test/helpers/suites/activations.ts) check it against Math.exp on random and edge inputs.
import { erfc } from '../math/erf';
import { fitPolynomial } from '../math/poly_fit';
import { add, concat, constantTensor, reduceSum, reshape, slice, sub } from './ops';
import { mul, relu } from './ops_nonlinear';
import { nonNegativeOp, reluAndBitOp } from './comparison_ops';
import type { AnyTensor, PrivateTensor } from './tensor';

/** Knots on |x|; beyond the last one sigmoid is taken as 1 (1 - sigmoid(10) = 4.5e-5). */
const KNOTS = [0, 1, 2, 3, 4.5, 6.5, 10];

const sigmoidRef = (x: number): number => 1 / (1 + Math.exp(-x));

/** Least-squares cubic in u = x - m of f on [lo, hi] (2001 points); with `pinned`, its value at u = 0 is f(m) exactly. */
function fitCubic(f: (x: number) => number, lo: number, hi: number, m: number, pinned = false): number[] {
  const xs = Float64Array.from({ length: 2001 }, (_, i) => lo + ((hi - lo) * i) / 2000);
  return fitPolynomial(xs.map((x) => x - m), xs.map(f), 3, pinned ? f(m) : undefined);
}

/** A function of a = |x| as cubic pieces on [knots[k], knots[k+1]) in u = a - centres[k], constant beyond the last knot. */
export interface AbsFit {
  knots: readonly number[];
  centres: readonly number[];
  pieces: number[][];
  /** Worst |fit - h| on the whole half-line: the pieces' error, and beyond the last knot |h(a) - h(T)| up to h's limit. */
  fitError: number;
  /** The fixed-point error of evaluating it, in units of 2^-fracBits (see fixedPointUnits). */
  units: number;
}

/**
 * Fits h on [0, T] piece by piece; `limit` is h's value at infinity (h must be monotone beyond T,
 * so its values there lie between h(T) and the limit, which bounds the tail error).
 */
function fitOnAbs(h: (a: number) => number, limit: number, knots: readonly number[] = KNOTS): AbsFit {
  // The first piece is a cubic in a itself with h(0) as its constant: |x| near 0 (values a
  // LayerNormalization then scales up) gets h(0) exactly plus small powers, the same from either
  // side of 0. Fitted freely and centred, sigmoid(0) came out 0.49995 and sigmoid(-0) 0.50005: a
  // bias of 5.5e-5 that a LayerNormalization over an LSTM's small outputs multiplied by 30.
  const centres = knots.slice(0, -1).map((lo, k) => (k === 0 ? lo : (lo + knots[k + 1]) / 2));
  const pieces = centres.map((m, k) => fitCubic(h, knots[k], knots[k + 1], m, k === 0));
  const T = knots[knots.length - 1];
  let worst = Math.abs(h(T) - limit);
  pieces.forEach((c, k) => {
    for (let i = 0; i <= 4000; i++) {
      const x = knots[k] + ((knots[k + 1] - knots[k]) * i) / 4000, u = x - centres[k];
      worst = Math.max(worst, Math.abs(c[0] + u * (c[1] + u * (c[2] + u * c[3])) - h(x)));
    }
  });
  return { knots, centres, pieces, fitError: worst, units: fixedPointUnits(pieces, knots) };
}

/**
 * Worst error of a private evaluation, in units of the fixed-point unit U = 2^-fracBits, beyond
 * the fit error. With |u| <= h (the largest half-width or the first width, 1.75): u^2 errs by U, u^3 by U + h U;
 * each product with a public coefficient adds one U of truncation and |power| U / 2 of
 * coefficient rounding; the telescoping sum adds one U per inner knot.
 */
function fixedPointUnits(pieces: number[][], knots: readonly number[]): number {
  // The largest |u|: half an interval, or the whole first one (its cubic is in a - knots[0]).
  const h = Math.max(knots[1] - knots[0], ...knots.slice(1).map((t, k) => (t - knots[k]) / 2));
  const piece = (c: number[]) => 0.5 + (1 + (h / 2)) + (Math.abs(c[2]) + 1 + (h * h) / 2) + (Math.abs(c[3]) * (1 + h) + 1 + (h * h * h) / 2);
  return Math.max(...pieces.map(piece)) + (knots.length - 2);
}

/** f's value, computed on first use: the four fits take about 40 ms, which every process that
 * loads the library (the CLI, each server, each test worker) paid at start-up when they ran at import. */
function once<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= f());
}

/** sigmoid(|x|), 1 beyond the last knot (1 - sigmoid(10) = 4.5e-5). */
const sigmoidFit = once(() => fitOnAbs(sigmoidRef, 1));
/** swish(x) = relu(x) - |x| sigmoid(-|x|): the second term peaks at 0.28 and is 4.5e-4 at 10. */
const swishFit = once(() => fitOnAbs((a) => a * sigmoidRef(-a), 0));
/** softplus(x) = relu(x) + log(1 + e^-|x|). */
const softplusFit = once(() => fitOnAbs((a) => Math.log1p(Math.exp(-a)), 0));
/** elu(x) = relu(x) + alpha [x < 0] (e^-|x| - 1). */
const eluFit = once(() => fitOnAbs((a) => Math.expm1(-a), -1));
/**
 * e^-a - 1 again for softmax, on finer pieces near 0 where a row's largest terms are: fit error
 * 7.9e-5 against elu's 3.9e-4 (its [0, 1] piece), for two more comparisons per element.
 */
const EXP_KNOTS = [0, 0.5, 1, 1.5, 2, 3, 4.5, 6.5, 10];
const expFit = once(() => fitOnAbs((a) => Math.expm1(-a), -1, EXP_KNOTS));

/** gelu(x) = x Phi(x) = relu(x) - |x| Phi(-|x|): the second term peaks at 0.17 and is 7.6e-23 at 10. */
const geluFit = once(() => fitOnAbs((a) => (a * erfc(a / Math.SQRT2)) / 2, 0));
/** tfjs's gelu_new, x S(x) with S(x) = (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2; S(-a) = 1 - S(a), so the same form. */
export const geluTanhS = (x: number): number => 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
const geluTanhFit = once(() => fitOnAbs((a) => a * geluTanhS(-a), 0));
/**
 * mish(x) = x tanh(softplus(x)) = relu(x) - n(|x|) - [x >= 0] (p(|x|) - n(|x|)), where for x < 0 it is
 * -n(a) = -a tanh(log(1 + e^-a)) and for x >= 0 it is a - p(a), p(a) = a (1 - tanh(softplus(a))) =
 * 2a / ((1 + e^a)^2 + 1). Both vanish at infinity (n(10) = 4.5e-4, p(10) = 4e-8).
 */
const mishN = (a: number) => a * Math.tanh(Math.log1p(Math.exp(-a)));
const mishP = (a: number) => (2 * a) / ((1 + Math.exp(a)) ** 2 + 1);
const mishNFit = once(() => fitOnAbs(mishN, 0));
const mishDFit = once(() => fitOnAbs((a) => mishP(a) - mishN(a), 0));
/** selu's constants (Klambauer et al. 2017), as Keras and tfjs use them. */
export const SELU_ALPHA = 1.6732632423543772, SELU_SCALE = 1.0507009873554805;

/** |private sigmoid(x) - sigmoid(x)| <= this, for every x the protocol compares exactly (the final mix adds three U). */
export function sigmoidErrorBound(fracBits: number): number {
  return sigmoidFit().fitError + (sigmoidFit().units + 3) * 2 ** -fracBits;
}

/** |private swish(x) - x sigmoid(x)| <= this (relu is exact; one subtraction). */
export function swishErrorBound(fracBits: number): number {
  return swishFit().fitError + swishFit().units * 2 ** -fracBits;
}

export function softplusErrorBound(fracBits: number): number {
  return softplusFit().fitError + softplusFit().units * 2 ** -fracBits;
}

/** elu with `alpha`: alpha times (the fit, its evaluation and one U for the product with the bit), plus one U for the product with alpha. */
export function eluErrorBound(fracBits: number, alpha = 1): number {
  return Math.abs(alpha) * (eluFit().fitError + (eluFit().units + 1) * 2 ** -fracBits) + 2 ** -fracBits;
}

/** gelu (`tanhForm`: tfjs's gelu_new): the fit, its evaluation and one subtraction from the exact relu. */
export function geluErrorBound(fracBits: number, tanhForm = false): number {
  const fit = tanhForm ? geluTanhFit() : geluFit();
  return fit.fitError + fit.units * 2 ** -fracBits;
}

/** mish: two fits and their evaluations, and one U for the product of the second with the sign bit. */
export function mishErrorBound(fracBits: number): number {
  return mishNFit().fitError + mishDFit().fitError + (mishNFit().units + mishDFit().units + 1) * 2 ** -fracBits;
}

/**
 * selu = scale elu(alpha) at x: scale times elu's bound, one U for the product with scale, and
 * scale's own rounding to fixed point (at most 2^-(fracBits+1)) times |elu(x)| <= max(|x|, alpha).
 * So the bound grows with |x|, as any product with a public constant does: 7.6e-3 at x = 1000.
 */
export function seluErrorBound(fracBits: number, x = 0): number {
  return SELU_SCALE * eluErrorBound(fracBits, SELU_ALPHA) + 2 ** -fracBits + 2 ** -(fracBits + 1) * Math.max(Math.abs(x), SELU_ALPHA);
}

/** A public column [values.length, 1] (one constant per piece or knot), broadcast along the elements. */
const column = (x: AnyTensor, values: readonly number[]) => constantTensor(x.cluster, values, [values.length, 1]);

const sizeOf = (t: AnyTensor) => t.shape.reduce((a, b) => a * b, 1);

/**
 * Step 1's clamp and step 2 for an a >= 0: c = min(a, T) and the knot bits [c >= t_k]. Its
 * comparisons take a less the library's knots (|x| - 10 is -10 at x = 0), which a narrowed
 * fssBits, the owner's word on x, does not bound: they are internal (OpCtx.internal; at fssBits
 * 20, fracBits 16, sigmoid(0) was -14.75).
 */
function clampedKnots(a: AnyTensor, knots: readonly number[] = KNOTS): { c: AnyTensor; bits: AnyTensor } {
  return a.cluster.internalOps(() => knotBits(a, knots));
}

function knotBits(a: AnyTensor, knots: readonly number[]): { c: AnyTensor; bits: AnyTensor } {
  const n = sizeOf(a), last = knots[knots.length - 1];
  const c = sub(a, relu(sub(a, last)));
  const flat = reshape(c, [1, n]);
  const inner = knots.slice(1, -1);
  // One row per inner knot: [c - t_k], [knots, n], in one subtraction and one comparison. c is
  // in [0, T] (a >= 0 and the clamp's comparison exact), so |c - t_k| < T: the comparison's width
  // is T's (21 bits for T = 10 at fracBits 16), not the ring's, which a subtraction of a public
  // column would leave it (OpCtx.gateBound; docs/fss.md "Gate widths").
  const diff = sub(concat(inner.map(() => flat), 0), column(c, inner)) as PrivateTensor;
  const bits = nonNegativeOp(diff.withBound(BigInt(Math.ceil(last)) << BigInt(a.cluster.fixed.fracBits)));
  return { c, bits };
}

/** What every function of |x| needs (steps 1-2 of the header): s = [x >= 0], relu(x), c = min(|x|, T), the knot bits. */
function absParts(x: PrivateTensor): { s: AnyTensor; r: AnyTensor; c: AnyTensor; bits: AnyTensor } {
  // The sign bit and relu from one comparison (relu computes the bit on the way).
  const { bit: s, relu: r } = reluAndBitOp(x);
  // Additions only: a product with the constant 2 would overflow for |x| >= 2^31.
  const a = sub(add(r, r), x);
  return { s, r, ...clampedKnots(a) };
}

/**
 * e^-a for a private a known to be >= 0 (softmax's exponentials of x - max(x)): the fit of
 * e^-a - 1 on EXP_KNOTS, plus 1. No sign to take: steps 2-4 of the header on a itself. Beyond the
 * last knot it is e^-10 = 4.5e-5 (counted in the fit's error).
 */
export function piecewiseExpNeg(a: PrivateTensor): PrivateTensor {
  const fit = expFit();
  return add(onAbs(fit, clampedKnots(a, fit.knots), a.shape), 1) as PrivateTensor;
}

/** |private e^-a - e^-a| <= this for a >= 0: the fit and its evaluation (the added 1 is exact). */
export function expNegErrorBound(fracBits: number): number {
  return expFit().fitError + expFit().units * 2 ** -fracBits;
}

/**
 * Steps 3-4: the fitted function of |x|, the pieces telescoping to the selected one. Every piece
 * at once, one row each ([pieces, n]): the same products per element as piece by piece, in a few
 * ops instead of some thirty (at batch 1 a step's cost is the ops', not the elements').
 */
function onAbs(fit: AbsFit, { c, bits }: { c: AnyTensor; bits: AnyTensor }, shape: readonly number[]): AnyTensor {
  const n = sizeOf(c), k = fit.centres.length;
  const flat = reshape(c, [1, n]);
  const u = sub(concat(fit.centres.map(() => flat), 0), column(c, fit.centres)); // u_k = c - m_k
  const u2 = mul(u, u);
  const coef = (j: number) => column(c, fit.pieces.map((p) => p[j]));
  const pieces = add(add(add(mul(u, coef(1)), mul(u2, coef(2))), mul(mul(u2, u), coef(3))), coef(0));
  // p_0 + sum_k b_k (p_k - p_{k-1}); beyond the last knot c = T: the last piece gives h(T).
  const steps = sub(slice(pieces, [1, 0], [k - 1, n]), slice(pieces, [0, 0], [k - 1, n]));
  return reshape(add(slice(pieces, [0, 0], [1, n]), reduceSum(mul(bits, steps), 0, true)), shape);
}

/** sigmoid(x) on a private x under an exact protocol (see the header for the method). */
export function piecewiseSigmoid(x: PrivateTensor): PrivateTensor {
  const p = absParts(x);
  const f = onAbs(sigmoidFit(), p, x.shape);
  return add(add(mul(f, -1), 1), mul(p.s, sub(mul(f, 2), 1))) as PrivateTensor;
}

/** tanh(x) = 2 sigmoid(2x) - 1, given y = sigmoid(2x) (doubling and the shift are exact). */
export const tanhFromSigmoid = (y: AnyTensor): AnyTensor => sub(add(y, y), 1);

/**
 * tanh's comparisons take 2x, twice the argument a narrowed fssBits is the owner's word on: they
 * are internal (OpCtx.internal), their width from 2x's bound (at fssBits 32, tanh(20000) was -1).
 */
export const piecewiseTanh = (x: PrivateTensor): PrivateTensor => x.cluster.internalOps(() => tanhFromSigmoid(piecewiseSigmoid(add(x, x) as PrivateTensor))) as PrivateTensor;

/** |private tanh(x) - tanh(x)| <= this (twice the sigmoid's at 2x; the doublings are exact). */
export function tanhErrorBound(fracBits: number): number {
  return 2 * sigmoidErrorBound(fracBits);
}

/** swish / silu: x sigmoid(x) = relu(x) - |x| sigmoid(-|x|), bounded on the whole line. */
export function piecewiseSwish(x: PrivateTensor): PrivateTensor {
  const p = absParts(x);
  return sub(p.r, onAbs(swishFit(), p, x.shape)) as PrivateTensor;
}

/** softplus: log(1 + e^x) = relu(x) + log(1 + e^-|x|). */
export function piecewiseSoftplus(x: PrivateTensor): PrivateTensor {
  const p = absParts(x);
  return add(p.r, onAbs(softplusFit(), p, x.shape)) as PrivateTensor;
}

/** elu: x for x > 0, alpha (e^x - 1) below: relu(x) + alpha [x < 0] (e^-|x| - 1). */
export function piecewiseElu(x: PrivateTensor, alpha = 1): PrivateTensor {
  const p = absParts(x);
  const neg = mul(add(mul(p.s, -1), 1), onAbs(eluFit(), p, x.shape));
  return add(p.r, alpha === 1 ? neg : mul(neg, alpha)) as PrivateTensor;
}

/** gelu: x Phi(x) = relu(x) - |x| Phi(-|x|); `tanhForm`: tfjs's gelu_new, its tanh approximation. */
export function piecewiseGelu(x: PrivateTensor, tanhForm = false): PrivateTensor {
  const p = absParts(x);
  return sub(p.r, onAbs(tanhForm ? geluTanhFit() : geluFit(), p, x.shape)) as PrivateTensor;
}

/** mish: x tanh(softplus(x)) = relu(x) - n(|x|) - [x >= 0] (p(|x|) - n(|x|)) (see mishN, mishP). */
export function piecewiseMish(x: PrivateTensor): PrivateTensor {
  const p = absParts(x);
  const n = onAbs(mishNFit(), p, x.shape), d = onAbs(mishDFit(), p, x.shape);
  return sub(sub(p.r, n), mul(p.s, d)) as PrivateTensor;
}

/** selu: scale (x for x > 0, alpha (e^x - 1) below). */
export const piecewiseSelu = (x: PrivateTensor): PrivateTensor => mul(piecewiseElu(x, SELU_ALPHA), SELU_SCALE) as PrivateTensor;
