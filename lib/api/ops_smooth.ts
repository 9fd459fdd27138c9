// Sigmoid and tanh under the exact protocols: piecewise cubics on intervals chosen by exact
// comparisons, with an error bound that holds on the whole line (Pond's single polynomial is only
// good on [-4, 4] and explodes outside). tanh(x) = 2 sigmoid(2x) - 1.
//
// Method, for a private x (sigmoid(-a) = 1 - sigmoid(a), so only a = |x| is fitted):
// 1. s = [x >= 0], a = 2 relu(x) - x = |x| (exact: relu multiplies by a bit, no truncation),
//    and c = a - relu(a - T) = min(a, T) for the last knot T (keeps every power small).
// 2. b_k = [c >= t_k] for the inner knots, in one batched comparison.
// 3. Piece k is a cubic in u_k = c - m_k, m_k its interval's centre, so |u_k| stays small and
//    rounding the public coefficients to fixed point costs little; its powers are two products.
// 4. f = p_0 + sum_k b_k (p_k - p_{k-1}): the pieces telescope to the selected one (each
//    product with a 0/1 bit errs by one unit at most). The last piece is the constant 1.
// 5. sigmoid(x) = 1 - f + s (2f - 1).
// The cubics are least-squares fits computed at load time; SIGMOID_ERROR_BOUND adds their
// measured fit error to the fixed-point error derived below, and test/smooth_activations.test.ts
// checks it against Math.exp on random and edge inputs.
import { fitPolynomial } from '../math/poly_fit';
import { add, concat, reshape, slice, sub } from './ops';
import { mul, relu } from './ops_nonlinear';
import { nonNegativeOp } from './securenn_ops';
import type { AnyTensor, PrivateTensor } from './tensor';

/** Knots on |x|; beyond the last one sigmoid is taken as 1 (1 - sigmoid(10) = 4.5e-5). */
const KNOTS = [0, 1, 2, 3, 4.5, 6.5, 10];
/** Interval centres, exact in fixed point. */
const CENTRES = KNOTS.slice(0, -1).map((lo, k) => (lo + KNOTS[k + 1]) / 2);

const sigmoidRef = (x: number): number => 1 / (1 + Math.exp(-x));

/** Least-squares cubic in u = x - m of f on [lo, hi] (2001 points). */
function fitCubic(f: (x: number) => number, lo: number, hi: number, m: number): number[] {
  const xs = Float64Array.from({ length: 2001 }, (_, i) => lo + ((hi - lo) * i) / 2000);
  return fitPolynomial(xs.map((x) => x - m), xs.map(f), 3);
}

/** Per interval [KNOTS[k], KNOTS[k+1]): the cubic's coefficients in u = x - CENTRES[k]. */
export const SIGMOID_PIECES: readonly number[][] = CENTRES.map((m, k) => fitCubic(sigmoidRef, KNOTS[k], KNOTS[k + 1], m));

/** The fit's own worst error on the whole line, measured on a fine grid at load time. */
const FIT_ERROR = (() => {
  let worst = 1 - sigmoidRef(KNOTS[KNOTS.length - 1]);
  SIGMOID_PIECES.forEach((c, k) => {
    for (let i = 0; i <= 4000; i++) {
      const x = KNOTS[k] + ((KNOTS[k + 1] - KNOTS[k]) * i) / 4000, u = x - CENTRES[k];
      worst = Math.max(worst, Math.abs(c[0] + u * (c[1] + u * (c[2] + u * c[3])) - sigmoidRef(x)));
    }
  });
  return worst;
})();

/**
 * Worst error of the private sigmoid, in units of the fixed-point unit U = 2^-fracBits, beyond
 * the fit error. With |u| <= h (the largest half-width, 1.75): u^2 errs by U, u^3 by U + h U;
 * each product with a public coefficient adds one U of truncation and |power| U / 2 of
 * coefficient rounding; the telescoping sum adds one U per inner knot; the final mix three U.
 */
function fixedPointUnits(): number {
  const h = Math.max(...KNOTS.slice(1).map((t, k) => (t - KNOTS[k]) / 2));
  const piece = (c: number[]) => 0.5 + (1 + (h / 2)) + (Math.abs(c[2]) + 1 + (h * h) / 2) + (Math.abs(c[3]) * (1 + h) + 1 + (h * h * h) / 2);
  return Math.max(...SIGMOID_PIECES.map(piece)) + (KNOTS.length - 2) + 3;
}

/** |private sigmoid(x) - sigmoid(x)| <= this, for every x the protocol compares exactly. */
export function sigmoidErrorBound(fracBits: number): number {
  return FIT_ERROR + fixedPointUnits() * 2 ** -fracBits;
}

/** The cubic with coefficients c in u, given u, u^2, u^3. */
function cubic(c: readonly number[], u: AnyTensor, u2: AnyTensor, u3: AnyTensor): AnyTensor {
  return add(add(add(mul(u, c[1]), mul(u2, c[2])), mul(u3, c[3])), c[0]);
}

const sizeOf = (t: AnyTensor) => t.shape.reduce((a, b) => a * b, 1);

/** sigmoid(x) on a private x under an exact protocol (see the header for the method). */
export function piecewiseSigmoid(x: PrivateTensor): PrivateTensor {
  const n = sizeOf(x), last = KNOTS[KNOTS.length - 1];
  const s = nonNegativeOp(x);
  // Additions only: a product with the constant 2 would overflow for |x| >= 2^31.
  const r = relu(x);
  const a = sub(add(r, r), x);
  const c = sub(a, relu(sub(a, last)));
  const inner = KNOTS.slice(1, -1);
  const flat = reshape(c, [1, n]);
  const bits = nonNegativeOp(concat(inner.map((t) => sub(flat, t)), 0));
  const pieces = CENTRES.map((m, k) => {
    const u = sub(c, m);
    const u2 = mul(u, u);
    return cubic(SIGMOID_PIECES[k], u, u2, mul(u2, u));
  });
  let f = pieces[0];
  inner.forEach((_, k) => {
    const bk = reshape(slice(bits, [k, 0], [1, n]), x.shape);
    f = add(f, mul(bk, sub(pieces[k + 1], pieces[k])));
  });
  // Beyond the last knot sigmoid is 1: the last piece's cubic already is (to the fit error).
  return add(add(mul(f, -1), 1), mul(s, sub(mul(f, 2), 1))) as PrivateTensor;
}

export const piecewiseTanh = (x: PrivateTensor): PrivateTensor => {
  const y = piecewiseSigmoid(add(x, x) as PrivateTensor);
  return sub(add(y, y), 1) as PrivateTensor;
};

/** |private tanh(x) - tanh(x)| <= this (twice the sigmoid's at 2x; the doublings are exact). */
export function tanhErrorBound(fracBits: number): number {
  return 2 * sigmoidErrorBound(fracBits);
}
