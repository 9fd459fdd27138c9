// Ops that need comparisons: available under the exact protocols, SecureNN (the default) and FSS.
// Comparison results are returned as fixed-point 0.0 / 1.0 private tensors.
import * as R from '../ops';
import { convGeometry, type Padding, positivePair } from '../ops/conv';
import type { Cluster } from '../protocol/cluster';
import { exactProtocolsText, isExact } from '../protocol/protocols';
import type { OpCtx, Party } from '../protocol/party';
import type { Share } from '../protocol/pond/share';
import { maxTree, treeLevels } from '../protocol/securenn/max_tree';
import { equalZero as eqZ, negative, nonNegative, onFlat, relu as exactRelu, reluWithBit, selectShare } from '../protocol/securenn/relu';
import type { PartyName } from '../net/transport';
import { type ProductFolding, productFolding } from '../protocol/product_folding';
import { RingTensor } from '../tensor/ring_tensor';
import { normalizeAxis, sizeOf } from '../tensor/shape';
import { maxBound, sumBound } from './bounds';
import * as L from './ops';
import { type AnyTensor, type PartyValues, PrivateTensor } from './tensor';

export function requireSecureNN(op: string, x: AnyTensor): void {
  if (!isExact(x.cluster.protocol))
    throw new Error(`${op} needs comparisons: use an exact protocol, ${exactProtocolsText()} (tfe.setProtocol, or a cluster created with { protocol })`);
}

function privateOnly(op: string, x: AnyTensor): PrivateTensor {
  if (x.kind !== 'private') throw new TypeError(`${op}: expects a private tensor`);
  return x;
}

function runOp(c: Cluster, name: string, deps: Promise<PartyValues<Share>>[], fn: (p: Party, op: OpCtx, locals: Share[]) => Promise<Share>, gateBound?: bigint): Promise<PartyValues<Share>> {
  const op = c.nextOp(name, gateBound);
  return Promise.all(deps).then((ds) => c.run(op, (p, o) => fn(p, o, ds.map((d) => d.get(p.name) ?? null))));
}

/** Integer bit shares -> fixed-point 0.0/1.0 shares (a local scaling). */
async function scaleBit(c: Cluster, b: Share): Promise<Share> {
  if (!b) return null;
  const out = await R.mulScalar(b, 1n << BigInt(c.fixed.fracBits));
  b.dispose();
  return out;
}

/** Exact ReLU (SecureNN): bit-exact with plaintext fixed point. */
export function exactReluOp(x: AnyTensor): PrivateTensor {
  const px = privateOnly('relu', x);
  const c = px.cluster;
  const folding = productFolding(c);
  if (folding) return foldableRelu(c, px, folding);
  // The gate compares px itself, and relu(a) lies in [0, |a|]: the same bound.
  return new PrivateTensor(c, px.shape, runOp(c, 'relu', [px.shares], (p, o, [a]) => exactRelu(p, o, a, px.shape), px.bound)).withBound(px.bound);
}

/**
 * The protocol's relu keeping what its gate opened, so that a product right after can fold into
 * the gate (PrivateTensor.foldable, lib/protocol/product_folding.ts): the same messages as its
 * plain relu.
 */
function foldableRelu(c: Cluster, x: PrivateTensor, folding: ProductFolding): PrivateTensor {
  const op = c.nextOp('relu', x.bound);
  const kept = new Map<PartyName, RingTensor[]>();
  const shares = x.shares.then((s) =>
    c.run(op, (p, o) => onFlat(s.get(p.name) ?? null, x.shape, (af, size) => folding.relu(p, o, af, size, (t) => kept.set(p.name, t)))),
  );
  const out = new PrivateTensor(c, x.shape, shares).withBound(x.bound);
  out.shareFoldable(folding.gate(op, sizeOf(x.shape), kept));
  return out;
}

/**
 * relu(x) and [x >= 0] (0.0/1.0) from one exact comparison: the relu's, which computes the bit on
 * the way (protocol/securenn/relu.ts reluWithBit). Both bit-exact with plaintext fixed point.
 */
export function reluAndBitOp(x: AnyTensor): { relu: PrivateTensor; bit: PrivateTensor } {
  requireSecureNN('relu', x);
  const px = privateOnly('relu', x);
  const c = px.cluster, n = px.shape.reduce((a, b) => a * b, 1);
  const both = new PrivateTensor(
    c,
    [2, ...px.shape],
    runOp(c, 'reluAndBit', [px.shares], async (p, o, [a]) => {
      const s = await reluWithBit(p, o, a, px.shape);
      if (!s) return null;
      // The bit half as fixed-point 0.0/1.0 (times 2^f), the relu half as it is (times 1).
      const flat = R.reshape(s, [2, n]);
      s.dispose();
      const scale = RingTensor.fromBigInts([1n, 1n << BigInt(c.fixed.fracBits)], [2, 1]);
      const out = await R.mul(flat, scale);
      const shaped = R.reshape(out, [2, ...px.shape]);
      for (const t of [flat, scale, out]) t.dispose();
      return shaped;
    }, px.bound),
  ).withBound(maxBound(px.bound, 1n << BigInt(c.fixed.fracBits)));
  const half = (i: number) => L.reshape(L.slice(both, [i, ...px.shape.map(() => 0)], [1, ...px.shape]), px.shape) as PrivateTensor;
  return { relu: half(0), bit: half(1) };
}

function diffOp(name: string, x: AnyTensor, y: AnyTensor): PrivateTensor {
  const d = (x as PrivateTensor).sub(y);
  if (d.kind !== 'private') throw new TypeError(`${name}: at least one operand must be private`);
  return d;
}

function bitOp(name: string, x: PrivateTensor, f: (p: Party, o: OpCtx, a: Share, shape: readonly number[]) => Promise<Share>): PrivateTensor {
  const c = x.cluster;
  // The gates compare x (or -x: the same bound).
  return new PrivateTensor(c, x.shape, runOp(c, name, [x.shares], async (p, o, [a]) => scaleBit(c, await f(p, o, a, x.shape)), x.bound));
}

/** [x < y] as 0.0/1.0 (the MSB of x - y). */
export function less(x: AnyTensor, y: AnyTensor): PrivateTensor {
  requireSecureNN('less', x);
  return bitOp('less', diffOp('less', x, y), negative);
}

/** [x > y] as 0.0/1.0. */
export function greater(x: AnyTensor, y: AnyTensor): PrivateTensor {
  requireSecureNN('greater', x);
  return bitOp('greater', diffOp('greater', y, x), negative);
}

/** [x >= y] as 0.0/1.0 (DReLU of x - y). */
export function greaterEqual(x: AnyTensor, y: AnyTensor): PrivateTensor {
  requireSecureNN('greaterEqual', x);
  return bitOp('greaterEqual', diffOp('greaterEqual', x, y), nonNegative);
}

/** [x >= 0] as 0.0/1.0 for a private x (DReLU). */
export function nonNegativeOp(x: AnyTensor): PrivateTensor {
  requireSecureNN('nonNegative', x);
  return bitOp('nonNegative', privateOnly('nonNegative', x), nonNegative);
}

/** [x = 0] as 0.0/1.0. */
export function equalZero(x: AnyTensor): PrivateTensor {
  requireSecureNN('equalZero', x);
  const px = privateOnly('equalZero', x);
  const c = px.cluster;
  const op2 = c.nextOp('equalZero', px.bound);
  return bitOp('equalZero', px, (p, o, a, shape) => eqZ(p, o, op2, a, shape));
}

/**
 * Runs the comparison tree on [k, rest]-shaped candidates prepared per server by `prep`, whose
 * values are bounded by `candidates` (lib/api/bounds.ts): every level compares differences of two
 * of them (twice the bound) and carries their maxima on (the bound itself).
 */
function treeOp(name: string, x: PrivateTensor, k: number, rest: number, outShape: readonly number[], prep: (s: RingTensor, p: Party) => Promise<RingTensor>, index: boolean, candidates: bigint | undefined): PrivateTensor {
  const c = x.cluster;
  const gateBound = sumBound(candidates, candidates);
  const ops = Array.from({ length: Math.max(1, treeLevels(k)) }, () => c.nextOp(name, gateBound));
  const f = c.fixed.fracBits;
  const shares = x.shares.then((s) =>
    c.run(ops[0], async (p) => {
      const local = s.get(p.name) ?? null;
      const cand = p.isCompute && local ? await prep(local, p) : null;
      const { max, index: idx } = await maxTree(p, ops, cand, k, rest, index ? f : undefined);
      cand?.dispose();
      const keep = index ? idx : max;
      (index ? max : idx)?.dispose();
      if (!keep) return null;
      const shaped = R.reshape(keep, outShape);
      keep.dispose();
      return shaped;
    }),
  );
  return new PrivateTensor(c, outShape, shares).withBound(index ? undefined : candidates);
}

/** Moves `axis` first and flattens the rest: [k, rest]. */
async function axisFirst(s: RingTensor, axis: number): Promise<RingTensor> {
  const perm = [axis, ...[...s.shape.keys()].filter((i) => i !== axis)];
  const t = await R.transpose(s, perm);
  const out = R.reshape(t, [s.shape[axis], -1]);
  t.dispose();
  return out;
}

/** The comparison tree along one axis: the maximum, or (with `index`) its position; `wholeRing`: x's bound ignored. */
function alongAxis(name: string, x: AnyTensor, axis: number, index: boolean, wholeRing = false): PrivateTensor {
  requireSecureNN(name, x);
  const px = privateOnly(name, x);
  const a = normalizeAxis(name, axis, px.shape);
  const k = px.shape[a], outShape = px.shape.filter((_, i) => i !== a), rest = outShape.reduce((u, v) => u * v, 1);
  return treeOp(name, px, k, rest, outShape, (s) => axisFirst(s, a), index, wholeRing ? undefined : px.bound);
}

/** Maximum along an axis (SecureNN comparison tree). */
export const reduceMax = (x: AnyTensor, axis = 0): PrivateTensor => alongAxis('reduceMax', x, axis, false);

/**
 * reduceMax comparing on the whole ring whatever x's bound (lib/api/bounds.ts): for verify's
 * debugRanges, which looks for values past their bounds (failed truncations) and must see them.
 */
export const reduceMaxWholeRing = (x: AnyTensor, axis = 0): PrivateTensor => alongAxis('reduceMax', x, axis, false, true);

/** Index of the maximum along an axis, as a fixed-point private tensor (ties: the first). */
export const argmax = (x: AnyTensor, axis = 0): PrivateTensor => alongAxis('argmax', x, axis, true);

/**
 * Max pooling over NHWC windows (VALID padding; any window and strides): each window's k = kh*kw
 * candidates are gathered with im2col and reduced by the comparison tree.
 */
export function maxPool2d(x: AnyTensor, opts: { poolSize: number | [number, number]; strides?: number | [number, number]; padding?: Padding }): PrivateTensor {
  requireSecureNN('maxPool2d', x);
  const px = privateOnly('maxPool2d', x);
  const [kh, kw] = positivePair('maxPool2d', opts.poolSize, 'poolSize', 2);
  const strides = opts.strides === undefined ? ([kh, kw] as [number, number]) : positivePair('maxPool2d', opts.strides, 'strides', 1);
  const padding = opts.padding ?? 'VALID';
  const g = convGeometry('maxPool2d', px.shape, kh, kw, strides, padding);
  const k = kh * kw, rest = g.batch * g.outH * g.outW * g.channels;
  const outShape = [g.batch, g.outH, g.outW, g.channels];
  // SAME: pad with -2^45 (below any value in the exact range) instead of zero, as TensorFlow pads
  // max pooling with -infinity; server0 holds the padding value, server1 zeros.
  const padH = padding === 'SAME' ? Math.max((g.outH - 1) * strides[0] + kh - g.inH, 0) : 0;
  const padW = padding === 'SAME' ? Math.max((g.outW - 1) * strides[1] + kw - g.inW, 0) : 0;
  const pads: [number, number][] = [[0, 0], [Math.floor(padH / 2), padH - Math.floor(padH / 2)], [Math.floor(padW / 2), padW - Math.floor(padW / 2)], [0, 0]];
  const low = -(1n << BigInt(45 + px.cluster.fixed.fracBits));
  return treeOp('maxPool2d', px, k, rest, outShape, async (s0, p) => {
    const s = padding === 'SAME' ? await R.pad(s0, pads, p.role === 0 ? low : 0n) : s0;
    const cols = await R.im2col(s, { kernelSize: [kh, kw], strides, padding: 'VALID' });
    if (s !== s0) s.dispose();
    const windows = R.reshape(cols, [g.batch * g.outH * g.outW, k, g.channels]);
    cols.dispose();
    const first = await R.transpose(windows, [1, 0, 2]);
    windows.dispose();
    const out = R.reshape(first, [k, rest]);
    first.dispose();
    return out;
  }, false, padH + padW > 0 ? maxBound(px.bound, -low) : px.bound);
}

/** Thresholds 4^k for kMin < k <= kMax are exact in fixed point, and every 2^(f - k) an integer. */
function checkExponents(op: string, f: number, kMin: number, kMax: number): void {
  if (!Number.isInteger(kMin) || !Number.isInteger(kMax) || kMin >= kMax || kMax > f || 2 * (kMin + 1) < -f)
    throw new RangeError(`${op}: exponents [${kMin}, ${kMax}] do not fit ${f} fractional bits (need -${f / 2} <= kMin + 1 and kMax <= ${f})`);
}

/** [rows, n] of x - thresholds[i] in row i, x flattened to [1, n]. */
function minusEach(x: PrivateTensor, thresholds: number[]): PrivateTensor {
  const row = L.reshape(x, [1, count(x)]);
  return L.concat(thresholds.map((t) => L.sub(row, t)), 0) as PrivateTensor;
}

/**
 * Locally, 2^(f - kLow) - sum_i b_i 2^(f - k_i) for the bits b_i of thresholds 4^k_i, the [n]
 * slices of `bits` from slice `first` on: 2^(f - e) for the integer e in [kLow, max k_i] that the
 * bits say (they are 1 exactly for k_i <= e, and the sum telescopes).
 */
async function telescope(p: Party, bits: RingTensor, first: number, ks: number[], n: number, f: number, kLow: number): Promise<RingTensor> {
  const terms = await Promise.all(ks.map(async (k, i) => {
    const b = await R.slice(bits, [(first + i) * n], [n]);
    const t = await R.mulScalar(b, -(1n << BigInt(f - k)));
    b.dispose();
    return t;
  }));
  const sum = await R.addN(terms);
  for (const t of terms) t.dispose();
  if (p.role !== 0) return sum;
  const out = await R.addScalar(sum, 1n << BigInt(f - kLow));
  sum.dispose();
  return out;
}

const count = (t: AnyTensor) => t.shape.reduce((a, b) => a * b, 1);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * s = 2^-e for a private v, where 4^e <= v < 4^(e+1) and e is clamped to [kMin, kMax]: exact in
 * fixed point (the integer 2^(fracBits - e)), so that v s^2 lies in [1, 4) with no loss of
 * relative precision however large or small v is (softmax's 1/S, ops_softmax.ts).
 *
 * Steps: b_k = [v - 4^k >= 0] for k = kMin+1 .. kMax, as integer bit shares, in one batched DReLU
 * (the thresholds are public powers of two, exact in fixed point for k >= -fracBits/2); then,
 * locally, s = 2^(F-kMin) - sum_k b_k 2^(F-k), which telescopes to 2^(F-e) since the bits are 1
 * exactly for k <= e. Each server receives only what DReLU's own messages are (docs/securenn.md,
 * docs/fss.md); the sum is local.
 */
export function powerOfFourScale(v: AnyTensor, kMin: number, kMax: number): PrivateTensor {
  requireSecureNN('powerOfFourScale', v);
  const pv = privateOnly('powerOfFourScale', v);
  const c = pv.cluster, f = c.fixed.fracBits;
  checkExponents('powerOfFourScale', f, kMin, kMax);
  const n = count(pv), ks = range(kMin + 1, kMax);
  const diffs = minusEach(pv, ks.map((k) => 4 ** k));
  return new PrivateTensor(c, pv.shape, runOp(c, 'powerOfFourScale', [diffs.shares], async (p, o, [a]) => {
    const bits = await nonNegative(p, o, a, [ks.length * n]);
    if (!bits) return null;
    const s = await telescope(p, bits, 0, ks, n, f, kMin);
    bits.dispose();
    const out = R.reshape(s, pv.shape);
    s.dispose();
    return out;
  }, diffs.bound));
}

/**
 * powerOfFourScale for a v known two ways: `fine` = v, right where v is small (LayerNormalization's
 * mean of d^2, whose squares' local truncation fails where d is large), and `coarse` = v 4^-shift,
 * right everywhere but with the resolution 4^shift 2^-F (the mean of (d 2^-shift)^2). e comes
 * from `fine` below 4^(kSplit+1) and from `coarse` from there up.
 *
 * Steps, with the same messages as powerOfFourScale's plus one Beaver product:
 * 1. One batched DReLU: b_k = [fine >= 4^k] for k = kMin+1 .. kSplit and
 *    c_k = [coarse >= 4^(k - shift)] for k = kSplit+1 .. kMax (integer bit shares).
 * 2. Locally: s_f = 2^-clamp(e, kMin, kSplit) from the b_k and s_c = 2^-max(e, kSplit) from the
 *    c_k (telescoping sums, as in powerOfFourScale).
 * 3. s = s_f + c_(kSplit+1) (s_c - s_f): SecureNN's SelectShare, a Beaver product with the integer
 *    bit, exact in the ring, so s is s_f or s_c to the last bit (whatever s_f is where fine was
 *    wrong).
 * Near a threshold 4^k with k > kSplit, coarse may decide either way: then v s^2 is outside
 * [1, 4) by a few times delta = 4^shift 2^-F / 4^(kSplit+1) relatively (its resolution and the
 * truncations that made it), within [1 - 3 delta, 4 (1 + 3 delta)), say.
 * The caller must accept that range (layerNorm fits its 1/sqrt on [0.9, 4.4]).
 */
export function powerOfFourScaleWide(fine: AnyTensor, coarse: AnyTensor, shift: number, kMin: number, kSplit: number, kMax: number): PrivateTensor {
  requireSecureNN('powerOfFourScale', fine);
  const pf = privateOnly('powerOfFourScale', fine), pc = privateOnly('powerOfFourScale', coarse);
  const c = pf.cluster, f = c.fixed.fracBits;
  checkExponents('powerOfFourScale', f, kMin, kSplit);
  checkExponents('powerOfFourScale', f, kSplit, kMax);
  checkExponents('powerOfFourScale', f, kSplit - shift, kMax - shift);
  if (!Number.isInteger(shift) || shift < 0) throw new RangeError(`powerOfFourScale: the coarse estimate's shift must be a non-negative integer, got ${shift}`);
  if (count(pc) !== count(pf)) throw new RangeError(`powerOfFourScale: the two estimates' shapes differ: [${pf.shape}] and [${pc.shape}]`);
  const n = count(pf), low = range(kMin + 1, kSplit), high = range(kSplit + 1, kMax);
  const diffs = L.concat([minusEach(pf, low.map((k) => 4 ** k)), minusEach(pc, high.map((k) => 4 ** (k - shift)))], 0) as PrivateTensor;
  return new PrivateTensor(c, pf.shape, runOp(c, 'powerOfFourScale', [diffs.shares], async (p, o, [a]) => {
    const bits = await nonNegative(p, o, a, [(low.length + high.length) * n]);
    const [sf, sc, pick] = bits
      ? await Promise.all([telescope(p, bits, 0, low, n, f, kMin), telescope(p, bits, low.length, high, n, f, kSplit), R.slice(bits, [low.length * n], [n])])
      : [null, null, null];
    bits?.dispose();
    const s = await selectShare(p, o, pick, sf, sc, n);
    for (const t of [sf, sc, pick]) t?.dispose();
    if (!s) return null;
    const out = R.reshape(s, pf.shape);
    s.dispose();
    return out;
  }, diffs.bound));
}
