// Ops that need comparisons: available under the exact protocols, SecureNN (the default) and FSS.
// Comparison results are returned as fixed-point 0.0 / 1.0 private tensors.
import * as R from '../ops';
import { convGeometry, type Padding, positivePair } from '../ops/conv';
import type { Cluster } from '../protocol/cluster';
import { isExact } from '../protocol/protocols';
import type { OpCtx, Party } from '../protocol/party';
import type { Share } from '../protocol/pond/share';
import { maxTree, treeLevels } from '../protocol/securenn/max_tree';
import { equalZero as eqZ, negative, nonNegative, relu as exactRelu, reluWithBit } from '../protocol/securenn/relu';
import { RingTensor } from '../tensor/ring_tensor';
import { normalizeAxis } from '../tensor/shape';
import * as L from './ops';
import { type AnyTensor, type PartyValues, PrivateTensor } from './tensor';

export function requireSecureNN(op: string, x: AnyTensor): void {
  if (!isExact(x.cluster.protocol))
    throw new Error(`${op} needs comparisons: use an exact protocol, 'securenn' (the default) or 'fss' (tfe.setProtocol, or a cluster created with { protocol })`);
}

function privateOnly(op: string, x: AnyTensor): PrivateTensor {
  if (x.kind !== 'private') throw new TypeError(`${op}: expects a private tensor`);
  return x;
}

function runOp(c: Cluster, name: string, deps: Promise<PartyValues<Share>>[], fn: (p: Party, op: OpCtx, locals: Share[]) => Promise<Share>): Promise<PartyValues<Share>> {
  const op = c.nextOp(name);
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
  return new PrivateTensor(c, px.shape, runOp(c, 'relu', [px.shares], (p, o, [a]) => exactRelu(p, o, a, px.shape)));
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
    }),
  );
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
  return new PrivateTensor(c, x.shape, runOp(c, name, [x.shares], async (p, o, [a]) => scaleBit(c, await f(p, o, a, x.shape))));
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
  const op2 = c.nextOp('equalZero');
  return bitOp('equalZero', px, (p, o, a, shape) => eqZ(p, o, op2, a, shape));
}

/** Runs the comparison tree on [k, rest]-shaped candidates prepared per server by `prep`. */
function treeOp(name: string, x: PrivateTensor, k: number, rest: number, outShape: readonly number[], prep: (s: RingTensor, p: Party) => Promise<RingTensor>, index: boolean): PrivateTensor {
  const c = x.cluster;
  const ops = Array.from({ length: Math.max(1, treeLevels(k)) }, () => c.nextOp(name));
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
  return new PrivateTensor(c, outShape, shares);
}

/** Moves `axis` first and flattens the rest: [k, rest]. */
async function axisFirst(s: RingTensor, axis: number): Promise<RingTensor> {
  const perm = [axis, ...[...s.shape.keys()].filter((i) => i !== axis)];
  const t = await R.transpose(s, perm);
  const out = R.reshape(t, [s.shape[axis], -1]);
  t.dispose();
  return out;
}

/** The comparison tree along one axis: the maximum, or (with `index`) its position. */
function alongAxis(name: string, x: AnyTensor, axis: number, index: boolean): PrivateTensor {
  requireSecureNN(name, x);
  const px = privateOnly(name, x);
  const a = normalizeAxis(name, axis, px.shape);
  const k = px.shape[a], outShape = px.shape.filter((_, i) => i !== a), rest = outShape.reduce((u, v) => u * v, 1);
  return treeOp(name, px, k, rest, outShape, (s) => axisFirst(s, a), index);
}

/** Maximum along an axis (SecureNN comparison tree). */
export const reduceMax = (x: AnyTensor, axis = 0): PrivateTensor => alongAxis('reduceMax', x, axis, false);

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
  }, false);
}

/**
 * s = 2^(outExp - e) for a private v, where 4^e <= v < 4^(e+1) and e is clamped to [kMin, kMax]:
 * exact in fixed point (the integer 2^(fracBits + outExp - e)), so that v s^2 lies in
 * [4^outExp, 4^(outExp+1)) with no loss of relative precision however large or small v is
 * (layerNorm's scaling, ops_norm.ts; softmax's 1/S, ops_softmax.ts).
 *
 * Steps: b_k = [v - 4^k >= 0] for k = kMin+1 .. kMax, as integer bit shares, in one batched DReLU
 * (the thresholds are public powers of two, exact in fixed point for k >= -fracBits/2); then,
 * locally, s = 2^(F+outExp-kMin) - sum_k b_k 2^(F+outExp-k), which telescopes to 2^(F+outExp-e)
 * since the bits are 1 exactly for k <= e. Each server receives only what DReLU's own messages
 * are (docs/securenn.md, docs/fss.md); the sum is local.
 */
export function powerOfFourScale(v: AnyTensor, kMin: number, kMax: number, outExp = 0): PrivateTensor {
  requireSecureNN('powerOfFourScale', v);
  const pv = privateOnly('powerOfFourScale', v);
  const c = pv.cluster, f = c.fixed.fracBits;
  if (!Number.isInteger(kMin) || !Number.isInteger(kMax) || kMin >= kMax || kMax > f || 2 * (kMin + 1) < -f)
    throw new RangeError(`powerOfFourScale: exponents [${kMin}, ${kMax}] do not fit ${f} fractional bits (need -${f / 2} <= kMin + 1 and kMax <= ${f})`);
  if (!Number.isInteger(outExp) || f + outExp - kMax < 0 || f + outExp - kMin > 62)
    throw new RangeError(`powerOfFourScale: 2^(${outExp} - e) for e in [${kMin}, ${kMax}] is not an integer at ${f} fractional bits below 2^62`);
  const n = pv.shape.reduce((a, b) => a * b, 1);
  const ks = Array.from({ length: kMax - kMin }, (_, i) => kMin + 1 + i);
  const row = L.reshape(pv, [1, n]);
  const diffs = L.concat(ks.map((k) => L.sub(row, 4 ** k)), 0) as PrivateTensor;
  return new PrivateTensor(
    c,
    pv.shape,
    runOp(c, 'powerOfFourScale', [diffs.shares], async (p, o, [a]) => {
      const bits = await nonNegative(p, o, a, [ks.length * n]);
      if (!bits) return null;
      const terms = await Promise.all(ks.map(async (k, i) => {
        const b = await R.slice(bits, [i * n], [n]);
        const t = await R.mulScalar(b, -(1n << BigInt(f + outExp - k)));
        b.dispose();
        return t;
      }));
      bits.dispose();
      const sum = await R.addN(terms);
      for (const t of terms) t.dispose();
      const shifted = p.role === 0 ? await R.addScalar(sum, 1n << BigInt(f + outExp - kMin)) : sum;
      if (shifted !== sum) sum.dispose();
      const out = R.reshape(shifted, pv.shape);
      shifted.dispose();
      return out;
    }),
  );
}
