// Fused SecureNN kernels (see native/src/kernels/securenn.cc and securenn_fused.cc); the protocol
// lives in lib/protocol/securenn.
import type { RingTensor } from '../tensor/ring_tensor';
import * as K from './kernel_names';
import { runKernel, runKernel1 } from './run_kernel';

/** One server's blinded, permuted PrivateCompare vector d [n, 64] (Algorithm 3, steps 1-2). */
export function privateCompareShares(xBits: RingTensor, r: RingTensor, beta: RingTensor, s: RingTensor, u: RingTensor, perm: RingTensor, party: 0 | 1): Promise<RingTensor> {
  return runKernel1(K.PrivateCompareShares, [xBits, r, beta, s, u, perm], { party });
}

/** [n, L] -> [n] bits: whether each row contains a zero. */
export function anyZeroLastAxis(a: RingTensor): Promise<RingTensor> {
  return runKernel1(K.AnyZeroLastAxis, [a]);
}

function checkSeedNonce(op: string, seed: Uint8Array, nonce: bigint, span: bigint): void {
  if (!(seed instanceof Uint8Array) || seed.length !== 16) throw new TypeError(`${op}: seed must be a Uint8Array of 16 bytes`);
  if (typeof nonce !== 'bigint' || nonce < 0n || nonce + span >= 1n << 64n) throw new RangeError(`${op}: nonce must be a bigint in [0, 2^64 - ${span})`);
}

export interface PrivateCompareMaskedOptions {
  /** The pair seed of server0 and server1. */
  seed: Uint8Array;
  /** s is drawn at nonce, u at nonce + 1, the permutation at nonce + 2, z at nonce + 3. */
  nonce: bigint;
  party: 0 | 1;
  /** Test-only switches (default true): see PRIVATE_COMPARE_STEPS. */
  permute?: boolean;
  rerandomise?: boolean;
  impl?: 'auto' | 'aesni' | 'portable';
}

/**
 * PrivateCompare steps 1-3 for one server in one pass, drawing s, u, the permutation and z
 * inside the kernel from the same PRG streams as prgField/prgPermutation: the result equals
 * privateCompareShares(xBits, r, beta, s, u, pi, party) followed by + z (party 0) or - z (party 1).
 * xBits [n, 64] z67, r [n] ring64, beta [n] bits.
 */
export async function privateCompareMasked(xBits: RingTensor, r: RingTensor, beta: RingTensor, o: PrivateCompareMaskedOptions): Promise<RingTensor> {
  checkSeedNonce('privateCompareMasked', o.seed, o.nonce, 3n);
  if (o.party !== 0 && o.party !== 1) throw new RangeError(`privateCompareMasked: party must be 0 or 1, got ${String(o.party)}`);
  return runKernel1(K.PrivateCompareMasked, [xBits, r, beta], {
    seed: o.seed, nonce: o.nonce, party: o.party, permute: o.permute ?? true, rerandomise: o.rerandomise ?? true, impl: o.impl ?? 'auto',
  });
}

/** server2's end of PrivateCompare: [n] bits, 1 where a row of d0 + d1 (mod p) holds a zero. */
export function privateCompareReveal(d0: RingTensor, d1: RingTensor): Promise<RingTensor> {
  return runKernel1(K.PrivateCompareReveal, [d0, d1]);
}

/**
 * The bits of x ([n] ring64) as z<modulus> shares [n, 64] minus prgField(seed, modulus, [n, 64],
 * { nonce }): the share server2 sends server1 when it deals x's bits (server0 expands the other).
 */
export async function bitsMinusPrgField(x: RingTensor, seed: Uint8Array, modulus: number, nonce: bigint, impl: 'auto' | 'aesni' | 'portable' = 'auto'): Promise<RingTensor> {
  checkSeedNonce('bitsMinusPrgField', seed, nonce, 0n);
  return runKernel1(K.BitsMinusPrgField, [x], { seed, modulus, nonce, impl });
}

/** The carry of a + b over Z_2^64 as ring64 0/1 (a and b of one shape): 1 when a + b wraps. */
export function wrapBit(a: RingTensor, b: RingTensor): Promise<RingTensor> {
  return runKernel1(K.WrapBit, [a, b]);
}

/**
 * ShareConvert's last step for compute server `party` over the odd ring Z_(2^64-1), all [n]:
 * eta = etaP + etaPP ((1 - j) - 2 etaP), theta = beta + delta + eta - (1 - j)(alpha + 1),
 * y = a - theta + u (party 0) or - u (party 1). etaPP is bits; the rest ring64.
 */
export function shareConvertFinish(a: RingTensor, etaP: RingTensor, etaPP: RingTensor, beta: RingTensor, delta: RingTensor, alpha: RingTensor, u: RingTensor, party: 0 | 1): Promise<RingTensor> {
  return runKernel1(K.ShareConvertFinish, [a, etaP, etaPP, beta, delta, alpha, u], { party });
}

/**
 * ComputeMSB's unmasking for compute server `party` over Z_2^64, all [n]: gamma = betaP + beta
 * (j - 2 betaP) and delta = x0 + lsb(r) (j - 2 x0). beta is bits; the rest ring64.
 */
export async function msbUnmask(betaP: RingTensor, beta: RingTensor, x0: RingTensor, r: RingTensor, party: 0 | 1): Promise<[RingTensor, RingTensor]> {
  const [gamma, delta] = await runKernel(K.MsbUnmask, [betaP, beta, x0, r], { party });
  return [gamma, delta];
}
