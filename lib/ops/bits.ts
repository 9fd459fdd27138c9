// Bit-level ops and small-prime field helpers for SecureNN's bit shares.
import { assertDType, type DType, isField } from '../tensor/dtype';
import { RingTensor } from '../tensor/ring_tensor';
import * as K from './kernel_names';
import { runKernel1 } from './run_kernel';
import { typedBinary } from './typed_binary';
import { requireDType, requireInt, requireTensor } from './validate';

/** Bit `bit` (0 = least significant) of every element, as a bit tensor of the same shape. */
export async function bitExtract(a: RingTensor, bit: number): Promise<RingTensor> {
  requireTensor('bitExtract', a);
  requireDType('bitExtract', a, 'ring64');
  return runKernel1(K.BitExtract, [a], { bit: requireInt('bitExtract', bit, 'bit', 0, 63) });
}

/** [...shape] ring64 -> [...shape, 64] bit: the 64 bit-planes, least significant first. */
export async function bitDecompose(a: RingTensor): Promise<RingTensor> {
  requireTensor('bitDecompose', a);
  requireDType('bitDecompose', a, 'ring64');
  return runKernel1(K.BitDecompose, [a]);
}


export const xor = (a: RingTensor, b: RingTensor) => typedBinary('xor', K.Xor, 'bit', a, b);
export const and = (a: RingTensor, b: RingTensor) => typedBinary('and', K.And, 'bit', a, b);

/**
 * Converts between dtypes: bit or z<p> -> ring64 (the value), bit -> z<p>, ring64 -> z<p>
 * (the value mod p) and ring64 -> bit (the lowest bit).
 */
export async function cast(a: RingTensor, dtype: DType): Promise<RingTensor> {
  requireTensor('cast', a);
  const to = assertDType(dtype);
  const ok =
    a.dtype === to ||
    (to === 'ring64' && a.dtype !== 'ring64') ||
    (isField(to) && (a.dtype === 'bit' || a.dtype === 'ring64')) ||
    (to === 'bit' && a.dtype === 'ring64');
  if (!ok) throw new TypeError(`cast: no cast from ${a.dtype} to ${to}`);
  return runKernel1(K.Cast, [a], { dtype: to });
}

/** out[..., i] = sum of a[..., k] for k > i along the last axis (mod p, or mod 2^64). */
export async function prefixSumReverseExclusive(a: RingTensor): Promise<RingTensor> {
  requireTensor('prefixSumReverseExclusive', a);
  if (a.dtype === 'bit') throw new TypeError('prefixSumReverseExclusive: dtype bit is not supported (expected ring64 or z<p>)');
  if (a.rank < 1) throw new RangeError('prefixSumReverseExclusive: input must have rank >= 1, got shape []');
  return runKernel1(K.PrefixSumReverseExclusive, [a]);
}

