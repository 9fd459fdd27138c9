// An attack on SecureNN's PrivateCompare from server2's seat, used by the view tests: server2
// dealt the bit shares of x, so for a guess of the compared value's bits (most significant
// first) it can compute both servers' unblinded c_i. If the two vectors it receives are blinded
// by the same s_i, the projective point (d0 : d1) at the shuffled position of bit i equals
// (c0_i : c1_i), whatever s_i and the permutation were; a depth-first search over the bits,
// consuming one received position per bit, then finds the compared value. With the fresh
// sharing of zero added before sending, (d0 : d1) is unrelated to (c0 : c1) and the search finds
// nothing.
import { PRIME } from '../../lib/protocol/securenn/private_compare';

const BITS = 64;
const mod = (v: number): number => ((v % PRIME) + PRIME) % PRIME;

/**
 * The values of r (the public comparison value `cmp` is r when beta = 0, r + 1 when beta = 1)
 * consistent with one element's view, for both beta; empty when the search gave up. Now and then
 * beta = 0 with r and beta = 1 with r + 1 both fit: the caller may know which (ShareConvert's x - r
 * is even). x0, x1: the 64 bit shares of x server2 dealt (least significant first); d0, d1: the
 * 64 values each server sent it.
 */
export function candidatesR(x0: ArrayLike<number>, x1: ArrayLike<number>, d0: ArrayLike<number>, d1: ArrayLike<number>, budget = 200_000): bigint[] {
  const found = new Set<bigint>();
  for (const beta of [0, 1]) {
    for (const cmp of search(x0, x1, d0, d1, beta, budget)) found.add(beta ? BigInt.asUintN(64, cmp - 1n) : cmp);
  }
  return [...found];
}

/** The one value of r consistent with one element's view (see candidatesR); null unless exactly one is. */
export function recoverR(x0: ArrayLike<number>, x1: ArrayLike<number>, d0: ArrayLike<number>, d1: ArrayLike<number>, budget = 200_000): bigint | null {
  const found = candidatesR(x0, x1, d0, d1, budget);
  return found.length === 1 ? found[0] : null;
}

function search(x0: ArrayLike<number>, x1: ArrayLike<number>, d0: ArrayLike<number>, d1: ArrayLike<number>, beta: number, budget: number): bigint[] {
  const used = new Uint8Array(BITS);
  const out: bigint[] = [];
  let nodes = 0;
  // c_j at bit i from the running sums of w over the more significant bits (the kernel's formulas).
  const c = (j: number, xi: number, bit: number, sumW: number) => mod((beta ? xi - j * bit : j * bit - xi) + j + sumW);
  const w = (j: number, xi: number, bit: number) => xi + j * bit - 2 * bit * xi;
  const visit = (i: number, cmp: bigint, s0: number, s1: number): void => {
    if (out.length > 1 || ++nodes > budget) return;
    if (i < 0) {
      out.push(cmp);
      return;
    }
    for (const bit of [0, 1]) {
      const c0 = c(0, x0[i], bit, s0), c1 = c(1, x1[i], bit, s1);
      for (let k = 0; k < BITS; k++) {
        // (d0 : d1) = (c0 : c1) projectively: d0 c1 = d1 c0.
        if (used[k] || mod(d0[k] * c1 - d1[k] * c0) !== 0) continue;
        used[k] = 1;
        visit(i - 1, cmp | (BigInt(bit) << BigInt(i)), s0 + w(0, x0[i], bit), s1 + w(1, x1[i], bit));
        used[k] = 0;
        break; // equal points are interchangeable: trying one is enough
      }
    }
  };
  visit(BITS - 1, 0n, 0, 0);
  return out;
}
