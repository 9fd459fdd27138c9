// tfe-style ops on private and public tensors, run with Pond. Shapes are checked when an op is
// called; the protocol runs when its inputs are ready.
import * as R from '../ops';
import type { Cluster } from '../protocol/cluster';
import type { OpCtx, Party } from '../protocol/party';
import { addPublic, addShares, negShare, publicSub, subShares } from '../protocol/pond/arith';
import { concatShares, local, type LocalFn, localOps } from '../protocol/pond/local_ops';
import type { Share } from '../protocol/pond/share';
import { RingTensor } from '../tensor/ring_tensor';
import { broadcastShapes, reductionAxes, shapeString } from '../tensor/shape';
import { maxBound, sumBound, timesBound } from './bounds';
import { type AnyTensor, type PartyValues, PrivateTensor, PublicTensor } from './tensor';

type Pub = RingTensor | null;

/** The cluster all operands belong to; errors name the op. */
export function clusterOf(op: string, ...ts: AnyTensor[]): Cluster {
  for (const t of ts)
    if (!(t instanceof PrivateTensor || t instanceof PublicTensor)) throw new TypeError(`${op}: expected a PrivateTensor or PublicTensor, got ${String(t)}`);
  const c = ts[0].cluster;
  if (ts.some((t) => t.cluster !== c)) throw new Error(`${op}: tensors belong to different clusters`);
  return c;
}

function valuesOf(t: AnyTensor): Promise<PartyValues<Share | Pub>> {
  return t.kind === 'private' ? t.shares : t.values;
}

/** Starts an op on every party once `deps` are ready; the result is private. */
function privateOp<D extends unknown[]>(c: Cluster, name: string, shape: readonly number[], deps: { [K in keyof D]: Promise<PartyValues<D[K]>> }, fn: (p: Party, op: OpCtx, ...locals: D) => Promise<Share>): PrivateTensor {
  const op = c.nextOp(name);
  const shares = Promise.all(deps).then((ds) => c.run(op, (p, o) => fn(p, o, ...(ds.map((d) => d.get(p.name)) as D))));
  return new PrivateTensor(c, shape, shares);
}

/** Same for public results: each compute server computes the public value itself. */
function publicOp<D extends unknown[]>(c: Cluster, name: string, shape: readonly number[], deps: { [K in keyof D]: Promise<PartyValues<D[K]>> }, fn: (v: D) => Promise<RingTensor>): PublicTensor {
  const op = c.nextOp(name);
  const values = Promise.all(deps).then((ds) => c.run(op, async (p) => (p.isCompute ? fn(ds.map((d) => d.get(p.name)) as D) : null)));
  return new PublicTensor(c, shape, values);
}

/** x rounded to the nearest integer, halves to even: as the native encoder rounds inputs. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function encodeScalar(c: Cluster, v: number, op: string): bigint {
  // Rounded as inputs are (half to even): -1.5 units was -1 as a constant and -2 as an input.
  const e = roundHalfEven(v * 2 ** c.fixed.fracBits);
  if (!Number.isFinite(v) || Math.abs(e) >= 2 ** 52) throw new RangeError(`${op}: scalar ${v} is outside the fixed-point range`);
  return BigInt(e);
}

function scalarTensor(c: Cluster, v: number, op: string): PublicTensor {
  return constantTensor(c, [v], [], op);
}

/** Public constants every party knows (fixed-point encoded), of `shape`: one per row, say, to broadcast. */
export function constantTensor(c: Cluster, values: readonly number[], shape: readonly number[], op = 'constant'): PublicTensor {
  if (values.length !== shape.reduce((a, b) => a * b, 1)) throw new RangeError(`${op}: ${values.length} values do not fill shape ${shapeString(shape)}`);
  const enc = values.map((v) => encodeScalar(c, v, op));
  return new PublicTensor(c, shape, c.run(c.nextOp('constant'), async (p) => (p.isCompute ? RingTensor.fromBigInts(enc, shape) : null)));
}

// ---------- linear ops ----------

const absBig = (v: bigint): bigint => (v < 0n ? -v : v);

/**
 * x + k (or x - k) for a constant k of the program: every party knows k (server2 too, which deals
 * the comparisons' keys), so a private x's bound carries over, plus |k| (lib/api/bounds.ts).
 */
function plusConstant(op: 'add' | 'sub', x: AnyTensor, k: number): AnyTensor {
  const out = (op === 'add' ? add : sub)(x, scalarTensor(x.cluster, k, op));
  return out.kind === 'private' && x.kind === 'private' ? out.withBound(sumBound(x.bound, absBig(encodeScalar(x.cluster, k, op)))) : out;
}

export function add(x: AnyTensor, y: AnyTensor | number): AnyTensor {
  if (typeof y === 'number') return plusConstant('add', x, y);
  const c = clusterOf('add', x, y);
  const shape = broadcastShapes('add', x.shape, y.shape);
  if (x.kind === 'private' && y.kind === 'private') return privateOp(c, 'add', shape, [x.shares, y.shares], (p, o, a: Share, b: Share) => addShares(p, o, a, b)).withBound(sumBound(x.bound, y.bound));
  if (x.kind === 'private') return privateOp(c, 'add', shape, [x.shares, (y as PublicTensor).values], (p, o, a: Share, b: Pub) => addPublic(p, o, a, b));
  if (y.kind === 'private') return privateOp(c, 'add', shape, [y.shares, x.values], (p, o, b: Share, a: Pub) => addPublic(p, o, b, a));
  return publicOp(c, 'add', shape, [x.values, y.values], ([a, b]: [Pub, Pub]) => R.add(a!, b!));
}

export function sub(x: AnyTensor, y: AnyTensor | number): AnyTensor {
  if (typeof y === 'number') return plusConstant('sub', x, y);
  const c = clusterOf('sub', x, y);
  const shape = broadcastShapes('sub', x.shape, y.shape);
  if (x.kind === 'private' && y.kind === 'private') return privateOp(c, 'sub', shape, [x.shares, y.shares], (p, o, a: Share, b: Share) => subShares(p, o, a, b)).withBound(sumBound(x.bound, y.bound));
  if (x.kind === 'private')
    return privateOp(c, 'sub', shape, [x.shares, (y as PublicTensor).values], async (p, o, a: Share, b: Pub) => {
      const nb = p.isCompute ? await R.neg(b!) : null;
      try {
        return await addPublic(p, o, a, nb);
      } finally {
        nb?.dispose();
      }
    });
  if (y.kind === 'private') return privateOp(c, 'sub', shape, [y.shares, x.values], (p, o, b: Share, a: Pub) => publicSub(p, o, a, b));
  return publicOp(c, 'sub', shape, [x.values, y.values], ([a, b]: [Pub, Pub]) => R.sub(a!, b!));
}

export function neg(x: AnyTensor): AnyTensor {
  const c = clusterOf('neg', x);
  if (x.kind === 'private') return privateOp(c, 'neg', x.shape, [x.shares], (p, o, a: Share) => negShare(p, o, a)).withBound(x.bound);
  return publicOp(c, 'neg', x.shape, [x.values], ([a]: [Pub]) => R.neg(a!));
}

/** A local linear op on x; `bound` maps x's bound to the result's (default: the same, for ops that move or copy elements). */
function localLinear(name: string, x: AnyTensor, shape: readonly number[], f: LocalFn, bound = (b: bigint | undefined) => b): AnyTensor {
  const c = clusterOf(name, x);
  if (x.kind === 'private') return privateOp(c, name, shape, [x.shares], (p, o, a: Share) => local(p, o, a, f)).withBound(bound(x.bound));
  return publicOp(c, name, shape, [x.values], async ([a]: [Pub]) => f(a!));
}

export function reshape(x: AnyTensor, shape: readonly number[]): AnyTensor {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || (d < 0 && d !== -1)))
    throw new RangeError(`reshape: the new shape ${JSON.stringify(shape)} must hold non-negative integers and at most one -1`);
  if (shape.filter((d) => d === -1).length > 1) throw new RangeError(`reshape: the new shape ${shapeString(shape)} has more than one -1; only one size can be inferred`);
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const size = x.shape.reduce((a, b) => a * b, 1);
  const target = shape.map((d) => (d === -1 ? size / known : d));
  if (target.reduce((a, b) => a * b, 1) !== size || target.some((d) => !Number.isInteger(d) || d < 0))
    throw new RangeError(`reshape: cannot reshape ${shapeString(x.shape)} (${size} values) to ${shapeString(shape)}`);
  const out = localLinear('reshape', x, target, localOps.reshape(target));
  // A reshape keeps the elements' order, so a relu's opened gate input still lines up with them
  // and a product after the reshape (a Flatten before a Dense) can still fold into that relu.
  if (x.kind === 'private' && x.foldable && out.kind === 'private') out.shareFoldable(x.foldable);
  return out;
}

export function flatten(x: AnyTensor): AnyTensor {
  if (x.rank < 1) throw new RangeError('flatten: input must have rank >= 1, got shape []');
  return reshape(x, [x.shape[0], -1]);
}

export function transpose(x: AnyTensor, perm?: readonly number[]): AnyTensor {
  const pm = perm ?? [...x.shape.keys()].reverse();
  if (pm.length !== x.rank || [...pm].sort((a, b) => a - b).some((v, i) => v !== i))
    throw new RangeError(`transpose: ${JSON.stringify(pm)} is not a permutation of the axes of ${shapeString(x.shape)}`);
  return localLinear('transpose', x, pm.map((i) => x.shape[i]), localOps.transpose(pm));
}

export function slice(x: AnyTensor, begin: readonly number[], size?: readonly number[]): AnyTensor {
  const sz = size ?? begin.map(() => -1);
  if (begin.length !== x.rank || sz.length !== x.rank) throw new RangeError(`slice: begin and size must match the rank of ${shapeString(x.shape)}`);
  const shape = sz.map((d, i) => (d === -1 ? x.shape[i] - begin[i] : d));
  if (shape.some((d, i) => begin[i] < 0 || d < 0 || begin[i] + d > x.shape[i]))
    throw new RangeError(`slice: begin ${shapeString(begin)} size ${shapeString(sz)} is out of bounds for shape ${shapeString(x.shape)}`);
  return localLinear('slice', x, shape, localOps.slice(begin, sz));
}

export function pad(x: AnyTensor, paddings: readonly (readonly [number, number])[]): AnyTensor {
  if (paddings.length !== x.rank) throw new RangeError(`pad: paddings must hold one [before, after] pair per axis of ${shapeString(x.shape)}`);
  return localLinear('pad', x, x.shape.map((d, i) => d + paddings[i][0] + paddings[i][1]), localOps.pad(paddings));
}

/** The entries at public `indices` along `axis` (out.shape[axis] = indices.length): copies, so local and exact. */
export function gather(x: AnyTensor, indices: readonly number[], axis: number): AnyTensor {
  const ax = axis < 0 ? axis + x.rank : axis;
  if (!Number.isInteger(ax) || ax < 0 || ax >= x.rank) throw new RangeError(`gather: axis ${axis} is out of range for ${shapeString(x.shape)}`);
  const bad = indices.findIndex((i) => !Number.isInteger(i) || i < 0 || i >= x.shape[ax]);
  if (bad >= 0) throw new RangeError(`gather: index ${indices[bad]} at position ${bad} is out of range [0, ${x.shape[ax]}) for axis ${ax} of ${shapeString(x.shape)}`);
  return localLinear('gather', x, x.shape.map((d, i) => (i === ax ? indices.length : d)), localOps.gather(indices, ax));
}

/** Sum over `axes` (undefined or null: every axis, as tfjs's sum). */
export function reduceSum(x: AnyTensor, axes?: number | readonly number[] | null, keepDims = false): AnyTensor {
  const norm = reductionAxes('reduceSum', axes, x.shape);
  const shape = keepDims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
  const summed = norm.reduce((k, a) => k * x.shape[a], 1);
  return localLinear('reduceSum', x, shape, localOps.reduceSum(norm, keepDims), (b) => timesBound(b, summed));
}

export function concat(xs: readonly AnyTensor[], axis = 0): AnyTensor {
  if (xs.length === 0) throw new RangeError('concat: needs at least one tensor');
  const c = clusterOf('concat', ...xs);
  const ax = axis < 0 ? axis + xs[0].rank : axis;
  // Checked here: the ring op normalises a negative axis again, and an axis below -rank gave a
  // tensor whose values and declared shape disagreed.
  if (!Number.isInteger(axis) || ax < 0 || ax >= xs[0].rank) throw new RangeError(`concat: axis ${axis} is out of range for rank ${xs[0].rank}`);
  for (const t of xs)
    if (t.rank !== xs[0].rank || t.shape.some((d, i) => i !== ax && d !== xs[0].shape[i]))
      throw new RangeError(`concat: shapes ${shapeString(xs[0].shape)} and ${shapeString(t.shape)} differ outside axis ${axis}`);
  const shape = xs[0].shape.map((d, i) => (i === ax ? xs.reduce((s, t) => s + t.shape[ax], 0) : d));
  if (xs.every((t) => t.kind === 'public'))
    return publicOp(c, 'concat', shape, xs.map(valuesOf) as Promise<PartyValues<Pub>>[], (vs: Pub[]) => R.concat(vs as RingTensor[], ax));
  // Public parts join as shares held by server0 (server1 holds zeros for them).
  const parts = xs.map((t) => (t.kind === 'private' ? t : add(t, zerosLike(t))) as PrivateTensor);
  return privateOp(c, 'concat', shape, parts.map((t) => t.shares) as Promise<PartyValues<Share>>[], (p, o, ...ss: Share[]) => concatShares(p, o, ss, ax)).withBound(maxBound(...parts.map((t) => t.bound)));
}

function zerosLike(t: PublicTensor): PrivateTensor {
  const c = t.cluster;
  return privateOp(c, 'zeros', t.shape, [t.values], async (p, _o, v: Pub) => (p.isCompute ? R.mulScalar(v!, 0) : null));
}

export { bilinearOp, conv2d, matmul, mul, square, avgPool2d, polynomial, relu, sigmoid, tanh, reveal } from './ops_nonlinear';
