// Pond's arithmetic on additive shares over Z_2^64: local linear ops, masking, Beaver products
// and fixed-point truncation.
import { add, addN, addScalar, mulScalar, neg, negShiftRightArithmetic, shiftRightArithmetic, shiftRightLogical, sub, subScalar } from '../../ops';
import type { RingTensor } from '../../tensor/ring_tensor';
import { applyBilinear, type Bilinear, type CorrelatedRandomness, type MaskRef, nonceFor } from '../correlated';
import { type OpCtx, type Party, tag } from '../party';
import { required, type Share } from './share';
import { defineGuardedSwitches } from '../test_switches';

export async function disposing<T>(ts: (RingTensor | null | undefined)[], f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } finally {
    for (const t of ts) t?.dispose();
  }
}

/** x + y, locally. */
export async function addShares(p: Party, op: OpCtx, x: Share, y: Share): Promise<Share> {
  return p.isCompute ? add(required(op, x), required(op, y)) : null;
}

/** x - y, locally. */
export async function subShares(p: Party, op: OpCtx, x: Share, y: Share): Promise<Share> {
  return p.isCompute ? sub(required(op, x), required(op, y)) : null;
}

export async function negShare(p: Party, op: OpCtx, x: Share): Promise<Share> {
  return p.isCompute ? neg(required(op, x)) : null;
}

/** x + c for a public c known to both servers: server0 adds c, server1 broadcasts its share. */
export async function addPublic(p: Party, op: OpCtx, x: Share, c: RingTensor | null): Promise<Share> {
  if (!p.isCompute) return null;
  const xs = required(op, x);
  const cs = required(op, c);
  if (p.role === 0) return add(xs, cs);
  const zero = await mulScalar(cs, 0);
  return disposing([zero], () => add(xs, zero));
}

/** c - x for a public c. */
export async function publicSub(p: Party, op: OpCtx, c: RingTensor | null, x: Share): Promise<Share> {
  const n = await negShare(p, op, x);
  return disposing([n], () => addPublic(p, op, n, c));
}

/** x * k for a public integer k (no truncation). */
export async function mulPublicInt(p: Party, op: OpCtx, x: Share, k: bigint): Promise<Share> {
  return p.isCompute ? mulScalar(required(op, x), k) : null;
}

/**
 * `mask` is a test control (test_switches.ts): false opens interactive truncation's y without r
 * (still correct: each server's r share is taken as zero), the control of its view test.
 */
export const TRUNCATION_STEPS = defineGuardedSwitches({}, 'TRUNCATION_STEPS', { mask: true });

/**
 * `mask` is a test control (test_switches.ts): false opens a Beaver product's operands without
 * their masks (x - 0: the product is then wrong too), the control of the shared suites' view test.
 */
export const BEAVER_STEPS = defineGuardedSwitches({}, 'BEAVER_STEPS', { mask: true });

/** Statistical hiding of interactive truncation: the opened value leaks at most 2^-KAPPA. */
export const TRUNC_KAPPA = 24;
/** Interactive truncation requires |x| < 2^TRUNC_BOUND_BITS (the product at scale 2^2f). */
export const TRUNC_BOUND_BITS = 62 - TRUNC_KAPPA;

/**
 * Divides a shared x by 2^bits, per the cluster's truncation setting. Runs on every server:
 * server2 takes part in the interactive variant. `shape` is x's shape.
 */
export async function truncate(p: Party, op: OpCtx, x: Share, shape: readonly number[], bits = p.fixed.fracBits): Promise<Share> {
  if (p.fixed.truncation === 'interactive') return truncateInteractive(p, op, x, shape, bits);
  if (!p.isCompute) return null;
  const xs = required(op, x);
  // SecureML local truncation: server0 shifts its share, server1 shifts the negation of its
  // share and negates back. With |x| < 2^l the result is x / 2^f up to 1 unit in the last
  // place, except with probability about 2^(l + 1 - 64) (docs/pond.md).
  return p.role === 0 ? shiftRightArithmetic(xs, bits) : negShiftRightArithmetic(xs, bits);
}

/**
 * Interactive truncation with a mask from server2 (Catrina and de Hoogh's probabilistic
 * truncation), for |x| < 2^L with L = TRUNC_BOUND_BITS:
 * 1. server2 deals shares of r, uniform in [0, 2^(L + KAPPA)), and of r >> f.
 * 2. The servers open y = x + 2^L + r: it never wraps, and hides x statistically.
 * 3. server0: z0 = (y >> f) - 2^(L - f) - (r >> f)_0; server1: z1 = -(r >> f)_1.
 * The result is x / 2^f rounded down or up (error at most one unit), never a wrap-around error.
 */
async function truncateInteractive(p: Party, op: OpCtx, x: Share, shape: readonly number[], bits: number): Promise<Share> {
  if (!p.crypto) throw new Error(`${op.name}: ${p.name} has no correlated randomness for truncation`);
  const pair = await p.crypto.truncationPair(p, op, 'truncPair', nonceFor(op.id, 0xfff0), shape, TRUNC_BOUND_BITS + TRUNC_KAPPA, bits);
  if (!p.isCompute || !pair) return null;
  if (!TRUNCATION_STEPS.mask) for (const k of ['r', 'rHigh'] as const) pair[k] = await disposing([pair[k]], () => mulScalar(pair[k], 0n));
  const offset = 1n << BigInt(TRUNC_BOUND_BITS);
  const masked = await add(required(op, x), pair.r);
  pair.r.dispose();
  const mine = p.role === 0 ? await disposing([masked], () => addScalar(masked, offset)) : masked;
  const theirs = await p.exchange(tag(op, 'truncOpen'), mine);
  const y = await disposing([mine, theirs], () => add(mine, theirs));
  if (p.role === 1) {
    y.dispose();
    return disposing([pair.rHigh], () => neg(pair.rHigh));
  }
  const yHigh = await disposing([y], () => shiftRightLogical(y, bits));
  const shifted = await disposing([yHigh], () => subScalar(yHigh, offset >> BigInt(bits)));
  return disposing([shifted, pair.rHigh], () => sub(shifted, pair.rHigh));
}

/** A masked value: alpha = x - a is public to both servers, and each holds a share of a. */
export interface MaskedShare {
  ref: MaskRef;
  alpha: RingTensor | null;
  a: RingTensor | null;
  /** server0 only, made on first use: a0 + alpha. */
  aPlusAlpha?: Promise<RingTensor>;
}

export function disposeMasked(m: MaskedShare): void {
  m.alpha?.dispose();
  m.a?.dispose();
  void m.aPlusAlpha?.then((t) => t.dispose(), () => undefined);
}

/**
 * Masks x with a fresh mask from the provider and opens x - a to both servers.
 * Several masks of one op share the step 'open', so they travel in one round.
 */
export async function mask(p: Party, cr: CorrelatedRandomness, op: OpCtx, slot: number, x: Share, shape: readonly number[]): Promise<MaskedShare> {
  const ref: MaskRef = { nonce: nonceFor(op.id, slot), shape: [...shape] };
  if (!p.isCompute) return { ref, alpha: null, a: null };
  const dealt = await cr.mask(p, ref);
  const a = BEAVER_STEPS.mask ? dealt : await disposing([dealt], () => mulScalar(dealt, 0n));
  try {
    const e = await sub(required(op, x), a);
    const alpha = await disposing([e], async () => {
      const theirs = await p.exchange(tag(op, 'open', String(slot)), e);
      return disposing([theirs], () => add(e, theirs));
    });
    return { ref, alpha, a };
  } catch (err) {
    // An opening that fails (its session aborted: a peer missing the model at setup) leaves
    // nothing behind: the mask share and x - a were kept until a garbage collection, which native
    // memory does not prompt.
    a.dispose();
    throw err;
  }
}

/**
 * Beaver evaluation of a bilinear f on masked inputs, without truncation.
 * With x = a + alpha and y = b + beta, and shares of c = f(a, b) from the provider:
 *   server0: z0 = c0 + f(alpha, b0 + beta) + f(a0, beta)
 *   server1: z1 = c1 + f(alpha, b1)        + f(a1, beta)
 * which sums to f(x, y). b0 + beta is cached on y's masked form, so a weight pays for it once.
 */
export async function bilinear(p: Party, cr: CorrelatedRandomness, op: OpCtx, f: Bilinear, mx: MaskedShare, my: MaskedShare, outShape: readonly number[], slot = 0xffff): Promise<Share> {
  const c = await cr.product(p, op, 'triple', f, mx.ref, my.ref, nonceFor(op.id, slot), outShape);
  if (!p.isCompute) return null;
  const alpha = required(op, mx.alpha), beta = required(op, my.alpha);
  const b = p.role === 0 ? await bPlusBeta(op, my) : required(op, my.a);
  const terms = [applyBilinear(f, alpha, b), applyBilinear(f, required(op, mx.a), beta)];
  const [t1, t2] = await Promise.all(terms);
  const cs = required(op, c);
  try {
    return await addN([cs, t1, t2]);
  } finally {
    for (const t of [cs, t1, t2]) t.dispose();
  }
}

async function bPlusBeta(op: OpCtx, m: MaskedShare): Promise<RingTensor> {
  m.aPlusAlpha ??= add(required(op, m.a), required(op, m.alpha));
  return m.aPlusAlpha;
}
