// Exact ReLU, selection and the comparisons built from them, on top of the protocol's DReLU (and
// its fused relu gate where it has one: comparison.ts), with Beaver products: they run under every
// exact protocol (SecureNN and FSS); the selection is SecureNN's Algorithm 2.
import { add, addScalar, concat, mulScalar, reshape, slice, sub } from '../../ops';
import type { RingTensor } from '../../tensor/ring_tensor';
import type { OpCtx, Party } from '../party';
import { bilinear, mask } from '../pond/arith';
import { drelu, fusedRelu, fusedReluBit, zeroGate } from '../comparison';

/**
 * Runs f on the flat [n] view of a share (the SecureNN protocols work on flat vectors) and gives
 * its result the share's shape (or `outShape`).
 */
export async function onFlat(a: RingTensor | null, shape: readonly number[], f: (af: RingTensor | null, n: number) => Promise<RingTensor | null>, outShape: readonly number[] = shape): Promise<RingTensor | null> {
  const af = a ? reshape(a, [a.size]) : null;
  const z = await f(af, shape.reduce((x, y) => x * y, 1));
  af?.dispose();
  if (!z) return null;
  const out = reshape(z, outShape);
  z.dispose();
  return out;
}

/** Shares of a * b for shares a, b (no truncation: one of them is an integer bit). */
async function product(p: Party, op: OpCtx, a: RingTensor | null, b: RingTensor | null, n: number, slot: number): Promise<RingTensor | null> {
  const cr = p.crypto!;
  const [ma, mb] = await Promise.all([mask(p, cr, op, slot, a, [n]), mask(p, cr, op, slot + 1, b, [n])]);
  const z = await bilinear(p, cr, op, { kind: 'mul' }, ma, mb, [n], slot + 2);
  for (const m of [ma, mb]) {
    m.alpha?.dispose();
    m.a?.dispose();
  }
  return z;
}

/**
 * SecureNN Algorithm 2 (SelectShare): shares of x if alpha = 0 and of y if alpha = 1, for a shared
 * bit alpha: x + alpha (y - x), with one Beaver product dealt by server2.
 */
export async function selectShare(p: Party, op: OpCtx, alpha: RingTensor | null, x: RingTensor | null, y: RingTensor | null, n: number, slot = 60): Promise<RingTensor | null> {
  const diff = p.isCompute && x && y ? await sub(y, x) : null;
  const chosen = await product(p, op, alpha, diff, n, slot);
  diff?.dispose();
  if (!p.isCompute || !chosen || !x) return null;
  const out = await add(x, chosen);
  chosen.dispose();
  return out;
}

/**
 * relu(a) = a * DReLU(a) for flat [n] shares, from the protocol's relu gate where it has one, else
 * DReLU and a Beaver product; `withBit`: [relu; DReLU] as one [2n] share (the gate computes the
 * bit on the way and sends nothing more for it).
 */
async function reluFlat(p: Party, op: OpCtx, af: RingTensor | null, n: number, withBit: boolean): Promise<RingTensor | null> {
  const gate = withBit ? fusedReluBit(p) : fusedRelu(p);
  if (gate) return gate(p, op, af, n);
  const d = await drelu(p, op, af, n);
  const z = await product(p, op, af, d, n, 50);
  const out = withBit && z && d ? await concat([z, d]) : z;
  if (out !== z) z?.dispose();
  d?.dispose();
  return out;
}

/**
 * SecureNN ReLU (Algorithm 7): relu(a) = a * DReLU(a), exact for |a| < 2^62: the product with a
 * shared bit needs no truncation, so the result is bit-exact with plaintext fixed point.
 */
export function relu(p: Party, op: OpCtx, a: RingTensor | null, shape: readonly number[]): Promise<RingTensor | null> {
  return onFlat(a, shape, (af, n) => reluFlat(p, op, af, n, false));
}

/**
 * relu(a) and DReLU(a) as one share of shape [2, ...shape] ([relu; bit], the bit as an integer 0
 * or 1): what relu computes anyway, so a caller that needs both (the smooth activations' sign and
 * relu, ops_smooth.ts) runs one comparison instead of two. Sends what relu sends.
 */
export function reluWithBit(p: Party, op: OpCtx, a: RingTensor | null, shape: readonly number[]): Promise<RingTensor | null> {
  return onFlat(a, shape, (af, n) => reluFlat(p, op, af, n, true), [2, ...shape]);
}

/** Shares of [a >= 0] (DReLU) in any shape. */
export function nonNegative(p: Party, op: OpCtx, a: RingTensor | null, shape: readonly number[]): Promise<RingTensor | null> {
  return onFlat(a, shape, (af, n) => drelu(p, op, af, n));
}

/** Shares of [a < 0] = 1 - DReLU(a). */
export async function negative(p: Party, op: OpCtx, a: RingTensor | null, shape: readonly number[]): Promise<RingTensor | null> {
  const d = await nonNegative(p, op, a, shape);
  if (!d) return null;
  const negd = await mulScalar(d, -1n);
  d.dispose();
  if (p.role !== 0) return negd;
  const out = await addScalar(negd, 1n);
  negd.dispose();
  return out;
}

/**
 * Shares of [a = 0]: the protocol's equality gate where it has one (FSS: one DPF key per element,
 * one round); else [a >= 0] - [a - 1 >= 0], one DReLU gate over [a; a - 1] and no product (a is an
 * integer in the ring, so a - 1 is its neighbour: the two differ only at a = 0). The caller's op
 * bound must cover a - 1 (comparison_ops.ts equalZero).
 */
export function equalZero(p: Party, op: OpCtx, a: RingTensor | null, shape: readonly number[]): Promise<RingTensor | null> {
  return onFlat(a, shape, async (af, n) => {
    const gate = zeroGate(p);
    if (gate) return gate(p, op, af, n);
    const less1 = af && p.role === 0 ? await addScalar(af, -1n) : af;
    const both = af ? await concat([af, less1!]) : null;
    if (less1 !== af) less1?.dispose();
    const d = await drelu(p, op, both, 2 * n);
    both?.dispose();
    if (!d) return null;
    const [ge0, ge1] = [await slice(d, [0], [n]), await slice(d, [n], [n])];
    const out = await sub(ge0, ge1);
    for (const t of [d, ge0, ge1]) t.dispose();
    return out;
  });
}
