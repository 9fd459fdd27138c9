// The bilinear map behind Conv3D (lib/protocol/correlated.ts patchMatmul) gathers its patches in
// chunks, so a large volume's im2col is never whole in memory: on fresh random ring values and
// windows, every chunk size (one window, a few, uneven, all) gives the product a reference
// written here in BigInt computes, modulo 2^64.
import test from 'ava';

import { patchMatmul, PATCH_CHUNK_VALUES } from '../lib/protocol/correlated';
import { RingTensor } from '../lib/tensor/ring_tensor';
import { randomU64 } from './helpers/random';

const MOD = 1n << 64n;

/** x [n, L, C] rows at `index` (P windows of K) as [n P, K C], times w [K C, F], in BigInt. */
function reference(x: BigUint64Array, [n, l, c]: number[], w: BigUint64Array, [kc, f]: number[], index: Int32Array): bigint[] {
  const k = kc / c, p = index.length / k, out: bigint[] = [];
  for (let b = 0; b < n; b++)
    for (let q = 0; q < p; q++)
      for (let o = 0; o < f; o++) {
        let s = 0n;
        for (let t = 0; t < k; t++) for (let ch = 0; ch < c; ch++) s += x[(b * l + index[q * k + t]) * c + ch] * w[(t * c + ch) * f + o];
        out.push(s % MOD);
      }
  return out;
}

test('patchMatmul in chunks of any size gives the whole product (random ring values, random windows)', async (t) => {
  // K C = 12 taps x channels per filter of F = 2: the patches outweigh the output, so chunks are taken.
  const [n, l, c, k, p, f] = [2, 11, 3, 4, 9, 2];
  const x = randomU64(n * l * c), w = randomU64(k * c * f);
  const index = Int32Array.from({ length: p * k }, () => Math.floor(Math.random() * l));
  const want = reference(x, [n, l, c], w, [k * c, f], index);
  const a = RingTensor.fromBigUint64Array(x, [n, l, c]), b = RingTensor.fromBigUint64Array(w, [k * c, f]);
  try {
    // Values per chunk: one window (n K C = 24), two, four and a half, all of them, and the default.
    for (const chunk of [1, 24, 48, 108, n * k * c * p, PATCH_CHUNK_VALUES]) {
      const out = await patchMatmul(a, b, index, chunk);
      t.deepEqual(out.shape, [n * p, f], `chunk ${chunk}`);
      const got = Array.from(out.toBigUint64Array());
      out.dispose();
      t.deepEqual(got, want, `chunk ${chunk}`);
    }
  } finally {
    a.dispose();
    b.dispose();
  }
});
