// Products (Beaver, with masked operands cached per tensor), pooling, polynomial activations and
// reveal, plus the chaining methods on tensors.
import * as R from '../ops';
import { convGeometry, convOperands, type Padding, positivePair } from '../ops/conv';
import type { Cluster } from '../protocol/cluster';
import { exactProtocolsText, isExact } from '../protocol/protocols';
import { piecewiseElu, piecewiseGelu, piecewiseMish, piecewiseSelu, piecewiseSigmoid, piecewiseSoftplus, piecewiseSwish, piecewiseTanh } from './ops_smooth';
import { applyBilinear, type Bilinear } from '../protocol/correlated';
import { type OpCtx, type Party, SERVER2 } from '../protocol/party';
import type { FoldableGate } from '../protocol/product_folding';
import { type Polynomial, reluPolynomial, SIGMOID_POLY, TANH_POLY } from '../protocol/pond/activations';
import { bilinear, type MaskedShare, truncate } from '../protocol/pond/arith';
import { reveal as revealShares, required, type Share } from '../protocol/pond/share';
import { RingTensor } from '../tensor/ring_tensor';
import { broadcastShapes, shapeString } from '../tensor/shape';
import { scaledTruncatedBound, timesBound, truncatedBound } from './bounds';
import * as L from './ops';
import { exactReluOp } from './comparison_ops';
import { type AnyTensor, installChain, type PartyValues, PrivateTensor, PublicTensor } from './tensor';

/** Truncates z by `bits` (from 2f fractional bits to f by default), disposing z. */
export async function truncated(p: Party, op: OpCtx, z: Share, shape: readonly number[], bits?: number): Promise<Share> {
  try {
    return await truncate(p, op, z, shape, bits);
  } finally {
    z?.dispose();
  }
}

/** A truncation's output: bounded whatever its operands (bounds.ts truncatedBound). */
const truncatedTensor = (c: Cluster, shape: readonly number[], shares: Promise<PartyValues<Share>>): PrivateTensor =>
  new PrivateTensor(c, shape, shares).withBound(truncatedBound(c.fixed.fracBits));

/**
 * Runs an op on the servers once `deps` are ready. With `dealer` and the cluster in precompute
 * mode, server2 runs `dealer` at once instead (it needs no inputs), and `fn` runs on server0 and
 * server1 only.
 */
export function run(c: Cluster, name: string, deps: Promise<PartyValues<unknown>>[], fn: (p: Party, op: OpCtx, locals: unknown[]) => Promise<Share>, dealer?: (p: Party, op: OpCtx) => Promise<Share>): Promise<PartyValues<Share>> {
  const op = c.nextOp(name);
  const early = dealer && c.precompute && c.hosted.has(SERVER2) ? c.runOn(SERVER2, op, dealer) : undefined;
  early?.catch(() => undefined);
  const online = Promise.all(deps).then((ds) =>
    c.run(op, (p, o) => (early && p.role === 2 ? early : fn(p, o, ds.map((d) => d.get(p.name))))),
  );
  return online;
}

/** server2's part of a product and its truncation: public nonces and shapes only. */
function dealProduct(c: Cluster, f: Bilinear, x: PrivateTensor, y: PrivateTensor, shape: readonly number[]) {
  const mx: MaskedShare = { ref: x.maskRef(), alpha: null, a: null };
  const my: MaskedShare = { ref: y.maskRef(), alpha: null, a: null };
  return async (p: Party, o: OpCtx): Promise<Share> => truncate(p, o, await bilinear(p, c.provider, o, f, mx, my, shape), shape);
}

/** server2's part of a truncation alone (it deals only in interactive mode). */
export const dealTruncation = (shape: readonly number[], bits?: number) => (p: Party, o: OpCtx) => truncate(p, o, null, shape, bits);

/**
 * A bilinear op (mul, matmul, conv2d, depthwiseConv2d) on any mix of private and public operands.
 * private x private: Beaver with both operands masked (each mask cached on its tensor);
 * otherwise each server applies f to its share and the public value. Then one truncation.
 */
export function bilinearOp(name: string, f: Bilinear, x: AnyTensor, y: AnyTensor, shape: readonly number[]): AnyTensor {
  const c = L.clusterOf(name, x, y);
  if (x.kind === 'private' && y.kind === 'private') {
    const gate = x.foldable;
    if (f.kind === 'matmul' && gate && x.rank === 2 && y.rank === 2 && gate.folding.folds(gate, x.shape[0] * x.shape[1] * y.shape[1])) return foldedMatmul(c, gate, x, y, shape);
    const shares = run(c, name, [x.masked(), y.masked()], async (p, o, [mx, my]) =>
      truncated(p, o, await bilinear(p, c.provider, o, f, mx as MaskedShare, my as MaskedShare, shape), shape),
      dealProduct(c, f, x, y, shape),
    );
    return truncatedTensor(c, shape, shares);
  }
  if (x.kind === 'public' && y.kind === 'public') {
    const values = run(c, name, [x.values, y.values], async (p, _o, [a, b]) =>
      p.isCompute ? R.shiftRightArithmetic(await applyBilinear(f, a as RingTensor, b as RingTensor), c.fixed.fracBits) : null,
    );
    return new PublicTensor(c, shape, values);
  }
  const xDeps = x.kind === 'private' ? x.shares : x.values;
  const yDeps = y.kind === 'private' ? y.shares : y.values;
  const shares = run(c, name, [xDeps, yDeps], async (p, o, [a, b]) =>
    truncated(p, o, p.isCompute ? await applyBilinear(f, required(o, a as Share), required(o, b as Share)) : null, shape),
    dealTruncation(shape),
  );
  return truncatedTensor(c, shape, shares);
}

/**
 * f(x, y) for private x holding whole numbers in ring units (the ring's 1, not fixed point's 2^f:
 * a one-hot row of a private index, lib/api/table_read.ts) and private y in fixed point: Beaver's
 * product is then at y's scale already, so no truncation follows, and nothing can fail (a
 * truncation of x 2^f times y at 2^2f would fail about once in 2^8 elements for y near 2^23).
 */
export function unscaledProductOp(name: string, f: Bilinear, x: PrivateTensor, y: PrivateTensor, shape: readonly number[]): PrivateTensor {
  const c = L.clusterOf(name, x, y);
  const mx: MaskedShare = { ref: x.maskRef(), alpha: null, a: null };
  const my: MaskedShare = { ref: y.maskRef(), alpha: null, a: null };
  const shares = run(c, name, [x.masked(), y.masked()], (p, o, [a, b]) => bilinear(p, c.provider, o, f, a as MaskedShare, b as MaskedShare, shape), (p, o) => bilinear(p, c.provider, o, f, mx, my, shape));
  return new PrivateTensor(c, shape, shares);
}

/**
 * relu(a) W with x = relu(a) from a relu that kept what its gate opened (PrivateTensor.foldable,
 * lib/protocol/product_folding.ts): the protocol finishes the product from those openings and
 * what its dealer dealt for it, with no round of its own. Then one truncation, as after a Beaver
 * product.
 */
function foldedMatmul(c: Cluster, gate: FoldableGate, x: PrivateTensor, y: PrivateTensor, shape: readonly number[]): PrivateTensor {
  const [m, n] = x.shape, k = y.shape[1];
  gate.folding.count(c.folds, gate, m, n, k);
  const product = (p: Party, o: OpCtx, xs: Share, my: MaskedShare) => gate.folding.product(p, o, gate, xs, my, m, n, k);
  const shares = run(c, 'matmul', [x.shares, y.masked()], async (p, o, [xs, my]) =>
    truncated(p, o, await product(p, o, xs as Share, my as MaskedShare), shape),
    async (p, o) => truncate(p, o, await product(p, o, null, { ref: y.maskRef(), alpha: null, a: null }), shape),
  );
  return truncatedTensor(c, shape, shares);
}

export function mul(x: AnyTensor, y: AnyTensor | number): AnyTensor {
  if (typeof y === 'number') return mulConstant(x, y);
  return bilinearOp('mul', { kind: 'mul' }, x, y, broadcastShapes('mul', x.shape, y.shape));
}

/**
 * enc = round(k 2^f) as m 2^(f - t) with m odd (or zero) and t in [0, f] (f here: the bits k is
 * encoded at): x k is x m truncated by t bits, the same value as x enc truncated by f (both are
 * floor(x enc / 2^f) for a product that did not wrap), but the truncation's input is 2^(f - t)
 * times smaller.
 */
function dyadicConstant(enc: number, f: number): { m: number; t: number } {
  let m = enc, t = f;
  while (t > 0 && m !== 0 && m % 2 === 0) {
    m /= 2;
    t--;
  }
  return { m, t: m === 0 ? 0 : t };
}

/** Significant bits a small public constant keeps in a product (mulConstant): k to about 2^-11 of itself. */
const CONSTANT_BITS = 10;
/** Significant bits an average pool's reciprocal keeps (avgPool2d): the mean to about 2^-13 of itself. */
const RECIPROCAL_BITS = 12;

/**
 * x * k for a public real k: one local multiplication and truncation, no communication. Of k's
 * encoding m 2^(f - t) (dyadicConstant) the servers multiply by m and truncate by t bits only, so a
 * local truncation fails 2^(f - t) times less often (its probability grows with the magnitude of
 * what it truncates, docs/pond.md): by 0.5 a product fails 2^15 times less often than by 0.5 at
 * scale 2^2f, and an integer k (t = 0) needs no truncation at all: x k is exact at any magnitude
 * that fits the ring.
 */
function mulConstant(x: AnyTensor, k: number): AnyTensor {
  const c = x.cluster, f = c.fixed.fracBits;
  if (!Number.isFinite(k)) throw new RangeError(`mul: constant ${k} is outside the fixed-point range`);
  // A small k keeps few significant bits at f (Rescaling(1/10000) was 7/65536, 7% off): it is
  // encoded with e more bits, to CONSTANT_BITS significant bits (e <= f), and the product
  // truncated by f + e. What is truncated is then up to |x| 2^(f + CONSTANT_BITS), where a local
  // truncation fails about |x| 2^(f + CONSTANT_BITS - 63) of the time: 2^-22 on raw values near
  // 3e4 (2^-29 at 7/65536), the price of the precision (docs/pond.md).
  const e = k === 0 ? 0 : Math.max(0, Math.min(f, CONSTANT_BITS - Math.floor(Math.log2(Math.abs(k) * 2 ** f))));
  const enc = Math.round(k * 2 ** (f + e));
  if (Math.abs(enc) >= 2 ** 52) throw new RangeError(`mul: constant ${k} is outside the fixed-point range`);
  const { m, t } = dyadicConstant(enc, f + e), mb = BigInt(m);
  if (x.kind === 'public') {
    // As the private path: by m, shifted by t bits only (an integer k not at all). Shifting the
    // product by all f bits overflowed where the private path did not (3e6 x 1024 came out negative).
    const values = run(c, 'mul', [x.values], async (p, _o, [a]) => {
      if (!p.isCompute) return null;
      const y = await R.mulScalar(a as RingTensor, mb);
      if (t === 0) return y;
      try {
        return await R.shiftRightArithmetic(y, t);
      } finally {
        y.dispose();
      }
    });
    return new PublicTensor(c, x.shape, values);
  }
  if (t === 0) {
    const shares = run(c, 'mul', [x.shares], async (p, o, [a]) => (p.isCompute ? R.mulScalar(required(o, a as Share), mb) : null));
    return new PrivateTensor(c, x.shape, shares).withBound(timesBound(x.bound, Math.abs(m)));
  }
  const shares = run(c, 'mul', [x.shares], async (p, o, [a]) =>
    truncated(p, o, p.isCompute ? await R.mulScalar(required(o, a as Share), mb) : null, x.shape, t),
    dealTruncation(x.shape, t),
  );
  return new PrivateTensor(c, x.shape, shares).withBound(scaledTruncatedBound(x.bound, mb, t));
}

export function square(x: AnyTensor): AnyTensor {
  if (x.kind === 'public') return mul(x, x);
  const c = x.cluster;
  // One mask: c = a * a from the provider, z = c + 2 alpha a + alpha^2.
  const shares = run(c, 'square', [x.masked()], async (p, o, [mx]) =>
    truncated(p, o, await bilinear(p, c.provider, o, { kind: 'mul' }, mx as MaskedShare, mx as MaskedShare, x.shape), x.shape),
    dealProduct(c, { kind: 'mul' }, x, x, x.shape),
  );
  return truncatedTensor(c, x.shape, shares);
}

/**
 * x^2 2^f for a private x: the Beaver square left at 2f fractional bits, so nothing is truncated
 * and nothing can fail at any magnitude; read as a fixed-point tensor its value is x^2 2^f, which
 * wraps once x^2 2^(2f) reaches 2^63 (|x| >= 2^(31.5 - f)). For exact comparisons of sums of
 * squares against public thresholds (LayerNormalization's scale, ops_norm.ts). Same messages as
 * square.
 */
export function squareUntruncated(x: PrivateTensor): PrivateTensor {
  const c = x.cluster;
  const shares = run(c, 'square', [x.masked()], (p, o, [mx]) => bilinear(p, c.provider, o, { kind: 'mul' }, mx as MaskedShare, mx as MaskedShare, x.shape), async (p, o) => {
    const m: MaskedShare = { ref: x.maskRef(), alpha: null, a: null };
    return bilinear(p, c.provider, o, { kind: 'mul' }, m, m, x.shape);
  });
  const b = x.bound === undefined ? undefined : x.bound * x.bound;
  return new PrivateTensor(c, x.shape, shares).withBound(b !== undefined && b < 1n << 63n ? b : undefined);
}

/**
 * [.., m, k] x [.., k, n] -> [.., m, n]: matrices, or stacks of them with equal leading (batch)
 * dimensions, or a stack times one matrix (attention's per-example products: Q K^T, then by V).
 */
export function matmul(x: AnyTensor, y: AnyTensor): AnyTensor {
  L.clusterOf('matmul', x, y);
  const pair = `${shapeString(x.shape)} x ${shapeString(y.shape)}`;
  if (x.rank < 2 || y.rank < 2) throw new RangeError(`matmul: ${pair}: both inputs must be matrices or stacks of them`);
  const bx = x.shape.slice(0, -2), by = y.shape.slice(0, -2);
  if (bx.length && by.length && shapeString(bx) !== shapeString(by))
    throw new RangeError(`matmul: ${pair}: batch dimensions ${shapeString(bx)} and ${shapeString(by)} differ`);
  const k = x.shape[x.rank - 1];
  if (k !== y.shape[y.rank - 2]) throw new RangeError(`matmul: ${pair}: inner dimensions ${k} and ${y.shape[y.rank - 2]} differ`);
  return bilinearOp('matmul', { kind: 'matmul' }, x, y, [...(bx.length ? bx : by), x.shape[x.rank - 2], y.shape[y.rank - 1]]);
}

export interface Conv2DOptions {
  strides?: number | [number, number];
  padding?: Padding;
  /**
   * conv2d only: input and output channels in this many groups, each convolved with its own (the
   * filter [kh, kw, in / groups, out], TensorFlow's grouped convolution). Default 1.
   */
  groups?: number;
}


export function conv2d(x: AnyTensor, filter: AnyTensor, opts: Conv2DOptions = {}): AnyTensor {
  L.clusterOf('conv2d', x, filter);
  const { strides, padding, g, groups } = convOperands('conv2d', x.shape, filter.shape, opts, opts.groups ? 'in / groups, out' : 'in, out');
  const shape = [g.batch, g.outH, g.outW, filter.shape[3]];
  // Grouped: its own bilinear map (lib/ops/conv.ts groupedConv2d), one product as conv2d's.
  if (groups > 1) return bilinearOp('groupedConv2d', { kind: 'groupedConv2d', strides, padding, groups }, x, filter, shape);
  return bilinearOp('conv2d', { kind: 'conv2d', strides, padding }, x, filter, shape);
}

/**
 * Depthwise convolution: [n, h, w, c] with a [kh, kw, c, m] filter -> [n, oh, ow, c m], each input
 * channel with its own m filters (TensorFlow's depthwise_conv2d). One product, as conv2d's, whose
 * local part costs kh kw c m per output pixel instead of the expanded filter's kh kw c^2 m.
 */
export function depthwiseConv2d(x: AnyTensor, filter: AnyTensor, opts: Conv2DOptions = {}): AnyTensor {
  L.clusterOf('depthwiseConv2d', x, filter);
  if (opts.groups !== undefined) throw new RangeError('depthwiseConv2d: groups is conv2d\'s option (a depthwise convolution has one group per channel)');
  const { strides, padding, g } = convOperands('depthwiseConv2d', x.shape, filter.shape, opts, 'channels, multiplier');
  return bilinearOp('depthwiseConv2d', { kind: 'depthwiseConv2d', strides, padding }, x, filter, [g.batch, g.outH, g.outW, filter.shape[2] * filter.shape[3]]);
}

/**
 * Average pooling: a local sum over each window, then multiplication by the public reciprocal
 * of the window size (with SAME padding, of the number of real pixels, as TensorFlow does).
 */
export function avgPool2d(x: AnyTensor, opts: { poolSize: number | [number, number]; strides?: number | [number, number]; padding?: Padding }): AnyTensor {
  // Defaults as maxPool2d's, tfjs's and Keras's: a 2x2 window, strides the window.
  const [kh, kw] = positivePair('avgPool2d', opts.poolSize, 'poolSize', 2);
  const strides = opts.strides === undefined ? ([kh, kw] as [number, number]) : positivePair('avgPool2d', opts.strides, 'strides', 1);
  const padding = opts.padding ?? 'VALID';
  const g = convGeometry('avgPool2d', x.shape, kh, kw, strides, padding);
  const c = x.cluster;
  // Count the in-image pixels of each window to get TensorFlow's SAME semantics.
  const padTop = padding === 'SAME' ? Math.floor(Math.max((g.outH - 1) * strides[0] + kh - g.inH, 0) / 2) : 0;
  const padLeft = padding === 'SAME' ? Math.floor(Math.max((g.outW - 1) * strides[1] + kw - g.inW, 0) / 2) : 0;
  const f = c.fixed.fracBits;
  // The reciprocal 1/n at f fractional bits keeps about f - log2(n) significant bits: a mean of
  // 1000 steps came out 0.7% off (more after a BatchNormalization). As mulConstant does for a
  // small constant, it is encoded with e more bits (up to f), to RECIPROCAL_BITS significant bits,
  // and the sums truncated by f + e: what is truncated grows by 2^e (docs/pond.md).
  const windows: number[] = [];
  for (let oy = 0; oy < g.outH; oy++)
    for (let ox = 0; ox < g.outW; ox++) {
      const ys = Math.min(g.inH, oy * strides[0] - padTop + kh) - Math.max(0, oy * strides[0] - padTop);
      const xs = Math.min(g.inW, ox * strides[1] - padLeft + kw) - Math.max(0, ox * strides[1] - padLeft);
      windows.push(ys * xs);
    }
  const e = Math.max(0, Math.min(f, RECIPROCAL_BITS + Math.ceil(Math.log2(Math.max(...windows))) - f));
  const one = 2 ** (f + e);
  const recip: bigint[] = [];
  let maxGain = 0n; // the largest window size times its rounded reciprocal, about 2^(f + e)
  for (const n of windows) {
    const r = Math.round(one / n);
    // Off by up to half a unit of 2^-(f + e): past 2^-7 of it (a window of millions of pixels)
    // the average would be off by as much, or 0, silently. A smaller window keeps it exact.
    if (Math.abs(r * n - one) > one / 2 ** 7) throw new RangeError(`avgPool2d: a window of ${n} pixels cannot be averaged at ${f} fractional bits (its reciprocal rounds to ${r} / 2^${f + e}, ${((100 * Math.abs(r * n - one)) / one).toFixed(1)}% off); pool in smaller windows`);
    recip.push(BigInt(r));
    const gain = BigInt(n) * BigInt(r);
    if (gain > maxGain) maxGain = gain;
  }
  const shape = [g.batch, g.outH, g.outW, g.channels];
  // The reciprocals' common factor 2^z (2^14 for 2x2 windows) is left out and the sums truncated
  // by f - z bits only: the same values, and what is truncated 2^z times smaller (mulConstant).
  const z = recip.reduce((low, r) => Math.min(low, trailingZeros(r, f + e)), f + e);
  const bits = f + e - z;
  const pool = async (t: RingTensor) => {
    const summed = await R.sumPool2d(t, { kernelSize: [kh, kw], strides, padding });
    const r = RingTensor.fromBigInts(recip.map((v) => v >> BigInt(z)), [1, g.outH, g.outW, 1]);
    try {
      return await R.mul(summed, r);
    } finally {
      summed.dispose();
      r.dispose();
    }
  };
  if (x.kind === 'public') {
    const values = run(c, 'avgPool2d', [x.values], async (p, _o, [a]) =>
      p.isCompute ? R.shiftRightArithmetic(await pool(a as RingTensor), bits) : null,
    );
    return new PublicTensor(c, shape, values);
  }
  const shares = run(c, 'avgPool2d', [x.shares], async (p, o, [a]) => truncated(p, o, p.isCompute ? await pool(required(o, a as Share)) : null, shape, bits), dealTruncation(shape, bits));
  // An average of values within B is within B times the rounded reciprocal's excess, and one unit.
  return new PrivateTensor(c, shape, shares).withBound(scaledTruncatedBound(x.bound, maxGain >> BigInt(z), bits));
}

/** The trailing zero bits of v > 0, at most `max`. */
function trailingZeros(v: bigint, max: number): number {
  let z = 0;
  while (z < max && v > 0n && (v & 1n) === 0n) {
    v >>= 1n;
    z++;
  }
  return z;
}

/**
 * sum_i coeffs[i] x^i on a private x. Powers come from Beaver products (x^2: one square,
 * x^3: one more mul); the weighted sum is formed at 2f fractional bits and truncated once.
 */
export function polynomial(x: AnyTensor, poly: Polynomial, name = 'polynomial'): PrivateTensor {
  if (x.kind !== 'private') throw new TypeError(`${name}: expects a private tensor`);
  const degree = poly.coeffs.length - 1;
  if (degree < 1 || degree > 3) throw new RangeError(`${name}: degree ${degree} is not supported (1 to 3)`);
  const c = x.cluster;
  const f = c.fixed.fracBits;
  const powers: PrivateTensor[] = [x];
  if (degree >= 2) powers.push(square(x) as PrivateTensor);
  if (degree >= 3) powers.push(mul(powers[1], x) as PrivateTensor);
  // The sum is formed at 2f fractional bits: the constant term there, the others at f, each within
  // the ring (a constant of 2.5e9 wrapped to -1.8e9 at 2f = 32 bits, and NaN threw a bare error).
  poly.coeffs.forEach((k, i) => {
    const bits = i === 0 ? 2 * f : f;
    if (!Number.isFinite(k) || Math.abs(k) * 2 ** bits >= 2 ** 62)
      throw new RangeError(`${name}: coefficient ${i} (${k}) is outside what ${bits} fractional bits of the ring hold (|c| < 2^${62 - bits})`);
  });
  const enc = poly.coeffs.map((k) => BigInt(Math.round(k * 2 ** f)));
  const c0 = BigInt(Math.round(poly.coeffs[0] * 2 ** (2 * f)));
  const shares = run(c, name, powers.map((t) => t.shares), async (p, o, ps) => {
    if (!p.isCompute) return truncated(p, o, null, x.shape); // server2 deals for interactive truncation
    let acc: RingTensor | undefined;
    for (let i = 1; i <= degree; i++) {
      if (enc[i] === 0n) continue;
      const term = await R.mulScalar(required(o, ps[i - 1] as Share), enc[i]);
      const next = acc ? await R.add(acc, term) : term;
      if (acc) {
        acc.dispose();
        term.dispose();
      }
      acc = next;
    }
    if (!acc) acc = await R.mulScalar(required(o, ps[0] as Share), 0n);
    if (p.role === 0 && c0 !== 0n) {
      const shifted = await R.addScalar(acc, c0);
      acc.dispose();
      acc = shifted;
    }
    return truncated(p, o, acc, x.shape);
  }, dealTruncation(x.shape));
  for (const t of powers.slice(1)) shares.finally(() => t.dispose()).catch(() => undefined);
  return truncatedTensor(c, x.shape, shares);
}

/**
 * sum_i c_i x^i with private coefficients c_i (shape [1] each, broadcast over x): a calibrated
 * relu's, fitted to the owner's data and weights, so no server may see them (docs/pond.md,
 * "Calibrated polynomials"). Every term is a Beaver product with its coefficient, whose mask is a
 * weight's (opened once per setup). Rounds: x's opening gives x^2 and c_1 x; then c_2 x^2 (with
 * x^3 = x^2 x before c_3 x^3): one round more than `polynomial`'s public coefficients.
 */
export function privatePolynomial(x: AnyTensor, coeffs: readonly AnyTensor[], name = 'polynomial'): PrivateTensor {
  if (x.kind !== 'private') throw new TypeError(`${name}: expects a private tensor`);
  const degree = coeffs.length - 1;
  if (degree < 1 || degree > 3) throw new RangeError(`${name}: degree ${degree} is not supported (1 to 3)`);
  const powers: AnyTensor[] = [x];
  if (degree >= 2) powers.push(square(x));
  if (degree >= 3) powers.push(mul(powers[1], x));
  let acc: AnyTensor = coeffs[0];
  for (let i = 1; i <= degree; i++) acc = L.add(mul(powers[i - 1], coeffs[i]), acc);
  if (acc.kind !== 'private') throw new Error(`${name}: the coefficients must be private`);
  return acc;
}

/**
 * ReLU. Under the exact protocols (SecureNN, the default, and FSS) it is x * DReLU(x), bit-exact with
 * plaintext fixed point. Under Pond it is the polynomial on [-a, a] (default a = 4; see
 * protocol/pond/activations.ts for its error).
 */
export const relu = (x: AnyTensor, opts: { interval?: number } = {}): PrivateTensor =>
  isExact(x.cluster.protocol) && x.kind === 'private' ? exactReluOp(x) : polynomial(x, reluPolynomial(opts.interval), 'relu');
/**
 * Under the exact protocols, piecewise cubics selected by exact comparisons (ops_smooth.ts: error
 * bounded on the whole line); under Pond, a single polynomial fitted on [-4, 4].
 */
export const sigmoid = (x: AnyTensor): PrivateTensor => (isExact(x.cluster.protocol) && x.kind === 'private' ? piecewiseSigmoid(x) : polynomial(x, SIGMOID_POLY, 'sigmoid'));
export const tanh = (x: AnyTensor): PrivateTensor => (isExact(x.cluster.protocol) && x.kind === 'private' ? piecewiseTanh(x) : polynomial(x, TANH_POLY, 'tanh'));

/** Only the exact protocols have these: piecewise cubics selected by comparisons (ops_smooth.ts). */
export function exactSmooth(name: string, x: AnyTensor, f: (x: PrivateTensor) => PrivateTensor): PrivateTensor {
  if (!isExact(x.cluster.protocol)) throw new Error(`${name} needs an exact protocol (${exactProtocolsText()}): its piecewise method selects pieces by comparisons, which ${x.cluster.protocol} does not have`);
  if (x.kind !== 'private') throw new Error(`${name} takes a private tensor`);
  return f(x);
}
/** swish / silu, x sigmoid(x), within swishErrorBound on the whole line. */
export const swish = (x: AnyTensor): PrivateTensor => exactSmooth('swish', x, piecewiseSwish);
/** softplus, log(1 + e^x), within softplusErrorBound on the whole line. */
export const softplus = (x: AnyTensor): PrivateTensor => exactSmooth('softplus', x, piecewiseSoftplus);
/** elu: x above 0, alpha (e^x - 1) below, within eluErrorBound on the whole line. */
export const elu = (x: AnyTensor, alpha = 1): PrivateTensor => exactSmooth('elu', x, (p) => piecewiseElu(p, alpha));
/** selu: 1.0507 elu with alpha 1.6733 (Keras's and tfjs's constants), within seluErrorBound on the whole line. */
export const selu = (x: AnyTensor): PrivateTensor => exactSmooth('selu', x, piecewiseSelu);
/** gelu, x Phi(x) (Phi the normal CDF); `approximate`: the tanh form (tfjs's gelu_new). Within geluErrorBound on the whole line. */
export const gelu = (x: AnyTensor, opts: { approximate?: boolean } = {}): PrivateTensor => exactSmooth('gelu', x, (p) => piecewiseGelu(p, opts.approximate === true));
/** mish, x tanh(softplus(x)), within mishErrorBound on the whole line. */
export const mish = (x: AnyTensor): PrivateTensor => exactSmooth('mish', x, piecewiseMish);

/** Opens a private tensor to both compute servers. */
export function reveal(x: AnyTensor): PublicTensor {
  if (x.kind === 'public') return x;
  const c = x.cluster;
  return new PublicTensor(c, x.shape, run(c, 'reveal', [x.shares], (p, o, [a]) => revealShares(p, o, a as Share)));
}

installChain((self) => ({
  add: (y) => L.add(self, y),
  sub: (y) => L.sub(self, y),
  mul: (y) => mul(self, y),
  matmul: (y) => matmul(self, y),
  square: () => square(self),
  neg: () => L.neg(self),
  reshape: (s) => L.reshape(self, s),
  transpose: (perm) => L.transpose(self, perm),
  reduceSum: (axes, keep) => L.reduceSum(self, axes, keep),
  relu: () => relu(self),
  sigmoid: () => sigmoid(self),
  tanh: () => tanh(self),
}));
