// Softmax over the last axis under the exact protocols (attention's weights inside a model), with
// no private exponential or division beyond fitted pieces and products.
//
// Steps, per row of the last axis (n values):
// 1. m = max(x), a tree of exact comparisons (max pooling over the row).
// 2. a = m - x >= 0 and e = e^-a (ops_smooth.ts piecewiseExpNeg: five knot comparisons and cubic
//    pieces; e^-10 for every a >= 10). The row's maximum gives e = 1 (up to the fit's error).
// 3. S = sum(e), in [1, n] up to that error.
// 4. s = 2^-k with 4^k <= S < 4^(k+1) (powerOfFourScale: one batched comparison per row, the sum
//    local), exact in fixed point, so S' = S s^2 lies in [1, 4).
// 5. r = 1/S' from a cubic fitted on [1, 4] (relative error 6.2e-2) and two Newton steps
//    r <- r (2 - S' r) (1.4e-5 in float64: about one fixed-point unit; a third costs two rounds).
// 6. y = ((e r) s) s: e r keeps e's relative precision (r is in (1/4, 1]); each s halves it k
//    times (a power of two, so each product rounds once).
// Nothing here is a new protocol step: comparisons (DReLU) and Beaver products as everywhere
// else. What each server receives is what those ops send (docs/securenn.md, docs/fss.md).
import { add, constantTensor, neg, reduceSum, reshape, sub } from './ops';
import { mul } from './ops_nonlinear';
import { type Fitted, fittedCubicAt } from './ops_norm';
import { expNegErrorBound, piecewiseExpNeg } from './ops_smooth';
import { maxPool2d, powerOfFourScale, requireExact } from './comparison_ops';
import type { AnyTensor, PrivateTensor } from './tensor';

const RECIPROCAL: Fitted = { g: (v) => 1 / v, lo: 1, hi: 4 };

/**
 * |private softmax - softmax| <= this for an output y of a row of n: each e errs by at most
 * eps = expNegErrorBound, so e / S errs by eps (1 + n y) / (1 - n eps) (S >= 1 - eps); the
 * reciprocal's residual (1.4e-5 relative) and rounding, and the two products, add a few units
 * (2^-fracBits).
 */
export function softmaxErrorBound(n: number, y: number, fracBits: number): number {
  const eps = expNegErrorBound(fracBits), u = 2 ** -fracBits;
  return (eps * (1 + n * y)) / (1 - n * eps) + 8 * u;
}

/** How much a causal mask lowers the scores it hides: below every score it keeps by more than 10 while |scores| < 8000. */
export const CAUSAL_PENALTY = 2 ** 14;

/**
 * softmax over the last axis of a private x (see the header for the method). `causal`: over the
 * last two axes [.., Tq, Tk], position i keeps only j <= i (Keras's use_causal_mask), the others
 * exactly 0: their scores are lowered by CAUSAL_PENALTY before the maximum (public constants:
 * local), and their exponentials multiplied by 0 (a public mask: local). `window` (Keras 3.12+'s
 * sliding_window, self-attention: Tq = Tk): position i keeps only |i - j| < window, the same way,
 * with or without `causal`. Nothing else changes.
 */
export function softmax(x: AnyTensor, opts: { causal?: boolean; window?: number; padding?: AnyTensor } = {}): PrivateTensor {
  requireExact('softmax', x);
  if (x.kind !== 'private') throw new TypeError('softmax: expects a private tensor');
  const banded = opts.causal === true || opts.window !== undefined;
  if (x.rank < (banded ? 2 : 1)) throw new RangeError(`softmax: needs at least ${banded ? `two axes for a ${opts.causal ? 'causal' : 'sliding-window'} mask` : 'one axis'}`);
  if (opts.window !== undefined && !(Number.isSafeInteger(opts.window) && opts.window >= 1 && x.shape[x.rank - 2] === x.shape[x.rank - 1]))
    throw new RangeError(`softmax: a sliding window (${opts.window}) takes a positive whole width and square scores [.., T, T] (self-attention), got [${x.shape}]`);
  const n = x.shape[x.rank - 1], rows = x.shape.reduce((a, b) => a * b, 1) / n;
  if (n === 0) return x;
  const band = { causal: opts.causal === true, window: opts.window };
  if (opts.padding) return paddedSoftmax(x, opts.padding, band);
  if (banded) {
    // The maximum compares scores moved by the library's constant: full width, as its own values are.
    const keep = bandKeep(x.cluster, x.shape[x.rank - 2], n, band);
    return x.cluster.internalOps(() => {
      const flat = reshape(add(x, keep.penalty), [rows, n]);
      return normalised(x, flat, rowMax(flat, rows, n), rows, n, keep.mask);
    });
  }
  const flat = reshape(x, [rows, n]);
  // The max compares the model's values (at fssBits); what follows compares the library's (the
  // exponential's knots, the row sum's thresholds), which fssBits does not bound.
  const m = rowMax(flat, rows, n);
  return x.cluster.internalOps(() => normalised(x, flat, m, rows, n));
}

const rowMax = (flat: AnyTensor, rows: number, n: number) => reshape(maxPool2d(reshape(flat, [rows, 1, n, 1]), { poolSize: [1, n], strides: [1, 1] }), [rows, 1]);

/** Which keys a query keeps: j <= i under a causal mask, |i - j| < window under a sliding window. */
type Band = { causal: boolean; window?: number };

/** The public [Tq, Tk] tensors of a causal or sliding-window mask: 0 or -CAUSAL_PENALTY to add, 1 or 0 to multiply. */
function bandKeep(c: PrivateTensor['cluster'], tq: number, tk: number, band: Band): { penalty: AnyTensor; mask: { tq: number; tk: number; t: AnyTensor } } {
  const keeps = (i: number, j: number) => (!band.causal || j <= i) && (band.window === undefined || Math.abs(i - j) < band.window);
  const keep = Array.from({ length: tq * tk }, (_, at) => (keeps(Math.floor(at / tk), at % tk) ? 1 : 0));
  const what = band.window === undefined ? 'causal mask' : 'sliding-window mask';
  return {
    penalty: constantTensor(c, keep.map((k) => (k ? 0 : -CAUSAL_PENALTY)), [tq, tk], what),
    mask: { tq, tk, t: constantTensor(c, keep, [tq, tk], what) },
  };
}

/**
 * softmax over the keys of a self-attention's scores x [batch, heads, T, T] with Keras's padding
 * mask m [batch, T] (private 0/1, layers_mask.ts), and optionally its causal or sliding-window mask:
 * 1. padded keys' scores are lowered by CAUSAL_PENALTY (P (m_k - 1): local), so a row's maximum
 *    is one of its kept keys (its own step is one);
 * 2. after the exponentials, e' = e m_q m_k (+ the causal 0/1, public) + (1 - m_q): kept keys keep
 *    e, padded keys 0, and a padded query step gets 1 for every key, the uniform weights Keras
 *    gives it (its -1e9 on all that row's scores, absorbed by float32). One private product for
 *    m_q m_k [batch, 1, T, T] and one for e times it.
 */
function paddedSoftmax(x: PrivateTensor, padding: AnyTensor, band: Band): PrivateTensor {
  const [B, H, T, S] = x.shape;
  if (x.rank !== 4 || T !== S || padding.shape.join() !== [B, T].join()) throw new RangeError(`softmax: a padding mask [${padding.shape}] needs self-attention scores [batch, heads, T, T] with it [batch, T], got [${x.shape}]`);
  const rows = B * H * T;
  const mk = reshape(padding, [B, 1, 1, T]), mq = reshape(padding, [B, 1, T, 1]);
  return x.cluster.internalOps(() => {
    const keep = band.causal || band.window !== undefined ? bandKeep(x.cluster, T, T, band) : undefined;
    let y = add(x, mul(add(mk, -1), CAUSAL_PENALTY));
    if (keep) y = add(y, keep.penalty);
    const flat = reshape(y, [rows, T]);
    let both = mul(mq, mk);
    if (keep) both = mul(both, keep.mask.t);
    const kept = (e: AnyTensor) => reshape(add(mul(reshape(e, [B, H, T, T]), both), add(neg(mq), 1)), [rows, T]);
    return normalised(x, flat, rowMax(flat, rows, T), rows, T, kept);
  });
}

/** Steps 2-6 of softmax, given the rows of x and their maxima (and a causal mask's 0/1 to zero the hidden, or what a padding mask keeps). */
function normalised(x: PrivateTensor, flat: AnyTensor, m: AnyTensor, rows: number, n: number, mask?: { tq: number; tk: number; t: AnyTensor } | ((e: AnyTensor) => AnyTensor)): PrivateTensor {
  let e = piecewiseExpNeg(sub(m, flat) as PrivateTensor) as AnyTensor;
  if (typeof mask === 'function') e = mask(e);
  else if (mask) e = reshape(mul(reshape(e, [rows / mask.tq, mask.tq, mask.tk]), mask.t), [rows, n]);
  const { r, s } = scaledReciprocal(reduceSum(e, 1, true), n);
  return reshape(mul(mul(mul(e, r), s), s), x.shape) as PrivateTensor;
}

/**
 * 1/S for a private S in [1, n] (up to the fit's error below 1) as r s^2: s = 2^-k with
 * 4^k <= S < 4^(k+1) (powerOfFourScale: one batched comparison), r = 1/(S s^2) from a cubic fitted
 * on [1, 4] and two Newton steps (1.4e-5 relative). Multiplying by r, then s twice, keeps the
 * other factor's relative precision (r is in (1/4, 1], each s a power of two).
 */
export function scaledReciprocal(total: AnyTensor, n: number): { r: AnyTensor; s: AnyTensor } {
  // S >= 1 up to the fit's error, so k >= -1; at most n.
  const kMax = Math.max(1, Math.ceil(Math.log(n + 1) / Math.log(4)));
  const s = powerOfFourScale(total, -1, kMax);
  // S s^2 in [1, 4) (s = 2^-k, 4^k <= S: the scale squared, as LayerNormalization's).
  const sp = mul(mul(total, s), s);
  let r = fittedCubicAt(sp, RECIPROCAL);
  for (let i = 0; i < 2; i++) r = mul(r, add(mul(mul(sp, r), -1), 2));
  return { r, s };
}
