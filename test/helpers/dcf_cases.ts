// Inputs for the DCF kernel tests (dcf.test.ts, dcf_many.test.ts): random words, seeds and
// nonces, and elements at the comparison's edges.
import { randomFillSync } from 'node:crypto';

const M = 1n << 64n;
const MAX = M - 1n;

export function randomU64(n: number): bigint[] {
  const a = new BigUint64Array(n);
  randomFillSync(new Uint8Array(a.buffer));
  return [...a];
}
export const randomSeed = () => randomFillSync(new Uint8Array(16));
export const randomNonce = () => randomU64(1)[0];

/** Elements covering the edges: alpha in {0, 1, 2^bits - 1, random, random with high garbage}
 * times x in {alpha, alpha +- 1, 0, 2^bits - 1, random, x with high garbage}, betas incl. 0 and 2^64 - 1. */
export function edgeCases(bits: number, randomAlphas: number): { alpha: bigint[]; beta: bigint[]; x: bigint[] } {
  const top = (1n << BigInt(bits)) - 1n;
  const high = bits < 64 ? MAX ^ top : 0n; // bits above the domain
  const alphas = [0n, 1n, top, ...randomU64(randomAlphas).map((a) => a & top), ...randomU64(randomAlphas)];
  const alpha: bigint[] = [], x: bigint[] = [];
  for (const a of alphas) {
    const r = randomU64(3);
    const xs = [a, (a + 1n) & top, (a - 1n) & top, a + 1n, a - 1n, 0n, top, r[0], r[1] & top, (a & top) | (r[2] & high)];
    for (const v of xs) {
      alpha.push(a);
      x.push(((v % M) + M) % M);
    }
  }
  const beta = randomU64(alpha.length);
  beta[0] = 0n;
  beta[1] = MAX;
  for (let i = 2; i < beta.length; i += 7) beta[i] = i % 2 ? MAX : 1n;
  return { alpha, beta, x };
}
