// Shared validation for ops: every message names the op and the shapes or dtypes involved.
import { isField, type DType } from '../tensor/dtype';
import type { RingTensor } from '../tensor/ring_tensor';

export function requireTensor(op: string, t: unknown, what = 'input'): asserts t is RingTensor {
  if (t === null || typeof t !== 'object' || !('handle' in t) || !('shape' in t))
    throw new TypeError(`${op}: ${what} is not a RingTensor`);
}

export function requireDType(op: string, t: RingTensor, ...allowed: DType[]): void {
  if (!allowed.includes(t.dtype)) throw new TypeError(`${op}: dtype ${t.dtype} is not supported (expected ${allowed.join(' or ')})`);
}

export function requireRingOrField(op: string, t: RingTensor): void {
  if (t.dtype !== 'ring64' && !isField(t.dtype)) throw new TypeError(`${op}: dtype ${t.dtype} is not supported (expected ring64 or z<p>)`);
}

export function requireSameDType(op: string, a: RingTensor, b: RingTensor): void {
  if (a.dtype !== b.dtype) throw new TypeError(`${op}: dtypes ${a.dtype} and ${b.dtype} differ`);
}

export function requireInt(op: string, v: unknown, what: string, min = -Infinity, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${op}: ${what} must be an integer in [${min}, ${max}], got ${String(v)}`);
  return v;
}

export function requireInts(op: string, v: unknown, what: string): number[] {
  // Index by index: every() skips a sparse array's holes, so new Array(1e9) passed and the native
  // side sized a buffer by its length before finding element 0 missing.
  if (!Array.isArray(v)) throw new TypeError(`${op}: ${what} must be an array of integers, got ${String(JSON.stringify(v)).slice(0, 200)}`);
  for (let i = 0; i < v.length; i++)
    if (!Number.isSafeInteger(v[i])) throw new TypeError(`${op}: ${what} must be an array of integers, got ${v.length <= 64 ? JSON.stringify(v) : `an array of ${v.length}`} (element ${i} is ${i in v ? JSON.stringify(v[i]) : 'missing'})`);
  return v as number[];
}

/** A public ring scalar: a bigint or safe integer, negative values meaning their residue mod 2^64. */
export function ringScalar(op: string, v: unknown): bigint {
  if (typeof v === 'bigint') {
    if (v < -(1n << 63n) || v >= 1n << 64n) throw new RangeError(`${op}: scalar ${v} is outside [-2^63, 2^64)`);
    return BigInt.asUintN(64, v);
  }
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt.asUintN(64, BigInt(v));
  throw new TypeError(`${op}: scalar must be a bigint or a safe integer, got ${String(v)}`);
}
