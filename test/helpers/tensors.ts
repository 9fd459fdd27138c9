// Builds RingTensors from reference data and reads them back, for every dtype.
import { type DType, modulusOf, RingTensor } from '../../lib/ring';

export function make(values: readonly bigint[], shape: readonly number[], dtype: DType = 'ring64'): RingTensor {
  if (dtype === 'ring64') return RingTensor.fromBigInts(values, shape);
  return RingTensor.fromUint8Array(Uint8Array.from(values.map(Number)), shape, dtype);
}

export function read(t: RingTensor): bigint[] {
  return t.toBigInts();
}

/** Reads a tensor and disposes it. */
export function take(t: RingTensor): bigint[] {
  try {
    return t.toBigInts();
  } finally {
    t.dispose();
  }
}

/** Random elements of a dtype: uint64 with edge values, or below the modulus. */
export function randomValues(n: number, dtype: DType, u64: (n: number) => BigUint64Array, small: (n: number, m: number) => Uint8Array): bigint[] {
  if (dtype === 'ring64') return [...u64(n)];
  return [...small(n, modulusOf(dtype)!)].map(BigInt);
}

export function modOf(dtype: DType): bigint {
  return dtype === 'ring64' ? 1n << 64n : BigInt(modulusOf(dtype)!);
}
