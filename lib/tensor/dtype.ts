/**
 * Element types of ring tensors.
 * - `ring64`: Z_2^64, stored as uint64 with wrap-around.
 * - `bit`: {0, 1}, one per byte.
 * - `z<p>`: the field Z_p for a prime 2 < p < 256 (SecureNN uses p = 67), one per byte.
 */
export type DType = 'ring64' | 'bit' | `z${number}`;

export const RING64: DType = 'ring64';
export const BIT: DType = 'bit';

function isPrime(p: number): boolean {
  if (p < 2) return false;
  for (let q = 2; q * q <= p; q++) if (p % q === 0) return false;
  return true;
}

/** The dtype of Z_p. Throws unless p is a prime with 2 < p < 256. */
export function fieldDType(p: number): DType {
  if (!Number.isInteger(p) || p <= 2 || p >= 256 || !isPrime(p))
    throw new RangeError(`field modulus must be a prime in (2, 256), got ${p}`);
  return `z${p}`;
}

/** The modulus of a field dtype, 2 for bit, undefined for ring64. */
export function modulusOf(d: DType): number | undefined {
  if (d === 'ring64') return undefined;
  if (d === 'bit') return 2;
  return Number(d.slice(1));
}

export function isField(d: DType): boolean {
  return d !== 'ring64' && d !== 'bit';
}

export function bytesPerElement(d: DType): number {
  return d === 'ring64' ? 8 : 1;
}

export function assertDType(x: unknown): DType {
  if (x === 'ring64' || x === 'bit') return x;
  if (typeof x === 'string' && /^z\d+$/.test(x)) return fieldDType(Number(x.slice(1)));
  throw new TypeError(`unknown dtype ${JSON.stringify(x)} (expected 'ring64', 'bit' or 'z<p>')`);
}
