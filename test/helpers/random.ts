// Fresh random test data: uniform 64-bit values with the ring's edge values mixed in.
import { randomFillSync, randomInt } from 'node:crypto';

export const EDGES: readonly bigint[] = [0n, 1n, 2n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n];

/** n uniform uint64 values; when `edges`, the first few (up to n/2) are the ring's edge values. */
export function randomU64(n: number, edges = true): BigUint64Array {
  const a = new BigUint64Array(n);
  randomFillSync(new Uint8Array(a.buffer));
  if (edges) for (let i = 0; i < Math.min(EDGES.length, Math.floor(n / 2)); i++) a[randomInt(n)] = EDGES[i];
  return a;
}

/** n uniform values in [0, m). */
export function randomSmall(n: number, m: number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = randomInt(m);
  return a;
}

export function randomDim(lo: number, hi: number): number {
  return randomInt(lo, hi + 1);
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
