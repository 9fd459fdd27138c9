// Ops that need comparisons: available under the exact protocols, SecureNN (the default) and FSS.
// Comparison results are returned as fixed-point 0.0 / 1.0 private tensors.
import * as R from '../ops';
import { convGeometry, type Padding, positivePair } from '../ops/conv';
import type { Cluster } from '../protocol/cluster';
import { exactProtocolsText, isExact } from '../protocol/protocols';
import type { OpCtx, Party } from '../protocol/party';
import { disposing } from '../protocol/pond/arith';
import type { Share } from '../protocol/pond/share';
import { maxTree, treeLevels } from '../protocol/exact/max_tree';
import { equalZero as eqZ, negative, nonNegative, onFlat, relu as exactRelu, reluWithBit, selectShare } from '../protocol/exact/relu';
import type { PartyName } from '../net/transport';
import { type ProductFolding, productFolding } from '../protocol/product_folding';
import { RingTensor } from '../tensor/ring_tensor';
import { normalizeAxis, reductionAxes, sizeOf } from '../tensor/shape';
import { maxBound, sumBound } from './bounds';
import * as L from './ops';
import { type AnyTensor, type PartyValues, PrivateTensor } from './tensor';

export function requireExact(op: string, x: AnyTensor): void {
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

/** Exact ReLU (the exact protocols): bit-exact with plaintext fixed point. */
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
 * the way (protocol/exact/relu.ts reluWithBit). Both bit-exact with plaintext fixed point.
 */
export function reluAndBitOp(x: AnyTensor): { relu: PrivateTensor; bit: PrivateTensor } {
  requireExact('relu', x);
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

/**
 * x - y for a comparison; either may be a number (a public constant) as long as the other is a
 * tensor. (x.sub(y) failed with "x.sub is not a function" for greater(x, 2), which swaps them.)
 * Exact while |x - y| stays below 2^(63 - fracBits), the ring's signed range.
 */
function diffOp(name: string, x: AnyTensor | number, y: AnyTensor | number): PrivateTensor {
  if (typeof x === 'number' && typeof y === 'number') throw new TypeError(`${name}: at least one operand must be a private tensor`);
  const d = typeof x === 'number' ? L.add(L.neg(y as AnyTensor), x) : L.sub(x, y);
  if (d.kind !== 'private') throw new TypeError(`${name}: at least one operand must be private`);
  return d as PrivateTensor;
}

function bitOp(name: string, x: PrivateTensor, f: (p: Party, o: OpCtx, a: Share, shape: readonly number[]) => Promise<Share>): PrivateTensor {
  const c = x.cluster;
  // The gates compare x (or -x: the same bound).
  return new PrivateTensor(c, x.shape, runOp(c, name, [x.shares], async (p, o, [a]) => scaleBit(c, await f(p, o, a, x.shape)), x.bound));
}

/** [x < y] as 0.0/1.0 (the MSB of x - y). */
export function less(x: AnyTensor | number, y: AnyTensor | number): PrivateTensor {
  const d = diffOp('less', x, y);
  requireExact('less', d);
  return bitOp('less', d, negative);
}

/** [x > y] as 0.0/1.0. */
export function greater(x: AnyTensor | number, y: AnyTensor | number): PrivateTensor {
  const d = diffOp('greater', y, x);
  requireExact('greater', d);
  return bitOp('greater', d, negative);
}

/** [x >= y] as 0.0/1.0 (DReLU of x - y). */
export function greaterEqual(x: AnyTensor | number, y: AnyTensor | number): PrivateTensor {
  const d = diffOp('greaterEqual', x, y);
  requireExact('greaterEqual', d);
  return bitOp('greaterEqual', d, nonNegative);
}

/** [x >= 0] as 0.0/1.0 for a private x (DReLU). */
export function nonNegativeOp(x: AnyTensor): PrivateTensor {
  requireExact('nonNegative', x);
  return bitOp('nonNegative', privateOnly('nonNegative', x), nonNegative);
}

/** [x = 0] as 0.0/1.0. */
export function equalZero(x: AnyTensor): PrivateTensor {
  return equalZeroOf(x, false);
}

/**
 * [x = 0] as 0.0/1.0 for an x that holds whole numbers by its construction (differences of
 * strings' ids: layers_lookup.ts), which an equality gate may use (OpCtx.wholeUnits). A fraction
 * in x may give a wrong answer there: only for values whose structure makes them whole.
 */
export function equalZeroWhole(x: AnyTensor): PrivateTensor {
  return equalZeroOf(x, true);
}

function equalZeroOf(x: AnyTensor, whole: boolean): PrivateTensor {
  requireExact('equalZero', x);
  const px = privateOnly('equalZero', x);
  const c = px.cluster;
  // The gate compares x, or (built from DReLU) x and x - 1: the bound covers both.
  const op = c.nextOp('equalZero', px.bound === undefined ? undefined : px.bound + 1n);
  if (whole) op.wholeUnits = c.fixed.fracBits;
  const shares = px.shares.then((s) => c.run(op, async (p, o) => scaleBit(c, await eqZ(p, o, s.get(p.name) ?? null, px.shape))));
  return new PrivateTensor(c, px.shape, shares);
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

/** Moves `axes` first and flattens: [k, rest], k the product of their sizes. */
async function axesFirst(s: RingTensor, axes: readonly number[]): Promise<RingTensor> {
  const perm = [...axes, ...[...s.shape.keys()].filter((i) => !axes.includes(i))];
  const t = await R.transpose(s, perm);
  const out = R.reshape(t, [sizeOf(axes.map((a) => s.shape[a])), -1]);
  t.dispose();
  return out;
}

/**
 * The comparison tree over `axes` (normalised, none repeated): the maximum, or (with `index`) its
 * position; `wholeRing`: x's bound ignored. No axes: x itself (a maximum over one candidate).
 */
function overAxes(name: string, px: PrivateTensor, axes: readonly number[], keepDims: boolean, index: boolean, wholeRing = false): PrivateTensor {
  if (axes.length === 0) return px;
  const k = sizeOf(axes.map((a) => px.shape[a]));
  const rest = sizeOf(px.shape.filter((_, i) => !axes.includes(i)));
  const outShape = px.shape.flatMap((d, i) => (!axes.includes(i) ? [d] : keepDims ? [1] : []));
  return treeOp(name, px, k, rest, outShape, (s) => axesFirst(s, axes), index, wholeRing ? undefined : px.bound);
}

function exactPrivate(name: string, x: AnyTensor): PrivateTensor {
  requireExact(name, x);
  return privateOnly(name, x);
}

/**
 * Maximum over `axes` (a comparison tree: lib/protocol/exact/max_tree.ts), as tfjs's max: none given (undefined or null)
 * means every axis; one axis or a list; `keepDims` keeps them as size 1.
 */
export function reduceMax(x: AnyTensor, axes?: number | readonly number[] | null, keepDims = false): PrivateTensor {
  const px = exactPrivate('reduceMax', x);
  return overAxes('reduceMax', px, reductionAxes('reduceMax', axes, px.shape), keepDims, false);
}

/**
 * reduceMax comparing on the whole ring whatever x's bound (lib/api/bounds.ts): for verify's
 * debugRanges, which looks for values past their bounds (failed truncations) and must see them.
 */
export function reduceMaxWholeRing(x: AnyTensor, axis = 0): PrivateTensor {
  const px = exactPrivate('reduceMax', x);
  return overAxes('reduceMax', px, [normalizeAxis('reduceMax', axis, px.shape)], false, false, true);
}

/** Index of the maximum along one axis (default 0, as tfjs's argMax), as a fixed-point private tensor (ties: the first). */
export function argmax(x: AnyTensor, axis = 0): PrivateTensor {
  const px = exactPrivate('argmax', x);
  if (typeof axis !== 'number') throw new TypeError(`argmax: axis must be one number (an index along one axis), got ${JSON.stringify(axis)}`);
  return overAxes('argmax', px, [normalizeAxis('argmax', axis, px.shape)], false, true);
}

/**
 * Max pooling over NHWC windows (VALID padding; any window and strides): each window's k = kh*kw
 * candidates are gathered with im2col and reduced by the comparison tree.
 */
export function maxPool2d(x: AnyTensor, opts: { poolSize: number | [number, number]; strides?: number | [number, number]; padding?: Padding }): PrivateTensor {
  requireExact('maxPool2d', x);
  const px = privateOnly('maxPool2d', x);
  const [kh, kw] = positivePair('maxPool2d', opts.poolSize, 'poolSize', 2);
  const strides = opts.strides === undefined ? ([kh, kw] as [number, number]) : positivePair('maxPool2d', opts.strides, 'strides', 1);
  const padding = opts.padding ?? 'VALID';
  const g = convGeometry('maxPool2d', px.shape, kh, kw, strides, padding);
  const k = kh * kw, rest = g.batch * g.outH * g.outW * g.channels;
  const outShape = [g.batch, g.outH, g.outW, g.channels];
  // SAME: TensorFlow pads max pooling with -infinity, so that padding never wins. Here each side
  // repeats its edge row or column instead (locally, on each share): every SAME window holds the
  // input's edge element it repeats (the padding before is below the window, the window starts
  // within the input), so the maximum is the same, and the values compared stay the model's own
  // (a large negative constant made every comparison's width the whole ring, and out of range
  // under a narrower fssBits: the edge windows returned it).
  const padH = padding === 'SAME' ? Math.max((g.outH - 1) * strides[0] + kh - g.inH, 0) : 0;
  const padW = padding === 'SAME' ? Math.max((g.outW - 1) * strides[1] + kw - g.inW, 0) : 0;
  const pads: [number, number][] = [[0, 0], [Math.floor(padH / 2), padH - Math.floor(padH / 2)], [Math.floor(padW / 2), padW - Math.floor(padW / 2)], [0, 0]];
  return treeOp('maxPool2d', px, k, rest, outShape, async (s0) => {
    const s = padH + padW > 0 ? await edgePad(s0, pads) : s0;
    const cols = await R.im2col(s, { kernelSize: [kh, kw], strides, padding: 'VALID' });
    if (s !== s0) s.dispose();
    const windows = R.reshape(cols, [g.batch * g.outH * g.outW, k, g.channels]);
    cols.dispose();
    const first = await R.transpose(windows, [1, 0, 2]);
    windows.dispose();
    const out = R.reshape(first, [k, rest]);
    first.dispose();
    return out;
  }, false, px.bound);
}

/** x [n, h, w, c] with its first and last rows and columns repeated `pads[1]` and `pads[2]` times. */
async function edgePad(x: RingTensor, pads: [number, number][]): Promise<RingTensor> {
  let t = x;
  for (const axis of [1, 2]) {
    const [before, after] = pads[axis];
    if (before + after === 0) continue;
    const len = t.shape[axis], at = (i: number) => t.shape.map((_, a) => (a === axis ? i : 0));
    const one = t.shape.map((d, a) => (a === axis ? 1 : d));
    const first = await R.slice(t, at(0), one), last = await R.slice(t, at(len - 1), one);
    const next = await R.concat([...Array<RingTensor>(before).fill(first), t, ...Array<RingTensor>(after).fill(last)], axis);
    for (const u of [first, last]) u.dispose();
    if (t !== x) t.dispose();
    t = next;
  }
  return t;
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
 * Locally, g(kLow) + sum_i b_i (g(k_i) - g(k_i - 1)) for the bits b_i of thresholds 4^k_i (k_i =
 * kLow+1, kLow+2, ...), the [n] slices of `bits` from slice `first` on, and g(e) an integer (in
 * ring units) for each e: g(e) for the integer e in [kLow, max k_i] that the bits say (they are 1
 * exactly for k_i <= e, and the sum telescopes).
 */
async function telescope(p: Party, bits: RingTensor, first: number, ks: number[], n: number, g: (e: number) => bigint, kLow: number): Promise<RingTensor> {
  const terms = await Promise.all(ks.map(async (k, i) => {
    const b = await R.slice(bits, [(first + i) * n], [n]);
    const t = await R.mulScalar(b, g(k) - g(k - 1));
    b.dispose();
    return t;
  }));
  const sum = await R.addN(terms);
  for (const t of terms) t.dispose();
  if (p.role !== 0) return sum;
  const out = await R.addScalar(sum, g(kLow));
  sum.dispose();
  return out;
}

/** s = 2^-e in ring units at f fractional bits (e <= f). */
const powerOfTwo = (f: number) => (e: number) => 1n << BigInt(f - e);

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
  requireExact('powerOfFourScale', v);
  const pv = privateOnly('powerOfFourScale', v);
  const c = pv.cluster, f = c.fixed.fracBits;
  checkExponents('powerOfFourScale', f, kMin, kMax);
  const n = count(pv), ks = range(kMin + 1, kMax);
  const diffs = minusEach(pv, ks.map((k) => 4 ** k));
  return new PrivateTensor(c, pv.shape, runOp(c, 'powerOfFourScale', [diffs.shares], async (p, o, [a]) => {
    const bits = await nonNegative(p, o, a, [ks.length * n]);
    if (!bits) return null;
    const s = await telescope(p, bits, 0, ks, n, powerOfTwo(f), kMin);
    bits.dispose();
    const out = R.reshape(s, pv.shape);
    s.dispose();
    return out;
  }, diffs.bound));
}

/** One estimate of a private v for powerOfFourScaleWide: `value` holds v times the public `scale`. */
export interface ScaledEstimate {
  value: AnyTensor;
  scale: number;
}

/** Refuses thresholds that fixed point does not hold exactly (t 2^f an integer below 2^52, a public scalar's range). */
function checkThresholds(op: string, f: number, ts: number[]): void {
  for (const t of ts) {
    const raw = t * 2 ** f;
    if (!Number.isInteger(raw) || Math.abs(raw) >= 2 ** 52) throw new RangeError(`${op}: threshold ${t} is not exact at ${f} fractional bits (or beyond 2^${52 - f})`);
  }
}

/**
 * powerOfFourScale for a v known two ways, each as v times a public scale: `fine`, right where v
 * is small, and `coarse`, right everywhere at a coarser resolution (LayerNormalization's sums of
 * squares at two roundings, ops_norm.ts, whose fine one wraps where v is large). e comes from fine
 * below 4^(kSplit+1) and from coarse from there up. With `squared` = lambda, also lambda s^2 (to
 * the nearest ring unit) from the same bits, for no further message.
 *
 * Steps, with the same messages as powerOfFourScale's plus one Beaver product:
 * 1. One batched DReLU: b_k = [fine >= 4^k fine.scale] for k = kMin+1 .. kSplit and
 *    c_k = [coarse >= 4^k coarse.scale] for k = kSplit+1 .. kMax (integer bit shares).
 * 2. Locally, telescoping sums (as in powerOfFourScale) of g(e) = 2^-e and lambda 4^-e: from the
 *    b_k with e clamped to [kMin, kSplit], from the c_k with e at least kSplit.
 * 3. [s; lambda s^2] = fine's + c_(kSplit+1) (coarse's - fine's): SecureNN's SelectShare, a
 *    Beaver product with the integer bit, exact in the ring, so each is fine's or coarse's to the
 *    last bit (whatever fine's is where fine was wrong).
 * Where an estimate is off by delta relatively, v s^2 lies in [1 - delta, 4 (1 + delta)); the
 * caller must accept that range.
 */
export function powerOfFourScaleWide(fine: ScaledEstimate, coarse: ScaledEstimate, kMin: number, kSplit: number, kMax: number, squared?: number): { s: PrivateTensor; squared?: PrivateTensor } {
  const op = 'powerOfFourScale';
  requireExact(op, fine.value);
  const pf = privateOnly(op, fine.value), pc = privateOnly(op, coarse.value);
  const c = pf.cluster, f = c.fixed.fracBits;
  if (![kMin, kSplit, kMax].every(Number.isInteger) || !(kMin < kSplit && kSplit < kMax) || kMax > f)
    throw new RangeError(`${op}: exponents ${kMin} < ${kSplit} < ${kMax} must be integers in that order, the last at most ${f}`);
  if (count(pc) !== count(pf)) throw new RangeError(`${op}: the two estimates' shapes differ: [${pf.shape}] and [${pc.shape}]`);
  const n = count(pf), low = range(kMin + 1, kSplit), high = range(kSplit + 1, kMax);
  const fineAt = low.map((k) => 4 ** k * fine.scale), coarseAt = high.map((k) => 4 ** k * coarse.scale);
  checkThresholds(op, f, [...fineAt, ...coarseAt]);
  const lambda = squared;
  if (lambda !== undefined && !(Number.isFinite(lambda) && Math.abs(lambda) * 4 ** -kMin * 2 ** f < 2 ** 52))
    throw new RangeError(`${op}: the factor of s^2, ${lambda}, is outside the fixed-point range`);
  const gs = [powerOfTwo(f), ...(lambda === undefined ? [] : [(e: number) => BigInt(Math.round(lambda * 4 ** -e * 2 ** f))])];
  const diffs = L.concat([minusEach(pf, fineAt), minusEach(pc, coarseAt)], 0) as PrivateTensor;
  const both = new PrivateTensor(c, [gs.length * n], runOp(c, op, [diffs.shares], async (p, o, [a]) => {
    const bits = await nonNegative(p, o, a, [(low.length + high.length) * n]);
    const sums = async (first: number, ks: number[], kLow: number) => {
      const parts = await Promise.all(gs.map((g) => telescope(p, bits!, first, ks, n, g, kLow)));
      return disposing(parts, () => R.concat(parts));
    };
    const [sf, sc, pick] = bits ? await Promise.all([sums(0, low, kMin), sums(low.length, high, kSplit), R.slice(bits, [low.length * n], [n])]) : [null, null, null];
    bits?.dispose();
    const picks = pick && gs.length > 1 ? await disposing([pick], () => R.concat(gs.map(() => pick))) : pick;
    const out = await selectShare(p, o, picks, sf, sc, gs.length * n);
    for (const t of [sf, sc, picks]) t?.dispose();
    return out;
  }, diffs.bound));
  const part = (i: number) => L.reshape(L.slice(both, [i * n], [n]), pf.shape) as PrivateTensor;
  return { s: part(0), squared: lambda === undefined ? undefined : part(1) };
}
